"""The GitHub Actions runtime: event payload, outputs, step summary, annotations, masks, groups.

Everything here is a no-op (or plain stderr) outside Actions, so commands can call it freely.
Writers take the environment's file paths at call time, so tests can point them anywhere.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

from bisect_runner.redact import known_secrets, redact

Level = Literal["error", "warning", "notice"]


def in_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def event_payload() -> dict[str, Any] | None:
    """The triggering event (GITHUB_EVENT_PATH), or None outside Actions."""
    path = os.environ.get("GITHUB_EVENT_PATH")
    if not path or not Path(path).is_file():
        return None
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else None


def run_url() -> str | None:
    server = os.environ.get("GITHUB_SERVER_URL", "https://github.com")
    repo, run_id = os.environ.get("GITHUB_REPOSITORY"), os.environ.get("GITHUB_RUN_ID")
    if not (repo and run_id):
        return None
    attempt = os.environ.get("GITHUB_RUN_ATTEMPT")
    url = f"{server}/{repo}/actions/runs/{run_id}"
    return f"{url}/attempts/{attempt}" if attempt else url


def _escape_data(value: str) -> str:
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(value: str) -> str:
    return _escape_data(value).replace(":", "%3A").replace(",", "%2C")


def _command(line: str) -> None:
    print(line, file=sys.stdout if in_actions() else sys.stderr, flush=True)


def mask(value: str | None) -> None:
    """Ask the runner to mask `value` in logs before anything could print it."""
    if value and in_actions():
        for part in value.splitlines():
            if part.strip():
                print(f"::add-mask::{part}", flush=True)


def mask_known_secrets() -> None:
    for secret in known_secrets():
        mask(secret)


def annotate(level: Level, message: str, *, file: str | None = None, line: int | None = None,
             title: str | None = None) -> None:
    """An ::error/::warning/::notice annotation in Actions; a plain stderr line elsewhere."""
    message = redact(message)
    if not in_actions():
        print(f"bisect-runner: {level}: {message}", file=sys.stderr, flush=True)
        return
    props = []
    if file:
        props.append(f"file={_escape_property(file)}")
    if line:
        props.append(f"line={line}")
    if title:
        props.append(f"title={_escape_property(title)}")
    prop_text = (" " + ",".join(props)) if props else ""
    _command(f"::{level}{prop_text}::{_escape_data(message)}")


def set_output(name: str, value: str | int | float | None) -> None:
    """Write a step output to $GITHUB_OUTPUT (multi-line safe)."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path:
        return
    text = "" if value is None else redact(str(value))
    with open(path, "a", encoding="utf-8") as out:
        if "\n" in text:
            delimiter = f"ghadelimiter_{uuid.uuid4()}"
            out.write(f"{name}<<{delimiter}\n{text}\n{delimiter}\n")
        else:
            out.write(f"{name}={text}\n")


def append_summary(markdown: str) -> bool:
    """Append Markdown to $GITHUB_STEP_SUMMARY; False when there is no summary to write."""
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as out:
        out.write(redact(markdown).rstrip("\n") + "\n\n")
    return True


@contextmanager
def group(title: str) -> Iterator[None]:
    """Fold a long phase in the Actions log."""
    if not in_actions():
        yield
        return
    _command(f"::group::{_escape_data(redact(title))}")
    try:
        yield
    finally:
        _command("::endgroup::")


def parse_command_file(text: str) -> dict[str, str]:
    """Read a $GITHUB_OUTPUT / $GITHUB_ENV file as the runner does: `name=value` lines and
    `name<<DELIMITER` blocks; a later assignment of the same name wins."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        line = lines[index]
        index += 1
        if not line.strip():
            continue
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            body: list[str] = []
            while index < len(lines) and lines[index] != delimiter:
                body.append(lines[index])
                index += 1
            if index >= len(lines):
                raise ValueError(f"output {name!r}: delimiter {delimiter!r} is never closed")
            index += 1
            values[name] = "\n".join(body)
        elif "=" in line:
            name, value = line.split("=", 1)
            values[name] = value
        else:
            raise ValueError(f"not an output line: {line!r}")
    return values


def outputs_written() -> dict[str, str]:
    """The step outputs written so far in this step ($GITHUB_OUTPUT), e.g. by a child process."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not path or not Path(path).is_file():
        return {}
    return parse_command_file(Path(path).read_text(encoding="utf-8"))
