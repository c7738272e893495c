"""`bisect-runner bisect`: find the first bad commit (and its PR) by deploying to staging."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from bisect_runner.cli import EXIT_FAILED, EXIT_OK, Context, add_subcommand
from bisect_runner.errors import UserError

DESCRIPTION = """\
Find the first bad commit between --good and --bad by deploying candidate commits to staging
and running smoke tests (or a test command), halving the range each round.

Candidates are the first-parent commits of good..bad (one per merged PR). When the first bad
one is a merge, the search continues inside that PR's own commits (--no-drill-down stops at the
merge; --first-parent keeps merges only and never drills down).

Each commit is checked out with `git worktree` outside your work tree (your branch, HEAD, index,
files and stash are never touched) and deployed by --deploy CMD, which runs with the environment
  BISECT_SHA       the full sha            BISECT_SLOT   the slot's name (slot-1, slot-2, ...)
  BISECT_WORKTREE  the commit's checkout   STAGING_URL   the slot's URL
Refs are never put into the command line. Exit 0 means deployed; any other exit, or running
longer than --deploy-timeout, means the commit cannot be tested: it is skipped, never judged bad.
Each --staging-url is one slot; with K slots, K commits are tested per round in parallel.

--test CMD runs in the commit's worktree (after the deploy, when --deploy is given) with
`git bisect run` exit codes: 0 good, 125 skip, 1-127 bad, 128 and above abort the bisect.

--deploy-workflow FILE deploys through GitHub Actions instead: each slot dispatches the workflow
(workflow_dispatch, inputs `sha` and `slot`, on --workflow-ref, default the default branch) and
waits for its run; success deploys, any other conclusion or the deploy timeout skips the commit.
--report-issue N keeps one comment on incident issue N updated each round, then the result
('new' opens an issue with the result). Both need GITHUB_TOKEN and --github OWNER/REPO (or
GITHUB_REPOSITORY); see docs/github.md.

Every result is saved under .git/bisect-runner/ as it happens: run the same command again to
resume without redeploying judged commits (--restart starts over). A replay log in `git bisect
log` format is written next to it (its path is in the report).

Exit codes: 0 the culprit was found; 1 the bisect finished without naming one commit (ambiguous:
only skipped commits separate good from bad, the candidates are listed; or no-culprit: the bad
ref does not fail reliably); 2 bad input, including a good ref that fails or a bad ref that
passes, an endpoint that cannot be deployed, or a good ref that is not an ancestor of the bad
ref; 130 interrupted (worktrees removed, results kept for the next run).
"""


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    sub = add_subcommand(subparsers, common, "bisect", "find the commit that broke staging", handle,
                         description=DESCRIPTION)
    sub.add_argument("--good", required=True, metavar="REF", help="a commit that passes (e.g. the last good release)")
    sub.add_argument("--bad", required=True, metavar="REF", help="a commit that fails (e.g. the broken release)")
    deploy = sub.add_mutually_exclusive_group()
    deploy.add_argument("--deploy", metavar="CMD",
                        help="deploy hook, run per commit and slot (default: bisect.deploy in the config)")
    deploy.add_argument("--deploy-workflow", metavar="FILE",
                        help="deploy through this GitHub Actions workflow (workflow_dispatch with inputs sha and "
                             "slot), e.g. deploy-staging.yml; success deploys, any other conclusion skips")
    sub.add_argument("--workflow-ref", metavar="REF",
                     help="branch or tag to dispatch --deploy-workflow on (default: the repository's default branch)")
    sub.add_argument("--github", metavar="OWNER/REPO",
                     help="the GitHub repository (default: GITHUB_REPOSITORY, else github.repository); "
                          "token from GITHUB_TOKEN, API root from GITHUB_API_URL")
    sub.add_argument("--report-issue", metavar="N|new",
                     help="keep one comment on incident issue N updated each round, then the result; "
                          "'new' opens an issue with the result")
    what = sub.add_mutually_exclusive_group()
    what.add_argument("--smoke", metavar="FILE", help="smoke spec run after each deploy (default: bisect.smoke)")
    what.add_argument("--test", metavar="CMD", help="test command run in the commit's worktree (git bisect run codes)")
    sub.add_argument("--staging-url", action="append", default=[], metavar="URL",
                     help="a staging slot's URL; repeat for parallel slots (default: bisect.slots in the config)")
    sub.add_argument("--first-parent", action="store_true", help="test merge commits only; no drill-down")
    sub.add_argument("--no-drill-down", action="store_true", help="stop at the culprit merge")
    sub.add_argument("--flaky", action="store_true",
                     help="noisy search for flaky smoke tests: repeated runs, a posterior per commit")
    sub.add_argument("--confidence", type=float, metavar="P",
                     help="stop when the culprit is this likely (flaky/latency; default bisect.confidence, 0.99)")
    sub.add_argument("--latency", metavar="CHECK",
                     help="bisect a latency regression of this smoke check (Mann-Whitney U per commit)")
    sub.add_argument("--max-deploys", type=int, metavar="N", help="deploy budget (default: unlimited)")
    sub.add_argument("--deploy-timeout", type=float, metavar="SECONDS",
                     help="a deploy running longer is killed and its commit skipped (default bisect.deploy_timeout_s)")
    sub.add_argument("--restart", action="store_true", help="discard saved results of this bisect and start over")


def handle(args: argparse.Namespace, ctx: Context) -> int:
    from bisect_runner import smoke
    from bisect_runner.bisect.github_report import IssueReporter
    from bisect_runner.bisect.model import StrategyOptions
    from bisect_runner.bisect.runner import BisectOptions, Prober, SmokeProber, TestProber, run_bisect
    from bisect_runner.bisect.slots import build_deployers
    from bisect_runner.bisect.state import state_dir
    from bisect_runner.bisect.workflow_slot import workflow_factory, workflow_slots
    from bisect_runner.github import GitHubSession
    from bisect_runner.gitrepo import GitRepo

    config = ctx.config.bisect
    repo = GitRepo(ctx.repo_path)
    if args.flaky and args.latency:
        raise UserError("--flaky and --latency are different searches; pass one of them")
    confidence = args.confidence if args.confidence is not None else config.confidence
    if not 0.5 < confidence < 1:
        raise UserError(f"--confidence must be between 0.5 and 1 (exclusive), got {confidence:g}")
    max_deploys = args.max_deploys if args.max_deploys is not None else config.max_deploys
    if max_deploys is not None and max_deploys < 2:
        raise UserError(f"--max-deploys must be at least 2 (the good and the bad ends), got {max_deploys}")
    deploy_timeout = args.deploy_timeout if args.deploy_timeout is not None else config.deploy_timeout_s
    if not (deploy_timeout > 0 and math.isfinite(deploy_timeout)):
        raise UserError(f"--deploy-timeout must be a positive number of seconds, got {deploy_timeout:g}")

    log_dir = state_dir(repo.git_dir) / "logs"
    prober: Prober
    if args.test:
        prober = TestProber(args.test, timeout_s=config.test_timeout_s, log_dir=log_dir)
        if args.latency:
            raise UserError("--latency measures a smoke check; pass --smoke FILE instead of --test")
    else:
        spec_path = args.smoke or config.smoke
        if not spec_path:
            raise UserError("nothing to test: pass --smoke FILE (a smoke spec) or --test CMD")
        path = Path(spec_path)
        if not path.is_absolute() and not path.exists() and config.smoke and ctx.config_path:
            path = Path(ctx.config_path).parent / spec_path  # relative to the config file
        spec = smoke.load_spec(path, provided=smoke.RUNNER_VARIABLES)
        prober = SmokeProber(spec, latency_check=args.latency, spec_text=path.read_text(encoding="utf-8"))

    github = GitHubSession(args.github, ctx.config.github)
    reporter = IssueReporter(github.client, args.report_issue) if args.report_issue else None
    if args.deploy_workflow:
        deployers = workflow_slots(github, args.deploy_workflow, args.workflow_ref, staging_urls=args.staging_url,
                                   config=config, timeout_s=deploy_timeout)
    else:
        deployers = build_deployers(staging_urls=args.staging_url, deploy_command=args.deploy, config=config,
                                    timeout_s=deploy_timeout, log_dir=log_dir, test_mode=bool(args.test),
                                    workflow_factory=workflow_factory(github, args.workflow_ref, timeout_s=deploy_timeout))
    latency = config.latency
    options = BisectOptions(
        good_ref=args.good, bad_ref=args.bad,
        kind="latency" if args.latency else ("flaky" if args.flaky else "deterministic"),
        strategy=StrategyOptions(
            confidence=confidence, max_deploys=max_deploys, repeats=config.repeats,
            latency_samples=latency.samples, latency_extra_samples=latency.extra_samples,
            latency_max_samples=latency.max_samples, latency_alpha=latency.alpha, latency_same_p=latency.same_p,
        ),
        first_parent_only=args.first_parent or config.first_parent,
        drill_down=not args.no_drill_down and config.drill_down,
        restart=args.restart, latency_check=args.latency, risk=ctx.config.risk,
    )
    try:
        report = run_bisect(repo, options, deployers, prober,
                            on_progress=reporter.on_progress if reporter is not None else None)
        if reporter is not None:
            link = reporter.finish(report)
            report.notes.append(f"reported on {link.url or f'#{link.number}'}")
        report.api_calls = github.calls
        ctx.emit(report)
    finally:
        github.report_calls()
        github.close()
    return EXIT_OK if report.status == "found" else EXIT_FAILED
