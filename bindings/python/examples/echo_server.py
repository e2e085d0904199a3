#!/usr/bin/env python3
"""An echo server on libws.asyncio, with the command line of the C examples' echo servers
(so tests/conformance can drive it like echo-epoll):

    echo_server.py [--host 127.0.0.1] [--port 9001] [--max-message BYTES]
                   [--deflate | --no-deflate]

permessage-deflate is on by default when the library has zlib, as in the C examples.

Prints "listening on HOST:PORT" once it listens (port 0: any free port); SIGTERM or SIGINT
close every connection with 1001 and exit.
"""

import argparse
import asyncio
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import libws  # noqa: E402
import libws.asyncio as ws  # noqa: E402


async def echo(conn):
    async for message in conn:
        await conn.send(message)


async def main(args):
    options = {"max_message_size": args.max_message}
    if libws.deflate_available() and not args.no_deflate:
        options["deflate"] = True
    server = await ws.serve(echo, args.host, args.port, **options)
    print(f"listening on {args.host}:{server.port}", flush=True)
    stop = asyncio.get_running_loop().create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.cancel)
    try:
        await stop
    except asyncio.CancelledError:
        pass
    server.close(1001, "server shutting down")
    await asyncio.wait_for(server.wait_closed(), 5)


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="echo server on libws.asyncio")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=9001)
    ap.add_argument("--max-message", type=int, default=1 << 20)
    ap.add_argument("--deflate", action="store_true", help="the default")
    ap.add_argument("--no-deflate", action="store_true")
    asyncio.run(main(ap.parse_args()))
