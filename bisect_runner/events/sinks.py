"""Where an event goes after the store: Slack (incoming webhook or Web API), GitHub Deployments,
and a generic webhook. Each sink is a thin adapter; `fan_out` runs them all from the one stored
event and reports per sink, so a failing sink never loses the event in the others.

Never twice: each sink remembers (in the store's sink_refs) the handle it created (Slack
channel:ts, GitHub deployment id) and a digest of what it last delivered. Posting the same id
again updates that handle (chat.update, a new deployment status) instead of creating another,
and an identical repost is skipped.

Retries (`HttpPoster`):
- 429 is always retried after `Retry-After` (capped at RETRY_AFTER_CAP_S; a longer ask fails the
  sink with a message instead of hanging the job): the request was refused, not applied.
- 5xx and timeouts are retried only where repeating cannot duplicate: Slack chat.update (it
  rewrites one message) and the generic webhook (it carries an `Idempotency-Key` header built
  from the event id and content). Slack's incoming webhook and chat.postMessage are not retried
  on 5xx or timeouts: the message may already be in the channel; the sink fails and says so,
  and a rerun re-sends.
- GitHub: the GitHub adapter retries rate limits (403/429 with Retry-After or X-RateLimit-Reset)
  and never repeats a write on 5xx; a deployment already created is kept and reused.

Secrets: webhook URLs and tokens are never put in a message; errors name the sink, not the URL.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any, Literal, Protocol

import requests

from bisect_runner.errors import BisectRunnerError
from bisect_runner.events import slack
from bisect_runner.events.model import Event, utcnow
from bisect_runner.events.store import EventStore, SinkRef
from bisect_runner.redact import redact, register_secret

if TYPE_CHECKING:
    from bisect_runner.github import GitHubClient

RETRY_SCALE_ENV = "BISECT_RUNNER_RETRY_SCALE"  # multiplies every wait (tests set it near 0)
RETRY_AFTER_CAP_S = 60.0
MAX_ATTEMPTS = 4
SinkStatus = Literal["ok", "failed", "skipped"]

GITHUB_STATES = {"started": "in_progress", "success": "success", "failure": "failure", "cancelled": "error"}


@dataclass(frozen=True)
class SinkResult:
    sink: str
    status: SinkStatus
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"sink": self.sink, "status": self.status, "detail": self.detail}


@dataclass(frozen=True)
class Delivery:
    """What a sink did: the handle to keep for later updates and a line for the report."""

    ref: str | None
    detail: str


class SinkError(Exception):
    """A sink failed; `ref` keeps whatever it did create (a posted message, a deployment) so the
    next post updates it instead of creating another."""

    def __init__(self, message: str, ref: str | None = None) -> None:
        super().__init__(message)
        self.ref = ref


class Sink(Protocol):
    name: str

    def deliver(self, event: Event, previous: SinkRef | None) -> Delivery: ...


def retry_scale() -> float:
    raw = os.environ.get(RETRY_SCALE_ENV, "").strip()
    try:
        return max(float(raw), 0.0) if raw else 1.0
    except ValueError:
        return 1.0


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - utcnow()).total_seconds(), 0.0)


class HttpPoster:
    """POST JSON with the retry rules in the module docstring."""

    def __init__(self, *, timeout_s: float = 10.0, max_attempts: int = MAX_ATTEMPTS,
                 retry_after_cap_s: float = RETRY_AFTER_CAP_S, scale: float | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.retry_after_cap_s = retry_after_cap_s
        self.scale = retry_scale() if scale is None else scale
        self.sleep = sleep
        self.session = requests.Session()
        self.attempts = 0  # requests sent, retries included

    def post(self, url: str, body: Mapping[str, Any], *, what: str, idempotent: bool,
             headers: Mapping[str, str] | None = None) -> requests.Response:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        all_headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "bisect-runner",
                       **(headers or {})}
        for attempt in range(1, self.max_attempts + 1):
            last = attempt == self.max_attempts
            self.attempts += 1
            try:
                response = self.session.post(url, data=data, headers=all_headers, timeout=self.timeout_s)
            except requests.Timeout:
                if idempotent and not last:
                    self._backoff(attempt)
                    continue
                raise SinkError(f"{what} timed out after {self.timeout_s:g}s" + (
                    "" if idempotent else "; not retried because it may have been delivered: check, then rerun"
                )) from None
            except requests.RequestException as exc:
                # The URL is a secret for webhooks: name the error type, never str(exc).
                if idempotent and not last:
                    self._backoff(attempt)
                    continue
                raise SinkError(f"cannot reach {what} ({type(exc).__name__})") from None
            if response.status_code == 429:
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                wait = 1.0 if wait is None else wait
                if wait > self.retry_after_cap_s:
                    raise SinkError(f"{what} is rate limited and asked to wait {wait:.0f}s, more than the "
                                    f"{self.retry_after_cap_s:.0f}s we wait; rerun later (the store has the event)")
                if last:
                    raise SinkError(f"{what} is still rate limited (429) after {attempt} attempts; rerun later")
                if wait * self.scale > 0:
                    self.sleep(wait * self.scale)
                continue
            if response.status_code >= 500:
                if idempotent and not last:
                    self._backoff(attempt)
                    continue
                note = "" if idempotent else "; not retried because it may have been delivered: check, then rerun"
                raise SinkError(f"{what} answered HTTP {response.status_code}{note}")
            if response.status_code >= 400:
                raise SinkError(f"{what} answered HTTP {response.status_code}: {_snippet(response.text)}")
            return response
        raise SinkError(f"{what}: no answer after {self.max_attempts} attempts")  # pragma: no cover

    def close(self) -> None:
        self.session.close()

    def _backoff(self, attempt: int) -> None:
        wait = min(0.5 * 2 ** (attempt - 1), 8.0) * self.scale
        if wait > 0:
            self.sleep(wait)


def _snippet(text: str) -> str:
    return redact(" ".join(text.split()))[:200] or "(empty body)"


def event_digest(event: Event) -> str:
    data = event.to_dict()
    data.pop("recorded_at", None)
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode("utf-8")).hexdigest()


# Slack ---------------------------------------------------------------------------------------


class SlackWebhookSink:
    """An incoming webhook: one message per post. Webhooks cannot edit a message, so a status
    change is a new message (use SLACK_BOT_TOKEN for update-in-place); an identical repost is
    skipped by fan_out."""

    name = "slack"

    def __init__(self, url: str, poster: HttpPoster) -> None:
        register_secret(url)
        self.url = url
        self.poster = poster

    def deliver(self, event: Event, previous: SinkRef | None) -> Delivery:
        payload = slack.message(event)
        self.poster.post(self.url, payload, what="the Slack incoming webhook", idempotent=False)
        return Delivery(ref=None, detail="posted to the Slack incoming webhook"
                        + (" (a new message: webhooks cannot edit)" if previous else ""))


class SlackApiSink:
    """The Slack Web API: chat.postMessage once per event id, a thread reply with its details,
    then chat.update of that same message for every later status."""

    name = "slack"

    def __init__(self, token: str, channel: str, api_url: str, poster: HttpPoster) -> None:
        register_secret(token)
        self.token = token
        self.channel = channel
        self.api_url = api_url.rstrip("/")
        self.poster = poster

    def _call(self, method: str, body: Mapping[str, Any], *, idempotent: bool) -> dict[str, Any]:
        response = self.poster.post(f"{self.api_url}/{method}", body, what=f"Slack {method}", idempotent=idempotent,
                                    headers={"Authorization": f"Bearer {self.token}"})
        try:
            data = response.json()
        except ValueError:
            raise SinkError(f"Slack {method} answered something that is not JSON: {_snippet(response.text)}") \
                from None
        if not isinstance(data, dict):
            raise SinkError(f"Slack {method} answered unexpected JSON")
        if not data.get("ok"):
            error = str(data.get("error") or "unknown_error")
            raise SlackApiError(method, error)
        return data

    def deliver(self, event: Event, previous: SinkRef | None) -> Delivery:
        payload = slack.message(event)
        if previous and previous.ref and ":" in previous.ref:
            channel, ts = previous.ref.split(":", 1)
            try:
                self._call("chat.update", {"channel": channel, "ts": ts, **payload}, idempotent=True)
                return Delivery(ref=previous.ref, detail=f"updated Slack message {ts} in {channel}")
            except SlackApiError as exc:
                if exc.error not in ("message_not_found", "cant_update_message", "edit_window_closed"):
                    raise SinkError(str(exc), ref=previous.ref) from None
                # The message is gone or too old to edit: post a new one below.
        data = self._call("chat.postMessage", {"channel": self.channel, **payload}, idempotent=False)
        channel, ts = str(data.get("channel") or self.channel), str(data.get("ts") or "")
        ref = f"{channel}:{ts}"
        details = slack.thread_details(event)
        if details is not None:
            try:
                self._call("chat.postMessage", {"channel": channel, "thread_ts": ts, **details}, idempotent=False)
            except (SinkError, SlackApiError) as exc:
                raise SinkError(f"posted Slack message {ts} in {channel}, but its thread reply failed: {exc}",
                                ref=ref) from None
        return Delivery(ref=ref, detail=f"posted Slack message {ts} in {channel}"
                        + (" with details in a thread" if details else ""))


class SlackApiError(SinkError):
    _HINTS = {
        "invalid_auth": "check SLACK_BOT_TOKEN",
        "not_authed": "check SLACK_BOT_TOKEN",
        "token_revoked": "SLACK_BOT_TOKEN was revoked; issue a new one",
        "channel_not_found": "check the channel (--slack-channel, SLACK_CHANNEL or events.slack.channel)",
        "not_in_channel": "invite the bot to the channel (/invite @your-bot)",
        "missing_scope": "the token needs the chat:write scope",
        "invalid_blocks": "the message was rejected as invalid blocks (a bug: please report it)",
    }

    def __init__(self, method: str, error: str) -> None:
        hint = self._HINTS.get(error)
        super().__init__(f"Slack {method} failed: {error}" + (f"; {hint}" if hint else ""))
        self.method = method
        self.error = error


# generic webhook -----------------------------------------------------------------------------


class WebhookSink:
    """The event as JSON (`{"event": {...}}`) to BISECT_RUNNER_WEBHOOK_URL with an
    `Idempotency-Key` of event id + content digest, so receivers can drop repeats and we can
    retry 5xx and timeouts safely."""

    name = "webhook"

    def __init__(self, url: str, poster: HttpPoster) -> None:
        register_secret(url)
        self.url = url
        self.poster = poster

    def deliver(self, event: Event, previous: SinkRef | None) -> Delivery:
        key = f"{event.id}:{event_digest(event)[:16]}"
        self.poster.post(self.url, {"event": event.to_dict()}, what="the event webhook", idempotent=True,
                         headers={"Idempotency-Key": key, "X-Bisect-Runner-Event": event.id})
        return Delivery(ref=None, detail=f"sent to the event webhook (Idempotency-Key {key})")


# GitHub Deployments --------------------------------------------------------------------------


class GitHubDeploymentSink:
    """One GitHub deployment per deploy event, and a deployment status per status change."""

    name = "github"

    def __init__(self, client: GitHubClient, *, production: bool, transient: bool) -> None:
        self.client = client
        self.production = production
        self.transient = transient

    def deliver(self, event: Event, previous: SinkRef | None) -> Delivery:
        if previous and previous.ref and previous.ref.isdigit():
            deployment_id = int(previous.ref)
            created = False
        else:
            assert event.sha  # fan_out skips deploys without a sha
            deployment_id = self.client.create_deployment(
                event.sha, event.env, description=(event.summary or event.title())[:140],
                payload={"event_id": event.id, "kind": event.kind, "service": event.service,
                         "version": event.version or ""},
                transient_environment=self.transient, production_environment=self.production,
            )
            created = True
        state = GITHUB_STATES[event.status]
        try:
            self.client.create_deployment_status(
                deployment_id, state, environment_url=event.environment_url, log_url=event.log_url,
                description=f"{event.title()}: {event.status}"[:140],
            )
        except BisectRunnerError as exc:
            raise SinkError(f"deployment {deployment_id}: setting status {state} failed: {exc}",
                            ref=str(deployment_id)) from None
        what = "created deployment" if created else "updated deployment"
        return Delivery(ref=str(deployment_id),
                        detail=f"{what} {deployment_id} in {self.client.repository}: {state}")

    @staticmethod
    def applies(event: Event) -> str | None:
        """None when the sink applies to the event, else why it is skipped."""
        if not event.is_deploy:
            return f"a {event.kind} event is not a GitHub deployment"
        if not event.sha:
            return "no --sha to deploy"
        return None


# fan-out -------------------------------------------------------------------------------------


def close_sinks(sinks: Sequence[Sink]) -> None:
    """Release the HTTP connections the sinks hold (the GitHub client is closed by its owner)."""
    for sink in sinks:
        poster = getattr(sink, "poster", None)
        if isinstance(poster, HttpPoster):
            poster.close()


def fan_out(store: EventStore, event: Event, sinks: Sequence[Sink]) -> list[SinkResult]:
    """Deliver the stored event to every sink; one sink's failure never stops the others."""
    digest = event_digest(event)
    results: list[SinkResult] = []
    for sink in sinks:
        if isinstance(sink, GitHubDeploymentSink):
            reason = GitHubDeploymentSink.applies(event)
            if reason:
                results.append(SinkResult(sink.name, "skipped", reason))
                continue
        previous = store.sink_ref(event.id, sink.name)
        if previous is not None and previous.digest == digest:
            results.append(SinkResult(sink.name, "skipped", "already delivered with the same content"))
            continue
        try:
            delivery = sink.deliver(event, previous)
        except SinkError as exc:
            if exc.ref is not None:
                store.set_sink_ref(event.id, sink.name, exc.ref, None)
            results.append(SinkResult(sink.name, "failed", redact(str(exc))))
            continue
        except BisectRunnerError as exc:
            results.append(SinkResult(sink.name, "failed", redact(str(exc))))
            continue
        except Exception as exc:  # a bug in one sink must not cost the others
            results.append(SinkResult(sink.name, "failed",
                                      redact(f"unexpected {type(exc).__name__}: {exc}")))
            continue
        store.set_sink_ref(event.id, sink.name, delivery.ref, digest)
        results.append(SinkResult(sink.name, "ok", redact(delivery.detail)))
    return results
