"""The ``ctcasr`` command: parses options, calls the library, prints. No logic of its own."""

from __future__ import annotations

import codecs
import contextlib
import json
import math
import os
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from ctcasr.errors import CtcasrError, CtcasrWarning
from ctcasr.utils import Stopped as Stopped  # its old home: still importable from here
from ctcasr.utils import (
    check_writable,
    counted,
    first_few,
    mute_native_stderr,
    os_error_text,
    stop_reason,
    stopped_by_signals,
)

if TYPE_CHECKING:
    from ctcasr.segment import SplitConfig

# -h as well as --help, as the recipes (argparse) and most tools take it.
HELP_OPTIONS = {"help_option_names": ["-h", "--help"]}
app = typer.Typer(
    name="ctcasr",
    help="ctcasr: a small-vocabulary CTC speech recogniser with pluggable decoders.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstring paragraphs reflow instead of keeping line breaks
    context_settings=HELP_OPTIONS,
)


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        from ctcasr import __version__

        try:  # the installed distribution's, which a bug report needs; else the source's
            installed = version("ctcasr")
        except PackageNotFoundError:
            installed = __version__
        typer.echo(f"ctcasr {installed}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True,
                     help="Print ctcasr's version and exit."),
    ] = False,
) -> None:
    """ctcasr: a small-vocabulary CTC speech recogniser with pluggable decoders."""


SkipBadOption = Annotated[
    bool,
    typer.Option(
        "--skip-bad",
        help="Drop manifest lines that fail validation (bad JSON, missing keys or audio, "
        "characters outside the alphabet) and count them, instead of stopping at the first; "
        "tune also drops (and lists) dev entries whose audio cannot be read.",
    ),
]
NormalizeTextOption = Annotated[
    bool,
    typer.Option(
        "--normalize-text",
        help="Spell each manifest transcript as ctcasr.normalize_text does for the alphabet "
        "(for the default one: lower case, digits as words, punctuation dropped) before using "
        "it, for a corpus written for other toolkits; a letter the alphabet cannot spell is "
        "still an error.",
    ),
]
ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model bundle directory or bundled model name [default: the bundled model]",
    ),
]


def _fail(message: str, code: int = 1) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _need_stdout(what: str, hint: str = "") -> None:
    """Fail before any work when stdout is closed (`>&-`) and ``what`` is the command's
    result: evaluate ran the whole manifest and exited 0 with its report gone."""
    if sys.stdout is None:
        _fail(f"stdout is closed: nowhere to print {what}{hint}")


def _file_name(value: str) -> Path | str:
    """A decoder file flag's path, but "" kept as "": Path("") is ".", the current folder,
    which was then read as the file (".: Is a directory")."""
    return Path(value) if value else ""


def _refuse_empty(**flags: object) -> None:
    """Fail on a file flag given as "" (as _file_name keeps it, or a str flag): Path("") is
    ".", the current folder, which was then used as the file or folder."""
    from ctcasr.audio import EMPTY_NAME

    for name, value in flags.items():
        if value == "":
            _fail(f"--{name.replace('_', '-')}: {EMPTY_NAME}")


# Decoder flags shared by transcribe, evaluate and tune. Each is None unless given, so the
# bundle's stored settings apply and a flag a decoder does not take is an error.
DecoderOption = Annotated[
    str | None,
    typer.Option(
        "--decoder",
        "-d",
        help="Decoder: greedy, beam, kenlm, grammar or a plug-in (see `decoders`).",
    ),
]
BeamWidthOption = Annotated[int | None, typer.Option(help="Beams kept per frame (beam, kenlm).")]
LmOption = Annotated[
    Path | None, typer.Option("--lm", parser=_file_name, metavar="<path>",
                              help="KenLM model, ARPA or binary (kenlm decoder).")
]
AlphaOption = Annotated[float | None, typer.Option(help="LM weight (kenlm decoder).")]
BetaOption = Annotated[float | None, typer.Option(help="Per-word bonus (kenlm decoder).")]
WordsOption = Annotated[
    Path | None,
    typer.Option("--words", parser=_file_name, metavar="<path>",
                 help="Word list (unigrams), one per line (kenlm decoder)."),
]
CommandsOption = Annotated[
    Path | None,
    typer.Option("--commands", parser=_file_name, metavar="<path>",
                 help="Command list, one phrase per line (grammar decoder)."),
]
ThresholdOption = Annotated[
    float | None,
    typer.Option(help="Reject commands whose confidence is below this (grammar decoder)."),
]
HotwordOption = Annotated[
    list[str] | None,
    typer.Option(
        "--hotword", help='Boost a word or phrase: "word" or "some phrase:WEIGHT" (repeatable).'
    ),
]
HotwordsFileOption = Annotated[
    Path | None, typer.Option("--hotwords", parser=_file_name, metavar="<path>",
                              help="File of hotwords, PHRASE[:WEIGHT] per line.")
]
HotwordWeightOption = Annotated[
    float | None, typer.Option(help="Weight for hotwords given without one.")
]
AlphabetOption = Annotated[
    Path | None,
    typer.Option(
        "--alphabet", parser=_file_name, metavar="<path>",
        help="Alphabet file to check against the model's (error on a mismatch)."
    ),
]
DecoderSettingOption = Annotated[
    list[str] | None,
    typer.Option("--option", "-O", help="KEY=VALUE option for a plug-in decoder (repeatable)."),
]


SplitLongerThanOption = Annotated[
    float, typer.Option(help="Cut files longer than this (seconds) at silences; 0: never.")
]
MaxSegmentOption = Annotated[float, typer.Option(help="Longest piece of a cut file (s).")]


def _split_config(split_longer_than: float, max_segment: float) -> SplitConfig | None:
    from ctcasr.errors import ConfigError
    from ctcasr.segment import SplitConfig

    # Named by their flags: SplitConfig's own words ("long_after and block_seconds must be
    # positive", "need 0 < min_segment < max_segment") name settings the user never gave.
    if split_longer_than < 0:
        _fail(f"bad splitting settings: --split-longer-than must be 0 (never) or more seconds, "
              f"got {split_longer_than:g}")
    if not split_longer_than:
        return None
    if max_segment <= 0:
        _fail(f"bad splitting settings: --max-segment must be positive, got {max_segment:g}")
    try:
        return SplitConfig(long_after=split_longer_than, max_segment=max_segment,
                           min_segment=min(1.0, max_segment / 2))  # fmt: skip
    except ConfigError as exc:
        _fail(f"bad splitting settings: {exc}")


def _decoder_options(flags: dict) -> dict:
    """Decoder keyword options from the decoder flags a command was given (its ``locals()``;
    flags a command does not have count as not given)."""
    from ctcasr.decoding.hotwords import (
        DEFAULT_HOTWORD_WEIGHT,
        read_hotword_specs,
        split_hotword,
    )

    def path(name: str, flag: str | None = None) -> str | None:
        _refuse_empty(**{flag or name: flags.get(name)})
        return str(flags[name]) if flags.get(name) else None

    path("hotwords_file", "hotwords")
    options: dict = {
        "beam_width": flags.get("beam_width"),
        "lm": path("lm"),
        "alpha": flags.get("alpha"),
        "beta": flags.get("beta"),
        "unigrams": path("words"),
        "commands": path("commands"),
        "threshold": flags.get("threshold"),
        "hotword_weight": flags.get("hotword_weight"),
    }
    for key in ("alpha", "beta", "threshold", "hotword_weight"):
        if options[key] is not None and not math.isfinite(options[key]):  # NaN: no setting
            _fail(f"--{key.replace('_', '-')} must be a finite number, got {options[key]}")
    weight = options["hotword_weight"]
    weight = DEFAULT_HOTWORD_WEIGHT if weight is None else weight
    given = list(flags.get("hotword") or [])
    for spec in given:  # bad forms fail here, one line each; spelling once the model is known
        split_hotword(spec, default_weight=weight)
    # Passed as given: one without a weight takes the decoder's hotword_weight, which is what
    # `tune --hotword-weights` varies (parsed here, every trial had the same weights).
    entries: list = given
    if flags.get("hotwords_file") is not None:
        entries += read_hotword_specs(flags["hotwords_file"])
    if entries:
        options["hotwords"] = entries
    for item in flags.get("option") or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            _fail(f"--option must be KEY=VALUE, got {item!r}")
        if key.strip().replace("-", "_") in ("alphabet", "frame_seconds"):
            _fail(f"--option {key.strip()}: comes from the model, not from decoder options")
        try:
            options[key.strip().replace("-", "_")] = json.loads(value)
        except ValueError:
            options[key.strip().replace("-", "_")] = value
    return {k: v for k, v in options.items() if v is not None}


def _check_alphabet_of(path: Path | None, model: str | None) -> None:
    """:func:`_check_alphabet` for a command that loads its bundle later (evaluate, tune)."""
    if path is not None:
        from ctcasr.bundle import load_bundle

        _check_alphabet(path, load_bundle(model))


def _check_alphabet(path: Path | None, bundle) -> None:
    if path is None:
        return
    from ctcasr.errors import AlphabetError
    from ctcasr.text import Alphabet

    given = Alphabet.from_file(path)
    model = bundle.alphabet
    if given.labels == model.labels:
        return
    if len(given) != len(model):
        raise AlphabetError(
            f"{path}: alphabet has {len(given)} symbols + blank = {given.num_classes} classes but "
            f"the model {bundle.path} outputs {model.num_classes}"
        )
    i = next(i for i, (a, b) in enumerate(zip(given.labels, model.labels, strict=True)) if a != b)
    raise AlphabetError(
        f"{path}: alphabet does not match the model's: symbol {i + 1} is "
        f"{given.labels[i]!r} here but {model.labels[i]!r} in {bundle.path}"
    )


@app.command()
def transcribe(
    inputs: Annotated[
        list[str],
        typer.Argument(help="Audio files (wav, flac, ogg, mp3, ...), directories (searched "
                       "recursively), glob patterns, .jsonl manifests, pipes (/dev/stdin), "
                       "or - for stdin: a list of paths, or audio.", show_default=False),
    ],
    model: ModelOption = None,
    decoder: DecoderOption = None,
    nbest: Annotated[int, typer.Option(help="Hypotheses to report per file.")] = 1,
    output_format: Annotated[
        list[str] | None,
        typer.Option("--format", "-f", help="txt, tsv, json, jsonl, srt or vtt; repeat it "
                     "with --output-dir to write several."),
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", "-o", parser=_file_name, metavar="<path>",
                     help="Write NAME.FORMAT per input here "
                     "instead of printing."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format jsonl.")] = False,
    beam_width: BeamWidthOption = None,
    lm: LmOption = None,
    alpha: AlphaOption = None,
    beta: BetaOption = None,
    words: WordsOption = None,
    commands: CommandsOption = None,
    threshold: ThresholdOption = None,
    hotword: HotwordOption = None,
    hotwords_file: HotwordsFileOption = None,
    hotword_weight: HotwordWeightOption = None,
    alphabet: AlphabetOption = None,
    option: DecoderSettingOption = None,
    batch_size: Annotated[int, typer.Option(help="Utterances per acoustic-model batch.")] = 32,
    jobs: Annotated[
        int, typer.Option("--jobs", "-j", help="Processes reading audio and decoding.")
    ] = 1,
    max_duration: Annotated[
        float | None, typer.Option(help="Refuse files longer than this many seconds.")
    ] = None,
    split_longer_than: SplitLongerThanOption = 30.0,
    max_segment: MaxSegmentOption = 20.0,
    backend: Annotated[
        str,
        typer.Option(help="Acoustic model runtime: auto (ONNX when the bundle has it), onnx, "
                     "keras (TensorFlow)."),
    ] = "auto",
    progress: Annotated[
        bool | None,
        typer.Option(help="Progress bar on stderr [default: when stdout and stderr are terminals "
                     "and there are 20 inputs or more]."),
    ] = None,
    skip_existing: Annotated[
        bool, typer.Option(help="With --output-dir: skip inputs whose files are all there "
                           "already, written by a run over the same inputs that was stopped.")
    ] = False,
) -> None:
    """Transcribe audio; prints a line per input (path, tab, text) unless --format says else.

    The decoder and its settings default to those stored in the model bundle (see `tune`).
    Unreadable inputs are reported on stderr, one line each, and the others still transcribed;
    the exit code is 0 only when every input succeeded.
    """
    from ctcasr.bundle import load_bundle
    from ctcasr.inputs import expand_inputs
    from ctcasr.outputs import STDOUT_TSV_HEADER, OutputDir, check_formats, one_line
    from ctcasr.transcribe import Transcriber

    if nbest < 1:
        _fail(f"--nbest must be at least 1, got {nbest}")
    if jobs < 1:
        _fail(f"--jobs must be at least 1, got {jobs}")
    if batch_size < 1:
        _fail(f"--batch-size must be at least 1, got {batch_size}")
    if max_duration is not None and not max_duration > 0:  # NaN too: it switched the limit off
        _fail(f"--max-duration must be positive, got {max_duration:g}")
    _refuse_empty(model=model, output_dir=output_dir, alphabet=alphabet)
    formats = list(output_format or []) + (["jsonl"] if as_json else [])
    check_formats(formats)
    split = _split_config(split_longer_than, max_segment)
    found = expand_inputs(inputs)
    files = found.files
    if not files and not found.problems:
        _fail("no audio inputs given")
    writer = OutputDir(output_dir, formats or ["txt"]) if output_dir is not None else None
    if writer is None:  # `>&-`: each transcript was a traceback
        _need_stdout("the transcripts", " (use --output-dir)")
    fmt = formats[0] if formats else "default"
    if writer is None and len(set(formats)) > 1:
        _fail("several --format values need --output-dir")
    if writer is None and fmt in ("srt", "vtt") and len(files) > 1:
        _fail(f"--format {fmt} prints one file's subtitles; use --output-dir for {len(files)}")
    if writer is not None:
        try:  # before the model loads: an unusable folder is one error, not one per file
            # A read-only one too: every input was transcribed, then failed to be written.
            check_writable(writer.folder, CtcasrError)
            writer.folder.mkdir(parents=True, exist_ok=True)
        except CtcasrError as exc:
            _fail(str(exc))
        except OSError as exc:
            _fail(f"{writer.folder}: cannot use as the output folder ({exc.strerror or exc})")
    if skip_existing:
        if writer is None:
            _fail("--skip-existing needs --output-dir")
        # In input order, so that clashing names are numbered as the stopped run numbered them.
        files = [f for f in files if not writer.written(f)]
        if skipped := len(found.files) - len(files):
            typer.echo(f"skipped {skipped} input(s) already written in {writer.folder}",
                       err=True)  # fmt: skip
    options = _decoder_options(locals())
    bundle = load_bundle(model)
    _check_alphabet(alphabet, bundle)
    transcriber = Transcriber(
        bundle,
        decoder=decoder,  # None: the one the options imply (ctcasr.decoding.implied_decoder)
        batch_size=batch_size,
        max_duration=max_duration,
        decoder_options=options,
        nbest=nbest,
        backend=backend,
        split=split,
        jobs=jobs,
    )
    failures = len(found.problems)
    for _, problem in found.problems:
        typer.echo(f"error: {one_line(problem)}", err=True)
    if writer is None and fmt == "tsv":
        typer.echo(STDOUT_TSV_HEADER)
    array = _JsonArray() if writer is None and fmt == "json" else None
    # The bar is drawn on stderr: shown by default only when both streams are terminals.
    interactive = all(s is not None and s.isatty() for s in (sys.stdout, sys.stderr))
    show = progress if progress is not None else interactive and len(files) >= 20
    done = 0
    try:
        try:
            with stopped_by_signals(), transcriber, _progress_bar(show, len(files)) as advance:
                for result in transcriber.transcribe_iter(files):
                    failures += _emit(result, writer, fmt, array)
                    done += 1  # after its transcript is written: the count says what is there
                    advance()
        except BaseException:
            if array is not None:  # what was printed stays valid JSON
                array.close(quiet=True)
            raise
        if array is not None:
            array.close()
    except KeyboardInterrupt as exc:
        where = f"; the finished ones are in {writer.folder}" if writer is not None else ""
        how, status = stop_reason(exc)
        typer.echo(f"{how} after {done} of {len(files)} input(s){where}", err=True)
        raise typer.Exit(status) from None
    if failures:
        total = len(files) + len(found.problems)
        typer.echo(f"{failures} of {total} input(s) failed", err=True)
        raise typer.Exit(1)


@contextlib.contextmanager
def _progress_bar(show: bool, total: int):
    """Yields a function to call once per finished input; a rich bar on stderr when shown."""
    if not show:
        yield lambda: None
        return
    from rich.console import Console
    from rich.progress import Progress

    # rich would otherwise capture stdout and print it above the bar, on stderr.
    with Progress(console=Console(stderr=True), transient=True, redirect_stdout=False,
                  redirect_stderr=False) as bar:  # fmt: skip
        task = bar.add_task("transcribing", total=total)
        yield lambda: bar.advance(task)


@app.command()
def decoders() -> None:
    """List the installed decoders (built-in and plug-ins) with their options."""
    from ctcasr.decoding.registry import scan_decoders

    _need_stdout("the decoders")
    found, refused = scan_decoders()  # one pass over the entry points
    for name, info in found.items():
        typer.echo(f"{name:10s} [{info.package}] {info.summary()}".rstrip())
        opts = info.options()
        if opts:
            typer.echo("           options: " + ", ".join(f"{k}={v!r}" for k, v in opts.items()))
    for reason in refused:
        typer.echo(f"warning: {reason}", err=True)


@app.command()
def train(
    manifests: Annotated[
        list[Path] | None,
        typer.Argument(help="Training manifests (JSON Lines).", parser=_file_name),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", parser=_file_name, metavar="<path>",
                                  help="TOML/JSON file of training settings.")
    ] = None,
    dev: Annotated[
        Path | None, typer.Option(help="Dev manifest for early stopping.", parser=_file_name,
                                  metavar="<path>")
    ] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", "-o", parser=_file_name, metavar="<path>",
                     help="Where checkpoints, logs and the model go."),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Utterances per batch.")] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")] = None,
    patience: Annotated[int | None, typer.Option(help="Early-stopping patience (epochs).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    alphabet: Annotated[
        Path | None, typer.Option(parser=_file_name, metavar="<path>",
                                  help="Alphabet file (one symbol per line).")
    ] = None,
    noise_dir: Annotated[
        Path | None, typer.Option(help="Folder of noise recordings to mix in.", parser=_file_name,
                                  metavar="<path>")
    ] = None,
    speed: Annotated[
        str | None, typer.Option(help="Speed-perturbation factors, e.g. 0.9,1.0,1.1.")
    ] = None,
    init_from: Annotated[
        Path | None,
        typer.Option(
            help="Start from this model bundle's weights (a directory, or default for the "
            "bundled model); its architecture is used for every [model] setting --config "
            "leaves out (one it gives must match the bundle's).",
            parser=_file_name, metavar="<path>",
        ),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint.")] = False,
    strategy: Annotated[
        str | None,
        typer.Option(
            help="Distribution: default (one device), mirrored (all local GPUs) or "
            "multiworker (the cluster in TF_CONFIG; see docs/distributed.md)."
        ),
    ] = None,
    skip_bad: SkipBadOption = False,
    normalize_text: NormalizeTextOption = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Train a model from manifests or a config file; the best model lands in OUTPUT_DIR/model."""
    # SIGTERM while ctcasr.train imports and the config is read (over a second) ended the
    # run with 143 and no word, as it did before the training's own handler was installed
    try:
        with stopped_by_signals():
            _train(**locals())
    except KeyboardInterrupt as exc:
        how, status = stop_reason(exc)
        typer.echo(how, err=True)
        raise typer.Exit(status) from None


def _train(manifests, config, dev, output_dir, epochs, batch_size, learning_rate, patience,
           seed, alphabet, strategy, init_from, resume, noise_dir, speed, skip_bad,
           normalize_text, quiet) -> None:  # fmt: skip
    from dataclasses import replace

    _refuse_empty(config=config, output_dir=output_dir, alphabet=alphabet, dev=dev,
                  noise_dir=noise_dir, init_from=init_from)
    from ctcasr.train import TrainConfig
    from ctcasr.train import train as run_training

    overrides = {
        "train_manifests": [str(m) for m in manifests] if manifests else None,
        "dev_manifest": str(dev) if dev else None,
        "output_dir": str(output_dir) if output_dir else None,
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "patience": patience,
        "seed": seed,
        "alphabet": str(alphabet) if alphabet else None,
        "strategy": strategy,
        "init_from": str(init_from) if init_from else None,
        "skip_bad": skip_bad or None,
        "normalize_text": normalize_text or None,
    }
    if config is not None:
        cfg = TrainConfig.from_file(config, **overrides)
    else:
        if not manifests or output_dir is None:
            _fail("give training manifests and --output-dir, or --config")
        cfg = TrainConfig(**{k: v for k, v in overrides.items() if v is not None})
    if noise_dir is not None or speed is not None:
        aug = cfg.augment
        if noise_dir is not None:
            aug = replace(aug, noise_dir=str(noise_dir))
        if speed is not None:
            # "" switches speed perturbation off
            factors = tuple(_floats(speed, "--speed") or ()) if speed.strip() else ()
            aug = replace(aug, speed_factors=factors)
        cfg.augment = aug
    try:
        # SIGTERM (a scheduler's stop, `timeout`) ended the run without the resume hint.
        # Progress goes to stderr, as transcribe's does: stdout is the result line alone, for
        # `out=$(ctcasr train ...)` (the epochs' lines and the bar were mixed into it).
        with contextlib.redirect_stdout(sys.stderr):
            result = run_training(cfg, resume=resume, verbose=0 if quiet else 1)
    except KeyboardInterrupt as exc:
        from ctcasr.train import interrupted_message

        how, status = stop_reason(exc)
        typer.echo(interrupted_message(cfg.output_dir, how), err=True)
        raise typer.Exit(status) from None
    typer.echo(
        f"model: {result.bundle_path} (epoch {result.best_epoch}"
        + (
            f", dev WER {result.best_dev_wer:.2%} CER {result.best_dev_cer:.2%}"
            if result.best_dev_cer is not None
            else ""
        )
        + f"); {result.seconds_per_epoch:.1f} s/epoch, peak RSS {result.peak_rss_mb:.0f} MB"
    )
    if result.dropped_utterances:
        typer.echo(
            f"dropped {counted(len(result.dropped_utterances), 'utterance')} (bad manifest lines "
            f"or unusable audio), first: {result.dropped_utterances[0]}",
            err=True,
        )


@app.command()
def evaluate(
    manifest: Annotated[Path, typer.Option("--manifest", help="Manifest to score (JSON Lines).",
                                              parser=_file_name, metavar="<path>")],
    model: ModelOption = None,
    decoder: Annotated[
        list[str] | None,
        typer.Option(
            "--decoder", "-d", help="Decoder to score; repeat to compare decoders side by side."
        ),
    ] = None,
    beam_width: BeamWidthOption = None,
    lm: LmOption = None,
    alpha: AlphaOption = None,
    beta: BetaOption = None,
    words: WordsOption = None,
    commands: CommandsOption = None,
    threshold: ThresholdOption = None,
    hotword: HotwordOption = None,
    hotwords_file: HotwordsFileOption = None,
    hotword_weight: HotwordWeightOption = None,
    option: DecoderSettingOption = None,
    alphabet: AlphabetOption = None,
    worst: Annotated[int, typer.Option(help="How many of the worst utterances to list.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    skip_bad: SkipBadOption = False,
    normalize_text: NormalizeTextOption = False,
    split_longer_than: SplitLongerThanOption = 30.0,
    max_segment: MaxSegmentOption = 20.0,
) -> None:
    """Word and character error rates of a model on a manifest, for one or more decoders.

    Entries longer than --split-longer-than are cut at pauses and decoded piece by piece, as
    `transcribe` does, so the score is that of the transcripts `transcribe` gives.
    """
    from ctcasr.evaluate import compare_decoders
    from ctcasr.evaluate import evaluate as run_evaluation
    from ctcasr.metrics import NO_REFERENCE, rate_text
    from ctcasr.outputs import one_line

    _refuse_empty(manifest=manifest, model=model, alphabet=alphabet)
    _need_stdout("the report")
    options = _decoder_options(locals())
    split = _split_config(split_longer_than, max_segment)
    _check_alphabet_of(alphabet, model)
    if decoder and len(decoder) > 1:
        results = compare_decoders(manifest, decoder, model, decoder_options=options,
                                   worst=worst, skip_bad=skip_bad, split=split,
                                   normalize_text=normalize_text)  # fmt: skip
    else:
        result = run_evaluation(manifest, model, decoder=decoder[0] if decoder else None,
                                decoder_options=options, worst=worst, skip_bad=skip_bad,
                                split=split, normalize_text=normalize_text)  # fmt: skip
        results = [result]
    if normalize_text and not as_json:  # the figures are not those of the text as written
        typer.echo("references: spelled by normalize_text (--normalize-text)")
    if as_json:
        out = []
        for result in results:
            data = result.report.to_dict()
            data["decoder"] = result.decoder
            # The settings that gave the figures (an LM's alpha and beta, a grammar's
            # threshold): two runs at different --alpha printed the same "kenlm".
            data["decoder_options"] = result.decoder_options
            data["decode_ms_per_utterance"] = round(result.decode_ms, 4)
            data["rejected"] = result.rejected
            data["not_commands"] = result.not_commands
            data["failures"] = [f.error for f in result.failures]
            data["skipped"] = result.skipped
            data["normalized_text"] = normalize_text
            out.append(data)
        typer.echo(json.dumps(out[0] if len(out) == 1 else out, indent=2, default=str))
    elif len(results) > 1:
        # N: reference words. grammar is scored against its command view, whose references
        # differ (not-command utterances are empty): its row is not the others' measure.
        typer.echo(f"{'decoder':10s} {'WER':>8s} {'CER':>8s} {'exact':>8s} {'N':>7s} "
                   f"{'ms/utt':>8s}")  # fmt: skip
        for r in results:
            rep = r.report
            typer.echo(
                f"{r.decoder:10s} {rate_text(rep.wer, rep.ref_words):>8s} "
                f"{rate_text(rep.cer, rep.ref_chars):>8s} {rep.sentence_accuracy:8.2%} "
                f"{rep.ref_words:7d} {r.decode_ms:8.3f}"
            )
        for r in results:
            if not r.report.ref_words:
                typer.echo(f"{r.decoder}: {NO_REFERENCE}")
        for r in results:
            if r.not_commands:
                typer.echo(f"{r.decoder}: {r.not_commands} utterances that are not commands "
                           "scored against an empty reference, "
                           f"{r.rejected} rejected")  # fmt: skip
    else:
        report = results[0].report
        typer.echo(f"decoder: {results[0].decoder}")
        typer.echo(report.summary())
        typer.echo(
            f"characters: S={report.char_substitutions} D={report.char_deletions} "
            f"I={report.char_insertions} N={report.ref_chars}"
        )
        if results[0].rejected:
            typer.echo(f"rejected as out of grammar: {results[0].rejected}")
        if results[0].not_commands:
            typer.echo(f"not commands: {results[0].not_commands} utterances, right when "
                       "rejected (scored against an empty reference)")  # fmt: skip
        if report.worst:
            typer.echo("worst utterances:")
            for u in report.worst:
                ref = u.reference or "(nothing)"
                typer.echo(f"  {u.id}\n    ref: {ref}\n    hyp: {u.hypothesis or '(nothing)'}")
    # On stderr with --json too (the report holds them as well): a CI job that kept stdout as
    # its report saw exit status 1 and not a word why. Unreadable audio fails every decoder
    # alike: said once.
    for error in dict.fromkeys(f.error for r in results for f in r.failures):
        typer.echo(f"error: {one_line(error)}", err=True)
    _report_skipped(results[0].skipped)
    # The count last, as transcribe ends: 200 error lines from 20,000 clips scrolled the report
    # away, and nothing said how many of its deletions were audio never read.
    for r in results:
        if r.failures:
            who = f"{r.decoder}: " if len(results) > 1 else ""
            typer.echo(f"{who}{len(r.failures)} of {r.report.utterances} utterance(s) failed "
                       "(scored as empty transcripts)", err=True)  # fmt: skip
    if any(r.failures for r in results):
        raise typer.Exit(1)


def _report_skipped(skipped: Sequence[str]) -> None:
    """Every manifest line ``--skip-bad`` dropped, then the count (on stderr: the results stay
    parseable on stdout)."""
    for message in skipped:
        typer.echo(f"skipped: {message}", err=True)
    if skipped:
        typer.echo(f"skipped {counted(len(skipped), 'bad manifest line')}", err=True)


class _JsonArray:
    """``-f json`` on stdout, printed as each transcript finishes, as jsonl and tsv are: the
    array was built up and printed at the end, so an interrupted batch printed nothing of what
    it had done. Byte for byte what ``json.dumps(items, indent=2)`` printed."""

    def __init__(self) -> None:
        self.count = 0
        self._write("[")

    @staticmethod
    def _write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    def add(self, item: dict) -> None:
        body = json.dumps(item, indent=2).replace("\n", "\n  ")
        self._write(("," if self.count else "") + "\n  " + body)
        self.count += 1

    def close(self, quiet: bool = False) -> None:
        """End the array; ``quiet`` where another error is on its way (a closed pipe)."""
        try:
            self._write(("\n]" if self.count else "]") + "\n")
        except (OSError, ValueError):
            if not quiet:
                raise


def _emit(result, writer, fmt: str, array: _JsonArray | None) -> int:
    """Print or write one ``transcribe`` result; 1 if it was a failure."""
    from ctcasr.outputs import one_line, stdout_text
    from ctcasr.transcribe import Failure

    if isinstance(result, Failure):
        typer.echo(f"error: {one_line(result.error)}", err=True)
        return 1
    if result.rejected:
        best = result.nbest[0]
        note = f"closest {best.text!r}, confidence {best.confidence:.2f}"
        typer.echo(f"{one_line(result.source)}: rejected as out of grammar ({note})", err=True)
    if writer is not None:
        try:
            _, note = writer.write(result)
        except OSError as exc:  # this input fails; the others are still written
            where = exc.filename or writer.folder
            typer.echo(f"error: {result.source}: cannot write {where} "
                       f"({exc.strerror or exc})", err=True)  # fmt: skip
            return 1
        if note:
            typer.echo(f"warning: {note}", err=True)
    elif array is not None:
        array.add(result.to_dict())
    else:
        sys.stdout.write(stdout_text(result, fmt))
        sys.stdout.flush()
    return 0


def _floats(text: str | None, flag: str) -> list[float] | None:
    if text is None:
        return None
    fields = text.split(",") if text.strip() else []
    try:
        if any(not v.strip() for v in fields):  # "1,,2" is a typo, not a value to skip
            raise ValueError
        values = [float(v) for v in fields]
    except ValueError:
        _fail(f"{flag} must be comma-separated numbers, got {text!r}")
    if not all(math.isfinite(v) for v in values):  # a NaN weight ranks every trial alike
        _fail(f"{flag} must be finite numbers, got {text!r}")
    if not values:
        _fail(f"{flag} is empty")
    return values


@app.command()
def tune(
    manifest: Annotated[Path, typer.Option("--manifest", help="Dev manifest (JSON Lines).",
                                              parser=_file_name, metavar="<path>")],
    model: ModelOption = None,
    decoder: Annotated[
        str | None,
        typer.Option("--decoder", "-d", help="Decoder to tune [default: grammar with "
                     "--commands, kenlm with --lm, else the bundle's default decoder when it is "
                     "kenlm or grammar, else kenlm]."),
    ] = None,
    lm: LmOption = None,
    words: WordsOption = None,
    beam_width: BeamWidthOption = None,
    hotword: HotwordOption = None,
    hotwords_file: HotwordsFileOption = None,
    alphas: Annotated[
        str | None, typer.Option(help="LM weights to try, e.g. 0,0.5,1,2 [default: 0..2].")
    ] = None,
    betas: Annotated[
        str | None, typer.Option(help="Word bonuses to try, e.g. -1,0,1,2 [default: -1..3].")
    ] = None,
    hotword_weights: Annotated[
        str | None, typer.Option(help="Hotword weights to try [default: 0,1,2,5,10].")
    ] = None,
    commands: CommandsOption = None,
    option: DecoderSettingOption = None,  # a plug-in's own (a required one could not be given)
    alphabet: AlphabetOption = None,
    thresholds: Annotated[
        str | None, typer.Option(help="grammar: rejection thresholds to try [default: 0..0.9]; "
                                 "dev utterances that are not commands should be rejected."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", parser=_file_name, metavar="<path>",
                     help="Write the tuned bundle here instead of in place."),
    ] = None,
    save: Annotated[bool, typer.Option(help="Store the best settings in the bundle.")] = True,
    skip_bad: SkipBadOption = False,
    normalize_text: NormalizeTextOption = False,
    split_longer_than: SplitLongerThanOption = 30.0,
    max_segment: MaxSegmentOption = 20.0,
) -> None:
    """Grid-search decoder weights on a dev set; the best become the bundle's defaults.

    Copies the LM (and word list) into the bundle so `transcribe` uses them with no flags.
    Long dev entries are cut as `transcribe` and `evaluate` cut them (same flags).
    """
    from ctcasr.tune import tune as run_tune

    _refuse_empty(manifest=manifest, model=model, alphabet=alphabet, output=output)
    options = _decoder_options(locals())
    split = _split_config(split_longer_than, max_segment)
    _check_alphabet_of(alphabet, model)
    result = run_tune(
        manifest,
        model,
        decoder=decoder,
        decoder_options=options,
        alphas=_floats(alphas, "--alphas"),
        betas=_floats(betas, "--betas"),
        hotword_weights=_floats(hotword_weights, "--hotword-weights"),
        thresholds=_floats(thresholds, "--thresholds"),
        save=save,
        output=output,
        skip_bad=skip_bad,
        split=split,
        normalize_text=normalize_text,
    )
    typer.echo(result.summary())
    _report_skipped(result.skipped)
    if result.saved_to is not None:
        typer.echo(f"saved as the default decoder of {result.saved_to}")


lm_app = typer.Typer(help="Build n-gram language models with KenLM.", no_args_is_help=True,
                     rich_markup_mode="markdown", context_settings=HELP_OPTIONS)
app.add_typer(lm_app, name="lm")


@lm_app.command("build")
def lm_build(
    corpus: Annotated[list[Path], typer.Argument(help="Text corpus files, one sentence per line.",
                                                  parser=_file_name)],
    output: Annotated[
        Path, typer.Option("--output", "-o", parser=_file_name, metavar="<path>",
                           help="Where to write the model (NAME.gz: gzipped).")
    ],
    order: Annotated[int, typer.Option(help="N-gram order.")] = 3,
    binary: Annotated[
        bool, typer.Option("--binary", help="Write KenLM's binary format (faster to load).")
    ] = False,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", "-m", help="Drop lines the model's alphabet cannot spell (a bundle)."
        ),
    ] = None,
    alphabet_file: Annotated[
        Path | None,
        typer.Option("--alphabet", parser=_file_name, metavar="<path>",
                     help="Normalise for this alphabet file, as --model does for "
                     "a bundle's (an LM built before its model is trained)."),
    ] = None,
) -> None:
    """Build an ARPA (or binary) n-gram LM from a text corpus with KenLM.

    The corpus is normalised as training transcripts are, then passed to lmplz (and
    build_binary for a binary model).
    """
    from ctcasr.lm import build_lm
    from ctcasr.text import Alphabet

    _refuse_empty(output=output, model=model, alphabet=alphabet_file)
    alphabet = None
    if model is not None:
        from ctcasr.bundle import load_bundle

        bundle = load_bundle(model)
        _check_alphabet(alphabet_file, bundle)  # both given: they must agree
        alphabet = bundle.alphabet
    elif alphabet_file is not None:
        alphabet = Alphabet.from_file(alphabet_file)
    result = build_lm(corpus, output, order, binary=binary, alphabet=alphabet)
    typer.echo(
        f"{result.path}: {result.order}-gram, {counted(result.sentences, 'sentence')}, "
        f"{counted(result.words, 'word')}, "
        f"vocabulary {result.vocabulary}"
        + (f", {counted(result.dropped, 'line')} dropped{_unspellable(result.unknown)}"
           if result.dropped else "")
        + f" ({result.seconds:.1f} s)"
    )


def _owners(n: int, noun: str) -> str:
    """``n`` of ``noun`` as owners ("1 bundle's", "2 bundles'")."""
    return f"{n} {noun}'s" if n == 1 else f"{n} {noun}s'"


def _unspellable(unknown: dict[str, int], shown: int = 8) -> str:
    """Which characters dropped corpus lines, with how many lines each: the count alone left
    the user of a large corpus to guess why (a Greek quotation, an unfolded letter)."""
    if not unknown:
        return ""
    text = first_few(list(unknown.items()), shown, lambda item: f"{item[0]!r} ({item[1]})")
    return f" for {text}, which the model cannot spell"


@app.command()
def export(
    model: Annotated[str, typer.Argument(help="Model bundle directory (or a bundled name).")],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", parser=_file_name, metavar="<path>",
                     help="Write the graph to this NAME.onnx instead of the "
                     "bundle."),
    ] = None,
    drop_keras: Annotated[
        bool,
        typer.Option(help="Then delete the Keras weights (checked first); training and export "
                     "rebuild the Keras model from the graph."),
    ] = False,
) -> None:
    """Export the acoustic model to ONNX (BUNDLE/model.onnx).

    Transcription then runs on onnxruntime and never imports TensorFlow.
    """
    from ctcasr.export import export_onnx

    _refuse_empty(output=output)

    path = export_onnx(model, output, drop_keras=drop_keras)
    typer.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")


@app.command()
def average(
    models: Annotated[
        list[str], typer.Argument(help="Bundles of one architecture (the first gives the rest).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", parser=_file_name, metavar="<path>",
                                         help="The averaged bundle.")],
    checkpoint: Annotated[
        list[Path] | None,
        typer.Option(help="A training checkpoint folder (OUTPUT_DIR/checkpoints/epoch-NNNN) "
                     "to average in too; repeat it. `ctcasr train` keeps all of them with "
                     "keep_checkpoints: 0 in its config.", parser=_file_name,
                     metavar="<path>"),
    ] = None,
) -> None:
    """Average the weights of related bundles or of one run's best epochs (a model soup).

    The bundles must be trained one from another (or be epochs of one run). Keep the result
    only if it scores better on a dev set (`ctcasr evaluate`).
    """
    from ctcasr.bundle import average_bundles

    _refuse_empty(output=output)
    for path in checkpoint or []:
        _refuse_empty(checkpoint=path)

    checkpoints = checkpoint or []
    path = average_bundles(models, output, checkpoints)
    what = _owners(len(models), "bundle") + (
        f" and {_owners(len(checkpoints), 'checkpoint')}" if checkpoints else "")
    typer.echo(f"wrote {path}: the mean of {what} weights (`ctcasr export "
               f"{path}` adds model.onnx)")  # fmt: skip


@app.command()
def info(model: ModelOption = None) -> None:
    """Describe a model bundle: front end, sizes, alphabet, training summary."""
    from ctcasr.bundle import lies_inside, load_bundle
    from ctcasr.decoding import available_decoders
    from ctcasr.transcribe import check_stored_decoder

    _refuse_empty(model=model)
    _need_stdout("the description")
    bundle = load_bundle(model)
    typer.echo(f"bundle:    {bundle.path}")
    typer.echo(f"writer:    ctcasr {bundle.written_by}" if bundle.written_by
               else "writer:    not recorded (written before ctcasr recorded its version)")
    typer.echo(f"front end: {json.dumps(bundle.frontend.to_dict())}")
    typer.echo(f"model:     {json.dumps(bundle.model_config.to_dict())}")
    typer.echo(f"alphabet:  {''.join(bundle.alphabet.labels)!r} (+ blank)")
    typer.echo(f"decoder:   {json.dumps(bundle.decoder)}")
    onnx = bundle.onnx_path
    typer.echo(f"runtime:   {'onnxruntime (model.onnx)' if onnx else 'TensorFlow (no model.onnx)'}")
    graph_error = None
    if onnx is not None:  # a graph transcribe refuses (cut short, stale, another model's)
        from ctcasr.runtime import OnnxRunner

        try:
            OnnxRunner(onnx, bundle.model_config, weights_path=bundle.weights_path)
        except CtcasrError as exc:
            graph_error = str(exc)
    files = {p.relative_to(bundle.path): p.stat().st_size for p in sorted(bundle.path.rglob("*"))
             if p.is_file() and not p.name.startswith(".")}  # fmt: skip
    sizes = ", ".join(f"{name} {_size(n)}" for name, n in files.items())
    typer.echo(f"files:     {sum(files.values()) / 1e6:.1f} MB: {sizes}")
    if bundle.metadata:
        typer.echo(f"metadata:  {json.dumps(bundle.metadata)}")
    # What transcribe would refuse of the default decoder (a newer ctcasr's settings), and of
    # each other stored decoder when chosen: only the default's were checked, so a bundle
    # passed on with a broken grammar section was described without a word. Settings of a
    # decoder not installed here are left alone unless it is the default.
    default = bundle.decoder.get("name", "greedy")
    stored = [name for name, value in bundle.decoder.items() if isinstance(value, dict)]
    installed = set(available_decoders())
    for name in dict.fromkeys([default, *stored]):
        if name != default and name not in installed:
            continue
        try:
            check_stored_decoder(bundle, name)
        except CtcasrError as exc:
            typer.echo(f"warning: {exc}", err=True)
    # A decoder setting naming a file the bundle lacks: transcribe would fail on it.
    missing = []
    for name, settings in bundle.decoder.items():
        if not isinstance(settings, dict):
            continue
        paths = _path_options(name)  # a registry lookup: once per decoder, not per setting
        missing += [f"{name}.{key} = {value}" for key, value in settings.items()
                    if key in paths and isinstance(value, str)
                    and not (bundle.path / value).is_file()]  # fmt: skip
        outside = [f"{name}.{key} = {value}" for key, value in settings.items()
                   if key in paths and isinstance(value, str)
                   and not lies_inside(bundle.path, value)]  # fmt: skip
        if outside:  # a bundle made elsewhere reads these from outside itself
            typer.echo(f"warning: decoder settings name files outside the bundle: "
                       f"{'; '.join(outside)}", err=True)  # fmt: skip
    if missing:
        _fail(f"{bundle.path}: decoder settings name files the bundle lacks: {'; '.join(missing)}")
    if graph_error:
        _fail(graph_error)


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


def _path_options(decoder: str) -> tuple[str, ...]:
    from ctcasr.decoding import get_decoder_class

    try:
        return tuple(getattr(get_decoder_class(decoder), "path_options", ()))
    except CtcasrError:  # a plug-in that is not installed here
        return ()


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """ctcasr's own warnings as one ``warning:`` line, like the CLI's other warnings, not
    Python's file, line and source text; any other warning as Python shows it."""
    if issubclass(category, CtcasrWarning):
        typer.echo(f"warning: {message}", err=True)
    else:
        _python_show_warning(message, category, filename, lineno, file, line)


_python_show_warning = warnings.showwarning


def _escape_unencodable(exc: UnicodeError) -> tuple[bytes, int]:
    """Output error handler: a surrogate-escaped byte (a file name not valid in the file
    system's encoding) is written as that byte, as ``surrogateescape`` does; any other
    character the stream's encoding lacks as ``\\uNNNN``, as ``backslashreplace`` does."""
    if not isinstance(exc, UnicodeEncodeError):
        raise exc
    text = exc.object[exc.start:exc.end]
    return b"".join(bytes([ord(c) - 0xDC00]) if 0xDC80 <= ord(c) <= 0xDCFF
                    else c.encode("ascii", "backslashreplace") for c in text), exc.end  # fmt: skip


codecs.register_error("ctcasr.escape", _escape_unencodable)


def _write_any_text(stream) -> None:
    """Let ``stream`` write every file name and transcript: under a stdout that is not UTF-8
    (PYTHONIOENCODING=latin-1, a Windows code page) a name it could not encode was a
    UnicodeEncodeError traceback that ended the batch, on stdout and on stderr alike. An
    ASCII stream becomes UTF-8, as click makes it for its own output (but with "?" for the
    bytes of a name that is not UTF-8)."""
    encoding = getattr(stream, "encoding", None) or "ascii"
    with contextlib.suppress(AttributeError, ValueError, LookupError):
        if codecs.lookup(encoding).name == "ascii":
            stream.reconfigure(encoding="utf-8", errors="ctcasr.escape")
        else:
            stream.reconfigure(errors="ctcasr.escape")


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 1."""
    mute_native_stderr()  # libmpg123's notes on a file that is not MP3 are not the user's
    warnings.showwarning = _show_warning
    for stream in (sys.stdout, sys.stderr):
        _write_any_text(stream)
    try:
        app()
    except CtcasrError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except OSError as exc:  # a read-only folder, a file where a folder should be: one line
        typer.echo(f"error: {os_error_text(exc)}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
    except SystemExit as exc:
        if isinstance(exc.__context__, BrokenPipeError):
            _closed_pipe()
        # Typer turns a Ctrl-C that a command does not handle itself into a silent exit 130
        # (an Exit raised from the KeyboardInterrupt): say what happened, in one line.
        cause = exc.__context__.__cause__ if exc.__context__ is not None else None
        if exc.code == 130 and isinstance(cause, KeyboardInterrupt):
            typer.echo("interrupted; outputs are written whole or not at all", err=True)
        raise


def _closed_pipe() -> NoReturn:
    """The reader of our output went away (``ctcasr transcribe dir | head -1``): end quietly
    with 141, 128 + SIGPIPE, as a command the signal ends does. Typer ended it with status 1,
    which a script cannot tell from a failed input."""
    with contextlib.suppress(OSError, ValueError):  # no "Exception ignored" from the exit's flush
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    sys.exit(128 + 13)  # SIGPIPE's number on every POSIX system (Windows has none)


if __name__ == "__main__":
    main()
