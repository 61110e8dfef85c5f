"""Recording conditions: quiet speech, silence around a clip, clicks and pops, on AN4 dev clips.

    python benchmarks/recordings.py --data ../shared/data --before \
        --output benchmarks/RECORDINGS.md

The figures docs/reliability.md quotes for quiet speech, seconds of silence around a short
recording and a long quiet file with a click or a pop. Every condition is built from AN4 dev
clips (the 8 train speakers the recipe holds out; never test) with fixed seeds, written to
32-bit float WAV files (so that 1e-6 of hush stays hush at -45 dBFS) and transcribed from those
files as ``ctcasr transcribe FILE`` reads them, with the greedy decoder and the bundle's default
one. Scored as corpus-level WER with the project's own metrics. Nothing is timed: one run is
the figure, and a second gives the same one.

- short: 18 clips (every 5th of dev), at their own level, at -45 dBFS peak, with 1 s of hush
  each side (a click 0.5 s in, a pop at the start or at the end), with 3 s of digital silence or
  of room tone (35 dB under the speech) each side.
- long: 4 files of 12 clips each (every other dev clip, dealt in turn), 1-2 s pauses, 1 s before
  the first clip, room tone 35 dB under the speech throughout (45-56 s each, so cut at pauses
  and read in blocks), at their own level and at -45 dBFS peak; with a click 0.3 s into the
  second pause, with a knock at the first block's edge, with a pop at the start, end or both.

``--tree`` measures another checkout's ctcasr (``git worktree add TREE REV``) on the same audio
(the clips are chosen and the metrics computed by this checkout's code). ``--before`` measures,
for each scenario, the parent of the commit that fixed it, in a worktree under ``--worktrees``
made and removed by the script.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RATE = 16000
SEED = 27
QUIET = 10 ** (-45 / 20)  # -45 dBFS peak: a distant or low-gain talker
TONE_DB = 35  # room tone this far under the speech's RMS
# ctcasr.segment.stream_audio reads whole MP3 frames (1152 samples) of SplitConfig.block_seconds
# (10 s): the first block of a 16 kHz file ends at 160128 samples, 10.008 s.
BLOCK_EDGE = round(10.0 * RATE / 1152) * 1152


@dataclass(frozen=True)
class Item:
    """One recording to build: its clips' samples and the words they hold."""

    parts: tuple[np.ndarray, ...]
    text: str
    index: int  # seeds its noise, so that a condition's audio does not depend on the others run


def _peak_at(x: np.ndarray, peak: float) -> np.ndarray:
    return (x * (peak / max(float(np.abs(x).max()), 1e-12))).astype(np.float32)


def _burst(rng: np.random.Generator) -> np.ndarray:
    """20 ms near full scale, decaying: a knock on the microphone, a click, or a pop."""
    n = np.arange(320)
    return (0.9 * np.sign(rng.standard_normal(320)) * np.exp(-n / 100)).astype(np.float32)


def _add(y: np.ndarray, at: int, burst: np.ndarray) -> np.ndarray:
    y = y.copy()
    y[at : at + len(burst)] += burst
    return y


def _tone(noise: np.ndarray, n: int, speech: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of room tone from a random start, ``TONE_DB`` under ``speech``'s RMS."""
    start = int(rng.integers(len(noise)))
    tone = np.resize(np.roll(noise, -start), n)
    rms = float(np.sqrt(np.mean(speech**2)))
    return (tone * (rms * 10 ** (-TONE_DB / 20) / float(np.sqrt(np.mean(tone**2))))).astype(
        np.float32)  # fmt: skip


# ---------------------------------------------------------------------------------------------
# conditions: (item, room tone) -> samples; a condition's noise comes from its item's seed
# ---------------------------------------------------------------------------------------------

Build = Callable[[Item, np.ndarray], np.ndarray]


def _rng(item: Item, salt: int) -> np.random.Generator:
    return np.random.default_rng([SEED, item.index, salt])


def _hushed(item: Item, noise: np.ndarray) -> np.ndarray:
    """The clip at -45 dBFS with 1 s of hush (1e-6 RMS) each side."""
    hush = _rng(item, 1).normal(0, 1e-6, 2 * RATE).astype(np.float32)
    return np.concatenate([hush[:RATE], _peak_at(item.parts[0], QUIET), hush[RATE:]])


def _padded(room: bool) -> Build:
    """The clip at its own level with 3 s of digital silence or room tone each side (the room
    tone under the speech too)."""

    def build(item: Item, noise: np.ndarray) -> np.ndarray:
        x = item.parts[0]
        pad = np.zeros(3 * RATE, np.float32)
        y = np.concatenate([pad, x, pad])
        return y + _tone(noise, len(y), x, _rng(item, 2)) if room else y

    return build


def _pops(where: str) -> Build:
    def build(item: Item, noise: np.ndarray) -> np.ndarray:
        y = _joined(item, noise) if len(item.parts) > 1 else _hushed(item, noise)
        rng = _rng(item, 3)
        start, end = _burst(rng), _burst(rng)[::-1]  # a pop rises to its stop
        if where in ("start", "both"):
            y = _add(y, 0, start)
        if where in ("end", "both"):
            y = _add(y, len(y) - len(end), end)
        return y

    return build


def _joined_own(item: Item, noise: np.ndarray) -> np.ndarray:
    """The clips with a second before the first and 1-2 s after each, room tone throughout."""
    rng = _rng(item, 4)
    pieces = [np.zeros(RATE, np.float32)]
    for x in item.parts:
        pieces += [x, np.zeros(int(rng.uniform(1, 2) * RATE), np.float32)]
    y = np.concatenate(pieces)
    return y + _tone(noise, len(y), np.concatenate(item.parts), rng)


def _joined(item: Item, noise: np.ndarray) -> np.ndarray:
    return _peak_at(_joined_own(item, noise), QUIET)


def _in_second_pause(item: Item, noise: np.ndarray) -> np.ndarray:
    """A click 0.3 s into the pause after the second clip."""
    rng = _rng(item, 4)
    pauses = [int(rng.uniform(1, 2) * RATE) for _ in item.parts]  # as _joined_own draws them
    at = RATE + len(item.parts[0]) + pauses[0] + len(item.parts[1]) + int(0.3 * RATE)
    return _add(_joined(item, noise), at, _burst(_rng(item, 5)))


def _at_block_edge(item: Item, noise: np.ndarray) -> np.ndarray:
    """A knock starting where the first block read from the file ends."""
    return _add(_joined(item, noise), BLOCK_EDGE, _burst(_rng(item, 6)))


@dataclass(frozen=True)
class Condition:
    name: str
    long: bool
    build: Build


CONDITIONS = [
    Condition("clips at their own level", False, lambda item, noise: item.parts[0]),
    Condition("clips at -45 dBFS", False, lambda item, noise: _peak_at(item.parts[0], QUIET)),
    Condition("clips at -45 dBFS, 1 s hush each side", False, _hushed),
    Condition("... with a click 0.5 s in", False,
              lambda item, noise: _add(_hushed(item, noise), RATE // 2, _burst(_rng(item, 7)))),
    Condition("... with a pop at the start", False, _pops("start")),
    Condition("... with a pop at the end", False, _pops("end")),
    Condition("clips with 3 s digital silence each side", False, _padded(room=False)),
    Condition("clips with 3 s room tone each side", False, _padded(room=True)),
    Condition("long files at their own level", True, _joined_own),
    Condition("long files at -45 dBFS", True, _joined),
    Condition("... with a click in the second pause", True, _in_second_pause),
    Condition("... with a knock at the first block's edge (10.008 s)", True, _at_block_edge),
    Condition("... with a pop at the start", True, _pops("start")),
    Condition("... with a pop at the end", True, _pops("end")),
    Condition("... with a pop at the start and the end", True, _pops("both")),
]  # fmt: skip


def key(condition: Condition) -> str:
    return ("long: " if condition.long else "short: ") + condition.name


KEYS = {key(c): c for c in CONDITIONS}


@dataclass(frozen=True)
class Scenario:
    """A reliability.md figure: a condition against its reference, fixed by ``fix``."""

    name: str
    fix: str
    condition: str
    reference: str


OWN, HUSHED = "short: clips at their own level", "short: clips at -45 dBFS, 1 s hush each side"
LONG_OWN, LONG_QUIET = "long: long files at their own level", "long: long files at -45 dBFS"
SCENARIOS = [
    Scenario("quiet clips", "889cc5c", "short: clips at -45 dBFS", OWN),
    Scenario("a click in a quiet clip", "f2347b5", "short: ... with a click 0.5 s in", HUSHED),
    Scenario("a pop at a quiet clip's start", "34e4c96",
             "short: ... with a pop at the start", HUSHED),
    Scenario("a pop at a quiet clip's end", "34e4c96", "short: ... with a pop at the end", HUSHED),
    Scenario("3 s room tone around a clip", "721fb23",
             "short: clips with 3 s room tone each side", OWN),
    Scenario("3 s digital silence around a clip", "721fb23",
             "short: clips with 3 s digital silence each side", OWN),
    Scenario("quiet long files", "a0b58d1", LONG_QUIET, LONG_OWN),
    Scenario("a click in a quiet long file's pause", "38389e4",
             "long: ... with a click in the second pause", LONG_QUIET),
    Scenario("a knock at a block's edge", "7b8f1da",
             "long: ... with a knock at the first block's edge (10.008 s)", LONG_QUIET),
    Scenario("a pop at a quiet long file's start", "4faa7f8",
             "long: ... with a pop at the start", LONG_QUIET),
    Scenario("a pop at a quiet long file's end", "4faa7f8",
             "long: ... with a pop at the end", LONG_QUIET),
    Scenario("a pop at both ends", "4faa7f8",
             "long: ... with a pop at the start and the end", LONG_QUIET),
]  # fmt: skip


def items(data: Path, tmp: Path) -> tuple[list[Item], list[Item], np.ndarray]:
    """The short clips, the long files' clips, and the room tone (all 16 kHz mono)."""
    import soundfile as sf

    from recipes.an4.prepare import prepare

    dev = prepare(data / "an4", tmp / "an4").dev

    def read(path: str | Path) -> np.ndarray:
        x, rate = sf.read(path, dtype="float32")
        assert rate == RATE and x.ndim == 1, path
        return x

    short = [Item((read(e.audio_filepath),), e.text, i)
             for i, e in enumerate(dev[:: len(dev) // 18][:18])]  # fmt: skip
    pool = dev[::2][:48]
    long = [Item(tuple(read(e.audio_filepath) for e in pool[k::4]),
                 " ".join(e.text for e in pool[k::4]), 100 + k) for k in range(4)]  # fmt: skip
    return short, long, read(data / "noise" / "air_conditioner.flac")


def measure(args: argparse.Namespace, wanted: list[str]) -> dict[str, dict[str, Any]]:
    """Each wanted condition's figures with ``args.tree``'s ctcasr and the model it ships."""
    import soundfile as sf

    from ctcasr.metrics import error_report
    from ctcasr.text import normalize_text

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        short, long, noise = items(args.data, tmp)
        # This checkout chose the clips and scores; the tree's ctcasr transcribes.
        for name in [m for m in sys.modules if m == "ctcasr" or m.startswith("ctcasr.")]:
            del sys.modules[name]
        sys.path.insert(0, str(args.tree.resolve()))
        from ctcasr.transcribe import Transcriber

        greedy = Transcriber(args.model, decoder="greedy")
        default = Transcriber(args.model)
        rows: dict[str, dict[str, Any]] = {"": {"decoder": default.decoder}}
        for name in wanted:
            condition = KEYS[name]
            folder = tmp / str(len(rows))
            folder.mkdir()
            chosen = long if condition.long else short
            paths = []
            for item in chosen:
                paths.append(folder / f"{item.index}.wav")
                sf.write(paths[-1], condition.build(item, noise), RATE, subtype="FLOAT")
            refs = [normalize_text(item.text) for item in chosen]
            row: dict[str, Any] = {
                "files": len(paths), "words": sum(len(r.split()) for r in refs),
                "seconds": sum(sf.info(str(p)).duration for p in paths)}  # fmt: skip
            for label, transcriber in (("greedy", greedy), ("default", default)):
                results = transcriber.transcribe_batch([str(p) for p in paths])
                texts = [getattr(r, "text", None) for r in results]
                failed = [i for i, t in enumerate(texts) if t is None]
                hyps = [normalize_text(t or "") for t in texts]
                report = error_report(refs, hyps, failed=failed)
                row |= {f"{label} wer": report.wer, f"{label} deleted": report.deletions,
                        f"{label} empty": sum(1 for h in hyps if not h),
                        "failed": max(int(row.get("failed", 0)), len(failed))}  # fmt: skip
            rows[name] = row
            print(f"{name:70s} greedy {row['greedy wer']:7.2%} {default.decoder} "
                  f"{row['default wer']:7.2%}", file=sys.stderr, flush=True)
        for transcriber in (greedy, default):
            getattr(transcriber, "close", lambda: None)()
    return rows


def commit_of(tree: Path, rev: str = "HEAD") -> str:
    return subprocess.run(["git", "rev-parse", "--short", rev], cwd=tree, capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip


def before(args: argparse.Namespace) -> dict[str, tuple[str, dict[str, dict[str, Any]]]]:
    """Per fix: the parent commit and its figures for the scenarios the fix is for, each
    measured by this script with ``--tree`` on a worktree made for it (and removed after)."""
    out = {}
    for fix in dict.fromkeys(s.fix for s in SCENARIOS):
        parent = commit_of(REPO, f"{fix}^")
        tree = args.worktrees / f"old-{parent}"
        wanted = dict.fromkeys(k for s in SCENARIOS if s.fix == fix
                               for k in (s.condition, s.reference))  # fmt: skip
        subprocess.run(["git", "worktree", "add", "--detach", str(tree), parent], cwd=REPO,
                       check=True, capture_output=True)  # fmt: skip
        try:
            command = [sys.executable, __file__, "--data", str(args.data), "--tree", str(tree),
                       "--only", "|".join(wanted), "--json"]  # fmt: skip
            if args.model:
                command += ["--model", args.model]
            done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO,
                           check=True)  # fmt: skip
        out[fix] = (parent, json.loads(done.stdout))
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    p.add_argument("--model", default=None, help="bundle [the tree's bundled model]")
    p.add_argument("--only", default="", help="'|'-separated condition keys [all]")
    p.add_argument("--tree", type=Path, default=REPO,
                   help="the checkout whose ctcasr is measured (git worktree add TREE REV) "
                   "[this one]")  # fmt: skip
    p.add_argument("--before", action="store_true",
                   help="also measure each scenario at its fix's parent commit")
    p.add_argument("--worktrees", type=Path, default=Path(tempfile.gettempdir()),
                   help="where --before makes its worktrees [the temp folder]")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--output", type=Path)
    return p.parse_args(argv)


def _pct(x: float | int) -> str:
    return f"{x:.2%}"


def render(args: argparse.Namespace, rows: dict, old: dict) -> str:
    from recipes.common import hardware

    decoder = rows[""]["decoder"]
    short = next(r for k, r in rows.items() if k.startswith("short"))
    long = next(r for k, r in rows.items() if k.startswith("long"))
    lines = [
        "# Recording conditions",
        "",
        "Reproduce with:",
        "",
        "    python benchmarks/recordings.py --data ../shared/data"
        + ("" if args.tree == REPO else f" --tree {args.tree}")
        + (" --before" if args.before else "")
        + ("" if args.worktrees == Path(tempfile.gettempdir())
           else f" --worktrees {args.worktrees}")
        + " --output benchmarks/RECORDINGS.md",
        "",
        f"Machine: {hardware()}; Python {platform.python_version()}; ctcasr at "
        f"{commit_of(args.tree)}; model `{args.model or 'ctcasr/pretrained/default'}` (the same "
        "weights, LM and decoder settings at every commit measured here).",
        "",
        f"Short: {short['files']} AN4 dev clips ({short['words']} words). Long: "
        f"{long['files']} files of 12 AN4 dev clips each ({long['words']} words, "
        f"{long['seconds']:.0f} s in all: "
        "split at pauses and read in 10.008 s blocks). Built as the script's docstring says, "
        "with fixed seeds, written as 32-bit float WAV and transcribed from the files as "
        "`ctcasr transcribe FILE` does. Corpus-level WER; deleted: reference words missing from "
        "the transcripts; empty: files transcribed as nothing; failed: files refused. Nothing "
        "here is timed, and the figures are deterministic: one run, and a second gives the "
        "same.",
        "",
        f"| condition | greedy WER | deleted | empty | {decoder} WER | deleted | empty | failed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows.items():
        if name:
            cells = [_pct(r["greedy wer"]), r["greedy deleted"], r["greedy empty"],
                     _pct(r["default wer"]), r["default deleted"], r["default empty"],
                     r["failed"]]  # fmt: skip
            lines.append(f"| {name} | " + " | ".join(str(c) for c in cells) + " |")
    if old:
        lines += [
            "",
            "## Before each fix",
            "",
            "Each scenario measured by this script (`--tree`) at the parent of the commit that "
            "fixed it, in the same run, against the same scenario now; the reference is the "
            "condition the scenario is compared with, at that commit and now. Deleted and "
            "empty: the greedy transcripts' deleted words and files transcribed as nothing "
            "(of the short clips' 92 words and 18 files, or the long files' 245 words and 4 "
            "files).",
            "",
            "| scenario | fix | measured at | greedy WER before | now | reference before | now "
            "| deleted before / now | reference deleted before / now | empty before / now | "
            f"{decoder} WER before | now | reference before | now |",
            "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for s in SCENARIOS:
            parent, then = old[s.fix]
            was, now = then[s.condition], rows[s.condition]
            ref_was, ref_now = then[s.reference], rows[s.reference]
            cells = [_pct(was["greedy wer"]), _pct(now["greedy wer"]),
                     _pct(ref_was["greedy wer"]), _pct(ref_now["greedy wer"]),
                     f"{was['greedy deleted']} / {now['greedy deleted']}",
                     f"{ref_was['greedy deleted']} / {ref_now['greedy deleted']}",
                     f"{was['greedy empty']} / {now['greedy empty']}",
                     _pct(was["default wer"]), _pct(now["default wer"]),
                     _pct(ref_was["default wer"]), _pct(ref_now["default wer"])]  # fmt: skip
            lines.append(f"| {s.name} (`{s.condition}` against `{s.reference}`) | {s.fix} | "
                         f"{parent} | " + " | ".join(cells) + " |")  # fmt: skip
        click = next(s for s in SCENARIOS if s.fix == "38389e4")
        parent, then = old[click.fix]
        lines += [
            "",
            "Every commit above ran this script unchanged, the oldest included. The click in a "
            "pause was fixed (38389e4) before quiet long files were raised at all (a0b58d1): at "
            f"its parent ({parent}) the quiet files without the click gave "
            f"{_pct(then[click.reference]['greedy wer'])} too, and the click's harm is the "
            f"words it deleted on top ({then[click.condition]['greedy deleted']} against "
            f"{then[click.reference]['greedy deleted']}). The pops before 34e4c96 and 4faa7f8 "
            "cut the speech under them away as silence: whole clips transcribed as nothing "
            "(the empty column), and words of a long file's first or last piece deleted.",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sys.path.insert(0, str(REPO))
    wanted = [w for w in args.only.split("|") if w] or list(KEYS)
    unknown = [w for w in wanted if w not in KEYS]
    if unknown:
        raise SystemExit(f"unknown condition(s): {unknown}; known: {list(KEYS)}")
    rows = measure(args, wanted)
    if args.json:
        print(json.dumps(rows))
        return
    old = before(args) if args.before else {}
    text = render(args, rows, old)
    if args.output:
        args.output.write_text(text)
    else:
        print(text)


if __name__ == "__main__":
    main()
