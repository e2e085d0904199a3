#!/usr/bin/python3
"""An echo server on Python `websockets` (Debian: python3-websockets) for wsconform's peer runs
(peers.sh): permessage-deflate as the library offers it, messages up to 64 MiB (group 9 sends
16 MiB). Prints "listening on 127.0.0.1:PORT"; exits after --lifetime seconds."""
import argparse
import asyncio
import sys

import websockets


async def echo(ws, *_path):
    try:
        async for message in ws:
            await ws.send(message)
    except websockets.ConnectionClosed:
        pass


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--lifetime", type=float, default=900)
    args = ap.parse_args()
    async with websockets.serve(echo, "127.0.0.1", args.port, max_size=64 << 20,
                                compression="deflate") as server:
        port = server.sockets[0].getsockname()[1]
        print("listening on 127.0.0.1:%d (websockets %s)" % (port, websockets.__version__),
              flush=True)
        await asyncio.sleep(args.lifetime)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
