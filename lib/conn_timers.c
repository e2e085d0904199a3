/*
 * The connection's timers: the next deadline, ws_conn_tick (handshake, ping/pong, idle, close,
 * message and send timeouts; inflate steps left for later), and giving buffers back once a
 * connection has been quiet.
 */
#include "conn.h"

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
           (c->act && c->act->rbuf && !c->rx_msg_op && rx) ||
           (c->ibuf && c->ipos == c->ilen && rx) || (c->act && ws__outq_trimmable(&c->act->out)) ||
           ws__conn_act_idle(c);
}

static void trim(ws_conn *c)
{
    if (c->act)
        ws__outq_trim(&c->act->out, CONN_ALLOC(c));
    if (!rx_views_clear(c))
        return;
    if (c->aux && !c->pong_pending && c->ctl_len == 0) {
        ws__free(CONN_ALLOC(c), c->aux, sizeof *c->aux);
        c->aux = NULL;
    }
    if (c->act && c->act->rbuf && !c->rx_msg_op) {
        ws__free(CONN_ALLOC(c), c->act->rbuf, c->act->rcap);
        c->act->rbuf = NULL;
        c->act->rlen = c->act->rcap = 0;
    }
    if (c->ibuf && c->ipos == c->ilen) {
        ws__free(CONN_ALLOC(c), c->ibuf, c->icap);
        c->ibuf = NULL;
        c->icap = c->ipos = c->ilen = 0;
    }
    if (ws__conn_act_idle(c))
        ws__conn_act_free(c); /* an idle connection is its core state alone */
}

static void send_timer_ping(ws_conn *c)
{
    uint8_t id[8];
    c->ping_seq++;
    ws__store_be64(id, c->ping_seq);
    if (ws__conn_flush_pong(c) < 0 || ws__conn_queue_frame(c, WS_OP_PING, 1, id, sizeof id, 0)) {
        ws__conn_fail(c, WS_ERR_NOMEM, WS_CLOSE_INTERNAL_ERROR, 0);
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
    if (!c || !(c->clock & CLOCK_SET))
        return d; /* no time origin yet: nothing can be due */
    if (!c->failed && !c->ev_count && ws__conn_inflate_pending(c))
        return c->now; /* an inflate step left work: due now, after the other connections */
    if (c->state == WS_STATE_CONNECTING && c->cfg->t_handshake)
        WS_MIN_DEADLINE_(c->t_phase + c->cfg->t_handshake);
    if (c->state == WS_STATE_OPEN) {
        if (c->ping_outstanding && c->cfg->t_pong)
            WS_MIN_DEADLINE_(c->t_last_ping + c->cfg->t_pong);
        else if (c->cfg->t_ping)
            WS_MIN_DEADLINE_(c->t_last_ping + c->cfg->t_ping);
        if (c->cfg->t_idle)
            WS_MIN_DEADLINE_(c->t_last_rx + c->cfg->t_idle);
        /* One wake-up to give buffers back once quiet; on a whole-second grid, so that the
         * deadline moves at most once a second however often input arrives. */
        if (trimmable(c))
            WS_MIN_DEADLINE_((quiet_since(c) / QUIET_MS + 2) * QUIET_MS);
    }
    if (c->state == WS_STATE_CLOSING && c->cfg->t_close)
        WS_MIN_DEADLINE_(c->t_phase + c->cfg->t_close);
    if (c->state != WS_STATE_CLOSED && c->rx_msg_op && c->act && c->cfg->t_message)
        WS_MIN_DEADLINE_(c->act->t_msg_start + c->cfg->t_message);
    if (c->cfg->t_send && !c->close_waited && !c->eof && c->act &&
        ws__outq_pending(&c->act->out) > 0)
        WS_MIN_DEADLINE_(c->t_out_progress + c->cfg->t_send);
    if (c->state == WS_STATE_CLOSED && !c->eof && !c->close_waited && c->cfg->t_close &&
        ((c->act && ws__outq_pending(&c->act->out) > 0) ||
         (c->role == WS_ROLE_CLIENT && !c->failed)))
        WS_MIN_DEADLINE_(c->t_phase + c->cfg->t_close);
#undef WS_MIN_DEADLINE_
    /* The last tick had no memory for a timer due: not again before the retry delay, so that
     * a loop sleeping until the deadline does not spin while memory is short. */
    if ((c->clock & CLOCK_RETRY) && !c->act && d < c->now + WS_TICK_RETRY_MS)
        d = c->now + WS_TICK_RETRY_MS;
    return d;
}

int ws_conn_tick(ws_conn *c, uint64_t now_ms)
{
    if (!c)
        return WS_ERR_INVALID_ARG;
    if (now_ms < c->now)
        now_ms = c->now; /* a monotonic clock never goes back; don't let timers wrap */
    c->clock &= (uint8_t)~CLOCK_RETRY; /* (this tick tries again) */
    if (!(c->clock & CLOCK_SET)) {
        /* First tick: the time origin for every timer (a clock may well start at 0, so
         * "now == 0" cannot tell whether this happened). */
        c->clock |= CLOCK_SET;
        c->t_last_rx = c->t_last_ping = now_ms;
        if (c->state == WS_STATE_CONNECTING)
            c->t_phase = now_ms; /* the handshake's time starts (a closing started before
                                    the clock keeps its time, 0) */
    }
    c->now = now_ms;
    /* Quiet for a second: give back a large drained output buffer (busy connections keep it,
     * so sending allocates nothing per message). */
    if (now_ms - quiet_since(c) >= QUIET_MS)
        trim(c);
    /* A timer due may queue events or output: they need the traffic state. Without memory
     * for it nothing more is done now; the timers stay due for the next tick. */
    if (!c->act && c->state != WS_STATE_CLOSED && ws_conn_next_deadline(c) <= now_ms) {
        c->mem_refused = 0;
        if (!ws__conn_act(c)) {
            c->clock |= CLOCK_RETRY;
            return ws__conn_budget_error(c, WS_ERR_NOMEM);
        }
    }

    /* Work an inflate step left for later (after the loop served the others). */
    if (!c->failed && !c->ev_count && ws__conn_inflate_pending(c))
        ws__conn_inflate_continue(c);
    /* Work in progress bounded in time: a message started must complete, queued output must
     * move (the peer reads). */
    if (c->state != WS_STATE_CLOSED && c->rx_msg_op && c->act && c->cfg->t_message &&
        now_ms >= c->act->t_msg_start + c->cfg->t_message)
        ws__conn_fail(c, WS_ERR_MESSAGE_TIMEOUT, WS_CLOSE_POLICY_VIOLATION, 1);
    if (c->cfg->t_send && !c->close_waited && c->act && ws__outq_pending(&c->act->out) > 0 &&
        now_ms >= c->t_out_progress + c->cfg->t_send) {
        ws__conn_fail(c, WS_ERR_SEND_TIMEOUT, WS_CLOSE_ABNORMAL, 0);
        c->close_waited = 1; /* the peer does not read: its output is given up */
    }

    switch (c->state) {
    case WS_STATE_CONNECTING:
        if (c->cfg->t_handshake && now_ms >= c->t_phase + c->cfg->t_handshake) {
            ws__conn_fail(c, WS_ERR_HANDSHAKE_TIMEOUT, WS_CLOSE_ABNORMAL, 0);
            c->close_waited = 1; /* the peer is unresponsive: don't wait for it to read */
        }
        break;
    case WS_STATE_OPEN:
        if (c->ping_outstanding && c->cfg->t_pong && now_ms >= c->t_last_ping + c->cfg->t_pong) {
            ws__conn_fail(c, WS_ERR_PONG_TIMEOUT, WS_CLOSE_ABNORMAL, 0);
            c->close_waited = 1; /* presumed dead: its unread output is moot */
            break;
        }
        if (c->cfg->t_idle && now_ms >= c->t_last_rx + c->cfg->t_idle) {
            static const char why[] = "idle timeout";
            /* The reason first: a failure below must still end with the CLOSE event. */
            ws__conn_push(c, WS_EV_ERROR, 0)->error = WS_ERR_IDLE_TIMEOUT;
            if (ws__conn_queue_close(c, WS_CLOSE_NORMAL, (const uint8_t *)why, sizeof why - 1) < 0)
                ws__conn_fail(c, WS_ERR_NOMEM, WS_CLOSE_INTERNAL_ERROR, 0);
            else
                c->state = WS_STATE_CLOSING;
            break;
        }
        if (c->cfg->t_ping && !c->ping_outstanding && now_ms >= c->t_last_ping + c->cfg->t_ping)
            send_timer_ping(c);
        break;
    case WS_STATE_CLOSING:
        if (c->cfg->t_close && now_ms >= c->t_phase + c->cfg->t_close) {
            ws__conn_fail(c, WS_ERR_CLOSE_TIMEOUT, WS_CLOSE_ABNORMAL, 0);
            c->close_waited = 1; /* waited long enough already */
        }
        break;
    default:
        if (c->cfg->t_close && now_ms >= c->t_phase + c->cfg->t_close)
            c->close_waited = 1;
        break;
    }
    return WS_OK;
}
