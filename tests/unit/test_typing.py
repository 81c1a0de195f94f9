"""The application packages stay ``mypy --strict`` clean (settings in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_packages_are_strictly_typed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "bot", "storage", "scheduler", "handlers"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
