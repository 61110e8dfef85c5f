"""End-to-end transcription speed and memory, measured as a user sees it: whole processes.

    python benchmarks/transcribe.py --data ../shared/data --output benchmarks/RESULTS.md

- Cold start: ``ctcasr transcribe --decoder greedy clip.wav`` on a one-second Speech Commands
  clip, wall time from process start to exit, on onnxruntime (the bundle's ``model.onnx``) and
  on TensorFlow (``--backend keras``) in the same run.
- Throughput: 1000 one-second Speech Commands clips listed on stdin, greedy, ``--jobs 1`` and
  ``--jobs 2``; audio seconds per wall second including start-up.
- Long recordings: 1, 5 and 10 minutes assembled from real AN4 and FSDD clips with pauses;
  peak memory must not grow with the length.

Peak RSS is the largest sum over the process and its children, sampled every 20 ms from
/proc. Every figure is the median of ``--runs`` runs.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

CTCASR = [sys.executable, "-c", "from ctcasr.cli import main; main()"]


def tree_rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def run(args: list[str], stdin: str | None = None, tree: Path | None = None
        ) -> tuple[float, float, str]:  # fmt: skip
    """Wall seconds, peak tree RSS in MB, and stdout of one ``ctcasr`` process (of the
    checkout ``tree``, when given, instead of this one)."""
    env = None if tree is None else {**os.environ, "PYTHONPATH": str(tree)}
    with tempfile.TemporaryFile("w+") as fin, tempfile.TemporaryFile("w+") as fout, \
            tempfile.TemporaryFile("w+") as ferr:  # files, not pipes: a full pipe would stall it
        fin.write(stdin or "")
        fin.seek(0)
        start = time.perf_counter()
        proc = subprocess.Popen(CTCASR + args, stdin=fin, stdout=fout, stderr=ferr, text=True,
                                env=env, cwd=tree)  # fmt: skip
        peak = 0
        while proc.poll() is None:
            peak = max(peak, tree_rss_kb(proc.pid))
            time.sleep(0.02)
        wall = time.perf_counter() - start
        fout.seek(0)
        ferr.seek(0)
        out, err = fout.read(), ferr.read()
    if proc.returncode != 0:
        raise SystemExit(f"ctcasr {' '.join(args)} failed:\n{err}")
    return wall, peak / 1024, out


def median_runs(runs: int, args: list[str], stdin: str | None = None):
    results = [run(args, stdin) for _ in range(runs)]
    return (statistics.median(r[0] for r in results), statistics.median(r[1] for r in results),
            results[-1][2])  # fmt: skip


def long_recording(data: Path, minutes: float, path: Path) -> float:
    """Real AN4 test utterances and FSDD digits, 0.5-1.5 s apart, to ``minutes`` long."""
    import soundfile as sf

    from ctcasr.audio import load_audio

    clips = sorted((data / "an4" / "wav" / "an4test_clstk").glob("*/*.flac"))
    clips += sorted((data / "fsdd" / "recordings").glob("*_0.flac"))
    rng = np.random.default_rng(0)
    target = int(minutes * 60 * 16000)
    with sf.SoundFile(path, "w", 16000, 1, "PCM_16") as out:
        written, i = 0, 0
        while written < target:
            x = load_audio(clips[i % len(clips)])
            gap = np.zeros(int(16000 * rng.uniform(0.5, 1.5)), np.float32)
            block = np.concatenate([x, gap])[: target - written]
            out.write(block)
            written += len(block)
            i += 1
    return written / 16000


def long_file_accuracy(data: Path, tmp: Path) -> list[tuple[str, float, float]]:
    """WER of dev utterances transcribed one by one and joined into one long file (0.5-1.5 s
    pauses between them), greedy: what cutting and stitching costs. Dev splits only."""
    import jiwer
    import soundfile as sf

    from ctcasr.audio import load_audio
    from ctcasr.segment import SplitConfig
    from ctcasr.transcribe import Transcriber
    from recipes.an4.prepare import prepare as prepare_an4
    from recipes.fsdd.prepare import prepare as prepare_fsdd

    sets = {
        "AN4 dev (103 utterances)": prepare_an4(data / "an4", tmp / "an4").dev,
        "FSDD dev (300 digits, tightly cut)": prepare_fsdd(data / "fsdd", tmp / "fsdd").dev,
    }
    rng = np.random.default_rng(0)
    rows = []
    with Transcriber(decoder="greedy", split=SplitConfig()) as t:
        for name, entries in sets.items():
            clips = [load_audio(e.audio_filepath) for e in entries]
            parts = []
            for clip in clips:
                parts += [clip, np.zeros(int(16000 * rng.uniform(0.5, 1.5)), np.float32)]
            path = tmp / "joined.wav"
            sf.write(path, np.concatenate(parts), 16000, subtype="PCM_16")
            ref = " ".join(e.text for e in entries)
            alone = " ".join(r.text for r in t.transcribe_batch(clips))
            joined = t.transcribe(path).text
            rows.append((name, jiwer.wer(ref, alone), jiwer.wer(ref, joined)))
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=Path("../shared/data"))
    p.add_argument("--model", default=None, help="bundle with model.onnx [the bundled one]")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--clips", type=int, default=1000)
    p.add_argument("--output", type=Path, default=None)
    p.add_argument("--against", type=Path, default=None, metavar="TREE",
                   help="another checkout (git worktree add TREE REV): its 1000-clip throughput "
                        "is measured in the same run, runs alternating, to tell a change in "
                        "the code from a change in the machine")  # fmt: skip
    return p.parse_args(argv)


def main() -> int:
    args = parse_args()
    args.data = args.data.resolve()  # the paths listed must hold from another checkout too

    from ctcasr.bundle import load_bundle

    bundle = load_bundle(args.model)
    if bundle.onnx_path is None:
        raise SystemExit(f"{bundle.path} has no model.onnx: run ctcasr export first")
    model = ["--model", str(bundle.path)]
    sc = args.data / "speech_commands"
    clips = sorted(p for p in sc.glob("*/*.flac") if p.parent.name != "_silence_")
    one_second = [c for c in clips if abs(_duration(c) - 1.0) < 1e-3]
    if len(one_second) < args.clips:
        raise SystemExit(f"only {len(one_second)} one-second clips in {sc}")
    clip = str(one_second[0])
    rows = []

    cold = {}
    for backend in ("onnx", "keras"):
        wall, rss, out = median_runs(args.runs, ["transcribe", *model, "-d", "greedy",
                                                 "--backend", backend, clip])  # fmt: skip
        cold[backend] = (wall, rss, out.strip().split("\t")[-1])
        print(f"cold start {backend}: {wall:.3f} s, {rss:.0f} MB -> {cold[backend][2]!r}")
    rows.append(("cold start, 1-s clip, greedy, onnxruntime", f"{cold['onnx'][0]:.2f} s",
                 f"{cold['onnx'][1]:.0f} MB", "<= 1.0 s"))  # fmt: skip
    rows.append(("cold start, 1-s clip, greedy, TensorFlow (`--backend keras`)",
                 f"{cold['keras'][0]:.2f} s", f"{cold['keras'][1]:.0f} MB", "peer"))  # fmt: skip

    listing = "\n".join(str(c) for c in one_second[: args.clips]) + "\n"
    audio_seconds = sum(_duration(c) for c in one_second[: args.clips])
    for jobs in (1, 2):
        wall, rss, out = median_runs(args.runs, ["transcribe", *model, "-d", "greedy", "-j",
                                                 str(jobs), "-"], stdin=listing)  # fmt: skip
        assert len(out.splitlines()) == args.clips
        speed = audio_seconds / wall
        print(f"{args.clips} clips, --jobs {jobs}: {wall:.2f} s = {speed:.0f}x real time, "
              f"{rss:.0f} MB")  # fmt: skip
        rows.append((f"{args.clips} one-second clips, greedy, `--jobs {jobs}` (wall incl. start)",
                     f"{wall:.2f} s = **{speed:.0f}x** real time", f"{rss:.0f} MB",
                     ">= 300x, <= 400 MB"))  # fmt: skip

    against = []
    if args.against is not None:
        against = compare_trees(args.against, args.runs, ["transcribe", *model, "-d", "greedy",
                                                          "-"], listing, audio_seconds)  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        for minutes in (1, 5, 10):
            path = Path(tmp) / f"long-{minutes}.wav"
            seconds = long_recording(args.data, minutes, path)
            runs = args.runs if minutes < 10 else max(3, args.runs // 2 + 1)
            wall, rss, out = median_runs(runs, ["transcribe", *model, "-d", "greedy",
                                                str(path)])  # fmt: skip
            words = len(out.split("\t", 1)[1].split())
            print(f"{minutes} min recording: {wall:.1f} s, {rss:.0f} MB, {words} words")
            rows.append((f"{minutes}-minute recording (cut at pauses), greedy",
                         f"{wall:.1f} s = {seconds / wall:.0f}x real time", f"{rss:.0f} MB",
                         "flat memory"))  # fmt: skip

    with tempfile.TemporaryDirectory() as tmp:
        accuracy = long_file_accuracy(args.data, Path(tmp))
    for name, alone, joined in accuracy:
        print(f"{name}: WER {alone:.2%} one by one, {joined:.2%} joined into one long file")

    from recipes.common import git_commit, hardware

    path = bundle.path.resolve()
    shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
    command = "python benchmarks/transcribe.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    lines = [
        "# Transcription benchmarks",
        "",
        f"Model: `{shown}` ({bundle.metadata.get('parameters', 0):,} parameters). Machine: "
        f"{hardware()}; Python {platform.python_version()}; ctcasr at {git_commit()}. "
        f"Each figure is the median of {args.runs} runs (3 for the 10-minute file) of a whole "
        "`ctcasr transcribe` process; memory is the peak resident set of the process and "
        "its workers together.",
        "",
        "| measurement | time | peak RSS | target |",
        "|---|---:|---:|---|",
        *[f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows],
        "",
        *against,
        "What cutting and stitching costs: dev utterances transcribed one by one, and the same",
        "utterances joined into one long file with 0.5-1.5 s pauses (greedy WER):",
        "",
        "| dev set | one by one | joined, cut at pauses |",
        "|---|---:|---:|",
        *[f"| {n} | {a:.2%} | {j:.2%} |" for n, a, j in accuracy],
        "",
        "Reproduce:",
        "",
        *([f"    git worktree add {shlex.quote(str(args.against))} {git_commit(args.against)}"]
          if args.against is not None else []),
        f"    {command}",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    return 0


def compare_trees(tree: Path, runs: int, args: list[str], listing: str,
                  audio_seconds: float) -> list[str]:  # fmt: skip
    """The 1000-clip ``--jobs 1`` throughput of this checkout and of ``tree``, runs taken in
    turn so that both see the same machine: a speed that moved between sessions may be the
    machine's (another day's run on the same code differed by 7%)."""
    from recipes.common import git_commit

    other = git_commit(tree)
    if other == "?":  # before the minutes of runs, whose table would name no code
        raise SystemExit(f"--against {tree}: not a git checkout")
    walls: dict[str, list[float]] = {"this": [], "other": []}
    for _ in range(runs):
        walls["this"].append(run(args, listing)[0])
        walls["other"].append(run(args, listing, tree=tree)[0])
    rows = []
    for key, commit in (("this", git_commit()), ("other", other)):
        wall = statistics.median(walls[key])
        print(f"same run, ctcasr at {commit}: {wall:.2f} s = {audio_seconds / wall:.0f}x")
        rows.append(f"| ctcasr at {commit} | {wall:.2f} s = {audio_seconds / wall:.0f}x real "
                    f"time | {' '.join(f'{w:.2f}' for w in walls[key])} |")  # fmt: skip
    return ["The 1000-clip `--jobs 1` throughput of this code and of an earlier commit in the "
            f"same run ({runs} runs each, taken in turn; medians):", "",
            "| code | median | every run (s) |", "|---|---:|---|", *rows, ""]


def _duration(path: Path) -> float:
    import soundfile as sf

    return sf.info(str(path)).duration


if __name__ == "__main__":
    raise SystemExit(main())
