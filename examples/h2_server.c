/*
 * h2-server: WebSockets over HTTP/2 (RFC 8441) and HTTP/1.1 on one port, with nghttp2.
 *
 * With --tls-cert/--tls-key every connection is TLS, and ALPN picks "h2" or "http/1.1"
 * (examples/common/tls.c). Without them the port is cleartext: a connection that starts with
 * the HTTP/2 preface is h2c with prior knowledge (RFC 9113 3.3), anything else HTTP/1.1.
 *
 * What it serves, on either protocol:
 *   GET /          a small HTML page (--page FILE serves that file instead) whose script opens
 *                  a WebSocket to the same origin and asks it "transport?";
 *   GET /conn      text: the transport of this request, e.g. "h2 conn=3 tls=1";
 *   POST /report   the body is printed on stdout as one line "report: BODY" (tests use it to
 *                  collect a browser's results), answered 204;
 *   WebSockets     by extended CONNECT on h2 streams (:protocol websocket, any :path), each an
 *                  already-open ws_conn (WS_CONN_OPEN), permessage-deflate agreed with
 *                  ws_conn_open_negotiate; by the HTTP/1.1 upgrade on HTTP/1.1 connections.
 *                  Echo, as echo-epoll: every message back with its type; except that a text
 *                  message "transport?" is answered with the WebSocket's transport:
 *                  "h2 conn=N stream=S tls=1" (h2 over TLS), "h2c conn=N stream=S tls=0",
 *                  "http/1.1 conn=N tls=0|1" -- conn=N numbers TCP connections from 1, so two
 *                  answers with the same N travelled over the same connection.
 *
 * The SETTINGS it sends: ENABLE_CONNECT_PROTOCOL 1, MAX_CONCURRENT_STREAMS H2_MAX_STREAMS,
 * INITIAL_WINDOW_SIZE H2_STREAM_WINDOW.
 *
 * Malformed or refused extended CONNECTs (README "WebSockets over HTTP/2" has the table):
 *   - malformed requests (RFC 9113 8.1.1, RFC 8441 4): RST_STREAM PROTOCOL_ERROR. nghttp2
 *     finds most of them itself (uppercase or connection-specific fields, :protocol on a method
 *     other than CONNECT, an extended CONNECT without :scheme or :path, repeated or misplaced
 *     pseudo-headers); what ws_h2_end_headers reports as WS_ERR_H2_PSEUDO, _HEADER, _PATH or
 *     _AUTHORITY is reset the same way;
 *   - a CONNECT without :protocol (a proxy request): 405; :protocol other than "websocket":
 *     501; :scheme other than http/https: 400;
 *   - sec-websocket-version missing or not 13: 426 with "sec-websocket-version: 13";
 *   - bad sec-websocket-protocol / -extensions, repeated single fields: 400
 *     (ws_handshake_error_status).
 *
 * Flow control and the bounds (per TCP connection, whatever the peer does):
 *   - each stream's received WebSocket bytes wait in a buffer of at most H2_STREAM_WINDOW
 *     bytes, its receive window: the connection window is given back as soon as DATA arrives,
 *     the stream's only once its bytes were handed to its ws_conn -- which stops while that
 *     WebSocket's output waits above H2_PAUSE_ABOVE (its reader is slow, or its send window is
 *     0). So a WebSocket whose reader stalls stops its own sender and nobody else: the other
 *     streams keep flowing (nghttp2 sends DATA of a stream only within its send window);
 *   - output: one piece of nghttp2's output at a time waits for the socket; while it waits
 *     nothing is read from the socket, so no control-frame flood can queue up behind it;
 *   - at most H2_MAX_STREAMS streams, H2_REPORT_MAX bytes of a report, H2_HEAD_MAX of an
 *     HTTP/1.1 request head; each ws_conn under the shared --max-memory budget and its share.
 *   - fairness: a turn of a stream takes at most EX_WORK_BUDGET of work; streams with input
 *     left get the next turn after every other connection had one.
 *
 * Reused from examples/common: the options (ex_parse_args, plus --page here), the listening
 * socket and its limits (accept.c, through ex_server.new_client), the timer heap (timers.c),
 * the clock and signals (posix.c), TLS with ALPN (tls.c), the ws_conn options (the
 * server's shared ws_config). The epoll loop is this file's: h2 connections carry many ws_conns, so
 * server.c's one-ws_conn-per-socket glue does not apply.
 *
 * HTTP/3 (RFC 9220) is the same with nghttp3 over a QUIC stack (README).
 */
#include "common/server.h"

#include <nghttp2/nghttp2.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define H2_MAX_STREAMS 100u
#define H2_STREAM_WINDOW 65535u      /* a stream's receive window and input buffer */
#define H2_CONN_WINDOW (1u << 20)    /* the connection's receive window */
#define H2_PAUSE_ABOVE (256u * 1024u) /* a WebSocket's queued output that stops its input */
#define H2_HEAD_MAX 8192u            /* an HTTP/1.1 request head */
#define H2_REPORT_MAX 65536u         /* a POST /report body */
#define H2_PAGE_MAX (1u << 20)       /* --page FILE */
#define H2_HANDSHAKE_MS 10000u       /* TLS + the first request / preface */
#define H2_STREAM_LINGER_MS EX_LINGER_MS /* our END_STREAM sent, the peer's awaited */

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define H2_PREFACE_LEN (sizeof h2_preface - 1)

static const char default_page[] =
    "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>libws h2-server</title>"
    "</head>\n<body><pre id=\"log\">connecting</pre><script>\n"
    "const ws = new WebSocket((location.protocol === 'https:' ? 'wss://' : 'ws://') +\n"
    "                         location.host + '/ws');\n"
    "ws.onopen = () => ws.send('transport?');\n"
    "ws.onmessage = (e) => { document.getElementById('log').textContent =\n"
    "                        'WebSocket transport: ' + e.data; ws.close(1000); };\n"
    "ws.onerror = () => { document.getElementById('log').textContent = 'WebSocket error'; };\n"
    "</script></body></html>\n";

enum mode {
    M_DETECT,  /* TLS handshake, or the first bytes of a cleartext connection */
    M_H2,      /* nghttp2 */
    M_H1_HEAD, /* reading an HTTP/1.1 request head */
    M_H1_WS,   /* an HTTP/1.1 WebSocket */
    M_H1_RESP, /* writing an HTTP/1.1 response, then closing */
    M_LINGER   /* write side shut down: reading to the peer's end of file */
};

enum kind { K_REQUEST, K_WS, K_BODY, K_REPORT };

struct conn;

struct stream {
    int32_t id;
    struct conn *c;
    struct stream *prev, *next;
    enum kind kind;
    ws_handshake *hs;      /* the request's fields, until it is answered */
    char method[16], path[64];
    int has_protocol;      /* a :protocol field came */
    int path_long;         /* :path did not fit in path[] (no resource has such a name) */
    ws_conn *ws;           /* K_WS */
    uint8_t *in;           /* K_WS: received bytes not yet handed to ws (<= H2_STREAM_WINDOW) */
    size_t in_len;
    int peer_eof;          /* END_STREAM received */
    int eof_fed;           /* ws_conn_feed_eof done */
    int deferred;          /* the data provider waits for output (NGHTTP2_ERR_DEFERRED) */
    int eof_sent;          /* our END_STREAM went out */
    uint64_t eof_sent_at;
    uint8_t *body;         /* K_BODY: response body (owned) / K_REPORT: the report so far */
    size_t body_len, body_off;
};

struct conn {
    struct ex_client cl;   /* first: the loop, the timer heap and accept.c see this */
    unsigned long id;
    enum mode mode;
    nghttp2_session *ng;
    const uint8_t *outp;   /* nghttp2 output not yet written (valid until the next mem_send) */
    size_t outp_len;
    struct stream *streams;
    size_t nstreams;
    uint8_t head[H2_HEAD_MAX];
    size_t head_len;
    ws_conn *ws;           /* M_H1_WS */
    char *resp;            /* M_H1_RESP: the whole response */
    size_t resp_len, resp_off;
    uint64_t started, idle_since, linger_until;
    size_t linger_bytes;
    int goaway;            /* draining: GOAWAY submitted */
    int ready;             /* in the ready list: work left for another turn */
    struct conn *next_ready;
    struct conn *prev, *next; /* all connections */
    struct conn *next_dead;
};

static struct {
    struct ex_server *s;
    int ep;
    const char *page;
    size_t page_len;
    unsigned long next_id;
    struct conn *all, *ready, *dead;
    nghttp2_session_callbacks *cbs;
    int draining;
    uint64_t drain_deadline;
    uint8_t buf[EX_READ_CHUNK];
} g;

/* ---- the loop's side: watching, timers, the end of a connection ---- */

static void watch(struct ex_server *s, struct ex_client *cl, unsigned want)
{
    struct epoll_event e;
    (void)s;
    e.events = ((want & EX_WANT_READ) ? EPOLLIN : 0u) | ((want & EX_WANT_WRITE) ? EPOLLOUT : 0u);
    e.data.ptr = cl;
    if (want == 0) {
        epoll_ctl(g.ep, EPOLL_CTL_DEL, cl->fd, &e);
        return;
    }
    if (epoll_ctl(g.ep, EPOLL_CTL_MOD, cl->fd, &e) != 0 && errno == ENOENT)
        epoll_ctl(g.ep, EPOLL_CTL_ADD, cl->fd, &e);
}

static void set_watch(struct conn *c, unsigned want)
{
    if (c->cl.watching != want) {
        watch(g.s, &c->cl, want);
        c->cl.watching = want;
    }
}

static void mark_ready(struct conn *c)
{
    if (!c->ready && !c->cl.dead) {
        c->ready = 1;
        c->next_ready = g.ready;
        g.ready = c;
    }
}

static void stream_free(struct conn *c, struct stream *st)
{
    if (st->prev)
        st->prev->next = st->next;
    else
        c->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    c->nstreams--;
    if (c->nstreams == 0)
        c->idle_since = ex_now_ms();
    ws_conn_free(st->ws);
    ws_handshake_free(st->hs);
    free(st->in);
    free(st->body);
    free(st);
}

/* Close the connection at once: everything it holds goes now, the memory after the batch of
 * events (which may still point at it). */
static void kill_conn(struct conn *c)
{
    if (c->cl.dead)
        return;
    set_watch(c, 0);
    ex_timer_set(g.s, &c->cl, WS_DEADLINE_NONE);
    if (c->prev)
        c->prev->next = c->next;
    else
        g.all = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->ng)
        nghttp2_session_del(c->ng); /* calls no callback: the streams are ours to free */
    c->ng = NULL;
    while (c->streams)
        stream_free(c, c->streams);
    ws_conn_free(c->ws);
    c->ws = NULL;
    free(c->resp);
    c->resp = NULL;
    ex_tls_free(c->cl.tls);
    c->cl.tls = NULL;
    if (c->cl.reset) {
        struct linger lg = {1, 0};
        setsockopt(c->cl.fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
    close(c->cl.fd);
    c->cl.dead = 1;
    g.s->count--;
    c->next_dead = g.dead;
    g.dead = c;
}

/* Done with the peer: say close_notify (TLS), shut the write side, and read to its end of
 * file, at most EX_LINGER_MS and EX_LINGER_BYTES (why: posix.h). */
static void start_linger(struct conn *c)
{
    uint64_t until;
    if (c->cl.tls && !c->cl.peer_eof && ex_tls_close(c->cl.tls, ex_now_ms(), &until) == 0)
        ex_tls_flush(c->cl.tls); /* best effort: the linger below bounds the rest */
    if (c->cl.peer_eof || c->cl.reset || shutdown(c->cl.fd, SHUT_WR) != 0) {
        kill_conn(c);
        return;
    }
    c->mode = M_LINGER;
    c->linger_bytes = 0;
    c->linger_until = ex_now_ms() + EX_LINGER_MS;
    set_watch(c, EX_WANT_READ);
    ex_timer_set(g.s, &c->cl, c->linger_until);
}

static ssize_t sock_read(struct conn *c, void *buf, size_t cap)
{
    return c->cl.tls ? ex_tls_read(c->cl.tls, buf, cap) : read(c->cl.fd, buf, cap);
}

static ssize_t sock_write(struct conn *c, const void *p, size_t n)
{
    if (c->cl.tls) {
        ws_iovec iov = {p, n};
        return ex_tls_writev(c->cl.tls, &iov, 1);
    }
    return write(c->cl.fd, p, n);
}

static int would_block(void)
{
    return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}

/* ---- what a WebSocket says ---- */

/* The transport of connection c (stream st on h2): see the top of this file. */
static void transport(const struct conn *c, const struct stream *st, char *out, size_t cap)
{
    int tls = c->cl.tls != NULL;
    if (c->mode == M_H2 && st)
        snprintf(out, cap, "%s conn=%lu stream=%d tls=%d", tls ? "h2" : "h2c", c->id,
                 (int)st->id, tls);
    else if (c->mode == M_H2)
        snprintf(out, cap, "%s conn=%lu tls=%d", tls ? "h2" : "h2c", c->id, tls);
    else
        snprintf(out, cap, "http/1.1 conn=%lu tls=%d", c->id, tls);
}

/* Echo, and the answer to "transport?". */
static void on_ws_event(struct conn *c, struct stream *st, ws_conn *ws, const ws_event *ev)
{
    char t[96];
    int r;
    if (ev->type != WS_EV_MESSAGE)
        return; /* pings, closes and errors: the library answers them */
    if (ev->opcode == WS_OP_TEXT && ev->len == 10 && memcmp(ev->data, "transport?", 10) == 0) {
        transport(c, st, t, sizeof t);
        r = ws_conn_send(ws, WS_OP_TEXT, t, strlen(t), 0);
    } else {
        r = ws_conn_send(ws, ev->opcode, ev->data, ev->len, 0);
    }
    if (r == WS_ERR_BUDGET)
        ws_conn_close(ws, WS_CLOSE_TRY_AGAIN_LATER, "out of memory", 13);
}

/* The first subprotocol offered that --subprotocol names, or NULL. */
static const char *pick_subprotocol(const ws_handshake *hs)
{
    for (size_t i = 0; hs && i < ws_handshake_subprotocol_count(hs); i++) {
        const char *p;
        size_t n;
        if (ws_handshake_subprotocol(hs, i, &p, &n) < 0)
            continue;
        for (int k = 0; k < g.s->opt.nsub; k++)
            if (strlen(g.s->opt.subprotocols[k]) == n && !memcmp(g.s->opt.subprotocols[k], p, n))
                return p;
    }
    return NULL;
}

/* A WebSocket with the options every example server uses (s->cfg, from the shared flags)
 * under the shared memory budget, its clock started. */
static int new_ws(ws_conn **out, uint32_t flags)
{
    if (!ex_server_config(g.s) || ws_conn_new(out, WS_ROLE_SERVER, flags, g.s->cfg) != WS_OK)
        return -1;
    if (ws_conn_set_budget(*out, g.s->budget) != WS_OK) {
        ws_conn_free(*out);
        *out = NULL;
        return -1;
    }
    ws_conn_tick(*out, ex_now_ms());
    return 0;
}

/* ---- HTTP/2 streams ---- */

/* The data provider of a WebSocket stream: its ws_conn's output, as DATA; END_STREAM once
 * the WebSocket is closed and everything is written. */
static ssize_t ws_read_cb(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                          uint32_t *flags, nghttp2_data_source *src, void *user)
{
    struct stream *st = src->ptr;
    ws_iovec iov[8];
    size_t n = 0;
    (void)ng;
    (void)id;
    (void)user;
    int k = ws_conn_output(st->ws, iov, 8);
    for (int i = 0; i < k && n < length; i++) {
        size_t m = iov[i].len < length - n ? iov[i].len : length - n;
        memcpy(buf + n, iov[i].base, m);
        n += m;
    }
    if (n > 0) {
        ws_conn_output_ack(st->ws, n);
        if (st->in_len > 0 || ws_conn_buffered_amount(st->ws) == 0)
            mark_ready(st->c); /* its input may move again */
        return (ssize_t)n;
    }
    if (ws_conn_wants_shutdown(st->ws)) {
        *flags |= NGHTTP2_DATA_FLAG_EOF;
        st->eof_sent = 1;
        st->eof_sent_at = ex_now_ms();
        return 0;
    }
    st->deferred = 1;
    return NGHTTP2_ERR_DEFERRED;
}

static ssize_t body_read_cb(nghttp2_session *ng, int32_t id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *src, void *user)
{
    struct stream *st = src->ptr;
    (void)ng;
    (void)id;
    (void)user;
    size_t n = st->body_len - st->body_off;
    if (n > length)
        n = length;
    memcpy(buf, st->body + st->body_off, n);
    st->body_off += n;
    if (st->body_off == st->body_len)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

#define NV(n, v, vl)                                                                           \
    {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NONE}

/* A whole response with a body (copied; HEAD: none sent), then the stream ends. */
static void respond(struct conn *c, struct stream *st, int status, const char *ctype,
                    const void *body, size_t len, const char *hname, const char *hvalue)
{
    char sbuf[8], lbuf[24];
    nghttp2_nv nva[4];
    size_t n = 0;
    nghttp2_data_provider prd;
    int head = !strcmp(st->method, "HEAD");

    snprintf(sbuf, sizeof sbuf, "%d", status);
    snprintf(lbuf, sizeof lbuf, "%zu", len);
    nghttp2_nv s = NV(":status", sbuf, strlen(sbuf));
    nva[n++] = s;
    if (status != 204) {
        nghttp2_nv t = NV("content-type", ctype, strlen(ctype));
        nghttp2_nv l = NV("content-length", lbuf, strlen(lbuf));
        nva[n++] = t;
        nva[n++] = l;
    }
    if (hname) {
        nghttp2_nv h = {(uint8_t *)hname, (uint8_t *)hvalue, strlen(hname), strlen(hvalue),
                        NGHTTP2_NV_FLAG_NONE};
        nva[n++] = h;
    }
    st->kind = K_BODY;
    ws_handshake_free(st->hs);
    st->hs = NULL;
    free(st->body);
    st->body = NULL;
    st->body_len = st->body_off = 0;
    if (len && !head && (st->body = malloc(len)) != NULL) {
        memcpy(st->body, body, len);
        st->body_len = len;
    }
    prd.source.ptr = st;
    prd.read_callback = body_read_cb;
    if (nghttp2_submit_response(c->ng, st->id, nva, n, st->body_len ? &prd : NULL) != 0)
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
}

static void respond_text(struct conn *c, struct stream *st, int status, const char *text,
                         const char *hname, const char *hvalue)
{
    respond(c, st, status, "text/plain; charset=utf-8", text, strlen(text), hname, hvalue);
}

/* An extended CONNECT ws_h2_end_headers refused (the table at the top). */
static void refuse(struct conn *c, struct stream *st, int err)
{
    char why[128];
    snprintf(why, sizeof why, "%s\n", ws_strerror(err));
    switch (err) {
    case WS_ERR_H2_PSEUDO:
    case WS_ERR_H2_HEADER:
    case WS_ERR_H2_PATH:
    case WS_ERR_H2_AUTHORITY:
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_PROTOCOL_ERROR);
        return;
    case WS_ERR_H2_PROTOCOL:
        if (st->has_protocol)
            respond_text(c, st, 501, why, NULL, NULL);
        else
            respond_text(c, st, 405, why, "allow", "GET, HEAD, POST");
        return;
    case WS_ERR_HS_WS_VERSION:
        respond_text(c, st, 426, why, "sec-websocket-version", "13");
        return;
    default: {
        int status = ws_handshake_error_status(st->hs);
        respond_text(c, st, status ? status : 400, why, NULL, NULL);
        return;
    }
    }
}

static void accept_ws(struct conn *c, struct stream *st)
{
    char ext[WS_EXTENSIONS_VALUE_MAX];
    nghttp2_nv nva[3] = {NV(":status", "200", 3)};
    size_t n = 1, elen = 0;
    nghttp2_data_provider prd;
    ws_event ev;

    if (new_ws(&st->ws, WS_CONN_OPEN) != 0 ||
        ws_conn_open_negotiate(st->ws, st->hs, ext, sizeof ext, &elen) < 0) {
        respond_text(c, st, 503, "out of memory\n", NULL, NULL);
        return;
    }
    if (elen) {
        nghttp2_nv e = NV("sec-websocket-extensions", ext, elen);
        nva[n++] = e;
    }
    const char *proto = pick_subprotocol(st->hs);
    if (proto) {
        nghttp2_nv p = NV("sec-websocket-protocol", proto, strlen(proto));
        nva[n++] = p; /* copied by nghttp2 before st->hs goes */
    }
    while (ws_conn_next_event(st->ws, &ev, sizeof ev) > 0) /* WS_EV_OPEN */
        ;
    prd.source.ptr = st;
    prd.read_callback = ws_read_cb;
    if (nghttp2_submit_response(c->ng, st->id, nva, n, &prd) != 0) {
        nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
        return;
    }
    st->kind = K_WS;
    ws_handshake_free(st->hs);
    st->hs = NULL;
}

/* A request's header block is complete. */
static void on_request(struct conn *c, struct stream *st)
{
    if (!strcmp(st->method, "CONNECT")) {
        int r = ws_h2_end_headers(st->hs);
        if (r == WS_HANDSHAKE_COMPLETE && g.draining)
            respond_text(c, st, 503, "shutting down\n", "retry-after", "5");
        else if (r == WS_HANDSHAKE_COMPLETE)
            accept_ws(c, st);
        else
            refuse(c, st, r);
        return;
    }
    if (!strcmp(st->method, "GET") || !strcmp(st->method, "HEAD")) {
        if (!st->path_long && (!strcmp(st->path, "/") || !strcmp(st->path, "/index.html"))) {
            respond(c, st, 200, "text/html; charset=utf-8", g.page, g.page_len, NULL, NULL);
        } else if (!st->path_long && !strcmp(st->path, "/conn")) {
            char t[96];
            transport(c, NULL, t, sizeof t - 1);
            strcat(t, "\n");
            respond_text(c, st, 200, t, NULL, NULL);
        } else {
            respond_text(c, st, 404, "not found\n", NULL, NULL);
        }
        return;
    }
    if (!strcmp(st->method, "POST") && !st->path_long && !strcmp(st->path, "/report")) {
        st->kind = K_REPORT; /* answered once its body is complete */
        ws_handshake_free(st->hs);
        st->hs = NULL;
        return;
    }
    respond_text(c, st, 405, "method not allowed\n", "allow", "GET, HEAD, POST");
}

/* POST /report complete: one line on stdout, control bytes as spaces. */
static void report_done(struct conn *c, struct stream *st)
{
    fputs("report: ", stdout);
    for (size_t i = 0; i < st->body_len; i++) {
        int ch = st->body[i];
        putchar(ch < 0x20 || ch == 0x7f ? ' ' : ch);
    }
    putchar('\n');
    fflush(stdout);
    respond(c, st, 204, "", NULL, 0, NULL, NULL);
}

/* Hand a WebSocket stream's input to its ws_conn while its output is below H2_PAUSE_ABOVE,
 * at most EX_WORK_BUDGET of work; the stream's window is given back for what was taken. */
static void stream_pump(struct conn *c, struct stream *st)
{
    size_t work = 0;
    ws_event ev;

    for (;;) {
        while (ws_conn_next_event(st->ws, &ev, sizeof ev) > 0) {
            work += ev.len + EX_EVENT_COST;
            on_ws_event(c, st, st->ws, &ev);
        }
        if (st->in_len == 0 || work >= EX_WORK_BUDGET ||
            ws_conn_buffered_amount(st->ws) > H2_PAUSE_ABOVE)
            break;
        size_t taken = 0;
        if (ws_conn_feed(st->ws, st->in, st->in_len, &taken) < 0) {
            nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
            return; /* no memory for its input: this WebSocket alone ends */
        }
        if (taken == 0 && ws_conn_next_event(st->ws, &ev, sizeof ev) <= 0)
            break; /* nothing moves (cannot happen while events are taken) */
        if (taken == 0) {
            work += ev.len + EX_EVENT_COST;
            on_ws_event(c, st, st->ws, &ev);
            continue;
        }
        memmove(st->in, st->in + taken, st->in_len - taken);
        st->in_len -= taken;
        work += taken;
        nghttp2_session_consume_stream(c->ng, st->id, taken);
    }
    if (st->peer_eof && st->in_len == 0 && !st->eof_fed) {
        st->eof_fed = 1;
        ws_conn_feed_eof(st->ws); /* END_STREAM: the byte stream ended */
        while (ws_conn_next_event(st->ws, &ev, sizeof ev) > 0)
            on_ws_event(c, st, st->ws, &ev);
    }
    if (st->in_len > 0 && ws_conn_buffered_amount(st->ws) <= H2_PAUSE_ABOVE)
        mark_ready(c); /* budget spent: another turn */
    if (st->deferred && (ws_conn_buffered_amount(st->ws) > 0 || ws_conn_wants_shutdown(st->ws))) {
        st->deferred = 0;
        nghttp2_session_resume_data(c->ng, st->id);
    }
}

static void pump_streams(struct conn *c)
{
    for (struct stream *st = c->streams; st; st = st->next)
        if (st->kind == K_WS && !st->eof_sent)
            stream_pump(c, st);
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_headers(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    struct conn *c = user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    struct stream *st = calloc(1, sizeof *st);
    if (!st || ws_handshake_new(&st->hs, WS_ROLE_SERVER, NULL) != WS_OK) {
        free(st);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE; /* this stream is reset */
    }
    st->id = f->hd.stream_id;
    st->c = c;
    st->next = c->streams;
    if (c->streams)
        c->streams->prev = st;
    c->streams = st;
    c->nstreams++;
    nghttp2_session_set_stream_user_data(ng, st->id, st);
    return 0;
}

static void copy_field(char *dst, size_t cap, const uint8_t *v, size_t n, int *too_long)
{
    if (n >= cap) {
        n = cap - 1;
        if (too_long)
            *too_long = 1;
    }
    memcpy(dst, v, n);
    dst[n] = '\0';
}

static int on_header(nghttp2_session *ng, const nghttp2_frame *f, const uint8_t *name,
                     size_t nlen, const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
    (void)flags;
    (void)user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers: ignored */
    struct stream *st = nghttp2_session_get_stream_user_data(ng, f->hd.stream_id);
    if (!st || !st->hs)
        return 0;
    if (nlen == 7 && !memcmp(name, ":method", 7))
        copy_field(st->method, sizeof st->method, value, vlen, NULL);
    else if (nlen == 5 && !memcmp(name, ":path", 5))
        copy_field(st->path, sizeof st->path, value, vlen, &st->path_long);
    else if (nlen == 9 && !memcmp(name, ":protocol", 9))
        st->has_protocol = 1;
    /* Refusals are sticky in hs: ws_h2_end_headers reports the first. */
    (void)ws_h2_add_header(st->hs, (const char *)name, nlen, (const char *)value, vlen);
    return 0;
}

static int on_frame_recv(nghttp2_session *ng, const nghttp2_frame *f, void *user)
{
    struct conn *c = user;
    struct stream *st = f->hd.stream_id ? nghttp2_session_get_stream_user_data(ng, f->hd.stream_id)
                                        : NULL;
    if (!st)
        return 0;
    int end = (f->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0;
    if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
        on_request(c, st);
    if ((f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA) && end) {
        st->peer_eof = 1;
        if (st->kind == K_REPORT)
            report_done(c, st);
        else if (st->kind == K_WS)
            mark_ready(c);
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *ng, uint8_t flags, int32_t id, const uint8_t *data,
                         size_t len, void *user)
{
    struct conn *c = user;
    (void)flags;
    /* The connection window comes back at once: every stream's share is bounded by its own. */
    nghttp2_session_consume_connection(ng, len);
    struct stream *st = nghttp2_session_get_stream_user_data(ng, id);
    if (st && st->kind == K_WS) {
        if (!st->in && !(st->in = malloc(H2_STREAM_WINDOW))) {
            nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
            return 0;
        }
        if (len > H2_STREAM_WINDOW - st->in_len) { /* nghttp2 enforces the window first */
            nghttp2_submit_rst_stream(ng, NGHTTP2_FLAG_NONE, id, NGHTTP2_FLOW_CONTROL_ERROR);
            return 0;
        }
        memcpy(st->in + st->in_len, data, len);
        st->in_len += len;
        mark_ready(c);
        return 0;
    }
    nghttp2_session_consume_stream(ng, id, len);
    if (st && st->kind == K_REPORT) {
        if (len > H2_REPORT_MAX - st->body_len) {
            respond_text(c, st, 413, "report too large\n", NULL, NULL);
            return 0;
        }
        uint8_t *b = realloc(st->body, st->body_len + len);
        if (!b) {
            respond_text(c, st, 503, "out of memory\n", NULL, NULL);
            return 0;
        }
        memcpy(b + st->body_len, data, len);
        st->body = b;
        st->body_len += len;
    }
    return 0;
}

static int on_stream_close(nghttp2_session *ng, int32_t id, uint32_t error, void *user)
{
    struct conn *c = user;
    (void)error;
    struct stream *st = nghttp2_session_get_stream_user_data(ng, id);
    if (st) {
        nghttp2_session_set_stream_user_data(ng, id, NULL);
        stream_free(c, st);
    }
    return 0;
}

static int start_h2(struct conn *c)
{
    nghttp2_option *opt;
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, H2_MAX_STREAMS},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, H2_STREAM_WINDOW},
        {NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL, 1},
    };
    if (nghttp2_option_new(&opt) != 0)
        return -1;
    nghttp2_option_set_no_auto_window_update(opt, 1);
    int r = nghttp2_session_server_new2(&c->ng, g.cbs, c, opt);
    nghttp2_option_del(opt);
    if (r != 0)
        return -1;
    c->mode = M_H2;
    c->idle_since = ex_now_ms();
    if (nghttp2_submit_settings(c->ng, NGHTTP2_FLAG_NONE, iv, sizeof iv / sizeof iv[0]) != 0 ||
        nghttp2_session_set_local_window_size(c->ng, NGHTTP2_FLAG_NONE, 0, H2_CONN_WINDOW) != 0)
        return -1;
    return 0; /* draining: GOAWAY comes with the first flush (no stream yet) */
}

static int h2_input(struct conn *c, const uint8_t *p, size_t n)
{
    ssize_t r = nghttp2_session_mem_recv(c->ng, p, n);
    if (r < 0) {
        /* A connection error: nghttp2 queued GOAWAY where the protocol says so. */
        fprintf(stderr, "h2-server: conn %lu: %s\n", c->id, nghttp2_strerror((int)r));
        return -1;
    }
    pump_streams(c);
    return 0;
}

/* ---- HTTP/1.1 ---- */

static void h1_ws_events(struct conn *c)
{
    ws_event ev;
    while (c->ws && ws_conn_next_event(c->ws, &ev, sizeof ev) > 0) {
        if (ev.type == WS_EV_REQUEST) {
            const char *proto = pick_subprotocol(ws_conn_handshake(c->ws));
            if (g.draining)
                ws_conn_reject(c->ws, 503, NULL, "Retry-After: 5\r\n", NULL, 0);
            else if (ws_conn_accept(c->ws, proto, NULL, NULL) < 0)
                ws_conn_reject(c->ws, 500, NULL, NULL, NULL, 0);
            continue;
        }
        if (ev.type == WS_EV_ERROR && ev.error == WS_ERR_SEND_TIMEOUT)
            c->cl.reset = 1;
        on_ws_event(c, NULL, c->ws, &ev);
    }
}

static void h1_ws_input(struct conn *c, const uint8_t *p, size_t n)
{
    while (n > 0) {
        size_t taken = 0;
        if (ws_conn_feed(c->ws, p, n, &taken) < 0) {
            c->cl.reset = 1;
            kill_conn(c);
            return;
        }
        p += taken;
        n -= taken;
        h1_ws_events(c);
    }
    h1_ws_events(c);
}

static void h1_respond(struct conn *c, int status, const char *reason, const char *ctype,
                       const void *body, size_t len, int head)
{
    int k = snprintf(NULL, 0, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                              "Connection: close\r\n\r\n", status, reason, ctype, len);
    c->resp = malloc((size_t)k + 1 + len);
    if (!c->resp) {
        kill_conn(c);
        return;
    }
    snprintf(c->resp, (size_t)k + 1, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                                     "Connection: close\r\n\r\n", status, reason, ctype, len);
    c->resp_len = (size_t)k;
    if (!head && len) {
        memcpy(c->resp + k, body, len);
        c->resp_len += len;
    }
    c->resp_off = 0;
    c->mode = M_H1_RESP;
}

/* An upgrade request goes to a ws_conn (which answers it or its errors); anything else is
 * answered here, then the connection closes. */
static void h1_route(struct conn *c, size_t head_end)
{
    const char *h = (const char *)c->head;
    int upgrade = 0;
    for (size_t i = 0; i + 9 < head_end; i++)
        if (h[i] == '\n' && !strncasecmp(h + i + 1, "upgrade:", 8))
            upgrade = 1;
    if (upgrade) {
        if (new_ws(&c->ws, 0) != 0) {
            kill_conn(c);
            return;
        }
        c->mode = M_H1_WS;
        size_t n = c->head_len;
        c->head_len = 0;
        h1_ws_input(c, c->head, n);
        return;
    }
    int head = !strncmp(h, "HEAD ", 5);
    const char *target = head ? h + 5 : !strncmp(h, "GET ", 4) ? h + 4 : NULL;
    char t[96];
    if (!target)
        h1_respond(c, 405, "Method Not Allowed", "text/plain", "method not allowed\n", 19, 0);
    else if (!strncmp(target, "/ ", 2) || !strncmp(target, "/index.html ", 12))
        h1_respond(c, 200, "OK", "text/html; charset=utf-8", g.page, g.page_len, head);
    else if (!strncmp(target, "/conn ", 6)) {
        transport(c, NULL, t, sizeof t - 1);
        strcat(t, "\n");
        h1_respond(c, 200, "OK", "text/plain", t, strlen(t), head);
    } else
        h1_respond(c, 404, "Not Found", "text/plain", "not found\n", 10, head);
}

static void h1_head_input(struct conn *c, const uint8_t *p, size_t n)
{
    size_t room = sizeof c->head - c->head_len;
    if (n > room) {
        h1_respond(c, 431, "Request Header Fields Too Large", "text/plain", "too large\n", 10, 0);
        return;
    }
    memcpy(c->head + c->head_len, p, n);
    c->head_len += n;
    for (size_t i = 3; i < c->head_len; i++)
        if (!memcmp(c->head + i - 3, "\r\n\r\n", 4)) {
            h1_route(c, i + 1);
            return;
        }
}

/* ---- input, output, timers of a connection ---- */

static void input(struct conn *c, const uint8_t *p, size_t n)
{
    if (c->mode == M_DETECT) {
        if (c->cl.tls) {
            if (!strcmp(ex_tls_alpn(c->cl.tls), "h2")) {
                if (start_h2(c) != 0) {
                    kill_conn(c);
                    return;
                }
            } else {
                c->mode = M_H1_HEAD;
            }
        } else {
            /* Cleartext: the HTTP/2 preface (prior knowledge), or HTTP/1.1. */
            size_t k = n < H2_PREFACE_LEN - c->head_len ? n : H2_PREFACE_LEN - c->head_len;
            memcpy(c->head + c->head_len, p, k);
            c->head_len += k;
            p += k;
            n -= k;
            if (memcmp(c->head, h2_preface, c->head_len) != 0) {
                c->mode = M_H1_HEAD;
            } else if (c->head_len == H2_PREFACE_LEN) {
                if (start_h2(c) != 0 || h2_input(c, c->head, c->head_len) != 0) {
                    kill_conn(c);
                    return;
                }
                c->head_len = 0;
            } else {
                return; /* a prefix of the preface: wait for more */
            }
            if (c->mode == M_H1_HEAD) {
                size_t kept = c->head_len;
                c->head_len = 0;
                uint8_t first[H2_PREFACE_LEN];
                memcpy(first, c->head, kept);
                h1_head_input(c, first, kept);
            }
        }
    }
    if (c->cl.dead || n == 0)
        return;
    switch (c->mode) {
    case M_H2:
        if (h2_input(c, p, n) != 0)
            kill_conn(c);
        break;
    case M_H1_HEAD:
        h1_head_input(c, p, n);
        break;
    case M_H1_WS:
        h1_ws_input(c, p, n);
        break;
    default:
        break; /* a response on its way, or lingering: input is not read */
    }
}

/* The next time anything of c is due. */
static uint64_t conn_deadline(struct conn *c)
{
    uint64_t next = WS_DEADLINE_NONE;
    if (c->mode == M_LINGER)
        return c->linger_until;
    if (c->mode == M_DETECT || c->mode == M_H1_HEAD)
        next = c->started + H2_HANDSHAKE_MS;
    if (c->mode == M_H1_WS)
        next = ws_conn_next_deadline(c->ws);
    if (c->mode == M_H2) {
        if (c->nstreams == 0 && g.s->opt.idle_timeout)
            next = c->idle_since + g.s->opt.idle_timeout;
        for (struct stream *st = c->streams; st; st = st->next) {
            uint64_t d = st->ws ? ws_conn_next_deadline(st->ws) : WS_DEADLINE_NONE;
            if (st->eof_sent && st->eof_sent_at + H2_STREAM_LINGER_MS < d)
                d = st->eof_sent_at + H2_STREAM_LINGER_MS;
            if (d < next)
                next = d;
        }
    }
    return next;
}

/* Write what waits, then watch what the connection needs and arm its timer. */
static void flush(struct conn *c)
{
    int blocked = 0;
    if (c->cl.dead || c->mode == M_LINGER)
        return;
    if (c->cl.tls && ex_tls_flush(c->cl.tls) < 0) {
        kill_conn(c);
        return;
    }
    if (c->mode == M_H2) {
        /* Draining: GOAWAY once the WebSockets are closed, not before -- a client may take
         * GOAWAY as the end (some stop reading frames then), and the close frames come first. */
        if (g.draining && c->nstreams == 0 && !c->goaway) {
            c->goaway = 1;
            nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE,
                                  nghttp2_session_get_last_proc_stream_id(c->ng),
                                  NGHTTP2_NO_ERROR, NULL, 0);
        }
        for (;;) {
            if (c->outp_len == 0) {
                ssize_t n = nghttp2_session_mem_send(c->ng, &c->outp);
                if (n < 0) {
                    kill_conn(c);
                    return;
                }
                if (n == 0)
                    break;
                c->outp_len = (size_t)n;
            }
            ssize_t w = sock_write(c, c->outp, c->outp_len);
            if (w > 0) {
                c->outp += w;
                c->outp_len -= (size_t)w;
                continue;
            }
            if (w < 0 && would_block()) {
                blocked = 1;
                break;
            }
            kill_conn(c);
            return;
        }
        if (!blocked && !nghttp2_session_want_read(c->ng) && !nghttp2_session_want_write(c->ng)) {
            start_linger(c); /* GOAWAY exchanged and every stream closed */
            return;
        }
    } else if (c->mode == M_H1_WS) {
        ws_iovec iov[16];
        int k;
        while ((k = ws_conn_output(c->ws, iov, 16)) > 0) {
            ssize_t w = c->cl.tls ? ex_tls_writev(c->cl.tls, iov, k)
                                  : writev(c->cl.fd, (const struct iovec *)(const void *)iov, k);
            if (w > 0) {
                ws_conn_output_ack(c->ws, (size_t)w);
                continue;
            }
            if (w < 0 && would_block()) {
                blocked = 1;
                break;
            }
            kill_conn(c);
            return;
        }
        if (ws_conn_wants_shutdown(c->ws)) {
            start_linger(c);
            return;
        }
    } else if (c->mode == M_H1_RESP) {
        while (c->resp_off < c->resp_len) {
            ssize_t w = sock_write(c, c->resp + c->resp_off, c->resp_len - c->resp_off);
            if (w > 0) {
                c->resp_off += (size_t)w;
                continue;
            }
            if (w < 0 && would_block()) {
                blocked = 1;
                break;
            }
            kill_conn(c);
            return;
        }
        if (!blocked) {
            start_linger(c);
            return;
        }
    }
    unsigned want = 0;
    int tls_waits = c->cl.tls && ex_tls_pending(c->cl.tls) > 0;
    int paused = c->mode == M_H1_WS && ws_conn_buffered_amount(c->ws) > H2_PAUSE_ABOVE;
    if (!blocked && !tls_waits && !paused && !c->cl.peer_eof && c->mode != M_H1_RESP)
        want |= EX_WANT_READ;
    if (blocked || tls_waits)
        want |= EX_WANT_WRITE;
    set_watch(c, want);
    ex_timer_set(g.s, &c->cl, conn_deadline(c));
}

static void linger_read(struct conn *c)
{
    for (;;) {
        ssize_t n = read(c->cl.fd, g.buf, sizeof g.buf);
        if (n > 0) {
            c->linger_bytes += (size_t)n;
            if (c->linger_bytes <= EX_LINGER_BYTES)
                continue;
        } else if (n < 0 && errno == EINTR) {
            continue;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        kill_conn(c);
        return;
    }
}

static void on_readable(struct conn *c)
{
    if (c->mode == M_LINGER) {
        linger_read(c);
        return;
    }
    ssize_t n = sock_read(c, g.buf, sizeof g.buf);
    if (n > 0) {
        input(c, g.buf, (size_t)n);
    } else if (n == 0 || !would_block()) {
        c->cl.peer_eof = 1;
        if (c->mode == M_H1_WS) {
            ws_conn_feed_eof(c->ws);
            h1_ws_events(c);
        } else if (c->mode != M_H1_RESP) {
            kill_conn(c); /* h2: a transport gone takes every stream with it */
            return;
        }
    }
    flush(c);
}

/* The timer of c is due: its WebSockets' timers, the streams that waited too long for the
 * peer's END_STREAM, an idle h2 connection, a handshake that did not come, a linger's end. */
static void on_timer(struct conn *c, uint64_t now)
{
    switch (c->mode) {
    case M_LINGER:
    case M_DETECT:
    case M_H1_HEAD:
        kill_conn(c);
        return;
    case M_H1_WS:
        ws_conn_tick(c->ws, now);
        h1_ws_events(c);
        break;
    case M_H2:
        if (c->nstreams == 0 && g.s->opt.idle_timeout &&
            now >= c->idle_since + g.s->opt.idle_timeout) {
            nghttp2_submit_goaway(c->ng, NGHTTP2_FLAG_NONE,
                                  nghttp2_session_get_last_proc_stream_id(c->ng),
                                  NGHTTP2_NO_ERROR, NULL, 0);
            break;
        }
        for (struct stream *st = c->streams; st; st = st->next) {
            if (st->ws && !st->eof_sent) {
                ws_conn_tick(st->ws, now);
                stream_pump(c, st);
            }
            if (st->eof_sent && !st->peer_eof && now >= st->eof_sent_at + H2_STREAM_LINGER_MS) {
                st->eof_sent_at = UINT64_MAX - H2_STREAM_LINGER_MS; /* once */
                nghttp2_submit_rst_stream(c->ng, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_NO_ERROR);
            }
        }
        break;
    default:
        break;
    }
    flush(c);
    /* A deadline that is still due (work left) waits a millisecond: the heap must move on. */
    if (!c->cl.dead && c->cl.timer_slot && c->cl.deadline <= now)
        ex_timer_set(g.s, &c->cl, now + 1);
}

/* accept.c's hook: a new TCP connection. */
static struct ex_client *new_conn(struct ex_server *s, int fd)
{
    int one = 1;
    struct conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->cl.fd = fd;
    c->cl.deadline = WS_DEADLINE_NONE;
    if (s->tls && !(c->cl.tls = ex_tls_new(s->tls, fd, NULL))) {
        free(c);
        return NULL;
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (s->opt.sndbuf > 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &s->opt.sndbuf, sizeof s->opt.sndbuf);
    c->id = ++g.next_id;
    c->mode = M_DETECT;
    c->started = ex_now_ms();
    c->next = g.all;
    if (g.all)
        g.all->prev = c;
    g.all = c;
    s->count++;
    s->stat_accepted++;
    set_watch(c, EX_WANT_READ);
    ex_timer_set(s, &c->cl, c->started + H2_HANDSHAKE_MS);
    return &c->cl;
}

/* SIGINT/SIGTERM: every WebSocket gets close 1001, every h2 connection GOAWAY once its
 * streams are gone (new extended CONNECTs meanwhile: 503); the loop ends when all connections
 * are gone or 2 s later. */
static void start_drain(uint64_t now)
{
    g.draining = 1;
    g.drain_deadline = now + 2000;
    ex_listen_close(g.s);
    for (struct conn *c = g.all, *next; c; c = next) {
        next = c->next;
        if (c->mode == M_H2) {
            for (struct stream *st = c->streams; st; st = st->next)
                if (st->ws && ws_conn_state(st->ws) == WS_STATE_OPEN) {
                    ws_conn_close(st->ws, WS_CLOSE_GOING_AWAY, "going away", 10);
                    stream_pump(c, st);
                }
            flush(c); /* GOAWAY follows once its last stream is gone (flush) */
        } else if (c->mode == M_H1_WS && ws_conn_state(c->ws) == WS_STATE_OPEN) {
            ws_conn_close(c->ws, WS_CLOSE_GOING_AWAY, "going away", 10);
            flush(c);
        } else if (c->mode != M_H1_RESP && c->mode != M_LINGER) {
            kill_conn(c);
        }
    }
}

static void bury(void)
{
    while (g.dead) {
        struct conn *c = g.dead;
        g.dead = c->next_dead;
        free(c);
    }
}

/* Connections with work left get their turn: those marked before this started, once. */
static void run_ready(void)
{
    struct conn *list = g.ready;
    g.ready = NULL;
    while (list) {
        struct conn *c = list;
        list = c->next_ready;
        c->ready = 0;
        if (c->cl.dead)
            continue;
        if (c->mode == M_H2)
            pump_streams(c);
        flush(c);
    }
}

static int load_page(const char *file)
{
    FILE *f = fopen(file, "rb");
    static char *buf;
    if (!f) {
        perror(file);
        return -1;
    }
    buf = malloc(H2_PAGE_MAX);
    size_t n = buf ? fread(buf, 1, H2_PAGE_MAX, f) : 0;
    int more = buf && fgetc(f) != EOF;
    fclose(f);
    if (!buf || more) {
        fprintf(stderr, "%s: %s\n", file, buf ? "larger than 1 MiB" : "out of memory");
        return -1;
    }
    g.page = buf;
    g.page_len = n;
    return 0;
}

int main(int argc, char **argv)
{
    static const char *const alpn[] = {"h2", "http/1.1"};
    struct ex_options o;
    struct ex_loop_ops ops = {watch, 1};
    struct epoll_event evs[256];
    char **args = calloc((size_t)argc + 1, sizeof *args);
    const char *page = NULL;
    int n = 0;

    /* --page FILE is this server's; the rest are the shared flags. */
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !strcmp(argv[i], "--page") && i + 1 < argc) {
            page = argv[++i];
            continue;
        }
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            printf("h2-server: WebSockets over HTTP/2 (RFC 8441) and HTTP/1.1 on one port\n"
                   "  --page FILE              serve FILE at / (a built-in page otherwise)\n"
                   "  with --tls-cert: ALPN h2 or http/1.1; without: h2c (prior knowledge) or "
                   "HTTP/1.1\n");
        if (args)
            args[n++] = argv[i];
    }
    if (!args)
        return 1;
    ex_parse_args(n, args, &o, 0);
    g.page = default_page;
    g.page_len = sizeof default_page - 1;
    if (page && load_page(page) != 0)
        return 1;
    ex_raise_nofile();
    ex_install_signals();
    g.s = calloc(1, sizeof *g.s);
    g.ep = epoll_create1(EPOLL_CLOEXEC);
    nghttp2_session_callbacks_new(&g.cbs);
    if (!g.s || g.ep < 0 || !g.cbs)
        return 1;
    nghttp2_session_callbacks_set_on_begin_headers_callback(g.cbs, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(g.cbs, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(g.cbs, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(g.cbs, on_data_chunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(g.cbs, on_stream_close);
    if (ex_server_init(g.s, &o, ops, NULL) != 0)
        return 1;
    g.s->new_client = new_conn;
    if (g.s->tls && ex_tls_ctx_set_alpn(g.s->tls, alpn, 2) != 0) {
        fprintf(stderr, "h2-server: cannot set ALPN\n");
        return 1;
    }
    for (;;) {
        uint64_t now = ex_now_ms();
        bury();
        if (ex_stop && !g.draining)
            start_drain(now);
        if (g.draining && (!g.all || now >= g.drain_deadline))
            break;
        struct ex_client *first;
        while ((first = ex_timer_first(g.s)) != NULL && first->deadline <= now)
            on_timer((struct conn *)(void *)first, now);
        run_ready();
        uint64_t next = UINT64_MAX, resume = ex_accept_service(g.s, now);
        if (resume)
            next = resume;
        if ((first = ex_timer_first(g.s)) != NULL && first->deadline < next)
            next = first->deadline;
        if (g.draining && next > now + 100)
            next = now + 100;
        int timeout = g.ready ? 0 : next == UINT64_MAX ? -1
                              : next <= now ? 0 : (int)(next - now > 60000 ? 60000 : next - now);
        int k = epoll_wait(g.ep, evs, 256, timeout);
        for (int i = 0; i < k; i++) {
            struct ex_client *cl = evs[i].data.ptr;
            if (cl->dead)
                continue;
            if (cl->listener) {
                ex_on_accept(g.s);
                continue;
            }
            struct conn *c = (struct conn *)(void *)cl;
            if (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(c);
            else if (evs[i].events & EPOLLOUT)
                flush(c);
        }
    }
    while (g.all)
        kill_conn(g.all);
    bury();
    ex_server_free(g.s);
    free(g.s);
    nghttp2_session_callbacks_del(g.cbs);
    close(g.ep);
    free(args);
    if (g.page != default_page)
        free((void *)(uintptr_t)g.page);
    return 0;
}
