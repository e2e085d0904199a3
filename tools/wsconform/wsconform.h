/*
 * wsconform: an Autobahn|Testsuite-compatible conformance tester, built on libws's public API
 * (the raw frame encoder, the frame decoder and ws_checker) and its own permessage-deflate peer
 * on zlib. The cases are those of Autobahn's groups 1-7, 9, 10, 12 and 13 with Autobahn's
 * numbering and verdict rules: the tester sends what a case says (any bits, any chopping),
 * records what comes back (messages, pongs, "timeout" marks) and compares it with the outcomes
 * the case accepts -- an OK list and optionally a NON-STRICT list -- then judges how the
 * connection ended (who closed, with which code, cleanly or not).
 *
 * Files: peer.c (the scripted peer, the wire log, the judge), cases.c (the case table),
 * pmd.c (permessage-deflate), json.c (a small JSON reader and writer), report.c (Autobahn's
 * report files and the HTML index), spec.c (command-line and fuzzingclient.json settings, case
 * patterns), wsconform.c (the two modes and the command line).
 */
#ifndef WSCONFORM_H
#define WSCONFORM_H

#include "ws.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- settings ---- */

/* Sizes and waits. Autobahn's values are the defaults (wc_opts_autobahn); "ci" and "quick"
 * are smaller runs (wc_opts_profile). */
typedef struct wc_opts {
    size_t max_message;   /* group 9: messages above this are cut to it (0: Autobahn's sizes) */
    unsigned rtt_count;   /* 9.7 / 9.8: messages per case (Autobahn: 1000) */
    unsigned pmd_count;   /* 12 / 13: messages per case (Autobahn: 1000) */
    size_t pmd_bytes;     /* 12 / 13: payload bytes per case at most (0: no cap); at least
                             pmd_min messages are sent whatever the cap */
    unsigned pmd_min;
    unsigned wait_ms;     /* Autobahn's continueLater(1) (6.4.x, 5.19, 5.20) */
    unsigned min_kill_ms; /* killAfter / closeAfter shorter than this are lengthened to it */
    unsigned close_ms;    /* closing handshake and TCP drop waits (Autobahn: 1 s) */
    unsigned setup_ms;    /* connect + opening handshake */
    int strict;           /* NON-STRICT and FAILED BY CLIENT fail the run too */
    int verbose;
} wc_opts;

void wc_opts_autobahn(wc_opts *o);
/* "autobahn", "ci" or "quick"; 0, or -1 for an unknown name. */
int wc_opts_profile(wc_opts *o, const char *name);

/* ---- verdicts ---- */

typedef enum {
    V_OK,
    V_NON_STRICT,
    V_INFORMATIONAL,
    V_UNIMPLEMENTED,
    V_FAILED,
    V_WRONG_CODE,      /* behaviorClose only */
    V_UNCLEAN,         /* behaviorClose only */
    V_FAILED_BY_CLIENT /* behaviorClose only */
} wc_verdict;

const char *wc_verdict_name(wc_verdict v);
/* The case's overall verdict from behavior and behaviorClose, as the one-line summary shows
 * it: FAILED if either failed, NON-STRICT if either was non-strict, else the behavior. */
wc_verdict wc_overall(wc_verdict behavior, wc_verdict close);
/* 1 if the overall verdict fails a run (NON-STRICT too when strict). */
int wc_fails(wc_verdict overall, int strict);

/* ---- events a case sends and expects ---- */

typedef enum { EV_MSG = 1, EV_PONG, EV_TIMEOUT } peer_ev_kind;

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

/* What the case expects (Autobahn's expected / expectedClose). */
typedef struct peer_expect {
    peer_evlist ok, nonstrict;
    int has_nonstrict;
    int informational;   /* behavior and behaviorClose become INFORMATIONAL */
    int closed_by_me;    /* 1: the tester starts the closing handshake */
    int require_clean;
    uint16_t codes[MAX_CODES];
    int ncodes;
    int wrong_code_fatal;     /* group 7: WRONG CODE fails the behavior too */
    int wrong_endpoint_fatal; /* group 6: a close by the wrong endpoint fails the behavior */
    int suppress_close;       /* do not close when the events match (the case closes itself) */
    int counted;              /* 9.x, 12.x, 13.x: the case sets its own behavior (below) */
    wc_verdict counted_behavior;
    char counted_result[160];
} peer_expect;

/* ---- for case functions (peer.c) ---- */

const wc_opts *peer_opts(const peer *p);
uint8_t *peer_alloc(peer *p, size_t n);
uint8_t *peer_fill(peer *p, const char *pattern, size_t n);

/* Queue one frame; chop > 0 sends it in writes of chop bytes. Returns 0, or -1 when the
 * connection is already closing (the frame is then not sent, as Autobahn would not). */
int peer_frame(peer *p, int fin, unsigned rsv, unsigned opcode, const void *data, size_t len,
               size_t chop, unsigned flags);
/* A frame of len bytes whose payload is pattern repeated (Autobahn's payload_len). */
int peer_frame_rep(peer *p, int fin, unsigned opcode, const char *pattern, size_t plen,
                   size_t len, size_t chop);
/* Extension cases: a frame masked the wrong way for our role; a frame whose 64-bit length
 * has its top bit set (5 bytes of payload follow). */
int peer_frame_wrong_mask(peer *p, unsigned opcode, const void *data, size_t len);
int peer_frame_len64_msb(peer *p);
/* Only a header (payload to follow with peer_frame_data), for chopping inside a frame. */
int peer_frame_begin(peer *p, int fin, unsigned opcode, uint64_t len);
int peer_frame_data(peer *p, const void *data, size_t len);
/* A whole message, auto-fragmented into frames of at most frag bytes (0: one frame). */
int peer_message(peer *p, unsigned opcode, const void *data, size_t len, size_t frag);
/* The same compressed with the permessage-deflate agreed (RSV1 on the first frame; frag
 * counts compressed bytes). -1 also when nothing was agreed. */
int peer_message_deflate(peer *p, unsigned opcode, const void *data, size_t len, size_t frag);
int peer_deflate_active(const peer *p);
/* A close frame: code 0 = no payload. */
int peer_close(peer *p, uint16_t code, const char *reason, size_t rlen);
int peer_close_raw(peer *p, const void *payload, size_t len);
/* Autobahn's continueLater(ms, tag): push output, wait ms reading. 1 (and ("timeout", label)
 * recorded when label) if the connection is still open afterwards, 0 if not. */
int peer_wait(peer *p, unsigned ms, char label);
/* Wait until n events are recorded (or the connection ends, or ms pass). 1 if reached. */
int peer_wait_events(peer *p, size_t n, unsigned ms);
/* The wire log on / off (Autobahn switches it off around bulk traffic). */
void peer_wirelog(peer *p, int on);
/* The last event received (NULL if none). */
const peer_ev *peer_last_event(const peer *p);
size_t peer_events(const peer *p);

peer_expect *peer_exp(peer *p);
void expect_msg(peer *p, int nonstrict, unsigned opcode, const void *data, size_t len);
void expect_pong(peer *p, int nonstrict, const void *data, size_t len);
void expect_timeout(peer *p, int nonstrict, char label);
/* expectedClose: closedByMe, the codes accepted (first one is what we close with),
 * requireClean. */
void expect_close(peer *p, int closed_by_me, int require_clean, uint16_t code);
void expect_close_code(peer *p, uint16_t code); /* one more accepted code */
/* Autobahn's killAfter(ms) / closeAfter(ms): what happens when the case's time is up. */
void peer_kill_after(peer *p, unsigned ms);
void peer_close_after(peer *p, unsigned ms);

/* ---- the case table (cases.c) ---- */

typedef struct conf_case {
    char id[24];
    char desc[200];
    const char *expectation;
    void (*run)(peer *p, const struct conf_case *c);
    long a, b;
    const uint8_t *data;
    size_t len;
    int valid;
    int extension; /* not an Autobahn case (numbered apart, marked) */
    /* Groups 12/13: as a client the tester offers pmd_offer (a Sec-WebSocket-Extensions
     * value); as a server it answers by pmd_accept's rule. NULL: not negotiated. */
    const char *pmd_offer;
    int pmd_accept; /* 1..7: Autobahn's accept1..accept7 */
    unsigned count; /* 9.7/9.8, 12, 13: messages */
    int index;      /* 1-based position in the whole table (Autobahn's "case") */
} conf_case;

int conf_utf8_ok(const uint8_t *s, size_t n);
/* Every case for these settings (malloc'd array, freed with conf_cases_free); the count. */
size_t conf_cases(conf_case **out, const wc_opts *o);
void conf_cases_free(conf_case *c, size_t n);
const char *conf_group_name(int group);
const char *conf_subgroup_name(const char *id); /* "6.4" and such; NULL if none */

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

/* ---- case patterns (spec.c) ---- */

/* Autobahn's pattern rule: '*' matches any run of characters, '.' is literal, a pattern
 * matches an id from its start (a pattern without '*' must equal the id). */
int wc_pattern_match(const char *pattern, const char *id);
/* Compare case ids numerically ("6.10.1" after "6.9.2"). */
int wc_id_cmp(const char *a, const char *b);

/* ---- a case's outcome (peer.c fills it, report.c writes it) ---- */

typedef struct wc_result {
    char id[24];
    char agent[128];
    char started[32];
    uint64_t duration_ms;
    wc_verdict behavior, behavior_close;
    char result[400], result_close[200];
    int remote_code;        /* -1: none */
    char *json;             /* the whole per-case report, malloc'd */
    int report_time;
} wc_result;

/* ---- running one case (peer.c) ---- */

/* As a client of url (ws://host:port/path); agent NULL: the server's Server header. */
void wc_run_client_case(const conf_case *c, const char *url, const char *agent,
                        const wc_opts *o, wc_result *res);
/* As a server on an accepted connection whose opening request was read into hs (the
 * request's bytes in req[0..reqlen) for the report, the bytes after it in rest). */
void wc_run_server_case(const conf_case *c, int fd, ws_handshake *hs, const char *req,
                        size_t reqlen, const uint8_t *rest, size_t restlen, const char *agent,
                        const wc_opts *o, wc_result *res);

/* ---- JSON (json.c) ---- */

typedef struct wc_buf {
    char *p;
    size_t n, cap;
    int oom;
} wc_buf;

void buf_put(wc_buf *b, const void *s, size_t n);
void buf_puts(wc_buf *b, const char *s);
void buf_printf(wc_buf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* A JSON string literal (quotes included) of s[0..n): valid UTF-8 kept, other bytes as
 * \u00XX of their value (Latin-1, as Autobahn's reports would be unreadable otherwise). */
void buf_json_str(wc_buf *b, const char *s, size_t n);
/* HTML-escaped text. */
void buf_html(wc_buf *b, const char *s, size_t n);
void buf_free(wc_buf *b);

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } wc_jtype;

typedef struct wc_json {
    wc_jtype type;
    int b;
    double num;
    char *str;              /* J_STR (NUL-terminated; embedded NULs refused) */
    size_t n;               /* J_ARR, J_OBJ: items */
    struct wc_json *items;  /* J_ARR, J_OBJ */
    char **keys;            /* J_OBJ */
} wc_json;

/* Parse text[0..n); NULL with err (and the byte offset) on invalid JSON, nesting deeper than
 * 64 levels or an input over 16 MiB. */
wc_json *wc_json_parse(const char *text, size_t n, char *err, size_t errlen);
void wc_json_free(wc_json *j);
const wc_json *wc_json_get(const wc_json *obj, const char *key);

/* ---- settings from a fuzzingclient.json / fuzzingserver.json (spec.c) ---- */

typedef struct wc_server {
    char *url, *agent;
} wc_server;

typedef struct wc_spec {
    wc_server *servers;
    size_t nservers;
    char **cases, **exclude;
    size_t ncases, nexclude;
    /* exclude-agent-cases: agent pattern -> case patterns */
    char **xa_agent;
    char ***xa_cases;
    size_t *xa_ncases, nxa;
    char *outdir;
    char *url; /* fuzzingserver.json */
    char warnings[512];
} wc_spec;

/* Read a spec from JSON text. 0, or -1 with err. Unknown keys and Autobahn's protocol
 * options (failByDrop, version, ...) are accepted and listed in warnings. */
int wc_spec_parse(wc_spec *s, const char *text, size_t n, char *err, size_t errlen);
int wc_spec_load(wc_spec *s, const char *path, char *err, size_t errlen);
void wc_spec_free(wc_spec *s);
/* Comma-separated patterns appended to a list. */
void wc_spec_add_patterns(char ***list, size_t *n, const char *csv);
/* The cases selected (sorted by id): indexes into all[0..n) written to sel; the count. */
size_t wc_spec_select(const wc_spec *s, const conf_case *all, size_t n, size_t *sel);
/* 1 if agent's exclude-agent-cases exclude case id. */
int wc_spec_agent_excluded(const wc_spec *s, const char *agent, const char *id);

/* ---- reports (report.c) ---- */

typedef struct wc_report {
    const char *outdir;
    /* results by agent, in the order run */
    wc_result *r;
    size_t n, cap;
    const conf_case *cases;
    size_t ncases;
} wc_report;

/* Keep res (takes its json) and write its per-case JSON file now. 0, or -1 with errno. */
int wc_report_add(wc_report *rep, wc_result *res);
/* index.json and index.html for everything added so far. 0 or -1. */
int wc_report_write_index(const wc_report *rep);
void wc_report_free(wc_report *rep);
/* Autobahn's file name for a case report: agent cleaned to [a-z0-9_], "_case_", the id with
 * '_' for '.', ".json" -- into out. */
void wc_report_filename(const char *agent, const char *id, const char *ext, char *out,
                        size_t cap);
/* The index.json text (Autobahn's layout) into b. */
void wc_report_index_json(const wc_report *rep, wc_buf *b);

#endif
