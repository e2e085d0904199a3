/*
 * echo-epoll: a WebSocket echo server on Linux epoll. Everything but the event loop is in
 * examples/common/server.c, shared with echo-poll and echo-kqueue.
 */
#include "common/server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <unistd.h>

static int ep = -1;

static void watch(struct ex_server *s, struct ex_client *cl, unsigned want)
{
    struct epoll_event e;
    (void)s;
    e.events = ((want & EX_WANT_READ) ? EPOLLIN : 0u) | ((want & EX_WANT_WRITE) ? EPOLLOUT : 0u);
    e.data.ptr = cl;
    if (want == 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, cl->fd, &e);
        return;
    }
    if (epoll_ctl(ep, EPOLL_CTL_MOD, cl->fd, &e) != 0 && errno == ENOENT)
        epoll_ctl(ep, EPOLL_CTL_ADD, cl->fd, &e);
}

int main(int argc, char **argv)
{
    struct ex_options o;
    struct ex_server *s = malloc(sizeof *s);
    struct ex_loop_ops ops = {watch, 1};
    struct epoll_event evs[256];

    ex_parse_args(argc, argv, &o, 0);
    ex_raise_nofile();
    ex_install_signals();
    ep = epoll_create1(EPOLL_CLOEXEC);
    if (!s || ep < 0 || ex_server_init(s, &o, ops, ex_echo) != 0)
        return 1;
    for (;;) {
        int exit_now, timeout = ex_service(s, &exit_now);
        if (exit_now)
            break;
        int n = epoll_wait(ep, evs, 256, timeout);
        for (int i = 0; i < n; i++) {
            struct ex_client *cl = evs[i].data.ptr;
            if (cl->dead)
                continue; /* dropped by an earlier handler in this batch */
            if (cl->listener) {
                ex_on_accept(s);
                continue;
            }
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                ex_on_readable(s, cl);
            else if (evs[i].events & EPOLLOUT)
                ex_on_writable(s, cl);
        }
    }
    ex_server_free(s);
    free(s);
    close(ep);
    return 0;
}
