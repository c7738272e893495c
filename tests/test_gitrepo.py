"""The git adapter on real repositories."""

from __future__ import annotations

from pathlib import Path

import pytest

from bisect_runner.errors import UserError
from bisect_runner.gitrepo import GitRepo, pr_number_from_subject
from tests.gitutil import TestRepo


@pytest.fixture
def history(repo: TestRepo) -> TestRepo:
    repo.commit("Initial", {"app/main.py": "print('hi')\n", "logo.png": b"\x89PNG\0\1\2", "old name.txt": "x\n"})
    repo.tag("v1")
    repo.merge_pr(7, "feature", [("Add orders", {"app/orders.py": "a\nb\nc\n"}),
                                 ("More orders", {"app/orders.py": "a\nb\nc\nd\n"})], title="Orders API")
    repo.squash_pr(8, "Rename and binary", {"logo.png": b"\x89PNG\0\x09\x09", "app/main.py": None,
                                            "app/entry.py": "print('hi')\n", "docs/ü ber.md": "ünïcode\n"})
    repo.commit("Direct push", {"app/orders.py": "a\nB\nc\nd\n"})
    repo.tag("v2")
    return repo


def test_first_parent_changes_one_item_per_pr_or_push(history: TestRepo) -> None:
    git = GitRepo(history.path)
    base, head = git.require_range("v1", "v2")
    changes = git.first_parent_changes(base, head)
    subjects = [c.commit.subject for c in changes]
    assert subjects == ["Merge pull request #7 from acme/feature", "Rename and binary (#8)", "Direct push"]
    assert [c.commit.pr_number for c in changes] == [7, 8, None]
    merge = changes[0]
    assert merge.commit.is_merge and merge.commit.body == "Orders API"
    assert [(f.path, f.additions, f.deletions, f.status) for f in merge.files] == [("app/orders.py", 4, 0, "A")]
    squash = {f.path: f for f in changes[1].files}
    assert squash["logo.png"].binary and squash["logo.png"].lines == 0
    assert squash["app/entry.py"].status == "R" and squash["app/entry.py"].old_path == "app/main.py"
    assert squash["docs/ü ber.md"].additions == 1 and squash["docs/ü ber.md"].status == "A"
    assert changes[2].additions == 1 and changes[2].deletions == 1


def test_huge_change_is_counted_not_truncated(repo: TestRepo) -> None:
    repo.commit("base", {"a.txt": "x\n"})
    repo.commit("huge", {f"gen/f{i}.txt": "line\n" * 200 for i in range(400)})
    git = GitRepo(repo.path)
    (change,) = git.first_parent_changes(git.resolve("HEAD~1"), git.resolve("HEAD"))
    assert len(change.files) == 400 and change.additions == 80_000


def test_resolve_suggests_close_refs_and_validates_ranges(history: TestRepo) -> None:
    git = GitRepo(history.path)
    with pytest.raises(UserError, match=r"ref 'v3' not found in .*; did you mean 'v1'|'v2'"):
        git.resolve("v3")
    with pytest.raises(UserError, match="invalid ref"):
        git.resolve("--all")
    with pytest.raises(UserError, match="the range is empty"):
        git.require_range("v2", "v2")
    with pytest.raises(UserError, match="'v2' is not an ancestor of head 'v1'"):
        git.require_range("v2", "v1")


def test_not_a_repository(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is not a git repository"):
        GitRepo(tmp_path)


def test_hunks_cover_changed_lines(history: TestRepo) -> None:
    git = GitRepo(history.path)
    head = git.resolve("v2")
    (hunk,) = git.hunks(head, ["app/orders.py"])
    assert hunk.path == "app/orders.py" and hunk.covers(2) and not hunk.covers(3)


def test_pr_commits_of_a_merge(history: TestRepo) -> None:
    git = GitRepo(history.path)
    merge = git.first_parent_changes(git.resolve("v1"), git.resolve("v2"))[0].commit.sha
    assert [c.subject for c in git.pr_commits(merge)] == ["Add orders", "More orders"]
    assert git.pr_commits(git.resolve("v2")) == []


def test_worktree_is_removed_even_when_the_body_fails(history: TestRepo) -> None:
    git = GitRepo(history.path)
    before = git.head_state()
    with pytest.raises(RuntimeError), git.worktree(git.resolve("v1")) as path:
        assert (path / "app" / "main.py").exists()
        kept = path
        raise RuntimeError("boom")
    assert not kept.exists()
    assert history.git("worktree", "list").count("\n") == 0
    assert git.head_state() == before == ("main", history.head())
    assert not git.is_dirty()
    (history.path / "app" / "entry.py").write_text("changed\n")
    assert git.is_dirty()


@pytest.mark.parametrize(
    ("subject", "number"),
    [
        pytest.param("Merge pull request #123 from acme/x", 123, id="merge"),
        pytest.param("Fix checkout (#45)", 45, id="squash"),
        pytest.param("Fix #45 in checkout", None, id="mention-only"),
        pytest.param("Plain commit", None, id="none"),
    ],
)
def test_pr_number_from_subject(subject: str, number: int | None) -> None:
    assert pr_number_from_subject(subject) == number


def test_streamed_changes_equal_the_list_and_merge_authors_come_from_the_pr(history: TestRepo) -> None:
    git = GitRepo(history.path)
    base, head = git.require_range("v1", "v2")
    assert list(git.iter_first_parent_changes(base, head)) == git.first_parent_changes(base, head)
    merge = git.first_parent_changes(base, head)[0].commit
    assert git.author_names([merge.parents[1], merge.parents[1]]) == {merge.parents[1]: "Test Author"}
    assert git.author_names([]) == {}


def test_streamed_changes_cross_read_boundaries(repo: TestRepo) -> None:
    repo.commit("base", {"a.txt": "x\n"})
    base = repo.head()
    for i in range(6):  # ~200 KB of log output: several 64 KB reads, records split across them
        repo.commit(f"step {i} " + "é" * 200, {f"dir/ünï {i}/f{j}.txt": f"{i}\n" for j in range(200)})
    git = GitRepo(repo.path)
    streamed = list(git.iter_first_parent_changes(base, repo.head()))
    assert streamed == git.first_parent_changes(base, repo.head())
    assert len(streamed) == 6 and all(len(c.files) == 200 for c in streamed)
