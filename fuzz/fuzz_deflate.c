/*
 * Fuzz target for permessage-deflate decompression (RFC 7692) through a server connection
 * that negotiated it. The harness does the framing (masked with a zero key, RSV1 on the first
 * frame of a compressed message); the fuzzer writes the compressed payloads.
 *
 * Input: byte 0 = configuration (bits 0-1: the client's window, 15/12/9/8 bits; bit 2:
 * client_no_context_takeover; bit 3: a 1000-byte message limit; bits 4-7: frame size in
 * 16-byte units, 0 = one frame per message), then messages, each a 2-byte big-endian length,
 * a flag byte (bit 0: text, bit 1: sent uncompressed) and the payload.
 *
 * Invariants (abort on violation):
 *   - the same frames give the same messages (byte for byte) and the same ending (error and
 *     close code) whether the connection reassembles (WS_EV_MESSAGE) or streams
 *     (WS_EV_FRAGMENT chunks of at most 16 KiB);
 *   - no message is longer than the limit, text is valid UTF-8, no event follows WS_EV_CLOSE;
 *   - every close frame written carries a code allowed on the wire.
 */
#include "ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                       \
    do {                                                                               \
        if (!(c)) {                                                                    \
            fprintf(stderr, "fuzz_deflate.c:%d: invariant failed: %s\n", __LINE__, #c); \
            abort();                                                                   \
        }                                                                              \
    } while (0)

#define MAX_OUT (1u << 20) /* the transcript kept per run */

typedef struct transcript {
    uint8_t *p;      /* concatenated message bytes, each message preceded by its opcode */
    size_t n;
    size_t cur;      /* bytes of the message in progress (streaming) */
    int in_msg;      /* a streamed message has begun */
    int error;       /* the WS_EV_ERROR, 0 if none */
    int close_code;  /* of WS_EV_CLOSE, -1 if none */
    int closed;
    uint64_t limit;
} transcript;

static void add(transcript *t, const void *p, size_t n)
{
    if (n > MAX_OUT - t->n)
        n = MAX_OUT - t->n; /* both runs truncate alike */
    if (n)
        memcpy(t->p + t->n, p, n);
    t->n += n;
}

static void on_event(transcript *t, const ws_event *ev, int streaming)
{
    CHECK(!t->closed);
    switch (ev->type) {
    case WS_EV_OPEN:
    case WS_EV_PING:
    case WS_EV_PONG:
        break;
    case WS_EV_MESSAGE:
        CHECK(!streaming && ev->len <= t->limit);
        if (ev->opcode == WS_OP_TEXT) {
            ws_utf8_state u = WS_UTF8_ACCEPT;
            CHECK(ws_utf8_validate(&u, ev->data, ev->len) == ev->len && ws_utf8_complete(u));
        }
        add(t, &ev->opcode, 1);
        add(t, ev->data, ev->len);
        break;
    case WS_EV_FRAGMENT:
        CHECK(streaming && ev->len <= 16384);
        if (!t->in_msg)
            add(t, &ev->opcode, 1);
        t->in_msg = !ev->fin;
        t->cur += ev->len;
        CHECK(t->cur <= t->limit);
        add(t, ev->data, ev->len);
        if (ev->fin)
            t->cur = 0;
        break;
    case WS_EV_ERROR:
        t->error = ev->error;
        break;
    case WS_EV_CLOSE:
        t->close_code = ev->close_code;
        t->closed = 1;
        break;
    default:
        abort();
    }
}

/* Check the close frames the server wrote: it never masks, so a header parse is enough. */
static void check_output(ws_conn *c, int *saw_http)
{
    ws_iovec iov[8];
    int cnt = ws_conn_output(c, iov, 8);
    size_t total = 0;
    for (int i = 0; i < cnt; i++) {
        const uint8_t *p = iov[i].base;
        size_t n = iov[i].len;
        total += n;
        if (!*saw_http) {
            /* the 101 response comes first, in one piece at the start */
            CHECK(n >= 12 && memcmp(p, "HTTP/1.1 101", 12) == 0);
            *saw_http = 1;
            continue;
        }
        /* the queue holds whole frames (nothing is borrowed here): walk them */
        while (n > 0) {
            ws_frame_header h;
            int hl = ws_frame_parse_header(p, n, WS_FRAME_EXPECT_UNMASKED | WS_FRAME_ALLOW_RSV1,
                                           UINT64_MAX, &h, sizeof h);
            CHECK(hl > 0 && h.payload_len <= n - (size_t)hl);
            if (h.opcode == WS_OP_CLOSE && h.payload_len >= 2) {
                unsigned code = (unsigned)p[hl] << 8 | p[hl + 1];
                CHECK((code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
                      (code >= 3000 && code <= 4999));
            }
            p += (size_t)hl + (size_t)h.payload_len;
            n -= (size_t)hl + (size_t)h.payload_len;
        }
    }
    CHECK(ws_conn_output_ack(c, total) == WS_OK);
}

static void feed_all(ws_conn *c, transcript *t, uint8_t *p, size_t n, int streaming,
                     int *saw_http)
{
    size_t guard = 0;
    while (n > 0) {
        size_t used = 0;
        ws_event ev;
        CHECK(ws_conn_feed_inplace(c, p, n, &used) == WS_OK && used <= n);
        p += used;
        n -= used;
        while (ws_conn_next_event(c, &ev, sizeof ev) > 0)
            on_event(t, &ev, streaming);
        check_output(c, saw_http);
        CHECK(++guard < 1000000);
    }
}

static const uint8_t zero_key[4] = {0, 0, 0, 0};

/* Frame one message (masked with a zero key, so the payload is as given). */
static size_t put_frame(uint8_t *out, uint8_t op, int fin, int rsv1, const uint8_t *p, size_t n)
{
    ws_frame_header h;
    int hl;
    memset(&h, 0, sizeof h);
    h.opcode = op;
    h.fin = (uint8_t)fin;
    h.rsv = rsv1 ? WS_RSV1 : 0;
    h.masked = 1;
    memcpy(h.mask, zero_key, 4);
    h.payload_len = n;
    hl = ws_frame_write_header(out, WS_FRAME_MAX_HEADER, &h, sizeof h);
    CHECK(hl > 0);
    if (n)
        memcpy(out + hl, p, n);
    return (size_t)hl + n;
}

static void run(const uint8_t *data, size_t size, int streaming, transcript *t)
{
    static const unsigned bits[4] = {15, 12, 9, 8};
    unsigned cfg = data[0], wbits = bits[cfg & 3];
    size_t frag = (size_t)(cfg >> 4) * 16, pos = 1, n = 0;
    char req[512];
    uint8_t *wire = malloc(3 * size + 64);
    int saw_http = 0;
    ws_conn *c = NULL;
    ws_event ev;

    CHECK(ws_conn_new(&c, WS_ROLE_SERVER, 0, NULL) == WS_OK && wire);
    if (ws_conn_set_option(c, WS_OPT_DEFLATE, 1) != WS_OK) {
        /* built without zlib: nothing to fuzz */
        ws_conn_free(c);
        free(wire);
        return;
    }
    CHECK(ws_conn_set_option(c, WS_OPT_DEFLATE_PEER_WINDOW_BITS, wbits) == WS_OK);
    CHECK(ws_conn_set_option(c, WS_OPT_STREAMING, (uint64_t)streaming) == WS_OK);
    if (cfg & 8)
        CHECK(ws_conn_set_option(c, WS_OPT_MAX_MESSAGE_SIZE, 1000) == WS_OK);
    CHECK(ws_conn_get_option(c, WS_OPT_MAX_MESSAGE_SIZE, &t->limit) == WS_OK);
    snprintf(req, sizeof req,
             "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
             "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits%s\r\n\r\n",
             (cfg & 4) ? "; client_no_context_takeover" : "");
    {
        size_t used = 0;
        ws_deflate_params dp;
        CHECK(ws_conn_feed_inplace(c, (uint8_t *)req, strlen(req), &used) == WS_OK);
        CHECK(ws_conn_next_event(c, &ev, sizeof ev) == 1 && ev.type == WS_EV_REQUEST);
        CHECK(ws_conn_accept(c, NULL, NULL, NULL) == WS_OK);
        CHECK(ws_conn_next_event(c, &ev, sizeof ev) == 1 && ev.type == WS_EV_OPEN);
        CHECK(ws_conn_get_deflate_params(c, &dp, sizeof dp) == WS_OK);
        check_output(c, &saw_http);
    }

    /* the messages, framed */
    while (size - pos >= 3) {
        size_t len = (size_t)data[pos] << 8 | data[pos + 1];
        unsigned flags = data[pos + 2];
        uint8_t op = (flags & 1) ? WS_OP_TEXT : WS_OP_BINARY;
        int first = 1;
        pos += 3;
        if (len > size - pos)
            len = size - pos;
        const uint8_t *p = data + pos;
        size_t left = len;
        do {
            size_t k = frag && left > frag ? frag : left;
            n += put_frame(wire + n, first ? op : WS_OP_CONTINUATION, k == left,
                           first && !(flags & 2), p, k);
            p += k;
            left -= k;
            first = 0;
        } while (left > 0);
        pos += len;
    }
    n += put_frame(wire + n, WS_OP_CLOSE, 1, 0, (const uint8_t *)"\x03\xe8", 2);
    feed_all(c, t, wire, n, streaming, &saw_http);
    CHECK(ws_conn_feed_eof(c) == WS_OK);
    while (ws_conn_next_event(c, &ev, sizeof ev) > 0)
        on_event(t, &ev, streaming);
    CHECK(t->closed);
    check_output(c, &saw_http);
    ws_conn_free(c);
    free(wire);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    transcript a, b;

    if (size < 1)
        return 0;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.p = malloc(MAX_OUT);
    b.p = malloc(MAX_OUT);
    a.close_code = b.close_code = -1;
    CHECK(a.p && b.p);
    run(data, size, 0, &a);
    run(data, size, 1, &b);
    /* Streaming may have handed out the start of a message that then failed; reassembly
     * never shows it. Compare what both delivered in full, and the ending. */
    CHECK(a.error == b.error && a.close_code == b.close_code);
    if (a.error == 0) {
        CHECK(a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0));
    } else {
        CHECK(a.n <= b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0));
    }
    free(a.p);
    free(b.p);
    return 0;
}
