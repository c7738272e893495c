"""Error logs and stack traces -> frames (file, line, function), and frames -> repo paths.

A PR that touched the code in a production stack trace is the prime suspect. Traces name files as
they were deployed (/srv/app/shop/payments/charge.py), as Java/Kotlin class names
(com.shop.payments.ChargeService.charge(ChargeService.java:40)), or as bundler URLs; match_frame
maps them back to repository paths by the longest suffix of whole path components.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from bisect_runner.errors import UserError


@dataclass(frozen=True)
class Frame:
    """One place in the code that a trace or log line names."""

    path: str
    line: int | None
    function: str | None
    language: str
    raw: str

    def describe(self) -> str:
        name = self.path.rsplit("/", 1)[-1]
        where = f"{name}:{self.line}" if self.line else name
        return f"{where} in {self.function}" if self.function else where


_PY_FRAME = re.compile(r'^\s*File "(?P<path>[^"]+)", line (?P<line>\d+)(?:, in (?P<func>[^\s]+))?')
_JS_FRAME = re.compile(
    r"^\s*at (?:(?:async )?(?P<func>[^\s(]+(?: \[as [^\]]+\])?) \()?(?P<loc>[^\s()]+?):(?P<line>\d+)(?::\d+)?\)?\s*$"
)
_JVM_FRAME = re.compile(
    r"^\s*at (?:[\w.$]+/)?(?P<cls>[\w.$]+)\.(?P<func>[\w$<>-]+)\((?P<file>[\w$.-]+\.(?:java|kt|kts|scala|groovy)):(?P<line>\d+)\)"
)
_GO_FILE = re.compile(r"^\s+(?P<path>/?[^\s:]+\.go):(?P<line>\d+)(?: \+0x[0-9a-f]+)?\s*$")
_GO_FUNC = re.compile(r"^(?P<func>[\w./*()\-]+)\(.*\)\s*$")
_RUBY_FRAME = re.compile(
    r"^\s*(?:from\s+)?(?P<path>[^\s:'\"`]+\.(?:rb|rake|erb)):(?P<line>\d+):in [`'](?P<func>[^'`]+)'"
)
_BARE = re.compile(
    r"(?<![\w/.:@-])(?P<path>(?:[\w.@+-]+/)*[\w.@+-]+\.(?:py|js|mjs|cjs|ts|tsx|jsx|java|kt|go|rb|php|cs|rs|scala"
    r"|c|cc|cpp|h|hpp|swift|ex|exs|erl|sql|yml|yaml|json|toml)):(?P<line>\d+)\b"
)

# Frames from libraries and runtimes do not point at the application's code.
_LIBRARY = re.compile(
    r"(site-packages/|dist-packages/|/lib/python\d|node_modules/|^node:|^internal/|/usr/lib/|/usr/local/lib/"
    r"|/gems/|/rubygems/|/ruby/\d|^<frozen |^<string>|/go/src/runtime/|^runtime/|/usr/local/go/|/pkg/mod/)"
)
_JVM_LIBRARY = re.compile(r"^(java|javax|jdk|sun|kotlin|kotlinx|scala|org\.springframework|org\.apache|io\.netty"
                          r"|com\.sun|org\.hibernate|okhttp3|reactor)\.")


def _clean_path(path: str) -> str:
    for prefix in ("webpack:///", "webpack://", "file://"):
        if path.startswith(prefix):
            path = path[len(prefix):]
    path = path.split("?", 1)[0]
    while path.startswith("./"):
        path = path[2:]
    return path


def parse_trace(text: str) -> list[Frame]:
    """Every application frame named in `text`, in the order they appear, without duplicates."""
    frames: list[Frame] = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        frame = _parse_line(line, lines[index - 1] if index else "")
        if frame is not None:
            frames.append(frame)
    seen: set[tuple[str, int | None]] = set()
    unique: list[Frame] = []
    for frame in frames:
        key = (frame.path, frame.line)
        if key not in seen and not _LIBRARY.search(frame.path):
            seen.add(key)
            unique.append(frame)
    return unique


def _parse_line(line: str, previous: str) -> Frame | None:
    raw = line.strip()
    if match := _PY_FRAME.match(line):
        return Frame(match["path"], int(match["line"]), match["func"], "python", raw)
    if match := _JVM_FRAME.match(line):
        cls, file = match["cls"], match["file"]
        if _JVM_LIBRARY.match(cls):
            return None
        package = cls.split("$", 1)[0].rsplit(".", 1)[0] if "." in cls else ""
        path = (package.replace(".", "/") + "/" if package else "") + file
        language = "kotlin" if file.endswith((".kt", ".kts")) else "java"
        return Frame(path, int(match["line"]), match["func"], language, raw)
    if match := _JS_FRAME.match(line):
        loc = _clean_path(match["loc"])
        if "/" not in loc and "." not in loc:
            return None
        func = match["func"]
        if func:
            func = func.split(" [as ", 1)[0].rsplit(".", 1)[-1]
        return Frame(loc, int(match["line"]), func, "javascript", raw)
    if match := _GO_FILE.match(line):
        func_match = _GO_FUNC.match(previous.strip())
        func = func_match["func"].rsplit(".", 1)[-1] if func_match else None
        return Frame(match["path"], int(match["line"]), func, "go", raw)
    if match := _RUBY_FRAME.match(line):
        func = match["func"]
        func = re.split(r"[#.]", func)[-1] if ("#" in func or "." in func) else func.replace("block in ", "")
        return Frame(match["path"], int(match["line"]), func, "ruby", raw)
    for match in _BARE.finditer(line):
        start = match.start()
        if "://" in line[max(0, start - 12):start + 3]:
            continue
        return Frame(_clean_path(match["path"]), int(match["line"]), None, "log", raw)
    return None


def parse_error_logs(paths: Sequence[Path]) -> list[Frame]:
    """Frames of every log file in `paths`; an unreadable or binary file is a UserError."""
    frames: list[Frame] = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise UserError(f"cannot read error log {path}: {exc.strerror or exc}; pass a readable text file") from None
        if b"\0" in data[:8192]:
            raise UserError(f"error log {path} is not a text file; pass a log or stack trace")
        frames.extend(parse_trace(data.decode("utf-8", errors="replace")))
    return frames


def match_frame(frame: Frame, repo_paths: Collection[str]) -> str | None:
    """The repo path that `frame` names: the longest suffix match on whole path components.

    Equal-length matches are ambiguous (two `utils.py` matched by a bare file name): the one with
    the shortest path wins only when the frame gave more than a file name; otherwise None.
    """
    parts = [p for p in frame.path.replace("\\", "/").split("/") if p and p != "."]
    if not parts:
        return None
    best_len = 0
    best: list[str] = []
    for repo_path in repo_paths:
        repo_parts = repo_path.split("/")
        n = 0
        while n < len(parts) and n < len(repo_parts) and parts[-1 - n] == repo_parts[-1 - n]:
            n += 1
        if n == 0:
            continue
        if n > best_len:
            best_len, best = n, [repo_path]
        elif n == best_len:
            best.append(repo_path)
    if not best:
        return None
    if len(best) == 1:
        return best[0]
    if best_len == 1:
        return None
    return min(best, key=lambda p: (len(p), p))
