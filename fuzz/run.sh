#!/bin/sh
# Bounded libFuzzer run of each target, one after the other, niced: the CI's "no crash, leak or
# timeout in N seconds" gate. Usage: run.sh SECONDS TARGET...
# New inputs go to build/fuzz/work/<target> (the checked-in corpus stays small); a crash, leak or
# timeout leaves its input in build/fuzz/artifacts/<target>/ and makes the script fail. Copy such
# an input into fuzz/corpus/<target>/ once the bug is fixed, so `make check` replays it forever.
secs=$1; shift
status=0
for t in "$@"; do
    bin=build/fuzz/$t
    work=build/fuzz/work/$t
    art=build/fuzz/artifacts/$t
    mkdir -p "$work" "$art"
    dict=""
    [ -f "fuzz/dict/$t.dict" ] && dict="-dict=fuzz/dict/$t.dict"
    log=build/fuzz/$t.log
    echo "== $t: ${secs}s"
    # shellcheck disable=SC2086
    if nice -n 10 "$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
        -print_final_stats=1 -artifact_prefix="$art/" $dict "$work" "fuzz/corpus/$t" >"$log" 2>&1; then
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
        cov=$(grep -E '^#[0-9]+.*cov:' "$log" | tail -n 1 | sed -n 's/.*\(cov: [0-9]*\).*\(ft: [0-9]*\).*\(corp: [^ ]*\).*/\1 \2 \3/p')
        echo "ok    $t: $execs runs, $cov"
    else
        status=1
        tail -n 40 "$log"
        echo "FAIL  $t (input in $art/, full log $log)"
    fi
done
exit $status
