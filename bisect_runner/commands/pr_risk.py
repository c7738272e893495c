"""`bisect-runner pr-risk`: score a pull request and keep one sticky risk comment and label on it."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from bisect_runner import actions
from bisect_runner.cli import EXIT_OK, Context, add_subcommand
from bisect_runner.errors import UserError
from bisect_runner.render import md_escape, md_table, plural

if TYPE_CHECKING:  # PyGithub is imported when the command runs, not when the CLI starts
    from bisect_runner.github import GitHubClient, PullInfo
    from bisect_runner.gitrepo import FileChange
    from bisect_runner.risk_github import PrScore

MARKER = "<!-- bisect-runner:pr-risk -->"
LABEL_PREFIX = "risk:"
LEVEL_ICON = {"high": "🔴", "medium": "🟠", "low": "🟢"}

CommentAction = Literal["created", "updated", "unchanged", "dry-run", "not-permitted"]
FilesSource = Literal["git", "api"]

DESCRIPTION = """\
Score a pull request's change and keep exactly one risk comment on it: the level, the score, the
categories (migrations, API surface, integrations, dependencies, infra, config, security ...), the
reasons and the riskiest files. The comment carries a hidden marker and is edited in place on
every push (not edited at all when nothing changed); the PR also gets exactly one managed label,
risk:high, risk:medium or risk:low (other labels are never touched).

The PR is --pr N, else the pull_request event's PR (GITHUB_EVENT_PATH). Its files come from local
git (the diff from the merge base) when the checkout has the PR's base and head (actions/checkout
with fetch-depth: 0), else from the API (which lists at most 3000 files).

--dry-run prints the comment and writes nothing. With a read-only token (a fork's PR) the comment
goes to the step summary with a warning, and the command still exits 0.

Needs GITHUB_TOKEN (pull-requests: write), the repository (--github OWNER/REPO or
GITHUB_REPOSITORY) and, for GitHub Enterprise, GITHUB_API_URL.
"""


@dataclass
class PrRiskReport:
    repository: str
    pr: PullInfo
    risk: PrScore
    files_source: FilesSource
    files_total: int
    dry_run: bool = False
    comment_action: CommentAction | None = None
    comment_id: int | None = None
    comment_url: str | None = None
    label: str | None = None
    labels_removed: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    api_calls: int = 0

    # the comment ------------------------------------------------------------------------------

    def comment_body(self) -> str:
        """The sticky comment; stable for the same change, so a re-run on the same push edits nothing."""
        risk = self.risk
        icon = LEVEL_ICON.get(risk.level, "")
        parts = [MARKER, f"### {icon} PR risk: **{risk.level}** (score {risk.score:g})", ""]
        if risk.categories:
            parts.append("**Categories:** " + ", ".join(md_escape(c) for c in risk.categories))
        parts.append(f"**Change:** {plural(self.files_total, 'file')}, +{risk.additions:,} −{risk.deletions:,}")
        if risk.reasons:
            parts += ["", "**Why**", *[f"- {md_escape(reason)}" for reason in risk.reasons]]
        if risk.files:
            rows = [[_code(f.path), md_escape(", ".join(f.categories) or "—"), f"+{f.additions} −{f.deletions}"]
                    for f in risk.files]
            parts += ["", "**Riskiest files**", "", md_table(["file", "category", "lines"], rows)]
        parts += [f"> {md_escape(note)}" for note in self.notes]
        parts += ["", "<sub>bisect-runner pr-risk · updated on every push · "
                      f"label `{LABEL_PREFIX}{risk.level}`</sub>"]
        return "\n".join(parts)

    # Report protocol -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {
            "repository": self.repository,
            "pr": self.pr.number, "title": self.pr.title, "author": self.pr.author, "url": self.pr.url,
            "base_sha": self.pr.base_sha, "head_sha": self.pr.head_sha,
            "risk": self.risk.to_dict(),
            "files_source": self.files_source, "files_total": self.files_total,
            "dry_run": self.dry_run,
            "comment": {"action": self.comment_action, "id": self.comment_id, "url": self.comment_url},
            "label": {"name": self.label, "removed": list(self.labels_removed)},
            "notes": list(self.notes),
            "api_calls": self.api_calls,
        }

    def to_markdown(self) -> str:
        return self.comment_body()

    def to_text(self) -> str:
        if self.dry_run:
            return self.comment_body()
        risk = self.risk
        lines = [f"PR #{self.pr.number} {self.pr.title}: risk {risk.level} (score {risk.score:g})"]
        if risk.categories:
            lines.append("  categories: " + ", ".join(risk.categories))
        lines += [f"  - {reason}" for reason in risk.reasons]
        for f in risk.files:
            lines.append(f"  {f.path}  +{f.additions} -{f.deletions}  {', '.join(f.categories)}")
        lines.append(f"  files from {'local git' if self.files_source == 'git' else 'the GitHub API'} "
                     f"({plural(self.files_total, 'file')})")
        lines += [f"  note: {note}" for note in self.notes]
        if self.comment_action == "not-permitted":
            lines.append("  comment: not posted (read-only token); written to the step summary")
        elif self.comment_action:
            lines.append(f"  comment {self.comment_action}: {self.comment_url or self.comment_id}")
        if self.label:
            removed = f" (removed {', '.join(self.labels_removed)})" if self.labels_removed else ""
            lines.append(f"  label {self.label}{removed}")
        return "\n".join(lines)

    def action_outputs(self) -> dict[str, str]:
        return {
            "status": self.risk.level, "risk-level": self.risk.level, "risk-score": f"{self.risk.score:g}",
            "comment-id": str(self.comment_id or ""), "comment-url": self.comment_url or "",
        }


def _code(path: str) -> str:
    """A path as a Markdown code span (no backslash escapes there; `|` would still split a table cell)."""
    text = path.replace("|", "\\|")
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    sub = add_subcommand(subparsers, common, "pr-risk", "score a pull request; one sticky risk comment and label",
                         handle, description=DESCRIPTION)
    sub.add_argument("--pr", type=int, metavar="N", help="the pull request (default: the pull_request event's)")
    sub.add_argument("--github", metavar="OWNER/REPO", help="the repository (default: GITHUB_REPOSITORY)")
    sub.add_argument("--top", type=int, metavar="N", help="how many riskiest files to list (default: risk.top)")
    sub.add_argument("--dry-run", action="store_true", help="print the comment; post nothing, label nothing")


def event_pr_number() -> int | None:
    """The PR of a pull_request / pull_request_target event (GITHUB_EVENT_PATH), if any."""
    payload = actions.event_payload()
    if not payload:
        return None
    pull = payload.get("pull_request")
    number = pull.get("number") if isinstance(pull, dict) else None
    if number is None and isinstance(payload.get("number"), int) and isinstance(pull, dict):
        number = payload["number"]
    return number if isinstance(number, int) and number > 0 else None


def local_files(repo_path: Any, pull: PullInfo) -> list[FileChange] | None:
    """The PR's diff from the merge base, when the checkout has both ends; else None."""
    from bisect_runner.gitrepo import GitRepo

    try:
        repo = GitRepo(repo_path)
        base, head = repo.resolve(pull.base_sha), repo.resolve(pull.head_sha)
        return repo.diff_change(repo.merge_base(base, head), head)
    except UserError:
        return None


def handle(args: argparse.Namespace, ctx: Context) -> int:
    number = args.pr if args.pr is not None else event_pr_number()
    if number is None:
        raise UserError("no pull request: pass --pr N, or run in a pull_request workflow (GITHUB_EVENT_PATH)")
    if number <= 0:
        raise UserError(f"--pr {number}: pass a pull request number, e.g. --pr 42")
    top = args.top if args.top is not None else ctx.config.risk.top
    if top < 1:
        raise UserError(f"--top must be at least 1, got {top}")
    from bisect_runner.github import GitHubSession

    session = GitHubSession(args.github, ctx.config.github)
    try:
        report = _run(session.client, number, top, args.dry_run, ctx)
        report.api_calls = session.client.calls
        ctx.emit(report)
    finally:
        session.report_calls()
        session.close()
    return EXIT_OK


def _run(client: GitHubClient, number: int, top: int, dry_run: bool, ctx: Context) -> PrRiskReport:
    from bisect_runner.github import GitHubPermissionError
    from bisect_runner.risk_github import score_pr_files

    pull = client.pull(number)
    notes: list[str] = []
    files = local_files(ctx.repo_path, pull)
    source: FilesSource = "git"
    if files is None:
        source = "api"
        files, truncated = client.pull_files(number)
        if truncated:
            total = pull.changed_files or len(files)
            notes.append(f"GitHub lists only {len(files):,} of this PR's {total:,} files; scored those. Check out "
                         "the PR with fetch-depth: 0 to score the whole diff from local git")
    elif pull.changed_files is not None and pull.changed_files > 3000:
        notes.append(f"{pull.changed_files:,} files: more than the 3000 GitHub lists, so the diff was read "
                     "from local git")
    risk = score_pr_files(files, ctx.config.risk, top=top, title=pull.title, author=pull.author, pr=pull.number)
    report = PrRiskReport(repository=client.repository, pr=pull, risk=risk, files_source=source,
                          files_total=len(files), dry_run=dry_run, notes=notes)
    if dry_run:
        report.comment_action = "dry-run"
        return report
    try:
        comment_id, action = client.upsert_sticky_comment(number, MARKER, report.comment_body())
        report.comment_action, report.comment_id = action, comment_id
        report.comment_url = client.comment_url(comment_id)
        change = client.set_managed_label(number, LABEL_PREFIX, risk.level)
        report.label = f"{LABEL_PREFIX}{risk.level}"
        report.labels_removed = list(change.removed)
    except GitHubPermissionError:
        report.comment_action = "not-permitted"
        actions.annotate("warning", f"PR #{number}: the token cannot comment or label here (a fork's PR or a "
                                    "read-only GITHUB_TOKEN); the risk is in the step summary instead",
                         title="pr-risk")
        if not actions.in_actions():
            actions.append_summary(report.to_markdown())  # in Actions, ctx.emit writes the summary
    return report
