"""The event model, time parsing and Slack payloads: pure functions, no I/O."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bisect_runner.errors import UserError
from bisect_runner.events import slack
from bisect_runner.events.model import (
    Event,
    PullRef,
    check_kind,
    check_status,
    default_event_id,
    merge_event,
    new_event,
    parse_duration,
    parse_since,
    parse_tags,
    parse_time,
)

NOW = datetime(2026, 3, 2, 15, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("now", NOW),
    ("2026-03-02T14:47:00Z", datetime(2026, 3, 2, 14, 47, tzinfo=UTC)),
    ("2026-03-02T14:47:00+02:00", datetime(2026, 3, 2, 12, 47, tzinfo=UTC)),
    ("2026-03-02T14:47:00", datetime(2026, 3, 2, 14, 47, tzinfo=UTC)),  # naive = UTC
    ("2026-03-02 14:47", datetime(2026, 3, 2, 14, 47, tzinfo=UTC)),
    ("2026-03-02", datetime(2026, 3, 2, tzinfo=UTC)),
    ("14:47", datetime(2026, 3, 2, 14, 47, tzinfo=UTC)),
    ("14:47:30", datetime(2026, 3, 2, 14, 47, 30, tzinfo=UTC)),
    ("16:10", datetime(2026, 3, 1, 16, 10, tzinfo=UTC)),  # later than now today: yesterday
    ("90m ago", NOW - timedelta(minutes=90)),
    ("-2h", NOW - timedelta(hours=2)),
], ids=lambda v: str(v))
def test_parse_time_accepts_what_people_type(text: str, expected: datetime) -> None:
    assert parse_time(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday-ish", "25:00", "14:99", "", "2026-13-01", "12 parsecs ago"])
def test_parse_time_rejects_with_a_hint(text: str) -> None:
    with pytest.raises(UserError, match="--at"):
        parse_time(text, NOW)


@pytest.mark.parametrize(("text", "seconds"), [("90m", 5400), ("2h", 7200), ("1d", 86400), ("1w", 604800),
                                               ("30s", 30), ("15", 900), ("1.5h", 5400)])
def test_parse_duration(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["2 fortnights", "h", "-5m", "0m", ""])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(UserError, match="--window"):
        parse_duration(text)


def test_parse_since_takes_a_duration_or_a_time() -> None:
    assert parse_since("30d", NOW) == NOW - timedelta(days=30)
    assert parse_since("2026-03-01T00:00:00Z", NOW) == datetime(2026, 3, 1, tzinfo=UTC)


def test_unknown_kind_and_status_name_the_allowed_values() -> None:
    with pytest.raises(UserError, match="unknown kind 'deploi'; use one of: deploy, rollback"):
        check_kind("deploi")
    with pytest.raises(UserError, match="unknown status 'ok'; use one of: started, success"):
        check_status("ok")


def test_tags_are_key_value() -> None:
    assert parse_tags(["region=eu-west-1", "team=payments", "region=us"]) == {"region": "us", "team": "payments"}
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_tags(["region"])


def test_default_id_in_actions_is_the_run_attempt_kind_service_env() -> None:
    env = {"GITHUB_ACTIONS": "true", "GITHUB_RUN_ID": "123456", "GITHUB_RUN_ATTEMPT": "2"}
    first = default_event_id("deploy", "checkout", "production", "v1", "abc", NOW, env)
    later = default_event_id("deploy", "checkout", "production", "v1", "abc", NOW + timedelta(minutes=5), env)
    assert first == later == "gh-123456-2-deploy-checkout-production"
    assert default_event_id("deploy", "checkout", "staging", "v1", "abc", NOW, env) != first


def test_default_id_outside_ci_is_stable_for_the_same_change() -> None:
    a = default_event_id("deploy", "checkout", "production", "v1", "abc", NOW, {})
    assert a == default_event_id("deploy", "checkout", "production", "v1", "abc", NOW, {})
    assert a.startswith("ev-")
    assert a != default_event_id("deploy", "checkout", "production", "v2", "abc", NOW, {})
    assert a != default_event_id("deploy", "checkout", "production", "v1", "abc", NOW + timedelta(seconds=1), {})
    # GITHUB_RUN_ID alone (outside Actions) does not change the rule
    assert a == default_event_id("deploy", "checkout", "production", "v1", "abc", NOW, {"GITHUB_RUN_ID": "9"})


def _event(**overrides: object) -> Event:
    base = new_event(event_id="e1", kind="deploy", service="checkout", env="production", status="started",
                     at=NOW, version="v2.46.0", sha="a" * 40)
    return replace(base, **overrides)  # type: ignore[arg-type]


def test_status_transition_keeps_start_and_sets_finish() -> None:
    started = _event()
    assert started.started_at == NOW and started.finished_at is None and started.at == NOW
    done = new_event(event_id="e1", kind="deploy", service="checkout", env="production", status="success",
                     at=NOW + timedelta(minutes=4))
    merged = merge_event(started, done)
    assert merged.status == "success"
    assert merged.started_at == NOW
    assert merged.finished_at == NOW + timedelta(minutes=4)
    assert merged.at == merged.finished_at
    assert merged.version == "v2.46.0"  # not given again: kept


def test_repeating_a_status_keeps_its_first_time() -> None:
    done = new_event(event_id="e1", kind="deploy", service="s", env="p", status="success", at=NOW)
    again = new_event(event_id="e1", kind="deploy", service="s", env="p", status="success",
                      at=NOW + timedelta(hours=1))
    assert merge_event(done, again).at == NOW


def test_kv_line_round_trips_awkward_values() -> None:
    event = _event(version="v2 <beta> & more", service="check=out")
    line = slack.kv_line(event)
    assert line.startswith("bisect-runner: id=e1 kind=deploy service=check%3Dout env=production version=")
    assert " sha=" + "a" * 40 + " status=started" in line
    assert not any(c in line for c in "<>&")
    parsed = slack.parse_kv_line("some text\n`" + line + "`")
    assert parsed == {"id": "e1", "kind": "deploy", "service": "check=out", "env": "production",
                      "version": "v2 <beta> & more", "sha": "a" * 40, "status": "started"}
    assert slack.parse_kv_line("nothing here") is None


def test_kv_line_marks_missing_values_with_a_dash() -> None:
    event = new_event(event_id="f1", kind="flag", service="shop", env="production", status="success", at=NOW)
    assert "version=- sha=-" in slack.kv_line(event)
    assert slack.parse_kv_line(slack.kv_line(event))["version"] is None  # type: ignore[index]


def test_slack_message_escapes_user_text() -> None:
    event = _event(summary="<script> & <!channel>", actor="bob&alice")
    text = json.dumps(slack.message(event))
    assert "&lt;script&gt; &amp; &lt;!channel&gt;" in text
    assert "<!channel>" not in text
    assert "bob&amp;alice" in text


def test_thread_with_thousands_of_prs_stays_within_slack_limits() -> None:
    prs = tuple(PullRef(number=n, title="A long title " * 20 + "& <x>", author="dev", url=f"https://gh/p/{n}")
                for n in range(1, 3001))
    details = slack.thread_details(_event(prs=prs))
    assert details is not None
    assert len(details["blocks"]) <= slack.MAX_BLOCKS
    for block in details["blocks"]:
        text = block["text"]["text"] if block["type"] == "section" else block["elements"][0]["text"]
        assert len(text) <= slack.MAX_SECTION_CHARS
    assert "more line" in details["blocks"][-1]["elements"][0]["text"]
    message = slack.message(_event(prs=prs, summary="x" * 10_000))
    assert len(message["blocks"][0]["text"]["text"]) <= slack.MAX_SECTION_CHARS
    assert message["text"]


def test_clip_never_splits_an_escape_or_a_link() -> None:
    assert slack.clip("ab&amp;cd", 5) == "ab…"
    assert slack.clip("x <https://a|b> y", 6) == "x …"


def test_links_with_markup_characters_fall_back_to_text() -> None:
    assert slack.link("https://x.example/a?b=1&c=2", "env") == "<https://x.example/a?b=1&amp;c=2|env>"
    assert slack.link("javascript:alert(1)", "env") == "env"
    assert slack.link("https://x.example/<a>", "e&v") == "e&amp;v"
