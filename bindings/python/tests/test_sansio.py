"""The sans-I/O layer in memory: a server and a client Connection pumping bytes to each other,
and raw frames from a misbehaving peer."""

import os
import random
import subprocess
import sys

import pytest

import libws
from libws import (
    Close,
    Connection,
    Error,
    ErrorCode,
    Fragment,
    Message,
    Open,
    Ping,
    Pong,
    Request,
    State,
)
from libws.errors import error_class, errname, strerror

from wire import close_code_of, frame, parse

T0 = 1_000_000  # a fixed clock for the tests (ms)


def pump(src, dst):
    """Move src's output to dst; return the events dst produced."""
    data = src.data_to_send()
    if data:
        dst.receive_data(data)
    return list(dst.events())


def handshake(server_opts=None, client_opts=None, *, url="ws://example.com/chat",
              subprotocols=(), headers=None, accept=None):
    s = Connection("server", now_ms=T0, **(server_opts or {}))
    c = Connection("client", now_ms=T0, **(client_opts or {}))
    c.start_client(url, subprotocols=subprotocols, headers=headers)
    evs = pump(c, s)
    assert len(evs) == 1 and isinstance(evs[0], Request)
    s.accept(**(accept or {}))
    assert [type(e) for e in s.events()] == [Open]
    evs = pump(s, c)
    assert [type(e) for e in evs] == [Open]
    return s, c, evs[0]


# ---- handshake ----


def test_handshake_request_view_and_accept():
    s = Connection("server", now_ms=T0)
    c = Connection("client", now_ms=T0)
    assert s.state == State.CONNECTING and c.role == libws.Role.CLIENT
    c.start_client("ws://example.com:8080/chat?room=1", subprotocols=["v2.chat", "v1.chat"],
                   headers={"Origin": "https://example.com", "X-Token": "abc"})
    (req,) = pump(c, s)
    assert isinstance(req, Request)
    assert req.method == "GET"
    assert req.target == "/chat?room=1" and req.path == "/chat"
    assert req.host == "example.com:8080"
    assert req.subprotocols == ["v2.chat", "v1.chat"]
    assert req.header("origin") == "https://example.com"
    assert req.header("X-TOKEN") == "abc"
    assert req.header("missing") is None
    assert ("Sec-WebSocket-Version", "13") in req.headers
    s.accept(subprotocol="v1.chat", headers=[("Set-Cookie", "id=1")])
    assert [type(e) for e in s.events()] == [Open]
    (op,) = pump(s, c)
    assert op == Open(subprotocol="v1.chat", deflate=False)
    assert s.subprotocol == c.subprotocol == "v1.chat"
    assert s.state == c.state == State.OPEN


def test_handshake_offers_deflate_when_asked():
    if not libws.deflate_available():
        pytest.skip("library built without zlib")
    s = Connection("server", now_ms=T0, deflate=True)
    c = Connection("client", now_ms=T0, deflate=True)
    c.start_client("ws://h/")
    (req,) = pump(c, s)
    assert [e.name for e in req.extensions] == ["permessage-deflate"]
    assert ("client_max_window_bits", None) in req.extensions[0].params
    s.accept()
    list(s.events())
    (op,) = pump(s, c)
    assert op.deflate is True
    assert c.deflate_params["server_max_window_bits"] == 15
    big = "compressible " * 5000
    c.send(big)
    wire_bytes = c.data_to_send()
    assert len(wire_bytes) < len(big) // 10
    s.receive_data(wire_bytes)
    assert list(s.events()) == [Message(big)]


def test_reject_with_status_headers_and_body():
    s = Connection("server", now_ms=T0)
    c = Connection("client", now_ms=T0)
    c.start_client("ws://h/private")
    pump(c, s)
    s.reject(401, headers={"WWW-Authenticate": 'Basic realm="x"'}, body="who are you?")
    evs = list(s.events())
    assert isinstance(evs[-1], Close) and evs[-1].code == 1006
    evs = pump(s, c)
    assert isinstance(evs[0], Error) and evs[0].name == "WS_ERR_HS_STATUS"
    assert isinstance(evs[-1], Close) and evs[-1].code == 1006
    r = c.handshake_response()
    assert r.status == 401 and r.reason == "Unauthorized"
    assert r.header("www-authenticate") == 'Basic realm="x"'
    assert r.body == b"who are you?"
    assert c.state == State.CLOSED


def test_accept_errors_are_usage_errors():
    s = Connection("server", now_ms=T0)
    c = Connection("client", now_ms=T0)
    with pytest.raises(libws.UsageError) as ei:
        s.accept()  # no request yet
    assert ei.value.name == "WS_ERR_STATE"
    c.start_client("ws://h/", subprotocols=["a"])
    pump(c, s)
    with pytest.raises(libws.UsageError) as ei:
        s.accept(subprotocol="not-offered")
    assert ei.value.name == "WS_ERR_ARG_SUBPROTOCOL"
    with pytest.raises(libws.UsageError) as ei:
        s.accept(headers={"Upgrade": "h2c"})  # a header the library writes
    assert ei.value.name == "WS_ERR_ARG_HEADERS"
    with pytest.raises(libws.UsageError) as ei:
        s.accept(headers={"X-A": "1\r\nX-Injected: 2"})
    assert ei.value.name == "WS_ERR_ARG_HEADERS"
    with pytest.raises(libws.UsageError):
        s.reject(99)
    s.accept(subprotocol="a")  # still possible after the refused calls
    assert [type(e) for e in s.events()] == [Open]


def test_client_url_and_argument_errors():
    c = Connection("client", now_ms=T0)
    for url, name in [
        ("http://h/", "WS_ERR_URI_SCHEME"),
        ("ws://h:0/", "WS_ERR_URI_PORT"),
        ("ws://h/#frag", "WS_ERR_URI_FRAGMENT"),
        ("ws://user@h/", "WS_ERR_URI_USERINFO"),
        ("ws://h/\0", "WS_ERR_URI_PATH"),
    ]:
        with pytest.raises(libws.URIError) as ei:
            c.start_client(url)
        assert ei.value.name == name
        assert ei.value.code == ErrorCode[name]
    with pytest.raises(libws.UsageError) as ei:
        c.start_client("ws://h/", subprotocols=["bad token"])
    assert ei.value.name == "WS_ERR_ARG_SUBPROTOCOL"
    with pytest.raises(libws.UsageError) as ei:
        c.start_client("ws://h/", headers="X-A: \0\r\n")
    assert ei.value.name == "WS_ERR_ARG_HEADERS"
    c2 = Connection("client", now_ms=T0)
    with pytest.raises(libws.UsageError) as ei:
        c2.receive_data(b"HTTP/1.1 101 ...")  # before start_client
    assert ei.value.name == "WS_ERR_STATE"
    assert libws.parse_uri("wss://[::1]:9000/a?b") == {
        "host": "::1", "port": 9000, "path": "/a", "query": "b", "secure": True, "ipv6": True,
    }


def test_handshake_byte_by_byte_and_pipelined_frame():
    s = Connection("server", now_ms=T0)
    c = Connection("client", now_ms=T0)
    c.start_client("ws://h/")
    req = c.data_to_send()
    first = frame(1, b"early")
    evs = []
    for i in range(len(req)):
        s.receive_data(req[i : i + 1])
        evs += list(s.events())
    s.receive_data(first)  # before the request is answered: kept
    evs += list(s.events())
    assert [type(e) for e in evs] == [Request]
    s.accept()
    assert list(s.events()) == [Open(), Message("early")]


# ---- messages ----


def test_text_binary_both_ways():
    s, c, _ = handshake()
    c.send("héllo wörld ✓")
    c.send(b"\x00\xff" * 10)
    c.send("")
    c.send(b"")
    c.send("raw text".encode(), text=True)
    assert pump(c, s) == [
        Message("héllo wörld ✓"),
        Message(b"\x00\xff" * 10),
        Message(""),
        Message(b""),
        Message("raw text"),
    ]
    s.send(bytearray(b"ba"))
    s.send(memoryview(b"mv"))
    s.send("s")
    evs = pump(s, c)
    assert evs == [Message(b"ba"), Message(b"mv"), Message("s")]
    assert evs[2].is_text and not evs[0].is_text
    st = s.stats()
    assert st["messages_in"] == 5 and st["messages_out"] == 3


def test_large_message_in_small_chunks():
    s, c, _ = handshake(server_opts={"max_message_size": 4 << 20})
    payload = os.urandom(1 << 20)
    c.send(payload)
    data = c.data_to_send()
    events = []
    for i in range(0, len(data), 7919):
        s.receive_data(data[i : i + 7919])
        events += list(s.events())
    assert events == [Message(payload)]


def test_one_big_read_of_many_frames_uses_the_backlog():
    s, c, _ = handshake()
    for i in range(20000):
        c.send(f"m{i}")
    data = c.data_to_send()
    assert len(data) > s.get_option("max_input_buffer")
    s.receive_data(data)  # more than the input buffer: the rest is kept and fed as drained
    got = [e.data for e in s.events()]
    assert got == [f"m{i}" for i in range(20000)]


def test_fragments_sent_and_reassembled():
    s, c, _ = handshake()
    c.send_fragment("hel", fin=False)
    c.ping(b"in between")
    c.send_fragment("lo", fin=True)
    evs = pump(c, s)
    assert evs == [Ping(b"in between"), Message("hello")]
    with pytest.raises(libws.UsageError) as ei:
        c.send_fragment("é".encode()[:1], fin=True, text=True)  # ends inside a character
    assert ei.value.name == "WS_ERR_INVALID_UTF8"


def test_streaming_mode_gives_fragments():
    s, c, _ = handshake(server_opts={"streaming": True})
    c.send_fragment(b"ab", fin=False)
    c.send_fragment(b"cd", fin=True)
    c.send("t")
    evs = pump(c, s)
    assert evs == [
        Fragment(b"ab", False, False),
        Fragment(b"cd", False, True),
        Fragment(b"t", True, True),
    ]


def test_raw_fragmented_message_from_the_wire():
    s, c, _ = handshake()
    s.receive_data(frame(1, b"fr", fin=False) + frame(0, "ä".encode()[:1], fin=False)
                   + frame(9, b"p") + frame(0, "ä".encode()[1:] + b"g", fin=True))
    assert list(s.events()) == [Ping(b"p"), Message("fräg")]


# ---- control frames ----


def test_ping_pong_auto_and_manual():
    s, c, _ = handshake(client_opts={"auto_pong": False})
    s.ping(b"hb")
    assert pump(s, c) == [Ping(b"hb")]
    assert s.data_to_send() == b""
    assert c.data_to_send() == b""  # auto_pong off: nothing answered
    c.pong(b"hb")
    assert pump(c, s) == [Pong(b"hb")]
    c.ping("from client")
    assert pump(c, s) == [Ping(b"from client")]
    assert pump(s, c) == [Pong(b"from client")]  # the server answers by itself
    with pytest.raises(libws.UsageError):
        s.ping(b"x" * 126)


# ---- closing ----


@pytest.mark.parametrize("code,reason", [(1000, ""), (1001, "bye"), (3000, "app"),
                                         (4999, "ü" * 40)])
def test_close_codes_round_trip(code, reason):
    s, c, _ = handshake()
    c.close(code, reason)
    with pytest.raises(libws.ClosedError):
        c.send("too late")
    (ev,) = pump(c, s)
    assert ev == Close(code, reason, True)
    assert s.state == State.CLOSED
    (ev,) = pump(s, c)
    assert ev.code == code and ev.by_peer is False
    assert s.wants_shutdown  # a server closes the transport first
    c.receive_data(None)  # the server's end of file
    assert list(c.events()) == []
    assert c.wants_shutdown


def test_close_without_status_and_invalid_codes():
    s, c, _ = handshake()
    for bad in (999, 1005, 1006, 1015, 2999, 5000, 70000):
        with pytest.raises(libws.UsageError) as ei:
            s.close(bad)
        assert ei.value.name == "WS_ERR_CLOSE_CODE"
    with pytest.raises(libws.UsageError):
        s.close(1000, "x" * 124)  # reason longer than 123 bytes
    s.close(None)
    (ev,) = pump(s, c)
    assert ev == Close(1005, "", True)


def test_eof_without_close_is_1006():
    s, c, _ = handshake()
    s.receive_data(b"")
    evs = list(s.events())
    assert isinstance(evs[0], Error) and evs[0].name == "WS_ERR_EOF"
    assert evs[-1] == Close(1006, evs[-1].reason, False)


# ---- protocol errors from the wire: the right close code ----

BAD_FRAMES = [
    # (name, bytes a client sends after the handshake, ws_err, close code)
    ("unmasked", frame(1, b"x", mask=False), "WS_ERR_FRAME_UNMASKED", 1002),
    ("reserved opcode", frame(3, b""), "WS_ERR_FRAME_RESERVED_OPCODE", 1002),
    ("rsv1 without extension", frame(1, b"x", rsv=4), "WS_ERR_FRAME_RSV", 1002),
    ("fragmented ping", frame(9, b"", fin=False), "WS_ERR_FRAME_CONTROL_FRAGMENTED", 1002),
    ("long ping", frame(9, b"x" * 126), "WS_ERR_FRAME_CONTROL_TOO_LONG", 1002),
    ("non-minimal length", frame(2, b"ab", length=2), "WS_ERR_FRAME_NON_MINIMAL_LENGTH", 1002),
    ("invalid utf-8", frame(1, b"\xc3\x28"), "WS_ERR_INVALID_UTF8", 1007),
    ("lone continuation", frame(0, b"x"), "WS_ERR_UNEXPECTED_CONTINUATION", 1002),
    ("new message mid-message", frame(1, b"a", fin=False) + frame(1, b"b"),
     "WS_ERR_EXPECTED_CONTINUATION", 1002),
    ("1-byte close", frame(8, b"\x03"), "WS_ERR_CLOSE_PAYLOAD", 1002),
    ("close code 1005 on the wire", frame(8, b"\x03\xed"), "WS_ERR_CLOSE_CODE", 1002),
    ("close reason not utf-8", frame(8, b"\x03\xe8\xff"), "WS_ERR_INVALID_UTF8", 1007),
]


@pytest.mark.parametrize("name,data,err,code", BAD_FRAMES, ids=[b[0] for b in BAD_FRAMES])
def test_protocol_errors_close_with_the_rfc_code(name, data, err, code):
    s, c, _ = handshake()
    s.receive_data(data)
    evs = list(s.events())
    assert [type(e) for e in evs] == [Error, Close], evs
    assert evs[0].name == err and evs[0].close_code == code
    assert evs[0].code == ErrorCode[err]
    assert isinstance(evs[0].exception(), libws.ProtocolError)
    assert evs[1].code == code
    assert close_code_of(s.data_to_send()) == code
    assert s.state == State.CLOSED
    s.receive_data(frame(1, b"after"))  # input after a failure is discarded
    assert list(s.events()) == []


def test_masked_frame_from_a_server_fails_the_client():
    s, c, _ = handshake()
    c.receive_data(frame(1, b"x", mask=True))
    evs = list(c.events())
    assert evs[0].name == "WS_ERR_FRAME_MASKED" and evs[-1].code == 1002


def test_refused_data_type_is_1003():
    s, c, _ = handshake(server_opts={"refuse_binary": True})
    c.send(b"bin")
    evs = pump(c, s)
    assert evs[0].name == "WS_ERR_DATA_TYPE" and evs[-1].code == 1003


# ---- limits ----


def test_message_too_big_is_1009():
    s, c, _ = handshake(server_opts={"max_message_size": 1000})
    c.send(b"x" * 1000)
    c.send(b"x" * 1001)
    evs = pump(c, s)
    assert evs[0] == Message(b"x" * 1000)
    assert evs[1].name in ("WS_ERR_FRAME_TOO_LARGE", "WS_ERR_MESSAGE_TOO_BIG")
    assert evs[-1].code == 1009
    s2, c2, _ = handshake(server_opts={"max_message_size": 1000})
    c2.send_fragment(b"x" * 600, fin=False)
    c2.send_fragment(b"x" * 600, fin=True)
    evs = pump(c2, s2)
    assert evs[0].name == "WS_ERR_MESSAGE_TOO_BIG" and evs[-1].code == 1009


def test_send_high_water_would_block_then_drains():
    s, c, _ = handshake(server_opts={"send_high_water": 20_000})
    s.send(b"x" * 8000)
    s.send(b"x" * 8000)
    with pytest.raises(libws.WouldBlock) as ei:
        s.send(b"x" * 8000)  # would pass the mark: nothing queued
    assert ei.value.name == "WS_ERR_WOULD_BLOCK"
    before = s.buffered_amount
    assert before == 2 * 8004
    part = s.data_to_send(limit=100)
    assert len(part) == 100 and s.buffered_amount == before - 100
    c.receive_data(part + s.data_to_send())
    assert s.buffered_amount == 0
    s.send(b"y")
    c.receive_data(s.data_to_send())
    assert [len(e.data) for e in c.events()] == [8000, 8000, 1]
    s.send(b"z" * 20_001)  # larger than the mark: an empty queue still takes one message
    assert s.buffered_amount == 20_001 + 4
    with pytest.raises(libws.WouldBlock):
        s.send(b"y")  # behind it, the mark applies: wait for the drain
    c.receive_data(s.data_to_send())
    assert [len(e.data) for e in c.events()] == [20_001]
    s.send(b"y")


def test_send_policy_close_1013():
    s, c, _ = handshake(server_opts={"send_high_water": 300,
                                     "send_policy": libws.SEND_POLICY_CLOSE_1013})
    s.send(b"x" * 200)
    with pytest.raises(libws.WouldBlock):
        s.send(b"x" * 200)
    evs = list(s.events())
    assert evs[0].name == "WS_ERR_OUTPUT_OVERFLOW" and evs[-1].code == 1013


def test_options_ranges_are_checked_by_the_library():
    c = Connection("server", now_ms=T0)
    bad = {
        "max_message_size": 0,
        "max_frame_size": 0,
        "auto_pong": 2,
        "send_policy": 3,
        "deflate_window_bits": 8,
        "deflate_peer_window_bits": 16,
        "deflate_mem_level": 10,
        "deflate_level": 10,
        "max_input_buffer": 0,
        "handshake_timeout": 1 << 32,
    }
    for name, value in bad.items():
        with pytest.raises(libws.UsageError) as ei:
            c.set_option(name, value)
        assert ei.value.name == "WS_ERR_RANGE", name
        assert name in str(ei.value)
    for value in (-1, 1 << 64, 1.5, "3"):
        with pytest.raises(libws.UsageError) as ei:
            c.set_option("max_message_size", value)
        assert ei.value.name == "WS_ERR_RANGE"
    with pytest.raises(libws.UsageError) as ei:
        Connection("server", no_such_option=1)
    assert ei.value.name == "WS_ERR_OPTION"
    c.set_option("ping_interval", 20000)
    assert c.get_option("ping_interval") == 20000
    assert c.get_option("max_message_size") == 1 << 20  # the library's default
    for name in libws.OPTIONS:
        c.get_option(name)  # every name maps to an option the library knows


def test_shared_config():
    cfg = libws.Config(max_message_size=100, ping_interval=5000)
    assert cfg.get_option("max_message_size") == 100
    assert cfg.get_option("auto_pong") == 1  # the library's default
    with pytest.raises(libws.UsageError) as ei:
        cfg.set_option("auto_pong", 2)
    assert ei.value.name == "WS_ERR_RANGE"
    with pytest.raises(libws.UsageError) as ei:
        libws.Config(no_such_option=1)
    assert ei.value.name == "WS_ERR_OPTION"
    a = Connection("server", already_open=True, now_ms=T0, config=cfg)
    b = Connection("server", already_open=True, now_ms=T0, config=cfg)
    assert a.get_option("max_message_size") == 100
    assert b.get_option("ping_interval") == 5000
    # Frozen while used.
    with pytest.raises(libws.UsageError) as ei:
        cfg.set_option("max_message_size", 200)
    assert ei.value.name == "WS_ERR_STATE"
    # An option on one connection changes that one only.
    a.set_option("ping_interval", 0)
    assert a.get_option("ping_interval") == 0
    assert b.get_option("ping_interval") == 5000
    assert cfg.get_option("ping_interval") == 5000
    # The connections keep the C configuration: freeing the Python one early is safe.
    cfg.free()
    with pytest.raises(libws.UsageError):
        cfg.get_option("ping_interval")
    assert b.get_option("max_message_size") == 100
    b.receive_data(frame(0x2, b"x" * 101))
    assert [type(e).__name__ for e in b.events()][-2:] == ["Error", "Close"]
    a.free()
    b.free()


# ---- timers ----


def test_handshake_timeout():
    s = Connection("server", now_ms=T0, handshake_timeout=500)
    assert s.next_deadline() == T0 + 500
    s.tick(T0 + 499)
    assert list(s.events()) == []
    s.tick(T0 + 500)
    evs = list(s.events())
    assert evs[0].name == "WS_ERR_HANDSHAKE_TIMEOUT" and evs[-1].code == 1006
    assert s.wants_shutdown


def test_ping_interval_and_pong_timeout():
    s, c, _ = handshake(server_opts={"ping_interval": 1000, "pong_timeout": 300},
                        client_opts={"auto_pong": False})
    d = s.next_deadline()
    assert d is not None and d <= T0 + 1000
    s.tick(T0 + 1000)
    ops = [op for op, _, _ in parse(s.data_to_send())]
    assert ops == [9]  # the timer's ping
    s.tick(T0 + 1300)
    evs = list(s.events())
    assert evs[0].name == "WS_ERR_PONG_TIMEOUT" and isinstance(evs[-1], Close)


def test_ping_answered_keeps_the_connection():
    s, c, _ = handshake(server_opts={"ping_interval": 1000, "pong_timeout": 300})
    s.tick(T0 + 1000)
    c.receive_data(s.data_to_send())
    assert [type(e) for e in c.events()] == [Ping]
    s.tick(T0 + 1100)
    s.receive_data(c.data_to_send())
    assert [type(e) for e in s.events()] == [Pong]
    s.tick(T0 + 1500)
    assert list(s.events()) == [] and s.state == State.OPEN
    assert s.stats()["last_rtt_ms"] == 100


def test_close_timeout():
    s, c, _ = handshake(server_opts={"close_timeout": 200})
    s.close(1000)
    s.data_to_send()
    s.tick(T0 + 200)
    evs = list(s.events())
    assert evs[0].name == "WS_ERR_CLOSE_TIMEOUT" and isinstance(evs[-1], Close)
    assert s.wants_shutdown


def test_idle_timeout():
    s, c, _ = handshake(server_opts={"idle_timeout": 1000})
    s.tick(T0 + 1000)
    evs = list(s.events())
    assert evs[0].name == "WS_ERR_IDLE_TIMEOUT"
    assert close_code_of(s.data_to_send()) == 1000


# ---- errors: every ws_err has a name, a text and a class ----


def test_every_error_code_maps():
    for code in ErrorCode:
        assert errname(code) == code.name
        assert strerror(code)
        cls = error_class(code)
        assert issubclass(cls, libws.LibwsError)
        if code != 0:
            e = cls(code, "detail")
            assert e.code == code and e.name == code.name and e.text == strerror(code)
            assert str(e) == f"{code.name}: {strerror(code)} (detail)"
    # and the library knows no error this binding does not
    for code in range(-1, -200, -1):
        name = errname(code)
        if name != "WS_ERR_UNKNOWN":
            assert ErrorCode(code).name == name
    assert error_class(ErrorCode.WS_ERR_RANGE) is libws.UsageError
    assert error_class(ErrorCode.WS_ERR_NOMEM) is libws.ResourceError
    assert error_class(ErrorCode.WS_ERR_HS_KEY) is libws.HandshakeError
    assert error_class(ErrorCode.WS_ERR_URI_HOST) is libws.URIError
    assert error_class(ErrorCode.WS_ERR_DEFLATE_DATA) is libws.ProtocolError
    assert error_class(ErrorCode.WS_ERR_WOULD_BLOCK) is libws.WouldBlock
    assert error_class(ErrorCode.WS_ERR_CLOSED) is libws.ClosedError


def test_handshake_errors_from_bad_requests():
    cases = [
        (b"POST / HTTP/1.1\r\nHost: h\r\n\r\n", "WS_ERR_HS_METHOD"),
        (b"GET / HTTP/1.1\nHost: h\n\n", "WS_ERR_HS_BARE_LF"),
        (b"GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         b"Sec-WebSocket-Version: 13\r\n\r\n", "WS_ERR_HS_KEY"),
        (b"GET / HTTP/1.1\r\nHost: h\r\n" + b"X: " + b"a" * 10000 + b"\r\n\r\n",
         "WS_ERR_HS_TOO_LARGE"),
    ]
    for data, name in cases:
        s = Connection("server", now_ms=T0)
        s.receive_data(data)
        evs = list(s.events())
        assert evs[0].name == name, evs
        assert isinstance(evs[0].exception(), libws.HandshakeError)
        assert evs[-1].code == 1006
        answer = s.data_to_send()
        assert answer.startswith(b"HTTP/1.1 4") or answer == b""


# ---- hostile input never crashes ----


def test_random_bytes_never_crash():
    rng = random.Random(1234)
    for i in range(300):
        s = Connection("server", now_ms=T0, max_message_size=4096)
        if i % 2:
            c = Connection("client", now_ms=T0)
            c.start_client("ws://h/")
            s.receive_data(c.data_to_send())
            list(s.events())
            s.accept()
        for _ in range(rng.randrange(1, 6)):
            s.receive_data(rng.randbytes(rng.randrange(0, 300)))
            for e in s.events():
                assert isinstance(e, libws.Event)
            s.data_to_send()
        s.tick(T0 + rng.randrange(0, 100000))
        list(s.events())
        s.receive_data(None)
        list(s.events())
        assert s.state == State.CLOSED or s.state in tuple(State)


def test_mutated_frames_never_crash():
    rng = random.Random(99)
    base = frame(1, "hé".encode()) + frame(2, b"\x00" * 200) + frame(9, b"p") + frame(8, b"\x03\xe8")
    for _ in range(500):
        s, c, _ = handshake()
        data = bytearray(base)
        for _ in range(rng.randrange(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        s.receive_data(bytes(data))
        list(s.events())
        s.data_to_send()


def test_misuse_after_free_raises_not_crashes():
    s = Connection("server", now_ms=T0)
    s.free()
    s.free()  # twice is fine
    for call in (lambda: s.send("x"), lambda: s.receive_data(b"x"), lambda: list(s.events()),
                 lambda: s.tick(), lambda: s.close(), lambda: s.set_option("deflate", 1)):
        with pytest.raises(libws.UsageError):
            call()
    assert s.data_to_send() == b"" and s.state == State.CLOSED and s.buffered_amount == 0
    with pytest.raises(libws.UsageError):
        Connection("observer")


# ---- memory ----


def _rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * (os.sysconf("SC_PAGE_SIZE") // 1024)


def test_ten_thousand_messages_do_not_grow_rss():
    s, c, _ = handshake()
    payload = b"m" * 1000

    def burst(n):
        for _ in range(n):
            c.send(payload)
            s.receive_data(c.data_to_send())
            for e in s.events():
                s.send(e.data)
            c.receive_data(s.data_to_send())
            for _ in c.events():
                pass

    burst(2000)  # warm up: buffers at their working size
    before = _rss_kib()
    burst(10000)
    after = _rss_kib()
    assert after - before < 2048, (before, after)
    assert s.memory < 256 * 1024 and c.memory < 256 * 1024


# ---- the library loader ----


def test_library_not_found_names_every_place(tmp_path):
    # a copy of the package outside the source tree, with no system library to find
    import shutil

    pkg = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "libws")
    shutil.copytree(pkg, tmp_path / "libws")
    env = {k: v for k, v in os.environ.items() if k not in ("LIBWS_LIBRARY", "LD_LIBRARY_PATH")}
    env["PKG_CONFIG_PATH"] = str(tmp_path)  # nowhere with a libws.pc
    env["PKG_CONFIG_LIBDIR"] = str(tmp_path)
    r = subprocess.run([sys.executable, "-c", "import libws"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    if r.returncode == 0:
        pytest.skip("a libws is installed on this system")
    assert "LibraryNotFoundError" in r.stderr
    assert "libws.so.0" in r.stderr and "find_library" in r.stderr and "pkg-config" in r.stderr
    env["LIBWS_LIBRARY"] = "/nonexistent/libws.so.0"
    r = subprocess.run([sys.executable, "-c", "import libws"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "/nonexistent/libws.so.0" in r.stderr
    assert "LIBWS_LIBRARY" in r.stderr


def test_library_version_is_checked():
    assert libws.library_version().startswith("0.")
    from libws import _ffi

    assert _ffi.API_MIN <= _ffi.lib.version_num < _ffi.API_MAX_EXCLUSIVE
