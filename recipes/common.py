"""Pieces every recipe shares: finding a corpus, downloading it, writing results."""

from __future__ import annotations

import os
import platform
import shutil
import tarfile
import tempfile
import urllib.request
from pathlib import Path

from ctcasr.errors import CtcasrError


def find_corpus(data: str | os.PathLike[str] | None, name: str, url: str) -> Path:
    """The corpus folder from ``--data``, else ``$CTCASR_DATA/<name>``; explain where to get it."""
    if data is None and os.environ.get("CTCASR_DATA"):
        data = Path(os.environ["CTCASR_DATA"]) / name
    if data is None:
        raise CtcasrError(f"no {name} corpus given: pass --data DIR (download: {url})")
    path = Path(data)
    if not path.is_dir():
        raise CtcasrError(f"{path}: {name} corpus not found (download: {url}, or use --download)")
    return path


def download_tarball(url: str, dest: Path, strip_top: bool = True) -> Path:
    """Fetch and unpack an archive into ``dest`` (for users with internet access)."""
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        archive = Path(tmp) / "corpus.tar.gz"
        print(f"downloading {url}")
        with urllib.request.urlopen(url) as response, open(archive, "wb") as fh:
            shutil.copyfileobj(response, fh)
        unpack = Path(tmp) / "unpacked"
        with tarfile.open(archive) as tar:
            tar.extractall(unpack, filter="data")
        tops = list(unpack.iterdir())
        root = tops[0] if strip_top and len(tops) == 1 and tops[0].is_dir() else unpack
        for item in root.iterdir():
            shutil.move(str(item), dest / item.name)
    return dest


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
    return f"{os.cpu_count()} CPU cores ({cpu}){mem}, no GPU"
