"""The decoder registry: built-ins, options, and plug-ins found through real entry points."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from ctcasr.decoding.base import Decoder
from ctcasr.decoding.beam import BeamDecoder
from ctcasr.decoding.greedy import GreedyDecoder
from ctcasr.decoding.registry import (
    ENTRY_POINT_GROUP,
    REQUIRED,
    available_decoders,
    create_decoder,
    get_decoder_class,
)
from ctcasr.errors import ConfigError
from ctcasr.text import Alphabet

ROOT = Path(__file__).resolve().parents[1]
ALPHABET = Alphabet()
V = ALPHABET.num_classes
BLANK = ALPHABET.blank_index


def frames(spec: str, peak: float = 0.9) -> np.ndarray:
    """Log-probabilities for one frame per character of ``spec``; ``_`` is the blank."""
    rows = []
    for char in spec:
        index = BLANK if char == "_" else ALPHABET.encode(char)[0]
        probs = np.full(V, (1.0 - peak) / (V - 1))
        probs[index] = peak
        rows.append(probs)
    return np.log(np.array(rows, dtype=np.float64).reshape(-1, V))


# ---------------------------------------------------------------------------------------------
# built-ins
# ---------------------------------------------------------------------------------------------


def test_builtins_are_available():
    decoders = available_decoders()
    assert {"greedy", "beam", "kenlm", "grammar"} <= set(decoders)
    assert list(decoders)[:4] == ["greedy", "beam", "kenlm", "grammar"]  # built-ins first
    for name in ("greedy", "beam", "kenlm", "grammar"):
        assert decoders[name].package == "ctcasr"
        assert decoders[name].name == name
    assert decoders["greedy"].load() is GreedyDecoder
    assert get_decoder_class("beam") is BeamDecoder


def test_entry_point_group_name():
    assert ENTRY_POINT_GROUP == "ctcasr.decoders"


def test_create_builtin_decoders():
    beam = create_decoder("beam", ALPHABET, beam_width=4)
    assert isinstance(beam, BeamDecoder)
    assert beam.beam_width == 4
    assert beam.decode(frames("_h_i_"))[0].text == "hi"
    greedy = create_decoder("greedy", ALPHABET, frame_seconds=0.04)
    assert greedy.frame_seconds == 0.04
    assert greedy.decode(frames("_h_i_"))[0].text == "hi"
    grammar = create_decoder("grammar", ALPHABET, commands=["hi", "bye"])
    assert grammar.decode(frames("_h_i_"))[0].text == "hi"


def test_none_options_keep_defaults():
    beam = create_decoder("beam", ALPHABET, beam_width=None, hotwords=None)
    assert beam.options() == BeamDecoder(ALPHABET).options()  # every option, hotwords too
    assert beam.beam_width == 16 and not beam.hotwords


def test_unknown_option_lists_accepted_ones():
    with pytest.raises(ConfigError) as info:
        create_decoder("beam", ALPHABET, beam_widht=4)
    message = str(info.value)
    assert "beam_widht" in message
    for option in ("beam_width", "beam_prune_logp", "token_min_logp", "hotwords"):
        assert option in message
    assert "alphabet" not in message


def test_unknown_decoder_lists_available_ones():
    with pytest.raises(ConfigError) as info:
        create_decoder("nosuch", ALPHABET)
    message = str(info.value)
    assert "nosuch" in message
    for name in ("greedy", "beam", "kenlm", "grammar"):
        assert name in message
    with pytest.raises(ConfigError, match="nosuch"):
        get_decoder_class("nosuch")


def test_builtin_info():
    info = available_decoders()["beam"]
    assert info.summary()
    options = info.options()
    assert options["beam_width"] == 16
    assert "frame_seconds" not in options
    # kenlm's lm and grammar's commands default to None, but none is an error: shown so
    assert available_decoders()["kenlm"].options()["lm"] is REQUIRED
    assert available_decoders()["grammar"].options()["commands"] is REQUIRED
    assert available_decoders()["kenlm"].options()["unigrams"] is None


# ---------------------------------------------------------------------------------------------
# plug-ins through real entry points
# ---------------------------------------------------------------------------------------------

PLUGIN_SOURCE = '''
"""A test plug-in for ctcasr."""

from ctcasr.decoding.base import Decoder, Hypothesis
from ctcasr.decoding.greedy import GreedyDecoder


class ReverseDecoder(Decoder):
    """Greedy decoding, text reversed (a test plug-in).

    Longer description that the summary leaves out.
    """

    name = "reverse"

    def __init__(self, alphabet, *, frame_seconds=0.02, suffix=""):
        super().__init__(alphabet, frame_seconds=frame_seconds)
        self.suffix = suffix

    def decode(self, log_probs, nbest=1):
        hyp = GreedyDecoder(self.alphabet, frame_seconds=self.frame_seconds).decode(log_probs)[0]
        return [Hypothesis(hyp.text[::-1] + self.suffix, hyp.score, hyp.confidence)]
'''


def install_plugin(
    root: Path, module: str, dist: str, source: str, entry_points: dict[str, str]
) -> None:
    """A module plus a ``.dist-info`` folder declaring its entry points, as pip installs it."""
    (root / module).mkdir()
    (root / module / "__init__.py").write_text(textwrap.dedent(source), encoding="utf-8")
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n", encoding="utf-8"
    )
    lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{k} = {v}" for k, v in entry_points.items())]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def run_cli(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``ctcasr ARGS`` in a fresh process that sees the plug-ins installed in ``site``."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(site), env.get("PYTHONPATH", "")) if p)
    return subprocess.run([sys.executable, "-m", "ctcasr.cli", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A folder on sys.path that plug-ins are installed into; their modules are forgotten
    afterwards."""
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    before = set(sys.modules)
    yield root
    for name in set(sys.modules) - before:
        if name.startswith("ctcasr_"):
            del sys.modules[name]


@pytest.fixture
def reverse_plugin(site):
    install_plugin(
        site,
        "ctcasr_testplugin",
        "ctcasr-testplugin",
        PLUGIN_SOURCE,
        {
            "reverse": "ctcasr_testplugin:ReverseDecoder",
            "greedy": "ctcasr_testplugin:ReverseDecoder",  # may not take a built-in's name
        },
    )
    importlib.invalidate_caches()
    return site


def test_plugin_is_discovered_and_decodes(reverse_plugin):
    decoders = available_decoders()
    info = decoders["reverse"]
    assert info.package == "ctcasr-testplugin"
    assert info.target == "ctcasr_testplugin:ReverseDecoder"
    cls = info.load()
    assert issubclass(cls, Decoder)
    assert get_decoder_class("reverse") is cls
    decoder = create_decoder("reverse", ALPHABET)
    assert decoder.decode(frames("_s_t_o_p_"))[0].text == "pots"
    decoder = create_decoder("reverse", ALPHABET, suffix="!", frame_seconds=0.04)
    assert decoder.frame_seconds == 0.04
    assert decoder.decode(frames("_n_o_"))[0].text == "on!"
    assert info.summary() == "Greedy decoding, text reversed (a test plug-in)."
    assert info.options() == {"suffix": ""}
    with pytest.raises(ConfigError, match="suffix"):
        create_decoder("reverse", ALPHABET, beam_width=3)


def test_plugin_cannot_take_builtin_name(reverse_plugin):
    decoders = available_decoders()
    assert decoders["greedy"].package == "ctcasr"
    assert decoders["greedy"].load() is GreedyDecoder
    assert create_decoder("greedy", ALPHABET).decode(frames("_s_t_o_p_"))[0].text == "stop"


def test_a_plugin_left_out_for_its_name_is_named_with_the_reason(reverse_plugin):
    """An entry point taking a built-in's name, or one another package declared first, was
    dropped without a word: ``ctcasr decoders`` listed the other decoder under that name
    and the author saw no reason why theirs never ran."""
    from typer.testing import CliRunner

    from ctcasr.cli import app
    from ctcasr.decoding.registry import refused_plugins

    install_plugin(reverse_plugin, "ctcasr_rival", "ctcasr-rival", PLUGIN_SOURCE,
                   {"reverse": "ctcasr_rival:ReverseDecoder"})  # fmt: skip
    importlib.invalidate_caches()
    used = available_decoders()["reverse"].target.split(":")[0]  # the first found wins
    unused = ({"ctcasr_testplugin", "ctcasr_rival"} - {used}).pop()
    package = {"ctcasr_testplugin": "ctcasr-testplugin", "ctcasr_rival": "ctcasr-rival"}
    assert sorted(refused_plugins()) == [
        "decoder 'greedy' from ctcasr-testplugin (ctcasr_testplugin:ReverseDecoder) is not "
        "used: 'greedy' is a built-in decoder's name",
        f"decoder 'reverse' from {package[unused]} ({unused}:ReverseDecoder) is not used: "
        f"{package[used]} declares 'reverse' first ({used}:ReverseDecoder)",
    ]
    result = CliRunner().invoke(app, ["decoders"])
    assert result.exit_code == 0, result.output
    warnings = result.stderr.splitlines()
    assert warnings == [f"warning: {line}" for line in refused_plugins()]


POSITIONAL_PLUGIN_SOURCE = '''
"""A plug-in whose options are not keyword-only."""

from ctcasr.decoding.base import Decoder, Hypothesis


class PadDecoder(Decoder):
    """Says the same padded word whatever the audio."""

    def __init__(self, alphabet, width=4, frame_seconds=0.02, *extra, word):
        super().__init__(alphabet, frame_seconds=frame_seconds)
        self.text = word.ljust(width, "a")

    def decode(self, log_probs, nbest=1):
        return [Hypothesis(self.text, 0.0, 1.0)]
'''


def test_options_that_are_not_keyword_only_are_listed(site):
    """Options a plug-in takes positionally-or-by-keyword are options too (only keyword-only
    ones were listed), and one without a default is shown as required, not as None."""
    install_plugin(site, "ctcasr_padplugin", "ctcasr-padplugin", POSITIONAL_PLUGIN_SOURCE,
                   {"pad": "ctcasr_padplugin:PadDecoder"})  # fmt: skip
    importlib.invalidate_caches()
    options = available_decoders()["pad"].options()
    assert options == {"width": 4, "word": REQUIRED}
    assert repr(options["word"]) == "<required>"
    assert create_decoder("pad", ALPHABET, width=3, word="o").decode(frames("_o_"))[0].text == "oaa"
    with pytest.raises(ConfigError, match=r"it takes: width, word\)"):
        create_decoder("pad", ALPHABET, word="o", extra=1)


def test_broken_plugin_does_not_break_listing(site):
    install_plugin(
        site,
        "ctcasr_brokenplugin",
        "ctcasr-brokenplugin",
        'raise ImportError("needs libfoo, which is not installed")\n',
        {"broken": "ctcasr_brokenplugin:BrokenDecoder"},
    )
    install_plugin(
        site,
        "ctcasr_noattr",
        "ctcasr-noattr",
        '"""Imports fine but lacks the class."""\n',
        {"missing": "ctcasr_noattr:NoSuchDecoder"},
    )
    importlib.invalidate_caches()
    decoders = available_decoders()
    assert {"greedy", "beam", "kenlm", "grammar", "broken", "missing"} <= set(decoders)
    assert decoders["broken"].package == "ctcasr-brokenplugin"
    with pytest.raises(ConfigError, match="ctcasr-brokenplugin") as info:
        decoders["broken"].load()
    assert "broken" in str(info.value)
    assert "libfoo" in str(info.value)
    with pytest.raises(ConfigError, match="ctcasr-brokenplugin"):
        create_decoder("broken", ALPHABET)
    with pytest.raises(ConfigError, match="ctcasr-noattr"):
        get_decoder_class("missing")
    assert decoders["broken"].summary().startswith("unavailable:")
    assert decoders["broken"].options() == {}
    # The others still work.
    assert create_decoder("beam", ALPHABET).decode(frames("_o_k_"))[0].text == "ok"


def test_unknown_decoder_offers_only_decoders_that_load(site):
    """A plug-in whose import fails was listed among the decoders to choose instead, and
    choosing it only failed in turn; it is now named apart as one that failed to load."""
    from typer.testing import CliRunner

    from ctcasr.cli import app

    install_plugin(site, "ctcasr_brokenplugin", "ctcasr-brokenplugin",
                   'raise ImportError("needs libfoo")\n',
                   {"broken": "ctcasr_brokenplugin:BrokenDecoder"})  # fmt: skip
    importlib.invalidate_caches()
    with pytest.raises(ConfigError) as info:
        get_decoder_class("nosuch")
    available, _, rest = str(info.value).partition("available: ")[2].partition(")")
    assert set(available.split(", ")) == {"greedy", "beam", "kenlm", "grammar"}
    assert "failed to load: broken" in rest
    clip = ROOT / "examples" / "zero.wav"
    result = CliRunner().invoke(app, ["transcribe", "--decoder", "nosuch", str(clip)])
    assert result.exit_code != 0
    assert isinstance(result.exception, ConfigError)
    assert str(result.exception) == str(info.value)


FAILING_PLUGIN_SOURCE = '''
"""Plug-ins that load but cannot start."""

from ctcasr.decoding.base import Decoder, Hypothesis


class _Failing(Decoder):
    """Fails in its constructor."""

    error: BaseException = RuntimeError()

    def __init__(self, alphabet, *, frame_seconds=0.02):
        raise self.error

    def decode(self, log_probs, nbest=1):
        return [Hypothesis("", 0.0, 1.0)]


class NoDevice(_Failing):
    """Needs a device."""

    error = RuntimeError("no device found")


class NoLibrary(_Failing):
    """Needs an optional library."""

    error = ImportError("needs libfoo, which is not installed")


class Silent(_Failing):
    """Fails without a message."""

    error = RuntimeError()


class Interrupted(_Failing):
    """Ctrl-C while it starts."""

    error = KeyboardInterrupt()
'''

FAILING = {
    "nodevice": "ctcasr_failing:NoDevice",
    "nolibrary": "ctcasr_failing:NoLibrary",
    "silent": "ctcasr_failing:Silent",
    "interrupted": "ctcasr_failing:Interrupted",
}


@pytest.fixture
def failing_plugin(site):
    install_plugin(site, "ctcasr_failing", "ctcasr-failing", FAILING_PLUGIN_SOURCE, FAILING)
    importlib.invalidate_caches()
    return site


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nodevice", "decoder 'nodevice': RuntimeError: no device found"),
        ("nolibrary", "decoder 'nolibrary': ImportError: needs libfoo, which is not installed"),
        ("silent", "decoder 'silent': RuntimeError"),
    ],
)
def test_plugin_that_cannot_start_is_a_config_error(failing_plugin, name, message):
    """Only TypeError, ValueError and OSError from a constructor became one-line errors; a
    plug-in raising RuntimeError or ImportError (an optional dependency missing) ended
    ``ctcasr transcribe --decoder NAME`` in a traceback."""
    with pytest.raises(ConfigError) as info:
        create_decoder(name, ALPHABET)
    assert str(info.value) == message


def test_interrupt_while_a_plugin_starts_is_not_swallowed(failing_plugin):
    with pytest.raises(KeyboardInterrupt):
        create_decoder("interrupted", ALPHABET)


def test_cli_plugin_that_cannot_start_is_one_line(failing_plugin):
    clip = ROOT / "examples" / "seven.wav"
    result = run_cli(failing_plugin, "transcribe", str(clip), "--decoder", "nolibrary")
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line == "error: decoder 'nolibrary': ImportError: needs libfoo, which is not installed"


UNDOCUMENTED_PLUGIN_SOURCE = '''
"""A plug-in module with a docstring, whose class has none."""

from ctcasr.decoding.base import Decoder, Hypothesis


class PlainDecoder(Decoder):
    def decode(self, log_probs, nbest=1):
        return [Hypothesis("plain", 0.0, 1.0)]
'''


def test_plugin_without_docstring_has_no_summary(site):
    """inspect.getdoc inherits: a plug-in class without a docstring was listed by ``ctcasr
    decoders`` as "Base class for decoders, built-in or plugged in ..."."""
    install_plugin(site, "ctcasr_plain", "ctcasr-plain", UNDOCUMENTED_PLUGIN_SOURCE,
                   {"plain": "ctcasr_plain:PlainDecoder"})  # fmt: skip
    importlib.invalidate_caches()
    assert available_decoders()["plain"].summary() == ""
    assert available_decoders()["beam"].summary().startswith("CTC prefix beam search")
    from typer.testing import CliRunner

    from ctcasr.cli import app

    result = CliRunner().invoke(app, ["decoders"])
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("plain ")]
    assert line.rstrip() == line and line.endswith("[ctcasr-plain]")
    assert "Base class" not in result.stdout


def test_plugin_without_decode_method(site):
    install_plugin(
        site,
        "ctcasr_nodecode",
        "ctcasr-nodecode",
        "class NotADecoder:\n    pass\n",
        {"nodecode": "ctcasr_nodecode:NotADecoder"},
    )
    importlib.invalidate_caches()
    with pytest.raises(ConfigError, match="decode"):
        get_decoder_class("nodecode")


DUCK_PLUGIN_SOURCE = '''
"""Entry points that name something with decode() that is no Decoder."""

from ctcasr.decoding.base import Hypothesis


class LooksLikeADecoder:
    """Has decode() but does not subclass Decoder."""

    def decode(self, log_probs, nbest=1):
        return [Hypothesis("", 0.0, 1.0)]


def make_decoder(alphabet, *, frame_seconds=0.02):
    return LooksLikeADecoder()
'''


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("duck", "decoder 'duck' (ctcasr_duck:LooksLikeADecoder) is not a subclass of "
                 "ctcasr.decoding.Decoder"),
        ("factory", "decoder 'factory' (ctcasr_duck:make_decoder) is a function, not a "
                    "subclass of ctcasr.decoding.Decoder"),
    ],
)  # fmt: skip
def test_plugin_that_is_not_a_decoder_subclass_says_so(site, name, message):
    """A class with decode() but no Decoder base was taken, then failed to start as
    "decoder 'duck': LooksLikeADecoder() takes no arguments", which names neither the fault
    nor the fix; a factory function was refused for having "no decode() method"."""
    install_plugin(site, "ctcasr_duck", "ctcasr-duck", DUCK_PLUGIN_SOURCE,
                   {"duck": "ctcasr_duck:LooksLikeADecoder",
                    "factory": "ctcasr_duck:make_decoder"})  # fmt: skip
    importlib.invalidate_caches()
    with pytest.raises(ConfigError) as info:
        create_decoder(name, ALPHABET)
    assert str(info.value) == message
    assert available_decoders()[name].summary() == f"unavailable: {message}"


ODD_PLUGIN_SOURCE = '''
"""A plug-in whose decode() returns the wrong things, one per mode."""

import numpy as np

from ctcasr.decoding.base import Decoder, Hypothesis, WordTiming
from ctcasr.decoding.greedy import GreedyDecoder

NAN = float("nan")


class OddDecoder(Decoder):
    """Greedy's answer, or something that is not one."""

    def __init__(self, alphabet, *, frame_seconds=0.02, mode: str = "str"):
        super().__init__(alphabet, frame_seconds=frame_seconds)
        self.greedy = GreedyDecoder(alphabet, frame_seconds=frame_seconds)
        self.mode = mode

    def decode(self, log_probs, nbest=1):
        good = self.greedy.decode(log_probs)[0]
        if self.mode == "numpy":  # scores and times straight from numpy arithmetic
            words = tuple(WordTiming(w.word, np.float32(w.start), np.float32(w.end),
                                     np.float64(w.confidence)) for w in good.words)
            return [Hypothesis(good.text, np.float32(good.score),
                               np.float32(good.confidence), words)] * 3
        if self.mode == "lines":  # a tab and line breaks inside, spaces around
            words = (WordTiming(good.text + "\\n", 0.0, 0.5, 0.9), WordTiming("and", 0.5, 0.6, 0.9),
                     WordTiming("more", 0.6, 0.7, 0.9))
            return [Hypothesis(f" {good.text}\\tand\\r\\nmore ", good.score, 0.5, words)]
        if self.mode == "numpy-rejected":  # rejected = confidence < threshold, in numpy
            confidence = np.float32(good.confidence)
            return [Hypothesis(good.text, good.score, confidence, (), confidence < 2.0)]
        return {"str": good.text, "empty": [], "none": None, "dict": [{"text": good.text}],
                "score": [Hypothesis(good.text, "high", 0.5)],
                "confidence": [Hypothesis(good.text, 0.0, 2.5)],
                "rejected": [Hypothesis(good.text, 0.0, 0.5, (), "yes")],
                "word-time": [Hypothesis("x", 0.0, 0.5, (WordTiming("x", NAN, 0.2, 0.5),))],
                "word-order": [Hypothesis("x", 0.0, 0.5, (WordTiming("x", 0.5, 0.2, 0.5),))],
                "word-confidence": [Hypothesis("x", 0.0, 0.5, (WordTiming("x", 0, 0.2, 7.0),))],
                }[self.mode]
'''


@pytest.fixture
def odd_plugin(site):
    install_plugin(site, "ctcasr_odd", "ctcasr-odd", ODD_PLUGIN_SOURCE,
                   {"odd": "ctcasr_odd:OddDecoder"})  # fmt: skip
    importlib.invalidate_caches()
    return site


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("str", "returned str, not a non-empty list of Hypothesis"),
        ("empty", "returned an empty list, not a non-empty list of Hypothesis"),
        ("none", "returned None, not a non-empty list of Hypothesis"),
        ("dict", "returned a dict in its list, not a Hypothesis"),
        ("score", "returned a bad Hypothesis: score 'high' is not a number"),
        ("confidence", "returned a bad Hypothesis: confidence 2.5 is not a number in [0, 1]"),
        ("rejected", "returned a bad Hypothesis: rejected 'yes' is not a bool"),
        ("word-time", "returned a bad Hypothesis: word 'x' runs from nan to 0.2 s, "
                      "not 0 <= start <= end"),
        ("word-order", "returned a bad Hypothesis: word 'x' runs from 0.5 to 0.2 s, "
                       "not 0 <= start <= end"),
        ("word-confidence", "returned a bad Hypothesis: word 'x': confidence 7.0 is not a "
                            "number in [0, 1]"),
    ],
)
def test_a_plugin_returning_the_wrong_type_fails_each_input_in_one_line(odd_plugin, mode,
                                                                        message):  # fmt: skip
    """A string, an empty list or None from decode() failed the input as "AttributeError:
    'str' object has no attribute 'words'" or "IndexError: list index out of range", which
    named neither the fault nor the fix."""
    from ctcasr.transcribe import Failure, Transcriber

    clips = [str(ROOT / "examples" / name) for name in ("seven.wav", "three.wav")]
    transcriber = Transcriber(decoder="odd", decoder_options={"mode": mode})
    results = transcriber.transcribe_batch(clips)
    assert results == [Failure(c, f"{c}: decoder 'odd' {message}") for c in clips]


def test_numpy_numbers_from_a_plugin_give_json_and_nbest_is_kept(odd_plugin):
    """A Hypothesis holding numpy floats (a score summed with numpy) ended ``--json`` output
    in a traceback ("Object of type float32 is not JSON serializable") and lost the run; a
    decoder giving three hypotheses for ``--nbest 1`` had all three printed."""
    import json

    clips = [str(ROOT / "examples" / name) for name in ("seven.wav", "three.wav")]
    result = run_cli(odd_plugin, "transcribe", *clips, "-d", "odd", "-O", "mode=numpy", "--json")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["text"] for line in lines] == ["seven", "three"]
    assert all(len(line["nbest"]) == 1 and line["words"] for line in lines)
    assert isinstance(lines[0]["words"][0]["end"], float)


def test_a_numpy_bool_rejected_from_a_plugin_gives_json(odd_plugin):
    """``rejected`` computed with numpy (a np.bool_) ended ``--json`` output in a traceback
    ("Object of type bool_ is not JSON serializable") and lost the rest of the batch."""
    import json

    clips = [str(ROOT / "examples" / name) for name in ("seven.wav", "three.wav")]
    result = run_cli(odd_plugin, "transcribe", *clips, "-d", "odd", "-O", "mode=numpy-rejected",
                     "--json")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(line["text"], line["rejected"]) for line in lines] == [("", True), ("", True)]
    assert [line["nbest"][0]["text"] for line in lines] == ["seven", "three"]
    assert result.stderr.count("rejected as out of grammar") == 2


def test_a_tab_or_line_break_in_a_plugins_text_keeps_one_row_per_input(odd_plugin):
    """A plug-in's text holding a tab or line break split the TSV row (an extra column, a
    line of its own) and the default output's one line per input."""
    import json

    clips = [str(ROOT / "examples" / name) for name in ("seven.wav", "three.wav")]
    result = run_cli(odd_plugin, "transcribe", *clips, "-d", "odd", "-O", "mode=lines",
                     "-f", "tsv")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    rows = [line.split("\t") for line in result.stdout.splitlines()[1:]]
    assert [(row[0], row[3]) for row in rows] == [(clips[0], "seven and more"),
                                                  (clips[1], "three and more")]  # fmt: skip
    result = run_cli(odd_plugin, "transcribe", clips[0], "-d", "odd", "-O", "mode=lines", "--json")
    line = json.loads(result.stdout)
    assert line["text"] == "seven and more"
    assert [w["word"] for w in line["words"]] == ["seven", "and", "more"]


WORDS_PLUGIN_SOURCE = '''
"""A plug-in with a required file option and hotwords whose weight tune can search."""

from pathlib import Path

from ctcasr.decoding.base import Decoder
from ctcasr.decoding.greedy import GreedyDecoder


class WordsDecoder(Decoder):
    """Greedy, given a word list it insists on."""

    path_options = ("words",)

    def __init__(self, alphabet, *, frame_seconds=0.02, words: str, hotwords=None,
                 hotword_weight: float = 5.0):
        super().__init__(alphabet, frame_seconds=frame_seconds)
        self.words, self.vocabulary = words, Path(words).read_text().split()
        self.hotwords, self.hotword_weight = list(hotwords or []), hotword_weight
        self.greedy = GreedyDecoder(alphabet, frame_seconds=frame_seconds)

    def decode(self, log_probs, nbest=1):
        return self.greedy.decode(log_probs, nbest)

    def options(self):
        return {"words": self.words, "hotwords": self.hotwords,
                "hotword_weight": self.hotword_weight}
'''


def test_tune_takes_a_plugins_own_options(site, tmp_path):
    """``tune`` had no ``--option``: a plug-in with a required option (a word list) could be
    used by transcribe and evaluate but not tuned from the command line at all."""
    import json

    result = _tune_words(site, tmp_path, WORDS_PLUGIN_SOURCE, "--hotword-weights", "0,5")
    words = tmp_path / "words.txt"
    assert result.exit_code == 0, result.output
    stored = json.loads((tmp_path / "tuned" / "bundle.json").read_text())["decoder"]
    assert stored["name"] == "words"
    assert stored["words"] == {"words": "words.txt", "hotwords": ["seven"], "hotword_weight": 5.0}
    assert (tmp_path / "tuned" / "words.txt").read_text() == words.read_text()


def test_cli_lists_plugin(reverse_plugin):
    result = run_cli(reverse_plugin, "decoders")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "reverse" in result.stdout
    assert "ctcasr-testplugin" in result.stdout
    for name in ("greedy", "beam", "grammar"):
        assert name in result.stdout


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"beam_width": "abc"}, "decoder 'beam': "),
        ({"hotword_weight": "x"}, "decoder 'beam': "),
    ],
)
def test_bad_decoder_options_are_one_line_errors(options, message):
    """They reached the constructor and ended in a TypeError or ValueError traceback."""
    from ctcasr.decoding.registry import create_decoder
    from ctcasr.errors import ConfigError
    from ctcasr.text import Alphabet

    with pytest.raises(ConfigError, match=message):
        create_decoder("beam", Alphabet(), **options)


@pytest.mark.parametrize("key", ["alphabet", "frame-seconds"])
def test_options_the_model_owns_are_refused_on_the_command_line(key):
    """`-O frame_seconds=0.04` collided with the model's own value: a TypeError traceback."""
    from typer.testing import CliRunner

    from ctcasr.cli import app

    result = CliRunner().invoke(app, ["transcribe", "x.wav", "-d", "beam", "-O", f"{key}=1"])
    assert result.exit_code == 1 and "comes from the model" in result.output


@pytest.mark.parametrize(
    ("decoder", "options", "message"),
    [
        ("beam", {"beam_width": "abc"}, "option beam_width must be an int, got 'abc'"),
        ("beam", {"beam_width": True}, "option beam_width must be an int, got True"),
        ("beam", {"beam_prune_logp": "x"}, "option beam_prune_logp must be a float, got 'x'"),
        ("grammar", {"commands": ["yes"], "length_normalize": "no"},
         "option length_normalize must be a bool, got 'no'"),
    ],
)  # fmt: skip
def test_an_option_of_the_wrong_plain_type_is_refused(decoder, options, message):
    """From ``-O KEY=JSON`` or a bundle an option can be any JSON type: ``beam_width="abc"``
    failed as "'<' not supported between 'str' and 'int'" and ``length_normalize="no"`` was
    taken as true."""
    from ctcasr.decoding import create_decoder
    from ctcasr.errors import ConfigError
    from ctcasr.text import Alphabet

    with pytest.raises(ConfigError) as caught:
        create_decoder(decoder, Alphabet(), **options)
    assert str(caught.value) == f"decoder {decoder!r}: {message}"


def test_numpy_numbers_are_options_of_their_kind():
    import numpy as np

    from ctcasr.decoding import create_decoder
    from ctcasr.text import Alphabet

    assert create_decoder("beam", Alphabet(), beam_width=np.int64(8),
                          beam_prune_logp=np.float32(-8.0)).beam_width == 8  # fmt: skip
    grammar = create_decoder("grammar", Alphabet(), commands=["yes"], threshold=np.float64(0.5),
                             length_normalize=np.bool_(False))  # fmt: skip
    assert grammar.threshold == 0.5


def test_a_str_option_still_takes_a_path_or_a_number(monkeypatch):
    """Checking ``str`` options refused a Path from Python and ``-O device=0``, which plug-ins
    took before; only numbers and flags are checked."""
    from ctcasr.decoding import registry

    class Tagged(Decoder):
        def __init__(self, alphabet, *, frame_seconds: float = 0.02, device: str = "cpu",
                     model_path: str = "") -> None:  # fmt: skip
            super().__init__(alphabet, frame_seconds=frame_seconds)
            self.device, self.model_path = device, model_path

        def decode(self, log_probs, nbest=1):
            return []

    monkeypatch.setattr(registry, "get_decoder_class", lambda name: Tagged)
    decoder = registry.create_decoder("tagged", ALPHABET, device=0, model_path=Path("/m"))
    assert decoder.device == 0 and decoder.model_path == Path("/m")


def _tune_words(site, tmp_path, source: str, *args: str):
    """``ctcasr tune`` of a words plug-in built from ``source`` on the three example clips."""
    import json

    from typer.testing import CliRunner

    from ctcasr.cli import app

    install_plugin(site, "ctcasr_words", "ctcasr-words", source,
                   {"words": "ctcasr_words:WordsDecoder"})  # fmt: skip
    importlib.invalidate_caches()
    words = tmp_path / "words.txt"
    words.write_text("seven\nthree\nzero\n", encoding="utf-8")
    manifest = tmp_path / "dev.jsonl"
    manifest.write_text("".join(
        json.dumps({"audio_filepath": str(ROOT / "examples" / f"{w}.wav"), "text": w,
                    "duration": 1.0}) + "\n" for w in ("seven", "three", "zero")))  # fmt: skip
    return CliRunner().invoke(app, ["tune", "--manifest", str(manifest), "-d", "words",
                                    "-O", f"words={words}", "--hotword", "seven", *args,
                                    "-o", str(tmp_path / "tuned")])  # fmt: skip


def test_tune_keeps_its_starting_weight_on_a_tie(site, tmp_path):
    """Every weight scores alike here (the plug-in ignores hotwords): the README says the
    starting settings are kept unless a trial beats them, but the tied grid value nearest
    to them (1) was stored over the starting 5."""
    import json

    result = _tune_words(site, tmp_path, WORDS_PLUGIN_SOURCE, "--hotword-weights", "0,1")
    assert result.exit_code == 0, result.output
    assert "words: kept hotword_weight=5: WER 0.00%" in result.output
    assert "none of the 2 settings tried did better" in result.output
    stored = json.loads((tmp_path / "tuned" / "bundle.json").read_text())["decoder"]
    assert stored["words"]["hotword_weight"] == 5.0


def test_tune_stores_a_plugins_numpy_options_as_numbers(site, tmp_path):
    """options() holding numpy values (a float32 setting, a numpy bool) ended ``ctcasr tune``
    in a traceback ("Object of type float32 is not JSON serializable") after the search."""
    import json

    source = WORDS_PLUGIN_SOURCE.replace(
        '"hotword_weight": self.hotword_weight}',
        '"hotword_weight": self.hotword_weight, "floor": __import__("numpy").float32(0.5), '
        '"on": __import__("numpy").bool_(True)}')
    assert "float32" in source
    result = _tune_words(site, tmp_path, source, "--hotword-weights", "0,5")
    assert result.exit_code == 0, result.output
    stored = json.loads((tmp_path / "tuned" / "bundle.json").read_text())["decoder"]["words"]
    assert (stored["floor"], stored["on"]) == (0.5, True)


def test_tune_refuses_a_plugin_option_json_cannot_hold_before_the_search(site, tmp_path):
    """Before it was the same traceback, after the whole search; nothing is written."""
    source = WORDS_PLUGIN_SOURCE.replace('"hotword_weight": self.hotword_weight}',
                                         '"hotword_weight": self.hotword_weight, "x": object()}')
    assert "object()" in source
    result = _tune_words(site, tmp_path, source, "--hotword-weights", "0,5")
    from ctcasr.errors import DecoderOutputError

    assert isinstance(result.exception, DecoderOutputError), result.exception
    assert str(result.exception) == ("decoder 'words': option x from options() cannot be "
                                     "stored in a bundle (object is not a JSON value)")
    assert "words: kept" not in result.output  # refused before any trial
    assert not (tmp_path / "tuned").exists()


def test_tune_of_a_plugin_with_hotwords_but_no_weight_is_one_line(site, tmp_path):
    """It was an AttributeError traceback from reading the starting weight."""
    source = (WORDS_PLUGIN_SOURCE
              .replace(",\n                 hotword_weight: float = 5.0", "")
              .replace("self.hotwords, self.hotword_weight = list(hotwords or []), hotword_weight",
                       "self.hotwords = list(hotwords or [])")
              .replace(',\n                "hotword_weight": self.hotword_weight}', "}"))
    assert "hotword_weight" not in source.split("class WordsDecoder")[1]
    result = _tune_words(site, tmp_path, source)
    # main() prints a CtcasrError as one line; the runner calls the app beneath it
    from ctcasr.errors import ConfigError

    assert isinstance(result.exception, ConfigError), result.exception
    assert str(result.exception) == ("decoder 'words' takes hotwords but has no numeric "
                                     "hotword_weight attribute to tune")


@pytest.mark.parametrize(
    ("decoder", "options", "message"),
    [
        ("beam", {"beam_width": "8"}, "option beam_width must be an int, got '8'"),
        ("beam", {"beam_prune_logp": "x"}, "option beam_prune_logp must be a float, got 'x'"),
        ("beam", {"token_min_logp": [1]}, "option token_min_logp must be a float, got [1]"),
        ("beam", {"hotword_weight": None}, "option hotword_weight must be a float, got None"),
        ("kenlm", {"lm": "no.arpa", "alpha": "0.5"}, "option alpha must be a float, got '0.5'"),
        ("kenlm", {"lm": "no.arpa", "beta": True}, "option beta must be a float, got True"),
        ("kenlm", {"lm": "no.arpa", "beam_width": 8.0},
         "option beam_width must be an int, got 8.0"),
        ("kenlm", {"lm": "no.arpa", "hotword_weight": None},
         "option hotword_weight must be a float, got None"),
        ("grammar", {"commands": ["yes"], "length_normalize": "no"},
         "option length_normalize must be a bool, got 'no'"),
        ("greedy", {"frame_seconds": "0.02"}, "option frame_seconds must be a float, got '0.02'"),
    ],
)  # fmt: skip
def test_a_decoder_built_directly_checks_option_types_as_create_decoder_does(
    decoder, options, message
):
    """Built from Python, ``BeamDecoder(beam_width="8")`` was a TypeError from a comparison and
    ``KenLMDecoder(alpha="0.5")`` was taken as 0.5, where create_decoder gave a ConfigError."""
    from ctcasr.decoding import create_decoder, get_decoder_class
    from ctcasr.errors import ConfigError
    from ctcasr.text import Alphabet

    options = dict(options)
    frame_seconds = options.pop("frame_seconds", 0.02)
    with pytest.raises(ConfigError) as direct:
        get_decoder_class(decoder)(Alphabet(), frame_seconds=frame_seconds, **options)
    assert str(direct.value) == f"decoder {decoder!r}: {message}"
    if options.get("hotword_weight", 0) is not None:  # create_decoder leaves None at defaults
        with pytest.raises(ConfigError) as created:
            create_decoder(decoder, Alphabet(), frame_seconds, **options)
        assert str(created.value) == str(direct.value)


@pytest.mark.parametrize("decoder", ["beam", "kenlm"])
@pytest.mark.parametrize("option", ["beam_prune_logp", "token_min_logp"])
@pytest.mark.parametrize("value", [float("nan"), 0.5])
def test_a_nan_or_positive_log_probability_floor_is_refused(decoder, option, value, tmp_path):
    """NaN passed the beam decoder's "> 0" check, and kenlm checked neither; a floor every
    comparison with is false is no floor."""
    from ctcasr.decoding.kenlm import KenLMDecoder

    cls, lm = (BeamDecoder, {}) if decoder == "beam" else (KenLMDecoder, {"lm": "x.arpa"})
    with pytest.raises(ConfigError, match=f"^decoder '{decoder}': beam_prune_logp and "
                                          "token_min_logp are log-probabilities"):
        cls(ALPHABET, **lm, **{option: value})


@pytest.mark.parametrize("nbest", ["3", 2.0, True, None])
@pytest.mark.parametrize("decoder", [GreedyDecoder(ALPHABET), BeamDecoder(ALPHABET)])
def test_nbest_of_another_type_is_one_config_error(decoder, nbest):
    """nbest="3" given to a decoder directly was a TypeError from the comparison."""
    log_probs = np.log(np.full((4, ALPHABET.num_classes), 1 / ALPHABET.num_classes))
    with pytest.raises(ConfigError, match=f"^nbest must be an integer, got {nbest!r}$"):
        decoder.decode(log_probs, nbest)
    assert len(decoder.decode(log_probs, np.int64(2))) >= 1
