"""``python -m fuzz TARGET [--seconds 600]``: fuzz one parser with atheris (libFuzzer).

The working corpus grows in ``fuzz/work/TARGET`` (not committed). An input that crashes or
hangs is written to ``fuzz/crashes/TARGET/``; once it is fixed it stays there, committed, and
``tests/test_fuzz_corpus.py`` replays it on every test run. ``--record`` appends the run's
input count to ``fuzz/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
NAMES = ("audio", "manifest", "alphabet", "commands")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", choices=[*NAMES, "all"])
    p.add_argument("--seconds", type=int, default=600, help="run time per target [600]")
    p.add_argument("--timeout", type=int, default=10, help="seconds one input may take [10]")
    p.add_argument("--record", action="store_true", help="append the counts to fuzz/RESULTS.md")
    return p.parse_args(argv)


def run_one(target: str, seconds: int, timeout: int) -> dict[str, object]:
    from fuzz.seeds import write_seeds

    work = HERE / "work" / target
    seeds = write_seeds(target, HERE / "work" / f"{target}-seeds")
    crashes = HERE / "crashes" / target
    work.mkdir(parents=True, exist_ok=True)
    crashes.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, "-m", "fuzz.worker", target, f"-max_total_time={seconds}",
            f"-timeout={timeout}", "-rss_limit_mb=3072", "-max_len=16384",
            f"-artifact_prefix={crashes}/", "-print_final_stats=1", str(work), str(seeds)]
    if (dictionary := HERE / "dicts" / f"{target}.dict").is_file():
        args.insert(4, f"-dict={dictionary}")
    log = HERE / "work" / f"{target}.log"
    start = time.monotonic()
    with open(log, "w") as fh:
        code = subprocess.call(args, stdout=fh, stderr=subprocess.STDOUT)
    text = log.read_text(errors="replace")
    runs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", text)
    cov = re.findall(r"cov: (\d+)", text)
    result = {"target": target, "exit": code, "inputs": int(runs[-1]) if runs else None,
              "seconds": round(time.monotonic() - start), "coverage": cov[-1] if cov else "?",
              "corpus": len(list(work.iterdir()))}  # fmt: skip
    print(f"{target}: exit {code}, {result['inputs']} inputs in {result['seconds']} s, "
          f"{result['corpus']} corpus files, log {log}")
    return result


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if importlib.util.find_spec("atheris") is None:  # each target said "exit 1, None inputs"
        print('error: fuzzing needs atheris: pip install -e ".[fuzz]"', file=sys.stderr)
        return 2
    results = [run_one(t, args.seconds, args.timeout)
               for t in (NAMES if args.target == "all" else [args.target])]  # fmt: skip
    if args.record:
        with open(HERE / "RESULTS.md", "a") as fh:
            for r in results:
                status = "no crash" if r["exit"] == 0 else f"**exit {r['exit']}**"
                fh.write(f"| {time.strftime('%Y-%m-%d')} | {r['target']} | {r['seconds']} | "
                         f"{r['inputs'] or 0:,} | {r['corpus']} | {status} | "
                         f"{platform.python_version()} |\n")
    return max(int(r["exit"]) for r in results)  # type: ignore[call-overload]


if __name__ == "__main__":
    raise SystemExit(main())
