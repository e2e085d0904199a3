#!/bin/sh
# wsconform against WebSocket implementations nobody here wrote, both directions:
#   python  Python websockets (Debian python3-websockets): peers/py_server.py tested in client
#           mode; peers/py_client.py, an Autobahn-style client script, drives server mode
#           through the URL protocol
#   node    Node ws (npm install ws@8 into a temporary folder): peers/node_server.js and
#           peers/node_client.js, the same way
# Usage: peers.sh [python] [node]   (default both). Env: B (build dir, default build),
# WSCONFORM_PROFILE (default quick: group 9 cut to 1 MiB, groups 12/13 to 32 KiB a case), PYTHON (default /usr/bin/python3), PEERS_OUT (keep the
# reports there), INTEROP_STRICT=1 (a peer that cannot be installed fails instead of SKIP).
# Prints the verdict counts per group and every case that is not OK with wsconform's reason;
# a line "PASS wsconform/<peer>" when the run completed with reports, "FAIL ..." when not.
# The peers' verdicts are reported, not asserted: they are other projects' behaviour.
set -u
B=${B:-build}
PY=${PYTHON:-/usr/bin/python3}
profile=${WSCONFORM_PROFILE:-quick}
here=$(cd "$(dirname "$0")" && pwd)
tool=${WSCONFORM:-$B/tools/wsconform}
[ -x "$tool" ] || { echo "FAIL wsconform: $tool missing (make all)"; exit 1; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/wsconform-peers.XXXXXX")
out=${PEERS_OUT:-$tmp/reports}
pids=""
trap 'for p in $pids; do kill -9 "$p" 2>/dev/null; done; rm -rf "$tmp"' EXIT
status=0
peers=${*:-python node}

# The verdict table of one agent from the reports.
table() { # agent
    "$PY" - "$out" "$1" <<'PYEOF'
import json, os, sys
out, agent = sys.argv[1], sys.argv[2]
idx = json.load(open(os.path.join(out, "index.json"))).get(agent, {})
def key(cid):
    return tuple(int(x) for x in cid.split("."))
groups = {}
for cid in sorted(idx, key=key):
    s = idx[cid]
    v = s["behavior"]
    if "FAILED" in (v, s["behaviorClose"]) or s["behaviorClose"] in ("WRONG CODE", "UNCLEAN"):
        v = "FAILED"
    elif s["behaviorClose"] == "FAILED BY CLIENT" and v == "OK":
        v = "NON-STRICT"
    g = groups.setdefault(cid.split(".")[0], {})
    g[v] = g.get(v, 0) + 1
    if v not in ("OK", "INFORMATIONAL"):
        case = json.load(open(os.path.join(out, s["reportfile"])))
        why = case["result"]
        if why.startswith("Actual events match"):
            # which list: say what came back against what OK wanted
            got = json.dumps(case["received"])
            want = json.dumps(case["expected"].get("OK"))
            why = "received %s; OK wants %s" % (got[:70], want[:70])
        if s["behaviorClose"] not in ("OK", "INFORMATIONAL"):
            why += " / close: %s (%s)" % (s["behaviorClose"], case["resultClose"])
        print("  %-9s %-13s %s" % (cid, v, why))
print("  %s: %d cases; by group: %s" % (agent, len(idx), "; ".join(
    "%s: %s" % (g, ", ".join("%d %s" % (n, v) for v, n in sorted(c.items())))
    for g, c in sorted(groups.items(), key=lambda kv: int(kv[0])))))
PYEOF
}

# Server mode driven by a client script through the URL protocol.
client_run() { # agent command... (the script gets the base URL and the agent)
    agent=$1
    shift
    : >"$tmp/$agent.log"
    "$tool" server --port 0 --lifetime 120 --profile "$profile" --outdir "$out" \
        >"$tmp/$agent.log" 2>&1 &
    spid=$!
    pids="$pids $spid"
    port=""
    i=0
    while [ $i -lt 100 ] && [ -z "$port" ]; do
        port=$(sed -n 's/^wsconform: listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' \
            "$tmp/$agent.log")
        sleep 0.1
        i=$((i + 1))
    done
    timeout -k 5 900 "$@" "ws://127.0.0.1:$port" "$agent" >"$tmp/$agent.client.log" 2>&1
    wait "$spid"
    finish "$agent" "$tmp/$agent.log"
}

finish() { # agent log
    grep '^summary' "$2"
    if grep -q '^wsconform: .* passed' "$2" && [ -f "$out/index.json" ]; then
        table "$1"
        echo "PASS wsconform/$1: the run completed ($(grep '^wsconform: .* passed' "$2"))"
    else
        tail -n 20 "$2"
        echo "FAIL wsconform/$1: the run did not complete"
        status=1
    fi
}

for peer in $peers; do
    case $peer in
    python)
        v=$("$PY" -c 'import websockets; print(websockets.__version__)' 2>/dev/null)
        if [ -z "$v" ]; then
            echo "SKIP python websockets not installed (apt-get install python3-websockets)"
            [ "${INTEROP_STRICT:-0}" = 1 ] && status=1
            continue
        fi
        a="python-websockets-$v-server"
        echo "== wsconform client -> Python websockets $v echo server"
        timeout -k 5 900 "$tool" client 'ws://127.0.0.1:{port}/' --agent "$a" \
            --server-cmd "exec $PY $here/peers/py_server.py --port {port}" \
            --profile "$profile" --outdir "$out" >"$tmp/$a.log" 2>&1
        finish "$a" "$tmp/$a.log"
        a="python-websockets-$v-client"
        echo "== Python websockets $v client script -> wsconform server"
        client_run "$a" "$PY" "$here/peers/py_client.py"
        ;;
    node)
        if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
            echo "SKIP node ws: node/npm not installed (apt-get install nodejs npm)"
            [ "${INTEROP_STRICT:-0}" = 1 ] && status=1
            continue
        fi
        if node -e "require('ws')" >/dev/null 2>&1; then
            # NODE_PATH has it already (make interop installed it a moment ago)
            mkdir -p "$tmp/node/node_modules"
            ln -s "$(node -e "console.log(require('path').dirname(require.resolve('ws/package.json')))")" \
                "$tmp/node/node_modules/ws"
        elif ! timeout -k 5 180 npm install --prefix "$tmp/node" --no-audit --no-fund --silent \
            --no-package-lock ws@8 >"$tmp/npm.log" 2>&1; then
            cat "$tmp/npm.log"
            echo "SKIP node ws: npm install ws failed (no registry access?)"
            [ "${INTEROP_STRICT:-0}" = 1 ] && status=1
            continue
        fi
        v=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$tmp/node/node_modules/ws/package.json")
        export NODE_PATH="$tmp/node/node_modules"
        a="node-ws-$v-server"
        echo "== wsconform client -> Node ws $v echo server"
        timeout -k 5 900 "$tool" client 'ws://127.0.0.1:{port}/' --agent "$a" \
            --server-cmd "exec node $here/peers/node_server.js {port}" \
            --profile "$profile" --outdir "$out" >"$tmp/$a.log" 2>&1
        finish "$a" "$tmp/$a.log"
        a="node-ws-$v-client"
        echo "== Node ws $v client script -> wsconform server"
        client_run "$a" node "$here/peers/node_client.js"
        ;;
    *)
        echo "peers.sh: unknown peer '$peer' (python, node)" >&2
        exit 2
        ;;
    esac
done
exit $status
