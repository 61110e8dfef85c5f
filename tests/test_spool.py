"""Audio through pipes and streams: ``cat clip.wav | ctcasr transcribe -``, ``/dev/stdin``,
``<(...)`` and binary streams given to a Transcriber are read, and named as given."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ctcasr import spool
from ctcasr.errors import CtcasrError
from ctcasr.inputs import expand_inputs
from ctcasr.segment import SplitConfig
from ctcasr.spool import PrefixedStream, Spool, Unread, looks_like_audio
from ctcasr.transcribe import Failure, Transcriber, Transcript
from tests.helpers import wait_for

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SEVEN = EXAMPLES / "seven.wav"


def ctcasr(*args: str, stdin: bytes, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", "from ctcasr.cli import main; main()", *args],
                          capture_output=True, input=stdin, cwd=cwd)  # fmt: skip


@pytest.fixture(scope="module")
def transcriber():
    with Transcriber(decoder="greedy") as t:
        yield t


@pytest.fixture
def private_tmp(tmp_path, monkeypatch) -> Path:
    """Temporary files go here, so a test can see that none are left behind."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def encoded(path: Path, fmt: str, **kw) -> bytes:
    data, rate = sf.read(path)
    buf = io.BytesIO()
    sf.write(buf, data, rate, format=fmt, **kw)
    return buf.getvalue()


def unsized_flac(audio: np.ndarray, rate: int) -> bytes:
    """A FLAC as ``ffmpeg -f flac -`` or ``sox -t flac -`` write it to a pipe: they cannot go
    back to fill in its header, which gives no sample count, frame sizes nor MD5."""
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format="FLAC")
    data = bytearray(buf.getvalue())
    data[12:18] = bytes(6)  # STREAMINFO's frame sizes,
    data[21] &= 0xF0  # its 36-bit sample count,
    data[22:26] = bytes(4)
    data[26:42] = bytes(16)  # and its MD5
    return bytes(data)


def test_audio_headers_are_told_from_path_lists(fsdd_dir):
    assert looks_like_audio(SEVEN.read_bytes()[:64])
    assert looks_like_audio((fsdd_dir / "0_george_0.flac").read_bytes()[:64])
    assert looks_like_audio(encoded(SEVEN, "OGG", subtype="VORBIS")[:64])
    assert looks_like_audio(b"\xff\xfb\x90\x64" + bytes(60))  # a bare MPEG frame
    assert looks_like_audio(b"ID3\x04\x00\x00\x00\x00\x00\x23TSSE")
    assert looks_like_audio(bytes(range(200, 256)))  # not UTF-8: not a list of names
    assert not looks_like_audio(b"examples/seven.wav\nexamples/three.wav\n")
    assert not looks_like_audio("\ufeffdonn\u00e9es/\u00e9t\u00e9.wav\n".encode())
    # A character cut by the 64-byte head is not invalid text.
    cut = ("a" * 63 + "\u00e9").encode()[:64]
    assert not looks_like_audio(cut)


def test_a_list_of_names_in_latin_1_is_a_list(tmp_path):
    """A file name that is not UTF-8 (legal on Linux) in the first 64 bytes of a list made
    all of stdin audio: 'find . -name "*.wav" | ctcasr transcribe -' failed as '-: not a
    recognised audio file' and transcribed nothing."""
    names = [b"caf\xe9.wav", b"three.wav"]
    for name, clip in zip(names, [SEVEN, EXAMPLES / "three.wav"], strict=True):
        with open(os.fsencode(tmp_path) + b"/" + name, "wb") as f:
            f.write(clip.read_bytes())
    listing = b"".join(name + b"\n" for name in names)
    assert not looks_like_audio(listing[:64])
    done = ctcasr("transcribe", "-", stdin=listing, cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout == names[0] + b"\tseven\n" + names[1] + b"\tthree\n"
    # Binary with a line break or a slash in it is still binary: it holds control bytes.
    assert looks_like_audio(bytes(range(128, 192)) + b"\x01/\n")


def test_names_ended_by_nuls_are_a_list(tmp_path):
    """``find . -name '*.wav' -print0 | ctcasr transcribe -``: a NUL showed audio, so the
    list failed as '-: not a recognised audio file'. Short names (a NUL in the first 64
    bytes) and a first name longer than that; names with a line break in them too."""
    short, odd = tmp_path / "a.wav", tmp_path / "b\nc.wav"
    long = tmp_path / ("x" * 80 + ".wav")
    for path, clip in ((short, SEVEN), (odd, EXAMPLES / "three.wav"), (long, SEVEN)):
        path.write_bytes(clip.read_bytes())
    for first in (short, long):
        listing = b"".join(os.fsencode(p) + b"\0" for p in (first, odd))
        found = expand_inputs(["-"], stdin=io.TextIOWrapper(io.BytesIO(listing)))
        assert found.files == [str(first), str(odd)] and not found.problems
    done = ctcasr("transcribe", "-", stdin=b"a.wav\0b\nc.wav\0", cwd=tmp_path)
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout == b"a.wav\tseven\nb\\nc.wav\tthree\n"  # one line per input
    # a NUL after a name that is no file is still audio (SPHERE: a text header, then samples)
    found = expand_inputs(["-"], stdin=io.TextIOWrapper(io.BytesIO(b"NIST_1A\n\0\1\2")))
    assert isinstance(found.files[0], PrefixedStream)


def test_prefixed_stream_gives_back_its_head():
    s = PrefixedStream(b"abc", io.BytesIO(b"defgh"), "-")
    assert s.read(2) == b"ab"
    assert s.read(4) == b"c"
    assert s.read(4) == b"defg"
    assert s.read() == b"h"
    assert s.read() == b""
    assert PrefixedStream(b"ab", io.BytesIO(b"cd"), "-").read() == b"abcd"


def test_dash_reads_audio_or_paths_from_stdin():
    """The first bytes decide: audio becomes one stream input named ``-``."""
    binary = io.TextIOWrapper(io.BytesIO(SEVEN.read_bytes()))
    found = expand_inputs(["-"], stdin=binary)
    assert len(found.files) == 1 and isinstance(found.files[0], PrefixedStream)
    assert found.files[0].name == "-"
    assert found.files[0].read() == SEVEN.read_bytes()
    names = io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbfa.wav\r\nb c.wav\n\n"), encoding="utf-8")
    assert expand_inputs(["-"], stdin=names).files == ["a.wav", "b c.wav"]


def test_cat_clip_into_dash_is_transcribed():
    """It was a UnicodeDecodeError traceback: ``-`` read stdin as a list of paths."""
    done = ctcasr("transcribe", "-", stdin=SEVEN.read_bytes())
    assert (done.returncode, done.stdout.decode(), done.stderr.decode()) == (0, "-\tseven\n", "")


def test_pipe_paths_and_stdin_with_files(tmp_path):
    """``/dev/stdin`` fed by a pipe beside a plain file, in order, and written with -o."""
    three = EXAMPLES / "three.wav"
    done = ctcasr("transcribe", "/dev/stdin", str(three), stdin=encoded(SEVEN, "FLAC"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == f"/dev/stdin\tseven\n{three}\tthree\n"
    out = tmp_path / "out"
    done = ctcasr("transcribe", "-", "-o", str(out), stdin=SEVEN.read_bytes())
    assert done.returncode == 0, done.stderr
    assert (out / "stdin.txt").read_text() == "seven\n"


def test_dash_given_twice_reads_stdin_once():
    """The second ``-`` read on past the first one's head: a FLAC on stdin lost bytes 64-128
    to it and both failed as 'not a recognised audio file'."""
    flac = encoded(SEVEN, "FLAC")
    stdin = io.TextIOWrapper(io.BytesIO(flac))
    found = expand_inputs(["-", "-"], stdin=stdin)
    assert len(found.files) == 1 and found.files[0].read() == flac
    names = io.TextIOWrapper(io.BytesIO(b"a.wav\n"), encoding="utf-8")
    assert expand_inputs(["-", "b.wav", "-"], stdin=names).files == ["a.wav", "b.wav"]
    three = EXAMPLES / "three.wav"
    done = ctcasr("transcribe", "-", str(three), "-", stdin=flac)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == f"-\tseven\n{three}\tthree\n"


def test_dev_stdin_and_dash_name_stdin_once():
    """``/dev/stdin`` and ``-`` are the same pipe: the second read found it drained and failed
    as empty, or took what the first had left."""
    flac = encoded(SEVEN, "FLAC")
    three = EXAMPLES / "three.wav"
    done = ctcasr("transcribe", "/dev/stdin", str(three), "-", stdin=flac)
    assert (done.returncode, done.stderr.decode()) == (0, "")
    assert done.stdout.decode() == f"/dev/stdin\tseven\n{three}\tthree\n"
    done = ctcasr("transcribe", "-", "/proc/self/fd/0", str(three), stdin=flac)
    assert (done.returncode, done.stderr.decode()) == (0, "")
    assert done.stdout.decode() == f"-\tseven\n{three}\tthree\n"


def _piping(tmp: Path, *args: str, hup: object = signal.SIG_DFL) -> subprocess.Popen:
    """``ctcasr ARGS`` with its stdin a pipe we hold open, its TMPDIR ``tmp``."""

    def signals() -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGHUP, hup)

    return subprocess.Popen(
        [sys.executable, "-c", "from ctcasr.cli import main; main()", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(tmp)}, preexec_fn=signals,
    )  # fmt: skip


@pytest.mark.slow
def test_sigterm_during_the_copy_leaves_no_temporary_file(tmp_path, private_tmp):
    """SIGTERM (``timeout``, a service stopping) ended the process where it stood, and the
    copy of the audio piped in so far (up to 2 GiB) stayed in $TMPDIR; now it stops as
    Ctrl-C does, in one line, exit 143."""
    audio = SEVEN.read_bytes()
    proc = _piping(private_tmp, "transcribe", "-", "-o", str(tmp_path / "out"))
    try:
        proc.stdin.write(audio[: len(audio) // 2])
        proc.stdin.flush()
        wait_for(proc, lambda: any(private_tmp.glob("ctcasr-spool-*/*")), "copy", 60)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert err.decode().splitlines() == [
        f"stopped by SIGTERM after 0 of 1 input(s); the finished ones are in {tmp_path / 'out'}"
    ]
    # (onnxruntime may leave a .ses file of its own there)
    assert list(private_tmp.glob("ctcasr-*")) == [] and list((tmp_path / "out").iterdir()) == []


@pytest.mark.slow
def test_an_ignored_sighup_stays_ignored(private_tmp):
    """Under ``nohup`` a hang-up is ignored, and the run goes on to the end."""
    audio = SEVEN.read_bytes()
    proc = _piping(private_tmp, "transcribe", "-", hup=signal.SIG_IGN)
    try:
        proc.stdin.write(audio[: len(audio) // 2])
        proc.stdin.flush()
        wait_for(proc, lambda: any(private_tmp.glob("ctcasr-spool-*/*")), "copy", 60)
        proc.send_signal(signal.SIGHUP)
        out, err = proc.communicate(audio[len(audio) // 2 :], timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert (proc.returncode, out, err) == (0, b"-\tseven\n", b"")
    assert list(private_tmp.glob("ctcasr-*")) == []


def test_audio_with_a_text_header_on_stdin_is_audio():
    """NIST SPHERE (.sph) starts with a header of text: it was read as a list of paths,
    and its samples ended the run in a ValueError traceback (embedded null byte)."""
    sphere = encoded(SEVEN, "NIST", subtype="PCM_16")
    assert sphere.startswith(b"NIST_1A\n") and not looks_like_audio(sphere[:64])
    done = ctcasr("transcribe", "-", stdin=sphere)
    assert (done.returncode, done.stdout.decode(), done.stderr.decode()) == (0, "-\tseven\n", "")
    # A list that turns into binary is no list either: one failed input, not a traceback.
    done = ctcasr("transcribe", "-", stdin=f"{SEVEN}\n".encode() + bytes(100))
    assert done.returncode == 1
    assert done.stderr.decode().splitlines() == ["error: -: not a recognised audio file",
                                                 "1 of 1 input(s) failed"]  # fmt: skip


def test_garbage_on_stdin_is_one_failed_input():
    done = ctcasr("transcribe", "-", stdin=bytes(range(256)) * 8)
    assert done.returncode == 1
    assert done.stderr.decode().splitlines() == ["error: -: not a recognised audio file",
                                                 "1 of 1 input(s) failed"]  # fmt: skip


def test_transcriber_reads_fifos_and_streams_in_order(transcriber, tmp_path, private_tmp):
    fifo = tmp_path / "feed"
    os.mkfifo(fifo)
    flac = encoded(SEVEN, "FLAC")

    def feed() -> None:
        with open(fifo, "wb") as w:
            w.write(flac)

    writer = threading.Thread(target=feed)
    writer.start()
    noise = io.BytesIO(np.random.default_rng(0).bytes(5000))
    results = transcriber.transcribe_batch([
        str(fifo), EXAMPLES / "three.wav", io.BytesIO(SEVEN.read_bytes()), noise,
        io.StringIO("text"),
    ])  # fmt: skip
    writer.join()
    assert [type(r) for r in results] == [Transcript, Transcript, Transcript, Failure, Failure]
    assert [r.source for r in results] == [str(fifo), str(EXAMPLES / "three.wav"), "<stream>",
                                           "<stream>", "<stream>"]  # fmt: skip
    assert [r.text for r in results[:3]] == ["seven", "three", "seven"]
    assert results[3].error == "<stream>: not a recognised audio file"
    assert results[4].error == ("<stream>: a text stream; give audio as bytes "
                                "(sys.stdin.buffer, not sys.stdin)")  # fmt: skip
    assert list(private_tmp.iterdir()) == []  # every copy removed


def test_the_bytes_of_a_file_are_read_as_the_file(transcriber, private_tmp):
    """bytes, a bytearray or a byte memoryview (an upload) were taken for 8-bit samples:
    bytes failed as 'samples must be numbers', the others transcribed noise as "n"."""
    flac = encoded(SEVEN, "FLAC")
    results = transcriber.transcribe_batch([
        SEVEN.read_bytes(), bytearray(flac), memoryview(flac), b"not audio at all",
    ])  # fmt: skip
    assert [r.text for r in results[:3]] == ["seven"] * 3
    assert [r.source for r in results] == ["<bytes>"] * 4
    assert results[3].error == "<bytes>: not a recognised audio file"
    samples, _ = sf.read(SEVEN, dtype="float32")  # samples are still samples
    as_view = transcriber.transcribe(memoryview(samples), sample_rate=16000)
    assert as_view.text == transcriber.transcribe(samples, sample_rate=16000).text
    assert transcriber.read(SEVEN.read_bytes()) == ("<bytes>: a file's bytes are read by "
                                                    "Transcriber.transcribe (which copies "
                                                    "them to a file first), not here")  # fmt: skip
    assert list(private_tmp.iterdir()) == []


def test_a_long_piped_recording_is_cut_and_named(transcriber, tmp_path, private_tmp):
    """The streamed path (read in blocks from the copy) names the pipe too."""
    data, rate = sf.read(SEVEN, dtype="float32")
    gap = np.zeros(rate, np.float32)
    buf = io.BytesIO()
    sf.write(buf, np.concatenate([data, gap, data, gap, data]), rate, format="WAV")
    buf.seek(0)
    buf.name = "<stdin>"
    with Transcriber(decoder="greedy", split=SplitConfig(long_after=0.5)) as t:
        got = t.transcribe(buf)
    assert (got.source, got.text, len(got.segments)) == ("<stdin>", "seven seven seven", 3)
    assert list(private_tmp.iterdir()) == []


@pytest.mark.parametrize("unsized", ["unsized_flac", "unsized_rf64"])
def test_audio_written_to_a_pipe_is_read_whole_or_cut(unsized, transcriber, tmp_path,
                                                      private_tmp):  # fmt: skip
    """A FLAC with no length in its header failed as 'corrupt or truncated audio (Internal
    psf_fseek() failed.)', on stdin and as a file (``ffmpeg -i talk.mp4 -f flac - |``; the
    README's ``<(sox in.au -t flac -)``); an RF64 with its sizes left 0 as 'contains no audio
    samples' (``ffmpeg -rf64 always -f wav -``): short, long or over --max-duration."""
    writer = globals()[unsized]
    data, rate = sf.read(SEVEN, dtype="float32")
    clip = writer(data, rate)
    done = ctcasr("transcribe", "-", stdin=clip)
    assert (done.returncode, done.stdout.decode(), done.stderr.decode()) == (0, "-\tseven\n", "")
    (tmp_path / "piped").write_bytes(clip)
    assert transcriber.transcribe(tmp_path / "piped").text == "seven"
    gap = np.zeros(rate, np.float32)
    long = writer(np.concatenate([data, gap, data, gap, data]), rate)
    with Transcriber(decoder="greedy", split=SplitConfig(long_after=0.5)) as t:
        got = t.transcribe(io.BytesIO(long))
        seconds = round((3 * len(data) + 2 * rate) / rate, 3)  # the whole length, read
        assert (got.text, len(got.segments), got.duration) == ("seven seven seven", 3, seconds)
    for split in (SplitConfig(), SplitConfig(long_after=0.5)):  # read whole, and streamed
        with Transcriber(decoder="greedy", max_duration=2.0, split=split) as t:
            (failed,) = t.transcribe_batch([io.BytesIO(long)])
        # the RF64's length is known once its sizes are, the FLAC's only as it is read
        told = "4.8 s is " if unsized == "unsized_rf64" else ""
        assert failed.error == f"<stream>: {told}longer than the 2 s limit"
    assert list(private_tmp.iterdir()) == []


def test_a_pipe_over_the_limit_fails_alone(transcriber, monkeypatch, private_tmp):
    monkeypatch.setattr(spool, "MAX_BYTES", 1000)
    results = transcriber.transcribe_batch([io.BytesIO(SEVEN.read_bytes()), SEVEN])
    assert isinstance(results[0], Failure) and results[1].text == "seven"
    assert results[0].error == ("<stream>: more than 9.31323e-07 GiB through a pipe; write it "
                                "to a file first")  # fmt: skip
    assert list(private_tmp.iterdir()) == []


def test_spool_names_results_as_given_and_keeps_unknown_ones(private_tmp):
    with Spool() as s:
        path = s.take(io.BytesIO(b"RIFF...."))
        assert Path(path).read_bytes() == b"RIFF...."
        assert s.take("plain.wav") == "plain.wav"
        failure = s.named(Failure(path, f"{path}: corrupt header"))
        assert failure == Failure("<stream>", "<stream>: corrupt header")
        assert not Path(path).exists()
        kept = Failure("other.wav", "other.wav: file not found")
        assert s.named(kept) is kept
    assert list(private_tmp.iterdir()) == []
    unread = Spool().take(io.StringIO("x"))
    assert isinstance(unread, Unread) and unread.name == "<stream>"


def test_read_refuses_a_stream_in_one_line(transcriber):
    """``read`` works on files and arrays; a stream was called "an array of objects"."""
    assert transcriber.read(io.BytesIO(SEVEN.read_bytes())) == (
        "<stream>: a stream is read by Transcriber.transcribe (which copies it to a file "
        "first), not here"
    )


def unsized_rf64(audio: np.ndarray, rate: int) -> bytes:
    """An RF64 WAV as ``ffmpeg -rf64 always -f wav -`` writes it to a pipe: the 64-bit sizes
    of its ds64 chunk left 0, the data chunk's 32-bit size 0xFFFFFFFF ("see ds64")."""
    data = bytearray(sized_rf64(audio, rate))
    assert data[:4] == b"RF64" and data[12:16] == b"ds64"
    data[20:36] = bytes(16)  # riff and data sizes
    at = data.index(b"data", 36)
    data[at + 4 : at + 8] = b"\xff\xff\xff\xff"
    return bytes(data)


def sized_rf64(audio: np.ndarray, rate: int) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, audio, rate, format="RF64", subtype="PCM_16")
    return buf.getvalue()


def test_an_rf64_with_its_sizes_is_read_as_it_was(transcriber, tmp_path):
    """Only sizes left 0 are taken from the file's length."""
    data, rate = sf.read(SEVEN, dtype="float32")
    (tmp_path / "sized.wav").write_bytes(sized_rf64(data, rate))
    assert transcriber.transcribe(tmp_path / "sized.wav").text == "seven"


class _HangsUp(io.RawIOBase):
    """An upload whose client goes away: its first block comes, then ``error`` is raised."""

    def __init__(self, error: Exception) -> None:
        self.error, self.calls = error, 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        if self.calls > 1:
            raise self.error
        return SEVEN.read_bytes()[:1000]


def test_a_stream_failing_part_way_fails_alone(transcriber, private_tmp):
    """An OSError from the stream was blamed on the temporary folder ("cannot copy the piped
    audio to /tmp/ctcasr-spool-...: Connection reset by peer", a server's path in a reply to
    its client); any other exception (a web framework's ClientDisconnected) ended the whole
    batch, the good inputs with it."""
    results = transcriber.transcribe_batch([
        SEVEN, _HangsUp(ConnectionResetError(104, "Connection reset by peer")),
        _HangsUp(ValueError("client disconnected")), SEVEN.read_bytes(),
    ])  # fmt: skip
    assert [type(r) for r in results] == [Transcript, Failure, Failure, Transcript]
    assert results[1].error == "<stream>: cannot read the stream: Connection reset by peer"
    assert results[2].error == ("<stream>: cannot read the stream: ValueError: client "
                                "disconnected")  # fmt: skip
    assert results[0].text == results[3].text == "seven"
    with pytest.raises(CtcasrError, match=r"^<stream>: cannot read the stream: ValueError"):
        transcriber.transcribe(_HangsUp(ValueError("client disconnected")))
    assert list(private_tmp.iterdir()) == []
