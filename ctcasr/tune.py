"""Search decoder weights on a dev set and store the best in the bundle: ``ctcasr tune``.

The acoustic model runs once; every grid point only re-decodes. For the ``kenlm`` decoder the
grid is LM weight ``alpha`` x word bonus ``beta`` (and the hotword weight when hotwords are
given); for ``beam`` it is the hotword weight; for ``grammar`` the rejection threshold. Ties go
to the smaller CER, then to the setting nearest the one before tuning. A ``kenlm`` or ``beam``
best that greedy decoding beats on the same dev set is not stored. Tune on a dev set: a test
set used here stops being one.

A command recogniser should output the command that was said and nothing for anything else, so
``grammar`` is scored against that (:func:`ctcasr.evaluate.command_view`) by word error rate:
a false rejection, a wrong command and a false acceptance each cost one error per word of the
commands involved (one error each for one-word commands).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ctcasr.bundle import (
    PRETRAINED_DIR,
    Bundle,
    check_replaceable,
    load_bundle,
    read_card,
    store_decoder_settings,
)
from ctcasr.decoding import get_decoder_class, implied_decoder
from ctcasr.decoding.hotwords import has_own_weight, hotword_items
from ctcasr.errors import ConfigError, DecoderOutputError
from ctcasr.evaluate import Evaluation, compute_log_probs, is_command, score_decoder
from ctcasr.segment import SplitConfig
from ctcasr.transcribe import Transcriber

DEFAULT_ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0)
DEFAULT_BETAS = (-1.0, 0.0, 0.5, 1.0, 2.0, 3.0)
DEFAULT_HOTWORD_WEIGHTS = (0.0, 1.0, 2.0, 5.0, 10.0)
# Decoders a bundle's default is tuned as when none is named: those with weights of their own.
TUNED_BY_DEFAULT = ("kenlm", "grammar")
# Free-text decoders whose tuned best must not be worse than greedy decoding to be stored: an
# LM can make dev worse at every weight (an undertrained model's words are out of its
# vocabulary), and stored, it made every later transcription worse.
CHECKED_AGAINST_GREEDY = ("kenlm", "beam")
DEFAULT_THRESHOLDS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@dataclass
class Trial:
    params: dict[str, float]
    wer: float
    cer: float


@dataclass
class TuneResult:
    decoder: str
    best: Trial
    baseline: Trial  # the decoder's settings before tuning
    trials: list[Trial] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)  # everything stored
    saved_to: Path | None = None
    skipped: list[str] = field(default_factory=list)  # dev manifest lines dropped by skip_bad
    greedy: Trial | None = None  # greedy decoding on the same dev set, for CHECKED_AGAINST_GREEDY

    @property
    def worse_than_greedy(self) -> bool:
        return self.greedy is not None and (self.best.wer, self.best.cer) > (
            self.greedy.wer, self.greedy.cer)  # fmt: skip

    def summary(self) -> str:
        params = ", ".join(f"{k}={v:g}" for k, v in self.best.params.items())
        if self.best is self.baseline:
            text = (
                f"{self.decoder}: kept {params}: WER {self.best.wer:.2%} CER "
                f"{self.best.cer:.2%}; none of the {len(self.trials)} settings tried did better"
            )
        else:
            text = (
                f"{self.decoder}: best {params}: WER {self.best.wer:.2%} CER {self.best.cer:.2%} "
                f"(before: WER {self.baseline.wer:.2%} CER {self.baseline.cer:.2%}; "
                f"{len(self.trials)} settings tried)"
            )
        if self.worse_than_greedy:
            assert self.greedy is not None
            text += (f"\nnot stored: greedy decoding does better on this dev set (WER "
                     f"{self.greedy.wer:.2%} CER {self.greedy.cer:.2%}), so the bundle's "
                     "decoder settings are left as they were")  # fmt: skip
        return text


def tune(
    manifest: str | os.PathLike[str],
    model: Bundle | str | os.PathLike[str] | None = None,
    *,
    decoder: str | None = None,
    decoder_options: Mapping[str, Any] | None = None,
    alphas: Sequence[float] | None = None,
    betas: Sequence[float] | None = None,
    hotword_weights: Sequence[float] | None = None,
    thresholds: Sequence[float] | None = None,
    save: bool = True,
    output: str | os.PathLike[str] | None = None,
    skip_bad: bool = False,
    split: SplitConfig | None = SplitConfig(),  # long dev entries cut as transcribe cuts them
    normalize_text: bool = False,  # dev references spelled by normalize_text first
    against_greedy: bool = True,  # store a kenlm/beam best only if greedy does no better
) -> TuneResult:
    if decoder is None:  # what the options name, else the bundle's own when it has weights
        model = model if isinstance(model, Bundle) else load_bundle(model)
        own = model.decoder.get("name", "greedy")
        decoder = implied_decoder(decoder_options) or (
            own if own in TUNED_BY_DEFAULT else "kenlm")
    transcriber = Transcriber(model, decoder=decoder, decoder_options=decoder_options,
                              split=split)  # fmt: skip
    impl = transcriber.decoder_impl
    specs = hotword_items(transcriber.decoder_options.get("hotwords"))
    # Only hotwords without a weight of their own take hotword_weight: with none such, the
    # trials all ran alike and the first was reported best.
    has_hotwords = bool(getattr(impl, "hotwords", None)) and not all(map(has_own_weight, specs))
    grid: dict[str, Sequence[float]] = {}
    if decoder == "kenlm":
        grid["alpha"] = alphas or DEFAULT_ALPHAS
        grid["beta"] = betas or DEFAULT_BETAS
    elif alphas or betas:
        raise ConfigError(f"decoder {decoder!r} has no LM weights to tune (alpha/beta)")
    if decoder == "grammar":
        grid["threshold"] = thresholds or DEFAULT_THRESHOLDS
    elif thresholds:
        raise ConfigError(f"decoder {decoder!r} has no rejection threshold to tune")
    if has_hotwords:
        if not isinstance(getattr(impl, "hotword_weight", None), int | float):
            # a plug-in taking hotwords without the weight: an AttributeError traceback
            raise ConfigError(f"decoder {decoder!r} takes hotwords but has no numeric "
                              "hotword_weight attribute to tune")  # fmt: skip
        grid["hotword_weight"] = hotword_weights or DEFAULT_HOTWORD_WEIGHTS
    elif hotword_weights and getattr(impl, "hotwords", None):
        raise ConfigError("every hotword has a weight of its own (PHRASE:WEIGHT): "
                          "--hotword-weights (hotword_weights) would change nothing; give hotwords "
                          "without weights to tune theirs")  # fmt: skip
    elif hotword_weights:
        raise ConfigError("give hotwords to tune their weight")
    if not grid:
        raise ConfigError(
            f"nothing to tune for decoder {decoder!r}: tune 'kenlm' (alpha, beta), 'grammar' "
            "(its rejection threshold) or give hotwords (their weight)"
        )

    if save and output is None and transcriber.bundle.path.resolve().is_relative_to(
        PRETRAINED_DIR.resolve()
    ):
        # Tuned in place, it would change every later run's defaults from inside the installed
        # package (and fail where site-packages is read-only).
        raise ConfigError(
            f"{transcriber.bundle.path}: the bundled model is not tuned in place; "
            "pass --output DIR (output=DIR) for a tuned copy, or --no-save (save=False)"
        )
    if save:  # before the search, not after it
        check_replaceable(output if output is not None else transcriber.bundle.path)
        read_card(transcriber.bundle.path)  # the card the tune's note goes into
        _storable_options(decoder, impl)
    data = compute_log_probs(transcriber, manifest, skip_bad, normalize_text)
    if data.failures and (not skip_bad or len(data.failures) == len(data.entries)):
        # Weights tuned on the part of a dev set that could be read would be stored as if
        # tuned on all of it (and on none of it, when nothing could be read).
        first = data.failures[0].error
        raise ConfigError(f"{manifest}: {len(data.failures)} of {len(data.entries)} dev audio "
                          f"files cannot be read (first: {first}); nothing tuned")  # fmt: skip
    data = data.readable()  # skip_bad: unreadable audio is dropped and listed, not scored
    if decoder != "grammar" and not any(e.text.strip() for e in data.entries):
        # The rates are then error counts (evaluate prints them as n/a): every setting was
        # ranked by how little it output, and the quietest stored. Training refuses such a
        # dev set too. (A grammar is scored on its commands: checked below.)
        raise ConfigError(f"{manifest}: every dev transcript is empty: no words to score the "
                          "settings by (WER and CER n/a); nothing tuned")  # fmt: skip
    commands = set(getattr(impl, "commands", ()))
    if decoder == "grammar" and not any(is_command(e.text, commands) for e in data.entries):
        raise ConfigError("no dev utterance is one of the commands: nothing to tune against")
    baseline_eval = score_decoder(transcriber, data)
    _refuse_failures(baseline_eval, {})
    baseline = Trial(
        {k: float(getattr(impl, k)) for k in grid},
        baseline_eval.report.wer,
        baseline_eval.report.cer,
    )
    trials: list[Trial] = []
    base_options = dict(transcriber.decoder_options)
    for values in itertools.product(*grid.values()):
        params = dict(zip(grid, (float(v) for v in values), strict=True))
        if "hotword_weight" in params:  # hotword weights are baked in: rebuild
            candidate = Transcriber(
                transcriber.bundle,
                decoder=decoder,
                decoder_options={**base_options, **params},
            )
        else:
            candidate = transcriber
            impl.set_weights(**params)  # type: ignore[attr-defined]
        ev = score_decoder(candidate, data)
        _refuse_failures(ev, params)
        trials.append(Trial(params, ev.report.wer, ev.report.cer))
    # Ties (common on a small dev set) go to the setting nearest the one before tuning.
    best = min(
        trials,
        key=lambda t: (
            t.wer,
            t.cer,
            sum(abs(v - baseline.params[k]) for k, v in t.params.items()),
        ),
    )
    # A grid that missed the settings before tuning stored worse ones; and on a tie the
    # settings before tuning are the nearest to themselves (a tied grid value was stored).
    if (baseline.wer, baseline.cer) <= (best.wer, best.cer):
        best = baseline
    final = Transcriber(
        transcriber.bundle, decoder=decoder, decoder_options={**base_options, **best.params}
    )
    options = _storable_options(decoder, final.decoder_impl)
    result = TuneResult(decoder, best, baseline, trials, options, skipped=list(data.skipped))
    if against_greedy and decoder in CHECKED_AGAINST_GREEDY:
        greedy = score_decoder(Transcriber(transcriber.bundle, decoder="greedy", split=split),
                               data).report  # fmt: skip
        result.greedy = Trial({}, greedy.wer, greedy.cer)
    if save and not result.worse_than_greedy:
        path_options = getattr(get_decoder_class(decoder), "path_options", ())
        files = {key: Path(options[key]) for key in path_options
                 if isinstance(options.get(key), str)}  # fmt: skip
        result.saved_to = store_decoder_settings(
            transcriber.bundle,
            decoder,
            options,
            path_options=path_options,
            output=output,
            card_note=_card_note(result, manifest, len(data.entries), files,
                                 transcriber.bundle.path),
            metadata={
                "decoder_tuning": {
                    "manifest": str(manifest),
                    "utterances": len(data.entries),
                    "wer": best.wer,
                    "cer": best.cer,
                    "baseline_wer": baseline.wer,
                    "baseline_cer": baseline.cer,
                    "params": best.params,
                }
            },
        )
    return result


def _storable_options(name: str, impl: Any) -> dict[str, Any]:
    """``impl.options()`` as a bundle stores it: JSON values, numpy numbers as Python ones
    and paths as text. A plug-in's numpy float (or anything JSON cannot hold) ended ``ctcasr
    tune`` in a traceback ("Object of type float32 is not JSON serializable") after the whole
    search; what JSON cannot hold is now one line naming the decoder and the option."""
    import json

    try:
        options = impl.options()
    except Exception as exc:
        raise DecoderOutputError(f"decoder {name!r}: options() failed "
                                 f"({type(exc).__name__}: {exc})") from None  # fmt: skip
    if not isinstance(options, Mapping) or not all(isinstance(k, str) for k in options):
        what = type(options).__name__
        raise DecoderOutputError(f"decoder {name!r}: options() returned {what}, not a dict "
                                 "of named options")  # fmt: skip

    def plain(value: Any) -> Any:
        if isinstance(value, np.generic | np.ndarray):
            return value.tolist()
        if isinstance(value, os.PathLike):
            return os.fspath(value)
        raise TypeError(f"{type(value).__name__} is not a JSON value")

    stored = {}
    for key, value in options.items():
        try:
            stored[key] = json.loads(json.dumps(value, default=plain, allow_nan=False))
        except (TypeError, ValueError) as exc:
            raise DecoderOutputError(f"decoder {name!r}: option {key} from options() cannot be "
                                     f"stored in a bundle ({exc})") from None  # fmt: skip
    return stored


def _card_note(result: TuneResult, manifest: str | os.PathLike[str], utterances: int,
               files: Mapping[str, Path], home: Path) -> str:  # fmt: skip
    """The model card's section on this tune (``files``: its decoder's files, an LM, from
    ``home`` or copied in): the card described the decoder defaults and scores from before
    it, in a copy that no longer had them."""

    def params(trial: Trial) -> str:
        return ", ".join(f"{k}={v:g}" for k, v in trial.params.items())

    named = [f"{key}: the bundle's `{path.name}`" if path.resolve().parent == home.resolve()
             else f"{key} from `{path}`" for key, path in files.items()]  # fmt: skip
    decoder = f"`{result.decoder}`" + (f" ({'; '.join(named)})" if named else "")
    on = f"`{manifest}` ({utterances} utterances)"
    scores = f"dev WER {result.best.wer:.2%} CER {result.best.cer:.2%}"
    if result.best is result.baseline:
        how = (f": the settings it started from, which none of the {len(result.trials)} "
               f"settings tried on {on} beat; {scores}")  # fmt: skip
    else:
        how = (f", chosen from {len(result.trials)} settings on {on}: {scores}, against WER "
               f"{result.baseline.wer:.2%} CER {result.baseline.cer:.2%} with the settings it "
               f"started from ({params(result.baseline)})")  # fmt: skip
    return (
        "## Decoder re-tuned\n\n"
        f"`ctcasr tune` set the default decoder to {decoder} with {params(result.best)}{how}. "
        "This supersedes what the card says above about the default decoder and its tuning; "
        "scores above measured with the decoder are of the settings before this tune.\n"
    )


def _refuse_failures(evaluation: Evaluation, params: dict[str, float]) -> None:
    """A decoder that fails on dev utterances scores them as empty: weights chosen so would
    be stored as if tuned on all of them."""
    if evaluation.failures:
        at = ", ".join(f"{k}={v:g}" for k, v in params.items()) or "its starting settings"
        raise ConfigError(f"decoder {evaluation.decoder!r} failed on {len(evaluation.failures)} "
                          f"dev utterance(s) at {at} (first: {evaluation.failures[0].error}); "
                          "nothing tuned")  # fmt: skip
