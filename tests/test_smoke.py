"""Smoke specs: strict loading, ${VAR} expansion, judging responses, the runner, JUnit, the CLI."""

from __future__ import annotations

import json
import socket
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bisect_runner import smoke
from bisect_runner.errors import ConfigError, UserError
from bisect_runner.smoke import SmokeExpect, json_subset_mismatch, judge, load_spec
from tests.conftest import ROOT, run_cli


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[dict[str, Any]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _reply(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        type(self).seen.append({"path": self.path, "headers": dict(self.headers)})
        if self.path.startswith("/health"):
            self._reply(200, {"status": "ok", "checks": [{"db": "up"}]}, {"X-Version": "2.46.0"})
        elif self.path.startswith("/slow"):
            time.sleep(0.3)
            self._reply(200, {"status": "ok"})
        else:
            self._reply(404, {"error": "not found"})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        type(self).seen.append({"path": self.path, "headers": dict(self.headers), "json": body})
        if self.path == "/api/checkout" and body.get("card") == "4242":
            self._reply(201, {"status": "ok", "order_id": "o-1"})
        else:
            self._reply(500, {"status": "error", "error": "payment failed"})


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


SPEC = """\
base_url: ${STAGING_URL}
defaults: {timeout_s: 2, headers: {X-Smoke-Test: "1"}}
checks:
  - name: health
    request: {path: /health}
    expect: {status: 200, json: {status: ok}, headers: {content-type: application/json}}
  - name: checkout
    request: {method: POST, path: /api/checkout, json: {card: "4242", amount: 100}}
    expect: {status: [200, 201], body_contains: order_id, max_latency_ms: 2000, json: {status: ok}}
"""


def write(tmp_path: Path, text: str, name: str = "spec.yml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# loading ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "message"), [
    pytest.param("checks:\n  - name: a\n    expect: {staus: 200}\n",
                 r"spec.yml:3: checks\[0\].expect.staus: unknown key; expected one of: body_contains, headers, json",
                 id="typo-in-expect"),
    pytest.param("checks:\n  - name: a\n    request: {method: GET, pth: /x}\n",
                 r"spec.yml:3: checks\[0\].request.pth: unknown key", id="typo-in-request"),
    pytest.param("checks:\n  - name: a\n    expect: {status: ok}\n",
                 r"spec.yml:3: checks\[0\].expect.status: expected a whole number or a list", id="bad-status"),
    pytest.param("base_url: http://x\n", r"spec.yml:1: checks: required key is missing", id="no-checks"),
    pytest.param("checks: []\n", r"spec.yml:1: checks: the spec has no checks", id="empty-checks"),
    pytest.param("checks:\n  - name: a\n  - name: a\n", r"spec.yml:2: checks\[1\].name: duplicate check name 'a'",
                 id="duplicate-name"),
    pytest.param("checks:\n  - name: a\n    request: {json: {a: 1}, body: x}\n",
                 r"checks\[0\].request: give either json or body, not both", id="json-and-body"),
    pytest.param("checks:\n  - name: a\n    request: {path: '${NOPE_NOT_SET}/x'}\n",
                 r"spec.yml:3: \$\{NOPE_NOT_SET\}: environment variable NOPE_NOT_SET is not set", id="unset-var"),
    pytest.param("checks: [\n", r"spec.yml:2: \(yaml\): not valid YAML", id="bad-yaml"),
    pytest.param("path: /x\nchecks:\n  - name: a\n", r"spec.yml:1: path: unknown key", id="path-is-not-a-key"),
])
def test_bad_specs_are_errors_naming_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_spec(write(tmp_path, text), env={})


def test_variables_expand_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "base_url: ${STAGING_URL}\ndefaults: {headers: {Authorization: 'Bearer ${API_TOKEN}'}}\n"
                           "checks:\n  - name: a\n    request: {path: '/p/${REGION:-eu}/$${literal}'}\n")
    with pytest.raises(ConfigError, match="STAGING_URL is not set"):
        load_spec(path, env={"API_TOKEN": "t"})
    spec = load_spec(path, env={"API_TOKEN": "t"}, provided={"STAGING_URL"})
    assert spec.base_url == "${STAGING_URL}" and spec.path == str(path)
    expanded = smoke.expand(spec, {"STAGING_URL": "http://s:1", "API_TOKEN": "sekrit-token-value"})
    assert expanded.base_url == "http://s:1"
    assert expanded.checks[0].request.path == "/p/eu/${literal}"
    assert expanded.defaults.headers == {"Authorization": "Bearer sekrit-token-value"}
    assert expanded.path == str(path)
    from bisect_runner.redact import redact

    assert "sekrit" not in redact("header was Bearer sekrit-token-value")


def test_shipped_examples_load() -> None:
    specs = sorted((ROOT / "smoke").glob("*.yml"))
    assert {p.name for p in specs} >= {"checkout.yml", "health.yml", "latency.yml"}
    for path in specs:
        spec = load_spec(path, env={}, provided=smoke.RUNNER_VARIABLES)
        assert spec.checks


# judging ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("expect", "status", "body", "headers", "latency", "reason"), [
    pytest.param(SmokeExpect(), 302, "", {}, 1, None, id="default-accepts-below-400"),
    pytest.param(SmokeExpect(), 404, "nope", {}, 1, "status 404, expected < 400", id="default-rejects-404"),
    pytest.param(SmokeExpect(status=[200, 201]), 500, '{"error": "boom"}', {}, 1,
                 'status 500, expected 200 or 201 (body: {"error": "boom"})', id="status-list"),
    pytest.param(SmokeExpect(body_contains=["a", "zz"]), 200, "abc", {}, 1, "body does not contain 'zz' (body: abc)",
                 id="body-contains-list"),
    pytest.param(SmokeExpect(json={"status": "ok"}), 200, "<html>", {}, 1, "body is not JSON (body: <html>)",
                 id="not-json"),
    pytest.param(SmokeExpect(json={"a": {"b": [1, {"c": True}]}}), 200, '{"a": {"b": [1, {"c": 1}]}, "x": 2}', {}, 1,
                 "json $.a.b[1].c: expected True, got 1", id="json-bool-is-not-int"),
    pytest.param(SmokeExpect(json={"a": 1}), 200, '{"a": 1, "b": 2}', {}, 1, None, id="json-subset"),
    pytest.param(SmokeExpect(headers={"content-type": "json"}), 200, "", {"Content-Type": "text/html"}, 1,
                 "header content-type is 'text/html', expected it to contain 'json'", id="header-value"),
    pytest.param(SmokeExpect(headers={"X-Id": "1"}), 200, "", {}, 1, "header X-Id is missing", id="header-missing"),
    pytest.param(SmokeExpect(max_latency_ms=100), 200, "", {}, 250.4,
                 "took 250 ms, more than max_latency_ms 100", id="too-slow"),
])
def test_judge(expect: SmokeExpect, status: int, body: str, headers: dict[str, str], latency: float,
               reason: str | None) -> None:
    assert judge(expect, status, body, headers, latency) == reason


def test_json_subset_lists_must_match_in_full() -> None:
    assert json_subset_mismatch([1, 2], [1, 2, 3], "$") == "json $: expected a list of 2, got [1, 2, 3]"
    assert json_subset_mismatch({"a": 1}, {"b": 1}, "$") == "json $.a: missing"


# running ------------------------------------------------------------------------------------

def test_runner_passes_and_reports_latency(tmp_path: Path, server: str) -> None:
    spec = smoke.expand(load_spec(write(tmp_path, SPEC), provided={"STAGING_URL"}), {"STAGING_URL": server})
    report = smoke.run_smoke(spec, repeat=2)
    assert report.passed and len(report.runs) == 2
    assert [r.status for r in report.runs[0].results] == [200, 201]
    assert all(r.latency_ms > 0 for run in report.runs for r in run.results)
    sent = [s for s in _Handler.seen if s["path"] == "/api/checkout"][-1]
    assert sent["json"] == {"card": "4242", "amount": 100} and sent["headers"]["X-Smoke-Test"] == "1"
    data = report.to_dict()
    assert data["passed"] is True and [c["name"] for c in data["checks"]] == ["health", "checkout"]


def test_runner_failure_reasons(tmp_path: Path, server: str) -> None:
    text = SPEC.replace('card: "4242"', 'card: "0000"') + (
        "  - name: slow\n    timeout_s: 0.1\n    request: {path: /slow}\n")
    spec = smoke.expand(load_spec(write(tmp_path, text), provided={"STAGING_URL"}), {"STAGING_URL": server})
    run = smoke.run_smoke(spec).runs[0]
    assert not run.passed
    reasons = {r.name: r.reason for r in run.results}
    assert reasons["health"] == ""
    assert reasons["checkout"].startswith("status 500, expected 200 or 201 (body: ")
    assert reasons["slow"] == f"no response from {server}/slow within 0.1s"
    assert run.first_failure.startswith("checkout: status 500")


def test_staging_down_is_a_failed_check_with_the_reason(tmp_path: Path) -> None:
    url = closed_port_url()
    spec = smoke.expand(load_spec(write(tmp_path, SPEC), provided={"STAGING_URL"}), {"STAGING_URL": url})
    run = smoke.run_smoke(spec).runs[0]
    assert [r.reason for r in run.results] == [
        f"cannot connect to {url}/health: connection refused (is staging up?)",
        f"cannot connect to {url}/api/checkout: connection refused (is staging up?)",
    ]


def test_base_url_must_be_http(tmp_path: Path) -> None:
    spec = load_spec(write(tmp_path, "base_url: ftp://x\nchecks:\n  - name: a\n"), env={})
    with pytest.raises(UserError, match="base_url 'ftp://x' is not an http"):
        smoke.run_smoke(spec)
    spec = load_spec(write(tmp_path, "checks:\n  - name: a\n"), env={})
    with pytest.raises(UserError, match="no base_url; set base_url in the spec or pass --base-url URL"):
        smoke.run_smoke(spec)


def test_junit_xml(tmp_path: Path, server: str) -> None:
    text = SPEC.replace('card: "4242"', 'card: "0000"')
    spec = smoke.expand(load_spec(write(tmp_path, text), provided={"STAGING_URL"}), {"STAGING_URL": server})
    root = ET.fromstring(smoke.junit_xml(smoke.run_smoke(spec, repeat=2)))
    assert root.tag == "testsuites" and root.get("tests") == "4" and root.get("failures") == "2"
    cases = root.findall("./testsuite/testcase")
    assert [c.get("name") for c in cases] == ["health (run 1)", "checkout (run 1)", "health (run 2)", "checkout (run 2)"]
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("message", "").startswith("status 500")


# the command --------------------------------------------------------------------------------

def test_cli_pass_json_and_junit(tmp_path: Path, server: str) -> None:
    spec = write(tmp_path, SPEC)
    junit = tmp_path / "out" / "smoke.xml"
    result = run_cli("smoke", str(spec), "--repeat", "2", "--junit", str(junit), "--format", "json",
                     env={"STAGING_URL": server})
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["passed"] is True and data["runs"] == 2 and data["base_url"] == server
    assert ET.parse(junit).getroot().get("tests") == "4"


def test_cli_failure_exits_1_with_the_reason(tmp_path: Path, server: str) -> None:
    spec = write(tmp_path, SPEC.replace('card: "4242"', 'card: "0000"'))
    result = run_cli("smoke", str(spec), "--base-url", server)
    assert result.returncode == 1
    assert "smoke FAIL" in result.stdout and "status 500, expected 200 or 201" in result.stdout


def test_cli_staging_down_exits_1(tmp_path: Path) -> None:
    url = closed_port_url()
    result = run_cli("smoke", str(write(tmp_path, SPEC)), "--base-url", url)
    assert result.returncode == 1
    assert f"cannot connect to {url}/health: connection refused" in result.stdout


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["{spec}"], "STAGING_URL is not set", id="unset-var"),
    pytest.param(["{bad}", "--base-url", "http://x"], "bad.yml:3: checks[0].expect.staus: unknown key", id="bad-spec"),
    pytest.param(["{missing}"], "missing.yml: (file): cannot read", id="missing-file"),
    pytest.param(["{spec}", "--base-url", "http://x", "--repeat", "0"], "must be at least 1", id="repeat-0"),
])
def test_cli_bad_input_exits_2(tmp_path: Path, args: list[str], message: str) -> None:
    spec = write(tmp_path, SPEC)
    bad = write(tmp_path, "checks:\n  - name: a\n    expect: {staus: 200}\n", "bad.yml")
    paths = {"spec": str(spec), "bad": str(bad), "missing": str(tmp_path / "missing.yml")}
    result = run_cli("smoke", *[a.format(**paths) for a in args])
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
