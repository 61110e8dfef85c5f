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


def _mutants(data: bytes, rng) -> list[bytes]:
    """Damage of the kinds files meet: cut at a byte, bytes flipped in the header and in the
    samples, and a header field (a size, a rate, a channel count) set to 0, 1 or its maximum.
    The first byte (the target's extension pick) is left alone."""
    out = []
    for _ in range(4):
        out.append(data[: rng.integers(1, len(data) + 1)])
        for lo, hi in ((1, min(len(data), 65)), (1, len(data))):
            flipped = bytearray(data)
            for at in rng.integers(lo, hi, size=rng.integers(1, 9)):
                flipped[at] = rng.integers(256)
            out.append(bytes(flipped))
        field = bytearray(data)
        at = 1 + 2 * int(rng.integers(0, max(1, min(len(data) - 5, 64) // 2)))
        width = int(rng.choice([2, 4]))
        value = int(rng.choice([0, 1, 2 ** (8 * width) - 1]))
        field[at : at + width] = value.to_bytes(width, "little")[: len(field) - at]
        out.append(bytes(field))
    return out


def test_seeded_mutations_of_every_audio_seed_are_read_or_refused_in_one_line(monkeypatch):
    """Damaged variants of each audio seed, the same on every run: each must load as finite
    mono samples or be refused in one line naming the file (the contract the coverage-guided
    fuzzer checks, here in seconds and without atheris). audioread's decoders, a process of
    ffmpeg's per file libsndfile refuses, are left to the fuzzer: they took most of the time."""
    import audioread
    import numpy as np

    def no_backend(*args, **kwargs):
        raise audioread.NoBackendError()

    monkeypatch.setattr(audioread, "audio_open", no_backend)
    rng = np.random.default_rng(20261124)
    count = 0
    for data in SEEDS["audio"]().values():
        for mutant in _mutants(data, rng) + _mutants(data, rng):
            TARGETS["audio"](mutant)
            count += 1
    assert count >= 300
