"""Errors a Python caller can meet name the keyword argument beside the CLI flag: ``pass
--resume`` told a ``ctcasr.train.train()`` caller of a flag their call has no way to pass."""

import pytest

from ctcasr.errors import CtcasrError
from tests.helpers import tiny_bundle


def test_train_into_a_run_with_checkpoints_names_resume_true(tmp_path):
    from ctcasr.train import CHECKPOINTS, LATEST, check_output_dir

    (tmp_path / CHECKPOINTS).mkdir()
    (tmp_path / CHECKPOINTS / LATEST).write_text("epoch-0001")
    with pytest.raises(CtcasrError, match=r"pass --resume \(resume=True\) to continue it"):
        check_output_dir(tmp_path, resume=False)


def test_tune_of_the_bundled_model_names_output_and_save(tmp_path):
    from ctcasr.tune import tune

    with pytest.raises(CtcasrError, match=r"--output DIR \(output=DIR\) .*--no-save \(save=F"):
        tune(tmp_path / "dev.jsonl", decoder="beam", decoder_options={"hotwords": ["seven"]})
    with pytest.raises(CtcasrError, match=r"--hotword-weights \(hotword_weights\) would change"):
        tune(tmp_path / "dev.jsonl", decoder="beam", hotword_weights=[1.0],
             decoder_options={"hotwords": ["seven:2"]})  # fmt: skip


def test_kenlm_without_an_lm_names_lm():
    from ctcasr.decoding.kenlm import KenLMDecoder
    from ctcasr.text import Alphabet

    with pytest.raises(CtcasrError, match=r"--lm FILE; lm=PATH from Python"):
        KenLMDecoder(Alphabet())


def test_export_options_name_their_keywords(tmp_path):
    pytest.importorskip("onnx")
    from ctcasr.export import export_onnx

    tiny_bundle(tmp_path / "b", 1)
    with pytest.raises(CtcasrError, match=r"--drop-keras \(drop_keras=True\).*-o \(output=\)"):
        export_onnx(tmp_path / "b", output=tmp_path / "x.onnx", drop_keras=True)
    with pytest.raises(CtcasrError, match=r"is a folder; --output \(output=\) names"):
        export_onnx(tmp_path / "b", output=tmp_path)
    with pytest.raises(CtcasrError, match=r"--output \(output=\) names the \.onnx file"):
        export_onnx(tmp_path / "b", output=tmp_path / "graph")


def test_stale_graph_names_backend_keras(tmp_path):
    pytest.importorskip("onnx")
    import shutil

    from ctcasr.bundle import WEIGHTS_FILE, load_bundle
    from ctcasr.export import export_onnx
    from ctcasr.runtime import load_runner

    tiny_bundle(tmp_path / "a", 1)
    tiny_bundle(tmp_path / "b", 2)
    export_onnx(tmp_path / "a")
    shutil.copy(tmp_path / "b" / WEIGHTS_FILE, tmp_path / "a" / WEIGHTS_FILE)
    with pytest.raises(CtcasrError, match=r"--backend keras \(backend='keras'\)"):
        load_runner(load_bundle(tmp_path / "a"), "onnx")
