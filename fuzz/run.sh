#!/usr/bin/env bash
# Run the ELF-reader fuzzer (fuzz/fuzz_elf.py) with a time or execution budget.
#
#   bash fuzz/run.sh --setup              # once: venv + clang-instrumented vdsotime
#   bash fuzz/run.sh -runs=2000000        # any libFuzzer flags; they override defaults
#   bash fuzz/run.sh -max_total_time=600
#   bash fuzz/run.sh path/to/crash-input  # replay one input
#
# Environment: FUZZ_VENV (default /tmp/venv-fuzz), FUZZ_WORKDIR (default
# /tmp/vdsotime-fuzz: corpus/ and artifacts/ live there, outside the repo),
# FUZZ_SRC (default /tmp/fuzz-src: the copy of the repo that --setup builds).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="${FUZZ_VENV:-/tmp/venv-fuzz}"
work="${FUZZ_WORKDIR:-/tmp/vdsotime-fuzz}"
src="${FUZZ_SRC:-/tmp/fuzz-src}"

if [[ "${1:-}" == "--setup" ]]; then
    command -v clang >/dev/null || { echo "run.sh: needs clang (apt-get install clang)" >&2; exit 1; }
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q atheris numpy
    rm -rf "$src" && mkdir -p "$src"
    git -C "$repo" archive HEAD | tar -x -C "$src"
    # Coverage hooks in the Cython extensions; libFuzzer itself comes from atheris.
    CC=clang CXX=clang++ LDSHARED="clang -shared" CFLAGS="-fsanitize=fuzzer-no-link" \
        "$venv/bin/pip" install -q --no-cache-dir --force-reinstall --no-deps "$src"
    echo "run.sh: set up $venv with an instrumented vdsotime from $src (HEAD of $repo)"
    exit 0
fi

[[ -x "$venv/bin/python" ]] || { echo "run.sh: no $venv; run 'bash fuzz/run.sh --setup' first" >&2; exit 1; }

mkdir -p "$work/corpus" "$work/artifacts"
cp -n "$repo"/tests/fixtures/*.so "$repo"/tests/fixtures/x86_64-copyreloc "$work/corpus/"
if compgen -G "$repo/tests/fixtures/fuzz/*" >/dev/null; then
    cp -n "$repo"/tests/fixtures/fuzz/* "$work/corpus/"
fi

# Replaying files: no corpus directory, just the inputs (made absolute, as we cd).
corpus=("$work/corpus")
args=()
for arg in "$@"; do
    if [[ "$arg" != -* && -e "$arg" ]]; then
        [[ -f "$arg" ]] && corpus=()
        arg="$(realpath "$arg")"
    fi
    args+=("$arg")
done
budget=()
if [[ $# -eq 0 ]]; then budget=(-max_total_time=60); fi

cd "$work"   # never write into the repo (libFuzzer may drop fuzz-*.log files here)
exec nice -n 10 "$venv/bin/python" "$here/fuzz_elf.py" \
    -timeout=10 -rss_limit_mb=2048 -max_len=16384 -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" \
    "${budget[@]}" "${args[@]}" "${corpus[@]}"
