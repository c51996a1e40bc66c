"""ruff and mypy, as configured in pyproject.toml, pass over the code; mypy refuses an untyped def in bot/."""
from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO


def _run(*argv: str, cwd=REPO) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *argv], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_ruff_passes():
    pytest.importorskip("ruff")
    result = _run("ruff", "check", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_passes_over_bot():
    pytest.importorskip("mypy")
    result = _run("mypy")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_is_strict_enough_to_catch_an_untyped_def(tmp_path):
    pytest.importorskip("mypy")
    (tmp_path / "bot").mkdir()
    (tmp_path / "bot" / "__init__.py").write_text("")
    (tmp_path / "bot" / "sloppy.py").write_text("def add(a, b):\n    return a + b\n")
    (tmp_path / "pyproject.toml").write_text((REPO / "pyproject.toml").read_text())
    result = _run("mypy", cwd=tmp_path)
    assert result.returncode == 1
    assert "bot/sloppy.py:1: error: Function is missing a type annotation" in result.stdout
