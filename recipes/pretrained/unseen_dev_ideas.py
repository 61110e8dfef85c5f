"""Decoding-side ideas on the held-out unseen dev words, with models that never heard them:
the table "Decoding ideas on the unseen dev words" in CANDIDATES.md.

    python -m recipes.pretrained.unseen_dev_ideas exp/speech_commands/train/model \\
        exp/pretrained/train/model exp/pretrained/finetune/model \\
        --against ctcasr/pretrained/default

Each idea is scored one of N on the ``--dev-words`` clips (``unseen_dev.jsonl``) through the
``grammar`` decoder (threshold 0), on the Keras weights as ``dev_compare`` scores; a bundle
that heard those words is refused. The speed ideas are also scored on the Speech Commands
dev ten commands with ``--against``'s bundle (the shipped one, which heard the dev words and
so cannot be judged on them), with clips won and lost and the one-sided McNemar p that the
idea is worse. No test set is read.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from recipes.common import run_main

# Input speeds (resampled before the features; 1.1 = 10% faster and higher) and the sets
# whose length-normalised phrase scores are summed (test-time augmentation).
SPEED_SETS: tuple[tuple[float, ...], ...] = (
    (1.0,), (0.9,), (1.1,), (1.2,), (1.0, 1.1), (0.9, 1.0, 1.1), (1.0, 1.1, 1.2), (1.1, 1.2),
)  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m recipes.pretrained.unseen_dev_ideas",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("bundles", nargs="+", help="bundles trained with the dev words held out")
    p.add_argument("--against", help="the shipped bundle, for the ten-command rows")
    p.add_argument("--data", default="exp/pretrained/data",
                   help="recipes.pretrained's prepared data [exp/pretrained/data]")  # fmt: skip
    return p.parse_args(argv)


def log_prob_ideas(blank: int, frames: np.ndarray) -> dict[str, Callable[[np.ndarray], np.ndarray]]:
    """Transforms of one clip's log-probabilities; ``frames`` (every clip's frames stacked)
    gives the label prior the prior ideas divide by."""
    from scipy.special import log_softmax, logsumexp

    prior = logsumexp(frames, axis=0) - np.log(len(frames))

    def temperature(t: float) -> Callable[[np.ndarray], np.ndarray]:
        return lambda lp: log_softmax(lp * t, axis=-1)

    def blank_penalty(cost: float) -> Callable[[np.ndarray], np.ndarray]:
        def apply(lp: np.ndarray) -> np.ndarray:
            out = lp.copy()
            out[:, blank] -= cost
            return log_softmax(out, axis=-1)

        return apply

    def divided_by_prior(a: float) -> Callable[[np.ndarray], np.ndarray]:
        return lambda lp: log_softmax(lp - a * prior, axis=-1)

    ideas: dict[str, Callable[[np.ndarray], np.ndarray]] = {}
    for t in (0.5, 0.7, 1.5, 2.0):
        ideas[f"temperature: log-probabilities times {t:g}"] = temperature(t)
    for cost in (1.0, 2.0, 4.0):
        ideas[f"blank log-probability lowered by {cost:g}"] = blank_penalty(cost)
    for a in (0.3, 0.6):
        ideas[f"divided by the label prior to the power {a:g}"] = divided_by_prior(a)
    return ideas


def speed_name(speeds: tuple[float, ...]) -> str:
    if len(speeds) == 1:
        return "as is" if speeds == (1.0,) else f"input at speed {speeds[0]:g}"
    return "scores summed over speeds " + ", ".join(f"{s:g}" for s in speeds)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from ctcasr.audio import load_audio
    from ctcasr.decoding.grammar import read_commands
    from ctcasr.manifest import read_manifest
    from ctcasr.metrics import mcnemar_worse_p
    from recipes.common import check_never_heard
    from recipes.pretrained.dev_compare import CommandScorer
    from recipes.speech_commands.prepare import COMMANDS, UNSEEN_DEV, UNSEEN_DEV_COMMANDS

    sc = Path(args.data) / "speech_commands"
    rows = read_manifest(sc / UNSEEN_DEV).entries
    words = read_commands(sc / UNSEEN_DEV_COMMANDS)
    for bundle in args.bundles:  # before minutes of scoring, not after
        check_never_heard(bundle, tuple(words), "bundle")
    waves = [load_audio(r.audio_filepath) for r in rows]
    scorers = [CommandScorer(b, waves, [r.text for r in rows], words) for b in args.bundles]
    n = len(rows)

    print(f"Unseen dev words, one of {len(words)} ({n} clips):\n")
    print("| idea | " + " | ".join(f"`{b}`" for b in args.bundles) + " |")
    print("|---|" + "---:|" * len(args.bundles))
    for speeds in SPEED_SETS:
        cells = [sum(s.speed_hits(speeds)) for s in scorers]
        print(f"| {speed_name(speeds)} | " + " | ".join(f"{c}/{n}" for c in cells) + " |")
    cells = [sum(s.hits(s.outputs(1.0), length_normalize=False)) for s in scorers]
    print("| no length normalisation | " + " | ".join(f"{c}/{n}" for c in cells) + " |")
    per_bundle = [log_prob_ideas(s.alphabet.blank_index, np.concatenate(s.outputs(1.0)))
                  for s in scorers]  # fmt: skip
    for name in per_bundle[0]:
        cells = [sum(s.hits([idea[name](lp) for lp in s.outputs(1.0)]))
                 for s, idea in zip(scorers, per_bundle, strict=True)]  # fmt: skip
        print(f"| {name} | " + " | ".join(f"{c}/{n}" for c in cells) + " |", flush=True)

    if args.against:
        ten = [e for e in read_manifest(sc / "dev.jsonl").entries if e.text in COMMANDS]
        shipped = CommandScorer(args.against, [load_audio(r.audio_filepath) for r in ten],
                         [r.text for r in ten], COMMANDS)  # fmt: skip
        base = shipped.speed_hits((1.0,))
        print(f"\nSpeech Commands dev ten commands, `{args.against}`:\n")
        print("| idea | dev ten-command | won / lost against as is | p (worse) |")
        print("|---|---:|---:|---:|")
        for speeds in SPEED_SETS:
            got = shipped.speed_hits(speeds)
            won = sum(g and not b for g, b in zip(got, base, strict=True))
            lost = sum(b and not g for g, b in zip(got, base, strict=True))
            print(f"| {speed_name(speeds)} | {sum(got)}/{len(got)} | {won} / {lost} | "
                  f"{mcnemar_worse_p(lost, won):.3f} |", flush=True)  # fmt: skip
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(parse_args, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
