"""DORA's four keys: the pure computation over scenario tables, and the command on a real store
and repository."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bisect_runner.events.dora import (
    compute_dora,
    duration_text,
    failure_category,
    frequency_category,
    time_category,
)
from bisect_runner.events.model import Event, new_event
from bisect_runner.events.post import post_event
from tests.conftest import run_cli
from tests.gitutil import TestRepo

START = datetime(2026, 2, 1, tzinfo=UTC)  # a Sunday
END = START + timedelta(days=28)


def _deploy(n: int, at: datetime, status: str = "success", kind: str = "deploy", service: str = "shop") -> Event:
    return new_event(event_id=f"d{n}", kind=kind, service=service, env="production", status=status,  # type: ignore[arg-type]
                     at=at, version=f"v{n}")


@pytest.mark.parametrize(("days", "expected"), [
    ([d for d in range(28) if d % 7 in (1, 2, 3, 4)], "Daily"),  # 4 days a week
    ([d for d in range(28) if d % 7 == 2], "Weekly"),
    ([3, 10, 17], "Weekly"),  # 3 of 4 weeks (+1 partial week without) -> median week deployed
    ([3, 24], "Monthly"),
    ([], "Yearly"),
], ids=["daily", "weekly", "most-weeks", "monthly", "none"])
def test_deployment_frequency_buckets_like_four_keys(days: list[int], expected: str) -> None:
    assert frequency_category([START + timedelta(days=d, hours=10) for d in days], START, END) == expected


def test_four_keys_from_a_month_of_deploys() -> None:
    events = [
        _deploy(1, START + timedelta(days=1, hours=10)),
        _deploy(2, START + timedelta(days=2, hours=10), status="failure"),
        _deploy(3, START + timedelta(days=2, hours=12)),  # restores d2 after 2h
        _deploy(4, START + timedelta(days=8, hours=10)),
        _deploy(5, START + timedelta(days=8, hours=10, minutes=30), kind="rollback"),  # d4 bad for 30m
        _deploy(6, START + timedelta(days=9, hours=10), status="cancelled"),
        new_event(event_id="f1", kind="flag", service="shop", env="production", status="success",
                  at=START + timedelta(days=3)),
    ]
    commits = {
        "d1": [START + timedelta(days=1, hours=9)],  # 1h
        "d3": [START + timedelta(days=2, hours=8), START + timedelta(days=1, hours=12)],  # 4h, 24h
        "d4": [START + timedelta(days=8, hours=9, minutes=30)],  # 30m
        "d5": [START],  # a rollback ships no new commits: ignored
    }
    report = compute_dora(events, START, END, commit_times=commits)
    assert report.deployments == 4  # successes, rollback included
    assert report.attempts == 5 and report.failed == 1 and report.rollbacks == 1
    assert report.change_failure_rate == pytest.approx(2 / 5)
    assert report.failure_category == "16-45%"
    assert report.lead_time_changes == 4
    assert report.lead_time_s == pytest.approx((3600 + 4 * 3600) / 2)  # median of 30m, 1h, 4h, 24h
    assert report.lead_time_category == "One day"
    assert sorted(r.seconds for r in report.restores) == [1800, 7200]
    assert report.restore_s == pytest.approx(4500)
    data = report.to_dict()
    assert data["deployment_frequency"]["category"] == "Monthly"  # 2 of 5 weeks
    assert data["change_failure_rate"]["rate"] == 0.4
    assert data["time_to_restore"]["median_seconds"] == 4500.0
    assert "Change failure rate" in report.to_text() and "| Lead time for changes |" in report.to_markdown()


def test_no_deploys_gives_no_rates_and_says_why() -> None:
    report = compute_dora([], START, END, commit_times={})
    assert report.change_failure_rate is None and report.lead_time_s is None and report.restore_s is None
    assert report.frequency == "Yearly"
    assert "n/a" in report.to_text()


def test_a_rollback_early_in_the_window_finds_the_deploy_before_it() -> None:
    before = _deploy(1, START - timedelta(hours=1))
    rollback = _deploy(2, START + timedelta(hours=1), kind="rollback")
    report = compute_dora([rollback], START, END, commit_times={}, history=[before])
    assert [r.seconds for r in report.restores] == [7200]


@pytest.mark.parametrize(("seconds", "category"), [(3600, "One day"), (3 * 86400, "One week"),
                                                   (20 * 86400, "One month"), (100 * 86400, "Six months"),
                                                   (400 * 86400, "One year")])
def test_time_buckets(seconds: float, category: str) -> None:
    assert time_category(seconds) == category


def test_rate_buckets_and_durations() -> None:
    assert [failure_category(r) for r in (0.0, 0.15, 0.3, 0.5)] == ["0-15%", "0-15%", "16-45%", "46-100%"]
    assert [duration_text(s) for s in (59, 3600 * 5 + 60, 86400 * 3)] == ["1m", "5h 01m", "3d 0h"]


def test_dora_command_reads_lead_time_from_git(tmp_path: Path) -> None:
    repo = TestRepo(tmp_path / "shop")
    repo.commit("Initial commit", {"a.py": "1\n"})  # committed 2026-01-01T00:00:01Z (gitutil's clock)
    v1 = repo.head()
    repo.squash_pr(7, "Faster cart", {"a.py": "2\n"})
    v2 = repo.head()
    store = tmp_path / "events.db"
    base = datetime(2026, 1, 1, tzinfo=UTC)
    post_event(store, kind="deploy", service="shop", env="production", version="v1", sha=v1, at=base + timedelta(hours=1))
    post_event(store, kind="deploy", service="shop", env="production", version="v2", sha=v2, at=base + timedelta(hours=3))
    post_event(store, kind="deploy", service="shop", env="production", version="v1", sha=v1, at=base + timedelta(hours=4))
    result = run_cli("dora", "--store", str(store), "--since", "2025-12-25", "--until", "2026-01-08T00:00:00Z",
                     "--service", "shop", "--format", "json", "--repo", str(repo.path))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["deployment_frequency"]["deployments"] == 3
    assert data["lead_time"]["changes"] == 1
    assert 2.9 * 3600 < data["lead_time"]["median_seconds"] < 3 * 3600
    assert data["change_failure_rate"]["rollbacks"] == 1
    assert data["time_to_restore"]["median_seconds"] == 3600.0
    bad = run_cli("dora", "--store", str(store), "--since", "soon", "--repo", str(repo.path))
    assert bad.returncode == 2 and "--since 'soon' is not a time" in bad.stderr
    backwards = run_cli("dora", "--store", str(store), "--since", "2026-02-01", "--until", "2026-01-01",
                        "--repo", str(repo.path))
    assert backwards.returncode == 2 and "is not before --until" in backwards.stderr
