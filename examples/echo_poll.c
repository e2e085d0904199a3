/*
 * echo-poll: the echo server on poll(2), for any POSIX system. Only the event loop differs from
 * echo-epoll; everything else is in examples/common/server.c.
 */
#include "common/server.h"

#include <poll.h>
#include <stdlib.h>

static struct pollfd *pfd;
static struct ex_client **owner;
static size_t npfd, cappfd;

static void watch(struct ex_server *s, struct ex_client *cl, unsigned want)
{
    (void)s;
    short ev = (short)(((want & EX_WANT_READ) ? POLLIN : 0) | ((want & EX_WANT_WRITE) ? POLLOUT : 0));
    if (cl->watching == 0 && want != 0) {
        if (npfd == cappfd) {
            size_t cap = cappfd ? cappfd * 2 : 256;
            struct pollfd *p = realloc(pfd, cap * sizeof *p);
            struct ex_client **o = p ? realloc(owner, cap * sizeof *o) : NULL;
            if (p)
                pfd = p;
            if (!o)
                abort(); /* out of memory in an example: give up loudly */
            owner = o;
            cappfd = cap;
        }
        cl->index = (int)npfd++;
    } else if (cl->watching != 0 && want == 0) {
        /* Move the last entry into the freed slot. */
        size_t i = (size_t)cl->index, last = --npfd;
        pfd[i] = pfd[last];
        owner[i] = owner[last];
        owner[i]->index = (int)i;
        cl->index = -1;
        return;
    } else if (want == 0) {
        return;
    }
    pfd[cl->index].fd = cl->fd;
    pfd[cl->index].events = ev;
    pfd[cl->index].revents = 0;
    owner[cl->index] = cl;
}

static void echo(struct ex_server *s, struct ex_client *cl, const ws_event *ev)
{
    if (ev->type == WS_EV_MESSAGE)
        ex_send(s, cl, (ws_opcode)ev->opcode, ev->data, ev->len);
}

int main(int argc, char **argv)
{
    struct ex_options o;
    struct ex_server *s = malloc(sizeof *s);
    struct ex_loop_ops ops = {watch};
    struct ex_client **ready = NULL;
    short *revents = NULL;

    ex_parse_args(argc, argv, &o, 0);
    ex_raise_nofile();
    ex_install_signals();
    if (!s || ex_server_init(s, &o, ops, echo) != 0)
        return 1;
    for (;;) {
        int exit_now, timeout = ex_service(s, &exit_now);
        if (exit_now)
            break;
        if (poll(pfd, (nfds_t)npfd, timeout) <= 0)
            continue;
        /* Handlers add and remove entries: take a snapshot of who is ready first. */
        size_t n = 0;
        ready = realloc(ready, npfd * sizeof *ready);
        revents = realloc(revents, npfd * sizeof *revents);
        if (!ready || !revents)
            break;
        for (size_t i = 0; i < npfd; i++)
            if (pfd[i].revents) {
                ready[n] = owner[i];
                revents[n++] = pfd[i].revents;
            }
        for (size_t i = 0; i < n; i++) {
            struct ex_client *cl = ready[i];
            if (cl->dead)
                continue; /* dropped by an earlier handler in this round */
            if (cl->c == NULL) {
                ex_on_accept(s);
                continue;
            }
            if (revents[i] & (POLLIN | POLLHUP | POLLERR))
                ex_on_readable(s, cl);
            else if (revents[i] & POLLOUT)
                ex_on_writable(s, cl);
        }
    }
    ex_server_free(s);
    free(s);
    free(ready);
    free(revents);
    free(pfd);
    free(owner);
    return 0;
}
