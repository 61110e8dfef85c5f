"""Greedy (best-path) CTC decoding: argmax per frame, collapse repeats, drop blanks."""

from __future__ import annotations

import numpy as np

from ctcasr.decoding.base import Hypothesis
from ctcasr.text import Alphabet


def greedy_path(log_probs: np.ndarray, blank: int) -> tuple[np.ndarray, np.ndarray]:
    """Label ids of the collapsed best path and the frame each label starts at."""
    best = log_probs.argmax(axis=-1)
    keep = best != blank
    keep[1:] &= best[1:] != best[:-1]
    frames = np.flatnonzero(keep)
    return best[frames], frames


def greedy_decode(log_probs: np.ndarray, alphabet: Alphabet) -> Hypothesis:
    """Decode one ``[T, V]`` matrix of log-probabilities (V = alphabet size + blank)."""
    log_probs = _check(log_probs, alphabet)
    ids, _ = greedy_path(log_probs, alphabet.blank_index)
    if log_probs.shape[0] == 0:
        return Hypothesis("", 0.0, 1.0)
    best = log_probs.max(axis=-1)
    score = float(best.sum())
    # Mean per-frame probability of the chosen path: 1.0 when every frame is certain.
    confidence = float(np.exp(best.mean()))
    # Word boundaries are single spaces whatever the model emitted around them.
    return Hypothesis(" ".join(alphabet.decode(ids.tolist()).split()), score, confidence)


def greedy_decode_batch(
    log_probs: np.ndarray, lengths: np.ndarray | None, alphabet: Alphabet
) -> list[Hypothesis]:
    """Decode a padded batch ``[B, T, V]``; ``lengths`` marks the valid frames of each row."""
    if log_probs.ndim != 3:
        raise ValueError(f"expected a [batch, frames, classes] array, got shape {log_probs.shape}")
    if lengths is None:
        lengths = np.full(log_probs.shape[0], log_probs.shape[1])
    return [greedy_decode(row[:n], alphabet) for row, n in zip(log_probs, lengths, strict=True)]


def _check(log_probs: np.ndarray, alphabet: Alphabet) -> np.ndarray:
    log_probs = np.asarray(log_probs)
    if log_probs.ndim != 2:
        raise ValueError(f"expected a [frames, classes] array, got shape {log_probs.shape}")
    if log_probs.shape[1] != alphabet.num_classes:
        raise ValueError(
            f"log-probabilities have {log_probs.shape[1]} classes but the alphabet has "
            f"{len(alphabet)} symbols + blank = {alphabet.num_classes}"
        )
    if np.isnan(log_probs).any():
        raise ValueError("log-probabilities contain NaN")
    return log_probs
