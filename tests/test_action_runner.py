"""The action and the starter workflows run as a GitHub runner runs them (tests/action_runner.py):
action.yml's steps in order, inputs through env:, per-step GITHUB_OUTPUT and GITHUB_STEP_SUMMARY,
a real event payload, the fake GitHub server and a local staging server on 127.0.0.1.
Python 3.11+ is on PATH with this checkout installed, so the setup and install steps skip as they
would on a runner that already has it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bisect_runner import action_entry
from bisect_runner.errors import UserError
from tests.action_runner import ROOT, Runner, RunResult, condition, evaluate, interpolate
from tests.gitutil import TestRepo

SECRET_TOKEN = "ghs_" + "Zz9Yy8Xx7Ww6Vv5Uu4Tt3Ss2Rr1Qq0"
SECRET_WEBHOOK = "https://hooks.slack.com/services/T0001/B0001/" + "s3cr3tW3bh00kPath"

SMOKE_SPEC = """\
base_url: ${STAGING_URL}
defaults: {timeout_s: 2}
checks:
  - name: health
    request: {method: GET, path: /health}
    expect: {status: 200, json: {status: ok}}
  - name: checkout
    request: {method: POST, path: /api/checkout, json: {card: "4242", amount: 100}}
    expect: {status: [200, 201], body_contains: order_id}
"""


@pytest.fixture(autouse=True, scope="module")
def _installed_from_this_checkout() -> None:
    """The runner emulation skips the install step the way a runner with the package does; that
    needs this interpreter to have the checkout installed in editable mode (`make test` does)."""
    if not action_entry._installed_from(ROOT):
        pytest.skip("bisect-runner is not installed in editable mode from this checkout: run `make test`")


# a staging service -----------------------------------------------------------------------------


class _Staging(BaseHTTPRequestHandler):
    broken = False

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._reply(200, {"status": "ok"})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.server.broken:  # type: ignore[attr-defined]
            self._reply(500, {"error": "currency mismatch"})
        else:
            self._reply(201, {"order_id": "o-1"})

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def staging() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Staging)
    server.broken = False  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def _url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host!s}:{port}"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> TestRepo:
    repo = TestRepo(tmp_path_factory.mktemp("action") / "shop")
    repo.commit("Initial commit", {"shop/app.py": "print('shop')\n", "smoke/checkout.yml": SMOKE_SPEC,
                                   "README.md": "shop\n"})
    repo.tag("v2.45.0")
    repo.merge_pr(41, "docs-typo", [("Fix a typo", {"README.md": "the shop\n"})], title="Fix a typo", author="Bob")
    repo.merge_pr(42, "order-currency", [
        ("Add currency to orders", {"shop/orders/migrations/0042_order_currency.py": "# migration\n"}),
        ("Charge in the order currency", {"shop/payments/charge.py": "def charge(order):\n    return 1\n"}),
    ], title="Charge in the order currency", author="Alice")
    repo.tag("v2.46.0")
    return repo


def _runner(repo: TestRepo, tmp_path: Path, event_name: str = "push", event: dict[str, Any] | None = None,
            env: dict[str, str] | None = None) -> Runner:
    return Runner(repo.path, tmp_path, event_name=event_name, event=event or {"after": repo.head()},
                  env=env)


def _assert_secrets_masked_first(result: RunResult, *secrets: str) -> None:
    """Masks come before any other line of the run step, and no secret appears anywhere else."""
    run = result.step("run")
    lines = run.stdout.splitlines()
    first_other = next(i for i, line in enumerate(lines) if not line.startswith("::add-mask::"))
    for secret in secrets:
        assert lines.index(f"::add-mask::{secret}") < first_other, "printed before the secrets were masked"
        assert f"::add-mask::{secret}" in lines
        others = [line for line in lines if not line.startswith("::add-mask::")]
        assert all(secret not in line for line in others)
        assert secret not in run.stderr and secret not in result.summary
        assert all(secret not in value for value in result.outputs.values())


# expressions of the test runner itself -----------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("inputs.a || 'x'", "x"),
        ("inputs.b || 'x'", "set"),
        ("inputs.b == 'SET'", True),
        ("inputs.a == '' && 'empty' || 'full'", "empty"),
        ("!cancelled() && steps.s.outputs.p != ''", True),
        ("steps.missing.outputs.p", None),
        ("github.event.pull_request.number == 7", True),
    ],
)
def test_expressions_evaluate_like_github(expression: str, expected: Any) -> None:
    contexts = {"inputs": {"a": "", "b": "set"}, "steps": {"s": {"outputs": {"p": "x"}}},
                "github": {"event": {"pull_request": {"number": 7}}}}
    assert evaluate(expression, contexts) == expected


def test_conditions_imply_success_and_interpolation_renders_strings() -> None:
    contexts = {"inputs": {"n": 5.0, "f": False}}
    assert not condition("inputs.n == 5", contexts, "failure")
    assert condition("always() && inputs.n == 5", contexts, "failure")
    assert interpolate("n=${{ inputs.n }} f=${{ inputs.f }}", contexts) == "n=5 f=false"


# the action's argv, defaults and outputs (pure) --------------------------------------------------


def test_build_argv_maps_inputs_to_flags_without_a_shell() -> None:
    argv = action_entry.build_argv("bisect", {
        "good": "v1", "bad": "v2", "deploy": "./deploy.sh; rm -rf /", "smoke-spec": "smoke/checkout.yml",
        "staging-urls": "http://a.example.com, http://b.example.com\nhttp://c.example.com", "flaky": "true",
        "max-deploys": "8", "first-parent": "false", "config": ".ci/bisect.yml", "args": "--repeat-endpoints\n",
    }, output="/tmp/out.json", fmt="json")
    assert argv == ["bisect", "--good", "v1", "--bad", "v2", "--deploy", "./deploy.sh; rm -rf /", "--smoke",
                    "smoke/checkout.yml", "--staging-url", "http://a.example.com", "--staging-url",
                    "http://b.example.com", "--staging-url", "http://c.example.com", "--flaky", "--max-deploys", "8",
                    "--config", ".ci/bisect.yml", "--format", "json", "--output", "/tmp/out.json",
                    "--repeat-endpoints"]


def test_build_argv_for_every_command() -> None:
    assert action_entry.build_argv("smoke", {"smoke-spec": "-odd.yml", "staging-urls": "http://s", "repeat": "3"},
                                   output=None, fmt="md") == ["smoke", "./-odd.yml", "--repeat", "3",
                                                              "--base-url", "http://s", "--format", "md"]
    assert action_entry.build_argv("events-post", {"kind": "deploy", "service": "shop", "event-id": "e1",
                                                   "url": "https://a\nhttps://b"}, output=None, fmt="json")[:8] == [
        "events", "post", "--kind", "deploy", "--service", "shop", "--url", "https://a"]
    assert action_entry.build_argv("dora", {"window": "30d"}, output=None, fmt="text")[:3] == ["dora", "--since", "30d"]
    assert action_entry.build_argv("risk", {"base": "v1", "head": "v2", "error-log": "logs/a b.txt\n\nlogs/c.txt\n",
                                            "github-repository": "acme/shop"}, output=None, fmt="json") == [
        "risk", "--base", "v1", "--head", "v2", "--error-log", "logs/a b.txt", "--error-log", "logs/c.txt",
        "--github", "acme/shop", "--format", "json"]
    assert action_entry.build_argv("pr-risk", {"pr": "7", "dry-run": "true"}, output=None, fmt="json")[:4] == [
        "pr-risk", "--pr", "7", "--dry-run"]


@pytest.mark.parametrize(
    ("command", "inputs", "message"),
    [
        ("deploy", {}, "input 'command' must be one of"),
        ("bisect", {"good": "a", "bad": "b"}, "needs input 'deploy'"),
        ("bisect", {"good": "a"}, "input 'bad' is required"),
        ("risk", {"base": "a", "head": "b", "top": "five"}, "input 'top' must be a whole number"),
        ("bisect", {"good": "a", "bad": "b", "deploy": "x", "confidence": "high"}, "input 'confidence' must be a number"),
        ("bisect", {"good": "a", "bad": "b", "deploy": "x", "flaky": "maybe"}, "input 'flaky' must be true or false"),
        ("smoke", {}, "input 'smoke-spec' is required"),
    ],
    ids=["unknown-command", "bisect-no-deploy", "bisect-no-bad", "top-nan", "confidence-nan", "flaky-word",
         "smoke-no-spec"],
)
def test_build_argv_rejects_bad_inputs(command: str, inputs: dict[str, str], message: str) -> None:
    with pytest.raises(UserError, match=message):
        action_entry.build_argv(command, inputs, output=None, fmt="json")


def test_risk_defaults_come_from_the_push_or_the_release() -> None:
    tags = {"v2.46.0": "v2.45.0"}
    push = {"before": "a" * 40, "after": "b" * 40}
    assert action_entry.resolve_defaults("risk", {}, push, {}, tags.get)[("base")] == "a" * 40
    release = {"release": {"tag_name": "v2.46.0"}}
    resolved = action_entry.resolve_defaults("risk", {}, release, {"GITHUB_SHA": "c" * 40}, tags.get)
    assert (resolved["base"], resolved["head"]) == ("v2.45.0", "v2.46.0")
    new_branch = {"before": "0" * 40, "after": "b" * 40, "created": True}
    with pytest.raises(UserError, match="input 'base' is required for command 'risk'"):
        action_entry.resolve_defaults("risk", {}, new_branch, {}, lambda head: None)
    assert action_entry.resolve_defaults("smoke", {"x": "1"}, push, {}, tags.get) == {"x": "1"}


def test_standard_outputs_from_json_reports() -> None:
    bisect = {"status": "found", "culprit": {"sha": "abc", "pr": 42}}
    assert action_entry.standard_outputs("bisect", bisect) == {"status": "found", "culprit-sha": "abc",
                                                               "culprit-pr": "42"}
    risk = {"items": [{"level": "medium", "score": 40}, {"level": "high", "score": 75.5}]}
    assert action_entry.standard_outputs("risk", risk) == {"risk-level": "high", "risk-score": "75.5",
                                                           "status": "high"}
    assert action_entry.standard_outputs("events-post", {"event": {"id": "e1", "status": "success"}}) == {
        "event-id": "e1", "status": "success"}
    assert action_entry.standard_outputs("smoke", {"passed": False}) == {"status": "failed"}
    assert action_entry.standard_outputs("what-changed", {"suspect": None}) == {"status": "no-suspect"}


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        (["progress\n", "bisect-runner: error: ref 'v9' not found\n"], ("ref 'v9' not found", None, None)),
        (["bisect-runner: error: /ws/.bisect-runner.yml:7: risk.top: expected a whole number\n"],
         ("/ws/.bisect-runner.yml:7: risk.top: expected a whole number", ".bisect-runner.yml", 7)),
        (["usage: bisect-runner risk ...\n", "bisect-runner risk: error: argument --top: invalid int value\n"],
         ("argument --top: invalid int value", None, None)),
        (["Traceback ...\n", "bisect-runner: unexpected error: boom (this is a bug; please report it)\n"],
         ("boom (this is a bug; please report it)", None, None)),
        (["just progress\n"], None),
    ],
    ids=["plain", "config-file-line", "argparse", "crash", "none"],
)
def test_error_annotation_points_at_file_and_line(lines: list[str], expected: tuple[str, str | None, int | None]
                                                  | None) -> None:
    found = action_entry.error_annotation(lines, "/ws")
    assert (None if found is None else (found.message, found.file, found.line)) == expected


def test_smoke_annotations_point_at_the_failing_check() -> None:
    report = {"checks": [{"name": "health", "runs": 1, "failures": 0, "reasons": []},
                         {"name": "checkout", "runs": 3, "failures": 2, "reasons": ["status 500, expected 200/201"]}]}
    (found,) = action_entry.smoke_annotations("smoke/checkout.yml", SMOKE_SPEC, report)
    assert (found.file, found.line) == ("smoke/checkout.yml", 7)
    assert found.message == "smoke check 'checkout' failed 2 of 3 runs: status 500, expected 200/201"


def test_unused_inputs_are_named() -> None:
    assert action_entry.unused_inputs("risk", {"base": "a", "flaky": "true", "kind": "deploy"}) == ["flaky"]


# the action, run like a runner runs it ---------------------------------------------------------


def test_smoke_passes_with_outputs_report_and_summary(shop: TestRepo, staging: ThreadingHTTPServer,
                                                      tmp_path: Path) -> None:
    staging.broken = False  # type: ignore[attr-defined]
    result = _runner(shop, tmp_path).run_action({
        "command": "smoke", "smoke-spec": "smoke/checkout.yml", "staging-urls": _url(staging), "repeat": "2",
        "junit": "reports/smoke.xml",
    })
    assert not result.failed, result.log
    assert [s.outcome for s in result.steps] == ["success", "skipped", "success", "skipped", "skipped", "success"]
    assert result.outputs["status"] == "passed" and result.outputs["exit-code"] == "0"
    report = json.loads(Path(result.outputs["report-path"]).read_text())
    assert report["passed"] is True and report["runs"] == 2
    assert "Smoke tests ✅ passed" in result.summary
    assert Path(result.outputs["summary-path"]).read_text().strip() in result.summary
    assert (shop.path / "reports" / "smoke.xml").is_file()
    assert result.annotations == []
    assert "bisect-runner smoke: arguments" in result.groups


def test_smoke_failure_annotates_the_check_in_the_spec(shop: TestRepo, staging: ThreadingHTTPServer,
                                                       tmp_path: Path) -> None:
    staging.broken = True  # type: ignore[attr-defined]
    try:
        result = _runner(shop, tmp_path).run_action({
            "command": "smoke", "smoke-spec": "smoke/checkout.yml", "staging-urls": _url(staging),
        })
    finally:
        staging.broken = False  # type: ignore[attr-defined]
    assert result.failed and result.outputs["exit-code"] == "1"
    assert result.outputs["status"] == "failed"
    (error,) = result.errors()
    assert (error.file, error.line, error.title) == ("smoke/checkout.yml", 7, "bisect-runner smoke")
    assert "smoke check 'checkout' failed 1 of 1 runs" in error.message
    assert "Smoke tests ❌ failed" in result.summary


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"command": "rollback"}, "input 'command' must be one of"),
        ({"command": "bisect", "good": "v2.45.0", "bad": "v2.46.0"}, "needs input 'deploy'"),
        ({"command": "smoke", "smoke-spec": "smoke/checkout.yml", "repeat": "twice"},
         "input 'repeat' must be a whole number"),
    ],
    ids=["unknown-command", "bisect-without-deploy", "repeat-not-a-number"],
)
def test_bad_inputs_fail_the_step_with_an_annotation(shop: TestRepo, tmp_path: Path, inputs: dict[str, str],
                                                     message: str) -> None:
    result = _runner(shop, tmp_path).run_action(inputs)
    assert result.failed and result.step("run").exit_code == 2
    (error,) = result.errors()
    assert message in error.message and error.title == "bisect-runner inputs"
    assert message in result.summary
    assert result.outputs["exit-code"] == "2"


def test_spec_errors_point_at_the_spec_line(shop: TestRepo, tmp_path: Path) -> None:
    (shop.path / "smoke" / "broken.yml").write_text("base_url: http://127.0.0.1:9\nchecks:\n  - name: x\n"
                                                     "    request: {method: GET, path: /}\n    expect: {stauts: 200}\n")
    try:
        result = _runner(shop, tmp_path).run_action({"command": "smoke", "smoke-spec": "smoke/broken.yml"})
    finally:
        (shop.path / "smoke" / "broken.yml").unlink()
    assert result.step("run").exit_code == 2
    (error,) = result.errors()
    assert (error.file, error.line) == ("smoke/broken.yml", 5)
    assert "stauts" in error.message


def test_secrets_are_masked_before_anything_prints(shop: TestRepo, staging: ThreadingHTTPServer,
                                                   tmp_path: Path) -> None:
    result = _runner(shop, tmp_path).run_action({
        "command": "smoke", "smoke-spec": "smoke/checkout.yml", "staging-urls": _url(staging),
        "github-token": SECRET_TOKEN, "slack-webhook-url": SECRET_WEBHOOK,
    })
    assert not result.failed, result.log
    _assert_secrets_masked_first(result, SECRET_TOKEN, SECRET_WEBHOOK)


def test_inputs_never_reach_a_shell(shop: TestRepo, staging: ThreadingHTTPServer, tmp_path: Path) -> None:
    """A hostile input is an argument, never code: no file named `pwned` appears."""
    hostile = "reports/$(touch pwned)`touch pwned2`;touch pwned3.xml"
    result = _runner(shop, tmp_path).run_action({
        "command": "smoke", "smoke-spec": "smoke/checkout.yml", "staging-urls": _url(staging), "junit": hostile,
    })
    assert not result.failed, result.log
    assert not list(shop.path.glob("pwned*")) and not list(tmp_path.glob("pwned*"))
    assert (shop.path / hostile).is_file()
    (shop.path / hostile).unlink()


def test_working_directory_and_unused_input_warning(shop: TestRepo, staging: ThreadingHTTPServer,
                                                    tmp_path: Path) -> None:
    result = _runner(shop, tmp_path).run_action({
        "command": "smoke", "smoke-spec": "checkout.yml", "staging-urls": _url(staging), "working-directory": "smoke",
        "good": "v1",
    })
    assert not result.failed, result.log
    (warning,) = result.warnings()
    assert warning.message == "input 'good' is not used by command 'smoke'"


def test_action_path_is_the_checkout_under_test() -> None:
    assert (ROOT / "action.yml").is_file()


def _subparser(argv_prefix: tuple[str, ...]) -> Any:
    import argparse

    from bisect_runner import cli

    parser: Any = cli.build_parser()
    for word in argv_prefix:
        actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not actions or word not in actions[0].choices:
            return None
        parser = actions[0].choices[word]
    return parser


@pytest.mark.parametrize("command", sorted(action_entry.COMMANDS))
def test_every_flag_the_action_passes_exists_in_the_command(command: str) -> None:
    parser = _subparser(action_entry.COMMANDS[command])
    if parser is None:
        pytest.skip(f"`bisect-runner {' '.join(action_entry.COMMANDS[command])}` is not registered in this build")
    flags = {flag for action in parser._actions for flag in action.option_strings}
    for option in (*action_entry.OPTIONS[command], *action_entry.COMMON_OPTIONS):
        if option.kind != "positional":
            assert option.flag in flags, f"{command}: the action passes {option.flag}, which the command lacks"
    assert {"--format", "--output"} <= flags


# bisect: the action and workflows/bisect.yml against real local staging servers -----------------

BISECT_PRS: list[list[dict[str, Any]]] = [[{}], [{}, {"checkout": "broken"}], [{"checkout": "broken"}],
                                          [{"checkout": "broken"}]]


@pytest.fixture
def staging_servers(tmp_path: Path) -> Iterator[Any]:
    from tests.staging_app import StagingServers

    servers = StagingServers(tmp_path)
    yield servers
    servers.stop()


@pytest.fixture
def bisect_shop(tmp_path: Path) -> dict[str, Any]:
    pytest.importorskip("bisect_runner.commands.bisect")
    pytest.importorskip("bisect_runner.bisect.strategies")
    from tests.staging_app import SMOKE_SPEC as STAGING_SMOKE
    from tests.staging_app import build_shop_repo

    shop = build_shop_repo(tmp_path / "shop", BISECT_PRS)
    repo: TestRepo = shop["repo"]
    repo.commit("Add the smoke spec", {"smoke/checkout.yml": STAGING_SMOKE})
    repo.git("tag", "-f", "v2")
    return shop


def _deploy_through_fake_workflow(fake: Any, repo: Path, slots: dict[str, str]) -> list[str]:
    """A staging deploy workflow on the fake GitHub: deploys the dispatched sha to the slot's server."""
    import subprocess
    import urllib.request

    deployed: list[str] = []

    def run(inputs: dict[str, str]) -> str:
        shown = subprocess.run(["git", "show", f"{inputs['sha']}:app/behaviour.json"], cwd=repo, capture_output=True,
                               text=True, check=True).stdout
        deployed.append(inputs["sha"])
        request = urllib.request.Request(slots[inputs["slot"]] + "/__deploy", method="POST",
                                         data=json.dumps({"behaviour": json.loads(shown), "sha": inputs["sha"]}).encode(),
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            response.read()
        return "success"

    fake.register_workflow("deploy-staging.yml", run, name="Deploy staging",
                           run_name=lambda inputs: f"Deploy {inputs['sha']} to {inputs['slot']}")
    return deployed


def test_bisect_through_the_action_reports_on_the_incident_issue(tmp_path: Path, bisect_shop: dict[str, Any],
                                                                 staging_servers: Any) -> None:
    from tests.fake_github import FakeGitHub
    from tests.staging_app import DEPLOY_COMMAND

    repo: TestRepo = bisect_shop["repo"]
    urls = staging_servers.start(2)
    with FakeGitHub(repo.path) as fake:
        fake.pulls_from_history()
        issue = fake.add_issue("Checkout is down")
        env = {**fake.env(), "DEPLOY_LOG": str(tmp_path / "deploys.log")}
        result = _runner(repo, tmp_path / "run", env=env).run_action({
            "command": "bisect", "good": "v1", "bad": "v2", "deploy": DEPLOY_COMMAND,
            "smoke-spec": "smoke/checkout.yml", "staging-urls": "\n".join(urls), "report-issue": str(issue),
        }, timeout=120)
        comments = fake.comments_on(issue)
    assert not result.failed, result.log[-3000:]
    culprit = bisect_shop["pr_commits"][1][1]
    assert result.outputs["status"] == "found"
    assert (result.outputs["culprit-sha"], result.outputs["culprit-pr"]) == (culprit, "102")
    report = json.loads(Path(result.outputs["report-path"]).read_text())
    assert report["culprit"]["sha"] == culprit
    assert "First bad commit" in result.summary and culprit[:10] in result.summary
    assert len(comments) == 1 and "First bad commit" in comments[0]["body"]
    assert result.errors() == []
    _assert_secrets_masked_first(result, fake.token)


def test_bisect_workflow_dispatch_deploys_through_the_staging_workflow(tmp_path: Path, bisect_shop: dict[str, Any],
                                                                       staging_servers: Any) -> None:
    from tests.fake_github import FakeGitHub

    repo: TestRepo = bisect_shop["repo"]
    urls = staging_servers.start(2)
    inputs = {"good": "v1", "bad": "v2", "smoke-spec": "smoke/checkout.yml", "slots": " ".join(urls),
              "incident-issue": "new"}
    event = {"inputs": inputs, "ref": "refs/heads/main", "workflow": ".github/workflows/bisect.yml",
             "repository": {"full_name": "acme/shop", "default_branch": "main"}, "sender": {"login": "octocat"}}
    with FakeGitHub(repo.path) as fake:
        fake.pulls_from_history()
        deployed = _deploy_through_fake_workflow(fake, repo.path, {"slot-1": urls[0], "slot-2": urls[1]})
        runner = Runner(repo.path, tmp_path / "run", event_name="workflow_dispatch", event=event, env=fake.env())
        result = runner.run_job(ROOT / "workflows" / "bisect.yml", "bisect", inputs=inputs, timeout=120)
        issues = dict(fake.issues)
    assert not result.failed, result.log[-3000:]
    culprit = bisect_shop["pr_commits"][1][1]
    assert result.outputs == {"status": "found", "culprit-sha": culprit, "culprit-pr": "102"}
    assert culprit in deployed and {r.inputs["slot"] for r in fake.runs.values()} <= {"slot-1", "slot-2"}
    (opened,) = issues.values()
    assert "First bad commit" in opened["title"] and culprit[:10] in opened["body"]


# pr-risk, risk and events-post against the fake GitHub ---------------------------------------------


def _needs(*command: str) -> None:
    if _subparser(command) is None:
        pytest.skip(f"`bisect-runner {' '.join(command)}` is not registered in this build")


def _api(fake: Any, path: str) -> Any:
    import urllib.request

    request = urllib.request.Request(f"{fake.url}{path}", headers={"Authorization": f"Bearer {fake.token}",
                                                                     "Accept": "application/vnd.github+json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def pull_request_event(fake: Any, number: int, action: str = "synchronize") -> dict[str, Any]:
    """A pull_request webhook payload: the PR and repository objects as GitHub serves them."""
    pull = _api(fake, f"/repos/{fake.full_name}/pulls/{number}")
    repository = _api(fake, f"/repos/{fake.full_name}")
    return {"action": action, "number": number, "pull_request": pull, "repository": repository,
            "sender": pull["user"], "before": pull["base"]["sha"], "after": pull["head"]["sha"]}


@pytest.fixture(scope="module")
def pr_shop(tmp_path_factory: pytest.TempPathFactory) -> TestRepo:
    """main with two releases, and an open PR #7 that adds a migration and touches payments."""
    repo = TestRepo(tmp_path_factory.mktemp("pr") / "shop")
    repo.commit("Initial commit", {"shop/app.py": "print('shop')\n", "README.md": "shop\n",
                                   "shop/payments/charge.py": "def charge(order):\n    return order.total\n"})
    repo.tag("v2.45.0")
    repo.merge_pr(41, "docs-typo", [("Fix a typo", {"README.md": "the shop\n"})], title="Fix a typo", author="Bob")
    repo.merge_pr(42, "order-currency", [
        ("Add currency to orders", {"shop/orders/migrations/0042_order_currency.py": "# migration\n"}),
        ("Charge in the order currency",
         {"shop/payments/charge.py": "def charge(order):\n    return order.total * order.rate\n"}),
    ], title="Charge in the order currency", author="Alice")
    repo.tag("v2.46.0")
    repo.git("checkout", "-q", "-b", "refunds")
    repo.commit("Refunds table", {"shop/orders/migrations/0043_refunds.py": "# refunds\n",
                                  "shop/payments/refund.py": "def refund(order):\n    return -order.total\n"},
                author="Carol")
    repo.git("checkout", "-q", "main")
    return repo


def test_pr_risk_posts_one_sticky_comment_and_label(pr_shop: TestRepo, tmp_path: Path) -> None:
    _needs("pr-risk")
    from tests.fake_github import FakeGitHub

    with FakeGitHub(pr_shop.path) as fake:
        fake.pulls_from_history("main")
        fake.add_pull(7, "Refunds", "carol", "refunds", pr_shop.git("rev-parse", "refunds"), labels=["team:payments"])
        event = pull_request_event(fake, 7)
        runner = Runner(pr_shop.path, tmp_path, event_name="pull_request", event=event, env=fake.env(),
                        ref="refs/pull/7/merge")
        first = runner.run_action({"command": "pr-risk"})
        second = runner.run_action({"command": "pr-risk"})
        comments = fake.comments_on(7)
        labels = fake.issue_labels[7]
    assert not first.failed, first.log[-3000:]
    assert not second.failed, second.log[-3000:]
    (comment,) = comments
    assert "<!-- bisect-runner:pr-risk -->" in comment["body"]
    assert "shop/orders/migrations/0043" in comment["body"]
    level = first.outputs["risk-level"]
    assert level in ("high", "medium", "low") and first.outputs["risk-score"]
    assert sorted(labels) == sorted(["team:payments", f"risk:{level}"])
    assert comment.get("edits", 0) == 0, "an unchanged comment must not be edited"
    assert second.outputs["risk-level"] == level
    assert first.errors() == [] and level in first.summary.lower()
    _assert_secrets_masked_first(first, fake.token)


def test_pr_risk_from_a_fork_warns_and_stays_green(pr_shop: TestRepo, tmp_path: Path) -> None:
    _needs("pr-risk")
    from tests.fake_github import FakeGitHub

    with FakeGitHub(pr_shop.path) as fake:
        fake.add_pull(8, "Refunds from a fork", "mallory", "refunds", pr_shop.git("rev-parse", "refunds"),
                      head_repo="mallory/shop")
        event = pull_request_event(fake, 8, action="opened")
        fake.read_only = True
        result = Runner(pr_shop.path, tmp_path, event_name="pull_request", event=event, env=fake.env()).run_action(
            {"command": "pr-risk"})
        comments = fake.comments_on(8)
    assert not result.failed, result.log[-3000:]
    assert comments == []
    assert result.warnings(), "a read-only token must be a visible warning"
    assert "shop/orders/migrations/0043" in result.summary
    assert result.outputs["risk-level"] in ("high", "medium", "low")


def test_pr_risk_workflow_job(pr_shop: TestRepo, tmp_path: Path) -> None:
    _needs("pr-risk")
    from tests.fake_github import FakeGitHub

    with FakeGitHub(pr_shop.path) as fake:
        fake.add_pull(9, "Refunds again", "carol", "refunds", pr_shop.git("rev-parse", "refunds"))
        event = pull_request_event(fake, 9, action="opened")
        runner = Runner(pr_shop.path, tmp_path, event_name="pull_request", event=event, env=fake.env())
        result = runner.run_job(ROOT / "workflows" / "pr-risk.yml", "pr-risk")
        comments = fake.comments_on(9)
    assert not result.failed, result.log[-3000:]
    assert len(comments) == 1
    assert result.outputs["risk-level"] in ("high", "medium", "low")


def test_risk_of_a_release_through_the_action(pr_shop: TestRepo, tmp_path: Path) -> None:
    _needs("risk")
    from tests.fake_github import FakeGitHub

    with FakeGitHub(pr_shop.path) as fake:
        fake.pulls_from_history("main")
        event = {"action": "published", "release": {"tag_name": "v2.46.0", "name": "v2.46.0"},
                 "repository": {"full_name": fake.full_name, "default_branch": "main"}}
        runner = Runner(pr_shop.path, tmp_path, event_name="release", event=event, env=fake.env(),
                        ref="refs/tags/v2.46.0")
        result = runner.run_action({"command": "risk", "top": "3"})
    assert not result.failed, result.log[-3000:]
    report = json.loads(Path(result.outputs["report-path"]).read_text())
    assert report["base"] == pr_shop.git("rev-parse", "v2.45.0") and report["head"] == pr_shop.git("rev-parse", "v2.46.0")
    first = report["items"][0]
    assert first["pr"] == 42 and first["title"] == "Charge in the order currency"
    assert result.outputs["risk-level"] == first["level"]
    assert "Charge in the order currency" in result.summary


def test_release_risk_workflow_uploads_the_report(pr_shop: TestRepo, tmp_path: Path) -> None:
    _needs("risk")
    from tests.fake_github import FakeGitHub

    with FakeGitHub(pr_shop.path) as fake:
        fake.pulls_from_history("main")
        event = {"inputs": {"base": "v2.45.0", "head": "v2.46.0"}, "ref": "refs/heads/main",
                 "repository": {"full_name": fake.full_name, "default_branch": "main"}}
        runner = Runner(pr_shop.path, tmp_path, event_name="workflow_dispatch", event=event, env=fake.env())
        result = runner.run_job(ROOT / "workflows" / "release-risk.yml", "release-risk",
                                inputs={"base": "v2.45.0", "head": "v2.46.0"})
    assert not result.failed, result.log[-3000:]
    files = sorted(p.name for p in result.artifacts["release-risk"])
    assert len(files) == 2 and files[0].endswith(".json") and files[1].endswith(".summary.md")
    assert result.outputs["risk-level"] in ("high", "medium", "low")


class _SlackHook(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.posts.append((self.path, json.loads(body)))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def slack_hook() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlackHook)
    server.posts = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_events_post_through_the_action(pr_shop: TestRepo, tmp_path: Path, slack_hook: ThreadingHTTPServer) -> None:
    _needs("events", "post")
    from tests.fake_github import FakeGitHub

    webhook = f"{_url(slack_hook)}/services/T000/B000/{'x' * 24}"
    store = tmp_path / "events.db"
    with FakeGitHub(pr_shop.path) as fake:
        runner = Runner(pr_shop.path, tmp_path / "run", event_name="push", event={"after": pr_shop.head()},
                        env=fake.env())
        inputs = {"command": "events-post", "service": "shop", "env": "production", "version": "v2.46.0",
                  "status": "started", "store": str(store), "slack-webhook-url": webhook,
                  "summary": "Release 2.46.0 `$(touch pwned)`", "url": "https://shop.example.com"}
        started = runner.run_action(inputs)
        finished = runner.run_action({**inputs, "status": "success"})
        deployments = list(fake.deployments.values())
        statuses = [s["state"] for statuses in fake.deployment_statuses.values() for s in statuses]
    for result in (started, finished):
        assert not result.failed, result.log[-3000:]
    assert started.outputs["event-id"] and started.outputs["event-id"] == finished.outputs["event-id"]
    assert (started.outputs["status"], finished.outputs["status"]) == ("started", "success")
    assert len(deployments) == 1 and deployments[0]["environment"] == "production"
    assert statuses[-1] == "success"
    assert slack_hook.posts, "the Slack webhook got nothing"  # type: ignore[attr-defined]
    assert store.is_file() and not list(pr_shop.path.glob("pwned*"))
    _assert_secrets_masked_first(started, fake.token, webhook)


def test_deploy_event_workflow_job(pr_shop: TestRepo, tmp_path: Path, slack_hook: ThreadingHTTPServer) -> None:
    _needs("events", "post")
    from tests.fake_github import FakeGitHub

    webhook = f"{_url(slack_hook)}/services/T000/B000/{'y' * 24}"
    with FakeGitHub(pr_shop.path) as fake:
        runner = Runner(pr_shop.path, tmp_path / "run", event_name="push", event={"after": pr_shop.head()},
                        env=fake.env(), secrets={"slack-webhook-url": webhook})
        result = runner.run_job(ROOT / "workflows" / "deploy-event.yml", "post", trigger="workflow_call", inputs={
            "service": "shop", "environment": "production", "version": "v2.46.0",
            "store": str(tmp_path / "events.db")})
        deployments = list(fake.deployments.values())
    assert not result.failed, result.log[-3000:]
    assert result.outputs["event-id"]
    assert len(deployments) == 1
    assert slack_hook.posts  # type: ignore[attr-defined]


def test_what_changed_and_dora_read_the_posted_events(pr_shop: TestRepo, tmp_path: Path) -> None:
    _needs("what-changed")
    store = str(tmp_path / "events.db")
    runner = Runner(pr_shop.path, tmp_path / "run", event_name="workflow_dispatch", event={})
    common = {"service": "shop", "env": "production", "store": store}
    for version, status, minutes in (("v2.45.0", "success", 300), ("v2.46.0", "success", 20)):
        posted = runner.run_action({"command": "events-post", **common, "version": version, "status": status,
                                    "sha": pr_shop.git("rev-parse", version), "event-id": f"deploy-{version}",
                                    "at": _minutes_ago(minutes), "tags": "team=payments"})
        assert not posted.failed, posted.log[-3000:]
    changed = runner.run_action({"command": "what-changed", **common, "at": "now", "window": "6h"})
    assert not changed.failed, changed.log[-3000:]
    assert (changed.outputs["status"], changed.outputs["event-id"]) == ("suspect", "deploy-v2.46.0")
    report = json.loads(Path(changed.outputs["report-path"]).read_text())
    assert report["rollback_to"]["version"] == "v2.45.0"
    assert "v2.46.0" in changed.summary
    dora = runner.run_action({"command": "dora", **common, "window": "30d", "format": "md"})
    assert not dora.failed, dora.log[-3000:]
    assert Path(dora.outputs["report-path"]).suffix == ".md"


def _minutes_ago(minutes: int) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) - timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")


# prepare and install (the steps a fresh runner runs before the first call) -------------------------


@pytest.fixture
def fresh_runner_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """An action checkout this interpreter did not install, and a runner's temp and output files."""
    action = tmp_path / "action"
    action.mkdir()
    (action / "pyproject.toml").write_text('[project]\nname = "bisect-runner"\nversion = "0.1.0"\n')
    output = tmp_path / "output"
    output.write_text("")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(output))
    monkeypatch.setenv("RUNNER_TEMP", str(tmp_path / "temp"))
    monkeypatch.setenv("BISECT_RUNNER_ACTION_PATH", str(action))
    return {"action": action, "output": output, "temp": tmp_path / "temp"}


def test_prepare_plans_a_venv_then_reuses_it(fresh_runner_env: dict[str, Path]) -> None:
    from bisect_runner.actions import outputs_written

    assert action_entry.main(["prepare"]) == 0
    planned = outputs_written()
    assert planned["installed"] == "false"
    assert planned["venv"].startswith(str(fresh_runner_env["temp"] / "bisect-runner" / "venv-"))
    assert planned["cache-key"].startswith("py3.") and planned["pip-cache-dir"]
    Path(planned["venv"]).mkdir(parents=True)
    (Path(planned["venv"]) / ".installed").write_text("done\n")
    fresh_runner_env["output"].write_text("")
    assert action_entry.main(["prepare"]) == 0
    again = outputs_written()
    assert again["installed"] == "true" and again["python"] == str(Path(planned["venv"]) / "bin" / "python")
    assert again["venv"] == planned["venv"] and again["cache-key"] == planned["cache-key"]


def test_a_failed_install_is_an_annotation_and_exit_3(fresh_runner_env: dict[str, Path],
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capfd: pytest.CaptureFixture[str]) -> None:
    blocker = fresh_runner_env["action"] / "not-a-directory"
    blocker.write_text("")  # the venv cannot be created below a file: the first install command fails fast
    monkeypatch.setenv("BISECT_RUNNER_VENV", str(blocker / "venv"))
    assert action_entry.main(["install"]) == 3
    out = capfd.readouterr().out
    assert "::group::Install bisect-runner from" in out and "::endgroup::" in out
    assert "::error title=bisect-runner install::installing bisect-runner failed" in out
    assert not (blocker / "venv").exists()


def test_install_needs_prepare_first(fresh_runner_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("BISECT_RUNNER_VENV", raising=False)
    assert action_entry.main(["install"]) == 2
    assert "BISECT_RUNNER_VENV is not set" in capsys.readouterr().out
    assert action_entry.main(["deploy"]) == 2


def test_without_python_311_the_setup_step_runs_and_its_python_is_used(shop: TestRepo, staging: ThreadingHTTPServer,
                                                                       tmp_path: Path) -> None:
    """A runner whose python3 is too old: setup-python runs (emulated: it reports the interpreter it
    set up, as with update-environment: false) and the later steps use that interpreter."""
    import sys

    old_bin = tmp_path / "old-python"
    old_bin.mkdir()
    for name in ("python3", "python"):
        script = old_bin / name
        script.write_text("#!/bin/sh\necho 'Python 3.8.10'\nexit 1\n")
        script.chmod(0o755)
    runner = _runner(shop, tmp_path / "run")
    runner.env["PATH"] = f"{old_bin}:/usr/bin:/bin"
    set_up: list[dict[str, str]] = []

    def setup_python(_: Runner, step: dict[str, Any], with_values: dict[str, str], __: dict[str, Any]) -> RunResult:
        set_up.append(with_values)
        return RunResult(outputs={"python-path": sys.executable, "python-version": "3.11.7"})

    runner.handlers["actions/setup-python@"] = setup_python
    result = runner.run_action({"command": "smoke", "smoke-spec": "smoke/checkout.yml", "staging-urls": _url(staging),
                                "python-version": "3.13"})
    assert not result.failed, result.log
    assert set_up == [{"python-version": "3.13", "update-environment": "false"}]
    assert result.step("python").outputs == {"needs-setup": "true"}
    assert result.step("prepare").outputs["python"] == sys.executable
    assert result.outputs["status"] == "passed"


def test_this_repositorys_ci_runs_the_action_on_its_pull_request(pr_shop: TestRepo, tmp_path: Path) -> None:
    """.github/workflows/ci.yml's `action` job (uses: ./), on a pull request of the test repository."""
    _needs("pr-risk")
    from tests.fake_github import FakeGitHub

    head = pr_shop.git("rev-parse", "refunds")
    with FakeGitHub(pr_shop.path) as fake:
        fake.add_pull(10, "Refunds (CI)", "carol", "refunds", head)
        event = pull_request_event(fake, 10, action="opened")
        runner = Runner(pr_shop.path, tmp_path, event_name="pull_request", event=event, env=fake.env(), sha=head)
        result = runner.run_job(ROOT / ".github" / "workflows" / "ci.yml", "action")
        comments = fake.comments_on(10)
    assert not result.failed, result.log[-3000:]
    assert comments == [], "dry-run posts nothing"
    check = result.steps[-1]
    assert check.outcome == "success" and "pr-risk: " in check.stdout and "risk: " in check.stdout
