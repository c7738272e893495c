"""`bisect-runner dora`: DORA's four keys from the event store (see events/dora.py for how
each is computed, following Google's Four Keys)."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path
from typing import Any

from bisect_runner.cli import EXIT_OK, Context, add_subcommand

DESCRIPTION = """\
Deployment frequency, median lead time for changes (commit time to deploy, from local git),
change failure rate (failed deploys and rollbacks over finished deploys) and median time to
restore (a failed deploy to the next successful one; a rolled-back deploy to its rollback),
bucketed as Google's Four Keys does.

--since: a duration back from now (30d, default) or a time (ISO 8601; no zone means UTC).
"""

MAX_DEPLOYS_WITH_COMMITS = 2000


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    sub = add_subcommand(subparsers, common, "dora", "DORA's four keys from the recorded deploys", handle,
                         description=DESCRIPTION)
    sub.add_argument("--since", default="30d", help="the period's start (default 30d)")
    sub.add_argument("--until", default="now", help="the period's end (default now)")
    sub.add_argument("--service", help="only this service (default: events.service in config)")
    sub.add_argument("--env", help="only this environment (default: events.env in config)")
    sub.add_argument("--store", metavar="PATH", help="the SQLite event store")


def run_dora(store_file: str | Path, *, since: datetime, until: datetime, service: str | None = None,
             env: str | None = None, repo: str | Path | None = None) -> Any:
    """The DoraReport for a store; `repo` (a git clone) supplies commit times for lead time."""
    from bisect_runner.events.changes import deploy_changes
    from bisect_runner.events.dora import compute_dora
    from bisect_runner.events.model import DEPLOY_KINDS, parse_iso
    from bisect_runner.events.store import EventStore

    with EventStore.open_existing(store_file) as store:
        events = store.query(service=service, env=env, kinds=DEPLOY_KINDS, since=since, until=until)
        # Deploys just before the window: a rollback early in it needs the deploy it replaced.
        history = store.query(service=service, env=env, kinds=DEPLOY_KINDS, until=since, limit=200,
                              newest_first=True)
    commit_times: dict[str, list[datetime]] = {}
    if repo is not None:
        from bisect_runner.gitrepo import GitRepo

        git_repo = GitRepo(repo)
        shipped = [e for e in events if e.kind == "deploy" and e.status == "success"]
        for event in shipped[-MAX_DEPLOYS_WITH_COMMITS:]:
            changes = deploy_changes(git_repo, event.prev_sha, event.sha)
            if changes is not None and changes.direction == "forward":
                commit_times[event.id] = [parse_iso(c.committed_at) for c in changes.commits]
    return compute_dora(events, since, until, commit_times=commit_times, service=service, env=env,
                        history=history)


def handle(args: argparse.Namespace, ctx: Context) -> int:
    from bisect_runner.cli import repo_root
    from bisect_runner.commands.events import git_repo_or_none
    from bisect_runner.errors import UserError
    from bisect_runner.events.model import parse_since, parse_time, utcnow
    from bisect_runner.events.store import store_path

    now = utcnow()
    since = parse_since(args.since, now)
    until = parse_time(args.until, now, option="--until")
    if since >= until:
        raise UserError(f"--since {args.since!r} is not before --until {args.until!r}")
    config = ctx.config
    repo = git_repo_or_none(ctx.repo_path)
    report = run_dora(store_path(args.store, config, repo_root(ctx.repo_path)), since=since, until=until,
                      service=args.service or config.events.service, env=args.env or config.events.env,
                      repo=repo.root if repo is not None else None)
    ctx.emit(report)
    return EXIT_OK
