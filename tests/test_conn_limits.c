/*
 * Bounds under hostile load: memory limits and shared budgets, the message (assembly) timeout,
 * the send timeout. Each with the close code and error a peer and the application see.
 */
#include "conn_util.h"

/* Feed in[0..n), draining; the last ERROR and CLOSE events are reported. A feed refused
 * for want of memory for the input itself reports WS_ERR_BUDGET in *err (code left 0). */
static void feed_all(ws_conn *c, const uint8_t *in, size_t n, int *err, unsigned *code)
{
    size_t pos = 0;
    ws_event ev;
    while (pos < n) {
        size_t taken = 0;
        int r = ws_conn_feed(c, in + pos, n - pos, &taken);
        if (r == WS_ERR_BUDGET) {
            assert_int_equal(taken, 0);
            *err = r;
            return;
        }
        assert_int_equal(r, WS_OK);
        pos += taken;
        while (ws_conn_next_event(c, &ev, sizeof ev) > 0) {
            if (ev.type == WS_EV_ERROR)
                *err = ev.error;
            if (ev.type == WS_EV_CLOSE)
                *code = ev.close_code;
        }
    }
}

/* The close code of the last frame the connection queued. */
static unsigned last_close_sent(ws_conn *c)
{
    ws_conn_stats st;
    assert_int_equal(ws_conn_get_stats(c, &st, sizeof st), WS_OK);
    return st.close_code_sent;
}

static void test_memory_limit_refuses_reassembly(void **state)
{
    ws_conn *c = open_server(NULL);
    static uint8_t chunk[1000];
    bytes wire = {0};
    int err = 0;
    unsigned code = 0;

    (void)state;
    memset(chunk, 'a', sizeof chunk);
    /* Thirty fragments of a 30,000-byte message against a 16 KiB memory limit. */
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MEMORY_LIMIT, 16384), WS_OK);
    for (int i = 0; i < 30; i++)
        peer_frame(&wire, WS_ROLE_SERVER, i ? WS_OP_CONTINUATION : WS_OP_BINARY, i == 29, chunk,
                   sizeof chunk);
    feed_all(c, wire.p, wire.n, &err, &code);
    assert_int_equal(err, WS_ERR_BUDGET);
    assert_int_equal(code, WS_CLOSE_TRY_AGAIN_LATER);
    assert_int_equal(last_close_sent(c), WS_CLOSE_TRY_AGAIN_LATER);
    assert_true(ws_conn_memory(c) <= 16384);
    ws_conn_free(c);
    bytes_free(&wire);
}

static void test_shared_budget(void **state)
{
    ws_budget *b = NULL;
    ws_conn *c[4];
    static uint8_t chunk[1000];
    bytes wire = {0};
    int failed = 0;

    (void)state;
    memset(chunk, 'b', sizeof chunk);
    assert_int_equal(ws_budget_new(&b, 0, 0, NULL), WS_ERR_RANGE);
    /* A budget's own memory comes from the allocator given and goes back to it; freeing none
     * is nothing. */
    {
        failalloc fa;
        ws_allocator a = failalloc_init(&fa, -1, 0);
        assert_int_equal(ws_budget_new(&b, 1000, 0, &a), WS_OK);
        assert_true(fa.live > 0);
        ws_budget_free(b);
        assert_int_equal(fa.live, 0);
        ws_budget_free(NULL);
        b = NULL;
    }
    /* 9,000 bytes beyond what the four connections hold before any traffic (their traffic
     * states: each was created open) */
    uint64_t held = 0;
    for (int k = 0; k < 4; k++) {
        c[k] = open_server(NULL);
        held += ws_conn_memory(c[k]);
    }
    assert_int_equal(ws_budget_new(&b, 9000 + held, 0, NULL), WS_OK);
    /* An unfinished message of 5 fragments (5,000 bytes) from each of four peers. */
    for (int i = 0; i < 5; i++)
        peer_frame(&wire, WS_ROLE_SERVER, i ? WS_OP_CONTINUATION : WS_OP_TEXT, 0, chunk,
                   sizeof chunk);
    for (int k = 0; k < 4; k++)
        assert_int_equal(ws_conn_set_budget(c[k], b), WS_OK);
    for (int k = 0; k < 4; k++) {
        int err = 0;
        unsigned code = 0;
        feed_all(c[k], wire.p, wire.n, &err, &code);
        if (err == WS_ERR_BUDGET) {
            /* Failed with 1013, or its input refused before anything was accepted. */
            assert_true(code == WS_CLOSE_TRY_AGAIN_LATER || code == 0);
            failed++;
        }
        assert_true(ws_budget_used(b) <= 9000 + held); /* never past the total */
    }
    assert_true(failed >= 2); /* 4 x 5,000 bytes cannot fit in 9,000 */
    for (int k = 0; k < 4; k++)
        ws_conn_free(c[k]);
    assert_int_equal(ws_budget_used(b), 0); /* everything given back */
    ws_budget_free(b);
    bytes_free(&wire);
}

static void test_budget_share_per_connection(void **state)
{
    ws_budget *b = NULL;
    ws_conn *c = open_server(NULL);
    uint8_t big[3000];

    (void)state;
    memset(big, 'c', sizeof big);
    assert_int_equal(ws_budget_new(&b, 1 << 20, 2048 + ws_conn_memory(c), NULL), WS_OK);
    assert_int_equal(ws_conn_set_budget(c, b), WS_OK);
    /* Sending is refused with the budget's error; nothing is queued, the connection lives. */
    assert_int_equal(ws_conn_send(c, WS_OP_BINARY, big, sizeof big, 0), WS_ERR_BUDGET);
    assert_int_equal(ws_conn_buffered_amount(c), 0);
    assert_int_equal(ws_conn_state(c), WS_STATE_OPEN);
    assert_int_equal(ws_conn_send(c, WS_OP_BINARY, big, 100, 0), WS_OK);
    assert_int_equal(ws_conn_set_budget(c, NULL), WS_OK);
    assert_int_equal(ws_budget_used(b), 0);
    ws_conn_free(c);
    ws_budget_free(b);
}

static void test_budget_refuses_a_holder_too_big(void **state)
{
    ws_budget *b = NULL;
    ws_conn *c = open_server(NULL);
    uint8_t big[3000];

    (void)state;
    memset(big, 'd', sizeof big);
    assert_int_equal(ws_conn_send(c, WS_OP_BINARY, big, sizeof big, 0), WS_OK);
    assert_true(ws_conn_memory(c) >= sizeof big);
    assert_int_equal(ws_budget_new(&b, 1024, 0, NULL), WS_OK);
    assert_int_equal(ws_conn_set_budget(c, b), WS_ERR_BUDGET);
    assert_int_equal(ws_budget_used(b), 0);
    ws_budget_free(b);
    /* Plenty left in the whole budget, but more than one connection's share. */
    assert_int_equal(ws_budget_new(&b, 1 << 20, 1024, NULL), WS_OK);
    assert_int_equal(ws_conn_set_budget(c, b), WS_ERR_BUDGET);
    assert_int_equal(ws_budget_used(b), 0);
    ws_conn_free(c);
    ws_budget_free(b);
}

#if WS_HAVE_ZLIB
#include <zlib.h>

/* A compressed first fragment (RSV1, FIN as given) inflating to `inflated` bytes of zeros. */
static void zeros_frame(bytes *out, size_t inflated, int fin)
{
    uint8_t *zeros = calloc(1, inflated), z[65536];
    z_stream s;
    memset(&s, 0, sizeof s);
    assert_int_equal(deflateInit2(&s, 9, Z_DEFLATED, -15, 9, Z_DEFAULT_STRATEGY), Z_OK);
    s.next_in = zeros;
    s.avail_in = (uInt)inflated;
    s.next_out = z;
    s.avail_out = sizeof z;
    assert_int_equal(deflate(&s, Z_SYNC_FLUSH), Z_OK);
    size_t zn = sizeof z - s.avail_out;
    deflateEnd(&s);
    free(zeros);
    if (fin && zn >= 4)
        zn -= 4; /* RFC 7692 7.2.1: the sync flush's 00 00 ff ff tail is not sent */
    raw_frame(out, WS_OP_BINARY, fin, WS_RSV1, 1, z, zn);
}

static void bomb(bytes *out, size_t inflated)
{
    zeros_frame(out, inflated, 0);
}

static const char deflate_req[] =
    "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n";

/* A deflate server, open, its events drained. */
static ws_conn *deflate_server(void)
{
    ws_conn *c = NULL;
    ws_event ev;
    size_t taken;
    assert_int_equal(ws_conn_new(&c, WS_ROLE_SERVER, 0, NULL), WS_OK);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE, 1), WS_OK);
    assert_int_equal(ws_conn_tick(c, 0), WS_OK);
    assert_int_equal(ws_conn_feed(c, deflate_req, strlen(deflate_req), &taken), WS_OK);
    while (ws_conn_next_event(c, &ev, sizeof ev) > 0)
        if (ev.type == WS_EV_REQUEST)
            assert_int_equal(ws_conn_accept(c, NULL, WS_EXTENSIONS_AUTO, NULL), WS_OK);
    assert_int_equal(ws_conn_state(c), WS_STATE_OPEN);
    return c;
}

static void test_inflate_in_steps(void **state)
{
    bytes wire = {0};
    size_t used = 0, steps = 0;
    ws_conn *c = deflate_server();
    ws_event ev;
    uint8_t more[8] = {0x81, 0x82, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2};

    (void)state;
    zeros_frame(&wire, 900000, 1);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_INFLATE_STEP, 65536), WS_OK);
    assert_int_equal(ws_conn_feed_inplace(c, wire.p, wire.n, &used), WS_OK);
    assert_int_equal(used, wire.n); /* the frame is taken; its output is made in steps */
    assert_int_equal(ws_conn_next_deadline(c), 0); /* due now */
    assert_int_equal(ws_conn_feed_inplace(c, more, sizeof more, &used), WS_ERR_EVENTS_PENDING);
    /* Each next_event and each tick makes one step of 64 KiB; the feed made the first. */
    for (;;) {
        steps++;
        if (ws_conn_next_event(c, &ev, sizeof ev) == 1)
            break;
        assert_true(ws_conn_next_deadline(c) == 0);
        steps++;
        assert_int_equal(ws_conn_tick(c, 0), WS_OK);
        assert_true(steps < 100);
    }
    assert_int_equal(ev.type, WS_EV_MESSAGE);
    assert_int_equal(ev.len, 900000);
    assert_true(steps >= 900000 / 65536); /* 1 + 13 steps of 64 KiB at least */
    assert_true(ws_conn_next_deadline(c) != 0);
    /* Then input flows again. */
    assert_int_equal(ws_conn_feed_inplace(c, more, sizeof more, &used), WS_OK);
    assert_int_equal(ws_conn_next_event(c, &ev, sizeof ev), 1);
    assert_int_equal(ev.len, 2);
    ws_conn_free(c);
    bytes_free(&wire);
}

static void test_inflate_unbounded_by_default(void **state)
{
    bytes wire = {0};
    size_t used = 0;
    ws_conn *c = deflate_server();
    ws_event ev;

    (void)state;
    zeros_frame(&wire, 900000, 1);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_INFLATE_STEP, ((uint64_t)1 << 31) + 1),
                     WS_ERR_RANGE);
    assert_int_equal(ws_conn_feed_inplace(c, wire.p, wire.n, &used), WS_OK);
    assert_int_equal(ws_conn_next_event(c, &ev, sizeof ev), 1);
    assert_int_equal(ev.len, 900000);
    ws_conn_free(c);
    bytes_free(&wire);
}

static void test_budget_bounds_deflate_bomb(void **state)
{
    static const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n"
                              "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n";
    bytes wire = {0};
    ws_budget *b = NULL;
    ws_conn *c = NULL;
    ws_event ev;
    size_t taken;
    int err = 0;

    (void)state;
    bytes_append(&wire, req, strlen(req));
    bomb(&wire, 8u << 20); /* 8 MiB of zeros: a few KiB on the wire */
    assert_int_equal(ws_budget_new(&b, 1u << 20, 0, NULL), WS_OK);
    assert_int_equal(ws_conn_new(&c, WS_ROLE_SERVER, 0, NULL), WS_OK);
    assert_int_equal(ws_conn_set_budget(c, b), WS_OK);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE, 1), WS_OK);
    assert_int_equal(ws_conn_tick(c, 0), WS_OK);
    assert_int_equal(ws_conn_feed(c, wire.p, wire.n, &taken), WS_OK);
    while (ws_conn_next_event(c, &ev, sizeof ev) > 0) {
        if (ev.type == WS_EV_REQUEST)
            assert_int_equal(ws_conn_accept(c, NULL, WS_EXTENSIONS_AUTO, NULL), WS_OK);
        if (ev.type == WS_EV_ERROR)
            err = ev.error;
        assert_true(ws_budget_used(b) <= 1u << 20);
    }
    assert_int_equal(err, WS_ERR_BUDGET);
    assert_int_equal(last_close_sent(c), WS_CLOSE_TRY_AGAIN_LATER);
    ws_conn_free(c);
    assert_int_equal(ws_budget_used(b), 0);
    ws_budget_free(b);
    bytes_free(&wire);
}
#endif

/* A server with a 5 s message timeout, fed one text frame (the whole message when fin). */
static ws_conn *timed_server(int fin, const char *text)
{
    ws_conn *c = open_server(NULL);
    bytes wire = {0};
    int err = 0;
    unsigned code = 0;

    peer_frame(&wire, WS_ROLE_SERVER, WS_OP_TEXT, fin, text, strlen(text));
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MESSAGE_TIMEOUT, 5000), WS_OK);
    feed_all(c, wire.p, wire.n, &err, &code);
    assert_int_equal(err, 0);
    assert_int_equal(code, 0);
    bytes_free(&wire);
    return c;
}

static void test_message_timeout(void **state)
{
    ws_conn *c = timed_server(0, "slow");
    ws_event ev;

    (void)state;
    assert_true(ws_conn_next_deadline(c) <= 1000 + 5000);
    assert_int_equal(ws_conn_tick(c, 5999), WS_OK);
    assert_int_equal(ws_conn_next_event(c, &ev, sizeof ev), 0);
    assert_int_equal(ws_conn_tick(c, 6000), WS_OK);
    assert_int_equal(ws_conn_next_event(c, &ev, sizeof ev), 1);
    assert_int_equal(ev.type, WS_EV_ERROR);
    assert_int_equal(ev.error, WS_ERR_MESSAGE_TIMEOUT);
    assert_int_equal(ws_conn_next_event(c, &ev, sizeof ev), 1);
    assert_int_equal(ev.type, WS_EV_CLOSE);
    assert_int_equal(ev.close_code, WS_CLOSE_POLICY_VIOLATION);
    assert_int_equal(last_close_sent(c), WS_CLOSE_POLICY_VIOLATION);
    ws_conn_free(c);
}

static void test_message_timeout_spares_complete_messages(void **state)
{
    ws_conn *c = timed_server(1, "quick");
    ws_event ev;

    (void)state;
    assert_int_equal(ws_conn_tick(c, 100000), WS_OK);
    assert_int_equal(ws_conn_next_event(c, &ev, sizeof ev), 0);
    assert_int_equal(ws_conn_state(c), WS_STATE_OPEN);
    ws_conn_free(c);
}

static void test_send_timeout(void **state)
{
    ws_conn *c = open_server(NULL);
    ws_event ev;
    ws_iovec iov[2];

    (void)state;
    assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_TIMEOUT, 3000), WS_OK);
    assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "unread", 6, 0), WS_OK);
    assert_true(ws_conn_next_deadline(c) <= 1000 + 3000);
    /* Progress (a partial write) restarts the clock. */
    assert_int_equal(ws_conn_tick(c, 2500), WS_OK);
    assert_int_equal(ws_conn_output(c, iov, 2), 1);
    assert_int_equal(ws_conn_output_ack(c, 2), WS_OK);
    assert_int_equal(ws_conn_tick(c, 5000), WS_OK);
    assert_int_equal(ws_conn_next_event(c, &ev, sizeof ev), 0);
    assert_true(ws_conn_next_deadline(c) <= 2500 + 3000);
    assert_int_equal(ws_conn_tick(c, 5500), WS_OK);
    assert_int_equal(ws_conn_next_event(c, &ev, sizeof ev), 1);
    assert_int_equal(ev.error, WS_ERR_SEND_TIMEOUT);
    assert_int_equal(ws_conn_next_event(c, &ev, sizeof ev), 1);
    assert_int_equal(ev.type, WS_EV_CLOSE);
    assert_int_equal(ev.close_code, WS_CLOSE_ABNORMAL);
    assert_int_equal(ws_conn_wants_shutdown(c), 1); /* its output is given up */
    ws_conn_free(c);

    /* All of it written and acknowledged: nothing waits, nothing times out (a message coming
     * in keeps the connection's traffic state meanwhile). */
    c = open_server(NULL);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_TIMEOUT, 3000), WS_OK);
    bytes part = {0};
    size_t used = 0;
    peer_frame(&part, WS_ROLE_SERVER, WS_OP_TEXT, 0, "ab", 2);
    assert_int_equal(ws_conn_feed(c, part.p, part.n, &used), WS_OK);
    assert_int_equal(used, part.n);
    bytes_free(&part);
    assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "read", 4, 0), WS_OK);
    assert_int_equal(ws_conn_tick(c, 1500), WS_OK);
    assert_int_equal(ws_conn_output(c, iov, 2), 1);
    assert_int_equal(ws_conn_output_ack(c, iov[0].len), WS_OK);
    assert_int_equal(ws_conn_tick(c, 1600), WS_OK); /* still holding its traffic state */
    assert_int_equal(ws_conn_tick(c, 4600), WS_OK);
    assert_int_equal(ws_conn_tick(c, 9000), WS_OK);
    assert_int_equal(ws_conn_next_event(c, &ev, sizeof ev), 0);
    assert_int_equal(ws_conn_state(c), WS_STATE_OPEN);
    ws_conn_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_limit_refuses_reassembly),
        cmocka_unit_test(test_shared_budget),
        cmocka_unit_test(test_budget_share_per_connection),
        cmocka_unit_test(test_budget_refuses_a_holder_too_big),
#if WS_HAVE_ZLIB
        cmocka_unit_test(test_budget_bounds_deflate_bomb),
        cmocka_unit_test(test_inflate_in_steps),
        cmocka_unit_test(test_inflate_unbounded_by_default),
#endif
        cmocka_unit_test(test_message_timeout),
        cmocka_unit_test(test_message_timeout_spares_complete_messages),
        cmocka_unit_test(test_send_timeout),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
