"""Typed events of the sans-I/O :class:`~libws.Connection` (one per ``WS_EV_*`` type).

Payloads are copied out of the library into Python objects as each event is taken, so an
event stays valid for as long as you keep it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Event",
    "Extension",
    "Request",
    "Response",
    "Open",
    "Message",
    "Fragment",
    "Ping",
    "Pong",
    "Close",
    "Error",
]


@dataclass(slots=True)
class Event:
    """Base class of every event."""


@dataclass(slots=True)
class Extension:
    """One offered (server) or accepted (client) element of Sec-WebSocket-Extensions."""

    name: str
    params: list[tuple[str, str | None]] = field(default_factory=list)


def _lookup(headers: list[tuple[str, str]], name: str) -> str | None:
    n = name.lower()
    for k, v in headers:
        if k.lower() == n:
            return v
    return None


@dataclass(slots=True)
class Request(Event):
    """Server: the client's upgrade request is in. Answer with ``accept()`` or ``reject()``.

    ``headers`` are the header lines in arrival order (names as sent; values decoded as
    ISO-8859-1, HTTP's historical charset); ``subprotocols`` and ``extensions`` what the
    client offered."""

    method: str
    target: str
    host: str | None
    headers: list[tuple[str, str]]
    subprotocols: list[str]
    extensions: list[Extension]

    @property
    def path(self) -> str:
        """The target without its query string."""
        return self.target.split("?", 1)[0]

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        return _lookup(self.headers, name)


@dataclass(slots=True)
class Response:
    """Client: the server's answer to a handshake that failed (not an event; see
    ``Connection.handshake_response()``)."""

    status: int
    reason: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        """First value of header ``name`` (case-insensitive), or None."""
        return _lookup(self.headers, name)


@dataclass(slots=True)
class Open(Event):
    """The handshake is done: messages may be sent. ``subprotocol``: the one agreed, or
    None; ``deflate``: whether permessage-deflate was negotiated."""

    subprotocol: str | None = None
    deflate: bool = False


@dataclass(slots=True)
class Message(Event):
    """A complete message: ``str`` for a text message (UTF-8 already validated by the
    library), ``bytes`` for a binary one."""

    data: str | bytes

    @property
    def is_text(self) -> bool:
        return isinstance(self.data, str)


@dataclass(slots=True)
class Fragment(Event):
    """Streaming mode (``streaming=True``): a chunk of a message. Text chunks are raw bytes
    (a chunk may end inside a UTF-8 sequence; the whole message is validated); ``fin`` marks
    the last chunk."""

    data: bytes
    is_text: bool
    fin: bool


@dataclass(slots=True)
class Ping(Event):
    """The peer sent a ping (already answered unless ``auto_pong=False``)."""

    payload: bytes = b""


@dataclass(slots=True)
class Pong(Event):
    """The peer sent a pong."""

    payload: bytes = b""


@dataclass(slots=True)
class Close(Event):
    """The connection is closed; always the last event. ``code``: the code received, 1005
    when the close frame had none, 1006 when the connection ended without one (or failed);
    ``by_peer``: the peer started the closing handshake."""

    code: int
    reason: str = ""
    by_peer: bool = False


@dataclass(slots=True)
class Error(Event):
    """Which rule the peer broke, or which timer fired. ``code`` is the ws_err value,
    ``name`` its C name (``"WS_ERR_INVALID_UTF8"``), ``text`` the library's description,
    ``close_code`` the close code sent for it. A :class:`Close` event follows."""

    code: int
    name: str
    text: str
    close_code: int = 0

    def exception(self):
        """This error as a :class:`~libws.errors.LibwsError` subclass instance."""
        from .errors import error_class

        return error_class(self.code)(self.code)
