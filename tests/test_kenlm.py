"""The ``kenlm`` decoder: LM fusion through pyctcdecode with ctcasr's hotwords, on the digit LM
that ships in ``lm/`` (no KenLM tools needed except for the binary-format test)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import missing_tool

from ctcasr.decoding.beam import BeamDecoder
from ctcasr.decoding.kenlm import KenLMDecoder
from ctcasr.errors import ConfigError, CtcasrError, CtcasrWarning, LogProbError
from ctcasr.text import Alphabet

ALPHABET = Alphabet()
V = ALPHABET.num_classes
BLANK = ALPHABET.blank_index
DIGITS_LM = Path(__file__).resolve().parents[1] / "lm" / "digits-3gram.arpa"
DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def frames(spec: str, peak: float = 0.9, alt: dict[int, dict[str, float]] | None = None):
    """One frame per character of ``spec`` (``_`` = blank); ``alt[i]`` overrides frame i's
    probabilities for some characters, the rest of the mass spread evenly."""
    rows = []
    for i, char in enumerate(spec):
        probs = np.zeros(V)
        chosen = {("_" if char == "_" else char): peak} if not alt or i not in alt else alt[i]
        for c, p in chosen.items():
            probs[BLANK if c == "_" else ALPHABET.encode(c)[0]] = p
        rest = 1.0 - probs.sum()
        free = probs == 0
        probs[free] = rest / free.sum()
        rows.append(probs)
    return np.log(np.array(rows))


@pytest.fixture(scope="module")
def decoder() -> KenLMDecoder:
    return KenLMDecoder(ALPHABET, lm=DIGITS_LM, alpha=1.0, beta=1.0)


def test_the_lm_corrects_an_acoustic_confusion(decoder):
    # "nine" whose first letter sounds slightly more like "m"
    log_probs = frames("_n_i_n_e_", alt={1: {"m": 0.5, "n": 0.4}})
    assert BeamDecoder(ALPHABET).decode(log_probs)[0].text == "mine"
    best = decoder.decode(log_probs)[0]
    assert best.text == "nine"
    assert 0.0 < best.confidence < 1.0
    (word,) = best.words
    assert word.word == "nine" and word.start == pytest.approx(0.02)


def test_sequences_of_words_and_nbest(decoder):
    log_probs = frames("_o_n_e_ _t_w_o_ _t_h_r_e_e_")
    hyps = decoder.decode(log_probs, nbest=3)
    assert hyps[0].text == "one two three"
    assert [w.word for w in hyps[0].words] == ["one", "two", "three"]
    assert len({h.text for h in hyps}) == len(hyps)
    assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)


def test_hotwords_override_the_lm(decoder):
    log_probs = frames("_n_i_n_e_", alt={1: {"m": 0.45, "n": 0.5}})
    assert decoder.decode(log_probs)[0].text == "nine"
    boosted = KenLMDecoder(ALPHABET, lm=DIGITS_LM, alpha=1.0, beta=1.0, hotwords=["mine:30"])
    assert boosted.decode(log_probs)[0].text == "mine"
    phrase = KenLMDecoder(ALPHABET, lm=DIGITS_LM, hotwords=[("mine two", 30.0)])
    two_words = frames("_n_i_n_e_ _t_w_o_", alt={1: {"m": 0.45, "n": 0.5}})
    assert phrase.decode(two_words)[0].text == "mine two"


def test_an_unfinished_hotword_phrase_earns_nothing_at_the_end():
    """pyctcdecode's end-of-utterance scoring kept half of "mine two"'s bonus for "mine":
    with a weight of 80 that outweighed the acoustics and the LM. (Wide pruning, so that
    "nine" survives the search and only the final scoring decides.)"""
    log_probs = frames("_n_i_n_e_", alt={1: {"m": 0.45, "n": 0.5}})
    settings = {"lm": DIGITS_LM, "alpha": 1.0, "beta": 1.0, "beam_prune_logp": -100.0}
    plain = KenLMDecoder(ALPHABET, **settings).decode(log_probs, nbest=2)
    boosted = KenLMDecoder(ALPHABET, hotwords=[("mine two", 80.0)], **settings).decode(
        log_probs, nbest=2)
    assert [h.text for h in boosted] == [h.text for h in plain] == ["nine", "mine"]
    assert [h.score for h in boosted] == pytest.approx([h.score for h in plain])


def test_many_hotwords_leave_unrelated_results_alone(decoder):
    rng = np.random.default_rng(0)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(rng.choice(letters, 7)) + ":5" for _ in range(1000)]
    many = KenLMDecoder(ALPHABET, lm=DIGITS_LM, alpha=1.0, beta=1.0, hotwords=words)
    for spec in ("_s_e_v_e_n_", "_z_e_r_o_ _f_o_u_r_"):
        assert many.decode(frames(spec))[0].text == decoder.decode(frames(spec))[0].text


def test_agrees_with_pyctcdecode_used_directly():
    from pyctcdecode import build_ctcdecoder

    direct = build_ctcdecoder([*ALPHABET.labels, ""], str(DIGITS_LM), alpha=0.5, beta=1.0)
    ours = KenLMDecoder(ALPHABET, lm=DIGITS_LM, alpha=0.5, beta=1.0, beam_width=16)
    rng = np.random.default_rng(1)
    for _ in range(20):
        logits = rng.normal(0, 1, (60, V))
        target = np.where(rng.random(60) < 0.7, BLANK, rng.integers(0, BLANK, 60))
        logits[np.arange(60), target] += 6
        log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
        assert ours.decode(log_probs)[0].text == direct.decode(log_probs, beam_width=16)


def test_lm_weights_can_be_changed_without_reloading(decoder):
    log_probs = frames("_n_i_n_e_", alt={1: {"m": 0.6, "n": 0.3}})
    decoder.set_weights(alpha=0.0, beta=0.0)
    try:
        assert decoder.decode(log_probs)[0].text == "mine"
        decoder.set_weights(alpha=2.0, beta=1.0)
        assert decoder.decode(log_probs)[0].text == "nine"
    finally:
        decoder.set_weights(alpha=1.0, beta=1.0)


def test_word_list_is_checked_against_the_alphabet(tmp_path):
    words = tmp_path / "words.txt"
    words.write_text("# digits\nseven\neight\nnine\u03c9\n")
    with pytest.raises(ConfigError, match=r"words.txt:4: word 'nine\u03c9'.*'\u03c9'"):
        KenLMDecoder(ALPHABET, lm=DIGITS_LM, unigrams=words)
    words.write_text("seven\neight\n")
    decoder = KenLMDecoder(ALPHABET, lm=DIGITS_LM, unigrams=words)
    assert decoder.options()["unigrams"] == str(words)


def test_word_list_is_normalised_like_transcripts(tmp_path):
    """A BOM, capitals, digits and a line of two words were errors or one unmatchable word;
    the README says word lists are normalised, as hotwords are."""
    from ctcasr.decoding.kenlm import read_word_list

    words = tmp_path / "words.txt"
    words.write_bytes("\ufeffSeven\n2\nz\u00e9ro\nzero one\n\n".encode())
    assert read_word_list(words, ALPHABET) == ["seven", "two", "zero", "one"]
    words.write_text("seven\n!!!\n")
    with pytest.raises(ConfigError, match=r"words.txt:2: word '!!!' is empty after normal"):
        read_word_list(words, ALPHABET)


def test_a_word_list_or_lm_the_model_cannot_use_is_refused(tmp_path):
    """An upper-case LM (every word unspellable), a word list for another LM (no word in
    it) and an empty word list decoded silently, worse than greedy."""
    only_upper = tmp_path / "only_upper.arpa"
    lines = DIGITS_LM.read_text().splitlines()
    def upper(words: str) -> str:
        return " ".join(w if w.startswith("<") else w.upper() for w in words.split(" "))

    only_upper.write_text("\n".join(
        "\t".join([f[0], upper(f[1]), *f[2:]]) if len(f := line.split("\t")) > 1 else line
        for line in lines) + "\n")  # fmt: skip
    with pytest.raises(ConfigError, match="can spell none of the LM's"):
        KenLMDecoder(ALPHABET, lm=only_upper)
    other = tmp_path / "other.txt"
    other.write_text("apple\nbanana\n")
    with pytest.raises(ConfigError, match=r"other.txt: none of its 2 words is in the LM"):
        KenLMDecoder(ALPHABET, lm=DIGITS_LM, unigrams=other)
    empty = tmp_path / "empty.txt"  # taken as no list: every word the LM has was allowed
    for text in ("", "# only a comment\n\n"):
        empty.write_text(text)
        with pytest.raises(ConfigError, match=r"empty.txt: word list holds no words"):
            KenLMDecoder(ALPHABET, lm=DIGITS_LM, unigrams=empty)


def test_an_arpa_with_a_byte_order_mark_says_so(tmp_path):
    """An ARPA saved by a Windows editor or tool was "not a readable KenLM model (ARPA or
    binary)" and nothing more, though it looked fine in the editor."""
    import gzip

    bom = tmp_path / "bom.arpa"
    bom.write_bytes(b"\xef\xbb\xbf" + DIGITS_LM.read_bytes())
    zipped = tmp_path / "bom.arpa.gz"
    zipped.write_bytes(gzip.compress(bom.read_bytes()))
    for path in (bom, zipped):
        with pytest.raises(ConfigError) as caught:
            KenLMDecoder(ALPHABET, lm=path)
        assert str(caught.value) == (
            f"{path}: not a readable KenLM model (ARPA or binary): an ARPA file that starts "
            "with a UTF-8 byte-order mark, which kenlm cannot read; save it without one")
    garbage = tmp_path / "garbage.arpa"
    garbage.write_bytes(b"\xef\xbb\xbfhello\n")
    with pytest.raises(ConfigError, match=r"garbage.arpa: not a readable KenLM model \(ARPA or "
                       r"binary\)$"):  # fmt: skip
        KenLMDecoder(ALPHABET, lm=garbage)


def test_lm_words_the_model_cannot_spell_are_named_in_one_warning(tmp_path):
    """An LM made by another tool from text as written ("I", "Paris") had its unspellable
    words skipped without a word, so the model's "i" and "paris" scored as unknown words;
    only an LM with no spellable word at all was refused."""
    import re

    mixed = tmp_path / "mixed.arpa"
    mixed.write_text(re.sub(r"\b(seven|nine)\b", lambda m: m.group(1).upper(),
                            DIGITS_LM.read_text()))  # fmt: skip
    with pytest.warns(CtcasrWarning) as caught:
        decoder = KenLMDecoder(ALPHABET, lm=mixed)
    (warning,) = caught
    assert str(warning.message) == (
        f"{mixed}: 2 of the LM's 10 words have characters the model cannot emit, so they are "
        "never output (build the LM from normalised text: ctcasr lm build): 'SEVEN', 'NINE'")
    assert decoder.decode(frames("_t_w_o_"))[0].text == "two"


def test_listed_words_the_lm_lacks_are_named_in_one_warning(tmp_path):
    """pyctcdecode drops them from the list (its warning muted here) and scores them as
    unknown, and only a list with no word in the LM was refused: nobody was told which."""
    import warnings

    words = tmp_path / "words.txt"
    words.write_text("seven\napple\neight\nbanana\n")
    with pytest.warns(CtcasrWarning) as caught:
        decoder = KenLMDecoder(ALPHABET, lm=DIGITS_LM, unigrams=words)
    (warning,) = caught
    text = str(warning.message)
    assert "\n" not in text and text.startswith(f"{words}: 2 of its 4 words are not in the LM")
    assert text.endswith(": 'apple', 'banana'") and decoder.unigrams_source == str(words)
    many = [*DIGITS[:2], *(f"w{'x' * i}" for i in range(8))]
    with pytest.warns(CtcasrWarning, match=r"^unigrams: 8 of its 10 words .*'wxxxx' and 3 more$"):
        KenLMDecoder(ALPHABET, lm=DIGITS_LM, unigrams=many)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every word in the LM, or the LM's own: no warning
        KenLMDecoder(ALPHABET, lm=DIGITS_LM, unigrams=list(DIGITS))
        KenLMDecoder(ALPHABET, lm=DIGITS_LM)


def test_hotwords_the_lm_lacks_are_named_in_one_warning(tmp_path):
    """pyctcdecode scores a finished word the LM lacks as unknown, hotword or not: "marvin"
    scored -15.2 + its weight against -0.2 + its weight for "seven", with no word said."""
    import warnings

    with pytest.warns(CtcasrWarning) as caught:
        decoder = KenLMDecoder(ALPHABET, lm=DIGITS_LM,
                               hotwords=["marvin", "seven two:3", "sheila marvin"])  # fmt: skip
    assert [str(w.message) for w in caught] == [
        f"hotwords not in the LM {DIGITS_LM}, so scored as unknown words (a penalty their "
        "weight must make up for): 'marvin', 'sheila'"
    ]
    lm = decoder._decoder._language_model  # the penalty the warning is about
    start = lm.get_start_state()
    assert lm.score(start, "marvin")[0] < lm.score(start, "seven")[0] - 10
    words = tmp_path / "words.txt"  # with a word list, pyctcdecode knows only words in both
    words.write_text("seven\neight\n")
    with pytest.warns(CtcasrWarning, match=rf"^hotwords not in {words} or not in the LM .*: "
                      "'two'$"):  # fmt: skip
        KenLMDecoder(ALPHABET, lm=DIGITS_LM, unigrams=words, hotwords=["seven two"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # every hotword word in the LM: no warning
        KenLMDecoder(ALPHABET, lm=DIGITS_LM, hotwords=["seven two", "nine:2"])


@pytest.mark.parametrize("weights", [{"alpha": float("nan")}, {"beta": float("inf")},
                                     {"alpha": "x"}])  # fmt: skip
def test_lm_weights_must_be_finite_numbers(weights):
    with pytest.raises(ConfigError, match=r"(alpha|beta) must be a (finite number|float)"):
        KenLMDecoder(ALPHABET, lm=DIGITS_LM, **weights)
    decoder = KenLMDecoder(ALPHABET, lm=DIGITS_LM)
    with pytest.raises(ConfigError, match="must be a finite number"):
        decoder.set_weights(alpha=float("nan"))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "language model not found"),
        (b"", "not a readable KenLM model"),
        (b"this is not a language model\n", "not a readable KenLM model"),
        (b"\\data\\\nngram 1=5\n\n\\1-grams:\n-1.0\tone\n", "not a readable KenLM model"),
        (bytes(range(256)) * 4, "not a readable KenLM model"),
    ],
)
def test_missing_or_corrupt_lm_is_a_clear_error(tmp_path, content, message):
    path = tmp_path / "model.arpa"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(CtcasrError, match=message) as info:
        KenLMDecoder(ALPHABET, lm=path)
    assert "\n" not in str(info.value)


def test_bad_log_probs(decoder):
    with pytest.raises(LogProbError, match="classes"):
        decoder.decode(np.zeros((5, V - 1)))
    nan = frames("_a_")
    nan[1, 0] = np.nan
    with pytest.raises(LogProbError, match="NaN"):
        decoder.decode(nan)
    assert decoder.decode(np.zeros((0, V)))[0].text == ""


def test_needs_an_lm_and_a_space():
    with pytest.raises(ConfigError, match="needs a language model"):
        KenLMDecoder(ALPHABET)
    with pytest.raises(ConfigError, match="space"):
        KenLMDecoder(Alphabet(("a", "b")), lm=DIGITS_LM)


def test_binary_lm_decodes_like_the_arpa(tmp_path):
    from ctcasr.lm import build_lm, find_tool

    try:
        find_tool("build_binary")
    except ConfigError as exc:  # CI=1 failed nowhere else and skipped here
        missing_tool(f"KenLM tools not built ({exc})")
    corpus = Path(__file__).resolve().parents[1] / "lm" / "corpora" / "digits.txt"
    binary = build_lm(corpus, tmp_path / "digits.bin", order=3, binary=True, memory="64M").path
    words = tmp_path / "words.txt"
    words.write_text("zero\none\ntwo\nthree\nfour\nfive\nsix\nseven\neight\nnine\n")
    from_binary = KenLMDecoder(ALPHABET, lm=binary, unigrams=words, alpha=1.0, beta=1.0)
    from_arpa = KenLMDecoder(ALPHABET, lm=DIGITS_LM, alpha=1.0, beta=1.0)
    for spec in ("_n_i_n_e_", "_o_n_e_ _t_w_o_"):
        log_probs = frames(spec, alt={1: {"m": 0.5, "n": 0.4}})
        a, b = from_binary.decode(log_probs)[0], from_arpa.decode(log_probs)[0]
        assert a.text == b.text
        assert a.score == pytest.approx(b.score, abs=1e-3)


def test_a_binary_lm_the_model_cannot_spell_is_refused(tmp_path):
    """An upper-case binary LM given without a word list decoded with every word unknown
    (worse than no LM, and silently); its stored vocabulary is now checked as an ARPA's is."""
    import subprocess

    from ctcasr.lm import binary_vocabulary, find_tool

    try:
        build_binary = find_tool("build_binary")
    except ConfigError as exc:
        missing_tool(f"KenLM tools not built ({exc})")
    upper = tmp_path / "upper.arpa"
    upper.write_text("\n".join(
        "\t".join([f[0], " ".join(w if w.startswith("<") else w.upper() for w in f[1].split()),
                   *f[2:]]) if len(f := line.split("\t")) > 1 else line
        for line in DIGITS_LM.read_text().splitlines()) + "\n")  # fmt: skip
    for kind in ("probing", "trie"):
        binary = tmp_path / f"upper.{kind}.bin"
        subprocess.run([str(build_binary), kind, str(upper), str(binary)], check=True,
                       capture_output=True)  # fmt: skip
        assert sorted(binary_vocabulary(binary) or []) == sorted(w.upper() for w in DIGITS)
        with pytest.raises(ConfigError, match=r"upper\..*bin: the model can spell none of the"):
            KenLMDecoder(ALPHABET, lm=binary)
    lower = tmp_path / "digits.bin"
    subprocess.run([str(build_binary), str(DIGITS_LM), str(lower)], check=True,
                   capture_output=True)  # fmt: skip
    assert "seven" in (binary_vocabulary(lower) or [])
    KenLMDecoder(ALPHABET, lm=lower)  # a binary the model can spell loads as before
    assert binary_vocabulary(DIGITS_LM) is None


def test_a_new_lm_drops_the_word_list_stored_for_the_old_one(tmp_path):
    """A bundle tuned with --words kept decoding a new --lm with the old LM's word list (and
    tune stored it again); the stored list now goes with the stored LM."""
    import dataclasses

    from ctcasr.bundle import load_bundle
    from ctcasr.transcribe import decoder_settings

    stored = {"lm": "lm.arpa", "unigrams": "unigrams.txt", "alpha": 0.7}
    bundle = dataclasses.replace(load_bundle(None), path=tmp_path, decoder={"kenlm": stored})
    kept = decoder_settings(bundle, "kenlm", {"alpha": 1.0})
    assert kept["unigrams"] == str(tmp_path / "unigrams.txt") and kept["alpha"] == 1.0
    new = decoder_settings(bundle, "kenlm", {"lm": "/x/other.arpa"})
    assert "unigrams" not in new and new["lm"] == "/x/other.arpa" and new["alpha"] == 0.7
    both = decoder_settings(bundle, "kenlm", {"lm": "/x/other.arpa", "unigrams": "/x/w.txt"})
    assert both["unigrams"] == "/x/w.txt"


def test_a_gzipped_arpa_is_an_lm(tmp_path):
    """kenlm reads model.arpa.gz, but the header check refused it as 'not a readable model'."""
    import gzip

    from ctcasr.lm import is_arpa, read_unigrams

    gz = tmp_path / "digits.arpa.gz"
    gz.write_bytes(gzip.compress(DIGITS_LM.read_bytes()))
    assert is_arpa(gz) and read_unigrams(gz) == read_unigrams(DIGITS_LM)
    log_probs = np.log(np.full((12, ALPHABET.num_classes), 1.0 / ALPHABET.num_classes))
    plain, zipped = KenLMDecoder(ALPHABET, lm=DIGITS_LM), KenLMDecoder(ALPHABET, lm=gz)
    assert zipped.decode(log_probs)[0] == plain.decode(log_probs)[0]
    (tmp_path / "cut.arpa.gz").write_bytes(gz.read_bytes()[:40])
    with pytest.raises(ConfigError, match="not a readable KenLM model"):
        KenLMDecoder(ALPHABET, lm=tmp_path / "cut.arpa.gz")


def test_a_gzipped_word_list_is_read_once_as_gzip(tmp_path):
    """The list was read twice, the second time as plain text: a gzipped list passed the
    first read and failed the second with a UnicodeDecodeError."""
    import gzip

    listed = tmp_path / "words.txt.gz"
    with gzip.open(listed, "wt", encoding="utf-8") as handle:
        handle.write("\ufeff# digits\nZero\none two\n\nthree\n")
    from ctcasr.decoding.kenlm import read_word_list

    assert read_word_list(listed, ALPHABET) == ["zero", "one", "two", "three"]
    assert KenLMDecoder(ALPHABET, lm=DIGITS_LM, unigrams=listed).unigrams_source == str(listed)


def test_a_decoder_let_go_releases_its_language_model():
    """pyctcdecode holds every decoder's LanguageModel in a class-level dict until told to
    let it go: a service making a decoder per request (hotwords of its own) grew by one each
    (40 kB with a 113-word LM, more with a larger vocabulary)."""
    import gc

    from pyctcdecode.decoder import BeamSearchDecoderCTC

    gc.collect()  # decoders earlier tests left in reference cycles (a traceback's frames)
    held = len(BeamSearchDecoderCTC.model_container)
    for _ in range(5):
        KenLMDecoder(Alphabet(), lm=DIGITS_LM, hotwords=["seven:3"])
    gc.collect()
    assert len(BeamSearchDecoderCTC.model_container) == held


def test_a_rebuilt_lm_replaces_the_old_version_in_the_cache(tmp_path):
    """LMs are cached by path and modification time; a service whose LM file was rebuilt now
    and then kept every version it had loaded, one entry per rebuild."""
    import os

    from ctcasr.decoding import kenlm as kenlm_module

    lm = tmp_path / "lm.arpa"
    lm.write_bytes(DIGITS_LM.read_bytes())
    for version in range(3):
        os.utime(lm, (1_000_000 + version, 1_000_000 + version))
        hyp = KenLMDecoder(ALPHABET, lm=lm).decode(frames("_n_i_n_e_"))[0]
        assert hyp.text == "nine"
        held = [k for k in kenlm_module._LM_CACHE if k[0] == str(lm.resolve())]
        assert held == [(str(lm.resolve()), float(1_000_000 + version))]


def test_lms_of_many_files_are_not_all_kept_loaded(tmp_path):
    """A service decoding each request with an LM of its own (a temporary file, deleted
    after) kept every one loaded, and a binary LM its open file, one per request."""
    from ctcasr.decoding import kenlm as kenlm_module

    paths = []
    for i in range(3 * kenlm_module.LM_CACHE_SIZE):
        lm = tmp_path / f"lm{i}.arpa"
        lm.write_bytes(DIGITS_LM.read_bytes())
        KenLMDecoder(ALPHABET, lm=lm)
        paths.append(str(lm.resolve()))
        lm.unlink()
    held = [k[0] for k in kenlm_module._LM_CACHE if k[0] in paths]
    assert held == paths[-kenlm_module.LM_CACHE_SIZE :]
    kept = kenlm_module._load_kenlm(DIGITS_LM)  # the last used stays: no second load
    for i in range(kenlm_module.LM_CACHE_SIZE - 1):
        lm = tmp_path / f"more{i}.arpa"
        lm.write_bytes(DIGITS_LM.read_bytes())
        kenlm_module._load_kenlm(lm)
    assert kenlm_module._load_kenlm(DIGITS_LM) is kept


def test_an_lm_evicted_by_another_thread_meanwhile_is_still_returned(tmp_path, monkeypatch):
    """Threads of a service sharing the cache: another thread's loads could evict an LM
    between its lookup and its move to the recent end (KeyError), or change the cache while
    one looked for an older version (RuntimeError). Here the other thread's loads run at the
    worst instant, inside the lookup."""
    from collections import OrderedDict

    import ctcasr.lm
    from ctcasr.decoding import kenlm as kenlm_module

    monkeypatch.setattr(ctcasr.lm, "load_lm", lambda path: object())
    paths = []
    for i in range(kenlm_module.LM_CACHE_SIZE + 1):
        paths.append(tmp_path / f"lm{i}.arpa")
        paths[-1].write_text("stand-in")
    first, others = paths[0], paths[1:]

    class Interleaved(OrderedDict):
        def get(self, key, default=None):
            found = super().get(key, default)
            if key[0] == str(first.resolve()) and found is not None:
                for other in others:  # another thread, run at this instant
                    kenlm_module._load_kenlm(other)
            return found

    monkeypatch.setattr(kenlm_module, "_LM_CACHE", Interleaved())
    model = kenlm_module._load_kenlm(first)
    assert kenlm_module._load_kenlm(first) is model
    assert len(kenlm_module._LM_CACHE) <= kenlm_module.LM_CACHE_SIZE


def test_empty_file_names_from_python_are_refused_as_such(tmp_path: Path):
    """Path("") is ".", the current folder: an empty LM, word list, hotword file, command
    file, corpus or bundle name was read as that folder ("is a folder", "not a bundle")."""
    from ctcasr.bundle import load_bundle
    from ctcasr.decoding.grammar import read_commands
    from ctcasr.decoding.hotwords import read_hotword_specs, read_hotwords
    from ctcasr.decoding.kenlm import read_word_list
    from ctcasr.errors import BundleError
    from ctcasr.lm import build_lm

    corpus = tmp_path / "c.txt"
    corpus.write_text("one two\n", encoding="utf-8")
    calls = [
        ("lm", lambda: KenLMDecoder(ALPHABET, lm="")),
        ("unigrams", lambda: KenLMDecoder(ALPHABET, lm=DIGITS_LM, unigrams="")),
        ("word list", lambda: read_word_list("", ALPHABET)),
        ("hotword file", lambda: read_hotword_specs("")),
        ("hotword file", lambda: read_hotwords("")),
        ("command list", lambda: read_commands("")),
        ("corpus", lambda: build_lm("", tmp_path / "lm.arpa")),
        ("corpus", lambda: build_lm([corpus, ""], tmp_path / "lm.arpa")),
        ("LM output", lambda: build_lm(corpus, "")),
    ]
    for what, call in calls:
        with pytest.raises(ConfigError) as caught:
            call()
        assert str(caught.value) == f"{what}: empty file name (an unset shell variable?)"
    with pytest.raises(BundleError, match=r"^model bundle: empty file name"):
        load_bundle("")


def test_decoders_made_in_two_threads_at_once_leave_the_hosts_log_level(monkeypatch):
    """pyctcdecode's logger is muted while a decoder is made. Each maker restored the level it
    found, so with two request threads overlapping the second put back the first one's ERROR
    and the host's own pyctcdecode level was lost for the rest of the process."""
    import logging
    import threading

    import pyctcdecode.language_model

    made = pyctcdecode.language_model.LanguageModel
    first_in, first_out = threading.Event(), threading.Event()

    def overlapping(*args, **kwargs):  # the first waits inside until the second is inside
        if not first_in.is_set():
            first_in.set()
            assert second_in.wait(10)
        else:
            second_in.set()
            assert first_out.wait(10)  # and the second leaves after the first
        return made(*args, **kwargs)

    second_in = threading.Event()
    monkeypatch.setattr(pyctcdecode.language_model, "LanguageModel", overlapping)
    logger = logging.getLogger("pyctcdecode")
    monkeypatch.setattr(logger, "level", logging.INFO)  # the host's choice

    def first() -> None:
        KenLMDecoder(ALPHABET, lm=DIGITS_LM)
        first_out.set()

    threads = [threading.Thread(target=first)]
    threads[0].start()
    assert first_in.wait(10)
    second = threading.Thread(target=KenLMDecoder, args=(ALPHABET,), kwargs={"lm": DIGITS_LM})
    threads.append(second)
    threads[1].start()
    for thread in threads:
        thread.join(20)
    assert logger.level == logging.INFO
