/*
 * permessage-deflate (RFC 7692), the part that needs no zlib: the WS_OPT_DEFLATE_* options,
 * the agreement a connection reports (ws_conn_deflate_params), and the negotiation in the
 * opening handshake (section 7) -- the client's offer and its check of the answer, the
 * server's answer to an offer or to a response its caller wrote. Built with and without zlib
 * alike; the codec that runs on the agreement is deflate.c (or deflate_none.c).
 */
#include "http.h"
#include "pmd_state.h"

static const char pmd_name[] = "permessage-deflate";

/* The configuration used when no option was ever set (no state allocated). */
static const struct ws__pmd pmd_defaults = {
    .threshold = WS_DEFAULT_DEFLATE_THRESHOLD,
    .win_bits = WS_DEFAULT_DEFLATE_WINDOW_BITS,
    .peer_win_bits = WS_DEFAULT_DEFLATE_WINDOW_BITS,
    .mem_level = WS_DEFAULT_DEFLATE_MEM_LEVEL,
    .level = WS_DEFAULT_DEFLATE_LEVEL,
#if WS_HAVE_ZLIB
    .z_step = WS__PMD_Z_STEP,
#endif
};

static const struct ws__pmd *cfg(const ws__pmd *p)
{
    return p ? p : &pmd_defaults;
}

int ws_deflate_available(void)
{
#if WS_HAVE_ZLIB
    return 1;
#else
    return 0;
#endif
}

/* ---- options ---- */

int ws__pmd_is_option(int opt)
{
    return opt >= WS_OPT_DEFLATE && opt <= WS_OPT_DEFLATE_PEER_NO_TAKEOVER;
}

static int pmd_get(ws__pmd **pp, const ws_allocator *a)
{
    if (*pp)
        return WS_OK;
    ws__pmd *p = ws__malloc(a, sizeof *p);
    if (!p)
        return WS_ERR_NOMEM;
    *p = pmd_defaults;
    p->alloc = *a;
    *pp = p;
    return WS_OK;
}

int ws__pmd_set_option(ws__pmd **pp, const ws_allocator *a, int opt, uint64_t v)
{
    uint64_t lo = 0, hi = 1;
    int r;

    switch (opt) {
    case WS_OPT_DEFLATE_WINDOW_BITS:
        lo = WS__PMD_ZLIB_MIN_BITS, hi = WS__PMD_MAX_BITS; /* no 8-bit raw deflate: see ws.h */
        break;
    case WS_OPT_DEFLATE_PEER_WINDOW_BITS:
        lo = WS__PMD_MIN_BITS, hi = WS__PMD_MAX_BITS;
        break;
    case WS_OPT_DEFLATE_MEM_LEVEL:
        lo = 1, hi = WS__PMD_MAX_MEM_LEVEL;
        break;
    case WS_OPT_DEFLATE_LEVEL:
        hi = WS__PMD_MAX_LEVEL;
        break;
    case WS_OPT_DEFLATE_THRESHOLD:
        hi = UINT32_MAX;
        break;
    default:
        break;
    }
    if (!ws__pmd_is_option(opt))
        return WS_ERR_OPTION;
    if (v < lo || v > hi)
        return WS_ERR_RANGE;
    if (opt == WS_OPT_DEFLATE && v && !ws_deflate_available())
        return WS_ERR_UNSUPPORTED;
    if (!*pp && ws__pmd_get_option(NULL, opt) == v)
        return WS_OK; /* the default: nothing to remember, nothing to allocate */
    if ((r = pmd_get(pp, a)) < 0)
        return r;
    ws__pmd *p = *pp;
    switch (opt) {
    case WS_OPT_DEFLATE:
        p->want = (uint8_t)v;
        break;
    case WS_OPT_DEFLATE_WINDOW_BITS:
        p->win_bits = (uint8_t)v;
        break;
    case WS_OPT_DEFLATE_PEER_WINDOW_BITS:
        p->peer_win_bits = (uint8_t)v;
        break;
    case WS_OPT_DEFLATE_MEM_LEVEL:
        p->mem_level = (uint8_t)v;
        break;
    case WS_OPT_DEFLATE_LEVEL:
        p->level = (uint8_t)v;
        break;
    case WS_OPT_DEFLATE_THRESHOLD:
        p->threshold = (uint32_t)v;
        break;
    case WS_OPT_DEFLATE_NO_TAKEOVER:
        p->no_takeover = (uint8_t)v;
        break;
    default:
        p->peer_no_takeover = (uint8_t)v;
        break;
    }
    return WS_OK;
}

uint64_t ws__pmd_get_option(const ws__pmd *p, int opt)
{
    const struct ws__pmd *c = cfg(p);
    switch (opt) {
    case WS_OPT_DEFLATE:
        return c->want;
    case WS_OPT_DEFLATE_WINDOW_BITS:
        return c->win_bits;
    case WS_OPT_DEFLATE_PEER_WINDOW_BITS:
        return c->peer_win_bits;
    case WS_OPT_DEFLATE_MEM_LEVEL:
        return c->mem_level;
    case WS_OPT_DEFLATE_LEVEL:
        return c->level;
    case WS_OPT_DEFLATE_THRESHOLD:
        return c->threshold;
    case WS_OPT_DEFLATE_NO_TAKEOVER:
        return c->no_takeover;
    case WS_OPT_DEFLATE_PEER_NO_TAKEOVER:
        return c->peer_no_takeover;
    default:
        return UINT64_MAX;
    }
}

int ws__pmd_set_shared(ws__pmd **pp, const ws_allocator *a, ws_deflate_shared *s)
{
    int r;
    if (!ws_deflate_available())
        return WS_ERR_UNSUPPORTED;
    if (!s && !*pp)
        return WS_OK;
    if ((r = pmd_get(pp, a)) < 0)
        return r;
    (*pp)->shared = s;
    if (s)
        (*pp)->no_takeover = 1;
    return WS_OK;
}

int ws__pmd_wanted(const ws__pmd *p)
{
    return p && p->want && ws_deflate_available();
}

int ws__pmd_active(const ws__pmd *p)
{
    return p && p->active;
}

int ws__pmd_params(const ws__pmd *p, int is_client, ws_deflate_params *out)
{ /* 1 when negotiated, else 0; *out filled either way */
    ws_deflate_params d;
    memset(&d, 0, sizeof d);
    int on = ws__pmd_active(p);
    if (on) {
        /* Kept as ours/the peer's; the RFC names them by role. */
        const ws__pmd_neg *n = &p->neg;
        d.server_no_context_takeover = is_client ? n->rx_no_takeover : n->tx_no_takeover;
        d.client_no_context_takeover = is_client ? n->tx_no_takeover : n->rx_no_takeover;
        d.server_max_window_bits = is_client ? n->rx_bits : n->tx_bits;
        d.client_max_window_bits = is_client ? n->tx_bits : n->rx_bits;
    }
    if (out)
        *out = d;
    return on;
}

/* ---- negotiation (RFC 7692 section 7) ---- */

/* The parameters of one offer or response element. */
typedef struct pmd_elem {
    uint8_t snct, cnct; /* server_ / client_no_context_takeover present */
    uint8_t smwb;       /* server_max_window_bits: 0 absent, else 8..15 */
    uint8_t cmwb;       /* client_max_window_bits: 0 absent, 1 without a value, else 8..15 */
} pmd_elem;

/* A window-bits value: "8".."15" exactly (section 7.1.2: no leading zeros, no sign). */
static int bits_value(const char *v, size_t n)
{
    if (!v)
        return -1;
    if (n == 1 && v[0] >= '8' && v[0] <= '9')
        return v[0] - '0';
    if (n == 2 && v[0] == '1' && v[1] >= '0' && v[1] <= '5')
        return 10 + (v[1] - '0');
    return -1;
}

/* Fold one parameter into e; -1 when it makes the element invalid: unknown name, repeated,
 * a value where none belongs, a bad value, or (in a response) client_max_window_bits
 * without a value. */
static int add_param(pmd_elem *e, const char *name, size_t nl, const char *v, size_t vl,
                     int response)
{
    int b = bits_value(v, vl);

    if (ws__ieq(name, nl, LIT("server_no_context_takeover"))) {
        if (e->snct || v)
            return -1;
        e->snct = 1;
    } else if (ws__ieq(name, nl, LIT("client_no_context_takeover"))) {
        if (e->cnct || v)
            return -1;
        e->cnct = 1;
    } else if (ws__ieq(name, nl, LIT("server_max_window_bits"))) {
        if (e->smwb || b < 0)
            return -1;
        e->smwb = (uint8_t)b;
    } else if (ws__ieq(name, nl, LIT("client_max_window_bits"))) {
        if (e->cmwb || (v && b < 0) || (!v && response))
            return -1;
        e->cmwb = (uint8_t)(v ? b : 1);
    } else {
        return -1;
    }
    return 0;
}

/* Parse element i of a handshake's extension list. 1: permessage-deflate, valid; 0: another
 * extension; -1: permessage-deflate with invalid parameters. */
static int hs_elem(const ws_handshake *hs, size_t i, int response, pmd_elem *e)
{
    const char *name, *pn, *pv;
    size_t nl, np, pnl, pvl;

    memset(e, 0, sizeof *e);
    if (ws_handshake_extension(hs, i, &name, &nl, &np) < 0 || !ws__ieq(name, nl, LIT(pmd_name)))
        return 0;
    for (size_t j = 0; j < np; j++) {
        if (ws_handshake_extension_param(hs, i, j, &pn, &pnl, &pv, &pvl) < 0 ||
            add_param(e, pn, pnl, pv, pvl, response) < 0)
            return -1;
    }
    return 1;
}

/* A parsed Sec-WebSocket-Extensions string, in one allocation (count, then fill) of
 * *mem_size bytes. */
static int parse_list(const ws_allocator *a, const char *s, size_t n, ws__list *l, void **mem,
                      size_t *mem_size)
{
    ws__list c;
    memset(&c, 0, sizeof c);
    memset(l, 0, sizeof *l);
    *mem = NULL;
    *mem_size = 0;
    if (!s || ws__parse_extensions(&c, s, n) < 0)
        return WS_ERR_INVALID_ARG;
    if (c.nexts == 0)
        return WS_OK;
    size_t size = c.nexts * sizeof(ws__ext) + c.nparams * sizeof(ws__param) + c.str_len;
    char *m = ws__malloc(a, size);
    if (!m)
        return WS_ERR_NOMEM;
    l->exts = (ws__ext *)(void *)m;
    l->params = (ws__param *)(void *)(m + c.nexts * sizeof(ws__ext));
    l->str = (char *)l->params + c.nparams * sizeof(ws__param);
    (void)ws__parse_extensions(l, s, n);
    *mem = m;
    *mem_size = size;
    return WS_OK;
}

static int list_elem(const ws__list *l, size_t i, int response, pmd_elem *e)
{
    const ws__ext *x = &l->exts[i];
    memset(e, 0, sizeof *e);
    if (!ws__ieq(x->name, x->name_len, LIT(pmd_name)))
        return 0;
    for (size_t j = 0; j < x->nparams; j++) {
        const ws__param *q = &l->params[x->first + j];
        if (add_param(e, q->name, q->name_len, q->value, q->value_len, response) < 0)
            return -1;
    }
    return 1;
}

static uint8_t min8(unsigned a, unsigned b)
{
    return (uint8_t)(a < b ? a : b);
}

/* A tiny string builder (no stdio in lib/). */
typedef struct sbuf {
    char *p;
    size_t cap, len;
} sbuf;

static void sb_put(sbuf *b, const char *s)
{
    while (*s) {
        if (b->len + 1 < b->cap)
            b->p[b->len] = *s;
        b->len++;
        s++;
    }
    if (b->cap)
        b->p[b->len < b->cap ? b->len : b->cap - 1] = '\0';
}

static void sb_bits(sbuf *b, const char *name, unsigned bits)
{
    char num[3] = {0};
    if (bits >= 10) {
        num[0] = '1';
        num[1] = (char)('0' + bits - 10);
    } else {
        num[0] = (char)('0' + bits);
    }
    sb_put(b, "; ");
    sb_put(b, name);
    sb_put(b, "=");
    sb_put(b, num);
}

size_t ws__pmd_server_answer(const ws__pmd *p, const ws_handshake *hs, char *out, size_t cap,
                             ws__pmd_neg *neg)
{
    pmd_elem o;
    sbuf b = {out, cap, 0};

    if (!ws__pmd_wanted(p) || !hs)
        return 0;
    for (size_t i = 0; i < ws_handshake_extension_count(hs); i++) {
        /* Offers come best first; one we cannot take is declined, the next is tried. */
        if (hs_elem(hs, i, 0, &o) != 1)
            continue;
        neg->tx_bits = min8(p->win_bits, o.smwb ? o.smwb : WS__PMD_MAX_BITS);
        neg->tx_no_takeover = (uint8_t)(o.snct || p->no_takeover);
        neg->rx_no_takeover = (uint8_t)(o.cnct || p->peer_no_takeover);
        neg->rx_bits = WS__PMD_MAX_BITS;
        sb_put(&b, pmd_name);
        if (neg->tx_no_takeover)
            sb_put(&b, "; server_no_context_takeover");
        if (neg->rx_no_takeover)
            sb_put(&b, "; client_no_context_takeover");
        if (o.smwb || neg->tx_bits < WS__PMD_MAX_BITS)
            sb_bits(&b, "server_max_window_bits", neg->tx_bits);
        if (o.cmwb) {
            /* The client may be limited only if it said so; with a value it already promised
             * not to exceed that value. */
            unsigned lim = o.cmwb == 1 ? WS__PMD_MAX_BITS : o.cmwb;
            neg->rx_bits = min8(lim, p->peer_win_bits);
            if (neg->rx_bits < lim)
                sb_bits(&b, "client_max_window_bits", neg->rx_bits);
        }
        return b.len < cap ? b.len : 0;
    }
    return 0;
}

int ws__pmd_server_explicit(ws__pmd **pp, const ws_allocator *a, const char *response,
                            ws__pmd_neg *neg, int *found)
{
    ws__list l;
    void *mem;
    size_t mem_size;
    pmd_elem e;
    int r = parse_list(a, response, response ? strlen(response) : 0, &l, &mem, &mem_size);

    *found = 0;
    if (r < 0)
        return r;
    for (size_t i = 0; i < l.nexts && !*found; i++) {
        int k = list_elem(&l, i, 1, &e);
        if (k < 0) {
            r = WS_ERR_ARG_EXTENSIONS; /* not a valid response's parameters */
            break;
        }
        if (k == 0)
            continue;
        *found = 1;
        neg->tx_bits = min8(cfg(*pp)->win_bits, e.smwb ? e.smwb : WS__PMD_MAX_BITS);
        neg->tx_no_takeover = (uint8_t)(e.snct || cfg(*pp)->no_takeover);
        neg->rx_bits = e.cmwb ? e.cmwb : WS__PMD_MAX_BITS;
        neg->rx_no_takeover = e.cnct;
    }
    ws__free(a, mem, mem_size);
    if (r == WS_OK && *found && !ws_deflate_available())
        r = WS_ERR_UNSUPPORTED;
    return r;
}

int ws__pmd_commit(ws__pmd **pp, const ws_allocator *a, const ws__pmd_neg *neg)
{
    int r;
    if (!ws_deflate_available())
        return WS_ERR_UNSUPPORTED;
    if ((r = pmd_get(pp, a)) < 0)
        return r;
    (*pp)->neg = *neg;
    (*pp)->active = 1;
    return WS_OK;
}

size_t ws__pmd_client_offer(const ws__pmd *p, char *out, size_t cap)
{
    sbuf b = {out, cap, 0};
    if (!ws__pmd_wanted(p))
        return 0;
    sb_put(&b, pmd_name);
    /* Without a value: "you may limit my window"; with one: "and I will not exceed it". */
    if (p->win_bits < WS__PMD_MAX_BITS)
        sb_bits(&b, "client_max_window_bits", p->win_bits);
    else
        sb_put(&b, "; client_max_window_bits");
    if (p->peer_win_bits < WS__PMD_MAX_BITS)
        sb_bits(&b, "server_max_window_bits", p->peer_win_bits);
    if (p->peer_no_takeover)
        sb_put(&b, "; server_no_context_takeover");
    if (p->no_takeover)
        sb_put(&b, "; client_no_context_takeover");
    return b.len < cap ? b.len : 0;
}

/* Can response r be the answer to offer o (sections 7.1.1 and 7.1.2)? */
static int answers(const pmd_elem *o, const pmd_elem *r)
{
    if (r->cmwb && !o->cmwb)
        return 0; /* client_max_window_bits only when offered */
    if (o->smwb && (!r->smwb || r->smwb > o->smwb))
        return 0; /* a limit asked for must be accepted with the same or a smaller value */
    if (o->snct && !r->snct)
        return 0;
    return 1;
}

/* The agreement for accepted element e, if one of the offered elements (a parsed list) allows
 * it: WS_OK with *neg, or WS_ERR_DEFLATE_NEGOTIATION. */
static int agree(const ws__pmd *p, const ws__list *offered, const pmd_elem *e, ws__pmd_neg *neg)
{
    pmd_elem o;
    size_t j = 0;

    for (; j < offered->nexts; j++)
        if (list_elem(offered, j, 0, &o) == 1 && answers(&o, e))
            break;
    if (j == offered->nexts)
        return WS_ERR_DEFLATE_NEGOTIATION;
    neg->tx_bits = min8(cfg(p)->win_bits, e->cmwb ? e->cmwb : WS__PMD_MAX_BITS);
    if (o.cmwb > 1)
        neg->tx_bits = min8(neg->tx_bits, o.cmwb); /* what our offer promised */
    neg->tx_no_takeover = (uint8_t)(e->cnct || o.cnct || cfg(p)->no_takeover);
    neg->rx_bits = e->smwb ? e->smwb : WS__PMD_MAX_BITS;
    neg->rx_no_takeover = e->snct;
    return WS_OK;
}

/* The offer as a parsed list (*mem to free); an empty or missing offer is a negotiation
 * error: nothing could be accepted. */
static int offered_list(const ws_allocator *a, const char *offer, ws__list *l, void **mem,
                        size_t *mem_size)
{
    int r = parse_list(a, offer, offer ? strlen(offer) : 0, l, mem, mem_size);
    if (r == WS_ERR_INVALID_ARG || (r == WS_OK && l->nexts == 0))
        r = WS_ERR_DEFLATE_NEGOTIATION;
    return r;
}

int ws__pmd_client_check(const ws__pmd *p, const ws_allocator *a, const ws_handshake *hs,
                         ws__pmd_neg *neg, int *found)
{
    pmd_elem e;
    ws__list l;
    void *mem = NULL;
    size_t mem_size = 0;
    int r = WS_OK;

    *found = 0;
    for (size_t i = 0; i < ws_handshake_extension_count(hs) && r == WS_OK; i++) {
        int k = hs_elem(hs, i, 1, &e);
        if (k == 0)
            continue;
        if (k < 0 || *found)
            return WS_ERR_DEFLATE_NEGOTIATION; /* bad parameters, or accepted twice */
        *found = 1;
        r = offered_list(a, ws__hs_offered_extensions(hs), &l, &mem, &mem_size);
        if (r < 0)
            break;
        r = agree(p, &l, &e, neg);
        ws__free(a, mem, mem_size);
    }
    if (r == WS_OK && *found && !ws_deflate_available())
        r = WS_ERR_UNSUPPORTED;
    return r;
}

int ws__pmd_client_check_value(const ws__pmd *p, const ws_allocator *a, const char *offer,
                               const char *value, size_t len, ws__pmd_neg *neg, int *found)
{
    pmd_elem e;
    ws__list resp, off;
    void *rmem = NULL, *omem = NULL;
    size_t rsize = 0, osize = 0;
    int r;

    *found = 0;
    if (!value || len == 0)
        return WS_OK; /* no header: nothing accepted */
    r = parse_list(a, value, len, &resp, &rmem, &rsize);
    if (r == WS_ERR_INVALID_ARG)
        return WS_ERR_DEFLATE_NEGOTIATION; /* not a valid extension list */
    if (r < 0)
        return r;
    for (size_t i = 0; i < resp.nexts && r == WS_OK; i++) {
        /* Only permessage-deflate is ever offered here: anything else was not offered, and
         * permessage-deflate accepted twice or with bad parameters breaks RFC 7692. */
        if (list_elem(&resp, i, 1, &e) != 1 || *found) {
            r = WS_ERR_DEFLATE_NEGOTIATION;
            break;
        }
        *found = 1;
        if ((r = offered_list(a, offer, &off, &omem, &osize)) == WS_OK) {
            r = agree(p, &off, &e, neg);
            ws__free(a, omem, osize);
        }
    }
    ws__free(a, rmem, rsize);
    if (r == WS_OK && *found && !ws_deflate_available())
        r = WS_ERR_UNSUPPORTED;
    return r;
}
