/* The glue between non-blocking sockets and ws_conn, shared by every example server. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

volatile sig_atomic_t ex_stop;

static void on_signal(int sig)
{
    (void)sig;
    ex_stop = 1;
}

void ex_install_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

uint64_t ex_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

long ex_raise_nofile(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return -1;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    return (long)rl.rlim_cur;
}

/* Non-blocking and close-on-exec, the portable way (accept4/SOCK_NONBLOCK are not on macOS). */
static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static void usage(const char *prog, int broadcast)
{
    fprintf(stderr,
            "usage: %s [--host H] [--port N] [--max-message BYTES] [--subprotocol NAME]...\n"
            "          [--sndbuf BYTES] [--deflate | --no-deflate]%s\n",
            prog,
            broadcast ? "\n          [--policy drop|close] [--ping SECONDS]"
                        " [--max-accept-rate N] [--stats]"
                      : "");
    exit(2);
}

static unsigned long long number(const char *prog, const char *flag, const char *v, int bc)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    if (errno || *end || !*v || *v == '-') {
        fprintf(stderr, "%s: %s needs a number, got '%s'\n", prog, flag, v);
        usage(prog, bc);
    }
    return n;
}

void ex_parse_args(int argc, char **argv, struct ex_options *o, int bc)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 9001;
    o->max_message = 16u << 20;
    o->deflate = ws_deflate_available(); /* on by default when the library has zlib */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--deflate")) {
            o->deflate = 1;
            continue;
        }
        if (!strcmp(a, "--no-deflate")) {
            o->deflate = 0;
            continue;
        }
        if (bc && !strcmp(a, "--stats")) {
            o->stats = 1;
            continue;
        }
        if (!v)
            usage(argv[0], bc);
        i++;
        if (!strcmp(a, "--host")) {
            o->host = v;
        } else if (!strcmp(a, "--port")) {
            unsigned long long p = number(argv[0], a, v, bc);
            if (p > 65535)
                usage(argv[0], bc);
            o->port = (int)p;
        } else if (!strcmp(a, "--max-message")) {
            o->max_message = number(argv[0], a, v, bc);
            if (o->max_message == 0)
                usage(argv[0], bc);
        } else if (!strcmp(a, "--sndbuf")) {
            o->sndbuf = (int)number(argv[0], a, v, bc);
        } else if (!strcmp(a, "--subprotocol")) {
            if (o->nsub == EX_MAX_SUBPROTOCOLS)
                usage(argv[0], bc);
            o->subprotocols[o->nsub++] = v;
        } else if (bc && !strcmp(a, "--policy")) {
            if (strcmp(v, "drop") && strcmp(v, "close"))
                usage(argv[0], bc);
            o->policy_close = !strcmp(v, "close");
        } else if (bc && !strcmp(a, "--ping")) {
            o->ping_interval = (uint32_t)number(argv[0], a, v, bc) * 1000u;
        } else if (bc && !strcmp(a, "--max-accept-rate")) {
            o->max_accept_rate = (uint32_t)number(argv[0], a, v, bc);
        } else {
            usage(argv[0], bc);
        }
    }
    if (o->deflate && !ws_deflate_available()) {
        fprintf(stderr, "%s: --deflate: this libws was built without zlib "
                        "(permessage-deflate unavailable)\n", argv[0]);
        exit(2);
    }
}

/* ---- the listening socket ---- */

/* The listener is watched through the same hook as clients, as a client without a ws_conn. */
static struct ex_client listener;

int ex_server_init(struct ex_server *s, const struct ex_options *o, struct ex_loop_ops ops,
                   ex_event_fn on_event)
{
    struct addrinfo hints, *res = NULL;
    char port[16];
    int fd = -1, one = 1;

    memset(s, 0, sizeof *s);
    s->opt = *o;
    s->ops = ops;
    s->on_event = on_event;
    s->lfd = -1;
    s->pause_above = 256u * 1024u;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof port, "%d", o->port);
    if (getaddrinfo(o->host, port, &hints, &res) != 0 || !res) {
        fprintf(stderr, "cannot resolve %s\n", o->host);
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || set_nonblock(fd) != 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 4096) != 0) {
        perror("listen");
        if (fd >= 0)
            close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);

    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    int bound = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                         : ntohs(((struct sockaddr_in *)&ss)->sin_port);
    s->lfd = fd;
    listener.fd = fd;
    listener.c = NULL;
    listener.listener = 1;
    s->ops.watch(s, &listener, EX_WANT_READ);
    listener.watching = EX_WANT_READ;
    printf("listening on %s:%d\n", o->host, bound);
    fflush(stdout);
    return 0;
}

/* Stop watching, close the socket, and leave the memory to bury() (an event batch may still
 * point at the client). */
static void release(struct ex_server *s, struct ex_client *cl)
{
    s->ops.watch(s, cl, 0);
    cl->watching = 0;
    close(cl->fd);
    cl->dead = 1;
    cl->next_dead = s->graveyard;
    s->graveyard = cl;
}

/* The connection is over for the application: its state and the ws_conn go. */
static void forget(struct ex_server *s, struct ex_client *cl)
{
    if (s->on_drop)
        s->on_drop(s, cl);
    s->by_fd[cl->fd] = NULL;
    s->count--;
    ws_conn_free(cl->c);
    cl->c = NULL;
}

/* Close a live connection at once: for a peer that is gone (end of file, reset, failed write)
 * or one that never completed the handshake. */
static void drop_client(struct ex_server *s, struct ex_client *cl)
{
    forget(s, cl);
    release(s, cl);
}

/*
 * ws_conn wants the transport shut down: half-close it and wait for the peer's end of file
 * (see EX_LINGER_MS in server.h). A peer already at end of file has nothing more to send:
 * its socket is closed at once.
 */
static void start_linger(struct ex_server *s, struct ex_client *cl)
{
    if (cl->peer_eof || shutdown(cl->fd, SHUT_WR) != 0) {
        drop_client(s, cl);
        return;
    }
    forget(s, cl);
    cl->lingering = 1;
    cl->linger_bytes = 0;
    cl->deadline = ex_now_ms() + EX_LINGER_MS;
    cl->linger_next = NULL;
    cl->linger_prev = s->linger_tail;
    if (s->linger_tail)
        s->linger_tail->linger_next = cl;
    else
        s->linger_head = cl;
    s->linger_tail = cl;
    s->lingering++;
    if (cl->watching != EX_WANT_READ) {
        s->ops.watch(s, cl, EX_WANT_READ);
        cl->watching = EX_WANT_READ;
    }
}

static void end_linger(struct ex_server *s, struct ex_client *cl)
{
    if (cl->linger_prev)
        cl->linger_prev->linger_next = cl->linger_next;
    else
        s->linger_head = cl->linger_next;
    if (cl->linger_next)
        cl->linger_next->linger_prev = cl->linger_prev;
    else
        s->linger_tail = cl->linger_prev;
    cl->linger_prev = cl->linger_next = NULL;
    cl->lingering = 0;
    s->lingering--;
    release(s, cl);
}

/* A lingering client is readable: discard what came, close at end of file, an error, or past
 * EX_LINGER_BYTES. */
static void linger_read(struct ex_server *s, struct ex_client *cl)
{
    for (;;) {
        ssize_t n = read(cl->fd, s->rbuf, sizeof s->rbuf);
        if (n > 0) {
            cl->linger_bytes += (size_t)n;
            if (cl->linger_bytes <= EX_LINGER_BYTES)
                continue;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        end_linger(s, cl);
        return;
    }
}

static void bury(struct ex_server *s)
{
    while (s->graveyard) {
        struct ex_client *cl = s->graveyard;
        s->graveyard = cl->next_dead;
        free(cl);
    }
}

void ex_server_free(struct ex_server *s)
{
    for (size_t i = 0; i < s->cap; i++)
        if (s->by_fd[i])
            drop_client(s, s->by_fd[i]);
    while (s->linger_head)
        end_linger(s, s->linger_head);
    free(s->by_fd);
    bury(s);
    if (s->lfd >= 0)
        close(s->lfd);
    s->lfd = -1;
}

static struct ex_client *new_client(struct ex_server *s, int fd)
{
    struct ex_client *cl;
    int one = 1;

    if ((size_t)fd >= s->cap) {
        size_t cap = s->cap ? s->cap : 1024;
        while (cap <= (size_t)fd)
            cap *= 2;
        struct ex_client **t = realloc(s->by_fd, cap * sizeof *t);
        if (!t)
            return NULL;
        memset(t + s->cap, 0, (cap - s->cap) * sizeof *t);
        s->by_fd = t;
        s->cap = cap;
    }
    cl = calloc(1, sizeof *cl);
    if (!cl)
        return NULL;
    cl->fd = fd;
    if (ws_conn_new(&cl->c, WS_ROLE_SERVER, 0, NULL) != WS_OK) {
        free(cl);
        return NULL;
    }
    ws_conn_set_option(cl->c, WS_OPT_MAX_MESSAGE_SIZE, s->opt.max_message);
    if (s->opt.deflate) /* answered automatically: ws_conn_accept gets extensions NULL */
        ws_conn_set_option(cl->c, WS_OPT_DEFLATE, 1);
    /* Room for what one read can produce past the pause threshold: never WOULD_BLOCK in echo. */
    ws_conn_set_option(cl->c, WS_OPT_SEND_HIGH_WATER,
                       s->pause_above + s->opt.max_message + sizeof s->rbuf + 4096);
    if (s->opt.ping_interval) {
        ws_conn_set_option(cl->c, WS_OPT_PING_INTERVAL, s->opt.ping_interval);
        ws_conn_set_option(cl->c, WS_OPT_PONG_TIMEOUT, s->opt.ping_interval);
    }
    ws_conn_tick(cl->c, ex_now_ms());
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (s->opt.sndbuf > 0) /* bound the kernel's share of a slow client's backlog too */
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &s->opt.sndbuf, sizeof s->opt.sndbuf);
    s->by_fd[fd] = cl;
    s->count++;
    s->stat_accepted++;
    cl->watching = 0;
    s->ops.watch(s, cl, EX_WANT_READ);
    cl->watching = EX_WANT_READ;
    cl->deadline = ws_conn_next_deadline(cl->c);
    return cl;
}

void ex_on_accept(struct ex_server *s)
{
    for (;;) {
        if (s->opt.max_accept_rate) {
            uint64_t now = ex_now_ms();
            if (now - s->accept_window >= 1000) {
                s->accept_window = now;
                s->accepted_in_window = 0;
            }
            if (s->accepted_in_window >= s->opt.max_accept_rate) {
                /* Leave the rest in the kernel's backlog until the next window: a reconnect
                 * storm queues instead of collapsing the server. */
                s->ops.watch(s, &listener, 0);
                listener.watching = 0;
                return;
            }
        }
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            return; /* EAGAIN, or EMFILE: try again on the next wake-up */
        }
        if (set_nonblock(fd) != 0 || !new_client(s, fd)) {
            close(fd);
            continue;
        }
        s->accepted_in_window++;
    }
}

/* ---- events ---- */

static void choose_and_accept(struct ex_server *s, struct ex_client *cl)
{
    const ws_handshake *hs = ws_conn_handshake(cl->c);
    const char *chosen = NULL;

    for (size_t i = 0; hs && !chosen && i < ws_handshake_subprotocol_count(hs); i++) {
        const char *p;
        size_t n;
        if (ws_handshake_subprotocol(hs, i, &p, &n) < 0)
            continue;
        for (int k = 0; k < s->opt.nsub; k++)
            if (strlen(s->opt.subprotocols[k]) == n && !memcmp(s->opt.subprotocols[k], p, n))
                chosen = p;
    }
    if (ws_conn_accept(cl->c, chosen, NULL, NULL) < 0)
        ws_conn_reject(cl->c, 500, NULL, NULL, NULL, 0);
}

static int drain_events(struct ex_server *s, struct ex_client *cl)
{
    ws_event ev;
    int n = 0;
    while (ws_conn_next_event(cl->c, &ev, sizeof ev) > 0) {
        n++;
        if (ev.type == WS_EV_REQUEST) {
            if (s->draining)
                ws_conn_reject(cl->c, 503, NULL, "Retry-After: 5\r\n", NULL, 0);
            else
                choose_and_accept(s, cl);
        }
        if (ev.type == WS_EV_CLOSE && ev.close_code == WS_CLOSE_ABNORMAL)
            s->stat_1006++;
        s->on_event(s, cl, &ev);
    }
    return n;
}

/* Feed what was read: drain events, feed the rest, until all of it is used. The server owns
 * rbuf, so it feeds in place (zero copy: events point into rbuf until drained). */
static void feed(struct ex_server *s, struct ex_client *cl, uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t used = 0;
        int r = ws_conn_feed_inplace(cl->c, p, n, &used);
        p += used;
        n -= used;
        if (drain_events(s, cl) == 0 && (r < 0 || used == 0))
            break;
    }
}

void ex_on_readable(struct ex_server *s, struct ex_client *cl)
{
    if (cl->lingering) {
        linger_read(s, cl); /* never fed to the ws_conn again: it is gone */
        return;
    }
    ws_conn_tick(cl->c, ex_now_ms());
    for (int round = 0; round < 4; round++) {
        if (ws_conn_buffered_amount(cl->c) > s->pause_above)
            break; /* a slow reader: stop reading until its output drains */
        ssize_t n = read(cl->fd, s->rbuf, sizeof s->rbuf);
        if (n > 0) {
            feed(s, cl, s->rbuf, (size_t)n);
            if ((size_t)n < sizeof s->rbuf)
                break;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
        cl->peer_eof = 1;
        ws_conn_feed_eof(cl->c); /* end of file, or a reset */
        drain_events(s, cl);
        break;
    }
    ex_flush(s, cl);
}

void ex_on_writable(struct ex_server *s, struct ex_client *cl)
{
    ex_flush(s, cl);
}

int ex_send(struct ex_server *s, struct ex_client *cl, uint32_t op, const void *p, size_t n)
{
    (void)s;
    int r = ws_conn_send(cl->c, op, p, n, 0);
    if (r == WS_ERR_WOULD_BLOCK)
        ws_conn_close(cl->c, WS_CLOSE_TRY_AGAIN_LATER, "send queue full", 15);
    return r;
}

void ex_echo(struct ex_server *s, struct ex_client *cl, const ws_event *ev)
{
    if (ev->type == WS_EV_MESSAGE)
        ex_send(s, cl, ev->opcode, ev->data, ev->len);
}

void ex_flush(struct ex_server *s, struct ex_client *cl)
{
    ws_iovec iov[16];
    int dead = 0;

    if (cl->lingering)
        return; /* a stale write event: nothing is written any more */
    for (;;) {
        int k = ws_conn_output(cl->c, iov, 16);
        if (k <= 0 && s->on_drained && s->on_drained(s, cl))
            continue;
        if (k <= 0)
            break;
        ssize_t w = writev(cl->fd, (const struct iovec *)(const void *)iov, k);
        if (w > 0) {
            ws_conn_output_ack(cl->c, (size_t)w);
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            break;
        dead = 1; /* the peer is gone: nothing more can be written */
        ws_conn_feed_eof(cl->c);
        drain_events(s, cl);
        break;
    }
    if (dead) {
        drop_client(s, cl);
        return;
    }
    if (ws_conn_wants_shutdown(cl->c)) {
        start_linger(s, cl);
        return;
    }
    unsigned want = 0;
    if (ws_conn_buffered_amount(cl->c) <= s->pause_above)
        want |= EX_WANT_READ;
    if (ws_conn_buffered_amount(cl->c) > 0)
        want |= EX_WANT_WRITE;
    if (want != cl->watching) {
        s->ops.watch(s, cl, want);
        cl->watching = want;
    }
    cl->deadline = ws_conn_next_deadline(cl->c);
}

int ex_service(struct ex_server *s, int *exit_now)
{
    uint64_t now = ex_now_ms(), next = UINT64_MAX;

    *exit_now = 0;
    bury(s);
    while (s->linger_head && s->linger_head->deadline <= now)
        end_linger(s, s->linger_head); /* the peer did not close in time */
    if (ex_stop && !s->draining) {
        s->draining = 1;
        s->drain_deadline = now + 2000;
        if (listener.watching)
            s->ops.watch(s, &listener, 0);
        listener.watching = 0;
        close(s->lfd);
        s->lfd = -1;
        for (size_t i = 0; i < s->cap; i++) {
            struct ex_client *cl = s->by_fd[i];
            if (!cl)
                continue;
            if (ws_conn_state(cl->c) == WS_STATE_OPEN)
                ws_conn_close(cl->c, WS_CLOSE_GOING_AWAY, "going away: reconnect with jitter",
                              33);
            else if (ws_conn_state(cl->c) == WS_STATE_CONNECTING) {
                drop_client(s, cl);
                continue;
            }
            ex_flush(s, cl);
        }
    }
    if (s->draining && ((s->count == 0 && s->lingering == 0) || now >= s->drain_deadline)) {
        *exit_now = 1;
        return 0;
    }
    if (s->lfd >= 0 && !listener.watching && now - s->accept_window >= 1000) {
        s->ops.watch(s, &listener, EX_WANT_READ);
        listener.watching = EX_WANT_READ;
    }
    if (s->lfd >= 0 && !listener.watching)
        next = s->accept_window + 1000;
    for (size_t i = 0; i < s->cap; i++) {
        struct ex_client *cl = s->by_fd[i];
        if (!cl)
            continue;
        if (cl->deadline <= now) {
            ws_conn_tick(cl->c, now);
            drain_events(s, cl);
            ex_flush(s, cl);
            if (!s->by_fd[i])
                continue;
        }
        if (cl->deadline < next)
            next = cl->deadline;
    }
    if (s->linger_head && s->linger_head->deadline < next)
        next = s->linger_head->deadline;
    if (s->draining && next > now + 100)
        next = now + 100;
    if (s->on_tick) {
        s->on_tick(s, now);
        if (next > now + 1000)
            next = now + 1000;
    }
    if (next == UINT64_MAX)
        return -1;
    return next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
}
