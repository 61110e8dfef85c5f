"""Language-model building and loading (ctcasr.lm).

Tests that run KenLM's lmplz/build_binary skip when the tools are not built (``bash
lm/build_kenlm.sh``), except under CI, where a missing tool is a failure: CI must not pass by
silently skipping the LM tests. The rest need only the ``kenlm`` Python module.
"""

from __future__ import annotations

import importlib.util
import os
import stat
import subprocess
from pathlib import Path

import pytest
from conftest import REPO_ROOT, missing_tool

from ctcasr.errors import ConfigError
from ctcasr.lm import (
    KENLM_BIN_ENV,
    CorpusStats,
    build_lm,
    find_tool,
    is_arpa,
    load_lm,
    normalize_corpus,
    read_unigrams,
)
from ctcasr.text import Alphabet, normalize_text

# lmplz touches much of its -S memory; the default (20% of RAM) costs ~0.5 s per build here.
MEMORY = "64M"

CORPUS = """\
Turn 2 left.
turn right

Go to the door!
turn 2 left at the door
go left then turn right
open the door
"""

# A hand-written bigram model, so that loading tests need no KenLM tools.
SMALL_ARPA = """\

\\data\\
ngram 1=5
ngram 2=3

\\1-grams:
-1.0\t<unk>\t0
0\t<s>\t-0.3
-0.5\t</s>\t0
-0.7\tyes\t-0.2
-0.8\tno\t-0.2

\\2-grams:
-0.2\t<s> yes
-0.3\tyes </s>
-0.4\tno </s>

\\end\\
"""


@pytest.fixture(scope="module")
def kenlm_tools() -> None:
    """Skip (or under CI fail) when lmplz/build_binary are not built."""
    try:
        find_tool("lmplz")
        find_tool("build_binary")
    except ConfigError as exc:
        missing_tool(f"KenLM tools unavailable: {exc}")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.txt"
    path.write_text(CORPUS, encoding="utf-8")
    return path


@pytest.fixture
def small_arpa(tmp_path: Path) -> Path:
    path = tmp_path / "small.arpa"
    path.write_text(SMALL_ARPA, encoding="utf-8")
    return path


# -- building --------------------------------------------------------------------------------


def test_build_arpa_normalises_and_scores(kenlm_tools: None, corpus: Path, tmp_path: Path):
    out = tmp_path / "models" / "lm.arpa"
    result = build_lm(corpus, out, order=3, memory=MEMORY)

    assert result.path == out and out.is_file() and is_arpa(out)
    assert (result.order, result.sentences, result.dropped, result.binary) == (3, 6, 0, False)
    assert result.words == sum(len(normalize_text(line).split()) for line in CORPUS.splitlines())
    words = read_unigrams(out)
    assert "two" in words and "2" not in words  # "turn 2 left" was learned as "turn two left"
    assert result.vocabulary == len(words)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    assert not [p for p in out.parent.iterdir() if p != out]  # no temp files left behind

    model = load_lm(out)
    assert model.order == 3
    assert model.score("turn two left") > model.score("left turn two")


def test_binary_gives_the_same_scores_as_arpa(kenlm_tools: None, corpus: Path, tmp_path: Path):
    arpa = build_lm(corpus, tmp_path / "lm.arpa", memory=MEMORY)
    binary = build_lm(corpus, tmp_path / "lm.bin", binary=True, memory=MEMORY)

    assert binary.binary and not is_arpa(binary.path)
    assert binary.path.read_bytes().startswith(b"mmap lm http://kheafield.com/code")
    a, b = load_lm(arpa.path), load_lm(binary.path)
    assert b.order == 3
    for sentence in ("turn two left", "go to the door", "door the to go", "unseen words here"):
        assert b.score(sentence) == pytest.approx(a.score(sentence), abs=1e-4)
    with pytest.raises(ConfigError, match="binary KenLM model"):
        read_unigrams(binary.path)

    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(binary.path.read_bytes()[:200])
    with pytest.raises(ConfigError, match="not a readable KenLM model"):
        load_lm(truncated)


def test_build_with_alphabet_counts_dropped_lines(kenlm_tools: None, tmp_path: Path):
    corpus = tmp_path / "c.txt"
    corpus.write_text("the quick fox\nthe slow fox\na fox ran\n", encoding="utf-8")
    no_q = Alphabet(tuple(" abcdefghijklmnoprstuvwxyz'"))
    result = build_lm(corpus, tmp_path / "lm.arpa", 2, alphabet=no_q, memory=MEMORY)
    assert (result.sentences, result.dropped) == (2, 1)
    assert "quick" not in read_unigrams(result.path)


def test_lmplz_failure_is_a_config_error_and_writes_nothing(
    kenlm_tools: None, corpus: Path, tmp_path: Path
):
    out = tmp_path / "lm.arpa"
    with pytest.raises(ConfigError, match=r"lmplz failed: .*abc"):
        build_lm(corpus, out, memory="abc")
    assert list(tmp_path.iterdir()) == [corpus]


def test_build_refuses_bad_input(tmp_path: Path, corpus: Path):
    with pytest.raises(ConfigError, match=r"missing\.txt: corpus not found"):
        build_lm(tmp_path / "missing.txt", tmp_path / "lm.arpa")
    (tmp_path / "texts").mkdir()  # it exists: "not found" was misleading
    with pytest.raises(ConfigError, match=r"texts: is a folder; give the corpus file"):
        build_lm(tmp_path / "texts", tmp_path / "lm.arpa")
    with pytest.raises(ConfigError, match=r"/dev/null: not a regular file \(a device or pipe\)"):
        build_lm(os.devnull, tmp_path / "lm.arpa")  # it exists: "not found" was wrong
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"empty\.txt: corpus file is empty"):
        build_lm([corpus, empty], tmp_path / "lm.arpa")
    punctuation = tmp_path / "punct.txt"
    punctuation.write_text("...\n!!\n\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"punct\.txt: no usable text"):
        build_lm(punctuation, tmp_path / "lm.arpa")
    for order in (1, 0, -1):  # lmplz writes a unigram model that kenlm cannot load
        with pytest.raises(ConfigError, match="order must be at least 2"):
            build_lm(corpus, tmp_path / "lm.arpa", order=order)
    with pytest.raises(ConfigError, match="above 6"):
        build_lm(corpus, tmp_path / "lm.arpa", order=7)
    assert not (tmp_path / "lm.arpa").exists()


def test_build_refuses_outputs_it_cannot_write_before_estimating(
        kenlm_tools: None, tmp_path: Path, corpus: Path):
    """A folder, a path under a file and an over-long name were tracebacks after the whole
    build; the corpus itself as the output was overwritten."""
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("x")
    cases = [(tmp_path / "folder", "is a folder; give the LM a file name"),
             (tmp_path / "afile" / "lm.arpa", r"cannot be written \(.*afile is a file\)"),
             (corpus, "is the corpus being read"),
             (tmp_path / ("a" * 300 + ".arpa"), r"cannot write the LM \(File name too long\)")]
    before = corpus.read_bytes()
    for output, message in cases:
        with pytest.raises(ConfigError, match=message):
            build_lm(corpus, output)
    assert corpus.read_bytes() == before
    assert {p.name for p in tmp_path.iterdir()} <= {"afile", "folder", corpus.name}
    long_but_legal = tmp_path / ("a" * 240 + ".arpa")  # its temporary's name is longer still
    assert build_lm(corpus, long_but_legal).path == long_but_legal and long_but_legal.is_file()


def test_not_utf8_names_the_offset_in_the_file(kenlm_tools, tmp_path: Path):
    """The offset counted from the current read chunk (byte 3425 for byte 28001)."""
    path = tmp_path / "deep.txt"
    path.write_bytes(b"one two three\n" * 2000 + b"caf\xc3" + b"\xff bad\n")
    with pytest.raises(ConfigError, match=r"deep\.txt: not UTF-8 text \(byte 28003: "):
        build_lm(path, tmp_path / "lm.arpa")
    with pytest.raises(ConfigError, match=r"deep\.txt: not UTF-8 text \(byte 28003: "):
        read_unigrams(path)


def test_a_gzipped_corpus_builds_the_same_lm(kenlm_tools, corpus: Path, tmp_path: Path):
    """corpus.txt.gz was refused as "not UTF-8 text" (no offset: the check itself gunzips),
    though LMs and word lists are read gzipped; it is now read as the text it holds."""
    import gzip

    packed = tmp_path / "corpus.txt.gz"
    packed.write_bytes(gzip.compress(corpus.read_bytes()))
    plain = build_lm(corpus, tmp_path / "plain.arpa", memory=MEMORY)
    zipped = build_lm(packed, tmp_path / "zipped.arpa", memory=MEMORY)
    assert (zipped.sentences, zipped.words) == (plain.sentences, plain.words)
    assert zipped.path.read_bytes() == plain.path.read_bytes()
    bad = tmp_path / "bad.txt.gz"
    bad.write_bytes(gzip.compress(b"one two\ncaf\xff\n"))
    with pytest.raises(ConfigError, match=r"bad\.txt\.gz: not UTF-8 text \(byte 11: "):
        build_lm(bad, tmp_path / "bad.arpa", memory=MEMORY)


def test_an_output_named_gz_is_gzipped_and_other_compression_is_refused(
        kenlm_tools, corpus: Path, tmp_path: Path):
    """``-o lm.arpa.gz`` wrote plain text under a gzip name; ``--binary -o lm.bin.gz`` wrote a
    binary kenlm cannot map. Now: gzip (reproducible), or a one-line refusal, nothing left."""
    import gzip

    plain = build_lm(corpus, tmp_path / "lm.arpa", memory=MEMORY).path
    zipped = build_lm(corpus, tmp_path / "lm.arpa.gz", memory=MEMORY).path
    assert zipped.read_bytes()[:2] == b"\x1f\x8b"
    assert gzip.decompress(zipped.read_bytes()) == plain.read_bytes()
    assert load_lm(zipped).score("turn two left") == pytest.approx(
        load_lm(plain).score("turn two left"))  # fmt: skip
    again = build_lm(corpus, tmp_path / "again.arpa.gz", memory=MEMORY).path
    assert again.read_bytes() == zipped.read_bytes()  # no name or time in the header
    before = {p.name for p in tmp_path.iterdir()}
    with pytest.raises(ConfigError, match=r"lm\.bin\.gz: a KenLM binary cannot be compressed"):
        build_lm(corpus, tmp_path / "lm.bin.gz", binary=True, memory=MEMORY)
    for name in ("lm.arpa.xz", "lm.arpa.bz2"):
        with pytest.raises(ConfigError, match=r"ctcasr writes gzip only"):
            build_lm(corpus, tmp_path / name, memory=MEMORY)
    with pytest.raises(ConfigError, match=r"lmplz failed"):
        build_lm(corpus, tmp_path / "failed.arpa.gz", memory="abc")
    assert {p.name for p in tmp_path.iterdir()} == before


@pytest.mark.parametrize("marker", ["<s>", "</s>", "<unk>"])
def test_kenlm_markers_in_a_corpus_are_refused_not_made_words(
    kenlm_tools, tmp_path: Path, marker: str
):
    """An AN4-style transcription ("<s> YES </s> (id)") built an LM whose commonest word was
    "s": the normaliser stripped the brackets lmplz would have refused. Now it is an error
    naming the line, and nothing is written."""
    path = tmp_path / "marked.txt"
    path.write_text(f"turn left\nturn {marker} right\n", encoding="utf-8")
    output = tmp_path / "lm.arpa"
    with pytest.raises(ConfigError, match=rf"marked\.txt:2: holds '{marker}', a token KenLM"):
        build_lm(path, output, memory=MEMORY)
    assert not output.exists()
    path.write_text("a <b> c <s>x\n", encoding="utf-8")  # not the tokens themselves
    assert build_lm(path, output, memory=MEMORY).words == 4


# -- normalisation ---------------------------------------------------------------------------


def test_normalize_corpus_uses_the_transcript_normaliser():
    lines = ["Turn 2 left.", "", "  !! ", "Café 3rd"]
    assert list(normalize_corpus(lines)) == ["turn two left", "cafe third"]


def test_normalize_corpus_drops_lines_outside_the_alphabet():
    no_q = Alphabet(tuple(" abcdefghijklmnoprstuvwxyz'"))
    stats = CorpusStats()
    lines = ["a quick fox", "turn 2 left", "naïve", "Ωmega point", "日本", ""]
    kept = list(normalize_corpus(lines, no_q, stats))
    # "naïve" folds to spellable "naive"; q, Ω and 日本 cannot be spelled, so those lines go.
    assert kept == ["turn two left", "naive"]
    assert (stats.kept, stats.dropped) == (2, 3)
    assert set(stats.unknown) == {"q", "ω", "日", "本"}


def test_normalize_corpus_drops_numbers_the_alphabet_cannot_spell():
    # "2" becomes "two", which needs t, w and o: silently deleting them would invent "".
    stats = CorpusStats()
    assert list(normalize_corpus(["ab 2", "ba"], Alphabet(tuple(" ab")), stats)) == ["ba"]
    assert stats.dropped == 1


# -- loading and reading ---------------------------------------------------------------------


def test_load_hand_written_arpa(small_arpa: Path):
    model = load_lm(small_arpa)
    assert model.order == 2
    assert model.score("yes") > model.score("no")


def test_load_lm_errors_are_config_errors(tmp_path: Path, small_arpa: Path):
    with pytest.raises(ConfigError, match=r"nope\.arpa: language model not found"):
        load_lm(tmp_path / "nope.arpa")
    with pytest.raises(ConfigError, match="is a folder; give the language model file"):
        load_lm(tmp_path)  # a directory

    garbage = tmp_path / "garbage.arpa"
    garbage.write_text("hello, this is not a language model\n", encoding="utf-8")
    random_bytes = tmp_path / "random.bin"
    random_bytes.write_bytes(bytes(range(256)) * 8)
    empty = tmp_path / "empty.arpa"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.arpa"
    truncated.write_text(SMALL_ARPA[: SMALL_ARPA.index("yes")], encoding="utf-8")
    header_only = tmp_path / "header.arpa"
    header_only.write_text("\\data\\\nngram 1=3\n", encoding="utf-8")
    for path in (garbage, random_bytes, empty, truncated, header_only):
        with pytest.raises(ConfigError, match=r"not a readable KenLM model \(ARPA or binary\)"):
            load_lm(path)


def test_read_unigrams_from_arpa_and_word_list(tmp_path: Path, small_arpa: Path):
    assert read_unigrams(small_arpa) == ["yes", "no"]
    words = tmp_path / "words.txt"
    words.write_text("# digits\nzero\n\n  one \ntwo\none\n", encoding="utf-8")
    assert read_unigrams(words) == ["zero", "one", "two"]
    with pytest.raises(ConfigError, match="word list not found"):
        read_unigrams(tmp_path / "missing.txt")


def test_a_word_list_or_lm_that_is_no_regular_file_says_so(tmp_path: Path):
    """/dev/null and a folder were "not found", though both exist."""
    with pytest.raises(ConfigError, match=r"^/dev/null: not a regular file \(a device or pipe\)"):
        read_unigrams("/dev/null")
    with pytest.raises(ConfigError, match=r": is a folder; give the word list file$"):
        read_unigrams(tmp_path)
    with pytest.raises(ConfigError, match=r"^/dev/null: not a regular file"):
        load_lm("/dev/null")


def test_is_arpa(tmp_path: Path, small_arpa: Path):
    assert is_arpa(small_arpa)  # it starts with a blank line, which KenLM also skips
    words = tmp_path / "words.txt"
    words.write_text("data\n", encoding="utf-8")
    assert not is_arpa(words)
    assert not is_arpa(tmp_path / "missing.arpa")


# -- finding the tools -----------------------------------------------------------------------


def test_find_tool_missing_says_how_to_build(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv(KENLM_BIN_ENV, str(empty))
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: tmp_path / "home"))
    with pytest.raises(ConfigError) as info:
        find_tool("lmplz")
    message = str(info.value)
    assert "\n" not in message
    assert "lmplz" in message and "lm/build_kenlm.sh" in message and KENLM_BIN_ENV in message


def test_find_tool_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def fake_tool(folder: Path) -> Path:
        folder.mkdir(parents=True)
        tool = folder / "lmplz"
        tool.write_text("#!/bin/sh\n", encoding="utf-8")
        tool.chmod(0o755)
        return tool

    home = tmp_path / "home"
    on_path = fake_tool(tmp_path / "path")
    monkeypatch.setattr(Path, "home", classmethod(lambda cls: home))
    monkeypatch.setenv("PATH", str(on_path.parent))
    monkeypatch.delenv(KENLM_BIN_ENV, raising=False)
    assert find_tool("lmplz") == on_path
    default = fake_tool(home / ".cache" / "ctcasr" / "kenlm" / "bin")
    assert find_tool("lmplz") == default
    from_env = fake_tool(tmp_path / "env")
    monkeypatch.setenv(KENLM_BIN_ENV, str(from_env.parent))
    assert find_tool("lmplz") == from_env


# -- the bundled digit LM --------------------------------------------------------------------


def _digits_script():
    spec = importlib.util.spec_from_file_location(
        "make_digits_corpus", REPO_ROOT / "lm" / "make_digits_corpus.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundled_digit_corpus_is_reproducible():
    script = _digits_script()
    corpus = (REPO_ROOT / "lm" / "corpora" / "digits.txt").read_text(encoding="utf-8")
    assert corpus == "\n".join(script.digit_lines(2000, 1234)) + "\n"


def _make_digits(*args: str) -> subprocess.CompletedProcess[str]:
    import sys

    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "lm" / "make_digits_corpus.py"), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=60,
    )


def test_digit_corpus_script_refuses_bad_values_in_one_line(tmp_path: Path):
    """--lines -5 wrote the ten single words alone and exited 0; an OUTPUT that is a folder,
    or lies under a file, was a traceback."""
    out = tmp_path / "d.txt"
    result = _make_digits(str(out), "--lines", "-5")
    assert result.returncode == 2 and not out.exists()
    assert result.stderr.splitlines()[-1].endswith("argument --lines: must be >= 0, got -5")
    (tmp_path / "file").write_text("keep")
    under_file = tmp_path / "file" / "d.txt"
    for output, why in ((tmp_path, "is a folder"), (under_file, f"{under_file.parent} is a file")):
        result = _make_digits(str(output), "--lines", "3")
        assert result.returncode == 1, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert result.stderr.startswith(f"error: {output}: {why}")
    assert (tmp_path / "file").read_text() == "keep"
    result = _make_digits(str(out), "--lines", "0")  # none asked for: the ten words alone
    assert result.returncode == 0 and out.read_text().split() == list(_digits_script().DIGITS)


def test_digit_corpus_script_writes_atomically(tmp_path: Path, monkeypatch):
    """The corpus was written in place: a kill part-way left it cut short."""
    import sys

    script = _digits_script()
    out = tmp_path / "digits.txt"
    out.write_text("old corpus\n")

    def half_then_killed(self, data, *args, **kwargs):
        with open(self, "w", encoding="utf-8") as fh:
            fh.write(data[: len(data) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(sys, "argv", ["make_digits_corpus.py", str(out), "--lines", "50"])
    monkeypatch.setattr(Path, "write_text", half_then_killed)
    with pytest.raises(KeyboardInterrupt):
        script.main()
    monkeypatch.undo()
    assert out.read_text() == "old corpus\n"
    assert [p.name for p in tmp_path.iterdir()] == ["digits.txt"]  # no temporary left


def test_bundled_digit_lm(tmp_path: Path):
    arpa = REPO_ROOT / "lm" / "digits-3gram.arpa"
    assert sorted(read_unigrams(arpa)) == sorted(_digits_script().DIGITS)
    model = load_lm(arpa)
    assert model.order == 3
    assert model.score("one two three") > model.score("hello world")


def test_bundled_digit_lm_rebuilds_identically(kenlm_tools: None, tmp_path: Path):
    rebuilt = build_lm(
        REPO_ROOT / "lm" / "corpora" / "digits.txt", tmp_path / "d.arpa", 3, memory=MEMORY
    )
    assert rebuilt.path.read_bytes() == (REPO_ROOT / "lm" / "digits-3gram.arpa").read_bytes()


def test_build_script_is_valid_bash():
    script = REPO_ROOT / "lm" / "build_kenlm.sh"
    assert os.access(script, os.X_OK)
    subprocess.run(["bash", "-n", str(script)], check=True)


# -- the command line --------------------------------------------------------------------------


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    import sys

    code = "from ctcasr.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=120,
    )


def test_cli_lm_build_then_decode_with_it(kenlm_tools: None, corpus: Path, tmp_path: Path):
    out = tmp_path / "cli.arpa"
    result = _cli("lm", "build", str(corpus), "--order", "2", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert f"{out}: 2-gram" in result.stdout and "sentences" in result.stdout
    model = load_lm(out)
    assert model.order == 2
    binary = tmp_path / "cli.bin"
    assert _cli("lm", "build", str(corpus), "-o", str(binary), "--binary").returncode == 0
    assert load_lm(binary).order == 3


def test_cli_lm_build_drops_lines_the_model_cannot_spell(kenlm_tools: None, tmp_path: Path):
    """The characters are named with the lines each dropped: "2 lines dropped" alone left
    the user of a large corpus to guess why."""
    corpus = tmp_path / "mixed.txt"
    corpus.write_text("turn left\nωmega point\nturn right\n\u03b1\u03b2 ω\n", encoding="utf-8")
    result = _cli("lm", "build", str(corpus), "-o", str(tmp_path / "m.arpa"), "--model", "default")
    assert result.returncode == 0, result.stderr
    assert ("2 lines dropped for 'ω' (2), '\u03b1' (1), 'β' (1), which the model cannot "
            "spell (" in result.stdout)  # fmt: skip
    result = build_lm(corpus, tmp_path / "m.arpa", order=2, memory="64M")
    assert (result.dropped, result.unknown) == (2, {"ω": 2, "\u03b1": 1, "β": 1})


def test_cli_lm_build_without_tools_says_how_to_get_them(tmp_path: Path, corpus: Path):
    empty = tmp_path / "nothing"
    empty.mkdir()
    result = _cli(
        "lm", "build", str(corpus), "-o", str(tmp_path / "x.arpa"),
        env={"CTCASR_KENLM_BIN": str(empty), "HOME": str(tmp_path), "PATH": str(empty)},
    )  # fmt: skip
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error:") and "lmplz" in line and "lm/build_kenlm.sh" in line
    assert not (tmp_path / "x.arpa").exists()


def test_corpus_without_a_model_alphabet_drops_what_it_cannot_spell():
    """Without an alphabet the default one decides: "straße" is written out and a Greek line
    is dropped and counted (it was kept as nothing, and "ørsted" became "rsted")."""
    stats = CorpusStats()
    kept = list(normalize_corpus(["Straße", "Ørsted wins", "Αθήνα"], stats=stats))
    assert kept == ["strasse", "orsted wins"]
    assert stats.kept == 2 and stats.dropped == 1 and set(stats.unknown) == set("αθήν")


def test_ctrl_c_during_lm_build_is_one_line_and_writes_nothing(kenlm_tools: None,
                                                                tmp_path: Path):
    """Typer turned the KeyboardInterrupt into a silent exit 130: nothing on stderr."""
    import random
    import signal
    import sys
    import time

    from tests.helpers import default_sigint

    words = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
    rng = random.Random(0)
    corpus = tmp_path / "big.txt"
    corpus.write_text("\n".join(" ".join(rng.choice(words) for _ in range(12))
                                for _ in range(300_000)))  # fmt: skip
    output = tmp_path / "big.arpa"
    output.write_text("the old model\n")
    proc = subprocess.Popen(
        [sys.executable, "-c", "from ctcasr.cli import main; main()", "lm", "build",
         str(corpus), "-o", str(output), "--order", "5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint,
    )  # fmt: skip
    time.sleep(3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip() == "interrupted; outputs are written whole or not at all"
    assert output.read_text() == "the old model\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.arpa", "big.txt"]


def test_normalize_corpus_drops_numbers_under_an_alphabet_of_another_language():
    """A Spanish LM corpus line "Tengo 3 años" became the 3-gram "tengo three años"; now a
    line with a number or symbol such an alphabet cannot write is dropped and counted."""
    spanish = Alphabet((" ", *"abcdefghijklmnopqrstuvwxyzñáéíóúü"))
    stats = CorpusStats()
    lines = ["Tengo 3 años.", "Son las 10:30", "¿Qué hora es?", "5% más"]
    assert list(normalize_corpus(lines, spanish, stats)) == ["qué hora es"]
    assert (stats.kept, stats.dropped) == (1, 3)
    assert set(stats.unknown) == {"3", "1", "0", "5", "%"}


def test_cli_lm_build_for_an_alphabet_file(kenlm_tools: None, tmp_path: Path):
    """An LM for a model not trained yet: only ``-m BUNDLE`` chose the alphabet, and without
    it "años" was folded to "anos" for the English one."""
    alphabet = tmp_path / "es.txt"
    alphabet.write_text("\n".join([" ", *"abcdefghijklmnopqrstuvwxyzñáéíóúü"]) + "\n",
                        encoding="utf-8")  # fmt: skip
    corpus = tmp_path / "es.txt.corpus"
    corpus.write_text("Buenos años\ntengo 3 años\nmuchos años buenos\n", encoding="utf-8")
    out = tmp_path / "es.arpa"
    result = _cli("lm", "build", str(corpus), "--order", "2", "-o", str(out),
                  "--alphabet", str(alphabet))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "2 sentences" in result.stdout and "1 line dropped" in result.stdout
    arpa = out.read_text(encoding="utf-8")
    assert "\taños" in arpa and "anos" not in arpa and load_lm(out).order == 2
    # with a bundle too, the two must agree
    result = _cli("lm", "build", str(corpus), "-o", str(tmp_path / "x.arpa"),
                  "--alphabet", str(alphabet), "-m", "default")  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {alphabet}: alphabet has 34 symbols + blank")
    assert not (tmp_path / "x.arpa").exists()


def _fake_tools(folder: Path, scripts: dict[str, str]) -> Path:
    folder.mkdir()
    for name, body in scripts.items():
        tool = folder / name
        tool.write_text("#!/bin/sh\n" + body, encoding="utf-8")
        tool.chmod(tool.stat().st_mode | stat.S_IXUSR)
    return folder


def test_kenlm_tools_failing_on_a_full_disk_say_why_and_name_the_output(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """build_binary writes through a memory map: on a full disk it dies of SIGBUS, and the
    error was its progress bar ("build_binary failed: ----5---10---...--100"). lmplz named
    the hidden temporary it wrote in the output's place, gone when the message is read."""
    full = ('cat > /dev/null\necho "util/file.cc:228 in void util::WriteOrThrow threw '
            'FDException." >&2\necho "No space left on device in $(readlink /proc/$$/fd/1) '
            'while writing 759 bytes" >&2\nkill -ABRT $$\n')  # fmt: skip
    bar = 'echo "----5---10---15---20---25---30---35---40---45---50---100" >&2\nkill -BUS $$\n'
    folder = _fake_tools(tmp_path / "bin", {"lmplz": full, "build_binary": bar})
    monkeypatch.setenv(KENLM_BIN_ENV, str(folder))
    out = tmp_path / "lm.arpa"
    with pytest.raises(ConfigError) as caught:
        build_lm(corpus, out)
    assert str(caught.value) == (f"lmplz failed: No space left on device in {out} while "
                                 "writing 759 bytes")  # fmt: skip
    (folder / "lmplz").write_text("#!/bin/sh\ncat > /dev/null\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        build_lm(corpus, tmp_path / "lm.bin", binary=True)
    assert str(caught.value) == (f"{tmp_path / 'lm.bin'}: build_binary failed: killed by "
                                 "SIGBUS (a write to its memory-mapped output failed: is the "
                                 "disk full?)")  # fmt: skip
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bin", "corpus.txt"]


def test_corpus_keeps_accents_on_letters_that_fold_as_the_normaliser_does():
    """"İstanbul" lower-cases to "i" + a combining dot, and Yoruba "ẹ́" has no composed form:
    such lines were dropped as foreign, while the same words as a hotword, command or word
    list entry were spelled "istanbul" and "e", so the LM never held them. A mark of a script
    folding cannot write (a Devanagari vowel sign) still drops its line."""
    from ctcasr.text import normalize_text

    lines = ["İstanbul is big", "\u1eb9\u0301 ko", "Αθήνα", "\u0301 a mark alone"]
    stats = CorpusStats()
    kept = list(normalize_corpus(lines, stats=stats))
    assert kept == [normalize_text(line, strict=True) for line in lines[:2]]
    assert kept == ["istanbul is big", "e ko"] and stats.dropped == 2
    hindi = Alphabet((" ", *"\u0915\u0916\u0917"))
    stats = CorpusStats()
    assert list(normalize_corpus(["\u0915\u093f", "\u0915"], hindi, stats)) == ["\u0915"]
    assert set(stats.unknown) == {"\u093f"}
