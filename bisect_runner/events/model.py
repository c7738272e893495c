"""The change event: one typed record for every deploy, rollback, config change, flag toggle,
migration, infra change and cron run, plus the time and duration parsing the commands share.

An event has an idempotency key (`id`). Posting the same id again updates the one record (its
status, timestamps, fields that were given) instead of adding a second one, so a retried CI job
never duplicates a change. Default ids:

- in GitHub Actions: ``gh-<GITHUB_RUN_ID>-<GITHUB_RUN_ATTEMPT>-<kind>-<service>-<env>``, so the
  `started` and the `success` post of one deploy job are the same event;
- elsewhere: ``ev-`` + a hash of kind, service, env, version, sha and `at`, so reposting the same
  thing (same --at) is idempotent. Without --at, `at` is "now" and every post is a new event: pass
  --id (or --at) when a script posts `started` and later `success` for one change.

Times are timezone-aware UTC datetimes everywhere; naive input times are read as UTC.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, cast, get_args

from bisect_runner.errors import UserError

Kind = Literal["deploy", "rollback", "config", "flag", "migration", "infra", "cron"]
Status = Literal["started", "success", "failure", "cancelled"]
KINDS: tuple[str, ...] = get_args(Kind)
STATUSES: tuple[str, ...] = get_args(Status)
DEPLOY_KINDS = ("deploy", "rollback")
TERMINAL_STATUSES = ("success", "failure", "cancelled")

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|hr|d|day|days|w|wk)\s*$", re.IGNORECASE)
_UNIT_SECONDS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "hr": 3600, "d": 86400, "day": 86400,
                 "days": 86400, "w": 604800, "wk": 604800}
_CLOCK = re.compile(r"^\s*(\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")
_AGO = re.compile(r"^\s*(?:-\s*(.+)|(.+?)\s+ago)\s*$", re.IGNORECASE)
_TAG = re.compile(r"^([A-Za-z0-9_.\-/]+)=(.*)$", re.DOTALL)
_ID_OK = re.compile(r"^[A-Za-z0-9_.:@/+\-]{1,200}$")
_SLUG = re.compile(r"[^A-Za-z0-9_.\-]+")


@dataclass(frozen=True, slots=True)
class PullRef:
    """A pull request that a deploy shipped (or a rollback took back)."""

    number: int
    title: str = ""
    author: str = ""
    url: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "title": self.title, "author": self.author, "url": self.url}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PullRef:
        return cls(number=int(data["number"]), title=str(data.get("title") or ""),
                   author=str(data.get("author") or ""), url=str(data.get("url") or ""))


@dataclass(slots=True)
class Event:
    """One change. Treat as immutable (use dataclasses.replace): slots, not frozen, because the
    store builds thousands of these per query and a frozen __init__ costs twice as much."""

    id: str
    kind: Kind
    service: str
    env: str
    status: Status
    at: datetime  # when the change took effect: finished_at when finished, else started_at
    version: str | None = None
    sha: str | None = None
    prev_version: str | None = None
    prev_sha: str | None = None
    actor: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    summary: str | None = None
    prev_value: str | None = None
    new_value: str | None = None
    urls: tuple[str, ...] = ()
    log_url: str | None = None  # the CI run that made the change
    prs: tuple[PullRef, ...] = ()
    tags: dict[str, str] = field(default_factory=dict)
    recorded_at: datetime | None = None

    @property
    def is_deploy(self) -> bool:
        return self.kind in DEPLOY_KINDS

    @property
    def environment_url(self) -> str | None:
        return self.urls[0] if self.urls else None

    def title(self) -> str:
        """A one-line human description, e.g. 'deploy checkout v2.46.0 to production'."""
        what = self.version or (self.sha[:10] if self.sha else None)
        if self.kind in DEPLOY_KINDS:
            return f"{self.kind} {self.service} {what or ''} to {self.env}".replace("  ", " ")
        change = ""
        if self.prev_value is not None or self.new_value is not None:
            change = f" ({self.prev_value if self.prev_value is not None else '∅'} → " \
                     f"{self.new_value if self.new_value is not None else '∅'})"
        subject = self.summary or what or ""
        return f"{self.kind} {self.service}/{self.env}: {subject}{change}".rstrip(": ")

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "kind": self.kind, "service": self.service, "env": self.env,
            "version": self.version, "sha": self.sha, "prev_version": self.prev_version,
            "prev_sha": self.prev_sha, "status": self.status, "actor": self.actor, "at": iso(self.at),
            "started_at": iso(self.started_at), "finished_at": iso(self.finished_at),
            "summary": self.summary, "prev_value": self.prev_value, "new_value": self.new_value,
            "urls": list(self.urls), "log_url": self.log_url, "prs": [p.to_dict() for p in self.prs],
            "tags": dict(self.tags), "recorded_at": iso(self.recorded_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        def when(key: str) -> datetime | None:
            value = data.get(key)
            return parse_iso(str(value)) if value else None

        at = when("at")
        if at is None:
            raise ValueError("event without 'at'")
        return cls(
            id=str(data["id"]), kind=check_kind(str(data["kind"])), service=str(data["service"]),
            env=str(data["env"]), status=check_status(str(data["status"])), at=at,
            version=data.get("version"), sha=data.get("sha"), prev_version=data.get("prev_version"),
            prev_sha=data.get("prev_sha"), actor=data.get("actor"), started_at=when("started_at"),
            finished_at=when("finished_at"), summary=data.get("summary"), prev_value=data.get("prev_value"),
            new_value=data.get("new_value"), urls=tuple(data.get("urls") or ()), log_url=data.get("log_url"),
            prs=tuple(PullRef.from_dict(p) for p in data.get("prs") or ()),
            tags={str(k): str(v) for k, v in (data.get("tags") or {}).items()}, recorded_at=when("recorded_at"),
        )


# validation ---------------------------------------------------------------------------------


def check_kind(kind: str) -> Kind:
    if kind not in KINDS:
        raise UserError(f"unknown kind {kind!r}; use one of: {', '.join(KINDS)}")
    return cast(Kind, kind)


def check_status(status: str) -> Status:
    if status not in STATUSES:
        raise UserError(f"unknown status {status!r}; use one of: {', '.join(STATUSES)}")
    return cast(Status, status)


def check_id(event_id: str) -> str:
    if not _ID_OK.match(event_id):
        raise UserError(f"event id {event_id!r} is not usable; use 1-200 letters, digits and . _ - : @ / +")
    return event_id


def parse_tags(items: list[str] | tuple[str, ...]) -> dict[str, str]:
    """`--tag k=v` (repeatable) -> {k: v}; a later tag with the same key wins."""
    tags: dict[str, str] = {}
    for item in items:
        match = _TAG.match(item)
        if not match:
            raise UserError(f"--tag {item!r} is not KEY=VALUE; e.g. --tag region=eu-west-1")
        tags[match.group(1)] = match.group(2)
    return tags


def default_event_id(kind: str, service: str, env: str, version: str | None, sha: str | None, at: datetime,
                     environ: Mapping[str, str] | None = None) -> str:
    """The idempotency key when --id is not given (see the module docstring)."""
    environ = os.environ if environ is None else environ
    run_id = environ.get("GITHUB_RUN_ID", "").strip() if environ.get("GITHUB_ACTIONS") == "true" else ""
    if run_id:
        attempt = environ.get("GITHUB_RUN_ATTEMPT", "").strip() or "1"
        return "-".join(["gh", _slug(run_id), _slug(attempt), kind, _slug(service), _slug(env)])[:200]
    material = "\x1f".join([kind, service, env, version or "", sha or "", iso(at) or ""])
    return "ev-" + hashlib.sha256(material.encode("utf-8")).hexdigest()[:20]


def _slug(text: str) -> str:
    return _SLUG.sub("_", text).strip("_") or "_"


# status transitions --------------------------------------------------------------------------


def new_event(*, event_id: str, kind: Kind, service: str, env: str, status: Status, at: datetime,
              **fields: Any) -> Event:
    """An event as first posted: `started` sets started_at; a finished status sets finished_at."""
    started = at if status == "started" else None
    finished = at if status in TERMINAL_STATUSES else None
    return Event(id=event_id, kind=kind, service=service, env=env, status=status, at=at,
                 started_at=started, finished_at=finished, **fields)


def merge_event(existing: Event, incoming: Event) -> Event:
    """The stored event after `incoming` (same id) is posted again.

    Fields given again replace the stored ones; fields left out keep their stored values. The
    status moves to the new one; a transition records its time (started_at when it starts,
    finished_at when it finishes), while repeating the same status keeps the first time it was
    reported, so a retried job does not move the change on the timeline.
    """
    updates: dict[str, Any] = {}
    for name in ("version", "sha", "actor", "summary", "prev_value", "new_value", "log_url"):
        value = getattr(incoming, name)
        if value not in (None, ""):
            updates[name] = value
    if incoming.urls:
        updates["urls"] = tuple(dict.fromkeys((*incoming.urls, *existing.urls)))
    if incoming.prs:
        updates["prs"] = incoming.prs
    if incoming.tags:
        updates["tags"] = {**existing.tags, **incoming.tags}
    if incoming.prev_version or incoming.prev_sha:
        updates["prev_version"], updates["prev_sha"] = incoming.prev_version, incoming.prev_sha
    if incoming.kind != existing.kind and not (existing.kind == "rollback" and incoming.kind == "deploy"):
        updates["kind"] = incoming.kind
    started_at, finished_at = existing.started_at, existing.finished_at
    if incoming.status != existing.status:
        if incoming.status == "started":
            started_at, finished_at = incoming.started_at or incoming.at, None
        else:
            finished_at = incoming.finished_at or incoming.at
    at = finished_at or started_at or existing.at
    return replace(existing, status=incoming.status, started_at=started_at, finished_at=finished_at, at=at,
                   recorded_at=incoming.recorded_at or existing.recorded_at, **updates)


def same_content(a: Event, b: Event) -> bool:
    """True when storing `b` over `a` changes nothing worth telling anyone about."""
    da, db = a.to_dict(), b.to_dict()
    da.pop("recorded_at")
    db.pop("recorded_at")
    return da == db


# time ---------------------------------------------------------------------------------------


def utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def iso(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, to the second (or millisecond when there is one)."""
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    if value.microsecond:
        return value.isoformat(timespec="milliseconds")[:-6] + "Z"
    return value.isoformat()[:-6] + "Z"


def parse_iso(text: str) -> datetime:
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_duration(text: str, *, option: str = "--window") -> timedelta:
    """`90m`, `2h`, `1d`, `1w`, `30s` -> timedelta (a bare number means minutes)."""
    raw = text.strip()
    if re.fullmatch(r"\d+", raw):
        raw += "m"
    match = _DURATION.match(raw)
    if not match:
        raise UserError(f"{option} {text!r} is not a duration; use e.g. 90m, 2h, 1d or 1w")
    seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2).lower()]
    if seconds <= 0:
        raise UserError(f"{option} {text!r} must be longer than zero")
    return timedelta(seconds=seconds)


def parse_time(text: str, now: datetime | None = None, *, option: str = "--at") -> datetime:
    """A point in time as people type it mid-incident.

    `now`; an ISO 8601 time with or without a zone (`2026-03-02T14:47:00Z`, `2026-03-02 14:47`,
    `2026-03-02`; no zone means UTC); a clock time `14:47` or `14:47:30` (today in UTC, or
    yesterday when today's would be in the future); or an age: `90m ago`, `2h ago` (`--at=-90m` works too).
    """
    now = (now or utcnow()).astimezone(UTC)
    raw = text.strip()
    if not raw:
        raise UserError(f"{option} is empty; use now, an ISO time like 2026-03-02T14:47:00Z, or 14:47 (UTC)")
    if raw.lower() == "now":
        return now
    clock = _CLOCK.match(raw)
    if clock:
        hour, minute, second = int(clock.group(1)), int(clock.group(2)), int(clock.group(3) or 0)
        if hour > 23 or minute > 59 or second > 59:
            raise UserError(f"{option} {text!r} is not a time of day; use HH:MM in UTC, e.g. 14:47")
        value = now.replace(hour=hour, minute=minute, second=second, microsecond=0)
        return value - timedelta(days=1) if value > now + timedelta(minutes=1) else value
    ago = _AGO.match(raw)
    if ago:
        return now - parse_duration(ago.group(1) or ago.group(2), option=option)
    try:
        return parse_iso(raw)
    except ValueError:
        raise UserError(
            f"{option} {text!r} is not a time; use now, an ISO time like 2026-03-02T14:47:00Z "
            "(no zone means UTC), 14:47 (today, UTC) or an age like -90m"
        ) from None


def parse_since(text: str, now: datetime | None = None, *, option: str = "--since") -> datetime:
    """A start time given as a duration back from now (`30d`, `2h`) or as a time (see parse_time)."""
    now = now or utcnow()
    raw = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?\s*[A-Za-z]+", raw) and _DURATION.match(raw):
        return now - parse_duration(raw, option=option)
    return parse_time(raw, now, option=option)
