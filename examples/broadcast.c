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
 *
 * Several nodes (--redis HOST:PORT, --stream NAME; common/redis_fanout.c): every message a
 * client sends is appended to a Redis stream (XADD, MAXLEN ~ --redis-maxlen) and every node
 * delivers every entry of the stream to all its clients -- the sender included: seeing its
 * message come back with an ID is how a publisher knows it is in the stream. The envelope:
 *
 *   ID "\n" PAYLOAD    each message, with the opcode it was sent with; ID is the stream
 *                      ID ("1700000000000-0"), increasing; "-" for a message delivered
 *                      locally only (--redis-local while Redis is unreachable)
 *   "!live"            (text) the replay is over: what follows is live
 *   "!gap A B"         (text) entries after A and before B were trimmed from the stream
 *                      before they could be sent: some may be missing
 *   "!dropped N"       (text) the N-th message sent on this connection was not published:
 *                      the queue toward Redis was full
 *
 * A client that reconnects asks for what it missed with the last ID it saw, /?last=ID: it
 * is sent every entry after it, in order, then "!live", then live traffic, each entry
 * exactly once (an entry is sent only if its ID is above the last one sent to the client).
 * A malformed last ID is refused with 400. A receiver that falls behind (--queue-limit)
 * under --policy drop is not dropped from: it stops getting live traffic and catches up from
 * the stream when its queue has drained (under --policy close it is closed with 1013 and
 * catches up by reconnecting with its last ID). Redis down or slow: the clients stay
 * connected; messages wait in a queue of --redis-queue messages / --redis-queue-bytes; when
 * it is full a new message is refused ("!dropped N"); --redis-local delivers messages to
 * this node's clients instead (ID "-") while Redis is unreachable.
 */
#include "common/redis_fanout.h"
#include "common/server.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_QUEUE_LIMIT ((uint64_t)1 << 20)
#define DEFAULT_STREAM "libws:broadcast"
#define DEFAULT_MAXLEN 10000u
#define DEFAULT_REDIS_QUEUE 10000u
#define DEFAULT_REDIS_QUEUE_BYTES (16u << 20)
#define DEFAULT_REDIS_TIMEOUT_MS 3000u

/* A message as broadcast: one buffer for every receiver, freed with its last reference. */
struct bmsg {
    size_t refs;
    size_t len;
    uint8_t op;
    uint8_t data[];
};

/* --redis: where a client is in the stream. */
enum { P_LIVE, P_WAIT, P_GAP, P_PAGE, P_PAUSED };

struct peer { /* per receiver */
    struct bmsg *held; /* --policy drop: the latest message, held back while behind */
    /* --redis */
    int state;           /* P_LIVE: gets live entries; P_WAIT: replay waits for Redis; P_GAP,
                          * P_PAGE: a query is out; P_PAUSED: behind, catches up when drained */
    int has_last;        /* it asked for a replay (?last=ID) */
    int sent_is_entry;   /* sent is an entry it was sent (not the ID it asked from) */
    int told_live;       /* "!live" sent */
    struct ex_sid sent;  /* the last ID sent to it */
    ex_fanout_req *req;  /* the query that is out */
    uint64_t nmsg;       /* messages it sent on this connection */
    int empty_pages;     /* replay pages in a row that brought nothing new */
};

#define REPLAY_PAGE 128u /* entries per XRANGE of a replay */

static void replay_page(struct ex_client *cl);

static uint64_t queue_limit = DEFAULT_QUEUE_LIMIT;
static struct ex_server *server;
static ex_fanout *fanout;         /* --redis (NULL: this node alone) */
static int redis_local;           /* --redis-local */

static struct {
    uint64_t in, out, dropped, closed_behind;
    uint64_t live, live_bytes; /* message buffers alive and their payload bytes */
    uint64_t replays, gaps, refused, local, caught_up;
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

/* The envelope: "ID\n" then the payload, in one buffer. */
static struct bmsg *bmsg_env(uint8_t op, const char *id, size_t idlen, const uint8_t *p,
                             size_t n)
{
    struct bmsg *m = bmsg_new(op, NULL, 0);
    struct bmsg *big = m ? realloc(m, sizeof *m + idlen + 1 + n) : NULL;
    if (!big) {
        bmsg_unref(m);
        return NULL;
    }
    memcpy(big->data, id, idlen);
    big->data[idlen] = '\n';
    if (n)
        memcpy(big->data + idlen + 1, p, n);
    big->len = idlen + 1 + n;
    stats.live_bytes += big->len;
    return big;
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
    if (fanout && p->state == P_PAUSED && ws_conn_state(cl->c) == WS_STATE_OPEN) {
        replay_page(cl); /* caught up with its queue: now with the stream */
        return 0;
    }
    if (!p->held || ws_conn_state(cl->c) != WS_STATE_OPEN)
        return 0;
    struct bmsg *m = p->held;
    p->held = NULL;
    uint64_t before = ws_conn_output_queued(cl->c);
    queue(cl, m);
    bmsg_unref(m);
    return ws_conn_output_queued(cl->c) != before;
}

/* ---- --redis: the stream's entries to the clients ---- */

static void notice(struct ex_client *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void notice(struct ex_client *cl, const char *fmt, ...)
{
    char buf[160];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n > 0 && ws_conn_state(cl->c) == WS_STATE_OPEN)
        ws_conn_send(cl->c, WS_OP_TEXT, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1,
                     0);
}

static void gap_notice(struct ex_client *cl, struct ex_sid after, struct ex_sid first)
{
    char a[EX_SID_MAX], b[EX_SID_MAX];
    ex_sid_format(after, a);
    ex_sid_format(first, b);
    notice(cl, "!gap %s %s", a, b);
    stats.gaps++;
}

static void go_live(struct ex_client *cl)
{
    struct peer *p = cl->app;
    p->state = P_LIVE;
    if (!p->told_live) {
        p->told_live = 1;
        notice(cl, "!live");
    }
}

/* Send one entry to one client (a replay: its own copy of the envelope). */
static void send_entry(struct ex_client *cl, const struct ex_entry *e)
{
    struct peer *p = cl->app;
    char id[EX_SID_MAX];
    size_t idlen = ex_sid_format(e->id, id);
    struct bmsg *m = bmsg_env(e->op, id, idlen, e->data, e->len);
    if (!m) {
        stats.dropped++;
        return;
    }
    queue(cl, m);
    bmsg_unref(m);
    p->sent = e->id;
    p->sent_is_entry = 1;
}

static void gap_answer(void *arg, int ok, int gap, struct ex_sid first);

/* Start or resume a client's catch-up: from an entry it was sent, the page itself shows a
 * hole; from an ID it presented, ask first whether entries after it were trimmed. */
static void replay_resume(struct ex_client *cl)
{
    struct peer *p = cl->app;
    if (!p->has_last && !p->told_live) { /* came before the node knew the stream */
        p->sent = ex_fanout_last(fanout);
        go_live(cl);
        return;
    }
    if (p->sent_is_entry) {
        replay_page(cl);
        return;
    }
    p->req = ex_fanout_gap(fanout, p->sent, gap_answer, cl);
    p->state = p->req ? P_GAP : P_WAIT;
}

static void gap_answer(void *arg, int ok, int gap, struct ex_sid first)
{
    struct ex_client *cl = arg;
    struct peer *p = cl->app;
    p->req = NULL;
    if (!ok) {
        p->state = P_WAIT; /* Redis went away: again once it is back */
        return;
    }
    if (gap)
        gap_notice(cl, p->sent, first);
    replay_page(cl);
    ex_flush(server, cl);
}

static void page_answer(void *arg, int ok, const struct ex_entry *e, size_t n)
{
    struct ex_client *cl = arg;
    struct peer *p = cl->app;
    size_t i = 0, asked = REPLAY_PAGE + (p->sent_is_entry ? 1u : 0u);
    p->req = NULL;
    if (!ok) {
        p->state = P_WAIT;
        return;
    }
    if (p->sent_is_entry && n > 0) { /* from the last entry sent: is it still there? */
        if (ex_sid_cmp(e[0].id, p->sent) == 0)
            i = 1;
        else
            gap_notice(cl, p->sent, e[0].id); /* trimmed while this client was behind */
    }
    size_t fresh = 0;
    for (; i < n; i++) {
        if (ex_sid_cmp(e[i].id, p->sent) <= 0)
            continue;
        if (ws_conn_buffered_amount(cl->c) >= queue_limit)
            break; /* behind: the rest once it has drained */
        send_entry(cl, &e[i]);
        fresh++;
    }
    /* Live once it has everything the reader has delivered: the reader may be ahead of this
     * page (its XREAD answered before this XRANGE's answer was read), then another page
     * brings the difference. A page with nothing new twice while the reader is ahead: what
     * it delivered is no longer in the stream; live anyway. */
    p->empty_pages = fresh || n == asked ? 0 : p->empty_pages + 1;
    if (i == n && (ex_sid_cmp(p->sent, ex_fanout_last(fanout)) >= 0 || p->empty_pages >= 2))
        go_live(cl);
    else if (ws_conn_buffered_amount(cl->c) >= queue_limit)
        p->state = P_PAUSED;
    else
        replay_page(cl);
    ex_flush(server, cl);
}

static void replay_page(struct ex_client *cl)
{
    struct peer *p = cl->app;
    p->req = ex_fanout_range(fanout, p->sent, p->sent_is_entry,
                             REPLAY_PAGE + (p->sent_is_entry ? 1u : 0u), page_answer, cl);
    p->state = p->req ? P_PAGE : P_WAIT;
}

/* A client is open: live at once, or a replay first. */
static void redis_open(struct ex_client *cl)
{
    struct peer *p = cl->app;
    p->state = P_WAIT;
    if (!p->has_last) {
        /* Live from the node's place in the stream; before the node first reached Redis
         * it has none: then from where it starts ("!live" says when). */
        if (ex_fanout_synced(fanout)) {
            p->sent = ex_fanout_last(fanout);
            go_live(cl);
        }
        return;
    }
    stats.replays++;
    if (ex_fanout_up(fanout))
        replay_resume(cl);
}

static void flush_all(struct ex_server *s)
{
    for (size_t i = 0; i < s->cap; i++) {
        struct ex_client *to = s->by_fd[i];
        if (to && ws_conn_buffered_amount(to->c) > 0)
            ex_flush(s, to);
    }
}

static void on_entry(void *arg, const struct ex_entry *e)
{
    struct ex_server *s = arg;
    char id[EX_SID_MAX];
    size_t idlen = ex_sid_format(e->id, id);
    struct bmsg *m = bmsg_env(e->op, id, idlen, e->data, e->len);
    if (!m) {
        stats.dropped++;
        return;
    }
    for (size_t i = 0; i < s->cap; i++) {
        struct ex_client *to = s->by_fd[i];
        struct peer *p = to ? to->app : NULL;
        if (!p || p->state != P_LIVE || ws_conn_state(to->c) != WS_STATE_OPEN ||
            ex_sid_cmp(e->id, p->sent) <= 0)
            continue;
        if (behind(to)) {
            if (s->opt.policy_close) {
                ws_conn_close(to->c, WS_CLOSE_TRY_AGAIN_LATER, "too far behind", 14);
                stats.closed_behind++;
            } else {
                p->state = P_PAUSED; /* it catches up from the stream once drained */
                stats.caught_up++;
            }
            continue;
        }
        queue(to, m);
        p->sent = e->id;
        p->sent_is_entry = 1;
    }
    bmsg_unref(m);
}

static void on_batch(void *arg)
{
    flush_all(arg);
}

static void on_state(void *arg, int up)
{
    struct ex_server *s = arg;
    if (!up)
        return; /* the live ones stay live: the reader resumes where it was */
    for (size_t i = 0; i < s->cap; i++) {
        struct ex_client *cl = s->by_fd[i];
        struct peer *p = cl ? cl->app : NULL;
        if (p && p->state == P_WAIT && ws_conn_state(cl->c) == WS_STATE_OPEN)
            replay_resume(cl);
    }
    flush_all(s);
}

static void on_node_gap(void *arg, struct ex_sid after, struct ex_sid first)
{
    struct ex_server *s = arg;
    char a[EX_SID_MAX], b[EX_SID_MAX];
    ex_sid_format(after, a);
    ex_sid_format(first, b);
    fprintf(stderr, "redis: entries after %s and before %s were trimmed before this node read "
                    "them (it was away or behind): its live clients are told (!gap)\n", a, b);
    for (size_t i = 0; i < s->cap; i++) {
        struct ex_client *cl = s->by_fd[i];
        struct peer *p = cl ? cl->app : NULL;
        if (p && p->state == P_LIVE && ex_sid_cmp(p->sent, first) < 0)
            gap_notice(cl, p->sent, first);
    }
}

/* ?last=ID in the request target: the client's place in the stream (400 if malformed). */
static unsigned on_request(struct ex_server *s, struct ex_client *cl)
{
    const char *t, *q;
    size_t n;
    struct peer *p;
    (void)s;
    if (ws_handshake_target(ws_conn_handshake(cl->c), &t, &n) != WS_OK ||
        !(p = calloc(1, sizeof *p)))
        return 500;
    cl->app = p;
    q = memchr(t, '?', n);
    while (q && (size_t)(q - t) < n) {
        const char *k = q + 1, *end = memchr(k, '&', n - (size_t)(k - t));
        size_t len = end ? (size_t)(end - k) : n - (size_t)(k - t);
        if (len >= 5 && !memcmp(k, "last=", 5)) {
            if (ex_sid_parse(k + 5, len - 5, &p->sent) != 0)
                return 400;
            p->has_last = 1;
        }
        q = end;
    }
    return 0;
}

/* A client's message in --redis mode: into the stream, or local, or refused. */
static void redis_publish(struct ex_server *s, struct ex_client *cl, const ws_event *ev)
{
    struct peer *p = cl->app;
    p->nmsg++;
    if (redis_local && !ex_fanout_up(fanout)) {
        struct bmsg *m = bmsg_env(ev->opcode, "-", 1, ev->data, ev->len);
        if (!m) {
            stats.dropped++;
            return;
        }
        stats.local++;
        for (size_t i = 0; i < s->cap; i++) {
            struct ex_client *to = s->by_fd[i];
            if (to)
                deliver(s, to, m);
        }
        bmsg_unref(m);
        flush_all(s);
        return;
    }
    if (ex_fanout_publish(fanout, ev->opcode, ev->data, ev->len) != 0) {
        stats.refused++;
        notice(cl, "!dropped %llu", (unsigned long long)p->nmsg);
    }
}

static void on_event(struct ex_server *s, struct ex_client *cl, const ws_event *ev)
{
    switch (ev->type) {
    case WS_EV_OPEN:
        if (!cl->app)
            cl->app = calloc(1, sizeof(struct peer));
        /* The library's own mark is only a backstop: the policy is applied here, before the
         * send, so a receiver under the limit always has room for one whole message. */
        ws_conn_set_option(cl->c, WS_OPT_SEND_HIGH_WATER,
                           queue_limit + s->opt.max_message + 65536);
        ws_conn_set_option(cl->c, WS_OPT_SEND_POLICY, WS_POLICY_ERROR);
        if (fanout && cl->app)
            redis_open(cl);
        break;
    case WS_EV_MESSAGE: {
        stats.in++;
        if (fanout) {
            if (cl->app)
                redis_publish(s, cl, ev);
            break;
        }
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
    ex_fanout_cancel(p->req);
    bmsg_unref(p->held);
    free(p);
    cl->app = NULL;
}

static void on_tick(struct ex_server *s, uint64_t now)
{
    static uint64_t next;
    if (fanout)
        ex_fanout_tick(fanout, now);
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
           "accepted=%llu refused_503=%llu",
           s->count, (unsigned long long)stats.in, (unsigned long long)stats.out,
           (unsigned long long)queued, (unsigned long long)stats.dropped,
           (unsigned long long)stats.closed_behind, (unsigned long long)stats.live,
           (unsigned long long)stats.live_bytes, (unsigned long long)s->stat_1006,
           (unsigned long long)s->stat_accepted, (unsigned long long)s->stat_503);
    if (fanout) {
        struct ex_fanout_stats f;
        ex_fanout_get_stats(fanout, &f);
        printf(" redis_up=%d redis_queue=%zu redis_queue_bytes=%zu redis_queue_peak=%zu "
               "published=%llu refused=%llu resent=%llu found=%llu redis_reconnects=%llu "
               "redis_errors=%llu replays=%llu gaps=%llu local=%llu caught_up=%llu",
               f.up, f.queued, f.queued_bytes, f.queue_peak, (unsigned long long)f.published,
               (unsigned long long)stats.refused, (unsigned long long)f.resent,
               (unsigned long long)f.found, (unsigned long long)f.reconnects,
               (unsigned long long)f.errors, (unsigned long long)stats.replays,
               (unsigned long long)stats.gaps, (unsigned long long)stats.local,
               (unsigned long long)stats.caught_up);
    }
    printf("\n");
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
           "close closes it with 1013. One copy of a message is shared by all receivers.\n"
           "Several nodes through a Redis stream%s:\n"
           "  --redis HOST:PORT        publish to and deliver from this Redis (off)\n"
           "  --stream NAME            the stream's key (%s)\n"
           "  --redis-maxlen N         XADD MAXLEN ~ N: entries kept for replay (%u)\n"
           "  --redis-queue N          messages waiting for Redis at most (%u)\n"
           "  --redis-queue-bytes BYTES  and their bytes at most (%u); over either, a new\n"
           "                           message is refused: its sender gets \"!dropped N\"\n"
           "  --redis-timeout SECONDS  a Redis command unanswered this long: reconnect (%u)\n"
           "  --redis-local            while Redis is unreachable, deliver to this node's\n"
           "                           clients (ID \"-\") instead of queueing\n"
           "Each message goes out as \"ID\\nPAYLOAD\"; /?last=ID replays what followed ID,\n"
           "then \"!live\"; \"!gap A B\" says entries were trimmed before they could be sent.\n\n",
           prog, (unsigned long long)DEFAULT_QUEUE_LIMIT,
           ex_fanout_available() ? "" : " (this build has no hiredis)", DEFAULT_STREAM,
           DEFAULT_MAXLEN, DEFAULT_REDIS_QUEUE, DEFAULT_REDIS_QUEUE_BYTES,
           DEFAULT_REDIS_TIMEOUT_MS / 1000u);
    fflush(stdout);
}

static int redis_flags; /* --stream and --redis-* given */
static struct ex_redis_opt redis_opt = {
    NULL, 0, DEFAULT_STREAM, DEFAULT_MAXLEN, DEFAULT_REDIS_QUEUE, DEFAULT_REDIS_QUEUE_BYTES,
    DEFAULT_REDIS_TIMEOUT_MS};

static void redis_usage(const char *prog, const char *flag, const char *v)
{
    fprintf(stderr, "%s: %s: bad value '%s'\n", prog, flag, v);
    exit(2);
}

/* A whole number in [1, max]. */
static uint64_t count_arg(const char *prog, const char *flag, const char *v, uint64_t max)
{
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    if (*end || !*v || *v == '-' || n == 0 || n > max)
        redis_usage(prog, flag, v);
    return n;
}

/* HOST:PORT (the last colon splits; [v6]:port also works). */
static void redis_addr(const char *prog, const char *v)
{
    static char host[256];
    const char *colon = strrchr(v, ':');
    size_t n = colon ? (size_t)(colon - v) : 0;
    if (n >= 2 && v[0] == '[' && v[n - 1] == ']') {
        v++;
        n -= 2;
    }
    if (!colon || n == 0 || n >= sizeof host)
        redis_usage(prog, "--redis", v);
    memcpy(host, v, n);
    host[n] = '\0';
    redis_opt.host = host;
    redis_opt.port = (int)count_arg(prog, "--redis", colon + 1, 65535);
}

static uint64_t bytes_arg(const char *prog, const char *flag, const char *v)
{
    char *end;
    unsigned long long n = strtoull(v, &end, 10);
    unsigned shift = 0;
    if (*end && !end[1] && strchr("KMG", *end & ~0x20)) {
        shift = *end == 'K' || *end == 'k' ? 10 : *end == 'M' || *end == 'm' ? 20 : 30;
        end++;
    }
    if (*end || !*v || *v == '-' || n == 0 || n > (UINT64_MAX >> 32)) {
        fprintf(stderr, "%s: %s needs a number of bytes >= 1, got '%s'\n", prog, flag, v);
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
            queue_limit = bytes_arg(argv[0], "--queue-limit", argv[++i]);
            continue;
        }
        if (!strcmp(argv[i], "--redis-local")) {
            redis_local = 1;
            redis_flags++;
            continue;
        }
        if (i + 1 < argc) {
            const char *a = argv[i], *v = argv[i + 1];
            if (!strcmp(a, "--redis"))
                redis_addr(argv[0], v);
            else if (!strcmp(a, "--stream") && *v)
                redis_opt.stream = v;
            else if (!strcmp(a, "--redis-maxlen"))
                redis_opt.maxlen = count_arg(argv[0], a, v, UINT64_MAX);
            else if (!strcmp(a, "--redis-queue"))
                redis_opt.queue_msgs = (uint32_t)count_arg(argv[0], a, v, UINT32_MAX);
            else if (!strcmp(a, "--redis-queue-bytes"))
                redis_opt.queue_bytes = bytes_arg(argv[0], a, v);
            else if (!strcmp(a, "--redis-timeout"))
                redis_opt.timeout_ms = (uint32_t)count_arg(argv[0], a, v, 3600) * 1000u;
            else
                a = NULL;
            if (a) {
                redis_flags += strcmp(a, "--redis") != 0;
                i++;
                continue;
            }
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
    if (redis_opt.host && !ex_fanout_available()) {
        fprintf(stderr, "%s: --redis: built without hiredis (REDIS=0); rebuild with "
                        "libhiredis-dev installed\n", argv[0]);
        return 2;
    }
    if (redis_flags && !redis_opt.host) {
        fprintf(stderr, "%s: --stream and --redis-* go with --redis\n", argv[0]);
        return 2;
    }
    if (!s || ex_server_init(s, &o, ex_poll_ops, on_event) != 0)
        return 1;
    server = s;
    s->on_tick = on_tick;
    s->on_drained = on_drained;
    s->on_drop = on_drop;
    if (redis_opt.host) {
        struct ex_fanout_hooks h = {s, on_entry, on_batch, on_state, on_node_gap};
        if (!(fanout = ex_fanout_new(s, &redis_opt, &h))) {
            ex_server_free(s);
            free(s);
            return 1;
        }
        s->on_request = on_request;
    }
    ex_run_poll(s);
    ex_fanout_free(fanout);
    fanout = NULL;
    ex_server_free(s);
    free(s);
    return 0;
}
