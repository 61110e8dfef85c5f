#!/usr/bin/env bash
# Build KenLM's lmplz and build_binary, which ctcasr needs to make n-gram language models.
#
# The `kenlm` Python wheel only queries models; the estimation tools are not packaged on PyPI
# or in Debian, so they are compiled from the `kenlm` source package on PyPI (the same release
# the Python module comes from, so ARPA and binary formats match what ctcasr loads).
#
# Usage: bash lm/build_kenlm.sh [PREFIX]
#   PREFIX  where the two binaries go; default $CTCASR_KENLM_BIN, else
#           $HOME/.cache/ctcasr/kenlm/bin (the places ctcasr.lm.find_tool looks).
# Environment: PYTHON  interpreter whose pip downloads the source (default: the repo's .venv,
#                      else python3).
# Re-running is cheap: when both tools already exist in PREFIX and run, it exits at once.
set -euo pipefail

PREFIX="${1:-${CTCASR_KENLM_BIN:-$HOME/.cache/ctcasr/kenlm/bin}}"
TOOLS=(lmplz build_binary)
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

log() { printf 'build_kenlm: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# A tool "runs" when it starts at all: 126/127 mean it could not be executed or a shared library
# is missing, and >128 means it died on a signal. lmplz --help exits 1 after printing usage, and
# build_binary without arguments does the same, so their exit status cannot be required to be 0.
tool_runs() {
    local status=0
    "$1" --help >/dev/null 2>&1 </dev/null || status=$?
    [[ $status -ne 126 && $status -ne 127 && $status -le 128 ]]
}

tools_ready() {
    local tool
    for tool in "${TOOLS[@]}"; do
        [[ -x "$PREFIX/$tool" ]] && tool_runs "$PREFIX/$tool" || return 1
    done
}

if tools_ready; then
    log "lmplz and build_binary already built"
    echo "$PREFIX"
    exit 0
fi

# --- build dependencies -----------------------------------------------------------------------
# Boost's unit_test_framework is required by KenLM's CMakeLists even when tests are off.
APT_PACKAGES=(cmake make g++ libboost-program-options-dev libboost-system-dev
              libboost-thread-dev libboost-test-dev zlib1g-dev libbz2-dev liblzma-dev)

missing=()
if command -v dpkg-query >/dev/null 2>&1; then
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done
else
    # Not a Debian system: check the commands and let CMake report any missing library.
    for cmd in cmake make g++; do
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
    done
fi

if ((${#missing[@]})); then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
        log "installing build dependencies: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    else
        log "missing build dependencies: ${missing[*]}"
        log "install them first, e.g.: sudo apt-get install --no-install-recommends ${missing[*]}"
        log "(other systems: CMake, a C++11 compiler, Boost program_options/system/thread/test,"
        log " and optionally zlib, bzip2 and xz headers)"
        exit 1
    fi
fi

# --- source -----------------------------------------------------------------------------------
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$REPO_ROOT/.venv/bin/python" ]]; then
        PYTHON="$REPO_ROOT/.venv/bin/python"
    else
        PYTHON=python3
    fi
fi
"$PYTHON" -m pip --version >/dev/null 2>&1 \
    || die "$PYTHON has no pip; set PYTHON to an interpreter with pip"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/ctcasr-kenlm.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

start=$SECONDS
log "downloading the kenlm source package from PyPI"
# Only kenlm itself must come as source: `--no-binary :all:` would also compile pip's build
# requirements from source (CMake among them), which takes over ten minutes.
"$PYTHON" -m pip download --quiet --no-binary kenlm --no-deps --dest "$WORK" kenlm
shopt -s nullglob
sdists=("$WORK"/kenlm-*.tar.gz)
((${#sdists[@]} == 1)) || die "expected one kenlm-*.tar.gz from pip, found ${#sdists[@]}"
tar -xzf "${sdists[0]}" -C "$WORK"
src=("$WORK"/kenlm-*/)
((${#src[@]} == 1)) || die "could not find the unpacked kenlm source in $WORK"
log "building $(basename "${src[0]}") (lmplz, build_binary) with $(nproc) jobs"

# --- build ------------------------------------------------------------------------------------
cmake -S "${src[0]}" -B "$WORK/build" -DCMAKE_BUILD_TYPE=Release >"$WORK/cmake.log" 2>&1 \
    || { tail -n 30 "$WORK/cmake.log" >&2; die "cmake configuration failed"; }
make -C "$WORK/build" -j"$(nproc)" "${TOOLS[@]}" >"$WORK/make.log" 2>&1 \
    || { tail -n 30 "$WORK/make.log" >&2; die "compilation failed"; }

mkdir -p "$PREFIX"
for tool in "${TOOLS[@]}"; do
    # Copy then rename, so a concurrent user never sees a half-written binary.
    install -m 755 "$WORK/build/bin/$tool" "$PREFIX/.$tool.tmp"
    mv -f "$PREFIX/.$tool.tmp" "$PREFIX/$tool"
done
tools_ready || die "the built tools in $PREFIX do not run"
log "done in $((SECONDS - start)) s"
echo "$PREFIX"
