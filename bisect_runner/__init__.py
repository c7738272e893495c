"""bisect-runner: what changed, what is risky, and which commit broke staging."""

__version__ = "0.1.0"
