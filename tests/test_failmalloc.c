/*
 * Allocation-failure injection over the whole library (the SQLite test_malloc / nghttp2
 * failmalloc habit): each scenario runs once through a counting allocator to learn how many
 * allocations it makes, then once more for every i with allocation i failing -- once (later ones
 * succeed again), and from i on (every later one fails too). Every run must end without a
 * crash, with every allocation freed, and with the failure reported rather than ignored: a
 * scenario that saw a NULL from the allocator must also have seen WS_ERR_NOMEM or a failed
 * connection somewhere.
 *
 * Scenarios: the frame decoder; the server handshake (HTTP/1.1 and HTTP/2); the client
 * handshake with a refused, body-carrying response; a server and a client connection through
 * a whole session (fragmented messages, pings, borrowed sends, close); a refused request.
 */
#include "testutil.h"

#include "ws.h"

#include <stdio.h>
#include <stdlib.h>

/* The allocator is testutil.h's failalloc: it fails allocation fail_at (once, or from there
 * on when sticky), counts the blocks still live, and fails the test at once when free or
 * realloc is given a size other than the block's (as ws.h promises) or a block was written
 * past its end. */

/* What a scenario noticed: any WS_ERR_NOMEM returned, or a connection that failed. */
typedef struct seen {
    int nomem;
    int done; /* the scenario reached its end state (checked on the run without failures) */
} seen;

static void note(seen *s, int r)
{
    if (r == WS_ERR_NOMEM)
        s->nomem = 1;
}

/* The constructors may fail only for lack of memory here: that is noted and NULL returned. */
static ws_conn *conn_new(uint32_t role, const ws_allocator *a, seen *s)
{
    ws_conn *c = NULL;
    int r = conn_new_with(&c, role, 0, a);
    if (r == WS_ERR_NOMEM) {
        s->nomem = 1;
        return NULL;
    }
    assert_int_equal(r, WS_OK);
    return c;
}

static ws_handshake *hs_new(uint32_t role, const ws_allocator *a, seen *s)
{
    ws_handshake *hs = NULL;
    int r = ws_handshake_new(&hs, role, a);
    if (r == WS_ERR_NOMEM) {
        s->nomem = 1;
        return NULL;
    }
    assert_int_equal(r, WS_OK);
    return hs;
}

/* ---- shared inputs ---- */

static const char request[] =
    "GET /chat?room=1 HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits, x-foo\r\n"
    "Sec-WebSocket-Version: 13\r\n\r\n";

/* The clients draw their keys from seq_rng (counting from 0: SEQ_KEY0), answered here. */
static const char response_101[] =
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: " SEQ_KEY0_ACCEPT "\r\n"
    "Sec-WebSocket-Protocol: chat\r\n\r\n";

/* Append one frame (masked with a fixed key when mask != 0) to out; returns the new length. */
static size_t put_frame(uint8_t *out, size_t at, uint8_t op, int fin, const char *payload,
                        size_t len, int mask)
{
    ws_frame_header h;
    int n;
    memset(&h, 0, sizeof h);
    h.opcode = op;
    h.fin = (uint8_t)fin;
    h.masked = (uint8_t)mask;
    memcpy(h.mask, "\x11\x22\x33\x44", 4);
    n = ws_frame_encode(out + at, 4096 - at, &h, sizeof h, payload, len);
    assert_true(n > 0);
    return at + (size_t)n;
}

/* A session from the peer: a whole message, a fragmented one with a ping inside, a binary one
 * big enough to need the reassembly buffer to grow, a pong, then a close. */
static size_t peer_session(uint8_t *out, int mask)
{
    static char big[1500];
    size_t n = 0;
    memset(big, 'b', sizeof big);
    n = put_frame(out, n, WS_OP_TEXT, 1, "hello", 5, mask);
    n = put_frame(out, n, WS_OP_TEXT, 0, "frag", 4, mask);
    n = put_frame(out, n, WS_OP_PING, 1, "are you there", 13, mask);
    n = put_frame(out, n, WS_OP_CONTINUATION, 1, "mented", 6, mask);
    n = put_frame(out, n, WS_OP_BINARY, 0, big, 700, mask);
    n = put_frame(out, n, WS_OP_CONTINUATION, 1, big, sizeof big, mask);
    n = put_frame(out, n, WS_OP_PONG, 1, "", 0, mask);
    n = put_frame(out, n, WS_OP_CLOSE, 1, "\x03\xe8" "done", 6, mask);
    return n;
}

/* ---- scenarios ---- */

static void scen_frame_decoder(const ws_allocator *a, seen *s)
{
    uint8_t wire[4096];
    size_t n = peer_session(wire, 1), pos = 0;
    ws_frame_decoder *d = NULL;
    int r = ws_frame_decoder_new(&d, a);
    if (r == WS_ERR_NOMEM) {
        s->nomem = 1;
        return;
    }
    assert_int_equal(r, WS_OK);
    assert_int_equal(ws_frame_decoder_set_flags(d, WS_FRAME_EXPECT_MASKED, UINT64_MAX), WS_OK);
    while (pos < n) {
        ws_frame_event ev;
        size_t used = 0;
        if (ws_frame_decoder_feed(d, wire + pos, n - pos, &used, &ev, sizeof ev) < 0)
            break;
        pos += used;
        if (ev.type == WS_FRAME_EV_NONE)
            break;
    }
    s->done = pos == n;
    ws_frame_decoder_free(d);
}

static void scen_handshake_server(const ws_allocator *a, seen *s)
{
    static uint8_t out[2048];
    ws_handshake *hs = hs_new(WS_ROLE_SERVER, a, s);
    size_t used = 0;
    int r;
    if (!hs)
        return;
    /* in two pieces, so the header buffer has to grow */
    r = ws_handshake_feed(hs, (const uint8_t *)request, 40, &used);
    note(s, r);
    if (r == 0) {
        r = ws_handshake_feed(hs, (const uint8_t *)request + 40, sizeof request - 41, &used);
        note(s, r);
    }
    if (r == WS_HANDSHAKE_COMPLETE)
        note(s, ws_handshake_accept(hs, "chat", "permessage-deflate", "Set-Cookie: a=b\r\n", out,
                                    sizeof out, NULL));
    else if (r < 0)
        (void)ws_handshake_write_error(hs, out, sizeof out, NULL);
    assert_int_equal(ws_handshake_reset(hs), WS_OK);
    r = ws_handshake_feed(hs, (const uint8_t *)request, sizeof request - 1, &used);
    note(s, r);
    ws_handshake_free(hs);

    /* the same request over HTTP/2 */
    hs = hs_new(WS_ROLE_SERVER, a, s);
    if (!hs)
        return;
    {
        static const ws_h2_header h2[] = {
            {":method", 7, "CONNECT", 7},
            {":protocol", 9, "websocket", 9},
            {":scheme", 7, "https", 5},
            {":path", 5, "/chat", 5},
            {":authority", 10, "example.com", 11},
            {"sec-websocket-version", 21, "13", 2},
            {"sec-websocket-protocol", 22, "chat, superchat", 15},
            {"sec-websocket-extensions", 24, "permessage-deflate", 18},
            {"origin", 6, "http://example.com", 18},
        };
        int r2 = ws_h2_parse_request(hs, h2, sizeof h2 / sizeof h2[0]);
        note(s, r2);
        s->done = r == WS_HANDSHAKE_COMPLETE && r2 == WS_HANDSHAKE_COMPLETE;
    }
    ws_handshake_free(hs);
}

static void scen_handshake_client(const ws_allocator *a, seen *s)
{
    static const char *const protos[] = {"chat", "superchat"};
    static const char refused[] = "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n"
                                  "Content-Length: 12\r\n\r\nlog in first";
    static uint8_t out[2048];
    static const char url[] = "ws://example.com:8080/chat";
    ws_handshake *hs = hs_new(WS_ROLE_CLIENT, a, s);
    size_t used = 0;
    unsigned next = 0;
    int r;
    if (!hs)
        return;
    assert_int_equal(ws_handshake_set_random(hs, seq_rng, &next), WS_OK);
    r = ws_handshake_client_request(hs, url, sizeof url - 1, protos, 2, "permessage-deflate",
                                    "Origin: x\r\n", out, sizeof out, NULL);
    note(s, r);
    if (r > 0) {
        r = ws_handshake_feed(hs, (const uint8_t *)refused, 30, &used);
        note(s, r);
        if (r == 0)
            note(s, ws_handshake_feed(hs, (const uint8_t *)refused + 30, sizeof refused - 31,
                                      &used));
    }
    assert_int_equal(ws_handshake_reset(hs), WS_OK);
    next = 0; /* the key response_101 answers */
    r = ws_handshake_client_request(hs, url, sizeof url - 1, protos, 2, NULL, NULL, out, sizeof out,
                                    NULL);
    note(s, r);
    if (r > 0) {
        r = ws_handshake_feed(hs, (const uint8_t *)response_101, sizeof response_101 - 1, &used);
        note(s, r);
        s->done = r == WS_HANDSHAKE_COMPLETE;
    }
    ws_handshake_free(hs);
}

/* Drive a connection: feed everything, drain events, write all output, a few sends. */
static void drive(ws_conn *c, uint8_t *in, size_t n, seen *s, int reject)
{
    static uint8_t borrowed[600];
    size_t pos = 0;
    int guard = 0, closed = 0;

    while (pos < n && guard++ < 1000) {
        ws_event ev;
        size_t used = 0;
        int r = ws_conn_feed_inplace(c, in + pos, n - pos, &used);
        note(s, r);
        pos += used;
        int any = 0;
        while (ws_conn_next_event(c, &ev, sizeof ev) > 0) {
            any = 1;
#ifdef FM_TRACE
            fprintf(stderr, "event %d err %s code %d\n", (int)ev.type, ws_errname(ev.error),
                    ev.close_code);
#endif
            assert_false(closed); /* nothing after the close event */
            if (ev.type == WS_EV_ERROR && ev.error == WS_ERR_NOMEM)
                s->nomem = 1;
            if (ev.type == WS_EV_CLOSE) {
                closed = 1;
                /* accepted: the peer's close 1000 ends it; refused: 1006 */
                s->done = ev.close_code == (reject ? 1006 : 1000);
            }
            if (ev.type == WS_EV_REQUEST) {
                r = reject ? ws_conn_reject(c, 403, NULL, "X-Why: test\r\n", "no", 2)
                           : ws_conn_accept(c, "chat", NULL, "Set-Cookie: a=b\r\n");
                note(s, r);
            }
            if (ev.type == WS_EV_OPEN || ev.type == WS_EV_MESSAGE) {
                note(s, ws_conn_send(c, WS_OP_TEXT, "h\xc3\xa9llo", 6, 0));
                note(s, ws_conn_send(c, WS_OP_BINARY, borrowed, sizeof borrowed,
                                     WS_SEND_BORROW));
                note(s, ws_conn_ping(c, "p", 1));
            }
        }
        if (r < 0 || (used == 0 && !any))
            break;
        ws_iovec iov[2];
        int cnt = ws_conn_output(c, iov, 2);
        if (cnt > 0)
            note(s, ws_conn_output_ack(c, iov[0].len));
    }
    note(s, ws_conn_close(c, 1001, "going away", 10));
    for (int i = 0; i < 8; i++) {
        ws_iovec iov[4];
        int cnt = ws_conn_output(c, iov, 4);
        size_t t = 0;
        for (int k = 0; k < cnt; k++)
            t += iov[k].len;
        note(s, ws_conn_output_ack(c, t));
    }
    (void)ws_conn_feed_eof(c);
    {
        ws_event ev;
        while (ws_conn_next_event(c, &ev, sizeof ev) > 0)
            if (ev.type == WS_EV_ERROR && ev.error == WS_ERR_NOMEM)
                s->nomem = 1;
    }
}

static void scen_conn_server(const ws_allocator *a, seen *s, int reject)
{
    uint8_t in[4096];
    size_t n = sizeof request - 1;
    ws_conn *c = conn_new(WS_ROLE_SERVER, a, s);
    if (!c)
        return;
    memcpy(in, request, n);
    n += peer_session(in + n, 1) - 0;
    int r = ws_conn_set_option(c, WS_OPT_FRAGMENT_SIZE, 256); /* a copy of the configuration */
    note(s, r);
    if (r == WS_OK)
        drive(c, in, n, s, reject);
    else
        assert_int_equal(r, WS_ERR_NOMEM);
    ws_conn_free(c);
}

static void scen_conn_server_accept(const ws_allocator *a, seen *s)
{
    scen_conn_server(a, s, 0);
}

static void scen_conn_server_reject(const ws_allocator *a, seen *s)
{
    scen_conn_server(a, s, 1);
}

/* permessage-deflate: a compressed message in, compressed messages out (zlib allocates through
 * the connection's allocator, so its failures are injected too). */
static void scen_conn_deflate(const ws_allocator *a, seen *s)
{
    static const char req[] =
        "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        "Sec-WebSocket-Protocol: chat\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n";
    /* "Hello", compressed as in RFC 7692 section 7.2.3.1, masked with 11 22 33 44 */
    static const uint8_t hello[] = {0xc1, 0x87, 0x11, 0x22, 0x33, 0x44, 0xf2 ^ 0x11,
                                    0x48 ^ 0x22, 0xcd ^ 0x33, 0xc9 ^ 0x44, 0xc9 ^ 0x11,
                                    0x07 ^ 0x22, 0x00 ^ 0x33};
    uint8_t in[1024];
    size_t n = sizeof req - 1;
    ws_conn *c = conn_new(WS_ROLE_SERVER, a, s);
    if (!c)
        return;
    if (ws_conn_set_option(c, WS_OPT_DEFLATE, 1) != WS_OK) {
        /* a build without zlib, or the option state could not be allocated */
        s->nomem = 1;
        s->done = 1;
        ws_conn_free(c);
        return;
    }
    memcpy(in, req, n);
    memcpy(in + n, hello, sizeof hello);
    n += sizeof hello;
    n = put_frame(in, n, WS_OP_CLOSE, 1, "\x03\xe8", 2, 1);
    drive(c, in, n, s, 0);
    ws_conn_free(c);
}

static void scen_conn_client(const ws_allocator *a, seen *s)
{
    static const char *const protos[] = {"chat"};
    uint8_t in[4096];
    size_t n = sizeof response_101 - 1;
    ws_conn *c = conn_new(WS_ROLE_CLIENT, a, s);
    unsigned next = 0;
    int r;
    if (!c)
        return;
    if ((r = ws_conn_set_random(c, seq_rng, &next)) != WS_OK) {
        assert_int_equal(r, WS_ERR_NOMEM); /* the connection's copy of its configuration */
        s->nomem = 1;
        ws_conn_free(c);
        return;
    }
    memcpy(in, response_101, n);
    n += peer_session(in + n, 0);
    r = ws_conn_client_start(c, "ws://example.com/chat", protos, 1, NULL, "Origin: x\r\n");
    note(s, r);
    if (r == WS_OK)
        drive(c, in, n, s, 0);
    ws_conn_free(c);
}

/* ---- the driver ---- */

typedef void (*scenario_fn)(const ws_allocator *a, seen *s);

/* Run once counting, then with each allocation failing (once, and from there on). */
static void run_failing(scenario_fn fn, const char *name)
{
    failalloc f;
    ws_allocator a = failalloc_init(&f, -1, 0);
    seen s = {0};
    long total;

    fn(&a, &s);
    assert_int_equal(f.live, 0);
    assert_false(s.nomem); /* nothing fails when nothing is made to */
    assert_true(s.done);   /* and the scenario runs to its end */
    total = f.calls;
    assert_true(total > 0);
    for (int sticky = 0; sticky <= 1; sticky++) {
        for (long i = 0; i < total; i++) {
            a = failalloc_init(&f, i, sticky);
            memset(&s, 0, sizeof s);
            fn(&a, &s);
            if (f.live != 0 || (f.failed > 0 && !s.nomem)) {
                fprintf(stderr,
                        "%s: allocation %ld of %ld failing (%s): live %ld, nomem %d\n", name, i,
                        total, sticky ? "and all after" : "once", f.live, s.nomem);
                fail();
            }
        }
    }
    /* also without a realloc hook: malloc + copy + free must behave the same */
    a = failalloc_init(&f, -1, 0);
    a.realloc = NULL;
    memset(&s, 0, sizeof s);
    fn(&a, &s);
    assert_int_equal(f.live, 0);
    assert_true(s.done);
    printf("info: failmalloc %s: %ld allocations, each failed once and from there on\n",
           name, total);
}

static void test_frame_decoder(void **state)
{
    (void)state;
    run_failing(scen_frame_decoder, "frame decoder");
}

static void test_handshake_server(void **state)
{
    (void)state;
    run_failing(scen_handshake_server, "handshake server");
}

static void test_handshake_client(void **state)
{
    (void)state;
    run_failing(scen_handshake_client, "handshake client");
}

static void test_conn_server(void **state)
{
    (void)state;
    run_failing(scen_conn_server_accept, "conn server");
}

static void test_conn_server_reject(void **state)
{
    (void)state;
    run_failing(scen_conn_server_reject, "conn server reject");
}

static void test_conn_deflate(void **state)
{
    (void)state;
    if (!ws_deflate_available()) {
        print_message("info: failmalloc conn deflate: built without zlib, nothing to inject\n");
        return;
    }
    run_failing(scen_conn_deflate, "conn deflate");
}

static void test_conn_client(void **state)
{
    (void)state;
    run_failing(scen_conn_client, "conn client");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_decoder),     cmocka_unit_test(test_handshake_server),
        cmocka_unit_test(test_handshake_client),  cmocka_unit_test(test_conn_server),
        cmocka_unit_test(test_conn_server_reject), cmocka_unit_test(test_conn_client),
        cmocka_unit_test(test_conn_deflate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
