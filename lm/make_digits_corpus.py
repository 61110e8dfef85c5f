"""Write lm/corpora/digits.txt, the text behind lm/digits-3gram.arpa, the digit LM.

A digit LM only needs to know the ten digit words and how they follow one another in digit
strings (PINs, phone numbers); recipes.pretrained adds this text to the bundled model's LM
corpus. Each word also stands alone on a line, because FSDD clips are single digits. Fixed
seed: rerunning gives the same file.

Usage: python lm/make_digits_corpus.py [OUTPUT] [--lines N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

from ctcasr.utils import atomic_write_text

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "corpora" / "digits.txt"


def digit_lines(count: int, seed: int, max_len: int = 7) -> list[str]:
    """Every digit word alone, then ``count`` random digit strings of 1 to ``max_len`` words."""
    rng = random.Random(seed)
    lines = list(DIGITS)
    for _ in range(count):
        length = rng.randint(1, max_len)
        lines.append(" ".join(rng.choice(DIGITS) for _ in range(length)))
    return lines


def non_negative(text: str) -> int:
    """``--lines``: a negative count silently wrote the ten single words alone."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--lines", type=non_negative, default=2000, help="random digit strings")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args(argv)
    if args.output.is_dir():  # os.replace onto it fails only after the work, unclearly
        print(f"error: {args.output}: is a folder; name the file to write", file=sys.stderr)
        return 1
    # The nearest folder that exists must be one: below a file, mkdir said only "File exists".
    above = next(d for d in args.output.absolute().parents if d.exists())
    if not above.is_dir():
        print(f"error: {args.output}: {above} is a file, not a folder", file=sys.stderr)
        return 1
    text = "\n".join(digit_lines(args.lines, args.seed)) + "\n"
    try:
        # Atomic: a kill mid-write left the bundled LM's corpus cut short.
        atomic_write_text(args.output, text)
    except OSError as exc:  # no permission, a full disk: one line, not a traceback
        print(f"error: {args.output}: cannot write ({exc.strerror or exc})", file=sys.stderr)
        return 1
    print(args.output)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
