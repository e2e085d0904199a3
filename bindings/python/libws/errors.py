"""Errors: every ``ws_err`` of the C library as a Python exception.

Each exception carries ``code`` (the negative ``ws_err`` value), ``name`` (its enumerator name,
``ws_errname``, e.g. ``"WS_ERR_RANGE"``) and ``text`` (``ws_strerror``). The class says whose
mistake it was:

- :class:`UsageError` -- the caller's (``WS_ERR_INVALID_ARG``, ``_STATE``, ``_OPTION``,
  ``_RANGE``, ``_UNSUPPORTED``, ``_NOT_FOUND``, ``_BUFFER_TOO_SMALL`` and every
  ``WS_ERR_ARG_*``); :class:`URIError` for ``WS_ERR_URI_*``;
- :class:`ResourceError` -- memory, budget or randomness ran out;
- :class:`WouldBlock` -- the output queue is above its high-water mark: drain, then retry;
- :class:`ClosedError` -- the connection is closing or closed;
- :class:`HandshakeError` -- the opening handshake failed (``WS_ERR_HS_*``, ``WS_ERR_H2_*``);
- :class:`ProtocolError` -- the peer broke a rule, a timer fired or the transport ended
  (frame, connection, UTF-8 and deflate errors; these normally arrive as :class:`Error`
  events rather than as raised exceptions).

``ErrorCode`` lists the values of API 0.2; :func:`error_class` maps any code to its class.
"""

from __future__ import annotations

from enum import IntEnum

from ._ffi import lib

__all__ = [
    "ErrorCode",
    "LibwsError",
    "UsageError",
    "URIError",
    "ResourceError",
    "WouldBlock",
    "ClosedError",
    "HandshakeError",
    "ProtocolError",
    "error_class",
    "errname",
    "strerror",
]


class ErrorCode(IntEnum):
    """The ``ws_err`` values of libws 0.2 (include/ws.h), by their C names."""

    WS_OK = 0
    WS_ERR_NOMEM = -1
    WS_ERR_INVALID_ARG = -2
    WS_ERR_BUFFER_TOO_SMALL = -3
    WS_ERR_STATE = -4
    WS_ERR_RANDOM = -5
    WS_ERR_UNSUPPORTED = -6
    WS_ERR_NOT_FOUND = -7
    WS_ERR_OPTION = -8
    WS_ERR_RANGE = -9
    WS_ERR_BUDGET = -10
    WS_ERR_FRAME_LEN64_MSB = -20
    WS_ERR_FRAME_CONTROL_TOO_LONG = -21
    WS_ERR_FRAME_CONTROL_FRAGMENTED = -22
    WS_ERR_FRAME_RESERVED_OPCODE = -23
    WS_ERR_FRAME_RSV = -24
    WS_ERR_FRAME_UNMASKED = -25
    WS_ERR_FRAME_MASKED = -26
    WS_ERR_FRAME_TOO_LARGE = -27
    WS_ERR_FRAME_NON_MINIMAL_LENGTH = -28
    WS_ERR_HS_SYNTAX = -40
    WS_ERR_HS_BARE_LF = -41
    WS_ERR_HS_OBS_FOLD = -42
    WS_ERR_HS_CTL_CHAR = -43
    WS_ERR_HS_TOO_LARGE = -44
    WS_ERR_HS_TOO_MANY_HEADERS = -45
    WS_ERR_HS_DUPLICATE = -46
    WS_ERR_HS_METHOD = -47
    WS_ERR_HS_VERSION_HTTP = -48
    WS_ERR_HS_NO_HOST = -49
    WS_ERR_HS_UPGRADE = -50
    WS_ERR_HS_CONNECTION = -51
    WS_ERR_HS_KEY = -52
    WS_ERR_HS_WS_VERSION = -53
    WS_ERR_HS_BODY = -54
    WS_ERR_HS_SUBPROTOCOL = -55
    WS_ERR_HS_EXTENSION = -56
    WS_ERR_HS_STATUS = -57
    WS_ERR_HS_ACCEPT = -58
    WS_ERR_ARG_SUBPROTOCOL = -59
    WS_ERR_URI_SCHEME = -60
    WS_ERR_URI_HOST = -61
    WS_ERR_URI_PORT = -62
    WS_ERR_URI_FRAGMENT = -63
    WS_ERR_URI_USERINFO = -64
    WS_ERR_URI_PATH = -65
    WS_ERR_ARG_EXTENSIONS = -66
    WS_ERR_ARG_HEADERS = -67
    WS_ERR_ARG_STATUS = -68
    WS_ERR_H2_METHOD = -70
    WS_ERR_H2_PROTOCOL = -71
    WS_ERR_H2_SCHEME = -72
    WS_ERR_H2_PATH = -73
    WS_ERR_H2_AUTHORITY = -74
    WS_ERR_H2_PSEUDO = -75
    WS_ERR_H2_HEADER = -76
    WS_ERR_WOULD_BLOCK = -80
    WS_ERR_CLOSED = -81
    WS_ERR_UNEXPECTED_CONTINUATION = -82
    WS_ERR_EXPECTED_CONTINUATION = -83
    WS_ERR_INVALID_UTF8 = -84
    WS_ERR_MESSAGE_TOO_BIG = -85
    WS_ERR_CLOSE_PAYLOAD = -86
    WS_ERR_CLOSE_CODE = -87
    WS_ERR_DATA_TYPE = -88
    WS_ERR_PONG_TIMEOUT = -89
    WS_ERR_HANDSHAKE_TIMEOUT = -90
    WS_ERR_IDLE_TIMEOUT = -91
    WS_ERR_CLOSE_TIMEOUT = -92
    WS_ERR_EOF = -93
    WS_ERR_OUTPUT_OVERFLOW = -94
    WS_ERR_EVENTS_PENDING = -95
    WS_ERR_MESSAGE_TIMEOUT = -96
    WS_ERR_SEND_TIMEOUT = -97
    WS_ERR_OUTPUT_DISCARDED = -98
    WS_ERR_AFTER_CLOSE = -99
    WS_ERR_DEFLATE_DATA = -120
    WS_ERR_DEFLATE_RSV1 = -121
    WS_ERR_DEFLATE_NEGOTIATION = -122


def errname(code: int) -> str:
    """``ws_errname(code)``: the enumerator name, e.g. ``"WS_ERR_NOMEM"``."""
    return lib.ws_errname(code).decode("ascii", "replace")


def strerror(code: int) -> str:
    """``ws_strerror(code)``: the library's one-line description."""
    return lib.ws_strerror(code).decode("utf-8", "replace")


class LibwsError(Exception):
    """A libws call failed. ``code``: the ws_err value; ``name``: its C name; ``text``: its
    description; ``detail``: what the binding was doing (may be None)."""

    code: int
    name: str
    text: str
    detail: str | None

    def __init__(self, code: int, detail: str | None = None) -> None:
        self.code = int(code)
        self.name = errname(self.code)
        self.text = strerror(self.code)
        self.detail = detail
        msg = f"{self.name}: {self.text}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg)

    def __reduce__(self):  # picklable (e.g. across processes)
        return (type(self), (self.code, self.detail))


class UsageError(LibwsError):
    """The caller's mistake: a bad argument, option, range, or a call in the wrong state."""


class URIError(UsageError):
    """The URL given to a client is not a valid ws:// or wss:// URI (WS_ERR_URI_*)."""


class ResourceError(LibwsError):
    """Out of memory, over a memory budget, or the random source failed."""


class WouldBlock(LibwsError):
    """The output queue is above its high-water mark (WS_ERR_WOULD_BLOCK): write what is
    pending (data_to_send) and retry."""


class ClosedError(LibwsError):
    """The connection is closing or closed (WS_ERR_CLOSED): nothing more can be sent."""


class HandshakeError(LibwsError):
    """The opening handshake failed (WS_ERR_HS_*, WS_ERR_H2_*)."""


class ProtocolError(LibwsError):
    """The peer broke a rule of RFC 6455 / RFC 7692, a timer fired, or the transport ended."""


_USAGE = {
    ErrorCode.WS_ERR_INVALID_ARG,
    ErrorCode.WS_ERR_BUFFER_TOO_SMALL,
    ErrorCode.WS_ERR_STATE,
    ErrorCode.WS_ERR_UNSUPPORTED,
    ErrorCode.WS_ERR_NOT_FOUND,
    ErrorCode.WS_ERR_OPTION,
    ErrorCode.WS_ERR_RANGE,
    ErrorCode.WS_ERR_ARG_SUBPROTOCOL,
    ErrorCode.WS_ERR_ARG_EXTENSIONS,
    ErrorCode.WS_ERR_ARG_HEADERS,
    ErrorCode.WS_ERR_ARG_STATUS,
    ErrorCode.WS_ERR_EVENTS_PENDING,
}
_RESOURCE = {ErrorCode.WS_ERR_NOMEM, ErrorCode.WS_ERR_BUDGET, ErrorCode.WS_ERR_RANDOM}


def error_class(code: int) -> type[LibwsError]:
    """The exception class for a ws_err value (ranges of ws.h: general -1..-19, frame
    -20..-39, handshake -40..-79, connection -80..-119, deflate -120..-139)."""
    if code in _USAGE:
        return UsageError
    if code in _RESOURCE:
        return ResourceError
    if code == ErrorCode.WS_ERR_WOULD_BLOCK:
        return WouldBlock
    if code == ErrorCode.WS_ERR_CLOSED:
        return ClosedError
    if -65 <= code <= -60:
        return URIError
    if -79 <= code <= -40:
        return HandshakeError
    if code <= -20:
        return ProtocolError
    return LibwsError


#: Codes from the peer's ranges that some calls also return for the caller's own mistake
#: (ws_conn_send: text that is not UTF-8; ws_conn_close: a code not allowed on the wire).
_CALLER_TOO = {ErrorCode.WS_ERR_INVALID_UTF8, ErrorCode.WS_ERR_CLOSE_CODE}


def check(r: int, detail: str | None = None, caller: bool = False) -> int:
    """Raise the matching exception for a negative return, else return r. ``caller``: the
    call validates the caller's own data, so WS_ERR_INVALID_UTF8 / WS_ERR_CLOSE_CODE are
    usage errors there, not the peer's."""
    if r < 0:
        cls = UsageError if caller and r in _CALLER_TOO else error_class(r)
        raise cls(r, detail)
    return r
