/*
 * The HTTP/1.1 message parser and the header rules behind the opening handshake (lib/http.c):
 * tokens and names compare whole and case-insensitively, control bytes are refused wherever
 * they appear, a status code is three digits. Through ws_handshake, as a server or client
 * sees it. The handshake's own semantics are in test_handshake.c, HTTP/2 in test_h2.c.
 */
#include "testutil.h"

#include "ws.h"

#include <stdio.h>

/* Feed a whole message to a fresh handshake of this role (a client first writes its request
 * with a fixed key), at once and byte by byte, each piece a guarded copy; both must give the
 * same result, which is returned. */
static int parse_as(uint32_t role, const char *msg, size_t n)
{
    int results[2];
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        ws_handshake *hs = new_hs(role, NULL);
        int r = 0;
        if (role == WS_ROLE_CLIENT)
            assert_true(ws_handshake_client_request(hs, "ws://h/", 7, NULL, 0, NULL, NULL, NULL,
                                                    0, NULL) == WS_ERR_BUFFER_TOO_SMALL);
        for (size_t pos = 0; pos < n && r == 0;) {
            size_t k = bytewise ? 1 : n - pos, used = 0;
            guarded g = guarded_copy(msg + pos, k);
            r = ws_handshake_feed(hs, g.data, k, &used);
            guarded_free(&g);
            pos += used;
        }
        results[bytewise] = r;
        ws_handshake_free(hs);
    }
    if (results[0] != results[1])
        print_message("at once %s, byte by byte %s:\n%s\n", ws_errname(results[0]),
                      ws_errname(results[1]), msg);
    assert_int_equal(results[0], results[1]);
    return results[0];
}

static int request(const char *msg)
{
    return parse_as(WS_ROLE_SERVER, msg, strlen(msg));
}

/* The request with one header line replaced (or added when `line` names none of them). */
static int request_with(const char *name, const char *line)
{
    static const char *const base[] = {"Host: example.com", "Upgrade: websocket",
                                       "Connection: Upgrade",
                                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                                       "Sec-WebSocket-Version: 13"};
    char req[1024];
    int n = snprintf(req, sizeof req, "GET /chat HTTP/1.1\r\n");
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++) {
        const char *l = strncmp(base[i], name, strlen(name)) == 0 ? line : base[i];
        if (l && *l)
            n += snprintf(req + n, sizeof req - (size_t)n, "%s\r\n", l);
    }
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    assert_true(n > 0 && (size_t)n < sizeof req);
    return request(req);
}

/* The server's 101 answer to the client's request in parse_as (key drawn by the default
 * hook, so it is computed here from a server parsing that very request). */
static int response_with(const char *from, const char *to)
{
    ws_handshake *cli = new_hs(WS_ROLE_CLIENT, NULL), *srv = new_hs(WS_ROLE_SERVER, NULL);
    uint8_t req[512], resp[512];
    size_t used;
    int n = ws_handshake_client_request(cli, "ws://h/", 7, NULL, 0, NULL, NULL, req, sizeof req,
                                        NULL);
    assert_true(n > 0);
    assert_int_equal(ws_handshake_feed(srv, req, (size_t)n, &used), WS_HANDSHAKE_COMPLETE);
    int m = ws_handshake_accept(srv, NULL, NULL, NULL, resp, sizeof resp - 1, NULL);
    assert_true(m > 0);
    resp[m] = 0;
    char *at = strstr((char *)resp, from);
    assert_non_null(at);
    assert_int_equal(strlen(from), strlen(to));
    memcpy(at, to, strlen(to));
    int r = ws_handshake_feed(cli, resp, (size_t)m, &used);
    ws_handshake_free(cli);
    ws_handshake_free(srv);
    return r;
}

/* Tokens and header names match whole words, case-insensitively: a word that differs only in
 * its first letter is another word ("xebsocket", "xpgrade", "Xost"), and so is one with a
 * letter more or less. */
static void test_tokens_and_names_compare_whole(void **state)
{
    (void)state;
    assert_int_equal(request_with("Host", "Host: example.com"), WS_HANDSHAKE_COMPLETE);
    assert_int_equal(request_with("Upgrade", "UPGRADE: WebSocket"), WS_HANDSHAKE_COMPLETE);
    assert_int_equal(request_with("Connection", "connection: keep-alive, uPGRADE"),
                     WS_HANDSHAKE_COMPLETE);

    assert_int_equal(request_with("Upgrade", "Upgrade: xebsocket"), WS_ERR_HS_UPGRADE);
    assert_int_equal(request_with("Upgrade", "Upgrade: websockex"), WS_ERR_HS_UPGRADE);
    assert_int_equal(request_with("Upgrade", "Upgrade: websocke"), WS_ERR_HS_UPGRADE);
    assert_int_equal(request_with("Upgrade", "Upgrade: wwebsocket"), WS_ERR_HS_UPGRADE);
    assert_int_equal(request_with("Upgrade", "Xpgrade: websocket"), WS_ERR_HS_UPGRADE);
    assert_int_equal(request_with("Connection", "Connection: xpgrade"), WS_ERR_HS_CONNECTION);
    assert_int_equal(request_with("Connection", "Connection: keep-alive, Upgradx"),
                     WS_ERR_HS_CONNECTION);
    assert_int_equal(request_with("Connection", "Xonnection: Upgrade"), WS_ERR_HS_CONNECTION);
    assert_int_equal(request_with("Host", "Xost: example.com"), WS_ERR_HS_NO_HOST);
    assert_int_equal(request_with("Sec-WebSocket-Version", "Sec-WebSocket-Version: 13"),
                     WS_HANDSHAKE_COMPLETE);
    assert_int_equal(request_with("Sec-WebSocket-Version", "Xec-WebSocket-Version: 13"),
                     WS_ERR_HS_WS_VERSION);

    /* the client reads the server's answer by the same rules */
    assert_int_equal(response_with("Upgrade: websocket", "Upgrade: websocket"),
                     WS_HANDSHAKE_COMPLETE);
    assert_int_equal(response_with("Upgrade: websocket", "upgrade: WEBSOCKET"),
                     WS_HANDSHAKE_COMPLETE);
    assert_int_equal(response_with("Upgrade: websocket", "Upgrade: xebsocket"),
                     WS_ERR_HS_UPGRADE);
    assert_int_equal(response_with("Connection: Upgrade", "Connection: xpgrade"),
                     WS_ERR_HS_CONNECTION);
    assert_int_equal(response_with("Sec-WebSocket-Accept", "Xec-WebSocket-Accept"),
                     WS_ERR_HS_ACCEPT);
}

/* DEL (0x7F) is a control character: refused in a Host value, in any other value, in a name,
 * and in a response's reason phrase -- as are the C0 controls other than HTAB, while the
 * bytes around DEL (0x7E, and obs-text from 0x80) are field content. */
static void test_control_bytes_refused(void **state)
{
    char line[64];
    (void)state;
    for (unsigned c = 1; c < 0x100; c++) {
        int ctl = (c < 0x20 && c != '\t') || c == 0x7f;
        if (c == '\r' || c == '\n')
            continue; /* line structure: test_handshake.c */
        snprintf(line, sizeof line, "Host: exa%cmple.com", (char)c);
        int r = request_with("Host", line);
        if (r != (ctl ? WS_ERR_HS_CTL_CHAR : WS_HANDSHAKE_COMPLETE))
            print_message("byte 0x%02x in Host: %s\n", c, ws_errname(r));
        assert_int_equal(r, ctl ? WS_ERR_HS_CTL_CHAR : WS_HANDSHAKE_COMPLETE);
    }
    assert_int_equal(request_with("Host", "Host: example.com\x7f"), WS_ERR_HS_CTL_CHAR);
    assert_int_equal(request_with("Host", "Host: \x7f"), WS_ERR_HS_CTL_CHAR);
    assert_int_equal(request_with("Upgrade", "Upgrade: websocket\r\nOrigin: http://a\x7f"),
                     WS_ERR_HS_CTL_CHAR);
    assert_int_equal(request_with("Upgrade", "Upgrade: websocket\r\nX-\x7f: 1"),
                     WS_ERR_HS_CTL_CHAR);
    assert_int_equal(request("GET /a\x7f HTTP/1.1\r\nHost: h\r\n\r\n"), WS_ERR_HS_CTL_CHAR);

    /* a response: DEL in the reason phrase, or in a value */
    static const char *const resp[] = {"HTTP/1.1 403 Forbid\x7f" "den\r\n\r\n",
                                       "HTTP/1.1 403 Forbidden\r\nX: a\x7f\r\n\r\n"};
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(parse_as(WS_ROLE_CLIENT, resp[i], strlen(resp[i])), WS_ERR_HS_CTL_CHAR);
    static const char ok[] = "HTTP/1.1 403 Forbidden~\r\nX: caf\xc3\xa9\r\n\r\n";
    assert_int_equal(parse_as(WS_ROLE_CLIENT, ok, strlen(ok)), WS_ERR_HS_STATUS);
}

/* A status code is exactly three digits, the first 1..5: any other byte in any of the three
 * places is a syntax error, not a status. */
static void test_status_code_digits(void **state)
{
    static const char *const bad[] = {"x01", "1x1", "10x", "0 1", "1 1", "10 ", "601",
                                      "001", "1:1", "1/1", "10:", "/01", "1011", "10"};
    char resp[64];
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(resp, sizeof resp, "HTTP/1.1 %s Reason\r\n\r\n", bad[i]);
        int r = parse_as(WS_ROLE_CLIENT, resp, strlen(resp));
        if (r != WS_ERR_HS_SYNTAX)
            print_message("status \"%s\": %s\n", bad[i], ws_errname(r));
        assert_int_equal(r, WS_ERR_HS_SYNTAX);
    }
    /* every good code is read as the number it spells */
    for (int code = 100; code <= 599; code += 37) {
        ws_handshake *hs = new_hs(WS_ROLE_CLIENT, NULL);
        size_t used;
        assert_true(ws_handshake_client_request(hs, "ws://h/", 7, NULL, 0, NULL, NULL, NULL, 0,
                                                NULL) == WS_ERR_BUFFER_TOO_SMALL);
        snprintf(resp, sizeof resp, "HTTP/1.1 %d R\r\n\r\n", code);
        assert_int_equal(ws_handshake_feed(hs, (const uint8_t *)resp, strlen(resp), &used),
                         code == 101 ? WS_ERR_HS_UPGRADE : WS_ERR_HS_STATUS);
        assert_int_equal(ws_handshake_status(hs), code);
        ws_handshake_free(hs);
    }
}

/* What the caller adds to a message it writes obeys the parser's byte rules too: a DEL or
 * another control byte in an extra header line, or in a reason phrase, is refused before
 * anything is written; the bytes around DEL are fine. */
static void test_caller_lines_refuse_control_bytes(void **state)
{
    ws_handshake *cli = new_hs(WS_ROLE_CLIENT, NULL), *srv = new_hs(WS_ROLE_SERVER, NULL);
    uint8_t req[512], out[512];
    size_t used;
    char line[32], reason[32];
    (void)state;

    int n = ws_handshake_client_request(cli, "ws://h/", 7, NULL, 0, NULL, NULL, req, sizeof req,
                                        NULL);
    assert_true(n > 0);
    assert_int_equal(ws_handshake_feed(srv, req, (size_t)n, &used), WS_HANDSHAKE_COMPLETE);
    for (unsigned c = 1; c < 0x100; c++) {
        int ctl = (c < 0x20 && c != '\t') || c == 0x7f;
        if (c == '\r' || c == '\n')
            continue; /* line structure, not content */
        snprintf(line, sizeof line, "X-Note: a%cb\r\n", (char)c);
        snprintf(reason, sizeof reason, "Go%caway", (char)c);
        int want_h = ctl ? WS_ERR_ARG_HEADERS : 0, want_s = ctl ? WS_ERR_ARG_STATUS : 0;
        int r = ws_handshake_reject(403, reason, NULL, NULL, 0, out, sizeof out, NULL);
        if ((r < 0 ? r : 0) != want_s)
            print_message("byte 0x%02x in a reason: %s\n", c, ws_errname(r));
        assert_int_equal(r < 0 ? r : 0, want_s);
        r = ws_handshake_reject(403, NULL, line, NULL, 0, out, sizeof out, NULL);
        assert_int_equal(r < 0 ? r : 0, want_h);
        r = ws_handshake_accept(srv, NULL, NULL, line, out, sizeof out, NULL);
        assert_int_equal(r < 0 ? r : 0, want_h);
        ws_handshake *c2 = new_hs(WS_ROLE_CLIENT, NULL);
        r = ws_handshake_client_request(c2, "ws://h/", 7, NULL, 0, NULL, line, out, sizeof out,
                                        NULL);
        assert_int_equal(r < 0 ? r : 0, want_h);
        ws_handshake_free(c2);
    }
    ws_handshake_free(cli);
    ws_handshake_free(srv);
}

/* The request head without its final empty line: a test adds lines, then "\r\n". */
#define REQ_HEAD                                                                             \
    "GET /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"        \
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

static int feed_str(ws_handshake *hs, const char *s, size_t *used)
{
    return ws_handshake_feed(hs, (const uint8_t *)s, strlen(s), used);
}

/* A client that has written its request, fed `resp` (the result in *r). */
static ws_handshake *client_fed(const char *resp, int *r)
{
    ws_handshake *hs = new_hs(WS_ROLE_CLIENT, NULL);
    uint8_t out[512];
    size_t used;
    assert_true(ws_handshake_client_request(hs, "ws://h/", 7, NULL, 0, NULL, NULL, out,
                                            sizeof out, NULL) > 0);
    *r = feed_str(hs, resp, &used);
    return hs;
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
        /* 18 digits are still a length (leading zeros allowed); 19 are not (above) */
        {"HTTP/1.1 404 Not Found\r\nContent-Length: 000000000000000003\r\n\r\nabc", 3},
        {"HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nTransfer-Encoding: x\r\n\r\nabc", 0},
        {"HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\nabc", 0},
        {"HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\nabc", 0},
        {"HTTP/1.1 100 Continue\r\nContent-Length: 3\r\n\r\nabc", 0},
        {"HTTP/1.1 500 Oops\r\nContent-Length: 40\r\n\r\nabc", 3},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const uint8_t *b;
        size_t bn;
        int r;
        ws_handshake *hs = client_fed(cases[i].resp, &r);
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
        char req[512];
        int r;
        snprintf(req, sizeof req, "%s%s", cases[i].req,
                 cases[i].want == WS_ERR_HS_VERSION_HTTP
                     ? "Host: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n"
                     : "\r\n");
        r = request(req); /* at once and byte by byte, guarded */
        if (r != cases[i].want)
            fail_msg("case %zu: got %s, want %s", i, ws_errname(r), ws_errname(cases[i].want));
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

/* request-line = method SP request-target SP HTTP-version (RFC 9112 3): exactly one space
 * before the version. A target that ends in anything else -- a tab, obs-text, a second space
 * -- does not end there: the line is a syntax error, not a request for "/a". */
static void test_request_line_separators(void **state)
{
    static const char *const bad[] = {"GET /a\tHTTP/1.1", "GET /a\x80HTTP/1.1",
                                      "GET /a\xffHTTP/1.1", "GET /a  HTTP/1.1",
                                      "GET  /a HTTP/1.1", "GET\t/a HTTP/1.1", "GET /a\t HTTP/1.1",
                                      "GET /aHTTP/1.1", "GET  HTTP/1.1", "GET /a"};
    char req[256];
    (void)state;
    snprintf(req, sizeof req, "GET /a HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n");
    assert_int_equal(request(req), WS_HANDSHAKE_COMPLETE);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(req, sizeof req, "%s\r\nHost: h\r\n\r\n", bad[i]);
        int r = request(req);
        if (r != WS_ERR_HS_SYNTAX)
            print_message("request line \"%s\": %s\n", bad[i], ws_errname(r));
        assert_int_equal(r, WS_ERR_HS_SYNTAX);
    }
}

/* A server handshake that parsed the base request with this header line added. */
static ws_handshake *parsed_with(const char *line)
{
    char req[512];
    size_t used;
    int n = snprintf(req, sizeof req, "%s%s\r\n\r\n", REQ_HEAD, line);
    assert_true(n > 0 && (size_t)n < sizeof req);
    ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
    assert_int_equal(ws_handshake_feed(hs, (const uint8_t *)req, (size_t)n, &used),
                     WS_HANDSHAKE_COMPLETE);
    return hs;
}

/* Lists (RFC 9110 5.6.1): a recipient accepts and ignores empty elements -- a leading comma,
 * two commas in a row, a comma at the end, with or without whitespace -- in the subprotocol
 * and the extension lists alike; the elements around them are read as if they were not there. */
static void test_lists_skip_empty_elements(void **state)
{
    static const char *const protos[] = {
        "Sec-WebSocket-Protocol: ,chat,,superchat,", "Sec-WebSocket-Protocol: , chat , ,superchat",
        ("Sec-WebSocket-Protocol: chat,\r\nSec-WebSocket-Protocol: ,,superchat")};
    static const char *const exts[] = {
        "Sec-WebSocket-Extensions: ,permessage-deflate;client_max_window_bits,,x-foo;a=1,",
        "Sec-WebSocket-Extensions: , permessage-deflate ; client_max_window_bits , , x-foo; a=1",
        ("Sec-WebSocket-Extensions: ,,permessage-deflate;client_max_window_bits,\r\n"
         "Sec-WebSocket-Extensions: , ,x-foo;a=1 ,")};
    const char *p, *v;
    size_t len, vlen, np;
    (void)state;
    for (size_t i = 0; i < 3; i++) {
        ws_handshake *hs = parsed_with(protos[i]);
        assert_int_equal(ws_handshake_subprotocol_count(hs), 2);
        assert_int_equal(ws_handshake_subprotocol(hs, 0, &p, &len), WS_OK);
        assert_view(p, len, "chat");
        assert_int_equal(ws_handshake_subprotocol(hs, 1, &p, &len), WS_OK);
        assert_view(p, len, "superchat");
        ws_handshake_free(hs);

        hs = parsed_with(exts[i]);
        assert_int_equal(ws_handshake_extension_count(hs), 2);
        assert_int_equal(ws_handshake_extension(hs, 0, &p, &len, &np), WS_OK);
        assert_view(p, len, "permessage-deflate");
        assert_int_equal(np, 1);
        assert_int_equal(ws_handshake_extension_param(hs, 0, 0, &p, &len, &v, &vlen), WS_OK);
        assert_view(p, len, "client_max_window_bits");
        assert_null(v);
        assert_int_equal(ws_handshake_extension(hs, 1, &p, &len, &np), WS_OK);
        assert_view(p, len, "x-foo");
        assert_int_equal(np, 1);
        assert_int_equal(ws_handshake_extension_param(hs, 1, 0, &p, &len, &v, &vlen), WS_OK);
        assert_view(p, len, "a");
        assert_view(v, vlen, "1");
        ws_handshake_free(hs);
    }
}

/* The header table starts with room for 8 lines and doubles: a request of up to 8 header
 * lines costs the same allocations as one of 5 (the table once), the 9th line grows it once
 * (one more call), up to 16, and the 17th once again. Counted by the allocator a server
 * handshake is given; the requests stay below the 512-byte first buffer. */
static long calls_for_request(size_t nlines)
{
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\n");
    for (size_t i = 5; i < nlines; i++)
        n += snprintf(req + n, sizeof req - (size_t)n, "X%zu: y\r\n", i);
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    assert_true(n < 512);
    failalloc fa;
    ws_allocator a = failalloc_init(&fa, -1, 0);
    ws_handshake *hs = new_hs(WS_ROLE_SERVER, &a);
    size_t used = 0;
    assert_int_equal(ws_handshake_feed(hs, (const uint8_t *)req, (size_t)n, &used), 1);
    assert_int_equal(used, (size_t)n);
    long calls = fa.calls;
    ws_handshake_free(hs);
    assert_int_equal(fa.live, 0);
    return calls;
}

static void test_header_table_growth(void **state)
{
    (void)state;
    long five = calls_for_request(5);
    assert_int_equal(calls_for_request(8), five);
    assert_int_equal(calls_for_request(9), five + 1);
    assert_int_equal(calls_for_request(16), five + 1);
    assert_int_equal(calls_for_request(17), five + 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tokens_and_names_compare_whole),
        cmocka_unit_test(test_control_bytes_refused),
        cmocka_unit_test(test_status_code_digits),
        cmocka_unit_test(test_caller_lines_refuse_control_bytes),
        cmocka_unit_test(test_request_content_length),
        cmocka_unit_test(test_response_body_rules),
        cmocka_unit_test(test_http_syntax_edges),
        cmocka_unit_test(test_lists_and_whitespace),
        cmocka_unit_test(test_request_line_separators),
        cmocka_unit_test(test_lists_skip_empty_elements),
        cmocka_unit_test(test_header_table_growth),
    };
    return cmocka_run_group_tests_name("http", tests, NULL, NULL);
}
