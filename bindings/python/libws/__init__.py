"""libws: Python binding of libws, the sans-I/O RFC 6455 WebSocket library in C.

Two layers:

- :class:`Connection` -- sans-I/O, shaped like wsproto: ``receive_data(bytes)``, typed
  ``events()``, ``send``/``ping``/``close``, ``data_to_send()``, timers with ``tick``;
- :mod:`libws.asyncio` -- ``serve(handler, host, port)`` and ``connect(uri)``, shaped like
  websockets (also reachable as ``libws.serve`` / ``libws.connect``).

The shared library is found through ``$LIBWS_LIBRARY``, the source tree's ``build/`` or the
system (see :mod:`libws._ffi`).
"""

from __future__ import annotations

from typing import Any

from .connection import (
    AUTO,
    OPTIONS,
    SEND_POLICY_CLOSE_1009,
    SEND_POLICY_CLOSE_1013,
    SEND_POLICY_ERROR,
    CloseCode,
    Config,
    Connection,
    Role,
    State,
    close_code_valid,
    deflate_available,
    library_path,
    library_version,
    monotonic_ms,
    parse_uri,
)
from .errors import (
    ClosedError,
    ErrorCode,
    HandshakeError,
    LibwsError,
    ProtocolError,
    ResourceError,
    URIError,
    UsageError,
    WouldBlock,
)
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
from ._ffi import LibraryNotFoundError, LibraryVersionError

__version__ = "0.2.0"

__all__ = [
    "AUTO",
    "Config",
    "OPTIONS",
    "SEND_POLICY_CLOSE_1009",
    "SEND_POLICY_CLOSE_1013",
    "SEND_POLICY_ERROR",
    "CloseCode",
    "Connection",
    "Role",
    "State",
    "close_code_valid",
    "deflate_available",
    "library_path",
    "library_version",
    "monotonic_ms",
    "parse_uri",
    "ClosedError",
    "ErrorCode",
    "HandshakeError",
    "LibwsError",
    "ProtocolError",
    "ResourceError",
    "URIError",
    "UsageError",
    "WouldBlock",
    "LibraryNotFoundError",
    "LibraryVersionError",
    "Close",
    "Error",
    "Event",
    "Extension",
    "Fragment",
    "Message",
    "Open",
    "Ping",
    "Pong",
    "Request",
    "Response",
    "serve",
    "connect",
]


def __getattr__(name: str) -> Any:
    # libws.serve / libws.connect without importing asyncio for sans-I/O users.
    if name in ("serve", "connect"):
        from . import asyncio as _aio

        return getattr(_aio, name)
    raise AttributeError(f"module 'libws' has no attribute {name!r}")
