/*
 * The scripted peer: sockets, raw frames out (libws's raw encoder), frames in (judged by
 * ws_checker, logged through a frame decoder), the events a case records, Autobahn's timers
 * (continueLater, killAfter, closeAfter) and closing behaviour, the judge, and the per-case
 * report with its wire log.
 *
 * How the connection ends follows Autobahn's protocol (its failByDrop = false): killAfter
 * fails the connection with a close frame (1001, "going away") and waits for the answer;
 * closeAfter closes normally; a close from the peer is answered with 1000; a server drops TCP
 * once the closing handshake is done, a client waits close_ms for the server to drop it (then
 * drops it itself: not clean, "FAILED BY CLIENT" where clean is not required). A protocol
 * violation by the peer fails the connection with 1002 and makes the case FAILED, naming the
 * rule (Autobahn would fail it too).
 */
#define _GNU_SOURCE
#include "wsconform.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define IO_TIMEOUT_MS 30000u
#define WIRELOG_MAX 20000u /* entries per case; past it one "WLM" off entry and no more */
#define WIRELOG_DATA 64u   /* bytes of data shown per entry, as Autobahn */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void die(const char *what)
{
    fprintf(stderr, "wsconform: %s\n", what);
    exit(2);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        die("out of memory");
    return q;
}

/* ---- settings and verdicts ---- */

void wc_opts_autobahn(wc_opts *o)
{
    memset(o, 0, sizeof *o);
    o->rtt_count = 1000;
    o->pmd_count = 1000;
    o->pmd_min = 4;
    o->wait_ms = 1000;
    o->min_kill_ms = 2000;
    o->close_ms = 1000;
    o->setup_ms = 15000;
}

int wc_opts_profile(wc_opts *o, const char *name)
{
    int strict = o->strict, verbose = o->verbose;
    wc_opts_autobahn(o);
    o->strict = strict;
    o->verbose = verbose;
    if (!strcmp(name, "autobahn"))
        return 0;
    if (!strcmp(name, "ci")) {
        /* group 9 whole; 12/13 at most 256 KiB per case (4..100 messages); waits of 300 ms */
        o->pmd_count = 100;
        o->pmd_bytes = 256u << 10;
        o->wait_ms = 300;
        return 0;
    }
    if (!strcmp(name, "quick")) {
        /* for emulators and valgrind: group 9 cut to 1 MiB, 100 round trips, 12/13 32 KiB */
        o->max_message = 1u << 20;
        o->rtt_count = 100;
        o->pmd_count = 20;
        o->pmd_bytes = 32u << 10;
        o->wait_ms = 300;
        return 0;
    }
    return -1;
}

static const char *const verdict_names[] = {"OK", "NON-STRICT", "INFORMATIONAL",
                                            "UNIMPLEMENTED", "FAILED", "WRONG CODE",
                                            "UNCLEAN", "FAILED BY CLIENT"};

const char *wc_verdict_name(wc_verdict v)
{
    return (unsigned)v < sizeof verdict_names / sizeof *verdict_names ? verdict_names[v] : "?";
}

wc_verdict wc_overall(wc_verdict behavior, wc_verdict close)
{
    if (behavior == V_FAILED || close == V_FAILED || close == V_WRONG_CODE || close == V_UNCLEAN)
        return V_FAILED;
    if (behavior == V_NON_STRICT || close == V_FAILED_BY_CLIENT)
        return V_NON_STRICT;
    return behavior;
}

int wc_fails(wc_verdict overall, int strict)
{
    if (overall == V_FAILED)
        return 1;
    return strict && (overall == V_NON_STRICT || overall == V_UNIMPLEMENTED);
}

/* ---- independent UTF-8 check (RFC 3629) for what we build and what we inflate ---- */

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

typedef struct stat_ent {
    size_t key, count;
} stat_ent;

typedef struct stats {
    stat_ent *v;
    size_t n, cap;
} stats;

struct peer {
    int fd;
    int is_client; /* the tester's role: a client masks its frames */
    const wc_opts *o;
    ws_checker *chk;  /* judges what the peer sends */
    ws_frame_decoder *ld; /* frames received, for the wire log */
    int ld_dead;
    ws_frame_header ld_hdr;
    uint8_t ld_head[WIRELOG_DATA];
    size_t ld_head_n;
    uint64_t rng;

    uint8_t *obuf; /* output not yet written */
    size_t olen, ocap;
    uint8_t cur_mask[4];
    size_t cur_off;
    int write_dead;

    uint8_t rbuf[64 * 1024];
    uint8_t lbuf[64 * 1024]; /* copy for the log decoder (the checker unmasks in place) */
    size_t rpend;
    uint8_t *msg;
    size_t msg_len, msg_cap;
    uint8_t msg_op;
    peer_evlist rx;
    size_t rx_seen; /* events looked at by finish_when_done */

    /* the end of the connection, in Autobahn's terms */
    int close_sent, close_received, closed_by_me, failed_by_me, dropped_by_me, eof, proto_err;
    int was_clean, server_drop_timeout, close_hs_timeout, open_hs_timeout;
    char not_clean[128];
    int remote_code, local_code; /* -1: none */
    char remote_reason[128], local_reason[128];
    char err[200];
    uint64_t close_sent_at, hs_done_at;

    /* the case's timer: killAfter (kill = 1) or closeAfter */
    uint64_t deadline;
    int kill, timer_fired;
    unsigned timer_ms;

    tpmd *pmd;
    int msg_compressed;
    unsigned rx_compressed, rx_messages;
    uint64_t tx_plain, tx_wire, rx_plain, rx_wire; /* compression ratios */

    peer_expect exp;
    void **arena;
    size_t narena, carena;

    /* the report */
    wc_buf wl;
    size_t wl_entries;
    int wl_on, wl_full;
    stats rx_octets, tx_octets;
    uint64_t rx_frames[16], tx_frames[16];
    char *http_req, *http_resp;
};

static void stats_add(stats *s, size_t key)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->v[mid].key < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->n && s->v[lo].key == key) {
        s->v[lo].count++;
        return;
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    memmove(s->v + lo + 1, s->v + lo, (s->n - lo) * sizeof *s->v);
    s->v[lo].key = key;
    s->v[lo].count = 1;
    s->n++;
}

static void evlist_push(peer_evlist *l, peer_ev ev)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 16;
        l->v = xrealloc(l->v, l->cap * sizeof *l->v);
    }
    l->v[l->n++] = ev;
}

const wc_opts *peer_opts(const peer *p)
{
    return p->o;
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

size_t peer_events(const peer *p)
{
    return p->rx.n;
}

const peer_ev *peer_last_event(const peer *p)
{
    return p->rx.n ? &p->rx.v[p->rx.n - 1] : NULL;
}

/* ---- the wire log (Autobahn's rows: TO, RO, TF, RF, CT, CTE, KL, KLE, TI, TIE, WLM) ---- */

static int wl_begin(peer *p)
{
    if (!p->wl_on || p->wl_full)
        return 0;
    if (p->wl_entries == WIRELOG_MAX) {
        p->wl_full = 1;
        buf_puts(&p->wl, p->wl_entries ? ",\n" : "\n");
        buf_puts(&p->wl, "      [\"WLM\", false]");
        return 0;
    }
    buf_puts(&p->wl, p->wl_entries++ ? ",\n      " : "\n      ");
    return 1;
}

/* Autobahn's binLogData: hex of at most 64 bytes, " ..." when cut. */
static void wl_hex(wc_buf *b, const uint8_t *d, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    size_t k = n > WIRELOG_DATA - 4 ? WIRELOG_DATA : n;
    buf_puts(b, "\"");
    for (size_t i = 0; i < k; i++) {
        char two[2] = {hx[d[i] >> 4], hx[d[i] & 15]};
        buf_put(b, two, 2);
    }
    buf_puts(b, n > WIRELOG_DATA - 4 ? " ...\"" : "\"");
}

/* Autobahn's asciiLogData: the text (cut as above) if it is UTF-8, else "0x" and hex. */
static void wl_text(wc_buf *b, const uint8_t *d, size_t n)
{
    size_t k = n > WIRELOG_DATA - 4 ? WIRELOG_DATA : n;
    /* a cut inside a character is not an error (Python's strict decode would fail there,
     * we back up to the character boundary instead) */
    size_t ok = k;
    while (ok > 0 && ok < n && ok > k - 4 && (d[ok] & 0xc0) == 0x80)
        ok--;
    if (conf_utf8_ok(d, ok) && (ok == k || ok < n)) {
        wc_buf t = {0};
        buf_put(&t, d, ok);
        if (n > WIRELOG_DATA - 4)
            buf_puts(&t, " ...");
        buf_json_str(b, t.p ? t.p : "", t.n);
        buf_free(&t);
        return;
    }
    static const char hx[] = "0123456789abcdef";
    buf_puts(b, "\"0x");
    for (size_t i = 0; i < k; i++) {
        char two[2] = {hx[d[i] >> 4], hx[d[i] & 15]};
        buf_put(b, two, 2);
    }
    buf_puts(b, n > WIRELOG_DATA - 4 ? " ...\"" : "\"");
}

static void wl_mark(peer *p, const char *row, double secs, const char *tag)
{
    if (!wl_begin(p))
        return;
    buf_printf(&p->wl, "[\"%s\"", row);
    if (secs >= 0)
        buf_printf(&p->wl, ", %.3f", secs);
    if (tag) {
        buf_puts(&p->wl, ", ");
        if (tag[0])
            buf_json_str(&p->wl, tag, strlen(tag));
        else
            buf_puts(&p->wl, "null");
    }
    buf_puts(&p->wl, "]");
}

void peer_wirelog(peer *p, int on)
{
    on = on != 0;
    if (on == p->wl_on)
        return;
    p->wl_on = 1; /* the switch itself is logged */
    if (wl_begin(p))
        buf_printf(&p->wl, "[\"WLM\", %s]", on ? "true" : "false");
    p->wl_on = on;
}

static void log_tx_octets(peer *p, const uint8_t *d, size_t n, int sync)
{
    stats_add(&p->tx_octets, n);
    if (!wl_begin(p))
        return;
    buf_printf(&p->wl, "[\"TO\", [%zu, ", n);
    wl_hex(&p->wl, d, n);
    buf_printf(&p->wl, "], %s]", sync ? "true" : "false");
}

static void log_tx_frame(peer *p, const ws_frame_header *h, const uint8_t *payload, size_t n,
                         size_t rep, size_t chop, int sync)
{
    p->tx_frames[h->opcode & 15]++;
    if (!wl_begin(p))
        return;
    buf_printf(&p->wl, "[\"TF\", [%zu, ", n);
    wl_text(&p->wl, payload, n);
    buf_printf(&p->wl, "], %u, %s, %u, ", h->opcode, h->fin ? "true" : "false", h->rsv);
    if (h->masked)
        buf_printf(&p->wl, "\"%02x%02x%02x%02x\"", h->mask[0], h->mask[1], h->mask[2],
                   h->mask[3]);
    else
        buf_puts(&p->wl, "null");
    if (rep)
        buf_printf(&p->wl, ", %zu", rep);
    else
        buf_puts(&p->wl, ", null");
    if (chop)
        buf_printf(&p->wl, ", %zu", chop);
    else
        buf_puts(&p->wl, ", null");
    buf_printf(&p->wl, ", %s]", sync ? "true" : "false");
}

/* Frames received: a decoder of their own over a copy of the bytes (headers as sent, payload
 * as the first 64 bytes), counted always, logged when the log is on. */
static void log_rx(peer *p, const uint8_t *in, size_t n)
{
    stats_add(&p->rx_octets, n);
    if (wl_begin(p)) {
        buf_printf(&p->wl, "[\"RO\", [%zu, ", n);
        wl_hex(&p->wl, in, n);
        buf_puts(&p->wl, "]]");
    }
    if (p->ld_dead)
        return;
    memcpy(p->lbuf, in, n);
    uint8_t *q = p->lbuf;
    uint8_t *head = p->ld_head;
    ws_frame_header *hdr = &p->ld_hdr;
    for (;;) {
        size_t used = 0;
        ws_frame_event ev;
        if (ws_frame_decoder_feed(p->ld, q, n, &used, &ev, sizeof ev) != WS_OK) {
            p->ld_dead = 1; /* the checker reports the rule; the log stops decoding here */
            return;
        }
        q += used;
        n -= used;
        if (ev.type == WS_FRAME_EV_NONE)
            return;
        if (ev.type == WS_FRAME_EV_HEADER) {
            *hdr = *ev.header;
            p->ld_head_n = 0;
            continue;
        }
        size_t head_n = p->ld_head_n, frame_len = (size_t)hdr->payload_len;
        if (ev.len && head_n < WIRELOG_DATA) {
            size_t k = ev.len < WIRELOG_DATA - head_n ? ev.len : WIRELOG_DATA - head_n;
            memcpy(head + head_n, ev.data, k);
            p->ld_head_n = head_n += k;
        }
        if (!ev.frame_end)
            continue;
        p->rx_frames[hdr->opcode & 15]++;
        if (!wl_begin(p))
            continue;
        buf_printf(&p->wl, "[\"RF\", [%zu, ", frame_len);
        /* the text check sees only the head: a longer frame shows " ..." as Autobahn */
        wc_buf t = {0};
        wl_text(&t, head, frame_len < head_n ? frame_len : head_n);
        if (frame_len > head_n && t.n && t.p[t.n - 1] == '"' &&
            !(t.n >= 5 && !memcmp(t.p + t.n - 5, " ...\"", 5))) {
            t.n--;
            buf_puts(&t, " ...\"");
        }
        buf_put(&p->wl, t.p, t.n);
        buf_free(&t);
        buf_printf(&p->wl, "], %u, %s, %u, %s, ", hdr->opcode, hdr->fin ? "true" : "false",
                   hdr->rsv, hdr->masked ? "true" : "false");
        if (hdr->masked)
            buf_printf(&p->wl, "\"%02x%02x%02x%02x\"]", hdr->mask[0], hdr->mask[1],
                       hdr->mask[2], hdr->mask[3]);
        else
            buf_puts(&p->wl, "null]");
    }
}

/* ---- state ---- */

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
    return !p->close_received && !p->close_sent && !p->eof && !p->proto_err && p->fd >= 0;
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
        if (!p->eof)
            p->dropped_by_me = 1;
        close(p->fd);
        p->fd = -1;
    }
}

/* Queue a close frame (code 0: none). Returns 0, or -1 if one was sent already. */
static int send_close_frame(peer *p, int code, const char *reason, size_t rlen, int reply)
{
    uint8_t pl[WS_FRAME_MAX_CONTROL + 8];
    size_t n = 0;
    if (p->close_sent || p->fd < 0 || p->eof)
        return -1;
    if (code > 0) {
        pl[0] = (uint8_t)(code >> 8);
        pl[1] = (uint8_t)code;
        if (rlen > WS_FRAME_MAX_CONTROL - 2)
            rlen = WS_FRAME_MAX_CONTROL - 2;
        if (rlen)
            memcpy(pl + 2, reason, rlen);
        n = 2 + rlen;
    }
    p->local_code = code > 0 ? code : -1;
    snprintf(p->local_reason, sizeof p->local_reason, "%.*s", (int)(rlen < 120 ? rlen : 120),
             reason ? reason : "");
    (void)reply;
    return peer_close_raw(p, pl, n);
}

/* ---- receiving (judged by ws_checker) ---- */

static void on_close_frame(peer *p, const ws_check_event *ev)
{
    p->remote_code = ev->close_code ? (int)ev->close_code : -1;
    snprintf(p->remote_reason, sizeof p->remote_reason, "%.*s",
             (int)(ev->len < 120 ? ev->len : 120), ev->data ? (const char *)ev->data : "");
    p->close_received = 1;
    if (!p->close_sent) {
        /* The peer starts the closing handshake: answer 1000 (Autobahn does not echo). */
        send_close_frame(p, 1000, NULL, 0, 1);
    } else if (p->closed_by_me) {
        p->close_hs_timeout = 0;
    }
    p->was_clean = 1;
    p->hs_done_at = now_ms();
}

static void send_pong(peer *p, const uint8_t *d, size_t n)
{
    if (!is_open(p))
        return;
    peer_frame(p, 1, 0, WS_OP_PONG, d, n, 0, 0);
}

static void on_control(peer *p, const ws_check_event *ev)
{
    if (ev->opcode == WS_OP_CLOSE) {
        on_close_frame(p, ev);
        return;
    }
    if (p->close_received)
        return;
    if (ev->opcode == WS_OP_PING) {
        /* Autobahn answers pings and records nothing */
        send_pong(p, ev->data, ev->len);
        return;
    }
    peer_ev e;
    memset(&e, 0, sizeof e);
    e.kind = EV_PONG;
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
        p->rx_wire += p->msg_len;
        if (tpmd_decompress(p->pmd, p->msg, p->msg_len, &plain, &plain_len, (size_t)1 << 28,
                            err, sizeof err) != 0) {
            protocol_error(p, "%s", err);
            return;
        }
        free(p->msg);
        p->msg = plain;
        p->msg_len = p->msg_cap = plain_len;
        p->rx_compressed++;
        p->rx_plain += plain_len;
        if (p->msg_op == WS_OP_TEXT && !conf_utf8_ok(p->msg, p->msg_len)) {
            protocol_error(p, "compressed text message is not valid UTF-8");
            return;
        }
    } else if (p->pmd) {
        p->rx_wire += p->msg_len;
        p->rx_plain += p->msg_len;
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
    if (p->close_received)
        return;
    p->msg_op = ev->opcode;
    if (ev->compressed)
        p->msg_compressed = 1;
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
    log_rx(p, in, n);
    while (!p->proto_err) {
        size_t used = 0;
        ws_check_event ev;
        if (ws_checker_feed(p->chk, in, n, &used, &ev, sizeof ev) != WS_OK)
            die("the checker refused its arguments");
        in += used;
        n -= used;
        switch (ev.type) {
        case WS_CHECK_NONE:
            return;
        case WS_CHECK_VIOLATION:
            protocol_error(p, "%s (at byte %llu of the peer's stream; RFC 6455 asks to fail "
                              "with %u)",
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
    p->eof = 1; /* end of file or a reset: the peer is gone */
    if (!(p->close_sent && p->close_received)) {
        p->was_clean = 0;
        snprintf(p->not_clean, sizeof p->not_clean,
                 "peer dropped the TCP connection without previous WebSocket closing "
                 "handshake");
    }
    return 1;
}

/* Write queued output, reading meanwhile. wait_all: 0 return when written, 1 wait until the
 * deadline, 2 one poll round. */
static void pump(peer *p, uint64_t deadline, int wait_all)
{
    for (;;) {
        if (p->fd < 0)
            break;
        if (p->rpend) {
            read_some(p);
            if (wait_all == 2)
                break;
            continue;
        }
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
            break;
    }
}

static void flush_out(peer *p)
{
    pump(p, now_ms() + IO_TIMEOUT_MS, 0);
    if (p->olen)
        protocol_error(p, "could not write %zu bytes within %u ms", p->olen, IO_TIMEOUT_MS);
}

/* ---- sending ---- */

/* Move the queued bytes out in writes of chop bytes each (sync: the whole as one write). */
static void write_logged(peer *p, size_t start, size_t chop, int sync)
{
    size_t total = p->olen - start;
    if (!chop && !sync)
        return; /* stays queued, written (and logged) with the next flush */
    uint8_t *copy = xrealloc(NULL, total);
    memcpy(copy, p->obuf + start, total);
    p->olen = start;
    flush_out(p);
    size_t piece = chop ? chop : total;
    size_t pieces = total ? (total + piece - 1) / piece : 0;
    for (size_t off = 0; off < total && !p->write_dead; off += piece) {
        size_t k = total - off < piece ? total - off : piece;
        memcpy(out_reserve(p, k), copy + off, k);
        p->olen += k;
        log_tx_octets(p, copy + off, k, 1);
        pump(p, now_ms() + IO_TIMEOUT_MS, 0);
        /* Short messages get a pause so each piece arrives on its own; long ones rely on
         * separate writes with TCP_NODELAY (a pause each would take minutes). */
        if (pieces <= 300)
            usleep(sync ? 1000 : 500);
    }
    free(copy);
}

static void flush_logged(peer *p)
{
    if (p->olen && p->wl_on) {
        /* what a flush writes, logged as one TO (Autobahn logs each transport write) */
        log_tx_octets(p, p->obuf, p->olen, 0);
    } else if (p->olen) {
        stats_add(&p->tx_octets, p->olen);
    }
    flush_out(p);
}

static int encode_into_out(peer *p, ws_frame_header *h, const void *data, size_t len,
                           unsigned len_bytes)
{
    h->masked = (uint8_t)p->is_client;
    h->payload_len = len;
    if (h->masked)
        mask_key(p, h->mask);
    uint8_t *o = out_reserve(p, WS_FRAME_MAX_HEADER + len);
    int hl = ws_frame_write_header_raw(o, WS_FRAME_MAX_HEADER, h, sizeof *h, len_bytes);
    if (hl < 0)
        die("the raw encoder refused a header");
    if (h->masked && len)
        ws_mask_copy(o + hl, data, len, h->mask, 0);
    else if (len)
        memcpy(o + hl, data, len);
    return hl;
}

static int frame_common(peer *p, int fin, unsigned rsv, unsigned opcode, const void *data,
                        size_t len, size_t rep, size_t chop, unsigned flags)
{
    if (p->close_received || p->eof || p->fd < 0)
        return -1;
    ws_frame_header h;
    memset(&h, 0, sizeof h);
    h.fin = (uint8_t)(fin != 0);
    h.rsv = (uint8_t)(rsv & 7u);
    h.opcode = (uint8_t)(opcode & 15u);
    int sync = (flags & SEND_SYNC) != 0;
    if (chop || sync)
        flush_logged(p);
    size_t start = p->olen;
    int hl = encode_into_out(p, &h, data, len, 0);
    p->olen += (size_t)hl + len;
    log_tx_frame(p, &h, data, len, rep, chop, sync);
    if (chop || sync)
        write_logged(p, start, chop, sync);
    else if (p->olen > (1u << 20))
        flush_logged(p); /* keep the queue (and our memory) bounded on long scripts */
    return 0;
}

int peer_frame(peer *p, int fin, unsigned rsv, unsigned opcode, const void *data, size_t len,
               size_t chop, unsigned flags)
{
    return frame_common(p, fin, rsv, opcode, data, len, 0, chop, flags);
}

int peer_frame_rep(peer *p, int fin, unsigned opcode, const char *pattern, size_t plen,
                   size_t len, size_t chop)
{
    uint8_t *d = xrealloc(NULL, len);
    for (size_t i = 0; i < len; i++)
        d[i] = (uint8_t)pattern[i % plen];
    int r = frame_common(p, fin, 0, opcode, d, len, len, chop, 0);
    free(d);
    return r;
}

/* A frame exactly as h says (h->masked taken as given, payload_len as declared), then
 * body[0..n): for the extension cases that break header rules. */
static int frame_raw(peer *p, ws_frame_header *h, unsigned len_bytes, const void *body,
                     size_t n)
{
    if (p->close_received || p->eof || p->fd < 0)
        return -1;
    if (h->masked)
        mask_key(p, h->mask);
    uint8_t *o = out_reserve(p, WS_FRAME_MAX_HEADER + n);
    int k = ws_frame_encode_raw(o, WS_FRAME_MAX_HEADER + n, h, sizeof *h, len_bytes, body, n);
    if (k < 0)
        die("the raw encoder refused a frame");
    p->olen += (size_t)k;
    log_tx_frame(p, h, body, n, 0, 0, 0);
    return 0;
}

int peer_frame_wrong_mask(peer *p, unsigned opcode, const void *data, size_t len)
{
    ws_frame_header h;
    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = (uint8_t)opcode;
    h.masked = (uint8_t)!p->is_client;
    h.payload_len = len;
    return frame_raw(p, &h, 0, data, len);
}

int peer_frame_len64_msb(peer *p)
{
    ws_frame_header h;
    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = WS_OP_BINARY;
    h.masked = (uint8_t)p->is_client;
    h.payload_len = (1ull << 63) | 5u;
    return frame_raw(p, &h, 8, "12345", 5);
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
    int hl = ws_frame_write_header_raw(out_reserve(p, WS_FRAME_MAX_HEADER),
                                       WS_FRAME_MAX_HEADER, &h, sizeof h, 0);
    if (hl < 0)
        die("the raw encoder refused a header");
    p->olen += (size_t)hl;
    log_tx_frame(p, &h, NULL, 0, 0, 0, 0);
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
        if (peer_frame(p, off + k == len, 0, off ? WS_OP_CONTINUATION : opcode, d + off, k, 0,
                       0) < 0)
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
    p->tx_plain += len;
    p->tx_wire += zn;
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

int peer_close_raw(peer *p, const void *payload, size_t len)
{
    if (p->eof || p->fd < 0 || p->close_sent)
        return -1;
    if (!p->close_received)
        p->closed_by_me = 1;
    p->close_sent = 1;
    p->close_sent_at = now_ms();
    if (len >= 2) {
        const uint8_t *b = payload;
        p->local_code = b[0] << 8 | b[1];
    }
    int r = frame_common(p, 1, 0, WS_OP_CLOSE, payload, len, 0, 0, 0);
    if (p->close_received) {
        p->was_clean = 1;
        p->hs_done_at = now_ms();
    }
    return r;
}

int peer_close(peer *p, uint16_t code, const char *reason, size_t rlen)
{
    return send_close_frame(p, code, reason, rlen, 0);
}

int peer_wait(peer *p, unsigned ms, char label)
{
    char tag[2] = {label, 0};
    wl_mark(p, "CT", ms / 1000.0, tag);
    flush_logged(p);
    pump(p, now_ms() + ms, 1);
    if (!is_open(p))
        return 0;
    wl_mark(p, "CTE", -1, tag);
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
    flush_logged(p);
    while (p->rx.n < n && !p->eof && !p->proto_err && p->fd >= 0 && !p->close_received &&
           now_ms() < deadline)
        pump(p, deadline, 2);
    return p->rx.n >= n;
}

void peer_kill_after(peer *p, unsigned ms)
{
    unsigned eff = ms < p->o->min_kill_ms ? p->o->min_kill_ms : ms;
    wl_mark(p, "KL", ms / 1000.0, NULL);
    p->deadline = now_ms() + eff;
    p->kill = 1;
    p->timer_ms = ms;
}

void peer_close_after(peer *p, unsigned ms)
{
    unsigned eff = ms < p->o->min_kill_ms ? p->o->min_kill_ms : ms;
    wl_mark(p, "TI", ms / 1000.0, NULL);
    p->deadline = now_ms() + eff;
    p->kill = 0;
    p->timer_ms = ms;
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

void expect_close(peer *p, int closed_by_me, int require_clean, uint16_t code)
{
    p->exp.closed_by_me = closed_by_me;
    p->exp.require_clean = require_clean;
    p->exp.codes[0] = code;
    p->exp.ncodes = 1;
}

void expect_close_code(peer *p, uint16_t code)
{
    if (p->exp.ncodes < MAX_CODES)
        p->exp.codes[p->exp.ncodes++] = code;
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

/* Autobahn's finishWhenDone: after a message or pong, close if every list matches. */
static void finish_when_done(peer *p)
{
    while (p->rx_seen < p->rx.n) {
        int kind = p->rx.v[p->rx_seen++].kind;
        if (kind == EV_TIMEOUT || p->exp.counted)
            continue;
        if (matches_all(p) && p->exp.closed_by_me && !p->exp.suppress_close && !p->close_sent)
            send_close_frame(p, p->exp.codes[0], NULL, 0, 0);
    }
}

/* After the case's actions: run until the connection is gone. */
static void finish(peer *p)
{
    flush_logged(p);
    if (!p->deadline)
        peer_kill_after(p, 1000);
    while (p->fd >= 0) {
        finish_when_done(p);
        uint64_t now = now_ms();
        if (p->proto_err && !p->failed_by_me) {
            /* fail the connection: 1002, then the closing handshake wait */
            p->failed_by_me = 1;
            p->proto_err = 0; /* keep reading the answer to our close */
            send_close_frame(p, 1002, NULL, 0, 0);
            p->proto_err = 1;
        }
        flush_logged(p);
        if (p->eof)
            break;
        if (p->close_sent && p->close_received) {
            if (!p->is_client) {
                drop(p); /* a server drops TCP once the closing handshake is done */
                break;
            }
            if (now >= p->hs_done_at + p->o->close_ms) {
                /* the server should have dropped TCP by now */
                p->was_clean = 0;
                p->server_drop_timeout = 1;
                snprintf(p->not_clean, sizeof p->not_clean,
                         "server did not drop TCP connection (in time)");
                drop(p);
                break;
            }
        } else if (p->close_sent && now >= p->close_sent_at + p->o->close_ms) {
            p->close_hs_timeout = 1;
            p->was_clean = 0;
            snprintf(p->not_clean, sizeof p->not_clean,
                     "peer did not respond (in time) in closing handshake");
            drop(p);
            break;
        } else if (p->proto_err && !p->close_sent) {
            drop(p);
            break;
        }
        if (!p->timer_fired && now >= p->deadline) {
            p->timer_fired = 1;
            if (p->kill) {
                wl_mark(p, "KLE", -1, NULL);
                p->failed_by_me = 1;
                if (!p->close_sent)
                    send_close_frame(p, 1001, "Going Away", 10, 0);
            } else {
                wl_mark(p, "TIE", -1, NULL);
                if (!p->close_sent)
                    send_close_frame(p, 1000, NULL, 0, 0);
            }
            continue;
        }
        uint64_t until = p->timer_fired ? now + 50 : p->deadline;
        if (p->close_sent && !p->close_received && p->close_sent_at + p->o->close_ms < until)
            until = p->close_sent_at + p->o->close_ms;
        if (p->close_sent && p->close_received && p->hs_done_at + p->o->close_ms < until)
            until = p->hs_done_at + p->o->close_ms;
        if (until <= now)
            until = now + 1;
        pump(p, until, 2);
    }
    drop(p);
}

typedef struct judged {
    wc_verdict behavior, close;
    char result[400], result_close[200];
} judged;

static void judge(peer *p, int opened, judged *j)
{
    const peer_expect *e = &p->exp;
    j->behavior = V_FAILED;
    snprintf(j->result, sizeof j->result, "Actual events differ from any expected.");
    j->close = V_FAILED;
    snprintf(j->result_close, sizeof j->result_close,
             "TCP connection was dropped without close handshake");
    if (e->counted) {
        j->behavior = e->counted_behavior;
        snprintf(j->result, sizeof j->result, "%s", e->counted_result);
    } else if (same_events(&p->rx, &e->ok)) {
        j->behavior = V_OK;
        snprintf(j->result, sizeof j->result, "Actual events match at least one expected.");
    } else if (e->has_nonstrict && same_events(&p->rx, &e->nonstrict)) {
        j->behavior = V_NON_STRICT;
        snprintf(j->result, sizeof j->result, "Actual events match at least one expected.");
    }
    if (!opened) {
        snprintf(j->result_close, sizeof j->result_close,
                 "The WebSocket opening handshake was never completed!");
        return;
    }
    int found = 0;
    for (int i = 0; i < e->ncodes; i++)
        found |= e->codes[i] == p->remote_code;
    if (e->closed_by_me != p->closed_by_me) {
        j->close = V_FAILED;
        snprintf(j->result_close, sizeof j->result_close,
                 "The connection was failed by the wrong endpoint");
    } else if (e->require_clean && !p->was_clean) {
        j->close = V_UNCLEAN;
        snprintf(j->result_close, sizeof j->result_close,
                 "The spec requires the connection to be failed cleanly here");
    } else if (p->remote_code >= 0 && !found) {
        j->close = V_WRONG_CODE;
        int k = snprintf(j->result_close, sizeof j->result_close,
                         "The close code should have been ");
        for (int i = 0; i < e->ncodes && k > 0 && (size_t)k < sizeof j->result_close; i++)
            k += snprintf(j->result_close + k, sizeof j->result_close - (size_t)k, "%s%u",
                          i ? "," : "", e->codes[i]);
        if (k > 0 && (size_t)k < sizeof j->result_close)
            snprintf(j->result_close + k, sizeof j->result_close - (size_t)k, " or empty");
    } else if (p->is_client && p->dropped_by_me) {
        j->close = V_FAILED_BY_CLIENT;
        snprintf(j->result_close, sizeof j->result_close,
                 "It is preferred that the server close the TCP connection");
    } else {
        j->close = V_OK;
        snprintf(j->result_close, sizeof j->result_close, "Connection was properly closed");
    }
    if (e->wrong_endpoint_fatal && e->closed_by_me != p->closed_by_me)
        j->behavior = V_FAILED;
    if (e->wrong_code_fatal && j->close == V_WRONG_CODE) {
        j->behavior = V_FAILED;
        snprintf(j->result, sizeof j->result, "%s", j->result_close);
    }
    if (p->proto_err && !e->informational) {
        j->behavior = V_FAILED;
        snprintf(j->result, sizeof j->result, "Protocol violation by the peer: %s", p->err);
    }
    if (e->informational) {
        char what[300];
        snprintf(what, sizeof what, "Informational: events %s, close %s%s%s",
                 j->behavior == V_OK           ? "match the OK list"
                 : j->behavior == V_NON_STRICT ? "match the NON-STRICT list"
                                               : "match no list",
                 wc_verdict_name(j->close), p->proto_err ? "; " : "", p->proto_err ? p->err : "");
        snprintf(j->result, sizeof j->result, "%s", what);
        j->behavior = j->close = V_INFORMATIONAL;
    }
}

/* ---- the per-case report ---- */

static void json_events(wc_buf *b, const peer_evlist *l)
{
    buf_puts(b, "[");
    for (size_t i = 0; i < l->n; i++) {
        const peer_ev *e = &l->v[i];
        buf_puts(b, i ? ",\n         [" : "\n         [");
        if (e->kind == EV_TIMEOUT) {
            char t[2] = {e->label, 0};
            buf_puts(b, "\"timeout\", ");
            buf_json_str(b, t, 1);
        } else {
            buf_puts(b, e->kind == EV_MSG ? "\"message\", " : "\"pong\", ");
            wl_text(b, e->data, e->len);
            if (e->kind == EV_MSG)
                buf_puts(b, e->opcode == WS_OP_BINARY ? ", true" : ", false");
        }
        buf_puts(b, "]");
    }
    buf_puts(b, l->n ? "\n      ]" : "]");
}

static void json_stats(wc_buf *b, const stats *s)
{
    buf_puts(b, "{");
    for (size_t i = 0; i < s->n; i++)
        buf_printf(b, "%s\n      \"%zu\": %zu", i ? "," : "", s->v[i].key, s->v[i].count);
    buf_puts(b, s->n ? "\n   }" : "}");
}

static void json_frames(wc_buf *b, const uint64_t *f)
{
    int first = 1;
    buf_puts(b, "{");
    for (int i = 0; i < 16; i++)
        if (f[i]) {
            buf_printf(b, "%s\n      \"%d\": %llu", first ? "" : ",", i,
                       (unsigned long long)f[i]);
            first = 0;
        }
    buf_puts(b, first ? "}" : "\n   }");
}

static void json_kv_str(wc_buf *b, const char *k, const char *v)
{
    buf_printf(b, "   \"%s\": ", k);
    if (v)
        buf_json_str(b, v, strlen(v));
    else
        buf_puts(b, "null");
    buf_puts(b, ",\n");
}

static void json_kv_bool(wc_buf *b, const char *k, int v)
{
    buf_printf(b, "   \"%s\": %s,\n", k, v ? "true" : "false");
}

static void json_kv_code(wc_buf *b, const char *k, int v)
{
    if (v >= 0)
        buf_printf(b, "   \"%s\": %d,\n", k, v);
    else
        buf_printf(b, "   \"%s\": null,\n", k);
}

static void ratio(wc_buf *b, uint64_t wire, uint64_t plain)
{
    if (plain)
        buf_printf(b, "%.6f", (double)wire / (double)plain);
    else
        buf_puts(b, "null");
}

/* The report, keys in Autobahn's (sorted) order. */
static void write_report(peer *p, const conf_case *c, int case_no, const judged *j,
                         const wc_result *res)
{
    wc_buf b = {0};
    buf_puts(&b, "{\n");
    json_kv_str(&b, "agent", res->agent);
    json_kv_str(&b, "behavior", wc_verdict_name(j->behavior));
    json_kv_str(&b, "behaviorClose", wc_verdict_name(j->close));
    buf_printf(&b, "   \"case\": %d,\n", case_no);
    json_kv_bool(&b, "closedByMe", p->closed_by_me);
    json_kv_bool(&b, "createStats", 1);
    json_kv_bool(&b, "createWirelog", p->wl_on);
    json_kv_str(&b, "description", c->desc);
    json_kv_bool(&b, "droppedByMe", p->dropped_by_me);
    buf_printf(&b, "   \"duration\": %llu,\n", (unsigned long long)res->duration_ms);
    json_kv_str(&b, "expectation", c->expectation);
    buf_puts(&b, "   \"expected\": {");
    if (!p->exp.counted) {
        buf_puts(&b, "\n      \"OK\": ");
        json_events(&b, &p->exp.ok);
        if (p->exp.has_nonstrict) {
            buf_puts(&b, ",\n      \"NON-STRICT\": ");
            json_events(&b, &p->exp.nonstrict);
        }
        buf_puts(&b, "\n   ");
    }
    buf_puts(&b, "},\n");
    buf_printf(&b, "   \"expectedClose\": {\n      \"closeCode\": [");
    for (int i = 0; i < p->exp.ncodes; i++)
        buf_printf(&b, "%s%u", i ? ", " : "", p->exp.codes[i]);
    buf_printf(&b, "],\n      \"closedByMe\": %s,\n      \"requireClean\": %s\n   },\n",
               p->exp.closed_by_me ? "true" : "false", p->exp.require_clean ? "true" : "false");
    json_kv_bool(&b, "extension", c->extension);
    json_kv_bool(&b, "failedByMe", p->failed_by_me);
    json_kv_str(&b, "httpRequest", p->http_req ? p->http_req : "?");
    json_kv_str(&b, "httpResponse", p->http_resp ? p->http_resp : "?");
    json_kv_str(&b, "id", c->id);
    json_kv_bool(&b, "isServer", !p->is_client);
    json_kv_code(&b, "localCloseCode", p->local_code);
    json_kv_str(&b, "localCloseReason", p->local_code >= 0 ? p->local_reason : NULL);
    buf_puts(&b, "   \"received\": ");
    json_events(&b, &p->rx);
    buf_puts(&b, ",\n");
    json_kv_code(&b, "remoteCloseCode", p->remote_code);
    json_kv_str(&b, "remoteCloseReason", p->remote_code >= 0 ? p->remote_reason : NULL);
    json_kv_bool(&b, "reportCompressionRatio", c->pmd_offer != NULL);
    json_kv_bool(&b, "reportTime", res->report_time);
    json_kv_str(&b, "result", j->result);
    json_kv_str(&b, "resultClose", j->result_close);
    buf_puts(&b, "   \"rxFrameStats\": ");
    json_frames(&b, p->rx_frames);
    buf_puts(&b, ",\n   \"rxOctetStats\": ");
    json_stats(&b, &p->rx_octets);
    buf_puts(&b, ",\n");
    json_kv_str(&b, "started", res->started);
    buf_puts(&b, "   \"trafficStats\": ");
    if (p->pmd) {
        buf_printf(&b, "{\n      \"incomingCompressionRatio\": ");
        ratio(&b, p->rx_wire, p->rx_plain);
        buf_printf(&b, ",\n      \"incomingOctetsAppLevel\": %llu,\n"
                       "      \"incomingOctetsWebSocketLevel\": %llu,\n"
                       "      \"outgoingCompressionRatio\": ",
                   (unsigned long long)p->rx_plain, (unsigned long long)p->rx_wire);
        ratio(&b, p->tx_wire, p->tx_plain);
        buf_printf(&b, ",\n      \"outgoingOctetsAppLevel\": %llu,\n"
                       "      \"outgoingOctetsWebSocketLevel\": %llu\n   },\n",
                   (unsigned long long)p->tx_plain, (unsigned long long)p->tx_wire);
    } else {
        buf_puts(&b, "null,\n");
    }
    buf_puts(&b, "   \"txFrameStats\": ");
    json_frames(&b, p->tx_frames);
    buf_puts(&b, ",\n   \"txOctetStats\": ");
    json_stats(&b, &p->tx_octets);
    buf_puts(&b, ",\n");
    json_kv_bool(&b, "wasClean", p->was_clean);
    json_kv_bool(&b, "wasCloseHandshakeTimeout", p->close_hs_timeout);
    json_kv_str(&b, "wasNotCleanReason", p->was_clean ? NULL : p->not_clean);
    json_kv_bool(&b, "wasOpenHandshakeTimeout", p->open_hs_timeout);
    json_kv_bool(&b, "wasServerConnectionDropTimeout", p->server_drop_timeout);
    buf_puts(&b, "   \"wirelog\": [");
    buf_put(&b, p->wl.p ? p->wl.p : "", p->wl.n);
    buf_puts(&b, p->wl_entries ? "\n   ]\n}\n" : "]\n}\n");
    if (b.oom)
        die("out of memory");
    ((wc_result *)res)->json = b.p;
}

/* ---- set-up ---- */

static void peer_init(peer *p, int fd, int is_client, const wc_opts *o)
{
    int one = 1;
    memset(p, 0, sizeof *p);
    p->fd = fd;
    p->o = o;
    p->is_client = is_client;
    p->remote_code = p->local_code = -1;
    p->wl_on = 1;
    if (ws_checker_new(&p->chk, is_client ? WS_ROLE_SERVER : WS_ROLE_CLIENT, NULL) != WS_OK ||
        ws_frame_decoder_new(&p->ld, NULL) != WS_OK)
        die("out of memory");
    ws_frame_decoder_set_flags(p->ld, WS_FRAME_REPORT_ALL | WS_FRAME_ALLOW_RSV1 | WS_FRAME_ALLOW_RSV2 | WS_FRAME_ALLOW_RSV3 | WS_FRAME_LENIENT_LENGTH,
                              UINT64_MAX);
    if (ws_random_os(NULL, &p->rng, sizeof p->rng) != 0 || !p->rng)
        p->rng = 0x9E3779B97F4A7C15ull ^ now_ms();
    if (fd >= 0) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        int fl = fcntl(fd, F_GETFL, 0);
        if (fl >= 0)
            fcntl(fd, F_SETFL, fl | O_NONBLOCK);
    }
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
    ws_frame_decoder_free(p->ld);
    tpmd_free(p->pmd);
    buf_free(&p->wl);
    free(p->rx_octets.v);
    free(p->tx_octets.v);
    free(p->http_req);
    free(p->http_resp);
    if (p->fd >= 0)
        close(p->fd);
    memset(p, 0, sizeof *p);
    p->fd = -1;
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

static char *dup_text(const void *s, size_t n)
{
    char *t = xrealloc(NULL, n + 1);
    memcpy(t, s, n);
    t[n] = '\0';
    return t;
}

/* Read into p->rbuf until the client's handshake completes; the rest stays (rpend). */
static int handshake_read(peer *p, ws_handshake *hs, char *err, size_t errlen)
{
    uint64_t deadline = now_ms() + p->o->setup_ms;
    wc_buf raw = {0};
    for (;;) {
        if (!wait_fd(p->fd, POLLIN, deadline)) {
            p->open_hs_timeout = 1;
            snprintf(err, errlen, "the opening handshake timed out");
            buf_free(&raw);
            return -1;
        }
        ssize_t n = read(p->fd, p->rbuf, sizeof p->rbuf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            snprintf(err, errlen, "connection closed during the opening handshake");
            buf_free(&raw);
            return -1;
        }
        size_t used = 0;
        int r = ws_handshake_feed(hs, p->rbuf, (size_t)n, &used);
        buf_put(&raw, p->rbuf, used);
        if (r < 0) {
            snprintf(err, errlen, "opening handshake: %s", ws_strerror(r));
            p->http_resp = dup_text(raw.p ? raw.p : "", raw.n);
            buf_free(&raw);
            return -1;
        }
        if (r == WS_HANDSHAKE_COMPLETE) {
            memmove(p->rbuf, p->rbuf + used, (size_t)n - used);
            p->rpend = (size_t)n - used;
            p->http_resp = dup_text(raw.p ? raw.p : "", raw.n);
            buf_free(&raw);
            return 0;
        }
    }
}

/* ---- permessage-deflate negotiation (groups 12 and 13) ---- */

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
    if (p->o->verbose)
        fprintf(stderr, "pmd: tester sends with window %d%s, receives with window %d%s\n",
                tx_bits, tx_nct ? " (no context takeover)" : "", rx_bits,
                rx_nct ? " (no context takeover)" : "");
    return 0;
}

/* The tester as a client offered `offer`: the answer must accept one offer by RFC 7692
 * section 7. 0 agreed, 1 declined (UNIMPLEMENTED), -1 invalid (err). */
static int pmd_client_setup(peer *p, const ws_handshake *hs, const char *offer, char *err,
                            size_t errlen)
{
    tp_elem offers[8], ans[8];
    char h[1024], why[128] = "";
    size_t hn = ext_header(hs, h, sizeof h);
    int no = tp_parse(offer, strlen(offer), offers, 8, 0);
    int na = tp_parse(h, hn, ans, 8, 1);
    if (na == 0)
        return 1;
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
    if (pmd_start(p, tx_bits, a->cnct || o->cnct, a->smwb ? a->smwb : 15, a->snct) != 0) {
        snprintf(err, errlen, "the tester's zlib setup failed");
        return -1;
    }
    return 0;
}

/* The tester as a server: Autobahn's acceptN rules for groups 12/13 choose an offer and what
 * to ask for: (client_no_context_takeover, client_max_window_bits) = (0,0) / (1,0) / (0,9) /
 * (0,15) / (1,9) / (1,15), or 7: the first of (1,9), (1,0), (0,0) that an offer allows. An
 * offer "allows" no context takeover always (RFC 7692 7.1.1.2 lets a server ask) and a window
 * size when it has client_max_window_bits. 0 agreed (answer written), 1 no offer fits. */
static int pmd_server_setup(peer *p, const ws_handshake *hs, int rule, char *answer,
                            size_t anscap, char *err, size_t errlen)
{
    static const int want[7][2] = {{0, 0}, {1, 0}, {0, 9}, {0, 15}, {1, 9}, {1, 15}, {1, 9}};
    tp_elem offers[8];
    char h[1024];
    size_t hn = ext_header(hs, h, sizeof h);
    int no = tp_parse(h, hn, offers, 8, 0);
    int tries = rule == 7 ? 3 : 1;
    static const int rule7[3][2] = {{1, 9}, {1, 0}, {0, 0}};
    for (int t = 0; t < tries; t++) {
        int nct = rule == 7 ? rule7[t][0] : want[rule - 1][0];
        int mwb = rule == 7 ? rule7[t][1] : want[rule - 1][1];
        for (int i = 0; i < no; i++) {
            const tp_elem *o = &offers[i];
            if (!tp_is_pmd(o) || o->bad || (mwb && !o->cmwb))
                continue;
            snprintf(answer, anscap, "permessage-deflate");
            if (o->snct)
                snprintf(answer + strlen(answer), anscap - strlen(answer),
                         "; server_no_context_takeover");
            if (o->smwb)
                snprintf(answer + strlen(answer), anscap - strlen(answer),
                         "; server_max_window_bits=%d", o->smwb);
            if (nct)
                snprintf(answer + strlen(answer), anscap - strlen(answer),
                         "; client_no_context_takeover");
            if (mwb)
                snprintf(answer + strlen(answer), anscap - strlen(answer),
                         "; client_max_window_bits=%d", mwb);
            int rx_bits = mwb ? mwb : (o->cmwb > 1 ? o->cmwb : 15);
            if (o->cmwb > 1 && o->cmwb < rx_bits)
                rx_bits = o->cmwb;
            if (pmd_start(p, o->smwb ? o->smwb : 15, o->snct, rx_bits, nct || o->cnct) != 0) {
                snprintf(err, errlen, "the tester's zlib setup failed");
                return -1;
            }
            return 0;
        }
    }
    return 1;
}

/* ---- running a case ---- */

static void utc_now(char *out, size_t cap)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char b[24];
    strftime(b, sizeof b, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%.19s.%03dZ", b, (int)(ts.tv_nsec / 1000000L));
}

/* The case itself, judged and reported. */
static void run_and_judge(peer *p, const conf_case *c, int opened, int unimplemented,
                          const char *setup_err, wc_result *res)
{
    uint64_t t0 = now_ms();
    judged j;
    if (opened && unimplemented) {
        /* Autobahn: permessage-deflate not agreed -> UNIMPLEMENTED, closed normally */
        expect_close(p, 1, 1, 1000);
        p->exp.counted = 1;
        p->exp.counted_behavior = V_UNIMPLEMENTED;
        snprintf(p->exp.counted_result, sizeof p->exp.counted_result,
                 "permessage-deflate was not agreed: %s", c->pmd_offer ? "declined" : "");
        send_close_frame(p, 1000, NULL, 0, 0);
        peer_kill_after(p, 1000);
        finish(p);
    } else if (opened) {
        c->run(p, c);
        finish(p);
    }
    res->duration_ms = now_ms() - t0;
    judge(p, opened, &j);
    if (!opened && setup_err) {
        snprintf(j.result, sizeof j.result, "%s", setup_err);
        snprintf(j.result_close, sizeof j.result_close,
                 "The WebSocket opening handshake was never completed! (%s)", setup_err);
    }
    res->behavior = j.behavior;
    res->behavior_close = j.close;
    snprintf(res->result, sizeof res->result, "%s", j.result);
    snprintf(res->result_close, sizeof res->result_close, "%s", j.result_close);
    res->remote_code = p->remote_code;
    res->report_time = c->count > 0 || !strncmp(c->id, "9.", 2);
    write_report(p, c, c->index, &j, res);
}

static int connect_url(const ws_uri *u, const wc_opts *o, char *err, size_t errlen)
{
    char host[256], port[8];
    struct addrinfo hints, *ai = NULL;
    snprintf(host, sizeof host, "%.*s", (int)u->host_len, u->host);
    snprintf(port, sizeof port, "%u", u->port);
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    int r = getaddrinfo(host, port, &hints, &ai);
    if (r != 0) {
        snprintf(err, errlen, "%.100s: %s", host, gai_strerror(r));
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
            continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
            snprintf(err, errlen, "connect %.100s:%s: %s", host, port, strerror(errno));
            close(fd);
            fd = -1;
            continue;
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (!wait_fd(fd, POLLOUT, now_ms() + o->setup_ms) ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr) {
            snprintf(err, errlen, "connect %.100s:%s: %s", host, port,
                     soerr ? strerror(soerr) : "timed out");
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

void wc_run_client_case(const conf_case *c, const char *url, const char *agent,
                        const wc_opts *o, wc_result *res)
{
    peer p;
    char err[256] = "";
    int opened = 0, unimpl = 0;
    ws_uri u;
    ws_handshake *hs = NULL;

    memset(res, 0, sizeof *res);
    snprintf(res->id, sizeof res->id, "%s", c->id);
    utc_now(res->started, sizeof res->started);
    if (ws_uri_parse(url, strlen(url), &u, sizeof u) != WS_OK || u.secure) {
        peer_init(&p, -1, 1, o);
        snprintf(err, sizeof err, "%s: not a ws:// URL", url);
        goto done;
    }
    int fd = connect_url(&u, o, err, sizeof err);
    peer_init(&p, fd, 1, o);
    if (fd < 0)
        goto done;
    uint8_t req[2048];
    if (ws_handshake_new(&hs, WS_ROLE_CLIENT, NULL) != WS_OK)
        die("out of memory");
    int n = ws_handshake_client_request(hs, url, strlen(url), NULL, 0, c->pmd_offer,
                                        "User-Agent: wsconform (libws)\r\n", req, sizeof req,
                                        NULL);
    if (n < 0) {
        snprintf(err, sizeof err, "client request: %s", ws_strerror(n));
        goto done;
    }
    p.http_req = dup_text(req, (size_t)n);
    if (write_all(fd, req, (size_t)n, now_ms() + o->setup_ms) != 0) {
        snprintf(err, sizeof err, "cannot send the upgrade request");
        goto done;
    }
    if (handshake_read(&p, hs, err, sizeof err) != 0)
        goto done;
    if (c->pmd_offer) {
        int r = pmd_client_setup(&p, hs, c->pmd_offer, err, sizeof err);
        if (r < 0)
            goto done;
        unimpl = r == 1;
    }
    opened = 1;
done:
    if (agent && *agent) {
        snprintf(res->agent, sizeof res->agent, "%s", agent);
    } else {
        const char *v;
        size_t vn;
        if (hs && opened && ws_handshake_header(hs, "Server", 0, &v, &vn) == WS_OK)
            snprintf(res->agent, sizeof res->agent, "%.*s", (int)vn, v);
        else
            snprintf(res->agent, sizeof res->agent, "UnknownServer");
    }
    ws_handshake_free(hs);
    run_and_judge(&p, c, opened, unimpl, opened ? NULL : err, res);
    peer_reset(&p);
}

void wc_run_server_case(const conf_case *c, int fd, ws_handshake *hs, const char *req,
                        size_t reqlen, const uint8_t *rest, size_t restlen, const char *agent,
                        const wc_opts *o, wc_result *res)
{
    peer p;
    char err[256] = "", answer[256];
    int opened = 0, unimpl = 0;

    memset(res, 0, sizeof *res);
    snprintf(res->id, sizeof res->id, "%s", c->id);
    snprintf(res->agent, sizeof res->agent, "%s", agent);
    utc_now(res->started, sizeof res->started);
    peer_init(&p, fd, 0, o);
    p.http_req = dup_text(req, reqlen);
    if (restlen > sizeof p.rbuf)
        restlen = sizeof p.rbuf;
    memcpy(p.rbuf, rest, restlen);
    p.rpend = restlen;
    int have_pmd = 0;
    if (c->pmd_accept) {
        int r = pmd_server_setup(&p, hs, c->pmd_accept, answer, sizeof answer, err, sizeof err);
        if (r < 0)
            goto done;
        unimpl = r == 1;
        have_pmd = r == 0;
    }
    uint8_t resp[1024];
    int n = ws_handshake_accept(hs, NULL, have_pmd ? answer : NULL,
                                "Server: wsconform (libws)\r\n", resp, sizeof resp, NULL);
    if (n < 0 || write_all(fd, resp, (size_t)n, now_ms() + o->setup_ms) != 0) {
        snprintf(err, sizeof err, "cannot answer the upgrade (%s)",
                 n < 0 ? ws_strerror(n) : "write failed");
        goto done;
    }
    p.http_resp = dup_text(resp, (size_t)n);
    opened = 1;
done:
    run_and_judge(&p, c, opened, unimpl, opened ? NULL : err, res);
    peer_reset(&p);
}
