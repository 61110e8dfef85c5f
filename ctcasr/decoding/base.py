"""What every decoder returns."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Hypothesis:
    """One decoded transcript.

    ``score`` is a log-probability (higher is better); ``confidence`` is in [0, 1].
    """

    text: str
    score: float
    confidence: float
