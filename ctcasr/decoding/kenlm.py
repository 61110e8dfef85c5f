"""Beam search fused with a KenLM n-gram model, through pyctcdecode.

pyctcdecode does the search and the LM fusion (``alpha`` weighs the LM, ``beta`` rewards each
word). ctcasr adds what it lacks: weighted multi-word hotwords scored in constant time per call
(:class:`~ctcasr.decoding.hotwords.HotwordScorer` is passed in place of pyctcdecode's regex
scorer), checks of the unigram list against the model's alphabet, LM loading that turns broken
files into one-line errors, and the same timings and confidences as the other decoders.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import warnings
import weakref
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from ctcasr.decoding.align import forced_align
from ctcasr.decoding.base import (
    DEFAULT_FRAME_SECONDS,
    Decoder,
    Hypothesis,
    build_hypothesis,
    check_log_probs,
    check_nbest,
    check_option_type,
)
from ctcasr.decoding.beam import check_search_options
from ctcasr.decoding.hotwords import (
    DEFAULT_HOTWORD_WEIGHT,
    HotwordScorer,
    HotwordSpec,
    format_weight,
    parse_hotwords,
)
from ctcasr.errors import ConfigError, CtcasrError, CtcasrWarning
from ctcasr.text import Alphabet
from ctcasr.utils import SharedSetting, file_name, first_few

DEFAULT_ALPHA = 0.5
DEFAULT_BETA = 1.0
_MIN_LOGP = float(np.log(1e-15))  # pyctcdecode's clip
# The LMs loaded last, most recent last; a decoder keeps its own LM alive however long it
# lives, so this only spares the loading for the next decoder made on one of these files.
_LM_CACHE: OrderedDict[tuple[str, float], Any] = OrderedDict()
LM_CACHE_SIZE = 4
_VOCAB_CHECKED: set[tuple[str, float, tuple[str, ...]]] = set()


def read_word_list(path: str | os.PathLike[str], alphabet: Alphabet) -> list[str]:
    """Unigrams from a word list (one per line) or an ARPA file.

    A word list is normalised as transcripts and hotwords are ("Zero" -> "zero", "2" ->
    "two", a line of several words gives each), and a word the model cannot spell is an
    error. An ARPA's 1-grams are the LM's own tokens: those the model cannot spell are
    skipped (named in a warning), and an LM none of whose words it can spell (an upper-case
    LM, say) is refused.
    """
    from ctcasr.lm import is_arpa, read_unigrams, read_word_lines
    from ctcasr.text import normalize_text

    path = file_name(path, "word list")
    arpa = is_arpa(path)  # False for a missing file, which the reads below refuse
    # Each read refuses binaries and text that is not UTF-8; the file is read once.
    lines = [] if arpa else read_word_lines(path)
    words = read_unigrams(path) if arpa else [w for _, w in lines]
    if not words:  # taken as no list at all, which lets the LM emit any word
        raise ConfigError(f"{path}: word list holds no words")
    if arpa:
        return _spellable_lm_words(path, words, alphabet)
    found: dict[str, None] = {}
    for lineno, line in lines:
        try:
            text = normalize_text(line, alphabet, strict=True)
        except CtcasrError as exc:
            raise ConfigError(f"{path}:{lineno}: word {line!r}: {exc}") from None
        if not text.strip():
            raise ConfigError(f"{path}:{lineno}: word {line!r} is empty after normalisation")
        found.update(dict.fromkeys(text.split()))
    return list(found)


def _spellable_lm_words(path: Path, words: list[str], alphabet: Alphabet) -> list[str]:
    """The LM's words the model can spell; an LM with none (an upper-case one) is refused,
    since every word it would be asked about scores as unknown. Some unspellable (an LM made
    by another tool from text as written: "I", "Paris") are named in one warning: they were
    skipped without a word, and the model's "i" and "paris" scored as unknown words."""
    spellable = [w for w in words if not alphabet.unknown_chars(w)]
    if words and not spellable:
        raise ConfigError(
            f"{path}: the model can spell none of the LM's {len(words)} words (e.g. "
            f"{words[0]!r}); build the LM from normalised text (ctcasr lm build)"
        )
    if len(spellable) < len(words):
        unspellable = [w for w in words if alphabet.unknown_chars(w)]
        warnings.warn(f"{path}: {len(unspellable)} of the LM's {len(words)} words have "
                      "characters the model cannot emit, so they are never output (build the "
                      f"LM from normalised text: ctcasr lm build): {first_few(unspellable)}",
                      CtcasrWarning, stacklevel=2)  # fmt: skip
    return spellable


def _check_binary_vocabulary(path: Path, alphabet: Alphabet) -> None:
    """Refuse a binary LM none of whose stored words the model can spell, reading them once
    per file version and alphabet (a decoder made per request would read them each time)."""
    from ctcasr.lm import binary_vocabulary

    key = (str(path.resolve()), path.stat().st_mtime, alphabet.labels)
    if key in _VOCAB_CHECKED:
        return
    stored = binary_vocabulary(path)
    if stored is not None:
        _spellable_lm_words(path, stored, alphabet)
    if len(_VOCAB_CHECKED) > 64:
        _VOCAB_CHECKED.clear()
    _VOCAB_CHECKED.add(key)


def _weight(decoder: str, name: str, value: object) -> float:
    """An LM weight: a number as create_decoder checks it (``alpha="0.5"`` was taken as 0.5
    built directly, refused through create_decoder), and finite (NaN broke the search, inf
    gave garbage)."""
    check_option_type(decoder, name, value, "float")
    weight = float(value)  # type: ignore[arg-type]
    if not math.isfinite(weight):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return weight


def _load_kenlm(path: Path) -> Any:
    """A kenlm.Model, loaded once per file version (ARPA loading takes a while) while it is
    among the :data:`LM_CACHE_SIZE` last used. A new version replaces the old one's entry (a
    service whose LM is rebuilt now and then kept every version in memory), and the least
    recently used goes past the limit: a service decoding each request with an LM of its own
    (a temporary file, deleted after) kept every one loaded, and a binary LM its open file,
    till the process ran out of memory or file descriptors."""
    from ctcasr.lm import load_lm

    key = (str(path.resolve()), path.stat().st_mtime)
    model = _LM_CACHE.get(key)
    if model is None:
        model = load_lm(path)
        # list(): one step under the GIL, where a comprehension over the cache itself failed
        # with "mutated during iteration" as another thread's load changed it.
        for old in [k for k in list(_LM_CACHE) if k[0] == key[0]]:
            _LM_CACHE.pop(old, None)
        _LM_CACHE[key] = model
    # Threads share the cache: another one's loads may have evicted this LM since the lookup
    # (it is still ours to use), or emptied the cache past the limit meanwhile.
    with contextlib.suppress(KeyError):
        _LM_CACHE.move_to_end(key)
        while len(_LM_CACHE) > LM_CACHE_SIZE:
            _LM_CACHE.popitem(last=False)
    return model



def _mute_pyctcdecode() -> int:
    logger = logging.getLogger("pyctcdecode")
    level = logger.level
    logger.setLevel(logging.ERROR)
    return level


# pyctcdecode's logger at ERROR while decoders are made (in request threads that overlap), the
# host's own level back when the last maker leaves.
_QUIET_PYCTCDECODE = SharedSetting(_mute_pyctcdecode, logging.getLogger("pyctcdecode").setLevel)


class KenLMDecoder(Decoder):
    """Beam search with a KenLM n-gram LM (ARPA or binary) via pyctcdecode, plus hotwords."""

    name = "kenlm"
    path_options = ("lm", "unigrams")
    required_options = ("lm",)
    tied_options: ClassVar[dict[str, str]] = {"unigrams": "lm"}  # the stored LM's words

    def __init__(
        self,
        alphabet: Alphabet,
        *,
        frame_seconds: float = DEFAULT_FRAME_SECONDS,
        lm: str | os.PathLike[str] | None = None,
        unigrams: Sequence[str] | str | os.PathLike[str] | None = None,
        alpha: float = DEFAULT_ALPHA,
        beta: float = DEFAULT_BETA,
        beam_width: int = 32,
        beam_prune_logp: float = -10.0,
        token_min_logp: float = -5.0,
        hotwords: Iterable[HotwordSpec] | Mapping[str, float] | None = None,
        hotword_weight: float = DEFAULT_HOTWORD_WEIGHT,
    ) -> None:
        super().__init__(alphabet, frame_seconds=frame_seconds)
        if lm is None:
            raise ConfigError("the kenlm decoder needs a language model (--lm FILE; lm=PATH "
                              "from Python)")
        check_search_options(self.name, beam_width, beam_prune_logp, token_min_logp,
                             hotword_weight)  # fmt: skip
        self.alpha, self.beta = _weight(self.name, "alpha", alpha), _weight(self.name, "beta", beta)
        if beam_width < 1:
            raise ConfigError(f"beam_width must be at least 1, got {beam_width}")
        if " " not in alphabet:
            raise ConfigError("the kenlm decoder needs a space symbol in the alphabet")
        from pyctcdecode.alphabet import Alphabet as PyAlphabet
        from pyctcdecode.decoder import BeamSearchDecoderCTC
        from pyctcdecode.language_model import LanguageModel

        from ctcasr.lm import check_regular_file, is_arpa

        self.lm_path = file_name(lm, "lm")
        check_regular_file(self.lm_path, "language model")
        kenlm_model = _load_kenlm(self.lm_path)
        if unigrams is None:
            words = read_word_list(self.lm_path, alphabet) if is_arpa(self.lm_path) else None
            if words is None:
                _check_binary_vocabulary(self.lm_path, alphabet)
            self.unigrams_source: str | None = None
        elif isinstance(unigrams, str | os.PathLike):
            words = read_word_list(file_name(unigrams, "unigrams"), alphabet)
            self.unigrams_source = str(unigrams)
        else:
            words = list(unigrams)
            for word in words:
                if alphabet.unknown_chars(word):
                    raise ConfigError(
                        f"unigram {word!r} has characters the model cannot emit: "
                        f"{''.join(alphabet.unknown_chars(word))!r}"
                    )
            self.unigrams_source = None
        missing = [w for w in words if w not in kenlm_model] if words else []
        if words and len(missing) == len(words):
            # A word list for another LM: every word would score as unknown, silently.
            raise ConfigError(
                f"{self.unigrams_source or 'unigrams'}: none of its {len(words)} words is in "
                f"the LM {self.lm_path}"
            )
        if missing:
            warnings.warn(self._missing_words(missing, len(words or ())), CtcasrWarning,
                          stacklevel=2)  # fmt: skip
        self.beam_width = int(beam_width)
        self.beam_prune_logp = float(beam_prune_logp)
        self.token_min_logp = float(token_min_logp)
        self.hotword_weight = float(hotword_weight)
        self.hotwords = parse_hotwords(hotwords, alphabet, self.hotword_weight)
        self.scorer = HotwordScorer(self.hotwords)
        if note := self._missing_hotwords(words, kenlm_model, listed=unigrams is not None):
            warnings.warn(note, CtcasrWarning, stacklevel=2)
        labels = [*alphabet.labels, ""]
        with _QUIET_PYCTCDECODE.held():  # small vocabularies are the point here, not a warning
            language_model = LanguageModel(kenlm_model, words, alpha=self.alpha, beta=self.beta)
            self._decoder = BeamSearchDecoderCTC(PyAlphabet.build_alphabet(labels), language_model)
        # pyctcdecode keeps each decoder's LanguageModel (its word set and character trie) in
        # a class-level dict until cleanup() is called: a decoder made per request (hotwords
        # of its own) held one more for as long as the process ran.
        weakref.finalize(self, self._decoder.cleanup)

    def _missing_words(self, missing: list[str], total: int) -> str:
        """pyctcdecode drops a listed word the LM lacks (its warning is muted in __init__)
        and penalises it as unknown, so it is rarely output: say which, in one line."""
        return (f"{self.unigrams_source or 'unigrams'}: {len(missing)} of its {total} words are "
                f"not in the LM {self.lm_path} and are scored as unknown words: "
                f"{first_few(missing)}")

    def _missing_hotwords(self, words: list[str] | None, kenlm_model: Any,
                          listed: bool) -> str | None:  # fmt: skip
        """pyctcdecode scores a finished word outside the LM (or outside the word list, when
        one is given) as unknown, hotword or not, so such a hotword's weight first has to make
        up for that penalty (about -11.5 at alpha 0.5, against a default weight of 5): say
        which, in one line."""
        every = list(dict.fromkeys(w for h in self.hotwords for w in h.phrase.split(" ")))
        vocabulary = set(words) if words else None
        missing = [w for w in every
                   if w not in kenlm_model or (vocabulary is not None and w not in vocabulary)]
        if not missing:
            return None
        where = f"the LM {self.lm_path}"
        if listed:  # the words pyctcdecode knows are those in both
            where = f"{self.unigrams_source or 'the unigrams'} or not in {where}"
        return (f"hotwords not in {where}, so scored as unknown words (a penalty their weight "
                f"must make up for): {first_few(missing)}")  # fmt: skip

    def options(self) -> dict[str, Any]:
        opts: dict[str, Any] = {
            "lm": str(self.lm_path),
            "alpha": self.alpha,
            "beta": self.beta,
            "beam_width": self.beam_width,
            "beam_prune_logp": self.beam_prune_logp,
            "token_min_logp": self.token_min_logp,
        }
        if self.unigrams_source:
            opts["unigrams"] = self.unigrams_source
        if self.hotwords:
            opts["hotwords"] = [f"{h.phrase}:{format_weight(h.weight)}" for h in self.hotwords]
        return opts

    def set_weights(self, alpha: float | None = None, beta: float | None = None) -> None:
        """Change the LM weights without reloading the LM (what ``ctcasr tune`` does)."""
        if alpha is not None:
            self.alpha = _weight(self.name, "alpha", alpha)
        if beta is not None:
            self.beta = _weight(self.name, "beta", beta)
        self._decoder.reset_params(alpha=self.alpha, beta=self.beta)

    def decode(self, log_probs: np.ndarray, nbest: int = 1) -> list[Hypothesis]:
        check_nbest(nbest)
        log_probs = check_log_probs(log_probs, self.alphabet)
        if log_probs.shape[0] == 0:
            return [Hypothesis("", 0.0, 1.0)]
        self.scorer.reset()
        beams = self._decoder._decode_logits(  # the documented entry point builds a regex scorer
            np.maximum(log_probs.astype(np.float64), _MIN_LOGP),
            beam_width=max(self.beam_width, nbest),
            beam_prune_logp=self.beam_prune_logp,
            token_min_logp=self.token_min_logp,
            prune_history=False,
            # ours speaks the interface of pyctcdecode's scorer (see ctcasr.decoding.hotwords)
            hotword_scorer=self.scorer,  # type: ignore[arg-type]
        )
        if self.hotwords:
            # pyctcdecode's final scoring keeps the share a hotword phrase earns part-way
            # through: "mine" would end with half of "mine two"'s bonus. A finished
            # transcript keeps completed phrases only, as in ctcasr's own beam search.
            beams = sorted(
                ((t, s, f, lg, c - self.scorer.unfinished(t)) for t, s, f, lg, c in beams),
                key=lambda b: -b[4],
            )
        blank = self.alphabet.blank_index
        out: list[Hypothesis] = []
        seen: set[str] = set()
        for text, _state, _word_frames, _logit_score, combined in beams:
            if text in seen:
                continue
            seen.add(text)
            ids = self.alphabet.encode(text)
            frames = forced_align(log_probs, ids, blank, self.alphabet.space_index)
            if frames is None:
                out.append(Hypothesis(text, float(combined), 0.0))
            else:
                out.append(
                    build_hypothesis(
                        ids, frames, log_probs, self.alphabet, self.frame_seconds, combined
                    )
                )
            if len(out) == nbest:
                break
        return out or [Hypothesis("", 0.0, 0.0)]
