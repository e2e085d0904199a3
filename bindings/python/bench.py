#!/usr/bin/env python3
"""Echo benchmark: the binding's asyncio echo server against websockets' own, side by side.

Each server runs alone in a child process pinned to CPU 0; the load generator runs in this
process, pinned to CPU 1 (when there are two): N connections (default 100), each keeping M
binary messages of S bytes in flight (default 16 x 16 B; closed loop: every echo sends the
next one), over loopback. Each repetition measures both servers back to back (the order
alternates) for a fixed window; the figures are medians. Everything is bounded in time and
the children are killed at the end.

    python3 bench.py [--conns 100] [--inflight 16] [--size 16] [--seconds 2] [--reps 3]
    python3 bench.py --quick          # 1 s windows, 1 repetition
    python3 bench.py --decode         # sans-I/O decode throughput against wsproto

The generator is deliberately lean (prebuilt masked frames, echoes counted by length, no
WebSocket library on its side), so it is not what limits the figures: its own CPU time is
printed beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))

# ---- servers (run as children: bench.py --serve NAME) ----


async def _serve_libws(port: int) -> None:
    sys.path.insert(0, HERE)
    import libws.asyncio as la

    async def echo(ws):
        async for m in ws:
            await ws.send(m)

    server = await la.serve(echo, "127.0.0.1", port)
    print(f"listening on 127.0.0.1:{server.port}", flush=True)
    await server.serve_forever()


async def _serve_websockets(port: int) -> None:
    import logging

    import websockets

    # the generator aborts its connections at the end of a window: not worth a traceback each
    logging.getLogger("websockets").setLevel(logging.CRITICAL)

    async def echo(ws, path=None):
        async for m in ws:
            await ws.send(m)

    server = await websockets.serve(echo, "127.0.0.1", port, compression=None)
    print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await asyncio.Future()


SERVERS = {"libws": _serve_libws, "websockets": _serve_websockets}

# ---- load generator ----

KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


def _frames(size: int, n: int = 64) -> list[bytes]:
    out = []
    payload = bytes((i * 7 + 3) & 0xFF for i in range(size))
    for k in range(n):
        mask = os.urandom(4)
        body = bytes(b ^ mask[i & 3] for i, b in enumerate(payload))
        if size < 126:
            hdr = bytes([0x82, 0x80 | size])
        elif size < 65536:
            hdr = bytes([0x82, 0x80 | 126]) + size.to_bytes(2, "big")
        else:
            hdr = bytes([0x82, 0x80 | 127]) + size.to_bytes(8, "big")
        out.append(hdr + mask + body)
    return out


def _echo_len(size: int) -> int:
    return size + (2 if size < 126 else 4 if size < 65536 else 10)


class _Load(asyncio.Protocol):
    def __init__(self, frames: list[bytes], echo_len: int, stats: dict[str, int]) -> None:
        self.frames = frames
        self.nf = len(frames)
        self.i = 0
        self.echo_len = echo_len
        self.stats = stats
        self.rest = 0
        self.handshake = bytearray()
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport
        transport.write(
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Key: " + KEY + b"\r\n"
            b"Sec-WebSocket-Version: 13\r\n\r\n"
        )

    def send(self, k: int) -> None:
        fr, i, nf = self.frames, self.i, self.nf
        out = []
        for _ in range(k):
            out.append(fr[i])
            i = i + 1 if i + 1 < nf else 0
        self.i = i
        assert self.transport is not None
        self.transport.write(b"".join(out))

    def data_received(self, data: bytes) -> None:
        if not self.ready.done():
            self.handshake += data
            end = self.handshake.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.handshake.startswith(b"HTTP/1.1 101"):
                self.ready.set_exception(RuntimeError(bytes(self.handshake[:80]).decode()))
                return
            data = bytes(self.handshake[end + 4 :])
            self.ready.set_result(None)
            if not data:
                return
        total = self.rest + len(data)
        n, self.rest = divmod(total, self.echo_len)
        if n:
            self.stats["done"] += n
            self.send(n)

    def connection_lost(self, exc) -> None:  # type: ignore[override]
        self.stats["lost"] += 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError("lost during the handshake"))


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _measure(port: int, pid: int, args) -> tuple[float, float, float]:
    loop = asyncio.get_running_loop()
    stats = {"done": 0, "lost": 0}
    frames = _frames(args.size)
    conns = []
    for _ in range(args.conns):
        _, p = await asyncio.wait_for(
            loop.create_connection(lambda: _Load(frames, _echo_len(args.size), stats),
                                   "127.0.0.1", port),
            10,
        )
        await asyncio.wait_for(p.ready, 10)
        conns.append(p)
    for p in conns:
        p.send(args.inflight)
    await asyncio.sleep(args.warmup)
    d0, c0, g0, t0 = stats["done"], _cpu(pid), time.process_time(), time.monotonic()
    await asyncio.sleep(args.seconds)
    d1, c1, g1, t1 = stats["done"], _cpu(pid), time.process_time(), time.monotonic()
    for p in conns:
        p.transport.abort()
    await asyncio.sleep(0.05)
    if stats["lost"] > len(conns):
        raise RuntimeError("the server closed connections during the run")
    rate = (d1 - d0) / (t1 - t0)
    return rate, (c1 - c0) * 1e6 / max(1, d1 - d0), (g1 - g0) / (t1 - t0)


def _start(name: str) -> tuple[subprocess.Popen, int]:
    env = dict(os.environ)
    p = subprocess.Popen(
        [sys.executable, os.path.abspath(__file__), "--serve", name],
        stdout=subprocess.PIPE,
        env=env,
        preexec_fn=lambda: os.sched_setaffinity(0, {0}) if os.cpu_count() >= 2 else None,
    )
    assert p.stdout is not None
    line = p.stdout.readline().decode()
    if not line.startswith("listening on 127.0.0.1:"):
        p.kill()
        raise RuntimeError(f"{name} server did not start: {line!r}")
    return p, int(line.rsplit(":", 1)[1])


def _decode(args) -> int:
    """Sans-I/O decode throughput: N masked binary frames of S bytes fed at once to a server
    connection, every message taken as an event; libws.Connection against wsproto (Debian's
    python3-wsproto) when it is installed."""
    sys.path.insert(0, HERE)
    import libws

    n = 50000
    frames = _frames(args.size)
    data = b"".join(frames[i % len(frames)] for i in range(n))

    def ours() -> float:
        c = libws.Connection("server", already_open=True, max_input_buffer=1 << 20)
        list(c.events())
        t = time.perf_counter()
        c.receive_data(data)
        got = sum(1 for _ in c.events())
        assert got == n
        return n / (time.perf_counter() - t)

    def theirs() -> float:
        from wsproto.connection import Connection, ConnectionType

        c = Connection(ConnectionType.SERVER)
        t = time.perf_counter()
        c.receive_data(data)
        got = sum(1 for _ in c.events())
        assert got == n
        return n / (time.perf_counter() - t)

    runs = {"libws": ours}
    try:
        import wsproto  # noqa: F401

        runs["wsproto"] = theirs
    except ImportError:
        print("(wsproto not installed: apt-get install python3-wsproto to compare)")
    print(f"== sans-I/O decode: {n} masked binary messages of {args.size} B in one read, "
          f"median of {args.reps}")
    # Repetitions interleaved (libws, wsproto, libws, ...): a machine whose load drifts
    # weighs on both sides alike.
    got: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.reps):
        for name, fn in runs.items():
            got[name].append(fn())
    med = {}
    for name in runs:
        med[name] = statistics.median(got[name])
        print(f"{name:<12} {med[name]:>10.0f} msgs/s")
    if len(med) == 2:
        print(f"ratio libws / wsproto: {med['libws'] / med['wsproto']:.1f}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--serve", choices=SERVERS)
    ap.add_argument("--conns", type=int, default=100)
    ap.add_argument("--inflight", type=int, default=16)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--warmup", type=float, default=0.5)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--servers", default="libws,websockets")
    ap.add_argument("--decode", action="store_true",
                    help="sans-I/O decode throughput against wsproto instead of the echo")
    args = ap.parse_args()
    if args.serve:
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
        asyncio.run(SERVERS[args.serve](0))
        return 0
    if args.decode:
        return _decode(args)
    if args.quick:
        args.seconds, args.reps, args.warmup = 1.0, 1, 0.3
    args.reps = max(1, min(args.reps, 9))
    args.seconds = max(0.2, min(args.seconds, 10.0))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if (os.cpu_count() or 1) >= 2:
        os.sched_setaffinity(0, {1})
    names = [n for n in args.servers.split(",") if n in SERVERS]
    procs = {}
    try:
        for n in names:
            procs[n] = _start(n)
        print(
            f"== echo over loopback: {args.conns} connections x {args.inflight} in flight, "
            f"{args.size} B binary messages, {args.seconds:.1f} s windows, median of "
            f"{args.reps}; servers on CPU 0, generator on CPU 1"
        )
        results: dict[str, list[tuple[float, float, float]]] = {n: [] for n in names}
        for r in range(args.reps):
            order = names if r % 2 == 0 else names[::-1]
            for n in order:
                p, port = procs[n]
                results[n].append(asyncio.run(_measure(port, p.pid, args)))
        print(f"{'server':<12} {'msgs/s':>10} {'server cpu us/msg':>18} {'generator cpu':>14}")
        med = {}
        for n in names:
            rate = statistics.median(x[0] for x in results[n])
            cpu = statistics.median(x[1] for x in results[n])
            gen = statistics.median(x[2] for x in results[n])
            med[n] = rate
            print(f"{n:<12} {rate:>10.0f} {cpu:>18.1f} {gen * 100:>13.0f}%")
        if "libws" in med and "websockets" in med:
            print(f"ratio libws / websockets: {med['libws'] / med['websockets']:.2f}")
    finally:
        for p, _ in procs.values():
            p.kill()
            p.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
