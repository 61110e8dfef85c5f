"""Google Speech Commands v0.02 -> train/dev/test/unseen manifests and command lists.

The model spells what it hears, so every clip's transcript is its word ("yes", "backward"),
and silence is the empty transcript. Layouts read:

* the official test set (and the subset kept in ``shared/data``): one folder per command
  (``yes/ no/ up/ down/ left/ right/ on/ off/ stop/ go/``) holding
  ``<speaker>_nohash_<n>.wav``; ``_unknown_/`` holding other words as
  ``<word>_<speaker>_nohash_<n>.wav``; ``_silence_/`` holding 1-s noise clips;
* the full v0.02 download: one folder per word, all 35 of them, and ``_background_noise_/``
  (long noise recordings, which are not cut into clips here: silence is then left out and
  :func:`describe` says so).

``.flac`` is read as well as ``.wav``.

Clips are split **by speaker** (the hash before ``_nohash_``): no speaker is on two sides.
The words in :data:`HELD_OUT_WORDS` are kept out of train, dev and test altogether; every
speaker's clips of them go to ``unseen``, to measure recognition of words the model never
heard, through a command list (``unseen_commands.txt``) given to the grammar decoder.
``dev_words`` (none unless asked for; :data:`DEV_WORDS` suggests some) are kept out the same
way, into ``unseen_dev``: the unseen-word test has no dev set of its own otherwise, since every
other word is trained on, so nothing could be tuned for unseen words without reading the test.
Silence clips have no speaker; they are spread over the splits by a hash of the file name
(as ``.flac``, so a ``.wav`` copy of the corpus splits them the same way).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ctcasr.errors import CtcasrError
from ctcasr.manifest import ManifestEntry, write_manifest
from ctcasr.text import normalize_text
from ctcasr.utils import atomic_write_text
from recipes.common import audio_duration, one_per_recording

URL = "http://download.tensorflow.org/data/speech_commands_v0.02.tar.gz"
TEST_SET_URL = "http://download.tensorflow.org/data/speech_commands_test_set_v0.02.tar.gz"

COMMANDS: tuple[str, ...] = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
HELD_OUT_WORDS: tuple[str, ...] = ("bird", "cat", "dog", "house", "marvin", "sheila", "tree", "wow")
# The other _unknown_ words that no other corpus here says (the rest are digits, in AN4 and
# FSDD): a dev set of unseen words, for a model trained with them held out.
DEV_WORDS: tuple[str, ...] = ("backward", "bed", "follow", "forward", "happy", "learn", "visual")
UNSEEN_DEV, UNSEEN_DEV_COMMANDS = "unseen_dev.jsonl", "unseen_dev_commands.txt"
UNKNOWN = "_unknown_"
SILENCE = "_silence_"
BACKGROUND_NOISE = "_background_noise_"
CLASSES: tuple[str, ...] = (*COMMANDS, UNKNOWN, SILENCE)
SPLITS = ("train", "dev", "test")

AUDIO_SUFFIXES = (".wav", ".flac")
WORD_DIR_RE = re.compile(r"^[a-z]+$")
CLIP_RE = re.compile(r"^([0-9A-Za-z]+)_nohash_(\d+)$")  # <speaker>_nohash_<n>
UNKNOWN_CLIP_RE = re.compile(r"^([a-z]+)_([0-9A-Za-z]+)_nohash_(\d+)$")  # <word>_<speaker>_...


@dataclass
class Split:
    train: list[ManifestEntry]
    dev: list[ManifestEntry]
    test: list[ManifestEntry]
    unseen: list[ManifestEntry]
    speakers: dict[str, list[str]]  # split name -> sorted speaker ids
    notes: list[str] = field(default_factory=list)  # what was left out, and why
    unseen_dev: list[ManifestEntry] = field(default_factory=list)  # clips of the dev words
    dev_words: tuple[str, ...] = ()


def _audio_files(folder: Path) -> list[Path]:
    return one_per_recording(sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
    ))  # fmt: skip


def _hash_fraction(seed: int, name: str) -> float:
    """A stable number in [0, 1) for a file name (unlike ``hash()``, the same in every run)."""
    digest = hashlib.sha1(f"{seed}:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _check_fractions(dev_fraction: float, test_fraction: float) -> None:
    if not (0 <= dev_fraction < 1 and 0 <= test_fraction < 1 and dev_fraction + test_fraction < 1):
        raise CtcasrError(
            f"dev_fraction ({dev_fraction}) and test_fraction ({test_fraction}) must be in [0, 1)"
            " and leave some speakers for training"
        )


def _named_clips(
    folder: Path, pattern: re.Pattern[str], expected: str
) -> list[tuple[Path, re.Match[str]]]:
    """Every audio file of ``folder`` with its name parsed; a name that does not parse is an
    error naming the file, not a clip silently dropped."""
    out = []
    for path in _audio_files(folder):
        match = pattern.match(path.stem)
        if not match:
            raise CtcasrError(
                f"{path}: unexpected file name in {folder.name}/"
                f" (expected {expected}_nohash_<n>.wav)"
            )
        out.append((path, match))
    return out


def _scan(data_dir: Path) -> tuple[list[tuple[Path, str, str | None]], list[str]]:
    """Every clip as (path, transcript, speaker); silence has speaker None. Plus notes."""
    if not data_dir.is_dir():
        raise CtcasrError(f"{data_dir}: Speech Commands folder not found (download: {URL})")
    subdirs = {p.name: p for p in sorted(data_dir.iterdir()) if p.is_dir()}
    missing = [w for w in COMMANDS if w not in subdirs]
    if missing:
        raise CtcasrError(
            f"{data_dir}: not a Speech Commands v0.02 layout: no folder(s) {', '.join(missing)}"
            f" (expected one folder per command word, plus {UNKNOWN}/ and {SILENCE}/;"
            f" download: {URL} or {TEST_SET_URL})"
        )
    clips: list[tuple[Path, str, str | None]] = []
    notes: list[str] = []
    for name, folder in subdirs.items():
        if name == SILENCE:
            clips += [(path, "", None) for path in _audio_files(folder)]
        elif name == UNKNOWN:
            named = _named_clips(folder, UNKNOWN_CLIP_RE, "<word>_<speaker>")
            clips += [(path, normalize_text(m.group(1)), m.group(2)) for path, m in named]
        elif name == BACKGROUND_NOISE:
            if SILENCE not in subdirs:
                notes.append(
                    f"no {SILENCE}/ folder: silence left out ({BACKGROUND_NOISE}/ holds long"
                    " noise recordings, which are not cut into clips)"
                )
        elif WORD_DIR_RE.match(name):
            text = normalize_text(name)
            named = _named_clips(folder, CLIP_RE, "<speaker>")
            clips += [(path, text, m.group(1)) for path, m in named]
        else:
            notes.append(f"folder {name}/ ignored (not a word, {UNKNOWN} or {SILENCE})")
    if SILENCE not in subdirs and BACKGROUND_NOISE not in subdirs:
        notes.append(f"no {SILENCE}/ folder: no silence clips")
    empty = [w for w in COMMANDS if not any(text == w for _, text, _ in clips)]
    if empty:
        raise CtcasrError(f"{data_dir}: no audio (.wav/.flac) in folder(s) {', '.join(empty)}")
    return clips, notes


def split_speakers(
    speakers: Sequence[str], dev_fraction: float, test_fraction: float, seed: int
) -> dict[str, str]:
    """Speaker id -> split name: sorted, shuffled with ``random.Random(seed)``, then cut."""
    _check_fractions(dev_fraction, test_fraction)
    order = sorted(set(speakers))
    random.Random(seed).shuffle(order)
    n = len(order)

    def count(fraction: float) -> int:
        # At least one speaker for a split asked for: with two speakers both went to train,
        # and dev and test held only silence (a 0.00% on 0 clips results page).
        return max(1, round(fraction * n)) if fraction > 0 else 0

    n_test, n_dev = count(test_fraction), count(dev_fraction)
    if n_test + n_dev >= n:
        raise CtcasrError(
            f"{n} speakers are too few to hold out {n_test} for test and {n_dev} for dev"
        )
    assignment = {s: "test" for s in order[:n_test]}
    assignment.update({s: "dev" for s in order[n_test : n_test + n_dev]})
    assignment.update({s: "train" for s in order[n_test + n_dev :]})
    return assignment


DEV_WORDS_HELP = ("keep these _unknown_ words out of all training too, as a dev set of unseen "
                  f"words to tune by (e.g. {','.join(DEV_WORDS)}) [none]")


def dev_words_arg(text: str) -> tuple[str, ...]:
    """``--dev-words a,b``, refused at the command line rather than after preparing."""
    import argparse

    try:
        return check_dev_words([w for w in text.split(",") if w.strip()])
    except CtcasrError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def check_dev_words(words: Sequence[str]) -> tuple[str, ...]:
    """``words`` normalised, or one line on why they cannot be unseen dev words."""
    out: list[str] = []
    for word in words:
        text = normalize_text(word)
        if not text or " " in text:
            raise CtcasrError(f"dev word {word!r}: expected one word")
        if text in COMMANDS or text in HELD_OUT_WORDS:
            kind = "one of the ten commands" if text in COMMANDS else "a held-out test word"
            raise CtcasrError(f"dev word {text!r} is {kind}; dev words must be other "
                              f"{UNKNOWN} words (e.g. {', '.join(DEV_WORDS)})")  # fmt: skip
        if text not in out:
            out.append(text)
    return tuple(out)


def check_dev_words_said(data_dir: str | Path, words: Sequence[str]) -> None:
    """Refuse dev words that ``data_dir``'s ``_unknown_/`` has no clips of, from file names
    alone: before other checks blame a misspelled word on the model that never held it out."""
    folder = Path(data_dir) / UNKNOWN
    if not words or not folder.is_dir():  # prepare() says what is wrong with the folder
        return
    said = set()
    for path in folder.iterdir():
        if match := UNKNOWN_CLIP_RE.match(path.stem):
            said.add(normalize_text(match.group(1)))
    _refuse_unsaid(data_dir, [w for w in check_dev_words(words) if w not in said])


def _refuse_unsaid(data_dir: str | Path, missing: Sequence[str]) -> None:
    if missing:
        raise CtcasrError(f"{data_dir}: no clips of the dev word(s) {', '.join(missing)} in "
                          f"{UNKNOWN}/ (e.g. {', '.join(DEV_WORDS)})")  # fmt: skip


def prepare(
    data_dir: str | Path,
    out_dir: str | Path,
    dev_fraction: float = 0.15,
    test_fraction: float = 0.25,
    seed: int = 0,
    dev_words: Sequence[str] = (),
) -> Split:
    """Write ``{train,dev,test,unseen}.jsonl``, ``commands.txt`` and ``unseen_commands.txt``;
    with ``dev_words``, ``unseen_dev.jsonl`` and ``unseen_dev_commands.txt`` too."""
    _check_fractions(dev_fraction, test_fraction)
    dev_words = check_dev_words(dev_words)
    clips, notes = _scan(Path(data_dir))
    held_out = set(HELD_OUT_WORDS)
    kept_out = held_out | set(dev_words)
    # Speakers are split as without dev words, so holding some out changes no test speaker.
    speakers = [s for _, text, s in clips if s is not None and text not in held_out]
    assignment = split_speakers(speakers, dev_fraction, test_fraction, seed)

    parts: dict[str, list[ManifestEntry]] = {name: [] for name in (*SPLITS, "unseen",
                                                                    "unseen_dev")}  # fmt: skip
    for path, text, speaker in clips:
        entry = ManifestEntry(str(path.resolve()), text, audio_duration(path), speaker)
        if text in held_out:
            parts["unseen"].append(entry)
        elif text in kept_out:
            parts["unseen_dev"].append(entry)
        elif speaker is None:  # silence: no speaker, spread by a hash of the file name
            # named as in the FLAC copy whatever the format: the WAV download put 148 of the
            # 232 silence clips in other splits than the copy the results were measured on
            u = _hash_fraction(seed, path.with_suffix(".flac").name)
            if u < test_fraction:
                parts["test"].append(entry)
            elif u < test_fraction + dev_fraction:
                parts["dev"].append(entry)
            else:
                parts["train"].append(entry)
        else:
            parts[assignment[speaker]].append(entry)

    if not parts["unseen"]:  # found out after training, with no results written
        raise CtcasrError(f"{data_dir}: no clips of the held-out words "
                          f"({', '.join(HELD_OUT_WORDS)}); the unseen-word test needs them "
                          "(the _unknown_ folder of the test set)")  # fmt: skip
    said = {e.text for e in parts["unseen_dev"]}
    _refuse_unsaid(data_dir, [w for w in dev_words if w not in said])
    # A partial set is read (a subset of the corpus): said in words, not only as a 0 among
    # the counts, since the unseen-word score is then over fewer words than it chooses among.
    unsaid = [w for w in HELD_OUT_WORDS if not any(e.text == w for e in parts["unseen"])]
    if unsaid:
        notes.append(f"no clips of the held-out word(s) {', '.join(unsaid)} (no folder of "
                     f"theirs, none in {UNKNOWN}/): the unseen-word test has none of them, "
                     f"though it still chooses among all {len(HELD_OUT_WORDS)}")  # fmt: skip
    speaker_sets = {
        name: sorted({e.speaker for e in entries if e.speaker is not None})
        for name, entries in parts.items()
    }
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            shared = set(speaker_sets[a]) & set(speaker_sets[b])
            if shared:  # not an assert: it must hold under python -O too
                raise AssertionError(f"speaker(s) in both {a} and {b}: {sorted(shared)[:5]}")
    if not parts["train"]:
        raise CtcasrError(f"{data_dir}: no training clips")

    out_dir = Path(out_dir)
    for name, entries in parts.items():
        if name != "unseen_dev":
            write_manifest(out_dir / f"{name}.jsonl", entries)
    atomic_write_text(out_dir / "commands.txt", "\n".join(COMMANDS) + "\n")
    atomic_write_text(out_dir / "unseen_commands.txt", "\n".join(HELD_OUT_WORDS) + "\n")
    dev_files = out_dir / UNSEEN_DEV, out_dir / UNSEEN_DEV_COMMANDS
    if dev_words:
        write_manifest(dev_files[0], parts["unseen_dev"])
        atomic_write_text(dev_files[1], "\n".join(dev_words) + "\n")
    else:  # an earlier run's would be scored as if these words had been held out
        for path in dev_files:
            path.unlink(missing_ok=True)
    return Split(parts["train"], parts["dev"], parts["test"], parts["unseen"], speaker_sets,
                 notes, parts["unseen_dev"], dev_words)  # fmt: skip


def describe(split: Split) -> str:
    """Clips, speakers, minutes and silence per split; clips per word; what was left out."""
    rows = []
    for name in (*SPLITS, "unseen"):
        entries: list[ManifestEntry] = getattr(split, name)
        minutes = sum(e.duration for e in entries) / 60
        silence = sum(1 for e in entries if e.text == "")
        speakers = len(split.speakers.get(name, []))
        rows.append(
            f"{name}: {len(entries)} clips, {speakers} speakers, {minutes:.1f} min,"
            f" {silence} silence"
        )
    lines = ["; ".join(rows)]
    seen = Counter(e.text for name in SPLITS for e in getattr(split, name))
    commands = ", ".join(f"{w} {seen[w]}" for w in COMMANDS)
    others = {w: n for w, n in seen.items() if w and w not in COMMANDS}
    lines.append(
        f"train+dev+test words: {commands}; {UNKNOWN}: {sum(others.values())} clips of"
        f" {len(others)} words; {SILENCE}: {seen['']} clips"
    )
    unseen = Counter(e.text for e in split.unseen)
    lines.append("unseen words: " + ", ".join(f"{w} {unseen[w]}" for w in HELD_OUT_WORDS))
    if split.dev_words:
        dev = Counter(e.text for e in split.unseen_dev)
        lines.append("unseen dev words (kept out of training too): "
                     + ", ".join(f"{w} {dev[w]}" for w in split.dev_words))  # fmt: skip
    lines += [f"note: {note}" for note in split.notes]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The 12-class keyword-spotting view (ten commands, unknown, silence)
# ---------------------------------------------------------------------------------------------


def twelve_class_label(text: str) -> str:
    """A transcript's 12-class label: the command itself, ``_silence_`` for "", or ``_unknown_``."""
    text = " ".join(text.split())
    if not text:
        return SILENCE
    return text if text in COMMANDS else UNKNOWN


def twelve_class_prediction(command_text: str, rejected: bool, free_text: str) -> str:
    """The 12-class prediction from a grammar decoder's result over :data:`COMMANDS`.

    ``command_text`` is the best command and ``rejected`` whether the decoder rejected it as
    out of grammar; ``free_text`` is the unconstrained (greedy) transcript of the same audio.
    Silence is usually *rejected* by the grammar decoder (it matches no command), so it is
    recognised from the free transcript instead:

    * ``_silence_`` if the free transcript is empty (the model spelled nothing);
    * else ``_unknown_`` if the command was rejected;
    * else the command, or ``_unknown_`` should it not be one of the ten.
    """
    if not free_text.strip():
        return SILENCE
    if rejected:
        return UNKNOWN
    command = " ".join(command_text.split())
    return command if command in COMMANDS else UNKNOWN


def confusion_matrix(
    labels: Sequence[str], predictions: Sequence[str], classes: Sequence[str] = CLASSES
) -> list[list[int]]:
    """Counts ``m[i][j]`` of clips whose label is ``classes[i]`` and prediction ``classes[j]``."""
    if len(labels) != len(predictions):
        raise CtcasrError(f"{len(labels)} labels but {len(predictions)} predictions")
    index = {c: i for i, c in enumerate(classes)}
    matrix = [[0] * len(classes) for _ in classes]
    for label, prediction in zip(labels, predictions, strict=True):
        for value in (label, prediction):
            if value not in index:
                raise CtcasrError(f"{value!r} is not one of the classes {list(classes)}")
        matrix[index[label]][index[prediction]] += 1
    return matrix
