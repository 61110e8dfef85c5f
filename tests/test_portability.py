"""What a user on macOS or Windows meets, simulated on Linux: modules and calls those systems
lack made absent, or made to answer as those systems do."""

from __future__ import annotations

import subprocess
import sys
import types

import pytest

import ctcasr  # noqa: F401 (binds ctcasr.train, the function, over the module's name)

train_module = sys.modules["ctcasr.train"]


def test_ctcasr_imports_without_the_unix_only_resource_module():
    """``resource`` exists on Unix alone: ``import ctcasr`` (which imports ctcasr.train) failed
    on Windows with ModuleNotFoundError."""
    code = ("import sys; sys.modules['resource'] = None; import ctcasr; "
            "print(sys.modules['ctcasr.train'].peak_rss_mb())")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) == 0.0  # no GetProcessMemoryInfo on Linux: unknown, not a crash


@pytest.mark.parametrize(("platform", "maxrss"),
                         [("linux", 2048 * 1024), ("darwin", 2048 * 1024**2)])  # fmt: skip
def test_peak_rss_is_in_megabytes_on_linux_and_macos(monkeypatch, platform, maxrss):
    """macOS gives ru_maxrss in bytes, Linux in kilobytes: log.csv's peak_rss_mb and the
    training summary said 1024 times too much on a Mac."""
    usage = types.SimpleNamespace(ru_maxrss=maxrss)
    fake = types.SimpleNamespace(RUSAGE_SELF=0, getrusage=lambda who: usage)
    monkeypatch.setitem(sys.modules, "resource", fake)
    monkeypatch.setattr(train_module.sys, "platform", platform)
    assert train_module.peak_rss_mb() == 2048.0


def _windows_fsync(real):
    """os.fsync as Windows has it: _commit (FlushFileBuffers) refuses a handle opened for
    reading only, with EBADF."""
    import errno
    import fcntl
    import os

    def fsync(fd):
        fd = fd if isinstance(fd, int) else fd.fileno()
        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            raise OSError(errno.EBADF, "Bad file descriptor")
        return real(fd)

    return fsync


def test_atomic_writes_flush_through_a_handle_windows_accepts(monkeypatch, tmp_path):
    """Every atomic write flushed its file through a read-only handle, which Windows refuses:
    each ``transcribe -o`` output, manifest, alphabet and bundle failed with "Bad file
    descriptor"."""
    import os

    from ctcasr.utils import atomic_dir, atomic_write_text

    monkeypatch.setattr(os, "fsync", _windows_fsync(os.fsync))
    atomic_write_text(tmp_path / "a.txt", "seven\n")
    with atomic_dir(tmp_path / "bundle") as tmp:
        (tmp / "bundle.json").write_text("{}\n")
    assert (tmp_path / "a.txt").read_text() == "seven\n"
    assert (tmp_path / "bundle" / "bundle.json").read_text() == "{}\n"


def test_a_folder_is_replaced_where_ctypes_cannot_open_the_process_itself(monkeypatch, tmp_path):
    """Windows' ctypes refuses ``CDLL(None)`` with a TypeError (it looks for a ``/`` in the
    name): replacing any existing folder (a training's model/ from its second best epoch on,
    a checkpoint, ``tune`` in place, ``tune -o`` onto a bundle) ended in that traceback."""
    import ctypes

    from ctcasr import utils

    real = ctypes.CDLL

    def windows_cdll(name, *args, **kwargs):
        if name is None:
            raise TypeError("argument of type 'NoneType' is not iterable")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(ctypes, "CDLL", windows_cdll)
    utils._renameat2.cache_clear()
    try:
        for epoch in (1, 2):
            with utils.atomic_dir(tmp_path / "model") as tmp:
                (tmp / "epoch").write_text(f"{epoch}\n")
    finally:
        utils._renameat2.cache_clear()
    assert (tmp_path / "model" / "epoch").read_text() == "2\n"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # nothing aside or temporary


@pytest.mark.slow
def test_names_outside_a_windows_code_page_do_not_end_the_batch(tmp_path):
    """On Windows a redirected stdout (``ctcasr transcribe *.wav > out.tsv``) and stderr are
    in the ANSI code page, cp1252: a name outside it was a UnicodeEncodeError traceback that
    ended the batch at that input. It is written escaped; stderr's errors too."""
    import os
    import shutil
    from pathlib import Path

    omega = tmp_path / "\u03a9mega.wav"
    shutil.copy(Path(__file__).resolve().parents[1] / "examples" / "seven.wav", omega)
    env = {**os.environ, "PYTHONIOENCODING": "cp1252"}
    done = subprocess.run(
        [sys.executable, "-c", "from ctcasr.cli import main; main()", "transcribe", str(omega),
         str(tmp_path / "gone-\u03a9.wav"), "-d", "greedy"],
        capture_output=True, env=env,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert done.stdout.decode("cp1252") == f"{tmp_path}/\\u03a9mega.wav\tseven\n"
    err = done.stderr.decode("cp1252").splitlines()
    assert err == [f"error: {tmp_path}/gone-\\u03a9.wav: file not found",
                   "1 of 2 input(s) failed"]  # fmt: skip


@pytest.mark.parametrize(("first", "second"), [("A", "a"), ("a\u00f1o", "an\u0303o")])
def test_outputs_whose_names_differ_in_case_stay_apart_where_the_folder_ignores_case(
        tmp_path, first, second):  # fmt: skip
    """``transcribe -o out x/A.wav y/a.wav``: on macOS's and Windows' file systems A.txt and
    a.txt are one file (as on macOS are names with an accent as one character or as two), and
    the second transcript replaced the first without a word. Such a folder is simulated by a hard
    link: a.txt opens the file A.txt is."""
    import os

    from ctcasr.outputs import OutputDir
    from ctcasr.transcribe import Transcript

    def transcript(source: str, text: str) -> Transcript:
        return Transcript(source=source, text=text, score=0.0, confidence=1.0, duration=1.0)

    folded = OutputDir(tmp_path / "folded", ["txt", "json"])
    cased = OutputDir(tmp_path / "cased", ["txt"])
    for writer in (folded, cased):
        assert writer.write(transcript(f"x/{first}.wav", "seven")) == (
            [writer.folder / f"{first}.{fmt}" for fmt in writer.formats], None)
    for fmt in folded.formats:
        os.link(folded.folder / f"{first}.{fmt}", folded.folder / f"{second}.{fmt}")
    paths, note = folded.write(transcript(f"y/{second}.wav", "three"))
    assert paths == [folded.folder / f"{second}.2.txt", folded.folder / f"{second}.2.json"]
    assert note == f"y/{second}.wav: written as {second}.2.* ({second}.* is taken)"
    assert (folded.folder / f"{first}.txt").read_text() == "seven\n"
    assert (folded.folder / f"{second}.2.txt").read_text() == "three\n"
    # A folder that tells case apart (Linux) keeps both names as they are.
    assert cased.write(transcript(f"y/{second}.wav", "three")) == (
        [cased.folder / f"{second}.txt"], None)
    assert folded.stem_for(f"y/{second}.wav") == (f"{second}.2", note)
    assert folded.stem_for(f"x/{first}.wav") == (first, None)


def test_telling_output_names_apart_by_case_costs_no_time_per_earlier_name(tmp_path,
                                                                          monkeypatch):  # fmt: skip
    """Each output name was folded against every earlier one: `transcribe -o` of a big
    folder spent 8 s on the names of 8,000 files (0.04 s before), 15 minutes at 80,000."""
    import ctcasr.outputs as outputs

    calls = []
    real = outputs._folded
    monkeypatch.setattr(outputs, "_folded", lambda name: calls.append(name) or real(name))
    writer = outputs.OutputDir(tmp_path / "out", ["txt"])
    for i in range(300):
        assert writer.stem_for(f"/data/clip{i}.wav") == (f"clip{i}", None)
    assert writer.stem_for("/other/clip7.wav") == ("clip7.2", "/other/clip7.wav: written as "
                                                   "clip7.2.* (clip7.* is taken)")  # fmt: skip
    assert len(calls) <= 2 * 301


def test_numbering_clashing_output_names_costs_no_time_per_earlier_clash(tmp_path,
                                                                         monkeypatch):  # fmt: skip
    """The free ``stem.N`` was searched for from 2 for every input: 20,000 files named
    audio.wav, each in a folder of its own, took 200 million tries (two minutes) under
    `transcribe -o`."""
    import ctcasr.outputs as outputs

    writer = outputs.OutputDir(tmp_path / "out", ["txt"])
    calls = []
    real = writer._taken
    monkeypatch.setattr(writer, "_taken", lambda *args: calls.append(args) or real(*args))
    assert writer.stem_for("/data/audio.2.wav") == ("audio.2", None)  # a name of its own
    stems = [writer.stem_for(f"/data/{i}/audio.wav")[0] for i in range(200)]
    assert stems == ["audio", *(f"audio.{n}" for n in range(3, 202))]
    assert len(calls) <= 3 * 201
    # An input named again keeps its name.
    assert writer.stem_for("/data/7/audio.wav")[0] == "audio.9"
    assert writer.stem_for("/data/audio.2.wav")[0] == "audio.2"
