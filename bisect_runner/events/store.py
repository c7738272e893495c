"""The local event store: one SQLite file (default `.bisect-runner/events.db` at the repo root).

Every event is written here first; the other sinks (Slack, GitHub, webhook) fan out from the
stored record, and what they need to update in place later (a Slack message's channel and ts,
a GitHub deployment id) is kept next to it in `sink_refs`. GitHub's deployments API cannot be
queried by time and Slack cannot be queried at all; this file can, with indexes on time,
(service, env, time) and (kind, time), so `what-changed` over 100,000 events reads only the rows
of its window.

Scalar fields are real columns and times are integer milliseconds (UTC), so decoding a row is a
constructor call, not a JSON parse; only the rarely large lists (urls, prs, tags) share one JSON
column that is NULL when they are empty.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from bisect_runner.config import Config
from bisect_runner.errors import UserError
from bisect_runner.events.model import DEPLOY_KINDS, Event, PullRef, merge_event, same_content, utcnow

SCHEMA_VERSION = 1
APPLICATION_ID = 0x42524556  # "BREV": marks the file as a bisect-runner event store
STORE_ENV = "BISECT_RUNNER_STORE"
DEFAULT_STORE = Path(".bisect-runner") / "events.db"
SaveAction = Literal["created", "updated", "unchanged"]

_COLUMNS = ("id", "kind", "service", "env", "status", "at_ms", "version", "sha", "prev_version", "prev_sha",
            "actor", "started_ms", "finished_ms", "summary", "prev_value", "new_value", "log_url", "extra",
            "recorded_ms")
SELECT_COLUMNS = ", ".join(_COLUMNS)

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    service TEXT NOT NULL,
    env TEXT NOT NULL,
    status TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    version TEXT,
    sha TEXT,
    prev_version TEXT,
    prev_sha TEXT,
    actor TEXT,
    started_ms INTEGER,
    finished_ms INTEGER,
    summary TEXT,
    prev_value TEXT,
    new_value TEXT,
    log_url TEXT,
    extra TEXT,
    recorded_ms INTEGER
);
CREATE INDEX IF NOT EXISTS events_at ON events (at_ms);
CREATE INDEX IF NOT EXISTS events_service_env_at ON events (service, env, at_ms);
CREATE INDEX IF NOT EXISTS events_kind_at ON events (kind, at_ms);
CREATE TABLE IF NOT EXISTS sink_refs (
    event_id TEXT NOT NULL,
    sink TEXT NOT NULL,
    ref TEXT,
    digest TEXT,
    updated_ms INTEGER NOT NULL,
    PRIMARY KEY (event_id, sink)
);
PRAGMA user_version = {SCHEMA_VERSION};
PRAGMA application_id = {APPLICATION_ID};
"""


def store_path(explicit: str | None, config: Config, repo_root: Path) -> Path:
    """--store, else BISECT_RUNNER_STORE, else events.store (relative to the repo root), else
    .bisect-runner/events.db at the repo root."""
    chosen = explicit or os.environ.get(STORE_ENV) or config.events.store
    if chosen:
        path = Path(chosen).expanduser()
        return path if path.is_absolute() or explicit or os.environ.get(STORE_ENV) else repo_root / path
    return repo_root / DEFAULT_STORE


@dataclass(frozen=True)
class SinkRef:
    """What a sink remembers about an event it delivered: its handle (Slack channel:ts, GitHub
    deployment id) and a digest of the last payload, so an identical repost is not resent."""

    ref: str | None
    digest: str | None


def to_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def from_ms(value: int) -> datetime:
    return datetime.fromtimestamp(value / 1000, UTC)


def event_row(event: Event) -> tuple[Any, ...]:
    extra = None
    if event.urls or event.prs or event.tags:
        # Arrays, not objects: decoding 100,000 of these is a third cheaper.
        extra = json.dumps([list(event.urls), [[p.number, p.title, p.author, p.url] for p in event.prs],
                            event.tags], separators=(",", ":"), ensure_ascii=False)
    return (
        event.id, event.kind, event.service, event.env, event.status, to_ms(event.at), event.version, event.sha,
        event.prev_version, event.prev_sha, event.actor,
        to_ms(event.started_at) if event.started_at else None,
        to_ms(event.finished_at) if event.finished_at else None,
        event.summary, event.prev_value, event.new_value, event.log_url, extra,
        to_ms(event.recorded_at) if event.recorded_at else None,
    )


_loads = json.JSONDecoder().decode
_fromtimestamp = datetime.fromtimestamp


def row_event(row: Sequence[Any]) -> Event:
    """Decode one row; the hot loop of every query, hence the inlined conversions."""
    (event_id, kind, service, env, status, at_ms, version, sha, prev_version, prev_sha, actor, started_ms,
     finished_ms, summary, prev_value, new_value, log_url, extra, recorded_ms) = row
    urls: tuple[str, ...] = ()
    prs: tuple[PullRef, ...] = ()
    tags: dict[str, str] = {}
    if extra:
        url_list, pr_list, tags = _loads(extra)
        urls = tuple(url_list)
        prs = tuple(PullRef(*p) for p in pr_list)
    return Event(event_id, kind, service, env, status, _fromtimestamp(at_ms / 1000, UTC), version, sha,
                 prev_version, prev_sha, actor,
                 None if started_ms is None else _fromtimestamp(started_ms / 1000, UTC),
                 None if finished_ms is None else _fromtimestamp(finished_ms / 1000, UTC),
                 summary, prev_value, new_value, urls, log_url, prs, tags,
                 None if recorded_ms is None else _fromtimestamp(recorded_ms / 1000, UTC))


class EventStore:
    """One SQLite event store. Open it with `EventStore.open(path)` (creates it) or
    `EventStore.open_existing(path)` (for reading commands: a missing store is a user error)."""

    def __init__(self, path: Path, conn: sqlite3.Connection) -> None:
        self.path = path
        self.conn = conn

    @classmethod
    def open(cls, path: str | Path, *, create: bool = True) -> EventStore:
        path = Path(path)
        if not create and not path.is_file():
            raise UserError(f"no event store at {path}; post events with `bisect-runner events post` "
                            "or point --store (or BISECT_RUNNER_STORE) at one")
        if path.is_dir():
            raise UserError(f"event store {path} is a directory; pass --store FILE")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(path), timeout=10.0, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise UserError(f"cannot open the event store {path}: {exc}; pass --store to a writable path") from None
        store = cls(path, conn)
        store._init_schema()
        return store

    @classmethod
    def open_existing(cls, path: str | Path) -> EventStore:
        return cls.open(path, create=False)

    def _init_schema(self) -> None:
        try:
            self.conn.execute("PRAGMA busy_timeout = 10000")
            version = int(self.conn.execute("PRAGMA user_version").fetchone()[0])
            app_id = int(self.conn.execute("PRAGMA application_id").fetchone()[0])
            if version == SCHEMA_VERSION and app_id == APPLICATION_ID:
                return  # ours: both are set with the tables, in one script
            tables = {r[0] for r in self.conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as exc:
            self.conn.close()
            raise UserError(f"{self.path} is not an event store ({exc}); pass --store to another file") from None
        if tables and app_id != APPLICATION_ID:
            self.conn.close()
            raise UserError(f"{self.path} is an SQLite file but not an event store; pass --store to another file")
        if version > SCHEMA_VERSION:
            self.conn.close()
            raise UserError(f"{self.path} was written by a newer bisect-runner (schema {version}); upgrade")
        if tables and "events" not in tables:
            self.conn.close()
            raise UserError(f"{self.path} is an SQLite file but not an event store; pass --store to another file")
        try:
            self.conn.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            self.conn.close()
            raise UserError(f"cannot write the event store {self.path}: {exc}; pass --store to a writable path") \
                from None

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> EventStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One IMMEDIATE transaction: concurrent posters (two CI jobs on one runner) queue up."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise UserError(f"cannot write the event store {self.path}: {exc}; pass --store to a writable path") \
                from None
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        try:
            self.conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self.conn.execute("ROLLBACK")
            raise UserError(f"cannot write the event store {self.path}: {exc}; pass --store to a writable path") \
                from None

    # events ---------------------------------------------------------------------------------

    def get(self, event_id: str) -> Event | None:
        row = self.conn.execute(f"SELECT {SELECT_COLUMNS} FROM events WHERE id = ?", (event_id,)).fetchone()
        return row_event(row) if row else None

    def save(self, event: Event) -> tuple[Event, SaveAction]:
        """Insert the event, or merge it into the stored one with the same id (see
        model.merge_event). Returns the stored record and what happened."""
        placeholders = ", ".join("?" for _ in _COLUMNS)
        with self._write() as conn:
            row = conn.execute(f"SELECT {SELECT_COLUMNS} FROM events WHERE id = ?", (event.id,)).fetchone()
            stamped = event if event.recorded_at else _stamped(event)
            if row is None:
                conn.execute(f"INSERT INTO events ({SELECT_COLUMNS}) VALUES ({placeholders})", event_row(stamped))
                return stamped, "created"
            existing = row_event(row)
            merged = merge_event(existing, stamped)
            if same_content(existing, merged):
                return existing, "unchanged"
            conn.execute(f"INSERT OR REPLACE INTO events ({SELECT_COLUMNS}) VALUES ({placeholders})",
                         event_row(merged))
            return merged, "updated"

    def insert_many(self, events: Iterable[Event]) -> int:
        """Bulk insert (replacing same ids) in one transaction: for imports and benchmarks."""
        placeholders = ", ".join("?" for _ in _COLUMNS)
        with self._write() as conn:
            cursor = conn.executemany(f"INSERT OR REPLACE INTO events ({SELECT_COLUMNS}) VALUES ({placeholders})",
                                      (event_row(e) for e in events))
            return int(cursor.rowcount)

    def query(self, *, service: str | None = None, env: str | None = None, kinds: Sequence[str] = (),
              since: datetime | None = None, until: datetime | None = None, statuses: Sequence[str] = (),
              limit: int | None = None, newest_first: bool = False) -> list[Event]:
        sql, params = query_sql(service=service, env=env, kinds=kinds, since=since, until=until,
                                statuses=statuses, limit=limit, newest_first=newest_first)
        return [row_event(r) for r in self.conn.execute(sql, params)]

    def previous_deploy(self, service: str, env: str, before: datetime, *, exclude_id: str | None = None,
                        different_version: str | None = None) -> Event | None:
        """The last successful deploy (or rollback) of service/env before `before`."""
        sql = (f"SELECT {SELECT_COLUMNS} FROM events WHERE service = ? AND env = ? AND at_ms < ? "
               "AND kind IN ('deploy', 'rollback') AND status = 'success'")
        params: list[Any] = [service, env, to_ms(before)]
        if exclude_id:
            sql += " AND id != ?"
            params.append(exclude_id)
        if different_version is not None:
            sql += " AND (version IS NULL OR version != ?)"
            params.append(different_version)
        sql += " ORDER BY at_ms DESC LIMIT 1"
        row = self.conn.execute(sql, params).fetchone()
        return row_event(row) if row else None

    def deployed_before(self, service: str, env: str, version: str, before: datetime, *,
                        exclude_id: str | None = None) -> bool:
        """Whether `version` was successfully deployed to service/env before `before`."""
        row = self.conn.execute(
            "SELECT 1 FROM events WHERE service = ? AND env = ? AND at_ms < ? AND kind IN ('deploy', 'rollback') "
            "AND status = 'success' AND version = ? AND id != ? LIMIT 1",
            (service, env, to_ms(before), version, exclude_id or ""),
        ).fetchone()
        return row is not None

    def count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])

    # sink refs ------------------------------------------------------------------------------

    def sink_ref(self, event_id: str, sink: str) -> SinkRef | None:
        row = self.conn.execute("SELECT ref, digest FROM sink_refs WHERE event_id = ? AND sink = ?",
                                (event_id, sink)).fetchone()
        return SinkRef(ref=row[0], digest=row[1]) if row else None

    def set_sink_ref(self, event_id: str, sink: str, ref: str | None, digest: str | None) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO sink_refs (event_id, sink, ref, digest, updated_ms) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (event_id, sink) DO UPDATE SET ref = excluded.ref, digest = excluded.digest, "
                "updated_ms = excluded.updated_ms",
                (event_id, sink, ref, digest, to_ms(utcnow())),
            )


def query_sql(*, service: str | None = None, env: str | None = None, kinds: Sequence[str] = (),
              since: datetime | None = None, until: datetime | None = None, statuses: Sequence[str] = (),
              limit: int | None = None, newest_first: bool = False) -> tuple[str, list[Any]]:
    """The SELECT behind EventStore.query (the benchmark runs the same SQL with plain sqlite3)."""
    clauses: list[str] = []
    params: list[Any] = []
    if service is not None:
        clauses.append("service = ?")
        params.append(service)
    if env is not None:
        clauses.append("env = ?")
        params.append(env)
    if kinds:
        clauses.append(f"kind IN ({', '.join('?' for _ in kinds)})")
        params.extend(kinds)
    if statuses:
        clauses.append(f"status IN ({', '.join('?' for _ in statuses)})")
        params.extend(statuses)
    if since is not None:
        clauses.append("at_ms >= ?")
        params.append(to_ms(since))
    if until is not None:
        clauses.append("at_ms <= ?")
        params.append(to_ms(until))
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    order = "DESC" if newest_first else "ASC"
    sql = f"SELECT {SELECT_COLUMNS} FROM events{where} ORDER BY at_ms {order}, id {order}"
    if limit is not None:
        sql += " LIMIT ?"
        params.append(limit)
    return sql, params


def _stamped(event: Event) -> Event:
    from dataclasses import replace

    return replace(event, recorded_at=utcnow())


__all__ = ["DEPLOY_KINDS", "STORE_ENV", "EventStore", "store_path", "SaveAction", "SinkRef", "from_ms", "query_sql", "row_event", "to_ms"]
