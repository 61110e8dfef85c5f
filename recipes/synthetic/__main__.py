"""Make the synthetic corpus: ``python -m recipes.synthetic --out exp/synthetic --count 20000``.

The held-out Speech Commands words are excluded by default, so the unseen-word test stays
honest. Needs ``apt-get install espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k
festvox-us-slt-hts wamerican``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter

from ctcasr.errors import CtcasrError
from recipes.common import check_outputs, run_main, step
from recipes.speech_commands.prepare import HELD_OUT_WORDS
from recipes.synthetic.generate import available_engines, default_jobs, generate


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m recipes.synthetic", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="exp/synthetic", help="output folder [exp/synthetic]")
    p.add_argument("--count", type=int, default=20000, help="clips to make [20000]")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=default_jobs())
    p.add_argument("--exclude", nargs="*", default=list(HELD_OUT_WORDS),
                   help="words that must not appear [the held-out Speech Commands words]")
    return p.parse_args(argv)


class ChunkCounter:
    """Chunks done on stdout: redrawn in place on a terminal, a plain line each elsewhere (as
    ``ctcasr train``'s bar): a log or pipe got one line of ``\\r``-joined counts, and a stop
    or error message was printed onto the end of the counter's line."""

    def __init__(self) -> None:
        self.live = sys.stdout is not None and sys.stdout.isatty()
        self.line_open = False

    def __call__(self, done: int, total: int) -> None:
        if self.live:
            print(f"\r{done}/{total} chunks", end="" if done < total else "\n", flush=True)
            self.line_open = done < total
        else:
            print(f"{done}/{total} chunks", flush=True)

    def end_line(self) -> None:
        """End a counter line left open, before a message that would follow on it."""
        if self.line_open:
            print(flush=True)
            self.line_open = False


def run(args: argparse.Namespace, argv: list[str]) -> int:
    start = time.perf_counter()
    step("making the synthetic corpus")
    if args.count < 1:  # wrote an empty manifest and reported success
        raise CtcasrError(f"--count must be at least 1, got {args.count}")
    check_outputs(args.out, None)  # an unusable --out was a NotADirectoryError traceback
    counter = ChunkCounter()
    try:
        entries = generate(args.out, args.count, exclude=args.exclude, seed=args.seed,
                           jobs=args.jobs, progress=counter)  # fmt: skip
    finally:  # a stop or error message goes on a line of its own
        counter.end_line()
    hours = sum(e.duration for e in entries) / 3600
    engines = Counter(e.speaker.split(":")[0] for e in entries if e.speaker)
    print(f"{len(entries)} clips, {hours:.2f} h, engines {dict(engines)} "
          f"(available: {available_engines()}), {time.perf_counter() - start:.0f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Errors in one line, as every recipe; Ctrl-C says how to start again (run_main)."""
    return run_main(parse_args, run, argv)


if __name__ == "__main__":
    raise SystemExit(main())
