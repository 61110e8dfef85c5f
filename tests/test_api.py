"""The Python API mirrors the commands: transcribe files and arrays, evaluate, load bundles."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

import ctcasr
from ctcasr.errors import CtcasrError
from ctcasr.transcribe import Failure, Transcript
from tests.helpers import write_fsdd_manifest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def transcriber():
    return ctcasr.Transcriber()


def test_top_level_names_are_the_functions():
    assert callable(ctcasr.train) and callable(ctcasr.transcribe) and callable(ctcasr.evaluate)
    assert ctcasr.load_bundle().path.name == "default"


def test_array_and_file_give_the_same_text(transcriber, fsdd_dir):
    path = fsdd_dir / "5_theo_3.flac"
    samples, rate = sf.read(str(path), dtype="float32")
    assert rate == 8000
    from_file = transcriber.transcribe(path)
    from_array = transcriber.transcribe(samples, sample_rate=rate)
    assert from_file.text == from_array.text == "five"
    assert 0 < from_file.confidence <= 1 and from_file.duration == pytest.approx(
        len(samples) / rate, abs=0.02
    )
    # Stereo arrays are downmixed.
    stereo = np.stack([samples, samples], axis=1)
    assert transcriber.transcribe(stereo, sample_rate=rate).text == "five"


def test_batch_reports_failures_in_place(transcriber, fsdd_dir, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00")
    results = transcriber.transcribe_batch([fsdd_dir / "2_lucas_4.flac", bad])
    assert isinstance(results[0], Transcript) and results[0].text == "two"
    assert isinstance(results[1], Failure) and str(bad) in results[1].error
    with pytest.raises(CtcasrError, match=r"bad\.wav"):
        transcriber.transcribe(bad)


def test_evaluate_api(fsdd_dir, tmp_path):
    manifest = write_fsdd_manifest(tmp_path / "t.jsonl", fsdd_dir, range(3, 4),
                                   speakers=("yweweler",))
    evaluation = ctcasr.evaluate(manifest)
    assert evaluation.report.utterances == 10
    assert evaluation.report.wer <= 0.2
    assert len(evaluation.hypotheses) == 10 and not evaluation.failures
