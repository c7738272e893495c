"""`bisect-runner smoke FILE`: run a smoke spec alone (the same checks bisect runs per commit)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from bisect_runner.cli import EXIT_FAILED, EXIT_OK, Context, add_subcommand, positive_int

DESCRIPTION = """\
Run every check of a smoke spec (YAML) against a base URL, --repeat N times.

Exit codes: 0 every run passed; 1 a check failed (staging unreachable counts as a failed
check, with the reason); 2 the spec is invalid (the message names file:line:key) or a
${VAR} it uses is not set.

Spec:
  base_url: ${STAGING_URL}
  defaults: {timeout_s: 5, headers: {X-Smoke-Test: "1"}}
  checks:
    - name: checkout
      request: {method: POST, path: /api/checkout, json: {card: "4242", amount: 100}}
      expect: {status: [200, 201], body_contains: order_id, max_latency_ms: 800, json: {status: ok}}

request: method, path, json, body, headers, params. expect: status (a number or a list;
default any status below 400), body_contains (a string or a list), max_latency_ms, json (a
subset the response must contain), headers (name -> substring of the value).
"""


def register(subparsers: Any, common: argparse.ArgumentParser) -> None:
    sub = add_subcommand(subparsers, common, "smoke", "run a smoke spec against staging", handle,
                         description=DESCRIPTION)
    sub.add_argument("spec", metavar="FILE", help="smoke spec (YAML)")
    sub.add_argument("--base-url", metavar="URL", help="URL to test (default: the spec's base_url)")
    sub.add_argument("--repeat", type=positive_int, default=1, metavar="N",
                     help="run the whole spec N times; passes only when every run passes (default 1)")
    sub.add_argument("--junit", metavar="FILE", help="also write JUnit XML here (one testcase per check per run)")


def handle(args: argparse.Namespace, ctx: Context) -> int:
    from bisect_runner import smoke

    provided = {"STAGING_URL"} if args.base_url else set()
    spec = smoke.load_spec(Path(args.spec), provided=provided)
    if args.base_url:
        spec.base_url = args.base_url
    spec = smoke.expand(spec, dict(os.environ))
    report = smoke.run_smoke(spec, base_url=args.base_url, repeat=args.repeat)
    if args.junit:
        junit = Path(args.junit)
        junit.parent.mkdir(parents=True, exist_ok=True)
        junit.write_text(smoke.junit_xml(report), encoding="utf-8")
    ctx.emit(report)
    return EXIT_OK if report.passed else EXIT_FAILED
