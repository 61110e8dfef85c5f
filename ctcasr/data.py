"""Training data: manifests to padded, length-bucketed tf.data batches, with augmentation.

Waveforms are read once and kept in memory. Each epoch draws its order and augmentation from
``numpy.random.default_rng([seed, epoch])``, so an epoch is the same whether the run started
at epoch 0 or resumed at it.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ctcasr.audio import AUDIO_EXTENSIONS, load_audio, resample
from ctcasr.errors import ConfigError, CtcasrError
from ctcasr.features import FrontendConfig, compute_features, num_frames
from ctcasr.manifest import ManifestEntry
from ctcasr.model import ModelConfig, output_lengths
from ctcasr.text import Alphabet
from ctcasr.utils import check_field_types, config_from_dict, files_under, plain


@dataclass(frozen=True)
class AugmentConfig:
    """Training-time augmentation; all off gives the plain features."""

    time_masks: int = 2
    time_mask_ratio: float = 0.05  # widest time mask as a share of the utterance
    time_mask_max: int = 20  # and never wider than this many frames
    freq_masks: int = 2
    freq_mask_width: int = 4
    speed_factors: tuple[float, ...] = ()  # e.g. (0.9, 1.0, 1.1), picked uniformly
    noise_dir: str | None = None
    noise_prob: float = 0.5
    snr_db: tuple[float, float] = (5.0, 25.0)

    def __post_init__(self) -> None:
        check_field_types(self, "augment")
        object.__setattr__(self, "speed_factors", tuple(float(f) for f in self.speed_factors))
        object.__setattr__(self, "snr_db", tuple(float(v) for v in self.snr_db))
        # Checked here, not mid-epoch: NaN, inf or a vanishing factor, a negative mask width
        # and a NaN ratio each crashed the input pipeline with a long TensorFlow traceback.
        if not all(0.25 <= f <= 4 for f in self.speed_factors):
            raise ConfigError(f"speed factors must be between 0.25 and 4, got {self.speed_factors}")
        for name in ("time_masks", "time_mask_max", "freq_masks", "freq_mask_width"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be 0 or more, got {getattr(self, name)}")
        if not 0 <= self.time_mask_ratio <= 1:
            raise ConfigError(f"time_mask_ratio must be in [0, 1], got {self.time_mask_ratio}")
        if not 0 <= self.noise_prob <= 1:
            raise ConfigError(f"noise_prob must be in [0, 1], got {self.noise_prob}")
        if (len(self.snr_db) != 2 or not all(math.isfinite(v) for v in self.snr_db)
                or self.snr_db[0] > self.snr_db[1]):
            raise ConfigError(f"snr_db must be (low, high), finite, got {self.snr_db}")

    @property
    def changes_waveform(self) -> bool:
        return bool(self.speed_factors) or (self.noise_dir is not None and self.noise_prob > 0)

    def to_dict(self) -> dict[str, Any]:
        return plain(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AugmentConfig:
        return config_from_dict(cls, data, "augmentation")


@dataclass
class Corpus:
    """Utterances held in memory: waveforms, encoded labels and (when fixed) features."""

    entries: list[ManifestEntry]
    waveforms: list[np.ndarray]
    labels: list[np.ndarray]
    features: list[np.ndarray] | None = None  # cached when augmentation never changes audio
    # A dev set's: what ``transcribe`` shows the model for each utterance (long silent ends
    # cut, a long one's pieces, none for silence), so that it is scored as ``evaluate`` is.
    inputs: list[list[np.ndarray]] | None = None
    dropped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.entries)


def load_corpus(
    entries: Sequence[ManifestEntry],
    frontend: FrontendConfig,
    alphabet: Alphabet,
    model_config: ModelConfig,
    *,
    cache_features: bool = True,
    max_duration: float | None = None,
    jobs: int = 2,
    what: str = "training",
    as_transcribed: bool = False,  # a dev set: keep Corpus.inputs, not Corpus.features
) -> Corpus:
    """Read every utterance; drop (and list) ones that fail to load and, to train on, ones
    CTC cannot align. A dev set keeps those: it is only decoded and scored, and without them
    its WER and CER were better than ``evaluate`` gives the same model on the same manifest."""

    def read(entry: ManifestEntry) -> np.ndarray | str:
        try:
            return load_audio(entry.audio_filepath, frontend.sample_rate, max_duration=max_duration)
        except CtcasrError as exc:
            return str(exc)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        loaded = list(pool.map(read, entries))
    kept_entries, waves, labels, dropped = [], [], [], []
    for entry, wav in zip(entries, loaded, strict=True):
        if isinstance(wav, str):
            dropped.append(wav)
            continue
        label = np.array(alphabet.encode(entry.text), dtype=np.int32)
        if not as_transcribed and not ctc_fits(len(wav), label, frontend, model_config):
            # Say what CTC needs: the characters alone under-count it where letters repeat.
            dropped.append(
                f"{entry.audio_filepath}: too short ({len(wav) / frontend.sample_rate:.2f} s, "
                f"{model_frames(len(wav), frontend, model_config)} model frames) for the "
                f"{len(entry.text)}-character transcript, which needs {ctc_min_frames(label)} "
                "(one per character and a blank between each repeated pair)"
            )
            continue
        kept_entries.append(entry)
        waves.append(wav)
        labels.append(label)
    if not kept_entries:
        raise CtcasrError(f"no usable {what} utterances: " + "; ".join(dropped[:3]))
    corpus = Corpus(kept_entries, waves, labels, dropped=dropped)
    if as_transcribed:
        from ctcasr.transcribe import model_inputs

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            corpus.inputs = list(pool.map(lambda w: model_inputs(w, frontend), waves))
    elif cache_features:
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            corpus.features = list(pool.map(lambda w: compute_features(w, frontend), waves))
    return corpus


def ctc_fits(
    num_samples: int, label: np.ndarray, frontend: FrontendConfig, model_config: ModelConfig
) -> bool:
    """Whether ``num_samples`` give the model the frames CTC needs to spell ``label``."""
    return model_frames(num_samples, frontend, model_config) >= ctc_min_frames(label)


def model_frames(num_samples: int, frontend: FrontendConfig, model_config: ModelConfig) -> int:
    """The model's output frames for ``num_samples`` (after its stride)."""
    return int(output_lengths(num_frames(num_samples, frontend), model_config))


def ctc_min_frames(label: np.ndarray) -> int:
    """Frames CTC needs: one per label plus a blank between each repeated pair."""
    if len(label) == 0:
        return 0
    return int(len(label) + np.count_nonzero(label[1:] == label[:-1]))


class NoiseBank:
    """Background noise recordings, read once, for mixing at a random SNR."""

    def __init__(self, folder: str | Path, sample_rate: int) -> None:
        self.clips = [load_audio(p, sample_rate) for p in self.paths(folder)]

    @staticmethod
    def paths(folder: str | Path) -> list[Path]:
        """The noise recordings in ``folder``; ConfigError if it is missing or has none."""
        folder = Path(folder)
        if not folder.is_dir():
            raise ConfigError(f"{folder}: noise folder not found")
        below, unlisted = files_under(folder)
        if unlisted:  # a folder that may not be read was "no audio files", or mixed in part
            raise ConfigError(f"noise folder: {unlisted[0]}")
        paths = [p for p in below if p.suffix.lower() in AUDIO_EXTENSIONS]
        if not paths:
            raise ConfigError(f"{folder}: no audio files in the noise folder")
        return paths

    def mix(self, wav: np.ndarray, snr_db: float, rng: np.random.Generator) -> np.ndarray:
        noise = self.clips[rng.integers(len(self.clips))]
        if len(noise) < len(wav):
            noise = np.tile(noise, int(np.ceil(len(wav) / len(noise))))
        start = rng.integers(0, len(noise) - len(wav) + 1)
        segment = noise[start : start + len(wav)]
        p_sig = float(np.mean(wav**2)) + 1e-10
        p_noise = float(np.mean(segment**2)) + 1e-10
        scale = np.sqrt(p_sig / (p_noise * 10 ** (snr_db / 10)))
        mixed = wav + scale * segment
        peak = float(np.abs(mixed).max())
        return (mixed / peak * 0.99 if peak > 1.0 else mixed).astype(np.float32)


def spec_augment(feats: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """SpecAugment time and frequency masks (masked to 0, the normalised mean)."""
    feats = feats.copy()
    frames, dims = feats.shape
    for _ in range(config.freq_masks):
        width = int(rng.integers(0, config.freq_mask_width + 1))
        if width and width < dims:
            start = int(rng.integers(0, dims - width + 1))
            feats[:, start : start + width] = 0.0
    max_t = min(config.time_mask_max, int(frames * config.time_mask_ratio))
    for _ in range(config.time_masks):
        width = int(rng.integers(0, max_t + 1)) if max_t > 0 else 0
        if width:
            start = int(rng.integers(0, frames - width + 1))
            feats[start : start + width] = 0.0
    return feats


class EpochSource:
    """Yields augmented (features, label) examples for one epoch in a seeded order.

    A clip that speeding up would leave with fewer model frames than CTC needs for its
    transcript (:func:`load_corpus` checked it at speed 1.0) is fed at its own speed: an
    impossible target gave a huge, meaningless loss and gradient, and no error at all.
    """

    def __init__(
        self,
        corpus: Corpus,
        frontend: FrontendConfig,
        augment: AugmentConfig,
        seed: int,
        model_config: ModelConfig,  # its stride: the frames CTC gets
    ) -> None:
        self.corpus = corpus
        self.frontend = frontend
        self.model_config = model_config
        self.augment = augment
        self.seed = seed
        self.noise = (
            NoiseBank(augment.noise_dir, frontend.sample_rate)
            if augment.noise_dir and augment.noise_prob > 0
            else None
        )

    def examples(self, epoch: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        rng = np.random.default_rng([self.seed, epoch])
        aug = self.augment
        for i in rng.permutation(len(self.corpus)):
            if self.corpus.features is not None and not aug.changes_waveform:
                feats = self.corpus.features[i]
            else:
                wav = self.corpus.waveforms[i]
                if aug.speed_factors:
                    factor = float(rng.choice(aug.speed_factors))
                    if factor != 1.0:
                        rate = self.frontend.sample_rate
                        faster = resample(wav, round(rate * factor), rate)
                        if ctc_fits(len(faster), self.corpus.labels[i], self.frontend,
                                    self.model_config):  # fmt: skip
                            wav = faster
                if self.noise is not None and rng.random() < aug.noise_prob:
                    wav = self.noise.mix(wav, float(rng.uniform(*aug.snr_db)), rng)
                feats = compute_features(wav, self.frontend)
            feats = spec_augment(feats, aug, rng)
            yield feats, self.corpus.labels[i]


def bucket_boundaries(lengths: Sequence[int], buckets: int = 8) -> list[int]:
    """Length quantiles as bucket edges, so each bucket pads to similar lengths."""
    qs = np.quantile(np.asarray(lengths), np.linspace(0, 1, buckets + 1)[1:-1])
    return sorted({int(q) + 1 for q in qs})


def make_dataset(source: EpochSource, epoch: int, batch_size: int, boundaries: list[int]):
    """tf.data pipeline for one epoch: generator -> bucket by length -> pad -> prefetch."""
    from ctcasr.utils import import_tensorflow

    tf = import_tensorflow()
    dim = source.frontend.num_features

    def gen():
        for feats, label in source.examples(epoch):
            yield feats, np.int32(feats.shape[0]), label, np.int32(len(label))

    ds = tf.data.Dataset.from_generator(
        gen,
        output_signature=(
            tf.TensorSpec([None, dim], tf.float32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([None], tf.int32),
            tf.TensorSpec([], tf.int32),
        ),
    )
    ds = ds.bucket_by_sequence_length(
        element_length_func=lambda f, n, label, m: n,
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
        padded_shapes=([None, dim], [], [None], []),
    )
    return without_autotune(ds.prefetch(PREFETCH_BATCHES))


# A Python generator feeds the pipeline, so there is nothing for tf.data's autotuner to tune
# but the prefetch depth; a fixed one does as well.
PREFETCH_BATCHES = 4


def without_autotune(ds):
    """``ds`` with tf.data's autotuning off.

    The autotuner's thread sleeps between rounds, for periods that double up to 60 s, and
    destroying the iterator at the end of an epoch waited for that sleep to end (TF 2.21): a
    CPU epoch ended only at 20.5, 41 or 82 s, then at a whole minute past, after its work was
    done, which cost FSDD epochs up to half their time and the bundled model's about a fifth.
    """
    from ctcasr.utils import import_tensorflow

    tf = import_tensorflow()
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)
