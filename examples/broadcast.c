/*
 * broadcast: every message from one client goes to all the others (a chat room, a live feed),
 * on the poll loop of examples/common/loop_poll.c.
 *
 *   --policy drop   latest-value feed: a receiver that is behind gets no new frames queued;
 *                   the newest message waits in one slot (replacing, i.e. dropping, the stale
 *                   one) and goes out when its queue drains;
 *   --policy close  must-deliver: a receiver that is behind is closed with 1013.
 *   --queue-limit BYTES  the per-receiver queue limit (default 1 MiB).
 *   --ping N        heartbeat ping every N seconds; a missed pong closes the connection.
 *   --max-accept-rate N   at most N new connections a second; the rest wait in the backlog.
 *   --stats         one line a second: connections, messages in/out, queued bytes, dropped,
 *                   receivers closed for being behind, shared message buffers alive and their
 *                   bytes, 1006 closes, connections accepted, requests answered 503.
 *
 * The rule, judged on queued bytes. A receiver is "behind" when the bytes already queued for
 * it (ws_conn_buffered_amount) reach the queue limit. A receiver that is not behind gets the
 * message queued whole, whatever its size (up to --max-message); only a receiver that is
 * behind meets the policy. So a message larger than the queue limit reaches every receiver
 * that keeps up -- it is never "everyone closed" nor "nobody receives it" -- and a receiver's
 * queue stays under the limit plus one message.
 *
 * One copy per message. The message is copied once into a reference-counted buffer; every
 * receiver's queue borrows it (WS_SEND_BORROW: no copy) and holds a reference, dropped when
 * ws_conn_next_released() hands the payload back (written), or when the connection goes away
 * (ws_conn_output_discard() releases what was never written). The held-back slot of --policy
 * drop holds a reference too. So a 16 MiB message queued for 1,000 receivers costs 16 MiB,
 * not 16 GiB. The library copies payloads under WS_OPT_BORROW_MIN_SIZE (1 KiB) into each queue
 * instead, cheaper than one more iovec, and still reports them released; with
 * permessage-deflate, messages of the queue limit or more go uncompressed so they stay shared
 * (the library compresses per connection, which would make one copy -- and one deflate run --
 * per receiver).
 *
 * SIGTERM drains: close 1001 with a reason asking clients to reconnect with jitter.
 *   --retry-after S  over --max-accept-rate, answer 503 with Retry-After drawn in [1, S].
 */
#include "common/server.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_QUEUE_LIMIT ((uint64_t)1 << 20)

/* A message as broadcast: one buffer for every receiver, freed with its last reference. */
struct bmsg {
    size_t refs;
    size_t len;
    uint8_t op;
    uint8_t data[];
};

struct peer { /* per receiver */
    struct bmsg *held; /* --policy drop: the latest message, held back while behind */
};

static uint64_t queue_limit = DEFAULT_QUEUE_LIMIT;

static struct {
    uint64_t in, out, dropped, closed_behind;
    uint64_t live, live_bytes; /* message buffers alive and their payload bytes */
} stats;

static struct bmsg *bmsg_new(uint8_t op, const uint8_t *p, size_t n)
{
    struct bmsg *m = malloc(sizeof *m + n);
    if (!m)
        return NULL;
    m->refs = 1;
    m->len = n;
    m->op = op;
    if (n)
        memcpy(m->data, p, n);
    stats.live++;
    stats.live_bytes += n;
    return m;
}

static void bmsg_unref(struct bmsg *m)
{
    if (m && --m->refs == 0) {
        stats.live--;
        stats.live_bytes -= m->len;
        free(m);
    }
}

/* Drop the references to what the connection has written. */
static void release_written(ws_conn *c)
{
    const void *data;
    while (ws_conn_next_released(c, &data) == 1)
        bmsg_unref((struct bmsg *)((const uint8_t *)data - offsetof(struct bmsg, data)));
}

/* Queue m for the receiver, borrowed: the queue holds a reference until it is released. */
static void queue(struct ex_client *to, struct bmsg *m)
{
    uint32_t flags = WS_SEND_BORROW;
    if (m->len >= queue_limit)
        flags |= WS_SEND_NO_COMPRESS;
    if (ws_conn_send(to->c, m->op, m->data, m->len, flags) != WS_OK) {
        stats.dropped++;
        return;
    }
    stats.out++;
    m->refs++;
}

static int behind(const struct ex_client *to)
{
    return ws_conn_buffered_amount(to->c) >= queue_limit;
}

static void deliver(struct ex_server *s, struct ex_client *to, struct bmsg *m)
{
    struct peer *p = to->app;
    if (!p || ws_conn_state(to->c) != WS_STATE_OPEN)
        return;
    release_written(to->c);
    if (p->held && !behind(to)) { /* it caught up: the held one first, in order */
        queue(to, p->held);
        bmsg_unref(p->held);
        p->held = NULL;
    }
    if (!p->held && !behind(to)) {
        queue(to, m);
        return;
    }
    if (s->opt.policy_close) {
        ws_conn_close(to->c, WS_CLOSE_TRY_AGAIN_LATER, "too far behind", 14);
        stats.closed_behind++;
        return;
    }
    if (p->held) {
        stats.dropped++; /* the stale one */
        bmsg_unref(p->held);
    }
    m->refs++;
    p->held = m;
}

static int on_drained(struct ex_server *s, struct ex_client *cl)
{
    struct peer *p = cl->app;
    (void)s;
    if (!p)
        return 0;
    release_written(cl->c); /* everything was written */
    if (!p->held || ws_conn_state(cl->c) != WS_STATE_OPEN)
        return 0;
    struct bmsg *m = p->held;
    p->held = NULL;
    uint64_t before = ws_conn_output_queued(cl->c);
    queue(cl, m);
    bmsg_unref(m);
    return ws_conn_output_queued(cl->c) != before;
}

static void on_event(struct ex_server *s, struct ex_client *cl, const ws_event *ev)
{
    switch (ev->type) {
    case WS_EV_OPEN:
        cl->app = calloc(1, sizeof(struct peer));
        /* The library's own mark is only a backstop: the policy is applied here, before the
         * send, so a receiver under the limit always has room for one whole message. */
        ws_conn_set_option(cl->c, WS_OPT_SEND_HIGH_WATER,
                           queue_limit + s->opt.max_message + 65536);
        ws_conn_set_option(cl->c, WS_OPT_SEND_POLICY, WS_POLICY_ERROR);
        break;
    case WS_EV_MESSAGE: {
        stats.in++;
        struct bmsg *m = bmsg_new(ev->opcode, ev->data, ev->len);
        if (!m) {
            stats.dropped++;
            break;
        }
        for (size_t i = 0; i < s->cap; i++) {
            struct ex_client *to = s->by_fd[i];
            if (to && to != cl)
                deliver(s, to, m);
        }
        bmsg_unref(m); /* the queues and held slots keep what they need */
        /* Write to the others now; the sender is flushed by its own read handler. */
        for (size_t i = 0; i < s->cap; i++) {
            struct ex_client *to = s->by_fd[i];
            if (to && to != cl && ws_conn_buffered_amount(to->c) > 0)
                ex_flush(s, to);
        }
        break;
    }
    default:
        break;
    }
}

/* The connection is over; its ws_conn is freed right after: what it never wrote is given
 * up, so every reference it held comes back now. */
static void on_drop(struct ex_server *s, struct ex_client *cl)
{
    struct peer *p = cl->app;
    (void)s;
    ws_conn_output_discard(cl->c);
    release_written(cl->c);
    if (!p)
        return;
    bmsg_unref(p->held);
    free(p);
    cl->app = NULL;
}

static void on_tick(struct ex_server *s, uint64_t now)
{
    static uint64_t next;
    if (!s->opt.stats || now < next)
        return;
    next = now + 1000;
    uint64_t queued = 0;
    for (size_t i = 0; i < s->cap; i++) {
        struct ex_client *cl = s->by_fd[i];
        if (!cl)
            continue;
        queued += ws_conn_buffered_amount(cl->c);
        release_written(cl->c); /* while here: what was written since is no longer held */
    }
    printf("stats: connections=%zu messages_in=%llu messages_out=%llu queued_bytes=%llu "
           "dropped=%llu closed_behind=%llu shared=%llu shared_bytes=%llu closed_1006=%llu "
           "accepted=%llu refused_503=%llu\n",
           s->count, (unsigned long long)stats.in, (unsigned long long)stats.out,
           (unsigned long long)queued, (unsigned long long)stats.dropped,
           (unsigned long long)stats.closed_behind, (unsigned long long)stats.live,
           (unsigned long long)stats.live_bytes, (unsigned long long)s->stat_1006,
           (unsigned long long)s->stat_accepted, (unsigned long long)s->stat_503);
    fflush(stdout);
}

static void help(const char *prog)
{
    printf("%s: every message from one client goes to all the others.\n"
           "  --queue-limit BYTES      a receiver is behind when this much is queued for it\n"
           "                           (%llu); K, M or G suffix\n"
           "A receiver that is not behind gets each message queued whole, even one larger\n"
           "than the queue limit (up to --max-message): a large message reaches every\n"
           "receiver that keeps up. Only a receiver that is behind meets --policy: drop holds\n"
           "the newest message back (the stale one it replaces counts as dropped in --stats),\n"
           "close closes it with 1013. One copy of a message is shared by all receivers.\n\n",
           prog, (unsigned long long)DEFAULT_QUEUE_LIMIT);
    fflush(stdout);
}

static uint64_t bytes_arg(const char *prog, const char *v)
{
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    unsigned shift = 0;
    if (*end && !end[1] && strchr("KMG", *end & ~0x20)) {
        shift = *end == 'K' || *end == 'k' ? 10 : *end == 'M' || *end == 'm' ? 20 : 30;
        end++;
    }
    if (*end || !*v || *v == '-' || n == 0 || n > (UINT64_MAX >> 32)) {
        fprintf(stderr, "%s: --queue-limit needs a number of bytes >= 1, got '%s'\n", prog, v);
        exit(2);
    }
    return (uint64_t)n << shift;
}

/* Take this program's own flags out of argv; the rest are the shared ones. */
static int own_args(int argc, char **argv)
{
    int n = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            char *usage_argv[] = {argv[0], "--help", NULL};
            help(argv[0]);
            ex_parse_args(2, usage_argv, &(struct ex_options){0}, 1); /* the rest; exits */
            exit(0);
        }
        if (!strcmp(argv[i], "--queue-limit") && i + 1 < argc) {
            queue_limit = bytes_arg(argv[0], argv[++i]);
            continue;
        }
        argv[n++] = argv[i];
    }
    argv[n] = NULL;
    return n;
}

int main(int argc, char **argv)
{
    struct ex_options o;
    struct ex_server *s = malloc(sizeof *s);

    argc = own_args(argc, argv);
    ex_parse_args(argc, argv, &o, 1);
    ex_raise_nofile();
    ex_install_signals();
    if (!s || ex_server_init(s, &o, ex_poll_ops, on_event) != 0)
        return 1;
    s->on_tick = on_tick;
    s->on_drained = on_drained;
    s->on_drop = on_drop;
    ex_run_poll(s);
    ex_server_free(s);
    free(s);
    return 0;
}
