"""Shared rendering helpers: the output contract every report follows.

A report is one typed result object with `to_dict()` (the JSON shape, built from its fields),
`to_text()` (terminal) and `to_markdown()` (step summaries, comments, incident docs). Each
capability keeps its own renderers next to its result type; this module holds what they share.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

from bisect_runner.redact import redact

Format = Literal["text", "md", "json"]


class Report(Protocol):
    """Optionally also `action_outputs() -> dict[str, str]`: step outputs in GitHub Actions
    (e.g. status, culprit-sha, risk-level, event-id), published by cli.Context.emit."""

    def to_dict(self) -> dict[str, Any]: ...

    def to_text(self) -> str: ...

    def to_markdown(self) -> str: ...


def render(report: Report, fmt: Format) -> str:
    if fmt == "json":
        return to_json(report.to_dict())
    if fmt == "md":
        return report.to_markdown()
    return report.to_text()


def to_json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=_json_default) + "\n"


def _json_default(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def write_output(text: str, output: str | None) -> None:
    """Write a rendered report to --output (or stdout), with secrets redacted."""
    text = redact(text)
    if not text.endswith("\n"):
        text += "\n"
    if output and output != "-":
        Path(output).parent.mkdir(parents=True, exist_ok=True)
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
        sys.stdout.flush()


def progress(message: str) -> None:
    """A live progress line for the terminal (stderr, so stdout stays machine-readable)."""
    print(redact(message), file=sys.stderr, flush=True)


def text_table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, max_width: int = 60) -> str:
    """A plain aligned table; cells longer than max_width are cut with an ellipsis."""
    cells = [[_cell(h, max_width) for h in headers]] + [[_cell(c, max_width) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: Any, max_width: int) -> str:
    text = "" if value is None else str(value)
    text = text.replace("\n", " ")
    return text if len(text) <= max_width else text[: max_width - 1] + "…"


def md_escape(text: str) -> str:
    """Escape text for a Markdown table cell or inline use."""
    out = str(text)
    for ch in ("\\", "|", "*", "_", "`", "<", ">", "[", "]"):
        out = out.replace(ch, "\\" + ch)
    return out.replace("\n", " ")


def md_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    head = "| " + " | ".join(headers) + " |"
    sep = "| " + " | ".join("---" for _ in headers) + " |"
    body = ["| " + " | ".join("" if c is None else str(c) for c in row) + " |" for row in rows]
    return "\n".join([head, sep, *body])


def plural(n: int, word: str, many: str | None = None) -> str:
    return f"{n:,} {word if n == 1 else (many or word + 's')}"
