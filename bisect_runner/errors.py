"""The project's exceptions. The CLI maps them to exit codes in one place (cli.main)."""

from __future__ import annotations


class BisectRunnerError(Exception):
    """Base class: a failure with a message the user can act on."""

    exit_code = 3


class UserError(BisectRunnerError):
    """Bad usage, config or input (exit 2). The message says what to do."""

    exit_code = 2


class ConfigError(UserError):
    """A config file problem; the message names the file, line and key."""

    def __init__(self, path: str, line: int | None, key: str, problem: str) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {key}: {problem}")
        self.path = path
        self.line = line
        self.key = key
        self.problem = problem


class JobFailed(BisectRunnerError):
    """The job ran and found a problem, e.g. smoke tests failing (exit 1)."""

    exit_code = 1


class ExternalServiceError(BisectRunnerError):
    """A service we depend on (GitHub, Slack, staging) failed in a way retries did not fix (exit 3)."""

    exit_code = 3
