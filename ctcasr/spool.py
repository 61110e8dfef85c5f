"""Audio that arrives through a pipe or a stream, kept in a temporary file while it is read.

libsndfile and the MP3 reader need to seek (headers, joined streams, block reads), and a pipe
can be read only once, forward. So the bytes go to a private temporary file first, and that
file is read as any other; results and errors then name the input as the user gave it
(``/dev/stdin``, ``-``), not the temporary file.
"""

from __future__ import annotations

import codecs
import io
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from ctcasr.utils import first_line

# A 2-hour 48 kHz stereo WAV is 1.4 GB; more than this is not a recording (``/dev/zero``).
MAX_BYTES = 2 * 1024**3
_BLOCK = 1 << 20

# The first bytes of the formats the readers know; a path list is text and has none of them.
_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"BW64", b"riff", b"fLaC", b"OggS", b"ID3", b"FORM",
          b".snd", b"caff", b"wvpk")  # fmt: skip


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


def is_pipe(path: str | os.PathLike[str]) -> bool:
    """A FIFO or socket (``/dev/stdin`` fed by ``|``, ``<(...)``): readable once, forward."""
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)


def is_stream(source: Any) -> bool:
    """A binary file object given in place of a path (``sys.stdin.buffer``, ``io.BytesIO``)."""
    return not isinstance(source, str | os.PathLike) and callable(getattr(source, "read", None))


def is_file_bytes(source: Any) -> bool:
    """The bytes of an audio file held in memory (an upload, a database blob): ``bytes``,
    ``bytearray`` or a byte ``memoryview``. Read as numbers they were a burst of 8-bit noise
    that transcribed to "n" with no error; samples come as a numpy array."""
    if isinstance(source, memoryview):
        return source.itemsize == 1 and source.format in ("B", "b", "c")
    return isinstance(source, bytes | bytearray)


def looks_like_audio(head: bytes) -> bool:
    """Whether the first bytes of stdin are audio rather than a list of paths: a known
    header, an MPEG frame sync, or anything that is not text (a NUL; invalid UTF-8 but for
    lines of names in another encoding: a name in Latin-1, legal on Linux, is still a name)."""
    if has_audio_header(head) or b"\0" in head:
        return True
    if _utf8(head):
        return False
    # A list is lines of names, and names hold no control characters but tabs.
    lines = any(mark in head for mark in (b"\n", b"\r", b"/"))
    return not lines or bool(head.translate(None, _TEXT_BYTES))


def has_audio_header(head: bytes) -> bool:
    """Whether bytes start as an audio file does: a known header or an MPEG frame sync."""
    if head.startswith(_MAGIC) or head[4:8] == b"ftyp":
        return True
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0


def _utf8(head: bytes) -> bool:
    """Whether bytes start as UTF-8 (a character cut at the end of ``head`` is not an error)."""
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _text(head: bytes) -> bool:
    """Whether bytes start as UTF-8 text (no NUL), which samples seldom do."""
    return b"\0" not in head and _utf8(head)


_HEAD = 64

# What a list of names in any 8-bit encoding is made of: all but the control characters.
_TEXT_BYTES = bytes([9, 10, 13, *range(32, 127), *range(128, 256)])


class PrefixedStream:
    """A stream whose first bytes were already read (to tell audio from text), given back."""

    def __init__(self, head: bytes, rest: BinaryIO, name: str) -> None:
        self.name = name
        self._head = head
        self._rest = rest

    def read(self, size: int = -1, /) -> bytes:
        if self._head:
            if size is None or size < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._rest.read(size)


@dataclass(frozen=True)
class Unread:
    """A pipe or stream that could not be spooled: travels in place of the source, so that
    the failure keeps its place among the results."""

    name: str
    error: str


def stream_name(source: Any) -> str:
    """How a stream is named in results: its ``name`` when it has a string one."""
    name = getattr(source, "name", None)
    return name if isinstance(name, str) and name else "<stream>"


def _read_error(exc: Exception) -> str:
    """Why a stream failed part-way (an upload whose client hung up): that input's failure,
    where an OSError was blamed on the temporary folder ("cannot copy the piped audio to
    /tmp/...") and any other exception ended the whole batch."""
    if isinstance(exc, OSError):
        return f"cannot read the stream: {exc.strerror or exc}"
    return f"cannot read the stream: {type(exc).__name__}: {first_line(exc)}"


_UNRECOGNISED = ": not a recognised audio file"  # as audio.load_audio says it


class Spool:
    """Temporary copies of piped inputs for one run, removed as each result is handed out
    and all of them on :meth:`close`."""

    def __init__(self, max_bytes: int | None = None) -> None:
        self.max_bytes = MAX_BYTES if max_bytes is None else max_bytes
        self._folder: Path | None = None
        self._names: dict[str, str] = {}  # temporary path -> the name the user gave
        self._headerless: set[str] = set()  # copies of bytes that start as no audio file does
        self._count = 0

    def take(self, source: Any) -> Any:
        """``source`` itself, or for a pipe, a stream or a file's bytes the path of its copy
        (an :class:`Unread` when it cannot be copied)."""
        if is_stream(source):
            return self._copy(source, stream_name(source))
        if is_file_bytes(source):
            copied = self._copy(io.BytesIO(source), "<bytes>")
            head = bytes(source[:_HEAD])
            if isinstance(copied, str) and not has_audio_header(head) and not _text(head):
                self._headerless.add(copied)
            return copied
        if isinstance(source, str | os.PathLike) and is_pipe(source):
            name = str(source)
            try:
                with open(source, "rb") as stream:
                    return self._copy(stream, name)
            except OSError as exc:
                return Unread(name, f"{name}: cannot read pipe: {exc.strerror or exc}")
        return source

    def _copy(self, stream: Readable, name: str) -> str | Unread:
        if self._folder is None:
            self._folder = Path(tempfile.mkdtemp(prefix="ctcasr-spool-"))
        self._count += 1
        target = self._folder / str(self._count)
        total, error = 0, None
        try:
            with open(target, "wb") as out:
                while True:
                    try:
                        block = stream.read(_BLOCK)
                    except Exception as exc:
                        error = _read_error(exc)
                        break
                    if not block:
                        break
                    if not isinstance(block, bytes | bytearray | memoryview):
                        error = ("a text stream; give audio as bytes (sys.stdin.buffer, "
                                 "not sys.stdin)")  # fmt: skip
                        break
                    total += len(block)
                    if total > self.max_bytes:
                        error = (f"more than {self.max_bytes / 1024**3:g} GiB through a pipe; "
                                 "write it to a file first")  # fmt: skip
                        break
                    out.write(block)
        except OSError as exc:
            error = f"cannot copy the piped audio to {self._folder}: {exc.strerror or exc}"
        if error is not None:  # no copy is left behind, whole or in part
            target.unlink(missing_ok=True)
            return Unread(name, f"{name}: {error}")
        self._names[str(target)] = name
        return str(target)

    def named(self, result: Any) -> Any:
        """``result`` (a Transcript or Failure) naming the input as given, its copy removed."""
        temp = getattr(result, "source", None)
        if not isinstance(temp, str) or (name := self._names.pop(temp, None)) is None:
            return result
        Path(temp).unlink(missing_ok=True)
        changes = {"source": name}
        if isinstance(getattr(result, "error", None), str):
            changes["error"] = result.error.replace(temp, name)
            if temp in self._headerless and changes["error"].endswith(_UNRECOGNISED):
                # A microphone library's buffer (PyAudio's bytes of int16) given as is was
                # refused with no word of what to give instead.
                changes["error"] += (" (samples with no header? give them as an array: "
                                     "numpy.frombuffer(data, numpy.int16))")  # fmt: skip
        self._headerless.discard(temp)
        return replace(result, **changes)

    def close(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
        self._names.clear()
        self._headerless.clear()

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
