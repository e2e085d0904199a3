/*
 * Minimal stand-in for the BSD <sys/event.h>, only so that `make check` can syntax-check
 * examples/echo_kqueue.c on Linux (-fsyntax-only; nothing is linked or run). It declares the
 * kqueue API as the FreeBSD kqueue(2) manual page gives it.
 */
#ifndef WS_STUB_SYS_EVENT_H
#define WS_STUB_SYS_EVENT_H

#include <stdint.h>
#include <time.h>

struct kevent {
    uintptr_t ident;       /* identifier for this event */
    short filter;          /* filter for event */
    unsigned short flags;  /* action flags for kqueue */
    unsigned int fflags;   /* filter flag value */
    int64_t data;          /* filter data value */
    void *udata;           /* opaque user data identifier */
    uint64_t ext[4];       /* extensions */
};

#define EVFILT_READ (-1)
#define EVFILT_WRITE (-2)

#define EV_ADD 0x0001
#define EV_DELETE 0x0002
#define EV_ENABLE 0x0004
#define EV_DISABLE 0x0008
#define EV_ERROR 0x4000
#define EV_EOF 0x8000

#define EV_SET(kevp, a, b, c, d, e, f)        \
    do {                                      \
        struct kevent *ev_p_ = (kevp);        \
        ev_p_->ident = (a);                   \
        ev_p_->filter = (b);                  \
        ev_p_->flags = (c);                   \
        ev_p_->fflags = (d);                  \
        ev_p_->data = (e);                    \
        ev_p_->udata = (f);                   \
        ev_p_->ext[0] = ev_p_->ext[1] = 0;    \
        ev_p_->ext[2] = ev_p_->ext[3] = 0;    \
    } while (0)

int kqueue(void);
int kevent(int kq, const struct kevent *changelist, int nchanges, struct kevent *eventlist,
           int nevents, const struct timespec *timeout);

#endif
