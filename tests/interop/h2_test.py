#!/usr/bin/python3
"""WebSockets over HTTP/2 (RFC 8441) against build/examples/h2-server, with Python's h2 package
as the HTTP/2 client and wsproto as the WebSocket framing on each stream.

Usage: h2_test.py EX_DIR [CHROMIUM]   (make h2-check)

Starts the server itself (TLS with a certificate made here by the openssl command, ALPN h2 and
http/1.1; then once more in cleartext for h2c with prior knowledge), on 127.0.0.1 port 0, and
checks, one "PASS/FAIL h2/<check>" line each:
  - several WebSockets multiplexed on one TLS connection (ALPN h2): text, binary, 1 MiB,
    fragmented messages, ping/pong, close (close frames both ways, then END_STREAM both ways),
    permessage-deflate agreed on one stream (RSV1 on the wire, fewer bytes than the text),
    the transport each reports ("transport?" -> "h2 conn=N stream=S tls=1", the same N);
  - a slow stream: its reader gives no window back, its writer keeps sending: the server stops
    granting it window (bounded buffering) while a 1 MiB echo on another stream of the same
    connection completes; once read, the slow stream's echoes all arrive intact;
  - malformed or refused extended CONNECTs get the answers the server documents (a :status or
    RST_STREAM PROTOCOL_ERROR), and the connection goes on serving;
  - the page over h2 and over http/1.1, /conn, an HTTP/1.1 WebSocket upgrade on the same port;
    ALPN: h2 preferred, http/1.1 when offered alone or when no ALPN is offered, the
    no_application_protocol alert for a list with neither;
  - h2c (cleartext, prior knowledge), the heartbeat ping of a stream's ws_conn, and SIGTERM
    with a WebSocket open (close 1001, GOAWAY, exit 0);
  - with CHROMIUM: headless Chromium loads the page over h2 and opens a WebSocket that goes
    over the same h2 connection (the server's "transport?" answer says h2 and the conn number
    of the page's own /conn fetch);
  - SIGTERM: the server exits 0.
Every wait is bounded (STEP_TIMEOUT per wait, the whole run by the caller's timeout).
"""
import json
import os
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import zlib

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.settings
from wsproto.connection import Connection, ConnectionType
from wsproto.events import (BytesMessage, CloseConnection, Message, Ping, Pong,
                            TextMessage)
from wsproto.extensions import PerMessageDeflate

STEP_TIMEOUT = 20.0
failures = 0


def check(name, ok, why=""):
    global failures
    print("%s h2/%s%s" % ("PASS" if ok else "FAIL", name, "" if ok else ": " + str(why)),
          flush=True)
    failures += not ok
    return ok


class Stream:
    def __init__(self, sid):
        self.sid = sid
        self.headers = None
        self.ws = None
        self.events = []
        self.raw = bytearray()
        self.reset = None
        self.ended = False
        self.slow = False
        self.unacked = 0
        self.body = bytearray()


class Client:
    """One HTTP/2 connection: h2 for the protocol, the socket driven by hand."""

    def __init__(self, sock, validate=True):
        self.sock = sock
        cfg = h2.config.H2Configuration(client_side=True, header_encoding=None,
                                        validate_outbound_headers=validate,
                                        normalize_outbound_headers=validate)
        self.conn = h2.connection.H2Connection(cfg)
        self.conn.initiate_connection()
        self.conn.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 65535})
        self.streams = {}
        self.settings = {}
        self.terminated = None
        self.flush()
        self.wait(lambda: 8 in self.settings, "the server's SETTINGS")

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def step(self, timeout=0.2):
        r, _, _ = select.select([self.sock], [], [], timeout)
        if r:
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError("the server closed the connection")
            for ev in self.conn.receive_data(data):
                self.handle(ev)
        self.flush()

    def handle(self, ev):
        st = self.streams.get(getattr(ev, "stream_id", None))
        if isinstance(ev, h2.events.RemoteSettingsChanged):
            for k, v in ev.changed_settings.items():
                self.settings[int(k)] = v.new_value
        elif isinstance(ev, h2.events.ResponseReceived) and st:
            st.headers = dict(ev.headers)
        elif isinstance(ev, h2.events.DataReceived) and st:
            if st.slow:
                # The stream's reader is slow: its window stays closed; the connection's
                # is given back so that the other streams go on.
                self.conn.increment_flow_control_window(ev.flow_controlled_length)
                st.unacked += ev.flow_controlled_length
            else:
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            st.raw += ev.data
            if st.ws and ev.data and st.ws.state.name != "CLOSED":
                st.ws.receive_data(ev.data)
                for e in st.ws.events():
                    st.events.append(e)
                    if isinstance(e, Ping) and st.ws.state.name == "OPEN":
                        # Pongs answer pings at once (the server's heartbeat), window allowing.
                        pong = st.ws.send(e.response())
                        if self.conn.local_flow_control_window(st.sid) >= len(pong):
                            self.conn.send_data(st.sid, pong)
            else:
                st.body += ev.data
        elif isinstance(ev, h2.events.StreamReset) and st:
            st.reset = ev.error_code
        elif isinstance(ev, h2.events.StreamEnded) and st:
            st.ended = True
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.terminated = ev

    def wait(self, cond, what, timeout=STEP_TIMEOUT):
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError("waiting for " + what)
            self.step()

    def request(self, headers, end_stream=True):
        sid = self.conn.get_next_available_stream_id()
        st = self.streams[sid] = Stream(sid)
        self.conn.send_headers(sid, headers, end_stream=end_stream)
        self.flush()
        return st

    def answered(self, st):
        self.wait(lambda: (st.headers is not None and (st.ended or st.ws)) or st.reset is not None,
                  "an answer on stream %d" % st.sid)
        return st

    def open_ws(self, path="/ws", extensions=None):
        h = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"),
             (":path", path), (":authority", "127.0.0.1"), ("sec-websocket-version", "13")]
        pmd = None
        if extensions:
            pmd = PerMessageDeflate()
            h.append(("sec-websocket-extensions", "%s; %s" % (pmd.name, pmd.offer())))
        st = self.request(h, end_stream=False)
        self.wait(lambda: st.headers is not None or st.reset is not None, "the 200")
        if st.headers is None or st.headers.get(b":status") != b"200":
            self.wait(lambda: st.ended or st.reset is not None, "the refusal's end")
            raise RuntimeError("extended CONNECT to %s answered %r %r (reset %r)" %
                               (path, st.headers, bytes(st.body), st.reset))
        exts = []
        value = st.headers.get(b"sec-websocket-extensions")
        if pmd and value:
            pmd.finalize(value.decode())
            exts = [pmd]
        st.ws = Connection(ConnectionType.CLIENT, extensions=exts)
        st.agreed = value
        return st

    def send(self, st, data):
        """Send bytes on st as the windows allow, reading meanwhile."""
        view = memoryview(data)
        end = time.monotonic() + STEP_TIMEOUT
        while view:
            room = min(self.conn.local_flow_control_window(st.sid),
                       self.conn.max_outbound_frame_size)
            if room <= 0:
                if time.monotonic() > end:
                    raise TimeoutError("no window on stream %d" % st.sid)
                self.step()
                continue
            self.conn.send_data(st.sid, bytes(view[:room]))
            view = view[room:]
            self.flush()
            self.step(0)

    def ws_send(self, st, event):
        self.send(st, st.ws.send(event))

    def message(self, st):
        """The next whole message on st (fragments joined)."""
        parts = []
        while True:
            self.wait(lambda: any(isinstance(e, (Message, Pong, CloseConnection))
                                  for e in st.events), "a message on stream %d" % st.sid)
            e = st.events.pop(0)
            if isinstance(e, Message):
                parts.append(e.data)
                if e.message_finished:
                    return (b"" if isinstance(e, BytesMessage) else "").join(parts)
            elif not isinstance(e, Ping):
                return e


def start_server(ex_dir, args):
    p = subprocess.Popen([os.path.join(ex_dir, "h2-server"), "--host", "127.0.0.1", "--port",
                          "0"] + args, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.startswith("listening on "):
        p.kill()
        raise RuntimeError("h2-server did not start: %r" % line)
    return p, int(line.rsplit(":", 1)[1])


def stop_server(p, name):
    p.send_signal(signal.SIGTERM)
    try:
        rc = p.wait(timeout=5)
    except subprocess.TimeoutExpired:
        p.kill()
        rc = "still running 5 s after SIGTERM"
    check(name + ": SIGTERM, exit 0", rc == 0, rc)


def tls_socket(port, ca, alpn):
    ctx = ssl.create_default_context(cafile=ca)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    raw = socket.create_connection(("127.0.0.1", port), timeout=STEP_TIMEOUT)
    s = ctx.wrap_socket(raw, server_hostname="127.0.0.1")
    return s


def pattern(n, seed):
    return bytes((i * 31 + seed) & 255 for i in range(n))


def multiplexed(cl):
    """Several WebSockets on one h2 connection."""
    a, b, c = cl.open_ws("/a"), cl.open_ws("/b"), cl.open_ws("/c")
    d = cl.open_ws("/d", extensions=True)
    check("four extended CONNECTs answered 200 on one connection", True)
    ids = set()
    for st in (a, b, c, d):
        cl.ws_send(st, TextMessage("transport?"))
    for st in (a, b, c, d):
        t = cl.message(st)
        ids.add(t.split()[1] if isinstance(t, str) else None)
        check("stream %d reports its transport (%s)" % (st.sid, t),
              isinstance(t, str) and t.startswith("h2 conn=") and
              ("stream=%d" % st.sid) in t and t.endswith("tls=1"), t)
    check("all four on the same TCP connection (%s)" % ", ".join(sorted(map(str, ids))),
          len(ids) == 1, ids)
    cl.ws_send(a, TextMessage("hello \u00b5\u20ac over h2"))
    check("text echo", cl.message(a) == "hello \u00b5\u20ac over h2")
    for n in (0, 1, 125, 126, 65535, 65536):
        data = pattern(n, n & 255)
        cl.ws_send(a, BytesMessage(data))
        check("binary %d echo" % n, cl.message(a) == data)
    big = pattern(1 << 20, 7)
    cl.ws_send(b, BytesMessage(big))
    check("1 MiB binary echo", cl.message(b) == big)
    # Fragmented: three fragments, a ping between them; the echo comes whole.
    cl.ws_send(c, TextMessage("frag-1 ", message_finished=False))
    cl.ws_send(c, Ping(b"between"))
    cl.ws_send(c, TextMessage("frag-2 ", message_finished=False))
    cl.ws_send(c, TextMessage("frag-3", message_finished=True))
    got = cl.message(c)
    check("pong to a ping between fragments", isinstance(got, Pong) and got.payload == b"between",
          got)
    check("fragmented text echo", cl.message(c) == "frag-1 frag-2 frag-3")
    cl.ws_send(c, BytesMessage(b"\x01" * 1000, message_finished=False))
    cl.ws_send(c, BytesMessage(b"\x02" * 70000, message_finished=True))
    check("fragmented binary echo (1000 + 70000)", cl.message(c) == b"\x01" * 1000 + b"\x02" * 70000)
    # permessage-deflate on d only.
    check("permessage-deflate agreed on one stream (%s)" % d.agreed,
          d.agreed is not None and d.agreed.startswith(b"permessage-deflate"), d.agreed)
    check("no extension on the others", a.agreed is None and b.agreed is None)
    text = "the quick brown fox jumps over the lazy dog \u00e4\u00f6\u00fc; " * 3000
    before = len(d.raw)
    cl.ws_send(d, TextMessage(text))
    check("compressed text echo (%d bytes)" % len(text.encode()), cl.message(d) == text)
    wire = bytes(d.raw[before:])
    check("the echo came compressed: RSV1 set, %d bytes on the wire for %d" %
          (len(wire), len(text.encode())), len(wire) > 2 and wire[0] & 0x40 and
          len(wire) < len(text.encode()) // 4, wire[:4])
    a_raw = len(a.raw)
    cl.ws_send(a, TextMessage("x" * 1000))
    cl.message(a)
    check("uncompressed on a stream without it (RSV1 clear)", not a.raw[a_raw] & 0x40)
    return a, b, c, d


def slow_stream(cl, b):
    """A stream whose reader stops giving window back while another one echoes 1 MiB."""
    e = cl.open_ws("/slow")
    e.slow = True
    chunk = pattern(16384, 3)
    sent = 0
    end = time.monotonic() + STEP_TIMEOUT
    # Send echo requests until the server stops granting window: it stops taking e's input
    # once e's echoes wait (its send window is closed by the reader here).
    while time.monotonic() < end:
        frame = e.ws.send(BytesMessage(chunk))
        if cl.conn.local_flow_control_window(e.sid) < len(frame):
            # Round trips on another stream let every WINDOW_UPDATE in flight arrive.
            for _ in range(3):
                cl.ws_send(b, TextMessage("sync"))
                cl.message(b)
            if cl.conn.local_flow_control_window(e.sid) < len(frame):
                break
            continue  # the frame above was not sent (a whole message: wsproto keeps no state)
        cl.send(e, frame)
        sent += len(chunk)
    stalled = cl.conn.local_flow_control_window(e.sid) < 16384 + 14
    check("slow stream: the server stopped granting it window after %d KiB sent, %d KiB "
          "echoed and unread" % (sent // 1024, e.unacked // 1024), stalled, sent)
    check("slow stream: the server's buffering is bounded (< 2 MiB taken)", sent < (2 << 20),
          sent)
    big = pattern(1 << 20, 11)
    cl.ws_send(b, BytesMessage(big))
    check("another stream echoes 1 MiB while the slow one is stalled", cl.message(b) == big)
    check("the slow stream is still stalled", cl.conn.local_flow_control_window(e.sid) < 16384 + 14)
    # Now read it: give its window back, and everything comes, in order.
    e.slow = False
    cl.conn.increment_flow_control_window(e.unacked, stream_id=e.sid)
    e.unacked = 0
    cl.flush()
    got = 0
    ok = True
    while got < sent:
        m = cl.message(e)
        ok = ok and m == chunk
        got += len(m) if isinstance(m, bytes) else 1 << 30
    check("slow stream: all %d echoes arrive intact once read" % (sent // 16384), ok and got == sent)
    return e


def close_all(cl, streams):
    for st in streams:
        cl.ws_send(st, CloseConnection(code=1000, reason="bye"))
    for st in streams:
        m = cl.message(st)
        check("close echoed on stream %d (%s)" % (st.sid, getattr(m, "code", m)),
              isinstance(m, CloseConnection) and m.code == 1000, m)
        cl.conn.end_stream(st.sid)
        cl.flush()
    cl.wait(lambda: all(st.ended for st in streams), "END_STREAM on every stream")
    check("the server ended every stream after the close", True)


def malformed(port, ca):
    """Malformed or refused extended CONNECTs: the answers the server documents."""
    sock = tls_socket(port, ca, ["h2"])
    cl = Client(sock, validate=False)
    base = [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "https"),
            (":path", "/ws"), (":authority", "127.0.0.1"), ("sec-websocket-version", "13")]

    def without(name):
        return [h for h in base if h[0] != name]

    def replaced(name, value):
        return [(k, value if k == name else v) for k, v in base]

    cases = [
        ("unknown :protocol", replaced(":protocol", "not-websocket"), 501),
        ("no sec-websocket-version", without("sec-websocket-version"), 426),
        ("sec-websocket-version 8", replaced("sec-websocket-version", "8"), 426),
        ("CONNECT without :protocol (a proxy request)",
         [(":method", "CONNECT"), (":authority", "127.0.0.1:443")], 405),
        (":scheme ftp", replaced(":scheme", "ftp"), 400),
        ("bad sec-websocket-extensions", base + [("sec-websocket-extensions", "a;;b")], 400),
        ("sec-websocket-version twice", base + [("sec-websocket-version", "13")], 400),
        ("extended CONNECT without :path", without(":path"), "RST"),
        ("extended CONNECT without :scheme", without(":scheme"), "RST"),
        ("extended CONNECT without :authority", without(":authority"), "RST"),
        ("empty :authority", replaced(":authority", ""), "RST"),
        (":protocol on a GET", replaced(":method", "GET"), "RST"),
        ("uppercase field name", base + [("Sec-WebSocket-Protocol", "chat")], "RST"),
        ("connection-specific field", base + [("connection", "upgrade")], "RST"),
        ("upgrade field", base + [("upgrade", "websocket")], "RST"),
        ("pseudo-header after a regular field", without(":path") + [(":path", "/ws")], "RST"),
        ("repeated :protocol", base + [(":protocol", "websocket")], "RST"),
    ]
    for name, headers, want in cases:
        st = cl.request(headers, end_stream=False)
        cl.answered(st)
        if want == "RST":
            ok = st.reset == h2.errors.ErrorCodes.PROTOCOL_ERROR
            got = "RST_STREAM %s" % st.reset if st.reset is not None else st.headers
            check("malformed, %s: RST_STREAM PROTOCOL_ERROR" % name, ok, got)
        else:
            status = int(st.headers[b":status"]) if st.headers else None
            ok = status == want
            if want == 426:
                ok = ok and st.headers.get(b"sec-websocket-version") == b"13"
            check("refused, %s: %d" % (name, want), ok,
                  st.headers if st.headers else "RST_STREAM %s" % st.reset)
    check("the connection survived every stream error", cl.terminated is None, cl.terminated)
    st = Client.open_ws(cl)
    cl.ws_send(st, TextMessage("still here"))
    check("a valid extended CONNECT after them works", cl.message(st) == "still here")
    sock.close()


def pages(port, ca):
    sock = tls_socket(port, ca, ["h2"])
    cl = Client(sock)
    st = cl.answered(cl.request([(":method", "GET"), (":scheme", "https"), (":path", "/"),
                                 (":authority", "127.0.0.1")]))
    cl.wait(lambda: st.ended, "the page")
    check("GET / over h2: 200 text/html", st.headers[b":status"] == b"200" and
          st.headers[b"content-type"].startswith(b"text/html") and b"WebSocket" in st.body,
          st.headers)
    st = cl.answered(cl.request([(":method", "GET"), (":scheme", "https"), (":path", "/conn"),
                                 (":authority", "127.0.0.1")]))
    cl.wait(lambda: st.ended, "/conn")
    check("GET /conn over h2 (%s)" % st.body.decode().strip(),
          st.body.startswith(b"h2 conn=") and st.body.strip().endswith(b"tls=1"), st.body)
    st = cl.answered(cl.request([(":method", "GET"), (":scheme", "https"), (":path", "/nope"),
                                 (":authority", "127.0.0.1")]))
    check("GET /nope over h2: 404", st.headers[b":status"] == b"404")
    sock.close()
    # HTTP/1.1 by ALPN: the page, then a WebSocket upgrade on another connection.
    s = tls_socket(port, ca, ["http/1.1"])
    check("ALPN http/1.1 chosen when offered alone", s.selected_alpn_protocol() == "http/1.1",
          s.selected_alpn_protocol())
    s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    check("GET / over http/1.1: 200", data.startswith(b"HTTP/1.1 200 ") and b"WebSocket" in data,
          data[:40])
    s.close()
    s = tls_socket(port, ca, ["h2", "http/1.1"])
    check("ALPN h2 preferred", s.selected_alpn_protocol() == "h2", s.selected_alpn_protocol())
    s.close()
    try:
        s = tls_socket(port, ca, ["spdy/3", "h3"])
        check("ALPN with neither h2 nor http/1.1: no_application_protocol alert", False,
              "handshake completed with %r" % s.selected_alpn_protocol())
        s.close()
    except ssl.SSLError as ex:
        check("ALPN with neither h2 nor http/1.1: no_application_protocol alert",
              "NO APPLICATION PROTOCOL" in str(ex).upper().replace("_", " "), ex)
    s = tls_socket(port, ca, [])
    s.sendall(b"GET /conn HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    check("no ALPN at all: HTTP/1.1 (%s)" % data.split(b"\r\n\r\n", 1)[-1].strip().decode(),
          data.startswith(b"HTTP/1.1 200 ") and data.rstrip().endswith(b"tls=1"), data[:60])
    s.close()
    s = tls_socket(port, ca, ["http/1.1"])
    w = Connection(ConnectionType.CLIENT)
    s.sendall(b"GET /ws HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
              b"Sec-WebSocket-Version: 13\r\n\r\n")
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(4096)
    head, rest = data.split(b"\r\n\r\n", 1)
    check("HTTP/1.1 upgrade on the TLS port: 101", head.startswith(b"HTTP/1.1 101"), head[:40])
    s.sendall(w.send(TextMessage("transport?")))
    w.receive_data(rest)
    msgs = [e for e in w.events() if isinstance(e, TextMessage)]
    while not msgs:
        w.receive_data(s.recv(4096))
        msgs = [e for e in w.events() if isinstance(e, TextMessage)]
    check("the HTTP/1.1 WebSocket reports its transport (%s)" % msgs[0].data,
          msgs[0].data.startswith("http/1.1 conn=") and msgs[0].data.endswith("tls=1"))
    s.close()


def cleartext(ex_dir):
    p, port = start_server(ex_dir, ["--ping", "0.5"])
    stopped = False
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=STEP_TIMEOUT)
        cl = Client(sock)
        st = cl.open_ws()
        cl.ws_send(st, TextMessage("transport?"))
        t = cl.message(st)
        check("h2c prior knowledge (%s)" % t, t.startswith("h2c conn=") and t.endswith("tls=0"), t)
        # The stream's ws_conn runs its timers: the heartbeat ping comes (--ping 0.5), and is
        # answered (Client.handle).
        cl.wait(lambda: any(isinstance(e, Ping) for e in st.events), "a heartbeat ping")
        ping = [e for e in st.events if isinstance(e, Ping)][0]
        st.events = [e for e in st.events if not isinstance(e, Ping)]
        check("heartbeat ping on an h2 stream (%d-byte payload), answered" % len(ping.payload),
              True)
        close_all(cl, [st])
        # SIGTERM with a WebSocket open: close 1001 on it, GOAWAY, exit 0.
        st2 = cl.open_ws()
        cl.ws_send(st2, TextMessage("before the drain"))
        cl.message(st2)
        p.send_signal(signal.SIGTERM)
        m = cl.message(st2)
        check("SIGTERM: close 1001 on the open WebSocket (%s)" % getattr(m, "code", m),
              isinstance(m, CloseConnection) and m.code == 1001, m)
        cl.ws_send(st2, m.response())
        cl.conn.end_stream(st2.sid)
        cl.flush()
        cl.wait(lambda: cl.terminated is not None, "GOAWAY")
        check("SIGTERM: GOAWAY (%s)" % cl.terminated.error_code,
              cl.terminated.error_code == h2.errors.ErrorCodes.NO_ERROR, cl.terminated)
        try:
            rc = p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            rc = "still running 5 s after SIGTERM"
        stopped = True
        check("SIGTERM with a WebSocket open: exit 0", rc == 0, rc)
        sock.close()
    finally:
        if not stopped:
            stop_server(p, "h2c server")


CHROMIUM_PAGE = r"""<!doctype html>
<html><head><meta charset="utf-8"><title>libws h2</title></head><body><script>
"use strict";
const results = [];
function report(name, ok, why) { results.push({name, ok, why: ok ? "" : String(why)}); }
async function run() {
  const conn = (await (await fetch("/conn")).text()).trim();
  report("the page's /conn went over h2 (" + conn + ")", conn.startsWith("h2 conn="), conn);
  const ws = new WebSocket("wss://" + location.host + "/ws");
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
  ws.send("transport?");
  const t = await next();
  report("WebSocket transport is h2 (" + t + ")", t.startsWith("h2 conn="), t);
  const same = t.split(" ")[1] === conn.split(" ")[1];
  report("WebSocket on the page's own h2 connection", same, t + " vs " + conn);
  report("permessage-deflate agreed (" + ws.extensions + ")",
         ws.extensions.indexOf("permessage-deflate") === 0, ws.extensions);
  ws.send("hello over h2");
  report("text echo", (await next()) === "hello over h2", "differs");
  const b = new Uint8Array(1 << 20);
  for (let i = 0; i < b.length; i++) b[i] = (i * 31) & 255;
  ws.send(b);
  const g = new Uint8Array(await next());
  let ok = g.length === b.length;
  for (let i = 0; ok && i < b.length; i++) ok = g[i] === b[i];
  report("1 MiB binary echo", ok, "differs");
  ws.close(4321, "bye");
  const ev = await closed;
  report("clean close 4321", ev.code === 4321 && ev.wasClean, ev.code + " " + ev.wasClean);
}
async function main() {
  const guard = new Promise((_, bad) => setTimeout(() => bad("page timeout"), 30000));
  try { await Promise.race([run(), guard]); } catch (e) { report("script", false, e); }
  await fetch("/report", {method: "POST", body: JSON.stringify(results)});
}
main();
</script></body></html>
"""


def chromium(ex_dir, browser, cert, key):
    tmp = tempfile.mkdtemp(prefix="libws-h2-chromium-")
    page = os.path.join(tmp, "page.html")
    with open(page, "w") as f:
        f.write(CHROMIUM_PAGE)
    p, port = start_server(ex_dir, ["--deflate", "--max-message", "4M", "--tls-cert", cert,
                                    "--tls-key", key, "--page", page])
    args = [browser, "--headless", "--no-sandbox", "--disable-gpu",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-quic", "--no-first-run", "--disable-dev-shm-usage",
            "--ignore-certificate-errors", "--user-data-dir=" + os.path.join(tmp, "profile"),
            "https://127.0.0.1:%d/" % port]
    proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        r, _, _ = select.select([p.stdout], [], [], 60)
        line = p.stdout.readline() if r else ""
        if not line.startswith("report: "):
            check("chromium: results reported", False, line or "none within 60 s")
        else:
            results = json.loads(line[len("report: "):])
            check("chromium: results reported", len(results) > 0, line)
            for res in results:
                check("chromium: " + res["name"], res["ok"], res["why"])
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait(timeout=10)
        stop_server(p, "chromium's server")
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    ex_dir = sys.argv[1]
    browser = sys.argv[2] if len(sys.argv) > 2 and sys.argv[2] else None
    usage = subprocess.run([os.path.join(ex_dir, "h2-server"), "--help"], capture_output=True,
                           text=True).stdout
    if "this build has no TLS" in usage:
        # Built without TLS (make TLS=0): h2c and HTTP/1.1 only; no ALPN, no browser (they
        # speak HTTP/2 over TLS only).
        print("SKIP h2/TLS, ALPN and chromium: h2-server was built without TLS", flush=True)
        try:
            cleartext(ex_dir)
        except Exception as ex:
            check("h2c session", False, "%s: %s" % (type(ex).__name__, ex))
        print("h2: %d failed" % failures, flush=True)
        return 1 if failures else 0
    tmp = tempfile.mkdtemp(prefix="libws-h2-")
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    p, port = start_server(ex_dir, ["--deflate", "--max-message", "4M", "--tls-cert", cert,
                                    "--tls-key", key])
    try:
        sock = tls_socket(port, cert, ["h2", "http/1.1"])
        check("TLS, ALPN h2", sock.selected_alpn_protocol() == "h2", sock.selected_alpn_protocol())
        cl = Client(sock)
        check("SETTINGS_ENABLE_CONNECT_PROTOCOL = 1", cl.settings.get(8) == 1, cl.settings)
        a, b, c, d = multiplexed(cl)
        e = slow_stream(cl, b)
        close_all(cl, [a, b, c, d, e])
        sock.close()
        malformed(port, cert)
        pages(port, cert)
    except Exception as ex:  # a hang or a broken connection is a failure, with its reason
        check("session", False, "%s: %s" % (type(ex).__name__, ex))
    finally:
        stop_server(p, "TLS server")
    try:
        cleartext(ex_dir)
    except Exception as ex:
        check("h2c session", False, "%s: %s" % (type(ex).__name__, ex))
    if browser:
        try:
            chromium(ex_dir, browser, cert, key)
        except Exception as ex:
            check("chromium session", False, "%s: %s" % (type(ex).__name__, ex))
    shutil.rmtree(tmp, ignore_errors=True)
    print("h2: %d failed" % failures, flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
