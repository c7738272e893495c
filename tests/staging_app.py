"""A local staging service for the bisect tests, and the deploy hook that "deploys" to it.

`python tests/staging_app.py serve PORT_FILE` starts a real HTTP server on 127.0.0.1 (a free port,
written to PORT_FILE). Its behaviour is whatever was deployed last: `python tests/staging_app.py
deploy` (run by bisect-runner with BISECT_WORKTREE and STAGING_URL) reads app/behaviour.json from
the commit's worktree and posts it to the server, like a deploy that restarts the service with
that commit's code. behaviour.json:

    {"checkout": "ok" | "broken", "latency_ms": 5, "flaky_rate": 0.0, "seed": 1,
     "deploy": "ok" | "fail" | "hang", "broken_if_all": ["a_flag", "z_flag"], "a_flag": true, ...}

Randomness (flakes, latency jitter) comes from a Random seeded by the seed and the commit, so
every run of a test sees the same service. DEPLOY_LOG (a file) gets one line per deploy attempt:
`<sha> <slot>`; DEPLOY_DELAY_S slows each deploy down (for Ctrl-C tests).
"""

from __future__ import annotations

import json
import os
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

DEFAULT_BEHAVIOUR: dict[str, Any] = {"checkout": "ok", "latency_ms": 0, "flaky_rate": 0.0, "seed": 0}


class StagingState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.behaviour: dict[str, Any] = dict(DEFAULT_BEHAVIOUR)
        self.sha = ""
        self.rng = random.Random(0)
        self.orders = 0

    def deploy(self, behaviour: dict[str, Any], sha: str) -> None:
        with self.lock:
            self.behaviour = {**DEFAULT_BEHAVIOUR, **behaviour}
            self.sha = sha
            self.rng = random.Random(f"{self.behaviour.get('seed', 0)}:{sha}")

    def checkout(self) -> tuple[int, dict[str, Any], float]:
        with self.lock:
            behaviour = self.behaviour
            latency = float(behaviour.get("latency_ms", 0)) * (1 + self.rng.uniform(-0.2, 0.2))
            flaky = self.rng.random() < float(behaviour.get("flaky_rate", 0.0))
            self.orders += 1
            order = self.orders
        together = behaviour.get("broken_if_all") or []  # flags that break checkout only in combination
        clash = bool(together) and all(behaviour.get(flag) for flag in together)
        if behaviour.get("checkout") == "broken" or flaky or clash:
            return 500, {"status": "error", "error": "payment failed"}, latency
        return 200, {"status": "ok", "order_id": f"o-{order}"}, latency


STATE = StagingState()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        if self.path.startswith("/health"):
            self._send(200, {"status": "ok", "sha": STATE.sha})
        else:
            self._send(404, {"error": "not found"})

    def do_POST(self) -> None:
        body = self._body()
        if self.path == "/__deploy":
            data = json.loads(body or b"{}")
            STATE.deploy(data.get("behaviour", {}), data.get("sha", ""))
            self._send(200, {"deployed": data.get("sha", "")})
        elif self.path == "/api/checkout":
            status, payload, latency_ms = STATE.checkout()
            time.sleep(latency_ms / 1000.0)
            self._send(status, payload)
        else:
            self._send(404, {"error": "not found"})


def serve(port_file: str) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    temp = port_file + ".tmp"
    Path(temp).write_text(str(server.server_address[1]))
    os.replace(temp, port_file)
    server.serve_forever()


def deploy() -> int:
    sha = os.environ["BISECT_SHA"]
    slot = os.environ.get("BISECT_SLOT", "")
    log = os.environ.get("DEPLOY_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as out:
            out.write(f"{sha} {slot}\n")
    delay = float(os.environ.get("DEPLOY_DELAY_S", "0"))
    if delay:
        time.sleep(delay)
    behaviour_file = Path(os.environ["BISECT_WORKTREE"]) / "app" / "behaviour.json"
    behaviour = json.loads(behaviour_file.read_text()) if behaviour_file.exists() else {}
    if behaviour.get("deploy") == "fail":
        print(f"deploy of {sha[:10]} failed: migration error", file=sys.stderr)
        return 1
    if behaviour.get("deploy") == "hang":
        time.sleep(60)
    request = urllib.request.Request(
        os.environ["STAGING_URL"].rstrip("/") + "/__deploy", method="POST",
        data=json.dumps({"behaviour": behaviour, "sha": sha}).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
    except (urllib.error.URLError, OSError) as exc:
        print(f"staging at {os.environ['STAGING_URL']} is unreachable: {exc}", file=sys.stderr)
        return 1
    print(f"deployed {sha[:10]} to {slot}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["serve"]:
        serve(sys.argv[2])
    elif sys.argv[1:2] == ["deploy"]:
        sys.exit(deploy())
    else:
        print("usage: staging_app.py serve PORT_FILE | deploy", file=sys.stderr)
        sys.exit(2)


# helpers for the tests (imported as tests.staging_app) ------------------------------------------

APP = Path(__file__).resolve()
DEPLOY_COMMAND = f"{sys.executable} {APP} deploy"
OK: dict[str, Any] = {}  # behaviours for build_shop_repo
BROKEN = {"checkout": "broken"}

SMOKE_SPEC = """\
base_url: ${STAGING_URL}
defaults: {timeout_s: 2, headers: {X-Smoke-Test: "1"}}
checks:
  - name: checkout
    request: {method: POST, path: /api/checkout, json: {card: "4242", amount: 100}}
    expect: {status: [200, 201], body_contains: order_id, json: {status: ok}}
"""


class StagingServers:
    """K real staging servers (subprocesses on 127.0.0.1); stop() kills them."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: list[Any] = []
        self.urls: list[str] = []

    def start(self, count: int) -> list[str]:
        import subprocess

        started = []
        for _ in range(count):
            port_file = self.workdir / f"staging-{len(self.processes)}.port"
            process = subprocess.Popen([sys.executable, str(APP), "serve", str(port_file)],
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            self.processes.append(process)
            started.append(port_file)
        urls = []
        for port_file in started:
            deadline = time.monotonic() + 10
            while not port_file.exists():
                if time.monotonic() > deadline:
                    raise RuntimeError("staging server did not start")
                time.sleep(0.01)
            urls.append(f"http://127.0.0.1:{port_file.read_text().strip()}")
        self.urls += urls
        return urls

    def stop(self) -> None:
        for process in self.processes:
            process.kill()
            process.wait()


def behaviour(**values: Any) -> str:
    # One key per line, so that a merge of changes to different keys is clean, as in real code.
    return json.dumps({**DEFAULT_BEHAVIOUR, **values}, sort_keys=True, indent=1) + "\n"


def build_shop_repo(path: Path, prs: list[list[dict[str, Any]]], *, tag_bad: bool = True) -> dict[str, Any]:
    """A repo whose first commit is tagged v1 (good) and whose main then merges one PR per entry
    of `prs`, GitHub-style; each PR is a list of commits, each the app behaviour it leaves behind
    (plus a file of its own). The last merge is tagged v2. Returns shas: merges, pr_commits."""
    from tests.gitutil import TestRepo

    repo = TestRepo(path)
    repo.commit("Initial shop", {"app/behaviour.json": behaviour(), "README.md": "# shop\n"})
    repo.tag("v1")
    merges: list[str] = []
    pr_commits: list[list[str]] = []
    for index, commits in enumerate(prs, start=1):
        number = 100 + index
        steps: list[tuple[str, Mapping[str, str | bytes | None]]] = [(f"PR {number} step {step}", {"app/behaviour.json": behaviour(**values),
                                               f"src/pr{number}_{step}.py": f"STEP = {step}\n"})
                 for step, values in enumerate(commits, start=1)]
        merges.append(repo.merge_pr(number, f"feature-{number}", steps, title=f"Feature {number}",
                                    author=f"Dev{index}"))
        branch_commits = repo.git("rev-list", "--reverse", "--first-parent", f"{merges[-1]}^1..{merges[-1]}^2")
        pr_commits.append(branch_commits.split())
    if tag_bad:
        repo.tag("v2")
    return {"repo": repo, "merges": merges, "pr_commits": pr_commits}
