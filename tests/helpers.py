"""Builders shared by the model, bundle, training and CLI tests."""

from __future__ import annotations

from pathlib import Path

from ctcasr.manifest import ManifestEntry, write_manifest
from ctcasr.text import number_to_words

TINY_MODEL = dict(conv_filters=32, conv_kernel=5, conv_stride=2, rnn_units=32, rnn_layers=1,
                  dropout=0.0)


def fsdd_entries(fsdd_dir: Path, indices: range, speakers=("george", "jackson")):
    """Manifest entries for FSDD recordings ``{digit}_{speaker}_{index}``."""
    import soundfile as sf

    entries = []
    for speaker in speakers:
        for digit in range(10):
            for index in indices:
                path = fsdd_dir / f"{digit}_{speaker}_{index}.flac"
                entries.append(
                    ManifestEntry(str(path), number_to_words(digit), sf.info(str(path)).duration,
                                  speaker)
                )
    return entries


def write_fsdd_manifest(path: Path, fsdd_dir: Path, indices: range, **kwargs) -> Path:
    write_manifest(path, fsdd_entries(fsdd_dir, indices, **kwargs))
    return path
