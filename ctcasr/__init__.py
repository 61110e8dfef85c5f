"""ctcasr: a small-vocabulary CTC speech recogniser with pluggable decoders.

The names below load lazily, so ``import ctcasr`` stays fast and never imports TensorFlow.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "load_audio": "ctcasr.audio",
    "featurize": "ctcasr.features",
    "FrontendConfig": "ctcasr.features",
    "Alphabet": "ctcasr.text",
    "normalize_text": "ctcasr.text",
    "ModelConfig": "ctcasr.model",
    "Bundle": "ctcasr.bundle",
    "load_bundle": "ctcasr.bundle",
    "greedy_decode": "ctcasr.decoding",
    "Transcriber": "ctcasr.transcribe",
    "transcribe": "ctcasr.transcribe",
    "TrainConfig": "ctcasr.train",
    "train": "ctcasr.train",
    "evaluate": "ctcasr.evaluate",
    "CtcasrError": "ctcasr.errors",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ctcasr' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
