"""Shared fixtures: where the real speech corpora live, and how tests react when they do not.

The corpora are never copied into the repository. They are found at ``$CTCASR_DATA`` when that
is set, else at ``<repo>/../shared/data``. A test that needs a missing corpus is skipped with a
message saying where it looked, except under CI (``CI=true``), where a missing corpus is a
failure: CI must never pass by silently skipping the tests on real speech.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# A few real FSDD recordings (8 kHz, spoken digits) used by the audio and feature tests.
FSDD_SAMPLE_FILES = ("0_george_0.flac", "7_jackson_3.flac", "3_theo_1.flac")


def data_root() -> Path:
    """The folder holding the corpora: ``$CTCASR_DATA`` if set, else ``<repo>/../shared/data``,
    links resolved: messages name an audio file by its real path, so a corpus reached through
    a linked folder (a CI checkout whose ../shared links elsewhere) failed two tests."""
    env = os.environ.get("CTCASR_DATA")
    root = Path(env).expanduser() if env else REPO_ROOT.parent / "shared" / "data"
    return root.resolve()


def running_under_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1")


def missing_corpus(what: str, path: Path) -> None:
    """Skip (or, under CI, fail) the current test because ``path`` does not exist."""
    message = f"{what} not found at {path}; set CTCASR_DATA to the folder holding the corpora"
    if running_under_ci():
        pytest.fail(f"{message} (CI=true: corpora must be present)", pytrace=False)
    pytest.skip(message)


def missing_tool(message: str) -> None:
    """Skip (or, under CI, fail) the current test because a tool or codec it needs is absent:
    ``.ci/run`` installs every one, so under CI a missing one is a broken setup, not a reason
    to pass without running."""
    if running_under_ci():
        pytest.fail(f"{message} (CI=true: .ci/run installs it)", pytrace=False)
    pytest.skip(message)


def _corpus_dir(label: str, *parts: str) -> Path:
    path = data_root().joinpath(*parts)
    if not path.is_dir():
        missing_corpus(f"{label} corpus", path)
    return path


@pytest.fixture(scope="session")
def fsdd_dir() -> Path:
    """``<data>/fsdd/recordings``: Free Spoken Digit Dataset, 8 kHz FLAC."""
    return _corpus_dir("FSDD", "fsdd", "recordings")


@pytest.fixture
def an4_dir() -> Path:
    """``<data>/an4``: CMU AN4, 16 kHz."""
    return _corpus_dir("AN4", "an4")


@pytest.fixture
def speech_commands_dir() -> Path:
    """``<data>/speech_commands``: Google Speech Commands v0.02 test subset, 16 kHz."""
    return _corpus_dir("Speech Commands", "speech_commands")


@pytest.fixture
def noise_dir() -> Path:
    """``<data>/noise``: background noise recordings, 16 kHz."""
    return _corpus_dir("noise", "noise")


@pytest.fixture
def fsdd_files(fsdd_dir: Path) -> list[Path]:
    """Three real FSDD recordings (different speakers and digits)."""
    files = [fsdd_dir / name for name in FSDD_SAMPLE_FILES]
    for path in files:
        if not path.is_file():
            missing_corpus("FSDD recording", path)
    return files


@pytest.fixture
def soundfile_calls(monkeypatch) -> tuple[list[str], list[str]]:
    """The path of every sound file opened for reading (``soundfile.info`` opens one too) and
    of every ``read`` on one, in order: how tests count file accesses. Writes are not
    counted."""
    import soundfile as sf

    opened: list[str] = []
    reads: list[str] = []
    real_init, real_read = sf.SoundFile.__init__, sf.SoundFile.read

    def counting_init(self, file, mode="r", *args, **kwargs):
        if (mode or "r").startswith("r"):
            opened.append(str(file))
        real_init(self, file, mode, *args, **kwargs)

    def counting_read(self, *args, **kwargs):
        reads.append(self.name)
        return real_read(self, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "__init__", counting_init)
    monkeypatch.setattr(sf.SoundFile, "read", counting_read)
    return opened, reads
