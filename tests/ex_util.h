/*
 * Helpers for the tests that run the example programs over loopback (test_examples.c,
 * test_hostile.c, test_broadcast.c): starting a server and reading its "listening on
 * HOST:PORT" line, then its "stats:" lines, its memory; connecting a socket; moving a libws
 * connection's bytes over it; raw client frames. Every wait is bounded.
 * EX_DIR names the folder with the built examples (default build/examples).
 * Include it first, in place of testutil.h (it asks for _GNU_SOURCE).
 */
#ifndef WS_EX_UTIL_H
#define WS_EX_UTIL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "testutil.h"

#include "ws.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

static inline const char *ex_dir(void)
{
    const char *d = getenv("EX_DIR");
    return d && *d ? d : "build/examples";
}

static inline uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* ---- a server process ---- */

typedef struct ex_server {
    pid_t pid;
    int port;
    int out;          /* its stdout, non-blocking once the first line is read */
    char buf[4096];   /* a line read in part */
    size_t len;
    char stats[1024]; /* the last "stats:" line read */
} ex_server;

/*
 * Start EX_DIR/name --port 0 extra... and read its first line, which is exactly "listening on
 * 127.0.0.1:PORT" (at most 5 s). nofile > 0: under RLIMIT_NOFILE nofile, soft and hard, set
 * by `ulimit -n` in a shell that execs the server (under valgrind the test's own setrlimit is
 * emulated and cannot go below valgrind's reserved descriptors). The server inherits no
 * descriptor but 0-2, and dies with the test.
 */
static inline void ex_start(ex_server *s, const char *name, const char *const *extra, long nofile)
{
    char path[512], script[64], line[128];
    const char *argv[40];
    int pipefd[2], n = 0;
    size_t k = 0;

    memset(s, 0, sizeof *s);
    snprintf(path, sizeof path, "%s/%s", ex_dir(), name);
    if (nofile > 0) {
        snprintf(script, sizeof script, "ulimit -n %ld && exec \"$0\" \"$@\"", nofile);
        argv[n++] = "/bin/sh";
        argv[n++] = "-c";
        argv[n++] = script;
    }
    argv[n++] = path;
    argv[n++] = "--port";
    argv[n++] = "0";
    while (extra && *extra && n < 38)
        argv[n++] = *extra++;
    argv[n] = NULL;
    assert_int_equal(pipe(pipefd), 0);
    s->pid = fork();
    assert_true(s->pid >= 0);
    if (s->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive a test that died */
        dup2(pipefd[1], 1);
        for (int fd = 3; fd < 1024; fd++)
            close(fd); /* the server's descriptors are its own (the fd-limit test counts) */
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pipefd[1]);
    s->out = pipefd[0];
    while (k + 1 < sizeof line) {
        struct pollfd p = {s->out, POLLIN, 0};
        assert_true(poll(&p, 1, 5000) == 1);
        assert_int_equal(read(s->out, line + k, 1), 1);
        if (line[k++] == '\n')
            break;
    }
    line[k] = '\0';
    assert_int_equal(strncmp(line, "listening on 127.0.0.1:", 23), 0);
    s->port = atoi(line + 23);
    assert_true(s->port > 0);
    assert_int_equal(fcntl(s->out, F_SETFL, fcntl(s->out, F_GETFL) | O_NONBLOCK), 0);
}

/* Wait up to timeout_ms for the server to exit; its exit status (128 + signal when killed by
 * one), or -1 if it is still running. */
static inline int ex_wait(ex_server *s, int timeout_ms)
{
    int st = 0;
    for (int i = 0; i <= timeout_ms / 10; i++) {
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            close(s->out);
            s->out = -1;
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        }
        usleep(10000);
    }
    return -1;
}

/* SIGTERM and wait (5 s at most, then SIGKILL and a failed test); returns the exit status. */
static inline int ex_stop(ex_server *s)
{
    kill(s->pid, SIGTERM);
    int r = ex_wait(s, 5000);
    if (r >= 0)
        return r;
    kill(s->pid, SIGKILL);
    waitpid(s->pid, NULL, 0);
    close(s->out);
    fail_msg("server did not exit within 5 s of SIGTERM");
    return -1;
}

/* Read what the server printed so far; keep its last "stats:" line. */
static inline void ex_read_stats(ex_server *s)
{
    for (;;) {
        ssize_t n = read(s->out, s->buf + s->len, sizeof s->buf - 1 - s->len);
        if (n <= 0)
            return;
        s->len += (size_t)n;
        s->buf[s->len] = '\0';
        char *nl;
        while ((nl = memchr(s->buf, '\n', s->len)) != NULL) {
            size_t k = (size_t)(nl - s->buf) + 1;
            if (!strncmp(s->buf, "stats:", 6) && k < sizeof s->stats) {
                memcpy(s->stats, s->buf, k);
                s->stats[k] = '\0';
            }
            memmove(s->buf, s->buf + k, s->len - k);
            s->len -= k;
        }
        if (s->len == sizeof s->buf - 1)
            s->len = 0; /* a line this long is not ours */
    }
}

/* The value of " key=" in the newest stats line (read now); -1 if there is none yet. */
static inline long long ex_stat(ex_server *s, const char *key)
{
    char k[64];
    ex_read_stats(s);
    snprintf(k, sizeof k, " %s=", key);
    const char *p = strstr(s->stats, k);
    return p ? strtoll(p + strlen(k), NULL, 10) : -1;
}

/* Wait (at most timeout_ms) for a stats line printed from now on where key has the value
 * want; the last value seen. */
static inline long long ex_wait_stat(ex_server *s, const char *key, long long want, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    long long v = -1;
    ex_read_stats(s); /* lines already in the pipe tell of the past */
    s->stats[0] = '\0';
    while (now_ms() < end) {
        if ((v = ex_stat(s, key)) == want)
            return v;
        usleep(20 * 1000);
    }
    return v;
}

/* Resident set size of a process in KiB (VmRSS); -1 when it is gone. */
static inline long ex_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6))
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

/* ---- a client socket and a libws connection over it ---- */

/* A TCP connection to 127.0.0.1:port, without Nagle's delay. rcvbuf > 0 shrinks the receive
 * window first: a client that stalls then holds little in the kernel, so the server's own
 * queue and policy are what is tested. */
static inline int ex_dial(int port, int rcvbuf, int nonblock)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    assert_true(fd >= 0);
    if (rcvbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (nonblock)
        assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
    return fd;
}

/* Write what c queued as far as fd takes it; wait_ms > 0: wait that long for room before each
 * write (and fail the test if none comes). 1 once all of it is out. */
static inline int ex_flush(ws_conn *c, int fd, int wait_ms)
{
    ws_iovec iov[8];
    int k;
    while ((k = ws_conn_output(c, iov, 8)) > 0) {
        if (wait_ms > 0) {
            struct pollfd p = {fd, POLLOUT, 0};
            assert_true(poll(&p, 1, wait_ms) == 1);
        }
        ssize_t n = writev(fd, (const struct iovec *)(const void *)iov, k);
        if (n <= 0)
            return 0;
        ws_conn_output_ack(c, (size_t)n);
    }
    return 1;
}

/* Feed buf[0..n), read from the socket, to c in place, calling on_events(arg) after each step
 * to drain the events (c takes no more input while they wait). Stops early once c is closed
 * and takes nothing more. */
static inline void ex_feed(ws_conn *c, uint8_t *buf, size_t n, void (*on_events)(void *),
                           void *arg)
{
    size_t pos = 0;
    while (pos < n) {
        size_t used = 0;
        ws_conn_feed_inplace(c, buf + pos, n - pos, &used);
        pos += used;
        on_events(arg);
        if (!used && ws_conn_state(c) == WS_STATE_CLOSED)
            break;
    }
}

/* Write all of p to a non-blocking socket, waiting for room; at most timeout_ms. */
static inline void ex_write_all(int fd, const uint8_t *p, size_t n, int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    while (n > 0 && now_ms() < end) {
        ssize_t w = write(fd, p, n);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            break;
        struct pollfd pf = {fd, POLLOUT, 0};
        poll(&pf, 1, 20);
    }
    assert_int_equal(n, 0);
}

/* A masked client frame with first byte b0 (FIN, RSV and opcode bits) and payload p[0..n),
 * written raw into out (room for n + 14 bytes); its length. For frames libws would not send. */
static inline size_t ex_raw_frame(uint8_t *out, uint8_t b0, const uint8_t *p, size_t n)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    size_t h = 0;
    out[h++] = b0;
    if (n < 126) {
        out[h++] = (uint8_t)(0x80 | n);
    } else if (n < 65536) {
        out[h++] = 0x80 | 126;
        out[h++] = (uint8_t)(n >> 8);
        out[h++] = (uint8_t)n;
    } else {
        out[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            out[h++] = (uint8_t)((uint64_t)n >> (8 * i));
    }
    memcpy(out + h, key, 4);
    h += 4;
    for (size_t i = 0; i < n; i++)
        out[h + i] = p[i] ^ key[i & 3];
    return h + n;
}

#endif
