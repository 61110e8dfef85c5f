"""Long recordings: read in blocks, cut at silences, never held whole in memory.

The model was trained on utterances of seconds, and a bidirectional GRU over an hour of frames
would need the hour in memory at once. So a long file is streamed (libsndfile blocks, resampled
with a streaming resampler so block edges leave no clicks) and cut where the energy drops
(the ``librosa.effects.split`` rule, in numpy), at most ``max_segment`` seconds apart.
Memory is bounded by one segment plus one block, whatever the file's length.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal, NamedTuple

import numpy as np

from ctcasr.audio import (
    JOINED_FORMATS,
    UNKNOWN_LENGTH,
    Downmix,
    bad_header,
    check_duration,
    check_read,
    finite,
    open_audioread,
    open_joined,
    open_sound,
)
from ctcasr.errors import AudioError, ConfigError
from ctcasr.features import QUIET_PEAK_DB, centred_frames, quiet_gain
from ctcasr.utils import check_readable, first_line, quiet_native_stderr

MAX_SECONDS = 86_400.0  # a day: any setting of a piece's length beyond is a typo

# A burst is not the level ``top_db`` is measured down from (see ``voiced_intervals``). A burst
# raises every frame it overlaps: at the callers' 10 ms hop and 40 ms frames, one of L ms raises
# (L + 40) / 10 frames in a row, so the quietest of 10 frames in a row (100 ms) lies outside any
# burst up to about 50 ms (clicks, pops, a knock on the microphone), while a syllable's vowel
# holds its level that long (a span much longer would reach into the next syllable's dip, and
# count real peaks of speech as bursts). 20 dB: in 6810 clips of AN4, FSDD and speech commands
# the loudest frame stood 3 dB above the level held around it (median; 15 dB at the 99th
# percentile); the 15 clips (0.2%) where it stood more than 20 dB above hold a spike of 20-40 ms
# (a pop, or a plosive blown into the microphone), and their reference moves by 0.04-5.5 dB.
# Normal speech is split as before, by librosa's rule.
HELD_FRAMES = 10
BURST_DB = 20.0

# What lies past an end of the audio a burst test sees: a cut in a longer recording, where the
# sound goes on as it ends ("edge"), or the recording's own end, where nothing does ("reflect").
End = Literal["edge", "reflect"]
Ends = End | tuple[End, End]


class Segment(NamedTuple):
    """A piece of a long input: where it starts, its samples, and what its ends are (the
    input's own first and last pieces have one end that is no cut)."""

    start: float  # seconds into the input
    samples: np.ndarray
    ends: tuple[End, End]


@dataclass(frozen=True)
class SplitConfig:
    long_after: float = 30.0  # seconds: longer files are split
    max_segment: float = 20.0  # seconds: no segment is longer
    min_segment: float = 1.0  # seconds: no cut earlier than this into a segment
    min_pause: float = 0.5  # seconds of silence that end a segment
    edge: float = 0.1  # seconds of silence kept around a segment's speech
    top_db: float = 35.0  # below the segment's peak by this much counts as silence
    block_seconds: float = 10.0  # read size

    def __post_init__(self) -> None:
        # ConfigError, a CtcasrError as every user-caused error is (a plain ValueError got
        # past callers catching CtcasrError). NaN fails every comparison, so each check is
        # written to fail on it (a NaN --split-longer-than passed "<= 0" and switched
        # splitting off).
        if any(value != value for value in dataclasses.astuple(self)):
            raise ConfigError("settings must be numbers, not NaN")
        # long_after may be infinite (never split); a piece of infinite length may not
        # (int(inf * rate) raised OverflowError on every long file).
        infinite = [f.name for f in dataclasses.fields(self)
                    if f.name != "long_after" and math.isinf(getattr(self, f.name))]  # fmt: skip
        if infinite:
            raise ConfigError(f"{', '.join(infinite)} must be finite")
        # Seconds become sample counts: 1e308 s overflowed as infinity did.
        huge = [f.name for f in dataclasses.fields(self) if f.name not in ("long_after", "top_db")
                and getattr(self, f.name) > MAX_SECONDS]  # fmt: skip
        if huge:
            raise ConfigError(f"{', '.join(huge)} must be at most {MAX_SECONDS:g} s")
        if not 0 < self.min_segment < self.max_segment:
            raise ConfigError("need 0 < min_segment < max_segment")
        if not (self.long_after > 0 and self.block_seconds > 0):
            raise ConfigError("long_after and block_seconds must be positive")


def stream_audio(
    path: str | os.PathLike[str],
    sample_rate: int,
    block_seconds: float = 10.0,
    max_duration: float | None = None,
) -> Iterator[np.ndarray]:
    """Mono float32 blocks at ``sample_rate``; NaN/Inf samples are silenced as in ``load_audio``,
    and a file longer than ``max_duration`` is refused from the header of the handle that reads
    it, before any block."""

    try:
        with quiet_native_stderr():
            f = open_sound(path)
    except Exception as exc:
        check_readable(path, "file", AudioError)
        try:  # m4a and the rest libsndfile cannot read, decoded as load_audio decodes them
            f = open_audioread(path)
        except AudioError:
            raise AudioError(f"{path}: not a readable audio file ({first_line(exc)})") from None
    handles = [f]
    if f.format in JOINED_FORMATS:
        try:
            handles = open_joined(path, f.format) or handles
        except BaseException:
            f.close()
            raise
        if handles[0] is not f:
            f.close()
    try:
        yield from _stream_handles(path, handles, sample_rate, block_seconds, max_duration)
    finally:
        for h in handles:
            h.close()


def _stream_handles(
    path: str | os.PathLike[str],
    handles: list,
    sample_rate: int,
    block_seconds: float,
    max_duration: float | None,
) -> Iterator[np.ndarray]:
    """:func:`stream_audio`'s blocks from one open file, or from each stream of a joined MP3
    in turn (one resampler and one downmix across them: no seam at the joins)."""
    import soxr

    rate = handles[0].samplerate
    if (bad := bad_header(path, rate, handles[0].channels)) is not None:
        raise AudioError(bad)
    known = all(h.frames < UNKNOWN_LENGTH for h in handles)  # else checked as it is read
    if rate > 0 and known:
        check_duration(path, sum(h.frames for h in handles) / rate, max_duration)
    stream = None if rate == sample_rate else soxr.ResampleStream(
        rate, sample_rate, 1, dtype="float32", quality="HQ"
    )  # fmt: skip
    # Whole MP3 frames (1152 samples; 576 at MPEG-2's low rates divide it), so that a block
    # edge is a frame edge even where the read below falls back to soundfile's own.
    blocksize = max(1, round(block_seconds * rate / 1152)) * 1152
    read, downmix = 0, Downmix()
    for f in handles:
        # Not ``f.blocks()``: when a file holds fewer frames than its header says (a cut
        # mp3), it pads the last blocks with stale or uninitialised buffer contents.
        while True:
            try:
                with quiet_native_stderr():
                    block = read_block(f, blocksize)
            except AudioError:  # the fallback reader's own, naming the file already
                raise
            except Exception as exc:
                raise AudioError(
                    f"{path}: corrupt or truncated audio ({first_line(exc)})"
                ) from None
            if not len(block):
                break
            read += len(block)
            if rate > 0 and not known:
                check_read(path, read / rate, max_duration)
            mono = downmix(finite(block))
            yield mono if stream is None else stream.resample_chunk(mono)
    if not read:  # as load_audio says of a file with a header and no samples
        raise AudioError(f"{path}: contains no audio samples")
    if stream is not None:
        yield stream.resample_chunk(np.zeros(0, np.float32), last=True)


def read_block(f, frames: int) -> np.ndarray:
    """The next ``frames`` of an open SoundFile as float32 ``[n, channels]``, fewer at the end.

    ``SoundFile.read`` seeks to where it already is after every read, and for MP3 that seek
    restarts mpg123 without the bit reservoir of the frames before: whole-frame blocks still
    glitched at 48 kHz (0.03 at block edges of one frame, 4e-4 at 0.2 s). So an MP3 is read
    with libsndfile's read alone, which only moves forward; other formats seek exactly and
    keep soundfile's public read. A file whose header gives no length (a FLAC written to a
    pipe) is read forward too: soundfile's seek after the read failed at its end. The
    private names are checked, and soundfile's read is the fallback if a release renames them.
    """
    native = _libsndfile() if f.format == "MP3" or f.frames >= UNKNOWN_LENGTH else None
    if native is None or not hasattr(f, "_file"):
        return f.read(frames, dtype="float32", always_2d=True)
    snd, ffi, check = native
    buf = np.empty((frames, f.channels), np.float32)
    got = snd.sf_readf_float(f._file, ffi.cast("float *", ffi.from_buffer(buf)), frames)
    check(snd.sf_error(f._file))  # as soundfile's read does after every read
    return buf[:max(got, 0)]


def _libsndfile() -> tuple | None:
    """soundfile's libsndfile binding, cffi and error check, or None if a release renamed them."""
    import soundfile as sf

    names = [getattr(sf, name, None) for name in ("_snd", "_ffi", "_error_check")]
    return None if None in names else tuple(names)


def split_stream(
    blocks: Iterable[np.ndarray], sample_rate: int, config: SplitConfig = SplitConfig()
) -> Iterator[Segment]:
    """Segments cut in silences, each at most ``max_segment``. The first starts and the last
    ends where the input does: a pop there is heard against the speech beside it, not taken
    for the level (a quiet 50 s file with a recorder's pop at its start lost the first piece's
    words, one with a pop at its end the last piece's: greedy WER 25% and 49% against 9%)."""
    max_n = int(config.max_segment * sample_rate)
    buf = np.zeros(0, np.float32)
    offset = 0  # samples before buf
    for block in blocks:
        buf = np.concatenate([buf, block.astype(np.float32, copy=False)])
        while len(buf) >= max_n:
            first: End = "reflect" if offset == 0 else "edge"
            cut = cut_point(buf[:max_n], sample_rate, config, ends=(first, "edge"))
            yield Segment(offset / sample_rate, buf[:cut], (first, "edge"))
            buf, offset = buf[cut:].copy(), offset + cut
    # The rest is cut at its pauses too: left whole, up to ``max_segment`` of speech would go
    # to the model as one piece, unlike every piece before it.
    while len(buf):
        first = "reflect" if offset == 0 else "edge"
        cut = cut_point(buf, sample_rate, config, final=True, ends=(first, "reflect"))
        last: End = "reflect" if cut == len(buf) else "edge"
        yield Segment(offset / sample_rate, buf[:cut], (first, last))
        buf, offset = buf[cut:], offset + cut


def cut_point(
    window: np.ndarray, sample_rate: int, config: SplitConfig, final: bool = False,
    ends: Ends = "edge",
) -> int:
    """Where to end a segment that starts at ``window[0]``: the middle of the first pause of
    ``min_pause`` or more after ``min_segment`` (the model was trained on utterances, so
    pause-delimited pieces suit it best); else the middle of the longest pause; else the
    window's end. A ``final`` window ends the stream: its trailing silence is not a pause
    to cut in, since nothing but silence would follow the cut. ``ends``: see
    :func:`voiced_intervals`."""
    hop = sample_rate // 100
    voiced = voiced_intervals(window, config.top_db, 4 * hop, hop, ends=ends)
    if not len(voiced):
        return len(window)
    earliest = int(config.min_segment * sample_rate)
    gaps = [(int(a), int(b)) for a, b in zip(voiced[:-1, 1], voiced[1:, 0], strict=True)]
    if voiced[-1, 1] < len(window) and not final:
        gaps.append((int(voiced[-1, 1]), len(window)))
    gaps = [(a, b) for a, b in gaps if (a + b) // 2 >= earliest]
    if not gaps:
        return len(window)
    pause = int(config.min_pause * sample_rate)
    a, b = next(((a, b) for a, b in gaps if b - a >= pause), max(gaps, key=lambda g: g[1] - g[0]))
    return (a + b) // 2


def trim(
    samples: np.ndarray, sample_rate: int, config: SplitConfig, ends: Ends = "edge"
) -> tuple[int, np.ndarray]:
    """The voiced part of a segment with ``edge`` seconds of its silence kept on each side, and
    where it starts. Training utterances have short silent edges; a segment with a long silent
    stretch shifts the per-utterance feature normalisation and costs accuracy. ``ends``: see
    :func:`voiced_intervals`."""
    hop = sample_rate // 100
    voiced = voiced_intervals(samples, config.top_db, 4 * hop, hop, ends=ends)
    if not len(voiced):
        return 0, samples
    edge = int(config.edge * sample_rate)
    a, b = max(0, int(voiced[0, 0]) - edge), min(len(samples), int(voiced[-1, 1]) + edge)
    return a, samples[a:b]


# An end of a short input (not cut into pieces) holding more silence than this, in seconds, is
# cut to ``edge`` as a piece's is. Three seconds of silence or room tone on each side of clean
# dev clips took the bundled model's greedy WER from 7.7% to 34% (the per-utterance feature
# normalisation is mostly silence then); cut, 15%. Clean dev clips keep their edges: 1 s
# changes no transcript of FSDD, AN4 or Speech Commands dev, where 0.5 s cost Speech Commands
# 3 points (words sit in 1 s clips with their own silence).
LONG_EDGE = 1.0


def trim_long_edges(
    samples: np.ndarray, sample_rate: int, config: SplitConfig
) -> tuple[int, np.ndarray]:
    """``samples`` with any end of more than :data:`LONG_EDGE` seconds of silence cut to
    ``config.edge`` seconds of it, and where the kept part starts (word times shift by it).
    Its ends are the recording's: a recorder's pop as it starts or stops is a burst there, not
    the level (quiet speech under it counted as silence and was cut away, and 18 AN4 dev clips
    at -45 dBFS with a pop at their start or end were transcribed as nothing)."""
    hop = sample_rate // 100
    most, edge = int(LONG_EDGE * sample_rate), int(config.edge * sample_rate)
    if len(samples) <= most:  # no end can hold more (a command's one-second clip)
        return 0, samples
    voiced = voiced_intervals(samples, config.top_db, 4 * hop, hop, ends="reflect")
    if not len(voiced):
        return 0, samples
    first, last = int(voiced[0, 0]), int(voiced[-1, 1])
    a = first - edge if first > most else 0
    b = last + edge if len(samples) - last > most else len(samples)
    return a, samples[a:b]


def speech_piece(
    start: float, samples: np.ndarray, sample_rate: int, config: SplitConfig,
    ends: Ends = "edge",
) -> tuple[float, np.ndarray] | None:
    """A segment as the model is shown it: its trimmed voiced part and where that starts, or
    None when the segment is silent (the model may hear words in digital silence)."""
    if is_silent(samples):
        return None
    skip, voiced = trim(samples, sample_rate, config, ends)
    return start + skip / sample_rate, voiced


def frame_power(y: np.ndarray, frame_length: int, hop: int) -> np.ndarray:
    """The variance of each frame centred on every ``hop``-th sample, ``y`` padded with its
    end samples, not zeros (with an offset, the step into zeros sounded like speech). Read from
    sums over ``hop``-sample blocks when a frame is whole blocks: the frames themselves,
    copied to float64 for ``np.var``, made the level checks of a one-second clip cost more
    than its features. (Sums of squares lose what an offset is to the signal, so the mean
    is removed first; what is left differs from ``np.var`` by float rounding.)"""
    if frame_length % hop:
        frames = centred_frames(y, frame_length, hop, pad_mode="edge")
        return np.var(frames, axis=1, dtype=np.float64)
    x = np.asarray(y, dtype=np.float64)
    x = x - x.mean()
    blocks, count = _blocks(x, frame_length, hop)
    per = frame_length // hop
    sums, squares = blocks.sum(axis=1), np.einsum("ij,ij->i", blocks, blocks)
    total = np.add.reduce([sums[j : j + count] for j in range(per)])
    total_sq = np.add.reduce([squares[j : j + count] for j in range(per)])
    return np.maximum(total_sq / frame_length - (total / frame_length) ** 2, 0.0)


def _frame_extremes(y: np.ndarray, frame_length: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's (of :func:`frame_power`) largest and smallest sample."""
    if frame_length % hop:
        frames = centred_frames(y, frame_length, hop, pad_mode="edge")
        return frames.max(axis=1), frames.min(axis=1)
    blocks, count = _blocks(y, frame_length, hop)
    per = frame_length // hop
    top, bottom = blocks.max(axis=1), blocks.min(axis=1)
    return (np.maximum.reduce([top[j : j + count] for j in range(per)]),
            np.minimum.reduce([bottom[j : j + count] for j in range(per)]))  # fmt: skip


def _blocks(x: np.ndarray, frame_length: int, hop: int) -> tuple[np.ndarray, int]:
    """``x`` padded as :func:`~ctcasr.features.centred_frames` pads it ("edge"), in rows of
    ``hop`` samples, frame ``i`` being rows ``i`` to ``i + frame_length // hop - 1``; and how
    many frames there are."""
    half = frame_length // 2
    padded = np.concatenate([np.full(half, x[0], x.dtype), x, np.full(half, x[-1], x.dtype)])
    count = 1 + (len(padded) - frame_length) // hop
    rows = count + frame_length // hop - 1
    return padded[: rows * hop].reshape(rows, hop), count


def _pad_ends(x: np.ndarray, n: int, start: End, end: End) -> np.ndarray:
    """``x`` with ``n`` values before and after it, as ``np.pad`` pads in each end's mode (its
    own call cost more than the burst test it pads for, on a clip's hundred frames)."""
    if n >= len(x):  # too short to reflect once: np.pad's repeated reflection
        return np.pad(np.pad(x, (n, 0), mode=start), (0, n), mode=end)

    def side(values: np.ndarray, mode: End, edge: float) -> np.ndarray:
        return values if mode == "reflect" else np.full(n, edge, x.dtype)

    if not n:
        return x
    return np.concatenate([side(x[n:0:-1], start, x[0]), x,
                           side(x[-2 : -n - 2 : -1], end, x[-1])])  # fmt: skip


def voiced_intervals(
    y: np.ndarray, top_db: float, frame_length: int, hop: int, held: int = HELD_FRAMES,
    ends: Ends = "edge",
) -> np.ndarray:
    """``[n, 2]`` sample ranges whose frame energy is within ``top_db`` of the loudest frame
    that is not a burst.

    The rule of ``librosa.effects.split`` (tested against it), without the second of imports
    librosa costs a cold start, and with three changes for real recordings. A frame's energy is
    its variance, not its mean square: a DC offset (cheap microphones, some sound cards) lifted
    every pause to within ``top_db`` of the speech, so nothing was cut. Samples past full scale
    are clipped first: one corrupt sample of 1e3 made the rest "silence". And a burst does not
    set the reference: a frame more than ``BURST_DB`` above the level held around it for
    ``held`` frames in a row is left out of the maximum. A click of 20 ms at full scale in quiet
    speech (-45 dBFS) was the reference, the speech lay more than ``top_db`` below it, and the
    segment was trimmed to the click. (The click itself is still a sound, voiced as any other.)
    ``ends``: whether ``y``'s ends (both, or start and end) are cuts in a longer recording or
    its own ends (see :func:`_held`).
    """
    y = np.asarray(y, dtype=np.float32)
    if not len(y):
        return np.zeros((0, 2), dtype=np.int64)
    # Corrupt samples far past full scale are clipped to it. A float file may hold integer-
    # scale samples (+-32768), where that clip would turn its background into full-scale
    # noise: such a recording is clipped relative to its own level instead. (Not every
    # recording: a burst longer than the quantile's 0.1% then set the level itself; and a
    # recording is taken for integer scale only if a tenth of it is past full scale.)
    if float(y.max()) > 1.0 or float(y.min()) < -1.0:  # most audio is not: no copies then
        tenth, top = np.quantile(np.abs(y), [0.9, 0.999])  # one partition for both
        limit = 4 * float(top) if tenth > 1.0 else 1.0  # a burst cannot fill 10% of a piece
        y = np.clip(y, -limit, limit)
    power = frame_power(y, frame_length, hop)
    # A burst's frames do not set the reference. Some frame always does: the quietest of the
    # run that holds a frame's level is at that level itself.
    loudest = power[_held(power, held, ends)].max()
    db = 10 * np.log10(np.maximum(power, 1e-10)) - 10 * np.log10(max(loudest, 1e-10))
    loud = db > -top_db
    edges: list[int] = (np.flatnonzero(np.diff(loud.astype(np.int8))) + 1).tolist()
    if loud[0]:
        edges.insert(0, 0)
    if loud[-1]:
        edges.append(len(loud))
    return np.minimum(np.array(edges, dtype=np.int64) * hop, len(y)).reshape(-1, 2)


def _held(power: np.ndarray, held: int, ends: Ends = "edge") -> np.ndarray:
    """Which frames are not bursts: none more than ``BURST_DB`` above the level held around it,
    the loudest of the runs of ``held`` frames that hold it, a run as loud as its quietest
    frame (a grey opening, as ``held`` shifted minima then maxima: 1% of the time the variance
    takes; sliding_window_view's min took 5%). A piece's edges are taken to go on as they end
    (``ends`` "edge"): a word cut by a piece's edge is no burst. A whole recording's ends are
    no such cut (``ends`` "reflect"): a click there is heard against what follows it."""
    start, end = (ends, ends) if isinstance(ends, str) else ends
    padded = _pad_ends(power, held - 1, start, end)
    n = len(power) + held - 1
    runs = np.minimum.reduce([padded[j : j + n] for j in range(held)])
    around = np.maximum.reduce([runs[j : j + len(power)] for j in range(held)])
    return power <= around * 10 ** (BURST_DB / 10)


def held_peak(
    y: np.ndarray, sample_rate: int, within: tuple[int, int] | None = None,
    at_least: float | None = None,
) -> float:
    """The peak of ``y`` outside bursts, in the frames :func:`voiced_intervals` measures: the
    level a long file is raised by, which a click or a knock on the microphone in a lecture
    would otherwise set. The offset removed is the median, which a click does not move (the
    mean of a block of quiet speech with a click in it did, as far as the speech's peak).
    ``y``'s ends are the recording's, where a click is heard against what follows or goes
    before it (a recorder's pop as it starts or stops was taken for the level, and a quiet
    recording that began or ended with one was not raised: greedy WER 47% or 69% against 7%).
    ``within``: the sample range whose frames (by centre) count; the rest of ``y`` is the
    context their burst test looks at. ``at_least``: a caller that asks only whether the peak
    reaches it may be given a lower bound that does, without the median (most audio is loud,
    and the median's partition was a third of this check's time)."""
    if not len(y):
        return 0.0
    hop = sample_rate // 100
    y = np.asarray(y, dtype=np.float32)
    counted = _held(frame_power(y, 4 * hop, hop), HELD_FRAMES, "reflect")
    if within is not None:
        centres = np.arange(len(counted)) * hop
        counted &= (centres >= within[0]) & (centres < within[1])
    if not counted.any():
        return 0.0
    top, bottom = _frame_extremes(y, 4 * hop, hop)
    top, bottom = top[counted], bottom[counted]
    if at_least is not None:  # a frame's half range is no more than its peak about any offset
        lower = float((top.astype(np.float64) - bottom).max()) / 2
        if lower >= at_least:
            return lower
    median = np.float32(np.median(y))
    # max |x - median| over a frame, as rounding is monotonic: its top's or its bottom's
    return float(max((top - median).max(), (median - bottom).max()))


def input_gain(blocks: Iterable[np.ndarray], sample_rate: int) -> float:
    """One gain for a whole long input (:func:`~ctcasr.features.quiet_gain` of its
    :func:`held_peak`), read from ``blocks`` only as far as the first that needs none, so a
    recording at a normal level costs one block. One gain, not one per piece: a piece of room
    tone alone, raised on its own, was heard as a letter; raised with its speech, it stays as
    far under it as it was. Each frame's burst test sees the frames around it across block
    edges, as in one array: measured block by block, a click at a block's edge was taken for
    the recording's level (its neighbours there were only the edge, repeated), and a quiet
    file with a knock at 10 s was not raised (greedy WER 40% against 7%; its array, 7%)."""
    target = 10 ** (QUIET_PEAK_DB / 20)
    hop = sample_rate // 100
    context = (HELD_FRAMES + 2) * hop  # the samples a frame's burst test looks at each side
    peak, buf, base, done = 0.0, np.zeros(0, np.float32), 0, 0  # done: frames measured to
    for block in blocks:
        buf = np.concatenate([buf, np.asarray(block, np.float32)])
        end = base + len(buf) - context  # frames nearer the end wait for the next block
        if end > done:
            peak = max(peak, held_peak(buf, sample_rate, (done - base, end - base), target))
            done = end
        if peak >= target:
            return quiet_gain(peak)
        keep = max(0, (done - context - base) // hop * hop)  # context kept before ``done``
        buf, base = buf[keep:], base + keep
    peak = max(peak, held_peak(buf, sample_rate, (done - base, len(buf) + 1), target))
    return quiet_gain(peak)


def is_silent(samples: np.ndarray) -> bool:
    """Digital silence, a constant offset included (a file of DC only was transcribed)."""
    return not len(samples) or float(np.max(samples) - np.min(samples)) < 2e-4

