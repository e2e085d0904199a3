#!/bin/sh
# Runs the cmocka test programs (optionally under a wrapper such as valgrind) and the fuzz
# replay programs over their seed corpora, then prints one summary line "N passed, M failed"
# (N counts cmocka tests and replay programs, not the corpus inputs those replay).
# Usage: run.sh BUILD_DIR "WRAPPER" TEST... -- FUZZ_REPLAY...
# A program that exits non-zero without a cmocka failure line (a crash, a valgrind error)
# counts as one failed test.
build=$1; wrapper=$2; shift 2
passed=0; failed=0; bad=""
log=$(mktemp); trap 'rm -f "$log"' EXIT
fuzz=0
for t in "$@"; do
    if [ "$t" = "--" ]; then fuzz=1; continue; fi
    name=$(basename "$t")
    if [ $fuzz = 1 ]; then
        corpus=fuzz/corpus/${name%-replay}
        [ -d "$corpus" ] || continue
        # shellcheck disable=SC2086
        # One replay program is one test, however many corpus inputs it replays (they are
        # its cases, as a cmocka program's asserts are; the line says how many).
        if $wrapper "$t" "$corpus" >"$log" 2>&1; then
            passed=$((passed + 1))
            echo "ok    $name: $(tail -n 1 "$log")"
        else
            failed=$((failed + 1)); bad="$bad $name"
            cat "$log"; echo "FAIL  $name"
        fi
        continue
    fi
    # shellcheck disable=SC2086
    $wrapper "$t" >"$log" 2>&1
    rc=$?
    p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$log" | tail -n 1)
    p=${p:-0}; f=${f:-0}
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    passed=$((passed + p)); failed=$((failed + f))
    if [ "$f" -ne 0 ]; then
        cat "$log"; echo "FAIL  $name (exit $rc)"; bad="$bad $name"
    else
        grep -E '^(sizeof|info):' "$log" || true
        echo "ok    $name: $p tests"
    fi
done
echo "${build}:${bad:+ failing:$bad}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
