"""`bisect-runner what-changed` through the CLI on a real repository and an on-disk store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bisect_runner.events.model import iso
from bisect_runner.events.post import post_event
from tests.conftest import run_cli
from tests.gitutil import TestRepo

AT = datetime(2026, 3, 2, 14, 47, tzinfo=UTC)


@pytest.fixture(scope="module")
def incident(tmp_path_factory: pytest.TempPathFactory) -> tuple[TestRepo, Path]:
    root = tmp_path_factory.mktemp("what-changed")
    repo = TestRepo(root / "shop")
    repo.commit("Initial commit", {"app/main.py": "print('hi')\n"})
    repo.tag("v2.45.0")
    repo.merge_pr(41, "cart", [("Cart totals", {"app/cart.py": "t = 1\n"})], title="Cart totals in cents",
                  author="Alice")
    repo.squash_pr(42, "Charge in the order currency", {"app/payments/charge.py": "c = 'EUR'\n"}, author="Bob")
    repo.tag("v2.46.0")
    store = root / "events.db"
    v1, v2 = repo.git("rev-parse", "v2.45.0"), repo.git("rev-parse", "v2.46.0")
    post_event(store, kind="deploy", service="shop", env="production", version="v2.45.0", sha=v1,
               at=AT - timedelta(hours=26), summary="Release 2.45.0", repo=repo.path)
    post_event(store, kind="flag", service="shop", env="production", summary="new_checkout_button for 10%",
               prev_value="false", new_value="true", actor="sam", at=AT - timedelta(minutes=75))
    post_event(store, kind="deploy", service="shop", env="production", version="v2.46.0", sha=v2,
               at=AT - timedelta(minutes=22), actor="deploy-bot", summary="Release 2.46.0", repo=repo.path,
               urls=["https://shop.example.com"])
    post_event(store, kind="migration", service="billing", env="production", summary="add index",
               at=AT - timedelta(minutes=40))
    return repo, store


def _run(incident: tuple[TestRepo, Path], *args: str) -> tuple[int, str, str]:
    repo, store = incident
    result = run_cli("what-changed", "--store", str(store), "--repo", str(repo.path), *args)
    return result.returncode, result.stdout, result.stderr


def test_json_is_the_contract(incident: tuple[TestRepo, Path]) -> None:
    code, out, err = _run(incident, "--at", iso(AT) or "", "--window", "2h", "--service", "shop",
                          "--env", "production", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert list(data) == ["at", "since", "events", "suspect", "rollback_to"]
    assert (data["at"], data["since"]) == ("2026-03-02T14:47:00Z", "2026-03-02T12:47:00Z")
    assert [(e["kind"], e["minutes_before"]) for e in data["events"]] == [("flag", 75), ("deploy", 22)]
    deploy = data["events"][1]
    assert deploy["prev_version"] == "v2.45.0"
    changes = deploy["changes"]
    assert changes["direction"] == "forward"
    assert len(changes["commits"]) == 2
    assert sorted(p["number"] for p in changes["prs"]) == [41, 42]
    assert {"risk_score", "risk_level", "reasons"} <= set(changes["prs"][0])
    assert data["suspect"]["version"] == "v2.46.0" and data["suspect"]["minutes_before"] == 22
    repo, _ = incident
    assert data["rollback_to"] == {"version": "v2.45.0", "sha": repo.git("rev-parse", "v2.45.0"),
                                   "at": "2026-03-01T12:47:00Z"}


def test_text_names_the_suspect_and_rollback(incident: tuple[TestRepo, Path]) -> None:
    code, out, err = _run(incident, "--at", "2026-03-02T14:47:00", "--window", "90m", "--service", "shop")
    assert code == 0, err
    assert "Suspect: deploy shop v2.46.0 to production [success], 22 min before" in out
    assert "Roll back to: v2.45.0" in out
    assert "#42 Charge in the order currency (Bob)" in out
    assert out.index("flag") < out.index("v2.46.0 to production (was")


def test_markdown_is_a_paste_ready_timeline(incident: tuple[TestRepo, Path]) -> None:
    code, out, err = _run(incident, "--at", "2026-03-02 14:47", "--format", "md")
    assert code == 0, err
    assert "#### Timeline (UTC)" in out
    assert "- **2026-03-02 14:25** (−22 min) — deploy shop v2.46.0 to production" in out
    assert "- 2026-03-02 14:07 (−40 min) — migration billing/production: add index" in out
    assert "- **Suspect:** deploy shop v2.46.0" in out
    assert "([link](https://shop.example.com))" in out


def test_a_flag_suspect_suggests_reverting_it(incident: tuple[TestRepo, Path]) -> None:
    code, out, err = _run(incident, "--at", "2026-03-02T13:40:00Z", "--service", "shop", "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["suspect"]["kind"] == "flag" and data["rollback_to"] is None
    code, out, _ = _run(incident, "--at", "2026-03-02T13:40:00Z", "--service", "shop")
    assert "revert the flag to 'false'" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--at", "quarter to three"], "--at 'quarter to three' is not a time"),
    (["--at", "24:10"], "is not a time of day"),
    (["--window", "2 fortnights"], "--window '2 fortnights' is not a duration"),
], ids=["at", "clock", "window"])
def test_bad_times_exit_2(incident: tuple[TestRepo, Path], args: list[str], message: str) -> None:
    code, out, err = _run(incident, *args)
    assert code == 2
    assert message in err and out == ""


def test_missing_store_exits_2(tmp_path: Path) -> None:
    result = run_cli("what-changed", "--store", str(tmp_path / "nothing.db"), "--repo", str(tmp_path))
    assert result.returncode == 2
    assert "no event store at" in result.stderr


def test_clock_time_and_now_with_a_relative_window(tmp_path: Path) -> None:
    store = tmp_path / "events.db"
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    post_event(store, kind="config", service="api", env="production", summary="pool size 10 -> 50",
               at=now - timedelta(minutes=31))
    clock = run_cli("what-changed", "--store", str(store), "--at", now.strftime("%H:%M"), "--window", "90m",
                    "--format", "json", "--repo", str(tmp_path))
    assert clock.returncode == 0, clock.stderr
    data = json.loads(clock.stdout)
    assert data["at"] == iso(now)
    assert data["suspect"]["summary"] == "pool size 10 -> 50" and data["suspect"]["minutes_before"] == 31
    rel = run_cli("what-changed", "--store", str(store), "--at", "now", "--window", "1d", "--format", "json",
                  "--repo", str(tmp_path))
    assert rel.returncode == 0 and len(json.loads(rel.stdout)["events"]) == 1
    narrow = run_cli("what-changed", "--store", str(store), "--window", "10m", "--repo", str(tmp_path))
    assert "no changes recorded in this window" in narrow.stdout


def test_deploys_carry_the_risk_ranking_of_their_prs(incident: tuple[TestRepo, Path]) -> None:
    pytest.importorskip("bisect_runner.risk", reason="the risk module is not in this checkout")
    code, out, err = _run(incident, "--at", iso(AT) or "", "--service", "shop", "--format", "json")
    assert code == 0, err
    changes = json.loads(out)["events"][1]["changes"]
    assert changes["risk_reasons"], changes
    assert all(p["risk_level"] in ("low", "medium", "high") and p["reasons"] for p in changes["prs"])
    scores = [p["risk_score"] for p in changes["prs"]]
    assert scores == sorted(scores, reverse=True)  # riskiest first
