"""Hotwords: words and multi-word phrases whose appearance in a hypothesis earns a bonus.

A phrase of weight ``w`` earns ``w`` each time it is completed, and a share of ``w`` in
proportion to the characters matched so far while a beam is part-way through it, so the search
is drawn towards it early but keeps nothing when the beam leaves it. Scoring is a handful of
dictionary lookups per call whatever the number of entries (pyctcdecode's scorer runs one
regular expression over all hotwords for every beam, which is what makes it slow with many).

:class:`HotwordScorer` also speaks pyctcdecode's scorer interface (``score``,
``score_partial_token``, ``__contains__``), which is how the ``kenlm`` decoder uses it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from ctcasr.errors import AlphabetError, ConfigError
from ctcasr.text import Alphabet, normalize_text
from ctcasr.utils import file_name, read_lines

DEFAULT_HOTWORD_WEIGHT = 5.0
_CACHE_LIMIT = 200_000


@dataclass(frozen=True)
class Hotword:
    phrase: str  # normalised, single spaces
    weight: float


HotwordSpec = str | tuple[str, float] | Hotword


class FileHotword(str):
    """A hotword file's line as a spec, remembering its ``path:line``: its spelling is checked
    only once the model's alphabet is known, and an unspellable one must still name its line."""

    where: str

    def __new__(cls, text: str, where: str) -> FileHotword:
        spec = super().__new__(cls, text)
        spec.where = where
        return spec

    def __getnewargs__(self) -> tuple[str, str]:  # type: ignore[override]  # for the workers
        return str(self), self.where


def format_weight(weight: float) -> str:
    """A weight as stored in a bundle: exact (the shortest text that reads back as the same
    float; ``:g`` rounded 0.123456789 to 0.123457), without a trailing ``.0``."""
    text = repr(float(weight))
    return text[:-2] if text.endswith(".0") else text


def split_hotword(spec: HotwordSpec, default_weight: float = DEFAULT_HOTWORD_WEIGHT
                  ) -> tuple[str, float]:  # fmt: skip
    """A hotword's phrase as written and its weight, checked for form alone: what can be
    checked before the model, and so its alphabet, is known (checked against the default
    alphabet, a Cyrillic hotword for a Cyrillic model failed as unspellable)."""
    if isinstance(spec, Hotword):  # normalised and checked too: "turn  left" never fired
        spec = (spec.phrase, spec.weight)
    if isinstance(spec, tuple | list) and len(spec) == 2:
        # A (phrase, weight) pair, the list JSON makes of one, or a mapping's item. A weight
        # given as text ({"marvin": "8"}) is still the weight: str()-ing the pair made it part
        # of the phrase ("marvin eight" at the default weight).
        phrase, weight = spec
        if not isinstance(phrase, str):
            raise ConfigError(f"hotword {phrase!r} must be a string")
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            raise ConfigError(f"hotword {phrase!r}: weight {weight!r} is not a number") from None
    else:
        if not isinstance(spec, str):  # str(5) was the hotword "five"
            raise ConfigError(f"hotword {spec!r} must be a string")
        phrase, sep, weight_text = spec.rpartition(":")
        if not sep:
            phrase, weight = weight_text, default_weight
        else:
            try:
                weight = float(weight_text)
            except ValueError:
                raise ConfigError(
                    f"hotword {spec!r}: weight {weight_text!r} is not a number "
                    "(use PHRASE or PHRASE:WEIGHT)"
                ) from None
    if weight != weight or abs(float(weight)) == float("inf"):
        raise ConfigError(f"hotword {spec!r}: weight must be a finite number")
    if not str(phrase).strip():
        raise ConfigError(f"hotword {spec!r} is empty")
    return str(phrase), float(weight)


def has_own_weight(spec: HotwordSpec) -> bool:
    """Whether a hotword sets its weight (``PHRASE:WEIGHT``, a pair, a :class:`Hotword`)
    rather than taking the decoder's ``hotword_weight``."""
    if isinstance(spec, Hotword | tuple | list):
        return True
    return bool(str(spec).rpartition(":")[1])


def parse_hotword(
    spec: HotwordSpec,
    default_weight: float = DEFAULT_HOTWORD_WEIGHT,
    alphabet: Alphabet | None = None,
) -> Hotword:
    """``"word"``, ``"some phrase:7.5"``, ``("phrase", 7.5)`` or a :class:`Hotword`, each
    normalised and checked."""
    phrase, weight = split_hotword(spec, default_weight)
    try:
        text = normalize_text(phrase, alphabet, strict=True)
    except AlphabetError as exc:
        raise ConfigError(f"hotword {exc}") from None
    if not text:
        raise ConfigError(f"hotword {spec!r} is empty after normalisation")
    return Hotword(text, weight)


def hotword_items(
    specs: Iterable[HotwordSpec] | Mapping[str, float] | None,
) -> list[HotwordSpec]:
    """The hotwords ``specs`` holds, one spec each: a string is one hotword (not its
    letters), a mapping's items are (phrase, weight) pairs, and a path (a string naming a
    file, or holding a path separator) is a hotword file's lines."""
    if specs is None:
        return []
    if isinstance(specs, os.PathLike) or (isinstance(specs, str) and _names_a_file(specs)):
        # As ``commands`` and ``unigrams`` take one: ``-O hotwords=hot.txt`` (a Path was
        # refused) gave the one hotword "hottxt", and the file's phrases were never read.
        return list(read_hotword_specs(specs))
    if isinstance(specs, str):
        return [specs]
    if isinstance(specs, Mapping):
        return list(specs.items())
    if isinstance(specs, bytes | bytearray) or not isinstance(specs, Iterable):
        # bytes gave their byte values as hotwords ("one hundred twenty one"), a number
        # "not iterable"
        raise ConfigError(f"hotwords must be a phrase, a list of phrases or a mapping of "
                          f"phrases to weights, got {type(specs).__name__}")  # fmt: skip
    return list(specs)


def _names_a_file(text: str) -> bool:
    """Whether a hotwords string is a file's path rather than a phrase."""
    if os.sep in text or (os.altsep and os.altsep in text):
        return True
    try:
        return Path(text).is_file()
    except (OSError, ValueError):
        return False


def parse_hotwords(
    specs: Iterable[HotwordSpec] | Mapping[str, float] | None,
    alphabet: Alphabet | None = None,
    default_weight: float = DEFAULT_HOTWORD_WEIGHT,
) -> list[Hotword]:
    """Normalise and check hotwords; a phrase the alphabet cannot spell is an error (naming
    its file and line when it came from a hotword file)."""
    result = []
    for spec in hotword_items(specs):
        try:
            hw = parse_hotword(spec, default_weight, alphabet)
            missing = alphabet.unknown_chars(hw.phrase) if alphabet is not None else None
            if missing:
                raise ConfigError(
                    f"hotword {hw.phrase!r} has characters the model cannot emit: "
                    f"{''.join(missing)!r}"
                )
        except ConfigError as exc:
            if isinstance(spec, FileHotword):
                raise ConfigError(f"{spec.where}: {exc}") from None
            raise
        result.append(hw)
    return result


def read_hotwords(
    path: str | os.PathLike[str], default_weight: float = DEFAULT_HOTWORD_WEIGHT
) -> list[Hotword]:
    """One ``PHRASE`` or ``PHRASE:WEIGHT`` (or ``PHRASE<TAB>WEIGHT``) per line; ``#`` comments."""
    return [parse_hotword(spec, default_weight) for spec in read_hotword_specs(path)]


def read_hotword_specs(path: str | os.PathLike[str]) -> list[FileHotword]:
    """A hotword file's lines as ``PHRASE[:WEIGHT]`` specs, each checked: one without a
    weight stays without, to take the decoder's ``hotword_weight`` (which ``tune`` varies;
    fixed at reading, every trial had the same weights)."""
    path = file_name(path, "hotword file")
    lines = read_lines(path, "hotword file", ConfigError)
    result = []
    for lineno, line in enumerate(lines, start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if "\t" in line:
            line = line.replace("\t", ":", 1)
        try:
            split_hotword(line)
        except ConfigError as exc:
            raise ConfigError(f"{path}:{lineno}: {exc}") from None
        result.append(FileHotword(line, f"{path}:{lineno}"))
    return result


class HotwordScorer:
    """Bonus of a text for a fixed set of hotwords, cached per text."""

    def __init__(self, hotwords: Iterable[Hotword]) -> None:
        self.hotwords = list(hotwords)
        self._complete: dict[str, float] = {}  # full phrase -> weight (summed if repeated)
        self._progress: dict[str, float] = {}  # proper word-prefix of a phrase -> best share
        self._prefix: dict[str, float] = {}  # char-prefix ending inside a word -> best share
        self.max_words = 0
        for hw in self.hotwords:
            words = hw.phrase.split(" ")
            self.max_words = max(self.max_words, len(words))
            self._complete[hw.phrase] = self._complete.get(hw.phrase, 0.0) + hw.weight
            total = len(hw.phrase)
            for k in range(1, total + 1):
                if hw.phrase[k - 1] == " ":
                    continue
                key = hw.phrase[:k]
                share = hw.weight * k / total
                at_boundary = k == total or hw.phrase[k] == " "
                if at_boundary and k < total and share > self._progress.get(key, 0.0):
                    self._progress[key] = share
                if share > self._prefix.get(key, 0.0):
                    self._prefix[key] = share
        self._cache: dict[str, float] = {"": 0.0}

    def __len__(self) -> int:
        return len(self.hotwords)

    def __bool__(self) -> bool:
        return bool(self.hotwords)

    def reset(self) -> None:
        """Forget cached texts (called per utterance so memory stays flat)."""
        self._cache = {"": 0.0}

    # -- pyctcdecode's interface -------------------------------------------------------------
    def __contains__(self, token: object) -> bool:
        return token in self._prefix

    def score_partial_token(self, token: str) -> float:
        """A word being spelled that may start a phrase (no context: pyctcdecode's call)."""
        return self._prefix.get(token, 0.0)

    def score(self, text: str) -> float:
        """Completed phrases in ``text`` (whole words) plus progress into a phrase at its end."""
        return self._completed(text) + self._trailing(text, self._progress)

    # -- ctcasr's beam search ----------------------------------------------------------------
    def final_score(self, text: str) -> float:
        """Bonus of a finished transcript: completed phrases only (a phrase the utterance
        stopped part-way through earns nothing)."""
        return self._completed(text)

    def unfinished(self, text: str) -> float:
        """The part of :meth:`score` for a phrase ``text`` ends part-way through: what a
        finished transcript must not keep (pyctcdecode's end-of-utterance scoring adds it)."""
        return self._trailing(text, self._progress)

    def prefix_bonus(self, text: str) -> float:
        """Bonus for a beam mid-utterance, whose last word may still be growing."""
        if not text or text[-1] == " ":
            return self.score(text.rstrip(" "))
        head = text.rpartition(" ")[0]
        return self._completed(head) + max(
            self._trailing(text, self._prefix), self._trailing(head, self._progress)
        )

    def _completed(self, text: str) -> float:
        cache = self._cache
        value = cache.get(text)
        if value is not None:
            return value
        if len(cache) > _CACHE_LIMIT:
            self.reset()
            cache = self._cache
        pending = []
        head = text
        while head not in cache:
            pending.append(head)
            head = head.rpartition(" ")[0]
        for prefix in reversed(pending):
            gain = 0.0
            words = prefix.split(" ")[-self.max_words :] if self.max_words else []
            for j in range(1, len(words) + 1):
                weight = self._complete.get(" ".join(words[-j:]))
                if weight is not None:
                    gain += weight
            cache[prefix] = cache[prefix.rpartition(" ")[0]] + gain
        return cache[text]

    def _trailing(self, text: str, table: dict[str, float]) -> float:
        """Best share in ``table`` for any run of whole words at the end of ``text``."""
        if not table or not text:
            return 0.0
        words = text.split(" ")[-self.max_words :]
        best = 0.0
        for j in range(1, len(words) + 1):
            share = table.get(" ".join(words[-j:]))
            if share is not None and share > best:
                best = share
        return best
