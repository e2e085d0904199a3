/*
 * WebSockets over HTTP/2 and HTTP/3 (RFC 8441, RFC 9220; lib/h2.c): the extended CONNECT a
 * binding hands over as decoded header fields. The case rules of the pseudo-header values and
 * the bytes a value may hold. (The request matrix and views are in test_handshake.c.)
 */
#include "testutil.h"

#include "ws.h"

#include <stdio.h>

/* An extended CONNECT whose field `name` has value `value` instead of the usual one. */
static int connect_with(const char *name, const char *value, size_t value_len)
{
    static const char *const base[][2] = {
        {":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "https"},
        {":path", "/chat"},     {":authority", "example.com"}, {"sec-websocket-version", "13"},
    };
    ws_h2_header h[6];
    for (size_t i = 0; i < 6; i++) {
        int mine = strcmp(base[i][0], name) == 0;
        h[i].name = base[i][0];
        h[i].name_len = strlen(base[i][0]);
        h[i].value = mine ? value : base[i][1];
        h[i].value_len = mine ? value_len : strlen(base[i][1]);
    }
    ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
    int r = ws_h2_parse_request(hs, h, 6);
    assert_int_equal(ws_handshake_result(hs), r);
    ws_handshake_free(hs);
    return r;
}

static int connect_with_str(const char *name, const char *value)
{
    return connect_with(name, value, strlen(value));
}

/*
 * :scheme is "http" or "https", lowercase: RFC 8441 section 5 says it "MUST be set to "https"
 * for wss URIs and "http" for ws URIs", and ws.h documents exactly those two values. A scheme
 * is case-insensitive in a URI (RFC 3986 3.1, which also says to produce it lowercase), but
 * here it is a field a conforming client always sends lowercase: "HTTP" is refused. :protocol,
 * by contrast, is compared case-insensitively (ws.h), and :method is a case-sensitive method
 * name (RFC 9110 9.1).
 */
static void test_pseudo_header_case_rules(void **state)
{
    static const struct {
        const char *name, *value;
        int want;
    } cases[] = {
        {":scheme", "https", WS_HANDSHAKE_COMPLETE},
        {":scheme", "http", WS_HANDSHAKE_COMPLETE},
        {":scheme", "HTTP", WS_ERR_H2_SCHEME},
        {":scheme", "Http", WS_ERR_H2_SCHEME},
        {":scheme", "hTTP", WS_ERR_H2_SCHEME},
        {":scheme", "HTTPS", WS_ERR_H2_SCHEME},
        {":scheme", "httpS", WS_ERR_H2_SCHEME},
        {":scheme", "htt", WS_ERR_H2_SCHEME},
        {":scheme", "httpss", WS_ERR_H2_SCHEME},
        {":scheme", "ws", WS_ERR_H2_SCHEME},
        {":scheme", "wss", WS_ERR_H2_SCHEME},
        {":scheme", "", WS_ERR_H2_SCHEME},
        {":protocol", "websocket", WS_HANDSHAKE_COMPLETE},
        {":protocol", "WebSocket", WS_HANDSHAKE_COMPLETE},
        {":protocol", "WEBSOCKET", WS_HANDSHAKE_COMPLETE},
        {":protocol", "xebsocket", WS_ERR_H2_PROTOCOL},
        {":protocol", "websockets", WS_ERR_H2_PROTOCOL},
        {":method", "CONNECT", WS_HANDSHAKE_COMPLETE},
        {":method", "Connect", WS_ERR_H2_METHOD},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int r = connect_with_str(cases[i].name, cases[i].value);
        if (r != cases[i].want)
            print_message("%s \"%s\": %s, want %s\n", cases[i].name, cases[i].value,
                          ws_errname(r), ws_errname(cases[i].want));
        assert_int_equal(r, cases[i].want);
    }
}

/* A value holds no control byte: DEL (0x7F) in :authority is refused as it arrives, like NUL,
 * CR, LF and the other C0 controls but HTAB (inside a value); 0x7E and obs-text are content. */
static void test_authority_bytes(void **state)
{
    char v[16];
    (void)state;
    for (unsigned c = 0; c < 0x100; c++) {
        int ctl = (c < 0x20 && c != '\t') || c == 0x7f;
        snprintf(v, sizeof v, "exa_mple.com");
        v[3] = (char)c;
        int r = connect_with(":authority", v, 11);
        if (r != (ctl ? WS_ERR_H2_HEADER : WS_HANDSHAKE_COMPLETE))
            print_message("byte 0x%02x in :authority: %s\n", c, ws_errname(r));
        assert_int_equal(r, ctl ? WS_ERR_H2_HEADER : WS_HANDSHAKE_COMPLETE);
    }
    assert_int_equal(connect_with_str(":authority", "\x7f"), WS_ERR_H2_HEADER);
    assert_int_equal(connect_with_str(":authority", "example.com\x7f"), WS_ERR_H2_HEADER);

    /* refused at ws_h2_add_header already, and sticky */
    ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
    assert_int_equal(ws_h2_add_header(hs, ":method", 7, "CONNECT", 7), WS_OK);
    assert_int_equal(ws_h2_add_header(hs, ":authority", 10, "a\x7f", 2), WS_ERR_H2_HEADER);
    assert_int_equal(ws_h2_add_header(hs, ":path", 5, "/", 1), WS_ERR_H2_HEADER);
    assert_int_equal(ws_h2_end_headers(hs), WS_ERR_H2_HEADER);
    ws_handshake_free(hs);
}

/* An error is sticky; HTTP/1.1 bytes and HTTP/2 fields do not mix, and a client has no
 * request to end; the field count is bounded by ws_handshake_set_max_headers. */
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
    assert_int_equal(ws_handshake_feed(hs, (const uint8_t *)"GET", 3, &used), 0);
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

/* Add the usual six fields (110 bytes by the count below) to a new server handshake of this
 * header size limit, :authority `authority`; returns the last add's result, and checks that
 * ws_h2_end_headers agrees (complete, or the same error, sticky). */
static int add_fields_with_limit(size_t limit, const char *authority)
{
    const char *const f[6][2] = {
        {":method", "CONNECT"}, {":protocol", "websocket"}, {":scheme", "https"},
        {":path", "/chat"},     {":authority", authority},  {"sec-websocket-version", "13"},
    };
    ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
    assert_int_equal(ws_handshake_set_max_header_size(hs, limit), WS_OK);
    int r = WS_OK;
    for (size_t i = 0; i < 6 && r == WS_OK; i++) {
        r = ws_h2_add_header(hs, f[i][0], strlen(f[i][0]), f[i][1], strlen(f[i][1]));
        if (i < 5)
            assert_int_equal(r, WS_OK);
    }
    assert_int_equal(ws_h2_end_headers(hs), r == WS_OK ? WS_HANDSHAKE_COMPLETE : r);
    ws_handshake_free(hs);
    return r;
}

/* The header size limit over HTTP/2 counts name + value + 2 bytes per field (ws.h): a request
 * whose fields add up to exactly the limit is accepted; one byte over -- a lower limit, or a
 * longer value -- is WS_ERR_HS_TOO_LARGE at the field that goes over. */
static void test_header_size_limit_exact(void **state)
{
    (void)state;
    /* 7+7 + 9+9 + 7+5 + 5+5 + 10+11 + 21+2, and 2 per field */
    assert_int_equal(add_fields_with_limit(110, "example.com"), WS_OK);
    assert_int_equal(add_fields_with_limit(109, "example.com"), WS_ERR_HS_TOO_LARGE);
    assert_int_equal(add_fields_with_limit(110, "example.co"), WS_OK);
    assert_int_equal(add_fields_with_limit(110, "example.com."), WS_ERR_HS_TOO_LARGE);
    assert_int_equal(add_fields_with_limit(111, "example.com."), WS_OK);
}

/* A field over both the size limit and the field count limit is WS_ERR_HS_TOO_LARGE, as over
 * HTTP/1.1 (where the size limit is met byte by byte, before the line that would be one too
 * many ends); a field within the size limit but one too many is WS_ERR_HS_TOO_MANY_HEADERS. */
static void test_size_limit_before_count_limit(void **state)
{
    char v[64];
    (void)state;
    for (size_t vlen = 40; vlen <= 43; vlen++) {
        ws_handshake *hs = new_hs(WS_ROLE_SERVER, NULL);
        assert_int_equal(ws_handshake_set_max_header_size(hs, 64), WS_OK);
        assert_int_equal(ws_handshake_set_max_headers(hs, 1), WS_OK);
        assert_int_equal(ws_h2_add_header(hs, ":method", 7, "CONNECT", 7), WS_OK); /* 16 bytes */
        memset(v, '/', vlen);
        /* 16 + 5 + vlen + 2 bytes: over 64 from vlen 42 on */
        int want = vlen >= 42 ? WS_ERR_HS_TOO_LARGE : WS_ERR_HS_TOO_MANY_HEADERS;
        assert_int_equal(ws_h2_add_header(hs, ":path", 5, v, vlen), want);
        assert_int_equal(ws_h2_end_headers(hs), want);
        ws_handshake_free(hs);
    }
}

/* RFC 9113 8.2.1: a field value neither starts nor ends with SP or HTAB -- each of the four
 * cases is refused on its own -- while whitespace inside it is content. */
static void test_value_edge_whitespace(void **state)
{
    static const struct {
        const char *v;
        int want;
    } cases[] = {
        {"example.com ", WS_ERR_H2_HEADER},  {"example.com\t", WS_ERR_H2_HEADER},
        {" example.com", WS_ERR_H2_HEADER},  {"\texample.com", WS_ERR_H2_HEADER},
        {"exa mple.com", WS_HANDSHAKE_COMPLETE}, {"exa\tmple.com", WS_HANDSHAKE_COMPLETE},
        {"e", WS_HANDSHAKE_COMPLETE},        {" ", WS_ERR_H2_HEADER},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* the value alone in a guarded copy: nothing past it is read */
        size_t n = strlen(cases[i].v);
        guarded g = guarded_copy(cases[i].v, n);
        int r = connect_with(":authority", (const char *)g.data, n);
        guarded_free(&g);
        if (r != cases[i].want)
            print_message(":authority \"%s\": %s\n", cases[i].v, ws_errname(r));
        assert_int_equal(r, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pseudo_header_case_rules),
        cmocka_unit_test(test_authority_bytes),
        cmocka_unit_test(test_h2_edges),
        cmocka_unit_test(test_header_size_limit_exact),
        cmocka_unit_test(test_size_limit_before_count_limit),
        cmocka_unit_test(test_value_edge_whitespace),
    };
    return cmocka_run_group_tests_name("h2", tests, NULL, NULL);
}
