/*
 * The glue for completion-based event loops (libuv, io_uring), where a write is submitted and
 * completes later, while the loop goes on feeding, ticking and sending. Everything else --
 * command line, listening socket, connection cap, memory budget, timer heap, event handling --
 * is examples/common/server.c's, through the same struct ex_server and struct ex_client.
 *
 * Output. Several writes may be in flight per connection: cx_update takes the bytes queued
 * after those already in flight (ws_conn_output + ws_conn_output_take: they stay where they
 * are until acknowledged) and hands each batch to the loop's write(), which may write some at
 * once; the loop calls cx_written() when one completes, in submission order, and the bytes
 * are acknowledged only when the kernel took them -- so ws_conn_buffered_amount(),
 * the high-water mark, the send timeout and the close handshake's give-up count bytes as
 * written only once the kernel has them.
 *
 * A loop provides struct cx_ops, embeds struct cx_conn first in its per-connection state
 * (cl->app), and calls:
 *   cx_input()    with bytes read (then cx_update)
 *   cx_eof()      at end of file or a read error
 *   cx_written()  when a write completes (or fails)
 *   cx_service()  once per loop iteration: timers, the drain after SIGINT/SIGTERM, the
 *                 listener's rest; returns how long the loop may sleep
 * Its watch() (struct ex_loop_ops) only serves the listener, and creates the loop's state
 * for a new client (ex_new_client calls it once with EX_WANT_READ).
 */
#ifndef EX_COMPLETION_H
#define EX_COMPLETION_H

#include "server.h"

/* Writes in flight per connection at most, and chunks per write. */
#define CX_MAX_WRITES 4
#define CX_IOV 16

struct cx_ops {
    /* Submit one write of iov[0..k) (bytes in all). The iovecs point into the connection's
     * output, which stays put until cx_written() for it; the array itself is the caller's
     * (copy it). When nothing else is in flight (first), the loop may write at once what the
     * socket takes. Returns how many bytes were written at once (the rest, if any, is
     * submitted and completes with cx_written() for bytes minus that), or -1 if it could not
     * be submitted (the connection is dropped). */
    long (*write)(struct ex_server *s, struct ex_client *cl, const ws_iovec *iov, int k,
                  size_t bytes, int first);
    /* Optional: the writes cx_update submitted in one go are complete (io_uring links them). */
    void (*write_end)(struct ex_server *s, struct ex_client *cl);
    /* Start or stop reading the socket (with a read already submitted, stopping may take
     * effect after it completes: its bytes are still handed over). */
    void (*read)(struct ex_server *s, struct ex_client *cl, int on);
    /* Half-close the socket (shutdown SHUT_WR; no write is in flight) and keep reading; the
     * loop hands what it reads to cx_linger_input(). Returns 0 or -1 (then closed at once). */
    int (*shutdown)(struct ex_server *s, struct ex_client *cl);
    /* Close the socket (with SO_LINGER 0 first when cl->reset), cancel what is in flight and
     * free cl and its state once nothing refers to them any more. */
    void (*close)(struct ex_server *s, struct ex_client *cl);
    /* Whether writes submitted one after the other are written in order even while earlier
     * ones wait (libuv queues them); if not (io_uring: separate sends on one socket may pass
     * each other), new writes are submitted only once nothing is in flight, together. */
    int ordered;
};

/* Per connection: the first member of the loop's per-connection state (cl->app). */
struct cx_conn {
    struct ex_client *cl;
    size_t taken;      /* bytes in flight: handed to write(), not yet acknowledged */
    int writes;        /* writes in flight */
    int reading;       /* read(on) in force */
    ws_conn *held;     /* a dropped connection's ws_conn, freed when its writes complete */
    uint8_t *left;     /* input the library could not take yet (it still held input while a
                        * message was inflated in steps): fed first, reading stops meanwhile */
    size_t left_len;
};

void cx_init(struct ex_server *s, const struct cx_ops *ops);
/* Bytes read: fed in place (events point into p while they are handled). Then cx_update. */
void cx_input(struct ex_server *s, struct ex_client *cl, uint8_t *p, size_t n);
/* The socket's end of file, or a read error. */
void cx_eof(struct ex_server *s, struct ex_client *cl);
/* A lingering client read n more bytes (0: end of file or an error): closed at end of file,
 * or past EX_LINGER_BYTES. */
void cx_linger_input(struct ex_server *s, struct ex_client *cl, size_t n);
/* A write of `bytes` completed (ok 1) or failed (ok 0: the peer is gone). */
void cx_written(struct ex_server *s, struct ex_client *cl, size_t bytes, int ok);
/* Submit what is queued, start the linger once the connection wants the transport shut
 * down, start or stop reading (backpressure: not above s->pause_above), re-arm its timer. */
void cx_update(struct ex_server *s, struct ex_client *cl);
/* Close a live connection at once (a peer that is gone, out of memory). */
void cx_drop(struct ex_server *s, struct ex_client *cl);
/* Once per loop iteration: runs the expired timers, starts the drain on ex_stop (close 1001
 * to every connection) and resumes a resting listener. Returns the time to sleep in ms (-1:
 * no timer), and sets *exit_now once no connection is left after a drain started, or 2 s
 * after it. */
int cx_service(struct ex_server *s, int *exit_now);
/* Close every connection, live or lingering (before the loop's last run and ex_server_free). */
void cx_close_all(struct ex_server *s);

#endif
