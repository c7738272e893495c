"""Search strategies on a seeded simulated service: no git, no HTTP."""

from __future__ import annotations

import math
import random

import pytest

from benchmarks.simulate import Service, run_trial
from bisect_runner.bisect.model import EndpointMismatch, Observation, StrategyOptions
from bisect_runner.bisect.stats import mann_whitney_u, median
from bisect_runner.bisect.strategies import make_strategy, quantile_positions


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16])
def test_deterministic_finds_every_culprit_within_log2_plus_2(n: int) -> None:
    for culprit in range(1, n + 1):
        trial = run_trial("deterministic", Service(n, culprit))
        assert (trial.status, trial.culprit) == ("found", culprit)
        assert trial.deploys <= math.ceil(math.log2(n)) + 2 if n > 1 else trial.deploys <= 2


@pytest.mark.parametrize(("n", "slots"), [(64, 1), (64, 3), (256, 3), (1024, 7)], ids=lambda v: str(v))
def test_deterministic_rounds_within_log_k_plus_1(n: int, slots: int) -> None:
    bound = math.ceil(math.log(n) / math.log(slots + 1)) + 1
    for seed in range(30):
        culprit = random.Random(seed).randint(1, n)
        trial = run_trial("deterministic", Service(n, culprit), slots=slots)
        assert trial.culprit == culprit
        assert trial.rounds <= bound + 1, (culprit, trial)


def test_quantile_positions_split_the_range() -> None:
    assert quantile_positions(0, 16, 1) == [8]
    assert quantile_positions(0, 16, 3) == [4, 8, 12]
    assert quantile_positions(4, 6, 3) == [5]


def test_skipped_commit_routes_to_a_neighbour_and_still_finds() -> None:
    trial = run_trial("deterministic", Service(16, 9, skip=frozenset({6})))
    assert (trial.status, trial.culprit) == ("found", 9)


def test_only_skipped_commits_between_good_and_bad_is_ambiguous() -> None:
    strategy = make_strategy("deterministic", 8, StrategyOptions())
    service = Service(8, 5, skip=frozenset({4}))
    while strategy.verdict() is None:
        for probe in strategy.next_probes(1):
            strategy.record(service.observe(probe.position, probe.runs))
    verdict = strategy.verdict()
    assert verdict is not None and verdict.status == "ambiguous"
    assert verdict.candidates == (4, 5)


@pytest.mark.parametrize(("position", "failures", "expected"), [(0, 1, "good"), (8, 0, "bad")],
                         ids=["good-fails", "bad-passes"])
def test_endpoint_mismatch(position: int, failures: int, expected: str) -> None:
    strategy = make_strategy("deterministic", 8, StrategyOptions())
    with pytest.raises(EndpointMismatch) as info:
        strategy.record(Observation(position, runs=1, failures=failures))
    assert info.value.expected == expected


def test_replaying_observations_rebuilds_the_same_state() -> None:
    service = Service(100, 37)
    strategy = make_strategy("deterministic", 100, StrategyOptions())
    seen: list[Observation] = []
    for _ in range(3):
        for probe in strategy.next_probes(1):
            observation = service.observe(probe.position, probe.runs)
            seen.append(observation)
            strategy.record(observation)
    replayed = make_strategy("deterministic", 100, StrategyOptions())
    for observation in seen:
        replayed.record(observation)
    assert replayed.next_probes(1) == strategy.next_probes(1)


@pytest.mark.parametrize("slots", [1, 3])
def test_flaky_search_is_right_99_percent_with_noise(slots: int) -> None:
    trials = 100
    right = 0
    deploys = 0
    for seed in range(trials):
        rng = random.Random(seed)
        culprit = rng.randint(1, 32)
        trial = run_trial("flaky", Service(32, culprit, flake=0.05, fail_bad=0.5, rng=rng), slots=slots)
        right += trial.status == "found" and trial.culprit == culprit
        deploys += trial.deploys
    assert right >= 99
    if slots == 1:
        assert deploys / trials <= 2 * math.log2(32)


def test_flaky_reports_no_culprit_when_bad_only_flakes_like_good() -> None:
    strategy = make_strategy("flaky", 8, StrategyOptions())
    with pytest.raises(EndpointMismatch):
        strategy.record(Observation(0, runs=9, failures=0))
        strategy.record(Observation(8, runs=9, failures=0))


def test_latency_search_finds_a_30_percent_regression() -> None:
    right = 0
    for seed in range(40):
        rng = random.Random(seed)
        culprit = rng.randint(1, 64)
        trial = run_trial("latency", Service(64, culprit, base_ms=100, slow_ms=130, rng=rng))
        right += trial.culprit == culprit
    assert right >= 37


def test_latency_judgements_carry_median_and_p_value() -> None:
    strategy = make_strategy("latency", 4, StrategyOptions())
    strategy.record(Observation(0, runs=6, latencies_ms=(100, 101, 99, 102, 98, 100)))
    step = strategy.record(Observation(4, runs=6, latencies_ms=(300, 310, 305, 299, 302, 301)))
    assert step.verdict == "different" and step.median_ms == 301.5
    assert step.p_value is not None and step.p_value <= 0.01


def test_latency_bad_endpoint_not_slower_is_a_mismatch() -> None:
    options = StrategyOptions(latency_samples=15)
    strategy = make_strategy("latency", 4, options)
    rng = random.Random(1)
    strategy.record(Observation(0, runs=15, latencies_ms=tuple(100 + rng.random() for _ in range(15))))
    with pytest.raises(EndpointMismatch):
        strategy.record(Observation(4, runs=15, latencies_ms=tuple(100 + rng.random() for _ in range(15))))


def test_mann_whitney_matches_reference_values() -> None:
    # Reference p-values from scipy.stats.mannwhitneyu(method="asymptotic").
    assert mann_whitney_u([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx((0.0, 0.012185780355344813))
    assert mann_whitney_u([19, 22, 16, 29, 24], [20, 11, 17, 12]) == pytest.approx((17.0, 0.11134688653314041))
    assert mann_whitney_u([1, 1, 2, 2, 3], [2, 3, 3, 4, 4, 5]) == pytest.approx((3.0, 0.031633423039876964))
    assert mann_whitney_u([5, 5, 5], [5, 5, 5])[1] == 1.0
    assert median([3, 1, 2]) == 2 and median([4, 1, 2, 3]) == 2.5
