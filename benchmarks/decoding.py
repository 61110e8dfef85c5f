"""Decoder speed and agreement, all decoders on the same log-probabilities, in one run.

    python benchmarks/decoding.py --data ../shared/data/fsdd --lm lm/digits-3gram.arpa \
        --output benchmarks/DECODING.md

Inputs: the bundled model's output on the FSDD test split (real, peaky CTC output), and
random-but-peaky matrices of 1 to 60 seconds for scaling. Every timing is the median over
``--runs`` passes of wall time for the whole set, reported per second of audio (output frames
are 20 ms). Peers run in the same process on the same arrays: pyctcdecode without and with the
LM, and ``tf.nn.ctc_beam_search_decoder``.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import string
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ctcasr.decoding.beam import BeamDecoder
from ctcasr.decoding.grammar import GrammarDecoder
from ctcasr.decoding.greedy import GreedyDecoder
from ctcasr.decoding.hotwords import parse_hotwords
from ctcasr.text import Alphabet

FRAME_SECONDS = 0.02
WIDTH = 16


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------


def real_log_probs(data: Path, model: str | None) -> tuple[list[np.ndarray], list[str]]:
    """The bundled model's log-probabilities for the FSDD test split (index 0-4 per speaker)."""
    from ctcasr.features import featurize
    from ctcasr.text import number_to_words
    from ctcasr.transcribe import Transcriber
    from recipes.fsdd.prepare import NAME_RE, split_of

    recordings = data / "recordings" if (data / "recordings").is_dir() else data
    files, texts = [], []
    for path in sorted(recordings.iterdir()):
        m = NAME_RE.match(path.name)
        if m and split_of(int(m.group(3))) == "test":
            files.append(path)
            texts.append(number_to_words(int(m.group(1))))
    transcriber = Transcriber(model)
    feats = [featurize(f, transcriber.bundle.frontend) for f in files]
    return [lp.astype(np.float32) for lp in transcriber.acoustic_model(feats)], texts


def peaky(rng: np.random.Generator, frames: int, classes: int = 29) -> np.ndarray:
    """Log-softmax of noise plus a strong peak per frame: 70% blank, else a random label,
    which gives a peak probability around 0.95 like a trained CTC model."""
    logits = rng.normal(0.0, 1.0, (frames, classes))
    target = np.where(rng.random(frames) < 0.7, classes - 1, rng.integers(0, classes - 1, frames))
    logits[np.arange(frames), target] += 7.0
    logits -= np.logaddexp.reduce(logits, axis=1, keepdims=True)
    return logits.astype(np.float32)


def random_words(rng: random.Random, n: int) -> list[str]:
    """Hotword-like entries: invented words, a third of them two-word phrases."""
    out = []
    for i in range(n):
        word = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(4, 9)))
        if i % 3 == 2:
            word += " " + "".join(rng.choice(string.ascii_lowercase) for _ in range(4))
        out.append(word)
    return out


# ---------------------------------------------------------------------------------------------
# timing
# ---------------------------------------------------------------------------------------------


def timed(fn: Callable[[np.ndarray], str], inputs: Sequence[np.ndarray], runs: int):
    """Median wall seconds of decoding all inputs, and the texts of the last pass (after one
    untimed warm-up pass)."""
    texts = [fn(x) for x in inputs]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        texts = [fn(x) for x in inputs]
        times.append(time.perf_counter() - start)
    return statistics.median(times), texts


def per_second(seconds: float, inputs: Sequence[np.ndarray]) -> float:
    audio = sum(x.shape[0] for x in inputs) * FRAME_SECONDS
    return seconds * 1000 / audio


def agreement(a: Sequence[str], b: Sequence[str]) -> float:
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


def pyctc_decoder(alphabet: Alphabet, lm: Path | None = None, alpha=0.5, beta=1.0):
    import logging

    from pyctcdecode import build_ctcdecoder

    logging.getLogger("pyctcdecode").setLevel(logging.ERROR)
    labels = [*alphabet.labels, ""]
    return build_ctcdecoder(labels, str(lm) if lm else None, alpha=alpha, beta=beta)


def tf_beam(width: int):
    from ctcasr.utils import import_tensorflow

    tf = import_tensorflow()

    @tf.function(reduce_retracing=True)
    def run(x):
        decoded, _ = tf.nn.ctc_beam_search_decoder(
            tf.transpose(x, [1, 0, 2]),
            tf.fill([tf.shape(x)[0]], tf.shape(x)[1]),
            beam_width=width,
            top_paths=1,
        )
        return tf.sparse.to_dense(decoded[0], default_value=-1)

    return run


# ---------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/fsdd"))
    parser.add_argument("--model", default=None, help="bundle [default: the bundled model]")
    parser.add_argument("--lm", type=Path, default=Path("lm/digits-3gram.arpa"))
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=None, help="write a Markdown report")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    alphabet = Alphabet()
    rows: list[str] = []

    def report(line: str) -> None:
        print(line, flush=True)
        rows.append(line)

    real, refs = real_log_probs(args.data, args.model)
    time.sleep(2.0)  # let TensorFlow's worker threads go idle before anything is timed
    rng = np.random.default_rng(0)
    scaling = {
        sec: [peaky(rng, int(sec / FRAME_SECONDS)) for _ in range(max(3, 60 // sec))]
        for sec in (1, 5, 20, 60)
    }
    one_second = [peaky(rng, 50) for _ in range(200)]
    audio_real = sum(x.shape[0] for x in real) * FRAME_SECONDS
    report(
        f"Real input: bundled model on FSDD test, {len(real)} clips, {audio_real:.1f} s of "
        f"audio ({np.mean([x.shape[0] for x in real]):.1f} frames per clip)."
    )
    report("")

    greedy = GreedyDecoder(alphabet)
    beam = BeamDecoder(alphabet, beam_width=WIDTH)
    pyc = pyctc_decoder(alphabet)
    tfb = tf_beam(WIDTH)

    def tf_text(x: np.ndarray) -> str:
        ids = tfb(x[None]).numpy()[0]
        return " ".join(alphabet.decode([i for i in ids if i >= 0]).split())

    # -- greedy, beam and peers on real output -------------------------------------------
    report("## Without a language model (beam width 16)")
    report("")
    report("| input | decoder | ms per s of audio | agreement with `beam` |")
    report("|---|---|---:|---:|")
    sets = [("FSDD test (real)", real)] + [
        (f"peaky {s} s x{len(v)}", v) for s, v in scaling.items()
    ]
    targets: dict[str, float] = {}
    for name, inputs in sets:
        t_beam, beam_texts = timed(lambda x: beam.decode(x)[0].text, inputs, args.runs)
        t_greedy, greedy_texts = timed(lambda x: greedy.decode(x)[0].text, inputs, args.runs)
        t_pyc, pyc_texts = timed(lambda x: pyc.decode(x, beam_width=WIDTH), inputs, args.runs)
        t_tf, tf_texts = timed(tf_text, inputs, args.runs)
        report(
            f"| {name} | greedy | {per_second(t_greedy, inputs):.4f} | "
            f"{agreement(greedy_texts, beam_texts):.1%} |"
        )
        report(f"| {name} | **beam** | **{per_second(t_beam, inputs):.3f}** | - |")
        report(
            f"| {name} | pyctcdecode (no LM) | {per_second(t_pyc, inputs):.3f} "
            f"({t_pyc / t_beam:.1f}x beam) | {agreement(pyc_texts, beam_texts):.1%} |"
        )
        report(
            f"| {name} | tf.nn.ctc_beam_search_decoder | {per_second(t_tf, inputs):.3f} "
            f"({t_tf / t_beam:.1f}x beam) | {agreement(tf_texts, beam_texts):.1%} |"
        )
        if name.startswith("FSDD"):
            targets.update(
                greedy=per_second(t_greedy, inputs),
                beam=per_second(t_beam, inputs),
                beam_vs_pyc=t_pyc / t_beam,
                beam_agree=agreement(pyc_texts, beam_texts),
                wer_beam=agreement(beam_texts, refs),
            )
    # batched greedy: the path the transcriber's batch API offers
    batch = np.stack(one_second)
    t_batch, _ = timed(lambda x: greedy.decode_batch(x), [batch], args.runs)
    report(
        f"| peaky 1 s x200, one padded batch | greedy `decode_batch` | "
        f"{per_second(t_batch, one_second):.4f} | - |"
    )
    report("")

    # -- kenlm vs pyctcdecode direct -----------------------------------------------------
    if args.lm.is_file():
        from ctcasr.decoding.kenlm import KenLMDecoder

        report(f"## With the KenLM model `{args.lm}` (alpha 0.5, beta 1.0, beam width {WIDTH})")
        report("")
        ours = KenLMDecoder(alphabet, lm=args.lm, beam_width=WIDTH)
        direct = pyctc_decoder(alphabet, args.lm)
        t_ours, ours_texts = timed(lambda x: ours.decode(x)[0].text, real, args.runs)
        t_direct, direct_texts = timed(
            lambda x: direct.decode(x, beam_width=WIDTH), real, args.runs
        )
        report("| decoder | ms per s of audio | agreement | accuracy vs reference |")
        report("|---|---:|---:|---:|")
        report(
            f"| ctcasr `kenlm` | {per_second(t_ours, real):.3f} | - | "
            f"{agreement(ours_texts, refs):.1%} |"
        )
        report(
            f"| pyctcdecode direct | {per_second(t_direct, real):.3f} | "
            f"{agreement(direct_texts, ours_texts):.1%} | {agreement(direct_texts, refs):.1%} |"
        )
        report("")
        targets["kenlm_overhead"] = t_ours / t_direct
    else:
        report(f"(no LM at {args.lm}: kenlm comparison skipped)")

    # -- grammar ------------------------------------------------------------------------
    report("## Command grammar (100 commands)")
    report("")
    rnd = random.Random(0)
    commands = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    commands += random_words(rnd, 90)
    grammar = GrammarDecoder(alphabet, commands=commands)
    t_gram, _ = timed(lambda x: grammar.decode(x)[0].text, one_second, args.runs)
    t_gram_real, gram_real = timed(lambda x: grammar.decode(x)[0].text, real, args.runs)
    report("| input | ms per clip | ms per s of audio | trie nodes |")
    report("|---|---:|---:|---:|")
    report(
        f"| peaky 1 s x200 | **{t_gram * 1000 / len(one_second):.3f}** | "
        f"{per_second(t_gram, one_second):.3f} | {len(grammar.trie.parent)} |"
    )
    report(
        f"| FSDD test (real), accuracy {agreement(gram_real, refs):.1%} | "
        f"{t_gram_real * 1000 / len(real):.3f} | {per_second(t_gram_real, real):.3f} | |"
    )
    report("")
    targets["grammar_ms_per_clip"] = t_gram * 1000 / len(one_second)

    # -- hotwords ------------------------------------------------------------------------
    report("## Hotwords (FSDD test, real output)")
    report("")
    report(
        "| entries | `beam` ms/s | x none | `kenlm` ms/s | x none | pyctcdecode+LM ms/s | x none |"
    )
    report("|---:|---:|---:|---:|---:|---:|---:|")
    base: dict[str, float] = {}
    subset = real[:60]  # pyctcdecode's regex scorer gets slow; keep its run bounded
    for n in (0, 10, 100, 1000):
        words = random_words(random.Random(n), n)
        hot = parse_hotwords([f"{w}:5" for w in words], alphabet)
        b = BeamDecoder(alphabet, beam_width=WIDTH, hotwords=hot)
        t_b, _ = timed(lambda x, b=b: b.decode(x)[0].text, real, args.runs)
        cells = [f"{per_second(t_b, real):.3f}", f"{t_b / base.setdefault('beam', t_b):.2f}"]
        if args.lm.is_file():
            k = KenLMDecoder(alphabet, lm=args.lm, beam_width=WIDTH, hotwords=hot)
            t_k, _ = timed(lambda x, k=k: k.decode(x)[0].text, real, args.runs)
            t_p, _ = timed(
                lambda x, words=words: direct.decode(
                    x, beam_width=WIDTH, hotwords=words or None, hotword_weight=5.0
                ),
                subset,
                max(1, args.runs // 2),
            )
            t_p = t_p * len(real) / len(subset)
            cells += [
                f"{per_second(t_k, real):.3f}",
                f"{t_k / base.setdefault('kenlm', t_k):.2f}",
                f"{per_second(t_p, real):.3f}",
                f"{t_p / base.setdefault('pyc', t_p):.2f}",
            ]
            targets[f"hot{n}_kenlm"] = t_k / base["kenlm"]
        targets[f"hot{n}_beam"] = t_b / base["beam"]
        report(f"| {n} | " + " | ".join(cells) + " |")
    report("")

    # -- targets ------------------------------------------------------------------------
    report("## Targets")
    report("")
    report("| target | measured | met |")
    report("|---|---:|:---:|")

    def check(label: str, value: float, ok: bool, fmt: str = "{:.3f}") -> None:
        report(f"| {label} | {fmt.format(value)} | {'yes' if ok else 'NO'} |")

    check(
        "greedy < 0.1 ms per s of audio (FSDD)",
        targets["greedy"],
        targets["greedy"] < 0.1,
        "{:.4f}",
    )
    check("beam (16) < 2 ms per s of audio (FSDD)", targets["beam"], targets["beam"] < 2)
    check(
        "beam >= 3x faster than pyctcdecode (FSDD)",
        targets["beam_vs_pyc"],
        targets["beam_vs_pyc"] >= 3,
        "{:.1f}x",
    )
    check(
        "beam best path = pyctcdecode's (FSDD)",
        targets["beam_agree"],
        targets["beam_agree"] == 1.0,
        "{:.1%}",
    )
    check(
        "grammar, 100 commands < 1 ms per 1 s clip",
        targets["grammar_ms_per_clip"],
        targets["grammar_ms_per_clip"] < 1,
    )
    check(
        "beam with 1000 hotwords within 2x of none",
        targets["hot1000_beam"],
        targets["hot1000_beam"] <= 2,
        "{:.2f}x",
    )
    if "hot1000_kenlm" in targets:
        check(
            "kenlm with 1000 hotwords within 2x of none",
            targets["hot1000_kenlm"],
            targets["hot1000_kenlm"] <= 2,
            "{:.2f}x",
        )
    report("")

    if args.output:
        from recipes.common import git_commit, hardware

        commit = git_commit()
        header = [
            "# Decoding benchmark",
            "",
            "Reproduce with:",
            "",
            "    " + " ".join(["python", "benchmarks/decoding.py", *(argv or sys.argv[1:])]),
            "",
            f"Machine: {hardware()}; Python {platform.python_version()}; ctcasr at {commit}; "
            f"medians of {args.runs} runs; {os.cpu_count()} cores, single-threaded decoding.",
            "",
        ]
        args.output.write_text("\n".join(header + rows) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
