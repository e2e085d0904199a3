/* The opening handshake (RFC 6455 section 4), writing: the server's 101 answer and its
 * refusals (default reason phrases, the error responses of failed requests), and the client's
 * request with its key. Each writer sizes first (*needed), then writes only what fits. What
 * the handshake reads is handshake.c. */
#include "hash.h"
#include "http.h"

#include <limits.h>
#include <string.h>

/* Lines a caller's extra headers may not carry because the library writes them. */
static const char *const accept_forbidden[] = {"Upgrade",
                                               "Connection",
                                               "Sec-WebSocket-Accept",
                                               "Sec-WebSocket-Protocol",
                                               "Sec-WebSocket-Extensions",
                                               "Sec-WebSocket-Key",
                                               "Sec-WebSocket-Version",
                                               "Content-Length",
                                               "Transfer-Encoding",
                                               NULL};
static const char *const reject_forbidden[] = {"Content-Length", "Transfer-Encoding", "Connection",
                                               NULL};
static const char *const request_forbidden[] = {"Host",
                                                "Upgrade",
                                                "Connection",
                                                "Sec-WebSocket-Key",
                                                "Sec-WebSocket-Version",
                                                "Sec-WebSocket-Protocol",
                                                "Sec-WebSocket-Extensions",
                                                "Sec-WebSocket-Accept",
                                                "Content-Length",
                                                "Transfer-Encoding",
                                                NULL};

/* After the sizing pass: report the size, refuse what does not fit, else arm the writing
 * pass. Returns 1 to go on writing, or the error. */
static int sized(ws__out *o, uint8_t *out, size_t cap, size_t *needed)
{
    if (o->len > INT_MAX)
        return WS_ERR_INVALID_ARG;
    if (needed)
        *needed = o->len;
    if (o->len > cap)
        return WS_ERR_BUFFER_TOO_SMALL;
    o->p = out;
    o->cap = cap;
    o->len = 0;
    return 1;
}

static const char *default_reason(unsigned status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "";
    }
}

static void put_status_line(ws__out *o, unsigned status, const char *reason)
{
    ws__puts(o, "HTTP/1.1 ");
    ws__put_uint(o, status);
    ws__puts(o, " ");
    ws__puts(o, reason);
    ws__puts(o, "\r\n");
}

static void put_accept(ws__out *o, const char *accept, const char *subprotocol,
                       const char *extensions, const char *headers)
{
    put_status_line(o, 101, "Switching Protocols");
    ws__puts(o, "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ");
    ws__put(o, accept, 28);
    ws__puts(o, "\r\n");
    if (subprotocol) {
        ws__puts(o, "Sec-WebSocket-Protocol: ");
        ws__puts(o, subprotocol);
        ws__puts(o, "\r\n");
    }
    if (extensions) {
        ws__puts(o, "Sec-WebSocket-Extensions: ");
        ws__puts(o, extensions);
        ws__puts(o, "\r\n");
    }
    if (headers)
        ws__put_header_lines(o, headers);
    ws__puts(o, "\r\n");
}

int ws_handshake_accept(const ws_handshake *hs, const char *subprotocol, const char *extensions,
                        const char *headers, uint8_t *out, size_t cap, size_t *needed)
{
    const ws__hdr *key;
    char accept[29];
    ws__out o = {NULL, 0, 0};
    size_t i;
    int r;

    if (needed)
        *needed = 0;
    if (!hs || (!out && cap))
        return WS_ERR_INVALID_ARG;
    if (hs->is_client || hs->h2 || hs->error || hs->state != WS__HS_DONE)
        return WS_ERR_STATE;
    if (subprotocol) {
        size_t n = strlen(subprotocol);
        for (i = 0; i < hs->nprotos; i++)
            if (hs->protos[i].len == n && memcmp(hs->protos[i].p, subprotocol, n) == 0)
                break;
        if (i == hs->nprotos)
            return WS_ERR_ARG_SUBPROTOCOL;
    }
    if (extensions) {
        ws__list l;
        memset(&l, 0, sizeof l);
        l.allow = hs->exts;
        l.nallow = hs->nexts;
        if (ws__parse_extensions(&l, extensions, strlen(extensions)) < 0 || l.bad)
            return WS_ERR_ARG_EXTENSIONS;
        if (l.nexts == 0)
            extensions = NULL;
    }
    if (headers && ws__check_header_lines(headers, accept_forbidden) < 0)
        return WS_ERR_ARG_HEADERS;
    key = ws__http_find(&hs->http, LIT("Sec-WebSocket-Key"), 0);
    ws__accept_key(ws__hval(&hs->http, key), key->value_len, accept);
    put_accept(&o, accept, subprotocol, extensions, headers);
    if ((r = sized(&o, out, cap, needed)) < 0)
        return r;
    put_accept(&o, accept, subprotocol, extensions, headers);
    return (int)o.len;
}

static void put_response(ws__out *o, unsigned status, const char *reason, const char *fixed,
                         const char *headers, const char *connection, const void *body,
                         size_t body_len)
{
    put_status_line(o, status, reason);
    ws__puts(o, fixed);
    if (headers)
        ws__put_header_lines(o, headers);
    ws__puts(o, "Content-Length: ");
    ws__put_uint(o, body_len);
    ws__puts(o, "\r\nConnection: ");
    ws__puts(o, connection);
    ws__puts(o, "\r\n\r\n");
    ws__put(o, body, body_len);
}

static int write_response(unsigned status, const char *reason, const char *fixed,
                          const char *headers, const char *connection, const void *body,
                          size_t body_len, uint8_t *out, size_t cap, size_t *needed)
{
    ws__out o = {NULL, 0, 0};
    int r;

    put_response(&o, status, reason, fixed, headers, connection, body, body_len);
    if ((r = sized(&o, out, cap, needed)) < 0)
        return r;
    put_response(&o, status, reason, fixed, headers, connection, body, body_len);
    return (int)o.len;
}

int ws_handshake_reject(unsigned status, const char *reason, const char *headers, const void *body,
                        size_t body_len, uint8_t *out, size_t cap, size_t *needed)
{
    if (needed)
        *needed = 0;
    if ((!body && body_len) || (!out && cap))
        return WS_ERR_INVALID_ARG;
    if (status < 200 || status > 599)
        return WS_ERR_ARG_STATUS;
    if (reason) {
        for (const char *p = reason; *p; p++)
            if (!ws__is_vchar_ws((unsigned char)*p))
                return WS_ERR_ARG_STATUS;
    } else {
        reason = default_reason(status);
    }
    if (headers && ws__check_header_lines(headers, reject_forbidden) < 0)
        return WS_ERR_ARG_HEADERS;
    return write_response(status, reason, "", headers, "close", body, body_len, out, cap, needed);
}

int ws_handshake_error_status(const ws_handshake *hs)
{
    if (!hs || hs->is_client || !hs->error)
        return 0;
    switch (hs->error) {
    case WS_ERR_HS_METHOD:
        return 405;
    case WS_ERR_HS_WS_VERSION:
        return 426;
    case WS_ERR_HS_TOO_LARGE:
    case WS_ERR_HS_TOO_MANY_HEADERS:
        return 431;
    case WS_ERR_HS_VERSION_HTTP:
        return 505;
    case WS_ERR_NOMEM:
        return 503;
    default:
        return 400;
    }
}

int ws_handshake_write_error(const ws_handshake *hs, uint8_t *out, size_t cap, size_t *needed)
{
    int status = ws_handshake_error_status(hs);
    const char *fixed = "", *connection = "close";

    if (needed)
        *needed = 0;
    if (!hs || (!out && cap))
        return WS_ERR_INVALID_ARG;
    if (!status || hs->h2)
        return WS_ERR_STATE;
    if (status == 405) {
        fixed = "Allow: GET\r\n";
    } else if (status == 426) {
        /* RFC 9110 7.8: a 426 names the protocol in Upgrade, and Upgrade needs the upgrade
         * connection option; RFC 6455 4.4 adds the versions we speak. */
        fixed = "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n";
        connection = "Upgrade, close";
    }
    return write_response((unsigned)status, default_reason((unsigned)status), fixed, NULL,
                          connection, NULL, 0, out, cap, needed);
}

/* ---- client: the request ---- */


static int remember_offers(ws_handshake *hs, const char *const *sub, size_t nsub, const char *ext)
{
    size_t size = ext ? strlen(ext) + 1 : 0, k = 0;
    char *mem;

    for (size_t i = 0; i < nsub; i++)
        size += strlen(sub[i]) + 1;
    mem = ws__malloc(&hs->alloc, size);
    if (!mem)
        return WS_ERR_NOMEM;
    for (size_t i = 0; i < nsub; i++) {
        size_t n = strlen(sub[i]) + 1;
        memcpy(mem + k, sub[i], n);
        k += n;
    }
    if (ext)
        memcpy(mem + k, ext, strlen(ext) + 1);
    ws__free(&hs->alloc, hs->offer, hs->offer_size);
    hs->offer = mem;
    hs->offer_size = size;
    hs->offer_nprotos = nsub;
    hs->offer_ext = ext ? mem + k : NULL;
    return WS_OK;
}

static void put_request(const ws_handshake *hs, ws__out *o, const ws_uri *u, const char *const *sub,
                        size_t nsub, const char *ext, const char *headers)
{
    ws__puts(o, "GET ");
    if (u->path_len)
        ws__put(o, u->path, u->path_len);
    else
        ws__puts(o, "/");
    if (u->query) {
        ws__puts(o, "?");
        ws__put(o, u->query, u->query_len);
    }
    ws__puts(o, " HTTP/1.1\r\nHost: ");
    if (u->ipv6)
        ws__puts(o, "[");
    ws__put(o, u->host, u->host_len);
    if (u->ipv6)
        ws__puts(o, "]");
    if (u->port != (u->secure ? 443 : 80)) {
        ws__puts(o, ":");
        ws__put_uint(o, u->port);
    }
    ws__puts(o, "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ");
    ws__puts(o, hs->key);
    ws__puts(o, "\r\nSec-WebSocket-Version: 13\r\n");
    if (nsub) {
        ws__puts(o, "Sec-WebSocket-Protocol: ");
        for (size_t i = 0; i < nsub; i++) {
            if (i)
                ws__puts(o, ", ");
            ws__puts(o, sub[i]);
        }
        ws__puts(o, "\r\n");
    }
    if (ext) {
        ws__puts(o, "Sec-WebSocket-Extensions: ");
        ws__puts(o, ext);
        ws__puts(o, "\r\n");
    }
    if (headers)
        ws__put_header_lines(o, headers);
    ws__puts(o, "\r\n");
}

int ws_handshake_client_request(ws_handshake *hs, const char *url, size_t url_len,
                                const char *const *subprotocols, size_t nsub,
                                const char *extensions, const char *headers, uint8_t *out,
                                size_t cap, size_t *needed)
{
    ws__out o = {NULL, 0, 0};
    ws_uri parsed;
    const ws_uri *uri = &parsed;
    int r;

    if (needed)
        *needed = 0;
    if (!hs || !url || (nsub && !subprotocols) || (!out && cap))
        return WS_ERR_INVALID_ARG;
    if (!hs->is_client || hs->state != WS__HS_IDLE || hs->error)
        return WS_ERR_STATE;
    if ((r = ws_uri_parse(url, url_len, &parsed, sizeof parsed)) < 0)
        return r;
    for (size_t i = 0; i < nsub; i++)
        if (!subprotocols[i])
            return WS_ERR_INVALID_ARG;
    if (nsub > WS_HANDSHAKE_MAX_LIST_ITEMS)
        return WS_ERR_ARG_SUBPROTOCOL;
    for (size_t i = 0; i < nsub; i++) {
        const char *s = subprotocols[i];
        size_t k = 0;
        while (ws__is_tchar((unsigned char)s[k]))
            k++;
        if (k == 0 || s[k])
            return WS_ERR_ARG_SUBPROTOCOL;
    }
    if (extensions) {
        ws__list l;
        memset(&l, 0, sizeof l);
        if (ws__parse_extensions(&l, extensions, strlen(extensions)) < 0)
            return WS_ERR_ARG_EXTENSIONS;
        if (l.nexts == 0)
            extensions = NULL;
    }
    if (headers && ws__check_header_lines(headers, request_forbidden) < 0)
        return WS_ERR_ARG_HEADERS;
    if (!hs->have_key) {
        uint8_t raw[16];
        ws_random_fn rng = hs->rng ? hs->rng : ws_random_os;
        if (rng(hs->rng_user, raw, sizeof raw) != 0)
            return WS_ERR_RANDOM;
        ws__base64_encode(raw, sizeof raw, hs->key);
        ws__accept_key(hs->key, 24, hs->accept);
        hs->have_key = 1;
    }
    put_request(hs, &o, uri, subprotocols, nsub, extensions, headers);
    if ((r = sized(&o, out, cap, needed)) < 0 && r != WS_ERR_BUFFER_TOO_SMALL)
        return r;
    /* Remembered on a size query too: the offers checked are those of the last call. */
    if (remember_offers(hs, subprotocols, nsub, extensions) < 0)
        return WS_ERR_NOMEM;
    hs->requested = 1;
    if (r < 0)
        return r;
    put_request(hs, &o, uri, subprotocols, nsub, extensions, headers);
    return (int)o.len;
}
