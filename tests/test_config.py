"""The typed config loader: every error names the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bisect_runner.config import Config, find_config, load_config
from bisect_runner.errors import ConfigError
from tests.conftest import run_cli


def _load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / ".bisect-runner.yml"
    path.write_text(text)
    return load_config(path)


def test_full_config_parses_into_typed_objects(tmp_path: Path) -> None:
    config = _load(tmp_path, """\
risk:
  top: 3
  thresholds: {high: 70, medium: 35.5}
  ignore: ["vendor/**"]
  categories:
    - name: payments
      weight: 40
      any: ["**/payments/**"]
      all: ["*.py"]
      reason: touches payments code
bisect:
  deploy-timeout-s: 60
  slots:
    - {name: staging-a, url: "http://127.0.0.1:1", deploy: "./deploy.sh"}
  latency: {alpha: 0.05}
events:
  service: checkout
  slack: {channel: "#deployments"}
github:
  repository: acme/shop
""")
    assert config.risk.top == 3
    assert config.risk.thresholds.medium == 35.5
    assert config.risk.categories[0].any == ["**/payments/**"]
    assert config.bisect.deploy_timeout_s == 60.0
    assert config.bisect.slots[0].name == "staging-a"
    assert config.bisect.latency.alpha == 0.05
    assert config.bisect.latency.max_samples == 45  # default kept
    assert config.events.slack.channel == "#deployments"
    assert config.github.repository == "acme/shop"


def test_empty_file_and_no_file_give_defaults(tmp_path: Path) -> None:
    assert _load(tmp_path, "").risk.top == 5
    assert load_config(None).risk.top == 5


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("risk:\n  tpo: 3\n", r":2: risk\.tpo: unknown key; expected one of: .*top", id="unknown-key"),
        pytest.param("risk:\n  top: many\n", r":2: risk\.top: expected a whole number, got 'many'", id="wrong-type"),
        pytest.param("risk:\n  top: true\n", r":2: risk\.top: expected a whole number", id="bool-is-not-int"),
        pytest.param("risk:\n  categories:\n    - name: x\n      any: ['src/[a']\n",
                     r":4: risk\.categories\[0\]\.any\[0\]: bad glob 'src/\[a'", id="bad-glob"),
        pytest.param("risk:\n  categories:\n    - weight: 3\n",
                     r":3: risk\.categories\[0\]\.name: required key is missing", id="missing-required"),
        pytest.param("risk:\n  top: 1\n  top: 2\n", r":3: risk\.top: duplicate key", id="duplicate-key"),
        pytest.param("risk: [1, 2]\n", r":1: risk: expected a mapping, got a list", id="section-not-mapping"),
        pytest.param("risk:\n  top: [\n", r"\.bisect-runner\.yml:\d+: \(yaml\): not valid YAML", id="invalid-yaml"),
        pytest.param("bisect:\n  slots:\n    - name: a\n    - name: b\n      url: [x]\n",
                     r":5: bisect\.slots\[1\]\.url: expected a single value, got a list", id="nested-list-item"),
        pytest.param("- just\n- a list\n", r":1: \(top level\): expected a mapping", id="top-level-list"),
    ],
)
def test_config_errors_name_file_line_and_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        _load(tmp_path, text)
    assert str(tmp_path / ".bisect-runner.yml") in str(info.value)


def test_find_config(tmp_path: Path) -> None:
    assert find_config(tmp_path, None) is None
    (tmp_path / ".bisect-runner.yml").write_text("risk: {top: 2}\n")
    assert find_config(tmp_path, None) == tmp_path / ".bisect-runner.yml"
    with pytest.raises(ConfigError, match="--config: file not found"):
        find_config(tmp_path, str(tmp_path / "missing.yml"))


def test_bad_config_through_the_cli_is_exit_2_with_one_line(tmp_path: Path) -> None:
    from tests.gitutil import TestRepo

    repo = TestRepo(tmp_path / "repo")
    repo.commit("one", {"a.txt": "1"})
    repo.commit("two", {"a.txt": "2"})
    (repo.path / ".bisect-runner.yml").write_text("risk:\n  top: 3\n  colour: red\n")
    result = run_cli("risk", "--repo", str(repo.path), "--base", "HEAD~1", "--head", "HEAD")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert ".bisect-runner.yml:3: risk.colour: unknown key" in lines[0]
