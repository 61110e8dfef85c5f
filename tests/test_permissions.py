"""What a user who may not read or write something is told. Root may do anything (and CI runs
as root), so these run as the user nobody there (:func:`tests.helpers.unprivileged`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
from typer.testing import CliRunner

from ctcasr.cli import app
from ctcasr.errors import CtcasrError
from tests.helpers import shared_folder, unprivileged


@pytest.mark.parametrize("args", [
    ["evaluate", "--manifest", "{locked}"],
    ["tune", "--manifest", "{locked}", "--no-save"],
    ["train", "{locked}", "-o", "{out}", "--epochs", "1"],
    ["train", "{open}", "--dev", "{locked}", "-o", "{out}", "--epochs", "1"],
    ["lm", "build", "{locked}", "-o", "{out}"],
])  # fmt: skip
def test_a_file_the_user_may_not_read_is_one_error_exit_1(tmp_path, args):
    # The option parser's own check (os.access) said "Invalid value for '--manifest': path
    # ... is not readable." in a box, exit 2, which the README keeps for what cannot be
    # parsed; root passed it and was told by ctcasr, exit 1.
    with shared_folder(tmp_path) as folder:
        locked = folder / "locked.jsonl"
        seven = Path(__file__).resolve().parents[1] / "examples" / "seven.wav"
        locked.write_text(json.dumps({"audio_filepath": str(seven), "text": "seven",
                                      "duration": sf.info(str(seven)).duration}) + "\n")
        (folder / "open.jsonl").write_text(locked.read_text())
        locked.chmod(0)
        (folder / "open.jsonl").chmod(0o644)
        names = {"locked": folder / "missing.jsonl", "open": folder / "open.jsonl",
                 "out": folder / "x.arpa"}
        # The same path with a file that is missing, first: the modules it needs are
        # imported before nobody, who may not read a Python installed in root's home, runs it.
        missing = CliRunner().invoke(app, [a.format(**names) for a in args])
        assert "not found" in str(missing.exception), missing.output
        names["locked"] = locked
        with unprivileged():
            result = CliRunner().invoke(app, [a.format(**names) for a in args])
    # What ctcasr.cli.main prints as one line, exit 1.
    assert isinstance(result.exception, CtcasrError | OSError), result.output
    assert "Permission denied" in str(result.exception) and str(locked) in str(result.exception)
