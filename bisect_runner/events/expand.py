"""The adapter behind what-changed's deploy expansion: local git for the commits and PRs between
the previous deploy and this one, and the risk ranking for their top reasons."""

from __future__ import annotations

import importlib
from typing import Any

from bisect_runner.config import RiskConfig
from bisect_runner.errors import BisectRunnerError
from bisect_runner.events.changes import deploy_changes, pr_from_commit
from bisect_runner.events.model import Event
from bisect_runner.events.timeline import CommitLine, Expander, Expansion, PrLine
from bisect_runner.gitrepo import GitRepo
from bisect_runner.render import progress

TOP_REASONS = 3


def _risk_items(repo: GitRepo, base: str, head: str, risk_config: RiskConfig) -> list[Any]:
    """The risk module's items for base..head (riskiest first), or [] when it is unavailable."""
    try:
        risk = importlib.import_module("bisect_runner.risk")
        assess_range = risk.assess_range
    except (ImportError, AttributeError):
        return []
    report = assess_range(repo, base, head, risk_config)
    items = list(getattr(report, "items", []) or [])
    return sorted(items, key=lambda item: -float(getattr(item, "score", 0) or 0))


def make_expander(repo: GitRepo, risk_config: RiskConfig | None = None) -> Expander:
    """An expander for `timeline.what_changed`: None for events the clone cannot explain."""

    def expand(event: Event) -> Expansion | None:
        try:
            changes = deploy_changes(repo, event.prev_sha, event.sha)
        except BisectRunnerError as exc:
            progress(f"bisect-runner: cannot read {event.id}'s commits from git: {exc}")
            return None
        if changes is None:
            return None
        known = {pr.number: pr for pr in event.prs}  # GitHub titles and URLs from the post
        commits = tuple(
            CommitLine(sha=c.sha, subject=c.subject, author=c.author_name, committed_at=c.committed_at,
                       pr=c.pr_number)
            for c in changes.commits
        )
        risk_by_pr: dict[int, Any] = {}
        risk_by_sha: dict[str, Any] = {}
        top_reasons: list[str] = []
        note = ""
        if risk_config is not None and changes.direction == "forward":
            try:
                items = _risk_items(repo, changes.base, changes.head, risk_config)
            except BisectRunnerError as exc:
                items, note = [], f"risk ranking unavailable: {exc}"
            for item in items:
                number = getattr(item, "pr", None)
                if isinstance(number, int) and number not in risk_by_pr:
                    risk_by_pr[number] = item
                sha = getattr(item, "sha", None)
                if isinstance(sha, str):
                    risk_by_sha[sha] = item
            # One reason from each of the riskiest changes: the first thing to read per change.
            for item in items:
                reasons = list(getattr(item, "reasons", None) or ())
                if len(top_reasons) >= TOP_REASONS or not reasons:
                    continue
                number = getattr(item, "pr", None)
                what = f"#{number}" if isinstance(number, int) else str(getattr(item, "sha", ""))[:10]
                top_reasons.append(f"{what} ({getattr(item, 'level', '?')}): {reasons[0]}")
        prs: list[PrLine] = []
        for commit in changes.commits:
            local = pr_from_commit(commit)
            if local is None:
                continue
            pr = known.get(local.number, local)
            item = risk_by_pr.get(pr.number) or risk_by_sha.get(commit.sha)
            prs.append(PrLine(
                number=pr.number, title=pr.title or local.title, author=pr.author or local.author, url=pr.url,
                risk_score=_float(getattr(item, "score", None)) if item is not None else None,
                risk_level=str(getattr(item, "level", "")) or None if item is not None else None,
                reasons=tuple(str(r) for r in (getattr(item, "reasons", None) or ())) if item is not None else (),
            ))
        prs.sort(key=lambda p: -(p.risk_score or 0.0))
        return Expansion(range=changes.range_text, direction=changes.direction, commits=commits, prs=tuple(prs),
                         risk_reasons=tuple(top_reasons), truncated=changes.truncated, note=note)

    return expand


def _float(value: Any) -> float | None:
    try:
        return round(float(value), 1)
    except (TypeError, ValueError):
        return None
