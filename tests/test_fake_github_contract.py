"""The fake GitHub must not drift from GitHub: every endpoint it serves is exercised here and each
request and response is validated against GitHub's OpenAPI description (tests/data)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.fake_github import (
    TOKEN,
    FakeGitHub,
    iter_templates,
    openapi,
    validate_exchange,
    validate_exchanges,
)
from tests.gitutil import TestRepo


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> TestRepo:
    repo = TestRepo(tmp_path_factory.mktemp("contract") / "shop")
    repo.commit("Initial commit", {"app/main.py": "print('hi')\n", "old.txt": "x\n"})
    repo.merge_pr(5, "rename", [("Rename and delete", {"old.txt": None, "app/new.py": "y\n"})],
                  title="Tidy up", author="Alice")
    repo.squash_pr(6, "Bump", {"app/main.py": "print('hello')\n"}, author="Bob")
    return repo


@pytest.fixture
def fake(shop: TestRepo) -> Iterator[FakeGitHub]:
    with FakeGitHub(shop.path) as server:
        server.pulls_from_history()
        yield server


def call(fake: FakeGitHub, method: str, path: str, body: Any = None, **params: str) -> requests.Response:
    with requests.Session() as session:
        return session.request(method, f"{fake.url}{path}", params=params or None,
                               data=json.dumps(body) if body is not None else None,
                               headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/vnd.github+json"},
                               timeout=10)


def test_every_endpoint_the_fake_serves_matches_the_openapi_description(shop: TestRepo, fake: FakeGitHub) -> None:
    repo = "/repos/acme/shop"
    merge = shop.git("rev-parse", "main~1")
    fake.register_workflow("deploy.yml", lambda inputs: "success", run_name=lambda i: f"deploy {i['sha']}")
    issue = call(fake, "POST", f"{repo}/issues", {"title": "Incident", "body": "b", "labels": ["incident"]}).json()
    comment = call(fake, "POST", f"{repo}/issues/{issue['number']}/comments", {"body": "hi"}).json()
    dep = call(fake, "POST", f"{repo}/deployments", {"ref": "main", "environment": "staging", "auto_merge": False,
                                                     "required_contexts": [], "payload": {"a": 1}}).json()
    steps: list[tuple[str, str, Any, dict[str, str]]] = [
        ("GET", "/rate_limit", None, {}),
        ("GET", repo, None, {}),
        ("GET", f"{repo}/compare/main~2...main", None, {}),
        ("GET", f"{repo}/commits/{merge}", None, {}),
        ("GET", f"{repo}/commits/{merge}/pulls", None, {"per_page": "100"}),
        ("GET", f"{repo}/pulls/5", None, {}),
        ("GET", f"{repo}/pulls/5/files", None, {"per_page": "100"}),
        ("GET", f"{repo}/issues/{issue['number']}/comments", None, {}),
        ("GET", f"{repo}/issues/comments/{comment['id']}", None, {}),
        ("PATCH", f"{repo}/issues/comments/{comment['id']}", {"body": "edited"}, {}),
        ("POST", f"{repo}/labels", {"name": "risk:high", "color": "d73a4a", "description": "High risk"}, {}),
        ("GET", f"{repo}/labels", None, {}),
        ("POST", f"{repo}/issues/5/labels", {"labels": ["risk:high", "bug"]}, {}),
        ("GET", f"{repo}/issues/5/labels", None, {}),
        ("DELETE", f"{repo}/issues/5/labels/bug", None, {}),
        ("GET", f"{repo}/deployments", None, {"environment": "staging"}),
        ("GET", f"{repo}/deployments/{dep['id']}", None, {}),
        ("POST", f"{repo}/deployments/{dep['id']}/statuses", {"state": "success", "log_url": "https://ci/1",
                                                              "environment_url": "https://staging"}, {}),
        ("GET", f"{repo}/deployments/{dep['id']}/statuses", None, {}),
        ("POST", f"{repo}/actions/workflows/deploy.yml/dispatches",
         {"ref": "main", "inputs": {"sha": merge, "slot": "a"}, "return_run_details": True}, {}),
        ("GET", f"{repo}/actions/workflows/deploy.yml/runs", None, {"event": "workflow_dispatch"}),
        ("GET", f"{repo}/actions/runs", None, {"per_page": "5"}),
    ]
    for method, path, body, params in steps:
        response = call(fake, method, path, body, **params)
        assert response.status_code < 300, (method, path, response.text)
    run_id = fake.exchanges[-3].response_body and json.loads(fake.exchanges[-3].response_body)["workflow_run_id"]
    fake.wait_for_runs()
    assert call(fake, "GET", f"{repo}/actions/runs/{run_id}").json()["conclusion"] == "success"
    fake.return_run_details = False
    assert call(fake, "POST", f"{repo}/actions/workflows/deploy.yml/dispatches", {"ref": "main"}).status_code == 204
    fake.wait_for_runs()

    checked = validate_exchanges(fake)
    served = {(e.method, e.template) for e in fake.exchanges}
    routes = {(method, template) for method, template, _, _ in fake._compiled}
    assert routes <= set(iter_templates()), "the fake serves an endpoint GitHub does not document"
    assert routes <= served, f"not exercised: {sorted(routes - served)}"
    assert checked == len(fake.exchanges)


def test_error_bodies_and_headers_look_like_githubs(fake: FakeGitHub) -> None:
    fake.fail(403, method="POST", path="/issues$", retry_after=30)
    response = call(fake, "POST", "/repos/acme/shop/issues", {"title": "x"})
    assert response.status_code == 403 and response.headers["Retry-After"] == "30"
    assert "secondary rate limit" in response.json()["message"]
    fake.fail(403, method="GET", path="/pulls/5$", reset_in=60)
    limited = call(fake, "GET", "/repos/acme/shop/pulls/5")
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert int(limited.headers["x-ratelimit-reset"]) >= int(time.time()) + 59
    fake.read_only = True
    denied = call(fake, "POST", "/repos/acme/shop/issues", {"title": "x"})
    assert denied.status_code == 403 and denied.json()["message"] == "Resource not accessible by integration"
    assert call(fake, "GET", "/repos/acme/shop/pulls/999").status_code == 404
    with requests.Session() as session:
        assert session.get(f"{fake.url}/repos/acme/shop", timeout=5).status_code == 401
    validate_exchanges(fake)  # documented error statuses (403 on POST issues) validate too


def test_pagination_headers_and_per_page_cap(fake: FakeGitHub) -> None:
    for _ in range(130):
        call(fake, "POST", "/repos/acme/shop/issues/5/comments", {"body": "x"})
    first = call(fake, "GET", "/repos/acme/shop/issues/5/comments", per_page="500")
    assert len(first.json()) == 100  # GitHub caps per_page at 100
    assert "page=2" in first.links["next"]["url"] and "per_page=100" in first.links["next"]["url"]
    assert "page=2" in first.links["last"]["url"]
    second = requests.get(first.links["next"]["url"], headers={"Authorization": f"token {TOKEN}"}, timeout=5)
    assert len(second.json()) == 30 and "next" not in second.links and "prev" in second.links
    assert int(second.headers["x-ratelimit-used"]) > int(first.headers["x-ratelimit-used"])


def test_validation_catches_drift(fake: FakeGitHub) -> None:
    """The check has teeth: a response missing a required field fails it."""
    call(fake, "GET", "/repos/acme/shop/pulls/5")
    exchange = fake.exchanges[-1]
    broken = json.loads(exchange.response_body)
    del broken["title"]
    exchange.response_body = json.dumps(broken).encode()
    with pytest.raises(Exception, match="title"):
        try:
            validate_exchange(exchange)
        except Exception as exc:
            raise AssertionError(str(getattr(exc, "__cause__", None) or exc)
                                 + str(getattr(exc.__cause__, "schema_errors", ""))) from None


def test_description_loads_quickly() -> None:
    started = time.monotonic()
    assert openapi() is not None
    assert time.monotonic() - started < 5
