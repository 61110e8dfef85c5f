"""Ogg files chained with ``cat``: where each link lies in the file.

An Ogg file may hold one stream after another (``cat a.ogg b.ogg``, a radio recording), each
link starting with its own header pages; ffmpeg plays them all, but libsndfile reads only the
first link and dropped the rest without a word. Each link is found here by walking the page
headers (a few bytes a page, the rest skipped), so each can be decoded on its own.
"""

from __future__ import annotations

import os

_PAGE_HEADER = 27  # "OggS", version, flags, granule position, serial, sequence, CRC, segments
_BOS = 0x02  # flag of a stream's first page


def chained_links(path: str | os.PathLike[str]) -> list[tuple[int, int]]:
    """``(start, end)`` byte ranges of the links of a chained Ogg file, when it holds more than
    one; else an empty list (one link: read as it is). A link starts at a first page (BOS)
    that follows a page that is not one: the first pages of the streams a link multiplexes
    come together, at its start. A page cut short or junk ends the walk: the last link runs
    to the file's end, and libsndfile decides what it holds."""
    links: list[tuple[int, int]] = []
    start = pos = 0
    after_first_pages = False
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        while pos + _PAGE_HEADER <= size:
            fh.seek(pos)
            head = fh.read(_PAGE_HEADER)
            if head[:4] != b"OggS":
                break
            lacing = fh.read(head[26])
            if len(lacing) < head[26]:
                break
            first = bool(head[5] & _BOS)
            if first and after_first_pages:
                links.append((start, pos))
                start = pos
            after_first_pages = not first
            pos += _PAGE_HEADER + head[26] + sum(lacing)
    return [*links, (start, size)] if links else []
