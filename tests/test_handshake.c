/* Handshake layer: HTTP/1.1 upgrade (server and client), limits, negotiation, HTTP/2 extended
 * CONNECT, allocation failures. URIs are in test_uri.c. */
#include "testutil.h"

#include "hash.h"
#include "ws.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- feeding helpers ---- */

/* Feed data[0..n) in pieces of `step` bytes (0: at once), the first piece `first` bytes long
 * when non-zero; every piece is a guarded copy so a read past it faults. Stops at the first
 * non-zero return. *consumed = total bytes consumed. */
static int feed_pieces(ws_handshake *hs, const void *data, size_t n, size_t first, size_t step,
                       size_t *consumed)
{
    const uint8_t *d = data;
    size_t pos = 0;
    int r = 0;

    *consumed = 0;
    while (pos < n) {
        size_t k = n - pos, used = 999999;
        if (pos == 0 && first)
            k = first < n ? first : n;
        else if (step && k > step)
            k = step;
        guarded g = guarded_copy(d + pos, k);
        r = ws_handshake_feed(hs, g.data, k, &used);
        guarded_free(&g);
        assert_true(used <= k);
        *consumed += used;
        if (r != 0)
            return r;
        assert_int_equal(used, k);
        pos += k;
    }
    return r;
}

/* Run a server over `req` in every feeding pattern (at once, byte by byte, split at every
 * point) and check each gives want (and, when complete, consumes exactly want_used bytes). */
static void server_expect(const char *req, size_t n, int want, size_t want_used)
{
    for (size_t split = 0; split <= n + 1; split++) {
        ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
        size_t used;
        int r;
        assert_non_null(hs);
        if (split == n + 1)
            r = feed_pieces(hs, req, n, 0, 1, &used);
        else
            r = feed_pieces(hs, req, n, split, 0, &used);
        if (r != want)
            fprintf(stderr, "split %zu: got %s want %s\n%s\n", split, ws_errname(r),
                    ws_errname(want), req);
        assert_int_equal(r, want);
        if (want == WS_HANDSHAKE_COMPLETE)
            assert_int_equal(used, want_used);
        assert_int_equal(ws_handshake_result(hs), want);
        ws_handshake_free(hs);
    }
}

#define FEED_STR(hs, s, used) feed_pieces(hs, s, strlen(s), 0, 0, used)

static ws_handshake *server_parse(const char *req, int want)
{
    ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
    size_t used;
    assert_non_null(hs);
    assert_int_equal(feed_pieces(hs, req, strlen(req), 0, 0, &used), want);
    return hs;
}

/* ---- requests ---- */

#define RL "GET /chat HTTP/1.1\r\n"
#define H_HOST "Host: server.example.com\r\n"
#define H_UP "Upgrade: websocket\r\n"
#define H_CONN "Connection: Upgrade\r\n"
#define H_KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
#define H_VER "Sec-WebSocket-Version: 13\r\n"
#define GOOD H_HOST H_UP H_CONN H_KEY H_VER
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* The header set Chromium sends for new WebSocket("wss://example.com/socket?room=1"). */
static const char chromium[] =
    "GET /socket?room=1 HTTP/1.1\r\n"
    "Host: example.com\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: https://example.com\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br\r\n"
    "Accept-Language: en-US,en;q=0.9\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n";

/* A masked text frame "Hello" (RFC 6455 5.7) pipelined behind the request. */
static const uint8_t hello_frame[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d,
                                      0x7f, 0x9f, 0x4d, 0x51, 0x58};

static void check_chromium_views(const ws_handshake *hs)
{
    const char *p, *v;
    size_t n, nv, np;

    assert_int_equal(ws_handshake_method(hs, &p, &n), WS_OK);
    assert_view(p, n, "GET");
    assert_int_equal(ws_handshake_target(hs, &p, &n), WS_OK);
    assert_view(p, n, "/socket?room=1");
    assert_int_equal(ws_handshake_host(hs, &p, &n), WS_OK);
    assert_view(p, n, "example.com");
    assert_int_equal(ws_handshake_header(hs, "origin", 0, &p, &n), WS_OK);
    assert_view(p, n, "https://example.com");
    assert_int_equal(ws_handshake_header(hs, "ACCEPT-ENCODING", 0, &p, &n), WS_OK);
    assert_view(p, n, "gzip, deflate, br");
    assert_int_equal(ws_handshake_header(hs, "Cookie", 0, &p, &n), WS_ERR_NOT_FOUND);
    assert_null(p);
    assert_int_equal(n, 0);
    assert_int_equal(ws_handshake_header(hs, "Origin", 1, &p, &n), WS_ERR_NOT_FOUND);
    assert_int_equal(ws_handshake_header_count(hs), 12);
    assert_int_equal(ws_handshake_header_at(hs, 2, &p, &n, &v, &nv), WS_OK);
    assert_view(p, n, "Pragma");
    assert_view(v, nv, "no-cache");
    assert_int_equal(ws_handshake_header_at(hs, 12, &p, &n, &v, &nv), WS_ERR_NOT_FOUND);
    assert_int_equal(ws_handshake_subprotocol_count(hs), 0);
    assert_int_equal(ws_handshake_extension_count(hs), 1);
    assert_int_equal(ws_handshake_extension(hs, 0, &p, &n, &np), WS_OK);
    assert_view(p, n, "permessage-deflate");
    assert_int_equal(np, 1);
    assert_int_equal(ws_handshake_extension_param(hs, 0, 0, &p, &n, &v, &nv), WS_OK);
    assert_view(p, n, "client_max_window_bits");
    assert_null(v);
    assert_int_equal(nv, 0);
    assert_int_equal(ws_handshake_extension_param(hs, 0, 1, &p, &n, &v, &nv), WS_ERR_NOT_FOUND);
    /* an extension index one past the last is not found either */
    assert_int_equal(ws_handshake_extension_param(hs, 1, 0, &p, &n, &v, &nv), WS_ERR_NOT_FOUND);
    assert_null(p);
    assert_null(v);
}

/* After a reset, a request with fewer extensions than the last one shows only its own: the
 * index past its last is not found (nothing of the earlier request shows through). */
static void test_extensions_after_reset(void **state)
{
    ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
    const char *p, *v;
    size_t used, n, nv, np;
    (void)state;
    assert_int_equal(FEED_STR(hs, RL GOOD "Sec-WebSocket-Extensions: x-a; p=1, x-b; q=2\r\n\r\n",
                              &used),
                     WS_HANDSHAKE_COMPLETE);
    assert_int_equal(ws_handshake_extension_count(hs), 2);
    assert_int_equal(ws_handshake_reset(hs), WS_OK);
    assert_int_equal(FEED_STR(hs, RL GOOD "Sec-WebSocket-Extensions: x-c; r=3\r\n\r\n", &used),
                     WS_HANDSHAKE_COMPLETE);
    assert_int_equal(ws_handshake_extension_count(hs), 1);
    assert_int_equal(ws_handshake_extension(hs, 1, &p, &n, &np), WS_ERR_NOT_FOUND);
    assert_int_equal(ws_handshake_extension_param(hs, 1, 0, &p, &n, &v, &nv), WS_ERR_NOT_FOUND);
    assert_null(p);
    assert_int_equal(ws_handshake_extension_param(hs, 0, 0, &p, &n, &v, &nv), WS_OK);
    assert_view(p, n, "r");
    assert_view(v, nv, "3");
    ws_handshake_free(hs);
}

static void test_chromium_every_split(void **state)
{
    size_t rn = sizeof chromium - 1, n = rn + sizeof hello_frame;
    uint8_t *wire = malloc(n);

    (void)state;
    assert_non_null(wire);
    memcpy(wire, chromium, rn);
    memcpy(wire + rn, hello_frame, sizeof hello_frame);
    /* split == n + 1 means byte by byte */
    for (size_t split = 0; split <= n + 1; split++) {
        ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
        size_t used, again = 7;
        int r = split == n + 1 ? feed_pieces(hs, wire, n, 0, 1, &used)
                               : feed_pieces(hs, wire, n, split, 0, &used);
        assert_int_equal(r, WS_HANDSHAKE_COMPLETE);
        /* Exactly the request: the frame bytes are left to the caller, never swallowed. */
        assert_int_equal(used, rn);
        check_chromium_views(hs);
        assert_int_equal(ws_handshake_feed(hs, wire + rn, sizeof hello_frame, &again),
                         WS_HANDSHAKE_COMPLETE);
        assert_int_equal(again, 0);
        ws_handshake_free(hs);
    }
    free(wire);
}

static void test_rfc_example_accept(void **state)
{
    static const char req[] = "GET /chat HTTP/1.1\r\n"
                              "Host: server.example.com\r\n"
                              "Upgrade: websocket\r\n"
                              "Connection: Upgrade\r\n"
                              "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Origin: http://example.com\r\n"
                              "Sec-WebSocket-Protocol: chat, superchat\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n";
    static const char want[] = "HTTP/1.1 101 Switching Protocols\r\n"
                               "Upgrade: websocket\r\n"
                               "Connection: Upgrade\r\n"
                               "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
                               "Sec-WebSocket-Protocol: chat\r\n\r\n";
    char accept[29];
    uint8_t out[256];
    size_t need = 0;
    ws_handshake *hs;

    (void)state;
    ws__accept_key("dGhlIHNhbXBsZSBub25jZQ==", 24, accept);
    assert_string_equal(accept, RFC_ACCEPT);
    server_expect(req, sizeof req - 1, WS_HANDSHAKE_COMPLETE, sizeof req - 1);
    hs = server_parse(req, WS_HANDSHAKE_COMPLETE);
    /* size query, too small, exact */
    assert_int_equal(ws_handshake_accept(hs, "chat", NULL, NULL, NULL, 0, &need),
                     WS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(need, sizeof want - 1);
    assert_int_equal(ws_handshake_accept(hs, "chat", NULL, NULL, out, need - 1, &need),
                     WS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(ws_handshake_accept(hs, "chat", NULL, NULL, out, need, &need),
                     (int)sizeof want - 1);
    assert_memory_equal(out, want, sizeof want - 1);
    ws_handshake_free(hs);
}

typedef struct rule_case {
    const char *req;
    int want;
    int status; /* what write_error answers with; 0 when want == WS_HANDSHAKE_COMPLETE */
} rule_case;

static const rule_case rules[] = {
    /* the baseline, and each rule broken */
    {RL GOOD "\r\n", WS_HANDSHAKE_COMPLETE, 0},
    {"POST /chat HTTP/1.1\r\n" GOOD "\r\n", WS_ERR_HS_METHOD, 405},
    {"get /chat HTTP/1.1\r\n" GOOD "\r\n", WS_ERR_HS_METHOD, 405},
    {"GET /chat HTTP/1.0\r\n" GOOD "\r\n", WS_ERR_HS_VERSION_HTTP, 505},
    {"GET /chat HTTP/2.0\r\n" GOOD "\r\n", WS_ERR_HS_VERSION_HTTP, 505},
    {"GET /chat HTTP/1.2\r\n" GOOD "\r\n", WS_HANDSHAKE_COMPLETE, 0},
    {"GET http://server.example.com/chat HTTP/1.1\r\n" GOOD "\r\n", WS_HANDSHAKE_COMPLETE, 0},
    {RL H_UP H_CONN H_KEY H_VER "\r\n", WS_ERR_HS_NO_HOST, 400},
    {RL "Host:\r\n" H_UP H_CONN H_KEY H_VER "\r\n", WS_ERR_HS_NO_HOST, 400},
    {RL H_HOST H_CONN H_KEY H_VER "\r\n", WS_ERR_HS_UPGRADE, 400},
    {RL H_HOST "Upgrade: h2c\r\n" H_CONN H_KEY H_VER "\r\n", WS_ERR_HS_UPGRADE, 400},
    {RL H_HOST "Upgrade: websocket2\r\n" H_CONN H_KEY H_VER "\r\n", WS_ERR_HS_UPGRADE, 400},
    {RL H_HOST "Upgrade: h2c, WebSocket\r\n" H_CONN H_KEY H_VER "\r\n", WS_HANDSHAKE_COMPLETE, 0},
    {RL H_HOST "Upgrade: h2c\r\nUpgrade:websocket \r\n" H_CONN H_KEY H_VER "\r\n",
     WS_HANDSHAKE_COMPLETE, 0},
    {RL H_HOST H_UP H_KEY H_VER "\r\n", WS_ERR_HS_CONNECTION, 400},
    {RL H_HOST H_UP "Connection: keep-alive\r\n" H_KEY H_VER "\r\n", WS_ERR_HS_CONNECTION, 400},
    {RL H_HOST H_UP "Connection: keep-alive,upgrade\r\n" H_KEY H_VER "\r\n", WS_HANDSHAKE_COMPLETE,
     0},
    {RL H_HOST H_UP "Connection: keep-alive, , Upgrade\r\n" H_KEY H_VER "\r\n",
     WS_HANDSHAKE_COMPLETE, 0},
    {RL H_HOST H_UP "Connection: keep-alive\r\nConnection: UPGRADE\r\n" H_KEY H_VER "\r\n",
     WS_HANDSHAKE_COMPLETE, 0},
    {RL H_HOST H_UP H_CONN H_VER "\r\n", WS_ERR_HS_KEY, 400},
    {RL H_HOST H_UP H_CONN "Sec-WebSocket-Key: dGhlIHNhbXBsZQ==\r\n" H_VER "\r\n", WS_ERR_HS_KEY,
     400},
    {RL H_HOST H_UP H_CONN "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZSE=\r\n" H_VER "\r\n",
     WS_ERR_HS_KEY, 400},
    {RL H_HOST H_UP H_CONN "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n" H_VER "\r\n",
     WS_ERR_HS_KEY, 400},
    {RL H_HOST H_UP H_CONN "Sec-WebSocket-Key: dGhlIHNhbXBs*SBub25jZQ==\r\n" H_VER "\r\n",
     WS_ERR_HS_KEY, 400},
    {RL H_HOST H_UP H_CONN "Sec-WebSocket-Key:   dGhlIHNhbXBsZSBub25jZQ==  \r\n" H_VER "\r\n",
     WS_HANDSHAKE_COMPLETE, 0},
    {RL H_HOST H_UP H_CONN H_KEY "\r\n", WS_ERR_HS_WS_VERSION, 426},
    {RL H_HOST H_UP H_CONN H_KEY "Sec-WebSocket-Version: 8\r\n\r\n", WS_ERR_HS_WS_VERSION, 426},
    {RL H_HOST H_UP H_CONN H_KEY "Sec-WebSocket-Version: 13, 8\r\n\r\n", WS_ERR_HS_WS_VERSION, 426},
    /* old hixie-76 clients send no version: 426 tells them what we speak */
    {RL H_HOST H_UP H_CONN "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\n\r\n", WS_ERR_HS_WS_VERSION,
     426},
    /* line structure */
    {"GET /chat HTTP/1.1\n" GOOD "\r\n", WS_ERR_HS_BARE_LF, 400},
    {RL "Host: a\n" H_UP H_CONN H_KEY H_VER "\r\n", WS_ERR_HS_BARE_LF, 400},
    {RL GOOD "\n", WS_ERR_HS_BARE_LF, 400},
    {RL "Host: a\rb\r\n" H_UP H_CONN H_KEY H_VER "\r\n", WS_ERR_HS_BARE_LF, 400},
    {RL H_HOST "X-Long: a\r\n b\r\n" H_UP H_CONN H_KEY H_VER "\r\n", WS_ERR_HS_OBS_FOLD, 400},
    {RL H_HOST "X-Long: a\r\n\tb\r\n" H_UP H_CONN H_KEY H_VER "\r\n", WS_ERR_HS_OBS_FOLD, 400},
    {RL " Host: a\r\n" H_UP H_CONN H_KEY H_VER "\r\n", WS_ERR_HS_SYNTAX, 400},
    {RL H_HOST "X-A: a\x01z\r\n" H_UP H_CONN H_KEY H_VER "\r\n", WS_ERR_HS_CTL_CHAR, 400},
    {RL H_HOST "X-A: a\x7fz\r\n" H_UP H_CONN H_KEY H_VER "\r\n", WS_ERR_HS_CTL_CHAR, 400},
    {RL H_HOST "X-\x1b: a\r\n" H_UP H_CONN H_KEY H_VER "\r\n", WS_ERR_HS_CTL_CHAR, 400},
    {"GET /ch\x01t HTTP/1.1\r\n" GOOD "\r\n", WS_ERR_HS_CTL_CHAR, 400},
    {RL H_HOST "X-A: tab\there, obs-text \xc3\xa9\r\n" H_UP H_CONN H_KEY H_VER "\r\n",
     WS_HANDSHAKE_COMPLETE, 0},
    {RL H_HOST "X-A : a\r\n" H_UP H_CONN H_KEY H_VER "\r\n", WS_ERR_HS_SYNTAX, 400},
    {RL H_HOST "X-A a\r\n" H_UP H_CONN H_KEY H_VER "\r\n", WS_ERR_HS_SYNTAX, 400},
    {RL H_HOST ": a\r\n" H_UP H_CONN H_KEY H_VER "\r\n", WS_ERR_HS_SYNTAX, 400},
    {RL H_HOST "X(A): a\r\n" H_UP H_CONN H_KEY H_VER "\r\n", WS_ERR_HS_SYNTAX, 400},
    {"GET  /chat HTTP/1.1\r\n" GOOD "\r\n", WS_ERR_HS_SYNTAX, 400},
    {"GET /chat\r\n" GOOD "\r\n", WS_ERR_HS_SYNTAX, 400},
    {"GET /chat HTTP/1.1 \r\n" GOOD "\r\n", WS_ERR_HS_SYNTAX, 400},
    {"GET /chat HTTP/11\r\n" GOOD "\r\n", WS_ERR_HS_SYNTAX, 400},
    {"GET /chat http/1.1\r\n" GOOD "\r\n", WS_ERR_HS_SYNTAX, 400},
    {"GET /ch\xc3\xa9 HTTP/1.1\r\n" GOOD "\r\n", WS_ERR_HS_SYNTAX, 400},
    {"\r\n" RL GOOD "\r\n", WS_ERR_HS_SYNTAX, 400},
    /* singletons */
    {RL GOOD H_HOST "\r\n", WS_ERR_HS_DUPLICATE, 400},
    {RL GOOD H_KEY "\r\n", WS_ERR_HS_DUPLICATE, 400},
    {RL GOOD H_VER "\r\n", WS_ERR_HS_DUPLICATE, 400},
    {RL GOOD "Origin: http://a\r\nOrigin: http://b\r\n\r\n", WS_ERR_HS_DUPLICATE, 400},
    {RL GOOD "Authorization: a\r\nauthorization: b\r\n\r\n", WS_ERR_HS_DUPLICATE, 400},
    {RL GOOD "Cookie: a=1\r\nCookie: b=2\r\n\r\n", WS_HANDSHAKE_COMPLETE, 0},
    /* a body would make the following bytes ambiguous */
    {RL GOOD "Content-Length: 0\r\n\r\n", WS_HANDSHAKE_COMPLETE, 0},
    {RL GOOD "Content-Length: 5\r\n\r\n", WS_ERR_HS_BODY, 400},
    {RL GOOD "Content-Length: 000\r\n\r\n", WS_HANDSHAKE_COMPLETE, 0}, /* zero, however written */
    {RL GOOD "Content-Length: 01\r\n\r\n", WS_ERR_HS_BODY, 400},     /* every digit counts */
    {RL GOOD "Content-Length: 001\r\n\r\n", WS_ERR_HS_BODY, 400},
    {RL GOOD "Transfer-Encoding: chunked\r\n\r\n", WS_ERR_HS_BODY, 400},
    /* subprotocol and extension syntax */
    {RL GOOD "Sec-WebSocket-Protocol: chat, , superchat\r\n\r\n", WS_HANDSHAKE_COMPLETE, 0},
    {RL GOOD "Sec-WebSocket-Protocol: chat superchat\r\n\r\n", WS_ERR_HS_SUBPROTOCOL, 400},
    {RL GOOD "Sec-WebSocket-Protocol: a/b\r\n\r\n", WS_ERR_HS_SUBPROTOCOL, 400},
    {RL GOOD "Sec-WebSocket-Extensions: a; b=1; c=\"x y\", d\r\n\r\n", WS_HANDSHAKE_COMPLETE, 0},
    {RL GOOD "Sec-WebSocket-Extensions: permessage-deflate;\r\n\r\n", WS_ERR_HS_EXTENSION, 400},
    {RL GOOD "Sec-WebSocket-Extensions: ;a\r\n\r\n", WS_ERR_HS_EXTENSION, 400},
    {RL GOOD "Sec-WebSocket-Extensions: a; b=\"open\r\n\r\n", WS_ERR_HS_EXTENSION, 400},
    {RL GOOD "Sec-WebSocket-Extensions: a; b=\r\n\r\n", WS_ERR_HS_EXTENSION, 400},
    {RL GOOD "Sec-WebSocket-Extensions: a b\r\n\r\n", WS_ERR_HS_EXTENSION, 400},
    {RL GOOD "Sec-WebSocket-Extensions: a; b=c=d\r\n\r\n", WS_ERR_HS_EXTENSION, 400},
};

static void test_request_rules(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rules / sizeof rules[0]; i++) {
        const rule_case *c = &rules[i];
        size_t n = strlen(c->req), need = 0;
        uint8_t out[512];
        char line[32];
        ws_handshake *hs;
        int r;

        server_expect(c->req, n, c->want, n);
        hs = server_parse(c->req, c->want);
        assert_int_equal(ws_handshake_error_status(hs), c->status);
        r = ws_handshake_write_error(hs, out, sizeof out, &need);
        if (c->want == WS_HANDSHAKE_COMPLETE) {
            assert_int_equal(r, WS_ERR_STATE);
        } else {
            assert_true(r > 0);
            assert_int_equal((size_t)r, need);
            snprintf(line, sizeof line, "HTTP/1.1 %d ", c->status);
            assert_memory_equal(out, line, strlen(line));
        }
        ws_handshake_free(hs);
    }
}

static void test_views_after_semantic_error(void **state)
{
    /* A plain GET is not an upgrade, but the server may still want to serve it. */
    ws_handshake *hs =
        server_parse("GET /index.html?a=%20 HTTP/1.1\r\nHost: h\r\n\r\n", WS_ERR_HS_UPGRADE);
    const char *p;
    size_t n;

    (void)state;
    assert_int_equal(ws_handshake_target(hs, &p, &n), WS_OK);
    assert_view(p, n, "/index.html?a=%20");
    assert_int_equal(ws_handshake_header(hs, "host", 0, &p, &n), WS_OK);
    assert_view(p, n, "h");
    assert_int_equal(ws_handshake_accept(hs, NULL, NULL, NULL, NULL, 0, NULL), WS_ERR_STATE);
    /* sticky */
    assert_int_equal(ws_handshake_feed(hs, (const uint8_t *)"x", 1, &n), WS_ERR_HS_UPGRADE);
    assert_int_equal(n, 0);
    ws_handshake_free(hs);

    /* a syntax error leaves nothing to look at */
    hs = server_parse("GET /x HTTP/1.1\nHost: h\r\n\r\n", WS_ERR_HS_BARE_LF);
    assert_int_equal(ws_handshake_target(hs, &p, &n), WS_ERR_STATE);
    assert_int_equal(ws_handshake_header(hs, "Host", 0, &p, &n), WS_ERR_STATE);
    ws_handshake_free(hs);

    /* nor does an incomplete one */
    hs = server_parse("GET /x HTTP/1.1\r\nHost: h\r\n", 0);
    assert_int_equal(ws_handshake_target(hs, &p, &n), WS_ERR_STATE);
    assert_int_equal(ws_handshake_result(hs), 0);
    assert_int_equal(ws_handshake_error_status(hs), 0);
    ws_handshake_free(hs);
}

static void test_error_responses(void **state)
{
    uint8_t out[512];
    size_t need = 0;
    ws_handshake *hs;
    int r;

    (void)state;
    hs = server_parse(RL H_HOST H_UP H_CONN H_KEY "Sec-WebSocket-Version: 8\r\n\r\n",
                      WS_ERR_HS_WS_VERSION);
    r = ws_handshake_write_error(hs, out, sizeof out, &need);
    static const char w426[] = "HTTP/1.1 426 Upgrade Required\r\n"
                               "Upgrade: websocket\r\n"
                               "Sec-WebSocket-Version: 13\r\n"
                               "Content-Length: 0\r\n"
                               "Connection: Upgrade, close\r\n\r\n";
    assert_int_equal(r, (int)sizeof w426 - 1);
    assert_memory_equal(out, w426, sizeof w426 - 1);
    assert_int_equal(ws_handshake_write_error(hs, out, 10, &need), WS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(need, sizeof w426 - 1);
    ws_handshake_free(hs);

    hs = server_parse("PUT / HTTP/1.1\r\n" GOOD "\r\n", WS_ERR_HS_METHOD);
    static const char w405[] = "HTTP/1.1 405 Method Not Allowed\r\nAllow: GET\r\n"
                               "Content-Length: 0\r\nConnection: close\r\n\r\n";
    r = ws_handshake_write_error(hs, out, sizeof out, NULL);
    assert_int_equal(r, (int)sizeof w405 - 1);
    assert_memory_equal(out, w405, sizeof w405 - 1);
    ws_handshake_free(hs);

    hs = server_parse(RL "\r\n", WS_ERR_HS_NO_HOST);
    static const char w400[] = "HTTP/1.1 400 Bad Request\r\n"
                               "Content-Length: 0\r\nConnection: close\r\n\r\n";
    r = ws_handshake_write_error(hs, out, sizeof out, NULL);
    assert_int_equal(r, (int)sizeof w400 - 1);
    assert_memory_equal(out, w400, sizeof w400 - 1);
    ws_handshake_free(hs);
}

/* ---- limits ---- */

/* A request of exactly `total` bytes: RL GOOD, then X-Pad filling, then CRLF. */
static char *padded_request(size_t total)
{
    static const char head[] = RL GOOD "X-Pad: ";
    size_t h = sizeof head - 1;
    char *s = malloc(total + 1);

    assert_non_null(s);
    assert_true(total >= h + 4);
    memcpy(s, head, h);
    memset(s + h, 'a', total - h - 4);
    memcpy(s + total - 4, "\r\n\r\n", 5);
    return s;
}

static void test_header_size_limit(void **state)
{
    char *ok = padded_request(8192), *big = padded_request(8193);
    failalloc fa;
    ws_allocator a = failalloc_init(&fa, -1, 0);
    ws_handshake *hs;
    size_t used;
    uint8_t out[256];

    (void)state;
    /* at the limit: accepted at once, byte by byte, and split at a few points */
    for (size_t split = 0; split < 8192; split += 1021) {
        hs = new_hs(WS_ROLE_SERVER, NULL);
        assert_int_equal(feed_pieces(hs, ok, 8192, split, split == 0 ? 1 : 0, &used),
                         WS_HANDSHAKE_COMPLETE);
        assert_int_equal(used, 8192);
        ws_handshake_free(hs);
    }
    hs = new_hs(WS_ROLE_SERVER, &a);
    assert_int_equal(feed_pieces(hs, big, 8193, 0, 0, &used), WS_ERR_HS_TOO_LARGE);
    /* nothing grew past the limit */
    assert_true(fa.biggest <= 8192);
    assert_int_equal(used, 8192);
    assert_int_equal(ws_handshake_error_status(hs), 431);
    assert_true(ws_handshake_write_error(hs, out, sizeof out, NULL) > 0);
    assert_memory_equal(out, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46);
    ws_handshake_free(hs);
    assert_int_equal(fa.live, 0);

    /* an endless request line stops at the limit too, whatever the feeding pattern */
    for (size_t step = 1; step <= 4096; step *= 8) {
        uint8_t junk[4096];
        size_t total = 0;
        int r = 0;
        memset(junk, 'a', sizeof junk);
        memcpy(junk, "GET /", 5);
        hs = new_hs(WS_ROLE_SERVER, &a);
        for (int i = 0; i < 20000 && r == 0; i++) {
            size_t k = i == 0 ? sizeof junk : step < sizeof junk - 5 ? step : sizeof junk - 5;
            r = ws_handshake_feed(hs, i == 0 ? junk : junk + 5, k, &used);
            total += used;
        }
        assert_int_equal(r, WS_ERR_HS_TOO_LARGE);
        assert_int_equal(total, 8192);
        ws_handshake_free(hs);
    }
    assert_true(fa.biggest <= 8192);

    /* configurable, only before the first byte */
    hs = new_hs(WS_ROLE_SERVER, NULL);
    assert_int_equal(ws_handshake_set_max_header_size(hs, 63), WS_ERR_RANGE);
    assert_int_equal(ws_handshake_set_max_header_size(hs, 8191), WS_OK);
    assert_int_equal(feed_pieces(hs, ok, 8192, 0, 0, &used), WS_ERR_HS_TOO_LARGE);
    assert_int_equal(ws_handshake_set_max_header_size(hs, 9000), WS_ERR_STATE);
    assert_int_equal(ws_handshake_set_max_headers(hs, 9), WS_ERR_STATE);
    assert_int_equal(ws_handshake_reset(hs), WS_OK);
    assert_int_equal(feed_pieces(hs, ok, 8192, 0, 0, &used), WS_ERR_HS_TOO_LARGE);
    assert_int_equal(ws_handshake_reset(hs), WS_OK);
    assert_int_equal(ws_handshake_set_max_header_size(hs, 16384), WS_OK);
    assert_int_equal(feed_pieces(hs, big, 8193, 0, 0, &used), WS_HANDSHAKE_COMPLETE);
    ws_handshake_free(hs);
    free(ok);
    free(big);
}

static void test_header_count_limit(void **state)
{
    char req[4096];
    size_t n, used;
    ws_handshake *hs;

    (void)state;
    /* 5 required lines + 59 extra = 64: accepted; one more: refused with 431 */
    for (int extra = 59; extra <= 60; extra++) {
        n = (size_t)snprintf(req, sizeof req, "%s", RL GOOD);
        for (int i = 0; i < extra; i++)
            n += (size_t)snprintf(req + n, sizeof req - n, "X-%d: v\r\n", i);
        n += (size_t)snprintf(req + n, sizeof req - n, "\r\n");
        hs = new_hs(WS_ROLE_SERVER, NULL);
        assert_int_equal(feed_pieces(hs, req, n, 0, 0, &used),
                         extra == 59 ? WS_HANDSHAKE_COMPLETE : WS_ERR_HS_TOO_MANY_HEADERS);
        if (extra == 60)
            assert_int_equal(ws_handshake_error_status(hs), 431);
        ws_handshake_free(hs);
    }
    hs = new_hs(WS_ROLE_SERVER, NULL);
    assert_int_equal(ws_handshake_set_max_headers(hs, 0), WS_ERR_RANGE);
    assert_int_equal(ws_handshake_set_max_headers(hs, 5), WS_OK);
    assert_int_equal(feed_pieces(hs, RL GOOD "\r\n", strlen(RL GOOD "\r\n"), 0, 0, &used),
                     WS_HANDSHAKE_COMPLETE);
    assert_int_equal(ws_handshake_reset(hs), WS_OK);
    assert_int_equal(
        feed_pieces(hs, RL GOOD "A: b\r\n\r\n", strlen(RL GOOD "A: b\r\n\r\n"), 0, 0, &used),
        WS_ERR_HS_TOO_MANY_HEADERS);
    ws_handshake_free(hs);

    /* list elements are bounded too */
    n = (size_t)snprintf(req, sizeof req, "%s", RL GOOD "Sec-WebSocket-Protocol: p");
    for (int i = 1; i < 257; i++)
        n += (size_t)snprintf(req + n, sizeof req - n, ",p");
    n += (size_t)snprintf(req + n, sizeof req - n, "\r\n\r\n");
    hs = new_hs(WS_ROLE_SERVER, NULL);
    assert_int_equal(feed_pieces(hs, req, n, 0, 0, &used), WS_ERR_HS_TOO_MANY_HEADERS);
    ws_handshake_free(hs);
}

/* ---- negotiation ---- */

static void test_subprotocols(void **state)
{
    ws_handshake *hs = server_parse(RL GOOD "Sec-WebSocket-Protocol: chat,superchat\r\n"
                                            "Sec-WebSocket-Protocol:  v2.json.example \r\n\r\n",
                                    WS_HANDSHAKE_COMPLETE);
    const char *p;
    size_t n;
    uint8_t out[512];
    int r;

    (void)state;
    assert_int_equal(ws_handshake_subprotocol_count(hs), 3);
    assert_int_equal(ws_handshake_subprotocol(hs, 0, &p, &n), WS_OK);
    assert_view(p, n, "chat");
    assert_int_equal(ws_handshake_subprotocol(hs, 1, &p, &n), WS_OK);
    assert_view(p, n, "superchat");
    assert_int_equal(ws_handshake_subprotocol(hs, 3, &p, &n), WS_ERR_NOT_FOUND);
    assert_null(p); /* past the end: an empty view */
    assert_int_equal(n, 0);
    assert_int_equal(ws_handshake_subprotocol(hs, 2, &p, &n), WS_OK);
    assert_view(p, n, "v2.json.example");
    /* a view may be handed straight back */
    r = ws_handshake_accept(hs, p, NULL, NULL, out, sizeof out, NULL);
    assert_true(r > 0);
    assert_non_null(strstr((char *)out, "\r\nSec-WebSocket-Protocol: v2.json.example\r\n"));
    /* only an offered one, exactly */
    assert_int_equal(ws_handshake_accept(hs, "CHAT", NULL, NULL, out, sizeof out, NULL),
                     WS_ERR_ARG_SUBPROTOCOL);
    assert_int_equal(ws_handshake_accept(hs, "mqtt", NULL, NULL, out, sizeof out, NULL),
                     WS_ERR_ARG_SUBPROTOCOL);
    r = ws_handshake_accept(hs, NULL, NULL, NULL, out, sizeof out, NULL);
    assert_true(r > 0);
    out[r] = 0;
    assert_null(strstr((char *)out, "Sec-WebSocket-Protocol"));
    ws_handshake_free(hs);
}

static void test_extensions(void **state)
{
    ws_handshake *hs = server_parse(
        RL GOOD "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits; "
                "server_max_window_bits=10, permessage-deflate\r\n"
                "Sec-WebSocket-Extensions: x-foo ;a=\"b\\\"c\" ; d = e,,x-bar;q=\"\"\r\n\r\n",
        WS_HANDSHAKE_COMPLETE);
    const char *p, *v;
    size_t n, nv, np;
    uint8_t out[512];
    int r;

    (void)state;
    assert_int_equal(ws_handshake_extension_count(hs), 4);
    assert_int_equal(ws_handshake_extension(hs, 0, &p, &n, &np), WS_OK);
    assert_view(p, n, "permessage-deflate");
    assert_int_equal(np, 2);
    assert_int_equal(ws_handshake_extension_param(hs, 0, 0, &p, &n, &v, &nv), WS_OK);
    assert_view(p, n, "client_max_window_bits");
    assert_null(v);
    assert_int_equal(ws_handshake_extension_param(hs, 0, 1, &p, &n, &v, &nv), WS_OK);
    assert_view(p, n, "server_max_window_bits");
    assert_view(v, nv, "10");
    assert_int_equal(ws_handshake_extension(hs, 1, &p, &n, &np), WS_OK);
    assert_view(p, n, "permessage-deflate");
    assert_int_equal(np, 0);
    assert_int_equal(ws_handshake_extension(hs, 2, &p, &n, &np), WS_OK);
    assert_view(p, n, "x-foo");
    assert_int_equal(np, 2);
    assert_int_equal(ws_handshake_extension_param(hs, 2, 0, &p, &n, &v, &nv), WS_OK);
    assert_view(p, n, "a");
    assert_view(v, nv, "b\"c"); /* quoted-string unescaped */
    assert_int_equal(ws_handshake_extension_param(hs, 2, 1, &p, &n, &v, &nv), WS_OK);
    assert_view(p, n, "d");
    assert_view(v, nv, "e");
    assert_int_equal(ws_handshake_extension(hs, 3, &p, &n, &np), WS_OK);
    assert_view(p, n, "x-bar");
    assert_int_equal(ws_handshake_extension_param(hs, 3, 0, &p, &n, &v, &nv), WS_OK);
    assert_view(v, nv, ""); /* an empty value is not no value */
    assert_non_null(v);
    assert_int_equal(ws_handshake_extension(hs, 4, &p, &n, &np), WS_ERR_NOT_FOUND);

    /* agreeing: offered names only, well-formed */
    r = ws_handshake_accept(hs, NULL, "permessage-deflate; server_no_context_takeover",
                            "Set-Cookie: id=1", out, sizeof out, NULL);
    assert_true(r > 0);
    out[r] = 0;
    assert_non_null(strstr((char *)out, "\r\nSec-WebSocket-Extensions: permessage-deflate; "
                                        "server_no_context_takeover\r\nSet-Cookie: id=1\r\n"
                                        "\r\n"));
    assert_int_equal(ws_handshake_accept(hs, NULL, "x-baz", NULL, out, sizeof out, NULL),
                     WS_ERR_ARG_EXTENSIONS);
    assert_int_equal(
        ws_handshake_accept(hs, NULL, "permessage-deflate;", NULL, out, sizeof out, NULL),
        WS_ERR_ARG_EXTENSIONS);
    assert_int_equal(ws_handshake_accept(hs, NULL, "x-foo\r\nX: y", NULL, out, sizeof out, NULL),
                     WS_ERR_ARG_EXTENSIONS);
    ws_handshake_free(hs);
}

static void test_accept_extra_headers(void **state)
{
    ws_handshake *hs = server_parse(RL GOOD "\r\n", WS_HANDSHAKE_COMPLETE);
    uint8_t out[512];
    static const char *const bad[] = {
        "X: a\r\n\r\nbody",        /* an empty line would end the head early */
        "X: a\nY: b",              /* bare LF */
        "X: a\rY: b",              /* bare CR */
        "X a\r\n",                 /* no colon */
        "X : a\r\n",               /* space before colon */
        "X: a\r\n b\r\n",          /* folding */
        "X: a\x01\r\n",            /* control */
        "Sec-WebSocket-Accept: x", /* the library's own */
        "connection: close",
        "Content-Length: 3",
    };
    int r;

    (void)state;
    r = ws_handshake_accept(hs, NULL, NULL, "Set-Cookie: a=1\r\nX-Empty:\r\n", out, sizeof out,
                            NULL);
    assert_true(r > 0);
    assert_memory_equal(out + r - 29, "Set-Cookie: a=1\r\nX-Empty:\r\n\r\n", 29);
    r = ws_handshake_accept(hs, NULL, NULL, "", out, sizeof out, NULL);
    assert_true(r > 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ws_handshake_accept(hs, NULL, NULL, bad[i], out, sizeof out, NULL),
                         WS_ERR_ARG_HEADERS);
    assert_int_equal(ws_handshake_accept(hs, NULL, NULL, NULL, NULL, 5, NULL), WS_ERR_INVALID_ARG);
    ws_handshake_free(hs);
}

/* The 101 answer exists only for a complete, valid request: before anything is fed, with the
 * request half read (the head not finished), after a request that failed, on a client, or
 * over HTTP/2, ws_handshake_accept is WS_ERR_STATE and writes nothing. */
static void test_accept_only_after_complete_request(void **state)
{
    static const char *const partial[] = {"", "GET /chat HTTP/1.1\r\n", RL GOOD, RL GOOD "\r"};
    uint8_t out[512];
    size_t need;
    (void)state;
    for (size_t i = 0; i < sizeof partial / sizeof partial[0]; i++) {
        ws_handshake *hs = server_parse(partial[i], 0);
        memset(out, 0xAA, sizeof out);
        need = 1;
        assert_int_equal(ws_handshake_accept(hs, NULL, NULL, NULL, out, sizeof out, &need),
                         WS_ERR_STATE);
        assert_int_equal(need, 0);
        assert_int_equal(out[0], 0xAA);
        /* the rest of the request makes it possible */
        size_t used, rest = strlen(RL GOOD "\r\n") - strlen(partial[i]);
        assert_int_equal(ws_handshake_feed(hs, (const uint8_t *)(RL GOOD "\r\n") + strlen(partial[i]),
                                           rest, &used),
                         WS_HANDSHAKE_COMPLETE);
        assert_true(ws_handshake_accept(hs, NULL, NULL, NULL, out, sizeof out, NULL) > 0);
        ws_handshake_free(hs);
    }
    ws_handshake *hs = server_parse(RL H_HOST H_UP H_CONN H_KEY "\r\n", WS_ERR_HS_WS_VERSION);
    assert_int_equal(ws_handshake_accept(hs, NULL, NULL, NULL, out, sizeof out, NULL),
                     WS_ERR_STATE);
    ws_handshake_free(hs);
    hs = new_hs(WS_ROLE_CLIENT, NULL);
    assert_int_equal(ws_handshake_accept(hs, NULL, NULL, NULL, out, sizeof out, NULL),
                     WS_ERR_STATE);
    ws_handshake_free(hs);
    static const ws_h2_header h2[] = {
        {":method", 7, "CONNECT", 7}, {":protocol", 9, "websocket", 9}, {":scheme", 7, "https", 5},
        {":path", 5, "/chat", 5}, {":authority", 10, "h", 1}, {"sec-websocket-version", 21, "13", 2}};
    hs = new_hs(WS_ROLE_SERVER, NULL);
    assert_int_equal(ws_h2_parse_request(hs, h2, 6), WS_HANDSHAKE_COMPLETE);
    assert_int_equal(ws_handshake_accept(hs, NULL, NULL, NULL, out, sizeof out, NULL),
                     WS_ERR_STATE);
    ws_handshake_free(hs);
}

static void test_reject(void **state)
{
    uint8_t out[512];
    size_t need = 0;
    int r;
    static const char w429[] = "HTTP/1.1 429 Too Many Requests\r\n"
                               "Retry-After: 30\r\n"
                               "Content-Length: 4\r\n"
                               "Connection: close\r\n\r\n"
                               "busy";
    static const char w401[] = "HTTP/1.1 401 Go Away\r\n"
                               "WWW-Authenticate: Basic realm=\"x\"\r\n"
                               "Content-Length: 0\r\n"
                               "Connection: close\r\n\r\n";
    static const char w499[] = "HTTP/1.1 499 \r\nContent-Length: 0\r\nConnection: close\r\n\r\n";

    (void)state;
    r = ws_handshake_reject(429, NULL, "Retry-After: 30", "busy", 4, out, sizeof out, &need);
    assert_int_equal(r, (int)sizeof w429 - 1);
    assert_int_equal(need, sizeof w429 - 1);
    assert_memory_equal(out, w429, sizeof w429 - 1);
    r = ws_handshake_reject(401, "Go Away", "WWW-Authenticate: Basic realm=\"x\"\r\n", NULL, 0, out,
                            sizeof out, NULL);
    assert_int_equal(r, (int)sizeof w401 - 1);
    assert_memory_equal(out, w401, sizeof w401 - 1);
    r = ws_handshake_reject(499, NULL, NULL, NULL, 0, out, sizeof out, NULL);
    assert_int_equal(r, (int)sizeof w499 - 1);
    assert_memory_equal(out, w499, sizeof w499 - 1);
    r = ws_handshake_reject(403, NULL, NULL, NULL, 0, NULL, 0, &need);
    assert_int_equal(r, WS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(need, strlen("HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n"
                                  "Connection: close\r\n\r\n"));
    assert_int_equal(ws_handshake_reject(101, NULL, NULL, NULL, 0, out, sizeof out, NULL),
                     WS_ERR_ARG_STATUS);
    assert_int_equal(ws_handshake_reject(600, NULL, NULL, NULL, 0, out, sizeof out, NULL),
                     WS_ERR_ARG_STATUS);
    assert_int_equal(ws_handshake_reject(400, "a\r\nX: y", NULL, NULL, 0, out, sizeof out, NULL),
                     WS_ERR_ARG_STATUS);
    assert_int_equal(
        ws_handshake_reject(400, NULL, "Content-Length: 9", NULL, 0, out, sizeof out, NULL),
        WS_ERR_ARG_HEADERS);
    assert_int_equal(ws_handshake_reject(400, NULL, NULL, NULL, 3, out, sizeof out, NULL),
                     WS_ERR_INVALID_ARG);
}

/* ---- client ---- */

static ws_handshake *client_with_request(const char *url, const char *const *sub, size_t nsub,
                                         const char *ext, const char *hdrs, const char *want,
                                         unsigned *drawn)
{ /* *drawn: seq_rng's count of bytes drawn; from 0 the key is SEQ_KEY0 */
    ws_handshake *hs = new_hs(WS_ROLE_CLIENT, NULL);
    uint8_t out[1024];
    size_t need = 0, ul = strlen(url);
    int r;

    assert_int_equal(ws_handshake_set_random(hs, seq_rng, drawn), WS_OK);
    r = ws_handshake_client_request(hs, url, ul, sub, nsub, ext, hdrs, NULL, 0, &need);
    assert_int_equal(r, WS_ERR_BUFFER_TOO_SMALL);
    r = ws_handshake_client_request(hs, url, ul, sub, nsub, ext, hdrs, out, sizeof out, NULL);
    assert_int_equal(r, (int)need);
    if (want) {
        size_t wn = strlen(want);
        /* a complete request must match exactly, a partial one as a prefix */
        if (wn >= 4 && memcmp(want + wn - 4, "\r\n\r\n", 4) == 0)
            assert_int_equal(r, (int)wn);
        assert_true((size_t)r >= wn);
        assert_memory_equal(out, want, wn);
    }
    return hs;
}

static void test_client_request(void **state)
{
    static const char *const protos[] = {"chat", "superchat"};
    unsigned drawn = 0;
    ws_handshake *hs;

    (void)state;
    hs = client_with_request("ws://example.com", NULL, 0, NULL, NULL,
                             "GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
                             "Connection: Upgrade\r\nSec-WebSocket-Key: " SEQ_KEY0 "\r\n"
                             "Sec-WebSocket-Version: 13\r\n\r\n",
                             &drawn);
    /* the size query and the real call drew one key */
    assert_int_equal(drawn, 16); /* one 16-byte key */
    ws_handshake_free(hs);

    drawn = 0;
    hs = client_with_request(
        "wss://example.com:8443/chat?room=1&x", protos, 2,
        "permessage-deflate; client_max_window_bits",
        "Origin: https://example.com\r\nAuthorization: Bearer t\r\nCookie: a=b",
        "GET /chat?room=1&x HTTP/1.1\r\nHost: example.com:8443\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: " SEQ_KEY0 "\r\n"
        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        "Origin: https://example.com\r\nAuthorization: Bearer t\r\nCookie: a=b\r\n\r\n",
        &drawn);
    ws_handshake_free(hs);

    /* default ports are left out, others kept; IPv6 literals go back in brackets */
    hs = client_with_request("wss://h:443/", NULL, 0, NULL, NULL, "GET / HTTP/1.1\r\nHost: h\r\n",
                             &drawn);
    ws_handshake_free(hs);
    hs = client_with_request("ws://h:443?q", NULL, 0, NULL, NULL,
                             "GET /?q HTTP/1.1\r\nHost: h:443\r\n", &drawn);
    ws_handshake_free(hs);
    hs = client_with_request("ws://[::1]:9000/x", NULL, 0, NULL, NULL,
                             "GET /x HTTP/1.1\r\nHost: [::1]:9000\r\n", &drawn);
    ws_handshake_free(hs);
    hs = client_with_request("ws://[2001:db8::7]/", NULL, 0, NULL, NULL,
                             "GET / HTTP/1.1\r\nHost: [2001:db8::7]\r\n", &drawn);
    ws_handshake_free(hs);
}

static void test_client_request_errors(void **state)
{
    ws_handshake *hs = new_hs(WS_ROLE_CLIENT, NULL), *srv = new_hs(WS_ROLE_SERVER, NULL);
    static const char *const bad_proto[] = {"chat", "a b"};
    static const char *const empty_proto[] = {""};
    static const char *const null_proto[] = {NULL};
    static const struct {
        const char *url;
        int want;
    } bad_urls[] = {
        {"ws://a b/", WS_ERR_URI_HOST},     {"ws://h/a b", WS_ERR_URI_PATH},
        {"ws://h/#f", WS_ERR_URI_FRAGMENT}, {"http://h/", WS_ERR_URI_SCHEME},
        {"ws://u@h/", WS_ERR_URI_USERINFO}, {"ws://h:0/", WS_ERR_URI_PORT},
    };
    const char *u = "ws://h/";
    uint8_t out[1024];
    unsigned drawn = 0;
    size_t used;

    (void)state;
    /* the response cannot come before the request */
    assert_int_equal(ws_handshake_feed(hs, (const uint8_t *)"H", 1, &used), WS_ERR_STATE);
    assert_int_equal(
        ws_handshake_client_request(srv, u, 7, NULL, 0, NULL, NULL, out, sizeof out, NULL),
        WS_ERR_STATE);
    assert_int_equal(
        ws_handshake_client_request(hs, u, 7, bad_proto, 2, NULL, NULL, out, sizeof out, NULL),
        WS_ERR_ARG_SUBPROTOCOL);
    assert_int_equal(
        ws_handshake_client_request(hs, u, 7, empty_proto, 1, NULL, NULL, out, sizeof out, NULL),
        WS_ERR_ARG_SUBPROTOCOL);
    assert_int_equal(
        ws_handshake_client_request(hs, u, 7, null_proto, 1, NULL, NULL, out, sizeof out, NULL),
        WS_ERR_INVALID_ARG);
    assert_int_equal(
        ws_handshake_client_request(hs, u, 7, NULL, 1, NULL, NULL, out, sizeof out, NULL),
        WS_ERR_INVALID_ARG);
    assert_int_equal(
        ws_handshake_client_request(hs, u, 7, NULL, 0, "x;", NULL, out, sizeof out, NULL),
        WS_ERR_ARG_EXTENSIONS);
    assert_int_equal(
        ws_handshake_client_request(hs, u, 7, NULL, 0, NULL, "Host: evil", out, sizeof out, NULL),
        WS_ERR_ARG_HEADERS);
    assert_int_equal(ws_handshake_client_request(hs, u, 7, NULL, 0, NULL, "X: a\r\n\r\nGET /", out,
                                                 sizeof out, NULL),
                     WS_ERR_ARG_HEADERS);
    /* the URL is parsed as by ws_uri_parse, and its errors are returned */
    for (size_t i = 0; i < sizeof bad_urls / sizeof bad_urls[0]; i++)
        assert_int_equal(ws_handshake_client_request(hs, bad_urls[i].url, strlen(bad_urls[i].url),
                                                     NULL, 0, NULL, NULL, out, sizeof out, NULL),
                         bad_urls[i].want);
    /* the length is obeyed: "ws://h/" cut to "ws:/" is no URI */
    assert_int_equal(
        ws_handshake_client_request(hs, u, 4, NULL, 0, NULL, NULL, out, sizeof out, NULL),
        WS_ERR_URI_HOST);
    assert_int_equal(
        ws_handshake_client_request(hs, NULL, 7, NULL, 0, NULL, NULL, out, sizeof out, NULL),
        WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_set_random(hs, failing_rng, NULL), WS_OK);
    assert_int_equal(
        ws_handshake_client_request(hs, u, 7, NULL, 0, NULL, NULL, out, sizeof out, NULL),
        WS_ERR_RANDOM);
    /* the default hook works */
    assert_int_equal(ws_handshake_set_random(hs, NULL, NULL), WS_OK);
    assert_true(ws_handshake_client_request(hs, u, 7, NULL, 0, NULL, NULL, out, sizeof out, NULL) >
                0);
    /* a reset draws a new key */
    assert_int_equal(ws_handshake_set_random(hs, seq_rng, &drawn), WS_OK);
    assert_int_equal(ws_handshake_reset(hs), WS_OK);
    assert_true(ws_handshake_client_request(hs, u, 7, NULL, 0, NULL, NULL, out, sizeof out, NULL) >
                0);
    assert_int_equal(drawn, 16); /* one 16-byte key */
    ws_handshake_free(hs);
    ws_handshake_free(srv);
}

/* A NULL URL (of any length, 0 included) and a NULL subprotocol list with a count are the
 * caller's mistakes, WS_ERR_INVALID_ARG -- not a URI error, not a crash -- and change nothing:
 * no key is drawn, *needed is 0, and the next valid call writes the request. The same through
 * ws_conn_client_start. */
static void test_client_request_null_arguments(void **state)
{
    ws_handshake *hs = new_hs(WS_ROLE_CLIENT, NULL);
    static const char *const one[] = {"chat"};
    uint8_t out[512];
    unsigned drawn = 0;
    size_t need;
    (void)state;

    assert_int_equal(ws_handshake_set_random(hs, seq_rng, &drawn), WS_OK);
    for (size_t len = 0; len <= 7; len += 7) {
        need = 99;
        assert_int_equal(ws_handshake_client_request(hs, NULL, len, NULL, 0, NULL, NULL, out,
                                                     sizeof out, &need),
                         WS_ERR_INVALID_ARG);
        assert_int_equal(need, 0);
        need = 99;
        assert_int_equal(
            ws_handshake_client_request(hs, NULL, len, NULL, 0, NULL, NULL, NULL, 0, &need),
            WS_ERR_INVALID_ARG);
        assert_int_equal(need, 0);
    }
    for (size_t nsub = 1; nsub <= WS_HANDSHAKE_MAX_LIST_ITEMS + 1; nsub += 128) {
        need = 99;
        assert_int_equal(ws_handshake_client_request(hs, "ws://h/", 7, NULL, nsub, NULL, NULL,
                                                     out, sizeof out, &need),
                         WS_ERR_INVALID_ARG);
        assert_int_equal(need, 0);
    }
    assert_int_equal(drawn, 0); /* no key drawn */
    int n = ws_handshake_client_request(hs, "ws://h/", 7, one, 1, NULL, NULL, out, sizeof out,
                                        NULL);
    static const char want[] = "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                               "Connection: Upgrade\r\nSec-WebSocket-Key: " SEQ_KEY0 "\r\n"
                               "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat\r\n"
                               "\r\n";
    assert_int_equal(n, (int)sizeof want - 1);
    assert_memory_equal(out, want, sizeof want - 1);
    assert_int_equal(drawn, 16); /* one 16-byte key */
    ws_handshake_free(hs);

    /* a NULL list with a count of 0 is no list */
    hs = new_hs(WS_ROLE_CLIENT, NULL);
    assert_true(ws_handshake_client_request(hs, "ws://h/", 7, NULL, 0, NULL, NULL, out, sizeof out,
                                            NULL) > 0);
    ws_handshake_free(hs);

    /* the connection checks the same before it starts anything */
    ws_conn *c = new_conn(WS_ROLE_CLIENT, 0, NULL);
    assert_int_equal(ws_conn_client_start(c, NULL, NULL, 0, NULL, NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_client_start(c, "ws://h/", NULL, 1, NULL, NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_client_start(c, "ws://h/", NULL, 3, NULL, NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_buffered_amount(c), 0);
    assert_null(ws_conn_handshake(c));
    assert_int_equal(ws_conn_client_start(c, "ws://h/", one, 1, NULL, NULL), WS_OK);
    assert_true(ws_conn_buffered_amount(c) > 0);
    ws_conn_free(c);
}

#define RESP_OK "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"

static char key0_accept[29];

static void client_response_expect(const char *const *sub, size_t nsub, const char *ext,
                                   const char *resp, int want)
{
    size_t n = strlen(resp);
    for (size_t split = 0; split <= n + 1; split++) {
        unsigned drawn = 0;
        ws_handshake *hs = client_with_request("ws://h/", sub, nsub, ext, NULL, NULL, &drawn);
        size_t used;
        int r = split == n + 1 ? feed_pieces(hs, resp, n, 0, 1, &used)
                               : feed_pieces(hs, resp, n, split, 0, &used);
        if (r != want)
            fprintf(stderr, "split %zu: got %s want %s\n%s\n", split, ws_errname(r),
                    ws_errname(want), resp);
        assert_int_equal(r, want);
        ws_handshake_free(hs);
    }
}

static void test_client_response_ok(void **state)
{
    static const char *const protos[] = {"chat", "superchat"};
    char resp[512];
    size_t n, used;
    unsigned drawn = 0;
    ws_handshake *hs;
    const char *p, *v;
    size_t pn, vn, np;
    uint8_t *wire;

    (void)state;
    ws__accept_key(SEQ_KEY0, 24, key0_accept);
    n = (size_t)snprintf(resp, sizeof resp,
                         RESP_OK "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: superchat\r\n"
                                 "Sec-WebSocket-Extensions: permessage-deflate; "
                                 "server_max_window_bits=10\r\n\r\n",
                         key0_accept);
    /* the server's first frame arrives in the same segment */
    wire = malloc(n + 2);
    assert_non_null(wire);
    memcpy(wire, resp, n);
    wire[n] = 0x81;
    wire[n + 1] = 0x00;
    for (size_t split = 0; split <= n + 3; split++) {
        drawn = 0;
        hs = client_with_request("ws://h/", protos, 2, "permessage-deflate, x-other", NULL, NULL,
                                 &drawn);
        assert_int_equal(split == n + 3 ? feed_pieces(hs, wire, n + 2, 0, 1, &used)
                                        : feed_pieces(hs, wire, n + 2, split, 0, &used),
                         WS_HANDSHAKE_COMPLETE);
        assert_int_equal(used, n);
        assert_int_equal(ws_handshake_status(hs), 101);
        assert_int_equal(ws_handshake_subprotocol_count(hs), 1);
        assert_int_equal(ws_handshake_subprotocol(hs, 0, &p, &pn), WS_OK);
        assert_view(p, pn, "superchat");
        assert_int_equal(ws_handshake_extension_count(hs), 1);
        assert_int_equal(ws_handshake_extension(hs, 0, &p, &pn, &np), WS_OK);
        assert_view(p, pn, "permessage-deflate");
        assert_int_equal(ws_handshake_extension_param(hs, 0, 0, &p, &pn, &v, &vn), WS_OK);
        assert_view(v, vn, "10");
        assert_int_equal(ws_handshake_reason(hs, &p, &pn), WS_OK);
        assert_view(p, pn, "Switching Protocols");
        /* server-only views */
        assert_int_equal(ws_handshake_target(hs, &p, &pn), WS_ERR_STATE);
        assert_int_equal(ws_handshake_accept(hs, NULL, NULL, NULL, NULL, 0, NULL), WS_ERR_STATE);
        ws_handshake_free(hs);
    }
    free(wire);

    /* minimal, tolerant forms: no reason phrase, token lists, no subprotocol chosen */
    snprintf(resp, sizeof resp,
             "HTTP/1.1 101\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
             "sec-websocket-accept: %s\r\n\r\n",
             key0_accept);
    client_response_expect(protos, 2, NULL, resp, WS_HANDSHAKE_COMPLETE);
}

typedef struct resp_case {
    const char *fmt; /* %s: the right accept value */
    int want;
} resp_case;

static void test_client_response_rules(void **state)
{
    static const resp_case cases[] = {
        {RESP_OK "Sec-WebSocket-Accept: %s\r\n\r\n", WS_HANDSHAKE_COMPLETE},
        {"HTTP/1.0 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Accept: %s\r\n\r\n",
         WS_ERR_HS_VERSION_HTTP},
        {"HTTP/1.1 101 OK\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
         WS_ERR_HS_UPGRADE},
        {"HTTP/1.1 101 OK\r\nUpgrade: h2c\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n"
         "\r\n",
         WS_ERR_HS_UPGRADE},
        {"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: %s\r\n\r\n",
         WS_ERR_HS_CONNECTION},
        {RESP_OK "\r\n%s", WS_ERR_HS_ACCEPT},
        {RESP_OK "Sec-WebSocket-Accept: x%s\r\n\r\n", WS_ERR_HS_ACCEPT},
        /* right length, only its last character wrong */
        {RESP_OK "Sec-WebSocket-Accept: %.27s!\r\n\r\n", WS_ERR_HS_ACCEPT},
        {RESP_OK "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n%s", WS_ERR_HS_ACCEPT},
        {RESP_OK "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Accept: x\r\n\r\n",
         WS_ERR_HS_DUPLICATE},
        {RESP_OK "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
         WS_HANDSHAKE_COMPLETE},
        {RESP_OK "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
         WS_ERR_HS_SUBPROTOCOL},
        {RESP_OK "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: Chat\r\n\r\n",
         WS_ERR_HS_SUBPROTOCOL},
        {RESP_OK "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: chat, superchat\r\n\r\n",
         WS_ERR_HS_SUBPROTOCOL},
        {RESP_OK "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: chat\r\n"
                 "Sec-WebSocket-Protocol: chat\r\n\r\n",
         WS_ERR_HS_DUPLICATE},
        {RESP_OK "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Extensions: Permessage-Deflate\r\n"
                 "\r\n",
         1},
        {RESP_OK "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Extensions: x-other\r\n\r\n",
         WS_ERR_HS_EXTENSION},
        {RESP_OK "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Extensions: permessage-deflate;\r\n"
                 "\r\n",
         WS_ERR_HS_EXTENSION},
        {"HTTP/1.1 200 OK\r\nSec-WebSocket-Accept: %s\r\n\r\n", WS_ERR_HS_STATUS},
        {"HTTP/1.1 100 Continue\r\n\r\n%s", WS_ERR_HS_STATUS},
        {"HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\r\n%s\r\n\r\n", WS_ERR_HS_BARE_LF},
        {"HTTP/1.1 1010 x\r\n%s\r\n\r\n", WS_ERR_HS_SYNTAX},
        {"HTTP/1.1 099 x\r\n%s\r\n\r\n", WS_ERR_HS_SYNTAX},
        {"HTTP/1.1  101 x\r\n%s\r\n\r\n", WS_ERR_HS_SYNTAX},
        {"ICY 101 x\r\n%s\r\n\r\n", WS_ERR_HS_SYNTAX},
        {RESP_OK "X: \x01%s\r\n\r\n", WS_ERR_HS_CTL_CHAR},
    };
    static const char *const protos[] = {"chat", "superchat"};
    char resp[512];

    (void)state;
    ws__accept_key(SEQ_KEY0, 24, key0_accept);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(resp, sizeof resp, cases[i].fmt, key0_accept);
        client_response_expect(protos, 2, "permessage-deflate", resp, cases[i].want);
    }
}

static void test_client_non101(void **state)
{
    static const char r401[] = "HTTP/1.1 401 Unauthorized\r\n"
                               "WWW-Authenticate: Bearer\r\n"
                               "Content-Length: 6\r\n\r\n"
                               "denied"
                               "NEXT";
    size_t n = sizeof r401 - 1, used;
    const uint8_t *body;
    const char *p;
    size_t bn, pn;
    unsigned drawn = 0;
    ws_handshake *hs;

    (void)state;
    for (size_t split = 0; split <= n + 1; split++) {
        hs = client_with_request("ws://h/", NULL, 0, NULL, NULL, NULL, &drawn);
        assert_int_equal(split == n + 1 ? feed_pieces(hs, r401, n, 0, 1, &used)
                                        : feed_pieces(hs, r401, n, split, 0, &used),
                         WS_ERR_HS_STATUS);
        /* header block and body consumed, what follows is not */
        assert_int_equal(used, n - 4);
        assert_int_equal(ws_handshake_status(hs), 401);
        assert_int_equal(ws_handshake_reason(hs, &p, &pn), WS_OK);
        assert_view(p, pn, "Unauthorized");
        assert_int_equal(ws_handshake_header(hs, "www-authenticate", 0, &p, &pn), WS_OK);
        assert_view(p, pn, "Bearer");
        assert_int_equal(ws_handshake_body(hs, &body, &bn), WS_OK);
        assert_int_equal(bn, 6);
        assert_memory_equal(body, "denied", 6);
        ws_handshake_free(hs);
    }

    /* incomplete body: need more */
    hs = client_with_request("ws://h/", NULL, 0, NULL, NULL, NULL, &drawn);
    assert_int_equal(feed_pieces(hs, r401, n - 6, 0, 0, &used), 0);
    assert_int_equal(ws_handshake_status(hs), 401);
    assert_int_equal(ws_handshake_result(hs), 0);
    ws_handshake_free(hs);

    /* 429/503 with Retry-After and no body; 3xx with Location */
    hs = client_with_request("ws://h/", NULL, 0, NULL, NULL, NULL, &drawn);
    assert_int_equal(
        FEED_STR(hs, "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 120\r\n\r\n", &used),
        WS_ERR_HS_STATUS);
    assert_int_equal(ws_handshake_status(hs), 503);
    assert_int_equal(ws_handshake_header(hs, "Retry-After", 0, &p, &pn), WS_OK);
    assert_view(p, pn, "120");
    /* no body byte kept: WS_ERR_NOT_FOUND, an empty view */
    assert_int_equal(ws_handshake_body(hs, &body, &bn), WS_ERR_NOT_FOUND);
    assert_null(body);
    assert_int_equal(bn, 0);
    ws_handshake_free(hs);
    hs = client_with_request("ws://h/", NULL, 0, NULL, NULL, NULL, &drawn);
    assert_int_equal(FEED_STR(hs, "HTTP/1.1 302 Found\r\nLocation: wss://b/x\r\n\r\n", &used),
                     WS_ERR_HS_STATUS);
    assert_int_equal(ws_handshake_header(hs, "location", 0, &p, &pn), WS_OK);
    assert_view(p, pn, "wss://b/x");
    ws_handshake_free(hs);

    /* the body kept is bounded; the rest stays unconsumed */
    hs = client_with_request("ws://h/", NULL, 0, NULL, NULL, NULL, &drawn);
    assert_int_equal(ws_handshake_set_max_body(hs, 3), WS_OK);
    assert_int_equal(feed_pieces(hs, r401, n, 0, 0, &used), WS_ERR_HS_STATUS);
    assert_int_equal(used, n - 7);
    assert_int_equal(ws_handshake_body(hs, &body, &bn), WS_OK);
    assert_int_equal(bn, 3);
    assert_memory_equal(body, "den", 3);
    assert_int_equal(ws_handshake_set_max_body(hs, 3), WS_ERR_STATE);
    ws_handshake_free(hs);

    /* chunked or close-delimited bodies are not read */
    hs = client_with_request("ws://h/", NULL, 0, NULL, NULL, NULL, &drawn);
    assert_int_equal(
        FEED_STR(hs, "HTTP/1.1 500 x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n", &used),
        WS_ERR_HS_STATUS);
    assert_int_equal(used, strlen("HTTP/1.1 500 x\r\nTransfer-Encoding: chunked\r\n\r\n"));
    ws_handshake_free(hs);
}

/* The body of a non-101 answer at the smallest sizes: Content-Length 1 keeps that one byte
 * (and consumes no more), Content-Length 0 or a body limit of 0 keeps none, a body limit of 1
 * keeps the first byte; and a two-digit Content-Length is read as its value. */
static void test_client_non101_small_bodies(void **state)
{
    static const char head1[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 1\r\n\r\n";
    static const char head0[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
    static const char head6[] = "HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\n";
    char msg[128];
    const uint8_t *body;
    size_t bn, used;
    unsigned calls = 0;
    (void)state;

    for (size_t split = 0; split <= strlen(head1) + 1; split++) {
        ws_handshake *hs = client_with_request("ws://h/", NULL, 0, NULL, NULL, NULL, &calls);
        snprintf(msg, sizeof msg, "%sxNEXT", head1);
        assert_int_equal(feed_pieces(hs, msg, strlen(msg), split, 0, &used), WS_ERR_HS_STATUS);
        assert_int_equal(used, strlen(head1) + 1);
        assert_int_equal(ws_handshake_body(hs, &body, &bn), WS_OK);
        assert_int_equal(bn, 1);
        assert_memory_equal(body, "x", 1);
        /* either output may be NULL */
        body = NULL;
        assert_int_equal(ws_handshake_body(hs, &body, NULL), WS_OK);
        assert_memory_equal(body, "x", 1);
        bn = 0;
        assert_int_equal(ws_handshake_body(hs, NULL, &bn), WS_OK);
        assert_int_equal(bn, 1);
        assert_int_equal(ws_handshake_body(hs, NULL, NULL), WS_OK);
        ws_handshake_free(hs);
    }
    /* the head alone: one body byte still to come */
    ws_handshake *hs = client_with_request("ws://h/", NULL, 0, NULL, NULL, NULL, &calls);
    assert_int_equal(FEED_STR(hs, head1, &used), 0);
    assert_int_equal(used, strlen(head1));
    assert_int_equal(ws_handshake_body(hs, &body, &bn), WS_ERR_NOT_FOUND);
    assert_int_equal(ws_handshake_body(hs, NULL, NULL), WS_ERR_NOT_FOUND);
    ws_handshake_free(hs);

    hs = client_with_request("ws://h/", NULL, 0, NULL, NULL, NULL, &calls);
    snprintf(msg, sizeof msg, "%sNEXT", head0);
    assert_int_equal(FEED_STR(hs, msg, &used), WS_ERR_HS_STATUS);
    assert_int_equal(used, strlen(head0));
    assert_int_equal(ws_handshake_body(hs, &body, &bn), WS_ERR_NOT_FOUND);
    ws_handshake_free(hs);

    /* a Content-Length of several digits is read as its decimal value */
    hs = client_with_request("ws://h/", NULL, 0, NULL, NULL, NULL, &calls);
    snprintf(msg, sizeof msg, "HTTP/1.1 403 Forbidden\r\nContent-Length: 12\r\n\r\n"
                              "0123456789abNEXT");
    assert_int_equal(FEED_STR(hs, msg, &used), WS_ERR_HS_STATUS);
    assert_int_equal(used, strlen(msg) - 4);
    assert_int_equal(ws_handshake_body(hs, &body, &bn), WS_OK);
    assert_int_equal(bn, 12);
    assert_memory_equal(body, "0123456789ab", 12);
    ws_handshake_free(hs);

    for (size_t limit = 0; limit <= 1; limit++) {
        hs = client_with_request("ws://h/", NULL, 0, NULL, NULL, NULL, &calls);
        assert_int_equal(ws_handshake_set_max_body(hs, limit), WS_OK);
        snprintf(msg, sizeof msg, "%sdenied", head6);
        assert_int_equal(FEED_STR(hs, msg, &used), WS_ERR_HS_STATUS);
        assert_int_equal(used, strlen(head6) + limit);
        assert_int_equal(ws_handshake_body(hs, &body, &bn), limit ? WS_OK : WS_ERR_NOT_FOUND);
        assert_int_equal(bn, limit);
        if (limit)
            assert_memory_equal(body, "d", 1);
        ws_handshake_free(hs);
    }
}

static void test_client_limits(void **state)
{
    unsigned drawn = 0;
    ws_handshake *hs = client_with_request("ws://h/", NULL, 0, NULL, NULL, NULL, &drawn);
    char *resp = malloc(9000);
    size_t used, n;

    (void)state;
    assert_non_null(resp);
    n = (size_t)snprintf(resp, 9000, "HTTP/1.1 101 Switching Protocols\r\nX-Pad: ");
    memset(resp + n, 'a', 9000 - n);
    assert_int_equal(feed_pieces(hs, resp, 9000, 0, 0, &used), WS_ERR_HS_TOO_LARGE);
    assert_int_equal(used, 8192);
    /* no error answer is written by a client */
    assert_int_equal(ws_handshake_error_status(hs), 0);
    assert_int_equal(ws_handshake_write_error(hs, (uint8_t *)resp, 9000, NULL), WS_ERR_STATE);
    ws_handshake_free(hs);

    hs = client_with_request("ws://h/", NULL, 0, NULL, NULL, NULL, &drawn);
    n = (size_t)snprintf(resp, 9000, "HTTP/1.1 101 Switching Protocols\r\n");
    for (int i = 0; i < 65; i++) /* one more than the default 64 */
        n += (size_t)snprintf(resp + n, 9000 - n, "X-%d: v\r\n", i);
    assert_int_equal(feed_pieces(hs, resp, n, 0, 0, &used), WS_ERR_HS_TOO_MANY_HEADERS);
    ws_handshake_free(hs);
    free(resp);
}

/* ---- HTTP/2 and HTTP/3 extended CONNECT ---- */

#define H(n, v)                                                                                    \
    {                                                                                              \
        n, sizeof(n) - 1, v, sizeof(v) - 1                                                         \
    }

static void test_h2_good(void **state)
{
    static const ws_h2_header hdrs[] = {
        H(":method", "CONNECT"),
        H(":protocol", "websocket"),
        H(":scheme", "https"),
        H(":path", "/chat?room=1"),
        H(":authority", "server.example.com"),
        H("sec-websocket-protocol", "chat, superchat"),
        H("sec-websocket-extensions", "permessage-deflate; client_max_window_bits"),
        H("sec-websocket-version", "13"),
        H("origin", "http://www.example.com"),
        H("cookie", "a=1"),
        H("cookie", "b=2"),
        H("te", "trailers"),
    };
    ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
    const char *p;
    size_t n;
    uint8_t out[256];

    (void)state;
    assert_int_equal(ws_h2_parse_request(hs, hdrs, sizeof hdrs / sizeof hdrs[0]),
                     WS_HANDSHAKE_COMPLETE);
    assert_int_equal(ws_handshake_result(hs), WS_HANDSHAKE_COMPLETE);
    assert_int_equal(ws_handshake_method(hs, &p, &n), WS_OK);
    assert_view(p, n, "CONNECT");
    assert_int_equal(ws_handshake_target(hs, &p, &n), WS_OK);
    assert_view(p, n, "/chat?room=1");
    assert_int_equal(ws_handshake_host(hs, &p, &n), WS_OK);
    assert_view(p, n, "server.example.com");
    assert_int_equal(ws_handshake_header(hs, "Origin", 0, &p, &n), WS_OK);
    assert_view(p, n, "http://www.example.com");
    assert_int_equal(ws_handshake_header(hs, "cookie", 1, &p, &n), WS_OK);
    assert_view(p, n, "b=2");
    assert_int_equal(ws_handshake_header(hs, ":protocol", 0, &p, &n), WS_OK);
    assert_view(p, n, "websocket");
    assert_int_equal(ws_handshake_subprotocol_count(hs), 2);
    assert_int_equal(ws_handshake_extension_count(hs), 1);
    /* the answer is HEADERS, not HTTP/1.1 bytes */
    assert_int_equal(ws_handshake_accept(hs, NULL, NULL, NULL, out, sizeof out, NULL),
                     WS_ERR_STATE);
    assert_int_equal(ws_handshake_feed(hs, out, 1, &n), WS_ERR_STATE);
    assert_int_equal(ws_h2_add_header(hs, "x", 1, "y", 1), WS_ERR_STATE);
    assert_int_equal(ws_h2_end_headers(hs), WS_HANDSHAKE_COMPLETE);
    ws_handshake_free(hs);

    /* HTTP/3 looks the same; http scheme and a case-insensitive :protocol are fine */
    static const ws_h2_header h3[] = {
        H(":method", "CONNECT"), H(":protocol", "WebSocket"), H(":scheme", "http"),
        H(":path", "/"),         H(":authority", "h:8080"),   H("sec-websocket-version", "13"),
    };
    hs = new_hs(WS_ROLE_SERVER, NULL);
    assert_int_equal(ws_h2_parse_request(hs, h3, 6), WS_HANDSHAKE_COMPLETE);
    ws_handshake_free(hs);
}

typedef struct h2_case {
    ws_h2_header h[8];
    size_t n;
    int want;
} h2_case;

static void test_h2_rules(void **state)
{
    static const h2_case cases[] = {
#define BASE_EXCEPT_METHOD                                                                         \
    H(":protocol", "websocket"), H(":scheme", "https"), H(":path", "/"), H(":authority", "a")
        {{H(":method", "GET"), BASE_EXCEPT_METHOD, H("sec-websocket-version", "13")},
         6,
         WS_ERR_H2_METHOD},
        {{H(":method", "connect"), BASE_EXCEPT_METHOD, H("sec-websocket-version", "13")},
         6,
         WS_ERR_H2_METHOD},
        {{H(":method", "CONNECT"), H(":scheme", "https"), H(":path", "/"), H(":authority", "a"),
          H("sec-websocket-version", "13")},
         5,
         WS_ERR_H2_PROTOCOL},
        {{H(":method", "CONNECT"), H(":protocol", "h2c"), H(":scheme", "https"), H(":path", "/"),
          H(":authority", "a"), H("sec-websocket-version", "13")},
         6,
         WS_ERR_H2_PROTOCOL},
        {{H(":method", "CONNECT"), H(":protocol", "websocket"), H(":scheme", "ftp"),
          H(":path", "/"), H(":authority", "a"), H("sec-websocket-version", "13")},
         6,
         WS_ERR_H2_SCHEME},
        {{H(":method", "CONNECT"), H(":protocol", "websocket"), H(":scheme", "https"),
          H(":authority", "a"), H("sec-websocket-version", "13")},
         5,
         WS_ERR_H2_PATH},
        {{H(":method", "CONNECT"), H(":protocol", "websocket"), H(":scheme", "https"),
          H(":path", ""), H(":authority", "a"), H("sec-websocket-version", "13")},
         6,
         WS_ERR_H2_PATH},
        {{H(":method", "CONNECT"), H(":protocol", "websocket"), H(":scheme", "https"),
          H(":path", "/"), H("sec-websocket-version", "13")},
         5,
         WS_ERR_H2_AUTHORITY},
        {{H(":method", "CONNECT"), BASE_EXCEPT_METHOD, H("sec-websocket-version", "8")},
         6,
         WS_ERR_HS_WS_VERSION},
        {{H(":method", "CONNECT"), BASE_EXCEPT_METHOD}, 5, WS_ERR_HS_WS_VERSION},
        {{H(":method", "CONNECT"), BASE_EXCEPT_METHOD, H("sec-websocket-version", "13"),
          H("sec-websocket-version", "13")},
         7,
         WS_ERR_HS_DUPLICATE},
        {{H(":method", "CONNECT"), BASE_EXCEPT_METHOD, H("sec-websocket-version", "13"),
          H("sec-websocket-protocol", "a b")},
         7,
         WS_ERR_HS_SUBPROTOCOL},
        {{H(":method", "CONNECT"), BASE_EXCEPT_METHOD, H("sec-websocket-version", "13"),
          H("sec-websocket-extensions", ";")},
         7,
         WS_ERR_HS_EXTENSION},
        {{H(":method", "CONNECT"), H("sec-websocket-version", "13"), BASE_EXCEPT_METHOD},
         6,
         WS_ERR_H2_PSEUDO},
        {{H(":method", "CONNECT"), H(":method", "CONNECT"), BASE_EXCEPT_METHOD},
         6,
         WS_ERR_H2_PSEUDO},
        {{H(":method", "CONNECT"), H(":status", "200"), BASE_EXCEPT_METHOD}, 6, WS_ERR_H2_PSEUDO},
        {{H(":method", "CONNECT"), BASE_EXCEPT_METHOD, H("Sec-WebSocket-Version", "13")},
         6,
         WS_ERR_H2_HEADER},
        {{H(":method", "CONNECT"), BASE_EXCEPT_METHOD, H("connection", "upgrade")},
         6,
         WS_ERR_H2_HEADER},
        {{H(":method", "CONNECT"), BASE_EXCEPT_METHOD, H("upgrade", "websocket")},
         6,
         WS_ERR_H2_HEADER},
        {{H(":method", "CONNECT"), BASE_EXCEPT_METHOD, H("te", "gzip")}, 6, WS_ERR_H2_HEADER},
        {{H(":method", "CONNECT"), BASE_EXCEPT_METHOD, H("x", "a\r\nb: c")}, 6, WS_ERR_H2_HEADER},
        {{H(":method", "CONNECT"), BASE_EXCEPT_METHOD, H("x", " a")}, 6, WS_ERR_H2_HEADER},
        {{H(":method", "CONNECT"), BASE_EXCEPT_METHOD, H("", "a")}, 6, WS_ERR_H2_HEADER},
        {{H(":method", "CONNECT"), BASE_EXCEPT_METHOD, H("a b", "a")}, 6, WS_ERR_H2_HEADER},
#undef BASE_EXCEPT_METHOD
    };
    uint8_t out[64];

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
        int r = ws_h2_parse_request(hs, cases[i].h, cases[i].n);
        if (r != cases[i].want)
            fprintf(stderr, "h2 case %zu: got %s\n", i, ws_errname(r));
        assert_int_equal(r, cases[i].want);
        assert_int_equal(ws_h2_end_headers(hs), cases[i].want); /* sticky */
        assert_int_equal(ws_handshake_error_status(hs),
                         cases[i].want == WS_ERR_HS_WS_VERSION ? 426 : 400);
        assert_int_equal(ws_handshake_write_error(hs, out, sizeof out, NULL), WS_ERR_STATE);
        ws_handshake_free(hs);
    }
    /* HTTP/1.1 and HTTP/2 do not mix; clients have no HTTP/2 request to check */
    {
        ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL), *c = new_hs(WS_ROLE_CLIENT, NULL);
        size_t used;
        assert_int_equal(ws_handshake_feed(hs, (const uint8_t *)"G", 1, &used), 0);
        assert_int_equal(ws_h2_add_header(hs, ":method", 7, "CONNECT", 7), WS_ERR_STATE);
        assert_int_equal(ws_h2_end_headers(hs), WS_ERR_STATE);
        assert_int_equal(ws_h2_add_header(c, ":method", 7, "CONNECT", 7), WS_ERR_STATE);
        assert_int_equal(ws_h2_add_header(NULL, ":method", 7, "CONNECT", 7), WS_ERR_INVALID_ARG);
        ws_handshake_free(hs);
        ws_handshake_free(c);
    }
    /* limits apply */
    {
        ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
        static char big[5000];
        memset(big, 'a', sizeof big);
        assert_int_equal(ws_h2_add_header(hs, "x-a", 3, big, sizeof big), WS_OK);
        assert_int_equal(ws_h2_add_header(hs, "x-b", 3, big, sizeof big), WS_ERR_HS_TOO_LARGE);
        assert_int_equal(ws_handshake_error_status(hs), 431);
        ws_handshake_free(hs);
    }
}

/* ---- allocation failures ---- */

/* ws_handshake_new, which may fail only for lack of memory here. */
static int hs_new(ws_handshake **hs, uint32_t role, const ws_allocator *a)
{
    int r = ws_handshake_new(hs, role, a);
    if (r != WS_OK)
        assert_int_equal(r, WS_ERR_NOMEM);
    return r;
}

static int run_server(const ws_allocator *a)
{
    ws_handshake *hs;
    size_t used;
    uint8_t out[512];
    int r;

    if ((r = hs_new(&hs, WS_ROLE_SERVER, a)) < 0)
        return r;
    /* byte by byte so the buffer grows through every step */
    r = feed_pieces(hs, chromium, sizeof chromium - 1, 0, 1, &used);
    if (r == WS_HANDSHAKE_COMPLETE)
        r = ws_handshake_accept(hs, NULL, "permessage-deflate", NULL, out, sizeof out, NULL);
    if (r == WS_ERR_NOMEM)
        assert_int_equal(ws_handshake_error_status(hs), 503);
    ws_handshake_free(hs);
    return r;
}

static int run_client(const ws_allocator *a)
{
    static const char *const protos[] = {"chat"};
    ws_handshake *hs;
    unsigned drawn = 0;
    char resp[512];
    uint8_t out[512];
    size_t used, n;
    int r;

    if ((r = hs_new(&hs, WS_ROLE_CLIENT, a)) < 0)
        return r;
    assert_int_equal(ws_handshake_set_random(hs, seq_rng, &drawn), WS_OK);
    r = ws_handshake_client_request(hs, "ws://h/", 7, protos, 1, "permessage-deflate", NULL, out,
                                    sizeof out, NULL);
    if (r > 0) {
        n = (size_t)snprintf(resp, sizeof resp,
                             RESP_OK "Sec-WebSocket-Accept: %s\r\nSec-WebSocket-Protocol: chat\r\n"
                                     "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
                             key0_accept);
        r = feed_pieces(hs, resp, n, 0, 0, &used);
    }
    if (r == WS_HANDSHAKE_COMPLETE) {
        /* and a non-101 with a body, after a reset */
        assert_int_equal(ws_handshake_reset(hs), WS_OK);
        r = ws_handshake_client_request(hs, "ws://h/", 7, NULL, 0, NULL, NULL, out, sizeof out,
                                        NULL);
        if (r > 0)
            r = FEED_STR(hs, "HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno", &used);
        if (r == WS_ERR_HS_STATUS)
            r = 1;
    }
    ws_handshake_free(hs);
    return r;
}

static int run_h2(const ws_allocator *a)
{
    static const ws_h2_header hdrs[] = {
        H(":method", "CONNECT"),
        H(":protocol", "websocket"),
        H(":scheme", "https"),
        H(":path", "/"),
        H(":authority", "a"),
        H("sec-websocket-version", "13"),
        H("sec-websocket-extensions", "permessage-deflate; client_max_window_bits"),
    };
    ws_handshake *hs;
    int r;

    if ((r = hs_new(&hs, WS_ROLE_SERVER, a)) < 0)
        return r;
    r = ws_h2_parse_request(hs, hdrs, sizeof hdrs / sizeof hdrs[0]);
    ws_handshake_free(hs);
    return r;
}

static void alloc_sweep(int (*run)(const ws_allocator *), int with_realloc)
{
    failalloc fa;
    ws_allocator a = failalloc_init(&fa, -1, 0);
    long total;
    int r;

    /* count the allocations of a successful run, then fail each one in turn */
    if (!with_realloc)
        a.realloc = NULL;
    r = run(&a);
    assert_true(r > 0);
    assert_int_equal(fa.live, 0);
    total = fa.calls;
    assert_true(total >= 2);
    for (long i = 0; i < total; i++) {
        a = failalloc_init(&fa, i, 0);
        if (!with_realloc)
            a.realloc = NULL;
        r = run(&a);
        assert_int_equal(r, WS_ERR_NOMEM);
        assert_int_equal(fa.failed, 1);
        assert_int_equal(fa.live, 0);
    }
}

static void test_alloc_failures(void **state)
{
    (void)state;
    ws__accept_key(SEQ_KEY0, 24, key0_accept);
    for (int with_realloc = 0; with_realloc <= 1; with_realloc++) {
        alloc_sweep(run_server, with_realloc);
        alloc_sweep(run_client, with_realloc);
        alloc_sweep(run_h2, with_realloc);
    }
}

/* ---- odds and ends ---- */

static void test_reset_and_args(void **state)
{
    ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
    size_t used = 5;
    const char *p;
    size_t n;

    (void)state;
    assert_int_equal(feed_pieces(hs, "BAD\r\n", 5, 0, 0, &used), WS_ERR_HS_SYNTAX);
    assert_int_equal(ws_handshake_reset(hs), WS_OK);
    assert_int_equal(ws_handshake_result(hs), 0);
    assert_int_equal(feed_pieces(hs, chromium, sizeof chromium - 1, 0, 0, &used),
                     WS_HANDSHAKE_COMPLETE);
    check_chromium_views(hs);
    assert_int_equal(ws_handshake_feed(hs, NULL, 0, &used), WS_HANDSHAKE_COMPLETE);
    ws_handshake_free(hs);

    hs = new_hs(WS_ROLE_SERVER, NULL);
    assert_int_equal(ws_handshake_feed(hs, NULL, 0, &used), 0);
    assert_int_equal(ws_handshake_feed(hs, NULL, 3, &used), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_feed(hs, (const uint8_t *)"G", 1, NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_feed(NULL, (const uint8_t *)"G", 1, &used), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_header(hs, NULL, 0, &p, &n), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_handshake_header_count(hs), 0);
    assert_int_equal(ws_handshake_subprotocol_count(NULL), 0);
    assert_int_equal(ws_handshake_status(hs), 0);
    assert_int_equal(ws_handshake_reason(hs, &p, &n), WS_ERR_STATE);
    ws_handshake_free(hs);
    ws_handshake_free(NULL);
    assert_int_equal(ws_handshake_reset(NULL), WS_ERR_INVALID_ARG);

    /* every handshake error has a name and a text */
    for (int e = -40; e >= -79; e--)
        if (strcmp(ws_errname(e), "WS_ERR_UNKNOWN") != 0)
            assert_string_not_equal(ws_strerror(e), "unknown error");
    assert_string_equal(ws_errname(WS_ERR_HS_OBS_FOLD), "WS_ERR_HS_OBS_FOLD");
    assert_string_equal(ws_errname(WS_ERR_URI_FRAGMENT), "WS_ERR_URI_FRAGMENT");
    assert_string_equal(ws_errname(WS_ERR_H2_PSEUDO), "WS_ERR_H2_PSEUDO");
}

/* A client that has written its request (offering `exts`, and the subprotocol "chat" when
 * offer_protos), its key SEQ_KEY0: ready for a response. */
static ws_handshake *client_offering(const char *exts, int offer_protos)
{
    static const char *const protos[] = {"chat"};
    unsigned drawn = 0;
    return client_with_request("ws://h/", protos, offer_protos ? 1 : 0, exts, NULL, NULL, &drawn);
}

/* The limits' setters refuse NULL and values out of range, and any change once the first
 * byte was fed; a limit set low enough refuses a real request. */
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
    assert_int_equal(ws_handshake_set_max_body(hs, 16u << 20), WS_OK);
    assert_int_equal(ws_handshake_set_max_body(hs, 0), WS_OK);
    assert_int_equal(ws_handshake_set_random(NULL, seq_rng, NULL), WS_ERR_INVALID_ARG);

    /* after the first byte, the limits are fixed */
    assert_int_equal(FEED_STR(hs, "G", &used), 0);
    assert_int_equal(ws_handshake_set_max_header_size(hs, 1024), WS_ERR_STATE);
    assert_int_equal(ws_handshake_set_max_headers(hs, 8), WS_ERR_STATE);
    assert_int_equal(ws_handshake_set_max_body(hs, 8), WS_ERR_STATE);
    /* 64 bytes are not enough for a request */
    assert_int_equal(FEED_STR(hs, RL GOOD "\r\n", &used), WS_ERR_HS_TOO_LARGE);
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

/* The client refuses what it did not offer, and an HTTP/1.0 answer. */
static void test_response_negotiation(void **state)
{
    static const char ok_head[] = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                                  "Connection: Upgrade\r\nSec-WebSocket-Accept: " SEQ_KEY0_ACCEPT
                                  "\r\n";
    char resp[512];
    size_t used;
    ws_handshake *hs;
    (void)state;

    hs = client_offering(NULL, 0); /* no extensions offered */
    snprintf(resp, sizeof resp, "%sSec-WebSocket-Extensions: permessage-deflate\r\n\r\n",
             ok_head);
    assert_int_equal(FEED_STR(hs, resp, &used), WS_ERR_HS_EXTENSION);
    ws_handshake_free(hs);

    hs = client_offering("x-one", 1); /* another extension offered */
    assert_int_equal(FEED_STR(hs, resp, &used), WS_ERR_HS_EXTENSION);
    ws_handshake_free(hs);

    hs = client_offering(NULL, 0); /* no subprotocol offered */
    snprintf(resp, sizeof resp, "%sSec-WebSocket-Protocol: chat\r\n\r\n", ok_head);
    assert_int_equal(FEED_STR(hs, resp, &used), WS_ERR_HS_SUBPROTOCOL);
    ws_handshake_free(hs);

    hs = client_offering(NULL, 1);
    snprintf(resp, sizeof resp, "%s\r\n", ok_head);
    resp[7] = '0'; /* HTTP/1.0 */
    assert_int_equal(FEED_STR(hs, resp, &used), WS_ERR_HS_VERSION_HTTP);
    ws_handshake_free(hs);

    hs = client_offering(NULL, 1);
    assert_int_equal(FEED_STR(hs, "HTTP/1.1 99 Too Low\r\n\r\n", &used), WS_ERR_HS_SYNTAX);
    ws_handshake_free(hs);

    hs = client_offering(NULL, 1);
    /* no SP after the status is tolerated; the missing Upgrade is what fails it */
    assert_int_equal(FEED_STR(hs, "HTTP/1.1 101\r\n\r\n", &used), WS_ERR_HS_UPGRADE);
    ws_handshake_free(hs);

    hs = client_offering(NULL, 1);
    assert_int_equal(FEED_STR(hs, "HTTP/1.1 101x\r\n\r\n", &used), WS_ERR_HS_SYNTAX);
    ws_handshake_free(hs);

    hs = client_offering(NULL, 1);
    assert_int_equal(FEED_STR(hs, "HTTP/x.1 101 OK\r\n\r\n", &used), WS_ERR_HS_SYNTAX);
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

/* ws_handshake_accept refuses what it must not write: an extension list that does not parse
 * or answers nothing offered, header lines that are malformed or the library's own, a
 * subprotocol not offered, no buffer; a short buffer says how much is needed. */
static void test_accept_arguments(void **state)
{
    ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
    uint8_t out[512];
    size_t used, need = 0;
    (void)state;

    assert_int_equal(FEED_STR(hs, RL GOOD "Sec-WebSocket-Extensions: x-a; p=1\r\n\r\n", &used),
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
    /* lines end with CRLF: a bare LF or CR would split or hide a header on the wire */
    assert_int_equal(ws_handshake_accept(hs, NULL, NULL, "X-A: b\nX-C: d\r\n", out, sizeof out,
                                         NULL),
                     WS_ERR_ARG_HEADERS);
    assert_int_equal(ws_handshake_accept(hs, NULL, NULL, "X-A: b\rX-C: d\r\n", out, sizeof out,
                                         NULL),
                     WS_ERR_ARG_HEADERS);
    assert_true(ws_handshake_accept(hs, NULL, NULL, "X-A: b\r\nX-C: d\r\n", out, sizeof out,
                                    NULL) > 0);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chromium_every_split),
        cmocka_unit_test(test_rfc_example_accept),
        cmocka_unit_test(test_request_rules),
        cmocka_unit_test(test_views_after_semantic_error),
        cmocka_unit_test(test_error_responses),
        cmocka_unit_test(test_header_size_limit),
        cmocka_unit_test(test_header_count_limit),
        cmocka_unit_test(test_subprotocols),
        cmocka_unit_test(test_extensions),
        cmocka_unit_test(test_accept_extra_headers),
        cmocka_unit_test(test_accept_only_after_complete_request),
        cmocka_unit_test(test_reject),
        cmocka_unit_test(test_client_request),
        cmocka_unit_test(test_client_request_errors),
        cmocka_unit_test(test_client_request_null_arguments),
        cmocka_unit_test(test_client_response_ok),
        cmocka_unit_test(test_client_response_rules),
        cmocka_unit_test(test_client_non101),
        cmocka_unit_test(test_client_non101_small_bodies),
        cmocka_unit_test(test_client_limits),
        cmocka_unit_test(test_h2_good),
        cmocka_unit_test(test_h2_rules),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_reset_and_args),
        cmocka_unit_test(test_setters),
        cmocka_unit_test(test_null_accessors),
        cmocka_unit_test(test_response_negotiation),
        cmocka_unit_test(test_reject_default_reasons),
        cmocka_unit_test(test_accept_arguments),
        cmocka_unit_test(test_extensions_after_reset),
    };
    return cmocka_run_group_tests_name("handshake", tests, NULL, NULL);
}
