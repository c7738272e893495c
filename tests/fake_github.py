"""A fake GitHub REST API for tests: a real HTTP server on 127.0.0.1 serving from a real git repo.

It serves the endpoints the project uses with GitHub's limits and habits: pagination with
`Link` headers and `per_page` (at most 100), 300 files in a comparison, 3000 in a pull
request's files, `x-ratelimit-*` headers, 403 "Resource not accessible by integration" for a
read-only token, and injectable faults (secondary rate limit with `Retry-After`, primary limit
with `X-RateLimit-Reset`, 429, 502). Workflow dispatches start "runs" that call a Python
function the test registers (e.g. a real deploy), then complete with its conclusion.

JSON bodies start from a minimal instance generated from GitHub's OpenAPI description
(tests/data/github-rest-subset.json) and are overlaid with real data, and `validate_exchanges`
checks every recorded request and response against that description, so the fake cannot
drift from GitHub.
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import re
import socket
import subprocess
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from tests.localserver import base_url, local_server

SPEC_PATH = Path(__file__).resolve().parent / "data" / "github-rest-subset.json"
TOKEN = "ghs_FakeTokenForTests0123456789abcdef"
SECONDARY_LIMIT_MESSAGE = ("You have exceeded a secondary rate limit. Please wait a few minutes before you "
                           "try again. If you reach out to GitHub Support for help, please include the request ID.")
NOT_ACCESSIBLE = "Resource not accessible by integration"
DOCS = "https://docs.github.com/rest"
_IDS = itertools.count(1000)


# the OpenAPI description ---------------------------------------------------------------------


@functools.lru_cache(maxsize=1)
def spec() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    return data


@functools.lru_cache(maxsize=1)
def openapi() -> Any:
    """openapi-core's view of the description (loaded once per process, ~0.4 s)."""
    from openapi_core import Config, OpenAPI

    return OpenAPI.from_file_path(str(SPEC_PATH), config=Config(spec_validator_cls=None))


def response_schema(template: str, method: str, status: int) -> dict[str, Any]:
    op = spec()["paths"][template][method.lower()]
    content = op["responses"][str(status)]["content"]["application/json"]
    schema: dict[str, Any] = content["schema"]
    return schema


def _options(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return list(schema.get("anyOf") or schema.get("oneOf") or [])


def prop(schema: dict[str, Any], *names: str) -> dict[str, Any]:
    """The sub-schema at property path `names` ('[]' steps into array items)."""
    for name in names:
        schema = _resolve_object(schema, name)
    return schema


def _resolve_object(schema: dict[str, Any], name: str) -> dict[str, Any]:
    if name == "[]":
        if "items" in schema:
            return dict(schema["items"])
        for option in _options(schema):
            if "items" in option:
                return dict(option["items"])
        raise KeyError(name)
    for part in [schema, *schema.get("allOf", []), *_options(schema)]:
        if name in part.get("properties", {}):
            return dict(part["properties"][name])
        for option in _options(part):
            if name in option.get("properties", {}):
                return dict(option["properties"][name])
    raise KeyError(name)


_FORMAT_SAMPLES = {"date-time": "2026-01-01T00:00:00Z", "uri": "https://github.example/x",
                   "email": "octocat@example.com", "timestamp": "2026-01-01T00:00:00Z"}


def sample(schema: dict[str, Any]) -> Any:
    """A minimal instance that satisfies `schema`: required properties only, nulls where allowed."""
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            value = sample(part)
            if isinstance(value, dict):
                merged.update(value)
        return merged
    options = _options(schema)
    if schema.get("nullable") and not options:  # openapi-core rejects null under a nullable oneOf
        return None
    if options:
        return sample(options[0])
    if "enum" in schema:
        return schema["enum"][0]
    kind = schema.get("type")
    if kind == "object" or (kind is None and "properties" in schema):
        props = schema.get("properties", {})
        return {name: sample(props.get(name, {})) for name in schema.get("required", [])}
    if kind == "array":
        return []
    if kind == "string":
        return _FORMAT_SAMPLES.get(schema.get("format", ""), "x")
    if kind == "integer":
        return 1
    if kind == "number":
        return 1.0
    if kind == "boolean":
        return False
    return None


@functools.cache
def _cached_sample(key: tuple[str, ...]) -> Any:
    template, method, status, *names = key
    schema = response_schema(template, method, int(status))
    return sample(prop(schema, *names)) if names else sample(schema)


def blank(template: str, method: str, status: int, *names: str) -> Any:
    """A fresh minimal instance of the response schema (or of a part of it)."""
    return copy.deepcopy(_cached_sample((template, method, str(status), *names)))


def now_iso(t: float | None = None) -> str:
    return datetime.fromtimestamp(time.time() if t is None else t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# recorded traffic and faults -----------------------------------------------------------------


@dataclass
class Exchange:
    method: str
    path: str
    query: dict[str, str]
    template: str | None
    status: int
    request_body: bytes
    response_body: bytes
    response_headers: dict[str, str]
    authorization: str


@dataclass
class Fault:
    """Answer the next `times` matching requests with `status` instead of serving them."""

    status: int
    method: str | None = None
    path: str | None = None  # a regular expression searched in the request path
    times: int = 1
    retry_after: int | None = None
    reset_in: int | None = None  # primary limit: x-ratelimit-remaining 0, reset in N seconds
    message: str | None = None
    after_applying: bool = False  # serve the request (a write lands), then answer with the fault

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (self.path is None or bool(re.search(self.path, path)))


@dataclass
class FakePull:
    number: int
    title: str
    author: str
    head_ref: str
    head_sha: str
    base_ref: str = "main"
    base_sha: str = ""
    state: str = "open"
    merged_at: str | None = None
    merge_commit_sha: str | None = None
    body: str = ""
    head_repo: str | None = None  # OWNER/REPO of a fork
    commits: list[str] = field(default_factory=list)


@dataclass
class Workflow:
    id: int
    path: str
    name: str
    runner: Callable[[dict[str, str]], str]  # inputs -> conclusion ("success", "failure", ...)
    run_name: Callable[[dict[str, str]], str] | None = None


@dataclass
class Run:
    id: int
    workflow: Workflow
    head_branch: str
    head_sha: str
    inputs: dict[str, str]
    created_at: float
    status: str = "queued"
    conclusion: str | None = None
    run_number: int = 1

    @property
    def display_title(self) -> str:
        return self.workflow.run_name(self.inputs) if self.workflow.run_name else self.workflow.name


class _Reply(Exception):
    def __init__(self, status: int, body: Any = None, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def _error(status: int, message: str) -> _Reply:
    return _Reply(status, {"message": message, "documentation_url": DOCS, "status": str(status)})


# the server ----------------------------------------------------------------------------------


class FakeGitHub:
    """GitHub for one repository `owner/name`, backed by the git repository at `repo_path`."""

    def __init__(self, repo_path: Path, owner: str = "acme", name: str = "shop", token: str = TOKEN,
                 prefix: str = "") -> None:
        self.prefix = prefix.rstrip("/")  # e.g. "/api/v3", like GitHub Enterprise Server
        self.repo_path = Path(repo_path)
        self.owner, self.name, self.token = owner, name, token
        self.full_name = f"{owner}/{name}"
        self.exchanges: list[Exchange] = []
        self.faults: list[Fault] = []
        self.pulls: dict[int, FakePull] = {}
        self.issues: dict[int, dict[str, Any]] = {}
        self.issue_labels: dict[int, list[str]] = {}
        self.repo_labels: dict[str, dict[str, Any]] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        self.deployments: dict[int, dict[str, Any]] = {}
        self.deployment_statuses: dict[int, list[dict[str, Any]]] = {}
        self.workflows: dict[str, Workflow] = {}
        self.runs: dict[int, Run] = {}
        self.read_only = False
        self.return_run_details = True
        self.pull_files_cap = 3000
        self.rate_limit = 5000
        self.rate_used = 0
        self.bot_login = "github-actions[bot]"
        self._ids = _IDS  # unique across fakes, like GitHub's ids
        self._next_issue = 1
        self._lock = threading.RLock()
        self._run_threads: list[threading.Thread] = []
        self._git_cache: dict[tuple[str, ...], str] = {}
        self._diff_cache: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        self._server, self._thread = local_server(self._handler_class())

    # lifecycle -----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return base_url(self._server) + self.prefix

    def start(self) -> FakeGitHub:
        self._thread.start()
        return self

    def stop(self) -> None:
        for thread in list(self._run_threads):
            thread.join(timeout=10)
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeGitHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def env(self) -> dict[str, str]:
        """Environment for a CLI subprocess talking to this fake."""
        return {"GITHUB_TOKEN": self.token, "GITHUB_API_URL": self.url, "GITHUB_REPOSITORY": self.full_name,
                "BISECT_RUNNER_RETRY_SCALE": "0.001"}

    # test setup ----------------------------------------------------------------------------

    def next_id(self) -> int:
        with self._lock:
            return next(self._ids)

    def add_pull(self, number: int, title: str, author: str, head_ref: str, head_sha: str, *,
                 base_ref: str = "main", base_sha: str = "", merged: bool = False,
                 merge_commit_sha: str | None = None, labels: list[str] | None = None,
                 head_repo: str | None = None, body: str = "") -> FakePull:
        base_sha = base_sha or self._git("rev-parse", base_ref)
        pull = FakePull(number=number, title=title, author=author, head_ref=head_ref, head_sha=head_sha,
                        base_ref=base_ref, base_sha=base_sha, state="closed" if merged else "open",
                        merged_at=now_iso() if merged else None, merge_commit_sha=merge_commit_sha,
                        head_repo=head_repo, body=body)
        pull.commits = self._git("rev-list", f"{base_sha}..{head_sha}").split()
        self.pulls[number] = pull
        self.issue_labels[number] = list(labels or [])
        for label in labels or []:
            self._ensure_repo_label(label)
        self._next_issue = max(self._next_issue, number + 1)
        return pull

    def pulls_from_history(self, rev: str = "HEAD") -> None:
        """Register a merged PR for every GitHub-style merge or squash commit in history."""
        log = self._git("log", "--first-parent", "--format=%H%x1f%P%x1f%an%x1f%s%x1f%b%x1e", rev)
        for record in log.split("\x1e"):
            if not record.strip("\n"):
                continue
            sha, parents, author, subject, body = record.strip("\n").split("\x1f")
            merge = re.match(r"^Merge pull request #(\d+) from [^/]+/(\S+)", subject)
            squash = re.search(r"^(.*) \(#(\d+)\)$", subject)
            parent_list = parents.split()
            if merge and len(parent_list) > 1:
                number, title = int(merge.group(1)), (body.strip().splitlines() or [merge.group(2)])[0]
                pr_author = self._git("log", "-1", "--format=%an", parent_list[1])
                self.add_pull(number, title, pr_author.split()[0].lower(), merge.group(2), parent_list[1],
                              base_sha=parent_list[0], merged=True, merge_commit_sha=sha)
            elif squash and parent_list:
                number = int(squash.group(2))
                self.add_pull(number, squash.group(1), author.split()[0].lower(), f"pr-{number}", sha,
                              base_sha=parent_list[0], merged=True, merge_commit_sha=sha)

    def add_issue(self, title: str, body: str = "") -> int:
        number = self._next_issue
        self._next_issue += 1
        self.issues[number] = {"title": title, "body": body, "user": "octocat", "created_at": now_iso()}
        self.issue_labels[number] = []
        return number

    def register_workflow(self, path: str, runner: Callable[[dict[str, str]], str], *, name: str = "",
                          run_name: Callable[[dict[str, str]], str] | None = None) -> Workflow:
        workflow = Workflow(id=self.next_id(), path=f".github/workflows/{path}", name=name or path,
                            runner=runner, run_name=run_name)
        self.workflows[path] = workflow
        self.workflows[str(workflow.id)] = workflow
        return workflow

    def fail(self, status: int, **kwargs: Any) -> Fault:
        fault = Fault(status, **kwargs)
        with self._lock:
            self.faults.append(fault)
        return fault

    def count(self, method: str | None = None, template: str | None = None) -> int:
        return sum(1 for e in self.exchanges
                   if (method is None or e.method == method) and (template is None or e.template == template))

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["issue"] == number]

    def wait_for_runs(self, timeout: float = 10) -> None:
        for thread in list(self._run_threads):
            thread.join(timeout=timeout)

    # git -----------------------------------------------------------------------------------

    def _git(self, *args: str) -> str:
        result = subprocess.run(["git", *args], cwd=self.repo_path, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout.rstrip("\n")  # not strip(): \x1e and \x1f count as whitespace

    def _git_cached(self, *args: str) -> str:
        key = tuple(args)
        if key not in self._git_cache:
            self._git_cache[key] = self._git(*args)
        return self._git_cache[key]

    def _resolve(self, ref: str) -> str | None:
        try:
            return self._git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
        except RuntimeError:
            return None

    def _diff_files(self, base: str, head: str) -> list[dict[str, Any]]:
        key = ("diff-files", base, head)
        if key not in self._diff_cache:
            self._diff_cache[key] = self._parse_diff(base, head)
        return self._diff_cache[key]

    def _parse_diff(self, base: str, head: str) -> list[dict[str, Any]]:
        raw = self._git_cached("diff", "-z", "--raw", "--numstat", "-M", "--no-abbrev", base, head)
        tokens = raw.split("\0")
        statuses: dict[str, tuple[str, str | None, str]] = {}
        counts: list[tuple[str, str | None, int, int]] = []
        i = 0
        while i < len(tokens):
            token = tokens[i].lstrip("\n")
            i += 1
            if not token:
                continue
            if token.startswith(":"):
                parts = token.split(" ")
                status, old_blob, new_blob = parts[-1], parts[2], parts[3]
                blob = new_blob if not set(new_blob) <= {"0"} else old_blob
                if status[:1] in ("R", "C"):
                    statuses[tokens[i + 1]] = (status[0], tokens[i], blob)
                    i += 2
                else:
                    statuses[tokens[i]] = (status[0], None, blob)
                    i += 1
                continue
            added, deleted, path = token.split("\t", 2)
            old = None
            if path == "":
                old, path = tokens[i], tokens[i + 1]
                i += 2
            counts.append((path, old, 0 if added == "-" else int(added), 0 if deleted == "-" else int(deleted)))
        names = {"A": "added", "D": "removed", "M": "modified", "R": "renamed", "C": "copied", "T": "changed"}
        files = []
        for path, old, added_n, deleted_n in counts:
            letter, raw_old, blob = statuses.get(path, ("M", None, "0" * 40))
            entry: dict[str, Any] = {
                "sha": blob, "filename": path, "status": names.get(letter, "modified"), "additions": added_n,
                "deletions": deleted_n, "changes": added_n + deleted_n,
                "blob_url": f"https://github.com/{self.full_name}/blob/{head}/{path}",
                "raw_url": f"https://github.com/{self.full_name}/raw/{head}/{path}",
                "contents_url": f"{self.url}/repos/{self.full_name}/contents/{path}?ref={head}",
                "patch": f"@@ -1,{deleted_n} +1,{added_n} @@",
            }
            if letter in ("R", "C"):
                entry["previous_filename"] = old or raw_old
            files.append(entry)
        return files

    # JSON builders -------------------------------------------------------------------------

    def _user(self, login: str) -> dict[str, Any]:
        user = blank("/repos/{owner}/{repo}/pulls/{pull_number}", "get", 200, "user")
        user.update(login=login, id=abs(hash(login)) % 10**7, type="Bot" if login.endswith("[bot]") else "User",
                    html_url=f"https://github.com/{login}".replace("[bot]", ""),
                    url=f"{self.url}/users/{login}")
        return user

    def _repo_json(self, full_name: str | None = None, repo: dict[str, Any] | None = None) -> dict[str, Any]:
        full = full_name or self.full_name
        owner, name = full.split("/")
        repo = blank("/repos/{owner}/{repo}", "get", 200) if repo is None else repo
        repo.update(id=4242 if full == self.full_name else 4343, name=name, full_name=full,
                    owner=self._user(owner), html_url=f"https://github.com/{full}",
                    url=f"{self.url}/repos/{full}", default_branch="main", fork=full != self.full_name)
        return repo

    def _label_json(self, name: str, template: str = "/repos/{owner}/{repo}/labels", method: str = "get",
                    status: int = 200, *names: str) -> dict[str, Any]:
        """A label as the schema at template/method/status/names has it ('[]': a list's items)."""
        known = self.repo_labels.get(name) or {"color": "ededed", "description": None}
        label = blank(template, method, status, *names)
        nullable = prop(response_schema(template, method, status), *names, "description").get("nullable", False)
        description = known["description"] if known["description"] is not None or nullable else ""
        label.update(id=abs(hash(name)) % 10**7, name=name, color=known["color"], description=description,
                     default=False, url=f"{self.url}/repos/{self.full_name}/labels/{urllib.parse.quote(name)}")
        return label

    def _ensure_repo_label(self, name: str, color: str = "ededed", description: str | None = None) -> None:
        self.repo_labels.setdefault(name, {"color": color, "description": description})

    def _pull_json(self, pull: FakePull, template: str, method: str, status: int, *names: str) -> dict[str, Any]:
        data = blank(template, method, status, *names)
        base_url = f"{self.url}/repos/{self.full_name}"
        data.update(
            id=100000 + pull.number, number=pull.number, title=pull.title, body=pull.body, state=pull.state,
            user=self._user(pull.author), html_url=f"https://github.com/{self.full_name}/pull/{pull.number}",
            url=f"{base_url}/pulls/{pull.number}", merged_at=pull.merged_at,
            closed_at=pull.merged_at, merge_commit_sha=pull.merge_commit_sha, created_at=now_iso(0),
            updated_at=now_iso(), labels=[self._label_json(n, template, method, status, *names, "labels", "[]")
                                          for n in self.issue_labels.get(pull.number, [])],
        )
        head_repo = pull.head_repo or self.full_name
        data["head"].update(ref=pull.head_ref, sha=pull.head_sha, label=f"{head_repo.split('/')[0]}:{pull.head_ref}",
                            repo=self._repo_json(head_repo, data["head"]["repo"]),
                            user=self._user(head_repo.split("/")[0]))
        data["base"].update(ref=pull.base_ref, sha=pull.base_sha, label=f"{self.owner}:{pull.base_ref}",
                            repo=self._repo_json(None, data["base"]["repo"]), user=self._user(self.owner))
        if "changed_files" in data:
            files = self._pull_files(pull)
            data.update(changed_files=len(files), additions=sum(f["additions"] for f in files),
                        deletions=sum(f["deletions"] for f in files), commits=len(pull.commits),
                        merged=pull.merged_at is not None)
        return data

    def _pull_files(self, pull: FakePull) -> list[dict[str, Any]]:
        base = self._git_cached("merge-base", pull.base_sha, pull.head_sha)
        return self._diff_files(base, pull.head_sha)

    def _comment_json(self, comment: dict[str, Any], template: str, method: str, status: int,
                      *names: str) -> dict[str, Any]:
        data = blank(template, method, status, *names)
        data.update(id=comment["id"], body=comment["body"], user=self._user(comment["user"]),
                    html_url=f"https://github.com/{self.full_name}/issues/{comment['issue']}#issuecomment-{comment['id']}",
                    url=f"{self.url}/repos/{self.full_name}/issues/comments/{comment['id']}",
                    issue_url=f"{self.url}/repos/{self.full_name}/issues/{comment['issue']}",
                    created_at=comment["created_at"], updated_at=comment["updated_at"])
        return data

    def _run_json(self, run: Run, template: str, *names: str) -> dict[str, Any]:
        data = blank(template, "get", 200, *names)
        base_url = f"{self.url}/repos/{self.full_name}"
        data.update(
            id=run.id, name=run.workflow.name, display_title=run.display_title, status=run.status,
            conclusion=run.conclusion, head_branch=run.head_branch, head_sha=run.head_sha, event="workflow_dispatch",
            workflow_id=run.workflow.id, run_number=run.run_number, path=run.workflow.path,
            created_at=now_iso(run.created_at), updated_at=now_iso(), url=f"{base_url}/actions/runs/{run.id}",
            html_url=f"https://github.com/{self.full_name}/actions/runs/{run.id}",
        )
        return data

    def _deployment_json(self, dep: dict[str, Any], template: str, method: str, status: int, *names: str) -> dict[str, Any]:
        data = blank(template, method, status, *names)
        data.update({k: dep[k] for k in ("id", "sha", "ref", "environment", "description", "payload",
                                          "transient_environment", "production_environment", "created_at")})
        data.update(task="deploy", creator=self._user(dep["creator"]), updated_at=dep["created_at"],
                    original_environment=dep["environment"],
                    url=f"{self.url}/repos/{self.full_name}/deployments/{dep['id']}",
                    statuses_url=f"{self.url}/repos/{self.full_name}/deployments/{dep['id']}/statuses",
                    repository_url=f"{self.url}/repos/{self.full_name}")
        return data

    def _status_json(self, status_: dict[str, Any], template: str, method: str, code: int, *names: str) -> dict[str, Any]:
        data = blank(template, method, code, *names)
        data.update({k: status_[k] for k in ("id", "state", "description", "environment", "environment_url",
                                              "log_url", "target_url", "created_at")})
        data.update(creator=self._user(status_["creator"]), updated_at=status_["created_at"],
                    url=f"{self.url}/repos/{self.full_name}/deployments/{status_['deployment']}/statuses/{status_['id']}",
                    deployment_url=f"{self.url}/repos/{self.full_name}/deployments/{status_['deployment']}",
                    repository_url=f"{self.url}/repos/{self.full_name}")
        return data

    # pagination ----------------------------------------------------------------------------

    def _page(self, items: list[Any], path: str, query: dict[str, str], default_per_page: int = 30,
              max_per_page: int = 100) -> tuple[list[Any], dict[str, str]]:
        try:
            per_page = min(max(int(query.get("per_page", default_per_page)), 1), max_per_page)
            page = max(int(query.get("page", "1")), 1)
        except ValueError:
            raise _error(422, "Invalid per_page or page") from None
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(page - 1) * per_page: page * per_page]
        links = []

        def link(n: int, rel: str) -> str:
            params = {**query, "page": str(n), "per_page": str(per_page)}
            return f'<{self.url}{path}?{urllib.parse.urlencode(params)}>; rel="{rel}"'

        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        return chunk, ({"Link": ", ".join(links)} if links else {})

    # request handling ----------------------------------------------------------------------

    def _routes(self) -> list[tuple[str, str, str, Callable[..., Any]]]:
        r = "/repos/{owner}/{repo}"
        return [
            ("GET", "/rate_limit", "/rate_limit", self._get_rate_limit),
            ("GET", r, r"/repos/(?P<o>[^/]+)/(?P<r>[^/]+)", self._get_repo),
            ("GET", r + "/compare/{basehead}", r"/compare/(?P<basehead>.+)", self._get_compare),
            ("GET", r + "/commits/{commit_sha}/pulls", r"/commits/(?P<sha>[^/]+)/pulls", self._get_commit_pulls),
            ("GET", r + "/commits/{ref}", r"/commits/(?P<ref>[^/]+)", self._get_commit),
            ("GET", r + "/pulls/{pull_number}/files", r"/pulls/(?P<n>\d+)/files", self._get_pull_files),
            ("GET", r + "/pulls/{pull_number}", r"/pulls/(?P<n>\d+)", self._get_pull),
            ("POST", r + "/issues", r"/issues", self._post_issue),
            ("GET", r + "/issues/comments/{comment_id}", r"/issues/comments/(?P<id>\d+)", self._get_comment),
            ("PATCH", r + "/issues/comments/{comment_id}", r"/issues/comments/(?P<id>\d+)", self._patch_comment),
            ("GET", r + "/issues/{issue_number}/comments", r"/issues/(?P<n>\d+)/comments", self._get_comments),
            ("POST", r + "/issues/{issue_number}/comments", r"/issues/(?P<n>\d+)/comments", self._post_comment),
            ("GET", r + "/issues/{issue_number}/labels", r"/issues/(?P<n>\d+)/labels", self._get_issue_labels),
            ("POST", r + "/issues/{issue_number}/labels", r"/issues/(?P<n>\d+)/labels", self._post_issue_labels),
            ("DELETE", r + "/issues/{issue_number}/labels/{name}", r"/issues/(?P<n>\d+)/labels/(?P<name>[^/]+)",
             self._delete_issue_label),
            ("GET", r + "/labels", r"/labels", self._get_labels),
            ("POST", r + "/labels", r"/labels", self._post_label),
            ("GET", r + "/deployments", r"/deployments", self._get_deployments),
            ("POST", r + "/deployments", r"/deployments", self._post_deployment),
            ("GET", r + "/deployments/{deployment_id}", r"/deployments/(?P<id>\d+)", self._get_deployment),
            ("GET", r + "/deployments/{deployment_id}/statuses", r"/deployments/(?P<id>\d+)/statuses",
             self._get_statuses),
            ("POST", r + "/deployments/{deployment_id}/statuses", r"/deployments/(?P<id>\d+)/statuses",
             self._post_status),
            ("POST", r + "/actions/workflows/{workflow_id}/dispatches", r"/actions/workflows/(?P<wf>[^/]+)/dispatches",
             self._post_dispatch),
            ("GET", r + "/actions/workflows/{workflow_id}/runs", r"/actions/workflows/(?P<wf>[^/]+)/runs",
             self._get_runs),
            ("GET", r + "/actions/runs", r"/actions/runs", self._get_runs),
            ("GET", r + "/actions/runs/{run_id}", r"/actions/runs/(?P<id>\d+)", self._get_run),
        ]

    @functools.cached_property
    def _compiled(self) -> list[tuple[str, str, re.Pattern[str], Callable[..., Any]]]:
        prefix = re.escape(f"/repos/{self.owner}/{self.name}")
        compiled = []
        for method, template, pattern, fn in self._routes():
            if template == "/rate_limit" or template == "/repos/{owner}/{repo}":
                full = f"^{pattern}$"
            else:
                full = f"^{prefix}{pattern}$"
            compiled.append((method, template, re.compile(full), fn))
        return compiled

    def _rate_headers(self) -> dict[str, str]:
        return {"x-ratelimit-limit": str(self.rate_limit), "x-ratelimit-remaining": str(max(self.rate_limit - self.rate_used, 0)),
                "x-ratelimit-used": str(self.rate_used), "x-ratelimit-reset": str(int(time.time()) + 3600),
                "x-ratelimit-resource": "core", "x-github-api-version-selected": "2022-11-28"}

    def handle(self, method: str, raw_path: str, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, str], bytes, str | None]:
        parsed = urllib.parse.urlsplit(raw_path)
        raw = parsed.path
        if self.prefix and raw.startswith(self.prefix + "/"):
            raw = raw[len(self.prefix):]
        path = urllib.parse.unquote(raw) if "/labels/" not in raw else raw
        query = dict(urllib.parse.parse_qsl(parsed.query))
        template = None
        with self._lock:
            self.rate_used += 1
            reply_headers = self._rate_headers()
        try:
            auth = headers.get("Authorization", "")
            if auth not in (f"token {self.token}", f"Bearer {self.token}"):
                raise _error(401, "Bad credentials")
            fault = self._take_fault(method, path)
            route = None
            for verb, tmpl, pattern, fn in self._compiled:
                match = pattern.match(path)
                if match and verb == method:
                    route, template = (fn, match.groupdict()), tmpl
                    break
            if fault is not None and not (fault.after_applying and route is not None):
                raise self._fault_reply(fault)
            if route is None:
                raise _error(404, "Not Found")
            if method != "GET" and self.read_only:
                raise _error(403, NOT_ACCESSIBLE)
            payload = json.loads(body) if body else {}
            fn, params = route
            status, data, extra = fn(params, query, payload, path)
            reply_headers.update(extra)
            if fault is not None:
                raise self._fault_reply(fault)
        except _Reply as reply:
            status, data = reply.status, reply.body
            reply_headers.update(reply.headers)
        except Exception as exc:  # a bug in the fake: answer 500 and let the test see it
            import traceback

            traceback.print_exc()
            status, data = 500, {"message": f"fake GitHub bug: {type(exc).__name__}: {exc}"}
        out = b"" if data is None else json.dumps(data).encode()
        if data is not None:
            reply_headers["Content-Type"] = "application/json; charset=utf-8"
        with self._lock:
            self.exchanges.append(Exchange(method, path, query, template, status, body, out, reply_headers,
                                           headers.get("Authorization", "")))
        return status, reply_headers, out, template

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.matches(method, path):
                    fault.times -= 1
                    return fault
        return None

    def _fault_reply(self, fault: Fault) -> _Reply:
        headers: dict[str, str] = {}
        message = fault.message
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        if fault.reset_in is not None:
            headers.update({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.time()) + fault.reset_in)})
            message = message or f"API rate limit exceeded for installation ID 1. {DOCS}"
        if fault.status == 403:
            message = message or SECONDARY_LIMIT_MESSAGE
        if fault.status == 502:
            return _Reply(502, {"message": "Server Error"}, headers)
        reply = _error(fault.status, message or "error")
        reply.headers.update(headers)
        return reply

    # handlers: each returns (status, json, extra headers) ------------------------------------

    def _get_rate_limit(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        data = blank("/rate_limit", "get", 200)
        core = {"limit": self.rate_limit, "used": self.rate_used, "remaining": self.rate_limit - self.rate_used,
                "reset": int(time.time()) + 3600}
        for key in data["resources"]:
            data["resources"][key] = dict(core)
        data["resources"]["core"] = dict(core)
        data["rate"] = dict(core)
        return 200, data, {}

    def _get_repo(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        if f"{p['o']}/{p['r']}".lower() != self.full_name.lower():
            raise _error(404, "Not Found")
        return 200, self._repo_json(), {}

    def _commit_json(self, sha: str, template: str, *names: str) -> dict[str, Any]:
        fields = self._git_cached("log", "-1", "--format=%H%x1f%P%x1f%an%x1f%ae%x1f%aI%x1f%B", sha).split("\x1f")
        data = blank(template, "get", 200, *names)
        data.update(sha=fields[0], node_id=f"C_{fields[0][:10]}", url=f"{self.url}/repos/{self.full_name}/commits/{sha}",
                    html_url=f"https://github.com/{self.full_name}/commit/{sha}",
                    parents=[{"sha": s, "url": f"{self.url}/repos/{self.full_name}/commits/{s}"} for s in fields[1].split()])
        data["commit"].update(message=fields[5].strip(), url=f"{self.url}/repos/{self.full_name}/git/commits/{sha}")
        data["commit"]["author"] = {"name": fields[2], "email": fields[3], "date": fields[4].replace("+00:00", "Z")}
        data["commit"]["committer"] = dict(data["commit"]["author"])
        data["commit"]["tree"] = {"sha": "0" * 40, "url": f"{self.url}/repos/{self.full_name}/git/trees/{'0' * 40}"}
        return data

    def _get_compare(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        base_ref, _, head_ref = p["basehead"].partition("...")
        base, head = self._resolve(base_ref), self._resolve(head_ref)
        if not base or not head:
            raise _error(404, "Not Found")
        merge_base = self._git_cached("merge-base", base, head)
        ahead = self._git_cached("rev-list", "--reverse", f"{base}..{head}").split()
        behind = int(self._git_cached("rev-list", "--count", f"{head}..{base}") or 0)
        tmpl = "/repos/{owner}/{repo}/compare/{basehead}"
        commits, links = self._page(ahead, path, q, default_per_page=250, max_per_page=250)
        data = blank(tmpl, "get", 200)
        data.update(
            url=f"{self.url}{path}", html_url=f"https://github.com/{self.full_name}/compare/{p['basehead']}",
            status="identical" if not ahead and not behind else "ahead" if not behind else "behind" if not ahead else "diverged",
            ahead_by=len(ahead), behind_by=behind, total_commits=len(ahead),
            commits=[self._commit_json(sha, tmpl, "commits", "[]") for sha in commits],
            files=self._diff_files(merge_base, head)[:300],
            base_commit=self._commit_json(base, tmpl, "base_commit"),
            merge_base_commit=self._commit_json(merge_base, tmpl, "merge_base_commit"),
        )
        return 200, data, links

    def _get_commit(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        sha = self._resolve(p["ref"])
        if not sha:
            raise _error(422, f"No commit found for SHA: {p['ref']}")
        tmpl = "/repos/{owner}/{repo}/commits/{ref}"
        data = self._commit_json(sha, tmpl)
        parent = data["parents"][0]["sha"] if data["parents"] else "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
        files = self._diff_files(parent, sha)
        chunk, links = self._page(files, path, q, default_per_page=300, max_per_page=300)
        data.update(files=chunk, stats={"additions": sum(f["additions"] for f in files),
                                        "deletions": sum(f["deletions"] for f in files),
                                        "total": sum(f["changes"] for f in files)})
        return 200, data, links

    def _get_commit_pulls(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        sha = self._resolve(p["sha"])
        if not sha:
            raise _error(422, f"No commit found for SHA: {p['sha']}")
        related = [pr for pr in self.pulls.values()
                   if pr.merge_commit_sha == sha or pr.head_sha == sha or sha in pr.commits]
        related.sort(key=lambda pr: pr.number, reverse=True)
        chunk, links = self._page(related, path, q)
        tmpl = "/repos/{owner}/{repo}/commits/{commit_sha}/pulls"
        return 200, [self._pull_json(pr, tmpl, "get", 200, "[]") for pr in chunk], links

    def _pull(self, number: str) -> FakePull:
        pull = self.pulls.get(int(number))
        if pull is None:
            raise _error(404, "Not Found")
        return pull

    def _get_pull(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        pull = self._pull(p["n"])
        return 200, self._pull_json(pull, "/repos/{owner}/{repo}/pulls/{pull_number}", "get", 200), {}

    def _get_pull_files(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        files = self._pull_files(self._pull(p["n"]))[: self.pull_files_cap]
        chunk, links = self._page(files, path, q)
        return 200, chunk, links

    def _issue_exists(self, number: str) -> int:
        n = int(number)
        if n not in self.pulls and n not in self.issues:
            raise _error(404, "Not Found")
        return n

    def _post_issue(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        if not isinstance(b.get("title"), str | int) or not str(b.get("title")).strip():
            raise _error(422, "Validation Failed")
        number = self.add_issue(str(b["title"]), str(b.get("body") or ""))
        self.issues[number]["user"] = self.bot_login
        for name in b.get("labels") or []:
            self._ensure_repo_label(name)
            self.issue_labels[number].append(name)
        tmpl = "/repos/{owner}/{repo}/issues"
        data = blank(tmpl, "post", 201)
        data.update(id=200000 + number, number=number, title=self.issues[number]["title"], body=self.issues[number]["body"],
                    state="open", user=self._user(self.bot_login),
                    html_url=f"https://github.com/{self.full_name}/issues/{number}",
                    url=f"{self.url}/repos/{self.full_name}/issues/{number}",
                    labels=[self._label_json(n, "/repos/{owner}/{repo}/labels", "get", 200, "[]")
                            for n in self.issue_labels[number]],
                    created_at=self.issues[number]["created_at"], updated_at=now_iso())
        return 201, data, {}

    def _get_comments(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        number = self._issue_exists(p["n"])
        chunk, links = self._page(self.comments_on(number), path, q)
        tmpl = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
        return 200, [self._comment_json(c, tmpl, "get", 200, "[]") for c in chunk], links

    def _post_comment(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        number = self._issue_exists(p["n"])
        if not isinstance(b.get("body"), str):
            raise _error(422, "Validation Failed")
        comment = {"id": self.next_id(), "issue": number, "body": b["body"], "user": self.bot_login,
                   "created_at": now_iso(), "updated_at": now_iso()}
        self.comments[comment["id"]] = comment
        return 201, self._comment_json(comment, "/repos/{owner}/{repo}/issues/{issue_number}/comments", "post", 201), {}

    def _get_comment(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        comment = self.comments.get(int(p["id"]))
        if comment is None:
            raise _error(404, "Not Found")
        return 200, self._comment_json(comment, "/repos/{owner}/{repo}/issues/comments/{comment_id}", "get", 200), {}

    def _patch_comment(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        comment = self.comments.get(int(p["id"]))
        if comment is None:
            raise _error(404, "Not Found")
        if not isinstance(b.get("body"), str):
            raise _error(422, "Validation Failed")
        comment.update(body=b["body"], updated_at=now_iso())
        comment["edits"] = comment.get("edits", 0) + 1
        return 200, self._comment_json(comment, "/repos/{owner}/{repo}/issues/comments/{comment_id}", "patch", 200), {}

    def _get_issue_labels(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        number = self._issue_exists(p["n"])
        tmpl = "/repos/{owner}/{repo}/issues/{issue_number}/labels"
        chunk, links = self._page(self.issue_labels[number], path, q)
        return 200, [self._label_json(n, tmpl, "get", 200, "[]") for n in chunk], links

    def _post_issue_labels(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        number = self._issue_exists(p["n"])
        names = b.get("labels") if isinstance(b, dict) else b
        if not isinstance(names, list):
            raise _error(422, "Validation Failed")
        for name in names:
            name = name["name"] if isinstance(name, dict) else str(name)
            self._ensure_repo_label(name)
            if name not in self.issue_labels[number]:
                self.issue_labels[number].append(name)
        tmpl = "/repos/{owner}/{repo}/issues/{issue_number}/labels"
        return 200, [self._label_json(n, tmpl, "post", 200, "[]") for n in self.issue_labels[number]], {}

    def _delete_issue_label(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        number = self._issue_exists(p["n"])
        name = urllib.parse.unquote(p["name"])
        if name not in self.issue_labels[number]:
            raise _error(404, "Label does not exist")
        self.issue_labels[number].remove(name)
        tmpl = "/repos/{owner}/{repo}/issues/{issue_number}/labels"
        tmpl = "/repos/{owner}/{repo}/issues/{issue_number}/labels/{name}"
        return 200, [self._label_json(n, tmpl, "delete", 200, "[]") for n in self.issue_labels[number]], {}

    def _get_labels(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        chunk, links = self._page(sorted(self.repo_labels), path, q)
        return 200, [self._label_json(n, "/repos/{owner}/{repo}/labels", "get", 200, "[]") for n in chunk], links

    def _post_label(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        name = b.get("name")
        if not isinstance(name, str) or not name:
            raise _error(422, "Validation Failed")
        if name in self.repo_labels:
            raise _Reply(422, {"message": "Validation Failed", "documentation_url": DOCS,
                               "errors": [{"resource": "Label", "code": "already_exists", "field": "name"}]})
        self.repo_labels[name] = {"color": str(b.get("color") or "ededed").lstrip("#"), "description": b.get("description")}
        data = self._label_json(name, "/repos/{owner}/{repo}/labels", "post", 201)
        return 201, data, {}

    def _get_deployments(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        deps = [d for d in sorted(self.deployments.values(), key=lambda d: -d["id"])
                if all(q.get(k) in (None, d.get(k)) for k in ("sha", "ref", "environment"))]
        chunk, links = self._page(deps, path, q)
        tmpl = "/repos/{owner}/{repo}/deployments"
        return 200, [self._deployment_json(d, tmpl, "get", 200, "[]") for d in chunk], links

    def _post_deployment(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        ref = b.get("ref")
        sha = self._resolve(ref) if isinstance(ref, str) else None
        if not sha:
            raise _error(422, f"No ref found for: {ref}")
        dep = {"id": self.next_id(), "sha": sha, "ref": ref, "environment": b.get("environment", "production"),
               "description": b.get("description"), "payload": b.get("payload") or {},
               "transient_environment": bool(b.get("transient_environment", False)),
               "production_environment": bool(b.get("production_environment", b.get("environment", "production") == "production")),
               "created_at": now_iso(), "creator": self.bot_login, "request": b}
        self.deployments[dep["id"]] = dep
        self.deployment_statuses[dep["id"]] = []
        return 201, self._deployment_json(dep, "/repos/{owner}/{repo}/deployments", "post", 201), {}

    def _get_deployment(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        dep = self.deployments.get(int(p["id"]))
        if dep is None:
            raise _error(404, "Not Found")
        return 200, self._deployment_json(dep, "/repos/{owner}/{repo}/deployments/{deployment_id}", "get", 200), {}

    def _get_statuses(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        if int(p["id"]) not in self.deployments:
            raise _error(404, "Not Found")
        chunk, links = self._page(list(reversed(self.deployment_statuses[int(p["id"])])), path, q)
        tmpl = "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"
        return 200, [self._status_json(s, tmpl, "get", 200, "[]") for s in chunk], links

    def _post_status(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        dep_id = int(p["id"])
        if dep_id not in self.deployments:
            raise _error(404, "Not Found")
        states = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
        if b.get("state") not in states:
            raise _error(422, "Validation Failed")
        log_url = b.get("log_url") or b.get("target_url") or ""
        status_ = {"id": self.next_id(), "deployment": dep_id, "state": b["state"],
                   "description": b.get("description") or "", "environment": b.get("environment") or self.deployments[dep_id]["environment"],
                   "environment_url": b.get("environment_url") or "", "log_url": log_url, "target_url": log_url,
                   "created_at": now_iso(), "creator": self.bot_login}
        self.deployment_statuses[dep_id].append(status_)
        tmpl = "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses"
        return 201, self._status_json(status_, tmpl, "post", 201), {}

    def _post_dispatch(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        workflow = self.workflows.get(urllib.parse.unquote(p["wf"]))
        if workflow is None:
            raise _error(404, "Not Found")
        ref = b.get("ref")
        sha = self._resolve(ref) if isinstance(ref, str) else None
        if not sha:
            raise _error(422, f"No ref found for: {ref}")
        inputs = b.get("inputs") or {}
        if not all(isinstance(v, str) for v in inputs.values()):
            raise _error(422, "Invalid value for input")
        with self._lock:
            run = Run(id=self.next_id(), workflow=workflow, head_branch=str(ref), head_sha=sha, inputs=dict(inputs),
                      created_at=time.time(), run_number=len(self.runs) + 1)
            self.runs[run.id] = run
        thread = threading.Thread(target=self._execute, args=(run,), daemon=True)
        self._run_threads.append(thread)
        thread.start()
        if self.return_run_details and b.get("return_run_details"):
            return 200, {"workflow_run_id": run.id, "run_url": f"{self.url}/repos/{self.full_name}/actions/runs/{run.id}",
                         "html_url": f"https://github.com/{self.full_name}/actions/runs/{run.id}"}, {}
        return 204, None, {}

    def _execute(self, run: Run) -> None:
        time.sleep(0.02)
        run.status = "in_progress"
        try:
            conclusion = run.workflow.runner(dict(run.inputs))
        except Exception:
            conclusion = "failure"
        run.conclusion = conclusion
        run.status = "completed"

    def _get_runs(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        runs = sorted(self.runs.values(), key=lambda r: (r.created_at, r.id), reverse=True)
        if "wf" in p:
            workflow = self.workflows.get(urllib.parse.unquote(p["wf"]))
            if workflow is None:
                raise _error(404, "Not Found")
            runs = [r for r in runs if r.workflow is workflow]
        if q.get("event") not in (None, "workflow_dispatch"):
            runs = []
        if "created" in q:
            created = q["created"]
            if created.startswith(">="):
                since = datetime.strptime(created[2:], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()
                runs = [r for r in runs if int(r.created_at) >= since]
        if "status" in q:
            runs = [r for r in runs if q["status"] in (r.status, r.conclusion)]
        if "head_sha" in q:
            runs = [r for r in runs if r.head_sha == q["head_sha"]]
        chunk, links = self._page(runs, path, q)
        tmpl = "/repos/{owner}/{repo}/actions/workflows/{workflow_id}/runs" if "wf" in p else "/repos/{owner}/{repo}/actions/runs"
        data = blank(tmpl, "get", 200)
        data.update(total_count=len(runs), workflow_runs=[self._run_json(r, tmpl, "workflow_runs", "[]") for r in chunk])
        return 200, data, links

    def _get_run(self, p: dict[str, str], q: dict[str, str], b: Any, path: str) -> tuple[int, Any, dict[str, str]]:
        run = self.runs.get(int(p["id"]))
        if run is None:
            raise _error(404, "Not Found")
        return 200, self._run_json(run, "/repos/{owner}/{repo}/actions/runs/{run_id}"), {}

    # HTTP plumbing -------------------------------------------------------------------------

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, headers, out, _ = fake.handle(self.command, self.path, dict(self.headers.items()), body)
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                if out:
                    self.wfile.write(out)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


# contract validation -------------------------------------------------------------------------


def validate_exchange(exchange: Exchange) -> None:
    """Check one request and its response against GitHub's OpenAPI description; raise on drift."""
    from openapi_core.testing import MockRequest, MockResponse

    if exchange.template is None:
        return
    op = spec()["paths"][exchange.template][exchange.method.lower()]
    pattern = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>.+)" if m.group(1) == "basehead"
                     else f"(?P<{m.group(1)}>[^/]+)", re.escape(exchange.template))
    match = re.fullmatch(pattern, exchange.path)
    view_args = {k: urllib.parse.unquote(v) for k, v in match.groupdict().items()} if match else {}
    request = MockRequest("https://api.github.com", exchange.method.lower(), exchange.path,
                          path_pattern=exchange.template, args=exchange.query, view_args=view_args,
                          data=exchange.request_body or None, content_type="application/json")
    if exchange.status < 400:
        openapi().validate_request(request)
    if str(exchange.status) not in op["responses"] or not exchange.response_body:
        return
    response = MockResponse(exchange.response_body, status_code=exchange.status,
                            headers={k: v for k, v in exchange.response_headers.items() if k.lower() != "content-type"},
                            content_type="application/json")
    openapi().validate_response(request, response)


def validate_exchanges(fake: FakeGitHub) -> int:
    """Validate everything the fake served; returns how many exchanges were checked."""
    problems = []
    for exchange in list(fake.exchanges):
        try:
            validate_exchange(exchange)
        except Exception as exc:  # collect every drift, not just the first
            detail = getattr(exc, "__cause__", None) or exc
            errors = getattr(detail, "schema_errors", None) or [detail]
            problems.append(f"{exchange.method} {exchange.path} -> {exchange.status}: " + "; ".join(
                f"at {'/'.join(str(p) for p in getattr(e, 'absolute_path', []))}: {getattr(e, 'message', str(e))[:300]}"
                for e in errors))
    if problems:
        raise AssertionError("fake GitHub drifted from the OpenAPI description:\n" + "\n".join(problems))
    return len(fake.exchanges)


def iter_templates() -> Iterator[tuple[str, str]]:
    for template, methods in spec()["paths"].items():
        for method in methods:
            yield method.upper(), template
