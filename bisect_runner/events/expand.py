"""The adapter behind what-changed's deploy expansion: local git for the commits and PRs between
the previous deploy and this one, and the risk ranking for their top reasons."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bisect_runner.config import RiskConfig
from bisect_runner.errors import BisectRunnerError
from bisect_runner.events.changes import deploy_changes, pr_from_commit
from bisect_runner.events.model import Event
from bisect_runner.events.timeline import CommitLine, Expander, Expansion, PrLine
from bisect_runner.gitrepo import GitRepo
from bisect_runner.render import progress

if TYPE_CHECKING:
    from bisect_runner.risk import RiskItem

TOP_REASONS = 3


def _risk_items(repo: GitRepo, base: str, head: str, risk_config: RiskConfig) -> list[RiskItem]:
    """The risk ranking's items for base..head, riskiest first."""
    from bisect_runner.risk import assess_range

    report = assess_range(repo, base, head, risk_config)
    return sorted(report.items, key=lambda item: -item.score)


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
        risk_by_pr: dict[int, RiskItem] = {}
        risk_by_sha: dict[str, RiskItem] = {}
        top_reasons: list[str] = []
        note = ""
        if risk_config is not None and changes.direction == "forward":
            try:
                items = _risk_items(repo, changes.base, changes.head, risk_config)
            except BisectRunnerError as exc:
                items, note = [], f"risk ranking unavailable: {exc}"
            for item in items:
                if item.pr is not None:
                    risk_by_pr.setdefault(item.pr, item)
                risk_by_sha[item.sha] = item
            # One reason from each of the riskiest changes: the first thing to read per change.
            for item in items:
                if len(top_reasons) >= TOP_REASONS:
                    break
                if item.reasons:
                    what = f"#{item.pr}" if item.pr is not None else item.sha[:10]
                    top_reasons.append(f"{what} ({item.level}): {item.reasons[0]}")
        prs: list[PrLine] = []
        seen: set[int] = set()
        for commit in changes.commits:
            local = pr_from_commit(commit)
            if local is None or local.number in seen:
                continue
            seen.add(local.number)
            pr = known.get(local.number, local)
            risk = risk_by_pr.get(pr.number) or risk_by_sha.get(commit.sha)
            prs.append(PrLine(
                number=pr.number, title=pr.title or local.title, author=pr.author or local.author, url=pr.url,
                risk_score=round(risk.score, 1) if risk else None, risk_level=risk.level if risk else None,
                reasons=tuple(risk.reasons) if risk else (),
            ))
        prs.sort(key=lambda p: -(p.risk_score or 0.0))
        return Expansion(range=changes.range_text, direction=changes.direction, commits=commits, prs=tuple(prs),
                         risk_reasons=tuple(top_reasons), truncated=changes.truncated, note=note)

    return expand
