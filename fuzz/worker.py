"""One libFuzzer process: ``python -m fuzz.worker TARGET [libFuzzer args]`` (see ``fuzz``)."""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["ctcasr", "fuzz"]):
    import ctcasr.audio
    import ctcasr.decoding.grammar
    import ctcasr.features
    import ctcasr.inputs
    import ctcasr.manifest
    import ctcasr.segment
    import ctcasr.text  # noqa: F401
    from fuzz.targets import TARGETS


def main() -> None:
    target = TARGETS[sys.argv[1]]
    atheris.Setup([sys.argv[0], *sys.argv[2:]], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
