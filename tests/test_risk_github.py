"""`risk --github`: PR titles, authors and labels from the fake GitHub; offline fallbacks."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from tests.conftest import run_cli
from tests.fake_github import FakeGitHub, validate_exchanges
from tests.gitutil import TestRepo

PULLS_OF_COMMIT = "/repos/{owner}/{repo}/commits/{commit_sha}/pulls"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> TestRepo:
    repo = TestRepo(tmp_path_factory.mktemp("riskgh") / "shop")
    repo.commit("Initial commit", {"shop/app.py": "print('shop')\n", "README.md": "shop\n"})
    repo.tag("v1")
    repo.merge_pr(11, "refunds", [("Refunds table", {"shop/orders/migrations/0043_refunds.py": "# refunds\n"})],
                  title="Refunds", author="Alice")
    repo.squash_pr(12, "Fix typo", {"README.md": "the shop\n"}, author="Bob")
    repo.commit("Hotfix straight on main", {"shop/app.py": "print('shop!')\n"}, author="Carol")
    repo.merge_pr(13, "payments", [("Retry charges", {"shop/payments/charge.py": "RETRIES = 3\n"})],
                  title="Retry charges", author="Dan")
    return repo


@pytest.fixture
def fake(shop: TestRepo) -> Iterator[FakeGitHub]:
    with FakeGitHub(shop.path) as server:
        server.pulls_from_history()
        server.pulls[11].title = "Refunds: a table and an admin view"
        server.issue_labels[11] = ["team:payments", "needs-migration"]
        del server.pulls[13]  # e.g. merged from a mirror: GitHub knows no PR for this merge
        yield server
        validate_exchanges(server)


def risk(shop: TestRepo, fake: FakeGitHub, *args: str, env: dict[str, str] | None = None) -> tuple[int, dict, str]:
    result = run_cli("risk", "--repo", str(shop.path), "--base", "v1", "--head", "main", "--format", "json", *args,
                     env={**fake.env(), **(env or {})})
    assert fake.token not in result.stdout + result.stderr
    return result.returncode, json.loads(result.stdout) if result.stdout else {}, result.stderr


def test_items_get_pr_title_author_and_labels_from_github(shop: TestRepo, fake: FakeGitHub) -> None:
    code, report, err = risk(shop, fake, "--github", "acme/shop")
    assert code == 0, err
    by_pr = {item["pr"]: item for item in report["items"]}
    refunds = by_pr[11]
    assert refunds["title"] == "Refunds: a table and an admin view" and refunds["author"] == "alice"
    assert refunds["labels"] == ["team:payments", "needs-migration"]
    assert refunds["url"] == "https://github.com/acme/shop/pull/11"
    assert by_pr[12]["author"] == "bob" and by_pr[12]["url"].endswith("/pull/12")
    assert by_pr[13]["title"] == "Retry charges" and by_pr[13]["url"] is None  # offline number kept
    assert by_pr[None]["title"] == "Hotfix straight on main"
    # One commits/{sha}/pulls request per item, no more.
    assert fake.count("GET", PULLS_OF_COMMIT) == len(report["items"]) == 4 == fake.count()
    assert report["api_calls"] == 4 and "GitHub 4 API calls" in err


def test_without_github_risk_stays_offline(shop: TestRepo, fake: FakeGitHub) -> None:
    code, report, _ = risk(shop, fake)
    assert code == 0 and fake.count() == 0 and "api_calls" not in report
    assert {item["pr"] for item in report["items"]} == {11, 12, 13, None}


def test_github_down_keeps_the_offline_data_with_a_note(shop: TestRepo, fake: FakeGitHub) -> None:
    fake.fail(502, method="GET", path="/pulls$", times=100)
    code, report, err = risk(shop, fake, "--github", "acme/shop")
    assert code == 0 and "GitHub lookups stopped after 0 of 4 changes" in err
    assert {item["pr"] for item in report["items"]} == {11, 12, 13, None}


def test_call_budget_stops_lookups(shop: TestRepo, fake: FakeGitHub, tmp_path: pytest.TempPathFactory) -> None:
    config = shop.path / ".bisect-runner.yml"
    config.write_text("github:\n  max_calls: 2\n")
    try:
        code, report, err = risk(shop, fake, "--github", "acme/shop")
    finally:
        config.unlink()
    assert code == 0, err
    assert "GitHub lookups stopped after 2 of 4 changes" in err and "github.max_calls is 2" in err
    assert report["api_calls"] == 3 and sum(1 for item in report["items"] if item["url"]) <= 2


def test_a_repository_github_does_not_know_is_exit_3(shop: TestRepo, fake: FakeGitHub) -> None:
    # (A missing token or a malformed OWNER/REPO is exit 2: tests/test_github_adapter.py, test_pr_risk.py.)
    code, _, err = risk(shop, fake, "--github", "acme/nope")
    assert code == 3 and "GitHub has no such thing while trying to list the pull requests of commit" in err
