"""Staging slots and the commands bisect runs: the deploy hook and `--test` mode.

Refs never reach a shell: the command string is fixed by the user, and the commit only travels
through the environment (BISECT_SHA, BISECT_WORKTREE, BISECT_SLOT, STAGING_URL). Each command runs
in its own process group, so a timeout or Ctrl-C kills everything it started, not just the shell.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from bisect_runner.bisect.model import Deployer, DeployResult
from bisect_runner.config import BisectConfig, SlotConfig
from bisect_runner.errors import UserError
from bisect_runner.redact import redact

# Anything a plain argv cannot express (pipes, &&, redirections, variables, globs) goes to sh -c.
_SHELL_SYNTAX = re.compile(r"[|&;<>()$`*?\[\]{}~\n\\]")

_live: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.Lock()


def terminate_all() -> None:
    """Kill the process group of every command still running (Ctrl-C, SIGTERM, an error)."""
    with _live_lock:
        processes = list(_live)
    for process in processes:
        _kill_group(process)


def _kill_group(process: subprocess.Popen[bytes], grace_s: float = 2.0) -> None:
    if process.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except (ProcessLookupError, PermissionError):
            return
        try:
            process.wait(timeout=grace_s)
            return
        except subprocess.TimeoutExpired:
            continue


def command_argv(command: str) -> list[str]:
    """argv for `command`: shlex-split when it is a plain command line, else `sh -c command`."""
    if not command.strip():
        raise UserError("the command is empty; pass a command such as --deploy ./deploy.sh")
    if _SHELL_SYNTAX.search(command):
        return ["sh", "-c", command]
    try:
        return shlex.split(command)
    except ValueError:
        return ["sh", "-c", command]


@dataclass(frozen=True)
class CommandOutcome:
    returncode: int | None  # None: timed out (and killed)
    seconds: float
    output_tail: str
    log_path: Path | None

    @property
    def timed_out(self) -> bool:
        return self.returncode is None


def run_command(command: str, *, env: Mapping[str, str], cwd: Path | None, timeout_s: float,
                log_path: Path | None = None) -> CommandOutcome:
    """Run `command` in its own process group with output to a log file (never a pipe: a server
    the command leaves running would hold a pipe open forever)."""
    argv = command_argv(command)
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(log_path, "a+b")  # noqa: SIM115 - closed below, after the child exits
    else:
        log = tempfile.TemporaryFile()  # noqa: SIM115
    started = time.monotonic()
    try:
        log.write(f"$ {command}\n".encode())
        log.flush()
        start_offset = log.tell()
        try:
            process = subprocess.Popen(argv, cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            raise UserError(f"cannot run {argv[0]!r}: {exc.strerror or exc}; check the command") from None
        with _live_lock:
            _live.add(process)
        try:
            returncode: int | None = process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            returncode = None
        finally:
            # On a normal exit, whatever the command left running (a staging server) is its business.
            with _live_lock:
                _live.discard(process)
        log.flush()
        log.seek(start_offset)
        tail = _tail(log.read().decode("utf-8", "replace"))
        if returncode is None:
            log.write(f"\n[bisect-runner] timed out after {timeout_s:g}s; process group killed\n".encode())
        elif returncode != 0:
            log.write(f"\n[bisect-runner] exit status {returncode}\n".encode())
    finally:
        log.close()
    return CommandOutcome(returncode, time.monotonic() - started, tail, log_path)


def _tail(text: str, lines: int = 3, width: int = 300) -> str:
    kept = [line.strip() for line in text.strip().splitlines() if line.strip()][-lines:]
    return redact(" | ".join(kept))[-width:]


def slot_env(sha: str, worktree: Path | None, slot: str, url: str | None,
             base: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ if base is None else base)
    env.update({"BISECT_SHA": sha, "BISECT_SLOT": slot})
    if worktree is not None:
        env["BISECT_WORKTREE"] = str(worktree)
    if url:
        env["STAGING_URL"] = url
    return env


class CommandDeployer:
    """A slot deployed by a shell command (`--deploy CMD` or a config slot's `deploy`)."""

    def __init__(self, name: str, url: str | None, command: str, *, timeout_s: float,
                 log_dir: Path | None = None, env: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.url = url
        self.command = command
        self.timeout_s = timeout_s
        self.log_dir = log_dir
        self.env = env

    def deploy(self, sha: str, worktree: Path | None) -> DeployResult:
        log_path = self.log_dir / f"deploy-{sha[:12]}-{self.name}.log" if self.log_dir else None
        outcome = run_command(self.command, env=slot_env(sha, worktree, self.name, self.url, self.env),
                              cwd=worktree, timeout_s=self.timeout_s, log_path=log_path)
        where = f" (log: {outcome.log_path})" if outcome.log_path else ""
        if outcome.timed_out:
            return DeployResult(False, f"deploy timed out after {self.timeout_s:g}s{where}", outcome.seconds)
        if outcome.returncode != 0:
            said = f": {outcome.output_tail}" if outcome.output_tail else ""
            return DeployResult(False, f"deploy exited {outcome.returncode}{said}{where}", outcome.seconds)
        return DeployResult(True, f"deployed in {outcome.seconds:.1f}s", outcome.seconds)


class NoDeploy:
    """A slot for `--test CMD` without `--deploy`: the test runs in the worktree, nothing deploys."""

    def __init__(self, name: str = "local", url: str | None = None) -> None:
        self.name = name
        self.url = url

    def deploy(self, sha: str, worktree: Path | None) -> DeployResult:
        return DeployResult(True, "no deploy command", 0.0)


TestVerdict = Literal["good", "bad", "skip", "abort"]


def classify_test_exit(returncode: int | None) -> TestVerdict:
    """`git bisect run` semantics: 0 good, 125 skip, 1-127 bad, 128 and above (or a signal) abort;
    a timeout skips, since it says nothing about the commit."""
    if returncode is None:
        return "skip"
    if returncode == 0:
        return "good"
    if returncode == 125:
        return "skip"
    if 1 <= returncode <= 127:
        return "bad"
    return "abort"


@dataclass(frozen=True)
class TestResult:
    verdict: TestVerdict
    returncode: int | None
    detail: str
    seconds: float


def run_test(command: str, *, sha: str, worktree: Path, slot: Deployer, timeout_s: float,
             log_dir: Path | None = None, base_env: Mapping[str, str] | None = None) -> TestResult:
    log_path = log_dir / f"test-{sha[:12]}-{slot.name}.log" if log_dir else None
    outcome = run_command(command, env=slot_env(sha, worktree, slot.name, slot.url, base_env), cwd=worktree,
                          timeout_s=timeout_s, log_path=log_path)
    code = outcome.returncode
    if code is not None and code < 0:  # killed by signal N: the shell convention is 128 + N
        code = 128 - code
    verdict = classify_test_exit(code)
    said = f": {outcome.output_tail}" if outcome.output_tail else ""
    if outcome.timed_out:
        detail = f"test timed out after {timeout_s:g}s (skipped)"
    else:
        detail = f"test exited {code}{said}"
    return TestResult(verdict, code, detail, outcome.seconds)


WorkflowFactory = Callable[[SlotConfig], Deployer]


def build_deployers(*, staging_urls: Sequence[str], deploy_command: str | None, config: BisectConfig,
                    timeout_s: float, log_dir: Path | None, test_mode: bool,
                    workflow_factory: WorkflowFactory | None = None) -> list[Deployer]:
    """The slots to bisect on: one per --staging-url (named slot-1..K, all using --deploy), else
    the config's bisect.slots (each with its own deploy command or workflow, falling back to
    --deploy / bisect.deploy), else one slot without a URL."""
    command = deploy_command or config.deploy
    deployers: list[Deployer] = []
    if staging_urls:
        for index, url in enumerate(staging_urls, start=1):
            _check_url(url, "--staging-url")
            deployers.append(_command_slot(f"slot-{index}", url, command, timeout_s, log_dir, test_mode))
        return deployers
    if config.slots:
        names: set[str] = set()
        for slot in config.slots:
            if slot.name in names:
                raise UserError(f"bisect.slots: slot name {slot.name!r} is used twice; give each slot its own name")
            names.add(slot.name)
            if slot.url:
                _check_url(slot.url, f"bisect.slots {slot.name!r} url")
            if slot.workflow and not slot.deploy:
                if workflow_factory is None:
                    raise UserError(f"bisect.slots {slot.name!r} deploys with workflow {slot.workflow!r}, which this "
                                    "command cannot dispatch; give the slot a deploy command instead")
                deployers.append(workflow_factory(slot))
                continue
            deployers.append(_command_slot(slot.name, slot.url, slot.deploy or command, timeout_s, log_dir, test_mode))
        return deployers
    return [_command_slot("slot-1", None, command, timeout_s, log_dir, test_mode)]


def _command_slot(name: str, url: str | None, command: str | None, timeout_s: float, log_dir: Path | None,
                  test_mode: bool) -> Deployer:
    if command:
        return CommandDeployer(name, url, command, timeout_s=timeout_s, log_dir=log_dir)
    if test_mode:
        return NoDeploy(name, url)
    raise UserError("no deploy command: pass --deploy CMD (run per commit with BISECT_SHA, BISECT_WORKTREE, "
                    "BISECT_SLOT and STAGING_URL set) or set bisect.deploy in the config")


def _check_url(url: str, what: str) -> None:
    if not re.match(r"^https?://[^/\s]+", url):
        raise UserError(f"{what} {url!r} is not an http(s) URL; pass e.g. https://staging.example.com")
