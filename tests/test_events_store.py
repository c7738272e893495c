"""The SQLite store on disk and post_event: idempotent saves, previous-deploy lookup, rollback
detection, PRs from git, and a bad input never touching what is stored."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bisect_runner.errors import UserError
from bisect_runner.events.model import new_event
from bisect_runner.events.post import post_event
from bisect_runner.events.store import EventStore
from bisect_runner.events.timeline import build_report, pick_suspect, what_changed
from tests.gitutil import TestRepo

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def store_file(tmp_path: Path) -> Path:
    return tmp_path / "state" / "events.db"


def test_store_is_created_with_its_folder_and_indexes(store_file: Path) -> None:
    with EventStore.open(store_file) as store:
        assert store.count() == 0
    indexes = {r[0] for r in sqlite3.connect(store_file).execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert {"events_at", "events_service_env_at", "events_kind_at"} <= indexes


def test_query_plan_uses_the_indexes(store_file: Path) -> None:
    from bisect_runner.events.store import query_sql

    EventStore.open(store_file).close()
    conn = sqlite3.connect(store_file)
    sql, params = query_sql(service="checkout", env="production", since=T0, until=T0 + timedelta(hours=2))
    plan = " ".join(str(r) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    assert "events_service_env_at" in plan
    sql, params = query_sql(since=T0, until=T0 + timedelta(hours=2), limit=50)
    plan = " ".join(str(r) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params))
    assert "events_at" in plan


def test_same_id_twice_updates_never_duplicates(store_file: Path) -> None:
    first = post_event(store_file, kind="deploy", service="checkout", env="production", status="started",
                       version="v1", at=T0, event_id="run-1")
    second = post_event(store_file, kind="deploy", service="checkout", env="production", status="success",
                        at=T0 + timedelta(minutes=3), event_id="run-1")
    third = post_event(store_file, kind="deploy", service="checkout", env="production", status="success",
                       at=T0 + timedelta(minutes=9), event_id="run-1")
    assert (first.action, second.action, third.action) == ("created", "updated", "unchanged")
    with EventStore.open(store_file) as store:
        assert store.count() == 1
        event = store.get("run-1")
    assert event is not None
    assert event.status == "success" and event.version == "v1"
    assert event.started_at == T0 and event.finished_at == T0 + timedelta(minutes=3)


def test_reposting_the_same_change_without_an_id_is_idempotent(store_file: Path) -> None:
    for _ in range(3):
        post_event(store_file, kind="flag", service="shop", env="production", summary="new_button",
                   prev_value="false", new_value="true", at="2026-03-02T12:00:00Z")
    with EventStore.open(store_file) as store:
        assert store.count() == 1


def test_previous_deploy_and_rollback_detection(store_file: Path) -> None:
    post_event(store_file, kind="deploy", service="shop", env="production", version="v1", sha="1" * 40, at=T0)
    post_event(store_file, kind="deploy", service="shop", env="staging", version="v9", at=T0 + timedelta(minutes=1))
    v2 = post_event(store_file, kind="deploy", service="shop", env="production", version="v2", sha="2" * 40,
                    at=T0 + timedelta(hours=1))
    assert (v2.event.kind, v2.event.prev_version, v2.event.prev_sha) == ("deploy", "v1", "1" * 40)
    redeploy = post_event(store_file, kind="deploy", service="shop", env="production", version="v2",
                          at=T0 + timedelta(hours=2))
    assert redeploy.event.kind == "deploy"  # the running version again: a redeploy, not a rollback
    back = post_event(store_file, kind="deploy", service="shop", env="production", version="v1", sha="1" * 40,
                      at=T0 + timedelta(hours=3), event_id="rb")
    assert back.event.kind == "rollback"
    assert back.event.prev_version == "v2"
    # its status update keeps it a rollback
    again = post_event(store_file, kind="deploy", service="shop", env="production", status="failure",
                       at=T0 + timedelta(hours=3, minutes=1), event_id="rb")
    assert again.event.kind == "rollback" and again.event.status == "failure"


def test_failed_deploys_are_not_the_previous_deploy(store_file: Path) -> None:
    post_event(store_file, kind="deploy", service="shop", env="production", version="v1", at=T0)
    post_event(store_file, kind="deploy", service="shop", env="production", version="v2", status="failure",
               at=T0 + timedelta(hours=1))
    v3 = post_event(store_file, kind="deploy", service="shop", env="production", version="v3",
                    at=T0 + timedelta(hours=2))
    assert v3.event.prev_version == "v1"


@pytest.mark.parametrize(("fields", "message"), [
    ({"kind": "deploi"}, "unknown kind 'deploi'"),
    ({"status": "done"}, "unknown status 'done'"),
    ({"service": ""}, "missing --service"),
    ({"env": None}, "missing --env"),
    ({"at": "half past two"}, "--at 'half past two' is not a time"),
    ({"urls": ["ftp://x"]}, "not an http"),
    ({"event_id": "has spaces in it"}, "not usable"),
], ids=["kind", "status", "service", "env", "time", "url", "id"])
def test_bad_input_is_a_user_error_and_keeps_what_is_stored(store_file: Path, fields: dict[str, object],
                                                             message: str) -> None:
    post_event(store_file, kind="deploy", service="shop", env="production", version="v1", at=T0)
    before = store_file.read_bytes()
    args: dict[str, object] = {"kind": "deploy", "service": "shop", "env": "production", "version": "v2"}
    args.update(fields)
    with pytest.raises(UserError, match=message):
        post_event(store_file, **args)  # type: ignore[arg-type]
    assert store_file.read_bytes() == before


def test_a_file_that_is_not_a_store_is_a_user_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_text("this is not sqlite at all, not even close" * 20)
    with pytest.raises(UserError, match="not an event store"):
        EventStore.open(junk)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(UserError, match="not an event store"):
        EventStore.open(other)
    lookalike = tmp_path / "lookalike.db"
    conn = sqlite3.connect(lookalike)
    conn.executescript("CREATE TABLE events (id TEXT); PRAGMA user_version = 1;")
    conn.close()
    with pytest.raises(UserError, match="not an event store"):
        EventStore.open(lookalike)
    with pytest.raises(UserError, match="no event store at"):
        EventStore.open_existing(tmp_path / "missing.db")
    with pytest.raises(UserError, match="is a directory"):
        EventStore.open(tmp_path)


def test_prs_between_deploys_come_from_local_git(tmp_path: Path, store_file: Path) -> None:
    repo = TestRepo(tmp_path / "shop")
    repo.commit("Initial commit", {"app.py": "v = 1\n"})
    v1 = repo.head()
    repo.merge_pr(41, "cart", [("Cart totals", {"cart.py": "t = 1\n"})], title="Cart totals in cents",
                  author="Alice")
    repo.squash_pr(42, "Charge in the order currency", {"pay.py": "c = 'EUR'\n"}, author="Bob")
    repo.commit("Bump version", {"VERSION": "2\n"})
    v2 = repo.head()
    post_event(store_file, kind="deploy", service="shop", env="production", version="v1", sha=v1, at=T0,
               repo=repo.path)
    result = post_event(store_file, kind="deploy", service="shop", env="production", version="v2", sha=v2,
                        at=T0 + timedelta(hours=1), repo=repo.path)
    assert [(p.number, p.title, p.author) for p in result.event.prs] == [
        (41, "Cart totals in cents", "Test Author"), (42, "Charge in the order currency", "Bob")]
    # a rollback lists the PRs it takes back
    back = post_event(store_file, kind="deploy", service="shop", env="production", version="v1", sha=v1,
                      at=T0 + timedelta(hours=2), repo=repo.path)
    assert back.event.kind == "rollback"
    assert [p.number for p in back.event.prs] == [41, 42]


def test_shas_missing_from_the_clone_cost_the_prs_not_the_event(tmp_path: Path, store_file: Path) -> None:
    repo = TestRepo(tmp_path / "shop")
    repo.commit("Initial commit", {"app.py": "v = 1\n"})
    post_event(store_file, kind="deploy", service="shop", env="production", version="v1", sha="f" * 40, at=T0,
               repo=repo.path)
    result = post_event(store_file, kind="deploy", service="shop", env="production", version="v2", sha=repo.head(),
                        at=T0 + timedelta(hours=1), repo=repo.path)
    assert result.action == "created" and result.event.prs == ()


def test_timeline_suspect_and_rollback_target(store_file: Path) -> None:
    at = T0 + timedelta(hours=26)
    post_event(store_file, kind="deploy", service="shop", env="production", version="v2.45.0", sha="1" * 40,
               at=T0)
    post_event(store_file, kind="deploy", service="shop", env="production", version="v2.45.1", status="failure",
               at=at - timedelta(hours=3))
    post_event(store_file, kind="flag", service="shop", env="production", summary="new_checkout_button",
               prev_value="false", new_value="true", at=at - timedelta(minutes=75))
    post_event(store_file, kind="deploy", service="shop", env="production", version="v2.46.0", sha="2" * 40,
               at=at - timedelta(minutes=22))
    post_event(store_file, kind="config", service="search", env="production", summary="other service",
               at=at - timedelta(minutes=10))
    post_event(store_file, kind="deploy", service="shop", env="production", version="v2.47.0",
               at=at + timedelta(minutes=5))  # after the incident: not in the timeline
    with EventStore.open(store_file) as store:
        report = what_changed(store, at, timedelta(hours=2), service="shop", env="production")
    assert [(c.event.kind, c.minutes_before) for c in report.changes] == [("flag", 75), ("deploy", 22)]
    assert report.suspect is not None and report.suspect.version == "v2.46.0"
    assert report.rollback_to is not None and report.rollback_to.version == "v2.45.0"  # the failed one is skipped
    data = report.to_dict()
    assert list(data) == ["at", "since", "events", "suspect", "rollback_to"]
    assert data["rollback_to"] == {"version": "v2.45.0", "sha": "1" * 40, "at": "2026-03-02T12:00:00Z"}
    assert data["suspect"]["minutes_before"] == 22
    # all services: the search config change is the suspect, and it has no deploy to roll back
    with EventStore.open(store_file) as store:
        everything = what_changed(store, at, timedelta(hours=2))
    assert everything.suspect is not None and everything.suspect.service == "search"
    assert everything.to_dict()["rollback_to"] is None


def test_pick_suspect_and_empty_windows() -> None:
    assert pick_suspect([], T0) is None
    report = build_report([], T0, T0 - timedelta(hours=2), service=None, env=None, rollback_to=None, expansions={})
    assert report.to_dict() == {"at": "2026-03-02T12:00:00Z", "since": "2026-03-02T10:00:00Z", "events": [],
                                "suspect": None, "rollback_to": None}
    assert "no changes recorded" in report.to_text()
    late = new_event(event_id="x", kind="cron", service="s", env="p", status="success", at=T0 + timedelta(1))
    assert pick_suspect([late], T0) is None
