"""ONNX export: the exported graph agrees with Keras on real audio, and transcription with it
never loads TensorFlow."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ctcasr.bundle import load_bundle
from ctcasr.cli import app
from ctcasr.errors import BundleError, BusyError, ConfigError
from ctcasr.features import featurize
from ctcasr.runtime import KerasRunner, OnnxRunner, load_runner
from ctcasr.transcribe import Transcriber

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CLIPS = [str(EXAMPLES / f"{w}.wav") for w in ("seven", "three", "zero")]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Path:
    """A copy of the bundled model with its ONNX export beside the Keras weights."""
    folder = tmp_path_factory.mktemp("bundle") / "model"
    shutil.copytree(load_bundle().path, folder)
    result = CliRunner().invoke(app, ["export", str(folder)])  # (re)written from the weights
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and (folder / "model.onnx").stat().st_size > 100_000
    return folder


def test_onnx_matches_keras_on_real_audio(exported, fsdd_dir, an4_dir):
    bundle = load_bundle(exported)
    files = sorted((an4_dir / "wav" / "an4test_clstk").glob("*/*.flac"))[:24]
    files += sorted(fsdd_dir.glob("*_0.flac"))[:8]
    feats = [featurize(f, bundle.frontend) for f in files]
    # Batches of mixed lengths: padding must not leak into either backend's results.
    keras_out = KerasRunner(bundle.keras_model(), bundle.model_config, batch_size=8)(feats)
    onnx_out = OnnxRunner(bundle.onnx_path, bundle.model_config, batch_size=8)(feats)
    for k, o in zip(keras_out, onnx_out, strict=True):
        assert k.shape == o.shape
        assert np.abs(k - o).max() <= 1e-4
    # Batched or alone, the ONNX result is the same.
    alone = OnnxRunner(bundle.onnx_path, bundle.model_config, batch_size=1)(feats[:4])
    for a, o in zip(alone, onnx_out[:4], strict=True):
        np.testing.assert_allclose(a, o, atol=1e-5)


def test_transcribe_with_onnx_never_imports_tensorflow(exported):
    code = (
        "import sys, json\n"
        "from ctcasr.transcribe import Transcriber\n"
        f"t = Transcriber({str(exported)!r})\n"
        f"texts = [r.text for r in t.transcribe_batch({CLIPS!r})]\n"
        "print(json.dumps([texts, t.acoustic_model.backend, 'tensorflow' in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    texts, backend, tf_loaded = __import__("json").loads(out.stdout.strip().splitlines()[-1])
    assert backend == "onnx" and tf_loaded is False
    keras_texts = [r.text for r in Transcriber(exported, backend="keras").transcribe_batch(CLIPS)]
    assert texts == keras_texts


def test_backend_errors_are_one_line(exported, tmp_path):
    plain = tmp_path / "plain"
    shutil.copytree(exported, plain)
    if not (plain / "model.weights.h5").exists():  # the bundled model ships ONNX only
        load_bundle(plain).keras_model().save_weights(str(plain / "model.weights.h5"))
    (plain / "model.onnx").unlink()
    with pytest.raises(BundleError, match=r"no model\.onnx in the bundle \(run: ctcasr export"):
        load_runner(load_bundle(plain), "onnx")
    assert load_runner(load_bundle(plain)).backend == "keras"  # auto falls back
    (plain / "model.onnx").write_bytes(b"not a protobuf")
    result = CliRunner().invoke(app, ["transcribe", "--model", str(plain), CLIPS[0]])
    assert result.exit_code != 0
    assert "model.onnx: cannot load ONNX model" in str(result.exception)
    with pytest.raises(ConfigError, match=r"^unknown backend 'tpu'; choose one of: .*onnx"):
        load_runner(load_bundle(plain), "tpu")


def test_onnx_only_bundle_rebuilds_keras_and_fine_tunes(exported, tmp_path, fsdd_dir):
    """A bundle that ships only model.onnx (half the size) still trains and re-exports."""
    from ctcasr.export import check_export
    from ctcasr.train import TrainConfig, train
    from tests.helpers import greedy_scores, write_fsdd_manifest

    slim = tmp_path / "slim"
    shutil.copytree(exported, slim)
    result = CliRunner().invoke(app, ["export", str(slim), "--drop-keras"])
    assert result.exit_code == 0, result.output
    assert not (slim / "model.weights.h5").exists()
    bundle = load_bundle(slim)
    assert bundle.onnx_path is not None
    # The Keras model rebuilt from the graph computes what the graph computes.
    assert check_export(bundle, bundle.onnx_path) <= 1e-4
    files = sorted(fsdd_dir.glob("*_0.flac"))[:6]
    feats = [featurize(f, bundle.frontend) for f in files]
    rebuilt = KerasRunner(bundle.keras_model(), bundle.model_config)(feats)
    original = load_bundle(exported)
    reference = KerasRunner(original.keras_model(), original.model_config)(feats)
    for a, b in zip(rebuilt, reference, strict=True):
        assert np.abs(a - b).max() <= 1e-4
    # Fine-tuning starts from it like from any bundle: in training mode too, where the
    # folded (identity) batch norm, left to batch statistics, moved every output.
    import dataclasses

    from ctcasr.model import build_model
    from ctcasr.runtime import pad_batch
    from ctcasr.train import freeze_folded_norm

    batch, lengths = pad_batch(feats)
    model = build_model(dataclasses.replace(bundle.model_config, dropout=0.0))
    assert not freeze_folded_norm(model)  # a new model's norm is a norm
    model.set_weights(bundle.keras_model().get_weights())
    assert freeze_folded_norm(model)
    training = model([batch, lengths], training=True).numpy()
    np.testing.assert_allclose(training, model([batch, lengths]).numpy(), atol=1e-5)
    manifest = write_fsdd_manifest(tmp_path / "train.jsonl", fsdd_dir, range(10, 11))
    dev = write_fsdd_manifest(tmp_path / "dev.jsonl", fsdd_dir, range(5, 6))
    config = TrainConfig(train_manifests=[str(manifest)], output_dir=str(tmp_path / "run"),
                         dev_manifest=str(dev),
                         epochs=1, batch_size=8, init_from=str(slim), tensorboard=False,
                         model={"conv_filters": original.model_config.conv_filters,
                                "conv_kernel": original.model_config.conv_kernel,
                                "conv_stride": original.model_config.conv_stride,
                                "rnn_units": original.model_config.rnn_units,
                                "rnn_layers": original.model_config.rnn_layers},
                         frontend=original.frontend)  # fmt: skip
    result = train(config, verbose=0)
    assert result.epochs_run == 1
    # The dev scores training logged are the saved model's, measured here again; and they are
    # a trained model's (an untrained one says nothing: CER 1), so the check can fail.
    tuned = greedy_scores(load_bundle(result.bundle_path), str(dev))
    assert tuned == pytest.approx((result.best_dev_cer, result.best_dev_wer), abs=1e-9)
    assert result.best_dev_cer < 0.5


def _bundle_with(path, **changes):
    """A tiny bundle whose model differs from TINY_MODEL by ``changes``."""
    import keras

    from ctcasr.bundle import save_bundle
    from ctcasr.features import FrontendConfig
    from ctcasr.model import ModelConfig, build_model
    from ctcasr.text import Alphabet
    from tests.helpers import TINY_MODEL

    keras.utils.set_random_seed(5)
    frontend = changes.pop("frontend", FrontendConfig(n_mfcc=13, deltas=1))
    config = ModelConfig(num_features=frontend.num_features, num_classes=Alphabet().num_classes,
                         **{**TINY_MODEL, **changes})  # fmt: skip
    save_bundle(path, build_model(config), frontend, config, Alphabet())
    return path


def test_weights_or_graph_from_another_model_are_refused(tmp_path):
    """Keras skips layers the model lacks, and the ONNX runner never compared the graph with
    bundle.json: either ran as a different model, silently wrong (or, for the graph, was a
    traceback at the first batch when it took another number of features)."""
    import onnx

    from ctcasr.bundle import ONNX_FILE, WEIGHTS_FILE, load_bundle
    from ctcasr.errors import BundleError
    from ctcasr.export import GRAPH_CONFIG_KEY, export_onnx
    from ctcasr.features import FrontendConfig
    from ctcasr.runtime import load_runner
    from tests.helpers import tiny_bundle

    tiny_bundle(tmp_path / "one", 1)  # one GRU layer
    deep = _bundle_with(tmp_path / "deep", rnn_layers=2)
    export_onnx(deep)
    wide = _bundle_with(tmp_path / "wide", frontend=FrontendConfig(n_mfcc=20, deltas=0))
    export_onnx(wide)

    def one_with(name: str, source: Path) -> Path:
        target = tmp_path / f"one_{len(list(tmp_path.glob('one_*')))}"
        shutil.copytree(tmp_path / "one", target)
        if name != WEIGHTS_FILE:
            (target / WEIGHTS_FILE).unlink()
        shutil.copy(source, target / name)
        return target

    with pytest.raises(BundleError, match=r"holds \d+ weight arrays but the model in bundle"):
        load_bundle(one_with(WEIGHTS_FILE, deep / WEIGHTS_FILE)).keras_model()
    graph = one_with(ONNX_FILE, deep / ONNX_FILE)
    with pytest.raises(BundleError, match=r"rnn_layers: 2 in the graph, 1 in bundle\.json"):
        load_runner(load_bundle(graph), "onnx")
    with pytest.raises(BundleError, match=r"graph has more GRU layers than the bundle's model"):
        load_bundle(graph).keras_model()  # rebuilt from the graph
    # A graph exported before graphs recorded their model: its dimensions are still checked.
    bare = onnx.load(str(wide / ONNX_FILE))
    del bare.metadata_props[:]
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    assert GRAPH_CONFIG_KEY not in {p.key for p in bare.metadata_props}
    with pytest.raises(BundleError, match="graph takes 20 features but the bundle's model 26"):
        load_runner(load_bundle(one_with(ONNX_FILE, tmp_path / "bare.onnx")), "onnx")
    # The bundles themselves load and agree with their own graphs.
    assert load_runner(load_bundle(deep), "onnx") is not None


def test_graph_stale_after_the_weights_changed_is_refused(tmp_path):
    """A graph records the weights it was exported from: weights replaced after ``ctcasr
    export`` (copied in, retrained into the folder) left the old graph to run in their place,
    silently, since ``auto`` prefers the graph. A copied bundle still fits its graph."""
    from ctcasr.bundle import WEIGHTS_FILE, load_bundle
    from ctcasr.errors import BundleError
    from ctcasr.export import export_onnx
    from ctcasr.runtime import load_runner
    from tests.helpers import tiny_bundle

    tiny_bundle(tmp_path / "a", 1)
    tiny_bundle(tmp_path / "b", 2)
    export_onnx(tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "copy")
    assert load_runner(load_bundle(tmp_path / "copy"), "auto").backend == "onnx"
    shutil.copy(tmp_path / "b" / WEIGHTS_FILE, tmp_path / "a" / WEIGHTS_FILE)
    for backend in ("auto", "onnx"):
        with pytest.raises(BundleError, match=r"exported from other weights than model\.weig"):
            load_runner(load_bundle(tmp_path / "a"), backend)
    assert load_runner(load_bundle(tmp_path / "a"), "keras").backend == "keras"
    export_onnx(tmp_path / "a")  # re-exported: the graph fits again
    assert load_runner(load_bundle(tmp_path / "a"), "auto").backend == "onnx"


def test_unknown_backend_is_refused_when_the_transcriber_is_made(tmp_path):
    """Checked only when the model first loaded: a misspelt backend passed the Transcriber's
    construction and failed the first input (a server's first request)."""
    from tests.helpers import tiny_bundle

    tiny_bundle(tmp_path / "a", 1)
    with pytest.raises(ConfigError, match=r"^unknown backend 'onxx'; choose one of"):
        Transcriber(tmp_path / "a", backend="onxx")


def test_an_export_into_a_bundle_another_export_writes_is_refused(tmp_path):
    """Two `ctcasr export --drop-keras BUNDLE` at once: the second read the Keras weights the
    first had just deleted and failed with "No such file" (or h5py's own error), though the
    first succeeded. The bundle is now locked while an export writes it, as a training's folder
    is, and the second is refused in one line before it reads anything."""
    from ctcasr.utils import LOCK_NAME
    from tests.helpers import held_elsewhere, tiny_bundle

    bundle = tmp_path / "b"
    tiny_bundle(bundle, 0)
    before = sorted(p.name for p in bundle.iterdir())
    with held_elsewhere(bundle) as first:
        result = CliRunner().invoke(app, ["export", str(bundle), "--drop-keras"])
        assert isinstance(result.exception, BusyError)  # main() prints it as one error: line
        assert str(result.exception) == (f"{bundle}: another export (pid {first.pid}) is "
                                         "writing to this bundle; wait for it to end")  # fmt: skip
        assert sorted(p.name for p in bundle.iterdir()) == sorted([*before, LOCK_NAME])
    # -o writes outside the bundle, which it only reads: not refused
    with held_elsewhere(bundle):
        assert CliRunner().invoke(app, ["export", str(bundle), "-o",
                                        str(tmp_path / "m.onnx")]).exit_code == 0  # fmt: skip
    assert CliRunner().invoke(app, ["export", str(bundle), "--drop-keras"]).exit_code == 0
    assert sorted(p.name for p in bundle.iterdir()) == ["alphabet.txt", "bundle.json",
                                                        "model.onnx"]  # fmt: skip


def test_export_writes_nothing_into_the_bundled_models(tmp_path, monkeypatch):
    """`ctcasr export default` rebuilt the bundled model's graph and wrote it over the
    installed package's model.onnx (a lock file first), and `-o` could name a file in there;
    tune, average and train refuse that folder. The package's folder is a copy here."""
    import ctcasr.bundle
    from ctcasr.errors import BundleError
    from ctcasr.export import export_onnx

    package = tmp_path / "pretrained"
    shutil.copytree(ctcasr.bundle.PRETRAINED_DIR / "default", package / "default")
    monkeypatch.setattr(ctcasr.bundle, "PRETRAINED_DIR", package)
    before = {p.name: p.stat().st_mtime_ns for p in (package / "default").iterdir()}
    for bundle, output in ((package / "default", None), ("default", package / "default" / "x.onnx"),
                           (package / "default", package / "new.onnx")):  # fmt: skip
        with pytest.raises(BundleError, match="inside the installed package's bundled models"):
            export_onnx(bundle, output)
    assert {p.name: p.stat().st_mtime_ns for p in (package / "default").iterdir()} == before
    assert sorted(p.name for p in package.iterdir()) == ["default"]
