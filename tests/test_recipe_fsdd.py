"""The FSDD recipe keeps working: its prepare step on the real corpus, and one command that
trains, evaluates and writes its RESULTS page with plots."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from ctcasr.errors import CtcasrError
from ctcasr.manifest import read_manifest
from ctcasr.text import Alphabet
from recipes.fsdd.prepare import prepare

REPO = Path(__file__).resolve().parents[1]


def test_prepare_official_split(fsdd_dir, tmp_path):
    split = prepare(fsdd_dir, tmp_path)
    assert (len(split.train), len(split.dev), len(split.test)) == (2400, 300, 300)
    index = re.compile(r"_(\d+)\.flac$")
    for entries, allowed in ((split.test, range(5)), (split.dev, range(5, 10)),
                             (split.train, range(10, 50))):  # fmt: skip
        assert all(int(index.search(e.audio_filepath).group(1)) in allowed for e in entries)
        assert len({e.speaker for e in entries}) == 6
        # Every digit spoken by every speaker in every split, written as its word.
        digits = {"zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
        assert set(Counter(e.text for e in entries)) == digits
    reread = read_manifest(tmp_path / "test.jsonl", Alphabet()).entries
    assert [e.audio_filepath for e in reread] == [e.audio_filepath for e in split.test]
    with pytest.raises(CtcasrError, match="no FSDD recordings"):
        prepare(tmp_path, tmp_path / "out")


def test_prepare_reads_suffixes_in_any_case(tmp_path):
    """A copy named 0_george_0.WAV (a FAT disk, a Windows tool) was skipped: "no FSDD
    recordings", or a digit missing when only some files were so named."""
    import numpy as np
    import soundfile as sf

    recordings = tmp_path / "recordings"
    recordings.mkdir()
    for digit in range(10):
        for index, suffix in ((0, ".WAV"), (5, ".Flac"), (10, ".wav")):
            sf.write(recordings / f"{digit}_george_{index}{suffix}", np.zeros(800, np.float32),
                     8000, format="WAV" if "w" in suffix.lower() else "FLAC")  # fmt: skip
    split = prepare(tmp_path, tmp_path / "out")
    assert (len(split.train), len(split.dev), len(split.test)) == (10, 10, 10)
    assert {Path(e.audio_filepath).suffix for e in split.test} == {".WAV"}


@pytest.mark.slow
def test_recipe_runs_end_to_end(fsdd_dir, tmp_path):
    results = tmp_path / "RESULTS.md"
    run = subprocess.run(
        [sys.executable, "-m", "recipes.fsdd", "--data", str(fsdd_dir.parent), "--out",
         str(tmp_path / "exp"), "--epochs", "1", "--results", str(results)],
        cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    page = results.read_text()
    assert "| ctcasr Conv1D-BiGRU CTC" in page and "Epochs run: 1" in page
    assert "python -m recipes.fsdd --data" in page
    # the scoring command is the page's own, not a line added by hand that the next run drops
    assert f"python -m recipes.fsdd --data {fsdd_dir.parent} --model default" in page
    for png in ("training_curves.png", "per_speaker_error.png", "confusion_matrix.png"):
        assert (tmp_path / png).stat().st_size > 5000 and f"({png})" in page
    assert (tmp_path / "exp" / "train" / "model" / "bundle.json").is_file()


def _fake_fsdd(root: Path) -> Path:
    """An FSDD-shaped folder: one 0.1 s clip per digit for each of test, dev and train."""
    import numpy as np
    import soundfile as sf

    recordings = root / "recordings"
    recordings.mkdir(parents=True)
    for digit in range(10):
        for index in (0, 5, 10):
            sf.write(recordings / f"{digit}_george_{index}.wav", np.zeros(800, np.float32), 8000)
    return root


def test_a_given_model_is_scored_without_training(tmp_path):
    """``--model`` scores a bundle on FSDD without training one (there was no such mode):
    greedy and the bundle's own decoder, the page under --out, the recipe's own untouched."""
    from recipes.fsdd.__main__ import HERE, main

    page_before = (HERE / "RESULTS.md").read_bytes()
    out = tmp_path / "exp"
    argv = ["--data", str(_fake_fsdd(tmp_path / "fsdd")), "--out", str(out), "--model", "default"]
    assert main(argv) == 0
    assert (HERE / "RESULTS.md").read_bytes() == page_before
    page = (out / "RESULTS.md").read_text()
    assert "given as `--model default` (`" in page and "not trained by this run" in page
    assert "| ctcasr given model, greedy |" in page
    assert "| ctcasr given model, kenlm (its stored settings) |" in page
    assert "## Training" not in page and "Per-epoch log" not in page
    assert f"ctcasr evaluate --manifest {out}/data/test.jsonl --model default" in page
    assert (out / "confusion_matrix.png").is_file() and not (out / "train").exists()
    assert not (out / "training_curves.png").exists()
