"""The one GitHub adapter (PyGithub): retries, rate limits, a call budget, and typed results.

Every GitHub call of the project goes through GitHubClient. It owns the rules GitHub asks
integrators to follow: wait what `Retry-After` or `X-RateLimit-Reset` says on 403/429 (up to a
cap, then fail with a clear message instead of hanging a CI job for an hour), back off on 5xx
for reads but never blindly repeat a write that GitHub may already have applied, space writes
(secondary limits: about 80 writes a minute), and count every HTTP request, retries included,
so that commands can report "n API calls" and stop at `github.max_calls`.

Callers get frozen dataclasses (PullInfo, Comparison, CommentInfo, WorkflowRunInfo, ...), never
PyGithub objects or raw dicts.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import requests
from github import Auth, Github, GithubException, GithubRetry
from github.GithubException import RateLimitExceededExceedsMaxWait
from urllib3 import Retry

from bisect_runner.config import GitHubConfig
from bisect_runner.errors import ExternalServiceError, UserError
from bisect_runner.gitrepo import FileChange
from bisect_runner.redact import register_secret

DEFAULT_API_URL = "https://api.github.com"
RETRY_SCALE_ENV = "BISECT_RUNNER_RETRY_SCALE"  # multiplies every wait (tests set it near 0)
PULL_FILES_CAP = 3000  # GitHub lists at most 3000 files of a pull request
COMPARE_FILES_CAP = 300  # and at most 300 files of a comparison
_IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_REPO_NAME = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_STATUS_LETTER = {"added": "A", "removed": "D", "modified": "M", "renamed": "R", "copied": "C",
                  "changed": "T", "unchanged": "M"}
RISK_LABEL_COLORS = {"high": "d73a4a", "medium": "fbca04", "low": "0e8a16"}

StickyAction = Literal["created", "updated", "unchanged"]


# typed results -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PullInfo:
    number: int
    title: str
    author: str
    labels: tuple[str, ...]
    url: str
    merged_at: str | None
    state: str = ""
    base_ref: str = ""
    base_sha: str = ""
    head_ref: str = ""
    head_sha: str = ""
    merge_commit_sha: str | None = None
    changed_files: int | None = None
    from_fork: bool = False


@dataclass(frozen=True)
class Comparison:
    base: str
    head: str
    status: str
    ahead_by: int
    behind_by: int
    total_commits: int
    files: tuple[FileChange, ...]
    files_truncated: bool  # GitHub lists at most 300 files: read the rest from local git


@dataclass(frozen=True)
class CommentInfo:
    id: int
    body: str
    url: str
    author: str


@dataclass(frozen=True)
class IssueInfo:
    number: int
    title: str
    url: str


@dataclass(frozen=True)
class LabelChange:
    added: tuple[str, ...]
    removed: tuple[str, ...]


@dataclass(frozen=True)
class DispatchResult:
    """What a workflow_dispatch told us; run_id is None when GitHub did not return run details."""

    run_id: int | None
    url: str | None
    dispatched_at: datetime


@dataclass(frozen=True)
class WorkflowRunInfo:
    id: int
    name: str
    display_title: str
    status: str
    conclusion: str | None
    url: str
    created_at: datetime
    head_sha: str
    event: str
    head_branch: str = ""

    @property
    def completed(self) -> bool:
        return self.status == "completed"


@dataclass(frozen=True)
class RateLimitInfo:
    limit: int
    remaining: int
    used: int
    reset: datetime


# errors --------------------------------------------------------------------------------------


class GitHubPermissionError(ExternalServiceError):
    """GitHub refused a write (403): a read-only token, e.g. a pull_request run from a fork."""


class GitHubNotFound(ExternalServiceError):
    """GitHub answered 404 (or 410): wrong repository, number or missing token scope."""


class CallBudgetExceeded(ExternalServiceError):
    """More requests than github.max_calls allows."""


# call counting and retries -------------------------------------------------------------------


class CallCounter:
    """Counts HTTP requests (retries included), shared by every retry object of one client."""

    def __init__(self, max_calls: int | None = None) -> None:
        self.max_calls = max_calls
        self.total = 0
        self.writes = 0
        self._lock = threading.Lock()

    def count(self, method: str) -> None:
        with self._lock:
            self.total += 1
            if method.upper() not in ("GET", "HEAD"):
                self.writes += 1

    @property
    def over_budget(self) -> bool:
        return self.max_calls is not None and self.total > self.max_calls

    def budget_error(self) -> CallBudgetExceeded:
        return CallBudgetExceeded(
            f"GitHub call budget exhausted: {self.total} API calls made, github.max_calls is "
            f"{self.max_calls}; raise it in .bisect-runner.yml or narrow the range"
        )


def retry_scale() -> float:
    raw = os.environ.get(RETRY_SCALE_ENV, "").strip()
    if not raw:
        return 1.0
    try:
        value = float(raw)
    except ValueError:
        raise UserError(f"{RETRY_SCALE_ENV}={raw!r} is not a number; unset it or use e.g. 0.01") from None
    return max(value, 0.0)


def rate_limit_wait(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds GitHub asks us to wait, from `Retry-After` or an exhausted `X-RateLimit-Reset`."""
    lowered = {k.lower(): v for k, v in headers.items()}
    retry_after = lowered.get("retry-after", "").strip()
    if retry_after.isdigit():
        return float(retry_after)
    reset = lowered.get("x-ratelimit-reset", "").strip()
    if lowered.get("x-ratelimit-remaining", "").strip() == "0" and reset.isdigit():
        current = time.time() if now is None else now
        return max(float(reset) - current, 0.0) + 1.0  # +1: the reset happens somewhere in that second
    return None


def _release(response: Any) -> None:
    """Give the connection back to the pool before we abandon a response by raising."""
    try:
        response.drain_conn()
        response.release_conn()
    except Exception:  # the connection is going away anyway
        pass


class _BudgetedRetry(GithubRetry):  # type: ignore[misc]
    """GithubRetry (secondary-limit detection from the 403 body) plus our rules: honour
    Retry-After / X-RateLimit-Reset on 403 and 429 for every method (the request was refused,
    so repeating it is safe), retry 5xx only for idempotent methods, cap the wait, scale waits
    (tests), and count every response."""

    def __init__(self, *, counter: CallCounter, scale: float, max_wait_s: float, **kwargs: Any) -> None:
        self.counter = counter
        self.scale = scale
        self.max_wait_s = max_wait_s
        self.planned_wait: float | None = None
        kwargs.setdefault("status_forcelist", [*range(500, 600), 429])
        kwargs.setdefault("allowed_methods", _IDEMPOTENT)
        kwargs.setdefault("raise_on_status", False)
        kwargs.setdefault("max_rate_limit_wait", max_wait_s)
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> _BudgetedRetry:
        kw.update(counter=self.counter, scale=self.scale, max_wait_s=self.max_wait_s)
        new: _BudgetedRetry = super().new(**kw)
        return new

    def is_retry(self, method: str, status_code: int, has_retry_after: bool = False) -> bool:
        # urllib3 asks this once for every response it receives: the place to count requests.
        self.counter.count(method)
        if self.counter.over_budget:
            return True  # increment() stops here, with the response at hand to release
        if status_code in (403, 429):
            return bool(self.total)
        result: bool = super().is_retry(method, status_code, has_retry_after)
        return result

    def increment(  # type: ignore[override]
        self, method: str | None = None, url: str | None = None, response: Any = None,
        error: Exception | None = None, _pool: Any = None, _stacktrace: Any = None,
    ) -> Retry:
        if self.counter.over_budget:
            if response is not None:
                _release(response)
            raise self.counter.budget_error()
        if response is None or response.status not in (403, 429):
            result: Retry = super().increment(method, url, response, error, _pool, _stacktrace)
            return result
        wait = rate_limit_wait(dict(response.headers))
        if wait is None and response.status == 403:
            # No header: GithubRetry reads the body; a secondary-limit message gives its wait, any
            # other 403 (e.g. "Resource not accessible by integration") is raised as it is.
            new = super().increment(method, url, response, error, _pool, _stacktrace)
            wait = float(new.get_backoff_time())
        else:
            new = Retry.increment(self, method, url, response, error, _pool, _stacktrace)
            if wait is None:
                wait = float(self.secondary_rate_wait)
        if wait > self.max_wait_s:
            _release(response)
            path = (url or "").split("?")[0]
            raise ExternalServiceError(
                f"GitHub rate limit on {method} {path}: asked to wait {wait:.0f}s, more than the "
                f"{self.max_wait_s:.0f}s we wait; rerun after the limit resets"
            )
        if isinstance(new, _BudgetedRetry):
            new.planned_wait = wait
        return new

    def sleep(self, response: Any = None) -> None:
        if self.planned_wait is not None:
            wait = self.planned_wait
        else:  # 5xx or a connection error on a read: exponential backoff, 1 s, 2 s, 4 s ...
            attempts = max(len(self.history), 1)
            wait = min(1.0 * 2 ** (attempts - 1), 30.0)
        if wait * self.scale > 0:
            time.sleep(wait * self.scale)


# the client ----------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.isoformat().replace("+00:00", "Z")


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _file_change(file: Any) -> FileChange:
    status = _STATUS_LETTER.get(str(file.status), "M")
    return FileChange(
        path=str(file.filename), additions=int(file.additions or 0), deletions=int(file.deletions or 0),
        status=status, old_path=file.previous_filename if status in ("R", "C") else None,
    )


def _message(exc: GithubException) -> str:
    data = exc.data
    if isinstance(data, dict):
        return str(data.get("message") or "")
    return str(data or "")


class GitHubClient:
    """One repository on one GitHub (or GitHub Enterprise) API root, with one token."""

    def __init__(self, token: str, repository: str, api_url: str = DEFAULT_API_URL, *,
                 max_calls: int | None = None, write_interval_s: float = 1.0, max_wait_s: float = 120.0,
                 retries: int = 4, timeout_s: int = 30, scale: float | None = None) -> None:
        if not token:
            raise UserError("set GITHUB_TOKEN to a token that can read the repository")
        if not _REPO_NAME.match(repository):
            raise UserError(f"--github {repository!r} is not OWNER/REPO; pass e.g. --github acme/shop")
        if not api_url.startswith(("https://", "http://")):
            raise UserError(f"GITHUB_API_URL {api_url!r} is not an http(s) URL; e.g. https://api.github.com")
        register_secret(token)
        self.repository = repository
        self.api_url = api_url.rstrip("/")
        self.scale = retry_scale() if scale is None else scale
        self.counter = CallCounter(max_calls)
        self._lock = threading.RLock()
        retry = _BudgetedRetry(counter=self.counter, scale=self.scale, max_wait_s=max_wait_s, total=retries,
                               secondary_rate_wait=60)
        self._gh = Github(
            auth=Auth.Token(token), base_url=self.api_url, timeout=timeout_s, per_page=100, retry=retry,
            seconds_between_requests=None, seconds_between_writes=write_interval_s * self.scale or None,
            lazy=True, user_agent="bisect-runner",
        )
        self._repo = self._gh.get_repo(repository)
        self._pulls_for_commit: dict[str, list[PullInfo]] = {}
        self._pulls: dict[int, PullInfo] = {}
        self._repo_labels: set[str] | None = None
        self._comment_urls: dict[int, str] = {}
        self._default_branch: str | None = None

    @classmethod
    def from_env(cls, repository: str | None, config: GitHubConfig | None = None, **kwargs: Any) -> GitHubClient:
        """Token from GITHUB_TOKEN (or GH_TOKEN), API root from GITHUB_API_URL (GitHub Enterprise),
        repository from --github, else GITHUB_REPOSITORY, else github.repository in the config."""
        config = config or GitHubConfig()
        token = os.environ.get("GITHUB_TOKEN") or os.environ.get("GH_TOKEN") or ""
        repo = repository or os.environ.get("GITHUB_REPOSITORY") or config.repository
        if not repo:
            raise UserError("no GitHub repository: pass --github OWNER/REPO, or set GITHUB_REPOSITORY "
                            "or github.repository in .bisect-runner.yml")
        if not token:
            raise UserError(f"set GITHUB_TOKEN to a token that can read {repo} "
                            "(in Actions: env: GITHUB_TOKEN: ${{ github.token }})")
        api_url = os.environ.get("GITHUB_API_URL") or config.api_url or DEFAULT_API_URL
        kwargs.setdefault("max_calls", config.max_calls)
        return cls(token, repo, api_url, **kwargs)

    def close(self) -> None:
        """Close the HTTP connection pool."""
        self._gh.close()

    def __enter__(self) -> GitHubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # accounting ---------------------------------------------------------------------------

    @property
    def calls(self) -> int:
        """HTTP requests made so far, retries included."""
        return self.counter.total

    @property
    def writes(self) -> int:
        return self.counter.writes

    def calls_line(self) -> str:
        calls = f"{self.calls} API call{'s' if self.calls != 1 else ''}"
        return f"{calls} ({self.writes} write{'s' if self.writes != 1 else ''})" if self.writes else calls

    @contextmanager
    def _api(self, action: str, *, write: bool = False) -> Iterator[None]:
        """Serialise calls (PyGithub's connection is not thread-safe) and turn failures into our
        errors, each a one-line message naming what we tried."""
        with self._lock:
            try:
                yield
            except GithubException as exc:
                raise self._translate(exc, action, write=write) from None
            except requests.RequestException as exc:
                raise ExternalServiceError(
                    f"cannot reach GitHub at {self.api_url} to {action}: {type(exc).__name__}"
                ) from None

    def _translate(self, exc: GithubException, action: str, *, write: bool) -> Exception:
        status, message = exc.status, _message(exc)
        detail = f": {message}" if message else ""
        if isinstance(exc, RateLimitExceededExceedsMaxWait):
            return ExternalServiceError(f"GitHub rate limit while trying to {action}: asked to wait "
                                        f"{exc.wait or 0:.0f}s, more than we wait; rerun after the limit resets")
        if status == 401:
            return UserError(f"GitHub rejected the token (401{detail}) while trying to {action}; "
                             "set GITHUB_TOKEN to a valid token")
        if status == 403 and ("rate limit" in message.lower()):
            return ExternalServiceError(f"GitHub rate limit still exceeded after retries while trying to "
                                        f"{action}; rerun later")
        if status == 403:
            return GitHubPermissionError(
                f"GitHub refused to {action} (403{detail}); the token cannot do this here "
                "(a fork's pull request or a read-only GITHUB_TOKEN): grant the needed permission"
            )
        if status in (404, 410):
            return GitHubNotFound(f"GitHub has no such thing while trying to {action} ({status}{detail}); "
                                  f"check --github {self.repository} and the token's access")
        if status >= 500 and write:
            return ExternalServiceError(
                f"GitHub answered {status} to {action}; not retried because GitHub may have applied "
                "the write: check, then rerun (comments and labels are updated in place)"
            )
        if status >= 500:
            return ExternalServiceError(f"GitHub answered {status} to {action} after retries; rerun later")
        return ExternalServiceError(f"GitHub answered {status} to {action}{detail}")

    def default_branch(self) -> str:
        if self._default_branch is None:
            with self._api(f"read repository {self.repository}"):
                self._default_branch = str(self._repo.default_branch)
        return self._default_branch

    # pull requests ------------------------------------------------------------------------

    def _pull_info(self, pr: Any) -> PullInfo:
        head_repo = pr.head.repo
        base_repo = pr.base.repo
        from_fork = bool(head_repo is not None and base_repo is not None
                         and head_repo.full_name != base_repo.full_name)
        return PullInfo(
            number=int(pr.number), title=str(pr.title or ""), author=str(pr.user.login if pr.user else ""),
            labels=tuple(str(label.name) for label in pr.labels), url=str(pr.html_url),
            merged_at=_iso(pr.merged_at), state=str(pr.state), base_ref=str(pr.base.ref),
            base_sha=str(pr.base.sha), head_ref=str(pr.head.ref), head_sha=str(pr.head.sha),
            merge_commit_sha=pr.merge_commit_sha, from_fork=from_fork,
        )

    def pulls_for_commit(self, sha: str) -> list[PullInfo]:
        """The pull requests GitHub associates with a commit (one request per sha, cached)."""
        if sha in self._pulls_for_commit:
            return self._pulls_for_commit[sha]
        with self._api(f"list the pull requests of commit {sha[:10]}"):
            pulls = [self._pull_info(pr) for pr in self._repo.get_commit(sha).get_pulls()]
        # The PR that merged this commit first, then merged ones, then the rest.
        pulls.sort(key=lambda p: (p.merge_commit_sha != sha, p.merged_at is None, p.number))
        self._pulls_for_commit[sha] = pulls
        return pulls

    def pull(self, number: int) -> PullInfo:
        if number in self._pulls:
            return self._pulls[number]
        try:
            with self._api(f"read pull request #{number}"):
                pr = self._repo.get_pull(number)
                info = self._pull_info(pr)
                info = PullInfo(**{**info.__dict__, "changed_files": int(pr.changed_files)})
        except GitHubNotFound:
            raise UserError(f"pull request #{number} not found in {self.repository}; check --pr") from None
        self._pulls[number] = info
        return info

    def pull_files(self, number: int) -> tuple[list[FileChange], bool]:
        """The PR's files and whether GitHub's list is incomplete (it stops at 3000 files):
        when it is, callers read the diff from local git instead."""
        with self._api(f"list the files of pull request #{number}"):
            files = [_file_change(f) for f in self._repo.get_pull(number).get_files()]
        expected = self._pulls[number].changed_files if number in self._pulls else None
        truncated = len(files) >= PULL_FILES_CAP or (expected is not None and expected > len(files))
        return files, truncated

    def compare(self, base: str, head: str) -> Comparison:
        with self._api(f"compare {base[:12]}...{head[:12]}"):
            cmp = self._repo.compare(base, head)
            files = tuple(_file_change(f) for f in cmp.files)
            result = Comparison(
                base=base, head=head, status=str(cmp.status), ahead_by=int(cmp.ahead_by),
                behind_by=int(cmp.behind_by), total_commits=int(cmp.total_commits), files=files,
                files_truncated=len(files) >= COMPARE_FILES_CAP,
            )
        return result

    # comments and issues ------------------------------------------------------------------

    def _comment(self, comment: Any) -> CommentInfo:
        info = CommentInfo(id=int(comment.id), body=str(comment.body or ""), url=str(comment.html_url),
                           author=str(comment.user.login) if comment.user else "")
        self._comment_urls[info.id] = info.url
        return info

    def find_sticky_comment(self, issue_number: int, marker: str) -> CommentInfo | None:
        """The oldest comment on the issue/PR whose body carries `marker`, or None."""
        with self._api(f"list the comments of #{issue_number}"):
            for comment in self._repo.get_issue(issue_number).get_comments():
                if marker in (comment.body or ""):
                    return self._comment(comment)
        return None

    def comment_url(self, comment_id: int) -> str | None:
        return self._comment_urls.get(comment_id)

    def upsert_sticky_comment(self, issue_number: int, marker: str, body: str) -> tuple[int, StickyAction]:
        """Keep exactly one comment carrying `marker`: create it, edit it when the body changed,
        or leave it alone (no edit, no notification) when it is the same."""
        full = body if marker in body else f"{marker}\n{body}"
        existing = self.find_sticky_comment(issue_number, marker)
        if existing is not None:
            if existing.body.strip() == full.strip():
                return existing.id, "unchanged"
            with self._api(f"update comment {existing.id} on #{issue_number}", write=True):
                comment = self._edit_comment(existing.id, full)
            return comment.id, "updated"
        try:
            return self._create_comment(issue_number, full), "created"
        except ExternalServiceError as exc:
            if isinstance(exc, GitHubPermissionError | GitHubNotFound | CallBudgetExceeded):
                raise
            # A 5xx on a write may still have landed: look before posting again, never blindly.
            again = self.find_sticky_comment(issue_number, marker)
            if again is None:
                return self._create_comment(issue_number, full), "created"
            if again.body.strip() != full.strip():
                with self._api(f"update comment {again.id} on #{issue_number}", write=True):
                    self._edit_comment(again.id, full)
            return again.id, "created"

    def _create_comment(self, issue_number: int, body: str) -> int:
        with self._api(f"comment on #{issue_number}", write=True):
            return self._comment(self._repo.get_issue(issue_number).create_comment(body)).id

    def _edit_comment(self, comment_id: int, body: str) -> CommentInfo:
        # PATCH /repos/{o}/{r}/issues/comments/{id}: a lazy IssueComment needs no GET first.
        from github.IssueComment import IssueComment

        comment = IssueComment(self._repo.requester, url=f"{self._repo.url}/issues/comments/{comment_id}")
        comment.edit(body)
        return self._comment(comment)

    def create_issue(self, title: str, body: str, labels: Sequence[str] = ()) -> IssueInfo:
        with self._api(f"open an issue in {self.repository}", write=True):
            issue = self._repo.create_issue(title=title, body=body, labels=list(labels))
            return IssueInfo(number=int(issue.number), title=str(issue.title), url=str(issue.html_url))

    def set_managed_label(self, number: int, prefix: str, value: str, *,
                          colors: Mapping[str, str] = RISK_LABEL_COLORS) -> LabelChange:
        """Make `prefix+value` the only label starting with `prefix` on the issue/PR; other labels
        are never touched. The label is created (with a colour) when the repository lacks it."""
        wanted = f"{prefix}{value}"
        with self._api(f"read the labels of #{number}"):
            issue = self._repo.get_issue(number)
            current = [str(label.name) for label in issue.get_labels()]
        removed: list[str] = []
        for name in current:
            if name.startswith(prefix) and name != wanted:
                with self._api(f"remove label {name!r} from #{number}", write=True):
                    issue.remove_from_labels(name)
                removed.append(name)
        added: list[str] = []
        if wanted not in current:
            self._ensure_label(wanted, colors.get(value, "ededed"), f"Set by bisect-runner ({prefix}{value})")
            with self._api(f"add label {wanted!r} to #{number}", write=True):
                # The documented body is {"labels": [...]} (PyGithub sends a bare list).
                self._repo.requester.requestJsonAndCheck("POST", f"{issue.url}/labels", input={"labels": [wanted]})
            added.append(wanted)
        return LabelChange(added=tuple(added), removed=tuple(removed))

    def _ensure_label(self, name: str, color: str, description: str) -> None:
        if self._repo_labels is None:
            with self._api(f"list the labels of {self.repository}"):
                self._repo_labels = {str(label.name) for label in self._repo.get_labels()}
        if name in self._repo_labels:
            return
        try:
            with self._api(f"create label {name!r}", write=True):
                self._repo.create_label(name, color, description)
        except ExternalServiceError as exc:
            if "422" not in str(exc):  # 422: someone created it meanwhile
                raise
        self._repo_labels.add(name)

    # deployments --------------------------------------------------------------------------

    def create_deployment(self, ref: str, environment: str, description: str = "",
                          payload: Mapping[str, Any] | None = None, transient_environment: bool = False,
                          production_environment: bool = False, auto_merge: bool = False,
                          required_contexts: Sequence[str] = ()) -> int:
        with self._api(f"create a deployment of {ref[:12]} to {environment}", write=True):
            deployment = self._repo.create_deployment(
                ref=ref, environment=environment, description=description, payload=dict(payload or {}),
                transient_environment=transient_environment, production_environment=production_environment,
                auto_merge=auto_merge, required_contexts=list(required_contexts),
            )
            return int(deployment.id)

    def create_deployment_status(self, deployment_id: int, state: str, environment_url: str | None = None,
                                 log_url: str | None = None, description: str | None = None) -> int:
        kwargs: dict[str, Any] = {}
        if environment_url:
            kwargs["environment_url"] = environment_url
        if log_url:
            kwargs["target_url"] = log_url  # GitHub stores target_url as the status's log_url
        if description:
            kwargs["description"] = description[:140]
        with self._api(f"set deployment {deployment_id} to {state}", write=True):
            status = self._repo.get_deployment(deployment_id).create_status(state, **kwargs)
            return int(status.id)

    # workflows ----------------------------------------------------------------------------

    def dispatch_workflow(self, workflow: str, ref: str, inputs: Mapping[str, str]) -> DispatchResult:
        """Start a workflow_dispatch run; GitHub returns the run's id when it supports
        `return_run_details`, else callers find the run with find_dispatched_run."""
        dispatched_at = datetime.now(UTC)
        with self._api(f"dispatch workflow {workflow} on {ref}", write=True):
            result = self._repo.get_workflow(workflow).create_dispatch(
                ref, dict(inputs), throw=True, return_run_details=True)
        if isinstance(result, bool):
            return DispatchResult(run_id=None, url=None, dispatched_at=dispatched_at)
        return DispatchResult(run_id=int(result.id), url=str(result.html_url), dispatched_at=dispatched_at)

    def _run_info(self, run: Any) -> WorkflowRunInfo:
        return WorkflowRunInfo(
            id=int(run.id), name=str(run.name or ""), display_title=str(run.display_title or ""),
            status=str(run.status), conclusion=run.conclusion, url=str(run.html_url),
            created_at=_utc(run.created_at), head_sha=str(run.head_sha), event=str(run.event),
            head_branch=str(run.head_branch or ""),
        )

    def find_dispatched_run(self, workflow: str, ref: str, since: datetime, *, match: Sequence[str] = (),
                            exclude: Sequence[int] | set[int] = (), skew_s: float = 5.0) -> WorkflowRunInfo | None:
        """The workflow_dispatch run we started: runs created since `since` (minus clock skew)
        on `ref`, not already claimed (`exclude`); one whose title shows every `match` string
        (a `run-name` with the inputs) wins, else the oldest unclaimed one."""
        after = since.timestamp() - skew_s
        runs: list[WorkflowRunInfo] = []
        with self._api(f"list the runs of workflow {workflow}"):
            # Newest first: stop at the first run older than the dispatch (one page, usually).
            for run in self._repo.get_workflow(workflow).get_runs(event="workflow_dispatch"):
                info = self._run_info(run)
                if info.created_at.timestamp() < after:
                    break
                runs.append(info)
        candidates = [r for r in runs if r.id not in exclude and r.head_branch in ("", ref)]
        if not candidates:
            return None
        if match:
            titled = [r for r in candidates if all(m in r.display_title for m in match)]
            if titled:
                return min(titled, key=lambda r: (r.created_at, r.id))
            # Runs titled for other inputs belong to someone else's dispatch.
            candidates = [r for r in candidates if r.display_title == r.name or not r.display_title]
            if not candidates:
                return None
        return min(candidates, key=lambda r: (r.created_at, r.id))

    def get_run(self, run_id: int) -> WorkflowRunInfo:
        with self._api(f"read workflow run {run_id}"):
            return self._run_info(self._repo.get_workflow_run(run_id))

    def rate_limit(self) -> RateLimitInfo:
        with self._api("read the rate limit"):
            core = self._gh.get_rate_limit().resources.core
            return RateLimitInfo(limit=int(core.limit), remaining=int(core.remaining),
                                 used=int(getattr(core, "used", core.limit - core.remaining)),
                                 reset=_utc(core.reset))


class GitHubSession:
    """A command's one GitHubClient, created on first use, so that a command needs a token only
    when it really talks to GitHub; reports the calls it made at the end."""

    def __init__(self, repository: str | None, config: GitHubConfig | None = None, **kwargs: Any) -> None:
        self.repository = repository
        self.config = config
        self.kwargs = kwargs
        self._client: GitHubClient | None = None

    @property
    def client(self) -> GitHubClient:
        if self._client is None:
            self._client = GitHubClient.from_env(self.repository, self.config, **self.kwargs)
        return self._client

    @property
    def used(self) -> bool:
        return self._client is not None

    @property
    def calls(self) -> int | None:
        return self._client.calls if self._client is not None else None

    def report_calls(self) -> None:
        """'n API calls' on stderr, once the command is done."""
        if self._client is not None:
            from bisect_runner.render import progress

            progress(f"bisect-runner: GitHub {self._client.calls_line()}")

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
