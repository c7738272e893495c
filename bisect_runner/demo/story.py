"""`make demo`: the incident story, told with the real commands on a local demo service.

1. Deploy events: the old release, a flag toggle and the new release are posted to a local store;
   `what-changed` opens the incident.
2. Release risk: the new release's PRs ranked, boosted by the error log from production.
3. Bisect: commits deployed one by one to a local staging server (a real HTTP process on
   127.0.0.1, restarted per deploy), smoke-tested, until the first bad commit and its PR are found.
No token, no network: everything runs under a temporary folder.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bisect_runner.demo import staging
from bisect_runner.demo.service import DemoRepo, build_demo_repo
from bisect_runner.errors import BisectRunnerError, JobFailed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _banner(title: str) -> None:
    line = "=" * 78
    print(f"\n{line}\n{title}\n{line}", flush=True)


def _run(argv: Sequence[str]) -> int:
    from bisect_runner.cli import main

    print(f"$ bisect-runner {' '.join(shlex.quote(a) for a in argv)}", flush=True)
    code = main(list(argv))
    sys.stdout.flush()
    return code


def _must(argv: Sequence[str]) -> None:
    code = _run(argv)
    if code != 0:
        raise JobFailed(f"demo step `bisect-runner {argv[0]}` exited {code}")


def run_story(workdir: Path | None = None, *, slots: int = 2, keep: bool = False) -> int:
    base = workdir or Path(tempfile.mkdtemp(prefix="bisect-runner-demo-"))
    base.mkdir(parents=True, exist_ok=True)
    os.environ["BISECT_RUNNER_DEMO_DIR"] = str(base)
    now = datetime.now(UTC).replace(microsecond=0)
    demo = build_demo_repo(base / "shop", now=now)
    repo = str(demo.path)
    try:
        _story(demo, repo, now, slots)
    finally:
        staging.stop_all()
        if not keep and workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    if keep or workdir is not None:
        print(f"\nThe demo repository is kept at {repo}")
    return 0


def _story(demo: DemoRepo, repo: str, now: datetime, slots: int) -> None:
    store = str(Path(repo).parent / "events.db")
    old_sha = _sha(repo, demo.old_release)
    new_sha = _sha(repo, demo.new_release)

    _banner("1. Deploy events: CI posted every change to #deployments and the event store")
    _must(["events", "post", "--repo", repo, "--store", store, "--kind", "deploy", "--service", "shop",
           "--env", "production", "--version", demo.old_release, "--sha", old_sha, "--status", "success",
           "--actor", "deploy-bot", "--at", _iso(now - timedelta(hours=26)), "--summary", "Release 2.45.0"])
    _must(["events", "post", "--repo", repo, "--store", store, "--kind", "flag", "--service", "shop",
           "--env", "production", "--actor", "sam", "--status", "success",
           "--summary", "new_checkout_button enabled for 10% of users",
           "--prev-value", "false", "--new-value", "true", "--at", _iso(now - timedelta(minutes=75))])
    _must(["events", "post", "--repo", repo, "--store", store, "--kind", "deploy", "--service", "shop",
           "--env", "production", "--version", demo.new_release, "--sha", new_sha, "--status", "success",
           "--actor", "deploy-bot", "--at", _iso(demo.release_time), "--summary", "Release 2.46.0"])

    _banner("14 minutes later, checkout errors page the on-call engineer. What changed?")
    _must(["what-changed", "--repo", repo, "--store", store, "--at", "now", "--window", "2h",
           "--service", "shop", "--env", "production"])

    _banner("2. Release risk: which of the new release's PRs to read first (boosted by the error log)")
    risk_json = Path(repo).parent / "risk.json"
    _must(["risk", "--repo", repo, "--base", demo.old_release, "--head", demo.new_release,
           "--error-log", str(demo.error_log), "--top", "5"])
    _must(["risk", "--repo", repo, "--base", demo.old_release, "--head", demo.new_release,
           "--error-log", str(demo.error_log), "--format", "json", "--output", str(risk_json)])

    _banner(f"3. Bisect against staging: {slots} local staging slot(s), smoke-tested after each deploy")
    deploy = f"{shlex.quote(sys.executable)} -m bisect_runner.demo.staging"
    urls: list[str] = []
    for _ in range(slots):
        urls += ["--staging-url", f"http://127.0.0.1:{_free_port()}"]
    bisect_json = Path(repo).parent / "bisect.json"
    code = _run(["bisect", "--repo", repo, "--good", demo.old_release, "--bad", demo.new_release,
                 "--deploy", deploy, "--smoke", str(demo.smoke_spec), *urls, "--restart"])
    if code not in (0, 1):
        raise JobFailed(f"demo bisect exited {code}")
    _banner("Crash-safe: the same command again resumes from the saved verdicts and deploys nothing")
    _must(["bisect", "--repo", repo, "--good", demo.old_release, "--bad", demo.new_release,
           "--deploy", deploy, "--smoke", str(demo.smoke_spec), *urls, "--format", "json",
           "--output", str(bisect_json)])

    _banner("Conclusion")
    print(_conclusion(json.loads(risk_json.read_text()), json.loads(bisect_json.read_text())))


def _conclusion(risk: dict[str, Any], bisect: dict[str, Any]) -> str:
    culprit = bisect.get("culprit")
    if bisect.get("status") != "found" or not culprit:
        return f"bisect ended with status {bisect.get('status')}: see the report above"
    pr = culprit.get("pr")
    lines = [
        f"First bad commit: {culprit['sha'][:10]} {culprit['subject']!r} by {culprit['author']}"
        + (f", in PR #{pr}" if pr else ""),
        f"Found with {bisect['deploys']} deploys in {bisect['rounds']} rounds ({bisect['smoke_runs']} smoke runs).",
    ]
    for item in risk.get("items", []):
        if pr is not None and item.get("pr") == pr:
            lines.append(f"The risk ranking had PR #{pr} at rank {item['rank']} of {risk['total']} "
                         f"(score {item['score']}, {item['level']}):")
            lines += [f"  - {reason}" for reason in item.get("reasons", [])[:4]]
            break
    lines.append("Next: roll back (what-changed named the rollback target) and fix forward on the PR.")
    return "\n".join(lines)


def _sha(repo: str, ref: str) -> str:
    from bisect_runner.gitrepo import GitRepo

    return GitRepo(repo).resolve(ref)


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run_story()
    except BisectRunnerError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return exc.exit_code
