"""Speech Commands recipe, end to end:
``python -m recipes.speech_commands --data ../shared/data/speech_commands``.

Prepares speaker-disjoint train/dev/test manifests (held-out words kept out of everything),
trains (``--extra`` adds other corpora's training manifests), and evaluates on the test
speakers with the ``grammar`` decoder over the ten commands: ten-command accuracy, 12-class
accuracy (ten commands, unknown = rejected, silence = nothing spelled) with a confusion matrix,
and one-of-N accuracy on real recordings of eight words the model never heard. Writes
``recipes/speech_commands/RESULTS.md`` with plots.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from recipes.common import (
    DEV_WORDS_KEY,
    TRAIN_3M,
    TRAINING,
    augment_config,
    check_never_heard,
    check_outputs,
    check_resume_dev_words,
    check_unheard_entries,
    find_corpus,
    hardware,
    hold,
    results_page,
    run_main,
    step,
    whole,
)
from recipes.speech_commands.prepare import (
    CLASSES,
    COMMANDS,
    DEV_WORDS_HELP,
    HELD_OUT_WORDS,
    TEST_SET_URL,
    UNSEEN_DEV,
    UNSEEN_DEV_COMMANDS,
    URL,
    check_dev_words_said,
    confusion_matrix,
    describe,
    dev_words_arg,
    prepare,
    twelve_class_label,
    twelve_class_prediction,
)

if TYPE_CHECKING:
    import numpy as np

    from ctcasr.decoding.base import Hypothesis
    from ctcasr.transcribe import Transcriber

HERE = Path(__file__).parent
TRAIN_SETTINGS = TRAIN_3M
# 12-class anchors trained on the full 85k-clip training set (this corpus is the test subset).
ANCHORS = [("BC-ResNet-8", 98.7), ("KWT-3", 98.7), ("MatchboxNet", 98.0),
           ("TensorFlow tutorial CNN", 87.6)]  # fmt: skip


@dataclass(frozen=True)
class OneOfN:
    """Clips of words never trained on, each recognised as one of the list's words."""

    right: int
    count: int
    wrong: list[tuple[str, str]]  # (word, chosen)
    choices: int = 0  # words in the list: chance is 1/choices; 0 when not recorded

    @property
    def label(self) -> str:
        return f"one of {self.choices}" if self.choices else "one of N"

    @property
    def accuracy(self) -> float:
        return self.right / max(self.count, 1)


@dataclass
class CommandScores:
    ten_command_accuracy: float  # best phrase == label, over clips of the ten commands
    ten_command_accepted: float  # ... and not rejected
    twelve_class_accuracy: float
    matrix: list[list[int]]
    unseen: OneOfN  # one-of-N over the held-out words
    ten_command_count: int  # clips of the ten commands
    threshold: float | None = None  # the grammar decoder's rejection threshold (tuned on dev)
    unseen_dev: OneOfN | None = None  # the held-out dev words, when there are some
    # Test clips whose audio could not be read, one line each: counted as wrong in the
    # accuracies (and their intervals), out of the confusion matrix.
    unreadable: list[str] = field(default_factory=list)

    def rejection_note(self) -> str:
        """How the 12-class rejection was set, for the reports."""
        if self.threshold is None:
            return ""
        return f" below confidence {self.threshold:g}, tuned on dev"

    def unreadable_note(self) -> str:
        """The test clips that could not be read, for the reports; "" when none."""
        if not self.unreadable:
            return ""
        n = len(self.unreadable)
        return (f"{n} test clip{'s' * (n != 1)} could not be read and count{'s' * (n == 1)} as "
                f"wrong (left out of the confusion matrix): {'; '.join(self.unreadable)}")

    def unseen_dev_summary(self) -> tuple[str, str, str] | None:
        """What the held-out dev words scored, as (label, accuracy, interval); None when no
        words were held out for dev."""
        from ctcasr.metrics import interval_text

        dev = self.unseen_dev
        if dev is None:
            return None
        return (f"unseen **dev** words, {dev.label} ({dev.count} real recordings of words kept "
                "out of all training to tune for unseen words by; not a test)",
                f"{dev.accuracy:.2%}", interval_text(dev.right, dev.count))  # fmt: skip

    def intervals(self) -> dict[str, str]:
        """Each accuracy with its count and 95% interval: the test sets are small."""
        from ctcasr.metrics import interval_text

        twelve = sum(map(sum, self.matrix)) + len(self.unreadable)
        return {
            "ten": interval_text(round(self.ten_command_accuracy * self.ten_command_count),
                                 self.ten_command_count),
            "twelve": interval_text(sum(row[i] for i, row in enumerate(self.matrix)), twelve),
            "unseen": interval_text(self.unseen.right, self.unseen.count),
        }  # fmt: skip


def score(bundle: str | Path, data_dir: Path, threshold: float | None = None) -> CommandScores:
    """Everything the RESULTS page reports, from one acoustic pass per manifest. Without a
    ``threshold``, the rejection threshold is tuned on dev as ``ctcasr tune`` does it."""
    from ctcasr.evaluate import compute_log_probs
    from ctcasr.transcribe import Transcriber
    from ctcasr.tune import tune

    commands = str(data_dir / "commands.txt")
    if threshold is None:
        tuned = tune(data_dir / "dev.jsonl", bundle, decoder="grammar",
                     decoder_options={"commands": commands}, save=False)  # fmt: skip
        threshold = tuned.best.params["threshold"]
    options = {"commands": commands, "threshold": threshold}
    # Keyword spotting scores each clip whole: split=None (no entry is ever cut into pieces).
    grammar = Transcriber(bundle, decoder="grammar", decoder_options=options, split=None)
    greedy = Transcriber(grammar.bundle, decoder="greedy")
    greedy._model = grammar.acoustic_model
    test = compute_log_probs(grammar, data_dir / "test.jsonl")
    labels, preds, ten_hits, ten_accepted, ten_total = [], [], 0, 0, 0
    for entry, lp in zip(test.entries, test.log_probs, strict=True):
        if lp is None:  # unreadable: wrong, and named (see CommandScores.unreadable)
            ten_total += entry.text in COMMANDS
            continue
        result = grammar.decode(whole(lp))
        best = spoken_phrase(result.nbest, whole(lp))
        free = greedy.decode(whole(lp)).text
        label = twelve_class_label(entry.text)
        labels.append(label)
        preds.append(twelve_class_prediction(best, result.rejected, free))
        if entry.text in COMMANDS:
            ten_total += 1
            ten_hits += best == entry.text
            ten_accepted += best == entry.text and not result.rejected
    matrix = confusion_matrix(labels, preds, CLASSES)
    unseen = one_of_n(grammar, data_dir / "unseen.jsonl", data_dir / "unseen_commands.txt")
    unseen_dev = None
    if (data_dir / UNSEEN_DEV).is_file():
        unseen_dev = one_of_n(grammar, data_dir / UNSEEN_DEV, data_dir / UNSEEN_DEV_COMMANDS)
    return CommandScores(
        ten_hits / max(ten_total, 1),
        ten_accepted / max(ten_total, 1),
        sum(a == b for a, b in zip(labels, preds, strict=True))
        / max(len(labels) + len(test.failures), 1),
        matrix,
        unseen,
        ten_total,
        threshold,
        unseen_dev,
        [f.error for f in test.failures],
    )


def spoken_phrase(nbest: Sequence[Hypothesis], log_probs: np.ndarray) -> str:
    """The grammar's best phrase in ``nbest`` (of ``log_probs``), rejected or not; "" for
    digital silence (no frames), which ``evaluate`` also scores as nothing said: the best of
    no frames is the list's first phrase, and a silent clip of that word counted as right."""
    return nbest[0].text if len(log_probs) else ""


def one_of_n(like: Transcriber, manifest: Path, words: Path) -> OneOfN:
    """Each clip of ``manifest`` as the best of ``words`` (never rejected), through the
    ``grammar`` decoder on ``like``'s acoustic model."""
    from ctcasr.decoding.grammar import GrammarDecoder
    from ctcasr.evaluate import compute_log_probs
    from ctcasr.transcribe import Transcriber

    unseen = Transcriber(like.bundle, decoder="grammar", split=None,
                         decoder_options={"commands": str(words), "threshold": 0.0})  # fmt: skip
    unseen._model = like.acoustic_model
    held = compute_log_probs(unseen, manifest)
    wrong, hits = [], 0
    for entry, lp in zip(held.entries, held.log_probs, strict=True):
        best = spoken_phrase(unseen.decode(whole(lp)).nbest, whole(lp)) if lp is not None else ""
        hits += best == entry.text
        if best != entry.text:
            wrong.append((entry.text, best))
    assert isinstance(unseen.decoder_impl, GrammarDecoder)
    return OneOfN(hits, len(held.entries), wrong, len(unseen.decoder_impl.commands))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m recipes.speech_commands",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--data", help=f"Speech Commands folder; download: {URL} or {TEST_SET_URL}")
    p.add_argument("--noise", help="noise folder [the corpus folder's sibling noise/]; 'none'")
    p.add_argument("--extra", nargs="*", default=[], help="more training manifests")
    p.add_argument("--model", help="evaluate this bundle instead of training one")
    p.add_argument("--out", default="exp/speech_commands", help="work directory")
    p.add_argument("--epochs", type=int, default=TRAIN_SETTINGS["epochs"])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dev-words", type=dev_words_arg, default=(), metavar="W,W,...",
                   help=DEV_WORDS_HELP)
    p.add_argument("--resume", action="store_true", help="continue an interrupted run")
    p.add_argument("--results", default=None,
                   help="report to write [default: the recipe's RESULTS.md; with --model, "
                   "OUT/RESULTS.md]")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    return run_main(parse_args, run, argv)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from ctcasr.train import TrainConfig, check_output_dir, train

    # With --model nothing trains: there is no training folder to go on from.
    step("preparing the data", Path(args.out) / "train" if args.model is None else None)
    # A scored --model's page went over the recipe's own (the model it trains) by default.
    args.results = results_page(args.results, args.out, args.model, HERE)
    check_outputs(args.out, args.results)
    hold(args.out, *([Path(args.out) / "train"] if args.model is None else []))
    if args.model is None:  # before minutes of preparing, not after
        check_extra(args.extra, (*HELD_OUT_WORDS, *args.dev_words))
    data = find_corpus(args.data, "speech_commands", TEST_SET_URL, can_download=False)
    if args.model is None:  # a missing corpus is said first; then, before prepare rewrites
        # the manifests an earlier run in --out was trained on
        check_output_dir(Path(args.out) / "train", args.resume)
    check_dev_words_said(data, args.dev_words)  # a misspelling is not a model that heard it
    if args.model is not None:
        check_never_heard(args.model, args.dev_words, "--model")
    out = Path(args.out)
    if args.resume and args.model is None:  # before the data is prepared with other words
        check_resume_dev_words(out / "train", args.dev_words)
    split = prepare(data, out / "data", dev_words=args.dev_words)
    print(describe(split))
    result, train_minutes = None, 0.0
    bundle = args.model
    if bundle is None:
        noise = args.noise or (
            str(data.parent / "noise") if (data.parent / "noise").is_dir() else None
        )
        config = TrainConfig(
            train_manifests=[str(out / "data" / "train.jsonl"), *args.extra],
            dev_manifest=str(out / "data" / "dev.jsonl"),
            output_dir=str(out / "train"),
            seed=args.seed,
            augment=augment_config(None if noise == "none" else noise),
            metadata={"corpus": "Speech Commands v0.02 (test subset)", "recipe": __package__,
                      DEV_WORDS_KEY: list(split.dev_words)},
            **{**TRAIN_SETTINGS, "epochs": args.epochs},
        )
        start = time.perf_counter()
        step(TRAINING)
        result = train(config, resume=args.resume)
        train_minutes = (time.perf_counter() - start) / 60
        bundle = result.bundle_path
    step("scoring the test speakers")
    scores = score(bundle, out / "data")
    print(f"ten-command accuracy {scores.ten_command_accuracy:.2%}, 12-class "
          f"{scores.twelve_class_accuracy:.2%}, unseen words {scores.unseen.accuracy:.2%}"
          + (f", unseen dev words {scores.unseen_dev.accuracy:.2%}" if scores.unseen_dev else ""))
    if scores.unreadable:
        print(f"warning: {scores.unreadable_note()}", file=sys.stderr)
    step("writing the results page")
    write_results(Path(args.results), argv, split, bundle, result, scores, train_minutes)
    return 0


def check_extra(manifests: list[str], words: tuple[str, ...]) -> None:
    """The ``--extra`` manifests are trained on too, so they may not say a held-out word
    (AN4 says "five"; held out here, it would be scored as a word the model never heard)."""
    from ctcasr.manifest import read_manifest

    for manifest in manifests:
        entries = read_manifest(manifest, check_audio=False).entries
        check_unheard_entries(entries, words, f"--extra {manifest}")


def result_extra(argv: list[str]) -> list[str]:
    """The ``--extra`` manifests of this invocation, for the RESULTS page."""
    return parse_args(argv).extra


def write_results(path, argv, split, bundle, result, scores, train_minutes) -> None:
    from ctcasr.utils import atomic_write_text
    from recipes.report import (
        INTERVALS_NOTE,
        SILENCE_NOTE,
        plot_confusion,
        plot_training_curves,
    )

    folder = path.parent
    plot_confusion(scores.matrix, CLASSES, folder / "confusion_matrix.png",
                   "Speech Commands test speakers, 12 classes (grammar decoder)")  # fmt: skip
    log = Path(bundle).parent / "log.csv"
    has_curves = log.is_file()
    if has_curves:
        plot_training_curves(log, folder / "training_curves.png", "Speech Commands training")
    command = "python -m recipes.speech_commands " + " ".join(shlex.quote(a) for a in argv)
    ci = scores.intervals()
    lines = [
        "# Speech Commands recipe results",
        "",
        "Google Speech Commands v0.02, the speaker subset of its official test set that ships in",
        "`../shared/data`, split again by speaker into train/dev/test. The model spells; the",
        "commands are a constraint at decode time (`grammar` decoder over `commands.txt`).",
        f"Words never trained on (kept out of every training set): {', '.join(HELD_OUT_WORDS)}.",
        "",
        f"Data: {describe(split)}.",
        "",
        "## Test speakers",
        "",
        "| metric | ctcasr | clips right; 95% interval |",
        "|---|---:|---:|",
        "| ten-command accuracy (best of the ten phrases) | "
        f"**{scores.ten_command_accuracy:.2%}** | {ci['ten']} |",
        f"| ... and accepted (not rejected) | {scores.ten_command_accepted:.2%} | |",
        f"| 12-class accuracy (unknown = rejected{scores.rejection_note()}, silence = nothing "
        "spelled) | "
        f"**{scores.twelve_class_accuracy:.2%}** | {ci['twelve']} |",
        f"| unseen words, {scores.unseen.label} ({scores.unseen.count} real recordings) | "
        f"**{scores.unseen.accuracy:.2%}** | {ci['unseen']} |",
        *(["| {} | {} | {} |".format(*dev)] if (dev := scores.unseen_dev_summary()) else []),
        "",
        INTERVALS_NOTE,
        "",
        *([scores.unreadable_note(), ""] if scores.unreadable else []),
        SILENCE_NOTE,
        "",
        "12-class anchors, trained on the full 85k-clip training set (this recipe trains on a",
        "few thousand clips): " + ", ".join(f"{n} {a}%" for n, a in ANCHORS) + ".",
        "",
        "![confusion matrix](confusion_matrix.png)",
        "",
    ]
    if scores.unseen.wrong:
        lines += ["Unseen-word errors (word -> chosen): "
                  + ", ".join(f"{a} -> {b}" for a, b in scores.unseen.wrong), ""]  # fmt: skip
    if result is not None:
        extra = result_extra(argv)
        lines += [
            "![training curves](training_curves.png)" if has_curves else "",
            "",
            "## Training",
            "",
            f"- Hardware: {hardware()}",
            "- Training data: the Speech Commands train speakers"
            + "".join(f" + `{m}`" for m in extra)
            + (" (`--extra`: a manifest another recipe's prepare step writes; AN4's train is "
               "`exp/an4/data/train.jsonl` after `python -m recipes.an4`)" if extra else ""),
            f"- Epochs run: {result.epochs_run}; best dev CER {result.best_dev_cer:.2%} at "
            f"epoch {result.best_epoch}; {result.training_minutes:.1f} min "
            f"over all epochs (this invocation: {train_minutes:.1f} min); median "
            f"{result.seconds_per_epoch:.1f} s per epoch; {result.parameters:,} parameters",
            "",
        ]
    lines += ["## Reproduce", "", f"    {command}", ""]
    atomic_write_text(path, "\n".join(lines) + "\n")


if __name__ == "__main__":
    raise SystemExit(main())
