"""The code base stays ruff- and mypy-clean (the checks a developer runs before committing)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from conftest import missing_tool

ROOT = Path(__file__).resolve().parents[1]


def test_ruff_clean():
    if shutil.which("ruff") is None and not _module_available("ruff"):
        missing_tool("ruff is not installed (pip install -e '.[test]')")
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "ctcasr", "recipes", "tests"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _module_available(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def test_mypy_clean(tmp_path):
    """``mypy`` finds no type errors in the package or the recipes, with the ``[tool.mypy]``
    settings of pyproject.toml (libraries without type information are Any there, by name)."""
    if not _module_available("mypy"):
        missing_tool("mypy is not installed (pip install -e '.[test]')")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "cache"), "ctcasr", "recipes"],
        cwd=ROOT, capture_output=True, text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
