/*
 * ws.h -- libws, an embeddable RFC 6455 WebSocket protocol library (sans-I/O).
 *
 * This header is the manual. libws never touches a socket, a clock, a thread or a global:
 * the caller feeds bytes in and takes bytes out. Layers, each usable alone:
 *
 *   - common:    version, errors, allocator and random hooks
 *   - frame:     RFC 6455 section 5 frame header codec and masking
 *
 * Conventions
 *   - Every function that can fail returns an int: 0 (WS_OK) or a positive count on success,
 *     a negative ws_err on failure. ws_strerror() turns any of them into text.
 *   - Pointers passed in are borrowed for the duration of the call unless a comment says
 *     otherwise. Pointers handed out ("views") stay valid until the next call on the same
 *     object.
 *   - Lengths are size_t; quantities that come from the wire are uint64_t.
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
#define WS_VERSION_MINOR 1
#define WS_VERSION_PATCH 0
#define WS_VERSION_STRING "0.1.0"
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
/* Version of the linked library as a static string such as "0.1.0". */
WS_EXPORT const char *ws_version(void);

/* ------------------------------------------------------------------------------------------ */
/* Errors                                                                                      */
/* ------------------------------------------------------------------------------------------ */

/*
 * One table generates the enum, ws_strerror() and ws_errname(). Values are stable ABI: new
 * errors get new numbers, numbers are never reused. Ranges: general -1..-19, frame -20..-39,
 * handshake -40..-79, connection and UTF-8 -80..-119, deflate -120..-139.
 */
#define WS_ERROR_TABLE(X) \
    WS_ERRORS_COMMON_(X) WS_ERRORS_FRAME_(X) WS_ERRORS_HANDSHAKE_(X) WS_ERRORS_CONN_(X)

#define WS_ERRORS_COMMON_(X)                                                                   \
    X(WS_OK, 0, "success")                                                                     \
    X(WS_ERR_NOMEM, -1, "out of memory (the allocator hook returned NULL)")                    \
    X(WS_ERR_INVALID_ARG, -2, "invalid argument")                                              \
    X(WS_ERR_BUFFER_TOO_SMALL, -3, "output buffer too small")                                  \
    X(WS_ERR_STATE, -4, "operation not valid in the current state")                            \
    X(WS_ERR_RANDOM, -5, "the random source failed")                                           \
    X(WS_ERR_UNSUPPORTED, -6, "feature not built into this library")

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
#define WS_ERRORS_HANDSHAKE_(X)

/* Connection and UTF-8 errors, -80..-119. */
#define WS_ERRORS_CONN_(X)

typedef enum ws_err {
#define WS_X_ENUM_(name, value, text) name = value,
    WS_ERROR_TABLE(WS_X_ENUM_)
#undef WS_X_ENUM_
    WS_ERR_LAST_ = -140
} ws_err;

/* Text for an error code (or for any int a libws function returned). Never NULL; the string
 * is static. Unknown codes give "unknown error"; non-negative values give "success". */
WS_EXPORT const char *ws_strerror(int err);
/* The enumerator's name, e.g. "WS_ERR_NOMEM", for logs and bindings; "WS_ERR_UNKNOWN" if
 * unknown, "WS_OK" for non-negative values. Static string. */
WS_EXPORT const char *ws_errname(int err);

/* ------------------------------------------------------------------------------------------ */
/* Hooks: allocator and randomness                                                             */
/* ------------------------------------------------------------------------------------------ */

/*
 * Allocator hooks. Every allocation libws makes goes through them. A NULL ws_allocator pointer
 * wherever one is accepted means the C library's malloc/realloc/free. realloc may be NULL, in
 * which case libws uses malloc + copy + free. free must accept NULL. The struct is copied when
 * an object is created; `user` is passed back unchanged.
 */
typedef struct ws_allocator {
    void *(*malloc)(void *user, size_t size);
    void *(*realloc)(void *user, void *ptr, size_t size);
    void (*free)(void *user, void *ptr);
    void *user;
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
typedef enum ws_opcode {
    WS_OP_CONTINUATION = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA
} ws_opcode;

/* RSV bits, at their position in the first header byte. */
#define WS_RSV1 0x40u
#define WS_RSV2 0x20u
#define WS_RSV3 0x10u

/* Largest header: 2 fixed + 8 extended length + 4 masking key. */
#define WS_FRAME_MAX_HEADER 14u
/* Largest control frame payload. */
#define WS_FRAME_MAX_CONTROL 125u

/* Non-zero if opcode is a control opcode (close, ping, pong or reserved 0xB-0xF). */
#define WS_OPCODE_IS_CONTROL(op) (((op) & 0x8u) != 0)

/*
 * A decoded (or to-be-encoded) frame header. This is a plain value type and part of the ABI:
 * fields are only ever added at the end.
 */
typedef struct ws_frame_header {
    uint64_t payload_len; /* payload length as on the wire */
    uint8_t opcode;       /* 0..15 */
    uint8_t fin;          /* 1 if FIN is set */
    uint8_t rsv;          /* WS_RSV1 | WS_RSV2 | WS_RSV3 bits as on the wire */
    uint8_t masked;       /* 1 if MASK is set */
    uint8_t mask[4];      /* masking key when masked */
    uint8_t header_len;   /* decoder: bytes the header took on the wire (2..14) */
    uint8_t non_minimal;  /* decoder: length was not minimally encoded (lenient mode only) */
} ws_frame_header;

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
    WS_FRAME_LENIENT_LENGTH = 1u << 5
};

/*
 * Parse a frame header from the start of in[0..n). Stateless and allocation-free.
 * Checks are made as soon as the bytes that decide them are present, so an invalid header is
 * reported even when it is incomplete. max_payload: largest payload_len accepted (use
 * UINT64_MAX for none).
 * Returns the header length (2..14) when complete, 0 when more bytes are needed, or one of
 * WS_ERR_FRAME_* (RESERVED_OPCODE, CONTROL_FRAGMENTED, RSV, UNMASKED, MASKED,
 * CONTROL_TOO_LONG, NON_MINIMAL_LENGTH, LEN64_MSB, TOO_LARGE), WS_ERR_INVALID_ARG.
 */
WS_EXPORT int ws_frame_parse_header(const uint8_t *in, size_t n, unsigned flags,
                                    uint64_t max_payload, ws_frame_header *h);

/* Bytes a header needs for this payload length, masked (14 max) or not. */
WS_EXPORT size_t ws_frame_header_size(uint64_t payload_len, int masked);

/*
 * Write the header h (fin, rsv, opcode, masked, mask, payload_len) into out[0..cap).
 * Validates like a conforming sender: opcode not reserved, control frames with FIN and at most
 * 125 bytes, payload_len < 2^63; RSV bits are written as given (the extension sets them).
 * Returns the header length, WS_ERR_BUFFER_TOO_SMALL, or WS_ERR_FRAME_RESERVED_OPCODE /
 * CONTROL_FRAGMENTED / CONTROL_TOO_LONG / LEN64_MSB, WS_ERR_INVALID_ARG.
 */
WS_EXPORT int ws_frame_write_header(uint8_t *out, size_t cap, const ws_frame_header *h);

/*
 * Raw mode for testers and fuzzers: write exactly the bits asked for, valid or not: any
 * opcode 0..15, any RSV bits, MASK as given whatever the role, oversize or fragmented control
 * frames, 64-bit lengths with the top bit set. len_bytes forces the length encoding: 0 =
 * minimal, 1 = 7-bit (payload_len must be <= 125), 2 = 16-bit, 8 = 64-bit (non-minimal on
 * purpose when the value is small). Returns the header length, WS_ERR_BUFFER_TOO_SMALL or
 * WS_ERR_INVALID_ARG (len_bytes not 0/1/2/8 or too small for payload_len, opcode > 15).
 */
WS_EXPORT int ws_frame_write_header_raw(uint8_t *out, size_t cap, const ws_frame_header *h,
                                        unsigned len_bytes);

/*
 * Encode a whole frame: header plus payload (copied, and masked when h->masked) into
 * out[0..cap). h->payload_len is ignored and taken from len. payload may be NULL when len is 0.
 * Returns the frame length (fits in int only for frames below 2 GiB: larger -> use
 * ws_frame_write_header + ws_mask_copy), or the errors of ws_frame_write_header.
 */
WS_EXPORT int ws_frame_encode(uint8_t *out, size_t cap, const ws_frame_header *h,
                              const void *payload, size_t len);

/* Fill key[0..4) from rng (NULL: ws_random_os). Returns WS_OK or WS_ERR_RANDOM. */
WS_EXPORT int ws_frame_make_mask(ws_random_fn rng, void *rng_user, uint8_t key[4]);

/*
 * XOR data[0..n) in place with the masking key, starting at key byte (offset & 3). Returns the
 * key offset for the byte after the last one, (offset + n) & 3, so a payload masked or unmasked
 * in several pieces gives the same bytes as in one. Any alignment, any length; uses SSE2/AVX2
 * or NEON when available, a word-at-a-time scalar loop otherwise.
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

/* Events of ws_frame_decoder_feed(). */
typedef enum ws_frame_event_type {
    WS_FRAME_EV_NONE = 0,   /* all input consumed, need more bytes */
    WS_FRAME_EV_HEADER = 1, /* a frame header is complete: ev->header */
    WS_FRAME_EV_DATA = 2    /* a payload chunk: ev->data/len, ev->offset; ev->frame_end */
} ws_frame_event_type;

typedef struct ws_frame_event {
    ws_frame_event_type type;
    ws_frame_header header; /* the current frame's header (HEADER and DATA) */
    uint8_t *data;          /* DATA: chunk inside the caller's input, already unmasked */
    size_t len;             /* DATA: chunk length (0 only for an empty payload) */
    uint64_t offset;        /* DATA: position of the chunk within the frame payload */
    int frame_end;          /* DATA: 1 if this chunk ends the frame */
} ws_frame_event;

/* Create a decoder (alloc NULL: malloc). Defaults: no role check, no RSV allowed, strict
 * lengths, no payload limit. Returns NULL on allocation failure. */
WS_EXPORT ws_frame_decoder *ws_frame_decoder_new(const ws_allocator *alloc);
/* Free a decoder (NULL is a no-op). */
WS_EXPORT void ws_frame_decoder_free(ws_frame_decoder *d);
/* Set WS_FRAME_* flags (replaces the previous set) and the payload limit (UINT64_MAX: none). */
WS_EXPORT void ws_frame_decoder_set_flags(ws_frame_decoder *d, unsigned flags,
                                          uint64_t max_payload);
/* Back to "expecting a header", clearing a sticky error; flags and limit are kept. */
WS_EXPORT void ws_frame_decoder_reset(ws_frame_decoder *d);

/*
 * Consume bytes from in[0..n) until one event is ready. Every frame gives one HEADER event,
 * then one or more DATA events, the last with frame_end = 1 (an empty payload gives one empty
 * DATA event). *consumed is set to the bytes used by this call (possibly 0 for the empty DATA
 * event); call again with the rest. Returns WS_OK with ev filled (type NONE when all input was
 * used and more is needed) or a WS_ERR_FRAME_* error, which is sticky until reset.
 */
WS_EXPORT int ws_frame_decoder_feed(ws_frame_decoder *d, uint8_t *in, size_t n,
                                    size_t *consumed, ws_frame_event *ev);

/* ------------------------------------------------------------------------------------------ */
/* Handshake layer (RFC 6455 section 4; RFC 8441 / RFC 9220)                                   */
/* ------------------------------------------------------------------------------------------ */

/* ------------------------------------------------------------------------------------------ */
/* Connection layer                                                                            */
/* ------------------------------------------------------------------------------------------ */

#ifdef __cplusplus
}
#endif

#endif /* WS_H */
