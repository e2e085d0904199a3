#!/usr/bin/python3
"""An echo client on Python `websockets` (Debian: python3-websockets), for wsfuzz --listen
(peers.sh python-client): connects to the URL given, sends every message back, ends when the
connection closes. Defaults as the library ships them (max_size 1 MiB; permessage-deflate
offered, which wsfuzz accepts only with --deflate). Gives up after --lifetime seconds."""
import argparse
import asyncio
import sys

import websockets


async def echo(url):
    try:
        async with websockets.connect(url) as ws:
            async for message in ws:
                await ws.send(message)
    except (websockets.ConnectionClosed, websockets.InvalidHandshake, OSError):
        pass


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--lifetime", type=float, default=60)
    args = ap.parse_args()
    try:
        await asyncio.wait_for(echo(args.url), args.lifetime)
    except asyncio.TimeoutError:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
