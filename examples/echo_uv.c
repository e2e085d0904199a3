/*
 * echo-uv: the echo server on libuv, a completion-based loop: uv_write() takes buffers and
 * calls back once they are written, so the connection's output must stay put meanwhile, and
 * several writes may be in flight per connection (libuv writes them in order). The glue is
 * examples/common/completion.c; command line, listener, limits and events are shared with
 * the other echo servers (examples/common/server.c).
 *
 *   listener    a uv_poll_t on the shared listening socket (accept.c accepts, within the cap)
 *   connection  a uv_tcp_t opened on the accepted socket: uv_read_start into one 64 KiB
 *               buffer shared by all (every event of a read is handled before the next read)
 *   timers      one uv_timer_t, re-armed before each poll (uv_prepare_t) to the earliest
 *               ws_conn_next_deadline() of the timer heap (timers.c)
 *   SIGINT/TERM uv_signal_t: close 1001 to every connection, wait for them at most 2 s
 */
#include "common/completion.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

struct uvc {
    struct cx_conn x; /* first: cl->app points here */
    uv_tcp_t tcp;
    uv_shutdown_t sh;
    struct wreq {
        uv_write_t req;
        size_t bytes;
    } w[CX_MAX_WRITES];
    int whead;
};

static uv_loop_t *loop;
static struct ex_server *srv;
static uv_poll_t listener;
static int listener_open;
static uv_timer_t timer;
static uv_prepare_t prepare;
static uv_signal_t sigint, sigterm;

static struct uvc *uvc(struct ex_client *cl)
{
    return (struct uvc *)cl->app;
}

static struct ex_client *broken;

static void free_uvc(uv_handle_t *h)
{
    free(h->data);
}

static void on_accept(uv_poll_t *h, int status, int events)
{
    (void)h;
    (void)events;
    if (status == 0)
        ex_on_accept(srv);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
    (void)h;
    (void)hint;
    *b = uv_buf_init((char *)srv->rbuf, sizeof srv->rbuf);
}

static void read_cb(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct ex_client *cl = st->data;
    if (n == 0 || cl->dead)
        return; /* EAGAIN */
    if (n < 0) {
        uv_read_stop(st);
        uvc(cl)->x.reading = 0;
        cx_eof(srv, cl);
        return;
    }
    if (cl->lingering) {
        cx_linger_input(srv, cl, (size_t)n);
        return;
    }
    ws_conn_tick(cl->c, ex_now_ms());
    cx_input(srv, cl, (uint8_t *)b->base, (size_t)n);
    cx_update(srv, cl);
}

/* ---- struct ex_loop_ops: the listener, and a new client's loop state ---- */

static void watch(struct ex_server *s, struct ex_client *cl, unsigned want)
{
    if (cl->listener) {
        if (!listener_open) {
            if (uv_poll_init_socket(loop, &listener, cl->fd) != 0)
                return;
            listener_open = 1;
        }
        if (want)
            uv_poll_start(&listener, UV_READABLE, on_accept);
        else
            uv_poll_stop(&listener);
        return;
    }
    if (cl->app)
        return; /* only ex_new_client calls this for a client, once */
    struct uvc *u = calloc(1, sizeof *u);
    if (!u || uv_tcp_init(loop, &u->tcp) != 0) {
        free(u);
        u = NULL;
    } else if (uv_tcp_open(&u->tcp, cl->fd) != 0 ||
               uv_read_start((uv_stream_t *)&u->tcp, alloc_cb, read_cb) != 0) {
        u->tcp.data = u;
        uv_close((uv_handle_t *)&u->tcp, free_uvc);
        u = NULL;
    }
    if (!u) {
        /* Not servable: dropped before the loop polls again (ex_new_client still uses cl). */
        cl->next_dead = broken;
        broken = cl;
        return;
    }
    (void)s;
    u->x.cl = cl;
    u->x.reading = 1;
    u->tcp.data = cl;
    cl->app = u;
}

/* The clients watch() could not set up: gone before anything else sees them. */
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

static void write_cb(uv_write_t *req, int status)
{
    struct ex_client *cl = req->data;
    struct uvc *u = uvc(cl);
    size_t bytes = u->w[u->whead].bytes;
    u->whead = (u->whead + 1) % CX_MAX_WRITES;
    cx_written(srv, cl, bytes, status == 0);
}

static long uv_write_op(struct ex_server *s, struct ex_client *cl, const ws_iovec *iov, int k,
                        size_t bytes, int first)
{
    struct uvc *u = uvc(cl);
    struct wreq *w = &u->w[(u->whead + u->x.writes) % CX_MAX_WRITES];
    uv_buf_t b[CX_IOV];
    long done = 0;
    int i = 0;
    (void)s;
    for (int j = 0; j < k; j++)
        b[j] = uv_buf_init((char *)(uintptr_t)iov[j].base, (unsigned)iov[j].len);
    if (first) {
        /* Nothing in flight: write what the socket takes now, without a request. (A uv_write
         * that completes at once still costs an epoll_ctl when its callback runs.) */
        int r = uv_try_write((uv_stream_t *)&u->tcp, b, (unsigned)k);
        if (r < 0 && r != UV_EAGAIN)
            return -1;
        done = r > 0 ? r : 0;
        if ((size_t)done == bytes)
            return done;
        for (size_t left = (size_t)done; left > 0;) { /* skip what went */
            size_t n = left < b[i].len ? left : b[i].len;
            b[i].base += n;
            b[i].len -= n;
            left -= n;
            if (b[i].len == 0)
                i++;
        }
    }
    w->bytes = bytes - (size_t)done;
    w->req.data = cl;
    /* libuv writes the rest when the socket is writable; it keeps its own copy of the
     * uv_buf_t array, not of the bytes. */
    if (uv_write(&w->req, (uv_stream_t *)&u->tcp, b + i, (unsigned)(k - i), write_cb) != 0)
        return -1;
    return done;
}

static void uv_read_op(struct ex_server *s, struct ex_client *cl, int on)
{
    (void)s;
    if (on)
        uv_read_start((uv_stream_t *)&uvc(cl)->tcp, alloc_cb, read_cb);
    else
        uv_read_stop((uv_stream_t *)&uvc(cl)->tcp);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    struct ex_client *cl = req->data;
    if (status != 0 && status != UV_ECANCELED && !cl->dead)
        cx_drop(srv, cl);
}

static int uv_shutdown_op(struct ex_server *s, struct ex_client *cl)
{
    struct uvc *u = uvc(cl);
    (void)s;
    u->sh.data = cl;
    return uv_shutdown(&u->sh, (uv_stream_t *)&u->tcp, shutdown_cb) == 0 ? 0 : -1;
}

static void closed_cb(uv_handle_t *h)
{
    struct ex_client *cl = h->data;
    free(cl->app);
    free(cl);
}

static void uv_close_op(struct ex_server *s, struct ex_client *cl)
{
    (void)s;
    if (cl->reset) {
        struct linger lg = {1, 0};
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&uvc(cl)->tcp, &fd) == 0)
            setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    /* Writes still in flight are called back with UV_ECANCELED first, then closed_cb. */
    uv_close((uv_handle_t *)&uvc(cl)->tcp, closed_cb);
}

static const struct cx_ops cx_uv = {uv_write_op, NULL, uv_read_op, uv_shutdown_op, uv_close_op, 1};

/* ---- the loop's own handles ---- */

static void timer_cb(uv_timer_t *t)
{
    (void)t; /* it only wakes the loop: prepare_cb runs what is due */
}

static void prepare_cb(uv_prepare_t *p)
{
    int exit_now, timeout;
    (void)p;
    drop_broken();
    timeout = cx_service(srv, &exit_now);
    if (exit_now) {
        uv_stop(loop);
        return;
    }
    if (timeout < 0)
        uv_timer_stop(&timer);
    else
        uv_timer_start(&timer, timer_cb, (uint64_t)timeout, 0);
}

static void signal_cb(uv_signal_t *h, int sig)
{
    (void)h;
    (void)sig;
    ex_stop = 1; /* prepare_cb starts the drain */
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, h->type == UV_TCP ? closed_cb : NULL);
}

int main(int argc, char **argv)
{
    struct ex_options o;
    struct ex_loop_ops lops = {watch, 0}; /* its own I/O: no TLS */
    static uv_loop_t l;

    ex_parse_args(argc, argv, &o, 0);
    ex_raise_nofile();
    signal(SIGPIPE, SIG_IGN);
    srv = malloc(sizeof *srv);
    loop = &l;
    if (!srv || uv_loop_init(loop) != 0)
        return 1;
    cx_init(srv, &cx_uv);
    uv_timer_init(loop, &timer);
    uv_prepare_init(loop, &prepare);
    uv_prepare_start(&prepare, prepare_cb);
    uv_signal_init(loop, &sigint);
    uv_signal_init(loop, &sigterm);
    uv_signal_start(&sigint, signal_cb, SIGINT);
    uv_signal_start(&sigterm, signal_cb, SIGTERM);
    if (ex_server_init(srv, &o, lops, ex_echo) != 0)
        return 1;
    uv_run(loop, UV_RUN_DEFAULT);

    cx_close_all(srv);
    ex_server_free(srv); /* the listener, the budget: every connection is gone */
    uv_walk(loop, close_any, NULL);
    uv_run(loop, UV_RUN_DEFAULT); /* the close callbacks */
    uv_loop_close(loop);
    free(srv);
    return 0;
}
