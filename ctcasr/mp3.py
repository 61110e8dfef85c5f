"""MP3 files joined with ``cat``, or broken by damaged bytes: where their frames lie.

libsndfile (through mpg123) reads an MP3 only as far as the frame count in its first Xing or
Info header, so of two MP3 files joined end to end it read the first and dropped the rest
without a word. Each stream is found here by walking frame headers, so each can be decoded
on its own, with its own encoder delay and padding. It also stops, as quietly, at a frame
header a damaged byte has broken: :func:`resynced` cuts such stretches out.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator

# Bitrates in kbit/s by (MPEG-1 or not, layer bits), index 1-14 (0 is "free", 15 invalid).
_KBPS = {
    (True, 3): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 1): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 3): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 1): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
# Sample rates by version bits: 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5 (1 is reserved).
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def frame_length(data: bytes, i: int) -> int:
    """Bytes in the MPEG audio frame whose header starts at ``data[i]``; 0 if none does."""
    if i + 4 > len(data) or data[i] != 0xFF or data[i + 1] & 0xE0 != 0xE0:
        return 0
    version, layer = (data[i + 1] >> 3) & 3, (data[i + 1] >> 1) & 3
    index, rate_index = data[i + 2] >> 4, (data[i + 2] >> 2) & 3
    if version == 1 or layer == 0 or index in (0, 15) or rate_index == 3:
        return 0
    bitrate = _KBPS[(version == 3, layer)][index] * 1000
    rate, pad = _RATES[version][rate_index], (data[i + 2] >> 1) & 1
    if layer == 3:  # Layer I: 4-byte slots
        return (12 * bitrate // rate + pad) * 4
    if layer == 1 and version != 3:  # Layer III at MPEG-2 and 2.5: 576 samples a frame
        return 72 * bitrate // rate + pad
    return 144 * bitrate // rate + pad


def _after_id3(data: bytes, i: int) -> int:
    """Where the audio starts: past an ID3v2 tag at ``data[i]``, if there is one."""
    if data[i : i + 3] == b"ID3" and len(data) >= i + 10:
        size = 0
        for byte in data[i + 6 : i + 10]:  # "synchsafe": 7 bits a byte
            size = (size << 7) | (byte & 0x7F)
        return i + 10 + size + (10 if data[i + 5] & 0x10 else 0)  # footer flag
    return i


def _xing_counts(frame: bytes) -> tuple[int | None, int | None]:
    """The frame count and byte count in a frame's Xing/Info header (None where absent)."""

    def field(at: int) -> int | None:
        return int.from_bytes(frame[at : at + 4], "big") if len(frame) >= at + 4 else None

    for tag in (b"Xing", b"Info"):
        at = frame.find(tag, 4, 64)  # after the side information: 4 + 9..32 bytes
        flags = field(at + 4) if at >= 0 else None
        if flags is None:
            continue
        frames = field(at + 8) if flags & 1 else None
        size = field(at + 8 + (4 if flags & 1 else 0)) if flags & 2 else None
        return frames, size
    return None, None


def _counted_frames(data: bytes, i: int) -> int | None:
    """The frame count in the Xing/Info header of the frame at ``data[i]``, if it has one."""
    return _xing_counts(data[i : i + frame_length(data, i)])[0]


def joined_streams(data: bytes) -> list[tuple[int, int]]:
    """``(start, end)`` byte ranges of the streams in ``data``, when it holds more than one
    that libsndfile would stop before; else an empty list (one stream: read as it is)."""
    streams: list[tuple[int, int]] = []
    i = _after_id3(data, 0)
    while True:
        counted = _counted_frames(data, i)
        if counted is None:  # no count: libsndfile reads this stream to the file's end
            if streams:
                streams.append((i, len(data)))
            return streams
        end = i
        for _ in range(counted + 1):  # the Xing/Info frame holds no audio of its own
            length = frame_length(data, end)
            if not length:
                break
            end += length
        following = _after_id3(data, end)
        if not frame_length(data, following) or not frame_length(data, following
                                                                 + frame_length(data, following)):
            # Nothing after the counted frames but tags or junk: a single stream.
            if streams:
                streams.append((i, len(data)))
            return streams
        streams.append((i, end))
        i = following


def suspect_joined(path: str | os.PathLike[str]) -> bytes | None:
    """The file's bytes when more MPEG frames may follow the first stream's end by its
    Xing/Info byte count (or it has no byte count); None for a single stream, decided
    from the header alone, without reading the file."""
    with open(path, "rb") as fh:
        start = _after_id3(fh.read(10), 0)
        fh.seek(start)
        first = fh.read(2048)
        frames, counted = _xing_counts(first[: frame_length(first, 0)])
        if frames is None:
            return None  # no Xing/Info count: libsndfile reads to the end
        if counted is not None:
            # Counted from the first frame, or (some encoders) with the ID3v2 tag.
            for end in {start + counted, counted}:
                fh.seek(end)
                after = fh.read(4)
                if after[:3] == b"ID3" or frame_length(after, 0):
                    break
            else:
                return None
        fh.seek(0)
        return fh.read()


def open_streams(data: bytes, streams: list[tuple[int, int]]) -> Iterator[io.BytesIO]:
    """Each stream as a file object libsndfile reads on its own."""
    for start, end in streams:
        yield io.BytesIO(data[start:end])


# Frames in a row, all of the first frame's kind, that show where whole frames start again
# after damage: a chance 0xFF in the damaged bytes or in frame data seldom heads even two.
_CHAIN = 3


def _kind(data: bytes, i: int) -> tuple[int, int, bool]:
    """What mpg123 takes a change of for a new stream: MPEG version, layer, sample rate, and
    whether it is mono."""
    return (data[i + 1] >> 1) & 0x0F, (data[i + 2] >> 2) & 3, data[i + 3] >> 6 == 3


def _run_end(data: bytes, i: int, kind: tuple[int, int, bool]) -> int:
    """Where the run of whole frames of ``kind`` from ``data[i]`` ends."""
    while (length := frame_length(data, i)) and _kind(data, i) == kind:
        i += length
    return i


def _resync(data: bytes, i: int, kind: tuple[int, int, bool]) -> int | None:
    """The first offset from ``i`` that starts :data:`_CHAIN` frames of ``kind`` (or frames of
    it to the file's end); None when none does (tags or junk to the end)."""
    pattern = _headers_of(kind)
    while (found := pattern.search(data, i)) is not None:
        i = end = found.start()
        count = 0
        while count < _CHAIN and (length := frame_length(data, end)) and (
            _kind(data, end) == kind
        ):
            end, count = end + length, count + 1
        if count == _CHAIN or (count and end >= len(data)):
            return i
        i += 1
    return None


def _headers_of(kind: tuple[int, int, bool]) -> re.Pattern[bytes]:
    """Frame headers of ``kind``, any bitrate, padding or protection: searched for in C, where
    a byte at a time in Python took a minute over 50 MB of 0xFF bytes."""
    bits, rate, mono = kind
    second = bytes([0xE0 | bits << 1, 0xE0 | bits << 1 | 1])
    third = bytes(b for b in range(256) if b >> 2 & 3 == rate and b >> 4 not in (0, 15))
    fourth = bytes(b for b in range(256) if (b >> 6 == 3) == mono)
    return re.compile(b"\xff" + b"".join(b"[" + re.escape(c) + b"]"
                                          for c in (second, third, fourth)))


def resynced(path: str | os.PathLike[str]) -> bytes | None:
    """The file's bytes with each damaged stretch cut out, when damaged bytes break its run
    of frames and whole frames follow; None when its frames run unbroken to its end, or up
    to tags or junk (read as it is). mpg123 stopped at a broken frame header without a word:
    a 38 s recording with one damaged byte 0.2 s in was transcribed as its first word, exit
    0. Walked a header at a time, so an unbroken file is not read whole."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        start = pos = _after_id3(fh.read(10), 0)
        kind = None
        while pos + 4 <= size:
            fh.seek(pos)
            head = fh.read(4)
            length = frame_length(head, 0)
            if not length or kind not in (None, _kind(head, 0)):
                break
            kind, pos = _kind(head, 0), pos + length
        if kind is None or pos + 4 > size:
            return None
        fh.seek(pos)  # the rest alone first: most files end in a 128-byte ID3v1 tag, and
        tail = fh.read()  # read whole to find no frame after it, each cost its size in memory
        if _resync(tail, 1, kind) is None:
            return None
        fh.seek(0)
        data = fh.read(pos) + tail
    parts, begin = [data[:start]], start
    while (after := _resync(data, pos + 1, kind)) is not None:
        parts.append(data[begin:pos])
        begin, pos = after, _run_end(data, after, kind)
    if begin == start:
        return None
    return b"".join([*parts, data[begin:]])
