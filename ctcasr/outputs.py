"""Transcripts as text, TSV, JSON, JSON Lines, SRT and WebVTT.

Subtitle cues come from the word timings: a cue closes at a pause, at a length a reader can
take in at once, or after a few seconds, whichever comes first.
"""

from __future__ import annotations

import contextlib
import json
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from ctcasr.errors import CtcasrError
from ctcasr.transcribe import Transcript
from ctcasr.utils import atomic_write_text

FORMATS = ("txt", "tsv", "json", "jsonl", "srt", "vtt")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class CueRules:
    max_chars: int = 42  # one subtitle line
    max_seconds: float = 6.0
    max_gap: float = 1.0  # a longer pause starts a new cue


def cues(t: Transcript, rules: CueRules = CueRules()) -> list[Cue]:
    """The transcript cut into subtitle cues; one cue over the whole input when it has text
    but no word timings."""
    if not t.words:
        return [Cue(0.0, t.duration, t.text)] if t.text else []
    out: list[Cue] = []
    words = [t.words[0]]
    for w in t.words[1:]:
        text = " ".join(x.word for x in [*words, w])
        if (
            w.start - words[-1].end > rules.max_gap
            or len(text) > rules.max_chars
            or w.end - words[0].start > rules.max_seconds
        ):
            out.append(Cue(words[0].start, words[-1].end, " ".join(x.word for x in words)))
            words = [w]
        else:
            words.append(w)
    out.append(Cue(words[0].start, words[-1].end, " ".join(x.word for x in words)))
    return out


def timestamp(seconds: float, decimal: str = ",") -> str:
    """``HH:MM:SS,mmm`` (SRT) or with ``decimal="."`` ``HH:MM:SS.mmm`` (WebVTT)."""
    ms = max(0, round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{decimal}{ms:03d}"


def render(t: Transcript, fmt: str) -> str:
    """One transcript as the whole content of a file in ``fmt``."""
    check_formats([fmt])
    if fmt == "txt":
        return t.text + "\n"
    if fmt == "tsv":
        rows = ["start\tend\ttext"]
        rows += [f"{c.start:.3f}\t{c.end:.3f}\t{c.text}" for c in cues(t)]
        return "\n".join(rows) + "\n"
    if fmt == "json":
        return json.dumps(t.to_dict(), indent=2) + "\n"
    if fmt == "jsonl":
        return json.dumps(t.to_dict()) + "\n"
    if fmt == "srt":
        blocks = [
            f"{i}\n{timestamp(c.start)} --> {timestamp(c.end)}\n{c.text}\n"
            for i, c in enumerate(cues(t), start=1)
        ]
        return "\n".join(blocks)
    blocks = [f"{timestamp(c.start, '.')} --> {timestamp(c.end, '.')}\n{c.text}\n"
              for c in cues(t)]  # fmt: skip
    return "WEBVTT\n\n" + "\n".join(blocks)  # vtt


def check_formats(formats: list[str]) -> None:
    """Refuse a format name this module does not write, naming the ones it does."""
    for fmt in formats:
        if fmt not in FORMATS:
            raise CtcasrError(f"unknown output format {fmt!r}; choose from: {', '.join(FORMATS)}")


class OutputDir:
    """Writes each transcript as ``<stem>.<format>`` files into one folder, atomically.

    Two inputs with the same stem (``a/x.wav``, ``b/x.wav``) would overwrite each other, so the
    second gets ``x.2.<format>`` and the clash is reported; so would stems that differ only in
    case (``A.wav``, ``a.wav``) in a folder that ignores case (macOS's and Windows' default).
    """

    def __init__(self, folder: str | os.PathLike[str], formats: list[str]) -> None:
        check_formats(formats)
        self.folder = Path(folder)
        self.formats = formats
        self._stems: dict[str, str] = {}  # stem used -> source
        # folded stem -> the stems used that fold to it: looked up, not compared with every
        # earlier stem (8 s for the names of 8,000 files, 15 minutes at 80,000)
        self._folds: dict[str, list[str]] = {}
        # stem -> the last number given to an input of that stem, and source -> its stem: the
        # search for a free ``stem.N`` went from 2 each time, so that 20,000 files named
        # ``audio.wav`` in folders of their own took 200 million tries (two minutes).
        self._numbers: dict[str, int] = {}
        self._given: dict[str, str] = {}

    def stem_for(self, source: str) -> tuple[str, str | None]:
        """The output stem for ``source`` and, when it had to be renamed, a note saying so."""
        stem, chosen, n = self._choose(source)
        self._claim(source, stem, chosen, n)
        note = None if chosen == stem else f"{source}: written as {chosen}.* ({stem}.* is taken)"
        return chosen, note

    def written(self, source: str | object) -> bool:
        """Whether a run over the same inputs already wrote all of ``source``'s files here
        (one stopped part-way): its name is then taken, so the inputs after it are named as
        that run named them. Called in input order, before any is written. A pipe or stream
        is never taken as written."""
        if not isinstance(source, str) or not os.path.isfile(source):
            return False
        stem, chosen, n = self._choose(source)
        if not all((self.folder / f"{chosen}.{fmt}").is_file() for fmt in self.formats):
            return False
        self._claim(source, stem, chosen, n)
        return True

    def _choose(self, source: str) -> tuple[str, str, int]:
        """``source``'s stem, the free name for it, and the number that name ends in."""
        stem = _SPECIAL_STEMS.get(source) or Path(source).stem
        chosen = self._given.get(source)
        n = self._numbers.get(stem, 1)
        if chosen is None:
            chosen = stem
            if self._taken(chosen, source):
                # stem, stem.2 ... stem.n are taken already (a name once given stays taken)
                while self._taken(chosen := f"{stem}.{n + 1}", source):
                    n += 1
                n += 1
        return stem, chosen, n

    def _claim(self, source: str, stem: str, chosen: str, n: int) -> None:
        if chosen not in self._stems:
            self._folds.setdefault(_folded(chosen), []).append(chosen)
        self._stems[chosen] = source
        self._given[source] = chosen
        self._numbers[stem] = n

    def _taken(self, stem: str, source: str) -> bool:
        """Whether another input's files hold ``stem``'s names: the same stem, or one that
        differs in case or Unicode form (macOS keeps "é" as one character or two) where the
        folder finds both names to be one file (the earlier one's, written already), as
        macOS's and Windows' file systems do."""
        if stem in self._stems:
            return self._stems[stem] != source
        fmt = self.formats[0]
        for other in self._folds.get(_folded(stem), ()):
            if self._stems[other] != source:
                with contextlib.suppress(OSError):  # the other's write failed: nothing there
                    if os.path.samefile(self.folder / f"{other}.{fmt}",
                                        self.folder / f"{stem}.{fmt}"):  # fmt: skip
                        return True
        return False

    def write(self, t: Transcript) -> tuple[list[Path], str | None]:
        stem, note = self.stem_for(t.source)
        paths = []
        for fmt in self.formats:
            path = self.folder / f"{stem}.{fmt}"
            atomic_write_text(path, render(t, fmt))  # an OSError names path, not a temporary
            paths.append(path)
        return paths, note


def _folded(name: str) -> str:
    """``name`` as a file system that ignores case and Unicode form may compare it."""
    return unicodedata.normalize("NFC", name).casefold()


STDOUT_TSV_HEADER = "source\tstart\tend\ttext"


_CONTROL = str.maketrans({"\t": "\\t", "\n": "\\n", "\r": "\\r"})


# Inputs with no file name: an array, audio on stdin (``-``), a stream (``<stdin>``).
_SPECIAL_STEMS = {"<array>": "array", "-": "stdin", "<stdin>": "stdin", "<stream>": "stream"}


def one_line(text: str) -> str:
    """A file name as one field of one line: a tab or line break in it (legal on Linux) added
    a TSV column or split the record; they are written as ``\\t``, ``\\n``, ``\\r``."""
    return text.translate(_CONTROL)


_FIELD = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def one_field(text: str) -> str:
    """A file name as one field of a data line (default and TSV output): as :func:`one_line`,
    with a backslash written as ``\\\\`` too, so that a name holding a real tab and one
    holding backslash-t stay apart (they printed alike)."""
    return text.translate(_FIELD)


def stdout_text(t: Transcript, fmt: str) -> str:
    """What one transcript adds to stdout when many share it: ``default`` is PATH<TAB>TEXT
    plus any n-best lines; ``tsv`` adds a source column to the per-file rows; ``json`` is
    handled by the caller (one array for all)."""
    if fmt == "default":
        lines = [f"{one_field(t.source)}\t{t.text}"]
        lines += [f"  {rank}\t{h.text}\t{h.confidence:.3f}"
                  for rank, h in enumerate(t.nbest[1:], start=2)]  # fmt: skip
        return "\n".join(lines) + "\n"
    if fmt == "txt":
        return t.text + "\n"
    if fmt == "tsv":
        source = one_field(t.source)
        rows = [f"{source}\t{c.start:.3f}\t{c.end:.3f}\t{c.text}\n" for c in cues(t)]
        # An input with nothing said (silence, a rejection) still gets its row: without one
        # it vanished from the output, and nothing showed it had been transcribed.
        return "".join(rows) or f"{source}\t0.000\t{t.duration:.3f}\t\n"
    return render(t, fmt)
