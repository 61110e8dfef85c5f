"""CTC prefix beam search without a language model, with optional hotword bonuses.

Each beam is a prefix (a node in a trie of prefixes) with two log-probabilities: paths ending in
a blank and paths ending in its last label. Three things keep it fast in plain Python:

* a run of frames where no label but the blank reaches ``token_min_logp`` (most frames of a
  peaky CTC model) is applied to all beams at once from the sum of the run's blank
  log-probabilities, without expansion or sorting;
* candidate labels per frame are found for the whole matrix at once with numpy;
* prefixes are integers into a trie, so merging and looking up children are dict operations on
  ints, and texts are only built for beams that carry hotword bonuses or reach the output.
"""

from __future__ import annotations

import heapq
import math
import operator
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from ctcasr.decoding.align import forced_align
from ctcasr.decoding.base import (
    DEFAULT_FRAME_SECONDS,
    Decoder,
    Hypothesis,
    build_hypothesis,
    check_log_probs,
    check_nbest,
    check_option_type,
)
from ctcasr.decoding.greedy import greedy_path
from ctcasr.decoding.hotwords import (
    DEFAULT_HOTWORD_WEIGHT,
    HotwordScorer,
    HotwordSpec,
    format_weight,
    parse_hotwords,
)
from ctcasr.errors import ConfigError
from ctcasr.text import Alphabet

NEG_INF = float("-inf")
# Frames with at least this many beam x candidate expansions go through numpy (noisy output);
# below it, plain Python is faster (a peaky model's output has one or two beams most frames).
VECTORISE_FROM = 48
_exp = math.exp
_log1p = math.log1p
_second = operator.itemgetter(1)


def _lse(a: float, b: float) -> float:
    """log(exp(a) + exp(b)) for Python floats, -inf safe."""
    if a < b:
        a, b = b, a
    if b == NEG_INF:
        return a
    return a + _log1p(_exp(b - a))


def check_search_options(decoder: str, beam_width: Any, beam_prune_logp: Any,
                         token_min_logp: Any, hotword_weight: Any) -> None:  # fmt: skip
    """The beam search options beam and kenlm share, typed as create_decoder checks them, for
    a decoder built directly (``beam_width="8"`` was a TypeError from a comparison)."""
    check_option_type(decoder, "beam_width", beam_width, "int")
    check_option_type(decoder, "beam_prune_logp", beam_prune_logp, "float")
    check_option_type(decoder, "token_min_logp", token_min_logp, "float")
    check_option_type(decoder, "hotword_weight", hotword_weight, "float")
    # "not <= 0": NaN passed "> 0", and every comparison with it is false.
    if not (beam_prune_logp <= 0 and token_min_logp <= 0):
        raise ConfigError(f"decoder {decoder!r}: beam_prune_logp and token_min_logp are "
                          f"log-probabilities (<= 0), got {beam_prune_logp!r} and "
                          f"{token_min_logp!r}")  # fmt: skip


class BeamDecoder(Decoder):
    """CTC prefix beam search (no LM), with optional hotword and phrase bonuses."""

    name = "beam"

    def __init__(
        self,
        alphabet: Alphabet,
        *,
        frame_seconds: float = DEFAULT_FRAME_SECONDS,
        beam_width: int = 16,
        beam_prune_logp: float = -10.0,
        token_min_logp: float = -5.0,
        hotwords: Iterable[HotwordSpec] | Mapping[str, float] | None = None,
        hotword_weight: float = DEFAULT_HOTWORD_WEIGHT,
    ) -> None:
        super().__init__(alphabet, frame_seconds=frame_seconds)
        check_search_options(self.name, beam_width, beam_prune_logp, token_min_logp,
                             hotword_weight)  # fmt: skip
        if beam_width < 1:
            raise ConfigError(f"beam_width must be at least 1, got {beam_width}")
        self.beam_width = int(beam_width)
        self.beam_prune_logp = float(beam_prune_logp)
        self.token_min_logp = float(token_min_logp)
        self.hotword_weight = float(hotword_weight)
        self.hotwords = parse_hotwords(hotwords, alphabet, self.hotword_weight)
        self.scorer = HotwordScorer(self.hotwords) if self.hotwords else None

    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "beam_width": self.beam_width,
            "beam_prune_logp": self.beam_prune_logp,
            "token_min_logp": self.token_min_logp,
        }
        if self.hotwords:
            opts["hotwords"] = [f"{h.phrase}:{format_weight(h.weight)}" for h in self.hotwords]
        return opts

    def decode(self, log_probs: np.ndarray, nbest: int = 1) -> list[Hypothesis]:
        check_nbest(nbest)
        log_probs = check_log_probs(log_probs, self.alphabet)
        blank = self.alphabet.blank_index
        best = log_probs.argmax(axis=1)  # shared by the search and the alignment
        results = prefix_beam_search(
            log_probs,
            self.alphabet,
            beam_width=max(self.beam_width, nbest),
            beam_prune_logp=self.beam_prune_logp,
            token_min_logp=self.token_min_logp,
            scorer=self.scorer,
            limit=nbest,
            best=best,
        )
        best_path = greedy_path(log_probs, blank, best)
        out = []
        for ids, frames, score in results[:nbest]:
            # The frame a prefix was first reached is not where its labels are most likely
            # emitted; the Viterbi alignment is (and is free when it is the best path).
            aligned = forced_align(
                log_probs, ids, blank, self.alphabet.space_index, best_path=best_path
            )
            out.append(
                build_hypothesis(
                    ids, aligned or frames, log_probs, self.alphabet, self.frame_seconds, score
                )
            )
        return out


# (ranking score, trie node, log p(paths ending in blank), log p(paths ending in its label))
Beam = tuple[float, int, float, float]


def prefix_beam_search(
    log_probs: np.ndarray,
    alphabet: Alphabet,
    beam_width: int = 16,
    beam_prune_logp: float = -10.0,
    token_min_logp: float = -5.0,
    scorer: HotwordScorer | None = None,
    limit: int | None = None,
    best: np.ndarray | None = None,
) -> list[tuple[list[int], list[int], float]]:
    """Final beams as (label ids, emission frames, score), best first; at most ``limit`` of
    them (and the best path, when it beats them), or all. ``best``: ``log_probs.argmax(1)``,
    when the caller has it.

    The score is the log-probability of the prefix summed over its alignments, plus the
    hotword bonus of its text. With ``token_min_logp=-inf``, ``beam_prune_logp=-inf`` and a
    width at least the number of distinct prefixes this is exact (tests compare it with an
    exhaustive search).
    """
    num_frames = log_probs.shape[0]
    blank = alphabet.blank_index
    space = -1 if alphabet.space_index is None else alphabet.space_index
    if scorer is not None:
        scorer.reset()
    # Blank log-probabilities of a run of frames are summed per run, not taken as differences
    # of a cumulative sum: a busy frame with p(blank) = 0 puts -inf into the cumulative sum,
    # and every later difference became -inf - -inf = NaN (beams vanished, decode crashed).
    # Summed as Python floats: a run is a few frames, and a numpy reduction per run cost more
    # than the run's search.
    blank_lp = log_probs[:, blank].tolist()  # Python floats (doubles) whatever the dtype
    trie = _PrefixTrie(alphabet, scorer)
    beams: list[Beam] = [(0.0, 0, 0.0, NEG_INF)]
    t_done = 0
    busy = _busy_frames(log_probs, blank, token_min_logp)
    # Python floats for every busy frame in one conversion, not a numpy row per frame.
    rows = log_probs[[t for t, _ in busy]].tolist() if busy else []
    # Without hotwords, an extension already further than ``beam_prune_logp`` below the best
    # score seen in its frame is dropped before it is stored, unless it merges into a beam.
    floor_gap = beam_prune_logp if scorer is None else NEG_INF
    for (t, cand), row in zip(busy, rows, strict=True):
        if t > t_done:  # a run of blank-only frames
            beams = _blank_run(beams, sum(blank_lp[t_done:t]))
        if scorer is None and len(beams) * len(cand) >= VECTORISE_FROM:
            beams = _expand_vectorised(
                beams, log_probs[t], cand, blank, space, trie, t, beam_width, beam_prune_logp
            )
        else:
            beams = _step(beams, row, cand, blank, space, trie, floor_gap, t, beam_width,
                          beam_prune_logp)  # fmt: skip
        t_done = t + 1
    if num_frames > t_done:
        beams = _blank_run(beams, sum(blank_lp[t_done:]))
    out = _final_beams(beams, trie, space, limit)
    if num_frames:
        out = _with_best_path(out, log_probs, alphabet, scorer,
                              log_probs.argmax(axis=1) if best is None else best)  # fmt: skip
    return out


def _busy_frames(
    log_probs: np.ndarray, blank: int, token_min_logp: float
) -> list[tuple[int, list[int]]]:
    """Frames where some label reaches ``token_min_logp``, with those labels, found for the
    whole matrix at once. The most probable label is always a candidate; it can only fall
    below the floor when the floor is above log(1/V)."""
    mask = log_probs[:, :blank] >= token_min_logp
    if token_min_logp > -math.log(blank + 1) and log_probs.shape[0]:
        best = log_probs.argmax(axis=1)
        rows = np.flatnonzero(best != blank)
        mask[rows, best[rows]] = True
    frames: list[tuple[int, list[int]]] = []
    rows, labels = mask.nonzero()
    last = -1
    for r, c in zip(rows.tolist(), labels.tolist(), strict=True):
        if r == last:
            frames[-1][1].append(c)
        else:
            frames.append((r, [c]))
            last = r
    return frames


class _PrefixTrie:
    """Prefixes as integer nodes (node 0 is the empty prefix), so merging and finding children
    are dict operations on ints. Texts are built only when hotwords need them.

    Extensions are first kept under a tentative key ``~(node * stride + label)`` and become
    nodes only if they survive pruning; most do not.
    """

    def __init__(self, alphabet: Alphabet, scorer: HotwordScorer | None) -> None:
        self.alphabet = alphabet
        self.labels = alphabet.labels
        self.scorer = scorer
        self.stride = alphabet.blank_index + 1
        self.parent: list[int] = [-1]
        self.last: list[int] = [-1]
        self.key_of: list[int] = [-1]  # parent * stride + label: the extension it is
        self.frame_of: list[int] = [-1]
        self.text_of: list[str] = [""]
        self.bonus_of: list[float] = [0.0]
        self.children: dict[int, int] = {}

    def child(self, node: int, label: int, t: int) -> int:
        """Make the node for prefix ``node`` + ``label`` (first reached at frame ``t``)."""
        c = len(self.parent)
        key = node * self.stride + label
        self.children[key] = c
        self.key_of.append(key)
        self.parent.append(node)
        self.last.append(label)
        self.frame_of.append(t)
        if self.scorer is not None:  # texts and bonuses are kept only for hotwords
            text = self.text_of[node] + self.labels[label]
            self.text_of.append(text)
            self.bonus_of.append(self.scorer.prefix_bonus(text))
        return c

    def bonus(self, n: int) -> float:
        """Hotword bonus of node ``n``, or of a tentative extension (``n < 0``)."""
        if n >= 0:
            return self.bonus_of[n]
        assert self.scorer is not None
        key = ~n
        return self.scorer.prefix_bonus(
            self.text_of[key // self.stride] + self.labels[key % self.stride]
        )

    def trace(self, n: int) -> tuple[list[int], list[int]]:
        """Label ids of prefix ``n`` and the frames each was first reached at."""
        ids: list[int] = []
        frames: list[int] = []
        while n > 0:
            ids.append(self.last[n])
            frames.append(self.frame_of[n])
            n = self.parent[n]
        ids.reverse()
        frames.reverse()
        return ids, frames


def _step(
    beams: list[Beam],
    row: list[float],
    cand: list[int],
    blank: int,
    space: int,
    trie: _PrefixTrie,
    floor_gap: float,
    t: int,
    beam_width: int,
    prune_logp: float,
) -> list[Beam]:
    """One busy frame in plain Python: every beam stays (blank, repeat) or extends by a
    candidate; then the merged entries are ranked by acoustic score plus hotword bonus, those
    within ``prune_logp`` of the best are kept, at most ``beam_width``, and surviving
    extensions become trie nodes. (One function: on ~20-frame clips, a second call and a
    second set of local lookups per frame were a measurable share of the search.)"""
    last, children, stride = trie.last, trie.children, trie.stride
    lp_blank = row[blank]
    # node (or tentative ``~key``) -> [log p(.. blank), log p(.. label)]
    new: dict[int, list[float]] = {}
    # Extensions (parent * stride + label) that land on a current beam and merge with it.
    key_of = trie.key_of
    into_beams = {key_of[x[1]] for x in beams}
    best_seen = NEG_INF
    for _, node, b, nb in beams:
        if nb == NEG_INF:
            tot = b
        elif b == NEG_INF:
            tot = nb
        elif b > nb:
            tot = b + _log1p(_exp(nb - b))
        else:
            tot = nb + _log1p(_exp(b - nb))
        stay = tot + lp_blank
        entry = new.get(node)
        if entry is None:
            new[node] = entry = [stay, NEG_INF]
        else:
            entry[0] = _lse(entry[0], stay)
        if stay > best_seen:
            best_seen = stay
        prev = last[node]
        if prev >= 0 and nb > NEG_INF:
            # Usually the first score for this entry: no log-add needed.
            repeat = nb + row[prev]
            e1 = entry[1]
            entry[1] = repeat if e1 == NEG_INF else _lse(e1, repeat)
        floor = best_seen + floor_gap
        for c in cand:
            if c == prev:
                if b == NEG_INF:
                    continue
                score = b + row[c]
            else:
                score = tot + row[c]
            spells_nothing = c == space and (prev == space or prev < 0)
            if score < floor and not spells_nothing and node * stride + c not in into_beams:
                # Alone in its entry, and below the floor: pruned anyway. (One that merges
                # into a beam's entry is kept: it may lift a beam that survives.)
                continue
            if spells_nothing:
                # A second space (or a leading one) spells nothing new: merge it into the
                # prefix as if it were a blank.
                entry[0] = _lse(entry[0], score)
                continue
            key = node * stride + c
            target = children.get(key, ~key)
            e2 = new.get(target)
            if e2 is None:
                new[target] = [NEG_INF, score]
            else:
                e2[1] = _lse(e2[1], score)
            if score > best_seen:
                best_seen = score
                floor = best_seen + floor_gap

    hotwords = trie.scorer is not None
    ranked = []
    top, bottom = NEG_INF, math.inf
    for n, (b, nb) in new.items():
        if b == NEG_INF:  # most entries: fresh extensions, no blank-ending paths
            score = nb
        elif nb == NEG_INF:
            score = b
        else:
            score = b + _log1p(_exp(nb - b)) if b > nb else nb + _log1p(_exp(b - nb))
        if hotwords:
            score += trie.bonus(n)
        if score > top:
            top = score
        if score < bottom:
            bottom = score
        ranked.append((score, n, b, nb))
    if bottom < top + prune_logp:  # some entry is below the floor
        floor = top + prune_logp
        ranked = [x for x in ranked if x[0] >= floor]
    if len(ranked) > beam_width:
        ranked = heapq.nlargest(beam_width, ranked)
    for i, x in enumerate(ranked):
        if x[1] < 0:
            key = ~x[1]
            ranked[i] = (x[0], trie.child(key // stride, key % stride, t), x[2], x[3])
    return ranked


def _final_beams(
    beams: list[Beam], trie: _PrefixTrie, space: int, limit: int | None = None
) -> list[tuple[list[int], list[int], float]]:
    """Prefixes that differ only by a trailing space are one transcript: merge them, best
    first, with hotword final scores. Without hotwords the ranking is known before any text
    is traced, so only the ``limit`` best are.

    Prefixes of probability zero are dropped: with ``beam_prune_logp=-inf`` they survive the
    search wherever the input holds exact zeros, and the n-best listed texts the audio cannot
    spell, scored -inf. (When nothing is left, :func:`_with_best_path` still gives one.)"""
    finals: dict[int, float] = {}
    for _, n, b, nb in beams:
        if trie.last[n] == space:
            n = trie.parent[n]
        acoustic = _lse(b, nb)
        finals[n] = _lse(finals[n], acoustic) if n in finals else acoustic
    ranked = [x for x in finals.items() if x[1] > NEG_INF]
    if trie.scorer is None and limit is not None and len(ranked) > limit:
        ranked = ([max(ranked, key=_second)] if limit == 1
                  else heapq.nlargest(limit, ranked, key=_second))  # fmt: skip
    out = []
    for n, score in ranked:
        ids, frames = trie.trace(n)
        if trie.scorer is not None:
            score += trie.scorer.final_score(trie.alphabet.decode(ids))
        out.append((ids, frames, score))
    out.sort(key=lambda x: -x[2])
    return out


def _with_best_path(
    out: list[tuple[list[int], list[int], float]],
    log_probs: np.ndarray,
    alphabet: Alphabet,
    scorer: HotwordScorer | None,
    best: np.ndarray,
) -> list[tuple[list[int], list[int], float]]:
    """Make sure beam search never ends below the best (greedy) path (``best``: the most
    probable label of each frame).

    Pruning can drop the best path's prefix on the way, and the search can then end on a text
    less probable than the best path alone (often at width 1 or 2, e.g. frames with p(a) =
    8/11, 1/3, 2/3, 4/5 at width 1 end on "a" with 0.210 while the path a_aa has 0.259). The
    best path is one alignment of its text, so its log-probability is a valid score for that
    text (a lower bound, like every pruned beam's partial sum): when it beats the best beam,
    that text goes first with it, replacing its own weaker entry if it has one.
    """
    # (Indexing by the argmax the caller shares costs less than a second reduction.)
    score = float(log_probs[np.arange(len(best)), best].sum(dtype=np.float64))
    if out and scorer is None and score <= out[0][2]:
        return out  # the usual case, decided before the path is even traced
    space = alphabet.space_index
    path_ids, path_frames = greedy_path(log_probs, alphabet.blank_index, best)
    ids: list[int] = []
    frames: list[int] = []
    for c, f in zip(path_ids.tolist(), path_frames.tolist(), strict=True):
        if c == space and (not ids or ids[-1] == space):
            continue  # a leading or second space spells nothing, as in the search
        ids.append(c)
        frames.append(f)
    if ids and ids[-1] == space:  # and neither does a trailing one
        ids.pop()
        frames.pop()
    if scorer is not None:
        score += scorer.final_score(alphabet.decode(ids))
    if out and score <= out[0][2]:
        return out
    return [(ids, frames, score), *(x for x in out if x[0] != ids)]


def _blank_run(
    beams: list[tuple[float, int, float, float]], blank_sum: float
) -> list[tuple[float, int, float, float]]:
    """Advance every beam over a run of frames on which only the blank is a candidate.

    Labels below ``token_min_logp`` are not candidates, repeats included, so a beam can only
    stay by blanks: every path moves to the blank-ending state and collects the run's blank
    log-probabilities. The ranking is unchanged (every beam gains the same amount).
    """
    # A beam that a label just extended has no blank-ending paths yet: no log-add for it.
    return [(s + blank_sum, n, (nb if b == NEG_INF else _lse(b, nb)) + blank_sum, NEG_INF)
            for s, n, b, nb in beams]  # fmt: skip


def _expand_vectorised(
    beams: list[tuple[float, int, float, float]],
    frame: np.ndarray,
    cand: list[int],
    blank: int,
    space: int,
    trie: _PrefixTrie,
    t: int,
    beam_width: int,
    beam_prune_logp: float,
) -> list[tuple[float, int, float, float]]:
    """One busy frame for all beams at once: the same recursion as the Python loop, with the
    beam x candidate scores as matrices. Only an extension that lands on another current beam
    needs merging, and at most one per beam can, so the merges are a short loop."""
    last, parent, children = trie.last, trie.parent, trie.children
    frame = frame.astype(np.float64)
    num_beams, stride = len(beams), blank + 1
    nodes = [x[1] for x in beams]
    pb = np.array([x[2] for x in beams])
    pnb = np.array([x[3] for x in beams])
    prev = np.array([last[n] for n in nodes])
    labels = np.array(cand)
    lpc = frame[labels]
    with np.errstate(invalid="ignore"):
        tot = np.logaddexp(pb, pnb)
        stay_b = tot + frame[blank]
        stay_nb = np.where(prev >= 0, pnb + frame[np.maximum(prev, 0)], NEG_INF)
        repeat = prev[:, None] == labels[None, :]
        ext = np.where(repeat, pb[:, None], tot[:, None]) + lpc[None, :]
        if space in cand:  # a leading or second space spells nothing: it acts as a blank
            col = cand.index(space)
            redundant = (prev == space) | (prev < 0)
            if redundant.any():
                stay_b = np.where(redundant, np.logaddexp(stay_b, ext[:, col]), stay_b)
                ext[redundant, col] = NEG_INF
        position = {n: k for k, n in enumerate(nodes)}
        column = {c: i for i, c in enumerate(cand)}
        for j, n in enumerate(nodes):
            src = position.get(parent[n]) if n > 0 else None
            sym = column.get(last[n]) if src is not None else None
            if sym is not None:
                stay_nb[j] = np.logaddexp(stay_nb[j], ext[src, sym])
                ext[src, sym] = NEG_INF
        scores = np.concatenate([np.logaddexp(stay_b, stay_nb), ext.ravel()])
    floor = max(scores.max() + beam_prune_logp, -1e300)  # merged-away entries are -inf
    keep = np.flatnonzero(scores >= floor)
    if keep.size > beam_width:
        keep = keep[np.argpartition(-scores[keep], beam_width - 1)[:beam_width]]
    out = []
    num_cands = len(cand)
    for i in keep.tolist():
        if i < num_beams:
            out.append((float(scores[i]), nodes[i], float(stay_b[i]), float(stay_nb[i])))
        else:
            k, c = divmod(i - num_beams, num_cands)
            key = nodes[k] * stride + cand[c]
            target = children.get(key)
            if target is None:
                target = trie.child(nodes[k], cand[c], t)
            out.append((float(scores[i]), target, NEG_INF, float(scores[i])))
    return out
