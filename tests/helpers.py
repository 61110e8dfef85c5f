"""Builders shared by the model, bundle, training and CLI tests."""

from __future__ import annotations

import contextlib
import os
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from ctcasr.manifest import ManifestEntry, write_manifest
from ctcasr.text import Alphabet, number_to_words

TINY_MODEL = dict(conv_filters=32, conv_kernel=5, conv_stride=2, rnn_units=32, rnn_layers=1,
                  dropout=0.0)


def fsdd_entries(fsdd_dir: Path, indices: range, speakers=("george", "jackson")):
    """Manifest entries for FSDD recordings ``{digit}_{speaker}_{index}``."""
    import soundfile as sf

    entries = []
    for speaker in speakers:
        for digit in range(10):
            for index in indices:
                path = fsdd_dir / f"{digit}_{speaker}_{index}.flac"
                entries.append(
                    ManifestEntry(str(path), number_to_words(digit), sf.info(str(path)).duration,
                                  speaker)
                )
    return entries


def write_fsdd_manifest(path: Path, fsdd_dir: Path, indices: range, **kwargs) -> Path:
    write_manifest(path, fsdd_entries(fsdd_dir, indices, **kwargs))
    return path


def greedy_scores(bundle, manifest: str) -> tuple[float, float]:
    """(CER, WER) of a bundle's Keras model, greedy, over a manifest's entries read whole."""
    from ctcasr.decoding import greedy_decode
    from ctcasr.features import featurize
    from ctcasr.manifest import read_manifest
    from ctcasr.metrics import error_report
    from ctcasr.runtime import KerasRunner

    entries = read_manifest(manifest, bundle.alphabet).entries
    runner = KerasRunner(bundle.keras_model(), bundle.model_config, batch_size=7)
    log_probs = runner([featurize(e.audio_filepath, bundle.frontend) for e in entries])
    hyps = [greedy_decode(lp, bundle.alphabet).text for lp in log_probs]
    report = error_report([e.text for e in entries], hyps)
    assert report.utterances == len(entries) > 0
    return report.cer, report.wer


def spec_frames(spec: str, peak: float = 0.9, alphabet: Alphabet | None = None) -> np.ndarray:
    """Log-probabilities for one frame per character of ``spec``; ``_`` is the blank.

    Each frame gives ``peak`` to its symbol and spreads the rest evenly over the other classes.
    """
    alphabet = alphabet or Alphabet()
    num = alphabet.num_classes
    rows = []
    for char in spec:
        index = alphabet.blank_index if char == "_" else alphabet.encode(char)[0]
        probs = np.full(num, (1.0 - peak) / (num - 1))
        probs[index] = peak
        rows.append(probs)
    return np.log(np.array(rows, dtype=np.float64).reshape(-1, num))


def wait_for(
    proc: subprocess.Popen, ready: Callable[[], bool], what: str, seconds: float,
    poll: float = 0.02,
) -> None:
    """Wait until ``ready()`` while ``proc`` runs: fail if it ends first (with its stderr) or
    nothing is ready within ``seconds``."""
    deadline = time.monotonic() + seconds
    while not ready():
        if proc.poll() is not None:
            err = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"process ended before {what}: {err}")
        assert time.monotonic() < deadline, f"no {what} within {seconds:.0f} s"
        time.sleep(poll)


def tiny_bundle(path: Path, seed: int, frontend=None, decoder=None, extra_files=None,
                metadata=None):  # fmt: skip
    """A seeded untrained TINY_MODEL bundle at ``path``; returns its Keras model."""
    import keras

    from ctcasr.bundle import save_bundle
    from ctcasr.features import FrontendConfig
    from ctcasr.model import ModelConfig, build_model

    keras.utils.set_random_seed(seed)
    frontend = frontend or FrontendConfig(n_mfcc=13, deltas=1)
    config = ModelConfig(num_features=frontend.num_features, num_classes=Alphabet().num_classes,
                         **TINY_MODEL)  # fmt: skip
    model = build_model(config)
    if metadata is None:
        metadata = {"seed": seed, "epoch": 3, "dev_cer": 0.5}
    save_bundle(path, model, frontend, config, Alphabet(), decoder=decoder, metadata=metadata,
                extra_files=extra_files)  # fmt: skip
    return model


def default_sigint() -> None:
    """``preexec_fn`` for a child that a test interrupts with SIGINT: a shell's background
    job starts with SIGINT ignored, children inherit that, and Python then never raises
    KeyboardInterrupt (the tests failed with exit 0 when the suite ran in the background)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


@contextlib.contextmanager
def shared_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder that :func:`unprivileged` code may enter (pytest's own are root's alone)."""
    if os.geteuid() != 0:
        yield tmp_path
        return
    with tempfile.TemporaryDirectory() as folder:
        os.chmod(folder, 0o755)
        yield Path(folder)


@contextlib.contextmanager
def unprivileged() -> Iterator[None]:
    """Run the block with a user's permissions. Root reads, lists and writes anything, and CI
    runs as root, so a permission test passed there whatever the code did: as root the block
    runs as the user nobody, real and effective ids both (``os.access`` asks with the real
    one), the saved id kept root so that root comes back after."""
    import pytest

    if os.name == "nt":
        pytest.skip("no POSIX permissions")
    if os.geteuid() != 0:
        yield
        return
    if not hasattr(os, "setresuid"):
        pytest.skip("root, and no setresuid to act as a user")
    os.setresuid(65534, 65534, 0)
    try:
        yield
    finally:
        os.setresuid(0, 0, 0)


_HOLDER = """
import pathlib, sys
from ctcasr.utils import folder_lock
with folder_lock(pathlib.Path(sys.argv[1]), str):
    print("locked", flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def held_elsewhere(folder: Path) -> Iterator[subprocess.Popen]:
    """``folder``'s lock held by another process, as a running training or recipe holds it,
    until the block ends and the holder lets go (a lock this process held would be its own
    to take again). Kill the holder in the block to leave its lock file behind."""
    import sys

    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(folder)], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        yield holder
    finally:
        holder.stdin.close()  # type: ignore[union-attr]
        try:
            holder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
