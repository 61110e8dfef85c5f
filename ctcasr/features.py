"""Acoustic features: MFCC (default), log-mel or PCEN, normalised per utterance.

:func:`featurize` is the one entry point; training, evaluation and inference all call it, so
the features a model was trained on are exactly the ones it is later fed.
"""

from __future__ import annotations

import atexit
import functools
import importlib.util
import math
import os
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from ctcasr.audio import SAMPLE_RATE, as_mono, check_rate, load_audio
from ctcasr.errors import AudioError, ConfigError
from ctcasr.utils import check_field_types, config_from_dict, counted, plain

if TYPE_CHECKING:
    from ctcasr.spool import Readable

FeatureKind = Literal["mfcc", "logmel", "pcen"]
_EPS = 1e-6
# Peak level (dBFS, offset removed) a quieter input is raised to before its features are
# computed, when they are normalised (which makes gain otherwise irrelevant). The log's
# epsilon floor above is not gain-free: a clip recorded at -45 dBFS peak sank into it, and the
# bundled model's dev WER rose from 6.6% to 27% (AN4) and 11% to 32% (Speech Commands); raised
# to this level, 7.0% and 11.6%. Training audio peaks at -40 to 0 dBFS (median -4 to -11); no
# clean dev clip's transcript changes, and raised near-silence is not heard as words.
QUIET_PEAK_DB = -15.0
MAX_MODEL_RATE = 384_000  # the highest rate audio hardware records at


@dataclass(frozen=True)
class FrontendConfig:
    """Everything needed to recompute a model's input features; saved in every bundle."""

    kind: FeatureKind = "mfcc"
    sample_rate: int = SAMPLE_RATE
    n_mfcc: int = 20
    n_mels: int = 40
    win_ms: float = 25.0
    hop_ms: float = 10.0
    n_fft: int = 512
    fmin: float = 20.0
    fmax: float | None = None
    deltas: int = 0  # 0: none, 1: +delta, 2: +delta +delta-delta
    normalize: bool = True  # per-utterance mean/variance normalisation

    def __post_init__(self) -> None:
        check_field_types(self, "front-end")
        if self.kind not in ("mfcc", "logmel", "pcen"):
            raise ConfigError(f"unknown feature kind {self.kind!r} (use mfcc, logmel or pcen)")
        if self.deltas not in (0, 1, 2):
            raise ConfigError(f"deltas must be 0, 1 or 2, got {self.deltas}")
        if not self.sample_rate > 0:
            raise ConfigError(f"sample_rate must be positive, got {self.sample_rate}")
        # Bounds that no speech front end comes near, so that a bundle's settings cannot ask
        # for the memory of the machine (n_mels=10**9 took 11 GB and more at the first input).
        if self.sample_rate > MAX_MODEL_RATE:
            raise ConfigError(f"sample_rate must be at most {MAX_MODEL_RATE}, got "
                              f"{self.sample_rate}")  # fmt: skip
        if not 0 < self.hop_ms <= self.win_ms:
            raise ConfigError(f"need 0 < hop_ms <= win_ms, got {self.hop_ms} and {self.win_ms}")
        if not math.isfinite(self.win_ms):  # Infinity (JSON, TOML): an OverflowError traceback
            raise ConfigError(f"win_ms must be a finite number, got {self.win_ms}")
        if self.hop_length < 1:
            raise ConfigError(
                f"hop_ms={self.hop_ms} is less than one sample at {self.sample_rate} Hz"
            )
        if self.n_mels < 1 or self.n_mfcc < 1:
            raise ConfigError(
                f"need n_mels >= 1 and n_mfcc >= 1, got {self.n_mels} and {self.n_mfcc}"
            )
        nyquist = self.sample_rate / 2
        fmax = nyquist if self.fmax is None else self.fmax
        if not 0 <= self.fmin < fmax <= nyquist:
            raise ConfigError(
                f"need 0 <= fmin < fmax <= sample_rate/2 ({nyquist:g}), got fmin={self.fmin} "
                f"and fmax={self.fmax}"
            )
        if self.n_fft > self.sample_rate:
            raise ConfigError(f"n_fft={self.n_fft} is longer than a second of audio at "
                              f"{self.sample_rate} Hz")  # fmt: skip
        if self.n_mels > 1 + self.n_fft // 2:
            raise ConfigError(f"n_mels={self.n_mels} exceeds the {1 + self.n_fft // 2} "
                              f"frequency bins of n_fft={self.n_fft}")  # fmt: skip
        if self.n_fft % 2:  # frame counts and FFT bins here (and in trained models) assume it
            raise ConfigError(f"n_fft must be even, got {self.n_fft}")
        if self.win_length > self.n_fft:
            raise ConfigError(
                f"window ({self.win_length} samples) is longer than n_fft={self.n_fft}"
            )
        if self.kind == "mfcc" and self.n_mfcc > self.n_mels:
            raise ConfigError(f"n_mfcc={self.n_mfcc} exceeds n_mels={self.n_mels}")

    @property
    def hop_length(self) -> int:
        return round(self.sample_rate * self.hop_ms / 1000)

    @property
    def win_length(self) -> int:
        return round(self.sample_rate * self.win_ms / 1000)

    @property
    def num_features(self) -> int:
        base = self.n_mfcc if self.kind == "mfcc" else self.n_mels
        return base * (1 + self.deltas)

    def to_dict(self) -> dict[str, Any]:
        return plain(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrontendConfig:
        return config_from_dict(cls, data, "front-end")


def num_frames(num_samples: int, config: FrontendConfig) -> int:
    """Frames librosa produces for ``num_samples`` (centred frames, so 1 + n // hop)."""
    return 1 + max(num_samples, 1) // config.hop_length


def compute_features(samples: np.ndarray, config: FrontendConfig | None = None, *,
                     lift: bool = True) -> np.ndarray:  # fmt: skip
    """Mono samples at ``config.sample_rate`` to a ``[frames, num_features]`` float32 matrix;
    quiet audio raised first (:func:`lift_quiet`) unless ``lift`` is False: a long file's
    pieces are raised by one gain for the whole file instead
    (:func:`~ctcasr.segment.input_gain`), since a piece of room tone alone, raised on its own,
    was heard as a letter or two (the floor had kept it silent)."""
    config = config or FrontendConfig()
    y = as_mono(samples)
    if y.size == 0:
        y = np.zeros(1, dtype=np.float32)
    if config.normalize and lift:
        y = lift_quiet(y, config.sample_rate)
    feats = _numpy_features(y, config) if config.kind != "pcen" else _librosa_features(y, config)
    if config.deltas:
        feats = np.concatenate([feats, *_deltas(feats, config.deltas)], axis=0)
    if config.normalize:
        mean = feats.mean(axis=1, keepdims=True)
        std = feats.std(axis=1, keepdims=True)
        feats = (feats - mean) / (std + 1e-5)
    return np.ascontiguousarray(feats.T, dtype=np.float32)


def lift_quiet(y: np.ndarray, sample_rate: int = 16_000) -> np.ndarray:
    """``y`` raised to :data:`QUIET_PEAK_DB` if its peak outside bursts, offset removed
    (:func:`~ctcasr.segment.held_peak`, as a long file's gain is read), lies under it; louder
    audio, and digital silence, unchanged. By its plain peak, a click in a clip of quiet speech
    set the level and nothing was raised (18 AN4 dev clips at -45 dBFS with a 20 ms click in
    their lead-in: greedy WER 40% against 14% without it), while the same audio over 30 s was."""
    from ctcasr.segment import held_peak  # segment imports this module

    gain = quiet_gain(held_peak(y, sample_rate, at_least=10 ** (QUIET_PEAK_DB / 20)))
    return y if gain == 1 else (y * np.float32(gain)).astype(np.float32)


def quiet_gain(peak: float) -> float:
    """The gain that raises audio peaking at ``peak`` (linear) to :data:`QUIET_PEAK_DB`; 1 for
    louder audio and for digital silence. One rule for a clip and for a long file's pieces."""
    target = 10 ** (QUIET_PEAK_DB / 20)
    return target / peak if 0 < peak < target else 1.0


def _numpy_features(y: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """librosa's MFCC / log-mel computed with numpy alone (``[F, T]``).

    Importing librosa pulls in scipy.signal and numba, over a second before the first sample is
    heard; a cold ``ctcasr transcribe`` cannot afford it. The result equals librosa's to float32
    rounding (``tests/test_features.py`` checks it), so models trained either way agree.
    """
    n_fft = config.n_fft
    frames = centred_frames(y, n_fft, config.hop_length)
    spectrum = np.fft.rfft(frames * _window(n_fft, config.win_length), axis=1)
    power = (spectrum.real**2 + spectrum.imag**2).astype(np.float32)  # [T, bins]
    mel = _mel_basis(config) @ power.T  # [n_mels, T]
    logmel = np.log(mel + _EPS)
    if config.kind == "logmel":
        return logmel.astype(np.float32)
    return (_dct_matrix(config.n_mfcc, config.n_mels) @ logmel).astype(np.float32)


def centred_frames(
    y: np.ndarray, frame_length: int, hop: int, pad_mode: Literal["constant", "edge"] = "constant"
) -> np.ndarray:
    """``[1 + len(y) // hop, frame_length]`` read-only view of frames centred on every
    ``hop``-th sample, the signal padded at both ends (zeros: librosa's ``center=True``)."""
    padded = np.pad(np.asarray(y, dtype=np.float32), frame_length // 2, mode=pad_mode)
    count = 1 + (len(padded) - frame_length) // hop
    step = padded.strides[0]
    return np.lib.stride_tricks.as_strided(
        padded, (count, frame_length), (step * hop, step), writeable=False
    )


@functools.cache
def _window(n_fft: int, win_length: int) -> np.ndarray:
    """Periodic Hann window of ``win_length`` centred in ``n_fft`` zeros."""
    n = np.arange(win_length)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / win_length)
    left = (n_fft - win_length) // 2
    return np.pad(window, (left, n_fft - win_length - left)).astype(np.float32)


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    mel = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, mel)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    hz = mel * (200.0 / 3)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log_part, hz)


@functools.cache
def _mel_basis(config: FrontendConfig) -> np.ndarray:
    """Triangular mel filters with Slaney area normalisation, ``[n_mels, 1 + n_fft // 2]``."""
    fmax = config.fmax if config.fmax is not None else config.sample_rate / 2
    fft_freqs = np.fft.rfftfreq(config.n_fft, 1.0 / config.sample_rate)  # odd n_fft too
    edges = _mel_to_hz(np.linspace(_hz_to_mel(config.fmin), _hz_to_mel(fmax), config.n_mels + 2))
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    return weights.astype(np.float32)


@functools.cache
def _dct_matrix(n_out: int, n_in: int) -> np.ndarray:
    """Orthonormal DCT-II rows, as ``scipy.fft.dct(type=2, norm="ortho")``."""
    k = np.arange(n_out)[:, None]
    n = np.arange(n_in)[None, :]
    basis = np.cos(np.pi / n_in * (n + 0.5) * k) * np.sqrt(2.0 / n_in)
    basis[0] /= np.sqrt(2.0)
    return basis.astype(np.float32)


def _writable(folder: Path) -> bool:
    """Whether a file can be made in ``folder`` (created if need be), as numba tests it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=folder).close()
    except OSError:
        return False
    return True


def _numba_cache_fallback() -> None:
    """Give numba a private temporary cache where it has nowhere to write one.

    librosa compiles with ``numba.jit(cache=True)`` as it is imported, and numba caches next to
    librosa's sources or in the user's cache folder; where neither can be written (a root-owned
    install run by a user whose home is not writable: ``docker run --user``, a service account)
    ``import librosa`` itself failed with "cannot cache function ...: no locator available".
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    spec = importlib.util.find_spec("librosa")
    if spec is None or not spec.submodule_search_locations:
        return
    from numba.misc.appdirs import AppDirs  # imports numba, which librosa imports anyway

    places = [Path(spec.submodule_search_locations[0]) / "core" / "__pycache__",
              Path(AppDirs(appname="numba", appauthor=False).user_cache_dir)]
    if any(_writable(place) for place in places):
        return
    from numba.core import config as numba_config

    folder = tempfile.mkdtemp(prefix="ctcasr-numba-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    # The compiler re-reads the environment (reload_config), the import reads the attribute.
    # (numba.core.config makes its settings from the environment at run time: none declared)
    os.environ["NUMBA_CACHE_DIR"] = numba_config.CACHE_DIR = folder  # type: ignore[attr-defined]


def _librosa_features(y: np.ndarray, config: FrontendConfig) -> np.ndarray:
    if "librosa" not in sys.modules:
        _numba_cache_fallback()
    import librosa

    mel_kwargs: dict[str, Any] = dict(
        sr=config.sample_rate,
        n_fft=config.n_fft,
        hop_length=config.hop_length,
        win_length=config.win_length,
        n_mels=config.n_mels,
        fmin=config.fmin,
        fmax=config.fmax,
    )
    if config.kind == "pcen":
        mel = librosa.feature.melspectrogram(y=y, power=1.0, **mel_kwargs)
        feats = librosa.pcen(mel * (2**31), sr=config.sample_rate, hop_length=config.hop_length)
    else:
        mel = librosa.feature.melspectrogram(y=y, power=2.0, **mel_kwargs)
        logmel = np.log(mel + _EPS)
        if config.kind == "mfcc":
            feats = librosa.feature.mfcc(S=logmel, n_mfcc=config.n_mfcc)
        else:
            feats = logmel
    return feats.astype(np.float32)  # [F, T]


def _deltas(feats: np.ndarray, order: int) -> list[np.ndarray]:
    import librosa

    frames = feats.shape[1]
    if frames < 3:
        return [np.zeros_like(feats) for _ in range(order)]
    width = min(9, frames if frames % 2 else frames - 1)
    return [
        librosa.feature.delta(feats, width=width, order=o, mode="nearest").astype(np.float32)
        for o in range(1, order + 1)
    ]


def featurize(
    source: str | os.PathLike[str] | np.ndarray,
    config: FrontendConfig | None = None,
    *,
    sample_rate: int | None = None,
    max_duration: float | None = None,
) -> np.ndarray:
    """A file path or a sample array (at ``sample_rate``, default the config's) to features."""
    config = config or FrontendConfig()
    samples = load_samples(source, config, sample_rate=sample_rate, max_duration=max_duration)
    return compute_features(samples, config)


def require_one_window(samples: np.ndarray, config: FrontendConfig, name: str) -> None:
    """Refuse audio under one analysis window: the model would hear only its padding."""
    if len(samples) < config.win_length:
        raise AudioError(f"{name}: too short ({counted(len(samples), 'sample')} is under one "
                         f"{config.win_ms:g} ms analysis window)")  # fmt: skip


def load_samples(
    source: str | os.PathLike[str] | np.ndarray | Readable | bytes | bytearray | memoryview,
    config: FrontendConfig,
    *,
    sample_rate: int | None = None,
    max_duration: float | None = None,
    stream_after: float | None = None,
) -> np.ndarray:
    """A file path or a sample array (at ``sample_rate``, default the config's) to mono
    float32 samples at the config's rate (a stream or a file's bytes is refused in one line).
    Inputs longer than ``stream_after`` seconds raise :class:`~ctcasr.audio.LongAudio` (see
    :func:`~ctcasr.audio.load_audio`)."""
    if isinstance(source, (str, os.PathLike)):
        return load_audio(source, config.sample_rate, max_duration=max_duration,
                          stream_after=stream_after)  # fmt: skip
    from ctcasr.audio import LongAudio, resample
    from ctcasr.spool import is_file_bytes, is_stream, stream_name

    if is_stream(source):  # as_mono called it an array of objects
        raise AudioError(f"{stream_name(source)}: a stream is read by Transcriber.transcribe "
                         "(which copies it to a file first), not here")  # fmt: skip
    if is_file_bytes(source):  # as_mono read them as 8-bit samples, or failed on bytes
        raise AudioError("<bytes>: a file's bytes are read by Transcriber.transcribe (which "
                         "copies them to a file first), not here")  # fmt: skip
    samples = as_mono(source)
    if not samples.size:  # a file says so when it is loaded; an empty array says so here
        raise AudioError("<array>: contains no audio samples")
    if sample_rate is not None:  # 0 was taken as the model's rate; "16000" a TypeError, and
        check_rate(sample_rate)  # 16.0 (kHz) upsampled a clip a thousandfold, all without a word
    rate = sample_rate or config.sample_rate
    if max_duration is not None and len(samples) > max_duration * rate:  # as a file's header
        raise AudioError(f"<array>: {len(samples) / rate:.1f} s is longer than the "
                         f"{max_duration:g} s limit")  # fmt: skip
    if stream_after is not None and len(samples) > stream_after * rate:
        raise LongAudio(len(samples) / rate)
    out = resample(samples, rate, config.sample_rate)
    if not out.size:  # as a file says: it was an empty transcript, as if nothing were said
        raise AudioError(f"<array>: too short ({counted(len(samples), 'sample')} at {rate} Hz "
                         f"is under one sample at {config.sample_rate} Hz)")  # fmt: skip
    return out
