"""Write lm/corpora/digits.txt, the text behind the bundled digit model's language model.

The bundled model hears spoken English digits, so its LM only needs to know those ten words and
how they follow one another in digit strings (PINs, phone numbers). Each word also stands alone
on a line, because FSDD clips are single digits. Fixed seed: rerunning gives the same file.

Usage: python lm/make_digits_corpus.py [OUTPUT] [--lines N] [--seed S]
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", nargs="?", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--lines", type=int, default=2000, help="random digit strings")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(digit_lines(args.lines, args.seed)) + "\n", encoding="utf-8")
    print(args.output)


if __name__ == "__main__":
    main()
