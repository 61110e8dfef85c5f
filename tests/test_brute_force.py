"""Decoders against an exhaustive enumeration of every frame-level path on tiny problems.

What test_beam and test_grammar already compare with such an oracle (the exact beam's
scores, the trie's sums, best alignments of a few phrases) is not repeated here: this adds
hotword bonuses, exact zeros in the input, word timings, and the grammar decoder's own
scores and confidences for commands with repeated letters, spaces and apostrophes.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pytest

from ctcasr.decoding.base import build_hypothesis
from ctcasr.decoding.beam import BeamDecoder
from ctcasr.decoding.grammar import GrammarDecoder, _chance, _confidence
from ctcasr.decoding.hotwords import HotwordScorer, parse_hotwords
from ctcasr.text import Alphabet

INF = math.inf
ALPHABETS = (("a", "b", " "), ("a", " ", "'"), ("a", "b", "c"))


@dataclass
class Reading:
    """What the enumeration knows of one text: its probability summed over its paths, and
    its most probable path with the first frame of each label it spells."""

    total: float
    best: float
    frames: list[int]


def spelled(path: tuple[int, ...], alphabet: Alphabet) -> tuple[list[int], list[int]]:
    """The labels a path spells (repeats merged, blanks, leading, trailing and doubled
    spaces dropped) and the frame at which each starts."""
    blank, space = alphabet.blank_index, alphabet.space_index
    kept: list[tuple[int, int]] = []
    for t, c in enumerate(path):
        if c == blank or (t and path[t - 1] == c):
            continue
        if c == space and (not kept or kept[-1][0] == space):
            continue
        kept.append((c, t))
    while kept and kept[-1][0] == space:
        kept.pop()
    return [c for c, _ in kept], [t for _, t in kept]


def enumerate_texts(log_probs: np.ndarray, alphabet: Alphabet) -> dict[str, Reading]:
    """Every text of non-zero probability, by walking all ``V ** T`` paths."""
    num_frames, num = log_probs.shape
    out: dict[str, Reading] = {}
    for path in itertools.product(range(num), repeat=num_frames):
        lp = math.fsum(log_probs[t, c] for t, c in enumerate(path))
        if lp == -INF:
            continue
        ids, frames = spelled(path, alphabet)
        text = alphabet.decode(ids)
        seen = out.get(text)
        if seen is None:
            out[text] = Reading(lp, lp, frames)
            continue
        seen.total = float(np.logaddexp(seen.total, lp))
        if lp > seen.best:
            seen.best, seen.frames = lp, frames
    return out


def random_case(rng: np.random.Generator, alphabet: Alphabet, max_frames: int = 6):
    """Random softmax rows, some with exact zeros (never on a row's most probable class)."""
    num_frames = int(rng.integers(1, max_frames + 1))
    logits = rng.normal(size=(num_frames, alphabet.num_classes)) * rng.choice([0.5, 2.0, 5.0])
    if rng.random() < 0.5:
        dead = rng.random(logits.shape) < 0.3
        dead[np.arange(num_frames), logits.argmax(axis=1)] = False
        logits[dead] = -INF
    return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)


def hotwords_for(alphabet: Alphabet, rng: np.random.Generator) -> list[str] | None:
    if rng.random() < 0.4:
        return None
    phrases = [p for p in ("a", "ab", "b a", "aa", "a'a") if not alphabet.unknown_chars(p)]
    return [f"{p}:{rng.uniform(0.5, 3.0):.3f}" for p in phrases[:2]]


@pytest.mark.parametrize("labels", ALPHABETS)
def test_beam_matches_enumeration(labels):
    """The exact search lists every possible text once, with its probability plus its
    completed hotwords' bonus, best first; nothing of probability zero; each text timed at
    its most probable path. Narrow beams never score a text above that."""
    alphabet = Alphabet(labels)
    rng = np.random.default_rng(len(labels) + sum(map(ord, "".join(labels))))
    for case in range(12):
        log_probs = random_case(rng, alphabet)
        texts = enumerate_texts(log_probs, alphabet)
        hotwords = hotwords_for(alphabet, rng)
        scorer = HotwordScorer(parse_hotwords(hotwords, alphabet)) if hotwords else None
        expected = {t: r.total + (scorer.final_score(t) if scorer else 0.0)
                    for t, r in texts.items()}  # fmt: skip
        exact = BeamDecoder(alphabet, beam_width=100_000, beam_prune_logp=-INF,
                            token_min_logp=-INF, hotwords=hotwords)  # fmt: skip
        hyps = exact.decode(log_probs, nbest=len(texts) + 5)
        where = (case, hotwords, log_probs.tolist())
        assert sorted(h.text for h in hyps) == sorted(expected), where
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        assert hyps[0].score == pytest.approx(max(expected.values()), abs=1e-9), where
        for h in hyps:
            assert h.score == pytest.approx(expected[h.text], abs=1e-9), (h.text, where)
            ids = alphabet.encode(h.text)
            timed = build_hypothesis(ids, texts[h.text].frames, log_probs, alphabet,
                                     exact.frame_seconds, h.score)  # fmt: skip
            assert (h.words, h.confidence) == (timed.words, timed.confidence), (h.text, where)
        for width, prune, floor in itertools.product((1, 2), (-2.0, -10.0), (-1.0, -5.0)):
            narrow = BeamDecoder(alphabet, beam_width=width, beam_prune_logp=prune,
                                 token_min_logp=floor, hotwords=hotwords)  # fmt: skip
            for h in narrow.decode(log_probs, nbest=3):
                assert h.score <= expected[h.text] + 1e-9, (width, prune, floor, h.text, where)


COMMANDS = {
    ("a", "b", " "): ["a", "aa", "aba", "a a", "b a", "ab b", "bb"],
    ("a", " ", "'"): ["a", "aa", "a'a", "a a", "aa a", "aaa"],
    ("a", "b", "c"): ["abc", "cab", "aa", "cc", "b", "acca"],
}


@pytest.mark.parametrize("length_normalize", [True, False])
@pytest.mark.parametrize("labels", ALPHABETS)
def test_grammar_matches_enumeration(labels, length_normalize):
    """Each command's score is its probability over all its alignments (per symbol, len + 1,
    when length-normalised), its confidence compares its single best path with the overall
    best path as documented, and its words sit at that best path's frames."""
    alphabet = Alphabet(labels)
    commands = COMMANDS[labels]
    decoder = GrammarDecoder(alphabet, commands=commands, threshold=0.0,
                             length_normalize=length_normalize)  # fmt: skip
    rng = np.random.default_rng(sum(map(ord, "".join(labels))))
    for case in range(10):
        log_probs = random_case(rng, alphabet)
        texts = enumerate_texts(log_probs, alphabet)
        free, chance = float(log_probs.max(axis=1).sum()), _chance(log_probs)
        hyps = decoder.decode(log_probs, nbest=len(commands))
        assert sorted(h.text for h in hyps) == sorted(decoder.commands) == sorted(commands)
        assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
        where = (case, log_probs.tolist())
        for h in hyps:
            size = len(h.text) + 1 if length_normalize else 1
            found = texts.get(h.text)
            if found is None:
                assert h.score == -INF and h.confidence == 0.0 and h.words == (), where
                continue
            assert h.score == pytest.approx(found.total / size, abs=1e-9), (h.text, where)
            want = _confidence(found.best, free, chance, len(h.text) + 1)
            assert h.confidence == pytest.approx(want, abs=1e-9), (h.text, where)
            timed = build_hypothesis(alphabet.encode(h.text), found.frames, log_probs, alphabet,
                                     decoder.frame_seconds, h.score)  # fmt: skip
            assert h.words == timed.words, (h.text, where)
