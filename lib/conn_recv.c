/*
 * The receive path of the connection: input kept for ws_conn_feed, frames -> messages
 * (reassembly, UTF-8, limits, permessage-deflate's inflate), control frames and the peer's
 * close, and handing events out.
 */
#include "conn.h"

#include <limits.h>

static void on_close_frame(ws_conn *c, const uint8_t *p, size_t n)
{
    unsigned code = WS_CLOSE_NO_STATUS;
    int by_peer = 0;

    if (n == 1) {
        ws__conn_fail(c, WS_ERR_CLOSE_PAYLOAD, WS_CLOSE_PROTOCOL_ERROR, 1);
        return;
    }
    if (n >= 2) {
        code = ws__load_be16(p);
        if (!ws_close_code_valid(code)) {
            ws__conn_fail(c, WS_ERR_CLOSE_CODE, WS_CLOSE_PROTOCOL_ERROR, 1);
            return;
        }
        ws_utf8_state u = WS_UTF8_ACCEPT;
        if (ws_utf8_validate(&u, p + 2, n - 2) != n - 2 || u != WS_UTF8_ACCEPT) {
            ws__conn_fail(c, WS_ERR_INVALID_UTF8, WS_CLOSE_INVALID_PAYLOAD, 1);
            return;
        }
    }
    c->close_received = 1;
    c->st.close_code_received = (uint16_t)code;
    if (!c->close_sent) {
        /* The peer started: echo its code (none for none), then we are done. */
        c->st.closed_by_peer = 1;
        by_peer = 1;
        /* A ping that came before this close still gets its pong (RFC 6455 5.5.2): the
         * close below flushes it first. */
        if (ws__conn_queue_close(c, code == WS_CLOSE_NO_STATUS ? 0 : (uint16_t)code, NULL, 0) < 0) {
            ws__conn_fail(c, WS_ERR_NOMEM, WS_CLOSE_INTERNAL_ERROR, 0);
            return;
        }
    }
    c->state = WS_STATE_CLOSED;
    c->t_phase = c->now;
    ws_event *e = ws__conn_push_data(c, WS_EV_CLOSE, 0, n > 2 ? p + 2 : NULL, n > 2 ? n - 2 : 0);
    e->close_code = (uint16_t)code;
    e->by_peer = (uint8_t)by_peer;
}

static void on_control(ws_conn *c, uint8_t op, const uint8_t *p, size_t n)
{
    switch (op) {
    case WS_OP_PING:
        if ((c->cfg->opts & OPT_AUTO_PONG) && !c->close_sent) {
            /* Answer every ping (peers such as Autobahn's case 2.10 count the pongs): an
             * earlier ping's pong still waiting is queued now. Above the high-water mark only
             * the latest is kept (RFC 6455 5.5.3 allows it), so a ping flood from a peer that
             * does not read cannot grow the queue. */
            if (c->pong_pending && (uint64_t)ws__outq_pending(&c->act->out) + WS_FRAME_MAX_HEADER +
                                           c->pong_len <= c->cfg->high_water)
                (void)ws__conn_flush_pong(c); /* on failure the older pong is dropped, as before */
            if (!ws__conn_aux(c)) {
                ws__conn_fail(c, WS_ERR_NOMEM, WS_CLOSE_INTERNAL_ERROR, 1);
                return;
            }
            memcpy(c->aux->pong_buf, p, n);
            c->pong_len = (uint8_t)n;
            c->pong_pending = 1;
            /* Queued now when the mark allows (output stays a pure accessor); else it waits
             * for an ack that drains the queue, the next send, or the close. */
            if (ws__conn_flush_pong(c) < 0) {
                ws__conn_fail(c, WS_ERR_NOMEM, WS_CLOSE_INTERNAL_ERROR, 1);
                return;
            }
        }
        ws__conn_push_data(c, WS_EV_PING, 0, p, n);
        break;
    case WS_OP_PONG:
        c->st.pongs_received++;
        uint8_t id[8];
        ws__store_be64(id, c->ping_seq);
        if (c->ping_outstanding && n == sizeof id && memcmp(p, id, n) == 0) {
            c->ping_outstanding = 0;
            c->st.last_rtt_ms = c->now - c->t_last_ping;
        }
        ws__conn_push_data(c, WS_EV_PONG, 0, p, n);
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
        if ((h->opcode == WS_OP_TEXT && (c->cfg->opts & OPT_REFUSE_TEXT)) ||
            (h->opcode == WS_OP_BINARY && (c->cfg->opts & OPT_REFUSE_BINARY)))
            return WS_ERR_DATA_TYPE;
        c->rx_msg_op = h->opcode;
        c->act->t_msg_start = c->now;
        c->act->rx_msg_len = 0;
        c->act->rlen = 0;
        c->rx_utf8 = WS_UTF8_ACCEPT;
    }
    if (h->payload_len > c->cfg->max_message - c->act->rx_msg_len)
        return WS_ERR_MESSAGE_TOO_BIG;
    if (h->opcode != WS_OP_CONTINUATION && (h->rsv & WS_RSV1))
        return ws__pmd_rx_begin(c->pmd); /* the decoder allows RSV1 only when negotiated */
    return WS_OK;
}

static int append_rbuf(ws_conn *c, const uint8_t *p, size_t n)
{
    if (n == 0)
        return WS_OK; /* rbuf may still be NULL: no pointer arithmetic on it */
    if (n > c->act->rcap - c->act->rlen) {
        size_t want = c->act->rlen + n, cap = c->act->rcap ? c->act->rcap : 1024;
        while (cap < want)
            cap = cap > SIZE_MAX / 2 ? want : cap * 2;
        if (cap > c->cfg->max_message && want <= c->cfg->max_message)
            cap = (size_t)c->cfg->max_message;
        uint8_t *q = ws__realloc(CONN_ALLOC(c), c->act->rbuf, c->act->rcap, cap);
        if (!q)
            return WS_ERR_NOMEM;
        c->act->rbuf = q;
        c->act->rcap = cap;
    }
    memcpy(c->act->rbuf + c->act->rlen, p, n);
    c->act->rlen += n;
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
    uint64_t left = c->cfg->max_message - c->act->rx_msg_len;
    return left >= SIZE_MAX ? SIZE_MAX : (size_t)left + 1;
}

/* Streaming: one chunk of a decompressed message (end: its last). */
static int inflated_chunk(ws_conn *c, const uint8_t *p, size_t n, int end)
{
    if (n > c->cfg->max_message - c->act->rx_msg_len)
        return WS_ERR_MESSAGE_TOO_BIG;
    c->act->rx_msg_len += n;
    if (c->rx_msg_op == WS_OP_TEXT &&
        (ws_utf8_validate(&c->rx_utf8, p, n) != n || (end && !ws_utf8_complete(c->rx_utf8))))
        return WS_ERR_INVALID_UTF8;
    if (n || end) {
        ws__conn_push_data(c, WS_EV_FRAGMENT, c->rx_msg_op, p, n)->fin = (uint8_t)end;
    }
    if (end)
        end_compressed(c);
    return WS_OK;
}

/* Streaming: a chunk of output filled up before the input was used; the next chunk is made
 * when the caller asks for the next event. */
static int inflate_append(ws_conn *c, const uint8_t *p, size_t n, int msg_end);

/* A compressed message whose output waits to be made: the next chunk when streaming, the
 * next step (WS_OPT_INFLATE_STEP) when reassembling. */
void ws__conn_inflate_continue(ws_conn *c)
{
    const uint8_t *out = NULL;
    size_t n = 0;
    int end = ws__pmd_rx_pending(c->pmd) == 2, r;

    if (c->cfg->opts & OPT_STREAMING) {
        r = ws__pmd_rx_stream(c->pmd, NULL, 0, end, inflate_room(c), &out, &n);
        if (r >= 0)
            r = inflated_chunk(c, out, n, r == 0 && end);
    } else {
        r = inflate_append(c, NULL, 0, end);
    }
    if (r < 0)
        ws__conn_fail(c, r, ws__conn_code_for_error(r), 1);
}

/* Inflate (more of) a compressed message into the reassembly buffer, at most
 * WS_OPT_INFLATE_STEP bytes per call; p NULL continues what an earlier step left. */
static int inflate_append(ws_conn *c, const uint8_t *p, size_t n, int msg_end)
{
    size_t old = c->act->rlen;
    int r = ws__pmd_rx_append(c->pmd, p, n, msg_end, &c->act->rbuf, &c->act->rlen, &c->act->rcap,
                              c->cfg->max_message, c->cfg->inflate_step);
    if (r < 0)
        return r;
    c->act->rx_msg_len = c->act->rlen;
    if (c->rx_msg_op == WS_OP_TEXT &&
        (ws_utf8_validate(&c->rx_utf8, c->act->rbuf + old, c->act->rlen - old) !=
             c->act->rlen - old ||
         (r == 0 && msg_end && !ws_utf8_complete(c->rx_utf8))))
        return WS_ERR_INVALID_UTF8;
    if (r == 0 && msg_end) {
        ws__conn_push_data(c, WS_EV_MESSAGE, c->rx_msg_op, c->act->rbuf, c->act->rlen);
        end_compressed(c);
    }
    return WS_OK;
}

/* Payload of a compressed message (RFC 7692 section 7.2.2): inflated into the reassembly
 * buffer, never beyond the message limit, or handed out in chunks when streaming. */
static int on_compressed(ws_conn *c, const uint8_t *p, size_t n, int msg_end)
{
    int r;

    if (c->cfg->opts & OPT_STREAMING) {
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
    c->act->rx_msg_len += fe->len;

    if (c->cfg->opts & OPT_STREAMING) {
        /* Streaming hands out FRAGMENT events only, whole messages included, so the event
         * type does not depend on how the transport split the bytes. */
        if (fe->len || msg_end) {
            ws__conn_push_data(c, WS_EV_FRAGMENT, c->rx_msg_op, fe->data, fe->len)->fin =
                (uint8_t)msg_end;
        }
    } else if (whole) {
        /* The common case: the complete message lies in the caller's buffer. No copy. */
        ws__conn_push_data(c, WS_EV_MESSAGE, c->rx_msg_op, fe->data, fe->len);
    } else {
        int r = append_rbuf(c, fe->data, fe->len);
        if (r < 0)
            return r;
        if (msg_end)
            ws__conn_push_data(c, WS_EV_MESSAGE, c->rx_msg_op, c->act->rbuf, c->act->rlen);
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
        ws__conn_fail(c, WS_ERR_DEFLATE_RSV1, WS_CLOSE_PROTOCOL_ERROR, 1); /* RFC 7692: never compressed */
    else if (!WS_OPCODE_IS_CONTROL(h->opcode) && (r = start_data_frame(c, h)) < 0)
        ws__conn_fail(c, r, ws__conn_code_for_error(r), 1);
}

/* A chunk of a frame's payload, unmasked. */
static void on_payload(ws_conn *c, const ws_frame_event *fe)
{
    int r;
    if (WS_OPCODE_IS_CONTROL(fe->header->opcode)) {
        const uint8_t *p = fe->data;
        if (!(fe->offset == 0 && fe->frame_end)) {
            /* Split across feeds: gather it (at most 125 bytes). */
            if (!ws__conn_aux(c)) {
                ws__conn_fail(c, WS_ERR_NOMEM, WS_CLOSE_INTERNAL_ERROR, 1);
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
        ws__conn_fail(c, r, ws__conn_code_for_error(r), 1);
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

    if (!ws__frame_decoder_idle(&c->act->dec))
        return 0;
    hl = ws__frame_parse_header(in, n, ws__frame_decoder_flags(&c->act->dec),
                                ws__frame_decoder_max(&c->act->dec), &h);
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

/*
 * The hot path: a server between messages, the next frame a whole unfragmented masked text or
 * binary message with a 7- or 16-bit length, all of it in the input, on a connection without
 * extensions or streaming. Parsed, unmasked, validated and made into the MESSAGE event in one
 * straight line, with the same checks as the general path (which takes every other case: it
 * returns 0 for anything else). Returns the bytes used.
 */
/* fast_message may be tried: an open server without extensions or streaming, between frames
 * and messages (its traffic state there). */
static inline int fast_ready(const ws_conn *c)
{
    return c->fast_rx == FAST_RX_SERVER && c->state == WS_STATE_OPEN && !c->rx_msg_op &&
           c->act && ws__frame_decoder_idle(&c->act->dec);
}

/* The longest message fast_message takes: the lower of the frame and message limits. */
static inline uint64_t fast_max(const ws_conn *c)
{
    return c->cfg->max_frame < c->cfg->max_message ? c->cfg->max_frame : c->cfg->max_message;
}

/* fast_message's rarer half: a payload over 64 bytes is unmasked here (short ones already
 * were), and a text payload that is not all ASCII is validated. Returns 1 if it is fine, 0 if
 * the connection failed (invalid UTF-8) -- or, when it may not fail now (ahead: events of the
 * batch wait before it), 2 with the payload masked again as it came, to be taken later.
 * Out of line, so that the common case needs few registers. */
static __attribute__((noinline)) int long_or_text(ws_conn *c, unsigned b0, uint8_t *p,
                                                  size_t len, const uint8_t *key, int ahead)
{
    if (len > 64)
        ws_mask(p, len, key, 0);
    if (b0 == (0x80u | WS_OP_TEXT)) {
        ws_utf8_state u = WS_UTF8_ACCEPT;
        if (len <= 64 ? !ws__utf8_whole(p, len)
                      : ws_utf8_validate(&u, p, len) != len || u != WS_UTF8_ACCEPT) {
            if (ahead) {
                ws_mask(p, len, key, 0); /* as it came: processed again after the batch */
                return 2;
            }
            c->st.frames_in++;
            ws__conn_fail(c, WS_ERR_INVALID_UTF8, WS_CLOSE_INVALID_PAYLOAD, 1);
            return 0;
        }
    }
    return 1;
}

/* The MESSAGE event goes to *e: the queue's next free slot, or the caller's array
 * (ws_conn_feed_events). Returns the bytes taken, 0 if the message is not one for this path;
 * on a failure (invalid UTF-8, only when !ahead) the bytes taken too, with c->failed set and
 * *e untouched -- the failure's events went to the queue. (maxlen: the lower of the frame and
 * message limits -- passed in, as the unmasking stores could change them for all the compiler
 * knows) */
static inline __attribute__((always_inline)) size_t fast_message(ws_conn *c, ws_event *e,
                                                                  uint64_t maxlen, uint8_t *in,
                                                                  size_t n, uint8_t evflags,
                                                                  int ahead)
{
    unsigned b0 = in[0], b1 = in[1];
    size_t len = b1 & 0x7Fu, hl = 6;

    if ((b0 != (0x80u | WS_OP_TEXT) && b0 != (0x80u | WS_OP_BINARY)) || !(b1 & 0x80u))
        return 0;
    if (len == 126) {
        if (n < 8)
            return 0;
        len = ws__load_be16(in + 2);
        if (len < 126)
            return 0; /* non-minimal: the general path decides */
        hl = 8;
    } else if (len > 126) {
        return 0;
    }
    if (n - hl < len || len > maxlen)
        return 0;
    uint8_t *p = in + hl;
    if (len > 64 || (!ws__unmask_short_ascii(p, len, in + hl - 4) && b0 == (0x80u | WS_OP_TEXT))) {
        int ok = long_or_text(c, b0, p, len, in + hl - 4, ahead);
        if (ok != 1)
            return ok ? 0 : hl + len; /* not now (ahead), or failed: invalid UTF-8 */
    }
    e->type = WS_EV_MESSAGE;
    e->error = 0;
    e->close_code = 0;
    e->opcode = (uint8_t)(b0 & 0x0Fu);
    e->fin = 0;
    e->by_peer = 0;
    e->flags = evflags;
    e->reserved_[0] = 0;
    e->reserved_[1] = 0;
    e->data = len ? p : NULL;
    e->len = len;
    c->st.frames_in++;
    c->st.messages_in++;
    return hl + len;
}

static int feed_frames(ws_conn *c, uint8_t *in, size_t n, size_t *consumed)
{
    size_t pos = 0;

    if (n >= 6 && c->ev_count == 0 && ws__frame_decoder_idle(&c->act->dec) &&
        !c->rx_msg_op) {
        /* (kept input, or the caller's buffer fed in place: then its events say so) */
        uint8_t evflags =
            c->act->in_lo && in >= c->act->in_lo && in < c->act->in_hi ? WS_EVF_IN_INPUT : 0;
        size_t used = c->fast_rx == FAST_RX_SERVER
                          ? fast_message(c, &c->act->ev[c->ev_head], fast_max(c), in, n,
                                         evflags, 0) /* (the queue is empty) */
                          : 0;
        if (used) {
            if (!c->failed)
                c->ev_count++;
            *consumed = used;
            return WS_OK;
        }
    }

    /* Nothing waits on an empty feed (an empty frame's data follows its header within one
     * call), and in may be NULL: no arithmetic on it. */
    if (n == 0) {
        *consumed = 0;
        return WS_OK;
    }

    /* Until an event is ready, or an inflate step left work for later. */
    while (c->ev_count == 0 && !ws__conn_inflate_pending(c)) {
        ws_frame_event fe;
        size_t used = 0, avail = n - pos;
        /* Compressed input is inflated a bounded piece at a time when streaming: what is left
         * of it when a chunk of output fills up is copied, so keep that small. */
        int bounded = (c->cfg->opts & OPT_STREAMING) && ws__pmd_rx_in_message(c->pmd);
        if (bounded && avail > WS__PMD_IN_CHUNK)
            avail = WS__PMD_IN_CHUNK;
        if (!bounded && avail >= 2 && (used = whole_frame(c, in + pos, avail)) > 0) {
            pos += used;
            continue;
        }
        int r = ws__frame_decoder_step(&c->act->dec, in + pos, avail, &used, &fe);
        pos += used;
        if (r < 0) {
            ws__conn_fail(c, r, ws__conn_code_for_error(r), 1);
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


/* Events wait to be taken (or decompressed data to be made into the next one). */
static int pending(const ws_conn *c)
{
    return c->ev_count || (!c->failed && ws__conn_inflate_pending(c));
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
        r = ws__conn_feed_handshake(c, in, n, consumed);
    else
        r = feed_frames(c, in, n, consumed);
    c->st.bytes_in += *consumed;
    return r;
}

static void end_of_file(ws_conn *c)
{
    c->eof = 1;
    if (c->state != WS_STATE_CLOSED)
        ws__conn_fail(c, WS_ERR_EOF, WS_CLOSE_ABNORMAL, 0);
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
    uint8_t *q = ws__realloc(CONN_ALLOC(c), c->ibuf, c->icap, cap);
    if (!q)
        return 0;
    c->ibuf = q;
    c->icap = (uint32_t)cap;
    return 1;
}

/* Make room for n more kept bytes, without moving what queued events point into: as much as
 * wanted up to the limit, else at least a small buffer. With no buffer yet, no event can
 * point into one: it is made even while events wait (an OPEN not yet taken). */
static size_t input_room(ws_conn *c, size_t n)
{
    if (!c->ev_count || !c->ibuf) {
        if (c->ibuf && c->ipos > 0) { /* (no buffer: nothing kept, ipos is 0) */
            memmove(c->ibuf, c->ibuf + c->ipos, c->ilen - c->ipos);
            c->ilen -= c->ipos;
            c->ipos = 0;
        }
        size_t lim = c->cfg->max_input, want = c->ilen + n;
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
    if (!ws__conn_act(c))
        return ws__conn_budget_error(c, WS_ERR_NOMEM); /* nothing taken */
    while (*taken < n) {
        k = input_room(c, n - *taken);
        if (k == 0) /* full while events wait (drain them), or no memory for a buffer */
            return c->ilen == 0 ? ws__conn_budget_error(c, WS_ERR_NOMEM) : WS_OK;
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

static __attribute__((noinline)) int feed_inplace_slow(ws_conn *c, uint8_t *in, size_t n,
                                                        size_t *consumed)
{
    int r;

    if (consumed)
        *consumed = 0; /* a count: valid after any return (ws.h rule 1) */
    if (!c || !consumed || (!in && n))
        return WS_ERR_INVALID_ARG;
    c->view_live = 0;
    if (pending(c) || c->ipos < c->ilen)
        return WS_ERR_EVENTS_PENDING; /* (or decompressed data, or kept input, first) */
    if (c->state == WS_STATE_CLOSED || c->close_received || c->eof || n == 0 ||
        c->hs_state == HS_IDLE)
        return feed_core(c, in, n, consumed); /* (discarded, nothing, or refused) */
    c->mem_refused = 0;
    if (!ws__conn_act(c))
        return ws__conn_budget_error(c, WS_ERR_NOMEM); /* nothing consumed */
    c->act->in_lo = in;
    c->act->in_hi = in + n;
    r = feed_core(c, in, n, consumed);
    c->act->in_lo = c->act->in_hi = NULL;
    return r;
}

int ws_conn_feed_inplace(ws_conn *c, uint8_t *in, size_t n, size_t *consumed)
{
    /* The hot path first: an open server between messages, nothing queued or kept, a whole
     * small message in (fast_message says; it takes nothing else). */
    if (c && consumed && in && n >= 6 && !c->ev_count && c->ipos == c->ilen && fast_ready(c)) {
        ws_event *ring = c->act->ev;
        uint64_t maxlen = fast_max(c);
        unsigned head = c->ev_head;
        size_t used = fast_message(c, &ring[head], maxlen, in, n, WS_EVF_IN_INPUT, 0);
        if (used) {
            /* A batch: more whole messages while the queue keeps room for one more and the
             * three events a failure and a tick may add behind it (ws__conn_push). */
            if (!c->failed) {
                unsigned k = 1;
                while (k <= EVQ - 4 && n - used >= 6) {
                    /* (ahead of the batch's first event: a message that would fail the
                     * connection is left for the next feed, after the others were handled) */
                    size_t more = fast_message(c, &ring[(head + k) & (EVQ - 1)], maxlen,
                                               in + used, n - used, WS_EVF_IN_INPUT, 1);
                    if (!more)
                        break;
                    used += more;
                    k++;
                }
                c->ev_count = (uint8_t)k;
            }
            c->view_live = 0;
            c->t_last_rx = c->now;
            c->st.bytes_in += used;
            *consumed = used;
            return WS_OK;
        }
    }
    return feed_inplace_slow(c, in, n, consumed);
}

int ws_conn_feed_eof(ws_conn *c)
{
    if (!c)
        return WS_ERR_INVALID_ARG;
    c->mem_refused = 0;
    if (c->state != WS_STATE_CLOSED && !ws__conn_act(c))
        return ws__conn_budget_error(c, WS_ERR_NOMEM); /* no room for the events: try again */
    if (c->ipos < c->ilen && c->state != WS_STATE_CLOSED) {
        c->eof_pending = 1; /* after what was fed before it */
        process_kept(c);
        return WS_OK;
    }
    end_of_file(c);
    return WS_OK;
}

/* The next event of a batch: as next_event_slow, but the views already handed out in this
 * batch stay alive (nothing that would free or reuse them runs: only kept input is
 * processed, never a decompression step). */
static int take_more(ws_conn *c, ws_event *ev, size_t ev_size)
{
    if (c->ev_count == 0) {
        if (c->failed || ws__conn_inflate_pending(c))
            return 0; /* a decompression step may reuse what the batch's views point into */
        /* Only a whole valid data message is taken ahead of the caller: nothing that answers,
         * fails or closes the connection (a control frame, a violation, the end of file) is
         * processed before the batch's earlier events are handled -- the caller may still
         * reply to them. The rest waits for the next call. */
        size_t used = 0;
        if (c->ipos + 6 <= c->ilen && !c->eof && fast_ready(c))
            used = fast_message(c, &c->act->ev[c->ev_head], fast_max(c), c->ibuf + c->ipos,
                                c->ilen - c->ipos, 0, 1);
        if (used == 0)
            return 0;
        c->ev_count = 1; /* ahead: never a failure */
        c->ipos += (uint32_t)used;
        c->st.bytes_in += used;
        c->t_last_rx = c->now;
    }
    const ws_event *e = &c->act->ev[c->ev_head];
    ws__struct_copy(ev, ev_size, e, sizeof *e);
    c->ev_head = (uint8_t)((c->ev_head + 1) & (EVQ - 1));
    c->ev_count--;
    return 1;
}

static __attribute__((noinline)) int next_event_slow(ws_conn *c, ws_event *ev, size_t ev_size)
{
    if (!c || !ev || ev_size < WS__MIN_EVENT)
        return WS_ERR_INVALID_ARG;
    if (c->ev_count == 0) {
        c->view_live = 0; /* the previous event's view ends here */
        /* Made only now, so the previous chunk's view stayed valid until this call. */
        if (!c->failed && ws__conn_inflate_pending(c))
            ws__conn_inflate_continue(c);
        else if (c->ipos < c->ilen || c->eof_pending)
            process_kept(c);
        if (c->ev_count == 0)
            return 0;
    }
    const ws_event *e = &c->act->ev[c->ev_head];
    ws__struct_copy(ev, ev_size, e, sizeof *e);
    c->view_live = e->len != 0;
    c->ev_head = (uint8_t)((c->ev_head + 1) & (EVQ - 1));
    c->ev_count--;
    return 1;
}

/* ws_conn_next_events from the n-th event on, the general way. */
static __attribute__((noinline)) int next_events_slow(ws_conn *c, ws_event *evs, size_t max,
                                                      size_t ev_size, size_t n)
{
    if (!c || !evs || ev_size < WS__MIN_EVENT || max > SIZE_MAX / ev_size)
        return WS_ERR_INVALID_ARG;
    while (n < max && n < INT_MAX) {
        ws_event *e = (ws_event *)(void *)((uint8_t *)evs + n * ev_size);
        int r = n == 0 ? next_event_slow(c, e, ev_size) : take_more(c, e, ev_size);
        if (r <= 0)
            break;
        n++;
        /* Data the next event may overwrite ends the batch (the views must all stay valid). */
        const uint8_t *d = e->data;
        if (e->len && !(e->flags & WS_EVF_IN_INPUT) &&
            !(c->ibuf && d >= c->ibuf && d < c->ibuf + c->icap))
            break;
    }
    if (n > 0)
        c->view_live = 1; /* conservatively: some view may point into our memory */
    return (int)n;
}

int ws_conn_next_events(ws_conn *c, ws_event *evs, size_t max, size_t ev_size)
{
    size_t n = 0;

    /* The common case first, in the caller's layout (ours): the queued events whose views
     * cannot end early (in the caller's buffer, or no data) copied straight -- and then, with
     * nothing kept, nothing to inflate and no end of file waiting, that is all there is. */
    if (c && evs && ev_size == sizeof *evs && max <= SIZE_MAX / sizeof *evs) {
        size_t k = c->ev_count < max ? c->ev_count : max;
        unsigned head = c->ev_head;
        const ws_event *ring = k ? c->act->ev : NULL; /* (events queued: it is there) */
        for (; n < k; n++) {
            const ws_event *e = &ring[head];
            if (e->len && !(e->flags & WS_EVF_IN_INPUT))
                break;
            evs[n] = *e;
            head = (head + 1) & (EVQ - 1);
        }
        c->ev_head = (uint8_t)head;
        c->ev_count = (uint8_t)(c->ev_count - n);
        if (n == max || (!c->ev_count && !c->pmd && c->ipos == c->ilen && !c->eof_pending)) {
            c->view_live = 0; /* (what these events show is in the caller's buffer, or none) */
            return (int)n;
        }
    }
    return next_events_slow(c, evs, max, ev_size, n);
}

static __attribute__((noinline)) int feed_events_slow(ws_conn *c, uint8_t *in, size_t n,
                                                      size_t *consumed, ws_event *evs,
                                                      size_t max, size_t ev_size)
{
    if (consumed)
        *consumed = 0;
    if (!c || !consumed || !evs || max == 0 || ev_size < WS__MIN_EVENT ||
        max > SIZE_MAX / ev_size)
        return WS_ERR_INVALID_ARG; /* (before any input is taken) */
    if (c->ev_count == 0) {
        int r = ws_conn_feed_inplace(c, in, n, consumed);
        if (r < 0)
            return r;
    }
    /* (with events from before: they come first, and no input is taken) */
    return ws_conn_next_events(c, evs, max, ev_size);
}

int ws_conn_feed_events(ws_conn *c, uint8_t *in, size_t n, size_t *consumed, ws_event *evs,
                        size_t max, size_t ev_size)
{
    /* The hot path: as ws_conn_feed_inplace's, but the batch is decoded straight into the
     * caller's array -- no queue in between -- and is as long as the array (each message after
     * the first only if it cannot fail: nothing fails ahead of the events before it). */
    if (c && consumed && in && evs && ev_size == sizeof *evs && max && n >= 6 && !c->ev_count &&
        c->ipos == c->ilen && fast_ready(c)) {
        uint64_t maxlen = fast_max(c);
        size_t used = fast_message(c, evs, maxlen, in, n, WS_EVF_IN_INPUT, 0), k = 1;
        if (used) {
            if (c->failed) {
                k = 0; /* the failure's ERROR and CLOSE are queued: taken below */
            } else {
                while (k < max && n - used >= 6) {
                    size_t more = fast_message(c, evs + k, maxlen, in + used, n - used,
                                               WS_EVF_IN_INPUT, 1);
                    if (!more)
                        break;
                    used += more;
                    k++;
                }
            }
            c->t_last_rx = c->now;
            c->st.bytes_in += used;
            *consumed = used;
            if (k == 0)
                return ws_conn_next_events(c, evs, max, ev_size);
            c->view_live = 0; /* (the views are in the caller's buffer, not in ours) */
            return (int)k;
        }
    }
    return feed_events_slow(c, in, n, consumed, evs, max, ev_size);
}

int ws_conn_next_event(ws_conn *c, ws_event *ev, size_t ev_size)
{
    /* The common answers first: the next event in the caller's layout (ours), or none with
     * nothing kept or left to inflate. */
    if (c && ev && ev_size == sizeof *ev) {
        if (c->ev_count) {
            const ws_event *e = &c->act->ev[c->ev_head];
            *ev = *e;
            c->view_live = e->len != 0;
            c->ev_head = (uint8_t)((c->ev_head + 1) & (EVQ - 1));
            c->ev_count--;
            return 1;
        }
        if (!c->pmd && c->ipos == c->ilen && !c->eof_pending) {
            c->view_live = 0;
            return 0;
        }
    }
    return next_event_slow(c, ev, ev_size);
}

