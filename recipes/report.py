"""Plots and tables that recipes put in their RESULTS.md pages (matplotlib, headless)."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

INTERVALS_NOTE = ("The intervals are Wilson score intervals: on a few hundred clips, and on 60 for "
                  "the unseen words (one clip is 1.7 points), a difference of a clip or two is "
                  "noise.")  # fmt: skip
SILENCE_NOTE = (
    "The silence class flatters the 12-class figure: the corpus's `_silence_` clips are "
    "excerpts of its background-noise recordings, which the noise folder used for training "
    "augmentation also holds. The ten-command and unseen-word figures do not use those clips."
)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, out_png: str | Path, title: str = "") -> Path:
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    out = Path(out_png)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


def plot_training_curves(log_csv: str | Path, out_png: str | Path, title: str = "") -> Path:
    """Loss and dev WER/CER per epoch from a training run's ``log.csv``."""
    with Path(log_csv).open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    epochs = [int(r["epoch"]) for r in rows]
    plt = _pyplot()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.6))
    ax1.plot(epochs, [float(r["loss"]) for r in rows], marker=".")
    ax1.set_xlabel("epoch")
    ax1.set_ylabel("CTC loss (train)")
    ax1.set_yscale("log")
    for key, label in (("dev_wer", "dev WER"), ("dev_cer", "dev CER")):
        values = [float(r[key]) * 100 if r.get(key) not in (None, "") else None for r in rows]
        points = [(e, v) for e, v in zip(epochs, values, strict=True) if v is not None]
        if points:
            ax2.plot(*zip(*points, strict=True), marker=".", label=label)
    ax2.set_xlabel("epoch")
    ax2.set_ylabel("%")
    ax2.set_ylim(bottom=0)
    ax2.legend()
    ax2.grid(alpha=0.3)
    return _save(plt, fig, out_png, title)


def plot_per_speaker(
    values: Mapping[str, float], out_png: str | Path, ylabel: str, title: str = ""
) -> Path:
    """One bar per speaker (e.g. WER in %), sorted."""
    plt = _pyplot()
    items = sorted(values.items(), key=lambda kv: kv[1])
    fig, ax = plt.subplots(figsize=(max(5, 0.35 * len(items) + 2), 3.4))
    ax.bar([k for k, _ in items], [v for _, v in items])
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", rotation=70, labelsize=8)
    return _save(plt, fig, out_png, title)


def plot_confusion(
    matrix: Sequence[Sequence[int]],
    classes: Sequence[str],
    out_png: str | Path,
    title: str = "",
    rows: Sequence[str] | None = None,
) -> Path:
    """Rows are the truth (``rows``, default ``classes``), columns the prediction; counts are
    written in the cells."""
    plt = _pyplot()
    rows = classes if rows is None else rows
    n, m = len(classes), len(rows)
    fig, ax = plt.subplots(figsize=(0.55 * n + 2.5, 0.55 * m + 2))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(n), classes, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(m), rows, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    peak = max((max(row) for row in matrix), default=0) or 1
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            if count:
                color = "white" if count > peak / 2 else "black"
                ax.text(j, i, str(count), ha="center", va="center", fontsize=7, color=color)
    return _save(plt, fig, out_png, title)


class SpeakerOf:
    """Speaker by audio path, however the path is written: a split holds absolute paths and
    an evaluation the manifest's (relative when the audio lies beside it), and every speaker
    was "?" when the corpus lay inside the output folder."""

    def __init__(self, entries: Iterable[Any]) -> None:
        self._by_path = {os.path.realpath(e.audio_filepath): e.speaker for e in entries}

    def get(self, path: str, default: str = "?") -> str:
        return self._by_path.get(os.path.realpath(path)) or default


def per_speaker_wer(
    ids: Sequence[str], refs: Sequence[str], hyps: Sequence[str],
    speaker_of: Mapping[str, str] | SpeakerOf,
) -> dict[str, float]:  # fmt: skip
    """Corpus-style WER (errors / reference words) per speaker, in %, as ``evaluate`` counts
    it: words output for an empty reference (a silence clip) are insertions. They were left
    out, so a speaker's bar could read 0% where the corpus WER counted its errors. A speaker
    with no reference words at all has no rate and no bar."""
    from ctcasr.metrics import error_report

    grouped: dict[str, tuple[list[str], list[str]]] = {}
    for uid, ref, hyp in zip(ids, refs, hyps, strict=True):
        r, h = grouped.setdefault(speaker_of.get(uid, "?"), ([], []))
        r.append(ref)
        h.append(hyp)
    out = {}
    for speaker, (r, h) in grouped.items():
        report = error_report(r, h, worst=0)
        if report.ref_words:
            out[speaker] = 100 * report.wer
    return out
