"""Acoustic inference: feature matrices in, per-frame log-probabilities out.

Utterances are sorted by length and padded per batch; the model masks padding, so the result
for an utterance does not depend on what it was batched with, beyond float32 round-off (on
some CPUs oneDNN rounds a padded batch differently from a lone utterance, ~1e-6).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ctcasr.bundle import Bundle
from ctcasr.errors import BundleError, ConfigError
from ctcasr.model import ModelConfig, output_lengths


def pad_batch(features: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Stack ``[T_i, F]`` matrices into a zero-padded ``[B, T_max, F]`` batch and lengths."""
    lengths = np.array([f.shape[0] for f in features], dtype=np.int32)
    dim = features[0].shape[1]
    batch = np.zeros((len(features), int(lengths.max()), dim), dtype=np.float32)
    for i, f in enumerate(features):
        batch[i, : f.shape[0]] = f
    return batch, lengths


BACKENDS = ("auto", "onnx", "keras")


def check_backend(backend: str) -> None:
    """Refuse a backend name before any model loads."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")


class LogProbRunner:
    """Runs an acoustic model over feature matrices in length-sorted padded batches."""

    backend = "none"

    def __init__(self, model_config: ModelConfig, batch_size: int = 32) -> None:
        self.model_config = model_config
        self.batch_size = batch_size

    def _run(self, batch: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        raise NotImplementedError

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
            out = self._run(batch, lengths)
            out_lens = output_lengths(lengths, self.model_config)
            for row, i in enumerate(idx):
                results[i] = out[row, : out_lens[row]]
        return results  # type: ignore[return-value]


class KerasRunner(LogProbRunner):
    """The Keras model under a traced ``tf.function``; TensorFlow loads here."""

    backend = "keras"

    def __init__(self, keras_model, model_config: ModelConfig, batch_size: int = 32) -> None:
        from ctcasr.utils import import_tensorflow

        super().__init__(model_config, batch_size)
        tf = import_tensorflow()
        dim = model_config.num_features
        self._predict = tf.function(
            lambda feats, lens: keras_model([feats, lens], training=False),
            input_signature=[
                tf.TensorSpec([None, None, dim], tf.float32),
                tf.TensorSpec([None], tf.int32),
            ],
            reduce_retracing=True,
        )

    def _run(self, batch: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        return self._predict(batch, lengths).numpy()


class OnnxRunner(LogProbRunner):
    """The exported graph on onnxruntime: no TensorFlow, a fraction of the start-up time."""

    backend = "onnx"

    def __init__(self, onnx_path: Path, model_config: ModelConfig, batch_size: int = 32,
                 weights_path: Path | None = None) -> None:  # fmt: skip
        """``weights_path``: the bundle's Keras weights, which the graph must be exported from."""
        super().__init__(model_config, batch_size)
        try:
            import onnxruntime as ort
        except ImportError:
            raise BundleError("running an ONNX model needs onnxruntime: pip install "
                              "onnxruntime") from None  # fmt: skip
        options = ort.SessionOptions()
        options.log_severity_level = 3  # warnings about unused initialisers are not the user's
        try:
            self._session = ort.InferenceSession(
                str(onnx_path), options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise BundleError(f"{onnx_path}: cannot load ONNX model ({exc})") from None
        _check_graph(self._session, onnx_path, model_config)
        _check_weights(self._session, onnx_path, weights_path)

    def _run(self, batch: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        (out,) = self._session.run(["log_probs"], {"features": batch, "lengths": lengths})
        return out


def _check_graph(session: Any, onnx_path: Path, model_config: ModelConfig) -> None:
    """The graph must be the bundle's model: a graph from another bundle ran silently wrong,
    and one taking another number of features was a traceback at the first batch."""
    import json

    from ctcasr.export import GRAPH_CONFIG_KEY

    inputs = {i.name: i.shape for i in session.get_inputs()}
    outputs = {o.name: o.shape for o in session.get_outputs()}
    if set(inputs) != {"features", "lengths"} or "log_probs" not in outputs:
        raise BundleError(f"{onnx_path}: not a ctcasr acoustic-model graph (inputs "
                          f"{sorted(inputs)}, outputs {sorted(outputs)})")  # fmt: skip
    for what, got, want in (("features", inputs["features"][-1], model_config.num_features),
                            ("classes", outputs["log_probs"][-1], model_config.num_classes)):
        if isinstance(got, int) and got != want:
            raise BundleError(f"{onnx_path}: graph takes {got} {what} but the bundle's model "
                              f"{want}")  # fmt: skip
    try:
        stored = json.loads(session.get_modelmeta().custom_metadata_map[GRAPH_CONFIG_KEY])
    except (KeyError, ValueError):
        return  # exported before graphs recorded their model
    ours = model_config.to_dict()
    if differ := sorted(k for k in set(stored) & set(ours) if stored[k] != ours[k]):
        said = ", ".join(f"{k}: {stored[k]} in the graph, {ours[k]} in bundle.json"
                         for k in differ)  # fmt: skip
        raise BundleError(
            f"{onnx_path}: graph was exported from another model than the bundle's ({said})"
        )


def _check_weights(session: Any, onnx_path: Path, weights_path: Path | None) -> None:
    """A graph beside Keras weights other than those it was exported from is stale: it ran in
    their place, silently, when the weights were replaced after ``ctcasr export``."""
    from ctcasr.export import WEIGHTS_DIGEST_KEY, weights_digest

    stored = session.get_modelmeta().custom_metadata_map.get(WEIGHTS_DIGEST_KEY)
    if stored is None or weights_path is None or not weights_path.is_file():
        return  # exported before graphs recorded their weights, or no weights to differ
    if weights_digest(weights_path) != stored:
        raise BundleError(f"{onnx_path}: exported from other weights than {weights_path.name} "
                          f"(changed since); run: ctcasr export {onnx_path.parent}, or use "
                          "--backend keras (backend='keras')")  # fmt: skip


def keras_runner(bundle: Bundle, batch_size: int = 32) -> LogProbRunner:
    """The bundle's Keras model as a runner; TensorFlow loads here."""
    return KerasRunner(bundle.keras_model(), bundle.model_config, batch_size)


def load_runner(bundle: Bundle, backend: str = "auto", batch_size: int = 32) -> LogProbRunner:
    """``auto`` takes the bundle's ONNX graph when it has one, else the Keras model."""
    check_backend(backend)
    onnx_path = bundle.onnx_path
    if backend == "onnx" or (backend == "auto" and onnx_path is not None):
        if onnx_path is None:
            raise BundleError(f"{bundle.path}: no model.onnx in the bundle (run: ctcasr export "
                              f"{bundle.path})")  # fmt: skip
        return OnnxRunner(onnx_path, bundle.model_config, batch_size, bundle.weights_path)
    return keras_runner(bundle, batch_size)
