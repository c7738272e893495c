"""Slack messages for events: pure builders, no HTTP (sinks.py sends them).

Every payload is a dict for a JSON serialiser, within Slack's limits: a `text` fallback (what
notifications and screen readers show), at most 50 blocks, at most 3000 characters of section
text, user text escaped for mrkdwn (&, <, >), and one fixed `key=value` line that other tools
can parse back with `parse_kv_line`:

    bisect-runner: id=gh-1-1-deploy-checkout-production kind=deploy service=checkout env=production version=v2.46.0 sha=4f2a... status=success

Every key is always present (`-` when empty); values are percent-encoded where they hold
whitespace, `=`, `%` or the mrkdwn specials, so the line splits on spaces and `=`.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from bisect_runner.events.model import Event, iso

MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_FIELD_CHARS = 2000
MAX_FIELDS = 10
KV_PREFIX = "bisect-runner:"
KV_KEYS = ("id", "kind", "service", "env", "version", "sha", "status")

_KIND_EMOJI = {"deploy": ":rocket:", "rollback": ":rewind:", "config": ":gear:", "flag": ":triangular_flag_on_post:",
               "migration": ":card_file_box:", "infra": ":building_construction:", "cron": ":alarm_clock:"}
_STATUS_EMOJI = {"started": ":hourglass_flowing_sand:", "success": ":white_check_mark:", "failure": ":x:",
                 "cancelled": ":no_entry_sign:"}


def escape(text: str) -> str:
    """Escape user text for mrkdwn: Slack reads &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """A mrkdwn link, or the escaped label alone when the URL could break the markup."""
    if not url.startswith(("http://", "https://")) or any(c in url for c in "<>| \n"):
        return escape(label)
    return f"<{url.replace('&', '&amp;')}|{escape(label).replace('|', '¦')}>"


def clip(text: str, limit: int = MAX_SECTION_CHARS) -> str:
    """Cut to `limit` characters without splitting an escape (&amp;) or a link (<url|label>)."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    cut = re.sub(r"&[a-z]{0,3}$", "", cut)
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    return cut + "…"


def _kv_value(value: str | None) -> str:
    if value is None or value == "":
        return "-"
    return urllib.parse.quote(value, safe="!#$'()*+,-./:;?@[]^_{|}~")


def kv_line(event: Event) -> str:
    """The fixed machine-readable line (see the module docstring)."""
    values = {"id": event.id, "kind": event.kind, "service": event.service, "env": event.env,
              "version": event.version, "sha": event.sha, "status": event.status}
    return KV_PREFIX + " " + " ".join(f"{k}={_kv_value(values[k])}" for k in KV_KEYS)


def parse_kv_line(text: str) -> dict[str, str | None] | None:
    """Find the bisect-runner line in a message's text and decode it; None when absent."""
    for line in text.splitlines():
        line = line.strip().strip("`")
        if not line.startswith(KV_PREFIX):
            continue
        result: dict[str, str | None] = {}
        for part in line[len(KV_PREFIX):].split():
            key, _, value = part.partition("=")
            result[key] = None if value == "-" else urllib.parse.unquote(value)
        return result
    return None


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text)}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text)}]}


def headline(event: Event) -> str:
    what = event.version or (event.sha[:10] if event.sha else "")
    kind = event.kind.capitalize()
    if event.is_deploy:
        core = f"*{kind}* `{escape(event.service)}` {escape(what)} → *{escape(event.env)}*"
    else:
        core = f"*{kind}* `{escape(event.service)}` on *{escape(event.env)}*"
    return f"{_KIND_EMOJI.get(event.kind, '')} {core}: {_STATUS_EMOJI.get(event.status, '')} *{event.status}*".strip()


def fallback_text(event: Event) -> str:
    return f"{escape(event.title())}: {event.status}\n{kv_line(event)}"


def message(event: Event) -> dict[str, Any]:
    """The channel message for an event (updated in place as its status changes)."""
    lines = [headline(event)]
    if event.summary:
        lines.append(escape(event.summary))
    if event.prev_value is not None or event.new_value is not None:
        lines.append(f"`{escape(event.prev_value or '∅')}` → `{escape(event.new_value or '∅')}`")
    blocks: list[dict[str, Any]] = [_section("\n".join(lines))]
    fields: list[str] = []
    if event.actor:
        fields.append(f"*By*\n{escape(event.actor)}")
    if event.is_deploy and (event.prev_version or event.prev_sha):
        fields.append(f"*Previous*\n{escape(event.prev_version or (event.prev_sha or '')[:10])}")
    if event.sha:
        fields.append(f"*Commit*\n`{escape(event.sha[:12])}`")
    if event.started_at:
        fields.append(f"*Started*\n{iso(event.started_at)}")
    if event.finished_at:
        fields.append(f"*Finished*\n{iso(event.finished_at)}")
    if event.prs:
        fields.append(f"*PRs*\n{len(event.prs)} (list in thread)")
    if fields:
        blocks.append({"type": "section",
                       "fields": [{"type": "mrkdwn", "text": clip(f, MAX_FIELD_CHARS)} for f in fields[:MAX_FIELDS]]})
    links = [link(url, "environment" if i == 0 else f"link {i}") for i, url in enumerate(event.urls[:5])]
    if event.log_url:
        links.append(link(event.log_url, "CI run"))
    if links:
        blocks.append(_context(" · ".join(links)))
    blocks.append(_context(f"`{kv_line(event)}`"))
    return {"text": clip(fallback_text(event), 4000), "blocks": blocks, "unfurl_links": False}


def thread_details(event: Event) -> dict[str, Any] | None:
    """The thread reply with what the change contains (its PRs, links, tags); None when there is
    nothing more to say than the message itself."""
    lines: list[str] = []
    verb = "takes back" if event.kind == "rollback" else "ships"
    if event.prs:
        span = f" ({escape(event.prev_version or (event.prev_sha or '')[:10])} → " \
               f"{escape(event.version or (event.sha or '')[:10])})"
        lines.append(f"*This {event.kind} {verb} {len(event.prs)} PR{'s' if len(event.prs) != 1 else ''}*{span}")
        for pr in event.prs:
            label = f"#{pr.number}"
            ref = link(pr.url, label) if pr.url else label
            author = f" — {escape(pr.author)}" if pr.author else ""
            lines.append(f"• {ref} {escape(pr.title)}{author}")
    if event.tags:
        lines.append("*Tags* " + ", ".join(f"`{escape(k)}={escape(v)}`" for k, v in sorted(event.tags.items())))
    if len(event.urls) > 1:
        lines.append("*Links* " + " · ".join(link(u, u) for u in event.urls))
    if not lines:
        return None
    blocks = _chunk_sections(lines)
    return {"text": clip(f"Details of {escape(event.title())}", 4000), "blocks": blocks, "unfurl_links": False}


def _chunk_sections(lines: list[str]) -> list[dict[str, Any]]:
    """Pack lines into sections of at most 3000 characters and at most 50 blocks; what does not
    fit is counted in a last context block."""
    chunks: list[list[str]] = [[]]
    size = 0
    for line in lines:
        line = clip(line, MAX_SECTION_CHARS - 10)
        if chunks[-1] and size + len(line) + 1 > MAX_SECTION_CHARS - 10:
            chunks.append([])
            size = 0
        chunks[-1].append(line)
        size += len(line) + 1
    blocks = [_section("\n".join(chunk)) for chunk in chunks[: MAX_BLOCKS - 1]]
    left = sum(len(chunk) for chunk in chunks[MAX_BLOCKS - 1:])
    if left:
        blocks.append(_context(f"…and {left} more line{'s' if left != 1 else ''} (see `bisect-runner what-changed`)"))
    return blocks
