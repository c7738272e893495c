"""Score a change: category weights, size and spread, error-log evidence -> a RiskItem with
reasons a reviewer can check. Pure: takes plain data (Change, FileChange, Frame, Hunk)."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from bisect_runner.config import RiskThresholds
from bisect_runner.gitrepo import Change, FileChange, Hunk
from bisect_runner.risk.rules import Category, RulePack, build_rules
from bisect_runner.risk.traces import Frame, match_frame

TRACE_FILE_BOOST = 30.0  # the change touched a file named in the error log
TRACE_LINE_BOOST = 60.0  # its hunks cover the traced line or function: the prime suspect
LOW_RISK = ("test", "docs", "ui")
MAX_PATHS_IN_REASON = 3


@dataclass
class RiskItem:
    """One first-parent commit (a merged PR, a squash, or a direct push) and its risk."""

    rank: int
    sha: str
    pr: int | None
    title: str
    author: str
    score: float
    level: str
    categories: list[str]
    files: list[str]
    additions: int
    deletions: int
    reasons: list[str]
    labels: list[str] = field(default_factory=list)
    subject: str = ""
    url: str | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "rank": self.rank, "sha": self.sha, "pr": self.pr, "title": self.title, "author": self.author,
            "score": self.score, "level": self.level, "categories": self.categories, "files": self.files,
            "additions": self.additions, "deletions": self.deletions, "reasons": self.reasons,
            "labels": self.labels, "subject": self.subject, "url": self.url,
        }


def level_for(score: float, thresholds: RiskThresholds | None = None) -> str:
    thresholds = thresholds or RiskThresholds()
    if score >= thresholds.high:
        return "high"
    if score >= thresholds.medium:
        return "medium"
    return "low"


def _fmt_paths(paths: Sequence[str]) -> str:
    shown = ", ".join(paths[:MAX_PATHS_IN_REASON])
    more = len(paths) - MAX_PATHS_IN_REASON
    return f"{shown} (+{more} more)" if more > 0 else shown


def _area(path: str) -> str:
    return path.split("/", 1)[0] if "/" in path else "(root)"


def score_files(
    files: Sequence[FileChange],
    rules: RulePack | None = None,
    frames: Sequence[Frame] = (),
    hunks: Sequence[Hunk] = (),
    *,
    sha: str = "",
    pr: int | None = None,
    title: str = "",
    author: str = "",
    subject: str = "",
    thresholds: RiskThresholds | None = None,
    huge_change_lines: int = 5000,
) -> RiskItem:
    """Score one diff (a commit against its parent, or a PR against its merge base)."""
    rules = rules or build_rules()
    kept = [f for f in files if not rules.ignored(f.path)]
    ignored = len(files) - len(kept)
    by_category: dict[str, list[str]] = {}
    categories: dict[str, Category] = {}
    for file in kept:
        for category in rules.classify(file.path):
            by_category.setdefault(category.name, []).append(file.path)
            categories[category.name] = category
    ordered = sorted(categories.values(), key=lambda c: (-c.weight, c.name))
    reasons: list[str] = []
    score = 0.0
    for index, category in enumerate(ordered):
        share = 1.0 / (2**index)  # the riskiest category counts fully, others with diminishing weight
        score += category.weight * share
    risky = [c for c in ordered if c.name not in LOW_RISK or len(ordered) == 1]
    for category in risky:
        paths = by_category[category.name]
        if category.name == "code" and len(risky) > 1:
            continue  # a riskier category already says what this change is about
        reasons.append(f"{category.reason}: {_fmt_paths(paths)}")

    additions = sum(f.additions for f in kept)
    deletions = sum(f.deletions for f in kept)
    lines = additions + deletions
    areas = sorted({_area(f.path) for f in kept})
    size_score = min(20.0, 6.0 * math.log10(1 + lines)) + min(8.0, 2.0 * math.log2(1 + len(kept)))
    spread_score = min(12.0, 4.0 * max(0, len(areas) - 1))
    score += size_score + spread_score
    if kept:
        area_text = "1 area" if len(areas) == 1 else f"{len(areas)} areas"
        reasons.append(f"+{additions:,}/-{deletions:,} lines in {len(kept):,} "
                       f"{'file' if len(kept) == 1 else 'files'} across {area_text}")
    if lines >= huge_change_lines:
        reasons.append(f"huge change: {lines:,} lines; review it by area ({', '.join(areas[:5])})")

    binary = [f.path for f in kept if f.binary]
    if binary:
        reasons.append(f"binary {'file' if len(binary) == 1 else 'files'} changed (no line counts): "
                       f"{_fmt_paths(binary)}")
    renamed = [f"{f.old_path} → {f.path}" for f in kept if f.status == "R" and f.old_path]
    if renamed:
        reasons.append(f"renames {len(renamed)} {'file' if len(renamed) == 1 else 'files'}: {_fmt_paths(renamed)}")
    deleted = [f.path for f in kept if f.status == "D"]
    if deleted:
        score += min(6.0, 2.0 * len(deleted))
        reasons.append(f"deletes {len(deleted)} {'file' if len(deleted) == 1 else 'files'}: {_fmt_paths(deleted)}")
    if ignored:
        reasons.append(f"{ignored} {'file' if ignored == 1 else 'files'} ignored by the config's risk.ignore")
    if not files:
        reasons.append("changes no files (an empty commit, or a merge that brought nothing new)")

    # Error-log evidence: a traced file touched, and better, a hunk over the traced line/function.
    if frames:
        paths = [f.path for f in kept]
        touched: list[tuple[Frame, str]] = []
        for frame in frames:
            path = match_frame(frame, paths)
            if path is not None:
                touched.append((frame, path))
        covered = _covering(touched, hunks)
        if covered:
            frame, path, hunk = covered
            score += TRACE_LINE_BOOST
            where = f"{path}:{frame.line}" if frame.line else path
            func = f" in {frame.function}()" if frame.function else ""
            if frame.line is not None and hunk.covers(frame.line):
                reasons.insert(0, f"its change covers the failing line {where}{func} from the error log")
            else:  # git's function context of a hunk names the traced function
                reasons.insert(0, f"its change is inside the traced function {frame.function}() in {path} "
                                  f"(frame {frame.describe()})")
        elif touched:
            frame, path = touched[0]
            score += TRACE_FILE_BOOST
            reasons.insert(0, f"changes a file in the error log: {path} (frame {frame.describe()})")

    score = round(score, 1)
    return RiskItem(
        rank=0, sha=sha, pr=pr, title=title or subject, author=author, score=score,
        level=level_for(score, thresholds), categories=[c.name for c in ordered],
        files=[f.path for f in kept], additions=additions, deletions=deletions, reasons=reasons,
        subject=subject,
    )


def _covering(touched: Sequence[tuple[Frame, str]], hunks: Sequence[Hunk]) -> tuple[Frame, str, Hunk] | None:
    for frame, path in touched:
        for hunk in hunks:
            if hunk.path != path:
                continue
            if frame.line is not None and hunk.covers(frame.line):
                return frame, path, hunk
    for frame, path in touched:
        for hunk in hunks:
            if hunk.path == path and frame.function and _function_in(frame.function, hunk.function):
                return frame, path, hunk
    return None


def _function_in(function: str, header: str) -> bool:
    """Whether a hunk's function context (git's @@ header) names the traced function, as a whole
    word: `def charge(`, Ruby's `def charge`, Go's `func (s *Svc) Charge(`, Java's `void charge() {`."""
    name = re.split(r"[.#:/]", function)[-1].strip("()<>*")
    if len(name) < 2 or name in ("module", "anonymous", "main"):
        return False
    return re.search(rf"(?<![\w$]){re.escape(name)}(?![\w$])", header) is not None


def score_change(change: Change, rules: RulePack | None = None, frames: Sequence[Frame] = (),
                 hunks: Sequence[Hunk] = (), *, thresholds: RiskThresholds | None = None,
                 huge_change_lines: int = 5000, author: str | None = None) -> RiskItem:
    """Score one first-parent commit (merge, squash or direct push). `author` overrides the
    commit's author (for a merge, pass the PR author: GitRepo.author_names of its second parent)."""
    commit = change.commit
    title = commit.subject
    if commit.is_merge and commit.pr_number is not None and commit.body:
        title = commit.body.splitlines()[0].strip() or title  # GitHub puts the PR title there
    return score_files(
        change.files, rules, frames, hunks, sha=commit.sha, pr=commit.pr_number, title=title,
        author=author or commit.author_name, subject=commit.subject, thresholds=thresholds,
        huge_change_lines=huge_change_lines,
    )


assess_files = score_files  # one PR's diff (e.g. against its merge base): GitRepo.diff_change -> RiskItem


def rank_items(items: list[RiskItem], order: dict[str, int] | None = None) -> list[RiskItem]:
    """Riskiest first; ties go to the newer commit (later in the range), then the sha."""
    order = order or {}
    ranked = sorted(items, key=lambda i: (-i.score, -order.get(i.sha, 0), i.sha))
    for rank, item in enumerate(ranked, start=1):
        item.rank = rank
    return ranked
