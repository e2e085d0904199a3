#!/usr/bin/python3
"""Interop: a Python `websockets` server that `wsc --echo` (libws as a client) connects to.
Prints "listening on 127.0.0.1:PORT" first; then, on the first connection, sends text,
binary, 1 MiB, fragmented messages and a ping (compressed: permessage-deflate must be agreed), checks every echo, closes with code 3001 and
checks that wsc echoed the code. One "PASS/FAIL python-server <check>" line per check; exits
once the connection is done (or after 60 s).
With WS_TEST_CERT and WS_TEST_KEY (PEM files) set, it serves wss:// with that certificate
(and says which TLS version wsc agreed to).
"""
import asyncio
import os
import ssl
import sys

import websockets

TIMEOUT = 20
MIB = 1 << 20
LABEL = "python-server/wsc" + ("-tls" if os.environ.get("WS_TEST_CERT") else "")


def pattern(n, seed):
    return bytes((i * 31 + seed) & 0xFF for i in range(n))


async def run_checks(ws, report):
    async def echo(name, data):
        await asyncio.wait_for(ws.send(data), TIMEOUT)
        got = await asyncio.wait_for(ws.recv(), TIMEOUT)
        report(name, got == data, "echo differs (%d vs %d bytes)" % (len(got), len(data)))

    # wsc offers permessage-deflate by default and websockets accepts it by default.
    offer = ws.request_headers.get("Sec-WebSocket-Extensions", "")
    tls = ws.transport.get_extra_info("ssl_object")
    if tls is not None:
        report("over %s (%s)" % (tls.version(), tls.cipher()[0]),
               tls.version() in ("TLSv1.2", "TLSv1.3"), "version %s" % tls.version())
    report("permessage-deflate agreed (offer: %s)" % offer,
           any(e.name == "permessage-deflate" for e in ws.extensions), "not agreed")
    await echo("text", "hello from websockets \u00b5\u00df\u20ac\U0001F600")
    await echo("binary", pattern(4096, 5))
    await echo("1MiB text", "fedcba9876543210" * (MIB // 16))
    await echo("1MiB binary", pattern(MIB, 9))
    parts = ["frag-one ", "frag-two \u00e9", " frag-three"]
    await asyncio.wait_for(ws.send(iter(parts)), TIMEOUT)
    got = await asyncio.wait_for(ws.recv(), TIMEOUT)
    report("fragmented text", got == "".join(parts), "echo differs")
    bparts = [pattern(1000, k) for k in range(5)]
    await asyncio.wait_for(ws.send(iter(bparts)), TIMEOUT)
    got = await asyncio.wait_for(ws.recv(), TIMEOUT)
    report("fragmented binary", got == b"".join(bparts), "echo differs")
    waiter = await ws.ping(b"server-ping")
    await asyncio.wait_for(waiter, TIMEOUT)
    report("ping/pong", True, "")
    await asyncio.wait_for(ws.close(code=3001, reason="server done"), TIMEOUT)
    report("close 3001", ws.close_code == 3001, "client answered %s" % ws.close_code)


async def main():
    failed = []
    done = asyncio.get_running_loop().create_future()

    def report(name, ok, why):
        print("%s %s %s%s" % ("PASS" if ok else "FAIL", LABEL, name,
                              "" if ok else ": " + why), flush=True)
        if not ok:
            failed.append(name)

    async def handler(ws, path=None):
        try:
            await run_checks(ws, report)
        except Exception as e:  # noqa: BLE001 - any failure is a FAIL line
            report("messages", False, repr(e))
        finally:
            if not done.done():
                done.set_result(True)

    extra = {}
    if os.environ.get("WS_TEST_CERT"):
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(os.environ["WS_TEST_CERT"], os.environ["WS_TEST_KEY"])
        extra["ssl"] = ctx
    async with websockets.serve(handler, "127.0.0.1", 0, max_size=None,
                                ping_interval=None, close_timeout=TIMEOUT, **extra) as server:
        port = server.sockets[0].getsockname()[1]
        print("listening on 127.0.0.1:%d" % port, flush=True)
        try:
            await asyncio.wait_for(done, 60)
        except asyncio.TimeoutError:
            report("connection", False, "no client finished within 60 s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
