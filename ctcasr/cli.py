"""The ``ctcasr`` command: parses options, calls the library, prints. No logic of its own."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from ctcasr.errors import CtcasrError

app = typer.Typer(
    name="ctcasr",
    help="ctcasr: a small-vocabulary CTC speech recogniser with pluggable decoders.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

ModelOption = Annotated[
    str | None,
    typer.Option(
        "--model",
        "-m",
        help="Model bundle directory or bundled model name [default: the bundled model]",
    ),
]


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def transcribe(
    files: Annotated[list[Path], typer.Argument(help="Audio files (wav, flac, ogg, mp3).")],
    model: ModelOption = None,
    batch_size: Annotated[int, typer.Option(help="Utterances per acoustic-model batch.")] = 32,
    max_duration: Annotated[
        float | None, typer.Option(help="Refuse files longer than this many seconds.")
    ] = None,
) -> None:
    """Transcribe audio files; prints PATH<TAB>TEXT per file.

    Unreadable files are reported on stderr, one line each, and the others still transcribed.
    The exit code is 1 if any file failed.
    """
    from ctcasr.transcribe import Failure, Transcriber

    transcriber = Transcriber(model, batch_size=batch_size, max_duration=max_duration)
    failures = 0
    for result in transcriber.transcribe_batch([str(f) for f in files]):
        if isinstance(result, Failure):
            failures += 1
            typer.echo(f"error: {result.error}", err=True)
        else:
            typer.echo(f"{result.source}\t{result.text}")
    if failures:
        typer.echo(f"{failures} of {len(files)} file(s) failed", err=True)
        raise typer.Exit(1)


@app.command()
def train(
    manifests: Annotated[
        list[Path] | None, typer.Argument(help="Training manifests (JSON Lines).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML/JSON file of training settings.")
    ] = None,
    dev: Annotated[Path | None, typer.Option(help="Dev manifest for early stopping.")] = None,
    output_dir: Annotated[
        Path | None,
        typer.Option("--output-dir", "-o", help="Where checkpoints, logs and the model go."),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Maximum epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Utterances per batch.")] = None,
    learning_rate: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")] = None,
    patience: Annotated[int | None, typer.Option(help="Early-stopping patience (epochs).")] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    alphabet: Annotated[
        Path | None, typer.Option(help="Alphabet file (one symbol per line).")
    ] = None,
    noise_dir: Annotated[
        Path | None, typer.Option(help="Folder of noise recordings to mix in.")
    ] = None,
    speed: Annotated[
        str | None, typer.Option(help="Speed-perturbation factors, e.g. 0.9,1.0,1.1.")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the last checkpoint.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """Train a model from manifests or a config file; the best model lands in OUTPUT_DIR/model."""
    from dataclasses import replace

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
            try:
                factors = tuple(float(s) for s in speed.split(",") if s.strip())
            except ValueError:
                _fail(f"--speed must be comma-separated numbers, got {speed!r}")
            aug = replace(aug, speed_factors=factors)
        cfg.augment = aug
    result = run_training(cfg, resume=resume, verbose=0 if quiet else 1)
    typer.echo(
        f"model: {result.bundle_path} (epoch {result.best_epoch}"
        + (
            f", dev WER {result.best_dev_wer:.2%} CER {result.best_dev_cer:.2%}"
            if result.best_dev_cer is not None
            else ""
        )
        + f"); {result.seconds_per_epoch:.1f} s/epoch, peak RSS {result.peak_rss_mb:.0f} MB"
    )


@app.command()
def evaluate(
    manifest: Annotated[Path, typer.Option("--manifest", help="Manifest to score (JSON Lines).")],
    model: ModelOption = None,
    worst: Annotated[int, typer.Option(help="How many of the worst utterances to list.")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Word and character error rates of a model on a manifest."""
    from ctcasr.evaluate import evaluate as run_evaluation

    result = run_evaluation(manifest, model, worst=worst)
    report = result.report
    if as_json:
        data = report.to_dict()
        data["failures"] = [f.error for f in result.failures]
        typer.echo(json.dumps(data, indent=2))
    else:
        typer.echo(report.summary())
        typer.echo(
            f"characters: S={report.char_substitutions} D={report.char_deletions} "
            f"I={report.char_insertions} N={report.ref_chars}"
        )
        if report.worst:
            typer.echo("worst utterances:")
            for u in report.worst:
                typer.echo(f"  {u.id}\n    ref: {u.reference}\n    hyp: {u.hypothesis}")
        for failure in result.failures:
            typer.echo(f"error: {failure.error}", err=True)
    if result.failures:
        raise typer.Exit(1)


@app.command()
def info(model: ModelOption = None) -> None:
    """Describe a model bundle: front end, sizes, alphabet, training summary."""
    from ctcasr.bundle import load_bundle

    bundle = load_bundle(model)
    typer.echo(f"bundle:    {bundle.path}")
    typer.echo(f"front end: {json.dumps(bundle.frontend.to_dict())}")
    typer.echo(f"model:     {json.dumps(bundle.model_config.to_dict())}")
    typer.echo(f"alphabet:  {''.join(bundle.alphabet.labels)!r} (+ blank)")
    typer.echo(f"decoder:   {json.dumps(bundle.decoder)}")
    if bundle.metadata:
        typer.echo(f"metadata:  {json.dumps(bundle.metadata)}")


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 1."""
    try:
        app()
    except CtcasrError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(1)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
