/*
 * The conformance runner: the scripted peer (sockets, raw frames, event recording), the
 * judge, and the two directions -- the tester as a client of echo-epoll / echo-poll (and
 * echo-uv / echo-uring where built; skipped, saying so, where not), and the
 * tester as a server for `wsc --echo`. One report line per case, a summary per group, and
 * cmocka-style totals so tests/run.sh counts the cases.
 *
 *   test_conformance [--direction server|client|both] [--servers echo-epoll,echo-poll,...]
 *                    [--cases PREFIX[,PREFIX...]] [--quick] [--verbose]
 *
 * EX_DIR names the folder with the built examples (default build/examples). Every wait is
 * bounded; child processes die with the runner (PR_SET_PDEATHSIG) and are killed at the end.
 */
#define _GNU_SOURCE
#include "conformance.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* Bound for one write or handshake step, and for the closing handshake after a case. */
#define IO_TIMEOUT_MS 30000u
#define CLOSE_WAIT_MS 2000u
/* Bound for a child to connect and finish its handshake (generous: sanitizer builds on a
 * loaded machine start slowly). */
#define SETUP_TIMEOUT_MS 15000u

static int verbose;

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "test_conformance: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    exit(2);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        die("out of memory (%zu bytes)", n);
    return q;
}

/* ---- independent UTF-8 check (RFC 3629), the oracle for what the peer sends us ---- */

int conf_utf8_ok(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = s[i];
        size_t k;
        uint32_t cp;
        if (b < 0x80) {
            i++;
            continue;
        } else if (b >= 0xc2 && b <= 0xdf) {
            k = 1, cp = b & 0x1fu;
        } else if (b >= 0xe0 && b <= 0xef) {
            k = 2, cp = b & 0x0fu;
        } else if (b >= 0xf0 && b <= 0xf4) {
            k = 3, cp = b & 0x07u;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3fu);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10ffff ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        i += k + 1;
    }
    return 1;
}

/* ---- the peer ---- */

struct peer {
    int fd;
    int is_client; /* the tester's role: a client masks its frames */
    ws_checker *chk; /* judges what the peer sends */
    uint64_t rng;

    /* output not yet written */
    uint8_t *obuf;
    size_t olen, ocap;
    uint8_t cur_mask[4]; /* peer_frame_begin / _data */
    size_t cur_off;
    int write_dead;

    /* input */
    uint8_t rbuf[64 * 1024];
    size_t rpend; /* bytes after the handshake, waiting in rbuf */
    uint8_t *msg;
    size_t msg_len, msg_cap;
    uint8_t msg_op;
    peer_evlist rx;

    /* the end of the connection */
    int close_sent, close_received, closed_by_me, eof, dropped_by_me, proto_err;
    int remote_code; /* -1: none in the peer's close frame */
    char err[160];

    /* permessage-deflate, when the case negotiated it */
    tpmd *pmd;
    int msg_compressed;
    unsigned rx_compressed, rx_messages; /* for --verbose: did the peer compress? */

    peer_expect exp;
    void **arena;
    size_t narena, carena;
};

static void evlist_push(peer_evlist *l, peer_ev ev)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = ev;
}

uint8_t *peer_alloc(peer *p, size_t n)
{
    if (p->narena == p->carena) {
        p->carena = p->carena ? p->carena * 2 : 16;
        p->arena = xrealloc(p->arena, p->carena * sizeof *p->arena);
    }
    uint8_t *b = xrealloc(NULL, n);
    p->arena[p->narena++] = b;
    return b;
}

uint8_t *peer_fill(peer *p, const char *pattern, size_t n)
{
    uint8_t *b = peer_alloc(p, n);
    size_t k = strlen(pattern);
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)pattern[i % k];
    return b;
}

peer_expect *peer_exp(peer *p)
{
    return &p->exp;
}

static void protocol_error(peer *p, const char *fmt, ...)
{
    va_list ap;
    if (p->proto_err)
        return;
    p->proto_err = 1;
    va_start(ap, fmt);
    vsnprintf(p->err, sizeof p->err, fmt, ap);
    va_end(ap);
}

static int is_open(const peer *p)
{
    return !p->close_received && !p->close_sent && !p->eof && !p->proto_err &&
           !p->dropped_by_me;
}

static void mask_key(peer *p, uint8_t key[4])
{
    /* xorshift64*: masks only need to vary here, not to be secret. */
    p->rng ^= p->rng >> 12;
    p->rng ^= p->rng << 25;
    p->rng ^= p->rng >> 27;
    uint64_t v = p->rng * 0x2545F4914F6CDD1Dull;
    memcpy(key, &v, 4);
}

static uint8_t *out_reserve(peer *p, size_t n)
{
    if (p->ocap - p->olen < n) {
        size_t cap = p->ocap ? p->ocap : 4096;
        while (cap - p->olen < n)
            cap *= 2;
        p->obuf = xrealloc(p->obuf, cap);
        p->ocap = cap;
    }
    return p->obuf + p->olen;
}

static void drop(peer *p)
{
    if (p->fd >= 0) {
        close(p->fd);
        p->fd = -1;
    }
}

/* ---- receiving ----
 *
 * What the peer sends is judged by libws's public checker (ws_checker): the rules of RFC 6455
 * and RFC 7692's RSV1, one implementation for the library, this suite and the testers who
 * build on it. Any violation is a protocol error of the peer here (the servers under test are
 * strict). Compressed messages are inflated by this suite's own peer (pmd.c) and their text
 * checked after. */

static void on_close_frame(peer *p, const ws_check_event *ev)
{
    if (ev->close_code)
        p->remote_code = (int)ev->close_code;
    p->close_received = 1;
    if (!p->close_sent) {
        /* Echo the code, as an endpoint answering a close does. */
        ws_frame_header h;
        uint8_t code[2] = {(uint8_t)(ev->close_code >> 8), (uint8_t)ev->close_code};
        memset(&h, 0, sizeof h);
        h.fin = 1;
        h.opcode = WS_OP_CLOSE;
        h.masked = (uint8_t)p->is_client;
        size_t plen = ev->close_code ? 2 : 0;
        if (h.masked)
            mask_key(p, h.mask);
        uint8_t *o = out_reserve(p, WS_FRAME_MAX_HEADER + 2);
        int hl = ws_frame_encode(o, WS_FRAME_MAX_HEADER + 2, &h, sizeof h, code, plen);
        if (hl > 0)
            p->olen += (size_t)hl;
        p->close_sent = 1;
    }
}

static void on_control(peer *p, const ws_check_event *ev)
{
    peer_ev e;
    if (ev->opcode == WS_OP_CLOSE) {
        on_close_frame(p, ev);
        return;
    }
    memset(&e, 0, sizeof e);
    e.kind = ev->opcode == WS_OP_PING ? EV_PING : EV_PONG;
    e.data = xrealloc(NULL, ev->len);
    if (ev->len)
        memcpy(e.data, ev->data, ev->len);
    e.len = ev->len;
    evlist_push(&p->rx, e);
}

static void on_message_end(peer *p)
{
    if (p->msg_compressed) {
        uint8_t *plain;
        size_t plain_len;
        char err[128];
        p->msg_compressed = 0;
        if (tpmd_decompress(p->pmd, p->msg, p->msg_len, &plain, &plain_len, (size_t)1 << 26,
                            err, sizeof err) != 0) {
            protocol_error(p, "%s", err);
            return;
        }
        free(p->msg);
        p->msg = plain;
        p->msg_len = p->msg_cap = plain_len;
        p->rx_compressed++;
        if (p->msg_op == WS_OP_TEXT && !conf_utf8_ok(p->msg, p->msg_len)) {
            protocol_error(p, "compressed text message is not valid UTF-8");
            return;
        }
    }
    p->rx_messages++;
    peer_ev ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = EV_MSG;
    ev.opcode = p->msg_op;
    ev.data = p->msg ? p->msg : xrealloc(NULL, 1);
    ev.len = p->msg_len;
    evlist_push(&p->rx, ev);
    p->msg = NULL;
    p->msg_len = p->msg_cap = 0;
    p->msg_op = 0;
}

static void on_data(peer *p, const ws_check_event *ev)
{
    p->msg_op = ev->opcode;
    p->msg_compressed = ev->compressed;
    if (ev->len) {
        if (p->msg_cap - p->msg_len < ev->len) {
            size_t cap = p->msg_cap ? p->msg_cap : 256;
            while (cap - p->msg_len < ev->len)
                cap *= 2;
            p->msg = xrealloc(p->msg, cap);
            p->msg_cap = cap;
        }
        memcpy(p->msg + p->msg_len, ev->data, ev->len);
        p->msg_len += ev->len;
    }
    if (ev->fin)
        on_message_end(p);
}

static void process(peer *p, uint8_t *in, size_t n)
{
    while (!p->proto_err) {
        size_t used = 0;
        ws_check_event ev;
        if (ws_checker_feed(p->chk, in, n, &used, &ev, sizeof ev) != WS_OK)
            die("checker refused its arguments");
        in += used;
        n -= used;
        switch (ev.type) {
        case WS_CHECK_NONE:
            return;
        case WS_CHECK_VIOLATION:
            protocol_error(p, "%s (at byte %llu; the RFC's answer: close %u)",
                           ws_strerror(ev.error), (unsigned long long)ev.offset,
                           (unsigned)ev.close_code);
            return;
        case WS_CHECK_CONTROL:
            on_control(p, &ev);
            break;
        default:
            on_data(p, &ev);
            break;
        }
    }
}

/* Read what is there (the socket is non-blocking). Returns 1 if progress was made. */
static int read_some(peer *p)
{
    if (p->fd < 0 || p->eof)
        return 0;
    if (p->rpend) {
        size_t n = p->rpend;
        p->rpend = 0;
        process(p, p->rbuf, n);
        return 1;
    }
    ssize_t n = read(p->fd, p->rbuf, sizeof p->rbuf);
    if (n > 0) {
        if (!p->proto_err)
            process(p, p->rbuf, (size_t)n);
        return 1;
    }
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    p->eof = 1; /* end of file or a reset: either way the peer is gone */
    return 1;
}

/* Write the queued output, reading meanwhile (a peer that echoes while we send must not
 * deadlock us). Then wait until the deadline if wait_all, else return when written. */
static void pump(peer *p, uint64_t deadline, int wait_all)
{
    for (;;) {
        if (p->fd < 0)
            break;
        if (p->olen && !p->write_dead) {
            ssize_t w = write(p->fd, p->obuf, p->olen);
            if (w > 0) {
                memmove(p->obuf, p->obuf + w, p->olen - (size_t)w);
                p->olen -= (size_t)w;
                continue;
            }
            if (w < 0 && errno != EAGAIN && errno != EINTR) {
                p->write_dead = 1; /* the peer closed or reset: the rest cannot go */
                p->olen = 0;
            }
        } else if (p->write_dead) {
            p->olen = 0;
        }
        if (!p->olen && !wait_all)
            break;
        uint64_t now = now_ms();
        if (now >= deadline)
            break;
        struct pollfd pf = {p->fd, (short)(p->eof ? 0 : POLLIN), 0};
        if (p->olen && !p->write_dead)
            pf.events |= POLLOUT;
        if (!pf.events)
            break;
        int r = poll(&pf, 1, (int)(deadline - now));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        if (pf.revents & (POLLIN | POLLHUP | POLLERR))
            read_some(p);
        if (wait_all == 2)
            break; /* one round: the caller checks its condition */
    }
}

static void flush_out(peer *p)
{
    pump(p, now_ms() + IO_TIMEOUT_MS, 0);
    if (p->olen)
        protocol_error(p, "could not write %zu bytes within %u ms", p->olen, IO_TIMEOUT_MS);
}

/* ---- sending ---- */

/* Write the whole of buf in pieces of chop bytes, each its own write. */
static void send_chopped(peer *p, const uint8_t *buf, size_t n, size_t chop)
{
    size_t pieces = (n + chop - 1) / chop;
    flush_out(p);
    for (size_t off = 0; off < n && !p->write_dead; off += chop) {
        size_t k = n - off < chop ? n - off : chop;
        memcpy(out_reserve(p, k), buf + off, k);
        p->olen += k;
        flush_out(p);
        /* Short messages get a pause so each piece arrives on its own; long ones rely on
         * separate writes with TCP_NODELAY (a pause each would take minutes). */
        if (pieces <= 300)
            usleep(500);
    }
}

static int encode_into_out(peer *p, int fin, unsigned rsv, unsigned opcode, const void *data,
                           size_t len, unsigned len_bytes)
{
    ws_frame_header h;
    memset(&h, 0, sizeof h);
    h.fin = (uint8_t)(fin != 0);
    h.rsv = (uint8_t)(rsv & 7u); /* the three RSV bits, RSV1 the high one */
    h.opcode = (uint8_t)opcode;
    h.masked = (uint8_t)p->is_client;
    h.payload_len = len;
    if (h.masked)
        mask_key(p, h.mask);
    uint8_t *o = out_reserve(p, WS_FRAME_MAX_HEADER + len);
    int hl = ws_frame_write_header_raw(o, WS_FRAME_MAX_HEADER, &h, sizeof h, len_bytes);
    if (hl < 0)
        die("raw encoder refused a header: %s", ws_strerror(hl));
    if (h.masked && len)
        ws_mask_copy(o + hl, data, len, h.mask, 0);
    else if (len)
        memcpy(o + hl, data, len);
    return hl;
}

int peer_frame(peer *p, int fin, unsigned rsv, unsigned opcode, const void *data, size_t len,
               size_t chop, unsigned flags)
{
    if (p->close_received || p->eof || p->fd < 0)
        return -1;
    if (chop || (flags & SEND_SYNC)) {
        flush_out(p);
        size_t start = p->olen;
        int hl = encode_into_out(p, fin, rsv, opcode, data, len, 0);
        size_t total = (size_t)hl + len;
        if (!chop) {
            p->olen += total;
            flush_out(p);
            usleep(1000);
            return 0;
        }
        /* Move the frame out of the queue and send it piecewise. */
        uint8_t *copy = xrealloc(NULL, total);
        memcpy(copy, p->obuf + start, total);
        send_chopped(p, copy, total, chop);
        free(copy);
        return 0;
    }
    int hl = encode_into_out(p, fin, rsv, opcode, data, len, 0);
    p->olen += (size_t)hl + len;
    if (p->olen > (1u << 20))
        flush_out(p); /* keep the queue (and our memory) bounded on long scripts */
    return 0;
}

int peer_frame_begin(peer *p, int fin, unsigned opcode, uint64_t len)
{
    if (p->close_received || p->eof || p->fd < 0)
        return -1;
    ws_frame_header h;
    memset(&h, 0, sizeof h);
    h.fin = (uint8_t)(fin != 0);
    h.opcode = (uint8_t)opcode;
    h.masked = (uint8_t)p->is_client;
    h.payload_len = len;
    if (h.masked)
        mask_key(p, h.mask);
    memcpy(p->cur_mask, h.mask, 4);
    p->cur_off = 0;
    int hl = ws_frame_write_header_raw(out_reserve(p, WS_FRAME_MAX_HEADER), WS_FRAME_MAX_HEADER, &h,
                                       sizeof h, 0);
    if (hl < 0)
        die("raw encoder refused a header: %s", ws_strerror(hl));
    p->olen += (size_t)hl;
    return 0;
}

int peer_frame_data(peer *p, const void *data, size_t len)
{
    if (p->close_received || p->eof || p->fd < 0)
        return -1;
    uint8_t *o = out_reserve(p, len);
    if (p->is_client && len)
        p->cur_off = ws_mask_copy(o, data, len, p->cur_mask, p->cur_off);
    else if (len)
        memcpy(o, data, len);
    p->olen += len;
    return 0;
}

int peer_message(peer *p, unsigned opcode, const void *data, size_t len, size_t frag)
{
    const uint8_t *d = data;
    if (!frag || len <= frag)
        return peer_frame(p, 1, 0, opcode, data, len, 0, 0);
    for (size_t off = 0; off < len; off += frag) {
        size_t k = len - off < frag ? len - off : frag;
        if (peer_frame(p, off + k == len, 0, off ? WS_OP_CONTINUATION : opcode, d + off, k,
                       0, 0) < 0)
            return -1;
    }
    return 0;
}

int peer_deflate_active(const peer *p)
{
    return p->pmd != NULL;
}

int peer_message_deflate(peer *p, unsigned opcode, const void *data, size_t len, size_t frag)
{
    const uint8_t *z;
    size_t zn;
    if (!p->pmd)
        return -1;
    if (tpmd_compress(p->pmd, data, len, &z, &zn) != 0)
        die("the tester's compressor failed");
    if (!frag || zn <= frag)
        return peer_frame(p, 1, 4, opcode, z, zn, 0, 0);
    for (size_t off = 0; off < zn; off += frag) {
        size_t k = zn - off < frag ? zn - off : frag;
        if (peer_frame(p, off + k == zn, off ? 0 : 4, off ? WS_OP_CONTINUATION : opcode,
                       z + off, k, 0, 0) < 0)
            return -1;
    }
    return 0;
}

int peer_close_raw(peer *p, const void *payload, size_t len, size_t len_bytes)
{
    if (p->eof || p->fd < 0)
        return -1;
    int hl = encode_into_out(p, 1, 0, WS_OP_CLOSE, payload, len, (unsigned)len_bytes);
    p->olen += (size_t)hl + len;
    if (!p->close_sent && !p->close_received)
        p->closed_by_me = 1;
    p->close_sent = 1;
    return 0;
}

int peer_close(peer *p, uint16_t code, const char *reason, size_t rlen)
{
    uint8_t pl[WS_FRAME_MAX_CONTROL + 64];
    size_t n = 0;
    if (code) {
        pl[0] = (uint8_t)(code >> 8);
        pl[1] = (uint8_t)code;
        if (rlen > sizeof pl - 2)
            rlen = sizeof pl - 2;
        if (rlen)
            memcpy(pl + 2, reason, rlen);
        n = 2 + rlen;
    }
    return peer_close_raw(p, pl, n, 0);
}

int peer_wait(peer *p, unsigned ms, char label)
{
    flush_out(p);
    pump(p, now_ms() + ms, 1);
    if (!is_open(p))
        return 0;
    if (label) {
        peer_ev ev;
        memset(&ev, 0, sizeof ev);
        ev.kind = EV_TIMEOUT;
        ev.label = label;
        evlist_push(&p->rx, ev);
    }
    return 1;
}

int peer_wait_events(peer *p, size_t n, unsigned ms)
{
    uint64_t deadline = now_ms() + ms;
    flush_out(p);
    while (p->rx.n < n && !p->eof && !p->proto_err && p->fd >= 0 && now_ms() < deadline)
        pump(p, deadline, 2);
    return p->rx.n >= n;
}

/* ---- expectations ---- */

static void expect_push(peer *p, int nonstrict, peer_ev ev)
{
    if (nonstrict)
        p->exp.has_nonstrict = 1;
    evlist_push(nonstrict ? &p->exp.nonstrict : &p->exp.ok, ev);
}

void expect_msg(peer *p, int nonstrict, unsigned opcode, const void *data, size_t len)
{
    peer_ev ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = EV_MSG;
    ev.opcode = (uint8_t)opcode;
    ev.data = (uint8_t *)(uintptr_t)data;
    ev.len = len;
    expect_push(p, nonstrict, ev);
}

void expect_pong(peer *p, int nonstrict, const void *data, size_t len)
{
    peer_ev ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = EV_PONG;
    ev.data = (uint8_t *)(uintptr_t)data;
    ev.len = len;
    expect_push(p, nonstrict, ev);
}

void expect_timeout(peer *p, int nonstrict, char label)
{
    peer_ev ev;
    memset(&ev, 0, sizeof ev);
    ev.kind = EV_TIMEOUT;
    ev.label = label;
    expect_push(p, nonstrict, ev);
}

void expect_close_by_me(peer *p, unsigned timeout_ms)
{
    p->exp.closed_by_me = 1;
    p->exp.require_clean = 1;
    p->exp.codes[0] = 1000;
    p->exp.ncodes = 1;
    p->exp.timeout_ms = timeout_ms;
}

void expect_fail(peer *p, uint16_t code, unsigned timeout_ms)
{
    p->exp.closed_by_me = 0;
    p->exp.require_clean = 0;
    p->exp.codes[0] = code;
    p->exp.ncodes = 1;
    p->exp.timeout_ms = timeout_ms;
    p->exp.kill_after = 1;
}

/* ---- the judge ---- */

static int same_events(const peer_evlist *a, const peer_evlist *b)
{
    if (a->n != b->n)
        return 0;
    for (size_t i = 0; i < a->n; i++) {
        const peer_ev *x = &a->v[i], *y = &b->v[i];
        if (x->kind != y->kind || x->opcode != y->opcode || x->label != y->label ||
            x->len != y->len || (x->len && memcmp(x->data, y->data, x->len) != 0))
            return 0;
    }
    return 1;
}

static int matches_all(const peer *p)
{
    return same_events(&p->rx, &p->exp.ok) &&
           (!p->exp.has_nonstrict || same_events(&p->rx, &p->exp.nonstrict));
}

/* After the case's actions: Autobahn's finishWhenDone / closeAfter / killAfter. */
static void finish(peer *p)
{
    uint64_t deadline = now_ms() + p->exp.timeout_ms;
    uint64_t close_deadline = 0;

    flush_out(p);
    while (p->fd >= 0) {
        if (p->proto_err) {
            drop(p);
            p->dropped_by_me = 1;
            break;
        }
        if (!p->close_sent && p->exp.closed_by_me && !p->exp.suppress_close && matches_all(p))
            peer_close(p, p->exp.codes[0], NULL, 0);
        if (p->close_sent && p->close_received && !close_deadline)
            close_deadline = now_ms() + CLOSE_WAIT_MS;
        flush_out(p);
        if (p->close_sent && p->close_received && !p->is_client) {
            /* A server drops TCP once the closing handshake is done (RFC 6455 7.1.1). */
            drop(p);
            p->dropped_by_me = 1;
            break;
        }
        if (p->eof)
            break;
        uint64_t now = now_ms();
        if (close_deadline && now >= close_deadline) {
            drop(p); /* the server should have closed TCP by now */
            p->dropped_by_me = 1;
            break;
        }
        if (!close_deadline && now >= deadline) {
            if (!p->exp.kill_after && !p->close_sent) {
                peer_close(p, 1000, NULL, 0);
                deadline = now + CLOSE_WAIT_MS;
                continue;
            }
            drop(p);
            p->dropped_by_me = 1;
            break;
        }
        pump(p, close_deadline ? close_deadline : deadline, 2);
    }
    drop(p);
}

enum { RES_OK, RES_NONSTRICT, RES_INFO, RES_FAILED };
static const char *const result_name[] = {"OK", "NON-STRICT", "INFORMATIONAL", "FAILED"};

static int judge(peer *p, char *why, size_t whylen)
{
    const peer_expect *e = &p->exp;
    int behavior = RES_FAILED;
    int clean = p->close_sent && p->close_received && !p->proto_err &&
                (p->is_client ? p->eof : 1);

    why[0] = '\0';
    if (same_events(&p->rx, &e->ok))
        behavior = RES_OK;
    else if (e->has_nonstrict && same_events(&p->rx, &e->nonstrict))
        behavior = RES_NONSTRICT;
    if (p->proto_err) {
        snprintf(why, whylen, "protocol violation by the peer: %s", p->err);
        return RES_FAILED;
    }
    if (behavior == RES_FAILED)
        snprintf(why, whylen, "events differ from every expected list (%zu received)",
                 p->rx.n);
    const char *close_fail = NULL;
    char codebuf[64];
    if (e->closed_by_me != p->closed_by_me) {
        close_fail = "the connection was failed by the wrong endpoint";
    } else if (!e->closed_by_me && !p->close_received && !p->eof) {
        close_fail = "the peer never failed the connection";
    } else if (e->require_clean && !clean) {
        close_fail = "UNCLEAN: the closing handshake did not complete";
    } else if (p->remote_code >= 0) {
        int found = 0;
        for (int i = 0; i < e->ncodes; i++)
            found |= e->codes[i] == p->remote_code;
        if (!found) {
            snprintf(codebuf, sizeof codebuf, "WRONG CODE: got %d, expected %u%s",
                     p->remote_code, e->codes[0], e->ncodes > 1 ? " (or another)" : "");
            close_fail = codebuf;
        }
    }
    if (!close_fail && p->is_client && p->dropped_by_me && !p->proto_err)
        close_fail = "FAILED BY CLIENT: the server did not close TCP after the handshake";
    if (close_fail && !e->informational) {
        if (why[0])
            snprintf(why + strlen(why), whylen - strlen(why), "; %s", close_fail);
        else
            snprintf(why, whylen, "%s", close_fail);
        return RES_FAILED;
    }
    if (e->informational) {
        snprintf(why, whylen, "informational: behaviour %s%s%s", result_name[behavior],
                 close_fail ? ", close: " : "", close_fail ? close_fail : "");
        return RES_INFO;
    }
    return behavior;
}

static void peer_reset(peer *p)
{
    for (size_t i = 0; i < p->rx.n; i++)
        free(p->rx.v[i].data);
    free(p->rx.v);
    free(p->exp.ok.v);
    free(p->exp.nonstrict.v);
    for (size_t i = 0; i < p->narena; i++)
        free(p->arena[i]);
    free(p->arena);
    free(p->obuf);
    free(p->msg);
    ws_checker_free(p->chk);
    tpmd_free(p->pmd);
    if (p->fd >= 0)
        close(p->fd);
    memset(p, 0, sizeof *p);
    p->fd = -1;
}

/* ---- transports ---- */

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL, 0);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline)
            return 0;
        struct pollfd pf = {fd, events, 0};
        int r = poll(&pf, 1, (int)(deadline - now));
        if (r < 0 && errno == EINTR)
            continue;
        return r > 0;
    }
}

static int write_all(int fd, const uint8_t *b, size_t n, uint64_t deadline)
{
    while (n) {
        ssize_t w = write(fd, b, n);
        if (w > 0) {
            b += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno != EAGAIN && errno != EINTR)
            return -1;
        if (!wait_fd(fd, POLLOUT, deadline))
            return -1;
    }
    return 0;
}

/* Read into p->rbuf until the handshake completes; the rest stays in rbuf (rpend). */
static int handshake_read(peer *p, ws_handshake *hs, char *err, size_t errlen)
{
    uint64_t deadline = now_ms() + SETUP_TIMEOUT_MS;
    for (;;) {
        if (!wait_fd(p->fd, POLLIN, deadline)) {
            snprintf(err, errlen, "handshake timed out");
            return -1;
        }
        ssize_t n = read(p->fd, p->rbuf, sizeof p->rbuf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "connection closed during the handshake");
            return -1;
        }
        size_t used = 0;
        int r = ws_handshake_feed(hs, p->rbuf, (size_t)n, &used);
        if (r < 0) {
            snprintf(err, errlen, "handshake: %s", ws_strerror(r));
            return -1;
        }
        if (r == WS_HANDSHAKE_COMPLETE) {
            memmove(p->rbuf, p->rbuf + used, (size_t)n - used);
            p->rpend = (size_t)n - used;
            return 0;
        }
    }
}

/* ---- permessage-deflate negotiation (groups 12 and 13), judged with pmd.c's rules ---- */

/* Every Sec-WebSocket-Extensions line of hs, joined by ", ". */
static size_t ext_header(const ws_handshake *hs, char *buf, size_t cap)
{
    const char *v;
    size_t n, len = 0;
    buf[0] = '\0';
    for (size_t i = 0; ws_handshake_header(hs, "Sec-WebSocket-Extensions", i, &v, &n) == WS_OK;
         i++) {
        int k = snprintf(buf + len, cap - len, "%s%.*s", len ? ", " : "", (int)n, v);
        if (k < 0 || (size_t)k >= cap - len)
            break;
        len += (size_t)k;
    }
    return len;
}

static int pmd_start(peer *p, int tx_bits, int tx_nct, int rx_bits, int rx_nct)
{
    p->pmd = tpmd_new(tx_bits, tx_nct, rx_bits, rx_nct);
    if (!p->pmd)
        return -1;
    if (ws_checker_configure(p->chk, WS_CHECK_DEFLATE, 0, 0) != WS_OK)
        return -1;
    if (verbose)
        fprintf(stderr, "pmd: tester sends with window %d%s, receives with window %d%s\n",
                tx_bits, tx_nct ? " (no context takeover)" : "", rx_bits,
                rx_nct ? " (no context takeover)" : "");
    return 0;
}

/* The tester as a client offered `offer`: the server's answer must accept exactly one
 * permessage-deflate offer by the rules of RFC 7692 section 7. A server that declines fails
 * the case (libws claims the extension, so "unimplemented" is not a pass here). */
static int pmd_client_setup(peer *p, const ws_handshake *hs, const char *offer, char *err,
                            size_t errlen)
{
    tp_elem offers[8], ans[8];
    char h[1024], why[128] = "";
    size_t hn = ext_header(hs, h, sizeof h);
    int no = tp_parse(offer, strlen(offer), offers, 8, 0);
    int na = tp_parse(h, hn, ans, 8, 1);
    if (na == 0) {
        snprintf(err, errlen, "the server declined permessage-deflate (offered '%.90s')", offer);
        return -1;
    }
    if (na > 1 || !tp_is_pmd(&ans[0])) {
        snprintf(err, errlen, "the server answered '%.80s' to '%.80s'", h, offer);
        return -1;
    }
    if (ans[0].bad) {
        snprintf(err, errlen, "invalid answer '%.80s': %.90s", h, ans[0].why);
        return -1;
    }
    int i;
    for (i = 0; i < no; i++)
        if (tp_is_pmd(&offers[i]) && !offers[i].bad &&
            tp_answers(&offers[i], &ans[0], why, sizeof why))
            break;
    if (i == no) {
        snprintf(err, errlen, "answer '%.60s' fits no offer in '%.60s': %.60s", h, offer, why);
        return -1;
    }
    const tp_elem *o = &offers[i], *a = &ans[0];
    int tx_bits = a->cmwb ? a->cmwb : 15;
    if (o->cmwb > 1 && o->cmwb < tx_bits)
        tx_bits = o->cmwb; /* what the offer promised */
    if (verbose)
        fprintf(stderr, "pmd: offered '%s', answered '%s'\n", offer, h);
    if (pmd_start(p, tx_bits, a->cnct || o->cnct, a->smwb ? a->smwb : 15, a->snct) != 0) {
        snprintf(err, errlen, "the tester's zlib setup failed");
        return -1;
    }
    return 0;
}

static void put_bits(char *b, size_t cap, const char *name, int bits)
{
    size_t n = strlen(b);
    snprintf(b + n, cap - n, "; %s=%d", name, bits);
}

/* The tester as a server: the client must offer permessage-deflate; the answer takes the
 * parameters of tmpl that the first acceptable offer allows, plus what the offer asks for. */
static int pmd_server_setup(peer *p, const ws_handshake *hs, const char *tmpl, char *answer,
                            size_t anscap, char *err, size_t errlen)
{
    tp_elem offers[8], t;
    char h[1024];
    size_t hn = ext_header(hs, h, sizeof h);
    int no = tp_parse(h, hn, offers, 8, 0), i;
    for (i = 0; i < no; i++)
        if (tp_is_pmd(&offers[i]) && !offers[i].bad)
            break;
    if (i == no) {
        snprintf(err, errlen, "the client offered no valid permessage-deflate ('%.90s')", h);
        return -1;
    }
    const tp_elem *o = &offers[i];
    if (tp_parse(tmpl, strlen(tmpl), &t, 1, 1) != 1 || t.bad)
        die("bad answer template '%s'", tmpl);
    int snct = t.snct || o->snct, cnct = t.cnct;
    int smwb = t.smwb;
    if (o->smwb && (!smwb || smwb > o->smwb))
        smwb = o->smwb;
    int cmwb = o->cmwb ? t.cmwb : 0; /* only when offered (section 7.1.2.2) */
    snprintf(answer, anscap, "permessage-deflate");
    if (snct)
        snprintf(answer + strlen(answer), anscap - strlen(answer), "; server_no_context_takeover");
    if (cnct)
        snprintf(answer + strlen(answer), anscap - strlen(answer), "; client_no_context_takeover");
    if (smwb)
        put_bits(answer, anscap, "server_max_window_bits", smwb);
    if (cmwb)
        put_bits(answer, anscap, "client_max_window_bits", cmwb);
    int rx_bits = cmwb ? cmwb : o->cmwb > 1 ? o->cmwb : 15;
    if (o->cmwb > 1 && o->cmwb < rx_bits)
        rx_bits = o->cmwb;
    if (verbose)
        fprintf(stderr, "pmd: offered '%s', answered '%s'\n", h, answer);
    if (pmd_start(p, smwb ? smwb : 15, snct, rx_bits, cnct || o->cnct) != 0) {
        snprintf(err, errlen, "the tester's zlib setup failed");
        return -1;
    }
    return 0;
}

static void peer_init(peer *p, int fd, int is_client)
{
    int one = 1;
    memset(p, 0, sizeof *p);
    p->fd = fd;
    p->is_client = is_client;
    p->remote_code = -1;
    /* the peer's frames: a server's when we are the client */
    if (ws_checker_new(&p->chk, is_client ? WS_ROLE_SERVER : WS_ROLE_CLIENT, NULL) != WS_OK)
        die("out of memory");
    if (ws_random_os(NULL, &p->rng, sizeof p->rng) != 0 || !p->rng)
        p->rng = 0x9E3779B97F4A7C15ull ^ now_ms();
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    set_nonblock(fd);
}

/* Tester as a client of a server on 127.0.0.1:port. */
static int connect_client(peer *p, int port, const char *offer, char *err, size_t errlen)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s", strerror(errno));
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        snprintf(err, errlen, "connect: %s", strerror(errno));
        close(fd);
        return -1;
    }
    peer_init(p, fd, 1);

    char url[64];
    uint8_t req[1024];
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/", port);
    ws_handshake *hs = NULL;
    if (ws_handshake_new(&hs, WS_ROLE_CLIENT, NULL) != WS_OK)
        die("handshake setup failed");
    int n = ws_handshake_client_request(hs, url, strlen(url), NULL, 0, offer, NULL, req, sizeof req,
                                        NULL);
    if (n < 0)
        die("client request: %s", ws_strerror(n));
    int r = -1;
    if (write_all(fd, req, (size_t)n, now_ms() + 5000) != 0)
        snprintf(err, errlen, "cannot send the upgrade request");
    else
        r = handshake_read(p, hs, err, errlen);
    if (r == 0 && offer)
        r = pmd_client_setup(p, hs, offer, err, errlen);
    ws_handshake_free(hs);
    return r;
}

/* Tester as a server: accept one connection on lfd and answer its upgrade. */
static int accept_server(peer *p, int lfd, const char *answer_tmpl, char *err, size_t errlen)
{
    if (!wait_fd(lfd, POLLIN, now_ms() + SETUP_TIMEOUT_MS)) {
        snprintf(err, errlen, "the client did not connect within %u ms", SETUP_TIMEOUT_MS);
        return -1;
    }
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "accept: %s", strerror(errno));
        return -1;
    }
    peer_init(p, fd, 0);
    ws_handshake *hs = NULL;
    if (ws_handshake_new(&hs, WS_ROLE_SERVER, NULL) != WS_OK)
        die("out of memory");
    int r = handshake_read(p, hs, err, errlen);
    char answer[256];
    if (r == 0 && answer_tmpl)
        r = pmd_server_setup(p, hs, answer_tmpl, answer, sizeof answer, err, errlen);
    if (r == 0) {
        uint8_t resp[1024];
        int n = ws_handshake_accept(hs, NULL, answer_tmpl ? answer : NULL, NULL, resp,
                                    sizeof resp, NULL);
        if (n < 0 || write_all(fd, resp, (size_t)n, now_ms() + 5000) != 0) {
            snprintf(err, errlen, "cannot answer the upgrade");
            r = -1;
        }
    }
    ws_handshake_free(hs);
    return r;
}

/* ---- child processes ---- */

static pid_t spawn(const char *const *argv, int out_fd)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s", strerror(errno));
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive the runner */
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        dup2(out_fd >= 0 ? out_fd : devnull, 1);
        if (!verbose)
            dup2(devnull, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    return pid;
}

/* Wait for pid up to ms, then SIGKILL it. Returns 1 if it had exited by itself. */
static int reap(pid_t pid, unsigned ms)
{
    uint64_t deadline = now_ms() + ms;
    int st;
    do {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return 1;
        usleep(2000);
    } while (now_ms() < deadline);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return 0;
}

static const char *ex_dir(void)
{
    const char *d = getenv("EX_DIR");
    return d && *d ? d : "build/examples";
}

static pid_t start_echo(const char *name, int *port)
{
    char path[512];
    int fds[2];
    snprintf(path, sizeof path, "%s/%s", ex_dir(), name);
    if (access(path, X_OK) != 0)
        die("%s not found (build the examples first, or set EX_DIR)", path);
    /* Deflate is off by default in the examples: groups 12 and 13 need it on. */
    const char *argv[] = {path, "--host", "127.0.0.1", "--port", "0", "--max-message",
                          "16777216", conf_have_zlib() ? "--deflate" : NULL, NULL};
    if (pipe(fds) != 0)
        die("pipe");
    pid_t pid = spawn(argv, fds[1]);
    close(fds[1]);
    char line[128];
    size_t n = 0;
    uint64_t deadline = now_ms() + 5000;
    while (n + 1 < sizeof line && wait_fd(fds[0], POLLIN, deadline)) {
        ssize_t r = read(fds[0], line + n, 1);
        if (r <= 0 || line[n] == '\n')
            break;
        n++;
    }
    line[n] = '\0';
    close(fds[0]);
    if (strncmp(line, "listening on 127.0.0.1:", 23) != 0 || (*port = atoi(line + 23)) <= 0) {
        reap(pid, 0);
        die("%s did not print its port (got '%s')", name, line);
    }
    return pid;
}

/* ---- running cases ---- */

struct tally {
    unsigned n[4];
};

struct run {
    const char *target; /* "echo-epoll", "wsc" */
    int client_dir;     /* tester is the server (libws is the client) */
    int port;           /* echo server port, or our listening port */
    int lfd;
    struct tally groups[16];
    struct tally total;
    unsigned passed, failed;
};

static int group_of(const char *id)
{
    int g = atoi(id);
    return g >= 0 && g < 16 ? g : 0;
}

static void run_case(struct run *r, const conf_case *c)
{
    peer p;
    char err[256] = "", why[512];
    int res;
    uint64_t t0 = now_ms();
    pid_t child = -1;

    memset(&p, 0, sizeof p);
    p.fd = -1;
    if (r->client_dir) {
        char url[128], path[512];
        snprintf(path, sizeof path, "%s/wsc", ex_dir());
        snprintf(url, sizeof url, "ws://127.0.0.1:%d/runCase?case=%s", r->port, c->id);
        /* Group 9 sends up to 16 MiB: above the library's 1 MiB default. */
        const char *argv[] = {path, "--echo", "--max-message", "16777216", url, NULL};
        child = spawn(argv, -1);
        if (accept_server(&p, r->lfd, c->pmd_answer, err, sizeof err) != 0)
            goto setup_failed;
    } else if (connect_client(&p, r->port, c->pmd_offer, err, sizeof err) != 0) {
        goto setup_failed;
    }
    p.exp.timeout_ms = 1000;
    c->run(&p, c);
    finish(&p);
    if (verbose && p.pmd)
        fprintf(stderr, "pmd: %u of %u messages received compressed\n", p.rx_compressed,
                p.rx_messages);
    res = judge(&p, why, sizeof why);
    goto report;

setup_failed:
    res = RES_FAILED;
    snprintf(why, sizeof why, "setup: %s", err);
report:
    if (child > 0)
        reap(child, 3000);
    peer_reset(&p);
    int g = group_of(c->id);
    r->groups[g].n[res]++;
    r->total.n[res]++;
    int pass = res == RES_OK || res == RES_INFO;
    if (pass)
        r->passed++;
    else
        r->failed++;
    printf("%-4s %-10s %-8s %-13s %6llu ms  %s%s%s\n", pass ? "ok" : "FAIL", r->target, c->id,
           result_name[res], (unsigned long long)(now_ms() - t0), c->desc,
           why[0] ? " -- " : "", why);
    fflush(stdout);
}

static const char *const group_names[16] = {
    [1] = "framing",        [2] = "ping/pong",     [3] = "reserved bits",
    [4] = "opcodes",        [5] = "fragmentation", [6] = "UTF-8",
    [7] = "close handling", [9] = "limits",        [10] = "auto-fragmentation",
    [12] = "deflate: sizes", [13] = "deflate: params",
};

static void print_groups(const struct run *r)
{
    for (int g = 0; g < 16; g++) {
        const struct tally *t = &r->groups[g];
        unsigned n = t->n[0] + t->n[1] + t->n[2] + t->n[3];
        if (!n)
            continue;
        printf("summary %-10s group %-2d %-18s %3u cases: %u OK, %u NON-STRICT, "
               "%u INFORMATIONAL, %u FAILED\n",
               r->target, g, group_names[g] ? group_names[g] : "", n, t->n[RES_OK],
               t->n[RES_NONSTRICT], t->n[RES_INFO], t->n[RES_FAILED]);
    }
}

static int selected(const conf_case *c, char **prefixes, int np)
{
    if (!np)
        return 1;
    for (int i = 0; i < np; i++) {
        size_t k = strlen(prefixes[i]);
        if (!strncmp(c->id, prefixes[i], k) && (c->id[k] == '\0' || c->id[k] == '.'))
            return 1;
    }
    return 0;
}

static void run_all(struct run *r, const conf_case *cases, size_t n, char **pre, int np)
{
    for (size_t i = 0; i < n; i++)
        if (selected(&cases[i], pre, np))
            run_case(r, &cases[i]);
}

static int listen_any(int *port)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 16) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0)
        die("listen: %s", strerror(errno));
    *port = ntohs(a.sin_port);
    return fd;
}

static void usage(void)
{
    fprintf(stderr, "usage: test_conformance [--direction server|client|both] "
                    "[--servers echo-epoll,echo-poll]\n"
                    "                        [--cases PREFIX[,PREFIX...]] [--quick] "
                    "[--verbose]\n");
    exit(2);
}

/* Split a comma list in place. */
static int split(char *s, char **out, int max)
{
    int n = 0;
    for (char *t = strtok(s, ","); t && n < max; t = strtok(NULL, ","))
        out[n++] = t;
    return n;
}

int main(int argc, char **argv)
{
    const char *direction = "both";
    char servers_buf[256] = "echo-epoll,echo-poll,echo-uv,echo-uring";
    int default_servers = 1;
    char cases_buf[1024] = "";
    char *servers[8], *prefixes[64];
    int quick = getenv("CONFORMANCE_QUICK") != NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            quick = 1;
        } else if (!strcmp(a, "--verbose")) {
            verbose = 1;
        } else if (!strcmp(a, "--direction") && v) {
            direction = v, i++;
        } else if (!strcmp(a, "--servers") && v) {
            snprintf(servers_buf, sizeof servers_buf, "%s", v), i++, default_servers = 0;
        } else if (!strcmp(a, "--cases") && v) {
            snprintf(cases_buf, sizeof cases_buf, "%s", v), i++;
        } else {
            usage();
        }
    }
    if (strcmp(direction, "server") && strcmp(direction, "client") && strcmp(direction, "both"))
        usage();
    /* Under valgrind (make valgrind) the 16 MiB cases would take minutes: cap them. */
    const char *pre = getenv("LD_PRELOAD");
    if (pre && strstr(pre, "vgpreload"))
        quick = 1;
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    conf_case *cases;
    size_t ncases = conf_cases(&cases, quick);
    int np = split(cases_buf, prefixes, 64);
    int ns = split(servers_buf, servers, 8);
    unsigned passed = 0, failed = 0;
    struct run runs[9];
    int nruns = 0;
    uint64_t t0 = now_ms();

    printf("conformance: %zu cases per target%s\n", ncases,
           quick ? " (quick: group 9 capped at 1 MiB, groups 12/13 at fewer messages)" : "");
    if (!conf_have_zlib())
        printf("info: conformance groups 12 and 13 (permessage-deflate) SKIPPED: "
               "built without zlib\n");
    if (strcmp(direction, "client") != 0) {
        for (int s = 0; s < ns; s++) {
            char path[512];
            snprintf(path, sizeof path, "%s/%s", ex_dir(), servers[s]);
            if (default_servers && access(path, X_OK) != 0 &&
                (!strcmp(servers[s], "echo-uv") || !strcmp(servers[s], "echo-uring"))) {
                /* built only where libuv / liburing are found */
                printf("info: %s not built (libuv1-dev / liburing-dev missing?): SKIPPED\n",
                       servers[s]);
                continue;
            }
            struct run *r = &runs[nruns++];
            memset(r, 0, sizeof *r);
            r->target = servers[s];
            pid_t pid = start_echo(servers[s], &r->port);
            printf("== libws as server: %s on 127.0.0.1:%d\n", servers[s], r->port);
            run_all(r, cases, ncases, prefixes, np);
            kill(pid, SIGTERM);
            if (!reap(pid, 5000))
                printf("FAIL %s did not exit within 5 s of SIGTERM\n", servers[s]), failed++;
        }
    }
    if (strcmp(direction, "server") != 0) {
        struct run *r = &runs[nruns++];
        memset(r, 0, sizeof *r);
        r->target = "wsc";
        r->client_dir = 1;
        r->lfd = listen_any(&r->port);
        printf("== libws as client: wsc --echo against the tester on 127.0.0.1:%d\n",
               r->port);
        run_all(r, cases, ncases, prefixes, np);
        close(r->lfd);
    }
    printf("\n");
    for (int i = 0; i < nruns; i++) {
        print_groups(&runs[i]);
        passed += runs[i].passed;
        failed += runs[i].failed;
    }
    printf("conformance: %.1f s\n", (double)(now_ms() - t0) / 1000.0);
    printf("%u passed, %u failed\n", passed, failed);
    /* The lines tests/run.sh counts, as cmocka prints them. */
    printf("[  PASSED  ] %u test(s).\n", passed);
    if (failed)
        printf("[  FAILED  ] %u test(s), listed above with FAIL.\n", failed);
    free(cases);
    return failed ? 1 : 0;
}
