"""Training: CTC loss, Adam with warm-up + cosine decay, per-epoch checkpoints, resume,
early stopping on dev CER, and CSV/TensorBoard logs.

Layout of ``output_dir``::

    train_config.json     the settings of this run (resume checks against it)
    checkpoints/          epoch-NNNN/ (weights, optimizer state, history) and LATEST
    model/                the best bundle so far (by dev CER), ready for ``ctcasr transcribe``
    derived_card.md       the model card model/ carries, made at the start from ``init_from``'s
                          (only when that bundle has one)
    log.csv               loss, dev WER/CER, learning rate, seconds and peak RSS per epoch
    tensorboard/          the same scalars for TensorBoard
    .ctcasr.lock          while a run writes the folder: its pid (a second run is refused)

``strategy`` picks how the work is spread: "default" (one device, no tf.distribute),
"mirrored" (``tf.distribute.MirroredStrategy`` over the local GPUs) or "multiworker"
(``tf.distribute.MultiWorkerMirroredStrategy``, cluster from ``TF_CONFIG``). Checkpoints hold
plain arrays (model weights and optimizer variables), so a run resumes under any strategy.
Under multiworker only the chief writes to ``output_dir``; see docs/distributed.md.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ctcasr.data import (
    PREFETCH_BATCHES,
    AugmentConfig,
    EpochSource,
    NoiseBank,
    bucket_boundaries,
    load_corpus,
    make_dataset,
    without_autotune,
)
from ctcasr.errors import ConfigError, CtcasrError
from ctcasr.features import FrontendConfig, num_frames
from ctcasr.manifest import read_manifest
from ctcasr.model import ModelConfig, is_folded_norm, output_lengths
from ctcasr.text import Alphabet
from ctcasr.utils import (
    atomic_dir,
    atomic_write_text,
    callers_random_state,
    cannot_read,
    check_field_types,
    check_writable,
    config_from_dict,
    first_line,
    folder_lock,
    os_error_text,
    plain,
    recover_dir,
)

CHECKPOINTS = "checkpoints"
LATEST = "LATEST"
CHECKPOINT_WEIGHTS = "weights.npz"  # in each checkpoints/epoch-NNNN/
LOG_COLUMNS = ("epoch", "loss", "dev_wer", "dev_cer", "learning_rate", "seconds", "peak_rss_mb")
STRATEGIES = ("default", "mirrored", "multiworker")
T = TypeVar("T")


@dataclass
class TrainConfig:
    train_manifests: list[str]
    output_dir: str
    dev_manifest: str | None = None
    epochs: int = 30
    batch_size: int = 32
    learning_rate: float = 2e-3
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.02
    clipnorm: float = 5.0
    patience: int = 8  # epochs without a better dev CER before stopping
    seed: int = 0
    keep_checkpoints: int = 2
    tensorboard: bool = True
    max_duration: float = 30.0
    jobs: int = 2
    alphabet: str | None = None  # path to an alphabet file; default: space, a-z, apostrophe
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    model: dict[str, Any] = field(default_factory=dict)  # ModelConfig overrides
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    metadata: dict[str, Any] = field(default_factory=dict)  # copied into the bundle
    strategy: str = "default"  # one of STRATEGIES: how training is spread over devices
    # A bundle whose weights start training (fine-tuning, or a curriculum's second stage).
    # It must have the same alphabet, frontend and architecture; a resumed checkpoint wins.
    init_from: str | None = None
    # Drop manifest lines that fail validation (listed and counted) instead of stopping.
    skip_bad: bool = False
    # Spell each transcript with normalize_text first (a corpus written for other toolkits).
    normalize_text: bool = False

    def __post_init__(self) -> None:
        if isinstance(self.train_manifests, (str, os.PathLike)):
            self.train_manifests = [str(self.train_manifests)]
        if not self.train_manifests:
            raise ConfigError("no training manifest given")
        # Paths are welcome from Python callers; they are kept as text, as a config file has them.
        if isinstance(self.train_manifests, list | tuple):
            self.train_manifests = [str(m) if isinstance(m, os.PathLike) else m
                                    for m in self.train_manifests]  # fmt: skip
        for name in ("output_dir", "dev_manifest", "alphabet", "init_from"):
            if isinstance(getattr(self, name), os.PathLike):
                setattr(self, name, str(getattr(self, name)))
        check_field_types(self, "training")
        if self.strategy not in STRATEGIES:
            raise ConfigError(
                f"unknown strategy {self.strategy!r}; choose one of: {', '.join(STRATEGIES)}"
            )
        for name in ("epochs", "batch_size"):  # which one, and its value, as jobs says them
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be at least 1, got {getattr(self, name)}")
        # Each checked before any data is read: NaN or inf trained an epoch and then
        # "diverged"; a negative min_lr_ratio made the schedule go below zero (gradient
        # ascent); a negative patience stopped after one epoch. max_duration = inf: no limit.
        for name, ok, kind in (
            ("learning_rate", 0 < self.learning_rate < math.inf, "a positive finite number"),
            ("clipnorm", 0 < self.clipnorm < math.inf, "a positive finite number"),
            ("max_duration", self.max_duration > 0, "a positive finite number"),
            ("min_lr_ratio", 0 <= self.min_lr_ratio <= 1, "a finite number in [0, 1]"),
            ("warmup_epochs", 0 <= self.warmup_epochs < math.inf, "a finite number in [0, inf]"),
        ):
            if not ok:  # NaN fails every comparison
                raise ConfigError(f"{name} must be {kind}, got {getattr(self, name)}")
        if self.patience < 1:
            raise ConfigError(f"patience must be at least 1 epoch, got {self.patience}")
        # A negative count kept every checkpoint, as 0 does; jobs of 0 or less ran as 1.
        if self.keep_checkpoints < 0:
            raise ConfigError(f"keep_checkpoints must be >= 0 (0 keeps all), got "
                              f"{self.keep_checkpoints}")  # fmt: skip
        if self.jobs < 1:
            raise ConfigError(f"jobs must be at least 1, got {self.jobs}")
        # Epoch e reseeds with seed * 1000 + e, and numpy takes 0 to 2**32 - 1 only: a
        # negative or huge seed was a ValueError traceback after the data had loaded.
        if not 0 <= self.seed * 1000 + self.epochs - 1 < 2**32 or self.seed < 0:
            raise ConfigError(f"seed must be from 0 to {(2**32 - self.epochs) // 1000} "
                              f"(with {self.epochs} epochs), got {self.seed}")  # fmt: skip
        if isinstance(self.frontend, dict):
            self.frontend = FrontendConfig.from_dict(self.frontend)
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig.from_dict(self.augment)
        for name, config_class in (("frontend", FrontendConfig), ("augment", AugmentConfig)):
            value = getattr(self, name)
            if not isinstance(value, config_class):  # "augment": "x" was an AttributeError
                shown = json.dumps(value, default=str)[:40]
                raise ConfigError(f"{name} must be a table of settings, got {shown}")
        allowed = {f.name for f in fields(ModelConfig)} - {"num_features", "num_classes"}
        if bad := set(self.model) - allowed:
            raise ConfigError(f"unknown or derived model settings: {', '.join(sorted(bad))}")
        ModelConfig(**self.model)  # its types and ranges, now rather than after loading data
        try:  # it is written into train_config.json and the bundle
            json.dumps(self.metadata)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"metadata must hold JSON values only (text, numbers, lists, "
                              f"tables): {exc}") from None  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        data = plain(asdict(self))
        data["frontend"] = self.frontend.to_dict()
        data["augment"] = self.augment.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return config_from_dict(cls, data, "training")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **overrides: Any) -> TrainConfig:
        """Read a TOML or JSON config; relative manifest paths are taken from the file's folder."""
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10: the same parser, installed as tomli
            import tomli as tomllib

        path = Path(path)
        try:
            raw = path.read_bytes()
            data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode())
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot parse config ({exc})") from None
        except OSError as exc:
            raise ConfigError(cannot_read(path, "config", exc)) from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: a config is a table of settings, got {type(data).__name__}")
        base = path.parent
        for key in ("train_manifests", "dev_manifest", "output_dir", "alphabet", "init_from"):
            value = data.get(key)
            if isinstance(value, list):
                data[key] = [str(base / v) if isinstance(v, str) else v for v in value]
            elif key == "init_from" and isinstance(value, str) and _bundled_name(value, base):
                pass  # a bundled model by name ("default"), as on the command line
            elif isinstance(value, str):
                data[key] = str(base / value)
        augment = data.get("augment")
        if isinstance(augment, dict) and isinstance(augment.get("noise_dir"), str):
            augment["noise_dir"] = str(base / augment["noise_dir"])
        # Command-line values win and are relative to the working directory, not the file.
        given = {k: v for k, v in overrides.items() if v is not None}
        data.update(given)
        try:
            return cls.from_dict(data)
        except (TypeError, ConfigError) as exc:
            # Name the file, as a parse error does: a run reads one of several configs.
            where = f"{path} with the command line's settings" if given else str(path)
            raise ConfigError(f"{where}: {exc}") from None


def _bundled_name(value: str, base: Path) -> bool:
    from ctcasr.bundle import PRETRAINED_DIR

    return not (base / value).exists() and "/" not in value and (PRETRAINED_DIR / value).is_dir()


@dataclass
class EpochLog:
    epoch: int
    loss: float
    dev_wer: float | None
    dev_cer: float | None
    learning_rate: float
    seconds: float
    # The training process's peak RSS so far: kept per epoch so that a resumed run reports
    # the peak of every process that trained it, not only its own.
    peak_rss_mb: float | None = None


@dataclass
class TrainResult:
    bundle_path: str
    epochs_run: int
    best_epoch: int
    best_dev_cer: float | None
    best_dev_wer: float | None
    parameters: int
    history: list[EpochLog]
    peak_rss_mb: float
    train_utterances: int
    dropped_utterances: list[str]

    @property
    def seconds_per_epoch(self) -> float:
        times = [h.seconds for h in self.history]
        return float(np.median(times)) if times else 0.0

    @property
    def training_minutes(self) -> float:
        """Every epoch's time, a resumed run's earlier processes included."""
        return sum(h.seconds for h in self.history) / 60


def peak_rss_mb() -> float:
    """This process's peak resident memory in MB; 0.0 where the system will not say.
    ``resource`` is Unix-only (imported at the top, ``import ctcasr`` failed on Windows),
    and macOS counts ``ru_maxrss`` in bytes where Linux counts kilobytes."""
    try:
        import resource
    except ImportError:
        return _windows_peak_bytes() / 1024**2
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024**2 if sys.platform == "darwin" else 1024)


def _windows_peak_bytes() -> int:
    """The peak working set of this process (Windows' GetProcessMemoryInfo), or 0."""
    import ctypes

    size_t = ctypes.c_size_t

    class Counters(ctypes.Structure):
        _fields_ = [("cb", ctypes.c_uint32), ("faults", ctypes.c_uint32),
                    *((name, size_t) for name in ("peak", "now", "peak_paged", "paged",
                                                  "peak_nonpaged", "nonpaged", "pagefile",
                                                  "peak_pagefile"))]  # fmt: skip

    try:
        kernel32 = ctypes.windll.kernel32  # type: ignore[attr-defined]
        kernel32.GetCurrentProcess.restype = ctypes.c_void_p
        counters = Counters(cb=ctypes.sizeof(Counters))
        if kernel32.K32GetProcessMemoryInfo(ctypes.c_void_p(kernel32.GetCurrentProcess()),
                                            ctypes.byref(counters), counters.cb):  # fmt: skip
            return int(counters.peak)
    except (AttributeError, OSError):  # not Windows
        pass
    return 0


def train(config: TrainConfig, resume: bool = False, verbose: int = 1) -> TrainResult:
    """Train a model as ``config`` says and return where the best bundle went. The output
    folder is locked for the run (on the chief): a second run into it is refused."""
    with contextlib.ExitStack() as lock, callers_random_state():
        try:
            return _train(config, resume, verbose, lock)
        except Exception as exc:
            if config.strategy != "multiworker" or not (lost := _lost_worker(exc)):
                raise
            raise CtcasrError(interrupted_message(config.output_dir, lost).replace(
                "run the same command", "run the same command on every worker")) from None


_TASK_NAME = re.compile(r"/job:\w+/replica:\d+/task:\d+")


def _lost_worker(exc: BaseException) -> str | None:
    """What a TensorFlow error says of a worker that died or cannot be reached, in one line;
    None for other errors. The workers left behind printed a page of TensorFlow traceback
    (the chief's among them) and no word of what was saved or how to go on."""
    tf = sys.modules.get("tensorflow")
    lost_kinds = () if tf is None else (tf.errors.UnavailableError, tf.errors.AbortedError,
                                        tf.errors.CancelledError, tf.errors.DeadlineExceededError)
    if not isinstance(exc, lost_kinds):
        return None
    _, unhealthy, named = str(exc).partition("unhealthy")
    tasks = sorted(set(_TASK_NAME.findall(named))) if unhealthy else []
    if tasks:
        return f"lost worker {', '.join(tasks)} (it stopped sending heartbeats)"
    return f"lost contact with another worker ({type(exc).__name__})"


def _train(config: TrainConfig, resume: bool, verbose: int, lock: contextlib.ExitStack
           ) -> TrainResult:  # fmt: skip
    from ctcasr.utils import import_tensorflow

    # The strategy comes first: TF_CONFIG is checked before TensorFlow loads, and multi-worker
    # collectives must be set up before any other TensorFlow work.
    dist = Distributed(config.strategy) if config.strategy != "default" else None
    tf = import_tensorflow()
    import keras

    from ctcasr.model import build_model, count_parameters
    from ctcasr.runtime import KerasRunner

    is_chief = dist is None or dist.is_chief
    out = Path(config.output_dir)
    given, config = config, _with_init_architecture(config, out, resume)
    if verbose and is_chief and config.model != given.model:
        print(f"model settings from {config.init_from}: " + ", ".join(
            f"{k} = {v}" for k, v in config.model.items() if k not in given.model))
    frontend = config.frontend
    setup = functools.partial(_setup, config, out, resume, lock if is_chief else None)
    # Under multiworker a failure on one worker stops all of them instead of leaving the
    # others waiting for it in the first collective.
    alphabet, model_config, corpus, dev, init = setup() if dist is None else dist.everywhere(setup)
    if verbose:
        _print_data(dist, corpus, dev)
    # What each checkpoint records it trained and was scored on.
    data = {"train": _data_record(corpus), "dev": _data_record(dev) if dev else None}

    keras.utils.set_random_seed(config.seed)
    with _scope(dist):
        model = build_model(model_config)
    n_params = count_parameters(model)
    if verbose:
        print(f"model: {n_params:,} parameters")

    frames = [num_frames(len(w), frontend) for w in corpus.waveforms]
    boundaries = bucket_boundaries(frames)
    steps_per_epoch = batches_per_epoch(frames, boundaries, config.batch_size)
    schedule = WarmupCosine(
        config.learning_rate,
        warmup_steps=max(1, int(config.warmup_epochs * steps_per_epoch)),
        total_steps=config.epochs * steps_per_epoch,
        min_ratio=config.min_lr_ratio,
    )
    with _scope(dist):
        optimizer = (
            keras.optimizers.Adam(learning_rate=schedule, clipnorm=config.clipnorm)
            if dist is None
            else dist.optimizer(learning_rate=schedule, clipnorm=config.clipnorm)
        )
        optimizer.build(model.trainable_variables)

    load_state = functools.partial(
        _load_state, config, out, model, optimizer, init, resume, is_chief, verbose, data
    )
    if dist is None:
        start_epoch, history, best = load_state()
        freeze_folded_norm(model, verbose)
        train_step = make_train_step(model, optimizer, model_config, alphabet.blank_index)
    else:
        start_epoch, history, best = dist.everywhere(load_state)
        dist.check_same_start(start_epoch, model, optimizer, _plan(config, corpus, frames))
        freeze_folded_norm(model, verbose and is_chief)  # same weights everywhere: same answer
        train_step = dist.train_step(model, optimizer, model_config, alphabet.blank_index)

    def prepare_outputs() -> Any:  # the chief's writes before training, which the others wait for
        if history:
            _catch_up(out, model, config, model_config, alphabet, history, best, n_params)
        return (
            tf.summary.create_file_writer(str(out / "tensorboard")) if config.tensorboard else None
        )

    tb = _on_chief(dist, prepare_outputs, f"prepare {out} for training")
    # After _catch_up, which may write the saved best; on every worker (a collective).
    _rescore_best(out, best, start_epoch, config, model_config, alphabet, dev, dist, verbose,
                  start_epoch > 0 and _dev_rewritten(out, data))  # fmt: skip

    source = EpochSource(corpus, frontend, config.augment, config.seed, model_config)
    runner = KerasRunner(model, model_config, batch_size=64)
    stopped_early = False
    for epoch in range(start_epoch, config.epochs):
        if best.stale(epoch, config.patience):
            stopped_early = True
            break
        # Per-epoch seeding: a resumed epoch draws the same dropout and data as an unbroken run.
        keras.utils.set_random_seed(config.seed * 1000 + epoch)
        if verbose:
            print(f"Epoch {epoch + 1}/{config.epochs}")
        batches = (
            make_dataset(source, epoch, config.batch_size, boundaries)
            if dist is None
            else dist.dataset(source, epoch, config.batch_size, boundaries)
        )
        t0 = time.perf_counter()
        loss = _run_epoch(train_step, batches, epoch, steps_per_epoch, schedule, optimizer, verbose)
        seconds = time.perf_counter() - t0
        if dist is not None:
            dist.sync_non_trainable(model)  # average the replicas' batch-norm statistics
        score = functools.partial(_score, dev, runner, alphabet)
        dev_wer, dev_cer = _dev_scores(dev, score, dist, f"score epoch {epoch + 1} on the dev set")
        log = EpochLog(
            epoch + 1,
            loss,
            dev_wer,
            dev_cer,
            float(schedule(optimizer.iterations)),
            round(seconds, 2),
            round(peak_rss_mb(), 1),
        )
        history.append(log)
        if verbose:
            dev_msg = f"  dev WER {dev_wer:.2%} CER {dev_cer:.2%}" if dev is not None else ""
            print(f"  loss {log.loss:.3f}{dev_msg}  ({seconds:.1f} s)")
        improved = best.update(epoch, dev_cer, dev_wer)

        def write_epoch(log: EpochLog = log, improved: bool = improved) -> None:
            if tb is not None:
                _write_scalars(tf, tb, log.epoch, asdict(log))
            # The checkpoint first: a run killed in its first one then leaves no model or log
            # that a new start would take for an earlier run's (neither --resume nor a rerun
            # went on); a resume writes what a kill after it left out (_catch_up).
            _save_checkpoint(out / CHECKPOINTS, log.epoch - 1, model, optimizer, history, best,
                             config.keep_checkpoints, data)  # fmt: skip
            if improved:
                _save_best(out, model, config, model_config, alphabet, log, n_params)
            _write_log(out / "log.csv", history)

        # Only the chief writes; the others keep the same state in memory.
        _on_chief(dist, write_epoch, f"write epoch {epoch + 1}'s checkpoint, model and log")
    if tb is not None:
        tb.close()
    if verbose and stopped_early:
        print(f"early stop: no better dev CER for {config.patience} epochs")
    return TrainResult(
        bundle_path=str(out / "model"),
        epochs_run=len(history),
        best_epoch=(best.epoch or 0) + 1,
        best_dev_cer=best.cer,
        best_dev_wer=best.wer,
        parameters=n_params,
        history=history,
        peak_rss_mb=max([round(peak_rss_mb(), 1)] + [h.peak_rss_mb or 0.0 for h in history]),
        train_utterances=len(corpus),
        dropped_utterances=corpus.dropped,
    )


def _scope(dist: Distributed | None):
    return dist.scope() if dist is not None else contextlib.nullcontext()


def _setup(config: TrainConfig, out: Path, resume: bool, lock: contextlib.ExitStack | None):
    """Everything a run needs before TensorFlow builds anything; fails early on bad input.
    ``lock`` (the chief's) holds the output folder first, so that what the checks find in
    it stays true while this run writes it."""
    _refuse_bundle_place(out)  # before the lock makes the folder
    if lock is not None:
        # now: every utterance was read and the model built before the first checkpoint
        # failed with "Permission denied"
        check_writable(out, CtcasrError)
        lock.enter_context(folder_lock(out, functools.partial(_busy_message, out)))
    _check_output_dir(out, config, resume)
    augment = config.augment
    if augment.noise_dir and augment.noise_prob > 0:
        # now, not after every utterance has been read and the model built
        NoiseBank.paths(augment.noise_dir)
    alphabet = Alphabet.from_file(config.alphabet) if config.alphabet else Alphabet()
    model_config = ModelConfig(
        num_features=config.frontend.num_features,
        num_classes=alphabet.num_classes,
        **config.model,
    )
    # A resumed run starts from its checkpoint, so the bundle it was first initialised from
    # is not needed (and may be gone).
    resuming = resume and (out / CHECKPOINTS / LATEST).exists()
    init = (
        _init_bundle(config.init_from, alphabet, config.frontend, model_config)
        if config.init_from and not resuming
        else None
    )
    corpus, dev = _load_corpora(config, alphabet, model_config)
    return alphabet, model_config, corpus, dev, init


def _busy_message(out: Path, pid: int | None) -> str:
    holder = f" (pid {pid})" if pid is not None else ""
    return (f"{out}: another training{holder} is writing to this folder; wait for it to "
            "end or choose another output directory")


def _print_data(dist: Distributed | None, corpus, dev) -> None:
    if dist is not None:
        print(f"strategy: {dist.describe()}")
    print(
        f"train: {len(corpus)} utterances ({len(corpus.dropped)} dropped)"
        + (f", dev: {len(dev)} ({len(dev.dropped)} dropped)" if dev else "")
    )
    for msg in corpus.dropped[:5]:
        print(f"  dropped {msg}")
    # The dev set picks the best epoch: what it lost is said too (it was silent).
    for msg in (dev.dropped[:5] if dev else []):
        print(f"  dropped from dev {msg}")


def _load_state(
    config: TrainConfig,
    out: Path,
    model,
    optimizer,
    init,
    resume: bool,
    is_chief: bool,
    verbose: int,
    data: dict[str, Any] | None = None,
) -> tuple[int, list[EpochLog], _Best]:
    """Where the run starts: the latest checkpoint when resuming, else epoch 0 (from
    ``init_from``'s weights when given)."""
    ckpt_dir = out / CHECKPOINTS
    if resume and is_chief and ckpt_dir.is_dir():
        _clear_partial(ckpt_dir)
    if resume and (state := _latest_checkpoint(ckpt_dir)) is not None:
        restored = _restore(state, model, optimizer)
        if verbose:
            print(f"resumed from {state.name}: continuing at epoch {restored[0] + 1}")
        if is_chief:
            _note_changes(out, config, verbose)
            _note_data_change(state, data, verbose)
        return restored
    if resume and verbose:  # a mistyped folder should not pass unnoticed
        print(f"no checkpoint in {ckpt_dir}: starting from epoch 1")
    if init is not None:
        model.set_weights(init.keras_model().get_weights())
        if verbose:
            print(f"initialised from {init.path}")
    if is_chief:
        text = json.dumps(config.to_dict(), indent=2) + "\n"
        atomic_write_text(out / "train_config.json", text)
        _write_derived_card(out, config, init)
    return 0, [], _Best(dev=_dev_key(config))


DERIVED_CARD = "derived_card.md"


def _write_derived_card(out: Path, config: TrainConfig, init) -> None:
    """Keep in the run folder the card each saved model gets: ``init``'s card under a note
    of this fine-tune (a fine-tune of the bundled model had no card, so none of the notices
    its CC BY and CC BY-SA training data ask adaptations to keep). Written at the start, as
    a resumed run's start bundle may be gone; a stale one from a start killed early goes."""
    from ctcasr.bundle import CardSource, derived_card

    card = None
    if init is not None:
        source = CardSource.of_bundle(init.path)
        manifests = ", ".join(f"`{m}`" for m in config.train_manifests)
        card = derived_card(f"`ctcasr train` made `{out / 'model'}` by fine-tuning the weights "
                            f"of {source.label} on {manifests}; what those hold is not "
                            "described here: add its sources, licences and the notices they "
                            "ask for.", [source])  # fmt: skip
    if card is None:
        (out / DERIVED_CARD).unlink(missing_ok=True)
    else:
        atomic_write_text(out / DERIVED_CARD, card)


def _dev_key(config: TrainConfig) -> str | None:
    """The dev manifest as the checkpoint records it: one file, however its path is written."""
    return os.path.realpath(config.dev_manifest) if config.dev_manifest else None


def _run_epoch(
    train_step, batches, epoch: int, steps: int, schedule, optimizer, verbose: int
) -> float:
    """One pass over the batches; the mean loss. A non-finite loss stops the run."""
    import keras

    bar = keras.utils.Progbar(steps, verbose=_bar_mode(verbose), stateful_metrics=["lr"])
    losses: list[float] = []
    for step, batch in enumerate(batches, start=1):
        loss = float(train_step(*batch))
        if not math.isfinite(loss):
            raise CtcasrError(f"training diverged: loss is {loss} at epoch {epoch + 1}")
        losses.append(loss)
        bar.update(step, [("loss", loss), ("lr", float(schedule(optimizer.iterations)))])
    if verbose and len(losses) != steps:  # speed perturbation moved some buckets
        bar.update(len(losses), finalize=True)
    return float(np.mean(losses))


def _bar_mode(verbose: int) -> int:
    """Keras's Progbar verbosity: its bar redrawn in place (1) only on a terminal that takes
    colour. Keras takes any POSIX system for one, so `ctcasr train > log` (a CI log, a pipe)
    got backspaces, carriage returns and ANSI colour codes; elsewhere a plain line per epoch."""
    if not verbose or sys.stdout is None:  # stdout closed (`>&-`): the bar crashed the run
        return 0
    live = sys.stdout.isatty() and not os.environ.get("NO_COLOR")
    return 1 if live else 2


def _on_chief(dist: Distributed | None, fn: Callable[[], T], what: str) -> T | None:
    """``fn()`` on the one worker that writes and scores: on one device just that; under
    multiworker the others learn whether it failed (Distributed.on_chief)."""
    return fn() if dist is None else dist.on_chief(fn, what)


def _dev_scores(dev, score: Callable[[], list[float]], dist: Distributed | None,
                what: str) -> tuple[float | None, float | None]:  # fmt: skip
    """Dev WER and CER as ``score()`` measures them on the chief; every worker takes the
    chief's numbers, so all of them stop early together. NaN (no model to score): None on
    every worker. A chief that fails to score stops every worker (``what`` says which
    scoring) rather than leaving them waiting for its numbers."""
    if dev is None:
        return None, None
    scores = _on_chief(dist, score, what)
    wer, cer = dist.from_chief(scores or [math.nan] * 2) if dist is not None else scores or []
    return (None, None) if math.isnan(cer) else (wer, cer)


def _score(dev, runner, alphabet: Alphabet) -> list[float]:
    """[WER, CER] of ``runner``'s greedy output on ``dev``, read and joined as ``evaluate``
    reads and joins it; NaN, not None (it crosses from_chief), when there is no runner."""
    if runner is None:
        return [math.nan, math.nan]
    from ctcasr.decoding import greedy_decode
    from ctcasr.metrics import error_report

    inputs = dev.inputs or []
    outputs = iter(runner([x for pieces in inputs for x in pieces]))
    hyps = []
    for pieces in inputs:  # a long utterance's pieces joined as transcribe joins them
        texts = [greedy_decode(next(outputs), alphabet).text for _ in pieces]
        hyps.append(" ".join(t for t in texts if t))
    report = error_report([e.text for e in dev.entries], hyps)
    return [report.wer, report.cer]


def _rescore_best(out: Path, best: _Best, start_epoch: int, config: TrainConfig,
                  model_config: ModelConfig, alphabet: Alphabet, dev,
                  dist: Distributed | None, verbose: int,
                  rewritten: bool = False) -> None:  # fmt: skip
    """On a resume with another dev set, score the saved best model (``model/``) on it as an
    epoch is scored, and keep those scores as the ones to beat: cleared, the saved best no
    longer competed and a worse new epoch replaced it. A saved best that cannot be loaded
    clears them (the next epoch is then the best), as does a resume without a dev set; any
    other failure to load or score it stops the run (every worker, under multiworker).
    Checkpoints from before the scores named their dev set (UNKNOWN_DEV) keep theirs.
    ``rewritten``: the dev manifest's path is the same but not its content (_dev_rewritten)."""
    key = _dev_key(config)
    changed = best.dev not in (UNKNOWN_DEV, key) or (best.dev == key and rewritten)
    changed = changed and best.cer is not None
    if dist is not None:
        # The chief's answer on every worker: a worker's dev manifest may lie at another path
        # (the settings check leaves paths out), and one that alone took it for another set
        # met the others' training collectives with the re-scoring one below.
        changed = bool(dist.from_chief([float(changed)])[0])
    best.dev = key
    if not changed:
        return
    best.cer = best.wer = None
    # Patience counts from the resume, not from the saved best's epoch: the epochs since it
    # were found worse on the old dev set only, so counting them would stop the run (even
    # before any new epoch) on numbers from elsewhere. Each new dev set gets the full
    # patience to beat the saved best; best.epoch stays the saved model's, which is what
    # model/ holds and what the result reports.
    best.patience_from = start_epoch - 1
    if dev is None:
        if verbose:
            print("resume: no dev set now; the latest model is the best from this epoch on")
        return
    why = None

    def score_saved() -> list[float]:  # on the chief
        nonlocal why
        try:
            saved, runner = _saved_best_runner(out, best, config, model_config, alphabet)
        except (CtcasrError, OSError, ValueError) as exc:
            why = first_line(exc)
            return [math.nan, math.nan]
        wer, cer = _score(dev, runner, alphabet)
        _set_metadata(saved, {"dev_wer": wer, "dev_cer": cer})  # its scores on this set now
        return [wer, cer]

    what = "score the saved best model (model/) on the new dev set"
    wer, cer = _dev_scores(dev, score_saved, dist, what)
    if cer is None:
        if dist is not None:  # only the chief knows why: each worker says the same
            why = dist.text_from_chief(why or "")
        if verbose:
            reason = f" ({why})" if why else ""
            print("resume: dev set changed and the saved best model could not be scored on "
                  f"it{reason}; the best is chosen again from this epoch on")  # fmt: skip
        return
    best.cer, best.wer = cer, wer
    if verbose:
        print(f"resume: dev set changed; saved best (epoch {(best.epoch or 0) + 1}) re-scored on "
              f"{config.dev_manifest}: CER {cer:.2%} WER {wer:.2%}")  # fmt: skip


def _saved_best_runner(out: Path, best: _Best, config: TrainConfig,
                       model_config: ModelConfig, alphabet: Alphabet):  # fmt: skip
    """``model/`` and a runner of its Keras model, if it is the best epoch's model of this
    run; else BundleError."""
    from ctcasr.bundle import load_bundle
    from ctcasr.errors import BundleError
    from ctcasr.runtime import KerasRunner

    saved = load_bundle(out / "model")
    if (saved.model_config, saved.frontend, saved.alphabet) != (model_config, config.frontend,
                                                                alphabet):  # fmt: skip
        raise BundleError(f"{saved.path}: not a model of this run")
    if (epoch := saved.metadata.get("epoch")) != (want := (best.epoch or 0) + 1):
        raise BundleError(f"{saved.path}: holds epoch {epoch}, not the best epoch {want}")
    return saved, KerasRunner(saved.keras_model(), model_config, batch_size=64)


def _set_metadata(bundle, values: dict[str, Any]) -> None:
    """Replace metadata entries in a bundle's config file (the weights stay as they are)."""
    from ctcasr.bundle import CONFIG_FILE

    path = bundle.path / CONFIG_FILE
    data = json.loads(path.read_text(encoding="utf-8"))
    data["metadata"] = {**(data.get("metadata") or {}), **values}
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def _save_model(path: Path, model, config: TrainConfig, model_config: ModelConfig,
                alphabet: Alphabet, metadata: dict[str, Any]) -> None:  # fmt: skip
    from ctcasr.bundle import save_bundle

    card = path.parent / DERIVED_CARD  # the run's (see _write_derived_card)
    save_bundle(path, model, config.frontend, model_config, alphabet,
                metadata={**config.metadata, **metadata},
                card=card.read_text(encoding="utf-8") if card.is_file() else None)  # fmt: skip


def _save_best(out: Path, model, config: TrainConfig, model_config: ModelConfig,
               alphabet: Alphabet, log: EpochLog, n_params: int) -> None:  # fmt: skip
    metadata = {"epoch": log.epoch, "dev_wer": log.dev_wer, "dev_cer": log.dev_cer,
                "parameters": n_params}  # fmt: skip
    _save_model(out / "model", model, config, model_config, alphabet, metadata)


def _catch_up(out: Path, model, config: TrainConfig, model_config: ModelConfig,
              alphabet: Alphabet, history: list[EpochLog], best: _Best,
              n_params: int) -> None:  # fmt: skip
    """On resume, write what a kill between the last checkpoint and the writes after it left
    out: the model of that epoch if it was the best (the restored weights are its), and the log."""
    from ctcasr.bundle import CONFIG_FILE

    recover_dir(out / "model")
    last = history[-1]
    if best.epoch == last.epoch - 1:
        try:
            saved = json.loads((out / "model" / CONFIG_FILE).read_text(encoding="utf-8"))
            epoch = saved["metadata"]["epoch"]
        except (OSError, ValueError, KeyError, TypeError):
            epoch = None
        if epoch != last.epoch:
            _save_best(out, model, config, model_config, alphabet, last, n_params)
    _write_log(out / "log.csv", history)


def freeze_folded_norm(model, verbose: int = 0) -> bool:
    """Freeze the conv's batch norm when it is the identity that a model rebuilt from
    ``model.onnx`` has (a bundle exported with ``--drop-keras``, as the bundled model is): the
    graph folds the norm into the conv, and trained as it was, the norm rescaled the conv's
    output by each batch's statistics, so fine-tuning began from log-probabilities up to 4
    apart from the model's. Frozen, it stays the identity (and its offset fixed)."""
    bn = model.get_layer("conv_bn")
    gamma, _, mean, var = bn.get_weights()
    folded = is_folded_norm(gamma, mean, var, bn.epsilon)
    if folded:
        bn.trainable = False
        if verbose:
            print("batch norm frozen: these weights come from model.onnx, which folds it into "
                  "the conv")
    return folded


# What a bundle's weights fix; the rest of ModelConfig follows from the alphabet and frontend
# (num_classes, num_features) or is a training setting (dropout).
ARCHITECTURE = ("conv_filters", "conv_kernel", "conv_stride", "rnn_units", "rnn_layers")


def _with_init_architecture(config: TrainConfig, out: Path, resume: bool) -> TrainConfig:
    """The run's model settings, with ``init_from``'s architecture for each one the run leaves
    out: the command line has no model options, so fine-tuning the bundled model (wider than
    the defaults) took a config file that repeated what the bundle already says. Settings the
    run gives are kept, and checked against the bundle later. A resumed run takes them from
    its own train_config.json, since its bundle may be gone."""
    if not config.init_from:
        return config
    source: dict[str, Any] | None = None
    saved = out / "train_config.json"
    if resume and (out / CHECKPOINTS / LATEST).exists():
        if saved.is_file():
            model = _read_json(saved, "run settings").get("model")
            source = model if isinstance(model, dict) else None
    else:
        from ctcasr.bundle import load_bundle

        try:
            source = asdict(load_bundle(config.init_from).model_config)
        except (CtcasrError, OSError, ValueError):
            source = None  # _init_bundle says what is wrong with it, after the other checks
    if source is None:
        return config
    inherited = {k: source[k] for k in ARCHITECTURE if k in source and k not in config.model}
    return replace(config, model={**config.model, **inherited}) if inherited else config


def _init_bundle(path: str, alphabet: Alphabet, frontend, model_config: ModelConfig):
    """The bundle to start from, refused early if its weights could not fit this model."""
    from ctcasr.bundle import load_bundle

    bundle = load_bundle(path)
    if bundle.alphabet.labels != alphabet.labels:
        raise ConfigError(f"init_from {path}: its alphabet differs from the training alphabet")
    if bundle.frontend != frontend:
        raise ConfigError(f"init_from {path}: its frontend settings differ from this run's")
    theirs, ours = asdict(bundle.model_config), asdict(model_config)
    theirs.pop("dropout"), ours.pop("dropout")  # a training setting; the weights fit either way
    if theirs != ours:
        diff = ", ".join(f"{k} {v} there, {ours[k]} here"
                         for k, v in theirs.items() if v != ours[k])  # fmt: skip
        # The command line has no model options: say where the bundle's values go, or a
        # user fine-tuning the bundled model had only "256 there, 192 here" to go on.
        wanted = ", ".join(f"{k} = {json.dumps(v)}" for k, v in theirs.items()
                           if v != ours[k] and k in ARCHITECTURE)  # fmt: skip
        hint = f"; leave them out of the [model] table, or give the bundle's: {wanted}"
        raise ConfigError(f"init_from {path}: different architecture ({diff})"
                          + (hint if wanted else ""))  # fmt: skip
    return bundle


def _load_corpora(config: TrainConfig, alphabet: Alphabet, model_config: ModelConfig):
    frontend = config.frontend
    entries, skipped = [], []
    for manifest in config.train_manifests:
        report = read_manifest(manifest, alphabet, skip_bad=config.skip_bad,
                               normalize=config.normalize_text)
        entries += report.entries
        skipped += report.skipped
    dev_entries, dev_skipped = [], []
    if config.dev_manifest:
        report = read_manifest(config.dev_manifest, alphabet, skip_bad=config.skip_bad,
                               normalize=config.normalize_text)
        dev_entries, dev_skipped = report.entries, report.skipped
        if not any(e.text.strip() for e in dev_entries):  # error rates need reference words
            raise ConfigError(f"{config.dev_manifest}: every dev transcript is empty; the dev "
                              "WER and CER that pick the best epoch cannot be measured")
    corpus = load_corpus(
        entries,
        frontend,
        alphabet,
        model_config,
        cache_features=not config.augment.changes_waveform,
        max_duration=config.max_duration,
        jobs=config.jobs,
    )
    dev = (
        load_corpus(
            dev_entries,
            frontend,
            alphabet,
            model_config,
            max_duration=config.max_duration,
            jobs=config.jobs,
            what="dev",
            as_transcribed=True,
        )
        if dev_entries
        else None
    )
    corpus.dropped[:0] = skipped  # bad manifest lines first, then unusable audio
    if dev is not None:
        dev.dropped[:0] = dev_skipped
    return corpus, dev


def _plan(config: TrainConfig, corpus, frames: list[int]) -> str:
    """What fixes the sequence of training steps: the settings other than file locations,
    and the frame and label lengths of the training data."""
    settings = config.to_dict()
    for key in ("train_manifests", "dev_manifest", "output_dir", "alphabet", "metadata"):
        settings.pop(key)  # may differ between machines
    for key in ("jobs", "tensorboard", "keep_checkpoints"):
        settings.pop(key)  # do not change the steps
    settings["augment"].pop("noise_dir")
    settings["has_dev"] = bool(config.dev_manifest)  # the dev results pass between workers
    lengths = [[int(f), len(label)] for f, label in zip(frames, corpus.labels, strict=True)]
    return json.dumps([settings, lengths], sort_keys=True, default=str)


def batches_per_epoch(lengths: list[int], boundaries: list[int], batch_size: int) -> int:
    """Batches that bucketing makes: every bucket is cut into full batches plus a remainder."""
    buckets = np.searchsorted(np.asarray(boundaries), np.asarray(lengths), side="right")
    counts = np.bincount(buckets, minlength=len(boundaries) + 1)
    return max(1, int(sum(math.ceil(c / batch_size) for c in counts)))


def ctc_loss_fn(model, model_config: ModelConfig, blank: int):
    """Per-utterance CTC losses of a training-mode forward pass: the one loss every train step
    (single device or replicated) minimises."""
    from ctcasr.utils import import_tensorflow

    tf = import_tensorflow()
    stride = model_config.conv_stride

    def ctc_losses(feats, feat_lens, labels, label_lens):
        log_probs = model([feats, feat_lens], training=True)
        return tf.nn.ctc_loss(
            labels=labels,
            logits=log_probs,
            label_length=label_lens,
            logit_length=(feat_lens + stride - 1) // stride,
            logits_time_major=False,
            blank_index=blank,
        )

    return ctc_losses


def make_train_step(model, optimizer, model_config: ModelConfig, blank: int):
    """A compiled step: forward, mean CTC loss over the batch, clipped Adam update."""
    from ctcasr.utils import import_tensorflow

    tf = import_tensorflow()
    ctc_losses = ctc_loss_fn(model, model_config, blank)
    dim = model_config.num_features

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, dim], tf.float32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([None, None], tf.int32),
            tf.TensorSpec([None], tf.int32),
        ],
        reduce_retracing=True,
    )
    def train_step(feats, feat_lens, labels, label_lens):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(ctc_losses(feats, feat_lens, labels, label_lens))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return train_step


def read_tf_config() -> dict[str, Any]:
    """The cluster spec of a multi-worker run from ``TF_CONFIG``, checked; ConfigError if bad."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        raise ConfigError(
            "strategy 'multiworker' needs the TF_CONFIG environment variable (the cluster's "
            "workers and this worker's task as JSON; see docs/distributed.md)"
        )
    try:
        spec = json.loads(raw)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly deep nesting
        raise ConfigError(f"TF_CONFIG is not valid JSON ({exc})") from None
    example = '{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": 0}}'
    cluster = spec.get("cluster") if isinstance(spec, dict) else None
    task = spec.get("task") if isinstance(spec, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ConfigError(f"TF_CONFIG must look like {example}")
    if bad := set(cluster) - {"chief", "worker"}:
        raise ConfigError(
            f"TF_CONFIG cluster may list only chief and worker tasks, not {', '.join(sorted(bad))}"
        )
    for role, hosts in cluster.items():
        if not (isinstance(hosts, list) and hosts and all(map(_address, hosts))):
            raise ConfigError(
                f"TF_CONFIG cluster.{role} must be a list of 'host:port' strings (a host with "
                "no spaces, a port from 1 to 65535)"
            )
    if "worker" not in cluster or len(cluster.get("chief", [])) > 1:
        raise ConfigError("TF_CONFIG cluster needs a worker list and at most one chief")
    seen: dict[tuple[str, int], str] = {}
    for address in (h for hosts in cluster.values() for h in hosts):
        # Two tasks on one address: the second cannot bind it and the first waits for it
        # forever, so training hangs instead of failing.
        key = _address(address)
        assert key is not None  # every host was checked above
        if key in seen:
            same = "" if seen[key] == address else f" (as {seen[key]})"
            raise ConfigError(f"TF_CONFIG cluster lists {address}{same} more than once")
        seen[key] = address
    role, index = task.get("type"), task.get("index")
    if (
        not isinstance(role, str)
        or role not in cluster
        or not isinstance(index, int)
        or isinstance(index, bool)
        or not 0 <= index < len(cluster[role])
    ):
        raise ConfigError(
            f"TF_CONFIG task {task!r} names no task of the cluster "
            f"({', '.join(f'{r}: {len(h)}' for r, h in cluster.items())})"
        )
    return spec


_LOOPBACK = {"localhost", "127.0.0.1", "::1", ""}


def _address(text: object) -> tuple[str, int] | None:
    """``host:port`` as a comparable (host, port): loopback spellings are one host and the
    port a number (``localhost:01`` is ``127.0.0.1:1``); None when it is not an address TF
    can serve on (spaces hung it, non-ASCII digits were a traceback)."""
    if not isinstance(text, str):
        return None
    host, _, port = text.rpartition(":")
    host = host.strip("[]").lower()
    if not (port.isascii() and port.isdigit() and 0 < int(port) < 65536):
        return None
    if any(c.isspace() for c in host) or not host.isprintable():
        return None
    return ("localhost" if host in _LOOPBACK else host), int(port)


@contextlib.contextmanager
def _without_tf_config() -> Iterator[None]:
    """MirroredStrategy trains on this machine and ignores a cluster in ``TF_CONFIG``, but
    still parses it: a malformed value left over from a multi-worker run was a traceback."""
    saved = os.environ.pop("TF_CONFIG", None)
    try:
        yield
    finally:
        if saved is not None:
            os.environ["TF_CONFIG"] = saved


def _multiworker_strategy(tf: Any, spec: dict[str, Any]):
    """MultiWorkerMirroredStrategy for the cluster in ``spec``. A task whose port another
    process holds was a TensorFlow traceback ending "Could not start gRPC server"."""
    try:
        with _signals_end_the_process():
            return tf.distribute.MultiWorkerMirroredStrategy()
    except tf.errors.UnknownError as exc:
        if "could not start grpc server" not in str(exc).lower():
            raise
        role, index = spec["task"]["type"], spec["task"]["index"]
        raise ConfigError(
            f"could not serve TF_CONFIG task {role} {index} at {spec['cluster'][role][index]}: "
            "is its port in use by another process? (each task needs a free host:port)"
        ) from None


@contextlib.contextmanager
def _signals_end_the_process() -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP end the process while the block runs. Building the strategy
    waits, with no time limit and holding the GIL, until every worker has connected; the
    Python handlers never ran there, so a worker whose peer never came (or failed to start)
    ignored Ctrl-C and ``timeout`` and only SIGKILL ended it. Nothing is written yet."""
    import signal

    before = {}
    for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:  # nohup stays so
            with contextlib.suppress(ValueError):  # not the main thread: left as it is
                before[sig] = signal.signal(sig, signal.SIG_DFL)
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


REASON_BYTES = 512  # of an error's first line, sent from the chief (Distributed.text_from_chief)


def _reason(exc: BaseException) -> str:
    """One line for ``exc`` as another worker reads it: the type too, unless it is ours or an
    OSError (``PATH: strerror``, as the command line gives one)."""
    if isinstance(exc, CtcasrError):
        return first_line(exc)
    if isinstance(exc, OSError) and exc.strerror:
        return os_error_text(exc)
    return f"{type(exc).__name__}: {first_line(exc)}"


class Distributed:
    """A ``tf.distribute`` strategy and the few collective steps the training loop needs.

    Every worker reads the whole corpus and builds the same seeded, bucketed global batches;
    each replica trains on every R-th utterance of a batch (R replicas in all). The loss is
    the sum of per-utterance CTC losses over the global batch divided by its size, so summed
    gradients are the gradient of the batch mean, as in a single-device run.
    """

    def __init__(self, name: str) -> None:
        from ctcasr.utils import import_tensorflow

        spec = read_tf_config() if name == "multiworker" else None
        tf = import_tensorflow()
        self.name = name
        if spec is not None:
            self.workers = sum(len(hosts) for hosts in spec["cluster"].values())
            self.task: str | None = f"{spec['task']['type']} {spec['task']['index']}"
            self.strategy = _multiworker_strategy(tf, spec)
        elif name == "mirrored":
            self.workers, self.task = 1, None
            with _without_tf_config():
                self.strategy = tf.distribute.MirroredStrategy()
        else:
            raise ConfigError(f"unknown strategy {name!r}; choose one of: {', '.join(STRATEGIES)}")
        self.replicas = int(self.strategy.num_replicas_in_sync)
        self.local_replicas = max(1, self.replicas // self.workers)
        self.is_chief = bool(self.strategy.extended.should_checkpoint)
        self._sync: Callable[[], Any] | None = None
        self._element_spec: Any = None  # of the distributed batches: the train step's signature

    def describe(self) -> str:
        where = f", {self.workers} workers, this is {self.task}" if self.task else ""
        chief = " (chief)" if self.task and self.is_chief else ""
        return f"{self.name}: {self.replicas} replica(s){where}{chief}"

    def scope(self):
        return self.strategy.scope()

    # -- collectives between workers (no-ops with a single worker) ---------------------

    def _sum(self, values, contributes) -> np.ndarray:
        """Sum over workers of ``values`` from those workers where ``contributes`` is true."""
        from ctcasr.utils import import_tensorflow

        tf = import_tensorflow()
        values = np.asarray(values, dtype=np.float64)
        zeros = np.zeros_like(values)

        def value(ctx):  # one contribution per worker: its first local replica's
            first = ctx.replica_id_in_sync_group % self.local_replicas == 0
            return tf.constant(values if contributes and first else zeros)

        per_replica = self.strategy.experimental_distribute_values_from_function(value)
        total = self.strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)
        return np.asarray(total, dtype=np.float64)

    def sum_over_workers(self, values) -> np.ndarray:
        if self.workers == 1:
            return np.asarray(values, dtype=np.float64)
        return self._sum(values, True)

    def from_chief(self, values) -> list[float]:
        """The chief's ``values`` on every worker (the others' are ignored)."""
        if self.workers == 1:
            return [float(v) for v in values]
        return [float(v) for v in self._sum(values, self.is_chief)]

    def everywhere(self, fn):
        """Run ``fn`` on each worker; if it fails on any, raise on all of them."""
        result, error = self._attempt(fn)
        if self.workers > 1:
            failed = int(self.sum_over_workers([1.0 if error else 0.0])[0])
            if error is not None:
                raise error
            if failed:
                raise CtcasrError(f"{failed} other worker(s) failed to start; see their output")
        return result

    def on_chief(self, fn: Callable[[], T], what: str) -> T | None:
        """``fn()`` on the chief alone (None on the others), then its outcome on every worker.
        The others wait for the chief in their next collective, so a chief that failed alone
        left them there: a TensorFlow traceback from each once its process was gone (or, had
        it lived on, a hang). Now the chief takes part whatever happened, and if ``fn`` raised,
        every worker raises the same one-line CtcasrError: the chief could not ``what``, and
        why."""
        result, error = self._attempt(fn) if self.is_chief else (None, None)
        if self.workers > 1:
            reason = self.text_from_chief("" if error is None else _reason(error))
            if reason:
                raise CtcasrError(f"the chief could not {what}: {reason}") from error
        return result

    def _attempt(self, fn: Callable[[], T]) -> tuple[T | None, Exception | None]:
        """``fn()``'s result, or the error to share with the other workers (raised at once
        when there are none)."""
        try:
            return fn(), None
        except Exception as exc:
            if self.workers == 1:
                raise
            return None, exc

    def text_from_chief(self, text: str) -> str:
        """The chief's ``text`` on every worker, cut to REASON_BYTES of UTF-8: the reason for a
        decision that only the chief could take, in one collective of a fixed size."""
        data = text.encode("utf-8")[:REASON_BYTES]
        sent = self.from_chief([len(data), *data, *bytes(REASON_BYTES - len(data))])
        return bytes(int(v) for v in sent[1 : 1 + int(sent[0])]).decode("utf-8", "ignore")

    def check_same_start(self, start_epoch: int, model, optimizer, plan: str) -> None:
        """Stop every worker unless all run the same ``plan`` (settings and the lengths of the
        training data, which fix the batches) from the same checkpoint. Workers that went
        their own ways would wait for each other forever at the first step that differs."""
        if self.workers == 1:
            return

        def digest(chunks) -> float:  # 48 bits: exact in a float64
            h = hashlib.sha256()
            for chunk in chunks:
                h.update(chunk)
            return float(int(h.hexdigest()[:12], 16))

        arrays = [*model.get_weights(), *(np.asarray(v) for v in optimizer.variables)]
        state = digest(np.ascontiguousarray(a).tobytes() for a in arrays)
        mine = [digest([plan.encode()]), float(start_epoch), state]
        chief = self.from_chief(mine)
        plans, starts = self.sum_over_workers(
            [float(mine[0] != chief[0]), float(mine[1:] != chief[1:])]
        )
        if plans:
            raise CtcasrError(
                f"{int(plans)} of {self.workers} workers have other settings or training data "
                "than the chief; every worker must run the same config on the same corpus"
            )
        if starts:
            raise CtcasrError(
                f"{int(starts)} of {self.workers} workers do not start from the chief's "
                f"checkpoint (epoch {start_epoch} here, {int(chief[1])} on the chief); under "
                "multiworker, output_dir must be one folder that all workers share"
            )

    # -- training ----------------------------------------------------------------------

    def optimizer(self, learning_rate, clipnorm: float):
        return _reduced_clip_adam_class()(learning_rate=learning_rate, clip_after_sum=clipnorm)

    def dataset(self, source: EpochSource, epoch: int, batch_size: int, boundaries: list[int]):
        """This epoch's global batches, each split into one sub-batch per replica."""
        from ctcasr.utils import import_tensorflow

        tf = import_tensorflow()
        replicas = self.replicas

        def split(feats, feat_lens, labels, label_lens):
            # Replica r takes rows r, r + R, ... A batch smaller than R is topped up with
            # copies of its rows at weight 0, so that no replica gets an empty batch.
            n = tf.shape(feat_lens)[0]
            size = tf.maximum(n, replicas)
            slots = tf.range(size)
            rows = slots % n
            weights = tf.cast(slots < n, tf.float32)

            def pick(r):
                mine = tf.range(tf.cast(r, tf.int32), size, replicas)
                idx = tf.gather(rows, mine)
                return (
                    tf.gather(feats, idx),
                    tf.gather(feat_lens, idx),
                    tf.gather(labels, idx),
                    tf.gather(label_lens, idx),
                    tf.gather(weights, mine),
                )

            return pick

        def dataset_fn(ctx):
            local = replicas // ctx.num_input_pipelines
            first = ctx.input_pipeline_id * local
            ds = make_dataset(source, epoch, batch_size, boundaries)
            # Consecutive elements go to consecutive local replicas of this worker.
            ds = ds.flat_map(
                lambda *batch: tf.data.Dataset.range(first, first + local).map(split(*batch))
            )
            return without_autotune(ds.prefetch(PREFETCH_BATCHES))

        dist_ds = self.strategy.distribute_datasets_from_function(dataset_fn)
        self._element_spec = dist_ds.element_spec
        return dist_ds

    def train_step(self, model, optimizer, model_config: ModelConfig, blank: int):
        """A compiled step over all replicas; returns the global batch's mean CTC loss."""
        from ctcasr.utils import import_tensorflow

        tf = import_tensorflow()
        ctc_losses = ctc_loss_fn(model, model_config, blank)
        strategy = self.strategy
        total_op = tf.distribute.ReduceOp.SUM

        def replica_step(feats, feat_lens, labels, label_lens, weights):
            ctx = tf.distribute.get_replica_context()
            global_batch = ctx.all_reduce(total_op, tf.reduce_sum(weights))
            with tf.GradientTape() as tape:
                losses = ctc_losses(feats, feat_lens, labels, label_lens)
                loss = tf.reduce_sum(losses * weights) / global_batch
            grads = tape.gradient(loss, model.trainable_variables)
            # Keras sums the gradients over replicas, then the optimizer clips and updates.
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return loss

        def step(*batch):
            per_replica = strategy.run(replica_step, args=batch)
            return strategy.reduce(total_op, per_replica, axis=None)

        compiled = None

        def train_step(*batch):
            # One trace for all batch shapes: a worker that retraced alone would pair its
            # collectives with different ones on the other workers.
            nonlocal compiled
            if compiled is None:
                compiled = tf.function(step, input_signature=list(self._element_spec))
            return compiled(*batch)

        return train_step

    def sync_non_trainable(self, model) -> None:
        """Average the batch-norm moving statistics, which each replica updates on its own.
        (They are moving averages, linear in the batch statistics, so averaging once per
        epoch gives what averaging at every step would.)"""
        if self.replicas == 1 or not model.non_trainable_weights:
            return
        if self._sync is None:
            from ctcasr.utils import import_tensorflow

            tf = import_tensorflow()
            variables = model.non_trainable_weights

            def replica_sync():
                ctx = tf.distribute.get_replica_context()
                means = ctx.all_reduce(
                    tf.distribute.ReduceOp.MEAN, [tf.identity(v.value) for v in variables]
                )
                for var, mean in zip(variables, means, strict=True):
                    var.assign(mean)

            self._sync = tf.function(lambda: self.strategy.run(replica_sync))
        self._sync()


@functools.cache
def _reduced_clip_adam_class():
    """Adam that clips each gradient by norm after the sum over replicas. (Keras clips each
    replica's part before summing; one device sees the same gradients either way.)"""
    import keras
    from keras import ops

    class ReducedClipAdam(keras.optimizers.Adam):
        def __init__(self, *, clip_after_sum: float | None = None, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.clip_after_sum = clip_after_sum

        def update_step(self, gradient, variable, learning_rate):
            if self.clip_after_sum and self.clip_after_sum > 0:
                # The formula of Keras's clipnorm, applied to the summed gradient.
                l2sum = ops.sum(ops.square(gradient), None, keepdims=True)
                pred = l2sum > 0
                l2norm = ops.where(
                    pred, ops.sqrt(ops.where(pred, l2sum, ops.ones_like(l2sum))), l2sum
                )
                gradient = ops.convert_to_tensor(
                    ops.multiply(gradient, self.clip_after_sum)
                ) / ops.maximum(l2norm, self.clip_after_sum)
            return super().update_step(gradient, variable, learning_rate)

    return ReducedClipAdam


def _warmup_cosine_class():
    import keras

    class _WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
        """Linear warm-up to the peak rate, then cosine decay to ``min_ratio`` of it."""

        def __init__(self, peak: float, warmup_steps: int, total_steps: int, min_ratio: float):
            self.peak, self.warmup_steps = peak, warmup_steps
            self.total_steps, self.min_ratio = max(total_steps, warmup_steps + 1), min_ratio

        def __call__(self, step):
            from keras import ops

            step = ops.cast(step, "float32")
            warm = ops.minimum(1.0, (step + 1.0) / self.warmup_steps)
            progress = ops.clip(
                (step - self.warmup_steps) / (self.total_steps - self.warmup_steps), 0.0, 1.0
            )
            cosine = 0.5 * (1.0 + ops.cos(math.pi * progress))
            return self.peak * warm * (self.min_ratio + (1.0 - self.min_ratio) * cosine)

        def get_config(self) -> dict[str, Any]:
            return {
                "peak": self.peak,
                "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps,
                "min_ratio": self.min_ratio,
            }

    return _WarmupCosine


def WarmupCosine(peak: float, warmup_steps: int, total_steps: int, min_ratio: float):
    return _warmup_cosine_class()(peak, warmup_steps, total_steps, min_ratio)


UNKNOWN_DEV = "?"  # checkpoints written before the best scores named their dev set


@dataclass
class _Best:
    epoch: int | None = None
    cer: float | None = None
    wer: float | None = None
    dev: str | None = UNKNOWN_DEV  # the dev manifest the scores are on (real path)
    # Set when a resume moved the scores to another dev set: the last epoch before it, which
    # patience counts from until a new epoch is the best (see _rescore_best).
    patience_from: int | None = None

    def stale(self, epoch: int, patience: int) -> bool:
        """Whether the ``patience`` epochs before ``epoch`` (0-based) brought no better dev CER,
        counting from the resume after a dev-set change."""
        if self.epoch is None:
            return False
        since = max(self.epoch, -1 if self.patience_from is None else self.patience_from)
        return epoch - since > patience

    def update(self, epoch: int, cer: float | None, wer: float | None) -> bool:
        if cer is None:  # no dev set: the latest model is the best we know
            # and a dev score kept from before a resume without --dev is not its score
            self.epoch, self.cer, self.wer = epoch, None, None
            return True
        if self.cer is None or (cer, wer) < (self.cer, self.wer or 0.0):
            self.epoch, self.cer, self.wer = epoch, cer, wer
            return True
        return False


def check_output_dir(out: str | os.PathLike[str], resume: bool) -> None:
    """Refuse an output folder that a run with this ``resume`` would clobber or cannot use.

    Public so that a recipe can ask before it rewrites the manifests an earlier run in the
    folder was trained and scored on (it found out only when training started).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise CtcasrError(f"{out}: exists and is not a folder; choose another output directory")
    _refuse_bundle_place(out)
    ckpt_dir = out / CHECKPOINTS
    has_ckpt = (ckpt_dir / LATEST).exists()
    if has_ckpt and not resume:
        raise CtcasrError(
            f"{out}: holds checkpoints of an earlier run; pass --resume (resume=True) to "
            "continue it or choose another output directory"
        )
    if not has_ckpt:
        # A finished run whose checkpoints are gone: a fresh start overwrote its model,
        # log and TensorBoard data, and an older epoch folder made it prune its own.
        earlier = [p.name for p in (out / "model", out / "log.csv") if p.exists()]
        earlier += sorted(p.name for p in ckpt_dir.glob("epoch-*"))[:1]
        if earlier:
            raise CtcasrError(
                f"{out}: holds an earlier run ({', '.join(earlier)}) but no checkpoint to "
                "resume; choose another output directory or remove it"
            )


def _refuse_bundle_place(out: Path) -> None:
    """A run's folder is not a model bundle's, nor inside the bundled models: `train -o
    BUNDLE` filled the bundle with checkpoints, logs and a nested model/ (which a later tune
    or average copied on), and `-o ctcasr/pretrained/default` wrote them into the installed
    package."""
    from ctcasr.bundle import CONFIG_FILE, refuse_bundled_models, refuse_link_loop

    refuse_link_loop(out, CtcasrError)
    if (out / CONFIG_FILE).is_file():
        raise CtcasrError(f"{out}: is a model bundle, not a training run's folder; choose "
                          "another output directory (the run's model goes in its model/)")
    refuse_bundled_models(out)


def _check_output_dir(out: Path, config: TrainConfig, resume: bool) -> None:
    check_output_dir(out, resume)
    has_ckpt = (out / CHECKPOINTS / LATEST).exists()
    if resume and has_ckpt:
        saved = out / "train_config.json"
        if saved.exists():
            old = _read_json(saved, "run settings")
            new = _as_saved(config)
            # The alphabet is compared by its symbols (in the run's saved model), not by the
            # text of its path: the same file named another way is the same alphabet, and an
            # edited file at the same path is not (swapped lines resumed with swapped letters).
            symbols = saved_alphabet(out)
            keys = ("frontend", "model") if symbols is not None else ("frontend", "model",
                                                                       "alphabet")  # fmt: skip
            for key in keys:
                if _effective(key, old.get(key)) != _effective(key, new[key]):
                    raise CtcasrError(
                        f"{out}: cannot resume, the {key} settings differ from the saved run"
                    )
            current = Alphabet.from_file(config.alphabet) if config.alphabet else Alphabet()
            if symbols is not None and current.labels != symbols:
                raise CtcasrError(
                    f"{out}: cannot resume, the alphabet's symbols differ from the saved run's"
                )


def _effective(key: str, value: Any) -> Any:
    """A saved setting as the run uses it: model settings are overrides, and one spelled out
    at its default (``conv_stride = 2``) is the same model as one left out."""
    if key != "model":
        return value
    try:
        return ModelConfig(**value).to_dict()
    except (TypeError, CtcasrError):  # a damaged train_config.json: compared as it is
        return value


def _read_json(path: Path, what: str) -> Any:
    """A run's JSON file, or a one-line error naming it (a damaged one was a traceback)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CtcasrError(f"{path}: unreadable {what} ({exc})") from None


def _as_saved(config: TrainConfig) -> dict[str, Any]:
    """The settings as train_config.json reads back (tuples as lists), to compare with it."""
    return json.loads(json.dumps(config.to_dict()))


# Settings that name files: "./x" and "x", or a relative and an absolute name, are one file.
_PATH_SETTINGS = ("train_manifests", "dev_manifest", "alphabet", "init_from")


def _same_files(old: Any, new: Any) -> bool:
    """Whether two path settings name the same files, resolved from the working directory
    (a stored name relative to another one cannot be resolved, and is still noted)."""
    def resolved(value: Any) -> Any:
        if isinstance(value, str):
            return os.path.realpath(value)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [os.path.realpath(v) for v in value]
        return value

    return resolved(old) == resolved(new)


def _note_changes(out: Path, config: TrainConfig, verbose: int) -> None:
    """On resume, settings that may change (epochs, batch size, learning rate, augmentation)
    are taken as given: say which changed, and keep train_config.json up to date (it kept
    the first launch's, which model cards and rerun commands read)."""
    saved = out / "train_config.json"
    old = _read_json(saved, "run settings") if saved.exists() else {}
    new = _as_saved(config)
    changed = [f"{k} {old[k]} -> {new[k]}" for k in new
               if k in old and old[k] != new[k] and k not in ("output_dir",)
               and not (k in _PATH_SETTINGS and _same_files(old[k], new[k]))]  # fmt: skip
    if changed and verbose:
        print("resuming with changed settings: " + "; ".join(changed))
    if changed or not saved.exists():
        atomic_write_text(saved, json.dumps(new, indent=2) + "\n")


def _data_record(corpus) -> dict[str, Any]:
    """What a corpus holds, as a checkpoint records it: a manifest rewritten in place (a
    recipe's, from another ``--data``) keeps its path, so only its content tells a resume
    that the epochs before it trained on other data."""
    paths = [os.path.abspath(e.audio_filepath) for e in corpus.entries]
    digest = hashlib.sha256()
    for path, entry in zip(paths, corpus.entries, strict=True):
        digest.update(f"{path}\t{entry.text}\n".encode("utf-8", "surrogateescape"))
    try:
        folder = os.path.commonpath([os.path.dirname(p) for p in paths])
    except ValueError:  # nothing in common to name
        folder = "several places"
    return {"utterances": len(paths), "audio": folder, "sha256": digest.hexdigest()}


def _dev_rewritten(out: Path, data: dict[str, Any]) -> bool:
    """Whether the dev set differs from the one the latest checkpoint was scored on: a recipe
    given another ``--data`` rewrites dev.jsonl in place, and the saved best's scores, from
    the old set, were compared with new epochs' on the new one."""
    try:
        state = _latest_checkpoint(out / CHECKPOINTS)
    except CtcasrError:
        return False
    old, new = _recorded_data(state, "dev"), data.get("dev")
    # no checkpoint or dev set, or one from before the record: the path says
    return old is not None and new is not None and old.get("sha256", new["sha256"]) != new["sha256"]


def _recorded_data(state: Path | None, part: str) -> dict[str, Any] | None:
    """What checkpoint ``state`` recorded of the ``part`` ("train" or "dev") data it was
    trained or scored on; None for none, or a checkpoint from before the record."""
    if state is None:
        return None
    try:
        record = json.loads((state / "state.json").read_text(encoding="utf-8"))["data"][part]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return record if isinstance(record, dict) else None


def _data_text(record: dict[str, Any]) -> str:
    return f"{record.get('utterances')} utterances under {record.get('audio')}"


def _note_data_change(state: Path, data: dict[str, Any] | None, verbose: int) -> None:
    """On resume, say that the training data differs from what the checkpoint trained on, as
    _note_changes says of settings (checkpoints from before the record say nothing)."""
    old, new = _recorded_data(state, "train"), (data or {}).get("train")
    if not verbose or old is None or new is None or old.get("sha256") == new["sha256"]:
        return
    then, now = _data_text(old), _data_text(new)
    what = f"{then} -> {now}" if then != now else f"{now}, other files or transcripts"
    print(f"resuming with other training data than {state.name} trained on: {what}")


def saved_alphabet(out: Path) -> tuple[str, ...] | None:
    """The symbols of the alphabet a run trained with, from the model it saved (None where
    it saved none)."""
    from ctcasr.bundle import ALPHABET_FILE

    path = out / "model" / ALPHABET_FILE
    return Alphabet.from_file(path).labels if path.is_file() else None


def interrupted_message(
    output_dir: str | os.PathLike[str], how: str = "interrupted", command: str | None = None
) -> str:
    """What a user who pressed Ctrl-C needs: what survived, and how to go on. ``how`` says
    what stopped the run ("stopped by SIGTERM"); ``command``, the one to run next (a recipe
    knows it: its own flags and ``--resume``)."""
    ckpt_dir = Path(output_dir) / CHECKPOINTS
    pointer = ckpt_dir / LATEST
    name = pointer.read_text().strip() if pointer.is_file() else None
    if name is None:
        again = f"; to start again: {command}" if command else ""
        return f"{how}: no epoch had finished, nothing saved in {ckpt_dir}{again}"
    go_on = (f"to continue from it: {command}" if command
             else "run the same command with --resume to continue from it")  # fmt: skip
    return f"{how}: the last complete checkpoint is {ckpt_dir / name}; {go_on}"


def _clear_partial(ckpt_dir: Path) -> None:
    """Remove checkpoint folders a kill left half-written (never pointed at, never loaded)."""
    import shutil

    for tmp in ckpt_dir.glob(".epoch-*.tmp"):
        shutil.rmtree(tmp, ignore_errors=True)


def _latest_checkpoint(ckpt_dir: Path) -> Path | None:
    pointer = ckpt_dir / LATEST
    if not pointer.exists():
        return None
    try:
        name = pointer.read_text(encoding="utf-8").strip()
    except (OSError, ValueError):
        name = ""
    if not name or "/" in name:
        raise CtcasrError(f"{pointer}: damaged checkpoint pointer; it should name a folder "
                          "in checkpoints/")  # fmt: skip
    with contextlib.suppress(FileNotFoundError):  # another worker may have just recovered it
        recover_dir(ckpt_dir / name)
    path = ckpt_dir / name
    if not (path / "state.json").exists():
        raise CtcasrError(f"{path}: checkpoint named by {pointer} is missing or incomplete")
    return path


def _save_checkpoint(ckpt_dir, epoch, model, optimizer, history, best, keep,
                     data: dict[str, Any] | None = None) -> None:  # fmt: skip
    name = checkpoint_name(epoch + 1)
    with atomic_dir(ckpt_dir / name) as tmp:
        write_arrays(tmp / CHECKPOINT_WEIGHTS, model.get_weights())
        write_arrays(tmp / "optimizer.npz", [np.asarray(v) for v in optimizer.variables])
        state = {
            "epoch": epoch + 1,
            "history": [asdict(h) for h in history],
            "best": asdict(best),
            **({"data": data} if data is not None else {}),
        }
        (tmp / "state.json").write_text(json.dumps(state, indent=2) + "\n")
    # The pointer moves only once the new checkpoint is complete on disk.
    atomic_write_text(ckpt_dir / LATEST, name + "\n")
    old = sorted(p for p in ckpt_dir.glob("epoch-*") if p.is_dir())
    for path in old[:-keep] if keep > 0 else []:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


def checkpoint_name(epoch: int) -> str:
    """The folder of the checkpoint written after (1-based) ``epoch``."""
    return f"epoch-{epoch:04d}"


def write_arrays(path: Path, arrays: list[Any]) -> None:
    """``arrays`` as ``np.savez(path, *arrays)`` writes them, the zip closed even when a write
    fails: np.savez left it open, and its close at exit, into the same full disk, printed an
    "Exception ignored ... OSError" traceback after the run's one-line error."""
    import zipfile

    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for i, array in enumerate(arrays):
            with archive.open(f"arr_{i}.npy", "w", force_zip64=True) as out:
                np.lib.format.write_array(out, np.asanyarray(array), allow_pickle=False)


def read_arrays(path: Path) -> list[np.ndarray]:
    """Arrays written by :func:`write_arrays` (or ``np.savez(path, *arrays)``), in order."""
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


def _restore(path: Path, model, optimizer) -> tuple[int, list[EpochLog], _Best]:
    state = _read_json(path / "state.json", "checkpoint state")
    try:
        weights = read_arrays(path / CHECKPOINT_WEIGHTS)
        opt_values = read_arrays(path / "optimizer.npz")
    except (OSError, ValueError, KeyError) as exc:
        raise CtcasrError(f"{path}: damaged checkpoint ({first_line(exc)})") from None
    if len(weights) != len(model.get_weights()) or len(opt_values) != len(optimizer.variables):
        raise CtcasrError(f"{path}: checkpoint does not match this model's shape")
    try:
        model.set_weights(weights)
        for var, value in zip(optimizer.variables, opt_values, strict=True):
            var.assign(value)
        history = [EpochLog(**h) for h in state["history"]]
        return int(state["epoch"]), history, _Best(**state["best"])
    except (ValueError, KeyError, TypeError) as exc:  # a model of other sizes, a bad state
        raise CtcasrError(f"{path}: checkpoint does not fit this model or is damaged "
                          f"({first_line(exc)})") from None  # fmt: skip


def _write_scalars(tf, writer, step: int, values: dict[str, Any]) -> None:
    """TensorBoard scalars written with the core summary op, so the tensorboard package is
    needed only to view them, not to train."""
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="scalars")
    ).SerializeToString()
    with writer.as_default(step=step):
        for name, value in values.items():
            if name != "epoch" and value is not None:
                tf.summary.write(name, tf.constant(float(value)), metadata=metadata)
    writer.flush()


def _write_log(path: Path, history: list[EpochLog]) -> None:
    lines = [",".join(LOG_COLUMNS)]
    for h in history:
        row = asdict(h)
        lines.append(",".join("" if row[c] is None else f"{row[c]}" for c in LOG_COLUMNS))
    atomic_write_text(path, "\n".join(lines) + "\n")


__all__ = ["TrainConfig", "TrainResult", "output_lengths", "train"]
