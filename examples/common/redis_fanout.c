/*
 * Fan-out through a Redis stream on the examples' loop (see redis_fanout.h): hiredis'
 * asynchronous API with a small adapter of our own -- its addRead/delRead/addWrite/delWrite
 * hooks become ex_watch_set on an ex_watch_fd descriptor, readiness comes back as
 * redisAsyncHandleRead/Write, and the timers (reconnect delay, unanswered commands) are
 * checked in ex_fanout_tick and announced through s->app_wake. Without EX_HAVE_REDIS
 * (make REDIS=0) only the stream-ID helpers and the stubs at the end are built.
 */
#include "redis_fanout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ex_sid_parse(const char *p, size_t n, struct ex_sid *out)
{
    uint64_t v[2] = {0, 0};
    int part = 0;
    size_t digits = 0;

    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (p[i] == '-' && part == 0 && digits) {
            part = 1;
            digits = 0;
            continue;
        }
        if (d > 9 || v[part] > (UINT64_MAX - d) / 10)
            return -1;
        v[part] = v[part] * 10 + d;
        digits++;
    }
    if (!digits)
        return -1;
    out->ms = v[0];
    out->seq = v[1];
    return 0;
}

int ex_sid_cmp(struct ex_sid a, struct ex_sid b)
{
    if (a.ms != b.ms)
        return a.ms < b.ms ? -1 : 1;
    if (a.seq != b.seq)
        return a.seq < b.seq ? -1 : 1;
    return 0;
}

size_t ex_sid_format(struct ex_sid id, char *buf)
{
    int n = snprintf(buf, EX_SID_MAX, "%llu-%llu", (unsigned long long)id.ms,
                     (unsigned long long)id.seq);
    return n > 0 ? (size_t)n : 0;
}

#ifdef EX_HAVE_REDIS

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#define BACKOFF_BASE_MS 100u
#define BACKOFF_CAP_MS 5000u
#define BACKOFF_STABLE_MS 10000u
#define SCAN_COUNT 512 /* entries per page when looking for in-flight XADDs */

struct link;

/* One hiredis context's watch on the loop; freed by its cleanup hook. */
struct adapter {
    struct link *l;
    redisAsyncContext *ac;
    struct ex_client *w;
    unsigned want;
};

struct link {
    ex_fanout *f;
    const char *name;
    redisAsyncContext *ac; /* NULL: none (or the one there is being given up) */
    unsigned pending;      /* commands sent, not answered */
    uint64_t waiting_since;
    uint32_t grace_ms;     /* on top of the timeout (the reader's BLOCK) */
};

/* A message on its way to XADD. */
struct pub {
    struct pub *next;
    uint64_t seq;
    uint8_t op;
    size_t len;
    uint8_t data[];
};

enum { F_DOWN, F_SYNC, F_UP };
enum { REQ_GAP, REQ_RANGE };

struct ex_fanout_req {
    int kind;
    int cancelled;
    struct ex_sid sid;
    ex_fanout_gap_fn gap_fn;
    ex_fanout_range_fn range_fn;
    void *arg;
};

struct ex_fanout {
    struct ex_server *s;
    struct ex_redis_opt o;
    struct ex_fanout_hooks h;
    struct link cmd, rd;
    int state;
    ws_backoff bo;
    uint64_t retry_at;  /* F_DOWN: the next attempt */
    char node[17];      /* this process's random id, in each entry's "s" tag */
    char maxlen[24];
    uint64_t next_seq;
    /* The queue toward Redis: head .. unsent (exclusive) are in flight, unsent .. tail wait. */
    struct pub *head, *tail, *unsent;
    size_t q_msgs, q_bytes, inflight;
    /* In-flight XADDs of a lost connection: those up to unknown_upto may be in the stream. */
    int resolve;
    uint64_t unknown_upto, found_seq;
    struct ex_sid last_ack;
    int have_ack;
    /* The publishing connection's CLIENT ID, and that of the one given up with XADDs in
     * flight: a stalled (not dead) Redis could still run those once it wakes up, so the
     * next connection kills it (CLIENT KILL ID) before looking for them. */
    long long client_id, stale_id;
    struct ex_sid last; /* the reader's position */
    int have_last;
    /* The oldest retained entry of the last gap reported (on_gap): a check that finds the
     * same hole again says nothing more. */
    struct ex_sid gap_first;
    int gap_told;
    struct ex_fanout_stats st;
    uint64_t logged_errors;
};

static void lost(ex_fanout *f, const char *what, const char *why);

/* ---- the adapter: hiredis' event hooks onto ex_watch_fd ---- */

static void ad_set(struct adapter *a, unsigned want)
{
    a->want = want;
    ex_watch_set(a->l->f->s, a->w, want);
}

static void ad_add_read(void *p)
{
    struct adapter *a = p;
    ad_set(a, a->want | EX_WANT_READ);
}

static void ad_del_read(void *p)
{
    struct adapter *a = p;
    ad_set(a, a->want & ~(unsigned)EX_WANT_READ);
}

static void ad_add_write(void *p)
{
    struct adapter *a = p;
    ad_set(a, a->want | EX_WANT_WRITE);
}

static void ad_del_write(void *p)
{
    struct adapter *a = p;
    ad_set(a, a->want & ~(unsigned)EX_WANT_WRITE);
}

/* hiredis frees the context: whatever the cause (our redisAsyncFree, an error, the server's
 * end of file, a failed connect), this runs. If it is the link's current context, hiredis
 * gave it up on its own: the broker is down. */
static void ad_cleanup(void *p)
{
    struct adapter *a = p;
    struct link *l = a->l;
    int current = l->ac == a->ac;
    char why[128];

    snprintf(why, sizeof why, "%s", a->ac->errstr[0] ? a->ac->errstr : "connection closed");
    ex_unwatch_fd(l->f->s, a->w);
    free(a);
    if (current) {
        l->ac = NULL;
        lost(l->f, l->name, why);
    }
}

static void ad_io(struct ex_server *s, struct ex_client *w, unsigned ready)
{
    struct adapter *a = w->app;
    redisAsyncContext *ac = a->ac;
    (void)s;
    if (ready & EX_WANT_READ)
        redisAsyncHandleRead(ac);
    if (w->dead)
        return; /* the context is gone (and a with it) */
    if (ready & EX_WANT_WRITE)
        redisAsyncHandleWrite(ac);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    (void)ac;
    (void)status; /* a failure ends in ad_cleanup, which says why */
}

static int link_open(ex_fanout *f, struct link *l)
{
    redisAsyncContext *ac = redisAsyncConnect(f->o.host, f->o.port);
    struct adapter *a;

    l->pending = 0;
    if (!ac || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        return -1;
    }
    if (!(a = calloc(1, sizeof *a)) || !(a->w = ex_watch_fd(f->s, ac->c.fd, ad_io, a))) {
        free(a);
        redisAsyncFree(ac);
        return -1;
    }
    a->l = l;
    a->ac = ac;
    ac->data = l;
    ac->ev.data = a;
    ac->ev.addRead = ad_add_read;
    ac->ev.delRead = ad_del_read;
    ac->ev.addWrite = ad_add_write;
    ac->ev.delWrite = ad_del_write;
    ac->ev.cleanup = ad_cleanup;
    l->ac = ac;
    redisAsyncSetConnectCallback(ac, on_connect); /* watches for writability: connected */
    return 0;
}

/* Give the link's context up: pending callbacks run with no reply (they see a link whose
 * context is no longer theirs and ignore it, or report a failed request). */
static void link_drop(struct link *l)
{
    redisAsyncContext *ac = l->ac;
    l->ac = NULL;
    l->pending = 0;
    if (ac)
        redisAsyncFree(ac);
}

/* The loop must wake by `when` (the timers run in ex_fanout_tick). */
static void wake_by(ex_fanout *f, uint64_t when)
{
    if (!f->s->app_wake || when < f->s->app_wake)
        f->s->app_wake = when;
}

static int link_cmd(struct link *l, redisCallbackFn *fn, void *priv, int argc, const char **argv,
                    const size_t *lens)
{
    if (!l->ac || redisAsyncCommandArgv(l->ac, fn, priv, argc, argv, lens) != REDIS_OK)
        return -1;
    if (l->pending++ == 0) {
        l->waiting_since = ex_now_ms();
        wake_by(l->f, l->waiting_since + l->f->o.timeout_ms + l->grace_ms);
    }
    return 0;
}

/* A reply came: the link it belongs to, or NULL if none (the context is being given up). */
static struct link *link_reply(redisAsyncContext *ac, void *reply)
{
    struct link *l = ac->data;
    if (!reply || !l || l->ac != ac)
        return NULL;
    if (l->pending && --l->pending)
        l->waiting_since = ex_now_ms(); /* it answers: the next one has its full time */
    return l;
}

static int is_str(const redisReply *r)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

static int str_is(const redisReply *r, const char *s)
{
    return is_str(r) && r->len == strlen(s) && !memcmp(r->str, s, r->len);
}

static void log_error(ex_fanout *f, const char *cmd, const redisReply *r)
{
    f->st.errors++;
    if (f->logged_errors++ < 10)
        fprintf(stderr, "redis: %s answered: %.*s\n", cmd,
                r->type == REDIS_REPLY_ERROR ? (int)r->len : 14,
                r->type == REDIS_REPLY_ERROR ? r->str : "something else");
}

/* ---- stream entries ---- */

/* [id, [field, value, ...]]: the entry, and its "s" tag (NULL if none). -1 if malformed or
 * without "d". */
static int parse_entry(const redisReply *r, struct ex_entry *e, const redisReply **tag)
{
    int has_data = 0;
    *tag = NULL;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 || !is_str(r->element[0]) ||
        ex_sid_parse(r->element[0]->str, r->element[0]->len, &e->id) != 0)
        return -1;
    const redisReply *kv = r->element[1];
    if (kv->type != REDIS_REPLY_ARRAY)
        return -1;
    e->op = WS_OP_TEXT;
    for (size_t i = 0; i + 1 < kv->elements; i += 2) {
        const redisReply *k = kv->element[i], *v = kv->element[i + 1];
        if (!is_str(v))
            continue;
        if (str_is(k, "d")) {
            e->data = (const uint8_t *)v->str;
            e->len = v->len;
            has_data = 1;
        } else if (str_is(k, "o")) {
            e->op = str_is(v, "2") ? WS_OP_BINARY : WS_OP_TEXT;
        } else if (str_is(k, "s")) {
            *tag = v;
        }
    }
    return has_data ? 0 : -1;
}

/* The ID of an entry, parsed or not (for moving past a malformed one). */
static int entry_id(const redisReply *r, struct ex_sid *id)
{
    return r->type == REDIS_REPLY_ARRAY && r->elements >= 1 && is_str(r->element[0]) &&
                   ex_sid_parse(r->element[0]->str, r->element[0]->len, id) == 0
               ? 0
               : -1;
}

/* What XINFO STREAM says about the retained window. */
struct sinfo {
    uint64_t length, added;
    int have_added, have_first;
    struct ex_sid last_gen, first;
};

/* 0 with *si filled (an absent stream is an empty one); -1 if the reply is not understood. */
static int parse_info(const redisReply *r, struct sinfo *si)
{
    memset(si, 0, sizeof *si);
    if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "no such key"))
        return 0;
    if (r->type != REDIS_REPLY_ARRAY)
        return -1;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *k = r->element[i], *v = r->element[i + 1];
        if (str_is(k, "length") && v->type == REDIS_REPLY_INTEGER)
            si->length = (uint64_t)v->integer;
        else if (str_is(k, "entries-added") && v->type == REDIS_REPLY_INTEGER) {
            si->added = (uint64_t)v->integer;
            si->have_added = 1;
        } else if (str_is(k, "last-generated-id") && is_str(v)) {
            if (ex_sid_parse(v->str, v->len, &si->last_gen) != 0)
                return -1;
        } else if (str_is(k, "first-entry") && v->type == REDIS_REPLY_ARRAY) {
            si->have_first = entry_id(v, &si->first) == 0;
        }
    }
    return 0;
}

/* Would a reader at `last` have missed trimmed entries? (See ex_fanout_gap.) Redis 7's
 * entries-added tells whether anything was ever removed; without it (older Redis) the
 * answer is only the comparison with the oldest entry. */
static int info_gap(const struct sinfo *si, struct ex_sid last, struct ex_sid *first)
{
    if (si->have_added && si->added <= si->length)
        return 0; /* nothing was ever trimmed */
    if (!si->have_first) { /* everything was: anything up to the last ID is gone */
        *first = si->last_gen;
        first->seq++;
        return (si->have_added || si->length == 0) && ex_sid_cmp(last, si->last_gen) < 0;
    }
    *first = si->first;
    return ex_sid_cmp(last, si->first) < 0;
}

/* ---- reading ---- */

static void on_read(redisAsyncContext *ac, void *reply, void *priv);

/* Entries after `after` and before `first` were trimmed before the reader got them: said
 * once per hole (the reconnection's XINFO and the next read's check may both see it). */
static void report_gap(ex_fanout *f, struct ex_sid after, struct ex_sid first)
{
    if (f->gap_told && ex_sid_cmp(first, f->gap_first) <= 0)
        return;
    f->gap_told = 1;
    f->gap_first = first;
    if (f->h.on_gap)
        f->h.on_gap(f->h.arg, after, first);
}

/* The answer to the check before an XREAD: the first entry at or after the reader's last.
 * That entry itself: nothing was trimmed past the reader. A later one: the last entry is
 * gone, and trimming removes the oldest first, so whatever followed it up to this one went
 * too, undelivered (if there was anything: the answer errs on the side of saying so). None:
 * nothing at or after it is left to miss. */
static void on_check(redisAsyncContext *ac, void *reply, void *priv)
{
    ex_fanout *f = priv;
    const redisReply *r = reply;
    struct ex_sid first;
    if (!link_reply(ac, reply))
        return;
    if (r->type != REDIS_REPLY_ARRAY) {
        log_error(f, "XRANGE", r);
        lost(f, "reader", "XRANGE failed");
        return;
    }
    if (r->elements && entry_id(r->element[0], &first) == 0 && ex_sid_cmp(first, f->last) > 0)
        report_gap(f, f->last, first);
}

/*
 * The next XREAD, after a check that the last entry delivered is still in the stream. A
 * reader that falls more than the retained window behind while connected (its node slow or
 * stopped, entries added faster than it reads) would otherwise go on from the oldest entry
 * left without a word. The check (XRANGE last + COUNT 1) goes out in the same write as the
 * XREAD, so Redis runs the two back to back: what the check finds is what the XREAD starts
 * from.
 */
static void read_next(ex_fanout *f)
{
    char id[EX_SID_MAX], count[16], block[16];
    ex_sid_format(f->last, id);
    snprintf(count, sizeof count, "%d", EX_FANOUT_READ_COUNT);
    snprintf(block, sizeof block, "%u", EX_FANOUT_BLOCK_MS);
    const char *check[] = {"XRANGE", f->o.stream, id, "+", "COUNT", "1"};
    const char *argv[] = {"XREAD", "COUNT", count, "BLOCK", block, "STREAMS", f->o.stream, id};
    if ((f->last.ms || f->last.seq) && link_cmd(&f->rd, on_check, f, 6, check, NULL) != 0) {
        lost(f, "reader", "cannot send XRANGE");
        return;
    }
    if (link_cmd(&f->rd, on_read, f, 8, argv, NULL) != 0)
        lost(f, "reader", "cannot send XREAD");
}

static void on_read(redisAsyncContext *ac, void *reply, void *priv)
{
    ex_fanout *f = priv;
    const redisReply *r = reply;
    if (!link_reply(ac, reply))
        return;
    if (r->type == REDIS_REPLY_NIL) { /* BLOCK ran out: nothing new */
        read_next(f);
        return;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        log_error(f, "XREAD", r);
        lost(f, "reader", "XREAD failed");
        return;
    }
    /* [[stream, [entry, ...]]] */
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *st = r->element[i];
        if (st->type != REDIS_REPLY_ARRAY || st->elements != 2 ||
            st->element[1]->type != REDIS_REPLY_ARRAY)
            continue;
        const redisReply *es = st->element[1];
        for (size_t k = 0; k < es->elements; k++) {
            struct ex_entry e;
            const redisReply *tag;
            struct ex_sid id;
            if (entry_id(es->element[k], &id) != 0 || ex_sid_cmp(id, f->last) <= 0)
                continue;
            f->last = id; /* a malformed entry is passed over, not read again */
            if (parse_entry(es->element[k], &e, &tag) == 0 && f->h.on_entry)
                f->h.on_entry(f->h.arg, &e);
        }
    }
    if (f->h.on_batch)
        f->h.on_batch(f->h.arg);
    if (f->state == F_UP)
        read_next(f);
}

/* ---- publishing ---- */

static void on_xadd(redisAsyncContext *ac, void *reply, void *priv);
static void scan_next(ex_fanout *f, struct ex_sid from, int from_start);

static void pump(ex_fanout *f)
{
    while (f->state == F_UP && !f->resolve && f->unsent && f->inflight < EX_FANOUT_WINDOW) {
        struct pub *p = f->unsent;
        char tag[48];
        const char *argv[12];
        size_t lens[12];
        int n = 0;
        snprintf(tag, sizeof tag, "%s:%llu", f->node, (unsigned long long)p->seq);
#define ARG(s, l) (argv[n] = (const char *)(s), lens[n] = (l), n++)
        ARG("XADD", 4);
        ARG(f->o.stream, strlen(f->o.stream));
        if (f->o.maxlen) {
            ARG("MAXLEN", 6);
            ARG("~", 1);
            ARG(f->maxlen, strlen(f->maxlen));
        }
        ARG("*", 1);
        ARG("o", 1);
        ARG(p->op == WS_OP_BINARY ? "2" : "1", 1);
        ARG("s", 1);
        ARG(tag, strlen(tag));
        ARG("d", 1);
        ARG(p->data, p->len);
#undef ARG
        if (link_cmd(&f->cmd, on_xadd, f, n, argv, lens) != 0) {
            lost(f, "publisher", "cannot send XADD");
            return;
        }
        f->inflight++;
        f->unsent = p->next;
    }
}

static void pop_head(ex_fanout *f)
{
    struct pub *p = f->head;
    f->head = p->next;
    if (!f->head)
        f->tail = NULL;
    if (f->unsent == p)
        f->unsent = p->next;
    f->q_msgs--;
    f->q_bytes -= p->len;
    free(p);
}

static void on_xadd(redisAsyncContext *ac, void *reply, void *priv)
{
    ex_fanout *f = priv;
    const redisReply *r = reply;
    struct ex_sid id;
    if (!link_reply(ac, reply) || !f->inflight || !f->head)
        return;
    /* Replies come in order: this is the oldest in flight. */
    f->inflight--;
    if (is_str(r) && ex_sid_parse(r->str, r->len, &id) == 0) {
        f->last_ack = id;
        f->have_ack = 1;
        f->st.published++;
    } else {
        log_error(f, "XADD", r); /* refused (memory, wrong type...): the message is dropped */
    }
    pop_head(f);
    pump(f);
}

int ex_fanout_publish(ex_fanout *f, uint8_t op, const uint8_t *p, size_t n)
{
    struct pub *m;
    if (f->q_msgs >= f->o.queue_msgs || n > f->o.queue_bytes - f->q_bytes ||
        !(m = malloc(sizeof *m + n))) {
        f->st.refused++;
        return -1;
    }
    m->next = NULL;
    m->seq = ++f->next_seq;
    m->op = op;
    m->len = n;
    if (n)
        memcpy(m->data, p, n);
    if (f->tail)
        f->tail->next = m;
    else
        f->head = m;
    f->tail = m;
    if (!f->unsent)
        f->unsent = m;
    f->q_msgs++;
    f->q_bytes += n;
    if (f->q_msgs > f->st.queue_peak)
        f->st.queue_peak = f->q_msgs;
    pump(f);
    return 0;
}

/* ---- after a lost connection: which in-flight XADDs made it into the stream? ---- */

static void scan_done(ex_fanout *f)
{
    uint64_t found = 0, resent = 0;
    while (f->head && f->head->seq <= f->found_seq) {
        pop_head(f);
        found++;
    }
    for (struct pub *p = f->head; p && p->seq <= f->unknown_upto; p = p->next)
        resent++;
    f->st.found += found;
    f->st.published += found;
    f->st.resent += resent;
    f->resolve = 0;
    fprintf(stderr, "redis: of the messages in flight when the connection was lost, %llu "
                    "were found in the stream, %llu are sent again\n",
            (unsigned long long)found, (unsigned long long)resent);
    pump(f);
}

static void on_scan(redisAsyncContext *ac, void *reply, void *priv)
{
    ex_fanout *f = priv;
    const redisReply *r = reply;
    struct ex_sid id = {0, 0};
    size_t plen = strlen(f->node);
    if (!link_reply(ac, reply))
        return;
    if (r->type != REDIS_REPLY_ARRAY) {
        log_error(f, "XRANGE", r);
        lost(f, "publisher", "XRANGE failed");
        return;
    }
    for (size_t i = 0; i < r->elements; i++) {
        struct ex_entry e;
        const redisReply *tag;
        if (entry_id(r->element[i], &id) != 0)
            continue;
        if (parse_entry(r->element[i], &e, &tag) != 0 || !tag || tag->len <= plen + 1 ||
            memcmp(tag->str, f->node, plen) || tag->str[plen] != ':')
            continue;
        struct ex_sid seq; /* the digits after "NODE:" */
        if (ex_sid_parse(tag->str + plen + 1, tag->len - plen - 1, &seq) == 0 &&
            seq.ms > f->found_seq)
            f->found_seq = seq.ms;
    }
    if (r->elements == SCAN_COUNT)
        scan_next(f, id, 0);
    else
        scan_done(f);
}

static void scan_next(ex_fanout *f, struct ex_sid from, int from_start)
{
    char start[EX_SID_MAX + 1], count[16];
    start[0] = '(';
    ex_sid_format(from, start + 1);
    snprintf(count, sizeof count, "%d", SCAN_COUNT);
    const char *argv[] = {"XRANGE", f->o.stream, from_start ? "-" : start, "+", "COUNT", count};
    if (link_cmd(&f->cmd, on_scan, f, 6, argv, NULL) != 0)
        lost(f, "publisher", "cannot send XRANGE");
}

/* ---- the connection's life ---- */

static void on_sync(redisAsyncContext *ac, void *reply, void *priv)
{
    ex_fanout *f = priv;
    const redisReply *r = reply;
    struct sinfo si;
    struct ex_sid first;
    char id[EX_SID_MAX];
    if (!link_reply(ac, reply))
        return;
    if (parse_info(r, &si) != 0) {
        log_error(f, "XINFO STREAM", r);
        lost(f, "publisher", "XINFO STREAM failed");
        return;
    }
    if (!f->have_last) {
        f->last = si.last_gen; /* from now on */
        f->have_last = 1;
    } else if (info_gap(&si, f->last, &first)) {
        report_gap(f, f->last, first);
    }
    f->state = F_UP;
    ws_backoff_connected(&f->bo, ex_now_ms());
    ex_sid_format(f->last, id);
    fprintf(stderr, "redis: connected to %s:%d, stream %s, reading after %s; %zu message(s) "
                    "queued\n", f->o.host, f->o.port, f->o.stream, id, f->q_msgs);
    read_next(f);
    if (f->state != F_UP)
        return;
    if (f->resolve) {
        f->found_seq = 0;
        scan_next(f, f->last_ack, !f->have_ack);
    } else {
        pump(f);
    }
    if (f->state == F_UP && f->h.on_state)
        f->h.on_state(f->h.arg, 1);
}

static void on_client_id(redisAsyncContext *ac, void *reply, void *priv)
{
    ex_fanout *f = priv;
    const redisReply *r = reply;
    if (link_reply(ac, reply) && r->type == REDIS_REPLY_INTEGER)
        f->client_id = r->integer;
}

/* CLIENT KILL's answer: done (or no such client: gone already); either way the old
 * connection runs nothing more. */
static void on_kill(redisAsyncContext *ac, void *reply, void *priv)
{
    ex_fanout *f = priv;
    if (link_reply(ac, reply))
        f->stale_id = 0;
}

static void connect_all(ex_fanout *f)
{
    char stale[24];
    f->state = F_SYNC;
    if (link_open(f, &f->cmd) != 0 || link_open(f, &f->rd) != 0) {
        lost(f, "publisher", "cannot connect");
        return;
    }
    snprintf(stale, sizeof stale, "%lld", f->stale_id);
    const char *kill[] = {"CLIENT", "KILL", "ID", stale};
    const char *id[] = {"CLIENT", "ID"};
    const char *info[] = {"XINFO", "STREAM", f->o.stream};
    if ((f->stale_id && link_cmd(&f->cmd, on_kill, f, 4, kill, NULL) != 0) ||
        link_cmd(&f->cmd, on_client_id, f, 2, id, NULL) != 0 ||
        link_cmd(&f->cmd, on_sync, f, 3, info, NULL) != 0)
        lost(f, "publisher", "cannot send its first commands");
}

static void lost(ex_fanout *f, const char *what, const char *why)
{
    uint64_t now = ex_now_ms();
    uint32_t rnd = 0, delay = 0;
    int was_up = f->state == F_UP;

    if (f->state == F_DOWN)
        return; /* already (the other connection's end) */
    f->state = F_DOWN;
    if (f->inflight && f->client_id)
        f->stale_id = f->client_id;
    f->client_id = 0;
    if (f->inflight) { /* they may or may not be in the stream */
        for (struct pub *p = f->head; p != f->unsent; p = p->next)
            f->unknown_upto = p->seq;
        f->resolve = 1;
        f->inflight = 0;
        f->unsent = f->head;
    }
    link_drop(&f->cmd);
    link_drop(&f->rd);
    f->st.reconnects++;
    ws_backoff_disconnected(&f->bo, now);
    ws_random_os(NULL, &rnd, sizeof rnd);
    ws_backoff_next(&f->bo, rnd, &delay);
    f->retry_at = now + delay;
    wake_by(f, f->retry_at);
    fprintf(stderr, "redis: %s connection to %s:%d: %s; %zu message(s) queued (at most %u); "
                    "reconnecting in %u ms (attempt %u)\n",
            what, f->o.host, f->o.port, why, f->q_msgs, f->o.queue_msgs, delay, f->bo.attempt);
    if (was_up && f->h.on_state)
        f->h.on_state(f->h.arg, 0);
}

static void check_link(ex_fanout *f, struct link *l, uint64_t now, uint64_t *wake)
{
    if (f->state == F_DOWN || !l->ac || !l->pending)
        return;
    uint64_t due = l->waiting_since + f->o.timeout_ms + l->grace_ms;
    if (now >= due) {
        char why[64];
        snprintf(why, sizeof why, "no answer for %llu ms",
                 (unsigned long long)(now - l->waiting_since));
        lost(f, l->name, why);
        return;
    }
    if (!*wake || due < *wake)
        *wake = due;
}

void ex_fanout_tick(ex_fanout *f, uint64_t now)
{
    uint64_t wake = 0;
    if (f->state == F_DOWN && now >= f->retry_at)
        connect_all(f);
    check_link(f, &f->cmd, now, &wake);
    check_link(f, &f->rd, now, &wake);
    if (f->state == F_DOWN)
        wake = f->retry_at;
    f->s->app_wake = wake;
}

int ex_fanout_available(void)
{
    return 1;
}

ex_fanout *ex_fanout_new(struct ex_server *s, const struct ex_redis_opt *o,
                         const struct ex_fanout_hooks *h)
{
    ex_fanout *f = calloc(1, sizeof *f);
    uint8_t id[8];
    if (!f || ws_random_os(NULL, id, sizeof id) != WS_OK) {
        free(f);
        fprintf(stderr, "redis: cannot start\n");
        return NULL;
    }
    f->s = s;
    f->o = *o;
    f->h = *h;
    for (int i = 0; i < 8; i++)
        snprintf(f->node + 2 * i, 3, "%02x", id[i]);
    snprintf(f->maxlen, sizeof f->maxlen, "%llu", (unsigned long long)o->maxlen);
    f->cmd.f = f->rd.f = f;
    f->cmd.name = "publisher";
    f->rd.name = "reader";
    f->rd.grace_ms = EX_FANOUT_BLOCK_MS;
    ws_backoff_init(&f->bo, sizeof f->bo, BACKOFF_BASE_MS, BACKOFF_CAP_MS, BACKOFF_STABLE_MS);
    f->state = F_DOWN;
    f->retry_at = 0; /* at once */
    ex_fanout_tick(f, ex_now_ms());
    return f;
}

void ex_fanout_free(ex_fanout *f)
{
    if (!f)
        return;
    f->state = F_DOWN; /* what follows is no loss to report */
    link_drop(&f->cmd);
    link_drop(&f->rd);
    if (f->q_msgs)
        fprintf(stderr, "redis: %zu queued message(s) were not published\n", f->q_msgs);
    while (f->head)
        pop_head(f);
    free(f);
}

int ex_fanout_up(const ex_fanout *f)
{
    return f->state == F_UP;
}

struct ex_sid ex_fanout_last(const ex_fanout *f)
{
    return f->last;
}

int ex_fanout_synced(const ex_fanout *f)
{
    return f->have_last;
}

void ex_fanout_get_stats(const ex_fanout *f, struct ex_fanout_stats *st)
{
    *st = f->st;
    st->up = f->state == F_UP;
    st->queued = f->q_msgs;
    st->queued_bytes = f->q_bytes;
}

/* ---- replay queries ---- */

/* A replay query's answer. The callback hears ok 0 only when the connection is gone (the
 * caller waits for on_state up, then asks again): an answer that cannot be used (an error,
 * a reply not understood, no memory for it) gives the connection up too, rather than leave
 * the client waiting for a state change that would never come. */
static void on_req(redisAsyncContext *ac, void *reply, void *priv)
{
    struct ex_fanout_req *q = priv;
    const redisReply *r = reply;
    struct link *l = link_reply(ac, reply);
    const char *failed = NULL;
    int ok = l != NULL;

    if (q->cancelled) {
        free(q);
        return;
    }
    if (q->kind == REQ_GAP) {
        struct sinfo si;
        struct ex_sid first = {0, 0};
        int gap = 0;
        if (ok && parse_info(r, &si) != 0) {
            log_error(l->f, "XINFO STREAM", r);
            failed = "XINFO STREAM failed";
        }
        ok = ok && !failed;
        if (ok)
            gap = info_gap(&si, q->sid, &first);
        q->gap_fn(q->arg, ok, gap, first);
    } else {
        struct ex_entry *es = NULL;
        size_t n = 0;
        if (ok && r->type != REDIS_REPLY_ARRAY) {
            log_error(l->f, "XRANGE", r);
            failed = "XRANGE failed";
        } else if (ok && r->elements && !(es = malloc(r->elements * sizeof *es))) {
            failed = "out of memory for XRANGE's answer";
        }
        ok = ok && !failed;
        for (size_t i = 0; ok && i < r->elements; i++) {
            const redisReply *tag;
            if (parse_entry(r->element[i], &es[n], &tag) == 0)
                n++;
        }
        q->range_fn(q->arg, ok, es, n);
        free(es);
    }
    free(q);
    if (failed)
        lost(l->f, "publisher", failed);
}

/* NULL: the caller waits for on_state up -- so a query that cannot be sent while the broker
 * is up gives the connection up (a client would otherwise wait for nothing). */
static ex_fanout_req *request(ex_fanout *f, struct ex_fanout_req *q, int argc, const char **argv)
{
    if (f->state != F_UP) {
        free(q);
        return NULL;
    }
    if (link_cmd(&f->cmd, on_req, q, argc, argv, NULL) != 0) {
        free(q);
        lost(f, "publisher", "cannot send a replay query");
        return NULL;
    }
    return q;
}

ex_fanout_req *ex_fanout_gap(ex_fanout *f, struct ex_sid last, ex_fanout_gap_fn fn, void *arg)
{
    struct ex_fanout_req *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->kind = REQ_GAP;
    q->sid = last;
    q->gap_fn = fn;
    q->arg = arg;
    const char *argv[] = {"XINFO", "STREAM", f->o.stream};
    return request(f, q, 3, argv);
}

ex_fanout_req *ex_fanout_range(ex_fanout *f, struct ex_sid after, int inclusive, unsigned count,
                               ex_fanout_range_fn fn, void *arg)
{
    struct ex_fanout_req *q = calloc(1, sizeof *q);
    char start[EX_SID_MAX + 1], cnt[16];
    if (!q)
        return NULL;
    q->kind = REQ_RANGE;
    q->range_fn = fn;
    q->arg = arg;
    start[0] = '(';
    ex_sid_format(after, start + 1);
    snprintf(cnt, sizeof cnt, "%u", count);
    const char *argv[] = {"XRANGE", f->o.stream, inclusive ? start + 1 : start, "+", "COUNT",
                          cnt};
    return request(f, q, 6, argv);
}

void ex_fanout_cancel(ex_fanout_req *r)
{
    if (r)
        r->cancelled = 1; /* freed when its answer (or the end of the connection) comes */
}

#else /* !EX_HAVE_REDIS: the stubs */

int ex_fanout_available(void)
{
    return 0;
}

ex_fanout *ex_fanout_new(struct ex_server *s, const struct ex_redis_opt *o,
                         const struct ex_fanout_hooks *h)
{
    (void)s;
    (void)o;
    (void)h;
    fprintf(stderr, "redis: built without hiredis\n");
    return NULL;
}

void ex_fanout_free(ex_fanout *f)
{
    (void)f;
}

void ex_fanout_tick(ex_fanout *f, uint64_t now)
{
    (void)f;
    (void)now;
}

int ex_fanout_up(const ex_fanout *f)
{
    (void)f;
    return 0;
}

struct ex_sid ex_fanout_last(const ex_fanout *f)
{
    struct ex_sid z = {0, 0};
    (void)f;
    return z;
}

int ex_fanout_synced(const ex_fanout *f)
{
    (void)f;
    return 0;
}

int ex_fanout_publish(ex_fanout *f, uint8_t op, const uint8_t *p, size_t n)
{
    (void)f;
    (void)op;
    (void)p;
    (void)n;
    return -1;
}

ex_fanout_req *ex_fanout_gap(ex_fanout *f, struct ex_sid last, ex_fanout_gap_fn fn, void *arg)
{
    (void)f;
    (void)last;
    (void)fn;
    (void)arg;
    return NULL;
}

ex_fanout_req *ex_fanout_range(ex_fanout *f, struct ex_sid after, int inclusive, unsigned count,
                               ex_fanout_range_fn fn, void *arg)
{
    (void)f;
    (void)after;
    (void)inclusive;
    (void)count;
    (void)fn;
    (void)arg;
    return NULL;
}

void ex_fanout_cancel(ex_fanout_req *r)
{
    (void)r;
}

void ex_fanout_get_stats(const ex_fanout *f, struct ex_fanout_stats *st)
{
    (void)f;
    memset(st, 0, sizeof *st);
}

#endif
