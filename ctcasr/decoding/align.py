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
    log_probs: np.ndarray, ids: Sequence[int], blank: int, space: int | None = None
) -> list[int] | None:
    """Viterbi alignment of ``ids`` to ``log_probs``; the first frame of each label, or
    ``None`` when the transcript needs more frames than there are.

    With ``space``, a best path that differs from ``ids`` only by extra spaces (leading,
    trailing or doubled, which spell nothing) still counts as the transcript's alignment.
    """
    ids = list(ids)
    if not ids:
        return []
    best_ids, best_frames = greedy_path(log_probs, blank)
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
    if path == ids:
        return frames
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
    back = np.zeros((num_frames, num_states), dtype=np.int8)
    score = np.full(num_states, NEG_INF)
    score[:2] = emit[0, :2]
    for t in range(1, num_frames):
        stay = score
        step = np.concatenate([[NEG_INF], score[:-1]])
        skip = np.where(can_skip, np.concatenate([[NEG_INF, NEG_INF], score[:-2]]), NEG_INF)
        choices = np.stack([stay, step, skip])
        back[t] = choices.argmax(axis=0)
        score = choices.max(axis=0) + emit[t]
    if max(score[-1], score[-2]) == NEG_INF:  # every alignment passes a -inf frame
        return None
    state = num_states - 1 if score[-1] >= score[-2] else num_states - 2
    starts = [0] * len(ids)
    for t in range(num_frames - 1, -1, -1):
        if state % 2 == 1:
            starts[(state - 1) // 2] = t  # overwritten until the label's first frame
        state -= int(back[t, state])
    return starts
