"""Word and character error rates (jiwer), with the counts and worst utterances behind them."""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ctcasr.errors import ConfigError
from ctcasr.utils import counted


@dataclass(frozen=True)
class UtteranceError:
    id: str
    reference: str
    hypothesis: str
    word_errors: int
    ref_words: int
    cer: float


@dataclass
class ErrorReport:
    wer: float
    cer: float
    substitutions: int
    deletions: int
    insertions: int
    hits: int
    ref_words: int
    char_substitutions: int
    char_deletions: int
    char_insertions: int
    ref_chars: int
    utterances: int
    sentence_accuracy: float  # share of utterances transcribed exactly
    worst: list[UtteranceError] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return (
            f"WER {rate_text(self.wer, self.ref_words)} (S={self.substitutions} "
            f"D={self.deletions} I={self.insertions} N={self.ref_words})  "
            f"CER {rate_text(self.cer, self.ref_chars)}  exact {self.sentence_accuracy:.2%} "
            f"of {counted(self.utterances, 'utterance')}"
            + ("" if self.ref_words else f"; {NO_REFERENCE}")
        )


# Why a report's rates print as "n/a": with no reference words they hold the error count.
NO_REFERENCE = "WER and CER n/a: every reference is empty (no words to divide the errors by)"


def rate_text(rate: float, total: int) -> str:
    """``rate`` as a percentage, or "n/a" where ``total`` (reference words or characters) is 0:
    the rate is then the error count, which printed as 300.00% for three words output."""
    return f"{rate:.2%}" if total else "n/a"


def error_report(
    references: Sequence[str],
    hypotheses: Sequence[str],
    ids: Sequence[str] | None = None,
    worst: int = 10,
    failed: Collection[int] = (),
) -> ErrorReport:
    """Corpus-level WER/CER (errors summed over utterances, divided by reference length).
    ``failed``: positions whose audio or decoding failed, scored as empty transcripts but
    never counted as exact (an unreadable silence clip was "right", and a run that read
    nothing reported 100% exact)."""
    import jiwer

    if len(references) != len(hypotheses):
        raise ValueError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if not references:
        raise ValueError("nothing to score: no utterances")
    check_worst(worst)
    ids = list(ids) if ids is not None else [str(i) for i in range(len(references))]
    if len(ids) != len(references):  # was zip()'s "argument 2 is longer than argument 1"
        raise ValueError(f"{len(ids)} ids for {len(references)} references")
    failed = set(failed)
    outside = sorted(i for i in failed if not 0 <= i < len(references))
    if outside:  # a failure counted against no utterance left its clip "exact"
        raise ValueError(f"failed positions {outside[:5]} outside 0..{len(references) - 1}")
    refs = [_canonical(r) for r in references]
    hyps = [_canonical(h) for h in hypotheses]
    words = jiwer.process_words(refs, hyps)
    chars = jiwer.process_characters(refs, hyps)
    ref_words = words.hits + words.substitutions + words.deletions
    ref_chars = chars.hits + chars.substitutions + chars.deletions

    per_utt: list[UtteranceError] = []
    for i, (uid, ref, hyp) in enumerate(zip(ids, refs, hyps, strict=True)):
        if ref == hyp:
            continue
        w = words.alignments[i]
        c = chars.alignments[i]
        n_words = sum(a.ref_end_idx - a.ref_start_idx for a in w if a.type != "insert")
        n_chars = sum(a.ref_end_idx - a.ref_start_idx for a in c if a.type != "insert")
        word_errs = _errors(w)
        per_utt.append(
            UtteranceError(uid, ref, hyp, word_errs, n_words, _errors(c) / max(n_chars, 1))
        )
    per_utt.sort(key=lambda u: (-u.word_errors, -u.cer, u.id))
    exact = sum(r == h and i not in failed
                for i, (r, h) in enumerate(zip(refs, hyps, strict=True)))  # fmt: skip
    return ErrorReport(
        wer=_rate(words.substitutions + words.deletions + words.insertions, ref_words),
        cer=_rate(chars.substitutions + chars.deletions + chars.insertions, ref_chars),
        substitutions=words.substitutions,
        deletions=words.deletions,
        insertions=words.insertions,
        hits=words.hits,
        ref_words=ref_words,
        char_substitutions=chars.substitutions,
        char_deletions=chars.deletions,
        char_insertions=chars.insertions,
        ref_chars=ref_chars,
        utterances=len(refs),
        sentence_accuracy=exact / len(refs),
        worst=per_utt[:worst],
    )


def _canonical(text: str) -> str:
    """Whitespace and Unicode composition are not content: "  a b " is "a b", and "e" with a
    combining accent is "é" (NFC, the form manifests and the alphabet hold). A decomposed
    reference scored a correct "café" as a substitution, its accent as a character."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def check_worst(worst: int) -> None:
    """Refuse a negative length for the worst-utterance list (before a test set is read:
    ``evaluate --worst -1`` said so only after the model had run over every clip)."""
    if worst < 0:
        raise ConfigError(f"worst must be 0 or more, got {worst}")


def _errors(alignment: Sequence[Any]) -> int:
    total = 0
    for chunk in alignment:
        if chunk.type == "insert":
            total += chunk.hyp_end_idx - chunk.hyp_start_idx
        elif chunk.type in ("substitute", "delete"):
            total += chunk.ref_end_idx - chunk.ref_start_idx
    return total


def _rate(errors: int, total: int) -> float:
    """Errors per reference unit; with no reference words the errors themselves (as jiwer
    counts them), not infinity, which is not valid JSON and was stored in bundle.json."""
    return errors / max(total, 1)


def wilson_interval(successes: int, trials: int, z: float = 1.96) -> tuple[float, float]:
    """95% (z=1.96) Wilson score interval of a proportion: honest at small counts and near 0
    or 1, where the normal approximation runs past [0, 1]. A 60-clip test is only this sure."""
    if trials <= 0 or not 0 <= successes <= trials:
        raise ValueError(f"need 0 <= successes <= trials and trials > 0, got {successes}/{trials}")
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def mcnemar_worse_p(only_reference_right: int, only_candidate_right: int) -> float:
    """Exact one-sided McNemar p-value that a candidate is worse than a reference on the same
    items: the chance of at least ``only_reference_right`` of the discordant items going the
    reference's way if each were a fair coin. Items both get right or wrong say nothing."""
    b, c = only_reference_right, only_candidate_right
    if b < 0 or c < 0:
        raise ValueError(f"need non-negative counts, got {b} and {c}")
    n = b + c
    return sum(math.comb(n, k) for k in range(b, n + 1)) / 2**n


def interval_text(successes: int, trials: int) -> str:
    """``496/540; 95% CI 89.2%-93.9%``: a count with its Wilson interval."""
    lo, hi = wilson_interval(successes, trials)
    return f"{successes}/{trials}; 95% CI {lo:.1%}-{hi:.1%}"
