"""The built wheel: what someone who installs ctcasr from PyPI or ships it gets."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_the_wheel_holds_the_bundled_model_and_the_licence_and_nothing_else(tmp_path):
    """pyproject.toml declared MIT but no licence text was in the repository, the sdist or
    the wheel, so no one could ship ctcasr with the notice the MIT licence asks for."""
    pytest.importorskip("setuptools")  # built here, without build isolation
    if not any(importlib.util.find_spec(m) for m in ("wheel", "setuptools.command.bdist_wheel")):
        pytest.skip("this setuptools builds wheels only with the wheel package installed")
    source = tmp_path / "source"
    shutil.copytree(ROOT / "ctcasr", source / "ctcasr",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    for path in ROOT.iterdir():  # pyproject.toml, README.md, LICENSE
        if path.is_file():
            shutil.copy2(path, source / path.name)
    code = "import sys, setuptools.build_meta as b; print(b.build_wheel(sys.argv[1]))"
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "dist")], cwd=source,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    wheel = tmp_path / "dist" / done.stdout.split()[-1]
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        info = next(n.split("/")[0] for n in names if n.endswith(".dist-info/METADATA"))
        # newer setuptools put it under dist-info/licenses/
        licences = [n for n in names if n.startswith(f"{info}/") and n.endswith("/LICENSE")]
        licence = archive.read(licences[0]).decode() if licences else ""
        metadata = archive.read(f"{info}/METADATA").decode()
    # Metadata 2.4 (setuptools >= 77) says License-Expression; older, License
    assert licence.startswith("MIT License")
    assert "License-Expression: MIT" in metadata or "License: MIT" in metadata
    bundled = ROOT / "ctcasr" / "pretrained" / "default"
    for path in bundled.iterdir():
        if not path.name.startswith("."):  # a killed writer's temporary is not shipped
            assert f"ctcasr/pretrained/default/{path.name}" in names
    assert all(n.startswith(("ctcasr/", f"{info}/")) and "__pycache__" not in n for n in names)
