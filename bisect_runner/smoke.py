"""Smoke specs: YAML -> typed checks, an HTTP runner on requests, per-check results, JUnit XML.

A spec is loaded strictly (errors name file:line:key) with `${VAR}` placeholders kept as written,
then expanded against an environment when it runs, because the bisect runner gives each staging
slot its own STAGING_URL. An unknown variable is a clear error at load time, not a 404 later.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import statistics
import time
import xml.etree.ElementTree as ET
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urljoin, urlparse

import requests

from bisect_runner import config
from bisect_runner.errors import ConfigError, UserError
from bisect_runner.redact import redact, register_secret
from bisect_runner.render import md_escape, md_table, plural, text_table

T = TypeVar("T")

# ${NAME} or ${NAME:-default}; `$${` writes a literal `${`.
_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|API_?KEY|AUTH|COOKIE|CREDENTIAL", re.IGNORECASE)
_SECRET_HEADERS = {"authorization", "cookie", "proxy-authorization", "x-api-key"}
# Variables the bisect runner sets per slot and per commit: a spec may use them before they exist.
RUNNER_VARIABLES = frozenset({"STAGING_URL", "BISECT_SLOT", "BISECT_SHA", "BISECT_WORKTREE"})


@dataclass
class SmokeRequest:
    method: str = "GET"
    path: str = "/"
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    params: dict[str, str] = field(default_factory=dict)


@dataclass
class SmokeExpect:
    """What a passing response looks like. Without `status`, any status below 400 passes."""

    status: int | list[int] | None = None
    body_contains: str | list[str] | None = None
    max_latency_ms: float | None = None
    json: Any = None  # a subset the response JSON must contain
    headers: dict[str, str] = field(default_factory=dict)  # name (any case) -> substring of the value


@dataclass
class SmokeCheck:
    name: str
    request: SmokeRequest = field(default_factory=SmokeRequest)
    expect: SmokeExpect = field(default_factory=SmokeExpect)
    timeout_s: float | None = None


@dataclass
class SmokeDefaults:
    timeout_s: float = 10.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class SmokeSpec:
    checks: list[SmokeCheck]
    base_url: str | None = None
    name: str | None = None
    defaults: SmokeDefaults = field(default_factory=SmokeDefaults)
    path: str = field(default="", init=False)  # where it was loaded from (set by load_spec, not a YAML key)

    def check(self, name: str) -> SmokeCheck:
        for check in self.checks:
            if check.name == name:
                return check
        known = ", ".join(c.name for c in self.checks)
        raise UserError(f"{self.path}: no check named {name!r}; the spec has: {known}")

    @property
    def title(self) -> str:
        return self.name or Path(self.path).stem or "smoke"


# loading ------------------------------------------------------------------------------------

def load_spec(path: Path | str, *, env: Mapping[str, str] | None = None,
              provided: Collection[str] = ()) -> SmokeSpec:
    """Load and validate a spec. Variables must be in `env` (default os.environ) or `provided`
    (names someone else sets before the spec runs, e.g. RUNNER_VARIABLES in a bisect)."""
    path = Path(path)
    # `path` is not a YAML key (init=False): the typed loader skips it, so the file cannot set it.
    spec = config.load_typed(path, SmokeSpec)
    spec.path = str(path)
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    if not spec.checks:
        raise ConfigError(str(path), _line_of(lines, "checks"), "checks", "the spec has no checks; add at least one")
    seen: set[str] = set()
    for index, check in enumerate(spec.checks):
        if check.name in seen:
            raise ConfigError(str(path), _line_of(lines, check.name), f"checks[{index}].name",
                              f"duplicate check name {check.name!r}")
        seen.add(check.name)
        if check.request.json is not None and check.request.body is not None:
            raise ConfigError(str(path), _line_of(lines, check.name), f"checks[{index}].request",
                              "give either json or body, not both")
    environment = os.environ if env is None else env
    for name, default in variables(spec):
        if name not in environment and name not in provided and default is None:
            raise ConfigError(str(path), _line_of(lines, "${" + name), "${" + name + "}",
                              f"environment variable {name} is not set; export it, or write "
                              f"${{{name}:-default}} in the spec")
    return spec


def _line_of(lines: Sequence[str], needle: str) -> int | None:
    for number, line in enumerate(lines, start=1):
        if needle in line:
            return number
    return None


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [s for f in dataclasses.fields(value) for s in _strings(getattr(value, f.name))]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []


def variables(spec: SmokeSpec) -> list[tuple[str, str | None]]:
    """(name, default) of every ${VAR} the spec uses."""
    found: list[tuple[str, str | None]] = []
    for text in _strings(spec.checks) + _strings(spec.defaults) + _strings([spec.base_url or "", spec.name or ""]):
        for match in _VAR.finditer(text):
            if match.group(1):
                found.append((match.group(1), match.group(2)))
    return found


def expand(spec: SmokeSpec, env: Mapping[str, str]) -> SmokeSpec:
    """A copy of `spec` with every `${VAR}` replaced from `env` (secret-looking values are
    registered with redact so they never reach a report)."""

    def substitute(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, default = match.group(1), match.group(2)
        if name in env:
            value = env[name]
        elif default is not None:
            value = default
        else:
            raise UserError(f"{spec.path}: environment variable {name} is not set; export it before running")
        if _SECRET_NAME.search(name):
            register_secret(value)
        return value

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return _VAR.sub(substitute, value)
        if isinstance(value, dict):
            return {walk(k): walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return dataclasses.replace(value, **{f.name: walk(getattr(value, f.name))
                                                 for f in dataclasses.fields(value) if f.init})
        return value

    expanded: SmokeSpec = walk(spec)
    expanded.path = spec.path
    for check in expanded.checks:
        for header, value in {**expanded.defaults.headers, **check.request.headers}.items():
            if header.lower() in _SECRET_HEADERS:
                register_secret(value)
    return expanded


# running ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    latency_ms: float
    status: int | None = None
    reason: str = ""  # why it failed, one line
    url: str = ""


@dataclass(frozen=True)
class SmokeRun:
    """One run: every check once. It passes when all checks pass."""

    results: tuple[CheckResult, ...]

    @property
    def passed(self) -> bool:
        return all(r.ok for r in self.results)

    @property
    def first_failure(self) -> str:
        for result in self.results:
            if not result.ok:
                return f"{result.name}: {result.reason}"
        return ""


class SmokeRunner:
    """Runs a spec's checks against one base URL over one requests.Session (keep-alive)."""

    def __init__(self, spec: SmokeSpec, base_url: str | None = None,
                 session: requests.Session | None = None) -> None:
        url = base_url or spec.base_url
        if not url:
            raise UserError(f"{spec.path}: no base_url; set base_url in the spec or pass --base-url URL")
        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise UserError(f"{spec.path}: base_url {url!r} is not an http(s) URL")
        self.spec = spec
        self.base_url = url if url.endswith("/") else url + "/"
        # The environment's proxy and CA settings (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE) apply,
        # as they do for every other HTTP client the user runs against staging.
        self.session = session or requests.Session()

    def close(self) -> None:
        self.session.close()

    def url_for(self, check: SmokeCheck) -> str:
        path = check.request.path
        if path.startswith(("http://", "https://")):
            return path
        return urljoin(self.base_url, path.lstrip("/"))

    def run(self) -> SmokeRun:
        return SmokeRun(tuple(self.run_check(check) for check in self.spec.checks))

    def run_check(self, check: SmokeCheck) -> CheckResult:
        request = check.request
        url = self.url_for(check)
        timeout = check.timeout_s or self.spec.defaults.timeout_s
        headers = {**self.spec.defaults.headers, **request.headers}
        started = time.perf_counter()
        try:
            response = self.session.request(
                request.method.upper(), url, params=request.params or None, headers=headers,
                json=request.json, data=request.body.encode() if request.body is not None else None,
                timeout=timeout, allow_redirects=False,
            )
            body = response.text
        except requests.exceptions.Timeout:
            return CheckResult(check.name, False, _ms(started), None, f"no response from {url} within {timeout:g}s", url)
        except requests.exceptions.ConnectionError as exc:
            return CheckResult(check.name, False, _ms(started), None, f"cannot connect to {url}: {_connection_reason(exc)}", url)
        except requests.exceptions.RequestException as exc:
            return CheckResult(check.name, False, _ms(started), None, f"request to {url} failed: {exc}", url)
        latency = _ms(started)
        reason = judge(check.expect, response.status_code, body, dict(response.headers), latency)
        return CheckResult(check.name, reason is None, latency, response.status_code, redact(reason or ""), url)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


def _connection_reason(exc: Exception) -> str:
    text = str(exc)
    for needle, reason in (("Connection refused", "connection refused (is staging up?)"),
                           ("Name or service not known", "unknown host"),
                           ("Temporary failure in name resolution", "unknown host"),
                           ("RemoteDisconnected", "the server closed the connection without answering"),
                           ("Connection reset", "connection reset by the server")):
        if needle in text:
            return reason
    return text.splitlines()[0][:200] if text else type(exc).__name__


def judge(expect: SmokeExpect, status: int, body: str, headers: Mapping[str, str],
          latency_ms: float) -> str | None:
    """None when the response meets `expect`, else the first reason it does not."""
    if expect.status is None:
        if status >= 400:
            return f"status {status}, expected < 400"
    else:
        allowed = [expect.status] if isinstance(expect.status, int) else expect.status
        if status not in allowed:
            wanted = " or ".join(str(s) for s in allowed)
            return f"status {status}, expected {wanted}{_snippet(body)}"
    if expect.body_contains is not None:
        needles = [expect.body_contains] if isinstance(expect.body_contains, str) else expect.body_contains
        for needle in needles:
            if needle not in body:
                return f"body does not contain {needle!r}{_snippet(body)}"
    if expect.json is not None:
        try:
            import json

            document = json.loads(body)
        except ValueError:
            return f"body is not JSON{_snippet(body)}"
        mismatch = json_subset_mismatch(expect.json, document, "$")
        if mismatch:
            return mismatch
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, wanted in expect.headers.items():
        actual = lowered.get(name.lower())
        if actual is None:
            return f"header {name} is missing"
        if wanted not in actual:
            return f"header {name} is {actual!r}, expected it to contain {wanted!r}"
    if expect.max_latency_ms is not None and latency_ms > expect.max_latency_ms:
        return f"took {latency_ms:.0f} ms, more than max_latency_ms {expect.max_latency_ms:g}"
    return None


def json_subset_mismatch(expected: Any, actual: Any, where: str) -> str | None:
    """Where `actual` fails to contain `expected`: mappings by key (extra keys allowed), lists
    element by element with the same length, scalars by equality (true is not 1)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return f"json {where}: expected an object, got {_short(actual)}"
        for key, value in expected.items():
            if key not in actual:
                return f"json {where}.{key}: missing"
            mismatch = json_subset_mismatch(value, actual[key], f"{where}.{key}")
            if mismatch:
                return mismatch
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return f"json {where}: expected a list of {len(expected)}, got {_short(actual)}"
        for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
            mismatch = json_subset_mismatch(want, got, f"{where}[{index}]")
            if mismatch:
                return mismatch
        return None
    if isinstance(expected, bool) != isinstance(actual, bool) or expected != actual:
        return f"json {where}: expected {_short(expected)}, got {_short(actual)}"
    return None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def _snippet(body: str) -> str:
    text = " ".join(body.split())
    if not text:
        return ""
    return f" (body: {text[:80]}{'…' if len(text) > 80 else ''})"


# the `smoke` command's report -----------------------------------------------------------------

def _median(values: Sequence[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))
    return round(ordered[index], 1)


@dataclass
class CheckSummary:
    name: str
    runs: int
    failures: int
    median_ms: float | None
    p95_ms: float | None
    max_ms: float | None
    reasons: list[str]


@dataclass
class SmokeReport:
    """`bisect-runner smoke`: every run of every check, summarised per check."""

    spec: str
    base_url: str
    runs: list[SmokeRun]
    elapsed_s: float = 0.0

    @property
    def passed(self) -> bool:
        return all(run.passed for run in self.runs)

    @property
    def failed_runs(self) -> int:
        return sum(1 for run in self.runs if not run.passed)

    def summaries(self) -> list[CheckSummary]:
        names: list[str] = []
        for run in self.runs:
            names += [r.name for r in run.results if r.name not in names]
        summaries = []
        for name in names:
            results = [r for run in self.runs for r in run.results if r.name == name]
            latencies = [r.latency_ms for r in results]
            reasons: list[str] = []
            for r in results:
                if not r.ok and r.reason not in reasons:
                    reasons.append(r.reason)
            summaries.append(CheckSummary(
                name=name, runs=len(results), failures=sum(1 for r in results if not r.ok),
                median_ms=_median(latencies), p95_ms=_percentile(latencies, 0.95),
                max_ms=round(max(latencies), 1) if latencies else None, reasons=reasons,
            ))
        return summaries

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "spec": self.spec,
            "base_url": self.base_url,
            "runs": len(self.runs),
            "failed_runs": self.failed_runs,
            "elapsed_s": round(self.elapsed_s, 3),
            "checks": [dataclasses.asdict(s) for s in self.summaries()],
            "results": [[dataclasses.asdict(r) for r in run.results] for run in self.runs],
        }

    def to_text(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        head = (f"smoke {verdict}: {self.spec} against {self.base_url} — "
                f"{plural(len(self.runs), 'run')}, {self.failed_runs} failed")
        rows = [[s.name, s.runs, s.failures, _fmt_ms(s.median_ms), _fmt_ms(s.p95_ms), s.reasons[0] if s.reasons else ""]
                for s in self.summaries()]
        table = text_table(["check", "runs", "failures", "median", "p95", "first failure"], rows, max_width=90)
        return f"{head}\n\n{table}"

    def to_markdown(self) -> str:
        verdict = "✅ passed" if self.passed else "❌ failed"
        rows = [[md_escape(s.name), s.runs, s.failures, _fmt_ms(s.median_ms), _fmt_ms(s.p95_ms),
                 md_escape(s.reasons[0]) if s.reasons else ""] for s in self.summaries()]
        return (f"### Smoke tests {verdict}\n\n`{md_escape(self.spec)}` against {md_escape(self.base_url)}: "
                f"{plural(len(self.runs), 'run')}, {self.failed_runs} failed\n\n"
                + md_table(["check", "runs", "failures", "median", "p95", "first failure"], rows))

    def action_outputs(self) -> dict[str, str]:
        return {"status": "passed" if self.passed else "failed", "failed-runs": str(self.failed_runs)}


def _fmt_ms(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} ms"


def junit_xml(report: SmokeReport) -> str:
    """JUnit XML (one testcase per check per run) for CI test-report viewers."""
    suites = ET.Element("testsuites", name="bisect-runner smoke")
    suite = ET.SubElement(suites, "testsuite", name=Path(report.spec).stem or "smoke")
    tests = failures = 0
    total_s = 0.0
    multiple = len(report.runs) > 1
    for index, run in enumerate(report.runs, start=1):
        for result in run.results:
            tests += 1
            seconds = result.latency_ms / 1000.0
            total_s += seconds
            name = f"{result.name} (run {index})" if multiple else result.name
            case = ET.SubElement(suite, "testcase", classname=f"smoke.{Path(report.spec).stem}", name=name,
                                 time=f"{seconds:.3f}")
            if not result.ok:
                failures += 1
                failure = ET.SubElement(case, "failure", message=result.reason, type="SmokeCheckFailed")
                failure.text = f"{result.url}\nstatus: {result.status}\n{result.reason}"
    for element in (suites, suite):
        element.set("tests", str(tests))
        element.set("failures", str(failures))
        element.set("errors", "0")
        element.set("time", f"{total_s:.3f}")
    ET.indent(suites)
    return redact('<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n")


def run_smoke(spec: SmokeSpec, *, base_url: str | None = None, repeat: int = 1) -> SmokeReport:
    runner = SmokeRunner(spec, base_url)
    started = time.perf_counter()
    try:
        runs = [runner.run() for _ in range(repeat)]
    finally:
        runner.close()
    return SmokeReport(spec=spec.path, base_url=runner.base_url.rstrip("/"), runs=runs,
                       elapsed_s=time.perf_counter() - started)
