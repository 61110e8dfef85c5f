"""docs/reliability.md promises a test for every bad input; each test it names must exist."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_test_named_in_the_reliability_table_exists():
    text = (REPO / "docs" / "reliability.md").read_text(encoding="utf-8")
    refs = set(re.findall(r"`(tests/\w+\.py)::(\w+)", text))
    assert len(refs) > 40
    missing = [f"{f}::{name}" for f, name in sorted(refs)
               if not re.search(rf"^def {name}\(", (REPO / f).read_text(), re.M)]  # fmt: skip
    assert not missing, missing
