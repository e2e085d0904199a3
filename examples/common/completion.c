/*
 * The glue between a completion-based loop (libuv, io_uring) and ws_conn: see completion.h.
 */
#include "completion.h"

#include <stdlib.h>
#include <string.h>

static const struct cx_ops *ops;

void cx_init(struct ex_server *s, const struct cx_ops *o)
{
    (void)s;
    ops = o;
}

static struct cx_conn *cx(struct ex_client *cl)
{
    return (struct cx_conn *)cl->app;
}

/*
 * The output queued after the bytes in flight, as up to max chunks, taken in flight
 * (ws_conn_output_take): they stay where they are until acknowledged, and the next call
 * returns what follows them. Returns the chunk count (0: nothing new) and the byte count in
 * *bytes.
 */
static int take(struct ex_client *cl, ws_iovec *iov, int max, size_t *bytes)
{
    int k = ws_conn_output(cl->c, iov, max);
    size_t n = 0;
    for (int i = 0; i < k; i++)
        n += iov[i].len;
    if (k <= 0 || ws_conn_output_take(cl->c, n) != WS_OK)
        return 0;
    *bytes = n;
    cx(cl)->taken += n;
    return k;
}

/* The connection is over for the application: its ws_conn goes (once no write uses its
 * output any more), and the client leaves the table. */
static void forget(struct ex_server *s, struct ex_client *cl)
{
    struct cx_conn *x = cx(cl);
    if (s->on_drop)
        s->on_drop(s, cl);
    s->by_fd[cl->fd] = NULL;
    s->count--;
    if (x->writes > 0)
        x->held = cl->c;
    else
        ws_conn_free(cl->c);
    cl->c = NULL;
    free(x->left);
    x->left = NULL;
    x->left_len = 0;
}

static void release(struct ex_server *s, struct ex_client *cl)
{
    ex_timer_set(s, cl, WS_DEADLINE_NONE);
    cl->dead = 1;
    ops->close(s, cl);
}

void cx_drop(struct ex_server *s, struct ex_client *cl)
{
    if (cl->dead)
        return;
    if (cl->c)
        forget(s, cl);
    if (cl->lingering) {
        cl->lingering = 0;
        s->lingering--;
    }
    release(s, cl);
}

/* ws_conn wants the transport shut down (server.h, EX_LINGER_MS): half-close and read to the
 * peer's end of file, bounded. Nothing is in flight: the output is all acknowledged. */
static void start_linger(struct ex_server *s, struct ex_client *cl)
{
    if (cl->peer_eof || cl->reset) {
        cx_drop(s, cl);
        return;
    }
    forget(s, cl);
    cl->lingering = 1;
    cl->linger_bytes = 0;
    s->lingering++;
    if (ops->shutdown(s, cl) != 0) {
        cx_drop(s, cl);
        return;
    }
    ex_timer_set(s, cl, ex_now_ms() + EX_LINGER_MS);
    if (!cx(cl)->reading) {
        cx(cl)->reading = 1;
        ops->read(s, cl, 1);
    }
}

void cx_linger_input(struct ex_server *s, struct ex_client *cl, size_t n)
{
    cl->linger_bytes += n;
    if (n == 0 || cl->linger_bytes > EX_LINGER_BYTES)
        cx_drop(s, cl);
}

static void drain(struct ex_server *s, struct ex_client *cl)
{
    size_t work = 0;
    ex_drain_events(s, cl, &work, SIZE_MAX);
}

/* Keep input the library did not take, after what is kept already. 0 or -1 (no memory). */
static int keep(struct cx_conn *x, const uint8_t *p, size_t n)
{
    uint8_t *q = realloc(x->left, x->left_len + n);
    if (!q)
        return -1;
    memcpy(q + x->left_len, p, n);
    x->left = q;
    x->left_len += n;
    return 0;
}

/* Feed what was kept, as far as the library takes it now. 0, or -1 (out of memory). */
static int feed_left(struct ex_server *s, struct ex_client *cl)
{
    struct cx_conn *x = cx(cl);
    size_t taken = 0;
    if (ws_conn_feed(cl->c, x->left, x->left_len, &taken) < 0)
        return -1;
    x->left_len -= taken;
    if (x->left_len == 0) {
        free(x->left);
        x->left = NULL;
    } else {
        memmove(x->left, x->left + taken, x->left_len);
    }
    drain(s, cl);
    return 0;
}

void cx_update(struct ex_server *s, struct ex_client *cl)
{
    struct cx_conn *x = cx(cl);
    ws_iovec iov[CX_IOV];
    size_t bytes = 0;
    int k, submitted = 0, acked = 0;

    if (cl->dead || !cl->c)
        return;
    if (x->left_len && feed_left(s, cl) != 0) {
        cl->reset = 1;
        cx_drop(s, cl);
        return;
    }
    if (!cl->c || cl->dead)
        return;
    while (x->writes < CX_MAX_WRITES && (ops->ordered || x->writes == submitted) &&
           (k = take(cl, iov, CX_IOV, &bytes)) > 0) {
        long done = ops->write(s, cl, iov, k, bytes, x->writes == 0);
        if (done < 0) {
            cl->reset = 1;
            cx_drop(s, cl);
            return;
        }
        if (done > 0) { /* written at once: nothing older is in flight, these bytes are */
            x->taken -= (size_t)done;
            ws_conn_output_ack(cl->c, (size_t)done);
            acked = 1;
        }
        if ((size_t)done < bytes) {
            x->writes++;
            submitted++;
        }
    }
    if (submitted && ops->write_end)
        ops->write_end(s, cl);
    if (acked) {
        drain(s, cl); /* an ack may queue a pong, or fail the connection */
        if (!cl->c || cl->dead)
            return;
        if (ws_conn_output(cl->c, iov, 1) > 0 && x->writes < CX_MAX_WRITES) {
            cx_update(s, cl); /* what the events queued */
            return;
        }
    }
    if (ws_conn_wants_shutdown(cl->c)) {
        start_linger(s, cl);
        return;
    }
    int want = !cl->peer_eof && !x->left_len && ws_conn_buffered_amount(cl->c) <= s->pause_above;
    if (want != x->reading) {
        x->reading = want;
        ops->read(s, cl, want);
    }
    ex_timer_set(s, cl, ws_conn_next_deadline(cl->c));
}

void cx_input(struct ex_server *s, struct ex_client *cl, uint8_t *p, size_t n)
{
    if (cx(cl)->left_len) { /* after what waits (a read was in flight when reading stopped) */
        if (keep(cx(cl), p, n) != 0) {
            cl->reset = 1;
            cx_drop(s, cl);
        }
        return;
    }
    while (n > 0 && cl->c) {
        ws_event evs[EX_EVENT_BATCH];
        size_t used = 0, work = 0;
        /* One call feeds in place and takes a batch of events; the rest are drained below. */
        int r = ws_conn_feed_events(cl->c, p, n, &used, evs, EX_EVENT_BATCH, sizeof evs[0]);
        if (r == WS_ERR_EVENTS_PENDING) {
            /* Events wait (a message inflated in steps): the library keeps the rest. */
            size_t taken = 0, rest = n - used;
            r = ws_conn_feed(cl->c, p + used, rest, &taken);
            if (r >= 0 && taken < rest && keep(cx(cl), p + used + taken, rest - taken) != 0)
                r = WS_ERR_NOMEM;
            used = n;
        } else if (r > 0 && !ex_handle_events(s, cl, evs, r, &work)) {
            return; /* the handler ended the connection */
        }
        p += used;
        n -= used;
        drain(s, cl); /* every event of this input, before p is used again */
        if (!cl->c || cl->dead)
            return;
        if (r < 0 && r != WS_ERR_EVENTS_PENDING) {
            /* WS_ERR_NOMEM, WS_ERR_BUDGET: memory ran out before the input was even kept */
            cl->reset = 1;
            cx_drop(s, cl);
            return;
        }
        if (used == 0 && r >= 0)
            break;
    }
}

void cx_eof(struct ex_server *s, struct ex_client *cl)
{
    if (cl->lingering) {
        cx_linger_input(s, cl, 0);
        return;
    }
    if (cl->dead || !cl->c)
        return;
    cl->peer_eof = 1;
    ws_conn_feed_eof(cl->c);
    drain(s, cl);
    cx_update(s, cl);
}

void cx_written(struct ex_server *s, struct ex_client *cl, size_t bytes, int ok)
{
    struct cx_conn *x = cx(cl);
    x->writes--;
    x->taken -= bytes;
    if (!cl->c) { /* dropped meanwhile: its output is no longer written */
        if (x->held && x->writes == 0) {
            ws_conn_free(x->held);
            x->held = NULL;
        }
        return;
    }
    if (!ok) { /* the peer is gone: nothing more can be written */
        cl->peer_eof = 1;
        ws_conn_feed_eof(cl->c);
        drain(s, cl);
        cx_drop(s, cl);
        return;
    }
    ws_conn_output_ack(cl->c, bytes);
    drain(s, cl); /* an ack may queue a pong, or fail the connection */
    cx_update(s, cl);
}

static void run_timers(struct ex_server *s, uint64_t now)
{
    struct ex_client *cl;
    while ((cl = ex_timer_first(s)) != NULL && cl->deadline <= now) {
        if (cl->lingering) {
            cx_drop(s, cl); /* the peer did not close in time */
            continue;
        }
        ws_conn_tick(cl->c, now);
        drain(s, cl);
        cx_update(s, cl);
        /* Still due (a message inflated in steps): the heap's first entry must move on. */
        if (!cl->dead && cl->timer_slot && cl->deadline <= now)
            ex_timer_set(s, cl, now + 1);
    }
}

int cx_service(struct ex_server *s, int *exit_now)
{
    uint64_t now = ex_now_ms(), next = UINT64_MAX;

    *exit_now = 0;
    if (ex_stop && !s->draining)
        ex_start_drain(s, now, cx_drop, cx_update);
    if (s->draining && ((s->count == 0 && s->lingering == 0) || now >= s->drain_deadline)) {
        *exit_now = 1;
        return 0;
    }
    run_timers(s, now);
    uint64_t resume = ex_accept_service(s, now);
    if (resume)
        next = resume;
    struct ex_client *first = ex_timer_first(s);
    if (first && first->deadline < next)
        next = first->deadline;
    if (s->draining && next > s->drain_deadline)
        next = s->drain_deadline;
    if (next == UINT64_MAX)
        return -1;
    return next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
}

void cx_close_all(struct ex_server *s)
{
    for (size_t i = 0; i < s->cap; i++)
        if (s->by_fd[i])
            cx_drop(s, s->by_fd[i]);
    for (struct ex_client *cl; (cl = ex_timer_first(s)) != NULL;)
        cx_drop(s, cl); /* what is left in the heap lingers */
}
