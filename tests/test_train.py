"""Training end to end on a few real utterances: checkpoints, logs, resume, refusal to clobber."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from ctcasr.bundle import WEIGHTS_FILE, load_bundle
from ctcasr.data import AugmentConfig, ctc_min_frames, spec_augment
from ctcasr.errors import ConfigError, CtcasrError
from ctcasr.train import CHECKPOINTS, LATEST, TrainConfig, train
from tests.helpers import TINY_MODEL, greedy_scores, held_elsewhere, write_fsdd_manifest

pytestmark = pytest.mark.slow


def _config(tmp_path, fsdd_dir, epochs, **kwargs):
    tmp_path.mkdir(parents=True, exist_ok=True)
    train_m = write_fsdd_manifest(tmp_path / "train.jsonl", fsdd_dir, range(10, 13))
    dev_m = write_fsdd_manifest(tmp_path / "dev.jsonl", fsdd_dir, range(5, 6))
    return TrainConfig(
        train_manifests=[str(train_m)], dev_manifest=str(dev_m),
        output_dir=str(tmp_path / "run"), epochs=epochs, batch_size=16,
        model=TINY_MODEL, tensorboard=True,
        augment=AugmentConfig(speed_factors=(0.9, 1.0, 1.1)), **{"seed": 7, **kwargs},
    )


def test_train_checkpoint_resume(tmp_path, fsdd_dir):
    config = _config(tmp_path, fsdd_dir, epochs=2)
    result = train(config, verbose=0)
    run = tmp_path / "run"
    assert result.epochs_run == 2 and result.train_utterances == 60
    assert (run / CHECKPOINTS / LATEST).read_text().strip() == "epoch-0002"
    with open(run / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == [1, 2]
    assert list((run / "tensorboard").iterdir())
    # The best epoch is the one with the lowest logged dev (CER, WER), and the saved model is
    # that epoch's: its greedy CER on the dev set, measured here again, is the logged one.
    scores = [(float(r["dev_cer"]), float(r["dev_wer"])) for r in rows]
    best = min(range(len(scores)), key=scores.__getitem__)
    assert result.best_epoch == best + 1
    assert (result.best_dev_cer, result.best_dev_wer) == scores[best]
    bundle = load_bundle(result.bundle_path)
    assert bundle.metadata["epoch"] == result.best_epoch
    assert bundle.metadata["dev_cer"] == result.best_dev_cer
    assert greedy_scores(bundle, config.dev_manifest) == pytest.approx(scores[best], abs=1e-9)

    # A second run into the same folder must not silently overwrite the first.
    with pytest.raises(CtcasrError, match="--resume"):
        train(config, verbose=0)

    assert all(float(r["peak_rss_mb"]) > 50 for r in rows)
    # The resumed process is smaller than the one that trained epochs 1-2 (pretend it was
    # 64 GB): the run's peak is still that one's.
    state_file = run / CHECKPOINTS / "epoch-0002" / "state.json"
    state = json.loads(state_file.read_text())
    state["history"][0]["peak_rss_mb"] = 65536.0
    state_file.write_text(json.dumps(state))
    config.epochs = 3
    resumed = train(config, resume=True, verbose=0)
    assert [h.epoch for h in resumed.history] == [1, 2, 3]
    assert resumed.peak_rss_mb == 65536.0
    assert 50 < resumed.history[2].peak_rss_mb < 65536.0
    assert (run / CHECKPOINTS / LATEST).read_text().strip() == "epoch-0003"
    assert len(list((run / CHECKPOINTS).glob("epoch-*"))) == 2  # keep_checkpoints


def test_train_leaves_the_callers_random_state(tmp_path, fsdd_dir):
    """Training seeds Python's and NumPy's global generators: after train() a notebook's
    random.random() and np.random draws were the same numbers after every run."""
    import random

    random.seed(12345)
    np.random.seed(54321)
    expected = random.random(), np.random.rand()
    random.seed(12345)
    np.random.seed(54321)
    train(_config(tmp_path, fsdd_dir, epochs=1), verbose=0)
    assert (random.random(), np.random.rand()) == expected


def test_resume_rejects_changed_model(tmp_path, fsdd_dir):
    config = _config(tmp_path, fsdd_dir, epochs=1)
    train(config, verbose=0)
    # A setting left at its default instead of spelled out is the same model (it was refused
    # as "the model settings differ").
    assert TINY_MODEL["conv_stride"] == 2  # the default
    config.model = {k: v for k, v in TINY_MODEL.items() if k != "conv_stride"}
    config.epochs = 2
    assert train(config, resume=True, verbose=0).epochs_run == 2
    config.model = {**TINY_MODEL, "rnn_units": 48}
    config.epochs = 3
    with pytest.raises(CtcasrError, match="model settings differ"):
        train(config, resume=True, verbose=0)


def test_resume_compares_the_alphabets_symbols_not_its_path(tmp_path, fsdd_dir, monkeypatch):
    """The same alphabet named another way resumes; an edited file at the same path does not
    (two swapped lines resumed silently with the two letters swapped in the model's output)."""
    from ctcasr.text import Alphabet

    path = tmp_path / "alphabet.txt"
    path.write_text(Alphabet().to_text(), encoding="utf-8")
    config = _config(tmp_path, fsdd_dir, epochs=1)
    config.alphabet = str(path)
    train(config, verbose=0)
    monkeypatch.chdir(tmp_path)
    config.alphabet, config.epochs = "alphabet.txt", 2  # the same file, by a relative path
    assert train(config, resume=True, verbose=0).epochs_run == 2
    lines = path.read_text(encoding="utf-8").splitlines()
    a, e = lines.index("a"), lines.index("e")
    lines[a], lines[e] = lines[e], lines[a]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    config.epochs = 3
    with pytest.raises(CtcasrError, match="alphabet's symbols differ"):
        train(config, resume=True, verbose=0)


def test_config_file_and_bad_settings(tmp_path):
    (tmp_path / "cfg.toml").write_text(
        'train_manifests = ["train.jsonl"]\noutput_dir = "out"\nepochs = 3\n'
        "[model]\nrnn_units = 64\n[frontend]\nn_mfcc = 13\n[augment]\nspeed_factors = [0.9, 1.1]\n"
    )
    config = TrainConfig.from_file(tmp_path / "cfg.toml")
    assert config.train_manifests == [str(tmp_path / "train.jsonl")]
    assert config.frontend.n_mfcc == 13 and config.augment.speed_factors == (0.9, 1.1)
    assert config.output_dir == str(tmp_path / "out")
    # Command-line overrides are taken as given, not re-rooted at the config file.
    overridden = TrainConfig.from_file(tmp_path / "cfg.toml", train_manifests=["x.jsonl"], epochs=9)
    assert overridden.train_manifests == ["x.jsonl"] and overridden.epochs == 9
    with pytest.raises(ConfigError, match="unknown training settings: colour"):
        TrainConfig.from_dict({"train_manifests": ["a"], "output_dir": "o", "colour": 1})
    with pytest.raises(ConfigError, match="num_classes"):
        TrainConfig(train_manifests=["a"], output_dir="o", model={"num_classes": 5})
    with pytest.raises(ConfigError, match="config file not found"):
        TrainConfig.from_file(tmp_path / "missing.toml")
    # A bad setting names the file it came from (only parse errors did), and the command
    # line when that took part
    (tmp_path / "bad.toml").write_text('train_manifests = ["t.jsonl"]\noutput_dir = "o"\n'
                                       "epochz = 3\n[model]\nconv_filters = 'x'\n")  # fmt: skip
    with pytest.raises(ConfigError, match=r"^\S*bad\.toml: unknown training settings: epochz"):
        TrainConfig.from_file(tmp_path / "bad.toml")
    (tmp_path / "bad.toml").write_text('train_manifests = ["t.jsonl"]\noutput_dir = "o"\n'
                                       "[model]\nconv_filters = 'x'\n")  # fmt: skip
    with pytest.raises(ConfigError, match=r"bad\.toml with the command line's settings: model "
                       "setting conv_filters must be an integer"):  # fmt: skip
        TrainConfig.from_file(tmp_path / "bad.toml", epochs=2)


def test_config_files_are_read_on_python_3_10_through_tomli(tmp_path, monkeypatch):
    """pyproject.toml says Python 3.10, which has no tomllib: `ctcasr train --config` (TOML
    or JSON) was a ModuleNotFoundError traceback there. 3.10 with tomli, as pip installs it:"""
    import sys

    try:
        import tomllib as toml
    except ModuleNotFoundError:  # run on 3.10 itself
        import tomli as toml
    monkeypatch.setitem(sys.modules, "tomllib", None)  # import tomllib fails, as on 3.10
    monkeypatch.setitem(sys.modules, "tomli", toml)  # the same API
    (tmp_path / "cfg.toml").write_text('train_manifests = ["t"]\noutput_dir = "o"\nepochs = 3\n')
    (tmp_path / "cfg.json").write_text('{"train_manifests": ["t"], "output_dir": "o", "epochs": 4}')
    assert TrainConfig.from_file(tmp_path / "cfg.toml").epochs == 3
    assert TrainConfig.from_file(tmp_path / "cfg.json").epochs == 4
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert """"tomli>=1.1; python_version < '3.11'",""" in pyproject


def test_spec_augment_and_ctc_frames():
    rng = np.random.default_rng(0)
    feats = np.ones((200, 20), dtype=np.float32)
    out = spec_augment(feats, AugmentConfig(time_masks=2, freq_masks=2), rng)
    assert out.shape == feats.shape and (out == 0).any() and (out == 1).mean() > 0.5
    assert feats.min() == 1  # input untouched
    assert ctc_min_frames(np.array([1, 1, 2])) == 4  # a blank must split the repeat
    assert ctc_min_frames(np.array([], dtype=int)) == 0


def test_same_seed_same_weights_and_resume_matches(tmp_path, fsdd_dir):
    """Seeds make runs repeatable, and a run resumed from a checkpoint continues exactly as the
    unbroken run did (each epoch reseeds from the seed and its own number)."""
    from ctcasr.train import CHECKPOINTS

    def weights(run_dir):
        (ckpt,) = sorted((run_dir / CHECKPOINTS).glob("epoch-0002"))
        with np.load(ckpt / "weights.npz") as data:
            arrays = [data[k] for k in sorted(data.files)]
        assert len(arrays) >= 8  # conv, norm, GRU and dense weights: the loop below compares
        return arrays

    a = _config(tmp_path / "a", fsdd_dir, epochs=2)
    train(a, verbose=0)
    b = _config(tmp_path / "b", fsdd_dir, epochs=1)
    train(b, verbose=0)
    b.epochs = 2
    train(b, resume=True, verbose=0)
    for wa, wb in zip(weights(tmp_path / "a" / "run"), weights(tmp_path / "b" / "run"),
                      strict=True):
        np.testing.assert_allclose(wa, wb, rtol=0, atol=1e-6)


def test_init_from_bundle(tmp_path, fsdd_dir):
    """Fine-tuning starts from a bundle's weights; a bundle whose weights cannot fit is refused
    before any data is read."""
    first = train(_config(tmp_path / "a", fsdd_dir, epochs=1), verbose=0)
    start = load_bundle(first.bundle_path).keras_model().get_weights()

    def conv_kernel(run_dir):
        with np.load(run_dir / CHECKPOINTS / "epoch-0001" / "weights.npz") as data:
            return data["arr_0"]

    # With a vanishing learning rate the trainable weights stay where the bundle put them.
    tuned = _config(tmp_path / "b", fsdd_dir, epochs=1, seed=8, learning_rate=1e-12,
                    init_from=first.bundle_path)  # fmt: skip
    train(tuned, verbose=0)
    np.testing.assert_allclose(conv_kernel(tmp_path / "b" / "run"), start[0], atol=1e-6)
    # Resuming continues from the checkpoint: the bundle it started from may be gone.
    shutil.copytree(first.bundle_path, tmp_path / "start")
    moved = _config(tmp_path / "b2", fsdd_dir, epochs=1, init_from=str(tmp_path / "start"))
    train(moved, verbose=0)
    shutil.rmtree(tmp_path / "start")
    moved.epochs = 2
    assert train(moved, resume=True, verbose=0).epochs_run == 2
    fresh = _config(tmp_path / "c", fsdd_dir, epochs=1, seed=8, learning_rate=1e-12)
    train(fresh, verbose=0)
    assert np.abs(conv_kernel(tmp_path / "c" / "run") - start[0]).max() > 1e-3

    wider = _config(tmp_path / "d", fsdd_dir, epochs=1, init_from=first.bundle_path)
    wider.model = {**TINY_MODEL, "rnn_units": TINY_MODEL["rnn_units"] * 2}
    expected = r"different architecture \(rnn_units 32 there, 64 here\)"
    with pytest.raises(ConfigError, match=expected):
        train(wider, verbose=0)
    (tmp_path / "letters.txt").write_text("\n".join(" abcdefghijklmnopqrstuvwxyz") + "\n")
    other = _config(tmp_path / "e", fsdd_dir, epochs=1, init_from=first.bundle_path,
                    alphabet=str(tmp_path / "letters.txt"))  # fmt: skip
    with pytest.raises(ConfigError, match="alphabet differs"):
        train(other, verbose=0)


@pytest.mark.parametrize("keep,left", [(2, ["epoch-0003", "epoch-0004"]), (0, None)])
def test_keep_checkpoints_zero_keeps_every_epoch(tmp_path, keep, left):
    """``keep_checkpoints=0`` keeps them all (what averaging a run's best epochs needs)."""
    from types import SimpleNamespace

    from ctcasr.train import _Best, _save_checkpoint

    model = SimpleNamespace(get_weights=lambda: [np.ones(3)])
    optimizer = SimpleNamespace(variables=[np.zeros(2)])
    for epoch in range(4):
        _save_checkpoint(tmp_path, epoch, model, optimizer, [], _Best(), keep)
    names = sorted(p.name for p in tmp_path.glob("epoch-*"))
    assert names == (left or ["epoch-0001", "epoch-0002", "epoch-0003", "epoch-0004"])
    assert (tmp_path / LATEST).read_text().strip() == "epoch-0004"


def test_an_epoch_dataset_has_every_utterance_once_and_no_autotuner(tmp_path, fsdd_dir):
    """The autotuner is off: its sleeping thread held up the end of every epoch (up to a
    minute on TF 2.21); the batches still hold each utterance once, bucketed by length."""
    from ctcasr.data import EpochSource, bucket_boundaries, load_corpus, make_dataset
    from ctcasr.features import FrontendConfig, num_frames
    from ctcasr.manifest import read_manifest
    from ctcasr.model import ModelConfig
    from ctcasr.text import Alphabet

    manifest = write_fsdd_manifest(tmp_path / "train.jsonl", fsdd_dir, range(10, 14))
    frontend, alphabet = FrontendConfig(), Alphabet()
    entries = read_manifest(manifest, alphabet).entries
    model_config = ModelConfig(**TINY_MODEL)
    corpus = load_corpus(entries, frontend, alphabet, model_config)
    frames = [num_frames(len(w), frontend) for w in corpus.waveforms]
    boundaries = bucket_boundaries(frames)
    source = EpochSource(corpus, frontend, AugmentConfig(), seed=0, model_config=model_config)
    ds = make_dataset(source, 0, 16, boundaries)
    assert ds.options().autotune.enabled is False
    lengths = []
    for feats, feat_lens, labels, label_lens in ds:
        n = feat_lens.numpy()
        assert feats.shape[0] == labels.shape[0] == len(n) <= 16 and feats.shape[1] == n.max()
        assert labels.shape[1] == label_lens.numpy().max()
        lengths += n.tolist()
    assert sorted(lengths) == sorted(frames)  # every utterance once, none padded away


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"epochs": 1.5}, "training setting epochs must be an integer, got 1.5"),
        ({"model": {"rnn_units": "32"}}, "model setting rnn_units must be an integer, got '32'"),
        ({"train_manifests": 5}, "train_manifests must be a list of strings, got 5"),
        ({"frontend": {"n_mfcc": "13"}}, "front-end setting n_mfcc must be an integer"),
        ({"augment": {"speed_factors": ["x"]}}, "speed_factors must be a list of numbers"),
        ({"tensorboard": "yes"}, "tensorboard must be true or false, got 'yes'"),
        ({"metadata": {"when": __import__("datetime").date(2026, 1, 1)}},
         "metadata must hold JSON values only"),
        # values of the right type that trained wrongly or crashed mid-epoch
        ({"min_lr_ratio": -1.0}, "min_lr_ratio must be a finite number in [0, 1], got -1.0"),
        ({"min_lr_ratio": 2.0}, "min_lr_ratio must be a finite number in [0, 1], got 2.0"),
        ({"learning_rate": float("nan")}, "learning_rate must be a positive finite number"),
        ({"learning_rate": float("inf")}, "learning_rate must be a positive finite number"),
        ({"patience": -5}, "patience must be at least 1 epoch, got -5"),
        ({"keep_checkpoints": -1}, "keep_checkpoints must be >= 0 (0 keeps all), got -1"),
        ({"jobs": -3}, "jobs must be at least 1, got -3"),
        ({"jobs": 0}, "jobs must be at least 1, got 0"),
        # were both "epochs and batch_size must be >= 1", whichever it was, without its value
        ({"epochs": 0}, "epochs must be at least 1, got 0"),
        ({"batch_size": -2}, "batch_size must be at least 1, got -2"),
        # numpy seeds with 0 to 2**32 - 1 only, and epoch e reseeds with seed * 1000 + e
        ({"seed": -1}, "seed must be from 0 to 4294967 (with 30 epochs), got -1"),
        ({"seed": 5_000_000}, "seed must be from 0 to 4294967 (with 30 epochs), got 5000000"),
        ({"max_duration": float("nan")}, "max_duration must be a positive finite number"),
        ({"augment": "x"}, 'augment must be a table of settings, got "x"'),
        ({"frontend": [1]}, "frontend must be a table of settings, got [1]"),
        ({"augment": {"speed_factors": [float("nan")]}}, "speed factors must be between 0.25"),
        ({"augment": {"speed_factors": [1e-9]}}, "speed factors must be between 0.25 and 4"),
        ({"augment": {"freq_mask_width": -1}}, "freq_mask_width must be 0 or more, got -1"),
        ({"augment": {"time_mask_ratio": float("nan")}}, "time_mask_ratio must be in [0, 1]"),
        ({"augment": {"snr_db": [float("nan"), float("nan")]}}, "snr_db must be (low, high)"),
    ],
)
def test_wrongly_typed_settings_are_one_line_errors(settings, message):
    """They were tracebacks, some only after the data had loaded and the model was built."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        TrainConfig(**{"train_manifests": ["a.jsonl"], "output_dir": "o", **settings})


def test_numpy_numbers_and_paths_from_python_are_accepted():
    config = TrainConfig(train_manifests=[Path("a.jsonl")], output_dir=Path("o"),
                         epochs=np.int64(3), learning_rate=np.float32(1e-3),
                         model={"rnn_units": np.int32(8)})  # fmt: skip
    assert config.epochs == 3 and config.output_dir == "o" and config.train_manifests == ["a.jsonl"]
    # and they are written as JSON (train_config.json on every run and resume): an int64
    # made json.dumps raise after the data had been loaded
    saved = json.loads(json.dumps(config.to_dict()))
    assert saved["epochs"] == 3 and saved["model"] == {"rnn_units": 8}
    assert saved["learning_rate"] == pytest.approx(1e-3)
    from ctcasr.data import AugmentConfig
    from ctcasr.model import ModelConfig

    json.dumps(ModelConfig(rnn_units=np.int64(8)).to_dict())
    json.dumps(AugmentConfig(time_masks=np.int64(1)).to_dict())


def test_unreadable_or_misshapen_config_files_and_a_file_as_output(tmp_path, fsdd_dir):
    folder = tmp_path / "cfg.toml"
    folder.mkdir()
    with pytest.raises(ConfigError, match="cannot read config"):
        TrainConfig.from_file(folder)
    listed = tmp_path / "cfg.json"
    listed.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="a config is a table of settings, got list"):
        TrainConfig.from_file(listed)
    config = _config(tmp_path, fsdd_dir, epochs=1)
    Path(config.output_dir).parent.mkdir(parents=True, exist_ok=True)
    Path(config.output_dir).write_text("a file")
    with pytest.raises(CtcasrError, match="exists and is not a folder"):
        train(config, verbose=0)


def test_a_dev_set_that_cannot_measure_anything_is_named(tmp_path, fsdd_dir):
    """All-empty dev transcripts trained on with a dev WER of inf% (no epoch ever better);
    an unreadable dev set was reported as "no usable training utterances"."""
    from ctcasr.manifest import ManifestEntry, write_manifest

    config = _config(tmp_path, fsdd_dir, epochs=1)
    empty = tmp_path / "empty_dev.jsonl"
    write_manifest(empty, [ManifestEntry(str(fsdd_dir / "2_lucas_4.flac"), "", 0.5)])
    config.dev_manifest = str(empty)
    with pytest.raises(ConfigError, match="every dev transcript is empty"):
        train(config, verbose=0)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not audio" * 100)
    unreadable = tmp_path / "bad_dev.jsonl"
    write_manifest(unreadable, [ManifestEntry(str(garbage), "two", 0.5)])
    config.dev_manifest = str(unreadable)
    with pytest.raises(CtcasrError, match=r"no usable dev utterances: .*garbage"):
        train(config, verbose=0)


def test_config_file_names_a_bundled_model_by_name_from_any_folder(tmp_path, monkeypatch):
    """init_from = "default" was joined to the config's folder: it worked only from there."""
    (tmp_path / "cfg").mkdir()
    (tmp_path / "cfg" / "ft.toml").write_text(
        'train_manifests = ["a.jsonl"]\noutput_dir = "o"\ninit_from = "default"\n')
    monkeypatch.chdir(tmp_path)
    assert TrainConfig.from_file("cfg/ft.toml").init_from == "default"
    (tmp_path / "cfg" / "default").mkdir()  # a folder of that name beside the config wins
    assert TrainConfig.from_file("cfg/ft.toml").init_from == str(Path("cfg") / "default")


def test_an_earlier_run_without_checkpoints_is_not_overwritten(tmp_path, fsdd_dir):
    """With checkpoints/ gone, a fresh run overwrote the finished run's model and log; with a
    stray later epoch folder it pruned its own new checkpoint. A damaged checkpoint on resume
    was a traceback; resuming where there is nothing says so; changed settings are noted."""
    config = _config(tmp_path, fsdd_dir, epochs=1)
    train(config, verbose=0)
    run = tmp_path / "run"
    model_bytes = (run / "model" / "model.weights.h5").read_bytes()
    pointer = run / CHECKPOINTS / LATEST
    for damage, message in ((lambda: pointer.write_bytes(b"\xff\xfe\x00"),
                             "damaged checkpoint pointer"),
                            (lambda: (run / CHECKPOINTS / "epoch-0001" / "state.json")
                             .write_text("{"), "unreadable checkpoint state"),
                            (lambda: (run / CHECKPOINTS / "epoch-0001" / "weights.npz")
                             .write_bytes(b"not a zip"), "damaged checkpoint")):  # fmt: skip
        saved = {p: p.read_bytes() for p in (run / CHECKPOINTS).rglob("*") if p.is_file()}
        damage()
        with pytest.raises(CtcasrError, match=message) as exc:
            train(config, resume=True, verbose=0)
        assert "\n" not in str(exc.value)
        for path, data in saved.items():
            path.write_bytes(data)
    shutil.rmtree(run / CHECKPOINTS)
    with pytest.raises(CtcasrError, match=r"holds an earlier run \(model, log.csv\)"):
        train(config, verbose=0)
    assert (run / "model" / "model.weights.h5").read_bytes() == model_bytes
    (run / CHECKPOINTS / "epoch-0005").mkdir(parents=True)
    shutil.rmtree(run / "model")
    (run / "log.csv").unlink()
    with pytest.raises(CtcasrError, match=r"holds an earlier run \(epoch-0005\)"):
        train(config, verbose=0)


def test_a_run_is_not_written_into_a_bundle_or_the_bundled_models(tmp_path, fsdd_dir,
                                                                  monkeypatch):  # fmt: skip
    """`train -o BUNDLE` trained and filled the bundle with checkpoints/, log.csv,
    tensorboard/ and a nested model/ (copied on by every later tune and average), and
    `-o ctcasr/pretrained/default` wrote them into the installed package. Both are refused
    before any work, and nothing is written."""
    import ctcasr.bundle

    package = tmp_path / "pretrained"
    bundle = Path(shutil.copytree(ctcasr.bundle.PRETRAINED_DIR / "default", package / "default"))
    monkeypatch.setattr(ctcasr.bundle, "PRETRAINED_DIR", package)
    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    mine = Path(shutil.copytree(bundle, tmp_path / "mine"))
    config = _config(tmp_path, fsdd_dir, epochs=1)
    for out, said in ((mine, "is a model bundle, not a training run's folder"),
                      (bundle, "is a model bundle"),
                      (package / "new", "inside the installed package's bundled models")):
        config.output_dir = str(out)
        with pytest.raises(CtcasrError, match=f"^{re.escape(str(out))}: {said}"):
            train(config, verbose=0)
    assert {p.name: p.read_bytes() for p in bundle.iterdir()} == before
    assert {p.name: p.read_bytes() for p in mine.iterdir()} == before
    assert sorted(p.name for p in package.iterdir()) == ["default"]


def test_resume_notes_changed_settings_and_an_empty_folder(tmp_path, fsdd_dir, capsys):
    config = _config(tmp_path, fsdd_dir, epochs=1)
    train(config, resume=True, verbose=1)
    assert f"no checkpoint in {tmp_path / 'run' / CHECKPOINTS}: starting from epoch 1" in (
        capsys.readouterr().out)
    config.epochs, config.batch_size = 2, 8
    train(config, resume=True, verbose=1)
    # only what changed: the augmentation's tuples, read back from JSON as lists, were
    # reported as changed on every resume
    notes = [line for line in capsys.readouterr().out.splitlines() if "changed settings" in line]
    assert notes == ["resuming with changed settings: epochs 1 -> 2; batch_size 16 -> 8"]
    saved = json.loads((tmp_path / "run" / "train_config.json").read_text())
    assert saved["epochs"] == 2 and saved["batch_size"] == 8



def test_resume_notes_training_data_rewritten_at_the_same_path(tmp_path, fsdd_dir, capsys):
    """A recipe resumed with another --data rewrites its manifests in place: the path, the
    only thing compared, stayed the same, and the run went on with other data unsaid."""
    config = _config(tmp_path, fsdd_dir, epochs=1)
    train(config, verbose=0)
    manifest = Path(config.train_manifests[0])
    other = tmp_path / "other" / "recordings"  # copies of some, found under another --data
    other.mkdir(parents=True)
    for line in manifest.read_text().splitlines():
        shutil.copy(json.loads(line)["audio_filepath"], other)
    write_fsdd_manifest(manifest, other, range(10, 12))
    config.epochs = 2
    train(config, resume=True, verbose=1)
    notes = [line for line in capsys.readouterr().out.splitlines() if "training data" in line]
    assert notes == ["resuming with other training data than epoch-0001 trained on: 60 "
                     f"utterances under {fsdd_dir} -> 40 utterances under {other}"]  # fmt: skip
    # The next checkpoint records the data it trained on: a further resume has nothing to say.
    state = json.loads((tmp_path / "run" / CHECKPOINTS / "epoch-0002" / "state.json").read_text())
    assert state["data"]["train"]["utterances"] == 40
    assert state["data"]["train"]["audio"] == str(other)
    # Other transcripts of the same files are other data too; a checkpoint from before the
    # record says nothing.
    from ctcasr.train import _note_data_change

    ckpt = tmp_path / "run" / CHECKPOINTS / "epoch-0002"
    _note_data_change(ckpt, {"train": {**state["data"]["train"], "sha256": "0"}}, verbose=1)
    state.pop("data")
    (ckpt / "state.json").write_text(json.dumps(state))
    _note_data_change(ckpt, {"train": {"utterances": 1, "audio": "/", "sha256": "0"}}, 1)
    assert capsys.readouterr().out == ("resuming with other training data than epoch-0002 "
                                       f"trained on: 40 utterances under {other}, other files or "
                                       "transcripts\n")  # fmt: skip

    """--speed "1,,2" was read as 1, 2."""
    from typer.testing import CliRunner

    from ctcasr.cli import app

    result = CliRunner().invoke(app, ["train", "a.jsonl", "-o", str(tmp_path / "o"),
                                      "--speed", "1,,2"])  # fmt: skip
    assert result.exit_code != 0
    assert "--speed must be comma-separated numbers, got '1,,2'" in result.output
    assert not (tmp_path / "o").exists()


def test_no_length_limit_is_allowed():
    """max_duration = inf means no limit; NaN, 0 or a negative value is an error."""
    config = TrainConfig(train_manifests=["a.jsonl"], output_dir="o", max_duration=float("inf"))
    assert config.max_duration == float("inf")
    for bad in (0.0, -1.0):
        with pytest.raises(ConfigError, match="max_duration must be a positive finite number"):
            TrainConfig(train_manifests=["a.jsonl"], output_dir="o", max_duration=bad)


def test_a_run_stopped_in_its_first_checkpoint_or_just_after_goes_on(tmp_path, fsdd_dir,
                                                                     monkeypatch):
    """The best model and the log were written before the checkpoint: a run stopped while
    writing its first one left a model and a log but no checkpoint, which both --resume and
    a rerun then refused as an earlier run. Stopped after the checkpoint, a resume writes the
    model and the log that the checkpoint's epoch should have left."""
    import sys

    train_module = sys.modules["ctcasr.train"]  # ctcasr.train is also the function's name
    config = _config(tmp_path, fsdd_dir, epochs=1)
    run = tmp_path / "run"
    real_write = train_module.write_arrays

    def interrupted_write(file, arrays):
        if Path(file).name == "optimizer.npz":
            raise KeyboardInterrupt
        real_write(file, arrays)

    monkeypatch.setattr(train_module, "write_arrays", interrupted_write)
    with pytest.raises(KeyboardInterrupt):
        train(config, verbose=0)
    monkeypatch.setattr(train_module, "write_arrays", real_write)
    assert not (run / CHECKPOINTS / LATEST).exists()
    assert train(config, verbose=0).epochs_run == 1  # a rerun starts over

    shutil.rmtree(run)
    real_save_model = train_module._save_model

    def interrupted_save_model(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "_save_model", interrupted_save_model)
    with pytest.raises(KeyboardInterrupt):
        train(config, verbose=0)
    monkeypatch.setattr(train_module, "_save_model", real_save_model)
    assert (run / CHECKPOINTS / LATEST).exists() and not (run / "model").exists()
    result = train(config, resume=True, verbose=0)
    assert load_bundle(result.bundle_path).metadata["epoch"] == 1
    with open(run / "log.csv") as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == [1]


def test_a_bad_noise_folder_is_named_before_any_data_is_read(tmp_path, fsdd_dir, monkeypatch):
    """A missing or empty --noise-dir was found only once every utterance had been read and
    the model built, with train_config.json and tensorboard/ already written."""
    import sys

    def no_reading(*args, **kwargs):
        raise AssertionError("the corpus was read before the noise folder was checked")

    monkeypatch.setattr(sys.modules["ctcasr.train"], "load_corpus", no_reading)
    config = _config(tmp_path, fsdd_dir, epochs=1)
    (tmp_path / "empty").mkdir()
    for folder, message in ((tmp_path / "missing", "noise folder not found"),
                            (tmp_path / "empty", "no audio files in the noise folder")):
        config.augment = AugmentConfig(noise_dir=str(folder))
        with pytest.raises(ConfigError, match=message):
            train(config, verbose=0)
        assert not Path(config.output_dir).exists()


def test_resuming_without_the_dev_set_reports_no_stale_dev_score(tmp_path, fsdd_dir):
    """Without a dev set the latest epoch is the best; the dev CER and WER of the epoch picked
    before the resume were reported as that epoch's."""
    config = _config(tmp_path, fsdd_dir, epochs=1)
    assert train(config, verbose=0).best_dev_cer is not None
    config.dev_manifest, config.epochs = None, 2
    result = train(config, resume=True, verbose=0)
    assert result.best_epoch == 2
    assert result.best_dev_cer is None and result.best_dev_wer is None
    assert load_bundle(result.bundle_path).metadata["dev_cer"] is None


def _wreck_epochs(monkeypatch, epochs: set[int]) -> None:
    """After each (0-based) epoch in ``epochs``, scramble the output layer: that epoch's model
    spells noise, worse on any dev set than a model that has learnt little."""
    import sys

    train_module = sys.modules["ctcasr.train"]  # ctcasr.train is also the function's name
    models = []
    real_make, real_run = train_module.make_train_step, train_module._run_epoch

    def make_train_step(model, *args):
        models.append(model)
        return real_make(model, *args)

    def run_epoch(train_step, batches, epoch, *args):
        loss = real_run(train_step, batches, epoch, *args)
        if epoch in epochs:
            layer = models[-1].get_layer("logits")
            kernel, bias = layer.get_weights()
            noise = np.random.default_rng(epoch).normal(0.0, 5.0, kernel.shape)
            layer.set_weights([kernel + noise.astype(kernel.dtype), bias])
        return loss

    monkeypatch.setattr(train_module, "make_train_step", make_train_step)
    monkeypatch.setattr(train_module, "_run_epoch", run_epoch)


def _other_dev(tmp_path, fsdd_dir) -> Path:
    return write_fsdd_manifest(tmp_path / "other.jsonl", fsdd_dir, range(20, 21),
                               speakers=("nicolas",))  # fmt: skip


def test_resuming_with_another_dev_set_rescores_the_saved_best_on_it(tmp_path, fsdd_dir,
                                                                     monkeypatch, capsys):
    """Resumed with another dev set, the saved best was dropped from the contest: the first
    new epoch replaced it however much worse it was there. It is now scored on the new set
    (as ``evaluate`` scores it) and stays unless a new epoch beats it."""
    from ctcasr.evaluate import evaluate

    config = _config(tmp_path, fsdd_dir, epochs=1)
    train(config, verbose=0)
    other = _other_dev(tmp_path, fsdd_dir)
    expected = evaluate(other, tmp_path / "run" / "model", decoder="greedy").report
    _wreck_epochs(monkeypatch, {1})
    config.dev_manifest, config.epochs = str(other), 2
    result = train(config, resume=True, verbose=1)
    assert result.history[1].dev_cer > expected.cer  # the new epoch is worse on the new set
    assert result.best_epoch == 1
    assert result.best_dev_cer == pytest.approx(expected.cer)
    assert result.best_dev_wer == pytest.approx(expected.wer)
    saved = load_bundle(result.bundle_path).metadata
    assert saved["epoch"] == 1 and saved["dev_cer"] == pytest.approx(expected.cer)
    assert (f"resume: dev set changed; saved best (epoch 1) re-scored on {other}: "
            f"CER {expected.cer:.2%}") in capsys.readouterr().out  # fmt: skip


def test_a_dev_set_rewritten_at_the_same_path_rescores_the_saved_best(tmp_path, fsdd_dir,
                                                                      capsys):
    """A recipe resumed with another --data rewrites dev.jsonl in place: the saved best kept
    its scores from the old set, and new epochs were measured against them on the new one."""
    from ctcasr.evaluate import evaluate

    config = _config(tmp_path, fsdd_dir, epochs=1)
    train(config, verbose=0)
    dev = Path(config.dev_manifest)
    dev.write_bytes(_other_dev(tmp_path, fsdd_dir).read_bytes())
    expected = evaluate(dev, tmp_path / "run" / "model", decoder="greedy").report
    config.epochs = 2
    train(config, resume=True, verbose=1)
    assert (f"resume: dev set changed; saved best (epoch 1) re-scored on {dev}: "
            f"CER {expected.cer:.2%}") in capsys.readouterr().out  # fmt: skip


def test_patience_after_a_dev_set_change_counts_from_the_resume(tmp_path, fsdd_dir,
                                                               monkeypatch, capsys):
    """The epochs between the saved best and the resume were judged worse on the old dev set
    only: counted against the new one, a run past its patience stopped before any new epoch,
    with no dev score at all. It now gets its patience's worth of epochs on the new set."""
    config = _config(tmp_path, fsdd_dir, epochs=2, patience=1)
    _wreck_epochs(monkeypatch, {1, 2})
    first = train(config, verbose=0)
    assert first.best_epoch == 1 and first.history[1].dev_cer > first.best_dev_cer
    config.dev_manifest, config.epochs = str(_other_dev(tmp_path, fsdd_dir)), 5
    result = train(config, resume=True, verbose=1)
    assert result.epochs_run == 3 and "early stop" in capsys.readouterr().out
    assert result.best_epoch == 1 and result.best_dev_cer < result.history[2].dev_cer


def test_resuming_with_another_dev_set_and_no_saved_best_chooses_again(tmp_path, fsdd_dir,
                                                                       capsys):
    """A saved best that cannot be scored on the new dev set no longer competes: the first
    new epoch is the best, as before the saved best was re-scored."""
    config = _config(tmp_path, fsdd_dir, epochs=1)
    train(config, verbose=0)
    (tmp_path / "run" / "model" / WEIGHTS_FILE).unlink()
    other = _other_dev(tmp_path, fsdd_dir)
    config.dev_manifest, config.epochs = str(other), 2
    result = train(config, resume=True, verbose=1)
    out = capsys.readouterr().out
    assert "resume: dev set changed and the saved best model could not be scored" in out
    assert "weights missing" in out
    assert result.best_epoch == 2
    assert load_bundle(result.bundle_path).metadata["epoch"] == 2
    # The same dev set written another way is the same dev set.
    config.dev_manifest, config.epochs = os.path.relpath(other), 3
    train(config, resume=True, verbose=1)
    assert "dev set changed" not in capsys.readouterr().out


def test_init_from_takes_the_bundles_architecture_for_what_the_run_leaves_out(
        tmp_path, fsdd_dir, capsys):
    """The command line has no model options, so fine-tuning the bundled model (wider than the
    defaults) with ``--init-from default`` always met "different architecture". Each [model]
    setting the run leaves out now comes from the bundle; one it gives must still match, and a
    resumed run takes them from its own train_config.json (its bundle may be gone)."""
    first = train(_config(tmp_path / "a", fsdd_dir, epochs=1), verbose=0)  # TINY_MODEL
    shutil.copytree(first.bundle_path, tmp_path / "start")
    tuned = _config(tmp_path / "b", fsdd_dir, epochs=1, init_from=str(tmp_path / "start"))
    tuned.model = {"dropout": 0.0}  # no architecture given
    result = train(tuned, verbose=1)
    out = capsys.readouterr().out
    assert f"model settings from {tmp_path / 'start'}: conv_filters = 32, " in out
    tuned_model = load_bundle(result.bundle_path).model_config
    assert tuned_model == load_bundle(first.bundle_path).model_config
    saved = json.loads((tmp_path / "b" / "run" / "train_config.json").read_text())
    assert saved["model"] == TINY_MODEL
    shutil.rmtree(tmp_path / "start")
    tuned.epochs = 2
    assert train(tuned, resume=True, verbose=0).epochs_run == 2

    # The bundled model: no architecture error; the run goes on to its (missing) manifest.
    bundled = TrainConfig(train_manifests=[str(tmp_path / "never-written.jsonl")],
                          output_dir=str(tmp_path / "run"), init_from="default")  # fmt: skip
    with pytest.raises(CtcasrError, match=r"never-written\.jsonl: manifest not found"):
        train(bundled, verbose=0)
    bundled.model = {"rnn_units": 64}  # given, and not the bundle's
    with pytest.raises(ConfigError) as info:
        train(bundled, verbose=0)
    message = str(info.value)
    assert "different architecture (rnn_units 256 there, 64 here)" in message
    assert message.endswith("leave them out of the [model] table, or give the bundle's: "
                            "rnn_units = 256")  # fmt: skip


def test_resume_does_not_note_paths_that_name_the_same_files(tmp_path, monkeypatch, capsys):
    """train_config.json keeps paths as given: resuming with the config named another way
    ("./x" or absolute) noted the same manifests as changed settings. A real change is noted."""
    from ctcasr.train import TrainConfig, _note_changes

    monkeypatch.chdir(tmp_path)
    for name in ("a.jsonl", "b.jsonl", "dev.jsonl"):
        (tmp_path / name).write_text("")
    out = tmp_path / "run"
    out.mkdir()
    first = TrainConfig(train_manifests=["./a.jsonl"], dev_manifest="dev.jsonl", output_dir="run")
    (out / "train_config.json").write_text(json.dumps(first.to_dict()))
    same = TrainConfig(train_manifests=[str(tmp_path / "a.jsonl")],
                       dev_manifest=str(tmp_path / "x" / ".." / "dev.jsonl"), output_dir="run")
    _note_changes(out, same, verbose=1)
    assert "changed settings" not in capsys.readouterr().out
    other = TrainConfig(train_manifests=["b.jsonl"], dev_manifest="dev.jsonl", output_dir="run")
    _note_changes(out, other, verbose=1)
    assert "resuming with changed settings: train_manifests" in capsys.readouterr().out


def test_a_checkpoint_into_a_full_disk_is_one_error_and_leaves_no_open_file(tmp_path, monkeypatch):
    """np.savez left its zip open when a write failed, and closing it at exit, into the same
    full disk, printed an "Exception ignored in ZipFile.__del__" traceback after the run's
    one-line error. The zip is closed with the failure; the error names the checkpoint."""
    import gc
    import io
    import sys
    import zipfile
    from types import SimpleNamespace

    train_module = sys.modules["ctcasr.train"]
    real_open, unraisable = io.open, []

    def full_disk(file, mode="r", *args, **kwargs):  # a checkpoint's arrays onto /dev/full
        if str(file).endswith(".npz") and "w" in mode:
            file = "/dev/full"
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    monkeypatch.setattr(zipfile.io, "open", full_disk)
    model = SimpleNamespace(get_weights=lambda: [np.zeros(100_000, np.float32)])
    optimizer = SimpleNamespace(variables=[np.zeros(3, np.float32)])
    ckpt = tmp_path / CHECKPOINTS
    with pytest.raises(OSError) as caught:
        train_module._save_checkpoint(ckpt, 0, model, optimizer, [], train_module._Best(), 2)
    monkeypatch.setattr(zipfile.io, "open", real_open)
    failed = (caught.value.errno, caught.value.filename)
    del caught  # its traceback's frames hold whatever the write left open
    gc.collect()
    assert unraisable == []
    assert failed == (28, str(ckpt / "epoch-0001"))
    assert list(ckpt.iterdir()) == []


def test_a_second_run_into_a_folder_in_use_is_refused_naming_the_holder(tmp_path, fsdd_dir):
    """Two runs into one folder (both fresh, or a --resume beside a running one) both trained
    and reported success, interleaving their checkpoints, model, log and TensorBoard events."""
    from ctcasr.errors import BusyError
    from ctcasr.utils import LOCK_NAME

    config = _config(tmp_path, fsdd_dir, epochs=1)
    run = tmp_path / "run"
    with held_elsewhere(run) as first:  # the first run, still going
        for resume in (False, True):
            with pytest.raises(BusyError, match=rf"^{re.escape(str(run))}: another training "
                               rf"\(pid {first.pid}\) is writing to this folder"):
                train(config, resume=resume, verbose=0)
        assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME]  # nothing of its own
    assert not run.exists()  # the lock's folder, left empty, went with it
    train(config, verbose=0)  # once the first has ended, the folder is free
    assert not (run / LOCK_NAME).exists() and (run / "model").is_dir()


def test_epoch_progress_off_a_terminal_is_one_plain_line(capsys, monkeypatch):
    """Keras takes any POSIX system for a terminal: `ctcasr train > log` (a CI log, a pipe)
    got its bar redrawn with backspaces, carriage returns and ANSI colour codes, and so did a
    terminal under NO_COLOR."""
    import sys
    from types import SimpleNamespace

    from ctcasr.train import _run_epoch

    def epoch() -> str:
        _run_epoch(lambda x: x, [(2.0,)] * 3, 0, 3, lambda step: 0.001,
                   SimpleNamespace(iterations=0), verbose=1)  # fmt: skip
        return capsys.readouterr().out

    monkeypatch.delenv("NO_COLOR", raising=False)
    (line,) = epoch().splitlines()
    assert line.startswith("3/3 - ") and "loss: 2.0000" in line
    assert not any(c in line for c in "\x1b\b\r")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert "\x1b[" in epoch()  # a terminal still gets the live bar
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b" not in epoch()
    monkeypatch.setattr(sys, "stdout", None)  # `ctcasr train ... >&-`: the bar's write crashed
    assert _run_epoch(lambda x: x, [(2.0,)] * 3, 0, 3, lambda step: 0.001,
                      SimpleNamespace(iterations=0), verbose=1) == 2.0  # fmt: skip


def test_a_fine_tune_carries_the_model_card_of_the_bundle_it_started_from(tmp_path, fsdd_dir):
    """``ctcasr train --init-from default`` wrote a model with no MODEL_CARD.md: the
    fine-tuned bundled model lost its training data's licences and the attribution its
    CC BY and CC BY-SA sources ask adaptations to keep. The model now gets a card saying what
    it was fine-tuned from and on, holding the start bundle's; a resumed run keeps it though
    that bundle is gone, an average with the run's epochs carries it once, and a run from a
    bundle without a card, or from scratch, writes none."""
    from ctcasr.bundle import CARD_FILE, average_bundles

    first = train(_config(tmp_path / "a", fsdd_dir, epochs=1), verbose=0)
    assert not (Path(first.bundle_path) / CARD_FILE).exists()
    start = tmp_path / "start"
    shutil.copytree(first.bundle_path, start)
    (start / CARD_FILE).write_text("# Start\n\n## Training data and licences\n\nFSDD, CC BY-SA\n",
                                   encoding="utf-8")  # fmt: skip
    tuned = _config(tmp_path / "b", fsdd_dir, epochs=1, init_from=str(start), keep_checkpoints=0)
    tuned.dev_manifest = None  # each epoch's model is saved: the resumed ones' too
    result = train(tuned, verbose=0)
    card = (Path(result.bundle_path) / CARD_FILE).read_text(encoding="utf-8")
    assert card.startswith("# Derived model\n\n")
    assert (f" (UTC): `ctcasr train` made `{tmp_path / 'b' / 'run' / 'model'}` by fine-tuning "
            f"the weights of `{start}` on `{tuned.train_manifests[0]}`; what those hold is not "
            "described here: add its sources, licences") in card  # fmt: skip
    assert card.endswith(f"## Derived from\n\n- `{start}`\n\n### Start\n\n"
                         "#### Training data and licences\n\nFSDD, CC BY-SA\n")  # fmt: skip
    shutil.rmtree(start)
    tuned.epochs = 3
    train(tuned, resume=True, verbose=0)
    assert load_bundle(result.bundle_path).metadata["epoch"] == 3
    assert (Path(result.bundle_path) / CARD_FILE).read_text(encoding="utf-8") == card
    checkpoint = tmp_path / "b" / "run" / CHECKPOINTS / "epoch-0002"
    soup = average_bundles([result.bundle_path], tmp_path / "soup", [checkpoint])
    text = (soup / CARD_FILE).read_text(encoding="utf-8")
    assert text.count("### Start\n") == 1 and text.count(" (UTC): `ctcasr ") == 2

    plain = _config(tmp_path / "c", fsdd_dir, epochs=1, init_from=first.bundle_path)
    assert not (Path(train(plain, verbose=0).bundle_path) / CARD_FILE).exists()


def test_the_dev_set_is_shown_to_the_model_as_transcribe_shows_it(tmp_path):
    """Training scores each epoch on the dev set, and keeps the best by it: it computed its
    own features, whole, where ``transcribe`` and ``evaluate`` cut an end with more than 1 s
    of room tone, cut a long entry at its pauses and show digital silence to no model (a
    dev set with 3 s of room tone around its clips: WER 18% in log.csv, 14% by ``evaluate``
    of the same model). The model is shown the same features in both."""
    import soundfile as sf

    from ctcasr.runtime import LogProbRunner
    from ctcasr.text import Alphabet
    from ctcasr.train import _load_corpora, _score
    from ctcasr.transcribe import Transcriber

    rng = np.random.default_rng(0)
    t = np.arange(16_000) / 16_000

    def word(hz: float) -> np.ndarray:
        return (0.3 * np.sin(2 * np.pi * hz * t[:8000])).astype(np.float32)

    def tone(seconds: float) -> np.ndarray:
        return rng.normal(0, 1e-3, int(seconds * 16_000)).astype(np.float32)

    clips = {
        "padded": np.concatenate([tone(3), word(300), tone(0.2), word(500), tone(3)]),
        "own_edges": np.concatenate([tone(0.3), word(400), tone(0.3)]),
        "silent": np.zeros(16_000, np.float32),
        "long": np.concatenate([np.concatenate([word(200 + 10 * i), tone(0.8)])
                                for i in range(28)]),  # 36 s, cut at its pauses
    }
    manifest = tmp_path / "dev.jsonl"
    with open(manifest, "w") as fh:
        for name, y in clips.items():
            sf.write(tmp_path / f"{name}.wav", y, 16_000, subtype="FLOAT")
            fh.write(json.dumps({"audio_filepath": str(tmp_path / f"{name}.wav"),
                                 "text": "a", "duration": len(y) / 16_000}) + "\n")

    transcriber = Transcriber(decoder="greedy")
    shown: list[np.ndarray] = []

    class Recorder(LogProbRunner):
        def __call__(self, features):
            shown.extend(features)
            return [np.full((max(1, len(f) // 2), 29), np.log(1 / 29), np.float32)
                    for f in features]

    model_config = transcriber.bundle.model_config
    config = TrainConfig(train_manifests=[str(manifest)], dev_manifest=str(manifest),
                         output_dir=str(tmp_path / "run"), max_duration=60.0,
                         frontend=transcriber.bundle.frontend)
    _, dev = _load_corpora(config, Alphabet(), model_config)
    _score(dev, Recorder(model_config), Alphabet())
    by_training, shown[:] = list(shown), []
    transcriber._model = Recorder(model_config)
    for name in clips:  # one at a time: in the same order
        transcriber.transcribe(tmp_path / f"{name}.wav")
    assert len(by_training) == len(shown) > len(clips)
    for a, b in zip(by_training, shown, strict=True):
        assert a.shape == b.shape
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_speed_perturbation_never_makes_an_utterance_too_short_for_its_transcript():
    """A clip that just fits its transcript at speed 1.0 no longer fits sped up by 1.25: CTC
    then had no alignment, and training took a huge finite loss (its gradient noise) from an
    impossible target without a word. Such a clip is fed unperturbed; the others still are."""
    from ctcasr.data import Corpus, EpochSource
    from ctcasr.features import FrontendConfig, num_frames
    from ctcasr.manifest import ManifestEntry
    from ctcasr.model import ModelConfig, output_lengths

    frontend, model_config = FrontendConfig(), ModelConfig(**TINY_MODEL)
    rng = np.random.default_rng(0)
    waves = [rng.standard_normal(6400).astype(np.float32) * 0.1 for _ in range(2)]  # 0.4 s
    fits = int(output_lengths(num_frames(6400, frontend), model_config))
    labels = [np.arange(fits, dtype=np.int32), np.arange(3, dtype=np.int32)]
    entries = [ManifestEntry(f"{i}.wav", "x", 0.4) for i in range(2)]
    faster = AugmentConfig(speed_factors=(1.25,))
    source = EpochSource(Corpus(entries, waves, labels), frontend, faster, 0, model_config)
    lengths = {}
    for feats, label in source.examples(0):
        out = int(output_lengths(feats.shape[0], model_config))
        assert out >= ctc_min_frames(label), (out, len(label))
        lengths[len(label)] = feats.shape[0]
    assert lengths[fits] == num_frames(6400, frontend)  # the tight one, as recorded
    assert lengths[3] < num_frames(6400, frontend)  # the other one, sped up


def test_a_dev_set_keeps_an_utterance_too_short_for_ctc_as_evaluate_scores_it(tmp_path):
    """A 0.12 s dev clip with a 31-character transcript was dropped as training drops it, so
    the run reported dev CER 2.50% for a model `evaluate -d greedy` scored 21.85% on the same
    manifest. Dev is only decoded: it keeps the clip; training still drops it."""
    import soundfile as sf

    from ctcasr.data import load_corpus
    from ctcasr.features import FrontendConfig
    from ctcasr.manifest import ManifestEntry
    from ctcasr.model import ModelConfig
    from ctcasr.text import Alphabet

    wav = tmp_path / "short.wav"
    sf.write(wav, np.random.default_rng(0).standard_normal(1920) * 0.1, 16000)  # 0.12 s
    entries = [ManifestEntry(str(wav), "seven hundred and seventy seven", 0.12)]
    frontend, alphabet, model_config = FrontendConfig(), Alphabet(), ModelConfig(**TINY_MODEL)
    dev = load_corpus(entries, frontend, alphabet, model_config, as_transcribed=True)
    assert (len(dev), dev.dropped) == (1, [])
    with pytest.raises(CtcasrError, match="too short"):
        load_corpus(entries, frontend, alphabet, model_config)


def test_a_clip_too_short_for_its_repeated_letters_says_what_ctc_needs(tmp_path):
    """A clip with as many model frames as characters was dropped as "too short for the
    11-character transcript", which it looked long enough for: CTC also needs a blank
    between repeated letters ("hello hello": 13 frames). The message now says both counts."""
    import soundfile as sf

    from ctcasr.data import load_corpus, model_frames
    from ctcasr.features import FrontendConfig
    from ctcasr.manifest import ManifestEntry
    from ctcasr.model import ModelConfig
    from ctcasr.text import Alphabet

    frontend, model_config = FrontendConfig(), ModelConfig(**TINY_MODEL)
    samples = next(n for n in range(400, 40000, 10)
                   if model_frames(n, frontend, model_config) == 12)
    wav = tmp_path / "short.wav"
    sf.write(wav, np.random.default_rng(0).standard_normal(samples) * 0.1, 16000)
    entries = [ManifestEntry(str(wav), "hello hello", samples / 16000)]
    with pytest.raises(CtcasrError) as raised:
        load_corpus(entries, frontend, Alphabet(), model_config)
    assert ("12 model frames) for the 11-character transcript, which needs 13 (one per "
            "character and a blank between each repeated pair)") in str(raised.value)
