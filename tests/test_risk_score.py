"""Scoring without I/O: weights, size and spread, reasons, error-log boosts, levels and ranking."""

from __future__ import annotations

from bisect_runner.config import RiskConfig, RiskThresholds
from bisect_runner.gitrepo import Change, Commit, FileChange, Hunk
from bisect_runner.risk import (
    RiskReport,
    assess_files,
    build_rules,
    level_for,
    parse_trace,
    rank_items,
    score_change,
    score_files,
)

RULES = build_rules()


def _commit(sha: str, subject: str, *, merge: bool = False, body: str = "") -> Commit:
    parents = ("p" * 40, "q" * 40) if merge else ("p" * 40,)
    return Commit(sha=sha, parents=parents, author_name="Alice", author_email="a@example.com",
                  authored_at="2026-01-01T00:00:00Z", committed_at="2026-01-01T00:00:00Z", subject=subject,
                  body=body)


def test_migration_outranks_a_ui_tweak_of_the_same_size() -> None:
    migration = score_files([FileChange("shop/orders/migrations/0042_order_currency.py", 30, 0, "A")], RULES)
    ui = score_files([FileChange("shop/static/site.css", 30, 0)], RULES)
    assert migration.score > ui.score
    assert migration.reasons[0] == "touches a database migration: shop/orders/migrations/0042_order_currency.py"
    assert "+30/-0 lines in 1 file across 1 area" in migration.reasons


def test_size_and_spread_raise_the_score_and_are_explained() -> None:
    small = score_files([FileChange("shop/orders/service.py", 5, 1)], RULES)
    files = [FileChange(f"{area}/mod{i}.py", 200, 20) for area in ("shop", "billing", "search") for i in range(2)]
    files[0] = FileChange("shop/mod0.py", 40, 0)
    big = score_files(files, RULES)
    assert big.score > small.score
    assert "+1,040/-100 lines in 6 files across 3 areas" in big.reasons
    assert big.additions == 1040 and big.deletions == 100 and big.categories == ["code"]


def test_huge_binary_renamed_and_deleted_files_are_reported_not_truncated() -> None:
    files = [
        FileChange("data/seed.json", 9000, 0, "A"),
        FileChange("assets/logo.png", 0, 0, "M", binary=True),
        FileChange("shop/new_name.py", 0, 0, "R", old_path="shop/old_name.py"),
        FileChange("shop/legacy.py", 0, 120, "D"),
    ]
    item = score_files(files, RULES, huge_change_lines=5000)
    assert len(item.files) == 4
    assert any(r.startswith("huge change: 9,120 lines") for r in item.reasons)
    assert "binary file changed (no line counts): assets/logo.png" in item.reasons
    assert "renames 1 file: shop/old_name.py → shop/new_name.py" in item.reasons
    assert "deletes 1 file: shop/legacy.py" in item.reasons


def test_long_path_lists_say_how_many_more() -> None:
    files = [FileChange(f"db/migrate/{i:04d}_step.rb", 3, 0, "A") for i in range(5)]
    item = score_files(files, RULES)
    assert item.reasons[0].endswith("db/migrate/0002_step.rb (+2 more)")


def test_docs_only_change_is_low_and_says_so() -> None:
    item = score_files([FileChange("docs/runbook.md", 10, 2)], RULES)
    assert item.level == "low" and item.categories == ["docs"]
    assert item.reasons[0] == "changes documentation: docs/runbook.md"


def test_levels_follow_the_thresholds() -> None:
    assert level_for(60) == "high" and level_for(30) == "medium" and level_for(29.9) == "low"
    custom = RiskThresholds(high=10, medium=5)
    item = score_files([FileChange("shop/a.py", 1, 0)], RULES, thresholds=custom)
    assert item.level == "high"


TRACE = """\
Traceback (most recent call last):
  File "/srv/app/shop/payments/charge.py", line 40, in charge
    total = amount * rate
TypeError: unsupported operand
"""


def test_trace_boosts_a_touched_file_and_more_a_covered_line() -> None:
    frames = parse_trace(TRACE)
    files = [FileChange("shop/payments/charge.py", 3, 1)]
    plain = score_files(files, RULES)
    touched = score_files(files, RULES, frames, [Hunk("shop/payments/charge.py", 10, 1, 10, 2)])
    covered = score_files(files, RULES, frames, [Hunk("shop/payments/charge.py", 39, 1, 39, 3)])
    assert plain.score < touched.score < covered.score
    assert touched.reasons[0] == "changes a file in the error log: shop/payments/charge.py (frame charge.py:40 in charge)"
    assert covered.reasons[0] == (
        "its change covers the failing line shop/payments/charge.py:40 in charge() from the error log")


def test_trace_matches_a_hunk_by_function_when_the_line_moved() -> None:
    frames = parse_trace(TRACE)
    files = [FileChange("shop/payments/charge.py", 3, 1)]
    item = score_files(files, RULES, frames, [Hunk("shop/payments/charge.py", 12, 1, 12, 2, "def charge(amount):")])
    assert item.reasons[0] == ("its change is inside the traced function charge() in shop/payments/charge.py "
                               "(frame charge.py:40 in charge)")


def test_java_frame_maps_to_the_source_file_by_suffix() -> None:
    frames = parse_trace("java.lang.IllegalStateException: boom\n"
                         "\tat com.shop.payments.ChargeService.charge(ChargeService.java:40)\n")
    files = [FileChange("src/main/java/com/shop/payments/ChargeService.java", 5, 0)]
    item = score_files(files, RULES, frames, [Hunk(files[0].path, 38, 0, 38, 5)])
    assert "src/main/java/com/shop/payments/ChargeService.java:40 in charge()" in item.reasons[0]


def test_score_change_uses_the_pr_title_of_a_github_merge() -> None:
    merge = Change(_commit("a" * 40, "Merge pull request #7 from acme/fx", merge=True,
                           body="Charge in the customer's currency"), [FileChange("shop/fx.py", 3, 0)])
    item = score_change(merge, RULES)
    assert item.pr == 7 and item.title == "Charge in the customer's currency" and item.author == "Alice"
    assert score_change(merge, RULES, author="Carol").author == "Carol"
    squash = score_change(Change(_commit("b" * 40, "Fix rounding (#8)"), []), RULES)
    assert squash.pr == 8 and squash.title == "Fix rounding (#8)" and squash.files == []
    assert score_change(merge).score == item.score  # default rules


def test_assess_files_scores_one_pr_diff_with_the_config() -> None:
    rules = build_rules(RiskConfig(ignore=["vendor/**"]))
    item = assess_files([FileChange("vendor/lib.go", 900, 0), FileChange("go.mod", 1, 1)], rules, pr=12)
    assert item.files == ["go.mod"] and item.categories == ["dependency"] and item.pr == 12
    assert "1 file ignored by the config's risk.ignore" in item.reasons


def test_ranking_is_deterministic_ties_go_to_the_newer_commit() -> None:
    items = [score_files([FileChange("shop/a.py", 1, 0)], RULES, sha=s) for s in ("c" * 40, "a" * 40, "b" * 40)]
    order = {"c" * 40: 0, "a" * 40: 1, "b" * 40: 2}
    ranked = rank_items(items, order)
    assert [i.sha[0] for i in ranked] == ["b", "a", "c"] and [i.rank for i in ranked] == [1, 2, 3]
    assert [i.sha[0] for i in rank_items(list(reversed(items)))] == ["a", "b", "c"]


def test_report_renders_and_publishes_the_top_level() -> None:
    items = rank_items([
        score_files([FileChange("db/migrate/1_add.rb", 300, 0, "A")], RULES, sha="a" * 40, pr=1, title="Add | col"),
        score_files([FileChange("README.md", 1, 0)], RULES, sha="b" * 40, title="Docs"),
    ])
    report = RiskReport(base="0" * 40, head="f" * 40, items=items, top=1, base_ref="v1", head_ref="v2")
    data = report.to_dict()
    assert data["total"] == 2 and [i["rank"] for i in data["items"]] == [1, 2]
    assert report.action_outputs()["risk-level"] == items[0].level
    assert "1 lower-ranked change not shown" in report.to_text()
    assert "Add \\| col" in report.to_markdown()
    empty = RiskReport(base="0" * 40, head="f" * 40, items=[])
    assert empty.action_outputs()["risk-level"] == "low" and empty.to_dict()["items"] == []


def test_an_empty_change_still_says_why_it_ranks_low() -> None:
    item = score_change(Change(_commit("e" * 40, "Empty commit"), []), RULES)
    assert item.level == "low" and item.files == []
    assert item.reasons == ["changes no files (an empty commit, or a merge that brought nothing new)"]


def test_a_log_without_application_frames_is_said_in_text() -> None:
    item = score_files([FileChange("shop/orders/service.py", 5, 1)], RULES, sha="a" * 40)
    report = RiskReport(base="b" * 40, head="c" * 40, items=rank_items([item]), error_logs=["prod.log"])
    assert "error log: no application frames found in prod.log; nothing boosted" in report.to_text()


def test_a_hunk_inside_the_traced_function_is_named_for_ruby_go_and_java() -> None:
    cases = [
        ("app/services/charge.rb", "app/services/charge.rb:99:in `charge'", "def charge"),
        ("svc/charge.go", "main.(*Service).Charge(0x1)\n\t/src/svc/charge.go:99 +0x1d", "func (s *Service) Charge(amount int) error {"),
        ("src/main/java/com/shop/ChargeService.java", "\tat com.shop.ChargeService.charge(ChargeService.java:99)",
         "public void charge(long amount) {"),
    ]
    for path, trace, header in cases:
        frames = parse_trace(trace)
        assert frames, trace
        hunks = [Hunk(path, 10, 1, 10, 1, header)]
        item = score_files([FileChange(path, 1, 1)], RULES, frames, hunks)
        assert item.reasons[0].startswith("its change is inside the traced function "), (path, item.reasons)
        assert f" in {path} (frame " in item.reasons[0]
        plain = score_files([FileChange(path, 1, 1)], RULES, frames, [Hunk(path, 10, 1, 10, 1, "def chargeback")])
        assert item.score > plain.score, (path, item.reasons, plain.reasons)


def test_a_lookalike_function_name_does_not_count() -> None:
    frames = parse_trace('  File "/srv/app/shop/payments/charge.py", line 99, in charge\n')
    near = score_files([FileChange("shop/payments/charge.py", 1, 1)], RULES, frames,
                       [Hunk("shop/payments/charge.py", 10, 1, 10, 1, "def charge_later(self):")])
    inside = score_files([FileChange("shop/payments/charge.py", 1, 1)], RULES, frames,
                         [Hunk("shop/payments/charge.py", 10, 1, 10, 1, "def charge(self, amount):")])
    assert inside.score > near.score


def test_markdown_summarises_the_items_below_the_top() -> None:
    items = rank_items([score_files([FileChange(f"shop/m{i}.py", i + 1, 0)], RULES, sha=f"{i}" * 40) for i in range(3)])
    report = RiskReport(base="b" * 40, head="c" * 40, items=items, top=2)
    assert report.to_markdown().rstrip().endswith(
        "_1 lower-ranked change not shown (1 low); the JSON report lists every change._")


def test_code_with_its_tests_names_the_code() -> None:
    item = score_files([FileChange("shop/orders/service.py", 10, 2), FileChange("tests/test_service.py", 30, 0)],
                       RULES)
    assert item.categories == ["code", "test"]
    assert item.reasons[0] == "changes application code: shop/orders/service.py"
    mixed = score_files([FileChange("shop/orders/service.py", 1, 0), FileChange("go.mod", 1, 0)], RULES)
    assert not any(r.startswith("changes application code") for r in mixed.reasons)
