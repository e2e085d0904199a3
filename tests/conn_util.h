/*
 * Helpers for the connection-layer tests (tests/test_conn_*.c): a server and a client talking
 * in memory, event logs with copied payloads, an output/frame inspector, a raw frame builder
 * for sending invalid frames. The random hooks (test_rng, rec_rng, failing_rng, seq_rng) and the
 * checking allocator (failalloc) come from testutil.h.
 */
#ifndef WS_CONN_UTIL_H
#define WS_CONN_UTIL_H

#include "testutil.h"

#include "ws.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- a growable byte buffer ---- */

typedef struct bytes {
    uint8_t *p;
    size_t n, cap;
} bytes;

static inline void bytes_append(bytes *b, const void *p, size_t n)
{
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n)
            cap *= 2;
        b->p = realloc(b->p, cap);
        assert_non_null(b->p);
        b->cap = cap;
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
}

static inline void bytes_free(bytes *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- event logs: events with their payloads copied (views die at the next call) ---- */

typedef struct ev_rec {
    int type, opcode, fin, by_peer, close_code, error;
    int flags;     /* WS_EVF_*: recorded, not compared by rec_assert_equal (feeding modes differ) */
    uint8_t *data; /* copy of the payload, NUL-terminated for convenience */
    size_t len;
} ev_rec;

typedef struct ev_log {
    ev_rec *v;
    size_t n, cap;
} ev_log;

static inline void log_add(ev_log *l, const ws_event *e)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        assert_non_null(l->v);
    }
    ev_rec *r = &l->v[l->n++];
    memset(r, 0, sizeof *r);
    r->type = (int)e->type;
    r->opcode = e->opcode;
    r->fin = e->fin;
    r->by_peer = e->by_peer;
    r->close_code = e->close_code;
    r->error = e->error;
    r->flags = e->flags;
    r->len = e->len;
    r->data = malloc(e->len + 1);
    assert_non_null(r->data);
    if (e->len) {
        assert_non_null(e->data);
        memcpy(r->data, e->data, e->len);
    }
    r->data[e->len] = 0;
}

static inline void log_clear(ev_log *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].data);
    l->n = 0;
}

static inline void log_free(ev_log *l)
{
    log_clear(l);
    free(l->v);
    memset(l, 0, sizeof *l);
}

/* Take every waiting event of c into l (l NULL: drop them). Returns how many. */
static inline size_t drain(ws_conn *c, ev_log *l)
{
    ws_event e;
    size_t k = 0;
    while (ws_conn_next_event(c, &e, sizeof e) > 0) {
        assert_true(e.type >= WS_EV_OPEN && e.type <= WS_EV_REQUEST);
        if (l)
            log_add(l, &e);
        k++;
    }
    return k;
}

static inline const char *ev_name(int t)
{
    static const char *const names[] = {"NONE", "OPEN",  "MESSAGE", "FRAGMENT", "PING",
                                        "PONG", "CLOSE", "ERROR",   "REQUEST"};
    return t >= 0 && t <= 8 ? names[t] : "?";
}

static inline void log_print(const char *title, const ev_log *l)
{
    print_message("%s: %zu events\n", title, l->n);
    for (size_t i = 0; i < l->n; i++) {
        const ev_rec *r = &l->v[i];
        print_message("  %-8s op=%d fin=%d by_peer=%d code=%d err=%s len=%zu\n", ev_name(r->type),
                      r->opcode, r->fin, r->by_peer, r->close_code, ws_errname(r->error), r->len);
    }
}

static inline size_t log_count(const ev_log *l, int type)
{
    size_t k = 0;
    for (size_t i = 0; i < l->n; i++)
        k += l->v[i].type == type;
    return k;
}

/* The nth (0-based) event of a type, or NULL. */
static inline const ev_rec *log_find(const ev_log *l, int type, size_t nth)
{
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i].type == type && nth-- == 0)
            return &l->v[i];
    return NULL;
}

static inline const ev_rec *log_last(const ev_log *l)
{
    assert_true(l->n > 0);
    return &l->v[l->n - 1];
}

static inline void rec_assert_equal(const ev_rec *a, const ev_rec *b)
{
    assert_int_equal(a->type, b->type);
    assert_int_equal(a->opcode, b->opcode);
    assert_int_equal(a->fin, b->fin);
    assert_int_equal(a->by_peer, b->by_peer);
    assert_int_equal(a->close_code, b->close_code);
    assert_int_equal(a->error, b->error);
    assert_int_equal(a->len, b->len);
    assert_memory_equal(a->data, b->data, a->len + 1);
}

static inline void log_assert_equal(const ev_log *a, const ev_log *b)
{
    if (a->n != b->n) {
        log_print("expected", a);
        log_print("got", b);
    }
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        rec_assert_equal(&a->v[i], &b->v[i]);
}

/* Every connection ends with exactly one CLOSE event, the last one. */
static inline const ev_rec *log_assert_closed(const ev_log *l)
{
    if (log_count(l, WS_EV_CLOSE) != 1)
        log_print("log", l);
    assert_int_equal(log_count(l, WS_EV_CLOSE), 1);
    assert_int_equal(log_last(l)->type, WS_EV_CLOSE);
    return log_last(l);
}

/* Assert event i of the log is MESSAGE(opcode, data[0..len)). */
static inline void log_assert_message(const ev_log *l, size_t i, int opcode, const void *data,
                                      size_t len)
{
    assert_true(i < l->n);
    assert_int_equal(l->v[i].type, WS_EV_MESSAGE);
    assert_int_equal(l->v[i].opcode, opcode);
    assert_int_equal(l->v[i].len, len);
    if (len)
        assert_memory_equal(l->v[i].data, data, len);
}

/* ---- feeding and output ---- */

/*
 * Feed in[0..n) (writable: unmasked in place) to c in pieces of at most chunk bytes (0: all at
 * once), following the rule "feed, drain the events, feed the rest". Events go to l. Returns
 * the first error ws_conn_feed_inplace returned, WS_OK if none.
 */
/* Every other call of feed_chunks feeds with ws_conn_feed_events (events taken by the same
 * call, a batch of 1..4, then the rest drained) instead of ws_conn_feed_inplace + drain: every
 * test that feeds in place checks that the two give the same events. */
static unsigned feed_chunks_turn;

static inline int feed_chunks(ws_conn *c, ev_log *l, uint8_t *in, size_t n, size_t chunk)
{
    size_t pos = 0;

    drain(c, l); /* events a tick or a send left behind come first */
    while (pos < n) {
        size_t end = chunk && n - pos > chunk ? pos + chunk : n;
        while (pos < end) {
            size_t used = 0, got = 0;
            unsigned turn = feed_chunks_turn++;
            int r;
            if (turn & 1) {
                ws_event evs[4];
                size_t max = 1 + (turn >> 1) % 4;
                r = ws_conn_feed_events(c, in + pos, end - pos, &used, evs, max, sizeof evs[0]);
                assert_true(r <= (int)max);
                for (int i = 0; i < r; i++) {
                    assert_int_equal(evs[i].flags & ~(int)WS_EVF_IN_INPUT, 0);
                    if (l)
                        log_add(l, &evs[i]);
                }
                got = r > 0 ? (size_t)r : 0;
                if (r > 0)
                    r = WS_OK;
            } else {
                r = ws_conn_feed_inplace(c, in + pos, end - pos, &used);
            }
            assert_true(used <= end - pos);
            pos += used;
            got += drain(c, l);
            if (r < 0)
                return r;
            /* Progress: bytes consumed or an event produced, never neither. */
            assert_true(used > 0 || got > 0);
        }
    }
    return WS_OK;
}

/* As feed_chunks, on a private copy of in (so the caller's bytes stay masked). */
static inline int feed_copy(ws_conn *c, ev_log *l, const uint8_t *in, size_t n, size_t chunk)
{
    uint8_t *tmp = malloc(n ? n : 1);
    assert_non_null(tmp);
    if (n)
        memcpy(tmp, in, n);
    int r = feed_chunks(c, l, tmp, n, chunk);
    free(tmp);
    return r;
}

/*
 * As feed_chunks, through the copying ws_conn_feed: in is read-only and each piece is handed
 * over from a scratch copy that is scribbled over right after the call (the library must have
 * copied what it took). Pieces not taken in full are offered again after draining. Every event
 * from copied input must say it does not point into the caller's buffer.
 */
static inline int feed_const(ws_conn *c, ev_log *l, const uint8_t *in, size_t n, size_t chunk)
{
    size_t pos = 0;
    uint8_t *tmp = malloc(n ? n : 1);
    assert_non_null(tmp);

    drain(c, l);
    while (pos < n) {
        size_t len = chunk && n - pos > chunk ? chunk : n - pos;
        size_t taken = len + 1;
        size_t before = l ? l->n : 0;
        memcpy(tmp, in + pos, len);
        int r = ws_conn_feed(c, tmp, len, &taken);
        memset(tmp, 0xA5, len);
        if (r < 0) {
            free(tmp);
            drain(c, l);
            return r;
        }
        assert_true(taken <= len);
        pos += taken;
        size_t got = drain(c, l);
        for (size_t i = before; l && i < l->n; i++)
            assert_int_equal(l->v[i].flags & WS_EVF_IN_INPUT, 0);
        assert_true(taken > 0 || got > 0); /* progress */
    }
    free(tmp);
    drain(c, l);
    return WS_OK;
}

/* One write: up to wchunk bytes (0: all that ws_conn_output offers) of c's output appended to
 * out and acknowledged. Returns the bytes taken (0: nothing pending). */
static inline size_t take_write(ws_conn *c, bytes *out, size_t wchunk)
{
    ws_iovec iov[8], again[8];
    size_t took = 0;
    int k = ws_conn_output(c, iov, 8);

    assert_true(k >= 0 && k <= 8);
    /* A pure accessor: asking again changes nothing and gives the same chunks. */
    assert_int_equal(ws_conn_output(c, again, 8), k);
    for (int i = 0; i < k; i++) {
        assert_ptr_equal(again[i].base, iov[i].base);
        assert_int_equal(again[i].len, iov[i].len);
    }
    for (int i = 0; i < k; i++) {
        size_t len = iov[i].len;
        assert_true(len > 0);
        if (wchunk && len > wchunk - took)
            len = wchunk - took;
        bytes_append(out, iov[i].base, len);
        took += len;
        if (wchunk && took == wchunk)
            break;
    }
    size_t before = ws_conn_buffered_amount(c);
    assert_true(took <= before);
    assert_int_equal(ws_conn_output_ack(c, took), WS_OK);
    assert_int_equal(ws_conn_buffered_amount(c), before - took);
    return took;
}

/* All of c's pending output appended to out (written in pieces of at most wchunk bytes).
 * Afterwards nothing is buffered. Returns the bytes taken. */
static inline size_t take_output(ws_conn *c, bytes *out, size_t wchunk)
{
    size_t total = 0, k;
    while ((k = take_write(c, out, wchunk)) > 0)
        total += k;
    assert_int_equal(ws_conn_buffered_amount(c), 0);
    assert_int_equal(ws_conn_output_queued(c), ws_conn_output_acked(c));
    return total;
}

/*
 * Move from's pending output into to: written in pieces of at most wchunk bytes (partial
 * writes, each acknowledged), each piece copied into a fresh writable buffer and fed in pieces
 * of at most fchunk bytes. to's events go to tolog. Returns the bytes moved.
 */
static inline size_t pump_ex(ws_conn *from, ws_conn *to, ev_log *tolog, size_t wchunk,
                             size_t fchunk)
{
    size_t total = 0;
    for (;;) {
        bytes b = {0};
        size_t k = take_write(from, &b, wchunk);
        if (k == 0) {
            bytes_free(&b);
            break;
        }
        int r = feed_chunks(to, tolog, b.p, b.n, fchunk);
        bytes_free(&b);
        total += k;
        if (r == WS_ERR_NOMEM || r == WS_ERR_BUDGET)
            break; /* to could not take it (an allocation failed): the rest is lost */
        assert_int_equal(r, WS_OK);
    }
    return total;
}

static inline size_t pump(ws_conn *from, ws_conn *to, ev_log *tolog, size_t chunk)
{
    return pump_ex(from, to, tolog, chunk, chunk);
}

/* ---- a server and a client, both WS_CONN_OPEN (the HTTP handshake is not wired in yet) ---- */

typedef struct pair {
    ws_conn *srv, *cli;
    ev_log slog, clog; /* events received by the server / the client */
    uint32_t srng, crng;
} pair;

/* Create a connection with WS_CONN_OPEN and the deterministic random hook; its OPEN event is
 * taken and checked. NULL on allocation failure (ws_conn_new returned WS_ERR_NOMEM). */
static inline ws_conn *conn_open(uint32_t role, const ws_allocator *a, uint32_t *rng)
{
    ws_conn *c = NULL;
    ws_event e;
    ws_config *cfg = NULL;
    int r = ws_config_new(&cfg, a);
    if (r == WS_ERR_NOMEM)
        return NULL;
    assert_int_equal(r, WS_OK);
    assert_int_equal(ws_config_set_random(cfg, test_rng, rng), WS_OK);
    r = ws_conn_new(&c, role, WS_CONN_OPEN, cfg);
    ws_config_free(cfg); /* the connection keeps it */
    if (r == WS_ERR_NOMEM)
        return NULL;
    assert_int_equal(r, WS_OK);
    assert_non_null(c);
    assert_int_equal(ws_conn_state(c), WS_STATE_OPEN);
    assert_int_equal(ws_conn_role(c), role);
    assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 1);
    assert_int_equal(e.type, WS_EV_OPEN);
    assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 0);
    return c;
}

/* A server with WS_CONN_OPEN (the library's own random source) whose clock starts at 1000 ms:
 * the first tick is made before its OPEN event is taken (and checked), so timers count from
 * there. */
static inline ws_conn *open_server(const ws_allocator *a)
{
    ws_conn *c = new_conn(WS_ROLE_SERVER, WS_CONN_OPEN, a);
    ws_event e;
    assert_int_equal(ws_conn_tick(c, 1000), WS_OK);
    assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 1);
    assert_int_equal(e.type, WS_EV_OPEN);
    assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 0);
    return c;
}

/* Returns WS_OK, or WS_ERR_NOMEM if a connection could not be created (nothing leaks). */
static inline int pair_init_alloc(pair *p, const ws_allocator *a)
{
    memset(p, 0, sizeof *p);
    p->srng = 0x5eed0001u;
    p->crng = 0x5eed0002u;
    p->srv = conn_open(WS_ROLE_SERVER, a, &p->srng);
    p->cli = conn_open(WS_ROLE_CLIENT, a, &p->crng);
    if (!p->srv || !p->cli) {
        ws_conn_free(p->srv);
        ws_conn_free(p->cli);
        p->srv = p->cli = NULL;
        return WS_ERR_NOMEM;
    }
    return WS_OK;
}

static inline void pair_init(pair *p)
{
    assert_int_equal(pair_init_alloc(p, NULL), WS_OK);
}

static inline void pair_free(pair *p)
{
    ws_conn_free(p->srv);
    ws_conn_free(p->cli);
    log_free(&p->slog);
    log_free(&p->clog);
    memset(p, 0, sizeof *p);
}

/* Pump both ways until no byte moves. */
static inline void pump_all_ex(pair *p, size_t wchunk, size_t fchunk)
{
    while (pump_ex(p->cli, p->srv, &p->slog, wchunk, fchunk) +
               pump_ex(p->srv, p->cli, &p->clog, wchunk, fchunk) >
           0)
        ;
}

static inline void pump_all(pair *p)
{
    pump_all_ex(p, 0, 0);
}

/* ---- frames: building raw ones, parsing a connection's output ---- */

static const uint8_t test_mask_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/*
 * Append a frame with exactly these header bits to b, valid or not (ws_frame_write_header_raw):
 * any opcode, RSV bits, FIN, masked (with a fixed key) or not, any length.
 */
static inline void raw_frame(bytes *b, unsigned opcode, int fin, unsigned rsv, int masked,
                             const void *payload, size_t len)
{
    ws_frame_header h;
    uint8_t hdr[WS_FRAME_MAX_HEADER];
    memset(&h, 0, sizeof h);
    h.opcode = (uint8_t)opcode;
    h.fin = (uint8_t)(fin != 0);
    h.rsv = (uint8_t)rsv;
    h.masked = (uint8_t)(masked != 0);
    memcpy(h.mask, test_mask_key, 4);
    h.payload_len = len;
    int hl = ws_frame_write_header_raw(hdr, sizeof hdr, &h, sizeof h, 0);
    assert_true(hl >= 2 && hl <= (int)sizeof hdr);
    bytes_append(b, hdr, hl > 0 && hl <= (int)sizeof hdr ? (size_t)hl : 0);
    size_t at = b->n;
    bytes_append(b, payload, len);
    if (masked && len)
        ws_mask(b->p + at, len, test_mask_key, 0);
}

/* Append just a header with the declared payload_len, its length in a forced encoding
 * (len_bytes as for ws_frame_write_header_raw: 0 minimal, 1, 2 or 8). */
static inline void raw_header(bytes *b, unsigned opcode, int fin, int masked,
                              uint64_t payload_len, unsigned len_bytes)
{
    ws_frame_header h;
    uint8_t hdr[WS_FRAME_MAX_HEADER];
    memset(&h, 0, sizeof h);
    h.opcode = (uint8_t)opcode;
    h.fin = (uint8_t)(fin != 0);
    h.masked = (uint8_t)(masked != 0);
    memcpy(h.mask, test_mask_key, 4);
    h.payload_len = payload_len;
    int hl = ws_frame_write_header_raw(hdr, sizeof hdr, &h, sizeof h, len_bytes);
    assert_true(hl >= 2 && hl <= (int)sizeof hdr);
    bytes_append(b, hdr, hl > 0 && hl <= (int)sizeof hdr ? (size_t)hl : 0);
}

/* Append a valid frame (ws_frame_encode) as a peer of `to` would send it: masked when the
 * receiver is a server. */
static inline void peer_frame(bytes *b, uint32_t to, unsigned opcode, int fin, const void *payload,
                              size_t len)
{
    ws_frame_header h;
    size_t cap = len + WS_FRAME_MAX_HEADER;
    uint8_t *tmp = malloc(cap);
    assert_non_null(tmp);
    memset(&h, 0, sizeof h);
    h.opcode = (uint8_t)opcode;
    h.fin = (uint8_t)(fin != 0);
    h.masked = to == WS_ROLE_SERVER;
    memcpy(h.mask, test_mask_key, 4);
    int n = ws_frame_encode(tmp, cap, &h, sizeof h, payload, len);
    assert_true(n >= 2);
    bytes_append(b, tmp, (size_t)n);
    free(tmp);
}

/* Append a close frame to `to` carrying code (0: no payload) and reason. */
static inline void peer_close(bytes *b, uint32_t to, unsigned code, const void *reason, size_t rlen)
{
    uint8_t pl[WS_FRAME_MAX_CONTROL];
    assert_true(rlen <= sizeof pl - 2);
    pl[0] = (uint8_t)(code >> 8);
    pl[1] = (uint8_t)code;
    if (rlen)
        memcpy(pl + 2, reason, rlen);
    peer_frame(b, to, WS_OP_CLOSE, 1, pl, code ? 2 + rlen : 0);
}

typedef struct frame_rec {
    int opcode, fin, rsv, masked;
    uint8_t mask[4];
    uint8_t *data; /* unmasked copy */
    size_t len;
} frame_rec;

typedef struct frame_list {
    frame_rec *v;
    size_t n;
} frame_list;

/* Split wire bytes into whole frames (asserting they are), payloads unmasked into copies.
 * RSV bits are accepted and recorded (r->rsv): tests assert on them themselves. */
static inline frame_list parse_frames(const uint8_t *p, size_t n)
{
    frame_list f = {NULL, 0};
    size_t pos = 0, cap = 0;
    while (pos < n) {
        ws_frame_header h;
        int hl = ws_frame_parse_header(
            p + pos, n - pos, WS_FRAME_ALLOW_RSV1 | WS_FRAME_ALLOW_RSV2 | WS_FRAME_ALLOW_RSV3,
            UINT64_MAX, &h, sizeof h);
        assert_true(hl >= 2);
        assert_true(h.payload_len <= n - pos - (size_t)hl);
        if (f.n == cap) {
            cap = cap ? cap * 2 : 8;
            f.v = realloc(f.v, cap * sizeof *f.v);
            assert_non_null(f.v);
        }
        frame_rec *r = &f.v[f.n++];
        r->opcode = h.opcode;
        r->fin = h.fin;
        r->rsv = h.rsv;
        r->masked = h.masked;
        memcpy(r->mask, h.mask, 4);
        r->len = (size_t)h.payload_len;
        r->data = malloc(r->len + 1);
        assert_non_null(r->data);
        if (h.masked)
            ws_mask_copy(r->data, p + pos + hl, r->len, h.mask, 0);
        else if (r->len)
            memcpy(r->data, p + pos + hl, r->len);
        r->data[r->len] = 0;
        pos += (size_t)hl + r->len;
    }
    return f;
}

static inline void frames_free(frame_list *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->v[i].data);
    free(f->v);
    f->v = NULL;
    f->n = 0;
}

/* Status code of a close frame: 1005 for an empty payload. */
static inline int close_code_of(const frame_rec *r)
{
    assert_int_equal(r->opcode, WS_OP_CLOSE);
    assert_true(r->len == 0 || r->len >= 2);
    return r->len ? (r->data[0] << 8 | r->data[1]) : 1005;
}

/* Take c's output, check every frame's masking matches its role, and return the frames. */
static inline frame_list output_frames(ws_conn *c)
{
    bytes b = {0};
    take_output(c, &b, 0);
    frame_list f = parse_frames(b.p, b.n);
    for (size_t i = 0; i < f.n; i++)
        assert_int_equal(f.v[i].masked, ws_conn_role(c) == WS_ROLE_CLIENT);
    bytes_free(&b);
    return f;
}

#endif
