"""Candidate bundles side by side on dev only: the numbers a fine-tuning stage ships by.

    python -m recipes.pretrained.dev_compare exp/pretrained/finetune4/model \\
        exp/pretrained/finetune4/averaged

For each bundle: greedy WER and CER on the combined dev manifest (AN4 + FSDD + Speech Commands
dev, the set training keeps its best epoch by), and Speech Commands dev ten-command accuracy
through the ``grammar`` decoder. Both bundles are run on their Keras weights, as training
measures dev. No test set is read.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from recipes.common import run_main

if TYPE_CHECKING:
    from ctcasr.metrics import ErrorReport
    from ctcasr.transcribe import Transcriber


@dataclass(frozen=True)
class DevScores:
    bundle: str
    wer: float  # greedy, combined dev
    cer: float
    ten_right: int  # Speech Commands dev clips of the ten commands recognised
    ten_total: int

    def row(self) -> str:
        return (f"| `{self.bundle}` | {self.wer:.2%} | {self.cer:.2%} | "
                f"{self.ten_right}/{self.ten_total} |")  # fmt: skip


def keras_greedy(bundle: str | Path) -> Transcriber:
    """Greedy decoding on the Keras weights, as training measures dev, for every bundle alike
    (a bundle's ONNX graph may differ from its weights by rounding)."""
    from ctcasr.transcribe import Transcriber

    return Transcriber(bundle, decoder="greedy", backend="keras")


def greedy_report(transcriber: Transcriber, manifest: Path) -> ErrorReport:
    from ctcasr.evaluate import compute_log_probs, score_decoder

    return score_decoder(transcriber, compute_log_probs(transcriber, manifest)).report


def greedy_dev_cer(bundle: str | Path, manifest: Path) -> float:
    return greedy_report(keras_greedy(bundle), manifest).cer


def dev_scores(bundle: str | Path, combined_dev: Path, commands_dev: Path) -> DevScores:
    from ctcasr.decoding.grammar import GrammarDecoder
    from ctcasr.evaluate import compute_log_probs
    from recipes.speech_commands.prepare import COMMANDS

    transcriber = keras_greedy(bundle)
    report = greedy_report(transcriber, combined_dev)
    scored = compute_log_probs(transcriber, commands_dev)
    grammar = GrammarDecoder(transcriber.bundle.alphabet, commands=list(COMMANDS), threshold=0.0)
    ten = [ref == grammar.decode(lp)[0].text
           for ref, lp in zip(scored.references, scored.log_probs, strict=True)
           if ref in COMMANDS and lp is not None]  # fmt: skip
    return DevScores(str(bundle), report.wer, report.cer, sum(ten), len(ten))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m recipes.pretrained.dev_compare",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("bundles", nargs="+")
    p.add_argument("--data", default="exp/pretrained/data",
                   help="recipes.pretrained's prepared data [exp/pretrained/data]")  # fmt: skip
    return p.parse_args(argv)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    data = Path(args.data)
    print("| bundle | dev WER (greedy) | dev CER (greedy) | Speech Commands dev ten-command |")
    print("|---|---:|---:|---:|")
    for bundle in args.bundles:
        scores = dev_scores(bundle, data / "dev.jsonl", data / "speech_commands" / "dev.jsonl")
        print(scores.row(), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(parse_args, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
