"""Small helpers shared across stages: atomic file writes and seeding."""

from __future__ import annotations

import codecs
import contextlib
import errno
import functools
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` only on success.

    A crash or kill while writing leaves the old ``target`` untouched, never a half-written one.
    """
    target = _named(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp_path = _temporary_name(target, suffix)
    try:
        # Created inside the try, under a name known beforehand: a Ctrl-C at any instant
        # still reaches the cleanup below. Mode 0666 less the umask, as for any new file.
        os.close(os.open(tmp_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
        yield tmp_path
        _fsync_file(tmp_path)
        os.replace(tmp_path, target)
        _fsync_dir(target.parent)
    except OSError as exc:
        raise _naming_target(exc, tmp_path, target) from exc
    finally:
        # Never made, or in a read-only folder: the unlink's own error (EROFS) replaced the
        # one that says what went wrong, naming the temporary.
        with contextlib.suppress(OSError):
            tmp_path.unlink()


def file_name(value: str | os.PathLike[str], what: str, error: type[Exception] | None = None
              ) -> Path:  # fmt: skip
    """``value`` as a Path, an empty name refused as ``WHAT: empty file name``: Path("") is
    ".", the current folder, which was then read as the file ("is a folder")."""
    if not os.fspath(value):
        from ctcasr.audio import EMPTY_NAME
        from ctcasr.errors import ConfigError

        raise (error or ConfigError)(f"{what}: {EMPTY_NAME}")
    return Path(value)


def stat_or_fail(path: Path, what: str, error: type[Exception]) -> os.stat_result:
    """``path``'s one stat, its failures as ``error``: "WHAT not found" (a NUL in the name
    too), else "cannot read WHAT" with the reason. Path.exists() raised OSError for a name
    too long or a folder that may not be searched, and called a link loop not found."""
    try:
        return path.stat()
    except ValueError:  # a NUL in the name
        raise error(f"{path}: {what} not found") from None
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            raise error(f"{path}: {what} not found") from None
        raise error(cannot_read(path, what, exc)) from None


def check_readable(path: str | os.PathLike[str], what: str, error: type[Exception]) -> None:
    """``error`` if ``path`` cannot be opened for reading: its stat passes where the user may
    not read it (mode 0), and a reader that fails then said the wrong thing ("not a readable
    KenLM model", "not a recognised audio file"), as if the format were at fault."""
    try:
        open(path, "rb").close()
    except OSError as exc:
        raise error(cannot_read(path, what, exc)) from None


def cannot_read(path: str | os.PathLike[str], what: str, exc: OSError) -> str:
    """The one wording of a file that is there but cannot be read, ``PATH: cannot read WHAT:
    reason``: the same refusal was worded three ways, ``(reason)`` in some."""
    return f"{path}: cannot read {what}: {exc.strerror or exc}"


def check_writable(folder: str | os.PathLike[str], error: type[Exception],
                   replaced: bool = False) -> None:  # fmt: skip
    """``error`` if ``folder``, or where it would be made (the nearest folder above it that
    exists), cannot be written: ``FOLDER: cannot write the output folder (PARENT is not
    writable)``. Checked before any work, which otherwise ended in "Permission denied" once
    it was all done (every input transcribed, the model trained), and in one wording: the
    same refusal was said three ways. ``replaced``: a folder :func:`atomic_dir` replaces,
    whose new version is made beside it, so the folder holding it is written too."""
    folder = Path(folder)
    # os.path.exists: Path.exists raised PermissionError below a folder that may not be searched
    existing = next(p for p in (folder, *folder.absolute().parents) if os.path.exists(p))
    if existing.is_dir() and not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == folder else f"{existing} is "
        raise error(f"{folder}: cannot write the output folder ({where}not writable)")
    # a link's own folder is not written: atomic_dir replaces the folder it points to
    parent = Path(os.path.realpath(folder) if folder.is_symlink() else folder.absolute()).parent
    if replaced and existing == folder and not os.access(parent, os.W_OK | os.X_OK):
        raise error(f"{folder}: cannot write the output folder ({parent} is not writable)")


def atomic_write_text(target: str | os.PathLike[str], text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a fresh temporary directory; on success it replaces ``target`` as a whole.

    Where the system can (Linux), the new directory and the old one swap names in one step,
    and the old one is then removed: ``target`` is never absent, so a reader at that instant
    sees one whole version, and two writers at once both succeed (the last one's stays).
    Elsewhere the old directory is moved aside first and removed only after the new one is
    in place, so at every instant either the old or the new complete directory exists under
    ``target`` (or, for a split second, under the ``.old`` name, which :func:`recover_dir`
    restores).
    """
    target = _named(target)
    if target.is_symlink():  # replace the folder it points to; the link stays a link
        target = Path(os.path.realpath(target))
    refuse_current_folder(target)
    from ctcasr.errors import CtcasrError

    # An old folder's files could not be removed once it was moved aside: refuse before any work.
    check_writable(target, CtcasrError, replaced=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary_name(target)
    try:
        tmp.mkdir(0o777)  # inside the try, as in atomic_path; 0777 less the umask
        yield tmp
        for path in tmp.rglob("*"):
            if path.is_file():
                _fsync_file(path)
        if _put_in_place(tmp, target):
            _fsync_dir(target.parent)
            return  # the old folder, now under the temporary name, goes below
        old = _old_name(target)
        if old.exists() or old.is_symlink():
            _remove(old)
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
        _fsync_dir(target.parent)
        # The new folder is in place: a leftover old one is untidy, not a failure.
        _remove(old, ignore_errors=True)
    except OSError as exc:
        raise _naming_target(exc, tmp, target) from exc
    finally:
        if tmp.exists() or tmp.is_symlink():
            _remove(tmp, ignore_errors=True)


def _remove(path: Path, ignore_errors: bool = False) -> None:
    """Remove what :func:`atomic_dir` set aside: a folder, or the file a target that was a
    file left there (rmtree fails on a file, and left it as a hidden ``.NAME...tmp``)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=ignore_errors)
        return
    try:
        path.unlink(missing_ok=True)
    except OSError:
        if not ignore_errors:
            raise


class _CopyFailed(Exception):
    """Carries a copy's OSError out of ``shutil.copytree``, which would collect it and go on."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


def copy_tree(source: str | os.PathLike[str], dest: str | os.PathLike[str], *,
              ignore: Any = None, dirs_exist_ok: bool = False) -> None:  # fmt: skip
    """``shutil.copytree`` that stops at the first file it cannot copy, raising that OSError.
    copytree went on copying every other file into a full disk, then raised a shutil.Error
    whose message was a Python list of (source, temporary copy, reason) for each of them."""

    def copy(src: str, dst: str) -> Any:
        try:
            return shutil.copy2(src, dst)
        except OSError as exc:
            raise _CopyFailed(exc) from None

    try:
        shutil.copytree(source, dest, ignore=ignore, copy_function=copy,
                        dirs_exist_ok=dirs_exist_ok)  # fmt: skip
    except _CopyFailed as failed:
        raise failed.error from None


# Failures that concern the file written, whichever of a copy's two names they carry.
_WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})


def _naming_target(exc: OSError, tmp: Path, target: Path) -> OSError:
    """``exc`` naming the output the user asked for: a write or fsync into a full disk names
    no file ("error: No space left on device", with no clue which of a run's outputs), and
    others named the hidden temporary, gone by the time the message is read. A failure
    naming another file (a source being copied in) is left as it is."""
    if exc.errno is None:
        return exc

    def mapped(name: Any) -> str | None:
        try:
            inside = Path(os.fsdecode(name)).relative_to(tmp)
        except (TypeError, ValueError):
            return None
        return str(target / inside)

    first, second = mapped(exc.filename), mapped(exc.filename2)
    if exc.filename is None:
        first = str(target)
    elif second is not None and exc.errno in _WRITE_ERRNOS:  # a copy into a full disk
        first, second = second, None
    elif first is None and second is None:
        return exc
    if first is None:
        first = exc.filename
    return OSError(exc.errno, exc.strerror, first, None, second)


LOCK_NAME = ".ctcasr.lock"
# The folders this process holds, by (device, inode), each with its holder (pid, thread): a
# recipe holds its training folder for the whole run, and the train() it calls takes that
# lock again; a second flock from the same process would refuse it as busy.
_held: dict[tuple[int, int], tuple[int, int]] = {}


@contextlib.contextmanager
def folder_lock(folder: Path, busy: Callable[[int | None], str]) -> Iterator[None]:
    """Hold ``folder`` for this process alone, or raise :class:`~ctcasr.errors.BusyError`
    with ``busy(holder's pid)``: two runs writing one folder interleaved their files and
    both reported success. An flock on ``.ctcasr.lock`` (holding our pid, removed at the
    end), so the lock of a killed run is released with it and the next run takes it over.
    Where nothing can be locked (no flock, or ``folder`` cannot be made or written), it goes
    on unlocked and the caller's own checks say what is wrong with the folder. Re-entrant
    within a thread: a lock taken again where it is held is a no-op; the outer one releases it."""
    try:
        import fcntl
    except ImportError:  # Windows: no flock
        yield
        return
    made = _missing_parents(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        here = os.stat(folder)
    except OSError:
        yield
        return
    key, me = (here.st_dev, here.st_ino), (os.getpid(), threading.get_ident())
    if _held.get(key) == me:
        yield
        return
    path = folder / LOCK_NAME
    try:
        fd = _locked(path, fcntl, busy)
    except BaseException:
        _remove_empty(made)
        raise
    try:
        if fd >= 0:
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            _held[key] = me
        yield
    finally:
        if fd >= 0:
            _held.pop(key, None)
            with contextlib.suppress(OSError):  # while still held: no one locks a stale file
                path.unlink()
            os.close(fd)
        _remove_empty(made)


def _locked(path: Path, fcntl: Any, busy: Callable[[int | None], str]) -> int:
    """An open descriptor of ``path`` holding its flock (-1 where the file system has no
    locks); ``busy`` says who holds it otherwise."""
    from ctcasr.errors import BusyError

    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError:  # a folder this user may not write: the caller's write says so
            return -1
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
            os.close(fd)
            raise BusyError(busy(int(text) if text.isdigit() else None)) from None
        except OSError:  # a file system without locks (some network mounts)
            os.close(fd)
            return -1
        # The holder removes the file before it lets go: one locked after that removal must
        # be opened again, or two runs would each hold a lock on a different file.
        try:
            here = os.stat(path)
        except FileNotFoundError:
            here = None
        mine = os.fstat(fd)
        if here is not None and (here.st_ino, here.st_dev) == (mine.st_ino, mine.st_dev):
            return fd
        os.close(fd)


def _missing_parents(folder: Path) -> list[Path]:
    """``folder`` and those of its parents that do not exist yet, innermost first."""
    missing = []
    for path in (folder, *folder.parents):
        if path.exists() or path.is_symlink():
            break
        missing.append(path)
    return missing


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a lock made, if nothing else was written into them: a run that
    failed at once left nothing behind before it was locked, and leaves nothing now."""
    for path in folders:
        try:
            path.rmdir()
        except OSError:
            return


def _put_in_place(tmp: Path, target: Path) -> bool:
    """Make ``tmp`` the folder at ``target`` in one step, leaving the old one (if any) under
    ``tmp``'s name; False where the system cannot swap folders (then nothing was done).
    Another writer may put its folder at ``target`` or take it away at any instant: each
    step that finds it so is tried again the other way."""
    for _ in range(100):
        if target.exists() or target.is_symlink():
            try:
                return _swap(tmp, target)
            except FileNotFoundError:  # just taken away (a writer's move aside): put ours
                continue
        try:
            os.replace(tmp, target)  # nothing there: a rename (or over an empty folder)
            return True
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            # another writer's folder came first: swap with it
    return False


# renameat2(2)'s flag that swaps two names; AT_FDCWD: paths relative to the current folder.
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


@functools.cache
def _renameat2() -> Any:
    """libc's renameat2, or None (not Linux, or a libc without it). On Windows ctypes has no
    process-wide library to open: ``CDLL(None)`` raises TypeError, which ended every
    replacement of an existing folder (each epoch's model/ after the first, ``tune -o``)."""
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function = libc.renameat2
    except (OSError, AttributeError, TypeError):  # TypeError: Windows, which has no CDLL(None)
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                         ctypes.c_uint]  # fmt: skip
    function.restype = ctypes.c_int
    return function


def _swap(a: Path, b: Path) -> bool:
    """Swap the names of ``a`` and ``b`` atomically; False where the system or the file
    system cannot (nothing was changed)."""
    import ctypes

    function = _renameat2()
    if function is None:
        return False
    if function(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
        return False
    raise OSError(code, os.strerror(code), str(b))


def recover_dir(target: str | os.PathLike[str]) -> None:
    """Put back a directory left under its ``.old`` name by a kill inside :func:`atomic_dir`."""
    try:
        target = _named(target)
    except OSError:  # the root folder: never replaced, so never left aside
        return
    old = _old_name(target)
    if not target.exists() and old.exists():
        os.replace(old, target)


# Of a target's name, what its temporary and its moved-aside folder keep: they add up to ~30
# characters, and a legal 230-character name failed with "File name too long" for their sake.
_NAME_KEPT = 200


def refuse_current_folder(target: str | os.PathLike[str]) -> None:
    """A folder replaced whole cannot be the one we are in: moved aside and deleted, it
    would leave the shell (and this process) in a folder that no longer exists."""
    try:
        inside = Path.cwd().resolve().is_relative_to(Path(target).resolve())
    except (OSError, RuntimeError):  # no current folder, or a loop of links: not inside
        return
    if inside:
        raise OSError(errno.EBUSY, "is the current folder or holds it; not replaced (run "
                      "from outside it, or write to another folder)", str(target))  # fmt: skip


def _named(target: str | os.PathLike[str]) -> Path:
    """``target`` with a last component of its own: ``.``, ``..`` and ``dir/..`` have none to
    put a temporary or ``.old`` name beside (``-m .`` failed with a ValueError traceback)."""
    path = Path(target)
    # Resolved through links as the system resolves them: by text, "link/../out" named
    # another folder than the one a read of the same path opens.
    if path.name in ("", ".", ".."):
        path = _real(path)
    elif ".." in path.parts:  # the last component itself stays (a link is replaced as one)
        path = _real(path.parent) / path.name
    if not path.name:
        raise OSError(errno.EINVAL, "has no name of its own; not written", str(target))
    return path


def _real(path: Path) -> Path:
    """``path`` through its links where it exists; by text where it does not (a dangling
    link's target, a folder not made yet), rather than invent folders under a link's
    target that no read of the path would reach."""
    try:
        return Path(os.path.realpath(path, strict=True))
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def _old_name(target: Path) -> Path:
    """Where :func:`atomic_dir` moves the old folder aside: ``.<name>.old``, the name cut as
    for temporaries so that a long legal name still has one."""
    return target.with_name(f".{target.name[:_NAME_KEPT]}.old")


def _temporary_name(target: Path, suffix: str = "") -> Path:
    """``.<name>.<pid>-<random>.tmp`` beside ``target``: hidden, and unique without a lookup
    (64 random bits), so it can be named before it exists."""
    name = target.name[:_NAME_KEPT]
    return target.with_name(f".{name}.{os.getpid()}-{os.urandom(8).hex()}{suffix}.tmp")


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as fh:
        try:
            os.fsync(fh.fileno())
            return
        except OSError as exc:
            if exc.errno != errno.EBADF:
                raise
    # Windows flushes only a handle open for writing (its fsync is _commit, FlushFileBuffers
    # needs write access): a read-only one failed every output with "Bad file descriptor".
    with open(path, "r+b") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def read_lines(path: Path, what: str, error: type[Exception]) -> list[str]:
    """The lines of a user's text file; a missing or unreadable one raises ``error`` naming it.
    Only UTF-8 is read, as corpora, word lists and LMs are: text that is not is refused in one
    line (it was the codec's message), naming UTF-16, which Windows editors write."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{path}: {what} not found") from None
    except OSError as exc:  # not "{what}: [Errno 13] Permission denied: 'PATH'", the path twice
        raise error(cannot_read(path, what, exc)) from None
    try:
        # utf-8-sig: an editor's byte-order mark turned a first-line "# comment" into a
        # command or hotword
        return data.decode("utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        start = exc.start + (3 if data.startswith(codecs.BOM_UTF8) else 0)
        raise error(f"{path}: {what} is not UTF-8 text (byte {start}: {exc.reason})"
                    f"{utf16_hint(data)}") from None  # fmt: skip


def files_under(folder: Path, *, hidden: bool = True) -> tuple[list[Path], list[str]]:
    """The files below ``folder`` (links to folders not followed) and a one-line error per
    folder that could not be listed: ``Path.rglob`` skips those without a word, so a folder the
    user may not read looked empty, or gave part of its files as if they were all. ``hidden``
    False leaves out names starting with "." and what is below them, as a glob does."""
    unlisted: list[str] = []
    found: list[Path] = []

    def refused(exc: OSError) -> None:
        unlisted.append(f"{exc.filename}: cannot list folder ({exc.strerror or exc})")

    for root, dirs, names in os.walk(folder, onerror=refused):
        if not hidden:
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            names = [n for n in names if not n.startswith(".")]
        found += [Path(root, name) for name in names]
    return sorted(found), sorted(unlisted)


def utf16_hint(head: bytes) -> str:
    """What to say of text that starts with a UTF-16 byte-order mark ("Unicode" in Windows
    editors), else ""."""
    if head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return "; it starts with a UTF-16 byte-order mark: save it as UTF-8"
    return ""


def check_field_types(config: Any, what: str) -> None:
    """Name a setting of the wrong type (a TOML ``"32"`` where a number belongs, a number
    where a list belongs) with a one-line error, before it fails deep inside training or a
    comparison with a traceback. Nested configs and free-form values are left to their own
    checks."""
    from ctcasr.errors import ConfigError

    cls: type = type(config)
    hints = _type_hints(cls)
    for f in fields(config):
        value = getattr(config, f.name)
        expected = hints.get(f.name)
        if expected is not None and not _matches(value, expected):
            raise ConfigError(f"{what} setting {f.name} must be {_describe(expected)}, "
                              f"got {value!r}")  # fmt: skip


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """A config class's resolved annotations, once per class (every bundle load builds
    configs, and resolving string annotations is not free)."""
    import typing

    return typing.get_type_hints(cls)


def _matches(value: Any, kind: Any) -> bool:
    import numbers
    import types
    import typing

    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is typing.Literal:
        return value in args
    if kind is type(None):
        return value is None
    # numbers' ABCs, so that numpy scalars from Python callers pass as the numbers they are.
    boolean = isinstance(value, bool) or type(value).__name__ == "bool_"
    if kind is bool:
        return boolean
    if kind is int:
        return isinstance(value, numbers.Integral) and not boolean
    if kind is float:
        return isinstance(value, numbers.Real) and not boolean
    if kind is str:
        return isinstance(value, str)
    if origin in (list, tuple):
        return isinstance(value, list | tuple) and all(
            _matches(v, args[0]) for v in value) if args else isinstance(value, list | tuple)
    if origin is dict or kind is dict:
        return isinstance(value, dict)
    return True


def _describe(kind: Any) -> str:
    import types
    import typing

    origin = typing.get_origin(kind)
    args = typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is typing.Literal:
        return "one of " + ", ".join(map(repr, args))
    if origin in (list, tuple):
        plural = {str: "strings", int: "integers", float: "numbers"}
        return f"a list of {plural.get(args[0], _describe(args[0]))}" if args else "a list"
    names = {type(None): "none", bool: "true or false", int: "an integer", float: "a number",
             str: "a string", dict: "a table"}  # fmt: skip
    return names.get(kind, getattr(kind, "__name__", str(kind)))


def plain(value: Any) -> Any:
    """``value`` with numpy numbers (which configs accept from Python) as Python ones, for
    JSON: ``json.dumps`` refuses an ``int64``, and a run that took one crashed on resume."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(plain(v) for v in value)
    item = getattr(value, "item", None)
    if callable(item) and type(value).__module__ == "numpy":
        return item()
    return value


def config_from_dict(cls: type[T], data: dict[str, Any], what: str) -> T:
    """Build a config dataclass, naming unknown keys instead of failing with a TypeError."""
    from ctcasr.errors import ConfigError

    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - known
    if unknown:
        raise ConfigError(f"unknown {what} settings: {', '.join(sorted(unknown))}")
    return cls(**data)


class SharedSetting:
    """A process-wide setting that overlapping users (threads) share: ``apply`` when the first
    enters, ``restore`` with what it returned when the last leaves. Each user restoring what it
    found, the first to leave undid the setting under the other, and the last put the
    temporary value back for good."""

    def __init__(self, apply: Callable[[], Any], restore: Callable[[Any], None]) -> None:
        self._apply, self._restore = apply, restore
        self._lock = threading.Lock()
        self._depth = 0
        self._saved: Any = None

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        with self._lock:
            if self._depth == 0:
                self._saved = self._apply()
            self._depth += 1
        try:
            yield
        finally:
            with self._lock:
                self._depth -= 1
                if self._depth == 0:
                    self._restore(self._saved)


_fd2_state = {"enabled": False}


def mute_native_stderr() -> None:
    """Let :func:`quiet_native_stderr` mute file descriptor 2: for a process that owns its
    stderr (the command line, a recipe, a worker process). Off in a library: the descriptor
    is the whole process's, and while it was muted every other thread's stderr (a web
    service's log lines and tracebacks) went to /dev/null with it."""
    _fd2_state["enabled"] = True


def _mute_fd2() -> int:
    import sys

    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    return saved


def _unmute_fd2(saved: int) -> None:
    os.dup2(saved, 2)
    os.close(saved)


_FD2 = SharedSetting(_mute_fd2, _unmute_fd2)


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence file descriptor 2 while native code that prints its own diagnostics runs
    (libmpg123 probing a non-MP3 file, TensorFlow's start-up); Python exceptions still rise.

    Re-entrant and thread-safe: reader threads overlap, and the descriptor is restored only
    when the last of them leaves. Only once :func:`mute_native_stderr` is called (the command
    line does); ``CTCASR_NATIVE_STDERR=1`` keeps it open for debugging.
    """
    import sys

    # `2>&-` (sys.stderr None, descriptor 2 closed): nothing to mute. The flush and the dup
    # raised there, so `ctcasr train 2>&-` and a long file's transcription failed.
    if os.environ.get("CTCASR_NATIVE_STDERR") or not _fd2_state["enabled"] or sys.stderr is None:
        yield
        return
    with _FD2.held():
        yield


@contextlib.contextmanager
def callers_random_state() -> Iterator[None]:
    """Keep the caller's Python and NumPy global random state: importing TensorFlow and
    building a Keras model draw from Python's ``random``, and training seeds both
    (``keras.utils.set_random_seed``), so a host's seeded ``random`` draws came out other
    numbers once a model had loaded, and the same numbers after every training run."""
    import random

    import numpy as np

    state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(state[0])
        np.random.set_state(state[1])


def import_tensorflow():
    """Import TensorFlow quietly; only training, export and the Keras runtime call this.

    TensorFlow's C++ start-up chatter (oneDNN, CUDA probing) goes to file descriptor 2 before
    any Python logging is set up, so it is silenced at the descriptor for the import only, in
    a process that owns its stderr (:func:`mute_native_stderr`); a library caller's stays
    open. Set ``CTCASR_TF_VERBOSE=1`` to see it.
    """
    # Imported from two threads at once, TensorFlow broke for the process; the import draws
    # from Python's random.
    with _TF_LOCK, callers_random_state():
        return _import_tensorflow()


_TF_LOCK = threading.Lock()


def _import_tensorflow():
    import sys

    if "tensorflow" in sys.modules:  # under the lock: never a module half imported
        return sys.modules["tensorflow"]
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    if os.environ.get("CTCASR_TF_VERBOSE"):
        import tensorflow as tf

        return tf
    with quiet_native_stderr():
        import tensorflow as tf

        tf.config.list_physical_devices()  # the CUDA probe logs here; get it over with
    return tf


def counted(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless one ("1 sample", "3 samples")."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def first_few(items: Sequence[T], shown: int = 5, show: Callable[[T], str] = repr) -> str:
    """Items for a one-line message: the first few, and how many more."""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(show(item) for item in items[:shown]) + more


def first_line(exc: BaseException, limit: int = 160) -> str:
    """An error's first line, at most ``limit`` characters, for a one-line message: Keras's
    own messages run to tensor dumps over many lines, and audio libraries' to long ones."""
    lines = str(exc).strip().splitlines()
    if not lines:
        return type(exc).__name__
    line = lines[0]
    if len(line) > limit:
        return line[:limit] + " ..."
    return line + (" ..." if len(lines) > 1 else "")


def os_error_text(exc: OSError) -> str:
    """``PATH: strerror`` (both paths of a rename), as the command line reports an OSError:
    ``[Errno 28] No space left on device: 'run/x'`` says the same less plainly."""
    where = ": ".join(str(f) for f in (exc.filename, exc.filename2) if f is not None)
    return f"{where + ': ' if where else ''}{exc.strerror or exc}"


class Stopped(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where Ctrl-C raises KeyboardInterrupt, so that a run stops as
    it does on Ctrl-C: temporary copies of piped audio removed, outputs whole or absent."""

    def __init__(self, signum: int) -> None:
        import signal

        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


@contextlib.contextmanager
def stopped_by_signals() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Stopped` while the block runs. Their default ended the
    process where it stood, and left the copy of audio piped in (up to 2 GiB) in $TMPDIR and
    an output's temporary file beside it. A signal set to be ignored (``nohup``) stays so."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise Stopped(signum)

    before = {}
    for sig in (signal.SIGTERM, getattr(signal, "SIGHUP", None)):
        if sig is not None and signal.getsignal(sig) is signal.SIG_DFL:
            with contextlib.suppress(ValueError):  # not the main thread: left as it is
                before[sig] = signal.signal(sig, stop)
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


def stop_reason(exc: KeyboardInterrupt) -> tuple[str, int]:
    """What stopped a run, as its message says it ("interrupted", "stopped by SIGTERM"), and
    the exit status a shell expects of it (130, 128 + the signal)."""
    if isinstance(exc, Stopped):
        return f"stopped by {exc.name}", 128 + exc.signum
    return "interrupted", 130
