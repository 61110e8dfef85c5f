"""Decoders: per-frame log-probabilities to text."""

from ctcasr.decoding.base import Hypothesis
from ctcasr.decoding.greedy import greedy_decode, greedy_decode_batch, greedy_path

__all__ = ["Hypothesis", "greedy_decode", "greedy_decode_batch", "greedy_path"]
