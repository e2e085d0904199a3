/*
 * permessage-deflate (RFC 7692): the section 7.2.3 examples byte for byte, the negotiation
 * matrix on both sides, the data path (context takeover, thresholds, fragmentation, streaming,
 * control frames), limits (zip bomb, corrupt and truncated streams), allocation failure at
 * every allocation, memory per connection for each mode, and interop with python3-websockets.
 * Without zlib: the extension is declined and the options say WS_ERR_UNSUPPORTED.
 */
#include "conn_util.h"

#include "deflate.h"

#if WS_HAVE_ZLIB
#include <zlib.h>
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>

static const char request_fmt[] = "GET /chat HTTP/1.1\r\n"
                                  "Host: example.com\r\n"
                                  "Upgrade: websocket\r\n"
                                  "Connection: Upgrade\r\n"
                                  "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                  "Sec-WebSocket-Version: 13\r\n"
                                  "%s"
                                  "\r\n";

/* Feed a server connection an upgrade request offering `offer` (NULL: no extension header),
 * accept with extensions NULL (the library decides) and return the response's
 * Sec-WebSocket-Extensions value in out ("" when absent). */
static void server_answer(ws_conn *s, const char *offer, char *out, size_t cap)
{
    char req[1024], hdr[512] = "";
    ev_log l = {0};
    bytes resp = {0};

    if (offer)
        snprintf(hdr, sizeof hdr, "Sec-WebSocket-Extensions: %s\r\n", offer);
    snprintf(req, sizeof req, request_fmt, hdr);
    assert_int_equal(feed_copy(s, &l, (const uint8_t *)req, strlen(req), 0), WS_OK);
    assert_non_null(log_find(&l, WS_EV_REQUEST, 0));
    assert_int_equal(ws_conn_accept(s, NULL, NULL, NULL), WS_OK);
    take_output(s, &resp, 0);
    bytes_append(&resp, "", 1);
    const char *k = strstr((const char *)resp.p, "\r\nSec-WebSocket-Extensions: ");
    out[0] = 0;
    if (k) {
        k += strlen("\r\nSec-WebSocket-Extensions: ");
        size_t n = (size_t)(strstr(k, "\r\n") - k);
        assert_true(n < cap);
        memcpy(out, k, n);
        out[n] = 0;
    }
    bytes_free(&resp);
    log_free(&l);
}

/* ---- options for one side of a pair ---- */

typedef struct side {
    int deflate;
    int win, peer_win, mem, level, nt, peer_nt; /* 0: library default */
    uint32_t threshold;
    int streaming;
    uint64_t max_message; /* 0: default */
    ws_deflate_shared *shared;
    int shared_first; /* attach the shared compressor before switching deflate on */
} side;

static const side SIDE_ON = {.deflate = 1};
static const side SIDE_OFF = {0};

static int apply(ws_conn *c, const side *s)
{
    int r = WS_OK;
    if (s->shared && s->shared_first)
        r = ws_conn_set_deflate_shared(c, s->shared);
#define SET_(opt, v)                                                                           \
    do {                                                                                       \
        if (r == WS_OK)                                                                        \
            r = ws_conn_set_option(c, opt, v);                                                 \
    } while (0)
    if (s->deflate) {
        SET_(WS_OPT_DEFLATE, 1);
        SET_(WS_OPT_DEFLATE_THRESHOLD, s->threshold);
    }
    if (s->win)
        SET_(WS_OPT_DEFLATE_WINDOW_BITS, (uint64_t)s->win);
    if (s->peer_win)
        SET_(WS_OPT_DEFLATE_PEER_WINDOW_BITS, (uint64_t)s->peer_win);
    if (s->mem)
        SET_(WS_OPT_DEFLATE_MEM_LEVEL, (uint64_t)s->mem);
    if (s->level)
        SET_(WS_OPT_DEFLATE_LEVEL, (uint64_t)s->level);
    if (s->nt)
        SET_(WS_OPT_DEFLATE_NO_TAKEOVER, 1);
    if (s->peer_nt)
        SET_(WS_OPT_DEFLATE_PEER_NO_TAKEOVER, 1);
    if (s->streaming)
        SET_(WS_OPT_STREAMING, 1);
    if (s->max_message)
        SET_(WS_OPT_MAX_MESSAGE_SIZE, s->max_message);
    if (s->shared && !s->shared_first && r == WS_OK)
        r = ws_conn_set_deflate_shared(c, s->shared);
#undef SET_
    return r;
}

/* A server and a client that did the HTTP handshake with each other in memory. srv_ext: the
 * server's explicit extensions answer (NULL: automatic). Returns WS_OK or the first error
 * (allocation failure runs); the caller frees the pair either way. */
static int hs_pair_alloc(pair *p, const ws_allocator *a, const side *ss, const side *cs,
                         const char *srv_ext)
{
    int r;
    memset(p, 0, sizeof *p);
    p->srng = 0x5eed0001u;
    p->crng = 0x5eed0002u;
    if ((r = conn_new_with(&p->srv, WS_ROLE_SERVER, 0, a)) < 0 ||
        (r = conn_new_with(&p->cli, WS_ROLE_CLIENT, 0, a)) < 0) {
        assert_int_equal(r, WS_ERR_NOMEM);
        return r;
    }
    if ((r = ws_conn_set_random(p->srv, test_rng, &p->srng)) < 0 ||
        (r = ws_conn_set_random(p->cli, test_rng, &p->crng)) < 0) {
        assert_int_equal(r, WS_ERR_NOMEM); /* a connection's copy of its configuration */
        return r;
    }
    if ((r = apply(p->srv, ss)) < 0 || (r = apply(p->cli, cs)) < 0)
        return r;
    if ((r = ws_conn_client_start(p->cli, "ws://example.com/chat", NULL, 0, NULL, NULL)) < 0)
        return r;
    pump(p->cli, p->srv, &p->slog, 0);
    if (!log_find(&p->slog, WS_EV_REQUEST, 0))
        return WS_ERR_STATE;
    if ((r = ws_conn_accept(p->srv, NULL, srv_ext, NULL)) < 0)
        return r;
    pump(p->srv, p->cli, &p->clog, 0);
    if (ws_conn_state(p->cli) != WS_STATE_OPEN)
        return WS_ERR_STATE;
    drain(p->srv, &p->slog); /* the server's OPEN */
    log_clear(&p->slog);
    log_clear(&p->clog);
    return WS_OK;
}

static void hs_pair(pair *p, const side *ss, const side *cs)
{
    assert_int_equal(hs_pair_alloc(p, NULL, ss, cs, NULL), WS_OK);
}

/* Move from's output to `to` (events into tolog); the frames that went over in *fl if not
 * NULL (free with frames_free). */
static void xfer(ws_conn *from, ws_conn *to, ev_log *tolog, frame_list *fl, size_t fchunk)
{
    bytes b = {0};
    take_output(from, &b, 0);
    if (fl)
        *fl = parse_frames(b.p, b.n);
    if (b.n)
        assert_int_equal(feed_copy(to, tolog, b.p, b.n, fchunk), WS_OK);
    bytes_free(&b);
}

/* Deterministic, compressible text. */
static char *make_text(size_t n, uint32_t seed)
{
    static const char *const words[] = {"deflate ", "window ", "context ", "takeover ",
                                        "message ", "frame ",  "sliding ", "\xc3\xa9t\xc3\xa9 "};
    char *s = malloc(n + 16);
    size_t k = 0;
    assert_non_null(s);
    while (k < n) {
        const char *w = words[test_rand(&seed) % 8];
        size_t wl = strlen(w);
        if (k + wl > n) {
            memset(s + k, 'x', n - k);
            k = n;
            break;
        }
        memcpy(s + k, w, wl);
        k += wl;
    }
    s[n] = 0;
    return s;
}

/* Whether permessage-deflate was agreed on c: WS_OK or WS_ERR_NOT_FOUND (which also zeroes
 * the parameters). */
static int get_dp(const ws_conn *c)
{
    ws_deflate_params dp;
    int r;
    memset(&dp, 0xAA, sizeof dp);
    r = ws_conn_get_deflate_params(c, &dp, sizeof dp);
    if (r == WS_ERR_NOT_FOUND) {
        assert_int_equal(dp.server_no_context_takeover, 0);
        assert_int_equal(dp.client_no_context_takeover, 0);
        assert_int_equal(dp.server_max_window_bits, 0);
        assert_int_equal(dp.client_max_window_bits, 0);
    }
    return r;
}

#if WS_HAVE_ZLIB

/* The connection's whole output so far, as frames (RSV bits recorded). */
static inline frame_list oframes(ws_conn *c)
{
    bytes b = {0};
    take_output(c, &b, 0);
    frame_list f = parse_frames(b.p, b.n);
    bytes_free(&b);
    return f;
}

/* ---- RFC 7692 section 7.2.3, byte for byte ---- */

static void test_rfc_send_hello(void **state)
{
    (void)state;
    pair p;
    frame_list f;
    static const uint8_t first[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
    static const uint8_t second[] = {0xf2, 0x00, 0x11, 0x00, 0x00}; /* shared window */

    hs_pair(&p, &SIDE_ON, &SIDE_ON);
    assert_int_equal(ws_conn_send(p.srv, WS_OP_TEXT, "Hello", 5, 0), WS_OK);
    assert_int_equal(ws_conn_send(p.srv, WS_OP_TEXT, "Hello", 5, 0), WS_OK);
    bytes b = {0};
    take_output(p.srv, &b, 0);
    /* 7.2.3.1 and 7.2.3.2: 0xc1 0x07 f2 48 cd c9 c9 07 00, then 0xc1 0x05 f2 00 11 00 00 */
    assert_int_equal(b.n, 2 + sizeof first + 2 + sizeof second);
    assert_int_equal(b.p[0], 0xc1);
    assert_int_equal(b.p[1], 0x07);
    assert_memory_equal(b.p + 2, first, sizeof first);
    assert_int_equal(b.p[9], 0xc1);
    assert_int_equal(b.p[10], 0x05);
    assert_memory_equal(b.p + 11, second, sizeof second);
    assert_int_equal(feed_copy(p.cli, &p.clog, b.p, b.n, 1), WS_OK);
    assert_int_equal(p.clog.n, 2);
    log_assert_message(&p.clog, 0, WS_OP_TEXT, "Hello", 5);
    log_assert_message(&p.clog, 1, WS_OP_TEXT, "Hello", 5);
    bytes_free(&b);

    /* The client masks, but the compressed payload is the same. */
    assert_int_equal(ws_conn_send(p.cli, WS_OP_TEXT, "Hello", 5, 0), WS_OK);
    xfer(p.cli, p.srv, &p.slog, &f, 0);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.v[0].rsv, WS_RSV1);
    assert_int_equal(f.v[0].len, sizeof first);
    assert_memory_equal(f.v[0].data, first, sizeof first);
    log_assert_message(&p.slog, 0, WS_OP_TEXT, "Hello", 5);
    frames_free(&f);
    pair_free(&p);
}

/* An empty message compresses to a single 0x00 byte (7.2.3.6), after another message too. */
static void test_empty_message(void **state)
{
    (void)state;
    pair p;
    frame_list f;
    hs_pair(&p, &SIDE_ON, &SIDE_ON);
    for (int i = 0; i < 3; i++) {
        const char *m = i == 1 ? "Hello" : "";
        assert_int_equal(ws_conn_send(p.srv, WS_OP_BINARY, m, strlen(m), 0), WS_OK);
        xfer(p.srv, p.cli, &p.clog, &f, 0);
        assert_int_equal(f.n, 1);
        assert_int_equal(f.v[0].rsv, WS_RSV1);
        if (i != 1) {
            assert_int_equal(f.v[0].len, 1);
            assert_int_equal(f.v[0].data[0], 0x00);
        }
        log_assert_message(&p.clog, (size_t)i, WS_OP_BINARY, m, strlen(m));
        frames_free(&f);
    }
    pair_free(&p);
}

typedef struct vec {
    const char *name;
    uint8_t bytes[64];
    size_t len;
    int messages; /* each is "Hello" */
} vec;

static void test_rfc_receive_vectors(void **state)
{
    (void)state;
    static const vec v[] = {
        {"7.2.3.1 one frame", {0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}, 9, 1},
        {"7.2.3.1 fragmented",
         {0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00},
         11,
         1},
        {"7.2.3.2 shared window",
         {0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0xc1, 0x05, 0xf2, 0x00, 0x11,
          0x00, 0x00},
         16,
         2},
        {"7.2.3.3 no compression",
         {0xc1, 0x0b, 0x00, 0x05, 0x00, 0xfa, 0xff, 0x48, 0x65, 0x6c, 0x6c, 0x6f, 0x00},
         13,
         1},
        {"7.2.3.4 BFINAL", {0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00}, 10, 1},
        {"7.2.3.4 BFINAL, then the window is still shared",
         {0xc1, 0x08, 0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00, 0xc1, 0x05, 0xf2, 0x00,
          0x11, 0x00, 0x00},
         17,
         2},
        {"7.2.3.5 two blocks",
         {0xc1, 0x0d, 0xf2, 0x48, 0x05, 0x00, 0x00, 0x00, 0xff, 0xff, 0xca, 0xc9, 0xc9, 0x07,
          0x00},
         15,
         1},
    };
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        for (int streaming = 0; streaming < 2; streaming++) {
            for (size_t chunk = 0; chunk < 2; chunk++) {
                pair p;
                side cs = SIDE_ON;
                cs.streaming = streaming;
                hs_pair(&p, &SIDE_ON, &cs);
                assert_int_equal(feed_copy(p.cli, &p.clog, v[i].bytes, v[i].len, chunk), WS_OK);
                /* Streaming: the chunks of each message concatenate to "Hello". */
                bytes all = {0};
                int msgs = 0;
                for (size_t k = 0; k < p.clog.n; k++) {
                    const ev_rec *e = &p.clog.v[k];
                    if (e->type != WS_EV_MESSAGE && e->type != WS_EV_FRAGMENT) {
                        print_message("%s: unexpected event %s\n", v[i].name, ev_name(e->type));
                        fail();
                    }
                    bytes_append(&all, e->data, e->len);
                    if (e->type == WS_EV_MESSAGE || e->fin) {
                        assert_int_equal(all.n, 5);
                        assert_memory_equal(all.p, "Hello", 5);
                        all.n = 0;
                        msgs++;
                    }
                }
                assert_int_equal(msgs, v[i].messages);
                bytes_free(&all);
                pair_free(&p);
            }
        }
    }
}

/* ---- negotiation: the server's answer to every kind of offer ---- */

typedef struct srv_case {
    const char *offer;
    side opts;
    const char *want; /* "" : declined */
    uint8_t snct, cnct, smwb, cmwb;
} srv_case;

static void test_server_negotiation(void **state)
{
    (void)state;
    static const srv_case cases[] = {
        {"permessage-deflate", {.deflate = 1}, "permessage-deflate", 0, 0, 15, 15},
        {"PerMessage-Deflate", {.deflate = 1}, "permessage-deflate", 0, 0, 15, 15},
        {"permessage-deflate; client_max_window_bits", {.deflate = 1}, "permessage-deflate", 0,
         0, 15, 15},
        {"permessage-deflate; client_max_window_bits",
         {.deflate = 1, .peer_win = 10},
         "permessage-deflate; client_max_window_bits=10",
         0, 0, 15, 10},
        {"permessage-deflate; client_max_window_bits=12",
         {.deflate = 1, .peer_win = 10},
         "permessage-deflate; client_max_window_bits=10",
         0, 0, 15, 10},
        {"permessage-deflate; client_max_window_bits=12", {.deflate = 1}, "permessage-deflate", 0,
         0, 15, 12},
        {"permessage-deflate", {.deflate = 1, .peer_win = 10}, "permessage-deflate", 0, 0, 15,
         15},
        {"permessage-deflate; server_max_window_bits=10", {.deflate = 1},
         "permessage-deflate; server_max_window_bits=10", 0, 0, 10, 15},
        {"permessage-deflate; server_max_window_bits=\"11\"", {.deflate = 1},
         "permessage-deflate; server_max_window_bits=11", 0, 0, 11, 15},
        {"permessage-deflate; server_max_window_bits=15", {.deflate = 1, .win = 9},
         "permessage-deflate; server_max_window_bits=9", 0, 0, 9, 15},
        {"permessage-deflate", {.deflate = 1, .win = 12},
         "permessage-deflate; server_max_window_bits=12", 0, 0, 12, 15},
        {"permessage-deflate; server_max_window_bits=8", {.deflate = 1},
         "permessage-deflate; server_max_window_bits=8", 0, 0, 8, 15},
        {"permessage-deflate; server_no_context_takeover", {.deflate = 1},
         "permessage-deflate; server_no_context_takeover", 1, 0, 15, 15},
        {"permessage-deflate", {.deflate = 1, .nt = 1},
         "permessage-deflate; server_no_context_takeover", 1, 0, 15, 15},
        {"permessage-deflate; client_no_context_takeover", {.deflate = 1},
         "permessage-deflate; client_no_context_takeover", 0, 1, 15, 15},
        {"permessage-deflate", {.deflate = 1, .peer_nt = 1},
         "permessage-deflate; client_no_context_takeover", 0, 1, 15, 15},
        {"permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
         "server_max_window_bits=9; client_max_window_bits=9",
         {.deflate = 1},
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
         "server_max_window_bits=9",
         1, 1, 9, 9},
        /* declined offers: unknown, repeated, valued flags, bad values; then the next one */
        {"permessage-deflate; foo", {.deflate = 1}, "", 0, 0, 0, 0},
        {"permessage-deflate; server_no_context_takeover; server_no_context_takeover",
         {.deflate = 1}, "", 0, 0, 0, 0},
        {"permessage-deflate; client_max_window_bits; client_max_window_bits=10",
         {.deflate = 1}, "", 0, 0, 0, 0},
        {"permessage-deflate; server_no_context_takeover=1", {.deflate = 1}, "", 0, 0, 0, 0},
        {"permessage-deflate; client_no_context_takeover=x", {.deflate = 1}, "", 0, 0, 0, 0},
        {"permessage-deflate; server_max_window_bits", {.deflate = 1}, "", 0, 0, 0, 0},
        {"permessage-deflate; server_max_window_bits=7", {.deflate = 1}, "", 0, 0, 0, 0},
        {"permessage-deflate; server_max_window_bits=16", {.deflate = 1}, "", 0, 0, 0, 0},
        {"permessage-deflate; server_max_window_bits=010", {.deflate = 1}, "", 0, 0, 0, 0},
        {"permessage-deflate; server_max_window_bits=+9", {.deflate = 1}, "", 0, 0, 0, 0},
        {"permessage-deflate; client_max_window_bits=0", {.deflate = 1}, "", 0, 0, 0, 0},
        {"permessage-deflate; client_max_window_bits=16", {.deflate = 1}, "", 0, 0, 0, 0},
        {"x-webkit-deflate-frame, permessage-deflate; foo=1, "
         "permessage-deflate; server_max_window_bits=12, permessage-deflate",
         {.deflate = 1},
         "permessage-deflate; server_max_window_bits=12",
         0, 0, 12, 15},
        {"x-webkit-deflate-frame", {.deflate = 1}, "", 0, 0, 0, 0},
        {NULL, {.deflate = 1}, "", 0, 0, 0, 0},
        {"permessage-deflate", {.deflate = 0}, "", 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const srv_case *k = &cases[i];
        char got[256];
        ws_deflate_params dp;
        ws_conn *s = new_conn(WS_ROLE_SERVER, 0, NULL);
        assert_non_null(s);
        assert_int_equal(apply(s, &k->opts), WS_OK);
        server_answer(s, k->offer, got, sizeof got);
        if (strcmp(got, k->want) != 0) {
            print_message("offer '%s': got '%s', want '%s'\n", k->offer ? k->offer : "(none)", got,
                          k->want);
            fail();
        }
        memset(&dp, 0xAA, sizeof dp);
        int on = ws_conn_get_deflate_params(s, &dp, sizeof dp);
        assert_int_equal(on, *k->want ? WS_OK : WS_ERR_NOT_FOUND); /* not found: zeroed */
        assert_int_equal(dp.server_no_context_takeover, k->snct);
        assert_int_equal(dp.client_no_context_takeover, k->cnct);
        assert_int_equal(dp.server_max_window_bits, k->smwb);
        assert_int_equal(dp.client_max_window_bits, k->cmwb);
        ws_conn_free(s);
    }
}

/* An explicit answer from the caller is sent as given and configures the codec. */
static void test_server_explicit_answer(void **state)
{
    (void)state;
    pair p;
    ws_deflate_params dp;
    assert_int_equal(hs_pair_alloc(&p, NULL, &SIDE_OFF, &SIDE_ON,
                                   "permessage-deflate; server_no_context_takeover"),
                     WS_OK);
    assert_int_equal(ws_conn_get_deflate_params(p.srv, &dp, sizeof dp), WS_OK);
    assert_int_equal(dp.server_no_context_takeover, 1);
    assert_int_equal(ws_conn_get_deflate_params(p.cli, &dp, sizeof dp), WS_OK);
    assert_int_equal(dp.server_no_context_takeover, 1);
    assert_int_equal(ws_conn_send(p.srv, WS_OP_TEXT, "Hello", 5, 0), WS_OK);
    xfer(p.srv, p.cli, &p.clog, NULL, 0);
    log_assert_message(&p.clog, 0, WS_OP_TEXT, "Hello", 5);
    pair_free(&p);

    /* An invalid explicit answer is the caller's error. */
    ws_conn *s = new_conn(WS_ROLE_SERVER, 0, NULL);
    char req[1024];
    ev_log l = {0};
    snprintf(req, sizeof req, request_fmt, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    assert_int_equal(feed_copy(s, &l, (const uint8_t *)req, strlen(req), 0), WS_OK);
    assert_int_equal(ws_conn_accept(s, NULL, "permessage-deflate; client_max_window_bits", NULL),
                     WS_ERR_ARG_EXTENSIONS);
    assert_int_equal(ws_conn_accept(s, NULL, NULL, NULL), WS_OK); /* deflate off: declined */
    assert_int_equal(get_dp(s), WS_ERR_NOT_FOUND);
    log_free(&l);
    ws_conn_free(s);

    /* Other extensions offered and accepted are the caller's business: permessage-deflate
     * after them still configures the codec, and an answer without it configures none. */
    snprintf(req, sizeof req, request_fmt,
             "Sec-WebSocket-Extensions: x-other; a=1, permessage-deflate\r\n");
    for (int with_pmd = 0; with_pmd < 2; with_pmd++) {
        s = new_conn(WS_ROLE_SERVER, 0, NULL);
        memset(&l, 0, sizeof l);
        assert_int_equal(feed_copy(s, &l, (const uint8_t *)req, strlen(req), 0), WS_OK);
        assert_int_equal(ws_conn_accept(s, NULL,
                                        with_pmd ? "x-other; a=1, permessage-deflate; "
                                                   "server_no_context_takeover"
                                                 : "x-other; a=1",
                                        NULL),
                         WS_OK);
        if (with_pmd) {
            assert_int_equal(ws_conn_get_deflate_params(s, &dp, sizeof dp), WS_OK);
            assert_int_equal(dp.server_no_context_takeover, 1);
        } else {
            assert_int_equal(get_dp(s), WS_ERR_NOT_FOUND);
        }
        log_free(&l);
        ws_conn_free(s);
    }
}

/* ---- negotiation: the client's check of the server's answer ---- */

typedef struct cli_case {
    side opts;
    const char *ext; /* client's explicit offer, NULL: the library's */
    const char *answer;
    int want; /* WS_OK (open) or the handshake error */
    uint8_t snct, cnct, smwb, cmwb;
} cli_case;

static void test_client_negotiation(void **state)
{
    (void)state;
    static const cli_case cases[] = {
        {{.deflate = 1}, NULL, "permessage-deflate", WS_OK, 0, 0, 15, 15},
        {{.deflate = 1}, NULL, "permessage-deflate; server_no_context_takeover", WS_OK, 1, 0, 15,
         15},
        {{.deflate = 1}, NULL, "permessage-deflate; client_no_context_takeover", WS_OK, 0, 1, 15,
         15},
        {{.deflate = 1}, NULL, "permessage-deflate; server_max_window_bits=10", WS_OK, 0, 0, 10,
         15},
        {{.deflate = 1}, NULL, "permessage-deflate; client_max_window_bits=9", WS_OK, 0, 0, 15,
         9},
        {{.deflate = 1}, NULL, "permessage-deflate; client_max_window_bits=8", WS_OK, 0, 0, 15,
         8},
        {{.deflate = 1, .win = 11}, NULL, "permessage-deflate", WS_OK, 0, 0, 15, 11},
        {{.deflate = 1, .nt = 1}, NULL, "permessage-deflate", WS_OK, 0, 1, 15, 15},
        {{.deflate = 1}, NULL, "permessage-deflate; client_max_window_bits",
         WS_ERR_DEFLATE_NEGOTIATION, 0, 0, 0, 0},
        {{.deflate = 1}, NULL, "permessage-deflate; foo", WS_ERR_DEFLATE_NEGOTIATION, 0, 0, 0, 0},
        {{.deflate = 1}, NULL, "permessage-deflate; server_max_window_bits=16",
         WS_ERR_DEFLATE_NEGOTIATION, 0, 0, 0, 0},
        {{.deflate = 1}, NULL, "permessage-deflate; server_max_window_bits",
         WS_ERR_DEFLATE_NEGOTIATION, 0, 0, 0, 0},
        {{.deflate = 1}, NULL, "permessage-deflate; server_no_context_takeover=1",
         WS_ERR_DEFLATE_NEGOTIATION, 0, 0, 0, 0},
        {{.deflate = 1}, NULL,
         "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
         WS_ERR_DEFLATE_NEGOTIATION, 0, 0, 0, 0},
        {{.deflate = 1}, NULL, "permessage-deflate, permessage-deflate",
         WS_ERR_DEFLATE_NEGOTIATION, 0, 0, 0, 0},
        /* what we asked for must be granted */
        {{.deflate = 1, .peer_nt = 1}, NULL, "permessage-deflate", WS_ERR_DEFLATE_NEGOTIATION,
         0, 0, 0, 0},
        {{.deflate = 1, .peer_nt = 1}, NULL, "permessage-deflate; server_no_context_takeover",
         WS_OK, 1, 0, 15, 15},
        {{.deflate = 1, .peer_win = 10}, NULL, "permessage-deflate", WS_ERR_DEFLATE_NEGOTIATION,
         0, 0, 0, 0},
        {{.deflate = 1, .peer_win = 10}, NULL, "permessage-deflate; server_max_window_bits=11",
         WS_ERR_DEFLATE_NEGOTIATION, 0, 0, 0, 0},
        {{.deflate = 1, .peer_win = 10}, NULL, "permessage-deflate; server_max_window_bits=10",
         WS_OK, 0, 0, 10, 15},
        {{.deflate = 1, .peer_win = 10}, NULL, "permessage-deflate; server_max_window_bits=9",
         WS_OK, 0, 0, 9, 15},
        /* client_max_window_bits only when offered */
        {{.deflate = 0}, "permessage-deflate", "permessage-deflate; client_max_window_bits=10",
         WS_ERR_DEFLATE_NEGOTIATION, 0, 0, 0, 0},
        {{.deflate = 0}, "permessage-deflate", "permessage-deflate", WS_OK, 0, 0, 15, 15},
        /* an explicit offer with a window hint binds our compressor */
        {{.deflate = 0}, "permessage-deflate; client_max_window_bits=10", "permessage-deflate",
         WS_OK, 0, 0, 15, 10},
        /* several offers: the answer must fit one of them */
        {{.deflate = 0},
         "permessage-deflate; server_max_window_bits=10, permessage-deflate",
         "permessage-deflate", WS_OK, 0, 0, 15, 15},
        /* another extension offered and accepted alongside is not permessage-deflate */
        {{.deflate = 0}, "x-other, permessage-deflate", "x-other, permessage-deflate", WS_OK, 0,
         0, 15, 15},
        {{.deflate = 0}, "x-other, permessage-deflate; client_max_window_bits=10",
         "x-other, permessage-deflate; server_no_context_takeover", WS_OK, 1, 0, 15, 10},
        /* not offered at all: the handshake layer's rule */
        {{.deflate = 0}, NULL, "permessage-deflate", WS_ERR_HS_EXTENSION, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const cli_case *k = &cases[i];
        uint32_t rng = 7;
        ws_conn *c = new_conn(WS_ROLE_CLIENT, 0, NULL);
        ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
        bytes req = {0};
        uint8_t out[1024];
        size_t used;
        ev_log l = {0};
        ws_deflate_params dp;

        assert_int_equal(ws_conn_set_random(c, test_rng, &rng), WS_OK);
        assert_int_equal(apply(c, &k->opts), WS_OK);
        assert_int_equal(ws_conn_client_start(c, "ws://h/", NULL, 0, k->ext, NULL), WS_OK);
        take_output(c, &req, 0);
        assert_int_equal(ws_handshake_feed(hs, req.p, req.n, &used), WS_HANDSHAKE_COMPLETE);
        int n = ws_handshake_accept(hs, NULL, k->answer, NULL, out, sizeof out, NULL);
        assert_true(n > 0);
        assert_int_equal(feed_copy(c, &l, out, (size_t)n, 0), WS_OK);
        if (k->want == WS_OK) {
            if (ws_conn_state(c) != WS_STATE_OPEN) {
                print_message("answer '%s' refused\n", k->answer);
                log_print("client", &l);
                fail();
            }
            assert_int_equal(ws_conn_get_deflate_params(c, &dp, sizeof dp), WS_OK);
            assert_int_equal(dp.server_no_context_takeover, k->snct);
            assert_int_equal(dp.client_no_context_takeover, k->cnct);
            assert_int_equal(dp.server_max_window_bits, k->smwb);
            assert_int_equal(dp.client_max_window_bits, k->cmwb);
        } else {
            const ev_rec *e = log_find(&l, WS_EV_ERROR, 0);
            if (!e || e->error != k->want) {
                print_message("answer '%s' to offer '%s' accepted or wrong error\n", k->answer,
                              k->ext ? k->ext : "(library)");
                log_print("client", &l);
                fail();
            }
            assert_int_equal(log_assert_closed(&l)->close_code, 1006);
        }
        log_free(&l);
        bytes_free(&req);
        ws_handshake_free(hs);
        ws_conn_free(c);
    }
}

/* The client's offer reflects its options. */
static void test_client_offer(void **state)
{
    (void)state;
    static const struct {
        side opts;
        const char *want;
    } cases[] = {
        {{.deflate = 1}, "permessage-deflate; client_max_window_bits"},
        {{.deflate = 1, .win = 10, .peer_win = 12, .nt = 1, .peer_nt = 1},
         "permessage-deflate; client_max_window_bits=10; server_max_window_bits=12; "
         "server_no_context_takeover; client_no_context_takeover"},
        {{.deflate = 0}, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t rng = 1;
        ws_conn *c = new_conn(WS_ROLE_CLIENT, 0, NULL);
        bytes req = {0};
        assert_int_equal(ws_conn_set_random(c, test_rng, &rng), WS_OK);
        assert_int_equal(apply(c, &cases[i].opts), WS_OK);
        assert_int_equal(ws_conn_client_start(c, "ws://h/", NULL, 0, NULL, NULL), WS_OK);
        take_output(c, &req, 0);
        bytes_append(&req, "", 1);
        const char *k = strstr((const char *)req.p, "Sec-WebSocket-Extensions: ");
        if (!cases[i].want) {
            assert_null(k);
        } else {
            assert_non_null(k);
            k += strlen("Sec-WebSocket-Extensions: ");
            assert_int_equal(strncmp(k, cases[i].want, strlen(cases[i].want)), 0);
            assert_memory_equal(k + strlen(cases[i].want), "\r\n", 2);
        }
        bytes_free(&req);
        ws_conn_free(c);
    }
}

static void test_options(void **state)
{
    (void)state;
    ws_conn *c = new_conn(WS_ROLE_SERVER, 0, NULL);
    assert_int_equal(ws_deflate_available(), 1);
    assert_int_equal(get_opt(c, WS_OPT_DEFLATE), 0);
    assert_int_equal(get_opt(c, WS_OPT_DEFLATE_WINDOW_BITS), WS_DEFAULT_DEFLATE_WINDOW_BITS);
    assert_int_equal(get_opt(c, WS_OPT_DEFLATE_MEM_LEVEL), WS_DEFAULT_DEFLATE_MEM_LEVEL);
    assert_int_equal(get_opt(c, WS_OPT_DEFLATE_LEVEL), WS_DEFAULT_DEFLATE_LEVEL);
    assert_int_equal(get_opt(c, WS_OPT_DEFLATE_THRESHOLD), WS_DEFAULT_DEFLATE_THRESHOLD);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE_WINDOW_BITS, 8), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE_WINDOW_BITS, 16), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE_PEER_WINDOW_BITS, 7), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE_PEER_WINDOW_BITS, 8), WS_OK);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE_MEM_LEVEL, 0), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE_MEM_LEVEL, 10), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE_LEVEL, 10), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE_THRESHOLD, (uint64_t)1 << 32),
                     WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE, 2), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE_NO_TAKEOVER, 2), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE_PEER_NO_TAKEOVER, 2), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE, 1), WS_OK);
    assert_int_equal(get_opt(c, WS_OPT_DEFLATE), 1);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE_LEVEL, 1), WS_OK);
    assert_int_equal(get_opt(c, WS_OPT_DEFLATE_LEVEL), 1);
    assert_int_equal(ws_conn_set_deflate_shared(NULL, NULL), WS_ERR_INVALID_ARG);
    ws_deflate_shared *sh = NULL;
    assert_int_equal(ws_deflate_shared_new(&sh, NULL, 8, 8, 6), WS_ERR_RANGE);
    assert_int_equal(ws_deflate_shared_new(&sh, NULL, 16, 8, 6), WS_ERR_RANGE);
    assert_int_equal(ws_deflate_shared_new(&sh, NULL, 15, 0, 6), WS_ERR_RANGE);
    assert_int_equal(ws_deflate_shared_new(&sh, NULL, 15, 10, 6), WS_ERR_RANGE);
    assert_int_equal(ws_deflate_shared_new(&sh, NULL, 15, 8, 10), WS_ERR_RANGE);
    assert_int_equal(ws_deflate_shared_new(&sh, NULL, 15, 8, -1), WS_ERR_RANGE);
    assert_null(sh);
    assert_int_equal(ws_deflate_shared_new(NULL, NULL, 15, 8, 6), WS_ERR_INVALID_ARG);
    /* Parameters: not agreed (not even negotiated yet); bad arguments. */
    ws_deflate_params dp;
    assert_int_equal(get_dp(c), WS_ERR_NOT_FOUND);
    assert_int_equal(ws_conn_get_deflate_params(NULL, &dp, sizeof dp), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_get_deflate_params(c, NULL, sizeof dp), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_get_deflate_params(c, &dp, 2), WS_ERR_INVALID_ARG);
    ws_conn_free(c);
}

/* ---- data path ---- */

/* Send m from one side to the other, return its frames, check it arrived. */
static frame_list send_check(ws_conn *from, ws_conn *to, ev_log *tolog, uint32_t op, const void *m,
                             size_t n, unsigned flags)
{
    frame_list f;
    size_t before = tolog->n;
    assert_int_equal(ws_conn_send(from, op, m, n, flags), WS_OK);
    xfer(from, to, tolog, &f, 0);
    assert_int_equal(tolog->n, before + 1);
    log_assert_message(tolog, before, (int)op, m, n);
    return f;
}

static void test_roundtrip_sizes(void **state)
{
    (void)state;
    static const size_t sizes[] = {1, 5, 100, 1000, 4095, 65536, 300000};
    for (int level = 1; level <= 9; level += 8) {
        pair p;
        side s = SIDE_ON;
        s.level = level;
        hs_pair(&p, &s, &s);
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            char *t = make_text(sizes[i], (uint32_t)i + 1);
            uint8_t *bin = malloc(sizes[i]);
            test_fill(bin, sizes[i], (uint32_t)i + 100);
            frame_list f = send_check(p.srv, p.cli, &p.clog, WS_OP_TEXT, t, sizes[i], 0);
            assert_int_equal(f.v[0].rsv, WS_RSV1);
            if (sizes[i] >= 1000)
                assert_true(f.v[0].len < sizes[i] / 2); /* it really compressed */
            frames_free(&f);
            f = send_check(p.cli, p.srv, &p.slog, WS_OP_BINARY, bin, sizes[i], 0);
            assert_int_equal(f.v[0].rsv, WS_RSV1);
            frames_free(&f);
            free(t);
            free(bin);
        }
        pair_free(&p);
    }
}

static void test_threshold_and_opt_out(void **state)
{
    (void)state;
    pair p;
    side s = SIDE_ON;
    frame_list f;
    char *t = make_text(500, 3);

    s.threshold = 100;
    hs_pair(&p, &s, &SIDE_ON);
    f = send_check(p.srv, p.cli, &p.clog, WS_OP_TEXT, t, 99, 0);
    assert_int_equal(f.v[0].rsv, 0); /* below the threshold: as is */
    assert_int_equal(f.v[0].len, 99);
    frames_free(&f);
    f = send_check(p.srv, p.cli, &p.clog, WS_OP_TEXT, t, 100, 0);
    assert_int_equal(f.v[0].rsv, WS_RSV1);
    frames_free(&f);
    f = send_check(p.srv, p.cli, &p.clog, WS_OP_TEXT, t, 500, WS_SEND_NO_COMPRESS);
    assert_int_equal(f.v[0].rsv, 0);
    assert_int_equal(f.v[0].len, 500);
    frames_free(&f);
    /* Borrowed and compressed: the compressed bytes are copied, the message arrives. */
    f = send_check(p.srv, p.cli, &p.clog, WS_OP_TEXT, t, 500, WS_SEND_BORROW);
    assert_int_equal(f.v[0].rsv, WS_RSV1);
    frames_free(&f);
    /* Control frames are never compressed. */
    assert_int_equal(ws_conn_ping(p.srv, t, 125), WS_OK);
    xfer(p.srv, p.cli, &p.clog, &f, 0);
    assert_int_equal(f.v[0].opcode, WS_OP_PING);
    assert_int_equal(f.v[0].rsv, 0);
    assert_int_equal(f.v[0].len, 125);
    frames_free(&f);
    xfer(p.cli, p.srv, &p.slog, &f, 0); /* the pong */
    assert_int_equal(f.v[0].rsv, 0);
    frames_free(&f);
    assert_int_equal(ws_conn_close(p.srv, 1000, "bye", 3), WS_OK);
    xfer(p.srv, p.cli, &p.clog, &f, 0);
    assert_int_equal(f.v[0].rsv, 0);
    frames_free(&f);
    free(t);
    pair_free(&p);
}

/* Auto-fragmentation of a compressed message: RSV1 on the first frame only. */
static void test_auto_fragmentation(void **state)
{
    (void)state;
    pair p;
    char *t = make_text(20000, 9);
    uint8_t *r = malloc(20000);
    test_fill(r, 20000, 5);
    hs_pair(&p, &SIDE_ON, &SIDE_ON);
    assert_int_equal(ws_conn_set_option(p.srv, WS_OPT_FRAGMENT_SIZE, 100), WS_OK);
    assert_int_equal(ws_conn_set_option(p.cli, WS_OPT_FRAGMENT_SIZE, 1000), WS_OK);
    frame_list f = send_check(p.srv, p.cli, &p.clog, WS_OP_TEXT, t, 20000, 0);
    assert_true(f.n > 2);
    for (size_t i = 0; i < f.n; i++) {
        assert_int_equal(f.v[i].rsv, i == 0 ? WS_RSV1 : 0);
        assert_int_equal(f.v[i].opcode, i == 0 ? WS_OP_TEXT : WS_OP_CONTINUATION);
        assert_int_equal(f.v[i].fin, i == f.n - 1);
    }
    frames_free(&f);
    f = send_check(p.cli, p.srv, &p.slog, WS_OP_BINARY, r, 20000, 0);
    assert_true(f.n > 2);
    frames_free(&f);
    free(t);
    free(r);
    pair_free(&p);
}

/* A message sent fragment by fragment: each fragment is flushed, RSV1 on the first; the
 * receiver gets it whole, or in streaming chunks, fed in any split. */
static void test_send_fragments(void **state)
{
    (void)state;
    char *t = make_text(30000, 11);
    for (int streaming = 0; streaming < 2; streaming++) {
        for (size_t chunk = 0; chunk <= 7; chunk += 7) {
            pair p;
            side cs = SIDE_ON;
            cs.streaming = streaming;
            hs_pair(&p, &SIDE_ON, &cs);
            size_t cuts[] = {0, 10, 10, 5000, 29990, 30000};
            for (size_t i = 0; i + 1 < sizeof cuts / sizeof cuts[0]; i++) {
                int fin = i + 2 == sizeof cuts / sizeof cuts[0];
                assert_int_equal(ws_conn_send_fragment(p.srv, WS_OP_TEXT, t + cuts[i],
                                                       cuts[i + 1] - cuts[i], fin, 0),
                                 WS_OK);
                if (i == 2) /* a ping between the fragments */
                    assert_int_equal(ws_conn_ping(p.srv, "x", 1), WS_OK);
            }
            bytes b = {0};
            take_output(p.srv, &b, 0);
            frame_list f = parse_frames(b.p, b.n);
            size_t data_frames = 0;
            for (size_t i = 0; i < f.n; i++) {
                if (f.v[i].opcode == WS_OP_PING)
                    continue;
                assert_int_equal(f.v[i].rsv, data_frames == 0 ? WS_RSV1 : 0);
                data_frames++;
            }
            assert_int_equal(data_frames, 5);
            frames_free(&f);
            assert_int_equal(feed_copy(p.cli, &p.clog, b.p, b.n, chunk), WS_OK);
            bytes all = {0};
            for (size_t i = 0; i < p.clog.n; i++) {
                const ev_rec *e = &p.clog.v[i];
                if (e->type == WS_EV_MESSAGE || e->type == WS_EV_FRAGMENT) {
                    assert_int_equal(e->type, streaming ? WS_EV_FRAGMENT : WS_EV_MESSAGE);
                    assert_true(!streaming || e->len <= 16384);
                    bytes_append(&all, e->data, e->len);
                }
            }
            assert_int_equal(all.n, 30000);
            assert_memory_equal(all.p, t, 30000);
            bytes_free(&all);
            bytes_free(&b);
            pair_free(&p);
        }
    }
    free(t);
}

/* Streaming a large, very compressible message fed in one piece: many 16 KiB chunks come out
 * of one input buffer, one per ws_conn_next_event() call. */
static void test_streaming_big(void **state)
{
    (void)state;
    pair p;
    side cs = SIDE_ON;
    size_t n = 3u << 20;
    uint8_t *m = calloc(1, n);
    cs.streaming = 1;
    hs_pair(&p, &SIDE_ON, &cs);
    /* Above the 1 MiB default: streaming hands it out in chunks whatever its size. */
    assert_int_equal(ws_conn_set_option(p.cli, WS_OPT_MAX_MESSAGE_SIZE, 4u << 20), WS_OK);
    for (size_t i = 0; i < n; i += 4096)
        m[i] = (uint8_t)i;
    assert_int_equal(ws_conn_send(p.srv, WS_OP_BINARY, m, n, 0), WS_OK);
    bytes b = {0};
    take_output(p.srv, &b, 0);
    assert_true(b.n < n / 50);
    /* Feeding does not go on while chunks wait. */
    size_t used = 0;
    assert_int_equal(ws_conn_feed_inplace(p.cli, b.p, b.n, &used), WS_OK);
    size_t none = 7;
    assert_int_equal(ws_conn_feed_inplace(p.cli, b.p + used, b.n - used, &none),
                     WS_ERR_EVENTS_PENDING);
    assert_int_equal(none, 0);
    size_t got = 0, events = 0;
    ws_event e;
    for (;;) {
        while (ws_conn_next_event(p.cli, &e, sizeof e) > 0) {
            assert_int_equal(e.type, WS_EV_FRAGMENT);
            assert_true(e.len <= 16384);
            assert_memory_equal(e.data, m + got, e.len);
            got += e.len;
            events++;
        }
        if (used == b.n)
            break;
        size_t k = 0;
        assert_int_equal(ws_conn_feed_inplace(p.cli, b.p + used, b.n - used, &k), WS_OK);
        used += k;
    }
    assert_int_equal(got, n);
    assert_true(events >= n / 16384);
    bytes_free(&b);
    free(m);
    pair_free(&p);
}

/* With context takeover the second identical message is much smaller; without, the same. */
static void test_context_takeover(void **state)
{
    (void)state;
    char *t = make_text(2000, 21);
    for (int nt = 0; nt < 2; nt++) {
        for (int who = 0; who < 2; who++) { /* 0: server's compressor, 1: client's */
            pair p;
            side ss = SIDE_ON, cs = SIDE_ON;
            if (nt && who == 0)
                ss.nt = 1; /* announced by the server */
            if (nt && who == 1)
                ss.peer_nt = 1; /* asked of the client */
            hs_pair(&p, &ss, &cs);
            ws_conn *from = who ? p.cli : p.srv, *to = who ? p.srv : p.cli;
            ev_log *l = who ? &p.slog : &p.clog;
            frame_list a = send_check(from, to, l, WS_OP_TEXT, t, 2000, 0);
            frame_list b = send_check(from, to, l, WS_OP_TEXT, t, 2000, 0);
            if (nt)
                assert_int_equal(a.v[0].len, b.v[0].len);
            else
                assert_true(b.v[0].len < a.v[0].len / 4);
            frames_free(&a);
            frames_free(&b);
            pair_free(&p);
        }
    }
    free(t);
}

/* A window of 8 bits for our compressor: agreed, and our messages go uncompressed. */
static void test_window_8(void **state)
{
    (void)state;
    pair p;
    side cs = SIDE_ON;
    ws_deflate_params dp;
    char *t = make_text(3000, 4);
    cs.peer_win = 8; /* the client asks the server for server_max_window_bits=8 */
    hs_pair(&p, &SIDE_ON, &cs);
    assert_int_equal(ws_conn_get_deflate_params(p.srv, &dp, sizeof dp), WS_OK);
    assert_int_equal(dp.server_max_window_bits, 8);
    frame_list f = send_check(p.srv, p.cli, &p.clog, WS_OP_TEXT, t, 3000, 0);
    assert_int_equal(f.v[0].rsv, 0);
    frames_free(&f);
    f = send_check(p.cli, p.srv, &p.slog, WS_OP_TEXT, t, 3000, 0);
    assert_int_equal(f.v[0].rsv, WS_RSV1);
    frames_free(&f);
    pair_free(&p);

    /* And the client told client_max_window_bits=8 by the server's explicit answer. */
    assert_int_equal(hs_pair_alloc(&p, NULL, &SIDE_OFF, &SIDE_ON,
                                   "permessage-deflate; client_max_window_bits=8"),
                     WS_OK);
    f = send_check(p.cli, p.srv, &p.slog, WS_OP_TEXT, t, 3000, 0);
    assert_int_equal(f.v[0].rsv, 0);
    frames_free(&f);
    f = send_check(p.srv, p.cli, &p.clog, WS_OP_TEXT, t, 3000, 0);
    assert_int_equal(f.v[0].rsv, WS_RSV1);
    frames_free(&f);
    pair_free(&p);
    free(t);
}

/* Small windows and memLevel both ways still round-trip. */
static void test_small_windows(void **state)
{
    (void)state;
    char *t = make_text(100000, 8);
    for (int bits = 9; bits <= 15; bits += 3) {
        pair p;
        side s = SIDE_ON;
        s.win = bits;
        s.peer_win = bits;
        s.mem = 1 + (bits - 9);
        s.level = 9;
        hs_pair(&p, &s, &s);
        for (int i = 0; i < 3; i++) {
            frame_list f = send_check(p.srv, p.cli, &p.clog, WS_OP_TEXT, t, 100000, 0);
            frames_free(&f);
            f = send_check(p.cli, p.srv, &p.slog, WS_OP_TEXT, t + i, 100000 - (size_t)i, 0);
            frames_free(&f);
        }
        pair_free(&p);
    }
    free(t);
}

/* ---- peer errors ---- */

static void expect_failure(pair *p, const bytes *wire, int err, int code)
{
    assert_int_equal(feed_copy(p->cli, &p->clog, wire->p, wire->n, 0), WS_OK);
    const ev_rec *e = log_find(&p->clog, WS_EV_ERROR, 0);
    if (!e || e->error != err) {
        log_print("client", &p->clog);
        fail();
    }
    assert_int_equal(log_assert_closed(&p->clog)->close_code, code);
    frame_list f = oframes(p->cli);
    assert_true(f.n >= 1);
    assert_int_equal(close_code_of(&f.v[f.n - 1]), code);
    frames_free(&f);
}

static void test_rsv1_rules(void **state)
{
    (void)state;
    pair p;
    bytes b = {0};
    static const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};

    /* RSV1 on a continuation frame */
    hs_pair(&p, &SIDE_ON, &SIDE_ON);
    raw_frame(&b, WS_OP_TEXT, 0, WS_RSV1, 0, hello, 3);
    raw_frame(&b, WS_OP_CONTINUATION, 1, WS_RSV1, 0, hello + 3, 4);
    expect_failure(&p, &b, WS_ERR_DEFLATE_RSV1, 1002);
    pair_free(&p);
    bytes_free(&b);

    /* RSV1 on a control frame */
    hs_pair(&p, &SIDE_ON, &SIDE_ON);
    raw_frame(&b, WS_OP_PING, 1, WS_RSV1, 0, "x", 1);
    expect_failure(&p, &b, WS_ERR_DEFLATE_RSV1, 1002);
    pair_free(&p);
    bytes_free(&b);

    /* RSV1 without the extension */
    hs_pair(&p, &SIDE_OFF, &SIDE_ON);
    assert_int_equal(get_dp(p.cli), WS_ERR_NOT_FOUND);
    raw_frame(&b, WS_OP_TEXT, 1, WS_RSV1, 0, hello, sizeof hello);
    expect_failure(&p, &b, WS_ERR_FRAME_RSV, 1002);
    pair_free(&p);
    bytes_free(&b);

    /* RSV2 stays forbidden with it */
    hs_pair(&p, &SIDE_ON, &SIDE_ON);
    raw_frame(&b, WS_OP_TEXT, 1, WS_RSV2, 0, "x", 1);
    expect_failure(&p, &b, WS_ERR_FRAME_RSV, 1002);
    pair_free(&p);
    bytes_free(&b);

    /* An uncompressed message is fine between compressed ones. */
    hs_pair(&p, &SIDE_ON, &SIDE_ON);
    raw_frame(&b, WS_OP_TEXT, 1, WS_RSV1, 0, hello, sizeof hello);
    raw_frame(&b, WS_OP_TEXT, 1, 0, 0, "plain", 5);
    raw_frame(&b, WS_OP_TEXT, 1, WS_RSV1, 0, (const uint8_t[]){0xf2, 0x00, 0x11, 0x00, 0x00}, 5);
    assert_int_equal(feed_copy(p.cli, &p.clog, b.p, b.n, 0), WS_OK);
    log_assert_message(&p.clog, 0, WS_OP_TEXT, "Hello", 5);
    log_assert_message(&p.clog, 1, WS_OP_TEXT, "plain", 5);
    log_assert_message(&p.clog, 2, WS_OP_TEXT, "Hello", 5);
    pair_free(&p);
    bytes_free(&b);
}

static void test_corrupt_streams(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint8_t data[16];
        size_t len;
    } bad[] = {
        {"reserved block type", {0xff, 0xff, 0xff}, 3},
        {"stored length mismatch", {0x00, 0x05, 0x00, 0x05, 0x00, 'H', 'e', 'l', 'l', 'o'}, 10},
        {"distance too far back", {0x02, 0x08, 0x00, 0x00}, 4},
        {"empty payload", {0}, 0},
        {"truncated fixed block", {0xf2, 0x48}, 2},
    };
    for (int streaming = 0; streaming < 2; streaming++) {
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            pair p;
            bytes b = {0};
            side cs = SIDE_ON;
            cs.streaming = streaming;
            hs_pair(&p, &SIDE_ON, &cs);
            raw_frame(&b, WS_OP_BINARY, 1, WS_RSV1, 0, bad[i].data, bad[i].len);
            raw_frame(&b, WS_OP_BINARY, 1, 0, 0, "after", 5);
            print_message("corrupt: %s\n", bad[i].name);
            expect_failure(&p, &b, WS_ERR_DEFLATE_DATA, 1007);
            bytes_free(&b);
            pair_free(&p);
        }
    }

    /* Every strict prefix of a real compressed message is refused, never delivered. */
    char *t = make_text(3000, 99);
    pair q;
    hs_pair(&q, &SIDE_ON, &SIDE_ON);
    assert_int_equal(ws_conn_send(q.srv, WS_OP_BINARY, t, 3000, 0), WS_OK);
    frame_list f = oframes(q.srv);
    pair_free(&q);
    for (size_t cut = 0; cut < f.v[0].len; cut++) {
        pair p;
        bytes b = {0};
        hs_pair(&p, &SIDE_ON, &SIDE_ON);
        raw_frame(&b, WS_OP_BINARY, 1, WS_RSV1, 0, f.v[0].data, cut);
        assert_int_equal(feed_copy(p.cli, &p.clog, b.p, b.n, 0), WS_OK);
        assert_int_equal(log_count(&p.clog, WS_EV_MESSAGE), 0);
        const ev_rec *e = log_find(&p.clog, WS_EV_ERROR, 0);
        assert_non_null(e);
        assert_int_equal(e->error, WS_ERR_DEFLATE_DATA);
        bytes_free(&b);
        pair_free(&p);
    }
    frames_free(&f);

    /* Invalid UTF-8 inside a compressed text message: 1007 as ever. */
    pair p;
    hs_pair(&p, &SIDE_ON, &SIDE_ON);
    assert_int_equal(ws_conn_send(p.srv, WS_OP_BINARY, "ok \xff\xfe", 5, 0), WS_OK);
    f = oframes(p.srv);
    bytes b = {0};
    raw_frame(&b, WS_OP_TEXT, 1, WS_RSV1, 0, f.v[0].data, f.v[0].len);
    expect_failure(&p, &b, WS_ERR_INVALID_UTF8, 1007);
    bytes_free(&b);
    frames_free(&f);
    pair_free(&p);
    free(t);
}

/* ---- limits ---- */

/* The checking allocator (failalloc: sizes given back and canaries checked), without a
 * realloc hook (the library copies itself), and the peak of its live bytes. testutil.h's
 * failalloc keeps the peak itself (.peak); this file still gets conn_util.h's older copy,
 * which does not, so the peak is kept here until that copy goes. */
typedef struct meter {
    failalloc fa;
    size_t peak;
} meter;

static void *meter_malloc(void *u, size_t n)
{
    meter *m = u;
    void *p = fa_malloc(&m->fa, n);
    if (m->fa.bytes > m->peak)
        m->peak = m->fa.bytes;
    return p;
}

static void meter_free(void *u, void *p, size_t n)
{
    meter *m = u;
    fa_free(&m->fa, p, n);
}

static ws_allocator meter_alloc(meter *m)
{
    ws_allocator a = failalloc_init(&m->fa, -1, 0);
    m->peak = 0;
    a.user = m;
    a.malloc = meter_malloc;
    a.realloc = NULL;
    a.free = meter_free;
    return a;
}

/* A raw DEFLATE stream (fixed Huffman, no final block) of one literal 0 then `copies` matches
 * of length 258 at distance 1: ~1032 bytes of output per 13 bits of input. */
static size_t bomb(uint8_t *out, size_t cap, size_t copies)
{
    uint64_t acc = 0;
    unsigned nbits = 0;
    size_t n = 0;
#define PUT_(v, k)                                                                             \
    do {                                                                                       \
        acc |= (uint64_t)(v) << nbits;                                                         \
        nbits += (k);                                                                          \
        while (nbits >= 8) {                                                                   \
            assert_true(n < cap);                                                              \
            out[n++] = (uint8_t)acc;                                                           \
            acc >>= 8;                                                                         \
            nbits -= 8;                                                                        \
        }                                                                                      \
    } while (0)
    PUT_(0, 1); /* BFINAL 0 */
    PUT_(1, 2); /* BTYPE 01, fixed codes */
    /* Huffman codes go most significant bit first: reversed here. Literal 0 = 00110000. */
    PUT_(0x0c, 8);
    for (size_t i = 0; i < copies; i++) {
        PUT_(0xa3, 8); /* length code 285 = 11000101 (258), reversed */
        PUT_(0, 5);    /* distance code 0: distance 1 */
    }
    PUT_(0, 7); /* end of block (256 = 0000000) */
    PUT_(0, 3); /* an empty stored block, ended by the 00 00 ff ff the receiver appends */
    if (nbits)
        PUT_(0, 8 - nbits);
#undef PUT_
    return n;
}

static void test_zip_bomb(void **state)
{
    (void)state;
    size_t big = 4u << 20; /* ~1 GiB of zeros from a ~6.5 MiB frame */
    size_t cap = big * 13 / 8 + 64;
    uint8_t *z = malloc(cap);

    for (int run = 0; run < 4; run++) {
        int streaming = run & 1;
        /* ~1 KiB inflating to ~0.6 MiB against a 64 KiB limit; ~6.5 MiB to 1 GiB against 8. */
        size_t copies = run < 2 ? 630 : big;
        uint64_t limit = run < 2 ? 64u << 10 : 8u << 20;
        size_t zn = bomb(z, cap, copies);
        pair p;
        meter m;
        ws_allocator a = meter_alloc(&m);
        side cs = SIDE_ON;
        bytes b = {0};
        cs.streaming = streaming;
        cs.max_message = limit;
        assert_int_equal(hs_pair_alloc(&p, &a, &SIDE_ON, &cs, NULL), WS_OK);
        raw_frame(&b, WS_OP_BINARY, 1, WS_RSV1, 0, z, zn);
        size_t before = m.fa.bytes;
        m.peak = m.fa.bytes;
        assert_int_equal(feed_copy(p.cli, &p.clog, b.p, b.n, 65536), WS_OK);
        const ev_rec *e = log_find(&p.clog, WS_EV_ERROR, 0);
        assert_non_null(e);
        assert_int_equal(e->error, WS_ERR_MESSAGE_TOO_BIG);
        assert_int_equal(log_assert_closed(&p.clog)->close_code, 1009);
        /* The limit (and, while the reassembly buffer is reallocated, its previous half),
         * the inflater (~7 KiB + 32 KiB window), and little else. */
        print_message("zip bomb (%s): %zu compressed bytes, peak growth %zu bytes\n",
                      streaming ? "streaming" : "reassembly", zn, m.peak - before);
        assert_true(m.peak - before <= limit + limit / 2 + 64 * 1024);
        bytes_free(&b);
        pair_free(&p);
        assert_int_equal(m.fa.bytes, 0);
    }

    /* The same stream cut to decompress to exactly the limit is accepted; one more byte is
     * not. A literal then n copies of 258 make 1 + 258 n bytes; 1 + 258 * 4064 = 1048513. */
    for (int extra = 0; extra < 2; extra++) {
        pair p;
        side cs = SIDE_ON;
        bytes b = {0};
        size_t n = bomb(z, cap, 4064);
        cs.max_message = 1048513 - 1 + (uint64_t)(1 - extra);
        hs_pair(&p, &SIDE_ON, &cs);
        raw_frame(&b, WS_OP_BINARY, 1, WS_RSV1, 0, z, n);
        assert_int_equal(feed_copy(p.cli, &p.clog, b.p, b.n, 0), WS_OK);
        if (extra) {
            assert_int_equal(log_find(&p.clog, WS_EV_ERROR, 0)->error, WS_ERR_MESSAGE_TOO_BIG);
        } else {
            assert_int_equal(p.clog.n, 1);
            assert_int_equal(p.clog.v[0].len, 1048513);
        }
        bytes_free(&b);
        pair_free(&p);
    }
    free(z);
}

/* ---- allocation failure at every allocation ---- */

static int scenario(const ws_allocator *a, int variant, int *delivered)
{
    pair p;
    side ss = SIDE_ON, cs = SIDE_ON;
    char *t = make_text(5000, 17);
    int r;

    *delivered = 0;
    if (variant == 1) {
        ss.nt = 1;
        ss.peer_nt = 1;
        cs.streaming = 1;
    }
    r = hs_pair_alloc(&p, a, &ss, &cs, NULL);
    if (r == WS_OK) {
        for (int i = 0; i < 3; i++) {
            (void)ws_conn_send(p.srv, WS_OP_TEXT, t, 5000 - (size_t)i, 0);
            (void)ws_conn_send_fragment(p.cli, WS_OP_BINARY, t, 1000, 0, 0);
            (void)ws_conn_send_fragment(p.cli, WS_OP_BINARY, t + 1000, 4000, 1, 0);
        }
        pump_all(&p);
        *delivered = (int)(log_count(&p.clog, WS_EV_MESSAGE) + log_count(&p.slog, WS_EV_MESSAGE));
        if (variant == 1)
            *delivered = (int)(log_count(&p.clog, WS_EV_FRAGMENT) > 0) * 3 +
                         (int)log_count(&p.slog, WS_EV_MESSAGE);
    }
    pair_free(&p);
    free(t);
    return r;
}

static void test_alloc_failures(void **state)
{
    (void)state;
    for (int variant = 0; variant < 2; variant++) {
        long i;
        int delivered;
        for (i = 0;; i++) {
            failalloc fa;
            ws_allocator a = failalloc_init(&fa, i, 0);
            (void)scenario(&a, variant, &delivered);
            assert_int_equal(fa.live, 0); /* nothing leaks, whatever failed */
            if (fa.failed == 0)
                break;
        }
        assert_int_equal(delivered, 6); /* the run without failure delivered everything */
        print_message("variant %d: %ld allocations, each failed once\n", variant, i);
        /* and with every allocation from some point on failing */
        for (long k = 0; k < i; k += 7) {
            failalloc fa;
            ws_allocator a = failalloc_init(&fa, k, 1);
            (void)scenario(&a, variant, &delivered);
            assert_int_equal(fa.live, 0);
        }
    }
}

/* ---- memory per connection, each mode ---- */

typedef struct mem_mode {
    const char *name;
    side srv, cli;
    int shared;
} mem_mode;

/* Live bytes of one server connection after it sent and received one 4 KiB text message;
 * *send_peak: the most its allocations grew while it sent that message. */
static size_t conn_bytes(const mem_mode *mm, ws_deflate_shared *sh, size_t *send_peak)
{
    meter m;
    ws_allocator a = meter_alloc(&m);
    side ss = mm->srv;
    pair p;
    char *t = make_text(4096, 1);
    if (mm->shared)
        ss.shared = sh;
    p.srv = NULL;
    /* Only the server's bytes are counted: the client uses malloc. */
    memset(&p, 0, sizeof p);
    p.srng = 1;
    p.crng = 2;
    p.srv = new_conn(WS_ROLE_SERVER, 0, &a);
    p.cli = new_conn(WS_ROLE_CLIENT, 0, NULL);
    assert_int_equal(ws_conn_set_random(p.cli, test_rng, &p.crng), WS_OK);
    assert_int_equal(apply(p.srv, &ss), WS_OK);
    assert_int_equal(apply(p.cli, &mm->cli), WS_OK);
    assert_int_equal(ws_conn_client_start(p.cli, "ws://h/", NULL, 0, NULL, NULL), WS_OK);
    pump(p.cli, p.srv, &p.slog, 0);
    assert_int_equal(ws_conn_accept(p.srv, NULL, NULL, NULL), WS_OK);
    pump(p.srv, p.cli, &p.clog, 0);
    drain(p.srv, &p.slog);
    log_clear(&p.slog);
    log_clear(&p.clog);
    assert_int_equal(get_dp(p.srv), mm->srv.deflate ? WS_OK : WS_ERR_NOT_FOUND);
    size_t before = m.fa.bytes;
    m.peak = before;
    assert_int_equal(ws_conn_send(p.srv, WS_OP_TEXT, t, 4096, 0), WS_OK);
    *send_peak = m.peak - before;
    xfer(p.srv, p.cli, &p.clog, NULL, 0);
    log_assert_message(&p.clog, 0, WS_OP_TEXT, t, 4096);
    frame_list f;
    f = send_check(p.cli, p.srv, &p.slog, WS_OP_TEXT, t, 4096, 0);
    frames_free(&f);
    size_t live = m.fa.bytes;
    pair_free(&p);
    free(t);
    return live;
}

static void test_memory_per_connection(void **state)
{
    (void)state;
    static const mem_mode modes[] = {
        {"no deflate", {0}, {0}, 0},
        {"default (window 15, memLevel 8, context takeover)", {.deflate = 1}, {.deflate = 1}, 0},
        {"small (window 10 both ways, memLevel 4)",
         {.deflate = 1, .win = 10, .peer_win = 10, .mem = 4},
         {.deflate = 1},
         0},
        {"no context takeover both ways (released between messages)",
         {.deflate = 1, .nt = 1, .peer_nt = 1},
         {.deflate = 1},
         0},
        {"shared compressor + client no context takeover",
         {.deflate = 1, .peer_nt = 1},
         {.deflate = 1},
         1},
    };
    meter m;
    ws_allocator a = meter_alloc(&m);
    ws_deflate_shared *sh = NULL;
    assert_int_equal(ws_deflate_shared_new(&sh, &a, 15, 8, 6), WS_OK);
    assert_non_null(sh);
    printf("info: deflate shared compressor (window 15, memLevel 8), once per thread: %zu bytes\n",
           m.fa.bytes);
    size_t base = 0, private_peak = 0;
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        size_t peak = 0, n = conn_bytes(&modes[i], sh, &peak);
        if (i == 0)
            base = n;
        printf("info: deflate memory per server connection, %s: %zu bytes (sending: +%zu)\n",
               modes[i].name, n, peak);
        if (i >= 3) /* no zlib state left between messages: only the reassembly buffer */
            assert_true(n < base + 16384);
        if (i == 3) /* a compressor made for the message and released after it */
            private_peak = peak;
        /* The shared one (window 15, the one negotiated too): no compressor of the
         * connection's own, not even for the moment of the send. */
        if (i >= 4)
            assert_true(peak < private_peak / 8);
    }
    ws_deflate_shared_free(sh);
}

/* The shared compressor serves many connections; every peer decodes its messages. */
static void test_shared_compressor(void **state)
{
    (void)state;
    enum { N = 4 };
    pair p[N];
    char *t = make_text(8000, 5);
    ws_deflate_shared *sh = NULL;
    side ss = SIDE_ON;
    assert_int_equal(ws_deflate_shared_new(&sh, NULL, 12, 5, 6), WS_OK);
    ss.shared = sh;
    for (int i = 0; i < N; i++) {
        hs_pair(&p[i], &ss, &SIDE_ON);
        ws_deflate_params dp;
        assert_int_equal(ws_conn_get_deflate_params(p[i].cli, &dp, sizeof dp), WS_OK);
        assert_int_equal(dp.server_no_context_takeover, 1);
    }
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < N; i++)
            assert_int_equal(ws_conn_send(p[i].srv, WS_OP_TEXT, t + i + round, 7000, 0), WS_OK);
        for (int i = 0; i < N; i++) {
            xfer(p[i].srv, p[i].cli, &p[i].clog, NULL, 0);
            log_assert_message(&p[i].clog, (size_t)round, WS_OP_TEXT, t + i + round, 7000);
        }
    }
    /* Fragment-by-fragment sends fall back to a private compressor. */
    assert_int_equal(ws_conn_send_fragment(p[0].srv, WS_OP_TEXT, t, 10, 0, 0), WS_OK);
    assert_int_equal(ws_conn_send(p[1].srv, WS_OP_TEXT, t, 5000, 0), WS_OK);
    assert_int_equal(ws_conn_send_fragment(p[0].srv, WS_OP_TEXT, t + 10, 90, 1, 0), WS_OK);
    xfer(p[0].srv, p[0].cli, &p[0].clog, NULL, 0);
    xfer(p[1].srv, p[1].cli, &p[1].clog, NULL, 0);
    log_assert_message(&p[0].clog, 3, WS_OP_TEXT, t, 100);
    log_assert_message(&p[1].clog, 3, WS_OP_TEXT, t, 5000);
    for (int i = 0; i < N; i++)
        pair_free(&p[i]);
    ws_deflate_shared_free(sh);
    free(t);
}

/* The shared compressor may come before deflate is switched on: the connection keeps it, so
 * it answers with server_no_context_takeover and its messages decode. */
static void test_shared_before_deflate(void **state)
{
    (void)state;
    ws_deflate_shared *sh = NULL;
    side ss = {.deflate = 1, .shared_first = 1};
    pair p;
    char *t = make_text(3000, 9);
    assert_int_equal(ws_deflate_shared_new(&sh, NULL, 15, 8, 6), WS_OK);
    ss.shared = sh;
    hs_pair(&p, &ss, &SIDE_ON);
    ws_deflate_params dp;
    assert_int_equal(ws_conn_get_deflate_params(p.cli, &dp, sizeof dp), WS_OK);
    assert_int_equal(dp.server_no_context_takeover, 1);
    assert_int_equal(ws_conn_send(p.srv, WS_OP_TEXT, t, 3000, 0), WS_OK);
    xfer(p.srv, p.cli, &p.clog, NULL, 0);
    log_assert_message(&p.clog, 0, WS_OP_TEXT, t, 3000);
    pair_free(&p);
    ws_deflate_shared_free(sh);
    free(t);
}

/* A batch (ws_conn_next_events) stops where a compressed message still has to be inflated:
 * the step would reuse memory the batch's views may point into. Here the idle timeout's
 * ERROR comes while a big message is inflated in steps (WS_OPT_INFLATE_STEP): the batch is
 * that ERROR alone; the message still completes, whole, in later calls, before the CLOSE. */
static void test_batch_stops_before_inflating(void **state)
{
    (void)state;
    pair p;
    enum { N = 200000 };
    char *t = make_text(N, 11);
    hs_pair(&p, &SIDE_ON, &SIDE_ON);
    assert_int_equal(ws_conn_set_option(p.srv, WS_OPT_INFLATE_STEP, 4096), WS_OK);
    assert_int_equal(ws_conn_set_option(p.srv, WS_OPT_IDLE_TIMEOUT, 1000), WS_OK);
    assert_int_equal(ws_conn_tick(p.srv, 5000), WS_OK);
    assert_int_equal(ws_conn_send(p.cli, WS_OP_TEXT, t, N, 0), WS_OK);
    bytes b = {0};
    take_output(p.cli, &b, 0);
    size_t used = 0;
    assert_int_equal(ws_conn_feed(p.srv, b.p, b.n, &used), WS_OK);
    assert_int_equal(used, b.n);
    assert_int_equal(ws_conn_tick(p.srv, 6001), WS_OK); /* nothing for a second */
    ws_event evs[8];
    int k = ws_conn_next_events(p.srv, evs, 8, sizeof evs[0]);
    assert_int_equal(k, 1);
    assert_int_equal(evs[0].type, WS_EV_ERROR);
    assert_int_equal(evs[0].error, WS_ERR_IDLE_TIMEOUT);
    size_t calls = 0;
    do {
        k = ws_conn_next_events(p.srv, evs, 8, sizeof evs[0]);
        assert_true(k >= 0 && k <= 1);
        calls++;
    } while (k == 0 && calls < 1000);
    assert_int_equal(k, 1);
    assert_int_equal(evs[0].type, WS_EV_MESSAGE);
    assert_int_equal(evs[0].len, N);
    assert_memory_equal(evs[0].data, t, N);
    bytes_free(&b);
    pair_free(&p);
    free(t);
}

/* Input kept behind a message inflated in steps survives the quiet second: the buffers given
 * back then are only those holding nothing more to process. A big compressed message and a
 * small one behind it in one feed, a quiet second and more before the steps are taken: both
 * messages arrive, whole, in order. */
static void test_quiet_second_keeps_input_behind_inflation(void **state)
{
    (void)state;
    pair p;
    enum { N = 200000 };
    char *t = make_text(N, 12);
    hs_pair(&p, &SIDE_ON, &SIDE_ON);
    assert_int_equal(ws_conn_set_option(p.srv, WS_OPT_INFLATE_STEP, 4096), WS_OK);
    assert_int_equal(ws_conn_tick(p.srv, 5000), WS_OK);
    assert_int_equal(ws_conn_send(p.cli, WS_OP_TEXT, t, N, 0), WS_OK);
    assert_int_equal(ws_conn_send(p.cli, WS_OP_TEXT, "after", 5, WS_SEND_NO_COMPRESS), WS_OK);
    bytes b = {0};
    take_output(p.cli, &b, 0);
    size_t used = 0;
    assert_int_equal(ws_conn_feed(p.srv, b.p, b.n, &used), WS_OK);
    assert_int_equal(used, b.n);
    assert_int_equal(ws_conn_tick(p.srv, 8000), WS_OK);
    ev_log l = {0};
    for (size_t calls = 0; l.n < 2 && calls < 1000; calls++)
        drain(p.srv, &l);
    assert_int_equal(l.n, 2);
    log_assert_message(&l, 0, WS_OP_TEXT, t, N);
    log_assert_message(&l, 1, WS_OP_TEXT, "after", 5);
    log_free(&l);
    bytes_free(&b);
    pair_free(&p);
    free(t);
}

/* ---- interop with python3-websockets over loopback ---- */

#define PY "/usr/bin/python3"
#define PY_SCRIPT "tests/interop/deflate_interop.py"

static int python_ready(void)
{
    return access(PY, X_OK) == 0 && access(PY_SCRIPT, R_OK) == 0 &&
           system(PY " -c 'import websockets' >/dev/null 2>&1") == 0;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Spawn the python peer with its stdin and stdout on pipes. */
static pid_t spawn(const char *const argv[], int *to_child, int *from_child)
{
    int in[2], out[2];
    assert_int_equal(pipe(in), 0);
    assert_int_equal(pipe(out), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    *to_child = in[1];
    *from_child = out[0];
    return pid;
}

/* Wait for the child, killing it after timeout_ms. Returns its exit status (or -1). */
static int reap(pid_t pid, int timeout_ms)
{
    int st = 0;
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        poll(NULL, 0, 20);
    }
}

/* Write c's output to fd, read what is there (waiting up to wait_ms) and feed it. Returns 0,
 * or -1 at end of file. */
static int io_step(ws_conn *c, int fd, ev_log *l, int wait_ms)
{
    ws_iovec iov[8];
    int k;
    while ((k = ws_conn_output(c, iov, 8)) > 0) {
        ssize_t w = write(fd, iov[0].base, iov[0].len);
        if (w < 0 && errno == EINTR)
            continue;
        assert_true(w > 0);
        assert_int_equal(ws_conn_output_ack(c, (size_t)w), WS_OK);
    }
    struct pollfd pf = {fd, POLLIN, 0};
    if (poll(&pf, 1, wait_ms) <= 0)
        return 0;
    uint8_t buf[65536];
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) {
        ws_conn_feed_eof(c);
        drain(c, l);
        return -1;
    }
    assert_int_equal(feed_chunks(c, l, buf, (size_t)n, 0), WS_OK);
    return 0;
}

static void test_interop_python_server(void **state)
{
    (void)state;
    if (!python_ready()) {
        print_message("python3-websockets not available: skipped\n");
        skip();
    }
    const char *argv[] = {PY, PY_SCRIPT, "server", NULL};
    int to, from;
    pid_t pid = spawn(argv, &to, &from);
    char line[64] = {0};
    size_t ln = 0;
    struct pollfd pf = {from, POLLIN, 0};
    while (ln < sizeof line - 1 && !strchr(line, '\n')) {
        assert_true(poll(&pf, 1, 10000) == 1);
        ssize_t n = read(from, line + ln, 1);
        assert_true(n == 1);
        ln++;
    }
    int port = atoi(line + 5);
    assert_true(port > 0);

    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);

    uint32_t rng = 77;
    ws_conn *c = new_conn(WS_ROLE_CLIENT, 0, NULL);
    ev_log l = {0};
    char url[64];
    assert_int_equal(ws_conn_set_random(c, test_rng, &rng), WS_OK);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE, 1), WS_OK);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE_THRESHOLD, 0), WS_OK);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
    assert_int_equal(ws_conn_client_start(c, url, NULL, 0, NULL, NULL), WS_OK);
    uint64_t end = now_ms() + 10000;
    while (ws_conn_state(c) == WS_STATE_CONNECTING && now_ms() < end)
        assert_int_equal(io_step(c, fd, &l, 100), 0);
    assert_int_equal(ws_conn_state(c), WS_STATE_OPEN);
    ws_deflate_params dp;
    assert_int_equal(ws_conn_get_deflate_params(c, &dp, sizeof dp), WS_OK);

    char *t = make_text(200000, 3);
    uint8_t *bin = malloc(70000);
    test_fill(bin, 70000, 1);
    struct {
        int op;
        const void *p;
        size_t n;
        int frag;
    } msgs[] = {{WS_OP_TEXT, "Hello", 5, 0},   {WS_OP_TEXT, t, 200000, 0},
                {WS_OP_BINARY, bin, 70000, 0}, {WS_OP_TEXT, "", 0, 0},
                {WS_OP_TEXT, t, 50000, 1},     {WS_OP_TEXT, t + 7, 3000, 0}};
    for (size_t i = 0; i < sizeof msgs / sizeof msgs[0]; i++) {
        if (msgs[i].frag) {
            size_t h = msgs[i].n / 2;
            assert_int_equal(ws_conn_send_fragment(c, (uint32_t)msgs[i].op, msgs[i].p, h, 0, 0),
                             WS_OK);
            assert_int_equal(ws_conn_send_fragment(c, (uint32_t)msgs[i].op,
                                                   (const char *)msgs[i].p + h, msgs[i].n - h, 1,
                                                   0),
                             WS_OK);
        } else {
            assert_int_equal(ws_conn_send(c, (uint32_t)msgs[i].op, msgs[i].p, msgs[i].n, 0), WS_OK);
        }
        size_t want = log_count(&l, WS_EV_MESSAGE) + 1;
        end = now_ms() + 10000;
        while (log_count(&l, WS_EV_MESSAGE) < want && now_ms() < end &&
               !log_find(&l, WS_EV_CLOSE, 0))
            assert_int_equal(io_step(c, fd, &l, 100), 0);
        const ev_rec *m = log_find(&l, WS_EV_MESSAGE, want - 1);
        assert_non_null(m);
        assert_int_equal(m->opcode, msgs[i].op);
        assert_int_equal(m->len, msgs[i].n);
        if (m->len)
            assert_memory_equal(m->data, msgs[i].p, m->len);
    }
    assert_int_equal(ws_conn_close(c, 1000, NULL, 0), WS_OK);
    end = now_ms() + 10000;
    while (!log_find(&l, WS_EV_CLOSE, 0) && now_ms() < end)
        if (io_step(c, fd, &l, 100) < 0)
            break;
    assert_int_equal(log_find(&l, WS_EV_CLOSE, 0)->close_code, 1000);
    assert_null(log_find(&l, WS_EV_ERROR, 0));
    close(fd);
    close(to); /* the server exits when its stdin closes */
    close(from);
    assert_int_equal(reap(pid, 10000), 0);
    ws_conn_free(c);
    log_free(&l);
    free(t);
    free(bin);
}

static void test_interop_python_client(void **state)
{
    (void)state;
    if (!python_ready()) {
        print_message("python3-websockets not available: skipped\n");
        skip();
    }
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa;
    socklen_t sl = sizeof sa;
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(lfd, 1), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &sl), 0);
    char url[64];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", ntohs(sa.sin_port));
    const char *argv[] = {PY, PY_SCRIPT, "client", url, NULL};
    int to, from;
    pid_t pid = spawn(argv, &to, &from);
    struct pollfd pf = {lfd, POLLIN, 0};
    assert_int_equal(poll(&pf, 1, 10000), 1);
    int fd = accept(lfd, NULL, NULL);
    assert_true(fd >= 0);

    ws_conn *s = new_conn(WS_ROLE_SERVER, 0, NULL);
    ev_log l = {0};
    size_t seen = 0;
    assert_int_equal(ws_conn_set_option(s, WS_OPT_DEFLATE, 1), WS_OK);
    assert_int_equal(ws_conn_set_option(s, WS_OPT_DEFLATE_THRESHOLD, 0), WS_OK);
    uint64_t end = now_ms() + 20000;
    while (!log_find(&l, WS_EV_CLOSE, 0) && now_ms() < end) {
        if (io_step(s, fd, &l, 100) < 0)
            break;
        for (; seen < l.n; seen++) {
            const ev_rec *e = &l.v[seen];
            if (e->type == WS_EV_REQUEST)
                assert_int_equal(ws_conn_accept(s, NULL, NULL, NULL), WS_OK);
            if (e->type == WS_EV_OPEN)
                assert_int_equal(get_dp(s), WS_OK);
            if (e->type == WS_EV_MESSAGE)
                assert_int_equal(ws_conn_send(s, (uint32_t)e->opcode, e->data, e->len, 0), WS_OK);
        }
    }
    (void)io_step(s, fd, &l, 0); /* the close answer */
    assert_non_null(log_find(&l, WS_EV_CLOSE, 0));
    assert_null(log_find(&l, WS_EV_ERROR, 0));
    assert_true(log_count(&l, WS_EV_MESSAGE) >= 7);
    close(fd);
    close(lfd);
    close(to);
    assert_int_equal(reap(pid, 10000), 0); /* before closing its stdout: it writes there */
    char out[64] = {0};
    ssize_t n = read(from, out, sizeof out - 1);
    assert_true(n > 0);
    assert_int_equal(strncmp(out, "ok", 2), 0);
    close(from);
    ws_conn_free(s);
    log_free(&l);
}

/* ---- set-up failures, options, resumed inflation, the shared compressor's constructor ---- */

/* The compressor is created by the first compressed message (and again for every message
 * when it has no context takeover). When that fails -- the allocator says no, or the
 * connection's memory limit does -- the send reports it (WS_ERR_NOMEM, WS_ERR_BUDGET) and
 * queues nothing at all; the connection stays usable, and the next send goes out compressed
 * and arrives intact. */
static void test_compressor_setup_failure(void **state)
{
    char *t = make_text(5000, 9);
    (void)state;
    for (int run = 0; run < 4; run++) {
        int by_budget = run & 1, again = run >> 1;
        failalloc fa;
        ws_allocator a = failalloc_init(&fa, -1, 0);
        ws_conn_stats before, after;
        ws_event e;
        side ss = SIDE_ON;
        pair p;
        ss.nt = again; /* the compressor is freed after each message */
        assert_int_equal(hs_pair_alloc(&p, &a, &ss, &SIDE_ON, NULL), WS_OK);
        assert_int_equal(get_dp(p.srv), WS_OK);
        if (again) { /* one message made and sent with a compressor of its own, first */
            frame_list f = send_check(p.srv, p.cli, &p.clog, WS_OP_TEXT, t + 1, 4000, 0);
            assert_int_equal(f.v[0].rsv, WS_RSV1);
            frames_free(&f);
        }
        uint64_t queued = ws_conn_output_queued(p.srv);
        size_t buffered = ws_conn_buffered_amount(p.srv);
        assert_int_equal(ws_conn_get_stats(p.srv, &before, sizeof before), WS_OK);
        if (by_budget) /* room for a little, not for zlib's state */
            assert_int_equal(ws_conn_set_option(p.srv, WS_OPT_MEMORY_LIMIT,
                                                ws_conn_memory(p.srv) + 4096),
                             WS_OK);
        else
            fa.fail_at = fa.calls; /* the next allocation: the compressor's first */
        long calls = fa.calls;
        assert_int_equal(ws_conn_send(p.srv, WS_OP_TEXT, t, 5000, 0),
                         by_budget ? WS_ERR_BUDGET : WS_ERR_NOMEM);
        if (!by_budget) {
            /* the send gave up at the failure: nothing else was even tried */
            assert_int_equal(fa.failed, 1);
            assert_int_equal(fa.calls, calls + 1);
        }
        assert_int_equal(ws_conn_output_queued(p.srv), queued);
        assert_int_equal(ws_conn_buffered_amount(p.srv), buffered);
        assert_int_equal(ws_conn_get_stats(p.srv, &after, sizeof after), WS_OK);
        assert_int_equal(after.frames_out, before.frames_out);
        assert_int_equal(after.messages_out, before.messages_out);
        assert_int_equal(ws_conn_next_event(p.srv, &e, sizeof e), 0); /* a caller error only */
        assert_int_equal(ws_conn_state(p.srv), WS_STATE_OPEN);

        fa.fail_at = -1;
        assert_int_equal(ws_conn_set_option(p.srv, WS_OPT_MEMORY_LIMIT, 0), WS_OK);
        frame_list f = send_check(p.srv, p.cli, &p.clog, WS_OP_TEXT, t, 5000, 0);
        assert_int_equal(f.n, 1);
        assert_int_equal(f.v[0].rsv, WS_RSV1); /* compressed this time */
        assert_true(f.v[0].len < 5000);
        frames_free(&f);
        pair_free(&p);
        assert_int_equal(fa.live, 0);
    }
    free(t);
}

/* Setting one option changes that option only: after each deflate option is set (to each end
 * of its range and a value between), every option of the connection reads back as before; a
 * value out of range changes nothing, that option included. */
static void test_options_set_one_read_all(void **state)
{
    enum { MAXOPT = 40 };
    static const struct {
        uint32_t opt;
        uint64_t good[4], bad[2];
        size_t ngood, nbad;
    } cases[] = {
        {WS_OPT_DEFLATE, {1, 0}, {2, UINT64_MAX}, 2, 2},
        {WS_OPT_DEFLATE_WINDOW_BITS, {9, 12, 15}, {8, 16}, 3, 2},
        {WS_OPT_DEFLATE_PEER_WINDOW_BITS, {8, 11, 15}, {7, 16}, 3, 2},
        {WS_OPT_DEFLATE_MEM_LEVEL, {1, 5, 9}, {0, 10}, 3, 2},
        {WS_OPT_DEFLATE_LEVEL, {0, 3, 9}, {10, 255}, 3, 2},
        {WS_OPT_DEFLATE_THRESHOLD, {0, 1000, 300, UINT32_MAX}, {(uint64_t)1 << 32, UINT64_MAX}, 4,
         2},
        {WS_OPT_DEFLATE_NO_TAKEOVER, {1, 0}, {2, 256}, 2, 2},
        {WS_OPT_DEFLATE_PEER_NO_TAKEOVER, {1, 0}, {2, 257}, 2, 2},
    };
    uint64_t def[MAXOPT];
    int known[MAXOPT];
    (void)state;

    ws_conn *c = new_conn(WS_ROLE_SERVER, 0, NULL);
    for (uint32_t o = 0; o < MAXOPT; o++)
        known[o] = ws_conn_get_option(c, o, &def[o]) == WS_OK;
    ws_conn_free(c);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_true(known[cases[i].opt]);

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint32_t opt = cases[i].opt;
        for (size_t k = 0; k < cases[i].ngood + cases[i].nbad; k++) {
            int good = k < cases[i].ngood;
            uint64_t v = good ? cases[i].good[k] : cases[i].bad[k - cases[i].ngood];
            c = new_conn(WS_ROLE_SERVER, 0, NULL);
            assert_int_equal(ws_conn_set_option(c, opt, v), good ? WS_OK : WS_ERR_RANGE);
            for (uint32_t o = 0; o < MAXOPT; o++) {
                uint64_t got = 0xDEAD;
                if (!known[o])
                    continue;
                assert_int_equal(ws_conn_get_option(c, o, &got), WS_OK);
                uint64_t want = o == opt && good ? v : def[o];
                if (got != want)
                    print_message("option %u set to %llu: option %u reads %llu, not %llu\n",
                                  (unsigned)opt, (unsigned long long)v, (unsigned)o,
                                  (unsigned long long)got, (unsigned long long)want);
                assert_true(got == want);
            }
            ws_conn_free(c);
        }
    }

    /* all of them set at once, last option first: each keeps its own value */
    c = new_conn(WS_ROLE_SERVER, 0, NULL);
    for (size_t i = sizeof cases / sizeof cases[0]; i-- > 0;)
        assert_int_equal(ws_conn_set_option(c, cases[i].opt, cases[i].good[1]), WS_OK);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_true(get_opt(c, cases[i].opt) == cases[i].good[1]);
    ws_conn_free(c);
}

/* A message that inflates to many times what one call may produce -- 16 KiB chunks when
 * streaming, WS_OPT_INFLATE_STEP bytes when reassembling -- goes on from the compressed input
 * the connection kept, call after call, and arrives intact. Each resumption reads from that
 * kept copy without copying it onto itself (`make asan` checks the copies). */
static void test_inflate_resumes_from_kept_input(void **state)
{
    enum { BLOCK = 1000, COPIES = 300, N = BLOCK * COPIES };
    uint8_t *m = malloc(N);
    (void)state;
    assert_non_null(m);
    test_fill(m, BLOCK, 77);
    for (size_t i = 1; i < COPIES; i++)
        memcpy(m + i * BLOCK, m, BLOCK);

    for (int streaming = 0; streaming < 2; streaming++) {
        pair p;
        side cs = SIDE_ON;
        cs.streaming = streaming;
        hs_pair(&p, &SIDE_ON, &cs);
        if (!streaming)
            assert_int_equal(ws_conn_set_option(p.cli, WS_OPT_INFLATE_STEP, 4096), WS_OK);
        assert_int_equal(ws_conn_send(p.srv, WS_OP_BINARY, m, N, 0), WS_OK);
        bytes b = {0};
        take_output(p.srv, &b, 0);
        assert_true(b.n < 4096); /* one piece of compressed input ... */
        size_t used = 0, got = 0, steps = 0;
        ws_event e;
        assert_int_equal(ws_conn_feed_inplace(p.cli, b.p, b.n, &used), WS_OK);
        assert_int_equal(used, b.n);
        for (uint64_t now = 1; got < N && now < 1000; now++) {
            int r;
            while ((r = ws_conn_next_event(p.cli, &e, sizeof e)) > 0) {
                steps += streaming; /* a chunk per event */
                if (streaming) {
                    assert_int_equal(e.type, WS_EV_FRAGMENT);
                    assert_true(got + e.len <= N);
                    assert_memory_equal(e.data, m + got, e.len);
                    got += e.len;
                } else {
                    assert_int_equal(e.type, WS_EV_MESSAGE);
                    assert_int_equal(e.len, N);
                    assert_memory_equal(e.data, m, N);
                    got = N;
                }
            }
            assert_int_equal(r, 0);
            if (!streaming && got < N) {
                /* next_event made a step without an event; a tick makes one more */
                assert_int_equal(ws_conn_tick(p.cli, now), WS_OK);
                steps += 2;
            }
        }
        assert_int_equal(got, N);
        /* ... made into output over many calls */
        if (steps < (streaming ? N / 16384 : N / 4096 - 1))
            print_message("%s: %zu steps\n", streaming ? "streaming" : "reassembly", steps);
        assert_true(steps >= (streaming ? N / 16384 : N / 4096 - 1));
        bytes_free(&b);
        pair_free(&p);
    }
    free(m);
}

/* The ranges ws.h gives ws_deflate_shared_new are inclusive: window bits 9 and 15, mem_level 1
 * and 9, level 0 and 9 each make a compressor that works (one step past each end is refused:
 * test_shared_constructor_errors). */
static void test_shared_constructor_range_ends(void **state)
{
    static const int ends[][3] = {{9, 8, 6}, {15, 8, 6}, {15, 1, 6}, {15, 9, 6}, {15, 8, 0},
                                  {15, 8, 9}, {9, 1, 0}, {15, 9, 9}};
    (void)state;
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++) {
        ws_deflate_shared *sh = NULL;
        int r = ws_deflate_shared_new(&sh, NULL, ends[i][0], ends[i][1], ends[i][2]);
        if (r != WS_OK)
            print_message("window %d, mem_level %d, level %d: %s\n", ends[i][0], ends[i][1],
                          ends[i][2], ws_errname(r));
        assert_int_equal(r, WS_OK);
        assert_non_null(sh);
        ws_deflate_shared_free(sh);
    }
}

/* ws_deflate_shared_new's errors, each leaving *out NULL and nothing allocated, its
 * allocation failures at every allocation (once and from there on), and
 * ws_deflate_shared_free(NULL) doing nothing in a build with zlib too. */
static void test_shared_constructor_errors(void **state)
{
    static const int bad[][3] = {{8, 8, 6},  {16, 8, 6}, {0, 8, 6},  {15, 0, 6},
                                 {15, 10, 6}, {15, 8, -1}, {15, 8, 10}, {-15, 8, 6}};
    ws_deflate_shared *sh, *sentinel = (ws_deflate_shared *)(void *)&sh;
    failalloc fa;
    ws_allocator a;
    (void)state;

    ws_deflate_shared_free(NULL);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        a = failalloc_init(&fa, -1, 0);
        sh = sentinel;
        assert_int_equal(ws_deflate_shared_new(&sh, &a, bad[i][0], bad[i][1], bad[i][2]),
                         WS_ERR_RANGE);
        assert_null(sh);
        assert_int_equal(fa.calls, 0);
    }
    assert_int_equal(ws_deflate_shared_new(NULL, NULL, 15, 8, 6), WS_ERR_INVALID_ARG);
    a = failalloc_init(&fa, -1, 0);
    a.size = 4; /* smaller than the 0.2 layout */
    sh = sentinel;
    assert_int_equal(ws_deflate_shared_new(&sh, &a, 15, 8, 6), WS_ERR_INVALID_ARG);
    assert_null(sh);
    a = failalloc_init(&fa, -1, 0);
    a.free = NULL;
    sh = sentinel;
    assert_int_equal(ws_deflate_shared_new(&sh, &a, 15, 8, 6), WS_ERR_INVALID_ARG);
    assert_null(sh);

    long total = -1;
    for (int sticky = 0; sticky < 2; sticky++) {
        for (long i = 0;; i++) {
            a = failalloc_init(&fa, i, sticky);
            sh = sentinel;
            int r = ws_deflate_shared_new(&sh, &a, 9, 1, 1);
            if (fa.failed == 0) { /* no allocation left to fail: made */
                assert_int_equal(r, WS_OK);
                assert_non_null(sh);
                ws_deflate_shared_free(sh);
                assert_int_equal(fa.live, 0);
                if (total < 0)
                    total = i;
                assert_int_equal(i, total);
                break;
            }
            assert_int_equal(r, WS_ERR_NOMEM);
            assert_null(sh);
            assert_int_equal(fa.live, 0);
        }
    }
    assert_true(total >= 2); /* the object, then zlib's state */
}

/* The codec of one endpoint alone (lib/deflate.h), with zlib fed at most `step` bytes of
 * input or output room per call (0: the library's 1 GiB). */
static ws__pmd *codec_new(const ws_allocator *a, size_t step)
{
    ws__pmd *p = NULL;
    const ws__pmd_neg neg = {15, 15, 0, 0};
    assert_int_equal(ws__pmd_set_option(&p, a, WS_OPT_DEFLATE, 1), WS_OK);
    assert_int_equal(ws__pmd_commit(&p, a, &neg), WS_OK);
    if (step)
        ws__pmd_set_zlib_step(p, step);
    return p;
}

/* One whole message compressed as the connection would send it; the result in *z (malloc). */
static size_t codec_compress(ws__pmd *p, const uint8_t *m, size_t n, uint8_t **z)
{
    uint8_t stack[512];
    const uint8_t *out;
    size_t len;
    assert_int_equal(ws__pmd_tx_begin(p, n, 1, 0), 1);
    assert_int_equal(ws__pmd_tx_compress(p, m, n, 1, stack, sizeof stack, &out, &len), WS_OK);
    *z = malloc(len);
    assert_non_null(*z);
    memcpy(*z, out, len);
    ws__pmd_tx_done(p, 1, 1);
    return len;
}

/* Decompress a message, reassembled or streamed in chunks, and check it is m[0..n). */
static void codec_expect(ws__pmd *p, const ws_allocator *a, const uint8_t *z, size_t zn,
                         int streaming, const uint8_t *m, size_t n)
{
    assert_int_equal(ws__pmd_rx_begin(p), WS_OK);
    if (!streaming) {
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0;
        assert_int_equal(ws__pmd_rx_append(p, z, zn, 1, &buf, &len, &cap, n, 0), WS_OK);
        assert_int_equal(len, n);
        assert_memory_equal(buf, m, n);
        ws__free(a, buf, cap);
    } else {
        size_t got = 0;
        int r = 1;
        for (int first = 1; r == 1; first = 0) {
            const uint8_t *o;
            size_t on;
            r = ws__pmd_rx_stream(p, first ? z : NULL, first ? zn : 0, 1, n + 1 - got, &o, &on);
            assert_true(r == 0 || r == 1);
            assert_true(got + on <= n);
            assert_memory_equal(o, m + got, on);
            got += on;
        }
        assert_int_equal(got, n);
    }
    ws__pmd_rx_end(p);
}

/* A message may end in a final block (RFC 7692 7.2.3.4, BFINAL set), after which nothing of it
 * is data: bytes that follow it (here an empty stored block's tail and two more) are ignored,
 * not inflated by a fresh stream nor reported as an error. With steps of output ending at and
 * around the end of the final block, the codec reads nothing past its input (the compressed
 * message ends at an unmapped page) and the message comes out whole, reassembled in steps and
 * streamed in chunks of those sizes. */
static void test_final_block_then_bytes(void **state)
{
    enum { N = 3000 };
    ws_allocator a;
    char *text = make_text(N, 77);
    uint8_t z[N];
    z_stream d;
    (void)state;
    assert_int_equal(ws__alloc_init(&a, NULL), WS_OK);
    memset(&d, 0, sizeof d);
    assert_int_equal(deflateInit2(&d, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    d.next_in = (Bytef *)text;
    d.avail_in = N;
    d.next_out = z;
    d.avail_out = sizeof z;
    assert_int_equal(deflate(&d, Z_FINISH), Z_STREAM_END); /* one stream, its last block final */
    size_t zn = sizeof z - d.avail_out;
    deflateEnd(&d);
    assert_true(zn + 6 <= sizeof z);
    memcpy(z + zn, "\x00\x00\xff\xff\x12\x34", 6); /* after the final block: not data */
    zn += 6;
    guarded g = guarded_copy(z, zn);
    for (size_t step = N - 2; step <= N + 2; step++) {
        ws__pmd *p = codec_new(&a, 0);
        uint8_t *buf = NULL;
        size_t len = 0, cap = 0;
        int r, calls = 0;
        assert_int_equal(ws__pmd_rx_begin(p), WS_OK);
        do {
            int first = calls++ == 0;
            r = ws__pmd_rx_append(p, first ? g.data : NULL, first ? zn : 0, 1, &buf, &len, &cap, N,
                                  step);
            assert_true(r == 0 || r == 1);
        } while (r == 1 && calls < 10);
        assert_int_equal(r, WS_OK);
        assert_int_equal(len, N);
        assert_memory_equal(buf, text, N);
        ws__free(&a, buf, cap);
        ws__pmd_rx_end(p);

        size_t got = 0;
        assert_int_equal(ws__pmd_rx_begin(p), WS_OK);
        calls = 0;
        do {
            /* a first chunk of `step` bytes, then what is left and one byte more */
            const uint8_t *o;
            size_t on;
            int first = calls++ == 0;
            r = ws__pmd_rx_stream(p, first ? g.data : NULL, first ? zn : 0, 1,
                                  first ? step : N + 1 - got, &o, &on);
            assert_true(r == 0 || r == 1);
            assert_true(got + on <= N);
            assert_memory_equal(o, text + got, on);
            got += on;
        } while (r == 1 && calls < 10);
        assert_int_equal(r, 0);
        assert_int_equal(got, N);
        ws__pmd_rx_end(p);
        ws__pmd_free(p);
    }
    guarded_free(&g);
    free(text);
}

/* The caller's input is only borrowed for the call: when a call stops at its step of output
 * (or its chunk, streaming) with compressed input left, the codec keeps a copy of what is
 * left, so the following calls (given no input) go on although the caller's buffer is gone --
 * unmapped here right after the first call -- and the message comes out whole. */
static void test_inflate_input_gone_after_call(void **state)
{
    enum { N = 200000 };
    static const size_t steps[] = {1000, 4096, 65536};
    ws_allocator a;
    char *text = make_text(N, 12);
    uint8_t *z;
    (void)state;
    assert_int_equal(ws__alloc_init(&a, NULL), WS_OK);
    ws__pmd *tx = codec_new(&a, 0);
    size_t zn = codec_compress(tx, (const uint8_t *)text, N, &z);
    ws__pmd_free(tx);
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        for (int streaming = 0; streaming < 2; streaming++) {
            ws__pmd *p = codec_new(&a, 0);
            uint8_t *buf = NULL, *all = malloc(N);
            size_t len = 0, cap = 0, got = 0;
            int r = 1, calls = 0;
            assert_non_null(all);
            guarded g = guarded_copy(z, zn);
            assert_int_equal(ws__pmd_rx_begin(p), WS_OK);
            while (r == 1 && calls < 1000) {
                int first = calls++ == 0;
                if (streaming) {
                    const uint8_t *o;
                    size_t on;
                    r = ws__pmd_rx_stream(p, first ? g.data : NULL, first ? zn : 0, 1,
                                          steps[k] < N + 1 - got ? steps[k] : N + 1 - got, &o, &on);
                    assert_true(got + on <= N);
                    memcpy(all + got, o, on);
                    got += on;
                } else {
                    r = ws__pmd_rx_append(p, first ? g.data : NULL, first ? zn : 0, 1, &buf, &len,
                                          &cap, N, steps[k]);
                }
                assert_true(r == 0 || r == 1);
                if (first) {
                    assert_int_equal(r, 1); /* more to come from the same input */
                    guarded_free(&g);
                }
            }
            assert_int_equal(r, 0);
            if (!streaming) {
                got = len;
                memcpy(all, buf, len);
            }
            assert_int_equal(got, N);
            assert_memory_equal(all, text, N);
            ws__free(&a, buf, cap);
            free(all);
            ws__pmd_rx_end(p);
            ws__pmd_free(p);
        }
    }
    free(z);
    free(text);
}

/* zlib takes at most 1 GiB of input or output room per call (its counts are uInt), so a
 * message over 1 GiB is handed to it in slices. With the slice lowered to a few bytes, small
 * messages take that path: each slice starts where the last one ended, on the way in and out,
 * compressing and decompressing, reassembled and streamed; every pairing of slicing and not
 * gives back the message. */
static void test_zlib_slices_big_messages(void **state)
{
    static const size_t steps[] = {0, 64, 777, 4096};
    enum { N = 60000 };
    ws_allocator a;
    uint8_t *rnd = malloc(N);
    char *text = make_text(N, 31);
    (void)state;
    assert_int_equal(ws__alloc_init(&a, NULL), WS_OK);
    test_fill(rnd, N, 5); /* incompressible: more out than in */
    for (int kind = 0; kind < 2; kind++) {
        const uint8_t *m = kind ? rnd : (const uint8_t *)text;
        for (size_t tx = 0; tx < sizeof steps / sizeof steps[0]; tx++) {
            ws__pmd *c = codec_new(&a, steps[tx]);
            uint8_t *z;
            size_t zn = codec_compress(c, m, N, &z);
            assert_true(kind ? zn > N / 2 : zn < N / 2);
            ws__pmd_free(c);
            for (size_t rx = 0; rx < sizeof steps / sizeof steps[0]; rx++) {
                for (int streaming = 0; streaming < 2; streaming++) {
                    ws__pmd *d = codec_new(&a, steps[rx]);
                    codec_expect(d, &a, z, zn, streaming, m, N);
                    ws__pmd_free(d);
                }
            }
            free(z);
        }
    }
    free(rnd);
    free(text);
}

#else /* !WS_HAVE_ZLIB */

/* Without zlib the extension is declined cleanly and the options say so. */
static void test_without_zlib(void **state)
{
    (void)state;
    char got[256];
    ws_conn *s = new_conn(WS_ROLE_SERVER, 0, NULL);
    assert_int_equal(ws_deflate_available(), 0);
    assert_int_equal(ws_conn_set_option(s, WS_OPT_DEFLATE, 1), WS_ERR_UNSUPPORTED);
    assert_int_equal(ws_conn_set_option(s, WS_OPT_DEFLATE, 0), WS_OK);
    assert_int_equal(ws_conn_set_option(s, WS_OPT_DEFLATE_WINDOW_BITS, 10), WS_OK);
    assert_int_equal(ws_conn_set_deflate_shared(s, NULL), WS_ERR_UNSUPPORTED);
    ws_deflate_shared *sh = NULL;
    assert_int_equal(ws_deflate_shared_new(&sh, NULL, 15, 8, 6), WS_ERR_UNSUPPORTED);
    assert_null(sh);
    ws_deflate_shared_free(NULL);
    server_answer(s, "permessage-deflate; client_max_window_bits", got, sizeof got);
    assert_string_equal(got, "");
    assert_int_equal(get_dp(s), WS_ERR_NOT_FOUND);
    ws_conn_free(s);

    /* A pair: no offer, nothing agreed, messages flow uncompressed; RSV1 is refused. */
    pair p;
    hs_pair(&p, &SIDE_OFF, &SIDE_OFF);
    assert_int_equal(get_dp(p.cli), WS_ERR_NOT_FOUND);
    char *t = make_text(1000, 1);
    assert_int_equal(ws_conn_send(p.srv, WS_OP_TEXT, t, 1000, 0), WS_OK);
    xfer(p.srv, p.cli, &p.clog, NULL, 0);
    log_assert_message(&p.clog, 0, WS_OP_TEXT, t, 1000);
    free(t);

    pair_free(&p);

    /* An explicit permessage-deflate answer cannot be honoured. */
    char req[1024];
    ev_log l = {0};
    s = new_conn(WS_ROLE_SERVER, 0, NULL);
    assert_int_equal(apply(s, &SIDE_ON), WS_ERR_UNSUPPORTED);
    snprintf(req, sizeof req, request_fmt, "Sec-WebSocket-Extensions: permessage-deflate\r\n");
    assert_int_equal(feed_copy(s, &l, (const uint8_t *)req, strlen(req), 0), WS_OK);
    assert_int_equal(ws_conn_accept(s, NULL, "permessage-deflate", NULL), WS_ERR_UNSUPPORTED);
    assert_int_equal(ws_conn_accept(s, NULL, NULL, NULL), WS_OK);
    log_free(&l);
    ws_conn_free(s);
}

#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
#if WS_HAVE_ZLIB
        cmocka_unit_test(test_rfc_send_hello),
        cmocka_unit_test(test_empty_message),
        cmocka_unit_test(test_rfc_receive_vectors),
        cmocka_unit_test(test_server_negotiation),
        cmocka_unit_test(test_server_explicit_answer),
        cmocka_unit_test(test_client_negotiation),
        cmocka_unit_test(test_client_offer),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_roundtrip_sizes),
        cmocka_unit_test(test_threshold_and_opt_out),
        cmocka_unit_test(test_auto_fragmentation),
        cmocka_unit_test(test_send_fragments),
        cmocka_unit_test(test_streaming_big),
        cmocka_unit_test(test_context_takeover),
        cmocka_unit_test(test_window_8),
        cmocka_unit_test(test_small_windows),
        cmocka_unit_test(test_rsv1_rules),
        cmocka_unit_test(test_corrupt_streams),
        cmocka_unit_test(test_zip_bomb),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_memory_per_connection),
        cmocka_unit_test(test_shared_compressor),
        cmocka_unit_test(test_shared_before_deflate),
        cmocka_unit_test(test_batch_stops_before_inflating),
        cmocka_unit_test(test_quiet_second_keeps_input_behind_inflation),
        cmocka_unit_test(test_compressor_setup_failure),
        cmocka_unit_test(test_options_set_one_read_all),
        cmocka_unit_test(test_inflate_resumes_from_kept_input),
        cmocka_unit_test(test_shared_constructor_errors),
        cmocka_unit_test(test_shared_constructor_range_ends),
        cmocka_unit_test(test_zlib_slices_big_messages),
        cmocka_unit_test(test_final_block_then_bytes),
        cmocka_unit_test(test_inflate_input_gone_after_call),
        cmocka_unit_test(test_interop_python_server),
        cmocka_unit_test(test_interop_python_client),
#else
        cmocka_unit_test(test_without_zlib),
#endif
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
