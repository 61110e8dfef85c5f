"""The bundled model, end to end: ``python -m recipes.pretrained --data ../shared/data``.

One model for every corpus: AN4 train + FSDD train + Speech Commands train speakers + a
synthetic TTS corpus (``recipes.synthetic``; the held-out Speech Commands words are never in
it), with noise from ``<data>/noise``. Early stopping watches the three dev sets together. The
``kenlm`` decoder gets a 3-gram over the training transcripts (never a test set) and is tuned
on AN4 dev. Then every test set is scored: AN4 (greedy and tuned LM), FSDD digits, Speech
Commands ten commands and 12 classes, and the unseen words through a command list.
``--install`` makes it ``ctcasr/pretrained/default`` with its model card.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import time
from pathlib import Path

from ctcasr.errors import CtcasrError
from ctcasr.manifest import write_manifest
from recipes.common import AUGMENT as COMMON_AUGMENT
from recipes.common import TRAIN_3M, hardware, run_main

HERE = Path(__file__).parent
REPO = HERE.parents[1]
TRAIN_SETTINGS = {**TRAIN_3M, "patience": 8}
# More and harder noise than the single-corpus recipes: this model meets the most conditions.
AUGMENT = {**COMMON_AUGMENT, "noise_prob": 0.4, "snr_db": (5.0, 30.0)}
MAX_BUNDLE_MB = 15.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m recipes.pretrained", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data", help="folder holding an4/, fsdd/, "
                   "speech_commands/ and noise/ [../shared/data]")  # fmt: skip
    p.add_argument("--out", default="exp/pretrained", help="work directory")
    p.add_argument("--synthetic", type=int, default=20000, help="synthetic clips [20000]")
    p.add_argument("--epochs", type=int, default=TRAIN_SETTINGS["epochs"])
    p.add_argument("--init-from", help="start from this bundle's weights (same architecture), "
                   "e.g. exp/speech_commands/train/model from recipes.speech_commands")  # fmt: skip
    p.add_argument("--strategy", default="default", help="tf.distribute strategy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--install", action="store_true", help="install as the bundled model")
    p.add_argument("--results", default=str(HERE / "RESULTS.md"))
    return p.parse_args(argv)


def prepare_all(data: Path, out: Path, synthetic: int, seed: int) -> dict[str, object]:
    from recipes.an4.prepare import lm_corpus
    from recipes.an4.prepare import prepare as prepare_an4
    from recipes.fsdd.prepare import prepare as prepare_fsdd
    from recipes.speech_commands.prepare import HELD_OUT_WORDS
    from recipes.speech_commands.prepare import prepare as prepare_sc
    from recipes.synthetic.generate import generate

    splits = {
        "an4": prepare_an4(data / "an4", out / "data" / "an4"),
        "fsdd": prepare_fsdd(data / "fsdd", out / "data" / "fsdd"),
        "speech_commands": prepare_sc(data / "speech_commands", out / "data" / "speech_commands"),
    }
    synth_manifest = out / "synthetic" / "synthetic.jsonl"
    if synthetic and not synth_manifest.is_file():
        generate(out / "synthetic", synthetic, exclude=HELD_OUT_WORDS, seed=seed)
    dev = [e for s in splits.values() for e in s.dev]  # type: ignore[attr-defined]
    write_manifest(out / "data" / "dev.jsonl", dev)
    # LM text: training transcripts of the real corpora (not dev: the LM weights are tuned
    # there) plus the digit corpus.
    texts = lm_corpus(splits["an4"])  # type: ignore[arg-type]
    for name in ("fsdd", "speech_commands"):
        texts += [e.text for e in splits[name].train if e.text]  # type: ignore[attr-defined]
    texts += (REPO / "lm" / "corpora" / "digits.txt").read_text(encoding="utf-8").splitlines()
    (out / "lm").mkdir(parents=True, exist_ok=True)
    (out / "lm" / "corpus.txt").write_text("\n".join(texts) + "\n", encoding="utf-8")
    return {"splits": splits, "synthetic": synth_manifest if synth_manifest.is_file() else None}


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from ctcasr.bundle import load_bundle
    from ctcasr.evaluate import compare_decoders
    from ctcasr.lm import build_lm
    from ctcasr.train import TrainConfig, train
    from ctcasr.tune import tune
    from recipes.speech_commands.__main__ import score as score_commands

    data, out = Path(args.data), Path(args.out)
    prepared = prepare_all(data, out, args.synthetic, args.seed)
    lm = build_lm(out / "lm" / "corpus.txt", out / "lm" / "3gram.arpa", order=3, memory="256M")
    train_manifests = [str(out / "data" / c / "train.jsonl")
                       for c in ("an4", "fsdd", "speech_commands")]  # fmt: skip
    if prepared["synthetic"] is not None:
        train_manifests.append(str(prepared["synthetic"]))
    config = TrainConfig(
        train_manifests=train_manifests,
        dev_manifest=str(out / "data" / "dev.jsonl"),
        output_dir=str(out / "train"),
        seed=args.seed,
        strategy=args.strategy,
        init_from=args.init_from,
        augment={**AUGMENT, "noise_dir": str(data / "noise")},
        metadata={"recipe": "recipes/pretrained",
                  "corpora": "AN4, FSDD, Speech Commands (train speakers), synthetic TTS"},
        **{**TRAIN_SETTINGS, "epochs": args.epochs},
    )  # fmt: skip
    start = time.perf_counter()
    result = train(config, resume=args.resume)
    minutes = (time.perf_counter() - start) / 60
    bundle_dir = Path(result.bundle_path)
    tuned = tune(out / "data" / "an4" / "dev.jsonl", bundle_dir, decoder="kenlm",
                 decoder_options={"lm": str(lm.path)})  # fmt: skip
    an4 = compare_decoders(out / "data" / "an4" / "test.jsonl", ["greedy", "kenlm"], bundle_dir)
    fsdd = compare_decoders(out / "data" / "fsdd" / "test.jsonl", ["greedy", "kenlm"], bundle_dir)
    commands = score_commands(bundle_dir, out / "data" / "speech_commands")
    size_mb = sum(p.stat().st_size for p in bundle_dir.iterdir()) / 1e6
    lines = results_page(argv, result, minutes, tuned, an4, fsdd, commands, size_mb)
    Path(args.results).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    if args.install:
        if size_mb > MAX_BUNDLE_MB:
            raise CtcasrError(f"bundle is {size_mb:.1f} MB, over the {MAX_BUNDLE_MB} MB limit")
        from ctcasr.utils import atomic_dir

        target = REPO / "ctcasr" / "pretrained" / "default"
        with atomic_dir(target) as tmp:
            shutil.copytree(bundle_dir, tmp, dirs_exist_ok=True)
            (tmp / "MODEL_CARD.md").write_text(model_card(result, lines, size_mb))
        load_bundle(target)
        print(f"installed as {target}")
    return 0


def results_page(argv, result, minutes, tuned, an4, fsdd, commands, size_mb) -> list[str]:
    command = "python -m recipes.pretrained " + " ".join(shlex.quote(a) for a in argv)
    row = "| {} | {} | {:.2%} | {:.2%} |"
    return [
        "# Bundled model results",
        "",
        "| test set | decoder | WER | CER |",
        "|---|---|---:|---:|",
        *[row.format("AN4 test (130)", e.decoder, e.report.wer, e.report.cer) for e in an4],
        *[row.format("FSDD test (300)", e.decoder, e.report.wer, e.report.cer) for e in fsdd],
        "",
        f"FSDD digit accuracy: {', '.join(f'{e.decoder} {e.report.sentence_accuracy:.2%}' for e in fsdd)}.",  # noqa: E501
        f"Speech Commands test speakers (grammar decoder): ten-command accuracy "
        f"{commands.ten_command_accuracy:.2%}, 12-class {commands.twelve_class_accuracy:.2%}.",
        f"Unseen words through a command list ({commands.unseen_count} real recordings): "
        f"{commands.unseen_accuracy:.2%}.",
        f"LM tuning on AN4 dev: {tuned.summary()}",
        "",
        f"Model: {result.parameters:,} parameters, bundle {size_mb:.1f} MB with its LM. "
        f"Training: {minutes:.0f} min, median {result.seconds_per_epoch:.0f} s per epoch over "
        f"{result.train_utterances} utterances, {result.epochs_run} epochs (best "
        f"{result.best_epoch}), peak RSS {result.peak_rss_mb:.0f} MB; {hardware()}.",
        "",
        f"    {command}",
    ]


def model_card(result, lines: list[str], size_mb: float) -> str:
    return "\n".join([
        "# Bundled model",
        "",
        "Made by `python -m recipes.pretrained --data ../shared/data --install`.",
        "",
        "- Conv1D (256, kernel 11, stride 2) + batch norm, 3 BiGRU layers of 256, dense to 28",
        f"  characters + CTC blank; {result.parameters:,} parameters; {size_mb:.1f} MB with LM.",
        "- Training data: AN4 train (CMU terms), FSDD train (CC BY-SA 4.0), Speech Commands",
        "  v0.02 test-subset train speakers (CC BY 4.0), synthetic speech from espeak-ng (GPL),",
        "  flite and festival voices over Debian's wamerican word list; noise from Speech",
        "  Commands (CC BY 4.0) and MIT-licensed recordings.",
        "- Held out of all training: the words bird, cat, dog, house, marvin, sheila, tree, wow.",
        "",
        *lines,
        "",
        "Limits: close-talking English; short utterances; spelled output means unusual words",
        "come out phonetically spelled unless constrained by a command list or hotwords.",
    ]) + "\n"


def main(argv: list[str] | None = None) -> int:
    return run_main(parse_args, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
