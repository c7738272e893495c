"""Stack traces of each language -> frames -> repo paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from bisect_runner.errors import UserError
from bisect_runner.risk.traces import Frame, match_frame, parse_error_logs, parse_trace

PYTHON = '''\
2026-11-28T14:46:58Z ERROR checkout failed
Traceback (most recent call last):
  File "/usr/local/lib/python3.11/site-packages/gunicorn/workers/sync.py", line 135, in handle
    self.handle_request(listener, req, client, addr)
  File "/srv/app/shop/views/checkout.py", line 52, in post
    receipt = charge(order)
  File "/srv/app/shop/payments/charge.py", line 11, in charge
    currency = request["currency"].upper()
KeyError: 'currency'
'''

NODE = '''\
TypeError: Cannot read properties of undefined (reading 'id')
    at chargeCard (/app/src/payments/stripe.js:88:23)
    at Object.<anonymous> (/app/node_modules/express/lib/router/layer.js:95:5)
    at processTicksAndRejections (node:internal/process/task_queues:95:5)
    at async CheckoutController.create [as handler] (webpack:///./src/controllers/checkout.ts:41:9)
    at /app/src/server.js:10:3
'''

JAVA = '''\
Exception in thread "main" java.lang.IllegalStateException: no currency
\tat com.shop.payments.ChargeService.charge(ChargeService.java:40)
\tat com.shop.payments.ChargeService$Retry.run(ChargeService.java:112)
\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:897)
\tat java.base/java.lang.Thread.run(Thread.java:833)
Caused by: java.lang.NullPointerException
\tat com.shop.orders.OrderMapper.toEntity(OrderMapper.kt:17)
'''

GO = '''\
panic: runtime error: invalid memory address or nil pointer dereference
[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4b8f2a]

goroutine 42 [running]:
github.com/acme/shop/payments.(*Charger).Charge(0x0, {0xc000012345, 0x3})
\t/go/src/github.com/acme/shop/payments/charge.go:42 +0x1d
net/http.HandlerFunc.ServeHTTP(0xc0000a6000, {0x7f, 0xc0000b2000})
\t/usr/local/go/src/net/http/server.go:2136 +0x29
'''

RUBY = '''\
NoMethodError (undefined method `upcase' for nil:NilClass):
app/models/order.rb:12:in `charge'
/srv/app/app/services/checkout.rb:30:in 'Checkout#call'
/usr/local/bundle/gems/actionpack-7.1.0/lib/action_controller/metal.rb:227:in `dispatch'
\tfrom app/controllers/orders_controller.rb:7:in `block in create'
'''

BARE = '''\
14:47:02 WARN slow query at db/queries/orders.sql:14 (1.2s) from http://db:5432/x
14:47:03 ERROR lib/billing/invoice.py:88 failed
'''


def _summary(frames: list[Frame]) -> list[tuple[str, str, int | None, str | None]]:
    return [(f.language, f.path, f.line, f.function) for f in frames]


@pytest.mark.parametrize(
    ("trace", "expected"),
    [
        pytest.param(PYTHON, [("python", "/srv/app/shop/views/checkout.py", 52, "post"),
                              ("python", "/srv/app/shop/payments/charge.py", 11, "charge")], id="python"),
        pytest.param(NODE, [("javascript", "/app/src/payments/stripe.js", 88, "chargeCard"),
                            ("javascript", "src/controllers/checkout.ts", 41, "create"),
                            ("javascript", "/app/src/server.js", 10, None)], id="node"),
        pytest.param(JAVA, [("java", "com/shop/payments/ChargeService.java", 40, "charge"),
                            ("java", "com/shop/payments/ChargeService.java", 112, "run"),
                            ("kotlin", "com/shop/orders/OrderMapper.kt", 17, "toEntity")], id="java-kotlin"),
        pytest.param(GO, [("go", "/go/src/github.com/acme/shop/payments/charge.go", 42, "Charge")], id="go"),
        pytest.param(RUBY, [("ruby", "app/models/order.rb", 12, "charge"),
                            ("ruby", "/srv/app/app/services/checkout.rb", 30, "call"),
                            ("ruby", "app/controllers/orders_controller.rb", 7, "create")], id="ruby"),
        pytest.param(BARE, [("log", "db/queries/orders.sql", 14, None),
                            ("log", "lib/billing/invoice.py", 88, None)], id="bare-mentions"),
    ],
)
def test_parse_trace(trace: str, expected: list[tuple[str, str, int | None, str | None]]) -> None:
    assert _summary(parse_trace(trace)) == expected


def test_library_frames_and_urls_do_not_count() -> None:
    frames = parse_trace(PYTHON + NODE + GO + "see http://example.com:8080/health at 14:47:02\n")
    assert not [f for f in frames if "site-packages" in f.path or "node_modules" in f.path or "/usr/local/go" in f.path]
    assert not [f for f in frames if "example.com" in f.path]


def test_duplicate_frames_collapse() -> None:
    assert len(parse_trace(PYTHON + PYTHON)) == 2


REPO_FILES = [
    "shop/payments/charge.py",
    "tests/payments/test_charge.py",
    "src/main/java/com/shop/payments/ChargeService.java",
    "src/main/kotlin/com/shop/orders/OrderMapper.kt",
    "payments/charge.go",
    "app/models/order.rb",
    "shop/utils.py",
    "billing/utils.py",
]


@pytest.mark.parametrize(
    ("frame_path", "expected"),
    [
        pytest.param("/srv/app/shop/payments/charge.py", "shop/payments/charge.py", id="deployed-python"),
        pytest.param("com/shop/payments/ChargeService.java", "src/main/java/com/shop/payments/ChargeService.java",
                     id="java-package"),
        pytest.param("com/shop/orders/OrderMapper.kt", "src/main/kotlin/com/shop/orders/OrderMapper.kt", id="kotlin"),
        pytest.param("/go/src/github.com/acme/shop/payments/charge.go", "payments/charge.go", id="go-gopath"),
        pytest.param("/srv/app/app/models/order.rb", "app/models/order.rb", id="ruby"),
        pytest.param("utils.py", None, id="ambiguous-bare-name"),
        pytest.param("/srv/x/nothing.py", None, id="no-match"),
    ],
)
def test_match_frame(frame_path: str, expected: str | None) -> None:
    frame = Frame(frame_path, 1, None, "python", frame_path)
    assert match_frame(frame, REPO_FILES) == expected


def test_parse_error_logs_reads_files_and_rejects_unreadable(tmp_path: Path) -> None:
    log = tmp_path / "errors.log"
    log.write_text(PYTHON)
    assert len(parse_error_logs([log])) == 2
    with pytest.raises(UserError, match="cannot read error log .*missing.log"):
        parse_error_logs([tmp_path / "missing.log"])
    binary = tmp_path / "core.dump"
    binary.write_bytes(b"\x7fELF\0\0\0")
    with pytest.raises(UserError, match="not a text file"):
        parse_error_logs([binary])
