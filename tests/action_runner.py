"""Run action.yml and workflow jobs the way a GitHub runner does, locally, for tests.

It reads the YAML, evaluates the expressions GitHub would (`${{ inputs.x }}`, `steps.*.outputs.*`,
`github.*`, `secrets.*`, `||`, `&&`, `==`, `!`, status functions), runs each `run:` step with bash
in a runner-like environment (a fresh GITHUB_OUTPUT and GITHUB_STEP_SUMMARY per step, GITHUB_EVENT_PATH,
GITHUB_ACTION_PATH, RUNNER_TEMP, ...), collects step outputs, the job summary and the workflow
commands the steps print (annotations, masks, groups). `uses:` steps run through handlers: the
bisect-runner action itself (recursively), actions/checkout (the test's repository is the checkout),
actions/upload-artifact (files copied to an artifacts folder); any other `uses:` step whose `if:` is
true is an error, so a test never silently skips work.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bisect_runner.actions import parse_command_file
from tests.gitutil import GIT_ENV

ROOT = Path(__file__).resolve().parent.parent
OWN_ACTION = "bisect-runner/bisect-runner@"


# --- expressions ---------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?)|(?P<op>==|!=|<=|>=|&&|\|\||[()!<>,])"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*(?:\.(?:[A-Za-z_*][A-Za-z0-9_-]*))*))"
)


class ExpressionError(Exception):
    pass


def _tokens(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    text = text.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise ExpressionError(f"cannot parse expression at {text[pos:]!r}")
        kind = match.lastgroup
        assert kind is not None
        out.append((kind, match.group(kind)))
        pos = match.end()
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return out


def _truthy(value: Any) -> bool:
    return value not in (None, "", 0, False) and value == value  # NaN is falsy


def _number(value: Any) -> float:
    if value is None or value == "":
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return float("nan")


def _equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()
    if left is None or right is None:
        return left is None and right is None
    return _number(left) == _number(right)


def to_string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


class _Parser:
    def __init__(self, text: str, contexts: Mapping[str, Any], functions: Mapping[str, Callable[..., Any]]) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.contexts = contexts
        self.functions = functions

    def parse(self) -> Any:
        value = self.or_()
        if self.pos != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.pos][1]!r}")
        return value

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.tokens[self.pos]
        self.pos += 1
        return token

    def or_(self) -> Any:
        value = self.and_()
        while self.peek() == "||":
            self.take()
            right = self.and_()
            value = value if _truthy(value) else right
        return value

    def and_(self) -> Any:
        value = self.compare()
        while self.peek() == "&&":
            self.take()
            right = self.compare()
            value = right if _truthy(value) else value
        return value

    def compare(self) -> Any:
        value = self.unary()
        while self.peek() in ("==", "!=", "<", ">", "<=", ">="):
            op = self.take()[1]
            right = self.unary()
            if op == "==":
                value = _equal(value, right)
            elif op == "!=":
                value = not _equal(value, right)
            else:
                a, b = _number(value), _number(right)
                value = {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        return value

    def unary(self) -> Any:
        if self.peek() == "!":
            self.take()
            return not _truthy(self.unary())
        return self.primary()

    def primary(self) -> Any:
        kind, text = self.take()
        if text == "(":
            inner = self.or_()
            if self.take()[1] != ")":
                raise ExpressionError("expected )")
            return inner
        if kind == "string":
            return text[1:-1].replace("''", "'")
        if kind == "number":
            return float(text)
        if kind != "name":
            raise ExpressionError(f"unexpected {text!r}")
        if text in ("true", "false"):
            return text == "true"
        if text == "null":
            return None
        if self.peek() == "(":
            self.take()
            args: list[Any] = []
            while self.peek() != ")":
                args.append(self.or_())
                if self.peek() == ",":
                    self.take()
            self.take()
            if text not in self.functions:
                raise ExpressionError(f"unknown function {text}()")
            return self.functions[text](*args)
        parts = text.split(".")
        if parts[0] not in self.contexts:
            raise ExpressionError(f"unknown context {parts[0]!r} in {text!r}")
        value: Any = self.contexts[parts[0]]
        for part in parts[1:]:
            value = value.get(part) if isinstance(value, dict) else None
        return value


def evaluate(expression: str, contexts: Mapping[str, Any], job_status: str = "success") -> Any:
    functions: dict[str, Callable[..., Any]] = {
        "always": lambda: True,
        "success": lambda: job_status == "success",
        "failure": lambda: job_status == "failure",
        "cancelled": lambda: job_status == "cancelled",
        "contains": lambda a, b: (to_string(b).lower() in to_string(a).lower()) if not isinstance(a, list)
        else any(_equal(x, b) for x in a),
        "startsWith": lambda a, b: to_string(a).lower().startswith(to_string(b).lower()),
        "endsWith": lambda a, b: to_string(a).lower().endswith(to_string(b).lower()),
        "toJSON": lambda a: json.dumps(a),
        "fromJSON": lambda a: json.loads(to_string(a)),
    }
    return _Parser(expression, contexts, functions).parse()


def interpolate(value: Any, contexts: Mapping[str, Any]) -> str:
    """A YAML value with `${{ }}` parts, as the runner renders it into a string."""
    text = to_string(value)
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: to_string(evaluate(m.group(1), contexts)), text)


def condition(value: Any, contexts: Mapping[str, Any], job_status: str) -> bool:
    """An `if:` (with or without `${{ }}`); like GitHub, success() is implied unless a status function
    appears."""
    if value is None:
        return job_status == "success"
    text = str(value).strip()
    if text.startswith("${{") and text.endswith("}}"):
        text = text[3:-2]
    if not re.search(r"\b(always|success|failure|cancelled)\(", text):
        text = f"success() && ({text})"
    return _truthy(evaluate(text, contexts, job_status))


# --- workflow commands ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Annotation:
    level: str
    message: str
    file: str | None = None
    line: int | None = None
    title: str | None = None


def _unescape(value: str, prop: bool = False) -> str:
    if prop:
        value = value.replace("%3A", ":").replace("%2C", ",")
    return value.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


@dataclass
class StepResult:
    id: str | None
    name: str
    outcome: str  # success | failure | skipped
    exit_code: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    stdout: str = ""
    stderr: str = ""
    summary: str = ""


@dataclass
class RunResult:
    """What a runner would show for one action call or job."""

    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    annotations: list[Annotation] = field(default_factory=list)
    masks: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)
    artifacts: dict[str, list[Path]] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(step.outcome == "failure" for step in self.steps)

    @property
    def summary(self) -> str:
        return "".join(step.summary for step in self.steps)

    @property
    def log(self) -> str:
        return "".join(step.stdout + step.stderr for step in self.steps)

    def step(self, step_id: str) -> StepResult:
        return next(s for s in self.steps if s.id == step_id)

    def errors(self) -> list[Annotation]:
        return [a for a in self.annotations if a.level == "error"]

    def warnings(self) -> list[Annotation]:
        return [a for a in self.annotations if a.level == "warning"]

    def absorb(self, other: RunResult) -> None:
        self.annotations += other.annotations
        self.masks += other.masks
        self.groups += other.groups
        for name, paths in other.artifacts.items():
            self.artifacts.setdefault(name, []).extend(paths)


def _scan_commands(stdout: str, result: RunResult) -> None:
    depth = 0
    for line in stdout.splitlines():
        match = re.match(r"^::([a-z-]+)(?: ([^:]*))?::(.*)$", line)
        if not match:
            continue
        command, props_text, data = match.groups()
        if command == "add-mask":
            result.masks.append(data)
        elif command == "group":
            if depth:
                raise AssertionError(f"nested ::group:: {data!r}: the runner does not nest groups")
            depth += 1
            result.groups.append(_unescape(data))
        elif command == "endgroup":
            depth -= 1
        elif command in ("error", "warning", "notice"):
            props: dict[str, str] = {}
            for part in (props_text or "").split(","):
                if "=" in part:
                    key, value = part.split("=", 1)
                    props[key.strip()] = _unescape(value, prop=True)
            result.annotations.append(Annotation(command, _unescape(data), props.get("file"),
                                                 int(props["line"]) if "line" in props else None, props.get("title")))
    assert depth == 0, "a ::group:: was never closed"


# --- the runner ----------------------------------------------------------------------------------

UsesHandler = Callable[["Runner", dict[str, Any], dict[str, str], dict[str, Any]], RunResult | None]


class Runner:
    """One job's runner: workspace, event, temp folders, and the environment every step gets."""

    def __init__(self, workspace: Path, temp: Path, *, event_name: str, event: Mapping[str, Any],
                 repository: str = "acme/shop", sha: str | None = None, ref: str = "refs/heads/main",
                 env: Mapping[str, str] | None = None, secrets: Mapping[str, str] | None = None,
                 token: str = "", action_path: Path = ROOT) -> None:
        self.workspace = workspace
        self.temp = temp
        self.action_path = action_path
        self.runner_temp = temp / "runner-temp"
        self.runner_temp.mkdir(parents=True, exist_ok=True)
        self.files = temp / "runner-files"
        self.files.mkdir(parents=True, exist_ok=True)
        self.artifacts = temp / "artifacts"
        self.event_path = temp / "event.json"
        self.event_path.write_text(json.dumps(event), encoding="utf-8")
        self.event_name = event_name
        self.event = dict(event)
        self.secrets = dict(secrets or {})
        self.sha = sha or subprocess.run(["git", "rev-parse", "HEAD"], cwd=workspace, capture_output=True,
                                         text=True).stdout.strip()
        self.github: dict[str, Any] = {
            "event_name": event_name, "event": self.event, "repository": repository, "sha": self.sha,
            "ref": ref, "run_id": "4242", "run_attempt": "1", "actor": "octocat", "token": "",
            "workspace": str(workspace), "server_url": "https://github.com", "api_url": "",
            "repository_owner": repository.split("/")[0], "job": "", "action_path": str(action_path),
        }
        bin_dir = str(Path(sys.executable).parent)
        self.env: dict[str, str] = {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": os.environ.get("HOME", str(temp)),
            "LANG": "C.UTF-8",
            **GIT_ENV,
            "CI": "true", "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_EVENT_PATH": str(self.event_path), "GITHUB_EVENT_NAME": event_name,
            "GITHUB_REPOSITORY": repository, "GITHUB_SHA": self.sha, "GITHUB_REF": ref,
            "GITHUB_RUN_ID": "4242", "GITHUB_RUN_ATTEMPT": "1", "GITHUB_ACTOR": "octocat",
            "GITHUB_SERVER_URL": "https://github.com", "RUNNER_TEMP": str(self.runner_temp), "RUNNER_OS": "Linux",
            **(env or {}),
        }
        # Like a runner: the job token is only in `github.token` (the action's default input), not in env.
        self.github["token"] = token or self.env.pop("GITHUB_TOKEN", "")
        self.github["api_url"] = self.env.get("GITHUB_API_URL", "")
        self.handlers: dict[str, UsesHandler] = {
            OWN_ACTION: _run_own_action, "./": _run_own_action,
            "actions/checkout@": _checkout, "actions/upload-artifact@": _upload_artifact,
        }
        self._counter = 0

    def contexts(self, steps: Mapping[str, Any], inputs: Mapping[str, Any]) -> dict[str, Any]:
        return {"github": self.github, "inputs": dict(inputs), "steps": dict(steps), "secrets": self.secrets,
                "runner": {"os": "Linux", "temp": str(self.runner_temp)}, "env": self.env,
                "job": {"status": "success"}, "vars": {}}

    # one step --------------------------------------------------------------------------------

    def run_script(self, step: dict[str, Any], contexts: Mapping[str, Any], extra_env: Mapping[str, str],
                   timeout: float) -> StepResult:
        self._counter += 1
        output = self.files / f"output-{self._counter}"
        summary = self.files / f"summary-{self._counter}"
        output.write_text("")
        summary.write_text("")
        env = {**self.env, **extra_env,
               **{k: interpolate(v, contexts) for k, v in (step.get("env") or {}).items()},
               "GITHUB_OUTPUT": str(output), "GITHUB_STEP_SUMMARY": str(summary),
               "GITHUB_ENV": str(self.files / "env"), "GITHUB_PATH": str(self.files / "path")}
        workdir = self.workspace / interpolate(step.get("working-directory", "."), contexts)
        script = self.files / f"script-{self._counter}.sh"
        script.write_text(step["run"], encoding="utf-8")
        assert step.get("shell", "bash") == "bash", "only bash steps are supported"
        process = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=workdir,
                                 env=env, capture_output=True, text=True, timeout=timeout)
        return StepResult(step.get("id"), step.get("name", step["run"].splitlines()[0]),
                          "success" if process.returncode == 0 else "failure", process.returncode,
                          parse_command_file(output.read_text()), process.stdout, process.stderr,
                          summary.read_text())

    def run_steps(self, steps: list[dict[str, Any]], inputs: Mapping[str, Any], *, extra_env: Mapping[str, str],
                  timeout: float) -> tuple[RunResult, dict[str, Any]]:
        result = RunResult()
        step_contexts: dict[str, Any] = {}
        status = "success"
        for step in steps:
            contexts = self.contexts(step_contexts, inputs)
            if not condition(step.get("if"), contexts, status):
                result.steps.append(StepResult(step.get("id"), step.get("name", ""), "skipped"))
                if step.get("id"):
                    step_contexts[step["id"]] = {"outputs": {}, "outcome": "skipped", "conclusion": "skipped"}
                continue
            if "run" in step:
                outcome = self.run_script(step, contexts, extra_env, timeout)
                _scan_commands(outcome.stdout, result)
            else:
                uses = str(step["uses"])
                handler = next((h for prefix, h in self.handlers.items() if uses.startswith(prefix)), None)
                if handler is None:
                    raise AssertionError(f"step {step.get('name')!r} would run {uses}; the test runner cannot")
                with_values = {k: interpolate(v, contexts) for k, v in (step.get("with") or {}).items()}
                inner = handler(self, step, with_values, contexts)
                outcome = StepResult(step.get("id"), step.get("name", uses), "success")
                if inner is not None:
                    result.absorb(inner)
                    outcome = StepResult(step.get("id"), step.get("name", uses),
                                         "failure" if inner.failed else "success", None, inner.outputs,
                                         inner.log, "", inner.summary)
            result.steps.append(outcome)
            if step.get("id"):
                step_contexts[step["id"]] = {"outputs": outcome.outputs, "outcome": outcome.outcome,
                                             "conclusion": outcome.outcome}
            if outcome.outcome == "failure" and not step.get("continue-on-error"):
                status = "failure"
        return result, step_contexts

    # an action -------------------------------------------------------------------------------

    def run_action(self, inputs: Mapping[str, str], *, action_path: Path | None = None,
                   timeout: float = 60) -> RunResult:
        """Call the composite action with `with:` inputs, as a workflow step would."""
        path = action_path or self.action_path
        action = _load(path / "action.yml")
        unknown = set(inputs) - set(action["inputs"])
        assert not unknown, f"unknown action inputs: {sorted(unknown)}"
        saved = self.github["action_path"]
        self.github["action_path"] = str(path)
        try:
            defaults_ctx = self.contexts({}, {})
            resolved = {
                name: inputs[name] if name in inputs else interpolate(spec.get("default", ""), defaults_ctx)
                for name, spec in action["inputs"].items()
            }
            missing = [n for n, spec in action["inputs"].items() if spec.get("required") and not resolved[n]]
            assert not missing, f"required inputs missing: {missing}"
            result, step_contexts = self.run_steps(action["runs"]["steps"], resolved,
                                                   extra_env={"GITHUB_ACTION_PATH": str(path)}, timeout=timeout)
            contexts = self.contexts(step_contexts, resolved)
            result.outputs = {name: interpolate(spec["value"], contexts) for name, spec in action["outputs"].items()}
            return result
        finally:
            self.github["action_path"] = saved

    # a workflow job --------------------------------------------------------------------------

    def run_job(self, workflow_path: Path, job_id: str, *, inputs: Mapping[str, Any] | None = None,
                trigger: str | None = None, timeout: float = 60) -> RunResult:
        """Run one job of a workflow; `inputs` are workflow_call/workflow_dispatch inputs (defaults
        filled from the `trigger`'s input declarations)."""
        workflow = _load(workflow_path)
        declared = ((workflow["on"].get(trigger or self.event_name) or {}).get("inputs") or {}) \
            if isinstance(workflow["on"], dict) else {}
        resolved: dict[str, Any] = {name: spec.get("default") for name, spec in declared.items()}
        resolved.update(inputs or {})
        for name, spec in declared.items():
            assert not (spec.get("required") and resolved.get(name) in (None, "")), f"workflow input {name} is required"
        job = workflow["jobs"][job_id]
        contexts = self.contexts({}, resolved)
        if not condition(job.get("if"), contexts, "success"):
            return RunResult(steps=[StepResult(job_id, job_id, "skipped")])
        self.github["job"] = job_id
        result, step_contexts = self.run_steps(job["steps"], resolved, extra_env={}, timeout=timeout)
        contexts = self.contexts(step_contexts, resolved)
        result.outputs = {name: interpolate(value, contexts) for name, value in (job.get("outputs") or {}).items()}
        return result


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:
        data["on"] = data.pop(True)
    return dict(data)


def _run_own_action(runner: Runner, step: dict[str, Any], with_values: dict[str, str],
                    contexts: dict[str, Any]) -> RunResult:
    return runner.run_action(with_values)


def _checkout(runner: Runner, step: dict[str, Any], with_values: dict[str, str], contexts: dict[str, Any]) -> None:
    """The test's repository is already the workspace; check what the step asked for."""
    assert with_values.get("persist-credentials") == "false", "checkout must not persist the token"
    assert (runner.workspace / ".git").exists()
    return None


def _upload_artifact(runner: Runner, step: dict[str, Any], with_values: dict[str, str],
                     contexts: dict[str, Any]) -> RunResult:
    name = with_values.get("name", "artifact")
    target = runner.artifacts / name
    target.mkdir(parents=True, exist_ok=True)
    copied: list[Path] = []
    for line in with_values.get("path", "").splitlines():
        if line.strip():
            source = Path(line.strip())
            source = source if source.is_absolute() else runner.workspace / source
            if source.is_file():
                copied.append(Path(shutil.copy(source, target / source.name)))
    if not copied and with_values.get("if-no-files-found", "warn") == "error":
        raise AssertionError(f"upload-artifact {name}: no files found")
    return RunResult(artifacts={name: copied})
