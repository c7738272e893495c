"""`what-changed`: the timeline of every change in the window before an incident, the suspect
(the most recent change before it) and the version to roll back to.

The report is built from plain data (events and, for deploys, their expansions: commits, PRs
and risk reasons); `what_changed` is the thin part that reads the store and asks an expander
(git + risk, see expand.py) about each deploy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bisect_runner.events.model import Event, iso
from bisect_runner.events.store import EventStore
from bisect_runner.render import md_escape, plural

MAX_EXPANDED_DEPLOYS = 20
MAX_LISTED_PRS = 15


@dataclass(frozen=True)
class CommitLine:
    sha: str
    subject: str
    author: str
    committed_at: str
    pr: int | None

    def to_dict(self) -> dict[str, Any]:
        return {"sha": self.sha, "subject": self.subject, "author": self.author,
                "committed_at": self.committed_at, "pr": self.pr}


@dataclass(frozen=True)
class PrLine:
    number: int
    title: str
    author: str = ""
    url: str = ""
    risk_score: float | None = None
    risk_level: str | None = None
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "title": self.title, "author": self.author, "url": self.url,
                "risk_score": self.risk_score, "risk_level": self.risk_level, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class Expansion:
    """What a deploy contains, from git (and the risk ranking when available)."""

    range: str
    direction: str  # forward | rollback
    commits: tuple[CommitLine, ...] = ()
    prs: tuple[PrLine, ...] = ()
    risk_reasons: tuple[str, ...] = ()  # the top reasons over the whole deploy, riskiest first
    truncated: bool = False
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"range": self.range, "direction": self.direction, "commits": [c.to_dict() for c in self.commits],
                "prs": [p.to_dict() for p in self.prs], "risk_reasons": list(self.risk_reasons),
                "truncated": self.truncated, "note": self.note}


Expander = Callable[[Event], Expansion | None]


@dataclass(frozen=True)
class Change:
    event: Event
    minutes_before: int
    expansion: Expansion | None = None

    def to_dict(self) -> dict[str, Any]:
        data = self.event.to_dict()
        data["minutes_before"] = self.minutes_before
        data["changes"] = self.expansion.to_dict() if self.expansion else None
        return data


@dataclass
class WhatChanged:
    at: datetime
    since: datetime
    service: str | None
    env: str | None
    changes: list[Change] = field(default_factory=list)
    suspect: Event | None = None
    rollback_to: Event | None = None

    @property
    def suspect_change(self) -> Change | None:
        if self.suspect is None:
            return None
        return next((c for c in self.changes if c.event.id == self.suspect.id), None)

    def to_dict(self) -> dict[str, Any]:
        rollback = None
        if self.rollback_to is not None:
            rollback = {"version": self.rollback_to.version, "sha": self.rollback_to.sha,
                        "at": iso(self.rollback_to.at)}
        suspect = self.suspect_change
        return {"at": iso(self.at), "since": iso(self.since), "events": [c.to_dict() for c in self.changes],
                "suspect": suspect.to_dict() if suspect else None, "rollback_to": rollback}

    def action_outputs(self) -> dict[str, str]:
        outputs = {"status": "suspect" if self.suspect else "no-suspect"}
        if self.suspect:
            outputs["event-id"] = self.suspect.id
        return outputs

    # rendering ------------------------------------------------------------------------------

    def _scope(self) -> str:
        if self.service and self.env:
            return f"{self.service}/{self.env}"
        return self.service or (f"env {self.env}" if self.env else "all services")

    def _window(self) -> str:
        hours = (self.at - self.since).total_seconds() / 3600
        span = f"{hours:g}h" if hours >= 1 else f"{round(hours * 60)}m"
        return f"{span} before {iso(self.at)} (since {iso(self.since)})"

    def to_text(self) -> str:
        lines = [f"What changed in {self._scope()}: {self._window()}"]
        if not self.changes:
            lines.append("  no changes recorded in this window; widen it with --window (e.g. --window 1d)")
        for change in self.changes:
            e = change.event
            mark = "→" if self.suspect and e.id == self.suspect.id else " "
            lines.append(f"{mark} -{change.minutes_before:>4} min  {e.at.strftime('%H:%M')}  {_event_line(e)}")
            lines += [f"{' ' * 20}{line}" for line in _expansion_lines(change.expansion)]
        lines.append("")
        lines.append(_suspect_line(self))
        lines.append(_rollback_line(self))
        return "\n".join(lines)

    def to_markdown(self) -> str:
        out = [f"### What changed: {md_escape(self._scope())}", "",
               f"Window: {self._window()}", ""]
        suspect = self.suspect_change
        out.append(f"- **Suspect:** {md_escape(_suspect_line(self).removeprefix('Suspect: '))}")
        out.append(f"- **Roll back to:** {md_escape(_rollback_line(self).removeprefix('Roll back to: '))}")
        out += ["", "#### Timeline (UTC)", ""]
        if not self.changes:
            out.append("_No changes recorded in this window._")
        for change in self.changes:
            e = change.event
            bold = "**" if suspect and suspect.event.id == e.id else ""
            links = "".join(f" ([link]({u}))" for u in e.urls[:1]) + (f" ([run]({e.log_url}))" if e.log_url else "")
            out.append(f"- {bold}{e.at.strftime('%Y-%m-%d %H:%M')}{bold} (−{change.minutes_before} min) — "
                       f"{md_escape(_event_line(e, pad=False))}{links}")
            x = change.expansion
            if x is not None:
                out.append(f"  - {md_escape(_expansion_summary(x))}")
                for pr in x.prs[:MAX_LISTED_PRS]:
                    link = f"[#{pr.number}]({pr.url})" if pr.url else f"#{pr.number}"
                    risk = f" — risk {pr.risk_level}{md_escape(_first_reason(pr))}" if pr.risk_level else ""
                    out.append(f"  - {link} {md_escape(pr.title)}{risk}")
                if len(x.prs) > MAX_LISTED_PRS:
                    out.append(f"  - …and {len(x.prs) - MAX_LISTED_PRS} more PRs")
        return "\n".join(out)


def _event_line(e: Event, *, pad: bool = True) -> str:
    parts = [f"{e.kind:<9}" if pad else e.kind, e.title().split(" ", 1)[1] if " " in e.title() else e.title()]
    if e.is_deploy and (e.prev_version or e.prev_sha):
        parts.append(f"(was {e.prev_version or (e.prev_sha or '')[:10]})")
    if e.summary and e.is_deploy:
        parts.append(f"\"{e.summary}\"")
    if e.actor:
        parts.append(f"by {e.actor}")
    parts.append(f"[{e.status}]")
    return " ".join(parts)


def _expansion_summary(x: Expansion) -> str:
    verb = "takes back" if x.direction == "rollback" else "ships"
    text = f"{verb} {plural(len(x.commits), 'commit')}, {plural(len(x.prs), 'PR')} ({x.range})"
    if x.truncated:
        text += ", list truncated"
    if x.note:
        text += f"; {x.note}"
    return text


def _expansion_lines(x: Expansion | None) -> list[str]:
    if x is None:
        return []
    lines = [_expansion_summary(x)]
    for pr in x.prs[:MAX_LISTED_PRS]:
        risk = f"  [risk {pr.risk_level}{_first_reason(pr)}]" if pr.risk_level else ""
        author = f" ({pr.author})" if pr.author else ""
        lines.append(f"  #{pr.number} {pr.title}{author}{risk}")
    if len(x.prs) > MAX_LISTED_PRS:
        lines.append(f"  …and {len(x.prs) - MAX_LISTED_PRS} more PRs")
    if not x.prs:
        for commit in x.commits[:MAX_LISTED_PRS]:
            lines.append(f"  {commit.sha[:10]} {commit.subject} ({commit.author})")
    if x.risk_reasons:
        lines.append("  top risk: " + "; ".join(x.risk_reasons[:3]))
    return lines


def _first_reason(pr: PrLine) -> str:
    """The first reason of a medium or high risk PR (low ones are listed by level alone)."""
    return f": {pr.reasons[0]}" if pr.reasons and pr.risk_level in ("medium", "high") else ""


def _suspect_line(report: WhatChanged) -> str:
    change = report.suspect_change
    if change is None:
        return "Suspect: none (no change before the incident in this window)"
    return f"Suspect: {change.event.title()} [{change.event.status}], {change.minutes_before} min before"


def _rollback_line(report: WhatChanged) -> str:
    target = report.rollback_to
    if target is not None:
        return (f"Roll back to: {target.version or '-'} ({(target.sha or '')[:10] or 'no sha'}), "
                f"deployed {iso(target.at)}")
    suspect = report.suspect
    if suspect is not None and not suspect.is_deploy and (suspect.prev_value is not None):
        return f"Roll back to: no deploy to roll back; revert the {suspect.kind} to {suspect.prev_value!r}"
    if suspect is not None and suspect.is_deploy:
        return "Roll back to: no earlier successful deploy with another version in the store"
    return "Roll back to: -"


# the pure core ------------------------------------------------------------------------------


def minutes_before(at: datetime, when: datetime) -> int:
    return max(int((at - when).total_seconds() // 60), 0)


def pick_suspect(events: Sequence[Event], at: datetime) -> Event | None:
    """The most recent change at or before `at` (events sorted oldest first)."""
    before = [e for e in events if e.at <= at]
    return before[-1] if before else None


def build_report(events: Sequence[Event], at: datetime, since: datetime, *, service: str | None,
                 env: str | None, rollback_to: Event | None, expansions: dict[str, Expansion]) -> WhatChanged:
    ordered = sorted((e for e in events if since <= e.at <= at), key=lambda e: (e.at, e.id))
    at_s = at.timestamp()
    changes = [Change(e, max(int((at_s - e.at.timestamp()) // 60), 0), expansions.get(e.id)) for e in ordered]
    return WhatChanged(at=at, since=since, service=service, env=env, changes=changes,
                       suspect=pick_suspect(ordered, at), rollback_to=rollback_to)


def what_changed(store: EventStore, at: datetime, window: timedelta, *, service: str | None = None,
                 env: str | None = None, expander: Expander | None = None) -> WhatChanged:
    """Read the window from the store, expand its deploys (newest MAX_EXPANDED_DEPLOYS) and
    find the suspect and the rollback target."""
    since = at - window
    events = store.query(service=service, env=env, since=since, until=at)
    suspect = pick_suspect(events, at)
    rollback_to = None
    if suspect is not None and suspect.is_deploy:
        rollback_to = store.previous_deploy(suspect.service, suspect.env, suspect.at, exclude_id=suspect.id,
                                            different_version=suspect.version)
    expansions: dict[str, Expansion] = {}
    if expander is not None:
        deploys = [e for e in events if e.is_deploy][-MAX_EXPANDED_DEPLOYS:]
        for event in deploys:
            expansion = expander(event)
            if expansion is not None:
                expansions[event.id] = expansion
    return build_report(events, at, since, service=service, env=env, rollback_to=rollback_to,
                        expansions=expansions)
