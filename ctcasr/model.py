"""The acoustic model: Conv1D front, bidirectional GRU stack, dense layer to labels + blank.

Inputs are padded feature batches ``[B, T, F]`` and their lengths ``[B]``; the lengths become
a mask for the GRUs, so a padded utterance gets exactly the outputs it gets alone.
Output is log-probabilities ``[B, ceil(T / stride), num_classes]`` with the blank last.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ctcasr.errors import ConfigError
from ctcasr.utils import check_field_types, config_from_dict, import_tensorflow, plain


@dataclass(frozen=True)
class ModelConfig:
    num_features: int = 20
    num_classes: int = 29  # alphabet size + blank
    conv_filters: int = 192
    conv_kernel: int = 11
    conv_stride: int = 2
    rnn_units: int = 160
    rnn_layers: int = 2
    dropout: float = 0.1

    def __post_init__(self) -> None:
        check_field_types(self, "model")
        for name in (
            "num_features",
            "num_classes",
            "conv_filters",
            "conv_kernel",
            "conv_stride",
            "rnn_units",
            "rnn_layers",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"model setting {name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")

    def to_dict(self) -> dict[str, Any]:
        return plain(asdict(self))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        return config_from_dict(cls, data, "model")


def output_lengths(input_lengths: np.ndarray | int, config: ModelConfig) -> np.ndarray:
    """Frames out of the model for each input length: ceil(T / stride)."""
    lengths = np.asarray(input_lengths, dtype=np.int64)
    return -(-lengths // config.conv_stride)


def weight_count(config: ModelConfig) -> int:
    """Numbers in all of :func:`build_model`'s weights (batch-norm statistics too), by arithmetic:
    a bundle's settings can be checked against its weights file before anything is built."""
    units, gates = config.rnn_units, 3  # a GRU (reset_after): kernel, recurrent kernel, 2 biases
    total = config.conv_kernel * config.num_features * config.conv_filters  # conv, no bias
    total += 4 * config.conv_filters  # batch norm: gamma, beta, moving mean and variance
    for i in range(min(config.rnn_layers, 2)):  # layers after the second are all alike
        inputs = config.conv_filters if i == 0 else 2 * units
        layer = 2 * gates * units * (inputs + units + 2)  # two directions
        total += layer if i == 0 else layer * (config.rnn_layers - 1)
    return total + 2 * units * config.num_classes + config.num_classes  # dense


def build_model(config: ModelConfig):  # -> keras.Model
    """Build the Keras graph. TensorFlow is imported here, not at module import."""
    import_tensorflow()
    import keras
    from keras import layers

    features = keras.Input(shape=(None, config.num_features), name="features")
    lengths = keras.Input(shape=(), dtype="int32", name="lengths")

    # Fixed left padding (not 'same', whose split depends on T) keeps frame j centred on
    # input frame j * stride whatever the padded length, so batching never shifts outputs.
    k = config.conv_kernel
    x = layers.ZeroPadding1D((k // 2, (k - 1) // 2), name="conv_pad")(features)
    x = layers.Conv1D(
        config.conv_filters,
        k,
        strides=config.conv_stride,
        padding="valid",
        use_bias=False,
        name="conv",
    )(x)
    x = layers.BatchNormalization(name="conv_bn")(x)
    x = layers.ReLU(max_value=20.0, name="conv_relu")(x)
    mask = sequence_mask_layer()(config.conv_stride, name="mask")(lengths, x)
    for i in range(config.rnn_layers):
        x = layers.Bidirectional(
            layers.GRU(config.rnn_units, return_sequences=True, reset_after=True),
            merge_mode="concat",
            name=f"bigru_{i + 1}",
        )(x, mask=mask)
        if config.dropout:
            x = layers.Dropout(config.dropout, name=f"dropout_{i + 1}")(x)
    logits = layers.Dense(config.num_classes, name="logits")(x)
    log_probs = layers.Activation("log_softmax", name="log_probs", dtype="float32")(logits)
    return keras.Model(inputs=[features, lengths], outputs=log_probs, name="ctcasr")


@functools.cache
def sequence_mask_layer():
    """The mask layer class (defined lazily: it needs keras, which module import must not load)."""
    import_tensorflow()
    import keras

    @keras.saving.register_keras_serializable(package="ctcasr")
    class SequenceMask(keras.layers.Layer):
        """Boolean mask ``[B, T']`` of the valid frames after the strided convolution."""

        def __init__(self, stride: int, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.stride = stride

        def call(self, lengths, reference):
            from keras import ops

            out_len = (lengths + self.stride - 1) // self.stride
            steps = ops.shape(reference)[1]
            return ops.arange(steps)[None, :] < ops.cast(out_len, "int32")[:, None]

        def compute_output_shape(self, lengths_shape, reference_shape):
            return (reference_shape[0], reference_shape[1])

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "stride": self.stride}

    return SequenceMask


def is_folded_norm(gamma, mean, variance, epsilon: float) -> bool:
    """Whether the conv's batch norm is the identity a model rebuilt from ``model.onnx`` has
    (the graph folds the norm into the conv), which a fine-tune of such a model keeps frozen:
    its weights line up with the graph's, not with a model's that trained a norm of its own."""
    one = np.float32(1)
    return bool(np.all(gamma == one) and np.all(mean == 0)
                and np.all(variance == one - np.float32(epsilon)))  # fmt: skip


def count_parameters(model) -> int:
    return int(sum(np.prod(w.shape) for w in model.weights if w.trainable))
