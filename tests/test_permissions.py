"""What a user who may not read or write something is told. Root may do anything (and CI runs
as root), so these run as the user nobody there (:func:`tests.helpers.unprivileged`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import soundfile as sf
from typer.testing import CliRunner

from ctcasr.cli import app
from ctcasr.errors import ConfigError, CtcasrError, ManifestError
from tests.helpers import shared_folder, unprivileged


@pytest.mark.parametrize("args", [
    ["evaluate", "--manifest", "{locked}"],
    ["tune", "--manifest", "{locked}", "--no-save"],
    ["train", "{locked}", "-o", "{out}", "--epochs", "1"],
    ["train", "{open}", "--dev", "{locked}", "-o", "{out}", "--epochs", "1"],
    ["lm", "build", "{locked}", "-o", "{out}.arpa"],
])  # fmt: skip
def test_a_file_the_user_may_not_read_is_one_error_exit_1(tmp_path, args):
    # The option parser's own check (os.access) said "Invalid value for '--manifest': path
    # ... is not readable." in a box, exit 2, which the README keeps for what cannot be
    # parsed; root passed it and was told by ctcasr, exit 1.
    with shared_folder(tmp_path) as folder:
        locked = folder / "locked.jsonl"
        seven = Path(__file__).resolve().parents[1] / "examples" / "seven.wav"
        locked.write_text(json.dumps({"audio_filepath": str(seven), "text": "seven",
                                      "duration": sf.info(str(seven)).duration}) + "\n")
        (folder / "open.jsonl").write_text(locked.read_text())
        locked.chmod(0)
        (folder / "open.jsonl").chmod(0o644)
        (folder / "w").mkdir()
        (folder / "w").chmod(0o777)  # an output folder nobody may write
        names = {"locked": folder / "missing.jsonl", "open": folder / "open.jsonl",
                 "out": folder / "w" / "out"}
        # The same path with a file that is missing, first: the modules it needs are
        # imported before nobody, who may not read a Python installed in root's home, runs it.
        missing = CliRunner().invoke(app, [a.format(**names) for a in args])
        assert "not found" in str(missing.exception), missing.output
        names["locked"] = locked
        with unprivileged():
            result = CliRunner().invoke(app, [a.format(**names) for a in args])
    # What ctcasr.cli.main prints as one line, exit 1.
    assert isinstance(result.exception, CtcasrError | OSError), result.output
    assert "Permission denied" in str(result.exception) and str(locked) in str(result.exception)


def test_a_folder_the_user_may_not_list_is_said_not_skipped(tmp_path):
    # Path.rglob passes over a folder it may not list: `transcribe DIR` said "directory holds
    # no audio files", or with one such subfolder transcribed the rest and exited 0, and
    # --noise-dir was "no audio files" or mixed in part of the noise.
    from ctcasr.data import NoiseBank
    from ctcasr.inputs import expand_inputs

    with shared_folder(tmp_path) as folder:
        seven = Path(__file__).resolve().parents[1] / "examples" / "seven.wav"
        for sub in ("open", "locked", ".hidden"):
            (folder / "tree" / sub).mkdir(parents=True)
            (folder / "tree" / sub / "a.wav").write_bytes(seven.read_bytes())
        for path in folder.rglob("*"):
            path.chmod(0o755 if path.is_dir() else 0o644)
        (folder / "tree" / "locked").chmod(0)
        (folder / "tree" / ".hidden").chmod(0)  # skipped as a glob skips it: not an error
        tree, locked = folder / "tree", folder / "tree" / "locked"
        assert NoiseBank.paths(tree / "open") == [tree / "open" / "a.wav"]  # imports it all
        with unprivileged():
            some = expand_inputs([str(tree)])
            none = expand_inputs([str(locked)])
            with pytest.raises(ConfigError) as noise:
                NoiseBank.paths(locked)
            with pytest.raises(ConfigError, match=r"^noise folder: .*: cannot list folder"):
                NoiseBank.paths(tree)  # the rest of the noise is not mixed in as if all
        locked.chmod(0o755)
        (folder / "tree" / ".hidden").chmod(0o755)
    assert some.files == [str(tree / "open" / "a.wav")]
    assert some.problems == [(str(tree), f"{locked}: cannot list folder (Permission denied)")]
    assert none.files == []
    assert none.problems == [(str(locked), f"{locked}: cannot list folder (Permission denied)")]
    assert str(noise.value) == f"noise folder: {locked}: cannot list folder (Permission denied)"


def test_an_lm_or_word_list_the_user_may_not_read_says_so(tmp_path):
    # It was "not a readable KenLM model (ARPA or binary)", as if the format were wrong, and a
    # word list "decoder 'kenlm': [Errno 13] Permission denied: 'PATH'". One the user may not
    # read and one in a folder the user may not search are worded alike (the first was
    # "cannot read language model (Permission denied)", the second "...: Permission denied").
    import kenlm  # noqa: F401  (imported by root: nobody may not read a Python in root's home)

    from ctcasr.bundle import load_bundle
    from ctcasr.lm import load_lm, read_unigrams

    lm = load_bundle(None).path / "lm.arpa"
    with shared_folder(tmp_path) as folder:
        locked = folder / "lm.arpa"
        locked.write_bytes(lm.read_bytes())
        locked.chmod(0)
        shut = folder / "shut"
        shut.mkdir(mode=0o700)
        hidden = shut / "lm.arpa"
        hidden.write_bytes(lm.read_bytes())
        with unprivileged():
            with pytest.raises(ConfigError) as model:
                load_lm(locked)
            with pytest.raises(ConfigError) as words:
                read_unigrams(locked)
            with pytest.raises(ConfigError) as unsearched:
                load_lm(hidden)
    assert str(model.value) == f"{locked}: cannot read language model: Permission denied"
    assert str(words.value) == f"{locked}: cannot read word list: Permission denied"
    assert str(unsearched.value) == f"{hidden}: cannot read language model: Permission denied"


def test_every_text_file_the_user_may_not_read_is_worded_alike(tmp_path):
    # The manifest, hotword file, command list and alphabet said "cannot read manifest:
    # [Errno 13] Permission denied: 'PATH'" (the path twice) and the config "cannot read
    # config (Permission denied)", where an LM or audio file says "cannot read WHAT: reason".
    from ctcasr.decoding.grammar import read_commands
    from ctcasr.decoding.hotwords import read_hotword_specs
    from ctcasr.manifest import read_manifest
    from ctcasr.text import Alphabet
    from ctcasr.train import TrainConfig

    readers = {"manifest": read_manifest, "hotword file": read_hotword_specs,
               "command list": read_commands, "alphabet": Alphabet.from_file,
               "config": TrainConfig.from_file}  # fmt: skip
    with shared_folder(tmp_path) as folder:
        locked = folder / "locked.json"
        locked.write_text("{}\n")
        locked.chmod(0)
        said = {}
        with unprivileged():
            for what, read in readers.items():
                with pytest.raises(CtcasrError) as refused:
                    read(locked)
                said[what] = str(refused.value)
    assert said == {what: f"{locked}: cannot read {what}: Permission denied" for what in readers}


@pytest.mark.parametrize("where", ["{ro}", "{ro}/run", "{ro}/a/b"])
def test_training_into_a_folder_it_cannot_write_is_refused_before_reading(tmp_path,
                                                                          monkeypatch, where):
    # Every utterance was read and the model built, then the first write said
    # "Permission denied" (the folder given, or its lock file when it existed).
    from ctcasr.train import TrainConfig, train
    from ctcasr.utils import import_tensorflow

    import_tensorflow()  # by root, before nobody runs (it may not read a Python in root's home)
    monkeypatch.setattr(sys.modules["ctcasr.train"], "load_corpus",
                        lambda *a, **k: pytest.fail("the data was read first"))
    with shared_folder(tmp_path) as folder:
        ro = folder / "ro"
        ro.mkdir(mode=0o555)
        ro.chmod(0o555)  # whatever the umask
        manifest = folder / "train.jsonl"
        manifest.write_text("")
        manifest.chmod(0o644)
        out = where.format(ro=ro)
        config = TrainConfig(train_manifests=[str(manifest)], output_dir=out, epochs=1)
        with unprivileged(), pytest.raises(CtcasrError) as refused:
            train(config, verbose=0)
        ro.chmod(0o755)
    where = "" if out == str(ro) else f"{ro} is "
    assert str(refused.value) == f"{out}: cannot write the output folder ({where}not writable)"


def test_a_folder_that_cannot_be_written_is_worded_alike_wherever_it_is_refused(tmp_path):
    # The same refusal was worded three ways: `transcribe -o` "cannot use as the output
    # folder (not writable)" (and "(Permission denied)" for one it would make there), a bundle
    # or checkpoint replaced whole "folder is not writable; not replaced", and `train -o` as
    # the test above says.
    from ctcasr.utils import atomic_dir

    seven = str(Path(__file__).resolve().parents[1] / "examples" / "seven.wav")
    with shared_folder(tmp_path) as folder:
        ro = folder / "ro"
        (ro / "b").mkdir(parents=True)
        for path in (ro / "b", ro):
            path.chmod(0o555)
        expected = {ro / "b": f"{ro / 'b'}: cannot write the output folder (not writable)",
                    ro / "new": f"{ro / 'new'}: cannot write the output folder ({ro} is not "
                                "writable)"}  # fmt: skip
        CliRunner().invoke(app, ["transcribe", str(folder / "missing.wav")])  # imports, as root
        said = {}
        with unprivileged():
            for out in expected:
                result = CliRunner().invoke(app, ["transcribe", seven, "-o", str(out)])
                with pytest.raises(CtcasrError) as replaced, atomic_dir(out):
                    pass
                said[out] = (result.exit_code, result.output.strip(), str(replaced.value))
        ro.chmod(0o755)
        assert sorted(p.name for p in ro.iterdir()) == ["b"]  # nothing made or left there
    assert said == {out: (1, f"error: {text}", text) for out, text in expected.items()}


def test_a_bundle_in_a_folder_that_cannot_be_written_is_refused_before_the_work(tmp_path,
                                                                                 monkeypatch):
    # A bundle is replaced by a new folder made beside it: one the user may write, in a
    # folder the user may not (a shared models folder), passed the check, then `tune`
    # searched all its settings and failed with "[Errno 13] Permission denied: 'DIR/b'".
    import importlib

    from ctcasr.utils import atomic_dir
    from tests.helpers import tiny_bundle

    tune_module = importlib.import_module("ctcasr.tune")  # ctcasr.tune is also the function

    def searched(*args, **kwargs):
        raise AssertionError("tuned before the folder was checked")

    monkeypatch.setattr(tune_module, "compute_log_probs", searched)
    with shared_folder(tmp_path) as folder:
        ro = folder / "ro"
        tiny_bundle(ro / "b", 1)
        for path in (ro / "b", *(ro / "b").iterdir()):
            path.chmod(0o777 if path.is_dir() else 0o666)
        (folder / "open" / "w").mkdir(parents=True)
        for path in (folder / "open", folder / "open" / "w"):
            path.chmod(0o777)
        (ro / "link").symlink_to(folder / "open" / "w")
        ro.chmod(0o555)
        text = f"{ro / 'b'}: cannot write the output folder ({ro} is not writable)"
        "".encode("utf-8-sig")  # imported as root: nobody may not read this Python's codecs
        with unprivileged():
            with pytest.raises(CtcasrError) as tuned:
                tune_module.tune(folder / "dev.jsonl", ro / "b", decoder="grammar",
                                 decoder_options={"commands": ["seven", "three"]})
            with pytest.raises(CtcasrError) as replaced, atomic_dir(ro / "b"):
                pass
            # a link there to a bundle elsewhere: the folder it points to is replaced
            with atomic_dir(ro / "link") as tmp:
                (tmp / "new").write_text("new")
        ro.chmod(0o755)
        (ro / "link").unlink()
        assert [p.name for p in (folder / "open" / "w").iterdir()] == ["new"]
        assert sorted(p.name for p in ro.iterdir()) == ["b"]  # nothing made or left there
    assert (str(tuned.value), str(replaced.value)) == (text, text)


def test_a_manifest_line_whose_audio_cannot_be_looked_up_is_one_bad_line(tmp_path):
    # Path.is_file raised for audio under a folder that may not be searched, or with a name
    # too long: evaluate --skip-bad ended on that line with "PATH: Permission denied", no
    # manifest or line named, and scored none of the rest.
    from ctcasr.manifest import read_manifest

    seven = Path(__file__).resolve().parents[1] / "examples" / "seven.wav"
    with shared_folder(tmp_path) as folder:
        (folder / "locked").mkdir()
        (folder / "locked" / "a.wav").write_bytes(seven.read_bytes())
        (folder / "locked").chmod(0o700)
        manifest = folder / "m.jsonl"
        audio = [folder / "locked" / "a.wav", folder / ("a" * 300 + ".wav"), seven]
        manifest.write_text("".join(json.dumps({"audio_filepath": str(a), "text": "seven",
                                                "duration": 0.9}) + "\n" for a in audio))
        manifest.chmod(0o644)
        read_manifest(manifest, skip_bad=True)  # imports its codec: nobody may not read it
        with unprivileged():
            report = read_manifest(manifest, skip_bad=True)
            with pytest.raises(ManifestError, match=rf"^{manifest}:1: cannot read audio file"):
                read_manifest(manifest)
    assert [e.audio_filepath for e in report.entries] == [str(seven)]
    assert [s.split(": ", 1)[0] for s in report.skipped] == [f"{manifest}:1", f"{manifest}:2"]
    assert "Permission denied" in report.skipped[0] and "too long" in report.skipped[1]
