"""Exceptions whose message is the one line a user sees.

Every error a user can cause (a bad file, a bad manifest line, a mismatched alphabet) is a
:class:`CtcasrError`; the CLI prints ``str(exc)`` and exits non-zero instead of a traceback.
"""

from __future__ import annotations


class CtcasrError(Exception):
    """Base class: the message names the offending input and the cause, on one line."""


class AudioError(CtcasrError):
    """A file could not be turned into audio samples."""


class AlphabetError(CtcasrError):
    """An alphabet is malformed or cannot spell a text."""


class ManifestError(CtcasrError):
    """A manifest file or line is malformed."""


class BundleError(CtcasrError):
    """A model bundle is missing, incomplete or inconsistent."""


class ConfigError(CtcasrError):
    """A configuration value is out of range or unknown."""


class BusyError(CtcasrError):
    """Another ctcasr process is writing the same output (a training's folder)."""


class DecoderOutputError(CtcasrError):
    """A decoder (a plug-in's) returned something other than a list of valid hypotheses."""


class UsageError(CtcasrError, TypeError):
    """A library function was given the wrong kind of argument (one input where it takes a
    collection of them)."""


class LogProbError(CtcasrError, ValueError):
    """A log-probability matrix has the wrong shape, a class count that does not match the
    alphabet, or NaN values."""


class CtcasrWarning(UserWarning):
    """Something a user should know that does not stop the work (the CLI prints it as one
    ``warning:`` line on stderr)."""
