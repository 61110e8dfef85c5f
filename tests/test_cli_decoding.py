"""Decoders through the ``ctcasr`` command and the Transcriber: choosing them, their flags,
n-best and JSON output, command lists, hotwords, bad vocabularies, comparing and tuning."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ctcasr.bundle import load_bundle
from ctcasr.cli import app
from ctcasr.transcribe import Transcriber
from tests.helpers import write_fsdd_manifest

pytestmark = pytest.mark.slow
runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CLIPS = [EXAMPLES / f"{w}.wav" for w in ("seven", "three", "zero")]
LM = Path(__file__).resolve().parents[1] / "lm" / "digits-3gram.arpa"


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def transcriber_beam() -> Transcriber:
    return Transcriber(decoder="beam")


@pytest.mark.parametrize("decoder", [None, "greedy", "beam", "kenlm"])
def test_transcribe_examples_with_each_decoder(decoder):
    result = invoke("transcribe", *CLIPS, *(["--decoder", decoder] if decoder else []))
    assert result.exit_code == 0, result.output
    texts = [line.split("\t")[1] for line in result.stdout.strip().splitlines()]
    assert texts == ["seven", "three", "zero"]


def test_bundled_model_decodes_with_its_tuned_lm_by_default():
    t = Transcriber()
    assert t.decoder == "kenlm"
    assert Path(t.decoder_impl.lm_path).parent == t.bundle.path  # the LM ships in the bundle
    tuned = t.bundle.metadata["decoder_tuning"]["params"]
    assert set(tuned) == {"alpha", "beta"}
    # The decoder runs with the weights the tuning chose, and the bundle ships its ONNX graph.
    assert {k: t.decoder_impl.options()[k] for k in tuned} == tuned
    assert t.bundle.onnx_path is not None and t.acoustic_model.backend == "onnx"


def test_json_lines_carry_confidence_nbest_and_word_timings():
    result = invoke("transcribe", *CLIPS, "--decoder", "beam", "--json", "--nbest", "3")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [r["text"] for r in records] == ["seven", "three", "zero"]
    for r in records:
        assert r["decoder"] == "beam"
        assert 0.5 < r["confidence"] <= 1.0
        assert 1 <= len(r["nbest"]) <= 3
        scores = [h["score"] for h in r["nbest"]]
        assert scores == sorted(scores, reverse=True)
        assert len({h["text"] for h in r["nbest"]}) == len(r["nbest"])
        (word,) = r["words"]
        assert word["word"] == r["text"]
        assert 0.0 <= word["start"] < word["end"] <= r["duration"] + 0.02


def test_grammar_picks_commands_and_rejects_the_rest(tmp_path):
    commands = tmp_path / "commands.txt"
    commands.write_text("# spelled commands\nzero\nseven\nturn on the lights\nhello computer\n")
    result = invoke("transcribe", *CLIPS, "--decoder", "grammar", "--commands", commands)
    assert result.exit_code == 0, result.output
    lines = [line.split("\t") for line in result.stdout.strip().splitlines()]
    assert lines == [[str(CLIPS[0]), "seven"], [str(CLIPS[1]), ""], [str(CLIPS[2]), "zero"]]
    assert "three.wav: rejected as out of grammar" in result.stderr


def test_grammar_json_marks_rejection(tmp_path):
    commands = tmp_path / "c.txt"
    commands.write_text("yes\nno\n")
    result = invoke(
        "transcribe", CLIPS[0], "-d", "grammar", "--commands", commands, "--json", "--nbest", "2"
    )
    record = json.loads(result.stdout)
    assert record["rejected"] is True and record["text"] == ""
    assert {h["text"] for h in record["nbest"]} == {"yes", "no"}
    assert all(h["confidence"] < 0.3 for h in record["nbest"])


def test_hotwords_are_accepted_and_checked(tmp_path):
    ok = invoke("transcribe", CLIPS[0], "-d", "beam", "--hotword", "seven:2", "--hotword", "nine")
    assert ok.exit_code == 0 and ok.stdout.strip().endswith("seven")
    bad = invoke("transcribe", CLIPS[0], "-d", "beam", "--hotword", "seven:lots")
    assert bad.exit_code != 0
    assert "not a number" in str(bad.exception) or "not a number" in bad.output
    file = tmp_path / "hot.txt"
    file.write_text("seven:3\ncafé ü:2\n")  # accents fold to letters the model has
    from_file = invoke("transcribe", CLIPS[0], "-d", "beam", "--hotwords", file, "--json")
    assert from_file.exit_code == 0, from_file.output
    assert json.loads(from_file.stdout)["text"] == "seven"
    bad_file = tmp_path / "bad.txt"
    bad_file.write_text("seven:3\nnine:lots\n")
    refused = invoke("transcribe", CLIPS[0], "-d", "beam", "--hotwords", bad_file)
    assert refused.exit_code != 0 and f"{bad_file}:2" in str(refused.exception)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--decoder", "nosuch"], "unknown decoder 'nosuch'"),
        (["--decoder", "beam", "--alpha", "1"], "does not take option(s) alpha"),
        (["--decoder", "beam", "--words", "w.txt"], "does not take option(s) unigrams (--words)"),
        (["--decoder", "grammar"], "needs a command list"),
        (["--decoder", "kenlm", "--lm", "/nonexistent/x.arpa"], "language model not found"),
        # it exists: "word list not found" was said of it
        (["--decoder", "kenlm", "--words", "/dev/null"], "/dev/null: not a regular file"),
        # Path("") is ".": ".: ... Is a directory" was said
        (["--decoder", "grammar", "--commands", ""], "--commands: empty file name"),
        (["--decoder", "kenlm", "--words", ""], "--words: empty file name"),
        (["--decoder", "kenlm", "--lm", ""], "--lm: empty file name"),
        (["--decoder", "beam", "--hotwords", ""], "--hotwords: empty file name"),
        (["--decoder", "beam", "--beam-width", "0"], "beam_width must be at least 1"),
        (["--nbest", "0"], "--nbest must be at least 1"),
    ],
)
def test_bad_decoder_settings_are_one_line_errors(args, message):
    from tests.test_cli import ctcasr

    result = ctcasr("transcribe", str(CLIPS[0]), *args)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error:") and message in line, line


def test_commands_the_model_cannot_spell_are_refused(tmp_path):
    from tests.test_cli import ctcasr

    commands = tmp_path / "c.txt"
    commands.write_text("yes\nno\nωmega\n")
    result = ctcasr("transcribe", str(CLIPS[0]), "-d", "grammar", "--commands", str(commands))
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert str(commands) in line and "phrase 3" in line and "ω" in line


def test_alphabet_file_is_checked_against_the_model(tmp_path):
    from tests.test_cli import ctcasr

    same = tmp_path / "same.txt"
    load_bundle().alphabet.save(same)
    assert invoke("transcribe", CLIPS[0], "--alphabet", same).exit_code == 0
    short = tmp_path / "short.txt"
    short.write_text("a\nb\nc\n")
    result = ctcasr("transcribe", str(CLIPS[0]), "--alphabet", str(short))
    assert result.returncode == 1
    assert "3 symbols + blank = 4 classes" in result.stderr and "29" in result.stderr
    swapped = tmp_path / "swapped.txt"
    labels = list(load_bundle().alphabet.labels)
    labels[1], labels[2] = labels[2], labels[1]
    swapped.write_text("\n".join(labels) + "\n")
    result = ctcasr("transcribe", str(CLIPS[0]), "--alphabet", str(swapped))
    assert result.returncode == 1 and "symbol 2 is 'b' here but 'a'" in result.stderr

    # evaluate and tune take it too (the README's Vocabularies paragraph names no command)
    manifest = tmp_path / "dev.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": str(CLIPS[0]), "text": "seven",
                                    "duration": 1.0}) + "\n")  # fmt: skip
    assert invoke("evaluate", "--manifest", manifest, "--alphabet", same).exit_code == 0
    for command in (["evaluate"], ["tune", "--lm", LM, "--no-save"]):
        result = ctcasr(*command, "--manifest", str(manifest), "--alphabet", str(swapped))
        assert result.returncode == 1, result.stdout
        assert result.stderr.strip() == (f"error: {swapped}: alphabet does not match the "
                                         f"model's: symbol 2 is 'b' here but 'a' in "
                                         f"{load_bundle().path}")  # fmt: skip


def test_decoders_command_lists_builtins():
    result = invoke("decoders")
    assert result.exit_code == 0
    for name in ("greedy", "beam", "kenlm", "grammar"):
        assert name in result.stdout
    assert "beam_width=16" in result.stdout


def test_evaluate_compares_decoders(fsdd_dir, tmp_path):
    manifest = write_fsdd_manifest(
        tmp_path / "dev.jsonl", fsdd_dir, range(5, 7), speakers=("george", "lucas")
    )
    result = invoke("evaluate", "--manifest", manifest, "-d", "greedy", "-d", "beam", "--json")
    assert result.exit_code == 0, result.output
    reports = json.loads(result.stdout)
    assert [r["decoder"] for r in reports] == ["greedy", "beam"]
    for r in reports:
        assert r["utterances"] == 40 and r["wer"] <= 0.1
        assert r["decode_ms_per_utterance"] > 0
    table = invoke("evaluate", "--manifest", manifest, "-d", "greedy", "-d", "beam")
    assert "decoder" in table.stdout and "beam" in table.stdout


def test_evaluate_json_names_the_decoder_settings_it_scored(fsdd_dir, tmp_path):
    """Runs at two --alpha values gave JSON reports that differed only in their figures:
    nothing said which LM weights (or grammar threshold) a published number came from."""
    manifest = write_fsdd_manifest(tmp_path / "dev.jsonl", fsdd_dir, range(5, 6),
                                   speakers=("george",))  # fmt: skip
    result = invoke("evaluate", "--manifest", manifest, "-d", "greedy", "-d", "kenlm",
                    "--alpha", "0.7", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    greedy, kenlm = json.loads(result.stdout)
    assert greedy["decoder_options"] == {}
    assert kenlm["decoder_options"]["alpha"] == 0.7
    assert kenlm["decoder_options"]["lm"] == str(load_bundle().path / "lm.arpa")


def test_tune_hotword_weight_and_store_it(fsdd_dir, tmp_path):
    manifest = write_fsdd_manifest(
        tmp_path / "dev.jsonl", fsdd_dir, range(5, 6), speakers=("george", "lucas")
    )
    out = tmp_path / "tuned"
    before = load_bundle().decoder
    result = invoke(
        "tune", "--manifest", manifest, "-d", "beam", "--hotword", "seven",
        "--hotword-weights", "0,2", "--output", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    bundle = load_bundle(out)
    assert bundle.decoder["name"] == "beam"
    # The weight tuned is the weight stored (every trial had weight 5 baked in, and "seven:5"
    # was stored whatever the best was); the starting 5 is kept unless a trial beats it.
    how, best = re.search(r"(best|kept) hotword_weight=([0-9.]+)", result.stdout).groups()
    assert float(best) in ((0.0, 2.0) if how == "best" else (5.0,))
    assert bundle.decoder["beam"]["hotwords"] == [f"seven:{float(best):g}"]
    assert bundle.metadata["decoder_tuning"]["utterances"] == 20
    # transcribe now uses the stored decoder with no flags
    t = Transcriber(out)
    assert t.decoder == "beam" and t.decoder_impl.hotwords[0].phrase == "seven"
    assert load_bundle().decoder == before  # the original bundle is untouched


def test_tune_takes_the_decoder_its_options_or_bundle_name(fsdd_dir, tmp_path):
    """``--commands`` alone selects grammar for transcribe and evaluate, but tune defaulted to
    kenlm and failed ("decoder 'kenlm' does not take option(s) commands"); a bundle whose
    default decoder is grammar was tuned as kenlm too."""
    manifest = write_fsdd_manifest(tmp_path / "dev.jsonl", fsdd_dir, range(5, 6),
                                   speakers=("george",))  # fmt: skip
    commands = tmp_path / "digits.txt"
    commands.write_text("\n".join(["zero", "one", "two", "three", "four", "five", "six",
                                    "seven", "eight", "nine"]) + "\n")  # fmt: skip
    out = tmp_path / "grammar"
    result = invoke("tune", "--manifest", manifest, "--commands", commands,
                    "--thresholds", "0.2,0.4", "-o", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert re.match(r"grammar: (best|kept) threshold=", result.stdout)
    assert load_bundle(out).decoder["name"] == "grammar"
    again = invoke("tune", "--manifest", manifest, "-m", out, "--thresholds", "0.1", "--no-save")
    assert again.exit_code == 0, again.output
    assert re.match(r"grammar: (best|kept) threshold=", again.stdout)
    lm = invoke("tune", "--manifest", manifest, "-m", out, "--lm", LM, "--alphas", "0",
                "--betas", "0", "--no-save")  # fmt: skip
    assert lm.exit_code == 0 and re.match(r"kenlm: (best|kept) alpha=", lm.stdout), lm.output


def test_tune_leaves_the_bundled_model_alone_without_output(fsdd_dir, tmp_path):
    from tests.test_cli import ctcasr

    manifest = write_fsdd_manifest(tmp_path / "dev.jsonl", fsdd_dir, range(5, 6),
                                   speakers=("george",))  # fmt: skip
    before = load_bundle().path / "bundle.json"
    text = before.read_bytes()
    result = ctcasr("tune", "--manifest", str(manifest), "--alphas", "0", "--betas", "0")
    assert result.returncode == 1
    assert "the bundled model is not tuned in place; pass --output DIR" in result.stderr
    assert before.read_bytes() == text
    # --no-save only reports, so it may tune the bundled model
    result = invoke("tune", "--manifest", manifest, "--alphas", "0", "--betas", "0", "--no-save")
    assert result.exit_code == 0, result.output


def test_tune_refuses_what_it_cannot_tune(tmp_path):
    from tests.test_cli import ctcasr

    manifest = tmp_path / "m.jsonl"
    manifest.write_text("")
    result = ctcasr("tune", "--manifest", str(manifest), "-d", "greedy")
    assert result.returncode == 1 and "nothing to tune" in result.stderr


def test_transcriber_decodes_arrays_with_chosen_decoder(transcriber_beam):
    import soundfile as sf

    audio, rate = sf.read(CLIPS[2], dtype="float32")
    result = transcriber_beam.transcribe(audio, sample_rate=rate)
    assert result.text == "zero" and result.decoder == "beam"
    assert result.words[0].word == "zero"


def test_tune_lm_weights_copies_the_lm_into_the_bundle(fsdd_dir, tmp_path):
    manifest = write_fsdd_manifest(
        tmp_path / "dev.jsonl", fsdd_dir, range(5, 6), speakers=("george", "lucas")
    )
    lm = Path(__file__).resolve().parents[1] / "lm" / "digits-3gram.arpa"
    out = tmp_path / "tuned"
    result = invoke(
        "tune", "--manifest", manifest, "-d", "kenlm", "--lm", lm,
        "--alphas", "0,1", "--betas", "0,2", "--output", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "4 settings tried" in result.stdout
    bundle = load_bundle(out)
    stored = bundle.decoder["kenlm"]
    assert bundle.decoder["name"] == "kenlm" and stored["lm"] == "lm.arpa"
    assert (out / "lm.arpa").read_bytes() == lm.read_bytes()
    before = load_bundle().decoder["kenlm"]  # kept unless a trial beats it
    tried = [(a, b) for a in (0.0, 1.0) for b in (0.0, 2.0)]
    assert (stored["alpha"], stored["beta"]) in [*tried, (before["alpha"], before["beta"])]
    tuning = bundle.metadata["decoder_tuning"]
    assert tuning["params"] == {"alpha": stored["alpha"], "beta": stored["beta"]}
    # the tuned bundle is self-contained: move it and it still finds its LM
    moved = tmp_path / "elsewhere"
    out.rename(moved)
    again = invoke("transcribe", CLIPS[0], "--model", moved)
    assert again.exit_code == 0 and again.stdout.strip().endswith("seven")


def test_commands_or_lm_alone_imply_their_decoder(tmp_path):
    commands = tmp_path / "c.txt"
    commands.write_text("zero\nseven\n")
    result = invoke("transcribe", CLIPS[0], "--commands", commands, "--json")
    assert json.loads(result.stdout)["decoder"] == "grammar"
    lm = Path(__file__).resolve().parents[1] / "lm" / "digits-3gram.arpa"
    result = invoke("transcribe", CLIPS[0], "--lm", lm, "--json", "--model", "default")
    assert json.loads(result.stdout)["decoder"] == "kenlm"


def test_words_the_lm_lacks_are_one_warning_line_even_with_workers(tmp_path):
    """They were dropped without a word; now stderr names them once, as the CLI's other
    warnings read (not Python's file:line form), and worker processes do not repeat it."""
    import subprocess
    import sys

    words = tmp_path / "words.txt"
    words.write_text("seven\napple\n")
    result = subprocess.run(
        [sys.executable, "-c", "from ctcasr.cli import main; main()", "transcribe",
         str(CLIPS[0]), "--lm", str(LM), "--words", str(words), "--jobs", "2"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("seven")
    assert result.stderr.splitlines() == [
        f"warning: {words}: 1 of its 2 words are not in the LM {LM} and are scored as "
        "unknown words: 'apple'"
    ]


def test_hotwords_the_lm_lacks_are_one_warning_line_even_with_workers(tmp_path):
    """A hotword outside the LM is scored as an unknown word, with no word said; now stderr
    names it once, and neither worker processes nor tune's trials repeat it."""
    import subprocess
    import sys

    dev = tmp_path / "dev.jsonl"
    dev.write_text("".join(json.dumps({"audio_filepath": str(c), "text": c.stem, "duration": 1})
                           + "\n" for c in CLIPS))  # fmt: skip
    for args in (["transcribe", str(CLIPS[0]), "--jobs", "2"],
                 ["tune", "--manifest", str(dev), "--alphas", "0,1",
                  "--betas", "0", "--hotword-weights", "1,2", "--no-save"]):  # fmt: skip
        result = subprocess.run(
            [sys.executable, "-c", "from ctcasr.cli import main; main()", *args, "--lm",
             str(LM), "--hotword", "marvin", "--hotword", "seven"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stderr.splitlines() == [
            f"warning: hotwords not in the LM {LM}, so scored as unknown words (a penalty "
            "their weight must make up for): 'marvin'"
        ]


def _commands_dev_set(speech_commands_dir: Path, tmp_path: Path) -> tuple[Path, Path, int]:
    """Real clips: four each of three commands, then six other words and two of silence."""
    lines = []
    for word in ("yes", "no", "stop"):
        for path in sorted((speech_commands_dir / word).glob("*.flac"))[:4]:
            lines.append({"audio_filepath": str(path), "text": word, "duration": 1.0})
    others = sorted((speech_commands_dir / "_unknown_").glob("*.flac"))[::40][:6]
    others += sorted((speech_commands_dir / "_silence_").glob("*.flac"))[:2]
    for path in others:
        text = "" if path.parent.name == "_silence_" else path.name.split("_")[0]
        lines.append({"audio_filepath": str(path), "text": text, "duration": 1.0})
    manifest = tmp_path / "dev.jsonl"
    manifest.write_text("".join(json.dumps(x) + "\n" for x in lines))
    commands = tmp_path / "commands.txt"
    commands.write_text("yes\nno\nstop\n")
    return manifest, commands, len(others)


def test_evaluate_grammar_scores_what_a_command_recogniser_should_output(
    speech_commands_dir, tmp_path
):
    """Utterances that are not commands should come out empty: at threshold 0 nothing is
    rejected, so each of them is exactly one inserted word and nothing is deleted."""
    manifest, commands, others = _commands_dev_set(speech_commands_dir, tmp_path)
    result = invoke("evaluate", "--manifest", manifest, "-d", "grammar", "--commands", commands,
                    "--threshold", "0", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ref_words"] == 12 and report["not_commands"] == others
    assert report["insertions"] == others and report["deletions"] == 0
    assert report["rejected"] == 0
    text = invoke("evaluate", "--manifest", manifest, "-d", "grammar", "--commands", commands,
                  "--threshold", "0")  # fmt: skip
    assert f"not commands: {others} utterances, right when rejected" in text.stdout
    # false acceptances head the worst list: nothing was to be said, a command came out
    assert "    ref: (nothing)\n    hyp: " in text.stdout


def test_evaluate_table_says_grammar_is_scored_on_other_references(
    speech_commands_dir, tmp_path
):
    """Side by side, grammar's WER is against the command view (not-command utterances as
    empty references), greedy's against the transcripts: the table showed two WERs over
    different references with nothing to tell them apart."""
    manifest, commands, others = _commands_dev_set(speech_commands_dir, tmp_path)
    result = invoke("evaluate", "--manifest", manifest, "-d", "greedy", "-d", "grammar",
                    "--commands", commands)  # fmt: skip
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:3]}
    assert result.stdout.splitlines()[0].split()[4] == "N"
    assert rows["grammar"][4] == "12" and int(rows["greedy"][4]) == 12 + others - 2
    assert f"grammar: {others} utterances that are not commands" in result.stdout


def test_tune_grammar_threshold_rejects_what_is_not_a_command(speech_commands_dir, tmp_path):
    """The grammar is scored on the output a command recogniser should give (the command, or
    nothing), so threshold 0, which accepts everything, pays one inserted word per clip that
    is not a command."""
    from ctcasr.tune import tune

    manifest, commands, others = _commands_dev_set(speech_commands_dir, tmp_path)
    result = tune(manifest, decoder="grammar", decoder_options={"commands": str(commands)},
                  thresholds=[0.0, 0.3, 0.6, 0.9], save=False)  # fmt: skip
    by_threshold = {t.params["threshold"]: t for t in result.trials}
    assert sorted(by_threshold) == [0.0, 0.3, 0.6, 0.9]
    assert by_threshold[0.0].wer >= others / 12  # every non-command clip accepted
    assert result.best.wer < by_threshold[0.0].wer  # rejection pays on real audio
    # the baseline is the threshold the bundled model stores (tuned on Speech Commands dev)
    stored = load_bundle().decoder["grammar"]["threshold"]
    assert 0.0 < stored < 1.0 and result.baseline.params == {"threshold": stored}

    out = tmp_path / "tuned"
    cli = invoke("tune", "--manifest", manifest, "-d", "grammar", "--commands", commands,
                 "--thresholds", "0,0.3,0.6,0.9", "--output", out)  # fmt: skip
    assert cli.exit_code == 0, cli.output
    assert re.match(rf"grammar: (best|kept) threshold={result.best.params['threshold']:g}:",
                    cli.stdout)
    stored = load_bundle(out).decoder
    assert stored["name"] == "grammar" and stored["grammar"]["commands"] == ["yes", "no", "stop"]
    assert stored["grammar"]["threshold"] == result.best.params["threshold"]


def test_tune_threshold_needs_the_grammar_and_commands_in_the_dev_set(tmp_path, fsdd_dir):
    from ctcasr.errors import ConfigError
    from ctcasr.tune import tune

    manifest = write_fsdd_manifest(tmp_path / "dev.jsonl", fsdd_dir, range(5, 6))
    with pytest.raises(ConfigError, match="no rejection threshold"):
        tune(manifest, decoder="beam", thresholds=[0.5], save=False)
    with pytest.raises(ConfigError, match="no dev utterance is one of the commands"):
        tune(manifest, decoder="grammar", decoder_options={"commands": ["yes", "no"]},
             save=False)  # fmt: skip


def test_tune_refuses_a_dev_set_with_no_reference_words(fsdd_dir, tmp_path):
    """Every dev transcript empty (silences): the rates were error counts, printed as
    "WER 200.00% CER 900.00%", and the setting that output least was stored as the
    default; evaluate says n/a and training refuses such a dev set, so tune refuses it."""
    from ctcasr.manifest import write_manifest
    from tests.helpers import fsdd_entries
    from tests.test_cli import ctcasr

    entries = fsdd_entries(fsdd_dir, range(5, 6), speakers=("george",))[:3]
    write_manifest(tmp_path / "dev.jsonl", [replace(e, text="") for e in entries])
    out = tmp_path / "tuned"
    result = ctcasr("tune", "--manifest", str(tmp_path / "dev.jsonl"), "--lm", str(LM),
                    "--alphas", "0,1", "--betas", "-1,0", "--output", str(out))  # fmt: skip
    assert (result.returncode, result.stdout) == (1, ""), result.stdout
    assert result.stderr == (
        f"error: {tmp_path / 'dev.jsonl'}: every dev transcript is empty: no words to score "
        "the settings by (WER and CER n/a); nothing tuned\n")  # fmt: skip
    assert not out.exists()


def test_a_tuned_copy_says_in_its_model_card_what_the_tune_changed(fsdd_dir, tmp_path):
    """A tuned copy kept the bundled model's card, which describes its old decoder defaults
    and the scores measured with them. The card now ends with one section saying what the
    last tune set and on which dev set; the installed bundle is left as it was."""
    from ctcasr.bundle import PRETRAINED_DIR, TUNED_MARK

    default = PRETRAINED_DIR / "default"
    before = {p.name: p.read_bytes() for p in default.iterdir()}
    card = (default / "MODEL_CARD.md").read_text(encoding="utf-8")
    dev = write_fsdd_manifest(tmp_path / "dev.jsonl", fsdd_dir, range(5, 6), speakers=("lucas",))
    out = tmp_path / "tuned"
    # A copy with another LM, then a re-tune of the copy in place with the LM it now holds.
    runs = [(["-o", out, "--lm", LM, "--alphas", "0,1", "--betas", "-1,0"], f"lm from `{LM}`"),
            (["-m", out, "--alphas", "0.5", "--betas", "2"], "lm: the bundle's `lm.arpa`")]
    for args, lm in runs:
        result = invoke("tune", "--manifest", dev, *args)
        assert result.exit_code == 0, result.output
        stored = load_bundle(out).decoder["kenlm"]
        text = (out / "MODEL_CARD.md").read_text(encoding="utf-8")
        head, mark, note = text.partition(TUNED_MARK)
        assert head.rstrip() == card.rstrip() and mark and TUNED_MARK not in note
        assert note.startswith("\n## Decoder re-tuned\n\n`ctcasr tune` set the default "
                               f"decoder to `kenlm` ({lm}) with alpha={stored['alpha']:g}, "
                               f"beta={stored['beta']:g}")  # fmt: skip
        assert f"`{dev}` (10 utterances)" in note and "supersedes" in note
    assert {p.name: p.read_bytes() for p in default.iterdir()} == before


def test_a_model_card_tune_cannot_read_is_one_error_before_the_search(fsdd_dir, tmp_path,
                                                                     monkeypatch):  # fmt: skip
    """A bundle whose MODEL_CARD.md is not UTF-8 (saved by an editor in another encoding)
    was tuned through the whole search and then a UnicodeDecodeError traceback, from adding
    the tune's note to the card."""
    import importlib
    import shutil

    from ctcasr.bundle import PRETRAINED_DIR, store_decoder_settings
    from ctcasr.errors import BundleError

    bundle = Path(shutil.copytree(PRETRAINED_DIR / "default", tmp_path / "b"))
    (bundle / "MODEL_CARD.md").write_bytes("Modèle".encode("latin-1"))
    before = {p.name: p.read_bytes() for p in bundle.iterdir()}
    dev = write_fsdd_manifest(tmp_path / "dev.jsonl", fsdd_dir, range(5, 6), speakers=("lucas",))

    def searched(*args, **kwargs):
        raise AssertionError("the search ran")

    with monkeypatch.context() as patch:
        # the module: ctcasr.tune is also the package's function of that name
        patch.setattr(importlib.import_module("ctcasr.tune"), "compute_log_probs", searched)
        for out in ([], ["-o", str(tmp_path / "tuned")]):
            result = invoke("tune", "--manifest", dev, "-m", bundle, "--lm", LM, *out)
            assert result.exit_code == 1, result.output
            assert str(result.exception).startswith(
                f"{bundle / 'MODEL_CARD.md'}: cannot read the bundle's model card ('utf-8' "
                "codec can't decode"), result.output
    with pytest.raises(BundleError, match="cannot read the bundle's model card"):
        store_decoder_settings(load_bundle(bundle), "greedy", {}, card_note="tuned")
    assert {p.name: p.read_bytes() for p in bundle.iterdir()} == before
    assert not (tmp_path / "tuned").exists()
    # Without a note to add, the card is the user's and is copied as it is.
    store_decoder_settings(load_bundle(bundle), "greedy", {}, output=tmp_path / "copy")
    assert (tmp_path / "copy" / "MODEL_CARD.md").read_bytes() == before["MODEL_CARD.md"]


def test_tune_stores_no_lm_that_does_worse_than_greedy(fsdd_dir, tmp_path):
    """An LM can make dev worse at every weight tried (an undertrained model's words are not
    in its vocabulary): it was stored as the default decoder all the same, and every later
    transcription was worse than with no LM at all."""
    from tests.helpers import tiny_bundle

    tiny_bundle(tmp_path / "tiny", 1)
    manifest = write_fsdd_manifest(tmp_path / "dev.jsonl", fsdd_dir, range(5, 7),
                                   speakers=("george", "lucas"))  # fmt: skip
    lm = Path(__file__).resolve().parents[1] / "lm" / "digits-3gram.arpa"
    out = tmp_path / "tuned"
    result = invoke("tune", "--manifest", manifest, "-m", tmp_path / "tiny", "--lm", lm,
                    "--alphas", "0,2", "--betas", "-1,0", "--output", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert re.search(r"not stored: greedy decoding does better on this dev set \(WER "
                     r"\d+\.\d\d% CER \d+\.\d\d%\)", result.stdout)  # fmt: skip
    assert "saved as" not in result.stdout and not out.exists()
    assert load_bundle(tmp_path / "tiny").decoder.get("name", "greedy") == "greedy"
    # Tuned in place, the bundle is left as it was too.
    before = (tmp_path / "tiny" / "bundle.json").read_bytes()
    again = invoke("tune", "--manifest", manifest, "-m", tmp_path / "tiny", "--lm", lm,
                   "--alphas", "0,2", "--betas", "-1,0")  # fmt: skip
    assert again.exit_code == 0 and "not stored" in again.stdout
    assert (tmp_path / "tiny" / "bundle.json").read_bytes() == before


def test_tune_keeps_the_settings_it_started_from_when_no_trial_beats_them(an4_dir, tmp_path):
    """Only the settings tried were candidates: a grid that missed the bundle's own stored
    worse ones (WER 19% saved over 9%)."""
    from ctcasr.manifest import write_manifest
    from recipes.an4.prepare import read_part

    manifest = tmp_path / "dev.jsonl"
    write_manifest(manifest, read_part(an4_dir, "train")[:6])  # words and spelled letters
    before = load_bundle("default").decoder["kenlm"]
    out = tmp_path / "tuned"
    # An LM weight this heavy, and a word penalty this steep, spell nothing right.
    result = invoke("tune", "--manifest", manifest, "-m", "default", "-d", "kenlm",
                    "--alphas", "8", "--betas", "-20", "--output", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert f"kenlm: kept alpha={before['alpha']:g}, beta={before['beta']:g}: WER" in result.stdout
    assert "none of the 1 settings tried did better" in result.stdout
    stored = load_bundle(out).decoder["kenlm"]
    assert (stored["alpha"], stored["beta"]) == (before["alpha"], before["beta"])
    tuning = load_bundle(out).metadata["decoder_tuning"]
    assert tuning["wer"] == tuning["baseline_wer"] < 0.5


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["transcribe", "x.wav", "--alphabet", ""], "--alphabet"),
        (["transcribe", "x.wav", "--output-dir", ""], "--output-dir"),
        (["transcribe", "x.wav", "--model", ""], "--model"),
        (["evaluate", "--manifest", "m.jsonl", "-m", ""], "--model"),
        (["tune", "--manifest", "m.jsonl", "-o", ""], "--output"),
        (["train", "--config", ""], "--config"),
        (["train", "m.jsonl", "-o", ""], "--output-dir"),
        (["lm", "build", "c.txt", "-o", ""], "--output"),
        (["lm", "build", "c.txt", "-o", "x.arpa", "--alphabet", ""], "--alphabet"),
        (["export", "bundle", "-o", ""], "--output"),
        (["average", "a", "b", "-o", ""], "--output"),
        (["info", "-m", ""], "--model"),
        (["evaluate", "--manifest", ""], "--manifest"),
        (["tune", "--manifest", "", "--no-save"], "--manifest"),
        (["train", "m.jsonl", "-o", "out", "--dev", ""], "--dev"),
        (["train", "m.jsonl", "-o", "out", "--noise-dir", ""], "--noise-dir"),
        (["train", "m.jsonl", "-o", "out", "--init-from", ""], "--init-from"),
        (["train", "", "-o", "out"], "manifest"),
        (["average", "a", "-o", "out", "--checkpoint", ""], "--checkpoint"),
        (["lm", "build", "", "-o", "x.arpa"], "corpus"),
    ],
)  # fmt: skip
def test_an_empty_file_flag_is_refused_as_such(args, flag, tmp_path, monkeypatch):
    """typer made "" Path("."), the current folder, used as the file or folder named: a
    manifest or corpus was "Is a directory", and `train --noise-dir ""` mixed in every audio
    file under the current folder as noise."""
    from typer.testing import CliRunner

    from ctcasr.cli import app

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    said = result.output + str(result.exception or "")  # the library's own error: main prints it
    assert f"{flag}: empty file name (an unset shell variable?)" in said
    assert not (tmp_path / "out").exists()
