"""Speech Commands recipe: manifests from the real corpus, and the 12-class KWS helpers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ctcasr.decoding.grammar import read_commands
from ctcasr.errors import CtcasrError
from ctcasr.manifest import read_manifest
from ctcasr.text import Alphabet
from recipes.speech_commands.prepare import (
    CLASSES,
    COMMANDS,
    HELD_OUT_WORDS,
    confusion_matrix,
    describe,
    prepare,
    twelve_class_label,
    twelve_class_prediction,
)

MANIFESTS = ("train", "dev", "test", "unseen")


@pytest.fixture
def prepared(speech_commands_dir, tmp_path):
    """``prepare`` run on the real corpus (about half a second; skips when it is absent)."""
    out = tmp_path / "prepared"
    return speech_commands_dir, out, prepare(speech_commands_dir, out)


def test_every_clip_lands_in_exactly_one_manifest(prepared):
    data, _, split = prepared
    audio = [p for p in data.rglob("*") if p.suffix.lower() in (".wav", ".flac")]
    entries = [e for name in MANIFESTS for e in getattr(split, name)]
    assert len(entries) == len(audio)
    assert len({e.audio_filepath for e in entries}) == len(audio)


def test_speakers_disjoint_and_fractions_respected(prepared):
    _, _, split = prepared
    train, dev, test = (set(split.speakers[n]) for n in ("train", "dev", "test"))
    assert train and dev and test
    assert not train & dev and not train & test and not dev & test
    for name in ("train", "dev", "test"):
        entries = getattr(split, name)
        assert {e.speaker for e in entries if e.speaker} == set(split.speakers[name])
        assert split.speakers[name] == sorted(split.speakers[name])
    total = len(train | dev | test)
    assert 0.15 <= len(test) / total <= 0.35
    assert 0.05 <= len(dev) / total <= 0.25


def test_held_out_words_only_in_unseen(prepared):
    _, _, split = prepared
    held_out = set(HELD_OUT_WORDS)
    for name in ("train", "dev", "test"):
        assert not {e.text for e in getattr(split, name)} & held_out
    assert {e.text for e in split.unseen} <= held_out
    assert len(split.unseen) > 30
    assert all(e.speaker for e in split.unseen)


def test_transcripts(prepared):
    _, _, split = prepared
    kept = [e for n in ("train", "dev", "test") for e in getattr(split, n)]
    silence = [e for e in kept if Path(e.audio_filepath).parent.name == "_silence_"]
    assert silence and all(e.text == "" and e.speaker is None for e in silence)
    assert all(e.speaker for e in kept if e.text)
    assert len(silence) == sum(1 for e in kept if e.text == "")
    train_words = {e.text for e in split.train}
    assert set(COMMANDS) <= train_words
    assert train_words - set(COMMANDS) - {""}, "no unknown words in train"
    for entry in split.train:
        if Path(entry.audio_filepath).parent.name == "_unknown_":
            assert Path(entry.audio_filepath).name.startswith(entry.text + "_")
        elif entry.text:
            assert Path(entry.audio_filepath).parent.name == entry.text
    assert all(0.5 < e.duration <= 1.01 for n in MANIFESTS for e in getattr(split, n))


def test_files_written_and_readable(prepared):
    _, out, split = prepared
    alphabet = Alphabet()
    for name in MANIFESTS:
        report = read_manifest(out / f"{name}.jsonl", alphabet)
        assert len(report.entries) == len(getattr(split, name))
        assert not report.skipped
    assert read_commands(out / "commands.txt") == list(COMMANDS)
    assert len((out / "commands.txt").read_text().splitlines()) == 10
    assert read_commands(out / "unseen_commands.txt") == list(HELD_OUT_WORDS)
    text = describe(split)
    assert "train:" in text and "unseen" in text and "silence" in text


def test_deterministic(prepared, tmp_path):
    data, out, _ = prepared
    again = tmp_path / "again"
    prepare(data, again)
    names = [f"{n}.jsonl" for n in MANIFESTS] + ["commands.txt", "unseen_commands.txt"]
    for name in names:
        assert (again / name).read_bytes() == (out / name).read_bytes(), name


def test_seed_changes_split(prepared, tmp_path):
    data, _, split = prepared
    other = prepare(data, tmp_path, seed=1)
    assert other.speakers["test"] != split.speakers["test"]


def _write_clip(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.zeros(1600, dtype=np.float32), 16000)


def test_synthetic_layout_wav_and_background_noise(tmp_path):
    """A fresh download's layout: wav, a folder per word, _background_noise_ not _silence_."""
    data = tmp_path / "data"
    for i, speaker in enumerate(f"{k:08x}" for k in range(10)):
        for word in (*COMMANDS, "bed", "bird"):
            _write_clip(data / word / f"{speaker}_nohash_{i % 2}.wav")
    _write_clip(data / "_background_noise_" / "white_noise.wav")
    split = prepare(data, tmp_path / "out")
    assert sum(len(getattr(split, n)) for n in MANIFESTS) == 10 * 12
    assert {e.text for e in split.unseen} == {"bird"}
    assert "bed" in {e.text for n in ("train", "dev", "test") for e in getattr(split, n)}
    assert "silence left out" in describe(split)


def test_held_out_words_without_clips_are_named(tmp_path):
    """A copy without some held-out words' folders (bird/, cat/ in the full layout) showed
    them only as "cat 0" among the counts, and the unseen-word score silently covered fewer
    words; every command word missing is refused (test_bad_folder_raises)."""
    data = tmp_path / "data"
    for i, speaker in enumerate(f"{k:08x}" for k in range(10)):
        for word in (*COMMANDS, *(w for w in HELD_OUT_WORDS if w not in ("cat", "tree"))):
            _write_clip(data / word / f"{speaker}_nohash_{i % 2}.wav")
    notes = [line for line in describe(prepare(data, tmp_path / "out")).splitlines()
             if "held-out" in line]  # fmt: skip
    assert notes == [f"note: no clips of the held-out word(s) cat, tree (no folder of theirs, "
                     f"none in _unknown_/): the unseen-word test has none of them, though it still "
                     f"chooses among all {len(HELD_OUT_WORDS)}"]  # fmt: skip
    (data / "yes").rename(tmp_path / "yes")
    with pytest.raises(CtcasrError, match=r"not a Speech Commands v0.02 layout: no folder\(s\) "
                       r"yes \("):  # fmt: skip
        prepare(data, tmp_path / "out2")


def test_bad_folder_raises(tmp_path):
    (tmp_path / "random").mkdir()
    (tmp_path / "random" / "x.txt").write_text("hello")
    (tmp_path / "notes.md").write_text("nothing")
    with pytest.raises(CtcasrError, match="not a Speech Commands"):
        prepare(tmp_path, tmp_path / "out")
    with pytest.raises(CtcasrError, match="not found"):
        prepare(tmp_path / "missing", tmp_path / "out")


def test_bad_file_name_raises(tmp_path):
    for word in COMMANDS:
        _write_clip(tmp_path / word / "0a1b2c3d_nohash_0.wav")
    _write_clip(tmp_path / "yes" / "recording.wav")
    with pytest.raises(CtcasrError, match=r"recording\.wav: unexpected file name in yes/ "
                       r"\(expected <speaker>_nohash_<n>\.wav\)"):  # fmt: skip
        prepare(tmp_path, tmp_path / "out")
    (tmp_path / "yes" / "recording.wav").unlink()
    _write_clip(tmp_path / "_unknown_" / "0a1b2c3d_nohash_0.wav")  # no word before the speaker
    with pytest.raises(CtcasrError, match=r"unexpected file name in _unknown_/ "
                       r"\(expected <word>_<speaker>_nohash_<n>\.wav\)"):  # fmt: skip
        prepare(tmp_path, tmp_path / "out")


def test_bad_fractions_raise(tmp_path):
    with pytest.raises(CtcasrError, match="fraction"):
        prepare(tmp_path, tmp_path / "out", dev_fraction=0.5, test_fraction=0.5)


def test_twelve_class_label():
    assert list(CLASSES) == [*COMMANDS, "_unknown_", "_silence_"]
    assert twelve_class_label("yes") == "yes"
    assert twelve_class_label("go") == "go"
    assert twelve_class_label("") == "_silence_"
    assert twelve_class_label("  ") == "_silence_"
    assert twelve_class_label("backward") == "_unknown_"
    assert twelve_class_label("marvin") == "_unknown_"


def test_twelve_class_prediction():
    assert twelve_class_prediction("yes", False, "yes") == "yes"
    assert twelve_class_prediction("yes", False, "yeah") == "yes"  # grammar decides the word
    assert twelve_class_prediction("stop", True, "") == "_silence_"  # silence is rejected
    assert twelve_class_prediction("", False, "") == "_silence_"
    assert twelve_class_prediction("up", True, "bed") == "_unknown_"
    assert twelve_class_prediction("marvin", False, "marvin") == "_unknown_"  # not a command


def test_confusion_matrix():
    classes = ["yes", "no", "_unknown_"]
    m = confusion_matrix(["yes", "yes", "no", "_unknown_"], ["yes", "no", "no", "yes"], classes)
    assert m == [[1, 1, 0], [0, 1, 0], [1, 0, 0]]
    assert sum(map(sum, confusion_matrix(["yes"], ["_silence_"]))) == 1  # default: CLASSES
    assert confusion_matrix([], [], classes) == [[0] * 3] * 3
    with pytest.raises(CtcasrError):
        confusion_matrix(["yes"], [], classes)
    with pytest.raises(CtcasrError):
        confusion_matrix(["maybe"], ["yes"], classes)


def test_command_scores_intervals_count_the_clips():
    from recipes.speech_commands.__main__ import CommandScores, OneOfN
    from recipes.speech_commands.prepare import CLASSES, confusion_matrix

    labels = ["yes", "yes", "no", "_unknown_", "_silence_"] * 4
    preds = ["yes", "no", "no", "_unknown_", "yes"] * 4
    matrix = confusion_matrix(labels, preds, CLASSES)
    scores = CommandScores(0.5, 0.5, 0.6, matrix, OneOfN(9, 10, [("cat", "dog")]), 12)
    ci = scores.intervals()
    assert ci["twelve"].startswith("12/20; 95% CI ")  # the diagonal: 3 of 5, four times
    assert ci["ten"].startswith("6/12; ")
    assert ci["unseen"] == "9/10; 95% CI 59.6%-98.2%"


def test_a_missing_corpus_names_only_flags_the_recipe_has(tmp_path, capsys):
    """The hint offered --download, which this recipe (unlike AN4's and FSDD's) rejects."""
    from recipes.speech_commands.__main__ import main

    assert main(["--data", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert "speech_commands corpus not found (download: http" in err
    assert "--download" not in err


def test_silence_splits_the_same_in_wav_and_flac(tmp_path):
    """Silence clips were spread by a hash of the file name with its extension, so the
    original WAV download put most of them in other splits than the FLAC copy did."""
    assignments = []
    for ext in ("flac", "wav"):
        data = tmp_path / ext
        for i, speaker in enumerate(f"{k:08x}" for k in range(6)):
            for word in (*COMMANDS, "bird"):
                _write_clip(data / word / f"{speaker}_nohash_{i}.{ext}")
        for n in range(40):
            _write_clip(data / "_silence_" / f"{1000 + n}.{ext}")
        split = prepare(data, tmp_path / f"out-{ext}")
        assignments.append({name: sorted(Path(e.audio_filepath).stem for e in getattr(split, name)
                                         if e.text == "") for name in ("train", "dev", "test")})
    assert assignments[0] == assignments[1]
    assert all(assignments[0].values())  # every split holds some of them


def test_too_few_speakers_for_dev_and_test_are_refused(tmp_path):
    """With two speakers both went to train, and dev and test held only silence clips."""
    from recipes.speech_commands.prepare import split_speakers

    assert sorted(split_speakers(["a", "b", "c"], 0.15, 0.25, 0).values()) == [
        "dev", "test", "train"]  # fmt: skip
    with pytest.raises(CtcasrError, match="2 speakers are too few to hold out 1 for test and "
                       "1 for dev"):  # fmt: skip
        split_speakers(["a", "b"], 0.15, 0.25, 0)
    assert set(split_speakers(["a", "b"], 0.0, 0.0, 0).values()) == {"train"}
    for i, speaker in enumerate(("0a1b2c3d", "4e5f6a7b")):
        for word in (*COMMANDS, "bird"):
            _write_clip(tmp_path / "data" / word / f"{speaker}_nohash_{i}.wav")
    with pytest.raises(CtcasrError, match="too few"):
        prepare(tmp_path / "data", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_dev_words_are_kept_out_of_every_split_and_change_no_speaker(prepared, tmp_path):
    """The unseen-word test had no dev set: every other word was trained on."""
    from recipes.speech_commands.prepare import DEV_WORDS

    data, out, plain = prepared
    split = prepare(data, tmp_path / "dev", dev_words=DEV_WORDS)
    for name in ("train", "dev", "test"):
        assert not {e.text for e in getattr(split, name)} & set(DEV_WORDS)
        # the same speakers and clips, less the dev words: no test speaker moves
        assert split.speakers[name] == plain.speakers[name]
        assert getattr(split, name) == [e for e in getattr(plain, name)
                                        if e.text not in DEV_WORDS]  # fmt: skip
    assert {e.text for e in split.unseen_dev} == set(DEV_WORDS)
    assert split.unseen == plain.unseen
    assert len(split.unseen_dev) > 30 and all(e.speaker for e in split.unseen_dev)
    assert read_manifest(tmp_path / "dev" / "unseen_dev.jsonl").entries == split.unseen_dev
    assert read_commands(tmp_path / "dev" / "unseen_dev_commands.txt") == list(DEV_WORDS)
    assert "unseen dev words (kept out of training too): backward 4" in describe(split)
    # without dev words nothing is left over for an earlier run's files to be read as
    assert not (out / "unseen_dev.jsonl").exists()
    prepare(data, tmp_path / "dev")
    assert not (tmp_path / "dev" / "unseen_dev.jsonl").exists()
    assert not (tmp_path / "dev" / "unseen_dev_commands.txt").exists()


@pytest.mark.parametrize(("words", "message"), [
    (["yes"], "dev word 'yes' is one of the ten commands"),
    (["cat"], "dev word 'cat' is a held-out test word"),
    (["two words"], "expected one word"),
])  # fmt: skip
def test_bad_dev_words_are_refused(tmp_path, words, message):
    with pytest.raises(CtcasrError, match=message):
        prepare(tmp_path, tmp_path / "out", dev_words=words)


def test_a_dev_word_with_no_clips_is_refused(tmp_path):
    for i, speaker in enumerate(f"{k:08x}" for k in range(6)):
        for word in (*COMMANDS, "bird", "bed"):
            _write_clip(tmp_path / "data" / word / f"{speaker}_nohash_{i}.wav")
    split = prepare(tmp_path / "data", tmp_path / "out", dev_words=["Bed"])
    assert {e.text for e in split.unseen_dev} == {"bed"} and split.dev_words == ("bed",)
    with pytest.raises(CtcasrError, match=r"no clips of the dev word\(s\) happy in _unknown_/"):
        prepare(tmp_path / "data", tmp_path / "out2", dev_words=["bed", "happy"])
    assert not (tmp_path / "out2").exists()


def test_dev_words_flag_is_checked_before_preparing(tmp_path, capsys):
    from recipes.speech_commands.__main__ import main

    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path), "--dev-words", "bed,go"])
    assert "dev word 'go' is one of the ten commands" in capsys.readouterr().err


def test_an_extra_manifest_saying_a_held_out_word_is_refused_before_preparing(tmp_path, capsys):
    """--extra manifests are trained on: AN4 saying "five" would make "five" a heard dev word."""
    from ctcasr.manifest import ManifestEntry, write_manifest
    from recipes.speech_commands.__main__ import main

    extra = tmp_path / "an4.jsonl"
    write_manifest(extra, [ManifestEntry(str(tmp_path / "a.flac"), "go FIVE two", 1.0)])
    data, out = tmp_path / "no-corpus", tmp_path / "exp"
    assert main(["--data", str(data), "--out", str(out), "--extra", str(extra),
                 "--dev-words", "bed,five"]) == 1  # fmt: skip
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path / 'a.flac'}: --extra {extra} says five, which")
    assert not any(out.iterdir())  # nothing prepared
    write_manifest(extra, [ManifestEntry(str(tmp_path / "a.flac"), "the dog", 1.0)])
    assert main(["--data", str(data), "--out", str(out), "--extra", str(extra)]) == 1
    assert "says dog, which must stay unseen" in capsys.readouterr().err  # a test word too
    write_manifest(extra, [ManifestEntry(str(tmp_path / "a.flac"), "go forward two", 1.0)])
    assert main(["--data", str(data), "--out", str(out), "--extra", str(extra),
                 "--dev-words", "bed,five"]) == 1  # fmt: skip
    assert "speech_commands corpus not found" in capsys.readouterr().err  # past the check


def _started_run(train_dir: Path, metadata: dict) -> None:
    """A training folder with an epoch's checkpoint, as an interrupted run leaves it."""
    (train_dir / "checkpoints").mkdir(parents=True)
    (train_dir / "checkpoints" / "LATEST").write_text("epoch-0001\n")
    (train_dir / "train_config.json").write_text(json.dumps({"metadata": metadata}))


def test_resume_with_other_dev_words_is_refused_before_preparing(tmp_path, capsys):
    """A run started without dev words and resumed with them recorded them as never heard
    in its bundle, and --init-from then took it: its first epochs had trained on them."""
    from recipes.speech_commands.__main__ import main

    (tmp_path / "sc").mkdir()
    out = tmp_path / "exp"
    _started_run(out / "train", {"recipe": "recipes.speech_commands"})
    base = ["--data", str(tmp_path / "sc"), "--out", str(out), "--results",
            str(tmp_path / "RESULTS.md"), "--resume"]  # fmt: skip
    assert main([*base, "--dev-words", "bed,happy"]) == 1
    err = capsys.readouterr().err.strip()
    assert re.fullmatch(r"error: .*/exp/train: cannot resume with --dev-words bed,happy: the "
                        r"run was started with no --dev-words; resume with no --dev-words, or "
                        r"train anew in another folder", err)  # fmt: skip
    assert not (out / "data").exists()  # nothing prepared
    held = {"unseen_dev_words": ["bed", "happy"]}
    (out / "train" / "train_config.json").write_text(json.dumps({"metadata": held}))
    assert main(base) == 1
    assert "cannot resume with no --dev-words: the run was started with --dev-words bed,happy" \
        in capsys.readouterr().err
    from recipes.common import check_resume_dev_words

    check_resume_dev_words(out / "train", ("happy", "bed"))  # the same words: it goes on
    with pytest.raises(CtcasrError, match="cannot resume with --dev-words bed: "):
        check_resume_dev_words(out / "train", ("bed",))
    check_resume_dev_words(tmp_path / "fresh", ("bed",))  # no run to continue


def test_one_of_n_scores_the_dev_words_beside_the_test(tmp_path):
    from recipes.speech_commands.__main__ import CommandScores, OneOfN
    from recipes.speech_commands.prepare import CLASSES, confusion_matrix

    matrix = confusion_matrix(["yes"], ["yes"], CLASSES)
    scores = CommandScores(1.0, 1.0, 1.0, matrix, OneOfN(9, 10, []), 1)
    assert scores.unseen_dev_summary() is None
    scores.unseen_dev = OneOfN(3, 4, [("bed", "happy")], 2)
    label, accuracy, interval = scores.unseen_dev_summary()
    assert "words, one of 2 (4 real recordings" in label and "not a test" in label
    scores.unseen_dev = OneOfN(3, 4, [])  # a list of unknown size: said so, not "one of 0"
    assert "words, one of N (4 real" in scores.unseen_dev_summary()[0]
    assert (accuracy, interval.split(";")[0]) == ("75.00%", "3/4")


def test_score_reports_the_dev_words_beside_the_test_words(speech_commands_dir, tmp_path):
    """The recipe's scoring pass on the bundled model, with dev words held out: the ten
    commands' test clips are the same 552, and the dev words are scored one of N."""
    from recipes.speech_commands.__main__ import score
    from recipes.speech_commands.prepare import DEV_WORDS

    prepare(speech_commands_dir, tmp_path, dev_words=DEV_WORDS)
    scores = score("default", tmp_path, threshold=0.6)
    assert scores.ten_command_count == 552 and scores.ten_command_accuracy >= 0.9
    assert scores.unseen.count == 60 and scores.unseen_dev is not None
    assert scores.unseen_dev.count == 46
    assert (scores.unseen.choices, scores.unseen_dev.choices) == (8, 7)  # the lists' sizes
    assert sum(map(sum, scores.matrix)) == 649  # the test clips, less the dev words'


def test_a_misspelled_dev_word_is_named_before_the_model_is_blamed(tmp_path, capsys):
    """``--dev-words hapy --model M`` said M was "trained without holding out hapy": true,
    but the fault is the spelling, and no model could have passed."""
    from recipes.speech_commands.__main__ import main
    from tests.helpers import tiny_bundle

    data = tmp_path / "data"
    _write_clip(data / "_unknown_" / "happy_0000000a_nohash_0.wav")
    tiny_bundle(tmp_path / "model", 1)  # records no dev words: it heard every word
    argv = ["--data", str(data), "--out", str(tmp_path / "exp"), "--model",
            str(tmp_path / "model")]  # fmt: skip
    assert main([*argv, "--dev-words", "bed,hapy"]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"error: {data}: no clips of the dev word(s) bed, hapy in _unknown_/")
    assert main([*argv, "--dev-words", "happy"]) == 1  # spelled right: the model is the fault
    assert "trained without holding out happy" in capsys.readouterr().err
    assert not any((tmp_path / "exp").iterdir())  # nothing prepared


def _score_three_clips_and(speech_commands_dir, tmp_path, yes_clip: Path):
    """The recipe's scores (bundled model) on a yes, a no and a go clip of the corpus and
    ``yes_clip`` said to be "yes", as both the test and the unseen (one of yes, no, go) set."""
    from recipes.speech_commands.__main__ import score

    clips = [sorted((speech_commands_dir / w).glob("*.flac"))[0] for w in ("yes", "no", "go")]
    entries = [{"audio_filepath": str(p), "text": p.parent.name, "duration": 1.0}
               for p in clips] + [{"audio_filepath": str(yes_clip), "text": "yes", "duration": 1.0}]
    for name in ("test.jsonl", "unseen.jsonl"):
        (tmp_path / name).write_text("".join(json.dumps(e) + "\n" for e in entries))
    (tmp_path / "commands.txt").write_text("\n".join(COMMANDS) + "\n")
    (tmp_path / "unseen_commands.txt").write_text("yes\nno\ngo\n")
    return score("default", tmp_path, threshold=0.6)


def test_an_unreadable_test_clip_counts_as_wrong_and_is_named(speech_commands_dir, tmp_path):
    """A test clip whose audio cannot be read was left out of the ten-command and 12-class
    figures without a word (80 test clips, "77/79" right); it counts as wrong and is named."""
    broken = tmp_path / "yes_truncated.flac"
    yes = sorted((speech_commands_dir / "yes").glob("*.flac"))[0]
    broken.write_bytes(yes.read_bytes()[:3000])  # the header, then a cut-off stream
    scores = _score_three_clips_and(speech_commands_dir, tmp_path, broken)
    assert scores.ten_command_count == 4 and scores.ten_command_accuracy <= 0.75
    assert scores.twelve_class_accuracy <= 0.75
    assert scores.intervals()["twelve"].split(";")[0].endswith("/4")  # out of every clip
    assert [str(broken) in line for line in scores.unreadable] == [True]
    assert "1 test clip could not be read" in scores.unreadable_note()


def test_a_digitally_silent_clip_is_no_command(speech_commands_dir, tmp_path):
    """A clip of digital silence is not shown to the model (no frames), and the grammar's best
    phrase over no frames is its first one: a silent "yes" clip counted as a right "yes" in
    the ten-command and one-of-N figures (4/4 where 3 of 4 were heard)."""
    silent = tmp_path / "yes_silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    scores = _score_three_clips_and(speech_commands_dir, tmp_path, silent)
    assert scores.ten_command_count == 4 and scores.ten_command_accuracy == 0.75
    assert scores.ten_command_accepted == 0.75
    assert (scores.unseen.right, scores.unseen.count) == (3, 4)
    assert ("yes", "") in scores.unseen.wrong
    silence = CLASSES.index("_silence_")  # heard as silence in the 12 classes, as before
    assert scores.matrix[CLASSES.index("yes")][silence] == 1


def test_a_given_models_page_goes_to_out_not_over_the_recipes_own(speech_commands_dir, tmp_path,
                                                                   monkeypatch):  # fmt: skip
    """``--model default`` wrote its page over ``recipes/speech_commands/RESULTS.md``, the
    committed page of the model this recipe trains; AN4 and FSDD write a scored model's page
    to ``OUT/RESULTS.md``, and so does this recipe now. ``--results`` still wins."""
    import recipes.speech_commands.__main__ as recipe

    written: list[Path] = []
    monkeypatch.setattr(recipe, "score", lambda bundle, data: _NoScores())
    monkeypatch.setattr(recipe, "write_results", lambda path, *rest: written.append(path))
    own = (recipe.HERE / "RESULTS.md").read_bytes()
    argv = ["--data", str(speech_commands_dir), "--out", str(tmp_path / "exp"), "--model",
            "default"]  # fmt: skip
    assert recipe.main(argv) == 0
    assert written == [tmp_path / "exp" / "RESULTS.md"]
    assert recipe.main([*argv, "--results", str(tmp_path / "page.md")]) == 0
    assert written[-1] == tmp_path / "page.md"
    assert (recipe.HERE / "RESULTS.md").read_bytes() == own


class _NoScores:
    """What the recipe prints of its scores, without scoring a clip."""

    ten_command_accuracy = twelve_class_accuracy = 0.0
    unseen = type("Unseen", (), {"accuracy": 0.0})()
    unseen_dev = None
    unreadable: tuple[str, ...] = ()
