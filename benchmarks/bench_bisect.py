"""Benchmark: our bisect strategies against `git bisect run`, on the same simulated service.

For N candidates in 16, 64, 256, 1024 and three scenarios:
  - deterministic: commits at or after the culprit always fail the smoke test;
  - flaky: every smoke run fails with 5% noise, and 50% of runs fail after the culprit;
  - latency: commits after the culprit answer 30% slower (lognormal jitter 15%); our latency
    strategy compares samples by Mann-Whitney U, git bisect run gets a threshold smoke check.
Accuracy is over seeded trials (culprit drawn uniformly), deploys are the commits deployed,
smoke runs the checks executed. `git bisect run` runs on a real linear repository of N+1 commits
(built with git fast-import), with a run script that answers exactly as the simulated service.
A second table shows rounds with 1, 3 and 7 staging slots against ceil(log_(K+1) N).

Usage: python benchmarks/bench_bisect.py [--quick] [--trials T] [--git-trials G]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.simulate import Service, run_trial  # noqa: E402
from bisect_runner.bisect.model import StrategyOptions  # noqa: E402

SCENARIOS = {
    "deterministic": dict(flake=0.0, fail_bad=1.0),
    "flaky": dict(flake=0.05, fail_bad=0.5),
    "latency": dict(base_ms=100.0, slow_ms=130.0, jitter=0.15),
}
LATENCY_THRESHOLD_MS = 115.0  # the smoke check git bisect run gets: max_latency_ms

RUN_SCRIPT = r"""#!/bin/sh
i=$(cat idx)
k=$(($(cat "$BENCH_STATE/count" 2>/dev/null || echo 0) + 1))
echo "$k" > "$BENCH_STATE/count"
exec awk -v i="$i" -v c="$CULPRIT" -v s="$SEED" -v k="$k" -v mode="$MODE" -v flake="$FLAKE" \
  -v failbad="$FAILBAD" -v thr="$THRESHOLD" 'BEGIN {
  srand(s * 7919 + k * 104729 + i);
  bad = (i + 0 >= c + 0);
  if (mode == "latency") {
    centre = bad ? 130.0 : 100.0;
    u1 = rand(); if (u1 < 1e-12) u1 = 1e-12; u2 = rand();
    z = sqrt(-2 * log(u1)) * cos(6.283185307179586 * u2);
    exit (centre * exp(0.15 * z) > thr) ? 1 : 0;
  }
  p = bad ? failbad : flake;
  exit (rand() < p) ? 1 : 0;
}'
"""


def build_linear_repo(path: Path, n: int) -> None:
    """Commits 0..n on main, each with a file `idx` holding its position."""
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    out = []
    for i in range(n + 1):
        data = f"{i}\n".encode()
        msg = f"commit {i}".encode()
        out.append(f"commit refs/heads/main\nmark :{i + 1}\n"
                   f"committer Bench <b@example.com> {1_700_000_000 + i} +0000\ndata {len(msg)}\n".encode())
        out.append(msg + b"\n")
        if i:
            out.append(f"from :{i}\n".encode())
        out.append(f"M 100644 inline idx\ndata {len(data)}\n".encode() + data + b"\n\n")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=b"".join(out), check=True)
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=path, check=True)
    (path / ".git" / "run.sh").write_text(RUN_SCRIPT)
    os.chmod(path / ".git" / "run.sh", 0o755)


def git_bisect_trial(repo: Path, n: int, culprit: int, seed: int, scenario: str) -> tuple[bool, int]:
    """(right, steps) of one `git bisect run` with the scenario's simulated smoke test."""
    state = Path(tempfile.mkdtemp(prefix="bench-state-"))
    cfg = SCENARIOS[scenario]
    env = {**os.environ, "BENCH_STATE": str(state), "CULPRIT": str(culprit), "SEED": str(seed),
           "MODE": scenario, "FLAKE": str(cfg.get("flake", 0.0)), "FAILBAD": str(cfg.get("fail_bad", 1.0)),
           "THRESHOLD": str(LATENCY_THRESHOLD_MS), "GIT_CONFIG_NOSYSTEM": "1"}
    git = ["git", "-c", "advice.detachedHead=false"]
    subprocess.run([*git, "bisect", "start", "main", "main~" + str(n)], cwd=repo, env=env, check=True,
                   capture_output=True)
    result = subprocess.run([*git, "bisect", "run", str(repo / ".git" / "run.sh")], cwd=repo, env=env,
                            capture_output=True, text=True)
    found = None
    for line in result.stdout.splitlines():
        if line.endswith("is the first bad commit"):
            sha = line.split()[0]
            found = int(subprocess.run(["git", "show", f"{sha}:idx"], cwd=repo, capture_output=True,
                                       text=True).stdout.strip())
    subprocess.run([*git, "bisect", "reset", "-q"], cwd=repo, env=env, capture_output=True)
    steps = int((state / "count").read_text()) if (state / "count").exists() else 0
    return found == culprit, steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer trials and N up to 256 (under a minute)")
    parser.add_argument("--trials", type=int, help="seeded trials per cell for our strategies (default 100)")
    parser.add_argument("--git-trials", type=int, help="trials per cell for git bisect run (default 100)")
    args = parser.parse_args()
    sizes = [16, 64, 256] if args.quick else [16, 64, 256, 1024]
    trials = args.trials or (30 if args.quick else 100)
    git_trials = args.git_trials or (10 if args.quick else 100)
    workdir = Path(tempfile.mkdtemp(prefix="bench-bisect-"))
    started = time.perf_counter()

    print("Our deploys include the two endpoint checks (good passes, bad fails); git bisect run trusts them.")
    print(f"Accuracy and cost: ours over {trials} seeded trials, git bisect run over {git_trials} "
          f"(simulated service; culprit uniform in 1..N)")
    header = (f"{'N':>5} {'scenario':<13} {'ours right':>10} {'deploys':>8} {'smoke runs':>10} "
              f"{'git right':>9} {'git steps':>9} {'log2 N':>6}")
    print(header)
    print("-" * len(header))
    for n in sizes:
        repo = workdir / f"linear-{n}"
        build_linear_repo(repo, n)
        for scenario, cfg in SCENARIOS.items():
            kind = "latency" if scenario == "latency" else ("flaky" if scenario == "flaky" else "deterministic")
            right = deploys = runs = 0
            for seed in range(trials):
                rng = random.Random(seed)
                culprit = rng.randint(1, n)
                trial = run_trial(kind, Service(n, culprit, rng=rng, **cfg))  # type: ignore[arg-type]
                right += trial.status == "found" and trial.culprit == culprit
                deploys += trial.deploys
                runs += trial.smoke_runs
            g_right = g_steps = 0
            for seed in range(git_trials):
                culprit = random.Random(seed).randint(1, n)
                ok, steps = git_bisect_trial(repo, n, culprit, seed, scenario)
                g_right += ok
                g_steps += steps
            print(f"{n:>5} {scenario:<13} {right / trials:>10.1%} {deploys / trials:>8.1f} {runs / trials:>10.1f} "
                  f"{g_right / git_trials:>9.1%} {g_steps / git_trials:>9.1f} {math.ceil(math.log2(n)):>6}")

    print()
    print(f"Rounds with K staging slots (deterministic, {trials} trials): mean and worst against "
          "ceil(log_(K+1) N) + the endpoint round(s)")
    header = (f"{'N':>5} {'K':>2} {'mean rounds':>11} {'max rounds':>10} {'ceil(log_(K+1) N)':>17} "
              f"{'+endpoints':>10} {'mean deploys':>12}")
    print(header)
    print("-" * len(header))
    for n in sizes:
        for k in (1, 3, 7):
            rounds = []
            deploys = 0
            for seed in range(trials):
                rng = random.Random(seed)
                culprit = rng.randint(1, n)
                trial = run_trial("deterministic", Service(n, culprit, rng=rng), slots=k, options=StrategyOptions())
                rounds.append(trial.rounds)
                deploys += trial.deploys
            search = math.ceil(round(math.log(n) / math.log(k + 1), 9))
            bound = search + math.ceil(2 / k)  # + the endpoint round(s): two with one slot
            print(f"{n:>5} {k:>2} {sum(rounds) / trials:>11.2f} {max(rounds):>10} {search:>17} {bound:>10} "
                  f"{deploys / trials:>12.1f}")
    print(f"\n(total {time.perf_counter() - started:.0f}s; aim: deterministic at the log2 limit, flaky >= 99% right "
          "with mean deploys within 2x log2 N)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
