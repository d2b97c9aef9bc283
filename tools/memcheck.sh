#!/usr/bin/env bash
# Run the core test modules once under valgrind memcheck and report the errors that
# involve vdsotime's extensions. Needs valgrind (apt-get install valgrind) and an
# installed vdsotime with its test extra. Usage: bash tools/memcheck.sh [pytest args]
#
# valgrind does not give its guest the vDSO: under it vdsotime binds libc's functions,
# so tests that insist on the vDSO backend fail; what this run is for is the reader,
# the samplers and the error paths, with every allocation checked.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
log="$(mktemp -d)/memcheck.log"
python="$(python -c 'import sys; print(sys.executable)')"
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(tests/test_elf.py tests/test_hostile.py tests/test_auxv.py
                                  tests/test_clock.py tests/test_sample.py)
cd "$here"
# pytest through its console script: `python -m pytest` would put the source tree first
# on sys.path.
PYTHONMALLOC=malloc valgrind --tool=memcheck --error-limit=no --leak-check=full \
    --log-file="$log" "$python" "$(dirname "$python")/pytest" -q -p no:cacheprovider \
    "${tests[@]}" || true
echo "valgrind log: $log"
grep -E "ERROR SUMMARY|definitely lost|indirectly lost" "$log" | tail -3
echo "errors with a vdsotime frame:"
# A block that tracemalloc allocated for its own bookkeeping (traceback_new) while a
# vdsotime call was on the stack is CPython's, not vdsotime's: CPython 3.11 loses one
# such traceback per tracemalloc session (seen with the same stack on vdsotime 0.1).
awk '/^==[0-9]+== (Invalid|Conditional|Use of|Syscall param|Mismatched|Source and|[0-9,]+ .*bytes in .* blocks are (definitely|possibly) lost)/{block=$0; keep=0; ours=0; next}
     /^==[0-9]+== +(at|by) / && /traceback_new \(_tracemalloc.c/ {ours=-1}
     /^==[0-9]+== +(at|by) / && /vdsotime/ {keep=1}
     /^==[0-9]+== $/ { if (keep && ours == 0) print block; keep=0 }' "$log" | sort | uniq -c
