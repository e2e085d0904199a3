/*
 * The connection's life cycle: creation and options, memory accounting (limits, budgets), the
 * event queue and failing a connection. The receive path, send path, handshake glue and timers
 * are in conn_recv.c, conn_send.c, conn_handshake.c and conn_timers.c (see conn.h).
 */
#include "conn.h"

#include <assert.h>

size_t ws_conn_sizeof(void)
{
    return sizeof(ws_conn);
}

/* ---- the event queue ---- */

ws_event *ws__conn_push(ws_conn *c, uint32_t type, uint8_t opcode)
{
    /* Feeding stops at the first event (ws_conn_feed_inplace's batch of whole messages stops
     * with three slots free), a failure adds at most two (ERROR, CLOSE) to what a step made
     * and a tick one more: the queue cannot fill up. Were it ever to, the newest event is
     * replaced, so the CLOSE, always the last, is never lost. */
    assert(c->act && c->ev_count < EVQ); /* every caller made sure of c->act (ws__conn_act) */
    if (c->ev_count == EVQ)
        c->ev_count--;
    ws_event *e = &c->act->ev[(unsigned)(c->ev_head + c->ev_count) & (EVQ - 1)];
    c->ev_count++;
    memset(e, 0, sizeof *e);
    e->type = type;
    e->opcode = opcode;
    return e;
}

ws_event *ws__conn_push_data(ws_conn *c, uint32_t type, uint8_t opcode, const uint8_t *data,
                             size_t len)
{
    ws_event *e = ws__conn_push(c, type, opcode);
    e->data = data;
    e->len = len;
    if (data && data >= c->act->in_lo && data < c->act->in_hi)
        e->flags = WS_EVF_IN_INPUT;
    return e;
}

void ws__conn_decoder_flags(ws_conn *c)
{
    unsigned f = c->role == WS_ROLE_SERVER ? WS_FRAME_EXPECT_MASKED : WS_FRAME_EXPECT_UNMASKED;
    if (c->cfg->opts & OPT_LENIENT)
        f |= WS_FRAME_LENIENT_LENGTH;
    if (ws__pmd_active(c->pmd))
        f |= WS_FRAME_ALLOW_RSV1; /* RFC 7692: RSV1 marks a compressed message */
    if (c->act) /* (else set when it is made) */
        ws_frame_decoder_set_flags(&c->act->dec, f, c->cfg->max_frame);
    c->fast_rx = c->role == WS_ROLE_SERVER && !ws__pmd_active(c->pmd) &&
                         !(c->cfg->opts & (OPT_STREAMING | OPT_REFUSE_TEXT | OPT_REFUSE_BINARY))
                     ? FAST_RX_SERVER
                     : FAST_RX_NONE;
    c->fast_tx = c->role == WS_ROLE_SERVER && !ws__pmd_active(c->pmd) && c->cfg->frag_size == 0
                     ? FAST_TX_SERVER
                     : FAST_TX_NONE;
}

struct conn_act *ws__conn_act(ws_conn *c)
{
    if (!c->act) {
        struct conn_act *a = ws__malloc(CONN_ALLOC(c), sizeof *a);
        if (!a)
            return NULL;
        memset(a, 0, sizeof *a);
        ws__frame_decoder_init(&a->dec);
        c->act = a;
        ws__conn_decoder_flags(c);
    }
    return c->act;
}

int ws__conn_act_idle(const ws_conn *c)
{
    const struct conn_act *a = c->act;
    return a && c->ev_count == 0 && !c->view_live && !c->rx_msg_op && !c->tx_msg_op &&
           !c->pong_pending &&
           !a->rbuf && c->ipos == c->ilen && !c->eof_pending && c->hs_state == HS_NONE &&
           c->state != WS_STATE_CONNECTING && ws__frame_decoder_idle(&a->dec) &&
           !ws__conn_inflate_pending(c) && !a->out.head && !a->out.spare && !a->out.marks &&
           ws__outq_pending(&a->out) == 0;
}

void ws__conn_act_free(ws_conn *c)
{
    if (c->act) {
        c->out_done += ws__outq_acked(&c->act->out); /* all of it, when idle */
        ws__outq_free(&c->act->out, CONN_ALLOC(c));
        ws__free(CONN_ALLOC(c), c->act->rbuf, c->act->rcap);
        ws__free(CONN_ALLOC(c), c->act, sizeof *c->act);
        c->act = NULL;
    }
}

struct conn_aux *ws__conn_aux(ws_conn *c)
{
    if (!c->aux) {
        c->aux = ws__malloc(CONN_ALLOC(c), sizeof *c->aux);
        c->key_pos = sizeof c->aux->keys;
    }
    return c->aux;
}

/* ---- failing ---- */

void ws__conn_end(ws_conn *c, uint16_t code, const char *why)
{
    c->failed = 1;
    c->state = WS_STATE_CLOSED;
    c->t_phase = c->now;
    c->rx_msg_op = 0;
    ws__conn_push_data(c, WS_EV_CLOSE, 0, (const uint8_t *)why, strlen(why))->close_code = code;
}

void ws__conn_fail(ws_conn *c, int err, uint16_t code, int send_frame)
{
    const char *why = ws_strerror(err);

    if (c->failed || c->state == WS_STATE_CLOSED)
        return;
    if (err == WS_ERR_NOMEM && c->mem_refused) {
        err = WS_ERR_BUDGET; /* the limit said no, not the allocator */
        if (code == WS_CLOSE_INTERNAL_ERROR)
            code = WS_CLOSE_TRY_AGAIN_LATER;
        why = ws_strerror(err);
    }
    ws__conn_push(c, WS_EV_ERROR, 0)->error = err;
    if (send_frame && !c->close_sent && c->state != WS_STATE_CONNECTING) {
        /* Allocation failure here leaves nothing to send; the close event still follows. */
        (void)ws__conn_queue_close(c, code, (const uint8_t *)why, strlen(why));
    }
    c->pong_pending = 0; /* a failed connection answers nothing more */
    c->hs_state = HS_NONE; /* nor a request still waiting for accept or reject */
    ws__conn_end(c, send_frame ? code : WS_CLOSE_ABNORMAL, why);
}


/* ---- life cycle and options ---- */

/* ---- memory: every allocation of the connection is counted, and bounded by its limit and
 * its budget (ws.h: "Memory budgets") ---- */

struct ws_budget {
    ws_allocator alloc;
    uint64_t limit, per_conn, used;
    uint64_t conns;
};

/* May n more bytes be held? Refusals are remembered, so that the failure reports the budget
 * (1013) rather than the allocator (1011). */
static int mem_take(ws_conn *c, size_t n)
{
    ws_budget *b = c->budget;
    if ((c->cfg->mem_limit && (n > c->cfg->mem_limit || c->live > c->cfg->mem_limit - n)) ||
        (b && ((b->per_conn && (n > b->per_conn || c->live > b->per_conn - n)) ||
               n > b->limit || b->used > b->limit - n))) {
        c->mem_refused = 1;
        return 0;
    }
    c->live += n;
    if (b)
        b->used += n;
    return 1;
}

static void mem_give(ws_conn *c, size_t n)
{
    c->live -= n;
    if (c->budget)
        c->budget->used -= n;
}

void *ws__conn_malloc(void *user, size_t n)
{
    ws_conn *c = user;
    if (!mem_take(c, n))
        return NULL;
    void *p = c->cfg->alloc.malloc(c->cfg->alloc.user, n);
    if (!p)
        mem_give(c, n);
    return p;
}

void *ws__conn_realloc(void *user, void *p, size_t old_n, size_t n)
{
    ws_conn *c = user;
    if (n > old_n && !mem_take(c, n - old_n))
        return NULL;
    void *q = ws__realloc(&c->cfg->alloc, p, old_n, n);
    if (!q && n > old_n)
        mem_give(c, n - old_n);
    else if (q && n < old_n)
        mem_give(c, old_n - n);
    return q;
}

void ws__conn_free(void *user, void *p, size_t n)
{
    ws_conn *c = user;
    mem_give(c, n);
    c->cfg->alloc.free(c->cfg->alloc.user, p, n);
}

int ws_budget_new(ws_budget **out, uint64_t limit, uint64_t per_conn, const ws_allocator *alloc)
{
    ws_allocator a;
    ws_budget *b;

    if (!out)
        return WS_ERR_INVALID_ARG;
    *out = NULL;
    if (limit == 0)
        return WS_ERR_RANGE;
    if (ws__alloc_init(&a, alloc) < 0)
        return WS_ERR_INVALID_ARG;
    if (!(b = ws__malloc(&a, sizeof *b)))
        return WS_ERR_NOMEM;
    memset(b, 0, sizeof *b);
    b->alloc = a;
    b->limit = limit;
    b->per_conn = per_conn;
    *out = b;
    return WS_OK;
}

void ws_budget_free(ws_budget *b)
{
    if (b) {
        ws_allocator a = b->alloc;
        ws__free(&a, b, sizeof *b);
    }
}

uint64_t ws_budget_used(const ws_budget *b)
{
    return b ? b->used : 0;
}

int ws_conn_set_budget(ws_conn *c, ws_budget *b)
{
    if (!c)
        return WS_ERR_INVALID_ARG;
    if (b == c->budget)
        return WS_OK;
    if (b && ((b->per_conn && c->live > b->per_conn) || c->live > b->limit - b->used ||
              c->live > b->limit))
        return WS_ERR_BUDGET;
    if (c->budget) {
        c->budget->used -= c->live;
        c->budget->conns--;
    }
    c->budget = b;
    if (b) {
        b->used += c->live;
        b->conns++;
    }
    return WS_OK;
}

uint64_t ws_conn_memory(const ws_conn *c)
{
    return c ? c->live : 0;
}

int ws_conn_new(ws_conn **out, uint32_t role, uint32_t flags, const ws_config *cfg)
{
    ws_conn *c;

    if (!out)
        return WS_ERR_INVALID_ARG;
    *out = NULL;
    if ((role != WS_ROLE_SERVER && role != WS_ROLE_CLIENT) || (flags & ~(uint32_t)WS_CONN_OPEN))
        return WS_ERR_INVALID_ARG;
    if (!cfg)
        cfg = &ws__config_default;
    c = ws__malloc(&cfg->alloc, sizeof *c);
    if (!c)
        return WS_ERR_NOMEM;
    memset(c, 0, sizeof *c);
    c->cfg = cfg;
    if (ws__config_apply_deflate(cfg, &c->pmd, CONN_ALLOC(c)) < 0) {
        ws__pmd_free(c->pmd);
        ws__free(&cfg->alloc, c, sizeof *c);
        return WS_ERR_NOMEM;
    }
    ws__config_use(cfg);
    c->role = (uint8_t)role;
    ws__conn_decoder_flags(c);
    if (flags & WS_CONN_OPEN) {
        if (!ws__conn_act(c)) { /* for the OPEN event */
            ws_conn_free(c);
            return WS_ERR_NOMEM;
        }
        c->state = WS_STATE_OPEN;
        ws__conn_push(c, WS_EV_OPEN, 0);
    } else {
        c->state = WS_STATE_CONNECTING;
        c->hs_state = role == WS_ROLE_SERVER ? HS_READING : HS_IDLE;
    }
    *out = c;
    return WS_OK;
}

void ws_conn_free(ws_conn *c)
{
    if (!c)
        return;
    const ws_allocator *a = CONN_ALLOC(c);
    ws__conn_act_free(c);
    ws__free(a, c->ibuf, c->icap);
    ws__free(a, c->aux, sizeof *c->aux);
    ws_handshake_free(c->hs);
    ws__free(a, c->subprotocol, c->subprotocol_len + 1);
    ws__pmd_free(c->pmd);
    ws_allocator u = c->cfg->alloc;
    if (c->cfg_own)
        ws__free(a, (void *)(uintptr_t)c->cfg, sizeof *c->cfg);
    else
        ws__config_unuse(c->cfg);
    ws_conn_set_budget(c, NULL);
    ws__free(&u, c, sizeof *c);
}

/* The connection's own configuration, copied from the shared one on the first change. */
static ws_config *own_config(ws_conn *c)
{
    if (!c->cfg_own) {
        ws_config *own = ws__malloc(CONN_ALLOC(c), sizeof *own);
        if (!own)
            return NULL;
        *own = *c->cfg;
        own->pmd = NULL; /* the connection's deflate options are in c->pmd */
        own->users = 0;
        own->released = 0;
        ws__config_unuse(c->cfg);
        c->cfg = own;
        c->cfg_own = 1;
    }
    return (ws_config *)(uintptr_t)c->cfg;
}

int ws_conn_set_random(ws_conn *c, ws_random_fn rng, void *user)
{
    ws_config *cfg;

    if (!c)
        return WS_ERR_INVALID_ARG;
    if (!(cfg = own_config(c)))
        return ws__conn_budget_error(c, WS_ERR_NOMEM);
    cfg->rng = rng ? rng : ws_random_os;
    cfg->rng_user = user;
    c->key_pos = sizeof c->aux->keys; /* keys drawn from the old hook are not used */
    return WS_OK;
}

int ws_conn_set_option(ws_conn *c, uint32_t opt, uint64_t v)
{
    ws_config *cfg;
    uint64_t old;
    int r;

    if (!c)
        return WS_ERR_INVALID_ARG;
    if (ws__pmd_is_option((int)opt))
        r = ws__pmd_set_option(&c->pmd, CONN_ALLOC(c), (int)opt, v);
    else if ((r = ws__config_get(c->cfg, opt, &old)) < 0)
        return r;
    else if (old == v && opt != WS_OPT_MAX_MESSAGE_SIZE)
        return WS_OK; /* as it is: no copy of a shared configuration for that */
    else {
        ws_config check = *c->cfg; /* a bad value changes nothing, and copies nothing */
        if ((r = ws__config_set(&check, opt, v)) < 0)
            return r;
        if (!(cfg = own_config(c)))
            return ws__conn_budget_error(c, WS_ERR_NOMEM);
        r = ws__config_set(cfg, opt, v);
    }
    ws__conn_decoder_flags(c); /* the decoder's limit and the fast paths depend on them */
    return r;
}

int ws_conn_get_option(const ws_conn *c, uint32_t opt, uint64_t *value)
{
    if (!c || !value)
        return WS_ERR_INVALID_ARG;
    if (ws__pmd_is_option((int)opt)) {
        *value = ws__pmd_get_option(c->pmd, (int)opt);
        return WS_OK;
    }
    return ws__config_get(c->cfg, opt, value);
}

int ws_conn_state(const ws_conn *c)
{
    return c ? (int)c->state : WS_STATE_CLOSED;
}

int ws_conn_role(const ws_conn *c)
{
    return c ? (int)c->role : -1;
}

int ws_conn_get_stats(const ws_conn *c, ws_conn_stats *st, size_t st_size)
{
    if (!c || !st || st_size < WS__MIN_STATS)
        return WS_ERR_INVALID_ARG;
    const struct conn_stats *k = &c->st;
    ws_conn_stats s = {.bytes_in = k->bytes_in,
                       .bytes_out = k->bytes_out,
                       .frames_in = k->frames_in,
                       .frames_out = k->frames_out,
                       .messages_in = k->messages_in,
                       .messages_out = k->messages_out,
                       .pings_sent = k->pings_sent,
                       .pongs_received = k->pongs_received,
                       .last_rtt_ms = k->last_rtt_ms,
                       .buffered = ws_conn_buffered_amount(c),
                       .close_code_sent = k->close_code_sent,
                       .close_code_received = k->close_code_received,
                       .closed_by_peer = k->closed_by_peer};
    ws__struct_copy(st, st_size, &s, sizeof s);
    return WS_OK;
}

