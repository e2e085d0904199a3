/*
 * The connection: frames -> messages and control handling, the closing handshake, timers,
 * backpressure. Sans-I/O: bytes and time come in through the API, events and bytes go out.
 */
#include "deflate.h"
#include "internal.h"
#include "utf8.h"

enum { EVQ = 4 };
/* A connection quiet this long (ms) gives its buffers back (ws_conn_tick). */
enum { QUIET_MS = 1000 };
/* Smallest input buffer ws_conn_feed allocates. */
enum { IBUF_MIN = 4096 };

/* Option bits kept in conn->opts. */
enum {
    OPT_AUTO_PONG = 1u << 0,
    OPT_STREAMING = 1u << 1,
    OPT_REFUSE_TEXT = 1u << 2,
    OPT_REFUSE_BINARY = 1u << 3,
    OPT_LENIENT = 1u << 4
};

struct ws_conn {
    ws_allocator alloc;    /* what the layers allocate through: counts, then the caller's */
    ws_allocator user;     /* the caller's allocator */
    ws_budget *budget;     /* shared memory budget, NULL if none */
    uint64_t live;         /* bytes allocated through alloc and not freed */
    uint64_t mem_limit;    /* WS_OPT_MEMORY_LIMIT, 0: none */
    uint8_t mem_refused;   /* an allocation was refused by the limit or the budget */
    ws_random_fn rng;
    void *rng_user;
    ws_frame_decoder dec;
    ws_outq out;

    /* receive side */
    uint8_t *rbuf; /* reassembly of fragmented (or chunked) messages */
    size_t rlen, rcap;
    uint64_t rx_msg_len;
    ws_utf8_state rx_utf8, tx_utf8;

    /* events waiting to be taken, a small ring */
    ws_event ev[EVQ];
    uint8_t ev_head, ev_count;
    uint8_t view_live;   /* the last event handed out points into our memory: keep it */
    uint8_t eof_pending; /* end of file seen while fed input was still buffered */

    /* input given to ws_conn_feed (read-only bytes), kept until processed */
    uint8_t *ibuf;
    uint32_t icap, ipos, ilen, max_input;
    /* the caller's buffer during ws_conn_feed_inplace, for WS_EVF_IN_INPUT */
    const uint8_t *in_lo, *in_hi;

    /* configuration */
    uint64_t max_message, max_frame, high_water;
    uint32_t frag_size;
    uint32_t t_handshake, t_ping, t_pong, t_idle, t_close, t_message, t_send;
    uint32_t inflate_step; /* WS_OPT_INFLATE_STEP, 0: no bound */

    /* time, in the caller's milliseconds */
    uint64_t now, t_open, t_last_rx, t_last_ping, t_closing, t_msg_start, t_out_progress;

    uint8_t role, state, opts, policy;
    uint8_t rx_msg_op, tx_msg_op; /* message in progress each way, 0 if none */
    uint8_t close_sent, close_received, failed, eof, close_waited;
    uint8_t ping_outstanding, clock_set;
    uint8_t ctl_len, pong_pending, pong_len, key_pos;
    uint64_t ping_seq;      /* the timer ping's payload is this, big-endian */
    struct conn_aux *aux;   /* control-frame scratch, allocated when first needed */

    ws_conn_stats st;

    ws_handshake *hs;  /* only while connecting (or to show a failed client handshake) */
    char *subprotocol; /* negotiated, NUL-terminated; NULL if none */
    size_t subprotocol_len;
    ws__pmd *pmd;      /* permessage-deflate options and state; NULL until an option is set */
    uint8_t hs_state;  /* HS_* below */
};

/* What only some connections need, some of the time: kept out of the core state so an idle
 * connection stays small, and released again once it is quiet (ws_conn_tick). */
struct conn_aux {
    uint8_t ctl_buf[WS_FRAME_MAX_CONTROL];  /* a control frame split across feeds */
    uint8_t pong_buf[WS_FRAME_MAX_CONTROL]; /* the payload of the pong still owed */
    uint8_t keys[32]; /* client masking keys, drawn from the random hook in batches */
};

enum {
    HS_NONE = 0,     /* open from the start, or done */
    HS_READING = 1,  /* server reading the request / client reading the response */
    HS_DECIDING = 2, /* server: request complete, waiting for accept or reject */
    HS_IDLE = 3      /* client: ws_conn_client_start not called yet */
};

size_t ws_conn_sizeof(void)
{
    return sizeof(ws_conn);
}

/* ---- small helpers ---- */

static void push_event(ws_conn *c, const ws_event *e)
{
    /* The queue never overflows: feeding stops at the first event and at most three
     * (error, close, and one more) are produced by one step. */
    if (c->ev_count < EVQ) {
        c->ev[(unsigned)(c->ev_head + c->ev_count) % EVQ] = *e;
        c->ev_count++;
    }
}

static inline void push_simple(ws_conn *c, uint32_t type, uint8_t opcode, const uint8_t *data,
                        size_t len)
{
    ws_event e;
    memset(&e, 0, sizeof e);
    e.type = type;
    e.opcode = opcode;
    e.data = data;
    e.len = len;
    if (data && data >= c->in_lo && data < c->in_hi)
        e.flags = WS_EVF_IN_INPUT;
    push_event(c, &e);
}


static void update_decoder_flags(ws_conn *c)
{
    unsigned f = c->role == WS_ROLE_SERVER ? WS_FRAME_EXPECT_MASKED : WS_FRAME_EXPECT_UNMASKED;
    if (c->opts & OPT_LENIENT)
        f |= WS_FRAME_LENIENT_LENGTH;
    if (ws__pmd_active(c->pmd))
        f |= WS_FRAME_ALLOW_RSV1; /* RFC 7692: RSV1 marks a compressed message */
    ws_frame_decoder_set_flags(&c->dec, f, c->max_frame);
}

static struct conn_aux *get_aux(ws_conn *c)
{
    if (!c->aux) {
        c->aux = ws__malloc(&c->alloc, sizeof *c->aux);
        c->key_pos = sizeof c->aux->keys;
    }
    return c->aux;
}

static int next_mask_key(ws_conn *c, uint8_t key[4])
{
    struct conn_aux *x = get_aux(c);
    if (!x)
        return WS_ERR_NOMEM;
    if (c->key_pos >= sizeof x->keys) {
        if (c->rng(c->rng_user, x->keys, sizeof x->keys) != 0)
            return WS_ERR_RANDOM;
        c->key_pos = 0;
    }
    memcpy(key, x->keys + c->key_pos, 4);
    c->key_pos += 4;
    return WS_OK;
}

/* ---- output ---- */

/* The send timeout counts from when the queue last moved, or stopped being empty. */
static void out_starting(ws_conn *c)
{
    if (ws__outq_pending(&c->out) == 0)
        c->t_out_progress = c->now;
}

/* Append one frame with these RSV bits. The payload is copied (masked for a client) unless
 * borrowed. */
static int queue_frame_rsv(ws_conn *c, uint8_t op, int fin, uint8_t rsv, const uint8_t *data,
                           size_t len, int borrow)
{
    ws_frame_header h;
    int masked = c->role == WS_ROLE_CLIENT;
    size_t hl = ws_frame_header_size(len, masked);
    int copy = masked || !borrow;
    uint8_t *p;
    int r;

    memset(&h, 0, sizeof h);
    h.fin = (uint8_t)(fin != 0);
    h.rsv = rsv;
    h.opcode = op;
    h.masked = (uint8_t)masked;
    h.payload_len = len;
    if (masked && (r = next_mask_key(c, h.mask)) < 0)
        return r;
    if (copy && len > SIZE_MAX - hl)
        return WS_ERR_NOMEM;
    out_starting(c);
    p = ws__outq_reserve(&c->out, &c->alloc, hl + (copy ? len : 0));
    if (!p)
        return WS_ERR_NOMEM;
    r = ws__frame_write_header(p, hl, &h);
    if (r < 0)
        return r;
    if (copy) {
        /* data is NULL only with len 0 (the send functions check), said again for the
         * analyzer. */
        if (masked && len && data)
            ws_mask_copy(p + hl, data, len, h.mask, 0);
        else if (len && data)
            memcpy(p + hl, data, len);
        ws__outq_commit(&c->out, hl + len);
    } else {
        ws__outq_commit(&c->out, hl);
        /* On failure the header stays queued alone: send_frames, the only caller that
         * borrows, truncates the queue back to where the message began. */
        if ((r = ws__outq_borrow(&c->out, &c->alloc, data, len)) < 0)
            return r;
    }
    c->st.frames_out++;
    return WS_OK;
}

static int queue_frame(ws_conn *c, uint8_t op, int fin, const uint8_t *data, size_t len,
                       int borrow)
{
    return queue_frame_rsv(c, op, fin, 0, data, len, borrow);
}

/* Serialize the latest unanswered ping's pong ahead of anything else queued now -- but not
 * past the high-water mark: a peer that pings and never reads must not grow the queue (the
 * pong waits, replaced by newer ones, RFC 6455 5.5.3). A close frame forces it out first. */
static int flush_pong_if(ws_conn *c, int force)
{
    if (!c->pong_pending)
        return WS_OK;
    /* An empty queue always takes it: the bound is then max(mark, one pong). */
    if (!force && ws__outq_pending(&c->out) > 0 &&
        (uint64_t)ws__outq_pending(&c->out) + WS_FRAME_MAX_HEADER + c->pong_len > c->high_water)
        return WS_OK;
    int r = queue_frame(c, WS_OP_PONG, 1, c->aux->pong_buf, c->pong_len, 0);
    if (r == WS_OK)
        c->pong_pending = 0;
    return r;
}

static int flush_pong(ws_conn *c)
{
    return flush_pong_if(c, 0);
}

static int queue_close(ws_conn *c, uint16_t code, const uint8_t *reason, size_t rlen)
{
    uint8_t payload[WS_FRAME_MAX_CONTROL];
    size_t n = 0;
    int r;

    if ((r = flush_pong_if(c, 1)) < 0) /* a ping before the close is answered before it */
        return r;
    if (code) {
        if (rlen > WS_FRAME_MAX_CONTROL - 2)
            rlen = WS_FRAME_MAX_CONTROL - 2;
        ws__store_be16(payload, code);
        if (rlen)
            memcpy(payload + 2, reason, rlen);
        n = 2 + rlen;
    }
    r = queue_frame(c, WS_OP_CLOSE, 1, payload, n, 0);
    if (r == WS_OK) {
        c->close_sent = 1;
        c->st.close_code_sent = code ? code : WS_CLOSE_NO_STATUS;
        c->t_closing = c->now;
    }
    return r;
}

/* Fail the connection (RFC 6455 7.1.7): report the rule, send a close frame with the RFC's
 * code when one can still be sent (send_frame), and end. */
static void fail(ws_conn *c, int err, uint16_t code, int send_frame)
{
    ws_event e;
    const char *why = ws_strerror(err);

    if (c->failed || c->state == WS_STATE_CLOSED)
        return;
    if (err == WS_ERR_NOMEM && c->mem_refused) {
        err = WS_ERR_BUDGET; /* the limit said no, not the allocator */
        if (code == WS_CLOSE_INTERNAL_ERROR)
            code = WS_CLOSE_TRY_AGAIN_LATER;
        why = ws_strerror(err);
    }
    push_simple(c, WS_EV_ERROR, 0, NULL, 0);
    c->ev[(c->ev_head + c->ev_count - 1) % EVQ].error = err;
    if (send_frame && !c->close_sent && c->state != WS_STATE_CONNECTING) {
        /* Allocation failure here leaves nothing to send; the close event still follows. */
        (void)queue_close(c, code, (const uint8_t *)why, strlen(why));
    }
    c->pong_pending = 0; /* a failed connection answers nothing more */
    c->hs_state = HS_NONE; /* nor a request still waiting for accept or reject */
    c->failed = 1;
    c->state = WS_STATE_CLOSED;
    c->t_closing = c->now;
    c->rx_msg_op = 0;
    memset(&e, 0, sizeof e);
    e.type = WS_EV_CLOSE;
    e.close_code = send_frame ? code : WS_CLOSE_ABNORMAL;
    e.data = (const uint8_t *)why;
    e.len = strlen(why);
    push_event(c, &e);
}

static uint16_t code_for_error(int err)
{
    return (uint16_t)ws_close_code_for_error(err);
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
    if ((c->mem_limit && (n > c->mem_limit || c->live > c->mem_limit - n)) ||
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

static void *conn_malloc(void *user, size_t n)
{
    ws_conn *c = user;
    if (!mem_take(c, n))
        return NULL;
    void *p = c->user.malloc(c->user.user, n);
    if (!p)
        mem_give(c, n);
    return p;
}

static void *conn_realloc(void *user, void *p, size_t old_n, size_t n)
{
    ws_conn *c = user;
    if (n > old_n && !mem_take(c, n - old_n))
        return NULL;
    void *q = ws__realloc(&c->user, p, old_n, n);
    if (!q && n > old_n)
        mem_give(c, n - old_n);
    else if (q && n < old_n)
        mem_give(c, old_n - n);
    return q;
}

static void conn_free(void *user, void *p, size_t n)
{
    ws_conn *c = user;
    mem_give(c, n);
    c->user.free(c->user.user, p, n);
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

int ws_conn_new(ws_conn **out, uint32_t role, uint32_t flags, const ws_allocator *alloc)
{
    ws_allocator a;
    ws_conn *c;

    if (!out)
        return WS_ERR_INVALID_ARG;
    *out = NULL;
    if ((role != WS_ROLE_SERVER && role != WS_ROLE_CLIENT) || (flags & ~(uint32_t)WS_CONN_OPEN) ||
        ws__alloc_init(&a, alloc) < 0)
        return WS_ERR_INVALID_ARG;
    c = ws__malloc(&a, sizeof *c);
    if (!c)
        return WS_ERR_NOMEM;
    memset(c, 0, sizeof *c);
    c->user = a;
    c->alloc.size = sizeof c->alloc;
    c->alloc.user = c;
    c->alloc.malloc = conn_malloc;
    c->alloc.realloc = conn_realloc;
    c->alloc.free = conn_free;
    c->rng = ws_random_os;
    ws__frame_decoder_init(&c->dec);
    c->role = (uint8_t)role;
    c->opts = OPT_AUTO_PONG;
    c->max_message = WS_DEFAULT_MAX_MESSAGE_SIZE;
    c->max_frame = c->max_message;
    c->high_water = WS_DEFAULT_SEND_HIGH_WATER;
    c->max_input = WS_DEFAULT_MAX_INPUT_BUFFER;
    c->t_handshake = WS_DEFAULT_HANDSHAKE_TIMEOUT;
    c->t_pong = WS_DEFAULT_PONG_TIMEOUT;
    c->t_close = WS_DEFAULT_CLOSE_TIMEOUT;
    c->t_message = WS_DEFAULT_MESSAGE_TIMEOUT;
    c->t_send = WS_DEFAULT_SEND_TIMEOUT;
    update_decoder_flags(c);
    if (flags & WS_CONN_OPEN) {
        c->state = WS_STATE_OPEN;
        push_simple(c, WS_EV_OPEN, 0, NULL, 0);
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
    const ws_allocator *a = &c->alloc;
    ws__outq_free(&c->out, a);
    ws__free(a, c->rbuf, c->rcap);
    ws__free(a, c->ibuf, c->icap);
    ws__free(a, c->aux, sizeof *c->aux);
    ws_handshake_free(c->hs);
    ws__free(a, c->subprotocol, c->subprotocol_len + 1);
    ws__pmd_free(c->pmd);
    ws_conn_set_budget(c, NULL);
    ws_allocator u = c->user;
    ws__free(&u, c, sizeof *c);
}

int ws_conn_set_random(ws_conn *c, ws_random_fn rng, void *user)
{
    if (!c)
        return WS_ERR_INVALID_ARG;
    c->rng = rng ? rng : ws_random_os;
    c->rng_user = user;
    c->key_pos = sizeof c->aux->keys; /* keys drawn from the old hook are not used */
    return WS_OK;
}

static int set_bit(ws_conn *c, unsigned bit, uint64_t v)
{
    if (v > 1)
        return WS_ERR_RANGE;
    c->opts = (uint8_t)(v ? (c->opts | bit) : (c->opts & ~bit));
    return WS_OK;
}

/* Largest byte count an option takes (2^63-1: what a wire length can say). */
#define MAX_BYTES (UINT64_MAX >> 1)

static int set_u32(uint32_t *field, uint64_t v)
{
    if (v > UINT32_MAX)
        return WS_ERR_RANGE;
    *field = (uint32_t)v;
    return WS_OK;
}

int ws_conn_set_option(ws_conn *c, uint32_t opt, uint64_t v)
{
    if (!c)
        return WS_ERR_INVALID_ARG;
    if (ws__pmd_is_option((int)opt))
        return ws__pmd_set_option(&c->pmd, &c->alloc, (int)opt, v);
    switch (opt) {
    case WS_OPT_MAX_MESSAGE_SIZE:
        if (v == 0 || v > MAX_BYTES)
            return WS_ERR_RANGE;
        if (c->max_frame == c->max_message || c->max_frame > v)
            c->max_frame = v;
        c->max_message = v;
        update_decoder_flags(c);
        return WS_OK;
    case WS_OPT_MAX_FRAME_SIZE:
        if (v == 0 || v > MAX_BYTES)
            return WS_ERR_RANGE;
        c->max_frame = v;
        update_decoder_flags(c);
        return WS_OK;
    case WS_OPT_AUTO_PONG:
        return set_bit(c, OPT_AUTO_PONG, v);
    case WS_OPT_STREAMING:
        return set_bit(c, OPT_STREAMING, v);
    case WS_OPT_REFUSE_TEXT:
        return set_bit(c, OPT_REFUSE_TEXT, v);
    case WS_OPT_REFUSE_BINARY:
        return set_bit(c, OPT_REFUSE_BINARY, v);
    case WS_OPT_LENIENT_LENGTH: {
        int r = set_bit(c, OPT_LENIENT, v);
        update_decoder_flags(c);
        return r;
    }
    case WS_OPT_FRAGMENT_SIZE:
        return set_u32(&c->frag_size, v);
    case WS_OPT_SEND_HIGH_WATER:
        if (v > MAX_BYTES)
            return WS_ERR_RANGE;
        c->high_water = v;
        return WS_OK;
    case WS_OPT_SEND_POLICY:
        if (v > WS_POLICY_CLOSE_1009)
            return WS_ERR_RANGE;
        c->policy = (uint8_t)v;
        return WS_OK;
    case WS_OPT_HANDSHAKE_TIMEOUT:
        return set_u32(&c->t_handshake, v);
    case WS_OPT_PING_INTERVAL:
        return set_u32(&c->t_ping, v);
    case WS_OPT_PONG_TIMEOUT:
        return set_u32(&c->t_pong, v);
    case WS_OPT_IDLE_TIMEOUT:
        return set_u32(&c->t_idle, v);
    case WS_OPT_CLOSE_TIMEOUT:
        return set_u32(&c->t_close, v);
    case WS_OPT_MAX_INPUT_BUFFER:
        if (v == 0 || v > ((uint64_t)1 << 31))
            return WS_ERR_RANGE;
        c->max_input = (uint32_t)v;
        return WS_OK;
    case WS_OPT_MESSAGE_TIMEOUT:
        return set_u32(&c->t_message, v);
    case WS_OPT_SEND_TIMEOUT:
        return set_u32(&c->t_send, v);
    case WS_OPT_MEMORY_LIMIT:
        c->mem_limit = v;
        return WS_OK;
    case WS_OPT_INFLATE_STEP:
        if (v > ((uint64_t)1 << 31))
            return WS_ERR_RANGE;
        c->inflate_step = (uint32_t)v;
        return WS_OK;
    default:
        return WS_ERR_OPTION;
    }
}

int ws_conn_get_option(const ws_conn *c, uint32_t opt, uint64_t *value)
{
    uint64_t v;

    if (!c || !value)
        return WS_ERR_INVALID_ARG;
    if (ws__pmd_is_option((int)opt)) {
        *value = ws__pmd_get_option(c->pmd, (int)opt);
        return WS_OK;
    }
    switch (opt) {
    case WS_OPT_MAX_MESSAGE_SIZE:
        v = c->max_message;
        break;
    case WS_OPT_MAX_FRAME_SIZE:
        v = c->max_frame;
        break;
    case WS_OPT_AUTO_PONG:
        v = (c->opts & OPT_AUTO_PONG) != 0;
        break;
    case WS_OPT_STREAMING:
        v = (c->opts & OPT_STREAMING) != 0;
        break;
    case WS_OPT_REFUSE_TEXT:
        v = (c->opts & OPT_REFUSE_TEXT) != 0;
        break;
    case WS_OPT_REFUSE_BINARY:
        v = (c->opts & OPT_REFUSE_BINARY) != 0;
        break;
    case WS_OPT_LENIENT_LENGTH:
        v = (c->opts & OPT_LENIENT) != 0;
        break;
    case WS_OPT_FRAGMENT_SIZE:
        v = c->frag_size;
        break;
    case WS_OPT_SEND_HIGH_WATER:
        v = c->high_water;
        break;
    case WS_OPT_SEND_POLICY:
        v = c->policy;
        break;
    case WS_OPT_HANDSHAKE_TIMEOUT:
        v = c->t_handshake;
        break;
    case WS_OPT_PING_INTERVAL:
        v = c->t_ping;
        break;
    case WS_OPT_PONG_TIMEOUT:
        v = c->t_pong;
        break;
    case WS_OPT_IDLE_TIMEOUT:
        v = c->t_idle;
        break;
    case WS_OPT_CLOSE_TIMEOUT:
        v = c->t_close;
        break;
    case WS_OPT_MAX_INPUT_BUFFER:
        v = c->max_input;
        break;
    case WS_OPT_MESSAGE_TIMEOUT:
        v = c->t_message;
        break;
    case WS_OPT_SEND_TIMEOUT:
        v = c->t_send;
        break;
    case WS_OPT_MEMORY_LIMIT:
        v = c->mem_limit;
        break;
    case WS_OPT_INFLATE_STEP:
        v = c->inflate_step;
        break;
    default:
        return WS_ERR_OPTION;
    }
    *value = v;
    return WS_OK;
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
    ws_conn_stats s = c->st;
    s.buffered = ws_conn_buffered_amount(c);
    ws__struct_copy(st, st_size, &s, sizeof s);
    return WS_OK;
}

/* ---- receiving ---- */

static void on_close_frame(ws_conn *c, const uint8_t *p, size_t n)
{
    unsigned code = WS_CLOSE_NO_STATUS;
    ws_event e;

    if (n == 1) {
        fail(c, WS_ERR_CLOSE_PAYLOAD, WS_CLOSE_PROTOCOL_ERROR, 1);
        return;
    }
    if (n >= 2) {
        code = ws__load_be16(p);
        if (!ws_close_code_valid(code)) {
            fail(c, WS_ERR_CLOSE_CODE, WS_CLOSE_PROTOCOL_ERROR, 1);
            return;
        }
        ws_utf8_state u = WS_UTF8_ACCEPT;
        if (ws_utf8_validate(&u, p + 2, n - 2) != n - 2 || !ws_utf8_complete(u)) {
            fail(c, WS_ERR_INVALID_UTF8, WS_CLOSE_INVALID_PAYLOAD, 1);
            return;
        }
    }
    c->close_received = 1;
    c->st.close_code_received = (uint16_t)code;
    memset(&e, 0, sizeof e);
    e.type = WS_EV_CLOSE;
    e.close_code = (uint16_t)code;
    e.data = n > 2 ? p + 2 : NULL;
    e.len = n > 2 ? n - 2 : 0;
    if (!c->close_sent) {
        /* The peer started: echo its code (none for none), then we are done. */
        c->st.closed_by_peer = 1;
        e.by_peer = 1;
        /* A ping that came before this close still gets its pong (RFC 6455 5.5.2): the
         * close below flushes it first. */
        if (queue_close(c, code == WS_CLOSE_NO_STATUS ? 0 : (uint16_t)code, NULL, 0) < 0) {
            fail(c, WS_ERR_NOMEM, WS_CLOSE_INTERNAL_ERROR, 0);
            return;
        }
    }
    c->state = WS_STATE_CLOSED;
    c->t_closing = c->now;
    push_event(c, &e);
}

static void on_control(ws_conn *c, uint8_t op, const uint8_t *p, size_t n)
{
    switch (op) {
    case WS_OP_PING:
        if ((c->opts & OPT_AUTO_PONG) && !c->close_sent) {
            /* Answer every ping (peers such as Autobahn's case 2.10 count the pongs): an
             * earlier ping's pong still waiting is queued now. Above the high-water mark only
             * the latest is kept (RFC 6455 5.5.3 allows it), so a ping flood from a peer that
             * does not read cannot grow the queue. */
            if (c->pong_pending && (uint64_t)ws__outq_pending(&c->out) + WS_FRAME_MAX_HEADER +
                                           c->pong_len <= c->high_water)
                (void)flush_pong(c); /* on failure the older pong is dropped, as before */
            if (!get_aux(c)) {
                fail(c, WS_ERR_NOMEM, WS_CLOSE_INTERNAL_ERROR, 1);
                return;
            }
            memcpy(c->aux->pong_buf, p, n);
            c->pong_len = (uint8_t)n;
            c->pong_pending = 1;
            /* Queued now when the mark allows (output stays a pure accessor); else it waits
             * for an ack that drains the queue, the next send, or the close. */
            if (flush_pong(c) < 0) {
                fail(c, WS_ERR_NOMEM, WS_CLOSE_INTERNAL_ERROR, 1);
                return;
            }
        }
        push_simple(c, WS_EV_PING, 0, p, n);
        break;
    case WS_OP_PONG:
        c->st.pongs_received++;
        uint8_t id[8];
        ws__store_be64(id, c->ping_seq);
        if (c->ping_outstanding && n == sizeof id && memcmp(p, id, n) == 0) {
            c->ping_outstanding = 0;
            c->st.last_rtt_ms = c->now - c->t_last_ping;
        }
        push_simple(c, WS_EV_PONG, 0, p, n);
        break;
    default:
        on_close_frame(c, p, n);
        break;
    }
}

static int start_data_frame(ws_conn *c, const ws_frame_header *h)
{
    if (h->opcode == WS_OP_CONTINUATION) {
        if (!c->rx_msg_op)
            return WS_ERR_UNEXPECTED_CONTINUATION;
        if (h->rsv & WS_RSV1)
            return WS_ERR_DEFLATE_RSV1; /* RFC 7692 section 6: the first frame only */
    } else {
        if (c->rx_msg_op)
            return WS_ERR_EXPECTED_CONTINUATION;
        if ((h->opcode == WS_OP_TEXT && (c->opts & OPT_REFUSE_TEXT)) ||
            (h->opcode == WS_OP_BINARY && (c->opts & OPT_REFUSE_BINARY)))
            return WS_ERR_DATA_TYPE;
        c->rx_msg_op = h->opcode;
        c->t_msg_start = c->now;
        c->rx_msg_len = 0;
        c->rlen = 0;
        c->rx_utf8 = WS_UTF8_ACCEPT;
    }
    if (h->payload_len > c->max_message - c->rx_msg_len)
        return WS_ERR_MESSAGE_TOO_BIG;
    if (h->opcode != WS_OP_CONTINUATION && (h->rsv & WS_RSV1))
        return ws__pmd_rx_begin(c->pmd); /* the decoder allows RSV1 only when negotiated */
    return WS_OK;
}

static int append_rbuf(ws_conn *c, const uint8_t *p, size_t n)
{
    if (n == 0)
        return WS_OK; /* rbuf may still be NULL: no pointer arithmetic on it */
    if (n > c->rcap - c->rlen) {
        size_t want = c->rlen + n, cap = c->rcap ? c->rcap : 1024;
        while (cap < want)
            cap = cap > SIZE_MAX / 2 ? want : cap * 2;
        if (cap > c->max_message && want <= c->max_message)
            cap = (size_t)c->max_message;
        uint8_t *q = ws__realloc(&c->alloc, c->rbuf, c->rcap, cap);
        if (!q)
            return WS_ERR_NOMEM;
        c->rbuf = q;
        c->rcap = cap;
    }
    memcpy(c->rbuf + c->rlen, p, n);
    c->rlen += n;
    return WS_OK;
}

static void end_compressed(ws_conn *c)
{
    c->st.messages_in++;
    c->rx_msg_op = 0;
    ws__pmd_rx_end(c->pmd);
}

/* Streaming: how much one step may inflate: one byte past what the message limit leaves. */
static size_t inflate_room(const ws_conn *c)
{
    uint64_t left = c->max_message - c->rx_msg_len;
    return left >= SIZE_MAX ? SIZE_MAX : (size_t)left + 1;
}

/* Streaming: one chunk of a decompressed message (end: its last). */
static int inflated_chunk(ws_conn *c, const uint8_t *p, size_t n, int end)
{
    if (n > c->max_message - c->rx_msg_len)
        return WS_ERR_MESSAGE_TOO_BIG;
    c->rx_msg_len += n;
    if (c->rx_msg_op == WS_OP_TEXT &&
        (ws_utf8_validate(&c->rx_utf8, p, n) != n || (end && !ws_utf8_complete(c->rx_utf8))))
        return WS_ERR_INVALID_UTF8;
    if (n || end) {
        push_simple(c, WS_EV_FRAGMENT, c->rx_msg_op, p, n);
        c->ev[(c->ev_head + c->ev_count - 1) % EVQ].fin = (uint8_t)end;
    }
    if (end)
        end_compressed(c);
    return WS_OK;
}

/* Streaming: a chunk of output filled up before the input was used; the next chunk is made
 * when the caller asks for the next event. */
static int inflate_append(ws_conn *c, const uint8_t *p, size_t n, int msg_end);

/* Compressed output waits to be made (a connection without deflate never calls out). */
static int inflate_pending(const ws_conn *c)
{
    return c->pmd && ws__pmd_rx_pending(c->pmd);
}

/* A compressed message whose output waits to be made: the next chunk when streaming, the
 * next step (WS_OPT_INFLATE_STEP) when reassembling. */
static void inflate_continue(ws_conn *c)
{
    const uint8_t *out = NULL;
    size_t n = 0;
    int end = ws__pmd_rx_pending(c->pmd) == 2, r;

    if (c->opts & OPT_STREAMING) {
        r = ws__pmd_rx_stream(c->pmd, NULL, 0, end, inflate_room(c), &out, &n);
        if (r >= 0)
            r = inflated_chunk(c, out, n, r == 0 && end);
    } else {
        r = inflate_append(c, NULL, 0, end);
    }
    if (r < 0)
        fail(c, r, code_for_error(r), 1);
}

/* Inflate (more of) a compressed message into the reassembly buffer, at most
 * WS_OPT_INFLATE_STEP bytes per call; p NULL continues what an earlier step left. */
static int inflate_append(ws_conn *c, const uint8_t *p, size_t n, int msg_end)
{
    size_t old = c->rlen;
    int r = ws__pmd_rx_append(c->pmd, p, n, msg_end, &c->rbuf, &c->rlen, &c->rcap,
                              c->max_message, c->inflate_step);
    if (r < 0)
        return r;
    c->rx_msg_len = c->rlen;
    if (c->rx_msg_op == WS_OP_TEXT &&
        (ws_utf8_validate(&c->rx_utf8, c->rbuf + old, c->rlen - old) != c->rlen - old ||
         (r == 0 && msg_end && !ws_utf8_complete(c->rx_utf8))))
        return WS_ERR_INVALID_UTF8;
    if (r == 0 && msg_end) {
        push_simple(c, WS_EV_MESSAGE, c->rx_msg_op, c->rbuf, c->rlen);
        end_compressed(c);
    }
    return WS_OK;
}

/* Payload of a compressed message (RFC 7692 section 7.2.2): inflated into the reassembly
 * buffer, never beyond the message limit, or handed out in chunks when streaming. */
static int on_compressed(ws_conn *c, const uint8_t *p, size_t n, int msg_end)
{
    int r;

    if (c->opts & OPT_STREAMING) {
        const uint8_t *out = NULL;
        size_t k = 0;
        r = ws__pmd_rx_stream(c->pmd, p, n, msg_end, inflate_room(c), &out, &k);
        return r < 0 ? r : inflated_chunk(c, out, k, r == 0 && msg_end);
    }
    return inflate_append(c, p, n, msg_end);
}

/* A chunk of a data frame's payload, already unmasked. Returns an error to fail with. */
static int on_data(ws_conn *c, const ws_frame_event *fe)
{
    const ws_frame_header *h = fe->header;
    int msg_end = h->fin && fe->frame_end;
    int whole = msg_end && fe->offset == 0 && h->opcode != WS_OP_CONTINUATION;

    if (c->pmd && ws__pmd_rx_in_message(c->pmd))
        return on_compressed(c, fe->data, fe->len, msg_end);

    if (c->rx_msg_op == WS_OP_TEXT) {
        if (ws_utf8_validate(&c->rx_utf8, fe->data, fe->len) != fe->len)
            return WS_ERR_INVALID_UTF8;
        if (msg_end && !ws_utf8_complete(c->rx_utf8))
            return WS_ERR_INVALID_UTF8;
    }
    c->rx_msg_len += fe->len;

    if (c->opts & OPT_STREAMING) {
        /* Streaming hands out FRAGMENT events only, whole messages included, so the event
         * type does not depend on how the transport split the bytes. */
        if (fe->len || msg_end) {
            push_simple(c, WS_EV_FRAGMENT, c->rx_msg_op, fe->data, fe->len);
            c->ev[(c->ev_head + c->ev_count - 1) % EVQ].fin = (uint8_t)msg_end;
        }
    } else if (whole) {
        /* The common case: the complete message lies in the caller's buffer. No copy. */
        push_simple(c, WS_EV_MESSAGE, c->rx_msg_op, fe->data, fe->len);
    } else {
        int r = append_rbuf(c, fe->data, fe->len);
        if (r < 0)
            return r;
        if (msg_end)
            push_simple(c, WS_EV_MESSAGE, c->rx_msg_op, c->rbuf, c->rlen);
    }
    if (msg_end) {
        c->st.messages_in++;
        c->rx_msg_op = 0;
    }
    return WS_OK;
}

/* A frame header is complete: check it against the message in progress. */
static void on_header(ws_conn *c, const ws_frame_header *h)
{
    int r;
    c->st.frames_in++;
    c->ctl_len = 0;
    if (WS_OPCODE_IS_CONTROL(h->opcode) && (h->rsv & WS_RSV1))
        fail(c, WS_ERR_DEFLATE_RSV1, WS_CLOSE_PROTOCOL_ERROR, 1); /* RFC 7692: never compressed */
    else if (!WS_OPCODE_IS_CONTROL(h->opcode) && (r = start_data_frame(c, h)) < 0)
        fail(c, r, code_for_error(r), 1);
}

/* A chunk of a frame's payload, unmasked. */
static void on_payload(ws_conn *c, const ws_frame_event *fe)
{
    int r;
    if (WS_OPCODE_IS_CONTROL(fe->header->opcode)) {
        const uint8_t *p = fe->data;
        if (!(fe->offset == 0 && fe->frame_end)) {
            /* Split across feeds: gather it (at most 125 bytes). */
            if (!get_aux(c)) {
                fail(c, WS_ERR_NOMEM, WS_CLOSE_INTERNAL_ERROR, 1);
                return;
            }
            memcpy(c->aux->ctl_buf + c->ctl_len, fe->data, fe->len);
            c->ctl_len = (uint8_t)(c->ctl_len + fe->len);
            p = c->aux->ctl_buf;
        }
        if (fe->frame_end)
            on_control(c, fe->header->opcode, p, (size_t)fe->header->payload_len);
        return;
    }
    if ((r = on_data(c, fe)) < 0)
        fail(c, r, code_for_error(r), 1);
}

/* The common case, in one step: between frames, and the whole next frame is in the input.
 * Parses, unmasks and handles it without the decoder's header/data round trip. Returns the
 * bytes used, or 0 to let the incremental decoder take it (incomplete frame, or an error it
 * will report). */
static size_t whole_frame(ws_conn *c, uint8_t *in, size_t n)
{
    ws_frame_event fe;
    ws_frame_header h;
    int hl;

    if (c->dec.state != WS__DEC_HEADER || c->dec.hbuf_len != 0)
        return 0;
    hl = ws__frame_parse_header(in, n, c->dec.flags, c->dec.max_payload, &h);
    if (hl <= 0 || h.payload_len > n - (size_t)hl)
        return 0;
    fe.header = &h;
    fe.type = WS_FRAME_EV_DATA;
    fe.data = in + hl;
    fe.len = (size_t)fe.header->payload_len;
    fe.offset = 0;
    fe.frame_end = 1;
    if (fe.header->masked)
        ws_mask(fe.data, fe.len, fe.header->mask, 0);
    on_header(c, fe.header);
    if (c->ev_count == 0)
        on_payload(c, &fe);
    return (size_t)hl + fe.len;
}

static int feed_frames(ws_conn *c, uint8_t *in, size_t n, size_t *consumed)
{
    size_t pos = 0;

    /* Nothing waits on an empty feed (an empty frame's data follows its header within one
     * call), and in may be NULL: no arithmetic on it. */
    if (n == 0) {
        *consumed = 0;
        return WS_OK;
    }

    /* Until an event is ready, or an inflate step left work for later. */
    while (c->ev_count == 0 && !inflate_pending(c)) {
        ws_frame_event fe;
        size_t used = 0, avail = n - pos;
        /* Compressed input is inflated a bounded piece at a time when streaming: what is left
         * of it when a chunk of output fills up is copied, so keep that small. */
        int bounded = (c->opts & OPT_STREAMING) && ws__pmd_rx_in_message(c->pmd);
        if (bounded && avail > WS__PMD_IN_CHUNK)
            avail = WS__PMD_IN_CHUNK;
        if (!bounded && avail >= 2 && (used = whole_frame(c, in + pos, avail)) > 0) {
            pos += used;
            continue;
        }
        int r = ws__frame_decoder_step(&c->dec, in + pos, avail, &used, &fe);
        pos += used;
        if (r < 0) {
            fail(c, r, code_for_error(r), 1);
            break;
        }
        if (fe.type == WS_FRAME_EV_NONE)
            break;
        if (fe.type == WS_FRAME_EV_HEADER)
            on_header(c, fe.header);
        else
            on_payload(c, &fe);
    }
    *consumed = pos;
    return WS_OK;
}

/* ---- opening handshake ---- */

/* The connection ends before it opened (refused, failed handshake): no frame, code 1006. */
static void end_unopened(ws_conn *c, int err, const char *why)
{
    ws_event e;
    if (err)
        fail(c, err, WS_CLOSE_ABNORMAL, 0);
    if (c->state == WS_STATE_CLOSED)
        return;
    c->failed = 1;
    c->state = WS_STATE_CLOSED;
    c->t_closing = c->now;
    memset(&e, 0, sizeof e);
    e.type = WS_EV_CLOSE;
    e.close_code = WS_CLOSE_ABNORMAL;
    e.data = (const uint8_t *)why;
    e.len = strlen(why);
    push_event(c, &e);
}

static void became_open(ws_conn *c)
{
    ws_handshake_free(c->hs);
    c->hs = NULL;
    c->hs_state = HS_NONE;
    c->state = WS_STATE_OPEN;
    c->t_last_rx = c->t_last_ping = c->now;
    update_decoder_flags(c); /* RSV1 if permessage-deflate was agreed */
    push_simple(c, WS_EV_OPEN, 0, NULL, 0);
}

static int keep_subprotocol(ws_conn *c, const char *p, size_t len)
{
    if (!p || !len)
        return WS_OK;
    c->subprotocol = ws__malloc(&c->alloc, len + 1);
    if (!c->subprotocol)
        return WS_ERR_NOMEM;
    c->subprotocol_len = len;
    memcpy(c->subprotocol, p, len);
    c->subprotocol[len] = '\0';
    return WS_OK;
}

static int feed_handshake(ws_conn *c, const uint8_t *in, size_t n, size_t *consumed)
{
    int r;

    if (c->hs_state != HS_READING)
        return WS_ERR_STATE; /* client not started, or server owes accept/reject */
    if (!c->hs) {
        if (ws_handshake_new(&c->hs, WS_ROLE_SERVER, &c->alloc) < 0) {
            end_unopened(c, WS_ERR_NOMEM, "out of memory");
            return WS_OK;
        }
    }
    r = ws_handshake_feed(c->hs, in, n, consumed);
    if (r == 0)
        return WS_OK;
    if (r == 1 && c->role == WS_ROLE_SERVER) {
        c->hs_state = HS_DECIDING;
        push_simple(c, WS_EV_REQUEST, 0, NULL, 0);
        return WS_OK;
    }
    if (r == 1) {
        const char *p = NULL;
        size_t len = 0;
        ws__pmd_neg neg;
        int found = 0;
        /* RFC 7692 section 7: an answer that breaks the rules fails the connection. */
        r = ws__pmd_client_check(c->pmd, &c->alloc, c->hs, &neg, &found);
        if (r == WS_OK && found)
            r = ws__pmd_commit(&c->pmd, &c->alloc, &neg);
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
            out_starting(c);
            uint8_t *o = ws__outq_reserve(&c->out, &c->alloc, need);
            int w = o ? ws_handshake_write_error(c->hs, o, need, NULL) : -1;
            if (w > 0)
                ws__outq_commit(&c->out, (size_t)w);
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
    char offer[160];
    int r;

    if (!c || !url)
        return WS_ERR_INVALID_ARG;
    if (c->role != WS_ROLE_CLIENT || c->hs_state != HS_IDLE)
        return WS_ERR_STATE;
    url_len = strlen(url);
    if (!extensions && ws__pmd_client_offer(c->pmd, offer, sizeof offer) > 0)
        extensions = offer;
    if ((r = ws_handshake_new(&c->hs, WS_ROLE_CLIENT, &c->alloc)) < 0)
        return r;
    ws_handshake_set_random(c->hs, c->rng, c->rng_user);
    r = ws_handshake_client_request(c->hs, url, url_len, subprotocols, nsub, extensions, headers,
                                    NULL, 0, &need);
    if (r == WS_ERR_BUFFER_TOO_SMALL) {
        out_starting(c);
        o = ws__outq_reserve(&c->out, &c->alloc, need);
        r = o ? ws_handshake_client_request(c->hs, url, url_len, subprotocols, nsub, extensions,
                                            headers, o, need, NULL)
              : WS_ERR_NOMEM;
    }
    if (r < 0) {
        ws_handshake_free(c->hs);
        c->hs = NULL;
        return r;
    }
    ws__outq_commit(&c->out, (size_t)r);
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
    char answer[160];
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
        (r = ws__pmd_server_explicit(&c->pmd, &c->alloc, extensions, &neg, &found)) < 0)
        return r;
    if (found && (r = ws__pmd_commit(&c->pmd, &c->alloc, &neg)) < 0)
        return r;
    if ((r = keep_subprotocol(c, subprotocol, subprotocol ? strlen(subprotocol) : 0)) < 0)
        return r;
    out_starting(c);
    o = ws__outq_reserve(&c->out, &c->alloc, need);
    if (!o) {
        ws__free(&c->alloc, c->subprotocol, c->subprotocol_len + 1);
        c->subprotocol = NULL;
        c->subprotocol_len = 0;
        return WS_ERR_NOMEM;
    }
    r = ws_handshake_accept(c->hs, subprotocol, extensions, headers, o, need, NULL);
    if (r < 0)
        return r;
    ws__outq_commit(&c->out, (size_t)r);
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
    out_starting(c);
    o = ws__outq_reserve(&c->out, &c->alloc, need);
    if (!o)
        return WS_ERR_NOMEM;
    r = ws_handshake_reject(status, reason, headers, body, body_len, o, need, NULL);
    if (r < 0)
        return r;
    ws__outq_commit(&c->out, (size_t)r);
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
    return c ? ws__pmd_set_shared(&c->pmd, &c->alloc, s) : WS_ERR_INVALID_ARG;
}

/* A refused allocation reports which bound refused it. */
static int budget_error(const ws_conn *c, int r)
{
    return r == WS_ERR_NOMEM && c->mem_refused ? WS_ERR_BUDGET : r;
}

/* Events wait to be taken (or decompressed data to be made into the next one). */
static int pending(const ws_conn *c)
{
    return c->ev_count || (!c->failed && inflate_pending(c));
}

/* Process in[0..n) (writable: unmasked in place) until an event is ready. */
static inline int feed_core(ws_conn *c, uint8_t *in, size_t n, size_t *consumed)
{
    int r;

    if (c->state == WS_STATE_CLOSED || c->close_received || c->eof) {
        /* Nothing after the close frame (or a failure) is processed. */
        *consumed = n;
        return WS_OK;
    }
    c->mem_refused = 0;
    if (n)
        c->t_last_rx = c->now;
    if (c->state == WS_STATE_CONNECTING)
        r = feed_handshake(c, in, n, consumed);
    else
        r = feed_frames(c, in, n, consumed);
    c->st.bytes_in += *consumed;
    return r;
}

static void end_of_file(ws_conn *c)
{
    c->eof = 1;
    if (c->state != WS_STATE_CLOSED)
        fail(c, WS_ERR_EOF, WS_CLOSE_ABNORMAL, 0);
}

/* Go on with input that ws_conn_feed kept, unless a server still owes its answer to the
 * request (the bytes after it wait for accept). */
static void process_kept(ws_conn *c)
{
    while (c->ipos < c->ilen && !pending(c) && c->hs_state != HS_DECIDING) {
        size_t used = 0;
        (void)feed_core(c, c->ibuf + c->ipos, c->ilen - c->ipos, &used);
        c->ipos += (uint32_t)used;
        if (used == 0)
            break;
    }
    if (c->eof_pending && c->ipos == c->ilen && !pending(c)) {
        c->eof_pending = 0;
        end_of_file(c);
    }
}

/* Grow the input buffer to cap bytes; 0 when the allocator (or the memory bound) says no. */
static int input_grow(ws_conn *c, size_t cap)
{
    uint8_t *q = ws__realloc(&c->alloc, c->ibuf, c->icap, cap);
    if (!q)
        return 0;
    c->ibuf = q;
    c->icap = (uint32_t)cap;
    return 1;
}

/* Make room for n more kept bytes, without moving what queued events point into: as much as
 * wanted up to the limit, else at least a small buffer. */
static size_t input_room(ws_conn *c, size_t n)
{
    if (!c->ev_count) {
        if (c->ipos > 0) {
            memmove(c->ibuf, c->ibuf + c->ipos, c->ilen - c->ipos);
            c->ilen -= c->ipos;
            c->ipos = 0;
        }
        size_t lim = c->max_input, want = c->ilen + n;
        size_t small = IBUF_MIN < lim ? IBUF_MIN : lim;
        if (want > lim)
            want = lim;
        if (want < small)
            want = small;
        if (want > c->icap && !input_grow(c, want) && small > c->icap)
            (void)input_grow(c, small);
    }
    return c->icap - c->ilen;
}

int ws_conn_feed(ws_conn *c, const void *in, size_t n, size_t *taken)
{
    size_t dummy, k;

    if (!taken)
        taken = &dummy;
    *taken = 0;
    if (!c || (!in && n))
        return WS_ERR_INVALID_ARG;
    c->view_live = 0;
    if (n == 0)
        return WS_OK;
    if (c->state == WS_STATE_CLOSED || c->close_received || c->eof) {
        *taken = n;
        return WS_OK;
    }
    if (c->hs_state == HS_IDLE)
        return WS_ERR_STATE; /* a client that has not sent its request yet */
    c->mem_refused = 0;
    while (*taken < n) {
        k = input_room(c, n - *taken);
        if (k == 0) /* full while events wait (drain them), or no memory for a buffer */
            return c->ilen == 0 ? budget_error(c, WS_ERR_NOMEM) : WS_OK;
        if (k > n - *taken)
            k = n - *taken;
        memcpy(c->ibuf + c->ilen, (const uint8_t *)in + *taken, k);
        c->ilen += (uint32_t)k;
        *taken += k;
        process_kept(c);
        if (c->state == WS_STATE_CLOSED || c->close_received || c->eof) {
            *taken = n; /* the rest would be discarded anyway */
            break;
        }
    }
    return WS_OK;
}

int ws_conn_feed_inplace(ws_conn *c, uint8_t *in, size_t n, size_t *consumed)
{
    int r;

    if (consumed)
        *consumed = 0; /* a count: valid after any return (ws.h rule 1) */
    if (!c || !consumed || (!in && n))
        return WS_ERR_INVALID_ARG;
    c->view_live = 0;
    if (pending(c) || c->ipos < c->ilen)
        return WS_ERR_EVENTS_PENDING; /* (or decompressed data, or kept input, first) */
    c->in_lo = in;
    c->in_hi = n ? in + n : in; /* in may be NULL when n is 0: no arithmetic on it */
    r = feed_core(c, in, n, consumed);
    c->in_lo = c->in_hi = NULL;
    return r;
}

int ws_conn_feed_eof(ws_conn *c)
{
    if (!c)
        return WS_ERR_INVALID_ARG;
    if (c->ipos < c->ilen && c->state != WS_STATE_CLOSED) {
        c->eof_pending = 1; /* after what was fed before it */
        process_kept(c);
        return WS_OK;
    }
    end_of_file(c);
    return WS_OK;
}

int ws_conn_next_event(ws_conn *c, ws_event *ev, size_t ev_size)
{
    if (!c || !ev || ev_size < WS__MIN_EVENT)
        return WS_ERR_INVALID_ARG;
    if (c->ev_count == 0) {
        c->view_live = 0; /* the previous event's view ends here */
        /* Made only now, so the previous chunk's view stayed valid until this call. */
        if (!c->failed && inflate_pending(c))
            inflate_continue(c);
        else if (c->ipos < c->ilen || c->eof_pending)
            process_kept(c);
        if (c->ev_count == 0)
            return 0;
    }
    const ws_event *e = &c->ev[c->ev_head];
    if (ev_size == sizeof *e)
        *ev = *e; /* the caller's layout is ours */
    else
        ws__struct_copy(ev, ev_size, e, sizeof *e);
    c->view_live = e->len != 0;
    c->ev_head = (uint8_t)((c->ev_head + 1) % EVQ);
    c->ev_count--;
    return 1;
}

/* ---- sending ---- */

/* Backpressure: would `bytes` more exceed the high-water mark? Applies the policy. */
static int over_high_water(ws_conn *c, uint64_t bytes)
{
    uint64_t pending = ws__outq_pending(&c->out);
    if (bytes <= c->high_water && pending <= c->high_water - bytes)
        return 0;
    if (c->policy != WS_POLICY_ERROR && !c->close_sent) {
        uint16_t code = c->policy == WS_POLICY_CLOSE_1013 ? WS_CLOSE_TRY_AGAIN_LATER
                                                          : WS_CLOSE_MESSAGE_TOO_BIG;
        fail(c, WS_ERR_OUTPUT_OVERFLOW, code, 1);
    }
    return 1;
}

static int can_send(const ws_conn *c)
{
    if (c->state == WS_STATE_CONNECTING)
        return WS_ERR_STATE;
    if (c->state != WS_STATE_OPEN || c->close_sent)
        return WS_ERR_CLOSED;
    return WS_OK;
}

/* Bytes on the wire for len payload bytes cut into frames of at most frag (0: one frame). */
static uint64_t wire_size(const ws_conn *c, size_t len, size_t frag)
{
    int masked = c->role == WS_ROLE_CLIENT;
    if (frag == 0 || len <= frag)
        return ws_frame_header_size(len, masked) + (uint64_t)len;
    uint64_t frames = len / frag, rest = len % frag;
    return frames * (ws_frame_header_size(frag, masked) + frag) +
           (rest ? ws_frame_header_size(rest, masked) + rest : 0);
}

/* Forget what was queued after `mark` (a copy of the queue taken before, with no ack since);
 * the buffers stay. Reserve may have moved the unsent bytes to the front, in order. */
static void outq_truncate(ws_outq *q, const ws_outq *mark)
{
    q->tail = q->head + (mark->tail - mark->head);
    q->owned_in = mark->owned_in;
    q->queued = mark->queued;
    q->mcount = mark->mcount;
}

/* rsv goes on the first frame only (RFC 7692: RSV1 marks the message, not each frame). */
static int send_frames(ws_conn *c, uint8_t first_op, uint8_t rsv, const uint8_t *p, size_t len,
                       int fin, unsigned flags)
{
    size_t frag = c->frag_size ? c->frag_size : len;
    uint8_t op = first_op;
    ws_outq mark;
    uint64_t frames_out;
    int r;

    if ((r = flush_pong(c)) < 0)
        return r;
    mark = c->out;
    frames_out = c->st.frames_out;
    do {
        size_t k = len < frag ? len : frag;
        r = queue_frame_rsv(c, op, fin && k == len, op == first_op ? rsv : 0, p, k,
                            (flags & WS_SEND_BORROW) != 0);
        if (r < 0) {
            /* All or nothing: a message cut short would put the next one inside it. */
            outq_truncate(&c->out, &mark);
            c->st.frames_out = frames_out;
            return r;
        }
        if (k) { /* p may be NULL for an empty payload */
            p += k;
            len -= k;
        }
        op = WS_OP_CONTINUATION;
    } while (len > 0);
    return WS_OK;
}

static int check_text(const uint8_t *p, size_t len, ws_utf8_state *st, int fin)
{
    if (ws_utf8_validate(st, p, len) != len || (fin && !ws_utf8_complete(*st)))
        return WS_ERR_INVALID_UTF8;
    return WS_OK;
}

/* Queue one fragment of a message, compressed when permessage-deflate says so. */
static int send_payload(ws_conn *c, uint8_t op, const uint8_t *data, size_t len, int fin,
                        unsigned flags)
{
    uint8_t stack[512]; /* small messages compress without touching the allocator */
    const uint8_t *z;
    size_t zn;
    int r;

    if (!c->tx_msg_op && !ws__pmd_tx_begin(c->pmd, len, fin, flags))
        return send_frames(c, op, 0, data, len, fin, flags);
    if (!ws__pmd_tx_compressing(c->pmd))
        return send_frames(c, op, 0, data, len, fin, flags);
    r = ws__pmd_tx_compress(c->pmd, data, len, fin, stack, sizeof stack, &z, &zn);
    if (r == WS_OK)
        r = send_frames(c, op, c->tx_msg_op ? 0 : WS_RSV1, z, zn, fin, flags & ~WS_SEND_BORROW);
    ws__pmd_tx_done(c->pmd, fin, r == WS_OK);
    return r;
}

int ws_conn_send_fragment(ws_conn *c, uint32_t opcode, const void *data, size_t len, int fin,
                          unsigned flags)
{
    int r;
    ws_utf8_state u;

    if (!c || (!data && len) || (opcode != WS_OP_TEXT && opcode != WS_OP_BINARY))
        return WS_ERR_INVALID_ARG;
    if ((r = can_send(c)) < 0)
        return r;
    if (c->tx_msg_op && c->tx_msg_op != opcode)
        return WS_ERR_STATE;
    u = c->tx_msg_op ? c->tx_utf8 : WS_UTF8_ACCEPT;
    if (opcode == WS_OP_TEXT && (r = check_text(data, len, &u, fin)) < 0)
        return r;
    if (over_high_water(c, wire_size(c, len, c->frag_size)))
        return WS_ERR_WOULD_BLOCK;
    c->mem_refused = 0;
    r = send_payload(c, c->tx_msg_op ? WS_OP_CONTINUATION : (uint8_t)opcode, data, len, fin,
                     flags);
    if (r < 0)
        return budget_error(c, r);
    c->tx_utf8 = u;
    c->tx_msg_op = fin ? 0 : (uint8_t)opcode;
    if (fin)
        c->st.messages_out++;
    return WS_OK;
}

int ws_conn_send(ws_conn *c, uint32_t opcode, const void *data, size_t len, unsigned flags)
{
    if (c && c->tx_msg_op && can_send(c) == WS_OK)
        return WS_ERR_STATE;
    return ws_conn_send_fragment(c, opcode, data, len, 1, flags);
}

static int send_control(ws_conn *c, uint8_t op, const void *data, size_t len)
{
    int r;
    if (!c || (!data && len) || len > WS_FRAME_MAX_CONTROL)
        return WS_ERR_INVALID_ARG;
    if ((r = can_send(c)) < 0)
        return r;
    if (over_high_water(c, wire_size(c, len, 0)))
        return WS_ERR_WOULD_BLOCK;
    c->mem_refused = 0;
    if ((r = flush_pong(c)) < 0 || (r = queue_frame(c, op, 1, data, len, 0)) < 0)
        return budget_error(c, r);
    return WS_OK;
}

int ws_conn_ping(ws_conn *c, const void *data, size_t len)
{
    int r = send_control(c, WS_OP_PING, data, len);
    if (r == WS_OK)
        c->st.pings_sent++;
    return r;
}

int ws_conn_pong(ws_conn *c, const void *data, size_t len)
{
    return send_control(c, WS_OP_PONG, data, len);
}

int ws_conn_close(ws_conn *c, uint16_t code, const char *reason, size_t reason_len)
{
    ws_utf8_state u = WS_UTF8_ACCEPT;
    int r;

    if (!c || (!reason && reason_len))
        return WS_ERR_INVALID_ARG;
    if (c->state == WS_STATE_CONNECTING)
        return WS_ERR_STATE;
    if (c->close_sent || c->state == WS_STATE_CLOSED)
        return WS_ERR_CLOSED;
    if (code == 0 ? reason_len != 0 : !ws_close_code_valid(code))
        return code == 0 ? WS_ERR_INVALID_ARG : WS_ERR_CLOSE_CODE;
    if (reason_len > WS_FRAME_MAX_CONTROL - 2)
        return WS_ERR_INVALID_ARG;
    if (check_text((const uint8_t *)reason, reason_len, &u, 1) < 0)
        return WS_ERR_INVALID_UTF8;
    if ((r = queue_close(c, code, (const uint8_t *)reason, reason_len)) < 0)
        return r;
    c->state = WS_STATE_CLOSING;
    return WS_OK;
}

/* ---- output ---- */

int ws_conn_output(const ws_conn *c, ws_iovec *iov, int iovcnt)
{
    if (!c || (!iov && iovcnt > 0) || iovcnt < 0)
        return WS_ERR_INVALID_ARG;
    return iovcnt ? ws__outq_iov(&c->out, iov, iovcnt) : 0;
}

int ws_conn_output_ack(ws_conn *c, size_t n)
{
    if (!c)
        return WS_ERR_INVALID_ARG;
    int r = ws__outq_ack(&c->out, &c->alloc, n);
    if (r < 0)
        return r;
    c->st.bytes_out += n;
    if (n)
        c->t_out_progress = c->now;
    /* A pong held back by the high-water mark goes out once the queue has drained. */
    if (c->pong_pending && !c->close_sent && flush_pong(c) < 0)
        fail(c, WS_ERR_NOMEM, WS_CLOSE_INTERNAL_ERROR, 0);
    return WS_OK;
}

size_t ws_conn_buffered_amount(const ws_conn *c)
{
    if (!c)
        return 0;
    return ws__outq_pending(&c->out) +
           (c->pong_pending ? ws_frame_header_size(c->pong_len, c->role) + c->pong_len : 0);
}

uint64_t ws_conn_output_queued(const ws_conn *c)
{
    return c ? c->out.queued : 0;
}

uint64_t ws_conn_output_acked(const ws_conn *c)
{
    return c ? c->out.acked : 0;
}

int ws_conn_wants_shutdown(const ws_conn *c)
{
    if (!c || c->state != WS_STATE_CLOSED)
        return 0;
    /* After the close timeout, even output a stalled peer never reads is given up on. */
    if (c->eof || c->close_waited)
        return 1;
    if (ws__outq_pending(&c->out) > 0)
        return 0;
    return c->role == WS_ROLE_SERVER || c->failed;
}

/* ---- time ---- */

/* Last traffic we know the time of: input, or our timer ping. */
static uint64_t quiet_since(const ws_conn *c)
{
    return c->t_last_rx > c->t_last_ping ? c->t_last_rx : c->t_last_ping;
}

/* Receive-side memory may be given back only when no event, queued or last handed out,
 * points into it (ws.h: no call frees what an event still shows). */
static int rx_views_clear(const ws_conn *c)
{
    return c->ev_count == 0 && !c->view_live;
}

/* Buffers worth giving back once the connection has been quiet for a second. */
static int trimmable(const ws_conn *c)
{
    int rx = rx_views_clear(c);
    return (c->aux && !c->pong_pending && c->ctl_len == 0 && rx) ||
           (c->rbuf && !c->rx_msg_op && rx) || (c->ibuf && c->ipos == c->ilen && rx) ||
           (c->out.buf && ws__outq_pending(&c->out) == 0);
}

static void trim(ws_conn *c)
{
    ws__outq_trim(&c->out, &c->alloc);
    if (!rx_views_clear(c))
        return;
    if (c->aux && !c->pong_pending && c->ctl_len == 0) {
        ws__free(&c->alloc, c->aux, sizeof *c->aux);
        c->aux = NULL;
    }
    if (c->rbuf && !c->rx_msg_op) {
        ws__free(&c->alloc, c->rbuf, c->rcap);
        c->rbuf = NULL;
        c->rlen = c->rcap = 0;
    }
    if (c->ibuf && c->ipos == c->ilen) {
        ws__free(&c->alloc, c->ibuf, c->icap);
        c->ibuf = NULL;
        c->icap = c->ipos = c->ilen = 0;
    }
}

static void send_timer_ping(ws_conn *c)
{
    uint8_t id[8];
    c->ping_seq++;
    ws__store_be64(id, c->ping_seq);
    if (flush_pong(c) < 0 || queue_frame(c, WS_OP_PING, 1, id, sizeof id, 0)) {
        fail(c, WS_ERR_NOMEM, WS_CLOSE_INTERNAL_ERROR, 0);
        return;
    }
    c->st.pings_sent++;
    c->ping_outstanding = 1;
    c->t_last_ping = c->now;
}

uint64_t ws_conn_next_deadline(const ws_conn *c)
{
    uint64_t d = UINT64_MAX;
#define WS_MIN_DEADLINE_(t) \
    do {                    \
        if ((t) < d)        \
            d = (t);        \
    } while (0)
    if (!c || !c->clock_set)
        return d; /* no time origin yet: nothing can be due */
    if (!c->failed && !c->ev_count && inflate_pending(c))
        return c->now; /* an inflate step left work: due now, after the other connections */
    if (c->state == WS_STATE_CONNECTING && c->t_handshake)
        WS_MIN_DEADLINE_(c->t_open + c->t_handshake);
    if (c->state == WS_STATE_OPEN) {
        if (c->ping_outstanding && c->t_pong)
            WS_MIN_DEADLINE_(c->t_last_ping + c->t_pong);
        else if (c->t_ping)
            WS_MIN_DEADLINE_(c->t_last_ping + c->t_ping);
        if (c->t_idle)
            WS_MIN_DEADLINE_(c->t_last_rx + c->t_idle);
        if (trimmable(c)) /* one wake-up to give buffers back once quiet */
            WS_MIN_DEADLINE_(quiet_since(c) + QUIET_MS);
    }
    if (c->state == WS_STATE_CLOSING && c->t_close)
        WS_MIN_DEADLINE_(c->t_closing + c->t_close);
    if (c->state != WS_STATE_CLOSED && c->rx_msg_op && c->t_message)
        WS_MIN_DEADLINE_(c->t_msg_start + c->t_message);
    if (c->t_send && !c->close_waited && !c->eof && ws__outq_pending(&c->out) > 0)
        WS_MIN_DEADLINE_(c->t_out_progress + c->t_send);
    if (c->state == WS_STATE_CLOSED && !c->eof && !c->close_waited && c->t_close &&
        (ws__outq_pending(&c->out) > 0 || (c->role == WS_ROLE_CLIENT && !c->failed)))
        WS_MIN_DEADLINE_(c->t_closing + c->t_close);
#undef WS_MIN_DEADLINE_
    return d;
}

int ws_conn_tick(ws_conn *c, uint64_t now_ms)
{
    if (!c)
        return WS_ERR_INVALID_ARG;
    if (now_ms < c->now)
        now_ms = c->now; /* a monotonic clock never goes back; don't let timers wrap */
    if (!c->clock_set) {
        /* First tick: the time origin for every timer (a clock may well start at 0, so
         * "now == 0" cannot tell whether this happened). */
        c->clock_set = 1;
        c->t_open = c->t_last_rx = c->t_last_ping = now_ms;
    }
    c->now = now_ms;
    /* Quiet for a second: give back a large drained output buffer (busy connections keep it,
     * so sending allocates nothing per message). */
    if (now_ms - quiet_since(c) >= QUIET_MS)
        trim(c);

    /* Work an inflate step left for later (after the loop served the others). */
    if (!c->failed && !c->ev_count && inflate_pending(c))
        inflate_continue(c);
    /* Work in progress bounded in time: a message started must complete, queued output must
     * move (the peer reads). */
    if (c->state != WS_STATE_CLOSED && c->rx_msg_op && c->t_message &&
        now_ms >= c->t_msg_start + c->t_message)
        fail(c, WS_ERR_MESSAGE_TIMEOUT, WS_CLOSE_POLICY_VIOLATION, 1);
    if (c->t_send && !c->close_waited && ws__outq_pending(&c->out) > 0 &&
        now_ms >= c->t_out_progress + c->t_send) {
        fail(c, WS_ERR_SEND_TIMEOUT, WS_CLOSE_ABNORMAL, 0);
        c->close_waited = 1; /* the peer does not read: its output is given up */
    }

    switch (c->state) {
    case WS_STATE_CONNECTING:
        if (c->t_handshake && now_ms >= c->t_open + c->t_handshake) {
            fail(c, WS_ERR_HANDSHAKE_TIMEOUT, WS_CLOSE_ABNORMAL, 0);
            c->close_waited = 1; /* the peer is unresponsive: don't wait for it to read */
        }
        break;
    case WS_STATE_OPEN:
        if (c->ping_outstanding && c->t_pong && now_ms >= c->t_last_ping + c->t_pong) {
            fail(c, WS_ERR_PONG_TIMEOUT, WS_CLOSE_ABNORMAL, 0);
            c->close_waited = 1; /* presumed dead: its unread output is moot */
            break;
        }
        if (c->t_idle && now_ms >= c->t_last_rx + c->t_idle) {
            static const char why[] = "idle timeout";
            /* The reason first: a failure below must still end with the CLOSE event. */
            push_simple(c, WS_EV_ERROR, 0, NULL, 0);
            c->ev[(c->ev_head + c->ev_count - 1) % EVQ].error = WS_ERR_IDLE_TIMEOUT;
            if (queue_close(c, WS_CLOSE_NORMAL, (const uint8_t *)why, sizeof why - 1) < 0)
                fail(c, WS_ERR_NOMEM, WS_CLOSE_INTERNAL_ERROR, 0);
            else
                c->state = WS_STATE_CLOSING;
            break;
        }
        if (c->t_ping && !c->ping_outstanding && now_ms >= c->t_last_ping + c->t_ping)
            send_timer_ping(c);
        break;
    case WS_STATE_CLOSING:
        if (c->t_close && now_ms >= c->t_closing + c->t_close) {
            fail(c, WS_ERR_CLOSE_TIMEOUT, WS_CLOSE_ABNORMAL, 0);
            c->close_waited = 1; /* waited long enough already */
        }
        break;
    default:
        if (c->t_close && now_ms >= c->t_closing + c->t_close)
            c->close_waited = 1;
        break;
    }
    return WS_OK;
}
