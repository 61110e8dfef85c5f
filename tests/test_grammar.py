"""Command-grammar decoding: ranking, length fairness, rejection, the trie's CTC forward pass,
forced alignment and command files."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from ctcasr.decoding.align import best_alignment, forced_align
from ctcasr.decoding.grammar import CommandTrie, GrammarDecoder, prepare_commands, read_commands
from ctcasr.errors import ConfigError
from ctcasr.text import Alphabet
from tests.helpers import spec_frames

ALPHABET = Alphabet()
V = ALPHABET.num_classes  # 29
BLANK = ALPHABET.blank_index  # 28
INF = float("inf")

COMMANDS = ["yes", "no", "stop", "go", "left", "right", "turn left", "turn right", "up", "down"]


def frames(spec: str, peak: float = 0.9) -> np.ndarray:
    return spec_frames(spec, peak, ALPHABET)


def random_log_probs(rng: np.random.Generator, num_frames: int, num: int = V, scale=2.0):
    logits = rng.normal(size=(num_frames, num)) * scale
    return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)


def ctc_log_likelihood(log_probs: np.ndarray, ids: list[int], blank: int) -> float:
    """Plain log-domain CTC forward pass for one label sequence (the textbook recursion)."""
    ext = [blank]
    for i in ids:
        ext += [i, blank]
    num_states = len(ext)
    alpha = np.full(num_states, -INF)
    alpha[0] = log_probs[0, ext[0]]
    alpha[1] = log_probs[0, ext[1]]
    for t in range(1, log_probs.shape[0]):
        new = np.full(num_states, -INF)
        for s in range(num_states):
            value = alpha[s]
            if s >= 1:
                value = np.logaddexp(value, alpha[s - 1])
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                value = np.logaddexp(value, alpha[s - 2])
            new[s] = value + log_probs[t, ext[s]]
        alpha = new
    return float(np.logaddexp(alpha[-1], alpha[-2]))


def grammar(commands=COMMANDS, **options) -> GrammarDecoder:
    return GrammarDecoder(ALPHABET, commands=commands, **options)


# ---------------------------------------------------------------------------------------------
# picking commands
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("_y_e_s_", "yes"),
        ("__nn_oo___", "no"),
        ("_s_t_o_p_", "stop"),
        ("_g_o_", "go"),
        ("_t_u_r_n_ _l_e_f_t_", "turn left"),
        ("_t_u_r_n_ _r_i_g_h_t_", "turn right"),
        ("_l_e_f_t_", "left"),
        ("_d_o_w_n__", "down"),
    ],
)
def test_picks_the_spoken_command(spec, text):
    hyp = grammar().decode(frames(spec))[0]
    assert hyp.text == text
    assert hyp.rejected is False
    assert hyp.confidence == pytest.approx(1.0)  # the audio reads exactly as the phrase


def test_near_miss_still_maps_to_closest_command():
    # "stap": one wrong letter, the rest of "stop" is clear.
    hyp = grammar().decode(frames("_s_t_a_p_"))[0]
    assert hyp.text == "stop"
    assert 0.0 < hyp.confidence < 1.0


def test_nbest_ordering():
    hyps = grammar().decode(frames("_t_u_r_n_ _l_e_f_t_"), nbest=4)
    assert len(hyps) == 4
    assert hyps[0].text == "turn left"
    assert len({h.text for h in hyps}) == 4
    scores = [h.score for h in hyps]
    assert scores == sorted(scores, reverse=True)
    assert hyps[0].confidence > max(h.confidence for h in hyps[1:])
    every = grammar().decode(frames("_y_e_s_"), nbest=100)
    assert sorted(h.text for h in every) == sorted(COMMANDS)


def test_nbest_below_one():
    with pytest.raises(ConfigError):
        grammar().decode(frames("_y_"), nbest=0)


def test_word_timings():
    hyp = grammar(frame_seconds=0.02).decode(frames("_t_u_r_n_ _l_e_f_t_"))[0]
    assert [w.word for w in hyp.words] == ["turn", "left"]
    turn, left = hyp.words
    # t at frame 1, n at frame 7; l at frame 11, t at frame 17.
    assert (turn.start, turn.end) == (pytest.approx(0.02), pytest.approx(0.16))
    assert (left.start, left.end) == (pytest.approx(0.22), pytest.approx(0.36))


def test_word_timings_when_command_is_not_the_best_path():
    hyp = grammar(commands=["stop", "go"]).decode(frames("__s_t_a_p__"))[0]
    assert hyp.text == "stop"
    (word,) = hyp.words
    assert word.word == "stop"
    assert (word.start, word.end) == (pytest.approx(0.04), pytest.approx(0.18))


def test_unseen_words_are_recognised_when_spelled():
    # Nothing is trained: any letter string the model can spell is a command.
    commands = ["zyx q", "qwv", "xx", "yes"]
    assert grammar(commands).decode(frames("_z_y_x_ _q__"))[0].text == "zyx q"
    assert grammar(commands).decode(frames("_q_w_v_"))[0].text == "qwv"
    assert grammar(commands).decode(frames("_x_x_"))[0].text == "xx"


def test_batch():
    batch = np.stack([frames("_y_e_s_"), frames("__n_o__")])
    hyps = grammar().decode_batch(batch, [7, 7])
    assert [h[0].text for h in hyps] == ["yes", "no"]


# ---------------------------------------------------------------------------------------------
# length fairness
# ---------------------------------------------------------------------------------------------


def unsure_audio(text: str, p_char: float = 0.4, p_blank: float = 0.5) -> np.ndarray:
    """Audio of ``text`` from an unsure model: each character's frame gives the character
    ``p_char`` and the blank slightly more, with confident blank frames in between."""
    rows = []

    def blank_frame():
        probs = np.full(V, 0.02 / (V - 1))
        probs[BLANK] = 0.98
        return probs

    rows += [blank_frame(), blank_frame()]
    for char in text:
        probs = np.full(V, (1.0 - p_char - p_blank) / (V - 2))
        probs[ALPHABET.encode(char)[0]] = p_char
        probs[BLANK] = p_blank
        rows += [probs, blank_frame(), blank_frame()]
    return np.log(np.array(rows))


def test_length_fairness():
    log_probs = unsure_audio("turn left")
    commands = ["left", "right", "turn left", "turn right", "stop"]
    # The raw log-likelihoods prefer the short command: spelling less pays less.
    raw = CommandTrie.build(commands, ALPHABET).log_likelihoods(log_probs, BLANK)
    assert raw[commands.index("left")] > raw[commands.index("turn left")]
    assert raw.argmax() == commands.index("left")
    unnormalised = grammar(commands, length_normalize=False).decode(log_probs)[0]
    assert unnormalised.text == "left"
    # The default decoder ranks per emitted symbol and gets it right.
    hyp = grammar(commands).decode(log_probs)[0]
    assert hyp.text == "turn left"
    assert hyp.rejected is False
    # ... and it does not simply prefer long phrases: "left" audio still gives "left".
    assert grammar(commands).decode(unsure_audio("left"))[0].text == "left"
    assert grammar(commands).decode(unsure_audio("right"))[0].text == "right"


def test_score_phrases_matches_trie():
    decoder = grammar()
    log_probs = frames("_t_u_r_n_ _l_e_f_t_")
    loglik, free = decoder.score_phrases(log_probs)
    assert loglik.shape == (len(COMMANDS),)
    assert free == pytest.approx(float(log_probs.max(axis=1).sum()))
    assert loglik[COMMANDS.index("turn left")] >= free  # summed over alignments >= best path


# ---------------------------------------------------------------------------------------------
# rejection
# ---------------------------------------------------------------------------------------------


def test_out_of_grammar_is_rejected():
    log_probs = frames("_d_o_g_")
    decoder = grammar(["yes", "no", "stop"])
    hyp = decoder.decode(log_probs)[0]
    assert hyp.rejected is True
    assert hyp.confidence < decoder.threshold
    # The same audio with "dog" in the list is accepted.
    hyp = grammar(["yes", "no", "stop", "dog"]).decode(log_probs)[0]
    assert hyp.text == "dog"
    assert hyp.rejected is False
    assert hyp.confidence == pytest.approx(1.0)


def test_set_weights_moves_the_rejection_threshold():
    log_probs = frames("_d_o_g_")
    decoder = grammar(["yes", "no", "stop"])
    assert decoder.decode(log_probs)[0].rejected is True
    decoder.set_weights(threshold=0.0)  # what ctcasr tune does between trials
    assert decoder.decode(log_probs)[0].rejected is False
    assert decoder.options()["threshold"] == 0.0
    with pytest.raises(ConfigError, match=r"threshold must be in \[0, 1\]"):
        decoder.set_weights(threshold=1.5)


def test_an_empty_command_file_name_is_refused_as_such():
    """Path("") is ".", the current folder: it was read as the file ("Is a directory")."""
    with pytest.raises(ConfigError, match=r"^commands: empty file name"):
        grammar("")


@pytest.mark.parametrize("bad", ["0.5", None, True, [0.5]])
def test_a_threshold_of_the_wrong_type_is_a_config_error(bad):
    """As create_decoder refuses it; built directly it was a TypeError from the comparison."""
    with pytest.raises(ConfigError, match=r"option threshold must be a float, got "):
        grammar(threshold=bad)
    with pytest.raises(ConfigError, match=r"option threshold must be a float, got "):
        grammar().set_weights(threshold=bad if bad is not None else "x")


def test_silence_is_rejected():
    hyps = grammar().decode(frames("_" * 30), nbest=len(COMMANDS))
    assert all(h.rejected for h in hyps)
    assert all(h.confidence < 0.3 for h in hyps)


@pytest.mark.parametrize("num_frames", [300, 1000])
@pytest.mark.parametrize("peak", [0.9, 0.6])
def test_long_silence_is_rejected(num_frames, peak):
    """A phrase's probability summed over its alignments grows with their number: judged by
    that sum, ten or thirty seconds of uncertain blanks passed for "stop" (confidence 0.67 at
    300 frames, 1.0 at 1000)."""
    hyps = grammar(["yes", "no", "stop", "go"]).decode(frames("_" * num_frames, peak), nbest=4)
    assert all(h.rejected for h in hyps), [(h.text, h.confidence) for h in hyps]
    assert max(h.confidence for h in hyps) < 0.1


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_flat_output_is_rejected(dtype):
    """Uniform log-probabilities (a model that hears nothing it knows) made every phrase's
    best alignment a best path: each phrase had confidence 1.0, and noise was never
    rejected."""
    log_probs = np.full((50, V), -np.log(V), dtype=dtype)
    hyps = grammar().decode(log_probs, nbest=len(COMMANDS))
    assert all(h.rejected and h.confidence == 0.0 for h in hyps), hyps


@pytest.mark.parametrize("seed", range(4))
def test_flatter_output_is_no_surer(seed):
    """The same frames made flatter did not lose confidence but gained it, to 1.0 as they
    neared uniform; they are now judged as sure as at a moderate scale, no surer."""
    logits = np.random.default_rng(seed).normal(size=(50, V))
    decoder = grammar()

    def confidence(scale: float) -> float:
        scaled = logits * scale
        log_probs = scaled - np.logaddexp.reduce(scaled, axis=1, keepdims=True)
        return decoder.decode(log_probs)[0].confidence

    moderate = confidence(0.1)
    assert moderate < 0.6  # the bundled model's threshold rejects it
    for scale in (1e-3, 1e-6):
        assert confidence(scale) <= moderate + 0.05


def test_zero_frames_are_rejected():
    hyps = grammar().decode(np.zeros((0, V)), nbest=3)
    assert len(hyps) == 3
    assert all(h.rejected and h.confidence == 0.0 for h in hyps)


def test_threshold_zero_never_rejects():
    decoder = grammar(["yes", "no", "stop"], threshold=0.0)
    for log_probs in (frames("_d_o_g_"), frames("_" * 30), np.zeros((0, V))):
        assert all(not h.rejected for h in decoder.decode(log_probs, nbest=3))


def test_threshold_one_rejects_imperfect_matches():
    decoder = grammar(threshold=1.0)
    assert decoder.decode(frames("_s_t_a_p_"))[0].rejected is True
    assert decoder.decode(frames("_s_t_o_p_"))[0].rejected is False


def test_too_few_frames_for_the_command():
    # Two frames cannot spell "stop": it gets no timings and is rejected.
    hyp = grammar(["stop"]).decode(frames("st"))[0]
    assert hyp.text == "stop"
    assert hyp.rejected is True
    assert hyp.confidence == 0.0
    assert hyp.words == ()


# ---------------------------------------------------------------------------------------------
# the trie's forward pass against a plain CTC forward pass
# ---------------------------------------------------------------------------------------------

PHRASES = [
    "hello",
    "help",
    "hell",
    "he",
    "helo",
    "aa",
    "a",
    "aaa",
    "abba",
    "a b",
    "turn left",
    "turn right",
    "t",
    "don't",
]


@pytest.mark.parametrize("num_frames", [12, 17, 40])
def test_trie_forward_matches_plain_ctc(num_frames):
    rng = np.random.default_rng(num_frames)
    trie = CommandTrie.build(PHRASES, ALPHABET)
    for _ in range(5):
        log_probs = random_log_probs(rng, num_frames)
        got = trie.log_likelihoods(log_probs, BLANK)
        expected = [ctc_log_likelihood(log_probs, ALPHABET.encode(p), BLANK) for p in PHRASES]
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_trie_forward_small_alphabet_peaky():
    alphabet = Alphabet(("a", "b"))
    phrases = ["a", "b", "aa", "ab", "ba", "aab", "abab", "bbb"]
    trie = CommandTrie.build(phrases, alphabet)
    rng = np.random.default_rng(5)
    for num_frames in (3, 6, 9, 25):
        log_probs = random_log_probs(rng, num_frames, alphabet.num_classes, scale=6.0)
        got = trie.log_likelihoods(log_probs, alphabet.blank_index)
        expected = [
            ctc_log_likelihood(log_probs, alphabet.encode(p), alphabet.blank_index) for p in phrases
        ]
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_trie_forward_repeated_label_with_tiny_blank():
    # A confident "a" on every frame, the blank at 1e-30: "aa" needs a blank between its
    # letters, so it is very unlikely but not impossible (no cancellation to exactly 0).
    alphabet = Alphabet(("a", "b"))
    log_probs = np.log(np.array([[1 - 2e-30, 1e-30, 1e-30]] * 6))
    phrases = ["a", "aa", "aaa"]
    got = CommandTrie.build(phrases, alphabet).log_likelihoods(log_probs, 2)
    expected = [ctc_log_likelihood(log_probs, alphabet.encode(p), 2) for p in phrases]
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-9)


def test_trie_with_spaces_matches_brute_force():
    """Every alignment whose collapsed text, with leading, trailing and doubled spaces
    dropped (as the beam search and text normalisation drop them), is the phrase. Doubled
    spaces inside a phrase (space, blank, space) were missing from the sum."""
    alphabet = Alphabet(("a", "b", " "))
    blank, space = alphabet.blank_index, alphabet.space_index
    phrases = ["a b", "a", "b a", "a b b"]
    trie = CommandTrie.build(phrases, alphabet)

    def spelled(path: tuple[int, ...]) -> str:
        collapsed = [c for i, c in enumerate(path) if c != blank and (i == 0 or path[i - 1] != c)]
        return " ".join("".join(alphabet.labels[c] for c in collapsed).split())

    rng = np.random.default_rng(11)
    for num_frames in (5, 7):
        log_probs = random_log_probs(rng, num_frames, alphabet.num_classes, scale=2.0)
        totals: dict[str, float] = {}
        for path in itertools.product(range(alphabet.num_classes), repeat=num_frames):
            text = spelled(path)
            lp = float(sum(log_probs[t, c] for t, c in enumerate(path)))
            totals[text] = float(np.logaddexp(totals.get(text, -INF), lp))
        got = trie.log_likelihoods(log_probs, blank, space)
        np.testing.assert_allclose(got, [totals[p] for p in phrases], rtol=1e-9)


def test_best_alignment_with_spaces_matches_brute_force():
    """The best alignment is the most probable path whose text, stray spaces dropped, is the
    phrase. The search had no state for a leading, trailing or doubled space, so a phrase
    said with one (off the best path) was charged for it, and rejected more often."""
    alphabet = Alphabet(("a", "b", " "))
    blank, space = alphabet.blank_index, alphabet.space_index

    def spelled(path: tuple[int, ...]) -> str:
        collapsed = [c for i, c in enumerate(path) if c != blank and (i == 0 or path[i - 1] != c)]
        return " ".join("".join(alphabet.labels[c] for c in collapsed).split())

    rng = np.random.default_rng(12)
    checked = 0
    for num_frames in (4, 6, 7):
        for _ in range(4):
            log_probs = random_log_probs(rng, num_frames, alphabet.num_classes, scale=2.0)
            best: dict[str, float] = {}
            for path in itertools.product(range(alphabet.num_classes), repeat=num_frames):
                text = spelled(path)
                lp = float(sum(log_probs[t, c] for t, c in enumerate(path)))
                best[text] = max(best.get(text, -INF), lp)
            for phrase in ("a b", "a", "b a", "a b b", "ab"):
                found = best_alignment(log_probs, alphabet.encode(phrase), blank, space)
                if phrase not in best:
                    assert found is None
                    continue
                assert found is not None
                assert found[0] == pytest.approx(best[phrase], abs=1e-9), phrase
                checked += 1
    assert checked > 40


@pytest.mark.parametrize("scale", [30.0, 60.0])
def test_trie_forward_sharp_output_does_not_underflow(scale):
    """Log-probabilities of hundreds below zero: rescaled every 8 frames, every path
    underflowed (every phrase -inf at x60) or the best ones did (a sum below the best
    alignment at x30). The pass must match a log-domain reference."""
    rng = np.random.default_rng(0)
    trie = CommandTrie.build(PHRASES, ALPHABET)
    log_probs = random_log_probs(rng, 100, scale=scale)
    got = trie.log_likelihoods(log_probs, BLANK)
    expected = [ctc_log_likelihood(log_probs, ALPHABET.encode(p), BLANK) for p in PHRASES]
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, rtol=1e-9)


@pytest.mark.parametrize("scale", [30.0, 60.0])
def test_sharp_output_sums_at_least_best_alignment_and_ranks_by_it(scale):
    """With spaces: a phrase's summed probability is never below its best alignment, and
    on output this sharp the best-aligned phrase comes first (the n-best came back in file
    order when every phrase underflowed to -inf)."""
    rng = np.random.default_rng(0)
    log_probs = random_log_probs(rng, 100, scale=scale)
    decoder = grammar(length_normalize=False, threshold=0.0)
    scores, _ = decoder.score_phrases(log_probs)
    space = ALPHABET.space_index
    best = np.array(
        [best_alignment(log_probs, ALPHABET.encode(c), BLANK, space)[0] for c in COMMANDS]
    )
    assert np.isfinite(scores).all()
    assert (scores >= best - 1e-9).all()
    assert decoder.decode(log_probs)[0].text == COMMANDS[int(np.argmax(best))]


def test_trie_log_domain_fallback_matches_probability_pass():
    """Moderate frames then sharp ones: the pass switches to the log domain part-way, and
    gives what the log domain gives from the start; on moderate output alone both domains
    agree (spaces included)."""
    rng = np.random.default_rng(3)
    trie = CommandTrie.build(COMMANDS, ALPHABET)
    space = ALPHABET.space_index

    def log_domain(log_probs):
        start = np.full(trie._layout(space).size, -INF)  # the trie and its phrases' tails
        start_b = start.copy()
        start_b[0] = 0.0
        return trie._log_domain_pass(log_probs, BLANK, space, start_b, start)

    moderate = random_log_probs(rng, 40, scale=2.0)
    np.testing.assert_allclose(
        trie.log_likelihoods(moderate, BLANK, space), log_domain(moderate), rtol=1e-9
    )
    mixed = np.concatenate([moderate, random_log_probs(rng, 40, scale=60.0)])
    got = trie.log_likelihoods(mixed, BLANK, space)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, log_domain(mixed), rtol=1e-9)


def test_trie_impossible_phrase_is_minus_infinity():
    with np.errstate(divide="ignore"):
        log_probs = np.log(np.eye(V)[[BLANK, 0 + 1, BLANK]])  # exactly "a", nothing else
    got = CommandTrie.build(["a", "b", "aa"], ALPHABET).log_likelihoods(log_probs, BLANK)
    assert got[0] == pytest.approx(0.0)
    assert got[1] == -INF
    assert got[2] == -INF


@pytest.mark.parametrize("scale", [2.0, 60.0])  # the probability pass; the log-domain one
def test_trie_forward_memory_does_not_grow_with_frames_times_nodes(scale):
    """The emissions of every frame for every node were gathered at once: 1.5 GB for a 30 s
    clip under 10,000 commands (117,000 nodes); here 77 MB, and 154 MB in the log domain,
    where both passes held them. Now a block of frames at a time, with the same results."""
    import tracemalloc

    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    phrases = sorted({"".join(rng.choice(letters, 10)) for _ in range(1000)})
    trie = CommandTrie.build(phrases, ALPHABET)
    log_probs = random_log_probs(rng, 1000, scale=scale)
    space = ALPHABET.space_index
    assert trie._layout(space).size > 9000
    tracemalloc.start()
    try:
        got = trie.log_likelihoods(log_probs, BLANK, space)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 20_000_000, peak
    assert got.shape == (len(phrases),) and not np.isnan(got).any()


def test_trie_structure_shares_prefixes():
    trie = CommandTrie.build(["turn left", "turn right"], ALPHABET)
    # root + "turn " (5) + "left" (4) + "right" (5)
    assert len(trie.parent) == 1 + 5 + 4 + 5
    assert trie.phrases == ("turn left", "turn right")
    assert trie.ids[0] == tuple(ALPHABET.encode("turn left"))


# ---------------------------------------------------------------------------------------------
# forced alignment
# ---------------------------------------------------------------------------------------------


def test_forced_align_clean_spec():
    ids = ALPHABET.encode("hello")
    assert forced_align(frames("_h_ee_l_l_o_"), ids, BLANK) == [1, 3, 6, 8, 10]


@pytest.mark.parametrize("text", ["hello", "aa", "a", "abba", "turn left", "zzz"])
def test_forced_align_random(text):
    rng = np.random.default_rng(len(text))
    ids = ALPHABET.encode(text)
    repeats = sum(a == b for a, b in itertools.pairwise(ids))
    for num_frames in (len(ids) + repeats, len(ids) + repeats + 1, 30):
        log_probs = random_log_probs(rng, num_frames)
        starts = forced_align(log_probs, ids, BLANK)
        assert starts is not None
        assert len(starts) == len(ids)
        assert starts == sorted(starts)
        assert all(0 <= f < num_frames for f in starts)
        for k in range(1, len(ids)):
            # Repeated labels need a blank frame between them; others only move forward.
            gap = 2 if ids[k] == ids[k - 1] else 1
            assert starts[k] - starts[k - 1] >= gap


def test_forced_align_too_few_frames():
    log_probs = random_log_probs(np.random.default_rng(0), 2)
    assert forced_align(log_probs, ALPHABET.encode("aa"), BLANK) is None  # needs 3 frames
    assert forced_align(log_probs, ALPHABET.encode("abc"), BLANK) is None
    assert forced_align(log_probs, ALPHABET.encode("ab"), BLANK) == [0, 1]
    assert forced_align(log_probs, [], BLANK) == []


def test_forced_align_prefers_likely_frames():
    log_probs = frames("___x____")
    # "x" is clearly at frame 3 even though frame 0 could emit it.
    assert forced_align(log_probs, ALPHABET.encode("x"), BLANK) == [3]
    # A transcript the best path does not spell is still aligned sensibly.
    assert forced_align(frames("__c_a_t__"), ALPHABET.encode("kat"), BLANK)[1:] == [4, 6]


# ---------------------------------------------------------------------------------------------
# command lists and configuration
# ---------------------------------------------------------------------------------------------


def test_read_commands_file(tmp_path):
    path = tmp_path / "commands.txt"
    path.write_text("# robot commands\n\nTurn Left\n  stop  \n# more\ngo\n", encoding="utf-8")
    assert read_commands(path) == ["Turn Left", "stop", "go"]
    decoder = GrammarDecoder(ALPHABET, commands=path)
    assert decoder.commands == ["turn left", "stop", "go"]
    assert GrammarDecoder(ALPHABET, commands=str(path)).commands == decoder.commands
    assert decoder.decode(frames("_g_o_"))[0].text == "go"


def test_missing_command_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        GrammarDecoder(ALPHABET, commands=tmp_path / "nope.txt")


def test_command_file_with_only_comments(tmp_path):
    path = tmp_path / "commands.txt"
    path.write_text("# nothing\n\n   \n# still nothing\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"commands\.txt.*no phrases"):
        GrammarDecoder(ALPHABET, commands=path)


def test_command_the_model_cannot_emit(tmp_path):
    no_q = Alphabet(tuple(" abcdefghijklmnoprstuvwxyz'"))
    path = tmp_path / "commands.txt"
    path.write_text("# header\nstop\nquit now\n", encoding="utf-8")
    # The file's line (3, after the comment), then the phrase's number.
    with pytest.raises(ConfigError, match=r"commands\.txt:3: phrase 2\b.*quit now.*cannot emit"):
        GrammarDecoder(no_q, commands=path)
    with pytest.raises(ConfigError, match=r"phrase 1\b.*cannot emit"):
        GrammarDecoder(Alphabet(("a", "b")), commands=["abc"])


def test_empty_phrase_after_normalisation():
    with pytest.raises(ConfigError, match=r"phrase 2\b.*empty"):
        grammar(["yes", "!!!"])


def test_duplicates_are_dropped():
    decoder = grammar(["yes", "Yes", "YES!", "no", "turn 2 left", "turn two left"])
    assert decoder.commands == ["yes", "no", "turn two left"]
    assert prepare_commands(["a", "a"], ALPHABET) == ["a"]


def test_a_long_command_list_is_prepared_in_linear_time(monkeypatch):
    """Duplicates were found by searching the phrases kept so far: quadratic, so 40,000
    phrases took 11 s to load (10,000 half a second) before the first clip was heard."""
    import time

    import ctcasr.decoding.grammar as grammar_module

    # Normalisation is linear and not what is measured here.
    monkeypatch.setattr(grammar_module, "normalize_text", lambda text, *_, **__: text)
    phrases = [f"play track {i}" for i in range(40_000)]
    started = time.perf_counter()
    assert prepare_commands([*phrases, "play track 7"], ALPHABET) == phrases
    assert time.perf_counter() - started < 1.0


def test_needs_commands():
    with pytest.raises(ConfigError, match="command list"):
        GrammarDecoder(ALPHABET)
    with pytest.raises(ConfigError):
        grammar([])


@pytest.mark.parametrize(
    ("commands", "message"),
    [
        (b"yes", "a command file's path or a list of phrases, got bytes"),
        (5, "a command file's path or a list of phrases, got int"),
        (["yes", None], "command list: phrase 2 must be a string, got NoneType"),
        ([b"yes"], "command list: phrase 1 must be a string, got bytes"),
        ("yes\nno", "a string is a command file's path; give the phrases as a list"),
    ],
)
def test_commands_of_the_wrong_kind_are_refused_in_one_line(commands, message):
    """From Python, bytes were read as byte values and a phrase that is no string (None,
    bytes) raised "'int' object has no attribute 'translate'"; phrases pasted as one string
    were a path "not found", in an error on as many lines."""
    from ctcasr.decoding import create_decoder

    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        create_decoder("grammar", ALPHABET, commands=commands)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("threshold", [-0.1, 1.5])
def test_threshold_range(threshold):
    with pytest.raises(ConfigError, match="threshold"):
        grammar(threshold=threshold)


def test_options_round_trip():
    decoder = grammar(["Yes", "turn 2 left"], threshold=0.5, length_normalize=False)
    opts = decoder.options()
    assert opts == {
        "commands": ["yes", "turn two left"],
        "threshold": 0.5,
        "length_normalize": False,
    }
    assert GrammarDecoder(ALPHABET, **opts).options() == opts


def test_bad_log_probs():
    with pytest.raises(ValueError, match="classes"):
        grammar().decode(np.zeros((4, 5)))
    with pytest.raises(ValueError, match="NaN"):
        grammar().decode(np.full((4, V), np.nan))


@pytest.mark.parametrize("spec", ["_y_e_s_ _", " _y_e_s_", "  _y_e_s_ ", "_y_e_s_"])
def test_spaces_at_the_edges_spell_nothing(spec):
    """A confident word boundary before or after the command must not cost the match."""
    (best,) = grammar(["yes", "no", "stop"]).decode(frames(spec))
    assert best.text == "yes" and not best.rejected
    assert best.confidence == pytest.approx(1.0)


def test_edge_spaces_add_probability_not_remove_it():
    log_probs = frames("_y_e_s_ _")
    trie = CommandTrie.build(["yes"], ALPHABET)
    strict = trie.log_likelihoods(log_probs, BLANK)[0]
    lenient = trie.log_likelihoods(log_probs, BLANK, ALPHABET.encode(" ")[0])[0]
    assert lenient > strict + 1.0


def test_a_byte_order_mark_does_not_make_a_comment_a_command(tmp_path):
    """The BOM stuck to a first-line "# comment", which then no longer started with "#" and
    was normalised into a command (and, in a hotword file, a hotword)."""
    from ctcasr.decoding.hotwords import read_hotwords

    path = tmp_path / "commands.txt"
    path.write_bytes("\ufeff# robot commands\r\n\r\nYes\r\n  no \r\n".encode())
    assert read_commands(path) == ["Yes", "no"]
    assert GrammarDecoder(ALPHABET, commands=path).commands == ["yes", "no"]
    path.write_bytes("\ufeff# my hotwords\nfoo:2\n".encode())
    assert [(h.phrase, h.weight) for h in read_hotwords(path)] == [("foo", 2.0)]


def test_json_output_never_holds_minus_infinity():
    """A command too long for the audio scores -inf, which --json wrote as -Infinity."""
    import json

    from ctcasr.outputs import render
    from ctcasr.transcribe import _transcript

    hyps = grammar(["go", "turn right"], threshold=0.0).decode(frames("_g_o_"), nbest=2)
    assert hyps[1].score == -np.inf
    transcript = _transcript(hyps, "clip.wav", 0.1, "grammar", "model")

    def strict(text: str):
        return json.loads(text, parse_constant=lambda c: pytest.fail(f"not JSON: {c}"))

    data = strict(render(transcript, "json"))
    assert data["nbest"][1]["score"] is None and data["nbest"][0]["text"] == "go"
    empty = _transcript(grammar().decode(np.zeros((0, V))), "empty.wav", 0.0, "grammar", "m")
    assert strict(render(empty, "jsonl"))["score"] is None


def test_hotword_objects_are_normalised_and_checked_like_text():
    """A Hotword given as an object skipped normalisation ("turn  left" never fired) and the
    weight check (NaN scores)."""
    from ctcasr.decoding.hotwords import Hotword, HotwordScorer, parse_hotwords

    (hotword,) = parse_hotwords([Hotword("turn  left", 3)], ALPHABET)
    assert hotword == Hotword("turn left", 3.0)
    assert HotwordScorer([hotword]).final_score("turn left") == 3.0
    with pytest.raises(ConfigError, match="finite"):
        parse_hotwords([Hotword("yes", float("nan"))], ALPHABET)
