"""The GitHub adapter against the fake GitHub server: typed results, pagination, caps, retries,
rate limits, the call budget, and no token in any message."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bisect_runner.config import GitHubConfig
from bisect_runner.errors import ExternalServiceError, UserError
from bisect_runner.github import (
    CallBudgetExceeded,
    GitHubClient,
    GitHubNotFound,
    GitHubPermissionError,
    rate_limit_wait,
)
from tests.fake_github import TOKEN, FakeGitHub, validate_exchanges
from tests.gitutil import TestRepo

MARKER = "<!-- bisect-runner:test -->"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> TestRepo:
    repo = TestRepo(tmp_path_factory.mktemp("adapter") / "shop")
    repo.commit("Initial commit", {"app/main.py": "print('hi')\n", "README.md": "shop\n"})
    repo.merge_pr(11, "checkout-v2", [("New checkout", {"app/checkout.py": "total = 1\n"})],
                  title="Checkout v2", author="Alice")
    repo.squash_pr(12, "Fix rounding", {"app/checkout.py": "total = 2\n"}, author="Bob")
    repo.tag("v1")
    repo.git("checkout", "-q", "-b", "many-files")
    repo.commit("Generated fixtures", {f"fixtures/f{i:03}.json": f"{i}\n" for i in range(250)})
    repo.git("checkout", "-q", "main")
    return repo


@pytest.fixture
def fake(shop: TestRepo) -> Iterator[FakeGitHub]:
    with FakeGitHub(shop.path) as server:
        server.pulls_from_history()
        yield server
        validate_exchanges(server)


@pytest.fixture
def client(fake: FakeGitHub) -> Iterator[GitHubClient]:
    with GitHubClient(TOKEN, fake.full_name, fake.url, scale=0.001) as github:
        yield github


# construction ---------------------------------------------------------------------------------


def test_from_env_reads_token_api_url_and_repository(fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("GITHUB_API_URL", fake.url)
    monkeypatch.setenv("GITHUB_REPOSITORY", "someone/else")
    client = GitHubClient.from_env("acme/shop", GitHubConfig(repository="ignored/too"))
    assert client.repository == "acme/shop" and client.api_url == fake.url
    monkeypatch.delenv("GITHUB_REPOSITORY")
    assert GitHubClient.from_env(None, GitHubConfig(repository="acme/shop")).repository == "acme/shop"
    monkeypatch.delenv("GITHUB_API_URL")
    assert GitHubClient.from_env(None, GitHubConfig(repository="a/b", api_url="https://ghe.example/api/v3")
                                 ).api_url == "https://ghe.example/api/v3"
    assert GitHubClient.from_env("a/b").api_url == "https://api.github.com"


@pytest.mark.parametrize(("env", "flag", "expected"), [
    ({"GITHUB_REPOSITORY": "acme/shop"}, None, "set GITHUB_TOKEN"),
    ({"GITHUB_TOKEN": TOKEN}, None, "pass --github OWNER/REPO"),
    ({"GITHUB_TOKEN": TOKEN}, "not-a-repo", "is not OWNER/REPO"),
    ({"GITHUB_TOKEN": TOKEN, "GITHUB_API_URL": "ftp://x"}, "acme/shop", r"not an http\(s\) URL"),
], ids=["no-token", "no-repo", "bad-repo", "bad-api-url"])
def test_from_env_says_what_to_set(env: dict[str, str], flag: str | None, expected: str,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(UserError, match=expected) as info:
        GitHubClient.from_env(flag)
    assert TOKEN not in str(info.value)


def test_bad_token_is_a_user_error_without_the_token(fake: FakeGitHub) -> None:
    with GitHubClient("ghs_wrongwrongwrongwrongwrong1234", fake.full_name, fake.url, scale=0.001) as client, \
            pytest.raises(UserError, match="401") as info:
        client.pull(11)
    assert "ghs_wrong" not in str(info.value)


# reads ----------------------------------------------------------------------------------------


def test_pulls_for_commit_is_typed_and_cached(shop: TestRepo, fake: FakeGitHub, client: GitHubClient) -> None:
    merge = shop.git("rev-parse", "main~1")
    pulls = client.pulls_for_commit(merge)
    assert [(p.number, p.title, p.author) for p in pulls] == [(11, "Checkout v2", "alice")]
    assert pulls[0].merged_at is not None and pulls[0].url.endswith("/pull/11")
    assert pulls[0].merge_commit_sha == merge
    before = client.calls
    assert client.pulls_for_commit(merge) == pulls
    assert client.calls == before == 1
    assert client.pulls_for_commit(shop.git("rev-parse", "main~2")) == []


def test_pull_and_its_files(shop: TestRepo, fake: FakeGitHub, client: GitHubClient) -> None:
    pull = client.pull(12)
    assert (pull.title, pull.author, pull.changed_files, pull.from_fork) == ("Fix rounding", "bob", 1, False)
    files, truncated = client.pull_files(12)
    assert [(f.path, f.additions, f.deletions, f.status) for f in files] == [("app/checkout.py", 1, 1, "M")]
    assert truncated is False
    with pytest.raises(UserError, match="pull request #999 not found"):
        client.pull(999)


def test_pagination_past_100_items_follows_link_headers(shop: TestRepo, fake: FakeGitHub,
                                                         client: GitHubClient) -> None:
    fake.add_pull(40, "Fixtures", "carol", "many-files", shop.git("rev-parse", "many-files"))
    client.pull(40)
    files, truncated = client.pull_files(40)
    assert len(files) == 250 and not truncated
    pages = [e for e in fake.exchanges if e.path.endswith("/pulls/40/files")]
    assert len(pages) == 3 and all(e.query.get("per_page") == "100" for e in pages)
    assert 'rel="next"' in pages[0].response_headers["Link"] and 'rel="last"' in pages[0].response_headers["Link"]
    assert "Link" not in pages[-1].response_headers or 'rel="next"' not in pages[-1].response_headers["Link"]


def test_truncated_file_list_is_detected_from_changed_files(shop: TestRepo, fake: FakeGitHub,
                                                            client: GitHubClient) -> None:
    fake.add_pull(41, "Fixtures", "carol", "many-files", shop.git("rev-parse", "many-files"))
    fake.pull_files_cap = 120  # GitHub stops listing before the PR's changed_files
    client.pull(41)
    files, truncated = client.pull_files(41)
    assert len(files) == 120 and truncated


def test_compare_caps_files_at_300_like_github(shop: TestRepo, fake: FakeGitHub, client: GitHubClient) -> None:
    comparison = client.compare("v1", "many-files")
    assert (comparison.ahead_by, comparison.total_commits, len(comparison.files)) == (1, 1, 250)
    assert not comparison.files_truncated and comparison.status == "ahead"


def test_rate_limit(fake: FakeGitHub, client: GitHubClient) -> None:
    info = client.rate_limit()
    assert info.limit == 5000 and info.remaining == 4999 and info.reset.tzinfo is not None


# writes ---------------------------------------------------------------------------------------


def test_sticky_comment_create_update_unchanged(fake: FakeGitHub, client: GitHubClient) -> None:
    fake.comments[1] = {"id": 1, "issue": 11, "body": "LGTM", "user": "dave", "created_at": "2026-01-01T00:00:00Z",
                        "updated_at": "2026-01-01T00:00:00Z"}
    first = client.upsert_sticky_comment(11, MARKER, "risk: low")
    assert first[1] == "created" and client.comment_url(first[0])
    assert client.upsert_sticky_comment(11, MARKER, "risk: high") == (first[0], "updated")
    writes = fake.count("PATCH") + fake.count("POST")
    assert client.upsert_sticky_comment(11, MARKER, "risk: high") == (first[0], "unchanged")
    assert fake.count("PATCH") + fake.count("POST") == writes
    ours = [c for c in fake.comments_on(11) if MARKER in c["body"]]
    assert len(ours) == 1 and ours[0]["body"].endswith("risk: high") and ours[0]["edits"] == 1
    assert fake.comments[1]["body"] == "LGTM"


def test_sticky_comment_found_on_a_later_page(fake: FakeGitHub, client: GitHubClient) -> None:
    for i in range(230):
        cid = fake.next_id()
        body = f"{MARKER}\nold" if i == 215 else f"chatter {i}"
        fake.comments[cid] = {"id": cid, "issue": 11, "body": body, "user": "dave",
                              "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
    found = client.find_sticky_comment(11, MARKER)
    assert found is not None and found.body.endswith("old")
    assert fake.count("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments") == 3
    assert client.upsert_sticky_comment(11, MARKER, "new")[1] == "updated"


def test_managed_label_leaves_other_labels_alone(fake: FakeGitHub, client: GitHubClient) -> None:
    fake.issue_labels[11] = ["bug", "risk:medium", "team:payments"]
    change = client.set_managed_label(11, "risk:", "high")
    assert change.added == ("risk:high",) and change.removed == ("risk:medium",)
    assert fake.issue_labels[11] == ["bug", "team:payments", "risk:high"]
    assert fake.repo_labels["risk:high"]["color"] == "d73a4a"
    posts = fake.count("POST")
    change = client.set_managed_label(11, "risk:", "high")
    assert change.added == () and change.removed == () and fake.count("POST") == posts
    client.set_managed_label(11, "risk:", "low")
    assert fake.issue_labels[11] == ["bug", "team:payments", "risk:low"]


def test_create_issue_deployment_and_status(shop: TestRepo, fake: FakeGitHub, client: GitHubClient) -> None:
    issue = client.create_issue("Bisect: checkout broke", "body", labels=["incident"])
    assert issue.number in fake.issues and issue.url.endswith(f"/issues/{issue.number}")
    dep = client.create_deployment("v1", "staging", "deploy v1", {"service": "shop"}, transient_environment=True,
                                   production_environment=False)
    stored = fake.deployments[dep]
    assert stored["sha"] == shop.git("rev-parse", "v1") and stored["request"]["auto_merge"] is False
    assert stored["request"]["required_contexts"] == []
    client.create_deployment_status(dep, "success", environment_url="http://staging", log_url="http://logs",
                                    description="ok")
    assert fake.deployment_statuses[dep][0]["state"] == "success"
    assert fake.deployment_statuses[dep][0]["log_url"] == "http://logs"


def test_dispatch_with_and_without_run_details(shop: TestRepo, fake: FakeGitHub, client: GitHubClient) -> None:
    seen: list[dict[str, str]] = []
    fake.register_workflow("deploy-staging.yml", lambda inputs: seen.append(inputs) or "success",
                           run_name=lambda inputs: f"deploy {inputs['sha'][:10]} to {inputs['slot']}")
    result = client.dispatch_workflow("deploy-staging.yml", "main", {"sha": "abc", "slot": "a"})
    assert result.run_id is not None
    fake.wait_for_runs()
    run = client.get_run(result.run_id)
    assert run.completed and run.conclusion == "success" and run.display_title == "deploy abc to a"
    fake.return_run_details = False  # an older GitHub Enterprise: 204 and no run id
    second = client.dispatch_workflow("deploy-staging.yml", "main", {"sha": "def", "slot": "b"})
    assert second.run_id is None
    found = client.find_dispatched_run("deploy-staging.yml", "main", second.dispatched_at, match=["def", "b"])
    assert found is not None and found.display_title == "deploy def to b"
    assert client.find_dispatched_run("deploy-staging.yml", "main", second.dispatched_at,
                                      match=["zzz"]) is None
    with pytest.raises(GitHubNotFound):
        client.dispatch_workflow("missing.yml", "main", {})
    assert seen[0] == {"sha": "abc", "slot": "a"}


# faults, retries and limits -------------------------------------------------------------------


def test_secondary_rate_limit_403_with_retry_after_is_retried(fake: FakeGitHub, client: GitHubClient) -> None:
    fake.fail(403, method="GET", path="/pulls/12$", retry_after=1)
    assert client.pull(12).number == 12
    assert fake.count("GET") == 2 and client.calls == 2


def test_secondary_limit_message_without_header_is_retried(fake: FakeGitHub) -> None:
    fake.fail(403, method="GET", path="/pulls/12$")  # body says "secondary rate limit", no header
    with GitHubClient(TOKEN, fake.full_name, fake.url, scale=0.0001) as client:
        assert client.pull(12).number == 12 and client.calls == 2


def test_429_is_retried_for_writes_too(fake: FakeGitHub, client: GitHubClient) -> None:
    fake.fail(429, method="POST", path="/comments$", retry_after=1)
    assert client.upsert_sticky_comment(12, MARKER, "x")[1] == "created"
    assert fake.count("POST") == 2 and len(fake.comments_on(12)) == 1


def test_primary_limit_waits_for_x_ratelimit_reset(fake: FakeGitHub, client: GitHubClient) -> None:
    fake.fail(403, method="GET", path="/pulls/12$", reset_in=1)
    assert client.pull(12).number == 12 and client.calls == 2


@pytest.mark.parametrize("fault", [{"retry_after": 3600}, {"reset_in": 3600}], ids=["retry-after", "reset"])
def test_too_long_a_wait_fails_fast_with_a_clear_message(fake: FakeGitHub, client: GitHubClient,
                                                           fault: dict[str, int]) -> None:
    fake.fail(403, method="GET", path="/pulls/12$", **fault)
    started = time.monotonic()
    with pytest.raises(ExternalServiceError, match=r"rate limit .*asked to wait 360\ds, more than the 120s") as info:
        client.pull(12)
    assert time.monotonic() - started < 5 and "\n" not in str(info.value)


def test_502_on_a_read_is_retried(fake: FakeGitHub, client: GitHubClient) -> None:
    fake.fail(502, method="GET", path="/pulls/12$", times=2)
    assert client.pull(12).number == 12 and fake.count("GET") == 3 and client.calls == 3


def test_persistent_502_on_a_read_gives_up(fake: FakeGitHub, client: GitHubClient) -> None:
    fake.fail(502, method="GET", path="/pulls/12$", times=50)
    with pytest.raises(ExternalServiceError, match="answered 502 .* after retries"):
        client.pull(12)
    assert client.calls == 5  # 1 + 4 retries


def test_502_on_a_write_is_not_repeated_blindly(fake: FakeGitHub, client: GitHubClient) -> None:
    fake.fail(502, method="POST", path="/issues$")
    with pytest.raises(ExternalServiceError, match="not retried because GitHub may have applied"):
        client.create_issue("t", "b")
    assert fake.count("POST") == 1


def test_502_on_a_comment_that_landed_does_not_duplicate_it(fake: FakeGitHub, client: GitHubClient) -> None:
    fake.fail(502, method="POST", path="/comments$", after_applying=True)
    assert client.upsert_sticky_comment(12, MARKER, "x")[1] == "created"
    assert fake.count("POST") == 1 and len(fake.comments_on(12)) == 1


def test_502_on_a_comment_that_did_not_land_posts_once_more(fake: FakeGitHub, client: GitHubClient) -> None:
    fake.fail(502, method="POST", path="/comments$")
    assert client.upsert_sticky_comment(12, MARKER, "x")[1] == "created"
    assert fake.count("POST") == 2 and len(fake.comments_on(12)) == 1


def test_read_only_token_is_a_permission_error(fake: FakeGitHub, client: GitHubClient) -> None:
    fake.read_only = True
    with pytest.raises(GitHubPermissionError, match="Resource not accessible by integration"):
        client.upsert_sticky_comment(12, MARKER, "x")
    assert fake.count("POST") == 1


def test_call_budget(fake: FakeGitHub) -> None:
    with GitHubClient(TOKEN, fake.full_name, fake.url, scale=0.001, max_calls=2) as client:
        client.pull(11)
        client.pull(12)
        with pytest.raises(CallBudgetExceeded, match="github.max_calls is 2"):
            client.pulls_for_commit("HEAD")


def test_calls_from_threads_are_serialised_and_counted(fake: FakeGitHub, client: GitHubClient) -> None:
    numbers = [11, 12] * 4
    errors: list[BaseException] = []

    def read(n: int) -> None:
        try:
            client._pulls.pop(n, None)
            assert client.pull(n).number == n
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(n,)) for n in numbers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and client.calls == fake.count() == 8


def test_unreachable_github(tmp_path: Path) -> None:
    with GitHubClient(TOKEN, "acme/shop", "http://127.0.0.1:9", scale=0.0001, retries=1) as client, \
            pytest.raises(ExternalServiceError, match="cannot reach GitHub at http://127.0.0.1:9"):
        client.pull(1)


def test_rate_limit_wait_from_headers() -> None:
    assert rate_limit_wait({"Retry-After": "7"}) == 7
    assert rate_limit_wait({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1010"}, now=1000) == 11
    assert rate_limit_wait({"x-ratelimit-remaining": "3", "x-ratelimit-reset": "1010"}, now=1000) is None
    assert rate_limit_wait({}) is None


def test_github_enterprise_api_root_with_a_path(shop: TestRepo) -> None:
    with FakeGitHub(shop.path, prefix="/api/v3") as ghes, \
            GitHubClient(TOKEN, ghes.full_name, ghes.url, scale=0.001) as client:
        ghes.pulls_from_history()
        assert ghes.url.endswith("/api/v3")
        for i in range(120):
            cid = ghes.next_id()
            ghes.comments[cid] = {"id": cid, "issue": 11, "body": f"c{i}", "user": "dave",
                                  "created_at": "2026-01-01T00:00:00Z", "updated_at": "2026-01-01T00:00:00Z"}
        assert client.pull(11).title == "Checkout v2"
        assert client.find_sticky_comment(11, MARKER) is None  # two pages through /api/v3 Link headers
        assert ghes.count("GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments") == 2
        validate_exchanges(ghes)


def test_writes_are_spaced(fake: FakeGitHub) -> None:
    with GitHubClient(TOKEN, fake.full_name, fake.url, scale=1.0, write_interval_s=0.2) as client:
        started = time.monotonic()
        client.create_issue("a", "b")
        client.create_issue("c", "d")
        client.pull(11)  # reads are not spaced
        assert time.monotonic() - started >= 0.2
