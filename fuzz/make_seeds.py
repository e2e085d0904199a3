#!/usr/bin/env python3
"""Writes the hand-made seeds of the fuzz targets added with issue #8 (conn server/client, URI,
UTF-8, client handshake). Run from the repository root: python3 fuzz/make_seeds.py
Existing files are overwritten; minimized inputs (from -merge=1) live beside them."""
import base64
import hashlib
import os
import struct

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def put(target, name, data):
    d = os.path.join("fuzz", "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frame(op, payload=b"", fin=True, mask=None, rsv=0):
    b0 = (0x80 if fin else 0) | rsv | op
    n = len(payload)
    m = 0x80 if mask is not None else 0
    if n < 126:
        h = bytes([b0, m | n])
    elif n < 65536:
        h = bytes([b0, m | 126]) + struct.pack(">H", n)
    else:
        h = bytes([b0, m | 127]) + struct.pack(">Q", n)
    if mask is None:
        return h + payload
    return h + bytes(mask) + bytes(c ^ mask[i % 4] for i, c in enumerate(payload))


def accept_for(key_b64):
    return base64.b64encode(hashlib.sha1(key_b64 + GUID).digest())


# The conn fuzzer's random hook gives byte i = i*37+11: its client key is fixed.
CLIENT_KEY = base64.b64encode(bytes((i * 37 + 11) & 0xFF for i in range(16)))
MASK = b"\x37\xfa\x21\x3d"

REQUEST = (b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
           b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           b"Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
           b"Sec-WebSocket-Version: 13\r\n\r\n")


def response(proto=b"chat"):
    r = (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Accept: " + accept_for(CLIENT_KEY) + b"\r\n")
    if proto:
        r += b"Sec-WebSocket-Protocol: " + proto + b"\r\n"
    return r + b"\r\n"


def session(masked):
    m = MASK if masked else None
    s = frame(1, b"Hello", mask=m)
    s += frame(2, bytes(range(200)), mask=m)
    s += frame(1, b"Hel", fin=False, mask=m) + frame(9, b"ping!", mask=m)
    s += frame(0, b"lo \xe2\x82", fin=False, mask=m) + frame(0, b"\xac!", mask=m)
    s += frame(10, b"\x00\x00\x00\x00\x00\x00\x00\x01", mask=m)
    s += frame(2, b"x" * 300, mask=m)
    s += frame(8, b"\x03\xe8bye", mask=m)
    return s


def conn_seeds(target, masked, prefix):
    m = MASK if masked else None
    # config byte, two schedule bytes, then the wire
    put(target, "session", b"\x00\x12\x34" + prefix + session(masked))
    put(target, "session_streaming_small", b"\x12\x56\x78" + prefix + session(masked))
    put(target, "session_timers", b"\x20\x9a\xbc" + prefix + session(masked)[:-9])
    put(target, "open_frames", b"\x01\x00\x01" + session(masked))
    put(target, "open_refuse", b"\x41\x00\x02" + frame(1, b"no", mask=m))
    put(target, "open_nopong_lenient", b"\x0d\x01\x00" +
        b"\x89\xfe\x00\x03" + (MASK + b"abc" if masked else b"") +
        frame(9, b"", mask=m) + frame(8, b"", mask=m))
    put(target, "bad_close_code", b"\x01\x03\x03" + frame(8, b"\x03\xed", mask=m))
    put(target, "bad_close_1byte", b"\x01\x04\x04" + frame(8, b"\x03", mask=m))
    put(target, "bad_utf8_close", b"\x01\x05\x05" + frame(8, b"\x03\xe8\xff", mask=m))
    put(target, "bad_utf8_text", b"\x01\x06\x06" + frame(1, b"\xed\xa0\x80", mask=m))
    put(target, "bad_continuation", b"\x01\x07\x07" + frame(0, b"x", mask=m))
    put(target, "bad_rsv", b"\x01\x08\x08" + frame(1, b"x", mask=m, rsv=0x40))
    put(target, "too_big", b"\x11\x09\x09" + frame(2, b"y" * 150, mask=m))
    put(target, "wrong_masking", b"\x01\x0a\x0a" + frame(1, b"x", mask=None if masked else MASK))
    put(target, "ping_flood", b"\x11\x0b\x0b" + frame(9, b"z" * 125, mask=m) * 40)


conn_seeds("fuzz_conn_server", True, REQUEST)
conn_seeds("fuzz_conn_client", False, response())
put("fuzz_conn_server", "reject", b"\x80\x01\x01" + REQUEST + session(True))
put("fuzz_conn_server", "bad_request", b"\x00\x01\x01" + b"POST / HTTP/1.1\r\n\r\n")
put("fuzz_conn_client", "no_subprotocol", b"\x00\x01\x01" + response(None) + session(False))
put("fuzz_conn_client", "status_403", b"\x00\x01\x01" +
    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 3\r\n\r\nno!")
put("fuzz_conn_client", "bad_accept", b"\x00\x01\x01" +
    response().replace(accept_for(CLIENT_KEY), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))

# URI: whole strings, the first byte picks how the harness uses them
for i, u in enumerate([b"ws://example.com/chat", b"wss://[::1]:8443/a/b?c=d&e=%20",
                       b"WS://Host.Example:80", b"ws://127.0.0.1:65535/?", b"ws://h/p#frag",
                       b"ws://user@h/", b"ws://h:0/", b"http://h/", b"ws://[v1.x]/",
                       b"ws://[fe80::1%25eth0]/", b"ws://h/%zz", b"wss://a.b.c:443/x?y#"]):
    put("fuzz_uri", "uri%02d" % i, bytes([i]) + u)
# found by fuzz_uri: a request longer than the server's default 8 KiB limit (harness fixed)
put("fuzz_uri", "long_path", b"\x09ws://'F/" + b"ws43/'%25" * 1200)

# UTF-8: a mode byte (split pattern), then the text
for i, t in enumerate([b"plain ascii " * 3, "h\u00e9llo w\u20acrld \U0001F600".encode(),
                       b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xe0\x80\xaf", b"\xc0\xaf",
                       b"\xf0\x9f\x98", b"\xef\xbb\xbf\xe2\x80\x8b", b"a" * 70 + b"\xc3\xa9" * 20,
                       b"\xf8\x88\x80\x80\x80", b"\x80", b"\xf3\xbf\xbf\xbf\xed\x9f\xbf"]):
    put("fuzz_utf8", "utf8_%02d" % i, bytes([i * 7]) + t)

# Client handshake: byte 0 = offers/limits/split, then the server's response
put("fuzz_handshake_client", "ok_chat", b"\x00" + response())
put("fuzz_handshake_client", "ok_none", b"\x01" + response(None))
put("fuzz_handshake_client", "ok_deflate", b"\x06" + response(None)[:-2] +
    b"Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; "
    b"client_max_window_bits=10\r\n\r\n")
put("fuzz_handshake_client", "not_offered", b"\x00" + response(b"other"))
put("fuzz_handshake_client", "redirect", b"\x10" +
    b"HTTP/1.1 302 Found\r\nLocation: ws://elsewhere/\r\nContent-Length: 5\r\n\r\nmoved")
put("fuzz_handshake_client", "split", b"\xf8" + response() + frame(1, b"pipelined"))

# permessage-deflate: byte 0 = config, then messages (2-byte length, flag byte, payload)
import zlib


def deflate_raw(data, wbits=15, sync_only=False):
    c = zlib.compressobj(6, zlib.DEFLATED, -wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def msg(payload, text=True, plain=False):
    return struct.pack(">H", len(payload)) + bytes([(1 if text else 0) | (2 if plain else 0)]) + payload


HELLO = "Hello, w\u00f6rld! ".encode() * 20
put("fuzz_deflate", "hello", b"\x00" + msg(deflate_raw(b"Hello")))
put("fuzz_deflate", "rfc7692_example", b"\x00" + msg(b"\xf2\x48\xcd\xc9\xc9\x07\x00"))
put("fuzz_deflate", "two_messages_takeover", b"\x00" + msg(deflate_raw(HELLO)) +
    msg(b"\xf2\x00\x11\x00\x00"))  # the RFC's "Hello" referencing the previous message
put("fuzz_deflate", "no_takeover_small_window", b"\x05" + msg(deflate_raw(HELLO, 12)) +
    msg(deflate_raw(b"again " * 50, 12), text=False))
put("fuzz_deflate", "window8_fragments", b"\x33" + msg(deflate_raw(bytes(range(256)) * 4, 9), text=False))
put("fuzz_deflate", "plain_and_compressed", b"\x10" + msg(b"plain text", plain=True) +
    msg(deflate_raw(b"x" * 5000)))
put("fuzz_deflate", "bomb_limited", b"\x08" + msg(deflate_raw(b"\x00" * 60000), text=False))
put("fuzz_deflate", "bad_data", b"\x00" + msg(b"\xff\xff\xff\xff"))
put("fuzz_deflate", "bad_utf8", b"\x00" + msg(deflate_raw(b"\xed\xa0\x80")))
put("fuzz_deflate", "empty", b"\x00" + msg(b"\x00") + msg(b"", text=False))
put("fuzz_deflate", "stored_block", b"\x20" + msg(b"\x00\x05\x00\xfa\xffhello"))
