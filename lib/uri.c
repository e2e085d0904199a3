/* ws:// and wss:// URIs (RFC 6455 section 3, grammar from RFC 3986). */
#include "http.h"

#include <string.h>

static int is_alpha(unsigned c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_digit(unsigned c)
{
    return c >= '0' && c <= '9';
}

static int is_hex(unsigned c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int is_unreserved(unsigned c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static int is_sub_delim(unsigned c)
{
    return c != 0 && strchr("!$&'()*+,;=", (int)c) != NULL;
}

/* Length of the percent escape at s[i] (3), or 0 when s[i] starts no valid one. */
static size_t pct(const char *s, size_t i, size_t n)
{
    if (i + 2 < n && s[i] == '%' && is_hex((unsigned char)s[i + 1]) &&
        is_hex((unsigned char)s[i + 2]))
        return 3;
    return 0;
}

/* Scan a run of path (extra "/") or query (extra "/?") characters; returns the end index, or
 * (size_t)-1 on a byte that no URI may hold there. */
static size_t scan_part(const char *s, size_t i, size_t n, const char *extra)
{
    while (i < n) {
        unsigned c = (unsigned char)s[i];
        if (c == '?' && !strchr(extra, '?'))
            return i;
        if (is_unreserved(c) || is_sub_delim(c) || c == ':' || c == '@' ||
            (c != 0 && strchr(extra, (int)c))) {
            i++;
            continue;
        }
        if (c != '%' || !pct(s, i, n))
            return (size_t)-1;
        i += 3;
    }
    return i;
}

static int parse_ipv6(const char *s, size_t n)
{
    size_t i = 0;
    int colon = 0;

    /* Hex groups, colons and an embedded IPv4 tail; the exact group arithmetic is left to the
     * resolver, which rejects what we let through. A zone ("%25eth0", RFC 6874) may follow. */
    for (; i < n && s[i] != '%'; i++) {
        unsigned c = (unsigned char)s[i];
        if (c == ':')
            colon = 1;
        else if (!is_hex(c) && c != '.')
            return WS_ERR_URI_HOST;
    }
    if (!colon)
        return WS_ERR_URI_HOST;
    if (i == n)
        return WS_OK;
    if (n - i < 4 || s[i + 1] != '2' || s[i + 2] != '5')
        return WS_ERR_URI_HOST;
    for (i += 3; i < n;) {
        if (is_unreserved((unsigned char)s[i]))
            i++;
        else if (pct(s, i, n))
            i += 3;
        else
            return WS_ERR_URI_HOST;
    }
    return WS_OK;
}

static int parse_authority(const char *s, size_t n, ws_uri *u)
{
    size_t i = 0, hs, he;
    unsigned long port = 0;

    if (memchr(s, '@', n))
        return WS_ERR_URI_USERINFO;
    if (n && s[0] == '[') {
        const char *rb = memchr(s, ']', n);
        int r;
        if (!rb)
            return WS_ERR_URI_HOST;
        hs = 1;
        he = (size_t)(rb - s);
        if ((r = parse_ipv6(s + hs, he - hs)) < 0)
            return r;
        u->ipv6 = 1;
        i = he + 1;
        if (i < n && s[i] != ':')
            return WS_ERR_URI_HOST;
    } else {
        hs = 0;
        while (i < n && s[i] != ':') {
            unsigned c = (unsigned char)s[i];
            if (is_unreserved(c) || is_sub_delim(c))
                i++;
            else if (pct(s, i, n))
                i += 3;
            else
                return WS_ERR_URI_HOST;
        }
        he = i;
        if (he == hs)
            return WS_ERR_URI_HOST;
    }
    u->host = s + hs;
    u->host_len = he - hs;
    if (i == n)
        return WS_OK;
    /* s[i] == ':' */
    if (++i == n)
        return WS_ERR_URI_PORT;
    for (; i < n; i++) {
        if (!is_digit((unsigned char)s[i]))
            return WS_ERR_URI_PORT;
        port = port * 10 + (unsigned)(s[i] - '0');
        if (port > 65535)
            return WS_ERR_URI_PORT;
    }
    if (port == 0)
        return WS_ERR_URI_PORT;
    u->port = (uint16_t)port;
    return WS_OK;
}

static int parse(const char *s, size_t len, ws_uri *u);

int ws_uri_parse(const char *s, size_t len, ws_uri *uri, size_t uri_size)
{
    ws_uri mine;
    int r;

    if (!uri || uri_size < WS__MIN_URI || (!s && len))
        return WS_ERR_INVALID_ARG;
    r = parse(s, len, &mine);
    if (r == WS_OK)
        ws__struct_copy(uri, uri_size, &mine, sizeof mine);
    return r;
}

static int parse(const char *s, size_t len, ws_uri *u)
{
    size_t i = 0, a, e;
    int r;

    memset(u, 0, sizeof *u);
    while (i < len &&
           (is_alpha((unsigned char)s[i]) ||
            (i && (is_digit((unsigned char)s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))))
        i++;
    if (i == len || s[i] != ':')
        return WS_ERR_URI_SCHEME;
    if (ws__ieq(s, i, "wss", 3))
        u->secure = 1;
    else if (!ws__ieq(s, i, "ws", 2))
        return WS_ERR_URI_SCHEME;
    /* RFC 6455 3: "#" must be escaped as %23 in a WebSocket URI; say so before anything the
     * fragment might otherwise confuse (a '#' in the host, say). */
    if (memchr(s, '#', len))
        return WS_ERR_URI_FRAGMENT;
    if (len - i < 3 || s[i + 1] != '/' || s[i + 2] != '/')
        return WS_ERR_URI_HOST;
    a = e = i + 3;
    while (e < len && s[e] != '/' && s[e] != '?')
        e++;
    if ((r = parse_authority(s + a, e - a, u)) < 0)
        return r;
    if (!u->port)
        u->port = u->secure ? 443 : 80;
    i = e;
    u->path = s + i;
    e = scan_part(s, i, len, "/");
    if (e == (size_t)-1)
        return WS_ERR_URI_PATH;
    u->path_len = e - i;
    if (e < len) {
        /* s[e] == '?' */
        i = e + 1;
        e = scan_part(s, i, len, "/?");
        if (e == (size_t)-1)
            return WS_ERR_URI_PATH;
        u->query = s + i;
        u->query_len = e - i;
    }
    return WS_OK;
}
