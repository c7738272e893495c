"""`bisect --report-issue N|new`: the bisect's progress and result on a GitHub issue.

With an issue number, one sticky comment (found by a hidden marker naming the range, so a second
bisect on the same incident gets its own comment) is updated after every round and then with the
result; GitHub shows the incident's responders where the search stands without anyone watching
the CI log. With `new`, an issue is opened with the result. A GitHub failure while reporting
progress never stops the bisect: it is warned about once and the final report tries again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from bisect_runner import actions
from bisect_runner.errors import BisectRunnerError, UserError
from bisect_runner.github import GitHubClient


class BisectSummary(Protocol):
    """What the reporter needs of bisect.report.BisectReport."""

    @property
    def good(self) -> str: ...

    @property
    def bad(self) -> str: ...

    @property
    def good_ref(self) -> str: ...

    @property
    def bad_ref(self) -> str: ...

    def headline(self) -> str: ...

    def to_markdown(self) -> str: ...


def parse_report_issue(value: str) -> int | None:
    """`N` -> N, `new` -> None; anything else is a usage error."""
    text = value.strip().lstrip("#")
    if text.lower() == "new":
        return None
    if text.isdigit() and int(text) > 0:
        return int(text)
    raise UserError(f"--report-issue {value!r}: pass an issue number (e.g. 123) or 'new'")


def marker_for(report: BisectSummary) -> str:
    return f"<!-- bisect-runner:bisect {report.good[:12]}..{report.bad[:12]} -->"


@dataclass
class IssueLink:
    number: int
    url: str
    comment_id: int | None = None


class IssueReporter:
    """Keeps the incident issue up to date; use `on_progress` as the runner's callback."""

    def __init__(self, client: GitHubClient, target: str) -> None:
        self.client = client
        self.issue = parse_report_issue(target)
        self._warned = False
        self._last_body: str | None = None
        self.link: IssueLink | None = None

    def _body(self, report: BisectSummary) -> str:
        footer = ""
        run = actions.run_url()
        if run:
            footer = f"\n\n<sub>[workflow run]({run})</sub>"
        return f"{marker_for(report)}\n{report.to_markdown()}{footer}"

    def on_progress(self, report: BisectSummary) -> None:
        if self.issue is None:
            return  # `new`: the issue is opened once, with the result
        body = self._body(report)
        if body == self._last_body:
            return
        try:
            comment_id, _ = self.client.upsert_sticky_comment(self.issue, marker_for(report), body)
            self._last_body = body
            self.link = IssueLink(self.issue, self.client.comment_url(comment_id) or "", comment_id)
        except BisectRunnerError as exc:
            if not self._warned:
                actions.annotate("warning", f"could not update the bisect comment on #{self.issue}: {exc}")
                self._warned = True

    def finish(self, report: BisectSummary) -> IssueLink:
        """Post the result (errors propagate: the user asked for it)."""
        body = self._body(report)
        if self.issue is None:
            title = f"Bisect {report.good_ref}..{report.bad_ref}: {report.headline()}"
            created = self.client.create_issue(title[:250], body)
            self.link = IssueLink(created.number, created.url)
            return self.link
        comment_id, _ = self.client.upsert_sticky_comment(self.issue, marker_for(report), body)
        self.link = IssueLink(self.issue, self.client.comment_url(comment_id) or "", comment_id)
        return self.link
