"""Benchmark: `bisect-runner risk` against `git log --first-parent -m --numstat` on the same range.

Builds (once, with git fast-import) a repository whose release range holds 2,000 first-parent
commits (PR merges, squash commits and direct pushes) touching thousands of files, then times, best
of N runs each, in the same process and on the same range:
  - git's own history read: git log --first-parent -m --numstat A..B
  - our history read alone: GitRepo.first_parent_changes (one git process, parsed)
  - the ranking in process: risk.assess_range (read + score; scoring overlaps git's diffing)
  - the whole command: bisect-runner risk --format json (a subprocess, with Python start-up)
Each row shows wall-clock and CPU seconds (this process plus its children) and both ratios to git.
Usage: python benchmarks/bench_risk.py [--commits 2000] [--files 6000] [--runs 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DIRS = ["shop/orders", "shop/payments", "shop/orders/migrations", "api/v1", "integrations/stripe",
        "web/static", "web/templates", "docs", "tests/unit", "deploy/k8s", "config", "lib/util"]
EXTS = {"web/static": ".css", "web/templates": ".html", "docs": ".md", "deploy/k8s": ".yaml",
        "config": ".yml"}


def build_repo(path: Path, commits: int, files: int, seed: int = 7) -> None:
    """A repo with tag v1 (a base commit with `files` files) and v2, `commits` first-parent commits later."""
    rng = random.Random(seed)
    names = []
    for i in range(files):
        folder = DIRS[i % len(DIRS)]
        names.append(f"{folder}/f{i:05d}{EXTS.get(folder, '.py')}")
    contents: dict[str, list[str]] = {n: [f"line {j}" for j in range(20)] for n in names}
    path.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    out: list[bytes] = []
    mark = 0
    stamp = 1_700_000_000

    def blob_commit(ref: str, message: str, changed: list[str], parents: list[int]) -> int:
        nonlocal mark, stamp
        mark += 1
        stamp += 60
        msg = message.encode()
        lines = [f"commit {ref}", f"mark :{mark}", f"author Dev <dev@example.com> {stamp} +0000",
                 f"committer Dev <dev@example.com> {stamp} +0000", f"data {len(msg)}"]
        out.append("\n".join(lines).encode() + b"\n" + msg + b"\n")
        if parents:
            out.append(f"from :{parents[0]}\n".encode())
            for extra in parents[1:]:
                out.append(f"merge :{extra}\n".encode())
        for name in changed:
            data = ("\n".join(contents[name]) + "\n").encode()
            out.append(f"M 100644 inline {name}\ndata {len(data)}\n".encode() + data + b"\n")
        out.append(b"\n")
        return mark

    base = blob_commit("refs/heads/main", "Initial import", names, [])
    out.append(f"reset refs/tags/v1\nfrom :{base}\n\n".encode())
    head = base
    for i in range(commits):
        touched = rng.sample(names, rng.choice([1, 2, 3, 5, 8, 13]))
        for name in touched:
            body = contents[name]
            for _ in range(rng.randint(1, 6)):
                body.insert(rng.randrange(len(body) + 1), f"change {i} {rng.random():.6f}")
            if len(body) > 30 and rng.random() < 0.5:
                del body[rng.randrange(len(body))]
        kind = i % 3
        if kind == 0:  # a PR merged with a merge commit
            side = blob_commit("refs/heads/pr", f"Work for PR #{1000 + i}", touched, [head])
            head = blob_commit("refs/heads/main", f"Merge pull request #{1000 + i} from acme/pr-{i}\n\nPR {i}",
                               [], [head, side])
        elif kind == 1:  # a squash-merged PR
            head = blob_commit("refs/heads/main", f"Change number {i} (#{1000 + i})", touched, [head])
        else:
            head = blob_commit("refs/heads/main", f"Direct push {i}", touched, [head])
    out.append(f"reset refs/tags/v2\nfrom :{head}\n\n".encode())
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=b"".join(out), check=True)
    subprocess.run(["git", "checkout", "-q", "main"], cwd=path, check=True)


def _cpu() -> float:
    """CPU seconds of this process and its finished children (git, the CLI subprocess)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def best_of(runs: int, fn: object) -> tuple[float, float]:
    """Best wall-clock and best CPU seconds over `runs`: wall time is what a user waits for; CPU
    time stays comparable when other jobs load the machine (wall ratios then swing widely)."""
    walls, cpus = [], []
    for _ in range(runs):
        cpu, start = _cpu(), time.perf_counter()
        fn()  # type: ignore[operator]
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
    return min(walls), min(cpus)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--files", type=int, default=6000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()

    workdir = args.workdir or Path(tempfile.gettempdir()) / "bisect-runner-bench-risk"
    repo = workdir / f"repo-{args.commits}-{args.files}"
    if not (repo / ".git").exists():
        started = time.perf_counter()
        build_repo(repo, args.commits, args.files)
        print(f"built {repo} in {time.perf_counter() - started:.1f}s", file=sys.stderr)

    from bisect_runner.gitrepo import GitRepo

    git_cmd = ["git", "log", "--first-parent", "-m", "--numstat", "v1..v2"]
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1"}
    t_git = best_of(args.runs, lambda: subprocess.run(git_cmd, cwd=repo, check=True, capture_output=True))
    gr = GitRepo(repo)
    base, head = gr.resolve("v1"), gr.resolve("v2")
    changes = gr.first_parent_changes(base, head)
    rows = [("git log --first-parent -m --numstat", t_git),
            ("GitRepo.first_parent_changes (our history read)",
             best_of(args.runs, lambda: gr.first_parent_changes(base, head)))]

    risk_cmd = [sys.executable, "-m", "bisect_runner", "risk", "--repo", str(repo), "--base", "v1",
                "--head", "v2", "--format", "json", "--output", os.devnull]
    probe = subprocess.run(risk_cmd, capture_output=True, text=True, env=env)
    if probe.returncode == 0:
        from bisect_runner.config import RiskConfig
        from bisect_runner.risk import assess_range

        rows.append(("risk.assess_range (in process: read + score)",
                     best_of(args.runs, lambda: assess_range(gr, "v1", "v2", RiskConfig()))))
        rows.append(("bisect-runner risk (CLI, incl. Python start-up)",
                     best_of(args.runs, lambda: subprocess.run(risk_cmd, check=True, capture_output=True, env=env))))
    else:
        print(f"risk command unavailable: {probe.stderr.strip()[-200:]}", file=sys.stderr)

    files_touched = sum(len(c.files) for c in changes)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"range v1..v2: {len(changes)} first-parent commits, {files_touched} file changes; best of {args.runs}; "
          f"load average {load} on {os.cpu_count()} CPUs")
    print(f"{'what':<50} {'wall s':>7} {'x git':>6} {'cpu s':>7} {'x git':>6}")
    print("-" * 80)
    for name, (wall, cpu) in rows:
        print(f"{name:<50} {wall:>7.3f} {wall / t_git[0]:>6.2f} {cpu:>7.3f} {cpu / t_git[1]:>6.2f}")
    print("aim: within 1.5x of git's own time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
