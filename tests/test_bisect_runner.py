"""The bisect loop against real repos and a real local staging service (tests/staging_app.py)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bisect_runner.bisect.model import StrategyOptions
from bisect_runner.bisect.report import BisectReport
from bisect_runner.bisect.runner import BisectOptions, SmokeProber, TestProber, run_bisect
from bisect_runner.bisect.slots import CommandDeployer, NoDeploy
from bisect_runner.errors import UserError
from bisect_runner.gitrepo import GitRepo
from bisect_runner.smoke import RUNNER_VARIABLES, load_spec
from tests.staging_app import BROKEN, DEPLOY_COMMAND, OK, SMOKE_SPEC, StagingServers, build_shop_repo

DEPLOY_FAILS = {"deploy": "fail"}


@pytest.fixture
def spec_file(tmp_path: Path) -> Path:
    path = tmp_path / "smoke.yml"
    path.write_text(SMOKE_SPEC)
    return path


def deployers(urls: list[str], tmp_path: Path, *, timeout_s: float = 10.0) -> list[CommandDeployer]:
    return [CommandDeployer(f"slot-{i}", url, DEPLOY_COMMAND, timeout_s=timeout_s, log_dir=tmp_path / "logs",
                            env=None) for i, url in enumerate(urls, start=1)]


def smoke_prober(spec_file: Path, latency_check: str | None = None) -> SmokeProber:
    spec = load_spec(spec_file, provided=RUNNER_VARIABLES)
    return SmokeProber(spec, latency_check=latency_check, spec_text=spec_file.read_text())


def bisect(repo_path: Path, urls: list[str], spec_file: Path, tmp_path: Path, *, good: str = "v1",
           bad: str = "v2", progress: list[BisectReport] | None = None, **options: Any) -> BisectReport:
    deploy_log = tmp_path / "deploys.log"
    import os

    os.environ["DEPLOY_LOG"] = str(deploy_log)
    try:
        return run_bisect(GitRepo(repo_path), BisectOptions(good_ref=good, bad_ref=bad, **options),
                          deployers(urls, tmp_path), smoke_prober(spec_file),
                          on_progress=progress.append if progress is not None else None, log=None)
    finally:
        del os.environ["DEPLOY_LOG"]


def deploys(tmp_path: Path) -> list[str]:
    path = tmp_path / "deploys.log"
    return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


def user_state(path: Path) -> tuple[str, ...]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, check=True).stdout

    return (git("symbolic-ref", "HEAD"), git("rev-parse", "HEAD"), git("status", "--porcelain"),
            git("stash", "list"), git("diff", "--cached"), git("worktree", "list", "--porcelain").count("worktree "),
            str(sorted(p.name for p in (path / ".git").glob("BISECT_*"))))


def test_finds_the_culprit_pr_and_drills_down_to_its_commit(tmp_path: Path, staging: StagingServers,
                                                           spec_file: Path) -> None:
    shop = build_shop_repo(tmp_path / "shop", [[OK], [OK], [OK, BROKEN, BROKEN], [BROKEN], [BROKEN], [BROKEN]])
    repo_path = shop["repo"].path
    (repo_path / "notes.txt").write_text("uncommitted work\n")  # the user's work in progress
    subprocess.run(["git", "stash", "list"], cwd=repo_path, check=True)
    before = user_state(repo_path)
    progress: list[BisectReport] = []
    report = bisect(repo_path, staging.start(1), spec_file, tmp_path, progress=progress)

    culprit_commit = shop["pr_commits"][2][1]
    assert report.status == "found"
    assert report.culprit is not None
    assert report.culprit.sha == culprit_commit
    assert report.culprit.pr == 103
    assert report.culprit.merge_sha == shop["merges"][2]
    assert report.culprit.subject == "PR 103 step 2"
    assert report.culprit.author == "Dev3"
    assert "src/pr103_2.py" in report.culprit.files
    assert report.culprit.risk_level in ("low", "medium", "high") and report.culprit.risk_reasons  # the risk module's
    assert report.drill_down is not None and report.drill_down["outcome"] == "found"
    assert report.deploys == len(deploys(tmp_path))
    assert report.deploys <= math.ceil(math.log2(6)) + 2 + math.ceil(math.log2(3)) + 1
    assert report.rounds == len(progress)
    assert all(p.status == "running" for p in progress[:-1])
    assert user_state(repo_path) == before
    assert (repo_path / "notes.txt").read_text() == "uncommitted work\n"

    data = report.to_dict()
    assert set(data) >= {"status", "culprit", "candidates", "confidence", "deploys", "rounds", "smoke_runs", "steps"}
    assert set(data["culprit"]) >= {"sha", "subject", "author", "pr", "files"}
    assert data["candidates"] == [culprit_commit]
    for step in data["steps"]:
        assert set(step) >= {"sha", "slot", "verdict", "runs", "failures", "median_ms", "p_value"}
    assert report.action_outputs() == {"status": "found", "culprit-sha": culprit_commit, "culprit-pr": "103"}
    # the replay log covers the drill-down too: git replays it to the same commit
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo_path), str(clone)], check=True)
    assert report.replay_log is not None
    replayed = subprocess.run(["git", "bisect", "replay", report.replay_log], cwd=clone, capture_output=True, text=True)
    assert f"{culprit_commit} is the first bad commit" in replayed.stdout


def test_no_drill_down_and_first_parent_stop_at_the_merge(tmp_path: Path, staging: StagingServers,
                                                         spec_file: Path) -> None:
    shop = build_shop_repo(tmp_path / "shop", [[OK], [OK, BROKEN], [BROKEN]])
    urls = staging.start(1)
    report = bisect(shop["repo"].path, urls, spec_file, tmp_path, drill_down=False)
    assert report.culprit is not None and report.culprit.sha == shop["merges"][1]
    assert report.culprit.pr == 102 and report.drill_down is None
    report = bisect(shop["repo"].path, urls, spec_file, tmp_path, first_parent_only=True)
    assert report.culprit is not None and report.culprit.sha == shop["merges"][1]
    assert report.drill_down is None


def test_direct_commits_on_main_are_candidates_but_not_with_first_parent(
        tmp_path: Path, staging: StagingServers, spec_file: Path) -> None:
    shop = build_shop_repo(tmp_path / "shop", [[OK], [OK]], tag_bad=False)
    repo = shop["repo"]
    from tests.staging_app import behaviour

    hotfix = repo.commit("Hotfix straight on main", {"app/behaviour.json": behaviour(checkout="broken")})
    repo.merge_pr(200, "later", [("Later work", {"later.txt": "x\n"})])
    repo.tag("v2")
    urls = staging.start(1)
    report = bisect(repo.path, urls, spec_file, tmp_path)
    assert report.culprit is not None and report.culprit.sha == hotfix and report.culprit.pr is None
    report = bisect(repo.path, urls, spec_file, tmp_path, first_parent_only=True)
    assert report.culprit is not None and report.culprit.sha == repo.head()  # the merge after the hotfix


def test_a_commit_that_cannot_deploy_is_skipped_never_blamed(tmp_path: Path, staging: StagingServers,
                                                             spec_file: Path) -> None:
    shop = build_shop_repo(tmp_path / "shop", [[OK], [DEPLOY_FAILS], [OK], [OK], [BROKEN], [BROKEN], [BROKEN]])
    report = bisect(shop["repo"].path, staging.start(1), spec_file, tmp_path, drill_down=False)
    assert report.status == "found"
    assert report.culprit is not None and report.culprit.sha == shop["merges"][4]
    skipped = [s for s in report.steps if s.verdict == "skip"]
    assert all(s.sha == shop["merges"][1] for s in skipped)
    assert all("could not deploy" in s.detail and "migration error" in s.detail for s in skipped)


def test_only_skipped_commits_between_good_and_bad_is_ambiguous(tmp_path: Path, staging: StagingServers,
                                                                spec_file: Path) -> None:
    shop = build_shop_repo(tmp_path / "shop", [[OK], [DEPLOY_FAILS], [DEPLOY_FAILS], [BROKEN], [BROKEN]])
    report = bisect(shop["repo"].path, staging.start(1), spec_file, tmp_path, drill_down=False)
    assert report.status == "ambiguous"
    assert report.culprit is None
    assert report.candidates == shop["merges"][1:4]
    assert report.action_outputs()["culprit-sha"] == ""
    assert "ambiguous" in report.to_text().lower() and "Candidates" in report.to_markdown()


def test_good_ref_that_fails_is_an_error_naming_the_ref(tmp_path: Path, staging: StagingServers,
                                                        spec_file: Path) -> None:
    shop = build_shop_repo(tmp_path / "shop", [[BROKEN], [BROKEN]])
    shop["repo"].git("tag", "broken-good", shop["merges"][0])
    with pytest.raises(UserError, match=r"good ref 'broken-good' \(\w{10}\) fails the smoke tests \(1 of 1 run failed\): "
                                        r"checkout: status 500, expected 200 or 201.*; "
                                        r"pass a --good commit that passes"):
        bisect(shop["repo"].path, staging.start(1), spec_file, tmp_path, good="broken-good")


def test_bad_ref_that_passes_is_an_error_naming_the_ref(tmp_path: Path, staging: StagingServers,
                                                        spec_file: Path) -> None:
    shop = build_shop_repo(tmp_path / "shop", [[OK], [OK]])
    with pytest.raises(UserError, match=r"bad ref 'v2' \(\w{10}\) passes the smoke tests \(1 of 1 run passed\); "
                                        r"pass a --bad commit that fails"):
        bisect(shop["repo"].path, staging.start(1), spec_file, tmp_path)


def test_staging_down_is_a_clear_error_naming_the_url(tmp_path: Path, spec_file: Path) -> None:
    import socket

    shop = build_shop_repo(tmp_path / "shop", [[OK], [BROKEN]])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    deployer = CommandDeployer("slot-1", url, "true", timeout_s=5)
    with pytest.raises(UserError, match=rf"good ref 'v1'.*fails the smoke tests.*cannot connect to {url}/api/checkout: "
                                        r"connection refused"):
        run_bisect(GitRepo(shop["repo"].path), BisectOptions("v1", "v2"), [deployer], smoke_prober(spec_file), log=None)


def test_an_endpoint_that_cannot_deploy_on_any_slot_is_an_error(tmp_path: Path, staging: StagingServers,
                                                                spec_file: Path) -> None:
    shop = build_shop_repo(tmp_path / "shop", [[OK], [BROKEN, DEPLOY_FAILS]])
    with pytest.raises(UserError, match=r"bad ref 'v2' \(\w{10}\) could not be tested on any slot \(slot-1, slot-2\): "
                                        r"could not deploy .*deploy exited 1.*migration error"):
        bisect(shop["repo"].path, staging.start(2), spec_file, tmp_path)


def test_a_deploy_that_hangs_is_killed_at_the_timeout_and_skipped(tmp_path: Path, staging: StagingServers,
                                                                  spec_file: Path) -> None:
    shop = build_shop_repo(tmp_path / "shop", [[OK], [OK], [{"deploy": "hang"}], [BROKEN], [BROKEN]])
    urls = staging.start(1)
    import os

    os.environ["DEPLOY_LOG"] = str(tmp_path / "deploys.log")
    try:
        report = run_bisect(GitRepo(shop["repo"].path), BisectOptions("v1", "v2", drill_down=False),
                            deployers(urls, tmp_path, timeout_s=0.5), smoke_prober(spec_file), log=None)
    finally:
        del os.environ["DEPLOY_LOG"]
    hung = shop["merges"][2]
    assert report.status == "ambiguous" and report.candidates == [hung, shop["merges"][3]]
    assert [s.detail for s in report.steps if s.sha == hung] == [
        f"could not deploy to slot-1: deploy timed out after 0.5s (log: {tmp_path / 'logs'}/deploy-{hung[:12]}-slot-1.log)"]
    assert report.elapsed_s < 10


def test_parallel_slots_test_several_commits_per_round(tmp_path: Path, staging: StagingServers,
                                                       spec_file: Path) -> None:
    shop = build_shop_repo(tmp_path / "shop", [[OK]] * 9 + [[BROKEN]] * 7)
    report = bisect(shop["repo"].path, staging.start(3), spec_file, tmp_path, drill_down=False)
    assert report.culprit is not None and report.culprit.sha == shop["merges"][9]
    assert report.slots == ["slot-1", "slot-2", "slot-3"]
    assert {s.slot for s in report.steps} == {"slot-1", "slot-2", "slot-3"}
    # endpoint checks (one round with 3 slots) plus ceil(log4 16) search rounds, with some slack
    assert report.rounds <= 1 + math.ceil(math.log(16, 4)) + 1
    assert report.rounds < report.deploys


def test_interrupted_bisect_resumes_without_redeploying(tmp_path: Path, staging: StagingServers,
                                                       spec_file: Path) -> None:
    shop = build_shop_repo(tmp_path / "shop", [[OK]] * 5 + [[BROKEN]] * 4)
    urls = staging.start(1)
    before = user_state(shop["repo"].path)

    def interrupt_after_three_rounds(report: BisectReport) -> None:
        if report.rounds >= 3:
            raise KeyboardInterrupt

    import os

    os.environ["DEPLOY_LOG"] = str(tmp_path / "deploys.log")
    try:
        with pytest.raises(KeyboardInterrupt):
            run_bisect(GitRepo(shop["repo"].path), BisectOptions("v1", "v2", drill_down=False),
                       deployers(urls, tmp_path), smoke_prober(spec_file), on_progress=interrupt_after_three_rounds,
                       log=None)
    finally:
        del os.environ["DEPLOY_LOG"]
    assert user_state(shop["repo"].path) == before  # no worktree left, nothing moved
    first = deploys(tmp_path)
    assert len(first) == 3

    report = bisect(shop["repo"].path, urls, spec_file, tmp_path, drill_down=False)
    assert report.culprit is not None and report.culprit.sha == shop["merges"][5]
    assert report.resumed_steps == 3
    second = deploys(tmp_path)[3:]
    assert not set(first) & set(second)  # judged commits were not deployed again
    assert report.deploys == len(first) + len(second)
    assert [s.resumed for s in report.steps] == [True] * 3 + [False] * len(second)

    again = bisect(shop["repo"].path, urls, spec_file, tmp_path, drill_down=False)
    assert again.culprit == report.culprit and len(deploys(tmp_path)) == len(first) + len(second)
    restarted = bisect(shop["repo"].path, urls, spec_file, tmp_path, drill_down=False, restart=True)
    assert restarted.resumed_steps == 0 and len(deploys(tmp_path)) == 2 * (len(first) + len(second))


def test_replay_log_is_in_git_bisect_log_format(tmp_path: Path, staging: StagingServers, spec_file: Path) -> None:
    shop = build_shop_repo(tmp_path / "shop", [[OK], [DEPLOY_FAILS], [OK], [BROKEN], [BROKEN]])
    repo = shop["repo"]
    report = bisect(repo.path, staging.start(1), spec_file, tmp_path, drill_down=False)
    assert report.replay_log is not None
    log = Path(report.replay_log).read_text().splitlines()
    assert Path(report.replay_log).parent == repo.path / ".git" / "bisect-runner"
    assert log[0] == "git bisect start '--first-parent'"
    v1, v2 = repo.git("rev-parse", "v1"), repo.git("rev-parse", "v2")
    assert f"git bisect bad {v2}" in log and f"git bisect good {v1}" in log
    assert f"# good: [{v1}] Initial shop" in log
    culprit = shop["merges"][3]
    assert f"git bisect bad {culprit}" in log
    assert log[-1] == f"# first bad commit: [{culprit}] Merge pull request #104 from acme/feature-104"
    for line in log:
        assert line.startswith(("#", "git bisect start", "git bisect good ", "git bisect bad ", "git bisect skip "))
    # git itself accepts it: replay in a throwaway clone names the same first bad commit
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo.path), str(clone)], check=True)
    result = subprocess.run(["git", "bisect", "replay", report.replay_log], cwd=clone, capture_output=True, text=True)
    assert f"{culprit} is the first bad commit" in result.stdout


def test_test_mode_uses_git_bisect_run_exit_codes(tmp_path: Path) -> None:
    shop = build_shop_repo(tmp_path / "shop", [[OK], [{"checkout": "skip"}], [OK], [BROKEN], [BROKEN]])
    script = tmp_path / "check.py"
    script.write_text(
        "import json, sys\n"
        "b = json.load(open('app/behaviour.json'))\n"
        "sys.exit({'ok': 0, 'skip': 125, 'broken': 1, 'abort': 129}[b['checkout']])\n")
    prober = TestProber(f"{sys.executable} {script}", timeout_s=10)
    report = run_bisect(GitRepo(shop["repo"].path), BisectOptions("v1", "v2", drill_down=False), [NoDeploy("local")],
                        prober, log=None)
    assert report.culprit is not None and report.culprit.sha == shop["merges"][3]
    assert report.deploys == 0

    aborting = build_shop_repo(tmp_path / "abort", [[OK], [{"checkout": "abort"}], [BROKEN]])
    with pytest.raises(UserError, match=r"test command exited 129 on \w{10}: 128 and above abort the bisect"):
        run_bisect(GitRepo(aborting["repo"].path), BisectOptions("v1", "v2"), [NoDeploy("local")], prober, log=None)
    assert subprocess.run(["git", "worktree", "list"], cwd=aborting["repo"].path, capture_output=True,
                          text=True).stdout.count("\n") == 1


def test_good_ref_must_be_an_ancestor_of_bad(tmp_path: Path, spec_file: Path) -> None:
    shop = build_shop_repo(tmp_path / "shop", [[OK], [BROKEN]])
    with pytest.raises(UserError, match="good ref 'v2' is not an ancestor of bad ref 'v1'"):
        run_bisect(GitRepo(shop["repo"].path), BisectOptions("v2", "v1"), [NoDeploy()], smoke_prober(spec_file),
                   log=None)


def test_flaky_service_finds_the_culprit_with_repeated_runs(tmp_path: Path, staging: StagingServers,
                                                            spec_file: Path) -> None:
    noisy = {"flaky_rate": 0.05, "seed": 7}
    worse = {"flaky_rate": 0.5, "seed": 7}
    shop = build_shop_repo(tmp_path / "shop", [[noisy]] * 5 + [[worse]] * 4)
    report = bisect(shop["repo"].path, staging.start(1), spec_file, tmp_path, kind="flaky", drill_down=False,
                    strategy=StrategyOptions(confidence=0.95, seed=7))
    assert report.status == "found"
    assert report.culprit is not None and report.culprit.sha == shop["merges"][5]
    assert report.confidence is not None and report.confidence >= 0.95
    assert report.smoke_runs > report.deploys  # runs repeated on a deployed commit before redeploying


def test_latency_regression_is_found_with_p_values(tmp_path: Path, staging: StagingServers, spec_file: Path) -> None:
    fast = {"latency_ms": 0, "seed": 3}  # like v1
    slow = {"latency_ms": 40, "seed": 3}
    shop = build_shop_repo(tmp_path / "shop", [[fast]] * 3 + [[slow]] * 3)
    import os

    os.environ["DEPLOY_LOG"] = str(tmp_path / "deploys.log")
    try:
        report = run_bisect(GitRepo(shop["repo"].path),
                            BisectOptions("v1", "v2", kind="latency", latency_check="checkout", drill_down=False,
                                          strategy=StrategyOptions(latency_samples=8, latency_extra_samples=4,
                                                                   latency_max_samples=16)),
                            deployers(staging.start(1), tmp_path), smoke_prober(spec_file, "checkout"), log=None)
    finally:
        del os.environ["DEPLOY_LOG"]
    assert report.status == "found"
    assert report.culprit is not None and report.culprit.sha == shop["merges"][3]
    judged = [s for s in report.steps if s.verdict in ("same", "different")]
    assert judged and all(s.p_value is not None and s.median_ms is not None for s in judged)
    assert all(s.median_ms is not None and s.median_ms > 25 for s in judged if s.verdict == "different")
    assert all(s.p_value is not None and s.p_value <= 0.01 for s in judged if s.verdict == "different")


def test_state_file_survives_a_torn_write_and_refuses_corruption_and_a_second_runner(tmp_path: Path) -> None:
    from bisect_runner.bisect.state import BisectState, SavedObservation, StateKey

    key = StateKey(good="a" * 40, bad="b" * 40, mode="deterministic", candidates=("b" * 40,), probe="smoke:x")
    state = BisectState.open(tmp_path, key)
    observation = SavedObservation(phase="merge", sha="a" * 40, slot="slot-1", runs=1, failures=0, skipped=False,
                                   latencies_ms=(3.5,), detail="", verdict="good", deployed=True, round=1)
    state.append(observation)
    with pytest.raises(UserError, match="another bisect-runner is running this same bisect"):
        BisectState.open(tmp_path, key)
    state.close()
    with state.path.open("a") as out:
        out.write('{"phase": "merge", "sha": "b')  # a crash mid-write
    reopened = BisectState.open(tmp_path, key)
    assert reopened.observations == [observation] and reopened.resumed == 1
    reopened.append(observation)
    reopened.close()
    again = BisectState.open(tmp_path, key)
    assert len(again.observations) == 2  # the torn line did not swallow the next one
    again.close()
    lines = state.path.read_text().splitlines()
    state.path.write_text("\n".join([lines[0], "not json", lines[1]]) + "\n")
    with pytest.raises(UserError, match=r"\.jsonl:2: the bisect state is corrupt; rerun with --restart"):
        BisectState.open(tmp_path, key)
    fresh = BisectState.open(tmp_path, key, restart=True)
    assert fresh.observations == [] and fresh.resumed == 0
    fresh.close()


def test_deploy_budget_is_never_exceeded(tmp_path: Path, staging: StagingServers, spec_file: Path) -> None:
    shop = build_shop_repo(tmp_path / "shop", [[OK]] * 5 + [[BROKEN]] * 11)
    report = bisect(shop["repo"].path, staging.start(2), spec_file, tmp_path, drill_down=False,
                    strategy=StrategyOptions(max_deploys=3))
    assert report.deploys <= 3 and len(deploys(tmp_path)) <= 3
    assert report.status == "ambiguous"
    assert shop["merges"][5] in report.candidates


def test_a_pr_that_only_breaks_when_merged_keeps_the_merge_as_culprit(tmp_path: Path, staging: StagingServers,
                                                                      spec_file: Path) -> None:
    from tests.gitutil import TestRepo
    from tests.staging_app import behaviour

    flags: dict[str, Any] = {"broken_if_all": ["a_flag", "z_flag"], "a_flag": False, "z_flag": False}
    repo = TestRepo(tmp_path / "shop")
    repo.commit("Initial shop", {"app/behaviour.json": behaviour(**flags)})
    repo.tag("v1")
    repo.git("checkout", "-q", "-b", "feature-z")
    repo.commit("Turn on flag z", {"app/behaviour.json": behaviour(**{**flags, "z_flag": True})})
    repo.commit("Docs for flag z", {"docs/z.md": "z\n"})
    repo.git("checkout", "-q", "main")
    repo.commit("Turn on flag a", {"app/behaviour.json": behaviour(**{**flags, "a_flag": True})})
    repo.git("merge", "-q", "--no-ff", "feature-z", "-m", "Merge pull request #7 from acme/feature-z")
    merge = repo.head()
    repo.tag("v2")
    report = bisect(repo.path, staging.start(1), spec_file, tmp_path)
    assert report.status == "found"
    assert report.culprit is not None and report.culprit.sha == merge and report.culprit.pr == 7
    assert report.culprit.merge_sha is None
    assert report.drill_down is not None and report.drill_down["outcome"] == "merge"
    assert any("passes on its own" in note and "merging PR #7" in note for note in report.notes)


def test_latency_bad_ref_that_is_not_slower_is_an_error(tmp_path: Path, staging: StagingServers,
                                                        spec_file: Path) -> None:
    shop = build_shop_repo(tmp_path / "shop", [[{"latency_ms": 0}]])
    with pytest.raises(UserError, match=r"bad ref 'v2' \(\w{10}\) is not slower than the good ref: median .* ms "
                                        r"against .* ms on the good commit, p=.*; pass a --bad commit that is slow"):
        run_bisect(GitRepo(shop["repo"].path),
                   BisectOptions("v1", "v2", kind="latency", latency_check="checkout",
                                 strategy=StrategyOptions(latency_samples=6, latency_extra_samples=3,
                                                          latency_max_samples=9)),
                   deployers(staging.start(1), tmp_path), smoke_prober(spec_file, "checkout"), log=None)
