/*
 * broadcast: every message from one client goes to all the others (a chat room, a live feed),
 * on the poll loop of examples/common/loop_poll.c.
 *
 *   --policy drop   latest-value feed: a client over the high-water mark gets no new frames
 *                   queued; the newest message waits in one slot (replacing, i.e. dropping, the
 *                   stale one) and goes out when its queue drains;
 *   --policy close  must-deliver: a client that cannot keep up is closed with 1013.
 *   --ping N        heartbeat ping every N seconds; a missed pong closes the connection.
 *   --max-accept-rate N   at most N new connections a second; the rest wait in the backlog.
 *   --stats         one line a second: connections, messages in/out, queued bytes, dropped,
 *                   1006 closes, connections accepted.
 * One stalled client never slows the others nor holds more than the high-water mark plus one
 * message. SIGTERM drains: close 1001 with a reason asking clients to reconnect with jitter.
 */
#include "common/server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIGH_WATER (1u << 20)

struct slot { /* per client: the one message held back under --policy drop */
    uint8_t *data;
    size_t len, cap;
    uint8_t opcode, full;
};

static struct {
    uint64_t in, out, dropped;
} stats;

static void send_or_hold(struct ex_server *s, struct ex_client *to, uint8_t op, const uint8_t *p,
                         size_t n)
{
    struct slot *sl = to->app;
    if (!sl || ws_conn_state(to->c) != WS_STATE_OPEN)
        return;
    if (s->opt.policy_close) {
        /* The connection's own policy closes it with 1013 when over the mark. */
        if (ws_conn_send(to->c, op, p, n, 0) == WS_OK)
            stats.out++;
        return;
    }
    if (!sl->full && ws_conn_buffered_amount(to->c) + n <= HIGH_WATER) {
        if (ws_conn_send(to->c, op, p, n, 0) == WS_OK)
            stats.out++;
        return;
    }
    if (sl->full)
        stats.dropped++; /* the stale one */
    if (n > sl->cap) {
        uint8_t *d = realloc(sl->data, n);
        if (!d) {
            stats.dropped++;
            return;
        }
        sl->data = d;
        sl->cap = n;
    }
    if (n)
        memcpy(sl->data, p, n);
    sl->len = n;
    sl->opcode = op;
    sl->full = 1;
}

static int on_drained(struct ex_server *s, struct ex_client *cl)
{
    struct slot *sl = cl->app;
    (void)s;
    if (!sl || !sl->full || ws_conn_state(cl->c) != WS_STATE_OPEN)
        return 0;
    sl->full = 0;
    if (ws_conn_send(cl->c, sl->opcode, sl->data, sl->len, 0) != WS_OK)
        return 0;
    stats.out++;
    return 1;
}

static void on_event(struct ex_server *s, struct ex_client *cl, const ws_event *ev)
{
    switch (ev->type) {
    case WS_EV_OPEN:
        cl->app = calloc(1, sizeof(struct slot));
        ws_conn_set_option(cl->c, WS_OPT_SEND_HIGH_WATER, HIGH_WATER);
        ws_conn_set_option(cl->c, WS_OPT_SEND_POLICY,
                           s->opt.policy_close ? WS_POLICY_CLOSE_1013 : WS_POLICY_ERROR);
        break;
    case WS_EV_MESSAGE:
        stats.in++;
        for (size_t i = 0; i < s->cap; i++) {
            struct ex_client *to = s->by_fd[i];
            if (to && to != cl)
                send_or_hold(s, to, ev->opcode, ev->data, ev->len);
        }
        /* Write to the others now; the sender is flushed by its own read handler. */
        for (size_t i = 0; i < s->cap; i++) {
            struct ex_client *to = s->by_fd[i];
            if (to && to != cl && ws_conn_buffered_amount(to->c) > 0)
                ex_flush(s, to);
        }
        break;
    default:
        break;
    }
}

static void on_drop(struct ex_server *s, struct ex_client *cl)
{
    (void)s;
    if (cl->app) {
        free(((struct slot *)cl->app)->data);
        free(cl->app);
        cl->app = NULL;
    }
}

static void on_tick(struct ex_server *s, uint64_t now)
{
    static uint64_t next;
    if (!s->opt.stats || now < next)
        return;
    next = now + 1000;
    uint64_t queued = 0;
    for (size_t i = 0; i < s->cap; i++)
        if (s->by_fd[i])
            queued += ws_conn_buffered_amount(s->by_fd[i]->c);
    printf("stats: connections=%zu messages_in=%llu messages_out=%llu queued_bytes=%llu "
           "dropped=%llu closed_1006=%llu accepted=%llu\n",
           s->count, (unsigned long long)stats.in, (unsigned long long)stats.out,
           (unsigned long long)queued, (unsigned long long)stats.dropped,
           (unsigned long long)s->stat_1006, (unsigned long long)s->stat_accepted);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    struct ex_options o;
    struct ex_server *s = malloc(sizeof *s);

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
