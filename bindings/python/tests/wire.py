"""Raw frames for tests: what a misbehaving peer would put on the wire."""

import os
import struct


def frame(opcode, payload=b"", *, fin=True, mask=True, rsv=0, key=None, length=None):
    """Encode one frame as a client (masked) or server (unmasked) would, or deliberately
    wrong (any opcode, RSV bits, a forced 16/64-bit length)."""
    b0 = (0x80 if fin else 0) | (rsv << 4) | (opcode & 0x0F)
    n = len(payload)
    out = bytearray([b0])
    mbit = 0x80 if mask else 0
    if length == 8 or (length is None and n > 0xFFFF):
        out += bytes([mbit | 127]) + struct.pack("!Q", n)
    elif length == 2 or (length is None and n > 125):
        out += bytes([mbit | 126]) + struct.pack("!H", n)
    else:
        out += bytes([mbit | n])
    if mask:
        key = key or os.urandom(4)
        out += key
        payload = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    out += payload
    return bytes(out)


def parse(data):
    """Unmasked or masked frames in data -> list of (opcode, fin, payload)."""
    out = []
    i = 0
    while i + 2 <= len(data):
        b0, b1 = data[i], data[i + 1]
        n = b1 & 0x7F
        j = i + 2
        if n == 126:
            n = struct.unpack("!H", data[j : j + 2])[0]
            j += 2
        elif n == 127:
            n = struct.unpack("!Q", data[j : j + 8])[0]
            j += 8
        key = None
        if b1 & 0x80:
            key = data[j : j + 4]
            j += 4
        p = data[j : j + n]
        if key:
            p = bytes(c ^ key[k & 3] for k, c in enumerate(p))
        out.append((b0 & 0x0F, bool(b0 & 0x80), p))
        i = j + n
    return out


def close_code_of(data):
    """The status code of the first close frame in data, or None."""
    for op, _, p in parse(data):
        if op == 8:
            return struct.unpack("!H", p[:2])[0] if len(p) >= 2 else 1005
    return None
