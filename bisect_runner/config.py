"""`.bisect-runner.yml` -> typed config objects.

One YAML file serves every subcommand. Loading is strict: an unknown key, a wrong type or a bad
glob is a ConfigError that names the file, the line and the dotted key, so the user can fix it
without guessing. The same typed loader reads smoke specs (see smoke.py).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin

import yaml

from bisect_runner.errors import ConfigError

DEFAULT_CONFIG_NAME = ".bisect-runner.yml"

T = TypeVar("T")


def glob_field(default: Any = dataclasses.MISSING, **kwargs: Any) -> Any:
    """A field holding a gitignore-style glob (or a list of them), validated at load time."""
    if default is dataclasses.MISSING and "default_factory" not in kwargs:
        return field(metadata={"glob": True}, **kwargs)
    return field(default=default, metadata={"glob": True}, **kwargs)


@dataclass
class CategoryRule:
    """A risk category: files matching its globs count toward it, with its weight.

    Matching follows actions/labeler: a file matches when it matches at least one glob of `any`
    (or `any` is empty) and every glob of `all`. A rule named like a built-in category overrides
    that category's weight and, with `replace: true`, its globs; otherwise its globs are added.
    """

    name: str
    weight: float | None = None
    any: list[str] = glob_field(default_factory=list)
    all: list[str] = glob_field(default_factory=list)
    reason: str | None = None
    replace: bool = False


@dataclass
class RiskThresholds:
    high: float = 60.0
    medium: float = 30.0


@dataclass
class RiskConfig:
    top: int = 5
    categories: list[CategoryRule] = field(default_factory=list)
    thresholds: RiskThresholds = field(default_factory=RiskThresholds)
    ignore: list[str] = glob_field(default_factory=list)
    huge_change_lines: int = 5000


@dataclass
class SlotConfig:
    """One staging slot: where to deploy (a command or a workflow) and its URL."""

    name: str
    url: str | None = None
    deploy: str | None = None
    workflow: str | None = None
    workflow_ref: str | None = None


@dataclass
class LatencyConfig:
    samples: int = 15
    extra_samples: int = 10
    max_samples: int = 45
    alpha: float = 0.01
    same_p: float = 0.2


@dataclass
class BisectConfig:
    slots: list[SlotConfig] = field(default_factory=list)
    deploy: str | None = None
    smoke: str | None = None
    deploy_timeout_s: float = 900.0
    test_timeout_s: float = 900.0
    confidence: float = 0.99
    max_deploys: int | None = None
    first_parent: bool = False
    drill_down: bool = True
    repeats: int = 3
    latency: LatencyConfig = field(default_factory=LatencyConfig)


@dataclass
class SlackConfig:
    channel: str | None = None
    api_url: str = "https://slack.com/api"
    timeout_s: float = 10.0


@dataclass
class EventsConfig:
    store: str | None = None
    service: str | None = None
    env: str | None = None
    slack: SlackConfig = field(default_factory=SlackConfig)
    production_envs: list[str] = field(default_factory=lambda: ["production", "prod"])


@dataclass
class GitHubConfig:
    repository: str | None = None
    api_url: str | None = None
    max_calls: int | None = None


@dataclass
class Config:
    risk: RiskConfig = field(default_factory=RiskConfig)
    bisect: BisectConfig = field(default_factory=BisectConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    github: GitHubConfig = field(default_factory=GitHubConfig)
    path: str | None = None


def find_config(repo_root: Path, explicit: str | None) -> Path | None:
    """The config to use: --config when given (it must exist), else .bisect-runner.yml if present."""
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(str(path), None, "--config", "file not found; pass an existing YAML file")
        return path
    default = repo_root / DEFAULT_CONFIG_NAME
    return default if default.is_file() else None


def load_config(path: Path | None) -> Config:
    if path is None:
        return Config()
    config = load_typed(path, Config, allow_empty=True)
    config.path = str(path)
    return config


def load_typed(path: Path, cls: type[T], *, allow_empty: bool = False) -> T:
    """Parse the YAML file at `path` into `cls`, a dataclass, strictly."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), None, "(file)", f"cannot read: {exc.strerror or exc}") from None
    return load_typed_text(text, str(path), cls, allow_empty=allow_empty)


def load_typed_text(text: str, source: str, cls: type[T], *, allow_empty: bool = False) -> T:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, line, "(yaml)", f"not valid YAML: {problem}") from None
    if node is None or (isinstance(node, yaml.ScalarNode) and node.value == "" and allow_empty):
        if allow_empty:
            return cls()
        raise ConfigError(source, None, "(file)", "the file is empty")
    loader = _NodeLoader(source)
    return typing.cast(T, loader.convert(node, cls, ""))


class _NodeLoader:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, node: yaml.Node, key: str, problem: str) -> typing.NoReturn:
        raise ConfigError(self.source, node.start_mark.line + 1, key or "(top level)", problem)

    def convert(self, node: yaml.Node, tp: Any, key: str, meta: dict[str, Any] | None = None) -> Any:
        meta = meta or {}
        origin = get_origin(tp)
        if tp is Any:
            return yaml.safe_load(yaml.serialize(node))
        if origin in (typing.Union, types.UnionType):
            options = get_args(tp)
            if _is_null(node) and type(None) in options:
                return None
            errors: list[ConfigError] = []
            for option in options:
                if option is type(None):
                    continue
                try:
                    return self.convert(node, option, key, meta)
                except ConfigError as exc:
                    errors.append(exc)
            if len(errors) == 1:
                raise errors[0]
            names = " or ".join(_type_name(o) for o in options if o is not type(None))
            self.fail(node, key, f"expected {names}")
        if origin is Literal:
            value = self._scalar(node, key)
            if value not in get_args(tp):
                allowed = ", ".join(str(a) for a in get_args(tp))
                self.fail(node, key, f"{value!r} is not one of: {allowed}")
            return value
        if origin is list:
            (item_tp,) = get_args(tp)
            if not isinstance(node, yaml.SequenceNode):
                self.fail(node, key, f"expected a list, got {_node_kind(node)}")
            return [self.convert(item, item_tp, f"{key}[{i}]", meta) for i, item in enumerate(node.value)]
        if origin is dict:
            _, value_tp = get_args(tp)
            if not isinstance(node, yaml.MappingNode):
                self.fail(node, key, f"expected a mapping, got {_node_kind(node)}")
            result: dict[str, Any] = {}
            for key_node, value_node in node.value:
                name = str(self._scalar(key_node, key))
                result[name] = self.convert(value_node, value_tp, _join(key, name), meta)
            return result
        if dataclasses.is_dataclass(tp) and isinstance(tp, type):
            return self._dataclass(node, tp, key)
        value = self._scalar(node, key)
        if tp is bool:
            if not isinstance(value, bool):
                self.fail(node, key, f"expected true or false, got {value!r}")
            return value
        if tp is int:
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(node, key, f"expected a whole number, got {value!r}")
            return value
        if tp is float:
            if isinstance(value, bool) or not isinstance(value, int | float):
                self.fail(node, key, f"expected a number, got {value!r}")
            return float(value)
        if tp is str:
            if value is None or isinstance(value, bool | dict | list):
                self.fail(node, key, f"expected a string, got {value!r}")
            text = str(value)
            if meta.get("glob"):
                _check_glob(self, node, key, text)
            return text
        raise TypeError(f"config type {tp!r} is not supported")  # a bug in our schema, not user input

    def _dataclass(self, node: yaml.Node, cls: type, key: str) -> Any:
        if not isinstance(node, yaml.MappingNode):
            self.fail(node, key, f"expected a mapping, got {_node_kind(node)}")
        hints = typing.get_type_hints(cls)
        fields = {f.name: f for f in dataclasses.fields(cls) if f.init and not (cls is Config and f.name == "path")}
        # YAML keys may use dashes or underscores.
        kwargs: dict[str, Any] = {}
        for key_node, value_node in node.value:
            raw = self._scalar(key_node, key)
            name = str(raw).replace("-", "_")
            child_key = _join(key, str(raw))
            if name not in fields:
                known = ", ".join(sorted(fields))
                self.fail(key_node, child_key, f"unknown key; expected one of: {known}")
            if name in kwargs:
                self.fail(key_node, child_key, "duplicate key")
            kwargs[name] = self.convert(value_node, hints[name], child_key, dict(fields[name].metadata))
        missing = [
            n
            for n, f in fields.items()
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING and n not in kwargs
        ]
        if missing:
            self.fail(node, _join(key, missing[0]), "required key is missing")
        return cls(**kwargs)

    def _scalar(self, node: yaml.Node, key: str) -> Any:
        if not isinstance(node, yaml.ScalarNode):
            self.fail(node, key, f"expected a single value, got {_node_kind(node)}")
        return yaml.safe_load(yaml.serialize(node))


def _check_glob(loader: _NodeLoader, node: yaml.Node, key: str, pattern: str) -> None:
    import pathspec

    if not pattern.strip():
        loader.fail(node, key, "empty glob")
    if pattern.count("[") != pattern.count("]") or pattern.count("{") != pattern.count("}"):
        loader.fail(node, key, f"bad glob {pattern!r}: unbalanced brackets")
    if "***" in pattern:
        loader.fail(node, key, f"bad glob {pattern!r}: use ** for any depth")
    try:
        pathspec.GitIgnoreSpec.from_lines([pattern])
    except ValueError as exc:
        loader.fail(node, key, f"bad glob {pattern!r}: {exc}")


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _node_kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"{yaml.safe_load(yaml.serialize(node))!r}"


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is list:
        return "a list"
    if origin is dict or dataclasses.is_dataclass(tp):
        return "a mapping"
    return {int: "a whole number", float: "a number", str: "a string", bool: "true/false"}.get(tp, str(tp))
