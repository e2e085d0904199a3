/* Frame header codec (RFC 6455 section 5.2) and the incremental decoder. */
#include "internal.h"

#include <limits.h>

static int opcode_reserved(unsigned op)
{
    return (op >= 0x3 && op <= 0x7) || op >= 0xB;
}

/* A rule broken: fail fast with err, or, for testers (WS_FRAME_REPORT_ALL), note it and go on. */
#define VIOLATION(bit, err)                     \
    do {                                        \
        if (!(flags & WS_FRAME_REPORT_ALL))     \
            return (err);                       \
        viol |= (bit);                          \
    } while (0)

int ws__frame_parse_header(const uint8_t *in, size_t n, uint32_t flags, uint64_t max_payload,
                           ws_frame_header *h)
{
    unsigned allowed_rsv, op, len7, masked, fin, rsv;
    uint32_t viol = 0;
    size_t hlen;
    uint64_t len;
    int non_minimal = 0;

    if (!h || (!in && n))
        return WS_ERR_INVALID_ARG;
    if (n < 1)
        return 0;

    /* Every check runs as soon as the byte that decides it is present: fail fast. */
    fin = in[0] >> 7;
    rsv = (in[0] >> 4) & 7u;
    op = in[0] & 0x0Fu;
    /* ALLOW_RSV1..3 are flag bits 2..4; RSV1..3 are rsv bits 2..0 (branch-free map). */
    allowed_rsv = ((flags >> 2) & 1u) << 2 | ((flags >> 3) & 1u) << 1 | ((flags >> 4) & 1u);
    if (opcode_reserved(op))
        VIOLATION(WS_FRAME_VIOL_RESERVED_OPCODE, WS_ERR_FRAME_RESERVED_OPCODE);
    if (rsv & ~allowed_rsv)
        VIOLATION(WS_FRAME_VIOL_RSV, WS_ERR_FRAME_RSV);
    if (WS_OPCODE_IS_CONTROL(op) && !fin)
        VIOLATION(WS_FRAME_VIOL_CONTROL_FRAGMENTED, WS_ERR_FRAME_CONTROL_FRAGMENTED);
    if (n < 2)
        return 0;

    masked = in[1] >> 7;
    len7 = in[1] & 0x7Fu;
    if ((flags & WS_FRAME_EXPECT_MASKED) && !masked)
        VIOLATION(WS_FRAME_VIOL_UNMASKED, WS_ERR_FRAME_UNMASKED);
    if ((flags & WS_FRAME_EXPECT_UNMASKED) && masked)
        VIOLATION(WS_FRAME_VIOL_MASKED, WS_ERR_FRAME_MASKED);
    if (WS_OPCODE_IS_CONTROL(op) && len7 > WS_FRAME_MAX_CONTROL)
        VIOLATION(WS_FRAME_VIOL_CONTROL_TOO_LONG, WS_ERR_FRAME_CONTROL_TOO_LONG);

    if (len7 == 126) {
        if (n < 4)
            return 0;
        len = ws__load_be16(in + 2);
        non_minimal = len < 126;
        hlen = 4;
    } else if (len7 == 127) {
        if (n >= 3 && (in[2] & 0x80u))
            VIOLATION(WS_FRAME_VIOL_LEN64_MSB, WS_ERR_FRAME_LEN64_MSB);
        if (n < 10)
            return 0;
        len = ws__load_be64(in + 2);
        non_minimal = len <= 0xFFFFu;
        hlen = 10;
    } else {
        len = len7;
        hlen = 2;
    }
    if (non_minimal && !(flags & WS_FRAME_LENIENT_LENGTH))
        VIOLATION(WS_FRAME_VIOL_NON_MINIMAL_LENGTH, WS_ERR_FRAME_NON_MINIMAL_LENGTH);
    if (len > max_payload)
        VIOLATION(WS_FRAME_VIOL_TOO_LARGE, WS_ERR_FRAME_TOO_LARGE);
    if (masked)
        hlen += 4;
    if (n < hlen)
        return 0;

    h->payload_len = len;
    h->opcode = (uint8_t)op;
    h->fin = (uint8_t)fin;
    h->rsv = (uint8_t)rsv;
    h->masked = (uint8_t)masked;
    if (masked)
        memcpy(h->mask, in + hlen - 4, 4);
    else
        memset(h->mask, 0, 4);
    h->header_len = (uint8_t)hlen;
    h->non_minimal = (uint8_t)non_minimal;
    h->violations = viol;
    return (int)hlen;
}

#undef VIOLATION

int ws_frame_violation_error(uint32_t v)
{
    static const int errs[] = {WS_ERR_FRAME_RESERVED_OPCODE,   WS_ERR_FRAME_RSV,
                               WS_ERR_FRAME_CONTROL_FRAGMENTED, WS_ERR_FRAME_UNMASKED,
                               WS_ERR_FRAME_MASKED,             WS_ERR_FRAME_CONTROL_TOO_LONG,
                               WS_ERR_FRAME_NON_MINIMAL_LENGTH, WS_ERR_FRAME_LEN64_MSB,
                               WS_ERR_FRAME_TOO_LARGE};
    for (unsigned i = 0; i < sizeof errs / sizeof errs[0]; i++)
        if (v & (1u << i))
            return errs[i];
    return WS_OK;
}

size_t ws_frame_header_size(uint64_t payload_len, int masked)
{
    size_t s = 2;
    if (payload_len > 0xFFFFu)
        s += 8;
    else if (payload_len > 125)
        s += 2;
    return masked ? s + 4 : s;
}

int ws_frame_parse_header(const uint8_t *in, size_t n, uint32_t flags, uint64_t max_payload,
                          ws_frame_header *h, size_t h_size)
{
    ws_frame_header mine;
    int r;

    if (!h || h_size < WS__MIN_FRAME_HEADER)
        return WS_ERR_INVALID_ARG;
    r = ws__frame_parse_header(in, n, flags, max_payload, &mine);
    if (r > 0)
        ws__struct_copy(h, h_size, &mine, sizeof mine);
    return r;
}

/* A caller's header (h_size bytes) as the library's struct. */
static int header_in(ws_frame_header *dst, const ws_frame_header *h, size_t h_size)
{
    if (!h || h_size < WS__MIN_FRAME_HEADER)
        return WS_ERR_INVALID_ARG;
    if (h_size == sizeof *dst)
        *dst = *h;
    else
        ws__struct_copy(dst, sizeof *dst, h, h_size);
    return WS_OK;
}

static int write_header_raw(uint8_t *out, size_t cap, const ws_frame_header *h,
                            unsigned len_bytes)
{
    size_t size;
    uint64_t len;

    if (!h || h->opcode > 0xF || h->rsv > 7)
        return WS_ERR_INVALID_ARG;
    len = h->payload_len;
    if (len_bytes == 0)
        len_bytes = len <= 125 ? 1u : len <= 0xFFFFu ? 2u : 8u;
    if ((len_bytes == 1 && len > 125) || (len_bytes == 2 && len > 0xFFFFu) ||
        (len_bytes != 1 && len_bytes != 2 && len_bytes != 8))
        return WS_ERR_INVALID_ARG;
    size = 2 + (len_bytes == 1 ? 0 : len_bytes) + (h->masked ? 4 : 0);
    if (!out || cap < size)
        return WS_ERR_BUFFER_TOO_SMALL;

    out[0] = (uint8_t)((h->fin ? 0x80u : 0) | (unsigned)h->rsv << 4 | h->opcode);
    out[1] = h->masked ? 0x80u : 0;
    if (len_bytes == 1) {
        out[1] |= (uint8_t)len;
    } else if (len_bytes == 2) {
        out[1] |= 126;
        ws__store_be16(out + 2, (uint16_t)len);
    } else {
        out[1] |= 127;
        ws__store_be64(out + 2, len);
    }
    if (h->masked)
        memcpy(out + size - 4, h->mask, 4);
    return (int)size;
}

int ws_frame_write_header_raw(uint8_t *out, size_t cap, const ws_frame_header *h,
                              size_t h_size, unsigned len_bytes)
{
    ws_frame_header mine;
    int r = header_in(&mine, h, h_size);
    return r < 0 ? r : write_header_raw(out, cap, &mine, len_bytes);
}

int ws__frame_write_header(uint8_t *out, size_t cap, const ws_frame_header *h)
{
    if (!h || h->opcode > 0xF || h->rsv > 7)
        return WS_ERR_INVALID_ARG;
    if (opcode_reserved(h->opcode))
        return WS_ERR_FRAME_RESERVED_OPCODE;
    if (WS_OPCODE_IS_CONTROL(h->opcode) && !h->fin)
        return WS_ERR_FRAME_CONTROL_FRAGMENTED;
    if (WS_OPCODE_IS_CONTROL(h->opcode) && h->payload_len > WS_FRAME_MAX_CONTROL)
        return WS_ERR_FRAME_CONTROL_TOO_LONG;
    if (h->payload_len >> 63)
        return WS_ERR_FRAME_LEN64_MSB;
    return write_header_raw(out, cap, h, 0);
}

int ws_frame_write_header(uint8_t *out, size_t cap, const ws_frame_header *h, size_t h_size)
{
    ws_frame_header mine;
    int r = header_in(&mine, h, h_size);
    return r < 0 ? r : ws__frame_write_header(out, cap, &mine);
}

int ws_frame_encode(uint8_t *out, size_t cap, const ws_frame_header *h, size_t h_size,
                    const void *payload, size_t len)
{
    ws_frame_header hh;
    int hl;

    if (header_in(&hh, h, h_size) < 0 || (!payload && len))
        return WS_ERR_INVALID_ARG;
    hh.payload_len = len;
    if (len > (size_t)INT_MAX - WS_FRAME_MAX_HEADER)
        return WS_ERR_INVALID_ARG;
    hl = ws__frame_write_header(out, cap, &hh);
    if (hl < 0)
        return hl;
    if (cap - (size_t)hl < len)
        return WS_ERR_BUFFER_TOO_SMALL;
    if (len == 0)
        return hl;
    if (hh.masked)
        ws_mask_copy(out + hl, payload, len, hh.mask, 0);
    else
        memcpy(out + hl, payload, len);
    return hl + (int)len;
}

int ws_frame_encode_raw(uint8_t *out, size_t cap, const ws_frame_header *h, size_t h_size,
                        unsigned len_bytes, const void *body, size_t body_len)
{
    ws_frame_header hh;
    int hl;

    if (header_in(&hh, h, h_size) < 0 || (!body && body_len) ||
        body_len > (size_t)INT_MAX - WS_FRAME_MAX_HEADER)
        return WS_ERR_INVALID_ARG;
    hl = write_header_raw(out, cap, &hh, len_bytes);
    if (hl < 0)
        return hl;
    if (cap - (size_t)hl < body_len)
        return WS_ERR_BUFFER_TOO_SMALL;
    if (body_len && hh.masked)
        ws_mask_copy(out + hl, body, body_len, hh.mask, 0);
    else if (body_len)
        memcpy(out + hl, body, body_len);
    return hl + (int)body_len;
}

int ws_frame_make_mask(ws_random_fn rng, void *rng_user, uint8_t key[4])
{
    if (!key)
        return WS_ERR_INVALID_ARG;
    if (!rng)
        rng = ws_random_os;
    return rng(rng_user, key, 4) == 0 ? WS_OK : WS_ERR_RANDOM;
}

/* ---- incremental decoder ---- */

void ws__frame_decoder_init(ws_frame_decoder *d)
{
    memset(d, 0, sizeof *d);
    d->max_payload = UINT64_MAX;
}

/* Recompute d->fast: after anything that changes the flags, the state, the header buffer or the
 * error. */
static void fast_update(ws_frame_decoder *d)
{
    unsigned f = d->flags, allow = 3; /* bit 0: unmasked frames; bit 1: masked ones */
    if (f & WS_FRAME_EXPECT_MASKED)
        allow &= 2;
    if (f & WS_FRAME_EXPECT_UNMASKED)
        allow &= 1;
    d->fast = (uint8_t)((f & WS_FRAME_WHOLE) && d->state == WS__DEC_HEADER && d->hbuf_len == 0 &&
                                !d->error
                            ? allow
                            : 0);
}

typedef struct decoder_box {
    ws_frame_decoder d; /* first: a pointer to it is a pointer to the box */
    ws_allocator alloc;
    ws_frame_header batch[WS_FRAME_EVENTS_MAX]; /* the headers of feed_events' last batch */
} decoder_box;

int ws_frame_decoder_new(ws_frame_decoder **out, const ws_allocator *alloc)
{
    ws_allocator a;
    decoder_box *b;

    if (!out)
        return WS_ERR_INVALID_ARG;
    *out = NULL;
    if (ws__alloc_init(&a, alloc) < 0)
        return WS_ERR_INVALID_ARG;
    b = ws__malloc(&a, sizeof *b);
    if (!b)
        return WS_ERR_NOMEM;
    ws__frame_decoder_init(&b->d);
    b->alloc = a;
    *out = &b->d;
    return WS_OK;
}

void ws_frame_decoder_free(ws_frame_decoder *d)
{
    if (d) {
        decoder_box *b = (decoder_box *)(void *)d;
        ws_allocator a = b->alloc;
        ws__free(&a, b, sizeof *b);
    }
}

int ws_frame_decoder_set_flags(ws_frame_decoder *d, uint32_t flags, uint64_t max_payload)
{
    if (!d)
        return WS_ERR_INVALID_ARG;
    d->flags = flags;
    d->max_payload = max_payload;
    fast_update(d);
    return WS_OK;
}

int ws_frame_decoder_reset(ws_frame_decoder *d)
{
    if (!d)
        return WS_ERR_INVALID_ARG;
    d->state = WS__DEC_HEADER;
    d->error = 0;
    d->hbuf_len = 0;
    d->remaining = 0;
    d->mask_off = 0;
    fast_update(d);
    return WS_OK;
}

static int header_done(ws_frame_decoder *d, ws_frame_event *ev)
{
    d->remaining = d->hdr.payload_len;
    d->mask_off = 0;
    d->hbuf_len = 0;
    d->state = d->remaining ? WS__DEC_PAYLOAD : WS__DEC_EMPTY;
    ev->type = WS_FRAME_EV_HEADER;
    ev->header = &d->hdr;
    return WS_OK;
}

static int feed_header(ws_frame_decoder *d, uint8_t *in, size_t n, size_t *consumed,
                       ws_frame_event *ev)
{
    int r;

    if (d->hbuf_len == 0) {
        /* Common case: the whole header is in this input, parse it where it lies. */
        r = ws__frame_parse_header(in, n, d->flags, d->max_payload, &d->hdr);
        if (r > 0) {
            *consumed = (size_t)r;
            return header_done(d, ev);
        }
        if (r < 0)
            return d->error = r;
        /* Incomplete: n < header length <= 14, so all of it fits in hbuf. */
        memcpy(d->hbuf, in, n);
        d->hbuf_len = (uint8_t)n;
        *consumed = n;
        return WS_OK;
    }

    size_t old = d->hbuf_len;
    size_t k = sizeof d->hbuf - old;
    if (k > n)
        k = n;
    memcpy(d->hbuf + old, in, k);
    r = ws__frame_parse_header(d->hbuf, old + k, d->flags, d->max_payload, &d->hdr);
    if (r < 0)
        return d->error = r;
    if (r == 0) {
        d->hbuf_len = (uint8_t)(old + k);
        *consumed = k;
        return WS_OK;
    }
    *consumed = (size_t)r - old;
    return header_done(d, ev);
}

/* WS_FRAME_WHOLE: the frame's payload p[0..k) is all here; unmask it, one DATA event. */
static inline void whole_event(ws_frame_decoder *d, uint8_t *p, size_t k, ws_frame_event *ev)
{
    ev->type = WS_FRAME_EV_DATA;
    ev->frame_end = 1;
    ev->header = &d->hdr;
    ev->data = k ? p : NULL;
    ev->len = k;
    ev->offset = 0;
    /* Last: nothing is needed after a call out (the straight line saves no registers). */
    if (d->hdr.masked) {
        if (k <= 64)
            ws__unmask_short(p, k, d->hdr.mask);
        else
            ws_mask(p, k, d->hdr.mask, 0);
    }
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
/* The straight line writes ws_frame_header's bytes 8..15 (opcode, fin, rsv, masked, mask) and
 * 16..23 (header_len, non_minimal, padding, violations) as two words. */
_Static_assert(offsetof(ws_frame_header, fin) == offsetof(ws_frame_header, opcode) + 1 &&
                   offsetof(ws_frame_header, rsv) == offsetof(ws_frame_header, opcode) + 2 &&
                   offsetof(ws_frame_header, masked) == offsetof(ws_frame_header, opcode) + 3 &&
                   offsetof(ws_frame_header, mask) == offsetof(ws_frame_header, opcode) + 4 &&
                   offsetof(ws_frame_header, header_len) ==
                       offsetof(ws_frame_header, opcode) + 8 &&
                   offsetof(ws_frame_header, non_minimal) ==
                       offsetof(ws_frame_header, header_len) + 1 &&
                   offsetof(ws_frame_header, violations) ==
                       offsetof(ws_frame_header, header_len) + 4 &&
                   sizeof(ws_frame_header) == offsetof(ws_frame_header, header_len) + 8,
               "ws_frame_header layout the decoder's straight line writes");
#define WS_FRAME_WORD_HEADER 1
#else
#define WS_FRAME_WORD_HEADER 0
#endif

/* WS_FRAME_WHOLE's common case in a straight line, for a decoder between frames (its fast
 * bits, nonzero, given) and n >= 2: a data frame (text, binary, continuation) without RSV
 * bits, masked as the role expects, with a 7-bit or minimal 16-bit length within the limit, all
 * of it here. Its header goes into *h, its one DATA event into *ev; returns the bytes the frame
 * took. Anything else: 0, and the general path decides (nothing was written). known: the fast
 * bits when the caller knows them (1: unmasked frames only, 2: masked only, a constant that
 * takes the role's tests out of the line), or 0 to read them from fast. */
static inline __attribute__((always_inline)) size_t fast_whole(unsigned fast, uint64_t max_payload,
                                                               uint8_t *in, size_t n,
                                                               ws_frame_header *h,
                                                               ws_frame_event *ev,
                                                               const unsigned known)
{
    unsigned b0 = in[0], b1 = in[1];
    unsigned allow = known ? known : fast;
    /* (b0 & 0x7F: the RSV bits and the opcode -- no RSV bit and a data opcode) */
    if ((b0 & 0x7Fu) > WS_OP_BINARY || !((allow >> (b1 >> 7)) & 1u))
        return 0;
    unsigned masked = known ? known >> 1 : b1 >> 7;
    size_t len = b1 & 0x7Fu, hl = 2 + 4 * (size_t)masked;
    if (len >= 126) {
        if (len == 127 || n < 4 || (len = ws__load_be16(in + 2)) < 126)
            return 0;
        hl += 2;
    }
    if (len > max_payload || n < hl + len)
        return 0;
    /* opcode, fin, rsv 0, masked: bytes 8..11 of the header; then the key */
    uint32_t ofm = (b0 & 0x7Fu) | (b0 >> 7) << 8 | masked << 24, key = 0;
    if (masked)
        memcpy(&key, in + hl - 4, 4);
    h->payload_len = len;
#if WS_FRAME_WORD_HEADER
    {
        uint64_t w = (uint64_t)ofm | (uint64_t)key << 32, w2 = hl;
        memcpy((uint8_t *)h + offsetof(ws_frame_header, opcode), &w, 8);
        memcpy((uint8_t *)h + offsetof(ws_frame_header, header_len), &w2, 8);
    }
#else
    h->opcode = (uint8_t)(ofm & 0x0Fu);
    h->fin = (uint8_t)((ofm >> 8) & 1u);
    h->rsv = 0;
    h->masked = (uint8_t)masked;
    memcpy(h->mask, &key, 4);
    h->header_len = (uint8_t)hl;
    h->non_minimal = 0;
    h->violations = 0;
#endif
    ev->type = WS_FRAME_EV_DATA;
    ev->frame_end = 1;
    ev->header = h;
    ev->data = len ? in + hl : NULL;
    ev->len = len;
    ev->offset = 0;
    if (masked) {
        uint8_t *p = in + hl;
        if (len <= 64)
            ws__unmask_short_k(p, len, key);
        else
            ws_mask(p, len, h->mask, 0);
    }
    return hl + len;
}

/* fast_whole over in[*pos..n) into evs[k..max) and hs[k..), as long as frames qualify; returns
 * the new k and moves *pos on. */
static inline __attribute__((always_inline)) size_t fast_run(unsigned fast, uint64_t max_payload,
                                                             uint8_t *in, size_t n, size_t *pos,
                                                             ws_frame_header *hs,
                                                             ws_frame_event *evs, size_t k,
                                                             size_t max, const unsigned known)
{
    uint8_t *p = in + *pos, *end = in + n;
    while (k < max && end - p >= 2) {
        size_t used = fast_whole(fast, max_payload, p, (size_t)(end - p), &hs[k], &evs[k], known);
        if (!used)
            break;
        p += used;
        k++;
    }
    *pos = (size_t)(p - in);
    return k;
}

static int decoder_feed(ws_frame_decoder *d, uint8_t *in, size_t n, size_t *consumed,
                        ws_frame_event *ev, size_t ev_size);

int ws_frame_decoder_feed(ws_frame_decoder *d, uint8_t *in, size_t n, size_t *consumed,
                          ws_frame_event *ev, size_t ev_size)
{
    if (d && d->fast && ev_size == sizeof *ev && in && consumed && ev && n >= 2) {
        size_t used = fast_whole(d->fast, d->max_payload, in, n, &d->hdr, ev, 0);
        if (used) {
            *consumed = used;
            return WS_OK;
        }
    }
    return decoder_feed(d, in, n, consumed, ev, ev_size);
}

static int decoder_feed_general(ws_frame_decoder *d, uint8_t *in, size_t n, size_t *consumed,
                                ws_frame_event *ev, size_t ev_size);

/* The general path; d->fast is brought up to date on every way out. Out of line: the straight
 * line above then reaches it by a jump and saves no registers. */
static __attribute__((noinline)) int decoder_feed(ws_frame_decoder *d, uint8_t *in, size_t n, size_t *consumed,
                        ws_frame_event *ev, size_t ev_size)
{
    int r = decoder_feed_general(d, in, n, consumed, ev, ev_size);
    if (d)
        fast_update(d);
    return r;
}

static int decoder_feed_general(ws_frame_decoder *d, uint8_t *in, size_t n, size_t *consumed,
                                ws_frame_event *ev, size_t ev_size)
{
    if (!ev || ev_size < WS__MIN_FRAME_EVENT)
        return WS_ERR_INVALID_ARG;
    if (ev_size != sizeof *ev) {
        /* A caller's layout other than ours: through a struct of ours (rule 4). */
        ws_frame_event mine;
        int r;
        memset(&mine, 0, sizeof mine);
        r = decoder_feed_general(d, in, n, consumed, &mine, sizeof mine);
        ws__struct_copy(ev, ev_size, &mine, sizeof mine);
        return r;
    }
    size_t dummy;

    if (!consumed)
        consumed = &dummy;
    *consumed = 0;
    if (!d || !ev || (!in && n))
        return WS_ERR_INVALID_ARG;
    ev->type = WS_FRAME_EV_NONE;
    ev->header = &d->hdr;
    ev->data = NULL;
    ev->len = 0;
    ev->offset = 0;
    ev->frame_end = 0;
    if (d->error)
        return d->error;

    switch (d->state) {
    case WS__DEC_EMPTY:
        ev->type = WS_FRAME_EV_DATA;
        ev->header = &d->hdr;
        ev->data = in;
        ev->frame_end = 1;
        d->state = WS__DEC_HEADER;
        return WS_OK;
    case WS__DEC_PAYLOAD: {
        if (n == 0)
            return WS_OK;
        size_t k = d->remaining < n ? (size_t)d->remaining : n;
        if (d->hdr.masked)
            d->mask_off = (uint8_t)ws_mask(in, k, d->hdr.mask, d->mask_off);
        ev->type = WS_FRAME_EV_DATA;
        ev->header = &d->hdr;
        ev->data = in;
        ev->len = k;
        ev->offset = d->hdr.payload_len - d->remaining; /* what was handed out already */
        d->remaining -= k;
        ev->frame_end = d->remaining == 0;
        if (ev->frame_end)
            d->state = WS__DEC_HEADER;
        *consumed = k;
        return WS_OK;
    }
    default:
        if (n == 0)
            return WS_OK;
        if ((d->flags & WS_FRAME_WHOLE) && d->hbuf_len == 0) {
            int r = ws__frame_parse_header(in, n, d->flags, d->max_payload, &d->hdr);
            if (r > 0 && d->hdr.payload_len <= n - (size_t)r) {
                /* All of it is here: one event for the frame. */
                whole_event(d, in + r, (size_t)d->hdr.payload_len, ev);
                *consumed = (size_t)r + (size_t)d->hdr.payload_len;
                return WS_OK;
            }
        }
        return feed_header(d, in, n, consumed, ev);
    }
}

int ws__frame_decoder_step(ws_frame_decoder *d, uint8_t *in, size_t n, size_t *consumed,
                           ws_frame_event *ev)
{
    return ws_frame_decoder_feed(d, in, n, consumed, ev, sizeof *ev);
}

int ws_frame_decoder_feed_events(ws_frame_decoder *d, uint8_t *in, size_t n, size_t *consumed,
                                 ws_frame_event *evs, size_t max, size_t ev_size)
{
    if (consumed)
        *consumed = 0;
    if (!d || !consumed || !evs || (!in && n) || !max || ev_size < WS__MIN_FRAME_EVENT)
        return WS_ERR_INVALID_ARG;
    if (max > WS_FRAME_EVENTS_MAX)
        max = WS_FRAME_EVENTS_MAX;
    ws_frame_header *hs = ((decoder_box *)(void *)d)->batch;
    size_t pos = 0, k = 0;

    if (ev_size != sizeof *evs) {
        /* A caller's layout other than ours: event by event through ours (rule 4). */
        for (; k < max; k++) {
            ws_frame_event mine;
            size_t used = 0;
            int r = ws_frame_decoder_feed(d, n ? in + pos : in, n - pos, &used, &mine,
                                          sizeof mine);
            if (r < 0) {
                if (k)
                    break;
                return r;
            }
            pos += used;
            if (mine.type == WS_FRAME_EV_NONE)
                break;
            hs[k] = *mine.header;
            mine.header = &hs[k];
            ws__struct_copy((uint8_t *)evs + k * ev_size, ev_size, &mine, sizeof mine);
        }
        *consumed = pos;
        return (int)k;
    }
    while (k < max) {
        unsigned fast = d->fast;
        if (fast) {
            /* Whole small frames, one after another, as long as they come; the role's usual
             * fast bits as constants. */
            if (n - pos < 2)
                ; /* (in may be NULL when n is 0: no arithmetic on it) */
            else if (fast == 2)
                k = fast_run(fast, d->max_payload, in, n, &pos, hs, evs, k, max, 2);
            else if (fast == 1)
                k = fast_run(fast, d->max_payload, in, n, &pos, hs, evs, k, max, 1);
            else
                k = fast_run(fast, d->max_payload, in, n, &pos, hs, evs, k, max, 0);
            if (k == max || pos == n)
                break; /* a full batch, or between frames with nothing left */
        }
        size_t used = 0;
        int r = decoder_feed(d, n ? in + pos : in, n - pos, &used, &evs[k], sizeof *evs);
        if (r < 0) {
            if (k)
                break; /* the error is sticky: the next call returns it */
            return r;
        }
        pos += used;
        if (evs[k].type == WS_FRAME_EV_NONE)
            break;
        hs[k] = d->hdr;
        evs[k].header = &hs[k];
        k++;
    }
    *consumed = pos;
    return (int)k;
}
