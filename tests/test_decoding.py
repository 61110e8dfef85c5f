"""Greedy CTC decoding on hand-made log-probability matrices over the default alphabet."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from ctcasr.decoding import greedy_decode, greedy_decode_batch, greedy_path
from ctcasr.errors import LogProbError
from ctcasr.text import Alphabet
from tests.helpers import spec_frames

ALPHABET = Alphabet()
V = ALPHABET.num_classes  # 29
BLANK = ALPHABET.blank_index  # 28
assert (V, BLANK) == (29, 28)


def frames(spec: str, peak: float = 0.9) -> np.ndarray:
    return spec_frames(spec, peak, ALPHABET)


def one_hot(spec: str) -> np.ndarray:
    """Certain frames: probability 1 for the symbol, log(0) = -inf elsewhere."""
    with np.errstate(divide="ignore"):
        return frames(spec, peak=1.0)


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("yes", "yes"),
        ("_y_e_s_", "yes"),
        ("yyy__eeesss", "yes"),
        ("aa", "a"),  # repeats collapse
        ("a_a", "aa"),  # a blank between repeats keeps both
        ("aa__aa", "aa"),
        ("hel_lo", "hello"),
        ("hello", "helo"),  # without a blank the double l collapses
        ("don''t", "don't"),
        ("go  on", "go on"),
        ("___", ""),
        ("_", ""),
        ("  yes  ", "yes"),  # leading/trailing spaces are stripped
        ("_ _no_ _", "no"),
    ],
)
def test_greedy_decode(spec, text):
    assert greedy_decode(frames(spec), ALPHABET).text == text


def test_empty_input_gives_empty_text():
    hyp = greedy_decode(np.zeros((0, V), dtype=np.float32), ALPHABET)
    assert hyp.text == ""
    assert 0.0 <= hyp.confidence <= 1.0


def test_argmax_wins_over_runner_up():
    probs = np.full((2, V), 0.01)
    probs[0, ALPHABET.encode("n")[0]] = 0.4
    probs[0, ALPHABET.encode("m")[0]] = 0.35
    probs[1, ALPHABET.encode("o")[0]] = 0.3
    probs[1, BLANK] = 0.29
    probs /= probs.sum(axis=1, keepdims=True)
    assert greedy_decode(np.log(probs), ALPHABET).text == "no"


def test_greedy_path_reports_start_frames():
    ids, starts = greedy_path(frames("_hh_ii_"), BLANK)
    assert ALPHABET.decode(ids.tolist()) == "hi"
    assert starts.tolist() == [1, 4]


def test_confidence_certain_path_is_one():
    hyp = greedy_decode(one_hot("_yes_"), ALPHABET)
    assert hyp.text == "yes"
    assert hyp.confidence == pytest.approx(1.0)
    assert hyp.score == pytest.approx(0.0)


@pytest.mark.parametrize("peak", [0.2, 0.5, 0.9, 0.999])
def test_confidence_and_score_reflect_peak(peak):
    hyp = greedy_decode(frames("_no_", peak=peak), ALPHABET)
    assert 0.0 <= hyp.confidence <= 1.0
    # Every frame's best class has probability ``peak``.
    assert hyp.confidence == pytest.approx(peak)
    assert hyp.score == pytest.approx(4 * np.log(peak))


def test_confidence_orders_by_certainty():
    sure = greedy_decode(frames("yes", peak=0.95), ALPHABET)
    unsure = greedy_decode(frames("yes", peak=0.4), ALPHABET)
    assert sure.text == unsure.text == "yes"
    assert sure.confidence > unsure.confidence
    assert sure.score > unsure.score


@pytest.mark.parametrize("classes", [28, 30, 1])
def test_wrong_class_count_raises(classes):
    with pytest.raises(ValueError, match="classes"):
        greedy_decode(np.zeros((5, classes)), ALPHABET)


@pytest.mark.parametrize("shape", [(V,), (2, 3, V)])
def test_wrong_rank_raises(shape):
    # LogProbError, not any ValueError: numpy's own shape errors are ValueErrors too.
    with pytest.raises(LogProbError, match=r"expected a \[frames, classes\] array, got shape"):
        greedy_decode(np.zeros(shape), ALPHABET)


def test_nan_raises():
    log_probs = frames("yes")
    log_probs[1, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        greedy_decode(log_probs, ALPHABET)


def test_rows_whose_probabilities_sum_over_one_are_refused():
    """An all-zero array (every class "probability 1") passed every check and was decoded
    into letters at confidence 1; rows summing under 1 (pruned classes) are still taken."""
    from ctcasr.decoding import create_decoder

    for name in ("greedy", "beam"):
        decoder = create_decoder(name, ALPHABET)
        with pytest.raises(LogProbError, match="frame 0's probabilities sum to 29, over 1: "
                                               "apply log_softmax first"):
            decoder.decode(np.zeros((5, V), np.int64))
    pruned = frames("yes")
    pruned[pruned < np.log(0.01)] = -np.inf  # only the likeliest classes kept
    assert greedy_decode(pruned, ALPHABET).text == "yes"
    # A frame with nothing possible sums to 0, without numpy's "invalid value" warning.
    pruned[1] = -np.inf
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        greedy_decode(pruned, ALPHABET)


def test_custom_alphabet_blank():
    alphabet = Alphabet(("a", "b"))  # blank is index 2
    log_probs = np.log(
        np.array([[0.8, 0.1, 0.1], [0.1, 0.1, 0.8], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1]])
    )
    assert greedy_decode(log_probs, alphabet).text == "aab"
    with pytest.raises(LogProbError, match="have 29 classes but the alphabet has 2 symbols"):
        greedy_decode(frames("ab"), alphabet)


def _pad(specs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    T = max(len(s) for s in specs)
    batch = np.zeros((len(specs), T, V))
    # Padding frames are confidently a letter: decoding them would change the text.
    batch[:] = frames("z" * T) if T else 0
    for i, spec in enumerate(specs):
        batch[i, : len(spec)] = frames(spec)
    return batch, np.array([len(s) for s in specs])


def test_batch_with_lengths_equals_per_row():
    specs = ["_yes_", "n_o", "", "stop__", "a_a"]
    batch, lengths = _pad(specs)
    hyps = greedy_decode_batch(batch, lengths, ALPHABET)
    assert [h.text for h in hyps] == ["yes", "no", "", "stop", "aa"]
    for spec, hyp in zip(specs, hyps, strict=True):
        single = greedy_decode(frames(spec), ALPHABET)
        assert hyp.text == single.text
        assert hyp.score == pytest.approx(single.score)
        assert hyp.confidence == pytest.approx(single.confidence)


def test_batch_without_lengths_uses_all_frames():
    batch, _ = _pad(["yes", "no"])
    assert [h.text for h in greedy_decode_batch(batch, None, ALPHABET)] == ["yes", "noz"]


def test_batch_rejects_bad_shapes():
    with pytest.raises(LogProbError, match=r"expected a \[batch, frames, classes\] array"):
        greedy_decode_batch(frames("yes"), None, ALPHABET)
    batch, _ = _pad(["yes", "no"])
    with pytest.raises(LogProbError, match=r"lengths \[3\] do not fit a batch of shape"):
        greedy_decode_batch(batch, np.array([3]), ALPHABET)


def test_batch_padding_is_not_validated():
    # Only the frames inside each row's length are the model's output; padding may be junk.
    batch = np.stack([frames("_a_b_"), frames("_c___")])
    batch[1, 3:] = np.nan
    from ctcasr.decoding.greedy import GreedyDecoder

    out = GreedyDecoder(ALPHABET).decode_batch(batch, lengths=[5, 3])
    assert [h[0].text for h in out] == ["ab", "c"]
    batch[1, 1] = np.nan  # inside the length: still an error
    with pytest.raises(ValueError, match="NaN"):
        GreedyDecoder(ALPHABET).decode_batch(batch, lengths=[5, 3])


def test_float16_scores_are_summed_in_float64():
    long = np.tile(frames("_a_"), (10_000, 1)).astype(np.float16)  # 30,000 frames
    hyp = greedy_decode(long, ALPHABET)
    expected = float(long.astype(np.float64).max(axis=1).sum())
    assert np.isfinite(hyp.score) and hyp.score == pytest.approx(expected, rel=1e-6)


def test_confidence_never_exceeds_one():
    lp = one_hot("a")
    lp[0, ALPHABET.encode("a")[0]] = 5e-4  # within check_log_probs' rounding allowance
    hyp = greedy_decode(lp, ALPHABET)
    assert hyp.confidence == 1.0 and all(w.confidence <= 1.0 for w in hyp.words)


def test_forced_align_refuses_an_impossible_transcript():
    from ctcasr.decoding.align import forced_align

    lp = one_hot("_a_b_")  # only "ab" has a finite probability
    assert forced_align(lp, ALPHABET.encode("ab"), BLANK, ALPHABET.space_index) == [1, 3]
    assert forced_align(lp, ALPHABET.encode("ba"), BLANK, ALPHABET.space_index) is None
