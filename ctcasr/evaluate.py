"""Score a model on a manifest: the library behind ``ctcasr evaluate``."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ctcasr.bundle import Bundle
from ctcasr.manifest import read_manifest
from ctcasr.metrics import ErrorReport, error_report
from ctcasr.transcribe import Failure, Transcriber


@dataclass
class Evaluation:
    report: ErrorReport
    references: list[str]
    hypotheses: list[str]
    ids: list[str]
    failures: list[Failure]


def evaluate(
    manifest: str | os.PathLike[str],
    model: Bundle | str | os.PathLike[str] | None = None,
    *,
    decoder: str | None = None,
    batch_size: int = 32,
    worst: int = 10,
) -> Evaluation:
    """Transcribe every manifest entry and score it; unreadable audio counts as an empty
    transcript (all deletions) and is listed in ``failures``."""
    transcriber = Transcriber(model, decoder=decoder, batch_size=batch_size)
    entries = read_manifest(manifest, transcriber.bundle.alphabet).entries
    results = transcriber.transcribe_batch([e.audio_filepath for e in entries])
    failures = [r for r in results if isinstance(r, Failure)]
    hyps = ["" if isinstance(r, Failure) else r.text for r in results]
    refs = [e.text for e in entries]
    ids = [e.audio_filepath for e in entries]
    return Evaluation(error_report(refs, hyps, ids, worst=worst), refs, hyps, ids, failures)
