"""Free Spoken Digit Dataset -> train/dev/test manifests.

The official split puts recordings with index 0-4 in test and 5-49 in train; we hold indices
5-9 of train out as dev, so every speaker and digit appears in each part (as in the official
split, FSDD's test speakers are also training speakers).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ctcasr.errors import CtcasrError
from ctcasr.manifest import ManifestEntry, write_manifest
from ctcasr.text import number_to_words
from recipes.common import audio_duration, one_per_recording

URL = "https://github.com/Jakobovski/free-spoken-digit-dataset/archive/refs/tags/v1.0.10.tar.gz"
# The suffix in any case: a copy from a FAT disk or Windows tool names its files 0_george_0.WAV.
NAME_RE = re.compile(r"^(\d)_([A-Za-z]+)_(\d+)\.(?i:wav|flac)$")
DEV_INDICES = range(5, 10)


@dataclass
class Split:
    train: list[ManifestEntry]
    dev: list[ManifestEntry]
    test: list[ManifestEntry]


def split_of(index: int) -> str:
    if index < 5:
        return "test"
    return "dev" if index in DEV_INDICES else "train"


def prepare(data_dir: str | Path, out_dir: str | Path) -> Split:
    """Write ``train.jsonl``, ``dev.jsonl`` and ``test.jsonl`` into ``out_dir``."""
    data_dir = Path(data_dir)
    recordings = data_dir / "recordings" if (data_dir / "recordings").is_dir() else data_dir
    parts: dict[str, list[ManifestEntry]] = {"train": [], "dev": [], "test": []}
    for path in one_per_recording(sorted(recordings.iterdir())):
        match = NAME_RE.match(path.name)
        if not match:
            continue
        digit, speaker, index = match.group(1), match.group(2), int(match.group(3))
        entry = ManifestEntry(
            str(path.resolve()), number_to_words(int(digit)), audio_duration(path), speaker
        )
        parts[split_of(index)].append(entry)
    if not parts["train"] or not parts["test"]:
        raise CtcasrError(f"{recordings}: no FSDD recordings ({{digit}}_{{speaker}}_{{index}}.wav)")
    _check_complete(recordings, parts)
    out_dir = Path(out_dir)
    for name, entries in parts.items():
        write_manifest(out_dir / f"{name}.jsonl", entries)
    return Split(parts["train"], parts["dev"], parts["test"])


SPLIT_INDICES = {"test": "0-4", "dev": "5-9", "train": "10-49"}


def _check_complete(recordings: Path, parts: dict[str, list[ManifestEntry]]) -> None:
    """Every speaker says every digit in every split: an interrupted extraction (files come
    out in name order, digit by digit) gave manifests without the last digits, and a model
    that never heard them, with no word said."""
    speakers = sorted({e.speaker or "" for entries in parts.values() for e in entries})
    digits = [number_to_words(d) for d in range(10)]
    gaps = []
    for name, indices in SPLIT_INDICES.items():
        said = {(e.speaker, e.text) for e in parts[name]}
        gaps += [f"{digit} by {speaker} in {name} (index {indices})"
                 for digit in digits for speaker in speakers if (speaker, digit) not in said]
    if gaps:
        more = f" and {len(gaps) - 3} more" if len(gaps) > 3 else ""
        raise CtcasrError(f"{recordings}: incomplete FSDD: no recordings of "
                          f"{'; '.join(gaps[:3])}{more}; is the download complete? "
                          f"(download: {URL})")  # fmt: skip


def describe(split: Split) -> str:
    rows = []
    for name in ("train", "dev", "test"):
        entries = getattr(split, name)
        speakers = Counter(e.speaker for e in entries)
        hours = sum(e.duration for e in entries) / 60
        rows.append(f"{name}: {len(entries)} utterances, {len(speakers)} speakers, {hours:.1f} min")
    return "; ".join(rows)
