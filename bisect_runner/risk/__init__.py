"""Release risk: classify the paths each change touches, score it, and explain why."""

from bisect_runner.risk.report import RiskReport, assess_range
from bisect_runner.risk.rules import Category, RulePack, build_rules
from bisect_runner.risk.score import RiskItem, assess_files, level_for, rank_items, score_change, score_files
from bisect_runner.risk.traces import Frame, match_frame, parse_error_logs, parse_trace

__all__ = [
    "Category", "Frame", "RiskItem", "RiskReport", "RulePack", "assess_files", "assess_range", "build_rules", "level_for",
    "match_frame", "parse_error_logs", "parse_trace", "rank_items", "score_change", "score_files",
]
