"""`bisect-runner pr-risk` end to end: a subprocess against the fake GitHub and a real repo."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.fake_github import FakeGitHub, validate_exchanges
from tests.gitutil import GIT_ENV, TestRepo

MARKER = "<!-- bisect-runner:pr-risk -->"


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> TestRepo:
    repo = TestRepo(tmp_path_factory.mktemp("prrisk") / "shop")
    repo.commit("Initial commit", {"shop/app.py": "print('shop')\n", "README.md": "shop\n",
                                   "shop/payments/charge.py": "def charge(order):\n    return order.total\n"})
    repo.git("checkout", "-q", "-b", "refunds")
    repo.commit("Refunds table", {"shop/orders/migrations/0043_refunds.py": "# refunds\n",
                                  "shop/payments/refund.py": "def refund(order):\n    return -order.total\n"},
                author="Carol")
    repo.git("checkout", "-q", "main")
    repo.git("checkout", "-q", "-b", "docs")
    repo.commit("Docs", {"README.md": "the shop\n"}, author="Bob")
    repo.git("checkout", "-q", "main")
    commit_many_files(repo, "vendored", 3005)
    return repo


def commit_many_files(repo: TestRepo, branch: str, count: int) -> str:
    """A branch off main adding `count` files, built with plumbing (no work tree churn: fast)."""
    index = repo.path / ".git" / f"index-{branch}"
    env = {**os.environ, **GIT_ENV, "GIT_INDEX_FILE": str(index), "GIT_AUTHOR_NAME": "Dan"}

    def git(*args: str, stdin: str | None = None) -> str:
        return subprocess.run(["git", *args], cwd=repo.path, env=env, input=stdin, capture_output=True, text=True,
                              check=True).stdout.strip()

    blob = git("hash-object", "-w", "--stdin", stdin="X = 1\n")
    git("read-tree", "main")
    git("update-index", "--index-info",
        stdin="".join(f"100644 {blob}\tvendor/sdk/mod{i:04}.py\n" for i in range(count)))
    sha = git("commit-tree", git("write-tree"), "-p", "main", "-m", "Vendor the SDK")
    git("branch", branch, sha)
    index.unlink()
    return sha


@pytest.fixture
def fake(shop: TestRepo) -> Iterator[FakeGitHub]:
    with FakeGitHub(shop.path) as server:
        server.add_pull(7, "Refunds", "carol", "refunds", shop.git("rev-parse", "refunds"),
                        labels=["team:payments", "risk:low"])
        server.add_pull(8, "Docs", "bob", "docs", shop.git("rev-parse", "docs"))
        yield server
        validate_exchanges(server)


def pr_risk(shop: TestRepo, fake: FakeGitHub, *args: str, repo: Path | None = None,
            env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = run_cli("pr-risk", "--repo", str(repo or shop.path), *args, env={**fake.env(), **(env or {})})
    shown = [line for line in (result.stdout + result.stderr).splitlines() if not line.startswith("::add-mask::")]
    assert not any(fake.token in line for line in shown)  # masking the token is the only way it appears
    return result.returncode, result.stdout, result.stderr


def our_comments(fake: FakeGitHub, number: int) -> list[dict[str, object]]:
    return [c for c in fake.comments_on(number) if MARKER in str(c["body"])]


def test_dry_run_prints_the_comment_and_writes_nothing(shop: TestRepo, fake: FakeGitHub) -> None:
    code, out, err = pr_risk(shop, fake, "--pr", "7", "--dry-run")
    assert code == 0, err
    assert out.startswith(MARKER) and "PR risk: **" in out and "`shop/orders/migrations/0043_refunds.py`" in out
    assert fake.count("POST") + fake.count("PATCH") + fake.count("DELETE") == 0
    assert "GitHub 1 API call" in err


def test_one_sticky_comment_created_then_unchanged_then_updated(shop: TestRepo, fake: FakeGitHub) -> None:
    fake.comments[1] = {"id": 1, "issue": 7, "body": "Nice!", "user": "dave", "created_at": "2026-01-01T00:00:00Z",
                        "updated_at": "2026-01-01T00:00:00Z"}
    code, out, err = pr_risk(shop, fake, "--pr", "7", "--format", "json")
    assert code == 0, err
    first = json.loads(out)
    assert first["comment"]["action"] == "created" and first["files_source"] == "git"
    assert first["comment"]["url"].endswith(f"#issuecomment-{first['comment']['id']}")
    assert first["risk"]["level"] in ("high", "medium", "low") and first["api_calls"] >= 4
    assert f"GitHub {first['api_calls']} API calls" in err
    level = first["risk"]["level"]
    assert sorted(fake.issue_labels[7]) == sorted(["team:payments", f"risk:{level}"])

    writes = fake.count("POST") + fake.count("PATCH") + fake.count("DELETE")
    code, out, _ = pr_risk(shop, fake, "--pr", "7", "--format", "json")
    assert json.loads(out)["comment"]["action"] == "unchanged"
    assert fake.count("POST") + fake.count("PATCH") + fake.count("DELETE") == writes

    # A new push: the PR now also touches payments config; the same comment is edited in place.
    shop.git("checkout", "-q", "refunds")
    shop.commit("Refund limits", {"shop/payments/settings.yml": "refund_limit: 100\n"}, author="Carol")
    head = shop.head()
    shop.git("checkout", "-q", "main")
    try:
        fake.pulls[7].head_sha = head
        code, out, _ = pr_risk(shop, fake, "--pr", "7", "--format", "json")
        assert json.loads(out)["comment"]["action"] == "updated"
    finally:
        shop.git("branch", "-f", "refunds", "refunds~1")
    (ours,) = our_comments(fake, 7)
    assert ours["edits"] == 1 and "settings.yml" in str(ours["body"])
    assert fake.comments[1]["body"] == "Nice!"
    assert [name for name in fake.issue_labels[7] if name.startswith("risk:")] == [f"risk:{json.loads(out)['risk']['level']}"]


def test_the_pull_request_event_names_the_pr(shop: TestRepo, fake: FakeGitHub, tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"action": "opened", "number": 8, "pull_request": {"number": 8}}))
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    code, out, err = pr_risk(shop, fake, env={"GITHUB_EVENT_PATH": str(event), "GITHUB_ACTIONS": "true",
                                               "GITHUB_STEP_SUMMARY": str(summary), "GITHUB_OUTPUT": str(outputs)})
    assert code == 0, err
    assert len(our_comments(fake, 8)) == 1
    written = outputs.read_text()
    assert "risk-level=" in written and "comment-id=" in written and "comment-url=https://" in written
    assert MARKER in summary.read_text()


def test_without_a_checkout_the_files_come_from_the_api(shop: TestRepo, fake: FakeGitHub, tmp_path: Path) -> None:
    elsewhere = TestRepo(tmp_path / "other")
    elsewhere.commit("unrelated", {"x": "1\n"})
    code, out, err = pr_risk(shop, fake, "--pr", "7", "--format", "json", "--dry-run", repo=elsewhere.path)
    assert code == 0, err
    report = json.loads(out)
    assert report["files_source"] == "api" and report["files_total"] == 2
    assert fake.count("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files") == 1


def test_more_than_3000_files(shop: TestRepo, fake: FakeGitHub, tmp_path: Path) -> None:
    fake.add_pull(9, "Vendor the SDK", "dan", "vendored", shop.git("rev-parse", "vendored"))
    code, out, err = pr_risk(shop, fake, "--pr", "9", "--format", "json", "--dry-run")
    assert code == 0, err
    report = json.loads(out)
    assert report["files_source"] == "git" and report["files_total"] == 3005
    assert any("more than the 3000 GitHub lists, so the diff was read from local git" in n for n in report["notes"])

    elsewhere = TestRepo(tmp_path / "other")
    elsewhere.commit("unrelated", {"x": "1\n"})
    code, out, err = pr_risk(shop, fake, "--pr", "9", "--format", "json", "--dry-run", repo=elsewhere.path)
    assert code == 0, err
    report = json.loads(out)
    assert report["files_source"] == "api" and report["files_total"] == 3000
    assert any("GitHub lists only 3,000 of this PR's 3,005 files" in n for n in report["notes"])
    assert fake.count("GET", "/repos/{owner}/{repo}/pulls/{pull_number}/files") == 30


def test_read_only_token_writes_the_summary_and_stays_green(shop: TestRepo, fake: FakeGitHub, tmp_path: Path) -> None:
    fake.read_only = True
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    code, out, err = pr_risk(shop, fake, "--pr", "7", env={"GITHUB_STEP_SUMMARY": str(summary),
                                                           "GITHUB_OUTPUT": str(outputs)})
    assert code == 0, err
    assert "warning: PR #7: the token cannot comment or label here" in err
    assert "`shop/orders/migrations/0043_refunds.py`" in summary.read_text()
    assert "read-only token" in out
    assert fake.comments_on(7) == []


@pytest.mark.parametrize(("args", "env", "expected"), [
    ([], {}, "no pull request: pass --pr N"),
    (["--pr", "0"], {}, "--pr 0: pass a pull request number"),
    (["--pr", "7", "--top", "0"], {}, "--top must be at least 1"),
    (["--pr", "404"], {}, "pull request #404 not found in acme/shop"),
    (["--pr", "7"], {"GITHUB_TOKEN": ""}, "set GITHUB_TOKEN"),
    (["--pr", "7"], {"GITHUB_TOKEN": "ghp_" + "x" * 36}, "GitHub rejected the token (401"),
], ids=["no-pr", "bad-pr", "bad-top", "unknown-pr", "no-token", "bad-token"])
def test_user_errors_exit_2_with_one_line(shop: TestRepo, fake: FakeGitHub, args: list[str], env: dict[str, str],
                                          expected: str) -> None:
    code, out, err = pr_risk(shop, fake, *args, env=env)
    assert code == 2 and expected in err and out == ""
    assert "ghp_xxxx" not in err
    assert len([line for line in err.splitlines() if "error:" in line]) == 1


def test_github_down_is_exit_3(shop: TestRepo, fake: FakeGitHub) -> None:
    fake.fail(502, method="GET", path="/pulls/7$", times=20)
    code, _, err = pr_risk(shop, fake, "--pr", "7")
    assert code == 3 and "GitHub answered 502 to read pull request #7 after retries" in err
