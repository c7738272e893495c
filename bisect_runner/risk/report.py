"""The release risk report: assess a range, and render it for the terminal, Markdown and JSON."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bisect_runner.config import RiskConfig
from bisect_runner.gitrepo import Change, GitRepo, Hunk
from bisect_runner.render import md_escape, md_table, text_table
from bisect_runner.risk.rules import build_rules
from bisect_runner.risk.score import RiskItem, rank_items, score_change
from bisect_runner.risk.traces import Frame, match_frame, parse_error_logs

LEVEL_MARK = {"high": "🔴 high", "medium": "🟠 medium", "low": "🟢 low"}


@dataclass
class RiskReport:
    base: str
    head: str
    items: list[RiskItem]
    top: int = 5
    base_ref: str = ""
    head_ref: str = ""
    frames: int = 0
    error_logs: list[str] = field(default_factory=list)
    api_calls: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.items)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"base": self.base, "head": self.head, "total": self.total,
                                "items": [item.to_dict() for item in self.items]}
        if self.api_calls is not None:
            data["api_calls"] = self.api_calls
        return data

    def action_outputs(self) -> dict[str, str]:
        top = self.items[0] if self.items else None
        return {"risk-level": top.level if top else "low", "risk-score": str(top.score if top else 0),
                "status": "ok"}

    def _title(self) -> str:
        base = self.base_ref or self.base[:10]
        head = self.head_ref or self.head[:10]
        counts = {lvl: sum(1 for i in self.items if i.level == lvl) for lvl in ("high", "medium", "low")}
        return (f"Release risk {base}..{head}: {self.total} {'change' if self.total == 1 else 'changes'} "
                f"({counts['high']} high, {counts['medium']} medium, {counts['low']} low)")

    def to_text(self) -> str:
        shown = self.items[: self.top]
        rows = [[i.rank, f"{i.score:g}", i.level, f"#{i.pr}" if i.pr else i.sha[:10], i.title, i.author,
                 ",".join(i.categories)] for i in shown]
        lines = [self._title()]
        if self.frames:
            lines.append(f"error log: {self.frames} application frames read")
        elif self.error_logs:
            lines.append(f"error log: no application frames found in {', '.join(self.error_logs)}; nothing boosted")
        lines += ["", text_table(["rank", "score", "level", "pr/sha", "title", "author", "categories"], rows), ""]
        for item in shown:
            label = f"#{item.pr}" if item.pr else item.sha[:10]
            lines.append(f"{item.rank}. {label} {item.title} ({item.level}, {item.score:g})")
            lines += [f"   - {reason}" for reason in item.reasons]
        rest = self.items[self.top:]
        if rest:
            names = ", ".join(f"#{i.pr}" if i.pr else i.sha[:10] for i in rest[:15])
            more = f" and {len(rest) - 15} more" if len(rest) > 15 else ""
            lines.append(f"\n{len(rest)} lower-ranked {'change' if len(rest) == 1 else 'changes'} not shown "
                         f"(--top to see more, --format json for all): {names}{more}")
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        shown = self.items[: self.top]
        rows = [[i.rank, f"{i.score:g}", LEVEL_MARK.get(i.level, i.level), f"#{i.pr}" if i.pr else f"`{i.sha[:10]}`",
                 md_escape(i.title), md_escape(i.author), ", ".join(i.categories)] for i in shown]
        parts = [f"### {md_escape(self._title())}", "",
                 md_table(["Rank", "Score", "Level", "PR", "Title", "Author", "Categories"], rows), ""]
        for item in shown:
            label = f"#{item.pr}" if item.pr else f"`{item.sha[:10]}`"
            parts.append(f"**{item.rank}. {label} {md_escape(item.title)}** — {item.level}, score {item.score:g}")
            parts += [f"- {md_escape(reason)}" for reason in item.reasons]
            parts.append("")
        rest = self.items[self.top:]
        if rest:
            counts = {lvl: sum(1 for i in rest if i.level == lvl) for lvl in ("high", "medium", "low")}
            levels = ", ".join(f"{n} {lvl}" for lvl, n in counts.items() if n)
            parts.append(f"_{len(rest)} lower-ranked {'change' if len(rest) == 1 else 'changes'} not shown "
                         f"({levels}); the JSON report lists every change._")
        parts += [f"> note: {md_escape(n)}" for n in self.notes]
        return "\n".join(parts).rstrip() + "\n"


def resolve_frames(frames: Sequence[Frame], tree_paths: Sequence[str], changes: Sequence[Change] = ()
                   ) -> list[Frame]:
    """Frames that name a file of the repository, with `path` set to that file's repo path.

    Matched against the head tree plus every path the range touched (a file deleted by head can
    still be in a trace from an older deploy)."""
    candidates = set(tree_paths)
    for change in changes:
        candidates.update(f.path for f in change.files)
    resolved: list[Frame] = []
    for frame in frames:
        path = match_frame(frame, candidates)
        if path is not None:
            resolved.append(dataclasses.replace(frame, path=path))
    return resolved


def assess_range(repo: GitRepo, base_ref: str, head_ref: str, config: RiskConfig | None = None,
                 error_logs: Sequence[Path] = (), *, frames: Sequence[Frame] | None = None,
                 top: int | None = None) -> RiskReport:
    """Rank every first-parent commit of base..head by risk (one git log for the whole range;
    one git diff per commit that touched a file of the error log). `frames` skips re-reading
    the logs when the caller parsed them already; `top` overrides config.top for text/md."""
    config = config or RiskConfig()
    base, head = repo.require_range(base_ref, head_ref)
    frame_list = list(frames) if frames is not None else parse_error_logs(list(error_logs))
    changes: Iterable[Change]
    if frame_list:
        changes = repo.first_parent_changes(base, head)
        # Resolve each frame once against the whole tree, so /srv/app/shop/utils.py never matches a
        # commit that only touched billing/utils.py; then a commit sees only the frames of its files.
        resolved = resolve_frames(frame_list, repo.tracked_paths(head), changes)
    else:
        changes, resolved = repo.iter_first_parent_changes(base, head), []  # score while git diffs
    rules = build_rules(config)
    # A merge commit's author pressed the button; the PR's author wrote its head commit.
    pr_heads: dict[str, str] = {}
    items: list[RiskItem] = []
    order: dict[str, int] = {}
    for index, change in enumerate(changes):
        if change.commit.is_merge and change.commit.pr_number is not None:
            pr_heads[change.commit.sha] = change.commit.parents[1]
        order[change.commit.sha] = index
        hunks: list[Hunk] = []
        paths = {f.path for f in change.files}
        change_frames = [fr for fr in resolved if fr.path in paths]
        traced = sorted({fr.path for fr in change_frames})
        if traced and change.commit.parents:
            # a renamed file's old path too, so git pairs the rename instead of showing an added file
            old_paths = {f.old_path for f in change.files if f.path in traced and f.old_path}
            hunks = repo.hunks(change.commit.sha, sorted({*traced, *old_paths}), parent=change.commit.parents[0])
        items.append(score_change(change, rules, change_frames, hunks, thresholds=config.thresholds,
                                  huge_change_lines=config.huge_change_lines))
    head_authors = repo.author_names(list(pr_heads.values()))
    for item in items:
        item.author = head_authors.get(pr_heads.get(item.sha, ""), item.author)
    return RiskReport(base=base, head=head, items=rank_items(items, order), top=top or config.top,
                      base_ref=base_ref, head_ref=head_ref, frames=len(frame_list),
                      error_logs=[str(p) for p in error_logs])
