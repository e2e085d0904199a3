/*
 * minimal-server [--port N]: the whole sans-I/O loop in one file, nothing but ws.h and POSIX:
 * an echo server on 127.0.0.1 (N = 0: a free port; it prints "listening on 127.0.0.1:PORT")
 * for several non-blocking connections on poll(2). See service() for the loop itself. The
 * echo-* servers run the same loop through examples/common, with limits, timers and fairness.
 */
#define _POSIX_C_SOURCE 200809L
#include "ws.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 64
#define LINGER_MS 2000u

static struct conn {
    int fd;                /* -1: a free slot */
    ws_conn *ws;
    uint64_t linger_until; /* 0 while open; once half-closed, when to close regardless */
} conns[MAX_CONNS];
static volatile sig_atomic_t stop;

static void on_signal(int sig) { stop = sig; }

static uint64_t now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}

static void drop(struct conn *k)
{
    close(k->fd);
    ws_conn_free(k->ws);
    k->fd = -1;
    k->ws = NULL;
}

static void accept_one(int lfd, uint64_t now)
{
    int fd = accept(lfd, NULL, NULL), i = 0;
    while (i < MAX_CONNS && conns[i].fd >= 0)
        i++;
    if (fd < 0)
        return;
    if (i == MAX_CONNS || fcntl(fd, F_SETFL, O_NONBLOCK) ||
        ws_conn_new(&conns[i].ws, WS_ROLE_SERVER, 0, NULL) != WS_OK) {
        close(fd); /* full, or out of memory */
        return;
    }
    conns[i].fd = fd;
    conns[i].linger_until = 0;
    ws_conn_tick(conns[i].ws, now);
}

/* One connection's turn, the loop of ws.h's connection layer in order: tick (the time) ->
 * read, feed -> next_event until none -> output, write, ack -> wants_shutdown: half-close,
 * read to the peer's end of file (LINGER_MS at most), close. */
static void service(struct conn *k, short revents, uint64_t now)
{
    uint8_t buf[16384];
    ssize_t n = -1;
    ws_iovec iov[16];
    ws_event ev;
    int cnt;

    if (k->linger_until) { /* half-closed: discard input until the peer's end of file */
        for (int r = 0; r < 64 && (n = read(k->fd, buf, sizeof buf)) > 0; r++)
            ;
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) ||
            now >= k->linger_until)
            drop(k);
        return;
    }
    ws_conn_tick(k->ws, now); /* the time: handshake, close and send timeouts */
    if (revents & (POLLIN | POLLHUP | POLLERR)) {
        n = read(k->fd, buf, sizeof buf);
        if (n > 0) /* copied, and all taken: less than WS_DEFAULT_MAX_INPUT_BUFFER per feed */
            ws_conn_feed(k->ws, buf, (size_t)n, NULL);
        else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            ws_conn_feed_eof(k->ws); /* close 1006 unless the close handshake was done */
    }
    while (ws_conn_next_event(k->ws, &ev, sizeof ev) > 0) { /* events out, one at a time */
        if (ev.type == WS_EV_REQUEST) /* look at the request (path, Origin...), decide */
            ws_conn_accept(k->ws, NULL, WS_EXTENSIONS_NONE, NULL);
        else if (ev.type == WS_EV_MESSAGE) /* ev.data: a view, valid until the next call */
            ws_conn_send(k->ws, ev.opcode, ev.data, ev.len, 0);
    }
    while ((cnt = ws_conn_output(k->ws, iov, 16)) > 0) { /* bytes out, without a copy */
        ssize_t w = writev(k->fd, (const struct iovec *)(const void *)iov, cnt);
        if (w <= 0)
            break; /* the socket is full (poll says when to go on) or failed */
        ws_conn_output_ack(k->ws, (size_t)w); /* what the socket took */
    }
    if (ws_conn_wants_shutdown(k->ws)) { /* closed and written: a FIN, never a reset */
        shutdown(k->fd, SHUT_WR);
        k->linger_until = now + LINGER_MS;
    }
}

int main(int argc, char **argv)
{
    int port = argc == 3 && !strcmp(argv[1], "--port") ? atoi(argv[2]) : 9001, one = 1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);

    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ||
        bind(lfd, (struct sockaddr *)&a, sizeof a) || listen(lfd, 64) ||
        getsockname(lfd, (struct sockaddr *)&a, &al) || fcntl(lfd, F_SETFL, O_NONBLOCK)) {
        perror("minimal-server");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    printf("listening on 127.0.0.1:%d\n", ntohs(a.sin_port));
    fflush(stdout);
    for (int i = 0; i < MAX_CONNS; i++)
        conns[i].fd = -1;
    while (!stop) {
        struct pollfd p[MAX_CONNS + 1] = {{lfd, POLLIN, 0}};
        uint64_t now = now_ms(), wake = now + 1000;
        for (int i = 0; i < MAX_CONNS; i++) {
            struct conn *k = &conns[i];
            p[i + 1] = (struct pollfd){k->fd, POLLIN, 0}; /* fd -1: poll skips it */
            if (k->fd < 0)
                continue;
            if (!k->linger_until && ws_conn_buffered_amount(k->ws))
                p[i + 1].events |= POLLOUT;
            uint64_t d = k->linger_until ? k->linger_until : ws_conn_next_deadline(k->ws);
            wake = d < wake ? d : wake;
        }
        if (poll(p, MAX_CONNS + 1, wake > now ? (int)(wake - now) : 0) < 0 && errno != EINTR)
            break;
        now = now_ms();
        if (p[0].revents & POLLIN)
            accept_one(lfd, now);
        for (int i = 0; i < MAX_CONNS; i++)
            if (conns[i].fd >= 0)
                service(&conns[i], p[i + 1].revents, now);
    }
    for (int i = 0; i < MAX_CONNS; i++)
        if (conns[i].fd >= 0)
            drop(&conns[i]);
    close(lfd);
    return 0;
}
