"""Training: CTC loss, Adam with warm-up + cosine decay, per-epoch checkpoints, resume,
early stopping on dev CER, and CSV/TensorBoard logs.

Layout of ``output_dir``::

    train_config.json     the settings of this run (resume checks against it)
    checkpoints/          epoch-NNNN/ (weights, optimizer state, history) and LATEST
    model/                the best bundle so far (by dev CER), ready for ``ctcasr transcribe``
    log.csv               loss, dev WER/CER, learning rate and seconds per epoch
    tensorboard/          the same scalars for TensorBoard
"""

from __future__ import annotations

import json
import math
import os
import resource
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from ctcasr.data import AugmentConfig, EpochSource, bucket_boundaries, load_corpus, make_dataset
from ctcasr.errors import ConfigError, CtcasrError
from ctcasr.features import FrontendConfig, num_frames
from ctcasr.manifest import read_manifest
from ctcasr.model import ModelConfig, output_lengths
from ctcasr.text import Alphabet
from ctcasr.utils import atomic_dir, atomic_write_text, config_from_dict, recover_dir

CHECKPOINTS = "checkpoints"
LATEST = "LATEST"
LOG_COLUMNS = ("epoch", "loss", "dev_wer", "dev_cer", "learning_rate", "seconds")


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

    def __post_init__(self) -> None:
        if isinstance(self.train_manifests, (str, os.PathLike)):
            self.train_manifests = [str(self.train_manifests)]
        if not self.train_manifests:
            raise ConfigError("no training manifest given")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be >= 1")
        if self.learning_rate <= 0:
            raise ConfigError(f"learning_rate must be positive, got {self.learning_rate}")
        if isinstance(self.frontend, dict):
            self.frontend = FrontendConfig.from_dict(self.frontend)
        if isinstance(self.augment, dict):
            self.augment = AugmentConfig.from_dict(self.augment)
        allowed = {f.name for f in fields(ModelConfig)} - {"num_features", "num_classes"}
        if bad := set(self.model) - allowed:
            raise ConfigError(f"unknown or derived model settings: {', '.join(sorted(bad))}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["frontend"] = self.frontend.to_dict()
        data["augment"] = self.augment.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        return config_from_dict(cls, data, "training")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], **overrides: Any) -> TrainConfig:
        """Read a TOML or JSON config; relative manifest paths are taken from the file's folder."""
        import tomllib

        path = Path(path)
        try:
            raw = path.read_bytes()
            data = json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode())
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot parse config ({exc})") from None
        base = path.parent
        for key in ("train_manifests", "dev_manifest", "output_dir", "alphabet"):
            value = data.get(key)
            if isinstance(value, list):
                data[key] = [str(base / v) for v in value]
            elif isinstance(value, str):
                data[key] = str(base / value)
        augment = data.get("augment")
        if isinstance(augment, dict) and isinstance(augment.get("noise_dir"), str):
            augment["noise_dir"] = str(base / augment["noise_dir"])
        # Command-line values win and are relative to the working directory, not the file.
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            return cls.from_dict(data)
        except TypeError as exc:
            raise ConfigError(f"{path}: {exc}") from None


@dataclass
class EpochLog:
    epoch: int
    loss: float
    dev_wer: float | None
    dev_cer: float | None
    learning_rate: float
    seconds: float


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


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def train(config: TrainConfig, resume: bool = False, verbose: int = 1) -> TrainResult:
    """Train a model as ``config`` says and return where the best bundle went."""
    from ctcasr.utils import import_tensorflow

    tf = import_tensorflow()
    import keras

    from ctcasr.bundle import save_bundle
    from ctcasr.decoding import greedy_decode
    from ctcasr.metrics import error_report
    from ctcasr.model import build_model, count_parameters
    from ctcasr.runtime import LogProbRunner

    out = Path(config.output_dir)
    ckpt_dir = out / CHECKPOINTS
    _check_output_dir(out, config, resume)

    alphabet = Alphabet.from_file(config.alphabet) if config.alphabet else Alphabet()
    frontend = config.frontend
    model_config = ModelConfig(
        num_features=frontend.num_features, num_classes=alphabet.num_classes, **config.model
    )

    entries = []
    for manifest in config.train_manifests:
        entries += read_manifest(manifest, alphabet).entries
    dev_entries = (
        read_manifest(config.dev_manifest, alphabet).entries if config.dev_manifest else []
    )
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
        )
        if dev_entries
        else None
    )
    if verbose:
        print(
            f"train: {len(corpus)} utterances ({len(corpus.dropped)} dropped)"
            + (f", dev: {len(dev)}" if dev else "")
        )
        for msg in corpus.dropped[:5]:
            print(f"  dropped {msg}")

    keras.utils.set_random_seed(config.seed)
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
    optimizer = keras.optimizers.Adam(learning_rate=schedule, clipnorm=config.clipnorm)
    optimizer.build(model.trainable_variables)

    start_epoch, history, best = 0, [], _Best()
    if resume and (state := _latest_checkpoint(ckpt_dir)) is not None:
        start_epoch, history, best = _restore(state, model, optimizer)
        if verbose:
            print(f"resumed from {state.name}: continuing at epoch {start_epoch + 1}")
    else:
        atomic_write_text(out / "train_config.json", json.dumps(config.to_dict(), indent=2) + "\n")

    train_step = make_train_step(model, optimizer, model_config, alphabet.blank_index)

    source = EpochSource(corpus, frontend, config.augment, config.seed)
    runner = LogProbRunner(model, model_config, batch_size=64)
    tb = tf.summary.create_file_writer(str(out / "tensorboard")) if config.tensorboard else None
    stopped_early = False
    epoch = start_epoch
    for epoch in range(start_epoch, config.epochs):
        if best.epoch is not None and epoch - best.epoch > config.patience:
            stopped_early = True
            break
        # Per-epoch seeding: a resumed epoch draws the same dropout and data as an unbroken run.
        keras.utils.set_random_seed(config.seed * 1000 + epoch)
        if verbose:
            print(f"Epoch {epoch + 1}/{config.epochs}")
        bar = keras.utils.Progbar(steps_per_epoch, verbose=verbose, stateful_metrics=["lr"])
        t0 = time.perf_counter()
        losses: list[float] = []
        step = 0
        for step, (feats, feat_lens, labels, label_lens) in enumerate(
            make_dataset(source, epoch, config.batch_size, boundaries), start=1
        ):
            loss = float(train_step(feats, feat_lens, labels, label_lens))
            if not math.isfinite(loss):
                raise CtcasrError(f"training diverged: loss is {loss} at epoch {epoch + 1}")
            losses.append(loss)
            lr = float(schedule(optimizer.iterations))
            bar.update(step, [("loss", loss), ("lr", lr)])
        seconds = time.perf_counter() - t0
        if verbose and step != steps_per_epoch:  # speed perturbation moved some buckets
            bar.update(step, finalize=True)
        dev_wer = dev_cer = None
        if dev is not None:
            feats = dev.features or []
            hyps = [greedy_decode(lp, alphabet).text for lp in runner(feats)]
            report = error_report([e.text for e in dev.entries], hyps)
            dev_wer, dev_cer = report.wer, report.cer
        log = EpochLog(
            epoch + 1,
            float(np.mean(losses)),
            dev_wer,
            dev_cer,
            float(schedule(optimizer.iterations)),
            round(seconds, 2),
        )
        history.append(log)
        if verbose:
            dev_msg = f"  dev WER {dev_wer:.2%} CER {dev_cer:.2%}" if dev is not None else ""
            print(f"  loss {log.loss:.3f}{dev_msg}  ({seconds:.1f} s)")
        if tb is not None:
            _write_scalars(tf, tb, epoch + 1, asdict(log))
        improved = best.update(epoch, dev_cer, dev_wer)
        if improved:
            save_bundle(
                out / "model",
                model,
                frontend,
                model_config,
                alphabet,
                metadata={
                    **config.metadata,
                    "epoch": epoch + 1,
                    "dev_wer": dev_wer,
                    "dev_cer": dev_cer,
                    "parameters": n_params,
                },
            )
        _write_log(out / "log.csv", history)
        _save_checkpoint(ckpt_dir, epoch, model, optimizer, history, best, config.keep_checkpoints)
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
        peak_rss_mb=round(peak_rss_mb(), 1),
        train_utterances=len(corpus),
        dropped_utterances=corpus.dropped,
    )


def batches_per_epoch(lengths: list[int], boundaries: list[int], batch_size: int) -> int:
    """Batches that bucketing makes: every bucket is cut into full batches plus a remainder."""
    buckets = np.searchsorted(np.asarray(boundaries), np.asarray(lengths), side="right")
    counts = np.bincount(buckets, minlength=len(boundaries) + 1)
    return max(1, int(sum(math.ceil(c / batch_size) for c in counts)))


def make_train_step(model, optimizer, model_config: ModelConfig, blank: int):
    """A compiled step: forward, mean CTC loss over the batch, clipped Adam update."""
    from ctcasr.utils import import_tensorflow

    tf = import_tensorflow()
    stride = model_config.conv_stride
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
            log_probs = model([feats, feat_lens], training=True)
            losses = tf.nn.ctc_loss(
                labels=labels,
                logits=log_probs,
                label_length=label_lens,
                logit_length=(feat_lens + stride - 1) // stride,
                logits_time_major=False,
                blank_index=blank,
            )
            loss = tf.reduce_mean(losses)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return train_step


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


@dataclass
class _Best:
    epoch: int | None = None
    cer: float | None = None
    wer: float | None = None

    def update(self, epoch: int, cer: float | None, wer: float | None) -> bool:
        if cer is None:  # no dev set: the latest model is the best we know
            self.epoch = epoch
            return True
        if self.cer is None or (cer, wer) < (self.cer, self.wer or 0.0):
            self.epoch, self.cer, self.wer = epoch, cer, wer
            return True
        return False


def _check_output_dir(out: Path, config: TrainConfig, resume: bool) -> None:
    ckpt_dir = out / CHECKPOINTS
    has_ckpt = (ckpt_dir / LATEST).exists()
    if has_ckpt and not resume:
        raise CtcasrError(
            f"{out}: holds checkpoints of an earlier run; pass --resume to continue it "
            "or choose another output directory"
        )
    if resume and has_ckpt:
        saved = out / "train_config.json"
        if saved.exists():
            old = json.loads(saved.read_text())
            new = config.to_dict()
            for key in ("frontend", "model", "alphabet"):
                if old.get(key) != new[key]:
                    raise CtcasrError(
                        f"{out}: cannot resume, the {key} settings differ from the saved run"
                    )


def _latest_checkpoint(ckpt_dir: Path) -> Path | None:
    pointer = ckpt_dir / LATEST
    if not pointer.exists():
        return None
    name = pointer.read_text().strip()
    recover_dir(ckpt_dir / name)
    path = ckpt_dir / name
    if not (path / "state.json").exists():
        raise CtcasrError(f"{path}: checkpoint named by {pointer} is missing or incomplete")
    return path


def _save_checkpoint(ckpt_dir, epoch, model, optimizer, history, best, keep) -> None:
    name = f"epoch-{epoch + 1:04d}"
    with atomic_dir(ckpt_dir / name) as tmp:
        np.savez(tmp / "weights.npz", *model.get_weights())
        np.savez(tmp / "optimizer.npz", *[np.asarray(v) for v in optimizer.variables])
        state = {
            "epoch": epoch + 1,
            "history": [asdict(h) for h in history],
            "best": asdict(best),
        }
        (tmp / "state.json").write_text(json.dumps(state, indent=2) + "\n")
    # The pointer moves only once the new checkpoint is complete on disk.
    atomic_write_text(ckpt_dir / LATEST, name + "\n")
    old = sorted(p for p in ckpt_dir.glob("epoch-*") if p.is_dir())
    for path in old[:-keep] if keep > 0 else []:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


def _restore(path: Path, model, optimizer) -> tuple[int, list[EpochLog], _Best]:
    state = json.loads((path / "state.json").read_text())
    with np.load(path / "weights.npz") as data:
        weights = [data[f"arr_{i}"] for i in range(len(data.files))]
    with np.load(path / "optimizer.npz") as data:
        opt_values = [data[f"arr_{i}"] for i in range(len(data.files))]
    if len(weights) != len(model.get_weights()) or len(opt_values) != len(optimizer.variables):
        raise CtcasrError(f"{path}: checkpoint does not match this model's shape")
    model.set_weights(weights)
    for var, value in zip(optimizer.variables, opt_values, strict=True):
        var.assign(value)
    history = [EpochLog(**h) for h in state["history"]]
    return int(state["epoch"]), history, _Best(**state["best"])


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
