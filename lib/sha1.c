/* SHA-1 per RFC 3174, plus the RFC 6455 Sec-WebSocket-Accept derivation built on it. */
#include "hash.h"

#include <string.h>

/* Rotate left; n is always in 1..31 here, so no undefined shift. */
static uint32_t rol32(uint32_t x, unsigned n)
{
    return (x << n) | (x >> (32u - n));
}

/* Byte-wise big-endian load: independent of host endianness and alignment. */
static uint32_t load_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
           (uint32_t)p[3];
}

static void store_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Process one 512-bit block (RFC 3174 section 6.1, method 1). */
static void sha1_block(uint32_t h[5], const uint8_t block[64])
{
    uint32_t w[80];
    for (size_t t = 0; t < 16; t++)
        w[t] = load_be32(block + 4 * t);
    for (int t = 16; t < 80; t++)
        w[t] = rol32(w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16], 1);

    uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
    for (int t = 0; t < 80; t++) {
        uint32_t f, k;
        if (t < 20) {
            f = (b & c) | (~b & d);
            k = 0x5A827999u;
        } else if (t < 40) {
            f = b ^ c ^ d;
            k = 0x6ED9EBA1u;
        } else if (t < 60) {
            f = (b & c) | (b & d) | (c & d);
            k = 0x8F1BBCDCu;
        } else {
            f = b ^ c ^ d;
            k = 0xCA62C1D6u;
        }
        uint32_t temp = rol32(a, 5) + f + e + w[t] + k;
        e = d;
        d = c;
        c = rol32(b, 30);
        b = a;
        a = temp;
    }
    h[0] += a;
    h[1] += b;
    h[2] += c;
    h[3] += d;
    h[4] += e;
}

void ws__sha1_init(ws__sha1_ctx *c)
{
    c->h[0] = 0x67452301u;
    c->h[1] = 0xEFCDAB89u;
    c->h[2] = 0x98BADCFEu;
    c->h[3] = 0x10325476u;
    c->h[4] = 0xC3D2E1F0u;
    c->len = 0;
    c->used = 0;
}

void ws__sha1_update(ws__sha1_ctx *c, const void *data, size_t n)
{
    const uint8_t *p = data;
    if (n == 0)
        return; /* data may be NULL then; avoid NULL arithmetic and memcpy(NULL) UB */
    c->len += n;
    /* Top up a pending partial block first so full blocks can be hashed straight from input. */
    if (c->used > 0) {
        size_t take = 64 - c->used < n ? 64 - c->used : n;
        memcpy(c->buf + c->used, p, take);
        c->used += take;
        p += take;
        n -= take;
        if (c->used < 64)
            return;
        sha1_block(c->h, c->buf);
        c->used = 0;
    }
    for (; n >= 64; p += 64, n -= 64)
        sha1_block(c->h, p);
    if (n > 0)
        memcpy(c->buf, p, n);
    c->used = n;
}

void ws__sha1_final(ws__sha1_ctx *c, uint8_t out[20])
{
    uint64_t bits = c->len * 8u;
    c->buf[c->used++] = 0x80;
    /* No room for the 8-byte length: pad out this block and start another. */
    if (c->used > 56) {
        memset(c->buf + c->used, 0, 64 - c->used);
        sha1_block(c->h, c->buf);
        c->used = 0;
    }
    memset(c->buf + c->used, 0, 56 - c->used);
    store_be32(c->buf + 56, (uint32_t)(bits >> 32));
    store_be32(c->buf + 60, (uint32_t)bits);
    sha1_block(c->h, c->buf);
    for (size_t i = 0; i < 5; i++)
        store_be32(out + 4 * i, c->h[i]);
    memset(c, 0, sizeof *c);
}

void ws__sha1(const void *data, size_t n, uint8_t out[20])
{
    ws__sha1_ctx c;
    ws__sha1_init(&c);
    ws__sha1_update(&c, data, n);
    ws__sha1_final(&c, out);
}

void ws__accept_key(const char *key, size_t key_len, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    uint8_t digest[20];
    ws__sha1_ctx c;
    ws__sha1_init(&c);
    ws__sha1_update(&c, key, key_len);
    ws__sha1_update(&c, guid, sizeof guid - 1);
    ws__sha1_final(&c, digest);
    ws__base64_encode(digest, sizeof digest, out);
}
