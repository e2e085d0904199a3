#!/usr/bin/python3
"""A small WebSocket echo server in the Python standard library, written apart from libws, with
bugs to switch on: the check that wsfuzz passes a correct server it did not write and catches
one that answers wrongly (make wsfuzz-run).

    ref_server.py [--bug none|wrong-code|no-utf8-check|corrupt-echo|masked-frames|no-close]

--bug none (the default) is a strict server: it fails the connection on every RFC 6455 rule a
client frame breaks (RSV bits, reserved opcodes, non-minimal or top-bit lengths, unmasked
frames, control frames fragmented or over 125 bytes, fragmentation order, invalid UTF-8, close
payloads), with the RFC's code, then shuts its side down and reads to the client's end of file.
The bugs:
    wrong-code     every failure closed with 1000 instead of the RFC's code
    no-utf8-check  text is not validated: invalid UTF-8 is echoed
    corrupt-echo   echoes of messages of 64 bytes or more have a byte changed
    masked-frames  the server masks its frames (a client must fail on that)
    no-close       failures drop the TCP connection without a close frame, and a normal close
                   is not answered either
Prints "listening on 127.0.0.1:PORT" first; exits on SIGTERM or after --lifetime seconds.
"""
import argparse
import base64
import codecs
import hashlib
import os
import socket
import socketserver
import struct
import sys
import threading

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE = 1 << 20
BUG = "none"


class Fail(Exception):
    def __init__(self, code):
        super().__init__(code)
        self.code = code


class Closed(Exception):
    pass


class Reader:
    def __init__(self, sock, pending):
        self.sock = sock
        self.buf = bytearray(pending)

    def read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed()
            self.buf += chunk
        out = bytes(self.buf[:n])
        del self.buf[:n]
        return out


def valid_close_code(code):
    return (1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999)


def frame(op, payload, fin=True):
    b0 = (0x80 if fin else 0) | op
    n = len(payload)
    mask_bit = 0x80 if BUG == "masked-frames" else 0
    if n < 126:
        head = struct.pack(">BB", b0, mask_bit | n)
    elif n < 65536:
        head = struct.pack(">BBH", b0, mask_bit | 126, n)
    else:
        head = struct.pack(">BBQ", b0, mask_bit | 127, n)
    if mask_bit:
        key = os.urandom(4)
        payload = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
        head += key
    return head + payload


def close_frame(code):
    return frame(0x8, struct.pack(">H", code))


def linger(sock):
    """Shut our side down and read to the client's end of file (at most 2 s), so that unread
    input does not turn the close into a reset."""
    try:
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(2)
        for _ in range(64):
            if not sock.recv(65536):
                break
    except OSError:
        pass


def handshake(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk or len(data) > 16384:
            return None
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    key = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    if key is None:
        sock.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        return None
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    sock.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n")
    return rest


def serve(sock):
    rest = handshake(sock)
    if rest is None:
        return
    rd = Reader(sock, rest)
    msg_op, parts, utf8 = None, [], None
    while True:
        b0, b1 = rd.read(2)
        fin, rsv, op = b0 >> 7, (b0 >> 4) & 7, b0 & 15
        masked, n = b1 >> 7, b1 & 127
        if rsv or op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15) or not masked:
            raise Fail(1002)
        if op >= 8 and (not fin or n > 125):
            raise Fail(1002)
        if n == 126:
            n = struct.unpack(">H", rd.read(2))[0]
            if n < 126:
                raise Fail(1002)
        elif n == 127:
            n = struct.unpack(">Q", rd.read(8))[0]
            if n >> 63 or n < 65536:
                raise Fail(1002)
        if n > MAX_MESSAGE:
            raise Fail(1009)
        key = rd.read(4)
        payload = bytes(b ^ key[i & 3] for i, b in enumerate(rd.read(n)))
        if op == 0x8:
            if len(payload) == 1:
                raise Fail(1002)
            code = struct.unpack(">H", payload[:2])[0] if payload else None
            if code is not None and not valid_close_code(code):
                raise Fail(1002)
            try:
                payload[2:].decode("utf-8")
            except UnicodeDecodeError:
                raise Fail(1007) from None
            if BUG != "no-close":
                sock.sendall(close_frame(code) if code else frame(0x8, b""))
            return
        if op == 0x9:
            sock.sendall(frame(0xA, payload))
            continue
        if op == 0xA:
            continue
        if op == 0x0:
            if msg_op is None:
                raise Fail(1002)
        else:
            if msg_op is not None:
                raise Fail(1002)
            msg_op, parts = op, []
            utf8 = codecs.getincrementaldecoder("utf-8")() if op == 0x1 else None
        parts.append(payload)
        if sum(len(p) for p in parts) > MAX_MESSAGE:
            raise Fail(1009)
        if utf8 is not None and BUG != "no-utf8-check":
            try:
                utf8.decode(payload, final=bool(fin))
            except UnicodeDecodeError:
                raise Fail(1007) from None
        if fin:
            msg = b"".join(parts)
            if BUG == "corrupt-echo" and len(msg) >= 64:
                msg = msg[:40] + bytes([msg[40] ^ 0x20]) + msg[41:]
            sock.sendall(frame(msg_op, msg))
            msg_op, parts = None, []


class Handler(socketserver.BaseRequestHandler):
    def handle(self):
        sock = self.request
        sock.settimeout(10)
        try:
            serve(sock)
        except Fail as f:
            if BUG != "no-close":
                try:
                    sock.sendall(close_frame(1000 if BUG == "wrong-code" else f.code))
                except OSError:
                    return
        except (Closed, OSError):
            return
        if BUG == "no-close":
            return
        linger(sock)


class Server(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True


def main():
    global BUG
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bug", default="none", choices=["none", "wrong-code", "no-utf8-check",
                                                      "corrupt-echo", "masked-frames",
                                                      "no-close"])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--lifetime", type=float, default=300)
    args = ap.parse_args()
    BUG = args.bug
    srv = Server(("127.0.0.1", args.port), Handler)
    print("listening on 127.0.0.1:%d" % srv.server_address[1], flush=True)
    threading.Timer(args.lifetime, lambda: os._exit(0)).start()
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
