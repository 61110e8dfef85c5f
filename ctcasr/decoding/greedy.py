"""Greedy (best-path) CTC decoding: argmax per frame, collapse repeats, drop blanks.

The batch path does the argmax, the collapse and the masking for the whole padded batch in a
few numpy operations; only the assembly of each text is per utterance.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ctcasr.decoding.base import (
    DEFAULT_FRAME_SECONDS,
    Decoder,
    Hypothesis,
    build_hypothesis,
    check_log_probs,
    check_nbest,
)
from ctcasr.errors import LogProbError
from ctcasr.text import Alphabet


def greedy_path(
    log_probs: np.ndarray, blank: int, best: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Label ids of the collapsed best path and the frame each label starts at (``best``:
    ``log_probs.argmax(-1)``, when the caller has it)."""
    best = log_probs.argmax(axis=-1) if best is None else best
    keep = best != blank
    keep[1:] &= best[1:] != best[:-1]
    frames = np.flatnonzero(keep)
    return best[frames], frames


class GreedyDecoder(Decoder):
    """Best path: the most probable label per frame, repeats merged, blanks dropped."""

    name = "greedy"

    def decode(self, log_probs: np.ndarray, nbest: int = 1) -> list[Hypothesis]:
        check_nbest(nbest)
        log_probs = check_log_probs(log_probs, self.alphabet)
        ids, frames = greedy_path(log_probs, self.alphabet.blank_index)
        # Summed in float64: a float16 sum over a long file overflows to -inf.
        score = float(log_probs.max(axis=-1).sum(dtype=np.float64)) if log_probs.shape[0] else 0.0
        return [
            build_hypothesis(
                ids.tolist(), frames.tolist(), log_probs, self.alphabet, self.frame_seconds, score
            )
        ]

    def decode_batch(
        self, log_probs: np.ndarray, lengths: Sequence[int] | None = None, nbest: int = 1
    ) -> list[list[Hypothesis]]:
        check_nbest(nbest)
        array = np.asarray(log_probs)
        if array.ndim != 3:
            raise LogProbError(
                f"expected a [batch, frames, classes] array, got shape {array.shape}"
            )
        batch, frames_total, _ = array.shape
        lens = (
            np.full(batch, frames_total)
            if lengths is None
            else np.asarray(lengths, dtype=np.int64).reshape(-1)
        )
        if lens.shape[0] != batch or (lens < 0).any() or (lens > frames_total).any():
            raise LogProbError(f"lengths {lens.tolist()} do not fit a batch of shape {array.shape}")
        valid = np.arange(frames_total)[None, :] < lens[:, None]
        if array.shape[-1] != self.alphabet.num_classes:
            check_log_probs(array.reshape(-1, array.shape[-1]), self.alphabet)  # the error
        check_log_probs(array[valid], self.alphabet)  # padding may hold anything
        blank = self.alphabet.blank_index
        best = array.argmax(axis=-1)  # [B, T]
        best_lp = np.take_along_axis(array, best[..., None], axis=-1)[..., 0]
        scores = np.where(valid, best_lp, 0.0).sum(axis=1, dtype=np.float64)
        keep = (best != blank) & valid
        keep[:, 1:] &= best[:, 1:] != best[:, :-1]
        rows, cols = np.nonzero(keep)
        labels = best[rows, cols]
        bounds = np.searchsorted(rows, np.arange(batch + 1))
        labels_list, cols_list = labels.tolist(), cols.tolist()
        out = []
        for b in range(batch):
            lo, hi = bounds[b], bounds[b + 1]
            out.append(
                [
                    build_hypothesis(
                        labels_list[lo:hi],
                        cols_list[lo:hi],
                        array[b, : lens[b]],
                        self.alphabet,
                        self.frame_seconds,
                        float(scores[b]),
                    )
                ]
            )
        return out


def greedy_decode(
    log_probs: np.ndarray, alphabet: Alphabet, frame_seconds: float = DEFAULT_FRAME_SECONDS
) -> Hypothesis:
    """Decode one ``[T, V]`` matrix of log-probabilities (V = alphabet size + blank)."""
    return GreedyDecoder(alphabet, frame_seconds=frame_seconds).decode(log_probs)[0]


def greedy_decode_batch(
    log_probs: np.ndarray,
    lengths: Sequence[int] | None,
    alphabet: Alphabet,
    frame_seconds: float = DEFAULT_FRAME_SECONDS,
) -> list[Hypothesis]:
    """Decode a padded batch ``[B, T, V]``; ``lengths`` marks the valid frames of each row."""
    decoder = GreedyDecoder(alphabet, frame_seconds=frame_seconds)
    return [h[0] for h in decoder.decode_batch(log_probs, lengths)]
