"""The bisect loop: candidates from git, probes from the strategy, deploys on slots, results back.

Each round asks the strategy for up to K probes (K = staging slots), runs them in parallel (one
thread per slot: a deploy, then smoke runs or the test command), and records every result, first
to the state file and then into the strategy. Commits are checked out with `git worktree` outside
the user's work tree; the user's HEAD, branch, index, files and stash are never touched, and no
`git bisect` session is started. Worktrees go away on success, error and Ctrl-C.

Candidates are first-parent commits (one per merged PR). When the first bad one is a merge whose
PR has several commits, a second phase bisects inside the PR (good = the merge's first parent).
"""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import importlib
import os
import queue
import statistics
import threading
import time
import typing
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol

from bisect_runner import render
from bisect_runner.bisect import slots as slot_commands
from bisect_runner.bisect.model import (
    Deployer,
    DeployResult,
    EndpointMismatch,
    Observation,
    Probe,
    StepJudgement,
    Strategy,
    StrategyOptions,
    Verdict,
)
from bisect_runner.bisect.report import BisectReport, CulpritInfo, StepRecord, step_progress
from bisect_runner.bisect.state import BisectState, SavedObservation, StateKey, replay_log_lines
from bisect_runner.config import RiskConfig
from bisect_runner.errors import BisectRunnerError, UserError
from bisect_runner.gitrepo import Change, Commit, GitRepo
from bisect_runner.render import plural
from bisect_runner.smoke import SmokeRunner, SmokeSpec, expand, variables

StrategyKind = Literal["deterministic", "flaky", "latency"]
StrategyFactory = Callable[[str, int, StrategyOptions], Strategy]
ProgressCallback = Callable[[BisectReport], None]

MERGE_PHASE = "merge"


class BisectAborted(UserError):
    """The test command asked to stop (exit 128 or above, as with `git bisect run`)."""


# what runs on a deployed commit ----------------------------------------------------------------

class Prober(Protocol):
    """What is tested on a deployed commit: a smoke spec, one check's latency, or a test command."""

    identity: str  # stable id of what is tested (part of the state key)
    what: str  # for messages: "the smoke tests", "the test command", ...

    def validate(self, deployers: Sequence[Deployer]) -> None: ...

    def probe(self, sha: str, worktree: Path, slot: Deployer, runs: int, stop: threading.Event) -> Observation:
        """Test `sha` (deployed on `slot`) `runs` times; stop early once `stop` is set."""
        ...


class SmokeProber:
    """Run the smoke spec `runs` times (or, with `latency_check`, sample that check's latency)."""

    def __init__(self, spec: SmokeSpec, *, latency_check: str | None = None, spec_text: str = "") -> None:
        self.spec = spec
        self.latency_check = latency_check
        if latency_check:
            spec.check(latency_check)  # a UserError naming the known checks when it is not there
        digest = hashlib.sha256((spec_text or repr(spec)).encode()).hexdigest()[:16]
        self.identity = f"smoke:{digest}" + (f":latency:{latency_check}" if latency_check else "")
        self.what = f"the latency of check {latency_check!r}" if latency_check else "the smoke tests"

    def _runner(self, sha: str, worktree: Path | None, slot: Deployer) -> SmokeRunner:
        env = slot_commands.slot_env(sha, worktree, slot.name, slot.url)
        spec = expand(self.spec, env)
        return SmokeRunner(spec, spec.base_url or slot.url)

    def validate(self, deployers: Sequence[Deployer]) -> None:
        uses_staging_url = any(name == "STAGING_URL" for name, _ in variables(self.spec))
        for slot in deployers:
            if uses_staging_url and not slot.url and "STAGING_URL" not in os.environ:
                raise UserError(f"{self.spec.path} uses ${{STAGING_URL}} but slot {slot.name!r} has no URL; "
                                "pass --staging-url URL (once per slot) or set url in bisect.slots")
            self._runner("0" * 40, None, slot).close()

    def probe(self, sha: str, worktree: Path, slot: Deployer, runs: int, stop: threading.Event) -> Observation:
        runner = self._runner(sha, worktree, slot)
        failures = 0
        latencies: list[float] = []
        detail = ""
        try:
            for _ in range(max(1, runs)):
                if stop.is_set():
                    raise KeyboardInterrupt  # the bisect is being torn down: this result is not wanted
                if self.latency_check:
                    result = runner.run_check(runner.spec.check(self.latency_check))
                    latencies.append(result.latency_ms)
                    if not result.ok:
                        failures += 1
                        detail = f"{result.name}: {result.reason}"
                else:
                    run = runner.run()
                    latencies.append(round(sum(r.latency_ms for r in run.results), 3))
                    if not run.passed:
                        failures += 1
                        detail = run.first_failure
        finally:
            runner.close()
        return Observation(position=-1, runs=max(1, runs), failures=failures, latencies_ms=tuple(latencies),
                           detail=detail)


class TestProber:
    """`--test CMD`: git-bisect-run exit codes, run in the commit's worktree."""

    __test__ = False

    def __init__(self, command: str, *, timeout_s: float, log_dir: Path | None = None) -> None:
        self.command = command
        self.timeout_s = timeout_s
        self.log_dir = log_dir
        self.identity = "test:" + hashlib.sha256(command.encode()).hexdigest()[:16]
        self.what = "the test command"

    def validate(self, deployers: Sequence[Deployer]) -> None:
        slot_commands.command_argv(self.command)

    def probe(self, sha: str, worktree: Path, slot: Deployer, runs: int, stop: threading.Event) -> Observation:
        failures = 0
        done = 0
        detail = ""
        for _ in range(max(1, runs)):
            if stop.is_set():
                raise KeyboardInterrupt
            result = slot_commands.run_test(self.command, sha=sha, worktree=worktree, slot=slot,
                                            timeout_s=self.timeout_s, log_dir=self.log_dir)
            if result.verdict == "abort":
                raise BisectAborted(
                    f"the test command exited {result.returncode} on {sha[:10]}: 128 and above abort the bisect "
                    "(git bisect run convention); fix the command, or exit 125 to skip a commit")
            if result.verdict == "skip":
                return Observation(position=-1, runs=done, failures=failures, skipped=True, detail=result.detail)
            done += 1
            if result.verdict == "bad":
                failures += 1
                detail = result.detail
        return Observation(position=-1, runs=done, failures=failures, detail=detail)


# options ------------------------------------------------------------------------------------

@dataclass
class BisectOptions:
    good_ref: str
    bad_ref: str
    kind: StrategyKind = "deterministic"
    strategy: StrategyOptions = field(default_factory=StrategyOptions)
    first_parent_only: bool = False  # --first-parent: merges only, no drill-down
    drill_down: bool = True
    restart: bool = False
    latency_check: str | None = None
    risk: RiskConfig | None = None  # the config's risk rules, for the culprit's risk reasons


# slots and phases ---------------------------------------------------------------------------

@dataclass
class _Slot:
    deployer: Deployer
    sha: str | None = None  # the commit whose worktree this slot holds
    deployed: bool = False  # and that commit is live on the slot
    stack: ExitStack | None = None
    worktree: Path | None = None

    def release(self) -> None:
        if self.stack is not None:
            self.stack.close()
        self.stack, self.worktree, self.sha, self.deployed = None, None, None, False


@dataclass
class _Phase:
    name: str
    shas: list[str]  # position -> sha; 0 is good, len-1 is bad
    good_label: str
    bad_label: str
    index: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.index = {sha: position for position, sha in enumerate(self.shas)}

    @property
    def n(self) -> int:
        return len(self.shas) - 1


@dataclass(frozen=True)
class _ProbeOutcome:
    probe: Probe
    slot: _Slot
    sha: str
    observation: Observation
    deployed: bool  # a deploy was attempted for this probe
    deploy: DeployResult | None


class _PhaseMismatch(Exception):
    def __init__(self, mismatch: EndpointMismatch, observation: Observation) -> None:
        super().__init__(str(mismatch))
        self.mismatch = mismatch
        self.observation = observation


class _Workers:
    """One daemon thread per probe in flight. Unlike ThreadPoolExecutor's workers, which the
    interpreter joins at exit, a deploy stuck waiting (say, on a remote workflow) cannot hold
    Ctrl-C hostage: after a bounded join we clean up and exit anyway."""

    def __init__(self) -> None:
        self.results: queue.Queue[tuple[_ProbeOutcome | None, BaseException | None]] = queue.Queue()
        self.threads: list[threading.Thread] = []

    def start(self, work: Callable[..., _ProbeOutcome], *args: object) -> None:
        def run() -> None:
            try:
                self.results.put((work(*args), None))
            except BaseException as exc:  # handed to the main thread, which raises it
                self.results.put((None, exc))

        thread = threading.Thread(target=run, name=f"bisect-probe-{len(self.threads) + 1}", daemon=True)
        self.threads.append(thread)
        thread.start()

    def next_result(self) -> _ProbeOutcome:
        while True:
            try:  # a short timeout keeps the main thread responsive to Ctrl-C
                outcome, error = self.results.get(timeout=0.2)
            except queue.Empty:
                continue
            if error is not None:
                raise error
            assert outcome is not None
            return outcome

    def join(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.threads = [t for t in self.threads if t.is_alive()]


# the loop -----------------------------------------------------------------------------------

class BisectRun:
    """One bisect: use run_bisect(); this class holds the loop's state between rounds."""

    def __init__(self, repo: GitRepo, options: BisectOptions, deployers: Sequence[Deployer], prober: Prober,
                 *, strategy_factory: StrategyFactory | None = None, on_progress: ProgressCallback | None = None,
                 log: Callable[[str], None] | None = render.progress) -> None:
        if not deployers:
            raise UserError("no staging slot: pass --staging-url URL (once per slot) or configure bisect.slots")
        names = [d.name for d in deployers]
        if len(set(names)) != len(names):
            raise UserError(f"slot names must be unique, got {', '.join(names)}")
        self.repo = repo
        self.options = options
        self.slots = [_Slot(d) for d in deployers]
        self.prober = prober
        self.strategy_factory = strategy_factory or _default_factory
        self.on_progress = on_progress
        self.log = log or (lambda message: None)
        self.commits: dict[str, Commit] = {}
        self.started = time.monotonic()
        self.round = 0
        self.endpoint_failures: dict[tuple[str, str], set[str]] = {}  # (phase, sha) -> slots it failed on
        self.endpoint_attempts: dict[tuple[str, str], int] = {}
        self.stop = threading.Event()
        self.workers = _Workers()

    # setup ------------------------------------------------------------------------------------

    def run(self) -> BisectReport:
        options = self.options
        good, bad = self.repo.require_range(options.good_ref, options.bad_ref, base_name="good ref",
                                            head_name="bad ref")
        first_parent = self.repo.commits(good, bad, first_parent=True)
        if options.first_parent_only:
            first_parent = [c for c in first_parent if c.is_merge or c.sha == bad]
        for commit in [self.repo.commit(good), *first_parent]:
            self.commits[commit.sha] = commit
        shas = [good] + [c.sha for c in first_parent]
        self.prober.validate([s.deployer for s in self.slots])
        mode = options.kind + (f":{options.latency_check}" if options.latency_check else "")
        key = StateKey(good=good, bad=bad, mode=mode + ("|merges-only" if options.first_parent_only else ""),
                       candidates=tuple(shas[1:]), probe=self.prober.identity)
        self.state = BisectState.open(self.repo.git_dir, key, restart=options.restart)
        self.report = BisectReport(
            status="running", good=good, bad=bad, good_ref=options.good_ref, bad_ref=options.bad_ref,
            mode=options.kind, range_size=len(shas) - 1, slots=[s.deployer.name for s in self.slots],
            latency_check=options.latency_check, state_file=str(self.state.path),
            replay_log=str(self.state.log_path), resumed_steps=self.state.resumed,
        )
        if self.state.resumed:
            self.log(f"bisect: resuming from {self.state.path} ({self.state.resumed} saved results; "
                     "--restart discards them)")
        self.log(f"bisect: {len(shas) - 1} candidate(s) in {options.good_ref}..{options.bad_ref} "
                 f"({good[:10]}..{bad[:10]}), {options.kind} mode, {len(self.slots)} slot(s)")
        try:
            self._bisect(good, bad, shas)
        finally:
            self.stop.set()  # smoke runs in flight stop after their current request
            slot_commands.terminate_all()  # deploy and test commands in flight are killed
            self.workers.join(timeout_s=10.0)
            for slot in self.slots:
                slot.release()
            self.state.close()
        self.report.elapsed_s = time.monotonic() - self.started
        return self.report

    def _bisect(self, good: str, bad: str, shas: list[str]) -> None:
        options = self.options
        phase = _Phase(MERGE_PHASE, shas, f"good ref {options.good_ref!r}", f"bad ref {options.bad_ref!r}")
        strategy = self.strategy_factory(options.kind, phase.n, options.strategy)
        try:
            verdict = self._run_phase(phase, strategy)
        except _PhaseMismatch as exc:
            raise self._mismatch_error(phase, exc) from None
        self._conclude(phase, verdict)
        culprit = self.report.culprit
        if (verdict.status != "found" or culprit is None or options.first_parent_only
                or not options.drill_down):
            self._write_replay_log()
            return
        merge = self.commits[culprit.sha]
        if not merge.is_merge:
            self._write_replay_log()
            return
        pr_commits = self.repo.pr_commits(merge.sha)
        if len(pr_commits) < 2:
            self._write_replay_log()
            return
        self._drill_down(merge, pr_commits)
        self._write_replay_log()

    def _drill_down(self, merge: Commit, pr_commits: list[Commit]) -> None:
        for commit in pr_commits:
            self.commits[commit.sha] = commit
        parent = merge.parents[0]
        if parent not in self.commits:
            self.commits[parent] = self.repo.commit(parent)
        pr = merge.pr_number
        name = f"drill-down:{merge.sha}"
        phase = _Phase(name, [parent] + [c.sha for c in pr_commits], f"the merge's first parent {parent[:10]}",
                       f"the PR head {pr_commits[-1].sha[:10]}")
        self.log(f"bisect: culprit merge {merge.short} ({'PR #' + str(pr) if pr else merge.subject}); "
                 f"drilling down into its {len(pr_commits)} commits")
        options = self.options.strategy
        if options.max_deploys is not None:
            options = dataclasses.replace(options, max_deploys=max(1, options.max_deploys - self.report.deploys))
        strategy = self.strategy_factory(self.options.kind, phase.n, options)
        # What the first pass learned about the merge's first parent counts here too: no redeploy.
        seeds = [o for o in self.state.phase(MERGE_PHASE) if o.sha == parent and not o.skipped]
        drill: dict[str, object] = {"merge": merge.sha, "pr": pr, "candidates": [c.sha for c in pr_commits]}
        self.report.drill_down = drill
        merge_culprit, merge_status = self.report.culprit, self.report.status
        self.report.status = "running"  # progress callbacks must not announce the merge as final yet
        try:
            self._drill_phase(phase, strategy, seeds, drill, merge, merge_culprit, pr)
        finally:
            if self.report.status == "running":
                self.report.status = merge_status

    def _drill_phase(self, phase: _Phase, strategy: Strategy, seeds: list[SavedObservation],
                     drill: dict[str, object], merge: Commit, merge_culprit: CulpritInfo | None,
                     pr: int | None) -> None:
        try:
            for seed in seeds:
                self._record(strategy, _observation(seed, 0))
            verdict = self._run_phase(phase, strategy)
        except _PhaseMismatch as exc:
            side = "passes" if exc.mismatch.expected == "bad" else "fails"
            note = (f"drill-down: {phase.bad_label if side == 'passes' else phase.good_label} {side} on its own, "
                    f"so the failure comes from merging PR{' #' + str(pr) if pr else ''} into main; "
                    "the merge stays the culprit")
            drill["outcome"] = "merge"
            self.report.notes.append(note)
            self.report.culprit = merge_culprit
            return
        if verdict.status == "found" and verdict.culprit is not None:
            sha = phase.shas[verdict.culprit]
            drill["outcome"] = "found"
            self.report.culprit = self._culprit_info(sha, pr=pr, merge_sha=merge.sha)
            self.report.candidates = [sha]
            self.report.status = "found"
            self.report.confidence = min(self.report.confidence or 1.0, verdict.confidence)
            self.log(f"bisect: first bad commit inside the PR: {sha[:10]} {self.commits[sha].subject}")
            return
        drill["outcome"] = verdict.status
        drill["drill_candidates"] = [phase.shas[p] for p in verdict.candidates]
        self.report.notes.append(f"drill-down inside the PR ended {verdict.status}; the merge stays the culprit")

    # one phase ----------------------------------------------------------------------------------

    def _run_phase(self, phase: _Phase, strategy: Strategy) -> Verdict:
        for saved in self.state.phase(phase.name):
            position = phase.index.get(saved.sha)
            if position is None:
                raise UserError(f"{self.state.path}: a saved result names {saved.sha[:10]}, which is not in the "
                                "range; rerun with --restart")
            self.round = max(self.round, saved.round)
            if saved.deployed:
                self.report.deploys += 1
            self.report.smoke_runs += saved.runs
            self.report.rounds = max(self.report.rounds, saved.round)
            observation = _observation(saved, position)
            if saved.skipped and position in (0, phase.n):
                self._add_step(phase, saved, StepJudgement(position, "skip"), resumed=True)
                continue
            judgement = self._record(strategy, observation)
            self._add_step(phase, saved, judgement, resumed=True)
        while True:
            verdict = strategy.verdict()
            if verdict is not None:
                return verdict
            deployed = frozenset(phase.index[s.sha] for s in self.slots
                                 if s.deployed and s.sha is not None and s.sha in phase.index)
            probes = strategy.next_probes(len(self.slots), deployed)
            if not probes:
                verdict = strategy.verdict()
                if verdict is None:
                    raise BisectRunnerError("the search strategy stopped without a verdict (a bug; please report it)")
                return verdict
            probes = self._within_budget(probes[: len(self.slots)], phase, deployed)
            if not probes:
                return self._budget_verdict(phase)
            self._run_round(phase, strategy, probes)

    def _within_budget(self, probes: list[Probe], phase: _Phase, deployed: frozenset[int]) -> list[Probe]:
        """The runner enforces --max-deploys itself, whatever the strategy does with it."""
        budget = self.options.strategy.max_deploys
        if budget is None:
            return probes
        left = budget - self.report.deploys
        kept = []
        for probe in probes:
            if probe.position in deployed:
                kept.append(probe)
            elif left > 0:
                kept.append(probe)
                left -= 1
        return kept

    def _budget_verdict(self, phase: _Phase) -> Verdict:
        """The deploy budget ran out before the strategy decided: report what the judged steps
        pin down (everything after the last good commit up to the first bad one)."""
        judged = {phase.index[s.sha]: s.verdict for s in self.report.steps if s.sha in phase.index}
        good = max((p for p, v in judged.items() if v in ("good", "same")), default=0)
        bad = min((p for p, v in judged.items() if v in ("bad", "different") and p > good), default=phase.n)
        self.report.notes.append(f"the deploy budget (--max-deploys {self.options.strategy.max_deploys}) ran out "
                                 "before the search finished")
        candidates = tuple(range(good + 1, bad + 1))
        if len(candidates) == 1 and self.options.kind == "deterministic":
            return Verdict("found", candidates[0], candidates, 1.0)
        return Verdict("ambiguous", None, candidates, 0.0)

    def _run_round(self, phase: _Phase, strategy: Strategy, probes: list[Probe]) -> None:
        self.round += 1
        assignments = self._assign(phase, probes)
        described = []
        for probe, slot in assignments:
            sha = phase.shas[probe.position]
            needs_deploy = not (slot.sha == sha and slot.deployed)
            if slot.sha != sha:
                slot.release()
                stack = ExitStack()
                slot.worktree = stack.enter_context(self.repo.worktree(sha))
                slot.stack, slot.sha = stack, sha
            described.append(f"{sha[:10]} on {slot.deployer.name}" + ("" if needs_deploy else " (already deployed)"))
            self.workers.start(self._probe_on_slot, probe, slot, sha, needs_deploy)
        self.log(f"bisect: round {self.round}: " + ", ".join(described))
        for _ in assignments:
            self._take(phase, strategy, self.workers.next_result())
        if self.on_progress is not None:
            self.on_progress(copy.deepcopy(self.report))  # a snapshot: the loop keeps mutating its own

    def _assign(self, phase: _Phase, probes: list[Probe]) -> list[tuple[Probe, _Slot]]:
        """Probes to slots: a slot already holding the commit takes it (no redeploy); an endpoint
        that failed to deploy goes to a slot it has not failed on; the rest take free slots whose
        commit no other probe of this round wants."""
        free = list(self.slots)
        wanted = {phase.shas[p.position] for p in probes}
        result: list[tuple[Probe, _Slot]] = []
        rest: list[Probe] = []
        for probe in probes:
            sha = phase.shas[probe.position]
            holder = next((s for s in free if s.sha == sha and s.deployed), None)
            if holder is None:
                rest.append(probe)
                continue
            free.remove(holder)
            result.append((probe, holder))
        for probe in rest:
            if not free:
                break
            sha = phase.shas[probe.position]
            failed = self.endpoint_failures.get((phase.name, sha), set())
            ranked = sorted(free, key=lambda s: (s.deployer.name in failed, s.sha in wanted))
            slot = ranked[0]
            free.remove(slot)
            result.append((probe, slot))
        return result

    def _probe_on_slot(self, probe: Probe, slot: _Slot, sha: str, needs_deploy: bool) -> _ProbeOutcome:
        """Runs in a worker thread: deploy (when the slot does not hold `sha`), then test."""
        assert slot.worktree is not None
        deploy: DeployResult | None = None
        if needs_deploy:
            slot.deployed = False
            deploy = slot.deployer.deploy(sha, slot.worktree)
            if not deploy.ok:
                observation = Observation(position=probe.position, skipped=True,
                                          detail=f"could not deploy to {slot.deployer.name}: {deploy.detail}")
                return _ProbeOutcome(probe, slot, sha, observation, True, deploy)
            slot.deployed = True
        observation = self.prober.probe(sha, slot.worktree, slot.deployer, probe.runs, self.stop)
        return _ProbeOutcome(probe, slot, sha, dataclasses.replace(observation, position=probe.position),
                             needs_deploy, deploy)

    def _take(self, phase: _Phase, strategy: Strategy, outcome: _ProbeOutcome) -> None:
        """Save one result, then let the strategy judge it (in that order: a crash between the
        two replays the result instead of losing it)."""
        observation = outcome.observation
        position = observation.position
        counts_deploy = outcome.deployed and not isinstance(outcome.slot.deployer, slot_commands.NoDeploy)
        if counts_deploy:
            self.report.deploys += 1
        self.report.smoke_runs += observation.runs
        self.report.rounds = self.round
        is_endpoint = position in (0, phase.n)
        if observation.skipped and is_endpoint:
            judgement = StepJudgement(position, "skip")
            saved = self._save(phase, outcome, judgement, counts_deploy)
            self._add_step(phase, saved, judgement)
            self._endpoint_skipped(phase, outcome)
            return
        try:
            judgement = strategy.record(observation)
        except EndpointMismatch as exc:
            judgement = StepJudgement(position, "bad" if exc.expected == "good" else "good")
            saved = self._save(phase, outcome, judgement, counts_deploy)
            self._add_step(phase, saved, judgement)
            raise _PhaseMismatch(exc, observation) from None
        saved = self._save(phase, outcome, judgement, counts_deploy)
        self._add_step(phase, saved, judgement)

    def _save(self, phase: _Phase, outcome: _ProbeOutcome, judgement: StepJudgement,
              counts_deploy: bool) -> SavedObservation:
        o = outcome.observation
        saved = SavedObservation(
            phase=phase.name, sha=outcome.sha, slot=outcome.slot.deployer.name, runs=o.runs, failures=o.failures,
            skipped=o.skipped, latencies_ms=o.latencies_ms, detail=o.detail, verdict=judgement.verdict,
            deployed=counts_deploy, round=self.round, median_ms=_median(judgement, o), p_value=judgement.p_value,
        )
        self.state.append(saved)
        return saved

    def _endpoint_skipped(self, phase: _Phase, outcome: _ProbeOutcome) -> None:
        key = (phase.name, outcome.sha)
        failed = self.endpoint_failures.setdefault(key, set())
        failed.add(outcome.slot.deployer.name)
        attempts = self.endpoint_attempts[key] = self.endpoint_attempts.get(key, 0) + 1
        if len(failed) < len(self.slots) and attempts <= len(self.slots):
            return  # try the endpoint again on another slot
        label = phase.good_label if outcome.observation.position == 0 else phase.bad_label
        detail = outcome.observation.detail
        if phase.name != MERGE_PHASE:
            raise _PhaseMismatch(EndpointMismatch(outcome.observation.position,
                                                  "good" if outcome.observation.position == 0 else "bad", detail),
                                 outcome.observation)
        slots = ", ".join(sorted(failed))
        raise UserError(f"{label} ({outcome.sha[:10]}) could not be tested on any slot ({slots}): {detail}; "
                        "the bisect needs both ends: fix the deploy (or test) command and run again")

    def _record(self, strategy: Strategy, observation: Observation) -> StepJudgement:
        try:
            return strategy.record(observation)
        except EndpointMismatch as exc:
            raise _PhaseMismatch(exc, observation) from None

    def _add_step(self, phase: _Phase, saved: SavedObservation, judgement: StepJudgement, *,
                  resumed: bool = False) -> None:
        step = StepRecord(
            sha=saved.sha, slot=saved.slot, verdict=judgement.verdict, runs=saved.runs, failures=saved.failures,
            median_ms=judgement.median_ms if judgement.median_ms is not None else saved.median_ms,
            p_value=judgement.p_value if judgement.p_value is not None else saved.p_value,
            subject=self.commits[saved.sha].subject if saved.sha in self.commits else "",
            phase=MERGE_PHASE if phase.name == MERGE_PHASE else "drill-down", round=saved.round,
            deployed=saved.deployed, resumed=resumed, detail=saved.detail,
        )
        self.report.steps.append(step)
        self.log(step_progress(step, len(self.report.steps)))
        self._write_replay_log()

    # results ------------------------------------------------------------------------------------

    def _conclude(self, phase: _Phase, verdict: Verdict) -> None:
        report = self.report
        report.status = verdict.status
        report.confidence = verdict.confidence
        if verdict.status == "found" and verdict.culprit is not None:
            sha = phase.shas[verdict.culprit]
            report.culprit = self._culprit_info(sha, pr=self.commits[sha].pr_number, merge_sha=None)
            report.candidates = [sha]
            self.log(f"bisect: first bad {'merge' if self.commits[sha].is_merge else 'commit'}: "
                     f"{sha[:10]} {self.commits[sha].subject}")
        else:
            report.culprit = None
            report.candidates = [phase.shas[p] for p in verdict.candidates]
            if verdict.status == "ambiguous":
                report.notes.append(verdict.note or "only skipped commits separate the last good from the first "
                                    "bad commit; one of the candidates is the culprit")
            elif verdict.status == "no-culprit":
                report.notes.append(f"{self.options.bad_ref} did not fail reliably enough to blame a commit")

    def _culprit_info(self, sha: str, *, pr: int | None, merge_sha: str | None) -> CulpritInfo:
        commit = self.commits.get(sha) or self.repo.commit(sha)
        change = self.repo.change(sha)
        info = CulpritInfo(sha=sha, subject=commit.subject, author=commit.author_name, pr=pr,
                           files=[f.path for f in change.files], merge_sha=merge_sha)
        _add_risk(info, change, self.options.risk)
        return info

    def _mismatch_error(self, phase: _Phase, exc: _PhaseMismatch) -> UserError:
        observation, mismatch = exc.observation, exc.mismatch
        sha = phase.shas[mismatch.position] if 0 <= mismatch.position < len(phase.shas) else "?"
        kind = self.options.kind
        if mismatch.expected == "good":
            label, fix = phase.good_label, "pass a --good commit that passes"
            what = f"does not pass {self.prober.what}" if kind == "latency" else f"fails {self.prober.what}"
        else:
            label = phase.bad_label
            fix = "pass a --bad commit that is slow" if kind == "latency" else "pass a --bad commit that fails"
            what = "is not slower than the good ref" if kind == "latency" else f"passes {self.prober.what}"
        runs = ""
        if kind == "deterministic" and observation.runs:
            if mismatch.expected == "good":
                runs = f" ({observation.failures} of {plural(observation.runs, 'run')} failed)"
            else:
                runs = f" ({observation.runs - observation.failures} of {plural(observation.runs, 'run')} passed)"
        # The strategy's detail counts every run so far (flaky, latency); ours names the failure.
        details = [] if kind == "deterministic" else [mismatch.detail]
        if mismatch.expected == "good" or kind == "deterministic":
            details.append(observation.detail)
        why = "; ".join(d for d in details if d)
        return UserError(f"{label} ({sha[:10]}) {what}{runs}{': ' + why if why else ''}; {fix}")

    def _write_replay_log(self) -> None:
        culprit = self.report.culprit
        subjects = {sha: c.subject for sha, c in self.commits.items()}
        steps = [(s.sha, s.verdict) for s in self.report.steps]
        lines = replay_log_lines(good=self.report.good, bad=self.report.bad, subjects=subjects, first_parent=True,
                                 steps=steps, first_bad=culprit.sha if culprit and self.report.finished else None,
                                 note=f"bisect-runner {self.options.kind} bisect of "
                                      f"{self.options.good_ref}..{self.options.bad_ref}")
        self.state.write_replay_log(lines)


def _observation(saved: SavedObservation, position: int) -> Observation:
    return Observation(position=position, runs=saved.runs, failures=saved.failures, skipped=saved.skipped,
                       latencies_ms=saved.latencies_ms, detail=saved.detail)


def _median(judgement: StepJudgement, observation: Observation) -> float | None:
    if judgement.median_ms is not None:
        return judgement.median_ms
    if observation.latencies_ms:
        return round(statistics.median(observation.latencies_ms), 3)
    return None


def _add_risk(info: CulpritInfo, change: Change, config: RiskConfig | None) -> None:
    """The culprit's risk score and reasons, as `bisect-runner risk` would explain them."""
    from bisect_runner.risk import build_rules, score_change

    config = config or RiskConfig()
    item = score_change(change, build_rules(config), thresholds=config.thresholds,
                        huge_change_lines=config.huge_change_lines)
    info.risk_score, info.risk_level, info.risk_reasons = round(item.score, 1), item.level, list(item.reasons)


def _default_factory(kind: str, n: int, options: StrategyOptions) -> Strategy:
    strategies = importlib.import_module("bisect_runner.bisect.strategies")
    return typing.cast(Strategy, strategies.make_strategy(kind, n, options))


def run_bisect(repo: GitRepo, options: BisectOptions, deployers: Sequence[Deployer], prober: Prober, *,
               strategy_factory: StrategyFactory | None = None, on_progress: ProgressCallback | None = None,
               log: Callable[[str], None] | None = render.progress) -> BisectReport:
    """Bisect options.good_ref..options.bad_ref on `deployers` (one per staging slot), testing
    each commit with `prober`. `on_progress` gets the report so far after every round (status
    "running"); `log` gets one line per step (default: stderr). Raises UserError for a wrong
    premise (good fails, bad passes, an endpoint cannot be deployed, good not an ancestor of
    bad) and KeyboardInterrupt after cleaning up; the state file keeps what was learned."""
    return BisectRun(repo, options, deployers, prober, strategy_factory=strategy_factory,
                     on_progress=on_progress, log=log).run()
