#!/usr/bin/python3
"""A small WebSocket echo server in the Python standard library, written apart from libws, with
one bug to plant at a time: the check that wsconform gives FAILED (or NON-STRICT) on the cases
Autobahn would, and passes the same server without the bug (make wsconform-run).

    broken_server.py [--port N] [--bug none|no-utf8-check|echo-close-code|tcp-first|
                      no-fail-fast|wrong-code]

--bug none: a strict echo server (no extensions): it fails the connection on every RFC 6455 rule
a client frame breaks, with the RFC's close code (1002 for frame rules, 1007 for invalid UTF-8
in text or a close reason), answers a close with 1000 and then closes TCP. The bugs:
    no-utf8-check    text is not validated: invalid UTF-8 is echoed
    no-fail-fast     text is validated only once the message is complete (not frame by frame)
    echo-close-code  a close frame is answered with its own payload, whatever the code or reason
    tcp-first        a close frame is answered by closing TCP, without the closing handshake
    wrong-code       every failure is closed with 1000 instead of the RFC's code
Prints "listening on 127.0.0.1:PORT"; exits on SIGTERM or after --lifetime seconds.
"""
import argparse
import base64
import codecs
import hashlib
import signal
import socket
import socketserver
import struct
import sys
import threading

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
BUG = "none"
MAX_MESSAGE = 16 << 20


class Fail(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


class Gone(Exception):
    pass


def utf8_ok(b):
    try:
        b.decode("utf-8", "strict")
        return True
    except UnicodeDecodeError:
        return False


class Conn:
    def __init__(self, sock, pending):
        self.sock = sock
        self.buf = bytearray(pending)

    def read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Gone()
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out

    def send(self, opcode, payload=b""):
        n = len(payload)
        if n < 126:
            head = struct.pack("!BB", 0x80 | opcode, n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x80 | opcode, 126, n)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
        self.sock.sendall(head + payload)

    def close_with(self, code):
        try:
            self.send(8, struct.pack("!H", 1000 if BUG == "wrong-code" else code))
            self.sock.shutdown(socket.SHUT_WR)
            while self.sock.recv(65536):  # to the client's end of file
                pass
        except OSError:
            pass

    def header(self):
        b0, b1 = self.read(2)
        fin, rsv, op = b0 >> 7, (b0 >> 4) & 7, b0 & 15
        masked, n = b1 >> 7, b1 & 127
        if n == 126:
            n = struct.unpack("!H", self.read(2))[0]
            if n < 126:
                raise Fail(1002)
        elif n == 127:
            n = struct.unpack("!Q", self.read(8))[0]
            if n < 65536 or n >> 63:
                raise Fail(1002)
        if rsv or op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15) or not masked:
            raise Fail(1002)
        if op >= 8 and (not fin or n > 125):
            raise Fail(1002)
        if n > MAX_MESSAGE:
            raise Fail(1009)
        return fin, op, n, self.read(4)

    def payload(self, n, key, check=None):
        """The frame's n payload bytes, unmasked; check(chunk) sees them as they arrive."""
        out = bytearray()
        while len(out) < n:
            if not self.buf:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise Gone()
                self.buf += chunk
            k = min(n - len(out), len(self.buf))
            piece = bytearray(self.buf[:k])
            del self.buf[:k]
            base = len(out)
            for i in range(k):
                piece[i] ^= key[(base + i) & 3]
            if check:
                check(bytes(piece))
            out += piece
        return bytes(out)


def session(c):
    msg_op, msg = None, bytearray()
    dec = None

    def check(chunk):
        try:
            dec.decode(chunk, final=False)
        except UnicodeDecodeError:
            raise Fail(1007)

    while True:
        fin, op, n, key = c.header()
        if op == 0 and msg_op is None:
            raise Fail(1002)
        if op in (1, 2) and msg_op is not None:
            raise Fail(1002)
        if op in (1, 2):
            dec = codecs.getincrementaldecoder("utf-8")("strict")
        text = (op == 1 or (op == 0 and msg_op == 1)) and BUG not in ("no-utf8-check",
                                                                       "no-fail-fast")
        data = c.payload(n, key, check if text else None)
        if op == 8:
            if BUG == "tcp-first":
                c.sock.close()
                raise Gone()
            if BUG == "echo-close-code":
                c.send(8, data)
            else:
                if len(data) == 1:
                    raise Fail(1002)
                if len(data) >= 2:
                    code = struct.unpack("!H", data[:2])[0]
                    if not (code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011)
                            or 3000 <= code <= 4999):
                        raise Fail(1002)
                    if not utf8_ok(data[2:]):
                        raise Fail(1007)
                c.send(8, struct.pack("!H", 1000))
            try:
                c.sock.shutdown(socket.SHUT_WR)
                while c.sock.recv(65536):
                    pass
            except OSError:
                pass
            raise Gone()
        if op == 9:
            c.send(10, data)
            continue
        if op == 10:
            continue
        if op != 0:
            msg_op = op
            msg = bytearray()
        msg += data
        if fin:
            if msg_op == 1:
                if BUG == "no-fail-fast" and not utf8_ok(bytes(msg)):
                    raise Fail(1007)
                if text:
                    try:
                        dec.decode(b"", final=True)
                    except UnicodeDecodeError:
                        raise Fail(1007)
            c.send(msg_op, bytes(msg))
            msg_op = None


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.settimeout(30)
        head = b""
        try:
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk or len(head) > 16384:
                    return
                head += chunk
        except OSError:
            return
        req, rest = head.split(b"\r\n\r\n", 1)
        key = None
        for line in req.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"sec-websocket-key":
                key = value.strip()
        if key is None:
            s.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
            return
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
        c = Conn(s, rest)
        try:
            session(c)
        except Fail as f:
            c.close_with(f.code)
        except (Gone, OSError, ValueError):
            pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    global BUG
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bug", default="none",
                    choices=["none", "no-utf8-check", "no-fail-fast", "echo-close-code",
                             "tcp-first", "wrong-code"])
    ap.add_argument("--lifetime", type=float, default=600)
    args = ap.parse_args()
    BUG = args.bug
    srv = Server(("127.0.0.1", args.port), Handler)
    print("listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    timer = threading.Timer(args.lifetime, srv.shutdown)
    timer.daemon = True
    timer.start()
    srv.serve_forever()
    srv.server_close()
    sys.exit(0)


if __name__ == "__main__":
    main()
