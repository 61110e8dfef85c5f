"""JSON Lines manifests (the NeMo convention): one utterance per line.

``{"audio_filepath": "wav/a.flac", "text": "yes", "duration": 0.9, "speaker": "s1"}``

Relative audio paths are resolved against the manifest's own folder, so a corpus folder with
its manifests can be moved as a whole.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from ctcasr.errors import AlphabetError, ManifestError
from ctcasr.text import Alphabet, normalize_text
from ctcasr.utils import atomic_write_text, file_name, read_lines

REQUIRED_KEYS = ("audio_filepath", "text", "duration")


@dataclass(frozen=True)
class ManifestEntry:
    audio_filepath: str
    text: str
    duration: float
    speaker: str | None = None

    def to_json(self) -> str:
        data = {k: v for k, v in asdict(self).items() if v is not None}
        return json.dumps(data, ensure_ascii=False)


@dataclass
class ManifestReport:
    """What :func:`read_manifest` dropped when asked to skip bad lines."""

    entries: list[ManifestEntry]
    skipped: list[str]  # one message per dropped line


def read_manifest(
    path: str | os.PathLike[str],
    alphabet: Alphabet | None = None,
    *,
    check_audio: bool = True,
    skip_bad: bool = False,
    normalize: bool = False,
) -> ManifestReport:
    """Parse and validate a manifest.

    Every problem is reported as ``path:line: cause``. With ``skip_bad`` the bad lines are
    dropped and listed in the report; otherwise the first one raises :class:`ManifestError`.
    With ``normalize`` each text is first spelled by :func:`normalize_text` for ``alphabet``
    (case, digits, punctuation), so a corpus written for other toolkits ("ZERO.", "Room 5")
    can be scored or trained on; a letter the alphabet cannot spell is still an error, never
    dropped, so no reference is quietly shortened.
    """
    path = file_name(path, "manifest", ManifestError)  # "" is ".", read as the file
    lines = read_lines(path, "manifest", ManifestError)
    entries: list[ManifestEntry] = []
    skipped: list[str] = []
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            entries.append(_parse_line(line, path, alphabet, check_audio, normalize))
        except ManifestError as exc:
            message = f"{path}:{lineno}: {exc}"
            if not skip_bad:
                raise ManifestError(message) from None
            skipped.append(message)
    if not entries:
        # With --skip-bad every line may have been dropped: say why, as without it.
        dropped = "its one line" if len(skipped) == 1 else f"all {len(skipped)} lines"
        why = f" ({dropped} dropped; first: {skipped[0]})" if skipped else ""
        raise ManifestError(f"{path}: manifest has no usable entries{why}")
    return ManifestReport(entries, skipped)


def _parse_line(
    line: str, path: Path, alphabet: Alphabet | None, check_audio: bool, normalize: bool = False
) -> ManifestEntry:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"malformed JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ManifestError("line is not a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise ManifestError(f"missing key(s): {', '.join(missing)}")
    audio, text, duration = data["audio_filepath"], data["text"], data["duration"]
    if not isinstance(audio, str) or not audio:
        raise ManifestError("audio_filepath must be a non-empty string")
    if not isinstance(text, str):
        raise ManifestError("text must be a string")
    if (
        isinstance(duration, bool)
        or not isinstance(duration, (int, float))
        or not 0 <= duration < float("inf")  # also rejects NaN and Infinity, which json accepts
    ):
        raise ManifestError(f"duration must be a finite non-negative number, got {duration!r}")
    speaker = data.get("speaker")
    audio_path = Path(audio)
    if not audio_path.is_absolute():
        audio_path = path.parent / audio_path
    if check_audio and not _is_file(audio_path):
        raise ManifestError(f"audio file not found: {audio_path}")
    if normalize:
        try:
            text = normalize_text(text, alphabet, strict=True)
        except AlphabetError as exc:
            raise ManifestError(f"text {exc}") from None
    if alphabet is not None and (bad := alphabet.unknown_chars(text)):
        raise ManifestError(
            f"text {text!r} has characters outside the alphabet: {''.join(bad)!r}"
            + _spelled_hint(text, alphabet)
        )
    return ManifestEntry(
        str(audio_path), text, float(duration), None if speaker is None else str(speaker)
    )


def _is_file(path: Path) -> bool:
    """``path.is_file()``, its OSError one line's error: under a folder the user may not
    search, or with a name too long, it raised, and ``--skip-bad`` ended on the first such
    line, in a message naming neither the manifest nor the line."""
    try:
        return path.is_file()
    except OSError as exc:
        raise ManifestError(f"cannot read audio file: {path}: {exc.strerror or exc}") from None


def _spelled_hint(text: str, alphabet: Alphabet) -> str:
    """The spelled form a manifest's text must be in, when it encodes: training and evaluate
    take the text as written, and "Más rápido" under a lower-case alphabet said only that
    "M" was outside it, never that the transcript needed normalize_text first."""
    spelled = normalize_text(text, alphabet)
    if not spelled or alphabet.unknown_chars(spelled):
        return ""
    if unicodedata.normalize("NFC", text) == spelled:
        # The two look the same on screen: say what differs (a macOS or NFD-written corpus).
        return f" (its letters are decomposed: write them composed, NFC: {spelled!r})"
    return f" (its spelled form, as ctcasr.normalize_text writes it: {spelled!r})"


def write_manifest(path: str | os.PathLike[str], entries: Iterable[ManifestEntry]) -> None:
    """Write atomically, storing paths relative to the manifest where they lie beneath it."""
    path = Path(path)
    base = path.parent.resolve()
    lines = []
    for entry in entries:
        audio = Path(entry.audio_filepath).resolve()
        try:
            rel = audio.relative_to(base)
            entry = ManifestEntry(str(rel), entry.text, entry.duration, entry.speaker)
        except ValueError:
            entry = ManifestEntry(str(audio), entry.text, entry.duration, entry.speaker)
        lines.append(entry.to_json())
    atomic_write_text(path, "\n".join(lines) + ("\n" if lines else ""))
