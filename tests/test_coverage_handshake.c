/*
 * Edge cases of the handshake, HTTP, HTTP/2 and URI layers that the per-layer tests leave
 * unexercised (found with `make coverage`): argument checks, limits reached exactly, rarely
 * seen statuses and Content-Length forms, the default reason phrases. Each test states the
 * rule it pins down, so these are real tests, not line-touching.
 */
#include "testutil.h"

#include "ws.h"

#include <stdio.h>
#include <stdlib.h>

#define REQ_HEAD                                                                             \
    "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"        \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

static int feed_str(ws_handshake *hs, const char *s, size_t *used)
{
    return ws_handshake_feed(hs, (const uint8_t *)s, strlen(s), used);
}

static int key_rng(void *user, void *buf, size_t n)
{
    uint8_t *p = buf;
    (void)user;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 37u + 11u);
    return 0;
}

#define ACCEPT_FOR_KEY_RNG "lz5pPkb2gLreqRUNl9CqyRDlOog="

/* A client that has written its request (offering `protos` and `exts`), ready for a response. */
static ws_handshake *client(const char *exts, int offer_protos)
{
    static const char *const protos[] = {"chat"};
    static uint8_t out[1024];
    ws_handshake *hs = new_hs(WS_ROLE_CLIENT, NULL);
    assert_int_equal(ws_handshake_set_random(hs, key_rng, NULL), WS_OK);
    assert_true(ws_handshake_client_request(hs, "ws://h/", 7, protos, offer_protos ? 1 : 0, exts,
                                            NULL, out, sizeof out, NULL) > 0);
    return hs;
}

static void test_setters(void **state)
{
    ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
    size_t used;
    (void)state;

    assert_int_equal(ws_handshake_set_max_header_size(NULL, 1024), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_set_max_header_size(hs, 63), WS_ERR_RANGE);
    assert_int_equal(ws_handshake_set_max_header_size(hs, (16u << 20) + 1), WS_ERR_RANGE);
    assert_int_equal(ws_handshake_set_max_header_size(hs, 16u << 20), WS_OK);
    assert_int_equal(ws_handshake_set_max_header_size(hs, 64), WS_OK);
    assert_int_equal(ws_handshake_set_max_headers(NULL, 8), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_set_max_headers(hs, 0), WS_ERR_RANGE);
    assert_int_equal(ws_handshake_set_max_headers(hs, 65536), WS_ERR_RANGE);
    assert_int_equal(ws_handshake_set_max_headers(hs, 65535), WS_OK);
    assert_int_equal(ws_handshake_set_max_body(NULL, 8), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_set_max_body(hs, (16u << 20) + 1), WS_ERR_RANGE);
    assert_int_equal(ws_handshake_set_max_body(hs, 0), WS_OK);
    assert_int_equal(ws_handshake_set_random(NULL, key_rng, NULL), WS_ERR_INVALID_ARG);

    /* after the first byte, the limits are fixed */
    assert_int_equal(feed_str(hs, "G", &used), 0);
    assert_int_equal(ws_handshake_set_max_header_size(hs, 1024), WS_ERR_STATE);
    assert_int_equal(ws_handshake_set_max_headers(hs, 8), WS_ERR_STATE);
    assert_int_equal(ws_handshake_set_max_body(hs, 8), WS_ERR_STATE);
    /* 64 bytes are not enough for a request */
    assert_int_equal(feed_str(hs, REQ_HEAD "\r\n", &used), WS_ERR_HS_TOO_LARGE);
    assert_int_equal(ws_handshake_set_max_headers(hs, 8), WS_ERR_STATE);
    ws_handshake_free(hs);
}

static void test_null_accessors(void **state)
{
    const char *p = "x";
    size_t n = 1, np;
    const uint8_t *b;
    (void)state;

    /* A NULL handle is WS_ERR_INVALID_ARG, always (ws.h rule 3); pure counts give 0. */
    assert_int_equal(ws_handshake_result(NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_method(NULL, &p, &n), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_target(NULL, &p, &n), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_host(NULL, &p, &n), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_header(NULL, "Host", 0, &p, &n), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_header_count(NULL), 0);
    assert_int_equal(ws_handshake_header_at(NULL, 0, &p, &n, &p, &n), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_subprotocol_count(NULL), 0);
    assert_int_equal(ws_handshake_subprotocol(NULL, 0, &p, &n), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_extension_count(NULL), 0);
    assert_int_equal(ws_handshake_extension(NULL, 0, &p, &n, &np), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_extension_param(NULL, 0, 0, &p, &n, &p, &n), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_status(NULL), 0);
    assert_int_equal(ws_handshake_reason(NULL, &p, &n), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_body(NULL, &b, &n), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_error_status(NULL), 0);
    assert_int_equal(ws_handshake_write_error(NULL, NULL, 0, &n), WS_ERR_INVALID_ARG);
    assert_int_equal(n, 0);
    assert_int_equal(ws_handshake_accept(NULL, NULL, NULL, NULL, NULL, 0, NULL),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(
        ws_handshake_client_request(NULL, "ws://h/", 7, NULL, 0, NULL, NULL, NULL, 0, NULL),
        WS_ERR_INVALID_ARG);
    assert_int_equal(ws_h2_add_header(NULL, "a", 1, "b", 1), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_h2_end_headers(NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_h2_parse_request(NULL, NULL, 0), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_reset(NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_set_random(NULL, NULL, NULL), WS_ERR_INVALID_ARG);
    ws_handshake_free(NULL);
    /* Constructors: out NULL, an unknown role, an allocator struct smaller than the 0.2
     * layout. */
    ws_handshake *hs = NULL;
    ws_allocator small = {sizeof(ws_allocator) - 1, NULL, NULL, NULL, NULL};
    assert_int_equal(ws_handshake_new(NULL, WS_ROLE_SERVER, NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_new(&hs, 2, NULL), WS_ERR_INVALID_ARG);
    assert_null(hs);
    assert_int_equal(ws_handshake_new(&hs, WS_ROLE_CLIENT, &small), WS_ERR_INVALID_ARG);
    assert_null(hs);
}

/* A request's Content-Length: absent, empty, all zeros, or a real body. */
static void test_request_content_length(void **state)
{
    static const struct {
        const char *line;
        int want;
    } cases[] = {
        {"Content-Length: 0\r\n", WS_HANDSHAKE_COMPLETE},
        {"Content-Length: 000\r\n", WS_HANDSHAKE_COMPLETE},
        {"Content-Length: 5\r\n", WS_ERR_HS_BODY},
        {"Content-Length: 10\r\n", WS_ERR_HS_BODY},
        {"Content-Length:\r\n", WS_ERR_HS_BODY},
        {"Transfer-Encoding: chunked\r\n", WS_ERR_HS_BODY},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char req[512];
        size_t used;
        ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
        snprintf(req, sizeof req, "%s%s\r\n", REQ_HEAD, cases[i].line);
        assert_int_equal(feed_str(hs, req, &used), cases[i].want);
        if (cases[i].want < 0)
            assert_int_equal(ws_handshake_error_status(hs), 400);
        ws_handshake_free(hs);
    }
}

/* A refusal's body is read only when a single, plain, decimal Content-Length delimits it, and
 * the status can carry one. */
static void test_response_body_rules(void **state)
{
    static const struct {
        const char *resp;
        size_t body;
    } cases[] = {
        {"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabc", 3},
        {"HTTP/1.1 404 Not Found\r\nContent-Length: 3a\r\n\r\nabc", 0},
        {"HTTP/1.1 404 Not Found\r\nContent-Length: 1234567890123456789\r\n\r\nabc", 0},
        {"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nTransfer-Encoding: x\r\n\r\nabc", 0},
        {"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc", 0},
        {"HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\nabc", 0},
        {"HTTP/1.1 100 Continue\r\nContent-Length: 3\r\n\r\nabc", 0},
        {"HTTP/1.1 500 Oops\r\nContent-Length: 40\r\n\r\nabc", 3},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ws_handshake *hs = client(NULL, 1);
        const uint8_t *b;
        size_t used, bn;
        int r = feed_str(hs, cases[i].resp, &used);
        if (cases[i].body == 3 && strstr(cases[i].resp, ": 40"))
            assert_int_equal(r, 0); /* still waiting for the rest of the 40 bytes */
        else
            assert_int_equal(r, WS_ERR_HS_STATUS);
        if (cases[i].body) {
            assert_int_equal(ws_handshake_body(hs, &b, &bn), WS_OK);
            assert_non_null(b);
            assert_int_equal(bn, cases[i].body);
            assert_memory_equal(b, "abc", bn);
        } else {
            /* no body byte kept: WS_ERR_NOT_FOUND with an empty view */
            b = (const uint8_t *)"x";
            bn = 1;
            assert_int_equal(ws_handshake_body(hs, &b, &bn), WS_ERR_NOT_FOUND);
            assert_null(b);
            assert_int_equal(bn, 0);
        }
        ws_handshake_free(hs);
    }
}

/* The client refuses what it did not offer, and an HTTP/1.0 answer. */
static void test_response_negotiation(void **state)
{
    static const char ok_head[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                  "Connection: Upgrade\r\nSec-WebSocket-Accept: " ACCEPT_FOR_KEY_RNG
                                  "\r\n";
    char resp[512];
    size_t used;
    ws_handshake *hs;
    (void)state;

    hs = client(NULL, 0); /* no extensions offered */
    snprintf(resp, sizeof resp, "%sSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
             ok_head);
    assert_int_equal(feed_str(hs, resp, &used), WS_ERR_HS_EXTENSION);
    ws_handshake_free(hs);

    hs = client("x-one", 1); /* another extension offered */
    assert_int_equal(feed_str(hs, resp, &used), WS_ERR_HS_EXTENSION);
    ws_handshake_free(hs);

    hs = client(NULL, 0); /* no subprotocol offered */
    snprintf(resp, sizeof resp, "%sSec-WebSocket-Protocol: chat\r\n\r\n", ok_head);
    assert_int_equal(feed_str(hs, resp, &used), WS_ERR_HS_SUBPROTOCOL);
    ws_handshake_free(hs);

    hs = client(NULL, 1);
    snprintf(resp, sizeof resp, "%s\r\n", ok_head);
    resp[7] = '0'; /* HTTP/1.0 */
    assert_int_equal(feed_str(hs, resp, &used), WS_ERR_HS_VERSION_HTTP);
    ws_handshake_free(hs);

    hs = client(NULL, 1);
    assert_int_equal(feed_str(hs, "HTTP/1.1 99 Too Low\r\n\r\n", &used), WS_ERR_HS_SYNTAX);
    ws_handshake_free(hs);

    hs = client(NULL, 1);
    /* no SP after the status is tolerated; the missing Upgrade is what fails it */
    assert_int_equal(feed_str(hs, "HTTP/1.1 101\r\n\r\n", &used), WS_ERR_HS_UPGRADE);
    ws_handshake_free(hs);

    hs = client(NULL, 1);
    assert_int_equal(feed_str(hs, "HTTP/1.1 101x\r\n\r\n", &used), WS_ERR_HS_SYNTAX);
    ws_handshake_free(hs);

    hs = client(NULL, 1);
    assert_int_equal(feed_str(hs, "HTTP/x.1 101 OK\r\n\r\n", &used), WS_ERR_HS_SYNTAX);
    ws_handshake_free(hs);
}

/* ws_handshake_reject without a reason writes the standard phrase (RFC 9110 section 15) of
 * each status a server is likely to refuse with -- 504 included -- and an empty one only for a
 * code the library does not know. Every phrase is checked exactly. */
static void test_reject_default_reasons(void **state)
{
    static const struct {
        unsigned status;
        const char *phrase;
    } cases[] = {
        {200, "OK"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {303, "See Other"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {408, "Request Timeout"},
        {426, "Upgrade Required"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
        /* codes without a phrase the library knows: an empty reason, nothing made up */
        {299, ""},
        {418, ""},
        {599, ""},
    };
    uint8_t out[512];
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char want[128];
        int n = ws_handshake_reject(cases[i].status, NULL, NULL, NULL, 0, out, sizeof out, NULL);
        assert_true(n > 0);
        int k = snprintf(want, sizeof want, "HTTP/1.1 %u %s\r\n", cases[i].status,
                         cases[i].phrase);
        assert_true(k > 0 && (size_t)k < sizeof want && n >= k);
        if (memcmp(out, want, (size_t)k) != 0)
            print_message("status %u: \"%.*s\"\n", cases[i].status, (int)(strchr(
                              (char *)out, '\r') - (char *)out), (char *)out);
        assert_memory_equal(out, want, (size_t)k);
    }
    /* the statuses the library answers failed requests with all have their phrase */
    static const unsigned own[] = {400, 405, 426, 431, 503, 505};
    for (size_t i = 0; i < sizeof own / sizeof own[0]; i++) {
        int n = ws_handshake_reject(own[i], NULL, NULL, NULL, 0, out, sizeof out - 1, NULL);
        assert_true(n > 0);
        out[n] = 0;
        assert_true(strstr((char *)out, "\r\n") > (char *)out + strlen("HTTP/1.1 400 "));
    }
    assert_int_equal(ws_handshake_reject(199, NULL, NULL, NULL, 0, out, sizeof out, NULL),
                     WS_ERR_ARG_STATUS);
    assert_int_equal(ws_handshake_reject(600, NULL, NULL, NULL, 0, out, sizeof out, NULL),
                     WS_ERR_ARG_STATUS);
    assert_int_equal(
        ws_handshake_reject(403, "bad\r\nreason", NULL, NULL, 0, out, sizeof out, NULL),
        WS_ERR_ARG_STATUS);
    assert_int_equal(
        ws_handshake_reject(403, NULL, "Bad Header\r\n", NULL, 0, out, sizeof out, NULL),
        WS_ERR_ARG_HEADERS);
    assert_int_equal(ws_handshake_reject(403, NULL, NULL, NULL, 0, NULL, 10, NULL),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_reject(403, NULL, NULL, NULL, 4, out, sizeof out, NULL),
                     WS_ERR_INVALID_ARG);
}

static void test_accept_arguments(void **state)
{
    ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
    uint8_t out[512];
    size_t used, need = 0;
    (void)state;

    assert_int_equal(feed_str(hs, REQ_HEAD "Sec-WebSocket-Extensions: x-a; p=1\r\n\r\n", &used),
                     WS_HANDSHAKE_COMPLETE);
    assert_int_equal(ws_handshake_accept(hs, NULL, "x-a; ", NULL, out, sizeof out, NULL),
                     WS_ERR_ARG_EXTENSIONS);
    assert_int_equal(ws_handshake_accept(hs, NULL, "x-b", NULL, out, sizeof out, NULL),
                     WS_ERR_ARG_EXTENSIONS);
    assert_int_equal(ws_handshake_accept(hs, NULL, "", NULL, out, sizeof out, NULL) > 0, 1);
    assert_int_equal(ws_handshake_accept(hs, NULL, NULL, "Bad Header\r\n", out, sizeof out, NULL),
                     WS_ERR_ARG_HEADERS);
    assert_int_equal(ws_handshake_accept(hs, NULL, NULL, "Upgrade: x\r\n", out, sizeof out, NULL),
                     WS_ERR_ARG_HEADERS);
    assert_int_equal(ws_handshake_accept(hs, "chat", NULL, NULL, out, sizeof out, NULL),
                     WS_ERR_ARG_SUBPROTOCOL); /* not offered */
    assert_int_equal(ws_handshake_accept(hs, NULL, NULL, NULL, NULL, 10, NULL),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_accept(hs, NULL, "x-a", NULL, out, 10, &need),
                     WS_ERR_BUFFER_TOO_SMALL);
    assert_true(need > 10);
    assert_int_equal(ws_handshake_accept(hs, NULL, "x-a", NULL, out, need, NULL), (int)need);
    /* a successful request has no error to write */
    assert_int_equal(ws_handshake_write_error(hs, out, sizeof out, &need), WS_ERR_STATE);
    assert_int_equal(ws_handshake_write_error(hs, NULL, 5, &need), WS_ERR_INVALID_ARG);
    ws_handshake_free(hs);
}

static void test_h2_edges(void **state)
{
    ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
    size_t used;
    (void)state;

    /* an error is sticky: later fields and the end report it again */
    assert_int_equal(ws_h2_add_header(hs, "Bad", 3, "v", 1), WS_ERR_H2_HEADER);
    assert_int_equal(ws_h2_add_header(hs, "ok", 2, "v", 1), WS_ERR_H2_HEADER);
    assert_int_equal(ws_h2_end_headers(hs), WS_ERR_H2_HEADER);
    assert_int_equal(ws_h2_add_header(hs, NULL, 1, "v", 1), WS_ERR_INVALID_ARG);
    ws_handshake_free(hs);

    /* HTTP/1.1 bytes and HTTP/2 fields don't mix */
    hs = new_hs(WS_ROLE_SERVER, NULL);
    assert_int_equal(feed_str(hs, "GET", &used), 0);
    assert_int_equal(ws_h2_add_header(hs, ":method", 7, "CONNECT", 7), WS_ERR_STATE);
    assert_int_equal(ws_h2_end_headers(hs), WS_ERR_STATE);
    ws_handshake_free(hs);

    hs = new_hs(WS_ROLE_CLIENT, NULL);
    assert_int_equal(ws_h2_end_headers(hs), WS_ERR_STATE);
    ws_handshake_free(hs);

    /* too many fields */
    hs = new_hs(WS_ROLE_SERVER, NULL);
    assert_int_equal(ws_handshake_set_max_headers(hs, 2), WS_OK);
    assert_int_equal(ws_h2_add_header(hs, ":method", 7, "CONNECT", 7), WS_OK);
    assert_int_equal(ws_h2_add_header(hs, ":path", 5, "/", 1), WS_OK);
    assert_int_equal(ws_h2_add_header(hs, ":scheme", 7, "https", 5), WS_ERR_HS_TOO_MANY_HEADERS);
    ws_handshake_free(hs);
}

/* Request lines and header lines at the edges of the syntax. */
static void test_http_syntax_edges(void **state)
{
    static const struct {
        const char *req;
        int want;
    } cases[] = {
        {"GET /chat HTTP/1.1 \r\n", WS_ERR_HS_SYNTAX},
        {"GET  /chat HTTP/1.1\r\n", WS_ERR_HS_SYNTAX},
        {"GET /chat HTTP/11.1\r\n", WS_ERR_HS_SYNTAX},
        {"GET /chat HTTP/1.1\r\nHost : h\r\n", WS_ERR_HS_SYNTAX},
        {"GET /chat HTTP/1.1\r\n: h\r\n", WS_ERR_HS_SYNTAX},
        {"GET /chat HTTP/2.0\r\n", WS_ERR_HS_VERSION_HTTP},
        {"GET /chat HTTP/1.1\r\nX: a\x7f" "b\r\n", WS_ERR_HS_CTL_CHAR},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
        size_t used;
        char req[512];
        int r;
        snprintf(req, sizeof req, "%s%s", cases[i].req,
                 cases[i].want == WS_ERR_HS_VERSION_HTTP
                     ? "Host: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n"
                     : "\r\n");
        r = feed_str(hs, req, &used);
        if (r != cases[i].want)
            fail_msg("case %zu: got %s, want %s", i, ws_errname(r), ws_errname(cases[i].want));
        ws_handshake_free(hs);
    }
}

/* Header values: trailing whitespace trimmed, lists with quoted parameters and escapes. */
static void test_lists_and_whitespace(void **state)
{
    ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
    const char *p, *v;
    size_t n, vn, np, used;
    (void)state;

    assert_int_equal(feed_str(hs,
                              REQ_HEAD "Origin: http://o \t \r\n"
                                       "Sec-WebSocket-Protocol: a, , b\r\n"
                                       "Sec-WebSocket-Extensions: x; q=\"a\\\"b\", y\r\n\r\n",
                              &used),
                     WS_HANDSHAKE_COMPLETE);
    assert_int_equal(ws_handshake_header(hs, "origin", 0, &p, &n), WS_OK);
    assert_int_equal(n, 8);
    assert_int_equal(ws_handshake_subprotocol_count(hs), 2);
    assert_int_equal(ws_handshake_extension_count(hs), 2);
    assert_int_equal(ws_handshake_extension(hs, 0, &p, &n, &np), WS_OK);
    assert_int_equal(np, 1);
    assert_int_equal(ws_handshake_extension_param(hs, 0, 0, &p, &n, &v, &vn), WS_OK);
    assert_string_equal(v, "a\"b");
    /* index lookups past the end: WS_ERR_NOT_FOUND (rule 2) */
    assert_int_equal(ws_handshake_extension_param(hs, 0, 1, &p, &n, &v, &vn), WS_ERR_NOT_FOUND);
    assert_int_equal(ws_handshake_extension_param(hs, 5, 0, &p, &n, &v, &vn), WS_ERR_NOT_FOUND);
    assert_int_equal(ws_handshake_extension(hs, 2, &p, &n, &np), WS_ERR_NOT_FOUND);
    assert_null(p); /* an empty view */
    assert_int_equal(n, 0);
    assert_int_equal(ws_handshake_subprotocol(hs, 2, &p, &n), WS_ERR_NOT_FOUND);
    assert_int_equal(ws_handshake_header_at(hs, 99, &p, &n, &v, &vn), WS_ERR_NOT_FOUND);
    assert_null(p);
    assert_null(v);
    assert_int_equal(vn, 0);
    assert_int_equal(ws_handshake_header_at(hs, 0, NULL, NULL, NULL, NULL), WS_OK);
    assert_int_equal(ws_handshake_header(hs, NULL, 0, &p, &n), WS_ERR_INVALID_ARG);
    ws_handshake_free(hs);

    /* a quoted value that ends in a lone backslash, and an empty subprotocol list */
    hs = new_hs(WS_ROLE_SERVER, NULL);
    assert_int_equal(feed_str(hs, REQ_HEAD "Sec-WebSocket-Extensions: x; q=\"a\\\r\n\r\n", &used),
                     WS_ERR_HS_EXTENSION);
    ws_handshake_free(hs);
    hs = new_hs(WS_ROLE_SERVER, NULL);
    assert_int_equal(feed_str(hs, REQ_HEAD "Sec-WebSocket-Protocol: a b\r\n\r\n", &used),
                     WS_ERR_HS_SUBPROTOCOL);
    ws_handshake_free(hs);
}

static void test_uri_edges(void **state)
{
    static const struct {
        const char *s;
        int want;
    } cases[] = {
        {"ws://%41%42/", WS_OK},
        {"ws://a!$&'()*+,;=b/", WS_OK},
        {"ws://[v1.a%41]/", WS_ERR_URI_HOST},
        {"ws://[fe80::1%25en%300]/", WS_OK},
        {"ws://[fe80::1%25]/", WS_ERR_URI_HOST},
        {"ws://[fe80::1%2]/", WS_ERR_URI_HOST},
        {"ws://[fe80::1%25e~]/", WS_OK},
        {"ws://[fe80::1%25e^]/", WS_ERR_URI_HOST},
        {"ws://h/%4", WS_ERR_URI_PATH},
        {"ws://h/?%4g", WS_ERR_URI_PATH},
        {"w+s://h/", WS_ERR_URI_SCHEME},
        {"w-s.://h/", WS_ERR_URI_SCHEME},
        {"1ws://h/", WS_ERR_URI_SCHEME},
        {"ws:/h/", WS_ERR_URI_HOST},
        {"ws://h:/", WS_ERR_URI_PORT},
        {"ws://h:99999/", WS_ERR_URI_PORT},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ws_uri u;
        int r = ws_uri_parse(cases[i].s, strlen(cases[i].s), &u, sizeof u);
        if (r != cases[i].want)
            fail_msg("%s: got %s, want %s", cases[i].s, ws_errname(r), ws_errname(cases[i].want));
    }
    assert_int_equal(ws_uri_parse(NULL, 3, NULL, sizeof(ws_uri)), WS_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_setters),
        cmocka_unit_test(test_null_accessors),
        cmocka_unit_test(test_request_content_length),
        cmocka_unit_test(test_response_body_rules),
        cmocka_unit_test(test_response_negotiation),
        cmocka_unit_test(test_reject_default_reasons),
        cmocka_unit_test(test_accept_arguments),
        cmocka_unit_test(test_h2_edges),
        cmocka_unit_test(test_http_syntax_edges),
        cmocka_unit_test(test_lists_and_whitespace),
        cmocka_unit_test(test_uri_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
