/*
 * The API 0.2 contract of the connection (ws.h's rules): event views that no call frees or
 * moves, read-only input the library keeps, caller structs that grow, option ranges, sized
 * allocator hooks, a pure output accessor and the deadline before the first tick.
 */
#include "conn_util.h"

/*
 * The allocator of the view tests is testutil.h's failalloc with .poison set: freed blocks are
 * filled with 0xDD first and realloc always moves, so a view into memory given back reads
 * poison, not the old bytes, even without a sanitizer; and every free and realloc is checked
 * against the block's size (a wrong one fails the test where it is passed).
 */

/* "hello world" as two masked fragments, as a client sends them. */
static void fragmented(bytes *b)
{
    peer_frame(b, WS_ROLE_SERVER, WS_OP_TEXT, 0, "hello ", 6);
    peer_frame(b, WS_ROLE_SERVER, WS_OP_CONTINUATION, 1, "world", 5);
}

static void assert_text(const ws_event *ev, const char *want)
{
    assert_int_equal(ev->type, WS_EV_MESSAGE);
    assert_int_equal(ev->len, strlen(want));
    assert_memory_equal(ev->data, want, ev->len);
}

/* ---- the use-after-free of 0.1: a timer trimmed buffers events pointed into ---- */

/* A server on a poisoning failalloc, fed "hello world" as two fragments (in place), its
 * events not taken yet. */
typedef struct viewed {
    failalloc fa;
    ws_allocator a;
    bytes in;
    ws_conn *c;
} viewed;

static void viewed_begin(viewed *v)
{
    size_t used = 0;
    memset(v, 0, sizeof *v);
    v->a = failalloc_init(&v->fa, -1, 0);
    v->fa.poison = 1;
    v->c = open_server(&v->a);
    fragmented(&v->in);
    assert_int_equal(ws_conn_feed_inplace(v->c, v->in.p, v->in.n, &used), WS_OK);
    assert_int_equal(used, v->in.n);
}

/* Free it all: every block was given back, with the size it was allocated with. */
static void viewed_end(viewed *v)
{
    ws_conn_free(v->c);
    bytes_free(&v->in);
    assert_int_equal(v->fa.live, 0);
    assert_int_equal(v->fa.bytes, 0);
}

static void test_tick_keeps_queued_event_view(void **state)
{
    viewed v;
    ws_event ev;

    (void)state;
    viewed_begin(&v);
    /* A timer fires before the loop drained the events: past the quiet second. */
    assert_int_equal(ws_conn_tick(v.c, 5000), WS_OK);
    assert_int_equal(ws_conn_next_event(v.c, &ev, sizeof ev), 1);
    assert_text(&ev, "hello world");
    assert_int_equal(ev.flags & WS_EVF_IN_INPUT, 0); /* reassembled: the library's memory */
    viewed_end(&v);
}

static void test_calls_keep_last_event_view(void **state)
{
    viewed v;
    ws_event ev;
    ws_iovec iov[4];

    (void)state;
    viewed_begin(&v);
    ws_conn *c = v.c;
    assert_int_equal(ws_conn_next_event(c, &ev, sizeof ev), 1);
    assert_text(&ev, "hello world");
    /* Everything but next_event / feed / free keeps the view alive. */
    assert_int_equal(ws_conn_tick(c, 5000), WS_OK);
    assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "x", 1, 0), WS_OK);
    assert_int_equal(ws_conn_ping(c, "p", 1), WS_OK);
    assert_true(ws_conn_output(c, iov, 4) > 0);
    assert_int_equal(ws_conn_output_ack(c, ws_conn_buffered_amount(c)), WS_OK);
    assert_int_equal(ws_conn_tick(c, 9000), WS_OK);
    assert_int_equal(ws_conn_close(c, WS_CLOSE_NORMAL, "bye", 3), WS_OK);
    assert_int_equal(ws_conn_feed_eof(c), WS_OK);
    assert_int_equal(ws_conn_tick(c, 20000), WS_OK);
    assert_text(&ev, "hello world");
    /* Once the events are taken, the quiet second gives the buffers back after all. */
    while (ws_conn_next_event(c, &ev, sizeof ev) > 0)
        ;
    viewed_end(&v);
}

static void test_quiet_connection_still_trims(void **state)
{
    viewed v;
    ws_event ev;

    (void)state;
    viewed_begin(&v);
    assert_int_equal(ws_conn_next_event(v.c, &ev, sizeof ev), 1);
    assert_int_equal(ws_conn_next_event(v.c, &ev, sizeof ev), 0); /* the view ends here */
    size_t before = v.fa.bytes;
    assert_int_equal(ws_conn_tick(v.c, 5000), WS_OK);
    assert_true(v.fa.bytes < before); /* the reassembly buffer went back */
    viewed_end(&v);
}

/* ---- read-only input ---- */

static const char request[] = "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n";

/* Request and two messages in one read-only buffer, fed in pieces of `chunk` bytes. */
static void const_feed_session(size_t chunk)
{
    bytes in = {0};
    size_t n, pos = 0;
    ws_conn *c = NULL;
    ws_event ev;
    int got_request = 0, messages = 0, open = 0;

    bytes_append(&in, request, strlen(request));
    peer_frame(&in, WS_ROLE_SERVER, WS_OP_TEXT, 1, "one", 3);
    fragmented(&in);
    const uint8_t *wire = in.p;
    n = in.n;
    assert_int_equal(ws_conn_new(&c, WS_ROLE_SERVER, 0, NULL), WS_OK);
    assert_int_equal(ws_conn_tick(c, 0), WS_OK);
    while (pos < n || ws_conn_next_event(c, &ev, sizeof ev) > 0) {
        if (pos < n) {
            size_t k = n - pos < chunk ? n - pos : chunk, taken = 0;
            const uint8_t *ro = wire + pos;
            assert_int_equal(ws_conn_feed(c, ro, k, &taken), WS_OK);
            assert_int_equal(taken, k); /* the library keeps what waits */
            pos += k;
            continue;
        }
        if (ev.type == WS_EV_REQUEST) {
            got_request++;
            assert_int_equal(ws_conn_accept(c, NULL, WS_EXTENSIONS_NONE, NULL), WS_OK);
        } else if (ev.type == WS_EV_OPEN) {
            open++;
        } else if (ev.type == WS_EV_MESSAGE) {
            assert_int_equal(ev.flags & WS_EVF_IN_INPUT, 0);
            if (messages++ == 0)
                assert_text(&ev, "one");
            else
                assert_text(&ev, "hello world");
        }
    }
    /* Events of bytes fed while the request waited for its answer come after accept. */
    while (ws_conn_next_event(c, &ev, sizeof ev) > 0)
        if (ev.type == WS_EV_MESSAGE)
            messages++;
    assert_int_equal(got_request, 1);
    assert_int_equal(open, 1);
    assert_int_equal(messages, 2);
    ws_conn_free(c);
    bytes_free(&in);
}

/* A timer that ends the connection while WS_EV_REQUEST waits: the request can no longer be
 * accepted, and nothing follows the CLOSE event. */
static void test_request_outlived_by_timeout(void **state)
{
    ws_conn *c = NULL;
    ws_event ev;
    size_t taken;
    int closes = 0;

    (void)state;
    assert_int_equal(ws_conn_new(&c, WS_ROLE_SERVER, 0, NULL), WS_OK);
    assert_int_equal(ws_conn_tick(c, 0), WS_OK);
    assert_int_equal(ws_conn_feed(c, request, strlen(request), &taken), WS_OK);
    assert_int_equal(ws_conn_tick(c, WS_DEFAULT_HANDSHAKE_TIMEOUT), WS_OK);
    assert_int_equal(ws_conn_next_event(c, &ev, sizeof ev), 1);
    assert_int_equal(ev.type, WS_EV_REQUEST);
    assert_int_equal(ws_conn_accept(c, NULL, NULL, NULL), WS_ERR_STATE);
    assert_int_equal(ws_conn_reject(c, 503, NULL, NULL, NULL, 0), WS_ERR_STATE);
    while (ws_conn_next_event(c, &ev, sizeof ev) > 0) {
        assert_int_equal(closes, 0); /* the CLOSE event is the last */
        if (ev.type == WS_EV_CLOSE)
            closes++;
    }
    assert_int_equal(closes, 1);
    ws_conn_free(c);
}

static void test_const_feed_whole(void **state)
{
    (void)state;
    const_feed_session(4096);
}

static void test_const_feed_byte_at_a_time(void **state)
{
    (void)state;
    const_feed_session(1);
}

static void test_client_feed_before_start(void **state)
{
    ws_conn *c = NULL;
    size_t taken = 9;

    (void)state;
    assert_int_equal(ws_conn_new(&c, WS_ROLE_CLIENT, 0, NULL), WS_OK);
    assert_int_equal(ws_conn_feed(c, "HTTP/1.1", 8, &taken), WS_ERR_STATE);
    assert_int_equal(taken, 0);
    assert_int_equal(ws_conn_feed_inplace(c, (uint8_t *)"x", 0, &taken), WS_ERR_STATE);
    ws_conn_free(c);
}

static void test_const_feed_bounded(void **state)
{
    bytes in = {0};
    size_t n, pos = 0, messages = 0;
    ws_conn *c = open_server(NULL);
    ws_event ev;

    (void)state;
    for (int i = 0; i < 254; i++) /* 16 bytes each */
        peer_frame(&in, WS_ROLE_SERVER, WS_OP_BINARY, 1, "0123456789", 10);
    const uint8_t *wire = in.p;
    n = in.n;
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_INPUT_BUFFER, 0), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_INPUT_BUFFER, 40), WS_OK);
    while (pos < n) {
        size_t taken = 0;
        assert_int_equal(ws_conn_feed(c, wire + pos, n - pos, &taken), WS_OK);
        assert_true(taken <= 40); /* never more kept than the bound */
        pos += taken;
        while (ws_conn_next_event(c, &ev, sizeof ev) > 0) {
            assert_int_equal(ev.len, 10);
            messages++;
        }
    }
    assert_int_equal(n, 254 * 16);
    assert_int_equal(messages, 254);
    ws_conn_free(c);
    bytes_free(&in);
}

static void test_inplace_views_flagged(void **state)
{
    ws_conn *c = open_server(NULL);
    bytes in = {0};
    size_t used = 0;
    ws_event ev;

    (void)state;
    peer_frame(&in, WS_ROLE_SERVER, WS_OP_TEXT, 1, "zero copy", 9);
    assert_int_equal(ws_conn_feed_inplace(c, in.p, in.n, &used), WS_OK);
    assert_int_equal(ws_conn_next_event(c, &ev, sizeof ev), 1);
    assert_text(&ev, "zero copy");
    assert_int_equal(ev.flags, WS_EVF_IN_INPUT);
    assert_true(ev.data >= in.p && ev.data < in.p + in.n);
    ws_conn_free(c);
    bytes_free(&in);
}

/* ---- caller structs that grow (rule 4) ---- */

#define GUARD 0xAAu
/* The 0.2 layout of a struct ends at its last field (tail padding is not needed). */
#define END_OF(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* Every byte of p[from..to) is the guard. */
static void assert_guard(const uint8_t *p, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        assert_int_equal(p[i], GUARD);
}

static void test_event_size_rules(void **state)
{
    ws_conn *c = open_server(NULL);
    uint8_t buf[sizeof(ws_event) + 32];
    bytes in = {0};
    size_t used = 0;

    (void)state;
    peer_frame(&in, WS_ROLE_SERVER, WS_OP_TEXT, 1, "a", 1);
    assert_int_equal(ws_conn_feed_inplace(c, in.p, in.n, &used), WS_OK);
    /* Smaller than the 0.2 layout: refused, nothing written, the event stays queued. */
    memset(buf, GUARD, sizeof buf);
    assert_int_equal(ws_conn_next_event(c, (ws_event *)(void *)buf, sizeof(ws_event) - 1),
                     WS_ERR_INVALID_ARG);
    assert_guard(buf, 0, sizeof buf);
    /* A newer caller's larger struct: what the library does not know is zeroed, no byte
     * past the given size is touched. */
    memset(buf, GUARD, sizeof buf);
    assert_int_equal(ws_conn_next_event(c, (ws_event *)(void *)buf, sizeof(ws_event) + 16), 1);
    for (size_t i = sizeof(ws_event); i < sizeof(ws_event) + 16; i++)
        assert_int_equal(buf[i], 0);
    assert_guard(buf, sizeof(ws_event) + 16, sizeof buf);
    assert_int_equal(((ws_event *)(void *)buf)->type, WS_EV_MESSAGE);
    ws_conn_free(c);
    bytes_free(&in);
}

static void test_struct_sizes_everywhere(void **state)
{
    uint8_t buf[256], frame[16] = {0x81, 0x01, 'x'};
    ws_conn *c = open_server(NULL);
    ws_frame_decoder *d = NULL;
    size_t used;

    (void)state;
    /* Each call: too small is refused untouched; exact size leaves the rest untouched. */
    memset(buf, GUARD, sizeof buf);
    assert_int_equal(ws_frame_parse_header(frame, 3, 0, UINT64_MAX, (void *)buf,
                                           END_OF(ws_frame_header, violations) - 1),
                     WS_ERR_INVALID_ARG);
    assert_guard(buf, 0, sizeof buf);
    assert_int_equal(ws_frame_parse_header(frame, 3, 0, UINT64_MAX, (void *)buf,
                                           sizeof(ws_frame_header)),
                     2);
    assert_guard(buf, sizeof(ws_frame_header), sizeof buf);

    memset(buf, GUARD, sizeof buf);
    assert_int_equal(ws_uri_parse("ws://h/", 7, (void *)buf, END_OF(ws_uri, ipv6) - 1),
                     WS_ERR_INVALID_ARG);
    assert_guard(buf, 0, sizeof buf);
    assert_int_equal(ws_uri_parse("ws://h/", 7, (void *)buf, sizeof(ws_uri)), WS_OK);
    assert_guard(buf, sizeof(ws_uri), sizeof buf);

    memset(buf, GUARD, sizeof buf);
    assert_int_equal(ws_conn_get_stats(c, (void *)buf, END_OF(ws_conn_stats, closed_by_peer) - 1),
                     WS_ERR_INVALID_ARG);
    assert_guard(buf, 0, sizeof buf);
    assert_int_equal(ws_conn_get_stats(c, (void *)buf, sizeof(ws_conn_stats)), WS_OK);
    assert_guard(buf, sizeof(ws_conn_stats), sizeof buf);

    memset(buf, GUARD, sizeof buf);
    assert_int_equal(ws_conn_get_deflate_params(c, (void *)buf, END_OF(ws_deflate_params, client_max_window_bits) - 1),
                     WS_ERR_INVALID_ARG);
    assert_guard(buf, 0, sizeof buf);
    assert_int_equal(ws_conn_get_deflate_params(c, (void *)buf, sizeof(ws_deflate_params)),
                     WS_ERR_NOT_FOUND);
    assert_guard(buf, sizeof(ws_deflate_params), sizeof buf);

    memset(buf, GUARD, sizeof buf);
    assert_int_equal(ws_backoff_init((void *)buf, END_OF(ws_backoff, connected_at) - 1, 1, 2, 3),
                     WS_ERR_INVALID_ARG);
    assert_guard(buf, 0, sizeof buf);
    assert_int_equal(ws_backoff_init((void *)buf, sizeof(ws_backoff), 1, 2, 3), WS_OK);
    assert_guard(buf, sizeof(ws_backoff), sizeof buf);
    assert_int_equal(((ws_backoff *)(void *)buf)->size, sizeof(ws_backoff));

    assert_int_equal(ws_frame_decoder_new(&d, NULL), WS_OK);
    memset(buf, GUARD, sizeof buf);
    assert_int_equal(ws_frame_decoder_feed(d, frame, 3, &used, (void *)buf,
                                           END_OF(ws_frame_event, offset) - 1),
                     WS_ERR_INVALID_ARG);
    assert_guard(buf, 0, sizeof buf);
    assert_int_equal(ws_frame_decoder_feed(d, frame, 3, &used, (void *)buf,
                                           sizeof(ws_frame_event)),
                     WS_OK);
    assert_guard(buf, sizeof(ws_frame_event), sizeof buf);
    assert_int_equal(((ws_frame_event *)(void *)buf)->header->opcode, WS_OP_TEXT);
    ws_frame_decoder_free(d);

    /* A header read from the caller: a smaller one is refused. */
    ws_frame_header h;
    memset(&h, 0, sizeof h);
    h.opcode = WS_OP_TEXT;
    h.fin = 1;
    assert_int_equal(ws_frame_write_header(buf, sizeof buf, &h, END_OF(ws_frame_header, violations) - 1),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_write_header(buf, sizeof buf, &h, sizeof h), 2);

    /* An allocator struct smaller than the 0.2 layout, or without free, is refused. */
    ws_allocator a;
    ws_conn *c2 = NULL;
    failalloc fa;
    a = failalloc_init(&fa, -1, 0);
    a.size = sizeof a - 1;
    assert_int_equal(conn_new_with(&c2, WS_ROLE_SERVER, 0, &a), WS_ERR_INVALID_ARG);
    assert_null(c2);
    a = failalloc_init(&fa, -1, 0);
    a.free = NULL;
    assert_int_equal(conn_new_with(&c2, WS_ROLE_SERVER, 0, &a), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_new(&c2, 7, 0, NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_new(&c2, WS_ROLE_SERVER, 0x80, NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_new(NULL, WS_ROLE_SERVER, 0, NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(fa.calls, 0); /* refused before anything was allocated */
    ws_conn_free(c);
}

/* ---- options: ranges, specific errors, unambiguous reads ---- */

static void test_option_ranges(void **state)
{
    ws_conn *c = open_server(NULL);
    uint64_t v = 0;

    (void)state;
    assert_int_equal(ws_conn_set_option(c, WS_OPT_HANDSHAKE_TIMEOUT, (uint64_t)1 << 40),
                     WS_ERR_RANGE);
    assert_int_equal(ws_conn_get_option(c, WS_OPT_HANDSHAKE_TIMEOUT, &v), WS_OK);
    assert_int_equal(v, WS_DEFAULT_HANDSHAKE_TIMEOUT); /* unchanged by the refusal */
    assert_int_equal(ws_conn_set_option(c, WS_OPT_HANDSHAKE_TIMEOUT, WS_MAX_TIMEOUT), WS_OK);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_FRAGMENT_SIZE, (uint64_t)1 << 33),
                     WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_FRAGMENT_SIZE, WS_MAX_FRAGMENT_SIZE), WS_OK);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_AUTO_PONG, 2), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_POLICY, 3), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_MESSAGE_SIZE, 0), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_MESSAGE_SIZE, UINT64_MAX), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_DEFLATE_LEVEL, 10), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, 999, 1), WS_ERR_OPTION);
    /* An unknown option is an error, not a value that could also be a real one. */
    v = 42;
    assert_int_equal(ws_conn_get_option(c, 999, &v), WS_ERR_OPTION);
    assert_int_equal(v, 42);
    assert_int_equal(ws_conn_get_option(c, WS_OPT_MAX_MESSAGE_SIZE, NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_get_option(c, WS_OPT_MAX_MESSAGE_SIZE, &v), WS_OK);
    assert_int_equal(v, WS_DEFAULT_MAX_MESSAGE_SIZE);
    assert_int_equal(ws_conn_get_option(c, WS_OPT_MAX_INPUT_BUFFER, &v), WS_OK);
    assert_int_equal(v, WS_DEFAULT_MAX_INPUT_BUFFER);
    /* The last option too: its default, then what was set. */
    assert_int_equal(ws_conn_get_option(c, WS_OPT_BORROW_MIN_SIZE, &v), WS_OK);
    assert_int_equal(v, WS_DEFAULT_BORROW_MIN_SIZE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_BORROW_MIN_SIZE, 64), WS_OK);
    assert_int_equal(ws_conn_get_option(c, WS_OPT_BORROW_MIN_SIZE, &v), WS_OK);
    assert_int_equal(v, 64);
    ws_conn_free(c);
}

static void test_deadline_before_first_tick(void **state)
{
    ws_conn *c = NULL;

    (void)state;
    assert_int_equal(ws_conn_new(&c, WS_ROLE_SERVER, 0, NULL), WS_OK);
    assert_true(ws_conn_next_deadline(c) == WS_DEADLINE_NONE);
    /* A monotonic clock far from 0: the handshake deadline counts from it, not from 0. */
    assert_int_equal(ws_conn_tick(c, 5000000), WS_OK);
    assert_true(ws_conn_next_deadline(c) == 5000000 + WS_DEFAULT_HANDSHAKE_TIMEOUT);
    ws_conn_free(c);
}

/* ---- output is a pure accessor; a held-back pong leaves on ack ---- */

static void test_output_is_pure(void **state)
{
    ws_conn *c = open_server(NULL);
    bytes in = {0};
    size_t used = 0;
    ws_iovec a[4], b[4];
    ws_event ev;

    (void)state;
    assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_HIGH_WATER, 12), WS_OK);
    assert_int_equal(ws_conn_send(c, WS_OP_BINARY, "0123456789", 10, 0), WS_OK);
    peer_frame(&in, WS_ROLE_SERVER, WS_OP_PING, 1, "pi", 2);
    assert_int_equal(ws_conn_feed_inplace(c, in.p, in.n, &used), WS_OK);
    while (ws_conn_next_event(c, &ev, sizeof ev) > 0)
        ;
    size_t queued = ws_conn_buffered_amount(c); /* 12 bytes of message + the owed pong */
    int k = ws_conn_output(c, a, 4);
    assert_int_equal(ws_conn_output(c, b, 4), k);
    assert_memory_equal(a, b, (size_t)k * sizeof a[0]);
    assert_int_equal(ws_conn_buffered_amount(c), queued);
    assert_int_equal(a[0].len, 12); /* the pong waits: the queue is above the mark */
    assert_int_equal(ws_conn_output(c, NULL, 1), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_output(c, a, -1), WS_ERR_INVALID_ARG);
    /* Room for no piece: no piece, not an error (with or without an array). */
    assert_int_equal(ws_conn_output(c, a, 0), 0);
    assert_int_equal(ws_conn_output(c, NULL, 0), 0);
    /* More than is queued cannot have been written: refused, nothing counted or dropped. */
    ws_conn_stats st;
    assert_int_equal(ws_conn_output_ack(c, 13), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_output_ack(NULL, 0), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_get_stats(c, &st, sizeof st), WS_OK);
    assert_int_equal(st.bytes_out, 0);
    assert_int_equal(ws_conn_buffered_amount(c), queued);
    assert_int_equal(ws_conn_output_ack(c, 12), WS_OK);
    k = ws_conn_output(c, a, 4);
    assert_int_equal(k, 1);
    assert_int_equal(a[0].len, 4);
    assert_int_equal(a[0].base[0], 0x8A); /* the pong, queued by the ack */
    ws_conn_free(c);
    bytes_free(&in);
}

/* A batch's views (ws_conn_next_events) live until the next call, whatever a tick does: a
 * message reassembled from fragments, shown in the connection's own buffer, stays intact
 * through a quiet second (freed blocks are poisoned here); once a call returns nothing, the
 * quiet second gives the buffers back. */
static void test_batch_views_survive_quiet_second(void **state)
{
    (void)state;
    failalloc fa;
    ws_allocator a = failalloc_init(&fa, -1, 0);
    fa.poison = 1;
    ws_conn *c = open_server(&a);
    size_t idle = ws_conn_memory(c);
    bytes in = {0};
    uint8_t msg[3000];
    size_t used = 0;
    test_fill(msg, sizeof msg, 5);
    peer_frame(&in, WS_ROLE_SERVER, WS_OP_BINARY, 0, msg, 1000);
    peer_frame(&in, WS_ROLE_SERVER, WS_OP_CONTINUATION, 1, msg + 1000, 2000);
    assert_int_equal(ws_conn_feed(c, in.p, in.n, &used), WS_OK);
    ws_event evs[4];
    assert_int_equal(ws_conn_next_events(c, evs, 4, sizeof evs[0]), 1);
    assert_int_equal(evs[0].type, WS_EV_MESSAGE);
    assert_int_equal(ws_conn_tick(c, 5000), WS_OK);
    assert_int_equal(evs[0].len, sizeof msg);
    assert_memory_equal(evs[0].data, msg, sizeof msg);
    assert_int_equal(ws_conn_next_events(c, evs, 4, sizeof evs[0]), 0);
    assert_int_equal(ws_conn_tick(c, 9000), WS_OK);
    assert_true(ws_conn_memory(c) <= idle);
    ws_conn_free(c);
    bytes_free(&in);
    assert_int_equal(fa.live, 0);
}

/* An event's reserved bytes are zero (a later version may give them a meaning), on the fast
 * path for small whole messages too. */
static void test_event_reserved_zero(void **state)
{
    (void)state;
    ws_conn *c = open_server(NULL);
    bytes in = {0};
    size_t used = 0;
    ws_event ev;
    for (int i = 0; i < 3; i++) {
        in.n = 0;
        peer_frame(&in, WS_ROLE_SERVER, i == 1 ? WS_OP_BINARY : WS_OP_TEXT, 1, "hello", 5);
        assert_int_equal(ws_conn_feed_inplace(c, in.p, in.n, &used), WS_OK);
        assert_int_equal(used, in.n);
        memset(&ev, 0xEE, sizeof ev);
        assert_int_equal(ws_conn_next_event(c, &ev, sizeof ev), 1);
        assert_int_equal(ev.type, WS_EV_MESSAGE);
        assert_int_equal(ev.reserved_[0], 0);
        assert_int_equal(ev.reserved_[1], 0);
    }
    ws_conn_free(c);
    bytes_free(&in);
}

/* ---- the allocator contract: sizes on free and realloc ---- */

/* failalloc fails the test at the first free or realloc given a size other than the block's
 * (and at a block written past its end); the sizes asked for are checked against the bytes
 * still held. */
static void test_allocator_gets_sizes(void **state)
{
    failalloc fa;
    ws_allocator a = failalloc_init(&fa, -1, 0);
    bytes in = {0};
    size_t used;
    ws_event ev;

    (void)state;
    fa.poison = 1;
    ws_conn *c = open_server(&a);
    /* A message fragmented in many pieces grows the reassembly buffer through realloc. */
    for (int i = 0; i < 200; i++)
        peer_frame(&in, WS_ROLE_SERVER, i ? WS_OP_CONTINUATION : WS_OP_BINARY, i == 199,
                   "0123456789abcdefghij", 20);
    assert_int_equal(ws_conn_feed(c, in.p, in.n, &used), WS_OK);
    assert_int_equal(used, in.n);
    assert_int_equal(ws_conn_next_event(c, &ev, sizeof ev), 1);
    assert_int_equal(ev.len, 4000);
    assert_true(fa.reallocs > 0);
    assert_true(fa.biggest >= 4000); /* the whole message was held in one block */
    assert_int_equal(ws_conn_next_event(c, &ev, sizeof ev), 0);
    assert_int_equal(ws_conn_tick(c, 10000), WS_OK); /* quiet: buffers go back */
    ws_conn_free(c);
    bytes_free(&in);
    assert_int_equal(fa.live, 0);
    assert_int_equal(fa.bytes, 0);
}

/* ---- protocol constants ---- */

static void test_close_code_helpers(void **state)
{
    (void)state;
    assert_true(ws_close_code_valid(WS_CLOSE_NORMAL));
    assert_true(ws_close_code_valid(WS_CLOSE_UNSUPPORTED_DATA));
    assert_false(ws_close_code_valid(1004));
    assert_false(ws_close_code_valid(WS_CLOSE_NO_STATUS));
    assert_false(ws_close_code_valid(WS_CLOSE_ABNORMAL));
    assert_true(ws_close_code_valid(WS_CLOSE_INVALID_PAYLOAD));
    assert_true(ws_close_code_valid(WS_CLOSE_BAD_GATEWAY));
    assert_false(ws_close_code_valid(WS_CLOSE_TLS_HANDSHAKE));
    assert_false(ws_close_code_valid(2999));
    assert_true(ws_close_code_valid(WS_CLOSE_REGISTERED_MIN));
    assert_true(ws_close_code_valid(WS_CLOSE_PRIVATE_MAX));
    assert_false(ws_close_code_valid(5000));
    assert_int_equal(ws_close_code_for_error(WS_ERR_MESSAGE_TOO_BIG), 1009);
    assert_int_equal(ws_close_code_for_error(WS_ERR_FRAME_TOO_LARGE), 1009);
    assert_int_equal(ws_close_code_for_error(WS_ERR_INVALID_UTF8), 1007);
    assert_int_equal(ws_close_code_for_error(WS_ERR_DEFLATE_DATA), 1007);
    assert_int_equal(ws_close_code_for_error(WS_ERR_DATA_TYPE), 1003);
    assert_int_equal(ws_close_code_for_error(WS_ERR_NOMEM), 1011);
    assert_int_equal(ws_close_code_for_error(WS_ERR_FRAME_RSV), 1002);
    assert_int_equal(ws_close_code_for_error(WS_ERR_UNEXPECTED_CONTINUATION), 1002);
}

static int key_rng(void *user, void *buf, size_t n)
{
    memset(buf, *(const uint8_t *)user, n);
    return 0;
}

/* A configuration is shared (one copy of the options for many connections), frozen while in
 * use, reference counted, and a connection that changes an option of its own takes a copy. */
static void test_config_shared_frozen_counted(void **state)
{
    (void)state;
    failalloc fa;
    ws_allocator a = failalloc_init(&fa, -1, 0);
    ws_config *cfg = NULL;
    uint64_t v = 0;

    assert_int_equal(ws_config_new(NULL, &a), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_config_new(&cfg, &a), WS_OK);
    assert_int_equal(fa.live, 1);
    /* The defaults, as a connection without a configuration has them. */
    assert_int_equal(ws_config_get_option(cfg, WS_OPT_MAX_MESSAGE_SIZE, &v), WS_OK);
    assert_int_equal(v, WS_DEFAULT_MAX_MESSAGE_SIZE);
    assert_int_equal(ws_config_get_option(cfg, WS_OPT_AUTO_PONG, &v), WS_OK);
    assert_int_equal(v, 1);
    assert_int_equal(ws_config_get_option(cfg, 999, &v), WS_ERR_OPTION);
    assert_int_equal(ws_config_get_option(NULL, WS_OPT_AUTO_PONG, &v), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_config_get_option(cfg, WS_OPT_AUTO_PONG, NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_config_set_option(NULL, WS_OPT_AUTO_PONG, 0), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_config_set_option(cfg, 999, 0), WS_ERR_OPTION);
    assert_int_equal(ws_config_set_option(cfg, WS_OPT_AUTO_PONG, 2), WS_ERR_RANGE);
    assert_int_equal(ws_config_set_option(cfg, WS_OPT_MAX_MESSAGE_SIZE, 100), WS_OK);
    assert_int_equal(ws_config_set_option(cfg, WS_OPT_PING_INTERVAL, 5000), WS_OK);
    assert_int_equal(ws_config_set_random(NULL, NULL, NULL), WS_ERR_INVALID_ARG);
    uint8_t key = 0xA5;
    assert_int_equal(ws_config_set_random(cfg, key_rng, &key), WS_OK);

    /* Two connections share it: what they hold beyond themselves is nothing. */
    ws_conn *c1 = NULL, *c2 = NULL, *cl = NULL;
    assert_int_equal(ws_conn_new(&c1, WS_ROLE_SERVER, WS_CONN_OPEN, cfg), WS_OK);
    assert_int_equal(ws_conn_new(&c2, WS_ROLE_SERVER, WS_CONN_OPEN, cfg), WS_OK);
    /* the configuration, the two connections and their traffic states (their OPEN events
     * wait to be taken) */
    assert_int_equal(fa.live, 5);
    uint64_t base = ws_conn_memory(c1);
    assert_int_equal(ws_conn_memory(c2), base);
    assert_int_equal(ws_conn_get_option(c1, WS_OPT_MAX_MESSAGE_SIZE, &v), WS_OK);
    assert_int_equal(v, 100);
    assert_int_equal(ws_conn_get_option(c2, WS_OPT_MAX_FRAME_SIZE, &v), WS_OK);
    assert_int_equal(v, 100); /* lowered with the message limit */
    /* Frozen while used. */
    assert_int_equal(ws_config_set_option(cfg, WS_OPT_MAX_MESSAGE_SIZE, 200), WS_ERR_STATE);
    assert_int_equal(ws_config_set_option(cfg, WS_OPT_DEFLATE, 0), WS_ERR_STATE);
    assert_int_equal(ws_config_set_random(cfg, NULL, NULL), WS_ERR_STATE);
    assert_int_equal(ws_config_get_option(cfg, WS_OPT_MAX_MESSAGE_SIZE, &v), WS_OK);
    assert_int_equal(v, 100);

    /* The limit is the configuration's: 101 bytes is 1009 on both connections. */
    uint8_t big[101];
    memset(big, 'a', sizeof big);
    bytes in = {0};
    ev_log l = {0};
    peer_frame(&in, WS_ROLE_SERVER, WS_OP_BINARY, 1, big, sizeof big);
    assert_int_equal(feed_const(c2, &l, in.p, in.n, 0), WS_OK);
    assert_non_null(log_find(&l, WS_EV_ERROR, 0));
    assert_int_equal(ws_close_code_for_error(log_find(&l, WS_EV_ERROR, 0)->error), 1009);

    /* Setting a value it has already copies nothing; a new value takes a copy, counted, and
     * changes that connection only. */
    assert_int_equal(ws_conn_set_option(c1, WS_OPT_PING_INTERVAL, 5000), WS_OK);
    assert_int_equal(ws_conn_memory(c1), base);
    assert_int_equal(ws_conn_set_option(c1, WS_OPT_AUTO_PONG, 2), WS_ERR_RANGE);
    assert_int_equal(ws_conn_memory(c1), base); /* a bad value copies nothing either */
    long blocks = fa.live;
    assert_int_equal(ws_conn_set_option(c1, WS_OPT_PING_INTERVAL, 0), WS_OK);
    assert_true(ws_conn_memory(c1) > base);
    assert_int_equal(fa.live, blocks + 1);
    assert_int_equal(ws_conn_set_option(c1, WS_OPT_PONG_TIMEOUT, 1), WS_OK); /* same copy */
    assert_int_equal(fa.live, blocks + 1);
    assert_int_equal(ws_conn_get_option(c1, WS_OPT_PING_INTERVAL, &v), WS_OK);
    assert_int_equal(v, 0);
    assert_int_equal(ws_conn_get_option(c1, WS_OPT_MAX_MESSAGE_SIZE, &v), WS_OK);
    assert_int_equal(v, 100); /* the rest copied */
    assert_int_equal(ws_config_get_option(cfg, WS_OPT_PING_INTERVAL, &v), WS_OK);
    assert_int_equal(v, 5000);
    assert_int_equal(ws_conn_tick(c1, 1000), WS_OK);
    ws_conn *c3 = NULL;
    assert_int_equal(ws_conn_new(&c3, WS_ROLE_SERVER, WS_CONN_OPEN, cfg), WS_OK);
    assert_int_equal(ws_conn_tick(c3, 1000), WS_OK);
    assert_int_equal(ws_conn_next_deadline(c3), 6000); /* the others still ping at 5 s */
    assert_true(ws_conn_next_deadline(c1) != 6000);    /* c1 does not */
    ws_conn_free(c3);

    /* The configuration's random hook makes a client's masking keys. */
    assert_int_equal(ws_conn_new(&cl, WS_ROLE_CLIENT, WS_CONN_OPEN, cfg), WS_OK);
    assert_int_equal(ws_conn_send(cl, WS_OP_BINARY, "x", 1, 0), WS_OK);
    ws_iovec iov[2];
    assert_int_equal(ws_conn_output(cl, iov, 2), 1);
    assert_true(iov[0].len >= 7);
    const uint8_t *o = iov[0].base;
    assert_int_equal(o[2], 0xA5);
    assert_int_equal(o[5], 0xA5);

    /* The caller lets go first: the last connection frees it. */
    ws_config_free(cfg);
    ws_conn_free(c2);
    assert_true(fa.live >= 4); /* cfg, c1 + its copy, cl and cl's output */
    ws_conn_free(cl); /* cfg's last user (c1 left it for its copy): cfg goes with it */
    assert_int_equal(fa.live, 3); /* c1, its copy and its traffic state */
    ws_conn_free(c1);
    assert_int_equal(fa.live, 0);
    ws_config_free(NULL);
    bytes_free(&in);
    log_free(&l);

    /* Deflate options reach the connections made with it. */
    assert_int_equal(ws_config_new(&cfg, NULL), WS_OK);
    assert_int_equal(ws_config_set_option(cfg, WS_OPT_DEFLATE_THRESHOLD, 7), WS_OK);
    assert_int_equal(ws_config_set_option(cfg, WS_OPT_DEFLATE_PEER_WINDOW_BITS, 16), WS_ERR_RANGE);
    assert_int_equal(ws_config_get_option(cfg, WS_OPT_DEFLATE_THRESHOLD, &v), WS_OK);
    assert_int_equal(v, 7);
    assert_int_equal(ws_conn_new(&c1, WS_ROLE_CLIENT, 0, cfg), WS_OK);
    ws_config_free(cfg);
    assert_int_equal(ws_conn_get_option(c1, WS_OPT_DEFLATE_THRESHOLD, &v), WS_OK);
    assert_int_equal(v, 7);
    ws_conn_free(c1);
}

/* A connection's copy of its configuration obeys its memory bounds: refused, it reports
 * WS_ERR_BUDGET (the bound), or WS_ERR_NOMEM (the allocator), and nothing changes. */
static void test_config_copy_bounded(void **state)
{
    (void)state;
    ws_config *cfg = NULL;
    ws_conn *c = NULL;
    uint64_t v = 0;
    assert_int_equal(ws_config_new(&cfg, NULL), WS_OK);
    assert_int_equal(ws_config_set_option(cfg, WS_OPT_MEMORY_LIMIT, 16), WS_OK);
    /* (not created open: its OPEN event would need more than 16 bytes) */
    assert_int_equal(ws_conn_new(&c, WS_ROLE_SERVER, 0, cfg), WS_OK);
    ws_config_free(cfg);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_PING_INTERVAL, 10), WS_ERR_BUDGET);
    assert_int_equal(ws_conn_set_random(c, key_rng, NULL), WS_ERR_BUDGET);
    assert_int_equal(ws_conn_get_option(c, WS_OPT_PING_INTERVAL, &v), WS_OK);
    assert_int_equal(v, 0);
    assert_int_equal(ws_conn_memory(c), 0);
    ws_conn_free(c);

    failalloc fa;
    ws_allocator a = failalloc_init(&fa, 2, 0); /* config, connection, then the copy fails */
    assert_int_equal(ws_config_new(&cfg, &a), WS_OK);
    assert_int_equal(ws_conn_new(&c, WS_ROLE_SERVER, 0, cfg), WS_OK);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_STREAMING, 1), WS_ERR_NOMEM);
    assert_int_equal(ws_conn_get_option(c, WS_OPT_STREAMING, &v), WS_OK);
    assert_int_equal(v, 0);
    ws_conn_free(c);
    assert_int_equal(fa.live, 1); /* the caller still holds cfg */
    ws_config_free(cfg);
    assert_int_equal(fa.live, 0);
}

/* Input fed before the first event is taken (the OPEN of a connection created open) is
 * kept, not refused: it was WS_ERR_NOMEM, from a buffer not made while an event waited. */
static void test_feed_before_open_taken(void **state)
{
    (void)state;
    ws_conn *c = NULL;
    ws_event e;
    uint8_t f[16] = {0x82, 0x80 | 10, 1, 2, 3, 4};
    for (int i = 0; i < 10; i++)
        f[6 + i] = (uint8_t)('a' ^ f[2 + i % 4]);
    assert_int_equal(ws_conn_new(&c, WS_ROLE_SERVER, WS_CONN_OPEN, NULL), WS_OK);
    size_t taken = 0;
    assert_int_equal(ws_conn_feed(c, f, sizeof f, &taken), WS_OK);
    assert_int_equal(taken, sizeof f);
    assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 1);
    assert_int_equal(e.type, WS_EV_OPEN);
    assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 1);
    assert_int_equal(e.type, WS_EV_MESSAGE);
    assert_int_equal(e.len, 10);
    assert_memory_equal(e.data, "aaaaaaaaaa", 10);
    ws_conn_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tick_keeps_queued_event_view),
        cmocka_unit_test(test_calls_keep_last_event_view),
        cmocka_unit_test(test_quiet_connection_still_trims),
        cmocka_unit_test(test_request_outlived_by_timeout),
        cmocka_unit_test(test_const_feed_whole),
        cmocka_unit_test(test_const_feed_byte_at_a_time),
        cmocka_unit_test(test_const_feed_bounded),
        cmocka_unit_test(test_client_feed_before_start),
        cmocka_unit_test(test_inplace_views_flagged),
        cmocka_unit_test(test_event_size_rules),
        cmocka_unit_test(test_struct_sizes_everywhere),
        cmocka_unit_test(test_option_ranges),
        cmocka_unit_test(test_deadline_before_first_tick),
        cmocka_unit_test(test_output_is_pure),
        cmocka_unit_test(test_batch_views_survive_quiet_second),
        cmocka_unit_test(test_event_reserved_zero),
        cmocka_unit_test(test_allocator_gets_sizes),
        cmocka_unit_test(test_close_code_helpers),
        cmocka_unit_test(test_config_shared_frozen_counted),
        cmocka_unit_test(test_config_copy_bounded),
        cmocka_unit_test(test_feed_before_open_taken),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
