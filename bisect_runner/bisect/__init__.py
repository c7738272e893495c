"""Automated bisect against staging: strategies (pure), slots, state, and the runner loop."""
