"""The sans-I/O connection: bytes in, events out, bytes to send -- no sockets, no clock.

A thin, typed layer over ``ws_conn`` (include/ws.h, "Connection layer")::

    conn = Connection("server", max_message_size=1 << 20)
    conn.receive_data(sock.recv(65536))          # None or b"" at end of file
    for event in conn.events():
        if isinstance(event, Request):
            conn.accept()
        elif isinstance(event, Message):
            conn.send(event.data)                # echo
    sock.sendall(conn.data_to_send())

Time: the library keeps timers (handshake, ping, pong, idle, close, message, send timeouts)
but reads no clock. Call :meth:`Connection.tick` with the current monotonic time in
milliseconds when :meth:`Connection.next_deadline` is due (and whenever convenient); the
default clock is ``time.monotonic()``.
"""

from __future__ import annotations

import ctypes
import time
from ctypes import byref, c_char_p, c_size_t, c_uint64, c_void_p
from enum import IntEnum
from typing import Any, Iterable, Iterator, Mapping, Union

from . import _ffi
from ._ffi import EVENT_SIZE, EVENT_SIZE_ARG, EVENT_STRUCT, lib, raw, view
from .errors import ErrorCode, UsageError, check, errname, error_class, strerror
from .events import (
    Close,
    Error,
    Event,
    Extension,
    Fragment,
    Message,
    Open,
    Ping,
    Pong,
    Request,
    Response,
)

__all__ = [
    "Connection",
    "Role",
    "State",
    "AUTO",
    "OPTIONS",
    "SEND_POLICY_ERROR",
    "SEND_POLICY_CLOSE_1013",
    "SEND_POLICY_CLOSE_1009",
    "CloseCode",
    "Headers",
]


class Role(IntEnum):
    SERVER = 0
    CLIENT = 1


class State(IntEnum):
    CONNECTING = 0
    OPEN = 1
    CLOSING = 2
    CLOSED = 3


class CloseCode(IntEnum):
    """RFC 6455 close codes (WS_CLOSE_*). 1005, 1006 and 1015 are never sent."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS = 1005
    ABNORMAL = 1006
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


class _Auto:
    """Let the library negotiate extensions (permessage-deflate per the ``deflate*``
    options): WS_EXTENSIONS_AUTO."""

    _instance = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "AUTO"


AUTO: Any = _Auto()

SEND_POLICY_ERROR = 0
SEND_POLICY_CLOSE_1013 = 1
SEND_POLICY_CLOSE_1009 = 2

#: Keyword options of :class:`Connection`: name -> WS_OPT_* number. Times are milliseconds
#: (0 = off), sizes bytes, flags bool. Ranges and defaults are the library's (ws.h); a value
#: out of range raises UsageError WS_ERR_RANGE.
OPTIONS: dict[str, int] = {
    "max_message_size": 1,
    "max_frame_size": 2,
    "auto_pong": 3,
    "streaming": 4,
    "fragment_size": 5,
    "send_high_water": 6,
    "send_policy": 7,
    "refuse_text": 8,
    "refuse_binary": 9,
    "handshake_timeout": 10,
    "ping_interval": 11,
    "pong_timeout": 12,
    "idle_timeout": 13,
    "close_timeout": 14,
    "lenient_length": 15,
    "deflate": 16,
    "deflate_window_bits": 17,
    "deflate_peer_window_bits": 18,
    "deflate_mem_level": 19,
    "deflate_level": 20,
    "deflate_threshold": 21,
    "deflate_no_takeover": 22,
    "deflate_peer_no_takeover": 23,
    "max_input_buffer": 24,
    "message_timeout": 25,
    "send_timeout": 26,
    "memory_limit": 27,
    "inflate_step": 28,
}

Headers = Union[str, bytes, Mapping[str, str], Iterable[tuple[str, str]], None]

_EV_OPEN, _EV_MESSAGE, _EV_FRAGMENT, _EV_PING, _EV_PONG, _EV_CLOSE, _EV_ERROR, _EV_REQUEST = (
    1, 2, 3, 4, 5, 6, 7, 8,
)
_OP_TEXT, _OP_BINARY = 1, 2
_SEND_NO_COMPRESS = 2
_DEADLINE_NONE = (1 << 64) - 1
_IOV_MAX = 16
_U64_MAX = (1 << 64) - 1

_c_char = ctypes.c_char
_raw_next_event = raw.conn_next_event
_raw_next_events = raw.conn_next_events
_BATCH = 32  # events taken per call by events(): one ctypes call for many events
_BATCH_ARG = ctypes.c_size_t(_BATCH)
_raw_feed = raw.conn_feed
_raw_send = raw.conn_send
_raw_output = raw.conn_output
_raw_ack = raw.conn_output_ack
_raw_buffered = raw.conn_buffered_amount
_unpack_event = EVENT_STRUCT.unpack_from


def monotonic_ms() -> int:
    """The default clock: ``time.monotonic()`` in whole milliseconds."""
    return time.monotonic_ns() // 1_000_000


def _cstr(s: str | bytes | None, err: int, what: str, encoding: str = "utf-8") -> bytes | None:
    """A NUL-terminated argument: refuse embedded NULs (the C API would truncate there)."""
    if s is None:
        return None
    b = s.encode(encoding) if isinstance(s, str) else bytes(s)
    if b"\0" in b:
        raise error_class(err)(err, f"{what} contains a NUL byte")
    return b


def _headers_arg(headers: Headers) -> bytes | None:
    """Extra header lines as the C API takes them: "Name: value\\r\\n..."."""
    if headers is None:
        return None
    if isinstance(headers, (str, bytes)):
        return _cstr(headers, ErrorCode.WS_ERR_ARG_HEADERS, "headers", "latin-1")
    items = headers.items() if isinstance(headers, Mapping) else headers
    lines = []
    for name, value in items:
        for part in (name, value):
            if any(ch in str(part) for ch in "\r\n\0"):
                raise UsageError(
                    ErrorCode.WS_ERR_ARG_HEADERS, f"header {name!r}: CR, LF or NUL in it"
                )
        lines.append(f"{name}: {value}\r\n")
    if not lines:
        return None
    try:
        return "".join(lines).encode("latin-1")
    except UnicodeEncodeError as e:
        raise UsageError(ErrorCode.WS_ERR_ARG_HEADERS, "not ISO-8859-1") from e


def _option_number(name: str) -> int:
    opt = OPTIONS.get(name)
    if opt is None:
        raise UsageError(ErrorCode.WS_ERR_OPTION, f"unknown option {name!r}")
    return opt


def _option_value(name: str, value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if not isinstance(value, int):
        raise UsageError(ErrorCode.WS_ERR_RANGE, f"{name}={value!r}: not an integer")
    if value < 0 or value > _U64_MAX:
        raise UsageError(ErrorCode.WS_ERR_RANGE, f"{name}={value}")
    return value


def _sv(p: Any, n: Any) -> str:
    """A view as str (ISO-8859-1: HTTP header bytes map one to one)."""
    return view(p.value, n.value).decode("latin-1")


class Config:
    """A configuration shared by many connections (the library's ``ws_config``): the options
    are kept once in C, and each :class:`Connection` made with it holds a pointer, not a copy.
    Keyword arguments are options (see :data:`OPTIONS`). Frozen once a connection uses it
    (``set_option`` then raises UsageError WS_ERR_STATE); the C object lives until the caller
    and every connection made with it are gone, so freeing it early is safe."""

    __slots__ = ("_h", "__weakref__")

    def __init__(self, **options: Any) -> None:
        self._h: int | None = None
        handle = c_void_p()
        check(lib.ws_config_new(byref(handle), None))
        self._h = handle.value
        for name, value in options.items():
            self.set_option(name, value)

    def _handle(self) -> int:
        if self._h is None:
            raise UsageError(ErrorCode.WS_ERR_INVALID_ARG, "the configuration was freed")
        return self._h

    def set_option(self, name: str, value: int | bool) -> None:
        """Set one option by name; the library checks its range (and that no connection uses
        the configuration yet)."""
        opt = _option_number(name)
        v = _option_value(name, value)
        check(lib.ws_config_set_option(self._handle(), opt, v), f"{name}={value!r}")

    def get_option(self, name: str) -> int:
        """Current value of an option."""
        opt = _option_number(name)
        v = c_uint64()
        check(lib.ws_config_get_option(self._handle(), opt, byref(v)), name)
        return v.value

    def free(self) -> None:
        """Drop this reference to the C configuration (its connections keep theirs)."""
        h, self._h = self._h, None
        if h is not None:
            lib.ws_config_free(h)

    def __del__(self) -> None:
        try:
            self.free()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass


class Connection:
    """One WebSocket connection, server or client, without I/O.

    ``role``: ``"server"``/``"client"`` or :class:`Role`. ``already_open=True`` skips the
    HTTP/1.1 handshake (WS_CONN_OPEN: an HTTP/2 stack did it, or a test wants frames only).
    ``now_ms``: the clock's current value for the first tick (default: monotonic_ms()).
    ``config``: a :class:`Config` shared with other connections (its options; the connection
    keeps the C configuration alive). Other keyword arguments are options (see
    :data:`OPTIONS`), e.g. ``max_message_size``, ``ping_interval``, ``deflate=True``; on top
    of a shared configuration they give this connection its own copy.
    """

    __slots__ = (
        "_h",
        "_hp",
        "_evmv",
        "_role",
        "_ev",
        "_evref",
        "_evs",
        "_evsref",
        "_evsmv",
        "_taken",
        "_takenref",
        "_iov",
        "_backlog",
        "_boff",
        "_eof_pending",
        "_closed_seen",
        "__weakref__",
    )

    def __init__(
        self,
        role: Role | str | int,
        *,
        already_open: bool = False,
        now_ms: int | None = None,
        config: Config | None = None,
        **options: Any,
    ) -> None:
        self._h: int | None = None
        self._hp = c_void_p()
        if isinstance(role, str):
            try:
                role = Role[role.upper()]
            except KeyError:
                raise UsageError(ErrorCode.WS_ERR_INVALID_ARG, f"role {role!r}") from None
        self._role = Role(role)
        handle = c_void_p()
        cfg = config._handle() if config is not None else None
        check(lib.ws_conn_new(byref(handle), int(self._role), 1 if already_open else 0, cfg))
        self._h = handle.value
        self._hp = handle  # the same pointer as a ctypes object, for the raw calls
        self._ev = _ffi.ws_event()
        self._evref = byref(self._ev)
        self._evmv = memoryview(self._ev).cast("B")
        self._evs = (_ffi.ws_event * _BATCH)()
        self._evsref = byref(self._evs)
        self._evsmv = memoryview(self._evs).cast("B")
        self._taken = c_size_t()
        self._takenref = byref(self._taken)
        self._iov = (_ffi.ws_iovec * _IOV_MAX)()
        self._backlog = b""  # input the library has not taken yet: _backlog[_boff:]
        self._boff = 0
        self._eof_pending = False
        self._closed_seen = False
        self.tick(now_ms)
        for name, value in options.items():
            self.set_option(name, value)

    # ---- lifetime ----

    def free(self) -> None:
        """Free the C connection now (also done when the object is collected)."""
        h, self._h = self._h, None
        self._hp = c_void_p()  # NULL: the raw calls then fail with WS_ERR_INVALID_ARG
        if h is not None:
            lib.ws_conn_free(h)

    def __del__(self) -> None:
        try:
            self.free()
        except Exception:  # interpreter shutdown: the library may be gone
            pass

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.free()

    def _handle(self) -> int:
        h = self._h
        if h is None:
            raise UsageError(ErrorCode.WS_ERR_INVALID_ARG, "connection already freed")
        return h

    # ---- options ----

    def set_option(self, name: str, value: int | bool) -> None:
        """Set one option by name (see :data:`OPTIONS`); the library checks its range."""
        opt = _option_number(name)
        v = _option_value(name, value)
        check(lib.ws_conn_set_option(self._handle(), opt, v), f"{name}={value!r}")

    def get_option(self, name: str) -> int:
        """Current value of an option."""
        opt = _option_number(name)
        v = c_uint64()
        check(lib.ws_conn_get_option(self._handle(), opt, byref(v)), name)
        return v.value

    # ---- state ----

    @property
    def role(self) -> Role:
        return self._role

    @property
    def state(self) -> State:
        return State(lib.ws_conn_state(self._h) if self._h is not None else State.CLOSED)

    @property
    def closed(self) -> bool:
        return self.state == State.CLOSED

    @property
    def buffered_amount(self) -> int:
        """Bytes queued for output, not yet taken by :meth:`data_to_send`."""
        return _raw_buffered(self._hp)

    @property
    def wants_shutdown(self) -> bool:
        """True when the transport should be shut down now (ws_conn_wants_shutdown):
        half-close the write side, drain the peer's input briefly, then close."""
        return bool(lib.ws_conn_wants_shutdown(self._h)) if self._h is not None else True

    @property
    def subprotocol(self) -> str | None:
        """The negotiated subprotocol once open, else None."""
        p, n = c_void_p(), c_size_t()
        if self._h is None or lib.ws_conn_subprotocol(self._h, byref(p), byref(n)) < 0:
            return None
        return _sv(p, n)

    @property
    def memory(self) -> int:
        """Bytes the connection holds beyond the object itself (ws_conn_memory)."""
        return lib.ws_conn_memory(self._h) if self._h is not None else 0

    @property
    def deflate_params(self) -> dict[str, int] | None:
        """The permessage-deflate parameters agreed, or None."""
        p = _ffi.ws_deflate_params()
        if lib.ws_conn_get_deflate_params(self._handle(), byref(p), _ffi.DEFLATE_PARAMS_SIZE):
            return None
        return {name: getattr(p, name) for name, _ in p._fields_}

    def stats(self) -> dict[str, int]:
        """ws_conn_get_stats as a dict (bytes_in, frames_out, last_rtt_ms, ...)."""
        st = _ffi.ws_conn_stats()
        check(lib.ws_conn_get_stats(self._handle(), byref(st), _ffi.STATS_SIZE))
        return {name: getattr(st, name) for name, _ in st._fields_}

    # ---- time ----

    def tick(self, now_ms: int | None = None) -> None:
        """Pass the current time (ms, monotonic) and run the timers that expired; events
        they make (a timeout's Error + Close, a timer ping's nothing) come from events()."""
        if now_ms is None:
            now_ms = monotonic_ms()
        check(lib.ws_conn_tick(self._handle(), max(0, int(now_ms))))

    def next_deadline(self) -> int | None:
        """When :meth:`tick` is due next (ms, the tick clock), or None when no timer is
        armed. A deadline equal to the last tick means "due now" (bounded inflate steps)."""
        d = lib.ws_conn_next_deadline(self._handle())
        return None if d == _DEADLINE_NONE else d

    # ---- input ----

    def receive_data(self, data: bytes | bytearray | memoryview | None) -> None:
        """Feed bytes read from the transport; ``None`` or ``b""`` means end of file. All
        bytes are accepted: what the library cannot take yet is kept and fed as
        :meth:`events` drains the events."""
        h = self._handle()
        if not data:
            if self.input_pending:
                self._eof_pending = True
            else:
                check(lib.ws_conn_feed_eof(h))
            return
        if type(data) is not bytes:
            data = bytes(data)
        if self.input_pending:
            self._backlog = self._backlog[self._boff :] + data
            self._boff = 0
            self._feed_backlog()
            return
        n = len(data)
        r = _raw_feed(self._hp, data, c_size_t(n), self._takenref)
        if r:
            check(r)
        t = self._taken.value
        if t < n:
            # keep the bytes object itself and where the library stopped: no copy
            self._backlog = data
            self._boff = t

    def _feed_backlog(self) -> int:
        b, off = self._backlog, self._boff
        n = len(b) - off
        if n <= 0:
            return 0
        # an address inside the (immutable, referenced) bytes object: ws_conn_feed copies
        addr = ctypes.cast(b, c_void_p).value + off  # type: ignore[operator]
        r = _raw_feed(self._hp, c_void_p(addr), c_size_t(n), self._takenref)
        if r:
            check(r)
        t = self._taken.value
        if t == n:
            self._backlog, self._boff = b"", 0
            if self._eof_pending:
                self._eof_pending = False
                check(lib.ws_conn_feed_eof(self._h))
        else:
            self._boff = off + t
        return t

    def events(self) -> Iterator[Event]:
        """Yield the events that are ready, in order (Request, Open, Message, Fragment, Ping,
        Pong, Error, Close). Stops when none is left; call again after more input."""
        self._handle()
        while True:
            batch = self._next_batch()
            if not batch:
                return
            yield from batch

    def _next_batch(self) -> list[Event]:
        """The events of one ws_conn_next_events call, converted (their views copied) before
        anything else can call into the library; empty when none is ready."""
        hp, mv, evs = self._hp, self._evsmv, self._evs
        while True:
            r = _raw_next_events(hp, self._evsref, _BATCH_ARG, EVENT_SIZE_ARG)
            if r == 0:
                if self._boff < len(self._backlog) and self._feed_backlog():
                    continue
                return []
            if r < 0:
                check(r, None if self._h is not None else "connection already freed")
            out: list[Event] = []
            for i in range(r):
                t, _, _, op, _, _, _, p, n = _unpack_event(mv, i * EVENT_SIZE)
                if t == _EV_MESSAGE:
                    data = (_c_char * n).from_address(p).raw if n else b""
                    out.append(Message(data.decode("utf-8") if op == _OP_TEXT else data))
                    continue
                e = self._convert(evs[i])
                if e is not None:
                    out.append(e)
            if out:
                return out

    def next_event(self) -> Event | None:
        """The next event, or None when none is ready. Input the library could not take yet
        is fed as events are taken, so an event later in the stream is processed only when
        the ones before it were taken: a caller may act on each event before the next
        (e.g. answer a message before a close frame right behind it is answered)."""
        hp = self._hp
        while True:
            r = _raw_next_event(hp, self._evref, EVENT_SIZE_ARG)
            if r == 0:
                if self._boff < len(self._backlog) and self._feed_backlog():
                    continue
                return None
            if r < 0:
                check(r, None if self._h is not None else "connection already freed")
            t, _, _, op, _, _, _, p, n = _unpack_event(self._evmv)
            if t == _EV_MESSAGE:
                data = (_c_char * n).from_address(p).raw if n else b""
                return Message(data.decode("utf-8") if op == _OP_TEXT else data)
            e = self._convert(self._ev)
            if e is not None:
                return e

    @property
    def input_pending(self) -> int:
        """Bytes given to receive_data that the library has not taken yet (kept here until
        events are taken): a transport may stop reading while this is not 0."""
        return len(self._backlog) - self._boff

    def _convert(self, ev: _ffi.ws_event) -> Event | None:
        t = ev.type
        if t == _EV_FRAGMENT:
            return Fragment(view(ev.data, ev.len), ev.opcode == _OP_TEXT, bool(ev.fin))
        if t == _EV_PING:
            return Ping(view(ev.data, ev.len))
        if t == _EV_PONG:
            return Pong(view(ev.data, ev.len))
        if t == _EV_OPEN:
            return Open(self.subprotocol, self._deflate_agreed())
        if t == _EV_CLOSE:
            self._closed_seen = True
            reason = view(ev.data, ev.len).decode("utf-8", "replace")
            return Close(ev.close_code, reason, bool(ev.by_peer))
        if t == _EV_ERROR:
            code = ev.error
            return Error(code, errname(code), strerror(code), lib.ws_close_code_for_error(code))
        if t == _EV_REQUEST:
            return self._request()
        return None

    def _deflate_agreed(self) -> bool:
        p = _ffi.ws_deflate_params()
        return lib.ws_conn_get_deflate_params(self._h, byref(p), _ffi.DEFLATE_PARAMS_SIZE) == 0

    # ---- handshake views ----

    @staticmethod
    def _headers_of(hs: int) -> list[tuple[str, str]]:
        out = []
        np, nn, vp, vn = c_void_p(), c_size_t(), c_void_p(), c_size_t()
        for i in range(lib.ws_handshake_header_count(hs)):
            if lib.ws_handshake_header_at(hs, i, byref(np), byref(nn), byref(vp), byref(vn)):
                break
            out.append((_sv(np, nn), _sv(vp, vn)))
        return out

    def _request(self) -> Request:
        hs = lib.ws_conn_handshake(self._h)
        if not hs:
            raise UsageError(ErrorCode.WS_ERR_STATE, "no handshake object after WS_EV_REQUEST")
        p, n = c_void_p(), c_size_t()
        lib.ws_handshake_method(hs, byref(p), byref(n))
        method = _sv(p, n)
        lib.ws_handshake_target(hs, byref(p), byref(n))
        target = _sv(p, n)
        host = _sv(p, n) if lib.ws_handshake_host(hs, byref(p), byref(n)) == 0 else None
        subs = []
        for i in range(lib.ws_handshake_subprotocol_count(hs)):
            if lib.ws_handshake_subprotocol(hs, i, byref(p), byref(n)) == 0:
                subs.append(_sv(p, n))
        exts = []
        k = c_size_t()
        vp, vn = c_void_p(), c_size_t()
        for i in range(lib.ws_handshake_extension_count(hs)):
            if lib.ws_handshake_extension(hs, i, byref(p), byref(n), byref(k)):
                break
            e = Extension(_sv(p, n))
            for j in range(k.value):
                if lib.ws_handshake_extension_param(
                    hs, i, j, byref(p), byref(n), byref(vp), byref(vn)
                ):
                    break
                e.params.append((_sv(p, n), _sv(vp, vn) if vp.value else None))
            exts.append(e)
        return Request(method, target, host, self._headers_of(hs), subs, exts)

    def handshake_response(self) -> Response | None:
        """Client: the server's response after a failed handshake (status, headers, body),
        or None (not a client, handshake not failed, or no response read)."""
        if self._h is None or self._role != Role.CLIENT:
            return None
        hs = lib.ws_conn_handshake(self._h)
        if not hs:
            return None
        status = lib.ws_handshake_status(hs)
        if status <= 0:
            return None
        p, n = c_void_p(), c_size_t()
        reason = _sv(p, n) if lib.ws_handshake_reason(hs, byref(p), byref(n)) == 0 else ""
        body = view(p.value, n.value) if lib.ws_handshake_body(hs, byref(p), byref(n)) == 0 else b""
        return Response(status, reason, self._headers_of(hs), body)

    # ---- handshake actions ----

    def start_client(
        self,
        url: str,
        subprotocols: Iterable[str] = (),
        headers: Headers = None,
        extensions: str | None | _Auto = AUTO,
    ) -> None:
        """Client: queue the upgrade request for ``url`` (ws://host[:port]/path?query).
        ``headers``: extra lines (Origin, Authorization, Cookie...) as a mapping, pairs or a
        preformatted string. ``extensions``: AUTO (offer permessage-deflate when
        ``deflate=True``), None/"" for none, or a value to offer as is."""
        u = _cstr(url, ErrorCode.WS_ERR_URI_PATH, "url")
        subs = [_cstr(s, ErrorCode.WS_ERR_ARG_SUBPROTOCOL, "subprotocol") for s in subprotocols]
        arr = (c_char_p * max(1, len(subs)))(*subs)
        check(
            lib.ws_conn_client_start(
                self._handle(),
                u,
                arr if subs else None,
                len(subs),
                self._extensions_arg(extensions),
                _headers_arg(headers),
            ),
            url,
        )

    @staticmethod
    def _extensions_arg(extensions: str | None | _Auto) -> bytes | None:
        if extensions is AUTO:
            return None  # WS_EXTENSIONS_AUTO
        if not extensions:
            return b""  # WS_EXTENSIONS_NONE
        return _cstr(extensions, ErrorCode.WS_ERR_ARG_EXTENSIONS, "extensions", "latin-1")

    def accept(
        self,
        subprotocol: str | None = None,
        extensions: str | None | _Auto = AUTO,
        headers: Headers = None,
    ) -> None:
        """Server, after :class:`Request`: accept with an optional subprotocol (one the
        client offered), extensions (AUTO: answer a permessage-deflate offer per the
        options; None/"": none) and extra response headers. Open follows."""
        check(
            lib.ws_conn_accept(
                self._handle(),
                _cstr(subprotocol, ErrorCode.WS_ERR_ARG_SUBPROTOCOL, "subprotocol"),
                self._extensions_arg(extensions),
                _headers_arg(headers),
            )
        )

    def reject(
        self,
        status: int = 403,
        reason: str | None = None,
        headers: Headers = None,
        body: bytes | str = b"",
    ) -> None:
        """Server, after :class:`Request`: refuse with an HTTP status (200..599), e.g. 401
        with ``headers={"WWW-Authenticate": ...}``. A Close event (1006) follows; send the
        output, then shut the transport."""
        if isinstance(body, str):
            body = body.encode("utf-8")
        body = bytes(body)
        if not 0 <= status <= 0xFFFFFFFF:
            raise UsageError(ErrorCode.WS_ERR_ARG_STATUS, f"status {status}")
        check(
            lib.ws_conn_reject(
                self._handle(),
                status,
                _cstr(reason, ErrorCode.WS_ERR_ARG_STATUS, "reason", "latin-1"),
                _headers_arg(headers),
                body if body else None,
                len(body),
            )
        )

    # ---- output ----

    def send(self, data: str | bytes | bytearray | memoryview, *, text: bool | None = None,
             compress: bool = True) -> None:
        """Queue a whole message: ``str`` goes as text, bytes-like as binary (``text=True``
        sends UTF-8 bytes as text, validated). ``compress=False``: never compress this one.
        Raises WouldBlock above the high-water mark, ClosedError once closing."""
        if isinstance(data, str):
            data = data.encode("utf-8")
            op = _OP_TEXT if text is None or text else _OP_BINARY
        else:
            if type(data) is not bytes:
                data = bytes(data)
            op = _OP_TEXT if text else _OP_BINARY
        r = _raw_send(self._hp, op, data, c_size_t(len(data)), 0 if compress else _SEND_NO_COMPRESS)
        if r:
            check(r, None if self._h is not None else "connection already freed", True)

    def send_fragment(self, data: str | bytes, fin: bool, *, text: bool | None = None,
                      compress: bool = True) -> None:
        """Queue one fragment of a message whose fragmentation you choose; the type (text or
        binary) is that of the first fragment and must stay the same; ``fin`` on the last."""
        if isinstance(data, str):
            data = data.encode("utf-8")
            op = _OP_TEXT if text is None or text else _OP_BINARY
        else:
            data = bytes(data)
            op = _OP_TEXT if text else _OP_BINARY
        check(
            lib.ws_conn_send_fragment(
                self._handle(), op, data, len(data), 1 if fin else 0,
                0 if compress else _SEND_NO_COMPRESS,
            ),
            caller=True,
        )

    @staticmethod
    def _payload(payload: bytes | str) -> bytes:
        return payload.encode("utf-8") if isinstance(payload, str) else bytes(payload)

    def ping(self, payload: bytes | str = b"") -> None:
        """Queue a ping (payload at most 125 bytes)."""
        p = self._payload(payload)
        check(lib.ws_conn_ping(self._handle(), p, len(p)))

    def pong(self, payload: bytes | str = b"") -> None:
        """Queue a pong (an answer when auto_pong=False, or an unsolicited heartbeat)."""
        p = self._payload(payload)
        check(lib.ws_conn_pong(self._handle(), p, len(p)))

    def close(self, code: int | None = 1000, reason: str = "") -> None:
        """Start (or answer) the closing handshake. ``code=None`` sends a close frame
        without a status. Nothing can be sent afterwards."""
        r = reason.encode("utf-8")
        c = 0 if code is None else int(code)
        if not 0 <= c <= 0xFFFF:
            raise UsageError(ErrorCode.WS_ERR_CLOSE_CODE, f"code {code}")
        check(lib.ws_conn_close(self._handle(), c, r if r else None, len(r)), f"code {c}", True)

    def data_to_send(self, limit: int | None = None) -> bytes:
        """Take the pending output (at most ``limit`` bytes) as bytes to write; what is
        returned counts as written (acknowledged to the library)."""
        hp = self._hp
        if self._h is None:
            return b""
        iov = self._iov
        out = []
        total = 0
        while limit is None or total < limit:
            k = _raw_output(hp, iov, _IOV_MAX)
            if k <= 0:
                break
            taken = 0
            for i in range(k):
                v = iov[i]
                n = v.len
                if limit is not None and total + taken + n > limit:
                    n = limit - total - taken
                if n:
                    out.append((_c_char * n).from_address(v.base).raw)
                    taken += n
                if n < v.len:
                    break
            r = _raw_ack(hp, c_size_t(taken))
            if r:
                check(r)
            total += taken
        if not out:
            return b""
        return out[0] if len(out) == 1 else b"".join(out)

    def __repr__(self) -> str:
        st = self.state.name if self._h is not None else "FREED"
        return f"<libws.Connection {self._role.name.lower()} {st}>"


def library_version() -> str:
    """Version of the libws shared library in use, e.g. "0.2.0"."""
    return lib.version


def library_path() -> str:
    """Where the shared library was found (which rule of the search, and the path)."""
    return lib.origin


def deflate_available() -> bool:
    """True if the library was built with zlib (permessage-deflate available)."""
    return bool(lib.ws_deflate_available())


def close_code_valid(code: int) -> bool:
    """True if ``code`` may be sent in a close frame."""
    return 0 <= code <= 0xFFFFFFFF and bool(lib.ws_close_code_valid(code))


def parse_uri(url: str) -> dict[str, Any]:
    """ws_uri_parse: {"host", "port", "path", "query", "secure", "ipv6"}; raises URIError."""
    b = _cstr(url, ErrorCode.WS_ERR_URI_PATH, "url")
    assert b is not None
    u = _ffi.ws_uri()
    # the views point into b: keep it alive (it is, as a local) while they are read
    check(lib.ws_uri_parse(b, len(b), byref(u), _ffi.URI_SIZE), url)
    return {
        "host": view(u.host, u.host_len).decode("latin-1"),
        "port": u.port,
        "path": view(u.path, u.path_len).decode("latin-1") or "/",
        "query": view(u.query, u.query_len).decode("latin-1") if u.query else None,
        "secure": bool(u.secure),
        "ipv6": bool(u.ipv6),
    }
