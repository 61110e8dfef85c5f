"""Every input the fuzzer ever crashed on (``fuzz/crashes``) and every seed, replayed through
the same targets: each must now be accepted or refused cleanly (see ``fuzz/targets.py``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fuzz.seeds import SEEDS
from fuzz.targets import TARGETS

CRASHES = Path(__file__).resolve().parents[1] / "fuzz" / "crashes"
FOUND = sorted(p for p in CRASHES.glob("*/*") if p.is_file() and p.parent.name in TARGETS)


def test_every_target_has_seeds_and_a_crash_folder():
    assert set(SEEDS) == set(TARGETS)
    assert FOUND, "the committed crash corpus is missing"


@pytest.mark.parametrize("path", FOUND, ids=[f"{p.parent.name}/{p.name}" for p in FOUND])
def test_fixed_crash_stays_fixed(path):
    TARGETS[path.parent.name](path.read_bytes())


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_seeds_pass(target):
    for data in SEEDS[target]().values():
        TARGETS[target](data)


def test_targets_notice_broken_promises(monkeypatch):
    """The harness itself can fail: a loader that returned NaN would be reported."""
    import numpy as np

    import ctcasr.audio

    monkeypatch.setattr(ctcasr.audio, "load_audio",
                        lambda *a, **k: np.full(100, np.nan, np.float32))  # fmt: skip
    with pytest.raises(AssertionError, match="NaN"):
        TARGETS["audio"](SEEDS["audio"]()["pcm16.wav"])


def test_fuzzing_without_atheris_says_how_to_install_it(monkeypatch, capsys):
    """Without atheris each target printed "exit 1, None inputs in 0 s" and ``--record``
    ended in a TypeError traceback; the README's fuzz command needs ``.[fuzz]`` first."""
    import importlib.util

    import fuzz.__main__ as runner

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "atheris" else real(name, *a))  # fmt: skip
    results = runner.HERE / "RESULTS.md"
    before = results.read_text(encoding="utf-8")
    assert runner.main(["alphabet", "--seconds", "1", "--record"]) == 2
    assert 'pip install -e ".[fuzz]"' in capsys.readouterr().err
    assert results.read_text(encoding="utf-8") == before
