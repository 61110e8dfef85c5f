"""Hostile audio through the whole path: every input kind has one defined outcome.

Each kind goes through :class:`Transcriber` twice, whole-file (``split=None``) and streamed
(``SplitConfig(long_after=0.05)``: every file longer than 50 ms is read in blocks by
``stream_audio``), and both must give the same outcome: the original clip's transcript for
speech in any encoding, an empty transcript for silence, or a one-line error naming the file and
the cause. ``docs/reliability.md`` maps each kind to the test here (or in test_audio.py,
test_cli.py, test_transcribe_io.py) that proves it.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from ctcasr.audio import load_audio
from ctcasr.errors import AudioError, CtcasrError
from ctcasr.segment import SplitConfig, stream_audio
from ctcasr.transcribe import Failure, Transcriber, Transcript

pytestmark = pytest.mark.slow
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CLIPS = ("seven", "three", "zero")  # examples/<word>.wav, 16 kHz 16-bit mono, ~0.9 s each
LIMIT = 900.0  # --max-duration for every transcriber here: 15 minutes
PATHS = ("whole", "streamed")


@pytest.fixture(scope="module")
def transcribers():
    whole = Transcriber(split=None, max_duration=LIMIT)
    streamed = Transcriber(split=SplitConfig(long_after=0.05),
                           max_duration=LIMIT, bundle=whole.bundle)  # fmt: skip
    yield {"whole": whole, "streamed": streamed}
    whole.close()
    streamed.close()


@pytest.fixture(scope="module")
def clips() -> dict[str, np.ndarray]:
    return {word: sf.read(str(EXAMPLES / f"{word}.wav"), dtype="float32")[0] for word in CLIPS}


@pytest.fixture(scope="module")
def originals(transcribers) -> dict[str, dict[str, str]]:
    """What each path says for the unconverted clips: the reference every variant must match."""
    said = {p: {w: transcribers[p].transcribe(EXAMPLES / f"{w}.wav").text for w in CLIPS}
            for p in PATHS}  # fmt: skip
    assert said["whole"] == said["streamed"] == {w: w for w in CLIPS}
    return said


def run(transcriber: Transcriber, path: Path) -> Transcript | Failure:
    (result,) = transcriber.transcribe_batch([path])
    return result


def assert_failure(result: Transcript | Failure, path: Path, cause: str) -> str:
    assert isinstance(result, Failure), f"{path}: expected an error, got {result!r}"
    assert result.source == str(path)
    assert "\n" not in result.error and "\r" not in result.error, result.error
    assert result.error.startswith(f"{path}: "), result.error
    assert cause in result.error, result.error
    return result.error


def wav_header(frames: int, rate: int = 16_000, channels: int = 1, bits: int = 16) -> bytes:
    """A canonical 44-byte PCM WAV header announcing ``frames`` frames."""
    align = channels * bits // 8
    data = frames * align
    return (b"RIFF" + struct.pack("<I", 36 + data) + b"WAVE" + b"fmt "
            + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * align, align, bits)
            + b"data" + struct.pack("<I", data))  # fmt: skip


def png_bytes() -> bytes:
    """A real 1x1 grey PNG."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + body))
        return struct.pack(">I", len(body)) + kind + body + crc

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\x80")) + chunk(b"IEND", b""))  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Speech in any encoding: the same transcript as the original clip, on both paths
# ---------------------------------------------------------------------------------------------

GAINS = np.array([1.0, 0.8, 0.6, 0.9, 0.7, 0.5], np.float32)  # per channel: not plain copies

# id: (extension, soundfile format, subtype, sample rate, channels, gain)
SPEECH = {
    "8k": ("wav", "WAV", "PCM_16", 8_000, 1, 1.0),
    "11k": ("wav", "WAV", "PCM_16", 11_025, 1, 1.0),
    "22k": ("wav", "WAV", "PCM_16", 22_050, 1, 1.0),
    "32k": ("wav", "WAV", "PCM_16", 32_000, 1, 1.0),
    "44k": ("wav", "WAV", "PCM_16", 44_100, 1, 1.0),
    "48k": ("wav", "WAV", "PCM_16", 48_000, 1, 1.0),
    "wav-8bit": ("wav", "WAV", "PCM_U8", 16_000, 1, 1.0),
    "flac-8bit": ("flac", "FLAC", "PCM_S8", 16_000, 1, 1.0),
    "wav-24bit": ("wav", "WAV", "PCM_24", 16_000, 1, 1.0),
    "flac-24bit": ("flac", "FLAC", "PCM_24", 16_000, 1, 1.0),
    "wav-32bit-int": ("wav", "WAV", "PCM_32", 16_000, 1, 1.0),
    "wav-32bit-float": ("wav", "WAV", "FLOAT", 16_000, 1, 1.0),
    "float-beyond-full-scale": ("wav", "WAV", "FLOAT", 16_000, 1, 10.0),
    "ogg": ("ogg", "OGG", "VORBIS", 16_000, 1, 1.0),
    "mp3": ("mp3", "MP3", "MPEG_LAYER_III", 16_000, 1, 1.0),
    "2ch": ("wav", "WAV", "PCM_16", 16_000, 2, 1.0),
    "4ch": ("wav", "WAV", "PCM_16", 16_000, 4, 1.0),
    "6ch": ("wav", "WAV", "PCM_16", 16_000, 6, 1.0),
    "8bit-8k-2ch": ("wav", "WAV", "PCM_U8", 8_000, 2, 1.0),
    "24bit-48k-6ch-flac": ("flac", "FLAC", "PCM_24", 48_000, 6, 1.0),
    "float-44k-4ch": ("wav", "WAV", "FLOAT", 44_100, 4, 1.0),
    "mp3-44k-2ch": ("mp3", "MP3", "MPEG_LAYER_III", 44_100, 2, 1.0),
    "ogg-48k-2ch": ("ogg", "OGG", "VORBIS", 48_000, 2, 1.0),
}


def write_speech(path: Path, x: np.ndarray, spec: tuple) -> Path:
    _, fmt, subtype, rate, channels, gain = spec
    y = soxr.resample(x, 16_000, rate, quality="HQ") if rate != 16_000 else x
    data = (y[:, None] * GAINS[None, :channels] * gain).astype(np.float32)
    sf.write(str(path), data, rate, format=fmt, subtype=subtype)
    return path


@pytest.mark.parametrize("kind", PATHS)
@pytest.mark.parametrize("variant", list(SPEECH))
def test_speech_in_any_encoding_gives_the_original_transcript(
    variant, kind, transcribers, clips, originals, tmp_path
):
    ext, _, subtype, rate, channels, _ = SPEECH[variant]
    for word, x in clips.items():
        path = write_speech(tmp_path / f"{word}.{ext}", x, SPEECH[variant])
        info = sf.info(str(path))
        assert (info.samplerate, info.channels) == (rate, channels)
        result = run(transcribers[kind], path)
        assert isinstance(result, Transcript), result
        assert result.text == originals[kind][word], (variant, subtype, word)
        assert bool(result.segments) == (kind == "streamed")  # the path under test was taken


def test_speech_in_one_of_six_channels(transcribers, clips, originals, tmp_path):
    """The other five channels silent: the downmix is the clip at a sixth of its level."""
    for word, x in clips.items():
        data = np.zeros((len(x), 6), np.float32)
        data[:, 4] = x
        path = tmp_path / f"{word}.wav"
        sf.write(str(path), data, 16_000, subtype="PCM_16")
        for kind in PATHS:
            assert run(transcribers[kind], path).text == originals[kind][word]


@pytest.mark.parametrize("kind", PATHS)
def test_nan_and_inf_samples_are_silenced(kind, transcribers, clips, originals, tmp_path):
    """Scattered NaN/+Inf/-Inf (one sample in 50, in one channel of a stereo float file): those
    samples count as silence, and the speech around them is transcribed as before."""
    for word, x in clips.items():
        data = np.stack([x, x * 0.8], axis=1)
        data[::150, 0] = np.nan
        data[50::150, 0] = np.inf
        data[100::150, 1] = -np.inf
        path = tmp_path / f"{word}.wav"
        sf.write(str(path), data, 16_000, subtype="FLOAT")
        result = run(transcribers[kind], path)
        assert isinstance(result, Transcript) and result.text == originals[kind][word]


def test_nan_and_inf_become_zero_in_both_readers(tmp_path):
    data = np.full(16_000, 0.25, np.float32)
    data[[10, 20, 30]] = [np.nan, np.inf, -np.inf]
    path = tmp_path / "poisoned.wav"
    sf.write(str(path), data, 16_000, subtype="FLOAT")
    whole = load_audio(path)
    streamed = np.concatenate(list(stream_audio(path, 16_000, block_seconds=0.1)))
    for samples in (whole, streamed):
        assert np.all(np.isfinite(samples)) and len(samples) == 16_000
        assert samples[[10, 20, 30]].tolist() == [0.0, 0.0, 0.0]
        assert samples[11] == 0.25


@pytest.mark.parametrize("kind", PATHS)
def test_clipped_speech_gives_a_transcript(kind, transcribers, clips, tmp_path):
    """Driven 20 dB into the int16 rails: distorted, but transcribed, not refused."""
    for word, x in clips.items():
        path = tmp_path / f"{word}.wav"
        sf.write(str(path), np.clip(x * 10, -1, 1), 16_000, subtype="PCM_16")
        assert float(np.mean(np.abs(sf.read(str(path))[0]) > 0.99)) > 0.05  # really clipped
        result = run(transcribers[kind], path)
        assert isinstance(result, Transcript) and result.text, result


def test_nan_array_input_is_silenced(transcribers, clips, originals):
    """Python callers' arrays get the same NaN/Inf treatment as files."""
    x = clips["seven"].copy()
    x[::97] = np.nan
    x[5::97] = np.inf
    for kind in PATHS:
        assert transcribers[kind].transcribe(x, sample_rate=16_000).text == originals[kind]["seven"]
        assert transcribers[kind].transcribe(np.full(8_000, np.nan, np.float32)).text == ""


# ---------------------------------------------------------------------------------------------
# Silence and nothing: an empty transcript, or "contains no audio samples"
# ---------------------------------------------------------------------------------------------

SILENT = {
    "wav-16bit": ("wav", "WAV", "PCM_16", 16_000, 1),
    "wav-8bit-8k": ("wav", "WAV", "PCM_U8", 8_000, 1),
    "float-48k-6ch": ("wav", "WAV", "FLOAT", 48_000, 6),
    "flac": ("flac", "FLAC", "PCM_16", 22_050, 2),
    "ogg": ("ogg", "OGG", "VORBIS", 16_000, 1),
    "mp3": ("mp3", "MP3", "MPEG_LAYER_III", 16_000, 1),
}


@pytest.mark.parametrize("kind", PATHS)
@pytest.mark.parametrize("variant", list(SILENT))
def test_all_silent_file_gives_an_empty_transcript(variant, kind, transcribers, tmp_path):
    """Digital silence: an empty transcript with the file's duration, on both paths (the whole
    file path does not ask the model, which may hear letters in silence)."""
    ext, fmt, subtype, rate, channels = SILENT[variant]
    path = tmp_path / f"silent.{ext}"
    sf.write(str(path), np.zeros((2 * rate, channels), np.float32), rate, format=fmt,
             subtype=subtype)  # fmt: skip
    result = run(transcribers[kind], path)
    assert isinstance(result, Transcript), result
    assert result.text == "" and not result.rejected and not result.words
    assert result.duration == pytest.approx(sf.info(str(path)).duration, abs=0.06)


def test_silent_array_gives_an_empty_transcript(transcribers):
    for kind in PATHS:
        result = transcribers[kind].transcribe(np.zeros(32_000, np.float32))
        assert result.text == "" and result.duration == pytest.approx(2.0)


@pytest.mark.parametrize("kind", PATHS)
@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT", "VORBIS"])
def test_zero_length_file_is_an_error(subtype, kind, transcribers, tmp_path):
    """A valid header announcing 0 frames: not silence but no audio at all, reported as such
    (what a recorder that never started leaves behind)."""
    ext, fmt = ("ogg", "OGG") if subtype == "VORBIS" else ("wav", "WAV")
    path = tmp_path / f"nothing.{ext}"
    sf.write(str(path), np.zeros((0, 1), np.float32), 16_000, format=fmt, subtype=subtype)
    assert path.stat().st_size > 0 and sf.info(str(path)).frames == 0
    assert_failure(run(transcribers[kind], path), path, "contains no audio samples")


def test_stream_of_a_file_that_yields_no_frames_is_an_error(tmp_path, monkeypatch):
    """A header announcing frames that then decode to none: the streamed reader says what the
    whole-file reader says, instead of an empty transcript."""
    path = tmp_path / "hollow.wav"
    sf.write(str(path), np.zeros(16_000, np.float32), 16_000, subtype="PCM_16")
    monkeypatch.setattr(sf.SoundFile, "read", lambda self, *a, **k: np.zeros((0, 1), np.float32))
    with pytest.raises(AudioError) as raised:
        list(stream_audio(path, 16_000))
    assert str(raised.value) == f"{path}: contains no audio samples"


def test_empty_array_is_an_error(transcribers):
    for kind in PATHS:
        with pytest.raises(CtcasrError, match=r"^<array>: contains no audio samples$"):
            transcribers[kind].transcribe(np.zeros(0, np.float32))


def test_an_array_too_short_to_leave_one_sample_is_an_error_as_its_file_is(transcribers, tmp_path):
    """Three samples at 192 kHz leave none at 16 kHz: the file was refused as too short, the
    same samples as an array gave an empty transcript (nothing said, duration 0)."""
    samples = np.array([0.5, -0.5, 0.5], np.float32)
    path = tmp_path / "three.wav"
    sf.write(str(path), samples, 192_000)
    cause = "too short (3 samples at 192000 Hz is under one sample at 16000 Hz)"
    for kind in PATHS:
        assert_failure(run(transcribers[kind], path), path, cause)
        with pytest.raises(CtcasrError) as raised:
            transcribers[kind].transcribe(samples, sample_rate=192_000)
        assert str(raised.value) == f"<array>: {cause}"
    with pytest.raises(CtcasrError, match=r"too short \(1 sample at 57152 Hz is under one "):
        transcribers["whole"].transcribe(samples[:1], sample_rate=57_152)


# ---------------------------------------------------------------------------------------------
# Broken and non-audio files: a one-line error naming the file and the cause
# ---------------------------------------------------------------------------------------------


def tiled_bytes(tmp_path: Path, clips, fmt: str, subtype: str, ext: str) -> bytes:
    path = tmp_path / f"full.{ext}"
    sf.write(str(path), np.concatenate(list(clips.values())), 16_000, format=fmt,
             subtype=subtype)  # fmt: skip
    return path.read_bytes()


# id: (file name, bytes builder, expected cause)
BROKEN = {
    "header-only-wav": ("head.wav", lambda t, c: wav_header(16_000), "contains no audio samples"),
    "header-only-flac": (
        "head.flac", lambda t, c: tiled_bytes(t, c, "FLAC", "PCM_16", "flac")[:42],
        "corrupt or truncated audio",
    ),
    "header-only-ogg": (
        "head.ogg", lambda t, c: tiled_bytes(t, c, "OGG", "VORBIS", "ogg")[:200],
        "not a recognised audio file",
    ),
    "truncated-flac": (
        "cut.flac", lambda t, c: tiled_bytes(t, c, "FLAC", "PCM_16", "flac")[:-1],
        "corrupt or truncated audio",
    ),
    "text": ("notes.wav", lambda t, c: b"RIFF? no, just words\nand more words\n",
             "not a recognised audio file"),
    "text-mp3": ("lyrics.mp3", lambda t, c: b"la la la\n" * 50,
                 "not a recognised audio file"),
    "png": ("picture.wav", lambda t, c: png_bytes(), "not a recognised audio file"),
    "png-flac": ("picture.flac", lambda t, c: png_bytes(), "not a recognised audio file"),
    "random": ("noise.wav", lambda t, c: np.random.default_rng(7).bytes(20_000),
               "not a recognised audio file"),
    "random-mp3": ("noise.mp3", lambda t, c: np.random.default_rng(8).bytes(20_000),
                   "not a recognised audio file"),
    "empty": ("empty.ogg", lambda t, c: b"", "empty file (0 bytes)"),
    # A rate no audio has: taken at its word, 30 kB saying 1 Hz were hours of audio, read for
    # minutes and transcribed as noise words.
    "rate-1hz": ("one_hertz.wav", lambda t, c: wav_header(100, rate=1)
                 + (c["seven"][4000:4100] * 32767).astype("<i2").tobytes(),
                 "corrupt header (sample rate 1 Hz, under the 1000 Hz of any audio)"),
    # libsndfile takes up to 1024 channels: a mono file whose header said 1000 was read whole
    # as a thousandth of its length (1.9 GB of memory for 400 MB) and gave an empty transcript.
    "channels-1000": ("thousand.wav", lambda t, c: wav_header(500, channels=1000)
                      + (np.resize(c["seven"], 500_000) * 32767).astype("<i2").tobytes(),
                      "corrupt header (1000 channels at 16000 Hz)"),
    # And one no audio has above: 1 GHz made 100 MB 50 ms of audio, read whole (640 MB).
    "rate-1.5mhz": ("megahertz.wav", lambda t, c: wav_header(100_000, rate=1_500_000)
                    + (np.resize(c["seven"], 100_000) * 32767).astype("<i2").tobytes(),
                    "corrupt header (sample rate 1500000 Hz, over the 1000000 Hz of any audio)"),
    "missing": ("missing.flac", None, "file not found"),
}


@pytest.mark.parametrize("kind", PATHS)
@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_file_is_a_one_line_error(case, kind, transcribers, clips, tmp_path):
    name, build, cause = BROKEN[case]
    path = tmp_path / name
    if build is not None:
        path.write_bytes(build(tmp_path, clips))
    assert_failure(run(transcribers[kind], path), path, cause)
    with pytest.raises(CtcasrError) as raised:  # .transcribe raises what the batch reports
        transcribers[kind].transcribe(path)
    assert str(raised.value).startswith(f"{path}: ") and "\n" not in str(raised.value)


@pytest.mark.parametrize("kind", PATHS)
@pytest.mark.parametrize(("ext", "fmt", "subtype"), [("wav", "WAV", "PCM_16"),
                                                      ("ogg", "OGG", "VORBIS"),
                                                      ("mp3", "MP3", "MPEG_LAYER_III")])
def test_file_cut_in_its_samples_gives_what_is_there(ext, fmt, subtype, kind, transcribers,
                                                     clips, tmp_path):  # fmt: skip
    """WAV, Ogg and MP3 cut part-way through their samples (a recorder killed mid-write): the
    frames before the cut are transcribed, the same on both paths. (FLAC cut anywhere is an
    error: see ``truncated-flac`` above.)"""
    data = tiled_bytes(tmp_path, clips, fmt, subtype, ext)
    path = tmp_path / f"cut.{ext}"
    path.write_bytes(data[: int(len(data) * 0.6)])
    result = run(transcribers[kind], path)
    assert isinstance(result, Transcript) and result.text.split()[0] == "seven", result
    other = run(transcribers["streamed" if kind == "whole" else "whole"], path)
    assert other.text == result.text


def test_cut_mp3_streams_only_the_frames_it_holds(clips, tmp_path):
    """The header of a cut MP3 still announces every frame; the streamed reader must stop at
    the cut, not pad the rest with stale buffer contents."""
    data = tiled_bytes(tmp_path, clips, "MP3", "MPEG_LAYER_III", "mp3")
    path = tmp_path / "cut.mp3"
    path.write_bytes(data[: len(data) // 2])
    whole = load_audio(path)
    streamed = np.concatenate(list(stream_audio(path, 16_000, block_seconds=0.5)))
    assert sf.info(str(path)).frames > len(whole) + 8_000
    assert len(streamed) == len(whole)
    np.testing.assert_allclose(streamed, whole, atol=1e-6)


@pytest.mark.parametrize("kind", PATHS)
def test_batch_goes_on_past_every_bad_file(kind, transcribers, clips, tmp_path):
    good = [EXAMPLES / f"{w}.wav" for w in CLIPS]
    bad = []
    for case, (name, build, _) in BROKEN.items():
        path = tmp_path / f"{case}-{name}"
        if build is not None:
            path.write_bytes(build(tmp_path, clips))
        bad.append(path)
    sources = [good[0], *bad[:6], good[1], *bad[6:], good[2]]
    results = list(transcribers[kind].transcribe_iter(iter(sources)))
    assert [r.source for r in results] == [str(s) for s in sources]
    assert [r.text for r in results if isinstance(r, Transcript)] == list(CLIPS)
    for path, (_, _, cause), result in zip(bad, BROKEN.values(), [r for r in results
                                                                  if isinstance(r, Failure)],
                                           strict=True):  # fmt: skip
        assert_failure(result, path, cause)


# ---------------------------------------------------------------------------------------------
# Very long files: refused from the header, or streamed in bounded memory
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_hour_wav(tmp_path_factory) -> Path:
    """Two hours of 16 kHz 16-bit silence (230 MB), written sparsely: a header and a size."""
    path = tmp_path_factory.mktemp("long") / "two_hours.wav"
    frames = 2 * 3600 * 16_000
    with open(path, "wb") as f:
        f.write(wav_header(frames))
        f.truncate(44 + 2 * frames)
    assert sf.info(str(path)).duration == 7200.0
    return path


@pytest.mark.parametrize("kind", PATHS)
def test_file_over_the_max_duration_is_refused_unread(kind, transcribers, two_hour_wav):
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = run(transcribers[kind], two_hour_wav)
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = assert_failure(result, two_hour_wav, "7200.0 s is longer than the 900 s limit")
    assert message == f"{two_hour_wav}: 7200.0 s is longer than the 900 s limit"
    assert seconds < 2.0 and peak < 2_000_000, (seconds, peak)  # the samples are 460 MB
    with pytest.raises(AudioError, match="longer than the 900 s limit"):
        load_audio(two_hour_wav, max_duration=LIMIT)


def test_a_short_file_is_opened_once(transcribers, soundfile_calls):
    """Whether to stream is decided from the header of the open that reads the file: a short
    file costs one open; a long one two (that header, then the stream)."""
    clip = str(EXAMPLES / "seven.wav")
    opened, reads = soundfile_calls
    with Transcriber(max_duration=LIMIT, bundle=transcribers["whole"].bundle) as default:
        assert default.split is not None and default.transcribe(clip).text == "seven"
    assert opened == [clip] and reads == [clip]
    opened.clear()
    assert transcribers["streamed"].transcribe(clip).text == "seven"  # over its 0.05 s
    assert opened == [clip, clip]


def test_a_quiet_long_file_is_opened_once_more_than_its_header(
    transcribers, clips, soundfile_calls, tmp_path
):
    """The read ahead that sets a quiet long input's gain is the read that is transcribed,
    not one of its own, which cost a third open."""
    pause = np.zeros(16_000, np.float32)
    quiet = tmp_path / "quiet.wav"
    sf.write(str(quiet), np.float32(0.01) * np.concatenate([pause, clips["seven"], pause]),
             16_000, subtype="FLOAT")  # fmt: skip
    opened, _ = soundfile_calls
    assert transcribers["streamed"].transcribe(quiet).text == "seven"
    assert opened == [str(quiet)] * 2


def test_the_blocks_read_ahead_are_read_once_unless_too_many_to_hold():
    """The blocks after the gain's read ahead are the input's from its start: the same read
    going on while the blocks ahead fit in ``keep_seconds``, a second read past that (a quiet
    hour is read twice, never held in memory)."""
    from ctcasr.transcribe import _gain_then_blocks

    rate, y = 16_000, np.sin(np.arange(16_000, dtype=np.float32) / 3)
    reads: list[int] = []

    def read(scale: float):
        def blocks():
            reads.append(0)
            for i in range(6):
                yield np.float32(scale * (i + 1)) * y

        return blocks

    for scale, keep, reads_wanted in [(0.5, 60.0, 1), (1e-4, 60.0, 1), (1e-4, 2.5, 2)]:
        reads.clear()
        gain, blocks = _gain_then_blocks(read(scale)(), read(scale), rate, keep_seconds=keep)
        assert [b[1] for b in blocks] == [b[1] for b in read(scale)()]
        assert len(reads) == reads_wanted + 1, (scale, keep)  # + the one just compared with
        assert (gain == 1.0) == (scale == 0.5), gain


@pytest.fixture(scope="module")
def ten_minute_wav(tmp_path_factory, clips) -> Path:
    """Ten minutes of silence with the three clips at 0:30, 5:00 and 9:30, written in blocks."""
    path = tmp_path_factory.mktemp("long") / "ten_minutes.wav"
    at = {30 * 16_000: clips["seven"], 300 * 16_000: clips["three"],
          570 * 16_000: clips["zero"]}  # fmt: skip
    with sf.SoundFile(str(path), "w", 16_000, 1, subtype="PCM_16") as f:
        for start in range(0, 600 * 16_000, 16_000):
            block = np.zeros(16_000, np.float32)
            if start in at:
                block[: len(at[start])] = at[start]
            f.write(block)
    return path


def test_ten_minute_file_is_streamed_in_bounded_memory(ten_minute_wav, monkeypatch):
    """A 10-minute file (38 MB as float32) is streamed a block at a time: the whole-file reader
    is never called, and the peak is set by the segment length (a 10 s window here; the 20 s
    default peaks near 19 MB, whatever the file's length), not by the file's."""
    import ctcasr.features

    real_load = ctcasr.features.load_audio

    def refuse(*args, **kwargs):  # may look at the header (and raise LongAudio), never read
        real_load(*args, **kwargs)
        raise AssertionError("load_audio read a long file whole")

    monkeypatch.setattr(ctcasr.features, "load_audio", refuse)
    assert transcribed_in_bounded_memory(ten_minute_wav).duration == pytest.approx(600.0)


STREAMED = SplitConfig(max_segment=10.0, block_seconds=5.0)  # long_after: the 30 s default


def transcribed_in_bounded_memory(ten_minute_wav: Path) -> Transcript:
    """The ten-minute file transcribed, its three clips found at their times, with a peak
    set by the segment length (a 10 s window here; the 20 s default peaks near 19 MB)."""
    with Transcriber(max_duration=LIMIT, split=STREAMED) as transcriber:
        transcriber.acoustic_model  # noqa: B018 - load the model outside the measurement
        tracemalloc.start()
        try:
            (result,) = transcriber.transcribe_batch([ten_minute_wav])
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert isinstance(result, Transcript), result
    assert result.text == "seven three zero"
    assert [round(w.start) for w in result.words] == [30, 300, 570]
    assert peak < 12_000_000, peak
    return result


def test_a_long_file_only_the_fallback_reader_reads_is_streamed(ten_minute_wav, monkeypatch):
    """A long file libsndfile cannot read (an m4a, read through audioread) is cut and streamed
    as any other: it was read whole, never cut, and shown to the model whole (a 10-minute m4a
    peaked at 680 MB, an hour's at gigabytes that onnxruntime then kept)."""
    import ctcasr.audio
    import ctcasr.segment

    def libsndfile_refuses(path):
        raise RuntimeError("Format not recognised.")

    monkeypatch.setattr(ctcasr.audio, "open_sound", libsndfile_refuses)
    monkeypatch.setattr(ctcasr.segment, "open_sound", libsndfile_refuses)
    assert len(transcribed_in_bounded_memory(ten_minute_wav).segments) == 3
    with Transcriber(max_duration=60.0, split=STREAMED) as short:
        (refused,) = short.transcribe_batch([ten_minute_wav])  # from the header, as before
    assert refused == Failure(str(ten_minute_wav),
                              f"{ten_minute_wav}: 600.0 s is longer than the 60 s limit")


def test_a_fallback_read_failing_mid_stream_says_so_once(tmp_path, monkeypatch):
    """A long m4a whose decoding failed part-way said its name and "corrupt or truncated
    audio" twice (``x.m4a: corrupt or truncated audio (x.m4a: corrupt or truncated audio
    (...))``): the fallback reader's own error was wrapped again by the stream."""
    import audioread

    import ctcasr.audio
    import ctcasr.segment

    def libsndfile_refuses(path):
        raise RuntimeError("Format not recognised.")

    real_open = audioread.audio_open

    class Failing:
        """audioread's reader whose decoder fails after a few chunks."""

        def __init__(self, reader) -> None:
            self.reader = reader
            self.samplerate, self.channels = reader.samplerate, reader.channels
            self.duration = reader.duration

        def __iter__(self):
            for i, chunk in enumerate(self.reader):
                if i == 3:
                    raise audioread.DecodeError("invalid data found when processing input")
                yield chunk

        def close(self) -> None:
            self.reader.close()

    path = tmp_path / "long.wav"
    sf.write(path, np.zeros(40 * 16000, np.float32), 16000, subtype="PCM_16")
    monkeypatch.setattr(ctcasr.audio, "open_sound", libsndfile_refuses)
    monkeypatch.setattr(ctcasr.segment, "open_sound", libsndfile_refuses)
    monkeypatch.setattr(audioread, "audio_open", lambda name: Failing(real_open(name)))
    with pytest.raises(AudioError) as caught:
        for _ in stream_audio(path, 16000, block_seconds=0.1):
            pass
    assert str(caught.value) == (f"{path}: corrupt or truncated audio (invalid data found "
                                 "when processing input)")  # fmt: skip


# ---------------------------------------------------------------------------------------------
# The CLI: one "error:" line per bad file naming it, the good ones still printed, exit code 1
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("split", ["0", "0.05"], ids=PATHS)
def test_cli_reports_each_hostile_file_on_one_line(split, clips, two_hour_wav, tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(str(silent), np.zeros(16_000, np.float32), 16_000, subtype="PCM_16")
    poisoned = tmp_path / "poisoned.wav"
    x = clips["three"].copy()
    x[::100] = np.nan
    sf.write(str(poisoned), x, 16_000, subtype="FLOAT")
    bad: dict[Path, str] = {two_hour_wav: "7200.0 s is longer than the 900 s limit"}
    for case, (name, build, cause) in BROKEN.items():
        path = tmp_path / f"{case}-{name}"
        if build is not None:
            path.write_bytes(build(tmp_path, clips))
        bad[path] = cause
    good = EXAMPLES / "seven.wav"
    inputs = [good, *bad, silent, poisoned]
    result = subprocess.run(
        [sys.executable, "-c", "from ctcasr.cli import main; main()", "transcribe",
         *map(str, inputs), "--max-duration", "900", "--split-longer-than", split,
         "--no-progress"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout.splitlines() == [f"{good}\tseven", f"{silent}\t", f"{poisoned}\tthree"]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == len(bad)
    # Nothing else: native decoders' own diagnostics (libmpg123 probing random bytes) are muted.
    assert result.stderr.splitlines() == [*errors, f"{len(bad)} of {len(inputs)} input(s) failed"]
    for path, cause in bad.items():
        (line,) = [e for e in result.stderr.splitlines() if str(path) in e]  # one line each
        assert line.startswith(f"error: {path}: ") and cause in line, line
    assert result.stderr.splitlines()[-1] == f"{len(bad)} of {len(inputs)} input(s) failed"


def test_gsm_wav_and_mp3_block_edges_read_like_the_whole_file(tmp_path):
    """GSM 6.10 WAV (unseekable to libsndfile) was "corrupt" on the whole-file path; MP3 read
    in blocks glitched at every block edge (soundfile re-seeks inside an MP3 frame)."""
    from ctcasr.audio import load_audio
    from ctcasr.segment import stream_audio

    speech = load_audio(EXAMPLES / "seven.wav", 8000)
    gsm = tmp_path / "gsm.wav"
    sf.write(str(gsm), speech, 8000, format="WAV", subtype="GSM610")
    assert len(load_audio(gsm, 16000)) > 0.9 * len(speech) * 2
    rng = np.random.default_rng(0)
    tone = (0.3 * np.sin(np.arange(44100 * 6) * 2 * np.pi * 440 / 44100)
            + 0.05 * rng.standard_normal(44100 * 6)).astype(np.float32)  # fmt: skip
    mp3 = tmp_path / "x.mp3"
    sf.write(str(mp3), tone, 44100, format="MP3")
    whole = load_audio(mp3, 44100)
    streamed = np.concatenate(list(stream_audio(mp3, 44100, block_seconds=1.0)))
    n = min(len(whole), len(streamed))
    assert n > 44100 * 5 and float(np.max(np.abs(whole[:n] - streamed[:n]))) < 1e-4


def test_silence_with_an_offset_and_a_sample_rate_of_zero(tmp_path):
    from ctcasr.features import FrontendConfig, load_samples
    from ctcasr.segment import is_silent

    assert is_silent(np.full(16000, 0.01, np.float32))  # DC only: nothing said
    assert not is_silent(np.array([0.01, -0.01] * 8000, np.float32))
    with pytest.raises(CtcasrError, match=r"^sample_rate must be a whole number of samples per "
                       r"second, got 0$"):  # fmt: skip
        load_samples(np.zeros(8000, np.float32), FrontendConfig(), sample_rate=0)


def test_featurize_refuses_a_bad_sample_rate_as_transcribe_does():
    """featurize (in the README's tour) checked only for a rate under 1: "16000" was a
    TypeError traceback, and 16.0 (kHz meant) upsampled the clip a thousandfold."""
    from ctcasr.features import featurize

    samples = np.random.default_rng(0).standard_normal(1600).astype(np.float32) * 0.1
    for rate in ("16000", 16.0, 16000.5, True):
        with pytest.raises(CtcasrError, match=r"^sample_rate "):
            featurize(samples, sample_rate=rate)
    assert featurize(samples, sample_rate=np.int32(8000)).shape[1] == 20


def test_a_leftover_under_one_window_is_not_a_piece():
    """About 20 s with no pause left a tail of a few samples that the model spelled "n"."""
    from ctcasr.segment import SplitConfig
    from ctcasr.transcribe import Transcriber

    rng = np.random.default_rng(1)
    audio = (0.3 * rng.standard_normal(2 * 16000 + 100)).astype(np.float32)  # no pauses
    split = SplitConfig(long_after=0.5, max_segment=1.0, min_segment=0.5)
    with Transcriber(decoder="greedy", split=split) as t:
        pieces = list(t.long_pieces(audio, 16000, length := [0.0]))
        window = t.bundle.frontend.win_length
    assert [round(seconds, 3) for _, seconds, _ in pieces] == [1.0, 1.0]
    assert length[0] == pytest.approx((2 * 16000 + 100) / 16000) and window > 100


def test_long_pieces_refuses_a_stream_or_bytes_in_one_line():
    """``Transcriber.long_pieces`` takes what ``read`` takes: a stream or a file's bytes are
    refused as ``read`` refuses them, not a TypeError or "embedded null byte" traceback."""
    data = (EXAMPLES / "seven.wav").read_bytes()
    split = SplitConfig(long_after=0.5, max_segment=1.0, min_segment=0.5)
    with Transcriber(decoder="greedy", split=split) as t:
        for source, name in ((io.BytesIO(data), "<stream>: a stream"), (data, "<bytes>: a file's")):
            with pytest.raises(AudioError, match=f"^{name} .* Transcriber.transcribe"):
                list(t.long_pieces(source, None, [0.0]))


def test_a_pipe_is_named_as_a_pipe_not_an_empty_file(tmp_path):
    """A FIFO's size is 0: ``load_audio`` of ``<(cat clip.wav)`` said "empty file (0 bytes)".
    (A Transcriber reads pipes: ``tests/test_spool.py``.)"""
    fifo = tmp_path / "pipe.wav"
    os.mkfifo(fifo)
    with pytest.raises(AudioError) as caught:
        load_audio(fifo)
    assert str(caught.value) == (f"{fifo}: a pipe, which load_audio cannot seek in; write the "
                                 "audio to a file first, or give it to a Transcriber, which "
                                 "does")  # fmt: skip
    with pytest.raises(AudioError) as caught:
        load_audio("/dev/null")
    assert str(caught.value) == ("/dev/null: not a regular file (a device); give the audio as "
                                 "a file or a pipe")  # fmt: skip


def test_library_errors_are_cut_to_one_bounded_line():
    from ctcasr.utils import first_line

    assert first_line(RuntimeError("bad header\nat byte 12\n")) == "bad header ..."
    assert first_line(RuntimeError("x" * 500)) == "x" * 160 + " ..."
    assert first_line(RuntimeError("  \n ")) == "RuntimeError"
    assert first_line(ValueError("fine")) == "fine"
