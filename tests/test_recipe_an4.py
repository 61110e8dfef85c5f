"""The AN4 recipe's prepare step on the real corpus: counts, speaker-disjoint splits, text."""

from __future__ import annotations

from pathlib import Path

import pytest

from ctcasr.errors import CtcasrError
from ctcasr.manifest import read_manifest
from ctcasr.text import Alphabet
from recipes.an4.prepare import lm_corpus, prepare, read_part


@pytest.fixture(scope="module")
def split(tmp_path_factory, request):
    an4 = request.getfixturevalue("an4_dir")
    out = tmp_path_factory.mktemp("an4")
    return prepare(an4, out), out


@pytest.fixture(scope="module")
def an4_dir():  # module-scoped twin of conftest's fixture
    from conftest import _corpus_dir

    return _corpus_dir("AN4", "an4")


def test_counts_match_the_official_lists(split):
    s, out = split
    assert len(s.train) + len(s.dev) == 948
    assert len(s.test) == 130
    assert len({e.speaker for e in s.train + s.dev}) == 74
    assert len({e.speaker for e in s.test}) == 10
    for name, entries in (("train", s.train), ("dev", s.dev), ("test", s.test)):
        reread = read_manifest(out / f"{name}.jsonl", Alphabet()).entries
        assert [e.text for e in reread] == [e.text for e in entries]
        assert all(Path(e.audio_filepath).is_file() for e in reread)


def test_dev_is_speaker_disjoint_from_train_and_test(split):
    s, _ = split
    train, dev, test = ({e.speaker for e in part} for part in (s.train, s.dev, s.test))
    assert len(dev) == 8 and 80 <= len(s.dev) <= 130
    assert not train & dev and not train & test and not dev & test


def test_text_is_normalised_with_spelled_letters_as_words(split):
    s, _ = split
    first = s.test[0]
    assert first.audio_filepath.endswith("an406-fcaw-b.flac")
    assert first.text == "rubout g m e f three nine"
    texts = [e.text for e in s.train + s.dev + s.test]
    assert not any("<s>" in t or "(" in t or t != t.lower() for t in texts)
    words = {w for t in texts for w in t.split()}
    assert set("abcdefghijklmnopqrstuvwxyz") <= words  # every letter is spelled somewhere
    assert {"rubout", "enter", "erase", "yes", "no"} <= words
    assert all(not Alphabet().unknown_chars(t) for t in texts)


def test_prepare_is_deterministic(an4_dir, tmp_path):
    a, b = prepare(an4_dir, tmp_path / "a"), prepare(an4_dir, tmp_path / "b")
    assert (tmp_path / "a" / "dev.jsonl").read_text() == (tmp_path / "b" / "dev.jsonl").read_text()
    assert [e.speaker for e in a.dev] == [e.speaker for e in b.dev]


def test_lm_corpus_is_train_only(split):
    s, _ = split
    assert lm_corpus(s) == [e.text for e in s.train]


def test_bad_folder_is_a_clear_error(tmp_path):
    with pytest.raises(CtcasrError, match=r"an4_train\.transcription: missing"):
        prepare(tmp_path, tmp_path / "out")
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "an4_train.transcription").write_text("<s> YES </s> (an1-x-b)\nNO (an2-x-b)\n")
    (etc / "an4_train.fileids").write_text("an4_clstk/x/an1-x-b\n")
    with pytest.raises(CtcasrError, match=r"2 transcriptions but an4_train\.fileids lists 1"):
        read_part(tmp_path, "train")
    # An id that is only the end of the file's name is another utterance's, not this one's.
    (etc / "an4_train.transcription").write_text("<s> YES </s> (1-x-b)\n")
    (etc / "an4_train.fileids").write_text("an4_clstk/x/an1-x-b\n")
    with pytest.raises(CtcasrError, match=r"id 1-x-b but fileids has an4_clstk/x/an1-x-b"):
        read_part(tmp_path, "train")


def _fake_an4(root: Path, train_speakers: int, test_lines: int = 1) -> Path:
    """An AN4-shaped folder: one 0.1 s clip per speaker, ``test_lines`` test utterances."""
    import numpy as np
    import soundfile as sf

    parts = {"train": [f"an4_clstk/s{i}/an{i}-s{i}-b" for i in range(train_speakers)],
             "test": [f"an4test_clstk/t/an{900 + i}-t-b" for i in range(test_lines)]}  # fmt: skip
    (root / "etc").mkdir(parents=True)
    for part, ids in parts.items():
        lines = [f"<s> YES </s> ({Path(i).name})" for i in ids]
        (root / "etc" / f"an4_{part}.transcription").write_text("".join(x + "\n" for x in lines))
        (root / "etc" / f"an4_{part}.fileids").write_text("".join(i + "\n" for i in ids))
        for file_id in ids:
            wav = root / "wav" / f"{file_id}.wav"
            wav.parent.mkdir(parents=True, exist_ok=True)
            sf.write(str(wav), np.zeros(1600, np.float32), 16000)
    return root


def test_a_partial_corpus_is_refused_before_training(tmp_path):
    """A copy with no more train speakers than dev holds out gave an empty train.jsonl, and
    an empty test part an empty test.jsonl that failed only after training."""
    split = prepare(_fake_an4(tmp_path / "ok", 9), tmp_path / "out")
    assert (len(split.train), len(split.dev), len(split.test)) == (1, 8, 1)
    with pytest.raises(CtcasrError, match=r"8 train speaker\(s\), too few to hold 8 out as dev"):
        prepare(_fake_an4(tmp_path / "few", 8), tmp_path / "out2")
    with pytest.raises(CtcasrError, match=r"an4_test\.transcription: no transcriptions"):
        prepare(_fake_an4(tmp_path / "notest", 9, test_lines=0), tmp_path / "out3")
    assert not (tmp_path / "out2").exists() and not (tmp_path / "out3").exists()


def test_audio_suffixes_in_any_case_are_found(tmp_path):
    """A copy with .WAV names (a FAT disk, a Windows tool) was "audio not found"."""
    root = _fake_an4(tmp_path / "upper", 9)
    for wav in list((root / "wav").rglob("*.wav")):
        wav.rename(wav.with_suffix(".WAV"))
    split = prepare(root, tmp_path / "out")
    assert (len(split.train), len(split.dev), len(split.test)) == (1, 8, 1)
    assert all(e.audio_filepath.endswith(".WAV") for e in split.train + split.dev + split.test)


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_given_model_is_scored_without_training(tmp_path):
    """``--model`` scores a bundle on AN4 without training one: there was no such mode, and
    checking the bundled model's AN4 figures meant calling the prepare step by hand. The
    decoder is tuned on dev into a copy; the given bundle and the recipe's page stay as
    they were."""
    import shutil

    from ctcasr.bundle import resolve_bundle_path
    from recipes.an4.__main__ import HERE, main

    model = tmp_path / "model"
    shutil.copytree(resolve_bundle_path("default"), model)
    before, page_before = _files(model), (HERE / "RESULTS.md").read_bytes()
    out = tmp_path / "exp"
    argv = ["--data", str(_fake_an4(tmp_path / "an4", 9, test_lines=2)), "--out", str(out)]
    assert main([*argv, "--model", str(model)]) == 0
    assert _files(model) == before and (HERE / "RESULTS.md").read_bytes() == page_before
    page = (out / "RESULTS.md").read_text()
    assert f"given as `--model {model}`, not trained by this run" in page
    assert "| **ctcasr** given model, greedy |" in page
    assert "| **ctcasr** given model, tuned KenLM (the bundle's own LM) |" in page
    assert "Decoder tuning on dev: kenlm" in page and "## Training" not in page
    assert f"python -m recipes.an4 {' '.join(argv)} --model {model}" in page
    assert (out / "tuned" / "bundle.json").is_file() and (out / "per_speaker_wer.png").is_file()
    assert not (out / "train").exists() and not (out / "training_curves.png").exists()


def test_a_given_model_that_is_not_there_is_refused_before_any_work(tmp_path, capsys):
    from recipes.an4.__main__ import main

    data = str(_fake_an4(tmp_path / "an4", 9))
    out = tmp_path / "exp"
    assert main(["--data", data, "--out", str(out), "--model", str(tmp_path / "nope")]) == 1
    assert "nope: model bundle not found" in capsys.readouterr().err
    assert not (out / "data").exists() and not (out / "RESULTS.md").exists()
    # The tuned copy would replace the bundle it was tuned from.
    (out / "tuned").mkdir()
    import shutil

    from ctcasr.bundle import resolve_bundle_path

    shutil.copytree(resolve_bundle_path("default"), out / "tuned", dirs_exist_ok=True)
    assert main(["--data", data, "--out", str(out), "--model", str(out / "tuned")]) == 1
    assert "where this run writes its tuned copy" in capsys.readouterr().err


def test_a_given_model_without_an_lm_is_tuned_with_the_an4_train_3gram(tmp_path):
    import json
    import shutil

    from ctcasr.bundle import resolve_bundle_path
    from recipes.an4.__main__ import main

    model = tmp_path / "model"
    shutil.copytree(resolve_bundle_path("default"), model)
    config = json.loads((model / "bundle.json").read_text())
    (model / "bundle.json").write_text(json.dumps({**config, "decoder": {"name": "greedy"}}))
    before, out = _files(model), tmp_path / "exp"
    data = str(_fake_an4(tmp_path / "an4", 9))
    assert main(["--data", data, "--out", str(out), "--model", str(model)]) == 0
    assert _files(model) == before
    page = (out / "RESULTS.md").read_text()
    if (out / "lm" / "an4-3gram.arpa").is_file():  # KenLM's tools (or their stand-in) here
        assert "| **ctcasr** given model, tuned KenLM 3-gram |" in page
        assert (out / "tuned" / "bundle.json").is_file()
    else:
        assert "KenLM" not in page.split("## Test results")[1].split("| Kaldi")[0]
