"""Property-based tests (hypothesis) for the text normaliser, the alphabet and the decoders.

Each property states something that must hold for *every* input, not just the hand-picked
ones of the other test modules: normalised text is spellable and a fixed point, alphabets
survive their file format, decoders emit only alphabet characters, are deterministic, never
do worse than the best path (beam), and only ever answer with a listed command (grammar).

Log-probability matrices are generated from a seed with numpy (fast, and any size up to
60 x 29), in several regimes: flat or peaky, blank-heavy, rounded logits (exact ties) and
impossible classes (log 0 = -inf). Counterexamples found while writing these tests are kept
as ``@example`` cases.
"""

from __future__ import annotations

import math
import string

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ctcasr.decoding.beam import BeamDecoder
from ctcasr.decoding.grammar import GrammarDecoder
from ctcasr.decoding.greedy import GreedyDecoder
from ctcasr.errors import AlphabetError
from ctcasr.text import DEFAULT_LABELS, Alphabet, normalize_text
from tests.helpers import spec_frames
from tests.test_beam import text_log_prob

DEFAULT = Alphabet()
# Small alphabets make collisions, repeats and ties likely; the default one is what models use.
DECODER_ALPHABETS = (
    DEFAULT,
    Alphabet(("a",)),
    Alphabet(("a", "b")),
    Alphabet(("a", " ", "b", "'")),
)
TOL = 1e-6

# A few examples per property keep the file well under a minute on a busy two-core machine;
# deadline=None because the machine's load makes single-example timings meaningless.
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
DECODE = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def words_of(text: str) -> list[str]:
    """Words separated by the space symbol only (a custom alphabet may hold other whitespace)."""
    return [w for w in text.split(" ") if w]


def assert_clean_spacing(text: str) -> None:
    assert text == text.strip(" "), repr(text)
    assert "  " not in text, repr(text)


# ---------------------------------------------------------------------------------------------
# strategies
# ---------------------------------------------------------------------------------------------

# Surrogates cannot be written as UTF-8 at all, so no text or alphabet can hold them.
any_char = st.characters(exclude_categories=("Cs",))
# Fragments that exercise each branch of normalize_text: numbers (ordinals, decimals, digit
# groups, long digit strings, non-ASCII digits), symbols spoken as words, apostrophes and curly
# quotes, word separators, accents, ligatures, compatibility forms and odd whitespace.
FRAGMENTS = (
    "1", "21st", "3rd", "1,000", "1,00", "3.14", "007", "1234567890123456", "1980s", "\u0663",
    "%", "&", "+", "@", "'", "''", "\u2019", "\u2018", "don't", "'quoted'", "-", "/", "_",
    "caf\u00e9", "\u00c5", "\u0130", "\u00df", "\ufb01", "\u00bd", "\u00b2", "\u2460", "\u212a",
    "\u01c5", " ", "  ", "\t", "\n", "\u00a0", "\u2028", "\u200b", "\u0301", "A", "Z", "ok",
)  # fmt: skip
texts = st.lists(
    st.one_of(st.text(any_char, max_size=4), st.sampled_from(FRAGMENTS)), max_size=12
).map("".join)

# Custom alphabets: a mix of plain ASCII (likely to occur in normalised text) and anything.
label_pool = st.one_of(
    st.sampled_from(" 'abcdefxyz-#%\\0123\u00e9\u0307\u00c5A\t\u00a0\u00df\ufb01"), any_char
)


def _safe_for_file(label: str) -> bool:
    """Not a line break: the labels an alphabet (and its one-per-line file) can hold."""
    return label.splitlines() == [label]


custom_labels = st.lists(label_pool.filter(_safe_for_file), min_size=1, max_size=12, unique=True)


@st.composite
def log_prob_matrices(draw, alphabet: Alphabet, max_frames: int = 60) -> np.ndarray:
    """A ``[T, V]`` matrix of log-softmax rows (float64) in one of several regimes."""
    num_frames = draw(st.integers(0, max_frames))
    seed = draw(st.integers(0, 2**32 - 1))
    scale = draw(st.sampled_from([0.1, 1.0, 3.0, 8.0]))  # flat ... very peaky
    blank_bias = draw(st.sampled_from([0.0, 0.0, 4.0]))  # a trained model: mostly blank
    rounded = draw(st.booleans())  # integer logits: exact ties between classes and frames
    impossible = draw(st.sampled_from([0.0, 0.0, 0.5]))  # share of classes with p = 0
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(num_frames, alphabet.num_classes)) * scale
    logits[:, alphabet.blank_index] += blank_bias
    if rounded:
        logits = np.round(logits)
    if impossible and num_frames:
        dead = rng.random(logits.shape) < impossible
        dead[np.arange(num_frames), rng.integers(0, alphabet.num_classes, num_frames)] = False
        logits[dead] = -np.inf
    return log_softmax(logits)


def log_softmax(logits: np.ndarray) -> np.ndarray:
    logits = np.asarray(logits, dtype=np.float64).reshape(-1, np.shape(logits)[-1])
    return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)


cases = st.sampled_from(DECODER_ALPHABETS).flatmap(
    lambda a: log_prob_matrices(a).map(lambda m: (a, m))
)


def best_path_log_prob(log_probs: np.ndarray) -> float:
    """log-probability of the single most probable frame-level path, summed exactly."""
    return math.fsum(max(row) for row in log_probs.tolist())


def reference_best_path_text(log_probs: np.ndarray, alphabet: Alphabet) -> str:
    """Argmax per frame (first index on ties), merge repeats, drop blanks, tidy spaces."""
    ids, prev = [], None
    for row in log_probs.tolist():
        c = row.index(max(row))
        if c != prev and c != alphabet.blank_index:
            ids.append(c)
        prev = c
    return " ".join(words_of(alphabet.decode(ids)))


def check_hypothesis_shape(
    hyp, alphabet: Alphabet, num_frames: int, frame_seconds: float, timings_optional=False
):
    """What every decoder promises about one Hypothesis, whatever the input. (The grammar
    decoder gives no timings to a command there are too few frames to spell.)"""
    assert set(hyp.text) <= set(alphabet.labels), repr(hyp.text)
    assert_clean_spacing(hyp.text)
    assert 0.0 <= hyp.confidence <= 1.0, hyp.confidence
    assert not math.isnan(hyp.score)
    if not hyp.rejected and not (timings_optional and hyp.words == ()):
        assert " ".join(w.word for w in hyp.words) == hyp.text
    for w in hyp.words:
        assert 0.0 <= w.start < w.end <= num_frames * frame_seconds + 1e-9
        assert 0.0 <= w.confidence <= 1.0
    starts = [w.start for w in hyp.words]
    assert starts == sorted(starts)


# ---------------------------------------------------------------------------------------------
# 1. text normalisation and the alphabet
# ---------------------------------------------------------------------------------------------


@FAST
@given(text=texts)
@example(text="\u0130")  # "İ".lower() is "i" + a combining dot
@example(text="x'\u00e9'y 1st 2nd,3 4.5%")
def test_normalize_default_alphabet(text):
    out = normalize_text(text)
    assert set(out) <= set(DEFAULT_LABELS), repr(out)
    DEFAULT.encode(out)  # never raises
    assert_clean_spacing(out)
    assert normalize_text(out) == out  # idempotent
    # Apostrophes survive only inside words.
    for word in words_of(out):
        assert not word.startswith("'") and not word.endswith("'"), repr(out)


@FAST
@given(text=texts, labels=custom_labels)
# "0" -> "zero" -> "e" (no z, r, o), and "İ" -> "i" + U+0307 -> U+0307 (no i): "e" U+0307, which
# the next pass composed to "ė" and folded to "e" -- not idempotent before normalize_text
# normalised such a result again.
@example(text="0\u0130", labels=["e", "\u0307"])
def test_normalize_custom_alphabet(text, labels):
    alphabet = Alphabet(tuple(labels))
    out = normalize_text(text, alphabet)
    assert set(out) <= set(labels), (repr(out), labels)
    alphabet.encode(out)
    assert_clean_spacing(out)
    if " " not in alphabet:
        assert " " not in out
    assert normalize_text(out, alphabet) == out, repr(out)


@FAST
@given(text=texts, labels=st.one_of(st.just(list(DEFAULT_LABELS)), custom_labels))
def test_normalize_strict_either_raises_or_agrees(text, labels):
    """``strict`` only adds a check: it raises AlphabetError or returns the lenient result."""
    alphabet = Alphabet(tuple(labels))
    lenient = normalize_text(text, alphabet)
    try:
        strict = normalize_text(text, alphabet, strict=True)
    except AlphabetError:
        return
    assert strict == lenient


@FAST
@given(data=st.data(), labels=st.one_of(st.just(list(DEFAULT_LABELS)), custom_labels))
def test_alphabet_encode_decode_round_trip(data, labels):
    alphabet = Alphabet(tuple(labels))
    text = data.draw(st.text(st.sampled_from(labels), max_size=30))
    ids = alphabet.encode(text)
    assert all(0 <= i < alphabet.blank_index for i in ids)
    assert alphabet.decode(ids) == text
    # Blanks (and anything out of range) are skipped by decode.
    padded = [alphabet.blank_index, *[x for i in ids for x in (i, alphabet.blank_index)], -1]
    assert alphabet.decode(padded) == text
    assert alphabet.unknown_chars(text) == []


@FAST
@given(labels=custom_labels, data=st.data())
def test_alphabet_rejects_duplicates_empty_and_long_entries(labels, data):
    position = data.draw(st.integers(0, len(labels)))
    bad = data.draw(
        st.one_of(
            st.sampled_from(labels),  # a duplicate
            st.just(""),  # an empty entry
            st.text(any_char, min_size=2, max_size=3),  # not a single character
        )
    )
    broken = (*labels[:position], bad, *labels[position:])
    with pytest.raises(AlphabetError):
        Alphabet(broken)


def test_alphabet_rejects_empty_label_list():
    with pytest.raises(AlphabetError):
        Alphabet(())


@FAST
@given(labels=custom_labels, data=st.data())
def test_alphabet_file_rejects_duplicate_and_empty_lines(labels, data, tmp_path_factory):
    labels = [c for c in labels if _safe_for_file(c) and c != "#"] or ["a"]
    lines = ["# header", *labels]
    position = data.draw(st.integers(1, len(lines)))
    bad = data.draw(st.one_of(st.sampled_from(labels), st.just("")))
    lines.insert(position, bad)
    path = tmp_path_factory.mktemp("alphabet") / "alphabet.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(AlphabetError):
        Alphabet.from_file(path)


@FAST
@given(labels=st.lists(label_pool, min_size=1, max_size=16, unique=True))
@example(labels=[" ", "#", "'", "\\", "a"])
@example(labels=["a", "\n"])
@example(labels=["\u2028", "a"])
@example(labels=["\x85"])
@example(labels=["\r", "b"])
def test_alphabet_file_round_trip(labels, tmp_path_factory):
    """Every alphabet that can be built can be saved and read back unchanged; the labels a
    line-based file cannot hold (line breaks) are refused when the alphabet is built."""
    if not all(_safe_for_file(c) for c in labels):
        with pytest.raises(AlphabetError):
            Alphabet(tuple(labels))
        return
    alphabet = Alphabet(tuple(labels))
    path = tmp_path_factory.mktemp("alphabet") / "alphabet.txt"
    alphabet.save(path)
    loaded = Alphabet.from_file(path)
    assert loaded == alphabet
    assert loaded.labels == tuple(labels)
    assert loaded.blank_index == alphabet.blank_index


# ---------------------------------------------------------------------------------------------
# 2. greedy and beam decoding
# ---------------------------------------------------------------------------------------------


@DECODE
@given(case=cases)
def test_greedy_properties(case):
    alphabet, log_probs = case
    decoder = GreedyDecoder(alphabet)
    hyps = decoder.decode(log_probs)
    assert len(hyps) == 1
    (hyp,) = hyps
    check_hypothesis_shape(hyp, alphabet, log_probs.shape[0], decoder.frame_seconds)
    assert hyp.text == reference_best_path_text(log_probs, alphabet)
    assert hyp.score == pytest.approx(best_path_log_prob(log_probs), abs=TOL)
    assert decoder.decode(log_probs.copy()) == hyps  # deterministic
    # The best path is one alignment of its text: never more probable than the text.
    assert hyp.score <= text_log_prob(log_probs, hyp.text, alphabet) + TOL


@DECODE
@given(
    alphabet=st.sampled_from(DECODER_ALPHABETS),
    data=st.data(),
    batch=st.integers(1, 4),
)
def test_greedy_batch_matches_single(alphabet, data, batch):
    """The vectorised batch path gives what decoding each row alone gives."""
    rows = [data.draw(log_prob_matrices(alphabet, max_frames=30)) for _ in range(batch)]
    width = max(r.shape[0] for r in rows)
    # Uniform padding: argmax ties pick label 0, so padding that leaked into a row would add
    # text and -log(V) per frame to the score.
    padded = np.full((batch, width, alphabet.num_classes), -math.log(alphabet.num_classes))
    for b, r in enumerate(rows):
        padded[b, : r.shape[0]] = r
    decoder = GreedyDecoder(alphabet)
    got = decoder.decode_batch(padded, [r.shape[0] for r in rows])
    assert len(got) == batch
    for r, (hyp,) in zip(rows, got, strict=True):
        (alone,) = decoder.decode(r)
        assert hyp.text == alone.text
        assert hyp.words == alone.words
        assert hyp.confidence == pytest.approx(alone.confidence, abs=1e-12)
        assert hyp.score == pytest.approx(alone.score, abs=TOL)


BEAM_LP = log_softmax(np.log([[8.0, 3.0], [1.0, 2.0], [2.0, 1.0], [4.0, 1.0]]))
INF = np.inf
# p(blank) = 0 on a busy frame put -inf into the blank cumulative sum; the next blank run's
# sum came out as -inf - -inf = NaN: a NaN score here, and no beam at all (IndexError) below.
NAN_LP = np.array([[0.0, -INF], [-INF, 0.0]])
EMPTY_LP = np.array(
    [[0.0, -INF], [-0.59686122, -0.79970161], [-INF, 0.0], [-0.74961827, -0.63969533], [-INF, 0.0]]
)


@DECODE
@given(case=cases, width=st.sampled_from([1, 2, 4, 16]), nbest=st.integers(1, 5))
# Width 1 over ("a",): greedy's path a_aa ("aa", p = 0.259) is pruned at frame 2, where "a"
# leads 0.404 to 0.323, and the search ends on "a" with 0.210 < 0.259.
@example(case=(DECODER_ALPHABETS[1], BEAM_LP), width=1, nbest=1)
@example(case=(DECODER_ALPHABETS[1], NAN_LP), width=16, nbest=1)
def test_beam_properties(case, width, nbest):
    alphabet, log_probs = case
    decoder = BeamDecoder(alphabet, beam_width=width)
    hyps = decoder.decode(log_probs, nbest=nbest)
    assert 1 <= len(hyps) <= nbest
    for hyp in hyps:
        check_hypothesis_shape(hyp, alphabet, log_probs.shape[0], decoder.frame_seconds)
        assert not hyp.rejected
        # A (pruned) sum over some of the text's alignments: at most the text's probability.
        assert hyp.score <= text_log_prob(log_probs, hyp.text, alphabet) + TOL
    texts = [h.text for h in hyps]
    assert len(set(texts)) == len(texts), texts
    scores = [h.score for h in hyps]
    assert scores == sorted(scores, reverse=True)
    # Never worse than the best path: the best path is itself an alignment of some text.
    assert hyps[0].score >= best_path_log_prob(log_probs) - TOL
    # Deterministic, and asking for more hypotheses does not change the best one (as long as
    # the width is not raised by it).
    assert decoder.decode(log_probs.copy(), nbest=nbest) == hyps
    if nbest <= width:
        assert decoder.decode(log_probs, nbest=1)[0] == hyps[0]


@DECODE
@given(case=cases)
@example(case=(DECODER_ALPHABETS[1], EMPTY_LP))
def test_beam_at_least_greedy_default_settings(case):
    alphabet, log_probs = case
    best = BeamDecoder(alphabet).decode(log_probs)[0]
    greedy = GreedyDecoder(alphabet).decode(log_probs)[0]
    # Same basis: beam's score sums alignments of its text, greedy's is one path's.
    assert best.score >= greedy.score - TOL


# ---------------------------------------------------------------------------------------------
# 3. grammar decoding
# ---------------------------------------------------------------------------------------------

GRAMMAR_ALPHABETS = (DEFAULT, Alphabet(("a", " ", "b", "'")))


@st.composite
def command_lists(draw, alphabet: Alphabet) -> list[str]:
    letters = [c for c in alphabet.labels if c in string.ascii_lowercase]
    small = len(letters) < 5
    word = st.text(st.sampled_from(letters), min_size=1, max_size=3 if small else 6)
    # Internal apostrophes survive normalisation ("don't"); edge ones are dropped.
    word = st.one_of(word, st.tuples(word, word).map("'".join))
    phrase = st.lists(word, min_size=1, max_size=3).map(" ".join)
    return draw(st.lists(phrase, min_size=1, max_size=8))


@st.composite
def grammar_cases(draw):
    alphabet = draw(st.sampled_from(GRAMMAR_ALPHABETS))
    commands = draw(command_lists(alphabet))
    log_probs = draw(log_prob_matrices(alphabet, max_frames=40))
    return alphabet, commands, log_probs


def build_grammar(alphabet: Alphabet, commands: list[str], threshold: float = 0.3):
    return GrammarDecoder(alphabet, commands=commands, threshold=threshold)


@DECODE
@given(case=grammar_cases(), nbest=st.integers(1, 10), threshold=st.sampled_from([0.0, 0.3, 1.0]))
def test_grammar_only_answers_listed_commands(case, nbest, threshold):
    alphabet, commands, log_probs = case
    decoder = build_grammar(alphabet, commands, threshold)
    assert set(decoder.commands) <= {normalize_text(c, alphabet) for c in commands}
    hyps = decoder.decode(log_probs, nbest=nbest)
    assert len(hyps) == min(nbest, len(decoder.commands))
    texts = [h.text for h in hyps]
    assert set(texts) <= set(decoder.commands), texts
    assert len(set(texts)) == len(texts)
    scores = [h.score for h in hyps]
    assert scores == sorted(scores, reverse=True)
    for hyp in hyps:
        check_hypothesis_shape(
            hyp, alphabet, log_probs.shape[0], decoder.frame_seconds, timings_optional=True
        )
        # Rejection is exactly "confidence below the threshold", and a rejected command (out
        # of grammar: it was not said) carries no timings.
        assert hyp.rejected == (hyp.confidence < threshold)
        if hyp.rejected:
            assert hyp.words == ()
    assert decoder.decode(log_probs.copy(), nbest=nbest) == hyps  # deterministic
    assert build_grammar(alphabet, commands, threshold).decode(log_probs, nbest=nbest) == hyps
    assert decoder.decode(log_probs, nbest=1)[0] == hyps[0]


@st.composite
def clean_spellings(draw):
    """A command list, one of its commands, and peaky frames that spell exactly it."""
    alphabet = draw(st.sampled_from(GRAMMAR_ALPHABETS))
    commands = draw(command_lists(alphabet))
    decoder = build_grammar(alphabet, commands)
    target = draw(st.sampled_from(decoder.commands))
    spec = "_" * draw(st.integers(0, 2))
    for char in target:
        spec += char * draw(st.integers(1, 3)) + "_" * draw(st.integers(1, 2))
    peak = draw(st.sampled_from([0.8, 0.9, 0.99]))
    return decoder, target, spec_frames(spec, peak, alphabet)


@DECODE
@given(case=clean_spellings())
def test_grammar_clean_spelling_wins(case):
    decoder, target, log_probs = case
    hyps = decoder.decode(log_probs, nbest=len(decoder.commands))
    assert hyps[0].text == target, [(h.text, h.score) for h in hyps]
    assert not hyps[0].rejected
    # The audio's best path is an alignment of the command: full confidence.
    assert hyps[0].confidence == pytest.approx(1.0, abs=1e-9)
    assert sorted(h.text for h in hyps) == sorted(decoder.commands)
    assert " ".join(w.word for w in hyps[0].words) == target
