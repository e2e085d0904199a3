/*
 * Differential fuzz target for the incremental UTF-8 validator (lib/utf8.c) against a tiny
 * reference written for obviousness, not speed. Byte 0 picks the piece size (bits 0-3, 0: one
 * piece; the pieces then grow by bits 4-5) and the buffer alignment (bits 6-7); the rest is the
 * text. Invariants (abort on violation):
 *   - the library and the reference agree on the first offending byte (fail-fast offset),
 *     whatever the split, and on whether a valid text ends at a character boundary;
 *   - after a rejection every later call returns 0 and the state stays failed;
 *   - the answer is the same in one piece and in many, at any alignment.
 */
#include "ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                    \
    do {                                                                            \
        if (!(c)) {                                                                 \
            fprintf(stderr, "fuzz_utf8.c:%d: invariant failed: %s\n", __LINE__, #c); \
            abort();                                                                \
        }                                                                           \
    } while (0)

/* ---- the reference ---- */

/* Sequence length announced by a lead byte, 0 if it cannot lead. */
static size_t ref_len(uint8_t b)
{
    if (b < 0x80)
        return 1;
    if ((b & 0xE0) == 0xC0)
        return 2;
    if ((b & 0xF0) == 0xE0)
        return 3;
    if ((b & 0xF8) == 0xF0)
        return 4;
    return 0;
}

/* Code point of t[0..k) followed by continuation bytes all carrying `fill` (0 or 0x3F). */
static unsigned long ref_decode(const uint8_t *t, size_t k, size_t len, unsigned fill)
{
    static const unsigned lead_mask[5] = {0, 0x7F, 0x1F, 0x0F, 0x07};
    unsigned long cp = t[0] & lead_mask[len];
    for (size_t i = 1; i < len; i++)
        cp = cp << 6 | (i < k ? (t[i] & 0x3Fu) : fill);
    return cp;
}

/* Can t[0..k) be the beginning of a well-formed sequence? The code points that start with
 * these bytes form the range [lo, hi]; it must meet the scalar values of this length. */
static int ref_viable(const uint8_t *t, size_t k)
{
    size_t len = ref_len(t[0]);
    if (len == 0 || k > len)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((t[i] & 0xC0) != 0x80)
            return 0;
    unsigned long lo = ref_decode(t, k, len, 0), hi = ref_decode(t, k, len, 0x3F);
    switch (len) {
    case 1:
        return 1;
    case 2:
        return hi >= 0x80;
    case 3:
        return hi >= 0x800 && !(lo >= 0xD800 && hi <= 0xDFFF);
    default:
        return hi >= 0x10000 && lo <= 0x10FFFF;
    }
}

/* Offset of the first byte no valid text can have there, or n; *complete: ends on a boundary. */
static size_t ref_validate(const uint8_t *p, size_t n, int *complete)
{
    size_t i = 0;
    *complete = 1;
    while (i < n) {
        size_t len = ref_len(p[i]), k;
        for (k = 1; i + k <= n; k++) {
            if (!ref_viable(p + i, k))
                return i + k - 1;
            if (k == len)
                break;
        }
        if (i + k > n) {
            *complete = 0;
            return n;
        }
        i += len;
    }
    return n;
}

/* ---- the comparison ---- */

/* Run the library over p[0..n) in pieces; returns the failing offset or n. */
static size_t lib_validate(const uint8_t *p, size_t n, size_t piece, size_t grow, int *complete)
{
    ws_utf8_state st = WS_UTF8_ACCEPT;
    size_t pos = 0;

    *complete = 0;
    if (n == 0) {
        CHECK(ws_utf8_validate(&st, p, 0) == 0 && !ws_utf8_failed(st));
        *complete = ws_utf8_complete(st);
        return 0;
    }
    while (pos < n) {
        size_t k = piece == 0 || piece > n - pos ? n - pos : piece;
        size_t r = ws_utf8_validate(&st, p + pos, k);
        CHECK(r <= k);
        if (r < k) {
            CHECK(ws_utf8_failed(st) && !ws_utf8_complete(st));
            /* sticky: nothing more is accepted */
            CHECK(ws_utf8_validate(&st, p + pos + r, k - r) == 0);
            CHECK(ws_utf8_validate(&st, p, 0) == 0 && ws_utf8_failed(st));
            return pos + r;
        }
        CHECK(!ws_utf8_failed(st));
        pos += k;
        if (piece)
            piece += grow;
    }
    *complete = ws_utf8_complete(st);
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n, piece, grow, align, want, got, once;
    int want_c, got_c, once_c;
    uint8_t *buf;

    if (size < 1)
        return 0;
    n = size - 1;
    piece = data[0] & 15;
    grow = (data[0] >> 4) & 3;
    align = (size_t)(data[0] >> 6);
    /* exactly sized at the end, so an over-read past the text is caught */
    buf = calloc(n + align ? n + align : 1, 1);
    CHECK(buf != NULL);
    if (n)
        memcpy(buf + align, data + 1, n);

    want = ref_validate(buf + align, n, &want_c);
    got = lib_validate(buf + align, n, piece, grow, &got_c);
    once = lib_validate(buf + align, n, 0, 0, &once_c);
    CHECK(got == want && once == want);
    if (want == n)
        CHECK(got_c == want_c && once_c == want_c);
    free(buf);
    return 0;
}
