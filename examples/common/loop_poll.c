/* A poll(2) event loop for the example servers: portable to any POSIX system. */
#include "server.h"

#include <poll.h>
#include <stdlib.h>

static struct pollfd *pfd;
static struct ex_client **owner;
static size_t npfd, cappfd;
static int loop_over; /* the tables are freed: ex_server_free may still ask to stop watching */

static void watch(struct ex_server *s, struct ex_client *cl, unsigned want)
{
    (void)s;
    if (loop_over)
        return;
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

int ex_run_poll(struct ex_server *s)
{
    struct ex_client **ready = NULL;
    short *revents = NULL;

    loop_over = 0;
    for (;;) {
        int exit_now, timeout = ex_service(s, &exit_now);
        if (exit_now)
            break;
        if (poll(pfd, (nfds_t)npfd, timeout) <= 0)
            continue;
        /* Handlers add and remove entries: take a snapshot of who is ready first. */
        size_t n = 0;
        struct ex_client **r2 = realloc(ready, npfd * sizeof *ready);
        short *e2 = r2 ? realloc(revents, npfd * sizeof *revents) : NULL;
        if (r2)
            ready = r2;
        if (!e2)
            break;
        revents = e2;
        for (size_t i = 0; i < npfd; i++)
            if (pfd[i].revents) {
                ready[n] = owner[i];
                revents[n++] = pfd[i].revents;
            }
        for (size_t i = 0; i < n; i++) {
            struct ex_client *cl = ready[i];
            if (cl->dead)
                continue; /* dropped by an earlier handler in this round */
            if (cl->listener) {
                ex_on_accept(s);
                continue;
            }
            if (cl->io) { /* a descriptor of the application's (ex_watch_fd) */
                unsigned bits = 0;
                if (revents[i] & (POLLIN | POLLHUP | POLLERR))
                    bits |= EX_WANT_READ;
                if (revents[i] & (POLLOUT | POLLERR))
                    bits |= EX_WANT_WRITE;
                cl->io(s, cl, bits);
                continue;
            }
            if (revents[i] & (POLLIN | POLLHUP | POLLERR))
                ex_on_readable(s, cl);
            else if (revents[i] & POLLOUT)
                ex_on_writable(s, cl);
        }
    }
    free(ready);
    free(revents);
    free(pfd);
    free(owner);
    pfd = NULL;
    owner = NULL;
    npfd = cappfd = 0;
    loop_over = 1;
    return 0;
}

const struct ex_loop_ops ex_poll_ops = {watch, 1};
