"""A training process killed with SIGKILL part-way through resumes from its last complete
checkpoint and ends with the same weights as a run that was never interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from ctcasr.train import CHECKPOINTS, LATEST, TrainConfig, train
from tests.helpers import TINY_MODEL, write_fsdd_manifest

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
        return [data[k] for k in sorted(data.files)]


def test_sigkill_mid_epoch_then_resume_matches_unbroken_run(tmp_path, fsdd_dir):
    epochs = 3
    killed = _config(tmp_path / "killed", fsdd_dir, epochs)
    config_file = tmp_path / "killed" / "run.json"
    config_file.write_text(json.dumps(killed.to_dict()))
    proc = subprocess.Popen(
        [sys.executable, "-c", "from ctcasr.cli import main; main()", "train", "--config",
         str(config_file), "--quiet"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    latest = tmp_path / "killed" / "run" / CHECKPOINTS / LATEST
    try:
        deadline = time.monotonic() + 240
        while not (latest.is_file() and latest.read_text().strip() == "epoch-0001"):
            assert proc.poll() is None, f"training ended early: {proc.stderr.read()}"
            assert time.monotonic() < deadline, "no checkpoint within 240 s"
            time.sleep(0.05)
        time.sleep(0.3)  # into epoch 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    # Whatever was on disk at the kill loads: the last complete checkpoint is intact.
    assert latest.read_text().strip() in ("epoch-0001", "epoch-0002")

    resumed = train(killed, resume=True, verbose=0)
    assert [h.epoch for h in resumed.history] == [1, 2, 3]

    unbroken = _config(tmp_path / "unbroken", fsdd_dir, epochs)
    train(unbroken, verbose=0)
    for a, b in zip(_weights(tmp_path / "killed" / "run", 3),
                    _weights(tmp_path / "unbroken" / "run", 3), strict=True):  # fmt: skip
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
