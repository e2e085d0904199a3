/*
 * What every example server shares: command line, listening socket, the connection table, and
 * the glue between a non-blocking socket and a ws_conn. An event loop (epoll, poll, kqueue)
 * only has to say which sockets to watch, and call the ex_* functions when they are ready.
 *
 *   posix.c     the clock, the stop signals, the descriptor limit (posix.h: wsc uses it too)
 *   options.c   the shared command line (--help lists it), with safe defaults
 *   accept.c    the listening socket: connection cap, accept rate, out of descriptors
 *   timers.c    connections ordered by their next deadline (a binary heap)
 *   server.c    connections: reading with a fair share per wake-up, writing, lingering
 *   loop_poll.c a poll(2) loop (echo-epoll and echo-kqueue bring their own)
 *   tls.c       wss://: OpenSSL through memory BIOs between the socket and the ws_conn
 *               (tls.h), used by server.c and wsc; --tls-cert / --tls-key
 *   completion.c the same glue for completion-based loops (libuv, io_uring: writes complete
 *               later), used by echo-uv and echo-uring; see completion.h
 *
 * The policies a server open to the internet needs, and what each does at its limit:
 *   - memory: one ws_budget (--max-memory) shared by every connection, with a share per
 *     connection (--max-conn-memory); an allocation past either fails that connection with
 *     close 1013, the others go on;
 *   - time: a message must complete within --message-timeout (else 1008), queued output must
 *     move within --send-timeout (else the connection is reset), a handshake within 10 s,
 *     a heartbeat ping every --ping seconds must be answered within as long, and a connection
 *     that sends nothing for --idle-timeout is closed;
 *   - connections: over --max-conns, a new connection is accepted and closed at once; out of
 *     descriptors (EMFILE/ENFILE), a spare descriptor lets the server accept and close the
 *     connection that waits, and the listener rests for a while if even that fails;
 *   - CPU: each wake-up gives each ready connection at most one read (EX_READ_CHUNK) and
 *     EX_WORK_BUDGET of work, round-robin, inflating at most EX_INFLATE_STEP: one client's
 *     decompression bombs delay the others by about one step (or one echoed message).
 */
#ifndef EX_SERVER_H
#define EX_SERVER_H

#include "posix.h"
#include "tls.h"
#include "ws.h"

#include <stddef.h>
#include <stdint.h>

#define EX_MAX_SUBPROTOCOLS 16

/* Defaults of the shared flags (see ex_parse_args and --help). Times in ms. */
#define EX_DEFAULT_MAX_CONNS 10000u
#define EX_DEFAULT_MAX_MEMORY ((uint64_t)256 << 20)
#define EX_DEFAULT_PING 20000u
#define EX_DEFAULT_IDLE_TIMEOUT 60000u
#define EX_DEFAULT_SEND_TIMEOUT 30000u
#define EX_DEFAULT_MESSAGE_TIMEOUT 30000u

struct ex_options {
    const char *host;
    int port;
    uint64_t max_message;
    const char *subprotocols[EX_MAX_SUBPROTOCOLS];
    int nsub;
    int deflate;              /* --deflate (off by default) */
    int sndbuf;               /* --sndbuf BYTES: SO_SNDBUF of client sockets (0: kernel's) */
    uint32_t ping_interval;   /* --ping: ms between heartbeat pings, also the pong timeout; 0 off */
    uint32_t idle_timeout;    /* --idle-timeout: ms without input before close 1000; 0 off */
    uint32_t send_timeout;    /* --send-timeout: ms queued output may stall; 0 off */
    uint32_t message_timeout; /* --message-timeout: ms a started message may take; 0 off */
    uint64_t max_conns;       /* --max-conns: connections at once (live and lingering) */
    uint64_t max_memory;      /* --max-memory: the budget all connections share */
    uint64_t max_conn_memory; /* --max-conn-memory: one connection's share of it */
    const char *tls_cert;     /* --tls-cert FILE (PEM chain) and --tls-key FILE: serve wss:// */
    const char *tls_key;
    /* broadcast server */
    int policy_close;         /* --policy close (else drop) */
    uint32_t max_accept_rate; /* per second, 0 unlimited */
    uint32_t retry_after;     /* --retry-after SECONDS: over the rate, answer 503 with a
                               * Retry-After drawn uniformly in [1, this] (0: leave them in
                               * the backlog) */
    int stats;
};

struct ex_server;

/* A closing connection lingers (EX_LINGER_MS, EX_LINGER_BYTES: see posix.h). A peer dropped
 * for not reading (the send timeout) would never see the close frame: its connection is reset
 * at once instead. */

/*
 * Fairness. A ready connection gets one read of at most EX_READ_CHUNK bytes per wake-up, and
 * EX_WORK_BUDGET of work: the payload bytes of the events it produced plus EX_EVENT_COST per
 * event (a compressed message costs what it inflates to). Input left when the budget is spent
 * stays in the connection (ws_conn_feed keeps it) and the connection waits in a round-robin
 * queue for its next turn; the loop then polls without sleeping, so other sockets are served
 * in between. With the 1 MiB message limit, one turn costs at most one inflated message.
 */
#define EX_READ_CHUNK (64u * 1024u)
#define EX_WORK_BUDGET (256u * 1024u)
#define EX_EVENT_COST 64u
/* Events are taken this many at a time (the budget is checked between batches). */
#define EX_EVENT_BATCH 8
/* A compressed message is inflated at most a turn's work at a time (WS_OPT_INFLATE_STEP):
 * the library then says the connection is due at once, and its timer or its place in the
 * round-robin queue brings it back. */
#define EX_INFLATE_STEP EX_WORK_BUDGET

/* Out of descriptors with no spare to trade: the listener rests this long (ms). */
#define EX_ACCEPT_PAUSE_MS 500u
/* Connections accepted per wake-up at most, so that a connection storm cannot starve the
 * established connections either. */
#define EX_ACCEPT_BATCH 64

struct ex_client {
    int fd;
    ws_conn *c;          /* NULL while lingering (and for the listening socket) */
    unsigned watching;   /* EX_WANT_* currently registered with the loop */
    int index;           /* slot in the loop's own table, if it keeps one (poll) */
    uint64_t deadline;   /* when its timer fires (ws_conn_next_deadline; lingering: the end) */
    size_t timer_slot;   /* 1 + its place in the timer heap; 0: no timer */
    void *app;           /* the application's per-client state */
    struct ex_tls *tls;  /* wss://: the TLS layer its bytes go through (NULL: plain) */
    int listener;        /* the listening socket: readable means accept */
    int peer_eof;        /* read() saw the peer's end of file (or an error) */
    int reset;           /* the peer stopped reading: reset the connection, do not linger */
    int lingering;       /* write side shut down, out of by_fd: reading and discarding to EOF */
    size_t linger_bytes; /* discarded so far while lingering */
    int backlog;         /* input or events left over: waits in the round-robin queue */
    struct ex_client *turn_prev, *turn_next;
    int dead;            /* dropped: socket closed, memory freed at the next ex_service */
    struct ex_client *next_dead;
    int refuse;          /* accepted over --max-accept-rate: its request gets 503 */
    /* Not a WebSocket connection but a descriptor the application watches (ex_watch_fd):
     * the loop calls this with the EX_WANT_* bits that are ready instead of ex_on_*. */
    void (*io)(struct ex_server *s, struct ex_client *cl, unsigned ready);
};

enum { EX_WANT_READ = 1, EX_WANT_WRITE = 2 };

/* What an event loop provides. */
struct ex_loop_ops {
    /* Start, change or stop watching a client's socket (want = EX_WANT_* bits, 0 = stop). */
    void (*watch)(struct ex_server *s, struct ex_client *cl, unsigned want);
    /* 1 if the loop's socket I/O is server.c's (ex_on_readable, ex_flush): that is where the
     * TLS layer sits, so only such a loop serves --tls-cert (the completion loops, which read
     * and write themselves, refuse it). */
    int tls;
};

/* What the application does with an event (echo, broadcast...). */
typedef void (*ex_event_fn)(struct ex_server *s, struct ex_client *cl, const ws_event *ev);

struct ex_server {
    struct ex_options opt;
    struct ex_loop_ops ops;
    ex_event_fn on_event;
    /* Optional application hooks: once per loop iteration (the loop then wakes at least once
     * a second), and when a client's output queue has fully drained (return 1 if more was
     * queued). */
    void (*on_tick)(struct ex_server *s, uint64_t now);
    int (*on_drained)(struct ex_server *s, struct ex_client *cl);
    /* A client's connection is over (whatever the reason; it is freed, or lingers without
     * its ws_conn until the peer's end of file): release cl->app. */
    void (*on_drop)(struct ex_server *s, struct ex_client *cl);
    /* Optional: a server with connections of its own kind (h2-server) takes each accepted,
     * non-blocking socket here instead of ex_new_client (NULL: refused, the socket is
     * closed). It counts them in s->count and keeps them out of by_fd and ex_service. */
    struct ex_client *(*new_client)(struct ex_server *s, int fd);
    /* Optional: the upgrade request is in (WS_EV_REQUEST, ws_conn_handshake() shows it):
     * return 0 to let the server answer it as usual, or an HTTP status (4xx) to refuse it. */
    unsigned (*on_request)(struct ex_server *s, struct ex_client *cl);
    void *app;
    uint64_t app_wake;           /* the application's next timer (ms; 0: none): the loop
                                  * wakes by then (set it from on_tick or an io callback) */
    int lfd;
    struct ex_client listener;   /* the listening socket, watched like a client */
    struct ex_client **by_fd;    /* live connections (not lingering ones), by socket */
    size_t cap;
    size_t count;
    size_t lingering;            /* connections lingering (they still hold a descriptor) */
    ws_budget *budget;           /* --max-memory, shared by every connection */
    ws_config *cfg;              /* the options, shared by every connection (made at the
                                    first accept) */
    struct ex_tls_ctx *tls;      /* --tls-cert: every connection speaks TLS (NULL: none) */
    struct ex_client **heap;     /* timers: connections by deadline, earliest first */
    size_t heap_len, heap_cap;
    struct ex_client *turn_head, *turn_tail; /* round-robin queue of connections with backlog */
    int spare_fd;                /* reserve descriptor for EMFILE (-1: none held) */
    uint64_t accept_resume;      /* the listener rests until then (out of descriptors) */
    int draining;
    uint64_t drain_deadline;
    struct ex_client *graveyard; /* dropped clients an event batch may still point at */
    uint64_t pause_above;   /* stop reading a client while this much output waits */
    uint64_t accept_window; /* accept-rate limiting: current 1 s window start */
    uint32_t accepted_in_window;
    uint64_t stat_1006, stat_accepted;
    uint64_t stat_refused;  /* over --max-conns: accepted and closed */
    uint64_t stat_shed;     /* out of descriptors: accepted on the spare and closed */
    uint64_t stat_503;      /* requests answered 503 (over the accept rate, or draining) */
    uint8_t rbuf[EX_READ_CHUNK];
};

/* Parse the shared flags; unknown ones are errors. Exits with usage on error (status 2) and
 * on --help (usage on stdout, status 0). broadcast adds the broadcast server's flags. */
void ex_parse_args(int argc, char **argv, struct ex_options *o, int broadcast);
/* The per-connection share --max-conn-memory defaults to: what echoing one message of the
 * limit needs (reassembly, and an output queue whose capacity doubles), plus room for the
 * deflate contexts: max(4 MiB, 3 x max_message + 1 MiB). */
uint64_t ex_default_conn_memory(uint64_t max_message);

/* The configuration every connection of s is made with (s->cfg, from the shared flags:
 * message limit, deflate, high-water mark and policy, ping, idle, message and send timeouts),
 * made on first use; NULL when out of memory. */
ws_config *ex_server_config(struct ex_server *s);

/* Listen on opt.host:opt.port (port 0: any free port), non-blocking, and print exactly
 * "listening on HOST:PORT" as the first stdout line. With --tls-cert, load the certificate
 * and key first (every connection is then TLS: see tls.h). Returns 0 or -1 (said on
 * stderr). */
int ex_server_init(struct ex_server *s, const struct ex_options *o, struct ex_loop_ops ops,
                   ex_event_fn on_event);
void ex_server_free(struct ex_server *s);

/* The listening socket is readable: accept what is waiting (within the cap, the rate limit
 * and EX_ACCEPT_BATCH). */
void ex_on_accept(struct ex_server *s);
/* A client's socket is readable / writable / hung up. Skip clients with cl->dead set: an
 * earlier handler in the same batch dropped them; cl->listener marks the listening socket.
 * A lingering client's input is read and discarded here. */
void ex_on_readable(struct ex_server *s, struct ex_client *cl);
void ex_on_writable(struct ex_server *s, struct ex_client *cl);
/* Run expired timers (lingers included) and give the connections with backlog their turn;
 * returns the poll timeout in ms until the next timer (-1: none; 0 while backlog waits).
 * Starts the drain on SIGINT/SIGTERM and returns 0 when the loop should exit: once no
 * connection is left, lingering ones included, or 2 s after the signal. */
int ex_service(struct ex_server *s, int *exit_now);

/* The echo servers' event handler: every message goes back with its type (the library
 * closes with 1013 a connection whose output is over its high-water mark). */
void ex_echo(struct ex_server *s, struct ex_client *cl, const ws_event *ev);
/* Write what the client has queued, then re-arm it and its timer, or start its linger once
 * the connection wants the transport shut down. */
void ex_flush(struct ex_server *s, struct ex_client *cl);
/* What a loop does to one connection (end it, write its output...). */
typedef void (*ex_client_fn)(struct ex_server *s, struct ex_client *cl);
/* SIGINT/SIGTERM: stop accepting and send every open connection close 1001; drop ends one
 * still in its handshake, kick writes one's output (each loop passes its own). */
void ex_start_drain(struct ex_server *s, uint64_t now, ex_client_fn drop, ex_client_fn kick);

/* Hand the client's events to s->on_event until none is left (returns 1) or *work reached
 * limit (returns 0); answers WS_EV_REQUEST (503 while draining). Each event adds its payload
 * length and EX_EVENT_COST to *work. */
int ex_drain_events(struct ex_server *s, struct ex_client *cl, size_t *work, size_t limit);
/* Hand evs[0..n) (events just taken from cl->c) to the application, adding each one's payload
 * length and EX_EVENT_COST to *work. Returns 0 if the handler ended the connection. */
int ex_handle_events(struct ex_server *s, struct ex_client *cl, const ws_event *evs, int n,
                     size_t *work);

/*
 * A descriptor that is not a WebSocket connection (a broker's socket, say) watched by the
 * same loop: io(s, cl, ready) is called with the EX_WANT_* bits that are ready; cl->app is
 * arg. ex_watch_set changes what is watched (0: nothing for now); ex_unwatch_fd stops for
 * good (the descriptor is not closed; the ex_client is freed at the next ex_service, so a
 * wake-up that still holds it sees cl->dead). Served by the poll loop (loop_poll.c).
 */
struct ex_client *ex_watch_fd(struct ex_server *s, int fd,
                              void (*io)(struct ex_server *, struct ex_client *, unsigned),
                              void *arg);
void ex_watch_set(struct ex_server *s, struct ex_client *cl, unsigned want);
void ex_unwatch_fd(struct ex_server *s, struct ex_client *cl);

/* "Retry-After: N\r\n" with N drawn uniformly in [1, max_s] (a refused crowd comes back
 * spread over that window, not at once) into buf; returns buf. */
const char *ex_retry_after(char *buf, size_t n, uint32_t max_s);

/* ---- internal to examples/common/ ---- */

/* accept.c: the listener's side of ex_server_init / ex_service / ex_server_free. */
int ex_listen(struct ex_server *s);
/* Resume the listener once its rest is over; returns the time it rests until (0: none). */
uint64_t ex_accept_service(struct ex_server *s, uint64_t now);
void ex_listen_close(struct ex_server *s);
/* server.c: a new connection on an accepted, non-blocking socket (NULL: refused). */
struct ex_client *ex_new_client(struct ex_server *s, int fd);
/* timers.c: set (or with WS_DEADLINE_NONE clear) cl's timer; the earliest timer (NULL: none). */
void ex_timer_set(struct ex_server *s, struct ex_client *cl, uint64_t when);
struct ex_client *ex_timer_first(const struct ex_server *s);
void ex_timers_free(struct ex_server *s);

/* The poll(2) loop (examples/common/loop_poll.c): its watch hook, and the loop itself, which
 * returns when the server has drained after SIGINT/SIGTERM. */
extern const struct ex_loop_ops ex_poll_ops;
int ex_run_poll(struct ex_server *s);

#endif
