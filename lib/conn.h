/*
 * Private to the connection layer (lib/conn*.c): the connection's state and what its files
 * share. The connection is split by job:
 *   conn.c            life cycle, options, memory accounting, the event queue, failing
 *   conn_recv.c       the receive path: input buffering, frames -> messages, control frames
 *   conn_send.c       the send path and the output calls: frames into the output queue
 *   conn_handshake.c  the opening handshake glue (request, accept, reject, client start)
 *   conn_timers.c     deadlines, ws_conn_tick, giving buffers back when quiet
 */
#ifndef WS_LIB_CONN_H
#define WS_LIB_CONN_H

#include "deflate.h"
#include "internal.h"
#include "utf8.h"

/* The event queue's slots (a power of two). ws_conn_feed_inplace fills it with up to EVQ - 3
 * whole messages at once; the other steps stop at their first event. */
enum { EVQ = 8 };
/* A connection quiet this long (ms) gives its buffers back (ws_conn_tick). */
enum { QUIET_MS = 1000 };
/* Smallest input buffer ws_conn_feed allocates. */
enum { IBUF_MIN = 4096 };

/* Option bits kept in ws_config.opts. */
enum {
    OPT_AUTO_PONG = 1u << 0,
    OPT_STREAMING = 1u << 1,
    OPT_REFUSE_TEXT = 1u << 2,
    OPT_REFUSE_BINARY = 1u << 3,
    OPT_LENIENT = 1u << 4
};

/* A configuration (ws_config, config.c): shared by the connections made with it, or private
 * to one connection that changed an option of its own (conn->cfg_own). */
struct ws_config {
    ws_allocator alloc; /* the caller's allocator */
    ws_random_fn rng;
    void *rng_user;
    uint64_t max_message, max_frame, high_water, mem_limit;
    uint32_t frag_size;
    uint32_t borrow_min; /* WS_OPT_BORROW_MIN_SIZE */
    uint32_t t_handshake, t_ping, t_pong, t_idle, t_close, t_message, t_send;
    uint32_t inflate_step; /* WS_OPT_INFLATE_STEP, 0: no bound */
    uint32_t max_input;
    uint32_t users;   /* connections made with it and still using it */
    uint8_t opts, policy;
    uint8_t released; /* ws_config_free was called: its last connection frees it */
    ws__pmd *pmd;     /* the permessage-deflate options, NULL while all are the defaults */
};

extern const ws_config ws__config_default;
/* Option values (not the deflate ones): WS_OK, WS_ERR_RANGE, WS_ERR_OPTION. */
int ws__config_set(ws_config *cfg, uint32_t opt, uint64_t v);
int ws__config_get(const ws_config *cfg, uint32_t opt, uint64_t *value);
/* A connection starts or stops using cfg (the default one is not counted). */
void ws__config_use(const ws_config *cfg);
void ws__config_unuse(const ws_config *cfg);
/* Give a new connection's deflate state cfg's deflate options. */
int ws__config_apply_deflate(const ws_config *cfg, ws__pmd **pp, const ws_allocator *a);

/* The counters of ws_conn_stats (its `buffered` is computed when asked). */
struct conn_stats {
    uint64_t bytes_in, bytes_out, frames_in, frames_out, messages_in, messages_out;
    uint64_t pings_sent, pongs_received, last_rtt_ms;
    uint16_t close_code_sent, close_code_received;
    uint8_t closed_by_peer;
};

/* What a connection needs while traffic flows: the frame decoder, the output queue, the event
 * queue and the message being reassembled. Made when the connection first needs it, given
 * back once it has been quiet with nothing queued or in progress (ws_conn_tick), so an idle
 * connection is its core state alone (struct ws_conn). */
struct conn_act {
    ws_frame_decoder dec;
    ws_outq out;
    ws_event ev[EVQ]; /* a small ring: ws_conn's ev_head, ev_count */
    uint8_t *rbuf;    /* reassembly of fragmented (or chunked) messages */
    size_t rlen, rcap;
    uint64_t rx_msg_len, t_msg_start;
    /* the caller's buffer during ws_conn_feed_inplace, for WS_EVF_IN_INPUT */
    const uint8_t *in_lo, *in_hi;
};

struct ws_conn {
    const ws_config *cfg;  /* options, the caller's allocator, the random hook */
    ws_budget *budget;     /* shared memory budget, NULL if none */
    uint64_t live;         /* bytes allocated through CONN_ALLOC and not freed */
    struct conn_act *act;  /* NULL while idle (conn_act above) */

    /* input given to ws_conn_feed (read-only bytes), kept until processed */
    uint8_t *ibuf;

    /* time, in the caller's milliseconds. t_phase: while connecting, when the clock started
     * (the handshake timeout counts from it); once closing, when the closing began. */
    uint64_t now, t_phase, t_last_rx, t_last_ping, t_out_progress;
    uint64_t ping_seq;      /* the timer ping's payload is this, big-endian */
    uint64_t out_done;      /* output queued and acknowledged in conn_acts given back */
    struct conn_aux *aux;   /* control-frame scratch, allocated when first needed */

    struct conn_stats st;

    ws_handshake *hs;  /* only while connecting (or to show a failed client handshake) */
    char *subprotocol; /* negotiated, NUL-terminated; NULL if none */
    ws__pmd *pmd;      /* permessage-deflate options and state; NULL until an option is set */

    /* the small fields, together */
    ws_utf8_state rx_utf8, tx_utf8;
    uint32_t icap, ipos, ilen; /* ibuf's size, next byte, bytes held */
    uint32_t subprotocol_len;
    uint8_t ev_head, ev_count;
    uint8_t view_live;   /* the last event handed out points into our memory: keep it */
    uint8_t eof_pending; /* end of file seen while fed input was still buffered */
    uint8_t mem_refused; /* an allocation was refused by the limit or the budget */
    uint8_t cfg_own;     /* cfg is this connection's own copy (allocated through alloc) */
    uint8_t role, state;
    uint8_t fast_rx; /* FAST_RX_*: which straight-line receive path applies */
    uint8_t fast_tx; /* FAST_TX_*: which straight-line send path applies */
    uint8_t rx_msg_op, tx_msg_op; /* message in progress each way, 0 if none */
    uint8_t close_sent, close_received, failed, eof, close_waited;
    uint8_t ping_outstanding;
    uint8_t clock; /* CLOCK_* bits */
    uint8_t ctl_len, pong_pending, pong_len, key_pos;
    uint8_t hs_state;  /* HS_* below */
};

/* What only some connections need, some of the time: kept out of the core state so an idle
 * connection stays small, and released again once it is quiet (ws_conn_tick). */
struct conn_aux {
    uint8_t ctl_buf[WS_FRAME_MAX_CONTROL];  /* a control frame split across feeds */
    uint8_t pong_buf[WS_FRAME_MAX_CONTROL]; /* the payload of the pong still owed */
    uint8_t keys[32]; /* client masking keys, drawn from the random hook in batches */
};

/* Bits of conn->clock. */
enum {
    CLOCK_SET = 1,  /* the first tick set the time origin */
    CLOCK_RETRY = 2 /* the tick at c->now found a timer due and no memory for the traffic
                       state: ws_conn_next_deadline says c->now + WS_TICK_RETRY_MS */
};

/* Values of conn->fast_tx, kept by ws__conn_decoder_flags. */
enum {
    FAST_TX_NONE = 0,  /* compression, fragmentation or a client: the general path */
    FAST_TX_SERVER = 1 /* whole small copied messages take fast_send (conn_send.c) */
};

/* Values of conn->fast_rx, kept by ws__conn_decoder_flags. */
enum {
    FAST_RX_NONE = 0,  /* extensions, streaming, refused types or a client: the general path */
    FAST_RX_SERVER = 1 /* whole small masked messages take fast_message (conn_recv.c) */
};

enum {
    HS_NONE = 0,     /* open from the start, or done */
    HS_READING = 1,  /* server reading the request / client reading the response */
    HS_DECIDING = 2, /* server: request complete, waiting for accept or reject */
    HS_IDLE = 3      /* client: ws_conn_client_start not called yet */
};

/* ---- the event queue (conn.c) ---- */

/* The next free slot of the event queue, zeroed but for type and opcode; the caller fills in
 * the rest. Never fails: a step produces at most EVQ events (feeding stops at the first one;
 * a failure adds two), which an assertion checks. */
ws_event *ws__conn_push(ws_conn *c, uint32_t type, uint8_t opcode);
/* An event with a data view (flagged WS_EVF_IN_INPUT when it lies in the caller's buffer). */
ws_event *ws__conn_push_data(ws_conn *c, uint32_t type, uint8_t opcode, const uint8_t *data,
                             size_t len);

/* ---- memory (conn.c) ---- */

/* The allocator the layers allocate through for the connection: it counts (the connection's
 * limit and budget), then calls cfg->alloc. Made where it is used, never stored -- the layers
 * that keep an allocator (deflate, the handshake) keep a copy -- so the connection carries no
 * copy of its own. */
void *ws__conn_malloc(void *user, size_t n);
void *ws__conn_realloc(void *user, void *p, size_t old_n, size_t n);
void ws__conn_free(void *user, void *p, size_t n);
#define CONN_ALLOC(c)                                                                          \
    (&(const ws_allocator){sizeof(ws_allocator), (void *)(c), ws__conn_malloc,                 \
                           ws__conn_realloc, ws__conn_free})

/* ---- shared helpers ---- */

/* The decoder's flags and the fast-path choice, from the role, options and extensions: called
 * whenever one of those changes. */
void ws__conn_decoder_flags(ws_conn *c);
struct conn_aux *ws__conn_aux(ws_conn *c);
/* The connection's traffic state (struct conn_act), made if it is not there yet; NULL when no
 * memory is left for it (nothing changed then). Every path that may queue an event or output,
 * or decode, calls it first. */
struct conn_act *ws__conn_act(ws_conn *c);
/* Nothing queued, in progress or shown: conn_act may be given back (ws__conn_act_free). */
int ws__conn_act_idle(const ws_conn *c);
void ws__conn_act_free(ws_conn *c);
/* Fail the connection (RFC 6455 7.1.7): ERROR and CLOSE events, and the close frame with
 * code when send_frame and one can still be sent. */
void ws__conn_fail(ws_conn *c, int err, uint16_t code, int send_frame);
/* End the connection without a close handshake: CLOSED, and the CLOSE event (code, why). */
void ws__conn_end(ws_conn *c, uint16_t code, const char *why);

static inline uint16_t ws__conn_code_for_error(int err)
{
    return (uint16_t)ws_close_code_for_error(err);
}

/* A refused allocation reports which bound refused it. */
static inline int ws__conn_budget_error(const ws_conn *c, int r)
{
    return r == WS_ERR_NOMEM && c->mem_refused ? WS_ERR_BUDGET : r;
}

/* Compressed output waits to be made (a connection without deflate never calls out). */
static inline int ws__conn_inflate_pending(const ws_conn *c)
{
    return c->pmd && ws__pmd_rx_pending(c->pmd);
}

/* conn_send.c */
void ws__conn_out_starting(ws_conn *c);
int ws__conn_queue_frame(ws_conn *c, uint8_t op, int fin, const uint8_t *data, size_t len,
                         int borrow);
int ws__conn_flush_pong(ws_conn *c);
int ws__conn_queue_close(ws_conn *c, uint16_t code, const uint8_t *reason, size_t rlen);

/* conn_recv.c */
void ws__conn_inflate_continue(ws_conn *c);

/* conn_handshake.c */
int ws__conn_feed_handshake(ws_conn *c, const uint8_t *in, size_t n, size_t *consumed);

#endif
