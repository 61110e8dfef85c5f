"""Decoding-side ideas for the Speech Commands ten commands, measured on dev only: the table
"Decoding-side ideas" in CANDIDATES.md.

    python -m recipes.pretrained.decode_ideas exp/pretrained/finetune9/averaged \\
        --others exp/pretrained/finetune9/model exp/pretrained/finetune8/model ...

Each idea is scored on the Speech Commands dev clips of the ten commands through the
``grammar`` decoder (threshold 0: one of ten), on the Keras weights as ``dev_compare`` scores.
No test set is read.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from recipes.common import run_main

SPEEDS = (0.9, 1.0, 1.1)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m recipes.pretrained.decode_ideas",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("bundle", help="the shipped bundle")
    p.add_argument("--others", nargs="*", default=[], help="earlier stages' bundles to average")
    p.add_argument("--data", default="exp/pretrained/data",
                   help="recipes.pretrained's prepared data [exp/pretrained/data]")  # fmt: skip
    return p.parse_args(argv)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from scipy.special import logsumexp

    from ctcasr.audio import load_audio, resample
    from ctcasr.features import compute_features
    from ctcasr.manifest import read_manifest
    from ctcasr.metrics import mcnemar_worse_p
    from recipes.pretrained.dev_compare import CommandScorer
    from recipes.speech_commands.prepare import COMMANDS

    # Both manifests read first, as ctcasr reads them (audio paths relative to the manifest):
    # a missing one was a FileNotFoundError traceback, AN4's after minutes of decoding.
    data = Path(args.data)
    rows = [e for e in read_manifest(data / "speech_commands" / "dev.jsonl").entries
            if e.text in COMMANDS]  # fmt: skip
    an4 = read_manifest(data / "an4" / "dev.jsonl").entries
    waves = [load_audio(r.audio_filepath) for r in rows]
    said = [r.text for r in rows]
    scorers = {b: CommandScorer(b, waves, said, COMMANDS) for b in [args.bundle, *args.others]}
    shipped = scorers[args.bundle]

    def mean_posteriors(sets) -> list[np.ndarray]:
        return [logsumexp(np.stack(x), axis=0) - np.log(len(x)) for x in zip(*sets, strict=True)]

    base_out = shipped.outputs()
    base = shipped.hits(base_out)
    others = {b: scorers[b].outputs() for b in args.others}

    def row(name: str, got: list[bool]) -> None:
        won = sum(g and not b for g, b in zip(got, base, strict=True))
        lost = sum(b and not g for g, b in zip(got, base, strict=True))
        print(f"| {name} | {sum(got)}/{len(got)} | {won} / {lost} | "
              f"{mcnemar_worse_p(won, lost):.3f} |", flush=True)  # fmt: skip

    # p: the exact one-sided McNemar chance of winning at least this many of the clips the
    # two disagree on if each were a fair coin (low: better than chance).
    print("| idea | dev ten-command | won / lost against as shipped | p (better by chance) |")
    print("|---|---:|---:|---:|")
    row("as shipped", base)
    for b, out in others.items():
        row(f"posteriors averaged with `{b}`", shipped.hits(mean_posteriors([base_out, out])))
    if others:
        row("all bundles' posteriors averaged",
            shipped.hits(mean_posteriors([base_out, *others.values()])))  # fmt: skip
    row("no length normalisation", shipped.hits(base_out, length_normalize=False))
    row("input slowed by 10%", shipped.hits(shipped.outputs(0.9)))
    # Test-time augmentation: each phrase's length-normalised score summed over the speeds.
    row("speeds 0.9, 1.0, 1.1 averaged", shipped.speed_hits(SPEEDS))
    # What slowing costs free transcription: AN4 dev, greedy.
    import jiwer

    t = shipped.transcriber
    an4_audio = [load_audio(r.audio_filepath) for r in an4]
    for speed in (1.0, 0.9):
        audio = an4_audio
        if speed != 1.0:
            audio = [resample(w, round(16000 * speed), 16000) for w in audio]
        out = t.acoustic_model([compute_features(w, t.bundle.frontend) for w in audio])
        texts = [t.decode(lp).text for lp in out]
        wer = jiwer.wer([r.text for r in an4], texts)
        print(f"AN4 dev greedy WER, input at speed {speed:g}: {wer:.2%}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(parse_args, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
