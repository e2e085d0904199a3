/*
 * permessage-deflate for connections created open (WS_CONN_OPEN): the WebSocket's opening
 * was an extended CONNECT on an HTTP/2 or HTTP/3 stream (RFC 8441 / RFC 9220), so the
 * caller's HTTP stack carries the Sec-WebSocket-Extensions fields and this file only agrees
 * on them -- with the same rules as the HTTP/1.1 handshake (pmd_negotiate.c) -- and turns the
 * agreement on before the first frame either way.
 */
#include "conn.h"
#include "http.h"

#include <string.h>

_Static_assert(WS_EXTENSIONS_VALUE_MAX >= WS__PMD_ELEM_MAX,
               "ws.h's WS_EXTENSIONS_VALUE_MAX holds every value this file writes");

/* Open from the start and untouched: no handshake of its own, nothing received (fed) or
 * queued yet, nothing agreed before. Only then may frames start to mean RSV1 = compressed. */
static int untouched(const ws_conn *c)
{
    return c->state == WS_STATE_OPEN && c->hs_state == HS_NONE && !c->hs &&
           c->st.bytes_in == 0 && c->ilen == 0 && ws_conn_output_queued(c) == 0 &&
           !ws__pmd_active(c->pmd);
}

/* Copy value (NUL-terminated, n bytes) out, or say how much room it needs. */
static int give(const char *value, size_t n, char *out, size_t cap, size_t *len)
{
    if (len)
        *len = n;
    if (!out || n >= cap)
        return WS_ERR_BUFFER_TOO_SMALL;
    memcpy(out, value, n + 1);
    return n > 0;
}

int ws_conn_open_negotiate(ws_conn *c, const ws_handshake *hs, char *out, size_t cap,
                           size_t *len)
{
    char answer[WS__PMD_ELEM_MAX];
    ws__pmd_neg neg;
    size_t n;
    int r;

    if (len)
        *len = 0;
    if (!c || !hs || (!out && cap))
        return WS_ERR_INVALID_ARG;
    if (c->role != WS_ROLE_SERVER || !untouched(c) || hs->is_client ||
        ws_handshake_result(hs) != WS_HANDSHAKE_COMPLETE)
        return WS_ERR_STATE;
    memset(&neg, 0, sizeof neg);
    n = ws__pmd_server_answer(c->pmd, hs, answer, sizeof answer, &neg);
    if (n == 0) { /* not wanted, nothing offered, or no offer acceptable: declined */
        if (cap)
            out[0] = '\0';
        return 0;
    }
    if (!out || n >= cap) {
        if (len)
            *len = n;
        return WS_ERR_BUFFER_TOO_SMALL; /* nothing agreed yet: ask again with room */
    }
    if ((r = ws__pmd_commit(&c->pmd, CONN_ALLOC(c), &neg)) < 0)
        return r;
    ws__conn_decoder_flags(c); /* RSV1 now means compressed */
    return give(answer, n, out, cap, len);
}

int ws_conn_open_offer(const ws_conn *c, char *out, size_t cap, size_t *len)
{
    char offer[WS__PMD_ELEM_MAX];
    size_t n;

    if (len)
        *len = 0;
    if (!c || (!out && cap))
        return WS_ERR_INVALID_ARG;
    if (c->role != WS_ROLE_CLIENT)
        return WS_ERR_STATE;
    n = ws__pmd_client_offer(c->pmd, offer, sizeof offer);
    if (n == 0) {
        if (cap)
            out[0] = '\0';
        return 0;
    }
    return give(offer, n, out, cap, len);
}

int ws_conn_open_accepted(ws_conn *c, const char *value, size_t len)
{
    char offer[WS__PMD_ELEM_MAX];
    ws__pmd_neg neg;
    int r, found = 0;

    if (!c || (!value && len))
        return WS_ERR_INVALID_ARG;
    if (c->role != WS_ROLE_CLIENT || !untouched(c))
        return WS_ERR_STATE;
    memset(&neg, 0, sizeof neg);
    /* What we offered is what the options make us offer: the same string again. */
    size_t n = ws__pmd_client_offer(c->pmd, offer, sizeof offer);
    r = ws__pmd_client_check_value(c->pmd, CONN_ALLOC(c), n ? offer : NULL, value, len, &neg,
                                   &found);
    if (r < 0 || !found)
        return r;
    if ((r = ws__pmd_commit(&c->pmd, CONN_ALLOC(c), &neg)) < 0)
        return r;
    ws__conn_decoder_flags(c);
    return 1;
}
