"""asyncio WebSockets on libws, shaped like the ``websockets`` package.

Server::

    async def echo(ws):
        async for message in ws:          # str (text) or bytes (binary)
            await ws.send(message)

    async with libws.asyncio.serve(echo, "127.0.0.1", 8765) as server:
        await server.serve_forever()

Client::

    async with libws.asyncio.connect("ws://127.0.0.1:8765/") as ws:
        await ws.send("hello")
        print(await ws.recv())

Options: keyword arguments of :class:`libws.Connection` (the library's, in its units:
milliseconds and bytes -- ``ping_interval=20000``, ``max_message_size=1 << 20``,
``deflate=True``...) plus ``write_limit`` (bytes queued before ``send`` waits, default 64 KiB)
and ``max_queue`` (messages taken from the library ahead of ``recv``, default 1: events are
then handled in wire order, so a reply to a message goes out before the answer to a close
frame right behind it, as in the C examples; what is not taken stays in the library, and the
socket is not read while the library holds input it could not take).
Heartbeats, the handshake, pong, idle, close and send timeouts are the library's timers,
driven from the event loop by ``loop.call_at`` at ``next_deadline()``.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import os
import ssl as _ssl
from dataclasses import dataclass
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Optional, Union

from ctypes import c_uint64

from ._ffi import raw as _raw
from .connection import AUTO, Config, Connection, Headers, Role, State, parse_uri
from .errors import ClosedError, ErrorCode, HandshakeError, LibwsError, WouldBlock
from .events import Close, Error, Message, Open, Ping, Pong, Request, Response

__all__ = [
    "serve",
    "connect",
    "Server",
    "WebSocket",
    "Reject",
    "ConnectionClosed",
    "ConnectionClosedOK",
    "ConnectionClosedError",
    "InvalidStatus",
]

logger = logging.getLogger("libws")

DEFAULT_WRITE_LIMIT = 64 * 1024
DEFAULT_MAX_QUEUE = 1
#: After the closing handshake: how long to wait for the peer's end of file (ws.h,
#: ws_conn_wants_shutdown), and how many bytes to discard meanwhile.
LINGER_SECONDS = 2.0
LINGER_BYTES = 1 << 20

_OK_CODES = (1000, 1001, 1005)
_DEADLINE_NONE = (1 << 64) - 1
_raw_tick = _raw.conn_tick
_raw_deadline = _raw.conn_next_deadline
_raw_wants_shutdown = _raw.conn_wants_shutdown


class ConnectionClosed(Exception):
    """The connection is closed: ``code`` and ``reason`` of the close (1006: ended without
    a closing handshake), ``error``: the :class:`~libws.Error` event that failed it, if any."""

    def __init__(self, code: int, reason: str = "", error: Error | None = None) -> None:
        self.code = code
        self.reason = reason
        self.error = error
        msg = f"connection closed: {code}"
        if reason:
            msg += f" {reason}"
        if error is not None:
            msg += f" ({error.name}: {error.text})"
        super().__init__(msg)


class ConnectionClosedOK(ConnectionClosed):
    """Closed cleanly (1000, 1001, or a close frame without a status)."""


class ConnectionClosedError(ConnectionClosed):
    """Closed with an error code, by a protocol error, a timeout, or without a close."""


class InvalidStatus(HandshakeError):
    """The server answered the upgrade with another status than 101 (``status``,
    ``response``: headers and body)."""

    def __init__(self, response: Response) -> None:
        self.status = response.status
        self.response = response
        super().__init__(ErrorCode.WS_ERR_HS_STATUS, f"HTTP {response.status} {response.reason}")


@dataclass
class Reject:
    """What ``process_request`` returns to refuse a handshake: an HTTP status (e.g. 401),
    extra headers, a body."""

    status: int = 403
    headers: Headers = None
    body: Union[bytes, str] = b""
    reason: Optional[str] = None


ProcessRequest = Callable[["WebSocket", Request], Union[None, Reject, Awaitable[Optional[Reject]]]]


def _closed_exc(code: int | None, reason: str, error: Error | None) -> ConnectionClosed:
    if code is None:
        code = 1006
    cls = ConnectionClosedOK if code in _OK_CODES and error is None else ConnectionClosedError
    return cls(code, reason, error)


class WebSocket(asyncio.Protocol):
    """One connection (server or client side). Use ``send``, ``recv``, ``async for``,
    ``ping``, ``close``, ``wait_closed``; ``request`` (server) is the upgrade request."""

    def __init__(
        self,
        role: Role,
        *,
        options: dict[str, Any],
        config: Config | None = None,
        write_limit: int = DEFAULT_WRITE_LIMIT,
        max_queue: int = DEFAULT_MAX_QUEUE,
        server: Server | None = None,
        client: tuple[str, Iterable[str], Headers] | None = None,
    ) -> None:
        if options.get("streaming"):
            raise ValueError("libws.asyncio delivers whole messages: streaming is not supported")
        self._loop = asyncio.get_running_loop()
        self.conn = Connection(role, now_ms=self._now(), config=config, **options)
        self._role = role
        self._server = server
        self._client = client
        self.write_limit = write_limit
        self._low_water = write_limit // 4
        self.max_queue = max(1, max_queue)
        self.transport: asyncio.Transport | None = None
        self.remote_address: Any = None
        self.request: Request | None = None
        self.subprotocol: str | None = None
        self.close_code: int | None = None
        self.close_reason: str = ""
        self._error: Error | None = None
        self._messages: collections.deque[str | bytes] = collections.deque()
        self._recv_waiter: asyncio.Future[None] | None = None
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._pings: dict[bytes, tuple[asyncio.Future[float], float]] = {}
        self._open_fut: asyncio.Future[None] = self._loop.create_future()
        self._lost_fut: asyncio.Future[None] = self._loop.create_future()
        self._closed = False
        self._paused = False
        self._reading_paused = False
        self._flush_scheduled = False
        self._unflushed = 0
        self._discard = False
        self._eof = False
        self._shutting = False
        self._discarded = 0
        self._linger: asyncio.TimerHandle | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: int | None = None
        self._handler_task: asyncio.Task[None] | None = None

    def _now(self) -> int:
        return int(self._loop.time() * 1000.0)

    # ---- properties ----

    @property
    def path(self) -> str | None:
        """Server: the request's path (target without the query)."""
        return self.request.path if self.request else None

    @property
    def open(self) -> bool:
        return self._open_fut.done() and not self._closed and self.conn.state == State.OPEN

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def state(self) -> State:
        return State.CLOSED if self._closed else self.conn.state

    @property
    def buffered_amount(self) -> int:
        """Bytes queued in the library and not yet handed to the transport."""
        return self.conn.buffered_amount

    # ---- asyncio.Protocol ----

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.remote_address = transport.get_extra_info("peername")
        if self._server is not None:
            self._server._conns.add(self)
        if self._client is not None:
            url, subprotocols, headers = self._client
            try:
                self.conn.start_client(url, list(subprotocols), headers)
            except LibwsError as e:
                self._open_fut.set_exception(e)
                transport.abort()
                return
        self._after_io()

    def data_received(self, data: bytes) -> None:
        if self._shutting:
            # closing handshake done: discard what the peer still sends, within bounds
            self._discarded += len(data)
            if self._discarded > LINGER_BYTES and self.transport is not None:
                self.transport.close()
            return
        conn = self.conn
        try:
            _raw_tick(conn._hp, c_uint64(int(self._loop.time() * 1000.0)))
            conn.receive_data(data)
        except LibwsError as e:
            self._internal_failure(e)
            return
        self._after_io()

    def eof_received(self) -> bool | None:
        self._eof = True
        if self._shutting:
            return False  # the transport closes itself
        try:
            self.conn.receive_data(None)
            self._process(unlimited=True)  # nothing more can come: take it all
        except LibwsError as e:
            self._internal_failure(e)
            return False
        self._after_io()
        return True  # keep the write side: the close frame may still have to go out

    def connection_lost(self, exc: Exception | None) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._linger is not None:
            self._linger.cancel()
            self._linger = None
        if not self._closed:
            try:
                self.conn.receive_data(None)
                self._process(unlimited=True)  # keep what came before the end for recv()
            except LibwsError:
                pass
        if not self._closed:  # no Close event came: treat as an abnormal end
            self._on_close(Close(1006, "", False))
        if self._server is not None:
            self._server._conns.discard(self)
        self.conn.free()
        if not self._lost_fut.done():
            self._lost_fut.set_result(None)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._flush()

    # ---- the pump ----

    def _after_io(self) -> None:
        try:
            self._process()
        except LibwsError as e:
            self._internal_failure(e)
            return
        self._flush()  # which also re-arms the timer

    def _internal_failure(self, e: BaseException) -> None:
        logger.error("libws: connection failed internally: %s", e)
        if self.transport is not None:
            self.transport.abort()

    def _process(self, unlimited: bool = False) -> None:
        """Take events from the library: control events are handled at once; messages are
        queued for recv() -- at most max_queue of them (then taking stops: what follows stays
        in the library, in order, until recv() makes room), or dropped once we are closing.
        ``unlimited``: take everything (no more input can come: end of file, or lost)."""
        messages = self._messages
        conn = self.conn
        limit = self.max_queue if not unlimited else 1 << 62
        next_event = conn.next_event
        while True:
            ev = next_event()
            if ev is None:
                break
            t = type(ev)
            if t is Message:
                if self._discard:
                    continue
                messages.append(ev.data)  # type: ignore[attr-defined]
                if len(messages) >= limit:
                    break
                continue
            if t is Ping:
                continue
            if t is Pong:
                self._on_pong(ev.payload)  # type: ignore[attr-defined]
            elif t is Open:
                self._on_open(ev)  # type: ignore[arg-type]
            elif t is Request:
                self._on_request(ev)  # type: ignore[arg-type]
            elif t is Error:
                self._error = ev  # type: ignore[assignment]
            elif t is Close:
                self._on_close(ev)  # type: ignore[arg-type]
        if messages:
            w = self._recv_waiter
            if w is not None and not w.done():
                w.set_result(None)
        # input flow control: while the library holds input it could not take (it waits for
        # recv() to take events), stop reading the socket; read again once it is taken
        tr = self.transport
        if tr is not None and not self._shutting:
            if conn.input_pending:
                if not self._reading_paused:
                    self._reading_paused = True
                    tr.pause_reading()
            elif self._reading_paused:
                self._reading_paused = False
                tr.resume_reading()

    def _flush(self) -> None:
        self._flush_scheduled = False
        self._unflushed = 0
        tr = self.transport
        if tr is None or self.conn._h is None:
            return
        if self._paused:
            # output waits in the library: its send timeout must still be able to fire
            self._arm_timer()
            return
        conn = self.conn
        data = conn.data_to_send()
        if data:
            if tr.is_closing():
                return
            tr.write(data)
        self._arm_timer()
        if self._drain_waiters and conn.buffered_amount <= self._low_water:
            self._wake_drain()
        if not self._shutting and _raw_wants_shutdown(conn._hp):
            self._shutdown()

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _shutdown(self) -> None:
        """ws.h, ws_conn_wants_shutdown: half-close, read to the peer's EOF (bounded), close."""
        self._shutting = True
        tr = self.transport
        if tr is None or tr.is_closing():
            return
        if self._eof or not tr.can_write_eof():
            tr.close()
            return
        if self._reading_paused:
            tr.resume_reading()
            self._reading_paused = False
        tr.write_eof()
        self._linger = self._loop.call_later(LINGER_SECONDS, tr.close)

    def _arm_timer(self) -> None:
        if self.conn._h is None:
            return
        d = _raw_deadline(self.conn._hp)
        if d == _DEADLINE_NONE:
            d = None
        if d == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = d
        if d is not None:
            self._timer = self._loop.call_at(d / 1000.0, self._on_timer)

    def _on_timer(self) -> None:
        due = self._timer_at or 0
        self._timer = None
        self._timer_at = None
        if self.conn._h is None:
            return
        try:
            # the loop fired us at the deadline: never tick earlier than it (clock rounding)
            self.conn.tick(max(self._now(), due))
        except LibwsError as e:
            self._internal_failure(e)
            return
        self._after_io()

    # ---- events ----

    def _on_request(self, req: Request) -> None:
        self.request = req
        server = self._server
        assert server is not None
        result: Any = None
        if server.process_request is not None:
            try:
                result = server.process_request(self, req)
            except Exception:
                logger.exception("libws: process_request failed")
                result = Reject(500)
            if inspect.isawaitable(result):
                task = self._loop.create_task(self._await_answer(result))
                task.add_done_callback(lambda t: t.cancelled() or t.exception())
                return
        self._answer(result)

    async def _await_answer(self, aw: Awaitable[Any]) -> None:
        try:
            result = await aw
        except Exception:
            logger.exception("libws: process_request failed")
            result = Reject(500)
        if self.conn._h is None or self._closed:
            return
        self._answer(result)
        self._after_io()

    def _answer(self, result: Any) -> None:
        server = self._server
        assert server is not None and self.request is not None
        if result is None:
            sub = None
            for s in server.subprotocols:
                if s in self.request.subprotocols:
                    sub = s
                    break
            headers = server.extra_headers
            if callable(headers):
                headers = headers(self.request)
            self.conn.accept(sub, AUTO, headers)
            return
        if isinstance(result, tuple):
            result = Reject(*result)
        if not isinstance(result, Reject):
            raise TypeError("process_request must return None or a Reject")
        self.conn.reject(result.status, result.reason, result.headers, result.body)

    def _on_open(self, ev: Open) -> None:
        self.subprotocol = ev.subprotocol
        if not self._open_fut.done():
            self._open_fut.set_result(None)
        if self._server is not None:
            self._handler_task = self._loop.create_task(self._run_handler())

    async def _run_handler(self) -> None:
        server = self._server
        assert server is not None
        code, reason = 1000, ""
        try:
            await server.handler(self)
        except ConnectionClosed:
            pass
        except asyncio.CancelledError:
            code, reason = 1001, "going away"
        except Exception:
            logger.exception("libws: connection handler failed")
            code, reason = 1011, "internal error"
        try:
            await self.close(code, reason)
        except Exception:  # pragma: no cover - close never fails on an open socket
            logger.exception("libws: close after the handler failed")

    def _on_pong(self, payload: bytes) -> None:
        if payload not in self._pings:
            return
        now = self._loop.time()
        # a pong answers its ping and every earlier one (RFC 6455 5.5.3 lets peers skip)
        for key in list(self._pings):
            fut, t0 = self._pings.pop(key)
            if not fut.done():
                fut.set_result(now - t0)
            if key == payload:
                break

    def _on_close(self, ev: Close) -> None:
        self._closed = True
        self.close_code = ev.code
        self.close_reason = ev.reason
        if not self._open_fut.done():
            self._open_fut.set_exception(self._handshake_failure())
        w = self._recv_waiter
        if w is not None and not w.done():
            w.set_result(None)
        self._wake_drain()
        for fut, _ in self._pings.values():
            fut.cancel()
        self._pings.clear()

    def _handshake_failure(self) -> Exception:
        err = self._error
        if err is not None and err.code == ErrorCode.WS_ERR_HS_STATUS:
            resp = self.conn.handshake_response()
            if resp is not None:
                return InvalidStatus(resp)
        if err is not None:
            return err.exception()
        return _closed_exc(self.close_code, self.close_reason, None)

    def _wake_drain(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for f in waiters:
            if not f.done():
                f.set_result(None)

    def _closed_exception(self) -> ConnectionClosed:
        return _closed_exc(self.close_code, self.close_reason, self._error)

    # ---- the API ----

    async def recv(self) -> str | bytes:
        """The next message: ``str`` (text) or ``bytes`` (binary). Raises ConnectionClosedOK
        or ConnectionClosedError once the connection is closed and no message is left."""
        messages = self._messages
        while True:
            if messages:
                return messages.popleft()
            if self._closed:
                raise self._closed_exception()
            if self.conn._h is not None:
                # take what the library holds (the next message, pings behind it...); what
                # that queues (pongs, a close answer) goes out with the next flush
                try:
                    self._process()
                except LibwsError as e:
                    self._internal_failure(e)
                if not self._flush_scheduled:
                    self._flush_scheduled = True
                    self._loop.call_soon(self._flush)
                if messages or self._closed:
                    continue
            if self._recv_waiter is not None:
                raise RuntimeError("recv() is already being awaited by another task")
            fut = self._recv_waiter = self._loop.create_future()
            try:
                await fut
            finally:
                self._recv_waiter = None

    def __aiter__(self) -> AsyncIterator[str | bytes]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[str | bytes]:
        try:
            while True:
                yield await self.recv()
        except ConnectionClosedOK:
            return

    async def send(self, message: str | bytes | bytearray | memoryview) -> None:
        """Send a message (``str``: text, bytes-like: binary). Waits while more than
        ``write_limit`` bytes are queued (backpressure). Raises ConnectionClosed."""
        conn = self.conn
        while True:
            if self._closed or conn._h is None:
                raise self._closed_exception()
            try:
                conn.send(message)
                break
            except WouldBlock as e:
                if conn.buffered_amount == 0:
                    # larger than send_high_water: waiting would never help
                    raise WouldBlock(e.code, "message larger than send_high_water") from None
                await self._drain()
            except ClosedError:
                raise self._closed_exception() from None
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)
        # the flush moves everything to the transport unless it is paused: ask the library
        # how much is queued only then, or after a burst of sends without a flush
        self._unflushed += len(message)
        if (self._paused or self._unflushed > self.write_limit) and \
                conn.buffered_amount > self.write_limit:
            await self._drain()

    async def _drain(self) -> None:
        fut = self._loop.create_future()
        self._drain_waiters.append(fut)
        self._schedule_flush()
        await fut
        if self._closed:
            raise self._closed_exception()

    async def drain(self) -> None:
        """Wait until the queued output is at most a quarter of ``write_limit``."""
        if self.conn._h is not None and self.conn.buffered_amount > self._low_water:
            await self._drain()

    async def ping(self, data: bytes | str | None = None) -> asyncio.Future[float]:
        """Send a ping; returns a future resolved with the round-trip time (seconds) when its
        pong arrives: ``latency = await (await ws.ping())``."""
        if data is None:
            data = os.urandom(4)
            while data in self._pings:
                data = os.urandom(4)
        elif isinstance(data, str):
            data = data.encode("utf-8")
        data = bytes(data)
        if data in self._pings:
            raise ValueError("a ping with this payload is already waiting for its pong")
        if self._closed or self.conn._h is None:
            raise self._closed_exception()
        try:
            self.conn.ping(data)
        except ClosedError:
            raise self._closed_exception() from None
        fut: asyncio.Future[float] = self._loop.create_future()
        self._pings[data] = (fut, self._loop.time())
        self._schedule_flush()
        return fut

    async def pong(self, data: bytes | str = b"") -> None:
        """Send an unsolicited pong (a one-way heartbeat)."""
        if self._closed or self.conn._h is None:
            raise self._closed_exception()
        try:
            self.conn.pong(data)
        except ClosedError:
            raise self._closed_exception() from None
        self._schedule_flush()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the closing handshake (if not started) and wait until the connection is
        closed and the socket shut, bounded by the library's close timeout."""
        conn = self.conn
        if not self._closed and conn._h is not None:
            st = conn.state
            self._discard = True  # messages still coming are not wanted any more
            self._messages.clear()
            if st == State.OPEN:
                try:
                    conn.close(code, reason)
                except ClosedError:
                    pass
                self._after_io()
            elif st == State.CLOSING:
                self._after_io()
            elif st == State.CONNECTING and self.transport is not None:
                self.transport.abort()
        await self.wait_closed()

    async def wait_closed(self) -> None:
        """Wait until the socket is closed."""
        await asyncio.shield(self._lost_fut)

    async def _wait_open(self) -> None:
        await self._open_fut

    def __repr__(self) -> str:
        side = "server" if self._role == Role.SERVER else "client"
        return f"<libws.asyncio.WebSocket {side} {self.state.name} {self.remote_address}>"


Handler = Callable[[WebSocket], Awaitable[Any]]


class Server:
    """A listening WebSocket server (what ``serve`` gives)."""

    def __init__(
        self,
        handler: Handler,
        *,
        process_request: ProcessRequest | None,
        subprotocols: Iterable[str],
        extra_headers: Headers | Callable[[Request], Headers],
        ws_kwargs: dict[str, Any],
    ) -> None:
        self.handler = handler
        self.process_request = process_request
        self.subprotocols = list(subprotocols)
        self.extra_headers = extra_headers
        self._ws_kwargs = ws_kwargs
        self._conns: set[WebSocket] = set()
        self._server: asyncio.base_events.Server | None = None

    def _protocol(self) -> WebSocket:
        return WebSocket(Role.SERVER, server=self, **self._ws_kwargs)

    @property
    def sockets(self) -> tuple[Any, ...]:
        return tuple(self._server.sockets) if self._server is not None else ()

    @property
    def port(self) -> int:
        """The port of the first listening socket (useful with port 0)."""
        return self.sockets[0].getsockname()[1]

    @property
    def connections(self) -> set[WebSocket]:
        return set(self._conns)

    def close(self, code: int = 1001, reason: str = "server shutting down") -> None:
        """Stop listening and start closing every connection."""
        if self._server is not None:
            self._server.close()
        for ws in list(self._conns):
            if ws.conn._h is not None:
                asyncio.get_running_loop().create_task(ws.close(code, reason))

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()
        if self._conns:
            await asyncio.gather(*(ws.wait_closed() for ws in list(self._conns)))

    async def serve_forever(self) -> None:
        assert self._server is not None
        await self._server.serve_forever()

    async def __aenter__(self) -> Server:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()
        await self.wait_closed()


def _split_kwargs(kw: dict[str, Any]) -> dict[str, Any]:
    return {
        "write_limit": kw.pop("write_limit", DEFAULT_WRITE_LIMIT),
        "max_queue": kw.pop("max_queue", DEFAULT_MAX_QUEUE),
        "options": kw,
    }


class serve:
    """Start a WebSocket server: ``server = await serve(handler, host, port, **options)``
    or ``async with serve(...) as server``. ``handler(ws)`` runs per connection; when it
    returns the connection is closed (1000; 1011 if it raised).

    Keyword arguments: ``process_request(ws, request)`` -- called with the
    :class:`~libws.Request` before the handshake is answered; return None to accept or a
    :class:`Reject` (may be a coroutine); ``subprotocols`` -- the server's, in preference
    order; ``extra_headers`` -- response headers (or a function of the request); ``backlog``,
    ``reuse_port``, ``ssl`` -- as for ``loop.create_server``; the rest are options."""

    def __init__(
        self,
        handler: Handler,
        host: str | None = None,
        port: int = 0,
        *,
        process_request: ProcessRequest | None = None,
        subprotocols: Iterable[str] = (),
        extra_headers: Headers | Callable[[Request], Headers] = None,
        backlog: int = 512,
        reuse_port: bool | None = None,
        ssl: _ssl.SSLContext | None = None,
        **options: Any,
    ) -> None:
        ws_kwargs = _split_kwargs(options)
        # One configuration for every connection of the server (checked by the library now).
        if ws_kwargs["options"].get("streaming"):
            raise ValueError("libws.asyncio delivers whole messages: streaming is not supported")
        ws_kwargs["config"] = Config(**ws_kwargs.pop("options"))
        ws_kwargs["options"] = {}
        self._server = Server(
            handler,
            process_request=process_request,
            subprotocols=subprotocols,
            extra_headers=extra_headers,
            ws_kwargs=ws_kwargs,
        )
        self._args = (host, port)
        self._create = dict(backlog=backlog, reuse_port=reuse_port, ssl=ssl)

    async def _start(self) -> Server:
        loop = asyncio.get_running_loop()
        host, port = self._args
        self._server._server = await loop.create_server(
            self._server._protocol, host, port, **self._create
        )
        return self._server

    def __await__(self):  # type: ignore[no-untyped-def]
        return self._start().__await__()

    async def __aenter__(self) -> Server:
        return await self._start()

    async def __aexit__(self, *exc: object) -> None:
        await self._server.__aexit__(*exc)


class connect:
    """Open a client connection: ``ws = await connect(uri, **options)`` or
    ``async with connect(uri) as ws``. Keyword arguments: ``subprotocols`` to offer,
    ``extra_headers`` (Origin, Authorization...), ``ssl`` (for wss://: default context), the
    rest are options (``handshake_timeout`` bounds the opening handshake, default 10 s).
    Raises :class:`InvalidStatus` when the server refuses (e.g. 401), URIError for a bad
    URI, HandshakeError, OSError for the TCP connection."""

    def __init__(
        self,
        uri: str,
        *,
        subprotocols: Iterable[str] = (),
        extra_headers: Headers = None,
        ssl: _ssl.SSLContext | bool | None = None,
        **options: Any,
    ) -> None:
        self._uri = uri
        self._subprotocols = list(subprotocols)
        self._headers = extra_headers
        self._ssl = ssl
        self._ws_kwargs = _split_kwargs(options)
        self._ws: WebSocket | None = None

    async def _open(self) -> WebSocket:
        u = parse_uri(self._uri)
        loop = asyncio.get_running_loop()
        sslctx = self._ssl
        if u["secure"] and not sslctx:
            sslctx = _ssl.create_default_context()
        elif not u["secure"]:
            sslctx = None
        ws = WebSocket(
            Role.CLIENT,
            client=(self._uri, self._subprotocols, self._headers),
            **self._ws_kwargs,
        )
        await loop.create_connection(
            lambda: ws,
            u["host"],
            u["port"],
            ssl=sslctx,
            server_hostname=u["host"] if sslctx else None,
        )
        try:
            await ws._wait_open()
        except BaseException:
            if ws.transport is not None:
                ws.transport.close()
            raise
        self._ws = ws
        return ws

    def __await__(self):  # type: ignore[no-untyped-def]
        return self._open().__await__()

    async def __aenter__(self) -> WebSocket:
        return await self._open()

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()
