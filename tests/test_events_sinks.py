"""Sinks against real local servers: the Slack receiver (Web API and incoming webhook), a
generic webhook, and the fake GitHub. Update-in-place, retries only where safe, failures that
never lose the stored event, and no secret in any result."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bisect_runner.events.post import post_event
from bisect_runner.events.sinks import (
    GitHubDeploymentSink,
    HttpPoster,
    SinkError,
    SlackApiSink,
    SlackWebhookSink,
    WebhookSink,
    retry_after_seconds,
)
from bisect_runner.events.slack import parse_kv_line
from bisect_runner.events.store import EventStore
from bisect_runner.github import GitHubClient
from tests.fake_github import TOKEN as GITHUB_TOKEN
from tests.fake_github import FakeGitHub, validate_exchanges
from tests.gitutil import TestRepo
from tests.slack_receiver import TOKEN, WEBHOOK_PATH, SlackReceiver, WebhookReceiver

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def fast_poster(**kwargs: float) -> HttpPoster:
    return HttpPoster(timeout_s=kwargs.pop("timeout_s", 2.0), scale=kwargs.pop("scale", 0.0), **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def slack_server() -> Iterator[SlackReceiver]:
    with SlackReceiver() as server:
        yield server


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def _deploy(store: Path, sinks: list, status: str = "started", **fields: object):  # type: ignore[no-untyped-def,type-arg]
    args: dict[str, object] = {"kind": "deploy", "service": "checkout", "env": "production", "version": "v2.46.0",
                               "sha": "4f2a" + "0" * 36, "status": status, "event_id": "gh-77-1-deploy",
                               "at": T0, "actor": "deploy-bot", "summary": "Release 2.46.0 <canary> & co",
                               "urls": ["https://shop.example.com"],
                               "log_url": "https://github.com/acme/shop/actions/runs/77"}
    args.update(fields)
    return post_event(store, sinks=sinks, **args)  # type: ignore[arg-type]


def test_slack_api_posts_once_then_updates_the_same_message(tmp_path: Path, slack_server: SlackReceiver) -> None:
    store = tmp_path / "events.db"
    sink = SlackApiSink(TOKEN, "#deployments", slack_server.api_url, fast_poster())
    first = _deploy(store, [sink], tags={"region": "eu-west-1"})
    second = _deploy(store, [sink], status="success", at=T0 + timedelta(minutes=4))
    third = _deploy(store, [sink], status="success", at=T0 + timedelta(minutes=9))
    assert [r.status for r in first.sinks] == ["ok"]
    assert "posted Slack message" in first.sinks[0].detail
    assert second.sinks[0].status == "ok" and "updated Slack message" in second.sinks[0].detail
    assert third.sinks[0].status == "skipped"  # identical repost
    top = slack_server.top_level()
    assert len(top) == 1
    message = top[0]
    assert len(message.updates) == 1
    parsed = parse_kv_line(message.text)
    assert parsed is not None and parsed["status"] == "success" and parsed["version"] == "v2.46.0"
    assert parse_kv_line(message.updates[0]["text"])["status"] == "started"  # type: ignore[index]
    blocks = json.dumps(message.blocks)
    assert "&lt;canary&gt; &amp; co" in blocks
    assert "<https://github.com/acme/shop/actions/runs/77|CI run>" in blocks
    # details went to a thread under the message, once
    replies = slack_server.replies(message.ts)
    assert len(replies) == 1 and "region=eu-west-1" in json.dumps(replies[0].blocks)
    assert slack_server.count("chat.postMessage") == 2 and slack_server.count("chat.update") == 1


def test_slack_429_honours_retry_after(tmp_path: Path, slack_server: SlackReceiver) -> None:
    slack_server.fail("chat.postMessage", 429, retry_after="1")
    sink = SlackApiSink(TOKEN, "#deployments", slack_server.api_url, fast_poster(scale=1.0))
    result = _deploy(tmp_path / "events.db", [sink])
    assert result.sinks[0].status == "ok"
    posts = [r for r in slack_server.requests if r.path.endswith("chat.postMessage")]
    assert [r.status for r in posts[:2]] == [429, 200]
    assert posts[1].at - posts[0].at >= 0.95
    assert len(slack_server.top_level()) == 1


def test_retry_after_longer_than_the_cap_fails_fast(tmp_path: Path, slack_server: SlackReceiver) -> None:
    slack_server.fail(WEBHOOK_PATH, 429, retry_after="3600")
    sink = SlackWebhookSink(slack_server.webhook_url, fast_poster(scale=1.0))
    started = time.monotonic()
    result = _deploy(tmp_path / "events.db", [sink])
    assert time.monotonic() - started < 5
    assert result.sinks[0].status == "failed"
    assert "asked to wait 3600s" in result.sinks[0].detail
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert retry_after_seconds("7") == 7.0 and retry_after_seconds("soon") is None


def test_webhook_500_is_not_retried_and_the_store_keeps_the_event(tmp_path: Path,
                                                                   slack_server: SlackReceiver) -> None:
    store = tmp_path / "events.db"
    slack_server.fail(WEBHOOK_PATH, 500)
    sink = SlackWebhookSink(slack_server.webhook_url, fast_poster())
    result = _deploy(store, [sink], status="success")
    assert result.sinks[0].status == "failed"
    assert "HTTP 500; not retried because it may have been delivered" in result.sinks[0].detail
    assert slack_server.count(WEBHOOK_PATH) == 1
    assert WEBHOOK_PATH not in result.sinks[0].detail and "WebhookSecret" not in json.dumps(result.to_dict())
    with EventStore.open(store) as s:
        assert s.get("gh-77-1-deploy") is not None
    # rerunning the same post retries the failed sink (and only then counts it as delivered)
    retry = _deploy(store, [sink], status="success")
    assert retry.action == "unchanged" and retry.sinks[0].status == "ok"
    assert len(slack_server.top_level()) == 1
    assert _deploy(store, [sink], status="success").sinks[0].status == "skipped"


def test_webhook_timeout_is_not_retried(tmp_path: Path, slack_server: SlackReceiver) -> None:
    slack_server.fail(WEBHOOK_PATH, 0, delay_s=1.0)
    sink = SlackWebhookSink(slack_server.webhook_url, fast_poster(timeout_s=0.3))
    result = _deploy(tmp_path / "events.db", [sink])
    assert result.sinks[0].status == "failed" and "timed out" in result.sinks[0].detail
    assert slack_server.count(WEBHOOK_PATH) == 1


def test_chat_update_is_retried_on_5xx(tmp_path: Path, slack_server: SlackReceiver) -> None:
    store = tmp_path / "events.db"
    sink = SlackApiSink(TOKEN, "#deployments", slack_server.api_url, fast_poster())
    _deploy(store, [sink])
    slack_server.fail("chat.update", 503, times=2)
    result = _deploy(store, [sink], status="success", at=T0 + timedelta(minutes=3))
    assert result.sinks[0].status == "ok"
    assert slack_server.count("chat.update") == 3
    assert len(slack_server.top_level()) == 1


def test_post_message_5xx_is_not_retried(tmp_path: Path, slack_server: SlackReceiver) -> None:
    slack_server.fail("chat.postMessage", 502)
    sink = SlackApiSink(TOKEN, "#deployments", slack_server.api_url, fast_poster())
    result = _deploy(tmp_path / "events.db", [sink])
    assert result.sinks[0].status == "failed" and "502" in result.sinks[0].detail
    assert slack_server.count("chat.postMessage") == 1


def test_slack_api_errors_are_named_with_a_hint(tmp_path: Path, slack_server: SlackReceiver) -> None:
    bad = SlackApiSink("xoxb-0000-0000-WrongTokenValue99", "#deployments", slack_server.api_url, fast_poster())
    result = _deploy(tmp_path / "a.db", [bad])
    assert result.sinks[0].status == "failed"
    assert "invalid_auth; check SLACK_BOT_TOKEN" in result.sinks[0].detail
    assert "WrongTokenValue" not in json.dumps(result.to_dict())
    lost = SlackApiSink(TOKEN, "#nowhere", slack_server.api_url, fast_poster())
    assert "channel_not_found" in _deploy(tmp_path / "b.db", [lost]).sinks[0].detail


def test_a_deleted_message_is_posted_again(tmp_path: Path, slack_server: SlackReceiver) -> None:
    store = tmp_path / "events.db"
    sink = SlackApiSink(TOKEN, "#deployments", slack_server.api_url, fast_poster())
    _deploy(store, [sink])
    slack_server.messages.clear()
    result = _deploy(store, [sink], status="success", at=T0 + timedelta(minutes=2))
    assert result.sinks[0].status == "ok" and "posted" in result.sinks[0].detail
    assert len(slack_server.top_level()) == 1


def test_generic_webhook_retries_5xx_with_an_idempotency_key(tmp_path: Path, hook: WebhookReceiver) -> None:
    hook.fail(502, times=2)
    result = _deploy(tmp_path / "events.db", [WebhookSink(hook.url, fast_poster())], status="success")
    assert result.sinks[0].status == "ok"
    keys = {r.headers["idempotency-key"] for r in hook.received}
    assert len(hook.received) == 3 and len(keys) == 1
    assert keys.pop().startswith("gh-77-1-deploy:")
    body = hook.delivered()[0]
    assert body["event"]["id"] == "gh-77-1-deploy" and body["event"]["status"] == "success"
    assert "Secret0123456789" not in result.sinks[0].detail


def test_one_failing_sink_does_not_stop_the_others(tmp_path: Path, slack_server: SlackReceiver,
                                                    hook: WebhookReceiver) -> None:
    slack_server.fail(WEBHOOK_PATH, 500)
    sinks = [SlackWebhookSink(slack_server.webhook_url, fast_poster()), WebhookSink(hook.url, fast_poster())]
    result = _deploy(tmp_path / "events.db", sinks, status="success")
    assert [(r.sink, r.status) for r in result.sinks] == [("slack", "failed"), ("webhook", "ok")]
    assert len(hook.delivered()) == 1
    assert "1 sink(s) failed; the event is stored" in result.to_text()


def test_unreachable_sink_names_no_url(tmp_path: Path) -> None:
    sink = SlackWebhookSink("http://127.0.0.1:9/services/T/B/UnreachableSecret42", fast_poster(timeout_s=0.5))
    result = _deploy(tmp_path / "events.db", [sink])
    assert result.sinks[0].status == "failed"
    assert "UnreachableSecret42" not in result.to_text() + json.dumps(result.to_dict())


def test_http_poster_raises_sink_error_for_4xx(hook: WebhookReceiver) -> None:
    with pytest.raises(SinkError, match="HTTP 404"):
        fast_poster().post(hook.url + "/nope", {"a": 1}, what="the event webhook", idempotent=True)


# GitHub Deployments ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> TestRepo:
    repo = TestRepo(tmp_path_factory.mktemp("events-gh") / "shop")
    repo.commit("Initial commit", {"app.py": "v = 1\n"})
    repo.tag("v1")
    repo.merge_pr(41, "cart", [("Cart totals", {"cart.py": "t = 1\n"})], title="Cart totals (local title)")
    repo.commit("Rebase-merged: tidy the cart page", {"cart.html": "<p>cart</p>\n"})  # no (#N) in the subject
    repo.tag("v2")
    return repo


def test_github_deployment_then_statuses_on_the_same_deployment(tmp_path: Path, shop: TestRepo) -> None:
    store = tmp_path / "events.db"
    v1, v2 = shop.git("rev-parse", "v1"), shop.git("rev-parse", "v2")
    with FakeGitHub(shop.path) as fake:
        fake.pulls_from_history()
        fake.add_pull(43, "Tidy the cart page", "carol", "tidy", v2, base_sha=shop.git("rev-parse", "v2~1"),
                      merged=True, merge_commit_sha=v2)
        with GitHubClient(GITHUB_TOKEN, fake.full_name, fake.url, scale=0.001) as client:
            sink = GitHubDeploymentSink(client, production=True, transient=False)
            post_event(store, kind="deploy", service="shop", env="production", version="v1", sha=v1, at=T0,
                       sinks=[sink], repo=shop.path, github=client)
            started = post_event(store, kind="deploy", service="shop", env="production", version="v2", sha=v2,
                                 status="started", at=T0 + timedelta(hours=1), event_id="deploy-v2", sinks=[sink],
                                 urls=["https://shop.example.com"], log_url="https://ci.example/run/5",
                                 repo=shop.path, github=client)
            done = post_event(store, kind="deploy", service="shop", env="production", status="success",
                              at=T0 + timedelta(hours=1, minutes=5), event_id="deploy-v2", sinks=[sink],
                              repo=shop.path, github=client)
            again = post_event(store, kind="deploy", service="shop", env="production", status="success",
                               at=T0 + timedelta(hours=1, minutes=5), event_id="deploy-v2", sinks=[sink],
                               repo=shop.path, github=client)
            flag = post_event(store, kind="flag", service="shop", env="production", summary="x", sinks=[sink], at=T0)
        assert started.sinks[0].status == "ok" and "created deployment" in started.sinks[0].detail
        assert done.sinks[0].status == "ok" and "updated deployment" in done.sinks[0].detail
        assert again.sinks[0].status == "skipped"
        assert flag.sinks[0].status == "skipped" and "not a GitHub deployment" in flag.sinks[0].detail
        deployments = [d for d in fake.deployments.values() if d["sha"] == v2]
        assert len(deployments) == 1
        dep = deployments[0]
        assert dep["environment"] == "production" and dep["production_environment"] is True
        assert dep["transient_environment"] is False
        assert dep["request"]["auto_merge"] is False and dep["request"]["required_contexts"] == []
        statuses = fake.deployment_statuses[dep["id"]]
        assert [s["state"] for s in statuses] == ["in_progress", "success"]
        assert statuses[0]["environment_url"] == "https://shop.example.com"
        assert statuses[0]["log_url"] == "https://ci.example/run/5"
        # PR titles came from GitHub, not the local merge commit; the rebase-merged PR was found by commit
        assert [(p.number, p.title, p.url != "") for p in started.event.prs] == [
            (41, "Cart totals (local title)", True), (43, "Tidy the cart page", True)]
        assert started.event.prs[1].author == "carol"
        validate_exchanges(fake)


def test_github_failure_is_reported_and_the_deployment_is_reused(tmp_path: Path, shop: TestRepo) -> None:
    store = tmp_path / "events.db"
    v2 = shop.git("rev-parse", "v2")
    with FakeGitHub(shop.path) as fake, GitHubClient(GITHUB_TOKEN, fake.full_name, fake.url, scale=0.001) as client:
        sink = GitHubDeploymentSink(client, production=False, transient=True)
        fake.fail(502, method="POST", path=r"/statuses$")
        first = post_event(store, kind="deploy", service="shop", env="pr-12", version="v2", sha=v2, at=T0,
                           event_id="review", sinks=[sink])
        assert first.sinks[0].status == "failed" and "502" in first.sinks[0].detail
        retry = post_event(store, kind="deploy", service="shop", env="pr-12", version="v2", sha=v2, at=T0,
                           event_id="review", sinks=[sink])
        assert retry.sinks[0].status == "ok" and "updated deployment" in retry.sinks[0].detail
        assert len(fake.deployments) == 1
        dep = next(iter(fake.deployments.values()))
        assert dep["transient_environment"] is True and dep["production_environment"] is False
        assert GITHUB_TOKEN not in json.dumps(first.to_dict())
