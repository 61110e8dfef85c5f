"""Candidate bundles side by side on dev only: the numbers a fine-tuning stage ships by.

    python -m recipes.pretrained.dev_compare exp/pretrained/finetune4/model \\
        exp/pretrained/finetune4/averaged

For each bundle: greedy WER and CER on the combined dev manifest (AN4 + FSDD + Speech Commands
dev, the set training keeps its best epoch by), and Speech Commands dev ten-command accuracy
through the ``grammar`` decoder. Both bundles are run on their Keras weights, as training
measures dev. No test set is read. ``--against SHIPPED`` pairs each bundle's ten-command clips
with the shipped bundle's: clips won and lost, and the exact one-sided McNemar p-value that the
bundle is worse. When the data was prepared with ``--dev-words``, a last column gives the
one-of-N accuracy on those held-out words, for a bundle whose every stage held them out
("heard" otherwise).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from recipes.common import run_main, whole

if TYPE_CHECKING:
    from ctcasr.metrics import ErrorReport
    from ctcasr.transcribe import Transcriber


@dataclass(frozen=True)
class DevScores:
    bundle: str
    wer: float  # greedy, combined dev
    cer: float
    # Speech Commands dev clips of the ten commands, recognised or not, in manifest order
    ten_hits: tuple[bool, ...]
    unseen_dev: str | None = None  # "right/count" on the held-out dev words, or "heard"

    @property
    def ten_right(self) -> int:
        return sum(self.ten_hits)

    @property
    def ten_total(self) -> int:
        return len(self.ten_hits)

    def row(self, reference: DevScores | None = None) -> str:
        row = (f"| `{self.bundle}` | {self.wer:.2%} | {self.cer:.2%} | "
               f"{self.ten_right}/{self.ten_total} |")  # fmt: skip
        if reference is not None:
            worse, better, p = self.versus(reference)
            row += f" {better} / {worse} | {p:.3f} |"
        if self.unseen_dev is not None:
            row += f" {self.unseen_dev} |"
        return row

    def versus(self, reference: DevScores) -> tuple[int, int, float]:
        """Ten-command clips only the reference gets right, only this bundle gets right, and
        the exact one-sided McNemar p-value that this bundle is worse (stage 9's guard)."""
        from ctcasr.metrics import mcnemar_worse_p

        if len(self.ten_hits) != len(reference.ten_hits):
            raise ValueError("the two bundles were scored on different clips")
        pairs = list(zip(self.ten_hits, reference.ten_hits, strict=True))
        worse = sum(1 for mine, theirs in pairs if theirs and not mine)
        better = sum(1 for mine, theirs in pairs if mine and not theirs)
        return worse, better, mcnemar_worse_p(worse, better)


def keras_greedy(bundle: str | Path) -> Transcriber:
    """Greedy decoding on the Keras weights, each entry whole, as training measures dev, for
    every bundle alike (a bundle's ONNX graph may differ from its weights by rounding)."""
    from ctcasr.transcribe import Transcriber

    return Transcriber(bundle, decoder="greedy", backend="keras", split=None)


class CommandScorer:
    """One bundle on one set of clips through the ``grammar`` decoder (threshold 0: one of
    the commands), on the Keras weights; its output is computed once per input speed."""

    def __init__(self, bundle: str, waves: list[np.ndarray], texts: list[str],
                 commands: Sequence[str]) -> None:  # fmt: skip
        from ctcasr.decoding.grammar import GrammarDecoder

        self.transcriber = keras_greedy(bundle)
        self.alphabet = self.transcriber.bundle.alphabet
        self.waves, self.texts = waves, texts
        self.grammar = GrammarDecoder(self.alphabet, commands=list(commands), threshold=0.0)
        self._outputs: dict[float, list[np.ndarray]] = {}

    def outputs(self, speed: float = 1.0) -> list[np.ndarray]:
        """Log-probabilities of every clip resampled to ``speed`` (1.1: 10% faster, higher)."""
        from ctcasr.audio import resample
        from ctcasr.features import compute_features

        if speed not in self._outputs:
            t = self.transcriber
            audio = self.waves if speed == 1.0 else [
                resample(w, round(16000 * speed), 16000) for w in self.waves]  # fmt: skip
            self._outputs[speed] = t.acoustic_model(
                [compute_features(w, t.bundle.frontend) for w in audio])  # fmt: skip
        return self._outputs[speed]

    def hits(self, log_probs: list[np.ndarray], length_normalize: bool = True) -> list[bool]:
        g = self.grammar
        g.length_normalize = length_normalize
        try:
            return [g.decode(lp)[0].text == r for lp, r in zip(log_probs, self.texts, strict=True)]
        finally:
            g.length_normalize = True

    def speed_hits(self, speeds: tuple[float, ...]) -> list[bool]:
        """Each phrase's ranking score summed over the input speeds (test-time augmentation)."""
        g = self.grammar
        total = sum(np.array([g.rank(g.score_phrases(lp)[0]) for lp in self.outputs(s)])
                    for s in speeds)  # fmt: skip
        best = np.argmax(total, axis=1)
        return [g.commands[i] == r for i, r in zip(best, self.texts, strict=True)]


def greedy_report(transcriber: Transcriber, manifest: Path) -> ErrorReport:
    from ctcasr.evaluate import compute_log_probs, score_decoder

    return score_decoder(transcriber, compute_log_probs(transcriber, manifest)).report


def greedy_dev_cer(bundle: str | Path, manifest: Path) -> float:
    return greedy_report(keras_greedy(bundle), manifest).cer


def dev_scores(bundle: str | Path, combined_dev: Path, commands_dev: Path) -> DevScores:
    from ctcasr.decoding.grammar import GrammarDecoder
    from ctcasr.evaluate import compute_log_probs
    from recipes.speech_commands.__main__ import spoken_phrase
    from recipes.speech_commands.prepare import COMMANDS

    transcriber = keras_greedy(bundle)
    report = greedy_report(transcriber, combined_dev)
    scored = compute_log_probs(transcriber, commands_dev)
    grammar = GrammarDecoder(transcriber.bundle.alphabet, commands=list(COMMANDS), threshold=0.0)
    ten = [ref == spoken_phrase(grammar.decode(whole(lp)), whole(lp))
           for ref, lp in zip(scored.references, scored.log_probs, strict=True)
           if ref in COMMANDS and lp is not None]  # fmt: skip
    return DevScores(str(bundle), report.wer, report.cer, tuple(ten),
                     unseen_dev_score(transcriber, commands_dev.parent))  # fmt: skip


def unseen_dev_score(transcriber: Transcriber, data: Path) -> str | None:
    """``right/count`` on the held-out dev words, "heard" for a bundle that may have heard
    them, None when the data holds no such words."""
    from ctcasr.errors import CtcasrError
    from recipes.common import check_never_heard
    from recipes.speech_commands.__main__ import one_of_n
    from recipes.speech_commands.prepare import UNSEEN_DEV, UNSEEN_DEV_COMMANDS

    if not (data / UNSEEN_DEV).is_file():
        return None
    words = tuple((data / UNSEEN_DEV_COMMANDS).read_text(encoding="utf-8").split())
    try:
        check_never_heard(transcriber.bundle.path, words, "bundle")
    except CtcasrError:
        return "heard"
    scored = one_of_n(transcriber, data / UNSEEN_DEV, data / UNSEEN_DEV_COMMANDS)
    return f"{scored.right}/{scored.count}"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m recipes.pretrained.dev_compare",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("bundles", nargs="+")
    p.add_argument("--against", metavar="BUNDLE",
                   help="the shipped bundle: add each bundle's ten-command clips won and lost "
                   "against it, and the exact one-sided McNemar p that it is worse")  # fmt: skip
    p.add_argument("--data", default="exp/pretrained/data",
                   help="recipes.pretrained's prepared data [exp/pretrained/data]")  # fmt: skip
    return p.parse_args(argv)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    from recipes.speech_commands.prepare import UNSEEN_DEV

    data = Path(args.data)
    manifests = data / "dev.jsonl", data / "speech_commands" / "dev.jsonl"
    reference = dev_scores(args.against, *manifests) if args.against else None
    header = "| bundle | dev WER (greedy) | dev CER (greedy) | Speech Commands dev ten-command |"
    rule = "|---|---:|---:|---:|"
    if reference is not None:
        header += f" clips won / lost against `{reference.bundle}` | p (worse) |"
        rule += "---:|---:|"
    if (data / "speech_commands" / UNSEEN_DEV).is_file():
        header += " unseen dev words |"
        rule += "---:|"
    print(header)
    print(rule)
    for bundle in args.bundles:
        print(dev_scores(bundle, *manifests).row(reference), flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(parse_args, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
