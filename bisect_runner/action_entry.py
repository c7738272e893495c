"""The composite action's Python side (action.yml): `prepare`, `install` and `run` phases.

action.yml passes every input through `env:` as INPUT_<NAME> (dashes become underscores); this
module turns them into an argv list for `bisect-runner`, so no untrusted value (a PR title, a
branch name, a workflow_dispatch input) is ever parsed by a shell. It masks secrets before it
prints anything, folds the install and the report into ::group:: blocks, turns the CLI's one-line
errors into ::error annotations (with file and line when the message names them), and makes sure
the standard step outputs exist: status, culprit-sha, culprit-pr, risk-level, risk-score,
event-id, report-path, summary-path, exit-code.

The `prepare` and `install` phases run before the package's dependencies are installed, so this
module imports only the standard library and the dependency-free actions/redact modules at the top.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bisect_runner import actions
from bisect_runner.errors import BisectRunnerError, UserError
from bisect_runner.redact import redact

Kind = Literal["value", "int", "float", "flag", "negated-flag", "lines", "words", "positional"]

# The commands the action runs and the argv prefix of each.
COMMANDS: dict[str, tuple[str, ...]] = {
    "events-post": ("events", "post"),
    "pr-risk": ("pr-risk",),
    "risk": ("risk",),
    "bisect": ("bisect",),
    "what-changed": ("what-changed",),
    "smoke": ("smoke",),
    "dora": ("dora",),
}


@dataclass(frozen=True)
class InputOption:
    """How one action input becomes command-line arguments."""

    input: str
    flag: str  # "" for a positional argument
    kind: Kind = "value"
    required: bool = False


def _opt(name: str, flag: str | None = None, kind: Kind = "value", required: bool = False) -> InputOption:
    return InputOption(name, f"--{name}" if flag is None else flag, kind, required)


COMMON_OPTIONS = (_opt("config"),)

OPTIONS: dict[str, tuple[InputOption, ...]] = {
    "risk": (
        _opt("base"), _opt("head"), _opt("error-log", kind="lines"), _opt("top", kind="int"),
        _opt("github-repository", "--github"),
    ),
    "pr-risk": (
        _opt("pr", kind="int"), _opt("top", kind="int"), _opt("dry-run", kind="flag"),
        _opt("github-repository", "--github"),
    ),
    "bisect": (
        _opt("good", required=True), _opt("bad", required=True), _opt("deploy"), _opt("deploy-workflow"),
        _opt("workflow-ref"), _opt("smoke-spec", "--smoke"), _opt("test-command", "--test"),
        _opt("staging-urls", "--staging-url", kind="words"), _opt("flaky", kind="flag"),
        _opt("confidence", kind="float"), _opt("latency"), _opt("max-deploys", kind="int"),
        _opt("first-parent", kind="flag"), _opt("drill-down", "--no-drill-down", kind="negated-flag"),
        _opt("deploy-timeout", kind="float"), _opt("restart", kind="flag"), _opt("report-issue"),
        _opt("github-repository", "--github"),
    ),
    "smoke": (
        _opt("smoke-spec", "", kind="positional", required=True), _opt("repeat", kind="int"), _opt("junit"),
    ),
    "events-post": (
        _opt("kind", required=True), _opt("service"), _opt("env"), _opt("version"), _opt("sha"),
        _opt("status"), _opt("actor"), _opt("summary"), _opt("prev-value"), _opt("new-value"),
        _opt("url", kind="lines"), _opt("event-id", "--id"), _opt("at"), _opt("tags", "--tag", kind="lines"),
        _opt("store"), _opt("github-repository", "--github"),
    ),
    "what-changed": (
        _opt("at"), _opt("window"), _opt("service"), _opt("env"), _opt("store"),
    ),
    "dora": (
        _opt("window", "--since"), _opt("service"), _opt("env"), _opt("store"),
    ),
}

# Inputs that are not command options: handled by this module or passed as environment.
OWN_INPUTS = ("command", "format", "output", "args", "github-token", "working-directory", "slack-webhook-url",
              "slack-bot-token", "slack-channel", "python-version", "staging-urls")

STANDARD_OUTPUTS = ("status", "culprit-sha", "culprit-pr", "risk-level", "risk-score", "event-id")

_ERROR_LINE = re.compile(r"^(?:usage: .*|bisect-runner(?: [\w-]+)*: (?:error|unexpected error): (?P<message>.*))$")
_FILE_LINE = re.compile(r"^(?P<file>[^\s:][^:]*?):(?P<line>\d+)(?::\d+)?: (?P<rest>.*)$")
_EXIT_MEANINGS = {1: "the job ran and found a problem", 2: "bad usage, config or input", 3: "an unexpected error",
                  130: "interrupted"}


def input_env_name(name: str) -> str:
    """The env var action.yml sets for an input: INPUT_ + upper case, dashes as underscores."""
    return "INPUT_" + name.upper().replace("-", "_")


def read_inputs(environ: Mapping[str, str]) -> dict[str, str]:
    """Every INPUT_* variable, keyed by the input's name as action.yml spells it (dashes)."""
    inputs: dict[str, str] = {}
    for key, value in environ.items():
        if key.startswith("INPUT_") and value.strip():
            inputs[key[len("INPUT_"):].lower().replace("_", "-")] = value.strip()
    return inputs


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def _words(value: str) -> list[str]:
    """URLs separated by newlines, spaces or commas (a workflow_dispatch input is one line)."""
    return [word for word in re.split(r"[\s,]+", value) if word]


def parse_bool(name: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("", "false", "0", "no", "off"):
        return False
    raise UserError(f"input '{name}' must be true or false, got {value!r}")


def _check_number(name: str, value: str, kind: Kind) -> str:
    try:
        int(value) if kind == "int" else float(value)
    except ValueError:
        what = "a whole number" if kind == "int" else "a number"
        raise UserError(f"input '{name}' must be {what}, got {value!r}") from None
    return value


def resolve_defaults(command: str, inputs: Mapping[str, str], event: Mapping[str, Any] | None,
                     environ: Mapping[str, str], previous_tag: Callable[[str], str | None]) -> dict[str, str]:
    """Fill what the workflow run already knows: for `risk`, the range of the push (before..after) or
    of the release (previous tag..tag); pull requests have `pr-risk`."""
    resolved = dict(inputs)
    event = event or {}
    if command == "risk":
        release = event.get("release") if isinstance(event.get("release"), dict) else None
        if "head" not in resolved:
            head = (release or {}).get("tag_name") or event.get("after") or environ.get("GITHUB_SHA")
            if head:
                resolved["head"] = str(head)
        if "base" not in resolved:
            before = str(event.get("before") or "")
            base = before if before.strip("0") and not event.get("created") and not release else None
            if not base and "head" in resolved:
                base = previous_tag(resolved["head"])
            if not base:
                raise UserError("input 'base' is required for command 'risk': no pull request, push range or "
                                "earlier tag to compare with; pass base: <ref> (and fetch-depth: 0 in checkout)")
            resolved["base"] = str(base)
        if "head" not in resolved:
            raise UserError("input 'head' is required for command 'risk'; pass head: <ref>")
    return resolved


def build_argv(command: str, inputs: Mapping[str, str], *, output: str | None, fmt: str) -> list[str]:
    """The `bisect-runner` argv for `command` from the action's inputs. Pure: no I/O."""
    if command not in COMMANDS:
        raise UserError(f"input 'command' must be one of: {', '.join(COMMANDS)}; got {command!r}")
    argv = list(COMMANDS[command])
    positionals: list[str] = []
    for option in (*OPTIONS[command], *COMMON_OPTIONS):
        value = inputs.get(option.input, "")
        if not value:
            if option.required:
                raise UserError(f"input '{option.input}' is required for command '{command}'")
            continue
        if option.kind in ("flag", "negated-flag"):
            if parse_bool(option.input, value) == (option.kind == "flag"):
                argv.append(option.flag)
        elif option.kind in ("lines", "words"):
            for item in (_lines(value) if option.kind == "lines" else _words(value)):
                argv += [option.flag, item]
        elif option.kind == "positional":
            positionals.append(value)
        elif option.kind in ("int", "float"):
            argv += [option.flag, _check_number(option.input, value, option.kind)]
        else:
            argv += [option.flag, value]
    if command == "smoke" and inputs.get("staging-urls"):
        argv += ["--base-url", _words(inputs["staging-urls"])[0]]
    if command == "bisect" and not (inputs.get("deploy") or inputs.get("deploy-workflow")):
        raise UserError("command 'bisect' needs input 'deploy' (a command) or 'deploy-workflow' (a workflow file)")
    if fmt not in ("json", "md", "text"):
        raise UserError(f"input 'format' must be json, md or text; got {fmt!r}")
    argv += ["--format", fmt]
    if output:
        argv += ["--output", output]
    argv += _lines(inputs.get("args", ""))
    # Positionals go right after the command; "./" keeps a path that starts with "-" from reading as a flag.
    positionals = [f"./{p}" if p.startswith("-") else p for p in positionals]
    return argv[: len(COMMANDS[command])] + positionals + argv[len(COMMANDS[command]):]


def unused_inputs(command: str, inputs: Mapping[str, str]) -> list[str]:
    """Inputs set to something the command does not read (likely a typo or the wrong command)."""
    used = {o.input for o in (*OPTIONS.get(command, ()), *COMMON_OPTIONS)} | set(OWN_INPUTS)
    defaults = {"kind": "deploy", "format": "json", "dry-run": "false", "flaky": "false", "first-parent": "false",
                "drill-down": "true", "restart": "false", "working-directory": ".", "python-version": "3.12"}
    return sorted(name for name, value in inputs.items()
                  if name not in used and defaults.get(name) != value and name != "github-repository")


def standard_outputs(command: str, report: Mapping[str, Any]) -> dict[str, str]:
    """The standard step outputs read from a command's JSON report (for commands whose report
    does not publish them itself)."""
    outputs: dict[str, str] = {}

    def put(name: str, value: Any) -> None:
        if value is not None and value != "":
            outputs[name] = str(value)

    if command == "bisect":
        put("status", report.get("status"))
        culprit = report.get("culprit")
        if isinstance(culprit, dict):
            put("culprit-sha", culprit.get("sha"))
            put("culprit-pr", culprit.get("pr"))
    elif command == "risk":
        items = report.get("items")
        if isinstance(items, list) and items and isinstance(items[0], dict):
            top = max(items, key=lambda item: float(item.get("score") or 0))
            put("risk-level", top.get("level"))
            put("risk-score", top.get("score"))
            put("status", top.get("level"))
    elif command == "pr-risk":
        source = report.get("risk") if isinstance(report.get("risk"), dict) else report
        assert isinstance(source, Mapping)
        put("risk-level", source.get("level"))
        put("risk-score", source.get("score"))
        put("status", source.get("level"))
    elif command == "events-post":
        event = report.get("event") if isinstance(report.get("event"), dict) else report
        assert isinstance(event, Mapping)
        put("event-id", event.get("id"))
        put("status", event.get("status"))
    elif command == "smoke":
        passed = report.get("passed")
        if isinstance(passed, bool):
            put("status", "passed" if passed else "failed")
        else:
            put("status", report.get("status"))
    elif command == "what-changed":
        suspect = report.get("suspect")
        put("status", "suspect" if isinstance(suspect, dict) else "no-suspect")
        if isinstance(suspect, dict):
            put("event-id", suspect.get("id"))
    return outputs


@dataclass(frozen=True)
class ErrorAnnotation:
    message: str
    file: str | None = None
    line: int | None = None


def error_annotation(stderr_lines: Sequence[str], workspace: str | None) -> ErrorAnnotation | None:
    """The CLI's last error line as an annotation; `path:line: ...` messages (config and spec
    errors) point at that file, relative to the workspace so GitHub can show it in the diff."""
    message = None
    for line in stderr_lines:
        match = _ERROR_LINE.match(line.rstrip("\n"))
        if match and match.group("message"):
            message = match.group("message")
    if message is None:
        return None
    located = _FILE_LINE.match(message)
    if not located:
        return ErrorAnnotation(message)
    file = located.group("file")
    if workspace and os.path.isabs(file):
        with contextlib.suppress(ValueError):  # outside the workspace: keep the absolute path
            file = str(Path(file).resolve().relative_to(Path(workspace).resolve()))
    return ErrorAnnotation(message, file, int(located.group("line")))


def check_lines(spec_text: str) -> dict[str, int]:
    """The 1-based line of each `- name: X` check in a smoke spec, for annotations."""
    import yaml

    lines: dict[str, int] = {}
    try:
        root = yaml.compose(spec_text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return lines
    if not isinstance(root, yaml.MappingNode):
        return lines
    for key, value in root.value:
        if key.value == "checks" and isinstance(value, yaml.SequenceNode):
            for item in value.value:
                if isinstance(item, yaml.MappingNode):
                    for check_key, check_value in item.value:
                        if check_key.value == "name" and isinstance(check_value, yaml.ScalarNode):
                            lines.setdefault(str(check_value.value), check_key.start_mark.line + 1)
    return lines


def smoke_annotations(spec_file: str, spec_text: str, report: Mapping[str, Any]) -> list[ErrorAnnotation]:
    """One annotation per failing check of a smoke report, pointing at the check in the spec."""
    lines = check_lines(spec_text)
    found: list[ErrorAnnotation] = []
    for check in report.get("checks") or []:
        if not isinstance(check, dict) or not check.get("failures"):
            continue
        reasons = check.get("reasons") or []
        reason = str(reasons[0]) if reasons else "failed"
        name = str(check.get("name"))
        found.append(ErrorAnnotation(f"smoke check '{name}' failed {check['failures']} of {check.get('runs')} "
                                     f"runs: {reason}", spec_file, lines.get(name)))
    return found


# --- the adapters: phases that touch processes and files ---------------------------------------


def _action_path() -> Path:
    return Path(os.environ.get("BISECT_RUNNER_ACTION_PATH") or Path(__file__).resolve().parent.parent)


def _installed_from(action_path: Path) -> bool:
    """True when this interpreter has bisect-runner installed from `action_path` (editable, e.g.
    after `make`), with its dependencies: then there is nothing to install."""
    from importlib import metadata, util
    from urllib.parse import unquote, urlparse

    # PYTHONPATH (the action path) may hold a build's egg-info: look at every installed copy.
    for dist in metadata.distributions(name="bisect-runner"):
        direct_url = dist.read_text("direct_url.json")
        if not direct_url:
            continue
        info = json.loads(direct_url)
        source = Path(unquote(urlparse(str(info.get("url", ""))).path))
        if (info.get("dir_info") or {}).get("editable") and source.resolve() == action_path.resolve():
            return all(util.find_spec(name) is not None for name in ("yaml", "git", "github", "requests", "pathspec"))
    return False


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def prepare() -> int:
    """Decide how to run: this interpreter (already installed from the action), a venv made earlier
    in this job, or a new venv (the next step installs it, with the pip cache restored)."""
    action_path = _action_path()
    pyproject = (action_path / "pyproject.toml").read_bytes()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    cache_key = f"py{version}-{hashlib.sha256(pyproject).hexdigest()[:16]}"
    venv_key = hashlib.sha256(f"{action_path.resolve()}\0{sys.executable}\0".encode() + pyproject).hexdigest()[:16]
    temp = Path(os.environ.get("RUNNER_TEMP") or "/tmp")
    venv = temp / "bisect-runner" / f"venv-{venv_key}"
    if _installed_from(action_path):
        python, installed = Path(sys.executable), True
        print(f"bisect-runner is installed from {action_path} in {sys.executable}: nothing to install")
    elif (venv / ".installed").is_file():
        python, installed = _venv_python(venv), True
        print(f"bisect-runner was installed earlier in this job: {venv}")
    else:
        python, installed = _venv_python(venv), False
    actions.set_output("installed", "true" if installed else "false")
    actions.set_output("python", str(python))
    actions.set_output("venv", str(venv))
    actions.set_output("cache-key", cache_key)
    actions.set_output("pip-cache-dir", "" if installed else _pip_cache_dir())
    return 0


def _pip_cache_dir() -> str:
    result = subprocess.run([sys.executable, "-m", "pip", "cache", "dir"], capture_output=True, text=True)
    lines = result.stdout.strip().splitlines()
    if result.returncode == 0 and lines:
        return lines[-1].strip()
    return str(Path.home() / ".cache" / "pip")


def install() -> int:
    """Make the venv and install the package from the action's checkout into it."""
    action_path = _action_path()
    venv = Path(os.environ.get("BISECT_RUNNER_VENV") or "")
    if not str(venv) or str(venv) == ".":
        raise UserError("BISECT_RUNNER_VENV is not set: run the prepare phase first (action.yml does)")
    with actions.group(f"Install bisect-runner from {action_path}"):
        for step in ([sys.executable, "-m", "venv", str(venv)],
                     [str(_venv_python(venv)), "-m", "pip", "install", "--disable-pip-version-check", "--no-input",
                      "--progress-bar", "off", str(action_path)]):
            code = subprocess.run(step).returncode
            if code != 0:
                actions.annotate("error", f"installing bisect-runner failed: `{' '.join(step[-3:])}` exited {code}; "
                                 "see the install log above", title="bisect-runner install")
                return 3
    (venv / ".installed").write_text(action_path.as_posix() + "\n", encoding="utf-8")
    actions.set_output("python", str(_venv_python(venv)))
    return 0


def _previous_tag(head: str) -> str | None:
    result = subprocess.run(["git", "describe", "--tags", "--abbrev=0", f"{head}^"], capture_output=True, text=True)
    tag = result.stdout.strip()
    return tag if result.returncode == 0 and tag else None


def _default_output(command: str, fmt: str) -> str:
    folder = Path(os.environ.get("RUNNER_TEMP") or "/tmp") / "bisect-runner" / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    extension = {"json": "json", "md": "md", "text": "txt"}[fmt]
    number = 1
    while (folder / f"{command}-{number}.{extension}").exists():
        number += 1
    return str(folder / f"{command}-{number}.{extension}")


def _summary_size() -> int:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    return Path(path).stat().st_size if path and Path(path).is_file() else 0


def _summary_since(offset: int) -> str:
    path = os.environ.get("GITHUB_STEP_SUMMARY")
    if not path or not Path(path).is_file():
        return ""
    with open(path, "rb") as summary:
        summary.seek(offset)
        return summary.read().decode("utf-8", errors="replace")


def run() -> int:
    """Build the argv from the inputs, run the CLI, and publish its results to the runner."""
    actions.mask_known_secrets()  # before anything is printed
    command = os.environ.get("INPUT_COMMAND", "").strip()
    inputs = read_inputs(os.environ)
    fmt = inputs.get("format", "json")
    resolved = resolve_defaults(command, inputs, actions.event_payload(), os.environ, _previous_tag)
    output = inputs.get("output") or (_default_output(command, fmt) if fmt in ("json", "md", "text") else None)
    argv = build_argv(command, resolved, output=output, fmt=fmt)
    for name in unused_inputs(command, inputs):
        actions.annotate("warning", f"input '{name}' is not used by command '{command}'", title="bisect-runner inputs")

    env = dict(os.environ)
    if inputs.get("github-repository"):
        env["GITHUB_REPOSITORY"] = inputs["github-repository"]
    if inputs.get("slack-channel"):
        env["SLACK_CHANNEL"] = inputs["slack-channel"]
    for name in list(env):
        if name.startswith("INPUT_"):
            del env[name]  # the child gets its argv; keep untrusted text out of its environment
    with actions.group(f"bisect-runner {command}: arguments"):
        print("bisect-runner " + " ".join(_quote(redact(arg)) for arg in argv), flush=True)

    summary_offset = _summary_size()
    process = subprocess.Popen([sys.executable, "-m", "bisect_runner", *argv], env=env, stderr=subprocess.PIPE,
                               text=True, errors="replace", bufsize=1)
    stderr_lines: list[str] = []
    assert process.stderr is not None
    for line in process.stderr:
        sys.stderr.write(line)
        sys.stderr.flush()
        stderr_lines.append(line)
    code = process.wait()
    return _publish(command, code, stderr_lines, output, fmt, summary_offset, resolved.get("smoke-spec"))


def _quote(arg: str) -> str:
    import shlex

    return shlex.quote(arg)


def _relative_to_workspace(path: str) -> str:
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if workspace:
        with contextlib.suppress(ValueError):
            return Path(path).resolve().relative_to(Path(workspace).resolve()).as_posix()
    return path


def _publish(command: str, code: int, stderr_lines: list[str], output: str | None, fmt: str,
             summary_offset: int, smoke_spec: str | None = None) -> int:
    written = actions.outputs_written()
    report_path = Path(output) if output else None
    has_report = bool(report_path and report_path.is_file() and code in (0, 1))
    annotated = False
    if has_report and report_path is not None:
        if fmt == "json":
            try:
                data = json.loads(report_path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data = None
            if isinstance(data, dict):
                for name, value in standard_outputs(command, data).items():
                    if name not in written:
                        actions.set_output(name, value)
                if command == "smoke" and smoke_spec and Path(smoke_spec).is_file():
                    spec_text = Path(smoke_spec).read_text(encoding="utf-8", errors="replace")
                    for found in smoke_annotations(_relative_to_workspace(smoke_spec), spec_text, data):
                        actions.annotate("error", found.message, file=found.file, line=found.line,
                                         title="bisect-runner smoke")
                        annotated = True
        if "report-path" not in written:
            actions.set_output("report-path", str(report_path.resolve()))
        with actions.group(f"report: {report_path}"):
            print(redact(report_path.read_text(encoding="utf-8", errors="replace")).rstrip("\n"), flush=True)
    added = _summary_since(summary_offset)
    if code not in (0, 1) or (code == 1 and not added.strip()):
        problem = error_annotation(stderr_lines, os.environ.get("GITHUB_WORKSPACE"))
        message = problem.message if problem else f"exited {code} ({_EXIT_MEANINGS.get(code, 'failed')})"
        actions.annotate("error", message, file=problem.file if problem else None,
                         line=problem.line if problem else None, title=f"bisect-runner {command}")
        actions.append_summary(f"### bisect-runner {command} failed\n\n> {message}\n\n"
                               f"Exit code {code}: {_EXIT_MEANINGS.get(code, 'failed')}.")
        added = _summary_since(summary_offset)
    elif code == 1 and not annotated:
        problem = error_annotation(stderr_lines, os.environ.get("GITHUB_WORKSPACE"))
        message = problem.message if problem else "found a problem (exit 1): see the step summary"
        actions.annotate("error", message, file=problem.file if problem else None,
                         line=problem.line if problem else None, title=f"bisect-runner {command}")
    if added.strip():
        base = report_path if report_path else Path(_default_output(command, "md"))
        summary_path = base.with_name(base.stem + ".summary.md")
        summary_path.parent.mkdir(parents=True, exist_ok=True)
        summary_path.write_text(added, encoding="utf-8")
        actions.set_output("summary-path", str(summary_path.resolve()))
    actions.set_output("exit-code", code)
    return code


PHASES: dict[str, Callable[[], int]] = {"prepare": prepare, "install": install, "run": run}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1 or args[0] not in PHASES:
        print(f"usage: python -m bisect_runner.action_entry {{{','.join(PHASES)}}}", file=sys.stderr)
        return 2
    try:
        return PHASES[args[0]]()
    except KeyboardInterrupt:
        actions.annotate("error", "interrupted", title="bisect-runner")
        return 130
    except BisectRunnerError as exc:
        actions.annotate("error", str(exc), title="bisect-runner inputs" if exc.exit_code == 2 else "bisect-runner")
        actions.append_summary(f"### bisect-runner failed\n\n> {exc}")
        if args[0] == "run":
            actions.set_output("exit-code", exc.exit_code)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
