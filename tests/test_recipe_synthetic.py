"""The synthetic TTS corpus generator: every installed engine speaks, held-out words never
appear, clips are 16 kHz, non-silent and listed in a readable manifest."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import missing_tool

from ctcasr.errors import CtcasrError
from ctcasr.manifest import read_manifest
from ctcasr.text import Alphabet
from recipes.synthetic.generate import (
    ESPEAK_ACCENTS,
    available_engines,
    degrade,
    generate,
    make_texts,
    read_words,
)

ENGINES = ("espeak", "flite", "festival")


@pytest.fixture(scope="module")
def engines() -> list[str]:
    found = available_engines()
    if len(found) < len(ENGINES):
        missing_tool(f"TTS engines missing: have {found}, need {list(ENGINES)}")
    return found


def test_generates_clips_from_every_engine(engines, tmp_path):
    words = ["alpha", "bravo", "cat", "delta", "dog", "echo", "foxtrot"]
    entries = generate(tmp_path, 12, exclude=["cat", "dog"], words=words, seed=3, jobs=2)
    assert len(entries) == 12
    assert {e.speaker.split(":")[0] for e in entries} == set(ENGINES)
    spoken = {w for e in entries for w in e.text.split()}
    assert not spoken & {"cat", "dog"}
    reread = read_manifest(tmp_path / "synthetic.jsonl", Alphabet()).entries
    assert [e.text for e in reread] == [e.text for e in entries]
    for entry in entries:
        audio, rate = sf.read(entry.audio_filepath)
        assert rate == 16000 and audio.ndim == 1
        assert 0.2 < entry.duration < 10.0
        assert np.abs(audio).max() > 0.05  # not silent


def test_texts_are_reproducible_and_varied():
    words = [f"w{c}" for c in "abcdefghij"]
    a = make_texts(words, 200, random.Random(1))
    assert a == make_texts(words, 200, random.Random(1))
    assert any(len(t.split()) > 1 for t in a) and any(t in words for t in a)
    assert any(t.split()[0] in ("zero", "one", "two", "three", "four", "five", "six", "seven",
                                "eight", "nine") for t in a)  # fmt: skip


def test_word_list_excludes_held_out_words(tmp_path):
    path = tmp_path / "words"
    path.write_text("Apple\napple\ncat\ncat's\nsheila\nzebra\nx\néclair\n")
    assert read_words(path, exclude=["sheila", "cat"]) == ["apple", "zebra"]


def test_degrade_keeps_length_and_level():
    tone = np.sin(np.linspace(0, 2000 * np.pi, 16000)).astype(np.float32) * 0.5
    for seed in range(5):
        out = degrade(tone, np.random.default_rng(seed))
        assert out.shape == tone.shape and out.dtype == np.float32
        assert 0.09 < np.abs(out).max() <= 0.91
    assert "en-us" in ESPEAK_ACCENTS


def test_bad_count_or_output_folder_is_one_line(tmp_path, capsys):
    """``--count 0`` wrote an empty manifest and exited 0; an --out under a file was a
    NotADirectoryError traceback."""
    from recipes.synthetic.__main__ import main

    assert main(["--out", str(tmp_path / "s"), "--count", "0"]) == 1
    assert capsys.readouterr().err == "error: --count must be at least 1, got 0\n"
    assert not (tmp_path / "s" / "synthetic.jsonl").exists()
    (tmp_path / "file").write_text("")
    assert main(["--out", str(tmp_path / "file"), "--count", "3"]) == 1
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'file'}: --out is a file")


@pytest.mark.parametrize("tty", [False, True])
def test_the_chunk_counter_is_plain_lines_off_a_terminal_and_ends_before_a_stop(
        tmp_path, monkeypatch, tty):  # fmt: skip
    """The counter was redrawn with ``\\r`` into logs and pipes too, and Ctrl-C part-way put
    the stop message on the counter's own line ("1/15 chunksinterrupted while ...")."""
    import io
    import sys

    import recipes.synthetic.__main__ as recipe

    class Stdout(io.StringIO):
        def isatty(self) -> bool:
            return tty

    def two_chunks_then_ctrl_c(*args, progress, **kwargs):
        progress(1, 3)
        progress(2, 3)
        raise KeyboardInterrupt

    out, err = Stdout(), io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    monkeypatch.setattr(sys, "stderr", err)
    monkeypatch.setattr(recipe, "generate", two_chunks_then_ctrl_c)
    assert recipe.main(["--out", str(tmp_path / "s"), "--count", "3"]) == 130
    assert out.getvalue() == ("\r1/3 chunks\r2/3 chunks\n" if tty else "1/3 chunks\n2/3 chunks\n")
    assert err.getvalue().startswith("interrupted while making the synthetic corpus")


def test_a_failed_rerun_keeps_the_corpus_already_made(tmp_path, monkeypatch):
    """A rerun (another seed) wrote its clips over the old ones one by one: stopped part-way,
    it left the old synthetic.jsonl naming clips that now said other words."""
    import recipes.synthetic.generate as gen

    if "espeak" not in available_engines():
        missing_tool("espeak-ng is not installed")
    record_name = "synthetic.settings.json"  # by name: the test also runs on older code
    words = ["alpha", "bravo", "delta", "echo", "foxtrot", "golf"]
    before = generate(tmp_path, 3, words=words, engines=["espeak"], seed=0, jobs=1)
    manifest = (tmp_path / "synthetic.jsonl").read_text()
    clips = {e.audio_filepath: sf.read(e.audio_filepath)[0] for e in before}
    calls = []

    def degrade_then_fail(audio, rng):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return degrade(audio, rng)

    record = (tmp_path / record_name).read_text()
    monkeypatch.setattr(gen, "degrade", degrade_then_fail)
    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path, 3, words=words, engines=["espeak"], seed=1, jobs=1)
    assert (tmp_path / "synthetic.jsonl").read_text() == manifest
    assert (tmp_path / record_name).read_text() == record
    for path, audio in clips.items():
        assert np.array_equal(sf.read(path)[0], audio), path
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audio", "synthetic.jsonl", record_name]


def test_a_corpus_stopped_between_its_last_two_writes_is_not_taken_for_an_old_one(tmp_path,
                                                                                monkeypatch):
    """The manifest was written before its record: stopped between the two, a new corpus sat
    without a record, and was judged by its clip count alone as a corpus of older code is (a
    rerun with another seed reused it). The record now comes first: a manifest is never
    without its own."""
    import recipes.synthetic.generate as gen
    from recipes.synthetic.generate import read_record

    if "espeak" not in available_engines():
        missing_tool("espeak-ng is not installed")
    words = ["alpha", "bravo", "delta", "echo"]
    generate(tmp_path, 2, words=words, engines=["espeak"], seed=0, jobs=1)
    writes = []

    def second_fails(real):
        def write(*args, **kwargs):
            writes.append(real.__name__)
            if len(writes) == 2:  # killed before the second of the two
                raise KeyboardInterrupt
            return real(*args, **kwargs)
        return write

    monkeypatch.setattr(gen, "write_manifest", second_fails(gen.write_manifest))
    monkeypatch.setattr(gen, "atomic_write_text", second_fails(gen.atomic_write_text))
    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path, 2, words=words, engines=["espeak"], seed=1, jobs=1)
    assert len(writes) == 2
    if (tmp_path / "synthetic.jsonl").is_file():
        record = read_record(tmp_path)
        assert record is not None, "a manifest without its record"
        assert record.request.seed == 1
    monkeypatch.undo()

    # Stopped between removing the old manifest and the old record, before the clips move.
    generate(tmp_path, 2, words=words, engines=["espeak"], seed=0, jobs=1)
    removed, real_unlink = [], Path.unlink

    def unlink(self, *args, **kwargs):
        if self.name in ("synthetic.jsonl", "synthetic.settings.json"):
            removed.append(self.name)
            if len(removed) == 2:
                raise KeyboardInterrupt
        return real_unlink(self, *args, **kwargs)

    monkeypatch.setattr(Path, "unlink", unlink)
    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path, 2, words=words, engines=["espeak"], seed=1, jobs=1)
    monkeypatch.undo()
    assert len(removed) == 2
    if (tmp_path / "synthetic.jsonl").is_file():
        record = read_record(tmp_path)
        assert record is not None, "a manifest without its record"
        assert record.request.seed == 0  # the clips were not replaced


def test_the_corpus_records_what_it_was_asked_for_and_what_was_skipped(tmp_path, monkeypatch):
    """Only the manifest's line count said what a corpus was: short of the count when an
    engine failed a clip, and blind to the seed and the excluded words."""
    import recipes.synthetic.generate as gen
    from recipes.synthetic.generate import Request, read_record

    if "espeak" not in available_engines():
        missing_tool("espeak-ng is not installed")
    real = gen.synthesise
    monkeypatch.setattr(gen, "synthesise", lambda items, workdir, control: (
        {i: wav for i, wav in real(items, workdir, control)[0].items() if i != 1},
        {1: "an engine failed it"}))  # fmt: skip
    words = ["alpha", "bravo", "cat", "delta"]
    entries = generate(tmp_path, 4, exclude=["Cat", "dog"], words=words, engines=["espeak"],
                       seed=2, jobs=1)  # fmt: skip
    assert len(entries) == 3
    record = read_record(tmp_path)
    assert record is not None
    assert record.request == Request(4, 2, ("cat", "dog"), Request.of(1, 0, (), words).words)
    assert record.request == Request.of(4, 2, ["dog", "cat"], words)  # order and case aside
    assert record.skipped == 1 and record.engines == ("espeak",)
    assert record.request.differences(Request.of(4, 3, ["cat"])) == [
        "seed 2 (asked 3)", "exclude [cat, dog] (asked [cat])",
        f"words {record.request.words} (asked the system word list)"]  # fmt: skip


def _fake_engine(folder: Path, name: str, body: str) -> None:
    """``folder/name``: a shell script standing in for flite, which lists the real one's
    voices when asked."""
    folder.mkdir(exist_ok=True)
    script = folder / name
    script.write_text('#!/bin/sh\n[ "$1" = -lv ] && echo "Voices available: kal kal16 awb rms '
                      'slt" && exit 0\n' + body)  # fmt: skip
    script.chmod(0o755)


WRITE_TO_O = 'while [ $# -gt 0 ]; do [ "$1" = -o ] && {}"$2"; shift; done\n'


@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="needs /bin/sh")
@pytest.mark.parametrize(("writes", "said"), [(": >", "empty file (0 bytes)"),
                                              ("echo garbage >", "not a recognised audio")])
def test_an_engine_that_writes_no_audio_fails_its_clips_only(tmp_path, monkeypatch, writes,
                                                             said):  # fmt: skip
    """A flite that wrote an empty or non-audio file stopped the whole corpus with one error
    naming a temporary file (``tmpXXXX/0000001.wav: empty file``), nothing kept."""
    if "espeak" not in available_engines():
        missing_tool("espeak-ng is not installed")
    _fake_engine(tmp_path / "bin", "flite", WRITE_TO_O.format(writes))
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    warned: list[str] = []
    words = ["alpha", "bravo", "delta", "echo"]
    entries = generate(tmp_path / "s", 6, words=words, engines=["espeak", "flite"], seed=0,
                       jobs=1, warn=warned.append)  # fmt: skip
    assert [e.speaker.split(":")[0] for e in entries] == ["espeak"] * 3
    assert len(warned) == 1 and warned[0].startswith("3 of 6 clips failed"), warned
    assert f"): {said}" in warned[0] and "flite:" in warned[0] and "tmp" not in warned[0]
    assert len(read_manifest(tmp_path / "s" / "synthetic.jsonl", Alphabet()).entries) == 3


@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="needs /bin/sh")
def test_an_engine_that_hangs_is_killed_and_then_given_up(tmp_path, monkeypatch):
    """A flite that never returned hung the corpus for ever (Ctrl-C too: the worker thread
    waited on it); each clip now has ENGINE_TIMEOUT seconds, and after MAX_HANGS hangs the
    engine is not run again."""
    import recipes.synthetic.generate as gen

    if "espeak" not in available_engines():
        missing_tool("espeak-ng is not installed")
    _fake_engine(tmp_path / "bin", "flite", f"touch {tmp_path}/ran-$$\nsleep 60\n")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr(gen, "ENGINE_TIMEOUT", 0.5)
    warned: list[str] = []
    start = time.monotonic()
    entries = generate(tmp_path / "s", 12, words=["alpha", "bravo"], engines=["espeak", "flite"],
                       seed=0, jobs=1, warn=warned.append)  # fmt: skip
    assert time.monotonic() - start < 30
    assert {e.speaker.split(":")[0] for e in entries} == {"espeak"} and len(entries) == 6
    assert len(list(tmp_path.glob("ran-*"))) == gen.MAX_HANGS
    assert "6 of 12 clips failed" in warned[0]
    assert "flite hung: no clip within 0.5 s, killed" in warned[0]


def test_a_corpus_where_every_clip_failed_is_an_error_and_keeps_the_old_one(tmp_path,
                                                                           monkeypatch):
    """Every engine failing wrote an empty manifest and reported success."""
    import recipes.synthetic.generate as gen

    if "espeak" not in available_engines():
        missing_tool("espeak-ng is not installed")
    words = ["alpha", "bravo"]
    generate(tmp_path, 2, words=words, engines=["espeak"], seed=0, jobs=1)
    manifest = (tmp_path / "synthetic.jsonl").read_text()
    monkeypatch.setattr(gen, "load_audio", lambda path: np.zeros(1600, np.float32))
    with pytest.raises(CtcasrError, match=r"^no clip was made; the first failure: clip 0 "
                       r"\(espeak:.*\): the engine wrote silence$"):  # fmt: skip
        generate(tmp_path, 2, words=words, engines=["espeak"], seed=1, jobs=1)
    assert (tmp_path / "synthetic.jsonl").read_text() == manifest


def test_a_missing_voice_is_one_warning_and_the_corpus_goes_on_without_it(engines, tmp_path,
                                                                          monkeypatch, capsys):
    """A festival voice that is not installed (its festvox package left out) stopped
    festival's batch at its first clip: every festival clip after it was skipped in silence,
    and the corpus came out smaller than asked."""
    import recipes.synthetic.generate as gen

    monkeypatch.setattr(gen, "FESTIVAL_VOICES", ("kal_diphone", "nosuch_diphone"))
    entries = generate(tmp_path, 8, words=["alpha", "bravo", "delta"], engines=["festival"],
                       seed=0, jobs=1)  # fmt: skip
    assert [e.speaker for e in entries] == ["festival:kal_diphone"] * 8
    assert capsys.readouterr().err == (
        "warning: festival voice nosuch_diphone not installed (apt-get install festival): the "
        "corpus is made without it\n")  # fmt: skip


def test_a_missing_engine_is_named_before_the_corpus_is_made(engines, tmp_path, monkeypatch,
                                                            capsys):  # fmt: skip
    """Without flite the corpus was made from the other engines with no word of it (only the
    last line's "available" list, after the work, hinted at it)."""
    import shutil

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name in ("espeak-ng", "festival"):
        (bin_dir / name).symlink_to(shutil.which(name))
    monkeypatch.setenv("PATH", str(bin_dir))
    entries = generate(tmp_path / "s", 4, words=["alpha", "bravo"], seed=0, jobs=1)
    assert {e.speaker.split(":")[0] for e in entries} == {"espeak", "festival"}
    assert capsys.readouterr().err == (
        "warning: flite is not installed (apt-get install flite): the corpus is made without "
        "it\n")  # fmt: skip
