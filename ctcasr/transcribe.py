"""Files or sample arrays in, transcripts out; the library behind ``ctcasr transcribe``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from ctcasr.bundle import Bundle, load_bundle
from ctcasr.decoding import greedy_decode
from ctcasr.errors import ConfigError, CtcasrError
from ctcasr.features import featurize

Source = str | os.PathLike[str] | np.ndarray
DECODERS = ("greedy",)


@dataclass(frozen=True)
class Transcript:
    source: str
    text: str
    score: float
    confidence: float
    duration: float  # seconds of audio


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
    ) -> None:
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        self.decoder = decoder or self.bundle.decoder.get("name", "greedy")
        if self.decoder not in DECODERS:
            raise ConfigError(
                f"unknown decoder {self.decoder!r} (available: {', '.join(DECODERS)})"
            )
        self.batch_size = batch_size
        self.max_duration = max_duration
        self._model = None

    @property
    def acoustic_model(self):
        if self._model is None:
            from ctcasr.runtime import keras_runner

            self._model = keras_runner(self.bundle, batch_size=self.batch_size)
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
            hyp = greedy_decode(lp, self.bundle.alphabet)
            duration = feat.shape[0] * frontend.hop_ms / 1000
            results[i] = Transcript(
                _name(sources[i]), hyp.text, hyp.score, hyp.confidence, round(duration, 3)
            )
        return results  # type: ignore[return-value]


def transcribe(
    sources: Iterable[Source], model: Bundle | str | os.PathLike[str] | None = None
) -> list[Transcript | Failure]:
    """Convenience wrapper: ``transcribe(["a.wav"])`` with the bundled default model."""
    return Transcriber(model).transcribe_batch(list(sources))


def _name(source: Source) -> str:
    return "<array>" if isinstance(source, np.ndarray) else str(source)
