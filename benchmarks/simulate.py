"""A simulated service for bisect strategies: seeded, no git, no HTTP (tests and benchmarks share it)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from bisect_runner.bisect.model import EndpointMismatch, Observation, StrategyOptions
from bisect_runner.bisect.strategies import make_strategy


@dataclass
class Service:
    """A commit at or after `culprit` is bad. Smoke runs fail with `flake` on good commits and
    with `fail_bad` on bad ones; latency samples are lognormal around `base_ms` or `slow_ms`."""

    n: int
    culprit: int | None
    flake: float = 0.0
    fail_bad: float = 1.0
    base_ms: float = 100.0
    slow_ms: float = 100.0
    jitter: float = 0.15
    skip: frozenset[int] = frozenset()
    rng: random.Random = field(default_factory=random.Random)

    def is_bad(self, position: int) -> bool:
        return self.culprit is not None and position >= self.culprit

    def observe(self, position: int, runs: int, latency: bool = False) -> Observation:
        if position in self.skip:
            return Observation(position, skipped=True)
        bad = self.is_bad(position)
        if latency:
            centre = self.slow_ms if bad else self.base_ms
            samples = tuple(centre * self.rng.lognormvariate(0, self.jitter) for _ in range(runs))
            return Observation(position, runs=runs, latencies_ms=samples)
        p_fail = self.fail_bad if bad else self.flake
        failures = sum(1 for _ in range(runs) if self.rng.random() < p_fail)
        return Observation(position, runs=runs, failures=failures)


@dataclass
class Trial:
    status: str
    culprit: int | None
    deploys: int
    rounds: int
    smoke_runs: int
    confidence: float


def run_trial(kind: str, service: Service, slots: int = 1, options: StrategyOptions | None = None,
              max_rounds: int = 500) -> Trial:
    """Drive a strategy against the service like the runner does (deploy = a position not on a slot)."""
    options = options or StrategyOptions()
    strategy = make_strategy(kind, service.n, options)
    on_slots: list[int] = []
    deploys = rounds = runs = 0
    for _ in range(max_rounds):
        verdict = strategy.verdict()
        if verdict is not None:
            return Trial(verdict.status, verdict.culprit, deploys, rounds, runs, verdict.confidence)
        probes = strategy.next_probes(slots, frozenset(on_slots))
        if not probes:
            break
        rounds += 1
        for probe in probes:
            if probe.position not in on_slots:
                deploys += 1
                on_slots.append(probe.position)
                on_slots[:] = on_slots[-slots:]
            runs += probe.runs
            try:
                strategy.record(service.observe(probe.position, probe.runs, latency=kind == "latency"))
            except EndpointMismatch:
                return Trial("endpoint-mismatch", None, deploys, rounds, runs, 0.0)
    verdict = strategy.verdict()
    if verdict is None:
        return Trial("unfinished", None, deploys, rounds, runs, 0.0)
    return Trial(verdict.status, verdict.culprit, deploys, rounds, runs, verdict.confidence)
