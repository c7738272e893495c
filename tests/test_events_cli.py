"""`bisect-runner events post|list` through the real CLI in a subprocess: sinks configured by the
environment, exit codes, GitHub Actions defaults and outputs, and no secret in any output."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bisect_runner.actions import parse_command_file
from tests.conftest import run_cli
from tests.fake_github import FakeGitHub
from tests.gitutil import TestRepo
from tests.slack_receiver import TOKEN, WEBHOOK_PATH, SlackReceiver, WebhookReceiver

FAST = {"BISECT_RUNNER_RETRY_SCALE": "0"}
DEPLOY = ["events", "post", "--kind", "deploy", "--service", "checkout", "--env", "production"]


@pytest.fixture
def slack_server() -> Iterator[SlackReceiver]:
    with SlackReceiver() as server:
        yield server


def _rows(store: Path) -> list[tuple[str, str, str]]:
    return list(sqlite3.connect(store).execute("SELECT id, kind, status FROM events ORDER BY at_ms"))


def test_post_to_slack_api_and_webhook_then_update(tmp_path: Path, slack_server: SlackReceiver) -> None:
    store = tmp_path / "events.db"
    with WebhookReceiver() as hook:
        env = {**FAST, "SLACK_BOT_TOKEN": TOKEN, "SLACK_CHANNEL": "#deployments",
               "BISECT_RUNNER_SLACK_API_URL": slack_server.api_url, "BISECT_RUNNER_WEBHOOK_URL": hook.url}
        first = run_cli(*DEPLOY, "--version", "v2.46.0", "--status", "started", "--id", "rel-2.46", "--store",
                        str(store), "--url", "https://shop.example.com", "--tag", "region=eu", "--format", "json",
                        "--repo", str(tmp_path), env=env)
        assert first.returncode == 0, first.stderr
        report = json.loads(first.stdout)
        assert report["event"]["id"] == "rel-2.46" and report["action"] == "created" and report["ok"] is True
        assert {s["sink"]: s["status"] for s in report["sinks"]} == {"slack": "ok", "github": "skipped",
                                                                     "webhook": "ok"}
        second = run_cli(*DEPLOY, "--status", "success", "--id", "rel-2.46", "--store", str(store),
                         "--repo", str(tmp_path), env=env)
        assert second.returncode == 0, second.stderr
        assert "updated deploy checkout v2.46.0 to production: success" in second.stdout
        assert "updated Slack message" in second.stdout
        assert len(hook.delivered()) == 2
    assert len(slack_server.top_level()) == 1
    assert _rows(store) == [("rel-2.46", "deploy", "success")]
    listed = run_cli("events", "list", "--store", str(store), "--format", "json", "--repo", str(tmp_path))
    assert listed.returncode == 0
    assert [e["id"] for e in json.loads(listed.stdout)["events"]] == ["rel-2.46"]


def test_sink_failure_exits_1_keeps_the_event_and_shows_no_secret(tmp_path: Path,
                                                                   slack_server: SlackReceiver) -> None:
    store = tmp_path / "events.db"
    slack_server.fail(WEBHOOK_PATH, 500)
    env = {**FAST, "SLACK_WEBHOOK_URL": slack_server.webhook_url}
    result = run_cli(*DEPLOY, "--version", "v1", "--store", str(store), "--format", "json", "--repo",
                     str(tmp_path), env=env)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    slack = next(s for s in report["sinks"] if s["sink"] == "slack")
    assert slack["status"] == "failed" and "HTTP 500" in slack["detail"]
    assert report["ok"] is False
    assert len(_rows(store)) == 1
    for text in (result.stdout, result.stderr):
        assert "WebhookSecret0123456789" not in text and slack_server.webhook_url not in text


@pytest.mark.parametrize(("args", "message"), [
    (["--kind", "deploi", "--service", "s", "--env", "p"], "unknown kind 'deploi'"),
    (["--kind", "deploy", "--service", "s", "--env", "p", "--status", "done"], "unknown status 'done'"),
    (["--kind", "deploy", "--env", "p"], "missing --service"),
    (["--kind", "deploy", "--service", "s"], "missing --env"),
    (["--kind", "deploy", "--service", "s", "--env", "p", "--at", "25:99"], "--at '25:99' is not a time"),
    (["--kind", "flag", "--service", "s", "--env", "p", "--tag", "nokey"], "is not KEY=VALUE"),
    (["--service", "s", "--env", "p"], "the following arguments are required: --kind"),
], ids=["kind", "status", "service", "env", "time", "tag", "no-kind"])
def test_bad_input_exits_2_with_one_line_and_loses_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    store = tmp_path / "events.db"
    ok = run_cli(*DEPLOY, "--version", "v1", "--store", str(store), "--repo", str(tmp_path))
    assert ok.returncode == 0, ok.stderr
    before = _rows(store)
    result = run_cli("events", "post", *args, "--store", str(store), "--repo", str(tmp_path))
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert _rows(store) == before


def test_bot_token_without_channel_is_a_usage_error_before_storing(tmp_path: Path) -> None:
    store = tmp_path / "events.db"
    result = run_cli(*DEPLOY, "--store", str(store), "--repo", str(tmp_path), env={"SLACK_BOT_TOKEN": TOKEN})
    assert result.returncode == 2
    assert "no channel: pass --slack-channel" in result.stderr
    assert TOKEN not in result.stderr
    assert not store.exists()


def test_in_github_actions_actor_sha_run_url_and_outputs(tmp_path: Path) -> None:
    repo = TestRepo(tmp_path / "shop")
    sha = repo.commit("Initial commit", {"a.py": "1\n"})
    output, summary = tmp_path / "out.txt", tmp_path / "summary.md"
    env = {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "9001", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_ACTOR": "octocat",
           "GITHUB_SHA": sha, "GITHUB_REPOSITORY": "acme/shop", "GITHUB_SERVER_URL": "https://github.com",
           "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary)}
    result = run_cli(*DEPLOY, "--version", "v1", "--format", "json", cwd=repo.path, env=env)
    assert result.returncode == 0, result.stderr
    event = json.loads(result.stdout)["event"]
    assert event["id"] == "gh-9001-1-deploy-checkout-production"
    assert (event["actor"], event["sha"]) == ("octocat", sha)
    assert event["log_url"] == "https://github.com/acme/shop/actions/runs/9001/attempts/1"
    outputs = parse_command_file(output.read_text())
    assert outputs["event-id"] == "gh-9001-1-deploy-checkout-production"
    assert "Event deploy checkout v1 to production" in summary.read_text()
    # the default store is at the repo root
    assert (repo.path / ".bisect-runner" / "events.db").is_file()


def test_store_location_from_env_and_config(tmp_path: Path) -> None:
    repo = TestRepo(tmp_path / "shop")
    repo.commit("Initial commit", {"a.py": "1\n"})
    (repo.path / ".bisect-runner.yml").write_text("events:\n  store: ops/events.db\n  service: checkout\n"
                                                  "  env: production\n")
    result = run_cli("events", "post", "--kind", "config", "--summary", "timeout 3s -> 5s", cwd=repo.path)
    assert result.returncode == 0, result.stderr
    assert (repo.path / "ops" / "events.db").is_file()
    moved = tmp_path / "elsewhere.db"
    result = run_cli("events", "post", "--kind", "cron", cwd=repo.path, env={"BISECT_RUNNER_STORE": str(moved)})
    assert result.returncode == 0, result.stderr
    assert moved.is_file()
    listed = run_cli("events", "list", "--kind", "config", cwd=repo.path)
    assert "timeout 3s -> 5s" in listed.stdout
    assert run_cli("events", "list", "--kind", "nope", cwd=repo.path).returncode == 2
    missing = run_cli("events", "list", "--store", str(tmp_path / "none.db"), cwd=repo.path)
    assert missing.returncode == 2 and "no event store at" in missing.stderr


def test_github_deployments_through_the_cli(tmp_path: Path) -> None:
    repo = TestRepo(tmp_path / "shop")
    sha = repo.commit("Initial commit", {"a.py": "1\n"})
    store = tmp_path / "events.db"
    with FakeGitHub(repo.path) as fake:
        env = fake.env()
        for status in ("started", "success"):
            result = run_cli(*DEPLOY, "--version", "v1", "--sha", sha, "--id", "d1", "--status", status,
                             "--store", str(store), "--url", "https://shop.example.com", cwd=repo.path, env=env)
            assert result.returncode == 0, result.stderr
            assert fake.token not in result.stdout + result.stderr
        assert len(fake.deployments) == 1
        (dep_id,) = fake.deployments
        assert [s["state"] for s in fake.deployment_statuses[dep_id]] == ["in_progress", "success"]
        no_gh = run_cli(*DEPLOY, "--version", "v1", "--sha", sha, "--id", "d2", "--store", str(store),
                        "--no-github", cwd=repo.path, env=env)
        assert no_gh.returncode == 0 and "github:  skipped: --no-github" in no_gh.stdout
        assert len(fake.deployments) == 1


def test_a_store_that_cannot_be_written_fails_the_command_before_any_sink(tmp_path: Path,
                                                                          slack_server: SlackReceiver) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be\n")
    env = {**FAST, "SLACK_WEBHOOK_URL": slack_server.webhook_url}
    result = run_cli(*DEPLOY, "--store", str(blocker / "events.db"), "--repo", str(tmp_path), env=env)
    assert result.returncode == 2
    assert "cannot open the event store" in result.stderr and "pass --store" in result.stderr
    assert slack_server.requests == []
