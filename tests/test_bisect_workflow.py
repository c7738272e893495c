"""Staging through workflow_dispatch: WorkflowDeployer against the fake GitHub, whose workflow
runs call a Python function the test registers."""

from __future__ import annotations

import json
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bisect_runner.bisect.github_report import IssueReporter, parse_report_issue
from bisect_runner.bisect.workflow_slot import WorkflowDeployer
from bisect_runner.errors import UserError
from bisect_runner.github import GitHubClient, GitHubNotFound
from tests.conftest import run_cli
from tests.fake_github import TOKEN, FakeGitHub, validate_exchanges
from tests.gitutil import TestRepo
from tests.staging_app import SMOKE_SPEC, StagingServers, build_shop_repo


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> TestRepo:
    repo = TestRepo(tmp_path_factory.mktemp("wf") / "shop")
    repo.commit("Initial commit", {"app.py": "v = 1\n"})
    repo.commit("Second", {"app.py": "v = 2\n"})
    return repo


@pytest.fixture
def fake(shop: TestRepo) -> Iterator[FakeGitHub]:
    with FakeGitHub(shop.path) as server:
        yield server
        validate_exchanges(server)


@pytest.fixture
def client(fake: FakeGitHub) -> Iterator[GitHubClient]:
    with GitHubClient(TOKEN, fake.full_name, fake.url, scale=0.0) as github:
        yield github


def deployer(client: GitHubClient, slot: str = "a", **kwargs: float) -> WorkflowDeployer:
    options = {"timeout_s": 10.0, "poll_s": 0.02, "max_poll_s": 0.05, "find_timeout_s": 5.0, "scale": 1.0} | kwargs
    return WorkflowDeployer(slot, f"http://staging-{slot}", client, ".github/workflows/deploy-staging.yml",
                            "main", **options)


def test_success_means_deployed(shop: TestRepo, fake: FakeGitHub, client: GitHubClient) -> None:
    deployed: list[dict[str, str]] = []
    fake.register_workflow("deploy-staging.yml", lambda inputs: deployed.append(inputs) or "success")
    result = deployer(client).deploy(shop.head(), None)
    assert result.ok and "actions/runs/" in result.detail
    assert deployed == [{"sha": shop.head(), "slot": "a"}]


@pytest.mark.parametrize("conclusion", ["failure", "cancelled", "timed_out"])
def test_any_other_conclusion_is_a_skip(shop: TestRepo, fake: FakeGitHub, client: GitHubClient,
                                        conclusion: str) -> None:
    fake.register_workflow("deploy-staging.yml", lambda inputs: conclusion)
    result = deployer(client).deploy(shop.head(), None)
    assert not result.ok and result.detail.endswith(conclusion)


def test_a_run_that_does_not_finish_in_time_is_a_skip(shop: TestRepo, fake: FakeGitHub, client: GitHubClient) -> None:
    release = threading.Event()
    fake.register_workflow("deploy-staging.yml", lambda inputs: "success" if release.wait(5) else "failure")
    started = time.monotonic()
    result = deployer(client, timeout_s=0.3).deploy(shop.head(), None)
    release.set()
    assert not result.ok and "still in_progress after 0.3s" in result.detail
    assert time.monotonic() - started < 3


def test_parallel_slots_without_run_details_find_their_own_runs(shop: TestRepo, fake: FakeGitHub,
                                                                client: GitHubClient) -> None:
    fake.return_run_details = False  # an older GitHub Enterprise: the dispatch returns 204 only
    ran: dict[str, str] = {}

    def deploy(inputs: dict[str, str]) -> str:
        time.sleep(0.05)
        ran[inputs["slot"]] = inputs["sha"]
        return "success" if inputs["slot"] != "c" else "failure"

    fake.register_workflow("deploy-staging.yml", deploy, name="Deploy staging",
                           run_name=lambda inputs: f"Deploy {inputs['sha']} to {inputs['slot']}")
    shas = {"a": shop.git("rev-parse", "HEAD~1"), "b": shop.head(), "c": shop.head()}
    deployers = {slot: deployer(client, slot) for slot in shas}
    results = {}

    def run(slot: str) -> None:
        results[slot] = deployers[slot].deploy(shas[slot], None)

    threads = [threading.Thread(target=run, args=(slot,)) for slot in shas]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ran == shas
    assert results["a"].ok and results["b"].ok and not results["c"].ok
    run_ids = {d.last_run.id for d in deployers.values() if d.last_run}
    assert len(run_ids) == 3
    for slot, d in deployers.items():
        assert d.last_run is not None and d.last_run.display_title == f"Deploy {shas[slot]} to {slot}"


def test_untitled_runs_are_claimed_once(shop: TestRepo, fake: FakeGitHub, client: GitHubClient) -> None:
    fake.return_run_details = False
    fake.register_workflow("deploy-staging.yml", lambda inputs: "success")  # no run-name: titles are the name
    first, second = deployer(client, "a"), deployer(client, "b")
    assert first.deploy(shop.head(), None).ok and second.deploy(shop.head(), None).ok
    assert first.last_run and second.last_run and first.last_run.id != second.last_run.id


def test_missing_workflow_or_bad_ref_stops_the_bisect(shop: TestRepo, fake: FakeGitHub, client: GitHubClient) -> None:
    with pytest.raises(GitHubNotFound):
        deployer(client).deploy(shop.head(), None)
    fake.register_workflow("deploy-staging.yml", lambda inputs: "success")
    bad_ref = WorkflowDeployer("a", None, client, "deploy-staging.yml", "no-such-branch", poll_s=0.01, scale=1.0)
    with pytest.raises(UserError, match="inputs `sha` and `slot`"):
        bad_ref.deploy(shop.head(), None)


def test_a_transient_github_failure_is_a_skip(shop: TestRepo, fake: FakeGitHub, client: GitHubClient) -> None:
    fake.register_workflow("deploy-staging.yml", lambda inputs: "success")
    fake.fail(502, method="POST", path="/dispatches$")
    result = deployer(client).deploy(shop.head(), None)
    assert not result.ok and "not retried" in result.detail


def test_no_run_appears(shop: TestRepo, fake: FakeGitHub, client: GitHubClient) -> None:
    fake.return_run_details = False
    fake.register_workflow("deploy-staging.yml", lambda inputs: "success",
                           run_name=lambda inputs: "someone else's run")
    result = deployer(client, find_timeout_s=0.2).deploy(shop.head(), None)
    assert not result.ok and "no run of deploy-staging.yml appeared" in result.detail


# --report-issue ---------------------------------------------------------------------------------


def running_report(steps: int, status: str = "running") -> Any:
    from bisect_runner.bisect.report import BisectReport, CulpritInfo, StepRecord

    report = BisectReport(status=status, good="a" * 40, bad="b" * 40, good_ref="v1", bad_ref="v2",  # type: ignore[arg-type]
                          mode="deterministic", slots=["slot-1"], range_size=4)
    report.steps = [StepRecord(sha=f"{i:040d}", slot="slot-1", verdict="good", runs=1, failures=0, median_ms=None,
                               p_value=None, subject=f"step {i}") for i in range(steps)]
    if status == "found":
        report.culprit = CulpritInfo(sha="c" * 40, subject="Break checkout", author="Dev2", pr=102, files=["x.py"])
    return report


def test_issue_reporter_keeps_one_comment_updated(fake: FakeGitHub, client: GitHubClient) -> None:
    issue = fake.add_issue("Checkout is down")
    reporter = IssueReporter(client, f"#{issue}")
    reporter.on_progress(running_report(1))
    reporter.on_progress(running_report(1))  # nothing new: no request at all
    reporter.on_progress(running_report(2))
    link = reporter.finish(running_report(3, "found"))
    ours = fake.comments_on(issue)
    assert len(ours) == 1 and "First bad commit" in ours[0]["body"] and ours[0]["edits"] == 2
    assert link.number == issue and link.url.endswith(f"#issuecomment-{ours[0]['id']}")
    other_range = running_report(1)
    other_range.good = "d" * 40
    reporter.on_progress(other_range)  # another bisect on the same incident gets its own comment
    assert len(fake.comments_on(issue)) == 2


def test_issue_reporter_new_opens_an_issue_with_the_result(fake: FakeGitHub, client: GitHubClient) -> None:
    reporter = IssueReporter(client, "new")
    reporter.on_progress(running_report(1))
    assert not fake.issues
    link = reporter.finish(running_report(2, "found"))
    assert fake.issues[link.number]["title"].startswith("Bisect v1..v2: First bad commit: cccccccccc")
    assert "Break checkout" in fake.issues[link.number]["body"]


def test_progress_failures_never_stop_the_bisect(fake: FakeGitHub, client: GitHubClient,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    issue = fake.add_issue("Checkout is down")
    fake.read_only = True
    reporter = IssueReporter(client, str(issue))
    reporter.on_progress(running_report(1))
    reporter.on_progress(running_report(2))
    assert capsys.readouterr().err.count("could not update the bisect comment") == 1


@pytest.mark.parametrize("value", ["0", "abc", "-3", ""])
def test_report_issue_must_be_a_number_or_new(value: str) -> None:
    with pytest.raises(UserError, match="pass an issue number"):
        parse_report_issue(value)


# the bisect command through workflow_dispatch ---------------------------------------------------


def register_deploy_workflow(fake: FakeGitHub, repo: Path, slots: dict[str, str]) -> list[str]:
    """The workflow a team would have: deploy inputs.sha to inputs.slot (here: post the commit's
    app/behaviour.json to that slot's staging server, like tests/staging_app.py's deploy hook)."""
    deployed: list[str] = []

    def run(inputs: dict[str, str]) -> str:
        behaviour = json.loads(subprocess.run(["git", "show", f"{inputs['sha']}:app/behaviour.json"], cwd=repo,
                                              capture_output=True, text=True, check=True).stdout)
        deployed.append(inputs["sha"])
        if behaviour.get("deploy") == "fail":
            return "failure"
        request = urllib.request.Request(slots[inputs["slot"]] + "/__deploy", method="POST",
                                         data=json.dumps({"behaviour": behaviour, "sha": inputs["sha"]}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
        return "success"

    fake.register_workflow("deploy-staging.yml", run, name="Deploy staging",
                           run_name=lambda inputs: f"Deploy {inputs['sha']} to {inputs['slot']}")
    return deployed


def test_bisect_deploys_through_the_workflow_and_reports_on_the_issue(tmp_path: Path, staging: StagingServers) -> None:
    pytest.importorskip("bisect_runner.bisect.strategies")
    shop = build_shop_repo(tmp_path / "shop", [[{}], [{"deploy": "fail"}], [{}], [{"checkout": "broken"}],
                                                   [{"checkout": "broken"}]])
    spec = tmp_path / "smoke.yml"
    spec.write_text(SMOKE_SPEC)
    urls = staging.start(2)
    with FakeGitHub(shop["repo"].path) as fake:
        deployed = register_deploy_workflow(fake, shop["repo"].path, {"slot-1": urls[0], "slot-2": urls[1]})
        issue = fake.add_issue("Checkout is down")
        result = run_cli("bisect", "--repo", str(shop["repo"].path), "--good", "v1", "--bad", "v2", "--smoke", str(spec),
                         "--staging-url", urls[0], "--staging-url", urls[1], "--deploy-workflow",
                         ".github/workflows/deploy-staging.yml", "--workflow-ref", "main", "--report-issue", str(issue),
                         "--format", "json", env=fake.env())
        validate_exchanges(fake)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["status"] == "found" and report["culprit"]["pr"] == 104
    assert report["culprit"]["sha"] in [*shop["pr_commits"][3], shop["merges"][3]]
    assert report["api_calls"] == fake.count() and report["api_calls"] > 0
    assert f"GitHub {report['api_calls']} API calls" in result.stderr
    assert shop["merges"][3] in deployed and shop["merges"][1] in deployed  # PR 102's deploy failed: skipped
    comments = fake.comments_on(issue)
    assert len(comments) == 1 and "First bad commit" in comments[0]["body"]
    assert {r.inputs["slot"] for r in fake.runs.values()} <= {"slot-1", "slot-2"}
    assert fake.token not in result.stdout + result.stderr


def test_bisect_report_issue_new_and_errors(tmp_path: Path) -> None:
    shop = build_shop_repo(tmp_path / "shop", [[{}]])
    base = ["bisect", "--repo", str(shop["repo"].path), "--good", "v1", "--bad", "v2", "--test", "true"]
    missing = run_cli(*base, "--deploy-workflow", "deploy.yml", env={"GITHUB_REPOSITORY": "acme/shop"})
    assert missing.returncode == 2 and "set GITHUB_TOKEN" in missing.stderr
    both = run_cli(*base, "--deploy", "true", "--deploy-workflow", "deploy.yml")
    assert both.returncode == 2 and "not allowed with argument" in both.stderr
    bad = run_cli(*base, "--report-issue", "soon", env={"GITHUB_TOKEN": "x" * 20, "GITHUB_REPOSITORY": "acme/shop"})
    assert bad.returncode == 2 and "pass an issue number (e.g. 123) or 'new'" in bad.stderr


def test_config_slots_with_a_workflow(fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    from bisect_runner.bisect.slots import CommandDeployer, build_deployers
    from bisect_runner.bisect.workflow_slot import workflow_factory, workflow_slots
    from bisect_runner.config import BisectConfig, SlotConfig
    from bisect_runner.github import GitHubSession

    for key, value in fake.env().items():
        monkeypatch.setenv(key, value)
    config = BisectConfig(slots=[SlotConfig("blue", "http://blue", workflow="deploy-blue.yml"),
                                 SlotConfig("green", "http://green", deploy="./deploy.sh"),
                                 SlotConfig("red", None, workflow="deploy-red.yml", workflow_ref="release")])
    session = GitHubSession(None)
    try:
        blue, green, red = build_deployers(staging_urls=[], deploy_command=None, config=config, timeout_s=60,
                                           log_dir=None, test_mode=False,
                                           workflow_factory=workflow_factory(session, None, timeout_s=60))
        assert isinstance(blue, WorkflowDeployer) and (blue.workflow, blue.ref, blue.url) == ("deploy-blue.yml", "main",
                                                                                             "http://blue")
        assert isinstance(green, CommandDeployer)
        assert isinstance(red, WorkflowDeployer) and red.ref == "release"
        every = workflow_slots(session, "deploy.yml", "main", staging_urls=[], config=config, timeout_s=60)
        assert [(d.name, d.url) for d in every] == [("blue", "http://blue"), ("green", "http://green"), ("red", None)]
        assert fake.count() == 1  # the default branch, read once
    finally:
        session.close()
