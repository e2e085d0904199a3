#!/usr/bin/python3
"""An Autobahn-style client test script on Python `websockets`, for wsconform's server mode:
/getCaseCount, then /runCase?case=N&agent=A for each case (echoing every message), then
/updateReports?agent=A&shutdownOnComplete=true -- the URL protocol client scripts use against
Autobahn's fuzzingserver.

    py_client.py ws://127.0.0.1:9001 AGENT
"""
import asyncio
import sys

import websockets

OPTS = dict(max_size=64 << 20, compression="deflate", open_timeout=20, close_timeout=5)


async def run_case(url):
    try:
        async with websockets.connect(url, **OPTS) as ws:
            async for message in ws:
                await ws.send(message)
    except (websockets.WebSocketException, OSError, asyncio.TimeoutError):
        pass  # the case is judged on the server's side


async def main(base, agent):
    async with websockets.connect(base + "/getCaseCount", **OPTS) as ws:
        count = int(await ws.recv())
    print("%d cases" % count, flush=True)
    for i in range(1, count + 1):
        await asyncio.wait_for(run_case("%s/runCase?case=%d&agent=%s" % (base, i, agent)), 600)
    async with websockets.connect(base + "/updateReports?agent=%s&shutdownOnComplete=true"
                                  % agent, **OPTS) as ws:
        await ws.wait_closed()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
