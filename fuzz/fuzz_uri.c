/*
 * Fuzz target for ws_uri_parse. Byte 0 is ignored by the parser (it picks the subprotocol
 * offer used in the request check below); the rest is the URI. Invariants (abort on violation):
 *   - the result is WS_OK or a WS_ERR_URI_* error (never anything else);
 *   - on success every view lies inside the input, the host is non-empty and holds no
 *     character that could end or split an HTTP line, the path is empty or starts with '/',
 *     the port is not 0, there is no '#' anywhere, and ipv6/secure agree with the input;
 *   - a URI rebuilt from the fields (always with an explicit port) parses to the same fields;
 *   - the upgrade request written for it is accepted by a server-side ws_handshake, which
 *     reports the same request target and Host.
 */
#include "ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                   \
    do {                                                                           \
        if (!(c)) {                                                                \
            fprintf(stderr, "fuzz_uri.c:%d: invariant failed: %s\n", __LINE__, #c); \
            abort();                                                               \
        }                                                                          \
    } while (0)

static int fixed_rng(void *user, void *buf, size_t n)
{
    (void)user;
    memset(buf, 0x5a, n);
    return 0;
}

static int inside(const char *p, size_t n, const char *s, size_t len)
{
    return p >= s && n <= len && (size_t)(p - s) <= len - n;
}

static int view_eq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* Rebuild "ws[s]://host:port/path?query" and check it parses to the same fields. */
static void check_roundtrip(const ws_uri *u)
{
    char buf[8192];
    size_t n = 0;
    ws_uri v;
    int w;

    if (u->host_len + u->path_len + u->query_len + 40 > sizeof buf)
        return;
    w = snprintf(buf, sizeof buf, "%s://%s", u->secure ? "wss" : "ws", u->ipv6 ? "[" : "");
    n = (size_t)w;
    memcpy(buf + n, u->host, u->host_len);
    n += u->host_len;
    n += (size_t)snprintf(buf + n, sizeof buf - n, "%s:%u", u->ipv6 ? "]" : "", u->port);
    memcpy(buf + n, u->path, u->path_len);
    n += u->path_len;
    if (u->query) {
        buf[n++] = '?';
        memcpy(buf + n, u->query, u->query_len);
        n += u->query_len;
    }
    CHECK(ws_uri_parse(buf, n, &v, sizeof v) == WS_OK);
    CHECK(view_eq(v.host, v.host_len, u->host, u->host_len));
    CHECK(view_eq(v.path, v.path_len, u->path, u->path_len));
    CHECK((v.query == NULL) == (u->query == NULL));
    if (u->query)
        CHECK(view_eq(v.query, v.query_len, u->query, u->query_len));
    CHECK(v.port == u->port && v.secure == u->secure && v.ipv6 == u->ipv6);
}

/* The request written for url[0..len) (parsed as u) must be one a server accepts, asking for
 * the same resource. */
static void check_request(const char *url, size_t len, const ws_uri *u, unsigned mode)
{
    static const char *const protos[] = {"chat", "v2.json.example"};
    static uint8_t out[16384];
    ws_handshake *cl = NULL, *sv = NULL;
    size_t used = 0, tn, hn;
    const char *t, *h;
    int n;

    CHECK(ws_handshake_new(&cl, WS_ROLE_CLIENT, NULL) == WS_OK);
    CHECK(ws_handshake_new(&sv, WS_ROLE_SERVER, NULL) == WS_OK);
    /* a URI may be as long as the input: lift the server's 8 KiB default header limit */
    CHECK(ws_handshake_set_max_header_size(sv, 1u << 20) == WS_OK);
    ws_handshake_set_random(cl, fixed_rng, NULL);
    n = ws_handshake_client_request(cl, url, len, protos, mode & 1 ? 2 : 0, NULL, NULL, out,
                                    sizeof out, NULL);
    if (n == WS_ERR_BUFFER_TOO_SMALL)
        goto done;
    CHECK(n > 0);
    CHECK(ws_handshake_feed(sv, out, (size_t)n, &used) == WS_HANDSHAKE_COMPLETE &&
          used == (size_t)n);
    CHECK(ws_handshake_target(sv, &t, &tn) == WS_OK);
    if (u->path_len) {
        CHECK(tn >= u->path_len && memcmp(t, u->path, u->path_len) == 0);
    } else {
        CHECK(tn >= 1 && t[0] == '/');
    }
    {
        size_t pn = u->path_len ? u->path_len : 1;
        if (u->query) {
            CHECK(tn == pn + 1 + u->query_len && t[pn] == '?');
            CHECK(u->query_len == 0 || memcmp(t + pn + 1, u->query, u->query_len) == 0);
        } else {
            CHECK(tn == pn);
        }
    }
    CHECK(ws_handshake_host(sv, &h, &hn) == WS_OK);
    {
        size_t off = u->ipv6 ? 1 : 0;
        CHECK(hn >= u->host_len + 2 * off);
        CHECK(memcmp(h + off, u->host, u->host_len) == 0);
        if (u->ipv6)
            CHECK(h[0] == '[' && h[u->host_len + 1] == ']');
        if (hn > u->host_len + 2 * off) {
            char want[16];
            int wl = snprintf(want, sizeof want, ":%u", u->port);
            CHECK(hn == u->host_len + 2 * off + (size_t)wl);
            CHECK(memcmp(h + u->host_len + 2 * off, want, (size_t)wl) == 0);
            CHECK(u->port != (u->secure ? 443 : 80));
        } else {
            CHECK(u->port == (u->secure ? 443 : 80));
        }
    }
done:
    ws_handshake_free(cl);
    ws_handshake_free(sv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s;
    size_t len;
    ws_uri u;
    int r;

    if (size < 1)
        return 0;
    len = size - 1;
    /* An exactly-sized copy, so any read past the end is caught. */
    char *copy = malloc(len ? len : 1);
    CHECK(copy != NULL);
    if (len)
        memcpy(copy, data + 1, len);
    s = copy;
    r = ws_uri_parse(s, len, &u, sizeof u);
    if (r != WS_OK) {
        CHECK(r <= WS_ERR_URI_SCHEME && r >= WS_ERR_URI_PATH);
        free(copy);
        return 0;
    }
    CHECK(u.host && u.host_len > 0 && inside(u.host, u.host_len, s, len));
    for (size_t i = 0; i < u.host_len; i++)
        CHECK((unsigned char)u.host[i] > 0x20 && u.host[i] != 0x7f && u.host[i] != '/' &&
              u.host[i] != '?' && u.host[i] != '#' && u.host[i] != '@');
    CHECK(inside(u.path, u.path_len, s, len));
    CHECK(u.path_len == 0 || u.path[0] == '/');
    if (u.query)
        CHECK(inside(u.query, u.query_len, s, len) && u.query[-1] == '?');
    CHECK(u.port != 0);
    CHECK(memchr(s, '#', len) == NULL);
    CHECK(u.secure == (len > 3 && (s[2] == 's' || s[2] == 'S')));
    /* the path and query run to the end of the input */
    CHECK((u.query ? u.query + u.query_len : u.path + u.path_len) == s + len);
    check_roundtrip(&u);
    check_request(s, len, &u, data[0]);
    free(copy);
    return 0;
}
