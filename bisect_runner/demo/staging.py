"""The demo's deploy hook: (re)start the shop from $BISECT_WORKTREE on $STAGING_URL's port.

bisect-runner runs this once per deploy with BISECT_SHA, BISECT_WORKTREE, BISECT_SLOT and
STAGING_URL set. It stops the slot's previous server, starts a real HTTP process on 127.0.0.1
from the worktree, and waits until /health answers: exit 0 means deployed.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse


def state_dir() -> Path:
    base = os.environ.get("BISECT_RUNNER_DEMO_DIR") or os.path.join(os.environ.get("TMPDIR", "/tmp"), "bisect-runner-demo")
    path = Path(base) / "staging"
    path.mkdir(parents=True, exist_ok=True)
    return path


def stop_slot(slot: str) -> None:
    pid_file = state_dir() / f"{slot}.pid"
    if not pid_file.exists():
        return
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            os.kill(pid, 0)
            time.sleep(0.02)
    except (ProcessLookupError, ValueError):
        pass
    pid_file.unlink(missing_ok=True)


def stop_all() -> None:
    for pid_file in state_dir().glob("*.pid"):
        stop_slot(pid_file.stem)


def wait_healthy(url: str, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url.rstrip("/") + "/health", timeout=1) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.05)
    return False


def deploy() -> int:
    worktree = os.environ["BISECT_WORKTREE"]
    url = os.environ["STAGING_URL"]
    slot = os.environ.get("BISECT_SLOT", "slot-1")
    port = urlparse(url).port or 80
    stop_slot(slot)
    log = open(state_dir() / f"{slot}.log", "ab")  # noqa: SIM115 - handed to the child process
    process = subprocess.Popen(
        [sys.executable, "-m", "shop.app"], cwd=worktree, env={**os.environ, "PORT": str(port), "PYTHONPATH": worktree},
        stdout=log, stderr=log, start_new_session=True,
    )
    (state_dir() / f"{slot}.pid").write_text(str(process.pid))
    if not wait_healthy(url):
        print(f"staging slot {slot} did not become healthy at {url}", file=sys.stderr)
        return 1
    sha = os.environ.get("BISECT_SHA", "")[:10]
    print(f"deployed {sha} to {slot} ({url})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["stop"]:
        stop_all()
        sys.exit(0)
    sys.exit(deploy())
