/*
 * echo-kqueue: the echo server on kqueue(2) (macOS, FreeBSD, OpenBSD, NetBSD). Only the event
 * loop differs from echo-epoll; everything else is in examples/common/server.c.
 */
#include "common/server.h"

#include <stdlib.h>
#include <sys/types.h>
#include <sys/event.h>
#include <time.h>
#include <unistd.h>

static int kq = -1;

static void watch(struct ex_server *s, struct ex_client *cl, unsigned want)
{
    struct kevent ch[2];
    int n = 0;
    unsigned old = cl->watching;
    (void)s;
    if ((want & EX_WANT_READ) != (old & EX_WANT_READ)) {
        EV_SET(&ch[n], (uintptr_t)cl->fd, EVFILT_READ,
               (want & EX_WANT_READ) ? EV_ADD | EV_ENABLE : EV_DELETE, 0, 0, cl);
        n++;
    }
    if ((want & EX_WANT_WRITE) != (old & EX_WANT_WRITE)) {
        EV_SET(&ch[n], (uintptr_t)cl->fd, EVFILT_WRITE,
               (want & EX_WANT_WRITE) ? EV_ADD | EV_ENABLE : EV_DELETE, 0, 0, cl);
        n++;
    }
    if (n)
        kevent(kq, ch, n, NULL, 0, NULL);
}

int main(int argc, char **argv)
{
    struct ex_options o;
    struct ex_server *s = malloc(sizeof *s);
    struct ex_loop_ops ops = {watch, 1};
    struct kevent evs[256];

    ex_parse_args(argc, argv, &o, 0);
    ex_raise_nofile();
    ex_install_signals();
    kq = kqueue();
    if (!s || kq < 0 || ex_server_init(s, &o, ops, ex_echo) != 0)
        return 1;
    for (;;) {
        int exit_now, timeout = ex_service(s, &exit_now);
        struct timespec ts, *tsp = NULL;
        if (exit_now)
            break;
        if (timeout >= 0) {
            ts.tv_sec = timeout / 1000;
            ts.tv_nsec = (long)(timeout % 1000) * 1000000L;
            tsp = &ts;
        }
        int n = kevent(kq, NULL, 0, evs, 256, tsp);
        for (int i = 0; i < n; i++) {
            struct ex_client *cl = evs[i].udata;
            if (cl->dead || (evs[i].flags & EV_ERROR))
                continue; /* dropped earlier in this batch, or a stale registration */
            if (cl->listener) {
                ex_on_accept(s);
                continue;
            }
            if (evs[i].filter == EVFILT_READ)
                ex_on_readable(s, cl);
            else if (evs[i].filter == EVFILT_WRITE)
                ex_on_writable(s, cl);
        }
    }
    ex_server_free(s);
    free(s);
    close(kq);
    return 0;
}
