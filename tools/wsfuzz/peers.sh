#!/bin/sh
# wsfuzz against WebSocket servers nobody here wrote, over loopback: an echo server on Python
# `websockets` (tools/wsfuzz/py_echo.py, Debian's python3-websockets) and one on Node `ws`
# (tools/wsfuzz/node_echo.js; ws@8 is npm-installed into a temporary folder, as make interop
# does); and clients, with wsfuzz listening (--listen, it starts the client for each
# session): the Python `websockets` client (tools/wsfuzz/py_client.py, echoing) and libws's
# own examples/wsc --echo. Prints wsfuzz's output (FAILED lines, the table, the reasons).
#   sh tools/wsfuzz/peers.sh [python] [node] [python-client] [wsc]   (python node when none)
# Env: B (build dir, default build), WSFUZZ_SESSIONS (default 1000), WSFUZZ_SEED (default 1),
#      WSFUZZ_ARGS (more wsfuzz options), PYTHON (default /usr/bin/python3).
# Exit status: non-zero if a peer could not be started or wsfuzz reported a FAILED session.
set -u
B=${B:-build}
WSFUZZ=${WSFUZZ:-$B/tools/wsfuzz}
SESSIONS=${WSFUZZ_SESSIONS:-1000}
SEED=${WSFUZZ_SEED:-1}
PY=${PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsfuzz-peers.XXXXXX")
pids=""
rc=0
cleanup() {
    for p in $pids; do
        kill "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

run_against() { # name log command...
    name=$1
    log=$2
    shift 2
    : >"$log"
    "$@" >"$log" 2>&1 &
    pids="$pids $!"
    port=""
    i=0
    while [ $i -lt 100 ] && [ -z "$port" ]; do
        sleep 0.1
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n 1)
        i=$((i + 1))
    done
    if [ -z "$port" ]; then
        echo "== $name: could not start"
        cat "$log"
        rc=1
        return
    fi
    echo "== $name: $(head -n 1 "$log" | sed 's/^listening on //')"
    echo "\$ $WSFUZZ ws://127.0.0.1:PORT/ --sessions $SESSIONS --seed $SEED ${WSFUZZ_ARGS:-}"
    # shellcheck disable=SC2086
    timeout -k 5 3600 "$WSFUZZ" "ws://127.0.0.1:$port/" --sessions "$SESSIONS" --seed "$SEED" \
        ${WSFUZZ_ARGS:-} || rc=1
}

# Clients: wsfuzz listens and starts CMD for each session.
run_client() { # name command
    echo "== $1 (wsfuzz --listen 0 --client-cmd '$2')"
    echo "\$ $WSFUZZ --listen 0 --client-cmd '$2' --sessions $SESSIONS --seed $SEED ${WSFUZZ_ARGS:-}"
    # shellcheck disable=SC2086
    timeout -k 5 7200 "$WSFUZZ" --listen 0 --client-cmd "$2" --sessions "$SESSIONS" --seed "$SEED" \
        ${WSFUZZ_ARGS:-} || rc=1
}

want=${*:-python node}
for peer in $want; do
    case $peer in
    python)
        if "$PY" -c 'import websockets' 2>/dev/null; then
            run_against "Python websockets" "$tmp/py.log" "$PY" "$here/py_echo.py"
        else
            echo "== Python websockets: cannot import it with $PY (apt-get install python3-websockets)"
            rc=1
        fi
        ;;
    node)
        if timeout -k 5 180 npm install --prefix "$tmp/node" --no-audit --no-fund --silent \
            --no-package-lock ws@8 >"$tmp/npm.log" 2>&1 && [ -d "$tmp/node/node_modules/ws" ]; then
            case " ${WSFUZZ_ARGS:-} " in
            *" --deflate "*) deflate=1 ;;
            *) deflate=0 ;;
            esac
            DEFLATE=$deflate NODE_PATH="$tmp/node/node_modules" run_against "Node ws" \
                "$tmp/node.log" node "$here/node_echo.js"
        else
            cat "$tmp/npm.log"
            echo "== Node ws: npm install ws failed (node/npm missing or no registry access?)"
            rc=1
        fi
        ;;
    python-client)
        if "$PY" -c 'import websockets' 2>/dev/null; then
            run_client "Python websockets client" "$PY $here/py_client.py"
        else
            echo "== Python websockets: cannot import it with $PY (apt-get install python3-websockets)"
            rc=1
        fi
        ;;
    wsc)
        case " ${WSFUZZ_ARGS:-} " in
        *" --deflate "*) wflag=--deflate ;;
        *) wflag=--no-deflate ;;
        esac
        run_client "libws wsc" "$B/examples/wsc --echo $wflag"
        ;;
    *)
        echo "unknown peer '$peer' (python, node, python-client, wsc)"
        exit 2
        ;;
    esac
done
exit $rc
