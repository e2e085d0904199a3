#!/usr/bin/python3
"""An echo client on Python `websockets` (Debian: python3-websockets), for wsfuzz --listen
(peers.sh python-client): connects to the URL given, sends every message back, ends when the
connection closes. Defaults as the library ships them (max_size 1 MiB; permessage-deflate
offered, which wsfuzz accepts only with --deflate). Exits after --lifetime seconds at most."""
import argparse
import asyncio
import sys

import websockets


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--lifetime", type=float, default=60)
    args = ap.parse_args()
    try:
        async with websockets.connect(args.url) as ws:
            async for message in ws:
                await ws.send(message)
    except (websockets.ConnectionClosed, websockets.InvalidHandshake, OSError):
        pass


if __name__ == "__main__":
    try:
        asyncio.run(asyncio.wait_for(main(), 60))
    except asyncio.TimeoutError:
        sys.exit(1)
