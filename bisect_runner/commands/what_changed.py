"""`bisect-runner what-changed`: every change in the window before an incident, oldest first,
with the suspect and the version to roll back to."""

from __future__ import annotations

import argparse
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bisect_runner.cli import EXIT_OK, Context, add_subcommand
from bisect_runner.config import RiskConfig

DESCRIPTION = """\
The timeline of every recorded change (deploys, rollbacks, config, flags, migrations, infra,
cron) in the window before --at, oldest first, each with its minutes before --at. Deploys are
expanded with their commits and PRs (local git, previous deploy's sha..this sha) and the top
risk reasons of those PRs. `suspect` is the most recent change before --at; `rollback_to` is the
last successful deploy of the suspect's service and env with another version.

--at: now (default), an ISO 8601 time with or without a zone (no zone means UTC), 14:47 or
14:47:30 (today in UTC; yesterday if that is in the future), or an age like "30m ago".
--window: 90m, 2h (default), 1d, 1w.

--format md prints a Timeline ready to paste into an incident update or a postmortem; --format
json prints {"at", "since", "events": [...], "suspect": event or null,
"rollback_to": {"version", "sha", "at"} or null}.
"""


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    sub = add_subcommand(subparsers, common, "what-changed", "the changes before an incident, and the suspect",
                         handle, description=DESCRIPTION)
    sub.add_argument("--at", default="now", help="the incident time (default now)")
    sub.add_argument("--window", default="2h", help="how far back to look (default 2h)")
    sub.add_argument("--service", help="only this service (default: events.service in config)")
    sub.add_argument("--env", help="only this environment (default: events.env in config)")
    sub.add_argument("--store", metavar="PATH", help="the SQLite event store")
    sub.add_argument("--no-expand", action="store_true", help="do not read commits, PRs and risk from git")


def run_what_changed(store_file: str | Path, *, at: datetime, window: timedelta, service: str | None = None,
                     env: str | None = None, repo: str | Path | None = None,
                     risk_config: RiskConfig | None = None) -> Any:
    """The what-changed report (timeline.WhatChanged) for a store; `repo` (a git clone) expands
    deploys with their commits, PRs and risk reasons."""
    from bisect_runner.events.store import EventStore
    from bisect_runner.events.timeline import what_changed

    expander = None
    if repo is not None:
        from bisect_runner.events.expand import make_expander
        from bisect_runner.gitrepo import GitRepo

        expander = make_expander(GitRepo(repo), risk_config if risk_config is not None else RiskConfig())
    with EventStore.open_existing(store_file) as store:
        return what_changed(store, at, window, service=service, env=env, expander=expander)


def handle(args: argparse.Namespace, ctx: Context) -> int:
    from bisect_runner.cli import repo_root
    from bisect_runner.commands.events import git_repo_or_none
    from bisect_runner.events.model import parse_duration, parse_time
    from bisect_runner.events.store import store_path

    at = parse_time(args.at)
    window = parse_duration(args.window)
    config = ctx.config
    repo = None if args.no_expand else git_repo_or_none(ctx.repo_path)
    report = run_what_changed(
        store_path(args.store, config, repo_root(ctx.repo_path)), at=at, window=window,
        service=args.service or config.events.service, env=args.env or config.events.env,
        repo=repo.root if repo is not None else None, risk_config=config.risk,
    )
    ctx.emit(report)
    return EXIT_OK
