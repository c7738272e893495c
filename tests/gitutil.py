"""Build real git repositories for tests and benchmarks."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


class TestRepo:
    """A real repository in a folder, with helpers that commit, branch and merge like GitHub does."""

    __test__ = False  # not a pytest class

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q", "-b", "main")
        self.git("config", "user.name", "Test Author")
        self.git("config", "user.email", "author@example.com")
        self.git("config", "commit.gpgsign", "false")
        self._tick = 0

    def git(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        full_env = {**os.environ, **GIT_ENV, **(env or {})}
        self._tick = getattr(self, "_tick", 0) + 1
        date = f"2026-01-01T00:{self._tick // 60 % 60:02d}:{self._tick % 60:02d}Z"
        full_env.setdefault("GIT_AUTHOR_DATE", date)
        full_env.setdefault("GIT_COMMITTER_DATE", date)
        result = subprocess.run(["git", *args], cwd=self.path, env=full_env, capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed: {result.stderr}")
        return result.stdout.strip()

    def write(self, files: Mapping[str, str | bytes | None]) -> None:
        for name, content in files.items():
            target = self.path / name
            if content is None:
                target.unlink()
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                target.write_bytes(content)
            else:
                target.write_text(content)

    def commit(self, message: str, files: Mapping[str, str | bytes | None] | None = None,
               author: str | None = None) -> str:
        if files:
            self.write(files)
        self.git("add", "-A")
        env = {}
        if author:
            env = {"GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": f"{author.lower()}@example.com"}
        self.git("commit", "-q", "--allow-empty", "-m", message, env=env)
        return self.head()

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def merge_pr(self, number: int, branch: str, commits: list[tuple[str, Mapping[str, str | bytes | None]]],
                 title: str = "", author: str | None = None) -> str:
        """Create `branch` with `commits` from main and merge it like GitHub's merge button."""
        self.git("checkout", "-q", "-b", branch)
        for message, files in commits:
            self.commit(message, files, author=author)
        self.git("checkout", "-q", "main")
        self.git("merge", "-q", "--no-ff", branch, "-m",
                 f"Merge pull request #{number} from acme/{branch}\n\n{title or branch}")
        return self.head()

    def squash_pr(self, number: int, title: str, files: Mapping[str, str | bytes | None],
                  author: str | None = None) -> str:
        return self.commit(f"{title} (#{number})", files, author=author)

    def tag(self, name: str) -> None:
        self.git("tag", name)
