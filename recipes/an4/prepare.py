"""AN4 manifests: ``etc/an4_{train,test}.transcription`` + ``.fileids`` to JSON Lines.

Transcription lines look like ``<s> B A O Z FIVE THREE </s> (an408-fcaw-b)`` (the test file
has no ``<s>``/``</s>``). The sentence markers and the utterance id are stripped and the words
go through the transcript normaliser, so spelled letters stay single-letter words ("b a o z
five three"), which is how AN4's WER is counted. The speaker is the folder in the file id
(``an4_clstk/fcaw/an408-fcaw-b``). Dev is a speaker-disjoint slice of the train speakers: the
official test set is never used for choices.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ctcasr.errors import CtcasrError
from ctcasr.manifest import ManifestEntry, write_manifest
from ctcasr.text import normalize_text
from recipes.common import audio_duration

URL = "http://www.speech.cs.cmu.edu/databases/an4/an4_sphere.tar.gz"
LINE_RE = re.compile(r"^(?P<words>.*?)\s*\((?P<id>[^()]+)\)\s*$")
DEV_SPEAKERS = 8  # of AN4's 74 train speakers


@dataclass
class Split:
    train: list[ManifestEntry]
    dev: list[ManifestEntry]
    test: list[ManifestEntry]


def read_part(root: Path, part: str) -> list[ManifestEntry]:
    """One official part (``train`` or ``test``) as manifest entries, in file order."""
    etc = root / "etc"
    trans_path = etc / f"an4_{part}.transcription"
    ids_path = etc / f"an4_{part}.fileids"
    for path in (trans_path, ids_path):
        if not path.is_file():
            raise CtcasrError(f"{path}: missing; is {root} the AN4 folder (holding etc/, wav/)?")
    lines = [x for x in trans_path.read_text(encoding="utf-8").splitlines() if x.strip()]
    file_ids = [x.strip() for x in ids_path.read_text(encoding="utf-8").splitlines() if x.strip()]
    if not lines:  # an empty test part was found out only after training, with no results
        raise CtcasrError(f"{trans_path}: no transcriptions; is {root} a complete AN4 folder?")
    if len(lines) != len(file_ids):
        raise CtcasrError(
            f"{trans_path}: {len(lines)} transcriptions but {ids_path.name} lists {len(file_ids)}"
        )
    entries = []
    listings: dict[Path, dict[tuple[str, str], Path]] = {}
    for lineno, (line, file_id) in enumerate(zip(lines, file_ids, strict=True), start=1):
        match = LINE_RE.match(line)
        if not match:
            raise CtcasrError(f"{trans_path}:{lineno}: no (utterance id) at the end")
        utt_id = match.group("id")
        if Path(file_id).name != utt_id:  # a suffix passed: 1-fash-b for an251-fash-b
            raise CtcasrError(f"{trans_path}:{lineno}: id {utt_id} but fileids has {file_id}")
        words = [w for w in match.group("words").split() if w not in ("<s>", "</s>")]
        text = normalize_text(" ".join(words))
        audio = _audio_path(root, file_id, listings)
        speaker = Path(file_id).parent.name
        entries.append(ManifestEntry(str(audio.resolve()), text, audio_duration(audio), speaker))
    return entries


AUDIO_SUFFIXES = (".flac", ".wav", ".sph")  # the first one found is read


def _audio_path(root: Path, file_id: str,
                listings: dict[Path, dict[tuple[str, str], Path]]) -> Path:  # fmt: skip
    """The recording of ``file_id``, its suffix in any case (a copy with ``.WAV`` names was
    "audio not found"); ``listings`` keeps each folder's files, read once."""
    base = root / "wav" / file_id
    if base.parent not in listings:
        found = base.parent.iterdir() if base.parent.is_dir() else ()
        listings[base.parent] = {(p.stem, p.suffix.lower()): p for p in found}
    for ext in AUDIO_SUFFIXES:
        path = listings[base.parent].get((base.name, ext))
        if path is not None and path.is_file():
            return path
    raise CtcasrError(f"{base}: audio not found (.flac, .wav or .sph)")


def prepare(
    data_dir: str | Path, out_dir: str | Path, dev_speakers: int = DEV_SPEAKERS, seed: int = 0
) -> Split:
    """Write ``train.jsonl``, ``dev.jsonl`` and ``test.jsonl`` into ``out_dir``."""
    root = Path(data_dir)
    train_all = read_part(root, "train")
    test = read_part(root, "test")
    speakers = sorted({e.speaker for e in train_all if e.speaker})
    if len(speakers) <= dev_speakers:  # every speaker went to dev, and train was empty
        raise CtcasrError(f"{root}: {len(speakers)} train speaker(s), too few to hold "
                          f"{dev_speakers} out as dev and train on the rest")  # fmt: skip
    random.Random(seed).shuffle(speakers)
    held = set(speakers[:dev_speakers])
    train = [e for e in train_all if e.speaker not in held]
    dev = [e for e in train_all if e.speaker in held]
    out = Path(out_dir)
    for name, entries in (("train", train), ("dev", dev), ("test", test)):
        write_manifest(out / f"{name}.jsonl", entries)
    return Split(train, dev, test)


def describe(split: Split) -> str:
    rows = []
    for name in ("train", "dev", "test"):
        entries = getattr(split, name)
        speakers = Counter(e.speaker for e in entries)
        minutes = sum(e.duration for e in entries) / 60
        rows.append(
            f"{name}: {len(entries)} utterances, {len(speakers)} speakers, {minutes:.1f} min"
        )
    return "; ".join(rows)


def lm_corpus(split: Split) -> list[str]:
    """Training transcripts as LM text, one per line: never test, and never dev either, since
    the decoder's LM weights are tuned on dev (an LM that has seen the dev sentences makes a
    strong LM look good there and hurts on test)."""
    return [e.text for e in split.train if e.text]
