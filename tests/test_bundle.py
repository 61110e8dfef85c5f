"""Model bundles: save/load round trip, validation, and atomic replacement."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from ctcasr.bundle import ALPHABET_FILE, CONFIG_FILE, WEIGHTS_FILE, load_bundle, save_bundle
from ctcasr.errors import BundleError
from ctcasr.features import FrontendConfig, featurize
from ctcasr.model import ModelConfig, build_model
from ctcasr.runtime import keras_runner
from ctcasr.text import Alphabet
from tests.helpers import TINY_MODEL


@pytest.fixture
def saved_bundle(tmp_path):
    import keras

    keras.utils.set_random_seed(3)
    alphabet = Alphabet()
    frontend = FrontendConfig(n_mfcc=13, deltas=1)
    config = ModelConfig(num_features=frontend.num_features, num_classes=alphabet.num_classes,
                         **TINY_MODEL)
    model = build_model(config)
    path = save_bundle(tmp_path / "bundle", model, frontend, config, alphabet,
                       metadata={"note": "test"})
    return path, model, frontend


def test_round_trip_gives_identical_outputs(saved_bundle, fsdd_files):
    path, model, frontend = saved_bundle
    bundle = load_bundle(path)
    assert bundle.frontend == frontend
    assert bundle.metadata == {"note": "test"}
    feats = [featurize(f, bundle.frontend) for f in fsdd_files]
    loaded = keras_runner(bundle)(feats)
    for f, out in zip(feats, loaded, strict=True):
        original = model([f[None], np.array([len(f)], dtype="int32")]).numpy()[0]
        np.testing.assert_array_equal(out, original)


def test_missing_parts_are_named(saved_bundle, tmp_path):
    path, *_ = saved_bundle
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "nowhere")
    for part in (CONFIG_FILE, ALPHABET_FILE, WEIGHTS_FILE):
        broken = tmp_path / f"no-{part}"
        shutil.copytree(path, broken)
        (broken / part).unlink()
        with pytest.raises(BundleError, match=str(broken)):
            load_bundle(broken)


def test_alphabet_mismatch_is_rejected(saved_bundle):
    path, *_ = saved_bundle
    (path / ALPHABET_FILE).write_text("a\nb\nc\n")
    with pytest.raises(BundleError, match="alphabet has 3 symbols"):
        load_bundle(path)


def test_corrupt_config_is_rejected(saved_bundle):
    path, *_ = saved_bundle
    (path / CONFIG_FILE).write_text("{not json")
    with pytest.raises(BundleError, match="unreadable bundle config"):
        load_bundle(path)
    (path / CONFIG_FILE).write_text(json.dumps({"format": "ctcasr-bundle", "version": 1}))
    with pytest.raises(BundleError, match="missing section"):
        load_bundle(path)


def test_failed_save_leaves_old_bundle_intact(saved_bundle, tmp_path):
    path, model, frontend = saved_bundle
    before = {p.name: p.read_bytes() for p in path.iterdir()}
    config = load_bundle(path).model_config
    with pytest.raises(FileNotFoundError):
        save_bundle(path, model, frontend, config, Alphabet(),
                    extra_files={"lm.arpa": tmp_path / "does-not-exist.arpa"})
    after = {p.name: p.read_bytes() for p in path.iterdir()}
    assert after == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bundle")]
