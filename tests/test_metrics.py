"""error_report against WER/CER and edit counts worked out by hand."""

from __future__ import annotations

import json

import jiwer
import pytest

from ctcasr.errors import ConfigError
from ctcasr.metrics import error_report, interval_text, mcnemar_worse_p, wilson_interval


def test_perfect_transcripts():
    report = error_report(["yes", "go on"], ["yes", "go on"])
    assert report.wer == 0.0 and report.cer == 0.0
    assert (report.substitutions, report.deletions, report.insertions) == (0, 0, 0)
    assert report.hits == 3 and report.ref_words == 3
    assert report.ref_chars == 8  # "yes" + "go on", spaces count as characters
    assert report.sentence_accuracy == 1.0
    assert report.utterances == 2
    assert report.worst == []


def test_one_substitution():
    # ref "a b c" / hyp "a x c": 1 of 3 words substituted; 1 of 5 characters.
    report = error_report(["a b c"], ["a x c"])
    assert (report.substitutions, report.deletions, report.insertions) == (1, 0, 0)
    assert report.hits == 2
    assert report.wer == pytest.approx(1 / 3)
    assert report.char_substitutions == 1
    assert report.ref_chars == 5
    assert report.cer == pytest.approx(1 / 5)
    assert report.sentence_accuracy == 0.0


def test_deletion_and_insertion():
    # ref "a b c d" / hyp "a c d e": delete b, insert e -> 2 errors over 4 words.
    report = error_report(["a b c d"], ["a c d e"])
    assert (report.substitutions, report.deletions, report.insertions) == (0, 1, 1)
    assert report.wer == pytest.approx(2 / 4)
    assert report.ref_words == 4


def test_corpus_rates_sum_errors_over_utterances():
    refs = ["the cat sat", "on the mat", "yes"]
    hyps = ["the cat sat down", "on mat", "yes"]
    report = error_report(refs, hyps)
    # 1 insertion + 1 deletion over 3 + 3 + 1 = 7 reference words (not a mean of per-utt rates).
    assert (report.substitutions, report.deletions, report.insertions) == (0, 1, 1)
    assert report.ref_words == 7
    assert report.wer == pytest.approx(2 / 7)
    # Characters: " down" is 5 insertions, "the " 4 deletions; 11 + 10 + 3 = 24 reference chars.
    assert report.char_insertions == 5
    assert report.char_deletions == 4
    assert report.ref_chars == 24
    assert report.cer == pytest.approx(9 / 24)
    assert report.sentence_accuracy == pytest.approx(1 / 3)


def test_character_errors_within_words():
    # "kitten" -> "sitting": 2 substitutions + 1 insertion over 6 characters; 1 word substituted.
    report = error_report(["kitten"], ["sitting"])
    assert report.wer == 1.0
    assert report.char_substitutions == 2
    assert report.char_insertions == 1
    assert report.char_deletions == 0
    assert report.cer == pytest.approx(3 / 6)


def test_wer_can_exceed_one():
    report = error_report(["yes"], ["no no no"])
    assert (report.substitutions, report.insertions) == (1, 2)
    assert report.wer == pytest.approx(3.0)


def test_worst_list_ordering_and_contents():
    refs = ["a b c", "a b c", "a b c", "a b c", "x"]
    hyps = ["a b c", "a b d", "d e f", "a b cc", "y z w"]
    ids = ["ok", "one", "three", "char", "many"]
    report = error_report(refs, hyps, ids=ids)
    # Exact matches are left out; most word errors first, then higher CER, then id.
    assert [u.id for u in report.worst] == ["many", "three", "char", "one"]
    many, three, char, one = report.worst
    assert (many.word_errors, many.ref_words) == (3, 1)
    assert (three.word_errors, three.ref_words) == (3, 3)
    assert (char.word_errors, one.word_errors) == (1, 1)
    assert char.cer == pytest.approx(1 / 5)
    assert one.cer == pytest.approx(1 / 5)  # tie on both keys: ordered by id ("char" < "one")
    assert three.cer == pytest.approx(3 / 5)
    assert (three.reference, three.hypothesis) == ("a b c", "d e f")


def test_worst_is_truncated():
    refs = [f"w{i}" for i in range(20)]
    hyps = ["x"] * 20
    report = error_report(refs, hyps, worst=5)
    assert len(report.worst) == 5
    assert error_report(refs, hyps, worst=0).worst == []
    assert report.wer == 1.0


def test_default_ids_are_positions():
    report = error_report(["a", "b", "c"], ["a", "x", "c"])
    assert [u.id for u in report.worst] == ["1"]


def test_empty_reference_among_others():
    # An empty reference contributes no reference words; its hypothesis words are insertions.
    report = error_report(["", "a b"], ["x", "a b"])
    assert report.insertions == 1
    assert report.ref_words == 2
    assert report.wer == pytest.approx(1 / 2)
    assert report.sentence_accuracy == pytest.approx(1 / 2)
    assert [u.id for u in report.worst] == ["0"]
    assert report.worst[0].ref_words == 0


def test_all_empty_references():
    both_empty = error_report([""], [""])
    assert both_empty.wer == 0.0 and both_empty.cer == 0.0
    assert both_empty.sentence_accuracy == 1.0
    # With no reference words the rate is the error count, as jiwer gives it: it was inf,
    # which --json wrote as Infinity (not JSON) and tune stored in bundle.json.
    inserted = error_report([""], ["x y"])
    assert inserted.insertions == 2
    assert inserted.wer == 2.0 == jiwer.wer([""], ["x y"]) and inserted.cer == 3.0
    assert json.loads(json.dumps(inserted.to_dict(), allow_nan=False))["wer"] == 2.0
    with pytest.raises(ConfigError, match="worst must be 0 or more, got -1"):
        error_report(["a"], ["b"], worst=-1)


def test_all_empty_references_print_no_rate():
    """With no reference words the rates hold the error count: three words output printed as
    "WER 300.00%", a count shown as a rate."""
    summary = error_report(["", ""], ["x y", "z"]).summary()
    assert summary.startswith("WER n/a (S=0 D=0 I=3 N=0)  CER n/a  exact 0.00% of 2 ")
    assert summary.endswith("; WER and CER n/a: every reference is empty (no words to divide "
                            "the errors by)")  # fmt: skip
    assert "%" not in summary.split("exact")[0]
    assert error_report([""], [""]).summary().startswith("WER n/a (S=0 D=0 I=0 N=0)  CER n/a")
    assert "n/a" not in error_report(["", "a"], ["x", "a"]).summary()  # one reference is enough


def test_failed_utterances_are_never_exact():
    report = error_report(["", "a", ""], ["", "a", ""], failed=[2])
    assert report.sentence_accuracy == pytest.approx(2 / 3)
    assert report.wer == 0.0


def test_empty_hypothesis_is_all_deletions():
    report = error_report(["a b"], [""])
    assert report.deletions == 2
    assert report.wer == 1.0
    assert report.cer == 1.0


@pytest.mark.parametrize(("refs", "hyps"), [(["a"], []), ([], ["a"]), (["a", "b"], ["a"])])
def test_mismatched_lengths_raise(refs, hyps):
    with pytest.raises(ValueError, match="references"):
        error_report(refs, hyps)


@pytest.mark.parametrize("ids", [["x"], ["x", "y", "z"]])
def test_ids_not_one_per_reference_raise(ids):
    """Said as such, not as zip()'s "argument 2 is longer than argument 1"."""
    with pytest.raises(ValueError, match=rf"^{len(ids)} ids for 2 references$"):
        error_report(["a", "b"], ["a", "c"], ids=ids)


def test_no_utterances_raise():
    with pytest.raises(ValueError, match="no utterances"):
        error_report([], [])


def test_summary_and_dict():
    report = error_report(["a b c"], ["a x c"])
    summary = report.summary()
    assert "WER 33.33%" in summary and "S=1" in summary and "N=3" in summary
    assert summary.endswith("of 1 utterance")  # was "of 1 utterances"
    data = report.to_dict()
    assert data["wer"] == pytest.approx(1 / 3)
    assert data["worst"][0]["id"] == "0"


@pytest.mark.parametrize("hits,n", [(52, 60), (496, 540), (0, 10), (10, 10), (1, 1), (3, 7)])
def test_wilson_interval_matches_scipy(hits, n):
    from scipy.stats import binomtest

    expected = binomtest(hits, n).proportion_ci(0.95, method="wilson")
    lo, hi = wilson_interval(hits, n)
    # scipy uses the exact normal quantile 1.95996..., the interval here z = 1.96
    assert lo == pytest.approx(expected.low, abs=2e-4)
    assert hi == pytest.approx(expected.high, abs=2e-4)
    assert 0.0 <= lo <= hits / n <= hi <= 1.0


def test_interval_text_and_bad_counts():
    assert interval_text(52, 60) == "52/60; 95% CI 75.8%-93.1%"
    for hits, n in ((1, 0), (-1, 5), (6, 5)):
        with pytest.raises(ValueError, match="successes <= trials"):
            wilson_interval(hits, n)


@pytest.mark.parametrize("worse,better", [(0, 0), (2, 0), (5, 1), (3, 3), (1, 6), (12, 4)])
def test_mcnemar_worse_p_matches_scipy(worse, better):
    from scipy.stats import binomtest

    p = mcnemar_worse_p(worse, better)
    if worse + better == 0:
        assert p == 1.0  # nothing discordant: no evidence either way
    else:
        expected = binomtest(worse, worse + better, 0.5, alternative="greater").pvalue
        assert p == pytest.approx(expected, rel=1e-12)
    assert mcnemar_worse_p(2, 0) == 0.25  # two clips lost, none won: not evidence at 0.05
    with pytest.raises(ValueError, match="non-negative"):
        mcnemar_worse_p(-1, 2)


def test_composed_and_decomposed_letters_are_the_same_text():
    """A reference written decomposed ("e" + combining acute, as some editors and file
    systems store it) is the hypothesis's composed "é": no error, and one character each."""
    report = error_report(["cafe\u0301 noir"], ["caf\u00e9 noir"])
    assert report.wer == 0.0 and report.cer == 0.0 and report.sentence_accuracy == 1.0
    assert report.ref_chars == 9
    swapped = error_report(["caf\u00e9 noir"], ["cafe\u0301 noir"])
    assert swapped.wer == 0.0 and swapped.cer == 0.0
    # An accent really missing is still one substituted character of nine.
    assert error_report(["cafe\u0301 noir"], ["cafe noir"]).cer == pytest.approx(1 / 9)


@pytest.mark.parametrize("failed", [[2], [-1], [0, 7]])
def test_failed_positions_outside_the_references_raise(failed):
    """A failure at a position past the end was ignored: its clip counted as exact."""
    with pytest.raises(ValueError, match=r"^failed positions \[.*\] outside 0\.\.1$"):
        error_report(["a", "b"], ["a", "b"], failed=failed)
    assert error_report(["a", "b"], ["a", "b"], failed=[1]).sentence_accuracy == 0.5
