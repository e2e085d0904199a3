/*
 * What every example server shares: command line, listening socket, the connection table, and
 * the glue between a non-blocking socket and a ws_conn. An event loop (epoll, poll, kqueue)
 * only has to say which sockets to watch, and call the ex_* functions when they are ready.
 */
#ifndef EX_SERVER_H
#define EX_SERVER_H

#include "ws.h"

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define EX_MAX_SUBPROTOCOLS 16

struct ex_options {
    const char *host;
    int port;
    uint64_t max_message;
    const char *subprotocols[EX_MAX_SUBPROTOCOLS];
    int nsub;
    int deflate;
    int sndbuf;             /* --sndbuf BYTES: SO_SNDBUF of client sockets (0: kernel's) */
    /* broadcast server */
    int policy_close;       /* --policy close (else drop) */
    uint32_t ping_interval; /* ms, 0 off */
    uint32_t max_accept_rate; /* per second, 0 unlimited */
    int stats;
};

struct ex_server;

/*
 * Closing a socket with unread input makes the kernel send a TCP reset, which discards what it
 * had not sent yet: the close frame among it. So once ws_conn_wants_shutdown() says so, a
 * connection lingers: its write side is shut down (the peer reads the close frame, then end of
 * file), and what still comes in is read and thrown away until the peer's end of file, at most
 * EX_LINGER_BYTES or EX_LINGER_MS; only then is the socket closed (RFC 6455 section 7.1.1).
 */
#define EX_LINGER_MS 2000u
#define EX_LINGER_BYTES (1u << 20)

struct ex_client {
    int fd;
    ws_conn *c;          /* NULL while lingering (and for the listening socket) */
    unsigned watching;   /* EX_WANT_* currently registered with the loop */
    int index;           /* slot in the loop's own table, if it keeps one (poll) */
    uint64_t deadline;   /* cached ws_conn_next_deadline; while lingering, the linger's end */
    void *app;           /* the application's per-client state */
    int listener;        /* the listening socket: readable means accept */
    int peer_eof;        /* read() saw the peer's end of file (or an error) */
    int lingering;       /* write side shut down, out of by_fd: reading and discarding to EOF */
    size_t linger_bytes; /* discarded so far while lingering */
    struct ex_client *linger_prev, *linger_next;
    int dead;            /* dropped: socket closed, memory freed at the next ex_service */
    struct ex_client *next_dead;
};

enum { EX_WANT_READ = 1, EX_WANT_WRITE = 2 };

/* What an event loop provides. */
struct ex_loop_ops {
    /* Start, change or stop watching a client's socket (want = EX_WANT_* bits, 0 = stop). */
    void (*watch)(struct ex_server *s, struct ex_client *cl, unsigned want);
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
    void *app;
    int lfd;
    struct ex_client **by_fd; /* live connections (not lingering ones), by socket */
    size_t cap;
    size_t count;
    /* Lingering connections, oldest first (so by deadline: each lingers EX_LINGER_MS). */
    struct ex_client *linger_head, *linger_tail;
    size_t lingering;
    int draining;
    uint64_t drain_deadline;
    struct ex_client *graveyard; /* dropped clients an event batch may still point at */
    uint64_t pause_above;   /* stop reading a client while this much output waits */
    uint64_t accept_window; /* accept-rate limiting: current 1 s window start */
    uint32_t accepted_in_window;
    uint64_t stat_1006, stat_accepted;
    uint8_t rbuf[64 * 1024];
};

extern volatile sig_atomic_t ex_stop;

/* Parse the shared flags; unknown ones are errors. Exits with usage on error. */
void ex_parse_args(int argc, char **argv, struct ex_options *o, int broadcast);
/* Monotonic milliseconds (the library never reads a clock: the caller does). */
uint64_t ex_now_ms(void);
/* Raise RLIMIT_NOFILE to its hard limit; returns the soft limit now in force. */
long ex_raise_nofile(void);
/* SIGINT/SIGTERM set ex_stop; SIGPIPE ignored. */
void ex_install_signals(void);

/* Listen on opt.host:opt.port (port 0: any free port), non-blocking, and print exactly
 * "listening on HOST:PORT" as the first stdout line. Returns 0 or -1. */
int ex_server_init(struct ex_server *s, const struct ex_options *o, struct ex_loop_ops ops,
                   ex_event_fn on_event);
void ex_server_free(struct ex_server *s);

/* The listening socket is readable: accept what is waiting (within the rate limit). */
void ex_on_accept(struct ex_server *s);
/* A client's socket is readable / writable / hung up. Skip clients with cl->dead set: an
 * earlier handler in the same batch dropped them; cl->listener marks the listening socket.
 * A lingering client's input is read and discarded here. */
void ex_on_readable(struct ex_server *s, struct ex_client *cl);
void ex_on_writable(struct ex_server *s, struct ex_client *cl);
/* Run expired timers (lingers included); returns the poll timeout in ms until the next one
 * (-1: none). Starts the drain on SIGINT/SIGTERM and returns 0 when the loop should exit:
 * once no connection is left, lingering ones included, or 2 s after the signal. */
int ex_service(struct ex_server *s, int *exit_now);

/* The echo servers' event handler: every message goes back with its type. */
void ex_echo(struct ex_server *s, struct ex_client *cl, const ws_event *ev);
/* Send a message to a client, applying its backpressure policy. */
int ex_send(struct ex_server *s, struct ex_client *cl, uint32_t op, const void *p, size_t n);
/* Write what the client has queued, then re-arm it, or start its linger once the
 * connection wants the transport shut down. */
void ex_flush(struct ex_server *s, struct ex_client *cl);

/* The poll(2) loop (examples/common/loop_poll.c): its watch hook, and the loop itself, which
 * returns when the server has drained after SIGINT/SIGTERM. */
extern const struct ex_loop_ops ex_poll_ops;
int ex_run_poll(struct ex_server *s);

#endif
