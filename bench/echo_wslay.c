/*
 * echo-wslay: the reference echo server for `make bench` -- wslay's event API on epoll, written
 * the way wslay's documentation shows it (recv/send callbacks straight onto the non-blocking
 * socket, MSG_MORE while wslay says more follows). wslay leaves the HTTP upgrade to its user;
 * here libws's handshake layer does it, and the bytes after the request go to wslay first.
 *
 *   echo-wslay [--host 127.0.0.1] [--port 0]
 * prints "listening on 127.0.0.1:PORT" first, like the example servers, and serves until
 * killed. Linux only (epoll); built only by the benchmark, linked with -lwslay.
 */
#define _GNU_SOURCE
#include "ws.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wslay/wslay.h>

struct client {
    int fd;
    ws_handshake *hs;            /* while the upgrade request is read */
    wslay_event_context_ptr ctx; /* once open */
    uint8_t *early;              /* bytes read after the request: frames for wslay */
    size_t early_len, early_pos;
    unsigned watching;
};

static int ep;

static void set_watch(struct client *c, unsigned events)
{
    struct epoll_event e;
    if (events == c->watching)
        return;
    e.events = events;
    e.data.ptr = c;
    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
    c->watching = events;
}

static void drop(struct client *c)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    ws_handshake_free(c->hs);
    if (c->ctx)
        wslay_event_context_free(c->ctx);
    free(c->early);
    free(c);
}

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user)
{
    struct client *c = user;
    (void)flags;
    if (c->early_pos < c->early_len) {
        size_t k = c->early_len - c->early_pos < len ? c->early_len - c->early_pos : len;
        memcpy(buf, c->early + c->early_pos, k);
        c->early_pos += k;
        return (ssize_t)k;
    }
    ssize_t n;
    do
        n = recv(c->fd, buf, len, 0);
    while (n < 0 && errno == EINTR);
    if (n > 0)
        return n;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    struct client *c = user;
    int f = MSG_NOSIGNAL | ((flags & WSLAY_MSG_MORE) ? MSG_MORE : 0);
    ssize_t n;
    do
        n = send(c->fd, data, len, f);
    while (n < 0 && errno == EINTR);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EWOULDBLOCK)
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
    else
        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
    return -1;
}

static void on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                   void *user)
{
    (void)user;
    if (!wslay_is_ctrl_frame(a->opcode)) {
        struct wslay_event_msg m = {a->opcode, a->msg, a->msg_length};
        wslay_event_queue_msg(ctx, &m);
    }
}

static const struct wslay_event_callbacks callbacks = {on_recv, on_send, NULL, NULL,
                                                       NULL,    NULL,    on_msg};

/* Write the whole 101 response (a few hundred bytes into an empty socket buffer). */
static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void serve_ws(struct client *c)
{
    if (wslay_event_want_read(c->ctx) && wslay_event_recv(c->ctx) != 0) {
        drop(c);
        return;
    }
    if (wslay_event_want_write(c->ctx) && wslay_event_send(c->ctx) != 0) {
        drop(c);
        return;
    }
    unsigned ev = 0;
    if (wslay_event_want_read(c->ctx))
        ev |= EPOLLIN;
    if (wslay_event_want_write(c->ctx))
        ev |= EPOLLOUT;
    if (ev == 0) {
        drop(c);
        return;
    }
    set_watch(c, ev);
}

static void on_handshake_readable(struct client *c)
{
    uint8_t buf[4096], out[1024];
    ssize_t n = recv(c->fd, buf, sizeof buf, 0);
    size_t used = 0;
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        drop(c);
        return;
    }
    int r = ws_handshake_feed(c->hs, buf, (size_t)n, &used);
    if (r == 0)
        return; /* not complete yet */
    if (r < 0) {
        int k = ws_handshake_write_error(c->hs, out, sizeof out, NULL);
        if (k > 0)
            write_all(c->fd, out, (size_t)k);
        drop(c);
        return;
    }
    int k = ws_handshake_accept(c->hs, NULL, NULL, NULL, out, sizeof out, NULL);
    if (k <= 0 || write_all(c->fd, out, (size_t)k) != 0 ||
        wslay_event_context_server_init(&c->ctx, &callbacks, c) != 0) {
        drop(c);
        return;
    }
    ws_handshake_free(c->hs);
    c->hs = NULL;
    if (used < (size_t)n) {
        c->early_len = (size_t)n - used;
        c->early = malloc(c->early_len);
        if (!c->early) {
            drop(c);
            return;
        }
        memcpy(c->early, buf + used, c->early_len);
    }
    serve_ws(c);
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1";
    int port = 0, lfd, one = 1;
    struct sockaddr_in a;
    socklen_t alen = sizeof a;
    struct rlimit rl;
    struct epoll_event evs[256], e;

    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--port"))
            port = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--host"))
            host = argv[i + 1];
    }
    signal(SIGPIPE, SIG_IGN);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return 2;
    lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lfd < 0 || bind(lfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(lfd, 4096) != 0 ||
        getsockname(lfd, (struct sockaddr *)&a, &alen) != 0) {
        perror("echo-wslay: listen");
        return 1;
    }
    printf("listening on %s:%d\n", host, ntohs(a.sin_port));
    fflush(stdout);
    ep = epoll_create1(EPOLL_CLOEXEC);
    e.events = EPOLLIN;
    e.data.ptr = NULL;
    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &e);
    for (;;) {
        int n = epoll_wait(ep, evs, 256, -1);
        for (int i = 0; i < n; i++) {
            struct client *c = evs[i].data.ptr;
            if (!c) {
                int fd;
                while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
                    c = calloc(1, sizeof *c);
                    if (!c || ws_handshake_new(&c->hs, WS_ROLE_SERVER, NULL) != WS_OK) {
                        free(c);
                        close(fd);
                        continue;
                    }
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    c->fd = fd;
                    c->watching = EPOLLIN;
                    e.events = EPOLLIN;
                    e.data.ptr = c;
                    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
                }
                continue;
            }
            if (c->hs)
                on_handshake_readable(c);
            else
                serve_ws(c);
        }
    }
}
