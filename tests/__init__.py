"""The hub's tests, one folder per package they exercise (tests/hub/normalize for hub/normalize…)."""

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
"""The repository's root: docs/, benchmarks/ and the packages."""
