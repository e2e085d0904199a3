/*
 * The output queue: owned bytes in one linear buffer, plus "borrowed" payloads referenced in
 * place (zero-copy sends). A borrowed piece is anchored at a position of the owned stream, so
 * walking the queue interleaves the two in send order. The caller gets iovecs and acknowledges
 * what the socket took (BearSSL's buf/ack shape): partial writes need no copy.
 */
#include "internal.h"


void ws__outq_free(ws_outq *q, const ws_allocator *a)
{
    ws__free(a, q->buf, q->cap);
    ws__free(a, q->marks, q->mcap * sizeof *q->marks);
    memset(q, 0, sizeof *q);
}

uint8_t *ws__outq_reserve(ws_outq *q, const ws_allocator *a, size_t n)
{
    if (q->cap - q->tail >= n)
        return q->buf + q->tail;
    if (q->head > 0) {
        memmove(q->buf, q->buf + q->head, q->tail - q->head);
        q->tail -= q->head;
        q->head = 0;
        if (q->cap - q->tail >= n)
            return q->buf + q->tail;
    }
    if (n > SIZE_MAX / 2 - q->tail)
        return NULL;
    size_t want = q->tail + n, cap = q->cap ? q->cap : 256;
    while (cap < want)
        cap *= 2;
    uint8_t *p = ws__realloc(a, q->buf, q->cap, cap);
    if (!p)
        return NULL;
    q->buf = p;
    q->cap = cap;
    return q->buf + q->tail;
}

void ws__outq_commit(ws_outq *q, size_t n)
{
    q->tail += n;
    q->owned_in += n;
    q->queued += n;
}

int ws__outq_borrow(ws_outq *q, const ws_allocator *a, const uint8_t *p, size_t len)
{
    if (len == 0)
        return WS_OK;
    if (q->mhead + q->mcount == q->mcap) {
        if (q->mhead > 0) {
            memmove(q->marks, q->marks + q->mhead, q->mcount * sizeof *q->marks);
            q->mhead = 0;
        } else {
            size_t cap = q->mcap ? q->mcap * 2 : 4;
            ws_borrow *m = ws__realloc(a, q->marks, q->mcap * sizeof *m, cap * sizeof *m);
            if (!m)
                return WS_ERR_NOMEM;
            q->marks = m;
            q->mcap = cap;
        }
    }
    ws_borrow *m = &q->marks[q->mhead + q->mcount++];
    m->at = q->owned_in;
    m->p = p;
    m->len = len;
    m->off = 0;
    q->queued += len;
    return WS_OK;
}

int ws__outq_iov(const ws_outq *q, ws_iovec *iov, int cnt)
{
    uint64_t pos = q->owned_out; /* owned-stream position of buf[head] */
    size_t h = q->head;
    size_t mi = q->mhead, mend = q->mhead + q->mcount;
    int k = 0;

    while (k < cnt) {
        if (mi < mend && q->marks[mi].at == pos) {
            iov[k].base = q->marks[mi].p + q->marks[mi].off;
            iov[k].len = q->marks[mi].len - q->marks[mi].off;
            k++;
            mi++;
            continue;
        }
        size_t n = q->tail - h;
        if (mi < mend && q->marks[mi].at - pos < n)
            n = (size_t)(q->marks[mi].at - pos);
        if (n == 0)
            break;
        iov[k].base = q->buf + h;
        iov[k].len = n;
        k++;
        h += n;
        pos += n;
    }
    return k;
}

int ws__outq_ack(ws_outq *q, const ws_allocator *a, size_t n)
{
    if (n > q->queued - q->acked)
        return WS_ERR_INVALID_ARG;
    q->acked += n;
    while (n > 0) {
        if (q->mcount && q->marks[q->mhead].at == q->owned_out) {
            ws_borrow *m = &q->marks[q->mhead];
            size_t k = m->len - m->off < n ? m->len - m->off : n;
            m->off += k;
            n -= k;
            if (m->off == m->len) {
                q->mhead++;
                if (--q->mcount == 0)
                    q->mhead = 0;
            }
            continue;
        }
        size_t k = q->tail - q->head;
        if (q->mcount && q->marks[q->mhead].at - q->owned_out < k)
            k = (size_t)(q->marks[q->mhead].at - q->owned_out);
        if (k > n)
            k = n;
        q->head += k;
        q->owned_out += k;
        n -= k;
    }
    (void)a; /* a drained buffer is kept: ws__outq_trim gives it back once the line is quiet */
    if (q->head == q->tail) {
        q->head = q->tail = 0;
        if (q->mcount == 0)
            q->mhead = 0;
    }
    return WS_OK;
}

void ws__outq_trim(ws_outq *q, const ws_allocator *a)
{
    if (q->head == q->tail && q->mcount == 0 && q->cap > 0) {
        ws__free(a, q->buf, q->cap);
        q->buf = NULL;
        q->cap = 0;
        q->head = q->tail = 0;
    }
}
