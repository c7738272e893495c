"""The CLI frame through a subprocess: help, version, exit codes, --output, interrupts, secrets."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.gitutil import GIT_ENV

SPEC = """\
base_url: ${STAGING_URL}
defaults: {timeout_s: 30}
checks:
  - name: health
    request: {method: GET, path: /health}
    expect: {status: 200}
"""


class _SlowHandler(http.server.BaseHTTPRequestHandler):
    delay = 0.0
    requested: threading.Event

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.requested.set()  # the CLI is up and waiting on us: its signal handlers are installed
        time.sleep(self.delay)
        body = b'{"status": "ok"}'
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server() -> Iterator[tuple[str, type[_SlowHandler]]]:
    handler = type("Handler", (_SlowHandler,), {"delay": 0.0, "requested": threading.Event()})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", handler
    httpd.shutdown()
    httpd.server_close()


def test_help_lists_every_subcommand() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for name in ("risk", "bisect", "smoke", "events", "what-changed", "dora", "pr-risk", "demo"):
        assert name in result.stdout


def test_version() -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("bisect-runner ")


def test_unknown_subcommand_is_usage_error() -> None:
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_user_error_is_exit_2_with_one_line(tmp_path: Path) -> None:
    result = run_cli("smoke", str(tmp_path / "missing.yml"))
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "missing.yml" in result.stderr and "Traceback" not in result.stderr


def test_output_file_and_json_format(tmp_path: Path, server: tuple[str, type[_SlowHandler]]) -> None:
    spec = tmp_path / "smoke.yml"
    spec.write_text(SPEC)
    out = tmp_path / "reports" / "smoke.json"
    result = run_cli("smoke", str(spec), "--base-url", server[0], "--format", "json", "--output", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout == ""
    assert json.loads(out.read_text())


def test_failed_job_is_exit_1(tmp_path: Path) -> None:
    spec = tmp_path / "smoke.yml"
    spec.write_text(SPEC.replace("timeout_s: 30", "timeout_s: 1"))
    result = run_cli("smoke", str(spec), "--base-url", "http://127.0.0.1:9")
    assert result.returncode == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_interrupt_is_exit_130(tmp_path: Path, server: tuple[str, type[_SlowHandler]], sig: int) -> None:
    url, handler = server
    handler.delay = 20.0
    spec = tmp_path / "smoke.yml"
    spec.write_text(SPEC)
    process = subprocess.Popen(
        [sys.executable, "-m", "bisect_runner", "smoke", str(spec), "--base-url", url],
        env={**os.environ, **GIT_ENV}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert handler.requested.wait(30), "the smoke run never reached the server"
    time.sleep(0.2)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=20)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr


def test_secrets_never_reach_output(tmp_path: Path) -> None:
    token = "ghp_" + "S3cr3t" * 6
    spec = tmp_path / "smoke.yml"
    spec.write_text(SPEC.replace("timeout_s: 30", "timeout_s: 1"))
    result = run_cli("smoke", str(spec), "--base-url", f"http://127.0.0.1:9/{token}",
                     env={"GITHUB_TOKEN": token})
    assert result.returncode == 1
    assert token not in result.stdout + result.stderr
    assert "***" in result.stdout + result.stderr
