/*
 * The glue between non-blocking sockets and ws_conn, shared by every example server: a
 * connection's life (options, budget, timers, linger), reading with a fair share of work per
 * wake-up, writing, and the wake-up's housekeeping (ex_service). See server.h for the policies.
 */
#include "server.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

int ex_server_init(struct ex_server *s, const struct ex_options *o, struct ex_loop_ops ops,
                   ex_event_fn on_event)
{
    memset(s, 0, sizeof *s);
    s->opt = *o;
    s->ops = ops;
    s->on_event = on_event;
    s->lfd = s->spare_fd = -1;
    s->pause_above = 256u * 1024u;
#if defined(__GLIBC__)
    /* glibc raises its mmap threshold to the largest block freed so far (up to 32 MiB); from
     * then on large buffers come from the heap, and once freed most of them stay with the
     * process. A fixed threshold keeps every large buffer in a mapping of its own, returned to
     * the system when freed: what a dropped client made the server hold really goes. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
#endif
    if (o->tls_cert) {
        char err[512];
        if (!ops.tls) {
            fprintf(stderr, "--tls-cert: this server's event loop does its own socket I/O, "
                            "without the TLS layer (use echo-epoll or echo-poll)\n");
            return -1;
        }
        if (!(s->tls = ex_tls_server_ctx(o->tls_cert, o->tls_key, err, sizeof err))) {
            fprintf(stderr, "%s\n", err);
            return -1;
        }
    }
    if (ws_budget_new(&s->budget, o->max_memory, o->max_conn_memory, NULL) != WS_OK) {
        fprintf(stderr, "cannot create the memory budget\n");
        ex_tls_ctx_free(s->tls);
        s->tls = NULL;
        return -1;
    }
    if (ex_listen(s) != 0) {
        ws_budget_free(s->budget);
        s->budget = NULL;
        ex_tls_ctx_free(s->tls);
        s->tls = NULL;
        return -1;
    }
    return 0;
}

/* ---- the round-robin queue of connections with work left over ---- */

static void turn_remove(struct ex_server *s, struct ex_client *cl)
{
    if (!cl->backlog)
        return;
    if (cl->turn_prev)
        cl->turn_prev->turn_next = cl->turn_next;
    else
        s->turn_head = cl->turn_next;
    if (cl->turn_next)
        cl->turn_next->turn_prev = cl->turn_prev;
    else
        s->turn_tail = cl->turn_prev;
    cl->turn_prev = cl->turn_next = NULL;
    cl->backlog = 0;
}

/* Queue cl for a turn, at the tail (moved there if it was queued already). */
static void turn_add(struct ex_server *s, struct ex_client *cl)
{
    turn_remove(s, cl);
    cl->backlog = 1;
    cl->turn_prev = s->turn_tail;
    if (s->turn_tail)
        s->turn_tail->turn_next = cl;
    else
        s->turn_head = cl;
    s->turn_tail = cl;
}

/* ---- a connection's end ---- */

/* Stop watching, close the socket, and leave the memory to bury() (an event batch may still
 * point at the client). A peer that stopped reading is reset: what it did not read is thrown
 * away now instead of waiting in the kernel. */
static void release(struct ex_server *s, struct ex_client *cl)
{
    if (cl->watching)
        s->ops.watch(s, cl, 0);
    cl->watching = 0;
    ex_timer_set(s, cl, WS_DEADLINE_NONE);
    turn_remove(s, cl);
    if (cl->reset) {
        struct linger lg = {1, 0};
        setsockopt(cl->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(cl->fd);
    cl->dead = 1;
    cl->next_dead = s->graveyard;
    s->graveyard = cl;
}

/* The connection is over for the application: its state and the ws_conn go. */
static void forget(struct ex_server *s, struct ex_client *cl)
{
    if (s->on_drop)
        s->on_drop(s, cl);
    s->by_fd[cl->fd] = NULL;
    s->count--;
    ws_conn_free(cl->c);
    cl->c = NULL;
    ex_tls_free(cl->tls); /* a lingering socket only has ciphertext thrown away */
    cl->tls = NULL;
    turn_remove(s, cl);
}

/* Close a live connection at once: for a peer that is gone (end of file, reset, failed write),
 * one that never completed the handshake, or one that stopped reading. */
static void drop_client(struct ex_server *s, struct ex_client *cl)
{
    forget(s, cl);
    release(s, cl);
}

/*
 * ws_conn wants the transport shut down: half-close it and wait for the peer's end of file
 * (see EX_LINGER_MS in server.h). A peer already at end of file has nothing more to send, and
 * one that stopped reading would not read the close frame: their sockets are closed at once.
 */
static void start_linger(struct ex_server *s, struct ex_client *cl)
{
    if (cl->peer_eof || cl->reset || shutdown(cl->fd, SHUT_WR) != 0) {
        drop_client(s, cl);
        return;
    }
    forget(s, cl);
    cl->lingering = 1;
    cl->linger_bytes = 0;
    s->lingering++;
    ex_timer_set(s, cl, ex_now_ms() + EX_LINGER_MS);
    if (cl->watching != EX_WANT_READ) {
        s->ops.watch(s, cl, EX_WANT_READ);
        cl->watching = EX_WANT_READ;
    }
}

static void end_linger(struct ex_server *s, struct ex_client *cl)
{
    cl->lingering = 0;
    s->lingering--;
    release(s, cl);
}

/* A lingering client is readable: discard what came, close at end of file, an error, or past
 * EX_LINGER_BYTES. */
static void linger_read(struct ex_server *s, struct ex_client *cl)
{
    for (;;) {
        ssize_t n = read(cl->fd, s->rbuf, sizeof s->rbuf);
        if (n > 0) {
            cl->linger_bytes += (size_t)n;
            if (cl->linger_bytes <= EX_LINGER_BYTES)
                continue;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        end_linger(s, cl);
        return;
    }
}

static void bury(struct ex_server *s)
{
    while (s->graveyard) {
        struct ex_client *cl = s->graveyard;
        s->graveyard = cl->next_dead;
        free(cl);
    }
}

void ex_server_free(struct ex_server *s)
{
    for (size_t i = 0; i < s->cap; i++)
        if (s->by_fd[i])
            drop_client(s, s->by_fd[i]);
    /* What is left in the heap lingers. */
    for (struct ex_client *cl; (cl = ex_timer_first(s)) != NULL;)
        end_linger(s, cl);
    ex_timers_free(s);
    free(s->by_fd);
    s->by_fd = NULL;
    bury(s);
    ex_listen_close(s);
    ws_budget_free(s->budget); /* every connection using it is freed */
    s->budget = NULL;
    ws_config_free(s->cfg);
    s->cfg = NULL;
    ex_tls_ctx_free(s->tls);
    s->tls = NULL;
}

/* ---- a connection's start ---- */

/* One configuration for every connection: the options are kept once, not per connection. */
static ws_config *make_config(struct ex_server *s, const struct ex_options *o)
{
    ws_config *cfg = NULL;
    if (ws_config_new(&cfg, NULL) != WS_OK)
        return NULL;
    ws_config_set_option(cfg, WS_OPT_MAX_MESSAGE_SIZE, o->max_message);
    if (o->deflate) { /* answered automatically: ws_conn_accept gets extensions NULL */
        ws_config_set_option(cfg, WS_OPT_DEFLATE, 1);
        ws_config_set_option(cfg, WS_OPT_INFLATE_STEP, EX_INFLATE_STEP);
    }
    /* Room for what one turn can produce past the pause threshold: echo never meets
     * WOULD_BLOCK; the memory budget is what bounds a connection. */
    ws_config_set_option(cfg, WS_OPT_SEND_HIGH_WATER,
                         s->pause_above + o->max_message + EX_WORK_BUDGET + 2 * EX_READ_CHUNK);
    /* Should it meet it still, the library closes the connection with 1013 (broadcast sets
     * its own policy). */
    ws_config_set_option(cfg, WS_OPT_SEND_POLICY, WS_POLICY_CLOSE_1013);
    ws_config_set_option(cfg, WS_OPT_PING_INTERVAL, o->ping_interval);
    if (o->ping_interval)
        ws_config_set_option(cfg, WS_OPT_PONG_TIMEOUT, o->ping_interval);
    ws_config_set_option(cfg, WS_OPT_IDLE_TIMEOUT, o->idle_timeout);
    ws_config_set_option(cfg, WS_OPT_MESSAGE_TIMEOUT, o->message_timeout);
    ws_config_set_option(cfg, WS_OPT_SEND_TIMEOUT, o->send_timeout);
    return cfg;
}

ws_config *ex_server_config(struct ex_server *s)
{
    if (!s->cfg)
        s->cfg = make_config(s, &s->opt);
    return s->cfg;
}

struct ex_client *ex_new_client(struct ex_server *s, int fd)
{
    const struct ex_options *o = &s->opt;
    struct ex_client *cl;
    int one = 1;

    if ((size_t)fd >= s->cap) {
        size_t cap = s->cap ? s->cap : 1024;
        while (cap <= (size_t)fd)
            cap *= 2;
        struct ex_client **t = realloc(s->by_fd, cap * sizeof *t);
        if (!t)
            return NULL;
        memset(t + s->cap, 0, (cap - s->cap) * sizeof *t);
        s->by_fd = t;
        s->cap = cap;
    }
    cl = calloc(1, sizeof *cl);
    if (!cl)
        return NULL;
    cl->fd = fd;
    cl->deadline = WS_DEADLINE_NONE;
    if (!ex_server_config(s) || ws_conn_new(&cl->c, WS_ROLE_SERVER, 0, s->cfg) != WS_OK ||
        ws_conn_set_budget(cl->c, s->budget) != WS_OK ||
        (s->tls && !(cl->tls = ex_tls_new(s->tls, fd, NULL)))) {
        ws_conn_free(cl->c);
        free(cl);
        return NULL;
    }
    ws_conn_tick(cl->c, ex_now_ms()); /* the clock starts: the handshake timeout runs */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (o->sndbuf > 0) /* bound the kernel's share of a slow client's backlog too */
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &o->sndbuf, sizeof o->sndbuf);
    s->by_fd[fd] = cl;
    s->count++;
    s->stat_accepted++;
    s->ops.watch(s, cl, EX_WANT_READ);
    cl->watching = EX_WANT_READ;
    ex_timer_set(s, cl, ws_conn_next_deadline(cl->c));
    return cl;
}

/* ---- events ---- */

static void choose_and_accept(struct ex_server *s, struct ex_client *cl)
{
    const ws_handshake *hs = ws_conn_handshake(cl->c);
    const char *chosen = NULL;

    for (size_t i = 0; hs && !chosen && i < ws_handshake_subprotocol_count(hs); i++) {
        const char *p;
        size_t n;
        if (ws_handshake_subprotocol(hs, i, &p, &n) < 0)
            continue;
        for (int k = 0; k < s->opt.nsub; k++)
            if (strlen(s->opt.subprotocols[k]) == n && !memcmp(s->opt.subprotocols[k], p, n))
                chosen = p;
    }
    if (ws_conn_accept(cl->c, chosen, NULL, NULL) < 0)
        ws_conn_reject(cl->c, 500, NULL, NULL, NULL, 0);
}

/* What the server itself does about an event other than a message, before the application's
 * handler sees it: answer a request, count abnormal closes, note a reader that stalled. */
static void server_event(struct ex_server *s, struct ex_client *cl, const ws_event *ev)
{
    if (ev->type == WS_EV_REQUEST) {
        char ra[40];
        unsigned status = 0;
        if (s->draining || cl->refuse) {
            /* The hint is jittered: a refused crowd comes back spread out. */
            s->stat_503++;
            ws_conn_reject(cl->c, 503, NULL,
                           ex_retry_after(ra, sizeof ra,
                                          s->opt.retry_after ? s->opt.retry_after : 5),
                           NULL, 0);
        } else if (s->on_request && (status = s->on_request(s, cl)) != 0) {
            ws_conn_reject(cl->c, status, NULL, NULL, NULL, 0);
        } else {
            choose_and_accept(s, cl);
        }
    }
    if (ev->type == WS_EV_ERROR && ev->error == WS_ERR_SEND_TIMEOUT)
        cl->reset = 1; /* it stopped reading: see start_linger */
    if (ev->type == WS_EV_CLOSE && ev->close_code == WS_CLOSE_ABNORMAL)
        s->stat_1006++;
}

/*
 * Hand the connection's events to the application until none is left (returns 1) or *work
 * reached limit (returns 0). Each event adds its payload length and EX_EVENT_COST to *work;
 * taking events is also what makes the library process input it kept. Events are taken a
 * batch at a time (ws_conn_next_events: one call for all the messages of a read).
 */
int ex_handle_events(struct ex_server *s, struct ex_client *cl, const ws_event *evs, int n,
                     size_t *work)
{
    size_t w = *work;
    for (int i = 0; i < n; i++) {
        w += evs[i].len + EX_EVENT_COST;
        if (evs[i].type != WS_EV_MESSAGE)
            server_event(s, cl, &evs[i]);
        s->on_event(s, cl, &evs[i]);
        if (!cl->c || cl->dead)
            break; /* the handler ended the connection */
    }
    *work = w;
    return cl->c && !cl->dead;
}

int ex_drain_events(struct ex_server *s, struct ex_client *cl, size_t *work, size_t limit)
{
    ws_event evs[EX_EVENT_BATCH];
    while (*work < limit) {
        int n = ws_conn_next_events(cl->c, evs, EX_EVENT_BATCH, sizeof evs[0]);
        if (n <= 0 || !ex_handle_events(s, cl, evs, n, work))
            return 1;
    }
    return 0;
}

/* Input (or decompression) the library still holds for the connection, to be processed
 * before it takes more. A zero-length in-place feed asks without side effects once open. */
static int has_backlog(ws_conn *c)
{
    size_t used;
    return ws_conn_state(c) != WS_STATE_CONNECTING &&
           ws_conn_feed_inplace(c, NULL, 0, &used) == WS_ERR_EVENTS_PENDING;
}

/* One turn of a connection with work left over: at most EX_WORK_BUDGET of it, then back to
 * the tail of the queue if some remains. */
static void take_turn(struct ex_server *s, struct ex_client *cl)
{
    size_t work = 0;
    if (ex_drain_events(s, cl, &work, EX_WORK_BUDGET) && (!cl->c || !has_backlog(cl->c)))
        turn_remove(s, cl);
    else
        turn_add(s, cl);
    ex_flush(s, cl);
}

/* Memory ran out before the connection could even keep its input: nothing sensible can be
 * said to the peer any more; reset it. */
static void out_of_memory(struct ex_server *s, struct ex_client *cl)
{
    cl->reset = 1;
    drop_client(s, cl);
}

/*
 * Feed what was read, in place (zero copy: events point into rbuf, so every event of a feed
 * is taken before rbuf is used again), within the connection's work budget: one call feeds
 * and takes a batch of events (ws_conn_feed_events); any that did not fit are drained after
 * them. What is left once the budget is spent -- or when the library still holds input from
 * before -- is handed over with ws_conn_feed (copied, at most EX_READ_CHUNK, which the library
 * keeps whole) and the connection waits for its next turn. Returns 0 if the connection was
 * dropped.
 */
static int feed(struct ex_server *s, struct ex_client *cl, uint8_t *p, size_t n, size_t *work)
{
    ws_event evs[EX_EVENT_BATCH];
    while (n > 0) {
        size_t used = 0, before = *work;
        int r = WS_ERR_EVENTS_PENDING;
        if (*work < EX_WORK_BUDGET)
            r = ws_conn_feed_events(cl->c, p, n, &used, evs, EX_EVENT_BATCH, sizeof evs[0]);
        if (r == WS_ERR_EVENTS_PENDING) {
            size_t taken = 0;
            if (ws_conn_feed(cl->c, p, n, &taken) < 0 || taken < n) {
                out_of_memory(s, cl);
                return 0;
            }
            turn_add(s, cl);
            return 1;
        }
        if (r < 0) { /* WS_ERR_NOMEM, WS_ERR_BUDGET: nothing taken */
            out_of_memory(s, cl);
            return 0;
        }
        p += used;
        n -= used;
        if (ex_handle_events(s, cl, evs, r, work))
            ex_drain_events(s, cl, work, SIZE_MAX); /* those that did not fit, if any */
        if (!cl->c)
            return !cl->dead;
        if (used == 0 && *work == before)
            break; /* nothing moves (cannot happen while events are drained) */
    }
    return 1;
}

void ex_on_readable(struct ex_server *s, struct ex_client *cl)
{
    size_t work = 0;

    if (cl->lingering) {
        linger_read(s, cl); /* never fed to the ws_conn again: it is gone */
        return;
    }
    if (cl->backlog) {
        ex_flush(s, cl); /* a stale event: its turns come from the queue */
        return;
    }
    ws_conn_tick(cl->c, ex_now_ms());
    /* Events the tick (or an earlier call) left are taken first: while events wait, the
     * library takes no more input. */
    if (!ex_drain_events(s, cl, &work, EX_WORK_BUDGET)) {
        turn_add(s, cl);
        ex_flush(s, cl);
        return;
    }
    if (!cl->c)
        return;
    if (ws_conn_buffered_amount(cl->c) <= s->pause_above) {
        /* One read per wake-up: a client with more to send gets its next share on the next
         * wake-up (the loops are level-triggered), after everyone else's. */
        ssize_t n = cl->tls ? ex_tls_read(cl->tls, s->rbuf, sizeof s->rbuf)
                            : read(cl->fd, s->rbuf, sizeof s->rbuf);
        if (n > 0) {
            if (!feed(s, cl, s->rbuf, (size_t)n, &work))
                return;
        } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
            cl->peer_eof = 1;
            ws_conn_feed_eof(cl->c); /* end of file, or a reset */
            if (!ex_drain_events(s, cl, &work, EX_WORK_BUDGET))
                turn_add(s, cl);
        }
    }
    if (cl->c)
        ex_flush(s, cl);
}

void ex_on_writable(struct ex_server *s, struct ex_client *cl)
{
    ex_flush(s, cl);
}

void ex_echo(struct ex_server *s, struct ex_client *cl, const ws_event *ev)
{
    (void)s;
    /* Over the send high-water mark the library closes with 1013 itself (WS_OPT_SEND_POLICY,
     * set in ex_new_client); a send the memory budget refuses is closed with 1013 here. */
    if (ev->type == WS_EV_MESSAGE &&
        ws_conn_send(cl->c, ev->opcode, ev->data, ev->len, 0) == WS_ERR_BUDGET)
        ws_conn_close(cl->c, WS_CLOSE_TRY_AGAIN_LATER, "out of memory", 13);
}

/* ---- descriptors the application watches ---- */

struct ex_client *ex_watch_fd(struct ex_server *s, int fd,
                              void (*io)(struct ex_server *, struct ex_client *, unsigned),
                              void *arg)
{
    struct ex_client *cl = calloc(1, sizeof *cl);
    if (!cl)
        return NULL;
    cl->fd = fd;
    cl->io = io;
    cl->app = arg;
    cl->deadline = WS_DEADLINE_NONE;
    cl->index = -1;
    (void)s;
    return cl;
}

void ex_watch_set(struct ex_server *s, struct ex_client *cl, unsigned want)
{
    if (cl->dead || cl->watching == want)
        return;
    s->ops.watch(s, cl, want);
    cl->watching = want;
}

void ex_unwatch_fd(struct ex_server *s, struct ex_client *cl)
{
    ex_watch_set(s, cl, 0);
    cl->dead = 1;
    cl->next_dead = s->graveyard; /* freed by bury(): the wake-up may still hold it */
    s->graveyard = cl;
}

const char *ex_retry_after(char *buf, size_t n, uint32_t max_s)
{
    uint32_t r = 0;
    if (max_s == 0)
        max_s = 1;
    ws_random_os(NULL, &r, sizeof r);
    snprintf(buf, n, "Retry-After: %u\r\n", 1u + (unsigned)(r % max_s));
    return buf;
}

void ex_flush(struct ex_server *s, struct ex_client *cl)
{
    ws_iovec iov[16];

    if (cl->lingering || cl->dead || !cl->c)
        return; /* a stale event: nothing is written any more */
    /* TLS: ciphertext first (handshake messages too, with no ws_conn output yet). */
    int dead = cl->tls && ex_tls_flush(cl->tls) < 0;
    while (!dead) {
        int k = ws_conn_output(cl->c, iov, 16);
        if (k <= 0 && s->on_drained && s->on_drained(s, cl))
            continue;
        if (k <= 0)
            break;
        /* Through TLS, the bytes taken are encrypted (and as much as the socket takes of
         * them written): to the ws_conn they are gone. After a TLS failure nothing is. */
        ssize_t w = cl->tls ? ex_tls_writev(cl->tls, iov, k)
                            : writev(cl->fd, (const struct iovec *)(const void *)iov, k);
        if (w > 0) {
            ws_conn_output_ack(cl->c, (size_t)w);
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
        dead = 1; /* the peer is gone (or TLS failed): nothing more can be written */
    }
    if (dead) {
        ws_conn_feed_eof(cl->c);
        size_t work = 0;
        ex_drain_events(s, cl, &work, SIZE_MAX);
    }
    if (cl->dead || !cl->c)
        return;
    if (dead) {
        drop_client(s, cl);
        return;
    }
    if (ws_conn_wants_shutdown(cl->c)) {
        uint64_t until;
        int r = cl->tls && !cl->peer_eof && !cl->reset
                    ? ex_tls_close(cl->tls, ex_now_ms(), &until) : 1;
        if (r == 0) { /* close_notify (or what precedes it) waits for room */
            if (cl->watching != EX_WANT_WRITE) {
                s->ops.watch(s, cl, EX_WANT_WRITE);
                cl->watching = EX_WANT_WRITE;
            }
            ex_timer_set(s, cl, until);
            return;
        }
        if (r < 0)
            cl->reset = 1; /* it did not read for EX_LINGER_MS: see start_linger */
        start_linger(s, cl);
        return;
    }
    unsigned want = 0;
    size_t queued = ws_conn_buffered_amount(cl->c);
    if (!cl->backlog && !cl->peer_eof && queued <= s->pause_above)
        want |= EX_WANT_READ;
    if (queued > 0 || (cl->tls && ex_tls_pending(cl->tls)))
        want |= EX_WANT_WRITE;
    if (want != cl->watching) {
        s->ops.watch(s, cl, want);
        cl->watching = want;
    }
    ex_timer_set(s, cl, ws_conn_next_deadline(cl->c));
}

/* SIGINT/SIGTERM: stop accepting, send every open connection close 1001 (drop: how the loop
 * ends a connection still in its handshake; kick: how it writes a connection's output). */
void ex_start_drain(struct ex_server *s, uint64_t now, ex_client_fn drop, ex_client_fn kick)
{
    s->draining = 1;
    s->drain_deadline = now + 2000;
    ex_listen_close(s);
    for (size_t i = 0; i < s->cap; i++) {
        struct ex_client *cl = s->by_fd[i];
        if (!cl)
            continue;
        if (ws_conn_state(cl->c) == WS_STATE_OPEN)
            ws_conn_close(cl->c, WS_CLOSE_GOING_AWAY, "going away: reconnect with jitter", 33);
        else if (ws_conn_state(cl->c) == WS_STATE_CONNECTING) {
            drop(s, cl);
            continue;
        }
        kick(s, cl);
    }
}

/* The timers that are due: lingers end, connections get their tick. */
static void run_timers(struct ex_server *s, uint64_t now)
{
    struct ex_client *cl;
    while ((cl = ex_timer_first(s)) != NULL && cl->deadline <= now) {
        if (cl->lingering) {
            end_linger(s, cl); /* the peer did not close in time */
            continue;
        }
        ws_conn_tick(cl->c, now);
        if (cl->backlog) {
            ex_flush(s, cl); /* its events are taken in its turn */
        } else {
            size_t work = 0;
            if (!ex_drain_events(s, cl, &work, EX_WORK_BUDGET) || (cl->c && has_backlog(cl->c)))
                turn_add(s, cl);
            ex_flush(s, cl);
        }
        /* A deadline that is still due (work left for a turn) waits a millisecond: the
         * heap's first entry must move on. */
        if (!cl->dead && cl->timer_slot && cl->deadline <= now)
            ex_timer_set(s, cl, now + 1);
    }
}

/* Every connection waiting in the round-robin queue when this starts gets one turn. */
static void run_turns(struct ex_server *s)
{
    size_t n = 0;
    for (struct ex_client *cl = s->turn_head; cl; cl = cl->turn_next)
        n++;
    while (n-- > 0 && s->turn_head)
        take_turn(s, s->turn_head);
}

int ex_service(struct ex_server *s, int *exit_now)
{
    uint64_t now = ex_now_ms(), next = UINT64_MAX;

    *exit_now = 0;
    bury(s);
    if (ex_stop && !s->draining)
        ex_start_drain(s, now, drop_client, ex_flush);
    if (s->draining && ((s->count == 0 && s->lingering == 0) || now >= s->drain_deadline)) {
        *exit_now = 1;
        return 0;
    }
    run_timers(s, now);
    run_turns(s);
    uint64_t resume = ex_accept_service(s, now);
    if (resume)
        next = resume;
    struct ex_client *first = ex_timer_first(s);
    if (first && first->deadline < next)
        next = first->deadline;
    if (s->draining && next > now + 100)
        next = now + 100;
    if (s->on_tick) {
        s->on_tick(s, now);
        if (next > now + 1000)
            next = now + 1000;
    }
    if (s->app_wake && s->app_wake < next)
        next = s->app_wake;
    if (s->turn_head)
        return 0; /* backlog waits: poll without sleeping, then the next turns */
    if (next == UINT64_MAX)
        return -1;
    return next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
}
