"""``python -m ctcasr``: the ``ctcasr`` command, for environments whose scripts folder is not
on PATH (a venv used without activating it)."""

from ctcasr.cli import main

if __name__ == "__main__":
    main()
