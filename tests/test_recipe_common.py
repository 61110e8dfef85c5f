"""Recipe plumbing a user meets before any training: downloads, unreadable audio, output
paths, duplicate recordings, corpora missing a part."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ctcasr.errors import CtcasrError
from recipes.common import audio_duration, check_outputs, download_tarball, one_per_recording
from tests.helpers import held_elsewhere


def _clip(path: Path, seconds: float = 0.1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.zeros(int(16000 * seconds), np.float32), 16000)
    return path


def test_download_fails_in_one_line_and_never_nests_a_second_copy(tmp_path):
    """No network was a urllib traceback; a second run downloaded again into the corpus
    folder, one level deeper, and a third crashed."""
    with pytest.raises(CtcasrError, match=r"cannot download file://.*missing\.tar\.gz"):
        download_tarball(f"file://{tmp_path / 'missing.tar.gz'}", tmp_path / "corpus")
    _clip(tmp_path / "have" / "recordings" / "0_a_0.wav")
    assert download_tarball("file:///nowhere.tar.gz", tmp_path / "have") == tmp_path / "have"
    assert [p.name for p in (tmp_path / "have").iterdir()] == ["recordings"]


def test_download_from_a_silent_server_times_out_in_one_line(tmp_path, monkeypatch):
    """A server (or a firewall) that accepts and never answers left --download waiting
    forever: urlopen had no timeout."""
    import socket

    import recipes.common

    monkeypatch.setattr(recipes.common, "DOWNLOAD_TIMEOUT", 0.5)
    with socket.create_server(("127.0.0.1", 0)) as server:
        url = f"http://127.0.0.1:{server.getsockname()[1]}/an4.tar.gz"
        with pytest.raises(CtcasrError, match=r"cannot download http://127.*timed out"):
            download_tarball(url, tmp_path / "corpus")
    assert not any((tmp_path / "corpus").iterdir())  # the next run tries again


def test_unreadable_audio_and_duplicate_recordings(tmp_path):
    """An empty or corrupt file was a libsndfile traceback in the AN4 and FSDD recipes; a
    recording kept as both .wav and .flac was listed twice."""
    (tmp_path / "bad.flac").write_bytes(b"")
    with pytest.raises(CtcasrError, match=r"bad\.flac: cannot read audio"):
        audio_duration(tmp_path / "bad.flac")
    assert audio_duration(_clip(tmp_path / "ok.wav", 0.5)) == 0.5
    paths = [Path("r/a.flac"), Path("r/a.wav"), Path("r/b.wav"), Path("r/c.FLAC"), Path("r/c.wav")]
    assert one_per_recording(paths) == [Path("r/a.flac"), Path("r/b.wav"), Path("r/c.FLAC")]


def test_fsdd_prepare_names_an_unreadable_file_and_keeps_one_copy(tmp_path):
    from recipes.fsdd.prepare import prepare

    _complete_fsdd(tmp_path / "recordings")
    for index in (0, 30):
        _clip(tmp_path / "recordings" / f"3_theo_{index}.flac")
    split = prepare(tmp_path, tmp_path / "out")
    assert [Path(e.audio_filepath).name for e in split.test + split.train
            if e.text == "three"] == ["3_theo_0.flac", "3_theo_30.flac"]  # fmt: skip
    (tmp_path / "recordings" / "4_theo_31.flac").write_bytes(b"")
    with pytest.raises(CtcasrError, match=r"4_theo_31\.flac: cannot read audio"):
        prepare(tmp_path, tmp_path / "out")


def _complete_fsdd(folder: Path, speakers: tuple[str, ...] = ("theo",)) -> None:
    """The smallest FSDD-shaped corpus prepare accepts: each digit by each speaker in test,
    dev and train (indices 0, 5, 30)."""
    for digit in range(10):
        for speaker in speakers:
            for index in (0, 5, 30):
                _clip(folder / f"{digit}_{speaker}_{index}.wav")


def test_fsdd_prepare_refuses_a_corpus_missing_digits_or_speakers(tmp_path):
    """An interrupted extraction (name order: digit by digit) gave manifests without the
    last digits and a model that never heard them, without a word said."""
    from recipes.fsdd.prepare import prepare

    _complete_fsdd(tmp_path / "recordings", ("theo", "lucas"))
    assert len(prepare(tmp_path, tmp_path / "out").test) == 20
    for path in (tmp_path / "recordings").glob("[89]_*"):
        path.unlink()
    (tmp_path / "recordings" / "7_lucas_5.wav").unlink()
    with pytest.raises(CtcasrError, match=r"incomplete FSDD: no recordings of eight by lucas "
                       r"in test \(index 0-4\); .* and 10 more; is the download complete"):
        prepare(tmp_path, tmp_path / "out2")
    assert not (tmp_path / "out2").exists()


def test_outputs_are_checked_before_any_work(tmp_path):
    """A results path in a missing folder, or one that is a folder, and an --out that is a
    file, failed only after training had finished; the report was lost."""
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(CtcasrError, match="--out is a file, not a folder"):
        check_outputs(tmp_path / "a_file", None)
    (tmp_path / "res").mkdir()
    with pytest.raises(CtcasrError, match="--results names the page to write, not a folder"):
        check_outputs(tmp_path / "out", tmp_path / "res")
    check_outputs(tmp_path / "out", tmp_path / "new" / "deeper" / "RESULTS.md")
    assert (tmp_path / "out").is_dir() and (tmp_path / "new" / "deeper").is_dir()


def test_missing_matplotlib_is_refused_before_any_work(tmp_path, monkeypatch):
    """matplotlib is an extra ('.[recipes]'): without it a recipe trained and scored, then
    died with a ModuleNotFoundError traceback at the plots, and wrote no results page."""
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib now fails
    check_outputs(tmp_path / "out", None)  # no page, no plots
    with pytest.raises(CtcasrError, match=r"plots need matplotlib: pip install -e '\.\[recipes"):
        check_outputs(tmp_path / "out", tmp_path / "RESULTS.md")


def test_speech_commands_without_the_held_out_words_is_refused_before_training(tmp_path):
    from recipes.speech_commands.prepare import COMMANDS, prepare

    for i, speaker in enumerate(f"{k:08x}" for k in range(10)):
        for word in COMMANDS:
            _clip(tmp_path / "data" / word / f"{speaker}_nohash_{i % 2}.wav")
    with pytest.raises(CtcasrError, match="no clips of the held-out words"):
        prepare(tmp_path / "data", tmp_path / "out")


def test_pretrained_needs_every_corpus_and_the_synthetic_corpus_asked_for(tmp_path, capsys):
    """A missing fsdd/ was a FileNotFoundError; an earlier synthetic corpus was reused
    whatever --synthetic said, even 0."""
    from recipes.pretrained.__main__ import main, prepare_all

    (tmp_path / "data" / "an4").mkdir(parents=True)
    with pytest.raises(CtcasrError, match=r"fsdd: not found; --data must hold an4/, fsdd/"):
        prepare_all(tmp_path / "data", tmp_path / "out", 0, 0)
    # Each with where to get it: the error sent users to ../shared/data/README.md, which only
    # the project's own machines have.
    from recipes.fsdd.prepare import URL as FSDD_URL

    with pytest.raises(CtcasrError, match=rf"download: {re.escape(FSDD_URL)}\)"):
        prepare_all(tmp_path / "data", tmp_path / "out", 0, 0)
    for name in ("fsdd", "speech_commands"):
        (tmp_path / "data" / name).mkdir()
    with pytest.raises(CtcasrError, match=r"noise: not found.*_background_noise_/ folder"):
        prepare_all(tmp_path / "data", tmp_path / "out", 0, 0)
    # A bad --repeat is refused before the minutes of preparation (nothing written).
    assert main(["--data", str(tmp_path / "data"), "--out", str(tmp_path / "o2"),
                 "--repeat", "an4=x"]) == 1  # fmt: skip
    assert "--repeat 'an4=x': expected CORPUS=N" in capsys.readouterr().err  # not fsdd's
    assert not (tmp_path / "o2").exists()


def test_pretrained_checks_average_with_bundles_before_training(tmp_path, capsys):
    """A missing --average-with bundle, or one with only model.onnx (the installed bundled
    model), failed at the averaging after the whole training run."""
    from recipes.pretrained.__main__ import main

    default = Path(__file__).resolve().parents[1] / "ctcasr" / "pretrained" / "default"
    for bundle, why in ((tmp_path / "none", "model bundle not found"),
                        (default, "has no Keras weights")):  # fmt: skip
        assert main(["--data", str(tmp_path / "data"), "--out", str(tmp_path / "o"),
                     "--average-with", str(bundle)]) == 1  # fmt: skip
        assert why in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
    # --synthetic-subset 0 was refused only after minutes of preparing the corpora.
    assert main(["--data", str(tmp_path / "data"), "--out", str(tmp_path / "o"),
                 "--synthetic-subset", "0"]) == 1  # fmt: skip
    assert "--synthetic-subset must be >= 1, got 0" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_pretrained_reuses_only_the_synthetic_corpus_asked_for(
        tmp_path, fsdd_dir, an4_dir, speech_commands_dir, noise_dir):
    from recipes.pretrained.__main__ import prepare_all

    data_root = an4_dir.parent
    synth = tmp_path / "out" / "synthetic" / "synthetic.jsonl"
    synth.parent.mkdir(parents=True)
    line = {"audio_filepath": str(_clip(tmp_path / "s.wav")), "text": "cat", "duration": 0.1}
    synth.write_text(json.dumps(line) + "\n")
    assert prepare_all(data_root, tmp_path / "out", 0, 0)["synthetic"] is None
    assert prepare_all(data_root, tmp_path / "out", 1, 0)["synthetic"] == synth
    with pytest.raises(CtcasrError, match="holds 1 synthetic clips, not the 50 asked for"):
        prepare_all(data_root, tmp_path / "out", 50, 0)


@pytest.mark.parametrize("recipe", ["fsdd", "an4", "speech_commands", "pretrained"])
def test_a_rerun_into_an_earlier_runs_folder_leaves_its_manifests_alone(recipe, tmp_path, capsys):
    """A rerun without --resume (another --data, say) rewrote the manifests in --out before
    training refused the folder: the earlier run's model was then scored on other data."""
    import importlib

    from ctcasr.train import CHECKPOINTS, LATEST

    out = tmp_path / "exp"
    (out / "train" / CHECKPOINTS).mkdir(parents=True)
    (out / "train" / CHECKPOINTS / LATEST).write_text("epoch-0001\n")
    manifest = out / "data" / "train.jsonl"
    manifest.parent.mkdir()
    manifest.write_text("earlier\n")
    main = importlib.import_module(f"recipes.{recipe}.__main__").main
    # speech_commands says a missing corpus first (it has no --download to wait for)
    (tmp_path / "other").mkdir()
    assert main(["--data", str(tmp_path / "other"), "--out", str(out),
                 "--results", str(tmp_path / "R.md")]) == 1  # fmt: skip
    assert "holds checkpoints of an earlier run; pass --resume" in capsys.readouterr().err
    assert manifest.read_text() == "earlier\n"
    assert sorted(p.name for p in out.iterdir()) == ["data", "train"]


@pytest.mark.parametrize("recipe", ["fsdd", "an4", "speech_commands", "pretrained"])
@pytest.mark.parametrize("held", ["", "train"])
def test_a_run_into_a_folder_another_run_writes_is_refused_before_it_writes(
        recipe, held, tmp_path, capsys):
    """A second recipe into the --out of one still running (or beside a `ctcasr train` into
    its train/) rewrote the first one's manifests, and only its training then refused the
    folder: the recipe now holds its folders, and its own train() takes its lock again."""
    import importlib

    from ctcasr.utils import LOCK_NAME

    out = tmp_path / "exp"
    manifest = out / "data" / "train.jsonl"
    manifest.parent.mkdir(parents=True)
    manifest.write_text("the first run's\n")
    main = importlib.import_module(f"recipes.{recipe}.__main__").main
    (tmp_path / "other").mkdir()
    argv = ["--data", str(tmp_path / "other"), "--out", str(out), "--results",
            str(tmp_path / "R.md")]
    with held_elsewhere(out / held) as first:
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err == (f"error: {out / held}: another run (pid {first.pid}) is writing to this "
                       "folder; wait for it to end or choose another output directory\n")
        assert manifest.read_text() == "the first run's\n"
        assert sorted(p.name for p in (out / held).iterdir()) == (
            [LOCK_NAME] if held else [LOCK_NAME, "data"])
        assert (out / held / LOCK_NAME).read_text() == f"{first.pid}\n"  # still the first's
    assert sorted(p.name for p in out.iterdir()) == ["data"]  # and nothing of the second's


def test_download_into_a_file_or_an_unwritable_place_is_one_line(tmp_path):
    """``--download --data`` naming a file, or a folder that cannot be made, was a
    FileExistsError / FileNotFoundError traceback."""
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(CtcasrError, match=r"a_file: cannot download into it \(File exists"):
        download_tarball("file:///nowhere.tar.gz", tmp_path / "a_file")
    with pytest.raises(CtcasrError, match=r"a_file/fsdd: cannot download into it"):
        download_tarball("file:///nowhere.tar.gz", tmp_path / "a_file" / "fsdd")


def test_a_recipe_writing_into_a_full_disk_fails_in_one_line(tmp_path, capsys):
    """``python -m recipes.fsdd --out`` on a full disk ended in a traceback from
    write_manifest: run_main turned only CtcasrError into one line."""
    from recipes.common import run_main
    from recipes.fsdd.__main__ import parse_args

    def run(args, argv):
        from ctcasr.manifest import write_manifest

        write_manifest(Path(args.out) / "train.jsonl", [])
        return 0

    def full(self, *args, **kwargs):  # what a write into a full disk raises
        raise OSError(28, "No space left on device")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "write_text", full)
        status = run_main(parse_args, run, ["--out", str(tmp_path / "exp")])
    assert status == 1
    assert capsys.readouterr().err == (f"error: {tmp_path / 'exp' / 'train.jsonl'}: "
                                       "No space left on device\n")  # fmt: skip
    assert list((tmp_path / "exp").iterdir()) == []


def test_training_pages_name_the_command_that_scores_the_bundled_model():
    """The AN4 and FSDD pages' Reproduce sections say how to score a model without training,
    with the corpus folder the page's own run used; the pages are generated, so the line is
    the generator's (as committed) and survives the next run."""
    from recipes.common import scoring_command

    assert scoring_command("an4", ["--data", "/x y/an4", "--resume"]) == (
        "python -m recipes.an4 --data '/x y/an4' --model default --out exp/an4-default")
    assert scoring_command("fsdd", ["--data=d"]).startswith("python -m recipes.fsdd --data d ")
    default = scoring_command("fsdd", [])
    assert default.startswith("python -m recipes.fsdd --data ../shared/data/fsdd ")
    root = Path(__file__).resolve().parents[1] / "recipes"
    for recipe in ("an4", "fsdd"):
        page = (root / recipe / "RESULTS.md").read_text()
        assert scoring_command(recipe, ["--data", f"../shared/data/{recipe}"]) in page
