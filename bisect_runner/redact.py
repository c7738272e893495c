"""Keep secrets (tokens, webhook URLs) out of everything we print or log."""

from __future__ import annotations

import os
import re

# Environment variables whose values are secrets wherever they appear.
SECRET_ENV_VARS = (
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "INPUT_GITHUB-TOKEN",
    "SLACK_WEBHOOK_URL",
    "SLACK_BOT_TOKEN",
    "BISECT_RUNNER_WEBHOOK_URL",
)

_TOKEN_SHAPES = re.compile(
    r"(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|xox[abposr]-[A-Za-z0-9-]{10,}"
    r"|https://hooks\.slack\.com/[^\s\"'<>]+)"
)

_extra_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Treat `value` as a secret from now on (e.g. a token read from a file or config)."""
    if value and len(value) >= 6:
        _extra_secrets.add(value)


def known_secrets() -> list[str]:
    values = {os.environ.get(name, "") for name in SECRET_ENV_VARS} | _extra_secrets
    # Longest first so a URL is replaced before a token that is part of it.
    return sorted((v for v in values if len(v) >= 6), key=len, reverse=True)


def redact(text: str) -> str:
    """Replace every known secret and anything shaped like a token with '***'."""
    for secret in known_secrets():
        text = text.replace(secret, "***")
    return _TOKEN_SHAPES.sub("***", text)
