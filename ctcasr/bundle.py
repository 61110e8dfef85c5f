"""Model bundles: one directory holding everything needed to transcribe.

    bundle.json          format version, the ctcasr version that last wrote it, front-end, model
                         and decoder settings, training summary
    alphabet.txt         the output symbols (blank implicit, last)
    model.weights.h5     Keras weights
    model.onnx           the same model for onnxruntime (``ctcasr export``); a bundle needs
                         at least one of the two, and a Keras model is rebuilt from the graph
                         when the weights file is absent
    MODEL_CARD.md        optional, for people: what the weights are and what they were trained
                         on (:func:`derived_card` when made from bundles that had one)

:func:`load_bundle` needs nothing else, and :func:`save_bundle` writes the whole directory
under a temporary name and renames it into place, so a kill never leaves half a bundle.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import json
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ctcasr.errors import BundleError, CtcasrError
from ctcasr.features import FrontendConfig
from ctcasr.model import ModelConfig, weight_count
from ctcasr.text import Alphabet
from ctcasr.utils import (
    LOCK_NAME,
    atomic_dir,
    callers_random_state,
    check_writable,
    copy_tree,
    file_name,
    first_line,
    recover_dir,
    refuse_current_folder,
)

BUNDLE_FORMAT = "ctcasr-bundle"
BUNDLE_VERSION = 1
CONFIG_FILE = "bundle.json"
# bundle.json's record of the ctcasr version that last wrote it (older versions ignore it).
WRITER_KEY = "ctcasr_version"
ALPHABET_FILE = "alphabet.txt"
WEIGHTS_FILE = "model.weights.h5"
ONNX_FILE = "model.onnx"
CARD_FILE = "MODEL_CARD.md"
# A bundle's own files: no copied option file (an LM, a word list) may take these names.
OWN_FILES = frozenset({CONFIG_FILE, ALPHABET_FILE, WEIGHTS_FILE, ONNX_FILE, CARD_FILE})
# Opens the section of a model card that the last `ctcasr tune` wrote; each tune replaces it.
TUNED_MARK = "<!-- ctcasr tune: the section below is rewritten by each tune -->"
PRETRAINED_DIR = Path(__file__).parent / "pretrained"
DEFAULT_MODEL = "default"


@dataclass
class Bundle:
    path: Path
    frontend: FrontendConfig
    model_config: ModelConfig
    alphabet: Alphabet
    decoder: dict[str, Any] = field(default_factory=lambda: {"name": "greedy"})
    metadata: dict[str, Any] = field(default_factory=dict)
    # The ctcasr that last wrote bundle.json (``ctcasr_version``); None in bundles from before
    # it was recorded. For whoever debugs a bundle someone else made.
    written_by: str | None = None
    _keras_model: Any = field(default=None, repr=False, compare=False)

    @property
    def weights_path(self) -> Path:
        return self.path / WEIGHTS_FILE

    @property
    def onnx_path(self) -> Path | None:
        """The exported ONNX graph, if the bundle has one."""
        path = self.path / ONNX_FILE
        return path if path.is_file() else None

    def keras_model(self):  # -> keras.Model
        """The Keras model with the bundle's weights (imports TensorFlow on first call)."""
        if self._keras_model is None:
            from ctcasr.model import build_model

            # Keras weights when there are any; else the ONNX graph's, when there is one
            onnx_path = None if self.weights_path.is_file() else self.onnx_path
            self._check_size(onnx_path or self.weights_path)
            with callers_random_state():  # initialisers draw from Python's random
                model = build_model(self.model_config)
            if onnx_path is not None:
                from ctcasr.export import load_onnx_weights

                load_onnx_weights(model, onnx_path, self.model_config)
                self._keras_model = model
                return model
            try:
                model.load_weights(str(self.weights_path))
            except Exception as exc:
                raise BundleError(
                    f"{self.weights_path}: cannot load weights ({first_line(exc)})"
                ) from None
            # Keras loads the layers it has and skips the rest without a word: weights with a
            # GRU layer more than bundle.json says ran as a different, wrong model.
            stored = _weight_arrays(self.weights_path)
            if stored != len(model.weights):
                raise BundleError(
                    f"{self.weights_path}: holds {stored} weight arrays but the model in "
                    f"{CONFIG_FILE} has {len(model.weights)}; the two are not one model"
                )
            self._keras_model = model
        return self._keras_model

    def _check_size(self, weights: Path) -> None:
        """Refuse settings far bigger than ``weights`` can hold: building the model first
        (rnn_units 10**6 in a hostile bundle.json) hung or ran out of memory."""
        try:
            room = weights.stat().st_size // 4  # float32 numbers
        except OSError:
            return  # the load itself names the file's problem
        config = self.model_config
        implied = weight_count(config)
        if implied <= 8 * room + 1_000_000:  # generous: a quantised graph, headers
            return
        name = max(_SIZE_FIELDS, key=lambda key: implied - weight_count(
            dataclasses.replace(config, **{key: 1})))  # fmt: skip
        raise BundleError(
            f"{self.path / CONFIG_FILE}: model.{name} {getattr(config, name)} makes "
            f"{implied:,} weights but {weights.name} holds at most about {room:,}"
        )


_SIZE_FIELDS = ("num_features", "num_classes", "conv_filters", "conv_kernel", "rnn_units",
                "rnn_layers")  # fmt: skip


def _weight_arrays(path: Path) -> int:
    import h5py

    found: list[str] = []
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, obj: found.append(name)
                          if isinstance(obj, h5py.Dataset) else None)  # fmt: skip
    return len(found)


def resolve_bundle_path(path: str | os.PathLike[str] | None) -> Path:
    """``None`` or a bare name picks a bundle shipped in the package; anything else is a path."""
    if path is None:
        return PRETRAINED_DIR / DEFAULT_MODEL
    candidate = file_name(path, "model bundle", BundleError)
    if not candidate.exists() and (PRETRAINED_DIR / str(path)).is_dir():
        return PRETRAINED_DIR / str(path)
    return candidate


_JSON_KIND = {int: "integer", dict: "object", str: "string"}
# A real bundle.json is a few KB; a bigger one is refused unread (it was read whole into memory).
MAX_CONFIG_BYTES = 4 << 20


def _config_text(config_path: Path) -> str:
    size = config_path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise BundleError(f"{config_path}: {size:,} bytes, more than a bundle config has "
                          f"(at most {MAX_CONFIG_BYTES:,})")  # fmt: skip
    # utf-8-sig: a bundle.json edited in an editor that adds a byte-order mark (Notepad) was
    # refused as "Unexpected UTF-8 BOM"; its alphabet.txt, LM and word lists are read so.
    return config_path.read_text(encoding="utf-8-sig")


def _check_version(config_path: Path, config: dict[str, Any]) -> None:
    """Refuse a layout version this code does not know, saying what to do: a bundle written
    by a newer ctcasr was refused only as "newer than this ctcasr supports", naming neither
    the version read nor how to read it. A config without one is version 1 (the first)."""
    from ctcasr import __version__

    version = config.get("version", 1)
    if version < 1:
        raise BundleError(f"{config_path}: version must be 1 or more, got {version}")
    if version > BUNDLE_VERSION:
        writer = config.get(WRITER_KEY)
        by = f" (written by ctcasr {writer})" if isinstance(writer, str) else ""
        raise BundleError(f"{config_path}: bundle format version {version}{by} is newer than "
                          f"this ctcasr {__version__} reads (version {BUNDLE_VERSION}); upgrade "
                          "ctcasr to load it")  # fmt: skip


def _not_a_folder(path: Path) -> str:
    """Why ``path``, which is no folder, is no bundle: a zipped bundle or its bundle.json
    was refused as "model bundle not found", though it was there."""
    if not path.exists():
        return "model bundle not found (expected a directory)"
    import zipfile

    if path.name == CONFIG_FILE:
        return f"is a bundle's config file; the bundle is its folder, {path.parent}"
    with contextlib.suppress(OSError):
        if zipfile.is_zipfile(path):
            return "is a zip file, not a model bundle's folder; unzip it and give the folder"
    return "is a file, not a model bundle's folder"


def load_bundle(path: str | os.PathLike[str] | None = None) -> Bundle:
    path = resolve_bundle_path(path)
    recover_dir(path)
    if not path.is_dir():
        raise BundleError(f"{path}: {_not_a_folder(path)}")
    config_path = path / CONFIG_FILE
    try:
        config = json.loads(_config_text(config_path))
    except FileNotFoundError:
        # A training run's folder holds its bundle in model/: say so, not only "missing".
        run = f"; a training run's folder? its bundle is {path / 'model'}" if (
            path / "model" / CONFIG_FILE).is_file() else ""  # fmt: skip
        raise BundleError(f"{path}: not a model bundle ({CONFIG_FILE} missing){run}") from None
    except (OSError, ValueError) as exc:
        raise BundleError(f"{config_path}: unreadable bundle config ({exc})") from None
    except RecursionError:  # [[[[... a few thousand deep: a traceback from the json module
        raise BundleError(f"{config_path}: unreadable bundle config (nested too deeply)") from None
    if not isinstance(config, dict) or config.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{config_path}: not a ctcasr bundle config")
    # The version first: a newer layout may shape any section differently, and was refused
    # as that ("decoder setting 'x' must be a JSON object") rather than as newer.
    for key, kind in (("version", int), ("frontend", dict), ("model", dict),
                      ("decoder", dict), ("metadata", dict), (WRITER_KEY, str)):  # fmt: skip
        value = config.get(key)
        # null too: "version": null was a TypeError, "metadata": null broke tune later
        if key in config and (not isinstance(value, kind) or isinstance(value, bool)):
            raise BundleError(f"{config_path}: {key} must be a JSON {_JSON_KIND[kind]}, "
                              f"got {json.dumps(value)[:40]}")  # fmt: skip
        if key == "version":
            _check_version(config_path, config)
    for key, value in (config.get("decoder") or {}).items():
        if not isinstance(value, str if key == "name" else dict):
            raise BundleError(f"{config_path}: decoder setting {key!r} must be a JSON "
                              f"{'string' if key == 'name' else 'object'}, got "
                              f"{json.dumps(value)[:40]}")  # fmt: skip
    try:
        frontend = FrontendConfig.from_dict(config["frontend"])
        model_config = ModelConfig.from_dict(config["model"])
        alphabet = Alphabet.from_file(path / ALPHABET_FILE)
    except KeyError as exc:
        raise BundleError(f"{config_path}: missing section {exc}") from None
    except (CtcasrError, TypeError) as exc:
        # An alphabet error already names its file inside the bundle: not the bundle twice.
        # (Its file, not the bundle's name: "model: model setting ..." is a bundle "model".)
        said = str(exc)
        named = said.startswith(f"{path / ALPHABET_FILE}")
        raise BundleError(said if named else f"{path}: {said}") from None
    if alphabet.num_classes != model_config.num_classes:
        raise BundleError(
            f"{path}: alphabet has {len(alphabet)} symbols + blank = {alphabet.num_classes} "
            f"classes but the model outputs {model_config.num_classes}"
        )
    if frontend.num_features != model_config.num_features:
        raise BundleError(
            f"{path}: front end makes {frontend.num_features} features "
            f"but the model expects {model_config.num_features}"
        )
    if not (path / WEIGHTS_FILE).is_file() and not (path / ONNX_FILE).is_file():
        raise BundleError(f"{path}: weights missing (neither {WEIGHTS_FILE} nor {ONNX_FILE})")
    return Bundle(
        path=path,
        frontend=frontend,
        model_config=model_config,
        alphabet=alphabet,
        decoder=dict(config.get("decoder") or {"name": "greedy"}),
        metadata=dict(config.get("metadata") or {}),
        written_by=config.get(WRITER_KEY),
    )


def refuse_link_loop(target: Path, error: type[Exception] = BundleError) -> None:
    """``error`` when ``target`` is a loop of symbolic links: `tune -o LOOP` and `average -o
    LOOP` ended, after all their work, in a RuntimeError traceback ("Symlink loop"), and
    `train -o LOOP` in "File exists"."""
    try:
        target.resolve()
    except RuntimeError:  # before Python 3.13
        pass
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            return
    else:
        return
    raise error(f"{target}: a loop of symbolic links; choose another output folder")


def refuse_bundled_models(target: Path) -> None:
    """Nothing is written inside the installed package's bundled models: `tune -o` or
    `average -o` naming the bundled model's folder replaced it (its card, LM and graph) for
    every later run, `train -o` and `export` wrote into it; `tune` in place was refused."""
    with contextlib.suppress(OSError, RuntimeError):
        if target.resolve().is_relative_to(PRETRAINED_DIR.resolve()):
            raise BundleError(f"{target}: inside the installed package's bundled models "
                              f"({PRETRAINED_DIR}); not written there (choose a folder outside "
                              "it)")  # fmt: skip


def check_replaceable(target: str | os.PathLike[str]) -> Path:
    """A bundle is written by replacing its folder whole: refuse a folder that holds anything
    but a bundle, or a file, rather than delete what the user keeps there."""
    target = Path(target)
    refuse_link_loop(target)
    if target.exists() and not target.is_dir():
        raise BundleError(f"{target}: exists and is not a folder; not replaced by a bundle")
    refuse_bundled_models(target)
    try:
        refuse_current_folder(target)
    except OSError as exc:
        raise BundleError(f"{target}: {exc.strerror}") from None
    if target.is_dir() and not (target / CONFIG_FILE).is_file() and any(target.iterdir()):
        raise BundleError(
            f"{target}: holds files that are not a model bundle; not replaced (write the "
            "bundle to a new or empty folder)"
        )
    check_writable(target, BundleError, replaced=True)  # before a tune's search
    return target


def _copy_name(decoder: str, key: str, file: Path, settings: dict[str, Any]) -> str:
    """The name a copied option file gets inside the bundle: ``lm.arpa`` as before, unless
    that would overwrite one of the bundle's own files or a file another decoder's settings
    name (an LM stored for beam replaced kenlm's); then ``beam.lm.arpa``."""
    suffix = "".join(file.suffixes) or ".txt"
    taken = set(OWN_FILES)
    for other, options in settings.items():
        if other != decoder and isinstance(options, dict):
            taken |= {v for v in options.values() if isinstance(v, str)}
    plain = f"{key}{suffix}"
    return plain if plain not in taken else f"{decoder}.{key}{suffix}"


def _stale_files(before: Any, path_options: Sequence[str], settings: dict[str, Any]) -> set[str]:
    """Files a decoder's previous settings named inside the bundle that no decoder's settings
    name any more: a re-tune left the old ``lm.arpa`` beside a new ``lm.bin``, and the word
    list of a replaced LM. Only top-level names go, and none that any setting still ends in
    (another decoder's ``./lm.arpa`` or absolute path into the bundle included)."""
    if not isinstance(before, dict):
        return set()
    values = [v for options in settings.values() if isinstance(options, dict)
              for value in options.values()
              for v in (value if isinstance(value, list) else [value])]  # fmt: skip
    named = {Path(v).name for v in values if isinstance(v, str)}
    own = OWN_FILES
    old = (before.get(key) for key in path_options)
    return {v for v in old if isinstance(v, str) and v == Path(v).name and not v.startswith(".")
            and v not in named and v not in own}  # fmt: skip


def lies_inside(folder: Path, path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` (relative ones taken from ``folder``), links followed, is in
    ``folder``: a bundle's stored decoder file outside it was edited in or made elsewhere."""
    try:
        return (folder / path).resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError, ValueError):  # a link loop; a NUL in a hand-edited name
        return False


def _bundle_files(folder: Path) -> list[Path]:
    """A bundle's own files, without the hidden temporaries a killed writer may leave."""
    return [p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")]


def _not_temporaries(folder: str, names: list[str]) -> set[str]:
    """For ``copy_tree``: leave out what a killed writer left (``.NAME.PID-HEX.tmp``
    files, a ``.NAME.old`` folder), a running export's lock, links that lead nowhere, and
    links back into a folder on the way (followed, one failed the copy with a bare
    ``OSError`` once the path grew too long); keep everything else a user put in the bundle."""
    # Every real folder on the way here: a link to one of them, or to a folder above one,
    # leads back into the walk (sibling folders linking to each other copied endlessly).
    walked = set()
    for step in (Path(folder), *Path(folder).parents):
        with contextlib.suppress(OSError, RuntimeError):
            walked.add(step.resolve())

    def loop(name: str) -> bool:
        link = Path(folder) / name
        if not link.is_symlink():
            return False
        try:
            if not link.exists():  # dangling, or a loop of links
                return True
            target = link.resolve()
        except (OSError, RuntimeError):
            return True
        return any(real.is_relative_to(target) for real in walked)

    # LOCK_NAME: a lock another process (an export) holds in the folder copied, with its pid
    return {n for n in names
            if (n.startswith(".") and n.endswith((".tmp", ".old"))) or n == LOCK_NAME or loop(n)}


def _owner_writable(folder: Path) -> None:
    """Give the owner write permission on everything copied into ``folder``: a copy keeps its
    source's mode, so a bundle copied from a read-only install (a Nix store, a vendored tree
    made read-only) could not be written further (``tune -o`` failed on its bundle.json)."""
    for path in (folder, *folder.rglob("*")):
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and not mode & stat.S_IWUSR:
            path.chmod(mode | stat.S_IWUSR)


def _not_copied_into(output: Path) -> Callable[[str, list[str]], set[str]]:
    """For ``copy_tree`` into ``output``: no temporaries or loops, and not the output
    itself when it is written inside the folder copied (an average or a tune into a/soup
    held the previous a/soup, one level deeper each time)."""
    target = output.resolve()

    def ignore(folder: str, names: list[str]) -> set[str]:
        skip = _not_temporaries(folder, names)
        return skip | {n for n in names if n not in skip and (Path(folder) / n).resolve() == target}

    return ignore


def save_bundle(
    path: str | os.PathLike[str],
    keras_model: Any,
    frontend: FrontendConfig,
    model_config: ModelConfig,
    alphabet: Alphabet,
    *,
    decoder: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
    extra_files: Mapping[str, str | os.PathLike[str]] | None = None,
    card: str | None = None,
) -> Path:
    """Write a complete bundle atomically; ``extra_files`` maps names in the bundle to sources
    (files, or folders copied whole), ``card`` is its ``MODEL_CARD.md`` text."""
    import shutil

    path = Path(path)
    if alphabet.num_classes != model_config.num_classes:
        raise BundleError(
            f"alphabet ({alphabet.num_classes} classes with blank) does not match the model "
            f"({model_config.num_classes} outputs)"
        )
    config = _with_writer({
        "format": BUNDLE_FORMAT,
        "version": BUNDLE_VERSION,
        "frontend": frontend.to_dict(),
        "model": model_config.to_dict(),
        "decoder": decoder or {"name": "greedy"},
        "metadata": metadata or {},
    })
    check_replaceable(path)
    with atomic_dir(path) as tmp:
        _reserve(tmp / WEIGHTS_FILE, _weights_file_size(keras_model))
        keras_model.save_weights(str(tmp / WEIGHTS_FILE))
        (tmp / ALPHABET_FILE).write_text(alphabet.to_text(), encoding="utf-8")
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        if card is not None:
            (tmp / CARD_FILE).write_text(card, encoding="utf-8")
        ignore = _not_copied_into(path)
        for name, source in (extra_files or {}).items():
            if Path(source).resolve() == path.resolve():
                continue
            if Path(source).is_dir():
                copy_tree(source, tmp / name, ignore=ignore)  # links: see _not_temporaries
            else:
                shutil.copy2(source, tmp / name)
        _owner_writable(tmp)
    return path


def _with_writer(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` recording this ctcasr as its writer, beside the format version it names: a
    bundle passed on said nothing of the version that made it."""
    from ctcasr import __version__

    head: dict[str, Any] = {key: config[key] for key in ("format", "version") if key in config}
    return {**head, WRITER_KEY: __version__,
            **{key: value for key, value in config.items() if key != WRITER_KEY}}  # fmt: skip


def _weights_file_size(keras_model: Any) -> int:
    """At least the size of the ``.weights.h5`` file Keras writes for ``keras_model``: the
    arrays, and well over the ~3 kB HDF5 adds per variable."""
    import numpy as np

    data = sum(int(np.prod(v.shape)) * np.dtype(v.dtype).itemsize for v in keras_model.weights)
    return data + 8192 * len(keras_model.weights) + 65536


def _reserve(path: Path, size: int) -> None:
    """Fail unless ``size`` bytes fit at ``path``, before h5py writes there: a disk filling
    under h5py crashed the process (a segmentation fault in its close, after a page of
    "Exception ignored" tracebacks, the bundle's temporary folder left behind). A disk or
    quota without the room fails here instead, as one OSError naming the file."""
    try:
        with open(path, "wb") as handle:
            try:
                os.posix_fallocate(handle.fileno(), 0, size)
            except (AttributeError, OSError) as exc:  # not on this system or file system
                if isinstance(exc, OSError) and exc.errno not in _NO_FALLOCATE:
                    raise
                for start in range(0, size, 1 << 20):
                    handle.write(bytes(min(1 << 20, size - start)))
                handle.flush()
                os.fsync(handle.fileno())
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    finally:
        with contextlib.suppress(OSError):
            path.unlink()


# posix_fallocate's answers where the file system cannot reserve room ahead: written instead.
_NO_FALLOCATE = frozenset({errno.EINVAL, errno.EOPNOTSUPP, errno.ENOSYS})


def store_decoder_settings(
    bundle: Bundle,
    name: str,
    options: dict[str, Any],
    *,
    path_options: tuple[str, ...] = (),
    output: str | os.PathLike[str] | None = None,
    metadata: dict[str, Any] | None = None,
    make_default: bool = True,
    card_note: str | None = None,
) -> Path:
    """Make decoder ``name`` with ``options`` the bundle's default, atomically (or, without
    ``make_default``, only the settings it starts from when chosen).

    Files named by ``path_options`` (an LM, a word list) are copied into the bundle and stored
    by their names inside it, so the bundle stays self-contained and relocatable; those the
    decoder's previous settings stored and nothing names now are left out. With
    ``output`` the updated bundle is written there and the original is left alone.
    ``card_note`` (what a tune changed) replaces the tuning section of the bundle's model
    card, in the same atomic write: the card went on describing the old defaults.
    """
    import shutil

    source = Path(bundle.path)
    target = Path(output) if output is not None else source
    config = json.loads(_config_text(source / CONFIG_FILE))
    settings = dict(config.get("decoder") or {})
    stored = dict(options)
    copies: dict[str, Path] = {}
    for key in path_options:
        value = stored.get(key)
        if not isinstance(value, str | os.PathLike):
            continue
        file = Path(value)
        if not file.is_file():
            raise BundleError(f"{file}: {key} file not found")
        if file.resolve().parent == source.resolve():
            stored[key] = file.name
            continue
        stored[key] = _copy_name(name, key, file, settings)
        copies[stored[key]] = file
    if make_default or "name" not in settings:
        settings["name"] = name
    before = settings.get(name)
    settings[name] = stored
    stale = _stale_files(before, path_options, settings)
    config["decoder"] = settings
    config["metadata"] = {**(config.get("metadata") or {}), **(metadata or {})}
    config = _with_writer(config)
    refuse_link_loop(target)
    if target.resolve() != source.resolve():
        check_replaceable(target)
    card = read_card(source) if card_note is not None else None
    with atomic_dir(target) as tmp:
        # The whole folder, subfolders and hidden files too (only top-level files were kept,
        # so a tune in place deleted the rest).
        copy_tree(source, tmp, ignore=_not_copied_into(target), dirs_exist_ok=True)
        _owner_writable(tmp)
        for stale_name in stale:
            if (tmp / stale_name).is_file() or (tmp / stale_name).is_symlink():
                (tmp / stale_name).unlink()
        for dest, file in copies.items():
            shutil.copy2(file, tmp / dest)
        (tmp / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        if card is not None and card_note is not None:
            (tmp / CARD_FILE).write_text(_with_tuning_note(card, card_note), encoding="utf-8")
    return target


def read_card(folder: Path) -> str | None:
    """``folder``'s model card, or None when it has none. One that cannot be read is a
    BundleError naming it: a tune's note went into it as a UnicodeDecodeError traceback,
    after the whole search."""
    path = folder / CARD_FILE
    try:
        return path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: cannot read the bundle's model card ({first_line(exc)}); "
                          "mend or remove it") from None  # fmt: skip


def _with_tuning_note(card: str, note: str) -> str:
    """``card`` with its tuning section (after :data:`TUNED_MARK`) replaced by ``note``,
    added at the end the first time: re-tunes do not stack notes the next one supersedes."""
    head = card.partition(TUNED_MARK)[0].rstrip()
    return f"{head}\n\n{TUNED_MARK}\n{note.strip()}\n"


@dataclass(frozen=True)
class CardSource:
    """Where a derived bundle's weights came from: ``label`` as its card names it (Markdown),
    and the ``MODEL_CARD.md`` describing those weights (absent for most trained bundles)."""

    label: str
    card: Path

    @classmethod
    def of_bundle(cls, path: Path) -> CardSource:
        """The bundled model is named by its name and ctcasr version: its path inside an
        installed package means nothing to whoever reads the card."""
        from ctcasr import __version__

        if path.resolve().parent == PRETRAINED_DIR.resolve():
            return cls(f"`{path.name}` (the model bundled with ctcasr {__version__})",
                       path / CARD_FILE)  # fmt: skip
        return cls(f"`{path}`", path / CARD_FILE)


DERIVED_TITLE = "# Derived model"
_STEPS = "## How it was made"
# Opens each source card a derived card holds (a card of its own, not a derived one).
_SOURCE_MARK = "<!-- ctcasr: a source's card, as the bundles listed carried it -->"


def derived_card(step: str, sources: Sequence[CardSource]) -> str | None:
    """The model card of a bundle made from ``sources`` (``step``: by what, from what),
    or None when none has a card. An average or fine-tune of the bundled model lost its
    card, and with it the attribution its CC BY and CC BY-SA training data ask adaptations to
    keep. The card lists the steps that made it, newest first, then each distinct original
    card once: a derived source gives its steps and the cards it holds, not itself nested
    (each round of averaging and fine-tuning doubled the copies). A source card's tuning
    section is left out: it measured that source's weights."""
    import datetime

    today = datetime.datetime.now(datetime.timezone.utc).date().isoformat()
    steps = [f"- {today} (UTC): {step}"]
    cards: dict[str, list[str]] = {}  # a source card, headings demoted: who carried it
    for source in sources:
        text = _source_card(source.card)
        if text is None:
            continue
        head, *held = text.split(_SOURCE_MARK)
        earlier = [line for line in head.partition(_STEPS)[2].splitlines() if line.strip()]
        # Flattened only as written here: a card someone added to (the fine-tuning data's
        # terms) is kept whole, as any card of its own.
        if not held or head.strip() != _derived_head(earlier):  # its marks are no longer ours
            _carried(cards, _demoted(text.replace(_SOURCE_MARK, "")), [source.label])
            continue
        steps += earlier
        for section in held:  # "## Derived from", the bundles as "- " lines, the card
            lines = section.strip().splitlines()
            end = next((i for i in range(2, len(lines)) if not lines[i].startswith("- ")),
                       len(lines))  # fmt: skip
            _carried(cards, "\n".join(lines[end:]).strip(), [x[2:] for x in lines[2:end]])
    if not cards:
        return None
    parts = [_derived_head(list(dict.fromkeys(steps))), ""]
    for card, labels in cards.items():
        parts += [_SOURCE_MARK, "## Derived from", "", *(f"- {x}" for x in labels), "", card, ""]
    return "\n".join(parts)


def _derived_head(steps: list[str]) -> str:
    return "\n".join([DERIVED_TITLE, "", "Its weights derive from those of the bundles whose "
                      "cards follow, so what those say of their training data, its licences and "
                      "the notices they ask for holds for it too; the scores they give are of "
                      "their own weights, not these.", "", _STEPS, "", *steps])  # fmt: skip


def _source_card(path: Path) -> str | None:
    """A source's card without its tuning section; None when it has none."""
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise BundleError(f"{path}: cannot read this source's model card ({first_line(exc)}); "
                          "its notices would be lost") from None  # fmt: skip
    return text.partition(TUNED_MARK)[0].strip()


def _carried(cards: dict[str, list[str]], card: str, labels: list[str]) -> None:
    known = cards.setdefault(card, [])
    known += [x for x in labels if x not in known]


def _demoted(card: str) -> str:
    """``card`` with each Markdown heading two levels down (to at most six), so that its
    title nests under the "Derived from" heading that holds it."""
    lines, fenced = [], False
    for line in card.splitlines():
        if line.startswith(("```", "~~~")):
            fenced = not fenced
        marks = len(line) - len(line.lstrip("#"))
        if not fenced and marks > 0 and line[marks:].startswith(" "):
            line = "#" * min(6, marks + 2) + line[marks:]
        lines.append(line)
    return "\n".join(lines)


# Metadata measured on one source's weights, which no mean inherits (decoder_tuning: the
# first source's tuned dev scores were shown as the soup's)
AVERAGE_DROPS = ("epoch", "dev_wer", "dev_cer", "decoder_tuning")


def average_bundles(
    sources: Sequence[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    checkpoints: Sequence[str | os.PathLike[str]] = (),
) -> Path:
    """Write a bundle whose weights are the element-wise mean of ``sources``' weights.

    Runs fine-tuned one from another lie in one basin, and the mean of their weights (a
    "model soup", as checkpoint averaging in ESPnet or fairseq) often generalises better than
    any one of them; whether it does is for a dev set to say. The sources must share the
    architecture, front end and alphabet. The output keeps the first source's decoder
    settings, files (an LM) and metadata, less what measured the first's weights alone, with
    ``averaged_from`` added, and a model card carrying the sources' cards (:func:`derived_card`,
    when any has one); it has Keras weights only (``ctcasr export`` adds the ONNX
    graph). ``checkpoints`` are training checkpoints (``epoch-NNNN`` folders) of the first
    source's architecture, averaged in too: the best few epochs of one run. Imports TensorFlow.
    """
    import numpy as np

    if isinstance(sources, str | os.PathLike):  # read letter by letter: "/: not a model bundle"
        raise BundleError(f"average_bundles takes a list of bundles, got one path ({sources})")
    bundles = [load_bundle(s) for s in sources]
    if not bundles:
        raise BundleError("averaging needs a bundle first: it gives the architecture and settings")
    if len(bundles) + len(checkpoints) < 2:
        raise BundleError("averaging needs at least two bundles or checkpoints")
    first = bundles[0]
    check_replaceable(output)  # before the work, not after it
    card = _average_card(bundles, checkpoints, output)  # before the work: an unreadable card fails
    for other in bundles[1:]:
        for what, mine, theirs in (
            # Dropout is a training setting: it does not change the weights' shapes or meaning.
            ("model settings", first.model_config,
             dataclasses.replace(other.model_config, dropout=first.model_config.dropout)),
            ("front end", first.frontend, other.frontend),
            ("alphabet", first.alphabet.labels, other.alphabet.labels),
        ):
            if mine != theirs:
                raise BundleError(f"{other.path}: its {what} differ from {first.path}'s; only "
                                  "bundles of one architecture can be averaged")  # fmt: skip
    weights = [b.keras_model().get_weights() for b in bundles]
    weights += [_checkpoint_weights(Path(c), weights[0], first) for c in checkpoints]
    model = first.keras_model()
    _refuse_mixed_norms(model, weights, [*bundles, *map(Path, checkpoints)])
    model.set_weights([
        np.mean(np.stack(ws), axis=0).astype(ws[0].dtype)
        if np.issubdtype(ws[0].dtype, np.floating) else ws[0]
        for ws in zip(*weights, strict=True)
    ])  # fmt: skip
    own = OWN_FILES
    # Everything else the user keeps in the first bundle goes along, subfolders and hidden
    # files included (an LM in lm/ that its decoder settings name), but not temporaries.
    names = [p.name for p in first.path.iterdir()]
    skip = own | _not_temporaries(str(first.path), names)
    # A dangling link is skipped (it was before subfolders were copied), not an error.
    extra = {n: first.path / n for n in names if n not in skip and (first.path / n).exists()}
    # The first source's epoch and dev scores describe its weights, not the mean's.
    metadata = {k: v for k, v in first.metadata.items() if k not in AVERAGE_DROPS}
    metadata["averaged_from"] = [str(b.path) for b in bundles]
    if checkpoints:
        metadata["averaged_checkpoints"] = [str(c) for c in checkpoints]
    return save_bundle(output, model, first.frontend, first.model_config, first.alphabet,
                       decoder=first.decoder, metadata=metadata, extra_files=extra,
                       card=card)  # fmt: skip


def _average_card(bundles: Sequence[Bundle], checkpoints: Sequence[str | os.PathLike[str]],
                  output: str | os.PathLike[str]) -> str | None:  # fmt: skip
    """The card of a mean of ``bundles`` and ``checkpoints``: a checkpoint's weights are
    described by its run's saved model's card (RUN/checkpoints/epoch-NNNN, RUN/model)."""
    sources = [CardSource.of_bundle(b.path) for b in bundles] + [
        CardSource(f"checkpoint `{c}`", Path(c).parent.parent / "model" / CARD_FILE)
        for c in checkpoints]  # fmt: skip
    labels = ", ".join(dict.fromkeys(s.label for s in sources))
    return derived_card(f"`ctcasr average` made `{output}` as the mean of the weights of "
                        f"{labels}.", sources)  # fmt: skip


def _refuse_mixed_norms(model: Any, weights: list[list[Any]], sources: list[Any]) -> None:
    """Refuse sources whose conv batch norms differ in kind: a graph (``model.onnx`` alone)
    folds the norm into the conv, and a model fine-tuned from one keeps it folded, so those
    line up with each other but not with weights that trained a norm of their own (a graph
    beside its own Keras weights averaged into a different model). A fine-tune of the
    bundled model and the bundled model itself were refused as of two kinds."""
    from ctcasr.model import is_folded_norm

    bn = model.get_layer("conv_bn")
    ids = [id(v) for v in bn.weights]  # gamma, beta, moving mean, moving variance
    at = [next(i for i, v in enumerate(model.weights) if id(v) == x) for x in ids]
    folded = [is_folded_norm(ws[at[0]], ws[at[2]], ws[at[3]], bn.epsilon) for ws in weights]
    if all(folded) or not any(folded):
        return

    def kind(source: Any, fold: bool) -> str:
        if not fold:
            return "has weights with a batch norm of their own"
        if isinstance(source, Bundle) and not source.weights_path.is_file():
            return "has only model.onnx, whose weights have batch norm folded in"
        return "was fine-tuned from a model.onnx, whose batch norm is folded in"

    odd = folded.index(not folded[0])
    name = [str(s.path if isinstance(s, Bundle) else s) for s in sources]
    raise BundleError(f"{name[odd]}: {kind(sources[odd], folded[odd])}, and {name[0]} "
                      f"{kind(sources[0], folded[0])}: their weights do not line up; average "
                      "sources of one kind")  # fmt: skip


def _checkpoint_weights(path: Path, like: list[Any], first: Bundle) -> list[Any]:
    """A training checkpoint's weights, checked against ``like``'s shapes and, through its
    run's ``train_config.json`` and saved model, against the front end, model settings and
    alphabet they were trained with: same shapes with log-mel instead of MFCC features, another
    stride, or two letters swapped averaged into nonsense."""
    from ctcasr.train import CHECKPOINT_WEIGHTS, read_arrays, saved_alphabet

    try:
        weights = read_arrays(path / CHECKPOINT_WEIGHTS)
    except (OSError, ValueError, KeyError) as exc:
        raise BundleError(f"{path}: not a readable training checkpoint ({exc})") from None
    if [w.shape for w in weights] != [w.shape for w in like]:
        raise BundleError(f"{path}: checkpoint weights do not match the bundle's architecture")
    run = path.parent.parent
    try:
        symbols = saved_alphabet(run)  # None for a checkpoint outside its run folder
    except CtcasrError:  # the run's alphabet file unreadable: shapes are all there is
        symbols = None
    if symbols is not None and symbols != first.alphabet.labels:
        raise BundleError(f"{path}: trained with another alphabet than {first.path}'s "
                          f"({run / 'model' / ALPHABET_FILE}); its outputs do not line up")
    run_config = run / "train_config.json"
    try:
        saved = json.loads(run_config.read_text(encoding="utf-8"))
        trained_on = FrontendConfig.from_dict(saved["frontend"])
    except (OSError, ValueError, KeyError, TypeError, CtcasrError):
        return weights  # a checkpoint outside its run folder: shapes are all there is
    if trained_on != first.frontend:
        raise BundleError(f"{path}: trained on another front end than the bundle's "
                          f"({run_config}); only one architecture can be averaged")  # fmt: skip
    try:  # dropout is a training setting; the rest (a stride) changes what weights mean
        ours = first.model_config
        model = ModelConfig(**{**saved["model"], "num_features": ours.num_features,
                               "num_classes": ours.num_classes, "dropout": ours.dropout})
    except (KeyError, TypeError, CtcasrError):
        return weights
    if model != ours:
        raise BundleError(f"{path}: trained with other model settings than the bundle's "
                          f"({run_config}); only one architecture can be averaged")  # fmt: skip
    return weights
