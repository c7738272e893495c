"""The data that flows between the bisect runner (I/O) and the search strategies (pure).

Positions: a bisect over N candidates has positions 0..N. Position 0 is the known-good commit,
positions 1..N are the candidate commits oldest first, and N is the known-bad commit. The answer
is the position of the first bad commit (1..N). Strategies only see positions and results, never
shas, git or HTTP; the runner maps positions to commits, deploys, runs smoke tests and feeds the
results back. A strategy's state is a pure function of the observations recorded into it, so a
resumed bisect rebuilds it by recording the saved observations again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

Outcome = Literal["found", "no-culprit", "ambiguous"]
StepVerdict = Literal["good", "bad", "skip", "same", "different", "undecided"]


@dataclass(frozen=True)
class Probe:
    """Test the commit at `position` with `runs` smoke runs (or latency samples)."""

    position: int
    runs: int = 1


@dataclass(frozen=True)
class Observation:
    """What one probe found. `skipped` means the commit could not be tested (deploy failed,
    timed out, or the test said 125): it is never evidence of good or bad."""

    position: int
    runs: int = 0
    failures: int = 0
    skipped: bool = False
    latencies_ms: tuple[float, ...] = ()
    detail: str = ""


@dataclass(frozen=True)
class Verdict:
    status: Outcome
    culprit: int | None  # position of the first bad commit when found
    candidates: tuple[int, ...] = ()  # positions that may hold the culprit (ambiguous)
    confidence: float = 1.0
    note: str = ""  # why an ambiguous search stopped (deploy budget, skipped commits), for the report


@dataclass(frozen=True)
class StepJudgement:
    """How the strategy judged one observation (for the report's steps)."""

    position: int
    verdict: StepVerdict
    median_ms: float | None = None
    p_value: float | None = None


class Strategy(Protocol):
    def next_probes(self, slots: int, deployed: frozenset[int] = frozenset()) -> list[Probe]:
        """Up to `slots` probes to run in parallel this round; [] when done. `deployed` holds
        positions currently deployed on a slot, which cost no deploy to probe again."""
        ...

    def record(self, observation: Observation) -> StepJudgement:
        """Take one probe's result into account and say how it was judged."""
        ...

    def verdict(self) -> Verdict | None:
        """The answer once the search is done, else None."""
        ...


class EndpointMismatch(Exception):
    """The known-good commit failed or the known-bad commit passed: the premise of the bisect is
    wrong. Raised by Strategy.record; the runner turns it into a UserError naming the ref."""

    def __init__(self, position: int, expected: Literal["good", "bad"], detail: str = "") -> None:
        super().__init__(f"position {position} was expected {expected} but was not{': ' + detail if detail else ''}")
        self.position = position
        self.expected = expected
        self.detail = detail


@dataclass(frozen=True)
class DeployResult:
    ok: bool
    detail: str = ""
    seconds: float = 0.0


class Deployer(Protocol):
    """Puts one commit on one staging slot (a shell command, or a GitHub workflow_dispatch)."""

    name: str
    url: str | None

    def deploy(self, sha: str, worktree: Path | None) -> DeployResult: ...


@dataclass
class StrategyOptions:
    confidence: float = 0.99
    max_deploys: int | None = None
    repeats: int = 3  # flaky: smoke runs per deployed commit before deciding to redeploy elsewhere
    latency_samples: int = 15
    latency_extra_samples: int = 10
    latency_max_samples: int = 45
    latency_alpha: float = 0.01
    latency_same_p: float = 0.2
    seed: int | None = None
    extra: dict[str, float] = field(default_factory=dict)
