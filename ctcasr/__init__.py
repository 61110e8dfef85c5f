"""ctcasr: a small-vocabulary CTC speech recogniser with pluggable decoders.

``import ctcasr`` stays fast and never imports TensorFlow: the modules below import it only
when a model is built or run, and the other names load lazily on first use.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

# Bound eagerly so that the functions, not the same-named modules, are what ``ctcasr.train``,
# ``ctcasr.transcribe``, ``ctcasr.evaluate`` and ``ctcasr.tune`` mean (as in whisper).
from ctcasr.evaluate import compare_decoders, evaluate
from ctcasr.train import TrainConfig, train
from ctcasr.transcribe import Transcriber, transcribe
from ctcasr.tune import tune

_LAZY = {
    "load_audio": "ctcasr.audio",
    "featurize": "ctcasr.features",
    "FrontendConfig": "ctcasr.features",
    "Alphabet": "ctcasr.text",
    "normalize_text": "ctcasr.text",
    "ModelConfig": "ctcasr.model",
    "Bundle": "ctcasr.bundle",
    "load_bundle": "ctcasr.bundle",
    "average_bundles": "ctcasr.bundle",
    "greedy_decode": "ctcasr.decoding",
    "Decoder": "ctcasr.decoding",
    "Hypothesis": "ctcasr.decoding",
    "create_decoder": "ctcasr.decoding",
    "available_decoders": "ctcasr.decoding",
    "build_lm": "ctcasr.lm",
    "CtcasrError": "ctcasr.errors",
    "CtcasrWarning": "ctcasr.errors",  # to filter or catch with the warnings module
    # What transcribe_batch returns, to tell apart with isinstance: ``ctcasr.transcribe`` is
    # the function, so ``ctcasr.transcribe.Failure`` is no way to reach them.
    "Transcript": "ctcasr.transcribe",
    "Failure": "ctcasr.transcribe",
    "Segment": "ctcasr.transcribe",
    "WordTiming": "ctcasr.decoding",
}

__all__ = [
    "TrainConfig",
    "Transcriber",
    "__version__",
    "compare_decoders",
    "evaluate",
    "train",
    "transcribe",
    "tune",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ctcasr' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
