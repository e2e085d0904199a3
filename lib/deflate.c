/*
 * permessage-deflate (RFC 7692): the per-connection codec over zlib -- compressing the
 * messages sent, decompressing those received, the zlib streams' lifetime and memory, and
 * the compressor a caller shares across connections (ws_deflate_shared). The agreement it
 * runs on comes from pmd_negotiate.c; a build without zlib has deflate_none.c instead.
 *
 * Sending: a message is compressed with Z_SYNC_FLUSH, which ends the output with an empty
 * stored block "00 00 ff ff" (pmd_tail); those four bytes are removed from the message's last
 * fragment (section 7.2.1). Receiving: the four bytes are put back after the last fragment and
 * the whole is inflated (section 7.2.2), in bounded steps so that the output never exceeds the
 * message limit.
 */
#include "pmd_state.h"

#if WS_HAVE_ZLIB
#include <limits.h>

/* The empty stored block that ends a sync flush: the sender removes it from the end of a
 * message, the receiver puts it back. */
static const uint8_t pmd_tail[] = {0x00, 0x00, 0xff, 0xff};

/* ---- zlib through the caller's allocator ---- */

/* zlib frees without a size, and the allocator hook gets one (ws.h): each block zlib asks
 * for carries its size in a header of Z_HDR bytes, which keeps the payload max-aligned. */
#define Z_HDR (sizeof(max_align_t) > sizeof(size_t) ? sizeof(max_align_t) : sizeof(size_t))

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    if (size && items > (SIZE_MAX - Z_HDR) / size)
        return Z_NULL;
    size_t n = (size_t)items * size + Z_HDR;
    unsigned char *b = ws__malloc(opaque, n);
    if (!b)
        return Z_NULL;
    memcpy(b, &n, sizeof n);
    return b + Z_HDR;
}

static void z_free(voidpf opaque, voidpf ptr)
{
    size_t n;
    unsigned char *b = (unsigned char *)ptr - Z_HDR;
    memcpy(&n, b, sizeof n);
    ws__free(opaque, b, n);
}

static void z_prepare(z_stream *z, const ws_allocator *a)
{
    memset(z, 0, sizeof *z);
    z->zalloc = z_alloc;
    z->zfree = z_free;
    z->opaque = (voidpf)(uintptr_t)a;
}

static uInt z_len(const ws__pmd *p, size_t n)
{
    return (uInt)(n < p->z_step ? n : p->z_step);
}

void ws__pmd_set_zlib_step(ws__pmd *p, size_t step)
{
    /* More than the six bytes of room a sync flush needs each call (zlib.h). */
    p->z_step = step < 64 ? 64 : step > WS__PMD_Z_STEP ? WS__PMD_Z_STEP : step;
}

int ws_deflate_shared_new(ws_deflate_shared **out, const ws_allocator *alloc, int window_bits,
                          int mem_level, int level)
{
    ws_allocator a;
    ws_deflate_shared *s;

    if (!out)
        return WS_ERR_INVALID_ARG;
    *out = NULL;
    if (window_bits < (int)WS__PMD_ZLIB_MIN_BITS || window_bits > (int)WS__PMD_MAX_BITS ||
        mem_level < 1 || mem_level > (int)WS__PMD_MAX_MEM_LEVEL || level < 0 ||
        level > (int)WS__PMD_MAX_LEVEL)
        return WS_ERR_RANGE;
    if (ws__alloc_init(&a, alloc) < 0)
        return WS_ERR_INVALID_ARG;
    s = ws__malloc(&a, sizeof *s);
    if (!s)
        return WS_ERR_NOMEM;
    s->alloc = a;
    s->bits = window_bits;
    z_prepare(&s->z, &s->alloc);
    if (deflateInit2(&s->z, level, Z_DEFLATED, -window_bits, mem_level, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        ws__free(&a, s, sizeof *s);
        return WS_ERR_NOMEM; /* the parameters were checked: only memory can fail */
    }
    *out = s;
    return WS_OK;
}

void ws_deflate_shared_free(ws_deflate_shared *s)
{
    if (!s)
        return;
    ws_allocator a = s->alloc;
    deflateEnd(&s->z);
    ws__free(&a, s, sizeof *s);
}

static void tx_release(ws__pmd *p)
{
    if (p->tx_live)
        deflateEnd(&p->tx);
    p->tx_live = 0;
}

/* Free the decompressor. The streaming chunk stays unless with_chunk: the last event of a
 * message points into it until the caller's next call. */
static void rx_release(ws__pmd *p, int with_chunk)
{
    if (p->rx_live)
        inflateEnd(&p->rx);
    p->rx_live = 0;
    ws__free(&p->alloc, p->stash, p->stash_cap);
    p->stash = NULL;
    p->stash_cap = 0;
    if (with_chunk) {
        ws__free(&p->alloc, p->chunk, WS__PMD_OUT_CHUNK);
        p->chunk = NULL;
    }
}

void ws__pmd_free(ws__pmd *p)
{
    if (!p)
        return;
    tx_release(p);
    rx_release(p, 1);
    ws__free(&p->alloc, p->obuf, p->obuf_cap);
    ws_allocator a = p->alloc;
    ws__free(&a, p, sizeof *p);
}

/* ---- sending ---- */

int ws__pmd_tx_begin(ws__pmd *p, size_t len, int whole, unsigned flags)
{
    if (!ws__pmd_active(p))
        return 0;
    p->tx_msg = p->tx_shared = 0;
    /* A window of 8 bits cannot be honoured by zlib: such a side sends uncompressed. */
    if ((flags & WS_SEND_NO_COMPRESS) || p->neg.tx_bits < WS__PMD_ZLIB_MIN_BITS || (whole && len < p->threshold))
        return 0;
    /* The shared stream serves one whole message at a time: a message sent in several calls
     * would hold it while other connections need it. */
    p->tx_shared = (uint8_t)(whole && p->shared && p->neg.tx_no_takeover &&
                             p->shared->bits <= p->neg.tx_bits);
    p->tx_msg = 1;
    return 1;
}

int ws__pmd_tx_compressing(const ws__pmd *p)
{
    return p && p->tx_msg;
}

static z_stream *tx_stream(ws__pmd *p)
{
    if (p->tx_shared) {
        deflateReset(&p->shared->z);
        return &p->shared->z;
    }
    if (!p->tx_live) {
        z_prepare(&p->tx, &p->alloc);
        if (deflateInit2(&p->tx, p->level, Z_DEFLATED, -(int)p->neg.tx_bits, p->mem_level,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return NULL;
        p->tx_live = 1;
    }
    return &p->tx;
}

/* Make room for at least `need` more bytes after len in the output (stack, then heap). */
static int tx_grow(ws__pmd *p, uint8_t **buf, size_t *cap, size_t len, size_t need)
{
    size_t want = *cap * 2;
    if (want < len + need)
        want = len + need;
    uint8_t *q = ws__malloc(&p->alloc, want);
    if (!q)
        return WS_ERR_NOMEM;
    if (len)
        memcpy(q, *buf, len);
    ws__free(&p->alloc, p->obuf, p->obuf_cap);
    p->obuf = *buf = q;
    p->obuf_cap = want;
    *cap = want;
    return WS_OK;
}

int ws__pmd_tx_compress(ws__pmd *p, const uint8_t *in, size_t n, int fin, uint8_t *stack,
                        size_t stack_cap, const uint8_t **out, size_t *out_len)
{
    z_stream *z = tx_stream(p);
    uint8_t *buf = stack;
    size_t cap = stack_cap, len = 0;

    if (!z)
        return WS_ERR_NOMEM;
    z->avail_in = 0;
    for (;;) {
        if (z->avail_in == 0 && n) {
            z->next_in = in;
            z->avail_in = z_len(p, n);
            in += z->avail_in;
            n -= z->avail_in;
        }
        /* zlib asks for more than six bytes of room with Z_SYNC_FLUSH, or it may repeat the
         * flush marker; ask for the bound of what is left on the first growth. */
        if (cap - len < 16) {
            size_t bound = (size_t)deflateBound(z, z->avail_in) + n + 16;
            if (tx_grow(p, &buf, &cap, len, bound) < 0)
                return WS_ERR_NOMEM;
        }
        z->next_out = buf + len;
        z->avail_out = z_len(p, cap - len);
        int r = deflate(z, Z_SYNC_FLUSH);
        len = (size_t)(z->next_out - buf);
        /* Z_BUF_ERROR: nothing to do (an empty fragment right after a flush). */
        if (r != Z_OK && r != Z_BUF_ERROR)
            return WS_ERR_NOMEM; /* only a stream made unusable by a failed allocation */
        if (z->avail_in == 0 && n == 0 && z->avail_out != 0)
            break;
    }
    if (fin && len >= sizeof pmd_tail &&
        memcmp(buf + len - sizeof pmd_tail, pmd_tail, sizeof pmd_tail) == 0)
        len -= sizeof pmd_tail;
    if (fin && len == 0) {
        /* Nothing was left to flush: one empty stored block header makes the restored tail a
         * complete block again (an empty payload would leave the peer mid-block). */
        buf[0] = 0x00;
        len = 1;
    }
    *out = buf;
    *out_len = len;
    return WS_OK;
}

void ws__pmd_tx_done(ws__pmd *p, int fin, int ok)
{
    ws__free(&p->alloc, p->obuf, p->obuf_cap);
    p->obuf = NULL;
    p->obuf_cap = 0;
    if (!ok && p->tx_live) {
        /* The peer never saw what the compressor just took in: forget it all. Later output
         * then refers only to bytes the peer does get, whatever its window holds. */
        deflateReset(&p->tx);
    }
    if (fin && ok) {
        p->tx_msg = 0;
        if (p->neg.tx_no_takeover)
            tx_release(p);
    }
}

/* ---- receiving ---- */

int ws__pmd_rx_begin(ws__pmd *p)
{
    if (!p->rx_live) {
        z_prepare(&p->rx, &p->alloc);
        /* Any window at least as large as the sender's decodes its data; 9 where 8 was agreed
         * (zlib's raw modes stop at 9 for deflate and we need no finer economy here). */
        int bits = p->neg.rx_bits < WS__PMD_ZLIB_MIN_BITS ? (int)WS__PMD_ZLIB_MIN_BITS
                                                            : p->neg.rx_bits;
        if (inflateInit2(&p->rx, -bits) != Z_OK)
            return WS_ERR_NOMEM;
        p->rx_live = 1;
    }
    p->rx_msg = 1;
    p->rx_tail = p->rx_done = p->rx_pending = 0;
    p->rx_boundary = 1;
    return WS_OK;
}

int ws__pmd_rx_in_message(const ws__pmd *p)
{
    return p && p->rx_msg;
}

static void rx_input(ws__pmd *p, const uint8_t *in, size_t n, int msg_end)
{
    p->in_p = in;
    p->in_n = n;
    p->in_end = (uint8_t)(msg_end != 0);
    p->in_stash = 0;
    p->rx.avail_in = 0;
}

/* Give zlib its next input: the message's bytes, then at its end the removed tail. */
static void rx_feed(ws__pmd *p)
{
    z_stream *z = &p->rx;

    if (p->rx_done) {
        /* After a final block nothing more of this message is data (section 7.2.3.4). */
        z->avail_in = 0;
        p->in_n = 0;
        return;
    }
    if (z->avail_in)
        return;
    if (p->in_n) {
        z->next_in = p->in_p;
        z->avail_in = z_len(p, p->in_n);
        p->in_p += z->avail_in;
        p->in_n -= z->avail_in;
    } else if (p->in_end && !p->rx_tail) {
        z->next_in = pmd_tail;
        z->avail_in = sizeof pmd_tail;
        p->rx_tail = 1;
    }
}

/* The largest LZ77 window, all inflateGetDictionary can return. */
#define RX_DICT_MAX (1u << WS__PMD_MAX_BITS)

/* A final block ended the stream: start a new one for the next message, keeping the window
 * when the peer takes its context over. */
static int rx_restart(ws__pmd *p)
{
    uint8_t *dict = NULL;
    uInt dlen = 0;

    if (!p->neg.rx_no_takeover) {
        dict = ws__malloc(&p->alloc, RX_DICT_MAX);
        if (!dict)
            return WS_ERR_NOMEM;
        inflateGetDictionary(&p->rx, dict, &dlen);
    }
    inflateReset(&p->rx);
    if (dict && dlen)
        inflateSetDictionary(&p->rx, dict, dlen);
    ws__free(&p->alloc, dict, RX_DICT_MAX);
    p->rx_done = 1;
    return WS_OK;
}

/*
 * Inflate the pending input into out[0..cap). Returns 1 when out is full (more may follow),
 * 0 when the input is used up and all its output flushed, or an error. Z_BLOCK makes inflate
 * stop at block boundaries and say so (data_type bit 128): a message must end on one, which
 * catches a truncated stream at its own message rather than corrupting the next.
 */
static int inflate_into(ws__pmd *p, uint8_t *out, size_t cap, size_t *made)
{
    z_stream *z = &p->rx;

    *made = 0;
    for (;;) {
        rx_feed(p);
        if (*made == cap)
            return 1;
        if (p->rx_done)
            return 0;
        uInt room = z_len(p, cap - *made), in_before = z->avail_in;
        z->next_out = out + *made;
        z->avail_out = room;
        int r = inflate(z, Z_BLOCK);
        *made += room - z->avail_out;
        if (room != z->avail_out || in_before != z->avail_in)
            p->rx_boundary = (uint8_t)((z->data_type & 128) != 0);
        if (r == Z_STREAM_END) {
            if ((r = rx_restart(p)) < 0)
                return r;
            continue;
        }
        if (r == Z_MEM_ERROR)
            return WS_ERR_NOMEM;
        if (r != Z_OK && r != Z_BUF_ERROR)
            return WS_ERR_DEFLATE_DATA;
        if (z->avail_out == 0)
            continue;
        if (z->avail_in == 0) {
            if (p->in_n == 0 && (!p->in_end || p->rx_tail))
                return 0;
            continue;
        }
        if (z->avail_in == in_before && z->avail_out == room)
            return WS_ERR_DEFLATE_DATA; /* no progress with input and room: cannot happen */
    }
}

static int rx_finish_check(const ws__pmd *p)
{
    return p->in_end && !p->rx_done && !p->rx_boundary ? WS_ERR_DEFLATE_DATA : WS_OK;
}

/* Output is left to make for the input given: the caller's input is only borrowed for the
 * call, so keep what zlib has not read (a small stash), to go on from it later. Returns 1. */
static int rx_keep(ws__pmd *p)
{
    if (!p->rx_tail && !p->in_stash) {
        size_t k = p->rx.avail_in, total = k + p->in_n;
        if (total > p->stash_cap) {
            uint8_t *s = ws__malloc(&p->alloc, total);
            if (!s)
                return WS_ERR_NOMEM;
            ws__free(&p->alloc, p->stash, p->stash_cap);
            p->stash = s;
            p->stash_cap = total;
        }
        if (k && p->rx.next_in) /* zlib left k unread bytes at next_in */
            memcpy(p->stash, p->rx.next_in, k);
        if (p->in_n && p->in_p) /* in_p is set whenever in_n is: said for the analyzer */
            memcpy(p->stash + k, p->in_p, p->in_n);
        p->rx.avail_in = 0;
        p->in_p = p->stash;
        p->in_n = total;
        p->in_stash = 1;
    }
    p->rx_pending = 1;
    return 1;
}

int ws__pmd_rx_append(ws__pmd *p, const uint8_t *in, size_t n, int msg_end, uint8_t **buf,
                      size_t *len, size_t *cap, uint64_t limit, size_t step)
{
    size_t made, start = *len;
    int r;

    if (in || !p->rx_pending)
        rx_input(p, in, n, msg_end);
    p->rx_pending = 0;
    if (limit > SIZE_MAX)
        limit = SIZE_MAX;
    for (;;) {
        if (step && *len - start >= step) {
            /* This call's share of work is done; more may follow from the same input. */
            if ((r = rx_keep(p)) < 0)
                return r;
            return 1;
        }
        /* The buffer may be larger than a limit lowered since it grew: never write past it. */
        size_t end = *cap < limit ? *cap : (size_t)limit;
        if (*len >= end) {
            if (*len >= limit) {
                /* At the limit: one more byte of output means the message is too big. */
                uint8_t probe;
                if ((r = inflate_into(p, &probe, 1, &made)) < 0)
                    return r;
                if (made)
                    return WS_ERR_MESSAGE_TOO_BIG;
                break;
            }
            size_t want = *cap ? (*cap > SIZE_MAX / 2 ? SIZE_MAX : *cap * 2) : 1024;
            if (want > limit)
                want = (size_t)limit;
            uint8_t *q = ws__realloc(&p->alloc, *buf, *cap, want);
            if (!q)
                return WS_ERR_NOMEM;
            *buf = q;
            *cap = want;
        }
        end = *cap < limit ? *cap : (size_t)limit;
        if (step && end - *len > step - (*len - start))
            end = *len + (step - (*len - start));
        r = inflate_into(p, *buf + *len, end - *len, &made);
        *len += made;
        if (r < 0)
            return r;
        if (r == 0)
            break;
    }
    return rx_finish_check(p);
}

int ws__pmd_rx_stream(ws__pmd *p, const uint8_t *in, size_t n, int msg_end, size_t max_out,
                      const uint8_t **out, size_t *out_len)
{
    size_t made;
    int r;

    if (in || !p->rx_pending)
        rx_input(p, in, n, msg_end);
    if (!p->chunk && !(p->chunk = ws__malloc(&p->alloc, WS__PMD_OUT_CHUNK)))
        return WS_ERR_NOMEM;
    /* Never inflate further than one byte past the message limit: the limit is then reported
     * (1009) exactly as when reassembling, before any corruption further on is reached. */
    r = inflate_into(p, p->chunk, max_out < WS__PMD_OUT_CHUNK ? max_out : WS__PMD_OUT_CHUNK,
                     &made);
    if (r < 0)
        return r;
    *out = p->chunk;
    *out_len = made;
    if (r == 1)
        return rx_keep(p);
    p->rx_pending = 0;
    if ((r = rx_finish_check(p)) < 0)
        return r;
    return 0;
}

int ws__pmd_rx_pending(const ws__pmd *p)
{
    if (!p || !p->rx_pending)
        return 0;
    return p->in_end ? 2 : 1;
}

void ws__pmd_rx_end(ws__pmd *p)
{
    p->rx_msg = 0;
    p->rx_pending = 0;
    if (p->neg.rx_no_takeover)
        rx_release(p, 0);
}

#else
/* Without zlib the codec is deflate_none.c; ISO C wants a declaration in every file. */
typedef int ws__deflate_needs_zlib;
#endif
