"""The hotword scorer: completed phrases, partial progress, files and normalisation."""

from __future__ import annotations

import pytest

from ctcasr.decoding.hotwords import (
    DEFAULT_HOTWORD_WEIGHT,
    Hotword,
    HotwordScorer,
    parse_hotword,
    parse_hotwords,
    read_hotwords,
)
from ctcasr.errors import ConfigError
from ctcasr.text import Alphabet


def scorer(*specs) -> HotwordScorer:
    return HotwordScorer(parse_hotwords(specs))


# ---------------------------------------------------------------------------------------------
# completed phrases
# ---------------------------------------------------------------------------------------------


def test_completed_word_earns_its_weight():
    s = scorer("cat:3")
    assert s.score("cat") == 3.0
    assert s.score("the cat") == 3.0
    assert s.score("the cat sat") == 3.0
    assert s.score("the dog") == 0.0
    assert s.score("") == 0.0


def test_whole_words_only():
    s = scorer("cat:3")
    assert s.score("cats") == 0.0
    assert s.score("concat") == 0.0
    assert s.score("ca") == 0.0  # a finished text that stops part-way through a word


def test_repeated_occurrence_earns_twice():
    s = scorer("cat:3")
    assert s.score("cat and cat") == 6.0
    assert s.score("cat cat cat") == 9.0


def test_several_hotwords_add_up():
    s = scorer("cat:3", "dog:2", "hot dog:4")
    assert s.score("cat dog") == 5.0
    # "hot dog" completes both the phrase and the word "dog".
    assert s.score("a hot dog") == 6.0


def test_duplicate_hotwords_sum():
    s = scorer("cat:3", "cat:2")
    assert s.score("cat") == 5.0
    assert len(s) == 2


def test_multi_word_phrase_completion():
    s = scorer("turn on:7")
    assert s.score("turn on") == 7.0
    assert s.score("please turn on the light") == 7.0
    assert s.score("turn off") == 0.0
    assert s.score("turn it on") == 0.0
    assert s.score("on the turn") == pytest.approx(4.0)  # ends part-way: progress share


# ---------------------------------------------------------------------------------------------
# progress while a beam is part-way through a phrase
# ---------------------------------------------------------------------------------------------


def test_partial_word_progress_share():
    s = scorer("cat:3")
    assert s.prefix_bonus("c") == pytest.approx(1.0)
    assert s.prefix_bonus("ca") == pytest.approx(2.0)
    assert s.prefix_bonus("cat") == pytest.approx(3.0)
    assert s.prefix_bonus("cat ") == pytest.approx(3.0)
    assert s.prefix_bonus("the ca") == pytest.approx(2.0)
    assert s.prefix_bonus("") == 0.0


def test_multi_word_progress_after_first_word():
    s = scorer("turn on:7")  # 7 characters: each one is worth 1
    assert s.prefix_bonus("tu") == pytest.approx(2.0)
    assert s.prefix_bonus("turn") == pytest.approx(4.0)
    assert s.prefix_bonus("turn ") == pytest.approx(4.0)
    assert s.prefix_bonus("turn o") == pytest.approx(6.0)
    assert s.prefix_bonus("turn on") == pytest.approx(7.0)
    assert s.prefix_bonus("turn on ") == pytest.approx(7.0)
    assert s.prefix_bonus("now turn o") == pytest.approx(6.0)
    # A finished text that stops after the first word keeps the progress share.
    assert s.score("turn") == pytest.approx(4.0)


def test_progress_never_falls_while_following_the_phrase():
    s = scorer("switch the light on:9", "switch off:2")
    text = "switch the light on"
    bonuses = [s.prefix_bonus(text[:k]) for k in range(1, len(text) + 1)]
    assert bonuses == sorted(bonuses)
    assert bonuses[-1] == pytest.approx(9.0)


def test_leaving_the_phrase_drops_the_bonus():
    s = scorer("cat:3")
    assert s.prefix_bonus("cx") == 0.0
    assert s.prefix_bonus("cab") == 0.0
    assert s.prefix_bonus("ca ") == 0.0  # the word ended before the hotword did
    assert s.score("ca") == 0.0

    s = scorer("turn on:7")
    assert s.prefix_bonus("turn of") < s.prefix_bonus("turn o")
    assert s.prefix_bonus("turn off ") == 0.0
    assert s.score("turn off") == 0.0
    assert s.score("turn onward") == 0.0
    assert s.prefix_bonus("turn x ") == 0.0
    assert s.prefix_bonus("turns ") == 0.0


def test_negative_weight_penalises_only_when_complete():
    s = scorer("kat:-5")
    assert s.score("kat") == -5.0
    assert s.prefix_bonus("ka") == 0.0


# ---------------------------------------------------------------------------------------------
# pyctcdecode's interface
# ---------------------------------------------------------------------------------------------


def test_pyctcdecode_interface():
    s = scorer("cat:3", "turn on:7")
    assert "ca" in s
    assert "cat" in s
    assert "c" in s
    assert "turn" in s
    assert "dog" not in s
    assert "cx" not in s
    assert s.score_partial_token("ca") == pytest.approx(2.0)
    assert s.score_partial_token("tur") == pytest.approx(3.0)
    assert s.score_partial_token("dog") == 0.0
    assert s.score("the cat") == 3.0


def test_empty_scorer():
    s = HotwordScorer([])
    assert not s
    assert len(s) == 0
    assert s.score("anything at all") == 0.0
    assert s.prefix_bonus("any") == 0.0
    assert "a" not in s


def test_cache_does_not_change_answers():
    s = scorer("cat:3", "turn on:7")
    texts = ["the cat", "turn on", "turn", "cat cat", "x turn on cat"]
    first = [s.score(t) for t in texts]
    assert [s.score(t) for t in texts] == first
    s.reset()
    assert [s.score(t) for t in reversed(texts)] == first[::-1]


# ---------------------------------------------------------------------------------------------
# parsing, files, normalisation
# ---------------------------------------------------------------------------------------------


def test_parse_forms():
    assert parse_hotword("cat") == Hotword("cat", DEFAULT_HOTWORD_WEIGHT)
    assert parse_hotword("cat", default_weight=2.5) == Hotword("cat", 2.5)
    assert parse_hotword("some phrase:7.5") == Hotword("some phrase", 7.5)
    assert parse_hotword(("phrase", 2)) == Hotword("phrase", 2.0)
    hw = Hotword("x", 1.0)
    assert parse_hotword(hw) == hw  # checked and normalised like text (the same here)
    assert parse_hotword(Hotword(" X ", 1)) == hw
    assert parse_hotwords(None) == []
    assert parse_hotwords({"cat": 2.0}) == [Hotword("cat", 2.0)]


def test_normalisation():
    assert parse_hotword("Turn 2 Left").phrase == "turn two left"
    assert parse_hotword("  Turn   Left!  :3") == Hotword("turn left", 3.0)
    assert parse_hotword("Café").phrase == "cafe"
    # A normalised hotword matches a normalised transcript.
    s = scorer("Turn 2 Left:3")
    assert s.score("turn two left") == 3.0


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("word:abc", "not a number"),
        ("word:", "not a number"),
        ("word:nan", "finite"),
        ("word:-inf", "finite"),
        ("!!!", "empty"),
        (":3", "empty"),
    ],
)
def test_parse_errors(spec, match):
    with pytest.raises(ConfigError, match=match):
        parse_hotword(spec)


def test_characters_outside_alphabet():
    with pytest.raises(ConfigError, match="cannot emit"):
        parse_hotwords(["abc"], Alphabet(("a", "b")))
    assert parse_hotwords(["ab:2"], Alphabet(("a", "b"))) == [Hotword("ab", 2.0)]


def test_read_hotwords_file(tmp_path):
    path = tmp_path / "hotwords.txt"
    path.write_text(
        "# boosted words\n"
        "\n"
        "cat\n"
        "turn on:7\n"
        "Turn 2 Left\t3.5\n"
        "   # an indented comment\n"
        "  spaced out :2  \n",
        encoding="utf-8",
    )
    assert read_hotwords(path) == [
        Hotword("cat", DEFAULT_HOTWORD_WEIGHT),
        Hotword("turn on", 7.0),
        Hotword("turn two left", 3.5),
        Hotword("spaced out", 2.0),
    ]
    assert read_hotwords(path, default_weight=1.5)[0] == Hotword("cat", 1.5)


def test_read_hotwords_bad_line_names_file_and_line(tmp_path):
    path = tmp_path / "hotwords.txt"
    path.write_text("# header\ncat:2\nword:abc\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"hotwords\.txt:3: .*word:abc"):
        read_hotwords(path)


def test_read_hotwords_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        read_hotwords(tmp_path / "nope.txt")


def test_read_hotwords_empty_file(tmp_path):
    path = tmp_path / "hotwords.txt"
    path.write_text("# nothing here\n", encoding="utf-8")
    assert read_hotwords(path) == []


def test_a_phrase_left_unfinished_earns_nothing_at_the_end():
    s = scorer("turn on:7")
    assert s.prefix_bonus("turn ") > 0  # drawn towards the phrase mid-utterance
    assert s.final_score("turn") == 0.0  # but an utterance that stops there gets nothing
    assert s.final_score("turn on") == pytest.approx(7.0)


def test_a_plain_string_is_one_hotword_and_stored_weights_round_trip():
    """A string was split into its letters; a (phrase, weight) pair that JSON turned into a
    list was read as text; weights were stored rounded to six digits."""
    from ctcasr.decoding.beam import BeamDecoder

    assert [(h.phrase, h.weight) for h in parse_hotwords("seven")] == [("seven", 5.0)]
    assert [(h.phrase, h.weight) for h in parse_hotwords([["new york", 3.0]])] == [
        ("new york", 3.0)]
    decoder = BeamDecoder(Alphabet(), hotwords=[("seven", 0.123456789), ("one", 1234567.0)])
    assert decoder.options()["hotwords"] == ["seven:0.123456789", "one:1234567"]
    again = BeamDecoder(Alphabet(), **decoder.options())
    assert [h.weight for h in again.hotwords] == [0.123456789, 1234567.0]


def test_a_weight_given_as_text_is_the_weight():
    """A pair whose weight was a string was str()-ed and read as text: {"marvin": "8"} gave
    the phrase "marvin eight" at the default weight."""
    assert parse_hotwords({"marvin": "8"}) == [Hotword("marvin", 8.0)]
    assert parse_hotwords([["turn left", "6"]]) == [Hotword("turn left", 6.0)]
    assert parse_hotword(("cat", " 2.5 ")) == Hotword("cat", 2.5)
    with pytest.raises(ConfigError, match=r"'marvin'.*'loud' is not a number"):
        parse_hotwords({"marvin": "loud"})
    with pytest.raises(ConfigError, match=r"'cat'.*None is not a number"):
        parse_hotword(("cat", None))
    with pytest.raises(ConfigError, match=r"'cat'.*finite"):
        parse_hotword(["cat", "inf"])


def test_a_hotword_with_an_apostrophe_between_accented_letters_fires():
    """"l'été" was normalised to "l été", a phrase no hypothesis spells."""
    alphabet = Alphabet((" ", *"abcdefghijklmnopqrstuvwxyzéèàç", "'"))
    hotwords = parse_hotwords(["l'été:5"], alphabet)
    assert hotwords == [Hotword("l'été", 5.0)]
    assert HotwordScorer(hotwords).final_score("c'est l'été") == 5.0


def test_hotword_flags_are_checked_for_form_before_the_model_is_known(tmp_path):
    """The command line checked --hotword and --hotwords lines against the default alphabet
    before the model was loaded: a Cyrillic hotword for a Cyrillic model failed as
    unspellable. Form is checked first; spelling by the model's alphabet."""
    from ctcasr.cli import _decoder_options
    from ctcasr.decoding import create_decoder
    from ctcasr.errors import ConfigError
    from ctcasr.text import Alphabet

    listed = tmp_path / "hot.txt"
    listed.write_text("# words\nкіт\t2\n", encoding="utf-8")  # noqa: RUF001
    options = _decoder_options({"hotword": ["м'ята:3"], "hotwords_file": listed})
    assert options["hotwords"] == ["м'ята:3", "кіт:2"]
    cyrillic = Alphabet(tuple(" абвгґдеєжзиіїйклмнопрстуфхцчшщьюя'"))
    decoder = create_decoder("beam", cyrillic, 0.02, hotwords=options["hotwords"])
    assert [(h.phrase, h.weight) for h in decoder.hotwords] == [("м'ята", 3.0), ("кіт", 2.0)]
    with pytest.raises(ConfigError, match="cannot emit"):  # the default model cannot spell it
        create_decoder("beam", Alphabet(), 0.02, hotwords=options["hotwords"])
    for bad in ("кіт:loud", ":3", "кіт:nan"):
        with pytest.raises(ConfigError, match="hotword"):
            _decoder_options({"hotword": [bad]})


def test_an_unspellable_line_of_a_hotword_file_names_the_file_and_line(tmp_path):
    """Hotword files are spelled once the model is known; an unspellable line was reported
    as a bare hotword, without the file and line the README promises."""
    import pickle

    from ctcasr.cli import _decoder_options
    from ctcasr.decoding import create_decoder

    listed = tmp_path / "hot.txt"
    listed.write_text("cat\n# words\nnew 日本:3\n", encoding="utf-8")
    options = _decoder_options({"hotwords_file": listed})
    with pytest.raises(ConfigError, match=r"hot\.txt:3: hotword .*cannot emit: '日本'"):
        create_decoder("beam", Alphabet(), 0.02, hotwords=options["hotwords"])
    again = pickle.loads(pickle.dumps(options["hotwords"]))  # as worker processes get them
    assert [getattr(s, "where", None) for s in again] == [f"{listed}:1", f"{listed}:3"]


def test_hotwords_that_are_not_text_are_refused_in_one_line():
    """bytes were read as their byte values (b"yes" the hotwords "one hundred twenty one",
    ...), a number in the list was str()-ed into a hotword ("five"), and a number alone was
    "not iterable"."""
    from ctcasr.decoding import create_decoder

    alphabet = Alphabet()
    for bad, said in ((b"yes", "got bytes"), (5, "got int"), ([5], "hotword 5 must be a string"),
                      ([(None, 2.0)], "hotword None must be a string")):  # fmt: skip
        with pytest.raises(ConfigError, match=said):
            parse_hotwords(bad, alphabet)
        with pytest.raises(ConfigError, match=said):
            create_decoder("beam", alphabet, hotwords=bad)
    assert [h.phrase for h in parse_hotwords(["yes", ("no", 2.0)], alphabet)] == ["yes", "no"]


def test_utf16_text_files_are_one_line_not_utf8_errors(tmp_path):
    """A UTF-16 command file, hotword file, word list or manifest (Windows' "Unicode") gave the
    codec's message; each now names the file, says it is not UTF-8, and why. UTF-8 stays the
    only encoding read, as for corpora and LMs."""
    from ctcasr.decoding.grammar import read_commands
    from ctcasr.decoding.hotwords import read_hotword_specs
    from ctcasr.errors import CtcasrError
    from ctcasr.lm import read_unigrams
    from ctcasr.manifest import read_manifest

    path = tmp_path / "list.txt"
    path.write_text("\ufeffyes\nno\n", encoding="utf-16-le")
    for read in (read_commands, read_hotword_specs, read_unigrams, read_manifest):
        with pytest.raises(CtcasrError) as info:
            read(path)
        (line,) = str(info.value).splitlines()
        assert line.startswith(f"{path}: ") and "not UTF-8 text (byte 0: " in line, line
        assert line.endswith("starts with a UTF-16 byte-order mark: save it as UTF-8"), line
    path.write_bytes(b"\xef\xbb\xbfyes\n\xffno\n")  # the offset counts the UTF-8 mark
    with pytest.raises(ConfigError, match=r"command list is not UTF-8 text \(byte 7: "):
        read_commands(path)


def test_a_hotword_files_path_as_the_hotwords_option_reads_the_file(tmp_path, monkeypatch):
    """``commands`` and ``unigrams`` take a file's path; ``hotwords`` took one as a phrase:
    ``-O hotwords=hot.txt`` (``decoder_options={"hotwords": "hot.txt"}``) boosted the one
    hotword "hottxt" and never read the file, and a Path was refused."""
    from ctcasr.decoding.beam import BeamDecoder

    (tmp_path / "hot.txt").write_text("seven:3\nturn on the lights\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    expected = [Hotword("seven", 3.0), Hotword("turn on the lights", 5.0)]
    for path in ("hot.txt", str(tmp_path / "hot.txt"), tmp_path / "hot.txt"):
        assert BeamDecoder(Alphabet(), hotwords=path).hotwords == expected
    assert parse_hotwords("marvin") == [Hotword("marvin", 5.0)]  # no such file: a phrase
    with pytest.raises(ConfigError, match=r"^/no/hot\.txt: hotword file not found$"):
        parse_hotwords("/no/hot.txt")
