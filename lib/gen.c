/*
 * The generator and its mutations (ws.h "Generator and mutations"): seeded frame sequences
 * for fuzzers and testers, kept as frames so that mutations can split, merge, insert and
 * rewrite them, serialised on demand with the raw encoder. Every choice comes from one
 * splitmix64 stream of 64-bit integers: no host byte order, pointer or clock is involved,
 * so a seed gives the same bytes everywhere. ws_frame_describe is here too: the reproducer's
 * view of the same frames.
 */
#include "deflate.h"
#include "internal.h"

#define GEN_MIN_CONFIG WS__END_OF(ws_gen_config, limit)
#define GEN_MIN_MUTATION WS__END_OF(ws_gen_mutation, frame)
#define GEN_MIN_FRAME WS__END_OF(ws_gen_frame, body_len)
#define GEN_MIN_ITEM WS__END_OF(ws_gen_item, len)

#define GEN_DEF_MESSAGE 4096u
#define GEN_MAX_MESSAGE (16u << 20)
#define GEN_DEF_FRAGMENTS 5u
#define GEN_MAX_FRAGMENTS 64u
#define GEN_DEF_FRAMES 256u
#define GEN_MAX_FRAMES 65536u
#define GEN_DEF_BYTES (1u << 20)
#define GEN_MIN_BYTES 64u
#define GEN_MAX_BYTES ((uint64_t)256 << 20)
#define GEN_DEF_LIMIT ((uint64_t)1 << 32)
/* A frame's body never passes this (frames are built from messages of at most 16 MiB, or
 * loaded from inputs capped at max_bytes). */
#define GEN_LONG_CONTROL 400u

typedef struct gframe {
    uint64_t declared; /* the header's length */
    uint64_t start;    /* in the output, set when serialised */
    uint32_t off, len; /* the body (before masking) in the pool */
    int32_t item;      /* the valid item it carries, or -1 */
    uint8_t op, fin, rsv, masked, lb, mutated;
    uint8_t key[4];
} gframe;

typedef struct gitem {
    uint32_t off, len; /* the payload as delivered, in the pool */
    uint8_t op, compressed, mutated, broken;
} gitem;

struct ws_gen {
    ws_allocator a;
    ws_gen_config cfg;
    uint64_t rng;
    gframe *fr, *snap;
    uint32_t nfr, capfr, capsnap;
    gitem *it, *snap_it;
    uint32_t nit, capit, capsnap_it;
    uint8_t *pool; /* bodies and payloads, append-only until reset */
    size_t pool_len, pool_cap, pool_max;
    uint32_t tail_off, tail_len; /* loaded bytes that make no whole header, written last */
    uint8_t *out;
    size_t out_len, out_cap;
    int dirty;
    ws__pmd *pmd;
};

/* ---- randomness ---- */

static uint64_t rnd(ws_gen *g)
{
    uint64_t z = (g->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Uniform enough in [0, n), n >= 1 (0: any value). */
static uint64_t below(ws_gen *g, uint64_t n)
{
    return n ? rnd(g) % n : rnd(g);
}

static uint64_t range(ws_gen *g, uint64_t lo, uint64_t hi)
{
    return lo + below(g, hi - lo + 1);
}

static int chance(ws_gen *g, unsigned one_in)
{
    return below(g, one_in) == 0;
}

/* ---- the mutation table ---- */

typedef struct mut_info {
    const char *name, *about;
    int32_t error; /* for a client; WS_MUT_MASK_FLIP differs for a server */
    uint8_t severity, deflate, client_only;
} mut_info;

static const mut_info muts[WS_MUT_COUNT_] = {
    {"none", "nothing changed (the baseline)", WS_OK, 0, 0, 0},
    {"rsv-bits", "RSV bits that no negotiated extension owns", WS_ERR_FRAME_RSV, WS_SEVERITY_MUST,
     0, 0},
    {"reserved-opcode", "a frame with opcode 3-7 or 0xB-0xF", WS_ERR_FRAME_RESERVED_OPCODE,
     WS_SEVERITY_MUST, 0, 0},
    {"non-minimal-length", "a length in a longer encoding than needed",
     WS_ERR_FRAME_NON_MINIMAL_LENGTH, WS_SEVERITY_STRICT, 0, 0},
    {"oversized-length", "a 64-bit length above the receiver's limit, the body short",
     WS_ERR_FRAME_TOO_LARGE, WS_SEVERITY_LIMIT, 0, 0},
    {"len64-msb", "a 64-bit length with its most significant bit set", WS_ERR_FRAME_LEN64_MSB,
     WS_SEVERITY_SHOULD, 0, 0},
    {"mask-flip", "a client frame without MASK, or a server frame with it", WS_ERR_FRAME_UNMASKED,
     WS_SEVERITY_MUST, 0, 0},
    {"control-fragmented", "a ping or pong without FIN", WS_ERR_FRAME_CONTROL_FRAGMENTED,
     WS_SEVERITY_MUST, 0, 0},
    {"control-too-long", "a ping or pong of 126..400 bytes", WS_ERR_FRAME_CONTROL_TOO_LONG,
     WS_SEVERITY_MUST, 0, 0},
    {"orphan-continuation", "a continuation frame with no message started",
     WS_ERR_UNEXPECTED_CONTINUATION, WS_SEVERITY_MUST, 0, 0},
    {"nested-message", "a new text/binary frame inside a fragmented message",
     WS_ERR_EXPECTED_CONTINUATION, WS_SEVERITY_MUST, 0, 0},
    {"utf8-invalid", "a text message with an invalid sequence", WS_ERR_INVALID_UTF8,
     WS_SEVERITY_MUST, 0, 0},
    {"utf8-split", "an invalid sequence split across fragments", WS_ERR_INVALID_UTF8,
     WS_SEVERITY_MUST, 0, 0},
    {"utf8-truncated", "a text message ending inside a character", WS_ERR_INVALID_UTF8,
     WS_SEVERITY_MUST, 0, 0},
    {"close-1-byte", "a close frame of 1 byte", WS_ERR_CLOSE_PAYLOAD, WS_SEVERITY_SHOULD, 0, 0},
    {"close-invalid-code", "close code 0, 999, 1004-1006, 1015, 2999, 5000...", WS_ERR_CLOSE_CODE,
     WS_SEVERITY_SHOULD, 0, 0},
    {"close-invalid-utf8", "a close reason that is not UTF-8", WS_ERR_INVALID_UTF8,
     WS_SEVERITY_SHOULD, 0, 0},
    {"data-after-close", "a normal close, then a data or control frame", WS_ERR_AFTER_CLOSE,
     WS_SEVERITY_STRICT, 0, 0},
    {"split-frame", "a data frame split in two fragments (valid)", WS_OK, 0, 0, 0},
    {"merge-fragments", "two fragments of a message merged into one frame (valid)", WS_OK, 0, 0, 0},
    {"insert-control", "a ping or pong between two fragments (valid)", WS_OK, 0, 0, 0},
    {"remask", "a client frame masked with a new key (valid)", WS_OK, 0, 0, 1},
    {"deflate-rsv1-continuation", "RSV1 on a continuation frame (permessage-deflate)",
     WS_ERR_DEFLATE_RSV1, WS_SEVERITY_MUST, 1, 0},
    {"deflate-rsv1-control", "RSV1 on a ping or pong (permessage-deflate)", WS_ERR_DEFLATE_RSV1,
     WS_SEVERITY_MUST, 1, 0},
    {"deflate-bad-data", "a compressed message that is not DEFLATE data (permessage-deflate)",
     WS_ERR_DEFLATE_DATA, WS_SEVERITY_SHOULD, 1, 0}, /* RFC 7692 names no close code */
};

int ws_gen_mutation_tag(uint32_t kind, uint32_t sender, ws_gen_mutation *m, const char **name,
                        const char **about)
{
    if (!m || m->size < GEN_MIN_MUTATION || (sender != WS_ROLE_CLIENT && sender != WS_ROLE_SERVER))
        return WS_ERR_INVALID_ARG;
    if (kind >= WS_MUT_COUNT_)
        return WS_ERR_NOT_FOUND;
    const mut_info *mi = &muts[kind];
    ws_gen_mutation t;
    memset(&t, 0, sizeof t);
    t.size = m->size;
    t.kind = kind;
    t.error = mi->error;
    if (kind == WS_MUT_MASK_FLIP && sender == WS_ROLE_SERVER)
        t.error = WS_ERR_FRAME_MASKED;
    t.close_code = (uint16_t)(t.error ? ws_close_code_for_error(t.error) : 0);
    t.severity = mi->severity;
    t.deflate = mi->deflate;
    ws__struct_copy(m, m->size, &t, sizeof t);
    m->size = t.size;
    if (name)
        *name = mi->name;
    if (about)
        *about = mi->about;
    return WS_OK;
}

int ws_gen_mutation_find(const char *name)
{
    if (!name)
        return WS_ERR_INVALID_ARG;
    for (unsigned k = 0; k < WS_MUT_COUNT_; k++)
        if (!strcmp(name, muts[k].name))
            return (int)k;
    return WS_ERR_NOT_FOUND;
}

/* ---- construction ---- */

int ws_gen_new(ws_gen **out, const ws_gen_config *cfg, const ws_allocator *alloc)
{
    ws_allocator a;
    ws_gen_config c;

    if (!out)
        return WS_ERR_INVALID_ARG;
    *out = NULL;
    if (!cfg || cfg->size < GEN_MIN_CONFIG || ws__alloc_init(&a, alloc) < 0)
        return WS_ERR_INVALID_ARG;
    ws__struct_copy(&c, sizeof c, cfg, cfg->size);
    if ((c.sender != WS_ROLE_CLIENT && c.sender != WS_ROLE_SERVER) ||
        (c.flags & ~(uint32_t)(WS_GEN_DEFLATE | WS_GEN_DEFLATE_NO_TAKEOVER)))
        return WS_ERR_INVALID_ARG;
    c.size = sizeof c;
    c.max_message = c.max_message ? c.max_message : GEN_DEF_MESSAGE;
    c.max_fragments = c.max_fragments ? c.max_fragments : GEN_DEF_FRAGMENTS;
    c.max_frames = c.max_frames ? c.max_frames : GEN_DEF_FRAMES;
    c.max_bytes = c.max_bytes ? c.max_bytes : GEN_DEF_BYTES;
    c.limit = c.limit ? c.limit : GEN_DEF_LIMIT;
    c.deflate_bits = c.deflate_bits ? c.deflate_bits : (uint8_t)WS__PMD_MAX_BITS;
    if (c.max_message > GEN_MAX_MESSAGE || c.max_fragments > GEN_MAX_FRAGMENTS ||
        c.max_frames > GEN_MAX_FRAMES || c.max_bytes < GEN_MIN_BYTES ||
        c.max_bytes > GEN_MAX_BYTES || c.limit >= ((uint64_t)1 << 62) ||
        c.deflate_bits < WS__PMD_ZLIB_MIN_BITS || c.deflate_bits > WS__PMD_MAX_BITS)
        return WS_ERR_RANGE;
    if ((c.flags & WS_GEN_DEFLATE) && !ws_deflate_available())
        return WS_ERR_UNSUPPORTED;

    ws_gen *g = ws__malloc(&a, sizeof *g);
    if (!g)
        return WS_ERR_NOMEM;
    memset(g, 0, sizeof *g);
    g->a = a;
    g->cfg = c;
    g->rng = c.seed;
    /* Bodies, payloads and the copies merges make: three times the output at most. */
    g->pool_max = (size_t)c.max_bytes * 3 + 2 * (size_t)c.max_message;
    g->dirty = 1;
    if (c.flags & WS_GEN_DEFLATE) {
        ws__pmd_neg neg;
        memset(&neg, 0, sizeof neg);
        neg.tx_bits = c.deflate_bits;
        neg.rx_bits = WS__PMD_MAX_BITS;
        neg.tx_no_takeover = (uint8_t)((c.flags & WS_GEN_DEFLATE_NO_TAKEOVER) != 0);
        int r = ws__pmd_set_option(&g->pmd, &a, WS_OPT_DEFLATE, 1);
        if (r == WS_OK)
            r = ws__pmd_set_option(&g->pmd, &a, WS_OPT_DEFLATE_THRESHOLD, 0);
        if (r == WS_OK)
            r = ws__pmd_commit(&g->pmd, &a, &neg);
        if (r < 0) {
            ws_gen_free(g);
            return r;
        }
    }
    *out = g;
    return WS_OK;
}

void ws_gen_free(ws_gen *g)
{
    if (!g)
        return;
    ws__pmd_free(g->pmd);
    ws__free(&g->a, g->fr, (size_t)g->capfr * sizeof *g->fr);
    ws__free(&g->a, g->snap, (size_t)g->capsnap * sizeof *g->snap);
    ws__free(&g->a, g->it, (size_t)g->capit * sizeof *g->it);
    ws__free(&g->a, g->snap_it, (size_t)g->capsnap_it * sizeof *g->snap_it);
    ws__free(&g->a, g->pool, g->pool_cap);
    ws__free(&g->a, g->out, g->out_cap);
    ws_allocator a = g->a;
    ws__free(&a, g, sizeof *g);
}

/* A fresh compressor (a sequence started again must not refer to the old one's bytes). */
static int pmd_restart(ws_gen *g)
{
    if (!g->pmd)
        return WS_OK;
    ws__pmd_neg neg;
    memset(&neg, 0, sizeof neg);
    neg.tx_bits = g->cfg.deflate_bits;
    neg.rx_bits = WS__PMD_MAX_BITS;
    neg.tx_no_takeover = (uint8_t)((g->cfg.flags & WS_GEN_DEFLATE_NO_TAKEOVER) != 0);
    ws__pmd_free(g->pmd);
    g->pmd = NULL;
    int r = ws__pmd_set_option(&g->pmd, &g->a, WS_OPT_DEFLATE, 1);
    if (r == WS_OK)
        r = ws__pmd_set_option(&g->pmd, &g->a, WS_OPT_DEFLATE_THRESHOLD, 0);
    if (r == WS_OK)
        r = ws__pmd_commit(&g->pmd, &g->a, &neg);
    return r;
}

int ws_gen_reset(ws_gen *g, uint64_t seed)
{
    if (!g)
        return WS_ERR_INVALID_ARG;
    g->rng = seed;
    g->nfr = g->nit = 0;
    g->pool_len = 0;
    g->tail_len = 0;
    g->dirty = 1;
    return pmd_restart(g);
}

/* ---- storage ---- */

static int grow(ws_gen *g, void **p, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return WS_OK;
    uint32_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    void *q = *p ? ws__realloc(&g->a, *p, (size_t)*cap * elem, (size_t)n * elem)
                 : ws__malloc(&g->a, (size_t)n * elem);
    if (!q)
        return WS_ERR_NOMEM;
    *p = q;
    *cap = n;
    return WS_OK;
}

/* Why frame_insert failed. */
static int fr_err(const ws_gen *g)
{
    return g->nfr >= g->cfg.max_frames ? WS_ERR_BUDGET : WS_ERR_NOMEM;
}

/* Room for n more pool bytes: their offset into *off, or WS_ERR_BUDGET / WS_ERR_NOMEM. */
static int pool_take(ws_gen *g, size_t n, uint32_t *off)
{
    if (n > g->pool_max - g->pool_len)
        return fr_err(g);
    if (g->pool_cap - g->pool_len < n || !g->pool) { /* a view of 0 bytes needs a pool too */
        size_t cap = g->pool_cap ? g->pool_cap : 4096;
        while (cap - g->pool_len < n)
            cap *= 2;
        uint8_t *q =
            g->pool ? ws__realloc(&g->a, g->pool, g->pool_cap, cap) : ws__malloc(&g->a, cap);
        if (!q)
            return WS_ERR_NOMEM;
        g->pool = q;
        g->pool_cap = cap;
    }
    *off = (uint32_t)g->pool_len;
    g->pool_len += n;
    return WS_OK;
}

static int pool_put(ws_gen *g, const uint8_t *p, size_t n, uint32_t *off)
{
    int r = pool_take(g, n, off);
    if (r == WS_OK && n)
        memcpy(g->pool + *off, p, n);
    return r;
}

static size_t header_bytes(const gframe *f)
{
    size_t ext;
    if (f->lb == 8 || (f->lb == 0 && f->declared > 0xFFFF))
        ext = 8;
    else if (f->lb == 2 || (f->lb == 0 && f->declared > 125))
        ext = 2;
    else
        ext = 0;
    return 2 + ext + (f->masked ? 4u : 0u);
}

static uint64_t total_bytes(const ws_gen *g)
{
    uint64_t n = g->tail_len;
    for (uint32_t i = 0; i < g->nfr; i++)
        n += header_bytes(&g->fr[i]) + g->fr[i].len;
    return n;
}

/* Insert a frame at index at (frames after it move up); the new frame is zeroed but for
 * item -1 and the role's masking with a fresh key. */
static gframe *frame_insert(ws_gen *g, uint32_t at)
{
    if (g->nfr >= g->cfg.max_frames ||
        grow(g, (void **)&g->fr, &g->capfr, g->nfr + 1, sizeof *g->fr) < 0)
        return NULL;
    memmove(&g->fr[at + 1], &g->fr[at], (size_t)(g->nfr - at) * sizeof *g->fr);
    g->nfr++;
    gframe *f = &g->fr[at];
    memset(f, 0, sizeof *f);
    f->item = -1;
    if (g->cfg.sender == WS_ROLE_CLIENT) {
        f->masked = 1;
        if (!chance(g, 16)) { /* else the all-zero key: legal and rarely tested */
            uint64_t k = rnd(g);
            for (int i = 0; i < 4; i++)
                f->key[i] = (uint8_t)(k >> (8 * i));
        }
    }
    return f;
}

/* A snapshot to undo a call that ends over budget or out of memory. */
typedef struct undo {
    uint32_t nfr, nit;
    size_t pool_len;
} undo;

static int snapshot(ws_gen *g, undo *u)
{
    u->nfr = g->nfr;
    u->nit = g->nit;
    u->pool_len = g->pool_len;
    if (grow(g, (void **)&g->snap, &g->capsnap, g->nfr ? g->nfr : 1, sizeof *g->snap) < 0 ||
        grow(g, (void **)&g->snap_it, &g->capsnap_it, g->nit ? g->nit : 1, sizeof *g->snap_it) < 0)
        return WS_ERR_NOMEM;
    if (g->nfr)
        memcpy(g->snap, g->fr, (size_t)g->nfr * sizeof *g->fr);
    if (g->nit)
        memcpy(g->snap_it, g->it, (size_t)g->nit * sizeof *g->it);
    return WS_OK;
}

static void restore(ws_gen *g, const undo *u)
{
    /* The arrays only grew since the snapshot: they have room for the old contents. */
    g->nfr = u->nfr;
    if (u->nfr)
        memcpy(g->fr, g->snap, (size_t)u->nfr * sizeof *g->fr);
    g->nit = u->nit;
    if (u->nit)
        memcpy(g->it, g->snap_it, (size_t)u->nit * sizeof *g->it);
    g->pool_len = u->pool_len;
}

/* After a change: WS_OK if the sequence fits its bounds, else undo it and WS_ERR_BUDGET. */
static int settle(ws_gen *g, const undo *u, int r)
{
    if (r == WS_OK && (g->nfr > g->cfg.max_frames || total_bytes(g) > g->cfg.max_bytes))
        r = WS_ERR_BUDGET;
    if (r < 0)
        restore(g, u);
    g->dirty = 1;
    return r;
}

/* ---- payloads ---- */

/* Valid UTF-8 of exactly n bytes: ASCII mostly, 2-, 3- and 4-byte characters too. */
static void fill_text(ws_gen *g, uint8_t *p, size_t n)
{
    size_t i = 0;
    unsigned mix = (unsigned)below(g, 4); /* 0: ASCII only ... 3: mostly multi-byte */
    while (i < n) {
        size_t left = n - i;
        unsigned w = mix && below(g, 4) < mix ? (unsigned)range(g, 2, 4) : 1;
        uint32_t c;
        if (w > left)
            w = 1;
        switch (w) {
        case 1:
            c = (uint32_t)(chance(g, 32) ? below(g, 0x80) : range(g, 0x20, 0x7E));
            p[i++] = (uint8_t)c;
            break;
        case 2:
            c = (uint32_t)range(g, 0x80, 0x7FF);
            p[i++] = (uint8_t)(0xC0 | (c >> 6));
            p[i++] = (uint8_t)(0x80 | (c & 0x3F));
            break;
        case 3:
            do
                c = (uint32_t)range(g, 0x800, 0xFFFF);
            while (c >= 0xD800 && c <= 0xDFFF);
            p[i++] = (uint8_t)(0xE0 | (c >> 12));
            p[i++] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
            p[i++] = (uint8_t)(0x80 | (c & 0x3F));
            break;
        default:
            c = (uint32_t)range(g, 0x10000, 0x10FFFF);
            p[i++] = (uint8_t)(0xF0 | (c >> 18));
            p[i++] = (uint8_t)(0x80 | ((c >> 12) & 0x3F));
            p[i++] = (uint8_t)(0x80 | ((c >> 6) & 0x3F));
            p[i++] = (uint8_t)(0x80 | (c & 0x3F));
            break;
        }
    }
}

static void fill_bytes(ws_gen *g, uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = rnd(g);
        for (size_t j = 0; j < 8 && i + j < n; j++)
            p[i + j] = (uint8_t)(v >> (8 * j));
    }
}

/* A payload of n bytes for opcode op in the pool (text: valid UTF-8). */
static int payload(ws_gen *g, unsigned op, size_t n, uint32_t *off)
{
    int r = pool_take(g, n, off);
    if (r == WS_OK) {
        if (op == WS_OP_TEXT)
            fill_text(g, g->pool + *off, n);
        else
            fill_bytes(g, g->pool + *off, n);
    }
    return r;
}

/* A message length: mostly short, sometimes at the length-encoding edges. */
static size_t pick_len(ws_gen *g)
{
    static const uint32_t edges[] = {0, 1, 125, 126, 127, 65535, 65536};
    size_t m = g->cfg.max_message, n;
    unsigned k = (unsigned)below(g, 100);
    if (k < 8)
        n = edges[below(g, sizeof edges / sizeof edges[0])];
    else if (k < 55)
        n = (size_t)range(g, 0, 125);
    else if (k < 85)
        n = (size_t)range(g, 126, 1024);
    else if (k < 97)
        n = (size_t)range(g, 1025, 8192);
    else
        n = (size_t)range(g, 8193, 70000);
    return n > m ? (size_t)range(g, 0, m) : n;
}

static int add_item_rec(ws_gen *g, unsigned op, uint32_t off, uint32_t len, int compressed)
{
    if (grow(g, (void **)&g->it, &g->capit, g->nit + 1, sizeof *g->it) < 0)
        return WS_ERR_NOMEM;
    gitem *it = &g->it[g->nit++];
    memset(it, 0, sizeof *it);
    it->op = (uint8_t)op;
    it->off = off;
    it->len = len;
    it->compressed = (uint8_t)compressed;
    return WS_OK;
}

/* One frame with body pool[off..off+len) at index at, carrying item (or -1). */
static gframe *put_frame(ws_gen *g, uint32_t at, unsigned fin, unsigned rsv, unsigned op,
                         uint32_t off, uint32_t len, int32_t item)
{
    gframe *f = frame_insert(g, at);
    if (f) {
        f->fin = (uint8_t)fin;
        f->rsv = (uint8_t)rsv;
        f->op = (uint8_t)op;
        f->off = off;
        f->len = len;
        f->declared = len;
        f->item = item;
    }
    return f;
}

/* A control item (ping, pong, close payload given) at index *at; *at moves past it. */
static int put_control(ws_gen *g, uint32_t *at, unsigned op, uint32_t off, uint32_t len)
{
    int32_t item = (int32_t)g->nit;
    if (add_item_rec(g, op, off, len, 0) < 0)
        return WS_ERR_NOMEM;
    if (!put_frame(g, *at, 1, 0, op, off, len, item))
        return fr_err(g);
    (*at)++;
    return WS_OK;
}

static int put_ping(ws_gen *g, uint32_t *at, unsigned op)
{
    uint32_t off;
    size_t n = chance(g, 4) ? 0 : (size_t)range(g, 1, chance(g, 8) ? WS_FRAME_MAX_CONTROL : 16);
    int r = payload(g, WS_OP_BINARY, n, &off);
    return r < 0 ? r : put_control(g, at, op, off, (uint32_t)n);
}

/* A data message of payload pool[off..off+len) at index *at, in nfrag fragments (split
 * anywhere, inside characters too, empty ones allowed), pings and pongs between them when
 * controls is set; compressed when asked (the fragments then split the compressed bytes).
 * last_fin 0 leaves it open. */
static int put_message(ws_gen *g, uint32_t *at, unsigned op, uint32_t off, uint32_t len,
                       unsigned nfrag, int last_fin, int controls, int compress)
{
    int32_t item = (int32_t)g->nit;
    uint32_t boff = off, blen = len;
    int r;

    if (compress) {
        uint8_t stack[WS__PMD_TX_STACK];
        const uint8_t *z;
        size_t zn;
        (void)ws__pmd_tx_begin(g->pmd, len, 1, 0);
        r = ws__pmd_tx_compress(g->pmd, g->pool + off, len, 1, stack, sizeof stack, &z, &zn);
        if (r == WS_OK)
            r = pool_put(g, z, zn, &boff);
        ws__pmd_tx_done(g->pmd, 1, r == WS_OK);
        if (r < 0)
            return r;
        blen = (uint32_t)zn;
    }
    if ((r = add_item_rec(g, op, off, len, compress)) < 0)
        return r;
    uint32_t done = 0;
    for (unsigned i = 0; i < nfrag; i++) {
        uint32_t take = i + 1 == nfrag ? blen - done : (uint32_t)range(g, 0, blen - done);
        gframe *f = put_frame(g, *at, i + 1 == nfrag ? (unsigned)last_fin : 0,
                              i == 0 && compress ? WS_RSV1 : 0, i ? WS_OP_CONTINUATION : op,
                              boff + done, take, item);
        if (!f)
            return fr_err(g);
        (*at)++;
        done += take;
        if (controls && i + 1 < nfrag && chance(g, 4) &&
            (r = put_ping(g, at, chance(g, 4) ? WS_OP_PONG : WS_OP_PING)) < 0)
            return r;
    }
    return WS_OK;
}

/* Whole half of the time; with max_fragments 1 always (range(2, 1) would draw any count). */
static unsigned pick_frags(ws_gen *g)
{
    if (g->cfg.max_fragments < 2 || chance(g, 2))
        return 1u;
    return (unsigned)range(g, 2, g->cfg.max_fragments);
}

/* A fresh valid data message at *at (compressed at times, when the position allows). */
static int put_new_message(ws_gen *g, uint32_t *at, unsigned op, unsigned nfrag, int last_fin,
                           int controls, int may_compress)
{
    uint32_t off;
    size_t n = pick_len(g);
    int r = payload(g, op, n, &off);
    int compress = may_compress && g->pmd && chance(g, 2);
    return r < 0 ? r
                 : put_message(g, at, op, off, (uint32_t)n, nfrag, last_fin, controls, compress);
}

static int put_close(ws_gen *g, uint32_t *at, unsigned code, int with_reason)
{
    uint32_t off;
    size_t rl = with_reason && chance(g, 2) ? (size_t)range(g, 1, 40) : 0;
    int r = pool_take(g, 2 + rl, &off);
    if (r < 0)
        return r;
    ws__store_be16(g->pool + off, (uint16_t)code);
    fill_text(g, g->pool + off + 2, rl);
    return put_control(g, at, WS_OP_CLOSE, off, (uint32_t)(2 + rl));
}

/* The first close frame's index (g->nfr when none): appending happens before it. */
static uint32_t first_close(const ws_gen *g)
{
    for (uint32_t i = 0; i < g->nfr; i++)
        if (g->fr[i].op == WS_OP_CLOSE)
            return i;
    return g->nfr;
}

int ws_gen_add(ws_gen *g, uint32_t item)
{
    undo u;
    int r;

    if (!g || item > WS_GEN_CLOSE)
        return WS_ERR_INVALID_ARG;
    if ((r = snapshot(g, &u)) < 0)
        return r;
    uint32_t at = g->nfr;
    if (item == WS_GEN_ANY) {
        unsigned k = (unsigned)below(g, 20);
        item = k < 2          ? WS_GEN_PING
               : k < 3        ? WS_GEN_PONG
               : chance(g, 2) ? WS_GEN_TEXT
                              : WS_GEN_BINARY;
    }
    switch (item) {
    case WS_GEN_TEXT:
    case WS_GEN_BINARY:
        r = put_new_message(g, &at, item == WS_GEN_TEXT ? WS_OP_TEXT : WS_OP_BINARY, pick_frags(g),
                            1, 1, 1);
        break;
    case WS_GEN_PING:
    case WS_GEN_PONG:
        r = put_ping(g, &at, item == WS_GEN_PING ? WS_OP_PING : WS_OP_PONG);
        break;
    default:
        r = put_close(g, &at, WS_CLOSE_NORMAL, 1);
        break;
    }
    r = settle(g, &u, r);
    if (r < 0 && g->pmd) {
        /* A compressed message the receiver never gets: its bytes must not be referred to. */
        int p = pmd_restart(g);
        if (p < 0)
            r = p;
    }
    return r;
}

/* ---- mutations ---- */

/* Invalid UTF-8 sequences, each invalid at its last byte (given the bytes before). */
static const struct {
    uint8_t b[4];
    uint8_t n;
} bad_utf8[] = {
    {{0xFF}, 1},
    {{0xC0, 0x80}, 2},
    {{0xC1, 0xBF}, 1},
    {{0xE0, 0x80}, 2},
    {{0xED, 0xA0}, 2},
    {{0xF4, 0x90}, 2},
    {{0xF5}, 1},
    {{0x80}, 1},
    {{0xC3, 0x41}, 2},
    {{0xE2, 0x82, 0x28}, 3},
    {{0xF0, 0x9F, 0x98, 0x41}, 4},
};

/* Text with an invalid sequence somewhere: valid text of up to side bytes around it. */
static int bad_text(ws_gen *g, size_t side, uint32_t *off, uint32_t *len, uint32_t *bad_at)
{
    size_t k = (size_t)below(g, sizeof bad_utf8 / sizeof bad_utf8[0]);
    size_t before = (size_t)range(g, 0, side), after = (size_t)range(g, 0, side);
    size_t n = before + bad_utf8[k].n + after;
    int r = pool_take(g, n, off);
    if (r < 0)
        return r;
    fill_text(g, g->pool + *off, before);
    memcpy(g->pool + *off + before, bad_utf8[k].b, bad_utf8[k].n);
    fill_text(g, g->pool + *off + before + bad_utf8[k].n, after);
    *len = (uint32_t)n;
    *bad_at = (uint32_t)before;
    return WS_OK;
}

/* Frame kinds a mutation can act on. */
enum {
    T_ANY,
    T_DATA,
    T_CONTROL_PP,
    T_CONTINUATION,
    T_NONFINAL_DATA,
    T_SPLITTABLE,
    T_MERGEABLE,
    T_SHORT
};

static int is_data(const gframe *f)
{
    return f->op == WS_OP_TEXT || f->op == WS_OP_BINARY || f->op == WS_OP_CONTINUATION;
}

static int eligible(const ws_gen *g, uint32_t i, int t)
{
    const gframe *f = &g->fr[i];
    switch (t) {
    case T_DATA:
        return is_data(f);
    case T_CONTROL_PP:
        return f->op == WS_OP_PING || f->op == WS_OP_PONG;
    case T_CONTINUATION:
        return f->op == WS_OP_CONTINUATION;
    case T_NONFINAL_DATA:
        return is_data(f) && !f->fin;
    case T_SPLITTABLE:
        return is_data(f) && f->declared == f->len;
    case T_MERGEABLE:
        return i + 1 < g->nfr && is_data(f) && !f->fin && f->declared == f->len &&
               g->fr[i + 1].op == WS_OP_CONTINUATION && g->fr[i + 1].declared == g->fr[i + 1].len;
    case T_SHORT: /* a control frame's longer length is "too long" (1002 MUST), not this */
        return is_data(f) && f->declared <= 0xFFFF;
    default:
        return 1;
    }
}

/* A frame of kind t among frames [lo, hi), drawn; -1 when none. */
static int32_t pick(ws_gen *g, uint32_t lo, uint32_t hi, int t)
{
    uint32_t n = 0;
    for (uint32_t i = lo; i < hi; i++)
        n += (uint32_t)eligible(g, i, t);
    if (!n)
        return -1;
    uint32_t k = (uint32_t)below(g, n);
    for (uint32_t i = lo; i < hi; i++)
        if (eligible(g, i, t) && k-- == 0)
            return (int32_t)i;
    return -1;
}

/* A boundary between messages (no fragmented message open there) in [0, first close],
 * drawn; with anywhere 0, the end (before a close). */
static uint32_t gap(ws_gen *g, int anywhere)
{
    uint32_t end = first_close(g);
    if (!anywhere)
        return end;
    uint32_t n = 0, open = 0;
    for (uint32_t i = 0; i <= end; i++) {
        if (!open)
            n++;
        if (i < end && is_data(&g->fr[i]))
            open = !g->fr[i].fin;
    }
    uint32_t k = (uint32_t)below(g, n ? n : 1);
    open = 0;
    for (uint32_t i = 0; i <= end; i++) {
        if (!open && k-- == 0)
            return i;
        if (i < end && is_data(&g->fr[i]))
            open = !g->fr[i].fin;
    }
    return end;
}

static void mark(ws_gen *g, gframe *f, int broken)
{
    f->mutated = 1;
    if (f->item >= 0 && (uint32_t)f->item < g->nit) {
        g->it[f->item].mutated = 1;
        g->it[f->item].broken |= (uint8_t)broken;
    }
}

/* The target frame of kind t: drawn from the sequence with WS_MUT_ANYWHERE, else from a
 * carrier appended for it (a message with nfrag fragments, or a ping). -1: no room. */
static int32_t target(ws_gen *g, int anywhere, int t, int *r)
{
    uint32_t end = first_close(g);
    int32_t i = anywhere ? pick(g, 0, end, t) : -1;
    if (i >= 0)
        return i;
    uint32_t at = end, from = end;
    unsigned op = chance(g, 2) ? WS_OP_TEXT : WS_OP_BINARY;
    switch (t) {
    case T_CONTROL_PP:
        *r = put_ping(g, &at, chance(g, 2) ? WS_OP_PING : WS_OP_PONG);
        break;
    case T_CONTINUATION:
    case T_NONFINAL_DATA:
    case T_MERGEABLE:
        *r = put_new_message(g, &at, op, (unsigned)range(g, 2, 4), 1, 0, anywhere ? 0 : 1);
        break;
    case T_ANY:
        if (chance(g, 4)) {
            *r = put_ping(g, &at, WS_OP_PING);
            break;
        }
        /* fall through */
    default:
        *r = put_new_message(g, &at, op, pick_frags(g), 1, 0, !anywhere);
        break;
    }
    if (*r < 0)
        return -1;
    i = pick(g, from, at, t);
    if (i < 0 && t == T_SHORT) { /* the message was too long for it: a short one then */
        uint32_t off, n = (uint32_t)range(g, 0, 300);
        from = at;
        if ((*r = payload(g, op, n, &off)) < 0 ||
            (*r = put_message(g, &at, op, off, n, 1, 1, 0, 0)) < 0)
            return -1;
        i = pick(g, from, at, t);
    }
    return i;
}

static int m_frame_edit(ws_gen *g, uint32_t kind, int anywhere, uint32_t *first)
{
    static const uint8_t rsv_ops[] = {3, 4, 5, 6, 7, 11, 12, 13, 14, 15};
    int r = WS_OK;
    int t = kind == WS_MUT_NON_MINIMAL                             ? T_SHORT
            : kind == WS_MUT_TOO_LARGE || kind == WS_MUT_LEN64_MSB ? T_DATA
            : kind == WS_MUT_SPLIT                                 ? T_SPLITTABLE
            : kind == WS_MUT_MERGE                                 ? T_MERGEABLE
            : kind == WS_MUT_INSERT_CONTROL                        ? T_NONFINAL_DATA
            : kind == WS_MUT_DEFLATE_RSV1_CONTINUATION             ? T_CONTINUATION
            : kind == WS_MUT_CONTROL_FRAGMENTED || kind == WS_MUT_DEFLATE_RSV1_CONTROL
                ? T_CONTROL_PP
                : T_ANY;
    int32_t i = target(g, anywhere, t, &r);
    if (i < 0)
        return r < 0 ? r : WS_ERR_BUDGET;
    gframe *f = &g->fr[i];
    *first = (uint32_t)i;
    switch (kind) {
    case WS_MUT_RSV:
        /* With permessage-deflate RSV1 is an extension's: use RSV2/RSV3. */
        f->rsv |= (uint8_t)(g->pmd ? range(g, 1, 3) : range(g, 1, 7));
        break;
    case WS_MUT_OPCODE: {
        uint32_t at = (uint32_t)i + (uint32_t)below(g, 2);
        uint32_t off, n = (uint32_t)range(g, 0, 64);
        if ((r = payload(g, WS_OP_BINARY, n, &off)) < 0)
            return r;
        gframe *nf = put_frame(g, at, 1, 0, rsv_ops[below(g, sizeof rsv_ops)], off, n, -1);
        if (!nf)
            return fr_err(g);
        nf->fin = (uint8_t)!chance(g, 4);
        mark(g, nf, 1);
        *first = at;
        return WS_OK;
    }
    case WS_MUT_NON_MINIMAL: /* 7-bit lengths as 16 or 64 bits, 16-bit ones as 64 */
        f->lb = f->declared <= 125 && chance(g, 2) ? 2 : 8;
        break;
    case WS_MUT_TOO_LARGE: {
        /* limit + 1 .. 2^62 - 1; the largest limit (2^62 - 1) leaves only 2^62 */
        uint64_t span = ((uint64_t)1 << 62) - g->cfg.limit - 1, r64 = rnd(g) >> 2;
        f->declared = g->cfg.limit + 1 + (span ? r64 % span : 0);
        f->lb = 0;
        break;
    }
    case WS_MUT_LEN64_MSB:
        f->declared = ((uint64_t)1 << 63) | (chance(g, 2) ? below(g, 1000) : rnd(g) >> 1);
        f->lb = 8;
        break;
    case WS_MUT_MASK_FLIP:
        f->masked = (uint8_t)!f->masked;
        if (f->masked) {
            uint64_t k = rnd(g);
            for (int b = 0; b < 4; b++)
                f->key[b] = (uint8_t)(k >> (8 * b));
        }
        break;
    case WS_MUT_CONTROL_FRAGMENTED:
        f->fin = 0;
        if (chance(g, 2)) { /* the rest of it as a "continuation" */
            uint32_t half = f->len / 2;
            gframe *nf = put_frame(g, (uint32_t)i + 1, 1, 0, WS_OP_CONTINUATION, f->off + half,
                                   f->len - half, -1);
            if (!nf)
                return fr_err(g);
            f = &g->fr[i];
            f->len = half;
            f->declared = half;
            mark(g, nf, 1);
        }
        break;
    case WS_MUT_DEFLATE_RSV1_CONTINUATION:
    case WS_MUT_DEFLATE_RSV1_CONTROL:
        f->rsv |= WS_RSV1;
        break;
    case WS_MUT_REMASK: {
        uint64_t k = rnd(g);
        for (int b = 0; b < 4; b++)
            f->key[b] = (uint8_t)(k >> (8 * b));
        f->masked = 1;
        mark(g, f, 0);
        return WS_OK;
    }
    case WS_MUT_SPLIT: {
        uint32_t cut = (uint32_t)range(g, 0, f->len);
        gframe *nf = put_frame(g, (uint32_t)i + 1, f->fin, 0, WS_OP_CONTINUATION, f->off + cut,
                               f->len - cut, f->item);
        if (!nf)
            return fr_err(g);
        f = &g->fr[i];
        f->fin = 0;
        f->len = cut;
        f->declared = cut;
        f->lb = 0;
        mark(g, f, 0);
        mark(g, nf, 0);
        return WS_OK;
    }
    case WS_MUT_MERGE: {
        gframe *b = &g->fr[i + 1];
        uint32_t off;
        if ((r = pool_take(g, (size_t)f->len + b->len, &off)) < 0)
            return r;
        memcpy(g->pool + off, g->pool + f->off, f->len);
        memcpy(g->pool + off + f->len, g->pool + b->off, b->len);
        f->len += b->len;
        f->declared = f->len;
        f->off = off;
        f->fin = b->fin;
        f->lb = 0;
        memmove(b, b + 1, (size_t)(g->nfr - (uint32_t)i - 2) * sizeof *b);
        g->nfr--;
        mark(g, f, 0);
        return WS_OK;
    }
    case WS_MUT_INSERT_CONTROL: {
        uint32_t at = (uint32_t)i + 1;
        if ((r = put_ping(g, &at, chance(g, 3) ? WS_OP_PONG : WS_OP_PING)) < 0)
            return r;
        mark(g, &g->fr[i + 1], 0);
        *first = (uint32_t)i + 1;
        return WS_OK;
    }
    default:
        break;
    }
    mark(g, f, 1);
    return WS_OK;
}

/* Mutations that put new frames at a boundary between messages. */
static int m_insert(ws_gen *g, uint32_t kind, int anywhere, uint32_t *first)
{
    /* never allowed on the wire: 0-999, 1004 (reserved), the three that only report, 1016
     * and up to 2999 (unassigned), 5000 and above */
    static const uint16_t bad_codes[] = {0,
                                         1,
                                         999,
                                         WS_CLOSE_NO_STATUS - 1,
                                         WS_CLOSE_NO_STATUS,
                                         WS_CLOSE_ABNORMAL,
                                         WS_CLOSE_TLS_HANDSHAKE,
                                         WS_CLOSE_TLS_HANDSHAKE + 1,
                                         1100,
                                         2000,
                                         WS_CLOSE_REGISTERED_MIN - 1,
                                         WS_CLOSE_PRIVATE_MAX + 1,
                                         65535};
    uint32_t at = gap(g, anywhere), off, len, bad, n0 = g->nfr, ins = at;
    int r = WS_OK;
    *first = at;
    switch (kind) {
    case WS_MUT_CONTROL_TOO_LONG:
        len = chance(g, 2) ? WS_FRAME_MAX_CONTROL + 1 : (uint32_t)range(g, 126, GEN_LONG_CONTROL);
        if ((r = payload(g, WS_OP_BINARY, len, &off)) < 0)
            return r;
        if (!put_frame(g, at, 1, 0, chance(g, 2) ? WS_OP_PING : WS_OP_PONG, off, len, -1))
            return fr_err(g);
        break;
    case WS_MUT_ORPHAN_CONTINUATION:
        len = (uint32_t)range(g, 0, 300);
        if ((r = payload(g, WS_OP_BINARY, len, &off)) < 0)
            return r;
        if (!put_frame(g, at, (unsigned)below(g, 2), 0, WS_OP_CONTINUATION, off, len, -1))
            return fr_err(g);
        break;
    case WS_MUT_INTERLEAVE: {
        unsigned op = chance(g, 2) ? WS_OP_TEXT : WS_OP_BINARY;
        uint32_t k = at;
        if ((r = put_new_message(g, &k, op, (unsigned)range(g, 1, 3), 0, 1, 0)) < 0)
            return r;
        len = (uint32_t)range(g, 0, 300);
        op = chance(g, 2) ? WS_OP_TEXT : WS_OP_BINARY;
        if ((r = payload(g, op, len, &off)) < 0)
            return r;
        if (!put_frame(g, k, (unsigned)!chance(g, 4), 0, op, off, len, -1))
            return fr_err(g);
        *first = k;
        break;
    }
    case WS_MUT_UTF8:
    case WS_MUT_UTF8_SPLIT:
        if ((r = bad_text(g, 200, &off, &len, &bad)) < 0)
            return r;
        if (kind == WS_MUT_UTF8) {
            if (add_item_rec(g, WS_OP_TEXT, off, len, 0) < 0 ||
                !put_frame(g, at, 1, 0, WS_OP_TEXT, off, len, (int32_t)g->nit - 1))
                return fr_err(g);
        } else {
            /* the fragment boundary inside the invalid sequence or right around it, a ping
             * between the fragments at times, the rest in one or two more fragments */
            uint32_t cut = bad + (uint32_t)range(g, 0, 2), k = at;
            int32_t item = (int32_t)g->nit;
            cut = cut > len ? len : cut;
            if (add_item_rec(g, WS_OP_TEXT, off, len, 0) < 0 ||
                !put_frame(g, k++, 0, 0, WS_OP_TEXT, off, cut, item))
                return fr_err(g);
            if (chance(g, 3) && (r = put_ping(g, &k, WS_OP_PING)) < 0)
                return r;
            uint32_t rest = len - cut, cut2 = (uint32_t)range(g, 0, rest);
            if (!put_frame(g, k++, cut2 == rest, 0, WS_OP_CONTINUATION, off + cut, cut2, item))
                return fr_err(g);
            if (cut2 < rest &&
                !put_frame(g, k, 1, 0, WS_OP_CONTINUATION, off + cut + cut2, rest - cut2, item))
                return fr_err(g);
        }
        break;
    case WS_MUT_UTF8_TRUNCATED: {
        static const struct {
            uint8_t b[3], n;
        } heads[] = {{{0xC3}, 1},
                     {{0xE2}, 1},
                     {{0xE2, 0x82}, 2},
                     {{0xF0, 0x9F}, 2},
                     {{0xF0, 0x9F, 0x98}, 3}};
        size_t h = (size_t)below(g, sizeof heads / sizeof heads[0]);
        uint32_t before = (uint32_t)range(g, 0, 200);
        len = before + heads[h].n;
        if ((r = pool_take(g, len, &off)) < 0)
            return r;
        fill_text(g, g->pool + off, before);
        memcpy(g->pool + off + before, heads[h].b, heads[h].n);
        int32_t item = (int32_t)g->nit;
        if (add_item_rec(g, WS_OP_TEXT, off, len, 0) < 0)
            return WS_ERR_NOMEM;
        if (chance(g, 2)) {
            if (!put_frame(g, at, 1, 0, WS_OP_TEXT, off, len, item))
                return fr_err(g);
        } else {
            uint32_t cut = (uint32_t)range(g, 0, len);
            if (!put_frame(g, at, 0, 0, WS_OP_TEXT, off, cut, item) ||
                !put_frame(g, at + 1, 1, 0, WS_OP_CONTINUATION, off + cut, len - cut, item))
                return fr_err(g);
        }
        break;
    }
    case WS_MUT_CLOSE_1BYTE:
        if ((r = payload(g, WS_OP_BINARY, 1, &off)) < 0)
            return r;
        if (!put_frame(g, at, 1, 0, WS_OP_CLOSE, off, 1, -1))
            return fr_err(g);
        break;
    case WS_MUT_CLOSE_CODE: {
        uint32_t rl = chance(g, 2) ? 0 : (uint32_t)range(g, 1, 20);
        if ((r = pool_take(g, 2 + rl, &off)) < 0)
            return r;
        ws__store_be16(g->pool + off, bad_codes[below(g, sizeof bad_codes / sizeof bad_codes[0])]);
        fill_text(g, g->pool + off + 2, rl);
        if (!put_frame(g, at, 1, 0, WS_OP_CLOSE, off, 2 + rl, -1))
            return fr_err(g);
        break;
    }
    case WS_MUT_CLOSE_UTF8: {
        uint32_t roff;
        if ((r = bad_text(g, 59, &roff, &len, &bad)) < 0 || (r = pool_take(g, 2 + len, &off)) < 0)
            return r; /* at most 59 + 4 + 59 <= 123 bytes */
        ws__store_be16(g->pool + off, WS_CLOSE_NORMAL);
        memcpy(g->pool + off + 2, g->pool + roff, len);
        if (!put_frame(g, at, 1, 0, WS_OP_CLOSE, off, 2 + len, -1))
            return fr_err(g);
        break;
    }
    case WS_MUT_AFTER_CLOSE: {
        uint32_t k = first_close(g);
        if (k == g->nfr && (r = put_close(g, &k, WS_CLOSE_NORMAL, 1)) < 0)
            return r;
        k = k == g->nfr ? k : k + 1;
        unsigned op = chance(g, 3) ? WS_OP_PING : chance(g, 2) ? WS_OP_TEXT : WS_OP_BINARY;
        len = op == WS_OP_PING ? (uint32_t)range(g, 0, 20) : (uint32_t)range(g, 0, 300);
        if ((r = payload(g, op, len, &off)) < 0)
            return r;
        if (!put_frame(g, k, 1, 0, op, off, len, -1))
            return fr_err(g);
        *first = k;
        mark(g, &g->fr[k], 1);
        return WS_OK;
    }
    case WS_MUT_DEFLATE_DATA: {
        /* A DEFLATE block header of the reserved type 3 (BTYPE 11): invalid at once, after any
         * earlier message (each ends on a byte-aligned block boundary). */
        unsigned op = chance(g, 2) ? WS_OP_TEXT : WS_OP_BINARY;
        len = (uint32_t)range(g, 1, 200);
        if ((r = payload(g, WS_OP_BINARY, len, &off)) < 0)
            return r;
        g->pool[off] = (uint8_t)(0x06 | below(g, 2) | (below(g, 32) << 3));
        if (!put_frame(g, at, 1, WS_RSV1, op, off, len, -1))
            return fr_err(g);
        break;
    }
    default:
        break;
    }
    for (uint32_t i = 0; i < g->nfr - n0; i++)
        mark(g, &g->fr[ins + i], 1);
    return WS_OK;
}

int ws_gen_mutate(ws_gen *g, uint32_t kind, uint32_t flags, ws_gen_mutation *m)
{
    undo u;
    int r;

    if (!g || (flags & ~(uint32_t)WS_MUT_ANYWHERE) || (m && m->size < GEN_MIN_MUTATION))
        return WS_ERR_INVALID_ARG;
    if (kind == WS_MUT_ANY) {
        do
            kind = 1 + (uint32_t)below(g, WS_MUT_COUNT_ - 1);
        while ((muts[kind].deflate && !g->pmd) ||
               (muts[kind].client_only && g->cfg.sender != WS_ROLE_CLIENT));
    }
    if (kind >= WS_MUT_COUNT_)
        return WS_ERR_NOT_FOUND;
    if ((muts[kind].deflate && !g->pmd) ||
        (muts[kind].client_only && g->cfg.sender != WS_ROLE_CLIENT))
        return WS_ERR_STATE;
    if ((r = snapshot(g, &u)) < 0)
        return r;
    int anywhere = (flags & WS_MUT_ANYWHERE) != 0;
    uint32_t first = g->nfr;
    switch (kind) {
    case WS_MUT_NONE:
        r = WS_OK;
        break;
    case WS_MUT_CONTROL_TOO_LONG:
    case WS_MUT_ORPHAN_CONTINUATION:
    case WS_MUT_INTERLEAVE:
    case WS_MUT_UTF8:
    case WS_MUT_UTF8_SPLIT:
    case WS_MUT_UTF8_TRUNCATED:
    case WS_MUT_CLOSE_1BYTE:
    case WS_MUT_CLOSE_CODE:
    case WS_MUT_CLOSE_UTF8:
    case WS_MUT_AFTER_CLOSE:
    case WS_MUT_DEFLATE_DATA:
        r = m_insert(g, kind, anywhere, &first);
        break;
    default:
        r = m_frame_edit(g, kind, anywhere, &first);
        break;
    }
    if ((r = settle(g, &u, r)) < 0) {
        /* A compressed carrier the receiver never gets: its bytes must not be referred to. */
        int p = pmd_restart(g);
        return p < 0 ? p : r;
    }
    if (m) {
        (void)ws_gen_mutation_tag(kind, g->cfg.sender, m, NULL, NULL);
        m->frame = first;
    }
    return WS_OK;
}

/* ---- loading and output ---- */

int ws_gen_load(ws_gen *g, const uint8_t *in, size_t n)
{
    int r;

    if (!g || (!in && n))
        return WS_ERR_INVALID_ARG;
    if ((r = ws_gen_reset(g, g->rng)) < 0)
        return r;
    if (n > g->cfg.max_bytes)
        n = (size_t)g->cfg.max_bytes;
    size_t pos = 0;
    while (pos < n && g->nfr < g->cfg.max_frames) {
        ws_frame_header h;
        int hl = ws__frame_parse_header(in + pos, n - pos, WS_FRAME_REPORT_ALL, UINT64_MAX, &h);
        if (hl <= 0)
            break; /* an incomplete header: the tail */
        uint64_t avail = n - pos - (size_t)hl;
        uint32_t blen = (uint32_t)(h.payload_len < avail ? h.payload_len : avail), off;
        if ((r = pool_take(g, blen, &off)) < 0)
            return r;
        if (h.masked)
            ws_mask_copy(g->pool + off, in + pos + hl, blen, h.mask, 0);
        else if (blen)
            memcpy(g->pool + off, in + pos + hl, blen);
        gframe *f = frame_insert(g, g->nfr);
        if (!f)
            return WS_ERR_NOMEM;
        f->op = h.opcode;
        f->fin = h.fin;
        f->rsv = h.rsv;
        f->masked = h.masked;
        memcpy(f->key, h.mask, 4);
        f->declared = h.payload_len;
        unsigned ext = (unsigned)hl - 2u - (h.masked ? 4u : 0u);
        f->lb = (uint8_t)(ext == 8 ? 8 : ext == 2 ? 2 : 1);
        f->off = off;
        f->len = blen;
        pos += (size_t)hl + blen;
    }
    if (pos < n && g->nfr < g->cfg.max_frames) {
        uint32_t off;
        if ((r = pool_put(g, in + pos, n - pos, &off)) < 0)
            return r;
        g->tail_off = off;
        g->tail_len = (uint32_t)(n - pos);
    }
    g->dirty = 1;
    return WS_OK;
}

static int serialise(ws_gen *g)
{
    if (!g->dirty)
        return WS_OK;
    uint64_t need = total_bytes(g);
    if (g->out_cap < need || !g->out) {
        size_t cap = (size_t)need ? (size_t)need : 1;
        uint8_t *q = g->out ? ws__realloc(&g->a, g->out, g->out_cap, cap) : ws__malloc(&g->a, cap);
        if (!q)
            return WS_ERR_NOMEM;
        g->out = q;
        g->out_cap = cap;
    }
    size_t at = 0;
    for (uint32_t i = 0; i < g->nfr; i++) {
        gframe *f = &g->fr[i];
        ws_frame_header h;
        memset(&h, 0, sizeof h);
        h.payload_len = f->declared;
        h.opcode = f->op;
        h.fin = f->fin;
        h.rsv = f->rsv;
        h.masked = f->masked;
        memcpy(h.mask, f->key, 4);
        f->start = at;
        int k = ws_frame_encode_raw(g->out + at, g->out_cap - at, &h, sizeof h, f->lb,
                                    f->len ? g->pool + f->off : NULL, f->len);
        if (k < 0) /* cannot happen: the size was computed from the same fields */
            return k;
        at += (size_t)k;
    }
    if (g->tail_len)
        memcpy(g->out + at, g->pool + g->tail_off, g->tail_len);
    g->out_len = at + g->tail_len;
    g->dirty = 0;
    return WS_OK;
}

int ws_gen_output(ws_gen *g, const uint8_t **p, size_t *len)
{
    if (!g || !p || !len)
        return WS_ERR_INVALID_ARG;
    int r = serialise(g);
    if (r < 0)
        return r;
    *p = g->out;
    *len = g->out_len;
    return WS_OK;
}

size_t ws_gen_frame_count(const ws_gen *g)
{
    return g ? g->nfr : 0;
}

size_t ws_gen_item_count(const ws_gen *g)
{
    return g ? g->nit : 0;
}

static uint64_t frame_end(const ws_gen *g, uint32_t i)
{
    return g->fr[i].start + header_bytes(&g->fr[i]) + g->fr[i].len;
}

int ws_gen_frame_at(ws_gen *g, size_t i, ws_gen_frame *f)
{
    if (!g || !f || f->size < GEN_MIN_FRAME)
        return WS_ERR_INVALID_ARG;
    if (i >= g->nfr)
        return WS_ERR_NOT_FOUND;
    int r = serialise(g);
    if (r < 0)
        return r;
    const gframe *s = &g->fr[i];
    ws_gen_frame t;
    memset(&t, 0, sizeof t);
    t.size = f->size;
    t.opcode = s->op;
    t.fin = s->fin;
    t.rsv = s->rsv;
    t.masked = s->masked;
    memcpy(t.mask, s->key, 4);
    t.len_bytes = s->lb;
    t.mutated = s->mutated;
    t.item = s->item;
    t.declared_len = s->declared;
    t.start = s->start;
    t.end = frame_end(g, (uint32_t)i);
    t.body = s->len ? g->pool + s->off : NULL;
    t.body_len = s->len;
    ws__struct_copy(f, f->size, &t, sizeof t);
    return WS_OK;
}

int ws_gen_item_at(ws_gen *g, size_t i, ws_gen_item *it)
{
    if (!g || !it || it->size < GEN_MIN_ITEM)
        return WS_ERR_INVALID_ARG;
    if (i >= g->nit)
        return WS_ERR_NOT_FOUND;
    int r = serialise(g);
    if (r < 0)
        return r;
    const gitem *s = &g->it[i];
    ws_gen_item t;
    memset(&t, 0, sizeof t);
    t.size = it->size;
    t.opcode = s->op;
    t.intact = (uint8_t)!s->broken;
    t.compressed = s->compressed;
    t.mutated = s->mutated;
    int found = 0;
    for (uint32_t k = 0; k < g->nfr; k++)
        if (g->fr[k].item == (int32_t)i) {
            if (!found)
                t.start = g->fr[k].start;
            t.end = frame_end(g, k);
            found = 1;
        }
    t.data = s->len ? g->pool + s->off : NULL;
    t.len = s->len;
    ws__struct_copy(it, it->size, &t, sizeof t);
    return WS_OK;
}

/* ---- the describer ---- */

typedef struct sink {
    char *out;
    size_t cap, len, line_start;
    int full;
} sink;

static void put_bytes(sink *s, const char *p, size_t n)
{
    if (!s->full && s->len + n < s->cap)
        memcpy(s->out + s->len, p, n);
    else
        s->full = 1;
    s->len += n;
}

static void put(sink *s, const char *str)
{
    put_bytes(s, str, strlen(str));
}

static void put_num(sink *s, uint64_t v)
{
    char t[24];
    size_t i = sizeof t;
    do
        t[--i] = (char)('0' + v % 10);
    while (v /= 10);
    put_bytes(s, t + i, sizeof t - i);
}

static void put_hex(sink *s, uint8_t b)
{
    static const char digits[] = "0123456789abcdef";
    char t[2] = {digits[b >> 4], digits[b & 15]};
    put_bytes(s, t, 2);
}

/* A line is complete: keep it if the whole of it fitted (with room for the NUL). */
static void end_line(sink *s, size_t *kept)
{
    put(s, "\n");
    if (!s->full)
        *kept = s->len;
}

static const char *const op_names[16] = {"cont", "text", "binary", "op3",  "op4",  "op5",
                                         "op6",  "op7",  "close",  "ping", "pong", "opB",
                                         "opC",  "opD",  "opE",    "opF"};

static void preview(sink *s, unsigned op, const uint8_t *p, size_t n, int complete)
{
    enum { SHOW = 32 };
    size_t k = n < SHOW ? n : SHOW;
    if (op == WS_OP_CLOSE && n >= 2) {
        put(s, " code=");
        put_num(s, ws__load_be16(p));
        p += 2;
        n -= 2;
        k = n < SHOW ? n : SHOW;
    }
    if (!n)
        return;
    int printable = op == WS_OP_TEXT || op == WS_OP_CLOSE;
    for (size_t i = 0; i < k && printable; i++)
        printable = p[i] >= 0x20 && p[i] < 0x7F;
    if (printable) {
        put(s, " \"");
        for (size_t i = 0; i < k; i++) {
            if (p[i] == '"' || p[i] == '\\')
                put(s, "\\");
            put_bytes(s, (const char *)p + i, 1);
        }
        put(s, "\"");
    } else {
        put(s, " ");
        for (size_t i = 0; i < k; i++)
            put_hex(s, p[i]);
    }
    if (k < n) {
        put(s, "... (");
        put_num(s, n);
        put(s, complete ? " bytes)" : " bytes here)");
    }
}

int ws_frame_describe(const uint8_t *in, size_t n, char *out, size_t cap, size_t *needed)
{
    if (needed)
        *needed = 0;
    if ((!in && n) || (!out && cap))
        return WS_ERR_INVALID_ARG;
    sink s = {out, cap, 0, 0, 0};
    size_t kept = 0, pos = 0;
    while (pos < n) {
        ws_frame_header h;
        int hl = ws__frame_parse_header(in + pos, n - pos, WS_FRAME_REPORT_ALL, UINT64_MAX, &h);
        if (hl <= 0) {
            put(&s, "@");
            put_num(&s, pos);
            put(&s, " incomplete header (");
            put_num(&s, n - pos);
            put(&s, " bytes:");
            for (size_t i = pos; i < n; i++) {
                put(&s, " ");
                put_hex(&s, in[i]);
            }
            put(&s, ")");
            end_line(&s, &kept);
            break;
        }
        size_t avail = n - pos - (size_t)hl;
        size_t body = h.payload_len < avail ? (size_t)h.payload_len : avail;
        unsigned ext = (unsigned)hl - 2u - (h.masked ? 4u : 0u);
        put(&s, "@");
        put_num(&s, pos);
        put(&s, " ");
        put(&s, op_names[h.opcode & 15]);
        put(&s, " fin=");
        put_num(&s, h.fin);
        put(&s, " rsv=");
        put_num(&s, h.rsv);
        put(&s, " mask=");
        for (int i = 0; i < 4 && h.masked; i++)
            put_hex(&s, h.mask[i]);
        if (!h.masked)
            put(&s, "-");
        put(&s, " len=");
        put_num(&s, h.payload_len);
        put(&s, ext == 8 ? "/64-bit" : ext == 2 ? "/16-bit" : "");
        uint8_t buf[WS_FRAME_MAX_CONTROL + 2];
        size_t show = body < sizeof buf ? body : sizeof buf;
        if (h.masked)
            ws_mask_copy(buf, in + pos + hl, show, h.mask, 0);
        else if (show)
            memcpy(buf, in + pos + hl, show);
        preview(&s, h.opcode, buf, h.opcode == WS_OP_CLOSE ? show : body, body == h.payload_len);
        if (body < h.payload_len) {
            put(&s, " incomplete (");
            put_num(&s, body);
            put(&s, " of ");
            put_num(&s, h.payload_len);
            put(&s, " bytes)");
        }
        end_line(&s, &kept);
        pos += (size_t)hl + body;
    }
    if (needed)
        *needed = s.len;
    if (cap)
        out[s.full ? kept : s.len] = '\0';
    if (s.full)
        return WS_ERR_BUFFER_TOO_SMALL;
    return (int)(s.len < (size_t)INT32_MAX ? s.len : (size_t)INT32_MAX);
}
