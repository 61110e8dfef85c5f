"""Ctrl-C in the middle of a batch: one line saying how far it got, exit status 130, no
traceback from the parent or its workers, and every output already written complete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

import pytest

from tests.helpers import default_sigint, wait_for

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("jobs", [1, 2])
def test_ctrl_c_during_a_batch(tmp_path, fsdd_dir, jobs):
    files = sorted(fsdd_dir.glob("*_george_*.flac"))[:300]
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-c", "from ctcasr.cli import main; main()", "transcribe",
         *map(str, files), "-o", str(out), "-f", "json", "-j", str(jobs), "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        preexec_fn=default_sigint,
    )  # fmt: skip
    wait_for(proc, lambda: out.is_dir() and len(list(out.glob("*.json"))) >= 3, "output", 120)
    os.kill(proc.pid, signal.SIGINT)
    try:
        err = proc.communicate(timeout=60)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("interrupted after "), err
    done = int(lines[0].split()[2])
    written = sorted(out.glob("*.json"))
    # The count is of transcripts on disk: it was one ahead when Ctrl-C hit during a write
    # (counted before writing); only a Ctrl-C between the rename and the count leaves one more
    # (so with 3 on disk when it came, the count may say 2: the test asked for 3 <= done and
    # failed once so on a fresh clone).
    assert len(written) >= 3 and done <= len(written) <= done + 1 and done < len(files)
    for path in written:  # each one complete: no half-written file survives
        assert json.loads(path.read_text())["text"]
    assert not list(out.glob(".*")), "temporary files were left behind"


def test_sigterm_while_train_reads_its_config_is_a_stop_message(tmp_path):
    """SIGTERM in train's first second or so (ctcasr.train importing, the config read) exited
    143 with no word: the handler came only around the training itself."""
    import subprocess
    import sys

    code = ("import os, signal\nfrom ctcasr.train import TrainConfig\n"
            "def term(*a, **k):\n    os.kill(os.getpid(), signal.SIGTERM)\n"
            "TrainConfig.from_file = term\nfrom ctcasr.cli import main\nmain()")
    result = subprocess.run([sys.executable, "-c", code, "train", "--config", "x.toml"],
                            capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 143 and result.stderr.strip() == "stopped by SIGTERM", result
