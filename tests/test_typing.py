"""mypy is clean on the library floors (``[tool.mypy] files`` in pyproject.toml: layers, hardware, space,
controllers); CI runs it through this test (``.ci/run`` runs the README's ``python -m uv run pytest``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_checks_the_four_library_packages() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    files = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]["files"]
    assert sorted(files) == sorted(f"lightning_imc/{p}" for p in ("layers", "hardware", "space", "controllers"))


@pytest.mark.timeout(900)
def test_mypy_is_clean() -> None:
    pytest.importorskip("mypy")
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "Success: no issues found" in result.stdout
