/*
 * Fuzz target for the handshake layer. The first byte picks the mode (bits 0-1: server, client,
 * HTTP/2 server, server with tiny limits) and the piece size (bits 2-7, 0: one piece); the rest
 * is the peer's HTTP message, or for HTTP/2 a list of "name\0value\0" fields. Invariants (abort
 * on violation):
 *   - feed never consumes more than it was given, and returns 0, WS_HANDSHAKE_COMPLETE or a
 *     known error;
 *   - the outcome and the bytes consumed are the same fed in one piece or in many;
 *   - every view is inside the object, NUL-terminated, and a header value holds no CR/LF/NUL;
 *   - a complete server request can always be accepted (with its first subprotocol, too) and a
 *     failed one always answered with its error status.
 */
#include "ws.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int zero_rng(void *user, void *buf, size_t n)
{
    (void)user;
    memset(buf, 0, n);
    return 0;
}

static void check_view(const char *p, size_t n, int allow_null)
{
    if (!p) {
        if (!allow_null || n)
            abort();
        return;
    }
    if (p[n] != '\0' || memchr(p, '\0', n) || memchr(p, '\r', n) || memchr(p, '\n', n))
        abort();
}

static void check_views(const ws_handshake *hs, int is_client)
{
    const char *p, *v;
    size_t n, nv, np;

    for (size_t i = 0; i < ws_handshake_header_count(hs); i++) {
        if (ws_handshake_header_at(hs, i, &p, &n, &v, &nv) != WS_OK)
            abort();
        check_view(p, n, 0);
        check_view(v, nv, 0);
    }
    for (size_t i = 0; i < ws_handshake_subprotocol_count(hs); i++) {
        if (ws_handshake_subprotocol(hs, i, &p, &n) != WS_OK || n == 0)
            abort();
        check_view(p, n, 0);
    }
    for (size_t i = 0; i < ws_handshake_extension_count(hs); i++) {
        if (ws_handshake_extension(hs, i, &p, &n, &np) != WS_OK || n == 0)
            abort();
        check_view(p, n, 0);
        for (size_t j = 0; j < np; j++) {
            if (ws_handshake_extension_param(hs, i, j, &p, &n, &v, &nv) != WS_OK)
                abort();
            check_view(p, n, 0);
            /* unescaped quoted strings may hold anything but CR/LF/NUL */
            check_view(v, nv, 1);
        }
    }
    if (!is_client && ws_handshake_target(hs, &p, &n) == WS_OK)
        check_view(p, n, 0);
}

/* Run one mode over msg[0..n) in pieces of `step` (0: one piece). Returns the outcome; total
 * bytes consumed in *used. */
static int run(int mode, const uint8_t *msg, size_t n, size_t step, size_t *used)
{
    static uint8_t out[16384];
    ws_handshake *hs = NULL;
    size_t pos = 0;
    int r = 0;

    *used = 0;
    if (ws_handshake_new(&hs, mode == 1 ? WS_ROLE_CLIENT : WS_ROLE_SERVER, NULL) != WS_OK)
        abort();
    if (mode == 3 && (ws_handshake_set_max_header_size(hs, 256) != WS_OK ||
                      ws_handshake_set_max_headers(hs, 8) != WS_OK))
        abort();
    if (mode == 1) {
        static const char *const protos[] = {"chat", "superchat"};
        ws_handshake_set_random(hs, zero_rng, NULL);
        if (ws_handshake_client_request(hs, "ws://h/", 7, protos, 2, "permessage-deflate", NULL,
                                        out, sizeof out, NULL) <= 0)
            abort();
    }
    if (mode == 2) {
        /* HTTP/2: fields are NUL-separated name, value pairs */
        while (pos < n && r >= 0) {
            const uint8_t *z1 = memchr(msg + pos, 0, n - pos), *z2;
            if (!z1 || !(z2 = memchr(z1 + 1, 0, (size_t)(msg + n - z1 - 1))))
                break;
            r = ws_h2_add_header(hs, (const char *)msg + pos, (size_t)(z1 - msg - pos),
                                 (const char *)z1 + 1, (size_t)(z2 - z1 - 1));
            pos = (size_t)(z2 - msg) + 1;
        }
        if (r >= 0)
            r = ws_h2_end_headers(hs);
        *used = pos;
    } else {
        while (pos < n) {
            size_t k = step && n - pos > step ? step : n - pos, u = (size_t)-1;
            r = ws_handshake_feed(hs, msg + pos, k, &u);
            if (u > k)
                abort();
            *used += u;
            if (r != 0)
                break;
            if (u != k)
                abort();
            pos += k;
        }
    }
    if (r > WS_HANDSHAKE_COMPLETE || (r < 0 && strcmp(ws_errname(r), "WS_ERR_UNKNOWN") == 0))
        abort();
    if (ws_handshake_result(hs) != r)
        abort();
    check_views(hs, mode == 1);
    if (mode != 1 && mode != 2) {
        if (r == WS_HANDSHAKE_COMPLETE) {
            const char *p;
            size_t pn;
            if (ws_handshake_accept(hs, NULL, NULL, NULL, out, sizeof out, NULL) <= 0)
                abort();
            if (ws_handshake_subprotocol(hs, 0, &p, &pn) == WS_OK &&
                ws_handshake_accept(hs, p, NULL, NULL, out, sizeof out, NULL) <= 0)
                abort();
        } else if (r < 0) {
            int st = ws_handshake_error_status(hs);
            if (st < 400 || st > 505 || ws_handshake_write_error(hs, out, sizeof out, NULL) <= 0)
                abort();
        }
    }
    ws_handshake_free(hs);
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t used_once, used_split;
    int mode, r_once, r_split;
    size_t step;

    if (size < 1)
        return 0;
    mode = data[0] & 3;
    step = (size_t)(data[0] >> 2);
    r_once = run(mode, data + 1, size - 1, 0, &used_once);
    if (mode == 2)
        return 0;
    r_split = run(mode, data + 1, size - 1, step ? step : 1, &used_split);
    if (r_once != r_split || used_once != used_split)
        abort();
    return 0;
}
