"""The acoustic model: shapes, padding invariance, and CTC loss falling on real speech."""

from __future__ import annotations

import numpy as np
import pytest

from ctcasr.errors import ConfigError
from ctcasr.features import FrontendConfig, featurize
from ctcasr.model import ModelConfig, build_model, count_parameters, output_lengths
from ctcasr.runtime import pad_batch
from ctcasr.text import Alphabet
from tests.helpers import TINY_MODEL, fsdd_entries


def test_output_shape_and_parameter_count():
    config = ModelConfig(num_features=20, num_classes=29, **TINY_MODEL)
    model = build_model(config)
    x = np.random.default_rng(0).normal(size=(3, 41, 20)).astype("float32")
    out = model([x, np.array([41, 30, 7], dtype="int32")]).numpy()
    assert out.shape == (3, 21, 29)
    assert out.shape[1] == output_lengths(41, config)
    # Log-softmax: every frame is a distribution.
    np.testing.assert_allclose(np.exp(out).sum(-1), 1.0, rtol=1e-5)
    # conv (5*20*32) + bn (4*32) + bigru (2 * 3*(32*32 + 32*32 + 2*32)) + dense (64*29 + 29)
    expected = 5 * 20 * 32 + 2 * 32 + 2 * 3 * (32 * 32 + 32 * 32 + 2 * 32) + 64 * 29 + 29
    assert count_parameters(model) == expected


def test_padding_does_not_change_outputs():
    """An utterance gets the same log-probs alone as inside a longer padded batch."""
    config = ModelConfig(num_features=20, num_classes=29, **TINY_MODEL)
    model = build_model(config)
    rng = np.random.default_rng(1)
    a = rng.normal(size=(37, 20)).astype("float32")
    b = rng.normal(size=(64, 20)).astype("float32")
    batch, lengths = pad_batch([a, b])
    together = model([batch, lengths]).numpy()
    alone = model([a[None], np.array([37], dtype="int32")]).numpy()
    n = int(output_lengths(37, config))
    np.testing.assert_allclose(together[0, :n], alone[0], atol=1e-5)


@pytest.mark.parametrize("bad", [dict(rnn_layers=0), dict(dropout=1.0), dict(conv_stride=0)])
def test_bad_config_rejected(bad):
    ((name, value),) = bad.items()
    with pytest.raises(ConfigError, match=rf"{name} must be .*, got {value}$"):
        ModelConfig(**bad)


def test_ctc_loss_falls_on_real_batch(fsdd_dir):
    import keras

    from ctcasr.train import make_train_step

    alphabet = Alphabet()
    frontend = FrontendConfig()
    entries = fsdd_entries(fsdd_dir, range(10, 11))  # 20 real utterances, two speakers
    feats = [featurize(e.audio_filepath, frontend) for e in entries]
    labels = [alphabet.encode(e.text) for e in entries]
    batch, lengths = pad_batch(feats)
    label_lens = np.array([len(lab) for lab in labels], dtype="int32")
    padded_labels = np.zeros((len(labels), label_lens.max()), dtype="int32")
    for i, lab in enumerate(labels):
        padded_labels[i, : len(lab)] = lab

    keras.utils.set_random_seed(0)
    config = ModelConfig(num_features=frontend.num_features, num_classes=alphabet.num_classes,
                         **TINY_MODEL)
    model = build_model(config)
    optimizer = keras.optimizers.Adam(3e-3)
    step = make_train_step(model, optimizer, config, alphabet.blank_index)
    losses = [float(step(batch, lengths, padded_labels, label_lens)) for _ in range(40)]
    assert all(np.isfinite(losses))
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])
