/*
 * The tester's own permessage-deflate (RFC 7692), written on zlib directly and sharing no
 * code with lib/deflate.c, so groups 12 and 13 judge libws against an independent peer:
 * a parser for Sec-WebSocket-Extensions values, the offer/answer rules of section 7, and the
 * per-message compressor and decompressor of sections 6 and 7.
 *
 * Strictness on what the peer sends: without context takeover in the peer's direction every
 * message is inflated from a reset state, so a back-reference into an earlier message fails
 * ("invalid distance too far back"); the decompressor's window is the agreed one.
 */
#include "wsconform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if WS_HAVE_ZLIB
#include <zlib.h>
#endif

int conf_have_zlib(void)
{
#if WS_HAVE_ZLIB
    return 1;
#else
    return 0;
#endif
}

/* ---- Sec-WebSocket-Extensions values ---- */

static int is_ws(char ch)
{
    return ch == ' ' || ch == '\t';
}

/* Copy s[0..n) trimmed into out (NUL-terminated, at most cap-1 bytes). */
static void trim_copy(const char *s, size_t n, char *out, size_t cap)
{
    while (n && is_ws(*s))
        s++, n--;
    while (n && is_ws(s[n - 1]))
        n--;
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
        s++, n -= 2; /* a quoted-string value; the values here never need unescaping */
    if (n >= cap)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

static int bits_of(const char *v)
{
    if (strlen(v) == 1 && v[0] >= '8' && v[0] <= '9')
        return v[0] - '0';
    if (strlen(v) == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
        return 10 + v[1] - '0';
    return -1;
}

/* One parameter into e; sets e->bad (with a reason) when it breaks section 7. */
static void tp_param(tp_elem *e, const char *name, const char *val, int has_val, int response)
{
    const char *why = NULL;
    if (!strcasecmp(name, "server_no_context_takeover")) {
        if (e->snct || has_val)
            why = "server_no_context_takeover repeated or with a value";
        e->snct = 1;
    } else if (!strcasecmp(name, "client_no_context_takeover")) {
        if (e->cnct || has_val)
            why = "client_no_context_takeover repeated or with a value";
        e->cnct = 1;
    } else if (!strcasecmp(name, "server_max_window_bits")) {
        int b = has_val ? bits_of(val) : -1;
        if (e->smwb || b < 0)
            why = "server_max_window_bits repeated or not 8..15";
        e->smwb = b < 0 ? 15 : b;
    } else if (!strcasecmp(name, "client_max_window_bits")) {
        int b = has_val ? bits_of(val) : 1;
        if (e->cmwb || b < 0 || (response && !has_val))
            why = response ? "client_max_window_bits repeated, without a value or not 8..15"
                           : "client_max_window_bits repeated or not 8..15";
        e->cmwb = b < 0 ? 15 : b;
    } else {
        why = "unknown parameter";
    }
    if (why && !e->bad) {
        e->bad = 1;
        snprintf(e->why, sizeof e->why, "%.60s (%.30s)", why, name);
    }
}

int tp_parse(const char *s, size_t n, tp_elem *out, int max, int response)
{
    int k = 0;
    size_t i = 0;
    while (i <= n && k < max) {
        size_t end = i;
        int quoted = 0;
        while (end < n && (quoted || s[end] != ',')) {
            if (s[end] == '"')
                quoted = !quoted;
            end++;
        }
        /* The element s[i..end): a name, then ';'-separated parameters. */
        tp_elem *e = &out[k];
        memset(e, 0, sizeof *e);
        size_t j = i, first = 1;
        while (j <= end) {
            size_t pe = j;
            while (pe < end && s[pe] != ';')
                pe++;
            if (first) {
                trim_copy(s + j, pe - j, e->name, sizeof e->name);
                first = 0;
            } else {
                const char *eq = memchr(s + j, '=', pe - j);
                char name[48], val[48];
                trim_copy(s + j, (size_t)((eq ? eq : s + pe) - (s + j)), name, sizeof name);
                if (eq)
                    trim_copy(eq + 1, (size_t)(s + pe - eq - 1), val, sizeof val);
                else
                    val[0] = '\0';
                tp_param(e, name, val, eq != NULL, response);
            }
            j = pe + 1;
        }
        if (e->name[0])
            k++; /* empty list elements are allowed and skipped (RFC 7230 #rule) */
        i = end + 1;
    }
    return k;
}

int tp_is_pmd(const tp_elem *e)
{
    return !strcasecmp(e->name, "permessage-deflate");
}

/* Can the answer r be the server's acceptance of offer o (RFC 7692 section 7.1)? */
int tp_answers(const tp_elem *o, const tp_elem *r, char *why, size_t whylen)
{
    if (r->cmwb && !o->cmwb) {
        snprintf(why, whylen, "client_max_window_bits answered but not offered");
        return 0;
    }
    if (o->smwb && (!r->smwb || r->smwb > o->smwb)) {
        snprintf(why, whylen, "server_max_window_bits=%d offered, answer has %d", o->smwb,
                 r->smwb);
        return 0;
    }
    if (o->snct && !r->snct) {
        snprintf(why, whylen, "server_no_context_takeover offered, not in the answer");
        return 0;
    }
    return 1;
}

/* ---- compression ---- */

#if WS_HAVE_ZLIB

struct tpmd {
    z_stream tx, rx;
    int tx_bits, rx_bits, tx_nct, rx_nct;
    uint8_t *buf;
    size_t cap;
};

tpmd *tpmd_new(int tx_bits, int tx_nct, int rx_bits, int rx_nct)
{
    tpmd *z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    z->tx_bits = tx_bits;
    z->rx_bits = rx_bits;
    z->tx_nct = tx_nct;
    z->rx_nct = rx_nct;
    /* zlib will not compress raw DEFLATE with an 8-bit window; with Z_RLE every match is at
     * distance 1, which any window allows, so a 9-bit stream in that strategy keeps an 8-bit
     * agreement while still being compressed. Otherwise level 1: the peer's inflater sees
     * Huffman blocks and matches all the same, and Autobahn-size runs of groups 12/13 (a GiB
     * each way) spend a third less time (12.1.9: 7.3 s at level 6, 3.8 s at level 1). */
    int r1 = deflateInit2(&z->tx, tx_bits < 9 ? Z_DEFAULT_COMPRESSION : Z_BEST_SPEED, Z_DEFLATED,
                          -(tx_bits < 9 ? 9 : tx_bits), 8,
                          tx_bits < 9 ? Z_RLE : Z_DEFAULT_STRATEGY);
    int r2 = inflateInit2(&z->rx, -rx_bits);
    if (r1 != Z_OK || r2 != Z_OK) {
        if (r1 == Z_OK)
            deflateEnd(&z->tx);
        if (r2 == Z_OK)
            inflateEnd(&z->rx);
        free(z);
        return NULL;
    }
    return z;
}

void tpmd_free(tpmd *z)
{
    if (!z)
        return;
    deflateEnd(&z->tx);
    inflateEnd(&z->rx);
    free(z->buf);
    free(z);
}

static int grow(tpmd *z, size_t need)
{
    if (z->cap >= need)
        return 0;
    size_t cap = z->cap ? z->cap : 4096;
    while (cap < need)
        cap *= 2;
    uint8_t *b = realloc(z->buf, cap);
    if (!b)
        return -1;
    z->buf = b;
    z->cap = cap;
    return 0;
}

int tpmd_compress(tpmd *z, const uint8_t *in, size_t n, const uint8_t **out, size_t *outlen)
{
    size_t len = 0;
    z->tx.next_in = (Bytef *)(uintptr_t)in;
    z->tx.avail_in = (uInt)n;
    for (;;) {
        if (grow(z, len + 4096 + n / 2) != 0)
            return -1;
        z->tx.next_out = z->buf + len;
        z->tx.avail_out = (uInt)(z->cap - len);
        int r = deflate(&z->tx, Z_SYNC_FLUSH);
        len = z->cap - z->tx.avail_out;
        if (r != Z_OK && r != Z_BUF_ERROR)
            return -1;
        if (z->tx.avail_in == 0 && z->tx.avail_out > 0)
            break;
    }
    /* Section 7.2.1: the sync flush ends in 00 00 ff ff, which is not sent. */
    if (len < 4 || memcmp(z->buf + len - 4, "\x00\x00\xff\xff", 4) != 0)
        return -1;
    *out = z->buf;
    *outlen = len - 4;
    if (z->tx_nct && deflateReset(&z->tx) != Z_OK)
        return -1;
    return 0;
}

int tpmd_decompress(tpmd *z, const uint8_t *in, size_t n, uint8_t **out, size_t *outlen,
                    size_t limit, char *err, size_t errlen)
{
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    size_t cap = n * 4 + 256, len = 0;
    uint8_t *o = malloc(cap);
    if (!o)
        return -1;
    /* The message, then the tail the sender removed (section 7.2.2). */
    for (int part = 0; part < 2; part++) {
        z->rx.next_in = (Bytef *)(uintptr_t)(part ? tail : in);
        z->rx.avail_in = (uInt)(part ? sizeof tail : n);
        while (z->rx.avail_in > 0) {
            if (cap - len < 1024) {
                cap *= 2;
                uint8_t *q = realloc(o, cap);
                if (!q) {
                    free(o);
                    return -1;
                }
                o = q;
            }
            z->rx.next_out = o + len;
            z->rx.avail_out = (uInt)(cap - len);
            int r = inflate(&z->rx, Z_SYNC_FLUSH);
            len = cap - z->rx.avail_out;
            if (r == Z_STREAM_END) {
                /* A final block is allowed (section 7.2.3.3); the next message starts a new
                 * stream only if there is no context takeover -- or after this reset. */
                inflateReset(&z->rx);
                if (!z->rx_nct && z->rx.avail_in) {
                    snprintf(err, errlen, "data after a final DEFLATE block");
                    free(o);
                    return -1;
                }
                continue;
            }
            if (r != Z_OK && !(r == Z_BUF_ERROR && z->rx.avail_out > 0)) {
                snprintf(err, errlen, "invalid DEFLATE data in a compressed message: %s",
                         z->rx.msg ? z->rx.msg : "zlib error");
                free(o);
                return -1;
            }
            if (len > limit) {
                snprintf(err, errlen, "compressed message inflates beyond %zu bytes", limit);
                free(o);
                return -1;
            }
        }
    }
    if (z->rx_nct)
        inflateReset(&z->rx);
    *out = o;
    *outlen = len;
    return 0;
}

#else /* !WS_HAVE_ZLIB: groups 12 and 13 are not built, nothing calls these */

tpmd *tpmd_new(int tx_bits, int tx_nct, int rx_bits, int rx_nct)
{
    (void)tx_bits, (void)tx_nct, (void)rx_bits, (void)rx_nct;
    return NULL;
}

void tpmd_free(tpmd *z)
{
    (void)z;
}

int tpmd_compress(tpmd *z, const uint8_t *in, size_t n, const uint8_t **out, size_t *outlen)
{
    (void)z, (void)in, (void)n, (void)out, (void)outlen;
    return -1;
}

int tpmd_decompress(tpmd *z, const uint8_t *in, size_t n, uint8_t **out, size_t *outlen,
                    size_t limit, char *err, size_t errlen)
{
    (void)z, (void)in, (void)n, (void)out, (void)outlen, (void)limit;
    snprintf(err, errlen, "built without zlib");
    return -1;
}

#endif
