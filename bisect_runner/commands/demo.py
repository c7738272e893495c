"""`bisect-runner demo`: the incident story on a local demo service (what `make demo` runs)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from bisect_runner.cli import Context, add_subcommand


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    sub = add_subcommand(
        subparsers, common, "demo", "run the incident story on a local demo service (no token, no network)",
        handle,
        description=(
            "Builds a demo shop repository with releases v2.45.0 and v2.46.0 in a temporary folder, posts\n"
            "its deploy events, asks what changed, ranks the release's PRs by risk with a production error\n"
            "log, and bisects the release against local staging servers to find the PR that broke checkout."
        ),
    )
    sub.add_argument("--workdir", metavar="DIR", help="build the demo here and keep it (default: a temp folder)")
    sub.add_argument("--slots", type=int, default=2, metavar="K", help="staging slots to bisect with (default 2)")
    sub.add_argument("--keep", action="store_true", help="keep the temporary demo folder afterwards")


def handle(args: argparse.Namespace, ctx: Context) -> int:
    from bisect_runner.demo.story import run_story

    return run_story(Path(args.workdir) if args.workdir else None, slots=max(1, args.slots), keep=args.keep)
