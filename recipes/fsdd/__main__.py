"""FSDD recipe, end to end: ``python -m recipes.fsdd --data ../shared/data/fsdd``.

Prepares manifests, trains, evaluates the best model on the official test split with greedy
decoding, and writes ``recipes/fsdd/RESULTS.md``. (It once installed an interim bundled model;
the bundled model now comes from ``recipes.pretrained``, which ``--install`` replaces.)

``--model BUNDLE`` (a folder, or ``default``) scores that model instead of training one, with
greedy decoding and, when the bundle's own decoder is an LM or beam search, that one too (its
stored settings, never changed); the page goes to ``OUT/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from ctcasr.text import number_to_words
from recipes.common import (
    AUGMENT,
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
from recipes.fsdd.prepare import URL, describe, prepare

HERE = Path(__file__).parent
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]

# Settings tuned on the dev split only (indices 5-9), never on test.
TRAIN_SETTINGS = dict(
    epochs=45,
    batch_size=32,
    learning_rate=2e-3,
    patience=12,
    model=dict(conv_filters=256, conv_kernel=11, conv_stride=2, rnn_units=192, rnn_layers=3,
               dropout=0.1),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m recipes.fsdd",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", help=f"FSDD folder (holding recordings/); download: {URL}")
    p.add_argument("--download", action="store_true", help="fetch FSDD into --data first")
    p.add_argument("--noise", help="folder of noise recordings to mix in "
                   "[the corpus folder's sibling noise/, if there]; 'none' to switch off")
    p.add_argument("--model", help="score this bundle (a folder, or 'default') instead of "
                   "training one")
    p.add_argument("--out", default="exp/fsdd", help="work directory [exp/fsdd]")
    p.add_argument("--epochs", type=int, default=TRAIN_SETTINGS["epochs"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--results", help="report to write [recipes/fsdd/RESULTS.md; with --model, "
                   "OUT/RESULTS.md]")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run_main(parse_args, run, argv)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from ctcasr.evaluate import evaluate
    from ctcasr.features import FrontendConfig
    from ctcasr.train import TrainConfig, check_output_dir, train

    args.results = results_page(args.results, args.out, args.model, HERE)
    if args.model is not None:
        return score_given(args, argv)
    step("preparing the data", Path(args.out) / "train")
    check_outputs(args.out, args.results)
    hold(args.out, Path(args.out) / "train")
    # before prepare rewrites the manifests an earlier run in --out was trained on
    check_output_dir(Path(args.out) / "train", args.resume)
    data = corpus_arg(args.data, args.download, "fsdd", URL)
    out = Path(args.out)
    split = prepare(data, out / "data")
    print(describe(split))

    settings = {**TRAIN_SETTINGS, "epochs": args.epochs}
    noise = args.noise or (str(data.parent / "noise") if (data.parent / "noise").is_dir() else None)
    augment = augment_config(None if noise == "none" else noise)
    config = TrainConfig(
        train_manifests=[str(out / "data" / "train.jsonl")],
        dev_manifest=str(out / "data" / "dev.jsonl"),
        output_dir=str(out / "train"),
        seed=args.seed,
        frontend=FrontendConfig(),
        augment=augment,
        metadata={
            "corpus": "FSDD (Free Spoken Digit Dataset), CC BY-SA 4.0",
            "recipe": "recipes/fsdd",
        },
        **settings,
    )
    start = time.perf_counter()
    step(TRAINING)
    result = train(config, resume=args.resume)
    train_minutes = (time.perf_counter() - start) / 60

    step("scoring the test set")
    evaluation = evaluate(out / "data" / "test.jsonl", result.bundle_path)
    report = evaluation.report
    print(f"test: {report.summary()}")
    step("writing the results page")
    write_results(Path(args.results), args, argv, split, result, evaluation, train_minutes)
    return 0


# The bundle's own decoders that spell as greedy does, scored beside it for a given model.
SPELLING_DECODERS = ("beam", "kenlm")


@dataclass(frozen=True)
class Given:
    """What the page says of a model scored with ``--model`` rather than trained."""

    line: str  # see recipes.common.given_model_line
    evaluations: list  # ctcasr.evaluate.Evaluation per decoder, greedy first


def score_given(args: argparse.Namespace, argv: list[str]) -> int:
    """``--model``: prepare, score test with greedy decoding and the bundle's own decoder (as
    stored: FSDD has no dev-tuned LM of its own); no training."""
    from ctcasr.evaluate import compare_decoders

    bundle = start_scoring(args)
    out = Path(args.out)
    data = corpus_arg(args.data, args.download, "fsdd", URL)
    split = prepare(data, out / "data")
    print(describe(split))
    own = bundle.decoder.get("name", "greedy")
    decoders = ["greedy", *([own] if own in SPELLING_DECODERS else [])]
    step("scoring the test set")
    evaluations = compare_decoders(out / "data" / "test.jsonl", decoders, bundle.path)
    for ev in evaluations:
        print(f"test {ev.decoder}: {ev.report.summary()}")
    step("writing the results page")
    given = Given(given_model_line(args.model, bundle), evaluations)
    write_results(Path(args.results), args, argv, split, None, evaluations[-1], 0.0, given)
    return 0


def write_results(path, args, argv, split, result, evaluation, train_minutes,
                  given: Given | None = None) -> None:  # fmt: skip
    """The page; ``result`` is None for a ``given`` model, scored without training (the
    errors, speakers and plots are then ``evaluation``'s, its last decoder's)."""
    from ctcasr.utils import atomic_write_text
    from recipes.report import SpeakerOf

    report = evaluation.report
    digit_acc = report.sentence_accuracy
    per_speaker: dict[str, list[bool]] = defaultdict(list)
    confusion: Counter[tuple[str, str]] = Counter()
    speaker_of = SpeakerOf(split.test)
    for uid, ref, hyp in zip(
        evaluation.ids, evaluation.references, evaluation.hypotheses, strict=True
    ):
        per_speaker[speaker_of.get(uid) or "?"].append(ref == hyp)
        confusion[(ref, hyp)] += 1
    command = "python -m recipes.fsdd " + " ".join(shlex.quote(a) for a in argv)
    plots = _plots(path.parent, result, per_speaker, confusion, evaluation.decoder)
    if given is not None:
        table = [
            "## Test results (given model)",
            "",
            "| system | digit accuracy | WER | CER |",
            "|---|---|---|---|",
            *(f"| ctcasr given model, {ev.decoder}"
              f"{'' if ev.decoder == 'greedy' else ' (its stored settings)'} | "
              f"**{ev.report.sentence_accuracy:.2%}** | {ev.report.wer:.2%} | "
              f"{ev.report.cer:.2%} |" for ev in given.evaluations),
        ]  # fmt: skip
    else:
        table = [
            "## Test results (greedy decoding, best dev-CER epoch)",
            "",
            "| system | digit accuracy | WER | CER |",
            "|---|---|---|---|",
            f"| ctcasr Conv1D-BiGRU CTC ({result.parameters / 1e6:.2f} M params) | "
            f"**{digit_acc:.2%}** | {report.wer:.2%} | {report.cer:.2%} |",
        ]
    lines = [
        "# FSDD recipe results",
        "",
        "Free Spoken Digit Dataset, official split (recordings with index 0-4 are test, 5-49",
        "train; indices 5-9 are held out of train as dev for early stopping and tuning).",
        "The model spells its output (`s e v e n`), it does not classify.",
        "",
        f"Data: {describe(split)}.",
        "",
        *([given.line, ""] if given is not None else []),
        *table,
        "| published classifier anchors on FSDD (CNN on spectrograms) | about 97% | - | - |",
        "",
        *([f"Below: the {evaluation.decoder} decoder's output.", ""] if given else []),
        f"Errors: {report.substitutions} substitutions, {report.deletions} deletions, "
        f"{report.insertions} insertions over {report.ref_words} words; "
        f"{report.char_substitutions + report.char_deletions + report.char_insertions} character "
        f"errors over {report.ref_chars} characters.",
        "",
        "Per speaker (digit accuracy): "
        + ", ".join(f"{s} {sum(v) / len(v):.0%}" for s, v in sorted(per_speaker.items())),
        "",
    ]
    wrong = sorted(((r, h, n) for (r, h), n in confusion.items() if r != h), key=lambda x: -x[2])
    if wrong:
        lines += ["Misrecognitions (reference -> output, count):", ""]
        lines += [f"- {r} -> {h or '(nothing)'}: {n}" for r, h, n in wrong]
        lines.append("")
    lines += [f"![{name}]({png.name})" for name, png in plots] + [""]
    if result is None:
        lines += [
            "## Reproduce",
            "",
            "```sh",
            command,
            f"ctcasr evaluate --manifest {args.out}/data/test.jsonl --model {args.model}",
            "```",
            "",
        ]
        atomic_write_text(path, "\n".join(lines))
        print(f"wrote {path}")
        return
    lines += [
        "## Training",
        "",
        f"- Hardware: {hardware()}",
        f"- Epochs run: {result.epochs_run} (best dev CER at epoch {result.best_epoch}: "
        f"{result.best_dev_cer:.2%}, dev WER {result.best_dev_wer:.2%})",
        f"- Wall time for training: {result.training_minutes:.1f} min over "
        f"all epochs (this invocation: {train_minutes:.1f} min)",
        f"- Throughput: median {result.seconds_per_epoch:.1f} s per epoch over "
        f"{result.train_utterances} utterances "
        f"({result.train_utterances / max(result.seconds_per_epoch, 1e-9):.0f} utterances/s)",
        f"- Peak resident memory (RSS) of the training process: {result.peak_rss_mb:.0f} MB",
        f"- Settings: `{TRAIN_SETTINGS}`, augmentation `{AUGMENT}` with noise from "
        f"`{args.noise or 'the corpus folder sibling noise/'}`, plus SpecAugment "
        "(2 time masks up to 5% of the utterance, 2 frequency masks up to 4 coefficients)",
        "",
        "Per-epoch log (from `log.csv`):",
        "",
        "| epoch | loss | dev WER | dev CER | s |",
        "|---|---|---|---|---|",
    ]
    for h in result.history:
        lines.append(
            f"| {h.epoch} | {h.loss:.3f} | {h.dev_wer:.2%} | {h.dev_cer:.2%} | {h.seconds:.1f} |"
        )
    lines += [
        "",
        "## Reproduce",
        "",
        "```sh",
        command,
        f"ctcasr evaluate --manifest {args.out}/data/test.jsonl --model {args.out}/train/model",
        "# score a model without training (the bundled one here; the page goes to "
        "OUT/RESULTS.md):",
        scoring_command("fsdd", argv),
        "```",
        "",
    ]
    atomic_write_text(path, "\n".join(lines))
    print(f"wrote {path}")


def _plots(folder: Path, result, per_speaker, confusion, decoder: str = "greedy"
           ) -> list[tuple[str, Path]]:  # fmt: skip
    """Training curves (none without a training ``result``), per-speaker digit error and the
    digit confusion matrix as PNGs."""
    from recipes.report import plot_confusion, plot_per_speaker, plot_training_curves

    digits = [number_to_words(d) for d in range(10)]
    classes = [*digits, "other"]
    matrix = [[0] * len(classes) for _ in digits]
    for (ref, hyp), n in confusion.items():
        if ref in digits:
            matrix[digits.index(ref)][classes.index(hyp if hyp in digits else "other")] += n
    error = {s: 100 * (1 - sum(v) / len(v)) for s, v in per_speaker.items()}
    curves = [] if result is None else [
        ("training curves", plot_training_curves(Path(result.bundle_path).parent / "log.csv",
                                                 folder / "training_curves.png",
                                                 "FSDD: training loss and dev error")),
    ]
    return [
        *curves,
        ("per-speaker digit error", plot_per_speaker(error, folder / "per_speaker_error.png",
                                                     "digit error %", "FSDD test, per speaker")),
        ("confusion matrix", plot_confusion(matrix, classes, folder / "confusion_matrix.png",
                                            f"FSDD test digits ({decoder})", rows=digits)),
    ]  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
