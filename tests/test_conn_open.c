/*
 * permessage-deflate on connections created open (lib/conn_open.c): the server's answer to an
 * extended CONNECT's offer (ws_conn_open_negotiate), the client's offer and its check of the
 * answer (ws_conn_open_offer, ws_conn_open_accepted), the states in which they are refused,
 * allocation failures, and compressed messages both ways afterwards. Without zlib: declined.
 */
#include "conn_util.h"

#include <stdio.h>

/* A completed extended CONNECT (RFC 8441) offering `offer` (NULL: no extensions field). */
static ws_handshake *h2_request(const char *offer, const ws_allocator *a)
{
    ws_h2_header h[7] = {
        {":method", 7, "CONNECT", 7},         {":protocol", 9, "websocket", 9},
        {":scheme", 7, "https", 5},           {":path", 5, "/chat", 5},
        {":authority", 10, "example.com", 11}, {"sec-websocket-version", 21, "13", 2},
        {"sec-websocket-extensions", 24, offer, offer ? strlen(offer) : 0},
    };
    ws_handshake *hs = NULL;
    if (ws_handshake_new(&hs, WS_ROLE_SERVER, a) == WS_ERR_NOMEM)
        return NULL;
    assert_non_null(hs);
    int r = ws_h2_parse_request(hs, h, offer ? 7 : 6);
    if (r == WS_ERR_NOMEM) {
        ws_handshake_free(hs);
        return NULL;
    }
    assert_int_equal(r, WS_HANDSHAKE_COMPLETE);
    return hs;
}

static void set_deflate(ws_conn *c)
{
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE, 1), ws_deflate_available() ? WS_OK
                                                                 : WS_ERR_UNSUPPORTED);
}

/* The server's answer for `offer`, with c's options (returns what negotiate returned). */
static int answer(ws_conn *c, const char *offer, char *out, size_t cap)
{
    ws_handshake *hs = h2_request(offer, NULL);
    size_t n = 12345;
    int r = ws_conn_open_negotiate(c, hs, out, cap, &n);
    if (r >= 0)
        assert_int_equal(n, strlen(out));
    ws_handshake_free(hs);
    return r;
}

#if WS_HAVE_ZLIB

/* A compressible message of n bytes. */
static char *prose(size_t n)
{
    static const char words[] = "the quick brown fox jumps over the lazy dog; ";
    char *p = malloc(n + 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = words[i % (sizeof words - 1)];
    p[n] = 0;
    return p;
}

/* The whole exchange as an HTTP/2 binding would run it, then messages both ways: RSV1 on the
 * wire, fewer bytes than the text, the same text out. */
static void test_agreed_both_roles(void **state)
{
    pair p;
    char offer[WS_EXTENSIONS_VALUE_MAX], value[WS_EXTENSIONS_VALUE_MAX];
    size_t n = 0;
    (void)state;

    pair_init(&p);
    set_deflate(p.srv);
    set_deflate(p.cli);
    assert_int_equal(ws_conn_open_offer(p.cli, offer, sizeof offer, &n), 1);
    assert_string_equal(offer, "permessage-deflate; client_max_window_bits");
    assert_int_equal(n, strlen(offer));
    ws_handshake *hs = h2_request(offer, NULL);
    assert_int_equal(ws_conn_open_negotiate(p.srv, hs, value, sizeof value, &n), 1);
    assert_string_equal(value, "permessage-deflate");
    /* Once agreed, the server is no longer untouched: a second negotiation is refused. */
    assert_int_equal(ws_conn_open_negotiate(p.srv, hs, value, sizeof value, &n), WS_ERR_STATE);
    ws_handshake_free(hs);
    assert_int_equal(ws_conn_open_accepted(p.cli, value, strlen(value)), 1);
    assert_int_equal(ws_conn_open_accepted(p.cli, value, strlen(value)), WS_ERR_STATE);

    ws_deflate_params dp;
    assert_int_equal(ws_conn_get_deflate_params(p.srv, &dp, sizeof dp), WS_OK);
    assert_int_equal(dp.server_max_window_bits, 15);
    assert_int_equal(ws_conn_get_deflate_params(p.cli, &dp, sizeof dp), WS_OK);

    char *text = prose(4000);
    assert_int_equal(ws_conn_send(p.cli, WS_OP_TEXT, text, 4000, 0), WS_OK);
    bytes b = {0};
    take_output(p.cli, &b, 0);
    frame_list f = parse_frames(b.p, b.n);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.v[0].rsv, 4); /* RSV1 */
    assert_true(f.v[0].len < 1000);
    frames_free(&f);
    assert_int_equal(feed_copy(p.srv, &p.slog, b.p, b.n, 0), WS_OK);
    bytes_free(&b);
    assert_int_equal(ws_conn_send(p.srv, WS_OP_BINARY, text, 4000, 0), WS_OK);
    pump_all(&p);
    assert_int_equal(log_count(&p.slog, WS_EV_MESSAGE), 1);
    log_assert_message(&p.slog, 0, WS_OP_TEXT, text, 4000);
    assert_int_equal(log_count(&p.clog, WS_EV_MESSAGE), 1);
    log_assert_message(&p.clog, 0, WS_OP_BINARY, text, 4000);
    free(text);
    pair_free(&p);
}

/* The options shape the answer as in ws_conn_accept; the client's offer follows its options. */
static void test_parameters(void **state)
{
    char out[WS_EXTENSIONS_VALUE_MAX];
    ws_conn *s = new_conn(WS_ROLE_SERVER, WS_CONN_OPEN, NULL);
    (void)state;

    set_deflate(s);
    assert_int_equal(ws_conn_set_option(s, WS_OPT_DEFLATE_PEER_WINDOW_BITS, 10), WS_OK);
    assert_int_equal(ws_conn_set_option(s, WS_OPT_DEFLATE_NO_TAKEOVER, 1), WS_OK);
    assert_int_equal(answer(s, "x-unknown, permessage-deflate; server_max_window_bits=16, "
                               "permessage-deflate; client_max_window_bits; "
                               "server_max_window_bits=12",
                            out, sizeof out),
                     1);
    assert_string_equal(out, "permessage-deflate; server_no_context_takeover; "
                             "server_max_window_bits=12; client_max_window_bits=10");
    ws_deflate_params dp;
    assert_int_equal(ws_conn_get_deflate_params(s, &dp, sizeof dp), WS_OK);
    assert_int_equal(dp.server_max_window_bits, 12);
    assert_int_equal(dp.client_max_window_bits, 10);
    assert_int_equal(dp.server_no_context_takeover, 1);
    ws_conn_free(s);

    ws_conn *c = new_conn(WS_ROLE_CLIENT, WS_CONN_OPEN, NULL);
    set_deflate(c);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE_PEER_WINDOW_BITS, 11), WS_OK);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE_PEER_NO_TAKEOVER, 1), WS_OK);
    size_t n;
    assert_int_equal(ws_conn_open_offer(c, out, sizeof out, &n), 1);
    assert_string_equal(out, "permessage-deflate; client_max_window_bits; "
                             "server_max_window_bits=11; server_no_context_takeover");
    /* A smaller window and client_max_window_bits are fine answers to that offer. */
    const char *ok = "permessage-deflate; server_no_context_takeover; server_max_window_bits=9; "
                     "client_max_window_bits=12";
    assert_int_equal(ws_conn_open_accepted(c, ok, strlen(ok)), 1);
    assert_int_equal(ws_conn_get_deflate_params(c, &dp, sizeof dp), WS_OK);
    assert_int_equal(dp.server_max_window_bits, 9);
    assert_int_equal(dp.client_max_window_bits, 12);
    ws_conn_free(c);
}

/* Answers RFC 7692 forbids, extensions never offered, and values that do not parse: refused,
 * and the client stays as it was (a compressed frame then fails it with 1002). */
static void test_client_rejects(void **state)
{
    static const char *const bad[] = {
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits",   /* needs a value in a response */
        "permessage-deflate; unknown_parameter",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate, permessage-deflate",
        "x-webkit-deflate-frame",
        "permessage-deflate, x-other",
        ";;",
        "permessage-deflate; server_max_window_bits=1a",
        "permessage-deflate; server_max_window_bits=12", /* a limit was asked: 11 or less */
        "permessage-deflate",                            /* server_no_context_takeover missing */
    };
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ws_conn *c = new_conn(WS_ROLE_CLIENT, WS_CONN_OPEN, NULL);
        set_deflate(c);
        if (i >= 10) {
            assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE_PEER_WINDOW_BITS, 11), WS_OK);
            assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE_PEER_NO_TAKEOVER, i == 11),
                             WS_OK);
        }
        int r = ws_conn_open_accepted(c, bad[i], strlen(bad[i]));
        if (r != WS_ERR_DEFLATE_NEGOTIATION)
            print_message("answer '%s': %d\n", bad[i], r);
        assert_int_equal(r, WS_ERR_DEFLATE_NEGOTIATION);
        ws_deflate_params dp;
        assert_int_equal(ws_conn_get_deflate_params(c, &dp, sizeof dp), WS_ERR_NOT_FOUND);
        ws_conn_free(c);
    }
    /* Not wanted, then answered anyway: it was never offered. */
    ws_conn *c = new_conn(WS_ROLE_CLIENT, WS_CONN_OPEN, NULL);
    assert_int_equal(ws_conn_open_accepted(c, "permessage-deflate", 18), WS_ERR_DEFLATE_NEGOTIATION);
    /* No answer: nothing agreed, and a frame with RSV1 is a protocol error. */
    assert_int_equal(ws_conn_open_accepted(c, NULL, 0), 0);
    assert_int_equal(ws_conn_open_accepted(c, "", 0), 0);
    ev_log l = {0};
    drain(c, NULL);
    bytes b = {0};
    raw_frame(&b, WS_OP_TEXT, 1, 4, 0, "abc", 3);
    assert_int_equal(feed_copy(c, &l, b.p, b.n, 0), WS_OK);
    assert_non_null(log_find(&l, WS_EV_ERROR, 0));
    assert_int_equal(log_assert_closed(&l)->close_code, WS_CLOSE_PROTOCOL_ERROR);
    bytes_free(&b);
    log_free(&l);
    ws_conn_free(c);
}

/* Every allocation the negotiation makes, failed in turn: WS_ERR_NOMEM and nothing agreed,
 * or success; never a leak. */
static void test_allocation_failures(void **state)
{
    (void)state;
    for (long k = 0;; k++) {
        failalloc fa;
        ws_allocator a = failalloc_init(&fa, -1, 0);
        ws_conn *s = NULL, *c = NULL;
        assert_int_equal(conn_new_with(&s, WS_ROLE_SERVER, WS_CONN_OPEN, &a), WS_OK);
        assert_int_equal(conn_new_with(&c, WS_ROLE_CLIENT, WS_CONN_OPEN, &a), WS_OK);
        set_deflate(s);
        set_deflate(c);
        ws_handshake *hs = h2_request("permessage-deflate; client_max_window_bits", NULL);
        char v[WS_EXTENSIONS_VALUE_MAX];
        fa.fail_at = fa.calls + k;
        int rs = ws_conn_open_negotiate(s, hs, v, sizeof v, NULL);
        const char *ans = "permessage-deflate; client_max_window_bits=12";
        int rc = ws_conn_open_accepted(c, ans, strlen(ans));
        int done = fa.failed == 0;
        assert_true(rs == 1 || rs == WS_ERR_NOMEM);
        assert_true(rc == 1 || rc == WS_ERR_NOMEM);
        ws_deflate_params dp;
        assert_int_equal(ws_conn_get_deflate_params(c, &dp, sizeof dp) == WS_OK, rc == 1);
        ws_handshake_free(hs);
        ws_conn_free(s);
        ws_conn_free(c);
        assert_int_equal(fa.live, 0);
        if (done)
            break;
        assert_true(k < 20);
    }
}

#endif /* WS_HAVE_ZLIB */

/* Declined: not wanted, no offer, or only offers that cannot be taken. */
static void test_server_declines(void **state)
{
    char out[WS_EXTENSIONS_VALUE_MAX] = "junk";
    (void)state;

    ws_conn *s = new_conn(WS_ROLE_SERVER, WS_CONN_OPEN, NULL);
    assert_int_equal(answer(s, "permessage-deflate", out, sizeof out), 0); /* not wanted */
    assert_string_equal(out, "");
    set_deflate(s);
    assert_int_equal(answer(s, NULL, out, sizeof out), 0);
    assert_int_equal(answer(s, "x-other; a=1", out, sizeof out), 0);
    assert_int_equal(answer(s, "permessage-deflate; server_max_window_bits=7", out, sizeof out),
                     0);
    assert_int_equal(answer(s, "permessage-deflate; bogus", out, sizeof out), 0);
    ws_deflate_params dp;
    assert_int_equal(ws_conn_get_deflate_params(s, &dp, sizeof dp), WS_ERR_NOT_FOUND);
    /* Declining leaves it untouched: a later acceptable offer is still answered. */
    assert_int_equal(answer(s, "permessage-deflate", out, sizeof out),
                     ws_deflate_available() ? 1 : 0);
    ws_conn_free(s);
}

/* Refused where it cannot be right: the wrong role, a connection that already carried bytes
 * or had its own handshake, a request that is not complete; too little room; bad arguments. */
static void test_states_and_arguments(void **state)
{
    char out[WS_EXTENSIONS_VALUE_MAX];
    size_t n = 0;
    const char *offer = "permessage-deflate";
    ws_handshake *hs = h2_request(offer, NULL);
    (void)state;

    /* The wrong role each way. */
    ws_conn *c = new_conn(WS_ROLE_CLIENT, WS_CONN_OPEN, NULL);
    set_deflate(c);
    assert_int_equal(ws_conn_open_negotiate(c, hs, out, sizeof out, &n), WS_ERR_STATE);
    ws_conn_free(c);
    ws_conn *s = new_conn(WS_ROLE_SERVER, WS_CONN_OPEN, NULL);
    set_deflate(s);
    assert_int_equal(ws_conn_open_offer(s, out, sizeof out, &n), WS_ERR_STATE);
    assert_int_equal(ws_conn_open_accepted(s, offer, strlen(offer)), WS_ERR_STATE);

    /* Arguments. */
    assert_int_equal(ws_conn_open_negotiate(NULL, hs, out, sizeof out, &n), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_open_negotiate(s, NULL, out, sizeof out, &n), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_open_negotiate(s, hs, NULL, 5, &n), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_open_offer(NULL, out, sizeof out, &n), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_open_accepted(NULL, offer, 3), WS_ERR_INVALID_ARG);
    c = new_conn(WS_ROLE_CLIENT, WS_CONN_OPEN, NULL);
    assert_int_equal(ws_conn_open_accepted(c, NULL, 3), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_open_offer(c, NULL, 0, &n), 0); /* not wanted: nothing to say */

    if (ws_deflate_available()) {
        /* Too little room: the length needed, and nothing agreed yet. */
        n = 0;
        assert_int_equal(ws_conn_open_negotiate(s, hs, out, 18, &n), WS_ERR_BUFFER_TOO_SMALL);
        assert_int_equal(n, 18);
        assert_int_equal(ws_conn_open_negotiate(s, hs, NULL, 0, &n), WS_ERR_BUFFER_TOO_SMALL);
        assert_int_equal(ws_conn_open_negotiate(s, hs, out, 19, &n), 1);
        assert_string_equal(out, "permessage-deflate");
        set_deflate(c);
        assert_int_equal(ws_conn_open_offer(c, out, 5, &n), WS_ERR_BUFFER_TOO_SMALL);
        assert_int_equal(n, strlen("permessage-deflate; client_max_window_bits"));
    }
    ws_conn_free(s);
    ws_conn_free(c);

    /* Touched: a byte fed (even if not yet processed), a message sent. */
    s = new_conn(WS_ROLE_SERVER, WS_CONN_OPEN, NULL);
    set_deflate(s);
    size_t taken;
    drain(s, NULL);
    assert_int_equal(ws_conn_feed(s, "\x81", 1, &taken), WS_OK);
    assert_int_equal(taken, 1);
    assert_int_equal(ws_conn_open_negotiate(s, hs, out, sizeof out, &n), WS_ERR_STATE);
    ws_conn_free(s);
    s = new_conn(WS_ROLE_SERVER, WS_CONN_OPEN, NULL);
    set_deflate(s);
    assert_int_equal(ws_conn_send(s, WS_OP_TEXT, "hi", 2, 0), WS_OK);
    assert_int_equal(ws_conn_open_negotiate(s, hs, out, sizeof out, &n), WS_ERR_STATE);
    ws_conn_free(s);
    c = new_conn(WS_ROLE_CLIENT, WS_CONN_OPEN, NULL);
    set_deflate(c);
    assert_int_equal(ws_conn_ping(c, NULL, 0), WS_OK);
    assert_int_equal(ws_conn_open_accepted(c, offer, strlen(offer)), WS_ERR_STATE);
    ws_conn_free(c);

    /* A connection with its own HTTP/1.1 handshake, waiting for accept: not open. */
    s = new_conn(WS_ROLE_SERVER, 0, NULL);
    set_deflate(s);
    assert_int_equal(ws_conn_open_negotiate(s, hs, out, sizeof out, &n), WS_ERR_STATE);
    ws_conn_free(s);
    c = new_conn(WS_ROLE_CLIENT, 0, NULL);
    assert_int_equal(ws_conn_open_accepted(c, NULL, 0), WS_ERR_STATE);
    ws_conn_free(c);

    /* A request that is not complete, or failed, or a client's handshake object. */
    s = new_conn(WS_ROLE_SERVER, WS_CONN_OPEN, NULL);
    set_deflate(s);
    ws_handshake *part = NULL;
    assert_int_equal(ws_handshake_new(&part, WS_ROLE_SERVER, NULL), WS_OK);
    assert_int_equal(ws_h2_add_header(part, ":method", 7, "CONNECT", 7), WS_OK);
    assert_int_equal(ws_conn_open_negotiate(s, part, out, sizeof out, &n), WS_ERR_STATE);
    assert_int_equal(ws_h2_end_headers(part), WS_ERR_H2_PROTOCOL);
    assert_int_equal(ws_conn_open_negotiate(s, part, out, sizeof out, &n), WS_ERR_STATE);
    ws_handshake_free(part);
    assert_int_equal(ws_handshake_new(&part, WS_ROLE_CLIENT, NULL), WS_OK);
    assert_int_equal(ws_conn_open_negotiate(s, part, out, sizeof out, &n), WS_ERR_STATE);
    ws_handshake_free(part);
    ws_conn_free(s);
    ws_handshake_free(hs);
}

#if !WS_HAVE_ZLIB
/* Without zlib: the option is refused, offers are declined, nothing is offered, and an answer
 * naming permessage-deflate is a negotiation error (it was never offered). */
static void test_without_zlib(void **state)
{
    char out[WS_EXTENSIONS_VALUE_MAX] = "junk";
    size_t n = 7;
    (void)state;
    ws_conn *s = new_conn(WS_ROLE_SERVER, WS_CONN_OPEN, NULL);
    assert_int_equal(ws_conn_set_option(s, WS_OPT_DEFLATE, 1), WS_ERR_UNSUPPORTED);
    assert_int_equal(answer(s, "permessage-deflate", out, sizeof out), 0);
    assert_string_equal(out, "");
    ws_conn_free(s);
    ws_conn *c = new_conn(WS_ROLE_CLIENT, WS_CONN_OPEN, NULL);
    assert_int_equal(ws_conn_open_offer(c, out, sizeof out, &n), 0);
    assert_int_equal(n, 0);
    assert_int_equal(ws_conn_open_accepted(c, "permessage-deflate", 18),
                     WS_ERR_DEFLATE_NEGOTIATION);
    ws_conn_free(c);
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
#if WS_HAVE_ZLIB
        cmocka_unit_test(test_agreed_both_roles),
        cmocka_unit_test(test_parameters),
        cmocka_unit_test(test_client_rejects),
        cmocka_unit_test(test_allocation_failures),
#else
        cmocka_unit_test(test_without_zlib),
#endif
        cmocka_unit_test(test_server_declines),
        cmocka_unit_test(test_states_and_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
