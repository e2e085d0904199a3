/* Private to lib/: what the layers share. Nothing here is part of the ABI. */
#ifndef WS_LIB_INTERNAL_H
#define WS_LIB_INTERNAL_H

#include "ws.h"

#include <stdint.h>
#include <string.h>

#include <stddef.h>

/* ---- allocation through the caller's hooks ---- */

/* Resolve a possibly-NULL caller allocator into a complete one (malloc/realloc/free set).
 * WS_OK, or WS_ERR_INVALID_ARG for a struct smaller than the 0.2 layout or without malloc and
 * free. */
int ws__alloc_init(ws_allocator *dst, const ws_allocator *src);
/* The allocator a NULL ws_allocator stands for: malloc, realloc, free. */
void *ws__default_malloc(void *user, size_t n);
void *ws__default_realloc(void *user, void *p, size_t old_n, size_t n);
void ws__default_free(void *user, void *p, size_t n);
void *ws__malloc(const ws_allocator *a, size_t n);
void *ws__realloc(const ws_allocator *a, void *p, size_t old_n, size_t n);
/* n: the size p was allocated (or last reallocated) with -- the hook gets it (ws.h). */
void ws__free(const ws_allocator *a, void *p, size_t n);

/* ---- caller structs that grow (ws.h rule 4) ---- */

/* The 0.2 layouts: the smallest size a caller may pass. Later versions keep these values. */
#define WS__END_OF(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))
#define WS__MIN_ALLOCATOR WS__END_OF(ws_allocator, free)
#define WS__MIN_FRAME_HEADER WS__END_OF(ws_frame_header, violations)
#define WS__MIN_FRAME_EVENT WS__END_OF(ws_frame_event, offset)
#define WS__MIN_CHECK_EVENT WS__END_OF(ws_check_event, len)
#define WS__MIN_URI WS__END_OF(ws_uri, ipv6)
#define WS__MIN_EVENT WS__END_OF(ws_event, len)
#define WS__MIN_STATS WS__END_OF(ws_conn_stats, closed_by_peer)
#define WS__MIN_DEFLATE_PARAMS WS__END_OF(ws_deflate_params, client_max_window_bits)
#define WS__MIN_BACKOFF WS__END_OF(ws_backoff, connected_at)

/* Copy a struct of src_size bytes into one of dst_size bytes: no byte past dst_size is
 * written, and what dst has beyond src is zeroed (a field the other side does not know). */
static inline void ws__struct_copy(void *dst, size_t dst_size, const void *src, size_t src_size)
{
    if (dst_size <= src_size) {
        memcpy(dst, src, dst_size);
    } else {
        memcpy(dst, src, src_size);
        memset((unsigned char *)dst + src_size, 0, dst_size - src_size);
    }
}

/* ---- masking kernels, exposed so the tests can check each one against the reference ---- */

size_t ws__mask_copy_scalar(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4],
                            size_t offset);
size_t ws__mask_copy_simd(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4],
                          size_t offset);
size_t ws__mask_copy_avx2(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4],
                          size_t offset);
/* Which kernels this build and this CPU can run: bit 0 SIMD (SSE2/NEON), bit 1 AVX2. */
unsigned ws__mask_kernels(void);
/* The kernel ws_mask_copy runs for n bytes here: 0 scalar, 1 SIMD (or its fallback), 2 AVX2. */
unsigned ws__mask_kernel_for(size_t n);

/* ---- frame decoder state, embedded by value in the connection ---- */

struct ws_frame_decoder {
    ws_frame_header hdr;   /* header being parsed, or the frame whose payload is streaming */
    uint64_t remaining;    /* payload bytes still to come (handed out: payload_len - it) */
    uint64_t max_payload;
    unsigned flags;
    int error;             /* sticky error, 0 if none */
    uint8_t state;         /* WS__DEC_HEADER, WS__DEC_PAYLOAD, WS__DEC_EMPTY */
    uint8_t mask_off;      /* running key offset for the payload */
    uint8_t hbuf_len;      /* header bytes buffered so far */
    uint8_t fast;          /* WS_FRAME_WHOLE's straight line may run (between frames, nothing
                              buffered, no error): bit 0 takes unmasked frames, bit 1 masked
                              ones, by the role flags; 0: it may not. Kept by frame.c after
                              every change of flags, state, buffer or error. */
    uint8_t hbuf[WS_FRAME_MAX_HEADER];
};

enum { WS__DEC_HEADER = 0, WS__DEC_PAYLOAD = 1, WS__DEC_EMPTY = 2 };

/* Between frames with nothing buffered: the next byte fed starts a frame header. */
static inline int ws__frame_decoder_idle(const ws_frame_decoder *d)
{
    return d->state == WS__DEC_HEADER && d->hbuf_len == 0;
}
/* The flags and payload limit the decoder checks headers with. */
static inline uint32_t ws__frame_decoder_flags(const ws_frame_decoder *d)
{
    return d->flags;
}
static inline uint64_t ws__frame_decoder_max(const ws_frame_decoder *d)
{
    return d->max_payload;
}

/* The decoder embedded in a connection carries no allocator of its own (the connection has
 * one); a standalone decoder from ws_frame_decoder_new lives in a box beside its allocator. */
void ws__frame_decoder_init(ws_frame_decoder *d);
/* The decoder and header codec without the size handling of the public wrappers (ws.h rule
 * 4), for the library's own structs. */
int ws__frame_decoder_step(ws_frame_decoder *d, uint8_t *in, size_t n, size_t *consumed,
                           ws_frame_event *ev);
int ws__frame_parse_header(const uint8_t *in, size_t n, uint32_t flags, uint64_t max_payload,
                           ws_frame_header *h);
int ws__frame_write_header(uint8_t *out, size_t cap, const ws_frame_header *h);

/* ---- output queue (outq.c) ---- */

/* A block of owned output bytes: data[0..len) are the owned stream's [start, start + len). */
typedef struct ws_outq_blk {
    struct ws_outq_blk *next;
    uint64_t start;
    size_t len, cap;
    uint8_t data[];
} ws_outq_blk;

/* A borrowed payload, sent after the owned stream's byte `at`; token: what
 * ws__outq_released reports once it is written (NULL: nothing). */
typedef struct ws_borrow {
    uint64_t at;
    const uint8_t *p;
    size_t len;
    const void *token;
} ws_borrow;

/* A position in the queue: before owned byte `owned`, inside (or before) mark mi by moff. */
typedef struct ws_outq_cursor {
    uint64_t owned;
    size_t mi, moff;
} ws_outq_cursor;

typedef struct ws_outq {
    ws_outq_blk *head, *tail, *spare;
    ws_borrow *marks;    /* [mhead, ack.mi): written, not yet collected; then pending */
    size_t mhead, mcount, mcap;
    ws_outq_cursor ack, take;
    uint64_t queued, taken, acked; /* all bytes ever queued / taken in flight / written */
} ws_outq;

/* What ws__outq_rollback restores (a send that failed half-way queues nothing). */
typedef struct ws_outq_mark {
    ws_outq_blk *tail;
    uint64_t tail_start;
    size_t tail_len, mcount;
    uint64_t queued;
} ws_outq_mark;

void ws__outq_free(ws_outq *q, const ws_allocator *a);
uint8_t *ws__outq_reserve_slow(ws_outq *q, const ws_allocator *a, size_t n);
/* Room for n owned bytes at the tail (NULL on allocation failure); ws__outq_commit makes the
 * bytes written there part of the queue. Nothing already queued moves. */
static inline uint8_t *ws__outq_reserve(ws_outq *q, const ws_allocator *a, size_t n)
{
    ws_outq_blk *t = q->tail;
    if (t && t->cap - t->len >= n)
        return t->data + t->len;
    return ws__outq_reserve_slow(q, a, n);
}
/* As ws__outq_reserve, but a new block is the least that will do (a burst does not grow it):
 * for when a memory bound refused the bigger one. */
uint8_t *ws__outq_reserve_least(ws_outq *q, const ws_allocator *a, size_t n);
/* Room for n owned bytes at the tail if there is some already (no allocation): the place to
 * write them, or NULL. */
static inline uint8_t *ws__outq_room_now(const ws_outq *q, size_t n)
{
    const ws_outq_blk *t = q->tail;
    return t && t->cap - t->len >= n ? (uint8_t *)t->data + t->len : NULL;
}
static inline uint64_t ws__outq_queued(const ws_outq *q)
{
    return q->queued;
}
static inline uint64_t ws__outq_acked(const ws_outq *q)
{
    return q->acked;
}
static inline void ws__outq_commit(ws_outq *q, size_t n)
{
    q->tail->len += n;
    q->queued += n;
}
/* Queue len bytes at p by reference; token (or NULL) is reported by ws__outq_released once
 * they are written. len may be 0: a release record only. Fails only when the list must grow
 * and cannot (see ws__outq_room). */
int ws__outq_borrow(ws_outq *q, const ws_allocator *a, const uint8_t *p, size_t len,
                    const void *token);
/* Room for k more borrowed pieces without allocating: WS_OK or WS_ERR_NOMEM. */
int ws__outq_room(ws_outq *q, const ws_allocator *a, size_t k);
void ws__outq_mark(const ws_outq *q, ws_outq_mark *m);
void ws__outq_rollback(ws_outq *q, const ws_allocator *a, const ws_outq_mark *m);
/* The bytes after the taken cursor, as up to cnt chunks. */
int ws__outq_iov(const ws_outq *q, ws_iovec *iov, int cnt);
int ws__outq_take(ws_outq *q, size_t n);
int ws__outq_ack(ws_outq *q, const ws_allocator *a, size_t n);
/* The token of the oldest borrowed piece wholly written and not yet collected: 1 and *token,
 * or 0. */
int ws__outq_released(ws_outq *q, const void **token);
/* Give back what a quiet line does not need: the spare block, a drained tail, an empty
 * borrow list. Busy connections keep theirs and allocate nothing per message. */
void ws__outq_trim(ws_outq *q, const ws_allocator *a);
static inline size_t ws__outq_pending(const ws_outq *q)
{
    return (size_t)(q->queued - q->acked);
}
/* Holds memory that ws__outq_trim would give back. */
static inline int ws__outq_trimmable(const ws_outq *q)
{
    return q->spare || (q->tail && q->queued == q->acked) || (q->marks && q->mcount == 0);
}

/* ---- small-payload kernels for the connection's fast paths ---- */

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WS__KEY_ROT(k, bits, r) ((k) >> (r) | (k) << (((bits) - (r)) & ((bits) - 1)))
#elif defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#define WS__KEY_ROT(k, bits, r) ((k) << (r) | (k) >> (((bits) - (r)) & ((bits) - 1)))
#endif

/*
 * Unmask n bytes in place (key k4: the 4 key bytes as they lie in memory, at offset 0), 8 bytes
 * at a time; for short payloads, where setting up ws_mask's vectors costs more than it saves.
 * From 4 bytes on, the tail is one word ending at the last byte, loaded before anything is
 * stored: where it overlaps the words before it, both give each byte the same value (each is
 * masked once, from the original). Its key is the repeating key turned to start at byte
 * (n & 3): WS__KEY_ROT, by byte order. Returns the OR of the unmasked bytes, a word at a time
 * (test its 0x80 bits for ASCII, or ignore it: inlined, it then costs nothing).
 */
static inline __attribute__((always_inline)) uint64_t ws__unmask_short_or(uint8_t *p, size_t n,
                                                                          uint32_t k4)
{
    uint64_t acc = 0;
#ifdef WS__KEY_ROT
    if (n >= 8) {
        uint64_t k8 = (uint64_t)k4 << 32 | k4, w, t;
        unsigned r = (unsigned)(n & 3) * 8;
        memcpy(&t, p + n - 8, 8);
        t ^= WS__KEY_ROT(k8, 64u, r);
        acc = t;
        if (n > 8) {
            memcpy(&w, p, 8);
            w ^= k8;
            acc |= w;
            memcpy(p, &w, 8);
            for (size_t i = 8; n - i > 8; i += 8) {
                memcpy(&w, p + i, 8);
                w ^= k8;
                acc |= w;
                memcpy(p + i, &w, 8);
            }
        }
        memcpy(p + n - 8, &t, 8);
        return acc;
    }
    if (n >= 4) {
        uint32_t a, t;
        unsigned r = (unsigned)(n & 3) * 8;
        memcpy(&a, p, 4);
        memcpy(&t, p + n - 4, 4);
        a ^= k4;
        t ^= WS__KEY_ROT(k4, 32u, r);
        memcpy(p, &a, 4);
        memcpy(p + n - 4, &t, 4);
        return a | t;
    }
#else
    {
        uint64_t k8 = (uint64_t)k4 << 32 | k4, w; /* byte order does not matter here */
        while (n >= 8) {
            memcpy(&w, p, 8);
            w ^= k8;
            acc |= w;
            memcpy(p, &w, 8);
            p += 8;
            n -= 8;
        }
    }
#endif
    {
        uint8_t key[4];
        memcpy(key, &k4, 4);
        for (size_t i = 0; i < n; i++) {
            p[i] ^= key[i & 3];
            acc |= p[i];
        }
    }
    return acc;
}

/* ws__unmask_short_or without the answer. */
static inline void ws__unmask_short_k(uint8_t *p, size_t n, uint32_t k4)
{
    (void)ws__unmask_short_or(p, n, k4);
}

/* As ws__unmask_short_k, the key as bytes. */
static inline void ws__unmask_short(uint8_t *p, size_t n, const uint8_t key[4])
{
    uint32_t k4;
    memcpy(&k4, key, 4);
    (void)ws__unmask_short_or(p, n, k4);
}

/* Unmask n bytes in place like ws__unmask_short; returns 1 if the result is all ASCII. */
static inline __attribute__((always_inline)) int ws__unmask_short_ascii(uint8_t *p, size_t n,
                                                                         const uint8_t key[4])
{
    uint32_t k4;
    memcpy(&k4, key, 4);
    return (ws__unmask_short_or(p, n, k4) & 0x8080808080808080u) == 0;
}

/* 1 if the n bytes are all ASCII (then valid UTF-8 whatever came before a boundary). */
static inline int ws__all_ascii(const uint8_t *p, size_t n)
{
    uint64_t acc = 0, w;
    while (n >= 8) {
        memcpy(&w, p, 8);
        acc |= w;
        p += 8;
        n -= 8;
    }
    uint8_t b = 0;
    for (size_t i = 0; i < n; i++)
        b |= p[i];
    return ((acc & 0x8080808080808080u) | (b & 0x80u)) == 0;
}

/* Big-endian loads and stores, independent of host byte order and alignment. */
static inline uint16_t ws__load_be16(const uint8_t *p)
{
    return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}
static inline uint64_t ws__load_be64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}
static inline void ws__store_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void ws__store_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (uint8_t)v;
        v >>= 8;
    }
}

#endif
