#!/usr/bin/python3
"""Interop: the Python `websockets` client against a libws echo server (directly, or through
a reverse proxy). Usage: py_client.py LABEL ws[s]://127.0.0.1:PORT/

For wss:// the server's certificate is verified against the CA file named by WS_TEST_CA (a
test CA the caller generated), host name included.

One line per check, "PASS <label> <check>" or "FAIL <label> <check>: why"; exit 1 on any
failure. Every wait is bounded.
"""
import asyncio
import os
import ssl
import sys

import websockets

TIMEOUT = 20
MIB = 1 << 20


def pattern(n, seed):
    """n bytes that are not all the same, so a corrupted echo shows."""
    return bytes((i * 31 + seed) & 0xFF for i in range(n))


async def echo(ws, data):
    await asyncio.wait_for(ws.send(data), TIMEOUT)
    return await asyncio.wait_for(ws.recv(), TIMEOUT)


def tls_args(url):
    """wss://: a context that trusts the test CA only and checks the host name."""
    if not url.startswith("wss:"):
        return {}
    ctx = ssl.create_default_context(cafile=os.environ["WS_TEST_CA"])
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return {"ssl": ctx}


async def check_messages(url):
    results = []
    async with websockets.connect(url, max_size=None, open_timeout=TIMEOUT,
                                  close_timeout=TIMEOUT, ping_interval=None,
                                  **tls_args(url)) as ws:
        # websockets offers permessage-deflate by default and libws's echo servers accept
        # it: every message below then goes compressed both ways.
        agreed = ws.response_headers.get("Sec-WebSocket-Extensions", "")
        results.append(("permessage-deflate agreed (%s)" % agreed,
                        any(e.name == "permessage-deflate" for e in ws.extensions)))
        text = "hello from websockets \u00b5\u00df\u20ac\U0001F600"
        results.append(("text", await echo(ws, text) == text))
        blob = pattern(4096, 7)
        results.append(("binary", await echo(ws, blob) == blob))
        big_text = ("0123456789abcdef" * (MIB // 16))
        results.append(("1MiB text", await echo(ws, big_text) == big_text))
        big_bin = pattern(MIB, 3)
        results.append(("1MiB binary", await echo(ws, big_bin) == big_bin))
        # An iterable is sent as one fragmented message, a frame per item.
        parts = ["frag-one ", "frag-two \u00e9", " frag-three"]
        await asyncio.wait_for(ws.send(iter(parts)), TIMEOUT)
        got = await asyncio.wait_for(ws.recv(), TIMEOUT)
        results.append(("fragmented text", got == "".join(parts)))
        bparts = [pattern(1000, k) for k in range(5)]
        await asyncio.wait_for(ws.send(iter(bparts)), TIMEOUT)
        got = await asyncio.wait_for(ws.recv(), TIMEOUT)
        results.append(("fragmented binary", got == b"".join(bparts)))
        waiter = await ws.ping(b"interop-ping")
        await asyncio.wait_for(waiter, TIMEOUT)
        results.append(("ping/pong", True))
        if url.startswith("wss:"):
            tls = ws.transport.get_extra_info("ssl_object")
            results.append(("over %s (%s)" % (tls.version(), tls.cipher()[0]),
                            tls.version() in ("TLSv1.2", "TLSv1.3")))
        await asyncio.wait_for(ws.close(code=1000, reason="done"), TIMEOUT)
        results.append(("close 1000", ws.close_code == 1000))
    return results


async def check_close_code(url, code):
    async with websockets.connect(url, open_timeout=TIMEOUT, close_timeout=TIMEOUT,
                                  ping_interval=None, **tls_args(url)) as ws:
        await asyncio.wait_for(ws.close(code=code, reason="bye"), TIMEOUT)
        return ws.close_code == code, "server answered %s" % ws.close_code


async def main():
    label, url = sys.argv[1], sys.argv[2]
    failed = 0
    try:
        for name, ok in await check_messages(url):
            print("%s %s %s" % ("PASS" if ok else "FAIL", label, name), flush=True)
            failed += not ok
    except Exception as e:  # noqa: BLE001 - any failure is a FAIL line
        print("FAIL %s messages: %r" % (label, e), flush=True)
        failed += 1
    for code in (1001, 3000, 4999):
        try:
            ok, why = await check_close_code(url, code)
        except Exception as e:  # noqa: BLE001
            ok, why = False, repr(e)
        print("%s %s close %d%s" % ("PASS" if ok else "FAIL", label, code,
                                    "" if ok else ": " + why), flush=True)
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(asyncio.wait_for(main(), 120)))
