"""Search strategies on a seeded simulated service: no git, no HTTP."""

from __future__ import annotations

import math
import random

import pytest

from benchmarks.simulate import Service, run_trial
from bisect_runner.bisect.model import EndpointMismatch, Observation, Probe, StrategyOptions
from bisect_runner.bisect.strategies import make_strategy, quantile_positions


@pytest.mark.parametrize("n", [1, 2, 3, 7, 16])
def test_deterministic_finds_every_culprit_within_log2_plus_2(n: int) -> None:
    for culprit in range(1, n + 1):
        trial = run_trial("deterministic", Service(n, culprit))
        assert (trial.status, trial.culprit) == ("found", culprit)
        assert trial.deploys <= math.ceil(math.log2(n)) + 2 if n > 1 else trial.deploys <= 2


@pytest.mark.parametrize(("n", "slots"), [(n, k) for n in (2, 7, 17, 64, 100) for k in (1, 2, 3, 7)]
                         + [(256, 3), (1024, 7), (1000, 1)], ids=lambda v: str(v))
def test_deterministic_rounds_within_log_k_plus_1_plus_the_endpoint_rounds(n: int, slots: int) -> None:
    """K slots: ceil(log_(K+1) N) search rounds, plus one endpoint round (two with one slot)."""
    bound = math.ceil(round(math.log(n) / math.log(slots + 1), 9)) + math.ceil(2 / slots)
    culprits = range(1, n + 1) if n <= 100 else [random.Random(seed).randint(1, n) for seed in range(30)]
    for culprit in culprits:
        trial = run_trial("deterministic", Service(n, culprit), slots=slots)
        assert (trial.status, trial.culprit) == ("found", culprit)
        assert trial.rounds <= bound, (culprit, trial)
        assert trial.deploys <= slots * trial.rounds


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
    assert verdict.candidates == (4, 5) and "skipped" in verdict.note


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
        strategy.record(Observation(8, runs=27, failures=0))


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


@pytest.mark.parametrize(("budget", "culprit", "expected"), [
    (2, 40, tuple(range(1, 65))),  # the endpoints used it all: nothing narrowed
    (3, 40, tuple(range(33, 65))),  # one probe (32, good) narrowed to the upper half
    (4, 40, tuple(range(33, 49))),  # 32 good, 48 bad
], ids=["endpoints-only", "one-probe", "two-probes"])
def test_deterministic_budget_ends_ambiguous_with_the_remaining_range(budget: int, culprit: int,
                                                                      expected: tuple[int, ...]) -> None:
    trial_strategy = make_strategy("deterministic", 64, StrategyOptions(max_deploys=budget))
    service = Service(64, culprit)
    asked = 0
    while trial_strategy.verdict() is None:
        probes = trial_strategy.next_probes(1)
        assert probes, "no probes and no verdict"
        asked += len(probes)
        for probe in probes:
            trial_strategy.record(service.observe(probe.position, probe.runs))
    verdict = trial_strategy.verdict()
    assert verdict is not None and verdict.status == "ambiguous" and verdict.candidates == expected
    assert "--max-deploys" in verdict.note
    assert asked == budget and trial_strategy.next_probes(1) == []


def test_budget_caps_a_round_of_k_probes() -> None:
    strategy = make_strategy("deterministic", 64, StrategyOptions(max_deploys=4))
    for probe in strategy.next_probes(2):
        strategy.record(Observation(probe.position, runs=1, failures=int(probe.position == 64)))
    assert len(strategy.next_probes(7)) == 2  # 2 deploys left of 4
    probes = strategy.next_probes(7, frozenset({8, 16, 24}))  # deployed commits cost no deploy
    assert [p.position for p in probes] == [8, 16, 24, 32, 40]


def test_budget_is_rebuilt_by_replay() -> None:
    seen = [Observation(0, runs=1), Observation(64, runs=1, failures=1), Observation(32, runs=1)]
    strategy = make_strategy("deterministic", 64, StrategyOptions(max_deploys=3))
    for observation in seen:
        strategy.record(observation)
    verdict = strategy.verdict()
    assert verdict is not None and verdict.candidates == tuple(range(33, 65))


def test_flaky_budget_ends_ambiguous_with_most_likely_candidates() -> None:
    rng = random.Random(3)
    trial = run_trial("flaky", Service(256, 100, flake=0.05, fail_bad=0.5, rng=rng),
                      options=StrategyOptions(max_deploys=5))
    assert trial.status == "ambiguous" and trial.deploys <= 5


@pytest.mark.parametrize(("kind", "scenario"), [
    ("deterministic", dict(skip=frozenset({30, 31}))),
    ("flaky", dict(flake=0.05, fail_bad=0.5)),
    ("latency", dict(base_ms=100.0, slow_ms=130.0)),
], ids=["deterministic-with-skips", "flaky", "latency"])
def test_resume_by_replay_gives_the_same_search(kind: str, scenario: dict[str, object]) -> None:
    """Record a prefix of the observations, replay them into a fresh strategy: the same next probes
    and, run to the end on the same random stream, the same verdict."""
    def fresh() -> tuple[object, Service]:
        return make_strategy(kind, 64, StrategyOptions()), Service(64, 33, rng=random.Random(7), **scenario)  # type: ignore[arg-type]

    strategy, service = fresh()
    seen: list[Observation] = []
    for _ in range(4):
        for probe in strategy.next_probes(2):  # type: ignore[attr-defined]
            observation = service.observe(probe.position, probe.runs, latency=kind == "latency")
            seen.append(observation)
            strategy.record(observation)  # type: ignore[attr-defined]
    replayed = make_strategy(kind, 64, StrategyOptions())
    judgements = [replayed.record(o) for o in seen]
    assert all(j.verdict in ("good", "bad", "skip", "same", "different", "undecided") for j in judgements)
    assert replayed.next_probes(2) == strategy.next_probes(2)  # type: ignore[attr-defined]
    assert replayed.verdict() == strategy.verdict()  # type: ignore[attr-defined]


def test_latency_grey_zone_asks_for_more_samples_on_the_deployed_commit_then_decides() -> None:
    options = StrategyOptions(latency_samples=15, latency_extra_samples=10, latency_max_samples=25)
    strategy = make_strategy("latency", 8, options)
    base = [100.0 + i for i in range(15)]
    assert strategy.record(Observation(0, runs=15, latencies_ms=tuple(base))).verdict == "good"
    assert strategy.record(Observation(8, runs=15, latencies_ms=tuple(v + 40 for v in base))).verdict == "different"
    middle = strategy.next_probes(1, frozenset({8}))
    assert [p.position for p in middle] == [4]
    step = strategy.record(Observation(4, runs=15, latencies_ms=tuple(v + 3 for v in base)))  # p ~ 0.1
    assert step.verdict == "undecided" and step.p_value is not None and 0.01 < step.p_value < 0.2
    assert step.median_ms == 110.0
    used = strategy.deploys_used  # type: ignore[attr-defined]
    assert strategy.next_probes(1, frozenset({4})) == [Probe(4, 10)]
    step = strategy.record(Observation(4, runs=10, latencies_ms=tuple(103.0 + i for i in range(10))))
    assert step.verdict in ("same", "different") and strategy.deploys_used == used  # type: ignore[attr-defined]


def test_latency_skipped_candidate_is_routed_to_a_neighbour() -> None:
    rng = random.Random(2)
    trial = run_trial("latency", Service(32, 20, base_ms=100, slow_ms=150, skip=frozenset({16}), rng=rng))
    assert (trial.status, trial.culprit) == ("found", 20)


def test_flaky_without_a_culprit_never_names_one() -> None:
    """Good and bad commits fail alike (20% flakes everywhere): the search says no-culprit or
    ambiguous, and never blames a commit."""
    statuses = []
    for seed in range(12):
        trial = run_trial("flaky", Service(16, None, flake=0.2, rng=random.Random(seed)))
        statuses.append(trial.status)
    assert "found" not in statuses and "no-culprit" in statuses, statuses


def test_flaky_bad_endpoint_that_rarely_fails_gets_more_runs_before_the_search() -> None:
    strategy = make_strategy("flaky", 64, StrategyOptions())
    strategy.record(Observation(0, runs=9, failures=0))
    strategy.record(Observation(64, runs=9, failures=2))  # 22%: too close to a 10% flake to search yet
    assert strategy.next_probes(1, frozenset({64})) == [Probe(64, 9)]
    strategy.record(Observation(64, runs=9, failures=9))  # 11 of 18: clearly bad, search on
    assert [p.position for p in strategy.next_probes(1, frozenset({64}))] not in ([0], [64])
