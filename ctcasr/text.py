"""Alphabets and the spelled form of text that the acoustic model learns.

The CTC blank lives in exactly one place: it is the last class, index ``len(alphabet)``.
Everything else (training targets, decoders, bundles) asks the :class:`Alphabet` for it.
"""

from __future__ import annotations

import functools
import os
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from ctcasr.errors import AlphabetError
from ctcasr.utils import cannot_read, file_name

DEFAULT_LABELS: tuple[str, ...] = (" ", *"abcdefghijklmnopqrstuvwxyz", "'")


@dataclass(frozen=True)
class Alphabet:
    """The output symbols of a model, without the CTC blank (which is appended after them)."""

    labels: tuple[str, ...] = DEFAULT_LABELS
    _index: dict[str, int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        labels = tuple(self.labels)
        object.__setattr__(self, "labels", labels)
        if not labels:
            raise AlphabetError("alphabet is empty")
        seen: dict[str, int] = {}
        for i, label in enumerate(labels):
            if len(label) != 1:
                raise AlphabetError(
                    f"alphabet entry {i + 1} is {label!r}: each entry must be one character"
                )
            if "\ud800" <= label <= "\udfff":  # cannot be written as UTF-8 by save()
                raise AlphabetError(
                    f"alphabet entry {i + 1} is {label!r}: a lone surrogate is not a character"
                )
            if label.splitlines() != [label]:
                # A line break ("\n", "\r", "\x85", "\u2028", ...) cannot be stored in the
                # one-symbol-per-line alphabet file: save() would write a file that from_file()
                # rejects (an "empty alphabet entry"), leaving e.g. a bundle unloadable.
                raise AlphabetError(
                    f"alphabet entry {i + 1} is {label!r}: a line break cannot be a symbol"
                )
            if label in seen:
                raise AlphabetError(
                    f"alphabet entry {i + 1} {label!r} duplicates entry {seen[label] + 1}"
                )
            seen[label] = i
        object.__setattr__(self, "_index", seen)

    # -- the CTC view --------------------------------------------------------------------------
    @property
    def blank_index(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        """Model output width: every label plus the blank."""
        return len(self.labels) + 1

    @property
    def space_index(self) -> int | None:
        """The word separator's index, if the alphabet has one."""
        return self._index.get(" ")

    def __len__(self) -> int:
        return len(self.labels)

    def __contains__(self, char: object) -> bool:
        return char in self._index

    # -- encoding ------------------------------------------------------------------------------
    def unknown_chars(self, text: str) -> list[str]:
        """Characters of ``text`` the alphabet cannot spell, in order of first appearance."""
        return list(dict.fromkeys(c for c in text if c not in self._index))

    def encode(self, text: str) -> list[int]:
        missing = self.unknown_chars(text)
        if missing:
            raise AlphabetError(
                f"text {text!r} has characters outside the alphabet: {''.join(missing)!r}"
            )
        return [self._index[c] for c in text]

    def decode(self, ids: Iterable[int]) -> str:
        """Label ids to text; blanks are skipped, so raw argmax paths need collapsing first."""
        n = len(self.labels)
        return "".join(self.labels[i] for i in ids if 0 <= i < n)

    # -- files ---------------------------------------------------------------------------------
    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> Alphabet:
        """Read a DeepSpeech-style alphabet: one symbol per line, ``#`` starts a comment line.

        A line holding a single space is the space symbol; ``\\#`` is a literal ``#``.
        """
        path = file_name(path, "alphabet", AlphabetError)  # "" is ".", read as the file
        try:
            raw = path.read_text(encoding="utf-8-sig")  # a byte-order mark is not a symbol
        except FileNotFoundError:
            raise AlphabetError(f"{path}: alphabet file not found") from None
        except OSError as exc:
            raise AlphabetError(cannot_read(path, "alphabet", exc)) from None
        except UnicodeDecodeError as exc:
            raise AlphabetError(f"{path}: cannot read alphabet: {exc}") from None
        labels: list[str] = []
        for lineno, line in enumerate(raw.splitlines(), start=1):
            if line.startswith("#"):
                continue
            if line == "":
                raise AlphabetError(f"{path}:{lineno}: empty alphabet entry")
            if line == "\\#":
                line = "#"
            if len(line) != 1:
                raise AlphabetError(f"{path}:{lineno}: entry {line!r} is not a single character")
            if line in labels:
                raise AlphabetError(f"{path}:{lineno}: duplicate alphabet entry {line!r}")
            labels.append(line)
        if not labels:
            raise AlphabetError(f"{path}: alphabet file has no entries")
        return cls(tuple(labels))

    def to_text(self) -> str:
        lines = ["# ctcasr alphabet: one symbol per line; the CTC blank is implicit and last"]
        lines += ["\\#" if c == "#" else c for c in self.labels]
        return "\n".join(lines) + "\n"

    def save(self, path: str | os.PathLike[str]) -> None:
        from ctcasr.utils import atomic_write_text

        atomic_write_text(Path(path), self.to_text())


# ---------------------------------------------------------------------------------------------
# Text normalisation: transcripts -> the spelled form ("Set 2!" -> "set two")
# ---------------------------------------------------------------------------------------------

_ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_SCALES = ((10**12, "trillion"), (10**9, "billion"), (10**6, "million"), (1000, "thousand"))
_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}


def number_to_words(n: int) -> str:
    """Cardinal English words for an integer (``1205`` -> ``one thousand two hundred five``)."""
    if n < 0:
        return "minus " + number_to_words(-n)
    if n < 20:
        return _ONES[n]
    if n < 100:
        tens, ones = divmod(n, 10)
        return _TENS[tens] + ("" if ones == 0 else " " + _ONES[ones])
    if n < 1000:
        hundreds, rest = divmod(n, 100)
        return _ONES[hundreds] + " hundred" + ("" if rest == 0 else " " + number_to_words(rest))
    for scale, name in _SCALES:
        if n >= scale:
            high, rest = divmod(n, scale)
            return (
                number_to_words(high)
                + " "
                + name
                + ("" if rest == 0 else " " + number_to_words(rest))
            )
    raise AssertionError("unreachable")


def ordinal_to_words(n: int) -> str:
    words = number_to_words(n).split()
    last = words[-1]
    if last in _ORDINAL_IRREGULAR:
        words[-1] = _ORDINAL_IRREGULAR[last]
    elif last.endswith("y"):
        words[-1] = last[:-1] + "ieth"
    else:
        words[-1] = last + "th"
    return " ".join(words)


def _digits_to_words(digits: str) -> str:
    # Very long digit strings (phone, serial numbers) are read digit by digit, as people say them.
    if len(digits) > 15 or (len(digits) > 1 and digits.startswith("0")):
        return " ".join(_ONES[int(d)] for d in digits)
    return number_to_words(int(digits))


# The ordinal suffix must end the word ("3rd"), but a number itself may run into letters
# ("1980s", "4k"): requiring a word boundary after every number silently dropped those digits.
_NUMBER_RE = re.compile(r"(\d+)(?:\.(\d+))?(?:(st|nd|rd|th)\b)?", re.IGNORECASE)
_DIGIT_GROUP_RE = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")


@functools.lru_cache(maxsize=64)
def spells_english(labels: tuple[str, ...]) -> bool:
    """Whether numbers and ``% & + @`` the alphabet cannot write become English words: only
    for an alphabet whose letters are all ASCII. A Spanish or German alphabet turned
    "3 años" into "three años", a phrase nobody says, in LM corpora, commands and hotwords."""
    return all(c.isascii() for c in labels if c.isalpha())


def _number_words(match: re.Match[str], alphabet: Alphabet) -> str:
    whole, frac, suffix = match.group(1), match.group(2), match.group(3)
    if all(d in alphabet for d in whole + (frac or "")):
        # The model writes these digits: spelled, "room 101" was a phrase it never emits.
        point = "." if "." in alphabet else " point "
        return whole + ("" if frac is None else point + frac) + (suffix or "")
    if not spells_english(alphabet.labels):
        return match.group(0)  # left to the caller: dropped, or an error when strict
    if suffix and frac is None:
        return " " + ordinal_to_words(int(whole)) + " "
    words = _digits_to_words(whole)
    if frac is not None:
        words += " point " + " ".join(_ONES[int(d)] for d in frac)
    return " " + words + " "


_SYMBOL_WORDS = {"%": " percent ", "&": " and ", "+": " plus ", "@": " at "}


def said_in_english(char: str) -> bool:
    """A digit or symbol the normaliser writes as English words, and so only for an alphabet
    that :func:`spells_english`."""
    return char.isdecimal() or char in _SYMBOL_WORDS


# Marks written for an apostrophe: curly quotes, the modifier letter (U+02BC), prime, acute
# accent and grave accent.
_APOSTROPHE_LIKE = "\u2018\u2019\u02bc\u2032\u00b4`"
_APOSTROPHE_MARKS = "'" + _APOSTROPHE_LIKE  # the apostrophe and its look-alikes


@functools.lru_cache(maxsize=64)
def _apostrophes(labels: tuple[str, ...]) -> dict[int, str]:
    """Apostrophe look-alikes written as the alphabet's apostrophe (:func:`_apostrophe`):
    written as ``'``, the Ukrainian alphabet's U+02BC lost it ("мʼята" became "мята")."""
    mark = _apostrophe(labels)
    return str.maketrans({c: mark for c in _APOSTROPHE_MARKS if c not in labels})


def _apostrophe(labels: tuple[str, ...]) -> str:
    """The alphabet's apostrophe: ``'``, else the first it holds of U+2019 (typographic),
    U+02BC (Ukrainian), the backtick and the prime. Never the opening quote U+2018, nor the
    acute accent, which NFKC splits into a space and a combining mark."""
    return next((c for c in "'\u2019\u02bc`\u2032" if c in labels), "'")
# NFKC would glue these to a preceding number ("10²" -> "102", "1½" -> "11", slash, "2").
_FRACTIONS = {"\u00bd": " one half ", "\u00bc": " one quarter ", "\u00be": " three quarters ",
              "\u2153": " one third ", "\u2154": " two thirds "}  # fmt: skip
_FRACTION_RE = re.compile(r"(\d?)\s*([" + "".join(_FRACTIONS) + "])")
_SUPERSCRIPT_RE = re.compile(r"(?<=\d)(?=[\u00b2\u00b3\u00b9\u2070-\u209f])")
# Letters with no ASCII decomposition that NFKD folding would delete ("straße" -> "strae").
_LATIN_LETTERS = {"ß": "ss", "æ": "ae", "ø": "o", "œ": "oe", "ł": "l", "đ": "d", "ð": "d",
                  "þ": "th", "\u0131": "i"}  # fmt: skip
# Dashes of every kind (Unicode's Pd category) and the minus sign separate words, as "-" does.
_SEPARATORS = "/_\u2212"


def _fraction_words(match: re.Match[str]) -> str:
    """``1½`` -> ``1 and one half``; a fraction alone is its words."""
    whole, fraction = match.group(1), match.group(2)
    return whole + (" and" if whole else "") + _FRACTIONS[fraction]


@functools.lru_cache(maxsize=64)
def letter_case(labels: tuple[str, ...]) -> str:
    """``"lower"`` for an alphabet without upper-case letters (the default, and one with no
    case at all), ``"upper"`` for one with upper-case letters only, else ``"mixed"``."""
    upper = any(c.isupper() for c in labels)
    if not upper:
        return "lower"
    return "mixed" if any(c.islower() for c in labels) else "upper"


def match_case(text: str, alphabet: Alphabet) -> str:
    """``text`` in the alphabet's case: lower-cased, upper-cased, or as written when the
    alphabet has both cases (a letter it lacks in one case is then taken in the other)."""
    case = letter_case(alphabet.labels)
    return text.lower() if case == "lower" else text.upper() if case == "upper" else text


def respell(char: str, alphabet: Alphabet, partial: bool = True) -> str:
    """How :func:`normalize_text` writes a character the alphabet lacks (after
    :func:`match_case`): in the alphabet's other case, or folded (:func:`fold_letter`) in its
    case. With ``partial`` the folded letters the alphabet has ("æ" -> "a" without "e"),
    else ``""`` unless it has them all."""
    case = letter_case(alphabet.labels)
    if case == "lower":
        options = [fold_letter(char)]
    elif case == "upper":
        options = [fold_letter(char.lower()).upper()]
    else:
        folded = fold_letter(char.lower())
        same, other = (folded.upper(), folded) if char.isupper() else (folded, folded.upper())
        options = [same, char.lower(), char.upper(), other]
    for option in options:
        if option and all(c in alphabet and c != " " for c in option):
            return option
    return "".join(c for c in options[0] if c in alphabet and c != " ") if partial else ""


def fold_letter(char: str) -> str:
    """ASCII spelling of a lower-case letter: accents dropped, ß æ ø œ ł đ ð þ and the dotless
    i written out; empty when there is none."""
    if char in _LATIN_LETTERS:
        return _LATIN_LETTERS[char]
    return unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()


@functools.lru_cache(maxsize=64)
def _apostrophe_re(labels: tuple[str, ...]) -> re.Pattern[str] | None:
    """Apostrophes not between two of the alphabet's letters, digits or marks (any script:
    checking a-z only split "l'été" and "м'ята"); None for an alphabet without any."""
    # Every apostrophe or quote mark the alphabet holds: an opening quote (U+2018) was kept
    # where the closing one (U+2019) was removed.
    marks = "".join(re.escape(c) for c in _APOSTROPHE_MARKS if c in labels)
    if not marks:
        return None
    word = "".join(re.escape(c) for c in labels if unicodedata.category(c)[0] in "LMN"
                   and c not in _APOSTROPHE_MARKS)  # fmt: skip
    if not word:
        return re.compile(f"[{marks}]+")
    return re.compile(f"(?<![{word}])[{marks}]+|[{marks}]+(?![{word}])")


def normalize_text(text: str, alphabet: Alphabet | None = None, strict: bool = False) -> str:
    """Map a transcript to the spelled form a model learns: lowercase, digits as words,
    punctuation dropped, whitespace collapsed.

    Case and digits follow the alphabet, so that commands, hotwords and word lists match what
    its model emits: upper case for an alphabet with upper-case letters only, the case as
    written for one with both (:func:`match_case`), and a number whose digits the alphabet
    has stays in digits ("room 101"). Apostrophes inside words survive ("don't"); characters
    the alphabet cannot spell are dropped, so the result always encodes. Accents are folded
    to ASCII where that is lossless enough (``café`` -> ``cafe``) for the default alphabet.
    With ``strict`` a letter that would be dropped is an :class:`AlphabetError` instead: a
    user's command or hotword must not silently become a different word.
    """
    alphabet = alphabet or Alphabet()
    original = text
    lost: list[str] = []
    # before NFKC, which turns an acute accent into a space
    text = text.translate(_apostrophes(alphabet.labels))
    english = spells_english(alphabet.labels)
    if english:
        text = _FRACTION_RE.sub(_fraction_words, text)
    text = _SUPERSCRIPT_RE.sub(" ", text)
    text = unicodedata.normalize("NFKC", text)
    text = _DIGIT_GROUP_RE.sub("", text)
    text = _NUMBER_RE.sub(functools.partial(_number_words, alphabet=alphabet), text)
    for symbol, words in _SYMBOL_WORDS.items():
        if english and symbol not in alphabet:
            text = text.replace(symbol, words)
    text = match_case(text, alphabet)
    chars: list[str] = []
    for i, char in enumerate(text):
        if char in alphabet and char != " ":
            chars.append(char)
            continue
        category = unicodedata.category(char)
        if char.isspace() or category[0] in "PSZ":
            # Dashes and slashes separate words, and any mark between two digits the numbers
            # it parts (digits kept, "10:30" was "1030"); other punctuation just vanishes.
            parts_numbers = text[i - 1 : i].isdecimal() and text[i + 1 : i + 2].isdecimal()
            separates = (char.isspace() or category == "Pd" or char in _SEPARATORS
                         or parts_numbers)  # fmt: skip
            if char in _SYMBOL_WORDS:
                lost.append(char)  # a spoken word ("percent") in no language but English
            chars.append(" " if separates else "")
            continue
        kept = respell(char, alphabet)
        if not kept and unicodedata.category(char)[0] in "LN":
            lost.append(char)
        chars.append(kept)
    if strict and lost:
        hint = ""
        if any(map(said_in_english, lost)):
            hint = " (numbers and symbols become English words only for an alphabet of ASCII "
            hint += "letters: write them out as said)"
        raise AlphabetError(
            f"{original!r} has characters the model cannot emit: "
            f"{''.join(dict.fromkeys(lost))!r}{hint}"
        )
    text = "".join(chars)
    quotes = _apostrophe_re(alphabet.labels)
    if quotes is not None:
        # Keep apostrophes only inside words ("don't", "l'été", "м'ята"), not as quotes.
        text = quotes.sub(" ", text)
    text = " ".join(text.split())
    if " " not in alphabet:
        text = text.replace(" ", "")
    if unicodedata.normalize("NFKC", text) != text:
        # Dropping a character can leave a kept letter next to a kept combining mark that NFKC
        # composes (alphabet "e" + U+0307, text "0\u0130" -> "e\u0307"), so the result was not
        # its own normal form (the next pass gave "e"). Normalise again; each such pass makes
        # the text shorter, so this ends.
        return normalize_text(text, alphabet, strict)
    return text


def spell(word: str) -> str:
    """A word as separately spoken letters ("yes" -> "y e s"), the form of spelled commands."""
    return " ".join(word.replace(" ", ""))
