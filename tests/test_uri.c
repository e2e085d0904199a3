/* ws:// and wss:// URI parsing. */
#include "testutil.h"

#include "ws.h"

#include <stdio.h>

typedef struct uri_case {
    const char *in;
    int want;
    const char *host; /* expected on success */
    unsigned port;
    const char *path;
    const char *query; /* NULL: no '?' */
    int secure, ipv6;
} uri_case;

static const uri_case good[] = {
    {"ws://example.com", WS_OK, "example.com", 80, "", NULL, 0, 0},
    {"wss://example.com", WS_OK, "example.com", 443, "", NULL, 1, 0},
    {"WS://Example.COM/", WS_OK, "Example.COM", 80, "/", NULL, 0, 0},
    {"wSs://example.com:8443/chat?room=1&x=%20", WS_OK, "example.com", 8443, "/chat",
     "room=1&x=%20", 1, 0},
    {"ws://example.com:80/", WS_OK, "example.com", 80, "/", NULL, 0, 0},
    {"ws://example.com:00443", WS_OK, "example.com", 443, "", NULL, 0, 0},
    {"ws://example.com:65535/a/b/", WS_OK, "example.com", 65535, "/a/b/", NULL, 0, 0},
    {"ws://h?", WS_OK, "h", 80, "", "", 0, 0},
    {"ws://h?a=/b?c", WS_OK, "h", 80, "", "a=/b?c", 0, 0},
    {"ws://h/p:a@b;c=d!$&'()*+,~._-", WS_OK, "h", 80, "/p:a@b;c=d!$&'()*+,~._-", NULL, 0, 0},
    {"ws://127.0.0.1:9001/", WS_OK, "127.0.0.1", 9001, "/", NULL, 0, 0},
    {"ws://[::1]", WS_OK, "::1", 80, "", NULL, 0, 1},
    {"wss://[2001:db8::7]:8443/x?y", WS_OK, "2001:db8::7", 8443, "/x", "y", 1, 1},
    {"ws://[::ffff:192.0.2.1]/", WS_OK, "::ffff:192.0.2.1", 80, "/", NULL, 0, 1},
    {"ws://[fe80::1%25eth0]/", WS_OK, "fe80::1%25eth0", 80, "/", NULL, 0, 1},
    {"ws://xn--bcher-kva.example/%E2%82%AC", WS_OK, "xn--bcher-kva.example", 80, "/%E2%82%AC", NULL,
     0, 0},
};

static const uri_case bad[] = {
    {"http://example.com/", WS_ERR_URI_SCHEME, 0, 0, 0, 0, 0, 0},
    {"https://example.com/", WS_ERR_URI_SCHEME, 0, 0, 0, 0, 0, 0},
    {"wsx://example.com/", WS_ERR_URI_SCHEME, 0, 0, 0, 0, 0, 0},
    {"example.com", WS_ERR_URI_SCHEME, 0, 0, 0, 0, 0, 0},
    {"//example.com", WS_ERR_URI_SCHEME, 0, 0, 0, 0, 0, 0},
    {"", WS_ERR_URI_SCHEME, 0, 0, 0, 0, 0, 0},
    {"ws:example.com", WS_ERR_URI_HOST, 0, 0, 0, 0, 0, 0},
    {"ws:/example.com", WS_ERR_URI_HOST, 0, 0, 0, 0, 0, 0},
    {"ws:x/example.com", WS_ERR_URI_HOST, 0, 0, 0, 0, 0, 0}, /* the first slash missing */
    {"ws://", WS_ERR_URI_HOST, 0, 0, 0, 0, 0, 0},
    {"ws:///path", WS_ERR_URI_HOST, 0, 0, 0, 0, 0, 0},
    {"ws://:80/", WS_ERR_URI_HOST, 0, 0, 0, 0, 0, 0},
    {"ws://a b/", WS_ERR_URI_HOST, 0, 0, 0, 0, 0, 0},
    {"ws://a%zz/", WS_ERR_URI_HOST, 0, 0, 0, 0, 0, 0},
    {"ws://[::1/", WS_ERR_URI_HOST, 0, 0, 0, 0, 0, 0},
    {"ws://[]/", WS_ERR_URI_HOST, 0, 0, 0, 0, 0, 0},
    {"ws://[zz::1]/", WS_ERR_URI_HOST, 0, 0, 0, 0, 0, 0},
    {"ws://[127.0.0.1]/", WS_ERR_URI_HOST, 0, 0, 0, 0, 0, 0},
    {"ws://[::1]x/", WS_ERR_URI_HOST, 0, 0, 0, 0, 0, 0},
    {"ws://[fe80::1%eth0]/", WS_ERR_URI_HOST, 0, 0, 0, 0, 0, 0},
    {"ws://::1/", WS_ERR_URI_HOST, 0, 0, 0, 0, 0, 0},
    {"ws://h:/", WS_ERR_URI_PORT, 0, 0, 0, 0, 0, 0},
    {"ws://h:0/", WS_ERR_URI_PORT, 0, 0, 0, 0, 0, 0},
    {"ws://h:65536/", WS_ERR_URI_PORT, 0, 0, 0, 0, 0, 0},
    {"ws://h:99999999999999999999/", WS_ERR_URI_PORT, 0, 0, 0, 0, 0, 0},
    {"ws://h:8a/", WS_ERR_URI_PORT, 0, 0, 0, 0, 0, 0},
    {"ws://h:-1/", WS_ERR_URI_PORT, 0, 0, 0, 0, 0, 0},
    {"ws://h:80:81/", WS_ERR_URI_PORT, 0, 0, 0, 0, 0, 0},
    {"ws://[::1]:/", WS_ERR_URI_PORT, 0, 0, 0, 0, 0, 0},
    {"ws://h/#frag", WS_ERR_URI_FRAGMENT, 0, 0, 0, 0, 0, 0},
    {"ws://h/a?b#", WS_ERR_URI_FRAGMENT, 0, 0, 0, 0, 0, 0},
    {"ws://h#/", WS_ERR_URI_FRAGMENT, 0, 0, 0, 0, 0, 0},
    {"ws://user@h/", WS_ERR_URI_USERINFO, 0, 0, 0, 0, 0, 0},
    {"wss://user:pass@h:443/", WS_ERR_URI_USERINFO, 0, 0, 0, 0, 0, 0},
    {"ws://h/a b", WS_ERR_URI_PATH, 0, 0, 0, 0, 0, 0},
    {"ws://h/a\"b", WS_ERR_URI_PATH, 0, 0, 0, 0, 0, 0},
    {"ws://h/%zz", WS_ERR_URI_PATH, 0, 0, 0, 0, 0, 0},
    {"ws://h/%4", WS_ERR_URI_PATH, 0, 0, 0, 0, 0, 0},
    {"ws://h/?a=%", WS_ERR_URI_PATH, 0, 0, 0, 0, 0, 0},
    {"ws://h/?a=<b>", WS_ERR_URI_PATH, 0, 0, 0, 0, 0, 0},
    {"ws://h/\xc3\xa9", WS_ERR_URI_PATH, 0, 0, 0, 0, 0, 0},
    {"ws://h/a\r\nX: y", WS_ERR_URI_PATH, 0, 0, 0, 0, 0, 0},
};

static int parse_guarded(const char *s, ws_uri *u)
{
    size_t n = strlen(s);
    guarded g = guarded_copy(s, n);
    int r = ws_uri_parse((const char *)g.data, n, u, sizeof *u);
    /* the views point into the caller's string: rebase them onto s before unmapping */
    if (r == WS_OK) {
        u->host = s + (u->host - (const char *)g.data);
        u->path = s + (u->path - (const char *)g.data);
        if (u->query)
            u->query = s + (u->query - (const char *)g.data);
    }
    guarded_free(&g);
    return r;
}

static void assert_part(const char *p, size_t n, const char *want)
{
    assert_non_null(p);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(p, want, n);
}

static void test_uri_good(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        const uri_case *c = &good[i];
        ws_uri u;
        int r = parse_guarded(c->in, &u);
        if (r != WS_OK)
            fprintf(stderr, "%s: %s\n", c->in, ws_errname(r));
        assert_int_equal(r, WS_OK);
        assert_part(u.host, u.host_len, c->host);
        assert_int_equal(u.port, c->port);
        assert_part(u.path, u.path_len, c->path);
        if (c->query)
            assert_part(u.query, u.query_len, c->query);
        else
            assert_null(u.query);
        assert_int_equal(u.secure, c->secure);
        assert_int_equal(u.ipv6, c->ipv6);
    }
}

static void test_uri_bad(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ws_uri u;
        int r = parse_guarded(bad[i].in, &u);
        if (r != bad[i].want)
            fprintf(stderr, "%s: got %s\n", bad[i].in, ws_errname(r));
        assert_int_equal(r, bad[i].want);
    }
}

static void test_uri_args_and_prefixes(void **state)
{
    static const char s[] = "wss://example.com:8443/chat?room=1";
    ws_uri u;

    (void)state;
    assert_int_equal(ws_uri_parse(NULL, 0, &u, sizeof u), WS_ERR_URI_SCHEME);
    assert_int_equal(ws_uri_parse(NULL, 3, &u, sizeof u), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_uri_parse(s, sizeof s - 1, NULL, sizeof(ws_uri)), WS_ERR_INVALID_ARG);
    /* rule 4: a struct smaller than the 0.2 layout is refused and not written; a larger one
     * gets its unknown tail zeroed */
    memset(&u, 0xAA, sizeof u);
    assert_int_equal(ws_uri_parse(s, sizeof s - 1, &u, offsetof(ws_uri, ipv6)), WS_ERR_INVALID_ARG);
    assert_int_equal(u.port, 0xAAAA);
    {
        struct {
            ws_uri u;
            uint8_t tail[16];
        } big;
        uint8_t zero[16];
        memset(&big, 0xAA, sizeof big);
        memset(zero, 0, sizeof zero);
        assert_int_equal(ws_uri_parse(s, sizeof s - 1, &big.u, sizeof big), WS_OK);
        assert_int_equal(big.u.port, 8443);
        assert_int_equal(big.u.secure, 1);
        assert_part(big.u.host, big.u.host_len, "example.com");
        assert_memory_equal(big.tail, zero, sizeof zero);
    }
    /* the length is obeyed, not the NUL: every prefix parses or fails cleanly */
    for (size_t n = 0; n <= sizeof s - 1; n++) {
        guarded g = guarded_copy(s, n);
        int r = ws_uri_parse((const char *)g.data, n, &u, sizeof u);
        guarded_free(&g);
        if (n >= 7 && n != 18)
            assert_int_equal(r, WS_OK);
        else
            assert_true(r < 0);
    }
}

/* Every character of an IPv6 literal is checked, the first and the last included: a non-hex
 * letter anywhere ("[g::1]", "[::1g]") makes the host invalid, a hex digit in its place does
 * not. */
static void test_uri_ipv6_every_position(void **state)
{
    static const char *const literals[] = {"2001:db8::7", "::1", "fe80::1", "a::b"};
    char url[64];
    ws_uri u;
    (void)state;
    assert_int_equal(ws_uri_parse("ws://[g::1]/", 12, &u, sizeof u), WS_ERR_URI_HOST);
    assert_int_equal(ws_uri_parse("ws://[G::1]/", 12, &u, sizeof u), WS_ERR_URI_HOST);
    assert_int_equal(ws_uri_parse("ws://[::1g]/", 12, &u, sizeof u), WS_ERR_URI_HOST);
    assert_int_equal(ws_uri_parse("ws://[f::1]/", 12, &u, sizeof u), WS_OK);
    for (size_t k = 0; k < sizeof literals / sizeof literals[0]; k++) {
        size_t n = strlen(literals[k]);
        for (size_t i = 0; i < n; i++) {
            static const char subst[] = {'g', 'G', 'x', '-', '_', '~', '!', 'A', '0'};
            for (size_t j = 0; j < sizeof subst; j++) {
                int hex = subst[j] == 'A' || subst[j] == '0';
                snprintf(url, sizeof url, "ws://[%s]/", literals[k]);
                if (url[6 + i] == ':' && hex)
                    continue; /* a digit for a colon may leave no colon at all */
                url[6 + i] = subst[j];
                int r = ws_uri_parse(url, strlen(url), &u, sizeof u);
                if (r != (hex ? WS_OK : WS_ERR_URI_HOST))
                    print_message("%s: %s\n", url, ws_errname(r));
                assert_int_equal(r, hex ? WS_OK : WS_ERR_URI_HOST);
                if (hex) {
                    assert_int_equal(u.ipv6, 1);
                    assert_int_equal(u.host_len, n);
                }
            }
        }
    }
}

/* Percent-escapes and sub-delims in a host, IPv6 zone IDs (RFC 6874: "%25" then unreserved
 * or escaped bytes), bad escapes in a path or query, the scheme's grammar, a port that is
 * empty or too large. */
static void test_uri_edges(void **state)
{
    static const struct {
        const char *s;
        int want;
    } cases[] = {
        {"ws://%41%42/", WS_OK},
        {"ws://%41^/", WS_ERR_URI_HOST}, /* the byte after an escape is checked too */
        {"ws://a%41^b/", WS_ERR_URI_HOST},
        {"ws://a!$&'()*+,;=b/", WS_OK},
        {"ws://[v1.a%41]/", WS_ERR_URI_HOST},
        {"ws://[fe80::1%25en%300]/", WS_OK},
        {"ws://[fe80::1%25]/", WS_ERR_URI_HOST},
        {"ws://[fe80::1%2]/", WS_ERR_URI_HOST},
        {"ws://[fe80::1%25e~]/", WS_OK},
        {"ws://[fe80::1%25e^]/", WS_ERR_URI_HOST},
        {"ws://[fe80::1%25^e]/", WS_ERR_URI_HOST}, /* the zone's first byte is checked too */
        {"ws://[fe80::1%25^]/", WS_ERR_URI_HOST},
        {"ws://[fe80::1%25%41]/", WS_OK},
        {"ws://[fe80::1%25%4]/", WS_ERR_URI_HOST},
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
        cmocka_unit_test(test_uri_good),
        cmocka_unit_test(test_uri_bad),
        cmocka_unit_test(test_uri_args_and_prefixes),
        cmocka_unit_test(test_uri_ipv6_every_position),
        cmocka_unit_test(test_uri_edges),
    };
    return cmocka_run_group_tests_name("uri", tests, NULL, NULL);
}
