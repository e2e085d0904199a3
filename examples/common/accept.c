/*
 * The listening socket and its limits:
 *   - a connection cap (--max-conns, live and lingering connections together; 0: none): over
 *     it, a new connection is accepted and closed at once (the client sees its connection
 *     closed or reset before any response; stat_refused counts them);
 *   - out of descriptors (EMFILE, ENFILE): the listener is level-triggered, so leaving the
 *     waiting connection in the backlog would wake the loop forever. A spare descriptor is
 *     kept open for that moment (nginx's trick): close it, accept the waiting connection,
 *     close that, reopen the spare (stat_shed counts them). If even that fails, the listener
 *     rests for EX_ACCEPT_PAUSE_MS. Established connections are served all along;
 *   - an accept rate (--max-accept-rate, broadcast): past it, the listener rests until the
 *     next one-second window, and new connections wait in the kernel's backlog; with
 *     --retry-after S they are accepted instead and their upgrade request is answered 503
 *     with a Retry-After drawn in [1, S] seconds (server.c), so a reconnect storm is told to
 *     spread itself rather than left to time out in the backlog (refusals do not count
 *     against the rate; EX_ACCEPT_BATCH and --max-conns still bound them);
 *   - at most EX_ACCEPT_BATCH accepts per wake-up.
 */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* Non-blocking and close-on-exec, the portable way (accept4/SOCK_NONBLOCK are not on macOS). */
static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

static int open_spare(void)
{
    int fd = open("/dev/null", O_RDONLY);
    if (fd >= 0)
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    return fd;
}

static void listener_watch(struct ex_server *s, unsigned want)
{
    if (s->listener.watching != want) {
        s->ops.watch(s, &s->listener, want);
        s->listener.watching = want;
    }
}

/* Stop watching the listener until `until` (ex_accept_service watches it again). */
static void listener_rest(struct ex_server *s, uint64_t until)
{
    listener_watch(s, 0);
    s->accept_resume = until;
}

int ex_listen(struct ex_server *s)
{
    struct addrinfo hints, *res = NULL;
    char port[16];
    int fd = -1, one = 1;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    snprintf(port, sizeof port, "%d", s->opt.port);
    if (getaddrinfo(s->opt.host, port, &hints, &res) != 0 || !res) {
        fprintf(stderr, "cannot resolve %s\n", s->opt.host);
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd < 0 || set_nonblock(fd) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
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
    s->spare_fd = open_spare();
    memset(&s->listener, 0, sizeof s->listener);
    s->listener.fd = fd;
    s->listener.listener = 1;
    s->listener.deadline = WS_DEADLINE_NONE;
    listener_watch(s, EX_WANT_READ);
    printf("listening on %s:%d\n", s->opt.host, bound);
    fflush(stdout);
    return 0;
}

void ex_listen_close(struct ex_server *s)
{
    if (s->lfd >= 0) {
        listener_watch(s, 0);
        close(s->lfd);
    }
    if (s->spare_fd >= 0)
        close(s->spare_fd);
    s->lfd = s->spare_fd = -1;
    s->accept_resume = 0;
}

uint64_t ex_accept_service(struct ex_server *s, uint64_t now)
{
    if (s->lfd < 0)
        return 0;
    if (s->accept_resume && now >= s->accept_resume) {
        s->accept_resume = 0;
        listener_watch(s, EX_WANT_READ);
    }
    return s->accept_resume;
}

/*
 * accept() failed for want of a descriptor. Trade the spare for the connection that waits and
 * close it; returns 1 if that worked (the caller may go on accepting), 0 if the listener now
 * rests instead.
 */
static int out_of_descriptors(struct ex_server *s)
{
    if (s->spare_fd >= 0) {
        close(s->spare_fd);
        s->spare_fd = -1;
        int fd = accept(s->lfd, NULL, NULL);
        if (fd >= 0) {
            close(fd);
            s->stat_shed++;
        }
        s->spare_fd = open_spare();
        if (fd >= 0 && s->spare_fd >= 0)
            return 1;
    } else {
        s->spare_fd = open_spare(); /* a descriptor may have come free since */
    }
    listener_rest(s, ex_now_ms() + EX_ACCEPT_PAUSE_MS);
    return 0;
}

void ex_on_accept(struct ex_server *s)
{
    for (int n = 0; n < EX_ACCEPT_BATCH && s->lfd >= 0; n++) {
        int over = 0;
        if (s->opt.max_accept_rate) {
            uint64_t now = ex_now_ms();
            if (now - s->accept_window >= 1000) {
                s->accept_window = now;
                s->accepted_in_window = 0;
            }
            over = s->accepted_in_window >= s->opt.max_accept_rate;
            if (over && !s->opt.retry_after) {
                /* Leave the rest in the kernel's backlog until the next window: a reconnect
                 * storm queues instead of collapsing the server. */
                listener_rest(s, s->accept_window + 1000);
                return;
            }
        }
        int fd = accept(s->lfd, NULL, NULL);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if ((errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) &&
                out_of_descriptors(s))
                continue;
            return; /* EAGAIN: the backlog is empty */
        }
        if (s->opt.max_conns && s->count + s->lingering >= s->opt.max_conns) {
            s->stat_refused++;
            close(fd);
            continue;
        }
        struct ex_client *cl;
        if (set_nonblock(fd) != 0 ||
            !(cl = s->new_client ? s->new_client(s, fd) : ex_new_client(s, fd))) {
            close(fd);
            continue;
        }
        if (over)
            cl->refuse = 1; /* --retry-after: told to come back later (server.c) */
        else
            s->accepted_in_window++;
    }
}
