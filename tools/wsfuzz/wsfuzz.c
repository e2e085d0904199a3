/*
 * wsfuzz -- a stateful black-box fuzzer for any WebSocket server, or (--listen) client, built
 * on libws.
 *
 * Each session opens a TCP connection and does the opening handshake (ws_handshake; with
 * --listen it starts the client command, accepts and answers), then sends seeded traffic made
 * by libws's generator (ws_gen): valid messages (text and binary, whole or fragmented, pings
 * and pongs interleaved; compressed too with --deflate) and ONE mutation from ws_gen's list,
 * the byte stream split across TCP writes at random. What the violation must be answered with
 * is not hard-coded here: the mutation's tag (ws_gen_mutation) gives the rule broken, the close
 * code RFC 6455 asks for and how firmly (severity), and the session's stream is run through a
 * ws_checker of our role to confirm it. The peer's frames are read through a second ws_checker
 * (of the peer's role, inflating with --deflate): the oracle. A session is
 *   OK       valid messages echoed exactly, pings answered, the violation answered with the
 *            RFC's close code, then the TCP connection closed by the server;
 *   allowed  a difference RFC 6455 allows: a SHOULD / STRICT / LIMIT violation tolerated or
 *            answered with another code, a connection failed by dropping TCP without a close
 *            frame (section 7.1.7: SHOULD send one);
 *   FAILED   anything else: a MUST violation tolerated or answered with the wrong code, an echo
 *            missing or different, the peer breaking a rule itself, no answer in time.
 * Every wait is bounded (--timeout-ms). `wsfuzz --help` is the manual.
 *
 * Copyright (c) 2026 the libws authors. MIT licence, see LICENSE.
 */
#define _GNU_SOURCE
#include <ws.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The size the checker that computes expectations assumes for the server's limit: the
 * oversized-length mutation declares more than this (and valid traffic stays far below). */
#define ASSUMED_LIMIT ((uint64_t)1 << 32)
#define MAX_CONTROL WS_FRAME_MAX_CONTROL
#define READ_BUF 65536
#define DEFAULT_MAX_FRAME 70000u
#define MAX_PONGS 1024u

/* ---------------------------------------------------------------------------------------- */
/* Small helpers                                                                            */
/* ---------------------------------------------------------------------------------------- */

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("wsfuzz: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(2);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        die("out of memory");
    return q;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* splitmix64: the session seed and every choice made from it. */
typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n >= 1. */
static size_t rng_below(rng *r, size_t n)
{
    return (size_t)(rng_next(r) % (uint64_t)n);
}

/* Uniform in [lo, hi]. */
static size_t rng_range(rng *r, size_t lo, size_t hi)
{
    return lo + rng_below(r, hi - lo + 1);
}

static int rng_chance(rng *r, unsigned one_in)
{
    return rng_below(r, one_in) == 0;
}

static void rng_bytes(rng *r, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)rng_next(r);
}

/* The random hook of the handshake: the Sec-WebSocket-Key comes from the session seed too. */
static int rng_hook(void *user, void *buf, size_t n)
{
    rng_bytes(user, buf, n);
    return 0;
}

typedef struct buf {
    uint8_t *p;
    size_t len, cap;
} buf;

static uint8_t *buf_reserve(buf *b, size_t n)
{
    if (b->cap - b->len < n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->len < n)
            cap *= 2;
        b->p = xrealloc(b->p, cap);
        b->cap = cap;
    }
    return b->p + b->len;
}

static void buf_put(buf *b, const void *p, size_t n)
{
    if (n) {
        memcpy(buf_reserve(b, n), p, n);
        b->len += n;
    }
}

static void buf_free(buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

static void hex_put(FILE *f, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", p[i]);
}

/* ---------------------------------------------------------------------------------------- */
/* The session's stream: frames, echo candidates, pings                                     */
/* ---------------------------------------------------------------------------------------- */

/* The stream is made by libws's generator (ws_gen): valid traffic and one mutation from its
 * list, each tagged with the rule it breaks, the close code and the severity. Here it is only
 * copied out: the bytes, where each frame starts and ends, the valid messages the peer may
 * echo and the pings it must answer. */

typedef struct frame_info {
    size_t start, end; /* in the stream */
    uint8_t is_close;  /* a close frame (valid or not) */
} frame_info;

/* A message the peer may echo. */
typedef struct cand {
    uint8_t op;
    uint8_t broken; /* a mutation broke it (or left it open): never required */
    uint8_t *data;
    size_t len;
    size_t start, end; /* stream offsets of its first frame and the end of its last */
} cand;

typedef struct ping_info {
    uint8_t data[MAX_CONTROL];
    size_t len, end;
} ping_info;

typedef struct gen {
    rng *r;
    uint32_t sender; /* WS_ROLE_CLIENT (we connect) or WS_ROLE_SERVER (--listen) */
    buf s;           /* the stream */
    frame_info *frames;
    size_t nframes, frames_cap;
    cand *cands;
    size_t ncands;
    ping_info *pings;
    size_t npings;
} gen;

static void gen_free(gen *g)
{
    buf_free(&g->s);
    for (size_t i = 0; i < g->ncands; i++)
        free(g->cands[i].data);
    free(g->cands);
    free(g->frames);
    free(g->pings);
    memset(g, 0, sizeof *g);
}

static const char *op_name(unsigned op)
{
    static const char *const names[16] = {"cont", "text", "binary", "op3", "op4", "op5",
                                          "op6",  "op7",  "close",  "ping", "pong", "opB",
                                          "opC",  "opD",  "opE",  "opF"};
    return names[op & 15];
}

static void add_frame(gen *g, size_t start, size_t end, int is_close)
{
    if (g->nframes == g->frames_cap) {
        g->frames_cap = g->frames_cap ? 2 * g->frames_cap : 32;
        g->frames = xrealloc(g->frames, g->frames_cap * sizeof *g->frames);
    }
    frame_info *f = &g->frames[g->nframes++];
    f->start = start;
    f->end = end;
    f->is_close = (uint8_t)is_close;
}

/* Copy the generator's sequence out: bytes, frames, messages, pings. */
static void gen_take(gen *g, ws_gen *wg)
{
    const uint8_t *p;
    size_t n;
    if (ws_gen_output(wg, &p, &n) != WS_OK)
        die("out of memory");
    g->s.len = 0;
    buf_put(&g->s, p, n);
    size_t nf = ws_gen_frame_count(wg), ni = ws_gen_item_count(wg);
    for (size_t i = 0; i < nf; i++) {
        ws_gen_frame f = {.size = sizeof f};
        if (ws_gen_frame_at(wg, i, &f) != WS_OK)
            die("out of memory");
        add_frame(g, (size_t)f.start, (size_t)f.end, f.opcode == WS_OP_CLOSE);
    }
    g->cands = xrealloc(NULL, (ni ? ni : 1) * sizeof *g->cands);
    g->pings = xrealloc(NULL, (ni ? ni : 1) * sizeof *g->pings);
    for (size_t i = 0; i < ni; i++) {
        ws_gen_item it = {.size = sizeof it};
        if (ws_gen_item_at(wg, i, &it) != WS_OK)
            die("out of memory");
        if (it.opcode == WS_OP_TEXT || it.opcode == WS_OP_BINARY) {
            /* every message, a broken one too (never required, but echoing one sent after a
             * MUST violation is a failure, and a tolerant peer may echo a STRICT one) */
            cand *c = &g->cands[g->ncands++];
            c->op = it.opcode;
            c->broken = !it.intact;
            c->data = xrealloc(NULL, it.len);
            if (it.len)
                memcpy(c->data, it.data, it.len);
            c->len = it.len;
            c->start = (size_t)it.start;
            c->end = (size_t)it.end;
        } else if (it.opcode == WS_OP_PING && it.intact && it.len <= MAX_CONTROL) {
            ping_info *pi = &g->pings[g->npings++];
            if (it.len)
                memcpy(pi->data, it.data, it.len);
            pi->len = it.len;
            pi->end = (size_t)it.end;
        }
    }
}

/* Our close frame, appended after the frames kept (our answer to the peer's close when ours
 * has not gone yet): masked with a key from the session when we are the client. */
static void append_close_reply(gen *g, unsigned code)
{
    ws_frame_header h;
    uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    size_t n = ws_close_code_valid(code) ? 2 : 0;
    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = WS_OP_CLOSE;
    h.payload_len = n;
    h.masked = g->sender == WS_ROLE_CLIENT;
    if (h.masked)
        rng_bytes(g->r, h.mask, 4);
    uint8_t *o = buf_reserve(&g->s, WS_FRAME_MAX_HEADER + n);
    int k = ws_frame_encode_raw(o, WS_FRAME_MAX_HEADER + n, &h, sizeof h, 0, p, n);
    if (k < 0)
        die("internal: ws_frame_encode_raw: %s", ws_strerror(k));
    add_frame(g, g->s.len, g->s.len + (size_t)k, 1);
    g->s.len += (size_t)k;
}

/* ---------------------------------------------------------------------------------------- */
/* The violations: ws_gen's mutation list                                                   */
/* ---------------------------------------------------------------------------------------- */

/* The kinds a run draws from: all of ws_gen's that apply (the deflate ones with --deflate,
 * remask only for a client's frames). */
static uint32_t kinds[WS_MUT_COUNT_];
static size_t nkinds;

static const char *kind_name(uint32_t kind)
{
    ws_gen_mutation t = {.size = sizeof t};
    const char *name = "?";
    (void)ws_gen_mutation_tag(kind, WS_ROLE_CLIENT, &t, &name, NULL);
    return name;
}

static void kinds_init(uint32_t sender, int deflate)
{
    nkinds = 0;
    for (uint32_t k = 0; k < WS_MUT_COUNT_; k++) {
        ws_gen_mutation t = {.size = sizeof t};
        if (ws_gen_mutation_tag(k, sender, &t, NULL, NULL) != WS_OK)
            continue;
        if ((t.deflate && !deflate) || (k == WS_MUT_REMASK && sender != WS_ROLE_CLIENT))
            continue;
        kinds[nkinds++] = k;
    }
}

/* The violation ends the session (a close frame of ours, broken or followed by a frame):
 * no valid traffic and no normal close after it. */
static int kind_ends(uint32_t kind)
{
    return kind == WS_MUT_CLOSE_1BYTE || kind == WS_MUT_CLOSE_CODE ||
           kind == WS_MUT_CLOSE_UTF8 || kind == WS_MUT_AFTER_CLOSE;
}

/* ---------------------------------------------------------------------------------------- */
/* A session: its stream and what the peer must answer                                      */
/* ---------------------------------------------------------------------------------------- */

typedef struct expect {
    int err;           /* the checker's first report (WS_OK: none) */
    unsigned code;     /* close code the peer must answer with */
    unsigned severity; /* WS_SEVERITY_*, 0 for none */
    uint64_t offset;   /* of the violation (the stream length when none) */
    uint64_t need;     /* bytes the peer needs to see it: past the offending byte, or up
                          to the end of a text frame that ends inside a character */
    size_t before_close; /* end of our first valid close frame before the violation, or 0 */
} expect;

/* What permessage-deflate agreement a session's stream is made for. */
typedef struct pmd {
    int on;             /* negotiated */
    int no_takeover;    /* our side resets its context per message */
    unsigned bits;      /* our window, 9..15 */
} pmd;

typedef struct session {
    rng r; /* every choice of the session's stream */
    uint64_t seed;
    uint32_t kind;
    ws_gen_mutation m; /* the mutation made, its tag */
    pmd z;
    gen g;
    expect x;
    /* Sync mode (half the sessions): the writer stops before the violation (before the final
     * close for a valid kind) until every message before it is echoed and the last ping
     * answered; burst mode writes everything at once. */
    int sync;
    size_t sync_at;    /* stream offset of the stop */
    size_t sync_cands; /* candidates wholly before it */
    size_t sync_ping;  /* 1 + index of the last ping before it, 0 for none */
} session;

static size_t gen_len(ws_gen *wg)
{
    const uint8_t *p;
    size_t n;
    if (ws_gen_output(wg, &p, &n) != WS_OK)
        die("out of memory");
    return n;
}

static void gen_call(int r, const char *what)
{
    if (r != WS_OK)
        die("internal: %s: %s", what, ws_strerror(r));
}

/* Build the session's stream from its seed: 0-6 valid items, the violation, then (unless it
 * ends the session) 0-2 more, now and then a flood of binary messages, and a normal close. */
static void session_build(session *s, uint64_t seed, uint32_t sender, size_t max_frame,
                          int kind_forced, const pmd *z)
{
    memset(s, 0, sizeof *s);
    s->seed = seed;
    s->r.s = seed;
    s->g.r = &s->r;
    s->g.sender = sender;
    s->z = *z;
    s->kind = kinds[rng_below(&s->r, nkinds)];
    if (kind_forced >= 0)
        s->kind = (uint32_t)kind_forced; /* the same stream as the session of that seed had */
    s->sync = rng_chance(&s->r, 2);

    ws_gen_config c;
    memset(&c, 0, sizeof c);
    c.size = sizeof c;
    c.sender = sender;
    c.seed = rng_next(&s->r);
    c.max_message = (uint32_t)max_frame;
    c.max_frames = 65536;
    c.max_bytes = (uint64_t)64 << 20;
    c.limit = ASSUMED_LIMIT;
    if (z->on) {
        c.flags = WS_GEN_DEFLATE | (z->no_takeover ? WS_GEN_DEFLATE_NO_TAKEOVER : 0);
        c.deflate_bits = (uint8_t)z->bits;
    }
    ws_gen *wg = NULL;
    gen_call(ws_gen_new(&wg, &c, NULL), "ws_gen_new");
    size_t pre = rng_range(&s->r, 0, 6);
    for (size_t i = 0; i < pre; i++)
        gen_call(ws_gen_add(wg, WS_GEN_ANY), "ws_gen_add");
    s->sync_at = gen_len(wg);
    s->m.size = sizeof s->m;
    gen_call(ws_gen_mutate(wg, s->kind, 0, &s->m), "ws_gen_mutate");
    if (!kind_ends(s->kind)) {
        size_t post = rng_range(&s->r, 0, 2);
        for (size_t i = 0; i < post; i++)
            gen_call(ws_gen_add(wg, WS_GEN_ANY), "ws_gen_add");
        /* Now and then a flood behind the violation: input the peer has not read when it
         * fails the connection (closing the socket then sends a reset that can destroy its
         * close frame and the echoes before it: RFC 6455 7.1.1's half-close is the cure). */
        if (!s->sync && s->m.error != WS_OK && rng_chance(&s->r, 4)) {
            size_t n = rng_range(&s->r, 8, 64);
            for (size_t i = 0; i < n; i++)
                gen_call(ws_gen_add(wg, WS_GEN_BINARY), "ws_gen_add");
        }
        if (s->m.error == WS_OK)
            s->sync_at = gen_len(wg); /* a valid session stops before its close */
        gen_call(ws_gen_add(wg, WS_GEN_CLOSE), "ws_gen_add");
    }
    gen_take(&s->g, wg);
    ws_gen_free(wg);
    while (s->sync_cands < s->g.ncands && s->g.cands[s->sync_cands].end <= s->sync_at &&
           !s->g.cands[s->sync_cands].broken)
        s->sync_cands++;
    for (size_t i = 0; i < s->g.npings; i++)
        if (s->g.pings[i].end <= s->sync_at)
            s->sync_ping = i + 1;
}

/* What the peer must answer: the first rule the stream breaks, by the checker (the same
 * rules libws applies), which must be the mutation's tag. */
static void expectations(session *s)
{
    gen *g = &s->g;
    expect *x = &s->x;
    ws_checker *k = NULL;
    if (ws_checker_new(&k, s->g.sender, NULL) != WS_OK ||
        ws_checker_configure(k, s->z.on ? WS_CHECK_DEFLATE | WS_CHECK_INFLATE : 0,
                             ASSUMED_LIMIT, ASSUMED_LIMIT) != WS_OK)
        die("out of memory");
    uint8_t *copy = xrealloc(NULL, g->s.len); /* the checker unmasks in place */
    memcpy(copy, g->s.p, g->s.len);
    size_t at = 0;
    uint64_t close_end = 0;
    memset(x, 0, sizeof *x);
    x->offset = g->s.len;
    for (;;) {
        ws_check_event ev;
        size_t used = 0;
        if (ws_checker_feed(k, copy + at, g->s.len - at, &used, &ev, sizeof ev) != WS_OK)
            die("internal: checker refused its arguments");
        at += used;
        if (ev.type == WS_CHECK_NONE)
            break;
        if (ev.type == WS_CHECK_VIOLATION) {
            x->err = ev.error;
            x->code = ev.close_code;
            x->severity = ev.severity;
            x->offset = ev.offset;
            break;
        }
        if (ev.type == WS_CHECK_CONTROL && ev.opcode == WS_OP_CLOSE && !close_end) {
            close_end = ws_checker_offset(k);
            x->code = ev.close_code; /* our close: the peer echoes it, typically */
        }
    }
    ws_checker_free(k);
    free(copy);
    if (x->err != s->m.error || (x->err && (x->code != s->m.close_code ||
                                            x->severity != s->m.severity)))
        die("internal: session seed 0x%016" PRIx64 " (%s): the checker reports %s %u first, "
            "the mutation is tagged %s %u",
            s->seed, kind_name(s->kind), ws_errname(x->err), x->code, ws_errname(s->m.error),
            s->m.close_code);
    if (close_end && close_end <= x->offset) {
        /* Our valid close came first (data after close): the peer answers the close. */
        x->before_close = (size_t)close_end;
        if (x->err != WS_OK)
            x->code = WS_CLOSE_NORMAL;
    }
    if (x->err == WS_OK)
        x->code = WS_CLOSE_NORMAL;
    x->need = x->offset + 1;
    for (size_t i = 0; i < g->nframes && x->err == WS_ERR_INVALID_UTF8; i++)
        if (g->frames[i].end == x->offset)
            x->need = x->offset;
}

static const char *severity_name(unsigned s)
{
    switch (s) {
    case WS_SEVERITY_MUST:
        return "MUST";
    case WS_SEVERITY_SHOULD:
        return "SHOULD";
    case WS_SEVERITY_STRICT:
        return "STRICT";
    case WS_SEVERITY_LIMIT:
        return "LIMIT";
    default:
        return "-";
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Talking to the peer                                                                      */
/* ---------------------------------------------------------------------------------------- */

typedef struct options {
    const char *url;
    char host[256];
    char port[8];
    unsigned sessions;
    uint64_t seed;
    unsigned timeout_ms;
    size_t max_frame;
    int verbose, no_echo, strict_echo, dry_run, replay, kind, deflate;
    uint64_t replay_seed;
    /* --listen: we are the server, fuzzing clients */
    int listen;
    int lfd;
    unsigned lport;
    const char *client_cmd;
    char listen_url[64];
} options;

/* "server" or "client": the peer, in the reasons printed. */
static const char *peer = "server";

enum { EOF_NONE = 0, EOF_FIN, EOF_RST };

typedef struct received {
    buf msg; /* the peer's message in progress */
    uint8_t msg_op, in_msg, msg_big;
    size_t nmsgs;
    /* echo matching */
    size_t ci;
    char fail[256];  /* first echo/ping/rule failure */
    char allow[256]; /* first allowed difference in the echo */
    /* pongs */
    uint8_t **pongs;
    size_t *pong_lens, npongs;
    /* close */
    int close_seen;
    unsigned close_code;
    int close_before_viol; /* the peer's close came before the violation was written */
    int eof;
    int timed_out;
    int sync_timeout; /* sync mode: the answers before the stop did not come within T */
    size_t violations;
    char viol[192];
    /* what we wrote: each send() */
    size_t *writes;
    size_t nwrites, writes_cap;
    size_t written;
} received;

static void received_free(received *rv)
{
    buf_free(&rv->msg);
    for (size_t i = 0; i < rv->npongs; i++)
        free(rv->pongs[i]);
    free(rv->pongs);
    free(rv->pong_lens);
    free(rv->writes);
    memset(rv, 0, sizeof *rv);
}

static int ping_answered(const gen *g, const received *rv, size_t i)
{
    const ping_info *p = &g->pings[i];
    for (size_t j = 0; j < rv->npongs; j++)
        if (rv->pong_lens[j] == p->len && (!p->len || !memcmp(rv->pongs[j], p->data, p->len)))
            return 1;
    return 0;
}

/* Sync mode: everything before the stop is answered (or the peer is closing). */
static int sync_done(const options *o, const session *s, const received *rv)
{
    return rv->close_seen || rv->eof || ((o->no_echo || rv->ci >= s->sync_cands) &&
                                         (!s->sync_ping || ping_answered(&s->g, rv, s->sync_ping - 1)));
}

static void note_fail(received *rv, const char *fmt, ...)
{
    if (rv->fail[0])
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rv->fail, sizeof rv->fail, fmt, ap);
    va_end(ap);
}

/* A complete message from the peer: match it against the candidates in order. Candidates
 * sent wholly before the violation are required; later ones (and the non-minimal message)
 * are optional, skipped when absent. */
static void on_peer_message(const options *o, session *s, received *rv)
{
    gen *g = &s->g;
    size_t k = rv->nmsgs++;
    if (o->verbose)
        printf("  <- %s message of %zu bytes\n", op_name(rv->msg_op), rv->msg.len);
    if (o->no_echo)
        return;
    while (rv->ci < g->ncands) {
        cand *c = &g->cands[rv->ci];
        int same = c->op == rv->msg_op && c->len == rv->msg.len &&
                   (!c->len || memcmp(c->data, rv->msg.p, c->len) == 0);
        int required = !c->broken && c->end <= s->x.offset &&
                       (!s->x.before_close || c->end <= s->x.before_close);
        if (same) {
            if (!required && s->x.severity == WS_SEVERITY_MUST)
                note_fail(rv, "echoed message %zu, sent after the MUST violation", rv->ci + 1);
            else if (!required)
                snprintf(rv->allow, sizeof rv->allow,
                         "tolerated: went on echoing after the violation");
            rv->ci++;
            return;
        }
        if (required) {
            size_t d = 0;
            while (d < c->len && d < rv->msg.len && c->data[d] == rv->msg.p[d])
                d++;
            note_fail(rv, "echo %zu differs from message %zu (%s %zu bytes sent, %s %zu back, "
                      "first difference at byte %zu)",
                      k + 1, rv->ci + 1, op_name(c->op), c->len, op_name(rv->msg_op),
                      rv->msg.len, d);
            rv->ci = g->ncands;
            return;
        }
        rv->ci++; /* an optional candidate the peer did not echo */
    }
    note_fail(rv, "message %zu from the %s (%s, %zu bytes) matches nothing sent", k + 1, peer,
              op_name(rv->msg_op), rv->msg.len);
}

/* Feed the peer's bytes to its checker; collect messages, pongs, the close. */
static void peer_bytes(const options *o, session *s, received *rv, ws_checker *chk, uint8_t *in,
                       size_t n, size_t stream_written)
{
    for (;;) {
        ws_check_event ev;
        size_t used = 0;
        if (ws_checker_feed(chk, in, n, &used, &ev, sizeof ev) != WS_OK)
            die("internal: checker refused its arguments");
        in += used;
        n -= used;
        if (ev.type == WS_CHECK_NONE)
            return;
        if (ev.type == WS_CHECK_VIOLATION) {
            if (!rv->violations++)
                snprintf(rv->viol, sizeof rv->viol,
                         "the %s broke a rule: %s (%s, its byte %" PRIu64 ")", peer,
                         ws_strerror(ev.error), ws_errname(ev.error), ev.offset);
            if (o->verbose)
                printf("  <- VIOLATION by the %s: %s at byte %" PRIu64 "%s\n", peer,
                       ws_errname(ev.error), ev.offset, ev.after_close ? " (after its close)" : "");
        } else if (ev.type == WS_CHECK_DATA) {
            if (!rv->in_msg) {
                rv->in_msg = 1;
                rv->msg.len = 0;
                rv->msg_big = 0;
                rv->msg_op = ev.opcode;
            }
            /* Nothing sent is longer than max-frame: a longer message matches nothing, and is
             * not kept past that (a peer streaming without end costs no memory). */
            size_t keep = (o->max_frame > 8192 ? o->max_frame : 8192) + 1;
            if (!rv->msg_big && ev.len > keep - rv->msg.len) {
                rv->msg_big = 1;
                note_fail(rv, "message %zu from the %s is longer than anything sent",
                          rv->nmsgs + 1, peer);
            }
            if (!rv->msg_big)
                buf_put(&rv->msg, ev.data, ev.len);
            if (ev.fin) {
                rv->in_msg = 0;
                if (!rv->msg_big)
                    on_peer_message(o, s, rv);
                else
                    rv->nmsgs++;
            }
        } else if (ev.opcode == WS_OP_CLOSE) {
            if (o->verbose)
                printf("  <- close %u \"%.*s\"\n", ev.close_code, (int)ev.len,
                       ev.data ? (const char *)ev.data : "");
            if (!rv->close_seen) {
                rv->close_seen = 1;
                rv->close_code = ev.close_code ? ev.close_code : WS_CLOSE_NO_STATUS;
                rv->close_before_viol = s->x.err != WS_OK && !s->x.before_close &&
                                        stream_written < s->x.need;
            }
        } else if (ev.opcode == WS_OP_PONG) {
            if (o->verbose)
                printf("  <- pong of %zu bytes\n", ev.len);
            if (rv->npongs == MAX_PONGS)
                continue; /* more than were asked for: kept no further */
            rv->pongs = xrealloc(rv->pongs, (rv->npongs + 1) * sizeof *rv->pongs);
            rv->pong_lens = xrealloc(rv->pong_lens, (rv->npongs + 1) * sizeof *rv->pong_lens);
            rv->pongs[rv->npongs] = xrealloc(NULL, ev.len);
            if (ev.len)
                memcpy(rv->pongs[rv->npongs], ev.data, ev.len);
            rv->pong_lens[rv->npongs++] = ev.len;
        } else if (o->verbose) {
            printf("  <- %s of %zu bytes (not answered)\n", op_name(ev.opcode), ev.len);
        }
    }
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline)
            return 0;
        struct pollfd pf = {fd, events, 0};
        int r = poll(&pf, 1, (int)(deadline - now));
        if (r < 0 && errno == EINTR)
            continue;
        return r > 0;
    }
}

static void tcp_nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int tcp_connect(const options *o, char *err, size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int r = getaddrinfo(o->host, o->port, &hints, &res);
    if (r != 0) {
        snprintf(err, errlen, "cannot resolve %.200s: %s", o->host, gai_strerror(r));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = res; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0)
            continue;
        set_nonblock(fd);
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0 ||
            (errno == EINPROGRESS &&
             wait_fd(fd, POLLOUT, now_ms() + o->timeout_ms))) {
            int e = 0;
            socklen_t el = sizeof e;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
            if (e == 0)
                break;
            errno = e;
        }
        snprintf(err, errlen, "connect to %.200s:%s: %s", o->host, o->port, strerror(errno));
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0)
        tcp_nodelay(fd);
    return fd;
}

/* Write all of p[0..n) within the deadline. */
static int send_all(int fd, const uint8_t *p, size_t n, uint64_t deadline, char *err,
                    size_t errlen)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = send(fd, p + off, n - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_fd(fd, POLLOUT, deadline)) {
                snprintf(err, errlen, "handshake: not sent in time");
                return -1;
            }
        } else {
            snprintf(err, errlen, "handshake: send: %s", strerror(errno));
            return -1;
        }
    }
    return 0;
}

/* Read into rbuf and feed the handshake until it completes (then the bytes after it are
 * moved to the start of rbuf, *rest of them). */
static int read_handshake(const options *o, ws_handshake *hs, int fd, uint8_t *rbuf, size_t *rest,
                          uint64_t deadline, char *err, size_t errlen)
{
    for (;;) {
        if (!wait_fd(fd, POLLIN, deadline)) {
            snprintf(err, errlen, "handshake: nothing complete in %u ms", o->timeout_ms);
            return -1;
        }
        ssize_t r = recv(fd, rbuf, READ_BUF, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0) {
            snprintf(err, errlen, "handshake: connection closed (%s)",
                     r < 0 ? strerror(errno) : "end of file");
            return -1;
        }
        size_t used = 0;
        int h = ws_handshake_feed(hs, rbuf, (size_t)r, &used);
        if (h < 0) {
            snprintf(err, errlen, "handshake: %s (status %d)", ws_strerror(h),
                     ws_handshake_status(hs));
            return -1;
        }
        if (h == WS_HANDSHAKE_COMPLETE) {
            memmove(rbuf, rbuf + used, (size_t)r - used);
            *rest = (size_t)r - used;
            return 0;
        }
    }
}

/* The permessage-deflate element of a handshake's extensions (an offer on a server, the
 * answer on a client): its index, or -1. */
static long find_pmd(const ws_handshake *hs)
{
    for (size_t i = 0; i < ws_handshake_extension_count(hs); i++) {
        const char *name;
        size_t len;
        if (ws_handshake_extension(hs, i, &name, &len, NULL) == WS_OK &&
            len == sizeof "permessage-deflate" - 1 && !strncasecmp(name, "permessage-deflate", len))
            return (long)i;
    }
    return -1;
}

/* A parameter of extension element i: 1 (value in *v, 0 when it has none) or 0. */
static int pmd_param(const ws_handshake *hs, size_t i, const char *want, unsigned *v)
{
    const char *name, *value;
    size_t nl, vl;
    for (size_t j = 0; ws_handshake_extension_param(hs, i, j, &name, &nl, &value, &vl) == WS_OK;
         j++)
        if (nl == strlen(want) && !strncasecmp(name, want, nl)) {
            *v = value ? (unsigned)strtoul(value, NULL, 10) : 0;
            return 1;
        }
    return 0;
}

/* Client side: the opening handshake, seeded; with --deflate, offer permessage-deflate (no
 * client_max_window_bits: our window stays 15) and take what the server agreed. */
static int client_handshake(const options *o, uint64_t seed, int fd, uint8_t *rbuf, size_t *rest,
                            pmd *z, char *err, size_t errlen)
{
    rng hr = {seed ^ 0x5DEECE66Dull};
    ws_handshake *hs = NULL;
    uint8_t req[2048];
    int ret = -1;
    if (ws_handshake_new(&hs, WS_ROLE_CLIENT, NULL) != WS_OK)
        die("out of memory");
    ws_handshake_set_random(hs, rng_hook, &hr);
    int n = ws_handshake_client_request(hs, o->url, strlen(o->url), NULL, 0,
                                        o->deflate ? "permessage-deflate" : NULL, NULL, req,
                                        sizeof req, NULL);
    if (n < 0)
        die("%s: %s", o->url, ws_strerror(n));
    uint64_t deadline = now_ms() + o->timeout_ms;
    if (send_all(fd, req, (size_t)n, deadline, err, errlen) == 0 &&
        read_handshake(o, hs, fd, rbuf, rest, deadline, err, errlen) == 0) {
        long i = find_pmd(hs);
        unsigned v = 0;
        memset(z, 0, sizeof *z);
        z->bits = 15;
        if (i >= 0) {
            z->on = 1;
            z->no_takeover = pmd_param(hs, (size_t)i, "client_no_context_takeover", &v);
            if (pmd_param(hs, (size_t)i, "client_max_window_bits", &v) && v)
                z->bits = v; /* it may not: we did not offer it; libws refused it already */
        }
        if (o->deflate && !z->on)
            snprintf(err, errlen, "handshake: the server did not accept permessage-deflate");
        else if (z->bits < 9)
            snprintf(err, errlen, "handshake: an 8-bit window for our compressor (zlib cannot)");
        else
            ret = 0;
    }
    ws_handshake_free(hs);
    return ret;
}

/* Server side (--listen): read the client's request, answer 101; with --deflate, accept its
 * permessage-deflate offer, honouring server_no_context_takeover and server_max_window_bits. */
static int server_handshake(const options *o, int fd, uint8_t *rbuf, size_t *rest, pmd *z,
                            char *err, size_t errlen)
{
    ws_handshake *hs = NULL;
    uint8_t out[1024];
    char ext[128] = "permessage-deflate";
    int ret = -1;
    if (ws_handshake_new(&hs, WS_ROLE_SERVER, NULL) != WS_OK)
        die("out of memory");
    uint64_t deadline = now_ms() + o->timeout_ms;
    memset(z, 0, sizeof *z);
    z->bits = 15;
    if (read_handshake(o, hs, fd, rbuf, rest, deadline, err, errlen) == 0) {
        long i = o->deflate ? find_pmd(hs) : -1;
        unsigned v = 0;
        if (i >= 0) {
            z->on = 1;
            if (pmd_param(hs, (size_t)i, "server_no_context_takeover", &v)) {
                z->no_takeover = 1;
                strcat(ext, "; server_no_context_takeover");
            }
            if (pmd_param(hs, (size_t)i, "server_max_window_bits", &v) && v >= 9 && v < 15) {
                z->bits = v;
                snprintf(ext + strlen(ext), sizeof ext - strlen(ext),
                         "; server_max_window_bits=%u", v);
            }
        }
        int n = ws_handshake_accept(hs, NULL, z->on ? ext : NULL, NULL, out, sizeof out, NULL);
        if (n < 0)
            snprintf(err, errlen, "handshake: cannot answer: %s", ws_strerror(n));
        else if (o->deflate && !z->on)
            snprintf(err, errlen, "handshake: the client offered no permessage-deflate");
        else if (send_all(fd, out, (size_t)n, deadline, err, errlen) == 0)
            ret = 0;
    }
    ws_handshake_free(hs);
    return ret;
}

/* --listen: start the client command (sh -c CMD, with WSFUZZ_URL in its environment and
 * appended as its last argument unless CMD names $WSFUZZ_URL), its output discarded. */
static pid_t start_client(const options *o)
{
    if (!o->client_cmd)
        return 0;
    char cmd[4096];
    if (strstr(o->client_cmd, "WSFUZZ_URL"))
        snprintf(cmd, sizeof cmd, "%s", o->client_cmd);
    else
        snprintf(cmd, sizeof cmd, "%s \"$WSFUZZ_URL\"", o->client_cmd);
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid > 0)
        setpgid(pid, pid); /* (both sides: whichever runs first) */
    if (pid == 0) {
        setpgid(0, 0); /* its own process group: the shell and what it starts end together */
        int nul = open("/dev/null", O_RDWR);
        if (nul >= 0) {
            dup2(nul, 0);
            dup2(nul, 1);
            if (!o->verbose)
                dup2(nul, 2);
        }
        setenv("WSFUZZ_URL", o->listen_url, 1);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return pid;
}

/* The client started for a session ends: waited for a moment, then its process group (the
 * shell and what it started, ours only) killed, before the shell is reaped. */
static void end_client(const options *o, pid_t pid)
{
    if (pid <= 0)
        return;
    uint64_t until = now_ms() + o->timeout_ms;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid || (r < 0 && errno != EINTR))
            return;
        if (now_ms() >= until)
            break;
        usleep(2000);
    }
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        ;
}

static int tcp_accept(const options *o, unsigned wait_ms, char *err, size_t errlen)
{
    if (!wait_fd(o->lfd, POLLIN, now_ms() + wait_ms)) {
        snprintf(err, errlen, "no client connected within %u ms", wait_ms);
        return -1;
    }
    int fd = accept4(o->lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) {
        snprintf(err, errlen, "accept: %s", strerror(errno));
        return -1;
    }
    tcp_nodelay(fd);
    return fd;
}

/* Open the session's connection: connect and do the client handshake, or (--listen) start
 * the client, accept and answer its handshake. Bytes after the handshake: rbuf[0..*rest). */
static int conn_open(const options *o, uint64_t seed, unsigned index, pid_t *child,
                     uint8_t *rbuf, size_t *rest, pmd *z, char *err, size_t errlen)
{
    int fd;
    *child = 0;
    if (!o->listen) {
        fd = tcp_connect(o, err, errlen);
        if (fd >= 0 && client_handshake(o, seed, fd, rbuf, rest, z, err, errlen) != 0) {
            close(fd);
            fd = -1;
        }
        return fd;
    }
    *child = start_client(o);
    /* the first client may take its time to start (an interpreter); later ones T */
    fd = tcp_accept(o, index == 0 || !o->client_cmd ? 10 * o->timeout_ms : o->timeout_ms, err,
                    errlen);
    if (fd >= 0 && server_handshake(o, fd, rbuf, rest, z, err, errlen) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Run the session over an open connection: write the stream in random pieces while reading,
 * then wait (bounded) for the peer's close and end of file -- or, listening, close once the
 * closing handshake is done (the server closes the TCP connection first, RFC 6455 7.1.1). */
static void session_io(const options *o, session *s, received *rv, int fd, uint8_t *rbuf,
                       size_t rest)
{
    gen *g = &s->g;
    ws_checker *chk = NULL;
    rng wr = {s->seed ^ 0xC0FFEEull};
    if (ws_checker_new(&chk, o->listen ? WS_ROLE_CLIENT : WS_ROLE_SERVER, NULL) != WS_OK ||
        ws_checker_configure(chk, s->z.on ? WS_CHECK_DEFLATE | WS_CHECK_INFLATE : 0, 0, 0) !=
            WS_OK)
        die("out of memory");
    if (rest)
        peer_bytes(o, s, rv, chk, rbuf, rest, 0);

    size_t wend = g->s.len; /* may shrink to a frame end and grow by our close reply */
    size_t chunk_left = 0;
    int write_dead = 0, replied = 0, synced = 0;
    uint64_t last = now_ms(), hard = last + 20ull * o->timeout_ms;
    uint64_t pause_until = 0;
    size_t fi = 0; /* frame being written */
    for (;;) {
        uint64_t now = now_ms();
        if (rv->eof)
            break;
        /* Listening: the closing handshake is over once the client's close came and all we
         * had to write (our close among it) is written: the server closes now. */
        if (o->listen && rv->close_seen && replied && (rv->written == wend || write_dead))
            break;
        /* Sync mode: at the stop, wait for the answers (at most T), then go on. */
        int syncing = s->sync && !synced && rv->written == s->sync_at;
        if (syncing && sync_done(o, s, rv)) {
            synced = 1;
            syncing = 0;
            last = now;
        } else if (syncing && now >= last + o->timeout_ms) {
            rv->sync_timeout = 1;
            synced = 1;
            syncing = 0;
            last = now;
            if (o->verbose)
                printf("  -- sync: not all answered within %u ms; going on\n", o->timeout_ms);
        }
        if (now >= last + o->timeout_ms || now >= hard) {
            rv->timed_out = 1;
            break;
        }
        /* The peer closed: stop at the end of the frame being written and answer with a
         * close, unless one of ours (valid or not) has started already. */
        if (rv->close_seen && !replied) {
            replied = 1;
            while (fi < g->nframes && g->frames[fi].end <= rv->written)
                fi++;
            size_t cut = rv->written;
            int ours = 0;
            for (size_t i = 0; i < g->nframes && g->frames[i].start < rv->written; i++) {
                if (g->frames[i].end > cut)
                    cut = g->frames[i].end;
                ours |= g->frames[i].is_close;
            }
            if (!ours) {
                /* The frames after the cut are dropped; ours goes where they were. */
                for (size_t i = 0; i < g->nframes; i++)
                    if (g->frames[i].start >= cut) {
                        g->nframes = i;
                        break;
                    }
                g->s.len = cut;
                append_close_reply(g, rv->close_code);
                if (o->verbose)
                    printf("  -- the %s closed: our close goes after byte %zu\n", peer, cut);
            } else if (o->listen) {
                /* ours went (or is going) already: what follows it is not written */
                for (size_t i = 0; i < g->nframes; i++)
                    if (g->frames[i].is_close && g->frames[i].start < rv->written) {
                        if (g->frames[i].end > cut)
                            cut = g->frames[i].end;
                        break;
                    }
                g->s.len = cut > g->s.len ? g->s.len : cut;
            }
            wend = g->s.len;
            if (chunk_left > wend - rv->written)
                chunk_left = wend - rv->written;
            continue;
        }
        int want_write = !write_dead && !syncing && rv->written < wend && now >= pause_until;
        struct pollfd pf = {fd, (short)(POLLIN | (want_write ? POLLOUT : 0)), 0};
        uint64_t until = last + o->timeout_ms;
        if (!want_write && !syncing && !write_dead && rv->written < wend && pause_until > now &&
            pause_until < until)
            until = pause_until;
        int pr = poll(&pf, 1, until > now ? (int)(until - now) : 0);
        if (pr < 0 && errno == EINTR)
            continue;
        if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = recv(fd, rbuf, READ_BUF, 0);
            if (r > 0) {
                last = now_ms();
                peer_bytes(o, s, rv, chk, rbuf, (size_t)r, rv->written);
            } else if (r == 0) {
                rv->eof = EOF_FIN;
            } else if (errno != EAGAIN && errno != EINTR) {
                rv->eof = EOF_RST;
            }
        }
        if (want_write && (pf.revents & POLLOUT)) {
            if (!chunk_left) {
                /* The next TCP write: a few bytes, a packet's worth, or all the rest. */
                size_t left = wend - rv->written;
                unsigned k = (unsigned)rng_below(&wr, 8);
                chunk_left = k < 3   ? rng_range(&wr, 1, 8)
                             : k < 6 ? rng_range(&wr, 1, 1500)
                             : k < 7 ? rng_range(&wr, 1, 20000)
                                     : left;
                if (chunk_left > left)
                    chunk_left = left;
                if (s->sync && !synced && rv->written < s->sync_at &&
                    chunk_left > s->sync_at - rv->written)
                    chunk_left = s->sync_at - rv->written; /* no write crosses the stop */
            }
            ssize_t w = send(fd, g->s.p + rv->written, chunk_left, MSG_NOSIGNAL);
            if (w > 0) {
                if (rv->nwrites == rv->writes_cap) {
                    rv->writes_cap = rv->writes_cap ? 2 * rv->writes_cap : 64;
                    rv->writes = xrealloc(rv->writes, rv->writes_cap * sizeof *rv->writes);
                }
                rv->writes[rv->nwrites++] = (size_t)w;
                rv->written += (size_t)w;
                chunk_left -= (size_t)w;
                last = now_ms();
                if (!chunk_left && rng_chance(&wr, 6))
                    pause_until = last + 1; /* let the peer read this piece alone */
                while (o->verbose && fi < g->nframes && g->frames[fi].end <= rv->written) {
                    char line[512];
                    const frame_info *f = &g->frames[fi];
                    ws_frame_describe(g->s.p + f->start, f->end - f->start, line, sizeof line,
                                      NULL);
                    line[strcspn(line, "\n")] = '\0';
                    printf("  -> [%zu..%zu) %s\n", f->start, f->end,
                           line[0] == '@' ? line + strcspn(line, " ") + 1 : line);
                    fi++;
                }
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                write_dead = 1; /* the peer is gone: read what it said */
                if (o->verbose)
                    printf("  -- send: %s (after %zu bytes)\n", strerror(errno), rv->written);
            }
        }
    }
    ws_checker_free(chk);
}

/* ---------------------------------------------------------------------------------------- */
/* The judge                                                                                */
/* ---------------------------------------------------------------------------------------- */

enum { V_OK = 0, V_ALLOWED = 1, V_FAILED = 2 };
static const char *const verdict_name[] = {"OK", "allowed difference", "FAILED"};

/* A session's verdict: the worst of its findings, and each finding (a session may have
 * several: a missing echo and another close code, say). */
enum { MAX_FINDINGS = 6 };

typedef struct verdict {
    int v;
    size_t n;
    struct {
        int v;
        char why[240];
    } f[MAX_FINDINGS];
    char why[400]; /* the findings, worst first, for the session's line */
} verdict;

static void judge_set(verdict *vd, int v, const char *fmt, ...)
{
    if (vd->n == MAX_FINDINGS)
        return;
    if (v > vd->v)
        vd->v = v;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(vd->f[vd->n].why, sizeof vd->f[vd->n].why, fmt, ap);
    va_end(ap);
    vd->f[vd->n++].v = v;
}

static void judge_text(verdict *vd)
{
    size_t len = 0;
    vd->why[0] = '\0';
    for (int v = V_FAILED; v > V_OK; v--)
        for (size_t i = 0; i < vd->n; i++)
            if (vd->f[i].v == v && len + 8 < sizeof vd->why) {
                int k = snprintf(vd->why + len, sizeof vd->why - len, "%s%s%s",
                                 len ? "; " : "", v < vd->v ? "allowed: " : "", vd->f[i].why);
                len += k > 0 ? (size_t)k : 0;
                if (len >= sizeof vd->why)
                    len = sizeof vd->why - 1;
            }
}

static void judge(const options *o, const session *s, const received *rv, const char *conn_err,
                  verdict *vd)
{
    const expect *x = &s->x;
    const gen *g = &s->g;
    int must = x->err == WS_OK || x->severity == WS_SEVERITY_MUST;
    int lax = must ? V_FAILED : V_ALLOWED;
    memset(vd, 0, sizeof *vd);
    if (conn_err && conn_err[0]) {
        judge_set(vd, V_FAILED, "%s", conn_err);
        return;
    }
    if (rv->violations)
        judge_set(vd, V_FAILED, "%s", rv->viol);
    if (rv->fail[0])
        judge_set(vd, V_FAILED, "%s", rv->fail);
    /* Every message sent before the violation echoed (nothing past the last match), and the
     * last ping before it answered (RFC 6455 5.5.2; earlier ones may share that pong). In sync
     * mode the server had T ms with the connection open: a missing answer is a failure. In a
     * burst, a server that closed may have dropped messages its application had not handled
     * yet: allowed, unless --strict-echo (a server that answers in order, as libws's do). */
    const char *point = x->err ? "violation" : "close";
    int closed = rv->close_seen || rv->eof;
    int miss = !closed || o->strict_echo ? V_FAILED : V_ALLOWED;
    if (!o->no_echo)
        for (size_t i = rv->ci; i < g->ncands; i++) {
            const cand *c = &g->cands[i];
            int required = !c->broken && c->end <= x->offset &&
                           (!x->before_close || c->end <= x->before_close);
            if (!required)
                continue;
            if (s->sync && c->end <= s->sync_at)
                judge_set(vd, V_FAILED, "message %zu (%s, %zu bytes) not echoed within %u ms "
                          "(sync: the %s waited for it)", i + 1, op_name(c->op), c->len,
                          o->timeout_ms, point);
            else
                judge_set(vd, miss, "burst: message %zu (%zu bytes, sent before the %s) not "
                          "echoed before the %s %s", i + 1, c->len, point, peer,
                          rv->close_seen ? "closed" : rv->eof ? "dropped" : "stopped");
            break;
        }
    for (size_t i = g->npings; i-- > 0;) {
        const ping_info *p = &g->pings[i];
        if (p->end > x->offset || (x->before_close && p->end > x->before_close))
            continue;
        if (ping_answered(g, rv, i))
            break;
        if (s->sync && p->end <= s->sync_at)
            judge_set(vd, V_FAILED, "ping %zu (%zu bytes) not answered within %u ms (sync: the "
                      "%s waited for it)", i + 1, p->len, o->timeout_ms, point);
        else
            judge_set(vd, miss, "burst: ping %zu (%zu bytes, before the %s) not answered before "
                      "the %s %s", i + 1, p->len, point, peer,
                      rv->close_seen ? "closed" : rv->eof ? "dropped" : "stopped");
        break;
    }
    if (rv->allow[0])
        judge_set(vd, lax, "%s", rv->allow);
    /* The close. */
    if (!rv->close_seen) {
        if (rv->eof && x->err && !x->before_close)
            judge_set(vd, V_ALLOWED,
                      "no close frame: TCP %s (RFC 6455 7.1.7: SHOULD send a close frame)",
                      rv->eof == EOF_RST ? "reset" : "closed");
        else if (rv->eof)
            judge_set(vd, V_FAILED,
                      "our close not answered: TCP %s (RFC 6455 5.5.1: MUST answer with a "
                      "close frame)", rv->eof == EOF_RST ? "reset" : "closed");
        else
            judge_set(vd, x->err && !x->before_close ? lax : V_FAILED,
                      "%s: no close frame within %u ms",
                      x->err && !x->before_close ? "tolerated" : "our close not answered",
                      o->timeout_ms);
        return;
    }
    if (rv->close_before_viol)
        judge_set(vd, V_FAILED, "closed with %u before the violation was sent", rv->close_code);
    else if (rv->close_code != x->code)
        judge_set(vd, x->err == WS_OK || x->before_close ? V_ALLOWED : lax,
                  "close %u instead of %u", rv->close_code, x->code);
    if (!rv->eof && !o->listen) /* listening, we are the server: we close */
        judge_set(vd, x->err && must ? V_FAILED : V_ALLOWED,
                  "TCP not closed by the server within %u ms of the close", o->timeout_ms);
}

/* ---------------------------------------------------------------------------------------- */
/* Output                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static void print_repro(FILE *f, const session *s, const received *rv)
{
    fprintf(f, "  repro (bytes after the handshake, '|' between TCP writes): ");
    size_t at = 0;
    for (size_t i = 0; i < rv->nwrites; i++) {
        if (i)
            fputc('|', f);
        hex_put(f, s->g.s.p + at, rv->writes[i]);
        at += rv->writes[i];
    }
    if (!rv->nwrites)
        fputs("(nothing written)", f);
    fputc('\n', f);
    /* the same bytes frame by frame (ws_frame_describe) */
    size_t need = 0;
    (void)ws_frame_describe(s->g.s.p, rv->written, NULL, 0, &need);
    char *text = xrealloc(NULL, need + 1);
    if (ws_frame_describe(s->g.s.p, rv->written, text, need + 1, NULL) >= 0) {
        for (char *line = text, *nl; *line; line = nl + 1) {
            nl = strchr(line, '\n');
            fprintf(f, "    %.*s\n", (int)(nl - line), line);
        }
    }
    free(text);
}

typedef struct reason_count {
    size_t kind;
    int v;
    char why[160];
    unsigned n;
} reason_count;

typedef struct tally {
    unsigned n[WS_MUT_COUNT_][3];
    reason_count *reasons;
    size_t nreasons;
} tally;

/* Reasons grouped: numbers that vary by session (message numbers, sizes, offsets) become N;
 * close codes, the RFC's number and its section numbers stay. */
static void fold_numbers(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; in[i] && o + 2 < cap;) {
        if (in[i] < '0' || in[i] > '9') {
            out[o++] = in[i++];
            continue;
        }
        size_t j = i;
        while (in[j] >= '0' && in[j] <= '9')
            j++;
        int dotted = (i && (in[i - 1] == '.' || in[i - 1] == '-')) || in[j] == '.';
        int code = j - i == 4 && ((i >= 6 && !strncmp(in + i - 6, "close ", 6)) ||
                                  (i >= 11 && !strncmp(in + i - 11, "instead of ", 11)) ||
                                  !strncmp(in + i, "6455", 4));
        if (dotted || code) {
            while (i < j && o + 2 < cap)
                out[o++] = in[i++];
        } else {
            out[o++] = 'N';
            i = j;
        }
    }
    out[o] = '\0';
}

static void tally_add(tally *t, size_t kind, const verdict *vd)
{
    t->n[kind][vd->v]++;
    if (vd->v == V_OK)
        return;
    for (size_t f = 0; f < vd->n; f++) {
        char why[160];
        size_t i;
        fold_numbers(vd->f[f].why, why, sizeof why);
        for (i = 0; i < t->nreasons; i++)
            if (t->reasons[i].kind == kind && t->reasons[i].v == vd->f[f].v &&
                !strcmp(t->reasons[i].why, why))
                break;
        if (i == t->nreasons) {
            t->reasons = xrealloc(t->reasons, (t->nreasons + 1) * sizeof *t->reasons);
            reason_count *r = &t->reasons[t->nreasons++];
            r->kind = kind;
            r->v = vd->f[f].v;
            snprintf(r->why, sizeof r->why, "%s", why);
            r->n = 0;
        }
        t->reasons[i].n++;
    }
}

/* The expected answer of each kind, from one generated sample through the checker. */
static void kind_answer(uint32_t kind, uint32_t sender, size_t max_frame, char *out, size_t cap)
{
    session s;
    pmd z = {1, 0, 15};
    ws_gen_mutation t = {.size = sizeof t};
    if (ws_gen_mutation_tag(kind, sender, &t, NULL, NULL) == WS_OK && !t.deflate)
        z.on = 0;
    session_build(&s, 0x1234567ull + kind, sender, max_frame, (int)kind, &z);
    expectations(&s);
    if (s.x.err == WS_OK)
        snprintf(out, cap, "%u", s.x.code);
    else if (s.x.before_close)
        snprintf(out, cap, "%u (%s: %u)", s.x.code, severity_name(s.x.severity),
                 ws_close_code_for_error(s.x.err));
    else
        snprintf(out, cap, "%u %s", s.x.code, severity_name(s.x.severity));
    gen_free(&s.g);
}

static void print_summary(const options *o, const tally *t, double secs, unsigned sessions)
{
    unsigned tot[3] = {0, 0, 0};
    const char *what = o->listen ? o->client_cmd ? o->client_cmd : "clients" : o->url;
    if (o->replay)
        printf("\nwsfuzz: replay of session seed 0x%016" PRIx64 " against %s%s, %.1f s\n",
               o->replay_seed, what, o->deflate ? " (deflate)" : "", secs);
    else
        printf("\nwsfuzz: %u sessions against %s%s, seed 0x%016" PRIx64 ", %.1f s\n", sessions,
               what, o->deflate ? " (deflate)" : "", o->seed, secs);
    printf("%-26s %-22s %8s %6s %8s %7s\n", "violation", "RFC answer", "sessions", "OK",
           "allowed", "FAILED");
    for (size_t i = 0; i < nkinds; i++) {
        uint32_t k = kinds[i];
        unsigned n = t->n[k][0] + t->n[k][1] + t->n[k][2];
        char ans[48];
        kind_answer(k, o->listen ? WS_ROLE_SERVER : WS_ROLE_CLIENT, o->max_frame, ans,
                    sizeof ans);
        printf("%-26s %-22s %8u %6u %8u %7u\n", kind_name(k), ans, n, t->n[k][0], t->n[k][1],
               t->n[k][2]);
        for (int v = 0; v < 3; v++)
            tot[v] += t->n[k][v];
    }
    printf("%-26s %-22s %8u %6u %8u %7u\n", "total", "", tot[0] + tot[1] + tot[2], tot[0],
           tot[1], tot[2]);
    if (t->nreasons) {
        printf("\nnot OK, by kind and reason:\n");
        for (size_t j = 0; j < nkinds; j++)
            for (int v = 2; v >= 1; v--)
                for (size_t i = 0; i < t->nreasons; i++)
                    if (t->reasons[i].kind == kinds[j] && t->reasons[i].v == v)
                        printf("  %-26s %-18s %5u x %s\n", kind_name(kinds[j]), verdict_name[v],
                               t->reasons[i].n, t->reasons[i].why);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Command line                                                                             */
/* ---------------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
"NAME\n"
"    wsfuzz - stateful black-box fuzzer for WebSocket servers and clients (RFC 6455, RFC 7692),\n"
"    built on libws\n"
"\n"
"SYNOPSIS\n"
"    wsfuzz ws://HOST:PORT/PATH [--sessions N] [--seed S] [--timeout-ms T] [--max-frame N]\n"
"           [--deflate] [--no-echo | --strict-echo] [--kind NAME] [--verbose]\n"
"    wsfuzz --listen PORT [--client-cmd CMD] [same options]\n"
"    wsfuzz ws://HOST:PORT/PATH --replay SESSION_SEED [same options as the run]\n"
"    wsfuzz --dry-run [--listen 0] [--deflate] [--sessions N] [--seed S] [--max-frame N]\n"
"    wsfuzz --help\n"
"\n"
"DESCRIPTION\n"
"    Each session opens a TCP connection, does the opening handshake (libws's ws_handshake;\n"
"    permessage-deflate offered with --deflate), then sends seeded traffic made by libws's\n"
"    generator (ws_gen): 0-6 valid items (text and binary messages, whole or in 2-5 fragments\n"
"    split anywhere -- inside UTF-8 characters too --, pings and unsolicited pongs between\n"
"    messages and between fragments, random masking keys, with --deflate about half the\n"
"    messages compressed), ONE mutation from ws_gen's list below, then 0-2 more valid items and\n"
"    a normal close (1000). The bytes go out in TCP writes of random sizes (TCP_NODELAY, now\n"
"    and then a 1 ms pause so the peer reads a piece alone). Half the sessions are a burst\n"
"    (all written at once, the violation behind data in flight); the other half sync: the\n"
"    writer stops before the violation (before the close, for a valid kind) until every\n"
"    message before it is echoed and the last ping answered, at most T. When the peer closes\n"
"    first, the rest of the stream is dropped after the frame being written and a close frame\n"
"    answers.\n"
"\n"
"    Fuzzing clients (--listen PORT, 0 for any; \"listening on 127.0.0.1:PORT\" is printed\n"
"    first): wsfuzz is the server. For each session it starts --client-cmd (sh -c CMD, the URL\n"
"    ws://127.0.0.1:PORT/ appended as its last argument unless CMD names $WSFUZZ_URL, which is\n"
"    in its environment; its output discarded, the process killed if still running T after\n"
"    the session), or without it waits for a client to connect (connect-back: run the clients\n"
"    yourself). It answers the handshake (accepting permessage-deflate with --deflate), sends\n"
"    the session's frames unmasked, and once the client has answered its close it closes the\n"
"    TCP connection, as a server does. The client is expected to echo every message (like\n"
"    `wsc --echo`); use --no-echo for one that does not.\n"
"\n"
"    The answer the peer owes is the mutation's tag (ws_gen_mutation: rule, close code,\n"
"    severity), confirmed on every session by running the stream through libws's ws_checker\n"
"    of our role. The peer's bytes go through a second ws_checker of its role, inflating with\n"
"    --deflate: the oracle.\n"
"\n"
    );
    fprintf(f,
"    Verdict of a session:\n"
"    OK        every message sent before the violation echoed exactly and in order, the last\n"
"              ping before it answered, the peer's frames breaking no rule, the violation\n"
"              answered with the RFC's close code, and then (fuzzing a server) the TCP\n"
"              connection closed by the server.\n"
"    allowed   a difference RFC 6455 allows: a SHOULD, STRICT or LIMIT violation tolerated\n"
"              (echoing on, or no answer within T) or answered with another code; a MUST\n"
"              violation answered by dropping TCP without a close frame (7.1.7: the close\n"
"              frame is a SHOULD); another code than the echo of our own normal close; in a\n"
"              burst, echoes or a pong missing once the peer closed (its application may\n"
"              drop what it had not handled yet; not with --strict-echo).\n"
"    FAILED    anything else: a MUST violation tolerated or answered with another code, an\n"
"              echo missing, different or of a message sent after a MUST violation, a ping\n"
"              unanswered, a rule broken by the peer (masking, invalid close codes, frames\n"
"              after its close...), no close frame within T, the handshake failing.\n"
"\n");
    fprintf(f,
"OPTIONS\n"
"    --sessions N     sessions to run (default 200)\n"
"    --seed S         run seed (default: from the clock, printed); session i's seed is derived\n"
"                     from S and i, and alone decides everything the session sends\n"
"    --timeout-ms T   longest wait for progress: the handshake, a write, an answer, the end of\n"
"                     the connection (default 2000); a session lasts at most 20 T\n"
"    --max-frame N    largest valid message (default 70000), in one frame or several\n"
"    --deflate        negotiate permessage-deflate (RFC 7692; the session fails if the peer\n"
"                     does not): compressed valid traffic, and the deflate mutations\n"
"    --listen PORT    fuzz clients: be the server on 127.0.0.1:PORT (0: any port)\n"
"    --client-cmd CMD with --listen: the client to start for each session (see above)\n"
"    --no-echo        the peer does not echo: do not judge what it sends back (pongs, close\n"
"                     codes and its frames' rules still are)\n"
"    --strict-echo    the peer handles its input in order and answers it before its close\n"
"                     (libws's echo servers do): in a burst too, every echo and the pong due\n"
"                     before the violation must come before the peer's close\n"
"    --kind NAME      only this mutation (names below)\n"
"    --replay SEED    run one session, by its session seed (as printed on a FAILED line),\n"
"                     verbosely: every frame sent, every write, everything received\n"
"    --dry-run        generate the sessions and check their expectations, no network\n"
"    --verbose        per-session lines for every session, and --replay's detail\n"
"    --help           this text\n"
"\n"
"MUTATIONS (ws_gen's list; the RFC answer: close code and severity; valid ones: the close\n"
"echoed)\n");
    for (uint32_t k = 0; k < WS_MUT_COUNT_; k++) {
        ws_gen_mutation t = {.size = sizeof t};
        const char *name = "", *about = "";
        char ans[48];
        if (ws_gen_mutation_tag(k, WS_ROLE_CLIENT, &t, &name, &about) != WS_OK)
            continue;
        kind_answer(k, WS_ROLE_CLIENT, DEFAULT_MAX_FRAME, ans, sizeof ans);
        fprintf(f, "    %-26s %-17s %s\n", name, ans, about);
    }
    fprintf(f,
"    MUST: the peer must fail the connection with that code. SHOULD: the sender broke a MUST\n"
"    that receivers commonly fail on. STRICT: receivers may tolerate it. LIMIT: over the\n"
"    peer's own size limit (1009 when it applies it). data-after-close: our normal close comes\n"
"    first, so its echo (1000) is the answer. mask-flip is an unmasked frame from us as a\n"
"    client, a masked one as a server (--listen); remask applies to a client's frames only;\n"
"    the deflate-* ones need --deflate.\n"
"\n"
"OUTPUT\n"
"    One line per session that FAILED (every session with --verbose): its number, session\n"
"    seed, mutation, mode and reason, the command that replays it, then a reproducer: the\n"
"    bytes sent after the handshake in hex, '|' between TCP writes, and the same bytes frame by\n"
"    frame (ws_frame_describe). At the end a table per mutation (sessions, OK, allowed,\n"
"    FAILED) and the reasons of every session not OK, grouped. --kind, --max-frame and\n"
"    --deflate change what a session seed generates: replay with them.\n"
"\n"
"EXIT STATUS\n"
"    0 no session FAILED, 1 some did, 2 usage or setup error.\n"
"\n"
"EXAMPLES\n"
"    build/examples/echo-epoll --port 9001 &\n"
"    build/tools/wsfuzz ws://127.0.0.1:9001/ --sessions 1000 --seed 7\n"
"    build/tools/wsfuzz ws://127.0.0.1:9001/ --deflate --sessions 1000 --seed 7\n"
"    build/tools/wsfuzz ws://127.0.0.1:9001/ --replay 0x9e3779b97f4a7c15\n"
"    build/tools/wsfuzz --listen 0 --client-cmd 'build/examples/wsc --echo --no-deflate'\n"
"    sh tools/wsfuzz/peers.sh python node        (servers nobody here wrote)\n"
"    sh tools/wsfuzz/peers.sh wsc python-client  (clients, with --listen)\n");
}

static int parse_url(options *o)
{
    ws_uri u;
    int r = ws_uri_parse(o->url, strlen(o->url), &u, sizeof u);
    if (r != WS_OK) {
        fprintf(stderr, "wsfuzz: %s: %s\n", o->url, ws_strerror(r));
        return -1;
    }
    if (u.secure) {
        fprintf(stderr, "wsfuzz: wss:// is not supported (put a TLS proxy in front)\n");
        return -1;
    }
    if (u.host_len >= sizeof o->host)
        return -1;
    memcpy(o->host, u.host, u.host_len);
    o->host[u.host_len] = '\0';
    snprintf(o->port, sizeof o->port, "%u", u.port);
    return 0;
}

/* --listen: the listening socket on 127.0.0.1 (loopback only). */
static int listen_on(options *o)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    int one = 1;
    o->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (o->lfd < 0)
        return -1;
    setsockopt(o->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)o->lport);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(o->lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(o->lfd, 16) != 0 ||
        getsockname(o->lfd, (struct sockaddr *)&a, &al) != 0) {
        fprintf(stderr, "wsfuzz: --listen %u: %s\n", o->lport, strerror(errno));
        return -1;
    }
    o->lport = ntohs(a.sin_port);
    snprintf(o->listen_url, sizeof o->listen_url, "ws://127.0.0.1:%u/", o->lport);
    return 0;
}

static uint64_t session_seed(uint64_t run_seed, unsigned i)
{
    rng r = {run_seed ^ ((uint64_t)i * 0xD1B54A32D192ED03ull)};
    return rng_next(&r);
}

static int run_one(const options *o, tally *t, unsigned index, uint64_t seed)
{
    session s;
    received rv;
    char err[256] = "";
    verdict vd;
    uint8_t *rbuf = xrealloc(NULL, READ_BUF);
    size_t rest = 0;
    pid_t child = 0;
    int fd = -1;
    pmd z = {o->deflate, 0, 15};
    memset(&rv, 0, sizeof rv);
    /* the connection first: the stream depends on the permessage-deflate agreement */
    if (!o->dry_run)
        fd = conn_open(o, seed, index, &child, rbuf, &rest, &z, err, sizeof err);
    if (fd < 0 && !o->dry_run && index == 0 && !o->replay &&
        (!strncmp(err, "connect", 7) || !strncmp(err, "cannot resolve", 14) ||
         strstr(err, "permessage-deflate") || !strncmp(err, "no client", 9))) {
        end_client(o, child);
        die("%s (nothing to fuzz)", err);
    }
    session_build(&s, seed, o->listen ? WS_ROLE_SERVER : WS_ROLE_CLIENT, o->max_frame, o->kind,
                  &z);
    expectations(&s);
    if (o->verbose)
        printf("session %u seed 0x%016" PRIx64 " %s (%s%s): %zu bytes, %zu frames, expect close "
               "%u (%s%s%s) for the violation at byte %" PRIu64 "\n",
               index, seed, kind_name(s.kind), s.sync ? "sync" : "burst",
               s.z.on ? s.z.no_takeover ? ", deflate, no takeover" : ", deflate" : "", s.g.s.len,
               s.g.nframes, s.x.code, s.x.err ? ws_errname(s.x.err) : "none",
               s.x.err ? ", " : "", s.x.err ? severity_name(s.x.severity) : "", s.x.offset);
    if (!o->dry_run) {
        if (fd >= 0)
            session_io(o, &s, &rv, fd, rbuf, rest);
        if (fd >= 0)
            close(fd);
        end_client(o, child);
        judge(o, &s, &rv, err, &vd);
        judge_text(&vd);
    } else {
        memset(&vd, 0, sizeof vd);
    }
    free(rbuf);
    tally_add(t, s.kind, &vd);
    if (vd.v == V_FAILED || (o->verbose && !o->dry_run)) {
        printf("%s session %u seed 0x%016" PRIx64 " %s (%s): %s%s%s\n", verdict_name[vd.v],
               index, seed, kind_name(s.kind), s.sync ? "sync" : "burst",
               vd.why[0] ? vd.why : "as expected", rv.timed_out ? " [timed out]" : "",
               rv.eof == EOF_RST ? " [reset]" : "");
        if (vd.v == V_FAILED && !o->replay) {
            if (o->listen)
                printf("  replay: wsfuzz --listen %u%s%s%s --replay 0x%016" PRIx64, o->lport,
                       o->client_cmd ? " --client-cmd '" : "",
                       o->client_cmd ? o->client_cmd : "", o->client_cmd ? "'" : "", seed);
            else
                printf("  replay: wsfuzz %s --replay 0x%016" PRIx64, o->url, seed);
            if (o->kind >= 0)
                printf(" --kind %s", kind_name((uint32_t)o->kind));
            if (o->max_frame != DEFAULT_MAX_FRAME)
                printf(" --max-frame %zu", o->max_frame);
            printf("%s%s%s\n", o->deflate ? " --deflate" : "", o->no_echo ? " --no-echo" : "",
                   o->strict_echo ? " --strict-echo" : "");
        }
        print_repro(stdout, &s, &rv);
        fflush(stdout);
    }
    received_free(&rv);
    gen_free(&s.g);
    return vd.v;
}

static unsigned long long parse_num(const char *flag, const char *s, unsigned long long max)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (!*s || *end || errno || v > max) {
        fprintf(stderr, "wsfuzz: %s: bad number '%s'\n", flag, s);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    options o;
    memset(&o, 0, sizeof o);
    o.sessions = 200;
    o.timeout_ms = 2000;
    o.max_frame = DEFAULT_MAX_FRAME;
    o.kind = -1;
    o.lfd = -1;
    int have_seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED_ARG()                                                                             \
    do {                                                                                       \
        if (!v) {                                                                              \
            fprintf(stderr, "wsfuzz: %s needs a value (see --help)\n", a);                     \
            return 2;                                                                          \
        }                                                                                      \
        i++;                                                                                   \
    } while (0)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--sessions")) {
            NEED_ARG();
            o.sessions = (unsigned)parse_num(a, v, 100000000);
        } else if (!strcmp(a, "--seed")) {
            NEED_ARG();
            o.seed = parse_num(a, v, UINT64_MAX);
            have_seed = 1;
        } else if (!strcmp(a, "--timeout-ms")) {
            NEED_ARG();
            o.timeout_ms = (unsigned)parse_num(a, v, 600000);
            if (!o.timeout_ms)
                o.timeout_ms = 1;
        } else if (!strcmp(a, "--max-frame")) {
            NEED_ARG();
            o.max_frame = (size_t)parse_num(a, v, 16u << 20);
        } else if (!strcmp(a, "--replay")) {
            NEED_ARG();
            o.replay = 1;
            o.replay_seed = parse_num(a, v, UINT64_MAX);
        } else if (!strcmp(a, "--kind")) {
            NEED_ARG();
            int k = ws_gen_mutation_find(v);
            if (k < 0) {
                fprintf(stderr, "wsfuzz: unknown kind '%s' (see --help)\n", v);
                return 2;
            }
            o.kind = k;
        } else if (!strcmp(a, "--listen")) {
            NEED_ARG();
            o.listen = 1;
            o.lport = (unsigned)parse_num(a, v, 65535);
        } else if (!strcmp(a, "--client-cmd")) {
            NEED_ARG();
            o.client_cmd = v;
        } else if (!strcmp(a, "--deflate")) {
            o.deflate = 1;
        } else if (!strcmp(a, "--no-echo")) {
            o.no_echo = 1;
        } else if (!strcmp(a, "--strict-echo")) {
            o.strict_echo = 1;
        } else if (!strcmp(a, "--dry-run")) {
            o.dry_run = 1;
        } else if (!strcmp(a, "--verbose") || !strcmp(a, "-v")) {
            o.verbose = 1;
        } else if (a[0] != '-' && !o.url) {
            o.url = a;
        } else {
            fprintf(stderr, "wsfuzz: unknown argument '%s' (see --help)\n", a);
            return 2;
        }
#undef NEED_ARG
    }
    if (o.deflate && !ws_deflate_available()) {
        fprintf(stderr, "wsfuzz: --deflate: this libws was built without zlib\n");
        return 2;
    }
    if (o.client_cmd && !o.listen) {
        fprintf(stderr, "wsfuzz: --client-cmd needs --listen (see --help)\n");
        return 2;
    }
    if (o.listen && o.url) {
        fprintf(stderr, "wsfuzz: --listen takes no URL: clients connect to us\n");
        return 2;
    }
    if (o.dry_run && !o.url)
        o.url = "ws://127.0.0.1:1/";
    if (!o.url && !o.listen) {
        fprintf(stderr, "usage: wsfuzz ws://HOST:PORT/PATH [options]; wsfuzz --help\n");
        return 2;
    }
    if (o.listen) {
        peer = "client";
        if (!o.dry_run && listen_on(&o) != 0)
            return 2;
        if (!o.dry_run)
            printf("listening on 127.0.0.1:%u\n", o.lport);
        o.url = o.listen_url;
    } else if (parse_url(&o) != 0) {
        return 2;
    }
    if (o.kind >= 0 && ((uint32_t)o.kind == WS_MUT_REMASK && o.listen)) {
        fprintf(stderr, "wsfuzz: remask applies to a client's frames only\n");
        return 2;
    }
    if (!have_seed)
        o.seed = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);
    kinds_init(o.listen ? WS_ROLE_SERVER : WS_ROLE_CLIENT, o.deflate);
    if (o.kind >= 0) {
        ws_gen_mutation t = {.size = sizeof t};
        (void)ws_gen_mutation_tag((uint32_t)o.kind, WS_ROLE_CLIENT, &t, NULL, NULL);
        if (t.deflate && !o.deflate) {
            fprintf(stderr, "wsfuzz: --kind %s needs --deflate\n", kind_name((uint32_t)o.kind));
            return 2;
        }
    }

    tally t;
    memset(&t, 0, sizeof t);
    uint64_t t0 = now_ms();
    unsigned failed = 0, n = 0;
    if (o.replay) {
        o.verbose = 1;
        failed += run_one(&o, &t, 0, o.replay_seed) == V_FAILED;
        n = 1;
    } else {
        printf("wsfuzz: %s, %u sessions, seed 0x%016" PRIx64 "%s%s\n",
               o.listen ? o.client_cmd ? o.client_cmd : "clients" : o.url, o.sessions, o.seed,
               o.deflate ? ", permessage-deflate" : "", o.dry_run ? " (dry run)" : "");
        for (unsigned i = 0; i < o.sessions; i++, n++)
            failed += run_one(&o, &t, i, session_seed(o.seed, i)) == V_FAILED;
    }
    print_summary(&o, &t, (double)(now_ms() - t0) / 1000.0, n);
    free(t.reasons);
    if (o.lfd >= 0)
        close(o.lfd);
    return failed ? 1 : 0;
}
