#!/bin/sh
# make interop: libws against WebSocket peers nobody here wrote, over loopback only.
#   Python websockets  client -> echo-epoll, echo-poll;  wsc --echo -> its server
#   Node ws            client -> echo-epoll, echo-poll;  wsc --echo -> its server
#   Chromium           a page whose script talks to echo-epoll and to the Python binding's
#                      asyncio echo server (headless, fresh profile)
#   nginx              reverse proxy (Upgrade/Connection) in front of echo-epoll, the Python
#                      client through it
#   TLS (wss://)       a test CA and a certificate for 127.0.0.1 made here (openssl command):
#                      Python websockets client -> echo-epoll, echo-poll --tls-cert (the CA
#                      trusted, the name checked); wsc --echo --ca -> a Python TLS server;
#                      Chromium (--ignore-certificate-errors) -> echo-epoll --tls-cert
#   wsconform          the conformance tester against the Python and Node peers, both
#                      directions (tools/wsconform/peers.sh)
# Each check prints PASS/FAIL; a peer that is not installed (and cannot be: see .ci/run)
# prints SKIP. INTEROP_STRICT=1 (CI) counts a SKIP as a failure. Every wait is bounded and
# every process started here is killed on exit, failure or not.
# Env: EX_DIR (built examples, default build/examples), PYTHON (default /usr/bin/python3).
set -u
EX_DIR=${EX_DIR:-build/examples}
PY=${PYTHON:-/usr/bin/python3}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/libws-interop.XXXXXX")
pids=""
passed=0
failed=0
skipped=0

cleanup() {
    for p in $pids; do
        kill -9 "$p" 2>/dev/null
    done
    wait 2>/dev/null
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Count the PASS/FAIL lines of a log (and show it); a command that failed without saying
# why counts as one failure.
tally() { # log exit-status name
    cat "$1"
    p=$(grep -c '^PASS' "$1")
    f=$(grep -c '^FAIL' "$1")
    if [ "$2" -ne 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $3: exited with status $2"
        f=1
    fi
    if [ "$p" -eq 0 ] && [ "$f" -eq 0 ]; then
        echo "FAIL $3: no checks ran"
        f=1
    fi
    passed=$((passed + p))
    failed=$((failed + f))
}

skip() {
    echo "SKIP $1"
    skipped=$((skipped + 1))
}

# Start a program that prints "listening on 127.0.0.1:PORT" first; sets $port and $last_pid.
start_listener() { # log command...
    log=$1
    shift
    "$@" >"$log" 2>&1 &
    last_pid=$!
    pids="$pids $last_pid"
    port=""
    i=0
    while [ $i -lt 100 ]; do
        port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -n 1)
        [ -n "$port" ] && return 0
        kill -0 "$last_pid" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    echo "FAIL could not start: $* (see below)"
    cat "$log"
    return 1
}

stop() { # pid
    kill "$1" 2>/dev/null
    i=0
    while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    kill -9 "$1" 2>/dev/null
    wait "$1" 2>/dev/null
}

free_port() {
    "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

for ex in echo-epoll echo-poll wsc; do
    if [ ! -x "$EX_DIR/$ex" ]; then
        echo "interop: $EX_DIR/$ex is missing (make first)"
        exit 2
    fi
done

t0=$(date +%s)
# Deflate is off by default in the examples and messages stop at 1 MiB; the peers test both.
start_listener "$tmp/echo-epoll.log" "$EX_DIR/echo-epoll" --host 127.0.0.1 --port 0 --deflate --max-message 16M || exit 1
epoll_pid=$last_pid
epoll_port=$port
start_listener "$tmp/echo-poll.log" "$EX_DIR/echo-poll" --host 127.0.0.1 --port 0 --deflate --max-message 16M || exit 1
poll_pid=$last_pid
poll_port=$port

# A server-side peer, with wsc --echo (libws as client) connecting to it (over TLS:
# wsc_scheme=wss, wsc_args="--ca FILE").
wsc_scheme=ws
wsc_args=""
peer_server() { # name command...
    name=$1
    shift
    if ! start_listener "$tmp/$name.log" "$@"; then
        failed=$((failed + 1))
        return
    fi
    spid=$last_pid
    # shellcheck disable=SC2086
    timeout -k 5 60 "$EX_DIR/wsc" --echo $wsc_args "$wsc_scheme://127.0.0.1:$port/interop" \
        >"$tmp/$name.wsc" 2>&1
    i=0
    while kill -0 "$spid" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    stop "$spid"
    # The server prints the checks; drop its "listening" line.
    grep -v '^listening on' "$tmp/$name.log" >"$tmp/$name.out"
    rc=0
    grep -q '^FAIL' "$tmp/$name.out" && rc=1
    tally "$tmp/$name.out" $rc "$name"
}

# ---- Python websockets ----
if "$PY" -c 'import websockets' 2>/dev/null; then
    v=$("$PY" -c 'import websockets; print(websockets.__version__)')
    echo "== Python websockets $v"
    for s in echo-epoll:$epoll_port echo-poll:$poll_port; do
        timeout -k 5 120 "$PY" "$here/py_client.py" "python-client/${s%%:*}" \
            "ws://127.0.0.1:${s#*:}/" >"$tmp/py.log" 2>&1
        tally "$tmp/py.log" $? "python-client/${s%%:*}"
    done
    peer_server python-server "$PY" "$here/py_server.py"
else
    skip "python websockets: cannot import it with $PY (apt-get install python3-websockets)"
fi

# ---- Node ws ----
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    if timeout -k 5 180 npm install --prefix "$tmp/node" --no-audit --no-fund --silent \
        --no-package-lock ws@8 >"$tmp/npm.log" 2>&1 && [ -d "$tmp/node/node_modules/ws" ]; then
        v=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$tmp/node/node_modules/ws/package.json")
        echo "== Node $(node --version), ws $v"
        export NODE_PATH="$tmp/node/node_modules"
        for s in echo-epoll:$epoll_port echo-poll:$poll_port; do
            timeout -k 5 120 node "$here/node_client.js" "node-client/${s%%:*}" \
                "ws://127.0.0.1:${s#*:}/" >"$tmp/node.log" 2>&1
            tally "$tmp/node.log" $? "node-client/${s%%:*}"
        done
        peer_server node-server node "$here/node_server.js"
    else
        cat "$tmp/npm.log"
        skip "node ws: npm install ws failed (no registry access?)"
    fi
else
    skip "node ws: node/npm not installed (apt-get install nodejs npm)"
fi

# ---- Chromium ----
chromium=$(command -v chromium || command -v chromium-browser || true)
if [ -n "$chromium" ]; then
    echo "== $("$chromium" --version 2>/dev/null | head -n 1)"
    timeout -k 5 120 "$PY" "$here/chromium_test.py" "$chromium" \
        "ws://127.0.0.1:$epoll_port/" >"$tmp/chromium.log" 2>&1
    tally "$tmp/chromium.log" $? chromium
    # the same page against the Python binding's asyncio echo server (bindings/python)
    if LIBWS_LIBRARY="$(cd "$EX_DIR/.." && pwd)/libws.so" start_listener "$tmp/pybind.log" \
        "$PY" "$here/../../bindings/python/examples/echo_server.py" --port 0 \
        --max-message 16777216; then
        pyb_pid=$last_pid
        timeout -k 5 120 "$PY" "$here/chromium_test.py" "$chromium" \
            "ws://127.0.0.1:$port/" chromium/python-binding >"$tmp/chromium-py.log" 2>&1
        tally "$tmp/chromium-py.log" $? chromium-python-binding
        stop "$pyb_pid"
    else
        failed=$((failed + 1))
    fi
else
    skip "chromium: not installed (apt-get install chromium)"
fi

# ---- nginx as a reverse proxy ----
nginx=$(command -v nginx || { [ -x /usr/sbin/nginx ] && echo /usr/sbin/nginx; } || true)
if [ -n "$nginx" ] && "$PY" -c 'import websockets' 2>/dev/null; then
    echo "== $("$nginx" -v 2>&1)"
    nd="$tmp/nginx"
    mkdir -p "$nd"
    nport=$(free_port)
    cat >"$nd/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $nd/nginx.pid;
error_log $nd/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $nd/body;
    proxy_temp_path $nd/proxy;
    fastcgi_temp_path $nd/fastcgi;
    uwsgi_temp_path $nd/uwsgi;
    scgi_temp_path $nd/scgi;
    server {
        listen 127.0.0.1:$nport;
        location / {
            proxy_pass http://127.0.0.1:$epoll_port;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection "upgrade";
            proxy_set_header Host \$host;
            proxy_read_timeout 60s;
        }
    }
}
EOF
    "$nginx" -p "$nd" -c "$nd/nginx.conf" -e "$nd/error.log" >"$nd/stdout.log" 2>&1 &
    nginx_pid=$!
    pids="$pids $nginx_pid"
    i=0
    while ! "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $nport), 1)" \
        2>/dev/null && [ $i -lt 100 ]; do
        kill -0 "$nginx_pid" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    timeout -k 5 120 "$PY" "$here/py_client.py" "nginx-proxy/echo-epoll" \
        "ws://127.0.0.1:$nport/" >"$tmp/nginx.log" 2>&1
    rc=$?
    tally "$tmp/nginx.log" $rc nginx-proxy
    [ $rc -ne 0 ] && cat "$nd/error.log" "$nd/stdout.log"
    stop "$nginx_pid"
elif [ -z "$nginx" ]; then
    skip "nginx: not installed (apt-get install nginx)"
else
    skip "nginx: the Python websockets client it needs is missing"
fi

stop "$epoll_pid"
stop "$poll_pid"

# ---- TLS (wss://) ----
tls_dir="$tmp/tls"
if "$EX_DIR/echo-epoll" --help | grep -q 'this build has no TLS'; then
    skip "tls: the examples were built without TLS (make TLS=1, needs libssl-dev)"
elif ! command -v openssl >/dev/null 2>&1; then
    skip "tls: no openssl command to make the test certificates (apt-get install openssl)"
elif ! (mkdir -p "$tls_dir" && cd "$tls_dir" && {
        k="-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
        # shellcheck disable=SC2086
        openssl req -x509 $k -days 2 -subj "/CN=libws interop CA" -keyout ca.key -out ca.pem &&
        # shellcheck disable=SC2086
        openssl req $k -subj "/CN=localhost" -keyout srv.key -out srv.csr &&
        printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' >srv.ext &&
        openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
            -extfile srv.ext -out srv.pem; } >"$tls_dir.log" 2>&1); then
    cat "$tls_dir.log"
    echo "FAIL tls: could not make the test certificates"
    failed=$((failed + 1))
else
    t1=$(date +%s)
    tls="--tls-cert $tls_dir/srv.pem --tls-key $tls_dir/srv.key"
    # shellcheck disable=SC2086
    start_listener "$tmp/echo-epoll-tls.log" "$EX_DIR/echo-epoll" --host 127.0.0.1 --port 0 \
        --deflate --max-message 16M $tls || exit 1
    tepoll_pid=$last_pid
    tepoll_port=$port
    # shellcheck disable=SC2086
    start_listener "$tmp/echo-poll-tls.log" "$EX_DIR/echo-poll" --host 127.0.0.1 --port 0 \
        --deflate --max-message 16M $tls || exit 1
    tpoll_pid=$last_pid
    tpoll_port=$port
    if "$PY" -c 'import websockets' 2>/dev/null; then
        echo "== TLS: Python websockets (ssl context trusting the test CA)"
        for s in echo-epoll:$tepoll_port echo-poll:$tpoll_port; do
            WS_TEST_CA="$tls_dir/ca.pem" timeout -k 5 120 "$PY" "$here/py_client.py" \
                "python-client/${s%%:*}-tls" "wss://127.0.0.1:${s#*:}/" >"$tmp/py.log" 2>&1
            tally "$tmp/py.log" $? "python-client/${s%%:*}-tls"
        done
        echo "== TLS: wsc --ca against a Python websockets TLS server"
        wsc_scheme=wss
        wsc_args="--ca $tls_dir/ca.pem"
        export WS_TEST_CERT="$tls_dir/srv.pem" WS_TEST_KEY="$tls_dir/srv.key"
        peer_server python-server-tls "$PY" "$here/py_server.py"
        unset WS_TEST_CERT WS_TEST_KEY
        wsc_scheme=ws
        wsc_args=""
    else
        skip "tls: python websockets: cannot import it with $PY"
    fi
    if [ -n "$chromium" ]; then
        echo "== TLS: Chromium (--ignore-certificate-errors)"
        timeout -k 5 120 "$PY" "$here/chromium_test.py" "$chromium" \
            "wss://127.0.0.1:$tepoll_port/" chromium/echo-epoll-tls >"$tmp/chromium.log" 2>&1
        tally "$tmp/chromium.log" $? chromium-tls
    else
        skip "tls: chromium: not installed"
    fi
    stop "$tepoll_pid"
    stop "$tpoll_pid"
    echo "interop over TLS: $(($(date +%s) - t1)) s"
fi
# ---- wsconform against the same peers ----
# tools/wsconform/peers.sh: wsconform (ci profile) against the Python websockets and Node ws
# echo servers, and their Autobahn-style client scripts against wsconform's server mode (URL
# protocol). A run that completes with its reports passes; the peers' verdicts are printed, not
# asserted (they are other projects' behaviour).
t2=$(date +%s)
B=${EX_DIR%/examples} sh "$here/../../tools/wsconform/peers.sh" >"$tmp/wsconform.log" 2>&1
wrc=$?
grep -q '^SKIP' "$tmp/wsconform.log" && skipped=$((skipped + $(grep -c '^SKIP' "$tmp/wsconform.log")))
tally "$tmp/wsconform.log" "$wrc" wsconform-peers
echo "interop, wsconform against the peers: $(($(date +%s) - t2)) s"
echo "interop: $(($(date +%s) - t0)) s"
echo "$passed passed, $failed failed, $skipped skipped"
if [ "${INTEROP_STRICT:-0}" = 1 ] && [ $skipped -ne 0 ]; then
    echo "interop: INTEROP_STRICT=1 and $skipped peer(s) skipped"
    exit 1
fi
[ $failed -eq 0 ]
