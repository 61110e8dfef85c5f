"""Finding decoders by name: the built-ins plus whatever installed packages declare.

A package adds a decoder by naming a :class:`~ctcasr.decoding.base.Decoder` subclass in its
own ``pyproject.toml``::

    [project.entry-points."ctcasr.decoders"]
    mydecoder = "my_package.module:MyDecoder"

after which ``ctcasr transcribe --decoder mydecoder`` and ``ctcasr decoders`` see it.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from ctcasr.decoding.base import DEFAULT_FRAME_SECONDS, Decoder, check_option_type
from ctcasr.errors import ConfigError, CtcasrError
from ctcasr.text import Alphabet

ENTRY_POINT_GROUP = "ctcasr.decoders"
BUILTIN_DECODERS = {
    "greedy": "ctcasr.decoding.greedy:GreedyDecoder",
    "beam": "ctcasr.decoding.beam:BeamDecoder",
    "kenlm": "ctcasr.decoding.kenlm:KenLMDecoder",
    "grammar": "ctcasr.decoding.grammar:GrammarDecoder",
}


@dataclass(frozen=True)
class DecoderInfo:
    name: str
    target: str  # "module:attribute"
    package: str  # the distribution that declares it

    def load(self) -> type[Decoder]:
        module_name, _, attr = self.target.partition(":")
        try:
            obj: Any = import_module(module_name)
            for part in attr.split("."):
                obj = getattr(obj, part)
        except Exception as exc:  # a broken plug-in must not take the others down
            raise ConfigError(
                f"decoder {self.name!r} from {self.package} failed to load "
                f"({type(exc).__name__}: {exc})"
            ) from None
        # A class with decode() that is no Decoder, or a factory function, failed later as
        # "NotADecoder() takes no arguments", naming neither the plug-in's fault nor the fix.
        if not (isinstance(obj, type) and issubclass(obj, Decoder)):
            what = "" if isinstance(obj, type) else f"a {type(obj).__name__}, "
            raise ConfigError(f"decoder {self.name!r} ({self.target}) is {what}not a subclass "
                              "of ctcasr.decoding.Decoder")  # fmt: skip
        return obj

    def summary(self) -> str:
        """First paragraph of the decoder's own docstring ("" without one), or why it cannot
        be loaded. (inspect.getdoc inherits: a plug-in class without a docstring was listed
        with the base class's "Base class for decoders ...".)"""
        try:
            obj = self.load()
        except ConfigError as exc:
            return f"unavailable: {exc}"
        doc = vars(obj).get("__doc__") if isinstance(obj, type) else inspect.getdoc(obj)
        if not isinstance(doc, str):
            return ""
        return " ".join(inspect.cleandoc(doc).split("\n\n")[0].split())

    def options(self) -> dict[str, Any]:
        """Every option :func:`create_decoder` passes on, with its default (:data:`REQUIRED`
        where there is none), from the constructor's signature."""
        try:
            cls = self.load()
            params = option_parameters(cls)
        except (ConfigError, TypeError, ValueError):
            return {}
        # Options whose None default means "none given, which is an error" (kenlm's lm).
        required = set(getattr(cls, "required_options", ()))
        return {
            name: (REQUIRED if p.default is inspect.Parameter.empty or name in required
                   else p.default)
            for name, p in params.items()
        }  # fmt: skip


class _Required:
    """The default shown for an option a decoder cannot do without."""

    def __repr__(self) -> str:
        return "<required>"


REQUIRED: Any = _Required()


def option_parameters(cls: type[Decoder]) -> dict[str, inspect.Parameter]:
    """The constructor parameters a user sets by name: all but the alphabet (the first,
    passed by position), ``frame_seconds`` (the model's) and catch-alls. Plug-ins that take
    options positionally-or-by-keyword list them too, not only keyword-only ones."""
    params = list(inspect.signature(cls).parameters.values())
    if params and params[0].kind in (
        inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD
    ):
        params = params[1:]
    return {
        p.name: p
        for p in params
        if p.name != "frame_seconds"
        and p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }


def unknown_options(cls: type[Decoder], keys: Iterable[str]
                    ) -> tuple[list[str], dict[str, inspect.Parameter]]:  # fmt: skip
    """Those of ``keys`` that ``cls`` does not take, and the options it does take (none
    unknown for a decoder taking ``**options``, or one whose signature is empty or cannot be
    read)."""
    try:
        signature = inspect.signature(cls).parameters
        known = option_parameters(cls)
    except (TypeError, ValueError):
        return [], {}
    if not signature or any(p.kind is inspect.Parameter.VAR_KEYWORD
                            for p in signature.values()):  # fmt: skip
        return [], known
    return [k for k in keys if k not in known], known


def check_type(decoder: str, key: str, value: Any, param: inspect.Parameter | None) -> None:
    """An option checked against its plain annotation (``int``, ``float``, ``bool``) before
    the decoder sees it: values from ``-O KEY=JSON`` or a bundle can be any JSON type."""
    if param is None:
        return
    annotation = param.annotation
    name = annotation if isinstance(annotation, str) else getattr(annotation, "__name__", "")
    check_option_type(decoder, key, value, name)


def available_decoders() -> dict[str, DecoderInfo]:
    """Every decoder name that can be used, built-ins first."""
    return scan_decoders()[0]


def refused_plugins() -> list[str]:
    """Why each plug-in entry point that is not used is left out (see :func:`scan_decoders`)."""
    return scan_decoders()[1]


def scan_decoders() -> tuple[dict[str, DecoderInfo], list[str]]:
    """The decoders that can be used, built-ins first, and one line for each plug-in entry
    point left out: it was dropped without a word, so an author whose decoder took a
    built-in's name (or one that another package declares) saw the other decoder run under it
    and no reason."""
    found = {name: DecoderInfo(name, target, "ctcasr") for name, target in BUILTIN_DECODERS.items()}
    refused: list[str] = []
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        package = ep.dist.name if ep.dist is not None else "?"
        have = found.get(ep.name)
        if have is None:
            found[ep.name] = DecoderInfo(ep.name, ep.value, package)
        elif (have.package, have.target) != (package, ep.value):  # not the same one seen twice
            why = (f"{ep.name!r} is a built-in decoder's name" if ep.name in BUILTIN_DECODERS
                   else f"{have.package} declares {ep.name!r} first ({have.target})")
            refused.append(f"decoder {ep.name!r} from {package} ({ep.value}) is not used: {why}")
    return found, refused


# Options only one built-in decoder takes, in order: naming one picks that decoder.
IMPLYING_OPTIONS = (("commands", "grammar"), ("lm", "kenlm"))


# Options whose command-line flag has another name: "--decoder beam --words w.txt" was refused
# as taking no "unigrams", a word the user never typed.
_FLAG_NAMES = {"unigrams": "--words"}


def implied_decoder(options: Mapping[str, Any] | None) -> str | None:
    """The decoder that ``options`` name when no decoder is given: ``commands`` means
    ``grammar``, else ``lm`` means ``kenlm``; ``None`` when they name none. A ``None`` value
    keeps the bundle's stored setting, so it names nothing. (The API took the bundle's default
    instead, and a kenlm bundle refused ``commands``.)"""
    for key, name in IMPLYING_OPTIONS:
        if (options or {}).get(key) is not None:
            return name
    return None


def get_decoder_class(name: str) -> type[Decoder]:
    decoders = available_decoders()
    if name not in decoders:
        raise ConfigError(_unknown_decoder(name, decoders))
    return decoders[name].load()


def _unknown_decoder(name: str, decoders: dict[str, DecoderInfo]) -> str:
    """The error for a name no decoder has. Only decoders that load are offered: a plug-in
    whose import fails was listed among them, and choosing it only failed in turn."""
    usable, broken = [], []
    for info in decoders.values():
        try:
            info.load()
        except ConfigError:
            broken.append(info.name)
        else:
            usable.append(info.name)
    message = f"unknown decoder {name!r} (available: {', '.join(sorted(usable))})"
    if broken:
        message += (f"; plug-in(s) that failed to load: {', '.join(sorted(broken))} "
                    "(see ctcasr decoders)")  # fmt: skip
    return message


def create_decoder(
    name: str,
    alphabet: Alphabet,
    frame_seconds: float = DEFAULT_FRAME_SECONDS,
    **options: Any,
) -> Decoder:
    """Build a decoder by name; ``None`` options are left at the decoder's defaults."""
    cls = get_decoder_class(name)
    options = {k: v for k, v in options.items() if v is not None}
    unknown, known = unknown_options(cls, options)
    if unknown:
        named = [f"{key} ({_FLAG_NAMES[key]})" if key in _FLAG_NAMES else key for key in unknown]
        raise ConfigError(
            f"decoder {name!r} does not take option(s) {', '.join(named)}"
            f" (it takes: {', '.join(known) or 'none'})"
        )
    for key, value in options.items():
        check_type(name, key, value, known.get(key))
    try:
        return cls(alphabet, frame_seconds=frame_seconds, **options)
    except CtcasrError:
        raise
    except Exception as exc:
        # A wrong option value, a missing required option, or a plug-in that cannot start
        # (RuntimeError, an optional dependency's ImportError): one line naming the decoder,
        # not a traceback. (Only TypeError, ValueError and OSError were; KeyboardInterrupt
        # and SystemExit still pass.)
        detail = str(exc)
        if not isinstance(exc, TypeError | ValueError | OSError) or not detail:
            detail = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        raise ConfigError(f"decoder {name!r}: {detail}") from None
