/* WebSockets over HTTP/2 (RFC 8441) and HTTP/3 (RFC 9220): checking the extended CONNECT
 * request a binding decoded with its HPACK/QPACK library. The byte stream that follows is the
 * connection layer's business. */
#include "http.h"

#include <string.h>

static const char *const pseudo_names[] = {":method", ":protocol",  ":scheme",
                                           ":path",   ":authority", NULL};

/* Connection-specific fields are forbidden in HTTP/2 and HTTP/3 (RFC 9113 8.2.2, RFC 9114
 * 4.2): a request carrying one was built for HTTP/1.1 and is malformed here. */
static const char *const h1_only[] = {"connection",       "upgrade",           "keep-alive",
                                      "proxy-connection", "transfer-encoding", NULL};

static const char *const h2_single[] = {"sec-websocket-version", "origin", "authorization", "host",
                                        NULL};

static int in_list(const char *name, size_t n, const char *const *list)
{
    for (; *list; list++)
        if (strlen(*list) == n && memcmp(*list, name, n) == 0)
            return 1;
    return 0;
}

static int check_field(ws_handshake *hs, const char *name, size_t nlen, const char *value,
                       size_t vlen)
{
    if (nlen == 0)
        return WS_ERR_H2_HEADER;
    if (name[0] == ':') {
        if (hs->h2_fields || !in_list(name, nlen, pseudo_names) ||
            ws__http_find(&hs->http, name, nlen, 0))
            return WS_ERR_H2_PSEUDO;
    } else {
        for (size_t i = 0; i < nlen; i++) {
            unsigned c = (unsigned char)name[i];
            if (!ws__is_tchar(c) || (c >= 'A' && c <= 'Z'))
                return WS_ERR_H2_HEADER;
        }
        if (in_list(name, nlen, h1_only))
            return WS_ERR_H2_HEADER;
        if (nlen == 2 && memcmp(name, "te", 2) == 0 && !ws__ieq(value, vlen, LIT("trailers")))
            return WS_ERR_H2_HEADER;
        hs->h2_fields = 1;
    }
    /* RFC 9113 8.2.1: no NUL/CR/LF, no leading or trailing whitespace. Other controls are
     * refused too, as on HTTP/1.1, so the views obey one rule whatever the transport. */
    for (size_t i = 0; i < vlen; i++)
        if (!ws__is_vchar_ws((unsigned char)value[i]))
            return WS_ERR_H2_HEADER;
    if (vlen &&
        (value[0] == ' ' || value[0] == '\t' || value[vlen - 1] == ' ' || value[vlen - 1] == '\t'))
        return WS_ERR_H2_HEADER;
    return WS_OK;
}

int ws_h2_add_header(ws_handshake *hs, const char *name, size_t name_len, const char *value,
                     size_t value_len)
{
    int r;

    if (!hs || (!name && name_len) || (!value && value_len))
        return WS_ERR_INVALID_ARG;
    if (hs->error)
        return hs->error;
    if (hs->is_client || hs->state == WS__HS_DONE || (hs->state != WS__HS_IDLE && !hs->h2))
        return WS_ERR_STATE;
    hs->h2 = 1;
    hs->state = WS__HS_HEAD;
    if ((r = check_field(hs, name, name_len, value, value_len)) < 0)
        return ws__hs_fail(hs, r);
    if ((r = ws__http_add(&hs->http, name, name_len, value, value_len)) < 0)
        return ws__hs_fail(hs, r);
    return WS_OK;
}

static int value_is(const ws_handshake *hs, const char *name, const char *want, int icase)
{
    const ws__hdr *x = ws__http_find(&hs->http, name, strlen(name), 0);
    size_t n = strlen(want);

    if (!x)
        return 0;
    if (icase)
        return ws__ieq(ws__hval(&hs->http, x), x->value_len, want, n);
    return x->value_len == n && memcmp(ws__hval(&hs->http, x), want, n) == 0;
}

static int non_empty(const ws_handshake *hs, const char *name)
{
    const ws__hdr *x = ws__http_find(&hs->http, name, strlen(name), 0);
    return x && x->value_len > 0;
}

static int check_connect(ws_handshake *hs)
{
    int r, perr, eerr;

    if ((r = ws__hs_build_lists(hs, &perr, &eerr)) < 0)
        return r;
    if (!value_is(hs, ":method", "CONNECT", 0))
        return WS_ERR_H2_METHOD;
    if (!value_is(hs, ":protocol", "websocket", 1))
        return WS_ERR_H2_PROTOCOL;
    if (!value_is(hs, ":scheme", "https", 0) && !value_is(hs, ":scheme", "http", 0))
        return WS_ERR_H2_SCHEME;
    if (!non_empty(hs, ":path"))
        return WS_ERR_H2_PATH;
    if (!non_empty(hs, ":authority"))
        return WS_ERR_H2_AUTHORITY;
    if ((r = ws__hs_check_dups(hs, h2_single)) < 0)
        return r;
    if (!value_is(hs, "sec-websocket-version", "13", 0))
        return WS_ERR_HS_WS_VERSION;
    if (perr < 0)
        return perr;
    if (eerr < 0)
        return eerr;
    return 1;
}

int ws_h2_end_headers(ws_handshake *hs)
{
    int r;

    if (!hs)
        return WS_ERR_INVALID_ARG;
    if (hs->error)
        return hs->error;
    if (hs->state == WS__HS_DONE && hs->h2)
        return 1;
    if (hs->is_client || (hs->state != WS__HS_IDLE && !hs->h2))
        return WS_ERR_STATE;
    hs->h2 = 1;
    hs->parsed = 1;
    if ((r = check_connect(hs)) < 0)
        return ws__hs_fail(hs, r);
    hs->state = WS__HS_DONE;
    return 1;
}

int ws_h2_parse_request(ws_handshake *hs, const ws_h2_header *hdrs, size_t n)
{
    int r;

    if (!hs || (!hdrs && n))
        return WS_ERR_INVALID_ARG;
    for (size_t i = 0; i < n; i++)
        if ((r = ws_h2_add_header(hs, hdrs[i].name, hdrs[i].name_len, hdrs[i].value,
                                  hdrs[i].value_len)) < 0)
            return r;
    return ws_h2_end_headers(hs);
}
