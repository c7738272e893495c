"""DORA's four keys from the event store, computed the way Google's Four Keys project does.

- Deployment frequency: successful deploys (rollbacks included). The category follows Four
  Keys: Daily when the median week has deploys on at least 3 days; Weekly when the median week
  has a deploy; Monthly when the median month has one; else Yearly.
- Lead time for changes: for every commit a successful deploy shipped (local git, the deploy's
  prev_sha..sha), deploy time minus the commit's committer time; the median over all of them
  (Four Keys' PERCENTILE_CONT at 0.5). Rollbacks ship no new commits and are left out.
- Change failure rate: (failed deploys + rollbacks) / finished deploy attempts (success or
  failure, rollbacks included).
- Time to restore: a failed deploy is restored by the next successful deploy of the same service
  and env (its time minus the failure's); a rollback restores the version the deploy before it
  replaced, so it counts from that bad deploy's time to the rollback's. Median over them.

Buckets as Four Keys labels them: lead time and restore "One day" (< 24 h), "One week",
"One month", "Six months", "One year"; change failure rate "0-15%", "16-45%", "46-100%".
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from bisect_runner.events.model import Event, iso
from bisect_runner.render import md_table, plural, text_table


@dataclass(frozen=True)
class Restore:
    failure_id: str
    restored_by: str
    seconds: float


@dataclass
class DoraReport:
    since: datetime
    until: datetime
    service: str | None
    env: str | None
    deployments: int
    deploy_days: int
    per_week: float
    frequency: str
    attempts: int
    failed: int
    rollbacks: int
    change_failure_rate: float | None
    failure_category: str | None
    lead_time_s: float | None
    lead_time_changes: int
    lead_time_category: str | None
    restore_s: float | None
    restores: list[Restore] = field(default_factory=list)
    restore_category: str | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "since": iso(self.since), "until": iso(self.until), "service": self.service, "env": self.env,
            "deployment_frequency": {"deployments": self.deployments, "deploy_days": self.deploy_days,
                                     "per_week": round(self.per_week, 2), "category": self.frequency},
            "lead_time": {"median_seconds": _round(self.lead_time_s), "changes": self.lead_time_changes,
                          "category": self.lead_time_category},
            "change_failure_rate": {"rate": None if self.change_failure_rate is None else
                                    round(self.change_failure_rate, 4), "failed": self.failed,
                                    "rollbacks": self.rollbacks, "attempts": self.attempts,
                                    "category": self.failure_category},
            "time_to_restore": {"median_seconds": _round(self.restore_s), "restores": len(self.restores),
                                "category": self.restore_category,
                                "items": [{"failure": r.failure_id, "restored_by": r.restored_by,
                                           "seconds": round(r.seconds, 1)} for r in self.restores]},
            "notes": list(self.notes),
        }

    def _rows(self) -> list[list[str]]:
        rate = "n/a" if self.change_failure_rate is None else f"{self.change_failure_rate * 100:.1f}%"
        return [
            ["Deployment frequency",
             f"{plural(self.deployments, 'deploy')} ({self.per_week:.1f}/week, on {plural(self.deploy_days, 'day')})", self.frequency],
            ["Lead time for changes",
             f"median {duration_text(self.lead_time_s)} over {plural(self.lead_time_changes, 'commit')}"
             if self.lead_time_s is not None else "n/a (no deploy with commits in the local clone)",
             self.lead_time_category or "-"],
            ["Change failure rate",
             f"{rate} ({self.failed} failed, {self.rollbacks} rolled back, of {self.attempts})",
             self.failure_category or "-"],
            ["Time to restore",
             f"median {duration_text(self.restore_s)} over {plural(len(self.restores), 'restore')}"
             if self.restore_s is not None else "n/a (no failure restored)",
             self.restore_category or "-"],
        ]

    def _scope(self) -> str:
        scope = "/".join(x for x in (self.service, self.env) if x) or "all services"
        days = (self.until - self.since).total_seconds() / 86400
        return f"{scope}, {iso(self.since)} → {iso(self.until)} ({days:.0f} days)"

    def to_text(self) -> str:
        lines = [f"DORA four keys for {self._scope()}", text_table(["Key", "Value", "Category"], self._rows(),
                                                                    max_width=80)]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        out = [f"### DORA four keys: {self._scope()}", "", md_table(["Key", "Value", "Category"], self._rows())]
        out += [f"\n_{n}_" for n in self.notes]
        return "\n".join(out)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def duration_text(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    minutes = int(round(seconds / 60))
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def time_category(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    hours = seconds / 3600
    if hours < 24:
        return "One day"
    if hours < 168:
        return "One week"
    if hours < 730:
        return "One month"
    if hours < 730 * 6:
        return "Six months"
    return "One year"


def failure_category(rate: float | None) -> str | None:
    if rate is None:
        return None
    if rate <= 0.15:
        return "0-15%"
    if rate <= 0.45:
        return "16-45%"
    return "46-100%"


def frequency_category(deploy_days: Sequence[datetime], since: datetime, until: datetime) -> str:
    """Four Keys' deployment frequency bucket over the weeks of [since, until]."""
    days = {d.date() for d in deploy_days}
    start = since.date()
    end = until.date()
    weeks: dict[Any, set[Any]] = defaultdict(set)
    week_month: dict[Any, tuple[int, int]] = {}
    day = start
    while day <= end:
        week = day - timedelta(days=day.weekday())
        weeks[week]  # every week of the window counts, deployed or not
        week_month.setdefault(week, (week.year, week.month))
        if day in days:
            weeks[week].add(day)
        day += timedelta(days=1)
    if not weeks:
        return "Yearly"
    days_per_week = [len(v) for v in weeks.values()]
    deployed_weeks = [1 if v else 0 for v in weeks.values()]
    per_month: dict[tuple[int, int], int] = defaultdict(int)
    for week, deployed in zip(weeks, deployed_weeks, strict=True):
        per_month[week_month[week]] += deployed
    monthly = [per_month[week_month[w]] for w in weeks]
    if statistics.median(days_per_week) >= 3:
        return "Daily"
    if statistics.median(deployed_weeks) >= 1:
        return "Weekly"
    if statistics.median(monthly) >= 1:
        return "Monthly"
    return "Yearly"


def compute_dora(events: Sequence[Event], since: datetime, until: datetime, *,
                 commit_times: Mapping[str, Sequence[datetime]], service: str | None = None,
                 env: str | None = None, history: Sequence[Event] = ()) -> DoraReport:
    """The four keys over deploy events in [since, until] (oldest first). `commit_times` maps a
    deploy's id to the committer times of the commits it shipped; `history` holds deploys before
    `since`, so a rollback early in the window finds the deploy it replaced."""
    deploys = sorted((e for e in events if e.is_deploy and since <= e.at <= until), key=lambda e: (e.at, e.id))
    successes = [e for e in deploys if e.status == "success"]
    finished = [e for e in deploys if e.status in ("success", "failure")]
    failed = [e for e in deploys if e.status == "failure"]
    rollbacks = [e for e in successes if e.kind == "rollback"]
    weeks = max((until - since).total_seconds() / 604800, 1 / 7)
    lead_times: list[float] = []
    for deploy in successes:
        if deploy.kind != "deploy":
            continue
        for committed in commit_times.get(deploy.id, ()):
            lead_times.append(max((deploy.at - committed).total_seconds(), 0.0))
    restores = _restores(deploys, history)
    rate = (len(failed) + len(rollbacks)) / len(finished) if finished else None
    lead = statistics.median(lead_times) if lead_times else None
    restore = statistics.median([r.seconds for r in restores]) if restores else None
    notes = []
    if successes and not lead_times:
        notes.append("lead time needs the deployed commits in the local clone (--repo, fetch-depth: 0)")
    return DoraReport(
        since=since, until=until, service=service, env=env, deployments=len(successes),
        deploy_days=len({e.at.date() for e in successes}), per_week=len(successes) / weeks,
        frequency=frequency_category([e.at for e in successes], since, until), attempts=len(finished),
        failed=len(failed), rollbacks=len(rollbacks), change_failure_rate=rate, failure_category=failure_category(rate),
        lead_time_s=lead, lead_time_changes=len(lead_times), lead_time_category=time_category(lead),
        restore_s=restore, restores=restores, restore_category=time_category(restore), notes=notes,
    )


def _restores(deploys: Sequence[Event], history: Sequence[Event]) -> list[Restore]:
    by_target: dict[tuple[str, str], list[Event]] = defaultdict(list)
    for event in sorted([*history, *deploys], key=lambda e: (e.at, e.id)):
        if event.is_deploy:
            by_target[(event.service, event.env)].append(event)
    window_ids = {e.id for e in deploys}
    restores: list[Restore] = []
    for timeline in by_target.values():
        for index, event in enumerate(timeline):
            if event.id not in window_ids:
                continue
            if event.status == "failure":
                fix = next((e for e in timeline[index + 1:] if e.status == "success"), None)
                if fix is not None:
                    restores.append(Restore(event.id, fix.id, (fix.at - event.at).total_seconds()))
            elif event.kind == "rollback" and event.status == "success":
                bad = next((e for e in reversed(timeline[:index]) if e.status == "success"), None)
                if bad is not None:
                    restores.append(Restore(bad.id, event.id, (event.at - bad.at).total_seconds()))
    return restores
