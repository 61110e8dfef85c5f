"""Manifests, alphabets and command lists as users really write them: every bad line is named
with its line number, ``--skip-bad`` drops and counts them, and nothing crashes."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from ctcasr.cli import app
from ctcasr.errors import ManifestError
from ctcasr.text import Alphabet
from ctcasr.train import TrainConfig, _load_corpora
from tests.helpers import TINY_MODEL, write_fsdd_manifest

runner = CliRunner()

# Each bad line, and what its one-line report must say.
BAD = {
    "malformed JSON": ('{"audio_filepath": "x.wav", "text": "one"', "malformed JSON"),
    "missing key": ('{"audio_filepath": "GOOD", "text": "one"}', "missing key(s): duration"),
    "missing audio": ('{"audio_filepath": "nowhere.wav", "text": "one", "duration": 1}',
                      "audio file not found"),
    "outside alphabet": ('{"audio_filepath": "GOOD", "text": "one²", "duration": 1}',
                         "characters outside the alphabet: '²'"),
    "not an object": ("[1, 2, 3]", "not a JSON object"),
    "bad duration": ('{"audio_filepath": "GOOD", "text": "one", "duration": -1}', "duration"),
}


def _manifest_with_bad_lines(tmp_path, fsdd_dir):
    """Four good FSDD lines with every kind of bad line between them; returns path, line nos."""
    manifest = write_fsdd_manifest(tmp_path / "m.jsonl", fsdd_dir, range(0, 2),
                                   speakers=("george", "jackson"))  # fmt: skip
    good = manifest.read_text().splitlines()[:4]
    good_audio = json.loads(good[0])["audio_filepath"]
    lines, where = list(good[:2]), {}
    for name, (line, _) in BAD.items():
        where[name] = len(lines) + 1
        lines.append(line.replace("GOOD", good_audio))
    lines += good[2:]
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest, where


def test_evaluate_stops_at_first_bad_line_without_skip_bad(tmp_path, fsdd_dir):
    manifest, where = _manifest_with_bad_lines(tmp_path, fsdd_dir)
    result = runner.invoke(app, ["evaluate", "--manifest", str(manifest)])
    assert result.exit_code == 1
    first = min(where, key=where.get)
    # The CLI raises it for main() to print as one "error:" line (test_cli checks that line).
    assert isinstance(result.exception, ManifestError), repr(result.exception)
    message = str(result.exception)
    assert message.startswith(f"{manifest}:{where[first]}: {BAD[first][1]}"), message
    assert "\n" not in message and result.stdout == ""


def test_evaluate_skip_bad_scores_the_rest_and_lists_every_bad_line(tmp_path, fsdd_dir):
    manifest, where = _manifest_with_bad_lines(tmp_path, fsdd_dir)
    result = runner.invoke(app, ["evaluate", "--manifest", str(manifest), "--skip-bad", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["utterances"] == 4
    assert len(report["skipped"]) == len(BAD)
    for name, (_, fragment) in BAD.items():
        (message,) = [m for m in report["skipped"] if m.startswith(f"{manifest}:{where[name]}:")]
        assert fragment in message, (name, message)
    _assert_every_skip_listed(result.stderr, manifest, where)  # with --json too
    text = runner.invoke(app, ["evaluate", "--manifest", str(manifest), "--skip-bad"])
    assert text.exit_code == 0
    _assert_every_skip_listed(text.stderr, manifest, where)


def test_training_skip_bad_drops_and_counts(tmp_path, fsdd_dir):
    manifest, where = _manifest_with_bad_lines(tmp_path, fsdd_dir)
    config = TrainConfig(train_manifests=[str(manifest)], output_dir=str(tmp_path / "run"),
                         model=TINY_MODEL)  # fmt: skip
    with pytest.raises(ManifestError, match=rf"{manifest}:{min(where.values())}:"):
        _load_corpora(config, Alphabet(), None)
    config.skip_bad = True
    from ctcasr.model import ModelConfig

    model_config = ModelConfig(num_features=config.frontend.num_features,
                               num_classes=Alphabet().num_classes, **TINY_MODEL)  # fmt: skip
    corpus, _ = _load_corpora(config, Alphabet(), model_config)
    assert len(corpus) == 4
    assert len(corpus.dropped) == len(BAD)
    assert all(m.startswith(f"{manifest}:") for m in corpus.dropped)


def test_every_bad_alphabet_and_command_list_is_one_line(tmp_path, fsdd_dir):
    """Through the CLI, bad vocabularies end with one ``error:`` line and exit status 1."""
    clip = str(fsdd_dir / "3_theo_1.flac")
    cases = {
        "dup.txt": ("a\nb\na\n", "--alphabet", "duplicate alphabet entry 'a'"),
        "empty-entry.txt": ("a\n\nb\n", "--alphabet", "empty alphabet entry"),
        "long.txt": ("a\nbc\n", "--alphabet", "not a single character"),
        "cmds.txt": ("turn on\n你好\n", "--commands", "phrase 2"),
        "blank.txt": ("# nothing\n\n", "--commands", "no phrases"),
    }
    for name, (content, flag, fragment) in cases.items():
        path = tmp_path / name
        path.write_text(content, encoding="utf-8")
        args = ["transcribe", clip, flag, str(path)]
        if flag == "--alphabet":
            args += ["--decoder", "greedy"]
        result = runner.invoke(app, args)
        assert result.exit_code != 0, (name, result.output)
        message = str(result.exception) if result.exception else result.stderr
        assert fragment in message, (name, message)
        assert str(path) in message
        assert len(message.strip().splitlines()) == 1, message


def test_tune_skip_bad(tmp_path, fsdd_dir):
    manifest, where = _manifest_with_bad_lines(tmp_path, fsdd_dir)
    args = ["tune", "--manifest", str(manifest), "--no-save", "--alphas", "0,0.5", "--betas", "0"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and isinstance(result.exception, ManifestError)
    first = min(where, key=where.get)
    assert str(result.exception).startswith(f"{manifest}:{where[first]}: {BAD[first][1]}")
    result = runner.invoke(app, [*args, "--skip-bad"])
    assert result.exit_code == 0, result.output
    assert re.match(r"kenlm: (best|kept) alpha=", result.stdout)  # "kept" on a tie
    _assert_every_skip_listed(result.stderr, manifest, where)


def _assert_every_skip_listed(stderr: str, manifest, where: dict[str, int]) -> None:
    """``evaluate`` and ``tune`` report skipped lines alike: each one, then the count."""
    prefix = f"skipped: {manifest}:"
    listed = [line for line in stderr.splitlines() if line.startswith("skipped: ")]
    assert all(line.startswith(prefix) for line in listed), listed
    numbers = sorted(int(line[len(prefix):].split(":")[0]) for line in listed)
    assert numbers == sorted(where.values())
    assert f"skipped {len(BAD)} bad manifest lines" in stderr


def _written_elsewhere(tmp_path, fsdd_dir):
    """FSDD's ten digits with transcripts as other corpora write them: case, digits, marks."""
    manifest = write_fsdd_manifest(tmp_path / "m.jsonl", fsdd_dir, range(0, 1),
                                   speakers=("george",))  # fmt: skip
    as_written = {"zero": "ZERO.", "one": "One!", "two": "2", "three": "«three»"}
    lines = []
    for line in manifest.read_text().splitlines():
        entry = json.loads(line)
        entry["text"] = as_written.get(entry["text"], entry["text"].upper())
        lines.append(json.dumps(entry, ensure_ascii=False))
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return manifest


def test_normalize_text_scores_a_corpus_written_for_other_toolkits(tmp_path, fsdd_dir):
    """"ZERO." was refused as outside the alphabet with no way to score it but rewriting the
    manifest; --normalize-text spells it as the model does, and says so in the report."""
    manifest = _written_elsewhere(tmp_path, fsdd_dir)
    refused = runner.invoke(app, ["evaluate", "--manifest", str(manifest), "--json"])
    assert refused.exit_code == 1 and "outside the alphabet" in str(refused.exception)
    result = runner.invoke(app, ["evaluate", "--manifest", str(manifest), "--json",
                                 "--normalize-text"])  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["normalized_text"] is True and report["utterances"] == 10
    assert report["wer"] <= 0.2  # the bundled model on FSDD digits, references spelled
    text = runner.invoke(app, ["evaluate", "--manifest", str(manifest), "--normalize-text"])
    assert "references: spelled by normalize_text (--normalize-text)" in text.stdout
    tuned = runner.invoke(app, ["tune", "--manifest", str(manifest), "--no-save", "--alphas",
                                "0", "--betas", "0", "--normalize-text"])  # fmt: skip
    assert tuned.exit_code == 0, tuned.output


def test_normalize_text_never_drops_a_letter_it_cannot_spell(tmp_path, fsdd_dir):
    """A reference shortened by dropping what the alphabet lacks would score better than the
    recording deserves: such a line stays an error, named with its line number."""
    from ctcasr.manifest import read_manifest

    manifest = _written_elsewhere(tmp_path, fsdd_dir)
    lines = manifest.read_text(encoding="utf-8").splitlines()
    entry = json.loads(lines[1])
    entry["text"] = "one 你好"
    lines[1] = json.dumps(entry, ensure_ascii=False)
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ManifestError, match=rf"^{re.escape(str(manifest))}:2: text 'one 你好' "
                       "has characters the model cannot emit: '你好'$"):  # fmt: skip
        read_manifest(manifest, Alphabet(), normalize=True)
    report = read_manifest(manifest, Alphabet(), normalize=True, skip_bad=True)
    assert [e.text for e in report.entries] == ["zero", "two", "three", "four", "five", "six",
                                                "seven", "eight", "nine"]
    config = TrainConfig(train_manifests=[str(manifest)], output_dir=str(tmp_path / "run"),
                         model=TINY_MODEL, normalize_text=True, skip_bad=True)  # fmt: skip
    from ctcasr.model import ModelConfig

    model_config = ModelConfig(num_features=config.frontend.num_features,
                               num_classes=Alphabet().num_classes, **TINY_MODEL)  # fmt: skip
    corpus, _ = _load_corpora(config, Alphabet(), model_config)
    assert len(corpus) == 9 and len(corpus.dropped) == 1
