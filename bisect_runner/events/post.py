"""Posting an event: validate, fill from the store (previous deploy, rollback detection) and from
git (the PRs shipped), store it first, then fan out to the configured sinks.

`post_event` is the one entry point: the `events post` command calls it with sinks built from the
environment and config (`configured_sinks`), and the demo calls it directly with no sinks.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bisect_runner import actions
from bisect_runner.config import Config
from bisect_runner.errors import BisectRunnerError, UserError
from bisect_runner.events.changes import deploy_changes, github_prs
from bisect_runner.events.model import (
    Event,
    check_id,
    check_kind,
    check_status,
    default_event_id,
    iso,
    new_event,
    parse_time,
    utcnow,
)
from bisect_runner.events.sinks import (
    GitHubDeploymentSink,
    HttpPoster,
    Sink,
    SinkResult,
    SlackApiSink,
    SlackWebhookSink,
    WebhookSink,
    fan_out,
)
from bisect_runner.events.store import EventStore, SaveAction
from bisect_runner.render import md_escape, md_table, progress

if TYPE_CHECKING:
    from bisect_runner.github import GitHubClient

SLACK_API_ENV = "BISECT_RUNNER_SLACK_API_URL"
WEBHOOK_ENV = "BISECT_RUNNER_WEBHOOK_URL"


@dataclass
class PostResult:
    """The report of `events post`: the stored event, what the store did, and each sink."""

    event: Event
    action: SaveAction
    store: str
    sinks: list[SinkResult] = field(default_factory=list)

    @property
    def failed(self) -> list[SinkResult]:
        return [s for s in self.sinks if s.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {"event": self.event.to_dict(), "action": self.action, "store": self.store,
                "sinks": [s.to_dict() for s in self.sinks], "ok": not self.failed}

    def action_outputs(self) -> dict[str, str]:
        return {"event-id": self.event.id, "status": self.event.status}

    def to_text(self) -> str:
        e = self.event
        lines = [f"{self.action} {e.title()}: {e.status} at {iso(e.at)}", f"  id:    {e.id}", f"  store: {self.store}"]
        if e.prev_version or e.prev_sha:
            lines.append(f"  previous: {e.prev_version or '-'} ({(e.prev_sha or '')[:10] or '-'})")
        if e.prs:
            lines.append(f"  PRs:   {', '.join(f'#{p.number}' for p in e.prs[:20])}"
                         + (f" (+{len(e.prs) - 20} more)" if len(e.prs) > 20 else ""))
        for sink in self.sinks:
            lines.append(f"  {sink.sink + ':':8} {sink.status}: {sink.detail}")
        if self.failed:
            lines.append(f"{len(self.failed)} sink(s) failed; the event is stored: rerun the same post "
                         "(same --id) to retry them without duplicates")
        return "\n".join(lines)

    def to_markdown(self) -> str:
        e = self.event
        out = [f"### Event {md_escape(e.title())}: {e.status}", "",
               f"`{e.id}` at {iso(e.at)} ({self.action} in the store)", ""]
        if e.prs:
            out += [f"PRs: {', '.join(f'#{p.number}' for p in e.prs)}", ""]
        if self.sinks:
            out.append(md_table(["Sink", "Result", "Detail"],
                                [[s.sink, s.status, md_escape(s.detail)] for s in self.sinks]))
        return "\n".join(out)


def build_sinks(config: Config, *, environ: Mapping[str, str] | None = None, slack_channel: str | None = None,
                github_repository: str | None = None, use_slack: bool = True, use_github: bool = True,
                use_webhook: bool = True, transient: bool = False, env_name: str = "",
                github: GitHubClient | None = None) -> tuple[list[Sink], list[SinkResult]]:
    """The sinks configured by the environment and config, and a 'skipped' line for each sink
    that is not. A sink that is half configured (a bot token without a channel) is a UserError,
    raised before anything is stored."""
    environ = os.environ if environ is None else environ
    sinks: list[Sink] = []
    skipped: list[SinkResult] = []
    timeout = config.events.slack.timeout_s
    webhook_url = environ.get("SLACK_WEBHOOK_URL", "").strip()
    bot_token = environ.get("SLACK_BOT_TOKEN", "").strip()
    if not use_slack:
        skipped.append(SinkResult("slack", "skipped", "--no-slack"))
    elif bot_token:
        channel = slack_channel or environ.get("SLACK_CHANNEL", "").strip() or config.events.slack.channel
        if not channel:
            raise UserError("SLACK_BOT_TOKEN is set but no channel: pass --slack-channel, set SLACK_CHANNEL "
                            "or events.slack.channel in .bisect-runner.yml")
        api_url = environ.get(SLACK_API_ENV, "").strip() or config.events.slack.api_url
        sinks.append(SlackApiSink(bot_token, channel, api_url, HttpPoster(timeout_s=timeout)))
    elif webhook_url:
        if not webhook_url.startswith(("https://", "http://")):
            raise UserError("SLACK_WEBHOOK_URL is not an http(s) URL; set it to the incoming webhook's URL")
        sinks.append(SlackWebhookSink(webhook_url, HttpPoster(timeout_s=timeout)))
    else:
        skipped.append(SinkResult("slack", "skipped", "SLACK_WEBHOOK_URL / SLACK_BOT_TOKEN not set"))

    if not use_github:
        skipped.append(SinkResult("github", "skipped", "--no-github"))
    elif github is not None:
        sinks.append(GitHubDeploymentSink(github, production=env_name in config.events.production_envs,
                                          transient=transient))
    else:
        token = environ.get("GITHUB_TOKEN") or environ.get("GH_TOKEN")
        repository = github_repository or environ.get("GITHUB_REPOSITORY") or config.github.repository
        if token and repository:
            from bisect_runner.github import GitHubClient

            client = GitHubClient.from_env(repository, config.github)
            sinks.append(GitHubDeploymentSink(client, production=env_name in config.events.production_envs,
                                              transient=transient))
        else:
            missing = "GITHUB_TOKEN" if not token else "a repository (--github OWNER/REPO or GITHUB_REPOSITORY)"
            skipped.append(SinkResult("github", "skipped", f"no {missing}"))

    hook = environ.get(WEBHOOK_ENV, "").strip()
    if not use_webhook:
        skipped.append(SinkResult("webhook", "skipped", "--no-webhook"))
    elif hook:
        if not hook.startswith(("https://", "http://")):
            raise UserError(f"{WEBHOOK_ENV} is not an http(s) URL")
        sinks.append(WebhookSink(hook, HttpPoster(timeout_s=timeout)))
    else:
        skipped.append(SinkResult("webhook", "skipped", f"{WEBHOOK_ENV} not set"))
    return sinks, skipped


def post_event(
    store_path: str | Path,
    *,
    kind: str,
    service: str | None,
    env: str | None,
    status: str = "success",
    version: str | None = None,
    sha: str | None = None,
    actor: str | None = None,
    at: datetime | str | None = None,
    summary: str | None = None,
    prev_value: str | None = None,
    new_value: str | None = None,
    urls: Sequence[str] = (),
    tags: Mapping[str, str] | None = None,
    event_id: str | None = None,
    log_url: str | None = None,
    repo: str | Path | None = None,
    sinks: Sequence[Sink] = (),
    skipped: Sequence[SinkResult] = (),
    github: GitHubClient | None = None,
    environ: Mapping[str, str] | None = None,
) -> PostResult:
    """Validate, store (first; its failure raises) and fan out one event.

    `at` is a datetime or text as `--at` takes it (default now). In GitHub Actions (or with
    `environ` saying so) actor, sha and log_url default to the run's. `repo` is a git clone used
    to list the PRs since the previous deploy (skipped when it is not one); `github` adds GitHub's
    PR titles. Raises UserError (exit 2) for bad input before anything is written.
    """
    environ = os.environ if environ is None else environ
    checked_kind = check_kind(kind)
    checked_status = check_status(status)
    service = (service or "").strip()
    env = (env or "").strip()
    if not service:
        raise UserError("missing --service: name the service that changed (or set events.service in config)")
    if not env:
        raise UserError("missing --env: name the environment, e.g. production (or set events.env in config)")
    when = parse_time(at) if isinstance(at, str) else (at or utcnow())
    in_ci = environ.get("GITHUB_ACTIONS") == "true"
    if in_ci:
        actor = actor or environ.get("GITHUB_ACTOR") or None
        sha = sha or environ.get("GITHUB_SHA") or None
        log_url = log_url or actions.run_url()
    if sha is not None and not sha.strip():
        sha = None
    event_id = check_id(event_id.strip()) if event_id and event_id.strip() else default_event_id(
        checked_kind, service, env, version, sha, when, environ)
    for url in urls:
        if not url.startswith(("http://", "https://")):
            raise UserError(f"--url {url!r} is not an http(s) URL")

    with EventStore.open(store_path) as store:
        existing = store.get(event_id)
        event = new_event(
            event_id=event_id, kind=checked_kind, service=service, env=env, status=checked_status, at=when,
            version=version or None, sha=sha, actor=actor or None, summary=summary or None,
            prev_value=prev_value, new_value=new_value, urls=tuple(dict.fromkeys(urls)), log_url=log_url,
            tags=dict(tags or {}),
        )
        if existing is not None:
            event = replace(event, kind=existing.kind if existing.kind == "rollback" and event.kind == "deploy"
                            else event.kind)
        if event.is_deploy:
            event = _with_history(store, event, existing, repo, github)
        stored, action = store.save(event)
        results = list(skipped) + fan_out(store, stored, sinks)
        return PostResult(event=stored, action=action, store=str(store.path), sinks=_ordered(results))


def _ordered(results: list[SinkResult]) -> list[SinkResult]:
    order = {"slack": 0, "github": 1, "webhook": 2}
    return sorted(results, key=lambda r: order.get(r.sink, 9))


def _with_history(store: EventStore, event: Event, existing: Event | None, repo: str | Path | None,
                  github: GitHubClient | None) -> Event:
    """Fill prev_version/prev_sha from the store, mark a return to an earlier version as a
    rollback, and list the PRs between the previous deploy and this one."""
    effective_at = existing.started_at or existing.at if existing else event.at
    previous = store.previous_deploy(event.service, event.env, effective_at, exclude_id=event.id)
    if previous is not None:
        event = replace(event, prev_version=previous.version, prev_sha=previous.sha)
        # Back to a version deployed before, other than the one running: a rollback.
        if (event.kind == "deploy" and event.version and previous.version != event.version
                and store.deployed_before(event.service, event.env, event.version, effective_at,
                                          exclude_id=event.id)):
            event = replace(event, kind="rollback")
    if repo is None or previous is None or not event.sha or not previous.sha:
        return event
    if existing is not None and existing.prs and existing.sha == event.sha and existing.prev_sha == previous.sha:
        return event  # already listed when this event was first posted
    try:
        from bisect_runner.gitrepo import GitRepo

        changes = deploy_changes(GitRepo(repo), previous.sha, event.sha)
    except BisectRunnerError as exc:
        progress(f"bisect-runner: cannot list the PRs of this deploy from git ({exc})")
        return event
    if changes is None:
        return event
    prs = github_prs(changes, github) if github is not None else changes.prs
    return replace(event, prs=prs)
