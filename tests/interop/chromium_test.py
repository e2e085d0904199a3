#!/usr/bin/python3
"""Interop: headless Chromium against a libws echo server.
Usage: chromium_test.py CHROMIUM_BINARY ws[s]://127.0.0.1:PORT/ [LABEL]
For wss:// the browser runs with --ignore-certificate-errors (the server's certificate comes
from a test CA it does not know).

Serves a page on a loopback HTTP server; the page's script opens a WebSocket to the echo
server, checks that permessage-deflate was agreed (ws.extensions: Chromium always offers it,
libws's echo servers accept it), exchanges text and binary messages up to 1 MiB (compressed
both ways), pings nothing (browsers cannot), closes
with a code and reads the close code the server echoed, then POSTs its results (JSON) back
to the same HTTP server. The browser runs with a fresh profile and is killed at the end,
whatever happens. One "PASS/FAIL chromium/echo-epoll <check>" line per check.
"""
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

LABEL = sys.argv[3] if len(sys.argv) > 3 else "chromium/echo-epoll"
TIMEOUT = 60

PAGE = r"""<!doctype html>
<html><head><meta charset="utf-8"><title>libws interop</title></head>
<body><pre id="log">running</pre><script>
"use strict";
const results = [];
function report(name, ok, why) { results.push({name, ok, why: ok ? "" : String(why)}); }
function pattern(n, seed) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 255;
  return b;
}
function sameBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
async function run() {
  const ws = new WebSocket(WS_URL);
  ws.binaryType = "arraybuffer";
  const inbox = [];
  let waiting = null;
  ws.onmessage = (e) => { if (waiting) { const w = waiting; waiting = null; w(e.data); }
                          else inbox.push(e.data); };
  const next = () => inbox.length ? Promise.resolve(inbox.shift())
                                  : new Promise((r) => { waiting = r; });
  const closed = new Promise((r) => { ws.onclose = (e) => r(e); });
  await new Promise((ok, bad) => { ws.onopen = ok; ws.onerror = () => bad("error event"); });
  report("open", true);
  report("permessage-deflate agreed (" + ws.extensions + ")",
         ws.extensions.indexOf("permessage-deflate") === 0, "extensions '" + ws.extensions + "'");
  const text = "hello from Chromium \u00b5\u00df\u20ac\u{1F600}";
  ws.send(text);
  report("text", (await next()) === text, "echo differs");
  for (const n of [1, 125, 126, 65535, 65536, 1 << 20]) {
    const b = pattern(n, n & 255);
    ws.send(b);
    const got = await next();
    report("binary " + n, got instanceof ArrayBuffer && sameBytes(new Uint8Array(got), b),
           "echo differs");
  }
  const big = "0123456789abcdef".repeat(65536);
  ws.send(big);
  report("1MiB text", (await next()) === big, "echo differs");
  const prose = "Habe nun, ach! Philosophie, Juristerei und Medizin \u00e4\u00f6\u00fc\n";
  const bigProse = prose.repeat(Math.ceil((1 << 20) / prose.length)).slice(0, 1 << 20);
  ws.send(bigProse);
  report("1MiB compressible text with non-ASCII", (await next()) === bigProse, "echo differs");
  const zeros = new Uint8Array(1 << 20);
  ws.send(zeros);
  const gz = await next();
  report("1MiB of zeros (binary)", gz instanceof ArrayBuffer && sameBytes(new Uint8Array(gz), zeros),
         "echo differs");
  ws.send(new Blob(["blob ", "parts"]));
  const blob = await next();
  report("blob", new TextDecoder().decode(blob) === "blob parts", "echo differs");
  ws.close(4321, "bye from the browser");
  const ev = await closed;
  report("close code", ev.code === 4321, "code " + ev.code);
  report("clean close", ev.wasClean === true, "wasClean " + ev.wasClean);
}
async function main() {
  const guard = new Promise((_, bad) => setTimeout(() => bad("page timeout"), 45000));
  try { await Promise.race([run(), guard]); } catch (e) { report("script", false, e); }
  document.getElementById("log").textContent = JSON.stringify(results);
  await fetch("/result", {method: "POST", body: JSON.stringify(results)});
}
main();
</script></body></html>
"""


def main():
    chromium, ws_url = sys.argv[1], sys.argv[2]
    page = PAGE.replace("WS_URL", json.dumps(ws_url)).encode()
    got = {}
    done = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path != "/":
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def do_POST(self):
            n = int(self.headers.get("Content-Length", "0"))
            got["results"] = json.loads(self.rfile.read(n) or b"[]")
            self.send_response(204)
            self.end_headers()
            done.set()

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    profile = tempfile.mkdtemp(prefix="libws-chromium-")
    url = "http://127.0.0.1:%d/" % httpd.server_address[1]
    args = [chromium, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-quic", "--no-first-run",
            "--disable-dev-shm-usage", "--user-data-dir=" + profile]
    if ws_url.startswith("wss:"):
        args.append("--ignore-certificate-errors")
    args.append(url)
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    failed = 0
    try:
        if not done.wait(TIMEOUT):
            print("FAIL %s page: no results within %d s" % (LABEL, TIMEOUT), flush=True)
            failed = 1
        for r in got.get("results", []):
            print("%s %s %s%s" % ("PASS" if r["ok"] else "FAIL", LABEL, r["name"],
                                  "" if r["ok"] else ": " + r["why"]), flush=True)
            failed += not r["ok"]
        if done.is_set() and not got.get("results"):
            print("FAIL %s page: empty results" % LABEL, flush=True)
            failed += 1
    finally:
        # The whole browser (its zygote and renderers too) is in its own process group.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
        httpd.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
