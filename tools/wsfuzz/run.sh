#!/bin/sh
# make wsfuzz-run: wsfuzz against the project's echo servers, then the check that it catches a
# server that answers wrongly. Loopback only; every process started here is killed on exit.
#   1. echo-epoll and echo-poll (and echo-uv / echo-uring where built): WSFUZZ_SESSIONS
#      sessions each (default 1000), seed WSFUZZ_SEED (default: a fresh one, printed);
#      any FAILED session fails the run.
#   2. permessage-deflate (--deflate: compressed traffic, RSV1 on continuations and controls,
#      data that is not DEFLATE -> 1007) against echo-epoll --deflate, 300 sessions (~2 s);
#      clients (--listen, wsfuzz the server): examples/wsc --echo, 200 sessions without and 200
#      with permessage-deflate (~5 s each). Added to CI's step: ~12 s.
#   3. tools/wsfuzz/ref_server.py (Python stdlib, written apart from libws): --bug none, a
#      strict server, must pass (300 sessions); each of its bugs (wrong close code, no UTF-8
#      check, corrupted echo, masked server frames, no close frame) must make wsfuzz exit 1
#      with FAILED lines (150 sessions each). Skipped, saying so, without /usr/bin/python3.
# Env: B (build dir, default build), EX_DIR (default $B/examples), WSFUZZ (the binary, default
# $B/tools/wsfuzz), WSFUZZ_SESSIONS, WSFUZZ_SEED, PYTHON (default /usr/bin/python3).
set -u
B=${B:-build}
EX_DIR=${EX_DIR:-$B/examples}
WSFUZZ=${WSFUZZ:-$B/tools/wsfuzz}
SESSIONS=${WSFUZZ_SESSIONS:-1000}
SEED=${WSFUZZ_SEED:-$(od -An -N8 -tu8 /dev/urandom | tr -d ' ')}
PY=${PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsfuzz-run.XXXXXX")
pids=""
failed=0
start=$(date +%s)

cleanup() {
    for p in $pids; do
        kill "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Start a server that prints "listening on 127.0.0.1:PORT" first; sets $port.
start_server() { # log command...
    log=$1
    shift
    : >"$log"
    "$@" >"$log" 2>&1 &
    pids="$pids $!"
    port=""
    i=0
    while [ $i -lt 100 ]; do
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n 1)
        [ -n "$port" ] && return 0
        sleep 0.1
        i=$((i + 1))
    done
    echo "FAIL could not start: $*"
    cat "$log"
    return 1
}

echo "wsfuzz-run: seed $SEED (repeat with WSFUZZ_SEED=$SEED), $SESSIONS sessions per server"
for s in echo-epoll echo-poll echo-uv echo-uring; do
    if [ ! -x "$EX_DIR/$s" ]; then
        echo "SKIP $s: not built"
        continue
    fi
    start_server "$tmp/$s.log" "$EX_DIR/$s" --host 127.0.0.1 --port 0 || { failed=$((failed + 1)); continue; }
    t0=$(date +%s)
    if timeout -k 5 300 "$WSFUZZ" "ws://127.0.0.1:$port/" --sessions "$SESSIONS" --seed "$SEED" --strict-echo \
        >"$tmp/$s.out" 2>&1; then
        echo "PASS $s: $(grep '^total' "$tmp/$s.out" | awk '{print $2" sessions, "$3" OK, "$4" allowed, "$5" FAILED"}') in $(($(date +%s) - t0)) s"
    else
        cat "$tmp/$s.out"
        echo "FAIL $s: wsfuzz found failures (above)"
        failed=$((failed + 1))
    fi
done

# permessage-deflate sessions against a server that negotiates it
if [ -x "$EX_DIR/echo-epoll" ]; then
    start_server "$tmp/deflate.log" "$EX_DIR/echo-epoll" --host 127.0.0.1 --port 0 --deflate || failed=$((failed + 1))
    t0=$(date +%s)
    if [ -n "$port" ] && timeout -k 5 120 "$WSFUZZ" "ws://127.0.0.1:$port/" --sessions 300 --seed "$SEED" \
        --strict-echo --deflate >"$tmp/deflate.out" 2>&1; then
        echo "PASS echo-epoll --deflate (wsfuzz --deflate): $(grep '^total' "$tmp/deflate.out" | awk '{print $2" sessions, "$3" OK, "$4" allowed, "$5" FAILED"}') in $(($(date +%s) - t0)) s"
    else
        cat "$tmp/deflate.out"
        echo "FAIL echo-epoll --deflate: wsfuzz --deflate found failures (above)"
        failed=$((failed + 1))
    fi
fi

# clients: wsfuzz listens, starts wsc --echo for each session
if [ -x "$EX_DIR/wsc" ]; then
    for mode in plain deflate; do
        if [ $mode = deflate ]; then flags="--deflate"; wflags="--deflate"; else flags=""; wflags="--no-deflate"; fi
        t0=$(date +%s)
        # shellcheck disable=SC2086
        if timeout -k 5 120 "$WSFUZZ" --listen 0 --client-cmd "$EX_DIR/wsc --echo $wflags" --sessions 200 \
            --seed "$SEED" $flags >"$tmp/wsc-$mode.out" 2>&1; then
            echo "PASS wsc --echo $wflags (wsfuzz --listen $flags): $(grep '^total' "$tmp/wsc-$mode.out" | awk '{print $2" sessions, "$3" OK, "$4" allowed, "$5" FAILED"}') in $(($(date +%s) - t0)) s"
        else
            cat "$tmp/wsc-$mode.out"
            echo "FAIL wsc --echo $wflags: wsfuzz --listen found failures (above)"
            failed=$((failed + 1))
        fi
    done
else
    echo "SKIP wsc: not built"
fi

if [ -x "$PY" ]; then
    start_server "$tmp/ref.log" "$PY" "$here/ref_server.py" --bug none --lifetime 600 || failed=$((failed + 1))
    if [ -n "$port" ]; then
        if timeout -k 5 300 "$WSFUZZ" "ws://127.0.0.1:$port/" --sessions 300 --seed "$SEED" --strict-echo \
            >"$tmp/ref.out" 2>&1; then
            echo "PASS ref_server.py --bug none: a strict server libws did not write, all sessions OK or allowed"
        else
            cat "$tmp/ref.out"
            echo "FAIL ref_server.py --bug none: wsfuzz failed a correct server"
            failed=$((failed + 1))
        fi
    fi
    for bug in wrong-code no-utf8-check corrupt-echo masked-frames no-close; do
        start_server "$tmp/ref-$bug.log" "$PY" "$here/ref_server.py" --bug "$bug" --lifetime 600 ||
            { failed=$((failed + 1)); continue; }
        timeout -k 5 300 "$WSFUZZ" "ws://127.0.0.1:$port/" --sessions 150 --seed "$SEED" --strict-echo \
            --timeout-ms 1000 >"$tmp/ref-$bug.out" 2>&1
        rc=$?
        n=$(grep -c '^FAILED session' "$tmp/ref-$bug.out")
        if [ "$rc" -eq 1 ] && [ "$n" -gt 0 ]; then
            echo "PASS ref_server.py --bug $bug caught: $n FAILED sessions, e.g. $(grep -m1 '^FAILED session' "$tmp/ref-$bug.out" | cut -c1-160)"
        else
            tail -n 30 "$tmp/ref-$bug.out"
            echo "FAIL ref_server.py --bug $bug: not caught (wsfuzz exit $rc, $n FAILED lines)"
            failed=$((failed + 1))
        fi
    done
else
    echo "SKIP ref_server.py: $PY not found"
fi

echo "wsfuzz-run: $failed failed, $(($(date +%s) - start)) s"
[ "$failed" -eq 0 ]
