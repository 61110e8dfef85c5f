"""Acoustic inference: feature matrices in, per-frame log-probabilities out.

Utterances are sorted by length and padded per batch; the model masks padding, so the result
for an utterance does not depend on what it was batched with.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ctcasr.bundle import Bundle
from ctcasr.model import ModelConfig, output_lengths


def pad_batch(features: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack ``[T_i, F]`` matrices into a zero-padded ``[B, T_max, F]`` batch and lengths."""
    lengths = np.array([f.shape[0] for f in features], dtype=np.int32)
    dim = features[0].shape[1]
    batch = np.zeros((len(features), int(lengths.max()), dim), dtype=np.float32)
    for i, f in enumerate(features):
        batch[i, : f.shape[0]] = f
    return batch, lengths


class LogProbRunner:
    """Runs a Keras acoustic model over feature matrices in length-sorted padded batches."""

    def __init__(self, keras_model, model_config: ModelConfig, batch_size: int = 32) -> None:
        from ctcasr.utils import import_tensorflow

        tf = import_tensorflow()
        self.model_config = model_config
        self.batch_size = batch_size
        dim = model_config.num_features
        self._predict = tf.function(
            lambda feats, lens: keras_model([feats, lens], training=False),
            input_signature=[
                tf.TensorSpec([None, None, dim], tf.float32),
                tf.TensorSpec([None], tf.int32),
            ],
            reduce_retracing=True,
        )

    def __call__(self, features: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Log-probabilities ``[T'_i, num_classes]`` for each feature matrix, in input order."""
        if not features:
            return []
        dim = self.model_config.num_features
        for f in features:
            if f.ndim != 2 or f.shape[1] != dim:
                raise ValueError(f"features must be [frames, {dim}], got {f.shape}")
        order = np.argsort([f.shape[0] for f in features], kind="stable")
        results: list[np.ndarray | None] = [None] * len(features)
        for start in range(0, len(order), self.batch_size):
            idx = order[start : start + self.batch_size]
            batch, lengths = pad_batch([features[i] for i in idx])
            out = self._predict(batch, lengths).numpy()
            out_lens = output_lengths(lengths, self.model_config)
            for row, i in enumerate(idx):
                results[i] = out[row, : out_lens[row]]
        return results  # type: ignore[return-value]


def keras_runner(bundle: Bundle, batch_size: int = 32) -> LogProbRunner:
    """The bundle's Keras model as a runner; TensorFlow loads here."""
    return LogProbRunner(bundle.keras_model(), bundle.model_config, batch_size)
