/*
 * echo-uring: the echo server on io_uring (liburing), a completion-based loop: a send is
 * submitted and completes later, so the connection's output must stay put meanwhile. The glue
 * is examples/common/completion.c; command line, listener, limits and events are shared with
 * the other echo servers (examples/common/server.c).
 *
 *   ring        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN where the kernel has
 *               them (6.1), else without (completions are then reaped the same way)
 *   reading     one IORING_OP_RECV at a time per connection, into a buffer the kernel picks
 *               from a ring of provided buffers (Linux 5.19) shared by all connections: an
 *               idle connection holds none; a buffer goes back once its events are handled
 *   writing     IORING_OP_SENDMSG with MSG_WAITALL (the kernel retries a short send on a
 *               stream socket); the sends of one batch are linked (IOSQE_IO_LINK), since
 *               separate sends on one socket may pass each other once one has to wait for
 *               room; a new batch starts once the previous one completed
 *   listener    a one-shot IORING_OP_POLL_ADD on the shared listening socket, re-armed after
 *               each wake-up (so level-triggered: connections left in the backlog past
 *               EX_ACCEPT_BATCH wake it again); accept.c accepts, within the cap
 *   timers      the wait's own timeout (io_uring_submit_and_wait_timeout): the earliest
 *               ws_conn_next_deadline() of the timer heap (timers.c)
 *   SIGINT/TERM a signalfd read through the ring: close 1001 to every connection, wait for
 *               them at most 2 s
 */
#include "common/completion.h"

#include <errno.h>
#include <liburing.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IORING_SETUP_SINGLE_ISSUER
#define IORING_SETUP_SINGLE_ISSUER (1U << 12)
#endif
#ifndef IORING_SETUP_DEFER_TASKRUN
#define IORING_SETUP_DEFER_TASKRUN (1U << 13)
#endif

/* 256 provided buffers of 32 KiB (8 MiB): a 16-message burst of 1 KiB messages fits one. */
enum { RING_ENTRIES = 4096, NBUF = 256, BUF_SIZE = 32768, BGID = 0 };
enum { OP_RECV = 1, OP_SEND, OP_LISTEN, OP_SIGNAL };

struct op {
    int kind;
    struct urc *u; /* OP_RECV, OP_SEND */
};

struct urc {
    struct cx_conn x; /* first: cl->app points here */
    struct op recv;
    int recv_pending;
    int ops;          /* requests in flight (recv and sends) */
    int closing;      /* ops->close: close the socket and free once ops is 0 */
    struct send {
        struct op op;
        struct msghdr mh;
        struct iovec iov[CX_IOV];
        size_t bytes;
    } w[CX_MAX_WRITES];
    int whead;
    struct io_uring_sqe *last; /* the newest send of the batch cx_update is submitting */
    struct urc *retry_next;    /* waiting for a provided buffer (ENOBUFS) */
    int retrying;
    struct urc *reap_next;     /* closing: freed by reap() once nothing is in flight */
};

static struct io_uring ring;
static struct ex_server *srv;
static struct io_uring_buf_ring *br;
static uint8_t *bufs;
static struct op listen_op = {OP_LISTEN, NULL}, signal_op = {OP_SIGNAL, NULL};
static int listen_armed, listen_wanted, sfd = -1;
static struct signalfd_siginfo siginfo;
static struct urc *retry_head, *reap_head;
static struct ex_client *broken;

static struct urc *urc(struct ex_client *cl)
{
    return (struct urc *)cl->app;
}

/* A submission entry; the queue is flushed to the kernel when full. */
static struct io_uring_sqe *sqe_get(void)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
    if (!sqe) {
        io_uring_submit(&ring);
        sqe = io_uring_get_sqe(&ring);
    }
    return sqe;
}

static void recv_submit(struct urc *u)
{
    struct io_uring_sqe *sqe;
    if (u->recv_pending || u->closing || !(sqe = sqe_get()))
        return;
    io_uring_prep_recv(sqe, u->x.cl->fd, NULL, BUF_SIZE, 0);
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = BGID;
    io_uring_sqe_set_data(sqe, &u->recv);
    u->recv_pending = 1;
    u->ops++;
}

static void buf_return(unsigned bid)
{
    io_uring_buf_ring_add(br, bufs + (size_t)bid * BUF_SIZE, BUF_SIZE, (unsigned short)bid,
                          io_uring_buf_ring_mask(NBUF), 0);
    io_uring_buf_ring_advance(br, 1);
}

static void listen_arm(void)
{
    struct io_uring_sqe *sqe;
    if (listen_armed || !listen_wanted || srv->lfd < 0 || !(sqe = sqe_get()))
        return;
    io_uring_prep_poll_add(sqe, srv->lfd, POLLIN);
    io_uring_sqe_set_data(sqe, &listen_op);
    listen_armed = 1;
}

/* ---- struct ex_loop_ops: the listener, and a new client's loop state ---- */

static void watch(struct ex_server *s, struct ex_client *cl, unsigned want)
{
    (void)s;
    if (cl->listener) {
        listen_wanted = want != 0;
        if (want) {
            listen_arm();
        } else if (listen_armed) {
            struct io_uring_sqe *sqe = sqe_get();
            if (sqe) {
                io_uring_prep_poll_remove(sqe, (__u64)(uintptr_t)&listen_op);
                io_uring_sqe_set_data(sqe, NULL);
            }
        }
        return;
    }
    if (cl->app)
        return; /* only ex_new_client calls this for a client, once */
    struct urc *u = calloc(1, sizeof *u);
    if (!u) {
        /* Not servable: dropped before the loop waits again (ex_new_client still uses cl). */
        cl->next_dead = broken;
        broken = cl;
        return;
    }
    u->x.cl = cl;
    u->recv.kind = OP_RECV;
    u->recv.u = u;
    for (int i = 0; i < CX_MAX_WRITES; i++) {
        u->w[i].op.kind = OP_SEND;
        u->w[i].op.u = u;
    }
    cl->app = u;
    u->x.reading = 1;
    recv_submit(u);
}

static void drop_broken(void)
{
    while (broken) {
        struct ex_client *cl = broken;
        broken = cl->next_dead;
        srv->by_fd[cl->fd] = NULL;
        srv->count--;
        ws_conn_free(cl->c);
        ex_timer_set(srv, cl, WS_DEADLINE_NONE);
        close(cl->fd);
        free(cl);
    }
}

/* ---- struct cx_ops ---- */

static long uring_write(struct ex_server *s, struct ex_client *cl, const ws_iovec *iov, int k,
                        size_t bytes, int first)
{
    struct urc *u = urc(cl);
    struct send *w = &u->w[(u->whead + u->x.writes) % CX_MAX_WRITES];
    (void)s;
    (void)first;
    /* A batch's sends must be consecutive in the submission queue to be linked. */
    if (u->x.writes == 0 && io_uring_sq_space_left(&ring) < CX_MAX_WRITES + 2)
        io_uring_submit(&ring);
    struct io_uring_sqe *sqe = sqe_get();
    if (!sqe)
        return -1;
    for (int i = 0; i < k; i++) {
        w->iov[i].iov_base = (void *)(uintptr_t)iov[i].base;
        w->iov[i].iov_len = iov[i].len;
    }
    memset(&w->mh, 0, sizeof w->mh);
    w->mh.msg_iov = w->iov;
    w->mh.msg_iovlen = (size_t)k;
    w->bytes = bytes;
    io_uring_prep_sendmsg(sqe, cl->fd, &w->mh, MSG_WAITALL | MSG_NOSIGNAL);
    sqe->flags |= IOSQE_IO_LINK;
    io_uring_sqe_set_data(sqe, &w->op);
    u->last = sqe;
    u->ops++;
    return 0;
}

static void uring_write_end(struct ex_server *s, struct ex_client *cl)
{
    struct urc *u = urc(cl);
    (void)s;
    if (u->last)
        u->last->flags &= (__u8)~IOSQE_IO_LINK; /* the batch ends here */
    u->last = NULL;
}

static void uring_read(struct ex_server *s, struct ex_client *cl, int on)
{
    (void)s;
    if (on)
        recv_submit(urc(cl)); /* stopping: the recv in flight is not renewed */
}

static int uring_shutdown(struct ex_server *s, struct ex_client *cl)
{
    (void)s;
    return shutdown(cl->fd, SHUT_WR);
}

static void finish(struct urc *u)
{
    struct ex_client *cl = u->x.cl;
    close(cl->fd);
    free(u);
    free(cl);
}

static void uring_close(struct ex_server *s, struct ex_client *cl)
{
    struct urc *u = urc(cl);
    (void)s;
    if (cl->reset) {
        struct linger lg = {1, 0};
        setsockopt(cl->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    u->closing = 1;
    u->reap_next = reap_head;
    reap_head = u;
    if (u->ops == 0)
        return;
    /* The socket is closed once every request on it completed or was cancelled. */
    struct io_uring_sqe *sqe = sqe_get();
    if (sqe) {
        io_uring_prep_cancel_fd(sqe, cl->fd, IORING_ASYNC_CANCEL_ALL);
        io_uring_sqe_set_data(sqe, NULL);
    }
}

static const struct cx_ops cx_uring = {uring_write, uring_write_end, uring_read, uring_shutdown,
                                       uring_close, 0};

/* ---- completions ---- */

static void on_recv(struct urc *u, const struct io_uring_cqe *cqe)
{
    struct ex_client *cl = u->x.cl;
    int res = cqe->res;
    u->recv_pending = 0;
    if (res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
        unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
        if (cl->lingering) {
            cx_linger_input(srv, cl, (size_t)res);
        } else if (!cl->dead) {
            ws_conn_tick(cl->c, ex_now_ms());
            cx_input(srv, cl, bufs + (size_t)bid * BUF_SIZE, (size_t)res);
            cx_update(srv, cl);
        }
        buf_return(bid); /* every event pointing into it was handled */
    } else if (res == -ENOBUFS) {
        if (!u->retrying && !u->closing) { /* every buffer is out: once they are back */
            u->retrying = 1;
            u->retry_next = retry_head;
            retry_head = u;
        }
        return;
    } else if (res != -ECANCELED && !cl->dead) {
        u->x.reading = 0;
        cx_eof(srv, cl); /* end of file (0) or an error */
        return;
    }
    if (!cl->dead && u->x.reading)
        recv_submit(u);
}

static void on_send(struct urc *u, const struct io_uring_cqe *cqe)
{
    struct send *w = &u->w[u->whead];
    u->whead = (u->whead + 1) % CX_MAX_WRITES;
    /* MSG_WAITALL: anything short of the whole batch is an error (or a cancellation). */
    cx_written(srv, u->x.cl, w->bytes, cqe->res >= 0 && (size_t)cqe->res == w->bytes);
}

static void on_cqe(const struct io_uring_cqe *cqe)
{
    struct op *op = io_uring_cqe_get_data(cqe);
    if (!op)
        return; /* a cancellation's or poll removal's own completion */
    switch (op->kind) {
    case OP_LISTEN:
        listen_armed = 0;
        if (cqe->res > 0 && (cqe->res & POLLIN) && listen_wanted && srv->lfd >= 0)
            ex_on_accept(srv);
        listen_arm(); /* one-shot, re-armed: completes at once while connections wait */
        return;
    case OP_SIGNAL:
        ex_stop = 1; /* cx_service starts the drain */
        return;
    default:
        break;
    }
    struct urc *u = op->u;
    u->ops--;
    if (op->kind == OP_RECV)
        on_recv(u, cqe);
    else
        on_send(u, cqe);
}

/* Connections that found no provided buffer try again, now that buffers are back. */
static void retry_recvs(void)
{
    struct urc *u = retry_head;
    retry_head = NULL;
    while (u) {
        struct urc *next = u->retry_next;
        u->retrying = 0;
        if (!u->closing && (u->x.reading || u->x.cl->lingering))
            recv_submit(u);
        u = next;
    }
}

/* Closed connections whose requests all completed: their socket is closed, memory freed
 * (never while a completion handler may still use them). */
static void reap(void)
{
    struct urc **pp = &reap_head;
    while (*pp) {
        struct urc *u = *pp;
        if (u->ops == 0 && !u->retrying) {
            *pp = u->reap_next;
            finish(u);
        } else {
            pp = &u->reap_next;
        }
    }
}

static int ring_init(void)
{
    static const unsigned tries[] = {IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN,
                                     IORING_SETUP_SINGLE_ISSUER, 0};
    struct io_uring_params p;
    int r = -EINVAL;
    for (size_t i = 0; i < sizeof tries / sizeof tries[0] && r == -EINVAL; i++) {
        memset(&p, 0, sizeof p);
        p.flags = tries[i];
        r = io_uring_queue_init_params(RING_ENTRIES, &ring, &p);
    }
    if (r < 0) {
        fprintf(stderr, "echo-uring: io_uring_queue_init: %s\n", strerror(-r));
        return -1;
    }
    /* The provided buffers, and their ring (mapped: zeroed, page-aligned). */
    size_t ring_bytes = NBUF * sizeof(struct io_uring_buf);
    void *m = mmap(NULL, ring_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    bufs = mmap(NULL, (size_t)NBUF * BUF_SIZE, PROT_READ | PROT_WRITE,
                MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (m == MAP_FAILED || bufs == MAP_FAILED) {
        fprintf(stderr, "echo-uring: out of memory\n");
        return -1;
    }
    br = m;
    struct io_uring_buf_reg reg;
    memset(&reg, 0, sizeof reg);
    reg.ring_addr = (unsigned long)(uintptr_t)br;
    reg.ring_entries = NBUF;
    reg.bgid = BGID;
    if ((r = io_uring_register_buf_ring(&ring, &reg, 0)) != 0) {
        fprintf(stderr, "echo-uring: provided buffer rings need Linux 5.19 or later: %s\n",
                strerror(-r));
        return -1;
    }
    io_uring_buf_ring_init(br);
    for (int i = 0; i < NBUF; i++)
        io_uring_buf_ring_add(br, bufs + (size_t)i * BUF_SIZE, BUF_SIZE, (unsigned short)i,
                              io_uring_buf_ring_mask(NBUF), i);
    io_uring_buf_ring_advance(br, NBUF);
    return 0;
}

static int signals_init(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0 ||
        (sfd = signalfd(-1, &set, SFD_CLOEXEC)) < 0)
        return -1;
    signal(SIGPIPE, SIG_IGN);
    struct io_uring_sqe *sqe = sqe_get();
    io_uring_prep_read(sqe, sfd, &siginfo, sizeof siginfo, 0);
    io_uring_sqe_set_data(sqe, &signal_op);
    return 0;
}

int main(int argc, char **argv)
{
    struct ex_options o;
    struct ex_loop_ops lops = {watch, 0}; /* its own I/O: no TLS */

    ex_parse_args(argc, argv, &o, 0);
    ex_raise_nofile();
    srv = malloc(sizeof *srv);
    if (!srv || ring_init() != 0 || signals_init() != 0)
        return 1;
    cx_init(srv, &cx_uring);
    if (ex_server_init(srv, &o, lops, ex_echo) != 0)
        return 1;
    for (;;) {
        int exit_now, timeout;
        drop_broken();
        timeout = cx_service(srv, &exit_now);
        reap();
        if (exit_now)
            break;
        struct __kernel_timespec ts = {timeout / 1000, (long long)(timeout % 1000) * 1000000};
        struct io_uring_cqe *cqe;
        int r = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, timeout >= 0 ? &ts : NULL, NULL);
        if (r < 0 && r != -ETIME && r != -EINTR && r != -EAGAIN && r != -EBUSY) {
            fprintf(stderr, "echo-uring: io_uring_submit_and_wait_timeout: %s\n", strerror(-r));
            break;
        }
        unsigned head, n = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            on_cqe(cqe);
            n++;
        }
        io_uring_cq_advance(&ring, n);
        retry_recvs();
        reap();
    }

    cx_close_all(srv);
    ex_server_free(srv); /* the listener, the budget */
    /* What was in flight is cancelled: reap it, bounded, so that every connection is freed. */
    for (int i = 0; i < 100; i++) {
        struct __kernel_timespec ts = {0, 10 * 1000000};
        struct io_uring_cqe *cqe;
        unsigned head, n = 0;
        io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            on_cqe(cqe);
            n++;
        }
        io_uring_cq_advance(&ring, n);
        retry_recvs();
        reap();
        if (!reap_head)
            break;
    }
    io_uring_queue_exit(&ring);
    munmap(bufs, (size_t)NBUF * BUF_SIZE);
    munmap(br, NBUF * sizeof(struct io_uring_buf));
    close(sfd);
    free(srv);
    return 0;
}
