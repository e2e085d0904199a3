/*
 * The send path of the connection: messages, fragments, pings, pongs and the close frame into
 * the output queue (outq.c), backpressure, and the output calls the caller writes from.
 */
#include "conn.h"

static int next_mask_key(ws_conn *c, uint8_t key[4])
{
    struct conn_aux *x = ws__conn_aux(c);
    if (!x)
        return WS_ERR_NOMEM;
    if (c->key_pos >= sizeof x->keys) {
        if (c->cfg->rng(c->cfg->rng_user, x->keys, sizeof x->keys) != 0)
            return WS_ERR_RANDOM;
        c->key_pos = 0;
    }
    memcpy(key, x->keys + c->key_pos, 4);
    c->key_pos += 4;
    return WS_OK;
}

/* ---- output ---- */

/* The send timeout counts from when the queue last moved, or stopped being empty. */
void ws__conn_out_starting(ws_conn *c)
{
    if (ws__outq_pending(&c->act->out) == 0)
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
    int copy = masked || !borrow || len < c->cfg->borrow_min;
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
    ws__conn_out_starting(c);
    uint8_t refused = c->mem_refused;
    c->mem_refused = 0;
    p = ws__outq_reserve(&c->act->out, CONN_ALLOC(c), hl + (copy ? len : 0));
    if (!p && c->mem_refused) /* a bigger block past a bound: the least that will do */
        p = ws__outq_reserve_least(&c->act->out, CONN_ALLOC(c), hl + (copy ? len : 0));
    if (!p)
        return WS_ERR_NOMEM;
    c->mem_refused = refused;
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
        ws__outq_commit(&c->act->out, hl + len);
    } else {
        ws__outq_commit(&c->act->out, hl);
        /* Cannot fail: ws_conn_send_fragment made room for every piece first. */
        if ((r = ws__outq_borrow(&c->act->out, CONN_ALLOC(c), data, len, NULL)) < 0)
            return r;
    }
    c->st.frames_out++;
    return WS_OK;
}

int ws__conn_queue_frame(ws_conn *c, uint8_t op, int fin, const uint8_t *data, size_t len,
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
    if (!force && ws__outq_pending(&c->act->out) > 0 &&
        (uint64_t)ws__outq_pending(&c->act->out) + WS_FRAME_MAX_HEADER + c->pong_len >
            c->cfg->high_water)
        return WS_OK;
    int r = ws__conn_queue_frame(c, WS_OP_PONG, 1, c->aux->pong_buf, c->pong_len, 0);
    if (r == WS_OK)
        c->pong_pending = 0;
    return r;
}

int ws__conn_flush_pong(ws_conn *c)
{
    return flush_pong_if(c, 0);
}

int ws__conn_queue_close(ws_conn *c, uint16_t code, const uint8_t *reason, size_t rlen)
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
    r = ws__conn_queue_frame(c, WS_OP_CLOSE, 1, payload, n, 0);
    if (r == WS_OK) {
        c->close_sent = 1;
        c->st.close_code_sent = code ? code : WS_CLOSE_NO_STATUS;
        c->t_phase = c->now;
    }
    return r;
}


/* ---- sending ---- */

/* Backpressure: would `bytes` more exceed the high-water mark? Applies the policy. */
static int over_high_water(ws_conn *c, uint64_t bytes)
{
    uint64_t pending = ws__outq_pending(&c->act->out);
    /* An empty queue takes one message of any size: "wait for the queue to drain" must be
     * an answer that can come true (the bound is max(mark, one message)). */
    if (pending == 0 || (bytes <= c->cfg->high_water && pending <= c->cfg->high_water - bytes))
        return 0;
    if (c->cfg->policy != WS_POLICY_ERROR && !c->close_sent) {
        uint16_t code = c->cfg->policy == WS_POLICY_CLOSE_1013 ? WS_CLOSE_TRY_AGAIN_LATER
                                                          : WS_CLOSE_MESSAGE_TOO_BIG;
        ws__conn_fail(c, WS_ERR_OUTPUT_OVERFLOW, code, 1);
    }
    return 1;
}

/* May a frame be sent now? Also makes the traffic state the output queue lives in. */
static int can_send(ws_conn *c)
{
    if (c->state == WS_STATE_CONNECTING)
        return WS_ERR_STATE;
    if (c->state != WS_STATE_OPEN || c->close_sent)
        return WS_ERR_CLOSED;
    if (!c->act) {
        c->mem_refused = 0;
        if (!ws__conn_act(c))
            return ws__conn_budget_error(c, WS_ERR_NOMEM);
    }
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

/* rsv goes on the first frame only (RFC 7692: RSV1 marks the message, not each frame). */
static int send_frames(ws_conn *c, uint8_t first_op, uint8_t rsv, const uint8_t *p, size_t len,
                       int fin, unsigned flags)
{
    size_t frag = c->cfg->frag_size ? c->cfg->frag_size : len;
    uint8_t op = first_op;
    ws_outq_mark mark;
    uint64_t frames_out;
    int r;

    if ((r = ws__conn_flush_pong(c)) < 0)
        return r;
    ws__outq_mark(&c->act->out, &mark);
    frames_out = c->st.frames_out;
    do {
        size_t k = len < frag ? len : frag;
        r = queue_frame_rsv(c, op, fin && k == len, op == first_op ? rsv : 0, p, k,
                            (flags & WS_SEND_BORROW) != 0);
        if (r < 0) {
            /* All or nothing: a message cut short would put the next one inside it. */
            ws__outq_rollback(&c->act->out, CONN_ALLOC(c), &mark);
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
    uint8_t stack[WS__PMD_TX_STACK]; /* small messages compress without touching the allocator */
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
    if (over_high_water(c, wire_size(c, len, c->cfg->frag_size)))
        return WS_ERR_WOULD_BLOCK;
    c->mem_refused = 0;
    if ((flags & WS_SEND_BORROW) && data) {
        /* Room for each borrowed piece and the release record, so that neither can fail
         * once frames are queued. */
        size_t pieces = c->cfg->frag_size && len > c->cfg->frag_size ? len / c->cfg->frag_size + 1 : 1;
        if ((r = ws__outq_room(&c->act->out, CONN_ALLOC(c), pieces + 1)) < 0)
            return ws__conn_budget_error(c, r);
    }
    r = send_payload(c, c->tx_msg_op ? WS_OP_CONTINUATION : (uint8_t)opcode, data, len, fin,
                     flags);
    if (r < 0)
        return ws__conn_budget_error(c, r);
    if ((flags & WS_SEND_BORROW) && data)
        /* released once written */
        (void)ws__outq_borrow(&c->act->out, CONN_ALLOC(c), NULL, 0, data);
    c->tx_utf8 = u;
    c->tx_msg_op = fin ? 0 : (uint8_t)opcode;
    if (fin)
        c->st.messages_out++;
    return WS_OK;
}

/*
 * The hot path of sending: an open server's whole text or binary message under 64 KiB, copied,
 * on a connection without compression or fragmentation, nothing else owed first (no message
 * open, no pong waiting), under the high-water mark, room at the queue's tail: header and
 * payload written with one reservation. Returns 1 when done, 0 to take the general path (which
 * also reports every error).
 */
static __attribute__((noinline)) int text_valid(const void *data, size_t len)
{
    if (len <= 64 && ws__all_ascii(data, len))
        return 1;
    ws_utf8_state u = WS_UTF8_ACCEPT;
    return ws_utf8_validate(&u, data, len) == len && ws_utf8_complete(u);
}

/* The straight line's conditions, room in the queue's tail block aside. */
static inline __attribute__((always_inline)) int fast_send_may(const ws_conn *c, uint32_t opcode,
                                                               const void *data, size_t len,
                                                               size_t pending, size_t hl)
{
    return c->fast_tx == FAST_TX_SERVER && c->state == WS_STATE_OPEN && !c->close_sent &&
           !c->tx_msg_op && !c->pong_pending && len <= 0xFFFF && (data || !len) &&
           (opcode == WS_OP_TEXT || opcode == WS_OP_BINARY) &&
           pending + hl + len <= c->cfg->high_water;
}

static inline __attribute__((always_inline)) int fast_send(ws_conn *c, uint32_t opcode,
                                                           const void *data, size_t len)
{
    if (!c->act)
        return 0; /* (the general path makes it) */
    ws_outq *q = &c->act->out;
    size_t hl = len < 126 ? 2 : 4, pending = ws__outq_pending(q);

    if (!fast_send_may(c, opcode, data, len, pending, hl))
        return 0;
    uint8_t *p = ws__outq_room_now(q, hl + len);
    if (!p)
        return 0;
    p[0] = (uint8_t)(0x80u | opcode);
    if (hl == 2) {
        p[1] = (uint8_t)len;
    } else {
        p[1] = 126;
        ws__store_be16(p + 2, (uint16_t)len);
    }
    /* The bookkeeping first, the payload last: nothing is needed after a copy that calls out
     * (nobody sees the queue in between). */
    if (pending == 0)
        c->t_out_progress = c->now; /* the send timeout counts from here */
    ws__outq_commit(q, hl + len);
    c->st.frames_out++;
    c->st.messages_out++;
    if (len >= 8 && len <= 16) { /* two overlapping words: no call for the smallest messages */
        memcpy(p + hl, data, 8);
        memcpy(p + hl + len - 8, (const uint8_t *)data + len - 8, 8);
    } else if (len) {
        memcpy(p + hl, data, len);
    }
    return 1;
}

/* Text (validated first, then the straight line) and everything the straight line does not
 * take. Out of line, so that a binary message's straight line calls nothing before its copy
 * and needs no saved registers. */
static __attribute__((noinline)) int send_slow(ws_conn *c, uint32_t opcode, const void *data,
                                                size_t len, unsigned flags)
{
    if (c && c->act && !(flags & WS_SEND_BORROW) &&
        (opcode == WS_OP_BINARY ||
         (opcode == WS_OP_TEXT && (data || !len) && text_valid(data, len)))) {
        /* (invalid text: the general path reports it) */
        if (fast_send(c, opcode, data, len))
            return WS_OK;
        /* In a run of sends the straight line's usual miss is a full tail block: a new one,
         * then the straight line. (If the memory is refused, the general path says so.) */
        ws_outq *q = &c->act->out;
        size_t hl = len < 126 ? 2 : 4;
        if (fast_send_may(c, opcode, data, len, ws__outq_pending(q), hl) &&
            !ws__outq_room_now(q, hl + len)) {
            c->mem_refused = 0;
            if (ws__outq_reserve_slow(q, CONN_ALLOC(c), hl + len) &&
                fast_send(c, opcode, data, len))
                return WS_OK;
        }
    }
    if (c && c->tx_msg_op && can_send(c) == WS_OK)
        return WS_ERR_STATE;
    return ws_conn_send_fragment(c, opcode, data, len, 1, flags);
}

int ws_conn_send(ws_conn *c, uint32_t opcode, const void *data, size_t len, unsigned flags)
{
    if (c && !(flags & WS_SEND_BORROW) && opcode == WS_OP_BINARY &&
        fast_send(c, opcode, data, len))
        return WS_OK;
    return send_slow(c, opcode, data, len, flags);
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
    if ((r = ws__conn_flush_pong(c)) < 0 || (r = ws__conn_queue_frame(c, op, 1, data, len, 0)) < 0)
        return ws__conn_budget_error(c, r);
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
    c->mem_refused = 0;
    if (!ws__conn_act(c))
        return ws__conn_budget_error(c, WS_ERR_NOMEM);
    if ((r = ws__conn_queue_close(c, code, (const uint8_t *)reason, reason_len)) < 0)
        return r;
    c->state = WS_STATE_CLOSING;
    return WS_OK;
}

/* ---- output ---- */

int ws_conn_output(const ws_conn *c, ws_iovec *iov, int iovcnt)
{
    if (!c || (!iov && iovcnt > 0) || iovcnt < 0)
        return WS_ERR_INVALID_ARG;
    return iovcnt && c->act ? ws__outq_iov(&c->act->out, iov, iovcnt) : 0;
}

int ws_conn_output_take(ws_conn *c, size_t n)
{
    if (!c || (!c->act && n))
        return WS_ERR_INVALID_ARG; /* (more than is there: nothing is) */
    return c->act ? ws__outq_take(&c->act->out, n) : WS_OK;
}

int ws_conn_next_released(ws_conn *c, const void **data)
{
    if (!c || !data)
        return WS_ERR_INVALID_ARG;
    *data = NULL;
    return c->act ? ws__outq_released(&c->act->out, data) : 0;
}

int ws_conn_output_discard(ws_conn *c)
{
    if (!c)
        return WS_ERR_INVALID_ARG;
    if (!c->act && c->state != WS_STATE_CLOSED && !ws__conn_act(c))
        return WS_ERR_NOMEM; /* no room for the events saying so: nothing changed */
    /* As if written, without counting it as written: borrowed payloads become released. */
    if (c->act)
        (void)ws__outq_ack(&c->act->out, CONN_ALLOC(c), ws__outq_pending(&c->act->out));
    c->pong_pending = 0;
    c->close_waited = 1; /* nothing more is waited for on the way out */
    if (c->state != WS_STATE_CLOSED)
        ws__conn_fail(c, WS_ERR_OUTPUT_DISCARDED, WS_CLOSE_ABNORMAL, 0);
    return WS_OK;
}

int ws_conn_output_ack(ws_conn *c, size_t n)
{
    if (!c)
        return WS_ERR_INVALID_ARG;
    if (!c->act)
        return n ? WS_ERR_INVALID_ARG : WS_OK; /* (more than is there: nothing is) */
    int r = ws__outq_ack(&c->act->out, CONN_ALLOC(c), n);
    if (r < 0)
        return r;
    c->st.bytes_out += n;
    if (n)
        c->t_out_progress = c->now;
    /* A pong held back by the high-water mark goes out once the queue has drained. */
    if (c->pong_pending && !c->close_sent && ws__conn_flush_pong(c) < 0)
        ws__conn_fail(c, WS_ERR_NOMEM, WS_CLOSE_INTERNAL_ERROR, 0);
    return WS_OK;
}

size_t ws_conn_buffered_amount(const ws_conn *c)
{
    if (!c)
        return 0;
    return (c->act ? ws__outq_pending(&c->act->out) : 0) +
           (c->pong_pending ? ws_frame_header_size(c->pong_len, c->role) + c->pong_len : 0);
}

uint64_t ws_conn_output_queued(const ws_conn *c)
{
    return c ? c->out_done + (c->act ? ws__outq_queued(&c->act->out) : 0) : 0;
}

uint64_t ws_conn_output_acked(const ws_conn *c)
{
    return c ? c->out_done + (c->act ? ws__outq_acked(&c->act->out) : 0) : 0;
}

int ws_conn_wants_shutdown(const ws_conn *c)
{
    if (!c || c->state != WS_STATE_CLOSED)
        return 0;
    /* After the close timeout, even output a stalled peer never reads is given up on. */
    if (c->eof || c->close_waited)
        return 1;
    if (c->act && ws__outq_pending(&c->act->out) > 0)
        return 0;
    return c->role == WS_ROLE_SERVER || c->failed;
}

