"""`bisect-runner bisect` as a user runs it: a subprocess against a real repo and local staging."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, run_cli
from tests.gitutil import GIT_ENV
from tests.staging_app import BROKEN, DEPLOY_COMMAND, OK, SMOKE_SPEC, StagingServers, build_shop_repo


@pytest.fixture
def shop(tmp_path: Path) -> dict[str, Any]:
    shop = build_shop_repo(tmp_path / "shop", [[OK], [OK], [OK, BROKEN], [BROKEN], [BROKEN], [BROKEN], [BROKEN]])
    (tmp_path / "smoke.yml").write_text(SMOKE_SPEC)
    return shop


def bisect_args(tmp_path: Path, urls: list[str], *extra: str) -> list[str]:
    args = ["bisect", "--repo", str(tmp_path / "shop"), "--good", "v1", "--bad", "v2", "--deploy", DEPLOY_COMMAND,
            "--smoke", str(tmp_path / "smoke.yml")]
    for url in urls:
        args += ["--staging-url", url]
    return args + list(extra)


def deploy_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"DEPLOY_LOG": str(tmp_path / "deploys.log"), **extra}


def deploys(tmp_path: Path) -> list[str]:
    path = tmp_path / "deploys.log"
    return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []


def user_state(path: Path) -> tuple[str, ...]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=path, capture_output=True, text=True, check=True).stdout

    return (git("symbolic-ref", "HEAD"), git("rev-parse", "HEAD"), git("status", "--porcelain"),
            git("stash", "list"), git("diff", "--cached"), git("worktree", "list"))


def test_found_json_and_exit_0(tmp_path: Path, shop: dict[str, Any], staging: StagingServers) -> None:
    result = run_cli(*bisect_args(tmp_path, staging.start(2), "--format", "json"), env=deploy_env(tmp_path))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    culprit = shop["pr_commits"][2][1]
    assert data["status"] == "found"
    assert data["culprit"]["sha"] == culprit and data["culprit"]["pr"] == 103
    assert data["culprit"]["subject"] == "PR 103 step 2" and data["culprit"]["author"] == "Dev3"
    assert data["culprit"]["files"] == ["app/behaviour.json", "src/pr103_2.py"]
    assert data["candidates"] == [culprit]
    assert data["deploys"] == len(deploys(tmp_path)) and data["rounds"] >= 1 and data["smoke_runs"] >= data["deploys"]
    assert 0 < data["confidence"] <= 1
    assert {s["slot"] for s in data["steps"]} <= {"slot-1", "slot-2"}
    for step in data["steps"]:
        assert {"sha", "slot", "verdict", "runs", "failures", "median_ms", "p_value"} <= set(step)
    assert Path(data["replay_log"]).is_file()
    # live progress went to stderr, one line per step
    assert sum("bisect: step" in line for line in result.stderr.splitlines()) == len(data["steps"])


def test_config_slots_and_markdown(tmp_path: Path, shop: dict[str, Any], staging: StagingServers) -> None:
    url_a, url_b = staging.start(2)
    config = tmp_path / "bisect-runner.yml"
    config.write_text(f"bisect:\n  deploy_timeout_s: 20\n  slots:\n"
                      f"    - {{name: staging-a, url: '{url_a}', deploy: '{DEPLOY_COMMAND}'}}\n"
                      f"    - {{name: staging-b, url: '{url_b}'}}\n"
                      f"  deploy: '{DEPLOY_COMMAND}'\n  smoke: smoke.yml\n")
    result = run_cli("bisect", "--repo", str(tmp_path / "shop"), "--config", str(config), "--good", "v1",
                     "--bad", "v2", "--no-drill-down", "--format", "md", env=deploy_env(tmp_path), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "### 🎯 Bisect: First bad commit:" in result.stdout
    assert "(PR #103)" in result.stdout and "staging-a" in result.stdout + result.stderr


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--good", "v2", "--bad", "v1"], "good ref 'v2' is not an ancestor of bad ref 'v1'", id="not-ancestor"),
    pytest.param(["--good", "v1", "--bad", "v3"], "ref 'v3' not found", id="unknown-ref"),
    pytest.param(["--good", "v1", "--bad", "v1"], "are the same commit", id="same-ref"),
    pytest.param(["--good", "v1", "--bad", "v2", "--flaky", "--latency", "checkout"], "--flaky and --latency",
                 id="flaky-and-latency"),
    pytest.param(["--good", "v1", "--bad", "v2", "--latency", "nope"], "no check named 'nope'; the spec has: checkout",
                 id="unknown-latency-check"),
    pytest.param(["--good", "v1", "--bad", "v2", "--confidence", "1.5"], "--confidence must be between 0.5 and 1",
                 id="bad-confidence"),
    pytest.param(["--good", "v1", "--bad", "v2", "--max-deploys", "1"], "--max-deploys must be at least 2",
                 id="bad-budget"),
    pytest.param(["--good", "v1", "--bad", "v2", "--staging-url", "staging.example.com"],
                 "--staging-url 'staging.example.com' is not an http(s) URL", id="bad-url"),
])
def test_bad_input_exits_2(tmp_path: Path, shop: dict[str, Any], args: list[str], message: str) -> None:
    result = run_cli("bisect", "--repo", str(tmp_path / "shop"), "--deploy", "true", "--smoke",
                     str(tmp_path / "smoke.yml"), *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr
    assert result.stderr.count("\n") == 1  # one line, no traceback


def test_nothing_to_test_or_deploy_exits_2(tmp_path: Path, shop: dict[str, Any]) -> None:
    repo = str(tmp_path / "shop")
    result = run_cli("bisect", "--repo", repo, "--good", "v1", "--bad", "v2", "--deploy", "true")
    assert result.returncode == 2 and "nothing to test: pass --smoke FILE" in result.stderr
    result = run_cli("bisect", "--repo", repo, "--good", "v1", "--bad", "v2", "--smoke", str(tmp_path / "smoke.yml"),
                     "--staging-url", "http://127.0.0.1:9")
    assert result.returncode == 2 and "no deploy command: pass --deploy CMD" in result.stderr


def test_good_ref_that_fails_exits_2(tmp_path: Path, staging: StagingServers) -> None:
    build_shop_repo(tmp_path / "shop", [[BROKEN], [BROKEN]])
    (tmp_path / "smoke.yml").write_text(SMOKE_SPEC)
    subprocess.run(["git", "tag", "-f", "v1", "v2~1"], cwd=tmp_path / "shop", check=True, capture_output=True)
    result = run_cli(*bisect_args(tmp_path, staging.start(1)), env=deploy_env(tmp_path))
    assert result.returncode == 2
    assert "good ref 'v1'" in result.stderr and "fails the smoke tests" in result.stderr
    assert "pass a --good commit that passes" in result.stderr


def test_ambiguous_exits_1_and_test_mode(tmp_path: Path) -> None:
    build_shop_repo(tmp_path / "shop", [[OK], [{"checkout": "skip"}], [BROKEN]])
    script = tmp_path / "check.py"
    script.write_text("import json, sys\nb = json.load(open('app/behaviour.json'))\n"
                      "sys.exit({'ok': 0, 'skip': 125, 'broken': 3}[b['checkout']])\n")
    result = run_cli("bisect", "--repo", str(tmp_path / "shop"), "--good", "v1", "--bad", "v2",
                     "--test", f"{sys.executable} {script}", "--format", "json")
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["status"] == "ambiguous" and data["culprit"] is None and len(data["candidates"]) == 2
    assert data["deploys"] == 0


def _wait_for(predicate: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def test_ctrl_c_cleans_up_then_resume(tmp_path: Path, shop: dict[str, Any],
                                                  staging: StagingServers) -> None:
    repo_path = tmp_path / "shop"
    (repo_path / "wip.txt").write_text("work in progress\n")
    subprocess.run(["git", "stash", "list"], cwd=repo_path, check=True)
    before = user_state(repo_path)
    urls = staging.start(1)
    env = {**os.environ, **GIT_ENV, **deploy_env(tmp_path, DEPLOY_DELAY_S="0.3")}
    process = subprocess.Popen([sys.executable, "-m", "bisect_runner", *bisect_args(tmp_path, urls)], cwd=ROOT,
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: len(deploys(tmp_path)) >= 3)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr
    assert user_state(repo_path) == before  # no worktree left, branch/HEAD/index/files/stash untouched
    assert not list((repo_path / ".git").glob("BISECT_*"))  # no git bisect session either
    state_files = list((repo_path / ".git" / "bisect-runner").glob("*.jsonl"))
    assert len(state_files) == 1
    saved = [json.loads(line) for line in state_files[0].read_text().splitlines()[1:]]
    assert len(saved) >= 2  # the probes that finished before Ctrl-C
    interrupted = deploys(tmp_path)

    result = run_cli(*bisect_args(tmp_path, urls, "--format", "json"), env=deploy_env(tmp_path))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["culprit"]["sha"] == shop["pr_commits"][2][1]
    assert data["resumed_steps"] == len(saved)
    resumed = deploys(tmp_path)[len(interrupted):]
    judged = {s["sha"] for s in saved}
    assert not judged & set(resumed)  # judged commits were not deployed again
    assert "resuming from" in result.stderr

    assert user_state(repo_path) == before  # (--restart is covered in test_bisect_runner.py)


def test_sigterm_exits_130(tmp_path: Path, shop: dict[str, Any], staging: StagingServers) -> None:
    env = {**os.environ, **GIT_ENV, **deploy_env(tmp_path, DEPLOY_DELAY_S="5")}
    process = subprocess.Popen([sys.executable, "-m", "bisect_runner", *bisect_args(tmp_path, staging.start(1))],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: len(deploys(tmp_path)) >= 1)
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130
    assert time.monotonic() - started < 4  # the sleeping deploy was killed, not waited for
    assert user_state(tmp_path / "shop")[-1].count("\n") == 1


def test_spec_needing_a_staging_url_without_one_exits_2(tmp_path: Path, shop: dict[str, Any]) -> None:
    env = {k: v for k, v in os.environ.items() if k != "STAGING_URL"}
    result = subprocess.run([sys.executable, "-m", "bisect_runner", "bisect", "--repo", str(tmp_path / "shop"),
                             "--good", "v1", "--bad", "v2", "--deploy", "true", "--smoke", str(tmp_path / "smoke.yml")],
                            cwd=ROOT, env={**env, **GIT_ENV}, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "uses ${STAGING_URL} but slot 'slot-1' has no URL; pass --staging-url URL" in result.stderr
