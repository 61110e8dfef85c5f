"""The Python API mirrors the commands: transcribe files and arrays, evaluate, load bundles."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import ctcasr
from ctcasr.errors import CtcasrError
from ctcasr.manifest import ManifestEntry, write_manifest
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
    # A notebook shows the repr: the report, not every reference, hypothesis and path.
    shown = repr(evaluation)
    assert repr(evaluation.report) in shown
    assert not any(f"{name}=" in shown for name in ("references", "hypotheses", "ids"))


def test_evaluate_hears_what_transcribe_hears(fsdd_dir, tmp_path):
    """Digital silence is not shown to the model by either (it spelled a word in it under
    evaluate), and audio under one analysis window is refused by both."""
    silent, tiny = tmp_path / "silent.wav", tmp_path / "tiny.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    sf.write(tiny, np.random.default_rng(0).standard_normal(100).astype(np.float32) * 0.1, 16000)
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, [ManifestEntry(str(silent), "", 1.0),
                              ManifestEntry(str(tiny), "", 0.00625),
                              ManifestEntry(str(fsdd_dir / "2_lucas_4.flac"), "two", 0.5)])
    evaluation = ctcasr.evaluate(manifest, decoder="greedy")
    assert evaluation.hypotheses[0] == "" and evaluation.hypotheses[2] == "two"
    (failure,) = evaluation.failures
    assert "too short (100 samples is under one 25 ms analysis window)" in failure.error
    with ctcasr.Transcriber(decoder="greedy") as t:
        got = t.transcribe_batch([str(silent), str(tiny)])
    assert got[0].text == "" and isinstance(got[1], Failure)


@pytest.mark.parametrize("threshold", [0.0, 0.3])
def test_evaluate_grammar_says_nothing_in_digital_silence_as_transcribe_does(
    fsdd_dir, tmp_path, threshold
):
    """Evaluate asked the grammar decoder about no frames at all: at threshold 0 it accepted
    a command there (a false acceptance, or a silent clip scored right), above it it counted
    every silent clip as rejected; transcribe says nothing and rejects nothing."""
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, [ManifestEntry(str(silent), "", 1.0),
                              ManifestEntry(str(silent), "two", 1.0),
                              ManifestEntry(str(fsdd_dir / "2_lucas_4.flac"), "two", 0.5)])
    options = {"commands": ["two", "five"], "threshold": threshold}
    evaluation = ctcasr.evaluate(manifest, decoder="grammar", decoder_options=options)
    with ctcasr.Transcriber(decoder="grammar", decoder_options=options) as t:
        said = t.transcribe(silent)
    assert said.text == "" and not said.rejected
    assert evaluation.hypotheses == ["", "", "two"]
    assert evaluation.rejected == 0
    assert (evaluation.report.insertions, evaluation.report.deletions) == (0, 1)


def test_evaluate_never_counts_unreadable_audio_as_exact(fsdd_dir, tmp_path):
    """Unreadable audio is scored as an empty transcript; with an empty reference (a silence
    clip) that was "exact", so a manifest of garbage reported 100% exact."""
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not audio at all" * 100)
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, [ManifestEntry(str(garbage), "", 1.0),
                              ManifestEntry(str(fsdd_dir / "2_lucas_4.flac"), "two", 0.5)])
    evaluation = ctcasr.evaluate(manifest, decoder="greedy")
    assert len(evaluation.failures) == 1 and evaluation.hypotheses == ["", "two"]
    assert evaluation.report.sentence_accuracy == 0.5
    assert evaluation.report.wer == 0.0  # no reference words were missed


def test_tune_refuses_a_dev_set_it_cannot_read(fsdd_dir, tmp_path):
    """Unreadable dev audio was ignored: a manifest of garbage "tuned" and saved a bundle."""
    from ctcasr.errors import ConfigError
    from ctcasr.tune import tune

    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not audio at all" * 100)
    manifest = tmp_path / "dev.jsonl"
    write_manifest(manifest, [ManifestEntry(str(garbage), "two", 1.0),
                              ManifestEntry(str(fsdd_dir / "2_lucas_4.flac"), "two", 0.5)])
    with pytest.raises(ConfigError, match=r"1 of 2 dev audio files cannot be read .*garbage"):
        tune(manifest, decoder="beam", hotword_weights=[1.0],
             decoder_options={"hotwords": ["two"]}, output=tmp_path / "tuned")  # fmt: skip
    assert not (tmp_path / "tuned").exists()


def test_tune_skip_bad_drops_unreadable_dev_audio_and_lists_it(fsdd_dir, tmp_path):
    """With --skip-bad, unreadable dev audio was scored as empty transcripts: the stored WER
    counted them as deletions (40% for 2 of 5 clips) and nothing said so."""
    from ctcasr.tune import tune

    garbage, empty = tmp_path / "garbage.wav", tmp_path / "empty.wav"
    garbage.write_bytes(b"not audio at all" * 100)
    empty.write_bytes(b"")
    good = [ManifestEntry(str(fsdd_dir / f"{d}_lucas_4.flac"), w, 0.5)
            for d, w in ((2, "two"), (3, "three"), (7, "seven"))]  # fmt: skip
    manifest = tmp_path / "dev.jsonl"
    write_manifest(manifest, [good[0], ManifestEntry(str(garbage), "two", 1.0), *good[1:],
                              ManifestEntry(str(empty), "one", 1.0)])  # fmt: skip
    result = tune(manifest, decoder="beam", hotword_weights=[0.0, 1.0], skip_bad=True,
                  decoder_options={"hotwords": ["two"]}, output=tmp_path / "tuned")  # fmt: skip
    assert result.best.wer == 0.0 and result.baseline.wer == 0.0
    assert [s.split(":")[0] for s in result.skipped] == [str(garbage), str(empty)]
    assert all(s.endswith("(audio not read)") for s in result.skipped)
    stored = ctcasr.load_bundle(tmp_path / "tuned").metadata["decoder_tuning"]
    assert stored["utterances"] == 3 and stored["wer"] == 0.0


def first_call_raises(real, message: str, counts=bool):
    """``real``, except that the first call ``counts`` says counts raises RuntimeError."""
    calls = []

    def flaky(first, *rest):
        calls.extend([1] if counts(first) else [])
        if len(calls) == 1:
            raise RuntimeError(message)
        return real(first, *rest)

    return flaky


def test_a_decoder_that_raises_fails_that_input_only(fsdd_dir):
    """A plug-in's decode() raising stopped the whole run with a traceback."""
    with ctcasr.Transcriber(decoder="greedy") as transcriber:
        real = transcriber.decoder_impl.decode
        transcriber.decoder_impl.decode = first_call_raises(real, "plugin exploded", len)
        first, second = transcriber.transcribe_batch(
            [fsdd_dir / "2_lucas_4.flac", fsdd_dir / "3_theo_1.flac"])
    assert isinstance(first, Failure)
    assert first.error.endswith("decoder 'greedy' failed: RuntimeError: plugin exploded")
    assert isinstance(second, Transcript) and second.text == "three"


def test_evaluate_and_tune_report_a_decoder_that_raises(fsdd_dir, tmp_path, monkeypatch):
    """transcribe fails one input when a plug-in decoder raises; evaluate stopped with a
    traceback and lost the whole run, and tune would have scored the input as empty."""
    from typer.testing import CliRunner

    from ctcasr.cli import app
    from ctcasr.decoding.greedy import GreedyDecoder

    manifest = write_fsdd_manifest(tmp_path / "dev.jsonl", fsdd_dir, range(4, 5),
                                   speakers=("lucas",))  # fmt: skip
    real, calls = GreedyDecoder.decode, []

    def flaky(self, log_probs, *rest, **options):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("plugin exploded\nsecond line")
        return real(self, log_probs, *rest, **options)

    monkeypatch.setattr(GreedyDecoder, "decode", flaky)
    result = CliRunner().invoke(app, ["evaluate", "--manifest", str(manifest), "-d", "greedy",
                                      "-d", "beam"])  # fmt: skip
    assert result.exit_code == 1, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors == [f"error: {fsdd_dir / '1_lucas_4.flac'}: decoder 'greedy' failed: "
                      "RuntimeError: plugin exploded\\nsecond line"]  # fmt: skip
    rows = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()[1:3]}
    assert rows == {"greedy": "10.00%", "beam": "0.00%"}  # one deletion in ten words
    from ctcasr.decoding.beam import BeamDecoder
    from ctcasr.tune import tune

    calls.clear()
    real = BeamDecoder.decode
    monkeypatch.setattr(BeamDecoder, "decode", flaky)
    with pytest.raises(CtcasrError, match=r"decoder 'beam' failed on 1 dev utterance\(s\) "
                       r"at its starting settings \(first: .*plugin exploded"):  # fmt: skip
        tune(manifest, decoder="beam", decoder_options={"hotwords": ["two"]},
             hotword_weights=[1.0], save=False)  # fmt: skip


def test_failures_on_the_long_file_path_name_their_cause(fsdd_dir):
    """Files cut into pieces: a decoder raising is the decoder's failure, anything else is not
    (every failure there was labelled "decoder ... failed", an acoustic-model error too)."""
    from ctcasr.segment import SplitConfig

    split = SplitConfig(long_after=0.2, max_segment=2.0, min_segment=1.0)  # every clip is long
    clips = [fsdd_dir / "2_lucas_4.flac", fsdd_dir / "3_theo_1.flac"]
    with ctcasr.Transcriber(decoder="greedy", split=split) as transcriber:
        real_decode, real_model = transcriber.decoder_impl.decode, transcriber.acoustic_model
        transcriber.decoder_impl.decode = first_call_raises(real_decode, "plugin exploded", len)
        first, second = transcriber.transcribe_batch(clips)
        assert isinstance(first, Failure) and isinstance(second, Transcript)
        assert first.error == f"{clips[0]}: decoder 'greedy' failed: RuntimeError: plugin exploded"
        assert second.text == "three" and second.segments

        transcriber.decoder_impl.decode = real_decode
        # (the chunk's batch of short inputs is empty here: that call does not count)
        transcriber._model = first_call_raises(real_model, "model exploded")
        first, second = transcriber.transcribe_batch(clips)
    assert isinstance(first, Failure) and isinstance(second, Transcript)
    assert first.error == f"{clips[0]}: RuntimeError: model exploded"
    assert second.text == "three"


def test_a_long_input_no_piece_of_which_is_a_command_is_rejected(fsdd_dir, tmp_path):
    """Cut into pieces, noise was an accepted empty transcript (rejected=False, closest ''),
    where the same noise whole was rejected; evaluate counted it the same way."""
    from ctcasr.audio import load_audio
    from ctcasr.segment import SplitConfig

    noise = np.random.default_rng(3).normal(0, 0.05, 16_000 * 6).astype(np.float32)
    split = SplitConfig(long_after=3.0, max_segment=2.0, min_segment=1.0)
    options = {"commands": ["yes", "no", "two"], "threshold": 0.6}
    with ctcasr.Transcriber(decoder="grammar", decoder_options=options, split=split) as t:
        short = t.transcribe(noise[: 16_000 * 2], sample_rate=16_000)
        long = t.transcribe(noise, sample_rate=16_000)
        two = load_audio(fsdd_dir / "2_lucas_4.flac")
        mixed = t.transcribe(np.concatenate([noise, two, noise[:16_000]]), sample_rate=16_000)
    assert short.rejected and short.text == "" and short.nbest[0].text in options["commands"]
    assert long.rejected and long.text == "" and len(long.segments) >= 3
    assert long.nbest[0].rejected and long.nbest[0].text in options["commands"]
    assert 0 <= long.confidence < 0.6 and long.confidence == long.nbest[0].confidence
    assert mixed.text == "two" and not mixed.rejected
    from ctcasr.evaluate import evaluate

    sf.write(str(tmp_path / "noise.wav"), noise, 16_000)
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, [ManifestEntry(str(tmp_path / "noise.wav"), "", 6.0)])
    scored = evaluate(manifest, decoder="grammar", decoder_options=options, split=split)
    assert scored.rejected == 1 and scored.hypotheses == [""]


def test_an_input_that_is_not_samples_fails_alone(fsdd_dir):
    """A broken file's bytes, a ragged list or a dict among the inputs raised ValueError or
    TypeError out of transcribe_batch and lost the good results; a list of samples was named
    by its repr."""
    audio = sf.read(str(fsdd_dir / "2_lucas_4.flac"), dtype="float32")[0]
    bad = [b"RIFF....", [[0.1, 0.2], [0.3]], {"a": 1}, np.array(["a", "b"]),
           np.ones(800, complex)]  # fmt: skip
    with ctcasr.Transcriber(decoder="greedy") as t:
        results = t.transcribe_batch([audio, *bad, list(audio)], sample_rate=8_000)
    assert results[0].text == results[-1].text == "two"
    assert results[-1].source == "<array>"
    assert all(isinstance(r, Failure) for r in results[1:-1])
    assert [r.error for r in results[1:-1]] == [
        "<bytes>: not a recognised audio file",  # read as a file's bytes (a broken WAV)
        "<array>: not an array of samples (rows of unequal length?)",
        "<array>: samples must be numbers, got dict of object",
        "<array>: samples must be numbers, got ndarray of <U1",
        "<array>: samples must be numbers, got ndarray of complex128",
    ]


def test_headerless_bytes_are_told_to_come_as_an_array():
    """A microphone library's buffer (PyAudio gives bytes of int16) given as is was "not a
    recognised audio file", with no word of what to give instead; a broken file keeps the
    plain message."""
    samples = sf.read(str(EXAMPLES / "seven.wav"), dtype="int16")[0]
    with ctcasr.Transcriber(decoder="greedy") as t:
        with pytest.raises(CtcasrError, match=r"^<bytes>: not a recognised audio file \(samples "
                           r"with no header\? give them as an array: numpy\.frombuffer\(data, "
                           r"numpy\.int16\)\)$"):  # fmt: skip
            t.transcribe(samples.tobytes(), sample_rate=16000)
        assert t.transcribe(np.frombuffer(samples.tobytes(), np.int16)).text == "seven"
        with pytest.raises(CtcasrError, match=r"^<bytes>: not a recognised audio file$"):
            t.transcribe(b"RIFF" + samples.tobytes())


class _Tensor:
    """An array-like whose conversion to numpy fails, as a torch tensor on a GPU (TypeError)
    or one that requires grad (RuntimeError) does."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def __array__(self, dtype=None, copy=None):
        raise self.error


def test_a_tensor_numpy_cannot_read_fails_alone_in_its_own_words():
    """A tensor that requires grad raised RuntimeError out of transcribe_batch and lost the
    other inputs' results; one on a GPU was called "rows of unequal length?"."""
    audio = sf.read(str(EXAMPLES / "seven.wav"), dtype="float32")[0]
    grad = _Tensor(RuntimeError("Can't call numpy() on Tensor that requires grad."))
    gpu = _Tensor(TypeError("can't convert cuda:0 device type tensor to numpy."))
    with ctcasr.Transcriber(decoder="greedy") as t:
        results = t.transcribe_batch([audio, grad, gpu, audio])
    assert [r.text for r in results[::3]] == ["seven", "seven"]
    assert [r.error for r in results[1:3]] == [
        "<array>: _Tensor cannot be read as samples: Can't call numpy() on Tensor that "
        "requires grad.",
        "<array>: _Tensor cannot be read as samples: can't convert cuda:0 device type "
        "tensor to numpy.",
    ]


class _CpuTensor:
    """An array-like as a torch tensor is: ``shape``, ``__array__``, and iteration by
    element as 0-D tensors."""

    def __init__(self, samples: np.ndarray) -> None:
        self.samples, self.shape = samples, tuple(samples.shape)

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.samples, dtype=dtype)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, i):
        return _CpuTensor(self.samples[i])


def test_a_tensor_is_one_input_as_a_numpy_array_is(transcriber):
    """``ctcasr.transcribe(tensor)`` took a 1-D tensor for a batch of its elements, 0-D
    tensors that each failed ("audio array must be 1-D or 2-D, got shape ()")."""
    samples = sf.read(str(EXAMPLES / "seven.wav"), dtype="float32")[0]
    for layout in (samples, np.stack([samples, samples], axis=1)):
        assert [r.text for r in ctcasr.transcribe(_CpuTensor(layout))] == ["seven"]
        with pytest.raises(CtcasrError, match=r"got one _CpuTensor"):
            transcriber.transcribe_batch(_CpuTensor(layout))
    rows = transcriber.transcribe_batch(_CpuTensor(np.stack([samples, samples])))
    assert [r.text for r in rows] == ["seven", "seven"]  # wider than tall: a row each


def test_a_memoryview_of_samples_is_one_input():
    """A memoryview of int16 samples was a batch of ints (a failure each), and of a stereo
    array a NotImplementedError traceback ("multi-dimensional sub-views")."""
    samples = sf.read(str(EXAMPLES / "seven.wav"), dtype="int16")[0]
    for one in (memoryview(samples), memoryview(np.stack([samples, samples], axis=1))):
        assert [r.text for r in ctcasr.transcribe(one)] == ["seven"]


def test_hotword_file_entries_take_the_weight_tune_varies(tmp_path):
    """A --hotwords FILE line without a weight was fixed at 5 when read, so tune's
    --hotword-weights changed nothing and the stored weight was not the reported one."""
    from ctcasr.cli import _decoder_options
    from ctcasr.decoding.beam import BeamDecoder
    from ctcasr.text import Alphabet

    path = tmp_path / "hot.txt"
    path.write_text("seven\ntwo\t3\n")
    options = _decoder_options({"hotwords_file": path})
    assert options["hotwords"] == ["seven", "two:3"]
    decoder = BeamDecoder(Alphabet(), hotwords=options["hotwords"], hotword_weight=0.5)
    assert [(h.phrase, h.weight) for h in decoder.hotwords] == [("seven", 0.5), ("two", 3.0)]


def test_hotword_weights_are_tuned_only_where_a_hotword_takes_them(fsdd_dir, tmp_path):
    """With every hotword weighted (seven:3), --hotword-weights varied nothing: identical
    trials, and the first reported best."""
    from ctcasr.errors import ConfigError
    from ctcasr.tune import tune

    manifest = write_fsdd_manifest(tmp_path / "dev.jsonl", fsdd_dir, range(4, 5),
                                   speakers=("lucas",))  # fmt: skip
    lm = str(Path(__file__).resolve().parents[1] / "lm" / "digits-3gram.arpa")
    for hotwords in (["seven:3"], {"seven": 3.0}, [("seven", 3.0)]):
        with pytest.raises(ConfigError, match="every hotword has a weight of its own"):
            tune(manifest, decoder="beam", decoder_options={"hotwords": hotwords},
                 hotword_weights=[0.0, 2.0], save=False)  # fmt: skip
        result = tune(manifest, decoder="kenlm", alphas=[0.5], betas=[0.0, 1.0], save=False,
                      decoder_options={"hotwords": hotwords, "lm": lm})  # fmt: skip
        assert [t.params for t in result.trials] == [{"alpha": 0.5, "beta": 0.0},
                                                     {"alpha": 0.5, "beta": 1.0}]  # fmt: skip
    mixed = tune(manifest, decoder="beam", decoder_options={"hotwords": ["seven:3", "two"]},
                 hotword_weights=[0.0, 2.0], save=False)  # fmt: skip
    assert [t.params for t in mixed.trials] == [{"hotword_weight": 0.0}, {"hotword_weight": 2.0}]


def test_grammar_references_and_shared_options_are_read_as_meant(fsdd_dir, tmp_path):
    """A reference "three " with a stray space counted as not a command (its recognition a
    false acceptance); an option none of the compared decoders takes was dropped silently."""
    from ctcasr.errors import ConfigError

    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, [ManifestEntry(str(fsdd_dir / "3_theo_1.flac"), "three ", 0.5),
                              ManifestEntry(str(fsdd_dir / "2_lucas_4.flac"), " two", 0.5)])
    commands = {"commands": ["two", "three"], "threshold": 0.0}
    result = ctcasr.evaluate(manifest, decoder="grammar", decoder_options=commands)
    assert result.not_commands == 0 and result.report.wer == 0.0
    with pytest.raises(ConfigError, match="none of the decoders greedy, beam takes option"
                                          r"\(s\) alpha, lm"):
        ctcasr.compare_decoders(manifest, ["greedy", "beam"],
                                decoder_options={"alpha": 2.0, "lm": "/nonexistent"})


# ---------------------------------------------------------------------------------------------
# One Transcriber shared by a web service's request threads
# ---------------------------------------------------------------------------------------------

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_threads_sharing_a_transcriber_load_its_model_once(monkeypatch):
    """Request threads' first calls each loaded an acoustic model of their own (8 threads, 8
    onnxruntime sessions); with the Keras backend their TensorFlow imports overlapped and
    broke TensorFlow for the process (every later call failed too)."""
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    import ctcasr.runtime

    loads = []
    real = ctcasr.runtime.load_runner

    def slow_load(*args, **kwargs):
        loads.append(threading.get_ident())
        time.sleep(0.3)  # a model takes a while to load: the other threads arrive meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(ctcasr.runtime, "load_runner", slow_load)
    shared = ctcasr.Transcriber(decoder="greedy")
    clip = (EXAMPLES / "seven.wav").read_bytes()
    with ThreadPoolExecutor(6) as pool:
        texts = list(pool.map(lambda _: shared.transcribe(clip).text, range(6)))
    assert texts == ["seven"] * 6
    assert len(loads) == 1


def test_tensorflow_imported_from_threads_at_once_is_whole():
    """A second thread got TensorFlow half imported ("partially initialized module
    'tensorflow' has no attribute 'function'"); a fresh process, as TF loads once."""
    import subprocess
    import sys

    code = (
        "from concurrent.futures import ThreadPoolExecutor\n"
        "from ctcasr.utils import import_tensorflow\n"
        "def use(_):\n"
        "    tf = import_tensorflow()\n"
        "    return int(tf.function(lambda x: x + 1)(tf.constant(1)).numpy())\n"
        "with ThreadPoolExecutor(4) as pool:\n"
        "    print(list(pool.map(use, range(4))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "[2, 2, 2, 2]"


def test_a_keras_model_loading_leaves_the_hosts_random_numbers():
    """Importing TensorFlow and building the Keras model drew from Python's global random: a
    service that had seeded it got other numbers once the first request loaded a model. A
    fresh process, as TensorFlow imports once."""
    import subprocess
    import sys

    code = (
        "import random, ctcasr\n"
        "random.seed(7); want = random.random()\n"
        "random.seed(7)\n"
        "t = ctcasr.Transcriber(decoder='greedy', backend='keras')\n"
        f"assert t.transcribe({str(EXAMPLES / 'seven.wav')!r}).text == 'seven'\n"
        "print(random.random() == want)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.splitlines()[-1] == "True"


def test_reading_audio_leaves_other_threads_stderr_alone(monkeypatch, capfd):
    """Every read muted file descriptor 2, the whole process's, while libsndfile opened and
    read the file: a service's log lines written by other threads meanwhile were lost (6% of
    them beside four threads transcribing AN4 uploads). The command line still mutes it."""
    import os

    import ctcasr.audio

    real = ctcasr.audio.open_sound

    def open_while_another_thread_logs(path):
        os.write(2, b"another request's log line\n")  # as if from another thread, meanwhile
        return real(path)

    monkeypatch.setattr(ctcasr.audio, "open_sound", open_while_another_thread_logs)
    shared = ctcasr.Transcriber(decoder="greedy")
    assert shared.transcribe((EXAMPLES / "seven.wav").read_bytes()).text == "seven"
    assert "another request's log line" in capfd.readouterr().err


def test_a_closed_transcriber_refuses_work():
    """Used after its ``with`` block, a Transcriber went on silently; with ``jobs=2`` it
    started a new pool of worker processes that nothing would stop."""
    clip = (EXAMPLES / "seven.wav").read_bytes()
    with ctcasr.Transcriber(decoder="greedy") as t:
        assert t.transcribe(clip).text == "seven"
    for call in (lambda: t.transcribe(clip), lambda: t.transcribe_batch([clip]),
                 lambda: list(t.transcribe_iter([clip])), lambda: t.read(EXAMPLES / "seven.wav"),
                 lambda: t.acoustic_model):  # fmt: skip
        with pytest.raises(CtcasrError, match="this Transcriber is closed; make a new one"):
            call()
    t.close()  # twice is fine
    pooled = ctcasr.Transcriber(decoder="greedy", jobs=2)
    pooled.close()
    with pytest.raises(CtcasrError, match="closed"):
        pooled.transcribe_batch([clip, clip])
    assert pooled._pool is None


def test_a_transcriber_closed_by_another_thread_mid_batch_says_so(monkeypatch):
    """``close()`` from another thread (a service shutting down) while a batch ran on workers
    ended the batch in the pool's own error, ``RuntimeError: cannot schedule new futures
    after shutdown`` (or a CancelledError), where the caller catches :class:`CtcasrError`."""
    real = ctcasr.Transcriber._workers
    armed = []

    def closed_meanwhile(self):  # the other thread's close() lands just after the pool is got
        pool = real(self)
        if armed and sys._getframe(1).f_code.co_name == "_map":
            self.close()
        return pool

    monkeypatch.setattr(ctcasr.Transcriber, "_workers", closed_meanwhile)
    clip = (EXAMPLES / "seven.wav").read_bytes()
    t = ctcasr.Transcriber(decoder="beam", jobs=2, chunk_size=1)
    results = t.transcribe_iter([clip] * 4)
    assert next(results).text == "seven"
    armed.append(True)
    with pytest.raises(CtcasrError, match=r"^this Transcriber is closed; make a new one$"):
        next(results)
    assert t._pool is None


def test_a_transcriber_made_with_relative_paths_works_after_a_chdir(tmp_path, monkeypatch):
    """The model and the workers load on the first call: after the caller changed folder (a
    daemon's chdir to /), a relative bundle path was looked for in the new folder (its
    model.onnx missing, TensorFlow was imported, then "cannot load weights"), and with
    ``jobs=2`` a relative command file or LM killed every worker: each input failed as "a
    worker process died reading it (out of memory, or a crash in native code)"."""
    import shutil

    shutil.copytree(Path(ctcasr.__file__).parent / "pretrained" / "default", tmp_path / "b")
    (tmp_path / "commands.txt").write_text("seven\nthree\n")
    (tmp_path / "elsewhere").mkdir()
    clip = str(EXAMPLES / "seven.wav")
    monkeypatch.chdir(tmp_path)
    alone = ctcasr.Transcriber("b", decoder="greedy", backend="onnx")
    pooled = ctcasr.Transcriber("b", decoder_options={"commands": "commands.txt"}, jobs=2)
    monkeypatch.chdir(tmp_path / "elsewhere")
    with alone, pooled:
        assert alone.transcribe(clip).text == "seven"
        assert pooled.transcribe(clip).text == "seven"
    assert alone.bundle.path == Path("b")  # named as given


def test_threads_sharing_a_transcriber_with_workers_start_one_pool(monkeypatch):
    """With ``jobs=2``, request threads' first calls each started a pool of worker processes
    (4 threads: 4 pools, 8 processes each loading the model), all but the last left behind."""
    import time
    from concurrent.futures import ThreadPoolExecutor

    pools = []

    def new_pool(self, workers):  # threads stand in for processes: the same map interface
        time.sleep(0.3)
        pools.append(ThreadPoolExecutor(workers))
        return pools[-1]

    monkeypatch.setattr(ctcasr.Transcriber, "_new_pool", new_pool)
    clip = (EXAMPLES / "seven.wav").read_bytes()
    shared = ctcasr.Transcriber(decoder="greedy", jobs=2)
    with shared, ThreadPoolExecutor(4) as requests:
        texts = list(requests.map(lambda _: shared.transcribe(clip).text, range(4)))
    assert texts == ["seven"] * 4
    assert len(pools) == 1


def test_one_input_where_a_list_is_taken(transcriber, fsdd_dir):
    """A path, an array or a file's bytes given where a list of inputs goes: a str was read
    letter by letter (one "file not found" per character), a Path raised TypeError, and an
    array failed once per sample."""
    path = fsdd_dir / "5_theo_3.flac"
    for one in (str(path), path):
        results = ctcasr.transcribe(one)
        assert [r.text for r in results] == ["five"]
    samples, rate = sf.read(str(path), dtype="float32")
    with pytest.raises(CtcasrError, match="transcribe_batch and transcribe_iter take a list "
                       r"of inputs, got one str; use transcribe\(\) for one input"):
        transcriber.transcribe_batch(str(path))
    for one in (path, samples, path.read_bytes()):
        with pytest.raises(TypeError, match="use transcribe"):
            transcriber.transcribe_iter(one)
    # A 2-D array is still a batch of equal-length clips, a row each.
    assert [r.text for r in transcriber.transcribe_batch(np.stack([samples] * 2),
                                                          sample_rate=rate)] == ["five"] * 2


def test_a_stereo_array_is_one_input_not_a_batch_of_rows(transcriber):
    """An ``[n, channels]`` array (soundfile's stereo) taken as a batch was read a row of two
    samples at a time: ``ctcasr.transcribe(stereo)`` gave one empty transcript per sample."""
    samples, _ = sf.read(str(EXAMPLES / "seven.wav"), dtype="float32")
    stereo = np.stack([samples, samples], axis=1)
    assert [r.text for r in ctcasr.transcribe(stereo)] == ["seven"]
    with pytest.raises(CtcasrError, match=rf"got one ndarray of shape \({len(samples)}, 2\) "
                       r"\(a recording of 2 channels\); use transcribe\(\) for one input"):
        transcriber.transcribe_batch(stereo)
    assert transcriber.transcribe(stereo).text == "seven"


def test_a_list_of_samples_is_one_input_not_one_per_sample(transcriber):
    """Samples as a Python list (or an ``array.array`` from a microphone library) given to
    ``ctcasr.transcribe`` were a batch of single numbers: 14,790 failures, "audio array must
    be 1-D or 2-D, got shape ()", one per sample."""
    import array

    samples, _ = sf.read(str(EXAMPLES / "seven.wav"), dtype="int16")
    for one in ((samples / 32768).tolist(), array.array("h", samples.tobytes())):
        assert [r.text for r in ctcasr.transcribe(one)] == ["seven"]
        with pytest.raises(CtcasrError, match=r"got one (list|array) of numbers \(samples\); "
                           r"use transcribe\(\) for one input"):  # fmt: skip
            transcriber.transcribe_batch(one)
    assert [r.text for r in transcriber.transcribe_batch([])] == []


@pytest.mark.parametrize("setting", [{"nbest": 0}, {"nbest": "3"}, {"batch_size": 0},
                                     {"max_duration": -1.0}, {"max_duration": float("nan")}])
def test_transcriber_refuses_bad_settings_when_made(setting):
    """nbest=0 failed every input (a Failure each, "nbest must be at least 1"), nbest="3" as
    a TypeError inside the decoder, batch_size=0 as "range() arg 3 must not be zero" from the
    acoustic model, and a negative limit refused every file as "longer than the -1 s limit"."""
    name = next(iter(setting))
    with pytest.raises(ctcasr.CtcasrError, match=f"^{name} must be"):
        ctcasr.Transcriber(**setting)


def test_compare_decoders_takes_one_name_and_refuses_none(fsdd_dir, tmp_path):
    """A name alone was read letter by letter ("unknown decoder 'g'"); an empty list raised
    IndexError."""
    manifest = write_fsdd_manifest(tmp_path / "t.jsonl", fsdd_dir, range(3, 4),
                                   speakers=("yweweler",))
    with pytest.raises(ctcasr.CtcasrError, match=r"^no decoders to compare$"):
        ctcasr.compare_decoders(manifest, [])
    [only] = ctcasr.compare_decoders(manifest, "greedy")
    assert only.decoder == "greedy" and only.report.utterances == 10


def manifest_never_read(fsdd_dir: Path, tmp_path: Path, monkeypatch) -> Path:
    """A manifest whose audio must not be read: the acoustic pass raises if it starts."""
    evaluation = importlib.import_module("ctcasr.evaluate")  # ctcasr.evaluate: the function

    def read(*args, **kwargs):
        raise AssertionError("audio read before the settings were checked")

    monkeypatch.setattr(evaluation, "compute_log_probs", read)
    return write_fsdd_manifest(tmp_path / "t.jsonl", fsdd_dir, range(3, 4),
                               speakers=("yweweler",))


def test_compare_decoders_refuses_a_later_decoders_options_before_reading_audio(
    fsdd_dir, tmp_path, monkeypatch
):
    """``-d greedy -d kenlm --lm typo.arpa`` ran the acoustic model over every clip (minutes
    on a large test set) and only then said the LM was not one."""
    manifest = manifest_never_read(fsdd_dir, tmp_path, monkeypatch)
    not_lm = tmp_path / "typo.arpa"
    not_lm.write_text("not a language model\n")
    with pytest.raises(ctcasr.CtcasrError, match="not a readable KenLM model"):
        ctcasr.compare_decoders(manifest, ["greedy", "kenlm"], decoder_options={"lm": not_lm})
    with pytest.raises(ctcasr.CtcasrError, match="grammar decoder needs a command list"):
        ctcasr.compare_decoders(manifest, ["greedy", "grammar"])


def test_a_negative_worst_is_refused_before_reading_audio(fsdd_dir, tmp_path, monkeypatch):
    """``evaluate --worst -1`` ran the model over every clip before saying worst must be 0
    or more (10 s for 500 clips)."""
    manifest = manifest_never_read(fsdd_dir, tmp_path, monkeypatch)
    with pytest.raises(ctcasr.CtcasrError, match=r"^worst must be 0 or more, got -1$"):
        ctcasr.evaluate(manifest, decoder="greedy", worst=-1)
    with pytest.raises(ctcasr.CtcasrError, match=r"^worst must be 0 or more, got -1$"):
        ctcasr.compare_decoders(manifest, ["greedy", "beam"], worst=-1)


def test_result_classes_are_top_level_names():
    """Results are told apart with isinstance, but neither class could be reached from
    ``ctcasr`` (``ctcasr.transcribe`` is the function, not the module)."""
    from ctcasr.decoding import WordTiming
    from ctcasr.transcribe import Segment

    assert (ctcasr.Transcript, ctcasr.Failure) == (Transcript, Failure)
    assert (ctcasr.Segment, ctcasr.WordTiming) == (Segment, WordTiming)
    assert {"Transcript", "Failure", "Segment", "WordTiming"} <= set(ctcasr.__all__)


def test_rates_split_settings_and_one_bundle_path_fail_as_ctcasr_errors(transcriber, tmp_path):
    """errors.py promises a CtcasrError for every user-caused error: a rate of 0 reached
    soxr as a plain ValueError, a rate given as text was a TypeError traceback, bad splitting
    settings were plain ValueErrors, and average_bundles read one path letter by letter
    ("/: not a model bundle")."""
    from ctcasr.audio import load_audio
    from ctcasr.bundle import average_bundles
    from ctcasr.segment import SplitConfig

    clip = EXAMPLES / "seven.wav"
    for rate in (0, -16000, 16000.5, float("nan"), True):
        with pytest.raises(CtcasrError, match=r"^sample_rate must be a whole number of samples "
                           r"per second, got "):  # fmt: skip
            load_audio(clip, rate)
    samples = load_audio(clip)
    with pytest.raises(CtcasrError, match=r"got '16000'$"):
        transcriber.transcribe(samples, sample_rate="16000")
    for rate in (np.int64(16000), 16000.0):  # whole rates of any number type are fine
        assert transcriber.transcribe(samples, sample_rate=rate).text == "seven"
    for rate in (16, 999):  # kHz taken as Hz was 21 s of work and a garbage transcript
        with pytest.raises(CtcasrError, match=rf"^sample_rate {rate} is under the 1000 Hz .*"
                           r"\(16 kHz is 16000\)$"):  # fmt: skip
            transcriber.transcribe(samples[:16], sample_rate=rate)
    for bad in ({"max_segment": -1.0}, {"long_after": float("nan")}):
        with pytest.raises(CtcasrError):
            SplitConfig(**bad)
    with pytest.raises(CtcasrError, match="average_bundles takes a list of bundles, got one "
                       "path"):  # fmt: skip
        average_bundles(str(EXAMPLES), tmp_path / "out")


def test_options_imply_their_decoder_as_on_the_command_line(tmp_path):
    """``commands`` alone means the grammar decoder, as ``--commands`` does: the API took the
    bundle's default (kenlm) and failed with "decoder 'kenlm' does not take option(s) commands".
    A ``None`` value keeps the stored setting, so it names no decoder."""
    options = {"commands": ["seven", "three"]}
    commands = ctcasr.Transcriber(decoder_options=options)
    result = commands.transcribe(EXAMPLES / "seven.wav")
    assert (commands.decoder, result.text) == ("grammar", "seven")
    manifest = tmp_path / "m.jsonl"
    write_manifest(manifest, [ManifestEntry(str(EXAMPLES / "seven.wav"), "seven", 1.0)])
    scored = ctcasr.evaluate(manifest, decoder_options=options)
    assert (scored.decoder, scored.report.wer, scored.not_commands) == ("grammar", 0.0, 0)
    unset = ctcasr.Transcriber(decoder_options={"commands": None, "lm": None})
    assert unset.decoder == ctcasr.load_bundle().decoder["name"]


def test_read_refuses_a_bad_sample_rate_as_transcribe_does(transcriber):
    """``Transcriber.read`` skipped the rate check ``transcribe`` makes: ``"16000"`` was a
    TypeError traceback, and ``True`` (1 Hz) or ``16.0`` (kHz as Hz) upsampled the clip
    to hours and answered None ("long") instead of an error."""
    from ctcasr.audio import load_audio

    samples = load_audio(EXAMPLES / "seven.wav")
    for rate in ("16000", True, 16.0, 16000.5, float("nan")):
        with pytest.raises(CtcasrError, match=r"^sample_rate "):
            transcriber.read(samples, sample_rate=rate)
        with pytest.raises(CtcasrError, match=r"^sample_rate "):
            next(transcriber.long_pieces(samples, rate, [0.0]))
    got = transcriber.read(samples, sample_rate=np.int64(16000))
    assert isinstance(got, tuple) and got[1] == round(len(samples) / 16000, 3)
