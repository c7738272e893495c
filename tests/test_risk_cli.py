"""`bisect-runner risk` end to end through a subprocess, on a real repository with two releases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.gitutil import TestRepo

TRACE = """\
2026-01-02T10:00:01Z ERROR request failed
Traceback (most recent call last):
  File "/usr/local/lib/python3.11/site-packages/django/core/handlers/base.py", line 197, in _get_response
    response = wrapped_callback(request, *callback_args, **callback_kwargs)
  File "/srv/app/shop/payments/charge.py", line 3, in charge
    return gateway.capture(amount * rate)
TypeError: unsupported operand type(s) for *: 'Decimal' and 'float'
"""


@pytest.fixture(scope="module")
def release(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """v1 -> v2 with a migration PR, a payments PR (the culprit of TRACE), docs, a binary, a rename."""
    repo = TestRepo(tmp_path_factory.mktemp("risk-cli") / "shop")
    repo.commit("initial", {
        "shop/payments/charge.py": "def charge(amount):\n    rate = 1\n    return amount\n",
        "shop/orders/models.py": "class Order:\n    pass\n",
        "shop/util/old_name.py": "X = 1\n",
        "README.md": "# shop\n",
    })
    repo.tag("v1")
    shas: dict[str, str] = {}
    shas["migration"] = repo.merge_pr(101, "order-currency", [("add currency", {
        "shop/orders/migrations/0042_order_currency.py": "# migration\n" * 30,
        "shop/orders/models.py": "class Order:\n    currency = 'EUR'\n",
    })], title="Add currency to orders", author="Alice")
    shas["docs"] = repo.squash_pr(102, "Docs: explain refunds", {"docs/refunds.md": "refunds\n"}, author="Bob")
    shas["payments"] = repo.merge_pr(103, "fx-rates", [("use fx rate", {
        "shop/payments/charge.py": "def charge(amount):\n    rate = fx()\n    return gateway.capture(amount * rate)\n",
    })], title="Charge in the customer's currency", author="Carol")
    shas["binary"] = repo.squash_pr(104, "New logo", {"shop/static/logo.png": b"\x89PNG\0\0binary"}, author="Dan")
    repo.git("mv", "shop/util/old_name.py", "shop/util/new_name.py")
    shas["rename"] = repo.commit("Rename util module")
    repo.tag("v2")
    return repo.path, shas


def _json(release: tuple[Path, dict[str, str]], *extra: str) -> dict[str, object]:
    result = run_cli("risk", "--repo", str(release[0]), "--base", "v1", "--head", "v2", "--format", "json", *extra)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def test_json_lists_every_item_ranked_with_the_contract_fields(release: tuple[Path, dict[str, str]]) -> None:
    data = _json(release, "--top", "1")
    assert data["total"] == 5 and isinstance(data["items"], list) and len(data["items"]) == 5
    items = data["items"]
    assert [i["rank"] for i in items] == [1, 2, 3, 4, 5]
    for item in items:
        assert {"rank", "sha", "pr", "title", "author", "score", "level", "categories", "files", "additions",
                "deletions", "reasons"} <= set(item)
        assert item["level"] in ("high", "medium", "low") and item["reasons"]
    assert [i["score"] for i in items] == sorted((i["score"] for i in items), reverse=True)
    top = items[0]
    assert top["pr"] == 101 and top["title"] == "Add currency to orders" and top["author"] == "Alice"
    assert "migration" in top["categories"]
    assert "touches a database migration: shop/orders/migrations/0042_order_currency.py" in top["reasons"]
    by_pr = {i["pr"]: i for i in items}
    assert by_pr[102]["categories"] == ["docs"] and by_pr[102]["level"] == "low"
    assert any(r.startswith("binary file changed") and "shop/static/logo.png" in r for r in by_pr[104]["reasons"])
    direct = by_pr[None]
    assert direct["title"] == "Rename util module"
    assert any("shop/util/old_name.py → shop/util/new_name.py" in r for r in direct["reasons"])


def test_error_log_puts_the_pr_that_changed_the_failing_line_first(
    release: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    log = tmp_path / "prod.log"
    log.write_text(TRACE)
    items = _json(release, "--error-log", str(log))["items"]
    assert isinstance(items, list)
    assert items[0]["pr"] == 103 and items[0]["sha"] == release[1]["payments"]
    assert items[0]["reasons"][0] == (
        "its change covers the failing line shop/payments/charge.py:3 in charge() from the error log")


def test_text_and_markdown_show_top_n_and_summarise_the_rest(release: tuple[Path, dict[str, str]]) -> None:
    text = run_cli("risk", "--repo", str(release[0]), "--base", "v1", "--head", "v2", "--top", "2")
    assert text.returncode == 0, text.stderr
    assert "Release risk v1..v2: 5 changes" in text.stdout
    assert "1. #101 Add currency to orders" in text.stdout
    assert "3 lower-ranked changes not shown" in text.stdout
    md = run_cli("risk", "--repo", str(release[0]), "--base", "v1", "--head", "v2", "--format", "md")
    assert md.returncode == 0, md.stderr
    assert md.stdout.startswith("### Release risk v1..v2")
    assert "| Rank | Score | Level | PR |" in md.stdout and "**1. #101 Add currency to orders**" in md.stdout


def test_output_file_and_config_overrides(release: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    config = tmp_path / "risk.yml"
    config.write_text(
        "risk:\n"
        "  top: 1\n"
        "  thresholds: {high: 1000, medium: 999}\n"
        "  ignore: ['**/migrations/**']\n"
        "  categories:\n"
        "    - name: docs\n"
        "      weight: 500\n"
    )
    out = tmp_path / "risk.json"
    result = run_cli("risk", "--repo", str(release[0]), "--base", "v1", "--head", "v2", "--config", str(config),
                     "--format", "json", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    data = json.loads(out.read_text())
    assert data["items"][0]["pr"] == 102  # docs weighted 500 by the config
    assert all(i["level"] == "low" for i in data["items"])
    migration = next(i for i in data["items"] if i["pr"] == 101)
    assert "shop/orders/migrations/0042_order_currency.py" not in migration["files"]
    assert "1 file ignored by the config's risk.ignore" in migration["reasons"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--base", "v9", "--head", "v2"], "ref 'v9' not found"),
        (["--base", "v2", "--head", "v1"], "base 'v2' is not an ancestor of head 'v1'"),
        (["--base", "v2", "--head", "v2"], "the range is empty"),
        (["--base", "v1", "--head", "v2", "--error-log", "/nonexistent/prod.log"], "cannot read error log"),
        (["--base", "v1", "--head", "v2", "--top", "0"], "must be at least 1"),
    ],
    ids=["unknown-ref", "not-ancestor", "empty-range", "unreadable-log", "bad-top"],
)
def test_bad_input_is_one_line_and_exit_2(release: tuple[Path, dict[str, str]], args: list[str], message: str) -> None:
    result = run_cli("risk", "--repo", str(release[0]), *args)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ("risk:\n  colour: red\n", ":2: risk.colour: unknown key"),
        ("risk:\n  top: many\n", ":2: risk.top: expected a whole number"),
        ("risk:\n  categories:\n    - name: pay\n      any: ['pay/***']\n", ":4: risk.categories[0].any[0]: bad glob"),
    ],
    ids=["unknown-key", "wrong-type", "bad-glob"],
)
def test_bad_config_names_file_line_key(release: tuple[Path, dict[str, str]], tmp_path: Path,
                                        yaml_text: str, expected: str) -> None:
    config = tmp_path / "bad.yml"
    config.write_text(yaml_text)
    result = run_cli("risk", "--repo", str(release[0]), "--base", "v1", "--head", "v2", "--config", str(config))
    assert result.returncode == 2
    assert str(config) + expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_frame_is_matched_to_the_file_it_names_not_to_one_with_the_same_name(tmp_path: Path) -> None:
    repo = TestRepo(tmp_path / "two-utils")
    repo.commit("initial", {"shop/utils.py": "def f():\n    return 1\n", "billing/utils.py": "def g():\n    return 1\n"})
    repo.tag("v1")
    repo.squash_pr(7, "Billing tweak", {"billing/utils.py": "def g():\n    return 2\n"})
    repo.squash_pr(8, "Shop fix", {"shop/utils.py": "def f():\n    return 2\n"})
    repo.squash_pr(9, "Unrelated", {"shop/other.py": "X = 1\n"})
    repo.tag("v2")
    log = tmp_path / "prod.log"
    log.write_text('Traceback (most recent call last):\n  File "/srv/app/shop/utils.py", line 2, in f\n'
                   "    return 2\nZeroDivisionError: division by zero\n")
    result = run_cli("risk", "--repo", str(repo.path), "--base", "v1", "--head", "v2", "--error-log", str(log),
                     "--format", "json")
    assert result.returncode == 0, result.stderr
    by_pr = {item["pr"]: item for item in json.loads(result.stdout)["items"]}
    assert by_pr[8]["rank"] == 1
    assert by_pr[8]["reasons"][0].startswith("its change covers the failing line shop/utils.py:2")
    assert not any("error log" in reason for reason in by_pr[7]["reasons"])


def test_a_pure_rename_of_a_traced_file_is_not_said_to_cover_the_failing_line(
    release: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    log = tmp_path / "prod.log"
    log.write_text('Traceback (most recent call last):\n  File "/srv/app/shop/util/new_name.py", line 1, in <module>\n'
                   "    X = 1\nNameError: name 'X' is not defined\n")
    items = _json(release, "--error-log", str(log))["items"]
    assert isinstance(items, list)
    renamed = next(i for i in items if i["sha"] == release[1]["rename"])
    assert renamed["reasons"][0] == "changes a file in the error log: shop/util/new_name.py (frame new_name.py:1 in <module>)"
