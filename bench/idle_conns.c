/*
 * idle-conns: how much resident memory an example server spends per idle WebSocket connection.
 * Starts the server (argv[1], e.g. build/examples/echo-epoll) on a free port, measures its
 * VmRSS, opens N connections (argv[2], default 10000) that each complete the opening handshake
 * and exchange one message, measures VmRSS again, checks that every connection still echoes,
 * and prints the difference per connection. Loopback only; bounded in time.
 */
#define _GNU_SOURCE
#include "ws.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long rss_kib(pid_t pid)
{
    char path[64], line[256];
    long kib = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

/* One blocking round trip on a fresh client conn: handshake, "ping!" echoed back. */
static int open_conn(int port, ws_conn **out)
{
    struct sockaddr_in a;
    char url[64];
    uint8_t buf[4096];
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ws_conn *c = NULL;
    int got = 0;

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || ws_conn_new(&c, WS_ROLE_CLIENT, 0, NULL) != WS_OK ||
        connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        goto fail;
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
    if (ws_conn_client_start(c, url, NULL, 0, NULL, NULL) != WS_OK)
        goto fail;
    for (int rounds = 0; rounds < 100 && !got; rounds++) {
        ws_iovec iov[4];
        int k;
        while ((k = ws_conn_output(c, iov, 4)) > 0) {
            ssize_t n = write(fd, iov[0].base, iov[0].len);
            if (n <= 0)
                goto fail;
            ws_conn_output_ack(c, (size_t)n);
        }
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 2000) != 1)
            goto fail;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            goto fail;
        ws_event ev;
        if (ws_conn_feed(c, buf, (size_t)n, NULL) != WS_OK)
            goto fail;
        while (ws_conn_next_event(c, &ev, sizeof ev) > 0) {
            if (ev.type == WS_EV_OPEN)
                ws_conn_send(c, WS_OP_TEXT, "ping!", 5, 0);
            if (ev.type == WS_EV_MESSAGE && ev.len == 5)
                got = 1;
        }
    }
    if (!got)
        goto fail;
    *out = c;
    return fd;
fail:
    if (fd >= 0)
        close(fd);
    ws_conn_free(c);
    return -1;
}

int main(int argc, char **argv)
{
    const char *server = argc > 1 ? argv[1] : "build/examples/echo-epoll";
    int n = argc > 2 ? atoi(argv[2]) : 10000;
    int pipefd[2], port;
    char line[128];
    struct rlimit rl;

    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    if ((rlim_t)n + 64 > rl.rlim_cur) {
        fprintf(stderr, "RLIMIT_NOFILE %llu too low for %d connections\n",
                (unsigned long long)rl.rlim_cur, n);
        return 1;
    }
    if (pipe(pipefd) != 0)
        return 1;
    pid_t pid = fork();
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pipefd[1], 1);
        execl(server, server, "--port", "0", (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    FILE *out = fdopen(pipefd[0], "r");
    if (!out || !fgets(line, sizeof line, out) || sscanf(line, "listening on 127.0.0.1:%d",
                                                         &port) != 1) {
        fprintf(stderr, "server did not start\n");
        return 1;
    }
    usleep(100 * 1000);
    long before = rss_kib(pid);
    int *fds = calloc((size_t)n, sizeof *fds);
    ws_conn **conns = calloc((size_t)n, sizeof *conns);
    if (!fds || !conns)
        return 1;
    for (int i = 0; i < n; i++) {
        fds[i] = open_conn(port, &conns[i]);
        if (fds[i] < 0) {
            fprintf(stderr, "connection %d failed\n", i);
            kill(pid, SIGKILL);
            return 1;
        }
    }
    /* Past the quiet second after which a connection gives its buffers back: the library
     * asks for that wake-up on a whole-second grid, 1 to 2 s after the last traffic. */
    usleep(2500 * 1000);
    long after = rss_kib(pid);
    /* All still alive? Every connection echoes one more message. */
    int alive = 0;
    for (int i = 0; i < n; i++) {
        uint8_t buf[64];
        ws_iovec iov[2];
        ws_conn_send(conns[i], WS_OP_BINARY, "x", 1, 0);
        int k = ws_conn_output(conns[i], iov, 2);
        if (k > 0 && write(fds[i], iov[0].base, iov[0].len) == (ssize_t)iov[0].len)
            ws_conn_output_ack(conns[i], iov[0].len);
        struct pollfd p = {fds[i], POLLIN, 0};
        if (poll(&p, 1, 2000) == 1 && read(fds[i], buf, sizeof buf) == 3)
            alive++;
    }
    printf("server %s: %d idle connections open, %d echo afterwards\n", server, n, alive);
    printf("server RSS: %ld KiB before, %ld KiB after: %.0f bytes per connection\n", before,
           after, (double)(after - before) * 1024.0 / n);
    printf("sizeof(ws_conn) = %zu bytes\n", ws_conn_sizeof());
    kill(pid, SIGTERM);
    for (int i = 0; i < n; i++) {
        close(fds[i]);
        ws_conn_free(conns[i]);
    }
    int st;
    waitpid(pid, &st, 0);
    free(fds);
    free(conns);
    return alive == n ? 0 : 1;
}
