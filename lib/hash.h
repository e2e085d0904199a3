/* Private hashing/encoding helpers for the opening handshake (not part of the public API). */
#ifndef WS_LIB_HASH_H
#define WS_LIB_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Streaming SHA-1 state; callers may keep it on the stack, no allocation needed.
   The typedef is ws__sha1_ctx, not ws_sha1: C puts typedefs and functions in one namespace,
   so it would clash with the one-shot ws__sha1(). The struct tag is still `struct ws_sha1`. */
typedef struct ws_sha1 {
    uint32_t h[5];   /* chaining value */
    uint64_t len;    /* total message length in bytes */
    uint8_t buf[64]; /* pending partial block */
    size_t used;     /* bytes pending in buf */
} ws__sha1_ctx;

/* Reset c to the RFC 3174 initial state. */
void ws__sha1_init(ws__sha1_ctx *c);
/* Absorb n bytes; may be called any number of times with arbitrary split points. */
void ws__sha1_update(ws__sha1_ctx *c, const void *data, size_t n);
/* Pad, emit the 20-byte digest and wipe c; re-init before reuse. */
void ws__sha1_final(ws__sha1_ctx *c, uint8_t out[20]);
/* One-shot digest of a contiguous buffer. */
void ws__sha1(const void *data, size_t n, uint8_t out[20]);

/* Output size for n input bytes: 4*ceil(n/3), excluding the NUL terminator. */
size_t ws__base64_encoded_len(size_t n);
/* Encode with padding; out needs encoded_len(n)+1 bytes. Returns chars written excluding NUL. */
size_t ws__base64_encode(const uint8_t *in, size_t n, char *out);
/* Strict decode: standard alphabet, '=' padding required so that len%4==0, no whitespace,
   non-zero trailing bits in the last quantum rejected. Returns decoded length, or (size_t)-1 on
   invalid input or if out_cap is too small (out contents then unspecified).
   Never reads past in[n] or writes past out[out_cap]. */
size_t ws__base64_decode(const char *in, size_t n, uint8_t *out, size_t out_cap);

/* Sec-WebSocket-Accept for a client key (RFC 6455 4.2.2): base64(SHA1(key + GUID)),
   28 chars + NUL into out. */
void ws__accept_key(const char *key, size_t key_len, char out[29]);

#endif /* WS_LIB_HASH_H */
