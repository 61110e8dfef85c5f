"""Make the synthetic corpus: ``python -m recipes.synthetic --out exp/synthetic --count 20000``.

The held-out Speech Commands words are excluded by default, so the unseen-word test stays
honest. Needs ``apt-get install espeak-ng flite festival festvox-kallpc16k festvox-kdlpc16k
festvox-us-slt-hts wamerican``.
"""

from __future__ import annotations

import argparse
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


def run(args: argparse.Namespace, argv: list[str]) -> int:
    start = time.perf_counter()
    step("making the synthetic corpus")
    if args.count < 1:  # wrote an empty manifest and reported success
        raise CtcasrError(f"--count must be at least 1, got {args.count}")
    check_outputs(args.out, None)  # an unusable --out was a NotADirectoryError traceback
    entries = generate(
        args.out, args.count, exclude=args.exclude, seed=args.seed, jobs=args.jobs,
        progress=lambda done, total: print(f"\r{done}/{total} chunks",
                                           end="\n" if done == total else "", flush=True),
    )  # fmt: skip
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
