"""The bisect report: the culprit (and its PR and risk reasons), every step, and the cost.

JSON is the contract (`status`, `culprit`, `candidates`, `confidence`, `deploys`, `rounds`,
`smoke_runs`, `steps`), with extra fields for people: the range, the phases, the replay log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from bisect_runner.render import md_escape, md_table, plural, text_table

ReportStatus = Literal["found", "no-culprit", "ambiguous", "running"]


@dataclass
class CulpritInfo:
    sha: str
    subject: str
    author: str
    pr: int | None
    files: list[str]
    merge_sha: str | None = None  # when drill-down found a commit inside the PR: the PR's merge
    risk_score: float | None = None
    risk_level: str | None = None
    risk_reasons: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha": self.sha, "subject": self.subject, "author": self.author, "pr": self.pr,
            "files": list(self.files), "merge_sha": self.merge_sha, "risk_score": self.risk_score,
            "risk_level": self.risk_level, "risk_reasons": list(self.risk_reasons),
        }


@dataclass
class StepRecord:
    sha: str
    slot: str
    verdict: str
    runs: int
    failures: int
    median_ms: float | None
    p_value: float | None
    subject: str = ""
    phase: str = "merge"
    round: int = 0
    deployed: bool = False  # this step paid for a deploy (False: the slot already held the commit)
    resumed: bool = False  # replayed from the state file, not run now
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha": self.sha, "slot": self.slot, "verdict": self.verdict, "runs": self.runs,
            "failures": self.failures, "median_ms": self.median_ms, "p_value": self.p_value,
            "subject": self.subject, "phase": self.phase, "round": self.round, "deployed": self.deployed,
            "resumed": self.resumed, "detail": self.detail,
        }


@dataclass
class BisectReport:
    """A finished bisect, or (status "running") the progress so far, as given to on_progress."""

    status: ReportStatus
    good: str
    bad: str
    good_ref: str
    bad_ref: str
    mode: str  # deterministic | flaky | latency
    culprit: CulpritInfo | None = None
    candidates: list[str] = field(default_factory=list)
    confidence: float | None = None
    deploys: int = 0
    rounds: int = 0
    smoke_runs: int = 0
    steps: list[StepRecord] = field(default_factory=list)
    range_size: int = 0  # candidates in the first-parent pass
    slots: list[str] = field(default_factory=list)
    latency_check: str | None = None
    drill_down: dict[str, Any] | None = None  # {"merge", "pr", "candidates", "outcome"}
    notes: list[str] = field(default_factory=list)
    state_file: str | None = None
    replay_log: str | None = None
    resumed_steps: int = 0
    elapsed_s: float = 0.0
    api_calls: int | None = None  # GitHub requests made (workflow deploys, --report-issue)

    @property
    def finished(self) -> bool:
        return self.status != "running"

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "culprit": self.culprit.to_dict() if self.culprit else None,
            "candidates": list(self.candidates),
            "confidence": None if self.confidence is None else round(self.confidence, 6),
            "deploys": self.deploys,
            "rounds": self.rounds,
            "smoke_runs": self.smoke_runs,
            "steps": [s.to_dict() for s in self.steps],
            "mode": self.mode,
            "good": self.good,
            "bad": self.bad,
            "good_ref": self.good_ref,
            "bad_ref": self.bad_ref,
            "range_size": self.range_size,
            "slots": list(self.slots),
            "latency_check": self.latency_check,
            "drill_down": self.drill_down,
            "notes": list(self.notes),
            "state_file": self.state_file,
            "replay_log": self.replay_log,
            "resumed_steps": self.resumed_steps,
            "elapsed_s": round(self.elapsed_s, 3),
            "api_calls": self.api_calls,
        }

    def action_outputs(self) -> dict[str, str]:
        return {
            "status": self.status,
            "culprit-sha": self.culprit.sha if self.culprit else "",
            "culprit-pr": str(self.culprit.pr) if self.culprit and self.culprit.pr is not None else "",
        }

    # text -----------------------------------------------------------------------------------

    def headline(self) -> str:
        if self.status == "found" and self.culprit:
            pr = f" (PR #{self.culprit.pr})" if self.culprit.pr is not None else ""
            return f"First bad commit: {self.culprit.sha[:10]} {self.culprit.subject}{pr}"
        if self.status == "ambiguous":
            return (f"Ambiguous: the first bad commit is one of {plural(len(self.candidates), 'commit')} "
                    "that could not be told apart")
        if self.status == "no-culprit":
            return f"No culprit: {self.bad_ref} does not reliably fail; nothing in the range is to blame"
        return f"Bisect in progress: {plural(len(self.steps), 'step')} so far"

    def cost_line(self) -> str:
        confidence = f", confidence {self.confidence:.3f}" if self.confidence is not None else ""
        resumed = f", {self.resumed_steps} resumed from state" if self.resumed_steps else ""
        return (f"{plural(self.deploys, 'deploy')} in {plural(self.rounds, 'round')} on "
                f"{plural(len(self.slots), 'slot')}, {plural(self.smoke_runs, 'smoke run')}{confidence}{resumed}")

    def to_text(self) -> str:
        lines = [self.headline(), f"  range {self.good_ref}..{self.bad_ref} "
                 f"({self.good[:10]}..{self.bad[:10]}, {plural(self.range_size, 'candidate')}), mode {self.mode}"
                 + (f" on check {self.latency_check!r}" if self.latency_check else ""),
                 f"  {self.cost_line()}"]
        if self.culprit:
            c = self.culprit
            lines.append(f"  author {c.author}" + (f", merged in {c.merge_sha[:10]}" if c.merge_sha else ""))
            if c.files:
                shown = ", ".join(c.files[:8]) + (f", … (+{len(c.files) - 8})" if len(c.files) > 8 else "")
                lines.append(f"  files  {shown}")
            if c.risk_reasons:
                level = f" ({c.risk_level}, score {c.risk_score:g})" if c.risk_level and c.risk_score is not None else ""
                lines.append(f"  risk{level}: " + "; ".join(c.risk_reasons[:4]))
        if self.status == "ambiguous" and self.candidates:
            lines.append("  candidates: " + ", ".join(s[:10] for s in self.candidates))
        lines += [f"  note: {note}" for note in self.notes]
        if self.steps:
            lines += ["", self._steps_table()]
        if self.replay_log:
            lines += ["", f"Replay log (git bisect log format): {self.replay_log}"]
        return "\n".join(lines)

    def _steps_table(self) -> str:
        rows = [[i, s.phase if s.phase == "merge" else "drill", s.sha[:10], s.slot, s.verdict,
                 f"{s.failures}/{s.runs}", _ms(s.median_ms), _p(s.p_value),
                 ("resumed" if s.resumed else ("deploy" if s.deployed else "reuse")), s.subject]
                for i, s in enumerate(self.steps, start=1)]
        return text_table(["#", "phase", "sha", "slot", "verdict", "fail/runs", "median", "p", "how", "subject"],
                          rows, max_width=50)

    def to_markdown(self) -> str:
        icon = {"found": "🎯", "ambiguous": "❓", "no-culprit": "🤷", "running": "⏳"}[self.status]
        parts = [f"### {icon} Bisect: {md_escape(self.headline())}", "",
                 f"Range `{md_escape(self.good_ref)}..{md_escape(self.bad_ref)}` "
                 f"({plural(self.range_size, 'candidate')}), mode **{self.mode}**. {md_escape(self.cost_line())}."]
        if self.culprit:
            c = self.culprit
            pr = f"#{c.pr}" if c.pr is not None else "—"
            parts += ["", md_table(["commit", "subject", "author", "PR", "files"], [[
                f"`{c.sha[:10]}`", md_escape(c.subject), md_escape(c.author), pr,
                md_escape(", ".join(c.files[:10]) + (" …" if len(c.files) > 10 else "")),
            ]])]
            if c.risk_reasons:
                parts += ["", "Risk reasons:", *[f"- {md_escape(r)}" for r in c.risk_reasons[:6]]]
        if self.status == "ambiguous" and self.candidates:
            parts += ["", "Candidates: " + ", ".join(f"`{s[:10]}`" for s in self.candidates)]
        parts += [f"> {md_escape(note)}" for note in self.notes]
        if self.steps:
            rows = [[i, f"`{s.sha[:10]}`", md_escape(s.slot), s.verdict, f"{s.failures}/{s.runs}", _ms(s.median_ms),
                     _p(s.p_value), md_escape(s.subject)] for i, s in enumerate(self.steps, start=1)]
            parts += ["", "<details><summary>Steps</summary>", "",
                      md_table(["#", "sha", "slot", "verdict", "fail/runs", "median", "p", "subject"], rows),
                      "", "</details>"]
        if self.replay_log:
            parts += ["", f"Replay log: `{md_escape(self.replay_log)}` (`git bisect replay` reads it)"]
        return "\n".join(parts)


def step_progress(step: StepRecord, index: int) -> str:
    """One live progress line for the terminal."""
    how = "resumed" if step.resumed else (f"deployed to {step.slot}" if step.deployed else f"on {step.slot}")
    latency = f", median {step.median_ms:.0f} ms" if step.median_ms is not None else ""
    p_value = f", p={step.p_value:.3g}" if step.p_value is not None else ""
    detail = f" — {step.detail}" if step.detail and step.verdict in ("skip", "bad", "different") else ""
    return (f"bisect: step {index} [{step.phase}] {step.sha[:10]} {step.verdict.upper()} "
            f"({step.failures}/{step.runs} failed{latency}{p_value}; {how}) {step.subject}{detail}")


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} ms"


def _p(value: float | None) -> str:
    return "" if value is None else f"{value:.3g}"
