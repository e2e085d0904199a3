/*
 * Shared driver of fuzz_conn_server and fuzz_conn_client: a whole ws_conn fed the peer's bytes
 * in chunks of varying size while the "application" drains events, writes part of the output,
 * advances a fake clock and sometimes sends, pings or closes.
 *
 * Input: byte 0 = configuration (bit 0 open without handshake, 1 streaming, 2 no auto-pong,
 * 3 lenient lengths, 4 small limits, 5 short timers, 6 refuse text/binary + close-on-overflow
 * policy, 7 server: reject the request), bytes 1-2 = seed of the schedule (chunk sizes, how
 * much output is written, clock steps, application actions; bit 7 of byte 1: the socket is
 * stalled, nothing is written until the end), then the peer's byte stream.
 *
 * The schedule (from the seed) also calls tick (the clock jumping past the quiet second and
 * the timers), send, ping, close, output and ack at points it chooses: between a feed and the
 * draining of its events, and between taking an event and the next call that may end its
 * view. Every event's payload is copied when taken and compared after those calls, and the
 * connection allocates through a poisoning allocator (freed and moved blocks are overwritten),
 * so memory freed or moved under a queued or last-taken event is caught even without a
 * sanitizer (ws.h: no call frees or moves memory an event still points into). Input goes in
 * both ways, read-only (ws_conn_feed) or in place (ws_conn_feed_inplace).
 *
 * Invariants (abort on violation):
 *   - feed never consumes more than it was given, returns WS_OK, and bytes_in adds up;
 *   - no event after WS_EV_CLOSE, exactly one WS_EV_CLOSE once EOF is fed, and the state never
 *     goes backwards;
 *   - event payloads are readable, text messages are valid UTF-8, messages respect the size
 *     limit, control payloads fit in 125 bytes, close codes are valid (or 1005/1006);
 *   - queued output stays within the high-water mark plus what the library may add on its
 *     own (one pong, one close, one timer ping, the handshake answer);
 *   - everything written is a valid stream: the handshake message, then frames a peer would
 *     accept (masked exactly when the role requires it), no frame after the close frame, a
 *     close code that may appear on the wire, a UTF-8 close reason, sane fragmentation.
 */
#ifndef WS_FUZZ_CONN_FUZZ_H
#define WS_FUZZ_CONN_FUZZ_H

#include "ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Abort naming the invariant, so a crash report says which rule broke. */
#define CF_CHECK(cond)                                                              \
    do {                                                                            \
        if (!(cond)) {                                                              \
            fprintf(stderr, "conn_fuzz.h:%d: invariant failed: %s\n", __LINE__, #cond); \
            abort();                                                                \
        }                                                                           \
    } while (0)

/* Upper bound of what the library queues beyond the high-water mark by itself. */
#define CF_SLACK (2u * (WS_FRAME_MAX_HEADER + WS_FRAME_MAX_CONTROL) + 64u)
#define CF_HS_MAX 4096u

typedef struct cf_out {
    int role;
    int http_done;     /* the handshake message has been seen in full */
    int frames;        /* 1: what follows the HTTP message is frames; 0: a body, not checked */
    uint8_t http[CF_HS_MAX];
    size_t http_len;
    ws_frame_decoder *dec;
    int in_frame, saw_close, msg_op;
    uint8_t op;
    ws_utf8_state tx_utf8;
    uint8_t ctl[WS_FRAME_MAX_CONTROL];
    size_t ctl_len;
    uint8_t scratch[4096];
} cf_out;

typedef struct cf_state {
    ws_conn *c;
    cf_out out;
    uint32_t rng;
    uint64_t now;
    int role, cfg, saw_close, closes;
    int frag_open; /* 0: no message open, 1: open inside a character, 2: at a boundary */
    int last_state;
    uint64_t max_message, high_water;
    uint64_t fed;
    size_t wire_n; /* bytes of peer input in all */
    int stalled; /* the peer reads nothing: output is asked for but never written */
    /* writes in flight (ws_conn_output_take), oldest first: where their bytes were shown and
     * a copy, checked unchanged when they complete */
    struct cf_flight {
        ws_iovec iov[4];
        int cnt;
        size_t len;
        uint8_t *copy;
    } flight[8];
    int nflight;
} cf_state;

static uint32_t cf_next(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    *s = x;
    return x;
}

static int cf_rng(void *user, void *buf, size_t n)
{
    /* Deterministic, so the client's key (and the accept value seeds carry) is fixed. */
    uint8_t *p = buf;
    (void)user;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 37u + 11u);
    return 0;
}

static int cf_code_on_wire(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

/* ---- checking what the connection writes ---- */

static void cf_out_frames(cf_out *o, uint8_t *p, size_t n)
{
    size_t pos = 0;
    for (;;) {
        ws_frame_event ev;
        size_t used = 0;
        int r = ws_frame_decoder_feed(o->dec, p + pos, n - pos, &used, &ev, sizeof ev);
        CF_CHECK(r == WS_OK); /* the library must never write an invalid frame */
        CF_CHECK(used <= n - pos);
        pos += used;
        if (ev.type == WS_FRAME_EV_NONE)
            break;
        if (ev.type == WS_FRAME_EV_HEADER) {
            CF_CHECK(!o->in_frame && !o->saw_close);
            CF_CHECK(ev.header->rsv == 0);
            o->in_frame = 1;
            o->op = ev.header->opcode;
            o->ctl_len = 0;
            if (o->op == WS_OP_CONTINUATION)
                CF_CHECK(o->msg_op != 0);
            else if (!WS_OPCODE_IS_CONTROL(o->op)) {
                CF_CHECK(o->msg_op == 0);
                o->msg_op = o->op;
                o->tx_utf8 = WS_UTF8_ACCEPT;
            }
            if (!WS_OPCODE_IS_CONTROL(o->op) && ev.header->fin)
                o->msg_op = o->msg_op | 0x100; /* ends with this frame */
            continue;
        }
        /* DATA */
        if (WS_OPCODE_IS_CONTROL(o->op)) {
            CF_CHECK(o->ctl_len + ev.len <= sizeof o->ctl);
            if (ev.len)
                memcpy(o->ctl + o->ctl_len, ev.data, ev.len);
            o->ctl_len += ev.len;
        } else if ((o->msg_op & 0xFF) == WS_OP_TEXT) {
            CF_CHECK(ws_utf8_validate(&o->tx_utf8, ev.data, ev.len) == ev.len &&
                     !ws_utf8_failed(o->tx_utf8));
        }
        if (!ev.frame_end)
            continue;
        o->in_frame = 0;
        if (o->op == WS_OP_CLOSE) {
            CF_CHECK(o->ctl_len != 1);
            if (o->ctl_len >= 2) {
                ws_utf8_state u = WS_UTF8_ACCEPT;
                unsigned code = (unsigned)o->ctl[0] << 8 | o->ctl[1];
                CF_CHECK(cf_code_on_wire(code));
                CF_CHECK(ws_utf8_validate(&u, o->ctl + 2, o->ctl_len - 2) == o->ctl_len - 2);
                CF_CHECK(ws_utf8_complete(u));
            }
            o->saw_close = 1;
        } else if (!WS_OPCODE_IS_CONTROL(o->op) && (o->msg_op & 0x100)) {
            if ((o->msg_op & 0xFF) == WS_OP_TEXT)
                CF_CHECK(ws_utf8_complete(o->tx_utf8));
            o->msg_op = 0;
        }
    }
    CF_CHECK(pos == n);
}

static void cf_out_http_end(cf_out *o)
{
    static const char resp[] = "HTTP/1.1 ", ok[] = "HTTP/1.1 101 ", req[] = "GET ";
    o->http_done = 1;
    if (o->role == WS_ROLE_CLIENT) {
        CF_CHECK(o->http_len > 4 && memcmp(o->http, req, 4) == 0);
        o->frames = 1;
    } else {
        CF_CHECK(o->http_len > 9 && memcmp(o->http, resp, 9) == 0);
        o->frames = memcmp(o->http, ok, 13) == 0;
    }
    for (size_t i = 0; i < o->http_len; i++)
        CF_CHECK(o->http[i] != 0);
}

/* Bytes the application wrote to the socket, in order. */
static void cf_out_bytes(cf_out *o, const uint8_t *p, size_t n)
{
    while (n && !o->http_done) {
        CF_CHECK(o->http_len < sizeof o->http);
        o->http[o->http_len++] = *p++;
        n--;
        if (o->http_len >= 4 && memcmp(o->http + o->http_len - 4, "\r\n\r\n", 4) == 0)
            cf_out_http_end(o);
    }
    if (!o->frames)
        return;
    while (n) {
        size_t k = n < sizeof o->scratch ? n : sizeof o->scratch;
        memcpy(o->scratch, p, k); /* the decoder unmasks in place */
        cf_out_frames(o, o->scratch, k);
        p += k;
        n -= k;
    }
}

/* ---- a poisoning allocator: freed (and moved) blocks are overwritten at once ---- */

static void *cf_malloc(void *user, size_t n)
{
    (void)user;
    return malloc(n);
}

static void cf_free(void *user, void *p, size_t n)
{
    (void)user;
    memset(p, 0xDD, n); /* n is the block's size (ws.h): a wrong one shows as heap damage */
    free(p);
}

static void *cf_realloc(void *user, void *p, size_t old_n, size_t n)
{
    void *q = malloc(n);
    if (q) {
        memcpy(q, p, old_n < n ? old_n : n);
        cf_free(user, p, old_n);
    }
    return q;
}

static const ws_allocator cf_poison = {sizeof(ws_allocator), NULL, cf_malloc, cf_realloc,
                                       cf_free};

/* ---- the application side ---- */

static void cf_event(cf_state *s, const ws_event *ev)
{
#ifdef CF_TRACE /* -DCF_TRACE: print the events, for triage */
    fprintf(stderr, "event %d op %d len %zu code %d err %s\n", (int)ev->type, ev->opcode,
            ev->len, ev->close_code, ws_errname(ev->error));
#endif
    CF_CHECK(!s->saw_close); /* WS_EV_CLOSE is always the last event */
    if (ev->len) {
        volatile uint8_t sink = 0;
        CF_CHECK(ev->data != NULL);
        for (size_t i = 0; i < ev->len; i++)
            sink ^= ev->data[i];
        (void)sink;
    }
    switch (ev->type) {
    case WS_EV_OPEN:
        break;
    case WS_EV_MESSAGE:
    case WS_EV_FRAGMENT:
        CF_CHECK(ev->opcode == WS_OP_TEXT || ev->opcode == WS_OP_BINARY);
        CF_CHECK(ev->len <= s->max_message);
        if (ev->type == WS_EV_MESSAGE && ev->opcode == WS_OP_TEXT) {
            ws_utf8_state u = WS_UTF8_ACCEPT;
            CF_CHECK(ws_utf8_validate(&u, ev->data, ev->len) == ev->len);
            CF_CHECK(ws_utf8_complete(u));
        }
        CF_CHECK((s->cfg & 0x40) == 0); /* refused types never arrive */
        break;
    case WS_EV_PING:
    case WS_EV_PONG:
        CF_CHECK(ev->len <= WS_FRAME_MAX_CONTROL);
        break;
    case WS_EV_CLOSE: {
        ws_utf8_state u = WS_UTF8_ACCEPT;
        CF_CHECK(cf_code_on_wire(ev->close_code) || ev->close_code == WS_CLOSE_NO_STATUS ||
                 ev->close_code == WS_CLOSE_ABNORMAL);
        CF_CHECK(ws_utf8_validate(&u, ev->data, ev->len) == ev->len && ws_utf8_complete(u));
        s->saw_close = 1;
        s->closes++;
        break;
    }
    case WS_EV_ERROR:
        CF_CHECK(ev->error < 0 && strcmp(ws_errname(ev->error), "WS_ERR_UNKNOWN") != 0);
        break;
    case WS_EV_REQUEST: {
        CF_CHECK(s->role == WS_ROLE_SERVER && ws_conn_handshake(s->c) != NULL);
        if (s->cfg & 0x80) {
            int r = ws_conn_reject(s->c, 403, NULL, "X-Why: fuzz\r\n", "no", 2);
            /* A timer may have ended the connection while the request waited. */
            CF_CHECK(r == WS_OK || (r == WS_ERR_STATE && ws_conn_state(s->c) == WS_STATE_CLOSED));
        } else {
            const char *p = NULL;
            size_t n = 0;
            char proto[256] = "";
            if (ws_handshake_subprotocol(ws_conn_handshake(s->c), 0, &p, &n) == WS_OK &&
                n < sizeof proto)
                memcpy(proto, p, n + 1);
            int r = ws_conn_accept(s->c, proto[0] ? proto : NULL, NULL, NULL);
            CF_CHECK(r == WS_OK || (r == WS_ERR_STATE && ws_conn_state(s->c) == WS_STATE_CLOSED));
        }
        break;
    }
    default:
        abort();
    }
}

static void cf_check_state(cf_state *s)
{
    int st = ws_conn_state(s->c);
#ifdef CF_TRACE
    fprintf(stderr, "  now %llu state %d buffered %zu deadline %llu\n", (unsigned long long)s->now,
            st, ws_conn_buffered_amount(s->c), (unsigned long long)ws_conn_next_deadline(s->c));
#endif
    CF_CHECK(st >= s->last_state && st <= WS_STATE_CLOSED);
    s->last_state = st;
    if (ws_conn_wants_shutdown(s->c))
        CF_CHECK(st == WS_STATE_CLOSED);
    CF_CHECK(ws_conn_buffered_amount(s->c) <= s->high_water + CF_SLACK + CF_HS_MAX);
}

static void cf_drain(cf_state *s)
{
    ws_event ev;
    size_t guard = 0;
    while (ws_conn_next_event(s->c, &ev, sizeof ev) > 0) {
        cf_event(s, &ev);
        CF_CHECK(++guard < 64 + 2 * s->wire_n); /* kept input: events of many frames */
    }
    cf_check_state(s);
}

/* The oldest write in flight completes: its bytes are where they were, unchanged (ws.h:
 * output never moves until acknowledged), and go to the wire. */
static void cf_complete(cf_state *s)
{
    struct cf_flight *f = &s->flight[0];
    size_t off = 0;
    for (int i = 0; i < f->cnt; i++) {
        CF_CHECK(memcmp(f->iov[i].base, f->copy + off, f->iov[i].len) == 0);
        cf_out_bytes(&s->out, f->iov[i].base, f->iov[i].len);
        off += f->iov[i].len;
    }
    CF_CHECK(ws_conn_output_ack(s->c, f->len) == WS_OK);
    free(f->copy);
    memmove(&s->flight[0], &s->flight[1], (size_t)(s->nflight - 1) * sizeof s->flight[0]);
    s->nflight--;
}

/* A write is submitted and completes later (a completion-based loop): what ws_conn_output
 * offers after the writes already in flight, at most 64 KiB, is taken. */
static void cf_take(cf_state *s)
{
    struct cf_flight *f;
    if (s->nflight == 8)
        cf_complete(s);
    f = &s->flight[s->nflight];
    f->cnt = ws_conn_output(s->c, f->iov, 4);
    CF_CHECK(f->cnt >= 0 && f->cnt <= 4);
    f->len = 0;
    for (int i = 0; i < f->cnt; i++) {
        if (f->iov[i].len > 65536 - f->len)
            f->iov[i].len = 65536 - f->len;
        f->len += f->iov[i].len;
        if (f->len == 65536) {
            f->cnt = i + 1;
            break;
        }
    }
    if (f->len == 0)
        return;
    f->copy = malloc(f->len);
    CF_CHECK(f->copy != NULL);
    size_t off = 0;
    for (int i = 0; i < f->cnt; i++) {
        memcpy(f->copy + off, f->iov[i].base, f->iov[i].len);
        off += f->iov[i].len;
    }
    CF_CHECK(ws_conn_output_take(s->c, f->len) == WS_OK);
    s->nflight++;
}

/* Write (acknowledge) part of the pending output, as a socket taking some bytes would; events
 * are left where they are. Writes in flight complete first; "nothing written" (how 0) from a
 * peer that reads submits a write in flight instead. */
static void cf_write_now(cf_state *s, unsigned how)
{
    ws_iovec iov[4], again[4];
    int cnt;
    size_t total = 0, budget;

    if (how == 0 && !s->stalled) {
        cf_take(s);
        return;
    }
    while (how != 0 && s->nflight > 0)
        cf_complete(s);
    cnt = ws_conn_output(s->c, iov, 4);
    CF_CHECK(cnt >= 0 && cnt <= 4);
    /* a pure accessor: asking again gives the same chunks */
    CF_CHECK(ws_conn_output(s->c, again, 4) == cnt);
    for (int i = 0; i < cnt; i++)
        CF_CHECK(again[i].base == iov[i].base && again[i].len == iov[i].len);
    for (int i = 0; i < cnt; i++) {
        CF_CHECK(iov[i].len > 0 && iov[i].base != NULL);
        total += iov[i].len;
    }
    CF_CHECK(total <= ws_conn_buffered_amount(s->c));
    budget = how == 0 ? 0 : how == 1 ? total / 2 + 1 : how == 2 ? 7 : total;
    if (budget > total)
        budget = total;
    size_t left = budget;
    for (int i = 0; i < cnt && left; i++) {
        size_t k = iov[i].len < left ? iov[i].len : left;
        cf_out_bytes(&s->out, iov[i].base, k);
        left -= k;
    }
    CF_CHECK(ws_conn_output_ack(s->c, budget) == WS_OK);
    CF_CHECK(ws_conn_output_ack(s->c, (size_t)(ws_conn_output_queued(s->c) -
                                                ws_conn_output_acked(s->c)) + 1) ==
             WS_ERR_INVALID_ARG);
    const void *rel;
    while (ws_conn_next_released(s->c, &rel) == 1) /* borrowed sends written: handed back */
        CF_CHECK(rel != NULL);
}

static void cf_write(cf_state *s, unsigned how)
{
    cf_drain(s); /* next_event ends output views: take the events first */
    cf_write_now(s, how);
}

static void cf_app_call(cf_state *s, unsigned a)
{
    static const uint8_t text[] = "h\xC3\xA9llo w\xE2\x82\xACrld \xF0\x9F\x98\x80 fuzz";
    static uint8_t big[3000];
    int r = WS_OK;

    switch (a) {
    case 0:
        r = ws_conn_send(s->c, WS_OP_TEXT, text, sizeof text - 1, 0);
        break;
    case 1:
        r = ws_conn_send(s->c, WS_OP_BINARY, big, sizeof big, WS_SEND_BORROW);
        break;
    case 2:
        r = ws_conn_ping(s->c, "p", 1);
        break;
    case 3:
        /* an open message: "h\xC3" stops inside a character, "\xA9" completes it */
        r = s->frag_open == 1 ? ws_conn_send_fragment(s->c, WS_OP_TEXT, text + 2, 1, 0, 0)
                              : ws_conn_send_fragment(s->c, WS_OP_TEXT, text, 2, 0, 0);
        if (r == WS_OK)
            s->frag_open = s->frag_open == 1 ? 2 : 1;
        break;
    case 4:
        /* its end (or, with none open, a whole message) */
        r = s->frag_open == 1   ? ws_conn_send_fragment(s->c, WS_OP_TEXT, text + 2, 5, 1, 0)
            : s->frag_open == 2 ? ws_conn_send_fragment(s->c, WS_OP_TEXT, text + 3, 4, 1, 0)
                                : ws_conn_send_fragment(s->c, WS_OP_TEXT, text, 7, 1, 0);
        if (r == WS_OK)
            s->frag_open = 0;
        break;
    case 5:
        r = ws_conn_close(s->c, WS_CLOSE_PRIVATE_MIN, "bye", 3);
        break;
    case 6:
        r = ws_conn_pong(s->c, NULL, 0);
        break;
    default:
        r = ws_conn_close(s->c, 0, NULL, 0);
        break;
    }
    CF_CHECK(r <= 0 && strcmp(ws_errname(r), "WS_ERR_UNKNOWN") != 0);
    CF_CHECK(r != WS_ERR_INVALID_ARG && r != WS_ERR_INVALID_UTF8);
}

static void cf_app_action(cf_state *s, unsigned a)
{
    cf_app_call(s, a);
    cf_drain(s);
}

/* One call that must leave every event view alone: the clock (jumping past the quiet second
 * and the timers), an application send / ping / close, a look at the output, a partial
 * write. */
static void cf_between(cf_state *s, uint32_t r)
{
    static const uint64_t jumps[4] = {1, 1500, 20000, 400000};
    ws_iovec iov[4];

    switch (r & 3) {
    case 0:
        s->now += jumps[(r >> 2) & 3];
        CF_CHECK(ws_conn_tick(s->c, s->now) == WS_OK);
        break;
    case 1:
        cf_app_call(s, (r >> 2) & 7);
        break;
    case 2:
        cf_write_now(s, s->stalled ? 0 : (r >> 2) & 3);
        break;
    default:
        CF_CHECK(ws_conn_output(s->c, iov, 4) >= 0);
        break;
    }
}

/* Drain the events; after some of them, before the next call that may end the view, do
 * between-calls and check the payload is still what it was when taken. */
static void cf_drain_checked(cf_state *s)
{
    ws_event ev;
    uint8_t *shadow;
    size_t guard = 0;

    while (ws_conn_next_event(s->c, &ev, sizeof ev) > 0) {
        uint32_t r = cf_next(&s->rng);
        cf_event(s, &ev);
        CF_CHECK(++guard < 64 + 2 * s->wire_n); /* kept input: events of many frames */
        if (!ev.len || (r & 3) != 0)
            continue;
        shadow = malloc(ev.len);
        CF_CHECK(shadow != NULL);
        memcpy(shadow, ev.data, ev.len);
        for (unsigned i = 0; i < 1 + ((r >> 2) & 3); i++)
            cf_between(s, cf_next(&s->rng));
        CF_CHECK(memcmp(shadow, ev.data, ev.len) == 0);
        free(shadow);
    }
    cf_check_state(s);
}

static int cf_run(int role, const uint8_t *data, size_t size)
{
    static const size_t chunks[8] = {1, 2, 3, 5, 14, 64, 1000, (size_t)-1};
    static const uint64_t steps[8] = {0, 1, 2, 5, 10, 25, 60, 400};
    cf_state s;
    uint8_t *wire;
    size_t n, pos = 0, iter = 0;

    if (size < 3)
        return 0;
    memset(&s, 0, sizeof s);
    s.role = role;
    s.cfg = data[0];
    s.rng = ((uint32_t)data[1] << 8 | data[2]) * 2654435761u + 1u;
    s.stalled = (data[1] & 0x80) != 0;
    n = size - 3;
    s.wire_n = n;
    wire = malloc(n ? n : 1);
    CF_CHECK(wire != NULL);
    if (n)
        memcpy(wire, data + 3, n);

    ws_config *cfg = NULL;
    CF_CHECK(ws_config_new(&cfg, &cf_poison) == WS_OK);
    CF_CHECK(ws_conn_new(&s.c, (uint32_t)role, (s.cfg & 1) ? WS_CONN_OPEN : 0, cfg) == WS_OK);
    ws_config_free(cfg); /* the connection keeps it */
    ws_conn_set_random(s.c, cf_rng, NULL);
    CF_CHECK(ws_conn_set_option(s.c, WS_OPT_STREAMING, (s.cfg >> 1) & 1) == WS_OK);
    CF_CHECK(ws_conn_set_option(s.c, WS_OPT_AUTO_PONG, !((s.cfg >> 2) & 1)) == WS_OK);
    CF_CHECK(ws_conn_set_option(s.c, WS_OPT_LENIENT_LENGTH, (s.cfg >> 3) & 1) == WS_OK);
    if (s.cfg & 0x10) {
        CF_CHECK(ws_conn_set_option(s.c, WS_OPT_MAX_MESSAGE_SIZE, 200) == WS_OK);
        CF_CHECK(ws_conn_set_option(s.c, WS_OPT_MAX_FRAME_SIZE, 100) == WS_OK);
        CF_CHECK(ws_conn_set_option(s.c, WS_OPT_FRAGMENT_SIZE, 16) == WS_OK);
        CF_CHECK(ws_conn_set_option(s.c, WS_OPT_SEND_HIGH_WATER, 512) == WS_OK);
    }
    if (s.cfg & 0x20) {
        CF_CHECK(ws_conn_set_option(s.c, WS_OPT_HANDSHAKE_TIMEOUT, 500) == WS_OK);
        CF_CHECK(ws_conn_set_option(s.c, WS_OPT_PING_INTERVAL, 30) == WS_OK);
        CF_CHECK(ws_conn_set_option(s.c, WS_OPT_PONG_TIMEOUT, 20) == WS_OK);
        CF_CHECK(ws_conn_set_option(s.c, WS_OPT_IDLE_TIMEOUT, 300) == WS_OK);
        CF_CHECK(ws_conn_set_option(s.c, WS_OPT_CLOSE_TIMEOUT, 40) == WS_OK);
    }
    if (s.cfg & 0x40) {
        CF_CHECK(ws_conn_set_option(s.c, WS_OPT_REFUSE_TEXT, 1) == WS_OK);
        CF_CHECK(ws_conn_set_option(s.c, WS_OPT_REFUSE_BINARY, 1) == WS_OK);
        CF_CHECK(ws_conn_set_option(s.c, WS_OPT_SEND_POLICY, WS_POLICY_CLOSE_1013) == WS_OK);
    }
    CF_CHECK(ws_conn_get_option(s.c, WS_OPT_MAX_MESSAGE_SIZE, &s.max_message) == WS_OK);
    CF_CHECK(ws_conn_get_option(s.c, WS_OPT_SEND_HIGH_WATER, &s.high_water) == WS_OK);
    s.out.role = role;
    CF_CHECK(ws_frame_decoder_new(&s.out.dec, NULL) == WS_OK);
    ws_frame_decoder_set_flags(s.out.dec,
                               role == WS_ROLE_CLIENT ? WS_FRAME_EXPECT_MASKED
                                                      : WS_FRAME_EXPECT_UNMASKED,
                               UINT64_MAX);
    if (s.cfg & 1) {
        s.out.http_done = 1;
        s.out.frames = 1;
    }
    s.now = 1000;
    ws_conn_tick(s.c, s.now);
    if (role == WS_ROLE_CLIENT && !(s.cfg & 1)) {
        static const char *const protos[] = {"chat", "superchat"};
        CF_CHECK(ws_conn_client_start(s.c, "ws://example.com/chat?x=1", protos, 2, NULL,
                                      "Origin: http://example.com\r\n") == WS_OK);
    }
    cf_drain(&s);

    while (pos < n) {
        uint32_t r = cf_next(&s.rng);
        size_t k = chunks[r & 7], used = (size_t)-1;
        if (k > n - pos)
            k = n - pos;
        int ret = (r >> 15) & 1 ? ws_conn_feed(s.c, wire + pos, k, &used)
                                : ws_conn_feed_inplace(s.c, wire + pos, k, &used);
        CF_CHECK(ret == WS_OK);
        CF_CHECK(used <= k);
        pos += used;
        s.fed += used;
        /* Sometimes the loop does other things before it drains (a timer fired, a send). */
        if (((r >> 16) & 3) == 0)
            cf_between(&s, r >> 18);
        cf_drain_checked(&s);
        cf_write(&s, s.stalled ? 0 : (r >> 3) & 3);
        if (((r >> 5) & 1) == 0) {
            s.now += steps[(r >> 6) & 7];
            ws_conn_tick(s.c, s.now);
            cf_drain(&s);
        }
        if (((r >> 9) & 7) == 0)
            cf_app_action(&s, (r >> 12) & 7);
        CF_CHECK(++iter < 4 * n + 64);
    }
    {
        ws_conn_stats st;
        CF_CHECK(ws_conn_get_stats(s.c, &st, sizeof st) == WS_OK);
        CF_CHECK(st.bytes_in <= s.fed); /* bytes discarded after the close are not counted */
    }
    /* Drain the output, then the transport ends: exactly one close event in all. */
    for (int i = 0; i < 8; i++)
        cf_write(&s, 3);
    s.now += 100000;
    ws_conn_tick(s.c, s.now);
    cf_drain(&s);
    CF_CHECK(ws_conn_feed_eof(s.c) == WS_OK);
    cf_drain(&s);
    CF_CHECK(s.closes == 1);
    CF_CHECK(ws_conn_state(s.c) == WS_STATE_CLOSED);
    CF_CHECK(ws_conn_wants_shutdown(s.c) == 1);
    {
        size_t used = 0;
        uint8_t more[4] = {0x81, 0, 0x88, 0};
        CF_CHECK(ws_conn_feed_inplace(s.c, more, sizeof more, &used) == WS_OK &&
                 used == sizeof more);
        cf_drain(&s);
    }
    cf_write(&s, 3);
    CF_CHECK(s.nflight == 0);
    ws_conn_free(s.c);
    ws_frame_decoder_free(s.out.dec);
    free(wire);
    return 0;
}

#endif
