"""A training process killed with SIGKILL part-way through (inside an epoch, or inside a
checkpoint write) resumes from its last complete checkpoint and ends with the same weights as a
run that was never interrupted; Ctrl-C stops it with a one-line message."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from ctcasr.train import CHECKPOINTS, LATEST, TrainConfig, train
from tests.helpers import TINY_MODEL, default_sigint, wait_for, write_fsdd_manifest

pytestmark = pytest.mark.slow


def _config(folder, fsdd_dir, epochs: int) -> TrainConfig:
    folder.mkdir(parents=True, exist_ok=True)
    train_m = write_fsdd_manifest(folder / "train.jsonl", fsdd_dir, range(10, 14))
    dev_m = write_fsdd_manifest(folder / "dev.jsonl", fsdd_dir, range(5, 6))
    return TrainConfig(
        train_manifests=[str(train_m)], dev_manifest=str(dev_m), output_dir=str(folder / "run"),
        epochs=epochs, batch_size=8, model=TINY_MODEL, seed=11, patience=100,
    )  # fmt: skip


def _weights(run_dir, epoch: int) -> list[np.ndarray]:
    with np.load(run_dir / CHECKPOINTS / f"epoch-{epoch:04d}" / "weights.npz") as data:
        arrays = [data[k] for k in sorted(data.files)]
    assert len(arrays) >= 8  # every layer's: two empty lists would compare equal
    return arrays


@pytest.fixture(scope="module")
def unbroken(tmp_path_factory, fsdd_dir) -> list[np.ndarray]:
    """Final weights of the same run, never interrupted (resumed from nothing: epoch 0)."""
    folder = tmp_path_factory.mktemp("unbroken")
    train(_config(folder, fsdd_dir, EPOCHS), verbose=0)
    return _weights(folder / "run", EPOCHS)


EPOCHS = 3
TRAIN_WAIT = 240  # seconds: TensorFlow start-up plus an epoch on a busy 2-core machine

# Runs the CLI with write_arrays slowed down inside one checkpoint write: the write of
# epoch-0002's optimizer state stops half-way and announces it, so the test can kill there.
HALTING_SAVEZ = """
import importlib, pathlib, sys, time
train = importlib.import_module("ctcasr.train")  # ctcasr.train is also the function's name
real, marker = train.write_arrays, pathlib.Path(sys.argv.pop(1))
def halting(file, arrays):
    path = pathlib.Path(file)
    if path.name == "optimizer.npz" and path.parent.name.startswith(".epoch-0002."):
        real(file, arrays[: len(arrays) // 2])
        marker.write_text(str(path.parent))
        time.sleep(600)
    real(file, arrays)
train.write_arrays = halting
from ctcasr.cli import main
main()
"""


def _start(folder, fsdd_dir, script: str | None = None, *extra: str) -> subprocess.Popen:
    config = _config(folder, fsdd_dir, EPOCHS)
    config_file = folder / "run.json"
    config_file.write_text(json.dumps(config.to_dict()))
    code = script if script is not None else "from ctcasr.cli import main; main()"
    return subprocess.Popen(
        [sys.executable, "-c", code, *extra, "train", "--config", str(config_file), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=default_sigint,
    )  # fmt: skip


def _kill(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    try:
        os.kill(proc.pid, sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()


def _resume_and_compare(folder, fsdd_dir, unbroken: list[np.ndarray]) -> None:
    resumed = train(_config(folder, fsdd_dir, EPOCHS), resume=True, verbose=0)
    assert [h.epoch for h in resumed.history] == list(range(1, EPOCHS + 1))
    for a, b in zip(_weights(folder / "run", EPOCHS), unbroken, strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)


def test_sigkill_mid_epoch_then_resume_matches_unbroken_run(tmp_path, fsdd_dir, unbroken):
    folder = tmp_path / "killed"
    folder.mkdir()
    proc = _start(folder, fsdd_dir)
    latest = folder / "run" / CHECKPOINTS / LATEST
    wait_for(proc, lambda: latest.is_file() and latest.read_text().strip() == "epoch-0001",
             "checkpoint", TRAIN_WAIT)  # fmt: skip
    time.sleep(0.3)  # into epoch 2
    _kill(proc)
    assert proc.returncode == -signal.SIGKILL
    # Whatever was on disk at the kill loads: the last complete checkpoint is intact.
    assert latest.read_text().strip() in ("epoch-0001", "epoch-0002")
    _resume_and_compare(folder, fsdd_dir, unbroken)


def test_sigkill_inside_a_checkpoint_write_then_resume(tmp_path, fsdd_dir, unbroken):
    folder = tmp_path / "killed"
    folder.mkdir()
    marker = tmp_path / "halted"
    proc = _start(folder, fsdd_dir, HALTING_SAVEZ, str(marker))
    wait_for(proc, marker.is_file, "half-written checkpoint", TRAIN_WAIT)
    _kill(proc)
    assert proc.returncode == -signal.SIGKILL
    ckpts = folder / "run" / CHECKPOINTS
    partial = Path(marker.read_text())
    assert (partial / "optimizer.npz").is_file()  # really killed half-way through the write
    assert (ckpts / LATEST).read_text().strip() == "epoch-0001"
    assert not (ckpts / "epoch-0002").exists()
    _resume_and_compare(folder, fsdd_dir, unbroken)
    assert not partial.exists(), "the half-written checkpoint was left behind"


def test_ctrl_c_stops_with_one_line_and_resumes(tmp_path, fsdd_dir):
    folder = tmp_path / "interrupted"
    folder.mkdir()
    proc = _start(folder, fsdd_dir)
    latest = folder / "run" / CHECKPOINTS / LATEST
    wait_for(proc, latest.is_file, "checkpoint", TRAIN_WAIT)
    _kill(proc, signal.SIGINT)
    err = proc.stderr.read()
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("interrupted: the last complete checkpoint is ")
    assert "--resume" in lines[0]
    named = Path(lines[0].split(" is ", 1)[1].split(";")[0])
    assert named.parent == latest.parent and (named / "state.json").is_file()


@pytest.mark.skipif(sys.platform == "win32", reason="no POSIX signals to send")
def test_sigterm_stops_as_ctrl_c_does(tmp_path, fsdd_dir):
    """SIGTERM (a scheduler's stop, ``timeout``) ended training where it stood, with no word
    of the checkpoint to resume from; it now stops as Ctrl-C does, with exit 128 + 15."""
    train_m = write_fsdd_manifest(tmp_path / "train.jsonl", fsdd_dir, range(10, 11))
    config = TrainConfig(train_manifests=[str(train_m)], output_dir=str(tmp_path / "run"),
                         epochs=100, batch_size=8, model=TINY_MODEL, tensorboard=False)
    (tmp_path / "run.json").write_text(json.dumps(config.to_dict()))
    proc = subprocess.Popen(
        [sys.executable, "-c", "from ctcasr.cli import main; main()", "train", "--config",
         str(tmp_path / "run.json"), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    latest = tmp_path / "run" / CHECKPOINTS / LATEST
    wait_for(proc, latest.is_file, "checkpoint", TRAIN_WAIT)
    _kill(proc, signal.SIGTERM)
    err = proc.stderr.read()
    assert proc.returncode == 128 + signal.SIGTERM, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("stopped by SIGTERM: the last complete checkpoint is "), err
    assert lines[0].endswith("run the same command with --resume to continue from it")
    named = Path(lines[0].split(" is ", 1)[1].split(";")[0])
    assert named.parent == latest.parent and (named / "state.json").is_file()


def test_training_leaves_the_sigterm_handler_as_it_found_it(tmp_path):
    """The handler that turns SIGTERM into a stop is set only while training runs."""
    from typer.testing import CliRunner

    from ctcasr.cli import app

    before = signal.getsignal(signal.SIGTERM)
    result = CliRunner().invoke(app, ["train", str(tmp_path / "missing.jsonl"), "-o",
                                      str(tmp_path / "run"), "--quiet"])  # fmt: skip
    assert result.exit_code != 0
    assert signal.getsignal(signal.SIGTERM) is before
