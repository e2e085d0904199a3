/*
 * permessage-deflate (RFC 7692): negotiation, and the per-connection codec over zlib.
 *
 * Sending: a message is compressed with Z_SYNC_FLUSH, which ends the output with an empty
 * stored block "00 00 ff ff"; those four bytes are removed from the message's last fragment
 * (section 7.2.1). Receiving: the four bytes are put back after the last fragment and the
 * whole is inflated (section 7.2.2), in bounded steps so that the output never exceeds the
 * message limit. Without zlib only the negotiation code is built, and it declines.
 */
#include "deflate.h"
#include "http.h"

#if WS_HAVE_ZLIB
#define ZLIB_CONST
#include <limits.h>
#include <zlib.h>

/* zlib counts in uInt: feed and drain it at most this much at a time (a ws__pmd's z_step, which
 * only the tests lower, to reach the slicing with small inputs). */
#define Z_STEP ((size_t)1 << 30)
#endif

static const char pmd_name[] = "permessage-deflate";

struct ws__pmd {
    ws_allocator alloc; /* a copy: zlib holds a pointer to it, and this struct never moves */
    ws_deflate_shared *shared;
    uint32_t threshold;
    uint8_t want, win_bits, peer_win_bits, mem_level, level, no_takeover, peer_no_takeover;
    uint8_t active;
    ws__pmd_neg neg;
#if WS_HAVE_ZLIB
    uint8_t tx_live, rx_live;   /* deflateInit2 / inflateInit2 done */
    uint8_t tx_msg, tx_shared;  /* the message being sent is compressed / uses `shared` */
    uint8_t rx_msg, rx_tail;    /* in a compressed message / its tail given to inflate */
    uint8_t rx_done;            /* a final block (BFINAL) ended this message's data early */
    uint8_t rx_boundary;        /* the last inflate that moved stopped at a block boundary */
    uint8_t rx_pending, in_end; /* streaming input kept for the next chunk / it ends the msg */
    uint8_t in_stash;           /* in_p points into stash */
    z_stream tx, rx;
    const uint8_t *in_p; /* input not yet handed to zlib */
    size_t in_n;
    uint8_t *obuf; /* heap output of the fragment being sent, NULL when the stack sufficed */
    size_t obuf_cap;
    uint8_t *chunk; /* streaming: one chunk of decompressed output */
    uint8_t *stash; /* streaming: compressed input left over when a chunk filled up */
    size_t stash_cap;
    size_t z_step; /* most bytes handed to zlib per call: Z_STEP (the tests lower it) */
#endif
};

#if WS_HAVE_ZLIB
struct ws_deflate_shared {
    ws_allocator alloc;
    int bits;
    z_stream z;
};
#endif

/* The configuration used when no option was ever set (no state allocated). */
static const struct ws__pmd pmd_defaults = {
    .threshold = WS_DEFAULT_DEFLATE_THRESHOLD,
    .win_bits = WS_DEFAULT_DEFLATE_WINDOW_BITS,
    .peer_win_bits = WS_DEFAULT_DEFLATE_WINDOW_BITS,
    .mem_level = WS_DEFAULT_DEFLATE_MEM_LEVEL,
    .level = WS_DEFAULT_DEFLATE_LEVEL,
#if WS_HAVE_ZLIB
    .z_step = Z_STEP,
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
        lo = 9, hi = 15; /* zlib has no 8-bit raw deflate window: see ws.h */
        break;
    case WS_OPT_DEFLATE_PEER_WINDOW_BITS:
        lo = 8, hi = 15;
        break;
    case WS_OPT_DEFLATE_MEM_LEVEL:
        lo = 1, hi = 9;
        break;
    case WS_OPT_DEFLATE_LEVEL:
        hi = 9;
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
static int parse_list(const ws_allocator *a, const char *s, ws__list *l, void **mem,
                      size_t *mem_size)
{
    ws__list c;
    memset(&c, 0, sizeof c);
    memset(l, 0, sizeof *l);
    *mem = NULL;
    *mem_size = 0;
    if (!s || ws__parse_extensions(&c, s, strlen(s)) < 0)
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
    (void)ws__parse_extensions(l, s, strlen(s));
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
        neg->tx_bits = min8(p->win_bits, o.smwb ? o.smwb : 15);
        neg->tx_no_takeover = (uint8_t)(o.snct || p->no_takeover);
        neg->rx_no_takeover = (uint8_t)(o.cnct || p->peer_no_takeover);
        neg->rx_bits = 15;
        sb_put(&b, pmd_name);
        if (neg->tx_no_takeover)
            sb_put(&b, "; server_no_context_takeover");
        if (neg->rx_no_takeover)
            sb_put(&b, "; client_no_context_takeover");
        if (o.smwb || neg->tx_bits < 15)
            sb_bits(&b, "server_max_window_bits", neg->tx_bits);
        if (o.cmwb) {
            /* The client may be limited only if it said so; with a value it already promised
             * not to exceed that value. */
            unsigned lim = o.cmwb == 1 ? 15 : o.cmwb;
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
    int r = parse_list(a, response, &l, &mem, &mem_size);

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
        neg->tx_bits = min8(cfg(*pp)->win_bits, e.smwb ? e.smwb : 15);
        neg->tx_no_takeover = (uint8_t)(e.snct || cfg(*pp)->no_takeover);
        neg->rx_bits = e.cmwb ? e.cmwb : 15;
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
    if (p->win_bits < 15)
        sb_bits(&b, "client_max_window_bits", p->win_bits);
    else
        sb_put(&b, "; client_max_window_bits");
    if (p->peer_win_bits < 15)
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

int ws__pmd_client_check(const ws__pmd *p, const ws_allocator *a, const ws_handshake *hs,
                         ws__pmd_neg *neg, int *found)
{
    pmd_elem e, o;
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
        r = parse_list(a, ws__hs_offered_extensions(hs), &l, &mem, &mem_size);
        if (r == WS_ERR_INVALID_ARG)
            r = WS_ERR_DEFLATE_NEGOTIATION; /* nothing offered */
        if (r < 0)
            break;
        size_t j = 0;
        for (; j < l.nexts; j++)
            if (list_elem(&l, j, 0, &o) == 1 && answers(&o, &e))
                break;
        ws__free(a, mem, mem_size);
        if (j == l.nexts)
            return WS_ERR_DEFLATE_NEGOTIATION;
        neg->tx_bits = min8(cfg(p)->win_bits, e.cmwb ? e.cmwb : 15);
        if (o.cmwb > 1)
            neg->tx_bits = min8(neg->tx_bits, o.cmwb); /* what our offer promised */
        neg->tx_no_takeover = (uint8_t)(e.cnct || o.cnct || cfg(p)->no_takeover);
        neg->rx_bits = e.smwb ? e.smwb : 15;
        neg->rx_no_takeover = e.snct;
    }
    if (r == WS_OK && *found && !ws_deflate_available())
        r = WS_ERR_UNSUPPORTED;
    return r;
}

#if WS_HAVE_ZLIB

/* ---- zlib through the caller's allocator ---- */

/* zlib frees without a size, and the allocator hook gets one (ws.h): each block zlib asks
 * for carries its size in a header of Z_HDR bytes, which keeps the payload max-aligned. */
#define Z_HDR (sizeof(max_align_t) > sizeof(size_t) ? sizeof(max_align_t) : sizeof(size_t))

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    if (size && items > (SIZE_MAX - Z_HDR) / size)
        return Z_NULL;
    size_t n = (size_t)items * size + Z_HDR;
    unsigned char *b = ws__malloc(opaque, n);
    if (!b)
        return Z_NULL;
    memcpy(b, &n, sizeof n);
    return b + Z_HDR;
}

static void z_free(voidpf opaque, voidpf ptr)
{
    size_t n;
    unsigned char *b = (unsigned char *)ptr - Z_HDR;
    memcpy(&n, b, sizeof n);
    ws__free(opaque, b, n);
}

static void z_prepare(z_stream *z, const ws_allocator *a)
{
    memset(z, 0, sizeof *z);
    z->zalloc = z_alloc;
    z->zfree = z_free;
    z->opaque = (voidpf)(uintptr_t)a;
}

static uInt z_len(const ws__pmd *p, size_t n)
{
    return (uInt)(n < p->z_step ? n : p->z_step);
}

void ws__pmd_set_zlib_step(ws__pmd *p, size_t step)
{
    /* More than the six bytes of room a sync flush needs each call (zlib.h). */
    p->z_step = step < 64 ? 64 : step > Z_STEP ? Z_STEP : step;
}

int ws_deflate_shared_new(ws_deflate_shared **out, const ws_allocator *alloc, int window_bits,
                          int mem_level, int level)
{
    ws_allocator a;
    ws_deflate_shared *s;

    if (!out)
        return WS_ERR_INVALID_ARG;
    *out = NULL;
    if (window_bits < 9 || window_bits > 15 || mem_level < 1 || mem_level > 9 || level < 0 ||
        level > 9)
        return WS_ERR_RANGE;
    if (ws__alloc_init(&a, alloc) < 0)
        return WS_ERR_INVALID_ARG;
    s = ws__malloc(&a, sizeof *s);
    if (!s)
        return WS_ERR_NOMEM;
    s->alloc = a;
    s->bits = window_bits;
    z_prepare(&s->z, &s->alloc);
    if (deflateInit2(&s->z, level, Z_DEFLATED, -window_bits, mem_level, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        ws__free(&a, s, sizeof *s);
        return WS_ERR_NOMEM; /* the parameters were checked: only memory can fail */
    }
    *out = s;
    return WS_OK;
}

void ws_deflate_shared_free(ws_deflate_shared *s)
{
    if (!s)
        return;
    ws_allocator a = s->alloc;
    deflateEnd(&s->z);
    ws__free(&a, s, sizeof *s);
}

static void tx_release(ws__pmd *p)
{
    if (p->tx_live)
        deflateEnd(&p->tx);
    p->tx_live = 0;
}

/* Free the decompressor. The streaming chunk stays unless with_chunk: the last event of a
 * message points into it until the caller's next call. */
static void rx_release(ws__pmd *p, int with_chunk)
{
    if (p->rx_live)
        inflateEnd(&p->rx);
    p->rx_live = 0;
    ws__free(&p->alloc, p->stash, p->stash_cap);
    p->stash = NULL;
    p->stash_cap = 0;
    if (with_chunk) {
        ws__free(&p->alloc, p->chunk, WS__PMD_OUT_CHUNK);
        p->chunk = NULL;
    }
}

void ws__pmd_free(ws__pmd *p)
{
    if (!p)
        return;
    tx_release(p);
    rx_release(p, 1);
    ws__free(&p->alloc, p->obuf, p->obuf_cap);
    ws_allocator a = p->alloc;
    ws__free(&a, p, sizeof *p);
}

/* ---- sending ---- */

int ws__pmd_tx_begin(ws__pmd *p, size_t len, int whole, unsigned flags)
{
    if (!ws__pmd_active(p))
        return 0;
    p->tx_msg = p->tx_shared = 0;
    /* A window of 8 bits cannot be honoured by zlib: such a side sends uncompressed. */
    if ((flags & WS_SEND_NO_COMPRESS) || p->neg.tx_bits < 9 || (whole && len < p->threshold))
        return 0;
    /* The shared stream serves one whole message at a time: a message sent in several calls
     * would hold it while other connections need it. */
    p->tx_shared = (uint8_t)(whole && p->shared && p->neg.tx_no_takeover &&
                             p->shared->bits <= p->neg.tx_bits);
    p->tx_msg = 1;
    return 1;
}

int ws__pmd_tx_compressing(const ws__pmd *p)
{
    return p && p->tx_msg;
}

static z_stream *tx_stream(ws__pmd *p)
{
    if (p->tx_shared) {
        deflateReset(&p->shared->z);
        return &p->shared->z;
    }
    if (!p->tx_live) {
        z_prepare(&p->tx, &p->alloc);
        if (deflateInit2(&p->tx, p->level, Z_DEFLATED, -(int)p->neg.tx_bits, p->mem_level,
                         Z_DEFAULT_STRATEGY) != Z_OK)
            return NULL;
        p->tx_live = 1;
    }
    return &p->tx;
}

/* Make room for at least `need` more bytes after len in the output (stack, then heap). */
static int tx_grow(ws__pmd *p, uint8_t **buf, size_t *cap, size_t len, size_t need)
{
    size_t want = *cap * 2;
    if (want < len + need)
        want = len + need;
    uint8_t *q = ws__malloc(&p->alloc, want);
    if (!q)
        return WS_ERR_NOMEM;
    if (len)
        memcpy(q, *buf, len);
    ws__free(&p->alloc, p->obuf, p->obuf_cap);
    p->obuf = *buf = q;
    p->obuf_cap = want;
    *cap = want;
    return WS_OK;
}

int ws__pmd_tx_compress(ws__pmd *p, const uint8_t *in, size_t n, int fin, uint8_t *stack,
                        size_t stack_cap, const uint8_t **out, size_t *out_len)
{
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    z_stream *z = tx_stream(p);
    uint8_t *buf = stack;
    size_t cap = stack_cap, len = 0;

    if (!z)
        return WS_ERR_NOMEM;
    z->avail_in = 0;
    for (;;) {
        if (z->avail_in == 0 && n) {
            z->next_in = in;
            z->avail_in = z_len(p, n);
            in += z->avail_in;
            n -= z->avail_in;
        }
        /* zlib asks for more than six bytes of room with Z_SYNC_FLUSH, or it may repeat the
         * flush marker; ask for the bound of what is left on the first growth. */
        if (cap - len < 16) {
            size_t bound = (size_t)deflateBound(z, z->avail_in) + n + 16;
            if (tx_grow(p, &buf, &cap, len, bound) < 0)
                return WS_ERR_NOMEM;
        }
        z->next_out = buf + len;
        z->avail_out = z_len(p, cap - len);
        int r = deflate(z, Z_SYNC_FLUSH);
        len = (size_t)(z->next_out - buf);
        /* Z_BUF_ERROR: nothing to do (an empty fragment right after a flush). */
        if (r != Z_OK && r != Z_BUF_ERROR)
            return WS_ERR_NOMEM; /* only a stream made unusable by a failed allocation */
        if (z->avail_in == 0 && n == 0 && z->avail_out != 0)
            break;
    }
    if (fin && len >= 4 && memcmp(buf + len - 4, tail, 4) == 0)
        len -= 4;
    if (fin && len == 0) {
        /* Nothing was left to flush: one empty stored block header makes the restored tail a
         * complete block again (an empty payload would leave the peer mid-block). */
        buf[0] = 0x00;
        len = 1;
    }
    *out = buf;
    *out_len = len;
    return WS_OK;
}

void ws__pmd_tx_done(ws__pmd *p, int fin, int ok)
{
    ws__free(&p->alloc, p->obuf, p->obuf_cap);
    p->obuf = NULL;
    p->obuf_cap = 0;
    if (!ok && p->tx_live) {
        /* The peer never saw what the compressor just took in: forget it all. Later output
         * then refers only to bytes the peer does get, whatever its window holds. */
        deflateReset(&p->tx);
    }
    if (fin && ok) {
        p->tx_msg = 0;
        if (p->neg.tx_no_takeover)
            tx_release(p);
    }
}

/* ---- receiving ---- */

int ws__pmd_rx_begin(ws__pmd *p)
{
    if (!p->rx_live) {
        z_prepare(&p->rx, &p->alloc);
        /* Any window at least as large as the sender's decodes its data; 9 where 8 was agreed
         * (zlib's raw modes stop at 9 for deflate and we need no finer economy here). */
        int bits = p->neg.rx_bits < 9 ? 9 : p->neg.rx_bits;
        if (inflateInit2(&p->rx, -bits) != Z_OK)
            return WS_ERR_NOMEM;
        p->rx_live = 1;
    }
    p->rx_msg = 1;
    p->rx_tail = p->rx_done = p->rx_pending = 0;
    p->rx_boundary = 1;
    return WS_OK;
}

int ws__pmd_rx_in_message(const ws__pmd *p)
{
    return p && p->rx_msg;
}

static void rx_input(ws__pmd *p, const uint8_t *in, size_t n, int msg_end)
{
    p->in_p = in;
    p->in_n = n;
    p->in_end = (uint8_t)(msg_end != 0);
    p->in_stash = 0;
    p->rx.avail_in = 0;
}

/* Give zlib its next input: the message's bytes, then at its end the removed tail. */
static void rx_feed(ws__pmd *p)
{
    static const uint8_t tail[4] = {0x00, 0x00, 0xff, 0xff};
    z_stream *z = &p->rx;

    if (p->rx_done) {
        /* After a final block nothing more of this message is data (section 7.2.3.4). */
        z->avail_in = 0;
        p->in_n = 0;
        return;
    }
    if (z->avail_in)
        return;
    if (p->in_n) {
        z->next_in = p->in_p;
        z->avail_in = z_len(p, p->in_n);
        p->in_p += z->avail_in;
        p->in_n -= z->avail_in;
    } else if (p->in_end && !p->rx_tail) {
        z->next_in = tail;
        z->avail_in = 4;
        p->rx_tail = 1;
    }
}

/* The largest LZ77 window (2^15), all inflateGetDictionary can return. */
#define RX_DICT_MAX 32768u

/* A final block ended the stream: start a new one for the next message, keeping the window
 * when the peer takes its context over. */
static int rx_restart(ws__pmd *p)
{
    uint8_t *dict = NULL;
    uInt dlen = 0;

    if (!p->neg.rx_no_takeover) {
        dict = ws__malloc(&p->alloc, RX_DICT_MAX);
        if (!dict)
            return WS_ERR_NOMEM;
        inflateGetDictionary(&p->rx, dict, &dlen);
    }
    inflateReset(&p->rx);
    if (dict && dlen)
        inflateSetDictionary(&p->rx, dict, dlen);
    ws__free(&p->alloc, dict, RX_DICT_MAX);
    p->rx_done = 1;
    return WS_OK;
}

/*
 * Inflate the pending input into out[0..cap). Returns 1 when out is full (more may follow),
 * 0 when the input is used up and all its output flushed, or an error. Z_BLOCK makes inflate
 * stop at block boundaries and say so (data_type bit 128): a message must end on one, which
 * catches a truncated stream at its own message rather than corrupting the next.
 */
static int inflate_into(ws__pmd *p, uint8_t *out, size_t cap, size_t *made)
{
    z_stream *z = &p->rx;

    *made = 0;
    for (;;) {
        rx_feed(p);
        if (*made == cap)
            return 1;
        if (p->rx_done)
            return 0;
        uInt room = z_len(p, cap - *made), in_before = z->avail_in;
        z->next_out = out + *made;
        z->avail_out = room;
        int r = inflate(z, Z_BLOCK);
        *made += room - z->avail_out;
        if (room != z->avail_out || in_before != z->avail_in)
            p->rx_boundary = (uint8_t)((z->data_type & 128) != 0);
        if (r == Z_STREAM_END) {
            if ((r = rx_restart(p)) < 0)
                return r;
            continue;
        }
        if (r == Z_MEM_ERROR)
            return WS_ERR_NOMEM;
        if (r != Z_OK && r != Z_BUF_ERROR)
            return WS_ERR_DEFLATE_DATA;
        if (z->avail_out == 0)
            continue;
        if (z->avail_in == 0) {
            if (p->in_n == 0 && (!p->in_end || p->rx_tail))
                return 0;
            continue;
        }
        if (z->avail_in == in_before && z->avail_out == room)
            return WS_ERR_DEFLATE_DATA; /* no progress with input and room: cannot happen */
    }
}

static int rx_finish_check(const ws__pmd *p)
{
    return p->in_end && !p->rx_done && !p->rx_boundary ? WS_ERR_DEFLATE_DATA : WS_OK;
}

/* Output is left to make for the input given: the caller's input is only borrowed for the
 * call, so keep what zlib has not read (a small stash), to go on from it later. Returns 1. */
static int rx_keep(ws__pmd *p)
{
    if (!p->rx_tail && !p->in_stash) {
        size_t k = p->rx.avail_in, total = k + p->in_n;
        if (total > p->stash_cap) {
            uint8_t *s = ws__malloc(&p->alloc, total);
            if (!s)
                return WS_ERR_NOMEM;
            ws__free(&p->alloc, p->stash, p->stash_cap);
            p->stash = s;
            p->stash_cap = total;
        }
        if (k && p->rx.next_in) /* zlib left k unread bytes at next_in */
            memcpy(p->stash, p->rx.next_in, k);
        if (p->in_n && p->in_p) /* in_p is set whenever in_n is: said for the analyzer */
            memcpy(p->stash + k, p->in_p, p->in_n);
        p->rx.avail_in = 0;
        p->in_p = p->stash;
        p->in_n = total;
        p->in_stash = 1;
    }
    p->rx_pending = 1;
    return 1;
}

int ws__pmd_rx_append(ws__pmd *p, const uint8_t *in, size_t n, int msg_end, uint8_t **buf,
                      size_t *len, size_t *cap, uint64_t limit, size_t step)
{
    size_t made, start = *len;
    int r;

    if (in || !p->rx_pending)
        rx_input(p, in, n, msg_end);
    p->rx_pending = 0;
    if (limit > SIZE_MAX)
        limit = SIZE_MAX;
    for (;;) {
        if (step && *len - start >= step) {
            /* This call's share of work is done; more may follow from the same input. */
            if ((r = rx_keep(p)) < 0)
                return r;
            return 1;
        }
        /* The buffer may be larger than a limit lowered since it grew: never write past it. */
        size_t end = *cap < limit ? *cap : (size_t)limit;
        if (*len >= end) {
            if (*len >= limit) {
                /* At the limit: one more byte of output means the message is too big. */
                uint8_t probe;
                if ((r = inflate_into(p, &probe, 1, &made)) < 0)
                    return r;
                if (made)
                    return WS_ERR_MESSAGE_TOO_BIG;
                break;
            }
            size_t want = *cap ? (*cap > SIZE_MAX / 2 ? SIZE_MAX : *cap * 2) : 1024;
            if (want > limit)
                want = (size_t)limit;
            uint8_t *q = ws__realloc(&p->alloc, *buf, *cap, want);
            if (!q)
                return WS_ERR_NOMEM;
            *buf = q;
            *cap = want;
        }
        end = *cap < limit ? *cap : (size_t)limit;
        if (step && end - *len > step - (*len - start))
            end = *len + (step - (*len - start));
        r = inflate_into(p, *buf + *len, end - *len, &made);
        *len += made;
        if (r < 0)
            return r;
        if (r == 0)
            break;
    }
    return rx_finish_check(p);
}

int ws__pmd_rx_stream(ws__pmd *p, const uint8_t *in, size_t n, int msg_end, size_t max_out,
                      const uint8_t **out, size_t *out_len)
{
    size_t made;
    int r;

    if (in || !p->rx_pending)
        rx_input(p, in, n, msg_end);
    if (!p->chunk && !(p->chunk = ws__malloc(&p->alloc, WS__PMD_OUT_CHUNK)))
        return WS_ERR_NOMEM;
    /* Never inflate further than one byte past the message limit: the limit is then reported
     * (1009) exactly as when reassembling, before any corruption further on is reached. */
    r = inflate_into(p, p->chunk, max_out < WS__PMD_OUT_CHUNK ? max_out : WS__PMD_OUT_CHUNK,
                     &made);
    if (r < 0)
        return r;
    *out = p->chunk;
    *out_len = made;
    if (r == 1)
        return rx_keep(p);
    p->rx_pending = 0;
    if ((r = rx_finish_check(p)) < 0)
        return r;
    return 0;
}

int ws__pmd_rx_pending(const ws__pmd *p)
{
    if (!p || !p->rx_pending)
        return 0;
    return p->in_end ? 2 : 1;
}

void ws__pmd_rx_end(ws__pmd *p)
{
    p->rx_msg = 0;
    p->rx_pending = 0;
    if (p->neg.rx_no_takeover)
        rx_release(p, 0);
}

#else /* !WS_HAVE_ZLIB: never active, so the data path is never entered */

int ws_deflate_shared_new(ws_deflate_shared **out, const ws_allocator *alloc, int window_bits,
                          int mem_level, int level)
{
    (void)alloc;
    (void)window_bits;
    (void)mem_level;
    (void)level;
    if (!out)
        return WS_ERR_INVALID_ARG;
    *out = NULL;
    return WS_ERR_UNSUPPORTED;
}

void ws_deflate_shared_free(ws_deflate_shared *s)
{
    (void)s;
}

void ws__pmd_set_zlib_step(ws__pmd *p, size_t step)
{
    (void)p;
    (void)step;
}

void ws__pmd_free(ws__pmd *p)
{
    if (p) {
        ws_allocator a = p->alloc;
        ws__free(&a, p, sizeof *p);
    }
}

int ws__pmd_tx_begin(ws__pmd *p, size_t len, int whole, unsigned flags)
{
    (void)p;
    (void)len;
    (void)whole;
    (void)flags;
    return 0;
}

int ws__pmd_tx_compressing(const ws__pmd *p)
{
    (void)p;
    return 0;
}

int ws__pmd_tx_compress(ws__pmd *p, const uint8_t *in, size_t n, int fin, uint8_t *stack,
                        size_t stack_cap, const uint8_t **out, size_t *out_len)
{
    (void)p;
    (void)in;
    (void)n;
    (void)fin;
    (void)stack;
    (void)stack_cap;
    (void)out;
    (void)out_len;
    return WS_ERR_UNSUPPORTED;
}

void ws__pmd_tx_done(ws__pmd *p, int fin, int ok)
{
    (void)p;
    (void)fin;
    (void)ok;
}

int ws__pmd_rx_begin(ws__pmd *p)
{
    (void)p;
    return WS_ERR_UNSUPPORTED;
}

int ws__pmd_rx_in_message(const ws__pmd *p)
{
    (void)p;
    return 0;
}

int ws__pmd_rx_append(ws__pmd *p, const uint8_t *in, size_t n, int msg_end, uint8_t **buf,
                      size_t *len, size_t *cap, uint64_t limit, size_t step)
{
    (void)step;
    (void)p;
    (void)in;
    (void)n;
    (void)msg_end;
    (void)buf;
    (void)len;
    (void)cap;
    (void)limit;
    return WS_ERR_UNSUPPORTED;
}

int ws__pmd_rx_stream(ws__pmd *p, const uint8_t *in, size_t n, int msg_end, size_t max_out,
                      const uint8_t **out, size_t *out_len)
{
    (void)p;
    (void)in;
    (void)n;
    (void)msg_end;
    (void)max_out;
    (void)out;
    (void)out_len;
    return WS_ERR_UNSUPPORTED;
}

int ws__pmd_rx_pending(const ws__pmd *p)
{
    (void)p;
    return 0;
}

void ws__pmd_rx_end(ws__pmd *p)
{
    (void)p;
}

#endif
