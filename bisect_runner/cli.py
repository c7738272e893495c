"""The `bisect-runner` command line: argparse subcommands, and the one place where errors become
exit codes.

Exit codes: 0 done; 1 the job ran and found a problem; 2 bad usage, config or input; 3 an
unexpected error; 130 interrupted.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from bisect_runner import __version__, actions
from bisect_runner.config import Config, find_config, load_config
from bisect_runner.errors import BisectRunnerError
from bisect_runner.redact import redact
from bisect_runner.render import Format, Report, render, write_output

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 2, 3, 130

# Each module in bisect_runner/commands/ registers its subcommand(s) with `register(subparsers, common)`
# and handles them with a function set as `handler`, called as handler(args, ctx) -> exit code.
COMMAND_MODULES: list[str] = [
    "risk",
    "demo",
    "smoke",
    "bisect",
    "pr_risk",
    "events",
    "what_changed",
    "dora",
]


@dataclass
class Context:
    """What every subcommand gets: where the repo is, the loaded config, and how to output."""

    repo_path: Path
    config_path: Path | None
    format: Format
    output: str | None
    _config: Config | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self.config_path = find_config(repo_root(self.repo_path), str(self.config_path) if self.config_path else None)
            self._config = load_config(self.config_path)
        return self._config

    def emit(self, report: Report) -> None:
        """Print the report; in GitHub Actions also publish it (step summary and step outputs)."""
        write_output(render(report, self.format), self.output)
        if actions.in_actions():
            actions.append_summary(report.to_markdown())
            outputs = getattr(report, "action_outputs", None)
            for name, value in (outputs() if callable(outputs) else {}).items():
                actions.set_output(name, value)
            if self.output and self.output != "-":
                actions.set_output("report-path", str(Path(self.output).resolve()))


def repo_root(path: Path) -> Path:
    """The top of the work tree containing `path` (or `path` itself outside git)."""
    current = path.resolve()
    for candidate in (current, *current.parents):
        if (candidate / ".git").exists():
            return candidate
    return current


def positive_int(text: str) -> int:
    """argparse type for counts such as --top, --repeat and --limit: a whole number, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def common_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("common options")
    group.add_argument("--repo", default=".", metavar="PATH", help="git repository (default: current directory)")
    group.add_argument("--config", metavar="FILE",
                       help="config file (default: .bisect-runner.yml at the repo root when it exists)")
    group.add_argument("--format", choices=["text", "md", "json"], default="text", help="output format")
    group.add_argument("--output", metavar="FILE", help="write the report here instead of stdout")
    return common


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bisect-runner",
        description="What changed, what is risky, and which commit broke staging.",
    )
    parser.add_argument("--version", action="version", version=f"bisect-runner {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = common_options()
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"bisect_runner.commands.{name}")
        module.register(subparsers, common)
    return parser


def _raise_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    ctx = Context(
        repo_path=Path(args.repo),
        config_path=Path(args.config) if args.config else None,
        format=args.format,
        output=args.output,
    )
    handler: Callable[[argparse.Namespace, Context], int] = args.handler
    actions.mask_known_secrets()
    # SIGTERM (a cancelled CI job) cleans up like Ctrl-C does.
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    # A shell that starts us in the background (`cmd &`, nohup, some CI runners) ignores SIGINT for
    # its children; Ctrl-C and `kill -INT` must still clean up and exit 130.
    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        return handler(args, ctx)
    except KeyboardInterrupt:
        print("bisect-runner: interrupted; cleaned up, state saved where there was any", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BisectRunnerError as exc:
        print(f"bisect-runner: error: {redact(str(exc))}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug: show it, but keep secrets out
        tb = redact("".join(traceback.format_exception(exc)))
        print(f"{tb}bisect-runner: unexpected error: {redact(str(exc)) or type(exc).__name__} "
              "(this is a bug; please report it with the trace above)", file=sys.stderr)
        return EXIT_ERROR
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, previous_int)


def run() -> None:
    sys.exit(main())


def add_subcommand(subparsers: Any, common: argparse.ArgumentParser, name: str, help: str,
                   handler: Callable[[argparse.Namespace, Context], int], description: str | None = None
                   ) -> argparse.ArgumentParser:
    """Create a subcommand parser with the common options and its handler."""
    sub: argparse.ArgumentParser = subparsers.add_parser(
        name, help=help, description=description or help, parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub.set_defaults(handler=handler)
    return sub
