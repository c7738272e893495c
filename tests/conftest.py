from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gitutil import GIT_ENV, TestRepo
from tests.staging_app import StagingServers

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(autouse=True)
def _git_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in GIT_ENV.items():
        monkeypatch.setenv(key, value)
    # Tests never read the developer's secrets, and never reach real GitHub or Slack.
    for key in ("GITHUB_TOKEN", "GH_TOKEN", "SLACK_WEBHOOK_URL", "SLACK_BOT_TOKEN", "BISECT_RUNNER_WEBHOOK_URL",
                "GITHUB_ACTIONS", "GITHUB_EVENT_PATH", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY",
                "GITHUB_REPOSITORY", "GITHUB_API_URL", "BISECT_RUNNER_STORE"):
        monkeypatch.delenv(key, raising=False)


@pytest.fixture
def staging(tmp_path: Path) -> Iterator[StagingServers]:
    """Local staging slots: real HTTP processes on 127.0.0.1, stopped after the test."""
    servers = StagingServers(tmp_path)
    yield servers
    servers.stop()


@pytest.fixture
def repo(tmp_path: Path) -> TestRepo:
    return TestRepo(tmp_path / "repo")


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run `python -m bisect_runner ARGS` in a subprocess, as a user would."""
    full_env = {**os.environ, **GIT_ENV, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "bisect_runner", *args], cwd=cwd, env=full_env, capture_output=True,
        text=True, timeout=timeout, input=input,
    )
