/*
 * wsc: a wscat-like WebSocket client on libws and poll(2).
 *
 *   wsc [--echo] [--ping SECONDS] [--reconnect] [--resume] [--deflate | --no-deflate]
 *       [--header "Name: value"]... [--subprotocol NAME]... [--ca FILE] [--insecure]
 *       ws[s]://host[:port]/path [more URLs...]
 *
 * Sends each stdin line as a text message and prints each message received (binary ones as a
 * summary line); prints "closed CODE REASON" at the end. --echo sends every message back
 * instead of reading stdin (for conformance servers that test clients). --reconnect: after an
 * abnormal close, reconnect with exponential backoff and full jitter (ws_backoff), to the
 * next URL given each time (round robin: a dead node's clients fail over to the others);
 * a 503 answer's Retry-After (seconds) is waited on top of the drawn delay. --resume: the
 * messages carry the broadcast server's envelope ("ID\nPAYLOAD", see broadcast.c): the last
 * ID seen is kept and each reconnection asks for what followed it (?last=ID).
 * --deflate (the default when the library has zlib, ws_deflate_available()) offers
 * permessage-deflate (RFC 7692) with the library's default offer; --no-deflate offers nothing.
 * "connected" on stderr names the agreed extension.
 * wss:// goes through TLS (common/tls.c: OpenSSL on memory BIOs, between the socket and the
 * ws_conn): SNI, and the server's certificate checked against the system's CAs (--ca FILE:
 * that file's instead) and against the host of the URI; --insecure skips the check (said on
 * stderr). A certificate that fails is refused with the reason, and exit status 1.
 * Exit status: 0 after a normal close (1000, 1001, 1005), 1 otherwise, 2 for usage errors.
 */
#include "common/posix.h"
#include "common/tls.h"
#include "ws.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define MAX_SUBPROTOCOLS 16

#define MAX_URLS 16

struct wsc {
    const char *url;              /* the one in use */
    const char *urls[MAX_URLS];
    ws_uri uris[MAX_URLS];
    size_t nurl, cur;
    int resume;                   /* --resume */
    char last_id[48];             /* the last stream ID seen ("": none yet) */
    char url_buf[4096];           /* url with ?last=ID */
    uint32_t retry_after_ms;      /* the last 503's Retry-After */
    const char *subs[MAX_SUBPROTOCOLS];
    size_t nsub;
    char headers[4096];
    int echo, reconnect, deflate;
    unsigned ping_s;
    uint64_t max_message; /* 0: the library's default */
    int fd;
    ws_conn *c;
    const char *ca;               /* --ca FILE */
    int insecure;                 /* --insecure */
    struct ex_tls_ctx *tls_ctx;   /* wss:// */
    struct ex_tls *tls;           /* this connection's TLS layer (NULL: ws://) */
    int tls_failed;               /* a TLS failure: no reconnecting */
    int peer_gone; /* end of file, a reset or a failed write: nothing more will come */
    int stdin_open;
    char line[1 << 16];
    size_t line_len;
    uint16_t close_code;
};

static void usage(void)
{
    fprintf(stderr, "usage: wsc [--echo] [--ping SECONDS] [--reconnect] [--resume] "
                    "[--deflate | --no-deflate] [--max-message BYTES]\n"
                    "           [--header 'K: V']... [--subprotocol NAME]... "
                    "[--ca FILE] [--insecure]\n"
                    "           ws[s]://host[:port]/path [more URLs to fail over to]...\n");
    exit(2);
}

static int dial(const ws_uri *u)
{
    char host[256], port[8];
    struct addrinfo hints, *res, *ai;
    int fd = -1, one = 1;

    if (u->host_len >= sizeof host)
        return -1;
    memcpy(host, u->host, u->host_len);
    host[u->host_len] = '\0';
    snprintf(port, sizeof port, "%u", (unsigned)u->port);
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM, 0);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0)
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* A TLS failure ends the connection with the reason (never a fall back to plaintext). */
static void tls_failure(struct wsc *w)
{
    fprintf(stderr, "wsc: %s\n", ex_tls_error(w->tls));
    w->tls_failed = 1;
}

static void flush_out(struct wsc *w)
{
    ws_iovec iov[16];
    int k;
    while ((k = ws_conn_output(w->c, iov, 16)) > 0) {
        /* Through TLS: encrypted and written (the socket blocks), or -1 with EAGAIN while
         * the handshake waits for the server. */
        ssize_t n = w->tls ? ex_tls_writev(w->tls, iov, k)
                           : writev(w->fd, (const struct iovec *)(const void *)iov, k);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && w->tls && errno == EAGAIN)
            return;
        if (n <= 0) {
            if (w->tls && ex_tls_failed(w->tls))
                tls_failure(w);
            w->peer_gone = 1;
            ws_conn_feed_eof(w->c);
            return;
        }
        ws_conn_output_ack(w->c, (size_t)n);
    }
}

/* --resume: a message "ID\n..." where ID is a stream ID (digits '-' digits): keep it. */
static void keep_id(struct wsc *w, const uint8_t *p, size_t n)
{
    size_t i = 0, dash = 0;
    while (i < n && i < sizeof w->last_id - 1 && p[i] != '\n') {
        if (p[i] == '-' && !dash && i > 0)
            dash = i;
        else if (p[i] < '0' || p[i] > '9')
            return;
        i++;
    }
    if (i == n || p[i] != '\n' || i == 0 || (dash && dash == i - 1))
        return;
    memcpy(w->last_id, p, i);
    w->last_id[i] = '\0';
}

static void on_event(struct wsc *w, const ws_event *ev)
{
    switch (ev->type) {
    case WS_EV_OPEN: {
        const char *p;
        size_t n;
        ws_deflate_params dp;
        if (ws_conn_subprotocol(w->c, &p, &n) == WS_OK)
            fprintf(stderr, "connected (subprotocol %.*s)", (int)n, p);
        else
            fprintf(stderr, "connected");
        if (ws_conn_get_deflate_params(w->c, &dp, sizeof dp) == WS_OK)
            fprintf(stderr, " (permessage-deflate: server window %u%s, client window %u%s)",
                    dp.server_max_window_bits,
                    dp.server_no_context_takeover ? " no takeover" : "",
                    dp.client_max_window_bits,
                    dp.client_no_context_takeover ? " no takeover" : "");
        fprintf(stderr, "\n");
        break;
    }
    case WS_EV_MESSAGE:
        if (w->resume)
            keep_id(w, ev->data, ev->len);
        if (ev->opcode == WS_OP_TEXT)
            printf("%.*s\n", (int)ev->len, (const char *)ev->data);
        else
            printf("<binary message, %zu bytes>\n", ev->len);
        fflush(stdout);
        if (w->echo)
            ws_conn_send(w->c, ev->opcode, ev->data, ev->len, 0);
        break;
    case WS_EV_ERROR:
        fprintf(stderr, "error: %s\n", ws_strerror(ev->error));
        if (ev->error == WS_ERR_HS_STATUS) {
            const ws_handshake *hs = ws_conn_handshake(w->c);
            const char *v;
            size_t n;
            fprintf(stderr, "server answered %d\n", ws_handshake_status(hs));
            if (ws_handshake_header(hs, "Retry-After", 0, &v, &n) == WS_OK) {
                fprintf(stderr, "Retry-After: %.*s\n", (int)n, v);
                unsigned long s = 0;
                for (size_t i = 0; i < n && v[i] >= '0' && v[i] <= '9' && s < 3600; i++)
                    s = s * 10 + (unsigned long)(v[i] - '0');
                w->retry_after_ms = (uint32_t)(s > 3600 ? 3600 : s) * 1000u;
            }
            if (ws_handshake_header(hs, "Location", 0, &v, &n) == WS_OK)
                fprintf(stderr, "Location: %.*s\n", (int)n, v);
        }
        break;
    case WS_EV_CLOSE:
        w->close_code = ev->close_code;
        printf("closed %u %.*s\n", ev->close_code, (int)ev->len, (const char *)ev->data);
        fflush(stdout);
        break;
    default:
        break;
    }
}

static void drain(struct wsc *w)
{
    ws_event ev;
    while (ws_conn_next_event(w->c, &ev, sizeof ev) > 0)
        on_event(w, &ev);
}

/* Bytes in: ws_conn_feed copies them and keeps what it has not processed yet, so one call
 * normally takes all n; it takes less only while events wait, which draining frees. */
static void feed(struct wsc *w, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t taken = 0;
        if (ws_conn_feed(w->c, p, n, &taken) != WS_OK)
            break;
        p += taken;
        n -= taken;
        drain(w);
        if (taken == 0)
            break; /* nothing taken even after draining: cannot happen on a client */
    }
}

static void read_stdin(struct wsc *w)
{
    ssize_t n = read(0, w->line + w->line_len, sizeof w->line - w->line_len);
    if (n <= 0) {
        w->stdin_open = 0;
        if (ws_conn_state(w->c) == WS_STATE_OPEN)
            ws_conn_close(w->c, WS_CLOSE_NORMAL, NULL, 0);
        return;
    }
    w->line_len += (size_t)n;
    char *start = w->line, *nl;
    while ((nl = memchr(start, '\n', w->line_len - (size_t)(start - w->line))) != NULL) {
        size_t len = (size_t)(nl - start);
        if (len && start[len - 1] == '\r')
            len--;
        int r = ws_conn_send(w->c, WS_OP_TEXT, start, len, 0);
        if (r < 0)
            fprintf(stderr, "send: %s\n", ws_strerror(r));
        start = nl + 1;
    }
    w->line_len -= (size_t)(start - w->line);
    memmove(w->line, start, w->line_len);
    if (w->line_len == sizeof w->line) {
        fprintf(stderr, "line too long: sent as it is\n");
        ws_conn_send(w->c, WS_OP_TEXT, w->line, w->line_len, 0);
        w->line_len = 0;
    }
}

/*
 * Shut the transport down without a reset: half-close, then read and discard until the
 * server's end of file, at most EX_LINGER_BYTES or EX_LINGER_MS (common/posix.h). Closing
 * with unread input would make the kernel send a TCP reset, destroying what it had not sent
 * yet (our close frame among it).
 */
static void linger(int fd)
{
    static uint8_t buf[64 * 1024];
    uint64_t end = ex_now_ms() + EX_LINGER_MS;
    size_t total = 0;

    if (shutdown(fd, SHUT_WR) != 0)
        return;
    for (;;) {
        uint64_t now = ex_now_ms();
        struct pollfd p = {fd, POLLIN, 0};
        if (now >= end)
            return;
        int r = poll(&p, 1, (int)(end - now));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        total += (size_t)n;
        if (total > EX_LINGER_BYTES)
            return;
    }
}

/* One connection, from dial to shutdown. Returns the close code (WS_CLOSE_ABNORMAL if never
 * opened). */
static uint16_t run_once(struct wsc *w, const ws_uri *u)
{
    uint8_t buf[64 * 1024];
    uint64_t max_message;
    int r;

    w->close_code = WS_CLOSE_ABNORMAL;
    w->peer_gone = 0;
    w->fd = dial(u);
    if (w->fd < 0) {
        fprintf(stderr, "cannot connect to %s\n", w->url);
        return WS_CLOSE_ABNORMAL;
    }
    if (w->tls_ctx) {
        char host[256];
        snprintf(host, sizeof host, "%.*s", (int)u->host_len, u->host);
        if (!(w->tls = ex_tls_new(w->tls_ctx, w->fd, host))) {
            fprintf(stderr, "wsc: TLS: cannot set up the connection to %s\n", host);
            close(w->fd);
            return WS_CLOSE_ABNORMAL;
        }
    }
    if ((r = ws_conn_new(&w->c, WS_ROLE_CLIENT, 0, NULL)) != WS_OK) {
        fprintf(stderr, "wsc: %s\n", ws_strerror(r));
        ex_tls_free(w->tls);
        w->tls = NULL;
        close(w->fd);
        return WS_CLOSE_ABNORMAL;
    }
    if (w->max_message && ws_conn_set_option(w->c, WS_OPT_MAX_MESSAGE_SIZE, w->max_message) < 0)
        fprintf(stderr, "wsc: --max-message: out of range\n");
    /* room to echo the largest message it accepts, header included */
    if (w->echo && ws_conn_get_option(w->c, WS_OPT_MAX_MESSAGE_SIZE, &max_message) == WS_OK)
        ws_conn_set_option(w->c, WS_OPT_SEND_HIGH_WATER, max_message + 64);
    if (w->ping_s) {
        ws_conn_set_option(w->c, WS_OPT_PING_INTERVAL, (uint64_t)w->ping_s * 1000);
        ws_conn_set_option(w->c, WS_OPT_PONG_TIMEOUT, (uint64_t)w->ping_s * 1000);
    }
    if (w->deflate) {
        int d = ws_conn_set_option(w->c, WS_OPT_DEFLATE, 1);
        if (d < 0)
            fprintf(stderr, "wsc: --deflate: %s\n", ws_strerror(d));
    }
    ws_conn_tick(w->c, ex_now_ms());
    const char *url = w->url;
    if (w->resume && w->last_id[0]) {
        snprintf(w->url_buf, sizeof w->url_buf, "%s%clast=%s", w->url,
                 strchr(w->url, '?') ? '&' : '?', w->last_id);
        url = w->url_buf;
    }
    r = ws_conn_client_start(w->c, url, w->subs, w->nsub, WS_EXTENSIONS_AUTO,
                             w->headers[0] ? w->headers : NULL);
    if (r < 0) {
        fprintf(stderr, "wsc: %s\n", ws_strerror(r));
        exit(2);
    }
    while (!ws_conn_wants_shutdown(w->c)) {
        struct pollfd p[2];
        int np = 1;
        flush_out(w);
        drain(w);
        if (ws_conn_wants_shutdown(w->c))
            break;
        p[0].fd = w->fd;
        /* With TLS, output waits only for the handshake, that is for input. */
        p[0].events = POLLIN | ((w->tls ? ex_tls_pending(w->tls) : ws_conn_buffered_amount(w->c))
                                    ? POLLOUT : 0);
        if (w->stdin_open && !w->echo && ws_conn_state(w->c) == WS_STATE_OPEN) {
            p[1].fd = 0;
            p[1].events = POLLIN;
            np = 2;
        }
        uint64_t now = ex_now_ms(), dl = ws_conn_next_deadline(w->c);
        int timeout = dl == WS_DEADLINE_NONE ? -1 : dl <= now ? 0 : (int)(dl - now);
        if (ex_stop && ws_conn_state(w->c) == WS_STATE_OPEN)
            ws_conn_close(w->c, WS_CLOSE_GOING_AWAY, "client exiting", 14);
        if (poll(p, (nfds_t)np, timeout) < 0 && errno != EINTR)
            break;
        ws_conn_tick(w->c, ex_now_ms());
        if (np == 2 && (p[1].revents & (POLLIN | POLLHUP)))
            read_stdin(w);
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            /* Through TLS: the handshake moves, or plaintext comes out (EAGAIN: not yet). */
            ssize_t n = w->tls ? ex_tls_read(w->tls, buf, sizeof buf)
                               : read(w->fd, buf, sizeof buf);
            if (n > 0) {
                feed(w, buf, (size_t)n);
            } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
                if (w->tls && ex_tls_failed(w->tls))
                    tls_failure(w);
                w->peer_gone = 1;
                ws_conn_feed_eof(w->c);
            }
        }
    }
    drain(w);
    /* TLS: close_notify before the half-close (the socket blocks: it is written). */
    uint64_t until;
    if (w->tls && !w->peer_gone)
        ex_tls_close(w->tls, ex_now_ms(), &until);
    /* Normally the server closed first (we saw its end of file). If not (we failed the
     * connection, or the close timeout passed), the server may still be sending. */
    if (!w->peer_gone)
        linger(w->fd);
    ex_tls_free(w->tls);
    w->tls = NULL;
    close(w->fd);
    ws_conn_free(w->c);
    w->c = NULL;
    return w->close_code;
}

int main(int argc, char **argv)
{
    struct wsc w;
    ws_uri u;

    memset(&w, 0, sizeof w);
    w.deflate = ws_deflate_available();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--echo")) {
            w.echo = 1;
        } else if (!strcmp(a, "--deflate")) {
            w.deflate = 1;
        } else if (!strcmp(a, "--no-deflate")) {
            w.deflate = 0;
        } else if (!strcmp(a, "--reconnect")) {
            w.reconnect = 1;
        } else if (!strcmp(a, "--max-message") && i + 1 < argc) {
            w.max_message = strtoull(argv[++i], NULL, 10);
            if (w.max_message == 0)
                usage();
        } else if (!strcmp(a, "--ping") && i + 1 < argc) {
            w.ping_s = (unsigned)strtoul(argv[++i], NULL, 10);
        } else if (!strcmp(a, "--subprotocol") && i + 1 < argc) {
            if (w.nsub == MAX_SUBPROTOCOLS)
                usage();
            w.subs[w.nsub++] = argv[++i];
        } else if (!strcmp(a, "--header") && i + 1 < argc) {
            const char *h = argv[++i];
            const char *colon = strchr(h, ':');
            size_t used = strlen(w.headers);
            if (!colon)
                usage();
            /* "K:V" or "K: V" both become "K: V\r\n". */
            const char *v = colon + 1;
            while (*v == ' ')
                v++;
            if (snprintf(w.headers + used, sizeof w.headers - used, "%.*s: %s\r\n",
                         (int)(colon - h), h, v) >= (int)(sizeof w.headers - used))
                usage();
        } else if (!strcmp(a, "--ca") && i + 1 < argc) {
            w.ca = argv[++i];
        } else if (!strcmp(a, "--insecure")) {
            w.insecure = 1;
        } else if (!strcmp(a, "--resume")) {
            w.resume = 1;
        } else if (a[0] != '-' && w.nurl < MAX_URLS) {
            w.urls[w.nurl++] = a;
        } else {
            usage();
        }
    }
    if (!w.nurl)
        usage();
    int secure = 0;
    for (size_t i = 0; i < w.nurl; i++) {
        int r = ws_uri_parse(w.urls[i], strlen(w.urls[i]), &w.uris[i], sizeof w.uris[i]);
        if (r < 0) {
            fprintf(stderr, "wsc: %s: %s\n", w.urls[i], ws_strerror(r));
            return 2;
        }
        secure |= w.uris[i].secure;
    }
    w.url = w.urls[0];
    u = w.uris[0];
    if (secure) {
        char err[512];
        if (!ex_tls_available()) {
            fprintf(stderr, "wsc: wss://: built without TLS (OpenSSL); rebuild with "
                            "libssl-dev installed\n");
            return 2;
        }
        if (!(w.tls_ctx = ex_tls_client_ctx(w.ca, w.insecure, err, sizeof err))) {
            fprintf(stderr, "wsc: %s\n", err);
            return 2;
        }
        if (w.insecure)
            fprintf(stderr, "wsc: --insecure: the server's certificate is NOT verified\n");
    } else if (w.ca || w.insecure) {
        fprintf(stderr, "wsc: --ca and --insecure are for wss:// URIs\n");
        return 2;
    }
    ex_install_signals();
    w.stdin_open = 1;

    ws_backoff bo;
    ws_backoff_init(&bo, sizeof bo, 500, 30000, 10000);
    for (;;) {
        uint64_t t0 = ex_now_ms();
        ws_backoff_connected(&bo, t0);
        w.retry_after_ms = 0;
        uint16_t code = run_once(&w, &u);
        ws_backoff_disconnected(&bo, ex_now_ms());
        if (w.tls_failed) { /* a bad certificate does not get better by retrying */
            ex_tls_ctx_free(w.tls_ctx);
            return 1;
        }
        int abnormal = code == WS_CLOSE_ABNORMAL || code == WS_CLOSE_INTERNAL_ERROR ||
                       code == WS_CLOSE_SERVICE_RESTART || code == WS_CLOSE_TRY_AGAIN_LATER ||
                       code == WS_CLOSE_BAD_GATEWAY || (code == WS_CLOSE_GOING_AWAY && !ex_stop);
        int normal = code == WS_CLOSE_NORMAL || code == WS_CLOSE_GOING_AWAY ||
                     code == WS_CLOSE_NO_STATUS;
        if (!w.reconnect || !abnormal || ex_stop || !w.stdin_open) {
            ex_tls_ctx_free(w.tls_ctx);
            return normal ? 0 : 1;
        }
        uint32_t rnd = 0, delay = 0;
        ws_random_os(NULL, &rnd, sizeof rnd);
        ws_backoff_next(&bo, rnd, &delay);
        delay += w.retry_after_ms; /* the server's own jittered hint, on top */
        w.cur = (w.cur + 1) % w.nurl; /* fail over: the next URL */
        w.url = w.urls[w.cur];
        u = w.uris[w.cur];
        fprintf(stderr, "reconnecting to %s in %u ms (attempt %u)\n", w.url, delay, bo.attempt);
        /* A signal cuts the wait short (and then ends the loop above). */
        for (uint64_t end = ex_now_ms() + delay; !ex_stop && ex_now_ms() < end;)
            usleep(10000);
    }
}
