"""Recipe report helpers: the plots are real PNG files and the per-speaker WER is right."""

from __future__ import annotations

import pytest

from recipes.report import per_speaker_wer, plot_confusion, plot_per_speaker, plot_training_curves

PNG = b"\x89PNG\r\n\x1a\n"
BLUE, ORANGE = (0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)  # matplotlib's first two line colours


def _pixels_of(png, rgb) -> int:
    """How many pixels of the decoded image are (nearly) the colour ``rgb``."""
    import matplotlib.image
    import numpy as np

    image = (matplotlib.image.imread(png)[..., :3] * 255).round()
    return int((np.abs(image - np.array(rgb)).max(axis=-1) <= 6).sum())


def test_training_curves_from_a_log(tmp_path):
    log = tmp_path / "log.csv"
    log.write_text(
        "epoch,loss,dev_wer,dev_cer,learning_rate,seconds\n"
        "1,10.0,0.9,0.5,0.001,12\n2,3.0,0.3,0.1,0.001,11\n3,1.5,,,0.001,11\n"
    )
    out = plot_training_curves(log, tmp_path / "curves.png", "t")
    assert out.read_bytes()[:8] == PNG and out.stat().st_size > 5000
    # Drawn from the log: the loss and dev WER lines in the first colour, dev CER in the
    # second (an epoch without dev scores is left out, not a crash).
    assert _pixels_of(out, BLUE) > 100 and _pixels_of(out, ORANGE) > 50
    (tmp_path / "nodev.csv").write_text(
        "epoch,loss,dev_wer,dev_cer,learning_rate,seconds\n1,10.0,,,0.001,12\n2,3.0,,,0.001,11\n")
    bare = plot_training_curves(tmp_path / "nodev.csv", tmp_path / "bare.png")
    assert _pixels_of(bare, ORANGE) == 0 and _pixels_of(bare, BLUE) > 50


def test_confusion_and_per_speaker_plots(tmp_path):
    assert plot_confusion([[5, 1], [0, 4]], ["yes", "no"], tmp_path / "c.png").read_bytes()[
        :8
    ] == PNG
    assert plot_per_speaker({"a": 10.0, "b": 0.0}, tmp_path / "s.png", "WER %").read_bytes()[
        :8
    ] == PNG
    # The bars are drawn: one of height 10 fills far more than a zero one would.
    bars = _pixels_of(tmp_path / "s.png", BLUE)
    plot_per_speaker({"a": 0.0, "b": 0.0}, tmp_path / "none.png", "WER %")
    assert bars > 1000 and _pixels_of(tmp_path / "none.png", BLUE) < bars / 10


def test_per_speaker_wer():
    wer = per_speaker_wer(
        ["u1", "u2", "u3", "u4"],
        ["a b c d", "yes", "no", ""],
        ["a b x d", "yes", "no", ""],
        {"u1": "s1", "u2": "s2", "u3": "s2", "u4": "s3"},
    )
    # s3 said nothing and was given nothing: no words to divide by, so no rate.
    assert wer == pytest.approx({"s1": 25.0, "s2": 0.0})


def test_per_speaker_wer_counts_words_output_for_silence():
    """A word output for an empty reference is an insertion, as in the corpus WER: s2's bar
    read 0% for "noise" output on its silence clip while the corpus WER counted it."""
    from ctcasr.metrics import error_report

    ids, refs, hyps = ["u1", "u2", "u3"], ["a b c d", "yes", ""], ["a b x d", "yes", "noise"]
    speakers = {"u1": "s1", "u2": "s2", "u3": "s2"}
    wer = per_speaker_wer(ids, refs, hyps, speakers)
    assert wer == pytest.approx({"s1": 25.0, "s2": 100.0})
    # The speakers' errors over their words add up to the corpus figure: (1 + 1) / (4 + 1).
    assert error_report(refs, hyps).wer == pytest.approx((0.25 * 4 + 1.0 * 1) / 5)


def test_speakers_are_found_however_the_audio_path_is_written(tmp_path, monkeypatch):
    """A split holds absolute paths and an evaluation the manifest's, relative when the audio
    lies beside it: with the corpus inside the output folder every speaker was "?"."""
    from ctcasr.manifest import ManifestEntry, read_manifest, write_manifest
    from recipes.report import SpeakerOf

    out = tmp_path / "out" / "data"
    (out / "wav").mkdir(parents=True)
    split = []
    for name, speaker in (("a1", "alice"), ("b1", "bob")):
        (out / "wav" / f"{name}.wav").write_bytes(b"")
        split.append(ManifestEntry(str((out / "wav" / f"{name}.wav").resolve()), "yes", 1.0,
                                   speaker))  # fmt: skip
    write_manifest(out / "test.jsonl", split)
    monkeypatch.chdir(tmp_path)
    ids = [e.audio_filepath for e in read_manifest("out/data/test.jsonl", check_audio=False)
           .entries]  # fmt: skip
    assert ids[0] == "out/data/wav/a1.wav"  # as an evaluation names it
    wer = per_speaker_wer(ids, ["yes", "yes"], ["yes", "no"], SpeakerOf(split))
    assert wer == pytest.approx({"alice": 0.0, "bob": 100.0})
