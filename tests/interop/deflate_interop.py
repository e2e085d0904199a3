#!/usr/bin/python3
"""permessage-deflate interop peer for tests/test_deflate.c, on python3-websockets.

  deflate_interop.py server      echo server on 127.0.0.1, ephemeral port; prints "port N"
                                 then serves until stdin closes (or 20 s pass)
  deflate_interop.py client URL  connects, checks permessage-deflate was agreed, sends text and
                                 binary messages of several sizes, checks each echo, closes

Both sides use websockets' default compression settings (its client offers
"permessage-deflate; client_max_window_bits"). Loopback only, bounded in time.
"""
import asyncio
import sys

import websockets
from websockets.extensions.permessage_deflate import PerMessageDeflate


def payloads():
    text = "".join("line %d: the quick brown fox jumps over the lazy dog\n" % i
                   for i in range(3000))
    yield "Hello"
    yield text[:100]
    yield text
    yield "\u00e9t\u00e9 \u2603 " * 500
    yield bytes(range(256)) * 40
    yield bytes(70000)
    yield ""


async def serve():
    async def echo(ws):
        async for msg in ws:
            await ws.send(msg)

    async with websockets.serve(echo, "127.0.0.1", 0, max_size=2**24) as server:
        port = server.sockets[0].getsockname()[1]
        print("port %d" % port, flush=True)
        loop = asyncio.get_running_loop()
        eof = loop.run_in_executor(None, sys.stdin.read)
        await asyncio.wait_for(eof, 20)


async def client(url):
    async with websockets.connect(url, max_size=2**24, open_timeout=10) as ws:
        if not any(isinstance(e, PerMessageDeflate) for e in ws.extensions):
            print("permessage-deflate not negotiated", file=sys.stderr)
            return 1
        for p in payloads():
            await ws.send(p)
            back = await asyncio.wait_for(ws.recv(), 10)
            if back != p:
                print("echo mismatch for a %s of %d" % (type(p).__name__, len(p)),
                      file=sys.stderr)
                return 1
    print("ok", flush=True)
    return 0


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "server":
        try:
            asyncio.run(serve())
        except asyncio.TimeoutError:
            pass
        return 0
    if len(sys.argv) == 3 and sys.argv[1] == "client":
        return asyncio.run(asyncio.wait_for(client(sys.argv[2]), 20))
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
