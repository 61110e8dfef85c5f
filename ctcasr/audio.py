"""Load any sound file as mono float32 samples at the model's rate, or say clearly why not."""

from __future__ import annotations

import numbers
import os
import stat
from pathlib import Path
from typing import Any, cast

import numpy as np

from ctcasr.errors import AudioError, ConfigError
from ctcasr.utils import (
    cannot_read,
    check_readable,
    counted,
    first_line,
    quiet_native_stderr,
    stat_or_fail,
)

SAMPLE_RATE = 16_000
# More than any real recording has (the WAV format allows 65535); a header saying more is
# corrupt, and downmixing it would be meaningless.
MAX_CHANNELS = 256
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif", ".au")
# Below any rate sound is recorded at (8 kHz telephone audio is the lowest in use): a header
# saying less is corrupt. Taken at its word, a 30 kB WAV saying 1 Hz was four hours of audio,
# read for minutes (20 GB of memory unsplit) and transcribed as a page of noise words.
MIN_RATE = 1000
# Above any rate sound is recorded at (bat detectors record at up to 500 kHz): a header saying
# more is corrupt. A 100 MB WAV saying 1 GHz was 50 ms of audio, so read whole, not in blocks
# (640 MB of memory), and transcribed as a letter of noise, exit 0.
MAX_RATE = 1_000_000
# Path("") is ".", the current folder: an empty name is refused wherever a name comes in.
EMPTY_NAME = "empty file name (an unset shell variable?)"
# libsndfile's frame count for a file whose header does not give one: a FLAC written to a pipe
# (``ffmpeg -f flac -``, ``sox -t flac -``, ``flac -``), which cannot go back to fill it in.
UNKNOWN_LENGTH = 2**63 - 1


def open_sound(path: str | os.PathLike[str]):
    """``soundfile.SoundFile(path)``, except for an RF64 file written to a pipe (``ffmpeg
    -rf64 always -f wav -``): it could not go back to fill its 64-bit sizes in, left them 0,
    and libsndfile read it as holding no samples. Its sizes are then read as what the file
    holds, through a view of the file with those header bytes filled in."""
    import soundfile as sf

    handle = sf.SoundFile(str(path))
    if handle.format != "RF64" or handle.frames != 0:
        return handle
    sizes = _rf64_sizes(Path(path))
    if sizes is None:
        return handle
    handle.close()
    return sf.SoundFile(_PatchedFile(Path(path), sizes))


def _rf64_sizes(path: Path) -> dict[int, bytes] | None:
    """The ds64 riff and data sizes an RF64 header left 0 (offset -> bytes), from the file's
    length; None when they are not 0 or no data chunk is found in the first 64 KiB."""
    import struct

    with open(path, "rb") as f:
        head = f.read(1 << 16)
        length = os.fstat(f.fileno()).st_size
    if head[:4] != b"RF64" or head[8:16] != b"WAVEds64" or len(head) < 36:
        return None
    if struct.unpack_from("<QQ", head, 20) != (0, 0):
        return None
    pos = 12
    while pos + 8 <= len(head):
        chunk, size = head[pos : pos + 4], struct.unpack_from("<I", head, pos + 4)[0]
        if chunk == b"data":
            return {20: struct.pack("<Q", length - 8), 28: struct.pack("<Q", length - pos - 8)}
        pos += 8 + size + (size & 1)
    return None


class _PatchedFile:
    """A file read through with a few bytes replaced (``offset -> bytes``); what libsndfile's
    virtual I/O needs of it: read, seek, tell."""

    def __init__(self, path: Path, patches: dict[int, bytes]) -> None:
        self._file = open(path, "rb")  # noqa: SIM115 (closed with this object)
        self._patches = patches

    def read(self, count: int = -1) -> bytes:
        start = self._file.tell()
        data = bytearray(self._file.read(count))
        for offset, new in self._patches.items():
            lo, hi = max(offset, start), min(offset + len(new), start + len(data))
            if lo < hi:
                data[lo - start : hi - start] = new[lo - offset : hi - offset]
        return bytes(data)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._file.seek(offset, whence)

    def tell(self) -> int:
        return self._file.tell()

    def __del__(self) -> None:
        if (f := getattr(self, "_file", None)) is not None:  # None: open() itself failed
            f.close()


class LongAudio(Exception):
    """Not an error: the input is longer than the caller wants whole (``stream_after``), so it
    should be read in blocks instead. Raised before any samples are read."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"{seconds:.1f} s")
        self.seconds = seconds


def check_rate(sample_rate: object, name: str = "sample_rate") -> None:
    """A rate a caller gave, refused in one line: 0 or a negative rate reached soxr as a
    plain ValueError, a rate given as text a TypeError traceback, and one in kHz was taken
    as Hz."""
    real = isinstance(sample_rate, numbers.Real) and not isinstance(sample_rate, bool)
    rate = cast(float, sample_rate)  # a Real compares as a float (numbers.Real's stubs do not)
    if not real or not 1 <= rate < float("inf") or rate != int(rate):
        raise ConfigError(f"{name} must be a whole number of samples per second, got "
                          f"{sample_rate!r}")  # fmt: skip
    if rate < MIN_RATE:  # 16 meant as kHz was 21 s of work and a garbage transcript
        raise ConfigError(f"{name} {sample_rate!r} is under the {MIN_RATE} Hz of any audio; "
                          f"rates are in Hz (16 kHz is 16000)")  # fmt: skip


def load_audio(
    path: str | os.PathLike[str],
    sample_rate: int = SAMPLE_RATE,
    max_duration: float | None = None,
    stream_after: float | None = None,
) -> np.ndarray:
    """Read ``path``, downmix to mono and resample to ``sample_rate``.

    Raises :class:`AudioError` with a one-line message naming the file for anything that is not
    usable audio: missing, empty, truncated beyond repair, not audio at all, or longer than
    ``max_duration`` seconds (checked from the header, before any samples are read). A file
    libsndfile reads that is longer than ``stream_after`` seconds raises :class:`LongAudio`
    from the same header check, so deciding to stream costs no second open.
    """
    check_rate(sample_rate)
    if not os.fspath(path):  # else "is a directory"
        raise AudioError(EMPTY_NAME)
    path = Path(path)
    info = stat_or_fail(path, "file", AudioError)  # one input's error, not the batch's end
    if stat.S_ISDIR(info.st_mode):
        raise AudioError(f"{path}: is a directory, not an audio file")
    if not stat.S_ISREG(info.st_mode):  # its size is 0, and "empty file" was said of it
        if stat.S_ISFIFO(info.st_mode) or stat.S_ISSOCK(info.st_mode):
            raise AudioError(f"{path}: a pipe, which load_audio cannot seek in; write the "
                             "audio to a file first, or give it to a Transcriber, which does")
        raise AudioError(f"{path}: not a regular file (a device); give the audio as a file "
                         "or a pipe")  # fmt: skip
    if info.st_size == 0:
        raise AudioError(f"{path}: empty file (0 bytes)")

    try:  # one open: the header gives the length check, then the same handle reads
        with quiet_native_stderr():
            handle = open_sound(path)
    except Exception:  # libsndfile says only "format not recognised"; try the fallback reader
        check_readable(path, "file", AudioError)  # not "not audio" for one the user may not read
        return _load_with_audioread(path, sample_rate, max_duration, stream_after)
    if (bad := bad_header(path, handle.samplerate, handle.channels)) is not None:
        handle.close()  # before the length is checked or any sample read
        raise AudioError(bad)
    if handle.format in JOINED_FORMATS:
        try:
            joined = open_joined(path, handle.format)
        except AudioError:
            handle.close()
            raise
        if joined:
            handle.close()
            return _load_joined(path, joined, sample_rate, max_duration, stream_after)
    if handle.frames >= UNKNOWN_LENGTH:
        with handle:
            samples = _read_unknown_length(path, handle, max_duration, stream_after)
        return _finish(path, samples, handle.samplerate, sample_rate)
    with handle:
        rate = handle.samplerate
        if rate > 0:
            check_duration(path, handle.frames / rate, max_duration)
            if stream_after is not None and handle.frames / rate > stream_after:
                raise LongAudio(handle.frames / rate)
        try:
            with quiet_native_stderr():
                # The header's frame count, not "all": libsndfile calls GSM 6.10 WAV
                # unseekable, and soundfile refuses "all frames" of an unseekable file.
                frames = handle.frames if handle.frames > 0 and not handle.seekable() else -1
                samples = handle.read(frames, dtype="float32", always_2d=True)
        except Exception as exc:
            raise AudioError(f"{path}: corrupt or truncated audio ({first_line(exc)})") from None
    return _finish(path, samples, rate, sample_rate)


def _read_unknown_length(path: Path, handle, max_duration: float | None,
                         stream_after: float | None) -> np.ndarray:  # fmt: skip
    """All of a file whose header gives no length, read forward a block at a time: asked for
    "all frames", soundfile sized an array by the unknown count (2**63 - 1: "array is too
    big"), and its seek after each read failed at the end ("Internal psf_fseek() failed").
    The limits are checked as the samples come; :class:`LongAudio` after ``stream_after``
    seconds have been read (the stream then reads the file again from its start)."""
    from ctcasr.segment import read_block

    rate = handle.samplerate
    blocks, count = [], 0
    while True:
        try:
            with quiet_native_stderr():
                block = read_block(handle, 1 << 16)
        except Exception as exc:
            raise AudioError(f"{path}: corrupt or truncated audio ({first_line(exc)})") from None
        if not len(block):
            break
        blocks.append(block)
        count += len(block)
        if rate > 0:
            check_read(path, count / rate, max_duration)
            if stream_after is not None and count / rate > stream_after:
                raise LongAudio(count / rate)
    return np.concatenate(blocks) if blocks else np.zeros((0, handle.channels), np.float32)


def bad_header(path: str | os.PathLike[str], rate: int, channels: int) -> str | None:
    """The error for a header whose sample rate is outside :data:`MIN_RATE` to
    :data:`MAX_RATE`, or that gives more than :data:`MAX_CHANNELS` channels (libsndfile takes
    up to 1024), else None. A mono WAV whose header said 1000 channels was a thousandth of its
    length, so read whole, not in blocks, and downmixed in float64: 1.9 GB of memory for a
    400 MB file, and a transcript of noise with exit 0."""
    if not MIN_RATE <= rate <= MAX_RATE:
        side, bound = ("under", MIN_RATE) if rate < MIN_RATE else ("over", MAX_RATE)
        return f"{path}: corrupt header (sample rate {rate} Hz, {side} the {bound} Hz of any audio)"
    if not 1 <= channels <= MAX_CHANNELS:
        return f"{path}: corrupt header ({channels} channels at {rate} Hz)"
    return None


def check_read(path: str | os.PathLike[str], seconds: float, limit: float | None) -> None:
    """:func:`check_duration` for a file whose length is known only as it is read."""
    if limit is not None and seconds > limit:
        raise AudioError(f"{path}: longer than the {limit:g} s limit")


# Formats whose files may be joined from several streams that libsndfile reads only the first
# of (libsndfile's format names): see :func:`open_joined`.
JOINED_FORMATS = ("MP3", "OGG")


def open_joined(path: str | os.PathLike[str], fmt: str = "MP3") -> list:
    """A handle for each stream of an MP3 file joined from several (``cat a.mp3 b.mp3``), or
    of an Ogg file chained from several (``cat a.ogg b.ogg``; ``fmt`` "OGG"), which libsndfile
    reads only up to the first one's end; for an MP3 whose frames damaged bytes break, which
    it read only up to the break, one handle reading it with those bytes cut out (see
    :func:`ctcasr.mp3.resynced`); an empty list for one whole stream."""
    import soundfile as sf

    from ctcasr.mp3 import joined_streams, open_streams, resynced, suspect_joined
    from ctcasr.ogg import chained_links

    name = "Ogg" if fmt == "OGG" else "MP3"
    try:
        if fmt == "OGG":
            streams = chained_links(path)
            data = Path(path).read_bytes() if streams else None
        else:
            data = suspect_joined(path)
            streams = joined_streams(data) if data is not None else []
            if not streams and (data := resynced(path)) is not None:
                streams = [(0, len(data))]  # one stream, its damaged stretches cut out
    except OSError as exc:
        raise AudioError(cannot_read(path, "file", exc)) from None
    handles = []
    try:
        for i, part in enumerate(open_streams(data, streams) if data is not None else []):
            with quiet_native_stderr():
                handles.append(sf.SoundFile(part))
            first, this = handles[0], handles[-1]
            if (this.samplerate, this.channels) != (first.samplerate, first.channels):
                raise AudioError(
                    f"{path}: joined {name} streams differ ({first.samplerate} Hz, "
                    f"{first.channels} channels; stream {i + 1}: {this.samplerate} Hz, "
                    f"{this.channels} channels)"
                )
    except Exception as exc:
        for h in handles:
            h.close()
        if isinstance(exc, AudioError):
            raise
        raise AudioError(f"{path}: corrupt joined {name} ({first_line(exc)})") from None
    return handles


def _load_joined(path: Path, handles: list, sample_rate: int, max_duration: float | None,
                 stream_after: float | None) -> np.ndarray:  # fmt: skip
    """:func:`load_audio` for an MP3 or Ogg joined from several streams, read one after
    another."""
    try:
        rate = handles[0].samplerate
        seconds = sum(h.frames for h in handles) / rate
        check_duration(path, seconds, max_duration)
        if stream_after is not None and seconds > stream_after:
            raise LongAudio(seconds)
        parts = []
        for h in handles:
            try:
                with quiet_native_stderr():
                    parts.append(h.read(dtype="float32", always_2d=True))
            except Exception as exc:
                raise AudioError(f"{path}: corrupt or truncated audio ({first_line(exc)})"
                                 ) from None  # fmt: skip
    finally:
        for h in handles:
            h.close()
    return _finish(path, np.concatenate(parts), rate, sample_rate)


def check_duration(path: str | os.PathLike[str], seconds: float, limit: float | None) -> None:
    """Refuse a file longer than ``limit`` seconds, from its header, before reading samples."""
    if limit is not None and seconds > limit:
        raise AudioError(f"{path}: {seconds:.1f} s is longer than the {limit:g} s limit")


def _load_with_audioread(path: Path, sample_rate: int, max_duration: float | None,
                         stream_after: float | None = None) -> np.ndarray:  # fmt: skip
    """Formats libsndfile cannot read (m4a, some mp3) go through audioread, if it has a
    backend; one longer than ``stream_after`` raises :class:`LongAudio` before it is decoded
    (it was read whole however long, and never cut)."""
    with open_audioread(path) as reader:
        if reader.frames < UNKNOWN_LENGTH:  # else the decoder gave no duration
            seconds = reader.frames / reader.samplerate
            check_duration(path, seconds, max_duration)
            if stream_after is not None and seconds > stream_after:
                raise LongAudio(seconds)
        samples = reader.read(-1)
    return _finish(path, samples, reader.samplerate, sample_rate)


def open_audioread(path: str | os.PathLike[str]) -> AudioreadFile:
    """A file libsndfile cannot read, opened with audioread, or :class:`AudioError`."""
    try:
        import audioread
    except ImportError:  # pragma: no cover - audioread comes with librosa
        raise AudioError(f"{path}: not a recognised audio file") from None
    try:
        reader = audioread.audio_open(str(path))
    except Exception:
        raise AudioError(f"{path}: not a recognised audio file") from None
    if (bad := bad_header(path, reader.samplerate, reader.channels)) is not None:
        reader.close()
        raise AudioError(bad)
    return AudioreadFile(path, reader)


class AudioreadFile:
    """An audioread decoder with the part of ``soundfile.SoundFile`` that reading in blocks
    uses (``samplerate``, ``channels``, ``frames``, ``format``, forward ``read``), so a long
    m4a is streamed and cut as a long WAV is. ``frames`` is the decoder's duration, which
    the limits are checked against."""

    format = "AUDIOREAD"

    def __init__(self, path: str | os.PathLike[str], reader: Any) -> None:
        self.path, self._reader = path, reader
        self.samplerate, self.channels = int(reader.samplerate), int(reader.channels)
        duration = float(reader.duration or 0.0)
        self.frames = round(duration * self.samplerate) if duration > 0 else UNKNOWN_LENGTH
        self._chunks = iter(reader)
        self._pending = bytearray()  # decoded bytes not yet read (a chunk may end mid-frame)

    def read(self, frames: int = -1, dtype: str = "float32", always_2d: bool = True
             ) -> np.ndarray:  # fmt: skip
        """The next ``frames`` (all that is left for -1) as float32 ``[n, channels]``."""
        width = 2 * self.channels  # audioread decodes to 16-bit little-endian
        want = None if frames < 0 else frames * width
        try:
            while want is None or len(self._pending) < want:
                chunk = next(self._chunks, None)
                if chunk is None:
                    break
                self._pending += chunk
        except Exception as exc:
            raise AudioError(f"{self.path}: corrupt or truncated audio ({first_line(exc)})"
                             ) from None  # fmt: skip
        take = len(self._pending) if want is None else min(want, len(self._pending))
        take -= take % width
        samples = np.frombuffer(self._pending, dtype="<i2", count=take // 2) / np.float32(32768)
        del self._pending[:take]  # the view above is gone: the division made a new array
        return samples.astype(np.float32, copy=False).reshape(-1, self.channels)

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> AudioreadFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _finish(path: Path, samples: np.ndarray, rate: int, sample_rate: int) -> np.ndarray:
    if samples.size == 0:
        raise AudioError(f"{path}: contains no audio samples")
    mono = downmix(finite(samples)) if samples.ndim == 2 else finite(samples)
    out = resample(np.ascontiguousarray(mono, dtype=np.float32), rate, sample_rate)
    if out.size == 0:  # a sample or two at a high rate: nothing left at the model's rate
        raise AudioError(
            f"{path}: too short ({counted(len(mono), 'sample')} at {rate} Hz is under one "
            f"sample at {sample_rate} Hz)"
        )
    return out


class Downmix:
    """``[n, channels]`` blocks to ``[n]``: the channels' mean, with any channel in opposite
    phase to the channel it shares a sound with turned over before it is added (a balanced
    microphone on one input, a channel wired the other way round). Averaged as they are, such
    channels cancel, and the recording was transcribed as nothing.

    Channels are taken in turn from the first loud one, each next the channel most strongly
    correlated with one already placed, and given its sign; a channel unrelated to all of them
    starts a group of its own, so a balanced pair beside a louder, unrelated talker is kept.

    Polarity is judged by correlation with the offsets removed (channels with opposite DC
    offsets look anti-correlated in room tone) on samples clipped to full scale (a corrupt
    sample cannot decide), over everything seen so far and over the block at hand (minutes
    of room tone before the speech diluted the first). One instance reads one stream: once a
    channel is turned it stays turned, against a reference that then stays fixed, so a
    stream read in blocks never flips mid-word.
    """

    def __init__(self) -> None:
        self._count = 0
        self._shift: np.ndarray | None = None  # each channel's first sample: exact sums
        self._sums: np.ndarray | None = None  # per channel: sum of x
        self._products: np.ndarray | None = None  # channels x channels: sum of x_i * x_j
        self._signs: np.ndarray | None = None
        self._reference: int | None = None  # fixed at the first turn

    def __call__(self, samples: np.ndarray) -> np.ndarray:
        self.observe(samples)
        return self.apply(samples)

    def apply(self, samples: np.ndarray) -> np.ndarray:
        """The block as mono with the signs decided so far."""
        if samples.ndim == 1:
            return samples
        if self._signs is None or self._signs.shape[0] != samples.shape[1] or np.all(
            self._signs > 0
        ):
            return samples.mean(axis=1)
        return (samples @ self._signs.astype(samples.dtype)) / samples.shape[1]

    def observe(self, samples: np.ndarray) -> None:
        """Add a block to the statistics and turn the channels it shows in opposite phase."""
        if samples.ndim == 1 or samples.shape[1] < 2 or not samples.size:
            return
        channels = samples.shape[1]
        x = samples.astype(np.float64)  # one copy of the block, clipped and shifted in place
        np.clip(x, -1.0, 1.0, out=x)
        if self._shift is None or self._shift.shape[0] != channels:
            self._count, self._shift = 0, x[0].copy()
            self._sums, self._products = np.zeros(channels), np.zeros((channels, channels))
            self._signs, self._reference = np.ones(channels), None
        assert self._sums is not None and self._products is not None and self._signs is not None
        assert self._shift is not None
        # Offsets shifted out first: a constant channel then sums to exactly 0, where
        # sum(x^2)/n - mean^2 left a rounding residue that read as correlation -1.
        x -= self._shift
        block_sums, block_products = x.sum(axis=0), x.T @ x
        self._count += len(x)
        self._sums += block_sums
        self._products += block_products
        running = _covariance(self._sums, self._products, self._count)
        var = np.diag(running)
        # The first channel with half the loudest one's variance: equal channels differ by
        # rounding, and which of them leads decides only the sign of the whole.
        ref = self._reference
        if ref is None:
            ref = int(np.argmax(var >= 0.5 * var.max()))
        turn = _grouped_signs(running, ref, self._signs) < 0
        if len(x) >= MIN_BLOCK:  # a block long enough to judge by itself
            block = _covariance(block_sums, block_products, len(x))
            turn |= _grouped_signs(block, ref, np.where(turn, -1.0, self._signs)) < 0
        turn &= self._signs > 0
        if turn.any():
            self._reference = ref
            self._signs[turn] = -1.0


def _covariance(sums: np.ndarray, products: np.ndarray, count: int) -> np.ndarray:
    """Offset-free covariance; a variance under 1e-12 of the channel's power is rounding."""
    mean = sums / count
    cov = products / count - np.outer(mean, mean)
    power = np.diag(products) / count
    flat = np.diag(cov) <= 1e-12 * np.maximum(power, np.finfo(float).tiny)
    cov[flat, :] = 0.0
    cov[:, flat] = 0.0
    return cov


def _grouped_signs(cov: np.ndarray, ref: int, signs: np.ndarray) -> np.ndarray:
    """Each channel's sign: that of the placed channel it correlates with most strongly, times
    the sign of that correlation. Placing the most strongly related channel first lets a pair
    that shares a sound decide between themselves, whatever a louder channel holds. A
    channel related to none placed so far (|correlation| under -OPPOSITE) starts a new group
    with the sign it already has, and a channel already turned keeps its sign, so its
    partners are judged against it (judged against the sign it "should" have, a pair that
    later heard a third sound was turned both ways and cancelled)."""
    var = np.maximum(np.diag(cov), 0.0)
    scale = np.sqrt(np.outer(var, var))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(scale > 0, cov / np.where(scale > 0, scale, 1.0), 0.0)
    want = signs.astype(np.float64).copy()
    turned = want < 0  # once turned, always: a partner is judged against the sign it has
    placed = np.zeros(len(want), bool)
    # The strongest correlation with a placed channel that says "in phase", and the
    # strongest that says "opposite", each in the placed channel's sign.
    agree, oppose = np.zeros(len(want)), np.zeros(len(want))
    channel = ref
    while True:
        placed[channel] = True
        candidate = corr[channel] * want[channel]
        np.maximum(agree, np.where(placed, 0.0, candidate), out=agree)
        np.maximum(oppose, np.where(placed, 0.0, -candidate), out=oppose)
        left = np.flatnonzero(~placed)
        if not left.size:
            return want
        strength = np.maximum(agree, oppose)
        # Channels already turned are placed first among the related ones: their sign is
        # fixed, and a channel placed before them was judged without it.
        priority = strength + 2.0 * (turned & (strength >= -OPPOSITE))
        best = left[np.argmax(priority[left])]
        if strength[best] >= -OPPOSITE:
            # Turning cannot be undone, so only on clear evidence: placed channels that
            # disagree (one already turned, hearing a sound with the others) leave it be.
            clear = oppose[best] > agree[best] - OPPOSITE
            channel, want[best] = best, -1.0 if turned[best] or clear else 1.0
        else:  # unrelated to every placed channel: the loudest left starts a group
            channel = left[np.argmax(var[left])]


# Samples a block needs to be judged by itself: chance correlations of unrelated noise over
# 1000 samples are about +-0.03, far from OPPOSITE.
MIN_BLOCK = 1000

# A correlation below this: the same sound in opposite phase (-1 when clean; -0.5 with as
# much independent noise as signal), not two sounds (near 0); above its negative, in phase.
OPPOSITE = -0.3


def downmix(samples: np.ndarray) -> np.ndarray:
    """A whole recording's ``[n, channels]`` as mono (see :class:`Downmix`), judged in
    pieces as a stream is (minutes of room tone diluted one judgement of the whole file)
    but with every piece's signs known before any is mixed."""
    mixer = Downmix()
    for start in range(0, len(samples), PIECE):
        mixer.observe(samples[start : start + PIECE])
    return mixer.apply(samples)


PIECE = 1 << 17  # samples per judged piece: about 3-8 s at common rates


# Far beyond any real recording, even float files written at integer scale (+-32768).
MAX_SAMPLE = 1e6


def finite(samples: np.ndarray) -> np.ndarray:
    """Float files can carry NaN/Inf from broken producers; silence them rather than poison
    every feature frame downstream (an infinity is no more a sample value than NaN is)."""
    if samples.size == 0:
        return samples
    # max and min carry any NaN or infinity, and copy nothing: |samples| and isfinite(samples)
    # each held another whole recording in memory.
    top, bottom = float(samples.max()), float(samples.min())
    if np.isfinite(top) and np.isfinite(bottom) and max(top, -bottom) <= MAX_SAMPLE:
        return samples
    # Absurd finite values (3e38) are clipped: float32 overflows on them in resampling and in
    # the power spectrum, which would turn the whole utterance into NaN features.
    cleaned = np.nan_to_num(samples, nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(cleaned, -MAX_SAMPLE, MAX_SAMPLE).astype(samples.dtype, copy=False)


def resample(samples: np.ndarray, orig_rate: int, target_rate: int = SAMPLE_RATE) -> np.ndarray:
    if orig_rate == target_rate:
        return samples.astype(np.float32, copy=False)
    if orig_rate <= 0:
        raise AudioError(f"invalid sample rate {orig_rate}")
    import soxr

    return soxr.resample(samples, orig_rate, target_rate, quality="HQ").astype(np.float32)


def as_mono(samples: object) -> np.ndarray:
    """Accept [n], [n, channels] or [channels, n] arrays from Python callers; NaN/Inf samples
    are silenced as in :func:`load_audio`. Integer samples (``scipy.io.wavfile``'s int16 or
    int32, unsigned 8-bit) are scaled to [-1, 1) as a file of that depth is: left at integer
    scale they were clipped, or shifted the features, and changed transcripts. 64-bit
    integers, which no file holds, are refused."""
    try:
        raw = np.asarray(samples)
    except ValueError:  # ragged lists: one input fails, not the batch
        raise AudioError("<array>: not an array of samples (rows of unequal length?)") from None
    except Exception as exc:  # an array-like's own refusal, whatever its type
        # A tensor that will not give numpy its samples (torch's on a GPU, or one that
        # requires grad) raised RuntimeError out of transcribe_batch, and the batch's good
        # results were lost; its TypeError was called a ragged list. Its own words say why.
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise AudioError(f"<array>: {type(samples).__name__} cannot be read as samples: "
                         f"{why}") from None  # fmt: skip
    if raw.dtype.kind not in "iuf":  # bytes, text, objects: nothing to read as samples
        raise AudioError(f"<array>: samples must be numbers, got {type(samples).__name__} "
                         f"of {raw.dtype}")  # fmt: skip
    if raw.dtype.kind in "iu" and raw.dtype.itemsize > 4:
        # No audio file has 64-bit integer samples, and scaled by 2**63 speech was digital
        # silence: a list of int16 values (numpy reads Python ints as int64) gave "" quietly.
        raise AudioError(f"<array>: {raw.dtype} samples have no audio scale (a list of Python "
                         "ints is read as int64); give int16 or int32 samples, or floats in "
                         "[-1, 1]")  # fmt: skip
    if raw.dtype.kind in "iu":
        info = np.iinfo(raw.dtype)
        half = (int(info.max) + 1) if raw.dtype.kind == "i" else (int(info.max) + 1) / 2
        offset = 0.0 if raw.dtype.kind == "i" else half
        samples = ((raw.astype(np.float64) - offset) / half).astype(np.float32)
    else:
        samples = np.asarray(raw, dtype=np.float32)
    if samples.ndim == 1:
        return finite(samples)
    if samples.ndim == 2:
        if not samples.size:  # no samples in any channel (a mean over it would invent some)
            return np.zeros(0, np.float32)
        channel_axis = 0 if samples.shape[0] < samples.shape[1] else 1
        frames = samples if channel_axis == 1 else samples.T
        return downmix(finite(frames)).astype(np.float32, copy=False)
    # Named as every other refusal here names it: in a batch's failures this line alone did
    # not say which input it was about.
    raise AudioError(f"<array>: audio array must be 1-D or 2-D, got shape {samples.shape}")
