"""Alphabet, alphabet files, transcript normalisation and number spelling."""

from __future__ import annotations

import string

import pytest

from ctcasr.errors import AlphabetError
from ctcasr.text import Alphabet, normalize_text, number_to_words, ordinal_to_words, spell

# ---------------------------------------------------------------------------------------------
# Alphabet
# ---------------------------------------------------------------------------------------------


def test_default_alphabet_is_space_letters_apostrophe():
    alphabet = Alphabet()
    assert alphabet.labels == (" ", *string.ascii_lowercase, "'")
    assert len(alphabet) == 28
    # The CTC blank is the class after the last label.
    assert alphabet.blank_index == 28
    assert alphabet.num_classes == 29
    assert " " in alphabet and "'" in alphabet and "q" in alphabet
    assert "A" not in alphabet and "#" not in alphabet and "" not in alphabet


def test_blank_index_follows_custom_alphabet_size():
    alphabet = Alphabet(("x", "y", "z"))
    assert alphabet.blank_index == len(alphabet) == 3
    assert alphabet.num_classes == 4


def test_encode_gives_label_positions():
    alphabet = Alphabet()
    assert alphabet.encode("ab z'") == [1, 2, 0, 26, 27]
    assert alphabet.encode("") == []


@pytest.mark.parametrize("text", ["", "a", "hello world", "don't stop", "zzz ' a"])
def test_encode_decode_round_trip(text):
    alphabet = Alphabet()
    assert alphabet.decode(alphabet.encode(text)) == text


def test_decode_skips_blank_and_out_of_range_ids():
    alphabet = Alphabet()
    blank = alphabet.blank_index
    assert alphabet.decode([blank, 8, blank, 9, blank]) == "hi"
    assert alphabet.decode([-1, 8, 99]) == "h"


def test_encode_rejects_characters_outside_alphabet():
    alphabet = Alphabet()
    with pytest.raises(AlphabetError) as info:
        alphabet.encode("Hi 2!")
    message = str(info.value)
    for char in "H2!":
        assert char in message
    assert alphabet.unknown_chars("Hi 2!H") == ["H", "2", "!"]


@pytest.mark.parametrize(
    ("labels", "fragment"),
    [((), "empty"), (("a", "bc"), "one character"), (("a", "b", "a"), "duplicates")],
)
def test_invalid_label_tuples(labels, fragment):
    with pytest.raises(AlphabetError, match=fragment):
        Alphabet(labels)


# ---------------------------------------------------------------------------------------------
# Alphabet files
# ---------------------------------------------------------------------------------------------


def test_default_alphabet_file_round_trip(tmp_path):
    path = tmp_path / "alphabet.txt"
    Alphabet().save(path)
    loaded = Alphabet.from_file(path)
    assert loaded == Alphabet()
    # The space symbol is stored as a line holding one space.
    assert " " in path.read_text(encoding="utf-8").splitlines()


def test_file_round_trip_escapes_hash(tmp_path):
    alphabet = Alphabet((" ", "#", "a", "\\", "é", "1"))
    path = tmp_path / "alphabet.txt"
    alphabet.save(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert "\\#" in lines  # a literal '#' must not be read back as a comment
    loaded = Alphabet.from_file(path)
    assert loaded.labels == alphabet.labels
    assert loaded.encode("# a") == alphabet.encode("# a")


def test_from_file_skips_comments_and_reads_space(tmp_path):
    path = tmp_path / "alphabet.txt"
    path.write_text("# my alphabet\n \na\n# another comment\nb\n\\#\n", encoding="utf-8")
    assert Alphabet.from_file(path).labels == (" ", "a", "b", "#")


@pytest.mark.parametrize(
    ("content", "lineno", "fragment"),
    [
        ("a\nb\na\n", 3, "duplicate"),
        ("a\n\nb\n", 2, "empty"),
        ("# header\na\nab\n", 3, "single character"),
        ("a\n  \n", 2, "single character"),  # two spaces is not the space symbol
    ],
)
def test_bad_alphabet_file_names_file_and_line(tmp_path, content, lineno, fragment):
    path = tmp_path / "bad_alphabet.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(AlphabetError, match=fragment) as info:
        Alphabet.from_file(path)
    assert f"{path}:{lineno}:" in str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("content", ["", "# only a comment\n# and another\n"])
def test_empty_alphabet_file(tmp_path, content):
    path = tmp_path / "empty_alphabet.txt"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(AlphabetError, match="no entries") as info:
        Alphabet.from_file(path)
    assert str(path) in str(info.value)


def test_missing_alphabet_file(tmp_path):
    path = tmp_path / "nope" / "alphabet.txt"
    with pytest.raises(AlphabetError, match="not found") as info:
        Alphabet.from_file(path)
    assert str(path) in str(info.value)


def test_undecodable_alphabet_file(tmp_path):
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"a\n\xe9\n")
    with pytest.raises(AlphabetError) as info:
        Alphabet.from_file(path)
    assert str(path) in str(info.value)


def test_alphabet_directory_is_an_alphabet_error(tmp_path):
    with pytest.raises(AlphabetError) as info:
        Alphabet.from_file(tmp_path)
    assert str(tmp_path) in str(info.value)


# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Set 2", "set two"),
        ("Don't STOP!", "don't stop"),
        ("1,205", "one thousand two hundred five"),
        ("1,000,000 people", "one million people"),
        ("3rd", "third"),
        ("the 21st and 22nd", "the twenty first and twenty second"),
        ("12th", "twelfth"),
        ("40th", "fortieth"),
        ("3,000th", "three thousandth"),
        ("3.5", "three point five"),
        ("10.05", "ten point zero five"),
        ("007", "zero zero seven"),
        ("0", "zero"),
        ("It\u2019s \u2018fine\u2019", "it's fine"),
        ("caf\u00e9", "cafe"),
        ("cafe\u0301", "cafe"),  # decomposed accent
        ("Z\u00fcrich Ma\u00f1ana", "zurich manana"),
        ('he said "hi"', "he said hi"),
        ("'quoted' words", "quoted words"),
        ("rock-n-roll and/or", "rock n roll and or"),
        ("well... OK?!", "well ok"),
        ("  lots   of\tspace\n", "lots of space"),
        ("5% R&D C++ x@y", "five percent r and d c plus plus x at y"),
        ("", ""),
        ("?!", ""),
    ],
)
def test_normalize_examples(raw, expected):
    assert normalize_text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Digits running into letters are still spoken, never silently dropped.
        ("the 1980s", "the one thousand nine hundred eighty s"),
        ("4k video", "four k video"),
        ("mp3", "mp three"),
        ("b2b", "b two b"),
    ],
)
def test_normalize_keeps_digits_attached_to_letters(raw, expected):
    assert normalize_text(raw) == expected


def test_normalize_does_not_group_non_thousands_commas():
    # "12,34" is not a thousands separator; both numbers are read.
    assert normalize_text("12,34") == "twelve thirty four"


WEIRD_TEXTS = [
    "Hello, World! 123",
    "\u65e5\u672c\u8a9e and English",
    "\u00bd cup, 2\u00b2",
    "stra\u00dfe \u0130stanbul",
    "emoji \U0001f600 face",
    "tab\tnew\nline\r\n",
    "''' '\" `back` \u201cquotes\u201d",
    "\u0663 arabic digit",
    "a" * 50 + " 12345678901234567890",
    "#hash_tag (parens) [brackets] {braces}",
]


@pytest.mark.parametrize("raw", WEIRD_TEXTS)
def test_normalized_text_always_encodes(raw):
    alphabet = Alphabet()
    out = normalize_text(raw)
    alphabet.encode(out)  # must not raise
    assert out == out.strip()
    assert "  " not in out
    # Normalising is idempotent: the spelled form is its own normal form.
    assert normalize_text(out) == out


def test_normalize_respects_a_custom_alphabet():
    no_space = Alphabet(tuple(string.ascii_lowercase))
    out = normalize_text("Don't stop 2", no_space)
    assert out == "dontstoptwo"
    no_space.encode(out)

    with_symbols = Alphabet((" ", *string.ascii_lowercase, "%"))
    assert normalize_text("5% off", with_symbols) == "five % off"  # kept, not spelled


# ---------------------------------------------------------------------------------------------
# Numbers and spelling
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (1, "one"),
        (9, "nine"),
        (10, "ten"),
        (11, "eleven"),
        (15, "fifteen"),
        (19, "nineteen"),
        (20, "twenty"),
        (21, "twenty one"),
        (40, "forty"),
        (99, "ninety nine"),
        (100, "one hundred"),
        (101, "one hundred one"),
        (110, "one hundred ten"),
        (999, "nine hundred ninety nine"),
        (1000, "one thousand"),
        (1001, "one thousand one"),
        (1205, "one thousand two hundred five"),
        (20_000, "twenty thousand"),
        (100_000, "one hundred thousand"),
        (999_999, "nine hundred ninety nine thousand nine hundred ninety nine"),
        (1_000_000, "one million"),
        (2_000_003, "two million three"),
        (7_000_000_000, "seven billion"),
        (10**12, "one trillion"),
        (-5, "minus five"),
    ],
)
def test_number_to_words(n, words):
    assert number_to_words(n) == words


def test_number_words_are_distinct_and_encodable():
    alphabet = Alphabet()
    seen = {}
    for n in range(0, 2100):
        words = number_to_words(n)
        alphabet.encode(words)
        assert words == " ".join(words.split())
        assert words not in seen, f"{n} and {seen.get(words)} both read {words!r}"
        seen[words] = n


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (1, "first"),
        (2, "second"),
        (3, "third"),
        (4, "fourth"),
        (5, "fifth"),
        (8, "eighth"),
        (9, "ninth"),
        (12, "twelfth"),
        (13, "thirteenth"),
        (20, "twentieth"),
        (23, "twenty third"),
        (90, "ninetieth"),
        (100, "one hundredth"),
        (101, "one hundred first"),
        (1000, "one thousandth"),
    ],
)
def test_ordinal_to_words(n, words):
    assert ordinal_to_words(n) == words


@pytest.mark.parametrize(
    ("word", "spelled"), [("yes", "y e s"), ("a", "a"), ("", ""), ("go on", "g o o n")]
)
def test_spell(word, spelled):
    assert spell(word) == spelled


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("10²", "ten two"),  # NFKC glued the superscript on: "one hundred two"
        ("1½ cups", "one and one half cups"),  # was "eleven two cups"
        ("½", "one half"),
        ("wait—what", "wait what"),  # an em dash separates words, as "-" does
        ("a\u2212b", "a b"),  # the minus sign too
        ("Straße", "strasse"),  # letters with no ASCII decomposition were deleted
        ("Ørsted", "orsted"),
        ("Encyclopædia", "encyclopaedia"),
        ("Œuvre", "oeuvre"),
        ("I\u02bcm", "i'm"),  # the modifier-letter apostrophe
        ("don\u00b4t", "don't"),  # an acute accent written for an apostrophe
    ],
)
def test_unicode_numbers_dashes_letters_and_apostrophes(raw, expected):
    assert normalize_text(raw) == expected
    assert normalize_text(expected) == expected


def test_alphabet_file_with_a_byte_order_mark(tmp_path):
    path = tmp_path / "alphabet.txt"
    path.write_text("\ufeff# a comment\na\nb\n", encoding="utf-8")
    assert Alphabet.from_file(path).labels == ("a", "b")


def test_alphabet_refuses_a_lone_surrogate():
    with pytest.raises(AlphabetError, match="lone surrogate"):
        Alphabet(("a", "\ud800"))


FRENCH = Alphabet((" ", *string.ascii_lowercase, *"éèàçù", "'"))
UKRAINIAN = Alphabet((" ", *"абвгґдеєжзиіїйклмнопрстуфхцчшщьюя", "'"))


@pytest.mark.parametrize(
    ("raw", "alphabet", "expected"),
    [
        ("L'été", FRENCH, "l'été"),  # was "l été": only a-z and 0-9 counted as letters
        ("qu'à", FRENCH, "qu'à"),
        ("'à' l'", FRENCH, "à l"),  # still no quotes
        ("\u041c'ята", UKRAINIAN, "м'ята"),
        ("'м'", UKRAINIAN, "м"),
    ],
)
def test_apostrophes_inside_words_of_any_script(raw, alphabet, expected):
    assert normalize_text(raw, alphabet, strict=True) == expected


UPPER = Alphabet((" ", *string.ascii_uppercase, "'"))
DIGITS = Alphabet((" ", *string.ascii_lowercase, *string.digits, "'"))


@pytest.mark.parametrize(
    ("raw", "alphabet", "expected"),
    [
        # An upper-case alphabet: everything was lower-cased, then dropped ("'YES' has
        # characters the model cannot emit: 'yes'").
        ("Yes, don't stop 2!", UPPER, "YES DON'T STOP TWO"),
        ("Café Straße Ørsted Æon 5%", UPPER, "CAFE STRASSE ORSTED AEON FIVE PERCENT"),
        # Both cases: as written, a letter the alphabet has in one case only taken in it.
        ("Hello World", Alphabet((" ", *string.ascii_letters)), "Hello World"),
        ("Hello", Alphabet(tuple("Hleo")), "Hello"),
        ("hELLO", Alphabet(tuple("Hleo")), "Hello"),
        # Digits the alphabet has stay digits ("room 101" was "room one hundred one").
        ("Room 101", DIGITS, "room 101"),
        ("1,205 the 21st 1980s 007", DIGITS, "1205 the 21st 1980s 007"),
        ("3.5%", DIGITS, "3 point 5 percent"),
        ("3.5", Alphabet((" ", *string.digits, ".")), "3.5"),
        # Punctuation between two numbers parts them, as the spelled-out words are parted:
        # "10:30" was "1030" and "2,5" (a decimal comma) "25", other numbers.
        ("meet at 10:30", DIGITS, "meet at 10 30"),
        ("2,5 km or 1,205", DIGITS, "2 5 km or 1205"),
        ("10:30", UPPER, "TEN THIRTY"),
        ("12 and 34", Alphabet((" ", *string.ascii_lowercase, "1", "2")), "12 and thirty four"),
    ],
)
def test_case_and_digits_follow_the_alphabet(raw, alphabet, expected):
    assert normalize_text(raw, alphabet, strict=True) == expected
    assert normalize_text(expected, alphabet) == expected


def test_an_upper_case_alphabet_takes_commands_hotwords_word_lists_and_corpora(tmp_path):
    from ctcasr.decoding.hotwords import Hotword, parse_hotwords
    from ctcasr.decoding.kenlm import read_word_list
    from ctcasr.decoding.registry import create_decoder
    from ctcasr.lm import CorpusStats, normalize_corpus

    decoder = create_decoder("grammar", UPPER, commands=["YES", "no", "Turn 2 left"])
    assert decoder.options()["commands"] == ["YES", "NO", "TURN TWO LEFT"]
    assert parse_hotwords(["marvin:3"], UPPER) == [Hotword("MARVIN", 3.0)]
    words = tmp_path / "words.txt"
    words.write_text("Zero\n2\n", encoding="utf-8")
    assert read_word_list(words, UPPER) == ["ZERO", "TWO"]
    stats = CorpusStats()
    lines = ["Hello world", "stra\u00dfe 2", "\u03a9mega"]
    assert list(normalize_corpus(lines, UPPER, stats)) == ["HELLO WORLD", "STRASSE TWO"]
    assert (stats.kept, stats.dropped) == (2, 1)
    # Digits the model writes are kept in commands too.
    decoder = create_decoder("grammar", DIGITS, commands=["room 101"])
    assert decoder.options()["commands"] == ["room 101"]


def test_an_alphabet_whose_apostrophe_is_the_letter_u02bc_keeps_it():
    """Every apostrophe look-alike was written as ``'`` first: with a Ukrainian alphabet that
    spells its apostrophe as the letter U+02BC (and has no ``'``), "мʼята" became "мята"."""
    ukrainian = Alphabet(tuple(" абвгґдеєжзиіїйклмнопрстуфхцчшщьюяʼ"))
    for written in ("мʼята", "м\u2019ята", "м'ята"):  # noqa: RUF001
        assert normalize_text(written, ukrainian, strict=True) == "мʼята"
    assert normalize_text("\u2018мята\u2019", ukrainian) == "мята"  # noqa: RUF001 - quotes
    assert normalize_text("don\u02bct") == "don't"  # the default alphabet: as before
    # an alphabet whose apostrophe is the typographic U+2019: "don't" lost it, and a closing
    # quote was kept as an apostrophe
    typographic = Alphabet(tuple(" abcdefghijklmnopqrstuvwxyz\u2019"))
    assert normalize_text("don't", typographic) == "don\u2019t"
    assert normalize_text("\u2018quoted\u2019", typographic) == "quoted"
    # with both curly quotes the closing one is the apostrophe (the opening one was taken)
    both = Alphabet(tuple(" abcdefghijklmnopqrstuvwxyz\u2018\u2019"))
    assert normalize_text("don't \u2018quoted\u2019", both) == "don\u2019t quoted"


SPANISH = Alphabet((" ", *string.ascii_lowercase, *"ñáéíóúü"))


@pytest.mark.parametrize("raw", ["Tengo 3 años", "5% de descuento", "I+D", "½ kilo"])
def test_an_alphabet_of_another_language_does_not_spell_numbers_in_english(raw):
    """A Spanish alphabet turned "Tengo 3 años" into "tengo three años" (and "%" into
    "percent"): English words in a Spanish command or hotword, never said. Now such a
    character is an error naming it when strict, and dropped otherwise."""
    with pytest.raises(AlphabetError, match=r"cannot emit.*write them out as said"):
        normalize_text(raw, SPANISH, strict=True)
    out = normalize_text(raw, SPANISH)
    assert not {"three", "five", "percent", "plus", "one", "half"} & set(out.split())
    assert normalize_text("Tengo 3 años", SPANISH) == "tengo años"
    # English alphabets spell them as before; digits the alphabet has stay digits.
    assert normalize_text("Set 2!", UPPER) == "SET TWO"
    assert normalize_text("Año 2024", Alphabet((*SPANISH.labels, *string.digits))) == "año 2024"


def test_an_empty_alphabet_file_name_is_refused(tmp_path, monkeypatch):
    """Path("") is ".": from_file("") read the current folder as the alphabet file."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(AlphabetError) as info:
        Alphabet.from_file("")
    assert str(info.value) == "alphabet: empty file name (an unset shell variable?)"
