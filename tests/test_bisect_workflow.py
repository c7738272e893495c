"""Staging through workflow_dispatch: WorkflowDeployer against the fake GitHub, whose workflow
runs call a Python function the test registers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from bisect_runner.bisect.workflow_slot import WorkflowDeployer
from bisect_runner.errors import UserError
from bisect_runner.github import GitHubClient, GitHubNotFound
from tests.fake_github import TOKEN, FakeGitHub, validate_exchanges
from tests.gitutil import TestRepo


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
