"""Risk meets GitHub: PR metadata for release risk items, and a PR's own score for pr-risk.

`enrich_with_github` fills each release-risk item's PR number, title, author and labels from
`commits/{sha}/pulls` (one request per item at most, cached by the client); when the API knows no
PR the offline number from the merge or squash subject stays. `score_pr_files` scores one PR's
files with the same rules as release risk.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bisect_runner import actions
from bisect_runner.config import RiskConfig
from bisect_runner.errors import ExternalServiceError
from bisect_runner.github import GitHubClient, GitHubNotFound, PullInfo
from bisect_runner.gitrepo import FileChange
from bisect_runner.risk import RiskReport, build_rules, score_files


@dataclass(frozen=True)
class PrFile:
    path: str
    additions: int
    deletions: int
    categories: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.path, "additions": self.additions, "deletions": self.deletions,
                "categories": list(self.categories)}


@dataclass(frozen=True)
class PrScore:
    """One PR's risk: what the comment shows."""

    level: str
    score: float
    categories: tuple[str, ...]
    reasons: tuple[str, ...]
    files: tuple[PrFile, ...]  # the riskiest first, at most `top`
    additions: int
    deletions: int

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "score": self.score, "categories": list(self.categories),
                "reasons": list(self.reasons), "files": [f.to_dict() for f in self.files],
                "additions": self.additions, "deletions": self.deletions}


def score_pr_files(files: list[FileChange], config: RiskConfig, *, top: int, title: str = "",
                   author: str = "", pr: int | None = None) -> PrScore:
    """Score a PR's whole diff with the release-risk rules; list its `top` riskiest files."""
    rules = build_rules(config)
    item = score_files(files, rules, pr=pr, title=title, author=author, thresholds=config.thresholds,
                       huge_change_lines=config.huge_change_lines)
    ranked: list[tuple[float, int, PrFile]] = []
    for file in files:
        if rules.ignored(file.path):
            continue
        categories = rules.classify(file.path)  # cached by the rule pack since score_files asked
        weight = max((c.weight for c in categories), default=0.0)
        ranked.append((weight, file.lines, PrFile(file.path, file.additions, file.deletions,
                                                  tuple(c.name for c in categories))))
    ranked.sort(key=lambda entry: (-entry[0], -entry[1], entry[2].path))
    return PrScore(level=item.level, score=item.score, categories=tuple(item.categories),
                   reasons=tuple(item.reasons), files=tuple(entry[2] for entry in ranked[:top]),
                   additions=item.additions, deletions=item.deletions)


def pick_pull(pulls: list[PullInfo], sha: str) -> PullInfo | None:
    """The PR that brought `sha` in: the one merged as `sha`, else the first merged one."""
    for pull in pulls:
        if pull.merge_commit_sha == sha:
            return pull
    merged = [p for p in pulls if p.merged_at]
    return merged[0] if merged else (pulls[0] if pulls else None)


def enrich_with_github(report: RiskReport, client: GitHubClient) -> None:
    """Fill PR number, title, author, labels and URL of every item from GitHub, in place.

    GitHub being down or github.max_calls running out degrades to the offline data with a note
    (the ranking, made from git, is still right); a bad token or repository raises."""
    enriched = 0
    for item in report.items:
        try:
            pulls = client.pulls_for_commit(item.sha)
        except GitHubNotFound:
            raise  # the wrong repository or a token that cannot see it: the user must fix that
        except ExternalServiceError as exc:  # GitHub down, rate limited, or the call budget spent
            note = (f"GitHub lookups stopped after {enriched} of {len(report.items)} changes ({exc}); "
                    "the rest keep the PR numbers from their commit subjects")
            report.notes.append(note)
            actions.annotate("warning", note)
            break
        pull = pick_pull(pulls, item.sha)
        enriched += 1
        if pull is None:
            continue  # the API knows no PR: keep the number from the merge or squash subject
        item.pr = pull.number
        item.title = pull.title or item.title
        item.author = pull.author or item.author
        item.labels = list(pull.labels)
        item.url = pull.url
    report.api_calls = client.calls
