/*
 * The example programs, end to end over loopback: echo-epoll and echo-poll (and echo-uv,
 * echo-uring where built: also the burst, the drain, and input behind a message inflated in
 * steps) with text, binary,
 * 1 MiB and fragmented messages, ping and close; a protocol violation inside a burst, after
 * which the servers and wsc still deliver the close frame 1002 and end without a TCP reset;
 * the SIGTERM drain seen by a client as 1001; wsc against the echo server; broadcast fan-out
 * with a stalled client under both policies; the single-file minimal-server.
 * The driver is a libws client on blocking-with-timeout sockets. Every wait is bounded.
 * EX_DIR names the folder with the built examples (default build/examples).
 */
#include "ex_util.h"

/* ---- a libws client over a socket ---- */

typedef struct client {
    int fd;
    ws_conn *c;
    ws_event last;           /* last event of the awaited type */
    uint8_t *msg;            /* copy of the last message */
    size_t msg_len;
    uint16_t close_code;
    int closed, opened, pongs, messages;
} client;

static void on_events(void *arg)
{
    client *cl = arg;
    ws_event ev;
    while (ws_conn_next_event(cl->c, &ev, sizeof ev) > 0) {
        switch (ev.type) {
        case WS_EV_OPEN:
            cl->opened = 1;
            break;
        case WS_EV_MESSAGE:
            free(cl->msg);
            cl->msg = malloc(ev.len ? ev.len : 1);
            memcpy(cl->msg, ev.data, ev.len);
            cl->msg_len = ev.len;
            cl->last = ev;
            cl->messages++;
            break;
        case WS_EV_PONG:
            cl->pongs++;
            break;
        case WS_EV_CLOSE:
            cl->closed = 1;
            cl->close_code = ev.close_code;
            break;
        default:
            break;
        }
    }
}

/* Read and process input until cond(cl) holds or timeout_ms passes. Returns cond. */
static int pump(client *cl, int (*cond)(const client *), int timeout_ms)
{
    static uint8_t buf[1 << 16];
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    while (!cond(cl) && now_ms() < end) {
        ex_flush(cl->c, cl->fd, 5000);
        struct pollfd p = {cl->fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = read(cl->fd, buf, sizeof buf);
        if (n <= 0) {
            ws_conn_feed_eof(cl->c);
            on_events(cl);
            break;
        }
        ex_feed(cl->c, buf, (size_t)n, on_events, cl);
    }
    return cond(cl);
}

static int is_open(const client *cl) { return cl->opened || cl->closed; }
static int is_closed(const client *cl) { return cl->closed; }
static int got_message(const client *cl) { return cl->msg != NULL || cl->closed; }
static int got_pong(const client *cl) { return cl->pongs > 0 || cl->closed; }

static client connect_client_rcvbuf(int port, const char *sub, int rcvbuf)
{
    client cl;
    char url[128];
    const char *subs[1] = {sub};
    memset(&cl, 0, sizeof cl);
    cl.fd = ex_dial(port, rcvbuf, 0);
    cl.c = new_conn(WS_ROLE_CLIENT, 0, NULL);
    assert_non_null(cl.c);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/echo", port);
    assert_int_equal(ws_conn_client_start(cl.c, url, subs, sub ? 1 : 0, NULL, NULL), WS_OK);
    assert_true(pump(&cl, is_open, 5000));
    assert_true(cl.opened);
    return cl;
}

static client connect_client(int port, const char *sub)
{
    return connect_client_rcvbuf(port, sub, 0);
}

static void client_free(client *cl)
{
    close(cl->fd);
    ws_conn_free(cl->c);
    free(cl->msg);
}

static void expect_echo(client *cl, uint32_t op, const uint8_t *p, size_t n)
{
    free(cl->msg);
    cl->msg = NULL;
    assert_int_equal(ws_conn_send(cl->c, op, p, n, 0), WS_OK);
    assert_true(pump(cl, got_message, 10000));
    assert_int_equal(cl->last.opcode, op);
    assert_int_equal(cl->msg_len, n);
    if (n)
        assert_memory_equal(cl->msg, p, n);
}

static void echo_session(const char *name)
{
    const char *extra[] = {"--subprotocol", "chat", NULL};
    ex_server s;
    ex_start(&s, name, extra, 0);
    client cl = connect_client(s.port, "chat");
    const char *proto;
    size_t plen;
    static uint8_t big[1 << 20];

    assert_int_equal(ws_conn_subprotocol(cl.c, &proto, &plen), WS_OK);
    assert_int_equal(plen, 4);
    assert_string_equal(proto, "chat");
    expect_echo(&cl, WS_OP_TEXT, (const uint8_t *)"hello", 5);
    expect_echo(&cl, WS_OP_BINARY, (const uint8_t *)"\x00\x01\xff", 3);
    expect_echo(&cl, WS_OP_TEXT, (const uint8_t *)"", 0);
    test_fill(big, sizeof big, 11);
    expect_echo(&cl, WS_OP_BINARY, big, sizeof big);
    /* Fragmented, with a ping between the fragments. */
    free(cl.msg);
    cl.msg = NULL;
    assert_int_equal(ws_conn_send_fragment(cl.c, WS_OP_TEXT, "frag-", 5, 0, 0), WS_OK);
    assert_int_equal(ws_conn_ping(cl.c, "p", 1), WS_OK);
    assert_int_equal(ws_conn_send_fragment(cl.c, WS_OP_TEXT, "ment", 4, 1, 0), WS_OK);
    assert_true(pump(&cl, got_message, 5000));
    assert_int_equal(cl.msg_len, 9);
    assert_memory_equal(cl.msg, "frag-ment", 9);
    assert_true(pump(&cl, got_pong, 5000));
    /* Close: the server echoes the code. */
    assert_int_equal(ws_conn_close(cl.c, 1000, "done", 4), WS_OK);
    assert_true(pump(&cl, is_closed, 5000));
    assert_int_equal(cl.close_code, 1000);
    client_free(&cl);
    assert_int_equal(ex_stop(&s), 0);
}

static void test_echo_epoll(void **state)
{
    (void)state;
    echo_session("echo-epoll");
}

static void test_echo_poll(void **state)
{
    (void)state;
    echo_session("echo-poll");
}

/* echo-uv and echo-uring (completion-based loops) are built only where libuv / liburing are
 * found: their tests are skipped, saying so, where they are not. */
static int built(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", ex_dir(), name);
    if (access(path, X_OK) == 0)
        return 1;
    print_message("info: %s not built (libuv1-dev / liburing-dev missing?): SKIPPED\n", name);
    return 0;
}

/*
 * Issue 21: a server that fails a connection while the client is still sending must not reset
 * it. In one burst the client sends BURST_BEFORE valid messages, a frame with a reserved opcode
 * (3: the server fails the connection with 1002) and BURST_AFTER more messages, reading only
 * when its writes would block, then reads to end of file. Input is still queued in the server's
 * socket when it fails the connection: a server that close()s then makes its kernel send a TCP
 * reset, which discards what it had not sent yet (the last echoes and the close frame). The
 * client must get every echo, the close frame 1002 and a clean end of file, every time.
 * The client's small receive buffer keeps the server's output queued in the server's kernel.
 */
enum { BURST_MSG = 4096, BURST_BEFORE = 96, BURST_AFTER = 64, BURST_RUNS = 50,
       BURST_RCVBUF = 16384, BURST_BUDGET_MS = 4000 };

/* Moves what the client's ws_conn queued into out; returns the byte count. */
static size_t take_output(ws_conn *c, uint8_t *out, size_t cap)
{
    ws_iovec iov[8];
    size_t n = 0;
    int k;
    while ((k = ws_conn_output(c, iov, 8)) > 0) {
        size_t got = 0;
        for (int i = 0; i < k; i++) {
            assert_true(n + iov[i].len <= cap);
            memcpy(out + n, iov[i].base, iov[i].len);
            n += iov[i].len;
            got += iov[i].len;
        }
        ws_conn_output_ack(c, got);
    }
    return n;
}

/* One non-blocking read into the client. Sets *eof on end of file, *err to errno on error. */
static void read_some(client *cl, int *eof, int *err)
{
    static uint8_t buf[1 << 16];
    ssize_t n = read(cl->fd, buf, sizeof buf);
    if (n > 0) {
        ex_feed(cl->c, buf, (size_t)n, on_events, cl);
    } else if (n == 0) {
        *eof = 1;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        *err = errno;
    }
    if (*eof || *err) {
        ws_conn_feed_eof(cl->c);
        on_events(cl);
    }
}

/* Write out[0..len) on the client's socket, made non-blocking, while reading what comes back
 * (the peer stops reading a writer that does not read its answers), then read to end of
 * file, answering a close frame as an endpoint does; at most 5 s each. *off: bytes written;
 * *eof, *err (errno of a read), *werr (of a write): how it ended. */
static void burst_exchange(client *cl, const uint8_t *out, size_t len, size_t *off, int *eof,
                           int *err, int *werr)
{
    assert_int_equal(fcntl(cl->fd, F_SETFL, fcntl(cl->fd, F_GETFL) | O_NONBLOCK), 0);
    uint64_t end = now_ms() + 5000;
    while (*off < len && !*eof && !*err && now_ms() < end) {
        ssize_t w = write(cl->fd, out + *off, len - *off);
        if (w > 0) {
            *off += (size_t)w;
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            *werr = errno;
            break;
        }
        struct pollfd p = {cl->fd, POLLIN | POLLOUT, 0};
        if (poll(&p, 1, 50) > 0 && (p.revents & (POLLIN | POLLHUP | POLLERR)))
            read_some(cl, eof, err);
    }
    end = now_ms() + 5000;
    while (!*eof && !*err && now_ms() < end) {
        ex_flush(cl->c, cl->fd, 0);
        struct pollfd p = {cl->fd, POLLIN, 0};
        if (poll(&p, 1, 50) > 0)
            read_some(cl, eof, err);
    }
}

/* How a burst went wrong (bits); 0: everything arrived, then a clean end of file. */
enum { BURST_LOST = 1, BURST_RESET = 2 };

/* Counts a run's outcome; keeps the first failure's description. */
typedef struct burst_tally {
    int runs, failed, lost, reset;
    char first[256];
} burst_tally;

static void burst_count(burst_tally *t, int r, const char *why)
{
    t->runs++;
    if (!r)
        return;
    if (t->failed++ == 0)
        snprintf(t->first, sizeof t->first, "; run %d: %.200s", t->runs, why);
    t->lost += (r & BURST_LOST) != 0;
    t->reset += (r & BURST_RESET) != 0;
}

static void burst_report(const burst_tally *t, const char *name)
{
    print_message("info: %s: %d of %d bursts failed (close frame or echoes lost: %d, reset or "
                  "no end of file: %d)%s\n", name, t->failed, t->runs, t->lost, t->reset,
                  t->first);
}

/* One connection, one burst. Returns 0 if the client got every echo, the close frame 1002 and
 * a clean end of file; otherwise BURST_* bits, with what it got in why. */
static int burst_once(int port, char *why, size_t whylen)
{
    static uint8_t out[(BURST_BEFORE + BURST_AFTER) * (BURST_MSG + 16) + 16];
    static uint8_t msg[BURST_MSG];
    static const uint8_t bad[6] = {0x83, 0x80, 1, 2, 3, 4}; /* FIN, opcode 3, masked, empty */
    client cl = connect_client_rcvbuf(port, NULL, BURST_RCVBUF);
    size_t len = 0, off = 0;
    int eof = 0, err = 0, werr = 0;

    test_fill(msg, sizeof msg, 21);
    for (int i = 0; i < BURST_BEFORE + BURST_AFTER; i++) {
        if (i == BURST_BEFORE) {
            memcpy(out + len, bad, sizeof bad);
            len += sizeof bad;
        }
        assert_int_equal(ws_conn_send(cl.c, WS_OP_BINARY, msg, sizeof msg, 0), WS_OK);
        len += take_output(cl.c, out + len, sizeof out - len);
    }
    /* Blocked writes: the server stops reading a client that does not read its echoes. */
    burst_exchange(&cl, out, len, &off, &eof, &err, &werr);
    int r = (cl.closed && cl.close_code == 1002 && cl.messages == BURST_BEFORE ? 0 : BURST_LOST) |
            (eof && !err && !werr ? 0 : BURST_RESET);
    if (r)
        snprintf(why, whylen, "%d of %d echoes, close %u, sent %zu of %zu bytes%s%s%s%s",
                 cl.messages, BURST_BEFORE, cl.closed ? cl.close_code : 0, off, len,
                 eof ? ", end of file" : "", err ? ", read: " : "", err ? strerror(err) : "",
                 werr ? ", write failed" : "");
    client_free(&cl);
    return r;
}

static void burst_session(const char *name)
{
    ex_server s;
    ex_start(&s, name, NULL, 0);
    char why[200] = "";
    burst_tally t;
    uint64_t t0 = now_ms();

    memset(&t, 0, sizeof t);
    while (t.runs < BURST_RUNS && now_ms() - t0 < BURST_BUDGET_MS)
        burst_count(&t, burst_once(s.port, why, sizeof why), why);
    burst_report(&t, name);
    assert_int_equal(t.failed, 0);
    assert_true(t.runs >= 10);
    assert_int_equal(ex_stop(&s), 0);
}

static void test_burst_close_epoll(void **state)
{
    (void)state;
    burst_session("echo-epoll");
}

static void test_burst_close_poll(void **state)
{
    (void)state;
    burst_session("echo-poll");
}

/*
 * The same for the client: wsc fails the connection on a masked frame from the server while
 * more is still coming. It must not reset the connection either: the server gets its close
 * frame 1002, then a clean end of file.
 */
enum { WSC_RUNS = 10, WSC_TRAIL = 64 };

static int wsc_burst_once(int lfd, int port, char *why, size_t whylen)
{
    static uint8_t out[WSC_TRAIL * (BURST_MSG + 4) + 6];
    static uint8_t buf[1 << 16];
    char url[64];
    client cl;
    size_t len = 0, off = 0;
    int eof = 0, err = 0, werr = 0, st = 0;

    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
    snprintf((char *)buf, sizeof buf, "%s/wsc", ex_dir());
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int null = open("/dev/null", O_RDWR);
        dup2(null, 0);
        dup2(null, 1);
        dup2(null, 2);
        execl((char *)buf, "wsc", "--echo", "--no-deflate", url, (char *)NULL);
        _exit(127);
    }
    struct pollfd lp = {lfd, POLLIN, 0};
    assert_int_equal(poll(&lp, 1, 5000), 1);
    memset(&cl, 0, sizeof cl);
    cl.fd = accept(lfd, NULL, NULL);
    assert_true(cl.fd >= 0);
    cl.c = new_conn(WS_ROLE_SERVER, 0, NULL);
    /* The handshake, by ws_conn. */
    uint64_t end = now_ms() + 5000;
    while (ws_conn_state(cl.c) == WS_STATE_CONNECTING && now_ms() < end) {
        struct pollfd p = {cl.fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = read(cl.fd, buf, sizeof buf);
        assert_true(n > 0);
        size_t used = 0;
        ws_conn_feed(cl.c, buf, (size_t)n, &used);
        assert_int_equal(used, (size_t)n);
        ws_event ev;
        while (ws_conn_next_event(cl.c, &ev, sizeof ev) > 0)
            if (ev.type == WS_EV_REQUEST)
                assert_int_equal(ws_conn_accept(cl.c, NULL, NULL, NULL), WS_OK);
    }
    assert_int_equal(ws_conn_state(cl.c), WS_STATE_OPEN);
    ex_flush(cl.c, cl.fd, 5000);
    /* A masked frame, which a client must fail with 1002, then valid frames behind it. */
    static const uint8_t bad[6] = {0x82, 0x80, 1, 2, 3, 4};
    memcpy(out, bad, sizeof bad);
    len = sizeof bad;
    for (int i = 0; i < WSC_TRAIL; i++) {
        out[len++] = 0x82;
        out[len++] = 126;
        out[len++] = BURST_MSG >> 8;
        out[len++] = BURST_MSG & 0xff;
        memset(out + len, 'x', BURST_MSG);
        len += BURST_MSG;
    }
    burst_exchange(&cl, out, len, &off, &eof, &err, &werr);
    client_free(&cl); /* wsc, lingering, now sees our end of file */
    int reaped = 0;
    for (int i = 0; i < 500 && !(reaped = waitpid(pid, &st, WNOHANG) == pid); i++)
        usleep(10000);
    if (!reaped) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
    int r = (cl.closed && cl.close_code == 1002 ? 0 : BURST_LOST) |
            (eof && !err && !werr ? 0 : BURST_RESET);
    if (r)
        snprintf(why, whylen, "close %u, sent %zu of %zu bytes%s%s%s%s",
                 cl.closed ? cl.close_code : 0, off, len, eof ? ", end of file" : "",
                 err ? ", read: " : "", err ? strerror(err) : "", werr ? ", write failed" : "");
    return r;
}

static void test_burst_close_wsc(void **state)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    char why[200] = "";
    burst_tally t;
    (void)state;

    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 4), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &al), 0);
    uint64_t t0 = now_ms();
    memset(&t, 0, sizeof t);
    while (t.runs < WSC_RUNS && now_ms() - t0 < BURST_BUDGET_MS)
        burst_count(&t, wsc_burst_once(lfd, ntohs(a.sin_port), why, sizeof why), why);
    close(lfd);
    burst_report(&t, "wsc");
    assert_int_equal(t.failed, 0);
    assert_true(t.runs >= 5);
}

/* SIGTERM: every client gets close 1001 and the server exits 0 within its 2 s drain. */
static void sigterm_session(const char *name)
{
    ex_server s;
    ex_start(&s, name, NULL, 0);
    client a = connect_client(s.port, NULL), b = connect_client(s.port, NULL);
    uint64_t t0 = now_ms();
    kill(s.pid, SIGTERM);
    assert_true(pump(&a, is_closed, 5000));
    assert_true(pump(&b, is_closed, 5000));
    assert_int_equal(a.close_code, 1001);
    assert_int_equal(b.close_code, 1001);
    assert_int_equal(ex_wait(&s, 3000), 0);
    assert_true(now_ms() - t0 < 3000);
    client_free(&a);
    client_free(&b);
}

static void test_sigterm_drain(void **state)
{
    (void)state;
    sigterm_session("echo-epoll");
}

/*
 * A compressed 6 MiB message (inflated in steps of 256 KiB) with 200 messages of 1,000 bytes
 * right behind it, three times in one burst: the library cannot take all the input while it inflates, and the completion
 * loops keep the rest and feed it later (they reset the connection before). Every echo, in
 * order.
 */
enum { INFLATE_BIG = 6 << 20, INFLATE_SMALL = 200, INFLATE_ROUNDS = 3 };
static int inflate_want;
static int got_all(const client *cl) { return cl->messages >= inflate_want || cl->closed; }

static void inflate_burst(const char *name)
{
    const char *extra[] = {"--deflate", "--max-message", "8M", NULL};
    static uint8_t big[INFLATE_BIG];
    static char small[1000];
    char url[64];
    ex_server s;
    client cl;

    if (!ws_deflate_available())
        return;
    ex_start(&s, name, extra, 0);
    memset(&cl, 0, sizeof cl);
    cl.fd = ex_dial(s.port, 0, 0);
    cl.c = new_conn(WS_ROLE_CLIENT, 0, NULL);
    assert_non_null(cl.c);
    assert_int_equal(ws_conn_set_option(cl.c, WS_OPT_DEFLATE, 1), WS_OK);
    assert_int_equal(ws_conn_set_option(cl.c, WS_OPT_MAX_MESSAGE_SIZE, 8u << 20), WS_OK);
    assert_int_equal(ws_conn_set_option(cl.c, WS_OPT_SEND_HIGH_WATER, 16u << 20), WS_OK);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", s.port);
    assert_int_equal(ws_conn_client_start(cl.c, url, NULL, 0, WS_EXTENSIONS_AUTO, NULL), WS_OK);
    assert_true(pump(&cl, is_open, 5000));
    memset(big, 'a', sizeof big);
    memset(small, 'b', sizeof small);
    for (int r = 0; r < INFLATE_ROUNDS; r++) {
        assert_int_equal(ws_conn_send(cl.c, WS_OP_BINARY, big, sizeof big, 0), WS_OK);
        for (int i = 0; i < INFLATE_SMALL; i++) { /* 200 KB: more than the library keeps */
            memcpy(small, &i, sizeof i);
            assert_int_equal(ws_conn_send(cl.c, WS_OP_BINARY, small, sizeof small,
                                          WS_SEND_NO_COMPRESS), WS_OK);
        }
    }
    inflate_want = INFLATE_ROUNDS * (1 + INFLATE_SMALL);
    assert_true(pump(&cl, got_all, 20000));
    assert_false(cl.closed);
    assert_int_equal(cl.messages, INFLATE_ROUNDS * (1 + INFLATE_SMALL));
    assert_int_equal(cl.msg_len, sizeof small);
    assert_memory_equal(cl.msg, small, sizeof small); /* the last one came last */
    client_free(&cl);
    assert_int_equal(ex_stop(&s), 0);
}

/* The completion-based loops: the echo session, the burst and the drain, as echo-epoll. */
static void completion_loop(const char *name)
{
    if (!built(name)) {
        skip();
        return;
    }
    echo_session(name);
    burst_session(name);
    sigterm_session(name);
    inflate_burst(name);
}

static void test_echo_uv(void **state)
{
    (void)state;
    completion_loop("echo-uv");
}

static void test_echo_uring(void **state)
{
    (void)state;
    completion_loop("echo-uring");
}

/* wsc against the echo server: stdin lines out, echoed lines and the close code printed. */
static void test_wsc(void **state)
{
    (void)state;
    ex_server s;
    ex_start(&s, "echo-epoll", NULL, 0);
    char cmd[1024], out[4096] = "";
    snprintf(cmd, sizeof cmd,
             "printf 'first line\\nsecond\\n' | timeout 10 %s/wsc ws://127.0.0.1:%d/ 2>/dev/null",
             ex_dir(), s.port);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_string_equal(out, "first line\nsecond\nclosed 1000 \n");
    assert_int_equal(ex_stop(&s), 0);
}

/*
 * Fan-out to 50 clients, one of which never reads. The 49 others get every message, in order,
 * whatever the stalled one does; the server's queue for the stalled one stays bounded (drop:
 * stale messages dropped, connection kept; close: closed with 1013).
 */
enum { FAN = 50, ROUNDS = 150, MSG = 16 * 1024 };

static void broadcast_session(const char *policy)
{
    const char *extra[] = {"--policy", policy, "--stats", "--sndbuf", "65536", NULL};
    ex_server s;
    ex_start(&s, "broadcast", extra, 0);
    static client cl[FAN];
    static uint8_t msg[MSG];

    for (int i = 0; i < FAN; i++)
        cl[i] = connect_client_rcvbuf(s.port, NULL, i == FAN - 1 ? 4096 : 0);
    client *sender = &cl[0], *stalled = &cl[FAN - 1];
    for (int r = 0; r < ROUNDS; r++) {
        memset(msg, 'a' + r % 26, sizeof msg);
        memcpy(msg, &r, sizeof r);
        assert_int_equal(ws_conn_send(sender->c, WS_OP_BINARY, msg, sizeof msg, 0), WS_OK);
        ex_flush(sender->c, sender->fd, 5000);
        for (int i = 1; i < FAN - 1; i++) {
            free(cl[i].msg);
            cl[i].msg = NULL;
            assert_true(pump(&cl[i], got_message, 10000));
            assert_false(cl[i].closed);
            assert_int_equal(cl[i].msg_len, sizeof msg);
            assert_memory_equal(cl[i].msg, msg, sizeof msg); /* every one, in order */
        }
    }
    /* Let a stats line come out, then check the bound on what is queued. */
    usleep(1200 * 1000);
    long long queued = ex_stat(&s, "queued_bytes"), dropped = ex_stat(&s, "dropped");
    assert_true(queued >= 0);
    print_message("info: policy %s: server queue %lld bytes for the stalled client\n", policy,
                  queued);
    assert_true(queued <= (1u << 20) + 2 * (MSG + 16));
    if (!strcmp(policy, "drop")) {
        assert_true(queued > 0);  /* the stalled client really was over the mark... */
        assert_true(dropped > 0); /* ...and stale messages were dropped for it */
    }
    if (!strcmp(policy, "close")) {
        /* The stalled client, reading at last, finds the close 1013 behind its backlog -- or,
         * if the server's close timeout passed first, that the server gave up on it (EOF,
         * 1006). Either way the server holds nothing for it. */
        assert_true(pump(stalled, is_closed, 10000));
        assert_true(stalled->close_code == 1013 || stalled->close_code == 1006);
        assert_int_equal(ex_wait_stat(&s, "connections", FAN - 1, 7000), FAN - 1);
    } else {
        assert_false(stalled->closed);
        /* It drains: the newest message arrives last (latest-value semantics). */
        int saw_last = 0;
        for (int k = 0; k < ROUNDS + 10 && !saw_last; k++) {
            free(stalled->msg);
            stalled->msg = NULL;
            if (!pump(stalled, got_message, 2000) || stalled->closed)
                break;
            int r;
            memcpy(&r, stalled->msg, sizeof r);
            saw_last = r == ROUNDS - 1;
        }
        assert_true(saw_last);
    }
    for (int i = 0; i < FAN; i++)
        client_free(&cl[i]);
    assert_int_equal(ex_stop(&s), 0);
}

static void test_broadcast_drop(void **state)
{
    (void)state;
    broadcast_session("drop");
}

static void test_broadcast_close(void **state)
{
    (void)state;
    broadcast_session("close");
}

/* Reads and discards what is left on the socket: 1 at the peer's end of file (a half-close),
 * 0 on an error (a reset) or after timeout_ms. */
static int read_to_eof(int fd, int timeout_ms)
{
    uint8_t buf[4096];
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    while (now_ms() < end) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            return n == 0;
    }
    return 0;
}

/* examples/minimal_server.c: two connections at once, each echoing text and binary (one
 * message larger than a read), a ping answered, the close code echoed, then the server's end
 * of file -- a half-close, not a reset -- while the other connection goes on. */
static void test_minimal_server(void **state)
{
    static uint8_t big[100000];
    ex_server s;
    (void)state;

    ex_start(&s, "minimal-server", NULL, 0);
    client a = connect_client(s.port, NULL), b = connect_client(s.port, NULL);
    expect_echo(&a, WS_OP_TEXT, (const uint8_t *)"hello", 5);
    expect_echo(&b, WS_OP_BINARY, (const uint8_t *)"\x00\x01\xff", 3);
    expect_echo(&b, WS_OP_TEXT, (const uint8_t *)"", 0);
    test_fill(big, sizeof big, 5);
    expect_echo(&a, WS_OP_BINARY, big, sizeof big);
    assert_int_equal(ws_conn_ping(a.c, "p", 1), WS_OK);
    assert_true(pump(&a, got_pong, 5000));
    assert_int_equal(a.pongs, 1);
    assert_int_equal(ws_conn_close(a.c, 1000, "bye", 3), WS_OK);
    assert_true(pump(&a, is_closed, 5000));
    assert_int_equal(a.close_code, 1000);
    assert_true(read_to_eof(a.fd, 3000));
    expect_echo(&b, WS_OP_TEXT, (const uint8_t *)"still here", 10);
    assert_int_equal(ws_conn_close(b.c, 4000, NULL, 0), WS_OK);
    assert_true(pump(&b, is_closed, 5000));
    assert_int_equal(b.close_code, 4000);
    assert_true(read_to_eof(b.fd, 3000));
    client_free(&a);
    client_free(&b);
    assert_int_equal(ex_stop(&s), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_echo_epoll),
        cmocka_unit_test(test_echo_poll),
        cmocka_unit_test(test_burst_close_epoll),
        cmocka_unit_test(test_burst_close_poll),
        cmocka_unit_test(test_burst_close_wsc),
        cmocka_unit_test(test_sigterm_drain),
        cmocka_unit_test(test_echo_uv),
        cmocka_unit_test(test_echo_uring),
        cmocka_unit_test(test_wsc),
        cmocka_unit_test(test_minimal_server),
        cmocka_unit_test(test_broadcast_drop),
        cmocka_unit_test(test_broadcast_close),
    };
    signal(SIGPIPE, SIG_IGN);
    alarm(120); /* a hung example must not hang the suite */
    return cmocka_run_group_tests_name("examples", tests, NULL, NULL);
}
