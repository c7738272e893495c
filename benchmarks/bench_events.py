"""Benchmark: the event store at 100,000 events.

Inserts 100,000 events (30 days, 40 services, 3 environments, every kind) in bulk, then times
`what-changed` and `events list` over them, each beside a plain `sqlite3` query that returns
the same rows (same SQL, same indexes, rows left as tuples). The aim: our calls within 2x of the
plain query. In-process calls are the comparison; CLI runs (a fresh interpreter each time) are
printed too, beside `python -c 'import sqlite3; ...'` running the same query.

Run: .venv/bin/python benchmarks/bench_events.py [--events N] [--repeat R]
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bisect_runner.commands.events import list_events  # noqa: E402
from bisect_runner.events.model import KINDS, Event, PullRef, new_event  # noqa: E402
from bisect_runner.events.store import EventStore, query_sql  # noqa: E402
from bisect_runner.events.timeline import what_changed  # noqa: E402
from bisect_runner.render import text_table, to_json  # noqa: E402

END = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
DAYS = 30
SERVICES = [f"svc-{i:02d}" for i in range(40)]
ENVS = ["production", "staging", "canary"]


def make_events(count: int, seed: int = 7) -> list[Event]:
    rng = random.Random(seed)
    span = DAYS * 86400
    events: list[Event] = []
    for n in range(count):
        kind = rng.choices(KINDS, weights=[40, 2, 15, 20, 5, 8, 10])[0]
        at = END - timedelta(seconds=rng.random() * span)
        version = f"v{n // 100}.{n % 100}" if kind in ("deploy", "rollback") else None
        sha = f"{rng.getrandbits(160):040x}" if version else None
        prs = tuple(PullRef(number=rng.randint(1, 9999), title=f"Change {n}") for _ in range(rng.randint(0, 3))) \
            if version else ()
        events.append(new_event(
            event_id=f"bench-{n}", kind=kind, service=rng.choice(SERVICES), env=rng.choice(ENVS),  # type: ignore[arg-type]
            status=rng.choices(["success", "failure", "started", "cancelled"], weights=[90, 4, 4, 2])[0], at=at,
            version=version, sha=sha, actor=rng.choice(["deploy-bot", "sam", "alex"]), summary=f"change {n}",
            prev_value="false" if kind == "flag" else None, new_value="true" if kind == "flag" else None,
            prs=prs, tags={"team": "payments"} if n % 7 == 0 else {},
        ))
    return events


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median seconds of `repeat` runs (after one warm-up) and the last result."""
    result = fn()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), result


def plain(path: Path, sql: str, params: list[Any], render: bool = False) -> Callable[[], list[Any]]:
    """The same rows with nothing but sqlite3 (and, to compare with --format json, json.dumps)."""
    def run() -> list[Any]:
        conn = sqlite3.connect(str(path))
        try:
            rows = conn.execute(sql, params).fetchall()
            if render:
                json.dumps(rows, indent=2)
            return rows
        finally:
            conn.close()

    return run


def cli_seconds(argv: list[str], repeat: int) -> float:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True, cwd=ROOT)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--cli-repeat", type=int, default=5)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        path = Path(tmp) / "events.db"
        events = make_events(args.events)
        start = time.perf_counter()
        with EventStore.open(path) as store:
            store.insert_many(events)
            total = store.count()
        insert_s = time.perf_counter() - start
        print(f"inserted {total:,} events in {insert_s:.2f}s ({total / insert_s:,.0f} events/s, one transaction)")

        at, window = END - timedelta(days=3, hours=5), timedelta(hours=2)
        service, env = "svc-07", "production"
        rows: list[list[str]] = []

        def compare(name: str, ours: Callable[[], Any], count: Callable[[Any], int], sql: str,
                    params: list[Any], render: bool = False) -> None:
            ours_s, result = timed(ours, args.repeat)
            plain_s, plain_rows = timed(plain(path, sql, params, render), args.repeat)
            assert count(result) == len(plain_rows), (name, count(result), len(plain_rows))
            rows.append([name, f"{len(plain_rows):,}", f"{ours_s * 1000:.2f} ms", f"{plain_s * 1000:.2f} ms",
                         f"{ours_s / plain_s:.2f}x"])

        def run_what_changed(svc: str | None, environment: str | None, hours: int, render: bool) -> Any:
            with EventStore.open_existing(path) as store:
                report = what_changed(store, at, timedelta(hours=hours), service=svc, env=environment)
            if render:
                to_json(report.to_dict())
            return report

        for label, svc, environment, hours in (("what-changed 2h, one service/env", service, env, 2),
                                               ("what-changed 2h, all services", None, None, 2),
                                               ("what-changed 1d, all services", None, None, 24)):
            sql, params = query_sql(service=svc, env=environment, since=at - timedelta(hours=hours), until=at)
            compare(label, lambda s=svc, e=environment, h=hours: run_what_changed(s, e, h, False),
                    lambda r: len(r.changes), sql, params)
            compare(label + " --format json", lambda s=svc, e=environment, h=hours: run_what_changed(s, e, h, True),
                    lambda r: len(r.changes), sql, params, render=True)

        for label, kwargs in (("events list --limit 50", {"limit": 50}),
                              ("events list --service --env --limit 50", {"service": service, "env": env, "limit": 50}),
                              ("events list --kind deploy --since 1d", {"kinds": ["deploy"], "since": END - timedelta(days=1),
                                                                         "limit": 100_000}),
                              ("events list --since 7d (all rows)", {"since": END - timedelta(days=7), "limit": 100_000})):
            sql, params = query_sql(newest_first=True, **kwargs)  # type: ignore[arg-type]
            compare(label, lambda k=kwargs: list_events(path, **k), lambda r: len(r.events), sql, params)  # type: ignore[misc]

        print()
        print(text_table(["in-process", "rows", "bisect-runner", "plain sqlite3", "ratio"], rows, max_width=50))

        at_text = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        ours_cli = cli_seconds([sys.executable, "-m", "bisect_runner", "what-changed", "--store", str(path), "--at",
                                at_text, "--window", "2h", "--service", service, "--env", env, "--format", "json",
                                "--no-expand"], args.cli_repeat)
        sql, params = query_sql(service=service, env=env, since=at - window, until=at)
        script = f"import sqlite3, json; print(json.dumps(sqlite3.connect({str(path)!r}).execute({sql!r}, {params!r}).fetchall()))"
        plain_cli = cli_seconds([sys.executable, "-c", script], args.cli_repeat)
        list_cli = cli_seconds([sys.executable, "-m", "bisect_runner", "events", "list", "--store", str(path),
                                "--format", "json"], args.cli_repeat)
        print()
        print(text_table(["CLI (fresh interpreter)", "bisect-runner", "python -c sqlite3", "ratio"], [
            ["what-changed 2h one service --format json", f"{ours_cli * 1000:.0f} ms", f"{plain_cli * 1000:.0f} ms",
             f"{ours_cli / plain_cli:.2f}x"],
            ["events list --format json (50 rows)", f"{list_cli * 1000:.0f} ms", f"{plain_cli * 1000:.0f} ms",
             f"{list_cli / plain_cli:.2f}x"],
        ]))
        print("\nThe CLI gap is interpreter start-up plus the CLI's imports (argparse, PyYAML, every command), not the query.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
