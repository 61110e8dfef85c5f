"""load_audio, resample and as_mono on synthetic files of many formats and on real FSDD audio."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import missing_tool

from ctcasr.audio import SAMPLE_RATE, LongAudio, as_mono, load_audio, resample
from ctcasr.errors import AudioError, CtcasrError
from ctcasr.segment import stream_audio


def tone(rate: int, seconds: float = 1.0, freq: float = 440.0, amp: float = 0.3) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def assert_length_close(samples: np.ndarray, expected: int, tolerance: float = 0.01) -> None:
    assert abs(len(samples) - expected) <= max(1, tolerance * expected), (len(samples), expected)


def assert_mono_16k(samples: np.ndarray) -> None:
    assert isinstance(samples, np.ndarray)
    assert samples.dtype == np.float32
    assert samples.ndim == 1
    assert np.all(np.isfinite(samples))


def _can_write(fmt: str, subtype: str | None) -> bool:
    if fmt not in sf.available_formats():
        return False
    return subtype is None or subtype in sf.available_subtypes(fmt)


# (extension, soundfile format, subtype, tolerance on the signal after a round trip)
FORMATS = [
    ("wav", "WAV", "PCM_16", 1e-3),
    ("flac", "FLAC", "PCM_16", 1e-3),
    ("ogg", "OGG", "VORBIS", None),
    ("mp3", "MP3", "MPEG_LAYER_III", None),
]


def write_or_skip(path: Path, data: np.ndarray, rate: int, fmt: str, subtype: str | None) -> None:
    """Write the file, or skip when this libsndfile lacks the codec (fail under CI, whose
    soundfile wheel bundles every one: a format's tests must not pass by not running)."""
    if not _can_write(fmt, subtype):
        missing_tool(f"this libsndfile cannot write {fmt}/{subtype}")
    try:
        sf.write(str(path), data, rate, format=fmt, subtype=subtype)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        missing_tool(f"this libsndfile cannot write {fmt}/{subtype}: {exc}")


@pytest.mark.parametrize("rate", [8_000, 16_000, 22_050, 44_100])
@pytest.mark.parametrize(("ext", "fmt", "subtype", "tol"), FORMATS, ids=[f[0] for f in FORMATS])
def test_load_audio_formats_and_rates(tmp_path, rate, ext, fmt, subtype, tol):
    seconds = 1.0
    data = tone(rate, seconds)
    path = tmp_path / f"tone_{rate}.{ext}"
    write_or_skip(path, data, rate, fmt, subtype)

    samples = load_audio(path)
    assert_mono_16k(samples)
    assert_length_close(samples, int(SAMPLE_RATE * seconds))
    # The signal survives: a 440 Hz tone at amplitude 0.3 has RMS 0.3 / sqrt(2).
    rms = float(np.sqrt(np.mean(samples[1000:-1000] ** 2)))
    assert rms == pytest.approx(0.3 / np.sqrt(2), rel=0.1)
    spectrum = np.abs(np.fft.rfft(samples))
    peak_hz = np.argmax(spectrum) * SAMPLE_RATE / len(samples)
    assert abs(peak_hz - 440) < 5
    if tol is not None and rate == SAMPLE_RATE:
        np.testing.assert_allclose(samples, data, atol=tol)


def test_load_audio_accepts_str_path_and_custom_rate(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(str(path), tone(22_050, 0.5), 22_050, subtype="PCM_16")
    samples = load_audio(str(path), sample_rate=8_000)
    assert samples.dtype == np.float32
    assert_length_close(samples, 4_000)


@pytest.mark.parametrize("rate", [16_000, 44_100])
def test_stereo_is_downmixed_to_mean(tmp_path, rate):
    left = tone(rate, 0.5, freq=300, amp=0.4)
    right = tone(rate, 0.5, freq=1000, amp=0.2)
    stereo = np.stack([left, right], axis=1)
    path = tmp_path / "stereo.wav"
    sf.write(str(path), stereo, rate, subtype="FLOAT")

    samples = load_audio(path)
    assert_mono_16k(samples)
    expected = resample(stereo.mean(axis=1).astype(np.float32), rate, SAMPLE_RATE)
    assert samples.shape == expected.shape
    np.testing.assert_allclose(samples, expected, atol=1e-5)
    if rate == SAMPLE_RATE:
        np.testing.assert_allclose(samples, (left + right) / 2, atol=1e-6)


@pytest.mark.parametrize("subtype", ["PCM_16", "FLOAT"])
def test_opposite_phase_stereo_keeps_the_speech(subtype, fsdd_files, tmp_path):
    """A channel wired in opposite phase: the mean of the two is silence, and the recording
    was transcribed as nothing. Every reader (whole file, stream, array) keeps one channel."""
    from ctcasr.segment import stream_audio

    speech = load_audio(fsdd_files[0])
    path = tmp_path / "phase.wav"
    sf.write(str(path), np.stack([speech, -speech], axis=1), SAMPLE_RATE, subtype=subtype)
    np.testing.assert_allclose(load_audio(path), speech, atol=1e-4)
    streamed = np.concatenate(list(stream_audio(path, SAMPLE_RATE, block_seconds=0.1)))
    np.testing.assert_allclose(streamed, speech, atol=1e-4)
    np.testing.assert_allclose(as_mono(np.stack([-speech, 0.95 * speech])), -0.975 * speech,
                               atol=1e-6)  # fmt: skip
    # partly cancelling channels are turned over too; unrelated ones are averaged as they are
    partial = np.stack([speech, -0.7 * speech], axis=1)
    np.testing.assert_allclose(as_mono(partial), 0.85 * speech, atol=1e-6)
    other = load_audio(fsdd_files[1])[: len(speech)]
    pair = np.stack([speech[: len(other)], -other], axis=1)
    np.testing.assert_allclose(as_mono(pair), pair.mean(axis=1), atol=1e-7)


def test_opposite_phase_survives_noise_quiet_blocks_and_a_corrupt_sample(an4_dir, tmp_path):
    """A balanced microphone on a stereo input: the same speech in opposite phase, each
    channel with its own noise. A rule judging each block by itself let quiet blocks cancel
    (the stream lost words the whole-file reader kept), as did 15 dB of noise or one sample
    of 1e3."""
    from ctcasr.segment import stream_audio

    rng = np.random.default_rng(4)
    clips = [load_audio(p) for p in sorted(an4_dir.rglob("*.flac"))[:6]]
    pause = [np.zeros(int(SAMPLE_RATE * 3), np.float32)]
    speech = np.concatenate([x for c in clips for x in (c, *pause)])
    level = np.sqrt(np.mean(speech**2)) / 10 ** (15 / 20)  # 15 dB below the speech
    left = speech + rng.normal(0, level, len(speech)).astype(np.float32)
    right = -speech + rng.normal(0, level, len(speech)).astype(np.float32)
    left[len(left) // 2] = 1e3
    path = tmp_path / "balanced.wav"
    sf.write(str(path), np.stack([left, right], axis=1), SAMPLE_RATE, subtype="FLOAT")
    expected = (left - right) / 2
    np.testing.assert_allclose(load_audio(path), expected, atol=1e-5)
    streamed = np.concatenate(list(stream_audio(path, SAMPLE_RATE, block_seconds=2.0)))
    np.testing.assert_allclose(streamed, expected, atol=1e-5)


@pytest.mark.parametrize("hiss_level", [1e-4, 0.0])
def test_in_phase_channels_with_opposite_offsets_are_not_turned(hiss_level, an4_dir, tmp_path):
    """Channels with opposite DC offsets look anti-correlated in room tone: judged on raw
    products, a stream turned one over in its first (quiet) block and cancelled the speech
    that followed, and the file was transcribed as nothing. With offsets alone in the first
    block (no hiss), rounding in sum(x^2)/n - mean^2 did the same."""
    from ctcasr.segment import stream_audio

    rng = np.random.default_rng(5)
    speech = np.concatenate([load_audio(p) for p in sorted(an4_dir.rglob("*.flac"))[:3]])
    hiss = rng.normal(0, 1, SAMPLE_RATE * 10).astype(np.float32) * np.float32(hiss_level)
    mono = np.concatenate([hiss, speech])
    path = tmp_path / "offsets.wav"
    stereo = np.stack([mono + 0.002, mono - 0.002], axis=1)
    sf.write(str(path), stereo, SAMPLE_RATE, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path), mono, atol=1e-6)
    streamed = np.concatenate(list(stream_audio(path, SAMPLE_RATE, block_seconds=2.0)))
    np.testing.assert_allclose(streamed, mono, atol=1e-6)


def test_opposite_phase_after_minutes_of_room_tone_is_turned_at_once(an4_dir, tmp_path):
    """Statistics over the whole stream so far: after two minutes of room tone, a noisy
    balanced pair needed seconds of speech before it was turned, and the stream cancelled
    that speech while the whole-file reader kept it."""
    from ctcasr.segment import stream_audio

    rng = np.random.default_rng(8)
    speech = np.concatenate([load_audio(p) for p in sorted(an4_dir.rglob("*.flac"))[:3]])
    lead = SAMPLE_RATE * 120
    mono = np.concatenate([np.zeros(lead, np.float32), speech])
    level = float(np.sqrt(np.mean(speech**2))) / 10 ** (10 / 20)  # 10 dB below the speech
    left = mono + rng.normal(0, level, len(mono)).astype(np.float32)
    right = -mono + rng.normal(0, level, len(mono)).astype(np.float32)
    path = tmp_path / "late.wav"
    sf.write(str(path), np.stack([left, right], axis=1), SAMPLE_RATE, subtype="FLOAT")
    whole = load_audio(path)
    streamed = np.concatenate(list(stream_audio(path, SAMPLE_RATE, block_seconds=2.0)))
    np.testing.assert_allclose(whole[lead:], ((left - right) / 2)[lead:], atol=1e-6)
    np.testing.assert_allclose(streamed[lead:], whole[lead:], atol=1e-6)


def test_opposite_phase_pair_beside_a_silent_first_channel(fsdd_files):
    """Compared with channel 0 only, a silent or unrelated first channel hid a balanced
    pair on channels 1 and 2."""
    speech = load_audio(fsdd_files[0])
    hiss = np.random.default_rng(6).normal(0, 1e-3, len(speech)).astype(np.float32)
    for first in (np.zeros_like(speech), hiss):
        mixed = as_mono(np.stack([first, speech, -speech], axis=1))
        np.testing.assert_allclose(mixed, (first + 2 * speech) / 3, atol=1e-6)


def test_opposite_phase_pair_beside_a_louder_unrelated_talker(fsdd_files, tmp_path):
    """Judged against one reference channel (the loudest), a balanced pair carrying another
    talker correlated with it by chance only and was averaged as it was: that talker
    cancelled. Each pair is now judged between its own channels."""
    from ctcasr.segment import stream_audio

    talker = load_audio(fsdd_files[0])
    other = load_audio(fsdd_files[1])
    n = min(len(talker), len(other))
    a, b = talker[:n], other[:n]
    for layout in ([2 * a, b, -b], [b, 2 * a, -b], [b, -b, 2 * a, -a]):
        frames = np.stack(layout, axis=1)
        mixed = as_mono(frames)
        # up to the sign of the whole, every channel is added in phase with its partner
        signs = np.sign([np.dot(column, mixed) for column in frames.T])
        np.testing.assert_allclose(mixed, frames @ signs / len(layout), atol=1e-6)
        assert np.all(np.abs(frames @ signs) > 0)  # nothing cancelled to silence
        assert abs(np.corrcoef(mixed, b)[0, 1]) > 0.3  # near 0 when b cancelled
        path = tmp_path / f"talkers{len(layout)}.wav"
        sf.write(str(path), frames, SAMPLE_RATE, subtype="FLOAT")
        whole = load_audio(path)
        streamed = np.concatenate(list(stream_audio(path, SAMPLE_RATE, block_seconds=0.1)))
        np.testing.assert_allclose(np.abs(whole), np.abs(mixed), atol=1e-6)
        np.testing.assert_allclose(streamed, whole, atol=1e-6)


@pytest.mark.parametrize("aligned", [False, True])
def test_a_turned_channel_keeps_its_sign_when_its_pair_hears_a_third_sound(
    aligned, an4_dir, tmp_path
):
    """A balanced pair unrelated to the first channel: one of the two is turned. When a
    block then carried one sound on all three, the turned channel was judged to want its
    sign back, its partner was turned against that, and the pair cancelled for the rest of
    the stream while the whole file kept it. Found again by review with the third sound
    filling exactly one block: the partner was placed before the turned channel."""
    from ctcasr.segment import stream_audio

    block = 32_256  # stream_audio's block at 2 s: whole blocks when ``aligned``
    clips = [load_audio(p) for p in sorted(an4_dir.rglob("*.flac"))[:30]]
    a, b, c = (np.concatenate(clips[i::3]) for i in range(3))
    n = 4 * block if aligned else SAMPLE_RATE * 8
    assert min(len(a), len(b)) >= n and len(c) >= block

    def level(x, rms):
        return x * (rms / np.sqrt(np.mean(x**2)))

    a, b = level(a[:n], 0.15), level(b[:n], 0.1)
    c = level(c[: block if aligned else SAMPLE_RATE], 0.15)
    frames = np.concatenate([np.stack([a, -b, 1.01 * b], axis=1),
                             np.stack([c, c, -c], axis=1),
                             np.stack([a, -b, 1.01 * b], axis=1)]).astype(np.float32)  # fmt: skip
    path = tmp_path / "bleed.wav"
    sf.write(str(path), frames, SAMPLE_RATE, subtype="FLOAT")
    whole = load_audio(path)
    streamed = np.concatenate(list(stream_audio(path, SAMPLE_RATE, block_seconds=2.0)))
    kept = (a + 2.01 * b) / 3  # up to the sign of the whole: the pair adds, a stays
    for mixed in (whole, streamed):
        tail = mixed[-n:] * np.sign(np.dot(mixed[-n:], kept[:n]))
        np.testing.assert_allclose(tail, kept, atol=1e-5)
    np.testing.assert_allclose(streamed, whole, atol=1e-6)


def test_multichannel_file_is_read_without_whole_copies(tmp_path):
    """The finite-sample check took |samples| and isfinite(samples) of the whole recording:
    a 10-minute 8-channel 48 kHz file (920 MB as float32) peaked at twice its size."""
    import tracemalloc

    rng = np.random.default_rng(9)
    frames = (rng.normal(0, 0.1, (48_000 * 20, 8))).astype(np.float32)
    frames[:, 3] *= -1  # a turned channel too: mixing must not copy the whole either
    frames[:, 3] += frames[:, 2]
    path = tmp_path / "eight.wav"
    sf.write(str(path), frames, 48_000, subtype="PCM_16")
    size = frames.nbytes
    del frames
    tracemalloc.start()
    try:
        samples = load_audio(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert samples.shape == (16_000 * 20,)
    assert peak < 1.4 * size, (peak, size)  # twice the size before


def test_float_file_with_nan_is_sanitised(tmp_path):
    data = tone(SAMPLE_RATE, 0.1)
    data[10] = np.nan
    data[20] = np.inf
    path = tmp_path / "nan.wav"
    sf.write(str(path), data, SAMPLE_RATE, subtype="FLOAT")
    samples = load_audio(path)
    assert np.all(np.isfinite(samples))
    assert samples[10] == 0.0


def test_real_fsdd_files_load_at_16k(fsdd_files):
    for path in fsdd_files:
        info = sf.info(str(path))
        assert info.samplerate == 8_000
        samples = load_audio(path)
        assert_mono_16k(samples)
        assert_length_close(samples, info.frames * 2)
        # Real speech: not silent, within [-1, 1] (plus resampler ringing).
        assert np.max(np.abs(samples)) > 0.01
        assert np.max(np.abs(samples)) < 1.5


def test_real_fsdd_max_duration(fsdd_files):
    path = fsdd_files[0]
    duration = sf.info(str(path)).duration
    assert len(load_audio(path, max_duration=duration + 0.1)) > 0
    with pytest.raises(AudioError, match="limit"):
        load_audio(path, max_duration=duration / 2)


# ---------------------------------------------------------------------------------------------
# Bad input: always an AudioError with a one-line message naming the file
# ---------------------------------------------------------------------------------------------


def assert_audio_error(path: Path, **kwargs) -> str:
    with pytest.raises(AudioError) as info:
        load_audio(path, **kwargs)
    message = str(info.value)
    assert isinstance(info.value, CtcasrError)
    assert "\n" not in message, message
    assert str(path) in message, message
    return message


def test_missing_file(tmp_path):
    message = assert_audio_error(tmp_path / "missing.wav")
    assert "not found" in message


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    assert "empty" in assert_audio_error(path)


def test_text_file_named_wav(tmp_path):
    path = tmp_path / "notes.wav"
    path.write_text("this is not audio\nat all\n", encoding="utf-8")
    assert_audio_error(path)


def test_random_bytes(tmp_path):
    path = tmp_path / "noise.flac"
    path.write_bytes(np.random.default_rng(0).bytes(4096))
    assert_audio_error(path)


def test_directory(tmp_path):
    path = tmp_path / "folder.wav"
    path.mkdir()
    assert "directory" in assert_audio_error(path)


@pytest.mark.parametrize("keep", [20, 44])
def test_truncated_wav(tmp_path, keep):
    good = tmp_path / "good.wav"
    sf.write(str(good), tone(SAMPLE_RATE, 0.5), SAMPLE_RATE, subtype="PCM_16")
    path = tmp_path / f"truncated_{keep}.wav"
    path.write_bytes(good.read_bytes()[:keep])
    assert_audio_error(path)


def test_truncated_real_flac_header(tmp_path, fsdd_files):
    path = tmp_path / "cut.flac"
    path.write_bytes(fsdd_files[0].read_bytes()[:20])
    assert_audio_error(path)


def test_max_duration_exceeded(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(str(path), tone(SAMPLE_RATE, 2.0), SAMPLE_RATE, subtype="PCM_16")
    message = assert_audio_error(path, max_duration=1.5)
    assert "2.0 s" in message and "1.5" in message
    assert len(load_audio(path, max_duration=2.5)) == 2 * SAMPLE_RATE


def test_long_file_is_refused_before_its_samples_are_read(tmp_path, soundfile_calls):
    """The length check and the read share one open file: a file over the limit is refused
    from its header, with no sample read."""
    path = tmp_path / "long.wav"
    sf.write(str(path), tone(SAMPLE_RATE, 2.0), SAMPLE_RATE, subtype="PCM_16")
    opened, reads = soundfile_calls
    assert_audio_error(path, max_duration=1.5)
    assert reads == []
    assert len(load_audio(path)) == 2 * SAMPLE_RATE
    assert opened == [str(path)] * 2 and reads == [str(path)]  # one open per load


def test_stream_after_is_decided_from_the_header_of_the_one_open(tmp_path, soundfile_calls):
    """A file over ``stream_after`` raises LongAudio (not an error) before any read, so a
    caller that streams long files pays no extra open to find out which ones are long."""
    path = tmp_path / "two_seconds.wav"
    sf.write(str(path), tone(SAMPLE_RATE, 2.0), SAMPLE_RATE, subtype="PCM_16")
    opened, reads = soundfile_calls
    with pytest.raises(LongAudio) as raised:
        load_audio(path, stream_after=1.5)
    assert not isinstance(raised.value, AudioError)
    assert raised.value.seconds == pytest.approx(2.0)
    assert opened == [str(path)] and reads == []
    assert len(load_audio(path, stream_after=2.5)) == 2 * SAMPLE_RATE
    with pytest.raises(AudioError, match=r"longer than the 1\.5 s limit"):  # the limit comes first
        load_audio(path, max_duration=1.5, stream_after=1.0)


@pytest.mark.skipif(not hasattr(os, "geteuid"), reason="no POSIX permissions")
def test_unreadable_file(tmp_path):
    """A file the user may not read is one AudioError naming it. Root reads anything, and CI
    runs as root (the test was always skipped there): as root the read is tried with the
    effective user nobody, through a folder nobody may pass but not list."""
    import tempfile

    good = tmp_path / "good.wav"
    sf.write(str(good), tone(SAMPLE_RATE, 0.1), SAMPLE_RATE, subtype="PCM_16")
    assert len(load_audio(good)) == SAMPLE_RATE // 10  # also imports what a read needs
    root = os.geteuid() == 0
    with tempfile.TemporaryDirectory(dir="/tmp" if root else tmp_path) as folder:
        os.chmod(folder, 0o711)  # nobody may pass through, not list
        path = Path(folder) / "locked.wav"
        sf.write(str(path), tone(SAMPLE_RATE, 0.1), SAMPLE_RATE, subtype="PCM_16")
        path.chmod(0)
        try:
            if root:
                os.seteuid(65534)  # nobody
            with pytest.raises(PermissionError):  # the file really is unreadable here
                path.open("rb")
            # Said as it is: it was "not a recognised audio file", as if the audio were bad.
            assert "cannot read file: Permission denied" in assert_audio_error(path)
            from ctcasr.segment import stream_audio

            with pytest.raises(AudioError, match="cannot read file: Permission denied"):
                next(stream_audio(path, SAMPLE_RATE))
        finally:
            if root:
                os.seteuid(0)
            path.chmod(0o644)


# ---------------------------------------------------------------------------------------------
# resample and as_mono
# ---------------------------------------------------------------------------------------------


def test_resample_identity_is_float32_and_unchanged():
    data = np.linspace(-1, 1, 100)
    out = resample(data, 16_000, 16_000)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, data.astype(np.float32))


@pytest.mark.parametrize(("src", "dst"), [(8_000, 16_000), (44_100, 16_000), (16_000, 8_000)])
def test_resample_length_and_frequency(src, dst):
    data = tone(src, 1.0, freq=500)
    out = resample(data, src, dst)
    assert out.dtype == np.float32
    assert_length_close(out, dst)
    peak_hz = np.argmax(np.abs(np.fft.rfft(out))) * dst / len(out)
    assert abs(peak_hz - 500) < 3


def test_resample_rejects_bad_rate():
    with pytest.raises(AudioError):
        resample(np.zeros(10, np.float32), 0, 16_000)


def test_as_mono_layouts():
    left = np.arange(1000, dtype=np.float32)
    right = 3 * left[::-1]  # unlike left, so a transposed layout shows
    mean = (left + right) / 2
    np.testing.assert_allclose(as_mono(left), left)
    np.testing.assert_allclose(as_mono(np.stack([left, right], axis=1)), mean)  # [n, ch]
    np.testing.assert_allclose(as_mono(np.stack([left, right], axis=0)), mean)  # [ch, n]
    assert as_mono(left.astype(np.int16)).dtype == np.float32
    assert as_mono([0.5, -0.5]).dtype == np.float32


def test_as_mono_rejects_3d():
    with pytest.raises(AudioError, match="1-D or 2-D"):
        as_mono(np.zeros((2, 2, 2)))


def test_an_array_of_the_wrong_shape_fails_naming_the_input():
    """A 0-D or 3-D array's failure was the one line in a batch that named no input."""
    from ctcasr.transcribe import Failure, Transcriber

    got = Transcriber(decoder="greedy").transcribe_batch([np.array(0.2, np.float32),
                                                          np.zeros((1, 1, 400))])  # fmt: skip
    assert got == [Failure("<array>", "<array>: audio array must be 1-D or 2-D, got shape ()"),
                   Failure("<array>", "<array>: audio array must be 1-D or 2-D, got shape "
                           "(1, 1, 400)")]  # fmt: skip


# ---------------------------------------------------------------------------------------------
# MP3 files joined with cat: libsndfile stops at the first stream's Xing/Info frame count
# ---------------------------------------------------------------------------------------------

@pytest.fixture
def _mp3_codec() -> None:
    """Skip without MP3 in libsndfile, or under CI fail (a skipif mark skipped there too)."""
    if not _can_write("MP3", None):
        missing_tool("libsndfile without MP3")


mp3 = pytest.mark.usefixtures("_mp3_codec")


def _mp3(path: Path, samples: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    sf.write(str(path), samples, rate, format="MP3")
    return path.read_bytes()


def _id3v2(payload: int) -> bytes:
    """An ID3v2.4 tag of ``payload`` zero bytes (padding), as taggers put before the audio."""
    size = bytes((payload >> s) & 0x7F for s in (21, 14, 7, 0))
    return b"ID3\x04\x00\x00" + size + b"\0" * payload


@mp3
def test_joined_mp3_is_read_whole(tmp_path, fsdd_files):
    for i, path in enumerate(fsdd_files):
        _mp3(tmp_path / f"p{i}.mp3", load_audio(path))
    alone = [load_audio(tmp_path / f"p{i}.mp3") for i in range(3)]
    joined = tmp_path / "joined.mp3"
    # The second file carries an ID3v2 tag, as files from a tagger do.
    joined.write_bytes((tmp_path / "p0.mp3").read_bytes() + _id3v2(300)
                       + (tmp_path / "p1.mp3").read_bytes() + (tmp_path / "p2.mp3").read_bytes())
    with sf.SoundFile(str(joined)) as f:  # what libsndfile alone makes of it
        assert f.frames < len(alone[0]) + 2000
    got = load_audio(joined)
    np.testing.assert_array_equal(got, np.concatenate(alone))
    streamed = np.concatenate(list(stream_audio(joined, SAMPLE_RATE)))
    np.testing.assert_array_equal(streamed, got)


@mp3
def test_joined_mp3_counts_every_stream_for_the_limits(tmp_path):
    one = _mp3(tmp_path / "one.mp3", tone(SAMPLE_RATE, 2.0))
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(one * 3)
    assert len(load_audio(joined)) == 3 * len(load_audio(tmp_path / "one.mp3"))
    with pytest.raises(AudioError, match=r"6\.\d s is longer than the 5 s limit"):
        load_audio(joined, max_duration=5)
    with pytest.raises(LongAudio):
        load_audio(joined, stream_after=5)
    with pytest.raises(AudioError, match="longer than the 5 s limit"):
        next(stream_audio(joined, SAMPLE_RATE, max_duration=5))


@mp3
def test_single_mp3_with_tags_is_one_stream(tmp_path):
    """Tags after the audio (ID3v1, APE) are not a second stream; a tag in front is skipped."""
    plain = tmp_path / "plain.mp3"
    body = _mp3(plain, tone(SAMPLE_RATE, 1.5))
    expected = load_audio(plain)
    tagged = tmp_path / "tagged.mp3"
    tagged.write_bytes(_id3v2(100) + body + b"TAG" + b"\0" * 125 + b"APETAGEX" + b"\0" * 24)
    np.testing.assert_array_equal(load_audio(tagged), expected)
    from ctcasr.mp3 import joined_streams, suspect_joined

    data = suspect_joined(tagged)
    assert data is None or joined_streams(data) == []


def _frame_starts(data: bytes) -> list[int]:
    from ctcasr.mp3 import frame_length

    starts, i = [], 0
    while length := frame_length(data, i):
        starts.append(i)
        i += length
    return starts


@mp3
@pytest.mark.parametrize(("damage", "size"), [("version", 1), ("channels", 1), ("junk", 3000)])
def test_mp3_damaged_part_way_is_read_past_the_damage(damage, size, tmp_path):
    """One damaged byte in a frame header (MPEG-2 read as 2.5, mono as stereo), or a stretch
    of junk: mpg123 stopped there without a word (a 10 s file read as its first 0.3 s), or
    failed on the junk's chance headers ("Unspecified internal error")."""
    clean = _mp3(tmp_path / "clean.mp3", tone(SAMPLE_RATE, 10.0))
    expected = len(load_audio(tmp_path / "clean.mp3"))
    data = bytearray(clean)
    at = _frame_starts(clean)[12]
    if damage == "version":
        data[at + 1] &= ~0x10
    elif damage == "channels":
        data[at + 3] ^= 0x80
    else:
        data[at : at + size] = np.random.default_rng(5).bytes(size)
    path = tmp_path / "damaged.mp3"
    path.write_bytes(bytes(data))
    got = load_audio(path)
    # What the damaged bytes held, and a frame or two around them (the bit reservoir).
    assert len(got) > expected * (1 - size / len(clean) - 0.05), (len(got), expected)
    streamed = np.concatenate(list(stream_audio(path, SAMPLE_RATE, block_seconds=1.0)))
    np.testing.assert_array_equal(streamed, got)


@mp3
def test_mp3_ending_in_junk_is_read_as_it_is(tmp_path):
    """Junk or tags after the last frame are no damage to cut out: nothing follows them."""
    from ctcasr.mp3 import resynced

    clean = _mp3(tmp_path / "clean.mp3", tone(SAMPLE_RATE, 2.0))
    path = tmp_path / "junk.mp3"
    path.write_bytes(clean + np.random.default_rng(1).bytes(3000) + b"TAG" + b"\0" * 125)
    assert resynced(path) is None
    np.testing.assert_array_equal(load_audio(path), load_audio(tmp_path / "clean.mp3"))


@mp3
def test_mp3_ending_in_a_tag_is_not_read_whole_to_find_no_damage(tmp_path, monkeypatch):
    """Most MP3s end in an ID3v1 tag: finding nothing after it needs only the bytes after the
    last frame, not the file in memory."""
    import builtins

    from ctcasr import mp3

    clean = _mp3(tmp_path / "clean.mp3", tone(SAMPLE_RATE, 20.0))
    path = tmp_path / "tagged.mp3"
    path.write_bytes(clean + b"TAG" + b"\0" * 125)
    largest = [0]

    class Counted:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def __getattr__(self, name):
            return getattr(self.fh, name)

        def read(self, *args):
            got = self.fh.read(*args)
            largest[0] = max(largest[0], len(got))
            return got

    monkeypatch.setattr(mp3, "open", lambda *a, **k: Counted(builtins.open(*a, **k)),  # noqa: SIM115 (Counted closes it)
                        raising=False)  # fmt: skip
    assert mp3.resynced(path) is None
    assert 0 < largest[0] <= 1024, f"read {largest[0]} of {len(clean) + 128} bytes at once"


@mp3
def test_joined_mp3_of_two_rates_is_refused(tmp_path):
    a = _mp3(tmp_path / "a.mp3", tone(SAMPLE_RATE))
    b = _mp3(tmp_path / "b.mp3", tone(22_050), rate=22_050)
    joined = tmp_path / "joined.mp3"
    joined.write_bytes(a + b)
    with pytest.raises(AudioError, match=r"joined\.mp3: joined MP3 streams differ \(16000 Hz"):
        load_audio(joined)


def _ogg(path: Path, samples: np.ndarray, subtype: str, rate: int = SAMPLE_RATE) -> bytes:
    write_or_skip(path, samples, rate, "OGG", subtype)
    return path.read_bytes()


@pytest.mark.parametrize("subtype", ["VORBIS", "OPUS"])
def test_chained_ogg_is_read_whole(subtype, tmp_path, fsdd_files):
    """Ogg files joined end to end (``cat a.ogg b.ogg``, a chained stream, which ffmpeg plays
    whole): libsndfile read the first link and dropped the rest without a word."""
    parts = [_ogg(tmp_path / f"p{i}.ogg", load_audio(path), subtype)
             for i, path in enumerate(fsdd_files)]  # fmt: skip
    alone = [load_audio(tmp_path / f"p{i}.ogg") for i in range(3)]
    chained = tmp_path / "chained.ogg"
    chained.write_bytes(b"".join(parts))
    with sf.SoundFile(str(chained)) as f:  # what libsndfile alone makes of it
        assert f.frames == sf.info(str(tmp_path / "p0.ogg")).frames
    got = load_audio(chained)
    np.testing.assert_array_equal(got, np.concatenate(alone))
    streamed = np.concatenate(list(stream_audio(chained, SAMPLE_RATE, block_seconds=0.2)))
    np.testing.assert_array_equal(streamed, got)
    seconds = len(got) / SAMPLE_RATE  # every link counts for the limits
    with pytest.raises(AudioError, match=f"{seconds:.1f} s is longer than the"):
        load_audio(chained, max_duration=seconds - 0.2)
    with pytest.raises(LongAudio):
        load_audio(chained, stream_after=seconds - 0.2)
    other = _ogg(tmp_path / "other.ogg", tone(24_000), subtype, rate=24_000)
    chained.write_bytes(parts[0] + other)
    with pytest.raises(AudioError, match=r"chained\.ogg: joined Ogg streams differ \(16000 Hz"):
        load_audio(chained)


@mp3
@pytest.mark.parametrize("block_seconds", [0.01, 0.2, 10.0])
def test_mp3_streamed_in_any_block_size_equals_the_whole_read(block_seconds, tmp_path):
    """soundfile's read seeks to where it is after every block, and for MP3 that restarts the
    decoder without its bit reservoir: at 48 kHz, even whole-frame blocks glitched (0.03 at
    one frame a block). Speech is read forward only now, exactly as when read whole."""
    examples = Path(__file__).resolve().parent.parent / "examples"
    speech = np.concatenate([load_audio(examples / name, 48000)
                             for name in ("seven.wav", "three.wav", "zero.wav") * 4])  # fmt: skip
    path = tmp_path / "speech48k.mp3"
    sf.write(str(path), speech, 48000, format="MP3")
    whole = load_audio(path, 48000)
    streamed = np.concatenate(list(stream_audio(path, 48000, block_seconds=block_seconds)))
    assert len(streamed) == len(whole) > 10 * 48000
    np.testing.assert_allclose(streamed, whole, atol=1e-6)


@mp3
def test_mp3_stream_falls_back_to_soundfiles_read_without_its_private_names(tmp_path, monkeypatch):
    """The forward-only MP3 read uses soundfile's private libsndfile handle; a soundfile release
    that renames it must still stream the file (through the public, seeking read)."""
    import ctcasr.segment as segment

    examples = Path(__file__).resolve().parent.parent / "examples"
    speech = load_audio(examples / "seven.wav", 44100)
    path = tmp_path / "seven.mp3"
    sf.write(str(path), speech, 44100, format="MP3")
    whole = load_audio(path, 44100)
    calls = []
    public_read = sf.SoundFile.read

    def counted(self, *args, **kwargs):
        calls.append(args)
        return public_read(self, *args, **kwargs)

    monkeypatch.setattr(segment, "_libsndfile", lambda: None)
    monkeypatch.setattr(sf.SoundFile, "read", counted)
    streamed = np.concatenate(list(segment.stream_audio(path, 44100, block_seconds=10.0)))
    assert calls  # the public read served the blocks
    assert len(streamed) == len(whole)
    np.testing.assert_allclose(streamed, whole, atol=1e-6)


def test_as_mono_refuses_64_bit_integers():
    """Python ints (int64 to numpy) were scaled by 2**63: speech at int16 scale became
    digital silence and transcribed to "" with no error."""
    speech = (np.sin(np.arange(1600) / 5) * 10_000).astype(np.int16)
    for samples in (speech.tolist(), speech.astype(np.int64), speech.astype(np.uint64)):
        with pytest.raises(AudioError, match=r"^<array>: u?int64 samples have no audio scale"):
            as_mono(samples)
    assert np.abs(as_mono(speech)).max() > 0.3  # int16 itself is still read at its scale
