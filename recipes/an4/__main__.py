"""AN4 recipe, end to end: ``python -m recipes.an4 --data ../shared/data/an4``.

Prepares manifests (speaker-disjoint dev out of train), builds a 3-gram LM from the train
transcripts with KenLM, trains, tunes the ``kenlm`` decoder's weights on dev, evaluates the
official test set (130 utterances) with greedy and tuned-LM decoding, and writes
``recipes/an4/RESULTS.md`` with the table against published numbers, the commands, training
time and hardware, and plots. ``--extra`` adds training manifests from other corpora
(synthetic speech, FSDD, Speech Commands), never test data.

``--model BUNDLE`` (a folder, or ``default``) scores that model instead of training one: its
``kenlm`` weights are tuned on dev into a copy (``OUT/tuned``; the given bundle is never
changed), with the bundle's own LM when it has one, else the AN4 train 3-gram; the page goes
to ``OUT/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ctcasr.errors import CtcasrError
from recipes.an4.prepare import URL, describe, lm_corpus, prepare
from recipes.common import (
    TRAIN_3M,
    TRAINING,
    augment_config,
    check_outputs,
    corpus_arg,
    given_model_line,
    hardware,
    hold,
    results_page,
    run_main,
    scoring_command,
    start_scoring,
    step,
)

HERE = Path(__file__).parent

# Chosen on dev only. The 3.2 M-parameter shape is the reference model.
TRAIN_SETTINGS = TRAIN_3M

# Published AN4 test results (WER, CER in %; None where not published).
ANCHORS = [
    ("Kaldi GMM tri3 SAT", 5.95, None),
    ("ESPnet Transformer", 7.4, None),
    ("deepspeech.pytorch DeepSpeech2", 9.6, 5.2),
    ("ESPnet pure CTC", 22.9, 11.0),
]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m recipes.an4",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", help=f"AN4 folder (holding etc/ and wav/); download: {URL}")
    p.add_argument("--download", action="store_true", help="fetch AN4 into --data first")
    p.add_argument("--noise", help="noise folder [the corpus folder's sibling noise/]; 'none'")
    p.add_argument("--extra", nargs="*", default=[], help="more training manifests")
    p.add_argument("--model", help="score this bundle (a folder, or 'default') instead of "
                   "training one")
    p.add_argument("--out", default="exp/an4", help="work directory [exp/an4]")
    p.add_argument("--epochs", type=int, default=TRAIN_SETTINGS["epochs"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strategy", default="default", help="tf.distribute strategy")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--results", help="report to write [recipes/an4/RESULTS.md; with --model, "
                   "OUT/RESULTS.md]")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run_main(parse_args, run, argv)


def build_lm(split, out: Path) -> Path | None:
    """3-gram over the train transcripts; None (with a note) when KenLM's tools are missing."""
    from ctcasr.lm import build_lm as build

    corpus = out / "lm" / "an4-train.txt"
    corpus.parent.mkdir(parents=True, exist_ok=True)
    corpus.write_text("\n".join(lm_corpus(split)) + "\n", encoding="utf-8")
    try:
        return build(corpus, out / "lm" / "an4-3gram.arpa", order=3, memory="256M").path
    except CtcasrError as exc:
        print(f"no LM ({exc}); the kenlm rows are skipped", file=sys.stderr)
        return None


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from ctcasr.evaluate import compare_decoders
    from ctcasr.train import TrainConfig, check_output_dir, train
    from ctcasr.tune import tune

    args.results = results_page(args.results, args.out, args.model, HERE)
    if args.model is not None:
        return score_given(args, argv)
    step("preparing the data", Path(args.out) / "train")
    check_outputs(args.out, args.results)
    hold(args.out, Path(args.out) / "train", strategy=args.strategy)
    # before prepare rewrites the manifests an earlier run in --out was trained on
    check_output_dir(Path(args.out) / "train", args.resume)
    data = corpus_arg(args.data, args.download, "an4", URL)
    out = Path(args.out)
    split = prepare(data, out / "data")
    print(describe(split))
    step("building the LM")
    lm = build_lm(split, out)

    noise = args.noise or (str(data.parent / "noise") if (data.parent / "noise").is_dir() else None)
    config = TrainConfig(
        train_manifests=[str(out / "data" / "train.jsonl"), *args.extra],
        dev_manifest=str(out / "data" / "dev.jsonl"),
        output_dir=str(out / "train"),
        seed=args.seed,
        augment=augment_config(None if noise == "none" else noise),
        metadata={"corpus": "CMU AN4", "recipe": "recipes/an4"},
        **{**TRAIN_SETTINGS, "epochs": args.epochs},
        **({"strategy": args.strategy} if args.strategy != "default" else {}),
    )
    start = time.perf_counter()
    step(TRAINING)
    result = train(config, resume=args.resume)
    train_minutes = (time.perf_counter() - start) / 60

    decoders = ["greedy"]
    tuned = None
    if lm is not None:
        # Stored even if greedy did better on dev: test is reported with both, side by side.
        step("tuning the LM weights")
        tuned = tune(out / "data" / "dev.jsonl", result.bundle_path, decoder="kenlm",
                     decoder_options={"lm": str(lm)}, against_greedy=False)  # fmt: skip
        print(tuned.summary())
        decoders.append("kenlm")
    step("scoring the test set")
    evaluations = compare_decoders(out / "data" / "test.jsonl", decoders, result.bundle_path)
    for ev in evaluations:
        print(f"test {ev.decoder}: {ev.report.summary()}")
    step("writing the results page")
    write_results(Path(args.results), argv, split, result, evaluations, tuned, train_minutes)
    return 0


TUNED = "tuned"  # the folder under --out that a given model's tuned copy goes to


def score_given(args: argparse.Namespace, argv: list[str]) -> int:
    """``--model``: prepare, tune the ``kenlm`` weights on dev into a copy of the bundle (the
    given one is never changed), score test with greedy and tuned-LM decoding; no training."""
    from ctcasr.evaluate import compare_decoders
    from ctcasr.tune import tune

    bundle = start_scoring(args)
    out = Path(args.out)
    if bundle.path.resolve() == (out / TUNED).resolve():
        raise CtcasrError(f"--model {args.model}: is {out / TUNED}, where this run writes its "
                          "tuned copy; give another --out")  # fmt: skip
    data = corpus_arg(args.data, args.download, "an4", URL)
    split = prepare(data, out / "data")
    print(describe(split))
    lm = None
    own_lm = bool((bundle.decoder.get("kenlm") or {}).get("lm"))  # part of the model: kept
    if not own_lm:
        step("building the LM")
        lm = build_lm(split, out)
    decoders, tuned, scored = ["greedy"], None, bundle.path
    if own_lm or lm is not None:
        options = {"lm": str(lm)} if lm is not None else {}
        step("tuning the LM weights")
        tuned = tune(out / "data" / "dev.jsonl", bundle, decoder="kenlm", decoder_options=options,
                     output=out / TUNED, against_greedy=False)  # fmt: skip
        print(tuned.summary())
        decoders.append("kenlm")
        scored = tuned.saved_to or scored
    step("scoring the test set")
    evaluations = compare_decoders(out / "data" / "test.jsonl", decoders, scored)
    for ev in evaluations:
        print(f"test {ev.decoder}: {ev.report.summary()}")
    step("writing the results page")
    given = Given(given_model_line(args.model, bundle), own_lm, scored)
    write_results(Path(args.results), argv, split, None, evaluations, tuned, 0.0, given)
    return 0


@dataclass(frozen=True)
class Given:
    """What the page says of a model scored with ``--model`` rather than trained."""

    line: str  # see recipes.common.given_model_line
    own_lm: bool  # kenlm ran with the bundle's own LM, not the AN4 train 3-gram
    scored: Path  # the bundle scored: the tuned copy, when there was an LM to tune


def write_results(path, argv, split, result, evaluations, tuned, train_minutes,
                  given: Given | None = None) -> None:  # fmt: skip
    """The page; ``result`` is None for a ``given`` model, scored without training."""
    from ctcasr.utils import atomic_write_text
    from recipes.report import SpeakerOf, per_speaker_wer, plot_per_speaker, plot_training_curves

    folder = path.parent
    curves = None
    if result is not None:
        curves = plot_training_curves(
            Path(result.bundle_path).parent / "log.csv", folder / "training_curves.png",
            "AN4: training loss and dev error",
        )  # fmt: skip
    best = evaluations[-1]
    speaker_of = SpeakerOf(split.test)
    speakers = plot_per_speaker(
        per_speaker_wer(best.ids, best.references, best.hypotheses, speaker_of),
        folder / "per_speaker_wer.png", "WER %", f"AN4 test WER per speaker ({best.decoder})",
    )  # fmt: skip
    command = "python -m recipes.an4 " + " ".join(shlex.quote(a) for a in argv)
    lines = [
        "# AN4 recipe results",
        "",
        "CMU AN4 (census: spelled letters, digits, numbers, dates; close-talking mic, 16 kHz).",
        "Official test set (130 utterances, 10 speakers); dev = 8 train speakers held out.",
        "Each spelled letter or number word counts as a word.",
        "",
        f"Data: {describe(split)}.",
        "",
        *([given.line, ""] if given is not None else []),
        "## Test results",
        "",
        "| system | WER | CER |",
        "|---|---:|---:|",
    ]
    for ev in evaluations:
        label = "greedy" if ev.decoder == "greedy" else "tuned KenLM 3-gram"
        if given is not None and ev.decoder != "greedy" and given.own_lm:
            label = "tuned KenLM (the bundle's own LM)"
        system = ("given model" if result is None
                  else f"Conv1D-BiGRU CTC ({result.parameters / 1e6:.2f} M)")  # fmt: skip
        lines.append(
            f"| **ctcasr** {system}, {label} | **{ev.report.wer:.2%}** | **{ev.report.cer:.2%}** |"
        )
    for name, wer, cer in ANCHORS:
        lines.append(f"| {name} (published) | {wer:.2f}% | {'' if cer is None else f'{cer}%'} |")
    lines += [""]
    if tuned is not None:
        lines += [f"Decoder tuning on dev: {tuned.summary()}", ""]
    if result is None:
        assert given is not None
        stored = f" (tuned copy: `{given.scored}`)" if tuned is not None else ""
        lines += [
            f"![per-speaker WER]({speakers.name})",
            "",
            "## Reproduce",
            "",
            f"    {command}",
            "",
            f"Scored without training{stored}. Plot: `{speakers.name}` (written next to this "
            "file).",
        ]
        atomic_write_text(path, "\n".join(lines) + "\n")
        return
    assert curves is not None
    lines += [
        "![training curves](training_curves.png)",
        "",
        f"![per-speaker WER]({speakers.name})",
        "",
        "## Training",
        "",
        f"- Hardware: {hardware()}",
        f"- Epochs run: {result.epochs_run}; best dev CER {result.best_dev_cer:.2%} "
        f"(WER {result.best_dev_wer:.2%}) at epoch {result.best_epoch}",
        f"- Training time: {result.training_minutes:.1f} min over all "
        f"epochs (this invocation: {train_minutes:.1f} min); median "
        f"{result.seconds_per_epoch:.1f} s per "
        f"epoch over {result.train_utterances} utterances; peak RSS {result.peak_rss_mb:.0f} MB",
        f"- Parameters: {result.parameters:,}",
        "",
        "## Reproduce",
        "",
        f"    {command}",
        "",
        "Score a model without training (the bundled one here; the page goes to "
        "`OUT/RESULTS.md`):",
        "",
        f"    {scoring_command('an4', argv)}",
        "",
        f"Plots: `{curves.name}`, `{speakers.name}` (written next to this file).",
    ]
    atomic_write_text(path, "\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
