"""Files or sample arrays in, transcripts out; the library behind ``ctcasr transcribe``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ctcasr.bundle import Bundle, load_bundle
from ctcasr.decoding import Decoder, Hypothesis, WordTiming, create_decoder, get_decoder_class
from ctcasr.errors import CtcasrError
from ctcasr.features import featurize

Source = str | os.PathLike[str] | np.ndarray


@dataclass(frozen=True)
class Transcript:
    """The best hypothesis for one input; ``text`` is empty when the decoder rejected it."""

    source: str
    text: str
    score: float
    confidence: float
    duration: float  # seconds of audio
    words: tuple[WordTiming, ...] = ()
    nbest: tuple[Hypothesis, ...] = ()
    rejected: bool = False
    decoder: str = "greedy"

    def to_dict(self) -> dict[str, Any]:
        best = self.nbest[0].to_dict() if self.nbest else {}
        return {
            "source": self.source,
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "score": round(self.score, 4),
            "rejected": self.rejected,
            "duration": self.duration,
            "decoder": self.decoder,
            "words": best.get("words", []),
            "nbest": [h.to_dict() for h in self.nbest],
        }


@dataclass(frozen=True)
class Failure:
    source: str
    error: str  # one line naming the input and the cause


class Transcriber:
    """Holds a loaded bundle and its acoustic model, for transcribing many inputs."""

    def __init__(
        self,
        bundle: Bundle | str | os.PathLike[str] | None = None,
        decoder: str | None = None,
        batch_size: int = 32,
        max_duration: float | None = None,
        *,
        decoder_options: Mapping[str, Any] | None = None,
        nbest: int = 1,
        backend: str = "auto",
    ) -> None:
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self.decoder = decoder or self.bundle.decoder.get("name", "greedy")
        self.decoder_options = decoder_settings(self.bundle, self.decoder, decoder_options)
        self.decoder_impl: Decoder = create_decoder(
            self.decoder, self.bundle.alphabet, frame_seconds(self.bundle), **self.decoder_options
        )
        self.nbest = nbest
        self.batch_size = batch_size
        self.max_duration = max_duration
        self.backend = backend
        self._model = None

    @property
    def acoustic_model(self):
        if self._model is None:
            from ctcasr.runtime import load_runner

            self._model = load_runner(self.bundle, self.backend, batch_size=self.batch_size)
        return self._model

    def transcribe(self, source: Source, sample_rate: int | None = None) -> Transcript:
        """One file or array; raises :class:`CtcasrError` when it cannot be read."""
        result = self.transcribe_batch([source], sample_rate=sample_rate)[0]
        if isinstance(result, Failure):
            raise CtcasrError(result.error)
        return result

    def transcribe_batch(
        self, sources: Sequence[Source], sample_rate: int | None = None
    ) -> list[Transcript | Failure]:
        """Transcribe what can be read and report the rest; order follows ``sources``."""
        results: list[Transcript | Failure | None] = [None] * len(sources)
        feats: list[np.ndarray] = []
        todo: list[int] = []
        frontend = self.bundle.frontend
        for i, source in enumerate(sources):
            try:
                feats.append(
                    featurize(
                        source, frontend, sample_rate=sample_rate, max_duration=self.max_duration
                    )
                )
                todo.append(i)
            except CtcasrError as exc:
                results[i] = Failure(_name(source), str(exc))
        log_probs = self.acoustic_model(feats)
        for i, feat, lp in zip(todo, feats, log_probs, strict=True):
            duration = round(feat.shape[0] * frontend.hop_ms / 1000, 3)
            results[i] = self.decode(lp, _name(sources[i]), duration)
        return results  # type: ignore[return-value]

    def decode(self, log_probs: np.ndarray, source: str = "<array>", duration: float = 0.0):
        """Decode log-probabilities the acoustic model already produced."""
        hyps = self.decoder_impl.decode(log_probs, self.nbest)
        best = hyps[0]
        return Transcript(
            source,
            "" if best.rejected else best.text,
            best.score,
            best.confidence,
            duration,
            best.words,
            tuple(hyps),
            best.rejected,
            self.decoder,
        )


def transcribe(
    sources: Iterable[Source], model: Bundle | str | os.PathLike[str] | None = None
) -> list[Transcript | Failure]:
    """Convenience wrapper: ``transcribe(["a.wav"])`` with the bundled default model."""
    return Transcriber(model).transcribe_batch(list(sources))


def frame_seconds(bundle: Bundle) -> float:
    """Duration of one acoustic-model output frame."""
    return bundle.frontend.hop_ms / 1000 * bundle.model_config.conv_stride


def decoder_settings(
    bundle: Bundle, name: str, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The bundle's stored options for decoder ``name`` (file paths resolved against the
    bundle), with ``overrides`` on top; ``None`` overrides keep the stored value."""
    stored = dict(bundle.decoder.get(name) or {})
    path_options = getattr(get_decoder_class(name), "path_options", ())
    for key in path_options:
        value = stored.get(key)
        if isinstance(value, str) and not Path(value).is_absolute():
            stored[key] = str(bundle.path / value)
    for key, value in (overrides or {}).items():
        if value is not None:
            stored[key] = value
    return stored


def _name(source: Source) -> str:
    return "<array>" if isinstance(source, np.ndarray) else str(source)
