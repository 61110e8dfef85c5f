"""Decoders: per-frame log-probabilities to text, found by name through a plug-in registry."""

from ctcasr.decoding.base import Decoder, Hypothesis, WordTiming
from ctcasr.decoding.greedy import greedy_decode, greedy_decode_batch, greedy_path
from ctcasr.decoding.registry import (
    available_decoders,
    create_decoder,
    get_decoder_class,
    implied_decoder,
)

__all__ = [
    "Decoder",
    "Hypothesis",
    "WordTiming",
    "available_decoders",
    "create_decoder",
    "get_decoder_class",
    "greedy_decode",
    "greedy_decode_batch",
    "greedy_path",
    "implied_decoder",
]
