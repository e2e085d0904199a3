/*
 * Fan-out across server processes through a Redis stream (issue 18), on the examples' own
 * event loop: hiredis' asynchronous API attached to the loop through ex_watch_fd (no thread,
 * no other event library), timers through ex_server.app_wake.
 *
 * Two connections to Redis per node: one publishes (XADD ... MAXLEN ~ N, pipelined, at most
 * EX_FANOUT_WINDOW in flight) and answers replay queries (XINFO STREAM, XRANGE); the other
 * reads (XREAD BLOCK from the last ID it delivered) and hands every entry, in stream order,
 * to on_entry. An entry's fields: "d" the payload, "o" "1" text / "2" binary, "s" the
 * publishing node's random id and its sequence number ("NODE:SEQ").
 *
 * Broker trouble. A connection that fails, or a command unanswered for --redis-timeout
 * (XREAD: its BLOCK time plus that), takes both connections down; the node keeps its
 * clients, logs "redis: ..." lines on stderr, and reconnects after a full-jitter delay
 * (ws_backoff: 100 ms doubling to 5 s). Messages wait in a bounded queue (messages and
 * bytes) meanwhile; when it is full ex_fanout_publish refuses (the caller says so to the
 * publisher). XADDs that were in flight when a connection was lost may or may not be in the
 * stream: before publishing again, the node kills the old connection inside Redis (CLIENT
 * KILL ID: a Redis that stalled rather than died would otherwise run them when it wakes),
 * then looks for its own "s" tags after the last ID it was acknowledged and resends only
 * those it does not find, so a message enters the stream once (unless more than the
 * retained window was added meanwhile). On reconnecting the
 * reader resumes from its last ID; if entries after it were trimmed meanwhile, on_gap says
 * so. It says so too when the reader falls more than the retained window behind while
 * connected (its node slow or stopped): each XREAD goes out behind a check that the last
 * entry delivered is still in the stream (XRANGE ID + COUNT 1, in the same write, so Redis
 * runs the two back to back). Without persistence a restarted Redis starts an empty stream:
 * what it held is gone.
 *
 * Built without hiredis (make REDIS=0, meson -Dredis=disabled): ex_fanout_available() is 0
 * and ex_fanout_new() fails.
 */
#ifndef EX_REDIS_FANOUT_H
#define EX_REDIS_FANOUT_H

#include "server.h"

#include <stddef.h>
#include <stdint.h>

/* A stream ID, "MS-SEQ". */
struct ex_sid {
    uint64_t ms, seq;
};
#define EX_SID_MAX 44 /* "MS-SEQ" and its NUL, at most */

/* Parse "MS-SEQ" or "MS" (SEQ 0): decimal, no sign, no overflow. 0, or -1 if malformed. */
int ex_sid_parse(const char *p, size_t n, struct ex_sid *out);
int ex_sid_cmp(struct ex_sid a, struct ex_sid b);
/* Write "MS-SEQ" into buf (at least EX_SID_MAX bytes); its length. */
size_t ex_sid_format(struct ex_sid id, char *buf);

/* One entry of the stream, valid during the callback. */
struct ex_entry {
    struct ex_sid id;
    uint8_t op; /* WS_OP_TEXT or WS_OP_BINARY */
    const uint8_t *data;
    size_t len;
};

#define EX_FANOUT_WINDOW 64       /* XADDs in flight at most */
#define EX_FANOUT_READ_COUNT 512  /* entries per XREAD at most */
#define EX_FANOUT_BLOCK_MS 1000u  /* XREAD BLOCK */

struct ex_redis_opt {
    const char *host;
    int port;
    const char *stream;   /* the stream's key */
    uint64_t maxlen;      /* XADD MAXLEN ~ this (0: unbounded) */
    uint32_t queue_msgs;  /* the queue toward Redis: messages at most (in flight included) */
    uint64_t queue_bytes; /* and payload bytes at most */
    uint32_t timeout_ms;  /* a command unanswered this long: the connection is given up */
};

struct ex_fanout_hooks {
    void *arg;
    /* A stream entry the reader got, in stream order, each once. */
    void (*on_entry)(void *arg, const struct ex_entry *e);
    /* The end of a batch of on_entry calls (one XREAD reply). */
    void (*on_batch)(void *arg);
    /* The broker became usable (up 1) or stopped being (0). */
    void (*on_state)(void *arg, int up);
    /* Entries following `after` (the last one delivered) were trimmed before the reader got
     * them -- it came back, or fell behind, too late: entries before `first` (the oldest
     * retained) may never have been delivered. Once per hole. */
    void (*on_gap)(void *arg, struct ex_sid after, struct ex_sid first);
};

typedef struct ex_fanout ex_fanout;

int ex_fanout_available(void);
/* Start (connecting at once); NULL on failure (said on stderr). */
ex_fanout *ex_fanout_new(struct ex_server *s, const struct ex_redis_opt *o,
                         const struct ex_fanout_hooks *h);
/* Disconnect and free; messages still queued are counted on stderr. */
void ex_fanout_free(ex_fanout *f);
/* Call once per loop iteration (on_tick): reconnects and timeouts; sets s->app_wake. */
void ex_fanout_tick(ex_fanout *f, uint64_t now);
int ex_fanout_up(const ex_fanout *f);
/* The last ID the reader delivered (at start: the stream's last ID; 0-0 for none). */
struct ex_sid ex_fanout_last(const ex_fanout *f);
/* 1 once the node has reached Redis at least once (ex_fanout_last means something). */
int ex_fanout_synced(const ex_fanout *f);
/* Queue a message for XADD: 0, or -1 if the queue is full (nothing queued). */
int ex_fanout_publish(ex_fanout *f, uint8_t op, const uint8_t *p, size_t n);

/*
 * Replay queries, answered on the publishing connection. Each call returns a request (NULL:
 * the broker is not up, or out of memory) whose callback runs once, later: ok 0 when the
 * connection went down before the answer, or the answer could not be used (the connection
 * is then given up: either way on_state says when to ask again). ex_fanout_cancel: the
 * callback will not run (for a client that went away).
 *
 * ex_fanout_gap: would a reader whose last ID is `last` have missed entries? gap 1 with the
 * oldest retained ID in *first when entries were trimmed and `last` is older than the
 * oldest retained one (it may be the one just before: the answer errs on the side of
 * saying so); gap 0 otherwise (no stream yet included).
 * ex_fanout_range: up to count entries after `after` (inclusive: from `after` itself, so the
 * caller can see that it is still there), in order.
 */
typedef struct ex_fanout_req ex_fanout_req;
typedef void (*ex_fanout_gap_fn)(void *arg, int ok, int gap, struct ex_sid first);
typedef void (*ex_fanout_range_fn)(void *arg, int ok, const struct ex_entry *e, size_t n);
ex_fanout_req *ex_fanout_gap(ex_fanout *f, struct ex_sid last, ex_fanout_gap_fn fn, void *arg);
ex_fanout_req *ex_fanout_range(ex_fanout *f, struct ex_sid after, int inclusive, unsigned count,
                               ex_fanout_range_fn fn, void *arg);
void ex_fanout_cancel(ex_fanout_req *r);

struct ex_fanout_stats {
    int up;
    size_t queued, queued_bytes, queue_peak; /* now, and the most messages ever queued */
    uint64_t published;   /* acknowledged XADDs (and in-flight ones found in the stream) */
    uint64_t refused;     /* ex_fanout_publish refusals (queue full) */
    uint64_t resent;      /* in-flight XADDs resent after a lost connection */
    uint64_t found;       /* in-flight XADDs found in the stream after a lost connection */
    uint64_t reconnects;  /* connections given up */
    uint64_t errors;      /* error replies */
};
void ex_fanout_get_stats(const ex_fanout *f, struct ex_fanout_stats *st);

#endif
