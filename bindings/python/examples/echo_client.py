#!/usr/bin/env python3
"""A client on libws.asyncio that echoes what the server sends, with wsc's command line (so
tests/conformance can use it as its client under test):

    echo_client.py --echo [--max-message BYTES] [--no-deflate] ws://host:port/path

Offers permessage-deflate unless --no-deflate (like wsc when the library has zlib); exits
when the connection is closed (status 0 after a close handshake, 1 otherwise).
"""

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import libws  # noqa: E402
import libws.asyncio as ws  # noqa: E402


async def main(args):
    options = {"max_message_size": args.max_message}
    if not args.no_deflate and libws.deflate_available():
        options["deflate"] = True
    conn = await ws.connect(args.url, **options)
    try:
        async for message in conn:
            if args.echo:
                await conn.send(message)
    except ws.ConnectionClosedError:
        pass
    await conn.wait_closed()
    return 0 if conn.close_code not in (None, 1006) else 1


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="echo client on libws.asyncio")
    ap.add_argument("--echo", action="store_true")
    ap.add_argument("--max-message", type=int, default=1 << 20)
    ap.add_argument("--no-deflate", action="store_true")
    ap.add_argument("url")
    sys.exit(asyncio.run(main(ap.parse_args())))
