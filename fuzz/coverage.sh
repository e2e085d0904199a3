#!/bin/sh
# Summarises gcov line and branch coverage of lib/ after `make coverage` ran the suite in a
# --coverage build (objects and .gcda files in BUILD/lib). Prints one line per file, then the
# total; the last line is exactly "coverage: lines NN.N% branches NN.N%".
# Usage: coverage.sh BUILD_DIR
b=$1
out=$(mktemp); trap 'rm -f "$out"' EXIT
for src in lib/*.c; do
    obj=$b/lib/$(basename "$src" .c).o
    [ -f "${obj%.o}.gcda" ] || { echo "$src: not run" >&2; continue; }
    # -n: no .gcov files, just the summary; only the block for this source file
    gcov -b -n -o "$b/lib" "$src" 2>/dev/null |
        awk -v f="$src" '
            /^File / { cur = ($2 == "\x27" f "\x27") }
            cur && /^Lines executed:/ { split($0, a, /[:% ]+/); lp = a[3]; ln = a[5] }
            cur && /^Taken at least once:/ { split($0, a, /[:% ]+/); bp = a[5]; bn = a[7] }
            cur && /^No branches/ { bp = 100; bn = 0 }
            END { if (ln != "") printf "%s %d %d %d %d\n", f, int(lp * ln / 100 + 0.5), ln,
                                       int(bp * bn / 100 + 0.5), bn }'
done >"$out"
awk '{ printf "  %-18s lines %5.1f%% of %4d   branches %5.1f%% of %4d\n", $1,
         $3 ? 100 * $2 / $3 : 100, $3, $5 ? 100 * $4 / $5 : 100, $5;
       lh += $2; lt += $3; bh += $4; bt += $5 }
     END { printf "coverage: lines %.1f%% branches %.1f%%\n", lt ? 100 * lh / lt : 0,
                  bt ? 100 * bh / bt : 0 }' "$out"
