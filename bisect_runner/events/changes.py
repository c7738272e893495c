"""What a deploy shipped: the commits and PRs between the previous deploy's sha and this one,
read from local git (one `git log`), with titles from GitHub when a client is given.

A rollback runs the other way (its sha is an ancestor of the previous deploy's): its commits
are the ones it takes back. Shas the local clone does not have (a shallow checkout, another
repository) give None rather than an error: an event is still worth posting without its PRs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import git

from bisect_runner.errors import BisectRunnerError
from bisect_runner.events.model import PullRef
from bisect_runner.gitrepo import Commit, GitRepo, pr_number_from_subject
from bisect_runner.render import progress

if TYPE_CHECKING:
    from bisect_runner.github import GitHubClient

MAX_COMMITS = 1000
MAX_GITHUB_LOOKUPS = 50
Direction = Literal["forward", "rollback"]


@dataclass(frozen=True)
class DeployChanges:
    base: str
    head: str
    direction: Direction
    commits: tuple[Commit, ...]  # first-parent commits, oldest first
    prs: tuple[PullRef, ...]
    truncated: bool = False

    @property
    def range_text(self) -> str:
        return f"{self.base[:10]}..{self.head[:10]}"


def _has_commit(repo: GitRepo, sha: str) -> str | None:
    try:
        return str(repo.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{sha}^{{commit}}"))
    except git.GitCommandError:
        return None


def pr_from_commit(commit: Commit) -> PullRef | None:
    """The PR a mainline commit merged, titled as GitHub writes merge and squash commits."""
    number = pr_number_from_subject(commit.subject)
    if number is None:
        return None
    if commit.is_merge or commit.subject.startswith("Merge pull request"):
        title = commit.body.splitlines()[0].strip() if commit.body.strip() else commit.subject
    else:
        title = commit.subject.rsplit(f"(#{number})", 1)[0].strip()
    return PullRef(number=number, title=title, author=commit.author_name)


def deploy_changes(repo: GitRepo, prev_sha: str | None, sha: str | None) -> DeployChanges | None:
    """Commits and PRs between two deployed shas, or None when the clone cannot tell."""
    if not prev_sha or not sha:
        return None
    base, head = _has_commit(repo, prev_sha), _has_commit(repo, sha)
    if base is None or head is None or base == head:
        return None
    direction: Direction = "forward"
    if not repo.is_ancestor(base, head):
        if not repo.is_ancestor(head, base):
            # Diverged (e.g. a hotfix branch): what head has that base lacks.
            base = repo.merge_base(base, head)
        else:
            direction = "rollback"
            base, head = head, base
    try:
        commits = repo.commits(base, head, first_parent=True)
    except (git.GitCommandError, BisectRunnerError):
        return None
    truncated = len(commits) > MAX_COMMITS
    commits = commits[-MAX_COMMITS:]
    prs: dict[int, PullRef] = {}
    for commit in commits:
        pr = pr_from_commit(commit)
        if pr is not None and pr.number not in prs:
            prs[pr.number] = pr
    return DeployChanges(base=base, head=head, direction=direction, commits=tuple(commits),
                         prs=tuple(prs.values()), truncated=truncated)


def github_prs(changes: DeployChanges, client: GitHubClient) -> tuple[PullRef, ...]:
    """The deploy's PRs with GitHub's titles, authors and URLs, plus the PRs of mainline commits
    whose subjects name none (rebase merges), looked up by commit; at most MAX_GITHUB_LOOKUPS
    calls. GitHub being down costs the titles, never the event."""
    from bisect_runner.github import CallBudgetExceeded

    found: dict[int, PullRef] = {pr.number: pr for pr in changes.prs}
    order: list[int] = []
    lookups = 0
    for commit in changes.commits:
        number = pr_number_from_subject(commit.subject)
        if lookups >= MAX_GITHUB_LOOKUPS:
            if number is not None and number not in order:
                order.append(number)
            continue
        try:
            if number is not None:
                if number in order:
                    continue
                lookups += 1
                info = client.pull(number)
            else:
                lookups += 1
                pulls = [p for p in client.pulls_for_commit(commit.sha) if p.merged_at]
                if not pulls or pulls[0].number in order:
                    continue
                info = pulls[0]
                number = info.number
        except CallBudgetExceeded as exc:
            progress(f"bisect-runner: PR lookups on GitHub stopped: {exc}")
            lookups = MAX_GITHUB_LOOKUPS
            if number is not None and number not in order:
                order.append(number)
            continue
        except BisectRunnerError as exc:
            progress(f"bisect-runner: PR lookup on GitHub failed ({exc}); using local titles")
            if number is not None and number not in order:
                order.append(number)
            continue
        local = found.get(number)
        found[number] = PullRef(number=number, title=info.title or (local.title if local else ""),
                                author=info.author or (local.author if local else ""), url=info.url)
        order.append(number)
    return tuple(found[n] for n in order if n in found)
