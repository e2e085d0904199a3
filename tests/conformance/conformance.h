/*
 * The conformance suite: a scripted WebSocket peer built on libws's raw frame encoder and
 * decoder, and the cases it plays, modelled on the groups of Autobahn|Testsuite (1 framing,
 * 2 ping/pong, 3 reserved bits, 4 reserved opcodes, 5 fragmentation, 6 UTF-8, 7 close, 9
 * limits, 10 auto-fragmentation). The same case runs in both directions: the tester as a
 * client against the echo servers (libws as server), and the tester as a server that
 * `wsc --echo` connects to (libws as client).
 *
 * A case sends what it likes (any bits, any chopping), records what came back (messages,
 * pongs, "timeout" marks), and declares the outcomes it accepts: an OK list, optionally a
 * NON-STRICT list, and how the connection must end (who closes, which codes, clean or not).
 * The engine judges like Autobahn: events compared to each list, then the closing behaviour.
 */
#ifndef CONFORMANCE_H
#define CONFORMANCE_H

#include "ws.h"

#include <stddef.h>
#include <stdint.h>

typedef enum { EV_MSG = 1, EV_PONG, EV_PING, EV_TIMEOUT } peer_ev_kind;

typedef struct peer_ev {
    peer_ev_kind kind;
    uint8_t opcode; /* EV_MSG: WS_OP_TEXT or WS_OP_BINARY */
    char label;     /* EV_TIMEOUT: 'A', 'B'... */
    uint8_t *data;  /* owned by the event list (received) or the case arena (expected) */
    size_t len;
} peer_ev;

typedef struct peer_evlist {
    peer_ev *v;
    size_t n, cap;
} peer_evlist;

enum { MAX_CODES = 4 };

typedef struct peer peer;

/* Send flags for peer_frame(). */
enum {
    SEND_SYNC = 1u << 0 /* "frame-wise chops": this frame is its own write */
};

/* What the case expects; filled by the case function through the helpers below. */
typedef struct peer_expect {
    peer_evlist ok, nonstrict;
    int has_nonstrict;
    int informational;   /* Autobahn reports the case as INFORMATIONAL */
    int closed_by_me;    /* 1: the tester starts the closing handshake */
    int require_clean;
    uint16_t codes[MAX_CODES];
    int ncodes;
    unsigned timeout_ms; /* closeAfter / killAfter after the actions */
    int kill_after;      /* 1: drop TCP at the timeout instead of closing */
    int suppress_close;  /* do not close when the events match (the case closes itself) */
} peer_expect;

/* ---- for case functions ---- */

/* Allocate n bytes that live until the case ends (NULL never: aborts on failure). */
uint8_t *peer_alloc(peer *p, size_t n);
/* n bytes: the pattern repeated. */
uint8_t *peer_fill(peer *p, const char *pattern, size_t n);

/* Queue one frame; chop > 0 sends it in writes of chop bytes. Returns 0, or -1 when the
 * connection is already closing (the frame is then not sent, as Autobahn would not). */
int peer_frame(peer *p, int fin, unsigned rsv, unsigned opcode, const void *data, size_t len,
               size_t chop, unsigned flags);
/* Only a header (payload to follow with peer_frame_data), for chopping inside a frame. */
int peer_frame_begin(peer *p, int fin, unsigned opcode, uint64_t len);
int peer_frame_data(peer *p, const void *data, size_t len);
/* A whole message, auto-fragmented into frames of at most frag bytes (0: one frame). */
int peer_message(peer *p, unsigned opcode, const void *data, size_t len, size_t frag);
/* A close frame with code (0: no payload) and reason; or a raw close payload. */
int peer_close(peer *p, uint16_t code, const char *reason, size_t rlen);
int peer_close_raw(peer *p, const void *payload, size_t len, size_t header_len_force);
/* Push queued output, then wait ms while reading. Returns 1 (and records ("timeout", label)
 * when label != 0) if the connection is still open afterwards, 0 if the peer closed it. */
int peer_wait(peer *p, unsigned ms, char label);
/* Wait until n events are recorded (or the connection ends, or ms pass). 1 if reached. */
int peer_wait_events(peer *p, size_t n, unsigned ms);

peer_expect *peer_exp(peer *p);
void expect_msg(peer *p, int nonstrict, unsigned opcode, const void *data, size_t len);
void expect_pong(peer *p, int nonstrict, const void *data, size_t len);
void expect_timeout(peer *p, int nonstrict, char label);
/* The tester closes (code 1000 and any extra accepted codes), clean close required. */
void expect_close_by_me(peer *p, unsigned timeout_ms);
/* The peer must fail the connection with code (clean not required). */
void expect_fail(peer *p, uint16_t code, unsigned timeout_ms);

/* ---- the case table ---- */

typedef struct conf_case {
    char id[16];
    const char *desc;
    void (*run)(peer *p, const struct conf_case *c);
    long a, b;
    const uint8_t *data;
    size_t len;
    int valid;
} conf_case;

/* The independent UTF-8 check the runner uses on what it receives (RFC 3629). */
int conf_utf8_ok(const uint8_t *s, size_t n);

/* Fill *out with every case (malloc'd array); returns the count. quick caps group 9. */
size_t conf_cases(conf_case **out, int quick);

#endif
