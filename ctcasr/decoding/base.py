"""The decoder interface: what every decoder takes, what it returns, and shared helpers.

A decoder turns per-frame log-probabilities ``[T, V]`` (V = alphabet + blank, the blank last)
into an n-best list of :class:`Hypothesis`. Word timings and confidences are computed the same
way for every built-in decoder, from the frames at which each character is emitted, so that
numbers from different decoders can be compared.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ctcasr.errors import ConfigError, LogProbError
from ctcasr.text import Alphabet

DEFAULT_FRAME_SECONDS = 0.02  # 10 ms hop x conv stride 2


@dataclass(frozen=True)
class WordTiming:
    """A word with its start and end in seconds and the geometric-mean posterior of its
    characters at the frames where they were emitted."""

    word: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True)
class Hypothesis:
    """One decoded transcript.

    ``score`` is the decoder's ranking score (a log-probability, plus LM and bonus terms where
    the decoder uses them; higher is better). ``confidence`` is in [0, 1]. ``rejected`` is set by
    decoders that can refuse an answer (the grammar decoder, when audio is out of grammar).
    """

    text: str
    score: float
    confidence: float
    words: tuple[WordTiming, ...] = ()
    rejected: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "score": json_score(self.score),
            "confidence": round(self.confidence, 4),
            "rejected": self.rejected,
            "words": [
                {
                    "word": w.word,
                    "start": round(w.start, 3),
                    "end": round(w.end, 3),
                    "confidence": round(w.confidence, 4),
                }
                for w in self.words
            ],
        }


class Decoder(ABC):
    """Base class for decoders, built-in or plugged in through the ``ctcasr.decoders`` group.

    Subclasses take the alphabet and ``frame_seconds`` (the duration of one output frame, for
    word timings) plus their own keyword options, and implement :meth:`decode`. Options with
    file paths are listed in ``path_options`` so that bundles can store them relative to
    themselves.
    """

    name: ClassVar[str] = ""
    path_options: ClassVar[tuple[str, ...]] = ()

    def __init__(self, alphabet: Alphabet, *, frame_seconds: float = DEFAULT_FRAME_SECONDS):
        check_option_type(self.name or type(self).__name__, "frame_seconds", frame_seconds, "float")
        if frame_seconds <= 0:
            raise ConfigError(f"frame_seconds must be positive, got {frame_seconds}")
        self.alphabet = alphabet
        self.frame_seconds = frame_seconds

    @abstractmethod
    def decode(self, log_probs: np.ndarray, nbest: int = 1) -> list[Hypothesis]:
        """Up to ``nbest`` hypotheses for one ``[T, V]`` matrix, best first (never empty)."""

    def decode_batch(
        self, log_probs: np.ndarray, lengths: Sequence[int] | None = None, nbest: int = 1
    ) -> list[list[Hypothesis]]:
        """A padded batch ``[B, T, V]``; ``lengths`` marks the valid frames of each row."""
        batch = check_batch(log_probs, lengths, self.alphabet)
        return [self.decode(row, nbest) for row in batch]

    def options(self) -> dict[str, Any]:
        """The settings this decoder was built with (stored in bundles by ``ctcasr tune``)."""
        return {}


# ---------------------------------------------------------------------------------------------
# input checks
# ---------------------------------------------------------------------------------------------


# The plain kinds an option's annotation can name, and the types that are values of each.
# Numbers and flags only: a ``str`` option may fairly be given a Path from Python.
OPTION_KINDS: dict[str, tuple[type, ...]] = {
    "int": (numbers.Integral,), "float": (numbers.Real,), "bool": (bool, np.bool_),
}  # fmt: skip


def check_option_type(decoder: str, key: str, value: Any, kind: str) -> None:
    """Refuse a number or flag option of the wrong type in one line, whether it came through
    create_decoder or a constructor called directly: ``beam_width="8"`` failed as "'<' not
    supported between 'str' and 'int'", and ``length_normalize="no"`` was taken as true.
    ``kind``: "int", "float" or "bool"; any other is not checked."""
    kinds = OPTION_KINDS.get(kind)
    if kinds is None:
        return
    if isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool | np.bool_)):
        return
    raise ConfigError(f"decoder {decoder!r}: option {key} must be {'an' if kind == 'int' else 'a'} "
                      f"{kind}, got {value!r}")  # fmt: skip


def check_log_probs(log_probs: np.ndarray, alphabet: Alphabet) -> np.ndarray:
    """A validated float ``[T, V]`` array; wrong shapes, sizes and NaNs are user errors."""
    array = np.asarray(log_probs)
    if array.ndim != 2:
        raise LogProbError(f"expected a [frames, classes] array, got shape {array.shape}")
    if array.shape[1] != alphabet.num_classes:
        raise LogProbError(
            f"log-probabilities have {array.shape[1]} classes but the alphabet has "
            f"{len(alphabet)} symbols + blank = {alphabet.num_classes}"
        )
    if array.dtype.kind != "f":
        array = array.astype(np.float32)
    elif array.dtype.itemsize > 8:  # long double: decoders work in (Python) float64
        array = array.astype(np.float64)
    top = float(array.max()) if array.size else 0.0  # NaN propagates: one pass checks both
    if top != top:
        raise LogProbError("log-probabilities contain NaN")
    if top > 1e-3:
        raise LogProbError(
            "expected log-probabilities (all <= 0); got positive values: apply log_softmax first"
        )
    # Rows may sum to under 1 (pruned or penalised classes), never over: an all-zero array
    # (each class "probability 1") was decoded into letters at confidence 1.
    if array.size:
        top_row = array.max(axis=1)
        top_row[~np.isfinite(top_row)] = 0.0  # a frame with nothing possible sums to 0
        sums = np.exp(array - top_row[:, None]).sum(axis=1) * np.exp(top_row)
        worst = int(np.argmax(sums))
        if sums[worst] > 1.01:
            raise LogProbError(
                f"expected log-probabilities: frame {worst}'s probabilities sum to "
                f"{float(sums[worst]):.3g}, over 1: apply log_softmax first"
            )
    return array


def check_batch(
    log_probs: np.ndarray, lengths: Sequence[int] | None, alphabet: Alphabet
) -> list[np.ndarray]:
    array = np.asarray(log_probs)
    if array.ndim != 3:
        raise LogProbError(f"expected a [batch, frames, classes] array, got shape {array.shape}")
    if lengths is None:
        lengths = [array.shape[1]] * array.shape[0]
    if len(lengths) != array.shape[0]:
        raise LogProbError(f"{len(lengths)} lengths for a batch of {array.shape[0]}")
    rows = []
    for row, n in zip(array, lengths, strict=True):
        if not 0 <= int(n) <= array.shape[1]:
            raise LogProbError(f"length {n} outside 0..{array.shape[1]}")
        rows.append(row[: int(n)])
    return rows


def check_nbest(nbest: int) -> int:
    """nbest="3" given to a decoder directly was a TypeError from the comparison."""
    if not isinstance(nbest, numbers.Integral) or isinstance(nbest, bool | np.bool_):
        raise ConfigError(f"nbest must be an integer, got {nbest!r}")
    if nbest < 1:
        raise ConfigError(f"nbest must be at least 1, got {nbest}")
    return nbest


# ---------------------------------------------------------------------------------------------
# timings and confidence from emission frames
# ---------------------------------------------------------------------------------------------


def json_score(score: float) -> float | None:
    """A score for JSON: null for -inf (a command the audio is too short to spell), which
    json.dumps wrote as -Infinity, not JSON."""
    return round(score, 4) if math.isfinite(score) else None


def build_hypothesis(
    ids: Sequence[int],
    frames: Sequence[int],
    log_probs: np.ndarray,
    alphabet: Alphabet,
    frame_seconds: float,
    score: float,
    rejected: bool = False,
) -> Hypothesis:
    """Text, word timings and confidences from label ids and the frame each one is emitted at.

    Confidence is the geometric mean of the emitted characters' posteriors (words separately,
    and the whole text), so it does not fall with length or with the blank frames in between;
    an empty transcript gets the mean blank posterior instead.
    """
    labels = alphabet.labels
    space = alphabet.space_index
    words: list[WordTiming] = []
    word_chars: list[str] = []
    word_logp = 0.0
    total_logp = 0.0
    total_chars = 0
    start = end = 0
    for label, frame in zip(ids, frames, strict=True):
        lp = float(log_probs[frame, label])
        if label == space:
            if word_chars:
                words.append(_word(word_chars, word_logp, start, end, frame_seconds))
                word_chars = []
            continue
        if not word_chars:
            start, word_logp = frame, 0.0
        word_chars.append(labels[label])
        word_logp += lp
        total_logp += lp
        total_chars += 1
        end = frame + 1
    if word_chars:
        words.append(_word(word_chars, word_logp, start, end, frame_seconds))
    if total_chars:
        # At most 1: check_log_probs lets rounding put a log-probability a hair above 0.
        confidence = min(1.0, math.exp(total_logp / total_chars))
    elif log_probs.shape[0]:
        confidence = min(1.0, math.exp(float(log_probs[:, alphabet.blank_index].mean())))
    else:
        confidence = 1.0
    text = " ".join(w.word for w in words)
    return Hypothesis(text, float(score), confidence, tuple(words), rejected)


def _word(chars: list[str], logp: float, start: int, end: int, frame_seconds: float) -> WordTiming:
    return WordTiming(
        "".join(chars),
        round(start * frame_seconds, 3),
        round(end * frame_seconds, 3),
        min(1.0, math.exp(logp / len(chars))),
    )
