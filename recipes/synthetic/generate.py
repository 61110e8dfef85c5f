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
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
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
ENGINES = ("espeak", "flite", "festival")
# The Debian packages that install each engine and voice, for the line saying one is missing.
PACKAGES = {"espeak": "espeak-ng", "flite": "flite", "festival": "festival",
            "kal_diphone": "festvox-kallpc16k", "ked_diphone": "festvox-kdlpc16k",
            "cmu_us_slt_arctic_hts": "festvox-us-slt-hts"}  # fmt: skip
LETTERS = "abcdefghijklmnopqrstuvwxyz"
# Beside the manifest: what the corpus was asked to be, so that a rerun reuses it only when
# it asks for the same (the manifest's line count fell short whenever an engine failed a clip).
RECORD_NAME = "synthetic.settings.json"
# Seconds an engine may go without finishing a clip before it is killed and the clip left out:
# each takes well under a second, and one that hung (a stuck audio device, a broken voice)
# stopped the whole corpus, Ctrl-C and SIGTERM included, until it was killed by hand.
ENGINE_TIMEOUT = 60.0
MAX_HANGS = 3  # an engine that hung this often is not run again: each hang costs a timeout
SILENT = 1e-4  # a clip whose peak is below this says nothing: an engine's failure, not speech


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


def all_voices() -> dict[str, tuple[str, ...]]:
    """Each engine's voices (espeak: accents) that the recipe asks for."""
    return {"espeak": ESPEAK_ACCENTS, "flite": FLITE_VOICES, "festival": FESTIVAL_VOICES}


def installed_voices(engines: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Of each engine's voices (espeak: accents), those installed here, in the order of
    :data:`ESPEAK_ACCENTS`, :data:`FLITE_VOICES` and :data:`FESTIVAL_VOICES`. An engine whose
    list cannot be read keeps them all: its clips then fail one by one, each saying why."""
    wanted = all_voices()
    asks = {"espeak": ["espeak-ng", "--voices=en"], "flite": ["flite", "-lv"],
            "festival": ["festival", "-b", "(print (voice.list))"]}  # fmt: skip
    found = {}
    for engine in engines:
        try:
            said = subprocess.run(asks[engine], capture_output=True, text=True, check=True,
                                  timeout=ENGINE_TIMEOUT, stdin=subprocess.DEVNULL).stdout
        except (OSError, subprocess.SubprocessError):
            found[engine] = wanted[engine]
            continue
        if engine == "espeak":  # a table: the second column is the language (the accent)
            names = {line.split()[1] for line in said.splitlines()[1:] if len(line.split()) > 1}
        else:  # "Voices available: kal awb ...", "(cmu_us_slt_arctic_hts ked_diphone ...)"
            names = set(re.findall(r"[\w-]+", said))
        found[engine] = tuple(v for v in wanted[engine] if v in names)
    return found


def usable_voices(engines: Sequence[str] | None,
                  warn: Callable[[str], None]) -> dict[str, tuple[str, ...]]:  # fmt: skip
    """The engines to use (``None``: all of :data:`ENGINES` that are installed) and their
    installed voices; ``warn`` hears one line per missing engine or voice, which the corpus is
    made without (a missing festival voice failed every festival clip after it, silently, and
    a missing engine went unmentioned)."""
    if engines is None:
        engines = available_engines()
        for engine in ENGINES:
            if engine not in engines:
                warn(f"{PACKAGES[engine]} is not installed (apt-get install {PACKAGES[engine]})"
                     ": the corpus is made without it")  # fmt: skip
    voices = installed_voices(engines)
    wanted = all_voices()
    for engine, have in list(voices.items()):
        missing = [v for v in wanted[engine] if v not in have]
        if not missing:
            continue
        kind = "accent" if engine == "espeak" else "voice"
        packages = sorted({PACKAGES.get(v, PACKAGES[engine]) for v in missing})
        if engine == "espeak":  # its accents come with its data package
            packages = ["espeak-ng-data"]
        fix = f"apt-get install {' '.join(packages)}"
        if not have:
            warn(f"{engine} has none of its {kind}s ({', '.join(missing)}) installed ({fix}): "
                 "the corpus is made without it")  # fmt: skip
            del voices[engine]
        else:
            plural = "s" if len(missing) > 1 else ""
            warn(f"{engine} {kind}{plural} {', '.join(missing)} not installed ({fix}): the "
                 f"corpus is made without {'them' if plural else 'it'}")  # fmt: skip
    return voices


def plan(
    texts: Sequence[str], engines: Sequence[str], rng: random.Random, variants: Sequence[str],
    voices: dict[str, tuple[str, ...]] | None = None,
) -> list[Item]:
    """Each text's engine (in turn) and voice, rate and pitch (seeded). ``voices``: each
    engine's voices, all of them by default."""
    voices = voices or all_voices()
    items = []
    for i, text in enumerate(texts):
        engine = engines[i % len(engines)]
        if engine == "espeak":
            voice = f"{rng.choice(voices['espeak'])}+{rng.choice(variants)}".rstrip("+")
        else:
            voice = rng.choice(voices[engine])
        items.append(Item(i, text, engine, voice, rng.uniform(0.8, 1.25), rng.uniform(0.8, 1.2)))
    return items


@dataclass
class Control:
    """What the workers of one :func:`generate` share: whether to stop (Ctrl-C), and which
    engines hung (one that keeps hanging would cost a timeout per clip)."""

    stop: threading.Event = field(default_factory=threading.Event)
    hangs: Counter[str] = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def hung(self, engine: str) -> None:
        with self.lock:
            self.hangs[engine] += 1

    def given_up(self, engine: str) -> str | None:
        with self.lock:
            if self.hangs[engine] >= MAX_HANGS:
                return f"{engine} hung {self.hangs[engine]} times; not run again"
        return None


def synthesise(
    items: Sequence[Item], workdir: Path, control: Control | None = None
) -> tuple[dict[int, Path], dict[int, str]]:
    """Raw engine output per item, and why each other item has none (festival items are
    batched in one process). A clip an engine fails on, hangs on or stops on is one item's
    failure: the rest go on."""
    control = control or Control()
    stop = control.stop
    out: dict[int, Path] = {}
    failed: dict[int, str] = {}
    festival = [it for it in items if it.engine == "festival"]
    for it in items:
        if stop.is_set():
            return out, failed
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
        why = control.given_up(it.engine) or _run_engine(it.engine, cmd, workdir / "engine.log",
                                                          control)  # fmt: skip
        if why is None and not wav.is_file():
            why = "it wrote no file"
        if why is None:
            out[it.index] = wav
        else:
            failed[it.index] = why
    if festival and not stop.is_set():
        lines = []
        for it in festival:
            wav = workdir / f"{it.index:07d}.wav"
            text = it.text.replace('"', "")
            # unwind-protect: an error (a voice not installed) fails this clip, not the rest
            lines += ["(unwind-protect (begin",
                      f"  (voice_{it.voice})",
                      f"  (Parameter.set 'Duration_Stretch {1 / it.rate:.3f})",
                      f'  (set! u (Utterance Text "{text}"))', "  (utt.synth u)",
                      f"  (utt.save.wave u \"{wav}\" 'riff))",
                      f'  (format stderr "{_FESTIVAL_FAILED} {it.index}\\n"))']  # fmt: skip
        script = workdir / "batch.scm"
        script.write_text("\n".join(lines) + "\n", encoding="utf-8")
        log = workdir / "festival.log"
        wavs = [workdir / f"{it.index:07d}.wav" for it in festival]
        why = control.given_up("festival") or _run_engine(
            "festival", ["festival", "-b", str(script)], log, control,
            done=lambda: sum(w.is_file() for w in wavs))  # fmt: skip
        said = _festival_failures(log) if log.is_file() else {}
        for it, wav in zip(festival, wavs, strict=True):
            if it.index in said:
                failed[it.index] = said[it.index]
            elif wav.is_file() and wav.stat().st_size > 44:
                out[it.index] = wav
            else:
                failed[it.index] = why or "it wrote no clip"
    return out, failed


_FESTIVAL_FAILED = "ctcasr-clip-failed"


def _kill(proc: subprocess.Popen[bytes]) -> None:
    """Kill an engine and what it started (a wrapper script's own child kept running)."""
    try:
        if os.name == "posix":
            os.killpg(proc.pid, signal.SIGKILL)
        else:
            proc.kill()
    except OSError:  # it ended meanwhile
        pass
    proc.wait()


def _festival_failures(log: Path) -> dict[int, str]:
    """Festival's first complaint before each clip's failure marker, by item index."""
    failed: dict[int, str] = {}
    said: list[str] = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith(_FESTIVAL_FAILED):
            failed[int(line.split()[1])] = said[0] if said else "festival failed on it"
            said = []
        elif line.strip():
            said.append(line.strip())
    return failed


def _run_engine(engine: str, cmd: list[str], log: Path, control: Control,
                done: Callable[[], int] | None = None) -> str | None:  # fmt: skip
    """Run one engine command; None if it succeeded, else why not, in a few words.

    It is killed (with any process it started) once it goes :data:`ENGINE_TIMEOUT` seconds
    without finishing a clip (``done`` counts the clips a batch has finished), or at once on
    ``control.stop``.
    """
    with open(log, "wb") as err:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err, start_new_session=os.name == "posix")  # fmt: skip
        except OSError as exc:  # the binary went away, or is not executable
            return f"{cmd[0]} did not start ({exc.strerror or exc})"
        finished, deadline = -1, 0.0
        while True:
            try:
                status = proc.wait(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                now = done() if done else 0
                if now != finished:
                    finished, deadline = now, time.monotonic() + ENGINE_TIMEOUT
                if control.stop.is_set() or time.monotonic() > deadline:
                    _kill(proc)
                    if control.stop.is_set():
                        return "stopped"
                    control.hung(engine)
                    return f"{cmd[0]} hung: no clip within {ENGINE_TIMEOUT:g} s, killed"
    if status == 0:
        return None
    lines = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return f"{cmd[0]} failed (exit status {status}" + (f": {lines[-1]})" if lines else ")")


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
    warn: Callable[[str], None] | None = None,
) -> list[ManifestEntry]:
    """Write ``count`` clips as FLAC under ``out_dir/audio`` and ``out_dir/synthetic.jsonl``.

    Deterministic for a given seed and engine set. A clip an engine fails on, hangs on or
    writes nothing usable for is left out, and ``warn`` (default: a ``warning:`` line on
    stderr) is told of them all in one line; none made at all is an error.
    The clips are made in a new folder that replaces ``audio`` only once all are done: a rerun
    stopped part-way wrote over the old clips, and the old manifest named clips that now said
    other words. :data:`RECORD_NAME` records the request, written just before the manifest.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clear_leftovers(out)
    voices = usable_voices(engines, warn or _warn)
    engines = [e for e in (engines or ENGINES) if e in voices]
    if not engines:
        raise CtcasrError("no TTS engine with its voices found: apt-get install espeak-ng "
                          f"flite festival {' '.join(PACKAGES[v] for v in FESTIVAL_VOICES)}")
    request = Request.of(count, seed, exclude, words)
    rng = random.Random(seed)
    vocabulary = list(words) if words is not None else read_words(exclude=exclude)
    banned = set(request.exclude)  # normalised once, as the record stores them
    vocabulary = [w for w in vocabulary if w not in banned]
    texts = make_texts(vocabulary, count, rng)
    variants = espeak_variants() if "espeak" in engines else [""]
    items = plan(texts, engines, rng, variants, voices)
    chunks = [items[i : i + 200] for i in range(0, len(items), 200)]
    entries: dict[int, ManifestEntry] = {}
    failures: list[Failure] = []
    control = Control()  # its stop is set on Ctrl-C: the workers kill their engines, return
    done = 0
    with atomic_dir(out / "audio") as audio_dir, ThreadPoolExecutor(max(1, jobs)) as pool:
        try:
            for made, failed in pool.map(
                _make_chunk, chunks, [audio_dir] * len(chunks), [out] * len(chunks),
                [seed] * len(chunks), [control] * len(chunks),
            ):  # fmt: skip
                for entry in made:
                    entries[int(Path(entry.audio_filepath).stem)] = entry
                failures += failed
                done += 1
                if progress:
                    progress(done, len(chunks))
        except BaseException:  # the pool waits for its running chunks: they stop at once
            control.stop.set()
            raise
        if not entries:  # before the old corpus is replaced by an empty one
            raise CtcasrError(f"no clip was made; the first failure: {failures[0]}")
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
    if failures:
        (warn or _warn)(failure_summary(failures, count))
    return result


@dataclass(frozen=True)
class Failure:
    """A clip left out of the corpus, and why."""

    item: Item
    reason: str

    def __str__(self) -> str:
        it = self.item
        return f"clip {it.index} ({it.engine}:{it.voice}, {it.text!r}): {self.reason}"


def failure_summary(failures: Sequence[Failure], count: int, show: int = 3) -> str:
    """One line: how many clips were left out, the first few, and the voices they came from."""
    voices = Counter(f"{f.item.engine}:{f.item.voice}" for f in failures)
    first = "; ".join(str(f) for f in failures[:show])
    more = f"; {len(failures) - show} more" if len(failures) > show else ""
    by_voice = ", ".join(f"{v} {n}" for v, n in voices.most_common())
    return (f"{len(failures)} of {count} clips failed and are left out of the manifest "
            f"({by_voice}): {first}{more}")  # fmt: skip


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr)


def _make_chunk(chunk: list[Item], audio_dir: Path, out: Path, seed: int,
                control: Control) -> tuple[list[ManifestEntry], list[Failure]]:  # fmt: skip
    """The FLAC clips of one chunk in ``audio_dir``, their entries (paths as they will be
    under ``out/audio``) and the clips that failed: unreadable or silent engine output (an
    empty WAV stopped the whole corpus, naming only a temporary file)."""
    made, failed = [], []
    with tempfile.TemporaryDirectory(prefix=f"{WORK_PREFIX}{os.getpid()}-", dir=out) as tmp:
        raw, why = synthesise(chunk, Path(tmp), control)
        for it in chunk:
            if control.stop.is_set():
                break
            if it.index not in raw:
                failed.append(Failure(it, why.get(it.index, "no clip")))
                continue
            try:
                audio = load_audio(raw[it.index])
            except CtcasrError as exc:
                failed.append(Failure(it, str(exc).removeprefix(f"{raw[it.index]}: ")))
                continue
            if audio.size == 0 or np.abs(audio).max() < SILENT:
                failed.append(Failure(it, "the engine wrote silence"))
                continue
            audio = degrade(audio, np.random.default_rng([seed, it.index]))
            name = f"{it.index:07d}.flac"
            sf.write(audio_dir / name, audio, SAMPLE_RATE)
            path = out / "audio" / name  # where it lies once the folder is in place
            duration = round(len(audio) / SAMPLE_RATE, 4)
            speaker = f"{it.engine}:{it.voice}"
            made.append(
                ManifestEntry(str(path.resolve()), normalize_text(it.text), duration, speaker)
            )
    return made, failed


WORK_PREFIX = ".synthetic-work."  # a chunk's raw engine output: .synthetic-work.PID-XXXX


def clear_leftovers(out: Path) -> None:
    """Remove what a killed run (SIGKILL, the OOM killer, a power cut) left in ``out``: the
    audio folder it was filling (``.audio.PID-HEX.tmp``, up to the whole corpus, 400 MB at
    20,000 clips) and its chunks' raw output. Every rerun left them, and added its own if
    killed too. A folder whose process still runs here is left alone."""
    if os.name != "posix":  # os.kill(pid, 0) ends the process elsewhere
        return
    for path in [*out.glob(".audio.*.tmp"), *out.glob(f"{WORK_PREFIX}*")]:
        pid = path.name.split(".")[2].split("-")[0]
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:  # its run is gone
            shutil.rmtree(path, ignore_errors=True)
        except OSError:  # another user's process: alive
            continue


def default_jobs() -> int:
    return max(1, (os.cpu_count() or 1))
