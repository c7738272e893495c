"""`make demo` end to end: the whole incident story through the real CLI, on local processes only."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli


def test_demo_tells_the_incident_story(tmp_path: Path) -> None:
    result = run_cli("demo", "--workdir", str(tmp_path / "demo"), timeout=240)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    # what-changed named the new release as the suspect
    assert "v2.46.0" in out
    # the risk ranking read the error log and put the culprit PR first
    assert "#42" in out
    # bisect found the culprit commit inside PR #42 (drill-down) and the conclusion ties it to risk
    assert "Charge in the order currency" in out
    assert "resuming from" in result.stderr
    assert "The risk ranking had PR #42 at rank 1" in out
    # the demo cleaned up its staging servers and left no worktrees behind
    repo = tmp_path / "demo" / "shop"
    assert not list((tmp_path / "demo" / "staging").glob("*.pid"))
    import subprocess

    worktrees = subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True, text=True).stdout
    assert len(worktrees.strip().splitlines()) == 1
