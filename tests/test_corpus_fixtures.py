"""The corpus-locating helpers in conftest: env override, skip locally, fail under CI."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import REPO_ROOT, _corpus_dir, data_root, missing_tool


def test_data_root_defaults_next_to_repo(monkeypatch):
    monkeypatch.delenv("CTCASR_DATA", raising=False)
    assert data_root() == (REPO_ROOT.parent / "shared" / "data").resolve()
    assert (REPO_ROOT / "ctcasr" / "__init__.py").is_file()


def test_data_root_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("CTCASR_DATA", str(tmp_path))
    assert data_root() == tmp_path.resolve()


def test_data_root_reached_through_a_link_is_its_real_folder(monkeypatch, tmp_path):
    """Messages name audio by its real path; tests expecting the fixture's path failed when
    the corpora were reached through a linked folder."""
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.setenv("CTCASR_DATA", str(tmp_path / "link"))
    assert data_root() == (tmp_path / "real").resolve()


def test_missing_corpus_skips_locally(monkeypatch, tmp_path):
    monkeypatch.setenv("CTCASR_DATA", str(tmp_path))
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as info:
        _corpus_dir("FSDD", "fsdd", "recordings")
    message = str(info.value)
    assert "FSDD corpus not found at" in message
    assert str(tmp_path / "fsdd" / "recordings") in message
    assert "CTCASR_DATA" in message


@pytest.mark.parametrize("ci", ["true", "True"])
def test_missing_corpus_fails_under_ci(monkeypatch, tmp_path, ci):
    monkeypatch.setenv("CTCASR_DATA", str(tmp_path))
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception) as info:
        _corpus_dir("AN4", "an4")
    assert str(tmp_path / "an4") in str(info.value)


@pytest.mark.parametrize(("ci", "outcome"), [("", pytest.skip.Exception),
                                             ("1", pytest.fail.Exception)])  # fmt: skip
def test_missing_tool_skips_locally_and_fails_under_ci(monkeypatch, ci, outcome):
    """A missing tool or codec (ruff, espeak-ng, KenLM, MP3 in libsndfile) is treated as a
    missing corpus is: CI must not pass by skipping the tests that need it."""
    monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="espeak-ng is not installed"):
        missing_tool("espeak-ng is not installed")


def test_present_corpus_is_returned(monkeypatch, tmp_path):
    (tmp_path / "noise").mkdir()
    monkeypatch.setenv("CTCASR_DATA", str(tmp_path))
    monkeypatch.setenv("CI", "true")
    assert _corpus_dir("noise", "noise") == tmp_path / "noise"


def test_real_corpora_layout(fsdd_dir, an4_dir, speech_commands_dir, noise_dir, fsdd_files):
    assert all(
        isinstance(p, Path) and p.is_dir() for p in (an4_dir, speech_commands_dir, noise_dir)
    )
    assert fsdd_dir.name == "recordings"
    assert len(fsdd_files) == 3 and all(
        p.suffix == ".flac" and p.parent == fsdd_dir for p in fsdd_files
    )
    assert (an4_dir / "etc").is_dir()
    assert (speech_commands_dir / "yes").is_dir()
    assert any(noise_dir.glob("*.flac"))
