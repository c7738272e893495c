"""A local Slack for tests: a real HTTP server on 127.0.0.1 with the Web API methods we use
(chat.postMessage, chat.update) and incoming webhooks, enforcing Slack's limits.

What it enforces, like Slack: the body is a JSON object; `text` is present (the fallback); at
most 50 blocks; section text at most 3000 characters, at most 10 fields of at most 2000;
context blocks at most 10 elements; a bearer token on Web API calls (`invalid_auth` /
`not_authed`, HTTP 200 with ok=false as Slack answers); chat.update only of a message that
exists. Stricter than Slack, to catch our bugs: mrkdwn must be escaped (a bare `&`, `<` or `>`
outside Slack's `<url|label>` syntax is rejected as invalid_blocks).

Faults: `fail(path, status, retry_after=..., times=n, delay_s=...)` answers the next n matching
requests with that status (429 with a Retry-After header), or sleeps first (timeouts).
Everything received is recorded in `requests`; delivered messages in `messages`.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.localserver import base_url, local_server

TOKEN = "xoxb-1111-2222-TestSlackToken0123"
WEBHOOK_PATH = "/services/T0TEST/B0TEST/WebhookSecret0123456789"
MAX_BLOCKS = 50
MAX_SECTION = 3000
_LINK = re.compile(r"<(?:https?://[^|<>\s]+|[@#!][^<>]*)(?:\|[^<>]*)?>")
_ENTITY = re.compile(r"&(?:amp|lt|gt);")


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str
    status: int = 0
    at: float = 0.0


@dataclass
class Message:
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    via: str  # "api" or "webhook"
    thread_ts: str | None = None
    updates: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Fault:
    path: str
    status: int
    retry_after: str | None = None
    times: int = 1
    delay_s: float = 0.0


class SlackError(Exception):
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


def check_mrkdwn(text: str) -> None:
    stripped = _ENTITY.sub("", _LINK.sub("", text))
    if any(c in stripped for c in "<>&"):
        raise SlackError("invalid_blocks")  # stricter than Slack: unescaped mrkdwn


def validate_payload(body: Any) -> None:
    """Slack's checks on a message payload (see the module docstring)."""
    if not isinstance(body, dict):
        raise SlackError("invalid_payload")
    text = body.get("text")
    if not isinstance(text, str) or not text.strip():
        raise SlackError("no_text")
    check_mrkdwn(text)
    blocks = body.get("blocks", [])
    if not isinstance(blocks, list) or len(blocks) > MAX_BLOCKS:
        raise SlackError("invalid_blocks")
    for block in blocks:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "section":
            section_text = block.get("text")
            fields = block.get("fields", [])
            if section_text is None and not fields:
                raise SlackError("invalid_blocks")
            if section_text is not None:
                if section_text.get("type") not in ("mrkdwn", "plain_text") or len(section_text.get("text", "")) > MAX_SECTION:
                    raise SlackError("invalid_blocks")
                if not section_text.get("text"):
                    raise SlackError("invalid_blocks")
                if section_text["type"] == "mrkdwn":
                    check_mrkdwn(section_text["text"])
            if len(fields) > 10 or any(len(f.get("text", "")) > 2000 for f in fields):
                raise SlackError("invalid_blocks")
            for f in fields:
                check_mrkdwn(f.get("text", ""))
        elif kind == "context":
            elements = block.get("elements", [])
            if not elements or len(elements) > 10:
                raise SlackError("invalid_blocks")
            for element in elements:
                if len(element.get("text", "")) > MAX_SECTION:
                    raise SlackError("invalid_blocks")
                check_mrkdwn(element.get("text", ""))
        elif kind not in ("divider", "header"):
            raise SlackError("invalid_blocks")


class SlackReceiver:
    def __init__(self, token: str = TOKEN) -> None:
        self.token = token
        self.requests: list[Received] = []
        self.messages: list[Message] = []
        self.faults: list[Fault] = []
        self._ts = itertools.count(1)
        self._lock = threading.Lock()
        self._server, self._thread = local_server(self._handler())

    # lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return base_url(self._server)

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    @property
    def webhook_url(self) -> str:
        return f"{self.url}{WEBHOOK_PATH}"

    def __enter__(self) -> SlackReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail(self, path: str, status: int, *, retry_after: str | None = None, times: int = 1,
             delay_s: float = 0.0) -> None:
        """Answer the next `times` requests whose path ends with `path` with `status`."""
        with self._lock:
            self.faults.append(Fault(path, status, retry_after, times, delay_s))

    def count(self, path: str) -> int:
        return sum(1 for r in self.requests if r.path.endswith(path))

    def top_level(self) -> list[Message]:
        return [m for m in self.messages if m.thread_ts is None]

    def replies(self, ts: str) -> list[Message]:
        return [m for m in self.messages if m.thread_ts == ts]

    def iter_texts(self) -> Iterator[str]:
        for message in self.messages:
            yield message.text
            yield json.dumps(message.blocks)

    # serving ------------------------------------------------------------------------------

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if path.endswith(fault.path) and fault.times > 0:
                    fault.times -= 1
                    return fault
        return None

    def handle(self, path: str, headers: dict[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes]:
        record = Received(path=path, headers=headers, body=raw.decode("utf-8", "replace"), at=time.monotonic())
        with self._lock:
            self.requests.append(record)
        fault = self._take_fault(path)
        if fault is not None:
            if fault.delay_s:
                time.sleep(fault.delay_s)
            if fault.status:
                record.status = fault.status
                extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
                body = b"rate_limited" if fault.status == 429 else b"internal_error"
                return fault.status, {"Content-Type": "text/plain", **extra}, body
        if path == WEBHOOK_PATH:
            status, out = self._webhook(raw)
            record.status = status
            return status, {"Content-Type": "text/plain"}, out.encode()
        if path.startswith("/api/"):
            data = self._api(path[len("/api/"):], headers, raw)
            record.status = 200
            return 200, {"Content-Type": "application/json"}, json.dumps(data).encode()
        record.status = 404
        return 404, {"Content-Type": "text/plain"}, b"no_service"

    def _webhook(self, raw: bytes) -> tuple[int, str]:
        try:
            body = json.loads(raw)
            validate_payload(body)
        except json.JSONDecodeError:
            return 400, "invalid_payload"
        except SlackError as exc:
            return 400, exc.error
        with self._lock:
            self.messages.append(Message(channel="C0WEBHOOK", ts=self._next_ts(), text=body["text"],
                                         blocks=body.get("blocks", []), via="webhook"))
        return 200, "ok"

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def _api(self, method: str, headers: dict[str, str], raw: bytes) -> dict[str, Any]:
        auth = headers.get("authorization", "")
        if not auth:
            return {"ok": False, "error": "not_authed"}
        if auth != f"Bearer {self.token}":
            return {"ok": False, "error": "invalid_auth"}
        if not headers.get("content-type", "").startswith("application/json"):
            return {"ok": False, "error": "invalid_form_data"}
        try:
            body = json.loads(raw)
            validate_payload(body)
        except json.JSONDecodeError:
            return {"ok": False, "error": "invalid_json"}
        except SlackError as exc:
            return {"ok": False, "error": exc.error}
        channel = str(body.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        channel_id = channel if channel.startswith("C") else "C" + re.sub(r"[^A-Z0-9]", "", channel.upper())[:10]
        if channel == "#nowhere":
            return {"ok": False, "error": "channel_not_found"}
        with self._lock:
            if method == "chat.postMessage":
                thread_ts = body.get("thread_ts")
                if thread_ts and not any(m.ts == thread_ts for m in self.messages):
                    return {"ok": False, "error": "thread_not_found"}
                message = Message(channel=channel_id, ts=self._next_ts(), text=body["text"],
                                  blocks=body.get("blocks", []), via="api", thread_ts=thread_ts)
                self.messages.append(message)
                return {"ok": True, "channel": channel_id, "ts": message.ts,
                        "message": {"text": message.text, "ts": message.ts}}
            if method == "chat.update":
                ts = body.get("ts")
                for message in self.messages:
                    if message.ts == ts and message.channel == channel_id:
                        message.updates.append({"text": message.text, "blocks": message.blocks})
                        message.text, message.blocks = body["text"], body.get("blocks", [])
                        return {"ok": True, "channel": channel_id, "ts": ts, "text": message.text}
                return {"ok": False, "error": "message_not_found"}
        return {"ok": False, "error": "unknown_method"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, out_headers, body = receiver.handle(self.path, headers, raw)
                try:
                    self.send_response(status)
                    for key, value in out_headers.items():
                        self.send_header(key, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


class WebhookReceiver:
    """A generic JSON webhook endpoint that records bodies and headers, with faults."""

    PATH = "/hooks/events-Secret0123456789"

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                record = Received(self.path, {k.lower(): v for k, v in self.headers.items()},
                                  raw.decode("utf-8", "replace"), at=time.monotonic())
                with outer._lock:
                    outer.received.append(record)
                    fault = next((f for f in outer.faults if f.times > 0), None)
                    if fault:
                        fault.times -= 1
                status = fault.status if fault else (200 if self.path == outer.PATH else 404)
                if fault and fault.delay_s:
                    time.sleep(fault.delay_s)
                record.status = status
                try:
                    self.send_response(status)
                    if fault and fault.retry_after:
                        self.send_header("Retry-After", fault.retry_after)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server, self._thread = local_server(Handler)

    @property
    def url(self) -> str:
        return base_url(self._server) + self.PATH

    def fail(self, status: int, *, times: int = 1, retry_after: str | None = None, delay_s: float = 0.0) -> None:
        with self._lock:
            self.faults.append(Fault("", status, retry_after, times, delay_s))

    def delivered(self) -> list[dict[str, Any]]:
        return [json.loads(r.body) for r in self.received if r.status == 200]

    def __enter__(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
