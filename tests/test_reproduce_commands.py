"""Every command a committed RESULTS or benchmark page gives to reproduce its figures must still
parse with the current code: the module or script exists and its parser takes every flag and
value as written. Nothing is run: each command goes through its parser only (a recipe's or
benchmark's ``parse_args``, the typer app's click context), with argparse's prefix matching
off, so a flag renamed to a longer spelling is not accepted as an abbreviation of it."""

from __future__ import annotations

import argparse
import ast
import contextlib
import importlib
import importlib.util
import io
import re
import shlex
import sys
from dataclasses import fields
from pathlib import Path

import pytest
from conftest import data_root

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted(
    p.relative_to(REPO).as_posix()
    for p in [
        *REPO.glob("recipes/*/RESULTS.md"),
        REPO / "recipes" / "pretrained" / "CANDIDATES.md",
        REPO / "ctcasr" / "pretrained" / "default" / "MODEL_CARD.md",
        REPO / "fuzz" / "RESULTS.md",
        *REPO.glob("benchmarks/*.md"),
    ]
)
START = re.compile(r"^(python|ctcasr|bash|git)(\s|$)")


class CommandError(Exception):
    pass


def page_commands(text: str) -> list[str]:
    """Commands in code blocks (indented or fenced), whole; and ``python -m``/``ctcasr`` in
    backticks in the prose (``python -m fuzz TARGET``, ``ctcasr average``), which name a
    module or subcommand and may be fragments."""
    text = re.sub(r"\\\n\s*", " ", text)  # continued lines
    found, fenced = [], False
    for line in text.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif (fenced or line.startswith("    ")) and START.match(line.strip()):
            found.append(line.strip())
    for span in re.findall(r"`([^`]+)`", text):
        span = " ".join(span.split())
        if span.startswith(("python -m ", "ctcasr ")):
            found.append(f"inline: {span}")
    return found


@contextlib.contextmanager
def no_abbreviations():
    init = argparse.ArgumentParser.__init__

    def strict(self, *args, **kwargs):
        kwargs["allow_abbrev"] = False
        init(self, *args, **kwargs)

    argparse.ArgumentParser.__init__ = strict
    try:
        yield
    finally:
        argparse.ArgumentParser.__init__ = init


def _argparse(parse_args, args: list[str]) -> argparse.Namespace:
    err = io.StringIO()
    try:
        with no_abbreviations(), contextlib.redirect_stderr(err), \
                contextlib.redirect_stdout(io.StringIO()):  # fmt: skip
            return parse_args(args)
    except SystemExit as exc:
        raise CommandError(err.getvalue().strip() or f"exit {exc.code}") from None


def _ctcasr(args: list[str], fragment: bool) -> None:
    import typer

    from ctcasr.cli import app

    command, name = typer.main.get_command(app), "ctcasr"
    while hasattr(command, "get_command"):  # a group: ctcasr, ctcasr lm
        if not args:
            return
        sub = command.get_command(command.make_context(name, args[:1]), args[0])
        if sub is None:
            raise CommandError(f"{name}: no command {args[0]!r}")
        command, name, args = sub, args[0], args[1:]
    if fragment:  # prose naming a command (and perhaps a flag), not a command line
        known = {o for p in command.params for o in getattr(p, "opts", [])}
        if unknown := [a for a in args if a.startswith("-") and a not in known]:
            raise CommandError(f"ctcasr {name}: no option {unknown}")
        return
    try:
        command.make_context(name, args)
    except Exception as exc:  # click's usage errors (typer vendors click)
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        raise CommandError(f"ctcasr {name}: {message}") from None


def _module(name: str):
    try:
        return importlib.import_module(f"{name}.__main__")
    except ModuleNotFoundError as exc:
        if exc.name != f"{name}.__main__":
            raise CommandError(f"no module {name}") from None
        return importlib.import_module(name)


def _python_c(code: str) -> None:
    """Compile it, import what it imports, and check the keys it changes in a saved
    train_config.json are settings ``ctcasr train --config`` still reads."""
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = importlib.import_module(node.module)
            for alias in node.names:
                if not hasattr(module, alias.name):
                    raise CommandError(f"{node.module} has no {alias.name}")
    if "train_config.json" in code:
        from ctcasr.data import AugmentConfig
        from ctcasr.train import TrainConfig

        settings = {f.name for f in fields(TrainConfig)}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "update"
                    and (bad := [k.arg for k in node.keywords if k.arg not in settings])):
                raise CommandError(f"not TrainConfig settings: {bad}")
            if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Subscript):
                outer, inner = node.value.slice, node.slice
                if getattr(outer, "value", None) == "augment" and getattr(
                    inner, "value", None
                ) not in {f.name for f in fields(AugmentConfig)}:
                    raise CommandError(f"not an augment setting: {inner.value}")


def check(command: str) -> None:
    """Raise CommandError unless the current code would accept ``command`` as written."""
    fragment = command.startswith("inline: ")
    argv = shlex.split(command.removeprefix("inline: "), comments=True)
    if argv[0] == "ctcasr":
        return _ctcasr(argv[1:], fragment)
    if argv[:2] == ["python", "-m"]:
        module = _module(argv[2])
        args = _argparse(module.parse_args, argv[3:])
        if argv[2] == "recipes.pretrained":  # checked before any work, but after parsing
            from ctcasr.errors import CtcasrError

            try:
                module.parse_repeats(args.repeat)
            except CtcasrError as exc:
                raise CommandError(str(exc)) from None
        return None
    if argv[0] == "python" and argv[1].endswith(".py"):
        script = REPO / argv[1]
        if not script.is_file():
            raise CommandError(f"no script {argv[1]}")
        spec = importlib.util.spec_from_file_location(f"_bench_{script.stem}", script)
        module = importlib.util.module_from_spec(spec)
        # As ``python SCRIPT`` runs it: in sys.modules, where dataclasses look up its names.
        sys.modules[spec.name] = module
        try:
            spec.loader.exec_module(module)
        finally:
            del sys.modules[spec.name]
        _argparse(module.parse_args, argv[2:])
        return None
    if argv[:2] == ["python", "-c"]:
        return _python_c(argv[2])
    if argv[0] == "bash":
        if not (REPO / argv[1]).is_file():
            raise CommandError(f"no script {argv[1]}")
        return None
    if argv[:3] == ["git", "worktree", "add"]:
        return None
    raise CommandError(f"no checker for {command!r}")


def expand(page: str, command: str) -> list[str]:
    """fuzz/RESULTS.md gives one command for its rows: ``python -m fuzz TARGET ...``."""
    if "TARGET" not in command:
        return [command]
    text = (REPO / page).read_text(encoding="utf-8")
    targets = sorted(set(re.findall(r"^\| [\d-]+ \| (\w+) \|", text, flags=re.M)))
    assert targets, f"{page}: no targets in its table for {command!r}"
    return [command.replace("TARGET", t) for t in targets]


CASES = [
    pytest.param(page, one, id=f"{page}:{i}")
    for page in PAGES
    for i, one in enumerate(
        one
        for command in page_commands((REPO / page).read_text(encoding="utf-8"))
        for one in expand(page, command)
    )
]


def test_every_page_gives_commands():
    assert len(PAGES) >= 10, PAGES
    for page in PAGES:
        assert page_commands((REPO / page).read_text(encoding="utf-8")), page


@pytest.mark.parametrize(("page", "command"), CASES)
def test_reproduce_command_parses(page, command):
    try:
        check(command)
    except CommandError as exc:
        pytest.fail(f"{page}: {command}\n  {exc}", pytrace=False)
    root = data_root()
    if root.is_dir():  # the corpora as the pages name them, from the repository's root
        for arg in shlex.split(command.removeprefix("inline: "), comments=True):
            if arg.startswith("../shared/data"):
                path = root / arg.removeprefix("../shared/data").lstrip("/")
                assert path.exists(), f"{page}: {arg} names {path}, which does not exist"


@pytest.mark.parametrize(
    "command",
    [
        "python -m recipes.pretrained --data ../shared/data --learning-rat 1e-4",  # abbreviated
        "python -m recipes.pretrained --data ../shared/data --repeat an5=3",
        "python -m recipes.pretrained --data ../shared/data --speed 0.9,fast",
        "python -m recipes.an4 --data ../shared/data/an4 --resum",
        "python -m recipes.pretrained.dev_compare exp/a/model --versus exp/b/model",
        "python -m recipes.gone --data x",
        "python -m fuzz TARGET --seconds 600",
        "python benchmarks/decoding.py --data ../shared/data/fsdd --run 11",
        "python benchmarks/gone.py",
        "ctcasr average a b --out c",
        "ctcasr evaluate --manifest m.jsonl --modle x",
        "ctcasr averages a -o b",
        "inline: ctcasr train --init-form",
        "bash recipes/pretrained/gone.sh",
        "python -c \"c = {}; c.update(output_dir='x', epoch=3)  # train_config.json\"",
    ],
)
def test_a_broken_command_is_caught(command):
    with pytest.raises(CommandError):
        check(command)
