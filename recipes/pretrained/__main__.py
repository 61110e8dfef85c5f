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
import csv
import re
import shlex
import shutil
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctcasr.errors import CtcasrError
from ctcasr.manifest import write_manifest
from ctcasr.utils import atomic_write_text
from recipes.an4.prepare import URL as AN4_URL
from recipes.common import AUGMENT as COMMON_AUGMENT
from recipes.common import (
    DEV_WORDS_KEY,
    TRAIN_3M,
    TRAINING,
    augment_config,
    bundle_metadata,
    check_never_heard,
    check_outputs,
    check_resume_dev_words,
    check_unheard_entries,
    hardware,
    hold,
    run_config,
    run_main,
    step,
)
from recipes.fsdd.prepare import URL as FSDD_URL
from recipes.pretrained.card import LICENCES, LIMITS, USE
from recipes.speech_commands.prepare import (
    DEV_WORDS_HELP,
    check_dev_words_said,
    dev_words_arg,
)
from recipes.speech_commands.prepare import TEST_SET_URL as SC_TEST_SET_URL
from recipes.speech_commands.prepare import URL as SC_URL

HERE = Path(__file__).parent
REPO = HERE.parents[1]
TRAIN_SETTINGS = {**TRAIN_3M, "patience": 8}
# More and harder noise than the single-corpus recipes: this model meets the most conditions.
AUGMENT = {**COMMON_AUGMENT, "noise_prob": 0.4, "snr_db": (5.0, 30.0)}
MAX_BUNDLE_MB = 15.0
SYNTHETIC_COUNT = 20000  # clips in the synthetic corpus, unless --synthetic says otherwise

if TYPE_CHECKING:
    from recipes.synthetic.generate import Request


def speed_factors(text: str) -> tuple[float, ...]:
    """``0.9,1.0,1.2`` as factors, refused at the command line rather than mid-epoch (by
    the augmentation's own check)."""
    from ctcasr.data import AugmentConfig
    from ctcasr.errors import ConfigError

    try:
        factors = tuple(float(f) for f in text.split(","))
    except ValueError:
        msg = f"expected numbers separated by commas, got {text!r}"
        raise argparse.ArgumentTypeError(msg) from None
    try:
        return AugmentConfig(speed_factors=factors).speed_factors
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m recipes.pretrained", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data", help="folder holding an4/, fsdd/, "
                   "speech_commands/ and noise/ [../shared/data]; download: "
                   + "; ".join(f"{k}/: {v}" for k, v in CORPUS_SOURCES.items()))  # fmt: skip
    p.add_argument("--out", default="exp/pretrained", help="work directory")
    p.add_argument("--synthetic", type=int, default=SYNTHETIC_COUNT,
                   help=f"synthetic clips [{SYNTHETIC_COUNT}]")
    # Its own seed, not --seed: the fine-tuning stages change --seed yet reuse the corpus the
    # first stage made, and a corpus of another seed than the one asked for is refused.
    p.add_argument("--synthetic-seed", type=int, default=0, help="seed of the synthetic "
                   "corpus when it is made; --seed seeds training and --synthetic-subset "
                   "[0]")  # fmt: skip
    p.add_argument("--synthetic-subset", type=int, help="train on this many of the synthetic "
                   "clips (a seeded sample): a fine-tuning stage that weights the real speech "
                   "more")  # fmt: skip
    p.add_argument("--repeat", action="append", default=[], metavar="CORPUS=N",
                   help="list a real corpus N times per epoch (e.g. an4=3); each copy gets its "
                   "own augmentation")  # fmt: skip
    p.add_argument("--speed", type=speed_factors, default=AUGMENT["speed_factors"],
                   metavar="F,F,...", help="speed-perturbation factors, picked uniformly per "
                   "clip; above 1 is faster [0.9,1.0,1.1]")  # fmt: skip
    p.add_argument("--dev-words", type=dev_words_arg, default=(), metavar="W,W,...",
                   help=DEV_WORDS_HELP + "; every stage behind --init-from must hold them out "
                   "too")  # fmt: skip
    p.add_argument("--epochs", type=int, default=TRAIN_SETTINGS["epochs"])
    p.add_argument("--learning-rate", type=float, default=TRAIN_SETTINGS["learning_rate"])
    p.add_argument("--train-dir", help="training folder [OUT/train]")
    p.add_argument("--init-from", help="start from this bundle's weights (same architecture), "
                   "e.g. exp/speech_commands/train/model from recipes.speech_commands")  # fmt: skip
    p.add_argument("--average-with", action="append", default=[], metavar="BUNDLE",
                   help="also try the mean of this stage's best weights and BUNDLE's (e.g. the "
                   "stage it started from); ship it if its dev CER is lower")  # fmt: skip
    p.add_argument("--average-best", type=int, default=1, metavar="N",
                   help="average this stage's N best epochs by dev CER (keeps every epoch's "
                   "checkpoint), with any --average-with bundles; ship the mean if its dev CER "
                   "is lower than the best epoch's [1: no]")  # fmt: skip
    p.add_argument("--strategy", default="default", help="tf.distribute strategy")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--install", action="store_true", help="install as the bundled model")
    p.add_argument("--results", default=str(HERE / "RESULTS.md"))
    return p.parse_args(argv)


def prepare_all(data: Path, out: Path, synthetic: int, synthetic_seed: int,
                dev_words: tuple[str, ...] = ()) -> dict[str, object]:  # fmt: skip
    from recipes.an4.prepare import lm_corpus
    from recipes.an4.prepare import prepare as prepare_an4
    from recipes.fsdd.prepare import prepare as prepare_fsdd
    from recipes.speech_commands.prepare import HELD_OUT_WORDS
    from recipes.speech_commands.prepare import prepare as prepare_sc
    from recipes.synthetic.generate import Request, generate

    for name in (*REAL_CORPORA, "noise"):  # a missing fsdd/ was a FileNotFoundError
        if not (data / name).is_dir():
            raise CtcasrError(f"{data / name}: not found; --data must hold an4/, fsdd/, "
                              "speech_commands/ and noise/ (download: "
                              f"{CORPUS_SOURCES[name]})")  # fmt: skip
    splits = {
        "an4": prepare_an4(data / "an4", out / "data" / "an4"),
        "fsdd": prepare_fsdd(data / "fsdd", out / "data" / "fsdd"),
    }
    unheard = (*HELD_OUT_WORDS, *dev_words)
    # Before Speech Commands is prepared with these words held out: a dev word that AN4 or
    # FSDD says (a digit) left its manifests rewritten for a run that never happened, beside
    # the combined dev set of the last one.
    check_unheard(splits, unheard)
    sc = prepare_sc(data / "speech_commands", out / "data" / "speech_commands",
                    dev_words=dev_words)  # fmt: skip
    check_unheard({"speech_commands": sc}, unheard)  # AN4 and FSDD were checked above
    splits["speech_commands"] = sc
    synth_manifest = out / "synthetic" / "synthetic.jsonl"
    if synthetic and not synth_manifest.is_file():
        generate(out / "synthetic", synthetic, exclude=unheard, seed=synthetic_seed)
    elif synthetic:  # reused (it takes minutes to make), but only if it is the one asked for
        check_synthetic(synth_manifest, Request.of(synthetic, synthetic_seed, unheard))
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
    # --synthetic 0 trains without it, whatever an earlier run left in the folder
    use = synthetic and synth_manifest.is_file()
    return {"splits": splits, "synthetic": synth_manifest if use else None}


REAL_CORPORA = ("an4", "fsdd", "speech_commands")
# Where a user without ../shared/data gets each folder: a missing one was answered with that
# README, which only the project's machines have. noise/ is any folder of noise recordings.
CORPUS_SOURCES = {
    "an4": AN4_URL,
    "fsdd": FSDD_URL,
    "speech_commands": SC_TEST_SET_URL,
    "noise": f"any noise recordings, e.g. the _background_noise_/ folder of {SC_URL}",
}


def check_unheard(splits: dict[str, Any], words: Sequence[str]) -> None:
    """:func:`recipes.common.check_unheard_entries` over every corpus's training and dev
    transcripts: AN4 or FSDD saying a held-out word would let the model hear it."""
    for name, split in splits.items():
        for part in ("train", "dev"):
            check_unheard_entries(getattr(split, part), words, f"{name} {part}")


def check_synthetic(manifest: Path, asked: Request) -> None:
    """Refuse to reuse a synthetic corpus made for another request, in one line.

    The record ``generate`` leaves beside the manifest says what the corpus was asked to be;
    one made before records were kept is judged by its clip count alone.
    """
    from recipes.synthetic.generate import read_record

    have = sum(1 for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip())
    remake = f"remove {manifest.parent} to make it anew"
    record = read_record(manifest.parent)
    if record is None:
        if have != asked.count:
            raise CtcasrError(f"{manifest}: holds {have} synthetic clips, not the "
                              f"{asked.count} asked for; {remake}, or pass "
                              f"--synthetic {have}")  # fmt: skip
        return
    made_with = record.request
    differs = made_with.differences(asked)
    if differs:
        # Count and seed have flags here; the excluded words and word list do not.
        flags = {"count": f"--synthetic {made_with.count}",
                 "seed": f"--synthetic-seed {made_with.seed}"}  # fmt: skip
        if all(getattr(made_with, k) == getattr(asked, k) for k in ("exclude", "words")):
            remake += ", or pass " + " ".join(
                flag for k, flag in flags.items() if getattr(made_with, k) != getattr(asked, k))
        raise CtcasrError(f"{manifest}: synthetic corpus made with {'; '.join(differs)}; "
                          f"{remake}")  # fmt: skip
    made = record.request.count - record.skipped
    if have != made:  # the manifest was cut or edited after the record was written
        raise CtcasrError(f"{manifest}: holds {have} synthetic clips, but its record says "
                          f"{made} were made; {remake}")  # fmt: skip


def parse_repeats(specs: list[str]) -> dict[str, int]:
    """``["an4=3", "speech_commands=2"]`` -> ``{"an4": 3, "speech_commands": 2}``."""
    repeats: dict[str, int] = {}
    for spec in specs:
        name, _, count = spec.partition("=")
        if name not in REAL_CORPORA or not count.isdigit() or int(count) < 1:
            raise CtcasrError(f"--repeat {spec!r}: expected CORPUS=N with CORPUS one of "
                              f"{', '.join(REAL_CORPORA)} and N >= 1")  # fmt: skip
        repeats[name] = int(count)
    return repeats


def synthetic_subset(manifest: Path, count: int, seed: int) -> Path:
    """A seeded sample of ``count`` lines (at least 1, as :func:`run` checks before preparing)
    of the synthetic manifest, written beside it (same lines, same order)."""
    import random

    lines = [line for line in manifest.read_text(encoding="utf-8").splitlines() if line.strip()]
    keep = sorted(random.Random(seed).sample(range(len(lines)), min(count, len(lines))))
    path = manifest.with_name(f"{manifest.stem}.subset{len(keep)}-seed{seed}.jsonl")
    atomic_write_text(path, "".join(lines[i] + "\n" for i in keep))
    return path


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from ctcasr.bundle import WEIGHTS_FILE, load_bundle, store_decoder_settings
    from ctcasr.evaluate import compare_decoders
    from ctcasr.export import PARITY_TOLERANCE, check_export, export_onnx
    from ctcasr.lm import build_lm
    from ctcasr.train import TrainConfig, check_output_dir, train
    from ctcasr.tune import tune
    from recipes.speech_commands.__main__ import score as score_commands

    step("checking the settings", args.train_dir or Path(args.out) / "train")
    if args.average_best < 1:
        raise CtcasrError(f"--average-best must be at least 1, got {args.average_best}")
    if args.synthetic_seed < 0:  # numpy refuses it mid-generation, with a traceback
        raise CtcasrError(f"--synthetic-seed must be >= 0, got {args.synthetic_seed}")
    if args.synthetic_subset is not None and args.synthetic_subset < 1:  # before preparing
        raise CtcasrError(f"--synthetic-subset must be >= 1, got {args.synthetic_subset}")
    data, out = Path(args.data), Path(args.out)
    repeats = parse_repeats(args.repeat)  # before minutes of preparation, not after
    check_average_with(args.average_with)  # before hours of training, not after
    check_dev_words_said(data / "speech_commands", args.dev_words)  # before check_never_heard
    for flag, bundles in (("--init-from", [args.init_from] if args.init_from else []),
                          ("--average-with", args.average_with)):  # fmt: skip
        for bundle in bundles:
            check_never_heard(bundle, args.dev_words, flag)
    if args.resume:  # before the data is prepared with other words
        check_resume_dev_words(args.train_dir or out / "train", args.dev_words)
    check_outputs(out, args.results)
    hold(out, args.train_dir or out / "train", strategy=args.strategy)
    # before prepare rewrites the manifests an earlier run in --out was trained on
    check_output_dir(args.train_dir or out / "train", args.resume)
    step("preparing the data")
    prepared = prepare_all(data, out, args.synthetic, args.synthetic_seed, args.dev_words)
    step("building the LM")
    lm = build_lm(out / "lm" / "corpus.txt", out / "lm" / "3gram.arpa", order=3, memory="256M")
    train_manifests = [str(out / "data" / c / "train.jsonl")
                       for c in REAL_CORPORA for _ in range(repeats.get(c, 1))]  # fmt: skip
    if prepared["synthetic"] is not None:
        synth = Path(prepared["synthetic"])  # type: ignore[arg-type]
        if args.synthetic_subset is not None:
            synth = synthetic_subset(synth, args.synthetic_subset, args.seed)
        train_manifests.append(str(synth))
    config = TrainConfig(
        train_manifests=train_manifests,
        dev_manifest=str(out / "data" / "dev.jsonl"),
        output_dir=args.train_dir or str(out / "train"),
        seed=args.seed,
        strategy=args.strategy,
        init_from=args.init_from,
        augment=augment_config(str(data / "noise"), AUGMENT, speed_factors=args.speed),
        metadata={"recipe": "recipes/pretrained",
                  "corpora": "AN4, FSDD, Speech Commands (train speakers), synthetic TTS",
                  # the corpus's own settings, which its manifest's name does not say
                  "synthetic": {"count": args.synthetic, "seed": args.synthetic_seed},
                  DEV_WORDS_KEY: list(args.dev_words)},
        keep_checkpoints=0 if args.average_best > 1 else 2,  # 0: every epoch's
        **{**TRAIN_SETTINGS, "epochs": args.epochs, "learning_rate": args.learning_rate},
    )  # fmt: skip
    step(TRAINING)
    result = train(config, resume=args.resume)
    bundle_dir = Path(result.bundle_path)
    averaging = None
    if args.average_with or args.average_best > 1:
        step("averaging weights")
        epochs = best_epochs(result.history, args.average_best)
        averaging = try_average(bundle_dir, args.average_with, out / "data" / "dev.jsonl",
                                Path(config.output_dir), epochs[1:])  # fmt: skip
        print(averaging.summary())
        if averaging.kept:
            bundle_dir = Path(averaging.path)
    # Stored even if greedy did better on dev: test is reported with both, side by side.
    step("tuning the LM weights")
    tuned = tune(out / "data" / "an4" / "dev.jsonl", bundle_dir, decoder="kenlm",
                 decoder_options={"lm": str(lm.path)}, against_greedy=False)  # fmt: skip
    step("scoring the test sets")
    an4 = compare_decoders(out / "data" / "an4" / "test.jsonl", ["greedy", "kenlm"], bundle_dir)
    fsdd = compare_decoders(out / "data" / "fsdd" / "test.jsonl", ["greedy", "kenlm"], bundle_dir)
    commands = score_commands(bundle_dir, out / "data" / "speech_commands")
    # The rejection threshold tuned on Speech Commands dev becomes the grammar decoder's
    # starting point (kenlm stays the default decoder; users bring their own commands).
    store_decoder_settings(load_bundle(bundle_dir), "grammar", {"threshold": commands.threshold},
                           make_default=False)  # fmt: skip
    # What ships is the ONNX graph (checked against the Keras weights), the LM and the
    # settings; the Keras model is rebuilt from the graph when someone fine-tunes it.
    step("exporting to ONNX")
    onnx_path = export_onnx(bundle_dir)
    if (diff := check_export(load_bundle(bundle_dir), onnx_path)) > PARITY_TOLERANCE:
        raise CtcasrError(f"{onnx_path}: differs from the Keras model by {diff:.2g}")
    shipped = [p for p in bundle_dir.iterdir() if p.name != WEIGHTS_FILE]
    size_mb = sum(p.stat().st_size for p in shipped) / 1e6
    report = Report(argv, result, tuned, an4, fsdd, commands, size_mb, args.init_from,
                    prepared["splits"]["an4"], averaging)  # type: ignore[index]  # fmt: skip
    step("writing the results page")
    lines = report.page(Path(args.results).parent)
    atomic_write_text(Path(args.results), "\n".join(lines) + "\n")
    print("\n".join(lines))
    if args.install:
        if size_mb > MAX_BUNDLE_MB:
            raise CtcasrError(f"bundle is {size_mb:.1f} MB, over the {MAX_BUNDLE_MB} MB limit")
        from ctcasr.utils import atomic_dir

        step("installing the bundled model")
        target = REPO / "ctcasr" / "pretrained" / "default"
        with atomic_dir(target) as tmp:
            for path in shipped:
                shutil.copy2(path, tmp / path.name)
            (tmp / "MODEL_CARD.md").write_text(report.model_card(), encoding="utf-8")
        load_bundle(target)
        print(f"installed as {target}")
    return 0


@dataclass
class Averaging:
    """This stage's best weights averaged with earlier bundles' (a model soup), measured on the
    same dev set the stage kept its best by; the mean ships only if it is better there."""

    path: str
    sources: list[str]  # this stage's best bundle first
    stage_dev_cer: float
    averaged_dev_cer: float
    epochs: list[int] = field(default_factory=list)  # more of this stage's epochs, averaged in

    @property
    def kept(self) -> bool:
        return self.averaged_dev_cer < self.stage_dev_cer

    def summary(self) -> str:
        others = [f"`{s}`" for s in self.sources[1:]]
        if self.epochs:
            others.insert(0, f"its epochs {', '.join(map(str, self.epochs))}")
        verdict = "shipped" if self.kept else "not kept: this stage's best ships"
        return (f"mean of this stage's best weights and {', '.join(others)}: greedy dev CER "
                f"{self.averaged_dev_cer:.2%}, against {self.stage_dev_cer:.2%} for this "
                f"stage's best alone ({verdict})")  # fmt: skip


def try_average(stage: Path, others: list[str], dev: Path, train_dir: Path,
                epochs: Sequence[int] = ()) -> Averaging:  # fmt: skip
    """The mean of ``stage`` (the best epoch's bundle), ``others`` and ``train_dir``'s
    checkpoints of ``epochs``, scored against ``stage`` on ``dev``."""
    from ctcasr.bundle import average_bundles
    from recipes.pretrained.dev_compare import greedy_dev_cer

    checkpoints = checkpoint_dirs(train_dir, epochs)
    path = average_bundles([stage, *others], stage.parent / "averaged", checkpoints)
    return Averaging(str(path), [str(stage), *others], greedy_dev_cer(stage, dev),
                     greedy_dev_cer(path, dev), list(epochs))  # fmt: skip


def check_average_with(bundles: Sequence[str]) -> None:
    """Each ``--average-with`` bundle must load and have Keras weights, as this stage's best
    has: a missing one, or one with only ``model.onnx`` (the installed bundled model), failed
    at the averaging, after the whole training run, with no results page."""
    from ctcasr.bundle import WEIGHTS_FILE, load_bundle

    for path in bundles:
        if not load_bundle(path).weights_path.is_file():
            raise CtcasrError(f"--average-with {path}: has no Keras weights ({WEIGHTS_FILE}), "
                              "only model.onnx; average with a training run's bundle")  # fmt: skip


def best_epochs(history: Sequence[Any], n: int) -> list[int]:
    """The ``n`` epochs with the lowest dev CER, best first (ties: the earlier epoch, as
    training keeps its best)."""
    scored = [h for h in history if h.dev_cer is not None]
    return [h.epoch for h in sorted(scored, key=lambda h: (h.dev_cer, h.epoch))[:n]]


def checkpoint_dirs(train_dir: Path, epochs: Sequence[int]) -> list[Path]:
    """The checkpoint folders of ``epochs``; they must all still be there."""
    from ctcasr.train import CHECKPOINT_WEIGHTS, CHECKPOINTS, checkpoint_name

    paths = [train_dir / CHECKPOINTS / checkpoint_name(e) for e in epochs]
    if missing := [str(p) for p in paths if not (p / CHECKPOINT_WEIGHTS).is_file()]:
        raise CtcasrError(f"no checkpoint to average at {', '.join(missing)}: --average-best"
                          " needs a run that kept every epoch's (start it with the flag)")
    return paths


@dataclass
class WarmStart:
    """One earlier training stage whose weights a later one started from."""

    bundle: str
    epochs: int
    minutes: float
    utterances_text: str
    command: str | None  # how to rerun it, when it was this recipe
    best_dev_cer: float | None = None  # what the stage kept its model by
    dev_manifest: str | None = None
    averaged_with: tuple[str, ...] = ()  # when the bundle is its best weights' mean with these
    averaged_epochs: int = 0  # ... and with this many of its next-best epochs
    soup_of: tuple[str, ...] = ()  # a mean of these bundles, with no training of its own


def _corpus_name(manifest: Path) -> str:
    """``exp/an4/data/train.jsonl`` -> an4; ``.../data/an4/train.jsonl`` -> an4."""
    if manifest.name != "train.jsonl":
        return manifest.stem
    folder = manifest.parent
    return folder.parent.name if folder.name == "data" else folder.name


SUBSET_RE = r"(.+)\.subset(\d+)-seed\d+"  # synthetic_subset's file names


def describe_mix(manifests: list[str]) -> str:
    """``an4 x3, fsdd, synthetic (4000-clip subset)``: each corpus once, with its weight."""
    counts = Counter(_corpus_name(Path(m)) for m in manifests)
    parts = []
    for name, n in counts.items():
        if match := re.fullmatch(SUBSET_RE, name):
            name = f"{match.group(1)} ({match.group(2)}-clip subset)"
        parts.append(name if n == 1 else f"{name} x{n}")
    return ", ".join(parts)


def warm_start_chain(init_from: str | None) -> list[WarmStart]:
    """The stages behind ``init_from``, newest first, from their logs and saved settings.

    A bundle that ``ctcasr average`` made from others (a soup of stages, no training run of
    its own) is one entry, and the stages behind each of its sources follow; every stage is
    listed once, and every stage comes before the ones it started from, so the reversed list
    is an order to rerun them in.
    """
    order: list[WarmStart] = []  # oldest first: a stage after everything it needs
    seen: set[str] = set()

    def visit(bundle: str) -> None:
        if bundle in seen or len(seen) >= 20:
            return
        seen.add(bundle)
        stage, behind = _warm_start(bundle)
        for source in behind:
            visit(source)
        order.append(stage)

    if init_from:
        visit(init_from)
    return order[::-1]


def _warm_start(bundle: str) -> tuple[WarmStart, list[str]]:
    """One stage, and the bundles it started from."""
    run = Path(bundle).parent
    rows: list[dict[str, str]] = []
    if (run / "log.csv").is_file():
        with open(run / "log.csv", newline="") as fh:
            rows = list(csv.DictReader(fh))
    cfg = run_config(bundle)
    sources, checkpoints = averaged_with(Path(bundle))
    epochs = len(checkpoints)
    if not cfg and sources:  # `ctcasr average`'s output: its sources are the stages behind it
        average = f"ctcasr average {' '.join(sources)} -o {bundle}"
        average += "".join(f" --checkpoint {c}" for c in checkpoints)
        return WarmStart(bundle, 0, 0.0, "", average, soup_of=tuple(sources)), sources
    partners = sources[1:]
    command: str | None = None
    if cfg.get("metadata", {}).get("recipe") == "recipes/pretrained":
        command = rerun_command(cfg) + "".join(f" --average-with {p}" for p in partners)
        command += f" --average-best {epochs + 1}" if epochs else ""
    minutes = sum(float(row["seconds"]) for row in rows) / 60
    cers = [float(row["dev_cer"]) for row in rows if row.get("dev_cer")]
    data = describe_mix(cfg.get("train_manifests", []))
    stage = WarmStart(bundle, len(rows), minutes, data or "its corpus", command,
                      min(cers) if cers else None, cfg.get("dev_manifest"),
                      tuple(partners), epochs)  # fmt: skip
    return stage, [cfg["init_from"]] if cfg.get("init_from") else []


def averaged_with(bundle: Path) -> tuple[list[str], list[str]]:
    """The bundles ``bundle`` is the mean of (a stage's best weights first, when the recipe
    made it), and the training checkpoints averaged in too."""
    metadata = bundle_metadata(bundle) or {}
    return (list(metadata.get("averaged_from", [])),
            list(metadata.get("averaged_checkpoints", [])))  # fmt: skip


def rerun_command(cfg: dict[str, Any]) -> str:
    """The command that made a stage, from its saved settings: the data mix is read back from
    its manifests (a corpus listed N times was ``--repeat``-ed; a subset file names its size and
    seed)."""
    words = ["python -m recipes.pretrained --data ../shared/data"]
    if cfg.get("init_from"):
        words.append(f"--init-from {cfg['init_from']}")
    manifests = [Path(m) for m in cfg.get("train_manifests", [])]
    counts = Counter(_corpus_name(m) for m in manifests if m.name == "train.jsonl")
    words += [f"--repeat {name}={n}" for name, n in counts.items() if n > 1]
    synthetic = (cfg.get("metadata") or {}).get("synthetic") or {}
    if synthetic.get("count", SYNTHETIC_COUNT) != SYNTHETIC_COUNT:
        words.append(f"--synthetic {synthetic['count']}")
    if synthetic.get("seed", 0) != 0:  # stages from before it was recorded used seed 0
        words.append(f"--synthetic-seed {synthetic['seed']}")
    for m in manifests:
        if match := re.fullmatch(SUBSET_RE, m.stem):
            words.append(f"--synthetic-subset {match.group(2)}")
    speeds = tuple((cfg.get("augment") or {}).get("speed_factors", AUGMENT["speed_factors"]))
    if speeds != AUGMENT["speed_factors"]:
        words.append("--speed " + ",".join(f"{f:g}" for f in speeds))
    if dev_words := (cfg.get("metadata") or {}).get(DEV_WORDS_KEY):
        words.append("--dev-words " + ",".join(dev_words))
    if cfg.get("seed", 0) != 0:
        words.append(f"--seed {cfg['seed']}")
    if cfg.get("learning_rate", TRAIN_SETTINGS["learning_rate"]) != TRAIN_SETTINGS["learning_rate"]:
        words.append(f"--learning-rate {cfg['learning_rate']:g}")
    words.append(f"--epochs {cfg['epochs']}")
    if Path(cfg.get("output_dir", "train")).name != "train":
        words.append(f"--train-dir {cfg['output_dir']}")
    return " ".join(words)


# (test set, requirement, how it is measured)
TARGETS = ("AN4 test WER, tuned KenLM", "<= 7%"), ("AN4 test CER, tuned KenLM", "<= 3%"), (
    "Speech Commands ten-command accuracy, grammar", ">= 92%"), (
    "FSDD test digit accuracy", ">= 99%"), ("unseen words through a command list", ">= 90%")


@dataclass
class Report:
    """The RESULTS page and the model card, from one set of measurements."""

    argv: list[str]
    result: Any  # ctcasr.train.TrainResult
    tuned: Any  # ctcasr.tune.TuneResult
    an4: list[Any]  # ctcasr.evaluate.DecoderScore, greedy then kenlm
    fsdd: list[Any]
    commands: Any  # recipes.speech_commands.CommandScores
    size_mb: float
    init_from: str | None
    an4_split: Any
    averaging: Averaging | None = None

    def achieved(self) -> list[float]:
        kenlm = self.an4[-1].report
        return [kenlm.wer, kenlm.cer, self.commands.ten_command_accuracy,
                self.fsdd[-1].report.sentence_accuracy, self.commands.unseen.accuracy]  # fmt: skip

    def training_lines(self) -> list[str]:
        r = self.result
        minutes = r.training_minutes
        dev_cer = "" if r.best_dev_cer is None else f", dev CER {r.best_dev_cer:.2%}"
        lines = [
            f"- Hardware: {hardware()}",
            f"- {r.parameters:,} parameters; shipped bundle {self.size_mb:.1f} MB: ONNX graph "
            f"and LM (limit {MAX_BUNDLE_MB:.0f} MB)",
            f"- This stage: {r.train_utterances} utterances, {r.epochs_run} epochs (best "
            f"{r.best_epoch}{dev_cer}), {minutes:.0f} min, median "
            f"{r.seconds_per_epoch:.0f} s per epoch, peak RSS {r.peak_rss_mb:.0f} MB",
        ]
        if self.averaging is not None:
            lines.append(f"- Weight averaging: {self.averaging.summary()}")
        total = minutes
        for stage in warm_start_chain(self.init_from):
            total += stage.minutes
            if stage.soup_of:
                sources = ", ".join(f"`{p}`" for p in stage.soup_of)
                lines.append(f"- Warm start: `{stage.bundle}`, the mean of {sources} "
                             "(`ctcasr average`; no training of its own)")  # fmt: skip
                continue
            dev = "" if stage.best_dev_cer is None else f"; best dev CER {stage.best_dev_cer:.2%}"
            if dev and stage.dev_manifest:
                dev += f" on `{stage.dev_manifest}`"
            with_ = [f"`{p}`" for p in stage.averaged_with]
            if stage.averaged_epochs:
                with_.insert(0, f"its {stage.averaged_epochs} next-best epochs")
            if with_:
                dev += "; then averaged with " + ", ".join(with_)
            lines.append(
                f"- Warm start: `{stage.bundle}`, {stage.epochs} epochs and {stage.minutes:.0f} "
                f"min of its own training on {stage.utterances_text}{dev}"
            )
        if total > minutes:
            lines.append(f"- Training time of all stages together: {total:.0f} min")
        return lines

    def page(self, folder: Path) -> list[str]:
        from recipes.an4.__main__ import ANCHORS as AN4_ANCHORS
        from recipes.report import (
            INTERVALS_NOTE,
            SILENCE_NOTE,
            SpeakerOf,
            per_speaker_wer,
            plot_confusion,
            plot_per_speaker,
            plot_training_curves,
        )
        from recipes.speech_commands.__main__ import ANCHORS as SC_ANCHORS
        from recipes.speech_commands.prepare import CLASSES

        log = Path(self.result.bundle_path).parent / "log.csv"
        plot_training_curves(log, folder / "training_curves.png", "Bundled model training")
        plot_confusion(self.commands.matrix, CLASSES, folder / "confusion_matrix.png",
                       "Speech Commands test speakers, 12 classes (grammar decoder)")  # fmt: skip
        best = self.an4[-1]
        speaker_of = SpeakerOf(self.an4_split.test)
        plot_per_speaker(
            per_speaker_wer(best.ids, best.references, best.hypotheses, speaker_of),
            folder / "per_speaker_wer.png", "WER %", "AN4 test WER per speaker (tuned KenLM)",
        )  # fmt: skip
        c = self.commands
        ci = c.intervals()
        lines = [
            "# Bundled model results",
            "",
            "One model for every corpus: AN4 train + FSDD train + Speech Commands train speakers",
            "+ synthetic TTS speech, with noise augmentation. Every test set below is held out;",
            "decoder weights are tuned on AN4 dev only.",
            "",
            "## Targets",
            "",
            "| test | required | achieved | met |",
            "|---|---:|---:|:---:|",
        ]
        for (name, need), got in zip(TARGETS, self.achieved(), strict=True):
            value = float(need.split()[1].rstrip("%")) / 100
            ok = got <= value if need.startswith("<=") else got >= value
            lines.append(f"| {name} | {need} | {got:.2%} | {'yes' if ok else '**no**'} |")
        lines += ["", "## AN4 test (130 utterances)", "", "| system | WER | CER |",
                  "|---|---:|---:|"]  # fmt: skip
        for ev in self.an4:
            label = "greedy" if ev.decoder == "greedy" else "tuned KenLM 3-gram"
            lines.append(f"| **ctcasr bundled model**, {label} | **{ev.report.wer:.2%}** | "
                         f"**{ev.report.cer:.2%}** |")  # fmt: skip
        for name, wer, cer in AN4_ANCHORS:
            cer_text = "" if cer is None else f"{cer}%"
            lines.append(f"| {name} (published) | {wer:.2f}% | {cer_text} |")
        lines += [
            "",
            f"LM tuning on AN4 dev: {self.tuned.summary()}",
            "",
            "![per-speaker WER](per_speaker_wer.png)",
            "",
            "## FSDD official test (300 recordings)",
            "",
            "| decoder | digit accuracy | WER |",
            "|---|---:|---:|",
            *[f"| {e.decoder} | {e.report.sentence_accuracy:.2%} | {e.report.wer:.2%} |"
              for e in self.fsdd],
            "",
            "## Speech Commands test speakers",
            "",
            f"- ten-command accuracy (grammar decoder): **{c.ten_command_accuracy:.2%}** "
            f"({ci['ten']}; {c.ten_command_accepted:.2%} also accepted, not rejected)",
            f"- 12-class accuracy (unknown = rejected{c.rejection_note()}, silence = nothing "
            "spelled): "
            f"**{c.twelve_class_accuracy:.2%}** ({ci['twelve']}); published 12-class anchors "
            "trained on the full 85k-clip set: " + ", ".join(f"{n} {a}%" for n, a in SC_ANCHORS),
            f"- unseen words, {c.unseen.label} through a command list ({c.unseen.count} real "
            f"recordings, words kept out of all training data): **{c.unseen.accuracy:.2%}** "
            f"({ci['unseen']})",
            *(["- {}: {} ({})".format(*dev)] if (dev := c.unseen_dev_summary()) else []),
            *([f"- {c.unreadable_note()}"] if c.unreadable else []),
            f"- {INTERVALS_NOTE}",
            f"- {SILENCE_NOTE}",
        ]
        if c.unseen.wrong:
            lines.append("- unseen-word errors (word -> chosen): "
                         + ", ".join(f"{a} -> {b}" for a, b in c.unseen.wrong))  # fmt: skip
        lines += [
            "",
            "![confusion matrix](confusion_matrix.png)",
            "",
            "## Training",
            "",
            *self.training_lines(),
            "",
            "![training curves](training_curves.png)",
            "",
            "## Reproduce",
            "",
            *self.reproduce_lines(),
        ]
        return lines

    def reproduce_lines(self) -> list[str]:
        """The commands that made this model, oldest stage first."""
        command = "python -m recipes.pretrained " + " ".join(shlex.quote(a) for a in self.argv)
        chain = warm_start_chain(self.init_from)
        lines = []
        if chain:
            # The first warm start, which needs recipes.an4's manifests first, with the dev
            # words it held out: without them, the next stage refuses the model it makes.
            held = (run_config(chain[-1].bundle).get("metadata") or {}).get(DEV_WORDS_KEY)
            lines += [
                "    python -m recipes.an4 --data ../shared/data/an4",
                "    python -m recipes.speech_commands --data ../shared/data/speech_commands "
                "--extra exp/an4/data/train.jsonl --epochs 30"
                + (f" --dev-words {','.join(held)}" if held else ""),
            ]
        lines += [f"    {stage.command}" for stage in reversed(chain) if stage.command]
        lines += [f"    {command}"]
        return lines

    def grammar_lines(self) -> list[str]:
        threshold = self.commands.threshold
        if threshold is None:
            return []
        return [f"- `grammar` (`--commands FILE`) rejects below confidence {threshold:g}, tuned",
                "  on Speech Commands dev (the ten commands against other words and silence)."]

    def model_card(self) -> str:
        pairs = zip(TARGETS, self.achieved(), strict=True)
        scores = ", ".join(f"{name} {got:.2%}" for (name, _), got in pairs)
        dev_words = parse_args(self.argv).dev_words
        dev_held = [f"- Also held out of all training, as a dev set for unseen words: "
                    f"{', '.join(dev_words)}."] if dev_words else []  # fmt: skip
        return "\n".join([
            "# Bundled model",
            "",
            "Made by `python -m recipes.pretrained` (see `recipes/pretrained/RESULTS.md`).",
            "",
            "- Conv1D (256, kernel 11, stride 2) + batch norm, 3 BiGRU layers of 256, dense to 28",
            "  characters + CTC blank (parameter count and size below).",
            "- Shipped as `model.onnx` (runs on onnxruntime, no TensorFlow); `ctcasr train",
            "  --init-from` rebuilds the Keras model from it for fine-tuning.",
            "- Decoder: `kenlm` with a 3-gram over the training transcripts and digit strings,",
            f"  tuned on AN4 dev ({self.tuned.summary()}).",
            *self.grammar_lines(),
            *self.training_lines(),
            "- Training data: AN4 train (CMU AN4 terms: free for any use with notice), FSDD train",
            "  (CC BY-SA 4.0), Speech Commands v0.02 test-subset train speakers (CC BY 4.0),",
            "  synthetic speech from espeak-ng (GPL-3.0-or-later), flite and festival voices",
            "  (CMU and Edinburgh permissive licences) over Debian's wamerican word list (SCOWL);",
            "  noise from Speech Commands (CC BY 4.0) and MIT-licensed recordings. Sources,",
            "  addresses and notices: \"Training data and licences\" below.",
            "- Held out of all training: bird, cat, dog, house, marvin, sheila, tree, wow.",
            *dev_held,
            f"- Results on held-out test sets: {scores}.",
            "",
            *LIMITS,
            "",
            *USE,
            "",
            *LICENCES,
        ]) + "\n"


def main(argv: list[str] | None = None) -> int:
    return run_main(parse_args, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
