/*
 * ws.h -- libws, an embeddable RFC 6455 WebSocket protocol library (sans-I/O).
 *
 * This header is the manual. libws never touches a socket, a clock, a thread or a global:
 * the caller feeds bytes in and takes bytes out. Layers, each usable alone:
 *
 *   - common:    version, errors, allocator and random hooks
 *   - frame:     RFC 6455 section 5 frame header codec and masking
 *   - handshake: the HTTP/1.1 upgrade (server and client), ws:// URIs, and the extended
 *                CONNECT of RFC 8441 / RFC 9220
 *   - check:     ws_checker, for testers: every rule a peer's byte stream breaks, with the
 *                close code RFC 6455 asks for, going on past each
 *   - conn:      ws_conn, the connection: messages, UTF-8, control frames, the closing
 *                handshake, timers, backpressure
 *   - deflate:   permessage-deflate (RFC 7692) through zlib, optional
 *   - backoff:   reconnect delays with full jitter, for clients
 *
 * The rules of the API (they hold for every function below, and are kept from 0.2 on)
 *
 *   1. Return values. Every function that can fail returns an int: a negative ws_err on
 *      failure, else WS_OK (0) or, where its comment says so, a non-negative count (bytes
 *      written, events taken) or a named positive status (WS_HANDSHAKE_COMPLETE). Values come
 *      back through out-parameters. Exceptions, all documented: constructors' handles come
 *      back through a `**out` parameter too (set to NULL on any failure, so "initialise to
 *      NULL, always free" is safe); destructors (`*_free`) return nothing; pure
 *      queries that cannot fail on a valid handle (ws_conn_state, ws_conn_buffered_amount,
 *      ws_mask...) return their value directly and say what a NULL handle gives. Counts
 *      reported through an out-parameter (*consumed, *taken, *needed) are set (to 0 first)
 *      whenever the pointer is non-NULL, so they are valid after any return; other
 *      out-parameters are written on success only, or set to NULL/0 by a lookup that finds
 *      nothing.
 *   2. Lookups. Something that may legitimately be absent (a header, a subprotocol, a body)
 *      is WS_ERR_NOT_FOUND with the view set to NULL and 0; a present but empty value is a
 *      non-NULL view of length 0 and WS_OK. Index-based lookups past the end are
 *      WS_ERR_NOT_FOUND too, so "loop until WS_ERR_NOT_FOUND" is a valid iteration.
 *   3. Arguments. A NULL handle or a NULL required pointer is WS_ERR_INVALID_ARG, always;
 *      each other misuse has its own code (WS_ERR_STATE, WS_ERR_OPTION, WS_ERR_RANGE,
 *      WS_ERR_ARG_*), and a call that fails that way changes nothing.
 *   4. Structs that grow. Every struct the library writes into or reads from caller memory is
 *      passed with its size (a `size` argument, or a leading `size` field that the caller
 *      sets to sizeof). The library never reads or writes past that size; it zero-fills what
 *      the caller's struct has beyond the library's own (a newer header with an older
 *      library), and treats fields the caller's struct lacks as 0. Structs only grow at the
 *      end and never embed a growable struct by value. Sizes smaller than the 0.2 layout
 *      (measured to the end of its last field, not sizeof, which may include padding) are
 *      WS_ERR_INVALID_ARG. Frozen structs (never grow, so no size): ws_iovec (the layout of
 *      struct iovec) and ws_h2_header.
 *   5. Fixed-width fields. Struct fields and parameters that carry an enumerated value are
 *      fixed-width integers (uint8_t..uint32_t, int32_t), never an enum type, whose size
 *      depends on the compiler (-fshort-enums); the enums below only name constants.
 *   6. Views. Pointers passed in are borrowed for the duration of the call unless a comment
 *      says otherwise. Pointers handed out ("views") have the lifetime their function states;
 *      no call ever frees or moves memory that a queued event, or the last event handed out,
 *      still points into (see ws_conn_next_event).
 *   7. Names. Public symbols are ws_<layer>_<verb|noun>, types ws_<noun>, constants WS_*;
 *      everything else in the library is ws__ and not exported. Protocol numbers have names
 *      (WS_CLOSE_*, WS_OP_*) and every default a macro (WS_DEFAULT_*).
 *   8. Threads. libws has no global state: different objects may be used from different
 *      threads at the same time without locking; one object (a ws_conn, ws_handshake,
 *      ws_frame_decoder, ws_deflate_shared) must not be used by two threads at once. The only
 *      object meant to be shared by several connections, ws_deflate_shared, must therefore
 *      serve connections of one thread (one per thread or event loop). The allocator and
 *      random hooks are called only from inside calls on the object they were given to.
 *   9. ABI. The shared library exports only ws_* symbols, versioned (WS_0.2 in
 *      lib/libws.map); CI compares the ABI against the baseline lib/libws.abi with abidiff, so
 *      an incompatible change cannot land unnoticed.
 *
 * Lengths are size_t; quantities that come from the wire are uint64_t.
 *
 * Copyright (c) 2026 the libws authors. MIT licence, see LICENSE.
 */
#ifndef WS_H
#define WS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Version and export                                                                          */
/* ------------------------------------------------------------------------------------------ */

#define WS_VERSION_MAJOR 0
#define WS_VERSION_MINOR 2
#define WS_VERSION_PATCH 0
#define WS_VERSION_STRING "0.2.0"
/* Comparable version number: 0xMMmmpp. */
#define WS_VERSION_NUM \
    ((WS_VERSION_MAJOR << 16) | (WS_VERSION_MINOR << 8) | WS_VERSION_PATCH)

#if defined(_WIN32) && defined(WS_BUILDING_DLL)
#define WS_EXPORT __declspec(dllexport)
#elif defined(_WIN32) && defined(WS_USING_DLL)
#define WS_EXPORT __declspec(dllimport)
#elif defined(__GNUC__) && __GNUC__ >= 4
#define WS_EXPORT __attribute__((visibility("default")))
#else
#define WS_EXPORT
#endif

/* Version of the library actually linked, as WS_VERSION_NUM; compare with the macro to catch
 * a header/library mismatch. */
WS_EXPORT unsigned ws_version_num(void);
/* Version of the linked library as a static string such as "0.2.0". */
WS_EXPORT const char *ws_version(void);

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/*
 * One table generates the enum, ws_strerror() and ws_errname(). Values are stable ABI: new
 * errors get new numbers, numbers are never reused. Ranges: general -1..-19, frame -20..-39,
 * handshake -40..-79, connection and UTF-8 -80..-119, deflate -120..-139.
 */
#define WS_ERROR_TABLE(X)                                                                      \
    WS_ERRORS_COMMON_(X) WS_ERRORS_FRAME_(X) WS_ERRORS_HANDSHAKE_(X) WS_ERRORS_CONN_(X)        \
    WS_ERRORS_DEFLATE_(X)

#define WS_ERRORS_COMMON_(X)                                                                   \
    X(WS_OK, 0, "success")                                                                     \
    X(WS_ERR_NOMEM, -1, "out of memory (the allocator hook returned NULL)")                    \
    X(WS_ERR_INVALID_ARG, -2, "invalid argument")                                              \
    X(WS_ERR_BUFFER_TOO_SMALL, -3, "output buffer too small")                                  \
    X(WS_ERR_STATE, -4, "operation not valid in the current state")                            \
    X(WS_ERR_RANDOM, -5, "the random source failed")                                           \
    X(WS_ERR_UNSUPPORTED, -6, "feature not built into this library")                          \
    X(WS_ERR_NOT_FOUND, -7, "no such item (absent header, value or index past the end)")        \
    X(WS_ERR_OPTION, -8, "unknown option")                                                     \
    X(WS_ERR_RANGE, -9, "option value outside its documented range")                          \
    X(WS_ERR_BUDGET, -10, "memory limit of the connection or its shared budget reached")

#define WS_ERRORS_FRAME_(X)                                                                    \
    X(WS_ERR_FRAME_LEN64_MSB, -20, "64-bit payload length with the most significant bit set")  \
    X(WS_ERR_FRAME_CONTROL_TOO_LONG, -21, "control frame payload longer than 125 bytes")       \
    X(WS_ERR_FRAME_CONTROL_FRAGMENTED, -22, "control frame without the FIN bit")               \
    X(WS_ERR_FRAME_RESERVED_OPCODE, -23, "reserved opcode")                                    \
    X(WS_ERR_FRAME_RSV, -24, "RSV bit set without a negotiated extension that defines it")     \
    X(WS_ERR_FRAME_UNMASKED, -25, "frame from a client is not masked")                         \
    X(WS_ERR_FRAME_MASKED, -26, "frame from a server is masked")                               \
    X(WS_ERR_FRAME_TOO_LARGE, -27, "frame payload longer than the configured maximum")         \
    X(WS_ERR_FRAME_NON_MINIMAL_LENGTH, -28, "payload length not in its minimal encoding")

/* Handshake errors, -40..-79. */
#define WS_ERRORS_HANDSHAKE_(X)                                                                \
    X(WS_ERR_HS_SYNTAX, -40, "malformed HTTP start line or header line")                       \
    X(WS_ERR_HS_BARE_LF, -41, "HTTP line not terminated by CRLF (bare LF or bare CR)")         \
    X(WS_ERR_HS_OBS_FOLD, -42, "obsolete header line folding")                                 \
    X(WS_ERR_HS_CTL_CHAR, -43, "NUL or control character in the HTTP header block")            \
    X(WS_ERR_HS_TOO_LARGE, -44, "HTTP header block larger than the configured maximum")        \
    X(WS_ERR_HS_TOO_MANY_HEADERS, -45, "more header fields or list elements than the maximum") \
    X(WS_ERR_HS_DUPLICATE, -46, "a header that may appear only once is repeated")              \
    X(WS_ERR_HS_METHOD, -47, "request method is not GET")                                      \
    X(WS_ERR_HS_VERSION_HTTP, -48, "HTTP version is not 1.1 or a later 1.x")                   \
    X(WS_ERR_HS_NO_HOST, -49, "request has no Host header or an empty one")                    \
    X(WS_ERR_HS_UPGRADE, -50, "Upgrade header missing or without the websocket token")         \
    X(WS_ERR_HS_CONNECTION, -51, "Connection header missing or without the Upgrade token")     \
    X(WS_ERR_HS_KEY, -52, "Sec-WebSocket-Key missing or not 16 base64-encoded bytes")          \
    X(WS_ERR_HS_WS_VERSION, -53, "Sec-WebSocket-Version missing or not 13")                    \
    X(WS_ERR_HS_BODY, -54, "upgrade request announces a body")                                 \
    X(WS_ERR_HS_SUBPROTOCOL, -55, "Sec-WebSocket-Protocol malformed or not offered")           \
    X(WS_ERR_HS_EXTENSION, -56, "Sec-WebSocket-Extensions malformed or not offered")           \
    X(WS_ERR_HS_STATUS, -57, "server answered with a status other than 101")                   \
    X(WS_ERR_HS_ACCEPT, -58, "Sec-WebSocket-Accept missing or wrong")                          \
    X(WS_ERR_ARG_SUBPROTOCOL, -59, "subprotocol argument not a token or not one the client offered") \
    X(WS_ERR_URI_SCHEME, -60, "URI scheme is not ws or wss")                                   \
    X(WS_ERR_URI_HOST, -61, "URI host missing or malformed")                                   \
    X(WS_ERR_URI_PORT, -62, "URI port not a number in 1..65535")                               \
    X(WS_ERR_URI_FRAGMENT, -63, "URI has a fragment (not allowed in WebSocket URIs)")          \
    X(WS_ERR_URI_USERINFO, -64, "URI has user information (not allowed in WebSocket URIs)")    \
    X(WS_ERR_URI_PATH, -65, "URI path or query has an invalid character or escape")            \
    X(WS_ERR_ARG_EXTENSIONS, -66, "extensions argument malformed or naming one not offered")   \
    X(WS_ERR_ARG_HEADERS, -67, "extra header lines malformed or naming a header the library writes") \
    X(WS_ERR_ARG_STATUS, -68, "HTTP status not in 200..599, or reason phrase with a bad character") \
    X(WS_ERR_H2_METHOD, -70, "extended CONNECT: :method is not CONNECT")                       \
    X(WS_ERR_H2_PROTOCOL, -71, "extended CONNECT: :protocol missing or not websocket")         \
    X(WS_ERR_H2_SCHEME, -72, "extended CONNECT: :scheme missing or not http/https")            \
    X(WS_ERR_H2_PATH, -73, "extended CONNECT: :path missing or empty")                         \
    X(WS_ERR_H2_AUTHORITY, -74, "extended CONNECT: :authority missing or empty")               \
    X(WS_ERR_H2_PSEUDO, -75, "unknown, repeated or misplaced pseudo-header")                   \
    X(WS_ERR_H2_HEADER, -76, "header field not valid in HTTP/2 or HTTP/3")

/* Connection and UTF-8 errors, -80..-119. */
#define WS_ERRORS_CONN_(X)                                                                     \
    X(WS_ERR_WOULD_BLOCK, -80, "output queue above its high-water mark; wait for it to drain") \
    X(WS_ERR_CLOSED, -81, "the connection is closing or closed")                               \
    X(WS_ERR_UNEXPECTED_CONTINUATION, -82, "continuation frame with no message in progress")   \
    X(WS_ERR_EXPECTED_CONTINUATION, -83, "new data frame inside a fragmented message")         \
    X(WS_ERR_INVALID_UTF8, -84, "text message or close reason is not valid UTF-8")             \
    X(WS_ERR_MESSAGE_TOO_BIG, -85, "message longer than the configured maximum")               \
    X(WS_ERR_CLOSE_PAYLOAD, -86, "close frame with a 1-byte payload")                          \
    X(WS_ERR_CLOSE_CODE, -87, "close code not allowed on the wire")                            \
    X(WS_ERR_DATA_TYPE, -88, "message of a data type the application refuses")                 \
    X(WS_ERR_PONG_TIMEOUT, -89, "no pong within the pong timeout: peer presumed dead")         \
    X(WS_ERR_HANDSHAKE_TIMEOUT, -90, "opening handshake not completed in time")                \
    X(WS_ERR_IDLE_TIMEOUT, -91, "nothing received within the idle timeout")                    \
    X(WS_ERR_CLOSE_TIMEOUT, -92, "closing handshake not completed in time")                    \
    X(WS_ERR_EOF, -93, "transport closed without a close frame")                               \
    X(WS_ERR_OUTPUT_OVERFLOW, -94, "output queue limit reached: connection closed by policy")  \
    X(WS_ERR_EVENTS_PENDING, -95, "events are waiting: drain them before feeding more")        \
    X(WS_ERR_MESSAGE_TIMEOUT, -96, "a message was not completed within the message timeout")   \
    X(WS_ERR_SEND_TIMEOUT, -97, "queued output made no progress within the send timeout")     \
    X(WS_ERR_OUTPUT_DISCARDED, -98, "output discarded by the caller: the transport is gone")   \
    X(WS_ERR_AFTER_CLOSE, -99, "frame sent after the close frame")

/* permessage-deflate errors, -120..-139. */
#define WS_ERRORS_DEFLATE_(X)                                                                  \
    X(WS_ERR_DEFLATE_DATA, -120, "compressed message is not valid DEFLATE data")              \
    X(WS_ERR_DEFLATE_RSV1, -121, "RSV1 set on a control frame or a continuation frame")       \
    X(WS_ERR_DEFLATE_NEGOTIATION, -122,                                                        \
      "permessage-deflate answer malformed or not matching the offer (RFC 7692 section 7)")

typedef enum ws_err {
#define WS_X_ENUM_(name, value, text) name = value,
    WS_ERROR_TABLE(WS_X_ENUM_)
#undef WS_X_ENUM_
    WS_ERR_LAST_ = -140
} ws_err;

/* Text for an error code (or for any int a libws function returned). Never NULL; the string
 * is static. Unknown codes give "unknown error"; non-negative values give "success".
 * Errors named WS_ERR_ARG_* and WS_ERR_INVALID_ARG, WS_ERR_STATE, WS_ERR_OPTION, WS_ERR_RANGE
 * are the caller's mistakes; the others report the peer, the environment or a limit. */
WS_EXPORT const char *ws_strerror(int err);
/* The enumerator's name, e.g. "WS_ERR_NOMEM", for logs and bindings; "WS_ERR_UNKNOWN" if
 * unknown, "WS_OK" for non-negative values. Static string. */
WS_EXPORT const char *ws_errname(int err);

/* ------------------------------------------------------------------------------------------ */
/* Hooks: allocator and randomness                                                             */
/* ------------------------------------------------------------------------------------------ */

/*
 * Allocator hooks. Every allocation libws makes goes through them; the C library's allocator
 * is used wherever NULL is given instead. The contract:
 *   - size: the caller sets it to sizeof(ws_allocator) (the struct may grow; see rule 4).
 *   - malloc(user, n): n >= 1; return memory aligned for any object type (max_align_t), or
 *     NULL, which libws reports as WS_ERR_NOMEM and survives.
 *   - realloc(user, p, old_n, n): p non-NULL, old_n its current size, n >= 1; may be NULL,
 *     and then libws uses malloc + copy + free.
 *   - free(user, p, n): p non-NULL and n the size it was allocated (or last reallocated)
 *     with, so allocators that need the size (Rust's GlobalAlloc, arenas) get it.
 *   - Lifetime: memory is freed at the latest by the object's *_free; the struct is copied
 *     when an object is created, so it need not outlive the call; `user` is passed back
 *     unchanged and must outlive every object created with it.
 *   - Calls come only from inside calls on the object the allocator was given to (never from
 *     another thread behind your back), and may be made from inside zlib for deflate state.
 */
typedef struct ws_allocator {
    uint32_t size; /* sizeof(ws_allocator) */
    void *user;
    void *(*malloc)(void *user, size_t n);
    void *(*realloc)(void *user, void *p, size_t old_n, size_t n);
    void (*free)(void *user, void *p, size_t n);
} ws_allocator;

/*
 * Random hook: fill buf with n unpredictable bytes; return 0 on success, non-zero on failure.
 * Used for client masking keys and handshake nonces. Masking keys must be unpredictable to
 * the application (RFC 6455 section 5.3), so use a CSPRNG.
 */
typedef int (*ws_random_fn)(void *user, void *buf, size_t n);

/* The default random hook: the OS CSPRNG (getrandom(2) on Linux, arc4random_buf(3) on the BSDs
 * and macOS, /dev/urandom elsewhere). `user` is ignored. Returns 0 or -1. */
WS_EXPORT int ws_random_os(void *user, void *buf, size_t n);

/* ------------------------------------------------------------------------------------------ */
/* Frame layer (RFC 6455 section 5)                                                            */
/* ------------------------------------------------------------------------------------------ */

/* Opcodes. 3-7 and 11-15 are reserved: the decoder rejects them, the raw encoder writes them. */
enum {
    WS_OP_CONTINUATION = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA
};

/*
 * Close codes (RFC 6455 section 7.4, IANA registry). 1005, 1006 and 1015 are never sent on the
 * wire: libws reports them in WS_EV_CLOSE only (no status received, abnormal end, TLS).
 * 3000-3999 are registered with IANA for libraries and frameworks, 4000-4999 are private.
 */
enum {
    WS_CLOSE_NORMAL = 1000,
    WS_CLOSE_GOING_AWAY = 1001,
    WS_CLOSE_PROTOCOL_ERROR = 1002,
    WS_CLOSE_UNSUPPORTED_DATA = 1003,
    WS_CLOSE_NO_STATUS = 1005,
    WS_CLOSE_ABNORMAL = 1006,
    WS_CLOSE_INVALID_PAYLOAD = 1007,
    WS_CLOSE_POLICY_VIOLATION = 1008,
    WS_CLOSE_MESSAGE_TOO_BIG = 1009,
    WS_CLOSE_MANDATORY_EXTENSION = 1010,
    WS_CLOSE_INTERNAL_ERROR = 1011,
    WS_CLOSE_SERVICE_RESTART = 1012,
    WS_CLOSE_TRY_AGAIN_LATER = 1013,
    WS_CLOSE_BAD_GATEWAY = 1014,
    WS_CLOSE_TLS_HANDSHAKE = 1015,
    WS_CLOSE_REGISTERED_MIN = 3000,
    WS_CLOSE_PRIVATE_MIN = 4000,
    WS_CLOSE_PRIVATE_MAX = 4999
};

/* 1 if code may appear in a close frame on the wire (1000-1003, 1007-1014, 3000-4999), else
 * 0. Pure. */
WS_EXPORT int ws_close_code_valid(unsigned code);
/* The close code RFC 6455 (and RFC 7692) asks for when the peer commits the violation `err`
 * (a ws_err): 1009 for WS_ERR_FRAME_TOO_LARGE / WS_ERR_MESSAGE_TOO_BIG, 1007 for
 * WS_ERR_INVALID_UTF8 / WS_ERR_DEFLATE_DATA, 1003 for WS_ERR_DATA_TYPE, 1011 for
 * WS_ERR_NOMEM, 1013 for WS_ERR_BUDGET, 1008 for WS_ERR_MESSAGE_TIMEOUT, 1002 for every other
 * frame, connection and deflate rule. Pure. */
WS_EXPORT unsigned ws_close_code_for_error(int err);

/* RSV bits as the three-bit field of ws_frame_header.rsv (RSV1 is the high one): the value
 * (first header byte >> 4) & 7. */
#define WS_RSV1 4u
#define WS_RSV2 2u
#define WS_RSV3 1u

/* Largest header: 2 fixed + 8 extended length + 4 masking key. */
#define WS_FRAME_MAX_HEADER 14u
/* Largest control frame payload. */
#define WS_FRAME_MAX_CONTROL 125u

/* Non-zero if opcode is a control opcode (close, ping, pong or reserved 0xB-0xF). */
#define WS_OPCODE_IS_CONTROL(op) (((op) & 0x8u) != 0)

/*
 * A decoded (or to-be-encoded) frame header. It may grow at the end: functions take its size
 * (rule 4); pass sizeof(ws_frame_header).
 */
typedef struct ws_frame_header {
    uint64_t payload_len; /* payload length as on the wire */
    uint8_t opcode;       /* 0..15 */
    uint8_t fin;          /* 1 if FIN is set */
    uint8_t rsv;          /* 0..7: WS_RSV1 | WS_RSV2 | WS_RSV3 */
    uint8_t masked;       /* 1 if MASK is set */
    uint8_t mask[4];      /* masking key when masked */
    uint8_t header_len;   /* decoder: bytes the header took on the wire (2..14) */
    uint8_t non_minimal;  /* decoder: length was not minimally encoded (lenient mode only) */
    uint32_t violations;  /* decoder with WS_FRAME_REPORT_ALL: WS_FRAME_VIOL_* of this header */
} ws_frame_header;

/* Rules a frame header can break, as bits of ws_frame_header.violations (reported, with the
 * header filled in, under WS_FRAME_REPORT_ALL): one per WS_ERR_FRAME_* error. */
enum {
    WS_FRAME_VIOL_RESERVED_OPCODE = 1u << 0,    /* WS_ERR_FRAME_RESERVED_OPCODE */
    WS_FRAME_VIOL_RSV = 1u << 1,                /* WS_ERR_FRAME_RSV */
    WS_FRAME_VIOL_CONTROL_FRAGMENTED = 1u << 2, /* WS_ERR_FRAME_CONTROL_FRAGMENTED */
    WS_FRAME_VIOL_UNMASKED = 1u << 3,           /* WS_ERR_FRAME_UNMASKED */
    WS_FRAME_VIOL_MASKED = 1u << 4,             /* WS_ERR_FRAME_MASKED */
    WS_FRAME_VIOL_CONTROL_TOO_LONG = 1u << 5,   /* WS_ERR_FRAME_CONTROL_TOO_LONG */
    WS_FRAME_VIOL_NON_MINIMAL_LENGTH = 1u << 6, /* WS_ERR_FRAME_NON_MINIMAL_LENGTH */
    WS_FRAME_VIOL_LEN64_MSB = 1u << 7,          /* WS_ERR_FRAME_LEN64_MSB */
    WS_FRAME_VIOL_TOO_LARGE = 1u << 8           /* WS_ERR_FRAME_TOO_LARGE */
};

/* The WS_ERR_FRAME_* error of the first (lowest) violation bit in v, or WS_OK for 0. Pure. */
WS_EXPORT int ws_frame_violation_error(uint32_t v);

/* Flags for ws_frame_parse_header() and ws_frame_decoder_set_flags(). */
enum {
    /* Role check: frames must be masked (a server reading a client) ... */
    WS_FRAME_EXPECT_MASKED = 1u << 0,
    /* ... or must not be (a client reading a server). Neither flag: no check. */
    WS_FRAME_EXPECT_UNMASKED = 1u << 1,
    /* Accept RSV1 / RSV2 / RSV3 (an extension owns them). */
    WS_FRAME_ALLOW_RSV1 = 1u << 2,
    WS_FRAME_ALLOW_RSV2 = 1u << 3,
    WS_FRAME_ALLOW_RSV3 = 1u << 4,
    /* Report non-minimal length encodings in header.non_minimal instead of failing. */
    WS_FRAME_LENIENT_LENGTH = 1u << 5,
    /* For testers: break no rule's parse. Every rule the header breaks is set in
     * header.violations (the header filled in as read), and the length is taken as written
     * (a top bit set included); the decoder reports the header and goes on with its payload,
     * never sticking. Incomplete headers still need more bytes. */
    WS_FRAME_REPORT_ALL = 1u << 6,
    /* Decoder: a frame whose header and whole payload are in the input comes as one
     * WS_FRAME_EV_DATA event (header set, offset 0, frame_end 1, the payload unmasked), with
     * no WS_FRAME_EV_HEADER before it; other frames come as usual. One call per frame. */
    WS_FRAME_WHOLE = 1u << 7
};

/*
 * Parse a frame header from the start of in[0..n). Stateless and allocation-free.
 * Checks are made as soon as the bytes that decide them are present, so an invalid header is
 * reported even when it is incomplete. max_payload: largest payload_len accepted (use
 * UINT64_MAX for none).
 * Returns the header length (2..14) when complete, 0 when more bytes are needed, or one of
 * WS_ERR_FRAME_* (RESERVED_OPCODE, CONTROL_FRAGMENTED, RSV, UNMASKED, MASKED,
 * CONTROL_TOO_LONG, NON_MINIMAL_LENGTH, LEN64_MSB, TOO_LARGE), WS_ERR_INVALID_ARG (NULL
 * pointers, h_size too small). *h (h_size bytes) is written only on success.
 */
WS_EXPORT int ws_frame_parse_header(const uint8_t *in, size_t n, uint32_t flags,
                                    uint64_t max_payload, ws_frame_header *h, size_t h_size);

/* Bytes a header needs for this payload length, masked (14 max) or not. Pure. */
WS_EXPORT size_t ws_frame_header_size(uint64_t payload_len, int masked);

/*
 * Write the header h (fin, rsv, opcode, masked, mask, payload_len) into out[0..cap).
 * Validates like a conforming sender: opcode not reserved, control frames with FIN and at most
 * 125 bytes, payload_len < 2^63; RSV bits are written as given (the extension sets them).
 * Returns the header length, WS_ERR_BUFFER_TOO_SMALL, or WS_ERR_FRAME_RESERVED_OPCODE /
 * CONTROL_FRAGMENTED / CONTROL_TOO_LONG / LEN64_MSB, WS_ERR_INVALID_ARG.
 */
WS_EXPORT int ws_frame_write_header(uint8_t *out, size_t cap, const ws_frame_header *h,
                                    size_t h_size);

/*
 * Raw mode for testers and fuzzers: write exactly the bits asked for, valid or not: any
 * opcode 0..15, any RSV bits, MASK as given whatever the role, oversize or fragmented control
 * frames, 64-bit lengths with the top bit set. len_bytes forces the length encoding: 0 =
 * minimal, 1 = 7-bit (payload_len must be <= 125), 2 = 16-bit, 8 = 64-bit (non-minimal on
 * purpose when the value is small). Returns the header length, WS_ERR_BUFFER_TOO_SMALL or
 * WS_ERR_INVALID_ARG (len_bytes not 0/1/2/8 or too small for payload_len, opcode > 15).
 */
WS_EXPORT int ws_frame_write_header_raw(uint8_t *out, size_t cap, const ws_frame_header *h,
                                        size_t h_size, unsigned len_bytes);

/*
 * Encode a whole frame: header plus payload (copied, and masked when h->masked) into
 * out[0..cap). h->payload_len is ignored and taken from len. payload may be NULL when len is 0.
 * Returns the frame length (fits in int only for frames below 2 GiB: larger -> use
 * ws_frame_write_header + ws_mask_copy), or the errors of ws_frame_write_header.
 */
WS_EXPORT int ws_frame_encode(uint8_t *out, size_t cap, const ws_frame_header *h,
                              size_t h_size, const void *payload, size_t len);

/*
 * Raw whole frame, for testers: the header exactly as h says -- its declared payload_len, any
 * opcode and RSV bits, the MASK bit and key, the length encoding forced by len_bytes (as for
 * ws_frame_write_header_raw) -- then body[0..body_len), masked with h->mask when h->masked,
 * whatever length the header declares (a frame that lies about its length, on purpose).
 * Returns the frame length (below 2 GiB), WS_ERR_BUFFER_TOO_SMALL, WS_ERR_INVALID_ARG.
 */
WS_EXPORT int ws_frame_encode_raw(uint8_t *out, size_t cap, const ws_frame_header *h,
                                  size_t h_size, unsigned len_bytes, const void *body,
                                  size_t body_len);

/* Fill key[0..4) from rng (NULL: ws_random_os). Returns WS_OK or WS_ERR_RANDOM. */
WS_EXPORT int ws_frame_make_mask(ws_random_fn rng, void *rng_user, uint8_t key[4]);

/*
 * XOR data[0..n) in place with the masking key, starting at key byte (offset & 3). Returns the
 * key offset for the byte after the last one, (offset + n) & 3, so a payload masked or unmasked
 * in several pieces gives the same bytes as in one. Any alignment, any length; uses SSE2/AVX2
 * or NEON when available, a word-at-a-time scalar loop otherwise. Pure (cannot fail).
 */
WS_EXPORT size_t ws_mask(uint8_t *data, size_t n, const uint8_t key[4], size_t offset);

/* As ws_mask, writing dst[i] = src[i] ^ key[...]. dst and src may be equal; they must not
 * otherwise overlap. */
WS_EXPORT size_t ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4],
                              size_t offset);

/*
 * Incremental frame decoder: feed bytes split anywhere (one at a time if you like), get frame
 * headers and payload chunks back. Payload chunks are views into the caller's input, unmasked
 * in place (so the input must be writable): no copy is made.
 */
typedef struct ws_frame_decoder ws_frame_decoder;

/* Events of ws_frame_decoder_feed() (ws_frame_event.type). */
enum {
    WS_FRAME_EV_NONE = 0,   /* all input consumed, need more bytes */
    WS_FRAME_EV_HEADER = 1, /* a frame header is complete: ev->header */
    WS_FRAME_EV_DATA = 2    /* a payload chunk: ev->data/len, ev->offset; ev->frame_end */
};

/* May grow at the end (rule 4): pass sizeof(ws_frame_event). */
typedef struct ws_frame_event {
    uint32_t type;                 /* WS_FRAME_EV_* */
    uint32_t frame_end;            /* DATA: 1 if this chunk ends the frame */
    const ws_frame_header *header; /* HEADER and DATA: the current frame's header, owned by
                                      the decoder, valid until its next feed or reset (read
                                      only the fields your ws_frame_header has) */
    uint8_t *data;                 /* DATA: chunk inside the caller's input, unmasked */
    size_t len;                    /* DATA: chunk length (0 only for an empty payload) */
    uint64_t offset;               /* DATA: position of the chunk within the frame payload */
} ws_frame_event;

/* Create a decoder into *out (alloc NULL: malloc). Defaults: no role check, no RSV allowed,
 * strict lengths, no payload limit. Returns WS_OK, WS_ERR_NOMEM or WS_ERR_INVALID_ARG (out
 * NULL, allocator size too small). */
WS_EXPORT int ws_frame_decoder_new(ws_frame_decoder **out, const ws_allocator *alloc);
/* Free a decoder (NULL is a no-op). */
WS_EXPORT void ws_frame_decoder_free(ws_frame_decoder *d);
/* Set WS_FRAME_* flags (replaces the previous set) and the payload limit (UINT64_MAX: none).
 * WS_OK or WS_ERR_INVALID_ARG (d NULL). */
WS_EXPORT int ws_frame_decoder_set_flags(ws_frame_decoder *d, uint32_t flags,
                                         uint64_t max_payload);
/* Back to "expecting a header", clearing a sticky error; flags and limit are kept. WS_OK or
 * WS_ERR_INVALID_ARG. */
WS_EXPORT int ws_frame_decoder_reset(ws_frame_decoder *d);

/*
 * Consume bytes from in[0..n) until one event is ready. Every frame gives one HEADER event,
 * then one or more DATA events, the last with frame_end = 1 (an empty payload gives one empty
 * DATA event). *consumed is set to the bytes used by this call (possibly 0 for the empty DATA
 * event); call again with the rest. Returns WS_OK with ev (ev_size bytes) filled (type NONE
 * when all input was used and more is needed), a WS_ERR_FRAME_* error, which is sticky until
 * reset, or WS_ERR_INVALID_ARG.
 */
WS_EXPORT int ws_frame_decoder_feed(ws_frame_decoder *d, uint8_t *in, size_t n,
                                    size_t *consumed, ws_frame_event *ev, size_t ev_size);

/* Most events one ws_frame_decoder_feed_events call gives (a larger max is taken as this). */
#define WS_FRAME_EVENTS_MAX 32u

/*
 * Batch form of ws_frame_decoder_feed, the fast way through a buffer of many small frames:
 * the events that repeated ws_frame_decoder_feed calls would give for in[0..n), in order and
 * without the NONE ones, up to max of them (at most WS_FRAME_EVENTS_MAX), into evs[0..)
 * (ev_size bytes each, as for ws_frame_decoder_feed). Each event's header points to a copy of
 * its own, owned by the decoder and valid until its next feed, feed_events or reset, so the
 * events of one batch can be read in any order. With WS_FRAME_WHOLE, a buffer of whole small
 * frames takes one call for up to max frames.
 * *consumed is set to the bytes the returned events used: all n of them when fewer than max
 * events come back (a partial header is kept by the decoder), so call again with the rest
 * only after a full batch. Returns the number of events (0: more bytes are needed), or an
 * error of
 * ws_frame_decoder_feed: when a frame fails after k > 0 good events, the call returns those k
 * (and *consumed stops before the bad frame) and the next call returns the sticky error.
 * WS_ERR_INVALID_ARG for NULL d, consumed or evs, in NULL with n > 0, max 0, or ev_size too
 * small.
 */
WS_EXPORT int ws_frame_decoder_feed_events(ws_frame_decoder *d, uint8_t *in, size_t n,
                                           size_t *consumed, ws_frame_event *evs, size_t max,
                                           size_t ev_size);

/* ------------------------------------------------------------------------------------------ */
/* UTF-8 validation (RFC 3629), incremental and fail-fast                                      */
/* ------------------------------------------------------------------------------------------ */

/*
 * The validator the connection uses for text messages and close reasons, for callers who
 * check text themselves (a tester, a binding validating before it sends). State is one
 * uint32_t: start with WS_UTF8_ACCEPT and pass the same state to every piece of the text,
 * split anywhere. Uses SSSE3/AVX2 when the CPU has them, a scalar DFA otherwise.
 */
typedef uint32_t ws_utf8_state;
#define WS_UTF8_ACCEPT 0u

/* Validate p[0..n) continuing from *st. Returns n when every byte so far can still be part of
 * valid UTF-8 (the text may end inside a sequence: check ws_utf8_complete at its end), or the
 * offset (< n) of the first byte at which no valid continuation exists, leaving *st in a
 * sticky reject state (later calls return 0). Pure apart from *st. */
WS_EXPORT size_t ws_utf8_validate(ws_utf8_state *st, const uint8_t *p, size_t n);
/* 1 if the text so far ends on a character boundary with no error, else 0. */
WS_EXPORT int ws_utf8_complete(ws_utf8_state st);
/* 1 once an invalid byte was seen (sticky), else 0. */
WS_EXPORT int ws_utf8_failed(ws_utf8_state st);

/* ------------------------------------------------------------------------------------------ */
/* Checker: the rules of a frame stream, for testers (conformance tools, fuzzers)              */
/* ------------------------------------------------------------------------------------------ */

/*
 * ws_checker reads the bytes one endpoint sends (after the opening handshake) and reports
 * every rule of RFC 6455 they break -- frame rules (sections 5.2, 5.5, 5.1 masking), message
 * rules (5.4 fragmentation order, 8.1 UTF-8 of text, 5.5.1 close payloads, nothing after the
 * close frame) and size limits -- each with the close code the receiver is asked to fail with
 * (ws_close_code_for_error), how firmly (severity) and the byte offset in the stream. It never
 * stops at a violation: a broken frame is reported and skipped, and the stream goes on, so a
 * tester sees what a broken peer sends next (the "observe mode" of an oracle). Nothing is
 * sent: it has no output. The same rules as ws_conn's receive path; ws_conn fails at the
 * first one, the checker reports them all.
 *
 * Feed the stream in pieces of any size (in[] is unmasked in place, as with the frame
 * decoder); each call returns at most one event. Loop: feed, handle the event, feed the rest.
 */
typedef struct ws_checker ws_checker;

/* Events of ws_checker_feed (ws_check_event.type). */
enum {
    WS_CHECK_NONE = 0,      /* needs more input */
    WS_CHECK_DATA = 1,      /* a chunk of a data message (unmasked, in the caller's input):
                               opcode of the message, fin = 1 on its last chunk */
    WS_CHECK_CONTROL = 2,   /* a whole control frame: opcode, its payload (at most 125 bytes,
                               the checker's copy); for a close: close_code as received (0:
                               none), data/len the reason as received, valid or not */
    WS_CHECK_VIOLATION = 3  /* a rule broken: error, close_code, severity, offset */
};

/* How firmly RFC 6455 asks the receiver to act on a violation (ws_check_event.severity). */
enum {
    WS_SEVERITY_MUST = 1,   /* the receiver MUST fail the connection (reserved opcode or RSV
                               bits, control frame rules, masking, fragmentation order, invalid
                               UTF-8 in a text message) */
    WS_SEVERITY_SHOULD = 2, /* the sender broke a MUST, receivers commonly fail (a close frame
                               of 1 byte, a close code not allowed, a close reason not UTF-8, a
                               64-bit length with its top bit set); test suites expect a
                               failure. Also a failure the RFC requires without naming its
                               close code (compressed data that is not DEFLATE: RFC 7692
                               names none; 1007 is the checker's) */
    WS_SEVERITY_STRICT = 3, /* the sender broke a MUST that receivers may tolerate (a length not
                               minimally encoded, a frame after the close frame) */
    WS_SEVERITY_LIMIT = 4   /* over the receiver's own limit (frame or message too large):
                               1009 is the answer when it applies the limit */
};

/* An event of the checker. May grow at the end (rule 4): pass sizeof(ws_check_event). */
typedef struct ws_check_event {
    uint32_t type;        /* WS_CHECK_* */
    int32_t error;        /* VIOLATION: the rule (WS_ERR_FRAME_*, WS_ERR_UNEXPECTED_CONTINUATION,
                             WS_ERR_EXPECTED_CONTINUATION, WS_ERR_INVALID_UTF8,
                             WS_ERR_CLOSE_PAYLOAD, WS_ERR_CLOSE_CODE, WS_ERR_AFTER_CLOSE,
                             WS_ERR_MESSAGE_TOO_BIG, WS_ERR_DEFLATE_RSV1, and with
                             WS_CHECK_INFLATE WS_ERR_DEFLATE_DATA) */
    uint16_t close_code;  /* VIOLATION: the code to fail with; CONTROL close: as received */
    uint8_t severity;     /* VIOLATION: WS_SEVERITY_* */
    uint8_t opcode;       /* DATA: TEXT or BINARY; CONTROL: the frame's; VIOLATION: the frame's */
    uint8_t fin;          /* DATA: last chunk of the message */
    uint8_t compressed;   /* DATA: the message has RSV1 (permessage-deflate) and these are its
                             bytes as on the wire: not inflated (no WS_CHECK_INFLATE, or its
                             data was found invalid), its UTF-8 not checked */
    uint8_t after_close;  /* 1: the frame came after the sender's close frame (valid or not):
                             the receiver is closing already and owes no other answer than
                             the one to that close */
    uint8_t reserved_;
    uint64_t offset;      /* stream offset: VIOLATION: of the frame breaking the rule (for
                             invalid UTF-8: of the first invalid byte, or, for text that ends
                             inside a character, just past the message's last byte -- where
                             the next frame starts); DATA, CONTROL: of the frame */
    const uint8_t *data;  /* DATA, CONTROL: payload view, valid until the next feed */
    size_t len;
} ws_check_event;

/* Flags for ws_checker_configure(). */
enum {
    /* permessage-deflate was negotiated: RSV1 allowed on a message's first frame. */
    WS_CHECK_DEFLATE = 1u << 0,
    /* With WS_CHECK_DEFLATE: inflate compressed messages (any window, context taken over as
     * RFC 7692 allows; a sender that resets its context decodes the same). DATA events then
     * carry the inflated bytes (a view into the checker, valid until the next feed, at most
     * 16 KiB an event), text is UTF-8 checked, invalid data is a WS_ERR_DEFLATE_DATA violation
     * (1007, SHOULD: the receiver must fail, RFC 7692 names no code) and the inflated length
     * counts against max_message. Needs zlib. */
    WS_CHECK_INFLATE = 1u << 1
};

/*
 * A checker of the frames an endpoint of role `sender` sends: WS_ROLE_CLIENT (frames must be
 * masked) or WS_ROLE_SERVER (must not be). Defaults: no extension, no size limit. WS_OK,
 * WS_ERR_NOMEM, WS_ERR_INVALID_ARG (out NULL, role unknown, allocator invalid).
 */
WS_EXPORT int ws_checker_new(ws_checker **out, uint32_t sender, const ws_allocator *alloc);
WS_EXPORT void ws_checker_free(ws_checker *k);
/* flags: WS_CHECK_*; max_frame, max_message: limits in bytes (0: none), reported as
 * WS_SEVERITY_LIMIT violations. WS_OK, WS_ERR_INVALID_ARG (unknown flag, INFLATE without
 * DEFLATE), WS_ERR_UNSUPPORTED (INFLATE without zlib), WS_ERR_NOMEM. */
WS_EXPORT int ws_checker_configure(ws_checker *k, uint32_t flags, uint64_t max_frame,
                                   uint64_t max_message);
/*
 * Check the next bytes of the stream: *consumed of in[0..n) were used (unmasked in place) and
 * *ev is the event they completed (WS_CHECK_NONE: feed more). Several violations of one frame
 * come one per call, in order, before its payload. WS_OK, or WS_ERR_INVALID_ARG (k, ev or
 * consumed NULL, ev_size too small, in NULL with n > 0).
 */
WS_EXPORT int ws_checker_feed(ws_checker *k, uint8_t *in, size_t n, size_t *consumed,
                              ws_check_event *ev, size_t ev_size);
/* Bytes checked so far (the offset of the next byte). NULL: 0. */
WS_EXPORT uint64_t ws_checker_offset(const ws_checker *k);

/* ------------------------------------------------------------------------------------------ */
/* Generator and mutations: seeded frame sequences, for fuzzers and testers                    */
/* ------------------------------------------------------------------------------------------ */

/*
 * ws_gen builds a sequence of frames one endpoint sends, from a seed: valid traffic (text and
 * binary messages, whole or fragmented, pings and pongs between fragments, a normal close),
 * masked as the sender's role requires, compressed when permessage-deflate is on; then
 * mutations, each breaking one rule (or none: the valid reshapes) and tagged with what
 * RFC 6455 asks the receiver to do -- the same error, close code and severity a ws_checker of
 * the sequence reports first. The whole sequence is kept as frames (so mutations work at frame
 * level: split, merge, interleave, insert) and serialised on demand.
 *
 * Deterministic: the same seed, configuration and calls give the same bytes on every machine
 * (no host byte order, pointer value or time is used); zlib's output is what it is for a given
 * zlib version. Bounded: a sequence never holds more than max_frames frames or more than
 * max_bytes bytes; a call that would go past either changes nothing and returns WS_ERR_BUDGET.
 *
 *     ws_gen_config cfg = {sizeof cfg};  cfg.sender = WS_ROLE_CLIENT;  cfg.seed = 42;
 *     ws_gen_new(&g, &cfg, NULL);
 *     ws_gen_add(g, WS_GEN_ANY);  ws_gen_add(g, WS_GEN_ANY);       (valid items)
 *     ws_gen_mutate(g, WS_MUT_UTF8_SPLIT, 0, &m);   (m.size set; gets error, close code)
 *     ws_gen_add(g, WS_GEN_CLOSE);
 *     ws_gen_output(g, &bytes, &len);                                (send them)
 */
typedef struct ws_gen ws_gen;

/* Configuration of a generator (ws_gen_new). May grow at the end (rule 4): set size. */
typedef struct ws_gen_config {
    uint32_t size;          /* sizeof(ws_gen_config) */
    uint32_t sender;        /* WS_ROLE_CLIENT (frames masked, random keys) or WS_ROLE_SERVER */
    uint64_t seed;          /* every choice comes from it */
    uint32_t flags;         /* WS_GEN_DEFLATE, WS_GEN_DEFLATE_NO_TAKEOVER */
    uint32_t max_message;   /* largest valid message payload (0: 4096), at most 16 MiB */
    uint32_t max_fragments; /* most fragments of a valid message (0: 5), 1..64 */
    uint32_t max_frames;    /* most frames in the sequence (0: 256), at most 65536 */
    uint64_t max_bytes;     /* most bytes in the sequence (0: 1 MiB), 64..256 MiB */
    uint64_t limit;         /* the receiver's frame size limit WS_MUT_TOO_LARGE exceeds
                               (0: 2^32); configure a checker of the output with it */
    uint8_t deflate_bits;   /* with WS_GEN_DEFLATE: our LZ77 window, 9..15 (0: 15) */
    uint8_t reserved_[7];
} ws_gen_config;

enum {
    /* permessage-deflate was negotiated: about half the valid messages go compressed (RSV1
     * on the first frame), and the WS_MUT_DEFLATE_* mutations apply. Needs zlib. */
    WS_GEN_DEFLATE = 1u << 0,
    /* ... with no context takeover for our side (the compressor reset per message) */
    WS_GEN_DEFLATE_NO_TAKEOVER = 1u << 1
};

/* What ws_gen_add appends. */
enum {
    WS_GEN_ANY = 0,    /* a message (mostly), a ping or an unsolicited pong, drawn */
    WS_GEN_TEXT = 1,   /* a text message, whole or fragmented, controls between fragments */
    WS_GEN_BINARY = 2, /* a binary message, likewise */
    WS_GEN_PING = 3,   /* a ping of 0..125 bytes */
    WS_GEN_PONG = 4,   /* an unsolicited pong */
    WS_GEN_CLOSE = 5   /* a normal close (1000), with a UTF-8 reason or none */
};

/*
 * Mutations. Each acts on the sequence and is tagged (ws_gen_mutation_tag) with the rule a
 * receiver sees broken first, the close code it must fail with and how firmly -- exactly what
 * a ws_checker of the sender's role reports first for the serialised sequence, configured
 * with the generator's limit and WS_CHECK_DEFLATE | WS_CHECK_INFLATE when deflate is on,
 * provided the sequence broke no rule before the mutation. WS_OK-tagged mutations keep the
 * sequence valid. ws_gen_mutate acts at the end of the sequence (it appends the item it needs
 * and changes that) unless given WS_MUT_ANYWHERE.
 */
enum {
    WS_MUT_NONE = 0,            /* nothing changed (a baseline) */
    WS_MUT_RSV = 1,             /* RSV bits no extension owns; 1002 MUST */
    WS_MUT_OPCODE = 2,          /* a frame with a reserved opcode 3-7 / 0xB-0xF; 1002 MUST */
    WS_MUT_NON_MINIMAL = 3,     /* a length in a longer encoding than needed; 1002 STRICT */
    WS_MUT_TOO_LARGE = 4,       /* a 64-bit length above the limit, short body; 1009 LIMIT */
    WS_MUT_LEN64_MSB = 5,       /* a 64-bit length with its top bit set; 1002 SHOULD */
    WS_MUT_MASK_FLIP = 6,       /* a client frame unmasked / a server frame masked; 1002 MUST */
    WS_MUT_CONTROL_FRAGMENTED = 7, /* a ping/pong without FIN (split); 1002 MUST */
    WS_MUT_CONTROL_TOO_LONG = 8,   /* a ping/pong of 126..400 bytes; 1002 MUST */
    WS_MUT_ORPHAN_CONTINUATION = 9, /* a continuation with no message open; 1002 MUST */
    WS_MUT_INTERLEAVE = 10,     /* a new message inside a fragmented one; 1002 MUST */
    WS_MUT_UTF8 = 11,           /* a text message with an invalid sequence; 1007 MUST */
    WS_MUT_UTF8_SPLIT = 12,     /* an invalid sequence across fragments; 1007 MUST */
    WS_MUT_UTF8_TRUNCATED = 13, /* text ending inside a character; 1007 MUST */
    WS_MUT_CLOSE_1BYTE = 14,    /* a close frame of 1 byte; 1002 SHOULD */
    WS_MUT_CLOSE_CODE = 15,     /* a close code not allowed on the wire; 1002 SHOULD */
    WS_MUT_CLOSE_UTF8 = 16,     /* a close reason that is not UTF-8; 1007 SHOULD */
    WS_MUT_AFTER_CLOSE = 17,    /* a normal close, then a frame; 1002 STRICT */
    WS_MUT_SPLIT = 18,          /* a data frame split in two fragments; valid */
    WS_MUT_MERGE = 19,          /* two fragments merged into one frame; valid */
    WS_MUT_INSERT_CONTROL = 20, /* a ping or pong between two fragments; valid */
    WS_MUT_REMASK = 21,         /* a client frame masked with a new key; valid (client only) */
    WS_MUT_DEFLATE_RSV1_CONTINUATION = 22, /* RSV1 on a continuation; 1002 MUST (deflate) */
    WS_MUT_DEFLATE_RSV1_CONTROL = 23,      /* RSV1 on a ping/pong; 1002 MUST (deflate) */
    WS_MUT_DEFLATE_DATA = 24,   /* a compressed message whose data is not DEFLATE; 1007 SHOULD
                                   (deflate; RFC 7692 names no code) */
    WS_MUT_COUNT_ = 25,         /* kinds are 0 .. WS_MUT_COUNT_-1; may grow */
    WS_MUT_ANY = 0x7FFFFFFF     /* ws_gen_mutate: draw one that applies (not NONE) */
};

/* ws_gen_mutate flags. */
enum {
    /* Act on a frame or boundary drawn from the whole sequence instead of appending (mutations
     * that need something the sequence lacks still append it). Tags hold when the sequence was
     * valid up to that point. */
    WS_MUT_ANYWHERE = 1u << 0
};

/* A mutation's tag (ws_gen_mutation_tag) or the mutation made (ws_gen_mutate). May grow at
 * the end (rule 4): set size. */
typedef struct ws_gen_mutation {
    uint32_t size;       /* sizeof(ws_gen_mutation) */
    uint32_t kind;       /* WS_MUT_* (for WS_MUT_ANY: the one drawn) */
    int32_t error;       /* the rule broken first: a ws_checker's VIOLATION error; WS_OK for a
                            mutation that keeps the sequence valid */
    uint16_t close_code; /* the code RFC 6455 asks the receiver to fail with (0 if valid) */
    uint8_t severity;    /* WS_SEVERITY_* (0 if valid) */
    uint8_t deflate;     /* applies only with WS_GEN_DEFLATE */
    uint32_t frame;      /* ws_gen_mutate: index of the first frame changed or added */
    uint32_t reserved_;
} ws_gen_mutation;

/* The tag of mutation kind for a sender of role `sender` (WS_MUT_MASK_FLIP is
 * WS_ERR_FRAME_UNMASKED for a client, WS_ERR_FRAME_MASKED for a server), and its name and a
 * one-line description (static strings; either pointer may be NULL). WS_OK, WS_ERR_NOT_FOUND
 * (no such kind), WS_ERR_INVALID_ARG (m NULL or m->size too small, unknown role). */
WS_EXPORT int ws_gen_mutation_tag(uint32_t kind, uint32_t sender, ws_gen_mutation *m,
                                  const char **name, const char **about);
/* The kind named `name` (as ws_gen_mutation_tag gives it, e.g. "utf8-split"), or
 * WS_ERR_NOT_FOUND / WS_ERR_INVALID_ARG (NULL). */
WS_EXPORT int ws_gen_mutation_find(const char *name);

/* A generator into *out (alloc NULL: malloc). WS_OK, WS_ERR_INVALID_ARG (out or cfg NULL,
 * cfg->size too small, unknown role or flag), WS_ERR_RANGE (a limit out of its range),
 * WS_ERR_UNSUPPORTED (WS_GEN_DEFLATE without zlib), WS_ERR_NOMEM. */
WS_EXPORT int ws_gen_new(ws_gen **out, const ws_gen_config *cfg, const ws_allocator *alloc);
WS_EXPORT void ws_gen_free(ws_gen *g);
/* Empty the sequence and start again from seed (the configuration and memory are kept; a
 * compressor's context is dropped). WS_OK, WS_ERR_INVALID_ARG. */
WS_EXPORT int ws_gen_reset(ws_gen *g, uint64_t seed);
/* Append one valid item (WS_GEN_*). WS_OK, WS_ERR_BUDGET (it would not fit max_frames or
 * max_bytes: nothing appended), WS_ERR_INVALID_ARG (unknown item), WS_ERR_NOMEM. */
WS_EXPORT int ws_gen_add(ws_gen *g, uint32_t item);
/*
 * Apply one mutation (WS_MUT_*, or WS_MUT_ANY), flags WS_MUT_ANYWHERE or 0; *m (may be NULL;
 * else m->size set) gets its tag and the first frame it touched. WS_OK; WS_ERR_BUDGET (it would not fit:
 * nothing changed); WS_ERR_STATE (the kind does not apply: a WS_MUT_DEFLATE_* without
 * WS_GEN_DEFLATE, WS_MUT_REMASK on a server); WS_ERR_NOT_FOUND (unknown kind);
 * WS_ERR_INVALID_ARG; WS_ERR_NOMEM.
 */
WS_EXPORT int ws_gen_mutate(ws_gen *g, uint32_t kind, uint32_t flags, ws_gen_mutation *m);
/*
 * Replace the sequence by the frames parsed from in[0..n) (any bytes: a fuzzer's input):
 * headers taken as written, bodies unmasked, whatever rules they break; a frame that lies
 * about its length or is cut short keeps what is there, and so does serialising it back
 * (ws_gen_output gives in[0..n) again, up to max_frames/max_bytes, where loading stops). Then
 * mutate it (WS_MUT_ANYWHERE). WS_OK, WS_ERR_INVALID_ARG, WS_ERR_NOMEM.
 */
WS_EXPORT int ws_gen_load(ws_gen *g, const uint8_t *in, size_t n);
/* The sequence's bytes: a view valid until the next call that changes it or frees g. WS_OK,
 * WS_ERR_INVALID_ARG, WS_ERR_NOMEM. */
WS_EXPORT int ws_gen_output(ws_gen *g, const uint8_t **p, size_t *len);

/* One frame of the sequence (ws_gen_frame_at). May grow at the end (rule 4): set size. */
typedef struct ws_gen_frame {
    uint32_t size;           /* sizeof(ws_gen_frame) */
    uint8_t opcode, fin, rsv, masked; /* as written (rsv: WS_RSV1|WS_RSV2|WS_RSV3) */
    uint8_t mask[4];
    uint8_t len_bytes;       /* length encoding forced (1, 2, 8) or 0: minimal */
    uint8_t mutated;         /* 1: made or changed by a mutation */
    uint8_t reserved_[2];
    int32_t item;            /* index of the valid item it carries (ws_gen_item_at), or -1 */
    uint64_t declared_len;   /* the length in its header */
    uint64_t start, end;     /* its bytes in ws_gen_output */
    const uint8_t *body;     /* the body as it goes out, before masking: a view like output's */
    size_t body_len;
} ws_gen_frame;

/* A valid item of the sequence (ws_gen_item_at): a message, ping, pong or close that
 * ws_gen_add (or a mutation, as a carrier) added. May grow at the end: set size. */
typedef struct ws_gen_item {
    uint32_t size;           /* sizeof(ws_gen_item) */
    uint8_t opcode;          /* TEXT, BINARY, PING, PONG, CLOSE */
    uint8_t intact;          /* 0: a mutation changed one of its frames (it breaks a rule, or
                                its boundaries moved and it is still valid: see mutated) */
    uint8_t compressed;      /* sent with permessage-deflate */
    uint8_t mutated;         /* 1: a mutation touched it */
    uint64_t start, end;     /* from its first frame's first byte to its last frame's end */
    const uint8_t *data;     /* the payload as the receiver gets it (decompressed) */
    size_t len;
} ws_gen_item;

/* Number of frames / items in the sequence (NULL: 0). */
WS_EXPORT size_t ws_gen_frame_count(const ws_gen *g);
WS_EXPORT size_t ws_gen_item_count(const ws_gen *g);
/* Frame i / item i (offsets as in ws_gen_output, which it serialises if needed): WS_OK,
 * WS_ERR_NOT_FOUND (i past the end), WS_ERR_INVALID_ARG (NULL, size too small),
 * WS_ERR_NOMEM. */
WS_EXPORT int ws_gen_frame_at(ws_gen *g, size_t i, ws_gen_frame *f);
WS_EXPORT int ws_gen_item_at(ws_gen *g, size_t i, ws_gen_item *it);

/*
 * Describe the frames in in[0..n) for a reproducer: one line per frame, '\n'-terminated --
 * "@OFFSET OPCODE fin=F rsv=R mask=KEY|- len=N[/16-bit|/64-bit] ..." then a preview of the
 * unmasked payload (quoted text, hex, or a close's code and reason, at most 32 bytes shown),
 * and "incomplete" for a frame cut short; nothing is judged (rules are the checker's). in is
 * not changed. out gets a NUL-terminated text; *needed (may be NULL) the length it needs
 * without the NUL. Returns the length written, WS_ERR_BUFFER_TOO_SMALL (out gets what fits,
 * cut at a line end) or WS_ERR_INVALID_ARG (in NULL with n > 0, out NULL with cap > 0).
 */
WS_EXPORT int ws_frame_describe(const uint8_t *in, size_t n, char *out, size_t cap,
                                size_t *needed);

/* ------------------------------------------------------------------------------------------ */
/* Handshake layer (RFC 6455 section 4; RFC 8441 / RFC 9220)                                   */
/* ------------------------------------------------------------------------------------------ */

/*
 * Opening handshake. One ws_handshake object parses one HTTP/1.1 message: the client's upgrade
 * request on a server, the server's response on a client. Bytes go in with
 * ws_handshake_feed() in pieces of any size; the answer (server) or the request (client) is
 * written into a caller buffer. Nothing here blocks, reads a clock or owns a socket.
 *
 * Server, in outline:
 *     ws_handshake_new(&hs, WS_ROLE_SERVER, NULL);
 *     r = ws_handshake_feed(hs, in, n, &used);   (0: need more; keep in[used..n) for frames)
 *     r == WS_HANDSHAKE_COMPLETE: inspect target, headers, subprotocols, extensions, then
 *             ws_handshake_accept(hs, proto, exts, headers, out, cap, &need) or
 *             ws_handshake_reject(401, NULL, headers, body, len, out, cap, &need)
 *     r <  0: ws_handshake_write_error(hs, out, cap, &need) answers 400/405/426/431/505.
 * Client:
 *     ws_handshake_new(&hs, WS_ROLE_CLIENT, NULL);
 *     ws_handshake_client_request(hs, url, strlen(url), protos, nprotos, exts, headers,
 *                                 out, cap, &need);
 *     r = ws_handshake_feed(hs, in, n, &used);   (COMPLETE: open; bytes after `used` are frames;
 *                                                 WS_ERR_HS_STATUS: see ws_handshake_status)
 *
 * Views. Every string the object hands out is a pointer + length into memory the object owns,
 * valid until ws_handshake_reset() or ws_handshake_free(). Each is also NUL-terminated, so C
 * callers may use it as a string; the length is authoritative (a value may contain no NUL
 * byte anyway: the parser rejects them). Views exist once the header block is complete: after
 * feed returned WS_HANDSHAKE_COMPLETE, or after it returned one of the errors that judge a complete message
 * (WS_ERR_HS_DUPLICATE, _METHOD, _VERSION_HTTP, _NO_HOST, _UPGRADE, _CONNECTION, _KEY,
 * _WS_VERSION, _BODY, _SUBPROTOCOL, _EXTENSION, _STATUS, _ACCEPT and the WS_ERR_H2_* ones), so a
 * server can still serve a plain HTTP GET or log what it refused. Before that, accessors
 * return WS_ERR_STATE. Lookups of what is absent return WS_ERR_NOT_FOUND (rule 2).
 *
 * Limits. The header block (start line through the empty line) is copied into one buffer that
 * grows up to the header size limit (default 8192 bytes) and never beyond; at most 64 header
 * lines by default; at most 256 list elements in total across Sec-WebSocket-Protocol and
 * Sec-WebSocket-Extensions (offers plus parameters). Past any of them feed fails with
 * WS_ERR_HS_TOO_LARGE or WS_ERR_HS_TOO_MANY_HEADERS (answered 431).
 *
 * Strictness (RFC 9112 / RFC 6455 section 4): lines end in CRLF (else WS_ERR_HS_BARE_LF); NUL
 * and other control bytes except HTAB are refused anywhere in the block (WS_ERR_HS_CTL_CHAR);
 * a line starting with SP/HTAB is obsolete folding (WS_ERR_HS_OBS_FOLD); no whitespace between
 * a field name and its colon (WS_ERR_HS_SYNTAX); the request target must be visible ASCII.
 * Header names compare case-insensitively; token lists (Upgrade, Connection) are
 * comma-separated, may span repeated lines and may hold empty elements.
 */
typedef struct ws_handshake ws_handshake;

/* Roles, for ws_handshake_new() and ws_conn_new(). */
enum { WS_ROLE_SERVER = 0, WS_ROLE_CLIENT = 1 };

/* Default limits. */
#define WS_DEFAULT_MAX_HEADER_SIZE 8192u
#define WS_DEFAULT_MAX_HEADERS 64u
#define WS_DEFAULT_MAX_BODY 16384u
/* Subprotocols + extension offers + extension parameters, in total, in one message. */
#define WS_HANDSHAKE_MAX_LIST_ITEMS 256u
/* ws_handshake_feed(), ws_handshake_result(), ws_h2_end_headers(): the message is complete
 * and valid. */
#define WS_HANDSHAKE_COMPLETE 1

/* Create a handshake into *out for role WS_ROLE_CLIENT (builds the request, parses the
 * response) or WS_ROLE_SERVER (parses the request, writes the response). alloc NULL: malloc.
 * The random hook defaults to ws_random_os. Nothing else is allocated until bytes are fed.
 * Returns WS_OK, WS_ERR_NOMEM, WS_ERR_INVALID_ARG (out NULL, unknown role, allocator size). */
WS_EXPORT int ws_handshake_new(ws_handshake **out, uint32_t role, const ws_allocator *alloc);
/* Free the object and everything it owns (NULL is a no-op); all views die with it. */
WS_EXPORT void ws_handshake_free(ws_handshake *hs);
/* Forget the message, the error, the client key and offers (views die; buffers are freed);
 * keep the role, the limits and the random hook. WS_OK or WS_ERR_INVALID_ARG. */
WS_EXPORT int ws_handshake_reset(ws_handshake *hs);

/* Header block size limit in bytes, 64..16 MiB. Only before the first feed: WS_ERR_STATE
 * after, WS_ERR_RANGE out of range. */
WS_EXPORT int ws_handshake_set_max_header_size(ws_handshake *hs, size_t bytes);
/* Header line count limit, 1..65535. WS_ERR_STATE after the first feed, WS_ERR_RANGE. */
WS_EXPORT int ws_handshake_set_max_headers(ws_handshake *hs, size_t count);
/* Client: most body bytes of a non-101 response kept for ws_handshake_body() (0: none,
 * at most 16 MiB: WS_ERR_RANGE). WS_ERR_STATE after the first feed. */
WS_EXPORT int ws_handshake_set_max_body(ws_handshake *hs, size_t bytes);
/* Client: random source for Sec-WebSocket-Key (fn NULL: ws_random_os). WS_OK or
 * WS_ERR_INVALID_ARG. */
WS_EXPORT int ws_handshake_set_random(ws_handshake *hs, ws_random_fn fn, void *user);

/*
 * Consume bytes of the peer's HTTP message from in[0..n); *consumed is set on every return.
 * Returns
 *   0  all n bytes consumed, the message is not complete yet;
 *   WS_HANDSHAKE_COMPLETE (1)  the message is complete and valid; *consumed counts only the bytes up to and including
 *      the empty line that ends the header block: in[*consumed..n) already belongs to the
 *      WebSocket stream (a client's first frame, pipelined) and must go to the frame layer;
 *   <0 an error, sticky until reset (further calls return it again, consuming nothing):
 *      syntax and limits: WS_ERR_HS_SYNTAX, _BARE_LF, _OBS_FOLD, _CTL_CHAR, _TOO_LARGE,
 *      _TOO_MANY_HEADERS; semantics: WS_ERR_HS_DUPLICATE (Host, Sec-WebSocket-Key,
 *      Sec-WebSocket-Version, Origin, Authorization, Content-Length in a request;
 *      Sec-WebSocket-Accept, Sec-WebSocket-Protocol, Content-Length in a response),
 *      server: _METHOD, _VERSION_HTTP, _NO_HOST, _UPGRADE, _CONNECTION, _WS_VERSION, _KEY,
 *      _BODY, _SUBPROTOCOL, _EXTENSION (checked in that order);
 *      client: _STATUS (any non-101 status; see below), _VERSION_HTTP, _UPGRADE, _CONNECTION,
 *      _ACCEPT, _SUBPROTOCOL (more than one, or one not offered), _EXTENSION (malformed or a
 *      name not offered); WS_ERR_NOMEM; WS_ERR_STATE (client before
 *      ws_handshake_client_request, or a server fed after ws_h2_*); WS_ERR_INVALID_ARG.
 * After WS_HANDSHAKE_COMPLETE, further calls consume nothing and return it again.
 * Client, non-101 status: when the response has a Content-Length (and no Transfer-Encoding),
 * feed keeps consuming (returning 0) until min(Content-Length, max body) body bytes are in,
 * and *consumed includes them; then WS_ERR_HS_STATUS. Without a Content-Length the body is
 * not read (WS_ERR_HS_STATUS right after the header block). A 1xx other than 101 is a
 * non-101 status too.
 */
WS_EXPORT int ws_handshake_feed(ws_handshake *hs, const uint8_t *in, size_t n,
                                size_t *consumed);

/* The sticky error (negative), WS_HANDSHAKE_COMPLETE, or 0 if still parsing; WS_ERR_INVALID_ARG
 * for NULL. */
WS_EXPORT int ws_handshake_result(const ws_handshake *hs);

/* ---- views of the parsed message (see "Views" above) ---- */

/* Request method / request target exactly as sent (origin-form "/path?query", or
 * absolute-form; percent-decoding is the caller's). Over HTTP/2 these are :method and :path.
 * Return WS_OK (view set) or WS_ERR_STATE (no complete request; also on a client). */
WS_EXPORT int ws_handshake_method(const ws_handshake *hs, const char **p, size_t *len);
WS_EXPORT int ws_handshake_target(const ws_handshake *hs, const char **p, size_t *len);
/* Host header (over HTTP/2: :authority). Returns WS_OK, WS_ERR_NOT_FOUND when absent (view
 * NULL, 0), or WS_ERR_STATE. */
WS_EXPORT int ws_handshake_host(const ws_handshake *hs, const char **p, size_t *len);
/*
 * The index-th (0-based) header line named `name` (NUL-terminated, case-insensitive), its
 * value with surrounding whitespace removed. Origin, Cookie, Authorization, Location,
 * Retry-After... are all read this way. Returns WS_OK and sets the view, WS_ERR_NOT_FOUND if
 * there is no such line (view set to NULL, 0), WS_ERR_STATE before the header block is
 * complete, WS_ERR_INVALID_ARG (name NULL). Over HTTP/2 pseudo-headers can be looked up as ":path" etc.
 */
WS_EXPORT int ws_handshake_header(const ws_handshake *hs, const char *name, size_t index,
                                  const char **value, size_t *len);
/* Number of header lines (0 before the block is complete, or for NULL). Pure query. */
WS_EXPORT size_t ws_handshake_header_count(const ws_handshake *hs);
/* The i-th header line in arrival order: WS_OK, WS_ERR_STATE, or WS_ERR_NOT_FOUND (i past
 * the end). Either out-pointer pair may be NULL. */
WS_EXPORT int ws_handshake_header_at(const ws_handshake *hs, size_t i, const char **name,
                                     size_t *name_len, const char **value, size_t *value_len);

/* Subprotocols: on a server, those the client offered, in order, from every
 * Sec-WebSocket-Protocol line; on a client, the one the server chose (count 0 or 1). Pure. */
WS_EXPORT size_t ws_handshake_subprotocol_count(const ws_handshake *hs);
/* The i-th subprotocol: WS_OK, or WS_ERR_NOT_FOUND (i past the end). */
WS_EXPORT int ws_handshake_subprotocol(const ws_handshake *hs, size_t i, const char **p,
                                       size_t *len);

/*
 * Extensions: on a server, the client's offers, in order, from every Sec-WebSocket-Extensions
 * line (one name may be offered several times, e.g. permessage-deflate with different
 * parameters, best first); on a client, what the server accepted. Each element has a name
 * and parameters; a parameter has a name and a value, or no value (value NULL, length 0).
 * Quoted-string values are returned unescaped. Names are as sent: compare case-insensitively.
 */
WS_EXPORT size_t ws_handshake_extension_count(const ws_handshake *hs);
/* Name and parameter count of element i: WS_OK or WS_ERR_NOT_FOUND. nparams may be NULL. */
WS_EXPORT int ws_handshake_extension(const ws_handshake *hs, size_t i, const char **name,
                                     size_t *name_len, size_t *nparams);
/* Parameter j of element i: WS_OK or WS_ERR_NOT_FOUND. A parameter without a value has the
 * value view NULL, 0. */
WS_EXPORT int ws_handshake_extension_param(const ws_handshake *hs, size_t i, size_t j,
                                           const char **name, size_t *name_len,
                                           const char **value, size_t *value_len);

/* ---- server side ---- */

/*
 * Write the 101 answer to a valid request (feed returned WS_HANDSHAKE_COMPLETE) into out[0..cap):
 * Upgrade, Connection, Sec-WebSocket-Accept, then
 *   subprotocol  NULL for none, or NUL-terminated and exactly (case-sensitively) one of the
 *                offered subprotocols -- a view from ws_handshake_subprotocol() will do;
 *   extensions   NULL, or the Sec-WebSocket-Extensions value agreed to, e.g.
 *                "permessage-deflate; server_no_context_takeover"; it must parse and every
 *                name in it must have been offered;
 *   headers      NULL, or extra header lines "Name: value\r\n..." (e.g. Set-Cookie); each
 *                line well formed, the final CRLF optional; names the library writes
 *                (Upgrade, Connection, Sec-WebSocket-*, Content-Length, Transfer-Encoding)
 *                are refused.
 * *needed (if not NULL) gets the full length on success and on WS_ERR_BUFFER_TOO_SMALL, so
 * out may be NULL with cap 0 to ask for the size. Nothing is kept: calling again writes the
 * same bytes. Returns the length, WS_ERR_BUFFER_TOO_SMALL, WS_ERR_STATE (client, not complete,
 * failed, or an HTTP/2 request), WS_ERR_ARG_SUBPROTOCOL, WS_ERR_ARG_EXTENSIONS,
 * WS_ERR_ARG_HEADERS (the rules above), WS_ERR_INVALID_ARG (hs NULL, out NULL with cap > 0).
 */
WS_EXPORT int ws_handshake_accept(const ws_handshake *hs, const char *subprotocol,
                                  const char *extensions, const char *headers, uint8_t *out,
                                  size_t cap, size_t *needed);

/*
 * Write a refusal "HTTP/1.1 <status> <reason>" with extra header lines (same rules as for
 * accept; e.g. "WWW-Authenticate: ...", "Retry-After: 30"), then "Content-Length" and
 * "Connection: close" and the body (may be NULL when body_len is 0). Needs no handshake
 * object: a server may refuse (429/503) before parsing anything. status 200..599; reason NULL
 * gives the standard phrase (or an empty one for an unknown code), otherwise visible ASCII,
 * SP and HTAB only. The connection is meant to be closed after it: unconsumed input may
 * already be WebSocket frames. Returns the length, WS_ERR_BUFFER_TOO_SMALL (with *needed),
 * WS_ERR_ARG_STATUS (status or reason), WS_ERR_ARG_HEADERS, or WS_ERR_INVALID_ARG (body NULL
 * with body_len > 0, out NULL with cap > 0).
 */
WS_EXPORT int ws_handshake_reject(unsigned status, const char *reason, const char *headers,
                                  const void *body, size_t body_len, uint8_t *out, size_t cap,
                                  size_t *needed);

/* The status a server should answer its failed request with: 400 for syntax and most rules,
 * 405 WS_ERR_HS_METHOD, 426 WS_ERR_HS_WS_VERSION, 431 WS_ERR_HS_TOO_LARGE /
 * _TOO_MANY_HEADERS, 505 WS_ERR_HS_VERSION_HTTP, 503 WS_ERR_NOMEM. 0 if there is no error or
 * hs is a client. Over HTTP/2 send it as :status (with sec-websocket-version: 13 for 426).
 * Pure query. */
WS_EXPORT int ws_handshake_error_status(const ws_handshake *hs);
/* Write the answer for the failed request (status above, "Connection: close", and what the
 * status requires: "Allow: GET" for 405, "Upgrade: websocket" and "Sec-WebSocket-Version: 13"
 * for 426), with an empty body. Returns the length, WS_ERR_BUFFER_TOO_SMALL (with *needed)
 * or WS_ERR_STATE (no error, or a client). */
WS_EXPORT int ws_handshake_write_error(const ws_handshake *hs, uint8_t *out, size_t cap,
                                       size_t *needed);

/* ---- client side ---- */

/*
 * A parsed ws:// or wss:// URI (RFC 6455 section 3). The views point into the string given to
 * ws_uri_parse() and live as long as it does. They are not NUL-terminated. May grow at the
 * end (rule 4): pass sizeof(ws_uri).
 */
typedef struct ws_uri {
    const char *host;  /* without the brackets of an IPv6 literal; never empty */
    size_t host_len;
    const char *path;  /* "" when absent (the request then asks for "/"), else starts with '/' */
    size_t path_len;
    const char *query; /* after the '?', NULL when there is no '?' (may be empty) */
    size_t query_len;
    uint16_t port;     /* explicit, else 80 (ws) or 443 (wss) */
    uint8_t secure;    /* 1 for wss */
    uint8_t ipv6;      /* host is an IPv6 literal (written back in brackets) */
} ws_uri;

/*
 * Parse s[0..len) as "ws[s]://host[:port][/path][?query]". The scheme is case-insensitive; the
 * host is a reg-name, IPv4 address or bracketed IPv6 literal; percent escapes are checked but
 * not decoded. Returns WS_OK, WS_ERR_URI_SCHEME, WS_ERR_URI_USERINFO ("user@host"),
 * WS_ERR_URI_HOST, WS_ERR_URI_PORT (empty, non-digit, 0 or > 65535), WS_ERR_URI_PATH,
 * WS_ERR_URI_FRAGMENT ('#' anywhere: write %23), WS_ERR_INVALID_ARG (NULL, uri_size too
 * small). *uri is written only on success.
 */
WS_EXPORT int ws_uri_parse(const char *s, size_t len, ws_uri *uri, size_t uri_size);

/*
 * Write the client's upgrade request for url[0..url_len) (parsed as by ws_uri_parse) into
 * out[0..cap): "GET path?query HTTP/1.1",
 * Host (with ":port" when not the scheme's default), Upgrade, Connection, a fresh
 * Sec-WebSocket-Key (16 bytes from the random hook), Sec-WebSocket-Version: 13, then
 *   subprotocols[0..nsub)  offered in Sec-WebSocket-Protocol (tokens, NUL-terminated);
 *   extensions             NULL or a Sec-WebSocket-Extensions value to offer; must parse;
 *   headers                extra lines (Origin, Authorization, Cookie...), rules as for
 *                          ws_handshake_accept; Host is refused too.
 * The offers are remembered to check the response. The key is drawn once and reused by later
 * calls (so a size query with out NULL and the real call send the same key); reset draws a
 * new one. *needed as for accept. Returns the length, WS_ERR_BUFFER_TOO_SMALL, WS_ERR_RANDOM,
 * WS_ERR_NOMEM, WS_ERR_STATE (a server, or the response is already being fed), the
 * WS_ERR_URI_* errors, WS_ERR_ARG_SUBPROTOCOL (one not a token, or more than
 * WS_HANDSHAKE_MAX_LIST_ITEMS), WS_ERR_ARG_EXTENSIONS (malformed), WS_ERR_ARG_HEADERS,
 * WS_ERR_INVALID_ARG (hs or url NULL, nsub > 0 with subprotocols NULL, a NULL subprotocol).
 */
WS_EXPORT int ws_handshake_client_request(ws_handshake *hs, const char *url, size_t url_len,
                                          const char *const *subprotocols, size_t nsub,
                                          const char *extensions, const char *headers,
                                          uint8_t *out, size_t cap, size_t *needed);

/* Client: the response's status code (100..599) once its header block is complete, else 0.
 * Pure query. */
WS_EXPORT int ws_handshake_status(const ws_handshake *hs);
/* Client: the reason phrase (may be empty: a non-NULL view of length 0). Returns WS_OK or
 * WS_ERR_STATE. */
WS_EXPORT int ws_handshake_reason(const ws_handshake *hs, const char **p, size_t *len);
/* Client: body bytes of a non-101 response kept so far (up to Content-Length and the body
 * limit). Returns WS_OK, WS_ERR_NOT_FOUND when no body byte was kept (view NULL, 0), or
 * WS_ERR_STATE. */
WS_EXPORT int ws_handshake_body(const ws_handshake *hs, const uint8_t **p, size_t *len);

/*
 * ---- WebSockets over HTTP/2 (RFC 8441) and HTTP/3 (RFC 9220) ----
 *
 * There the upgrade is an extended CONNECT on one stream, with no Key/Accept exchange, and the
 * header list arrives decoded from HPACK/QPACK. A ws_handshake of role WS_ROLE_SERVER can
 * take that list instead of HTTP/1.1 bytes; afterwards the same views work (method = :method,
 * target = :path, host = :authority, subprotocols, extensions, header lookup).
 *
 * A binding to nghttp2 would:
 *   1. send SETTINGS_ENABLE_CONNECT_PROTOCOL = 1 in its SETTINGS (nghttp2_submit_settings);
 *   2. on on_begin_headers_callback for a new stream: ws_handshake_new(&hs, WS_ROLE_SERVER, a);
 *   3. in on_header_callback: ws_h2_add_header(hs, name, namelen, value, valuelen) -- the
 *      bytes are copied, so nghttp2's buffers need not outlive the callback; a negative
 *      return -> answer the error (step 5);
 *   4. on on_frame_recv_callback for that stream's HEADERS with END_HEADERS:
 *      r = ws_h2_end_headers(hs); on WS_HANDSHAKE_COMPLETE, pick a subprotocol from the views,
 *      agree permessage-deflate with ws_conn_open_negotiate() (below) and
 *      nghttp2_submit_response() with ":status: 200" (plus "sec-websocket-protocol",
 *      "sec-websocket-extensions" as chosen) and a data provider that does not end the stream;
 *      from then on the stream's DATA payload is the WebSocket byte stream: hand it to the
 *      connection layer's "already open" constructor (no HTTP/1.1 handshake on it), and send
 *      its output as DATA on the stream;
 *   5. on an error: ":status" = ws_handshake_error_status(hs) (add "sec-websocket-version: 13"
 *      for 426), then end or reset the stream.
 * examples/h2_server.c does all of this (and per-stream flow control). With nghttp3 (HTTP/3)
 * it is the same with SETTINGS_ENABLE_CONNECT_PROTOCOL in the HTTP/3 SETTINGS frame. ws_handshake_accept/write_error are HTTP/1.1 only (WS_ERR_STATE here).
 */
/* Frozen (never grows), so arrays of it need no size. */
typedef struct ws_h2_header {
    const char *name; /* lowercase, pseudo-headers (":path") first */
    size_t name_len;
    const char *value;
    size_t value_len;
} ws_h2_header;

/*
 * Add one decoded header field of an extended CONNECT request. Checked as each arrives:
 * names lowercase tokens (or one of :method :protocol :scheme :path :authority, each once,
 * all before the first regular field), values without NUL/CR/LF or surrounding whitespace,
 * no connection-specific fields (Connection, Upgrade, Keep-Alive, Proxy-Connection,
 * Transfer-Encoding, TE other than "trailers"), limits as for HTTP/1.1 (name + value + 2 bytes
 * per field count against the header size limit). Returns WS_OK or, sticky:
 * WS_ERR_H2_HEADER, WS_ERR_H2_PSEUDO, WS_ERR_HS_TOO_LARGE, WS_ERR_HS_TOO_MANY_HEADERS,
 * WS_ERR_NOMEM; WS_ERR_STATE (a client, HTTP/1.1 bytes already fed, or after end_headers);
 * WS_ERR_INVALID_ARG.
 */
WS_EXPORT int ws_h2_add_header(ws_handshake *hs, const char *name, size_t name_len,
                               const char *value, size_t value_len);
/*
 * The header list is complete: check :method CONNECT, :protocol websocket (case-insensitive),
 * :scheme http or https, :path and :authority present and non-empty, sec-websocket-version 13
 * (WS_ERR_HS_WS_VERSION), single-valued fields once (WS_ERR_HS_DUPLICATE), and parse
 * sec-websocket-protocol / sec-websocket-extensions (WS_ERR_HS_SUBPROTOCOL / _EXTENSION).
 * A Sec-WebSocket-Key, if any, is ignored. Returns WS_HANDSHAKE_COMPLETE or, sticky, WS_ERR_H2_METHOD,
 * WS_ERR_H2_PROTOCOL, WS_ERR_H2_SCHEME, WS_ERR_H2_PATH, WS_ERR_H2_AUTHORITY and the errors
 * named, WS_ERR_NOMEM, WS_ERR_STATE.
 */
WS_EXPORT int ws_h2_end_headers(ws_handshake *hs);
/* ws_h2_add_header for each of hdrs[0..n), then ws_h2_end_headers: same returns. */
WS_EXPORT int ws_h2_parse_request(ws_handshake *hs, const ws_h2_header *hdrs, size_t n);

/* ------------------------------------------------------------------------------------------ */
/* Connection layer                                                                            */
/* ------------------------------------------------------------------------------------------ */

/*
 * ws_conn composes the layers into the object a server or client embeds: one per connection,
 * driven entirely by the caller. The loop, in any event loop:
 *
 *     ws_conn_tick(c, now_ms);                         // the time, and timers that expired
 *     n = read(fd, buf, sizeof buf);                   // bytes in: const, or in place:
 *     ws_conn_feed(c, buf, n, &taken);                 //   copied, the library keeps them
 *     while (ws_conn_next_event(c, &ev, sizeof ev) > 0)    // events out, one at a time
 *         handle(&ev);                                 // views: see ws_conn_next_event
 *     k = ws_conn_output(c, iov, 8);                   // pending bytes as chunks
 *     sent = writev(fd, iov, k) ...; ws_conn_output_ack(c, sent);
 *     if (ws_conn_wants_shutdown(c)) shut the transport down (see there);
 *     sleep until readable/writable or ws_conn_next_deadline(c).
 *
 * Peer errors (protocol violations) fail the connection: an WS_EV_ERROR event names the rule,
 * the close frame with the RFC's code (ws_close_code_for_error) is queued, and a WS_EV_CLOSE
 * event follows. Caller errors (misuse) are returned and change nothing. Every connection ends
 * with exactly one WS_EV_CLOSE event, its last.
 *
 * Which calls produce events (taken with ws_conn_next_event):
 *   ws_conn_new (WS_CONN_OPEN)   OPEN
 *   ws_conn_feed, _feed_inplace  REQUEST, OPEN, MESSAGE, FRAGMENT, PING, PONG, ERROR, CLOSE
 *   ws_conn_next_event           the same as feed, from input the library kept (ws_conn_feed)
 *                                or from a compressed message still being inflated
 *   ws_conn_feed_eof             ERROR (WS_ERR_EOF), CLOSE
 *   ws_conn_tick                 ERROR (a timeout), CLOSE; and MESSAGE, FRAGMENT, ERROR,
 *                                CLOSE of a message inflated in steps (WS_OPT_INFLATE_STEP)
 *   ws_conn_accept               OPEN;      ws_conn_reject  CLOSE
 *   ws_conn_send*, ws_conn_ping, ws_conn_pong, ws_conn_close, ws_conn_output_ack
 *                                ERROR + CLOSE only: a send policy closing on overflow, or an
 *                                allocation failure while queueing a frame of its own
 *   ws_conn_output_discard       ERROR (WS_ERR_OUTPUT_DISCARDED), CLOSE
 *   all other calls              none
 *
 * Lifetime of what the library hands out:
 *   - An event's data view stays valid until the next ws_conn_next_event(s), ws_conn_feed(),
 *     ws_conn_feed_inplace(), ws_conn_feed_events(), ws_conn_feed_eof() or ws_conn_free() on
 *     the connection -- across tick, send, ping, pong, close, accept, reject, output and ack.
 *     Events still queued stay valid until they are taken, and then as above. (Data of WS_EVF_IN_INPUT events lives in
 *     the caller's buffer, as long as the caller keeps it.)
 *   - Output never moves: every byte ws_conn_output() shows stays at the same address,
 *     unchanged, until ws_conn_output_ack() reports it written (or ws_conn_free()) --
 *     whatever else is called meanwhile (send, ping, close, tick, feed, take, a partial ack).
 *     A completion-based loop (io_uring, libuv, IOCP) may therefore hand the views to the
 *     kernel and keep calling the library while the writes are in flight; with
 *     ws_conn_output_take() it may keep several writes in flight. Only ws_conn_output_ack()
 *     and ws_conn_free() end a view's life; ws_conn_output() and _take() never change bytes.
 */
typedef struct ws_conn ws_conn;

/* Flags for ws_conn_new(). */
enum {
    /* The connection is already open: an HTTP/2 or HTTP/3 stack did the extended CONNECT
     * (RFC 8441 / RFC 9220), or a test wants frames only. No HTTP/1.1 handshake. */
    WS_CONN_OPEN = 1u << 0
};

/* States (ws_conn_state()). */
enum {
    WS_STATE_CONNECTING = 0, /* opening handshake in progress */
    WS_STATE_OPEN = 1,       /* messages flow both ways */
    WS_STATE_CLOSING = 2,    /* one close frame sent or received, not both */
    WS_STATE_CLOSED = 3      /* both sent (or the connection failed): shut the transport */
};

/* Defaults of the options below, chosen to bound what one hostile peer can hold: a 1 MiB
 * message (as Python websockets), 4 MiB of queued output, a message completed within a minute
 * and output that moves at least once a minute. Raise them for trusted peers. */
#define WS_DEFAULT_MAX_MESSAGE_SIZE ((uint64_t)1 << 20)
#define WS_DEFAULT_SEND_HIGH_WATER ((uint64_t)4 << 20)
#define WS_DEFAULT_MAX_INPUT_BUFFER 65536u
#define WS_DEFAULT_HANDSHAKE_TIMEOUT 10000u
#define WS_DEFAULT_PONG_TIMEOUT 10000u
#define WS_DEFAULT_CLOSE_TIMEOUT 5000u
#define WS_DEFAULT_MESSAGE_TIMEOUT 60000u
#define WS_DEFAULT_SEND_TIMEOUT 60000u
#define WS_DEFAULT_BORROW_MIN_SIZE 1024u
#define WS_DEFAULT_DEFLATE_WINDOW_BITS 15u
#define WS_DEFAULT_DEFLATE_MEM_LEVEL 8u
#define WS_DEFAULT_DEFLATE_LEVEL 6u
#define WS_DEFAULT_DEFLATE_THRESHOLD 64u
/*
 * Memory of a connection. ws_conn_new allocates the core state alone (ws_conn_sizeof(), 256
 * bytes on 64-bit systems). The traffic state -- frame decoder, output queue, event queue,
 * about 512 bytes -- is made when traffic starts and, like the buffers, given back by
 * ws_conn_tick once the connection has been quiet for a second with nothing queued, pending or
 * in progress: an idle connection holds nothing beyond its core state (ws_conn_memory() 0
 * unless it has a configuration or subprotocol of its own). A call that needs the traffic
 * state when there is no memory for it returns WS_ERR_NOMEM (or WS_ERR_BUDGET under a bound)
 * having taken, queued and changed nothing; call it again later.
 *
 * Memory budgets. Everything a connection allocates after ws_conn_new (the traffic state,
 * reassembly and input buffers, queued output, the deflate contexts and their output, the
 * handshake) is counted
 * (ws_conn_memory) and may be bounded twice: by its own WS_OPT_MEMORY_LIMIT and by a ws_budget
 * shared with other connections (a total, and a share per connection). An allocation past
 * either bound is refused: a send returns WS_ERR_BUDGET, receiving fails the connection with
 * WS_EV_ERROR WS_ERR_BUDGET and close 1013 (a message over WS_OPT_MAX_MESSAGE_SIZE is still
 * 1009). Memory never grows past the bounds; what was accepted before is kept. A budget is
 * not thread-safe: share one between the connections of one thread or event loop.
 */
typedef struct ws_budget ws_budget;
/* Create a budget into *out: limit bytes in all (>= 1), per_conn bytes at most per connection
 * (0: no share limit). WS_OK, WS_ERR_RANGE (limit 0), WS_ERR_NOMEM, WS_ERR_INVALID_ARG. */
WS_EXPORT int ws_budget_new(ws_budget **out, uint64_t limit, uint64_t per_conn,
                            const ws_allocator *alloc);
/* Free it (NULL is a no-op); detach or free every connection using it first. */
WS_EXPORT void ws_budget_free(ws_budget *b);
/* Bytes the attached connections hold now. Pure query (NULL: 0). */
WS_EXPORT uint64_t ws_budget_used(const ws_budget *b);

/* Largest value of the time options (ms, about 49.7 days) and of WS_OPT_FRAGMENT_SIZE. */
#define WS_MAX_TIMEOUT 0xFFFFFFFFu
#define WS_MAX_FRAGMENT_SIZE 0xFFFFFFFFu
/* ws_conn_next_deadline(): no timer armed. */
#define WS_DEADLINE_NONE UINT64_MAX

/*
 * Options for ws_conn_set_option() / ws_conn_get_option(). Times in milliseconds, 0 = off.
 * Each says its range; a value outside it is WS_ERR_RANGE, an unknown option WS_ERR_OPTION.
 */
enum {
    WS_OPT_MAX_MESSAGE_SIZE = 1, /* 1..2^63-1 bytes; default WS_DEFAULT_MAX_MESSAGE_SIZE;
                                    over it: close 1009. Also lowers MAX_FRAME_SIZE to it */
    WS_OPT_MAX_FRAME_SIZE = 2,   /* 1..2^63-1 bytes of one incoming frame; default: the
                                    message limit */
    WS_OPT_AUTO_PONG = 3,        /* 0/1; 1 (default): answer every ping; while the output is
                                    above the high-water mark only the latest waits (RFC 6455
                                    5.5.3), so a ping flood cannot grow the queue; 0: the
                                    caller answers */
    WS_OPT_STREAMING = 4,        /* 0/1; 1: all data as WS_EV_FRAGMENT chunks, no reassembly */
    WS_OPT_FRAGMENT_SIZE = 5,    /* 0..WS_MAX_FRAGMENT_SIZE; outgoing auto-fragmentation: max
                                    payload per frame; 0 (default): no fragmentation */
    WS_OPT_SEND_HIGH_WATER = 6,  /* 0..2^63-1 queued-output bytes; default
                                    WS_DEFAULT_SEND_HIGH_WATER. A send that would take the
                                    queue past it meets WS_OPT_SEND_POLICY -- unless the queue
                                    is empty: an empty queue takes one message of any size, so
                                    waiting for the queue to drain always helps (the queue is
                                    bounded by max(mark, one message)) */
    WS_OPT_SEND_POLICY = 7,      /* WS_POLICY_*: what a send over the high-water mark does */
    WS_OPT_REFUSE_TEXT = 8,      /* 0/1; 1: a text message fails the connection with 1003 */
    WS_OPT_REFUSE_BINARY = 9,    /* 0/1; 1: a binary message fails the connection with 1003 */
    WS_OPT_HANDSHAKE_TIMEOUT = 10, /* 0..WS_MAX_TIMEOUT; default WS_DEFAULT_HANDSHAKE_TIMEOUT */
    WS_OPT_PING_INTERVAL = 11,     /* 0..WS_MAX_TIMEOUT; send a ping this long after the
                                      previous one; default 0 (off) */
    WS_OPT_PONG_TIMEOUT = 12,      /* 0..WS_MAX_TIMEOUT; a timer ping not answered in time:
                                      peer dead; default WS_DEFAULT_PONG_TIMEOUT */
    WS_OPT_IDLE_TIMEOUT = 13,      /* 0..WS_MAX_TIMEOUT; nothing received for this long:
                                      close 1000; default 0 (off) */
    WS_OPT_CLOSE_TIMEOUT = 14,     /* 0..WS_MAX_TIMEOUT; closing handshake bound; default
                                      WS_DEFAULT_CLOSE_TIMEOUT */
    WS_OPT_LENIENT_LENGTH = 15,    /* 0/1; 1: accept non-minimal frame lengths; default 0 */
    /* permessage-deflate (RFC 7692): see that section below. Set before the handshake. */
    WS_OPT_DEFLATE = 16,                 /* 0/1: negotiate it; default 0 */
    WS_OPT_DEFLATE_WINDOW_BITS = 17,     /* 9..15: our compressor's window; default 15 */
    WS_OPT_DEFLATE_PEER_WINDOW_BITS = 18, /* 8..15: window asked of the peer; default 15 */
    WS_OPT_DEFLATE_MEM_LEVEL = 19,       /* 1..9: zlib memLevel of our compressor; default 8 */
    WS_OPT_DEFLATE_LEVEL = 20,           /* 0..9: zlib compression level; default 6 */
    WS_OPT_DEFLATE_THRESHOLD = 21,       /* 0..2^32-1: shorter messages go uncompressed;
                                            default 64 */
    WS_OPT_DEFLATE_NO_TAKEOVER = 22,     /* 0/1: our compressor forgets between messages */
    WS_OPT_DEFLATE_PEER_NO_TAKEOVER = 23, /* 0/1: ask the peer to forget between messages */
    WS_OPT_MAX_INPUT_BUFFER = 24,        /* 1..2^31 bytes ws_conn_feed() may keep; default
                                            WS_DEFAULT_MAX_INPUT_BUFFER */
    WS_OPT_MESSAGE_TIMEOUT = 25,   /* 0..WS_MAX_TIMEOUT; a message (or a frame) started must be
                                      complete within this time, else close 1008
                                      (WS_ERR_MESSAGE_TIMEOUT): a peer trickling a message
                                      cannot hold its reassembly memory; default
                                      WS_DEFAULT_MESSAGE_TIMEOUT */
    WS_OPT_SEND_TIMEOUT = 26,      /* 0..WS_MAX_TIMEOUT; output queued that sees no ack for this
                                      long (counted from the last tick before it was queued, or
                                      the last ack) fails the connection (WS_ERR_SEND_TIMEOUT,
                                      1006, nothing more sent; ws_conn_wants_shutdown is 1): a
                                      peer that never reads cannot hold the queue; default
                                      WS_DEFAULT_SEND_TIMEOUT */
    WS_OPT_MEMORY_LIMIT = 27,      /* 0..2^64-1 bytes this connection may hold (buffers, zlib
                                      state, the handshake): see "Memory budgets"; 0 (default):
                                      no limit of its own */
    WS_OPT_INFLATE_STEP = 28,      /* 0..2^31 bytes: the most decompressed output one call
                                      makes for a reassembled message (permessage-deflate); 0
                                      (default): no bound beyond WS_OPT_MAX_MESSAGE_SIZE. See
                                      "Bounded work per call" */
    WS_OPT_BORROW_MIN_SIZE = 29    /* 0..2^32-1 bytes: a WS_SEND_BORROW payload shorter than
                                      this is copied instead (cheaper than one more iovec; its
                                      release is still reported); default
                                      WS_DEFAULT_BORROW_MIN_SIZE */
};

/*
 * Bounded work per call. A compressed message may inflate to WS_OPT_MAX_MESSAGE_SIZE bytes,
 * and inflating costs CPU (zlib: a few ms per MiB). With WS_OPT_INFLATE_STEP set, one call
 * (feed, next_event or tick) inflates at most that many bytes; when the message needs more,
 * the call returns with no event and the connection keeps the rest of its input:
 * ws_conn_next_deadline() then returns the current time ("due now"), and the next
 * ws_conn_tick() (or ws_conn_next_event()) makes the next step. A loop that serves other
 * connections before it comes back to the due ones -- a zero-timeout poll, then the timers --
 * gives every connection its turn: one client's decompression bombs cannot stall the rest.
 * Feeding more is refused with WS_ERR_EVENTS_PENDING until the message is done. Streaming
 * (WS_OPT_STREAMING) is bounded already: one 16 KiB chunk per event.
 */

/* Values of WS_OPT_SEND_POLICY. */
enum {
    WS_POLICY_ERROR = 0,      /* the send fails with WS_ERR_WOULD_BLOCK; nothing queued */
    WS_POLICY_CLOSE_1013 = 1, /* ... and the connection is closed with 1013 (try again later) */
    WS_POLICY_CLOSE_1009 = 2  /* ... and the connection is closed with 1009 (too big) */
};

/* Event types (ws_event.type). */
enum {
    WS_EV_NONE = 0,
    WS_EV_OPEN = 1,     /* handshake done (or WS_CONN_OPEN): messages may be sent */
    WS_EV_MESSAGE = 2,  /* a complete message: opcode TEXT or BINARY, data/len */
    WS_EV_FRAGMENT = 3, /* streaming mode: a chunk of a message; fin = 1 on its last chunk */
    WS_EV_PING = 4,     /* data/len: the ping payload (already answered if auto-pong) */
    WS_EV_PONG = 5,     /* data/len: the pong payload */
    WS_EV_CLOSE = 6,    /* close_code, data/len = reason, by_peer; always the last event */
    WS_EV_ERROR = 7,    /* error: which rule the peer broke (or which timer fired) */
    WS_EV_REQUEST = 8   /* server: the upgrade request is in; see ws_conn_handshake(), then
                           ws_conn_accept() or ws_conn_reject() */
};

/* Bits of ws_event.flags. */
enum {
    /* data points into the caller's own buffer given to ws_conn_feed_inplace() or
     * ws_conn_feed_events() (not into memory of the library's): a zero-copy view. */
    WS_EVF_IN_INPUT = 1u << 0
};

/* An event. May grow at the end (rule 4): pass sizeof(ws_event) to ws_conn_next_event. */
typedef struct ws_event {
    uint32_t type;       /* WS_EV_* */
    int32_t error;       /* ERROR: a ws_err */
    uint16_t close_code; /* CLOSE: the code received; WS_CLOSE_NO_STATUS when the
                            frame had none, WS_CLOSE_ABNORMAL when the connection
                            ended without one (neither is ever on the wire) */
    uint8_t opcode;      /* MESSAGE/FRAGMENT: WS_OP_TEXT or WS_OP_BINARY */
    uint8_t fin;         /* FRAGMENT: last chunk of the message */
    uint8_t by_peer;     /* CLOSE: 1 if the peer started the closing handshake */
    uint8_t flags;       /* WS_EVF_* */
    uint8_t reserved_[2];
    const uint8_t *data; /* payload view (lifetime: see above); NULL when len is 0 */
    size_t len;
} ws_event;

/* Per-connection statistics (ws_conn_get_stats()); may grow at the end (rule 4). */
typedef struct ws_conn_stats {
    uint64_t bytes_in, bytes_out;       /* wire bytes fed / acknowledged as written */
    uint64_t frames_in, frames_out;
    uint64_t messages_in, messages_out;
    uint64_t pings_sent, pongs_received;
    uint64_t last_rtt_ms;               /* round trip of the last answered timer ping */
    uint64_t buffered;                  /* bytes queued for output now */
    uint16_t close_code_sent, close_code_received; /* 0 if none */
    uint8_t closed_by_peer;             /* 1 if the peer started the closing handshake */
} ws_conn_stats;

/* Output scatter element. Frozen: the layout of POSIX struct iovec (a pointer, then a
 * size_t), so an array of them can be passed to writev() with a cast. */
typedef struct ws_iovec {
    const uint8_t *base;
    size_t len;
} ws_iovec;

/* Flags for the send functions. */
enum {
    /* Don't copy the payload: the output queue references it until written. The caller keeps
     * it unchanged until ws_conn_next_released() reports it (or the connection is freed).
     * Referenced by a server only: a client's masking, compression and payloads below
     * WS_OPT_BORROW_MIN_SIZE copy it, and the release is still reported. */
    WS_SEND_BORROW = 1u << 0,
    /* permessage-deflate: send this message uncompressed (already compressed media, or
     * secrets that must not share a compression context with attacker-chosen data). Read on
     * a message's first fragment. */
    WS_SEND_NO_COMPRESS = 1u << 1
};

/* Named values of the `extensions` argument of ws_conn_accept / ws_conn_client_start. */
#define WS_EXTENSIONS_AUTO ((const char *)0) /* the library negotiates permessage-deflate
                                                 per the WS_OPT_DEFLATE* options */
#define WS_EXTENSIONS_NONE ""                /* no extension at all */

/*
 * Configurations. A ws_config holds what connections read and rarely change: the allocator,
 * the random hook and the values of every WS_OPT_* option. Connections made with one share
 * it -- a connection keeps a pointer, not a copy, so ten thousand connections configured alike
 * keep one set of options, not ten thousand. A configuration starts with the defaults; set
 * it up, then make connections with it. While a connection uses it, it is frozen: setting an
 * option on it is WS_ERR_STATE (the connections keep what they were made with). It is
 * reference counted: ws_config_free() may be called at any time after the last ws_conn_new()
 * that uses it, and the memory goes with its last connection. Not thread-safe (like a
 * ws_budget: one per thread or event loop, or set up before the threads start).
 * ws_conn_set_option() and ws_conn_set_random() on a connection change that connection only:
 * it first takes a copy of its configuration (counted in ws_conn_memory, so a server wanting
 * small connections sets options on the configuration instead); setting an option to the value
 * it already has copies nothing.
 */
typedef struct ws_config ws_config;
/* Create a configuration with the defaults into *out; alloc (NULL: malloc) is what it and the
 * connections made with it allocate through (copied). WS_OK, WS_ERR_NOMEM, WS_ERR_INVALID_ARG
 * (out NULL, allocator size too small or hooks missing). */
WS_EXPORT int ws_config_new(ws_config **out, const ws_allocator *alloc);
/* Drop the caller's reference (NULL is a no-op); freed now, or with its last connection. */
WS_EXPORT void ws_config_free(ws_config *cfg);
/* Set an option (the WS_OPT_* values and ranges below). WS_OK, WS_ERR_OPTION, WS_ERR_RANGE,
 * WS_ERR_UNSUPPORTED (WS_OPT_DEFLATE 1 without zlib), WS_ERR_STATE (a connection uses it),
 * WS_ERR_NOMEM, WS_ERR_INVALID_ARG. */
WS_EXPORT int ws_config_set_option(ws_config *cfg, uint32_t opt, uint64_t value);
/* Read an option's value into *value. WS_OK, WS_ERR_OPTION, WS_ERR_INVALID_ARG. */
WS_EXPORT int ws_config_get_option(const ws_config *cfg, uint32_t opt, uint64_t *value);
/* The random hook (client masking keys, handshake key); NULL: ws_random_os. WS_OK,
 * WS_ERR_STATE (a connection uses it), WS_ERR_INVALID_ARG. */
WS_EXPORT int ws_config_set_random(ws_config *cfg, ws_random_fn rng, void *user);

/* Create a connection into *out for role WS_ROLE_SERVER or WS_ROLE_CLIENT; flags:
 * WS_CONN_OPEN. cfg: its configuration (NULL: the defaults, malloc, ws_random_os); the
 * connection holds a reference until ws_conn_free. A client without WS_CONN_OPEN starts its
 * handshake with ws_conn_client_start(); a server reads the request from ws_conn_feed(). Call
 * ws_conn_tick() once with the current time before anything else, to start the clock.
 * Returns WS_OK, WS_ERR_NOMEM, WS_ERR_INVALID_ARG (out NULL, unknown role or flag). */
WS_EXPORT int ws_conn_new(ws_conn **out, uint32_t role, uint32_t flags, const ws_config *cfg);
/* Free the connection and everything it owns (NULL is a no-op). Borrowed payloads are
 * released with it. */
WS_EXPORT void ws_conn_free(ws_conn *c);
/* Set this connection's random hook (client masking keys, handshake key); NULL:
 * ws_random_os. Takes a copy of the configuration (see "Configurations"). WS_OK, WS_ERR_NOMEM,
 * WS_ERR_BUDGET (the copy was refused by a memory bound), WS_ERR_INVALID_ARG. */
WS_EXPORT int ws_conn_set_random(ws_conn *c, ws_random_fn rng, void *user);
/* Set an option of this connection only (a copy of its configuration is made the first time
 * a value changes: see "Configurations"). WS_OK, WS_ERR_OPTION (unknown), WS_ERR_RANGE
 * (outside the option's range), WS_ERR_UNSUPPORTED (WS_OPT_DEFLATE 1 without zlib),
 * WS_ERR_NOMEM, WS_ERR_BUDGET (the copy was refused by a memory bound), WS_ERR_INVALID_ARG. */
WS_EXPORT int ws_conn_set_option(ws_conn *c, uint32_t opt, uint64_t value);
/* Read an option's value into *value. WS_OK, WS_ERR_OPTION, WS_ERR_INVALID_ARG. */
WS_EXPORT int ws_conn_get_option(const ws_conn *c, uint32_t opt, uint64_t *value);

/* Current state, WS_STATE_*. Pure query (NULL: WS_STATE_CLOSED). */
WS_EXPORT int ws_conn_state(const ws_conn *c);
/* Role given at creation. Pure query (NULL: -1). */
WS_EXPORT int ws_conn_role(const ws_conn *c);
/* Fill *st (st_size = sizeof *st, rule 4). WS_OK or WS_ERR_INVALID_ARG. */
WS_EXPORT int ws_conn_get_stats(const ws_conn *c, ws_conn_stats *st, size_t st_size);
/* sizeof the connection object itself (buffers excluded), for capacity planning. */
WS_EXPORT size_t ws_conn_sizeof(void);
/* Bytes the connection holds beyond the object itself (see "Memory budgets"). Pure (NULL:
 * 0). */
WS_EXPORT uint64_t ws_conn_memory(const ws_conn *c);
/* Attach c to budget b (borrowed: b must outlive c or be detached with NULL first), moving
 * what c holds now to it. WS_OK, WS_ERR_BUDGET (c already holds more than b allows; nothing
 * changed), WS_ERR_INVALID_ARG. */
WS_EXPORT int ws_conn_set_budget(ws_conn *c, ws_budget *b);

/*
 * Pass the current monotonic time in milliseconds and run the timers that expired: sends the
 * timer ping, fails a connection whose pong, handshake or close did not come in time, closes an
 * idle one, and gives back buffers (and the traffic state: see "Memory of a connection") of a
 * connection quiet for a second. Call it whenever the loop wakes up and at
 * ws_conn_next_deadline(). The first call sets the time origin; a time earlier than the
 * previous one counts as the previous one. WS_OK, WS_ERR_INVALID_ARG, or WS_ERR_NOMEM /
 * WS_ERR_BUDGET: a timer expired on an idle connection and there is no memory for the traffic
 * state it needs -- nothing was done, the timer stays due, and ws_conn_next_deadline() says
 * now + WS_TICK_RETRY_MS, so that a loop sleeping until the deadline retries ten times a
 * second instead of spinning while memory is short (input and sends still go on at once).
 */
WS_EXPORT int ws_conn_tick(ws_conn *c, uint64_t now_ms);
/* The retry delay after a tick found no memory for a timer due (ms). */
#define WS_TICK_RETRY_MS 100u
/* The next time (ms, same clock as tick) at which ws_conn_tick should be called, or
 * WS_DEADLINE_NONE if no timer is armed -- which is also the answer before the first tick
 * (it never returns a time from before the clock started), and for NULL. Pure query. */
WS_EXPORT uint64_t ws_conn_next_deadline(const ws_conn *c);

/*
 * Feed received bytes, read-only. The bytes are copied into the connection's input buffer
 * (at most WS_OPT_MAX_INPUT_BUFFER bytes kept) and processed until an event is ready; what
 * was not processed yet stays there and is processed as ws_conn_next_event() drains the
 * events -- so the caller never keeps leftover input. *taken (may be NULL) gets how many bytes
 * were taken: all n (any n) unless events became ready while more than the buffer's room was
 * left -- then drain them and feed the rest -- or a server has not answered WS_EV_REQUEST yet
 * and the bytes after the request fill the buffer. A caller that reads at most
 * WS_OPT_MAX_INPUT_BUFFER bytes at a time and drains the events after each feed always has
 * everything taken. The input need not outlive
 * the call. After the connection failed or closed, input is discarded (taken) and WS_OK
 * returned: the error was reported as an event. Returns WS_OK, WS_ERR_NOMEM or WS_ERR_BUDGET
 * (no memory for an input buffer at all; nothing taken, nothing lost: feed again later or
 * close), WS_ERR_STATE (a client before ws_conn_client_start: nothing taken),
 * WS_ERR_INVALID_ARG (c NULL, in NULL with n > 0).
 */
WS_EXPORT int ws_conn_feed(ws_conn *c, const void *in, size_t n, size_t *taken);
/*
 * Feed received bytes in place, without a copy: payloads are unmasked inside in[] and events
 * point into it (WS_EVF_IN_INPUT), so in[] must be writable and unchanged until those events
 * are drained. Consumes input until an event is ready (or all of it) and sets *consumed -- an
 * open server takes a batch of up to five whole unfragmented messages in one call (no control
 * frame, fragment or invalid message joins a batch: nothing fails or answers ahead of the
 * messages before it; ws_conn_next_events() takes them at once); drain the
 * events, then feed in[*consumed..n) (after WS_EV_REQUEST: once accepted). Returns
 * WS_OK, WS_ERR_EVENTS_PENDING (consuming nothing) while events wait or input given to
 * ws_conn_feed() is still buffered, WS_ERR_STATE (a client before ws_conn_client_start),
 * WS_ERR_NOMEM / WS_ERR_BUDGET (no memory for the traffic state: nothing consumed),
 * WS_ERR_INVALID_ARG (c or consumed NULL, in NULL with n > 0). Closed or failed connections
 * discard input as ws_conn_feed does.
 */
WS_EXPORT int ws_conn_feed_inplace(ws_conn *c, uint8_t *in, size_t n, size_t *consumed);
/*
 * The transport reached end of file (or failed). Without a close frame before it, this gives
 * WS_EV_ERROR WS_ERR_EOF and WS_EV_CLOSE with code 1006; nothing is sent. Input still buffered
 * is processed first (by ws_conn_next_event). WS_OK, WS_ERR_INVALID_ARG, or WS_ERR_NOMEM /
 * WS_ERR_BUDGET (no memory for the traffic state its events need: nothing changed, call it
 * again).
 */
WS_EXPORT int ws_conn_feed_eof(ws_conn *c);
/*
 * Take the next event into *ev (ev_size = sizeof *ev, rule 4). Returns 1 if one was taken,
 * 0 if none is waiting, WS_ERR_INVALID_ARG. The previous event's data view ends here; the new
 * one lives until the next next_event / feed / free (see above).
 */
WS_EXPORT int ws_conn_next_event(ws_conn *c, ws_event *ev, size_t ev_size);
/*
 * Take up to max events at once into evs[0..max) (each ev_size bytes, rule 4): for bindings,
 * where every call across the language boundary costs more than the work it does. Returns how
 * many were taken (0: none waiting), or WS_ERR_INVALID_ARG. The views of all of them live
 * until the next next_event(s) / feed / free. To keep that promise it stops after an event
 * whose data lies in a buffer the next event would reuse (a reassembled or decompressed
 * message, a control frame gathered across feeds); events that point into kept input
 * (ws_conn_feed) or the caller's buffer (WS_EVF_IN_INPUT), or carry no data, do not stop it.
 * Only whole, valid data messages are taken ahead of the caller (from input kept by
 * ws_conn_feed): a control frame, a fragment, a violation or the end of file ends the batch
 * unprocessed, so nothing is answered, failed or closed before the caller has handled -- and
 * could reply to -- the events before it.
 */
WS_EXPORT int ws_conn_next_events(ws_conn *c, ws_event *evs, size_t max, size_t ev_size);
/*
 * Feed in place and take the events, in one call: ws_conn_feed_inplace(), then
 * ws_conn_next_events() into evs[0..max) (each ev_size bytes, rule 4) -- one call per read
 * for an event loop or a binding. On an open server with nothing waiting, a batch of whole
 * unfragmented messages as long as the array is decoded straight into it (the rules of the
 * in-place batch hold: no control frame, fragment or invalid message joins it, so nothing
 * fails or answers ahead of the messages before it). Events from before (still queued) come
 * first, with no input taken. Sets *consumed; returns the number of events written (0..max)
 * -- handle them, then feed in[*consumed..n); events that did not fit wait, and come first
 * on the next call (or from ws_conn_next_events). Views live as those of
 * ws_conn_feed_inplace's events, until the next feed or next_event(s). Errors, with nothing
 * taken: those of ws_conn_feed_inplace (WS_ERR_EVENTS_PENDING: input given to ws_conn_feed()
 * is still buffered -- take its events with ws_conn_next_events, or feed copies), and
 * WS_ERR_INVALID_ARG (also: evs NULL, max 0, ev_size too small).
 */
WS_EXPORT int ws_conn_feed_events(ws_conn *c, uint8_t *in, size_t n, size_t *consumed,
                                  ws_event *evs, size_t max, size_t ev_size);

/*
 * Send a whole message (opcode WS_OP_TEXT or WS_OP_BINARY). Text is checked for UTF-8.
 * Auto-fragmented when WS_OPT_FRAGMENT_SIZE is set. flags: WS_SEND_*.
 * Returns WS_OK, WS_ERR_WOULD_BLOCK (over the high-water mark; nothing queued),
 * WS_ERR_CLOSED, WS_ERR_STATE (not open yet, or a fragmented send is in progress),
 * WS_ERR_INVALID_UTF8, WS_ERR_INVALID_ARG (bad opcode, data NULL with len > 0), WS_ERR_NOMEM,
 * WS_ERR_RANDOM.
 */
WS_EXPORT int ws_conn_send(ws_conn *c, uint32_t opcode, const void *data, size_t len,
                           uint32_t flags);
/*
 * Send one fragment of a message whose fragments the caller chooses: opcode TEXT or BINARY
 * (the same for every fragment of a message), fin = 1 on the last. The first fragment goes
 * out with the opcode, the rest as continuations; control frames may be sent in between.
 * Text is validated across fragments. Errors as ws_conn_send; WS_ERR_STATE if a different
 * opcode is given mid-message; WS_ERR_INVALID_UTF8 if fin comes inside a UTF-8 sequence.
 */
WS_EXPORT int ws_conn_send_fragment(ws_conn *c, uint32_t opcode, const void *data, size_t len,
                                    int fin, uint32_t flags);
/* Send a ping (len <= 125). WS_ERR_INVALID_ARG if longer; errors as ws_conn_send. */
WS_EXPORT int ws_conn_ping(ws_conn *c, const void *data, size_t len);
/* Send an unsolicited pong (a one-way heartbeat, len <= 125). */
WS_EXPORT int ws_conn_pong(ws_conn *c, const void *data, size_t len);
/*
 * Start (or answer) the closing handshake. code 0 sends a close frame without a status;
 * otherwise ws_close_code_valid(code) must hold (never 1005/1006/1015) and the reason be
 * valid UTF-8 of at most 123 bytes. Nothing can be sent afterwards.
 * Returns WS_OK, WS_ERR_CLOSE_CODE, WS_ERR_INVALID_UTF8, WS_ERR_INVALID_ARG (reason too
 * long, or a reason with code 0), WS_ERR_CLOSED (close already sent), WS_ERR_STATE (still
 * connecting), WS_ERR_NOMEM, WS_ERR_BUDGET.
 */
WS_EXPORT int ws_conn_close(ws_conn *c, uint16_t code, const char *reason, size_t reason_len);

/* ---- opening handshake through the connection ---- */

/*
 * Client: start the opening handshake for url ("ws://host[:port]/path?query"; wss:// is
 * parsed the same way, TLS being the caller's layer under the byte stream). subprotocols and
 * headers as for ws_handshake_client_request(); extensions WS_EXTENSIONS_AUTO (offer
 * permessage-deflate per the options), WS_EXTENSIONS_NONE, or a value to offer as is. The
 * request is queued as output; the response is read by ws_conn_feed(), which then gives
 * WS_EV_OPEN, or WS_EV_ERROR (the handshake error, e.g. WS_ERR_HS_STATUS) and WS_EV_CLOSE
 * (1006) -- after which ws_conn_handshake() still shows the response's status, headers and
 * body. Returns WS_OK, the WS_ERR_URI_* and WS_ERR_ARG_* errors of
 * ws_handshake_client_request, WS_ERR_STATE (a server, or already started),
 * WS_ERR_INVALID_ARG, WS_ERR_RANDOM, WS_ERR_NOMEM.
 */
WS_EXPORT int ws_conn_client_start(ws_conn *c, const char *url,
                                   const char *const *subprotocols, size_t nsub,
                                   const char *extensions, const char *headers);
/*
 * The handshake object behind the connection, for its views: a server's request (target,
 * Host, Origin, Cookie, offered subprotocols and extensions, any header) between
 * WS_EV_REQUEST and ws_conn_accept()/ws_conn_reject(); a client's response after a failed
 * handshake. NULL at other times (it is freed once the connection is open, to keep idle
 * connections small). Pure query.
 */
WS_EXPORT const ws_handshake *ws_conn_handshake(const ws_conn *c);
/*
 * Server, after WS_EV_REQUEST: accept, queueing the 101 response (subprotocol and headers as
 * for ws_handshake_accept; extensions WS_EXTENSIONS_AUTO: answer a permessage-deflate offer
 * per the options, WS_EXTENSIONS_NONE, or a value sent as is, which configures
 * permessage-deflate if it names it). The connection is open: WS_EV_OPEN follows, then the
 * events of input that came after the request. Returns WS_OK, WS_ERR_STATE (no request
 * waiting), WS_ERR_ARG_SUBPROTOCOL, WS_ERR_ARG_EXTENSIONS, WS_ERR_ARG_HEADERS,
 * WS_ERR_UNSUPPORTED (an explicit permessage-deflate answer in a build without zlib),
 * WS_ERR_NOMEM.
 */
WS_EXPORT int ws_conn_accept(ws_conn *c, const char *subprotocol, const char *extensions,
                             const char *headers);
/*
 * Server, after WS_EV_REQUEST: refuse with an HTTP status (e.g. 401, 403 for a bad Origin,
 * 429 with "Retry-After: 30\r\n" in headers), queued as output (arguments as for
 * ws_handshake_reject). The connection is then closed (WS_EV_CLOSE with 1006 follows; shut the
 * transport once the output is written). Returns WS_OK, WS_ERR_STATE, WS_ERR_ARG_STATUS,
 * WS_ERR_ARG_HEADERS, WS_ERR_INVALID_ARG, WS_ERR_NOMEM.
 */
WS_EXPORT int ws_conn_reject(ws_conn *c, unsigned status, const char *reason,
                             const char *headers, const void *body, size_t body_len);
/* The negotiated subprotocol once open: WS_OK and a NUL-terminated view valid as long as the
 * connection, or WS_ERR_NOT_FOUND (none; view NULL, 0). */
WS_EXPORT int ws_conn_subprotocol(const ws_conn *c, const char **p, size_t *len);

/*
 * Pending output as up to iovcnt chunks (in order), without copying; returns how many chunks
 * were filled (0: nothing to write) or WS_ERR_INVALID_ARG. The chunks start after the bytes
 * taken in flight (ws_conn_output_take); without take, at the oldest unwritten byte. A pure
 * accessor: calling it twice gives the same chunks. The bytes stay put until acknowledged
 * (see "Output never moves" above).
 */
WS_EXPORT int ws_conn_output(const ws_conn *c, ws_iovec *iov, int iovcnt);
/*
 * Mark the first n bytes that ws_conn_output() returns as in flight (handed to a write that
 * completes later): later ws_conn_output() calls return only what follows them, so a loop can
 * submit the next write before the first completes. They count as pending (buffered amount,
 * high-water mark, send timeout) until acknowledged. WS_OK, WS_ERR_INVALID_ARG (c NULL, or n
 * more than the untaken bytes).
 */
WS_EXPORT int ws_conn_output_take(ws_conn *c, size_t n);
/* (Writes in flight must complete, and be acknowledged, in the order they were taken: on
 * io_uring, link the sends of one socket (IOSQE_IO_LINK) or submit the next only when the
 * previous completed -- separate sends on one socket are not kept in order by the kernel
 * once one of them waits for room.) */
/*
 * Report that the oldest n bytes of the output were written: in-flight (taken) bytes first,
 * in the order they were taken, then untaken ones (the classic write-then-ack loop needs no
 * take). Completions must be acknowledged in submission order. May queue a pong that waited
 * for the queue to drain below the high-water mark. WS_OK, WS_ERR_INVALID_ARG (c NULL, n more
 * than is pending).
 */
WS_EXPORT int ws_conn_output_ack(ws_conn *c, size_t n);
/*
 * Collect a released WS_SEND_BORROW payload: 1 and *data = the data pointer of a borrowed send
 * whose bytes are all written (acknowledged), oldest first; 0 (and *data NULL) when none is
 * left; WS_ERR_INVALID_ARG. Every successful borrowed send is reported exactly once, whether
 * its payload was referenced or copied (WS_OPT_BORROW_MIN_SIZE, a client's masking,
 * compression); the payload may be changed or freed once it is reported, or once the
 * connection is freed. A caller that borrows collects its releases (each waiting one holds
 * a few bytes of the connection's memory); a caller that never borrows never gets any.
 */
WS_EXPORT int ws_conn_next_released(ws_conn *c, const void **data);
/*
 * The transport is gone (or the caller gives up writing): drop every unwritten byte, so that
 * every borrowed payload becomes released (collect them with ws_conn_next_released before
 * ws_conn_free). An open connection ends: WS_EV_ERROR (WS_ERR_OUTPUT_DISCARDED) and WS_EV_CLOSE
 * with 1006. Output views end here as with an ack. WS_OK, WS_ERR_INVALID_ARG, WS_ERR_NOMEM
 * (an idle open connection with no memory for the events: nothing changed, call it again).
 */
WS_EXPORT int ws_conn_output_discard(ws_conn *c);
/* Bytes waiting to be written, including a pong still owed (the browser API's
 * bufferedAmount). Pure query (NULL: 0). */
WS_EXPORT size_t ws_conn_buffered_amount(const ws_conn *c);
/* Total bytes ever queued / acknowledged as written (statistics; NULL: 0). */
WS_EXPORT uint64_t ws_conn_output_queued(const ws_conn *c);
WS_EXPORT uint64_t ws_conn_output_acked(const ws_conn *c);
/*
 * 1 when the caller should shut the transport down now: the connection is closed and its
 * output written. A server closes first (RFC 6455 section 7.1.1); a client waits for the
 * server's end of file (ws_conn_feed_eof) or for the close timeout. Once closed for the close
 * timeout, output a stalled peer never reads is abandoned and this returns 1 too; so it is
 * at once after a pong, close or handshake timeout (the peer is unresponsive).
 *
 * Shutting a TCP transport down means: half-close the write side (shutdown(fd, SHUT_WR): the
 * peer reads the close frame, then end of file), then read and discard input, feeding none of
 * it to the connection, until the peer's end of file, bounded in time and bytes (the examples:
 * 2 s, 1 MiB), and only then close(). If the peer's end of file was already read, close() at
 * once. Why: close() on a socket with unread input makes the kernel send a TCP reset (RST)
 * instead of a FIN, which throws away output not yet sent, the close frame among it; some
 * stacks also drop what the peer received but had not read yet. Pure query.
 */
WS_EXPORT int ws_conn_wants_shutdown(const ws_conn *c);

/* ------------------------------------------------------------------------------------------ */
/* permessage-deflate (RFC 7692)                                                               */
/* ------------------------------------------------------------------------------------------ */

/*
 * Per-message compression through zlib, negotiated by the connection when WS_OPT_DEFLATE is 1
 * (the library default is off; the examples turn it on). Built only with zlib (make ZLIB=1,
 * meson -Dzlib=enabled); without it ws_deflate_available() is 0, WS_OPT_DEFLATE returns
 * WS_ERR_UNSUPPORTED, and any offer a peer makes is declined.
 *
 * Negotiation. A server given extensions NULL in ws_conn_accept() answers the first
 * permessage-deflate offer it can accept (offers with unknown, repeated or malformed
 * parameters are declined, RFC 7692 section 7), adding what the options ask for:
 * server_no_context_takeover (WS_OPT_DEFLATE_NO_TAKEOVER, or because the client asked),
 * client_no_context_takeover (WS_OPT_DEFLATE_PEER_NO_TAKEOVER, or because the client offered
 * it), server_max_window_bits (min of the offer and WS_OPT_DEFLATE_WINDOW_BITS),
 * client_max_window_bits (WS_OPT_DEFLATE_PEER_WINDOW_BITS, when the offer allows limiting).
 * An explicit extensions string is sent as given, and permessage-deflate in it is configured
 * from it. A client given extensions NULL in ws_conn_client_start() offers
 * "permessage-deflate; client_max_window_bits" plus the parameters the options ask for, and
 * fails the handshake with WS_ERR_DEFLATE_NEGOTIATION when the answer breaks RFC 7692
 * (unknown, repeated or invalid parameters, a window larger than offered, a missing
 * server_no_context_takeover that was asked for, client_max_window_bits not offered).
 *
 * A window of 8 bits. zlib cannot compress raw DEFLATE with a 256-byte window (deflateInit2
 * refuses windowBits -8). When the negotiation limits our compressor to 8 bits, the
 * connection is still accepted and every message we send goes uncompressed (RSV1 clear, as
 * RFC 7692 section 6 lets any message be sent); what the peer sends is still decompressed.
 * Our own option never asks for less than 9 bits for ourselves.
 *
 * Data. Messages at least WS_OPT_DEFLATE_THRESHOLD bytes long are compressed unless sent with
 * WS_SEND_NO_COMPRESS (the threshold applies to messages sent whole with ws_conn_send; a
 * message sent with ws_conn_send_fragment is compressed fragment by fragment, with a sync
 * flush per fragment). WS_SEND_BORROW is ignored for compressed messages (the compressed bytes
 * are copied). Control frames are never compressed. Received messages are decompressed in
 * bounded steps: at most WS_OPT_MAX_MESSAGE_SIZE bytes are ever produced for one message
 * (more: close 1009, WS_ERR_MESSAGE_TOO_BIG), so a small frame that would inflate to gigabytes
 * costs at most the limit. Invalid compressed data: close 1007 (WS_ERR_DEFLATE_DATA). RSV1 on a
 * control or continuation frame: close 1002 (WS_ERR_DEFLATE_RSV1). In streaming mode
 * (WS_OPT_STREAMING) a compressed message comes as WS_EV_FRAGMENT chunks of at most 16 KiB;
 * ws_conn_next_event() produces the next chunk when the previous one was taken.
 *
 * Memory. zlib's compressor costs 2^(window+2) + 2^(memLevel+9) bytes plus ~6 KiB
 * (~262 KiB at 15/8), the decompressor ~7 KiB plus 2^window. Both are allocated through the
 * connection's allocator and only when the first compressed message goes out or comes in. A
 * side without context takeover has its context freed after every message. Connections whose
 * compressor has no context takeover can share one compressor (ws_deflate_shared), so a
 * server with many such connections pays for one. See README for measured numbers.
 */

/* The parameters agreed for a connection (ws_conn_get_deflate_params()); may grow at the
 * end (rule 4). */
typedef struct ws_deflate_params {
    uint8_t server_no_context_takeover;
    uint8_t client_no_context_takeover;
    uint8_t server_max_window_bits; /* 8..15; 15 when not limited */
    uint8_t client_max_window_bits; /* 8..15; 15 when not limited */
} ws_deflate_params;

/* 1 if this library was built with zlib (permessage-deflate available), else 0. Pure. */
WS_EXPORT int ws_deflate_available(void);

/* WS_OK and *p (p_size bytes) filled if permessage-deflate was negotiated on c, else
 * WS_ERR_NOT_FOUND (*p zeroed); WS_ERR_INVALID_ARG (NULL, p_size too small). */
WS_EXPORT int ws_conn_get_deflate_params(const ws_conn *c, ws_deflate_params *p,
                                         size_t p_size);

/*
 * A compressor shared by connections whose own compressor has no context takeover: each such
 * message is compressed from a reset state, so one zlib stream can serve them all, one
 * message at a time. Not thread-safe: use one per thread (or per event loop). window_bits
 * 9..15, mem_level 1..9, level 0..9 (the zlib meanings). Created into *out: WS_OK,
 * WS_ERR_NOMEM, WS_ERR_RANGE (a parameter), WS_ERR_UNSUPPORTED (no zlib), WS_ERR_INVALID_ARG.
 */
typedef struct ws_deflate_shared ws_deflate_shared;
WS_EXPORT int ws_deflate_shared_new(ws_deflate_shared **out, const ws_allocator *alloc,
                                    int window_bits, int mem_level, int level);
/* Free it (NULL is a no-op); every connection using it must be freed first. */
WS_EXPORT void ws_deflate_shared_free(ws_deflate_shared *s);
/*
 * Use s (borrowed; it must outlive c) for c's messages when c's compressor has no context
 * takeover; also sets WS_OPT_DEFLATE_NO_TAKEOVER to 1, so a server always answers
 * server_no_context_takeover and a client offers client_no_context_takeover. A message that
 * cannot use it (sent fragment by fragment, or a negotiated window smaller than s's) uses
 * the connection's own compressor, freed again after the message. s NULL detaches. Set before
 * the handshake. Returns WS_OK, WS_ERR_INVALID_ARG (c NULL), WS_ERR_UNSUPPORTED (no zlib),
 * WS_ERR_NOMEM.
 */
WS_EXPORT int ws_conn_set_deflate_shared(ws_conn *c, ws_deflate_shared *s);

/*
 * permessage-deflate on a connection created open (WS_CONN_OPEN): WebSockets over HTTP/2
 * (RFC 8441) or HTTP/3 (RFC 9220), where the caller's HTTP stack carries the extended CONNECT
 * and its response, so ws_conn_accept / ws_conn_client_start never run. Set WS_OPT_DEFLATE
 * (and the other WS_OPT_DEFLATE_* options) after ws_conn_new, then agree before the first
 * byte is fed or sent -- the rules are those of the HTTP/1.1 handshake above:
 *
 *   server: on the request (a ws_handshake completed by ws_h2_end_headers):
 *       r = ws_conn_open_negotiate(c, hs, value, sizeof value, &n);
 *       r == 1: add "sec-websocket-extensions: value" to the 200 response; 0: add nothing.
 *   client: before sending the extended CONNECT:
 *       if (ws_conn_open_offer(c, value, sizeof value, &n) == 1)
 *           add "sec-websocket-extensions: value" to the request;
 *     on the 200 response: r = ws_conn_open_accepted(c, its value (NULL, 0 if absent), len);
 *       r < 0: the answer breaks RFC 7692 -- fail the WebSocket (reset the stream).
 *
 * Once agreed (return 1), RSV1 marks compressed messages both ways on c. Built without zlib:
 * WS_OPT_DEFLATE cannot be set (WS_ERR_UNSUPPORTED), so negotiate declines every offer
 * (returns 0) and offer writes nothing (0); accepted then refuses a permessage-deflate answer
 * with WS_ERR_DEFLATE_NEGOTIATION (it was never offered).
 */
/* Room for any value these functions write, its NUL included. */
#define WS_EXTENSIONS_VALUE_MAX 160u
/*
 * Server: answer the permessage-deflate offers of the request in hs (a WS_ROLE_SERVER
 * handshake that ws_h2_end_headers or ws_handshake_feed completed) as ws_conn_accept with
 * extensions NULL would, and make the agreement effective on c. Returns 1 (agreed: out holds
 * the NUL-terminated Sec-WebSocket-Extensions value to send, *len its length), 0 (declined or
 * not wanted: send none; out "" when cap > 0), WS_ERR_BUFFER_TOO_SMALL (*len = the length
 * needed, NUL excluded; nothing agreed -- call again with room), WS_ERR_STATE (c is not a
 * server created with WS_CONN_OPEN and untouched -- nothing fed, queued or agreed yet -- or hs
 * is not a completed server request), WS_ERR_NOMEM, WS_ERR_INVALID_ARG. len may be NULL.
 */
WS_EXPORT int ws_conn_open_negotiate(ws_conn *c, const ws_handshake *hs, char *out,
                                     size_t cap, size_t *len);
/*
 * Client: the Sec-WebSocket-Extensions value to send in the extended CONNECT, from c's
 * WS_OPT_DEFLATE_* options (as ws_conn_client_start would offer). Returns 1 (out holds it,
 * NUL-terminated, *len its length), 0 (deflate not wanted: send none), WS_ERR_BUFFER_TOO_SMALL
 * (*len = the length needed, NUL excluded), WS_ERR_STATE (not a client), WS_ERR_INVALID_ARG.
 * Pure: it changes nothing on c.
 */
WS_EXPORT int ws_conn_open_offer(const ws_conn *c, char *out, size_t cap, size_t *len);
/*
 * Client: the response's Sec-WebSocket-Extensions value[0..len) (NULL, 0 when the response
 * had none; several fields joined with ", "), checked against what ws_conn_open_offer gives
 * for c's options. Returns 1 (permessage-deflate agreed and effective on c), 0 (nothing
 * accepted), WS_ERR_DEFLATE_NEGOTIATION (the value does not parse, names an extension that
 * was not offered, accepts permessage-deflate twice, or answers with parameters RFC 7692
 * forbids: fail the WebSocket), WS_ERR_STATE (not a client created with WS_CONN_OPEN and
 * untouched), WS_ERR_NOMEM, WS_ERR_INVALID_ARG (value NULL with len > 0). c is unchanged
 * unless 1 is returned.
 */
WS_EXPORT int ws_conn_open_accepted(ws_conn *c, const char *value, size_t len);

/* ------------------------------------------------------------------------------------------ */
/* Reconnect backoff (a sans-I/O helper for clients)                                           */
/* ------------------------------------------------------------------------------------------ */

/*
 * Exponential backoff with full jitter: the delay before attempt n (0-based) is uniform in
 * [0, min(cap, base * 2^n)] milliseconds, so a fleet of clients dropped at once spreads its
 * reconnects instead of stampeding. The attempt count resets after a connection that stayed up
 * for at least stable_ms. Caller-allocated state with no clock and no randomness of its own;
 * it may grow at the end (rule 4): ws_backoff_init records the caller's size in b->size.
 *
 *     ws_backoff b; ws_backoff_init(&b, sizeof b, 500, 30000, 10000);
 *     on disconnect: ws_backoff_disconnected(&b, now); ws_backoff_next(&b, rand32, &delay);
 *     on connect:    ws_backoff_connected(&b, now);
 */
typedef struct ws_backoff {
    uint32_t size; /* set by ws_backoff_init */
    uint32_t base_ms, cap_ms, stable_ms, attempt;
    uint32_t reserved_;
    uint64_t connected_at; /* 0 when not connected */
} ws_backoff;

/* Initialise (base_ms 0 is taken as 1; cap_ms below base_ms is raised to it). WS_OK or
 * WS_ERR_INVALID_ARG (b NULL, b_size too small). */
WS_EXPORT int ws_backoff_init(ws_backoff *b, size_t b_size, uint32_t base_ms, uint32_t cap_ms,
                              uint32_t stable_ms);
/* The delay in ms before the next attempt into *delay_ms, drawn with the caller's 32 random
 * bits, and count the attempt. WS_OK or WS_ERR_INVALID_ARG (NULL, or b not initialised by
 * ws_backoff_init: its size field is 0). */
WS_EXPORT int ws_backoff_next(ws_backoff *b, uint32_t random32, uint32_t *delay_ms);
/* A connection was established at now_ms. WS_OK or WS_ERR_INVALID_ARG. */
WS_EXPORT int ws_backoff_connected(ws_backoff *b, uint64_t now_ms);
/* The connection was lost at now_ms: if it had been up for stable_ms or longer, the next delay
 * starts from the base again. WS_OK or WS_ERR_INVALID_ARG. */
WS_EXPORT int ws_backoff_disconnected(ws_backoff *b, uint64_t now_ms);

#ifdef __cplusplus
}
#endif

#endif /* WS_H */
