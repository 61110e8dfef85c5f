"""Training under tf.distribute: strategy settings, checkpoints that move between strategies,
and two real worker processes training together over loopback gRPC."""

from __future__ import annotations

import csv
import json
import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ctcasr.bundle import load_bundle
from ctcasr.data import AugmentConfig
from ctcasr.errors import ConfigError, CtcasrError
from ctcasr.train import CHECKPOINTS, LATEST, TrainConfig, read_tf_config, train
from tests.helpers import TINY_MODEL, default_sigint, write_fsdd_manifest

REPO_ROOT = Path(__file__).resolve().parents[1]
CLI = "from ctcasr.cli import main; main()"


def _one_line(exc_info) -> str:
    message = str(exc_info.value)
    assert "\n" not in message
    return message


# -- settings ------------------------------------------------------------------------------


def test_unknown_strategy_is_a_one_line_config_error(tmp_path):
    with pytest.raises(ConfigError) as exc:
        TrainConfig(train_manifests=["a.jsonl"], output_dir="o", strategy="horovod")
    assert _one_line(exc) == (
        "unknown strategy 'horovod'; choose one of: default, mirrored, multiworker"
    )
    (tmp_path / "cfg.toml").write_text(
        'train_manifests = ["a.jsonl"]\noutput_dir = "o"\nstrategy = "mirrored"\n'
    )
    assert TrainConfig.from_file(tmp_path / "cfg.toml").strategy == "mirrored"
    assert TrainConfig.from_file(tmp_path / "cfg.toml", strategy="default").strategy == "default"
    assert TrainConfig(train_manifests=["a"], output_dir="o").to_dict()["strategy"] == "default"


WORKERS = {"worker": ["127.0.0.1:1111", "127.0.0.1:2222"]}


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (None, "needs the TF_CONFIG environment variable"),
        ("  ", "needs the TF_CONFIG environment variable"),
        ("{cluster: 1", "TF_CONFIG is not valid JSON"),
        ('["worker"]', "TF_CONFIG must look like"),
        (json.dumps({"cluster": WORKERS}), "TF_CONFIG must look like"),
        (json.dumps({"cluster": {"ps": ["h:1"]}, "task": {"type": "ps", "index": 0}}),
         "only chief and worker tasks, not ps"),
        (json.dumps({"cluster": {"worker": ["nohost"]}, "task": {"type": "worker", "index": 0}}),
         "cluster.worker must be a list of 'host:port' strings"),
        (json.dumps({"cluster": WORKERS, "task": {"type": "worker", "index": 2}}),
         "names no task of the cluster (worker: 2)"),
        (json.dumps({"cluster": WORKERS, "task": {"type": "chief", "index": 0}}),
         "names no task of the cluster"),
        (json.dumps({"cluster": {"chief": ["127.0.0.1:2222"], **WORKERS},
                     "task": {"type": "chief", "index": 0}}),
         "TF_CONFIG cluster lists 127.0.0.1:2222 more than once"),
        # The same address spelled two ways hung too; bad hosts and ports hung or were
        # tracebacks inside TensorFlow; a non-string task type and deep nesting were ours.
        (json.dumps({"cluster": {"worker": ["localhost:3", "127.0.0.1:03"]},
                     "task": {"type": "worker", "index": 0}}),
         "TF_CONFIG cluster lists 127.0.0.1:03 (as localhost:3) more than once"),
        (json.dumps({"cluster": {"worker": ["127.0.0.1 :23463"]},
                     "task": {"type": "worker", "index": 0}}),
         "cluster.worker must be a list of 'host:port' strings"),
        (json.dumps({"cluster": {"worker": ["127.0.0.1:\u00b2"]},
                     "task": {"type": "worker", "index": 0}}),
         "cluster.worker must be a list of 'host:port' strings"),
        (json.dumps({"cluster": {"worker": ["h:70000"]}, "task": {"type": "worker", "index": 0}}),
         "a port from 1 to 65535"),
        (json.dumps({"cluster": WORKERS, "task": {"type": ["worker"], "index": 0}}),
         "names no task of the cluster"),
        (json.dumps({"cluster": WORKERS, "task": {"type": "worker", "index": True}}),
         "names no task of the cluster"),
        ("[" * 5000 + "]" * 5000, "TF_CONFIG is not valid JSON"),
    ],
)
def test_bad_tf_config_is_a_one_line_config_error(monkeypatch, value, message):
    if value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", value)
    with pytest.raises(ConfigError) as exc:
        read_tf_config()
    assert message in _one_line(exc)


def test_good_tf_config_is_accepted(monkeypatch):
    spec = {"cluster": {"chief": ["a:1"], **WORKERS}, "task": {"type": "worker", "index": 1}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(spec))
    assert read_tf_config() == spec


def test_mirrored_ignores_a_malformed_tf_config(monkeypatch):
    """MirroredStrategy trains on this machine only, yet TensorFlow parses TF_CONFIG while
    building it: a value left over from a multi-worker run was a JSONDecodeError traceback."""
    from ctcasr.train import Distributed

    monkeypatch.setenv("TF_CONFIG", "{cluster: 1")
    distributed = Distributed("mirrored")
    assert distributed.replicas >= 1 and distributed.workers == 1
    assert os.environ["TF_CONFIG"] == "{cluster: 1"  # left as the user set it


def test_multiworker_without_tf_config_fails_before_any_work(monkeypatch, tmp_path):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    config = TrainConfig(train_manifests=[str(tmp_path / "missing.jsonl")],
                         output_dir=str(tmp_path / "run"), strategy="multiworker")
    with pytest.raises(ConfigError, match="TF_CONFIG") as exc:
        train(config, verbose=0)
    _one_line(exc)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_cli_strategy_errors_are_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    for strategy, message in [
        ("bogus", "error: unknown strategy 'bogus'; choose one of: default, mirrored, multiworker"),
        ("multiworker", "error: strategy 'multiworker' needs the TF_CONFIG environment variable"),
    ]:
        result = subprocess.run(
            [sys.executable, "-c", CLI, "train", "x.jsonl", "-o", str(tmp_path / "run"),
             "--strategy", strategy],
            capture_output=True, text=True, env=env, timeout=120,
        )
        assert result.returncode == 1
        (line,) = result.stderr.strip().splitlines()
        assert line.startswith(message), line


@pytest.mark.slow
def test_a_task_whose_port_is_taken_is_a_one_line_error(tmp_path):
    """Another process on this task's port was a TensorFlow traceback ("Could not start gRPC
    server")."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        address = f"127.0.0.1:{busy.getsockname()[1]}"
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CONFIG": json.dumps(
            {"cluster": {"worker": [address]}, "task": {"type": "worker", "index": 0}})}
        result = subprocess.run(
            [sys.executable, "-c", CLI, "train", "x.jsonl", "-o", str(tmp_path / "run"),
             "--strategy", "multiworker"],
            capture_output=True, text=True, env=env, timeout=120,
        )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: could not serve TF_CONFIG task worker 0 at {address}: is its port in use by "
        "another process? (each task needs a free host:port)"
    )
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("text", "lost"), [
    ("{{function_node __wrapped__CollectiveReduceV2_device_/job:worker/replica:0/task:0/device:"
     "CPU:0}} Collective ops is aborted by: Error reported from /job:worker/task:1: The following "
     "tasks are unhealthy (stopped sending heartbeats):\n/job:worker/replica:0/task:1\nThe tasks "
     "have crashed.", "lost worker /job:worker/replica:0/task:1 (it stopped sending heartbeats)"),
    ("Socket closed", "lost contact with another worker (UnavailableError)"),
])
def test_a_worker_lost_mid_run_is_one_line_with_the_way_on(monkeypatch, tmp_path, text, lost):
    """A worker killed mid-epoch left each other one a page of TensorFlow traceback, with no
    word of the checkpoint that survived or of --resume."""
    import tensorflow as tf

    def dies(*args, **kwargs):
        raise tf.errors.UnavailableError(None, None, text)

    monkeypatch.setattr(sys.modules["ctcasr.train"], "_train", dies)
    (tmp_path / "run" / CHECKPOINTS).mkdir(parents=True)
    (tmp_path / "run" / CHECKPOINTS / LATEST).write_text("epoch-0002\n")
    config = TrainConfig(train_manifests=["a.jsonl"], output_dir=str(tmp_path / "run"),
                         strategy="multiworker")
    with pytest.raises(CtcasrError) as exc:
        train(config, verbose=0)
    assert _one_line(exc) == (
        f"{lost}: the last complete checkpoint is {tmp_path / 'run' / CHECKPOINTS / 'epoch-0002'}; "
        "run the same command on every worker with --resume to continue from it"
    )
    config.strategy = "default"  # on one device the same error is no lost worker
    with pytest.raises(tf.errors.UnavailableError):
        train(config, verbose=0)


@pytest.mark.slow
def test_ctrl_c_ends_a_worker_that_waits_for_a_peer_that_never_comes(tmp_path):
    """Building the strategy waits inside TensorFlow, holding the GIL, until every worker has
    connected: a worker whose peer never came ignored Ctrl-C (and SIGHUP) for good."""
    import signal
    import time

    mine, never = _free_ports(2)
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "TF_CONFIG": json.dumps(
        {"cluster": {"worker": [f"127.0.0.1:{mine}", f"127.0.0.1:{never}"]},
         "task": {"type": "worker", "index": 0}})}
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "train", "x.jsonl", "-o", str(tmp_path / "run"),
         "--strategy", "multiworker"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, preexec_fn=default_sigint,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:  # its server is up: waiting
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", mine)) == 0:
                    break
            time.sleep(0.2)
        time.sleep(1)
        assert proc.poll() is None
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=15) == -signal.SIGINT
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not (tmp_path / "run").exists()


# -- mirrored <-> default --------------------------------------------------------------------


def _manifests(tmp_path, fsdd_dir, train_indices=range(10, 13)):
    tmp_path.mkdir(parents=True, exist_ok=True)
    train_m = write_fsdd_manifest(tmp_path / "train.jsonl", fsdd_dir, train_indices)
    dev_m = write_fsdd_manifest(tmp_path / "dev.jsonl", fsdd_dir, range(5, 6))
    return train_m, dev_m


def _one_epoch_run(tmp_path: Path, fsdd_dir: Path) -> None:
    """cfg.toml for a one-epoch run with a dev set (and a copy of it at copy/dev.jsonl), and
    that run trained on one device, for the multiworker resumes to go on from."""
    _manifests(tmp_path, fsdd_dir, range(10, 11))
    (tmp_path / "copy").mkdir()
    (tmp_path / "copy" / "dev.jsonl").write_text((tmp_path / "dev.jsonl").read_text())
    (tmp_path / "cfg.toml").write_text(
        'train_manifests = ["train.jsonl"]\ndev_manifest = "dev.jsonl"\noutput_dir = "run"\n'
        'epochs = 1\nbatch_size = 8\ntensorboard = false\n'
        "[model]\n" + "".join(f"{k} = {v}\n" for k, v in TINY_MODEL.items())
    )
    train(TrainConfig.from_file(tmp_path / "cfg.toml", strategy="default"), verbose=0)


def _checkpoint(run: Path, epoch: int, what: str = "weights") -> list[np.ndarray]:
    with np.load(run / CHECKPOINTS / f"epoch-{epoch:04d}" / f"{what}.npz") as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


def _log_epochs(run: Path) -> list[int]:
    with open(run / "log.csv") as fh:
        return [int(row["epoch"]) for row in csv.DictReader(fh)]


@pytest.mark.slow
def test_mirrored_checkpoints_resume_under_default_and_back(tmp_path, fsdd_dir):
    import tensorflow as tf

    train_m, dev_m = _manifests(tmp_path, fsdd_dir)

    def config(name, epochs, strategy):
        return TrainConfig(
            train_manifests=[str(train_m)], dev_manifest=str(dev_m),
            output_dir=str(tmp_path / name), epochs=epochs, batch_size=16, model=TINY_MODEL,
            tensorboard=False, seed=7, strategy=strategy,
            augment=AugmentConfig(speed_factors=(0.9, 1.0, 1.1)),
        )

    run = tmp_path / "b"
    first = train(config("b", 1, "mirrored"), verbose=0)
    assert [h.epoch for h in first.history] == [1]
    assert (run / CHECKPOINTS / LATEST).read_text().strip() == "epoch-0001"
    assert json.loads((run / "train_config.json").read_text())["strategy"] == "mirrored"
    assert load_bundle(run / "model").metadata["epoch"] == 1

    second = train(config("b", 2, "default"), resume=True, verbose=0)
    assert [h.epoch for h in second.history] == [1, 2]
    assert second.history[0] == first.history[0]
    third = train(config("b", 3, "mirrored"), resume=True, verbose=0)
    assert [h.epoch for h in third.history] == [1, 2, 3]
    assert (run / CHECKPOINTS / LATEST).read_text().strip() == "epoch-0003"
    assert _log_epochs(run) == [1, 2, 3]
    assert load_bundle(third.bundle_path).keras_model() is not None

    # The same weights and optimizer state move through the files, so the run that changed
    # strategy twice ends where the same three sessions on one device do. (One replica does
    # the same arithmetic; with several GPUs, batch-norm statistics are per replica.)
    for epochs in (1, 2, 3):  # the same sessions: each one's epochs set its LR schedule
        reference = train(config("a", epochs, "default"), resume=epochs > 1, verbose=0)
    assert _checkpoint(run, 3, "optimizer")[0] == _checkpoint(tmp_path / "a", 3, "optimizer")[0]
    if len(tf.config.list_logical_devices("GPU")) <= 1:
        for got, want in zip(_checkpoint(run, 3), _checkpoint(tmp_path / "a", 3), strict=True):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)
        assert [h.loss for h in third.history] == pytest.approx(
            [h.loss for h in reference.history], rel=1e-5
        )


# -- two workers -----------------------------------------------------------------------------


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _run_workers(cwd: Path, args: list[str], n: int = 2, extra: dict[int, list[str]] | None = None,
                 check: bool = True, timeout: float = 240, attempts: int = 3, code: str = CLI):
    """Run ``ctcasr train ARGS`` (plus ``extra[index]``) as ``n`` workers of one cluster;
    return each one's output (and exit codes, with ``check=False``). ``code`` is the Python
    each worker runs: the CLI, after whatever a test injects.

    Each attempt uses fresh ports; one lost to another process in the gap between choosing
    and binding it makes that attempt fail at start-up, and the next one tries other ports."""
    for attempt in range(attempts):
        ports = _free_ports(n)
        cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
        procs, logs = [], []
        try:
            for index in range(n):
                env = {
                    **os.environ,
                    "TF_CONFIG": json.dumps(
                        {"cluster": cluster, "task": {"type": "worker", "index": index}}
                    ),
                    "CUDA_VISIBLE_DEVICES": "",  # CPU workers, even on a GPU machine
                    "TF_NUM_INTRAOP_THREADS": "1",
                    "PYTHONPATH": os.pathsep.join(
                        p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p
                    ),
                }
                log = cwd / f"worker{index}.log"
                logs.append(log)
                with open(log, "w") as fh:
                    procs.append(subprocess.Popen(
                        [sys.executable, "-c", code, "train", *args, *(extra or {}).get(index, [])],
                        cwd=cwd, env=env,
                        stdout=fh, stderr=subprocess.STDOUT,
                    ))
            for proc in procs:
                proc.wait(timeout=timeout)
        finally:
            for proc in procs:  # never leave a worker behind, whatever happened
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        outputs = [log.read_text(errors="replace") for log in logs]
        codes = [proc.returncode for proc in procs]
        if all(code == 0 for code in codes) or not check:
            return outputs if check else (codes, outputs)
        if attempt + 1 < attempts and any(
            re.search(r"address already in use|failed to bind|could not start", out, re.I)
            for out in outputs
        ):
            continue
        raise AssertionError(
            f"workers exited {[p.returncode for p in procs]}:\n"
            + "\n".join(f"--- worker {i}\n{out[-3000:]}" for i, out in enumerate(outputs))
        )
    raise AssertionError("unreachable")


def _epoch_losses(output: str) -> list[str]:
    return re.findall(r"^  loss (\S+)", output, re.M)


@pytest.mark.slow
def test_two_workers_train_together_and_resume_anywhere(tmp_path, fsdd_dir):
    from ctcasr.audio import load_audio
    from ctcasr.data import bucket_boundaries
    from ctcasr.features import FrontendConfig, num_frames
    from ctcasr.manifest import read_manifest
    from ctcasr.train import batches_per_epoch

    train_m, _ = _manifests(tmp_path, fsdd_dir, range(10, 12))
    batch_size = 8
    (tmp_path / "cfg.toml").write_text(
        f'train_manifests = ["train.jsonl"]\ndev_manifest = "dev.jsonl"\noutput_dir = "run"\n'
        f'epochs = 2\nbatch_size = {batch_size}\nseed = 7\nstrategy = "multiworker"\n'
        "[model]\n" + "".join(f"{k} = {v}\n" for k, v in TINY_MODEL.items())
    )
    run = tmp_path / "run"
    # No speed perturbation: every epoch has exactly this many global batches.
    frontend = FrontendConfig()
    frames = [num_frames(len(load_audio(e.audio_filepath, frontend.sample_rate)), frontend)
              for e in read_manifest(train_m).entries]
    steps = batches_per_epoch(frames, bucket_boundaries(frames), batch_size)

    outputs = _run_workers(tmp_path, ["--config", "cfg.toml"])
    chief, other = outputs
    assert "2 workers, this is worker 0 (chief)" in chief
    assert "this is worker 1" in other and "(chief)" not in other
    # Both took part in every step of the same global batches: the same losses, and the
    # optimizer counted one step per global batch (not one per worker's share).
    assert len(_epoch_losses(chief)) == 2 and _epoch_losses(chief) == _epoch_losses(other)
    assert _checkpoint(run, 2, "optimizer")[0] == 2 * steps
    assert (run / CHECKPOINTS / LATEST).read_text().strip() == "epoch-0002"
    assert _log_epochs(run) == [1, 2]
    bundle = load_bundle(run / "model")
    assert bundle.keras_model() is not None and bundle.metadata["epoch"] in (1, 2)
    assert list((run / "tensorboard").iterdir())

    # The chief's checkpoint resumes on one device ...
    config = TrainConfig.from_file(tmp_path / "cfg.toml", strategy="default", epochs=3,
                                   output_dir=str(run))
    resumed = train(config, resume=True, verbose=0)
    assert [h.epoch for h in resumed.history] == [1, 2, 3]
    assert [f"{h.loss:.3f}" for h in resumed.history[:2]] == _epoch_losses(chief)
    assert _checkpoint(run, 3, "optimizer")[0] == 3 * steps

    # ... and a single-device checkpoint resumes on the cluster.
    outputs = _run_workers(tmp_path, ["--config", "cfg.toml", "--strategy", "multiworker",
                                      "--epochs", "4", "--resume"])
    for out in outputs:
        assert "resumed from epoch-0003: continuing at epoch 4" in out
    assert _epoch_losses(outputs[0]) == _epoch_losses(outputs[1])
    assert len(_epoch_losses(outputs[0])) == 1
    assert _checkpoint(run, 4, "optimizer")[0] == 4 * steps
    assert _log_epochs(run) == [1, 2, 3, 4]
    assert load_bundle(run / "model").keras_model() is not None


@pytest.mark.slow
def test_workers_that_disagree_all_stop_with_the_reason(tmp_path, fsdd_dir):
    """Workers with other settings, or that would resume from another checkpoint than the
    chief's (output_dir not shared), must not train out of step: all of them stop at once."""
    _manifests(tmp_path, fsdd_dir, range(10, 11))
    (tmp_path / "cfg.toml").write_text(
        'train_manifests = ["train.jsonl"]\noutput_dir = "run"\nepochs = 1\nbatch_size = 8\n'
        'tensorboard = false\nstrategy = "multiworker"\n'
        "[model]\n" + "".join(f"{k} = {v}\n" for k, v in TINY_MODEL.items())
    )
    args = ["--config", "cfg.toml", "--quiet"]
    codes, outputs = _run_workers(tmp_path, args, extra={1: ["--seed", "3"]}, check=False)
    assert codes == [1, 1]
    for out in outputs:
        assert "error: 1 of 2 workers have other settings or training data than the chief" in out
    assert not (tmp_path / "run" / CHECKPOINTS).exists()

    train(TrainConfig.from_file(tmp_path / "cfg.toml", strategy="default"), verbose=0)
    codes, outputs = _run_workers(tmp_path, [*args, "--resume"], extra={1: ["-o", "elsewhere"]},
                                  check=False)
    assert codes == [1, 1]
    for out in outputs:
        assert "error: 1 of 2 workers do not start from the chief's checkpoint" in out
        assert "output_dir must be one folder that all workers share" in out


@pytest.mark.slow
def test_workers_whose_dev_paths_differ_resume_together(tmp_path, fsdd_dir):
    """A worker's dev manifest may lie at another path than the chief's (a mount elsewhere:
    the settings check leaves paths out). Each worker judged by its own path whether the dev
    set had changed since the checkpoint, and one that thought so waited alone in the
    re-scoring collective while the others trained: the cluster hung. The chief decides."""
    _one_epoch_run(tmp_path, fsdd_dir)
    codes, outputs = _run_workers(
        tmp_path, ["--config", "cfg.toml", "--strategy", "multiworker", "--epochs", "2",
                   "--resume"],
        extra={1: ["--dev", "copy/dev.jsonl"]}, check=False, timeout=150, attempts=1)
    assert codes == [0, 0], "\n".join(out[-2000:] for out in outputs)
    for out in outputs:
        assert "dev set changed" not in out  # the chief's dev set is the checkpoint's
    assert _epoch_losses(outputs[0]) == _epoch_losses(outputs[1])
    assert _log_epochs(tmp_path / "run") == [1, 2]


def _failing(target: str) -> str:
    """Worker code in which ``module:function`` raises RuntimeError, then the CLI."""
    module, name = target.split(":")
    return (
        f"import sys, {module}\n"
        "def boom(*args, **kwargs):\n"
        "    raise RuntimeError('injected')\n"
        f"setattr(sys.modules[{module!r}], {name!r}, boom)\n" + CLI
    )


@pytest.mark.slow
@pytest.mark.parametrize(("target", "args", "what"), [
    ("ctcasr.train:_saved_best_runner", ["--dev", "copy/dev.jsonl"],
     "score the saved best model (model/) on the new dev set"),
    ("ctcasr.decoding:greedy_decode", [], "score epoch 2 on the dev set"),
    ("ctcasr.train:_save_checkpoint", [], "write epoch 2's checkpoint, model and log"),
], ids=["rescoring", "scoring", "writing"])  # fmt: skip
def test_a_chief_that_fails_alone_stops_every_worker_with_its_reason(
    tmp_path, fsdd_dir, target, args, what
):
    """Loading and scoring the saved best on a new dev set, scoring an epoch and writing its
    checkpoint are the chief's alone, and the others wait for it in their next collective. A
    chief that failed there with an error of no expected kind (only the chief calls the
    injected function) died alone: a traceback on each worker, the others' a TensorFlow
    'Socket closed' (or a 0 exit where the chief failed after the last epoch). Now the chief
    still takes part, and every worker stops with its reason, nothing written half."""
    _one_epoch_run(tmp_path, fsdd_dir)
    run = tmp_path / "run"
    saved = (run / "model" / "bundle.json").read_bytes()
    codes, outputs = _run_workers(
        tmp_path, ["--config", "cfg.toml", "--strategy", "multiworker", "--epochs", "2",
                   "--resume", *args],
        check=False, timeout=120, code=_failing(target))
    assert codes == [1, 1], "\n".join(out[-2000:] for out in outputs)
    for out in outputs:
        assert f"error: the chief could not {what}: RuntimeError: injected\n" in out
        assert "Traceback" not in out
    # What the first run wrote is all there, and nothing of epoch 2 (model/ not re-scored).
    assert (run / CHECKPOINTS / LATEST).read_text().strip() == "epoch-0001"
    assert _log_epochs(run) == [1]
    assert (run / "model" / "bundle.json").read_bytes() == saved


@pytest.mark.slow
def test_every_worker_says_why_the_saved_best_could_not_be_rescored(tmp_path, fsdd_dir):
    """On a resume with another dev set, only the chief loads model/, so only it knew why the
    saved best could not be scored there: the others printed the line without the reason."""
    _one_epoch_run(tmp_path, fsdd_dir)
    config = tmp_path / "run" / "model" / "bundle.json"  # the best epoch's, another frontend
    data = json.loads(config.read_text())
    data["frontend"]["fmin"] += 10
    config.write_text(json.dumps(data))
    codes, outputs = _run_workers(
        tmp_path, ["--config", "cfg.toml", "--strategy", "multiworker", "--epochs", "2",
                   "--resume", "--dev", "copy/dev.jsonl"],
        check=False, timeout=120)
    assert codes == [0, 0], "\n".join(out[-2000:] for out in outputs)
    said = [re.findall(r"^resume: dev set changed.*", out, re.M) for out in outputs]
    assert said[0] == said[1] == [
        "resume: dev set changed and the saved best model could not be scored on it (run/model: "
        "not a model of this run); the best is chosen again from this epoch on"
    ]


def test_a_chiefs_error_reads_on_every_worker_as_the_command_line_gives_it():
    """An OSError crossed as ``OSError: [Errno 28] No space left on device: 'run/x'`` where
    the command line, on one device, says ``run/x: No space left on device``."""
    import errno

    from ctcasr.errors import CtcasrError
    from ctcasr.train import _reason
    from ctcasr.utils import os_error_text

    full = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "run/x")
    assert _reason(full) == os_error_text(full) == "run/x: No space left on device"
    moved = OSError(errno.EXDEV, os.strerror(errno.EXDEV), "a", None, "b")
    assert _reason(moved) == "a: b: Invalid cross-device link"
    assert _reason(CtcasrError("run: not a model\nmore")) == "run: not a model ..."
    assert _reason(RuntimeError("boom")) == "RuntimeError: boom"
    assert _reason(OSError("no errno")) == "OSError: no errno"
