"""Model bundles: save/load round trip, validation, and atomic replacement."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from ctcasr.bundle import (
    ALPHABET_FILE,
    CONFIG_FILE,
    PRETRAINED_DIR,
    WEIGHTS_FILE,
    average_bundles,
    load_bundle,
    save_bundle,
)
from ctcasr.errors import BundleError, CtcasrError
from ctcasr.features import FrontendConfig, featurize
from ctcasr.runtime import keras_runner
from ctcasr.text import Alphabet
from tests.helpers import TINY_MODEL, tiny_bundle


@pytest.fixture
def saved_bundle(tmp_path):
    path, frontend = tmp_path / "bundle", FrontendConfig(n_mfcc=13, deltas=1)
    model = tiny_bundle(path, 3, frontend=frontend, metadata={"note": "test"})
    return path, model, frontend


def test_round_trip_gives_identical_outputs(saved_bundle, fsdd_files):
    path, model, frontend = saved_bundle
    bundle = load_bundle(path)
    assert bundle.frontend == frontend
    assert bundle.metadata == {"note": "test"}
    feats = [featurize(f, bundle.frontend) for f in fsdd_files]
    for a, b in zip(bundle.keras_model().get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    # The runner pads the three into one batch; on some CPUs (oneDNN with AVX-512) a padded
    # batch rounds differently from a single utterance, so outputs agree to float32 round-off.
    loaded = keras_runner(bundle)(feats)
    for f, out in zip(feats, loaded, strict=True):
        original = model([f[None], np.array([len(f)], dtype="int32")]).numpy()[0]
        np.testing.assert_allclose(out, original, rtol=1e-5, atol=1e-5)


def test_missing_parts_are_named(saved_bundle, tmp_path):
    path, *_ = saved_bundle
    with pytest.raises(BundleError, match="not found"):
        load_bundle(tmp_path / "nowhere")
    for i, part in enumerate((CONFIG_FILE, ALPHABET_FILE, WEIGHTS_FILE)):
        broken = tmp_path / f"broken{i}"  # a folder name that does not name the part itself
        shutil.copytree(path, broken)
        (broken / part).unlink()
        with pytest.raises(BundleError) as info:
            load_bundle(broken)
        message = str(info.value)
        assert message.startswith(f"{broken}") and part in message, message
        assert message.count(str(broken)) == 1, message  # the bundle was named twice
        assert "\n" not in message
    (broken / ALPHABET_FILE).write_text("a\na\n")  # a damaged alphabet: its line, once
    with pytest.raises(BundleError) as info:
        load_bundle(broken)
    assert str(info.value) == f"{broken / ALPHABET_FILE}:2: duplicate alphabet entry 'a'"


def test_a_bundle_whose_name_begins_a_setting_error_is_still_named(saved_bundle, tmp_path,
                                                                   monkeypatch):  # fmt: skip
    """Only an alphabet error names the bundle itself: a bundle at ``model`` (a training run's
    folder, loaded from the run) with a bad model setting said "model setting rnn_units must
    be an integer", as if the bundle's name were the start of the message."""
    path, *_ = saved_bundle
    shutil.copytree(path, tmp_path / "model")
    config = json.loads((tmp_path / "model" / CONFIG_FILE).read_text())
    config["model"]["rnn_units"] = "x"
    (tmp_path / "model" / CONFIG_FILE).write_text(json.dumps(config))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BundleError) as info:
        load_bundle("model")
    assert str(info.value) == "model: model setting rnn_units must be an integer, got 'x'"


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



@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: [c], "not a ctcasr bundle config"),  # a list: AttributeError before
        (lambda c: {**c, "version": "2"}, 'version must be a JSON integer, got "2"'),
        (lambda c: {**c, "decoder": "beam"}, 'decoder must be a JSON object, got "beam"'),
        (lambda c: {**c, "metadata": [1, 2]}, "metadata must be a JSON object, got \\[1, 2\\]"),
        (lambda c: {**c, "decoder": {"name": "beam", "beam": 5}},
         "decoder setting 'beam' must be a JSON object, got 5"),
        # null was a TypeError (version) or loaded and broke tune later (metadata)
        (lambda c: {**c, "version": None}, "version must be a JSON integer, got null"),
        (lambda c: {**c, "metadata": None}, "metadata must be a JSON object, got null"),
        (lambda c: {**c, "version": 0}, "version must be 1 or more, got 0"),
        (lambda c: {**c, "ctcasr_version": 1}, "ctcasr_version must be a JSON string, got 1"),
    ],
)
def test_badly_shaped_config_is_one_error(saved_bundle, change, message):
    path, *_ = saved_bundle
    config = json.loads((path / CONFIG_FILE).read_text())
    (path / CONFIG_FILE).write_text(json.dumps(change(config)))
    with pytest.raises(BundleError, match=message):
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


def test_average_is_the_elementwise_mean_and_keeps_the_first_bundles_settings(tmp_path):
    lm = tmp_path / "lm.arpa"
    lm.write_text("\\data\\\n", encoding="utf-8")
    decoder = {"name": "kenlm", "kenlm": {"lm": "lm.arpa", "alpha": 0.5}}
    a = tiny_bundle(tmp_path / "a", 1, decoder=decoder, extra_files={"lm.arpa": lm}).get_weights()
    b = tiny_bundle(tmp_path / "b", 2).get_weights()
    c = tiny_bundle(tmp_path / "c", 3).get_weights()
    out = average_bundles([tmp_path / "a", tmp_path / "b", tmp_path / "c"], tmp_path / "soup")
    soup = load_bundle(out)
    # The seeds give different kernels (biases and batch-norm scales start equal).
    assert sum(not np.allclose(x, y) for x, y in zip(a, b, strict=True)) >= 3
    for x, y, z, mean in zip(a, b, c, soup.keras_model().get_weights(), strict=True):
        np.testing.assert_allclose(mean, (x + y + z) / 3, rtol=1e-6, atol=1e-7)
    assert soup.decoder == decoder and (out / "lm.arpa").read_text() == "\\data\\\n"
    assert soup.metadata == {"seed": 1, "averaged_from": [str(tmp_path / p) for p in "abc"]}
    assert soup.onnx_path is None  # stale for the new weights: ctcasr export makes a new one


def test_average_takes_training_checkpoints_too(tmp_path):
    """A run's best few epochs: the bundle and checkpoint folders (weights.npz as training
    writes them) averaged together; the checkpoints are named in the metadata."""
    a = tiny_bundle(tmp_path / "a", 1).get_weights()
    b = tiny_bundle(tmp_path / "b", 2).get_weights()
    c = tiny_bundle(tmp_path / "c", 3).get_weights()
    for name, weights in (("epoch-0002", b), ("epoch-0005", c)):
        (tmp_path / "ckpt" / name).mkdir(parents=True)
        np.savez(tmp_path / "ckpt" / name / "weights.npz", *weights)
    ckpts = [tmp_path / "ckpt" / "epoch-0002", tmp_path / "ckpt" / "epoch-0005"]
    soup = load_bundle(average_bundles([tmp_path / "a"], tmp_path / "soup", ckpts))
    for x, y, z, mean in zip(a, b, c, soup.keras_model().get_weights(), strict=True):
        np.testing.assert_allclose(mean, (x + y + z) / 3, rtol=1e-6, atol=1e-7)
    assert soup.metadata["averaged_from"] == [str(tmp_path / "a")]
    assert soup.metadata["averaged_checkpoints"] == [str(c) for c in ckpts]

    # The run's train_config.json says which front end the checkpoints were trained on: the
    # same shapes on log-mel features were averaged into an MFCC bundle without a word.
    logmel = FrontendConfig(kind="logmel", n_mels=26, deltas=0)
    assert logmel.num_features == load_bundle(tmp_path / "a").frontend.num_features
    (tmp_path / "train_config.json").write_text(json.dumps({"frontend": logmel.to_dict()}))
    with pytest.raises(BundleError, match="epoch-0002: trained on another front end"):
        average_bundles([tmp_path / "a"], tmp_path / "soup2", ckpts)
    (tmp_path / "train_config.json").write_text(
        json.dumps({"frontend": load_bundle(tmp_path / "a").frontend.to_dict()}))
    assert average_bundles([tmp_path / "a"], tmp_path / "soup3", ckpts).is_dir()

    np.savez(tmp_path / "ckpt" / "epoch-0002" / "weights.npz", *b[:-1])  # a layer short
    with pytest.raises(BundleError, match="epoch-0002: checkpoint weights do not match"):
        average_bundles([tmp_path / "a"], tmp_path / "soup2", ckpts)
    (tmp_path / "ckpt" / "epoch-0005" / "weights.npz").write_bytes(b"not a zip")
    with pytest.raises(BundleError, match="epoch-0005: not a readable training checkpoint"):
        average_bundles([tmp_path / "a"], tmp_path / "soup2", ckpts[1:])
    assert not (tmp_path / "soup2").exists()


def test_average_refuses_a_checkpoint_of_another_alphabet_or_stride(tmp_path):
    """A checkpoint's shapes match whenever the alphabet has as many symbols and only the
    stride differs: its run's saved model and train_config.json say what it was trained with
    (a run with two letters swapped, or another stride, was averaged in without a word)."""
    from ctcasr.model import ModelConfig

    tiny_bundle(tmp_path / "a", 1)
    bundle = load_bundle(tmp_path / "a")
    run = tmp_path / "run"
    (run / CKPT).mkdir(parents=True)
    np.savez(run / CKPT / "weights.npz", *bundle.keras_model().get_weights())
    saved = {"frontend": bundle.frontend.to_dict(), "model": TINY_MODEL}
    (run / "train_config.json").write_text(json.dumps(saved))
    shutil.copytree(tmp_path / "a", run / "model")
    assert average_bundles([tmp_path / "a"], tmp_path / "soup", [run / CKPT]).is_dir()

    labels = list(bundle.alphabet.labels)
    labels[1], labels[5] = labels[5], labels[1]
    (run / "model" / "alphabet.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    with pytest.raises(BundleError, match="epoch-0001: trained with another alphabet"):
        average_bundles([tmp_path / "a"], tmp_path / "soup2", [run / CKPT])
    shutil.copy(tmp_path / "a" / "alphabet.txt", run / "model" / "alphabet.txt")
    strided = {**TINY_MODEL, "conv_stride": 3}
    ModelConfig(**strided)  # the same weight shapes, another model
    (run / "train_config.json").write_text(json.dumps({**saved, "model": strided}))
    with pytest.raises(BundleError, match="epoch-0001: trained with other model settings"):
        average_bundles([tmp_path / "a"], tmp_path / "soup2", [run / CKPT])
    # dropout does not change the weights
    (run / "train_config.json").write_text(
        json.dumps({**saved, "model": {**TINY_MODEL, "dropout": 0.3}}))
    assert average_bundles([tmp_path / "a"], tmp_path / "soup3", [run / CKPT]).is_dir()
    assert not (tmp_path / "soup2").exists()


CKPT = Path("checkpoints") / "epoch-0001"


def test_average_refuses_fewer_than_two_or_mismatched_bundles(tmp_path):
    tiny_bundle(tmp_path / "a", 1)
    tiny_bundle(tmp_path / "other", 2, frontend=FrontendConfig(n_mfcc=20))
    with pytest.raises(BundleError, match="at least two bundles or checkpoints"):
        average_bundles([tmp_path / "a"], tmp_path / "soup")
    with pytest.raises(BundleError, match="needs a bundle first"):
        average_bundles([], tmp_path / "soup", [tmp_path / "x", tmp_path / "y"])
    with pytest.raises(BundleError, match=r"other: its model settings differ .*one architecture"):
        average_bundles([tmp_path / "a", tmp_path / "other"], tmp_path / "soup")
    assert not (tmp_path / "soup").exists()


def test_average_command(tmp_path):
    from typer.testing import CliRunner

    from ctcasr.cli import app

    a = tiny_bundle(tmp_path / "a", 1).get_weights()
    b = tiny_bundle(tmp_path / "b", 2).get_weights()
    soup = tmp_path / "soup"
    result = CliRunner().invoke(app, ["average", str(tmp_path / "a"), str(tmp_path / "b"),
                                      "-o", str(soup)])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"wrote {soup}: the mean of 2 bundles' weights" in result.stdout
    np.testing.assert_allclose(load_bundle(soup).keras_model().get_weights()[0],
                               (a[0] + b[0]) / 2, rtol=1e-6)  # fmt: skip
    result = CliRunner().invoke(app, ["average", str(tmp_path / "a"), "-o", str(soup)])
    assert result.exit_code != 0 and "at least two" in str(result.exception)
    (tmp_path / "epoch-0003").mkdir()
    np.savez(tmp_path / "epoch-0003" / "weights.npz", *b)
    result = CliRunner().invoke(app, ["average", str(tmp_path / "a"), "--checkpoint",
                                      str(tmp_path / "epoch-0003"), "-o", str(tmp_path / "s2")])
    assert result.exit_code == 0, result.output
    assert "the mean of 1 bundle's and 1 checkpoint's weights" in result.stdout
    np.testing.assert_allclose(load_bundle(tmp_path / "s2").keras_model().get_weights()[0],
                               (a[0] + b[0]) / 2, rtol=1e-6)  # fmt: skip


def test_store_settings_for_a_decoder_that_is_not_the_default(tmp_path):
    """The bundled model keeps kenlm as its default and stores a tuned grammar threshold for
    when someone brings a command list."""
    from ctcasr.bundle import store_decoder_settings
    from ctcasr.transcribe import Transcriber

    tiny_bundle(tmp_path / "a", 1, decoder={"name": "greedy"})
    store_decoder_settings(load_bundle(tmp_path / "a"), "grammar", {"threshold": 0.6},
                           make_default=False)  # fmt: skip
    bundle = load_bundle(tmp_path / "a")
    assert bundle.decoder == {"name": "greedy", "grammar": {"threshold": 0.6}}
    assert Transcriber(bundle).decoder == "greedy"
    chosen = Transcriber(bundle, decoder="grammar", decoder_options={"commands": ["yes", "no"]})
    assert chosen.decoder_impl.threshold == 0.6 and chosen.decoder_impl.commands == ["yes", "no"]
    given = Transcriber(bundle, decoder="grammar",
                        decoder_options={"commands": ["yes"], "threshold": 0.2})  # fmt: skip
    assert given.decoder_impl.threshold == 0.2


def test_writing_a_bundle_never_deletes_what_is_not_one(tmp_path):
    """`average -o`, `tune -o` and `export -o` replaced the target whole: a folder of the
    user's files was emptied, an existing file was moved aside with a traceback."""
    from ctcasr.bundle import store_decoder_settings
    from ctcasr.export import export_onnx

    tiny_bundle(tmp_path / "a", 1)
    tiny_bundle(tmp_path / "b", 2)
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    a_file = tmp_path / "a_file"
    a_file.write_text("keep me too")
    for target in (mine, a_file):
        with pytest.raises(BundleError, match="not replaced"):
            average_bundles([tmp_path / "a", tmp_path / "b"], target)
        with pytest.raises(BundleError, match="not replaced"):
            store_decoder_settings(load_bundle(tmp_path / "a"), "greedy", {}, output=target)
    assert (mine / "notes.txt").read_text() == "keep me" and a_file.read_text() == "keep me too"
    with pytest.raises(BundleError, match="is a folder"):
        export_onnx(tmp_path / "a", mine)
    # A bundle, an empty folder or a new path is written as before.
    average_bundles([tmp_path / "a", tmp_path / "b"], tmp_path / "soup")
    average_bundles([tmp_path / "a", tmp_path / "b"], tmp_path / "soup")
    (tmp_path / "empty").mkdir()
    store_decoder_settings(load_bundle(tmp_path / "a"), "greedy", {}, output=tmp_path / "empty")
    assert (tmp_path / "empty" / "bundle.json").is_file()


def test_no_bundle_is_written_into_the_bundled_models_folder(tmp_path, monkeypatch):
    """`tune -m default -o ctcasr/pretrained/default` (and `average ... -o` there) replaced
    the installed bundled model for every later run, though `tune` in place was refused. The
    package's folder is a copy here: the old code wrote into it."""
    import ctcasr.bundle
    from ctcasr.bundle import check_replaceable, store_decoder_settings

    package = tmp_path / "pretrained"
    shutil.copytree(PRETRAINED_DIR / "default", package / "default")
    monkeypatch.setattr(ctcasr.bundle, "PRETRAINED_DIR", package)
    before = {p.name: p.read_bytes() for p in (package / "default").iterdir()}
    source = load_bundle(package / "default")
    for target in (package / "default", package / "new", package / "default" / "sub"):
        with pytest.raises(BundleError, match=f"^{re.escape(str(target))}: inside the "
                                              "installed package's bundled models"):
            check_replaceable(target)  # what tune checks of its output before its search
        with pytest.raises(BundleError, match="inside the installed package's bundled models"):
            save_bundle(target, None, source.frontend, source.model_config, source.alphabet)
    with pytest.raises(BundleError, match="inside the installed package's bundled models"):
        store_decoder_settings(source, "greedy", {}, output=package / "new")
    assert {p.name: p.read_bytes() for p in (package / "default").iterdir()} == before
    assert sorted(p.name for p in package.iterdir()) == ["default"]
    # elsewhere, as before
    store_decoder_settings(source, "greedy", {}, output=tmp_path / "copy")
    assert load_bundle(tmp_path / "copy").decoder["name"] == "greedy"


def test_an_output_that_is_a_loop_of_links_is_one_error(tmp_path):
    """`tune -o LOOP` ran its search and `average -o LOOP` its averaging, then both ended in
    a RuntimeError traceback ("Symlink loop"); `train -o LOOP` said only "File exists"."""
    from ctcasr.bundle import check_replaceable, store_decoder_settings
    from ctcasr.train import check_output_dir

    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    said = f"^{re.escape(str(loop))}: a loop of symbolic links; choose another output folder$"
    with pytest.raises(BundleError, match=said):
        check_replaceable(loop)
    shutil.copytree(PRETRAINED_DIR / "default", tmp_path / "b")
    with pytest.raises(BundleError, match=said):
        store_decoder_settings(load_bundle(tmp_path / "b"), "greedy", {}, output=loop)
    with pytest.raises(CtcasrError, match=said):
        check_output_dir(loop, resume=False)
    assert loop.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == ["b", "loop"]


def test_average_refuses_its_output_before_the_work(tmp_path, monkeypatch):
    """`ctcasr average A B -o FOLDER_OF_MY_FILES` imported TensorFlow, built and averaged
    every model, and only then refused the folder (seconds; more for a big model)."""
    from ctcasr.bundle import Bundle

    def built(self):
        raise AssertionError("the models were built")

    shutil.copytree(PRETRAINED_DIR / "default", tmp_path / "a")
    shutil.copytree(PRETRAINED_DIR / "default", tmp_path / "b")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    monkeypatch.setattr(Bundle, "keras_model", built)
    with pytest.raises(BundleError, match="holds files that are not a model bundle"):
        average_bundles([tmp_path / "a", tmp_path / "b"], mine)
    assert (mine / "notes.txt").read_text() == "keep me"


def test_a_killed_writers_temporary_file_is_not_copied_on(tmp_path):
    from ctcasr.bundle import store_decoder_settings

    tiny_bundle(tmp_path / "a", 1)
    tiny_bundle(tmp_path / "b", 2)
    (tmp_path / "a" / ".model.onnx.123-abc.tmp").write_bytes(b"half an export")
    store_decoder_settings(load_bundle(tmp_path / "a"), "greedy", {}, output=tmp_path / "tuned")
    average_bundles([tmp_path / "a", tmp_path / "b"], tmp_path / "soup")
    for copy in ("tuned", "soup"):
        assert not list((tmp_path / copy).glob(".*")), copy


def test_an_export_lock_held_in_a_source_is_not_copied_on(tmp_path):
    """ctcasr export holds ``.ctcasr.lock`` in the bundle it writes: a tune or an average made
    from that bundle meanwhile carried the lock file, with the export's pid, into its copy
    (and a tune in place put an unheld one where the next export would lock it)."""
    from ctcasr.bundle import store_decoder_settings
    from ctcasr.utils import LOCK_NAME, folder_lock

    tiny_bundle(tmp_path / "a", 1)
    tiny_bundle(tmp_path / "b", 2)
    with folder_lock(tmp_path / "a", str):
        assert (tmp_path / "a" / LOCK_NAME).is_file()
        store_decoder_settings(load_bundle(tmp_path / "a"), "greedy", {},
                               output=tmp_path / "tuned")  # fmt: skip
        average_bundles([tmp_path / "a", tmp_path / "b"], tmp_path / "soup")
    for copy in ("tuned", "soup"):
        assert not (tmp_path / copy / LOCK_NAME).exists(), copy


def test_average_refuses_a_graph_only_bundle_beside_keras_weights_and_ignores_dropout(tmp_path):
    """A bundle exported with --drop-keras rebuilds its model with batch norm folded into the
    convolution: averaged element by element with Keras weights, a model and its own copy
    gave a different model. Dropout, a training setting, no longer blocks averaging."""
    from ctcasr.export import export_onnx

    tiny_bundle(tmp_path / "a", 1)
    shutil.copytree(tmp_path / "a", tmp_path / "a_graph")
    export_onnx(tmp_path / "a_graph", drop_keras=True)
    with pytest.raises(BundleError, match=r"a_graph: has only model\.onnx"):
        average_bundles([tmp_path / "a", tmp_path / "a_graph"], tmp_path / "soup")
    config = json.loads((tmp_path / "a" / CONFIG_FILE).read_text())
    shutil.copytree(tmp_path / "a", tmp_path / "a_dropout")
    config["model"]["dropout"] = 0.3
    (tmp_path / "a_dropout" / CONFIG_FILE).write_text(json.dumps(config))
    average_bundles([tmp_path / "a", tmp_path / "a_dropout"], tmp_path / "soup")
    assert load_bundle(tmp_path / "soup").model_config == load_bundle(tmp_path / "a").model_config


def test_a_fine_tune_of_a_graph_only_bundle_averages_with_it_and_not_with_its_keras_source(
    tmp_path,
):
    """The README fine-tunes the bundled model (graph only) and averages "a fine-tuning run
    and the run it started from", but that pair was refused as graph against Keras weights,
    though the fine-tune keeps the graph's folded norm, frozen; and that fine-tune averaged
    without a word with the Keras weights the graph was exported from, whose norm is not
    folded, into a different model."""
    from ctcasr.export import export_onnx
    from ctcasr.train import freeze_folded_norm

    tiny_bundle(tmp_path / "a", 1)
    shutil.copytree(tmp_path / "a", tmp_path / "a_graph")
    export_onnx(tmp_path / "a_graph", drop_keras=True)
    graph = load_bundle(tmp_path / "a_graph")
    model = graph.keras_model()
    assert freeze_folded_norm(model)
    tuned = [w + np.float32(0.01) if w.ndim == 3 else w for w in model.get_weights()]
    model.set_weights(tuned)  # a step of fine-tuning: the conv moved, the frozen norm did not
    save_bundle(tmp_path / "ft", model, graph.frontend, graph.model_config, graph.alphabet)

    average_bundles([tmp_path / "ft", tmp_path / "a_graph"], tmp_path / "soup")
    soup = load_bundle(tmp_path / "soup").keras_model().get_weights()
    start = load_bundle(tmp_path / "a_graph").keras_model().get_weights()
    for got, w_ft, w_graph in zip(soup, tuned, start, strict=True):
        np.testing.assert_allclose(got, (w_ft + w_graph) / 2, rtol=1e-6, atol=1e-7)
    with pytest.raises(BundleError, match=r"/a: has weights with a batch norm of their own"):
        average_bundles([tmp_path / "ft", tmp_path / "a"], tmp_path / "soup2")


def test_copied_option_files_never_overwrite_another_decoders_or_the_bundles_own(tmp_path):
    """An LM stored for a second decoder replaced kenlm's lm.arpa (still named by kenlm's
    settings); a path option named alphabet would have replaced alphabet.txt."""
    from ctcasr.bundle import store_decoder_settings

    tiny_bundle(tmp_path / "a", 1)
    first, second, words = tmp_path / "first.arpa", tmp_path / "second.arpa", tmp_path / "w.txt"
    first.write_text("kenlm's LM")
    second.write_text("another decoder's LM")
    words.write_text("a\nb\n")
    store_decoder_settings(load_bundle(tmp_path / "a"), "kenlm", {"lm": str(first)},
                           path_options=("lm",))  # fmt: skip
    store_decoder_settings(load_bundle(tmp_path / "a"), "other", {"lm": str(second)},
                           path_options=("lm",), make_default=False)  # fmt: skip
    store_decoder_settings(load_bundle(tmp_path / "a"), "third", {"alphabet": str(words)},
                           path_options=("alphabet",), make_default=False)  # fmt: skip
    bundle = load_bundle(tmp_path / "a")
    assert bundle.decoder["kenlm"]["lm"] == "lm.arpa"
    assert (tmp_path / "a" / "lm.arpa").read_text() == "kenlm's LM"
    assert bundle.decoder["other"]["lm"] == "other.lm.arpa"
    assert (tmp_path / "a" / "other.lm.arpa").read_text() == "another decoder's LM"
    assert bundle.decoder["third"]["alphabet"] == "third.alphabet.txt"
    assert bundle.alphabet.labels == Alphabet().labels


def test_a_retune_leaves_no_lm_files_its_new_settings_do_not_name(tmp_path):
    """Re-tuned with another LM, a bundle kept the old lm.arpa beside the new lm.bin, and the
    old LM's unigrams.txt that the new settings no longer named. What any decoder's settings
    still name, the bundle's own files and files no setting ever named stay."""
    from ctcasr.bundle import store_decoder_settings

    kenlm_paths = ("lm", "unigrams")
    bundle = tmp_path / "a"
    tiny_bundle(bundle, 1)
    (bundle / "notes.txt").write_text("the user's")
    arpa, words, binary = tmp_path / "x.arpa", tmp_path / "w.txt", tmp_path / "y.bin"
    arpa.write_text("old LM")
    words.write_text("a\nb\n")
    binary.write_text("new LM")
    store_decoder_settings(load_bundle(bundle), "kenlm", {"lm": str(arpa), "unigrams": str(words)},
                           path_options=kenlm_paths)  # fmt: skip
    assert {"lm.arpa", "unigrams.txt"} <= {p.name for p in bundle.iterdir()}

    tuned = tmp_path / "tuned"  # written elsewhere: the copy is clean, the source untouched
    store_decoder_settings(load_bundle(bundle), "kenlm", {"lm": str(binary)},
                           path_options=kenlm_paths, output=tuned)  # fmt: skip
    assert not (tuned / "lm.arpa").exists() and not (tuned / "unigrams.txt").exists()
    assert (tuned / "lm.bin").read_text() == "new LM" and (tuned / "notes.txt").is_file()
    assert (bundle / "lm.arpa").is_file() and (bundle / "unigrams.txt").is_file()

    # Another decoder stores the bundle's own lm.arpa: it must survive kenlm's re-tune.
    store_decoder_settings(load_bundle(bundle), "other", {"lm": str(bundle / "lm.arpa")},
                           path_options=("lm",), make_default=False)  # fmt: skip
    store_decoder_settings(load_bundle(bundle), "kenlm", {"lm": str(binary)},
                           path_options=kenlm_paths)  # fmt: skip
    names = {p.name for p in bundle.iterdir()}
    assert "unigrams.txt" not in names and {"lm.arpa", "lm.bin", "notes.txt"} <= names
    assert load_bundle(bundle).decoder["other"]["lm"] == "lm.arpa"
    # Re-tuned with the LM the bundle already holds: kept, not deleted as the old one.
    store_decoder_settings(load_bundle(bundle), "kenlm", {"lm": str(bundle / "lm.bin")},
                           path_options=kenlm_paths)  # fmt: skip
    assert (bundle / "lm.bin").read_text() == "new LM"
    assert load_bundle(bundle).decoder["kenlm"] == {"lm": "lm.bin"}


def test_tune_in_place_keeps_everything_else_in_the_bundle(tmp_path):
    """Only top-level, non-hidden files were copied into the new folder: a subfolder and a
    hidden file of the user's were deleted by a tune that reported success."""
    from ctcasr.bundle import store_decoder_settings

    tiny_bundle(tmp_path / "b", 1)
    (tmp_path / "b" / "extras").mkdir()
    (tmp_path / "b" / "extras" / "notes.txt").write_text("keep me")
    (tmp_path / "b" / ".gitattributes").write_text("*.h5 binary\n")
    (tmp_path / "b" / ".model.onnx.123-abcd.tmp").write_bytes(b"half")  # a killed export's
    store_decoder_settings(load_bundle(tmp_path / "b"), "beam", {"beam_width": 4})
    assert (tmp_path / "b" / "extras" / "notes.txt").read_text() == "keep me"
    assert (tmp_path / "b" / ".gitattributes").read_text() == "*.h5 binary\n"
    assert not (tmp_path / "b" / ".model.onnx.123-abcd.tmp").exists()
    assert load_bundle(tmp_path / "b").decoder["beam"] == {"beam_width": 4}


def test_a_tuned_copy_of_a_read_only_bundle_is_writable(tmp_path):
    """Copies kept their source's mode: from a read-only install (a Nix store, a vendored
    tree made read-only) `tune -o` wrote into a copied bundle.json it could not write
    (Permission denied, with an undeletable temporary folder left), and as root the copy
    itself was read-only, so a later tune in place was refused."""
    import stat

    from ctcasr.bundle import store_decoder_settings

    source = tmp_path / "installed"
    shutil.copytree(PRETRAINED_DIR / "default", source, ignore=lambda *_: {"model.onnx"})
    (source / "model.onnx").write_bytes(b"a graph")  # load_bundle only needs it there
    (source / "extras").mkdir()
    (source / "extras" / "notes.txt").write_text("keep me")
    everything = [source, *source.rglob("*")]
    for path in everything:
        path.chmod(path.stat().st_mode & ~0o222)
    try:
        tuned = store_decoder_settings(load_bundle(source), "beam", {"beam_width": 4},
                                       output=tmp_path / "tuned")  # fmt: skip
        extras = {"extras": source / "extras", "lm.arpa": source / "lm.arpa"}
        tiny_bundle(tmp_path / "soup", 1, extra_files=extras)  # as an average copies them
    finally:
        for path in everything:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
    for copy in (tuned, tmp_path / "soup"):
        assert all(p.stat().st_mode & stat.S_IWUSR for p in [copy, *copy.rglob("*")]), copy
    assert (tuned / "extras" / "notes.txt").read_text() == "keep me"
    store_decoder_settings(load_bundle(tuned), "beam", {"beam_width": 8})  # in place
    assert load_bundle(tuned).decoder["beam"] == {"beam_width": 8}


def test_tune_through_a_symlink_updates_the_folder_it_names(tmp_path):
    """The link was renamed aside, a real folder made in its place, and rmtree then failed
    on the link: the bundle it named was never updated and every rerun failed."""
    from ctcasr.bundle import store_decoder_settings

    tiny_bundle(tmp_path / "v3", 1)
    (tmp_path / "current").symlink_to("v3")
    store_decoder_settings(load_bundle(tmp_path / "current"), "beam", {"beam_width": 4})
    assert (tmp_path / "current").is_symlink()
    assert load_bundle(tmp_path / "v3").decoder["beam"] == {"beam_width": 4}
    store_decoder_settings(load_bundle(tmp_path / "current"), "beam", {"beam_width": 8})
    assert load_bundle(tmp_path / "v3").decoder["beam"] == {"beam_width": 8}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["current", "v3"]


def test_export_never_overwrites_a_file_that_is_not_a_graph(tmp_path):
    """`export -o notes.txt` replaced the user's file, and `-o BUNDLE/bundle.json` the
    bundle's own config, so the bundle no longer loaded."""
    from ctcasr.export import export_onnx

    tiny_bundle(tmp_path / "b", 1)
    notes = tmp_path / "notes.txt"
    notes.write_text("keep me")
    config = (tmp_path / "b" / CONFIG_FILE).read_text()
    for target in (notes, tmp_path / "b" / CONFIG_FILE):
        with pytest.raises(BundleError, match=r"exists and is not an \.onnx file; not replaced"):
            export_onnx(tmp_path / "b", output=target)
    assert notes.read_text() == "keep me" and (tmp_path / "b" / CONFIG_FILE).read_text() == config
    assert export_onnx(tmp_path / "b", output=tmp_path / "x.onnx").is_file()
    assert export_onnx(tmp_path / "b", output=tmp_path / "x.onnx").is_file()  # a graph: replaced
    # `-o newdir/` (the slash is lost to Path) wrote a graph in a file called newdir.
    for target in (f"{tmp_path / 'newdir'}/", tmp_path / "graph"):
        with pytest.raises(BundleError, match=r"--output \(output=\) names the \.onnx file"):
            export_onnx(tmp_path / "b", output=target)
    assert not (tmp_path / "newdir").exists() and not (tmp_path / "graph").exists()


def test_file_system_errors_are_one_line_in_the_cli(tmp_path, monkeypatch):
    """A path under a file, or a bundle folder that cannot be written, were tracebacks
    (FileExistsError, PermissionError) from the atomic writers."""
    import subprocess
    import sys

    tiny_bundle(tmp_path / "a", 1)
    (tmp_path / "a_file").write_text("x")
    cli = [sys.executable, "-c", "from ctcasr.cli import main; main()"]
    for args in (["export", str(tmp_path / "a"), "-o", str(tmp_path / "a_file" / "m.onnx")],
                 ["average", str(tmp_path / "a"), str(tmp_path / "a"), "-o",
                  str(tmp_path / "a_file" / "avg")]):  # fmt: skip
        done = subprocess.run([*cli, *args], capture_output=True, text=True)
        assert done.returncode == 1, done.stderr
        assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
        assert "Traceback" not in done.stderr
    # A folder that cannot be written (root ignores permissions, so os.access stands in).
    from ctcasr.bundle import store_decoder_settings

    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if Path(p) == tmp_path / "a"
                        else real_access(p, mode))  # fmt: skip
    with pytest.raises(CtcasrError, match=r": cannot write the output folder \(not writable\)$"):
        store_decoder_settings(load_bundle(tmp_path / "a"), "beam", {"beam_width": 4})
    assert "beam" not in load_bundle(tmp_path / "a").decoder



def test_info_lists_files_and_names_a_missing_decoder_file(tmp_path):
    """info said nothing of sizes (its help promises them) and reported a bundle whose LM was
    gone as fine, though transcribe then failed on it."""
    from typer.testing import CliRunner

    from ctcasr.cli import app

    shutil.copytree(load_bundle(None).path, tmp_path / "b")
    shown = CliRunner().invoke(app, ["info", "-m", str(tmp_path / "b")])
    assert shown.exit_code == 0
    line = next(x for x in shown.output.splitlines() if x.startswith("files:"))
    assert re.search(r"model\.onnx \d+\.\d MB", line) and "lm.arpa" in line
    (tmp_path / "b" / "lm.arpa").unlink()
    broken = CliRunner().invoke(app, ["info", "-m", str(tmp_path / "b")])
    assert broken.exit_code == 1
    assert "decoder settings name files the bundle lacks: kenlm.lm = lm.arpa" in broken.output


def test_info_names_a_graph_that_transcribe_would_refuse(tmp_path):
    """info said `runtime: onnxruntime (model.onnx)` and exited 0 for a bundle whose graph
    was cut short or came from another model, though transcribe then failed on it."""
    from typer.testing import CliRunner

    from ctcasr.cli import app

    shutil.copytree(load_bundle(None).path, tmp_path / "b")
    graph = tmp_path / "b" / "model.onnx"
    whole = graph.read_bytes()
    graph.write_bytes(whole[:1000])  # a copy cut short
    cut = CliRunner().invoke(app, ["info", "-m", str(tmp_path / "b")])
    assert cut.exit_code == 1
    assert f"error: {graph}: cannot load ONNX model" in cut.output
    graph.write_bytes(whole)
    config = json.loads((tmp_path / "b" / "bundle.json").read_text(encoding="utf-8"))
    config["model"]["rnn_units"] = 128  # bundle.json edited after the export
    (tmp_path / "b" / "bundle.json").write_text(json.dumps(config), encoding="utf-8")
    other = CliRunner().invoke(app, ["info", "-m", str(tmp_path / "b")])
    assert other.exit_code == 1
    assert "graph was exported from another model than the bundle's (rnn_units" in other.output


def test_an_average_keeps_the_first_bundles_subfolders_and_hidden_files(tmp_path):
    """Only top-level visible files were copied: an LM kept in a subfolder, which the
    decoder settings name, was lost from the average. Temporaries stay behind."""
    lm = tmp_path / "3gram.arpa"
    lm.write_text("\\data\\\n", encoding="utf-8")
    tiny_bundle(tmp_path / "a", 1, decoder={"name": "kenlm", "kenlm": {"lm": "lm/3gram.arpa"}})
    (tmp_path / "a" / "lm").mkdir()
    (tmp_path / "a" / "lm" / "3gram.arpa").write_bytes(lm.read_bytes())
    (tmp_path / "a" / "lm" / ".3gram.arpa.12-ab.tmp").write_text("half", encoding="utf-8")
    (tmp_path / "a" / ".notes").write_text("mine", encoding="utf-8")
    (tmp_path / "a" / ".weights.h5.34-cd.tmp").write_text("half", encoding="utf-8")
    tiny_bundle(tmp_path / "b", 2)
    (tmp_path / "a" / "old.arpa").symlink_to(tmp_path / "gone.arpa")  # dangling: skipped
    (tmp_path / "a" / "lm" / "old.arpa").symlink_to(tmp_path / "gone.arpa")
    out = average_bundles([tmp_path / "a", tmp_path / "b"], tmp_path / "soup")
    assert (out / "lm" / "3gram.arpa").read_bytes() == lm.read_bytes()
    assert (out / ".notes").read_text(encoding="utf-8") == "mine"
    assert not list(out.rglob("*.tmp")) and not (out / "old.arpa").exists()
    # an average written inside its first source, twice, does not hold the previous one
    inside = average_bundles([tmp_path / "a", tmp_path / "b"], tmp_path / "a" / "soup")
    again = average_bundles([tmp_path / "a", tmp_path / "b"], tmp_path / "a" / "soup")
    assert inside == again and not (again / "soup").exists()
    assert (again / "lm" / "3gram.arpa").is_file()


def test_a_tune_written_inside_its_source_does_not_hold_the_previous_one(tmp_path):
    """The whole source folder was copied, the previous output in it too: each tune into
    a/tuned nested one more copy (13 MB a run with the bundled model)."""
    from ctcasr.bundle import store_decoder_settings

    tiny_bundle(tmp_path / "a", 1)
    for width in (4, 6, 8):
        options = {"beam_width": width}
        tuned = store_decoder_settings(load_bundle(tmp_path / "a"), "beam", options,
                                       output=tmp_path / "a" / "tuned")  # fmt: skip
    assert not (tuned / "tuned").exists()
    assert load_bundle(tuned).decoder["beam"] == {"beam_width": 8}
    assert "beam" not in load_bundle(tmp_path / "a").decoder


def test_a_link_back_into_the_bundle_is_not_followed(tmp_path):
    """Followed, a link to the bundle (or a folder above) inside it failed ``average`` and
    ``tune`` with a bare OSError once the path grew too long, and sibling folders linking
    to each other were copied inside each other to the link limit (three of them, without
    end); a dangling link or a loop of
    links failed ``tune`` with shutil's list of errors."""
    from ctcasr.bundle import store_decoder_settings

    for name, target in (("a", "."), ("c", "lm")):  # one loop each: two together branch
        tiny_bundle(tmp_path / name, 1)
        (tmp_path / name / "lm").mkdir()
        (tmp_path / name / "lm" / "words.txt").write_text("seven\n", encoding="utf-8")
        (tmp_path / name / "lm" / "loop").symlink_to((tmp_path / name / target).resolve())
    (tmp_path / "c" / "lm" / "knot").symlink_to(tmp_path / "c" / "lm" / "knot")
    for one, other in (("x", "y"), ("y", "x")):  # siblings linking to each other
        (tmp_path / "c" / one).mkdir(exist_ok=True)
        (tmp_path / "c" / other).mkdir(exist_ok=True)
        (tmp_path / "c" / one / f"to_{other}").symlink_to(tmp_path / "c" / other)
    (tmp_path / "c" / "lm" / "gone").symlink_to(tmp_path / "gone.arpa")  # dangling
    tiny_bundle(tmp_path / "b", 2)
    out = average_bundles([tmp_path / "a", tmp_path / "b"], tmp_path / "soup")
    assert (out / "lm" / "words.txt").read_text(encoding="utf-8") == "seven\n"
    assert not (out / "lm" / "loop").exists()
    tuned = store_decoder_settings(load_bundle(tmp_path / "c"), "beam", {"beam_width": 4},
                                   output=tmp_path / "tuned")  # fmt: skip
    assert (tuned / "lm" / "words.txt").is_file()
    assert {p.name for p in (tuned / "lm").iterdir()} == {"words.txt"}
    # each sibling's link is followed once, to a copy of the other, whose link back is not
    assert sorted(str(p.relative_to(tuned)) for p in (tuned / "x").rglob("*")) == ["x/to_y"]
    assert load_bundle(tuned).decoder["beam"] == {"beam_width": 4}


def test_an_average_does_not_inherit_the_first_sources_tuning_scores(tmp_path):
    tiny_bundle(tmp_path / "a", 1, metadata={"decoder_tuning": {"wer": 0.05}, "note": "x"})
    tiny_bundle(tmp_path / "b", 2)
    soup = load_bundle(average_bundles([tmp_path / "a", tmp_path / "b"], tmp_path / "soup"))
    assert "decoder_tuning" not in soup.metadata and soup.metadata["note"] == "x"


def test_relative_links_in_a_bundle_folder_are_followed_wherever_we_run(tmp_path, monkeypatch):
    """shutil's dangling-link check read a relative link against the current folder, not
    the link's own: an LM folder linked as ../../shared/lm was dropped from an average
    unless we happened to run from the right place."""
    (tmp_path / "shared" / "lm").mkdir(parents=True)
    (tmp_path / "shared" / "lm" / "3gram.arpa").write_text("\\data\\\n", encoding="utf-8")
    (tmp_path / "shared" / "top.txt").write_text("top", encoding="utf-8")
    tiny_bundle(tmp_path / "models" / "a", 1)
    (tmp_path / "models" / "a" / "extra").mkdir()
    (tmp_path / "models" / "a" / "extra" / "lm").symlink_to("../../../shared/lm")
    (tmp_path / "models" / "a" / "extra" / "top.txt").symlink_to("../../../shared/top.txt")
    tiny_bundle(tmp_path / "models" / "b", 2)
    monkeypatch.chdir(tmp_path)  # not a folder the relative links resolve from
    out = average_bundles([tmp_path / "models" / "a", tmp_path / "models" / "b"],
                          tmp_path / "soup")  # fmt: skip
    assert (out / "extra" / "lm" / "3gram.arpa").read_text(encoding="utf-8") == "\\data\\\n"
    assert (out / "extra" / "top.txt").read_text(encoding="utf-8") == "top"
    assert not (out / "extra" / "lm").is_symlink()  # copied: the bundle stands alone


def test_the_current_folder_as_a_bundle_path(tmp_path, monkeypatch):
    """``-m .`` inside a bundle failed with a ValueError traceback (no name to put ``.old``
    beside); ``-o .`` did too, after the whole tune search. A folder replaced whole cannot be
    the one we are in, so writing there is refused in one line, before any work."""
    from typer.testing import CliRunner

    from ctcasr.cli import app

    runner = CliRunner()
    bundle = tmp_path / "copy"
    shutil.copytree(PRETRAINED_DIR / "default", bundle)
    clip = str(Path(__file__).resolve().parents[1] / "examples" / "seven.wav")
    monkeypatch.chdir(bundle)
    for args in (["info", "-m", "."], ["transcribe", clip, "-m", "."],
                 ["transcribe", clip, "-m", "../copy/../copy"]):  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
    assert runner.invoke(app, ["transcribe", clip, "-m", "."]).stdout == f"{clip}\tseven\n"
    (tmp_path / "dev.jsonl").write_text(json.dumps(
        {"audio_filepath": str(tmp_path / "gone.wav"), "text": "seven"}) + "\n")  # fmt: skip
    for args in (["tune", "--manifest", "../dev.jsonl", "-m", ".", "--alphas", "0"],
                 ["tune", "--manifest", "../dev.jsonl", "-o", ".", "--alphas", "0"],
                 ["average", ".", ".", "-o", "."]):  # fmt: skip
        result = runner.invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        message = str(result.exception) if result.exception else result.output
        assert "is the current folder or holds it; not replaced" in message, (args, message)
        assert "gone.wav" not in message
    assert sorted(p.name for p in bundle.iterdir()) == sorted(
        p.name for p in (PRETRAINED_DIR / "default").iterdir())  # fmt: skip
    result = runner.invoke(app, ["transcribe", clip, "-m", "/"])
    assert result.exit_code == 1
    assert "/: not a model bundle" in str(result.exception or result.output)


@pytest.fixture
def default_copy(tmp_path):
    """A copy of the bundled model, to break: loading it needs no TensorFlow."""
    return Path(shutil.copytree(load_bundle(None).path, tmp_path / "b"))


def test_a_deeply_nested_bundle_config_is_one_error(default_copy):
    """A bundle.json nested a few thousand deep (valid JSON) was a RecursionError traceback
    from the json module, not a BundleError."""
    (default_copy / CONFIG_FILE).write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(BundleError, match="unreadable bundle config \\(nested too deeply\\)"):
        load_bundle(default_copy)
    (default_copy / CONFIG_FILE).write_text('{"format": "ctcasr-bundle", "metadata": '
                                            + '{"a": ' * 50_000 + "1" + "}" * 50_001)
    with pytest.raises(BundleError, match="nested too deeply"):
        load_bundle(default_copy)


@pytest.mark.parametrize("section", ["frontend", "model"])
@pytest.mark.parametrize(("value", "shown"), [(None, "null"), ([20], "\\[20\\]"), (5, "5")])
def test_a_settings_section_that_is_no_object_is_named(default_copy, section, value, shown):
    """"frontend": null was "'NoneType' object is not iterable", and "model": [20] "sequence
    item 0: expected str instance, int found": neither named the section."""
    config = json.loads((default_copy / CONFIG_FILE).read_text())
    (default_copy / CONFIG_FILE).write_text(json.dumps({**config, section: value}))
    with pytest.raises(BundleError, match=f"{section} must be a JSON object, got {shown}$"):
        load_bundle(default_copy)


def test_a_bundle_config_saved_with_a_byte_order_mark_loads(default_copy, tmp_path):
    """A bundle.json edited by hand in an editor that writes a UTF-8 byte-order mark was
    refused as "unreadable bundle config (Unexpected UTF-8 BOM ...)", though the bundle's
    alphabet.txt, LM and word lists are read with one. A tune writes it back without."""
    from ctcasr.bundle import store_decoder_settings

    config = (default_copy / CONFIG_FILE).read_bytes()
    (default_copy / CONFIG_FILE).write_bytes(b"\xef\xbb\xbf" + config)
    bundle = load_bundle(default_copy)
    assert bundle.decoder == json.loads(config)["decoder"]
    store_decoder_settings(bundle, "greedy", {}, output=tmp_path / "copy")
    assert (tmp_path / "copy" / CONFIG_FILE).read_bytes().startswith(b"{")
    assert load_bundle(tmp_path / "copy").decoder["name"] == "greedy"


def test_a_bundle_given_as_a_file_or_a_run_folder_says_what_it_is(default_copy, tmp_path):
    """A zipped bundle, a bundle's bundle.json or another file given as -m was "model bundle
    not found (expected a directory)", though it was there; a training run's folder was
    "bundle.json missing", not where its bundle is."""
    import zipfile

    with zipfile.ZipFile(tmp_path / "b.zip", "w") as archive:
        archive.write(default_copy / CONFIG_FILE, "b/bundle.json")
    run = tmp_path / "run"
    shutil.copytree(default_copy, run / "model")
    for path, said in (
        (tmp_path / "b.zip", "is a zip file, not a model bundle's folder; unzip it and give the "
                             "folder"),
        (default_copy / CONFIG_FILE, f"is a bundle's config file; the bundle is its folder, "
                                     f"{default_copy}"),
        (default_copy / "lm.arpa", "is a file, not a model bundle's folder"),
        (tmp_path / "none", "model bundle not found (expected a directory)"),
        (run, f"not a model bundle (bundle.json missing); a training run's folder? its bundle "
              f"is {run / 'model'}"),
    ):  # fmt: skip
        with pytest.raises(BundleError, match=f"^{re.escape(f'{path}: {said}')}$"):
            load_bundle(path)


def test_an_infinite_window_in_a_bundle_config_is_one_error(default_copy):
    """"win_ms": Infinity (valid to Python's json) was an OverflowError traceback from
    `ctcasr transcribe` and `ctcasr info`, not a line naming the bundle."""
    config = json.loads((default_copy / CONFIG_FILE).read_text())
    config["frontend"]["win_ms"] = float("inf")
    (default_copy / CONFIG_FILE).write_text(json.dumps(config))
    with pytest.raises(BundleError, match=f"^{re.escape(str(default_copy))}: win_ms must be a "
                                          "finite number, got inf$"):
        load_bundle(default_copy)


def test_a_stored_decoder_file_outside_the_bundle_is_said(default_copy, tmp_path):
    """A bundle whose decoder settings name a file outside it ('../x', an absolute path, a
    link out) had it read without a word: a grammar bundle from someone else turned any text
    file the process could read into its commands, and so into transcripts."""
    import warnings

    from typer.testing import CliRunner

    from ctcasr.cli import app
    from ctcasr.errors import CtcasrWarning
    from ctcasr.transcribe import decoder_settings

    shutil.copy(default_copy / "lm.arpa", tmp_path / "outside.arpa")
    (default_copy / "linked.arpa").symlink_to(tmp_path / "outside.arpa")
    config = json.loads((default_copy / CONFIG_FILE).read_text())
    for stored in ("../outside.arpa", str(tmp_path / "outside.arpa"), "linked.arpa"):
        config["decoder"]["kenlm"]["lm"] = stored
        (default_copy / CONFIG_FILE).write_text(json.dumps(config))
        with pytest.warns(CtcasrWarning, match=f"kenlm.lm names a file outside the bundle "
                                               f"\\(.*{re.escape(stored)}\\)"):
            decoder_settings(load_bundle(default_copy), "kenlm")
        shown = CliRunner().invoke(app, ["info", "-m", str(default_copy)])
        assert shown.exit_code == 0
        assert f"name files outside the bundle: kenlm.lm = {stored}" in shown.output
    # inside, or given by the caller: nothing to say
    config["decoder"]["kenlm"]["lm"] = "lm.arpa"
    (default_copy / CONFIG_FILE).write_text(json.dumps(config))
    with warnings.catch_warnings():
        warnings.simplefilter("error", CtcasrWarning)
        decoder_settings(load_bundle(default_copy), "kenlm")
        decoder_settings(load_bundle(default_copy), "kenlm", {"lm": str(tmp_path / "outside.arpa")})
    assert "outside" not in CliRunner().invoke(app, ["info", "-m", str(default_copy)]).output


@pytest.mark.parametrize("default", ["kenlm", "greedy"])
def test_a_stored_decoder_file_name_with_a_nul_is_one_error(default_copy, default):
    """A hand-edited "lm": "a\u0000b" was a ValueError traceback ("embedded null byte") from
    transcribe and from info, which checks every decoder's files, the default or not."""
    from typer.testing import CliRunner

    from ctcasr.cli import app
    from ctcasr.errors import ConfigError
    from ctcasr.transcribe import decoder_settings

    config = json.loads((default_copy / CONFIG_FILE).read_text())
    config["decoder"]["name"] = default
    config["decoder"]["kenlm"]["lm"] = "lm\0.arpa"
    (default_copy / CONFIG_FILE).write_text(json.dumps(config))
    said = "stored setting kenlm.lm is not a file name \\(it holds a NUL: "
    with pytest.raises(ConfigError, match=f"{re.escape(str(default_copy / CONFIG_FILE))}: {said}"):
        decoder_settings(load_bundle(default_copy), "kenlm")
    shown = CliRunner().invoke(app, ["info", "-m", str(default_copy)])
    assert shown.exit_code == 1 and not isinstance(shown.exception, ValueError), shown.output
    assert "decoder settings name files the bundle lacks: kenlm.lm" in shown.output


@pytest.mark.parametrize(("stored", "shown"), [(["lm.arpa"], '["lm.arpa"]'), (3, "3")])
def test_a_stored_decoder_file_that_is_no_name_is_placed(default_copy, stored, shown):
    """"lm": ["lm.arpa"] or "lm": 3 in a hand-edited bundle.json was "decoder 'kenlm':
    expected str, bytes or os.PathLike object, not list": neither the bundle nor the setting.
    A list of phrases where the option takes one (grammar's commands) is still a list."""
    from ctcasr.errors import ConfigError
    from ctcasr.transcribe import decoder_settings

    config = json.loads((default_copy / CONFIG_FILE).read_text())
    config["decoder"]["kenlm"]["lm"] = stored
    config["decoder"]["grammar"]["commands"] = ["yes", "no"]
    (default_copy / CONFIG_FILE).write_text(json.dumps(config))
    where = re.escape(f"{default_copy / CONFIG_FILE}: stored setting kenlm.lm is not a file "
                      f"name (got {shown}); correct it, or choose another decoder")  # fmt: skip
    with pytest.raises(ConfigError, match=f"^{where}"):
        decoder_settings(load_bundle(default_copy), "kenlm")
    assert decoder_settings(load_bundle(default_copy), "grammar")["commands"] == ["yes", "no"]


@pytest.mark.parametrize(
    ("sizes", "field"),
    [
        ({"rnn_units": 10**6, "conv_filters": 10**7, "rnn_layers": 10**5}, "rnn_units"),
        ({"conv_filters": 10**7}, "conv_filters"),
        ({"rnn_layers": 10**5}, "rnn_layers"),
    ],
)
def test_absurd_model_sizes_are_refused_before_the_model_is_built(saved_bundle, monkeypatch,
                                                                  sizes, field):  # fmt: skip
    # Building first (10**6 GRU units) hung or ran out of memory before the weights were read.
    import ctcasr.model
    from ctcasr.model import ModelConfig, weight_count

    path, model, _ = saved_bundle
    bundle = load_bundle(path)
    assert weight_count(bundle.model_config) == sum(int(np.prod(w.shape)) for w in model.weights)
    config = json.loads((path / CONFIG_FILE).read_text())
    config["model"].update(sizes)
    (path / CONFIG_FILE).write_text(json.dumps(config))

    def built(config: ModelConfig):
        raise AssertionError(f"model built before its size was checked: {config}")

    monkeypatch.setattr(ctcasr.model, "build_model", built)
    with pytest.raises(BundleError, match=f"^{re.escape(str(path / CONFIG_FILE))}: model"
                                          f".{field} .* but {WEIGHTS_FILE} holds at most"):
        load_bundle(path).keras_model()


def test_an_oversized_bundle_config_is_refused_unread(default_copy, monkeypatch):
    """bundle.json was read whole with no cap: a 1 GB one went into memory."""
    from ctcasr.bundle import MAX_CONFIG_BYTES

    config = json.loads((default_copy / CONFIG_FILE).read_text())
    config["metadata"]["pad"] = "x" * MAX_CONFIG_BYTES
    (default_copy / CONFIG_FILE).write_text(json.dumps(config))
    read_text = Path.read_text

    def guarded(self, *args, **kwargs):
        assert self.name != CONFIG_FILE, "an oversized bundle.json was read"
        return read_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "read_text", guarded)
    with pytest.raises(BundleError, match=f"^{re.escape(str(default_copy / CONFIG_FILE))}: "
                                          "[0-9,]+ bytes, more than a bundle config has"):
        load_bundle(default_copy)


def test_a_bundle_copied_into_a_full_disk_is_one_error_naming_the_copy(tmp_path, monkeypatch):
    """``tune -o`` into a full disk went on copying every file, then said
    "error: [('.../model.onnx', '.../.tuned.PID-HEX.tmp/model.onnx', "[Errno 28] ...")...]":
    one shutil.Error listing each failed copy under its temporary name. It stops at the
    first, names the copy the user asked for, and leaves nothing behind."""
    from ctcasr.bundle import store_decoder_settings
    from ctcasr.utils import os_error_text

    tried = []

    def full(src, dst, **kwargs):  # as the copy's sendfile fails
        tried.append(Path(src).name)
        raise OSError(28, "No space left on device", str(src), None, str(dst))

    monkeypatch.setattr(shutil, "copyfile", full)
    with pytest.raises(OSError) as caught:
        store_decoder_settings(load_bundle("default"), "greedy", {}, output=tmp_path / "tuned")
    monkeypatch.undo()
    assert not isinstance(caught.value, shutil.Error) and len(tried) == 1
    copy = tmp_path / "tuned" / tried[0]
    assert os_error_text(caught.value) == f"{copy}: No space left on device"
    assert list(tmp_path.iterdir()) == []


def test_weights_that_cannot_fit_fail_before_h5py_writes_them(saved_bundle, monkeypatch):
    """h5py writing into a disk that fills under it crashed the process: a segmentation fault
    in its close (``ctcasr train`` on a full disk, after a page of "Exception ignored"
    tracebacks), the bundle's temporary folder left behind. Room for the weights is claimed
    first; without it the save is one OSError naming the weights file, the old bundle kept."""
    path, model, frontend = saved_bundle
    before = (path / WEIGHTS_FILE).read_bytes()
    claimed = []

    def no_room(fd, offset, size):
        claimed.append(size)
        raise OSError(28, "No space left on device")

    def crash(*args, **kwargs):
        raise AssertionError("h5py wrote into a full disk")

    monkeypatch.setattr(os, "posix_fallocate", no_room, raising=False)
    monkeypatch.setattr(model, "save_weights", crash)
    config = load_bundle(path).model_config
    with pytest.raises(OSError) as caught:
        save_bundle(path, model, frontend, config, Alphabet())
    assert (caught.value.errno, caught.value.filename) == (28, str(path / WEIGHTS_FILE))
    assert claimed and claimed[0] > sum(w.nbytes for w in model.get_weights())
    assert (path / WEIGHTS_FILE).read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["bundle"]


def _edited_default(tmp_path: Path, edit) -> Path:
    """A copy of the bundled model with its bundle.json changed by ``edit`` (a bundle from
    another ctcasr version), loaded without TensorFlow."""
    path = tmp_path / "shared"
    shutil.copytree(PRETRAINED_DIR / "default", path)
    config = json.loads((path / CONFIG_FILE).read_text())
    edit(config)
    (path / CONFIG_FILE).write_text(json.dumps(config))
    return path


@pytest.mark.parametrize("edit", [
    lambda c: None,
    # A newer layout shaping a section differently was refused as that section's error.
    lambda c: c["decoder"].update(fallback=["greedy"]),
    lambda c: c["frontend"].update(dither=0.1),
    lambda c: c.update(model="conformer-small"),
])  # fmt: skip
def test_a_newer_bundle_format_is_refused_as_newer(tmp_path, edit):
    from ctcasr import __version__

    path = _edited_default(tmp_path, lambda c: (c.update(version=2), edit(c)))
    with pytest.raises(BundleError) as info:
        load_bundle(path)
    assert str(info.value) == (f"{path / CONFIG_FILE}: bundle format version 2 is newer than "
                               f"this ctcasr {__version__} reads (version 1); upgrade ctcasr "
                               "to load it")  # fmt: skip


def test_a_bundle_without_a_version_is_the_first_layout(tmp_path):
    path = _edited_default(tmp_path, lambda c: c.pop("version"))
    assert load_bundle(path).model_config == load_bundle(None).model_config


def test_a_written_bundle_records_the_ctcasr_that_wrote_it(saved_bundle, tmp_path):
    """A bundle passed on said nothing of the ctcasr that made it; each write records it
    (older versions ignore the key), and ``info`` shows it or says it was not recorded."""
    from typer.testing import CliRunner

    from ctcasr import __version__
    from ctcasr.bundle import WRITER_KEY, store_decoder_settings
    from ctcasr.cli import app

    path, *_ = saved_bundle
    assert load_bundle(path).written_by == __version__
    assert list(json.loads((path / CONFIG_FILE).read_text()))[:3] == ["format", "version",
                                                                      WRITER_KEY]  # fmt: skip
    # The bundled model predates the record; a copy stored by this ctcasr (tune) gains it.
    old = load_bundle(None)
    assert old.written_by is None
    shown = CliRunner().invoke(app, ["info", "-m", str(old.path)])
    assert "writer:    not recorded" in shown.output, shown.output
    out = store_decoder_settings(old, "beam", {"beam_width": 4}, make_default=False,
                                 output=tmp_path / "tuned")  # fmt: skip
    assert load_bundle(out).written_by == __version__
    assert WRITER_KEY not in json.loads((old.path / CONFIG_FILE).read_text())
    shown = CliRunner().invoke(app, ["info", "-m", str(out)])
    assert f"writer:    ctcasr {__version__}\n" in shown.output, shown.output
    # A newer layout's refusal names the ctcasr that wrote it.
    newer = _edited_default(tmp_path, lambda c: c.update(version=2, ctcasr_version="0.9.0"))
    with pytest.raises(BundleError, match=r"version 2 \(written by ctcasr 0\.9\.0\) is newer"):
        load_bundle(newer)


def test_info_warns_of_every_stored_decoder_that_transcribe_would_refuse(tmp_path):
    """README: a decoder's unknown or ill-typed stored settings are refused when it runs and
    `ctcasr info` warns; it checked the default decoder's alone, so a bundle passed on with a
    broken grammar section was described without a word, and `--decoder grammar` then failed.
    A section for a plug-in not installed here is no error unless that is the default."""
    from typer.testing import CliRunner

    from ctcasr.cli import app

    def edit(config: dict) -> None:
        config["decoder"]["grammar"]["threshold"] = "x"
        config["decoder"]["beam"] = {"unk": 1}
        config["decoder"]["notinstalled"] = {"x": 1}

    path = _edited_default(tmp_path, edit)
    shown = CliRunner().invoke(app, ["info", "-m", str(path)])
    assert shown.exit_code == 0, shown.output
    warned = [line for line in shown.output.splitlines() if line.startswith("warning:")]
    assert len(warned) == 2, shown.output
    assert warned[0].startswith(f"warning: {path / CONFIG_FILE}: stored setting: decoder "
                                "'grammar': option threshold must be a float, got 'x'")
    assert warned[1].startswith(f"warning: {path / CONFIG_FILE}: stores beam setting(s) unk,")
    assert "warning" not in CliRunner().invoke(app, ["info"]).output  # the bundled model


def test_a_default_decoder_stored_without_its_lm_names_the_bundle(tmp_path):
    """A bundle.json whose default kenlm decoder lost its "lm" was refused as "the kenlm
    decoder needs a language model (--lm FILE)", as if the user had asked for kenlm, and
    `ctcasr info` described it without a word."""
    from typer.testing import CliRunner

    from ctcasr.cli import app
    from ctcasr.errors import ConfigError
    from ctcasr.transcribe import Transcriber

    path = _edited_default(tmp_path, lambda c: c["decoder"]["kenlm"].pop("lm"))
    said = (f"{path / CONFIG_FILE}: the bundle's default decoder 'kenlm' stores no lm, which "
            "it needs; give it with --option lm=VALUE (decoder_options=), or choose another "
            "decoder with --decoder (decoder=)")  # fmt: skip
    with pytest.raises(ConfigError, match=f"^{re.escape(said)}$"):
        Transcriber(path)
    shown = CliRunner().invoke(app, ["info", "-m", str(path)])
    assert shown.exit_code == 0 and f"warning: {said}\n" in shown.output, shown.output
    lm = str(PRETRAINED_DIR / "default" / "lm.arpa")
    assert Transcriber(path, decoder_options={"lm": lm}).decoder == "kenlm"
    with pytest.raises(ConfigError, match=r"^the kenlm decoder needs a language model"):
        Transcriber(path, decoder="kenlm")  # asked for by the caller: the caller's to give


def test_a_stored_value_the_decoder_refuses_names_the_bundle(tmp_path):
    """A bundle.json whose default beam decoder stores "beam_width": 0 was refused as
    "beam_width must be at least 1, got 0", no word of where that came from. A value the
    caller gives is the caller's, and is refused as before."""
    from ctcasr.errors import ConfigError
    from ctcasr.transcribe import Transcriber

    path = _edited_default(tmp_path, lambda c: c["decoder"].update(
        name="beam", beam={"beam_width": 0}))  # fmt: skip
    said = (f"{path / CONFIG_FILE}: stored beam setting: beam_width must be at least 1, got 0; "
            "correct it, or choose another decoder with --decoder (decoder=)")
    with pytest.raises(ConfigError, match=f"^{re.escape(said)}$"):
        Transcriber(path)
    with pytest.raises(ConfigError, match=r"^beam_width must be at least 1, got -1$"):
        Transcriber(path, decoder_options={"beam_width": -1})
    assert Transcriber(path, decoder_options={"beam_width": 4}).decoder_impl.beam_width == 4


def test_decoder_settings_this_ctcasr_lacks_are_named_as_the_bundles(tmp_path):
    """A default decoder, or a decoder setting, stored by a newer ctcasr (or a plug-in not
    installed here) was refused as if the user had asked for it: "unknown decoder 'x'",
    "decoder 'kenlm' does not take option(s) unk_score", nothing naming the bundle."""
    from typer.testing import CliRunner

    from ctcasr.cli import app
    from ctcasr.errors import ConfigError
    from ctcasr.transcribe import Transcriber

    def refused(path: Path, start: str, end: str) -> str:
        with pytest.raises(ConfigError) as info:
            Transcriber(path)
        said = str(info.value)
        assert said.startswith(f"{path / CONFIG_FILE}: {start}") and said.endswith(
            f"; {end}, or choose another decoder with --decoder (decoder=)"), said
        return said

    path = _edited_default(tmp_path, lambda c: c["decoder"]["kenlm"].update(unk_score=-10.0))
    said = refused(path, "stores kenlm setting(s) unk_score, which decoder 'kenlm' here does "
                   "not take (it takes: lm, ", "upgrade ctcasr (written by a newer one?)")
    assert Transcriber(path, decoder="greedy").decoder == "greedy"
    shown = CliRunner().invoke(app, ["info", "-m", str(path)])  # described, and warned of
    assert shown.exit_code == 0 and f"warning: {said}" in shown.output, shown.output
    # An option the caller gives is the caller's: refused as before.
    with pytest.raises(ConfigError, match=r"^decoder 'beam' does not take option"):
        Transcriber(path, decoder="beam", decoder_options={"unk_score": 1.0})

    shutil.rmtree(path)
    # A stored value of another type (a newer layout's, or an edit) likewise.
    path = _edited_default(tmp_path, lambda c: c["decoder"]["kenlm"].update(alpha="0.5"))
    refused(path, "stored setting: decoder 'kenlm': option alpha must be a float, got '0.5'",
            "give it with --option alpha=VALUE (decoder_options=)")
    assert Transcriber(path, decoder_options={"alpha": 0.5}).decoder_impl.alpha == 0.5

    shutil.rmtree(path)
    path = _edited_default(tmp_path, lambda c: c["decoder"].update(name="newdec", newdec={}))
    refused(path, "the bundle's default decoder: unknown decoder 'newdec' (available: ",
            "install the plug-in or the newer ctcasr that provides it")
    assert Transcriber(path, decoder="kenlm").decoder == "kenlm"
    with pytest.raises(ConfigError, match=r"^unknown decoder 'newdec'"):
        Transcriber(path, decoder="newdec")


def test_an_average_carries_its_sources_model_cards(tmp_path):
    """``ctcasr average default default -o X`` wrote no MODEL_CARD.md: the mean of the
    bundled model lost the training data's licences and the attribution its CC BY and
    CC BY-SA sources ask adaptations to keep. The average's card now says what made it from
    what, then holds each distinct source card once (a source's tuning section left out: it
    measured that source's weights); sources without a card add nothing, and no card makes
    none. An average of averages lists every step and still holds each original card once."""
    from typer.testing import CliRunner

    from ctcasr.bundle import CARD_FILE, TUNED_MARK, store_decoder_settings
    from ctcasr.cli import app

    def card_of(path: Path) -> str:
        return (path / CARD_FILE).read_text(encoding="utf-8")

    card = "# Model A\n\nTrained on FSDD (CC BY-SA 4.0).\n\n## Training data and licences\n\nx\n"
    (tmp_path / "card.md").write_text(f"{card}\n{TUNED_MARK}\n## Decoder re-tuned\n\nold\n")
    tiny_bundle(tmp_path / "a", 1, extra_files={CARD_FILE: tmp_path / "card.md"})
    tiny_bundle(tmp_path / "b", 2)
    (tmp_path / "card.md").write_text("# Model C\n\n```\n# not a heading\n```\n")
    tiny_bundle(tmp_path / "c", 3, extra_files={CARD_FILE: tmp_path / "card.md"})
    a, b, c, soup = (tmp_path / n for n in ("a", "b", "c", "soup"))
    result = CliRunner().invoke(app, ["average", str(a), str(a), str(b), str(c), "-o", str(soup)])
    assert result.exit_code == 0, result.output
    text = card_of(soup)
    assert text.startswith("# Derived model\n\nIts weights derive from those of the bundles ")
    step = (r"- \d{4}-\d\d-\d\d \(UTC\): `ctcasr average` made `%s` as the mean of the "
            r"weights of `%s`, `%s`, `%s`\.\n")  # fmt: skip
    steps = re.findall(r"^- \d{4}.*\n", text, flags=re.M)
    assert len(steps) == 1 and re.fullmatch(step % tuple(map(re.escape, map(str, (soup, a, b, c)))),
                                            steps[0])  # fmt: skip
    held = re.split(r"^## Derived from\n\n", text, flags=re.M)[1:]
    assert held == [f"- `{a}`\n\n### Model A\n\nTrained on FSDD (CC BY-SA 4.0).\n\n"
                    "#### Training data and licences\n\nx\n\n<!-- ctcasr: a source's card, "
                    "as the bundles listed carried it -->\n",
                    f"- `{c}`\n\n### Model C\n\n```\n# not a heading\n```\n"]  # fmt: skip
    # A tune of the average replaces its own tuning section only: the sources' cards stay.
    tuned = tmp_path / "tuned"
    store_decoder_settings(load_bundle(soup), "greedy", {}, output=tuned,
                           card_note="## Decoder re-tuned\n\nnew")  # fmt: skip
    assert card_of(tuned) == f"{text.rstrip()}\n\n{TUNED_MARK}\n## Decoder re-tuned\n\nnew\n"

    # A mean of the tuned average, `a` again and `c`: both steps, each original card once.
    average_bundles([tuned, a, c], tmp_path / "soup2")
    again = card_of(tmp_path / "soup2")
    assert len(re.findall(r"^- \d{4}", again, flags=re.M)) == 2 and steps[0] in again
    assert again.count("### Model A") == again.count("### Model C") == 1
    assert f"## Derived from\n\n- `{a}`\n\n### Model A" in again
    assert "Decoder re-tuned" not in again
    # An average someone added to (the terms of their own data) is held whole, additions too.
    (soup / CARD_FILE).write_text(text.replace("## How it", "Mine: CC0.\n\n## How it"))
    average_bundles([soup, b], tmp_path / "soup3")
    assert card_of(tmp_path / "soup3").count("Mine: CC0.") == 1
    assert f"## Derived from\n\n- `{soup}`\n\n### Derived model" in card_of(tmp_path / "soup3")

    average_bundles([b, b], tmp_path / "plain")
    assert not (tmp_path / "plain" / CARD_FILE).exists()
    # The bundled model is named as such, not by its path inside the installed package.
    from ctcasr.bundle import CardSource

    label = CardSource.of_bundle(PRETRAINED_DIR / "default").label
    assert label.startswith("`default` (the model bundled with ctcasr ")
