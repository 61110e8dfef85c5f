"""Files or sample arrays in, transcripts out; the library behind ``ctcasr transcribe``."""

from __future__ import annotations

import array
import functools
import inspect
import itertools
import json
import math
import numbers
import os
import threading
import warnings
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ctcasr.audio import LongAudio, check_rate
from ctcasr.bundle import CONFIG_FILE, Bundle, lies_inside, load_bundle
from ctcasr.decoding import (
    Decoder,
    Hypothesis,
    WordTiming,
    create_decoder,
    get_decoder_class,
    implied_decoder,
)
from ctcasr.decoding.base import json_score
from ctcasr.decoding.registry import available_decoders, check_type, unknown_options
from ctcasr.errors import ConfigError, CtcasrError, CtcasrWarning, DecoderOutputError, UsageError
from ctcasr.features import (
    FrontendConfig,
    compute_features,
    load_samples,
    require_one_window,
)
from ctcasr.runtime import LogProbRunner, check_backend
from ctcasr.segment import (
    SplitConfig,
    input_gain,
    is_silent,
    speech_piece,
    split_stream,
    stream_audio,
    trim_long_edges,
)
from ctcasr.spool import Readable, Spool, Unread
from ctcasr.utils import mute_native_stderr

if TYPE_CHECKING:
    from concurrent.futures import ProcessPoolExecutor

# A path, samples, a binary stream, or the bytes of an audio file (read as a stream is).
Source = str | os.PathLike[str] | np.ndarray | Readable | bytes | bytearray | memoryview


@dataclass(frozen=True)
class Transcript:
    """The best hypothesis for one input; ``text`` is empty when the decoder rejected it."""

    source: str
    text: str
    score: float
    confidence: float
    duration: float  # seconds of audio
    words: tuple[WordTiming, ...] = ()
    nbest: tuple[Hypothesis, ...] = ()
    rejected: bool = False
    decoder: str = "greedy"
    model: str = ""
    segments: tuple[Segment, ...] = ()  # long files: the pieces they were cut into

    def to_dict(self) -> dict[str, Any]:
        best = self.nbest[0].to_dict() if self.nbest else {}
        out = {
            "source": self.source,
            "text": self.text,
            "confidence": round(self.confidence, 4),
            "score": json_score(self.score),
            "rejected": self.rejected,
            "duration": self.duration,
            "decoder": self.decoder,
            "model": self.model,
            "words": best.get("words", []),
            "nbest": [h.to_dict() for h in self.nbest],
        }
        if self.segments:
            out["segments"] = [asdict(s) for s in self.segments]
        return out


@dataclass(frozen=True)
class Segment:
    """A stretch of a long file decoded on its own; times in seconds from the file's start."""

    start: float
    end: float
    text: str
    confidence: float


@dataclass(frozen=True)
class Failure:
    source: str
    error: str  # one line naming the input and the cause


class Transcriber:
    """Holds a loaded bundle and its acoustic model, for transcribing many inputs."""

    def __init__(
        self,
        bundle: Bundle | str | os.PathLike[str] | None = None,
        decoder: str | None = None,
        batch_size: int = 32,
        max_duration: float | None = None,
        *,
        decoder_options: Mapping[str, Any] | None = None,
        nbest: int = 1,
        backend: str = "auto",
        split: SplitConfig | None = SplitConfig(),  # None: never split long files
        jobs: int = 1,  # processes reading audio and decoding
        chunk_size: int = 512,  # inputs read, run and decoded together
    ) -> None:
        _check_settings(max_duration, nbest=nbest, batch_size=batch_size)
        check_backend(backend)  # here, not at the first input (a server's first request)
        self.bundle = bundle if isinstance(bundle, Bundle) else load_bundle(bundle)
        # The one the options name (``commands``: grammar), else the bundle's default.
        chosen = decoder or implied_decoder(decoder_options)
        self.decoder = chosen or self.bundle.decoder.get("name", "greedy")
        self.decoder_options = decoder_settings(self.bundle, self.decoder, decoder_options,
                                                chosen=bool(chosen))  # fmt: skip
        self.decoder_impl: Decoder = _stored_decoder(self.bundle, self.decoder,
                                                     self.decoder_options, decoder_options)
        self.nbest = nbest
        self.batch_size = batch_size
        self.max_duration = max_duration
        self.backend = backend
        self.split = split
        self.jobs = jobs
        self.chunk_size = max(1, chunk_size)
        self._model: LogProbRunner | None = None
        self._model_lock = threading.Lock()  # also guards making the worker pool
        self._pool: ProcessPoolExecutor | None = None
        self._pool_pid = 0  # the process that made it
        self._closed = False
        # The model and the workers load later, on the first call, which may come after the
        # caller changed folder (a daemon's chdir to /): a relative bundle path and decoder
        # files are taken as found now. The bundle was looked for in the new folder (its
        # model.onnx missing, TensorFlow was imported and failed), and every worker died.
        self._bundle_dir = self.bundle.path.absolute()
        self._worker_options = absolute_paths(self.decoder, self.decoder_options)

    @property
    def acoustic_model(self):
        """The acoustic model, loaded on first use, once: request threads sharing a
        Transcriber each loaded their own on their first calls, and with the Keras backend
        their concurrent TensorFlow imports broke TensorFlow for the whole process."""
        if self._model is None:
            with self._model_lock:
                self._check_open()
                if self._model is None:
                    from ctcasr.runtime import load_runner

                    bundle = self.bundle
                    if bundle.path != self._bundle_dir:
                        bundle = replace(bundle, path=self._bundle_dir)
                    self._model = load_runner(bundle, self.backend,
                                              batch_size=self.batch_size)  # fmt: skip
        return self._model

    def transcribe(self, source: Source, sample_rate: int | None = None) -> Transcript:
        """One file, array, binary stream or file's bytes; raises :class:`CtcasrError` when it
        cannot be read."""
        result = self.transcribe_batch([source], sample_rate=sample_rate)[0]
        if isinstance(result, Failure):
            raise CtcasrError(result.error)
        return result

    def transcribe_batch(
        self, sources: Sequence[Source], sample_rate: int | None = None
    ) -> list[Transcript | Failure]:
        """Transcribe what can be read and report the rest; order follows ``sources``."""
        return list(self.transcribe_iter(sources, sample_rate))

    def transcribe_iter(
        self, sources: Iterable[Source], sample_rate: int | None = None
    ) -> Iterator[Transcript | Failure]:
        """Results in input order as they are ready, working through ``sources`` a chunk at a
        time, so thousands of files take the memory of two chunks. With workers, the next
        chunk is being read while the acoustic model runs on this one. A pipe (``/dev/stdin``)
        or a binary stream is copied to a temporary file first (see :mod:`ctcasr.spool`)."""
        if is_one_source(sources):  # checked now, not at the first next()
            what = type(sources).__name__
            if isinstance(sources, np.ndarray) and sources.ndim == 2:
                what += f" of shape {sources.shape} (a recording of {sources.shape[1]} channels)"
            elif isinstance(sources, list | tuple | array.array):  # one because of numbers
                what += " of numbers (samples)"
            raise UsageError(f"transcribe_batch and transcribe_iter take a list of inputs, got "
                             f"one {what}; use transcribe() for one input")
        if sample_rate is not None:
            check_rate(sample_rate)
        return self._iter(sources, sample_rate)

    def _iter(
        self, sources: Iterable[Source], sample_rate: int | None
    ) -> Iterator[Transcript | Failure]:
        self._check_open()
        with Spool() as spool:
            taken = (spool.take(source) for source in sources)
            try:
                for result in self._chunks(taken, sample_rate):
                    yield spool.named(result)
            except Exception:
                # Closed by another thread mid-batch: the worker pool's own error ("cannot
                # schedule new futures after shutdown", a cancelled future) is not the cause.
                if self._closed:
                    raise CtcasrError(_CLOSED) from None
                raise

    def _chunks(
        self, sources: Iterable[Source], sample_rate: int | None
    ) -> Iterator[Transcript | Failure]:
        started = None
        chunk: list[Source] = []
        for source in sources:
            chunk.append(source)
            if len(chunk) >= self.chunk_size:
                following = self._start_chunk(chunk, sample_rate)
                if started is not None:
                    yield from self._finish_chunk(started, sample_rate)
                    following = self._restarted(following, sample_rate)
                started, chunk = following, []
        following = self._start_chunk(chunk, sample_rate) if chunk else None
        if started is not None:
            yield from self._finish_chunk(started, sample_rate)
            following = self._restarted(following, sample_rate)
        if following is not None:
            yield from self._finish_chunk(following, sample_rate)

    def _loader(self, sample_rate: int | None) -> functools.partial:
        """:func:`_features_or_error` with this transcriber's settings (picklable)."""
        return functools.partial(
            _features_or_error, frontend=self.bundle.frontend, sample_rate=sample_rate,
            max_duration=self.max_duration,
            stream_after=self.split.long_after if self.split is not None else None,
            edges=self.split or SplitConfig(),
        )  # fmt: skip

    def read(
        self, source: Source, sample_rate: int | None = None
    ) -> tuple[np.ndarray, float, float] | float | str | None:
        """An input as ``transcribe`` reads it: ``(features, seconds, start)``, ``start`` the
        seconds of a long silent lead cut off before the features; the duration of one
        that is all silence (the model is not shown it); the one-line reason it cannot be
        read; or None for one long enough to be cut (see :meth:`long_pieces`), decided from
        the file's header as ``transcribe`` decides it. A bad ``sample_rate`` is refused as
        ``transcribe`` refuses it (here ``"16000"`` was a TypeError traceback, and ``True``
        or ``16.0`` upsampled 1 s to minutes and called it long)."""
        self._check_open()
        if sample_rate is not None:
            check_rate(sample_rate)
        got = self._loader(sample_rate)(source)
        return None if isinstance(got, _Long) else got

    def _start_chunk(self, sources: Sequence[Source], sample_rate: int | None):
        """Begin reading a chunk: in the workers (already under way on return) or lazily."""
        load = self._loader(sample_rate)
        if self._workers() is None:
            return list(sources), map(load, sources), None
        loaded, pool = self._map(load, sources)
        return list(sources), loaded, pool

    def _restarted(self, started, sample_rate: int | None):
        """A chunk handed to workers that have since died is handed to new ones."""
        if started is None or started[2] is None or started[2] is self._pool:
            return started
        return self._start_chunk(started[0], sample_rate)

    def _map(self, fn: Any, items: Sequence[Any], chunksize: int = 8
             ) -> tuple[Iterator[Any], Any]:  # fmt: skip
        """``pool.map`` on live workers, and the pool it runs on: a pool that died since its
        last use (a worker killed while reading the next chunk) refuses new work, and is
        replaced first."""
        from concurrent.futures.process import BrokenProcessPool

        try:
            return self._workers().map(fn, items, chunksize=chunksize), self._pool
        except BrokenProcessPool:
            self._drop_workers(self._pool)
            return self._workers().map(fn, items, chunksize=chunksize), self._pool

    def _drop_workers(self, pool: Any) -> None:
        """Shut a dead ``pool`` down, and forget it if it is still the current one (a newer,
        healthy pool may already hold the next chunk's work). A pool none of whose workers
        got as far as starting up raises: every input would fail the same way."""
        if pool is None:
            return
        pool.shutdown(wait=False, cancel_futures=True)
        if pool is self._pool:
            self._pool = None
        _check_started(pool)

    def _alone(self, fn: Any, item: Any, doing: str) -> Any:
        """``fn(item)`` in a worker of its own: whether it kills that worker says whether it
        killed the last one (on the shared pool it queued behind the next chunk, and an input
        there that killed the pool was charged to it)."""
        from concurrent.futures.process import BrokenProcessPool

        solo = self._new_pool(1)
        try:
            return solo.submit(fn, item).result()
        except BrokenProcessPool:
            _check_started(solo)
            return _Died(doing)
        finally:
            solo.shutdown(wait=False, cancel_futures=True)

    def _drain(self, results: Iterable[Any], fn: Any, items: Sequence[Any], doing: str,
               pool: Any) -> list[Any]:  # fmt: skip
        """All of a pool's results. Where a worker died (the OOM killer; a crash in native
        code), the first input not finished is run alone in a worker of its own, as the one
        that killed it or one in flight beside it, and the rest go on together, a piece at a
        time: only an input that kills a worker by itself fails (a :class:`_Died`), not
        the hundreds in flight beside it (a BrokenProcessPool traceback once ended the run)."""
        from concurrent.futures.process import BrokenProcessPool

        out: list[Any] = []
        while True:
            try:
                out.extend(results)
                return out
            except BrokenProcessPool:
                self._drop_workers(pool)
            out.append(self._alone(fn, items[len(out)], doing))
            if len(out) == len(items):
                return out
            results, pool = self._map(fn, items[len(out) :], chunksize=1)

    def _finish_chunk(self, started, sample_rate: int | None) -> list[Transcript | Failure]:
        sources, loaded, _ = started
        results: list[Transcript | Failure | None] = [None] * len(sources)
        feats: list[np.ndarray] = []
        seconds: list[float] = []
        starts: list[float] = []
        ok: list[int] = []
        read = self._drain(loaded, self._loader(sample_rate), sources, "reading", started[2])
        for i, got in enumerate(read):
            if isinstance(got, _Died):
                results[i] = got.failure(_name(sources[i]))
                continue
            if isinstance(got, _Long):
                continue  # read in blocks below
            if isinstance(got, str):
                results[i] = Failure(_name(sources[i]), got)
            elif isinstance(got, float):  # silent: nothing said (as the split path decides)
                results[i] = _stitch(_name(sources[i]), [], got, self.decoder,
                                     str(self.bundle.path))  # fmt: skip
            else:
                feats.append(got[0])
                seconds.append(got[1])
                starts.append(got[2])
                ok.append(i)
        log_probs = self.acoustic_model(feats)
        jobs = [(lp, _name(sources[i]), s, start)
                for i, s, start, lp in zip(ok, seconds, starts, log_probs, strict=True)]
        # Greedy decoding costs less than shipping its input to a worker.
        if self.decoder != "greedy" and self._workers() is not None:
            decoded, pool = self._map(_decode_in_worker, jobs)
        else:
            decoded = (_decode_or_failure(self.decode, job, self.decoder) for job in jobs)
            pool = None
        done = self._drain(decoded, _decode_in_worker, jobs, "decoding", pool)
        for i, t in zip(ok, done, strict=True):
            results[i] = t.failure(_name(sources[i])) if isinstance(t, _Died) else t
        for i, source in enumerate(sources):
            if results[i] is None:  # long files: split, decoded piece by piece
                try:
                    results[i] = self._transcribe_long(source, sample_rate)
                except Exception as exc:  # whatever breaks on one input fails that input
                    name = _name(source)
                    results[i] = Failure(name, f"{name}: {type(exc).__name__}: {exc}")
        return results  # type: ignore[return-value]

    def _workers(self):
        """A process pool for reading audio and decoding when ``jobs > 1`` (made on first use;
        spawned, not forked: the parent may already run onnxruntime or TensorFlow threads)."""
        if self.jobs <= 1:
            return None
        pool = self._pool
        if pool is None or self._pool_pid != os.getpid():
            with self._model_lock:  # threads sharing a Transcriber: one pool, not one each
                self._check_open()  # never new workers after close(), which nothing would stop
                # A pool made before a fork (gunicorn --preload after a warm-up call, os.fork)
                # is the parent's: its manager thread is not in the child, and work handed to
                # it waited forever. The child makes its own.
                if self._pool is None or self._pool_pid != os.getpid():
                    self._pool = self._new_pool(self.jobs)
                    self._pool_pid = os.getpid()
                pool = self._pool
        return pool

    def _new_pool(self, workers: int) -> Any:
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor

        if _importing_main():
            # A script's unguarded top level, run again in one of our workers as it starts:
            # its pool could not start (multiprocessing's own error, a traceback per worker),
            # so this worker ends quietly and the parent says why (_check_started).
            raise SystemExit(1)
        context = mp.get_context("spawn")
        started = context.Event()  # set by the first worker to get past importing __main__
        pool = ProcessPoolExecutor(
            workers, context, initializer=_init_worker,
            initargs=(self._bundle_dir, self.decoder, self._worker_options, self.nbest, started),
        )  # fmt: skip
        pool.ctcasr_started = started  # type: ignore[attr-defined]
        return pool

    def close(self) -> None:
        """Stop the worker processes, if any were started, and let the acoustic model go. A
        closed Transcriber refuses work (:class:`CtcasrError`): one used after its ``with``
        block went on silently, and with ``jobs`` > 1 started worker processes that nothing
        would stop."""
        self._closed = True
        self._model = None
        if self._pool is not None and self._pool_pid == os.getpid():  # not a forked parent's
            self._pool.shutdown(cancel_futures=True)  # after an interrupt, queued work is moot
        self._pool = None

    def _check_open(self) -> None:
        if self._closed:
            raise CtcasrError(_CLOSED)

    def __enter__(self) -> Transcriber:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transcribe_long(self, source: Source, sample_rate: int | None) -> Transcript | Failure:
        """Cut at silences, decode the pieces a batch at a time, stitch with file times."""
        name = _name(source)
        pieces: list[tuple[float, float, Transcript]] = []
        length = [0.0]
        try:
            for start, seconds, lp in self.long_pieces(source, sample_rate, length):
                got = _decode_or_failure(self.decode, (lp, name, round(seconds, 3)),
                                         self.decoder)  # fmt: skip
                if isinstance(got, Failure):  # the decoder's failure, not the audio's
                    return got
                pieces.append((start, seconds, got))
        except CtcasrError as exc:
            return Failure(name, str(exc))
        return _stitch(name, pieces, round(length[0], 3), self.decoder, str(self.bundle.path))

    def long_pieces(
        self, source: Source, sample_rate: int | None, length: list[float]
    ) -> Iterator[tuple[float, float, np.ndarray]]:
        """A long input as the model sees it: ``(start, seconds, log_probs)`` for each piece
        with speech, cut at silences, read in blocks and run a batch at a time (memory stays
        that of a minute of audio); ``length[0]`` is the input's duration so far. What
        ``transcribe`` stitches and ``evaluate`` scores."""
        assert self.split is not None
        if sample_rate is not None:
            check_rate(sample_rate)
        split, rate = self.split, self.bundle.frontend.sample_rate
        whole: np.ndarray | None = None
        path: str | os.PathLike[str] = ""
        if not isinstance(source, str | os.PathLike):
            # An array is read whole; a stream or a file's bytes is refused as ``read`` refuses
            # it (stream_audio took it for a path: a TypeError or ValueError traceback).
            whole = load_samples(source, self.bundle.frontend, sample_rate=sample_rate)
        else:
            path = source

        def read() -> Generator[np.ndarray, None, None]:
            """The input's blocks (a file over the limit fails at the first, before any work)."""
            if whole is not None:
                yield whole
            else:
                yield from stream_audio(path, rate, split.block_seconds, self.max_duration)

        # Quiet audio is raised as a short input is, but by one gain for the whole input, from
        # a read ahead that stops at the first block at a normal level: the pieces of a
        # recording at -45 dBFS sank into the log's floor, and raised one by one, a piece of
        # room tone alone was heard as a letter.
        blocks: Iterator[np.ndarray]
        if self.bundle.frontend.normalize:
            gain, blocks = _gain_then_blocks(read(), read, rate, 2 * split.block_seconds)
        else:
            gain, blocks = 1.0, read()
        pending: list[tuple[float, np.ndarray]] = []

        def run() -> list[tuple[float, float, np.ndarray]]:
            feats = [piece_features(x, self.bundle.frontend, gain) for _, x in pending]
            out = [(start, len(x) / rate, lp)
                   for (start, x), lp in zip(pending, self.acoustic_model(feats), strict=True)]
            pending.clear()
            return out

        for piece in speech_pieces(blocks, self.bundle.frontend, split, length):
            pending.append(piece)
            if len(pending) >= self.batch_size or sum(len(x) for _, x in pending) >= 60 * rate:
                yield from run()
        if pending:
            yield from run()

    def decode(self, log_probs: np.ndarray, source: str = "<array>", duration: float = 0.0,
               start: float = 0.0):  # fmt: skip
        """Decode log-probabilities the acoustic model already produced (from ``start``
        seconds into the input: word times are the input's)."""
        hyps = run_decoder(self.decoder_impl, log_probs, self.nbest, self.decoder)
        return _transcript(hyps, source, duration, self.decoder, str(self.bundle.path), start)


def _gain_then_blocks(
    blocks: Generator[np.ndarray, None, None],
    reread: Callable[[], Generator[np.ndarray, None, None]],
    rate: int,
    keep_seconds: float,
) -> tuple[float, Iterator[np.ndarray]]:
    """The input's :func:`~ctcasr.segment.input_gain` and its blocks from the start. The blocks
    read ahead are kept, up to ``keep_seconds``, and the same read goes on after them: a file
    at a normal level within that is opened once after its header (a second read cost a third
    open every time). A read ahead past it (a quiet recording, a long silent lead-in) is not
    held in memory: the input is read again from ``reread``."""
    kept: list[np.ndarray] | None = []

    def watched() -> Iterator[np.ndarray]:
        nonlocal kept
        for block in blocks:
            if kept is not None:
                kept.append(block)
                if sum(len(b) for b in kept) > keep_seconds * rate:
                    kept = None
            yield block

    gain = input_gain(watched(), rate)
    if kept is None:
        blocks.close()
        return gain, reread()
    return gain, itertools.chain(kept, blocks)


def short_features(
    samples: np.ndarray, frontend: FrontendConfig, edges: SplitConfig
) -> tuple[float, np.ndarray]:
    """A short input's features as ``transcribe`` computes them (an end with long silence
    cut as ``edges`` cuts a long file's pieces, see :func:`~ctcasr.segment.trim_long_edges`),
    and the seconds cut off its start."""
    skip, samples = trim_long_edges(samples, frontend.sample_rate, edges)
    return skip / frontend.sample_rate, compute_features(samples, frontend)


def speech_pieces(
    blocks: Iterable[np.ndarray], frontend: FrontendConfig, split: SplitConfig,
    length: list[float],
) -> Iterator[tuple[float, np.ndarray]]:  # fmt: skip
    """A long input's pieces with speech, ``(start seconds, samples)``, cut at its pauses
    and trimmed; ``length[0]`` is the input's duration so far."""
    rate = frontend.sample_rate
    for start, samples, ends in split_stream(blocks, rate, split):
        length[0] = start + len(samples) / rate
        piece = speech_piece(start, samples, rate, split, ends)
        # A leftover under one analysis window is refused on its own (the model spelled
        # "n" in it), so it is not shown to the model as a piece either.
        if piece is not None and len(piece[1]) >= frontend.win_length:
            yield piece


def piece_features(samples: np.ndarray, frontend: FrontendConfig, gain: float = 1.0) -> np.ndarray:
    """A long input's piece's features, raised by the whole input's ``gain``
    (:func:`~ctcasr.segment.input_gain`), not by its own (see
    :func:`~ctcasr.features.compute_features`)."""
    return compute_features(samples if gain == 1 else samples * np.float32(gain), frontend,
                            lift=False)  # fmt: skip


def model_inputs(
    samples: np.ndarray, frontend: FrontendConfig, split: SplitConfig | None = SplitConfig()
) -> list[np.ndarray]:
    """The feature matrices ``transcribe`` shows the model for ``samples`` (mono, at the
    front end's rate), for scoring where the audio is already in memory (training's dev
    set: scored on features of its own, its dev WER was not ``evaluate``'s): a long input's
    pieces (over ``split.long_after``; None: never cut); none for digital silence or audio
    under one analysis window, whose transcript is empty; else the input, long silent ends
    cut."""
    rate = frontend.sample_rate
    if split is not None and len(samples) > split.long_after * rate:
        pieces = speech_pieces([samples], frontend, split, [0.0])
        gain = input_gain([samples], rate) if frontend.normalize else 1.0
        return [piece_features(x, frontend, gain) for _, x in pieces]
    if is_silent(samples) or len(samples) < frontend.win_length:
        return []
    return [short_features(samples, frontend, split or SplitConfig())[1]]


def _check_settings(max_duration: float | None, **counts: Any) -> None:
    """Refuse counts under 1 and a limit that is no duration when the Transcriber is made (the
    command line checks its flags; the library did not): ``nbest=0`` failed every input, one
    Failure each, and ``batch_size=0`` raised "range() arg 3 must not be zero" from the
    acoustic model."""
    for name, value in counts.items():
        if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
            raise ConfigError(f"{name} must be an integer of at least 1, got {value!r}")
    if max_duration is not None and (not _number(max_duration) or not max_duration > 0):
        raise ConfigError(f"max_duration must be a positive number of seconds, got "
                          f"{max_duration!r}")  # fmt: skip


def run_decoder(impl: Decoder, log_probs: np.ndarray, nbest: int, name: str) -> list[Hypothesis]:
    """``impl.decode`` with its answer checked, at most ``nbest`` kept. A plug-in that returned
    a string, an empty list or None failed its input as an AttributeError or IndexError that
    named neither the decoder's fault nor the fix; numpy numbers in a Hypothesis ended
    ``--json`` output in a traceback (not JSON serializable). Now such an input fails in one
    line naming the decoder, and numpy numbers are taken as floats."""
    got = impl.decode(log_probs, nbest)
    if not isinstance(got, list | tuple) or not got:
        what = "an empty list" if isinstance(got, list | tuple) else type(got).__name__
        what = "None" if got is None else what
        raise DecoderOutputError(
            f"decoder {name!r} returned {what}, not a non-empty list of Hypothesis"
        )
    return [_checked(hyp, name) for hyp in got[:nbest]]


def _number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool | np.bool_)


def _checked(hyp: Any, name: str) -> Hypothesis:
    """One hypothesis as the outputs need it: text a str of words between single spaces,
    numbers plain floats, confidence in [0, 1], words WordTimings. (A plug-in's tab or line
    break in its text split the TSV row, and the text and default output's one line per
    input.)"""
    if not isinstance(hyp, Hypothesis):
        raise DecoderOutputError(
            f"decoder {name!r} returned a {type(hyp).__name__} in its list, not a Hypothesis"
        )
    problem = _hypothesis_problem(hyp)
    if problem:
        raise DecoderOutputError(f"decoder {name!r} returned a bad Hypothesis: {problem}")
    numbers_in = (hyp.score, hyp.confidence, *(x for w in hyp.words
                                              for x in (w.start, w.end, w.confidence)))
    text = _spaced(hyp.text)
    if (type(hyp.words) is tuple and type(hyp.rejected) is bool and text == hyp.text
            and all(type(x) is float for x in numbers_in)):  # fmt: skip
        return hyp  # the built-ins' own: nothing to convert
    timings = tuple(WordTiming(_spaced(str(w.word)), float(w.start), float(w.end),
                               float(w.confidence)) for w in hyp.words)  # fmt: skip
    return replace(hyp, text=text, score=float(hyp.score), confidence=float(hyp.confidence),
                   words=timings, rejected=bool(hyp.rejected))  # fmt: skip


def _spaced(text: str) -> str:
    """Words between single spaces, as the built-in decoders write them."""
    return " ".join(text.split())


def _hypothesis_problem(hyp: Hypothesis) -> str | None:
    if not isinstance(hyp.text, str):
        return f"text {hyp.text!r} is not a str"
    if not _number(hyp.score):
        return f"score {hyp.score!r} is not a number"
    if not _number(hyp.confidence) or not 0 <= hyp.confidence <= 1:
        return f"confidence {hyp.confidence!r} is not a number in [0, 1]"
    # numpy's bool (``rejected=confidence < threshold`` on a numpy float) ended --json output
    # in a traceback; "yes" was printed as the JSON's "rejected".
    if not isinstance(hyp.rejected, bool | np.bool_):
        return f"rejected {hyp.rejected!r} is not a bool"
    if not isinstance(hyp.words, tuple | list):
        return f"words {hyp.words!r} is not a tuple of WordTiming"
    for w in hyp.words:
        if not isinstance(w, WordTiming) or not all(map(_number, (w.start, w.end, w.confidence))):
            return f"word {w!r} is not a WordTiming of numbers"
        # A NaN time ended -f srt in a traceback and made --json print NaN (not JSON); a
        # confidence of 7 was printed as one.
        if not 0 <= w.start <= w.end < math.inf:
            return f"word {w.word!r} runs from {w.start!r} to {w.end!r} s, not 0 <= start <= end"
        if not 0 <= w.confidence <= 1:
            return f"word {w.word!r}: confidence {w.confidence!r} is not a number in [0, 1]"
    return None


def _transcript(
    hyps: Sequence[Hypothesis], source: str, duration: float, decoder: str, model: str,
    start: float = 0.0,
) -> Transcript:
    if start:
        hyps = [replace(h, words=tuple(_shifted(h.words, start))) for h in hyps]
    if duration > 0:
        hyps = [_within(h, duration) for h in hyps]
    best = hyps[0]
    text = "" if best.rejected else best.text
    return Transcript(source, text, best.score, best.confidence, duration, best.words,
                      tuple(hyps), best.rejected, decoder, model)  # fmt: skip


def _within(hyp: Hypothesis, duration: float) -> Hypothesis:
    """Word times no later than the audio's end. A word ends one output frame after its last
    character, which ran up to a frame past a short file's end, and on a long file past its
    piece's end into the next piece's words and subtitle cue."""
    if not hyp.words or hyp.words[-1].end <= duration:
        return hyp
    words = tuple(w if w.end <= duration else
                  replace(w, start=min(w.start, duration), end=duration)
                  for w in hyp.words)  # fmt: skip
    return replace(hyp, words=words)


def _stitch(
    name: str, pieces: list[tuple[float, float, Transcript]], duration: float, decoder: str,
    model: str,
) -> Transcript:
    """One transcript from a long file's pieces: words shifted to file time, confidence the
    character-weighted mean of the pieces', n-best only the best path (lists do not combine)."""
    segments, words, texts, score = [], [], [], 0.0
    weighted = chars = 0.0
    for start, seconds, t in pieces:
        segments.append(Segment(round(start, 3), round(start + seconds, 3), t.text,
                                round(t.confidence, 4)))  # fmt: skip
        words += _shifted(t.words, start)
        score += t.score
        if t.text:
            texts.append(t.text)
            weighted += t.confidence * len(t.text)
            chars += len(t.text)
    text = " ".join(texts)
    confidence = weighted / chars if chars else 0.0
    best = Hypothesis(text, score, confidence, tuple(words))
    # Rejected as a short file is when no piece was accepted: 40 s of noise was an accepted
    # empty transcript while 5 s of it was rejected. Its closest command is the piece's
    # nearest miss, in file time.
    refused = [(start, t.nbest[0]) for start, _, t in pieces if t.rejected and t.nbest]
    if not text and refused:
        start, closest = max(refused, key=lambda item: item[1].confidence)
        best = replace(closest, words=tuple(_shifted(closest.words, start)))
        confidence = best.confidence
    return Transcript(name, text, score, confidence, duration, tuple(words), (best,),
                      best.rejected, decoder, model, tuple(segments))  # fmt: skip


def _shifted(words: Sequence[WordTiming], by: float) -> list[WordTiming]:
    """A piece's word timings in file time."""
    return [replace(w, start=w.start + by, end=w.end + by) for w in words]


def transcribe(
    sources: Source | Iterable[Source], model: Bundle | str | os.PathLike[str] | None = None
) -> list[Transcript | Failure]:
    """Convenience wrapper: ``transcribe(["a.wav"])`` with the bundled default model. One
    input (``transcribe("a.wav")``, an array of samples at 16 kHz) gives a list of one."""
    if is_one_source(sources):
        sources = [sources]  # type: ignore[list-item]
    return Transcriber(model).transcribe_batch(list(sources))  # type: ignore[arg-type]


def is_one_source(sources: Any) -> bool:
    """Whether ``sources`` is one input rather than a collection of them. A path iterates by
    character, an array by sample, bytes by byte and a stream by line, and each piece was
    taken for an input of its own: ``transcribe("clip.wav")`` gave eight "file not found"
    failures, one per letter, and a Path a TypeError traceback. A 2-D array is a batch of
    clips, a row each, only where it is wider than tall: one ``[n, channels]`` recording
    (soundfile's stereo) was read a row of two samples at a time, 30,400 empty transcripts
    for 1.9 s of speech; it is one input, as ``transcribe`` reads it (channels the shorter
    side). A list of numbers (or an ``array.array``) is samples, since no input is a number:
    each sample was a failure of its own. So is another library's array (a torch tensor)
    or a memoryview of samples, judged by its shape as a numpy array is: they were a batch
    of their elements, or a NotImplementedError traceback for a 2-D memoryview."""
    from ctcasr.spool import is_file_bytes, is_stream

    arraylike = hasattr(sources, "__array__") or isinstance(sources, memoryview)
    shape = getattr(sources, "shape", None) if arraylike else None
    if isinstance(shape, tuple):  # numpy's, and torch.Size (a tuple)
        return len(shape) <= 1 or (len(shape) == 2 and shape[0] >= shape[1])
    if isinstance(sources, list | tuple | array.array) and len(sources):
        return isinstance(sources[0], numbers.Number)
    return isinstance(sources, str | os.PathLike) or is_file_bytes(sources) or is_stream(sources)


def frame_seconds(bundle: Bundle) -> float:
    """Duration of one acoustic-model output frame: the hop in whole samples, as the features
    are framed (``hop_ms`` at 22050 Hz is 220 samples, 9.977 ms: taken as 10 ms, a bundle at
    that rate put words 1.4 s late ten minutes in)."""
    frontend = bundle.frontend
    return frontend.hop_length / frontend.sample_rate * bundle.model_config.conv_stride


def decoder_settings(
    bundle: Bundle, name: str, overrides: Mapping[str, Any] | None = None, *, chosen: bool = True
) -> dict[str, Any]:
    """The bundle's stored options for decoder ``name`` (file paths resolved against the
    bundle), with ``overrides`` on top; ``None`` overrides keep the stored value. ``chosen``:
    the caller named the decoder, rather than taking the bundle's default."""
    stored = dict(bundle.decoder.get(name) or {})
    cls = check_stored_decoder(bundle, name, overrides, chosen=chosen)
    # A stored setting that belongs to another (kenlm's word list to its LM) goes when that
    # one is overridden: a new --lm was decoded with the old LM's vocabulary.
    for key, owner in getattr(cls, "tied_options", {}).items():
        if (overrides or {}).get(owner) is not None and (overrides or {}).get(key) is None:
            stored.pop(key, None)
    path_options = getattr(cls, "path_options", ())
    for key in path_options:
        value = stored.get(key)
        if isinstance(value, str) and not Path(value).is_absolute():
            stored[key] = str(bundle.path / value)
        if isinstance(value, str) and (overrides or {}).get(key) is None:
            _say_if_outside(bundle, name, key, stored[key])
    for key, value in (overrides or {}).items():
        if value is not None:
            stored[key] = value
    return stored


def absolute_paths(name: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Decoder ``name``'s ``options`` with its file options (``path_options``) made absolute
    against the current folder."""
    files = getattr(get_decoder_class(name), "path_options", ())
    return {key: str(Path(value).absolute())
            if key in files and isinstance(value, str | os.PathLike) else value
            for key, value in options.items()}  # fmt: skip


def check_stored_decoder(bundle: Bundle, name: str, overrides: Mapping[str, Any] | None = None,
                         *, chosen: bool = False) -> type[Decoder]:  # fmt: skip
    """Decoder ``name``'s class, refusing what the bundle stores and this ctcasr does not know
    as the bundle's: a default decoder, or settings, from a newer ctcasr or a plug-in not
    installed here were refused as if the user had asked for them ("unknown decoder 'x'",
    "decoder 'kenlm' does not take option(s) x"), with no word of the bundle. Settings in
    ``overrides`` are the caller's; ``chosen``: the caller named the decoder."""
    stored, overrides = bundle.decoder.get(name) or {}, overrides or {}
    where = f"{bundle.path / CONFIG_FILE}"
    other = "or choose another decoder with --decoder (decoder=)"
    try:
        cls = get_decoder_class(name)
    except ConfigError as exc:
        if chosen or name in available_decoders():  # asked for, or a plug-in that fails here
            raise
        raise ConfigError(f"{where}: the bundle's default decoder: {exc}; install the plug-in "
                          f"or the newer ctcasr that provides it, {other}") from None  # fmt: skip
    kept = {k: v for k, v in stored.items() if overrides.get(k) is None}
    unknown, known = unknown_options(cls, kept)
    package = available_decoders()[name].package
    if unknown:
        raise ConfigError(f"{where}: stores {name} setting(s) {', '.join(unknown)}, which decoder "
                          f"{name!r} here does not take (it takes: {', '.join(known) or 'none'}); "
                          f"upgrade {package} (written by a newer one?), {other}")  # fmt: skip
    for key, value in kept.items():  # "decoder 'kenlm': option alpha must be a float", unplaced
        try:
            check_type(name, key, value, known.get(key))
        except ConfigError as exc:
            raise ConfigError(f"{where}: stored setting: {exc}; give it with --option "
                              f"{key}=VALUE (decoder_options=), {other}") from None
        why = _not_a_file_name(value, known.get(key))
        if key in getattr(cls, "path_options", ()) and why:
            raise ConfigError(f"{where}: stored setting {name}.{key} is not a file name "
                              f"({why}); correct it, {other}")  # fmt: skip
    # The default decoder lacking a setting it cannot run without (kenlm's lm, edited out):
    # "the kenlm decoder needs a language model (--lm FILE)", no word of the bundle.
    lacking = [key for key in getattr(cls, "required_options", ())
               if stored.get(key) is None and overrides.get(key) is None]  # fmt: skip
    if lacking and not chosen and name == bundle.decoder.get("name", "greedy"):
        raise ConfigError(f"{where}: the bundle's default decoder {name!r} stores no "
                          f"{' or '.join(lacking)}, which it needs; give it with --option "
                          f"{lacking[0]}=VALUE (decoder_options=), {other}")  # fmt: skip
    return cls


def _not_a_file_name(value: Any, param: inspect.Parameter | None) -> str | None:
    """Why a stored file option ``value`` names no file, or None: one holding a NUL was a
    ValueError traceback from the path's first use, and a list or number (where the option
    takes no list of phrases) "decoder 'kenlm': expected str, bytes or os.PathLike object",
    naming neither the bundle nor the setting."""
    if value is None or isinstance(value, str):  # None: not set, as the decoder's default
        return f"it holds a NUL: {value!r}" if value and "\0" in value else None
    phrases = param is not None and "Sequence" in str(param.annotation)
    if phrases and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return None
    return f"got {json.dumps(value)[:40]}"


def _stored_decoder(bundle: Bundle, name: str, options: dict[str, Any],
                    given: Mapping[str, Any] | None) -> Decoder:  # fmt: skip
    """Decoder ``name`` built with ``options``. A value only the bundle gave that the decoder
    refuses ("beam_width must be at least 1, got 0") was said with no word of the bundle:
    it now names bundle.json. With options of the caller's (``given``), it is the caller's."""
    try:
        return create_decoder(name, bundle.alphabet, frame_seconds(bundle), **options)
    except ConfigError as exc:
        said = str(exc)
        required = getattr(get_decoder_class(name), "required_options", ())
        if (not bundle.decoder.get(name) or any(v is not None for v in (given or {}).values())
                or said.startswith(str(bundle.path))  # names its file already
                or any(options.get(key) is None for key in required)):  # fmt: skip
            raise
        raise ConfigError(f"{bundle.path / CONFIG_FILE}: stored {name} setting: {said}; "
                          "correct it, or choose another decoder with --decoder "
                          "(decoder=)") from None  # fmt: skip


def _say_if_outside(bundle: Bundle, decoder: str, key: str, path: str) -> None:
    """Warn when a bundle's stored file lies outside it (an absolute path, ``../``, a link out):
    ctcasr never stores one (tune copies files in), so the bundle was edited by hand or made
    elsewhere, and a bundle from someone else had its decoder read any file it named (a
    grammar's commands file came back as transcripts) without a word."""
    if not lies_inside(bundle.path, path):
        warnings.warn(f"{bundle.path}: decoder setting {decoder}.{key} names a file outside "
                      f"the bundle ({path}); it is read from there", CtcasrWarning,
                      stacklevel=3)  # fmt: skip


def _name(source: Source) -> str:
    """A path as given; anything else (an array, a list of samples) as ``<array>``, not its
    repr (a 1 s list was named by 262,886 characters)."""
    if isinstance(source, Unread):
        return source.name
    return str(source) if isinstance(source, str | os.PathLike) else "<array>"


_CLOSED = "this Transcriber is closed; make a new one"
_WORKER: dict[str, Any] = {}


def _init_worker(bundle_path: Path, decoder: str, options: dict[str, Any], nbest: int,
                 started: Any = None) -> None:  # fmt: skip
    import multiprocessing as mp
    import signal

    if started is not None:
        started.set()
    parent = mp.parent_process()
    if parent is not None:
        threading.Thread(target=_exit_with, args=(parent.sentinel,), daemon=True).start()

    # Ctrl-C reaches the whole process group; only the parent should act on it (and stop
    # the pool), not every worker with a traceback of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    mute_native_stderr()  # a worker's own descriptor: no other thread writes there
    _WORKER.update(decoder=decoder, nbest=nbest)
    try:
        bundle = load_bundle(bundle_path)
        with warnings.catch_warnings():  # the parent's decoder has said them once already
            warnings.simplefilter("ignore", CtcasrWarning)
            impl = create_decoder(decoder, bundle.alphabet, frame_seconds(bundle), **options)
    except Exception as exc:
        # The bundle or a decoder file gone or changed since the parent loaded it: a worker
        # whose start-up raised died, and every input failed as "a worker process died
        # reading it (out of memory, ...)", each retried in a new one, a traceback each.
        why = str(exc) if isinstance(exc, CtcasrError) else f"{type(exc).__name__}: {exc}"
        _WORKER.update(error=f"decoder {decoder!r} could not be made in a worker process: {why}")
        return
    _WORKER.update(bundle=bundle, impl=impl)


def _exit_with(parent_sentinel: int) -> None:
    """End this worker when its parent ends. A parent killed outright (SIGKILL, the OOM killer,
    a crash in native code) left its workers waiting for work forever, each holding the
    bundle and decoder, one pair more at every restart of a service."""
    from multiprocessing.connection import wait

    wait([parent_sentinel])
    os._exit(1)


def _decode_in_worker(job: tuple[np.ndarray, str, float, float]) -> Transcript | Failure:
    if "error" in _WORKER:
        return Failure(job[1], f"{job[1]}: not transcribed: {_WORKER['error']}")

    def decode(log_probs: np.ndarray, source: str, duration: float, start: float) -> Transcript:
        hyps = run_decoder(_WORKER["impl"], log_probs, _WORKER["nbest"], _WORKER["decoder"])
        return _transcript(hyps, source, duration, _WORKER["decoder"],
                           str(_WORKER["bundle"].path), start)  # fmt: skip

    return _decode_or_failure(decode, job, _WORKER["decoder"])


def _decode_or_failure(decode: Any, job: tuple[Any, ...], decoder: str):
    """A decoder (a plug-in's, say) that raises on one input fails that input, one line, and
    the batch goes on."""
    try:
        return decode(*job)
    except Exception as exc:
        return _decoder_failure(job[1], decoder, exc)


def _decoder_failure(source: str, decoder: str, exc: Exception) -> Failure:
    if isinstance(exc, CtcasrError):
        return Failure(source, f"{source}: {exc}")
    return Failure(source, f"{source}: decoder {decoder!r} failed: {type(exc).__name__}: {exc}")


def _importing_main() -> bool:
    """Whether this is a spawned process still importing its parent's main module (which
    multiprocessing runs as ``__mp_main__``, and only then): a script's top level, unguarded
    by ``if __name__ == "__main__":``, running again in a worker as it starts."""
    frame = inspect.currentframe()
    while frame is not None:
        if frame.f_code.co_name == "<module>" and frame.f_globals.get("__name__") == "__mp_main__":
            return True
        frame = frame.f_back
    return False


def _check_started(pool: Any) -> None:
    """Raise where a dead ``pool``'s workers all died before their start-up ran, which follows
    importing the main module: a script that makes workers at its top level, unguarded, ran
    again in each, and every input failed as "a worker process died ... (out of memory, or a
    crash in native code)" after hundreds of lines of multiprocessing's traceback."""
    started = getattr(pool, "ctcasr_started", None)
    if started is None or started.is_set():
        return
    import sys

    main = getattr(sys.modules.get("__main__"), "__file__", None)
    why = (f"; they import the main module {main} first, and run its top level again: keep "
           'a script\'s work under `if __name__ == "__main__":`' if main else "")
    raise CtcasrError(f"the worker processes (jobs > 1) died as they started, before reading "
                      f"any input{why}") from None  # fmt: skip


@dataclass(frozen=True)
class _Died:
    """An input that took a worker process down with it, run alone."""

    doing: str

    def failure(self, name: str) -> Failure:
        return Failure(name, f"{name}: not transcribed: a worker process died {self.doing} "
                       "it (out of memory, or a crash in native code)")  # fmt: skip


@dataclass(frozen=True)
class _Long:
    """An input over the split length: the parent reads it in blocks (crosses processes)."""


def _features_or_error(
    source: Source,
    frontend: Any,
    sample_rate: int | None,
    max_duration: float | None,
    stream_after: float | None = None,
    edges: SplitConfig | None = None,
) -> tuple[np.ndarray, float, float] | float | str | _Long:
    """Features, the input's seconds and where the features start in it (an end with long
    silence is cut as ``edges`` cuts a long file's pieces, see
    :func:`~ctcasr.segment.trim_long_edges`); or the duration of an input that is all silence
    (the model is not asked: it may hear words in digital silence); or the one-line reason
    the input cannot be read (errors cross processes as text); or :class:`_Long`, decided
    from the header of the one open that would have read the file."""
    if isinstance(source, Unread):
        return source.error
    try:
        samples = load_samples(source, frontend, sample_rate=sample_rate,
                               max_duration=max_duration, stream_after=stream_after)  # fmt: skip
        seconds = round(len(samples) / frontend.sample_rate, 3)
        # Length before silence: one sample is constant, so it was "silence" (an empty
        # transcript) where two were too short.
        require_one_window(samples, frontend, _name(source))
        if is_silent(samples):
            return seconds
        start, feats = short_features(samples, frontend, edges or SplitConfig())
        # The duration from the samples: frames x hop runs up to one hop over it.
        return feats, seconds, start
    except LongAudio:
        return _Long()
    except CtcasrError as exc:
        return str(exc)
