/*
 * echo-load: loopback echo benchmark. Starts two echo servers -- libws's echo-epoll and the
 * wslay reference (bench/echo_wslay.c) -- pinned to one core, and drives each from this
 * process, pinned to another: N connections (default 100), each keeping K masked binary
 * messages in flight (closed loop: every echo sends the next one). For each message size and
 * K, each repetition measures libws then wslay back to back (the order alternates), so each
 * ratio is taken in the same run; figures are medians over repetitions.
 *
 * Reports messages/s, the round-trip time p50/p99 (issue to echo, generator side), and the
 * server's CPU per round trip (utime+stime from /proc/PID/stat around the window).
 *
 *   echo-load LIBWS_SERVER WSLAY_SERVER [--quick] [--conns N] [--reps R] [--seconds S]
 *
 * Or against one server already running (bench/echo_compare.sh starts and pins them), one
 * measurement, printed as one line "RESULT msgs_per_s=.. p50_us=.. p99_us=.. cpu_us=..
 * echoed=..":
 *
 *   echo-load --port P [--pid PID] [--size BYTES] [--flight K] [--conns N] [--seconds S]
 *             [--warm S] [--messages M]
 *
 * --pid names the server process whose CPU time is read; --messages M sends exactly M
 * messages in all (K per connection at most in flight) and waits for their M echoes instead
 * of a time window: the fixed workload of a callgrind run.
 *
 * The generator is deliberately lean: frames are prebuilt (64 per size, a random masking key
 * each, as a client must mask), and echoes are parsed only as far as needed to count them.
 */
#define _GNU_SOURCE
#include "bench_util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

enum { NFRAMES = 64, MAXFLIGHT = 16, HIST_US = 1000000 };

struct server {
    const char *path, *label;
    pid_t pid;
    int port;
};

struct conn {
    int fd;
    unsigned id;
    /* sending: `owed` frames still to write; the current one from `off` */
    unsigned owed, next, off;
    /* receiving: header bytes gathered, payload still to skip */
    uint8_t hdr[10];
    unsigned hlen, hneed;
    uint64_t skip;
    int in_payload;
    /* issue times of messages in flight, FIFO */
    double issued[MAXFLIGHT * 2];
    unsigned qhead, qcount;
    int want_out;
};

static uint8_t *frames[NFRAMES];
static size_t frame_len;
static size_t msg_size;
static uint32_t *hist;
static int ncpu;
/* --messages: messages still to issue (UINT64_MAX: no limit), echoes that end the run */
static uint64_t issue_left = UINT64_MAX, stop_after;

static void pin(pid_t pid, int cpu)
{
    cpu_set_t set;
    if (ncpu < 2)
        return;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    sched_setaffinity(pid, sizeof set, &set);
}

static int start_server(struct server *s)
{
    int pfd[2];
    char line[128];
    if (pipe(pfd) != 0)
        return -1;
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        pin(0, 0);
        dup2(pfd[1], 1);
        close(pfd[0]);
        execl(s->path, s->path, "--port", "0", (char *)NULL);
        _exit(127);
    }
    close(pfd[1]);
    FILE *f = fdopen(pfd[0], "r");
    if (!f || !fgets(line, sizeof line, f) ||
        sscanf(line, "listening on 127.0.0.1:%d", &s->port) != 1) {
        fprintf(stderr, "echo-load: %s did not start\n", s->path);
        return -1;
    }
    /* Keep the pipe open (the server may print more); nothing else is read. */
    return 0;
}

static double server_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')'); /* the command name may hold spaces */
    unsigned long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

/* Blocking connect and opening handshake; then non-blocking. */
static int open_conn(int port)
{
    struct sockaddr_in a;
    uint8_t req[1024], resp[1024];
    size_t need = 0, got = 0, used = 0;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0), r = 0;
    char url[64];
    ws_handshake *hs = NULL;

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
    if (fd < 0 || ws_handshake_new(&hs, WS_ROLE_CLIENT, NULL) != WS_OK ||
        connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        goto fail;
    int k = ws_handshake_client_request(hs, url, strlen(url), NULL, 0, NULL, NULL, req,
                                        sizeof req, &need);
    if (k <= 0 || write(fd, req, (size_t)k) != k)
        goto fail;
    while (r == 0) {
        ssize_t n = read(fd, resp + got, sizeof resp - got);
        if (n <= 0)
            goto fail;
        r = ws_handshake_feed(hs, resp + got, (size_t)n, &used);
        got += (size_t)n;
        if (r == WS_HANDSHAKE_COMPLETE && used != (size_t)n)
            goto fail; /* the server spoke first: not expected from an echo server */
    }
    if (r != WS_HANDSHAKE_COMPLETE)
        goto fail;
    ws_handshake_free(hs);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
fail:
    ws_handshake_free(hs);
    if (fd >= 0)
        close(fd);
    return -1;
}

static void build_frames(size_t size)
{
    uint64_t rng = 0xC0FFEE ^ size;
    uint8_t *payload = malloc(size ? size : 1);
    if (!payload)
        exit(1);
    for (size_t i = 0; i < size; i++)
        payload[i] = (uint8_t)bu_rand(&rng);
    frame_len = size + ws_frame_header_size(size, 1);
    for (int i = 0; i < NFRAMES; i++) {
        ws_frame_header h;
        memset(&h, 0, sizeof h);
        h.fin = 1;
        h.opcode = WS_OP_BINARY;
        h.masked = 1;
        bu_random_hook(&rng, h.mask, 4);
        free(frames[i]);
        frames[i] = malloc(frame_len);
        if (!frames[i] || ws_frame_encode(frames[i], frame_len, &h, sizeof h, payload, size) < 0)
            exit(1);
    }
    msg_size = size;
    free(payload);
}

static void issue(struct conn *c, double now)
{
    if (issue_left == 0)
        return;
    if (issue_left != UINT64_MAX)
        issue_left--;
    c->issued[(c->qhead + c->qcount) % (MAXFLIGHT * 2)] = now;
    c->qcount++;
    c->owed++;
}

/* Write what is owed; returns -1 if the connection failed. */
static int flush_out(struct conn *c)
{
    while (c->owed > 0) {
        struct iovec iov[MAXFLIGHT];
        int k = 0;
        unsigned idx = c->next;
        for (unsigned i = 0; i < c->owed && k < MAXFLIGHT; i++, k++) {
            size_t off = i == 0 ? c->off : 0;
            iov[k].iov_base = frames[idx % NFRAMES] + off;
            iov[k].iov_len = frame_len - off;
            idx++;
        }
        ssize_t w = writev(c->fd, iov, k);
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return 0;
        if (w <= 0)
            return -1;
        size_t left = (size_t)w;
        while (left > 0) {
            size_t rest = frame_len - c->off;
            if (left < rest) {
                c->off += (unsigned)left;
                break;
            }
            left -= rest;
            c->off = 0;
            c->next++;
            c->owed--;
        }
    }
    return 0;
}

/* Count echoes in p[0..n); each completes a round trip. Returns echoes or -1 on junk. */
static int parse_in(struct conn *c, const uint8_t *p, size_t n, double now, uint64_t *done,
                    int measuring)
{
    size_t i = 0;
    while (i < n) {
        if (c->in_payload) {
            size_t k = c->skip < n - i ? (size_t)c->skip : n - i;
            c->skip -= k;
            i += k;
            if (c->skip > 0)
                break;
            c->in_payload = 0;
            /* one echo complete */
            double t = c->issued[c->qhead];
            c->qhead = (c->qhead + 1) % (MAXFLIGHT * 2);
            c->qcount--;
            if (measuring) {
                double us = (now - t) * 1e6;
                size_t b = us < 0 ? 0 : us >= HIST_US - 1 ? HIST_US - 1 : (size_t)us;
                hist[b]++;
                (*done)++;
            }
            issue(c, now);
            continue;
        }
        c->hdr[c->hlen++] = p[i++];
        if (c->hlen == 2) {
            unsigned l7 = c->hdr[1] & 0x7F;
            if ((c->hdr[0] & 0x0F) != WS_OP_BINARY || (c->hdr[1] & 0x80))
                return -1;
            c->hneed = l7 == 126 ? 4 : l7 == 127 ? 10 : 2;
        }
        if (c->hlen >= 2 && c->hlen == c->hneed) {
            uint64_t len = c->hdr[1] & 0x7F;
            if (c->hneed == 4)
                len = (uint64_t)c->hdr[2] << 8 | c->hdr[3];
            else if (c->hneed == 10)
                for (int j = 2; j < 10; j++)
                    len = (j == 2 ? 0 : len << 8) | c->hdr[j];
            if (len != msg_size)
                return -1;
            c->hlen = 0;
            c->hneed = 0;
            c->skip = len;
            c->in_payload = 1;
            if (len == 0)
                continue;
        }
    }
    return 0;
}

struct result {
    double msgs_per_s, p50_us, p99_us, cpu_us_per_msg;
    uint64_t echoed;
};

static double percentile(uint64_t total, double q)
{
    uint64_t want = (uint64_t)((double)total * q), acc = 0;
    for (size_t i = 0; i < HIST_US; i++) {
        acc += hist[i];
        if (acc > want)
            return (double)i + 0.5;
    }
    return HIST_US;
}

static int run_one(struct server *s, int nconns, unsigned inflight, double warm, double secs,
                   struct result *res)
{
    static uint8_t rbuf[256 * 1024];
    struct conn *cs = calloc((size_t)nconns, sizeof *cs);
    int ep = epoll_create1(EPOLL_CLOEXEC), rc = -1;
    uint64_t done = 0;
    struct epoll_event e;

    memset(hist, 0, HIST_US * sizeof *hist);
    if (!cs || ep < 0)
        goto out;
    for (int i = 0; i < nconns; i++) {
        cs[i].fd = open_conn(s->port);
        if (cs[i].fd < 0) {
            fprintf(stderr, "echo-load: %s: connection %d failed\n", s->label, i);
            nconns = i;
            goto out;
        }
        cs[i].id = (unsigned)i;
        cs[i].next = (unsigned)i * 7;
        e.events = EPOLLIN;
        e.data.ptr = &cs[i];
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &e);
    }
    double t0 = bu_now(), t_meas = t0 + warm, t_end = t_meas + secs, cpu0 = 0;
    int measuring = 0;
    for (int i = 0; i < nconns; i++) {
        for (unsigned k = 0; k < inflight; k++)
            issue(&cs[i], t0);
        if (flush_out(&cs[i]) < 0)
            goto out;
    }
    for (;;) {
        struct epoll_event evs[128];
        double now = bu_now();
        if (!measuring && now >= t_meas) {
            measuring = 1;
            cpu0 = server_cpu_s(s->pid);
            t_meas = now;
        }
        if (now >= t_end || (stop_after && done >= stop_after))
            break;
        int n = epoll_wait(ep, evs, 128, 10);
        for (int i = 0; i < n; i++) {
            struct conn *c = evs[i].data.ptr;
            if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
                ssize_t r = read(c->fd, rbuf, sizeof rbuf);
                if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
                    fprintf(stderr, "echo-load: %s closed a connection\n", s->label);
                    goto out;
                }
                if (r > 0 && parse_in(c, rbuf, (size_t)r, bu_now(), &done, measuring) < 0) {
                    fprintf(stderr, "echo-load: %s sent an unexpected frame\n", s->label);
                    goto out;
                }
            }
            if (flush_out(c) < 0)
                goto out;
            int want = c->owed > 0;
            if (want != c->want_out) {
                e.events = EPOLLIN | (want ? EPOLLOUT : 0u);
                e.data.ptr = c;
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &e);
                c->want_out = want;
            }
        }
    }
    double cpu = server_cpu_s(s->pid) - cpu0, dt = bu_now() - t_meas;
    res->msgs_per_s = (double)done / dt;
    res->p50_us = percentile(done, 0.50);
    res->p99_us = percentile(done, 0.99);
    res->cpu_us_per_msg = done ? cpu * 1e6 / (double)done : 0;
    res->echoed = done;
    rc = done > 0 ? 0 : -1;
out:
    for (int i = 0; i < nconns; i++)
        close(cs[i].fd);
    free(cs);
    if (ep >= 0)
        close(ep);
    usleep(20000); /* let the server tear the connections down outside the next window */
    return rc;
}

/* One measurement against a server that is already running (see the top). */
static int attach_main(int argc, char **argv)
{
    struct server s = {NULL, "server", 0, 0};
    int nconns = 100;
    unsigned flight = 16;
    size_t size = 16;
    double secs = 2.0, warm = 0.3;
    uint64_t messages = 0;
    struct result res;

    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        if (!strcmp(a, "--port"))
            s.port = atoi(v);
        else if (!strcmp(a, "--pid"))
            s.pid = (pid_t)atoi(v);
        else if (!strcmp(a, "--size"))
            size = (size_t)strtoull(v, NULL, 10);
        else if (!strcmp(a, "--flight"))
            flight = (unsigned)atoi(v);
        else if (!strcmp(a, "--conns"))
            nconns = atoi(v);
        else if (!strcmp(a, "--seconds"))
            secs = atof(v);
        else if (!strcmp(a, "--warm"))
            warm = atof(v);
        else if (!strcmp(a, "--messages"))
            messages = strtoull(v, NULL, 10);
        else
            s.port = 0;
    }
    if (s.port <= 0 || nconns <= 0 || flight == 0 || flight > MAXFLIGHT) {
        fprintf(stderr, "usage: %s --port P [--pid PID] [--size BYTES] [--flight K<=%d] "
                        "[--conns N] [--seconds S] [--warm S] [--messages M]\n", argv[0],
                MAXFLIGHT);
        return 2;
    }
    if (messages) { /* a fixed workload: every message counted, no time window */
        issue_left = messages;
        stop_after = messages;
        warm = 0;
        secs = 3600;
    }
    signal(SIGPIPE, SIG_IGN);
    hist = malloc(HIST_US * sizeof *hist);
    if (!hist)
        return 1;
    build_frames(size);
    if (run_one(&s, nconns, flight, warm, secs, &res) != 0)
        return 1;
    printf("RESULT msgs_per_s=%.0f p50_us=%.1f p99_us=%.1f cpu_us=%.3f echoed=%llu\n",
           res.msgs_per_s, res.p50_us, res.p99_us, s.pid ? res.cpu_us_per_msg : 0.0,
           (unsigned long long)res.echoed);
    return 0;
}

int main(int argc, char **argv)
{
    struct server sv[2] = {{NULL, "libws", 0, 0}, {NULL, "wslay", 0, 0}};
    int nconns = 100, reps = 5, quick = 0;
    double secs = 1.0, warm = 0.2;
    static const size_t sizes[] = {16, 1024, 65536};
    static const char *const names[] = {"16B", "1KiB", "64KiB"};
    static const unsigned flights[] = {1, 16};

    if (argc > 1 && !strncmp(argv[1], "--", 2))
        return attach_main(argc, argv);
    if (argc < 3) {
        fprintf(stderr, "usage: %s LIBWS_SERVER WSLAY_SERVER [--quick] [--conns N] "
                        "[--reps R] [--seconds S]\n", argv[0]);
        return 2;
    }
    sv[0].path = argv[1];
    sv[1].path = argv[2];
    for (int i = 3; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = 1;
            reps = 3;
            secs = 0.3;
            warm = 0.1;
        } else if (!strcmp(argv[i], "--conns") && i + 1 < argc) {
            nconns = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
        } else if (!strcmp(argv[i], "--seconds") && i + 1 < argc) {
            secs = atof(argv[++i]);
        }
    }
    if (reps > 15)
        reps = 15;
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    ncpu = (int)sysconf(_SC_NPROCESSORS_ONLN);
    hist = malloc(HIST_US * sizeof *hist);
    if (!hist || start_server(&sv[0]) != 0 || start_server(&sv[1]) != 0)
        return 1;
    pin(0, 1);
    printf("== echo over loopback: %d connections, binary messages, closed loop; servers on "
           "CPU 0, generator on CPU 1%s; %.1f s windows, median of %d%s\n", nconns,
           ncpu < 2 ? " (NOT pinned: one CPU)" : "", secs, reps, quick ? " (quick)" : "");
    printf("%-6s %3s | %12s %8s %8s %8s | %12s %8s %8s %8s | %6s\n", "size", "K",
           "libws msg/s", "p50 us", "p99 us", "cpu us", "wslay msg/s", "p50 us", "p99 us",
           "cpu us", "ratio");
    int failed = 0;
    for (int si = 0; si < 3; si++) {
        build_frames(sizes[si]);
        for (int fi = 0; fi < 2; fi++) {
            double m[2][15], p50[2][15], p99[2][15], cpu[2][15], ratio[15];
            int ok = 1;
            for (int r = 0; r < reps && ok; r++) {
                for (int k = 0; k < 2; k++) {
                    int which = (r & 1) ? 1 - k : k; /* alternate who goes first */
                    struct result res;
                    if (run_one(&sv[which], nconns, flights[fi], warm, secs, &res) != 0) {
                        ok = 0;
                        break;
                    }
                    m[which][r] = res.msgs_per_s;
                    p50[which][r] = res.p50_us;
                    p99[which][r] = res.p99_us;
                    cpu[which][r] = res.cpu_us_per_msg;
                }
                if (ok)
                    ratio[r] = m[0][r] / m[1][r];
            }
            if (!ok) {
                failed = 1;
                continue;
            }
            printf("%-6s %3u | %12.0f %8.1f %8.1f %8.2f | %12.0f %8.1f %8.1f %8.2f | %6.2f\n",
                   names[si], flights[fi], bu_median(m[0], reps), bu_median(p50[0], reps),
                   bu_median(p99[0], reps), bu_median(cpu[0], reps), bu_median(m[1], reps),
                   bu_median(p50[1], reps), bu_median(p99[1], reps), bu_median(cpu[1], reps),
                   bu_median(ratio, reps));
            fflush(stdout);
            if (flights[fi] == 16) {
                char name[32];
                snprintf(name, sizeof name, "echo_%s", names[si]);
                bu_row(name, "msgs/s", bu_median(m[0], reps), "wslay-echo",
                       bu_median(m[1], reps), bu_median(ratio, reps));
            }
        }
    }
    printf("(cpu us = server CPU time per round trip, utime+stime from /proc/PID/stat at %ld "
           "ticks/s)\n", sysconf(_SC_CLK_TCK));
    kill(sv[0].pid, SIGKILL);
    kill(sv[1].pid, SIGKILL);
    waitpid(sv[0].pid, NULL, 0);
    waitpid(sv[1].pid, NULL, 0);
    return failed;
}
