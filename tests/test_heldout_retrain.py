"""The declared held-out retrain script: every stage's command must parse, hold the dev words
out, write its report away from the committed pages, and resume where a run stopped."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "recipes" / "pretrained" / "heldout_retrain.sh"
WORDS = "backward,bed,follow,forward,happy,learn,visual"
FAKE = """#!{python}
import importlib, json, os, sys
args = sys.argv[1:]
with open(os.environ["FAKE_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if args[0] == "-m" and args[1].startswith("recipes."):
    importlib.import_module(args[1] + ".__main__").parse_args(args[2:])
"""


def _run(tmp_path: Path) -> list[list[str]]:
    fake, log = tmp_path / "python", tmp_path / "calls.jsonl"
    fake.write_text(FAKE.format(python=sys.executable))
    fake.chmod(0o755)
    log.unlink(missing_ok=True)
    env = {**os.environ, "PYTHON": str(fake), "FAKE_LOG": str(log), "PYTHONPATH": str(REPO)}
    done = subprocess.run(["bash", str(SCRIPT), "/corpora"], cwd=tmp_path / "work", env=env,
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in log.read_text().splitlines()]


def _flag(call: list[str], flag: str) -> str | None:
    return call[call.index(flag) + 1] if flag in call else None


@pytest.mark.skipif(sys.platform == "win32", reason="a bash script")
def test_every_stage_parses_holds_the_dev_words_out_and_resumes(tmp_path):
    (tmp_path / "work").mkdir()
    calls = _run(tmp_path)
    assert calls[0][0] == "-c" and "/corpora/an4" in calls[0][1]
    stages = [c for c in calls if c[:2] != ["-m", "ctcasr"] and c[0] == "-m"]
    assert [c[1] for c in stages] == ["recipes.speech_commands"] + ["recipes.pretrained"] * 11
    made = {"exp/speech_commands/train/model"}
    for call in stages:
        assert _flag(call, "--dev-words") == WORDS and "--install" not in call
        report = _flag(call, "--results")
        assert report.startswith("exp/") and "RESULTS.heldout" in report
        assert "--resume" not in call
        if (init := _flag(call, "--init-from")) is not None:
            assert init in made, f"{init} is no earlier stage's model"
        if (train_dir := _flag(call, "--train-dir")) is not None:
            made |= {f"{train_dir}/model", f"{train_dir}/averaged"}
        for source in [call[i + 1] for i, a in enumerate(call) if a == "--average-with"]:
            assert source in made
        if train_dir == "exp/pretrained/finetune6":
            made.add("exp/pretrained/soup/g2")
    assert len({_flag(c, "--results") for c in stages}) == len(stages)
    average = [c for c in calls if c[:3] == ["-m", "ctcasr", "average"]]
    assert average == [["-m", "ctcasr", "average", "exp/pretrained/finetune5/model",
                        "exp/pretrained/finetune6/model", "-o", "exp/pretrained/soup/g2"]]

    # A later run: finished stages are skipped, an interrupted one resumes.
    work = tmp_path / "work"
    (work / "exp/an4/data").mkdir(parents=True)
    (work / "exp/an4/data/train.jsonl").write_text("")
    for call in stages[:3]:
        (work / _flag(call, "--results")).parent.mkdir(parents=True, exist_ok=True)
        (work / _flag(call, "--results")).write_text("done")
    (work / _flag(stages[3], "--train-dir")).mkdir(parents=True)
    (work / "exp/pretrained/soup/g2").mkdir(parents=True)
    again = _run(tmp_path)
    assert [c for c in again if c[0] == "-c" or c[1] == "ctcasr"] == []
    assert again[0] == [*stages[3], "--resume"]
    assert again[1:] == stages[4:]
