"""CTC forced alignment: the frame at which each label of a known transcript is emitted.

Decoders that do not track emission frames themselves (the ``kenlm`` and ``grammar`` decoders)
use it for word timings and confidences. When the transcript is what the best path spells, the
best path already is its most probable alignment and no search is needed.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from ctcasr.decoding.greedy import greedy_path

NEG_INF = -np.inf


def forced_align(
    log_probs: np.ndarray,
    ids: Sequence[int],
    blank: int,
    space: int | None = None,
    best_path: tuple[np.ndarray, np.ndarray] | None = None,
) -> list[int] | None:
    """Viterbi alignment of ``ids`` to ``log_probs``; the first frame of each label, or
    ``None`` when no alignment of the transcript has a finite probability (too few frames, or
    a ``-inf`` on every path).

    With ``space``, a best path that differs from ``ids`` only by extra spaces (leading,
    trailing or doubled, which spell nothing) still counts as the transcript's alignment.
    ``best_path``: :func:`greedy_path`'s result, when the caller has it.
    """
    ids = list(ids)
    if not ids:
        return []
    frames = _on_best_path(log_probs, ids, blank, space, best_path)
    if frames is not None:
        return frames
    found = _viterbi(log_probs, ids, blank, space)
    return None if found is None else found[1]


def best_alignment(
    log_probs: np.ndarray,
    ids: Sequence[int],
    blank: int,
    space: int | None = None,
    best_path: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[float, list[int]] | None:
    """The most probable alignment of ``ids``: its log-probability and the first frame of
    each label, or ``None`` as in :func:`forced_align` (``best_path``: :func:`greedy_path`'s
    result, when the caller has it)."""
    ids = list(ids)
    if not ids:
        total = float(log_probs[:, blank].sum(dtype=np.float64))
        return None if total == NEG_INF else (total, [])
    frames = _on_best_path(log_probs, ids, blank, space, best_path)
    if frames is not None:
        return float(log_probs.max(axis=1).sum(dtype=np.float64)), frames
    return _viterbi(log_probs, ids, blank, space)


def _on_best_path(
    log_probs: np.ndarray,
    ids: list[int],
    blank: int,
    space: int | None,
    best_path: tuple[np.ndarray, np.ndarray] | None,
) -> list[int] | None:
    """The best path's frames when it spells ``ids``: then it is their best alignment, and no
    search is needed."""
    best_ids, best_frames = greedy_path(log_probs, blank) if best_path is None else best_path
    path, frames = best_ids.tolist(), best_frames.tolist()
    if space is not None and space in path:
        kept = [
            (c, f)
            for i, (c, f) in enumerate(zip(path, frames, strict=True))
            if c != space or (0 < i < len(path) - 1 and path[i - 1] != space)
        ]
        while kept and kept[-1][0] == space:
            kept.pop()
        path, frames = [c for c, _ in kept], [f for _, f in kept]
    return frames if path == ids else None


def _viterbi(
    log_probs: np.ndarray, ids: list[int], blank: int, space: int | None = None
) -> tuple[float, list[int]] | None:
    """With ``space``, the blank states where a space would spell nothing (before the first
    label, after the last, after a space) may emit it: the paths the best-path shortcut and
    the grammar's forward pass already accept, so a stray space is not charged to the score."""
    num_frames = log_probs.shape[0]
    repeats = sum(1 for a, b in itertools.pairwise(ids) if a == b)
    if num_frames < len(ids) + repeats:
        return None
    # States 0..2L: even = blank, odd = label ids[(s-1)//2].
    ext = np.full(2 * len(ids) + 1, blank)
    ext[1::2] = ids
    num_states = ext.shape[0]
    can_skip = np.zeros(num_states, dtype=bool)
    can_skip[3::2] = np.asarray(ids[1:]) != np.asarray(ids[:-1])
    emit = log_probs[:, ext].astype(np.float64)  # [T, S]
    if space is not None:
        either = np.maximum(log_probs[:, blank], log_probs[:, space]).astype(np.float64)
        edges = [0, num_states - 1] + [s + 1 for s in range(1, num_states, 2) if ext[s] == space]
        emit[:, edges] = either[:, None]
    back = np.zeros((num_frames, num_states), dtype=np.int8)
    # Row 0: stay (the scores so far live there); row 1: step from the previous state;
    # row 2: skip a blank between two different labels (-inf added where it may not).
    # Written in place each frame: five numpy calls per frame.
    choices = np.full((3, num_states), NEG_INF)
    skip = np.where(can_skip, 0.0, NEG_INF)[2:]
    best_move = np.empty(num_states)
    score = choices[0]
    score[:2] = emit[0, :2]
    for t in range(1, num_frames):
        choices[1, 1:] = score[:-1]
        np.add(score[:-2], skip, out=choices[2, 2:])
        back[t] = choices.argmax(axis=0)
        choices.max(axis=0, out=best_move)
        np.add(best_move, emit[t], out=score)
    best = float(max(score[-1], score[-2]))
    if best == NEG_INF:  # every alignment passes a -inf frame
        return None
    state = num_states - 1 if score[-1] >= score[-2] else num_states - 2
    starts = [0] * len(ids)
    for t in range(num_frames - 1, -1, -1):
        if state % 2 == 1:
            starts[(state - 1) // 2] = t  # overwritten until the label's first frame
        state -= int(back[t, state])
    return best, starts
