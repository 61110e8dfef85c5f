"""Score a model on a manifest, with one decoder or several: the library behind
``ctcasr evaluate``.

The acoustic model runs once per utterance whatever the number of decoders compared, so a
comparison measures the decoders and nothing else.
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ctcasr.bundle import Bundle
from ctcasr.decoding import get_decoder_class
from ctcasr.decoding.registry import option_parameters
from ctcasr.errors import ConfigError
from ctcasr.manifest import ManifestEntry, read_manifest
from ctcasr.metrics import ErrorReport, check_worst, error_report
from ctcasr.segment import SplitConfig
from ctcasr.transcribe import Failure, Transcriber, _decoder_failure


@dataclass
class Evaluation:
    # The per-utterance lists stay out of the repr: a notebook cell ending in evaluate() or
    # compare_decoders() printed every reference, hypothesis and path (21 kB for 300 clips).
    report: ErrorReport
    references: list[str] = field(repr=False)
    hypotheses: list[str] = field(repr=False)
    ids: list[str] = field(repr=False)
    failures: list[Failure]
    decoder: str = "greedy"
    decoder_options: dict[str, Any] = field(default_factory=dict)
    decode_ms: float = 0.0  # median milliseconds per utterance spent decoding
    rejected: int = 0
    skipped: list[str] = field(default_factory=list)  # manifest lines dropped by skip_bad
    not_commands: int = 0  # grammar: references that are not commands (right when rejected)


@dataclass(frozen=True)
class Pieces:
    """A long entry's output: one array per piece it was cut into, as ``transcribe`` cuts it."""

    log_probs: tuple[np.ndarray, ...]


@dataclass
class ScoredLogProbs:
    """A manifest's references with the acoustic model's output, computed once."""

    entries: list[ManifestEntry]
    log_probs: list[np.ndarray | Pieces | None]  # None where the audio could not be read
    failures: list[Failure]
    skipped: list[str] = field(default_factory=list)

    @property
    def references(self) -> list[str]:
        return [e.text for e in self.entries]

    def readable(self) -> ScoredLogProbs:
        """Only the entries whose audio was read, the others listed with the skipped lines:
        tuned with them, they counted as empty transcripts in the stored scores."""
        kept = [i for i, lp in enumerate(self.log_probs) if lp is not None]
        return ScoredLogProbs(
            [self.entries[i] for i in kept],
            [self.log_probs[i] for i in kept],
            [],
            [*self.skipped, *(f"{f.error} (audio not read)" for f in self.failures)],
        )

    @property
    def ids(self) -> list[str]:
        return [e.audio_filepath for e in self.entries]


def compute_log_probs(
    transcriber: Transcriber,
    manifest: str | os.PathLike[str],
    skip_bad: bool = False,
    normalize_text: bool = False,  # spell the references with normalize_text first
) -> ScoredLogProbs:
    """The acoustic model's output for every entry, read as ``transcribe`` reads it: digital
    silence is not shown to the model (it may hear words in it), audio under one analysis
    window is refused, and an entry longer than the transcriber's ``split.long_after`` is cut
    at its pauses into :class:`Pieces`, so the score is that of the transcripts users get."""
    from ctcasr.errors import CtcasrError

    report = read_manifest(manifest, transcriber.bundle.alphabet, skip_bad=skip_bad,
                           normalize=normalize_text)  # fmt: skip
    entries = report.entries
    nothing = np.zeros((0, transcriber.bundle.alphabet.num_classes), np.float32)
    log_probs: list[np.ndarray | Pieces | None] = [None] * len(entries)
    feats, todo, failures = [], [], []
    for i, entry in enumerate(entries):
        path = entry.audio_filepath
        got = transcriber.read(path)
        if isinstance(got, str):
            failures.append(Failure(path, got))
        elif isinstance(got, float):  # silence: no frames, and score_decoder says nothing
            log_probs[i] = nothing
        elif got is None:  # long: cut and run as transcribe does
            try:
                log_probs[i] = Pieces(tuple(lp for _, _, lp in transcriber.long_pieces(
                    path, None, [0.0])))  # fmt: skip
            except CtcasrError as exc:
                failures.append(Failure(path, str(exc)))
        else:
            feats.append(got[0])
            todo.append(i)
    for i, lp in zip(todo, transcriber.acoustic_model(feats), strict=True):
        log_probs[i] = lp
    return ScoredLogProbs(entries, log_probs, failures, report.skipped)


def options_for(name: str, options: Mapping[str, Any] | None) -> dict[str, Any]:
    """The subset of ``options`` decoder ``name`` takes (so shared flags can go to several),
    by the rule :func:`~ctcasr.decoding.registry.create_decoder` applies."""
    try:
        accepted = option_parameters(get_decoder_class(name))
    except (TypeError, ValueError):
        return dict(options or {})
    return {k: v for k, v in (options or {}).items() if k in accepted}


def _check_shared_options(decoders: Sequence[str], options: Mapping[str, Any] | None) -> None:
    """Options none of the compared decoders takes are an error, as for one decoder (they
    were dropped without a word: --alpha with greedy and beam, a missing --lm)."""
    taken: set[str] = set()
    for name in decoders:
        taken |= set(options_for(name, options))
    if unused := sorted(set(options or {}) - taken):
        raise ConfigError(f"none of the decoders {', '.join(decoders)} takes option(s) "
                          f"{', '.join(unused)}")  # fmt: skip


def score_decoder(
    transcriber: Transcriber, data: ScoredLogProbs, worst: int = 10
) -> Evaluation:
    """Decode precomputed log-probabilities with the transcriber's decoder and score them.
    Unreadable audio, and an utterance the decoder fails on, count as an empty transcript
    (all deletions) and are listed in ``failures``. A command grammar is scored on what it
    should output (:func:`command_view`)."""
    not_commands = 0
    if transcriber.decoder == "grammar":
        commands = set(transcriber.decoder_impl.commands)  # type: ignore[attr-defined]
        data = command_view(data, commands)
        not_commands = sum(not e.text for e, lp in zip(data.entries, data.log_probs, strict=True)
                           if not isinstance(lp, Pieces))  # fmt: skip
    hyps, times, rejected, failures = [], [], 0, list(data.failures)
    failed: list[int] = []
    for i, (lp, source) in enumerate(zip(data.log_probs, data.ids, strict=True)):
        if lp is None:
            failed.append(i)
            hyps.append("")
            continue
        if not isinstance(lp, Pieces) and not len(lp):
            # Digital silence: transcribe says nothing, not rejected, without asking the
            # decoder (grammar accepted a command in no frames at threshold 0, and rejected
            # every silent clip above it).
            hyps.append("")
            continue
        start = time.perf_counter()
        try:
            if isinstance(lp, Pieces):  # joined as transcribe joins a long file's pieces,
                # and rejected as its stitched transcript is: when no piece was accepted
                results = [transcriber.decode(piece) for piece in lp.log_probs]
                text = " ".join(r.text for r in results if r.text)
                refused = not text and any(r.rejected for r in results)
            else:
                result = transcriber.decode(lp)
                text, refused = result.text, result.rejected
        except Exception as exc:  # a plug-in decoder: that utterance fails, the run goes on
            failures.append(_decoder_failure(source, transcriber.decoder, exc))
            failed.append(i)
            text, refused = "", False
        times.append(time.perf_counter() - start)
        hyps.append(text)
        rejected += refused
    return Evaluation(
        error_report(data.references, hyps, data.ids, worst=worst, failed=failed),
        data.references,
        hyps,
        data.ids,
        failures,
        transcriber.decoder,
        dict(transcriber.decoder_options),
        float(np.median(times) * 1000) if times else 0.0,
        rejected,
        list(data.skipped),
        not_commands,
    )


def command_view(data: ScoredLogProbs, commands: Collection[str]) -> ScoredLogProbs:
    """The references a command recogniser should output: the command, or nothing for an
    utterance that is not one of them (it should be rejected). A false rejection is then a
    deletion, a wrong command a substitution and a false acceptance an insertion.

    A long entry, cut into pieces that each give a command or nothing, keeps its transcript:
    it holds a sequence of utterances, and blanking it would count every command recognised
    in it as a false acceptance."""
    known = set(commands)
    entries = [e if is_command(e.text, known) or isinstance(lp, Pieces) else replace(e, text="")
               for e, lp in zip(data.entries, data.log_probs, strict=True)]  # fmt: skip
    return replace(data, entries=entries)


def is_command(text: str, commands: Collection[str]) -> bool:
    """Whether a reference is one of the commands, spaces aside as scoring sets them aside
    ("yes " counted as not a command, and its recognition as a false acceptance)."""
    return " ".join(text.split()) in commands


def evaluate(
    manifest: str | os.PathLike[str],
    model: Bundle | str | os.PathLike[str] | None = None,
    *,
    decoder: str | None = None,
    decoder_options: Mapping[str, Any] | None = None,
    batch_size: int = 32,
    worst: int = 10,
    skip_bad: bool = False,
    split: SplitConfig | None = SplitConfig(),  # None: score long entries whole
    normalize_text: bool = False,  # references spelled by normalize_text, as the model spells
) -> Evaluation:
    """Transcribe every manifest entry with one decoder and score it."""
    check_worst(worst)
    transcriber = Transcriber(
        model, decoder=decoder, batch_size=batch_size, decoder_options=decoder_options,
        split=split,
    )
    data = compute_log_probs(transcriber, manifest, skip_bad, normalize_text)
    return score_decoder(transcriber, data, worst)


def compare_decoders(
    manifest: str | os.PathLike[str],
    decoders: Sequence[str],
    model: Bundle | str | os.PathLike[str] | None = None,
    *,
    decoder_options: Mapping[str, Any] | None = None,
    batch_size: int = 32,
    worst: int = 10,
    skip_bad: bool = False,
    split: SplitConfig | None = SplitConfig(),  # None: score long entries whole
    normalize_text: bool = False,  # references spelled by normalize_text, as the model spells
) -> list[Evaluation]:
    """Several decoders on the same acoustic-model output; each decoder gets the options it
    takes from ``decoder_options`` on top of the bundle's stored settings. (One name alone,
    ``"beam"``, was read letter by letter as "unknown decoder 'b'"; none, as an IndexError.)

    Every decoder is made before the acoustic model runs: a later one's bad option (an LM
    that is not one, grammar without commands) failed only after every clip was read."""
    decoders = [decoders] if isinstance(decoders, str) else list(decoders)
    if not decoders:
        raise ConfigError("no decoders to compare")
    check_worst(worst)
    _check_shared_options(decoders, decoder_options)
    first = Transcriber(
        model,
        decoder=decoders[0],
        batch_size=batch_size,
        decoder_options=options_for(decoders[0], decoder_options),
        split=split,
    )
    others = [Transcriber(first.bundle, decoder=name,
                          decoder_options=options_for(name, decoder_options))
              for name in decoders[1:]]  # fmt: skip
    data = compute_log_probs(first, manifest, skip_bad, normalize_text)
    results = [score_decoder(first, data, worst)]
    for transcriber in others:
        transcriber._model = first._model  # share the loaded acoustic model
        results.append(score_decoder(transcriber, data, worst))
    return results
