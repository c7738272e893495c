"""The Actions runtime (bisect_runner.actions): workflow commands, outputs, summary, masks, groups.

Each test sets the runner's environment variables itself (conftest clears them) and reads the
files and lines a runner would read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bisect_runner import actions

TOKEN = "ghs_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4"


@pytest.fixture
def runner_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    files = {"output": tmp_path / "output.txt", "summary": tmp_path / "summary.md"}
    for path in files.values():
        path.write_text("")
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("GITHUB_OUTPUT", str(files["output"]))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(files["summary"]))
    return files


def test_in_actions_only_when_the_runner_says_true(monkeypatch: pytest.MonkeyPatch) -> None:
    assert not actions.in_actions()
    monkeypatch.setenv("GITHUB_ACTIONS", "1")
    assert not actions.in_actions()
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    assert actions.in_actions()


def test_event_payload_reads_the_event_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert actions.event_payload() is None
    event = tmp_path / "event.json"
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(event))
    assert actions.event_payload() is None  # the path does not exist
    event.write_text(json.dumps({"pull_request": {"number": 7}}))
    assert actions.event_payload() == {"pull_request": {"number": 7}}
    event.write_text("[1, 2]")
    assert actions.event_payload() is None  # not an object


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({}, None),
        ({"GITHUB_REPOSITORY": "acme/shop"}, None),
        ({"GITHUB_REPOSITORY": "acme/shop", "GITHUB_RUN_ID": "42"}, "https://github.com/acme/shop/actions/runs/42"),
        ({"GITHUB_REPOSITORY": "acme/shop", "GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "2",
          "GITHUB_SERVER_URL": "https://ghe.example.com"},
         "https://ghe.example.com/acme/shop/actions/runs/42/attempts/2"),
    ],
    ids=["nothing", "no-run-id", "run", "enterprise-attempt"],
)
def test_run_url(env: dict[str, str], expected: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("GITHUB_SERVER_URL", "GITHUB_RUN_ID", "GITHUB_RUN_ATTEMPT"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert actions.run_url() == expected


def test_mask_prints_one_add_mask_per_line_in_actions(runner_env: dict[str, Path],
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    actions.mask("first-secret\n\nsecond-secret")
    actions.mask("")
    actions.mask(None)
    assert capsys.readouterr().out.splitlines() == ["::add-mask::first-secret", "::add-mask::second-secret"]


def test_mask_is_silent_outside_actions(capsys: pytest.CaptureFixture[str]) -> None:
    actions.mask("a-secret-value")
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_mask_known_secrets_masks_tokens_and_webhooks(runner_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    webhook = "https://hooks.slack.com/services/T000/B000/XXXXXXXX"
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_WEBHOOK_URL", webhook)
    actions.mask_known_secrets()
    lines = capsys.readouterr().out.splitlines()
    assert f"::add-mask::{TOKEN}" in lines
    assert f"::add-mask::{webhook}" in lines


def test_annotate_in_actions_escapes_message_and_properties(runner_env: dict[str, Path],
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    actions.annotate("error", "100% broken\nsee below", file="src/a,b:c.py", line=12, title="smoke: checkout")
    actions.annotate("warning", "plain")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "::error file=src/a%2Cb%3Ac.py,line=12,title=smoke%3A checkout::100%25 broken%0Asee below"
    assert out[1] == "::warning::plain"


def test_annotate_redacts_secrets(runner_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    actions.annotate("error", f"request with {TOKEN} failed")
    out = capsys.readouterr().out
    assert TOKEN not in out and "request with *** failed" in out


def test_annotate_outside_actions_is_a_stderr_line(capsys: pytest.CaptureFixture[str]) -> None:
    actions.annotate("warning", "token is read-only", file="x.py", line=3)
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "bisect-runner: warning: token is read-only\n"


def test_set_output_single_and_multi_line_round_trip(runner_env: dict[str, Path]) -> None:
    actions.set_output("status", "found")
    actions.set_output("count", 3)
    actions.set_output("empty", None)
    actions.set_output("report", "line one\nline two")
    actions.set_output("status", "ambiguous")  # a later value wins, as on the runner
    text = runner_env["output"].read_text()
    assert "status=found\n" in text and "report<<ghadelimiter_" in text
    assert actions.parse_command_file(text) == {
        "status": "ambiguous", "count": "3", "empty": "", "report": "line one\nline two",
    }
    assert actions.outputs_written()["report"] == "line one\nline two"


def test_set_output_redacts_and_is_a_no_op_without_the_file(runner_env: dict[str, Path],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", TOKEN)
    actions.set_output("url", f"https://x.example.com/?token={TOKEN}")
    assert actions.outputs_written() == {"url": "https://x.example.com/?token=***"}
    monkeypatch.delenv("GITHUB_OUTPUT")
    actions.set_output("ignored", "value")  # nothing to write to: no error
    assert actions.outputs_written() == {}


@pytest.mark.parametrize(
    "text",
    ["name<<EOF\nnever closed\n", "no equals sign here\n"],
    ids=["open-heredoc", "garbage"],
)
def test_parse_command_file_rejects_malformed_files(text: str) -> None:
    with pytest.raises(ValueError):
        actions.parse_command_file(text)


def test_append_summary_appends_markdown_blocks(runner_env: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1234567890-abcdefghij")
    assert actions.append_summary("## Risk\n\n| a |\n")
    assert actions.append_summary("posted with xoxb-1234567890-abcdefghij")
    assert runner_env["summary"].read_text() == "## Risk\n\n| a |\n\nposted with ***\n\n"
    monkeypatch.delenv("GITHUB_STEP_SUMMARY")
    assert not actions.append_summary("nowhere")


def test_group_folds_even_when_the_body_raises(runner_env: dict[str, Path],
                                               capsys: pytest.CaptureFixture[str]) -> None:
    with actions.group("deploy a1b2c3 to staging-a"):
        print("inside")
    with pytest.raises(RuntimeError), actions.group("smoke"):
        raise RuntimeError("boom")
    assert capsys.readouterr().out.splitlines() == [
        "::group::deploy a1b2c3 to staging-a", "inside", "::endgroup::", "::group::smoke", "::endgroup::",
    ]


def test_group_outside_actions_prints_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    with actions.group("phase"):
        pass
    assert capsys.readouterr().out == ""
