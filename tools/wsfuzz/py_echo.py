#!/usr/bin/python3
"""An echo server on Python `websockets` (Debian: python3-websockets), for wsfuzz (peers.sh).
Defaults as the library ships them (max_size 1 MiB, no compression unless offered, which wsfuzz
does not). Prints "listening on 127.0.0.1:PORT" first; exits after --lifetime seconds."""
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
    ap.add_argument("--lifetime", type=float, default=1800)
    args = ap.parse_args()
    async with websockets.serve(echo, "127.0.0.1", args.port) as server:
        port = server.sockets[0].getsockname()[1]
        print("listening on 127.0.0.1:%d (websockets %s)" % (port, websockets.__version__),
              flush=True)
        await asyncio.sleep(args.lifetime)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
