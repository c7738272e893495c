"""Build the demo service repository: a tiny shop with releases v2.45.0 and v2.46.0.

The new release holds eight pull requests. PR #42 ("Store the order currency") adds a database
migration and, in its second commit, makes the payment charge read a currency the checkout
request does not send: POST /api/checkout answers 500 from then on. That is the incident.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

APP = '''\
"""The demo shop: a stdlib HTTP service (so the demo needs nothing installed)."""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from shop.payments.charge import charge
from shop.cart import cart_total

VERSION = open(os.path.join(os.path.dirname(__file__), "VERSION")).read().strip()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _send(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/health":
            return self._send(200, {"status": "ok", "version": VERSION})
        if self.path == "/api/cart":
            return self._send(200, {"status": "ok", "total": cart_total([100, 250])})
        return self._send(404, {"error": "not found"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        if self.path == "/api/checkout":
            try:
                receipt = charge(request)
            except Exception as exc:
                print(f"ERROR checkout failed: {exc!r}", file=sys.stderr)
                return self._send(500, {"status": "error", "error": type(exc).__name__})
            return self._send(201, {"status": "ok", "order_id": receipt["order_id"]})
        return self._send(404, {"error": "not found"})


def main():
    port = int(os.environ.get("PORT", "8080"))
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.serve_forever()


if __name__ == "__main__":
    main()
'''

CHARGE_V1 = '''\
"""Charge a card through the payment provider."""
import itertools

_orders = itertools.count(1000)


def charge(request):
    amount = int(request["amount"])
    if amount <= 0:
        raise ValueError("amount must be positive")
    return {"order_id": f"ord_{next(_orders)}", "amount": amount}
'''

CHARGE_CURRENCY = '''\
"""Charge a card through the payment provider."""
import itertools

_orders = itertools.count(1000)


def charge(request):
    amount = int(request["amount"])
    if amount <= 0:
        raise ValueError("amount must be positive")
    currency = request["currency"].upper()
    return {"order_id": f"ord_{next(_orders)}", "amount": amount, "currency": currency}
'''

CART = '''\
def cart_total(prices):
    return sum(prices)
'''

MIGRATION = '''\
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("orders", "0041_order_notes")]

    operations = [
        migrations.AddField("order", "currency", models.CharField(max_length=3, default="USD")),
    ]
'''

STRIPE_WEBHOOK = '''\
"""Stripe webhook handling with retries."""
import time

MAX_RETRIES = 3


def handle(event, deliver):
    for attempt in range(MAX_RETRIES):
        try:
            return deliver(event)
        except ConnectionError:
            time.sleep(0.1 * 2 ** attempt)
    raise RuntimeError("stripe webhook delivery failed")
'''

SMOKE = '''\
# Smoke tests for the demo shop, run against each staging deploy.
base_url: ${STAGING_URL}
defaults: {timeout_s: 5, headers: {X-Smoke-Test: "1"}}
checks:
  - name: health
    request: {method: GET, path: /health}
    expect: {status: 200, json: {status: ok}}
  - name: checkout
    request: {method: POST, path: /api/checkout, json: {card: "4242", amount: 100}}
    expect: {status: [200, 201], body_contains: order_id, max_latency_ms: 2000, json: {status: ok}}
'''

ERROR_LOG = '''\
2026-11-28T14:46:58Z ERROR checkout failed for order request 7f3a
Traceback (most recent call last):
  File "/srv/app/shop/app.py", line 38, in do_POST
    receipt = charge(request)
  File "/srv/app/shop/payments/charge.py", line 11, in charge
    currency = request["currency"].upper()
KeyError: 'currency'
'''


@dataclass(frozen=True)
class DemoRepo:
    path: Path
    old_release: str
    new_release: str
    culprit_pr: int
    smoke_spec: Path
    error_log: Path
    release_time: datetime  # when v2.46.0 was deployed in the story


def _git(path: Path, *args: str, when: datetime | None = None, author: str = "Dana Ops") -> str:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_AUTHOR_NAME": author,
           "GIT_AUTHOR_EMAIL": f"{author.split()[0].lower()}@shop.example", "GIT_COMMITTER_NAME": "GitHub",
           "GIT_COMMITTER_EMAIL": "noreply@github.com"}
    if when is not None:
        stamp = when.strftime("%Y-%m-%dT%H:%M:%SZ")
        env["GIT_AUTHOR_DATE"] = stamp
        env["GIT_COMMITTER_DATE"] = stamp
    result = subprocess.run(["git", *args], cwd=path, env=env, capture_output=True, text=True, check=True)
    return result.stdout.strip()


def _write(root: Path, files: Mapping[str, str]) -> None:
    for name, content in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)


def build_demo_repo(path: Path, now: datetime | None = None) -> DemoRepo:
    """Create the demo repository at `path` (which must not exist yet)."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    path.mkdir(parents=True)
    clock = now - timedelta(days=3)

    def tick(minutes: int = 17) -> datetime:
        nonlocal clock
        clock += timedelta(minutes=minutes)
        return clock

    _git(path, "init", "-q", "-b", "main")
    _git(path, "config", "user.name", "Dana Ops")
    _git(path, "config", "user.email", "dana@shop.example")
    _git(path, "config", "commit.gpgsign", "false")

    def commit(message: str, files: Mapping[str, str], author: str = "Dana Ops") -> None:
        _write(path, files)
        _git(path, "add", "-A")
        _git(path, "commit", "-q", "-m", message, when=tick(), author=author)

    def merge_pr(number: int, branch: str, title: str, author: str,
                 commits: list[tuple[str, Mapping[str, str]]]) -> None:
        _git(path, "checkout", "-q", "-b", branch)
        for message, files in commits:
            commit(message, files, author=author)
        _git(path, "checkout", "-q", "main")
        _git(path, "merge", "-q", "--no-ff", branch, "-m",
             f"Merge pull request #{number} from shop/{branch}\n\n{title}", when=tick(), author=author)

    commit("Initial shop service", {
        "shop/__init__.py": "", "shop/payments/__init__.py": "", "shop/app.py": APP, "shop/VERSION": "2.44.0\n",
        "shop/payments/charge.py": CHARGE_V1, "shop/cart.py": CART, "requirements.txt": "requests==2.31.0\n",
        "README.md": "# shop\n\nThe demo shop service.\n", "smoke/checkout.yml": SMOKE,
        "shop/orders/migrations/0041_order_notes.py": "# notes field\n",
        "shop/templates/cart.html": "<h1>Your cart</h1>\n",
    })
    commit("Release 2.45.0", {"shop/VERSION": "2.45.0\n"})
    _git(path, "tag", "v2.45.0")

    merge_pr(37, "cart-copy", "Clearer copy on the cart page", "Ana Lee",
             [("Reword cart heading", {"shop/templates/cart.html": "<h1>Review your cart</h1>\n"})])
    merge_pr(38, "bump-requests", "Bump requests to 2.32.3", "Dependabot",
             [("Bump requests from 2.31.0 to 2.32.3", {"requirements.txt": "requests==2.32.3\n"})])
    merge_pr(39, "stripe-retries", "Retry Stripe webhook deliveries", "Sam Park", [
        ("Add Stripe webhook handler with retries", {
            "shop/integrations/__init__.py": "", "shop/integrations/stripe/__init__.py": "",
            "shop/integrations/stripe/webhooks.py": STRIPE_WEBHOOK}),
    ])
    merge_pr(40, "runbook", "Checkout runbook", "Ana Lee",
             [("Add checkout runbook", {"docs/runbooks/checkout.md": "# Checkout runbook\n\n1. Check /health.\n"})])
    merge_pr(41, "cart-tests", "Tests for cart totals", "Kim Cho", [
        ("Test cart totals", {"tests/test_cart.py":
                              "from shop.cart import cart_total\n\n\ndef test_total():\n"
                              "    assert cart_total([1, 2]) == 3\n"}),
    ])
    merge_pr(42, "order-currency", "Store the order currency", "Lee Novak", [
        ("Add currency column to orders", {"shop/orders/migrations/0042_order_currency.py": MIGRATION}),
        ("Charge in the order currency", {"shop/payments/charge.py": CHARGE_CURRENCY}),
        ("Document the currency field", {"docs/orders.md": "Orders carry an ISO 4217 currency.\n"}),
    ])
    merge_pr(43, "flag-new-button", "Feature flag for the new checkout button", "Sam Park",
             [("Add new_checkout_button flag", {"config/flags.yml": "new_checkout_button: false\n"})])
    merge_pr(44, "cart-style", "Cart page spacing", "Ana Lee",
             [("Tighten cart spacing", {"shop/static/cart.css": ".cart { margin: 4px; }\n"})])
    commit("Release 2.46.0", {"shop/VERSION": "2.46.0\n"})
    _git(path, "tag", "v2.46.0")

    incident = path.parent / "incident"
    incident.mkdir(exist_ok=True)
    error_log = incident / "checkout-errors.log"
    error_log.write_text(ERROR_LOG)
    return DemoRepo(
        path=path, old_release="v2.45.0", new_release="v2.46.0", culprit_pr=42,
        smoke_spec=path / "smoke" / "checkout.yml", error_log=error_log, release_time=now - timedelta(minutes=22),
    )
