"""Training epoch time with tf.data's autotuner on (TensorFlow's default) and off (ctcasr's).

    python benchmarks/training.py --data ../shared/data --output benchmarks/TRAINING.md

The FSDD recipe's model, settings and augmentation (noise from the corpus's sibling noise/
folder) on FSDD train, ``--epochs`` epochs per run, each run its own process, the two settings
interleaved run by run. With the autotuner on, its thread sleeps for periods that double up
to 60 s, and destroying the epoch's iterator waits for the sleep to end: the epoch's work is
done but the epoch is not. "Work" is the time until the last batch arrived, "epoch" the time
until the iterator was gone (what ``log.csv`` reports); figures are medians over every epoch
but each run's first (it traces the training step).
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SETTINGS = ("autotune on (TensorFlow default)", "autotune off (ctcasr)")

# Runs in a fresh process: trains, timing the last batch and the end of each epoch.
CHILD = r"""
import importlib, json, sys, time
sys.path.insert(0, sys.argv[1])
data = importlib.import_module("ctcasr.data")
train_module = importlib.import_module("ctcasr.train")  # ctcasr.train is also the function
TrainConfig, train = train_module.TrainConfig, train_module.train

config = TrainConfig.from_dict(json.loads(sys.argv[2]))
if sys.argv[3] == "on":
    data.without_autotune = lambda ds: ds  # TensorFlow's default options
epochs = []
run_epoch = train_module._run_epoch


def timed(train_step, batches, *args):
    start = time.perf_counter()
    last = [start]

    def stamped():
        for batch in batches:
            last[0] = time.perf_counter()
            yield batch

    loss = run_epoch(train_step, stamped(), *args)
    epochs.append((last[0] - start, time.perf_counter() - start))
    return loss


train_module._run_epoch = timed
train(config, verbose=0)
print(json.dumps(epochs))
"""


def config_for(data: Path, work: Path, epochs: int) -> dict:
    from recipes.common import AUGMENT
    from recipes.fsdd.__main__ import TRAIN_SETTINGS
    from recipes.fsdd.prepare import prepare

    prepare(data / "fsdd", work / "data")
    noise = data / "noise"
    return {
        **TRAIN_SETTINGS,
        "epochs": epochs,
        "train_manifests": [str(work / "data" / "train.jsonl")],
        "output_dir": str(work / "run"),
        "tensorboard": False,
        "augment": {**AUGMENT, "noise_dir": str(noise) if noise.is_dir() else None},
    }


def one_run(config: dict, setting: str) -> list[tuple[float, float]]:
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(REPO), json.dumps(config), setting],
        capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode:
        raise SystemExit(f"training run failed:\n{result.stderr[-3000:]}")
    return [tuple(x) for x in json.loads(result.stdout.strip().splitlines()[-1])]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="../shared/data", help="holds fsdd/ (and noise/)")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--output", help="write the report here (Markdown)")
    return p.parse_args(argv)


def main() -> int:
    args = parse_args()
    from recipes.common import hardware

    times: dict[str, list[tuple[float, float]]] = {s: [] for s in SETTINGS}
    with tempfile.TemporaryDirectory() as tmp:
        config = config_for(Path(args.data), Path(tmp), args.epochs)
        for run in range(args.runs):
            for setting, flag in zip(SETTINGS, ("on", "off"), strict=True):
                config["output_dir"] = str(Path(tmp) / f"run-{flag}-{run}")
                epochs = one_run(config, flag)
                times[setting] += epochs[1:]
                print(setting, [f"{w:.1f}/{e:.1f}" for w, e in epochs], flush=True)
    command = "python benchmarks/training.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    lines = [
        "# Training epoch time: tf.data autotuning on and off",
        "",
        f"Reproduce with:\n\n    {command}",
        "",
        f"Machine: {hardware()}; Python {platform.python_version()}. FSDD train (2400 clips) "
        f"with the FSDD recipe's model and augmentation, {args.epochs} epochs per run, "
        f"{args.runs} runs per setting, interleaved; medians over every epoch but each run's "
        "first. \"Work\": until the epoch's last batch arrived; \"epoch\": until its iterator "
        "was gone, what `log.csv` reports.",
        "",
        "| setting | work, s (median) | epoch, s (median) | epoch / work | every epoch, s |",
        "|---|---:|---:|---:|---|",
    ]
    for setting in SETTINGS:
        work = statistics.median(w for w, _ in times[setting])
        epoch = statistics.median(e for _, e in times[setting])
        every = ", ".join(f"{e:.2f}" for _, e in times[setting])
        lines.append(f"| {setting} | {work:.1f} | {epoch:.1f} | {epoch / work:.2f} | {every} |")
    lines.append("")
    text = "\n".join(lines)
    print(text)
    if args.output:
        out = Path(args.output)
        # Sections (## ...) after this report's table are measured by hand: keep them.
        old = out.read_text(encoding="utf-8") if out.is_file() else ""
        kept = old[old.index("\n## ") :] if "\n## " in old else ""
        out.write_text(text + kept, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
