/*
 * wsfuzz -- a stateful black-box fuzzer for any WebSocket server, built on libws.
 *
 * Each session opens a TCP connection, does the client handshake (ws_handshake), then sends
 * seeded traffic: valid messages (text and binary, whole or fragmented, pings and pongs
 * interleaved) and ONE protocol violation drawn from the mutation list below, written with the
 * raw frame encoder (ws_frame_encode_raw), the byte stream split across TCP writes at random.
 * What the violation must be answered with is not hard-coded here: the generated stream is run
 * through a ws_checker (sender = client), whose first report gives the rule broken, the close
 * code RFC 6455 asks for (ws_close_code_for_error) and how firmly (severity). The server's
 * frames are read through a second ws_checker (sender = server): the oracle. A session is
 *   OK       valid messages echoed exactly, pings answered, the violation answered with the
 *            RFC's close code, then the TCP connection closed by the server;
 *   allowed  a difference RFC 6455 allows: a SHOULD / STRICT / LIMIT violation tolerated or
 *            answered with another code, a connection failed by dropping TCP without a close
 *            frame (section 7.1.7: SHOULD send one);
 *   FAILED   anything else: a MUST violation tolerated or answered with the wrong code, an echo
 *            missing or different, the server breaking a rule itself, no answer in time.
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
#include <sys/socket.h>
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

typedef struct frame_info {
    size_t start, end; /* in the stream */
    uint8_t is_close;  /* a close frame (valid or not) */
    char desc[96];
} frame_info;

/* A valid message the server may echo. */
typedef struct cand {
    uint8_t op;
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
    size_t max_frame;
    buf s; /* the stream */
    frame_info *frames;
    size_t nframes, frames_cap;
    cand *cands;
    size_t ncands, cands_cap;
    ping_info *pings;
    size_t npings, pings_cap;
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

/* One frame, raw: every bit as asked (declared length, its encoding, RSV, MASK). */
static size_t emit(gen *g, unsigned fin, unsigned rsv, unsigned op, int masked, unsigned len_bytes,
                   uint64_t declared, const uint8_t *body, size_t body_len, const char *note)
{
    ws_frame_header h;
    memset(&h, 0, sizeof h);
    h.fin = (uint8_t)fin;
    h.rsv = (uint8_t)rsv;
    h.opcode = (uint8_t)op;
    h.masked = (uint8_t)(masked != 0);
    h.payload_len = declared;
    if (masked) {
        if (!rng_chance(g->r, 16))
            rng_bytes(g->r, h.mask, 4); /* else the all-zero key, legal and rarely tested */
    }
    size_t cap = WS_FRAME_MAX_HEADER + body_len;
    uint8_t *o = buf_reserve(&g->s, cap);
    int n = ws_frame_encode_raw(o, cap, &h, sizeof h, len_bytes, body, body_len);
    if (n < 0)
        die("internal: ws_frame_encode_raw: %s", ws_strerror(n));
    if (g->nframes == g->frames_cap) {
        g->frames_cap = g->frames_cap ? 2 * g->frames_cap : 32;
        g->frames = xrealloc(g->frames, g->frames_cap * sizeof *g->frames);
    }
    frame_info *f = &g->frames[g->nframes++];
    f->start = g->s.len;
    g->s.len += (size_t)n;
    f->end = g->s.len;
    f->is_close = op == WS_OP_CLOSE;
    snprintf(f->desc, sizeof f->desc, "%s fin=%u rsv=%u %s len=%" PRIu64 "%s%s%s",
             op_name(op), fin, rsv, masked ? "masked" : "UNMASKED", declared,
             declared != body_len ? " (body " : "", declared != body_len ? "differs)" : "",
             note ? note : "");
    return f->start;
}

/* A conforming frame from a client. */
static size_t emit_ok(gen *g, unsigned fin, unsigned op, const uint8_t *body, size_t len)
{
    return emit(g, fin, 0, op, 1, 0, len, body, len, NULL);
}

static void add_cand(gen *g, unsigned op, const uint8_t *data, size_t len, size_t start)
{
    if (g->ncands == g->cands_cap) {
        g->cands_cap = g->cands_cap ? 2 * g->cands_cap : 16;
        g->cands = xrealloc(g->cands, g->cands_cap * sizeof *g->cands);
    }
    cand *c = &g->cands[g->ncands++];
    c->op = (uint8_t)op;
    c->data = xrealloc(NULL, len);
    if (len)
        memcpy(c->data, data, len);
    c->len = len;
    c->start = start;
    c->end = g->s.len;
}

static void emit_ping(gen *g, unsigned op)
{
    uint8_t p[MAX_CONTROL];
    size_t n = rng_chance(g->r, 4) ? 0 : rng_range(g->r, 1, rng_chance(g->r, 8) ? MAX_CONTROL : 16);
    rng_bytes(g->r, p, n);
    emit_ok(g, 1, op, p, n);
    if (op == WS_OP_PING) {
        if (g->npings == g->pings_cap) {
            g->pings_cap = g->pings_cap ? 2 * g->pings_cap : 8;
            g->pings = xrealloc(g->pings, g->pings_cap * sizeof *g->pings);
        }
        ping_info *pi = &g->pings[g->npings++];
        memcpy(pi->data, p, n);
        pi->len = n;
        pi->end = g->s.len;
    }
}

/* A payload length: mostly short, sometimes at the length-encoding boundaries. */
static size_t pick_len(gen *g)
{
    static const size_t edges[] = {0, 1, 125, 126, 127, 65535, 65536};
    size_t m = g->max_frame, n;
    unsigned k = (unsigned)rng_below(g->r, 100);
    if (k < 8)
        n = edges[rng_below(g->r, sizeof edges / sizeof edges[0])];
    else if (k < 55)
        n = rng_range(g->r, 0, 125);
    else if (k < 85)
        n = rng_range(g->r, 126, 1024);
    else if (k < 97)
        n = rng_range(g->r, 1025, 8192);
    else
        n = rng_range(g->r, 8193, 70000);
    return n > m ? rng_range(g->r, 0, m) : n;
}

/* Valid UTF-8 of n bytes: ASCII mostly, and 2-, 3- and 4-byte characters. */
static void fill_text(rng *r, uint8_t *p, size_t n)
{
    size_t i = 0;
    unsigned mix = (unsigned)rng_below(r, 4); /* 0: ASCII only ... 3: mostly multi-byte */
    while (i < n) {
        size_t left = n - i;
        unsigned w = mix && rng_below(r, 4) < mix ? (unsigned)rng_range(r, 2, 4) : 1;
        if (w > left)
            w = 1;
        uint32_t c;
        switch (w) {
        case 1:
            c = (uint32_t)rng_range(r, 0x20, 0x7E);
            if (rng_chance(r, 32))
                c = (uint32_t)rng_below(r, 0x80); /* controls and NUL are valid UTF-8 */
            p[i++] = (uint8_t)c;
            break;
        case 2:
            c = (uint32_t)rng_range(r, 0x80, 0x7FF);
            p[i++] = (uint8_t)(0xC0 | (c >> 6));
            p[i++] = (uint8_t)(0x80 | (c & 0x3F));
            break;
        case 3:
            do
                c = (uint32_t)rng_range(r, 0x800, 0xFFFF);
            while (c >= 0xD800 && c <= 0xDFFF);
            p[i++] = (uint8_t)(0xE0 | (c >> 12));
            p[i++] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
            p[i++] = (uint8_t)(0x80 | (c & 0x3F));
            break;
        default:
            c = (uint32_t)rng_range(r, 0x10000, 0x10FFFF);
            p[i++] = (uint8_t)(0xF0 | (c >> 18));
            p[i++] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
            p[i++] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
            p[i++] = (uint8_t)(0x80 | (c & 0x3F));
            break;
        }
    }
}

static uint8_t *make_payload(gen *g, unsigned op, size_t n)
{
    uint8_t *p = xrealloc(NULL, n);
    if (op == WS_OP_TEXT)
        fill_text(g->r, p, n);
    else
        rng_bytes(g->r, p, n);
    return p;
}

/* Send p[0..n) as a message of opcode op in nfrag fragments (split anywhere, inside UTF-8
 * characters too, empty fragments allowed), controls interleaved between fragments. With
 * last_fin 0 the message is left open (its last fragment without FIN). Returns the offset of
 * its first frame. */
static size_t emit_fragments(gen *g, unsigned op, const uint8_t *p, size_t n, size_t nfrag,
                             int last_fin)
{
    size_t first = g->s.len, at = 0;
    for (size_t i = 0; i < nfrag; i++) {
        size_t take = i + 1 == nfrag ? n - at : rng_range(g->r, 0, n - at);
        if (take > g->max_frame && i + 1 < nfrag)
            take = g->max_frame;
        emit_ok(g, i + 1 == nfrag ? (unsigned)last_fin : 0, i ? WS_OP_CONTINUATION : op, p + at,
                take);
        at += take;
        if (i + 1 < nfrag && rng_chance(g->r, 4))
            emit_ping(g, rng_chance(g->r, 4) ? WS_OP_PONG : WS_OP_PING);
    }
    return first;
}

static size_t pick_frags(gen *g)
{
    return rng_chance(g->r, 2) ? 1 : rng_range(g->r, 2, 5);
}

/* One valid item: a message (echo candidate), or a ping, or an unsolicited pong. */
static void emit_valid(gen *g)
{
    unsigned k = (unsigned)rng_below(g->r, 20);
    if (k < 3) {
        emit_ping(g, k < 2 ? WS_OP_PING : WS_OP_PONG);
        return;
    }
    unsigned op = rng_chance(g->r, 2) ? WS_OP_TEXT : WS_OP_BINARY;
    size_t n = pick_len(g);
    uint8_t *p = make_payload(g, op, n);
    size_t start = emit_fragments(g, op, p, n, pick_frags(g), 1);
    add_cand(g, op, p, n, start);
    free(p);
}

static void emit_close(gen *g, unsigned code, const uint8_t *reason, size_t rlen)
{
    uint8_t p[MAX_CONTROL];
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    if (rlen > MAX_CONTROL - 2)
        rlen = MAX_CONTROL - 2;
    if (rlen)
        memcpy(p + 2, reason, rlen);
    emit_ok(g, 1, WS_OP_CLOSE, p, 2 + rlen);
}

static void emit_normal_close(gen *g)
{
    uint8_t reason[32];
    size_t n = rng_chance(g->r, 2) ? 0 : rng_range(g->r, 1, sizeof reason);
    fill_text(g->r, reason, n);
    emit_close(g, WS_CLOSE_NORMAL, reason, n);
}

/* ---------------------------------------------------------------------------------------- */
/* Mutations: one per session, each tagged with the rule it breaks                          */
/* ---------------------------------------------------------------------------------------- */

/* Each writes the violating frame(s) at the end of the stream. The rule broken is the
 * mutation's `err`; its close code and severity come from the checker (expectations()). */
typedef void (*mutate_fn)(gen *g);

/* Invalid UTF-8 sequences, each invalid at its last byte (given the bytes before). */
static const struct {
    uint8_t b[4];
    uint8_t n;
} bad_utf8[] = {
    {{0xFF}, 1},                   /* never valid */
    {{0xC0, 0x80}, 2},             /* overlong NUL */
    {{0xC1, 0xBF}, 1},             /* overlong lead */
    {{0xE0, 0x80}, 2},             /* overlong 3-byte */
    {{0xED, 0xA0}, 2},             /* UTF-16 surrogate */
    {{0xF4, 0x90}, 2},             /* above U+10FFFF */
    {{0xF5}, 1},                   /* lead byte out of range */
    {{0x80}, 1},                   /* lone continuation */
    {{0xC3, 0x41}, 2},             /* lead then ASCII */
    {{0xE2, 0x82, 0x28}, 3},       /* truncated 3-byte */
    {{0xF0, 0x9F, 0x98, 0x41}, 4}, /* truncated 4-byte */
};

/* A text payload with an invalid sequence at a random place (and valid text around it). */
static uint8_t *bad_text(gen *g, size_t max_side, size_t *len, size_t *bad_at)
{
    size_t k = rng_below(g->r, sizeof bad_utf8 / sizeof bad_utf8[0]);
    size_t before = rng_range(g->r, 0, max_side), after = rng_range(g->r, 0, max_side);
    size_t n = before + bad_utf8[k].n + after;
    uint8_t *p = xrealloc(NULL, n);
    fill_text(g->r, p, before);
    memcpy(p + before, bad_utf8[k].b, bad_utf8[k].n);
    fill_text(g->r, p + before + bad_utf8[k].n, after);
    *len = n;
    *bad_at = before;
    return p;
}

static void m_none(gen *g)
{
    (void)g;
}

static void m_rsv(gen *g)
{
    unsigned rsv = (unsigned)rng_range(g->r, 1, 7);
    unsigned op = rng_chance(g->r, 4) ? WS_OP_PING : rng_chance(g->r, 2) ? WS_OP_TEXT : WS_OP_BINARY;
    size_t n = op == WS_OP_PING ? rng_range(g->r, 0, 20) : pick_len(g);
    uint8_t *p = make_payload(g, op, n);
    emit(g, 1, rsv, op, 1, 0, n, p, n, " <- RSV bits");
    free(p);
}

static void m_opcode(gen *g)
{
    static const uint8_t ops[] = {3, 4, 5, 6, 7, 11, 12, 13, 14, 15};
    unsigned op = ops[rng_below(g->r, sizeof ops)];
    uint8_t p[64];
    size_t n = rng_range(g->r, 0, sizeof p);
    rng_bytes(g->r, p, n);
    emit(g, 1, 0, op, 1, 0, n, p, n, " <- reserved opcode");
}

static void m_nonminimal(gen *g)
{
    unsigned op = rng_chance(g->r, 2) ? WS_OP_TEXT : WS_OP_BINARY;
    unsigned lb = rng_chance(g->r, 2) ? 2 : 8;
    size_t n = lb == 2 ? rng_range(g->r, 0, 125) : rng_range(g->r, 0, g->max_frame < 65535 ? g->max_frame : 65535);
    uint8_t *p = make_payload(g, op, n);
    size_t start = emit(g, 1, 0, op, 1, lb, n, p, n, " <- non-minimal length encoding");
    add_cand(g, op, p, n, start); /* a valid message otherwise: tolerant servers echo it */
    free(p);
}

static void m_oversized(gen *g)
{
    uint64_t declared = ASSUMED_LIMIT * 2 + (rng_next(g->r) >> 2) % (((uint64_t)1 << 62) - ASSUMED_LIMIT * 2);
    uint8_t p[64];
    size_t n = rng_range(g->r, 0, sizeof p);
    rng_bytes(g->r, p, n);
    emit(g, 1, 0, WS_OP_BINARY, 1, 8, declared, p, n, " <- declares more than any limit");
}

static void m_len64msb(gen *g)
{
    uint64_t declared = ((uint64_t)1 << 63) | (rng_chance(g->r, 2) ? rng_below(g->r, 1000) : (rng_next(g->r) >> 1));
    uint8_t p[64];
    size_t n = rng_range(g->r, 0, sizeof p);
    rng_bytes(g->r, p, n);
    emit(g, 1, 0, rng_chance(g->r, 2) ? WS_OP_TEXT : WS_OP_BINARY, 1, 8, declared, p, n,
         " <- 64-bit length with its top bit set");
}

static void m_unmasked(gen *g)
{
    unsigned op = rng_chance(g->r, 4) ? WS_OP_PING : rng_chance(g->r, 2) ? WS_OP_TEXT : WS_OP_BINARY;
    size_t n = op == WS_OP_PING ? rng_range(g->r, 0, 20) : pick_len(g);
    uint8_t *p = make_payload(g, op, n);
    emit(g, 1, 0, op, 0, 0, n, p, n, " <- client frame not masked");
    free(p);
}

static void m_ctl_fragmented(gen *g)
{
    unsigned op = rng_chance(g->r, 2) ? WS_OP_PING : WS_OP_PONG;
    uint8_t p[MAX_CONTROL];
    size_t n = rng_range(g->r, 0, 40);
    rng_bytes(g->r, p, n);
    emit(g, 0, 0, op, 1, 0, n, p, n, " <- control frame without FIN");
    if (rng_chance(g->r, 2)) /* and its "continuation" */
        emit(g, 1, 0, WS_OP_CONTINUATION, 1, 0, n, p, n, NULL);
}

static void m_ctl_long(gen *g)
{
    unsigned op = rng_chance(g->r, 2) ? WS_OP_PING : WS_OP_PONG;
    uint8_t p[400];
    size_t n = rng_chance(g->r, 2) ? 126 : rng_range(g->r, 126, sizeof p);
    rng_bytes(g->r, p, n);
    emit(g, 1, 0, op, 1, 0, n, p, n, " <- control frame over 125 bytes");
}

static void m_orphan_cont(gen *g)
{
    size_t n = rng_range(g->r, 0, 300);
    uint8_t *p = make_payload(g, WS_OP_BINARY, n);
    emit(g, rng_chance(g->r, 2), 0, WS_OP_CONTINUATION, 1, 0, n, p, n,
         " <- continuation without a message");
    free(p);
}

static void m_nested(gen *g)
{
    unsigned op = rng_chance(g->r, 2) ? WS_OP_TEXT : WS_OP_BINARY;
    size_t n = rng_range(g->r, 0, 300);
    uint8_t *p = make_payload(g, op, n);
    emit_fragments(g, op, p, n, rng_range(g->r, 1, 3), 0); /* left open */
    free(p);
    unsigned op2 = rng_chance(g->r, 2) ? WS_OP_TEXT : WS_OP_BINARY;
    n = rng_range(g->r, 0, 300);
    p = make_payload(g, op2, n);
    emit(g, 1, 0, op2, 1, 0, n, p, n, " <- new message inside a fragmented one");
    free(p);
}

static void m_utf8(gen *g)
{
    size_t n, bad;
    uint8_t *p = bad_text(g, 200, &n, &bad);
    emit(g, 1, 0, WS_OP_TEXT, 1, 0, n, p, n, " <- invalid UTF-8");
    free(p);
}

static void m_utf8_split(gen *g)
{
    size_t n, bad;
    uint8_t *p = bad_text(g, 200, &n, &bad);
    /* The fragment boundary falls inside the invalid sequence or right around it. */
    size_t cut = bad + rng_range(g->r, 0, 2);
    if (cut > n)
        cut = n;
    emit_ok(g, 0, WS_OP_TEXT, p, cut);
    if (rng_chance(g->r, 3))
        emit_ping(g, WS_OP_PING);
    size_t rest = n - cut, cut2 = rng_range(g->r, 0, rest);
    emit(g, cut2 == rest, 0, WS_OP_CONTINUATION, 1, 0, cut2, p + cut, cut2,
         " <- invalid UTF-8 across fragments");
    if (cut2 < rest)
        emit_ok(g, 1, WS_OP_CONTINUATION, p + cut + cut2, rest - cut2);
    free(p);
}

static void m_utf8_truncated(gen *g)
{
    static const struct {
        uint8_t b[3];
        uint8_t n;
    } heads[] = {{{0xC3}, 1}, {{0xE2}, 1}, {{0xE2, 0x82}, 2}, {{0xF0, 0x9F}, 2},
                 {{0xF0, 0x9F, 0x98}, 3}};
    size_t k = rng_below(g->r, sizeof heads / sizeof heads[0]);
    size_t before = rng_range(g->r, 0, 200), n = before + heads[k].n;
    uint8_t *p = xrealloc(NULL, n);
    fill_text(g->r, p, before);
    memcpy(p + before, heads[k].b, heads[k].n);
    if (rng_chance(g->r, 2)) {
        emit(g, 1, 0, WS_OP_TEXT, 1, 0, n, p, n, " <- text ends inside a character");
    } else {
        size_t cut = rng_range(g->r, 0, n);
        emit_ok(g, 0, WS_OP_TEXT, p, cut);
        emit(g, 1, 0, WS_OP_CONTINUATION, 1, 0, n - cut, p + cut, n - cut,
             " <- text ends inside a character");
    }
    free(p);
}

static void m_close_1byte(gen *g)
{
    uint8_t b = (uint8_t)rng_next(g->r);
    emit(g, 1, 0, WS_OP_CLOSE, 1, 0, 1, &b, 1, " <- close payload of 1 byte");
}

static void m_close_code(gen *g)
{
    static const uint16_t bad[] = {0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999,
                                   5000, 65535};
    unsigned code = bad[rng_below(g->r, sizeof bad / sizeof bad[0])];
    uint8_t p[2 + 20];
    size_t rl = rng_chance(g->r, 2) ? 0 : rng_range(g->r, 1, 20);
    p[0] = (uint8_t)(code >> 8);
    p[1] = (uint8_t)code;
    fill_text(g->r, p + 2, rl);
    char note[48];
    snprintf(note, sizeof note, " <- close code %u not allowed", code);
    emit(g, 1, 0, WS_OP_CLOSE, 1, 0, 2 + rl, p, 2 + rl, note);
}

static void m_close_reason(gen *g)
{
    size_t n, bad;
    uint8_t *r = bad_text(g, 59, &n, &bad); /* at most 59 + 4 + 59 <= 123 bytes */
    uint8_t p[MAX_CONTROL];
    p[0] = (uint8_t)(WS_CLOSE_NORMAL >> 8);
    p[1] = (uint8_t)(WS_CLOSE_NORMAL & 0xFF);
    memcpy(p + 2, r, n);
    free(r);
    emit(g, 1, 0, WS_OP_CLOSE, 1, 0, 2 + n, p, 2 + n, " <- close reason not UTF-8");
}

static void m_after_close(gen *g)
{
    emit_normal_close(g);
    unsigned op = rng_chance(g->r, 3) ? WS_OP_PING : rng_chance(g->r, 2) ? WS_OP_TEXT : WS_OP_BINARY;
    size_t n = op == WS_OP_PING ? rng_range(g->r, 0, 20) : rng_range(g->r, 0, 300);
    uint8_t *p = make_payload(g, op, n);
    emit(g, 1, 0, op, 1, 0, n, p, n, " <- frame after the close frame");
    free(p);
}

enum { TAIL_NONE = 0, TAIL_CLOSE = 1 };

typedef struct mutation {
    const char *name;
    int err;       /* the rule broken (WS_OK: none) */
    int tail;      /* TAIL_CLOSE: valid traffic and a normal close follow the violation */
    mutate_fn fn;
    const char *what;
} mutation;

static const mutation mutations[] = {
    {"none", WS_OK, TAIL_CLOSE, m_none, "valid traffic only, then a normal close (the baseline)"},
    {"rsv-bits", WS_ERR_FRAME_RSV, TAIL_CLOSE, m_rsv, "RSV1-3 set, no extension negotiated"},
    {"reserved-opcode", WS_ERR_FRAME_RESERVED_OPCODE, TAIL_CLOSE, m_opcode,
     "opcode 3-7 or 0xB-0xF"},
    {"non-minimal-length", WS_ERR_FRAME_NON_MINIMAL_LENGTH, TAIL_CLOSE, m_nonminimal,
     "a valid message, its length in a longer encoding than needed"},
    {"oversized-length", WS_ERR_FRAME_TOO_LARGE, TAIL_CLOSE, m_oversized,
     "64-bit length of 8 GiB .. 2^62, the body short"},
    {"len64-msb", WS_ERR_FRAME_LEN64_MSB, TAIL_CLOSE, m_len64msb,
     "64-bit length with its most significant bit set"},
    {"unmasked", WS_ERR_FRAME_UNMASKED, TAIL_CLOSE, m_unmasked, "a client frame without MASK"},
    {"control-fragmented", WS_ERR_FRAME_CONTROL_FRAGMENTED, TAIL_CLOSE, m_ctl_fragmented,
     "ping or pong without FIN"},
    {"control-too-long", WS_ERR_FRAME_CONTROL_TOO_LONG, TAIL_CLOSE, m_ctl_long,
     "ping or pong of 126..400 bytes"},
    {"orphan-continuation", WS_ERR_UNEXPECTED_CONTINUATION, TAIL_CLOSE, m_orphan_cont,
     "continuation frame with no message started"},
    {"nested-message", WS_ERR_EXPECTED_CONTINUATION, TAIL_CLOSE, m_nested,
     "new text/binary frame inside a fragmented message"},
    {"utf8-invalid", WS_ERR_INVALID_UTF8, TAIL_CLOSE, m_utf8,
     "text message with an invalid sequence"},
    {"utf8-split", WS_ERR_INVALID_UTF8, TAIL_CLOSE, m_utf8_split,
     "invalid sequence split across fragments"},
    {"utf8-truncated", WS_ERR_INVALID_UTF8, TAIL_CLOSE, m_utf8_truncated,
     "text message ending inside a character"},
    {"close-1-byte", WS_ERR_CLOSE_PAYLOAD, TAIL_NONE, m_close_1byte, "close frame of 1 byte"},
    {"close-invalid-code", WS_ERR_CLOSE_CODE, TAIL_NONE, m_close_code,
     "close code 0, 999, 1004-1006, 1015, 2999, 5000..."},
    {"close-invalid-utf8", WS_ERR_INVALID_UTF8, TAIL_NONE, m_close_reason,
     "close reason that is not UTF-8"},
    {"data-after-close", WS_ERR_AFTER_CLOSE, TAIL_NONE, m_after_close,
     "a normal close, then a data or ping frame"},
};
#define NMUT (sizeof mutations / sizeof mutations[0])

/* ---------------------------------------------------------------------------------------- */
/* A session: its stream and what the server must answer                                    */
/* ---------------------------------------------------------------------------------------- */

typedef struct expect {
    int err;           /* the checker's first report (WS_OK: none) */
    unsigned code;     /* close code the server must answer with */
    unsigned severity; /* WS_SEVERITY_*, 0 for none */
    uint64_t offset;   /* of the violation (the stream length when none) */
    uint64_t need;     /* bytes the server needs to see it: past the offending byte, or up
                          to the end of a text frame that ends inside a character */
    size_t before_close; /* end of our first valid close frame before the violation, or 0 */
} expect;

typedef struct session {
    rng r; /* every choice of the session's stream */
    uint64_t seed;
    size_t kind;
    gen g;
    expect x;
    /* Sync mode (half the sessions): the writer stops before the violation (before the final
     * close for "none") until every message before it is echoed and the last ping answered;
     * burst mode writes everything at once. */
    int sync;
    size_t sync_at;    /* stream offset of the stop */
    size_t sync_cands; /* candidates wholly before it */
    size_t sync_ping;  /* 1 + index of the last ping before it, 0 for none */
} session;

/* Build the session's stream from its seed. */
static void session_build(session *s, uint64_t seed, size_t max_frame, int kind_forced)
{
    memset(s, 0, sizeof *s);
    s->seed = seed;
    s->r.s = seed;
    s->g.r = &s->r;
    s->g.max_frame = max_frame;
    s->kind = rng_below(&s->r, NMUT);
    if (kind_forced >= 0)
        s->kind = (size_t)kind_forced; /* the same stream as the session of that seed had */
    s->sync = rng_chance(&s->r, 2);
    const mutation *m = &mutations[s->kind];
    size_t pre = rng_range(&s->r, 0, 6);
    for (size_t i = 0; i < pre; i++)
        emit_valid(&s->g);
    s->sync_at = s->g.s.len;
    m->fn(&s->g);
    if (m->tail == TAIL_CLOSE) {
        size_t post = rng_range(&s->r, 0, 2);
        for (size_t i = 0; i < post; i++)
            emit_valid(&s->g);
        /* Now and then a flood behind the violation: input the server has not read when it
         * fails the connection (closing the socket then sends a reset that can destroy its
         * close frame and the echoes before it: RFC 6455 7.1.1's half-close is the cure). */
        if (!s->sync && m->err != WS_OK && rng_chance(&s->r, 4)) {
            size_t n = rng_range(&s->r, 8, 64);
            for (size_t i = 0; i < n; i++) {
                size_t len = rng_range(&s->r, 1, 8192 < s->g.max_frame ? 8192 : s->g.max_frame);
                uint8_t *p = make_payload(&s->g, WS_OP_BINARY, len);
                size_t start = emit_ok(&s->g, 1, WS_OP_BINARY, p, len);
                add_cand(&s->g, WS_OP_BINARY, p, len, start);
                free(p);
            }
        }
        if (m->err == WS_OK)
            s->sync_at = s->g.s.len; /* the baseline stops before its close */
        emit_normal_close(&s->g);
    }
    while (s->sync_cands < s->g.ncands && s->g.cands[s->sync_cands].end <= s->sync_at)
        s->sync_cands++;
    for (size_t i = 0; i < s->g.npings; i++)
        if (s->g.pings[i].end <= s->sync_at)
            s->sync_ping = i + 1;
}

/* What the server must answer: the first rule the stream breaks, by the checker (the same
 * rules libws applies), with the RFC's close code and severity. */
static void expectations(session *s)
{
    gen *g = &s->g;
    expect *x = &s->x;
    ws_checker *k = NULL;
    if (ws_checker_new(&k, WS_ROLE_CLIENT, NULL) != WS_OK ||
        ws_checker_configure(k, 0, ASSUMED_LIMIT, ASSUMED_LIMIT) != WS_OK)
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
            x->code = ev.close_code; /* our close: the server echoes it, typically */
        }
    }
    ws_checker_free(k);
    free(copy);
    const mutation *m = &mutations[s->kind];
    if (x->err != m->err)
        die("internal: session seed 0x%016" PRIx64 " (%s): the checker reports %s first, "
            "the mutation is tagged %s",
            s->seed, m->name, ws_errname(x->err), ws_errname(m->err));
    if (x->err != WS_OK && x->code != ws_close_code_for_error(m->err))
        die("internal: close code %u for %s", x->code, ws_errname(m->err));
    if (close_end && close_end <= x->offset) {
        /* Our valid close came first (data after close): the server answers the close. */
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
/* Talking to the server                                                                    */
/* ---------------------------------------------------------------------------------------- */

typedef struct options {
    const char *url;
    char host[256];
    char port[8];
    unsigned sessions;
    uint64_t seed;
    unsigned timeout_ms;
    size_t max_frame;
    int verbose, no_echo, strict_echo, dry_run, replay, kind;
    uint64_t replay_seed;
} options;

enum { EOF_NONE = 0, EOF_FIN, EOF_RST };

typedef struct received {
    buf msg; /* the server's message in progress */
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
    int close_before_viol; /* the server's close came before the violation was written */
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

/* Sync mode: everything before the stop is answered (or the server is closing). */
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

/* A complete message from the server: match it against the candidates in order. Candidates
 * sent wholly before the violation are required; later ones (and the non-minimal message)
 * are optional, skipped when absent. */
static void on_server_message(const options *o, session *s, received *rv)
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
        int required = c->end <= s->x.offset && (!s->x.before_close || c->end <= s->x.before_close);
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
        rv->ci++; /* an optional candidate the server did not echo */
    }
    note_fail(rv, "message %zu from the server (%s, %zu bytes) matches nothing sent", k + 1,
              op_name(rv->msg_op), rv->msg.len);
}

/* Feed the server's bytes to its checker; collect messages, pongs, the close. */
static void server_bytes(const options *o, session *s, received *rv, ws_checker *chk, uint8_t *in,
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
                         "the server broke a rule: %s (%s, its byte %" PRIu64 ")",
                         ws_strerror(ev.error), ws_errname(ev.error), ev.offset);
            if (o->verbose)
                printf("  <- VIOLATION by the server: %s at byte %" PRIu64 "\n",
                       ws_errname(ev.error), ev.offset);
        } else if (ev.type == WS_CHECK_DATA) {
            if (!rv->in_msg) {
                rv->in_msg = 1;
                rv->msg.len = 0;
                rv->msg_big = 0;
                rv->msg_op = ev.opcode;
            }
            /* Nothing sent is longer than max-frame (or a flood's 8 KiB): a longer message
             * matches nothing, and is not kept past that (a server streaming without end
             * costs no memory). */
            size_t keep = (o->max_frame > 8192 ? o->max_frame : 8192) + 1;
            if (!rv->msg_big && ev.len > keep - rv->msg.len) {
                rv->msg_big = 1;
                note_fail(rv, "message %zu from the server is longer than anything sent",
                          rv->nmsgs + 1);
            }
            if (!rv->msg_big)
                buf_put(&rv->msg, ev.data, ev.len);
            if (ev.fin) {
                rv->in_msg = 0;
                if (!rv->msg_big)
                    on_server_message(o, s, rv);
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
    if (fd >= 0) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    return fd;
}

/* The opening handshake, seeded. Bytes after the response go to the server's checker. */
static int handshake(const options *o, session *s, int fd, uint8_t *rbuf, size_t *rest, char *err,
                     size_t errlen)
{
    rng hr = {s->seed ^ 0x5DEECE66Dull};
    ws_handshake *hs = NULL;
    uint8_t req[2048];
    int ret = -1;
    if (ws_handshake_new(&hs, WS_ROLE_CLIENT, NULL) != WS_OK)
        die("out of memory");
    ws_handshake_set_random(hs, rng_hook, &hr);
    int n = ws_handshake_client_request(hs, o->url, strlen(o->url), NULL, 0, NULL, NULL, req,
                                        sizeof req, NULL);
    if (n < 0)
        die("%s: %s", o->url, ws_strerror(n));
    uint64_t deadline = now_ms() + o->timeout_ms;
    size_t off = 0;
    while (off < (size_t)n) {
        ssize_t w = send(fd, req + off, (size_t)n - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
        } else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
            if (!wait_fd(fd, POLLOUT, deadline)) {
                snprintf(err, errlen, "handshake: request not sent in %u ms", o->timeout_ms);
                goto out;
            }
        } else {
            snprintf(err, errlen, "handshake: send: %s", strerror(errno));
            goto out;
        }
    }
    for (;;) {
        if (!wait_fd(fd, POLLIN, deadline)) {
            snprintf(err, errlen, "handshake: no response in %u ms", o->timeout_ms);
            goto out;
        }
        ssize_t r = recv(fd, rbuf, READ_BUF, 0);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0) {
            snprintf(err, errlen, "handshake: connection closed (%s)",
                     r < 0 ? strerror(errno) : "end of file");
            goto out;
        }
        size_t used = 0;
        int h = ws_handshake_feed(hs, rbuf, (size_t)r, &used);
        if (h < 0) {
            snprintf(err, errlen, "handshake: %s (status %d)", ws_strerror(h),
                     ws_handshake_status(hs));
            goto out;
        }
        if (h == WS_HANDSHAKE_COMPLETE) {
            memmove(rbuf, rbuf + used, (size_t)r - used);
            *rest = (size_t)r - used;
            ret = 0;
            goto out;
        }
    }
out:
    ws_handshake_free(hs);
    return ret;
}

/* Our answer to the server's close when ours has not gone yet. */
static void append_close_reply(gen *g, unsigned code)
{
    if (ws_close_code_valid(code)) {
        uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
        emit_ok(g, 1, WS_OP_CLOSE, p, 2);
    } else {
        emit_ok(g, 1, WS_OP_CLOSE, NULL, 0);
    }
}

/* Run the session over a connection: write the stream in random pieces while reading, then
 * wait (bounded) for the server's close and end of file. */
static void session_run(const options *o, session *s, received *rv, char *err, size_t errlen)
{
    gen *g = &s->g;
    uint8_t *rbuf = xrealloc(NULL, READ_BUF);
    size_t rest = 0;
    ws_checker *chk = NULL;
    rng wr = {s->seed ^ 0xC0FFEEull};
    int fd = tcp_connect(o, err, errlen);
    if (fd < 0)
        goto out;
    if (handshake(o, s, fd, rbuf, &rest, err, errlen) != 0)
        goto out;
    if (ws_checker_new(&chk, WS_ROLE_SERVER, NULL) != WS_OK)
        die("out of memory");
    if (rest)
        server_bytes(o, s, rv, chk, rbuf, rest, 0);

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
        /* The server closed: stop at the end of the frame being written and answer with a
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
                    printf("  -- the server closed: our close goes after byte %zu\n", cut);
            }
            wend = g->s.len;
            if (chunk_left > wend - rv->written)
                chunk_left = wend - rv->written;
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
                server_bytes(o, s, rv, chk, rbuf, (size_t)r, rv->written);
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
                    pause_until = last + 1; /* let the server read this piece alone */
                while (o->verbose && fi < g->nframes && g->frames[fi].end <= rv->written) {
                    printf("  -> [%zu..%zu) %s\n", g->frames[fi].start, g->frames[fi].end,
                           g->frames[fi].desc);
                    fi++;
                }
            } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                write_dead = 1; /* the server is gone: read what it said */
                if (o->verbose)
                    printf("  -- send: %s (after %zu bytes)\n", strerror(errno), rv->written);
            }
        }
    }
out:
    if (fd >= 0)
        close(fd);
    ws_checker_free(chk);
    free(rbuf);
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
            int required = c->end <= x->offset && (!x->before_close || c->end <= x->before_close);
            if (!required)
                continue;
            if (s->sync && c->end <= s->sync_at)
                judge_set(vd, V_FAILED, "message %zu (%s, %zu bytes) not echoed within %u ms "
                          "(sync: the %s waited for it)", i + 1, op_name(c->op), c->len,
                          o->timeout_ms, point);
            else
                judge_set(vd, miss, "burst: message %zu (%zu bytes, sent before the %s) not "
                          "echoed before the server %s", i + 1, c->len, point,
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
                      "the server %s", i + 1, p->len, point,
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
    if (!rv->eof)
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
}

typedef struct reason_count {
    size_t kind;
    int v;
    char why[160];
    unsigned n;
} reason_count;

typedef struct tally {
    unsigned n[NMUT][3];
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
static void kind_answer(size_t kind, size_t max_frame, char *out, size_t cap)
{
    session s;
    session_build(&s, 0x1234567ull + kind, max_frame, (int)kind);
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
    if (o->replay)
        printf("\nwsfuzz: replay of session seed 0x%016" PRIx64 " against %s, %.1f s\n",
               o->replay_seed, o->url, secs);
    else
        printf("\nwsfuzz: %u sessions against %s, seed 0x%016" PRIx64 ", %.1f s\n", sessions,
               o->url, o->seed, secs);
    printf("%-20s %-22s %8s %6s %8s %7s\n", "violation", "RFC answer", "sessions", "OK",
           "allowed", "FAILED");
    for (size_t k = 0; k < NMUT; k++) {
        unsigned n = t->n[k][0] + t->n[k][1] + t->n[k][2];
        char ans[48];
        kind_answer(k, o->max_frame, ans, sizeof ans);
        printf("%-20s %-22s %8u %6u %8u %7u\n", mutations[k].name, ans, n, t->n[k][0],
               t->n[k][1], t->n[k][2]);
        for (int v = 0; v < 3; v++)
            tot[v] += t->n[k][v];
    }
    printf("%-20s %-22s %8u %6u %8u %7u\n", "total", "", tot[0] + tot[1] + tot[2], tot[0],
           tot[1], tot[2]);
    if (t->nreasons) {
        printf("\nnot OK, by kind and reason:\n");
        for (size_t k = 0; k < NMUT; k++)
            for (int v = 2; v >= 1; v--)
                for (size_t i = 0; i < t->nreasons; i++)
                    if (t->reasons[i].kind == k && t->reasons[i].v == v)
                        printf("  %-20s %-18s %5u x %s\n", mutations[k].name, verdict_name[v],
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
"    wsfuzz - stateful black-box fuzzer for WebSocket servers (RFC 6455), built on libws\n"
"\n"
"SYNOPSIS\n"
"    wsfuzz ws://HOST:PORT/PATH [--sessions N] [--seed S] [--timeout-ms T] [--max-frame N]\n"
"           [--no-echo | --strict-echo] [--kind NAME] [--verbose]\n"
"    wsfuzz ws://HOST:PORT/PATH --replay SESSION_SEED [same options as the run]\n"
"    wsfuzz --dry-run [--sessions N] [--seed S] [--max-frame N]\n"
"    wsfuzz --help\n"
"\n"
"DESCRIPTION\n"
"    Each session opens a TCP connection, does the client opening handshake (libws's\n"
"    ws_handshake, no extension offered), then sends seeded traffic: 0-6 valid items (text\n"
"    and binary messages, whole or in 2-5 fragments split anywhere -- inside UTF-8\n"
"    characters too --, pings and unsolicited pongs between messages and between fragments,\n"
"    random masking keys), ONE violation from the list below, then 0-2 more valid items and a\n"
"    normal close (1000). The bytes go out in TCP writes of random sizes (TCP_NODELAY, now and\n"
"    then a 1 ms pause so the server reads a piece alone). Half the sessions are a burst (all\n"
"    written at once, the violation behind data in flight); the other half sync: the writer\n"
"    stops before the violation (before the close, for \"none\") until every message before\n"
"    it is echoed and the last ping answered, at most T. When the server closes first, the\n"
"    rest of the stream is dropped after the frame being written and a close frame answers.\n"
"\n"
"    The answer the server owes is not written down here: the session's stream goes through\n"
"    libws's ws_checker (sender = client), whose first report gives the rule, the close code\n"
"    (ws_close_code_for_error) and the severity; the tool checks that it is the rule the\n"
"    mutation is tagged with. The server's bytes go through a second ws_checker (sender =\n"
"    server): the oracle.\n"
"\n"
    );
    fprintf(f,
"    Verdict of a session:\n"
"    OK        every message sent before the violation echoed exactly and in order, the last\n"
"              ping before it answered, the server's frames breaking no rule, the violation\n"
"              answered with the RFC's close code, and then the TCP connection closed by the\n"
"              server.\n"
"    allowed   a difference RFC 6455 allows: a SHOULD, STRICT or LIMIT violation tolerated\n"
"              (echoing on, or no answer within T) or answered with another code; a MUST\n"
"              violation answered by dropping TCP without a close frame (7.1.7: the close\n"
"              frame is a SHOULD); another code than the echo of our own normal close; in a\n"
"              burst, echoes or a pong missing once the server closed (its application may\n"
"              drop what it had not handled yet; not with --strict-echo).\n"
"    FAILED    anything else: a MUST violation tolerated or answered with another code, an\n"
"              echo missing, different or of a message sent after a MUST violation, a ping\n"
"              unanswered, a rule broken by the server (masked frames, invalid close codes,\n"
"              frames after its close...), no close frame within T, the handshake failing.\n"
"\n");
    fprintf(f,
"OPTIONS\n"
"    --sessions N     sessions to run (default 200)\n"
"    --seed S         run seed (default: from the clock, printed); session i's seed is derived\n"
"                     from S and i, and alone decides everything the session sends\n"
"    --timeout-ms T   longest wait for progress: the handshake, a write, an answer, the end of\n"
"                     the connection (default 2000); a session lasts at most 20 T\n"
"    --max-frame N    largest valid message (default 70000), in one frame or several\n"
"    --no-echo        the server is not an echo server: do not judge what it sends back\n"
"                     (pongs, close codes and its frames' rules still are)\n"
"    --strict-echo    the server handles its input in order and answers it before its close\n"
"                     (libws's echo servers do): in a burst too, every echo and the pong due\n"
"                     before the violation must come before the server's close\n"
"    --kind NAME      only this violation (names below)\n"
"    --replay SEED    run one session, by its session seed (as printed on a FAILED line),\n"
"                     verbosely: every frame sent, every write, everything received\n"
"    --dry-run        generate the sessions and check their expectations, no network\n"
"    --verbose        per-session lines for every session, and --replay's detail\n"
"    --help           this text\n"
"\n"
"VIOLATIONS (the RFC answer: close code and severity, from ws_checker)\n");
    for (size_t k = 0; k < NMUT; k++) {
        char ans[48];
        kind_answer(k, DEFAULT_MAX_FRAME, ans, sizeof ans);
        fprintf(f, "    %-20s %-19s %s\n", mutations[k].name, ans, mutations[k].what);
    }
    fprintf(f,
"    MUST: the server must fail the connection with that code. SHOULD: the sender broke a MUST\n"
"    that receivers commonly fail on. STRICT: receivers may tolerate it. LIMIT: over the\n"
"    server's own size limit (1009 when it applies it). data-after-close: our normal close\n"
"    comes first, so its echo (1000) is the answer.\n"
"\n"
"OUTPUT\n"
"    One line per session that FAILED (every session with --verbose): its number, session\n"
"    seed, violation, mode and reason, the command that replays it, then a reproducer: the\n"
"    bytes sent after the handshake in hex, '|' between TCP writes. At the end a table per\n"
"    violation (sessions, OK, allowed, FAILED) and the reasons of every session not OK,\n"
"    grouped. --kind and --max-frame change what a session seed generates: replay with them.\n"
"\n"
"EXIT STATUS\n"
"    0 no session FAILED, 1 some did, 2 usage or setup error.\n"
"\n"
"EXAMPLES\n"
"    build/examples/echo-epoll --port 9001 &\n"
"    build/tools/wsfuzz ws://127.0.0.1:9001/ --sessions 1000 --seed 7\n"
"    build/tools/wsfuzz ws://127.0.0.1:9001/ --replay 0x9e3779b97f4a7c15\n");
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
    memset(&rv, 0, sizeof rv);
    session_build(&s, seed, o->max_frame, o->kind);
    expectations(&s);
    if (o->verbose)
        printf("session %u seed 0x%016" PRIx64 " %s (%s): %zu bytes, %zu frames, expect close %u "
               "(%s%s%s) for the violation at byte %" PRIu64 "\n",
               index, seed, mutations[s.kind].name, s.sync ? "sync" : "burst", s.g.s.len,
               s.g.nframes, s.x.code,
               s.x.err ? ws_errname(s.x.err) : "none", s.x.err ? ", " : "",
               s.x.err ? severity_name(s.x.severity) : "", s.x.offset);
    if (!o->dry_run) {
        session_run(o, &s, &rv, err, sizeof err);
        if (index == 0 && !o->replay && rv.nwrites == 0 &&
            (!strncmp(err, "connect", 7) || !strncmp(err, "cannot resolve", 14))) {
            received_free(&rv);
            gen_free(&s.g);
            die("%s (nothing to fuzz)", err);
        }
        judge(o, &s, &rv, err, &vd);
        judge_text(&vd);
    } else {
        memset(&vd, 0, sizeof vd);
    }
    tally_add(t, s.kind, &vd);
    if (vd.v == V_FAILED || (o->verbose && !o->dry_run)) {
        printf("%s session %u seed 0x%016" PRIx64 " %s (%s): %s%s%s\n", verdict_name[vd.v],
               index, seed, mutations[s.kind].name, s.sync ? "sync" : "burst",
               vd.why[0] ? vd.why : "as expected", rv.timed_out ? " [timed out]" : "",
               rv.eof == EOF_RST ? " [reset]" : "");
        if (vd.v == V_FAILED && !o->replay) {
            printf("  replay: wsfuzz %s --replay 0x%016" PRIx64, o->url, seed);
            if (o->kind >= 0)
                printf(" --kind %s", mutations[o->kind].name);
            if (o->max_frame != DEFAULT_MAX_FRAME)
                printf(" --max-frame %zu", o->max_frame);
            printf("%s%s\n", o->no_echo ? " --no-echo" : "", o->strict_echo ? " --strict-echo" : "");
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
            for (size_t k = 0; k < NMUT; k++)
                if (!strcmp(v, mutations[k].name))
                    o.kind = (int)k;
            if (o.kind < 0) {
                fprintf(stderr, "wsfuzz: unknown kind '%s' (see --help)\n", v);
                return 2;
            }
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
    if (o.dry_run && !o.url)
        o.url = "ws://127.0.0.1:1/";
    if (!o.url) {
        fprintf(stderr, "usage: wsfuzz ws://HOST:PORT/PATH [options]; wsfuzz --help\n");
        return 2;
    }
    if (parse_url(&o) != 0)
        return 2;
    if (!have_seed)
        o.seed = (uint64_t)time(NULL) * 1000003u ^ (uint64_t)getpid();
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    tally t;
    memset(&t, 0, sizeof t);
    uint64_t t0 = now_ms();
    unsigned failed = 0, n = 0;
    if (o.replay) {
        o.verbose = 1;
        failed += run_one(&o, &t, 0, o.replay_seed) == V_FAILED;
        n = 1;
    } else {
        printf("wsfuzz: %s, %u sessions, seed 0x%016" PRIx64 "%s\n", o.url, o.sessions, o.seed,
               o.dry_run ? " (dry run)" : "");
        for (unsigned i = 0; i < o.sessions; i++, n++)
            failed += run_one(&o, &t, i, session_seed(o.seed, i)) == V_FAILED;
    }
    print_summary(&o, &t, (double)(now_ms() - t0) / 1000.0, n);
    free(t.reasons);
    return failed ? 1 : 0;
}
