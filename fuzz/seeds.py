"""Small valid (and nearly valid) inputs for each target, so the fuzzer starts from real formats."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np

from ctcasr.audio import AUDIO_EXTENSIONS


def _audio(fmt: str, subtype: str | None, rate: int = 8000, channels: int = 1) -> bytes:
    import soundfile as sf

    t = np.arange(int(0.04 * rate)) / rate
    tone = 0.5 * np.sin(2 * np.pi * 440 * t)
    data = np.stack([tone] * channels, axis=1) if channels > 1 else tone
    buf = io.BytesIO()
    sf.write(buf, data, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def _ext_byte(ext: str) -> bytes:
    return bytes([AUDIO_EXTENSIONS.index(ext)])


def audio_seeds() -> dict[str, bytes]:
    wav = _audio("WAV", "PCM_16")
    seeds = {
        "pcm16.wav": _ext_byte(".wav") + wav,
        "pcm8.wav": _ext_byte(".wav") + _audio("WAV", "PCM_U8"),
        "pcm24-stereo.wav": _ext_byte(".wav") + _audio("WAV", "PCM_24", 11025, 2),
        "float.wav": _ext_byte(".wav") + _audio("WAV", "FLOAT", 16000),
        "header-only.wav": _ext_byte(".wav") + wav[:44],
        "flac": _ext_byte(".flac") + _audio("FLAC", "PCM_16"),
        "ogg": _ext_byte(".ogg") + _audio("OGG", "VORBIS"),
        "aiff": _ext_byte(".aiff") + _audio("AIFF", "PCM_16"),
        "au": _ext_byte(".au") + _audio("AU", "PCM_16"),
        "text": _ext_byte(".wav") + b"not audio at all\n",
    }
    with contextlib.suppress(Exception):  # libsndfile built without mp3
        seeds["mp3"] = _ext_byte(".mp3") + _audio("MP3", "MPEG_LAYER_III", 16000)
    return seeds


def manifest_seeds() -> dict[str, bytes]:
    good = {"audio_filepath": "a.wav", "text": "yes no", "duration": 1.5, "speaker": "s1"}
    lines = [
        json.dumps(good),
        json.dumps({**good, "text": "Hello, World!"}),
        json.dumps({"audio_filepath": "missing.wav", "text": "x", "duration": 1}),
        '{"audio_filepath": "a.wav", "text": "x"}',
        '{"audio_filepath": "a.wav", "text": "x", "duration": NaN}',
        "[1, 2]",
        "{not json",
    ]
    return {"good.jsonl": (json.dumps(good) + "\n").encode(),
            "mixed.jsonl": ("\n".join(lines) + "\n\n").encode()}  # fmt: skip


def alphabet_seeds() -> dict[str, bytes]:
    from ctcasr.text import Alphabet

    return {"default.txt": Alphabet().to_text().encode(),
            "hash.txt": b"# comment\n \na\n\\#\nb\n",
            "dup.txt": b"a\nb\na\n"}  # fmt: skip


def command_seeds() -> dict[str, bytes]:
    return {"commands.txt": b"# lights\nturn on the lights\nTurn off the lights!\nstop\n",
            "numbers.txt": b"set 2 timers\n42nd street\n3.5\n",
            "accents.txt": "café\nnaïve\n\u00e9\n".encode()}  # fmt: skip


SEEDS = {"audio": audio_seeds, "manifest": manifest_seeds, "alphabet": alphabet_seeds,
         "commands": command_seeds}  # fmt: skip


def write_seeds(target: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in SEEDS[target]().items():
        (folder / name).write_bytes(data)
    return folder
