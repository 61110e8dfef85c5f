"""A broad synthetic corpus from registry-installable TTS engines, so the model learns to spell
words that the real corpora (about a hundred words) never say.

Engines and voices (all from Debian: ``espeak-ng flite festival festvox-kallpc16k
festvox-kdlpc16k festvox-us-slt-hts``, word list from ``wamerican``):

* espeak-ng: seven English accents x its voice variants, random rate and pitch;
* flite: kal, kal16, awb, rms, slt, random duration stretch and pitch;
* festival: kal_diphone, ked_diphone, cmu_us_slt_arctic_hts, batched per process.

Each clip is resampled to 16 kHz and randomly degraded: gain, a synthetic room reverb (decaying
noise impulse response), band-limiting to telephone or 8 kHz bandwidth. Additive noise is left
to training (``--noise-dir``), which draws fresh noise every epoch.

Texts: single words from the word list, short phrases of two to four words, spelled letters and
digit strings. Words listed in ``exclude`` (the held-out test words) never appear.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from ctcasr.audio import SAMPLE_RATE, load_audio
from ctcasr.errors import CtcasrError
from ctcasr.manifest import ManifestEntry, write_manifest
from ctcasr.text import normalize_text, number_to_words
from ctcasr.utils import atomic_dir, atomic_write_text

WORD_LIST = Path("/usr/share/dict/words")
ESPEAK_ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan",
                  "en-gb-x-gbcwmd", "en-029")  # fmt: skip
FLITE_VOICES = ("kal", "kal16", "awb", "rms", "slt")
FESTIVAL_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
# Beside the manifest: what the corpus was asked to be, so that a rerun reuses it only when
# it asks for the same (the manifest's line count fell short whenever an engine failed a clip).
RECORD_NAME = "synthetic.settings.json"


@dataclass(frozen=True)
class Item:
    index: int
    text: str
    engine: str
    voice: str
    rate: float  # 1.0 = the engine's normal speed
    pitch: float  # 1.0 = the voice's normal pitch


@dataclass(frozen=True)
class Request:
    """The settings that decide which clips :func:`generate` makes (``jobs`` does not)."""

    count: int
    seed: int
    exclude: tuple[str, ...]  # normalised and sorted: order and case change nothing
    words: str | None = None  # None: the system word list; else the given list's SHA-256

    @classmethod
    def of(cls, count: int, seed: int, exclude: Iterable[str] = (),
           words: Sequence[str] | None = None) -> Request:  # fmt: skip
        digest = None
        if words is not None:
            digest = hashlib.sha256("\n".join(words).encode("utf-8")).hexdigest()
        return cls(count, seed, tuple(sorted({normalize_text(w) for w in exclude})), digest)

    def differences(self, asked: Request) -> list[str]:
        """How this corpus differs from ``asked``, one phrase per setting."""
        said = []
        for name in ("count", "seed", "exclude", "words"):
            have, want = getattr(self, name), getattr(asked, name)
            if have != want:
                said.append(f"{name} {_show(have)} (asked {_show(want)})")
        return said


@dataclass(frozen=True)
class Record:
    """What a finished corpus was asked to be, and what came of it."""

    request: Request
    engines: tuple[str, ...]
    skipped: int  # clips an engine failed on: the manifest holds count - skipped lines

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Record:
        req = data["request"]
        request = Request(int(req["count"]), int(req["seed"]), tuple(req["exclude"]),
                          req.get("words"))  # fmt: skip
        return cls(request, tuple(data["engines"]), int(data["skipped"]))


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(value) + "]"
    return "the system word list" if value is None else str(value)


def read_record(out_dir: str | Path) -> Record | None:
    """The record beside a corpus's manifest; None for one made before records were kept."""
    path = Path(out_dir) / RECORD_NAME
    try:
        return Record.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise CtcasrError(f"{path}: unreadable corpus record ({exc}); remove {path.parent} "
                          "to make the corpus anew") from None  # fmt: skip


def available_engines() -> list[str]:
    found = []
    if shutil.which("espeak-ng"):
        found.append("espeak")
    if shutil.which("flite"):
        found.append("flite")
    if shutil.which("festival"):
        found.append("festival")
    return found


def espeak_variants() -> list[str]:
    try:
        out = subprocess.run(
            ["espeak-ng", "--voices=variant"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return [""]
    names = [line.split()[3] for line in out.splitlines()[1:] if len(line.split()) >= 4]
    return [n for n in names if "whisper" not in n.lower()] or [""]


def read_words(path: Path = WORD_LIST, exclude: Iterable[str] = ()) -> list[str]:
    """Plain lowercase dictionary words (no proper nouns, possessives or accents)."""
    if not path.is_file():
        raise CtcasrError(f"{path}: word list not found (apt-get install wamerican)")
    banned = {normalize_text(w) for w in exclude}
    words = []
    for line in path.read_text(encoding="utf-8", errors="ignore").splitlines():
        word = line.strip()
        if re.fullmatch(r"[a-z]{2,12}", word) and word not in banned:
            words.append(word)
    return sorted(set(words))


def make_texts(words: Sequence[str], count: int, rng: random.Random) -> list[str]:
    """A mix of single words (60%), short phrases (25%), spelled letters and digit strings."""
    texts = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.6:
            texts.append(rng.choice(words))
        elif roll < 0.85:
            texts.append(" ".join(rng.choice(words) for _ in range(rng.randint(2, 4))))
        elif roll < 0.93:
            texts.append(" ".join(rng.choice(LETTERS) for _ in range(rng.randint(1, 5))))
        else:
            texts.append(
                " ".join(number_to_words(rng.randint(0, 9)) for _ in range(rng.randint(1, 5)))
            )
    return texts


def plan(
    texts: Sequence[str], engines: Sequence[str], rng: random.Random, variants: Sequence[str]
) -> list[Item]:
    items = []
    for i, text in enumerate(texts):
        engine = engines[i % len(engines)]
        if engine == "espeak":
            voice = f"{rng.choice(ESPEAK_ACCENTS)}+{rng.choice(variants)}".rstrip("+")
        elif engine == "flite":
            voice = rng.choice(FLITE_VOICES)
        else:
            voice = rng.choice(FESTIVAL_VOICES)
        items.append(Item(i, text, engine, voice, rng.uniform(0.8, 1.25), rng.uniform(0.8, 1.2)))
    return items


def synthesise(items: Sequence[Item], workdir: Path) -> dict[int, Path]:
    """Raw engine output per item (festival items are batched in one process)."""
    out: dict[int, Path] = {}
    festival = [it for it in items if it.engine == "festival"]
    for it in items:
        wav = workdir / f"{it.index:07d}.wav"
        if it.engine == "espeak":
            cmd = ["espeak-ng", "-v", it.voice, "-s", str(int(165 * it.rate)),
                   "-p", str(int(50 * it.pitch)), "-w", str(wav), it.text]  # fmt: skip
        elif it.engine == "flite":
            cmd = ["flite", "-voice", it.voice, "--setf", f"duration_stretch={1 / it.rate:.3f}",
                   "--setf", f"int_f0_target_mean={110 * it.pitch:.1f}",
                   "-t", it.text, "-o", str(wav)]  # fmt: skip
        else:
            continue
        if subprocess.run(cmd, capture_output=True).returncode == 0 and wav.is_file():
            out[it.index] = wav
    if festival:
        lines = []
        for it in festival:
            wav = workdir / f"{it.index:07d}.wav"
            text = it.text.replace('"', "")
            lines += [f"(voice_{it.voice})",
                      f"(Parameter.set 'Duration_Stretch {1 / it.rate:.3f})",
                      f'(set! u (Utterance Text "{text}"))', "(utt.synth u)",
                      f"(utt.save.wave u \"{wav}\" 'riff)"]  # fmt: skip
        script = workdir / "batch.scm"
        script.write_text("\n".join(lines) + "\n", encoding="utf-8")
        subprocess.run(["festival", "-b", str(script)], capture_output=True)
        for it in festival:
            wav = workdir / f"{it.index:07d}.wav"
            if wav.is_file() and wav.stat().st_size > 44:
                out[it.index] = wav
    return out


def degrade(audio: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random gain, room reverb (p=0.4) and band-limiting (p=0.3) of a 16 kHz clip."""
    import scipy.signal

    if rng.random() < 0.4:
        rt60 = rng.uniform(0.15, 0.6)
        n = int(SAMPLE_RATE * rt60)
        decay = np.exp(-6.9 * np.arange(n) / n)  # -60 dB over rt60
        ir = rng.standard_normal(n) * decay
        ir[0] = 1.0 / rng.uniform(0.3, 1.0)  # the direct path
        wet = scipy.signal.fftconvolve(audio, ir)[: len(audio)]
        audio = wet / (np.abs(wet).max() + 1e-9) * np.abs(audio).max()
    if rng.random() < 0.3:
        low, high = (300.0, 3400.0) if rng.random() < 0.5 else (60.0, 4000.0)
        sos = scipy.signal.butter(6, [low, high], btype="bandpass", fs=SAMPLE_RATE, output="sos")
        audio = scipy.signal.sosfilt(sos, audio)
    peak = np.abs(audio).max() + 1e-9
    return (audio / peak * rng.uniform(0.1, 0.9)).astype(np.float32)


def generate(
    out_dir: str | Path,
    count: int,
    *,
    exclude: Iterable[str] = (),
    seed: int = 0,
    jobs: int = 2,
    words: Sequence[str] | None = None,
    engines: Sequence[str] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[ManifestEntry]:
    """Write ``count`` clips as FLAC under ``out_dir/audio`` and ``out_dir/synthetic.jsonl``.

    Deterministic for a given seed and engine set; clips an engine fails on are skipped.
    The clips are made in a new folder that replaces ``audio`` only once all are done: a rerun
    stopped part-way wrote over the old clips, and the old manifest named clips that now said
    other words. :data:`RECORD_NAME` records the request, written just before the manifest.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    engines = list(engines or available_engines())
    if not engines:
        raise CtcasrError("no TTS engine found: apt-get install espeak-ng flite festival")
    request = Request.of(count, seed, exclude, words)
    rng = random.Random(seed)
    vocabulary = list(words) if words is not None else read_words(exclude=exclude)
    banned = set(request.exclude)  # normalised once, as the record stores them
    vocabulary = [w for w in vocabulary if w not in banned]
    texts = make_texts(vocabulary, count, rng)
    items = plan(texts, engines, rng, espeak_variants() if "espeak" in engines else [""])
    chunks = [items[i : i + 200] for i in range(0, len(items), 200)]
    entries: dict[int, ManifestEntry] = {}

    def run_chunk(chunk: list[Item], audio_dir: Path) -> list[ManifestEntry]:
        made = []
        with tempfile.TemporaryDirectory(dir=out) as tmp:
            raw = synthesise(chunk, Path(tmp))
            for it in chunk:
                if it.index not in raw:
                    continue
                audio = load_audio(raw[it.index])
                audio = degrade(audio, np.random.default_rng([seed, it.index]))
                name = f"{it.index:07d}.flac"
                sf.write(audio_dir / name, audio, SAMPLE_RATE)
                path = out / "audio" / name  # where it lies once the folder is in place
                duration = round(len(audio) / SAMPLE_RATE, 4)
                speaker = f"{it.engine}:{it.voice}"
                made.append(
                    ManifestEntry(str(path.resolve()), normalize_text(it.text), duration, speaker)
                )
        return made

    done = 0
    with atomic_dir(out / "audio") as audio_dir, ThreadPoolExecutor(max(1, jobs)) as pool:
        for made in pool.map(run_chunk, chunks, [audio_dir] * len(chunks)):
            for entry in made:
                entries[int(Path(entry.audio_filepath).stem)] = entry
            done += 1
            if progress:
                progress(done, len(chunks))
        # Both describe the clips replaced next; the manifest goes first: stopped between the
        # two, a record without a manifest is made anew, and a manifest without its record
        # would be taken for one of older code and judged by its count alone.
        (out / "synthetic.jsonl").unlink(missing_ok=True)
        (out / RECORD_NAME).unlink(missing_ok=True)
    result = [entries[i] for i in sorted(entries)]
    # The record before the manifest, for the same reason: a manifest is never without its
    # own record (the record alone is removed by the next run, as above).
    record = Record(request, tuple(engines), count - len(result))
    atomic_write_text(out / RECORD_NAME, record.to_json())
    write_manifest(out / "synthetic.jsonl", result)
    return result


def default_jobs() -> int:
    return max(1, (os.cpu_count() or 1))
