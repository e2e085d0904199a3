/*
 * The conformance suite: a scripted WebSocket peer built on libws's raw frame encoder and
 * decoder, and the cases it plays, modelled on the groups of Autobahn|Testsuite (1 framing,
 * 2 ping/pong, 3 reserved bits, 4 reserved opcodes, 5 fragmentation, 6 UTF-8, 7 close, 9
 * limits, 10 auto-fragmentation, and with zlib 12 permessage-deflate message sizes and 13 its
 * parameter matrix). The same case runs in both directions: the tester as a
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
/* The same, compressed with the permessage-deflate agreed for the connection (RSV1 on the
 * first frame; frag counts compressed bytes). Returns -1 too when nothing was agreed. */
int peer_message_deflate(peer *p, unsigned opcode, const void *data, size_t len, size_t frag);
/* 1 if permessage-deflate was agreed on this connection. */
int peer_deflate_active(const peer *p);
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
    char id[32];
    const char *desc;
    void (*run)(peer *p, const struct conf_case *c);
    long a, b;
    const uint8_t *data;
    size_t len;
    int valid;
    /* Groups 12/13: the tester as a client offers pmd_offer (a Sec-WebSocket-Extensions
     * value); as a server it answers the client's offer with pmd_answer's parameters (those
     * the offer allows). NULL: permessage-deflate is neither offered nor accepted. */
    const char *pmd_offer, *pmd_answer;
    int count; /* groups 12/13: messages to send, one at a time */
} conf_case;

/* The independent UTF-8 check the runner uses on what it receives (RFC 3629). */
int conf_utf8_ok(const uint8_t *s, size_t n);

/* Fill *out with every case (malloc'd array); returns the count. quick caps groups 9, 12
 * and 13. Groups 12 and 13 only when built with zlib (conf_have_zlib()). */
size_t conf_cases(conf_case **out, int quick);

/* ---- the tester's own permessage-deflate (pmd.c, zlib directly) ---- */

int conf_have_zlib(void);

/* One element of a Sec-WebSocket-Extensions value. Window bits: 0 absent, 1 present without
 * a value (client_max_window_bits in an offer), else 8..15. */
typedef struct tp_elem {
    char name[40];
    int snct, cnct, smwb, cmwb;
    int bad; /* a parameter breaks RFC 7692 section 7 (why says which) */
    char why[96];
} tp_elem;

/* Parse s[0..n) into at most max elements; returns the count. response: the rules of an
 * answer (client_max_window_bits needs a value). */
int tp_parse(const char *s, size_t n, tp_elem *out, int max, int response);
int tp_is_pmd(const tp_elem *e);
/* 1 if r may answer offer o (RFC 7692 section 7.1), else 0 with the reason in why. */
int tp_answers(const tp_elem *o, const tp_elem *r, char *why, size_t whylen);

typedef struct tpmd tpmd;
/* Our compressor (tx) and decompressor (rx): windows 8..15 and no-context-takeover flags. */
tpmd *tpmd_new(int tx_bits, int tx_nct, int rx_bits, int rx_nct);
void tpmd_free(tpmd *z);
/* Compress one message; *out (without the 00 00 ff ff tail) stays valid until the next call. */
int tpmd_compress(tpmd *z, const uint8_t *in, size_t n, const uint8_t **out, size_t *outlen);
/* Decompress one message into a malloc'd *out; -1 with err on invalid data or over limit. */
int tpmd_decompress(tpmd *z, const uint8_t *in, size_t n, uint8_t **out, size_t *outlen,
                    size_t limit, char *err, size_t errlen);

#endif
