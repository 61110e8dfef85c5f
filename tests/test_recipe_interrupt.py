"""A recipe stopped by Ctrl-C, SIGTERM or SIGHUP ends as ``ctcasr train`` does: one line that
names the step it stopped in and the command that goes on (``--resume`` once a checkpoint is
saved), exit status 130 or 128 + the signal, no traceback."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ctcasr.train import CHECKPOINTS, LATEST
from recipes.common import TRAINING, run_main, step
from recipes.fsdd.__main__ import parse_args as fsdd_args
from tests.helpers import default_sigint, wait_for

REPO = Path(__file__).resolve().parents[1]
posix_only = pytest.mark.skipif(sys.platform == "win32", reason="no POSIX signals to send")

# The FSDD recipe with the test suite's tiny model, run as its command line runs it.
TINY_FSDD = """
import sys
import recipes.fsdd.__main__ as recipe
from tests.helpers import TINY_MODEL
recipe.TRAIN_SETTINGS.update(model=TINY_MODEL, batch_size=8, patience=1000)
sys.exit(recipe.main())
"""


def _tiny_fsdd(fsdd_dir: Path, folder: Path) -> Path:
    """One speaker's digits at indices 0 (test), 5 (dev), 10 and 11 (train)."""
    corpus = folder / "fsdd" / "recordings"
    corpus.mkdir(parents=True)
    for digit in range(10):
        for index in (0, 5, 10, 11):
            name = f"{digit}_george_{index}.flac"
            (corpus / name).symlink_to(fsdd_dir / name)
    return corpus.parent


@pytest.mark.slow
@posix_only
def test_ctrl_c_while_a_recipe_trains(tmp_path, fsdd_dir):
    argv = ["--data", str(_tiny_fsdd(fsdd_dir, tmp_path)), "--out", str(tmp_path / "exp"),
            "--epochs", "500", "--noise", "none", "--results", str(tmp_path / "RESULTS.md")]
    proc = subprocess.Popen(
        [sys.executable, "-c", TINY_FSDD, *argv], cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, preexec_fn=default_sigint,
    )  # fmt: skip
    latest = tmp_path / "exp" / "train" / CHECKPOINTS / LATEST
    try:
        wait_for(proc, latest.is_file, "checkpoint", 300)
        os.kill(proc.pid, signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("interrupted while training: the last complete checkpoint is ")
    named = Path(lines[0].split(" is ", 1)[1].split(";")[0])
    assert named.parent == latest.parent and (named / "state.json").is_file()
    command = lines[0].split("; to continue from it: ")[1]
    words = shlex.split(command)
    assert words[:3] == ["python", "-m", "recipes.fsdd"] and words[3:] == [*argv, "--resume"]
    assert fsdd_args(words[3:]).resume


def _fake_recipe(*steps: tuple[str, Path | None], then) -> object:
    """A recipe's ``run`` that goes through ``steps``, then calls ``then`` (which stops it)."""

    def run(args, argv) -> int:
        for name, train_dir in steps:
            step(name, train_dir)
        then()
        return 0

    run.__module__ = "recipes.fsdd.__main__"
    return run


def _checkpoint(train_dir: Path) -> Path:
    (train_dir / CHECKPOINTS / "epoch-0002").mkdir(parents=True)
    (train_dir / CHECKPOINTS / LATEST).write_text("epoch-0002\n")
    return train_dir / CHECKPOINTS / "epoch-0002"


def _interrupt() -> None:
    raise KeyboardInterrupt


def test_ctrl_c_after_training_resumes_past_it(tmp_path, capsys):
    """A stop after training (tuning, scoring, writing the page) goes on with --resume, which
    finds the run finished and goes straight to the step that was stopped."""
    train_dir = tmp_path / "exp" / "train"
    _checkpoint(train_dir)
    run = _fake_recipe(("preparing the data", train_dir), (TRAINING, None),
                       ("scoring the test set", None), then=_interrupt)  # fmt: skip
    argv = ["--data", "my corpus", "--out", str(tmp_path / "exp")]
    assert run_main(fsdd_args, run, argv) == 130
    err = capsys.readouterr().err
    command = f"python -m recipes.fsdd --data 'my corpus' --out {tmp_path / 'exp'} --resume"
    assert err == (f"interrupted while scoring the test set: training is done (its model: "
                   f"{train_dir / 'model'}); to go on without training again: {command}\n")


def test_ctrl_c_before_any_checkpoint_starts_again(tmp_path, capsys):
    train_dir = tmp_path / "exp" / "train"
    for steps, said in (
        ([("preparing the data", train_dir)], "while preparing the data, before training began"),
        ([("preparing the data", train_dir), (TRAINING, None)],
         f"while training: no epoch had finished, nothing saved in {train_dir / CHECKPOINTS}"),
        ([], ""),  # before the recipe said where it is
    ):  # fmt: skip
        run = _fake_recipe(*steps, then=_interrupt)
        assert run_main(fsdd_args, run, ["--out", str(tmp_path / "exp")]) == 130
        err = capsys.readouterr().err
        again = f"python -m recipes.fsdd --out {tmp_path / 'exp'}"
        assert err == f"interrupted{' ' if said else ''}{said}; to start again: {again}\n"


def test_a_resumed_run_keeps_its_resume_flag(tmp_path, capsys):
    train_dir = tmp_path / "train"
    saved = _checkpoint(train_dir)
    run = _fake_recipe(("preparing the data", train_dir), (TRAINING, None), then=_interrupt)
    assert run_main(fsdd_args, run, ["--resume", "--epochs", "3"]) == 130
    assert capsys.readouterr().err == (
        f"interrupted while training: the last complete checkpoint is {saved}; to continue "
        "from it: python -m recipes.fsdd --resume --epochs 3\n")  # fmt: skip


@posix_only
@pytest.mark.parametrize("sig", ["SIGTERM", "SIGHUP"])
def test_sigterm_and_sighup_stop_a_recipe_as_ctrl_c_does(tmp_path, capsys, sig):
    """They ended a recipe where it stood, with no word of what to do next."""
    signum = getattr(signal, sig)
    if signal.getsignal(signum) is not signal.SIG_DFL:
        pytest.skip(f"{sig} is not at its default here: a recipe leaves it as it is")
    train_dir = tmp_path / "exp" / "train"
    run = _fake_recipe(("preparing the data", train_dir),
                       then=lambda: os.kill(os.getpid(), signum))  # fmt: skip
    assert run_main(fsdd_args, run, ["--out", str(tmp_path / "exp")]) == 128 + signum
    assert capsys.readouterr().err == (
        f"stopped by {sig} while preparing the data, before training began; to start again: "
        f"python -m recipes.fsdd --out {tmp_path / 'exp'}\n")  # fmt: skip
    assert signal.getsignal(signum) is signal.SIG_DFL  # set only while the recipe runs


def test_a_recipe_that_trains_nothing_starts_again(capsys):
    from recipes.pretrained.dev_compare import parse_args

    run = _fake_recipe(then=_interrupt)
    run.__module__ = "recipes.pretrained.dev_compare"
    assert run_main(parse_args, run, ["a/model", "b/model"]) == 130
    assert capsys.readouterr().err == (
        "interrupted; to start again: python -m recipes.pretrained.dev_compare a/model "
        "b/model\n")  # fmt: skip


FAKE_ESPEAK = """#!{python}
import sys, time
from pathlib import Path
if any(a.startswith("--voices") for a in sys.argv):
    print("Pty Language Age/Gender VoiceName File Other Languages")
    print(" 2  en-us --/M English_(America) gmw/en-US (en 3)")
    sys.exit(0)
Path({ready!r}).touch()
time.sleep({seconds})
sys.exit(1)
"""


def fake_espeak(folder: Path, seconds: float) -> Path:
    """A PATH folder whose only engine, ``espeak-ng``, touches ``folder/started`` and then
    takes ``seconds`` to fail each clip."""
    folder.mkdir()
    script = folder / "espeak-ng"
    script.write_text(FAKE_ESPEAK.format(python=sys.executable, ready=str(folder / "started"),
                                         seconds=seconds))  # fmt: skip
    script.chmod(0o755)
    return folder


def _stop_synthetic(tmp_path: Path, seconds: float,
                    sig: int = signal.SIGTERM) -> tuple[int, str, Path]:  # fmt: skip
    """``python -m recipes.synthetic`` with a fake espeak-ng taking ``seconds`` per clip,
    sent ``sig`` once a clip has started: its exit status, stderr and --out."""
    bin_dir = fake_espeak(tmp_path / "bin", seconds)
    out = tmp_path / "syn"
    proc = subprocess.Popen(
        [sys.executable, "-m", "recipes.synthetic", "--out", str(out), "--count", "2",
         "--jobs", "1"], cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO),
                                        "PATH": str(bin_dir)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(proc, (bin_dir / "started").is_file, "a clip started", 60)
        proc.send_signal(sig)
        err = proc.communicate(timeout=20)[1]
    finally:
        proc.kill()
    return proc.returncode, err, out


@pytest.mark.slow
@posix_only
def test_a_recipe_run_with_python_m_names_itself(tmp_path):
    """``python -m recipes.synthetic`` stopped by SIGTERM said to start again with ``python
    -m __main__ ...``, which runs nothing: the recipe's module is ``__main__`` when run so."""
    status, err, out = _stop_synthetic(tmp_path, seconds=2)
    assert status == 128 + signal.SIGTERM
    assert err.endswith("to start again: python -m recipes.synthetic --out "
                        f"{shlex.quote(str(out))} --count 2 --jobs 1\n"), err


@pytest.mark.slow
@posix_only
def test_sigterm_stops_a_synthetic_corpus_whose_engine_hangs(tmp_path):
    """SIGTERM (and Ctrl-C) waited for the engine a worker thread was running: one that hung
    kept the recipe alive until it was killed by hand. The engine is now killed at once."""
    status, err, out = _stop_synthetic(tmp_path, seconds=120)
    assert status == 128 + signal.SIGTERM, err
    assert err.splitlines()[-1].startswith("stopped by SIGTERM while making the synthetic "
                                           "corpus"), err  # after the missing engines
    assert sorted(p.name for p in out.iterdir()) == []  # no clip or temporary folder left


@pytest.mark.slow
@posix_only
def test_a_rerun_clears_what_a_killed_synthetic_corpus_left(tmp_path):
    """SIGKILL (the OOM killer) left the audio folder being filled (``.audio.PID-HEX.tmp``,
    up to 400 MB for the full corpus) and a chunk's work folder, and no rerun removed them."""
    from recipes.synthetic.generate import available_engines, generate

    if "espeak" not in available_engines():
        pytest.skip("espeak-ng is not installed")
    out = _stop_synthetic(tmp_path, seconds=1, sig=signal.SIGKILL)[2]
    left = sorted(p.name for p in out.iterdir())
    assert len(left) == 2 and "audio" not in left, left  # the two work folders
    generate(out, 2, words=["alpha", "bravo"], engines=["espeak"], seed=0, jobs=1)
    assert sorted(p.name for p in out.iterdir()) == [
        "audio", "synthetic.jsonl", "synthetic.settings.json"]  # fmt: skip
