"""The bisect's memory: every observation on disk as it happens, and a `git bisect log` replay file.

State lives under the repository's git dir (`.git/bisect-runner/`), so it is never in the user's
work tree and never committed. One file per bisect key (good, bad, mode, candidates, what is
tested): JSON lines, appended and fsynced per observation, so a crash or Ctrl-C loses at most the
probe in flight. Rerunning the same command finds the file and replays it into a fresh strategy.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from bisect_runner.errors import UserError

STATE_VERSION = 1


@dataclass(frozen=True)
class StateKey:
    good: str
    bad: str
    mode: str  # e.g. "deterministic", "flaky", "latency:checkout", plus the candidate policy
    candidates: tuple[str, ...]
    probe: str  # what is tested: a hash of the smoke spec or the test command

    @property
    def digest(self) -> str:
        payload = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(payload).hexdigest()[:16]


@dataclass(frozen=True)
class SavedObservation:
    """One probe's result as stored: keyed by sha (positions differ between phases)."""

    phase: str  # "merge" (the first-parent pass) or "drill-down:<merge sha>"
    sha: str
    slot: str
    runs: int
    failures: int
    skipped: bool
    latencies_ms: tuple[float, ...]
    detail: str
    verdict: str
    deployed: bool
    round: int
    median_ms: float | None = None
    p_value: float | None = None
    at: str = field(default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))

    def to_json(self) -> str:
        data = asdict(self)
        data["latencies_ms"] = list(self.latencies_ms)
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SavedObservation:
        return cls(
            phase=str(data["phase"]), sha=str(data["sha"]), slot=str(data.get("slot", "")),
            runs=int(data.get("runs", 0)), failures=int(data.get("failures", 0)),
            skipped=bool(data.get("skipped", False)),
            latencies_ms=tuple(float(v) for v in data.get("latencies_ms", [])),
            detail=str(data.get("detail", "")), verdict=str(data.get("verdict", "")),
            deployed=bool(data.get("deployed", False)), round=int(data.get("round", 0)),
            median_ms=data.get("median_ms"), p_value=data.get("p_value"), at=str(data.get("at", "")),
        )


def state_dir(git_dir: Path) -> Path:
    return git_dir / "bisect-runner"


class BisectState:
    """An open state file (locked against a second bisect-runner on the same bisect)."""

    def __init__(self, path: Path, key: StateKey, observations: list[SavedObservation], handle: IO[str]) -> None:
        self.path = path
        self.key = key
        self.observations = observations
        self.resumed = len(observations)
        self._handle = handle

    @property
    def log_path(self) -> Path:
        return self.path.with_suffix(".bisect-log")

    @classmethod
    def open(cls, git_dir: Path, key: StateKey, *, restart: bool = False) -> BisectState:
        directory = state_dir(git_dir)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{key.digest}.jsonl"
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - kept open (and locked) until close()
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise UserError(f"another bisect-runner is running this same bisect (state {path}); "
                            "wait for it, or stop it first") from None
        try:
            if restart:
                handle.truncate(0)
                path.with_suffix(".bisect-log").unlink(missing_ok=True)
            handle.seek(0)
            text = handle.read()
            if text and not text.endswith("\n"):  # a write torn by a crash: drop it before appending more
                text = text[: text.rfind("\n") + 1]
                handle.truncate(len(text.encode("utf-8")))
            observations = _parse(text, key, path)
            if not observations:
                handle.truncate(0)
                handle.seek(0)
                _write_line(handle, json.dumps({"bisect_runner_state": STATE_VERSION, "key": asdict(key)},
                                               sort_keys=True))
        except BaseException:
            handle.close()
            raise
        return cls(path, key, observations, handle)

    def append(self, observation: SavedObservation) -> None:
        """Durably record one observation before anything acts on it."""
        self.observations.append(observation)
        _write_line(self._handle, observation.to_json())

    def phase(self, phase: str) -> list[SavedObservation]:
        return [o for o in self.observations if o.phase == phase]

    def close(self) -> None:
        if not self._handle.closed:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()

    def write_replay_log(self, lines: Sequence[str]) -> Path:
        """Replace the replay log atomically (a reader never sees half of it)."""
        target = self.log_path
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=".bisect-log-")
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
        return target


def _write_line(handle: IO[str], line: str) -> None:
    handle.seek(0, os.SEEK_END)
    handle.write(line + "\n")
    handle.flush()
    os.fsync(handle.fileno())


def _parse(text: str, key: StateKey, path: Path) -> list[SavedObservation]:
    observations: list[SavedObservation] = []
    lines = text.splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError:
            if number == len(lines):  # the write interrupted by a crash: that probe runs again
                break
            raise UserError(f"{path}:{number}: the bisect state is corrupt; rerun with --restart") from None
        if "bisect_runner_state" in data:
            if data.get("bisect_runner_state") != STATE_VERSION or data.get("key", {}).get("good") != key.good:
                raise UserError(f"{path}: state from another version or bisect; rerun with --restart")
            continue
        try:
            observations.append(SavedObservation.from_dict(data))
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{path}:{number}: the bisect state is corrupt; rerun with --restart") from None
    return observations


def replay_log_lines(*, good: str, bad: str, subjects: dict[str, str], first_parent: bool,
                     steps: Sequence[tuple[str, str]], first_bad: str | None, note: str = "") -> list[str]:
    """`git bisect log` format for (sha, verdict) steps: `git bisect replay FILE` in a clone
    reproduces the search. Undecided steps stay as comments; latency same/different map to
    good/bad."""

    def comment(term: str, sha: str) -> str:
        return f"# {term}: [{sha}] {subjects.get(sha, '')}".rstrip()

    lines = ["git bisect start" + (" '--first-parent'" if first_parent else "")]
    if note:
        lines.append(f"# {note}")
    lines += [comment("bad", bad), f"git bisect bad {bad}", comment("good", good), f"git bisect good {good}"]
    for sha, verdict in steps:
        term = {"good": "good", "same": "good", "bad": "bad", "different": "bad", "skip": "skip"}.get(verdict)
        if term is None:
            lines.append(f"# {verdict}: [{sha}] {subjects.get(sha, '')}".rstrip())
            continue
        if sha in (good, bad) and term in ("good", "bad"):
            continue  # the endpoints are already marked above
        lines += [comment(term, sha), f"git bisect {term} {sha}"]
    if first_bad:
        lines.append(comment("first bad commit", first_bad))
    return lines
