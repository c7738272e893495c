"""Git adapter: refs, first-parent ranges, numstat and hunks, worktrees.

History is read with as few git processes as possible: one `git log` for a whole range, parsed
from its NUL-separated output, so that `risk` over thousands of commits costs about what
`git log --numstat` costs.
"""

from __future__ import annotations

import codecs
import difflib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import git

from bisect_runner.errors import UserError

_RECORD = "\x1e"
_FIELD = "\x1f"
_LOG_FORMAT = _RECORD + _FIELD.join(["%H", "%P", "%an", "%ae", "%aI", "%cI", "%s", "%b"]) + _FIELD

_PR_MERGE = re.compile(r"^Merge pull request #(\d+)\b")
_PR_SQUASH = re.compile(r"\(#(\d+)\)\s*$")
_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$")


@dataclass(frozen=True)
class FileChange:
    """One file of a commit's diff against its first parent."""

    path: str
    additions: int
    deletions: int
    status: str = "M"  # A, M, D, R, C, T
    old_path: str | None = None
    binary: bool = False

    @property
    def lines(self) -> int:
        return self.additions + self.deletions


@dataclass(frozen=True)
class Commit:
    sha: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    authored_at: str
    committed_at: str
    subject: str
    body: str = ""

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1

    @property
    def short(self) -> str:
        return self.sha[:10]

    @property
    def pr_number(self) -> int | None:
        """The PR number as GitHub writes it in merge and squash subjects, or None."""
        return pr_number_from_subject(self.subject)


@dataclass
class Change:
    """A commit and its diff against its first parent."""

    commit: Commit
    files: list[FileChange] = field(default_factory=list)

    @property
    def additions(self) -> int:
        return sum(f.additions for f in self.files)

    @property
    def deletions(self) -> int:
        return sum(f.deletions for f in self.files)


@dataclass(frozen=True)
class Hunk:
    """A changed region; `new_start`/`new_count` are line numbers in the commit's version."""

    path: str
    old_start: int
    old_count: int
    new_start: int
    new_count: int
    function: str = ""

    def covers(self, line: int) -> bool:
        if self.new_count == 0:  # pure deletion: the line that now sits at new_start was next to it
            return line in (self.new_start, self.new_start + 1)
        return self.new_start <= line < self.new_start + self.new_count


def pr_number_from_subject(subject: str) -> int | None:
    match = _PR_MERGE.match(subject) or _PR_SQUASH.search(subject)
    return int(match.group(1)) if match else None


class GitRepo:
    """A local repository. Every git call of the project goes through here."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        try:
            self.repo = git.Repo(path, search_parent_directories=True)
        except (git.NoSuchPathError, git.InvalidGitRepositoryError):
            raise UserError(f"{path} is not a git repository; pass --repo PATH to a clone") from None
        if self.repo.bare:
            raise UserError(f"{path} is a bare repository; pass --repo PATH to a clone with a work tree")
        self.root = Path(self.repo.working_tree_dir or path)
        self.git = self.repo.git

    @property
    def git_dir(self) -> Path:
        return Path(self.repo.git_dir)

    # refs -----------------------------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        """Full sha of `ref`, or a UserError that suggests the closest known ref."""
        if not ref or ref.startswith("-"):
            raise UserError(f"invalid ref {ref!r}")
        try:
            return str(self.git.rev_parse("--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}"))
        except git.GitCommandError:
            pass
        names = [r.name for r in self.repo.refs]
        close = difflib.get_close_matches(ref, names, n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else "; check the name with `git tag` / `git branch -a`"
        raise UserError(f"ref {ref!r} not found in {self.root}{hint}")

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        try:
            self.git.merge_base("--is-ancestor", ancestor, descendant)
            return True
        except git.GitCommandError as exc:
            if exc.status == 1:
                return False
            raise

    def merge_base(self, a: str, b: str) -> str:
        try:
            return str(self.git.merge_base(a, b))
        except git.GitCommandError:
            raise UserError(f"{a[:10]} and {b[:10]} have no common ancestor") from None

    def require_range(self, base_ref: str, head_ref: str, *, base_name: str = "base",
                      head_name: str = "head") -> tuple[str, str]:
        """Resolve both refs and check that base is an ancestor of head."""
        base, head = self.resolve(base_ref), self.resolve(head_ref)
        if base == head:
            raise UserError(f"{base_name} {base_ref!r} and {head_name} {head_ref!r} are the same commit: the range is empty")
        if not self.is_ancestor(base, head):
            raise UserError(
                f"{base_name} {base_ref!r} is not an ancestor of {head_name} {head_ref!r}; "
                f"pass an older {base_name} (git merge-base {base_ref} {head_ref} finds one)"
            )
        return base, head

    def head_state(self) -> tuple[str | None, str]:
        """(branch name or None when detached, HEAD sha): what we promise never to move."""
        sha = str(self.git.rev_parse("HEAD"))
        try:
            branch: str | None = str(self.git.symbolic_ref("--quiet", "--short", "HEAD"))
        except git.GitCommandError:
            branch = None
        return branch, sha

    def is_dirty(self) -> bool:
        return bool(self.git.status("--porcelain", "--untracked-files=no"))

    # history --------------------------------------------------------------------------------

    def first_parent_changes(self, base: str, head: str, *, with_files: bool = True) -> list[Change]:
        """Every first-parent commit of base..head, oldest first, each with its diff against its
        first parent (merges included), in one git process."""
        args = ["--first-parent", "--reverse", f"--format={_LOG_FORMAT}", "-z"]
        if with_files:
            args += ["--diff-merges=first-parent", "--raw", "--numstat", "-M", "--no-abbrev"]
        out = self.git.log(*args, f"{base}..{head}", "--", strip_newline_in_stdout=False)
        return parse_log(out, with_files=with_files)

    def iter_first_parent_changes(self, base: str, head: str) -> Iterator[Change]:
        """first_parent_changes, streamed: each Change is yielded as soon as git has printed it, so
        the caller's work (e.g. risk scoring) overlaps git's diffing instead of following it."""
        proc = self.git.log("--first-parent", "--reverse", f"--format={_LOG_FORMAT}", "-z",
                            "--diff-merges=first-parent", "--raw", "--numstat", "-M", "--no-abbrev",
                            f"{base}..{head}", "--", as_process=True)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        pending = ""
        try:
            stdout = proc.proc.stdout
            while chunk := stdout.read1(1 << 16):
                pending += decoder.decode(chunk)
                complete, _, pending = pending.rpartition(_RECORD)
                if complete:
                    yield from parse_log(complete, with_files=True)
                    pending = _RECORD + pending
            pending += decoder.decode(b"", final=True)
            yield from parse_log(pending, with_files=True)
            proc.wait()
        finally:
            with suppress(OSError, ValueError):
                proc.proc.stdout.close()

    def commits(self, base: str, head: str, *, first_parent: bool = False) -> list[Commit]:
        args = ["--reverse", f"--format={_LOG_FORMAT}", "-z", "--topo-order"]
        if first_parent:
            args.append("--first-parent")
        out = self.git.log(*args, f"{base}..{head}", "--", strip_newline_in_stdout=False)
        return [c.commit for c in parse_log(out, with_files=False)]

    def commit(self, ref: str) -> Commit:
        out = self.git.log("-1", f"--format={_LOG_FORMAT}", "-z", ref, "--", strip_newline_in_stdout=False)
        return parse_log(out, with_files=False)[0].commit

    def change(self, sha: str) -> Change:
        """One commit's diff against its first parent."""
        out = self.git.log(
            "-1", f"--format={_LOG_FORMAT}", "-z", "--diff-merges=first-parent", "--raw", "--numstat",
            "-M", "--no-abbrev", sha, "--", strip_newline_in_stdout=False,
        )
        return parse_log(out, with_files=True)[0]

    def diff_change(self, base: str, head: str) -> list[FileChange]:
        """Files changed between two commits (e.g. a PR's merge base and its head)."""
        out = self.git.diff("-z", "--raw", "--numstat", "-M", "--no-abbrev", base, head, "--",
                            strip_newline_in_stdout=False)
        return _parse_files(out.split("\0"))

    def tracked_paths(self, sha: str) -> list[str]:
        """Every file path in `sha`'s tree, in one git process (to match stack-trace frames to the
        one file they name, not to any file that shares its name)."""
        out = self.git.ls_tree("-r", "-z", "--name-only", "--full-tree", sha, strip_newline_in_stdout=False)
        return [path for path in out.split("\0") if path]

    def hunks(self, sha: str, paths: Sequence[str], parent: str | None = None) -> list[Hunk]:
        """Changed regions of `paths` in `sha` against `parent` (default: its first parent)."""
        if not paths:
            return []
        commit = self.commit(sha)
        if parent is None:
            if not commit.parents:
                return []
            parent = commit.parents[0]
        out = self.git.diff("-U0", "--no-color", "--no-ext-diff", "-M", parent, sha, "--", *paths)
        return parse_hunks(out)

    def author_names(self, shas: Sequence[str]) -> dict[str, str]:
        """sha -> author name for many commits in one git process (e.g. the PR heads of merges,
        whose author wrote the PR, unlike the merge commit's author who pressed the button)."""
        unique = sorted(set(shas))
        names: dict[str, str] = {}
        for start in range(0, len(unique), 2000):  # stay far below the command-line length limit
            out = self.git.log("--no-walk=unsorted", "--format=%H%x1f%an", *unique[start:start + 2000], "--")
            names.update(line.split("\x1f", 1) for line in out.splitlines() if "\x1f" in line)
        return names

    def pr_commits(self, merge_sha: str) -> list[Commit]:
        """The commits a merge brought in (its second parent's side), oldest first."""
        commit = self.commit(merge_sha)
        if len(commit.parents) < 2:
            return []
        return self.commits(commit.parents[0], commit.parents[1], first_parent=True)

    # worktrees ------------------------------------------------------------------------------

    @contextmanager
    def worktree(self, sha: str, prefix: str = "bisect-runner-") -> Iterator[Path]:
        """A detached checkout of `sha` outside the user's work tree, removed on exit (even on Ctrl-C)."""
        parent = Path(tempfile.mkdtemp(prefix=prefix))
        path = parent / "wt"
        try:
            self.git.worktree("add", "--detach", "--force", str(path), sha)
            yield path
        finally:
            self.remove_worktree(path)
            shutil.rmtree(parent, ignore_errors=True)

    def remove_worktree(self, path: Path) -> None:
        try:
            self.git.worktree("remove", "--force", str(path))
        except git.GitCommandError:
            shutil.rmtree(path, ignore_errors=True)
        with suppress(git.GitCommandError):
            self.git.worktree("prune")


def parse_log(out: str, *, with_files: bool) -> list[Change]:
    changes: list[Change] = []
    for record in out.split(_RECORD):
        if not record.strip("\0\n"):
            continue
        fields = record.split(_FIELD)
        sha, parents, an, ae, ad, cd, subject, body = fields[:8]
        rest = fields[8] if len(fields) > 8 else ""
        commit = Commit(
            sha=sha, parents=tuple(parents.split()), author_name=an, author_email=ae,
            authored_at=ad, committed_at=cd, subject=subject, body=body.strip(),
        )
        files = _parse_files(rest.split("\0")) if with_files else []
        changes.append(Change(commit=commit, files=files))
    return changes


def _parse_files(tokens: list[str]) -> list[FileChange]:
    """Parse `--raw --numstat -z` tokens into FileChanges (raw gives status, numstat the counts)."""
    statuses: dict[str, tuple[str, str | None]] = {}
    counts: list[tuple[str, str | None, int, int, bool]] = []
    i = 0
    n = len(tokens)
    while i < n:
        token = tokens[i].lstrip("\n")
        i += 1
        if not token:
            continue
        if token.startswith(":"):
            status = token.split(" ")[-1]
            if status[:1] in ("R", "C"):
                old, new = tokens[i], tokens[i + 1]
                i += 2
                statuses[new] = (status[0], old)
            else:
                statuses[tokens[i]] = (status[0], None)
                i += 1
            continue
        parts = token.split("\t", 2)
        if len(parts) != 3:
            continue
        added, deleted, path = parts
        old_path: str | None = None
        if path == "":  # rename or copy: old and new follow as their own tokens
            old_path, path = tokens[i], tokens[i + 1]
            i += 2
        binary = added == "-"
        counts.append((path, old_path, 0 if binary else int(added), 0 if binary else int(deleted), binary))
    files = []
    for path, old_path, added_n, deleted_n, binary in counts:
        status, raw_old = statuses.get(path, ("M", None))
        files.append(FileChange(path=path, additions=added_n, deletions=deleted_n, status=status,
                                old_path=old_path or raw_old, binary=binary))
    return files


def parse_hunks(diff_text: str) -> list[Hunk]:
    hunks: list[Hunk] = []
    path = ""
    for line in diff_text.splitlines():
        if line.startswith("+++ "):
            target = line[4:]
            path = target[2:] if target.startswith("b/") else target
            if path.startswith('"'):
                path = path.strip('"')
        elif line.startswith("@@"):
            match = _HUNK.match(line)
            if match:
                old_start, old_count, new_start, new_count, func = match.groups()
                hunks.append(Hunk(
                    path=path, old_start=int(old_start), old_count=int(old_count or 1),
                    new_start=int(new_start), new_count=int(new_count if new_count is not None else 1),
                    function=func.strip(),
                ))
    return hunks
