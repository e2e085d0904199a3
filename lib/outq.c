/*
 * The output queue: what the connection has to send, in order, until the caller reports it
 * written (BearSSL's buf/ack shape: partial writes need no copy).
 *
 * Owned bytes (frame headers, copied payloads) live in a chain of blocks that are never moved
 * or reallocated: a block fills up and the next one is chained after it, so every byte the
 * caller has been shown stays where it is until it is acknowledged -- which is what lets a
 * completion-based loop keep several writes in flight (ws__outq_take). Borrowed payloads
 * (zero-copy sends) are referenced in place, each anchored at a position of the owned byte
 * stream, so walking the queue interleaves the two in send order. A borrowed piece whose bytes
 * are all written is kept until the caller collects it (ws__outq_released).
 *
 * Two cursors walk the queue: the acknowledged one (everything before it is written and given
 * up) and the taken one (everything before it is in flight); taken >= acknowledged. A drained
 * tail block is reused from its start, and one drained block is kept spare, so a busy
 * connection allocates nothing per message; ws__outq_trim gives both back once the line is
 * quiet.
 */
#include "internal.h"

/* Smallest block (2 KiB with its header); a bigger frame gets a block of its own size. A line
 * that fills its tail block while bytes in it are still unwritten (a burst: several messages
 * echoed per read) chains one twice as big, up to BLK_KEEP_MAX with its header, so that a
 * burst soon fits in one block -- reused from its start once written -- instead of taking a
 * block (an allocation) per message. Otherwise the next block is as big as the last one, up
 * to BLK_KEEP_MAX: one large message must not make every later block large (memory a
 * connection near its limit would be refused for a small frame). */
enum { BLK_MIN = 2048 - (int)sizeof(ws_outq_blk), BLK_KEEP_MAX = 65536 };

/* The size of the block to chain after the tail t for n bytes (busy: t holds bytes unwritten). */
static size_t blk_next_cap(const ws_outq_blk *t, int busy, size_t n)
{
    size_t cap = BLK_MIN, hdr = sizeof *t, max = BLK_KEEP_MAX - hdr;
    if (t && busy)
        cap = t->cap < max / 2 ? 2 * (t->cap + hdr) - hdr : max;
    else if (t && t->cap > cap)
        cap = t->cap < max ? t->cap : max; /* a busy line's size */
    return cap < n ? n : cap;
}

static size_t blk_bytes(const ws_outq_blk *b)
{
    return sizeof *b + b->cap;
}

void ws__outq_free(ws_outq *q, const ws_allocator *a)
{
    ws_outq_blk *b = q->head;
    while (b) {
        ws_outq_blk *next = b->next;
        ws__free(a, b, blk_bytes(b));
        b = next;
    }
    if (q->spare)
        ws__free(a, q->spare, blk_bytes(q->spare));
    ws__free(a, q->marks, q->mcap * sizeof *q->marks);
    memset(q, 0, sizeof *q);
}

/* Owned-stream position just past the tail block: where the next owned byte goes. */
static uint64_t owned_end(const ws_outq *q)
{
    return q->tail ? q->tail->start + q->tail->len : q->ack.owned;
}

static void blk_drop(ws_outq *q, const ws_allocator *a, ws_outq_blk *b)
{
    if (!q->spare || q->spare->cap < b->cap) {
        ws_outq_blk *old = q->spare;
        q->spare = b;
        b = old;
    }
    if (b)
        ws__free(a, b, blk_bytes(b));
}

/* A block for n more bytes after the tail. grow: a burst may double the next one; else the
 * least that will do (the spare, or a new block of max(n, BLK_MIN)). */
static uint8_t *reserve_blk(ws_outq *q, const ws_allocator *a, size_t n, int grow)
{
    ws_outq_blk *t = q->tail, *b;
    uint64_t end = owned_end(q);

    /* A drained tail (nothing of it unwritten, so nothing shown and unacknowledged) is
     * reused from its start. */
    if (t && q->ack.owned == end && t->cap >= n) {
        t->start = end;
        t->len = 0;
        return t->data;
    }
    if (n > SIZE_MAX / 2)
        return NULL;
    int busy = t && q->ack.owned < end;
    size_t cap = grow ? blk_next_cap(t, busy, n) : n > BLK_MIN ? n : BLK_MIN;
    /* A growing line takes a new block rather than a smaller spare (which stays spare). */
    if (q->spare && q->spare->cap >= n && !(grow && busy && q->spare->cap < cap)) {
        b = q->spare;
        q->spare = NULL;
    } else {
        b = ws__malloc(a, sizeof *b + cap);
        if (!b)
            return NULL;
        b->cap = cap;
    }
    b->next = NULL;
    b->start = end;
    b->len = 0;
    /* Chained after the tail even when that one is drained: a send in progress may still
     * roll back to it (ws__outq_rollback); ws__outq_ack drops drained blocks at the head. */
    if (t)
        t->next = b;
    else
        q->head = b;
    q->tail = b;
    return b->data;
}

uint8_t *ws__outq_reserve_slow(ws_outq *q, const ws_allocator *a, size_t n)
{
    return reserve_blk(q, a, n, 1);
}

uint8_t *ws__outq_reserve_least(ws_outq *q, const ws_allocator *a, size_t n)
{
    return reserve_blk(q, a, n, 0);
}

int ws__outq_room(ws_outq *q, const ws_allocator *a, size_t k)
{
    if (q->mcap - q->mcount >= k) {
        if (q->mcap - (q->mhead + q->mcount) < k) {
            memmove(q->marks, q->marks + q->mhead, q->mcount * sizeof *q->marks);
            q->ack.mi -= q->mhead;
            q->take.mi -= q->mhead;
            q->mhead = 0;
        }
        return WS_OK;
    }
    if (k > SIZE_MAX / 2 / sizeof *q->marks - q->mcount)
        return WS_ERR_NOMEM;
    size_t cap = q->mcap ? q->mcap * 2 : 4;
    while (cap < q->mcount + k)
        cap *= 2;
    ws_borrow *m = ws__malloc(a, cap * sizeof *m);
    if (!m)
        return WS_ERR_NOMEM;
    if (q->mcount)
        memcpy(m, q->marks + q->mhead, q->mcount * sizeof *m);
    ws__free(a, q->marks, q->mcap * sizeof *q->marks);
    q->ack.mi -= q->mhead;
    q->take.mi -= q->mhead;
    q->mhead = 0;
    q->marks = m;
    q->mcap = cap;
    return WS_OK;
}

int ws__outq_borrow(ws_outq *q, const ws_allocator *a, const uint8_t *p, size_t len,
                    const void *token)
{
    int r = ws__outq_room(q, a, 1);
    if (r < 0)
        return r;
    ws_borrow *m = &q->marks[q->mhead + q->mcount++];
    m->at = owned_end(q);
    m->p = p;
    m->len = len;
    m->token = token;
    q->queued += len;
    return WS_OK;
}

void ws__outq_mark(const ws_outq *q, ws_outq_mark *m)
{
    m->tail = q->tail;
    m->tail_start = q->tail ? q->tail->start : 0;
    m->tail_len = q->tail ? q->tail->len : 0;
    m->queued = q->queued;
    m->mcount = q->mcount;
}

void ws__outq_rollback(ws_outq *q, const ws_allocator *a, const ws_outq_mark *m)
{
    /* Since the mark, nothing was acknowledged: the mark's tail block is still in the chain
     * (reserve may have restarted it if it was drained), and the blocks after it hold only
     * bytes queued since. */
    ws_outq_blk *b = m->tail, *rest = b ? b->next : q->head;
    if (b) {
        b->next = NULL;
        b->start = m->tail_start;
        b->len = m->tail_len;
    } else {
        q->head = NULL;
    }
    q->tail = b;
    while (rest) {
        ws_outq_blk *next = rest->next;
        blk_drop(q, a, rest);
        rest = next;
    }
    q->queued = m->queued;
    q->mcount = m->mcount;
}

/* Advance cursor k by n bytes (n no more than what lies after it). */
static void cursor_advance(const ws_outq *q, ws_outq_cursor *k, size_t n)
{
    size_t mend = q->mhead + q->mcount;
    for (;;) {
        /* Borrowed pieces anchored here come first; empty ones are passed at once. */
        while (k->mi < mend && q->marks[k->mi].at == k->owned) {
            size_t left = q->marks[k->mi].len - k->moff;
            if (left > n) {
                k->moff += n;
                return;
            }
            n -= left;
            k->mi++;
            k->moff = 0;
        }
        if (n == 0)
            return;
        uint64_t step = n;
        if (k->mi < mend && q->marks[k->mi].at - k->owned < step)
            step = q->marks[k->mi].at - k->owned;
        k->owned += step;
        n -= (size_t)step;
    }
}

int ws__outq_iov(const ws_outq *q, ws_iovec *iov, int cnt)
{
    const ws_outq_cursor *k = &q->take;
    uint64_t pos = k->owned, end = owned_end(q);
    size_t mi = k->mi, moff = k->moff, mend = q->mhead + q->mcount;
    const ws_outq_blk *b = q->head;
    int n = 0;

    while (b && b->start + b->len <= pos && b->next)
        b = b->next;
    while (n < cnt) {
        if (mi < mend && q->marks[mi].at == pos) {
            if (q->marks[mi].len > moff) {
                iov[n].base = q->marks[mi].p + moff;
                iov[n].len = q->marks[mi].len - moff;
                n++;
            }
            mi++;
            moff = 0;
            continue;
        }
        while (b && b->start + b->len <= pos)
            b = b->next;
        if (pos == end || !b) /* (a byte before the end always lies in a block) */
            break;
        uint64_t stop = b->start + b->len;
        if (mi < mend && q->marks[mi].at < stop)
            stop = q->marks[mi].at;
        iov[n].base = b->data + (pos - b->start);
        iov[n].len = (size_t)(stop - pos);
        n++;
        pos = stop;
    }
    return n;
}

int ws__outq_take(ws_outq *q, size_t n)
{
    if (n > q->queued - q->taken)
        return WS_ERR_INVALID_ARG;
    q->taken += n;
    cursor_advance(q, &q->take, n);
    return WS_OK;
}

int ws__outq_ack(ws_outq *q, const ws_allocator *a, size_t n)
{
    if (n > q->queued - q->acked)
        return WS_ERR_INVALID_ARG;
    q->acked += n;
    cursor_advance(q, &q->ack, n);
    if (q->acked >= q->taken) {
        q->taken = q->acked;
        q->take = q->ack;
    }
    /* Written pieces nobody collects are forgotten at once. */
    while (q->mhead < q->ack.mi && !q->marks[q->mhead].token) {
        q->mhead++;
        if (--q->mcount == 0)
            q->ack.mi = q->take.mi = q->mhead = 0;
    }
    /* Blocks wholly written are given up (the drained tail stays, for reuse). */
    while (q->head != q->tail && q->head->start + q->head->len <= q->ack.owned) {
        ws_outq_blk *b = q->head;
        q->head = b->next;
        blk_drop(q, a, b);
    }
    /* A drained tail starts over now (nothing of it is shown and unacknowledged): the next
     * sends find room at once, the straight line of ws_conn_send included. */
    if (q->tail && q->ack.owned == q->tail->start + q->tail->len) {
        q->tail->start = q->ack.owned;
        q->tail->len = 0;
    }
    return WS_OK;
}

int ws__outq_released(ws_outq *q, const void **token)
{
    while (q->mhead < q->ack.mi) {
        const ws_borrow *m = &q->marks[q->mhead++];
        if (--q->mcount == 0)
            q->ack.mi = q->take.mi = q->mhead = 0;
        if (m->token) {
            *token = m->token;
            return 1;
        }
    }
    return 0;
}

void ws__outq_trim(ws_outq *q, const ws_allocator *a)
{
    if (q->spare) {
        ws__free(a, q->spare, blk_bytes(q->spare));
        q->spare = NULL;
    }
    if (q->tail && q->head == q->tail && q->ack.owned == owned_end(q)) {
        ws__free(a, q->tail, blk_bytes(q->tail));
        q->head = q->tail = NULL;
    }
    if (q->marks && q->mcount == 0) {
        ws__free(a, q->marks, q->mcap * sizeof *q->marks);
        q->marks = NULL;
        q->mcap = q->mhead = 0;
        q->ack.mi = q->take.mi = 0;
    }
}
