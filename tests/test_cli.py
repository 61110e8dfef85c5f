"""The ``ctcasr`` command end to end on real FSDD recordings, including bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ctcasr.cli import app
from tests.helpers import TINY_MODEL, write_fsdd_manifest

pytestmark = pytest.mark.slow
runner = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def ctcasr(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the real console entry point in a fresh process, as a user would."""
    code = "from ctcasr.cli import main; main()"
    env = {**os.environ, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_python_dash_m_ctcasr_is_the_command():
    """A venv used without activating it has no ``ctcasr`` on PATH; ``python -m ctcasr``
    said 'No module named ctcasr.__main__'."""
    seven = str(EXAMPLES / "seven.wav")
    run = subprocess.run([sys.executable, "-m", "ctcasr", "transcribe", seven, "/nonexistent.wav"],
                         capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.stdout == f"{seven}\tseven\n"
    assert run.returncode == 1 and "/nonexistent.wav: file not found" in run.stderr


def test_help_documents_every_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("transcribe", "train", "evaluate", "info"):
        assert command in result.output
    for command in ("transcribe", "train", "evaluate", "info"):
        sub = runner.invoke(app, [command, "--help"])
        assert sub.exit_code == 0 and "Usage" in sub.output


@pytest.mark.parametrize("command", [[], ["transcribe"], ["evaluate"], ["tune"], ["train"],
                                     ["export"], ["average"], ["info"], ["decoders"], ["lm"],
                                     ["lm", "build"]])  # fmt: skip
def test_dash_h_is_help_for_every_command(command):
    """``ctcasr -h`` was "No such option: -h" (the recipes, argparse, take it)."""
    long = runner.invoke(app, [*command, "--help"])
    short = runner.invoke(app, [*command, "-h"])
    assert short.exit_code == long.exit_code == 0, short.output
    assert short.output == long.output and "Usage" in short.output


def test_help_keeps_bracketed_and_angled_text():
    # Rich markup mode swallowed "[default: the bundled model]" as a markup tag, so --help
    # never said which model runs by default.
    out = ctcasr("transcribe", "--help").stdout
    assert "[default: the bundled model]" in out
    assert "[default: when stdout and stderr are terminals" in out
    assert "NAME.FORMAT" in out



def test_train_help_says_init_from_takes_the_bundled_models_name():
    """The README fine-tunes with ``--init-from default``; the help spoke of a bundle only."""
    out = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).output
    assert "or default for the bundled model" in out

def test_transcribe_real_digits_with_bundled_model(fsdd_dir):
    files = [fsdd_dir / f"{d}_{s}_{i}.flac" for d, s, i in [(7, "jackson", 0), (3, "theo", 1),
                                                             (9, "nicolas", 2)]]
    result = ctcasr("transcribe", *map(str, files))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert [line.split("\t") for line in lines] == [
        [str(files[0]), "seven"], [str(files[1]), "three"], [str(files[2]), "nine"]
    ]


def test_transcribe_goes_on_past_bad_files(fsdd_dir, tmp_path):
    good = fsdd_dir / "4_yweweler_0.flac"
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n")
    missing = tmp_path / "missing.flac"
    result = ctcasr("transcribe", str(missing), str(empty), str(good), str(text))
    assert result.returncode == 1
    assert result.stdout.strip() == f"{good}\tfour"
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 3
    for path, cause in [(missing, "not found"), (empty, "empty file"), (text, "not a recognised")]:
        (line,) = [e for e in errors if str(path) in e]
        assert cause in line
    assert "3 of 4 input(s) failed" in result.stderr
    assert "Traceback" not in result.stderr


def test_evaluate_reports_error_rates(fsdd_dir, tmp_path):
    manifest = write_fsdd_manifest(tmp_path / "test.jsonl", fsdd_dir, range(0, 2),
                                   speakers=("george", "lucas"))
    result = runner.invoke(app, ["evaluate", "--manifest", str(manifest), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["utterances"] == 40 and report["ref_words"] == 40
    assert report["wer"] <= 0.1 and report["cer"] <= 0.05
    assert report["substitutions"] + report["deletions"] + report["insertions"] == round(
        report["wer"] * 40
    )
    text = runner.invoke(app, ["evaluate", "--manifest", str(manifest)])
    assert "WER" in text.output and "CER" in text.output


def test_evaluate_json_says_on_stderr_why_it_failed(tmp_path):
    """With --json an unreadable file was listed only inside the report: a CI job keeping
    stdout as its report saw exit status 1 and an empty stderr."""
    (tmp_path / "bad.wav").write_text("not audio")
    rows = [(EXAMPLES / "seven.wav", "seven"), (tmp_path / "bad.wav", "one")]
    manifest = tmp_path / "m.jsonl"
    manifest.write_text("".join(json.dumps({"audio_filepath": str(path), "text": text,
                                            "duration": 1.0}) + "\n" for path, text in rows))
    result = runner.invoke(app, ["evaluate", "--manifest", str(manifest), "-d", "greedy",
                                 "--json"])  # fmt: skip
    assert result.exit_code == 1
    error = f"{tmp_path / 'bad.wav'}: not a recognised audio file"
    assert json.loads(result.stdout)["failures"] == [error]
    assert result.stderr == f"error: {error}\n1 of 2 utterance(s) failed (scored as empty " \
                            "transcripts)\n"
    both = runner.invoke(app, ["evaluate", "--manifest", str(manifest), "-d", "greedy",
                               "-d", "beam"])  # fmt: skip
    assert both.exit_code == 1
    assert both.stderr.splitlines()[-2:] == [
        f"{name}: 1 of 2 utterance(s) failed (scored as empty transcripts)"
        for name in ("greedy", "beam")]  # fmt: skip


def test_evaluate_prints_no_rate_when_every_reference_is_empty(fsdd_dir, tmp_path):
    """Every reference empty (silence clips, a grammar run's non-commands): the WER and CER
    columns showed the error count as a rate (two digits heard: 200.00%)."""
    from ctcasr.manifest import ManifestEntry, write_manifest

    manifest = tmp_path / "empty_refs.jsonl"
    write_manifest(manifest, [ManifestEntry(str(fsdd_dir / f"{d}_george_0.flac"), "", 0.5)
                              for d in (2, 7)])  # fmt: skip
    text = runner.invoke(app, ["evaluate", "--manifest", str(manifest)])
    assert text.exit_code == 0, text.output
    (summary,) = [line for line in text.output.splitlines() if line.startswith("WER")]
    assert summary.startswith("WER n/a (S=0 D=0 I=2 N=0)  CER n/a  exact 0.00%"), summary
    assert "every reference is empty" in summary
    table = runner.invoke(app, ["evaluate", "--manifest", str(manifest), "-d", "greedy",
                                "-d", "beam"])  # fmt: skip
    assert table.exit_code == 0, table.output
    lines = table.output.splitlines()
    for decoder in ("greedy", "beam"):
        (row,) = [line for line in lines if line.startswith(f"{decoder} ")]
        assert row.split()[1:5] == ["n/a", "n/a", "0.00%", "0"], row
        assert f"{decoder}: WER and CER n/a: every reference is empty (no words" in table.output
    as_json = json.loads(runner.invoke(app, ["evaluate", "--manifest", str(manifest),
                                             "--json"]).output)  # fmt: skip
    assert as_json["ref_words"] == 0 and as_json["wer"] == 2.0  # the count, as before


def test_evaluate_names_bad_manifest_line(fsdd_dir, tmp_path):
    manifest = write_fsdd_manifest(tmp_path / "m.jsonl", fsdd_dir, range(0, 1),
                                   speakers=("george",))
    lines = manifest.read_text().splitlines()
    lines.insert(3, '{"audio_filepath": "x.wav", "text": "one"')
    manifest.write_text("\n".join(lines) + "\n")
    result = ctcasr("evaluate", "--manifest", str(manifest))
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {manifest}:4:") and "malformed JSON" in line


def test_train_command_with_config_file(fsdd_dir, tmp_path):
    train_m = write_fsdd_manifest(tmp_path / "train.jsonl", fsdd_dir, range(10, 12),
                                  speakers=("george",))
    (tmp_path / "cfg.toml").write_text(
        'train_manifests = ["train.jsonl"]\nepochs = 1\nbatch_size = 8\ntensorboard = false\n'
        "[model]\n" + "".join(f"{k} = {v}\n" for k, v in TINY_MODEL.items())
    )
    out = tmp_path / "run"
    result = ctcasr("train", "--config", str(tmp_path / "cfg.toml"), "-o", str(out))
    assert result.returncode == 0, result.stderr
    # Progress on stderr, as transcribe's: stdout is the result line alone, for
    # `out=$(ctcasr train ...)` (the epochs' lines and Keras's bar were printed into it).
    assert re.fullmatch(rf"model: {re.escape(str(out / 'model'))} \(epoch 1\); [\d.]+ s/epoch, "
                        r"peak RSS \d+ MB\n", result.stdout), result.stdout  # fmt: skip
    assert "Epoch 1/1" in result.stderr and "loss" in result.stderr
    assert (out / "model" / "bundle.json").is_file()
    info = runner.invoke(app, ["info", "--model", str(out / "model")])
    assert info.exit_code == 0 and '"rnn_units": 32' in info.output
    assert train_m.exists()

    # Fine-tuning from that model; a model that is not there is one line, before any training.
    again = runner.invoke(app, ["train", "--config", str(tmp_path / "cfg.toml"), "-o",
                                str(tmp_path / "tuned"), "--init-from", str(out / "model"), "-q"])
    assert again.exit_code == 0, again.output
    config = json.loads((tmp_path / "tuned" / "train_config.json").read_text())
    assert config["init_from"] == str(out / "model")
    missing = ctcasr("train", str(train_m), "-o", str(tmp_path / "x"), "--init-from",
                     str(tmp_path / "nothing"))
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"error: {tmp_path / 'nothing'}: model bundle not found " \
        "(expected a directory)"
    assert not (tmp_path / "x" / "checkpoints").exists()


def test_train_without_inputs_fails_cleanly():
    result = ctcasr("train")
    assert result.returncode == 1
    assert "give training manifests" in result.stderr


def test_missing_model_bundle_is_one_line():
    result = ctcasr("transcribe", "--model", "/no/such/bundle", "x.wav")
    assert result.returncode == 1
    expected = "error: /no/such/bundle: model bundle not found (expected a directory)"
    assert result.stderr.strip() == expected


def test_package_import_stays_light():
    """Importing the package and the CLI must not drag in TensorFlow."""
    code = (
        "import sys, ctcasr, ctcasr.cli, ctcasr.text, ctcasr.features, ctcasr.bundle; "
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-duration", "nan"], "--max-duration must be positive, got nan"),
        (["--split-longer-than", "nan"], "bad splitting settings: settings must be numbers, not"),
        (["--max-segment", "nan"], "bad splitting settings: settings must be numbers, not NaN"),
        (["--max-segment", "inf"], "bad splitting settings: max_segment must be finite"),
        (["--max-segment", "1e308"], "bad splitting settings: max_segment must be at most"),
        (["-d", "beam", "--hotword", "seven", "--hotword-weight", "nan"],
         "--hotword-weight must be a finite number, got nan"),
        (["--alpha", "inf"], "--alpha must be a finite number, got inf"),
    ],
)  # fmt: skip
def test_a_nan_setting_is_refused_not_switched_off(flags, message):
    """NaN fails every comparison: "<= 0" let --max-duration nan and --split-longer-than nan
    through, and the limit or the splitting silently stopped applying."""
    clip = Path(__file__).resolve().parents[1] / "examples" / "seven.wav"
    result = runner.invoke(app, ["transcribe", str(clip), *flags])
    assert result.exit_code != 0
    assert f"error: {message}" in result.output


@pytest.mark.parametrize("command", ["transcribe", "evaluate", "tune"])
@pytest.mark.parametrize(("flags", "message"), [
    (["--split-longer-than", "-1"],
     "--split-longer-than must be 0 (never) or more seconds, got -1"),
    (["--max-segment", "0"], "--max-segment must be positive, got 0"),
])  # fmt: skip
def test_bad_splitting_flags_are_named_by_their_flags(command, flags, message, tmp_path):
    """They were "long_after and block_seconds must be positive" and "need 0 < min_segment <
    max_segment": settings the user never gave, under other names."""
    first = {"transcribe": [str(EXAMPLES / "seven.wav")],
             "evaluate": ["--manifest", str(tmp_path / "m.jsonl")],
             "tune": ["--manifest", str(tmp_path / "m.jsonl"), "--no-save"]}[command]
    result = runner.invoke(app, [command, *first, *flags])
    assert result.exit_code == 1
    assert f"error: bad splitting settings: {message}\n" in result.output


def test_a_nan_in_a_tuning_grid_is_refused(tmp_path):
    result = runner.invoke(app, ["tune", "--manifest", str(tmp_path / "m.jsonl"),
                                      "--alphas", "nan,1", "--no-save"])  # fmt: skip
    assert result.exit_code != 0
    assert "error: --alphas must be finite numbers, got 'nan,1'" in result.output


def test_version_is_the_installed_distributions():
    """``ctcasr --version`` was "No such option"; a bug report needs it."""
    import re
    from importlib.metadata import version

    import ctcasr

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"ctcasr {version('ctcasr')}\n"
    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    declared = re.search(r'(?m)^version = "([^"]+)"$', pyproject).group(1)  # py3.10: no tomllib
    assert ctcasr.__version__ == declared == version("ctcasr")


@pytest.mark.parametrize(("args", "status", "said"), [
    (["--nbest", "abc"], 2, "Invalid value for '--nbest'"),  # typer cannot parse it
    (["--bogus"], 2, "No such option"),
    (["--nbest", "0"], 1, "error: --nbest"),  # parsed, then refused by ctcasr
    (["--model", "/nonexistent-bundle"], 1, "error: /nonexistent-bundle"),
])
def test_exit_status_is_as_the_readme_says(args, status, said):
    """README: 1 for any failure ctcasr reports, 2 for an option the command line cannot
    parse; a script tells them apart by these codes and the summary line."""
    run = ctcasr("transcribe", str(EXAMPLES / "seven.wav"), *args)
    assert run.returncode == status, run.stderr
    assert said in run.stderr
    assert run.stdout == ""
    readme = (EXAMPLES.parent / "README.md").read_text(encoding="utf-8")
    assert "Exit status 1 is any\nfailure" in readme and "2 an option the\ncommand line" in readme


@pytest.mark.parametrize(("args", "what"), [
    (["evaluate", "--manifest", "MANIFEST", "-d", "greedy"], "the report"),
    (["info"], "the description"),
    (["decoders"], "the decoders"),
])
def test_a_command_whose_result_is_its_output_refuses_a_closed_stdout(tmp_path, args, what):
    """`ctcasr evaluate ... >&-` scored the whole manifest and exited 0, its report gone."""
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(json.dumps({"audio_filepath": str(EXAMPLES / "seven.wav"),
                                    "text": "seven", "duration": 0.92}) + "\n")  # fmt: skip
    args = [str(manifest) if a == "MANIFEST" else a for a in args]
    done = subprocess.run([sys.executable, "-c", "from ctcasr.cli import main; main()", *args],
                          stderr=subprocess.PIPE, text=True, timeout=300,
                          preexec_fn=lambda: os.close(1))  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == f"error: stdout is closed: nowhere to print {what}\n"


@pytest.mark.skipif(sys.platform == "win32", reason="no SIGPIPE convention")
@pytest.mark.parametrize("fmt", ["txt", "json"])
def test_a_reader_that_went_away_ends_the_run_quietly_with_141(fmt):
    """`ctcasr transcribe dir | head -1`: a closed pipe ended the run with status 1, which a
    script (`set -o pipefail`) cannot tell from a failed input; now 141, 128 + SIGPIPE, as a
    command the signal ends, and nothing on stderr."""
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first transcript
    try:
        done = subprocess.run([sys.executable, "-c", "from ctcasr.cli import main; main()",
                               "transcribe", str(EXAMPLES / "seven.wav"), "-f", fmt],
                              stdout=write, stderr=subprocess.PIPE, text=True,
                              timeout=300)  # fmt: skip
    finally:
        os.close(write)
    assert (done.returncode, done.stderr) == (141, "")


@pytest.mark.parametrize("stop", [KeyboardInterrupt, RuntimeError])
def test_json_array_on_stdout_keeps_what_finished_when_stopped(monkeypatch, stop):
    """`-f json` built its array and printed it at the end: Ctrl-C (or a crash) part-way
    printed nothing of the transcripts already made, where jsonl and tsv had streamed them.
    Now each is printed as it finishes and the array is closed, so stdout parses."""
    from ctcasr.transcribe import Transcriber

    real = Transcriber.transcribe_iter

    def two_then_stop(self, files, *args, **kwargs):
        for i, result in enumerate(real(self, files, *args, **kwargs)):
            if i == 2:
                raise stop()
            yield result

    monkeypatch.setattr(Transcriber, "transcribe_iter", two_then_stop)
    clips = [str(EXAMPLES / f"{name}.wav") for name in ("seven", "three", "zero")]
    result = runner.invoke(app, ["transcribe", *clips, "-f", "json", "--no-progress"])
    assert result.exit_code != 0
    assert [item["text"] for item in json.loads(result.stdout)] == ["seven", "three"]


def test_transcribe_skip_existing_goes_on_where_a_stopped_run_ended(tmp_path):
    """A batch stopped half-way could only be run again whole: thousands of transcripts
    already in --output-dir were made again. --skip-existing skips inputs whose files are all
    there, and names clashing inputs as the first run named them."""
    import shutil

    for folder, clip in (("a", "seven"), ("b", "three"), ("c", "zero")):
        (tmp_path / folder).mkdir()
        shutil.copy(EXAMPLES / f"{clip}.wav", tmp_path / folder / "x.wav")
    shutil.copy(EXAMPLES / "seven.wav", tmp_path / "a" / "y.wav")
    out = tmp_path / "out"
    args = ["transcribe", str(tmp_path / "a"), str(tmp_path / "b"), str(tmp_path / "c"),
            "-d", "greedy", "-o", str(out), "-f", "txt", "-f", "json"]  # fmt: skip
    assert runner.invoke(app, args).exit_code == 0
    first = {p.name: p.read_text() for p in out.iterdir()}
    assert first["x.3.txt"] == "zero\n"
    # Stopped after b/x.wav's text but before its JSON, and before c/x.wav.
    for name in ("x.2.json", "x.3.txt", "x.3.json"):
        (out / name).unlink()
    (out / "x.txt").write_text("kept\n")  # a/x.wav's: not made again
    again = runner.invoke(app, [*args, "--skip-existing"])
    assert again.exit_code == 0, again.output
    assert again.stderr.splitlines()[0] == f"skipped 2 input(s) already written in {out}"
    assert {p.name: p.read_text() for p in out.iterdir()} == {**first, "x.txt": "kept\n"}
    refused = runner.invoke(app, [*args[:-6], "--skip-existing"])
    assert refused.exit_code == 1 and "--skip-existing needs --output-dir" in refused.stderr
