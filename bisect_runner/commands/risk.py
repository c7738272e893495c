"""`bisect-runner risk`: rank the first-parent commits of base..head, riskiest first."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bisect_runner.cli import EXIT_OK, Context, add_subcommand, positive_int

DESCRIPTION = """\
Rank every first-parent commit of --base..--head (one per merged PR, squash commit or direct
push) by risk, so the riskiest are read first during an incident. Each item's change is its diff
against its first parent; the score combines category weights (migration, api, integration,
dependency, infra, config, security, code, ui, test, docs: see risk.categories in the config to
add or override them), the size and spread of the change, and --error-log boosts: a commit that
changed a file named in a stack trace ranks higher, and one whose hunks cover the traced line or
function ranks first. Every item carries reasons a reviewer can check.

--format text/md show the top N (--top, default risk.top = 5) and summarise the rest; --format
json lists every item: {"base", "head", "total", "items": [{"rank", "sha", "pr", "title",
"author", "score", "level", "categories", "files", "additions", "deletions", "reasons", ...}]}.
In GitHub Actions the step output risk-level is the top item's level (low for an empty ranking).
"""


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    sub = add_subcommand(subparsers, common, "risk", "rank the commits of a release by risk", handle,
                         description=DESCRIPTION)
    sub.add_argument("--base", required=True, metavar="REF", help="the release already deployed (e.g. v2.45.0)")
    sub.add_argument("--head", required=True, metavar="REF", help="the new release (e.g. v2.46.0)")
    sub.add_argument("--error-log", action="append", default=[], metavar="FILE", type=Path,
                     help="a log or stack trace from production (repeatable)")
    sub.add_argument("--top", type=positive_int, metavar="N", help="items shown in text/md (default risk.top)")
    sub.add_argument("--github", metavar="OWNER/REPO",
                     help="fill each item's PR, title, author and labels from GitHub (token from GITHUB_TOKEN, "
                          "API root from GITHUB_API_URL); without it risk reads git only")


def handle(args: argparse.Namespace, ctx: Context) -> int:
    from bisect_runner.gitrepo import GitRepo
    from bisect_runner.risk import assess_range, parse_error_logs

    frames = parse_error_logs(args.error_log) if args.error_log else []
    config = ctx.config.risk
    repo = GitRepo(ctx.repo_path)
    report = assess_range(repo, args.base, args.head, config, error_logs=args.error_log, frames=frames,
                          top=args.top)
    if args.github:
        from bisect_runner.github import GitHubSession
        from bisect_runner.risk_github import enrich_with_github

        github = GitHubSession(args.github, ctx.config.github)
        try:
            enrich_with_github(report, github.client)
        finally:
            github.report_calls()
            github.close()
    ctx.emit(report)
    return EXIT_OK
