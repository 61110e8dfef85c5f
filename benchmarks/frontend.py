"""Front-end robustness: the bundled model on dev clips recorded the ways users record them.

    python benchmarks/frontend.py --data ../shared/data --per-corpus 20 \
        --output benchmarks/FRONTEND.md

Clean dev clips (never test): every n-th of FSDD dev (recordings 5-9 of each speaker), AN4
dev (the 8 train speakers the recipe holds out) and Speech Commands dev speakers (words only,
no silence clips). Each is written to a file after a transformation a user's recording might
have had (level, clipping, DC offset, sample rate, sample format, silence or room tone around
it, stereo, lossy codecs), then transcribed from that file with the greedy decoder and the
bundle's default decoder, exactly as ``ctcasr transcribe FILE`` reads it. Scored per
transform: WER over all clips, and the share of clips transcribed exactly.
"""

from __future__ import annotations

import argparse
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Clip:
    path: str
    text: str
    corpus: str


def dev_clips(data: Path, tmp: Path, per_corpus: int) -> list[Clip]:
    """``per_corpus`` clips spread evenly over each corpus's dev split (with words)."""
    from recipes.an4.prepare import prepare as prepare_an4
    from recipes.fsdd.prepare import prepare as prepare_fsdd
    from recipes.speech_commands.prepare import prepare as prepare_sc

    splits = {
        "fsdd": prepare_fsdd(data / "fsdd", tmp / "fsdd").dev,
        "an4": prepare_an4(data / "an4", tmp / "an4").dev,
        "sc": [e for e in prepare_sc(data / "speech_commands", tmp / "sc").dev if e.text],
    }
    clips = []
    for corpus, entries in splits.items():
        step = max(1, len(entries) // per_corpus)
        clips += [Clip(e.audio_filepath, e.text, corpus) for e in entries[::step][:per_corpus]]
    return clips


# ---------------------------------------------------------------------------------------------
# transforms: (mono float32 samples, rate, noise, out path without suffix) -> written file
# ---------------------------------------------------------------------------------------------

Transform = Callable[[np.ndarray, int, np.ndarray, Path], Path]


def _wav(x: np.ndarray, rate: int, out: Path, subtype: str = "PCM_16") -> Path:
    import soundfile as sf

    path = out.with_suffix(".wav")
    sf.write(path, x, rate, subtype=subtype)
    return path


def _resampled(x: np.ndarray, rate: int, to: int) -> np.ndarray:
    import soxr

    return x if rate == to else soxr.resample(x, rate, to, quality="HQ").astype(np.float32)


def _peak_at(x: np.ndarray, dbfs: float) -> np.ndarray:
    return (x / max(float(np.abs(x).max()), 1e-9) * 10 ** (dbfs / 20)).astype(np.float32)


def level(dbfs: float, subtype: str = "PCM_16") -> Transform:
    return lambda x, r, n, o: _wav(_peak_at(x, dbfs), r, o, subtype)


def hot(gain_db: float) -> Transform:
    """Peak normalised to 0 dBFS, then ``gain_db`` more, clipped at full scale."""
    return lambda x, r, n, o: _wav(np.clip(_peak_at(x, gain_db), -1, 1), r, o)


def dc(offset: float) -> Transform:
    return lambda x, r, n, o: _wav(_peak_at(x, -6) + np.float32(offset), r, o)


def rate_of(to: int, back: int | None = None) -> Transform:
    """Resampled to ``to`` Hz (and then to ``back``), written at that rate."""

    def run(x: np.ndarray, r: int, n: np.ndarray, o: Path) -> Path:
        y = _resampled(x, r, to)
        return _wav(_resampled(y, to, back) if back else y, back or to, o)

    return run


def telephone(x: np.ndarray, r: int, n: np.ndarray, o: Path) -> Path:
    """8 kHz, 300-3400 Hz band, mu-law (what a phone line carries), as a mu-law WAV."""
    y = _resampled(x, r, 8000)
    spectrum = np.fft.rfft(y)
    freqs = np.fft.rfftfreq(len(y), 1 / 8000)
    spectrum[(freqs < 300) | (freqs > 3400)] = 0
    y = np.fft.irfft(spectrum, len(y)).astype(np.float32)
    return _wav(_peak_at(y, -3), 8000, o, "ULAW")


def fmt(subtype: str, peak: float = -3) -> Transform:
    return lambda x, r, n, o: _wav(_peak_at(x, peak), r, o, subtype)


def padded(seconds: float, room: bool, peak: float = -3) -> Transform:
    """``seconds`` of digital silence (or room tone 35 dB under the speech) on each side, the
    whole peaking at ``peak`` dBFS."""

    def run(x: np.ndarray, r: int, n: np.ndarray, o: Path) -> Path:
        pad = np.zeros(int(seconds * r), np.float32)
        y = np.concatenate([pad, x, pad])
        if room:
            tone = np.resize(_resampled(n, 16000, r), len(y))
            rms = float(np.sqrt(np.mean(x**2)))
            tone = tone / float(np.sqrt(np.mean(tone**2))) * rms * 10 ** (-35 / 20)
            y = y + tone.astype(np.float32)
        return _wav(_peak_at(y, peak), r, o)

    return run


def stereo(second: Callable[[np.ndarray], np.ndarray]) -> Transform:
    def run(x: np.ndarray, r: int, n: np.ndarray, o: Path) -> Path:
        y = _peak_at(x, -3)
        return _wav(np.stack([y, second(y)], axis=1), r, o)

    return run


def codec(suffix: str, *options: str) -> Transform:
    """Encoded with ffmpeg (``options`` after the input)."""

    def run(x: np.ndarray, r: int, n: np.ndarray, o: Path) -> Path:
        source = _wav(_peak_at(x, -3), r, o.with_name(o.name + "-src"))
        path = o.with_suffix(suffix)
        subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(source), *options,
                        str(path)], check=True)  # fmt: skip
        source.unlink()
        return path

    return run


TRANSFORMS: dict[str, Transform] = {
    "baseline (16-bit WAV, source rate)": lambda x, r, n, o: _wav(x, r, o),
    "peak -30 dBFS": level(-30),
    "peak -40 dBFS": level(-40),
    "peak -50 dBFS, 24-bit": level(-50, "PCM_24"),
    "hot: +6 dB over full scale, clipped": hot(6),
    "hot: +20 dB over full scale, clipped": hot(20),
    "DC offset +0.1": dc(0.1),
    "DC offset -0.4": dc(-0.4),
    "8 kHz source": rate_of(8000),
    "8 kHz, resampled back to 16 kHz": rate_of(8000, 16000),
    "telephone: 8 kHz mu-law, 300-3400 Hz": telephone,
    "11.025 kHz source": rate_of(11025),
    "22.05 kHz source": rate_of(22050),
    "44.1 kHz source": rate_of(44100),
    "48 kHz source": rate_of(48000),
    "8-bit unsigned WAV": fmt("PCM_U8"),
    "24-bit WAV": fmt("PCM_24"),
    "32-bit float WAV": fmt("FLOAT"),
    "3 s digital silence each side": padded(3, room=False),
    "3 s room tone each side (35 dB under)": padded(3, room=True),
    "20 s room tone each side (split path)": padded(20, room=True),
    "20 s room tone each side (split path) at -40 dBFS": padded(20, room=True, peak=-40),
    "stereo, right channel dead": stereo(np.zeros_like),
    "stereo, channels in opposite phase": stereo(np.negative),
    "MP3 32 kbit/s": codec(".mp3", "-b:a", "32k"),
    "MP3 16 kbit/s, 8 kHz": codec(".mp3", "-ar", "8000", "-b:a", "16k"),
    "Ogg Vorbis q0": codec(".ogg", "-c:a", "libvorbis", "-q:a", "0"),
    "Opus 12 kbit/s": codec(".opus", "-c:a", "libopus", "-b:a", "12k"),
}


CODECS = {name for name in TRANSFORMS if name.split()[0] in ("MP3", "Ogg", "Opus")}


def score(clips: list[Clip], paths: list[Path], transcriber) -> tuple[float, float, int]:
    """(WER, exact share, failures) of ``transcriber`` on ``paths``."""
    from ctcasr.metrics import error_report
    from ctcasr.text import normalize_text
    from ctcasr.transcribe import Failure

    results = transcriber.transcribe_batch([str(p) for p in paths])
    hyps = ["" if isinstance(r, Failure) else r.text for r in results]
    failed = [i for i, r in enumerate(results) if isinstance(r, Failure)]
    refs = [normalize_text(c.text) for c in clips]
    report = error_report(refs, [normalize_text(h) for h in hyps], failed=failed)
    return report.wer, report.sentence_accuracy, len(failed)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--per-corpus", type=int, default=20)
    p.add_argument("--model", default=None, help="bundle [the bundled model]")
    p.add_argument("--only", default="", help="comma-separated transform name prefixes")
    p.add_argument("--output", type=Path)
    p.add_argument("--tree", type=Path, default=REPO,
                   help="the checkout whose ctcasr is measured (git worktree add TREE REV) "
                   "[this one]")  # fmt: skip
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sys.path.insert(0, str(args.tree.resolve()))
    import soundfile as sf

    from ctcasr.transcribe import Transcriber
    from recipes.common import git_commit, hardware
    have_ffmpeg = shutil.which("ffmpeg") is not None
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        clips = dev_clips(args.data, tmp / "manifests", args.per_corpus)
        sources = [sf.read(c.path, dtype="float32") for c in clips]
        noise, _ = sf.read(args.data / "noise" / "air_conditioner.flac", dtype="float32")
        greedy = Transcriber(args.model, decoder="greedy")
        default = Transcriber(args.model)
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        for name, transform in TRANSFORMS.items():
            if wanted and not any(name.startswith(w) for w in wanted) and rows:
                continue
            if name in CODECS and not have_ffmpeg:
                continue
            folder = tmp / str(len(rows))
            folder.mkdir()
            paths = [transform(x, r, noise, folder / f"{i}")
                     for i, (x, r) in enumerate(sources)]  # fmt: skip
            g, d = score(clips, paths, greedy), score(clips, paths, default)
            rows.append((name, g, d))
            print(f"{name:45s} greedy WER {g[0]:6.2%} exact {g[1]:6.1%} fail {g[2]}  "
                  f"{default.decoder} WER {d[0]:6.2%} exact {d[1]:6.1%} fail {d[2]}", flush=True)
            shutil.rmtree(folder)
    counts = {c: sum(1 for x in clips if x.corpus == c) for c in ("fsdd", "an4", "sc")}
    tree = "" if args.tree == REPO else f" --tree {args.tree}"
    lines = [
        "# Front-end robustness",
        "",
        "Reproduce with:",
        "",
        f"    python benchmarks/frontend.py --data ../shared/data --per-corpus {args.per_corpus}"
        f"{tree} --output benchmarks/FRONTEND.md",
        "",
        f"Machine: {hardware()}; Python {platform.python_version()}; ctcasr at "
        f"{git_commit(args.tree)}; "
        f"model `{args.model or 'ctcasr/pretrained/default'}`.",
        "",
        f"{len(clips)} dev clips: {counts['fsdd']} FSDD, {counts['an4']} AN4, {counts['sc']} "
        "Speech Commands (source rates: FSDD 8 kHz, the others 16 kHz). Each row writes every "
        "clip to a file after the transformation and transcribes the files as "
        "`ctcasr transcribe` does. WER over all clips; exact: share of clips transcribed "
        "exactly; failed: clips refused.",
        "",
        f"| transform | greedy WER | greedy exact | {default.decoder} WER | {default.decoder} "
        "exact | failed |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, g, d in rows:
        lines.append(f"| {name} | {g[0]:.2%} | {g[1]:.1%} | {d[0]:.2%} | {d[1]:.1%} | "
                     f"{max(g[2], d[2])} |")  # fmt: skip
    if args.output:
        args.output.write_text("\n".join(lines) + "\n")
    else:
        print("\n".join(lines))


if __name__ == "__main__":
    main()
