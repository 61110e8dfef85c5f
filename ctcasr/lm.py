"""N-gram language models for the ``kenlm`` decoder: build them with KenLM, load, inspect.

KenLM's estimation tools (``lmplz``, ``build_binary``) ship neither as wheels nor as Debian
packages, so ``lm/build_kenlm.sh`` compiles them and :func:`find_tool` looks where it puts them.
Corpora go through the same :func:`~ctcasr.text.normalize_text` as training transcripts: an LM
over a spelling the acoustic model never emits ("2" instead of "two") would never match a beam.
Every failure, from a missing tool to a truncated ARPA file, becomes a one-line ConfigError.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import itertools
import os
import re
import shutil
import signal
import stat
import string
import subprocess
import tempfile
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal, NoReturn

from ctcasr.errors import ConfigError
from ctcasr.text import (
    Alphabet,
    fold_letter,
    letter_case,
    match_case,
    normalize_text,
    respell,
    said_in_english,
    spells_english,
)
from ctcasr.utils import atomic_path, check_readable, file_name, stat_or_fail, utf16_hint

if TYPE_CHECKING:
    import kenlm

KENLM_BIN_ENV = "CTCASR_KENLM_BIN"
# The kenlm wheel on PyPI is compiled with KENLM_MAX_ORDER=6; lmplz happily writes 7-grams that
# the decoder then cannot load, so higher orders are refused up front.
MAX_ORDER = 6
BUILD_HINT = (
    "run lm/build_kenlm.sh from the ctcasr source tree (builds lmplz and build_binary from the "
    f"kenlm package on PyPI), or put them on PATH / set {KENLM_BIN_ENV}"
)
_BINARY_MAGIC = b"mmap lm http://kheafield.com/code"
_SPECIAL_TOKENS = frozenset({"<s>", "</s>", "<unk>"})


def default_bin_dir() -> Path:
    """Where lm/build_kenlm.sh installs the tools (read at call time, so HOME changes count)."""
    return Path.home() / ".cache" / "ctcasr" / "kenlm" / "bin"


def find_tool(name: str) -> Path:
    """A KenLM executable from ``$CTCASR_KENLM_BIN``, :func:`default_bin_dir` or PATH, in order.

    The build script's folder comes before PATH so that a ctcasr build wins over an older
    system KenLM whose binary format the kenlm module may not read.
    """
    dirs = []
    env = os.environ.get(KENLM_BIN_ENV)
    if env:
        dirs.append(Path(env).expanduser())
    dirs.append(default_bin_dir())
    for folder in dirs:
        candidate = folder / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    found = shutil.which(name)
    if found:
        return Path(found)
    raise ConfigError(f"KenLM's {name} not found: {BUILD_HINT}")


# ---------------------------------------------------------------------------------------------
# Corpus normalisation
# ---------------------------------------------------------------------------------------------


@dataclass
class CorpusStats:
    """Counts that :func:`normalize_corpus` fills in as it goes (a generator cannot return them)."""

    kept: int = 0
    dropped: int = 0
    unknown: Counter[str] = field(default_factory=Counter)


class _ForeignLetters:
    """Finds letters an alphabet cannot spell, which normalize_text would silently delete.

    Adding them to the alphabet for one normalize_text call keeps them visible, so a line such
    as "naïve" under a Greek alphabet is dropped rather than mangled. a-z (in the alphabet's
    case) are always checked, since spelled-out digits use them; letters normalize_text can
    write another way ("é" -> "e", "e" -> "E") are left to it.
    """

    def __init__(self, alphabet: Alphabet) -> None:
        self.alphabet = alphabet
        letters = match_case(string.ascii_lowercase, alphabet)
        if letter_case(alphabet.labels) == "mixed":
            letters += string.ascii_uppercase
        self.ascii = tuple(c for c in letters if not self._spellable(c))
        self._cache: dict[str, bool] = {}

    def _spellable(self, char: str) -> bool:
        return char in self.alphabet or bool(respell(char, self.alphabet, partial=False))

    def _is_foreign(self, char: str) -> bool:
        foreign = self._cache.get(char)
        if foreign is None:
            foreign = unicodedata.category(char)[0] in "LM" and not self._spellable(char)
            self._cache[char] = foreign
        return foreign

    def _accent_only(self, text: str, mark: str) -> bool:
        """Whether each ``mark`` in ``text`` is an accent on a letter that folds (see
        :func:`~ctcasr.text.fold_letter`), as normalize_text drops it: "İstanbul" lower-cases
        to "i" + U+0307, and Yoruba "ẹ́" has no composed form, so such lines were dropped
        while the same word as a hotword, command or word list entry was spelled "istanbul"."""
        for i, char in enumerate(text):
            if char != mark:
                continue
            start = i
            while start > 0 and unicodedata.category(text[start - 1])[0] == "M":
                start -= 1
            base = text[start - 1] if start > 0 else " "  # a mark opening the line
            folded = fold_letter(base) if unicodedata.category(base)[0] == "L" else ""
            # a mark of a script folding cannot write (Devanagari's vowel signs) stays foreign
            if not (folded and self._spellable(base)
                    and fold_letter(base + text[start : i + 1]) == folded):
                return False  # fmt: skip
        return True

    def __call__(self, line: str) -> tuple[str, ...]:
        text = match_case(unicodedata.normalize("NFKC", line), self.alphabet)
        others = {c for c in text if not c.isascii() and c not in self.alphabet}
        foreign = [c for c in others if self._is_foreign(c)
                   and not (unicodedata.category(c)[0] == "M" and self._accent_only(text, c))]
        if not spells_english(self.alphabet.labels):
            # Numbers and "% & + @" stay as written, so the line is dropped and counted: the
            # normaliser deletes them for an alphabet that does not spell them in English.
            foreign += [c for c in set(text) - set(self.alphabet.labels) if said_in_english(c)]
        return self.ascii + tuple(sorted(foreign))


def normalize_corpus(
    lines: Iterable[str], alphabet: Alphabet | None = None, stats: CorpusStats | None = None
) -> Iterator[str]:
    """Yield each line in the spelled form the acoustic model emits, skipping empty results.

    A line that needs a character the alphabet (default: the default one) lacks is dropped
    whole (and counted in ``stats``) instead of having the character deleted, which would
    invent words.
    """
    stats = stats if stats is not None else CorpusStats()
    # Without a model's alphabet, the default one: a line it cannot spell is still dropped
    # and counted, never stripped of letters into a word nobody said ("straße" -> "strae").
    alphabet = alphabet or Alphabet()
    foreign_letters = _ForeignLetters(alphabet)
    for line in lines:
        foreign = foreign_letters(line)
        widened = Alphabet((*alphabet.labels, *foreign)) if foreign else alphabet
        text = normalize_text(line, widened)
        missing = alphabet.unknown_chars(text)
        if missing:
            stats.dropped += 1
            stats.unknown.update(missing)
            continue
        if text:
            stats.kept += 1
            yield text


# ---------------------------------------------------------------------------------------------
# Building
# ---------------------------------------------------------------------------------------------


@dataclass
class LMBuildResult:
    """What :func:`build_lm` wrote and from how much text."""

    path: Path
    order: int
    sentences: int
    words: int
    vocabulary: int
    dropped: int
    binary: bool
    seconds: float
    # The characters that dropped lines, each with the number of lines it dropped, most first.
    unknown: dict[str, int] = field(default_factory=dict)


def _corpus_paths(corpus: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> list[Path]:
    if isinstance(corpus, str | os.PathLike):
        corpus = [corpus]
    paths = [file_name(p, "corpus") for p in corpus]
    if not paths:
        raise ConfigError("no corpus files given")
    for path in paths:
        if check_regular_file(path, "corpus").st_size == 0:  # /dev/null was "not found"
            raise ConfigError(f"{path}: corpus file is empty")
    return paths


def _read_lines(paths: Sequence[Path]) -> Iterator[str]:
    """Each corpus file's lines, gunzipped when it is gzip (as LMs and word lists are: a
    ``corpus.txt.gz`` was refused as "not UTF-8 text")."""
    for path in paths:
        try:
            with io.TextIOWrapper(_open_bytes(path), encoding="utf-8") as handle:
                for lineno, line in enumerate(handle, start=1):
                    if "<" in line:
                        _check_no_markers(path, lineno, line)
                    yield line
        except UnicodeDecodeError:
            raise not_utf8(path) from None


def _check_no_markers(path: Path, lineno: int, line: str) -> None:
    """Refuse ``<s>``, ``</s>`` and ``<unk>`` in a corpus line, as lmplz does: the normaliser
    turned them into the words "s" and "unk" (an AN4 transcription file gave an LM in which
    "s" was the most frequent word), since lmplz never saw the brackets."""
    marker = next((t for t in line.split() if t in _SPECIAL_TOKENS), None)
    if marker is not None:
        raise ConfigError(
            f"{path}:{lineno}: holds {marker!r}, a token KenLM reserves; give plain text, "
            "one sentence per line (lmplz adds <s> and </s> itself)"
        )


def not_utf8(path: Path) -> ConfigError:
    """The error for a file that is not UTF-8, naming the first bad byte's offset in the file
    (a text handle's UnicodeDecodeError counts from the start of its current read chunk)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with _open_bytes(path) as handle:
        while True:
            chunk = handle.read(1 << 20)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                hint = utf16_hint(chunk) if offset == 0 else ""
                return ConfigError(f"{path}: not UTF-8 text (byte {offset - pending + exc.start}: "
                                   f"{exc.reason}){hint}")  # fmt: skip
            if not chunk:
                return ConfigError(f"{path}: not UTF-8 text")
            offset += len(chunk)


def _check_output(output: Path, corpus: Sequence[Path]) -> None:
    """Refuse an output the LM cannot be written to before lmplz runs (it was a traceback
    after the whole build), and one that is a corpus file (it was overwritten)."""
    if output.is_dir():
        raise ConfigError(f"{output}: is a folder; give the LM a file name")
    for parent in output.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(f"{output}: cannot be written ({parent} is a file)")
            break
    if output.exists() and any(output.resolve() == p.resolve() for p in corpus):
        raise ConfigError(f"{output}: is the corpus being read; write the LM elsewhere")


# Suffixes of compressed files other than gzip, which ctcasr cannot read back.
_OTHER_COMPRESSION = (".bz2", ".xz", ".zst")


def _gzipped(output: Path, binary: bool) -> bool:
    """Whether the output is named ``.gz`` (then written as gzip, which kenlm reads: plain
    text under that name was written before); other compressed names, and a compressed
    binary (kenlm maps binaries into memory), are refused."""
    suffix = output.suffix.lower()
    if suffix in _OTHER_COMPRESSION:
        raise ConfigError(
            f"{output}: ctcasr writes gzip only; name the LM .arpa.gz or .arpa"
        )
    if suffix == ".gz" and binary:
        raise ConfigError(
            f"{output}: a KenLM binary cannot be compressed (kenlm maps it into memory); "
            "drop the .gz"
        )
    return suffix == ".gz"


def _tool_error(stderr: str) -> str:
    """The human part of a KenLM failure: the lines after its ``file.cc:N in ... threw`` line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    if not lines:
        return "no error message"
    for i in range(len(lines) - 1, -1, -1):
        if " threw " in lines[i]:
            tail = " ".join(lines[i + 1 :])
            return tail or lines[i]
    return lines[-1]


def _fail(tool: str, err: IO[bytes], status: int, temporary: Path, output: Path) -> NoReturn:
    """A KenLM tool's failure in one line, naming ``output`` where the tool named the
    temporary written in its place (gone by the time the message is read)."""
    err.seek(0)
    text = err.read().decode("utf-8", "replace").replace(str(temporary), str(output))
    if status < 0 and " threw " not in text:  # no message of its own, a progress bar at most
        raise ConfigError(f"{output}: {tool} failed: {_killed_by(-status)}")
    raise ConfigError(f"{tool} failed: {_tool_error(text)}")


def _killed_by(signum: int) -> str:
    """Why a tool died of a signal: build_binary writes its model through a memory map,
    and a disk that fills under it ends it with SIGBUS, its output a progress bar alone."""
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    if signum == getattr(signal, "SIGBUS", None):
        return f"killed by {name} (a write to its memory-mapped output failed: is the disk full?)"
    return f"killed by {name}"


def _run_tool(args: list[str], temporary: Path, output: Path) -> None:
    with tempfile.TemporaryFile() as err:
        status = subprocess.run(args, stdout=subprocess.DEVNULL, stderr=err).returncode
        if status != 0:
            _fail(Path(args[0]).name, err, status, temporary, output)


def build_lm(
    corpus: str | os.PathLike[str] | Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    order: int = 3,
    *,
    binary: bool = False,
    alphabet: Alphabet | None = None,
    prune: Sequence[int] | None = None,
    discount_fallback: bool = True,
    memory: str = "20%",
) -> LMBuildResult:
    """Estimate an ``order``-gram Kneser-Ney model of the normalised corpus with ``lmplz``.

    Writes ARPA (gzipped when ``output`` ends in ``.gz``), or with ``binary`` a KenLM trie
    (smaller, loads in milliseconds). The output appears atomically, so a failed build never
    leaves a half-written model behind.
    ``discount_fallback`` is on by default because small or artificial corpora (digit strings)
    lack the count-of-counts Kneser-Ney discounting needs, and lmplz aborts on them otherwise.
    ``memory`` is lmplz's ``-S``; it touches much of it, so a tiny corpus builds faster with
    less (it needs a few tens of MB at least).
    """
    start = time.perf_counter()
    if order < 2:  # lmplz writes a unigram model, but kenlm cannot load or binarise one
        raise ConfigError(f"LM order must be at least 2 (kenlm loads bigrams and up), got {order}")
    if order > MAX_ORDER:
        raise ConfigError(f"LM order {order} is above {MAX_ORDER}, the most kenlm can load")
    prune = list(prune or [])
    if len(prune) > order or any(p < 0 for p in prune):
        raise ConfigError(
            f"prune takes up to {order} non-negative count thresholds, one per order, got {prune}"
        )
    paths = _corpus_paths(corpus)
    output = file_name(output, "LM output")
    gzipped = _gzipped(output, binary)
    try:
        _check_output(output, paths)
    except OSError as exc:  # a name the file system refuses outright
        raise ConfigError(f"{output}: cannot write the LM ({exc.strerror or exc})") from None
    stats = CorpusStats()
    lines = normalize_corpus(_read_lines(paths), alphabet, stats)
    first = next(lines, None)  # refuse text-free corpora before lmplz grabs its memory
    if first is None:
        names = ", ".join(str(p) for p in paths)
        dropped = f" ({stats.dropped} dropped for characters outside the alphabet)"
        raise ConfigError(
            f"{names}: no usable text after normalisation" + (dropped if stats.dropped else "")
        )
    lmplz = find_tool("lmplz")
    build_binary = find_tool("build_binary") if binary else None
    words = 0
    vocabulary: set[str] = set()
    try:
        with tempfile.TemporaryDirectory(prefix="ctcasr-lm-") as tmp, atomic_path(output) as out:
            arpa = Path(tmp) / "model.arpa" if binary or gzipped else out
            args = [str(lmplz), "-o", str(order), "-S", memory, "-T", tmp]
            if discount_fallback:
                args.append("--discount_fallback")
            if prune:
                args += ["--prune", *map(str, prune)]
            with arpa.open("wb") as arpa_out, tempfile.TemporaryFile() as err:
                proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=arpa_out, stderr=err)
                assert proc.stdin is not None
                try:
                    for line in itertools.chain([first], lines):
                        tokens = line.split()
                        words += len(tokens)
                        vocabulary.update(tokens)
                        proc.stdin.write(line.encode("utf-8") + b"\n")
                except BrokenPipeError:
                    pass  # lmplz died early; its exit status and message are reported below
                except BaseException:
                    proc.kill()
                    proc.wait()
                    raise
                finally:
                    with contextlib.suppress(BrokenPipeError):
                        proc.stdin.close()
                if proc.wait() != 0:
                    _fail("lmplz", err, proc.returncode, out, output)
            if build_binary is not None:
                _run_tool([str(build_binary), "-S", memory, "-T", tmp, "trie", str(arpa),
                           str(out)], out, output)  # fmt: skip
            elif gzipped:
                _gzip(arpa, out)
    except OSError as exc:  # an output name too long for its temporary, a read-only folder
        raise ConfigError(f"{output}: cannot write the LM ({exc.strerror or exc})") from None

    return LMBuildResult(
        path=output,
        order=order,
        sentences=stats.kept,
        words=words,
        vocabulary=len(vocabulary),
        dropped=stats.dropped,
        binary=binary,
        seconds=time.perf_counter() - start,
        unknown=dict(stats.unknown.most_common()),
    )


def _gzip(source: Path, target: Path) -> None:
    """Compress with no name or time in the header, so a rebuild is byte for byte the same."""
    with source.open("rb") as src, target.open("wb") as raw, gzip.GzipFile(
        filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0
    ) as out:
        shutil.copyfileobj(src, out, 1 << 20)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


_GZIP_MAGIC = b"\x1f\x8b"


def _open_bytes(path: Path) -> IO[bytes]:
    """The file's bytes, gunzipped when it is gzip (kenlm reads ``model.arpa.gz`` itself)."""
    with path.open("rb") as handle:
        gz = handle.read(2) == _GZIP_MAGIC
    return gzip.open(path, "rb") if gz else path.open("rb")  # type: ignore[return-value]


def _model_format(path: Path) -> Literal["arpa", "binary"] | None:
    """Sniff the header, because kenlm's own errors on garbage are long C++ traces."""
    try:
        with _open_bytes(path) as handle:
            head = handle.read(len(_BINARY_MAGIC))
            if head == _BINARY_MAGIC:
                return "binary"
            handle.seek(0)
            for _ in range(1000):  # KenLM skips blank lines before \data\; so do we, up to a point
                line = handle.readline(4096)
                if not line:
                    return None
                if line.strip():
                    return "arpa" if line.strip() == b"\\data\\" else None
    except (OSError, EOFError):  # EOFError: a truncated gzip stream
        return None
    return None


def _bom_hint(path: Path) -> str:
    """Why an ARPA saved by a Windows editor or tool is refused: it opens with a byte-order
    mark, which kenlm does not skip, and the file looked fine to the user."""
    try:
        with _open_bytes(path) as handle:
            head = handle.read(64)
    except (OSError, EOFError):
        return ""
    if head.startswith(codecs.BOM_UTF8) and head[3:].lstrip().startswith(b"\\data\\"):
        return (": an ARPA file that starts with a UTF-8 byte-order mark, which kenlm cannot "
                "read; save it without one")
    return ""


def is_arpa(path: str | os.PathLike[str]) -> bool:
    """True for a (text) ARPA file; False for binaries, word lists and unreadable paths."""
    return _model_format(Path(path)) == "arpa"


# build_binary ends the file with the vocabulary, NUL-terminated and ``<unk>`` first; only
# this much of the tail is read for it (about a million words).
_VOCAB_TAIL_BYTES = 16 << 20


def binary_vocabulary(path: str | os.PathLike[str]) -> list[str] | None:
    """The words a KenLM binary stores after its tables, or None where none is found (no
    binary, an old one without them, or more than the tail read holds). Used to check that
    the model can spell the LM's words: an upper-case binary otherwise decoded with every
    word unknown, silently."""
    path = Path(path)
    if _model_format(path) != "binary":
        return None
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - _VOCAB_TAIL_BYTES))
            tail = handle.read()
    except OSError:
        return None
    start = tail.rfind(b"<unk>\0")
    if start < 0 or not tail.endswith(b"\0"):
        return None
    words = tail[start:-1].split(b"\0")
    return [w for b in words if (w := b.decode("utf-8", "replace")) not in _SPECIAL_TOKENS]


def _kenlm_reason(exc: BaseException) -> str:
    """kenlm's message without the ``Cannot read model`` wrapper and the C++ location."""
    text = " ".join(str(exc).split())
    text = re.sub(r"^Cannot read model '.*?' \((.*)\)$", r"\1", text)
    text = re.sub(r"^\S+:\d+ in .*? threw \w+(?: because `.*?'\.)?\s*", "", text)
    if len(text) > 200:  # long kenlm messages go on to advice on recompiling; keep the first part
        end = text.find(". ", 20)
        text = text[: end + 1] if 0 < end < 200 else text[:200]
    return text or type(exc).__name__


def load_lm(path: str | os.PathLike[str]) -> kenlm.Model:
    """Open an ARPA or binary KenLM model; broken files raise ConfigError, not C++ traces.

    Caveat from kenlm itself: a binary whose header is intact but whose body is corrupted loads,
    and may then crash the process when queried; only ARPA files are fully checked on load.
    """
    import kenlm

    path = Path(path)
    check_regular_file(path, "language model")
    unreadable = f"{path}: not a readable KenLM model (ARPA or binary)"
    if _model_format(path) is None:
        raise ConfigError(unreadable + _bom_hint(path))
    config = kenlm.Config()
    config.show_progress = False
    config.arpa_complain = kenlm.ARPALoadComplain.NONE
    try:
        return kenlm.Model(str(path), config)
    # kenlm raises OSError for format errors, but UnicodeDecodeError (a ValueError) when the
    # message quotes undecodable bytes from the file.
    except (OSError, RuntimeError, ValueError) as exc:
        raise ConfigError(f"{unreadable}: {_kenlm_reason(exc)}") from None


def read_unigrams(path: str | os.PathLike[str]) -> list[str]:
    """The vocabulary a decoder may emit: an ARPA's 1-grams, or a word list (one per line).

    ``<s>``, ``</s>`` and ``<unk>`` are skipped; word lists may hold ``#`` comment lines.
    Binary models store no readable word list, so they are refused with a hint.
    """
    path = Path(path)
    kind = _word_list_format(path)
    if kind != "arpa":
        return list(dict.fromkeys(word for _, word in _word_lines(path)))
    words: dict[str, None] = {}
    try:
        with io.TextIOWrapper(_open_bytes(path), encoding="utf-8") as handle:
            in_unigrams = False
            for line in handle:
                stripped = line.strip()
                if stripped == "\\1-grams:":
                    in_unigrams = True
                elif in_unigrams:
                    if not stripped or stripped.startswith("\\"):
                        break
                    fields = stripped.split()
                    if len(fields) >= 2 and fields[1] not in _SPECIAL_TOKENS:
                        words[fields[1]] = None
    except UnicodeDecodeError:
        raise not_utf8(path) from None
    return list(words)


def read_word_lines(path: str | os.PathLike[str]) -> list[tuple[int, str]]:
    """A word list's entries with their line numbers (blank and ``#`` lines left out), read
    once, gzip or not: the decoder read a list twice, the second time as plain text, so a
    gzipped list that passed the first read failed the second. A binary model is refused
    as by :func:`read_unigrams`."""
    path = Path(path)
    _word_list_format(path)
    return _word_lines(path)


def check_regular_file(path: Path, what: str) -> os.stat_result:
    """Refuse a path that is not a regular file, saying what it is instead: ``/dev/null``
    and a folder were "not found", though they exist; and one the user may not read, which
    was "not a readable KenLM model (ARPA or binary)", as if its format were wrong. Returns
    its stat."""
    info = stat_or_fail(path, what, ConfigError)
    if stat.S_ISDIR(info.st_mode):
        raise ConfigError(f"{path}: is a folder; give the {what} file")
    if not stat.S_ISREG(info.st_mode):
        raise ConfigError(f"{path}: not a regular file (a device or pipe); give the {what} "
                          "as a file")  # fmt: skip
    check_readable(path, what, ConfigError)
    return info


def _word_list_format(path: Path) -> Literal["arpa"] | None:
    """``"arpa"``, or None for a plain word list; a missing file or a binary model (which
    stores no readable word list) is refused."""
    check_regular_file(path, "word list")
    kind = _model_format(path)
    if kind == "binary":
        raise ConfigError(
            f"{path}: a binary KenLM model has no readable word list; "
            "pass the ARPA it was built from or a word list instead"
        )
    return kind


def _word_lines(path: Path) -> list[tuple[int, str]]:
    try:
        # utf-8-sig: an editor's byte-order mark stuck to the first word
        with io.TextIOWrapper(_open_bytes(path), encoding="utf-8-sig") as handle:
            return [(n, w) for n, line in enumerate(handle, start=1)
                    if (w := line.strip()) and not w.startswith("#")]  # fmt: skip
    except UnicodeDecodeError:
        raise not_utf8(path) from None
