"""Files and folders written atomically survive SIGKILL at any instant: afterwards the target
is always one complete version (bundles, checkpoints, LMs, manifests and transcripts all go
through these two helpers)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

from ctcasr.utils import recover_dir
from tests.helpers import held_elsewhere, shared_folder, unprivileged, wait_for

pytestmark = pytest.mark.slow

WRITER = """
import itertools, pathlib, sys
from ctcasr.utils import atomic_dir, atomic_write_text
target, mode = pathlib.Path(sys.argv[1]), sys.argv[2]
for i in itertools.count():
    body = f"{i}\\n" + "x" * 400_000 + f"\\n{i}\\n"
    if mode == "file":
        atomic_write_text(target, body)
    else:
        with atomic_dir(target) as tmp:
            (tmp / "a.txt").write_text(body)
            (tmp / "b.txt").write_text(body)
"""


def _inode(path) -> int | None:
    """The target's inode, or None while there is none: where two folders cannot swap names
    in one step, one is replaced by moving the old one aside first, so it is briefly absent
    (``recover_dir`` mends a kill in that gap)."""
    try:
        return path.stat().st_ino
    except FileNotFoundError:
        return None


def _complete(text: str) -> int:
    first, *_, last = text.split("\n")[:-1]
    assert first == last and len(text) > 400_000, "a half-written version"
    return int(first)


@pytest.mark.parametrize("mode", ["file", "dir"])
def test_sigkill_at_random_instants_never_leaves_a_partial_version(tmp_path, mode):
    rng = random.Random(7)
    target = tmp_path / ("out.txt" if mode == "file" else "bundle")
    mid_write = 0
    for _ in range(12):
        before = _inode(target)
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target), mode])
        try:
            wait_for(proc, lambda: _inode(target) not in (None, before),  # noqa: B023
                     "a version of its own", 30, poll=0.005)  # fmt: skip
            time.sleep(rng.uniform(0, 0.2))
        finally:  # a failed wait must not leave the writer running (it never stops)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        leftovers = list(tmp_path.glob(".*.tmp"))  # the kill landed inside a write
        mid_write += bool(leftovers)
        for path in leftovers:
            path.unlink() if path.is_file() else shutil.rmtree(path)
        if mode == "file":
            _complete(target.read_text())
        else:
            recover_dir(target)  # what load_bundle and resume do first
            a, b = (target / "a.txt").read_text(), (target / "b.txt").read_text()
            assert a == b
            _complete(a)
    assert mid_write >= 3, "too few kills landed inside a write to test anything"


def test_ctrl_c_just_after_the_temporary_is_created_leaves_nothing(tmp_path, monkeypatch):
    """A KeyboardInterrupt between creating the temporary file and writing it (here, in the
    close right after the create) still removes it: the old target stays, nothing hidden is
    left beside it."""
    import ctcasr.utils as utils

    target = tmp_path / "a.json"
    target.write_text("old")
    real_close = utils.os.close

    def interrupted_close(fd: int) -> None:
        real_close(fd)
        raise KeyboardInterrupt

    monkeypatch.setattr(utils.os, "close", interrupted_close)
    with pytest.raises(KeyboardInterrupt):
        utils.atomic_write_text(target, "new")
    monkeypatch.undo()
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json"]


def test_long_legal_names_can_be_replaced_whole(tmp_path):
    """A 252-character name is legal, but the temporary (~30 characters longer) and the
    folder moved aside (".NAME.old", 5 longer) were not: writing or replacing it failed."""
    from ctcasr.utils import atomic_dir, atomic_write_text

    name = "b" * 252
    atomic_write_text(tmp_path / name, "one")
    atomic_write_text(tmp_path / name, "two")
    assert (tmp_path / name).read_text() == "two"
    for text in ("first", "second"):
        with atomic_dir(tmp_path / ("d" * 252)) as tmp:
            (tmp / "f.txt").write_text(text)
    assert (tmp_path / ("d" * 252) / "f.txt").read_text() == "second"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b" * 252, "d" * 252]


def test_a_path_through_a_link_and_dotdot_is_written_where_it_is_read(tmp_path, monkeypatch):
    """``..`` was collapsed by text: with ``link -> deep/a``, ``link/../out.txt`` was written
    beside ``link`` while the system (and every read) takes it as ``deep/out.txt``."""
    from ctcasr.utils import atomic_dir, atomic_write_text

    (tmp_path / "deep" / "a").mkdir(parents=True)
    (tmp_path / "here").mkdir()
    (tmp_path / "here" / "link").symlink_to(tmp_path / "deep" / "a")
    monkeypatch.chdir(tmp_path / "here")
    atomic_write_text("link/../out.txt", "written")
    with open("link/../out.txt", encoding="utf-8") as handle:
        assert handle.read() == "written"
    assert (tmp_path / "deep" / "out.txt").is_file()
    assert not (tmp_path / "here" / "out.txt").exists()
    with atomic_dir("link/../bundle") as tmp:
        (tmp / "x").write_text("y", encoding="utf-8")
    assert (tmp_path / "deep" / "bundle" / "x").is_file()
    # a dangling link leads nowhere to read: no folders are made under its target
    (tmp_path / "here" / "dangling").symlink_to(tmp_path / "nowhere" / "x" / "y")
    atomic_write_text("dangling/../out2.txt", "by text")
    assert not (tmp_path / "nowhere").exists()
    assert (tmp_path / "here" / "out2.txt").read_text(encoding="utf-8") == "by text"


def _disk_full() -> OSError:
    """What a write or fsync into a full disk raises: an errno and no file name."""
    import errno
    import os

    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_names_the_output_and_keeps_the_old_one(tmp_path, monkeypatch):
    """A write or fsync into a full disk names no file: ``export`` and ``train`` said only
    "error: No space left on device". The error names the target; the old file stays and no
    temporary is left."""
    import ctcasr.utils as utils
    from ctcasr.utils import atomic_dir, atomic_path

    target = tmp_path / "model.onnx"
    target.write_text("old")
    with pytest.raises(OSError) as caught, atomic_path(target):
        raise _disk_full()
    assert (caught.value.errno, caught.value.filename) == (28, str(target))
    monkeypatch.setattr(utils, "_fsync_file", lambda path: (_ for _ in ()).throw(_disk_full()))
    with pytest.raises(OSError) as caught:
        utils.atomic_write_text(target, "new")
    assert caught.value.filename == str(target)
    monkeypatch.undo()
    assert target.read_text() == "old"
    bundle = tmp_path / "bundle"
    with atomic_dir(bundle) as tmp:
        (tmp / "a.txt").write_text("old")
    with pytest.raises(OSError) as caught, atomic_dir(bundle) as tmp:
        raise OSError(28, "No space left on device", str(tmp / "a.txt"))
    assert caught.value.filename == str(bundle / "a.txt")
    assert (bundle / "a.txt").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bundle", "model.onnx"]


def test_a_folder_that_cannot_be_made_is_named_not_its_temporary(tmp_path):
    """``tune -o ro/x`` on a read-only file system said "ro/.x.PID-HEX.tmp: Read-only file
    system", a name the user never gave; a copy into a full disk names the copy, not its
    source."""
    from ctcasr.utils import _naming_target

    tmp, target = tmp_path / ".x.1-ab.tmp", tmp_path / "x"
    refused = _naming_target(OSError(30, "Read-only file system", str(tmp)), tmp, target)
    assert refused.filename == str(target) and refused.errno == 30
    copied = OSError(28, "No space left on device", "/src/lm.arpa", None, str(tmp / "lm.arpa"))
    full = _naming_target(copied, tmp, target)
    assert (full.filename, full.filename2) == (str(target / "lm.arpa"), None)
    unreadable = OSError(5, "Input/output error", "/src/lm.arpa", None, str(tmp / "lm.arpa"))
    both = _naming_target(unreadable, tmp, target)
    assert (both.filename, both.filename2) == ("/src/lm.arpa", str(target / "lm.arpa"))
    elsewhere = OSError(2, "No such file or directory", "/src/words.txt")
    assert _naming_target(elsewhere, tmp, target) is elsewhere


def test_a_read_only_folder_is_named_by_the_write_not_the_cleanup(tmp_path, monkeypatch):
    """On a read-only file system the temporary cannot be made, and removing it fails too:
    that second error (EROFS, naming the temporary) replaced the first, so ``transcribe -o``
    said "cannot write ro/.seven.txt.PID-HEX.tmp"."""
    import ctcasr.utils as utils

    def read_only(path, *args, **kwargs):
        raise OSError(30, "Read-only file system", str(path))

    monkeypatch.setattr(utils.os, "open", read_only)
    monkeypatch.setattr(utils.Path, "unlink", read_only)
    with pytest.raises(OSError) as caught:
        utils.atomic_write_text(tmp_path / "seven.txt", "seven\n")
    assert (caught.value.errno, caught.value.filename) == (30, str(tmp_path / "seven.txt"))


def test_a_folder_lock_refuses_a_second_holder_and_outlives_no_killed_one(tmp_path):
    """A lock names its holder's pid to the one refused; a holder killed with SIGKILL leaves
    its lock file behind, and the next run takes it over instead of being refused for ever."""
    from ctcasr.errors import BusyError
    from ctcasr.utils import LOCK_NAME, folder_lock

    folder = tmp_path / "run"
    with held_elsewhere(folder) as holder:
        with (pytest.raises(BusyError, match=rf"^busy: {holder.pid}$"),
              folder_lock(folder, lambda pid: f"busy: {pid}")):
            pass
        holder.kill()
        holder.wait()
    assert (folder / LOCK_NAME).read_text() == f"{holder.pid}\n"  # stale: its holder is gone
    with folder_lock(folder, lambda pid: f"busy: {pid}"):
        assert (folder / LOCK_NAME).read_text() == f"{os.getpid()}\n"
    assert list(folder.iterdir()) == []  # a folder that was there before stays


def test_a_folder_lock_is_its_holders_to_take_again(tmp_path):
    """A recipe holds its training folder for its whole run and then calls train(), which
    locks it again: a second flock from the same process refused the recipe's own training.
    Taken again in the same thread it stays held (and its file stays) until the outer lock
    ends; another thread, or another process, is still refused."""
    import threading

    from ctcasr.errors import BusyError
    from ctcasr.utils import LOCK_NAME, folder_lock

    folder, refused = tmp_path / "run", []

    def other_thread() -> None:
        try:
            with folder_lock(folder, str):
                pass
        except BusyError as exc:
            refused.append(str(exc))

    with folder_lock(folder, str):
        with folder_lock(folder, str):
            pass
        assert (folder / LOCK_NAME).read_text() == f"{os.getpid()}\n"
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
        assert refused == [str(os.getpid())]
    assert not folder.exists()  # made by the outer lock, left empty: gone with it
    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert refused == [str(os.getpid())]  # free once the outer lock ended


def test_a_folder_lock_in_a_folder_it_cannot_write_goes_on_unlocked(tmp_path):
    """An export into a read-only bundle (an installed one), which locks it, must fail naming
    the model.onnx it cannot write, not `.ctcasr.lock` (PermissionError from the lock): the
    caller's own write says what is wrong with the folder."""
    from ctcasr.utils import folder_lock

    with shared_folder(tmp_path) as shared:
        folder = shared / "bundle"
        folder.mkdir()
        os.chmod(folder, 0o555)
        with unprivileged(), folder_lock(folder, str):
            assert list(folder.iterdir()) == []


def _paused_in_commit(monkeypatch, target):
    """Make the thread named "first" stop right after the first rename of its commit that
    touches ``target`` (a swap, or the move aside) until ``go`` is set; ``paused`` says it
    stopped there. Anything can then run at the instant that rename left behind."""
    import threading

    import ctcasr.utils as utils

    paused, go = threading.Event(), threading.Event()
    real_replace, real_swap = utils.os.replace, getattr(utils, "_swap", None)

    def stop(*paths) -> None:
        if threading.current_thread().name == "first" and not paused.is_set() and any(
                str(p) == str(target) for p in paths):  # fmt: skip
            paused.set()
            assert go.wait(30)

    def replace(src, dst, *args, **kwargs):
        real_replace(src, dst, *args, **kwargs)
        stop(src, dst)

    def swap(a, b):
        swapped = real_swap(a, b)
        stop(a, b)
        return swapped

    monkeypatch.setattr(utils.os, "replace", replace)
    monkeypatch.setattr(utils, "_swap", swap, raising=False)  # not on every system
    return paused, go


def _write(target, text: str) -> None:
    from ctcasr.utils import atomic_dir

    with atomic_dir(target) as tmp:
        (tmp / "a.txt").write_text(text)
        (tmp / "b.txt").write_text(text)


def _while_committing(monkeypatch, target, text: str, action):
    """``action()``'s result, run while another thread's write of ``text`` to ``target`` is
    stopped inside its commit (as :func:`_paused_in_commit`); that write must then succeed."""
    import threading

    paused, go = _paused_in_commit(monkeypatch, target)
    errors: list[BaseException] = []

    def write() -> None:
        try:
            _write(target, text)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=write, name="first")
    thread.start()
    try:
        assert paused.wait(30)
        result = action()
    finally:
        go.set()
        thread.join()
    assert errors == []
    return result


def _whole(target) -> str:
    a, b = (target / "a.txt").read_text(), (target / "b.txt").read_text()
    assert a == b, "a folder mixing two writes"
    return a


@pytest.mark.parametrize("existed", [True, False])
def test_two_writers_of_one_folder_at_once_both_succeed_and_one_wins_whole(
        tmp_path, monkeypatch, existed):  # fmt: skip
    """Two `tune -o same`, `average -o same` or recipe generations at once: the second to
    finish found the first's folder where it had moved the old one aside, and failed with
    "Directory not empty" (or "No such file" as they removed each other's), losing its work."""
    target = tmp_path / "bundle"
    if existed:
        _write(target, "old")
    # the second writer, while the first is mid-commit
    _while_committing(monkeypatch, target, "first", lambda: _write(target, "second"))
    assert _whole(target) in ("first", "second")
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]  # nothing left aside


def test_loading_a_bundle_while_it_is_rewritten_neither_fails(tmp_path, monkeypatch):
    """`transcribe` while `tune` rewrites the bundle in place: a load between the tune's two
    renames found no bundle, or (recover_dir) put the old one back, and the tune then failed
    with "Directory not empty"."""
    target = tmp_path / "bundle"
    _write(target, "old")

    def load() -> str:
        recover_dir(target)  # what load_bundle does first
        return _whole(target)

    seen = _while_committing(monkeypatch, target, "new", load)
    assert seen in ("old", "new") and _whole(target) == "new"


def test_where_folders_cannot_swap_names_they_are_still_replaced_whole(tmp_path, monkeypatch):
    """macOS, Windows, a file system without renameat2's swap: the move-aside way is kept."""
    import ctcasr.utils as utils

    monkeypatch.setattr(utils, "_swap", lambda a, b: False)
    target = tmp_path / "bundle"
    for text in ("old", "new"):
        _write(target, text)
    assert _whole(target) == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["bundle"]


@pytest.mark.parametrize("swaps", [True, False])
def test_a_folder_written_over_a_file_leaves_nothing_hidden_behind(tmp_path, monkeypatch, swaps):
    """The file is replaced, as the move-aside way always did, but the swap left it under
    the temporary's name (rmtree fails on a file) and the move-aside way under ``.NAME.old``."""
    import ctcasr.utils as utils

    if not swaps:
        monkeypatch.setattr(utils, "_swap", lambda a, b: False)
    target = tmp_path / "out"
    target.write_text("a file")
    with utils.atomic_dir(target) as tmp:
        (tmp / "x").write_text("new")
    assert (target / "x").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
