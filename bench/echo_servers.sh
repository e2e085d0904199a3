# Sourced by bench/run.sh and bench/echo_compare.sh: start and stop an echo server, and count
# its instructions per echoed message under callgrind. POSIX sh.
#
#   es_start LOG CPU SERVER [ARGS...]  start it (pinned to CPU with taskset when CPU is not
#                                      "-"), wait for its port; sets ES_PID and ES_PORT.
#                                      libws's servers get "--port 0" and print "listening on
#                                      HOST:PORT"; with ES_FIXED_PORT set (uWebSockets'
#                                      EchoServer), nothing is added and that port is awaited
#   es_stop                            SIGTERM, wait at most 10 s, then SIGKILL
#   es_callgrind LOAD OUT SERVER [ARGS...]
#                                      prints the user-space instructions (callgrind Ir, whole
#                                      server process) per echoed message of ES_SIZE bytes
#                                      (default 16): two runs,
#                                      ES_M1 and ES_M2 messages (100 connections, 16 in flight),
#                                      and the difference divided by ES_M2 - ES_M1, so start-up,
#                                      handshakes and teardown cancel out

ES_M1=${ES_M1:-20000}
ES_M2=${ES_M2:-100000}

es_start() {
    es_log=$1; es_cpu=$2; shift 2
    : >"$es_log"
    es_pin=
    [ "$es_cpu" != - ] && command -v taskset >/dev/null 2>&1 && es_pin="taskset -c $es_cpu"
    if [ -n "${ES_FIXED_PORT:-}" ]; then
        $es_pin "$@" >"$es_log" 2>&1 &
    else
        $es_pin "$@" --port 0 >"$es_log" 2>&1 &
    fi
    ES_PID=$!
    ES_PORT=
    es_i=0
    while [ $es_i -lt 600 ]; do # 60 s: valgrind starts slowly
        if [ -n "${ES_FIXED_PORT:-}" ]; then
            grep -q "Listening on port" "$es_log" 2>/dev/null && ES_PORT=$ES_FIXED_PORT
        else
            ES_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$es_log" | head -n 1)
        fi
        [ -n "$ES_PORT" ] && return 0
        kill -0 "$ES_PID" 2>/dev/null || break
        sleep 0.1
        es_i=$((es_i + 1))
    done
    echo "bench: $* did not start (see $es_log)" >&2
    kill -KILL "$ES_PID" 2>/dev/null || true
    return 1
}

es_stop() {
    kill -TERM "$ES_PID" 2>/dev/null || true
    es_i=0
    while kill -0 "$ES_PID" 2>/dev/null && [ $es_i -lt 100 ]; do
        sleep 0.1
        es_i=$((es_i + 1))
    done
    kill -KILL "$ES_PID" 2>/dev/null || true
    wait "$ES_PID" 2>/dev/null || true
}

# Total Ir of a callgrind output file.
es_ir() {
    sed -n 's/^summary: *\([0-9]*\).*/\1/p; s/^totals: *\([0-9]*\).*/\1/p' "$1" | head -n 1
}

es_callgrind() {
    es_load=$1; es_out=$2; shift 2
    for es_m in "$ES_M1" "$ES_M2"; do
        es_start "$es_out.$es_m.log" - valgrind --tool=callgrind \
            --callgrind-out-file="$es_out.$es_m.cg" "$@" || return 1
        if ! "$es_load" --port "$ES_PORT" --size "${ES_SIZE:-16}" --flight 16 --conns 100 \
            --messages "$es_m" >"$es_out.$es_m.load" 2>&1; then
            echo "bench: the load against $* failed (see $es_out.$es_m.load)" >&2
            es_stop
            return 1
        fi
        es_stop
    done
    es_i1=$(es_ir "$es_out.$ES_M1.cg")
    es_i2=$(es_ir "$es_out.$ES_M2.cg")
    if [ -z "$es_i1" ] || [ -z "$es_i2" ]; then
        echo "bench: no callgrind totals in $es_out.*.cg" >&2
        return 1
    fi
    awk -v a="$es_i1" -v b="$es_i2" -v m1="$ES_M1" -v m2="$ES_M2" \
        'BEGIN { printf "%.0f\n", (b - a) / (m2 - m1) }'
}
