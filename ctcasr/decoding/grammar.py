"""Command recognition: decoding constrained to a list of spelled phrases.

The phrases are compiled into a character trie, and one CTC forward pass over the trie gives
every phrase's log-probability ``log P(phrase | audio)`` (summed over alignments) at once:
shared prefixes are computed once, and the pass is a few numpy operations per frame over the
trie's nodes, whatever the number of phrases.

Two corrections turn those numbers into decisions:

* **Length.** A CTC model that is unsure of a character often still gives the blank more
  probability than the character, so a phrase that spells *less* pays less: "left" can beat
  "turn left" on audio of "turn left". Phrases are ranked by log-probability per emitted
  symbol, ``log P / (len + 1)``, which removes the bias without favouring long phrases (a
  missing or extra word costs many symbols' worth).
* **Rejection.** The phrase's most probable alignment is compared with the unconstrained
  best path over the same frames: ``confidence = exp((log P(best alignment of phrase) -
  log P(best path)) / (len + 1))`` is 1 when the audio reads as the phrase, and falls towards
  0 as the audio departs from every phrase; it is no more than the share of the best path's
  lead over a flat guess that the alignment keeps (flat output, where every phrase's best
  alignment is a best path, gave every phrase 1). Below ``threshold`` the answer is rejected
  (out of grammar). One alignment against one path: the phrase's probability summed over
  its alignments grows with their number, and seconds of noise passed for a command.

Because phrases are spelled, the model needs no training on them: any word it can spell is a
command.
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import math
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ctcasr.decoding.align import best_alignment
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
from ctcasr.errors import AlphabetError, ConfigError
from ctcasr.text import Alphabet, normalize_text
from ctcasr.utils import file_name, read_lines

DEFAULT_THRESHOLD = 0.3
# Kept above e^-650 between rescales, and at most e^45 times larger at one: normal floats.
_SAFE_LOG = -650.0
_MAX_STRIDE = 32
# Emissions are gathered for the trie's nodes this many values at a time (2 MB): all frames
# at once took frames x nodes, 1.5 GB for a 30 s clip under 10,000 commands.
_EMIT_BLOCK = 1 << 18


def _threshold(value: object) -> float:
    """A threshold in [0, 1], its type checked as create_decoder checks it: a direct
    ``GrammarDecoder(threshold="0.5")`` failed in the comparison with a TypeError."""
    check_option_type(GrammarDecoder.name, "threshold", value, "float")
    if not 0.0 <= value <= 1.0:  # type: ignore[operator]
        raise ConfigError(f"threshold must be in [0, 1], got {value}")
    return float(value)  # type: ignore[arg-type]


def read_commands(path: str | os.PathLike[str]) -> list[str]:
    """One phrase per line (``#`` comments, blank lines ignored), as written by the user."""
    return [phrase for _, phrase in _numbered_commands(file_name(path, "command list"))]


def _numbered_commands(path: Path) -> list[tuple[int, str]]:
    """The phrases of a command file with their line numbers, for errors that name them."""
    lines = read_lines(path, "command list", ConfigError)
    numbered = [(n, line.strip()) for n, line in enumerate(lines, start=1)]
    numbered = [(n, p) for n, p in numbered if p and not p.startswith("#")]
    if not numbered:
        raise ConfigError(f"{path}: command list has no phrases")
    return numbered


def prepare_commands(
    phrases: Sequence[str],
    alphabet: Alphabet,
    source: str = "command list",
    lines: Sequence[int] | None = None,
) -> list[str]:
    """Normalise phrases as transcripts are normalised and check the model can spell them;
    an error names ``source``, the phrase's ``lines`` entry (its line in a file) and its
    number."""
    result: list[str] = []
    seen: set[str] = set()  # (result's own `in` made 40,000 phrases take 11 s)
    for i, phrase in enumerate(phrases, start=1):
        where = f"{source}:{lines[i - 1]}" if lines is not None else source
        if not isinstance(phrase, str):  # an AttributeError from normalize_text
            raise ConfigError(f"{where}: phrase {i} must be a string, got "
                              f"{type(phrase).__name__}")  # fmt: skip
        try:
            text = normalize_text(phrase, alphabet, strict=True)
        except AlphabetError as exc:
            raise ConfigError(f"{where}: phrase {i}: {exc}") from None
        if not text:
            raise ConfigError(f"{where}: phrase {i} ({phrase!r}) is empty after normalisation")
        if text not in seen:
            seen.add(text)
            result.append(text)
    if not result:
        raise ConfigError(f"{source}: no phrases")
    return result


@dataclasses.dataclass(frozen=True)
class CommandTrie:
    """Phrases as a trie of label ids; node 0 is the root (the empty prefix)."""

    phrases: tuple[str, ...]
    parent: np.ndarray  # [N] parent node (the root is its own parent)
    label: np.ndarray  # [N] label id of each node; the root gets a label that never fires
    same_as_parent: np.ndarray  # [N] True where a node repeats its parent's label
    ends: np.ndarray  # [P] node at which each phrase ends
    ids: tuple[tuple[int, ...], ...]  # label ids of each phrase

    @classmethod
    def build(cls, phrases: Sequence[str], alphabet: Alphabet) -> CommandTrie:
        never = alphabet.num_classes  # an extra all-zero column
        parent, label = [0], [never]
        children: dict[tuple[int, int], int] = {}
        ends, all_ids = [], []
        for phrase in phrases:
            ids = alphabet.encode(phrase)
            node = 0
            for c in ids:
                nxt = children.get((node, c))
                if nxt is None:
                    nxt = len(parent)
                    children[(node, c)] = nxt
                    parent.append(node)
                    label.append(c)
                node = nxt
            ends.append(node)
            all_ids.append(tuple(ids))
        parent_arr = np.array(parent)
        label_arr = np.array(label)
        same = label_arr == label_arr[parent_arr]
        same[0] = False
        return cls(tuple(phrases), parent_arr, label_arr, same, np.array(ends), tuple(all_ids))

    @functools.cached_property
    def labels_read(self) -> list[int]:
        """The label ids the phrases spell."""
        return np.unique(self.label[1:]).tolist()

    @functools.cached_property
    def _layouts(self) -> dict[int | None, _Layout]:
        return {}

    def _layout(self, space: int | None) -> _Layout:
        """The trie as the forward pass walks it, made once per space label."""
        made = self._layouts.get(space)
        if made is None:
            made = self._layouts[space] = self._build_layout(space)
        return made

    def _build_layout(self, space: int | None) -> _Layout:
        """The trie as the forward pass walks it. With ``space``, each phrase gets a tail
        node: its space child when it has one, else an extra leaf spelling a space. Spaces
        after a phrase then follow the rule of spaces inside one, so the pass needs no
        separate tail states (five array operations a frame fewer)."""
        parent, label = self.parent.tolist(), self.label.tolist()
        tails: list[int] = []
        if space is not None:
            space_child = {p: n for n, p in enumerate(parent) if n and label[n] == space}
            for end in self.ends.tolist():
                if end not in space_child:
                    space_child[end] = len(parent)
                    parent.append(end)
                    label.append(space)
                tails.append(space_child[end])
        parent_arr, label_arr = np.array(parent), np.array(label)
        same = label_arr == label_arr[parent_arr]
        same[0] = False
        size = len(parent)
        # Where a node is entered from, in [pb | total]: its parent's total, or its parent's
        # pb when it repeats the parent's label (a repeat needs a blank between).
        source = np.where(same, parent_arr, parent_arr + size)
        spaces = np.flatnonzero(label_arr == space) if space is not None else np.zeros(0, int)
        return _Layout(size, parent_arr, label_arr, np.flatnonzero(same), parent_arr[same],
                       source, spaces, self.ends, np.array(tails, dtype=int))  # fmt: skip

    def log_likelihoods(
        self, log_probs: np.ndarray, blank: int, space: int | None = None
    ) -> np.ndarray:
        """Log-probability of each phrase summed over all its CTC alignments, ``[P]``.

        With ``space``, spaces before and after a phrase spell nothing and are allowed (a
        model often emits a word boundary at the edges of an utterance), and so does a space
        repeated after a blank inside one.

        Runs in the probability domain (cheaper than log-add-exp), rescaled by the largest
        value before any value could leave float64's normal range: every value is a sum of
        paths, each at least the smallest state after the last rescale times the smallest
        emission of each frame since. When even the next frame could take the smallest state
        below that range (very sharp output, or a phrase far behind the best), the pass goes
        on in the log domain, so a phrase gets ``-inf`` only when it has no alignment of finite
        probability. (Rescaling every 8 frames underflowed: every phrase was ``-inf``, or a
        sum fell below its best alignment.)
        """
        lay = self._layout(space)
        num_frames = log_probs.shape[0]
        log_probs = log_probs.astype(np.float64)
        # The smallest positive emission of each frame, over the labels the pass reads.
        used = log_probs[:, [*self.labels_read, blank, space if space is not None else blank]]
        floor = used.min(axis=1)
        if np.isneginf(floor).any():  # a probability of exactly 0 is no underflow
            floor = used.min(axis=1, where=used > -np.inf, initial=0.0)
        np.minimum(floor, 0.0, out=floor)  # (log-probabilities up to 1e-3 are accepted)
        reach = [0.0, *(-np.cumsum(floor)).tolist()]  # non-decreasing: -log of the products
        probs = np.exp(log_probs)
        probs = np.concatenate([probs, np.zeros((num_frames, 1))], axis=1)
        block = _frames_per_block(lay.size)
        blank_p = probs[:, blank]
        # Leading spaces: the root stays in its blank state through a space too.
        lead_p = blank_p + probs[:, space] if space is not None else blank_p
        spaces, source = lay.spaces, lay.source
        both = np.zeros(2 * lay.size)  # [pb | total], so one take enters every node
        pb, total = both[: lay.size], both[lay.size :]
        pb[0] = 1.0
        pnb = np.zeros(lay.size)
        enter = np.empty(lay.size)
        log_scale = 0.0
        rescale_at = _safe_frames(reach, 0, 1.0)
        for t in range(num_frames):
            if t == rescale_at:
                peak = max(pb.max(), pnb.max())
                if peak <= 0.0:  # exact: nothing came near underflow
                    return np.full(len(self.phrases), -np.inf)
                pb /= peak
                pnb /= peak
                log_scale += math.log(peak)
                smallest = min(pb.min(where=pb > 0.0, initial=1.0),
                               pnb.min(where=pnb > 0.0, initial=1.0))  # fmt: skip
                rescale_at = _safe_frames(reach, t, smallest)
                if rescale_at == t:
                    with np.errstate(divide="ignore"):
                        state = (np.log(pb) + log_scale, np.log(pnb) + log_scale)
                    return self._log_domain_pass(log_probs[t:], blank, space, *state)
            if t % block == 0:
                emit = probs[t : t + block, lay.label]  # [block, N]
            np.add(pb, pnb, out=total)
            # Enter a node from its parent: any parent path, but a repeated label needs the
            # parent's path to end in a blank. (Taking pb directly, not total - pnb, which
            # cancels to 0 when pb is below pnb's rounding error.)
            both.take(source, out=enter)
            enter += pnb
            if spaces.size:  # a space after a blank after a space spells nothing new
                enter[spaces] += pb[spaces]
            enter *= emit[t % block]
            np.multiply(total, blank_p[t], out=pb)
            pb[0] = total[0] * lead_p[t]
            pnb, enter = enter, pnb
        end = pb[lay.ends] + pnb[lay.ends]
        if lay.tails.size:
            end += pb[lay.tails] + pnb[lay.tails]
        with np.errstate(divide="ignore"):
            return np.log(end) + log_scale

    def _log_domain_pass(
        self,
        log_probs: np.ndarray,
        blank: int,
        space: int | None,
        pb: np.ndarray,
        pnb: np.ndarray,
    ) -> np.ndarray:
        """:meth:`log_likelihoods`'s recursion in the log domain, from a state in logs over
        the remaining frames: slower, but no probability is too small for it."""
        lay = self._layout(space)
        num_frames = log_probs.shape[0]
        lp = np.concatenate([log_probs, np.full((num_frames, 1), -np.inf)], axis=1)
        block = _frames_per_block(lay.size)
        lead = np.logaddexp(lp[:, blank], lp[:, space]) if space is not None else lp[:, blank]
        for t in range(num_frames):
            if t % block == 0:
                emit = lp[t : t + block, lay.label]  # [block, N]
            total = np.logaddexp(pb, pnb)
            enter = total[lay.parent]
            enter[lay.same_nodes] = pb[lay.same_parents]
            enter = np.logaddexp(enter, pnb)
            enter[lay.spaces] = np.logaddexp(enter[lay.spaces], pb[lay.spaces])
            enter += emit[t % block]
            pb = total + lp[t, blank]
            pb[0] = total[0] + lead[t]
            pnb = enter
        end = np.logaddexp(pb[lay.ends], pnb[lay.ends])
        if lay.tails.size:
            end = np.logaddexp(end, np.logaddexp(pb[lay.tails], pnb[lay.tails]))
        return end


@dataclasses.dataclass(frozen=True)
class _Layout:
    """:meth:`CommandTrie._layout`: the arrays one forward pass reads."""

    size: int
    parent: np.ndarray
    label: np.ndarray
    same_nodes: np.ndarray
    same_parents: np.ndarray
    source: np.ndarray  # index into [pb | total] each node is entered from
    spaces: np.ndarray  # nodes spelling a space, tails included
    ends: np.ndarray
    tails: np.ndarray  # per phrase: its tail node (empty without a space label)


def _frames_per_block(nodes: int) -> int:
    """How many frames' emissions the forward pass gathers at once for ``nodes`` nodes."""
    return max(1, _EMIT_BLOCK // nodes)


def _safe_frames(reach: list[float], start: int, smallest: float) -> int:
    """The frame at which to rescale next: as far past ``start`` as no path from a state of
    at least ``smallest`` can leave the normal range (``reach``: minus the cumulative log of
    each frame's smallest emission), and at most ``_MAX_STRIDE`` frames, in which sums of
    at most four paths per node grow by at most ``4 ** _MAX_STRIDE``. ``start`` itself when
    the next frame might already underflow."""
    budget = reach[start] - _SAFE_LOG + math.log(smallest)
    last = max(bisect.bisect_right(reach, budget, lo=start) - 1, start)
    return min(last, start + _MAX_STRIDE)


class GrammarDecoder(Decoder):
    """Constrained to a command list; ranks phrases fairly across lengths and rejects audio
    that matches none of them."""

    name = "grammar"
    path_options = ("commands",)
    required_options = ("commands",)

    def __init__(
        self,
        alphabet: Alphabet,
        *,
        frame_seconds: float = DEFAULT_FRAME_SECONDS,
        commands: Sequence[str] | str | os.PathLike[str] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
        length_normalize: bool = True,
    ) -> None:
        super().__init__(alphabet, frame_seconds=frame_seconds)
        if commands is None:
            raise ConfigError("the grammar decoder needs a command list (--commands FILE; "
                              "commands=PATH_OR_PHRASES from Python)")
        lines: list[int] | None = None
        if isinstance(commands, str) and "\n" in commands:
            # phrases pasted as one string: "not found" was raised on as many lines
            raise ConfigError("commands: a string is a command file's path; give the phrases "
                              "as a list")  # fmt: skip
        if isinstance(commands, str | os.PathLike):
            path = file_name(commands, "commands")
            source = str(commands)
            lines, phrases = map(list, zip(*_numbered_commands(path), strict=True))
        elif isinstance(commands, bytes | bytearray) or not isinstance(commands, Iterable):
            # bytes gave its byte values as phrases, a number "not iterable"
            raise ConfigError("commands must be a command file's path or a list of phrases, "
                              f"got {type(commands).__name__}")  # fmt: skip
        else:
            source, phrases = "command list", list(commands)
        self.threshold = _threshold(threshold)
        check_option_type(self.name, "length_normalize", length_normalize, "bool")  # "no" was true
        self.commands = prepare_commands(phrases, alphabet, source, lines)
        self.length_normalize = bool(length_normalize)
        self.trie = CommandTrie.build(self.commands, alphabet)
        self._lengths = np.array([len(p) + 1 for p in self.commands], dtype=np.float64)

    def options(self) -> dict[str, Any]:
        return {
            "commands": list(self.commands),
            "threshold": self.threshold,
            "length_normalize": self.length_normalize,
        }

    def set_weights(self, threshold: float | None = None) -> None:
        """Change the rejection threshold in place (what ``ctcasr tune`` does)."""
        if threshold is not None:
            self.threshold = _threshold(threshold)

    def score_phrases(self, log_probs: np.ndarray) -> tuple[np.ndarray, float]:
        """Every phrase's log-probability and the unconstrained best path's."""
        log_probs = check_log_probs(log_probs, self.alphabet)
        free = float(log_probs.max(axis=1).sum(dtype=np.float64)) if len(log_probs) else 0.0
        return (
            self.trie.log_likelihoods(
                log_probs, self.alphabet.blank_index, self.alphabet.space_index
            ),
            free,
        )

    def rank(self, loglik: np.ndarray) -> np.ndarray:
        """What :meth:`decode` orders phrases by, from :meth:`score_phrases`' log-probabilities:
        per symbol (each letter and the end) with ``length_normalize``, so that a long phrase
        is not ranked down for its length alone."""
        return loglik / self._lengths if self.length_normalize else loglik

    def decode(self, log_probs: np.ndarray, nbest: int = 1) -> list[Hypothesis]:
        check_nbest(nbest)
        log_probs = check_log_probs(log_probs, self.alphabet)
        blank = self.alphabet.blank_index
        loglik = self.trie.log_likelihoods(log_probs, blank, self.alphabet.space_index)
        free = float(log_probs.max(axis=1).sum(dtype=np.float64)) if len(log_probs) else 0.0
        chance = _chance(log_probs)
        ranking = self.rank(loglik)
        order = np.argsort(-ranking, kind="stable")[:nbest]
        best_path = greedy_path(log_probs, blank)
        out = []
        for i in order.tolist():
            text, score, ids = self.commands[i], float(ranking[i]), self.trie.ids[i]
            # Judged by the phrase's best alignment, not by its probability summed over all
            # of them: that sum grows with the number of alignments, so long or flat audio
            # (seconds of noise) passed for a command.
            found = best_alignment(
                log_probs, ids, blank, self.alphabet.space_index, best_path=best_path
            )
            length = float(self._lengths[i])
            confidence = 0.0 if found is None else _confidence(found[0], free, chance, length)
            if confidence < self.threshold:  # out of grammar: no timings for what was not said
                out.append(Hypothesis(text, score, confidence, (), True))
            elif found is None:  # too few frames to spell it, accepted at threshold 0
                out.append(Hypothesis(text, score, confidence))
            else:
                hyp = build_hypothesis(
                    ids, found[1], log_probs, self.alphabet, self.frame_seconds, score
                )
                out.append(dataclasses.replace(hyp, text=text, confidence=confidence))
        return out


def _chance(log_probs: np.ndarray) -> float:
    """The log-probability of a path when each frame's labels are taken as equally likely:
    the sum of each frame's log mean probability, -log(labels) for rows that sum to 1. Taken
    from the rows themselves: a flat float32 row sums to 1 only up to rounding, and its best
    path must have no lead over this."""
    if not len(log_probs):
        return 0.0
    rows = np.logaddexp.reduce(log_probs.astype(np.float64), axis=1)
    return float((rows - math.log(log_probs.shape[1])).sum())


def _confidence(loglik: float, free: float, chance: float, length: float) -> float:
    """The phrase's best alignment against the best path, per symbol; and no more than the
    share of the best path's lead over ``chance`` (the log-probability every path has when
    every label is equally likely) that the alignment keeps. Without that share, flat output
    (noise, a model that hears nothing it knows) read as every phrase at confidence 1: each
    phrase's best alignment was a best path. Peaked output, where the share is near 1, is
    judged by the ratio alone."""
    if loglik == -math.inf:
        return 0.0
    ratio = math.exp(min(0.0, loglik - free) / length)
    lead = free - chance
    if lead <= 1e-9 * max(1.0, abs(chance)):  # flat to rounding: it favours no path at all
        return 0.0
    return min(ratio, max(0.0, (loglik - chance) / lead))
