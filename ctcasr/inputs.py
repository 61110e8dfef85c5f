"""What ``ctcasr transcribe`` was given, expanded to a list of audio files.

Arguments may be files, directories (searched recursively for audio extensions), glob
patterns, JSON Lines manifests, or ``-`` for paths read from stdin, one per line, or audio
(stdin is read once, however often ``-`` or ``/dev/stdin`` is given). An argument that names
nothing is not fatal: it becomes a failure reported with the other inputs.
"""

from __future__ import annotations

import glob
import io
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from ctcasr.audio import AUDIO_EXTENSIONS, EMPTY_NAME
from ctcasr.errors import ManifestError
from ctcasr.spool import PrefixedStream, looks_like_audio
from ctcasr.utils import files_under, read_lines

MANIFEST_SUFFIXES = (".jsonl", ".json")
GLOB_CHARS = frozenset("*?[")


@dataclass
class Inputs:
    files: list[str | PrefixedStream] = field(default_factory=list)  # a stream: audio on stdin
    problems: list[tuple[str, str]] = field(default_factory=list)  # (argument, one-line error)


def expand_inputs(args: Iterable[str], stdin: TextIO | None = None) -> Inputs:
    """Files in the order given (directories and globs sorted), without duplicates."""
    found = Inputs()
    seen: dict[str, int] = {}  # real path -> index in found.files
    args = list(args)
    stream = stdin if stdin is not None else sys.stdin
    # What stdin is, when "-" is given beside paths: /dev/stdin (or /proc/self/fd/0, or the
    # file stdin was redirected from) names the same input, and a pipe can be read only once.
    stdin_id = _identity(stream) if "-" in args else None
    stdin_taken = False
    for arg in args:
        if arg == "-":
            # stdin can be read once: a second "-" names the same input, as a file named
            # twice does (it read on where the first had only looked at the head, and the
            # audio piped in lost its second 64 bytes to it and failed, or was read wrong).
            if stdin_taken:
                continue
            stdin_taken = True
            audio, names = _read_stdin(stream)
            if audio is not None:
                found.files.append(audio)
                continue
            if names:  # a byte-order mark an editor saved is not part of the first name
                names[0] = names[0].removeprefix("\ufeff")
            files: list[str] = [n for n in names if n.strip()]
            problems: list[str] = []
        else:
            files, problems = _expand_argument(arg)
        found.problems += [(arg, problem) for problem in problems]
        for path in files:
            if stdin_id is not None and _identity(path) == stdin_id:
                if stdin_taken:  # read already, through "-" or another name for it
                    continue
                stdin_taken = True  # a "-" after it names it again
            key = os.path.realpath(path)  # one file named two ways (d/a.wav, m/../d/a.wav)
            if key not in seen:
                seen[key] = len(found.files)
                found.files.append(path)
            elif _is_link(found.files[seen[key]]) and not _is_link(path):
                # A link and the file it names: the file's own name is kept (a link sorted
                # first took its place, and the file's output never appeared).
                found.files[seen[key]] = path
    return found


def _identity(file: str | TextIO) -> tuple[int, int] | None:
    """(device, inode) of a path or an open stream; None for a missing file or a stream with
    no descriptor (a test's StringIO)."""
    try:
        st = os.stat(file) if isinstance(file, str) else os.fstat(file.fileno())
    except (AttributeError, OSError, ValueError):  # also io.UnsupportedOperation; NUL in a name
        return None
    return st.st_dev, st.st_ino


def _is_link(path: str | PrefixedStream) -> bool:
    if not isinstance(path, str):  # audio piped in
        return False
    try:
        return Path(path).is_symlink()
    except OSError:  # a name too long: no link, and its error is said when it is read
        return False


def _read_stdin(stream: TextIO) -> tuple[PrefixedStream | None, list[str]]:
    """``-``: audio piped in (``cat a.wav | ctcasr transcribe -``), as a stream named ``-``, or
    else a list of paths, one per line or each ended by a NUL (``find -print0``). The two are
    told apart by the first bytes: audio has a binary header, a path list is text (decoded as
    the text stream would be) with no NUL, or with one after a name that exists."""
    raw = getattr(stream, "buffer", None)
    if raw is None:  # a text stream with no bytes beneath (a test's StringIO)
        return None, [line.rstrip("\r\n") for line in stream]
    head = b""
    while len(head) < _HEAD and (more := raw.read(_HEAD - len(head))):
        head += more
    encoding = stream.encoding or "utf-8"
    if looks_like_audio(head) and not _nul_ended_names(head, encoding):
        return PrefixedStream(head, raw, "-"), []
    # A header of text is no proof of a list: NIST SPHERE (.sph: TIMIT, WSJ) and MAT-files
    # start with one. A NUL, which no path holds, shows audio after it (it was a ValueError
    # traceback, "embedded null byte", from the samples taken as names), unless what comes
    # before it names a file: ``find . -name '*.wav' -print0 |``, names ended by NULs.
    data = bytearray(head)
    nul = b"\0" in head
    while not nul and (block := raw.read(1 << 16)):
        data += block
        nul = b"\0" in block
    if nul:
        if not _nul_ended_names(bytes(data), encoding):
            return PrefixedStream(bytes(data), raw, "-"), []
        data += raw.read()
        return None, bytes(data).decode(encoding, "surrogateescape").split("\0")
    text = data.decode(encoding, errors="surrogateescape")
    # Only the line ending is dropped: a name may start or end with a space.
    return None, [line.rstrip("\r\n") for line in io.StringIO(text, newline=None)]


_HEAD = 64


def _nul_ended_names(data: bytes, encoding: str) -> bool:
    """Whether the bytes before the first NUL name a file (``find -print0``'s output)."""
    first, nul, _ = data.partition(b"\0")
    return bool(nul and first) and os.path.exists(first.decode(encoding, "surrogateescape"))


def _expand_argument(arg: str) -> tuple[list[str], list[str]]:
    """One argument's audio files and problems (one-line errors)."""
    if not arg:  # Path("") is ".": ``transcribe "$UNSET"`` transcribed the whole folder
        return [], [EMPTY_NAME]
    path = Path(arg)
    try:
        is_dir = path.is_dir()
    except OSError:  # a name too long, a folder that may not be searched: said when it is read
        return [arg], []  # (it was an OSError that ended the run before any input was read)
    if is_dir:
        # Hidden files and folders are skipped, as a glob skips them (macOS's "._x.wav"
        # AppleDouble files are not audio).
        below, unlisted = files_under(path, hidden=False)
        matches = [p for p in below if p.suffix.lower() in AUDIO_EXTENSIONS and p.is_file()]
        if not matches and not unlisted:
            return [], [f"{arg}: directory holds no audio files ({', '.join(AUDIO_EXTENSIONS)})"]
        return [str(p) for p in matches], unlisted
    if path.is_file() and path.suffix.lower() in MANIFEST_SUFFIXES:
        lines = manifest_audio(path)
        if not lines:  # it was skipped without a word
            return [], [f"{arg}: manifest has no entries"]
        return [a for a, bad in lines if bad is None], [bad for _, bad in lines if bad is not None]
    if not path.exists() and GLOB_CHARS & set(arg):
        names = sorted(glob.glob(arg, recursive=True))
        if not names:
            return [], [f"{arg}: pattern matches no files"]
        # Each match is what it would be as an argument of its own: a folder is searched, a
        # manifest is read, an audio file is taken.
        files: list[str] = []
        problems: list[str] = []
        for match in names:
            if Path(match).is_dir() or Path(match).is_file():
                more, bad = _expand_argument(match)
                files += more
                problems += bad
        return files, problems
    return [arg], []  # a missing or unreadable file is reported when it is loaded


def manifest_audio(path: Path) -> list[tuple[str, str | None]]:
    """``(audio path, None)`` per good line and ``("", error)`` per bad one: transcription needs
    only ``audio_filepath`` (relative paths are taken from the manifest's folder)."""
    try:
        lines = read_lines(path, "manifest", ManifestError)
    except ManifestError as exc:
        return [("", str(exc))]
    out: list[tuple[str, str | None]] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            out.append(("", f"{path}:{lineno}: malformed JSON ({exc.msg} at column {exc.colno})"))
            continue
        audio = data.get("audio_filepath") if isinstance(data, dict) else None
        if not isinstance(audio, str) or not audio:
            out.append(("", f"{path}:{lineno}: no audio_filepath string"))
            continue
        full = Path(audio) if Path(audio).is_absolute() else path.parent / audio
        out.append((str(full), None))
    return out
