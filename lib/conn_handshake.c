/*
 * The opening handshake glue of the connection: the server's request, accept and reject, the
 * client's request and the check of the server's answer (the HTTP work is handshake.c's, the
 * extension negotiation deflate's).
 */
#include "conn.h"

/* The connection ends before it opened (refused, failed handshake): no frame, code 1006. */
static void end_unopened(ws_conn *c, int err, const char *why)
{
    if (err)
        ws__conn_fail(c, err, WS_CLOSE_ABNORMAL, 0);
    if (c->state != WS_STATE_CLOSED)
        ws__conn_end(c, WS_CLOSE_ABNORMAL, why);
}

static void became_open(ws_conn *c)
{
    ws_handshake_free(c->hs);
    c->hs = NULL;
    c->hs_state = HS_NONE;
    c->state = WS_STATE_OPEN;
    c->t_last_rx = c->t_last_ping = c->now;
    ws__conn_decoder_flags(c); /* RSV1 if permessage-deflate was agreed */
    ws__conn_push(c, WS_EV_OPEN, 0);
}

static int keep_subprotocol(ws_conn *c, const char *p, size_t len)
{
    if (!p || !len)
        return WS_OK;
    c->subprotocol = ws__malloc(CONN_ALLOC(c), len + 1);
    if (!c->subprotocol)
        return WS_ERR_NOMEM;
    c->subprotocol_len = (uint32_t)len; /* a header value: far below 4 GiB */
    memcpy(c->subprotocol, p, len);
    c->subprotocol[len] = '\0';
    return WS_OK;
}

int ws__conn_feed_handshake(ws_conn *c, const uint8_t *in, size_t n, size_t *consumed)
{
    int r;

    if (c->hs_state != HS_READING)
        return WS_ERR_STATE; /* client not started, or server owes accept/reject */
    if (!c->hs) {
        if (ws_handshake_new(&c->hs, WS_ROLE_SERVER, CONN_ALLOC(c)) < 0) {
            end_unopened(c, WS_ERR_NOMEM, "out of memory");
            return WS_OK;
        }
    }
    r = ws_handshake_feed(c->hs, in, n, consumed);
    if (r == 0)
        return WS_OK;
    if (r == 1 && c->role == WS_ROLE_SERVER) {
        c->hs_state = HS_DECIDING;
        ws__conn_push(c, WS_EV_REQUEST, 0);
        return WS_OK;
    }
    if (r == 1) {
        const char *p = NULL;
        size_t len = 0;
        ws__pmd_neg neg;
        int found = 0;
        /* RFC 7692 section 7: an answer that breaks the rules fails the connection. */
        r = ws__pmd_client_check(c->pmd, CONN_ALLOC(c), c->hs, &neg, &found);
        if (r == WS_OK && found)
            r = ws__pmd_commit(&c->pmd, CONN_ALLOC(c), &neg);
        if (r < 0) {
            end_unopened(c, r, ws_strerror(r));
            return WS_OK;
        }
        if (ws_handshake_subprotocol_count(c->hs) == 1)
            (void)ws_handshake_subprotocol(c->hs, 0, &p, &len);
        if (keep_subprotocol(c, p, len) < 0) {
            end_unopened(c, WS_ERR_NOMEM, "out of memory");
            return WS_OK;
        }
        became_open(c);
        return WS_OK;
    }
    if (c->role == WS_ROLE_SERVER) {
        /* Answer the bad request (400/405/426/431/505) before closing. */
        size_t need = 0;
        if (ws_handshake_write_error(c->hs, NULL, 0, &need) == WS_ERR_BUFFER_TOO_SMALL) {
            ws__conn_out_starting(c);
            uint8_t *o = ws__outq_reserve(&c->act->out, CONN_ALLOC(c), need);
            int w = o ? ws_handshake_write_error(c->hs, o, need, NULL) : -1;
            if (w > 0)
                ws__outq_commit(&c->act->out, (size_t)w);
        }
    }
    end_unopened(c, r, ws_strerror(r));
    return WS_OK;
}

int ws_conn_client_start(ws_conn *c, const char *url, const char *const *subprotocols,
                         size_t nsub, const char *extensions, const char *headers)
{
    size_t need = 0, url_len;
    uint8_t *o;
    char offer[WS__PMD_ELEM_MAX];
    int r;

    if (!c || !url)
        return WS_ERR_INVALID_ARG;
    if (c->role != WS_ROLE_CLIENT || c->hs_state != HS_IDLE)
        return WS_ERR_STATE;
    c->mem_refused = 0;
    if (!ws__conn_act(c)) /* the request goes into its output queue */
        return ws__conn_budget_error(c, WS_ERR_NOMEM);
    url_len = strlen(url);
    if (!extensions && ws__pmd_client_offer(c->pmd, offer, sizeof offer) > 0)
        extensions = offer;
    if ((r = ws_handshake_new(&c->hs, WS_ROLE_CLIENT, CONN_ALLOC(c))) < 0)
        return r;
    ws_handshake_set_random(c->hs, c->cfg->rng, c->cfg->rng_user);
    r = ws_handshake_client_request(c->hs, url, url_len, subprotocols, nsub, extensions, headers,
                                    NULL, 0, &need);
    if (r == WS_ERR_BUFFER_TOO_SMALL) {
        ws__conn_out_starting(c);
        o = ws__outq_reserve(&c->act->out, CONN_ALLOC(c), need);
        r = o ? ws_handshake_client_request(c->hs, url, url_len, subprotocols, nsub, extensions,
                                            headers, o, need, NULL)
              : WS_ERR_NOMEM;
    }
    if (r < 0) {
        ws_handshake_free(c->hs);
        c->hs = NULL;
        return r;
    }
    ws__outq_commit(&c->act->out, (size_t)r);
    c->hs_state = HS_READING;
    return WS_OK;
}

const ws_handshake *ws_conn_handshake(const ws_conn *c)
{
    return c ? c->hs : NULL;
}

int ws_conn_accept(ws_conn *c, const char *subprotocol, const char *extensions,
                   const char *headers)
{
    size_t need = 0;
    uint8_t *o;
    char answer[WS__PMD_ELEM_MAX];
    ws__pmd_neg neg;
    int r, found = 0;

    if (!c || c->hs_state != HS_DECIDING)
        return WS_ERR_STATE;
    /* NULL: the library answers a permessage-deflate offer per the options; a string from
     * the caller is sent as given, and configures the extension if it names it. */
    if (!extensions) {
        found = ws__pmd_server_answer(c->pmd, c->hs, answer, sizeof answer, &neg) > 0;
        if (found)
            extensions = answer;
    }
    r = ws_handshake_accept(c->hs, subprotocol, extensions, headers, NULL, 0, &need);
    if (r != WS_ERR_BUFFER_TOO_SMALL)
        return r < 0 ? r : WS_ERR_STATE;
    if (extensions && extensions != answer &&
        (r = ws__pmd_server_explicit(&c->pmd, CONN_ALLOC(c), extensions, &neg, &found)) < 0)
        return r;
    if (found && (r = ws__pmd_commit(&c->pmd, CONN_ALLOC(c), &neg)) < 0)
        return r;
    if ((r = keep_subprotocol(c, subprotocol, subprotocol ? strlen(subprotocol) : 0)) < 0)
        return r;
    ws__conn_out_starting(c);
    o = ws__outq_reserve(&c->act->out, CONN_ALLOC(c), need);
    if (!o) {
        ws__free(CONN_ALLOC(c), c->subprotocol, c->subprotocol_len + 1);
        c->subprotocol = NULL;
        c->subprotocol_len = 0;
        return WS_ERR_NOMEM;
    }
    r = ws_handshake_accept(c->hs, subprotocol, extensions, headers, o, need, NULL);
    if (r < 0)
        return r;
    ws__outq_commit(&c->act->out, (size_t)r);
    became_open(c);
    return WS_OK;
}

int ws_conn_reject(ws_conn *c, unsigned status, const char *reason, const char *headers,
                   const void *body, size_t body_len)
{
    size_t need = 0;
    uint8_t *o;
    int r;

    if (!c || c->hs_state != HS_DECIDING)
        return WS_ERR_STATE;
    r = ws_handshake_reject(status, reason, headers, body, body_len, NULL, 0, &need);
    if (r != WS_ERR_BUFFER_TOO_SMALL)
        return r < 0 ? r : WS_ERR_STATE;
    ws__conn_out_starting(c);
    o = ws__outq_reserve(&c->act->out, CONN_ALLOC(c), need);
    if (!o)
        return WS_ERR_NOMEM;
    r = ws_handshake_reject(status, reason, headers, body, body_len, o, need, NULL);
    if (r < 0)
        return r;
    ws__outq_commit(&c->act->out, (size_t)r);
    c->hs_state = HS_NONE;
    end_unopened(c, 0, "handshake refused");
    return WS_OK;
}

int ws_conn_subprotocol(const ws_conn *c, const char **p, size_t *len)
{
    const char *s = c ? c->subprotocol : NULL;
    if (p)
        *p = s;
    if (len)
        *len = s ? c->subprotocol_len : 0;
    if (!c)
        return WS_ERR_INVALID_ARG;
    return s ? WS_OK : WS_ERR_NOT_FOUND;
}

int ws_conn_get_deflate_params(const ws_conn *c, ws_deflate_params *p, size_t p_size)
{
    ws_deflate_params d;
    int on;

    if (!c || !p || p_size < WS__MIN_DEFLATE_PARAMS)
        return WS_ERR_INVALID_ARG;
    on = ws__pmd_params(c->pmd, c->role == WS_ROLE_CLIENT, &d);
    ws__struct_copy(p, p_size, &d, sizeof d);
    return on ? WS_OK : WS_ERR_NOT_FOUND;
}

int ws_conn_set_deflate_shared(ws_conn *c, ws_deflate_shared *s)
{
    return c ? ws__pmd_set_shared(&c->pmd, CONN_ALLOC(c), s) : WS_ERR_INVALID_ARG;
}

/* A refused allocation reports which bound refused it. */
