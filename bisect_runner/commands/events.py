"""`bisect-runner events post` and `bisect-runner events list`: record every change, then query
the record by time."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bisect_runner.cli import EXIT_FAILED, EXIT_OK, Context, add_subcommand, positive_int, repo_root

if TYPE_CHECKING:
    from bisect_runner.events.model import Event
    from bisect_runner.github import GitHubClient

POST_DESCRIPTION = """\
Record one change (deploy, rollback, config, flag, migration, infra, cron) in the local event
store, then send it to every configured sink:

  store    SQLite at .bisect-runner/events.db in the repo (--store, BISECT_RUNNER_STORE or
           events.store move it). Always written first; if it fails, nothing else runs (exit 2).
  slack    SLACK_BOT_TOKEN + a channel (--slack-channel, SLACK_CHANNEL, events.slack.channel):
           chat.postMessage, details in a thread, then chat.update of the same message when the
           same event id changes status. Or SLACK_WEBHOOK_URL (incoming webhook: a new message per
           status). BISECT_RUNNER_SLACK_API_URL or events.slack.api_url point at another API root.
  github   a deployment and its statuses, when GITHUB_TOKEN and a repository (--github,
           GITHUB_REPOSITORY, github.repository) are set; deploy and rollback events with a --sha.
  webhook  the event as JSON ({"event": {...}}) to BISECT_RUNNER_WEBHOOK_URL, with an
           Idempotency-Key header.

Posting the same --id again updates the stored event, the Slack message and the GitHub
deployment (a new status), never a second one; an identical repost is skipped by every sink.
Default id: in GitHub Actions gh-RUN_ID-RUN_ATTEMPT-KIND-SERVICE-ENV; elsewhere a hash of kind,
service, env, version, sha and --at (so pass --id or --at to update an event later). In GitHub
Actions --actor, --sha and the run URL default to the run's. A deploy of a version deployed
before (other than the running one) is recorded as a rollback.

Times (--at): now (default), ISO 8601 with or without a zone (no zone means UTC), 14:47 (UTC).

Exit codes: 0 stored and every configured sink succeeded; 1 stored, but a sink failed (the
report says which; rerun the same post to retry without duplicates); 2 bad input, nothing
posted; 3 unexpected error.
"""

LIST_DESCRIPTION = """\
List stored events, newest first, filtered by service, env, kind, status and time.
--since/--until take a duration back from now (90m, 2h, 1d) or a time (ISO 8601, 14:47; UTC).
"""


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    events = subparsers.add_parser("events", help="post change events and list them",
                                   description="Post change events (deploys, flags, config...) and list them.")
    nested = events.add_subparsers(dest="events_command", metavar="SUBCOMMAND", required=True)

    post = add_subcommand(nested, common, "post", "record a change and send it to Slack, GitHub and webhooks",
                          handle_post, description=POST_DESCRIPTION)
    post.add_argument("--kind", required=True, help="deploy | rollback | config | flag | migration | infra | cron")
    post.add_argument("--service", help="the service that changed (default: events.service in config)")
    post.add_argument("--env", help="the environment, e.g. production (default: events.env in config)")
    post.add_argument("--version", help="the version deployed, e.g. v2.46.0")
    post.add_argument("--sha", help="the commit deployed (in GitHub Actions: GITHUB_SHA)")
    post.add_argument("--status", default="success", help="started | success | failure | cancelled (default success)")
    post.add_argument("--actor", help="who made the change (in GitHub Actions: GITHUB_ACTOR)")
    post.add_argument("--summary", help="one line on what changed")
    post.add_argument("--prev-value", help="the value before (config and flag changes)")
    post.add_argument("--new-value", help="the value after (config and flag changes)")
    post.add_argument("--url", action="append", default=[], metavar="URL",
                      help="a link for the event (repeatable; the first is the environment URL)")
    post.add_argument("--id", dest="event_id", metavar="ID", help="idempotency key (default: see above)")
    post.add_argument("--at", help="when it happened (default now)")
    post.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="a tag (repeatable)")
    post.add_argument("--store", metavar="PATH", help="the SQLite event store")
    post.add_argument("--slack-channel", metavar="CHANNEL", help="channel for SLACK_BOT_TOKEN")
    post.add_argument("--github", metavar="OWNER/REPO", help="repository for GitHub deployments and PR titles")
    post.add_argument("--transient", action="store_true",
                      help="mark the GitHub deployment environment transient (e.g. a review app)")
    post.add_argument("--no-slack", action="store_true", help="do not post to Slack")
    post.add_argument("--no-github", action="store_true", help="do not create a GitHub deployment")
    post.add_argument("--no-webhook", action="store_true", help="do not call the generic webhook")

    listing = add_subcommand(nested, common, "list", "list stored events", handle_list,
                             description=LIST_DESCRIPTION)
    listing.add_argument("--service", help="only this service")
    listing.add_argument("--env", help="only this environment")
    listing.add_argument("--kind", action="append", default=[], help="only this kind (repeatable)")
    listing.add_argument("--status", action="append", default=[], help="only this status (repeatable)")
    listing.add_argument("--since", help="from (a duration back from now like 2h, or a time)")
    listing.add_argument("--until", help="to (a duration back from now, or a time; default now)")
    listing.add_argument("--limit", type=positive_int, default=50, help="at most N events (default 50)")
    listing.add_argument("--store", metavar="PATH", help="the SQLite event store")


def git_repo_or_none(path: Path) -> Any:
    """A GitRepo for `path`, or None when it is not a clone (events work without git)."""
    from bisect_runner.errors import UserError
    from bisect_runner.gitrepo import GitRepo

    try:
        return GitRepo(path)
    except UserError:
        return None


def handle_post(args: argparse.Namespace, ctx: Context) -> int:
    from bisect_runner.events.model import parse_tags
    from bisect_runner.events.post import build_sinks, post_event
    from bisect_runner.events.sinks import close_sinks
    from bisect_runner.events.store import store_path

    config = ctx.config
    tags = parse_tags(args.tag)
    service = args.service or config.events.service
    env = args.env or config.events.env
    github = _github_client(args, config) if not args.no_github else None
    sinks: list[Any] = []
    try:
        sinks, skipped = build_sinks(
            config, slack_channel=args.slack_channel, github_repository=args.github, use_slack=not args.no_slack,
            use_github=not args.no_github, use_webhook=not args.no_webhook, transient=args.transient,
            env_name=(env or ""), github=github,
        )
        repo = git_repo_or_none(ctx.repo_path)
        result = post_event(
            store_path(args.store, config, repo_root(ctx.repo_path)), kind=args.kind, service=service, env=env,
            status=args.status, version=args.version, sha=args.sha, actor=args.actor, at=args.at,
            summary=args.summary, prev_value=args.prev_value, new_value=args.new_value, urls=args.url, tags=tags,
            event_id=args.event_id, repo=repo.root if repo is not None else None, sinks=sinks, skipped=skipped,
            github=github,
        )
    finally:
        close_sinks(sinks)
        if github is not None:
            github.close()
    ctx.emit(result)
    return EXIT_FAILED if result.failed else EXIT_OK


def _github_client(args: argparse.Namespace, config: Any) -> GitHubClient | None:
    """A GitHub client when a token and a repository are configured (deployments, PR titles)."""
    token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN")
    repository = args.github or os.environ.get("GITHUB_REPOSITORY") or config.github.repository
    if not (token and repository):
        return None
    from bisect_runner.github import GitHubClient

    return GitHubClient.from_env(args.github, config.github)


@dataclass
class EventList:
    events: list[Event]
    store: str
    limit: int

    def to_dict(self) -> dict[str, Any]:
        return {"store": self.store, "count": len(self.events), "limit": self.limit,
                "events": [e.to_dict() for e in self.events]}

    def _rows(self) -> list[list[Any]]:
        from bisect_runner.events.model import iso

        return [[iso(e.at), e.kind, e.service, e.env, e.version or "", e.status, e.actor or "",
                 e.summary or (f"{e.prev_value} → {e.new_value}" if e.new_value is not None else ""), e.id]
                for e in self.events]

    def to_text(self) -> str:
        from bisect_runner.render import plural, text_table

        if not self.events:
            return "no events match; check the filters (or --since) and --store"
        table = text_table(["At (UTC)", "Kind", "Service", "Env", "Version", "Status", "Actor", "Summary", "Id"],
                           self._rows(), max_width=40)
        more = f" (--limit {self.limit} reached; narrow with --since/--service)" if len(self.events) >= self.limit else ""
        return f"{table}\n{plural(len(self.events), 'event')}, newest first{more}"

    def to_markdown(self) -> str:
        from bisect_runner.render import md_escape, md_table

        rows = [[md_escape(str(c)) for c in row] for row in self._rows()]
        return "### Events\n\n" + md_table(["At (UTC)", "Kind", "Service", "Env", "Version", "Status", "Actor",
                                             "Summary", "Id"], rows)


def list_events(store_file: str | Path, *, service: str | None = None, env: str | None = None,
                kinds: Sequence[str] = (), statuses: Sequence[str] = (),
                since: datetime | None = None, until: datetime | None = None, limit: int = 50) -> EventList:
    from bisect_runner.events.store import EventStore

    with EventStore.open_existing(store_file) as store:
        events = store.query(service=service, env=env, kinds=kinds, statuses=statuses, since=since,
                             until=until, limit=limit, newest_first=True)
        return EventList(events=events, store=str(store.path), limit=limit)


def handle_list(args: argparse.Namespace, ctx: Context) -> int:
    from bisect_runner.events.model import check_kind, check_status, parse_since, utcnow
    from bisect_runner.events.store import store_path

    now = utcnow()
    kinds = [check_kind(k) for k in args.kind]
    statuses = [check_status(s) for s in args.status]
    since = parse_since(args.since, now) if args.since else None
    until = parse_since(args.until, now, option="--until") if args.until else None
    path = store_path(args.store, ctx.config, repo_root(ctx.repo_path))
    ctx.emit(list_events(path, service=args.service, env=args.env, kinds=kinds, statuses=statuses, since=since,
                         until=until, limit=args.limit))
    return EXIT_OK
