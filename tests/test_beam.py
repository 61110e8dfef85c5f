"""CTC prefix beam search: known answers, an exhaustive-search oracle, hotwords, bad input."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from ctcasr.decoding.beam import BeamDecoder, prefix_beam_search
from ctcasr.decoding.greedy import GreedyDecoder
from ctcasr.errors import ConfigError, LogProbError
from ctcasr.text import Alphabet
from tests.helpers import spec_frames

ALPHABET = Alphabet()
V = ALPHABET.num_classes  # 29
BLANK = ALPHABET.blank_index  # 28
INF = float("inf")


def frames(spec: str, peak: float = 0.9, alphabet: Alphabet = ALPHABET) -> np.ndarray:
    return spec_frames(spec, peak, alphabet)


def mixed_frame(weights: dict[str, float], alphabet: Alphabet = ALPHABET) -> np.ndarray:
    """One frame of log-probabilities: the given symbols (``_`` = blank) get their weights and
    the remaining mass is spread evenly over the other classes."""
    num = alphabet.num_classes
    rest = 1.0 - sum(weights.values())
    probs = np.full(num, rest / (num - len(weights)))
    for char, p in weights.items():
        probs[alphabet.blank_index if char == "_" else alphabet.encode(char)[0]] = p
    return np.log(probs)[None, :]


def random_log_probs(rng: np.random.Generator, num_frames: int, num: int, scale: float):
    logits = rng.normal(size=(num_frames, num)) * scale
    logits -= logits.max(axis=1, keepdims=True)
    return logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))


def beam(**options) -> BeamDecoder:
    return BeamDecoder(ALPHABET, **options)


def exact(alphabet: Alphabet) -> BeamDecoder:
    return BeamDecoder(alphabet, beam_width=100_000, beam_prune_logp=-INF, token_min_logp=-INF)


# ---------------------------------------------------------------------------------------------
# known answers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("a_a", "aa"),  # a blank between repeats keeps both
        ("aa", "a"),  # repeats collapse
        ("_y_e_s_", "yes"),
        ("yyy__eeesss", "yes"),
        ("hel_lo", "hello"),
        ("hello", "helo"),
        ("don''t", "don't"),
        ("___", ""),
        ("_", ""),
        ("  yes  ", "yes"),  # leading/trailing spaces
        (" _go_ _ _on_ ", "go on"),  # double space between words, separated by blanks
        ("_ _no_ _", "no"),
        ("   ", ""),  # only spaces spell nothing
    ],
)
def test_known_answers(spec, text):
    hyp = beam().decode(frames(spec))[0]
    assert hyp.text == text
    assert hyp.rejected is False
    assert 0.0 <= hyp.confidence <= 1.0


def test_all_blank_input():
    hyp = beam().decode(frames("_" * 20))[0]
    assert hyp.text == ""
    assert hyp.words == ()
    assert hyp.confidence == pytest.approx(0.9)  # the mean blank posterior


def test_zero_frames():
    hyps = beam().decode(np.zeros((0, V), dtype=np.float32), nbest=3)
    assert [h.text for h in hyps] == [""]
    assert hyps[0].score == 0.0
    assert hyps[0].confidence == 1.0


def test_float32_input():
    assert beam().decode(frames("_ok_").astype(np.float32))[0].text == "ok"


def test_long_double_input_decodes_as_float64():
    """A near tie between the best beam and the best path (width 1): long-double blank sums,
    rounded unlike float64's, flipped it ("a" instead of "aa")."""
    ld = np.longdouble
    x = np.full((5, V), -np.inf, dtype=ld)
    a = ALPHABET.encode("a")[0]
    for t, p in enumerate([ld(8) / 11, ld(1) / 3, ld(2) / 3, ld(5 / 7)]):
        x[t, a], x[t, BLANK] = np.log(p), np.log1p(-p)
    x[4, BLANK] = np.log(ld(0.58))
    decoder = BeamDecoder(ALPHABET, beam_width=1)
    assert decoder.decode(x)[0] == decoder.decode(x.astype(np.float64))[0]
    assert decoder.decode(x)[0].text == "aa"


def test_score_is_log_probability_summed_over_alignments():
    # Two frames with p(a) = 0.6, p(blank) = 0.3: "a" has the alignments aa, a_ and _a.
    alphabet = Alphabet(("a", "b"))  # columns a, b, blank
    log_probs = np.log(np.array([[0.6, 0.1, 0.3], [0.6, 0.1, 0.3]]))
    hyp = BeamDecoder(alphabet).decode(log_probs)[0]
    assert hyp.text == "a"
    assert hyp.score == pytest.approx(math.log(0.6 * 0.6 + 2 * 0.6 * 0.3))


# ---------------------------------------------------------------------------------------------
# exhaustive oracle
# ---------------------------------------------------------------------------------------------


def exhaustive(log_probs: np.ndarray, alphabet: Alphabet) -> dict[str, float]:
    """log P(text) for every text, by enumerating every frame-level path."""
    num_frames, num = log_probs.shape
    blank = alphabet.blank_index
    scores: dict[str, float] = {}
    for path in itertools.product(range(num), repeat=num_frames):
        logp = float(sum(log_probs[t, c] for t, c in enumerate(path)))
        ids = [c for i, c in enumerate(path) if c != blank and (i == 0 or c != path[i - 1])]
        text = " ".join(alphabet.decode(ids).split())
        scores[text] = float(np.logaddexp(scores.get(text, -INF), logp))
    return scores


CASES = [
    # (labels, max frames, seed)
    (("a", "b"), 6, 1),
    (("a", "b", "c"), 5, 2),
    (("a", " ", "b"), 5, 3),  # the space: leading, trailing and double spaces merge
]


@pytest.mark.parametrize("vectorised", [False, True], ids=["python", "numpy"])
@pytest.mark.parametrize(("labels", "max_frames", "seed"), CASES)
def test_exact_search_matches_exhaustive(labels, max_frames, seed, vectorised, monkeypatch):
    """Both expansion paths (plain Python for few beams, numpy for many) are exact."""
    from ctcasr.decoding import beam as beam_module

    monkeypatch.setattr(beam_module, "VECTORISE_FROM", 0 if vectorised else 10**9)
    alphabet = Alphabet(labels)
    rng = np.random.default_rng(seed)
    decoder = exact(alphabet)
    for case in range(30):
        num_frames = int(rng.integers(1, max_frames + 1))
        scale = float(rng.choice([0.5, 1.5, 4.0]))
        log_probs = random_log_probs(rng, num_frames, alphabet.num_classes, scale)
        expected = exhaustive(log_probs, alphabet)

        results = prefix_beam_search(
            log_probs,
            alphabet,
            beam_width=100_000,
            beam_prune_logp=-INF,
            token_min_logp=-INF,
        )
        got: dict[str, float] = {}
        for ids, frame_ids, score in results:
            text = " ".join(alphabet.decode(ids).split())
            assert text not in got, f"case {case}: {text!r} returned twice"
            assert len(frame_ids) == len(ids)
            assert all(0 <= f < num_frames for f in frame_ids)
            assert frame_ids == sorted(frame_ids)
            got[text] = score
        assert set(got) == set(expected), f"case {case}"
        for text, score in expected.items():
            assert got[text] == pytest.approx(score, abs=1e-9, rel=1e-9), (case, text)

        best_text = max(expected, key=expected.__getitem__)
        hyps = decoder.decode(log_probs, nbest=len(expected))
        assert hyps[0].text == best_text
        assert hyps[0].score == pytest.approx(expected[best_text], abs=1e-9)
        assert len(hyps) == len(expected)
        scores = [h.score for h in hyps]
        assert scores == sorted(scores, reverse=True)
        for h in hyps:
            assert h.score == pytest.approx(expected[h.text], abs=1e-9)
        # Probabilities of all transcripts sum to one.
        assert float(np.logaddexp.reduce(list(got.values()))) == pytest.approx(0.0, abs=1e-9)


def test_numpy_and_python_expansion_agree_with_default_pruning(monkeypatch):
    from ctcasr.decoding import beam as beam_module

    rng = np.random.default_rng(7)
    for _ in range(40):
        logits = rng.normal(0, 1.5, (40, ALPHABET.num_classes))
        logits[np.arange(40), rng.integers(0, ALPHABET.num_classes, 40)] += 4
        log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        results = {}
        for name, limit in (("python", 10**9), ("numpy", 0)):
            monkeypatch.setattr(beam_module, "VECTORISE_FROM", limit)
            results[name] = beam(beam_width=8).decode(log_probs, nbest=3)
        assert [h.text for h in results["python"]][:1] == [h.text for h in results["numpy"]][:1]
        assert results["python"][0].score == pytest.approx(results["numpy"][0].score, abs=1e-6)


def test_numpy_and_python_expansion_agree_with_any_pruning(monkeypatch):
    """The plain-Python step dropped an extension below the floor before merging, even one
    that merged into a beam that survived; the numpy step prunes after merging. With
    ``beam_prune_logp`` changed the result depended on which one ran ("d d" -1.385 against
    "d d d" -1.315 below; exact: "d d d" -1.285)."""
    from ctcasr.decoding import beam as beam_module

    alphabet = Alphabet((" ", "d"))
    x = np.random.default_rng(4).normal(size=(12, 3))
    cases = [(alphabet, {"beam_prune_logp": -3.0}, x - np.logaddexp.reduce(x, 1, keepdims=True))]
    rng = np.random.default_rng(0)
    for _ in range(60):
        labels = (" ", "a", "b", "c")[: int(rng.integers(2, 5))]
        options = {
            "beam_width": int(rng.integers(1, 12)),
            "beam_prune_logp": float(rng.choice([-1.0, -3.0, -6.0])),
            "token_min_logp": float(rng.choice([-3.0, -5.0, -20.0])),
        }
        num = len(labels) + 1
        scale = float(rng.choice([1.0, 2.0, 4.0]))
        cases.append((Alphabet(labels), options, random_log_probs(rng, 25, num, scale)))
    for alphabet, options, log_probs in cases:
        results = {}
        for name, limit in (("python", 10**9), ("numpy", 0)):
            monkeypatch.setattr(beam_module, "VECTORISE_FROM", limit)
            hyps = BeamDecoder(alphabet, **options).decode(log_probs, nbest=3)
            results[name] = [(h.text, round(h.score, 9)) for h in hyps]
        assert results["python"] == results["numpy"], options
        if alphabet.labels == (" ", "d"):
            assert results["python"][0][0] == "d d d"


def test_exact_beam_lists_no_text_of_probability_zero():
    """p(b) = 0 on the second frame: "b" (and "") cannot be spelled. With beam_prune_logp=-inf
    they survived the search at -inf and were listed in the n-best."""
    alphabet = Alphabet(("a", "b"))
    with np.errstate(divide="ignore"):
        log_probs = np.log(np.array([[0.5, 0.5, 0.0], [1.0, 0.0, 0.0]]))
    for floor in (-5.0, -INF):
        decoder = BeamDecoder(alphabet, beam_prune_logp=-INF, token_min_logp=floor)
        hyps = decoder.decode(log_probs, nbest=5)
        assert sorted(h.text for h in hyps) == ["a", "ba"]
        assert all(h.score == pytest.approx(math.log(0.5)) for h in hyps)


def test_beam_with_nothing_possible_still_answers():
    """A frame where every class has probability zero: no text is possible, and the decoder
    still gives one hypothesis rather than none."""
    alphabet = Alphabet(("a", "b"))
    log_probs = np.array([[-INF, -INF, -INF], [0.0, -INF, -INF]])
    hyps = exact(alphabet).decode(log_probs, 3)
    assert len(hyps) >= 1
    assert all(h.score == -INF for h in hyps)


# ---------------------------------------------------------------------------------------------
# against greedy, with the default pruning
# ---------------------------------------------------------------------------------------------


def text_log_prob(log_probs: np.ndarray, text: str, alphabet: Alphabet = ALPHABET) -> float:
    """log P(text) for a normalised text: a forward pass over every frame-level path whose
    collapsed labels read as ``text`` once leading, trailing and repeated spaces are dropped.

    States per character i: E (emitting it), B (a blank after it, same word) and G (after the
    last character of a word, at least one space seen); ``start`` is before any character.
    """
    blank, space = alphabet.blank_index, alphabet._index.get(" ")
    chars: list[int] = []
    starts_word: list[bool] = []
    for w in text.split():
        for k, ch in enumerate(w):
            chars.append(alphabet.encode(ch)[0])
            starts_word.append(k == 0)
    n = len(chars)
    lae = np.logaddexp
    start, e, b, g = 0.0, [-INF] * n, [-INF] * n, [-INF] * n
    for row in log_probs.tolist():
        gap = row[blank] if space is None else float(lae(row[blank], row[space]))
        ne, nb, ng = [-INF] * n, [-INF] * n, [-INF] * n
        for i, c in enumerate(chars):
            into = e[i]
            if i == 0:
                into = lae(into, start)
            elif starts_word[i]:
                into = lae(into, g[i - 1])
            else:
                into = lae(into, b[i - 1])
                if chars[i - 1] != c:
                    into = lae(into, e[i - 1])
            ne[i] = into + row[c]
            nb[i] = lae(e[i], b[i]) + row[blank]
            if space is not None and (i == n - 1 or starts_word[i + 1]):
                ng[i] = lae(g[i] + gap, lae(e[i], b[i]) + row[space])
        start, e, b, g = start + gap, ne, nb, ng
    if n == 0:
        return float(start)
    return float(lae(lae(e[-1], b[-1]), g[-1]))


@pytest.mark.parametrize(("labels", "max_frames", "seed"), CASES)
def test_text_log_prob_oracle_matches_exhaustive(labels, max_frames, seed):
    alphabet = Alphabet(labels)
    rng = np.random.default_rng(seed + 100)
    for _ in range(10):
        log_probs = random_log_probs(rng, max_frames, alphabet.num_classes, 1.5)
        for text, score in exhaustive(log_probs, alphabet).items():
            assert text_log_prob(log_probs, text, alphabet) == pytest.approx(score, abs=1e-9)


def test_beam_against_greedy_on_peaky_input():
    rng = np.random.default_rng(7)
    bm, greedy = beam(), GreedyDecoder(ALPHABET)
    same = better_or_equal = 0
    cases = 150
    for _ in range(cases):
        num_frames = int(rng.integers(5, 40))
        logits = rng.normal(size=(num_frames, V)) * 5.0
        logits[:, BLANK] += 4.0  # mostly blank, like a trained model
        log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        b, g = bm.decode(log_probs)[0], greedy.decode(log_probs)[0]
        # beam score ~ log P(beam text) >= best-path score (greedy's score).
        assert b.score >= g.score - 1e-9
        # A pruned search sums a subset of the alignments: never more than the true log P.
        p_beam = text_log_prob(log_probs, b.text)
        assert b.score <= p_beam + 1e-9
        p_greedy = text_log_prob(log_probs, g.text)
        better_or_equal += p_beam >= p_greedy - 1e-9
        same += b.text == g.text
    assert same >= 0.85 * cases
    assert better_or_equal >= 0.97 * cases


def test_beam_finds_text_greedy_misses():
    # Greedy takes blank on each frame (0.4 > 0.3) but "a" has three alignments totalling 0.57.
    alphabet = Alphabet(("a", "b"))
    log_probs = np.log(np.array([[0.3, 0.3, 0.4], [0.3, 0.3, 0.4]]))
    greedy = GreedyDecoder(alphabet).decode(log_probs)[0]
    hyp = exact(alphabet).decode(log_probs)[0]
    assert greedy.text == ""
    assert hyp.text in ("a", "b")
    assert hyp.score == pytest.approx(math.log(0.3 * 0.3 + 2 * 0.3 * 0.4))
    assert hyp.score > greedy.score


# ---------------------------------------------------------------------------------------------
# n-best, timings, determinism
# ---------------------------------------------------------------------------------------------


def test_nbest_distinct_and_sorted():
    log_probs = np.concatenate(
        [
            frames("_"),
            mixed_frame({"c": 0.5, "k": 0.3, "g": 0.15}),
            frames("_a_t_"),
        ]
    )
    hyps = beam().decode(log_probs, nbest=3)
    assert len(hyps) == 3
    texts = [h.text for h in hyps]
    assert texts[0] == "cat"
    assert len(set(texts)) == 3
    scores = [h.score for h in hyps]
    assert scores == sorted(scores, reverse=True)
    assert set(texts) == {"cat", "kat", "gat"}


@pytest.mark.parametrize("limit", [1, 2, 5])
@pytest.mark.parametrize("seed", range(5))
def test_limit_returns_the_best_of_the_unlimited_beams(limit, seed):
    # Only the ``limit`` best are traced into texts; they must be the unlimited search's best.
    log_probs = random_log_probs(np.random.default_rng(seed), 8, V, 1.5)
    full = prefix_beam_search(log_probs, ALPHABET, beam_width=8)
    assert len(full) > limit
    limited = prefix_beam_search(log_probs, ALPHABET, beam_width=8, limit=limit)
    assert limited[:limit] == full[:limit]
    assert len(limited) <= limit + 1  # the best path may go in front of them


def test_nbest_larger_than_beam_width():
    hyps = beam(beam_width=2).decode(random_log_probs(np.random.default_rng(0), 6, V, 1.0), 5)
    assert len(hyps) == 5
    assert len({h.text for h in hyps}) == 5


@pytest.mark.parametrize("nbest", [0, -1])
def test_nbest_below_one_is_config_error(nbest):
    with pytest.raises(ConfigError, match="nbest"):
        beam().decode(frames("_a_"), nbest=nbest)


def test_word_timings():
    # frames:        0 1 2 3 4 5 6 7 8
    log_probs = frames("_go_ _on_")
    hyp = beam(frame_seconds=0.02).decode(log_probs)[0]
    assert hyp.text == "go on"
    assert [w.word for w in hyp.words] == ["go", "on"]
    go, on = hyp.words
    # start = first character's frame x frame_seconds; end = (last character's frame + 1) x fs
    assert (go.start, go.end) == (pytest.approx(0.02), pytest.approx(0.06))
    assert (on.start, on.end) == (pytest.approx(0.12), pytest.approx(0.16))
    assert go.confidence == pytest.approx(0.9)
    assert on.confidence == pytest.approx(0.9)
    assert hyp.confidence == pytest.approx(0.9)

    slow = beam(frame_seconds=0.04).decode(log_probs)[0]
    assert [(w.start, w.end) for w in slow.words] == [
        (pytest.approx(0.04), pytest.approx(0.12)),
        (pytest.approx(0.24), pytest.approx(0.32)),
    ]


def test_word_timings_follow_the_emission_not_an_early_weak_candidate():
    # Frame 0 gives "y" a little probability (a candidate, above token_min_logp), but the word
    # is spoken at frames 10-12: the timing must say 0.20 s, not 0.
    log_probs = frames("__________yes__")
    probs = np.exp(log_probs[0])
    probs[ALPHABET.encode("y")[0]] = 0.02
    log_probs[0] = np.log(probs / probs.sum())
    hyp = beam().decode(log_probs)[0]
    assert hyp.text == "yes"
    (word,) = hyp.words
    assert (word.start, word.end) == (pytest.approx(0.2), pytest.approx(0.26))
    assert word.confidence == pytest.approx(0.9)


def test_word_timings_match_greedy_on_clean_input():
    log_probs = frames("__hh_e_ll_lo__ _w_orr_ld___")
    b = beam().decode(log_probs)[0]
    g = GreedyDecoder(ALPHABET).decode(log_probs)[0]
    assert b.text == g.text == "hello world"
    assert b.words == g.words


def test_deterministic():
    rng = np.random.default_rng(3)
    log_probs = random_log_probs(rng, 30, V, 3.0)
    decoder = beam(hotwords=["the:2", "cat"])
    first = decoder.decode(log_probs, nbest=4)
    second = decoder.decode(log_probs, nbest=4)
    assert first == second
    assert beam(hotwords=["the:2", "cat"]).decode(log_probs, nbest=4) == first


# ---------------------------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("classes", [1, 28, 30])
def test_wrong_class_count(classes):
    with pytest.raises(ValueError, match="classes"):
        beam().decode(np.zeros((5, classes)) - 1.0)


@pytest.mark.parametrize("shape", [(V,), (2, 3, V), ()])
def test_wrong_rank(shape):
    with pytest.raises(LogProbError, match="shape"):
        beam().decode(np.zeros(shape) - 1.0)


def test_nan():
    log_probs = frames("yes")
    log_probs[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        beam().decode(log_probs)


def test_positive_values():
    with pytest.raises(ValueError, match="positive"):
        beam().decode(np.full((4, V), 1.0 / V))  # probabilities, not log-probabilities


def test_log_prob_error_is_value_error():
    assert issubclass(LogProbError, ValueError)


@pytest.mark.parametrize(
    "options",
    [
        {"beam_width": 0},
        {"beam_width": -3},
        {"beam_prune_logp": 1.0},
        {"token_min_logp": 0.5},
        {"frame_seconds": 0.0},
    ],
)
def test_bad_options(options):
    with pytest.raises(ConfigError):
        beam(**options)


# ---------------------------------------------------------------------------------------------
# hotwords
# ---------------------------------------------------------------------------------------------


def cat_or_kat() -> np.ndarray:
    """Audio that reads slightly more as "kat" than "cat"."""
    return np.concatenate([frames("__"), mixed_frame({"k": 0.54, "c": 0.44}), frames("__a__t__")])


def test_hotword_flips_ambiguous_word():
    log_probs = cat_or_kat()
    assert beam().decode(log_probs)[0].text == "kat"
    hyp = beam(hotwords=["cat:5"]).decode(log_probs)[0]
    assert hyp.text == "cat"
    # The score carries the bonus: acoustic log P("cat") + 5.
    acoustic = {h.text: h.score for h in beam().decode(log_probs, nbest=5)}
    assert hyp.score == pytest.approx(acoustic["cat"] + 5.0)


def test_hotword_default_weight_and_mapping():
    log_probs = cat_or_kat()
    assert beam(hotwords=["cat"]).decode(log_probs)[0].text == "cat"
    assert beam(hotwords={"cat": 3.0}).decode(log_probs)[0].text == "cat"
    assert beam(hotwords=[("cat", 3.0)]).decode(log_probs)[0].text == "cat"
    # A negative weight pushes away from a word.
    assert beam(hotwords=["kat:-5"]).decode(log_probs)[0].text == "cat"
    # A tiny weight is not enough to overturn the acoustic evidence.
    assert beam(hotwords=["cat:0.01"]).decode(log_probs)[0].text == "kat"


def test_hotword_matches_whole_words_only():
    log_probs = cat_or_kat()
    # "ca" is a prefix of "cat" but as a hotword it only rewards the whole word "ca".
    assert beam(hotwords=["ca:5"]).decode(log_probs)[0].text == "kat"


def turn_on_or_an() -> np.ndarray:
    """Audio of "turn ?n" where the second word reads slightly more as "an" than "on"."""
    return np.concatenate(
        [frames("_t_u_r_n_ _"), mixed_frame({"a": 0.54, "o": 0.44}), frames("_n__")]
    )


def test_phrase_hotword_flips_two_word_ambiguity():
    log_probs = turn_on_or_an()
    assert beam().decode(log_probs)[0].text == "turn an"
    assert beam(hotwords=["turn on:6"]).decode(log_probs)[0].text == "turn on"
    # The phrase needs its first word: the same second word after "burn" earns nothing.
    burn = log_probs.copy()
    burn[1] = frames("b")[0]
    assert beam().decode(burn)[0].text == "burn an"
    assert beam(hotwords=["turn on:6"]).decode(burn)[0].text == "burn an"


def test_hotword_outside_alphabet_is_config_error():
    with pytest.raises(ConfigError, match="cannot emit"):
        BeamDecoder(Alphabet(("a", "b", " ")), hotwords=["abc"])
    with pytest.raises(ConfigError, match=r"cannot emit|empty"):
        beam(hotwords=["日本"])  # nothing the default alphabet can spell


@pytest.mark.parametrize("spec", ["word:abc", "word:", "two words:1e", "word:nan", "word:inf"])
def test_hotword_bad_weight_is_config_error(spec):
    with pytest.raises(ConfigError, match="hotword"):
        beam(hotwords=[spec])


def test_many_hotwords_do_not_change_unrelated_result():
    rng = np.random.default_rng(11)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))

    def word() -> str:
        return "".join(rng.choice(letters, size=int(rng.integers(6, 10))))

    hotwords = []
    for i in range(1000):
        phrase = word() if i % 4 else f"{word()} {word()}"
        hotwords.append(f"{phrase}:{rng.uniform(1, 10):.2f}")
    log_probs = frames("__hh_e_ll_lo__ _w_orr_ld___")
    plain = beam().decode(log_probs, nbest=3)
    with_hotwords = beam(hotwords=hotwords).decode(log_probs, nbest=3)
    assert with_hotwords[0].text == "hello world"
    assert with_hotwords[0] == plain[0]

    # ... and one matching hotword among the 1000 still counts.
    log_probs = cat_or_kat()
    assert beam(hotwords=[*hotwords, "cat:5"]).decode(log_probs)[0].text == "cat"
    assert beam(hotwords=hotwords).decode(log_probs)[0].text == "kat"


def test_options_round_trip():
    decoder = beam(beam_width=8, hotwords=["Turn 2 Left:3"])
    opts = decoder.options()
    assert opts["beam_width"] == 8
    assert opts["hotwords"] == ["turn two left:3"]
    again = BeamDecoder(ALPHABET, **opts)
    assert again.options() == opts
