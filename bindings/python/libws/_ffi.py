"""ctypes declarations of the libws C API (include/ws.h, API 0.2) and the library loader.

Everything here is private to the package: the public, Pythonic surface is in
:mod:`libws.connection`, :mod:`libws.errors` and :mod:`libws.asyncio`.

Where the shared library comes from, in this order:

1. the environment variable ``LIBWS_LIBRARY``: a path to ``libws.so*``, or a directory that
   holds one (when set, it is the only place tried, so a typo is not silently ignored);
2. the source tree: when the package runs from ``bindings/python/`` of a libws checkout,
   ``<checkout>/build/libws.so.0`` (what ``make`` builds);
3. the system: the dynamic loader's search path (``LD_LIBRARY_PATH``, the ldconfig cache),
   ``ctypes.util.find_library("ws")``, then ``pkg-config --variable=libdir libws``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import subprocess
from ctypes import (
    POINTER,
    Structure,
    c_char_p,
    c_int,
    c_int32,
    c_size_t,
    c_uint,
    c_uint8,
    c_uint16,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path

ENV_VAR = "LIBWS_LIBRARY"
SONAME = "libws.so.0"

#: The API this binding was written for: 0.2. Any 0.x library from 0.2 on keeps its rules
#: (ws.h: "kept from 0.2 on"; structs only grow at the end and are passed with their size).
API_MIN = 0x000200
API_MAX_EXCLUSIVE = 0x010000


class LibraryNotFoundError(ImportError):
    """libws.so could not be loaded; the message names every place that was tried."""


class LibraryVersionError(ImportError):
    """The libws.so that was loaded implements an API this binding was not written for."""


def _source_tree_candidate() -> Path | None:
    # bindings/python/libws/_ffi.py -> the checkout is three levels above the package.
    here = Path(__file__).resolve().parent
    root = here.parents[2] if len(here.parents) > 2 else None
    if root is None or not (root / "include" / "ws.h").is_file():
        return None
    return root / "build" / SONAME


def _pkg_config_candidate() -> tuple[str | None, str]:
    try:
        out = subprocess.run(
            ["pkg-config", "--variable=libdir", "libws"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as e:
        return None, f"pkg-config --variable=libdir libws: {e}"
    if out.returncode != 0 or not out.stdout.strip():
        why = out.stderr.strip().splitlines()
        return None, "pkg-config --variable=libdir libws: " + (why[0] if why else "no libdir")
    return os.path.join(out.stdout.strip(), SONAME), ""


def _try(path: str, tried: list[str]) -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL(path)
    except OSError as e:
        tried.append(f"{path}: {e}")
        return None


def load_library() -> tuple[ctypes.CDLL, str]:
    """Find and load libws; returns (handle, how it was found)."""
    tried: list[str] = []
    env = os.environ.get(ENV_VAR)
    if env:
        p = env
        if os.path.isdir(p):
            for name in (SONAME, "libws.so"):
                if os.path.exists(os.path.join(p, name)):
                    p = os.path.join(p, name)
                    break
        lib = _try(p, tried)
        if lib is not None:
            return lib, f"${ENV_VAR} ({p})"
        raise LibraryNotFoundError(
            f"libws: could not load the library named by ${ENV_VAR}:\n  " + "\n  ".join(tried)
        )
    tree = _source_tree_candidate()
    if tree is not None:
        if tree.exists():
            lib = _try(str(tree), tried)
            if lib is not None:
                return lib, f"source tree ({tree})"
        else:
            tried.append(f"{tree}: not built (run make in the checkout)")
    lib = _try(SONAME, tried)
    if lib is not None:
        return lib, f"system loader ({SONAME})"
    found = ctypes.util.find_library("ws")
    if found:
        lib = _try(found, tried)
        if lib is not None:
            return lib, f"ctypes.util.find_library ({found})"
    else:
        tried.append('ctypes.util.find_library("ws"): nothing found')
    pc, why = _pkg_config_candidate()
    if pc:
        lib = _try(pc, tried)
        if lib is not None:
            return lib, f"pkg-config ({pc})"
    else:
        tried.append(why)
    raise LibraryNotFoundError(
        "libws: the shared library libws.so.0 was not found. Looked in:\n  "
        + "\n  ".join(tried)
        + f"\nBuild it with `make` in the libws checkout and set {ENV_VAR}=/path/to/libws.so.0,"
        " or install it (make install) where the loader or pkg-config finds it."
    )


# ---- structs (layouts of include/ws.h; each passed with its size, rule 4) ----


class ws_event(Structure):
    _fields_ = [
        ("type", c_uint32),
        ("error", c_int32),
        ("close_code", c_uint16),
        ("opcode", c_uint8),
        ("fin", c_uint8),
        ("by_peer", c_uint8),
        ("flags", c_uint8),
        ("reserved_", c_uint8 * 2),
        ("data", c_void_p),
        ("len", c_size_t),
    ]


class ws_iovec(Structure):
    _fields_ = [("base", c_void_p), ("len", c_size_t)]


class ws_uri(Structure):
    _fields_ = [
        ("host", c_void_p),
        ("host_len", c_size_t),
        ("path", c_void_p),
        ("path_len", c_size_t),
        ("query", c_void_p),
        ("query_len", c_size_t),
        ("port", c_uint16),
        ("secure", c_uint8),
        ("ipv6", c_uint8),
    ]


class ws_conn_stats(Structure):
    _fields_ = [
        ("bytes_in", c_uint64),
        ("bytes_out", c_uint64),
        ("frames_in", c_uint64),
        ("frames_out", c_uint64),
        ("messages_in", c_uint64),
        ("messages_out", c_uint64),
        ("pings_sent", c_uint64),
        ("pongs_received", c_uint64),
        ("last_rtt_ms", c_uint64),
        ("buffered", c_uint64),
        ("close_code_sent", c_uint16),
        ("close_code_received", c_uint16),
        ("closed_by_peer", c_uint8),
    ]


class ws_deflate_params(Structure):
    _fields_ = [
        ("server_no_context_takeover", c_uint8),
        ("client_no_context_takeover", c_uint8),
        ("server_max_window_bits", c_uint8),
        ("client_max_window_bits", c_uint8),
    ]


P = c_void_p  # opaque handles (ws_conn *, ws_handshake *)
PP = POINTER(c_void_p)
PSZ = POINTER(c_size_t)

_PROTOTYPES: dict[str, tuple[object, list[object]]] = {
    "ws_version_num": (c_uint, []),
    "ws_version": (c_char_p, []),
    "ws_strerror": (c_char_p, [c_int]),
    "ws_errname": (c_char_p, [c_int]),
    "ws_close_code_valid": (c_int, [c_uint]),
    "ws_close_code_for_error": (c_uint, [c_int]),
    "ws_deflate_available": (c_int, []),
    "ws_uri_parse": (c_int, [c_char_p, c_size_t, POINTER(ws_uri), c_size_t]),
    # connection
    "ws_config_new": (c_int, [PP, c_void_p]),
    "ws_config_free": (None, [P]),
    "ws_config_set_option": (c_int, [P, c_uint32, c_uint64]),
    "ws_config_get_option": (c_int, [P, c_uint32, POINTER(c_uint64)]),
    "ws_conn_new": (c_int, [PP, c_uint32, c_uint32, c_void_p]),
    "ws_conn_free": (None, [P]),
    "ws_conn_set_option": (c_int, [P, c_uint32, c_uint64]),
    "ws_conn_get_option": (c_int, [P, c_uint32, POINTER(c_uint64)]),
    "ws_conn_state": (c_int, [P]),
    "ws_conn_role": (c_int, [P]),
    "ws_conn_get_stats": (c_int, [P, POINTER(ws_conn_stats), c_size_t]),
    "ws_conn_memory": (c_uint64, [P]),
    "ws_conn_tick": (c_int, [P, c_uint64]),
    "ws_conn_next_deadline": (c_uint64, [P]),
    "ws_conn_feed": (c_int, [P, c_void_p, c_size_t, PSZ]),
    "ws_conn_feed_eof": (c_int, [P]),
    "ws_conn_next_event": (c_int, [P, POINTER(ws_event), c_size_t]),
    "ws_conn_next_events": (c_int, [P, POINTER(ws_event), c_size_t, c_size_t]),
    "ws_conn_send": (c_int, [P, c_uint32, c_void_p, c_size_t, c_uint32]),
    "ws_conn_send_fragment": (c_int, [P, c_uint32, c_void_p, c_size_t, c_int, c_uint32]),
    "ws_conn_ping": (c_int, [P, c_void_p, c_size_t]),
    "ws_conn_pong": (c_int, [P, c_void_p, c_size_t]),
    "ws_conn_close": (c_int, [P, c_uint16, c_char_p, c_size_t]),
    "ws_conn_client_start": (
        c_int,
        [P, c_char_p, POINTER(c_char_p), c_size_t, c_char_p, c_char_p],
    ),
    "ws_conn_handshake": (c_void_p, [P]),
    "ws_conn_accept": (c_int, [P, c_char_p, c_char_p, c_char_p]),
    "ws_conn_reject": (c_int, [P, c_uint, c_char_p, c_char_p, c_void_p, c_size_t]),
    "ws_conn_subprotocol": (c_int, [P, PP, PSZ]),
    "ws_conn_output": (c_int, [P, POINTER(ws_iovec), c_int]),
    "ws_conn_output_ack": (c_int, [P, c_size_t]),
    "ws_conn_buffered_amount": (c_size_t, [P]),
    "ws_conn_wants_shutdown": (c_int, [P]),
    "ws_conn_get_deflate_params": (c_int, [P, POINTER(ws_deflate_params), c_size_t]),
    # handshake views
    "ws_handshake_method": (c_int, [P, PP, PSZ]),
    "ws_handshake_target": (c_int, [P, PP, PSZ]),
    "ws_handshake_host": (c_int, [P, PP, PSZ]),
    "ws_handshake_header_count": (c_size_t, [P]),
    "ws_handshake_header_at": (c_int, [P, c_size_t, PP, PSZ, PP, PSZ]),
    "ws_handshake_subprotocol_count": (c_size_t, [P]),
    "ws_handshake_subprotocol": (c_int, [P, c_size_t, PP, PSZ]),
    "ws_handshake_extension_count": (c_size_t, [P]),
    "ws_handshake_extension": (c_int, [P, c_size_t, PP, PSZ, PSZ]),
    "ws_handshake_extension_param": (c_int, [P, c_size_t, c_size_t, PP, PSZ, PP, PSZ]),
    "ws_handshake_status": (c_int, [P]),
    "ws_handshake_reason": (c_int, [P, PP, PSZ]),
    "ws_handshake_body": (c_int, [P, PP, PSZ]),
}


class _Lib:
    """The loaded library with its prototypes declared (attribute per ws_* function)."""

    def __init__(self) -> None:
        self.dll, self.origin = load_library()
        for name, (res, args) in _PROTOTYPES.items():
            try:
                fn = getattr(self.dll, name)
            except AttributeError as e:
                raise LibraryVersionError(
                    f"libws: {self.origin} has no symbol {name}: not a libws 0.2 library"
                ) from e
            fn.restype = res
            fn.argtypes = args
            setattr(self, name, fn)
        self.version_num = int(self.ws_version_num())
        self.version = self.ws_version().decode("ascii", "replace")
        if not (API_MIN <= self.version_num < API_MAX_EXCLUSIVE):
            raise LibraryVersionError(
                f"libws: {self.origin} is version {self.version} (0x{self.version_num:06x}); "
                "this binding was written for API 0.2 and works with 0.x from 0.2 on"
            )


lib = _Lib()


class _Raw:
    """The per-message calls again, as separate function objects without argtypes: ctypes'
    per-argument conversion costs more than the call itself. Callers pass ctypes objects
    (c_void_p handle, c_size_t/c_uint64 for 64-bit values, byref) or small Python ints, which
    go as C int: only for parameters that are int or uint32_t."""

    def __init__(self, dll: ctypes.CDLL) -> None:
        for name, res in (
            ("ws_conn_next_event", c_int),
            ("ws_conn_next_events", c_int),
            ("ws_conn_feed", c_int),
            ("ws_conn_send", c_int),
            ("ws_conn_output", c_int),
            ("ws_conn_output_ack", c_int),
            ("ws_conn_tick", c_int),
            ("ws_conn_next_deadline", c_uint64),
            ("ws_conn_buffered_amount", c_size_t),
            ("ws_conn_wants_shutdown", c_int),
        ):
            fn = dll[name]  # indexing makes a new function object (attribute access caches)
            fn.restype = res
            setattr(self, name[3:], fn)


raw = _Raw(lib.dll)

EVENT_SIZE = ctypes.sizeof(ws_event)
EVENT_SIZE_ARG = c_size_t(EVENT_SIZE)
#: ws_event as one struct.unpack: type, error, close_code, opcode, fin, by_peer, flags, data,
#: len (native layout, checked against the ctypes declaration).
EVENT_STRUCT = __import__("struct").Struct("@IiHBBBB2xPN")
assert EVENT_STRUCT.size == EVENT_SIZE
URI_SIZE = ctypes.sizeof(ws_uri)
STATS_SIZE = ctypes.sizeof(ws_conn_stats)
DEFLATE_PARAMS_SIZE = ctypes.sizeof(ws_deflate_params)


_c_char = ctypes.c_char


def view(p: int | None, n: int) -> bytes:
    """Copy a (pointer, length) view handed out by the library into bytes."""
    if not n or not p:
        return b""
    return (_c_char * n).from_address(p).raw
