#!/bin/sh
# make bench: builds and runs the benchmarks against the static library in $2.
# Results are ratios against a ceiling measured in the same run (memcpy), medians of repeats.
set -e
cc=$1; b=$2
mkdir -p "$b/bench"
$cc -std=c11 -O2 -g -Iinclude -Ilib bench/bench_mask.c -o "$b/bench/bench-mask" "$b/libws.a"
echo "== masking vs memcpy"
"$b/bench/bench-mask"
