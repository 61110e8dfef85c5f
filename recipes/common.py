"""Pieces every recipe shares: finding a corpus, downloading it, writing results."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import platform
import shlex
import shutil
import sys
import tarfile
import tempfile
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ctcasr.errors import CtcasrError
from ctcasr.utils import mute_native_stderr

if TYPE_CHECKING:
    import numpy as np

    from ctcasr.bundle import Bundle
    from ctcasr.data import AugmentConfig
    from ctcasr.evaluate import Pieces
    from ctcasr.manifest import ManifestEntry

# The 3.2 M-parameter Conv1D + 3-layer BiGRU that the AN4, Speech Commands and bundled-model
# recipes train, and the augmentation they share (noise from the corpus folder's noise/).
CONV_BIGRU_3M = dict(conv_filters=256, conv_kernel=11, conv_stride=2, rnn_units=256,
                     rnn_layers=3, dropout=0.15)  # fmt: skip
AUGMENT = dict(speed_factors=(0.9, 1.0, 1.1), noise_prob=0.3, snr_db=(10.0, 30.0))
TRAIN_3M = dict(epochs=40, batch_size=32, learning_rate=1.5e-3, patience=10, model=CONV_BIGRU_3M)
# Seconds a download may wait on the server: without a limit, a network that drops packets
# (a firewall, a dead proxy) left --download waiting forever with no message.
DOWNLOAD_TIMEOUT = 60.0


def augment_config(
    noise_dir: str | None, base: dict[str, Any] = AUGMENT, **changes: Any
) -> AugmentConfig:
    """A recipe's augmentation settings (``base`` with ``changes``, noise from ``noise_dir``;
    None: no noise) as the typed config ``TrainConfig`` holds."""
    from ctcasr.data import AugmentConfig

    return AugmentConfig.from_dict({**base, **changes, "noise_dir": noise_dir})


def whole(log_probs: np.ndarray | Pieces) -> np.ndarray:
    """One entry's output from a transcriber made with ``split=None``, which scores every
    entry whole: ``compute_log_probs`` never cuts one into :class:`Pieces` for it."""
    from ctcasr.evaluate import Pieces

    assert not isinstance(log_probs, Pieces), "a transcriber made with split=None"
    return log_probs


def run_main(
    parse_args: Callable[[list[str] | None], argparse.Namespace],
    run: Callable[[argparse.Namespace, list[str]], int],
    argv: list[str] | None = None,
) -> int:
    """A recipe's entry point: user errors and failed writes (a full disk) become one
    ``error:`` line and exit status 1; Ctrl-C, SIGTERM and SIGHUP one line saying which step
    stopped and the command that goes on from there, with exit status 130 or 128 + the
    signal, as ``ctcasr train`` does."""
    from ctcasr.utils import os_error_text, stop_reason, stopped_by_signals

    if argv is None:  # run as a command, which owns its stderr (not called from a test)
        mute_native_stderr()  # TensorFlow's start-up and libmpg123's probing notes, as ctcasr
    args = parse_args(argv)
    given = list(argv if argv is not None else sys.argv[1:])
    global _progress, _holds
    _progress = _Progress()  # a fresh record per run (a test calls main twice)
    try:
        with stopped_by_signals(), contextlib.ExitStack() as _holds:
            return run(args, given)
    except CtcasrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a full disk, a read-only --out: they were a traceback
        print(f"error: {os_error_text(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        how, status = stop_reason(exc)
        module = _module_name(run)
        print(_progress.interrupted(how, module, given, getattr(args, "resume", None)),
              file=sys.stderr)  # fmt: skip
        return status


def _module_name(run: Callable[..., object]) -> str:
    """The ``python -m`` name that runs ``run``: a recipe run as ``python -m recipes.fsdd``
    has its ``run`` in a module named ``__main__``, and the command said ``python -m
    __main__``; that module's spec keeps the real name."""
    module = run.__module__
    if module == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        module = spec.name if spec is not None else module
    return module.removesuffix(".__main__")


TRAINING = "training"


@dataclass
class _Progress:
    """Where a recipe is, for the message an interrupted run ends with."""

    step: str | None = None
    train_dir: Path | None = None
    trained: bool = False  # the training step returned: a resume goes straight past it

    def interrupted(self, how: str, module: str, argv: list[str], resume: bool | None) -> str:
        from ctcasr.train import CHECKPOINTS, LATEST, interrupted_message

        doing = f"{how} while {self.step}" if self.step else how
        saved = self.train_dir is not None and (self.train_dir / CHECKPOINTS / LATEST).is_file()
        words = [*argv, "--resume"] if saved and resume is False else argv
        command = " ".join(["python", "-m", module, *map(shlex.quote, words)])
        if self.train_dir is None:
            return f"{doing}; to start again: {command}"
        if self.trained and saved:
            return (f"{doing}: training is done (its model: {self.train_dir / 'model'}); to go "
                    f"on without training again: {command}")  # fmt: skip
        if saved or self.step == TRAINING:
            return interrupted_message(self.train_dir, doing, command)
        return f"{doing}, before training began; to start again: {command}"


_progress = _Progress()


def step(name: str, train_dir: str | os.PathLike[str] | None = None) -> None:
    """Say which step of a recipe runs now ("training", "tuning the decoder") and, once known,
    the run's training folder: an interrupted recipe then says where it stopped, what it kept
    and the command that goes on (with ``--resume`` once a checkpoint is saved)."""
    if _progress.step == TRAINING and name != TRAINING:
        _progress.trained = True
    _progress.step = name
    if train_dir is not None:
        _progress.train_dir = Path(train_dir)


# The folder locks a recipe holds, released when run_main returns.
_holds = contextlib.ExitStack()


def hold(*folders: str | os.PathLike[str], strategy: str = "default") -> None:
    """Lock a recipe's output folders for the rest of its run, as ``ctcasr train`` locks its
    own: a second run into the same --out rewrote the first one's manifests before its
    training was refused. train() takes its folder's lock again, which a holder may. Under
    ``multiworker`` every machine runs the recipe into one shared --out, so none holds it
    (train() still locks the training folder on the chief)."""
    from ctcasr.utils import folder_lock

    if strategy == "multiworker":
        return

    def busy(folder: Path, pid: int | None) -> str:
        holder = f" (pid {pid})" if pid is not None else ""
        return (f"{folder}: another run{holder} is writing to this folder; wait for it to "
                "end or choose another output directory")  # fmt: skip

    for folder in map(Path, folders):
        _holds.enter_context(folder_lock(folder, functools.partial(busy, folder)))


def find_corpus(
    data: str | os.PathLike[str] | None, name: str, url: str, can_download: bool = True
) -> Path:
    """The corpus folder from ``--data``, else ``$CTCASR_DATA/<name>``; explain where to get it
    (``--download`` only for the recipes that have it)."""
    if data is None and os.environ.get("CTCASR_DATA"):
        data = Path(os.environ["CTCASR_DATA"]) / name
    if data is None:
        raise CtcasrError(f"no {name} corpus given: pass --data DIR (download: {url})")
    path = Path(data)
    if not path.is_dir():
        also = ", or use --download" if can_download else ""
        raise CtcasrError(f"{path}: {name} corpus not found (download: {url}{also})")
    return path


def download_tarball(url: str, dest: Path, strip_top: bool = True) -> Path:
    """Fetch and unpack an archive into ``dest`` (for users with internet access). A ``dest``
    that already holds files is left alone: a second run downloaded again and nested the
    corpus one level deeper (and the third crashed)."""
    if dest.is_dir() and any(dest.iterdir()):
        print(f"{dest}: not empty, taken as the corpus already downloaded")
        return dest
    try:  # a --data that is a file or cannot be made was a FileExistsError traceback
        dest.mkdir(parents=True, exist_ok=True)
        tmp_dir = tempfile.TemporaryDirectory(dir=dest.parent)
    except OSError as exc:
        raise CtcasrError(f"{dest}: cannot download into it ({exc.strerror or exc})") from None
    with tmp_dir as tmp:
        archive = Path(tmp) / "corpus.tar.gz"
        print(f"downloading {url}")
        try:
            with (
                urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT) as response,
                open(archive, "wb") as fh,
            ):
                shutil.copyfileobj(response, fh)
            unpack = Path(tmp) / "unpacked"
            with tarfile.open(archive) as tar:
                tar.extractall(unpack, filter="data")
        except (OSError, tarfile.TarError) as exc:  # URLError is an OSError: no network
            raise CtcasrError(f"cannot download {url} ({getattr(exc, 'reason', exc)})") from None
        tops = list(unpack.iterdir())
        root = tops[0] if strip_top and len(tops) == 1 and tops[0].is_dir() else unpack
        for item in root.iterdir():
            shutil.move(str(item), dest / item.name)
    return dest


def audio_duration(path: Path) -> float:
    """A recording's length from its header, or one line naming it (an unreadable file was
    a libsndfile traceback in the AN4 and FSDD recipes)."""
    import soundfile as sf

    try:
        return round(sf.info(str(path)).duration, 4)
    except Exception as exc:  # soundfile raises RuntimeError / LibsndfileError subclasses
        raise CtcasrError(f"{path}: cannot read audio: {exc}") from None


def one_per_recording(paths: list[Path]) -> list[Path]:
    """A recording kept both as FLAC and in its original format (a user's converted copy)
    was listed twice; the FLAC is kept, as the AN4 recipe does."""
    flac = {p.with_suffix("") for p in paths if p.suffix.lower() == ".flac"}
    return [p for p in paths if p.suffix.lower() == ".flac" or p.with_suffix("") not in flac]


def check_outputs(out: str | os.PathLike[str], results: str | os.PathLike[str] | None) -> None:
    """Refuse an unusable work folder or results page before any work: they failed after
    the whole training run, and its report was lost."""
    folders = [(Path(out), "--out")]
    if results is not None:
        folders.append((Path(results).parent, "--results' folder"))
    for path, what in folders:
        if path.exists() and not path.is_dir():
            raise CtcasrError(f"{path}: {what} is a file, not a folder")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CtcasrError(f"{path}: cannot make {what} ({exc.strerror or exc})") from None
    if results is not None and Path(results).is_dir():
        raise CtcasrError(f"{results}: --results names the page to write, not a folder")
    if results is not None and not _can_plot():  # an ImportError traceback after training
        raise CtcasrError("the results page's plots need matplotlib: pip install -e '.[recipes]'")


def _can_plot() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def git_commit(tree: str | os.PathLike[str] | None = None) -> str:
    """The short commit of this checkout, or of ``tree``; "?" outside one: timings mean little
    without the code they timed."""
    import subprocess

    where = Path(__file__).parent if tree is None else tree
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=where,
                              capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def hardware() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 1024**2:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} CPU cores ({cpu}){mem}, {_gpus()}"


def _gpus() -> str:
    """The GPUs TensorFlow sees (a report said "no GPU" even when training used one)."""
    try:
        from ctcasr.utils import import_tensorflow

        found = import_tensorflow().config.list_physical_devices("GPU")
    except Exception:  # no TensorFlow here: nothing trained on a GPU through it either
        return "no GPU"
    return f"{len(found)} GPU(s)" if found else "no GPU"


# The bundle metadata key in which a recipe records the dev words its training held out.
DEV_WORDS_KEY = "unseen_dev_words"


def check_unheard_entries(
    entries: Iterable[ManifestEntry], words: Iterable[str], what: str
) -> None:
    """No transcript a model trains or is tuned on may say a word held out as unseen: one
    that did would make the unseen-word scores a measure of words the model heard."""
    banned = set(words)
    for entry in entries:
        if said := sorted(banned.intersection(entry.text.lower().split())):
            raise CtcasrError(f"{entry.audio_filepath}: {what} says {', '.join(said)}, "
                              "which must stay unseen")  # fmt: skip


def bundle_metadata(bundle: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A bundle's metadata (what trained it, what it is the mean of), read without loading
    the model; None where ``bundle`` holds no bundle config."""
    import json

    from ctcasr.bundle import CONFIG_FILE

    config = Path(bundle) / CONFIG_FILE
    if not config.is_file():
        return None
    return json.loads(config.read_text(encoding="utf-8")).get("metadata") or {}


def run_config(bundle: str | os.PathLike[str]) -> dict[str, Any]:
    """The saved settings of the training run that wrote ``bundle`` (its ``init_from``, data
    mix, ...); empty for a bundle no run wrote (``ctcasr average``'s, the installed one)."""
    import json

    path = Path(bundle).parent / "train_config.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def check_never_heard(bundle: str | os.PathLike[str], words: tuple[str, ...], flag: str) -> None:
    """Refuse ``bundle`` if its training, or a stage it started from or was averaged from, may
    have heard ``words``: scores on words held out as unseen are worthless for such a model.

    A stage proves it by the ``unseen_dev_words`` its recipe records; a bundle that records
    none (an older run, the installed model) is refused, since nothing says what it heard.
    """
    if not words:
        return

    def visit(path: Path, seen: set[Path]) -> None:
        if path in seen:
            return
        seen.add(path)
        metadata = bundle_metadata(path)
        if metadata is None:
            if path == Path(bundle):
                raise CtcasrError(f"{flag} {bundle}: not a model bundle")
            raise CtcasrError(f"{flag} {bundle}: cannot tell whether it heard "
                              f"{', '.join(words)}: {path}, a stage behind it, is not a model "
                              "bundle here")  # fmt: skip
        # A soup's own record is its first source's: checked first, so that the installed
        # model, whose sources are not here, is refused for what it says it heard.
        held = set(metadata.get(DEV_WORDS_KEY) or [])
        if missing := [w for w in words if w not in held]:
            behind = "" if path == Path(bundle) else f" (through {path})"
            raise CtcasrError(f"{flag} {bundle}: trained without holding out "
                              f"{', '.join(missing)}{behind}; the unseen dev words must be "
                              "kept out of every stage behind the model")  # fmt: skip
        sources = metadata.get("averaged_from") or []
        for source in sources:  # a soup heard what any of its sources heard
            visit(Path(source), seen)
        if sources:
            return
        if init := run_config(path).get("init_from"):
            visit(Path(init), seen)

    visit(Path(bundle), set())


def check_resume_dev_words(train_dir: str | os.PathLike[str], words: tuple[str, ...]) -> None:
    """``--resume`` must hold out the same dev words as the run it continues: the epochs
    before it heard whatever that run did not hold out, while its bundle would record the new
    words as never heard (and :func:`check_never_heard` trusts that record)."""
    from ctcasr.train import CHECKPOINTS, LATEST

    train_dir = Path(train_dir)
    if not (train_dir / CHECKPOINTS / LATEST).is_file():
        return  # nothing to continue: the run starts afresh
    saved = run_config(train_dir / "model")  # train_dir/train_config.json
    held = (saved.get("metadata") or {}).get(DEV_WORDS_KEY) or []
    if sorted(held) != sorted(words):
        now = f"--dev-words {','.join(words)}" if words else "no --dev-words"
        then = f"--dev-words {','.join(held)}" if held else "no --dev-words"
        raise CtcasrError(f"{train_dir}: cannot resume with {now}: the run was started with "
                          f"{then}; resume with {then}, or train anew in another "
                          "folder")  # fmt: skip


def scoring_command(recipe: str, argv: list[str]) -> str:
    """The command that scores the bundled model on the corpus ``argv`` trained on, for a
    training page's Reproduce section: written by hand there, the next run's page lost it."""
    data = "../shared/data/" + recipe
    for i, arg in enumerate(argv):
        if arg == "--data" and i + 1 < len(argv):
            data = argv[i + 1]
        elif arg.startswith("--data="):
            data = arg.split("=", 1)[1]
    return (f"python -m recipes.{recipe} --data {shlex.quote(data)} --model default "
            f"--out exp/{recipe}-default")


def start_scoring(args: argparse.Namespace) -> Bundle:
    """A recipe's first steps with ``--model``: no training folder to hold or go on from;
    the bundle it names (a folder, or a bundled model's name such as ``default``) is loaded
    before any work, so that a wrong path is said before the data is prepared."""
    from ctcasr.bundle import load_bundle

    step("preparing the data")
    check_outputs(args.out, args.results)
    hold(args.out)
    return load_bundle(args.model)


def corpus_arg(data: str | None, download: bool, name: str, url: str) -> Path:
    """The corpus folder ``--data`` names, fetched there first with ``--download``."""
    if download:
        if not data:
            raise CtcasrError("--download needs --data DIR to download into")
        download_tarball(url, Path(data))
    return find_corpus(data, name, url)


def results_page(results: str | None, out: str | os.PathLike[str], model: str | None,
                 here: Path) -> str:
    """Where a recipe writes its report: ``--results``, else the recipe's own RESULTS.md for
    a trained model, else ``OUT/RESULTS.md`` for a ``--model`` that was only scored (the
    page beside the recipe reports what the recipe trains)."""
    if results is not None:
        return results
    return str(Path(out) / "RESULTS.md" if model is not None else here / "RESULTS.md")


def given_model_line(model: str, bundle: Bundle) -> str:
    """The results page's account of a model it scored without training it."""
    where = "" if Path(model).resolve() == bundle.path.resolve() else f" (`{bundle.path}`)"
    return (f"Model: given as `--model {model}`{where}, not trained by this run: no training "
            "time or curves here.")
