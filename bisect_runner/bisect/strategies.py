"""Search strategies: which commits to test next, and when the answer is known. Pure code.

Positions 0..N: 0 is the known-good commit, N the known-bad one, the culprit is in 1..N (see
model.py). A strategy's state is a function of the observations recorded into it, in order, so a
resumed bisect rebuilds it by recording the saved observations again.

Deploy accounting: a probe at a position that is not in `deployed` costs one deploy; the strategy
counts those it asked for in `deploys_requested` and the rounds it planned in `rounds` (both
counted by next_probes, so not rebuilt by a replay: the runner counts the deploys and rounds it
really made, and those are the numbers to report). The --max-deploys budget
(StrategyOptions.max_deploys) is judged on `deploys_used`, which is rebuilt from the observations
alone: the deterministic and latency searches deploy once per new position (and again after a skip),
the flaky search at least once per distinct position.

- deterministic: verify the endpoints, then K-ary search (K = slots) over the remaining range.
- flaky: noisy Bayesian search after Henderson et al., "Flake Aware Culprit Finding" (ICST 2023).
- latency: the deterministic search, each commit judged against the good commit's latency with a
  Mann-Whitney U test (stats.py).
"""

from __future__ import annotations

import math
from typing import Literal

from bisect_runner.bisect.model import (
    EndpointMismatch,
    Observation,
    Probe,
    StepJudgement,
    Strategy,
    StrategyOptions,
    Verdict,
)
from bisect_runner.bisect.stats import mann_whitney_u, median

BUDGET_NOTE = "the deploy budget (--max-deploys) ran out before the search finished"
ENDPOINT_ATTEMPTS = 3  # an endpoint that cannot be deployed this often ends the search


def make_strategy(kind: Literal["deterministic", "flaky", "latency"] | str, n: int,
                  options: StrategyOptions) -> Strategy:
    if n < 1:
        raise ValueError("a bisect needs at least one candidate")
    if kind == "deterministic":
        return DeterministicSearch(n, options)
    if kind == "flaky":
        return FlakyBayesianSearch(n, options)
    if kind == "latency":
        return LatencySearch(n, options)
    raise ValueError(f"unknown strategy {kind!r}")


def quantile_positions(lo: int, hi: int, k: int) -> list[int]:
    """K positions strictly between lo and hi that split the range into K+1 near-equal parts."""
    span = hi - lo
    picks: list[int] = []
    for j in range(1, k + 1):
        target = lo + round(j * span / (k + 1))
        target = min(max(target, lo + 1), hi - 1)
        if target not in picks:
            picks.append(target)
    return picks


class _RangeSearch:
    """Shared machinery of the deterministic and latency searches: a verdict per position, the
    last good and first bad, quantile probes, skips routed to neighbours."""

    def __init__(self, n: int, options: StrategyOptions) -> None:
        self.n = n
        self.options = options
        self.state: dict[int, str] = {}  # position -> good | bad | skip
        self.endpoint_skips = {0: 0, n: 0}
        self.deploys_requested = 0
        self.rounds = 0
        self.deploys_used = 0  # from the observations: a first look at a position, or a retry after a skip

    # the range --------------------------------------------------------------------------------
    def bounds(self) -> tuple[int, int]:
        lo = max((p for p, v in self.state.items() if v == "good"), default=0)
        hi = min((p for p, v in self.state.items() if v == "bad" and p > lo), default=self.n)
        return lo, hi

    def endpoints_verified(self) -> bool:
        return self.state.get(0) == "good" and self.state.get(self.n) == "bad"

    def open_positions(self) -> list[int]:
        lo, hi = self.bounds()
        return [p for p in range(lo + 1, hi) if p not in self.state]

    # probes ------------------------------------------------------------------------------------
    def _endpoint_probes(self) -> list[int]:
        return [p for p in (0, self.n) if self.state.get(p) not in ("good", "bad")]

    def _pick(self, slots: int) -> list[int]:
        lo, hi = self.bounds()
        open_set = set(self.open_positions())
        picks: list[int] = []
        for target in quantile_positions(lo, hi, slots):
            choice = target if target in open_set else _nearest(target, open_set - set(picks))
            if choice is not None and choice not in picks:
                picks.append(choice)
        return picks[:slots]

    def _count(self, probes: list[Probe], deployed: frozenset[int]) -> list[Probe]:
        probes = _within_budget(probes, deployed, self.options.max_deploys, self.deploys_used)
        if probes:
            self.rounds += 1
            self.deploys_requested += sum(1 for p in probes if p.position not in deployed)
        return probes

    # verdict -----------------------------------------------------------------------------------
    def verdict(self) -> Verdict | None:
        for endpoint in (0, self.n):
            if self.endpoint_skips.get(endpoint, 0) >= ENDPOINT_ATTEMPTS and self.state.get(endpoint) == "skip":
                return Verdict("ambiguous", None, tuple(range(1, self.n + 1)), 0.0,
                               "an endpoint could not be deployed or tested")
        budget_spent = self.options.max_deploys is not None and self.deploys_used >= self.options.max_deploys
        if not self.endpoints_verified():
            if budget_spent and not self._awaiting_samples():
                return Verdict("ambiguous", None, tuple(range(1, self.n + 1)), 0.0, BUDGET_NOTE)
            return None
        if self.open_positions():
            if budget_spent and not self._awaiting_samples():
                lo, hi = self.bounds()  # the culprit is somewhere after the last good, up to the first bad
                return Verdict("ambiguous", None, tuple(range(lo + 1, hi + 1)), 1.0 / (hi - lo), BUDGET_NOTE)
            return None
        lo, hi = self.bounds()
        if hi - lo == 1:
            return Verdict("found", hi, (hi,), 1.0)
        skipped = tuple(p for p in range(lo + 1, hi + 1) if self.state.get(p) == "skip") + (hi,)
        return Verdict("ambiguous", None, tuple(sorted(set(skipped))), 1.0 / len(set(skipped)),
                       "only skipped commits separate the last good commit from the first bad one")

    def _awaiting_samples(self) -> bool:
        """A commit still deployed that waits for more samples (latency) costs no deploy."""
        return False

    def _count_deploy(self, position: int) -> None:
        if position not in self.state or self.state[position] == "skip":
            self.deploys_used += 1

    def _endpoint_check(self, position: int, verdict: str, detail: str) -> None:
        if position == 0 and verdict == "bad":
            raise EndpointMismatch(0, "good", detail)
        if position == self.n and verdict == "good":
            raise EndpointMismatch(self.n, "bad", detail)


def _within_budget(probes: list[Probe], deployed: frozenset[int], budget: int | None, used: int) -> list[Probe]:
    """Drop the probes that would deploy past --max-deploys (a deployed commit costs nothing)."""
    if budget is None:
        return probes
    left = budget - used
    kept: list[Probe] = []
    for probe in probes:
        if probe.position in deployed:
            kept.append(probe)
        elif left > 0:
            kept.append(probe)
            left -= 1
    return kept


def _nearest(target: int, candidates: set[int]) -> int | None:
    if not candidates:
        return None
    return min(candidates, key=lambda p: (abs(p - target), p))


class DeterministicSearch(_RangeSearch):
    """Binary (K-ary with K slots) search with smoke tests that tell the truth."""

    def next_probes(self, slots: int, deployed: frozenset[int] = frozenset()) -> list[Probe]:
        if self.verdict() is not None:
            return []
        endpoints = self._endpoint_probes()
        if endpoints:
            probes = [Probe(p, 1) for p in endpoints[:max(1, slots)]]
            spare = slots - len(probes)
            if spare > 0 and all(self.endpoint_skips.get(p, 0) == 0 for p in endpoints):
                # Slots left over while the endpoints are checked search the range already, on the
                # premise the check will confirm (if it does not, the bisect stops anyway).
                probes += [Probe(p, 1) for p in self._pick(spare) if p not in endpoints]
            return self._count(probes, deployed)
        return self._count([Probe(p, 1) for p in self._pick(max(1, slots))], deployed)

    def record(self, observation: Observation) -> StepJudgement:
        position = observation.position
        self._count_deploy(position)
        if observation.skipped or observation.runs == 0:
            if position in self.endpoint_skips:
                self.endpoint_skips[position] += 1
            self.state.setdefault(position, "skip")
            return StepJudgement(position, "skip")
        verdict = "bad" if observation.failures > 0 else "good"
        self._endpoint_check(position, verdict, f"{observation.failures}/{observation.runs} runs failed")
        self.state[position] = verdict
        return StepJudgement(position, "good" if verdict == "good" else "bad")


class LatencySearch(_RangeSearch):
    """The K-ary search where 'bad' means 'slower than the good commit', by Mann-Whitney U."""

    def __init__(self, n: int, options: StrategyOptions) -> None:
        super().__init__(n, options)
        self.samples: dict[int, list[float]] = {}
        self.pending: set[int] = set()  # positions that need more samples before a verdict

    def next_probes(self, slots: int, deployed: frozenset[int] = frozenset()) -> list[Probe]:
        if self.verdict() is not None:
            return []
        opts = self.options
        probes: list[Probe] = []
        # More samples of an undecided commit first: it is still deployed, so they cost no deploy.
        for position in sorted(self.pending):
            probes.append(Probe(position, opts.latency_extra_samples))
        if not probes:
            for position in self._endpoint_probes():
                if position == self.n and self.state.get(0) != "good":
                    continue  # the bad endpoint is judged against the good one's samples
                probes.append(Probe(position, opts.latency_samples))
            if not probes and self.endpoints_verified():
                probes = [Probe(p, opts.latency_samples) for p in self._pick(max(1, slots))]
        # More samples of a commit under judgement cost no deploy: it is still on its slot.
        return self._count(probes[:max(1, slots)], deployed | frozenset(self.pending))

    def _awaiting_samples(self) -> bool:
        return bool(self.pending)

    def record(self, observation: Observation) -> StepJudgement:
        position = observation.position
        if position not in self.samples or not self.samples[position]:
            self._count_deploy(position)
        if observation.skipped or not observation.latencies_ms:
            if position in self.endpoint_skips:
                self.endpoint_skips[position] += 1
            self.pending.discard(position)
            self.state.setdefault(position, "skip")
            return StepJudgement(position, "skip")
        samples = self.samples.setdefault(position, [])
        samples.extend(observation.latencies_ms)
        med = median(samples)
        if position == 0:
            self.state[0] = "good"
            return StepJudgement(0, "good", med, None)
        baseline = self.samples.get(0)
        if not baseline:
            raise EndpointMismatch(0, "good", "no latency samples of the good commit to compare with")
        _, p_value = mann_whitney_u(samples, baseline)
        base_med = median(baseline)
        opts = self.options
        slower = med > base_med
        # A significant difference must also look like the bad commit (its median nearer the bad
        # endpoint's): with several comparisons per bisect, p <= 0.01 alone errs now and then.
        bad_median = median(self.samples[self.n]) if position != self.n and self.n in self.samples else None
        like_bad = bad_median is None or abs(med - bad_median) < abs(med - base_med)
        if p_value <= opts.latency_alpha and (like_bad or not slower or len(samples) >= opts.latency_max_samples):
            verdict = "bad" if slower and like_bad else "good"
            step = "different" if verdict == "bad" else "same"
        elif p_value <= opts.latency_alpha:
            self.pending.add(position)
            return StepJudgement(position, "undecided", med, p_value)
        elif p_value >= opts.latency_same_p or len(samples) >= opts.latency_max_samples:
            if position == self.n or len(samples) < opts.latency_max_samples:
                verdict, step = "good", "same"
            else:
                # Out of samples in the grey zone: side with the nearer endpoint's median.
                bad_med = median(self.samples[self.n]) if self.n in self.samples else med
                verdict = "bad" if abs(med - bad_med) < abs(med - base_med) else "good"
                step = "different" if verdict == "bad" else "same"
        else:
            self.pending.add(position)
            return StepJudgement(position, "undecided", med, p_value)
        self.pending.discard(position)
        if position == self.n and verdict == "good":
            raise EndpointMismatch(self.n, "bad", f"median {med:.0f} ms against {base_med:.0f} ms on the good "
                                                  f"commit, p={p_value:.3f}: not slower")
        self.state[position] = verdict
        return StepJudgement(position, step, med, p_value)  # type: ignore[arg-type]


class FlakyBayesianSearch:
    """Noisy Bayesian culprit finding.

    Hypotheses: 'the first bad commit is c' for c in 1..N, and 'no culprit'. A commit at or after
    the culprit fails a smoke run with probability 1 - pass_bad; any other commit fails with the
    flake rate. Both rates are estimated from repeated runs at the endpoints with Beta priors, so
    zero observed flakes never means zero. Each round probes where the cumulative posterior
    crosses the K quantiles (0.5 with one slot), preferring more runs on a commit that is still
    deployed when that buys as much information per cost. The search stops when one hypothesis
    reaches the confidence, after confirming the culprit and its parent with repeated runs.

    Endpoints that do not differ: a bad commit that passes every one of its endpoint runs (three
    times endpoint_runs(), taken on the still-deployed commit) raises
    EndpointMismatch (the premise is wrong; the user must pick another bad ref), as does a good
    commit failing more than half of its runs. A bad commit that fails, but no more often than the
    good one, is not an error: the search goes on and reports `no-culprit` when that hypothesis
    reaches the confidence (the failures are flakes found on both sides).
    """

    PRIOR_NO_CULPRIT = 0.05
    CAUTION = 2.0  # standard deviations the flake rates are moved towards each other
    FLAKE_PRIOR = (1.0, 19.0)  # Beta(failures, passes) for the good side: mean 5 %
    BAD_PRIOR = (2.0, 1.0)  # Beta(failures, passes) for the bad side: mean 67 % failing

    def __init__(self, n: int, options: StrategyOptions) -> None:
        self.n = n
        self.options = options
        self.runs: dict[int, int] = {}
        self.failures: dict[int, int] = {}
        self.skips: dict[int, int] = {}
        self.deploys_requested = 0
        self.rounds = 0
        self.observations = 0
        self._posterior: list[float] | None = None

    # model ------------------------------------------------------------------------------------
    def rates(self) -> tuple[float, float]:
        """(flake rate of good commits, failure rate of bad commits), each taken one standard
        deviation towards the other from its Beta posterior mean: a conservative model keeps
        a lucky streak at the endpoints from making later evidence look stronger than it is."""
        flake = _beta_shifted(self.failures.get(0, 0), self.runs.get(0, 0), self.FLAKE_PRIOR, +self.CAUTION)
        fail_bad = _beta_shifted(self.failures.get(self.n, 0), self.runs.get(self.n, 0), self.BAD_PRIOR, -self.CAUTION)
        flake = min(max(flake, 0.005), 0.45)
        return flake, min(max(fail_bad, flake + 0.05), 0.995)

    def confirm_runs(self) -> int:
        """Runs on the culprit's parent after which a bad commit would have failed at least once
        with the requested confidence."""
        _, fail_bad = self.rates()
        needed = math.ceil(math.log(1 - min(self.options.confidence, 0.9999)) / math.log(1 - fail_bad))
        return min(30, max(2 * max(1, self.options.repeats), needed))

    def endpoint_runs(self) -> int:
        return 3 * max(1, self.options.repeats)

    MIN_GAP = 0.2  # cautious failure rates of bad and good commits at least this far apart
    MAX_ENDPOINT_FACTOR = 6  # ... or this many times endpoint_runs() on the bad commit

    def endpoint_target(self, position: int) -> int:
        """Runs wanted at an endpoint before searching. The bad commit, which stays deployed after
        the endpoint round, gets more runs (no deploy) while its failure rate is too uncertain to
        tell bad from flaky: a bad commit seen failing 2 of 9 times would otherwise leave every later
        run nearly worthless, and the search would stall."""
        base = self.endpoint_runs()
        runs = self.runs.get(position, 0)
        if position != self.n or runs < base:
            return base
        flake, fail_bad = self.rates()
        if fail_bad - flake >= self.MIN_GAP or runs >= self.MAX_ENDPOINT_FACTOR * base:
            return runs
        if self.failures.get(self.n, 0) == 0 and runs >= 3 * base:
            return runs  # record() has raised EndpointMismatch: it never fails
        return runs + base

    def posterior(self) -> list[float]:
        """P(culprit = c) for c in 0..N+1, where index 0 is unused and N+1 means no culprit."""
        if self._posterior is not None:
            return self._posterior
        flake, fail_bad = self.rates()
        n = self.n
        good_ll = {p: f * math.log(flake) + (r - f) * math.log(1 - flake)
                   for p, r, f in self._counts()}
        bad_ll = {p: f * math.log(fail_bad) + (r - f) * math.log(1 - fail_bad)
                  for p, r, f in self._counts()}
        # log-likelihood of 'culprit = c': positions < c good, positions >= c bad.
        tested = sorted(good_ll)
        total_bad = sum(bad_ll.values())
        logs = [-math.inf] * (n + 2)
        prefix_good = 0.0
        prefix_bad = 0.0
        idx = 0
        prior_c = math.log((1 - self.PRIOR_NO_CULPRIT) / n)
        for c in range(1, n + 2):
            while idx < len(tested) and tested[idx] < c:
                prefix_good += good_ll[tested[idx]]
                prefix_bad += bad_ll[tested[idx]]
                idx += 1
            ll = prefix_good + (total_bad - prefix_bad)
            logs[c] = ll + (prior_c if c <= n else math.log(self.PRIOR_NO_CULPRIT))
        top = max(logs[1:])
        weights = [0.0] + [math.exp(v - top) for v in logs[1:]]
        norm = sum(weights)
        self._posterior = [w / norm for w in weights]
        return self._posterior

    def _counts(self) -> list[tuple[int, int, int]]:
        return [(p, r, self.failures.get(p, 0)) for p, r in self.runs.items() if r > 0]

    def _gain(self, mass_bad: float, runs: int) -> float:
        """Expected information (bits) about 'culprit <= position' from `runs` more smoke runs at a
        position under which the hypotheses that make it bad hold `mass_bad` of the posterior."""
        flake, fail_bad = self.rates()
        groups = ((mass_bad, fail_bad), (1 - mass_bad, flake))
        expected = 0.0
        for f in range(runs + 1):
            comb = math.comb(runs, f)
            like = [comb * q**f * (1 - q) ** (runs - f) for _, q in groups]
            p_f = sum(m * lk for (m, _), lk in zip(groups, like, strict=True))
            if p_f > 0:
                expected += p_f * _binary_entropy(groups[0][0] * like[0] / p_f)
        return _binary_entropy(mass_bad) - expected

    # protocol ---------------------------------------------------------------------------------
    def next_probes(self, slots: int, deployed: frozenset[int] = frozenset()) -> list[Probe]:
        if self.verdict() is not None:
            return []
        repeats = max(1, self.options.repeats)
        slots = max(1, slots)
        probes: list[Probe] = []
        for endpoint in (0, self.n):
            if self.runs.get(endpoint, 0) < self.endpoint_target(endpoint):
                probes.append(Probe(endpoint, self.endpoint_target(endpoint) - self.runs.get(endpoint, 0)))
        if not probes:
            leader, confidence = self._leader()
            if confidence >= self.options.confidence and leader <= self.n:
                # Confirm the culprit and its parent before reporting.
                for position in (leader - 1, leader):
                    if self.runs.get(position, 0) < self.confirm_runs():
                        probes.append(Probe(position, self.confirm_runs() - self.runs.get(position, 0)))
            if not probes:
                probes = self._quantile_probes(slots, deployed, repeats)
        probes = _within_budget(probes[:slots], deployed, self.options.max_deploys, self.deploys_used)
        if probes:
            self.rounds += 1
            self.deploys_requested += sum(1 for p in probes if p.position not in deployed)
        return probes

    DEPLOYED_COST = 0.3  # more runs on a deployed commit, relative to a new deploy

    def _quantile_probes(self, slots: int, deployed: frozenset[int], repeats: int) -> list[Probe]:
        """With one slot, the position whose test is worth most per cost; with K slots, the
        positions where the cumulative posterior crosses the K quantiles."""
        post = self.posterior()
        cumulative = [0.0] * (self.n + 1)
        for c in range(1, self.n + 1):
            cumulative[c] = cumulative[c - 1] + post[c]
        interior = range(1, self.n + 1)  # testing N again weighs 'no culprit' against 'culprit N'

        def value(position: int) -> float:
            gain = self._gain(cumulative[position], repeats)
            return gain / (self.DEPLOYED_COST if position in deployed else 1.0)

        # Only splits with some posterior mass on both sides can be worth a test.
        useful = [p for p in interior if 0.001 < cumulative[p] < 0.999 or p in deployed] or list(interior)
        best = max(useful, key=lambda p: (value(p), -abs(cumulative[p] - 0.5)))
        probes = [Probe(best, repeats)]
        # More slots: the other quantiles of the posterior, so one round narrows it K+1-fold.
        for j in range(1, slots + 1):
            if len(probes) >= slots:
                break
            q = j / (slots + 1)
            target = next((c for c in interior if cumulative[c] >= q), interior[-1])
            if target not in [p.position for p in probes] and 0.001 < cumulative[target] < 0.999:
                probes.append(Probe(target, repeats))
        return probes

    @property
    def deploys_used(self) -> int:
        """Deploys spent, for the budget: those asked for, and at least one per position observed
        (the only count a replay can rebuild)."""
        observed = {p for p in self.runs} | {p for p in self.skips}
        return max(self.deploys_requested, len(observed))

    def _leader(self) -> tuple[int, float]:
        post = self.posterior()
        leader = max(range(1, self.n + 2), key=lambda c: post[c])
        return leader, post[leader]

    def record(self, observation: Observation) -> StepJudgement:
        position = observation.position
        self.observations += 1
        if observation.skipped or observation.runs == 0:
            self.skips[position] = self.skips.get(position, 0) + 1
            return StepJudgement(position, "skip")
        self.runs[position] = self.runs.get(position, 0) + observation.runs
        self.failures[position] = self.failures.get(position, 0) + observation.failures
        self._posterior = None
        if position == self.n and self.runs[self.n] >= 3 * self.endpoint_runs() and self.failures.get(self.n, 0) == 0:
            raise EndpointMismatch(self.n, "bad", f"0/{self.runs[self.n]} smoke runs failed on it")
        if position == 0 and self.runs[0] >= self.endpoint_runs() and self.failures[0] * 2 > self.runs[0]:
            raise EndpointMismatch(0, "good", f"{self.failures[0]}/{self.runs[0]} smoke runs failed on it")
        rate = self.failures[position] / self.runs[position]
        flake, fail_bad = self.rates()
        verdict = "bad" if abs(rate - fail_bad) < abs(rate - flake) else "good"
        return StepJudgement(position, verdict)  # type: ignore[arg-type]

    def verdict(self) -> Verdict | None:
        for endpoint in (0, self.n):
            if self.skips.get(endpoint, 0) >= ENDPOINT_ATTEMPTS and not self.runs.get(endpoint):
                return Verdict("ambiguous", None, tuple(range(1, self.n + 1)), 0.0,
                               "an endpoint could not be deployed or tested")
        if any(self.runs.get(p, 0) < self.endpoint_target(p) for p in (0, self.n)):
            return None
        leader, confidence = self._leader()
        confirmed = leader > self.n or all(self.runs.get(p, 0) >= self.confirm_runs() for p in (leader - 1, leader))
        if confidence >= self.options.confidence and confirmed:
            if leader > self.n:
                return Verdict("no-culprit", None, (), confidence)
            return Verdict("found", leader, (leader,), confidence)
        budget = self.options.max_deploys
        if (budget is not None and self.deploys_used >= budget) or self.observations > 80 + 24 * math.ceil(
                math.log2(self.n + 1)):
            return self._ambiguous(BUDGET_NOTE if budget is not None and self.deploys_used >= budget
                                   else "the search made no progress after many smoke runs")
        # Every untested position skipped and nothing left to learn: ambiguous.
        if all(self.skips.get(p, 0) >= ENDPOINT_ATTEMPTS for p in range(1, self.n)
               if not self.runs.get(p)) and self._stuck():
            return self._ambiguous("every untested commit was skipped")
        return None

    def _stuck(self) -> bool:
        leader, _ = self._leader()
        return leader <= self.n and self.runs.get(leader, 0) >= 6 * max(1, self.options.repeats) and \
            self.runs.get(leader - 1, 0) >= 6 * max(1, self.options.repeats)

    def _ambiguous(self, note: str) -> Verdict:
        post = self.posterior()
        order = sorted(range(1, self.n + 1), key=lambda c: -post[c])
        chosen: list[int] = []
        mass = 0.0
        for c in order:
            chosen.append(c)
            mass += post[c]
            if mass >= 0.9:
                break
        return Verdict("ambiguous", None, tuple(sorted(chosen)), post[order[0]], note)


def _beta_shifted(failures: int, runs: int, prior: tuple[float, float], sds: float) -> float:
    a = failures + prior[0]
    b = runs - failures + prior[1]
    mean = a / (a + b)
    sd = math.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))
    return mean + sds * sd


def _binary_entropy(p: float) -> float:
    if p <= 0.0 or p >= 1.0:
        return 0.0
    return -(p * math.log2(p) + (1 - p) * math.log2(1 - p))
