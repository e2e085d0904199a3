"""The asyncio layer against Python websockets (Debian's python3-websockets 10.x), both
directions, over 127.0.0.1 only; every test is bounded in time (the `run` fixture)."""

import asyncio
import os
import time
from http import HTTPStatus

import pytest

import libws
import libws.asyncio as la

websockets = pytest.importorskip("websockets")
from websockets.exceptions import ConnectionClosed as WsClosed  # noqa: E402
from websockets.exceptions import InvalidStatusCode  # noqa: E402

MIB = 1 << 20


async def echo(ws):
    async for m in ws:
        await ws.send(m)


def url(server, path="/"):
    return f"ws://127.0.0.1:{server.port}{path}"


def ws_port(server):
    return server.sockets[0].getsockname()[1]


# ---- the binding's server, websockets' client ----


def test_server_messages_text_binary_large_fragmented(run):
    async def main():
        async with la.serve(echo, "127.0.0.1", 0, max_message_size=4 * MIB) as server:
            async with websockets.connect(url(server), max_size=4 * MIB,
                                          compression=None) as c:
                for m in ["hello", "ünïcødé ✓", "", b"\x00\x01\xff", b"", os.urandom(MIB),
                          "x" * MIB]:
                    await c.send(m)
                    assert await c.recv() == m
                await c.send(["frag", "mented", " text"])
                assert await c.recv() == "fragmented text"
                await c.send([b"\x01", b"\x02" * 70000])
                assert await c.recv() == b"\x01" + b"\x02" * 70000
                pong = await c.ping(b"are you there")
                await asyncio.wait_for(pong, 5)
            assert c.close_code == 1000

    run(main())


def test_server_request_view_subprotocol_and_headers(run):
    seen = {}

    async def handler(ws):
        seen["path"] = ws.path
        seen["target"] = ws.request.target
        seen["token"] = ws.request.header("x-token")
        seen["sub"] = ws.subprotocol
        await ws.send(f"{ws.path} {ws.subprotocol}")
        await ws.wait_closed()

    async def main():
        async with la.serve(handler, "127.0.0.1", 0, subprotocols=["chat.v2", "chat.v1"],
                            extra_headers={"X-Served-By": "libws"}) as server:
            async with websockets.connect(url(server, "/room/7?x=1"),
                                          subprotocols=["chat.v1", "chat.v2"],
                                          extra_headers={"X-Token": "t0k"}) as c:
                assert await c.recv() == "/room/7 chat.v2"
                assert c.subprotocol == "chat.v2"
                assert c.response_headers["X-Served-By"] == "libws"

    run(main())
    assert seen == {"path": "/room/7", "target": "/room/7?x=1", "token": "t0k",
                    "sub": "chat.v2"}


def test_server_rejects_the_handshake_with_401(run):
    def auth(ws, request):
        if request.header("authorization") != "Bearer good":
            return la.Reject(401, {"WWW-Authenticate": "Bearer"}, b"token needed")
        return None

    async def async_auth(ws, request):
        await asyncio.sleep(0.01)
        return auth(ws, request)

    async def main():
        for hook in (auth, async_auth):
            async with la.serve(echo, "127.0.0.1", 0, process_request=hook) as server:
                with pytest.raises(InvalidStatusCode) as ei:
                    async with websockets.connect(url(server)):
                        pass
                assert ei.value.status_code == 401
                async with websockets.connect(
                    url(server), extra_headers={"Authorization": "Bearer good"}
                ) as c:
                    await c.send("in")
                    assert await c.recv() == "in"

    run(main())


def test_server_close_codes_both_ways_and_handler_failure(run):
    got = {}

    async def handler(ws):
        if ws.path == "/server-closes":
            await ws.send("bye soon")
            await ws.close(4001, "server done")
            got["server"] = (ws.close_code, ws.close_reason)
        elif ws.path == "/boom":
            raise RuntimeError("handler bug")
        else:
            try:
                await ws.recv()
            except la.ConnectionClosed as e:
                got["client"] = (type(e), e.code, e.reason)

    async def main():
        async with la.serve(handler, "127.0.0.1", 0) as server:
            async with websockets.connect(url(server, "/server-closes")) as c:
                assert await c.recv() == "bye soon"
                with pytest.raises(WsClosed):
                    await c.recv()
            assert (c.close_code, c.close_reason) == (4001, "server done")
            c = await websockets.connect(url(server, "/client-closes"))
            await c.close(4000, "client done")
            c = await websockets.connect(url(server, "/boom"))
            with pytest.raises(WsClosed):
                await c.recv()
            assert c.close_code == 1011
            await asyncio.sleep(0.1)

    run(main())
    assert got["server"] == (4001, "server done")
    assert got["client"] == (la.ConnectionClosedError, 4000, "client done")


def test_server_deflate_both_ways(run):
    if not libws.deflate_available():
        pytest.skip("library built without zlib")
    params = {}

    async def handler(ws):
        params["deflate"] = ws.conn.deflate_params
        async for m in ws:
            await ws.send(m * 2)

    async def main():
        async with la.serve(handler, "127.0.0.1", 0, deflate=True) as server:
            async with websockets.connect(url(server), compression="deflate") as c:
                assert "permessage-deflate" in c.response_headers["Sec-WebSocket-Extensions"]
                text = "a compressible line of text\n" * 2000
                await c.send(text)
                assert await c.recv() == text * 2
                await c.send(b"\x00" * 100000)
                assert await c.recv() == b"\x00" * 200000

    run(main())
    assert params["deflate"] is not None


def test_server_heartbeat_uses_the_library_timers(run):
    stats = {}

    async def handler(ws):
        await asyncio.sleep(0.45)
        stats.update(ws.conn.stats())
        await ws.close()

    async def main():
        async with la.serve(handler, "127.0.0.1", 0, ping_interval=100, pong_timeout=1000) \
                as server:
            async with websockets.connect(url(server)) as c:
                with pytest.raises(WsClosed):
                    await c.recv()
                assert c.close_code == 1000

    run(main())
    assert stats["pings_sent"] >= 3 and stats["pongs_received"] >= 2


async def raw_client(port, path="/"):
    """A TCP client that does the opening handshake by hand, then does what the test says."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    return reader, writer


def test_server_pong_timeout_fails_a_silent_peer(run):
    result = {}

    async def handler(ws):
        t0 = time.monotonic()
        try:
            await ws.recv()
        except la.ConnectionClosedError as e:
            result["error"] = e.error.name if e.error else None
            result["code"] = e.code
            result["after"] = time.monotonic() - t0

    async def main():
        async with la.serve(handler, "127.0.0.1", 0, ping_interval=100, pong_timeout=150) \
                as server:
            reader, writer = await raw_client(server.port)  # reads nothing, answers nothing
            await asyncio.sleep(0.6)
            writer.close()

    run(main())
    assert result["error"] == "WS_ERR_PONG_TIMEOUT"
    assert result["after"] < 1.0


def test_server_backpressure_with_a_stalled_peer(run):
    seen = {}
    chunk = b"\xab" * 65536

    async def handler(ws):
        sent = 0
        peak = 0
        while sent < 256 * MIB:
            try:
                await asyncio.wait_for(ws.send(chunk), 0.5)
            except asyncio.TimeoutError:
                seen["blocked_after"] = sent
                break
            sent += len(chunk)
            peak = max(peak, ws.buffered_amount)
        seen["peak"] = peak
        seen["write_limit"] = ws.write_limit
        seen["buffered_when_blocked"] = ws.buffered_amount

    async def main():
        async with la.serve(handler, "127.0.0.1", 0) as server:
            reader, writer = await raw_client(server.port)  # never reads again
            for _ in range(100):
                await asyncio.sleep(0.1)
                if "peak" in seen:
                    break
            writer.transport.abort()

    run(main(), timeout=20)
    assert "blocked_after" in seen, seen
    # what the binding holds is bounded by write_limit plus the message that crossed it
    assert seen["buffered_when_blocked"] <= seen["write_limit"] + len(chunk) + 14
    assert seen["peak"] <= seen["write_limit"] + len(chunk) + 14


def test_server_close_going_away_and_unknown_path_of_handshake(run):
    async def handler(ws):
        await ws.wait_closed()

    async def main():
        server = await la.serve(handler, "127.0.0.1", 0)
        c = await websockets.connect(url(server))
        server.close()
        await asyncio.wait_for(server.wait_closed(), 5)
        with pytest.raises(WsClosed):
            await c.recv()
        assert c.close_code == 1001
        # a plain HTTP request that is not an upgrade gets a 4xx, not a hang
        server = await la.serve(handler, "127.0.0.1", 0)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        line = await asyncio.wait_for(reader.readline(), 5)
        assert line.startswith(b"HTTP/1.1 4"), line
        writer.close()
        server.close()
        await server.wait_closed()

    run(main())


# ---- the binding's client, websockets' server ----


async def ws_echo(ws, path=None):
    async for m in ws:
        await ws.send(m)


def test_client_messages_text_binary_large_fragmented(run):
    async def frag_server(ws, path=None):
        await ws.send(["frag", "mented"])
        await ws.send([b"\x00", b"\x01" * 100000])
        async for m in ws:
            await ws.send(m)

    async def main():
        async with websockets.serve(frag_server, "127.0.0.1", 0, max_size=4 * MIB) as s:
            async with la.connect(f"ws://127.0.0.1:{ws_port(s)}/",
                                  max_message_size=4 * MIB) as ws:
                assert await ws.recv() == "fragmented"
                assert await ws.recv() == b"\x00" + b"\x01" * 100000
                for m in ["hi", "ü✓", "", b"\x00\xff", b"", os.urandom(MIB), "y" * MIB]:
                    await ws.send(m)
                    assert await ws.recv() == m
                latency = await asyncio.wait_for(await ws.ping(), 5)
                assert 0 <= latency < 5
            assert ws.close_code == 1000

    run(main())


def test_client_close_codes_and_iteration(run):
    closes = {}

    async def server(ws, path=None):
        if ws.path == "/three":
            for i in range(3):
                await ws.send(f"m{i}")
            await ws.close(1000, "that is all")
        elif ws.path == "/error":
            await ws.close(4002, "go away")
        else:
            try:
                await ws.recv()
            except WsClosed:
                closes["server_saw"] = (ws.close_code, ws.close_reason)

    async def main():
        async with websockets.serve(server, "127.0.0.1", 0) as s:
            base = f"ws://127.0.0.1:{ws_port(s)}"
            ws = await la.connect(base + "/three")
            assert [m async for m in ws] == ["m0", "m1", "m2"]
            assert (ws.close_code, ws.close_reason) == (1000, "that is all")
            await ws.wait_closed()
            ws = await la.connect(base + "/error")
            with pytest.raises(la.ConnectionClosedError) as ei:
                await ws.recv()
            assert (ei.value.code, ei.value.reason) == (4002, "go away")
            with pytest.raises(la.ConnectionClosedError):
                await ws.send("after close")
            ws = await la.connect(base + "/wait")
            await ws.close(4003, "client leaving")
            assert ws.closed
            await asyncio.sleep(0.1)

    run(main())
    assert closes["server_saw"] == (4003, "client leaving")


def test_client_deflate_subprotocols_headers(run):
    if not libws.deflate_available():
        pytest.skip("library built without zlib")
    seen = {}

    async def server(ws, path=None):
        seen["token"] = ws.request_headers.get("X-Token")
        seen["ext"] = ws.request_headers.get("Sec-WebSocket-Extensions")
        async for m in ws:
            await ws.send(m)

    async def main():
        async with websockets.serve(server, "127.0.0.1", 0, subprotocols=["chat"],
                                    compression="deflate") as s:
            async with la.connect(f"ws://127.0.0.1:{ws_port(s)}/", subprotocols=["x", "chat"],
                                  extra_headers={"X-Token": "abc"}, deflate=True) as ws:
                assert ws.subprotocol == "chat"
                assert ws.conn.deflate_params is not None
                text = "repeat after me " * 4000
                await ws.send(text)
                assert await ws.recv() == text
                await ws.send(os.urandom(3000))
                assert len(await ws.recv()) == 3000

    run(main())
    assert seen["token"] == "abc"
    assert "permessage-deflate" in seen["ext"]


def test_client_rejected_with_401(run):
    async def process_request(path, headers):
        # websockets 10 wants an HTTPStatus here (it reads .phrase), not an int
        return HTTPStatus.UNAUTHORIZED, [("WWW-Authenticate", "Bearer")], b"no entry"

    async def main():
        async with websockets.serve(ws_echo, "127.0.0.1", 0,
                                    process_request=process_request) as s:
            with pytest.raises(la.InvalidStatus) as ei:
                await la.connect(f"ws://127.0.0.1:{ws_port(s)}/")
            e = ei.value
            assert e.status == 401 and e.name == "WS_ERR_HS_STATUS"
            assert e.response.header("www-authenticate") == "Bearer"
            assert e.response.body == b"no entry"
        with pytest.raises(libws.URIError):
            await la.connect("http://127.0.0.1:1/")
        import socket

        with socket.socket() as sock:  # a port nobody listens on
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        with pytest.raises(OSError):
            await la.connect(f"ws://127.0.0.1:{port}/")

    run(main())


def test_client_heartbeat_and_timers(run):
    async def main():
        async with websockets.serve(ws_echo, "127.0.0.1", 0) as s:
            async with la.connect(f"ws://127.0.0.1:{ws_port(s)}/", ping_interval=100) as ws:
                await asyncio.sleep(0.45)
                st = ws.conn.stats()
                assert st["pings_sent"] >= 3 and st["pongs_received"] >= 2
                assert ws.open

    run(main())


# ---- the binding on both sides ----


def test_binding_to_binding_graceful_close(run):
    async def handler(ws):
        async for m in ws:
            await ws.send(m.upper() if isinstance(m, str) else m)

    async def main():
        async with la.serve(handler, "127.0.0.1", 0, deflate=True) as server:
            clients = [await la.connect(url(server), deflate=True) for _ in range(5)]
            for i, c in enumerate(clients):
                await c.send(f"client {i}")
            for i, c in enumerate(clients):
                assert await c.recv() == f"CLIENT {i}"
            await asyncio.gather(*(c.close() for c in clients))
            assert all(c.close_code == 1000 for c in clients)
            t0 = time.monotonic()
            c = await la.connect(url(server))
            server.close()
            with pytest.raises(la.ConnectionClosedOK):
                await c.recv()
            assert c.close_code == 1001
            await server.wait_closed()
            assert time.monotonic() - t0 < 3

    run(main())


def test_options_are_checked_at_serve_and_connect(run):
    async def main():
        with pytest.raises(libws.UsageError) as ei:
            la.serve(echo, "127.0.0.1", 0, max_message_size=0)
        assert ei.value.name == "WS_ERR_RANGE"
        with pytest.raises(libws.UsageError) as ei:
            await la.connect("ws://127.0.0.1:1/", ping_intervall=5)
        assert ei.value.name == "WS_ERR_OPTION"

    run(main())


# ---- ordering and input flow control ----


def test_server_answers_a_message_before_a_close_right_behind_it(run):
    from wire import frame, parse

    async def main():
        async with la.serve(echo, "127.0.0.1", 0) as server:
            reader, writer = await raw_client(server.port)
            writer.write(frame(1, b"last words") + frame(8, b"\x03\xe8bye"))
            data = b""
            while True:
                chunk = await asyncio.wait_for(reader.read(65536), 5)
                if not chunk:
                    break
                data += chunk
            writer.close()
            return parse(data)

    frames = run(main())
    # the echo goes out before the close answer, as a loop taking one event at a time does
    assert [(op, p[:2] if op == 8 else p) for op, _, p in frames] == [
        (1, b"last words"), (8, b"\x03\xe8")]


def test_input_flow_control_when_the_handler_does_not_read(run):
    state = {}
    go = asyncio.Event()

    async def handler(ws):
        await go.wait()
        state["paused"] = ws._reading_paused
        state["held"] = ws.conn.memory + ws.conn.input_pending
        got = []
        async for m in ws:
            got.append(int(m[:8]))
            if len(got) == 100:
                break
        state["got"] = got

    async def main():
        nonlocal go
        go = asyncio.Event()
        async with la.serve(handler, "127.0.0.1", 0) as server:
            async with websockets.connect(url(server), max_size=None) as c:

                async def produce():
                    for i in range(100):
                        await c.send(b"%08d" % i + b"\x00" * 65528)

                producer = asyncio.create_task(produce())
                await asyncio.sleep(0.5)
                go.set()
                await asyncio.wait_for(producer, 10)
                while "got" not in state:
                    await asyncio.sleep(0.05)

    run(main(), timeout=20)
    assert state["paused"] is True
    # the binding held about the library's input buffer and one message, not 6.4 MB
    assert state["held"] < 1 << 20, state["held"]
    assert state["got"] == list(range(100))


def test_send_timeout_fails_a_peer_that_never_reads(run):
    seen = {}

    async def handler(ws):
        t0 = time.monotonic()
        try:
            while True:
                await ws.send(b"\x00" * 65536)
        except la.ConnectionClosedError as e:
            seen["error"] = e.error.name if e.error else None
            seen["after"] = time.monotonic() - t0

    async def main():
        async with la.serve(handler, "127.0.0.1", 0, send_timeout=300) as server:
            reader, writer = await raw_client(server.port)  # never reads again
            for _ in range(100):
                await asyncio.sleep(0.05)
                if "error" in seen:
                    break
            writer.transport.abort()

    run(main(), timeout=20)
    assert seen["error"] == "WS_ERR_SEND_TIMEOUT"
    assert seen["after"] < 5
