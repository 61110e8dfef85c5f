"""The fuzz targets: one function per parser, taking the raw bytes of a user's file.

Each target writes the bytes where the parser expects a file and calls it. A
:class:`~ctcasr.errors.CtcasrError` is the parser refusing the input, which is the correct
outcome for garbage, but its message must be one line that names the file. Any other exception,
or a result that breaks the parser's promise (audio that is not finite mono float32, an entry
the alphabet cannot spell, a phrase the model cannot emit), is a crash for the fuzzer to report.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ctcasr.errors import CtcasrError

# Big enough for any real clip, small enough that a header claiming hours cannot exhaust memory.
MAX_SECONDS = 120.0

_WORKDIR = Path(tempfile.mkdtemp(prefix="ctcasr-fuzz-"))


def _file(name: str, data: bytes) -> Path:
    path = _WORKDIR / name
    path.write_bytes(data)
    return path


def _refusal(exc: CtcasrError, path: Path) -> None:
    message = str(exc)
    if "\n" in message or "\r" in message:
        raise AssertionError(f"error message is not one line: {message!r}")
    if str(path) not in message:
        raise AssertionError(f"error message does not name {path}: {message!r}")


def fuzz_audio(data: bytes) -> None:
    """Whole-file load, header duration and the streamed reader, each ending in features."""
    from ctcasr.audio import AUDIO_EXTENSIONS, LongAudio, load_audio
    from ctcasr.features import FrontendConfig, compute_features
    from ctcasr.segment import stream_audio

    if not data:
        return
    # The first byte picks the file name's extension, which some readers look at.
    path = _file("clip" + AUDIO_EXTENSIONS[data[0] % len(AUDIO_EXTENSIONS)], data[1:])
    frontend = FrontendConfig()
    try:
        samples = load_audio(path, max_duration=MAX_SECONDS)
    except CtcasrError as exc:
        _refusal(exc, path)
    else:
        _check_samples(samples)
        feats = compute_features(samples, frontend)
        if not np.all(np.isfinite(feats)):
            raise AssertionError("features are not finite")
    try:  # the transcriber's check: would it stream this file, were it long?
        load_audio(path, max_duration=MAX_SECONDS, stream_after=0.0)
    except LongAudio:
        pass
    except CtcasrError:
        return  # refused, as above
    else:
        return  # the transcriber would load it whole, as above
    try:
        for block in stream_audio(path, frontend.sample_rate, block_seconds=1.0):
            _check_samples(block, allow_empty=True)
    except CtcasrError as exc:
        _refusal(exc, path)


def _check_samples(samples: np.ndarray, allow_empty: bool = False) -> None:
    if samples.dtype != np.float32 or samples.ndim != 1:
        raise AssertionError(f"audio is {samples.dtype} with shape {samples.shape}")
    if not allow_empty and samples.size == 0:
        raise AssertionError("audio loaded with no samples")
    if not np.all(np.isfinite(samples)):
        raise AssertionError("audio has NaN or Inf samples")


def fuzz_manifest(data: bytes) -> None:
    """Training manifests (strict, then skipping bad lines) and transcription manifests."""
    from ctcasr.inputs import manifest_audio
    from ctcasr.manifest import read_manifest
    from ctcasr.text import Alphabet

    path = _file("manifest.jsonl", data)
    (_WORKDIR / "a.wav").touch()  # a file for relative audio paths to find
    alphabet = Alphabet()
    for skip_bad in (False, True):
        try:
            report = read_manifest(path, alphabet, skip_bad=skip_bad)
        except CtcasrError as exc:
            _refusal(exc, path)
            continue
        for entry in report.entries:
            alphabet.encode(entry.text)  # must not raise: the manifest check promised it
            if not Path(entry.audio_filepath).is_file():
                raise AssertionError(f"entry names a missing file: {entry.audio_filepath!r}")
        for message in report.skipped:
            if "\n" in message or not message.startswith(f"{path}:"):
                raise AssertionError(f"skipped-line message: {message!r}")
    for audio, problem in manifest_audio(path):
        if problem is not None and ("\n" in problem or str(path) not in problem):
            raise AssertionError(f"transcription manifest problem: {problem!r}")
        if problem is None and not audio:
            raise AssertionError("manifest line gave neither a path nor a problem")


def fuzz_alphabet(data: bytes) -> None:
    """Alphabet files: a parsed alphabet is valid and survives a save and re-read."""
    from ctcasr.text import Alphabet

    path = _file("alphabet.txt", data)
    try:
        alphabet = Alphabet.from_file(path)
    except CtcasrError as exc:
        _refusal(exc, path)
        return
    if len(set(alphabet.labels)) != len(alphabet.labels) or not alphabet.labels:
        raise AssertionError(f"bad labels {alphabet.labels!r}")
    copy = _WORKDIR / "alphabet-copy.txt"
    alphabet.save(copy)
    if Alphabet.from_file(copy) != alphabet:
        raise AssertionError("alphabet changed on save and re-read")


def fuzz_commands(data: bytes) -> None:
    """Command lists: every accepted phrase is non-empty, unique and spellable by the model."""
    from ctcasr.decoding.grammar import CommandTrie, prepare_commands, read_commands
    from ctcasr.text import Alphabet

    path = _file("commands.txt", data)
    alphabet = Alphabet()
    try:
        phrases = prepare_commands(read_commands(path), alphabet, source=str(path))
    except CtcasrError as exc:
        _refusal(exc, path)
        return
    if len(set(phrases)) != len(phrases) or not all(phrases):
        raise AssertionError(f"bad phrases {phrases!r}")
    for phrase in phrases:
        alphabet.encode(phrase)
    CommandTrie.build(phrases, alphabet)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "audio": fuzz_audio,
    "manifest": fuzz_manifest,
    "alphabet": fuzz_alphabet,
    "commands": fuzz_commands,
}


def cleanup() -> None:
    for path in _WORKDIR.iterdir():
        os.unlink(path)
    _WORKDIR.rmdir()
