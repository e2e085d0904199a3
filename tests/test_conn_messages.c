/* Connection layer: messages both ways, fragmentation, streaming, zero-copy, byte-at-a-time
 * sessions, masking, borrowed sends and partial writes. */
#include "conn_util.h"

/* One direction of a pair: from sends, to receives into log. */
typedef struct way {
    ws_conn *from, *to;
    ev_log *log;
    const char *name;
} way;

static way way_of(pair *p, int to_server)
{
    way w;
    w.from = to_server ? p->cli : p->srv;
    w.to = to_server ? p->srv : p->cli;
    w.log = to_server ? &p->slog : &p->clog;
    w.name = to_server ? "client->server" : "server->client";
    return w;
}

static const char kosme[] = "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"; /* κόσμε */

static void test_text_binary_both_ways(void **state)
{
    (void)state;
    for (int ts = 0; ts < 2; ts++) {
        pair p;
        uint8_t bin[300];
        test_fill(bin, sizeof bin, 42);
        pair_init(&p);
        way w = way_of(&p, ts);
        assert_int_equal(ws_conn_send(w.from, WS_OP_TEXT, "Hello", 5, 0), WS_OK);
        assert_int_equal(ws_conn_send(w.from, WS_OP_TEXT, kosme, sizeof kosme - 1, 0), WS_OK);
        assert_int_equal(ws_conn_send(w.from, WS_OP_BINARY, bin, 125, 0), WS_OK);
        assert_int_equal(ws_conn_send(w.from, WS_OP_BINARY, bin, 126, 0), WS_OK); /* 16-bit */
        assert_int_equal(ws_conn_send(w.from, WS_OP_BINARY, bin, sizeof bin, 0), WS_OK);
        pump_all(&p);
        assert_int_equal(w.log->n, 5);
        log_assert_message(w.log, 0, WS_OP_TEXT, "Hello", 5);
        log_assert_message(w.log, 1, WS_OP_TEXT, kosme, sizeof kosme - 1);
        log_assert_message(w.log, 2, WS_OP_BINARY, bin, 125);
        log_assert_message(w.log, 3, WS_OP_BINARY, bin, 126);
        log_assert_message(w.log, 4, WS_OP_BINARY, bin, sizeof bin);
        /* Nothing went the other way. */
        assert_int_equal((ts ? &p.clog : &p.slog)->n, 0);
        assert_int_equal(ws_conn_state(w.from), WS_STATE_OPEN);
        assert_int_equal(ws_conn_state(w.to), WS_STATE_OPEN);
        pair_free(&p);
    }
}

static void test_empty_messages(void **state)
{
    (void)state;
    for (int ts = 0; ts < 2; ts++) {
        for (size_t chunk = 0; chunk < 3; chunk++) {
            pair p;
            pair_init(&p);
            way w = way_of(&p, ts);
            assert_int_equal(ws_conn_send(w.from, WS_OP_TEXT, NULL, 0, 0), WS_OK);
            assert_int_equal(ws_conn_send(w.from, WS_OP_BINARY, "", 0, 0), WS_OK);
            assert_int_equal(ws_conn_send_fragment(w.from, WS_OP_TEXT, NULL, 0, 0, 0), WS_OK);
            assert_int_equal(ws_conn_send_fragment(w.from, WS_OP_TEXT, NULL, 0, 0, 0), WS_OK);
            assert_int_equal(ws_conn_send_fragment(w.from, WS_OP_TEXT, NULL, 0, 1, 0), WS_OK);
            assert_int_equal(ws_conn_ping(w.from, NULL, 0), WS_OK);
            pump_all_ex(&p, chunk, chunk);
            assert_int_equal(w.log->n, 4);
            log_assert_message(w.log, 0, WS_OP_TEXT, "", 0);
            log_assert_message(w.log, 1, WS_OP_BINARY, "", 0);
            log_assert_message(w.log, 2, WS_OP_TEXT, "", 0);
            assert_int_equal(w.log->v[3].type, WS_EV_PING);
            assert_int_equal(w.log->v[3].len, 0);
            /* The auto pong came back, empty too. */
            ev_log *back = ts ? &p.clog : &p.slog;
            assert_int_equal(back->n, 1);
            assert_int_equal(back->v[0].type, WS_EV_PONG);
            assert_int_equal(back->v[0].len, 0);
            pair_free(&p);
        }
    }
}

static void test_large_messages(void **state)
{
    (void)state;
    size_t n = (size_t)1 << 20;
    uint8_t *big = malloc(n);
    char *text = malloc(n);
    assert_non_null(big);
    assert_non_null(text);
    test_fill(big, n, 1234);
    for (size_t i = 0; i < n; i++)
        text[i] = (char)('a' + i % 26);
    /* A few multi-byte characters, one straddling a 64 KiB write boundary. */
    memcpy(text + 65535, "\xE2\x82\xAC", 3);
    memcpy(text + n - 4, "\xF0\x9F\x98\x80", 4);

    for (int ts = 0; ts < 2; ts++) {
        static const size_t chunks[] = {0, 65536, 1000};
        for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
            pair p;
            pair_init(&p);
            way w = way_of(&p, ts);
            assert_int_equal(ws_conn_send(w.from, WS_OP_BINARY, big, n, 0), WS_OK);
            assert_int_equal(ws_conn_send(w.from, WS_OP_TEXT, text, n, 0), WS_OK);
            assert_true(ws_conn_buffered_amount(w.from) >= 2 * n + 20);
            pump_all_ex(&p, chunks[k], chunks[k]);
            assert_int_equal(w.log->n, 2);
            log_assert_message(w.log, 0, WS_OP_BINARY, big, n);
            log_assert_message(w.log, 1, WS_OP_TEXT, text, n);
            pair_free(&p);
        }
    }
    free(big);
    free(text);
}

/* Caller-chosen fragments with pings (and an unsolicited pong) between them. */
static void test_fragments_with_pings(void **state)
{
    (void)state;
    for (int ts = 0; ts < 2; ts++) {
        pair p;
        pair_init(&p);
        way w = way_of(&p, ts);
        /* κ = CE BA split between two fragments: valid across fragments. */
        assert_int_equal(ws_conn_send_fragment(w.from, WS_OP_TEXT, "ab\xCE", 3, 0, 0), WS_OK);
        assert_int_equal(ws_conn_ping(w.from, "p1", 2), WS_OK);
        assert_int_equal(ws_conn_send_fragment(w.from, WS_OP_TEXT, "\xBA", 1, 0, 0), WS_OK);
        assert_int_equal(ws_conn_pong(w.from, "hb", 2), WS_OK);
        assert_int_equal(ws_conn_ping(w.from, "p2", 2), WS_OK);
        /* Misuse mid-message changes nothing. */
        assert_int_equal(ws_conn_send_fragment(w.from, WS_OP_BINARY, "x", 1, 1, 0), WS_ERR_STATE);
        assert_int_equal(ws_conn_send(w.from, WS_OP_TEXT, "x", 1, 0), WS_ERR_STATE);
        assert_int_equal(ws_conn_send_fragment(w.from, WS_OP_TEXT, "\xCE", 1, 1, 0),
                         WS_ERR_INVALID_UTF8);
        assert_int_equal(ws_conn_send_fragment(w.from, WS_OP_TEXT, "\xFF", 1, 0, 0),
                         WS_ERR_INVALID_UTF8);
        assert_int_equal(ws_conn_send_fragment(w.from, WS_OP_TEXT, "cd", 2, 1, 0), WS_OK);
        assert_int_equal(ws_conn_send(w.from, WS_OP_BINARY, "next", 4, 0), WS_OK);

        frame_list f = output_frames(w.from);
        static const int ops[] = {WS_OP_TEXT, WS_OP_PING, WS_OP_CONTINUATION, WS_OP_PONG,
                                  WS_OP_PING, WS_OP_CONTINUATION, WS_OP_BINARY};
        static const int fins[] = {0, 1, 0, 1, 1, 1, 1};
        assert_int_equal(f.n, 7);
        for (size_t i = 0; i < f.n; i++) {
            assert_int_equal(f.v[i].opcode, ops[i]);
            assert_int_equal(f.v[i].fin, fins[i]);
            assert_int_equal(f.v[i].rsv, 0);
        }
        /* Replay the wire into the receiver byte by byte and at once: same events. */
        bytes wire = {0};
        for (size_t i = 0; i < f.n; i++)
            peer_frame(&wire, ws_conn_role(w.to), (unsigned)f.v[i].opcode, f.v[i].fin, f.v[i].data,
                       f.v[i].len);
        frames_free(&f);
        assert_int_equal(feed_copy(w.to, w.log, wire.p, wire.n, 1), WS_OK);
        assert_int_equal(w.log->n, 5);
        assert_int_equal(w.log->v[0].type, WS_EV_PING);
        assert_string_equal((char *)w.log->v[0].data, "p1");
        assert_int_equal(w.log->v[1].type, WS_EV_PONG);
        assert_string_equal((char *)w.log->v[1].data, "hb");
        assert_int_equal(w.log->v[2].type, WS_EV_PING);
        assert_string_equal((char *)w.log->v[2].data, "p2");
        log_assert_message(w.log, 3, WS_OP_TEXT, "ab\xCE\xBA" "cd", 6);
        log_assert_message(w.log, 4, WS_OP_BINARY, "next", 4);
        bytes_free(&wire);
        pair_free(&p);
    }
}

static void check_auto_frames(ws_conn *from, size_t len, size_t frag, int first_op, int fin)
{
    frame_list f = output_frames(from);
    size_t want = len == 0 ? 1 : (len + frag - 1) / frag;
    assert_int_equal(f.n, want);
    for (size_t i = 0; i < f.n; i++) {
        assert_int_equal(f.v[i].opcode, i == 0 ? first_op : WS_OP_CONTINUATION);
        assert_int_equal(f.v[i].fin, i + 1 == f.n ? fin : 0);
        assert_int_equal(f.v[i].len, i + 1 < f.n ? frag : len - frag * (f.n - 1));
    }
    frames_free(&f);
}

static void test_auto_fragmentation(void **state)
{
    (void)state;
    uint8_t data[1050];
    test_fill(data, sizeof data, 9);
    for (int ts = 0; ts < 2; ts++) {
        static const size_t lens[] = {0, 1, 99, 100, 101, 1000, 1050};
        pair p;
        pair_init(&p);
        way w = way_of(&p, ts);
        assert_int_equal(ws_conn_set_option(w.from, WS_OPT_FRAGMENT_SIZE, 100), WS_OK);
        assert_int_equal(get_opt(w.from, WS_OPT_FRAGMENT_SIZE), 100);
        /* Frame layout on the wire. */
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            assert_int_equal(ws_conn_send(w.from, WS_OP_BINARY, data, lens[i], 0), WS_OK);
            check_auto_frames(w.from, lens[i], 100, WS_OP_BINARY, 1);
        }
        assert_int_equal(ws_conn_send_fragment(w.from, WS_OP_BINARY, data, 250, 0, 0), WS_OK);
        check_auto_frames(w.from, 250, 100, WS_OP_BINARY, 0);
        assert_int_equal(ws_conn_send_fragment(w.from, WS_OP_BINARY, data, 250, 1, 0), WS_OK);
        check_auto_frames(w.from, 250, 100, WS_OP_CONTINUATION, 1);

        /* And through to the peer, with pings between caller fragments. */
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++)
            assert_int_equal(ws_conn_send(w.from, WS_OP_BINARY, data, lens[i], 0), WS_OK);
        assert_int_equal(ws_conn_send_fragment(w.from, WS_OP_TEXT, "0123456789", 10, 0, 0),
                         WS_OK);
        assert_int_equal(ws_conn_ping(w.from, "mid", 3), WS_OK);
        assert_int_equal(ws_conn_set_option(w.from, WS_OPT_FRAGMENT_SIZE, 3), WS_OK);
        assert_int_equal(ws_conn_send_fragment(w.from, WS_OP_TEXT, "abcdefghij", 10, 1, 0),
                         WS_OK);
        pump_all_ex(&p, 0, 7);
        size_t nl = sizeof lens / sizeof lens[0];
        assert_int_equal(w.log->n, nl + 2);
        for (size_t i = 0; i < nl; i++)
            log_assert_message(w.log, i, WS_OP_BINARY, data, lens[i]);
        assert_int_equal(w.log->v[nl].type, WS_EV_PING);
        log_assert_message(w.log, nl + 1, WS_OP_TEXT, "0123456789abcdefghij", 20);
        pair_free(&p);
    }
}

/* Streaming: FRAGMENT events whose concatenation is the message, fin on the last only. */
static void check_streamed(const ev_log *l, size_t *i, int opcode, const uint8_t *msg,
                           size_t len)
{
    size_t got = 0;
    for (;;) {
        assert_true(*i < l->n);
        const ev_rec *r = &l->v[*i];
        (*i)++;
        if (r->type == WS_EV_PING || r->type == WS_EV_PONG)
            continue;
        assert_int_equal(r->type, WS_EV_FRAGMENT);
        assert_int_equal(r->opcode, opcode);
        assert_true(got + r->len <= len);
        if (r->len)
            assert_memory_equal(r->data, msg + got, r->len);
        got += r->len;
        if (r->fin)
            break;
        assert_true(r->len > 0); /* no empty non-final chunks */
    }
    assert_int_equal(got, len);
}

static void test_streaming(void **state)
{
    (void)state;
    uint8_t data[5000];
    test_fill(data, sizeof data, 77);
    for (int ts = 0; ts < 2; ts++) {
        static const size_t chunks[] = {0, 1, 7, 300};
        for (size_t k = 0; k < sizeof chunks / sizeof chunks[0]; k++) {
            pair p;
            pair_init(&p);
            way w = way_of(&p, ts);
            assert_int_equal(ws_conn_set_option(w.to, WS_OPT_STREAMING, 1), WS_OK);
            assert_int_equal(get_opt(w.to, WS_OPT_STREAMING), 1);
            assert_int_equal(ws_conn_send_fragment(w.from, WS_OP_BINARY, data, 1000, 0, 0),
                             WS_OK);
            assert_int_equal(ws_conn_ping(w.from, "x", 1), WS_OK);
            assert_int_equal(ws_conn_send_fragment(w.from, WS_OP_BINARY, data + 1000, 0, 0, 0),
                             WS_OK);
            assert_int_equal(ws_conn_send_fragment(w.from, WS_OP_BINARY, data + 1000, 4000, 1,
                                                   0),
                             WS_OK);
            /* An unfragmented message and an empty one stream as well. */
            assert_int_equal(ws_conn_send(w.from, WS_OP_TEXT, kosme, sizeof kosme - 1, 0),
                             WS_OK);
            assert_int_equal(ws_conn_send(w.from, WS_OP_BINARY, NULL, 0, 0), WS_OK);
            pump_all_ex(&p, chunks[k], chunks[k]);
            assert_int_equal(log_count(w.log, WS_EV_MESSAGE), 0);
            size_t i = 0;
            check_streamed(w.log, &i, WS_OP_BINARY, data, sizeof data);
            check_streamed(w.log, &i, WS_OP_TEXT, (const uint8_t *)kosme, sizeof kosme - 1);
            check_streamed(w.log, &i, WS_OP_BINARY, data, 0);
            assert_int_equal(i, w.log->n);
            assert_int_equal(log_count(w.log, WS_EV_PING), 1);
            ws_conn_stats st;
            assert_int_equal(ws_conn_get_stats(w.to, &st, sizeof st), WS_OK);
            assert_int_equal(st.messages_in, 3);
            pair_free(&p);
        }
    }
}

/* A complete unfragmented frame is handed out in place: the view points into the input. */
static void test_zero_copy(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        uint32_t rng = 1;
        ws_conn *c = conn_open((uint32_t)role, NULL, &rng);
        bytes wire = {0};
        uint8_t payload[1000];
        ws_event e;
        size_t used;
        test_fill(payload, sizeof payload, 5);
        peer_frame(&wire, (uint32_t)role, WS_OP_BINARY, 1, payload, sizeof payload);
        size_t second = wire.n;
        peer_frame(&wire, (uint32_t)role, WS_OP_TEXT, 1, "zc", 2);
        size_t third = wire.n;
        peer_frame(&wire, (uint32_t)role, WS_OP_BINARY, 0, "ab", 2);
        peer_frame(&wire, (uint32_t)role, WS_OP_CONTINUATION, 1, "cd", 2);

        /* A server takes whole messages a batch at a time (both here), stopping before the
         * fragmented one; a client one message per feed. */
        assert_int_equal(ws_conn_feed_inplace(c, wire.p, wire.n, &used), WS_OK);
        assert_int_equal(used, role == WS_ROLE_SERVER ? third : second);
        size_t next = used;
        assert_int_equal(ws_conn_feed_inplace(c, wire.p + used, wire.n - used, &used),
                         WS_ERR_EVENTS_PENDING);
        assert_int_equal(used, 0);
        assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 1);
        assert_int_equal(e.type, WS_EV_MESSAGE);
        assert_ptr_equal(e.data, wire.p + second - sizeof payload);
        assert_memory_equal(e.data, payload, sizeof payload); /* unmasked in place */
        assert_int_equal(e.flags & WS_EVF_IN_INPUT, WS_EVF_IN_INPUT);
        if (role != WS_ROLE_SERVER) {
            assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 0);
            assert_int_equal(ws_conn_feed_inplace(c, wire.p + next, wire.n - next, &used), WS_OK);
            assert_int_equal(used, third - second);
        }
        assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 1);
        assert_ptr_equal(e.data, wire.p + third - 2);
        assert_int_equal(e.len, 2);
        assert_int_equal(e.flags & WS_EVF_IN_INPUT, WS_EVF_IN_INPUT);

        /* A fragmented message is reassembled: its view is not in the input. */
        assert_int_equal(ws_conn_feed_inplace(c, wire.p + third, wire.n - third, &used), WS_OK);
        assert_int_equal(used, wire.n - third);
        assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 1);
        assert_int_equal(e.type, WS_EV_MESSAGE);
        assert_memory_equal(e.data, "abcd", 4);
        assert_true(e.data + e.len <= wire.p || e.data >= wire.p + wire.n);
        assert_int_equal(e.flags & WS_EVF_IN_INPUT, 0);
        bytes_free(&wire);
        ws_conn_free(c);
    }
}

/* A server fed in place takes whole messages a batch at a time: up to five (the event queue
 * keeps room for what a failure and a tick may add), never a control frame or a fragment, and
 * ws_conn_next_events hands the batch over in one call, every view in the caller's buffer. */
/* Feed in place, by ws_conn_feed_events (by_events) or ws_conn_feed_inplace + next_events, and
 * take up to 16 events: *used is what was consumed. */
static int feed_take(ws_conn *c, int by_events, uint8_t *in, size_t n, size_t *used,
                     ws_event *evs)
{
    if (by_events)
        return ws_conn_feed_events(c, in, n, used, evs, 16, sizeof evs[0]);
    assert_int_equal(ws_conn_feed_inplace(c, in, n, used), WS_OK);
    return ws_conn_next_events(c, evs, 16, sizeof evs[0]);
}

/* Invalid text inside a batch is not processed ahead: the batch stops before it, as it came
 * (masked), so the messages before it are handled -- and may be answered -- before the
 * connection fails on the next feed with ERROR and CLOSE (1007). The same through either
 * feeding API. */
static void invalid_text_waits(int by_events)
{
    uint32_t rng = 1;
    ws_conn *c = conn_open(WS_ROLE_SERVER, NULL, &rng);
    bytes wire = {0};
    ws_event evs[16];
    size_t used = 0;
    peer_frame(&wire, WS_ROLE_SERVER, WS_OP_BINARY, 1, "a", 1);
    peer_frame(&wire, WS_ROLE_SERVER, WS_OP_TEXT, 1, "ok", 2);
    size_t bad = wire.n;
    peer_frame(&wire, WS_ROLE_SERVER, WS_OP_TEXT, 1, "\xff", 1);
    size_t pos = wire.n;
    peer_frame(&wire, WS_ROLE_SERVER, WS_OP_BINARY, 1, "b", 1);
    uint8_t as_sent[16];
    memcpy(as_sent, wire.p + bad, pos - bad);
    assert_int_equal(feed_take(c, by_events, wire.p, wire.n, &used, evs), 2);
    assert_int_equal(used, bad);
    assert_memory_equal(wire.p + bad, as_sent, pos - bad);
    assert_int_equal(evs[0].type, WS_EV_MESSAGE);
    assert_memory_equal(evs[0].data, "a", 1);
    assert_int_equal(evs[1].type, WS_EV_MESSAGE);
    assert_memory_equal(evs[1].data, "ok", 2);
    assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "ok", 2, 0), WS_OK); /* still answerable */
    assert_int_equal(ws_conn_buffered_amount(c), 4);
    assert_int_equal(feed_take(c, by_events, wire.p + bad, wire.n - bad, &used, evs), 2);
    assert_int_equal(bad + used, pos);
    assert_int_equal(evs[0].type, WS_EV_ERROR);
    assert_int_equal(evs[0].error, WS_ERR_INVALID_UTF8);
    assert_int_equal(evs[1].type, WS_EV_CLOSE);
    assert_int_equal(evs[1].close_code, WS_CLOSE_INVALID_PAYLOAD);
    ws_conn_stats st;
    assert_int_equal(ws_conn_get_stats(c, &st, sizeof st), WS_OK);
    assert_int_equal(st.messages_in, 2);
    assert_int_equal(st.bytes_in, pos);
    bytes_free(&wire);
    ws_conn_free(c);
}

/* ws_conn_feed_events: the batch goes straight into the caller's array, as long as the array;
 * the rules of the in-place batch hold (a control frame ends it, an invalid message is left as
 * it came for the next call); events from before come first; bad arguments take nothing. */
static void test_feed_events(void **state)
{
    (void)state;
    uint32_t rng = 1;
    ws_conn *c = conn_open(WS_ROLE_SERVER, NULL, &rng);
    bytes wire = {0};
    size_t ends[9], used = 0, pos = 0;
    ws_event evs[16];
    char msg[4];

    for (int i = 0; i < 7; i++) {
        snprintf(msg, sizeof msg, "m%d", i);
        peer_frame(&wire, WS_ROLE_SERVER, i % 2 ? WS_OP_TEXT : WS_OP_BINARY, 1, msg, 2);
        ends[i] = wire.n;
    }
    peer_frame(&wire, WS_ROLE_SERVER, WS_OP_PING, 1, "p", 1);
    ends[7] = wire.n;
    peer_frame(&wire, WS_ROLE_SERVER, WS_OP_TEXT, 1, "t", 1);
    ends[8] = wire.n;

    /* bad arguments: nothing taken */
    assert_int_equal(ws_conn_feed_events(c, wire.p, wire.n, &used, NULL, 4, sizeof evs[0]),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(used, 0);
    assert_int_equal(ws_conn_feed_events(c, wire.p, wire.n, &used, evs, 0, sizeof evs[0]),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_feed_events(c, wire.p, wire.n, &used, evs, 4, 8),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_feed_events(c, wire.p, wire.n, NULL, evs, 4, sizeof evs[0]),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_feed_events(NULL, wire.p, wire.n, &used, evs, 4, sizeof evs[0]),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_feed_events(c, NULL, 5, &used, evs, 4, sizeof evs[0]),
                     WS_ERR_INVALID_ARG);

    /* max respected: three, then the other four (more than the queue's batch of five) */
    assert_int_equal(ws_conn_feed_events(c, wire.p, wire.n, &used, evs, 3, sizeof evs[0]), 3);
    assert_int_equal(used, ends[2]);
    pos = used;
    assert_int_equal(ws_conn_feed_events(c, wire.p + pos, wire.n - pos, &used, evs, 16,
                                         sizeof evs[0]),
                     4);
    assert_int_equal(pos + used, ends[6]); /* the ping ends the batch, unprocessed */
    assert_int_equal(ws_conn_buffered_amount(c), 0);
    for (int i = 0; i < 4; i++) {
        snprintf(msg, sizeof msg, "m%d", i + 3);
        assert_int_equal(evs[i].type, WS_EV_MESSAGE);
        assert_int_equal(evs[i].opcode, (i + 3) % 2 ? WS_OP_TEXT : WS_OP_BINARY);
        assert_ptr_equal(evs[i].data, wire.p + ends[i + 3] - 2);
        assert_memory_equal(evs[i].data, msg, 2);
        assert_int_equal(evs[i].flags, WS_EVF_IN_INPUT);
    }
    pos += used;
    assert_int_equal(ws_conn_feed_events(c, wire.p + pos, wire.n - pos, &used, evs, 16,
                                         sizeof evs[0]),
                     1);
    assert_int_equal(evs[0].type, WS_EV_PING);
    assert_int_equal(pos + used, ends[7]);
    assert_int_equal(ws_conn_buffered_amount(c), 3); /* the pong */
    pos += used;
    assert_int_equal(ws_conn_feed_events(c, wire.p + pos, wire.n - pos, &used, evs, 16,
                                         sizeof evs[0]),
                     1);
    assert_memory_equal(evs[0].data, "t", 1);
    assert_int_equal(pos + used, ends[8]);
    ws_conn_stats st;
    assert_int_equal(ws_conn_get_stats(c, &st, sizeof st), WS_OK);
    assert_int_equal(st.messages_in, 8);
    assert_int_equal(st.bytes_in, wire.n);
    bytes_free(&wire);

    /* events from before come first, taking no input; then the input */
    peer_frame(&wire, WS_ROLE_SERVER, WS_OP_BINARY, 1, "a", 1);
    peer_frame(&wire, WS_ROLE_SERVER, WS_OP_BINARY, 1, "b", 1);
    size_t half = wire.n;
    peer_frame(&wire, WS_ROLE_SERVER, WS_OP_BINARY, 1, "c", 1);
    assert_int_equal(ws_conn_feed_inplace(c, wire.p, half, &used), WS_OK);
    assert_int_equal(used, half);
    assert_int_equal(ws_conn_feed_events(c, wire.p + half, wire.n - half, &used, evs, 1,
                                         sizeof evs[0]),
                     1);
    assert_int_equal(used, 0);
    assert_memory_equal(evs[0].data, "a", 1);
    assert_int_equal(ws_conn_feed_events(c, wire.p + half, wire.n - half, &used, evs, 4,
                                         sizeof evs[0]),
                     1);
    assert_int_equal(used, 0);
    assert_memory_equal(evs[0].data, "b", 1);
    assert_int_equal(ws_conn_feed_events(c, wire.p + half, wire.n - half, &used, evs, 4,
                                         sizeof evs[0]),
                     1);
    assert_int_equal(used, wire.n - half);
    assert_memory_equal(evs[0].data, "c", 1);
    bytes_free(&wire);

    /* input kept by ws_conn_feed: its first event comes (queued), then WS_ERR_EVENTS_PENDING
     * while the rest is kept, nothing taken */
    peer_frame(&wire, WS_ROLE_SERVER, WS_OP_BINARY, 1, "k", 1);
    peer_frame(&wire, WS_ROLE_SERVER, WS_OP_BINARY, 1, "l", 1);
    size_t taken = 0;
    assert_int_equal(ws_conn_feed(c, wire.p, wire.n, &taken), WS_OK);
    assert_int_equal(taken, wire.n);
    assert_int_equal(ws_conn_feed_events(c, wire.p, wire.n, &used, evs, 1, sizeof evs[0]), 1);
    assert_int_equal(used, 0);
    assert_memory_equal(evs[0].data, "k", 1);
    assert_int_equal(ws_conn_feed_events(c, wire.p, wire.n, &used, evs, 4, sizeof evs[0]),
                     WS_ERR_EVENTS_PENDING);
    assert_int_equal(used, 0);
    assert_int_equal(ws_conn_next_events(c, evs, 4, sizeof evs[0]), 1);
    assert_memory_equal(evs[0].data, "l", 1);
    bytes_free(&wire);
    ws_conn_free(c);

    invalid_text_waits(1);

    /* A caller's larger event (rule 4) and a client (no straight line): the general path gives
     * the same messages. */
    struct big_event {
        ws_event e;
        uint64_t more[2];
    } big[4];
    for (int role = 0; role < 2; role++) {
        uint32_t r = role ? WS_ROLE_CLIENT : WS_ROLE_SERVER;
        c = conn_open(r, NULL, &rng);
        peer_frame(&wire, r, WS_OP_BINARY, 1, "x", 1);
        peer_frame(&wire, r, WS_OP_TEXT, 1, "yz", 2);
        memset(big, 0x5A, sizeof big);
        pos = 0;
        int got = 0;
        while (pos < wire.n || got < 2) {
            int k = ws_conn_feed_events(c, wire.p + pos, wire.n - pos, &used, &big[got].e,
                                        (size_t)(4 - got), sizeof big[0]);
            assert_true(k >= 0);
            assert_true(k > 0 || used > 0);
            pos += used;
            got += k;
        }
        assert_int_equal(got, 2);
        assert_memory_equal(big[0].e.data, "x", 1);
        assert_int_equal(big[1].e.opcode, WS_OP_TEXT);
        assert_memory_equal(big[1].e.data, "yz", 2);
        assert_true(big[0].more[0] == 0 && big[0].more[1] == 0); /* zeroed beyond ours */
        bytes_free(&wire);
        ws_conn_free(c);
    }
}

static void test_inplace_batch(void **state)
{
    (void)state;
    uint32_t rng = 1;
    ws_conn *c = conn_open(WS_ROLE_SERVER, NULL, &rng);
    bytes wire = {0};
    size_t ends[8], used = 0, pos;
    ws_event evs[16];
    char msg[4];

    for (int i = 0; i < 7; i++) {
        snprintf(msg, sizeof msg, "m%d", i);
        peer_frame(&wire, WS_ROLE_SERVER, i % 2 ? WS_OP_TEXT : WS_OP_BINARY, 1, msg, 2);
        ends[i] = wire.n;
    }
    peer_frame(&wire, WS_ROLE_SERVER, WS_OP_PING, 1, "p", 1);
    ends[7] = wire.n;
    peer_frame(&wire, WS_ROLE_SERVER, WS_OP_TEXT, 1, "t", 1);

    assert_int_equal(ws_conn_feed_inplace(c, wire.p, wire.n, &used), WS_OK);
    assert_int_equal(used, ends[4]);
    assert_int_equal(ws_conn_next_events(c, evs, 16, sizeof evs[0]), 5);
    for (int i = 0; i < 5; i++) {
        snprintf(msg, sizeof msg, "m%d", i);
        assert_int_equal(evs[i].type, WS_EV_MESSAGE);
        assert_int_equal(evs[i].opcode, i % 2 ? WS_OP_TEXT : WS_OP_BINARY);
        assert_int_equal(evs[i].len, 2);
        assert_ptr_equal(evs[i].data, wire.p + ends[i] - 2);
        assert_memory_equal(evs[i].data, msg, 2);
        assert_int_equal(evs[i].flags, WS_EVF_IN_INPUT);
    }
    assert_int_equal(ws_conn_next_events(c, evs, 16, sizeof evs[0]), 0);

    /* The rest of the messages, then the batch stops before the ping. */
    pos = used;
    assert_int_equal(ws_conn_feed_inplace(c, wire.p + pos, wire.n - pos, &used), WS_OK);
    assert_int_equal(pos + used, ends[6]);
    assert_int_equal(ws_conn_next_events(c, evs, 1, sizeof evs[0]), 1); /* max respected */
    assert_memory_equal(evs[0].data, "m5", 2);
    assert_int_equal(ws_conn_next_events(c, evs, 16, sizeof evs[0]), 1);
    assert_memory_equal(evs[0].data, "m6", 2);
    pos += used;
    assert_int_equal(ws_conn_feed_inplace(c, wire.p + pos, wire.n - pos, &used), WS_OK);
    assert_int_equal(pos + used, ends[7]);
    assert_int_equal(ws_conn_next_events(c, evs, 16, sizeof evs[0]), 1);
    assert_int_equal(evs[0].type, WS_EV_PING);
    bytes_free(&wire);
    ws_conn_free(c);

    invalid_text_waits(0);

    /* The same through kept input (ws_conn_feed) and one ws_conn_next_events call: only whole
     * valid messages are taken ahead of the caller, nothing that fails the connection. */
    c = conn_open(WS_ROLE_SERVER, NULL, &rng);
    peer_frame(&wire, WS_ROLE_SERVER, WS_OP_BINARY, 1, "a", 1);
    peer_frame(&wire, WS_ROLE_SERVER, WS_OP_TEXT, 1, "ok", 2);
    peer_frame(&wire, WS_ROLE_SERVER, WS_OP_TEXT, 1, "\xff", 1);
    peer_frame(&wire, WS_ROLE_SERVER, WS_OP_PING, 1, "p", 1);
    size_t taken = 0;
    assert_int_equal(ws_conn_feed(c, wire.p, wire.n, &taken), WS_OK);
    assert_int_equal(taken, wire.n);
    assert_int_equal(ws_conn_next_events(c, evs, 16, sizeof evs[0]), 2);
    assert_memory_equal(evs[0].data, "a", 1);
    assert_memory_equal(evs[1].data, "ok", 2);
    assert_int_equal(ws_conn_buffered_amount(c), 0); /* no close frame queued yet */
    assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "ok", 2, 0), WS_OK);
    assert_int_equal(ws_conn_next_events(c, evs, 16, sizeof evs[0]), 2);
    assert_int_equal(evs[0].type, WS_EV_ERROR);
    assert_int_equal(evs[1].type, WS_EV_CLOSE);
    assert_int_equal(evs[1].close_code, WS_CLOSE_INVALID_PAYLOAD);
    bytes_free(&wire);
    ws_conn_free(c);
}

/* ws_conn_feed copies: the caller's buffer may be reused at once, what was not processed yet
 * waits in the connection and is processed as the events are taken, and meanwhile in-place
 * feeding is refused (the order of the input would be lost). */
static void test_feed_copies(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        uint32_t rng = 1;
        ws_conn *c = conn_open((uint32_t)role, NULL, &rng);
        bytes wire = {0};
        uint8_t payload[1000], *buf;
        ws_event e;
        size_t taken = 0, used = 9;
        test_fill(payload, sizeof payload, 6);
        peer_frame(&wire, (uint32_t)role, WS_OP_BINARY, 1, payload, sizeof payload);
        peer_frame(&wire, (uint32_t)role, WS_OP_TEXT, 1, "two", 3);
        peer_frame(&wire, (uint32_t)role, WS_OP_PING, 1, "p", 1);
        size_t whole = wire.n;
        peer_frame(&wire, (uint32_t)role, WS_OP_TEXT, 0, "par", 3); /* half a message */

        buf = malloc(wire.n);
        assert_non_null(buf);
        memcpy(buf, wire.p, wire.n);
        assert_int_equal(ws_conn_feed(c, buf, wire.n, &taken), WS_OK);
        assert_int_equal(taken, wire.n); /* everything kept */
        memset(buf, 0, wire.n);          /* the caller's buffer is free again */
        uint8_t spare[2] = {0x81, 0x00};
        assert_int_equal(ws_conn_feed_inplace(c, spare, sizeof spare, &used),
                         WS_ERR_EVENTS_PENDING);
        assert_int_equal(used, 0);

        assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 1);
        assert_int_equal(e.type, WS_EV_MESSAGE);
        assert_int_equal(e.opcode, WS_OP_BINARY);
        assert_int_equal(e.len, sizeof payload);
        assert_memory_equal(e.data, payload, sizeof payload);
        assert_int_equal(e.flags & WS_EVF_IN_INPUT, 0);
        assert_true(e.data + e.len <= buf || e.data >= buf + wire.n);
        assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 1);
        assert_int_equal(e.type, WS_EV_MESSAGE);
        assert_int_equal(e.len, 3);
        assert_memory_equal(e.data, "two", 3);
        assert_int_equal(e.flags & WS_EVF_IN_INPUT, 0);
        assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 1);
        assert_int_equal(e.type, WS_EV_PING);
        assert_int_equal(e.len, 1);
        assert_memory_equal(e.data, "p", 1);
        assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 0);
        /* The pong went out; the half message waits for its end, fed in place now. */
        frame_list f = output_frames(c);
        assert_int_equal(f.n, 1);
        assert_int_equal(f.v[0].opcode, WS_OP_PONG);
        frames_free(&f);
        wire.n = whole;
        size_t at = wire.n;
        peer_frame(&wire, (uint32_t)role, WS_OP_CONTINUATION, 1, "tial", 4);
        assert_int_equal(ws_conn_feed_inplace(c, wire.p + at, wire.n - at, &used), WS_OK);
        assert_int_equal(used, wire.n - at);
        assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 1);
        assert_int_equal(e.type, WS_EV_MESSAGE);
        assert_int_equal(e.len, 7);
        assert_memory_equal(e.data, "partial", 7);

        /* Misuse. */
        assert_int_equal(ws_conn_feed(c, NULL, 3, &taken), WS_ERR_INVALID_ARG);
        assert_int_equal(ws_conn_feed(NULL, "x", 1, &taken), WS_ERR_INVALID_ARG);
        assert_int_equal(ws_conn_feed(c, NULL, 0, NULL), WS_OK);
        assert_int_equal(ws_conn_feed_inplace(c, spare, sizeof spare, NULL), WS_ERR_INVALID_ARG);
        assert_int_equal(ws_conn_state(c), WS_STATE_OPEN);
        free(buf);
        bytes_free(&wire);
        ws_conn_free(c);
    }
}

/* Input the library keeps is bounded by WS_OPT_MAX_INPUT_BUFFER: past it (events waiting),
 * ws_conn_feed takes only part, and the rest is fed once the events are drained. */
static void test_feed_input_limit(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        uint32_t rng = 1;
        ws_conn *c = conn_open((uint32_t)role, NULL, &rng);
        bytes wire = {0};
        ev_log l = {0};
        size_t taken = 0;
        assert_int_equal(get_opt(c, WS_OPT_MAX_INPUT_BUFFER), WS_DEFAULT_MAX_INPUT_BUFFER);
        assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_INPUT_BUFFER, 64), WS_OK);
        for (int i = 0; i < 40; i++) {
            char m[16];
            snprintf(m, sizeof m, "m%02d", i);
            peer_frame(&wire, (uint32_t)role, WS_OP_TEXT, 1, m, 3);
        }
        /* 40 frames of 5 or 9 bytes: more than 64 bytes cannot be kept. */
        assert_int_equal(ws_conn_feed(c, wire.p, wire.n, &taken), WS_OK);
        assert_true(taken > 0 && taken < wire.n);
        /* The same rule through the helper, which feeds the rest after draining. */
        assert_int_equal(feed_const(c, &l, wire.p + taken, wire.n - taken, 0), WS_OK);
        assert_int_equal(l.n, 40);
        for (size_t i = 0; i < 40; i++) {
            char m[16];
            snprintf(m, sizeof m, "m%02zu", i);
            log_assert_message(&l, i, WS_OP_TEXT, m, 3);
        }
        log_free(&l);
        bytes_free(&wire);
        ws_conn_free(c);
    }
}

/* ---- whole sessions fed at once, byte at a time and in every small chunk size ---- */

static uint8_t session_big[70000];

/* Queue a whole session on c: every kind of message and control frame, then a close. */
static void queue_session(ws_conn *c)
{
    test_fill(session_big, sizeof session_big, 3);
    assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "hello", 5, 0), WS_OK);
    assert_int_equal(ws_conn_send(c, WS_OP_BINARY, session_big, 200, 0), WS_OK);
    assert_int_equal(ws_conn_ping(c, "p1", 2), WS_OK);
    assert_int_equal(ws_conn_send_fragment(c, WS_OP_TEXT, "frag-\xCE", 6, 0, 0), WS_OK);
    assert_int_equal(ws_conn_ping(c, "p2", 2), WS_OK);
    assert_int_equal(ws_conn_pong(c, "unsolicited", 11), WS_OK);
    assert_int_equal(ws_conn_send_fragment(c, WS_OP_TEXT, "\xBA", 1, 0, 0), WS_OK);
    assert_int_equal(ws_conn_send_fragment(c, WS_OP_TEXT, "end", 3, 1, 0), WS_OK);
    assert_int_equal(ws_conn_send(c, WS_OP_BINARY, NULL, 0, 0), WS_OK);
    assert_int_equal(ws_conn_send(c, WS_OP_TEXT, NULL, 0, 0), WS_OK);
    assert_int_equal(ws_conn_send(c, WS_OP_BINARY, session_big, sizeof session_big, 0), WS_OK);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_FRAGMENT_SIZE, 1000), WS_OK);
    assert_int_equal(ws_conn_send(c, WS_OP_BINARY, session_big, 5000, 0), WS_OK);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_FRAGMENT_SIZE, 0), WS_OK);
    assert_int_equal(ws_conn_ping(c, NULL, 0), WS_OK);
    assert_int_equal(ws_conn_send(c, WS_OP_TEXT, kosme, sizeof kosme - 1, 0), WS_OK);
    assert_int_equal(ws_conn_close(c, 1000, "bye", 3), WS_OK);
}

/* Feed the session to a fresh connection of role `role` in chunks, in place
 * (ws_conn_feed_inplace) or copied (ws_conn_feed); its events into l and its output (pong,
 * close echo) into out. */
static void replay(uint32_t role, const bytes *wire, size_t chunk, int copied, ev_log *l,
                   bytes *out)
{
    uint32_t rng = 99;
    ws_conn *c = conn_open(role, NULL, &rng);
    if (copied)
        assert_int_equal(feed_const(c, l, wire->p, wire->n, chunk), WS_OK);
    else
        assert_int_equal(feed_copy(c, l, wire->p, wire->n, chunk), WS_OK);
    take_output(c, out, 0);
    assert_int_equal(ws_conn_state(c), WS_STATE_CLOSED);
    ws_conn_free(c);
}

static void test_session_split(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        uint32_t rng = 7;
        ws_conn *sender = conn_open(role == WS_ROLE_SERVER ? WS_ROLE_CLIENT : WS_ROLE_SERVER,
                                    NULL, &rng);
        bytes wire = {0}, ref_out = {0};
        ev_log ref = {0};
        queue_session(sender);
        take_output(sender, &wire, 0);
        ws_conn_free(sender);

        replay((uint32_t)role, &wire, 0, 0, &ref, &ref_out);
        /* The reference itself. */
        assert_int_equal(ref.n, 13);
        log_assert_message(&ref, 0, WS_OP_TEXT, "hello", 5);
        log_assert_message(&ref, 1, WS_OP_BINARY, session_big, 200);
        assert_int_equal(ref.v[2].type, WS_EV_PING);
        assert_int_equal(ref.v[3].type, WS_EV_PING);
        assert_int_equal(ref.v[4].type, WS_EV_PONG);
        log_assert_message(&ref, 5, WS_OP_TEXT, "frag-\xCE\xBA" "end", 10);
        log_assert_message(&ref, 6, WS_OP_BINARY, "", 0);
        log_assert_message(&ref, 7, WS_OP_TEXT, "", 0);
        log_assert_message(&ref, 8, WS_OP_BINARY, session_big, sizeof session_big);
        log_assert_message(&ref, 9, WS_OP_BINARY, session_big, 5000);
        assert_int_equal(ref.v[10].type, WS_EV_PING);
        log_assert_message(&ref, 11, WS_OP_TEXT, kosme, sizeof kosme - 1);
        const ev_rec *cl = log_assert_closed(&ref);
        assert_int_equal(cl->close_code, 1000);
        assert_int_equal(cl->by_peer, 1);
        assert_string_equal((char *)cl->data, "bye");
        (void)cl;

        static const size_t chunks[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,   10,  11,
                                        13, 14, 15, 16, 17, 31, 64, 127, 1000, 65536};
        for (size_t k = 0; k <= sizeof chunks / sizeof chunks[0]; k++) {
            for (int copied = 0; copied < 2; copied++) {
                size_t chunk = k < sizeof chunks / sizeof chunks[0] ? chunks[k] : 0;
                ev_log l = {0};
                bytes out = {0};
                if (chunk == 0 && !copied)
                    continue; /* the reference */
                replay((uint32_t)role, &wire, chunk, copied, &l, &out);
                log_assert_equal(&ref, &l);
                assert_int_equal(out.n, ref_out.n);
                assert_memory_equal(out.p, ref_out.p, out.n);
                log_free(&l);
                bytes_free(&out);
            }
        }
        log_free(&ref);
        bytes_free(&wire);
        bytes_free(&ref_out);
    }
}

/* ---- masking ---- */

static void test_masking(void **state)
{
    (void)state;
    pair p;
    uint8_t data[300];
    memset(data, 'A', sizeof data);
    pair_init(&p);
    for (int ts = 0; ts < 2; ts++) {
        way w = way_of(&p, ts);
        bytes b = {0};
        assert_int_equal(ws_conn_send(w.from, WS_OP_BINARY, data, sizeof data, 0), WS_OK);
        assert_int_equal(ws_conn_send(w.from, WS_OP_TEXT, data, 10, 0), WS_OK);
        assert_int_equal(ws_conn_ping(w.from, data, 5), WS_OK);
        assert_int_equal(ws_conn_close(w.from, 1000, NULL, 0), WS_OK);
        take_output(w.from, &b, 0);
        size_t pos = 0, frames = 0;
        uint8_t keys[4][4];
        while (pos < b.n) {
            ws_frame_header h;
            unsigned good = ts ? WS_FRAME_EXPECT_MASKED : WS_FRAME_EXPECT_UNMASKED;
            unsigned bad = ts ? WS_FRAME_EXPECT_UNMASKED : WS_FRAME_EXPECT_MASKED;
            int hl = ws_frame_parse_header(b.p + pos, b.n - pos, good, UINT64_MAX, &h, sizeof h);
            assert_true(hl >= 2);
            assert_int_equal(
                ws_frame_parse_header(b.p + pos, b.n - pos, bad, UINT64_MAX, &h, sizeof h),
                ts ? WS_ERR_FRAME_MASKED : WS_ERR_FRAME_UNMASKED);
            assert_int_equal(h.masked, ts);
            if (ts) {
                memcpy(keys[frames], h.mask, 4);
                /* Masked bytes are not the plain ones (the key is not zero here). */
                if (h.opcode == WS_OP_BINARY)
                    assert_memory_not_equal(b.p + pos + hl, data, 4);
            } else if (h.opcode == WS_OP_BINARY) {
                assert_memory_equal(b.p + pos + hl, data, sizeof data);
            }
            pos += (size_t)hl + (size_t)h.payload_len;
            frames++;
        }
        assert_int_equal(frames, 4);
        if (ts) /* a fresh key per frame */
            for (int i = 0; i < 4; i++)
                for (int j = i + 1; j < 4; j++)
                    assert_memory_not_equal(keys[i], keys[j], 4);
        bytes_free(&b);
    }
    pair_free(&p);
}

/* ---- borrowed sends ---- */

static int iov_in(const ws_iovec *v, const uint8_t *buf, size_t n)
{
    return v->base >= buf && v->base < buf + n;
}

/* A client's masking keys are the random hook's bytes, four per frame, in the order drawn --
 * across the batches the connection draws them in, for data and control frames alike, and
 * from the hook set last. */
static void test_masking_keys_from_hook(void **state)
{
    static const uint8_t data[] = "masked payload, keys from the random hook";
    const size_t len = sizeof data - 1;
    uint32_t seed = 7;
    rec_rng_state rec;
    (void)state;
    memset(&rec, 0, sizeof rec);
    rec.seed = 0x1234abcdu;
    ws_conn *c = conn_open(WS_ROLE_CLIENT, NULL, &seed);
    /* a key drawn through the first hook, then the hook replaced: none of its batch is reused */
    assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "x", 1, 0), WS_OK);
    frame_list f = output_frames(c);
    frames_free(&f);
    assert_int_equal(ws_conn_set_random(c, rec_rng, &rec), WS_OK);

    enum { FRAMES = 21 }; /* more than two batches of eight keys */
    for (int i = 0; i < FRAMES - 1; i++) {
        int r;
        if (i % 5 == 3)
            r = ws_conn_ping(c, data, (size_t)i);
        else
            r = ws_conn_send(c, i & 1 ? WS_OP_TEXT : WS_OP_BINARY, data, len - (size_t)i, 0);
        assert_int_equal(r, WS_OK);
    }
    assert_int_equal(ws_conn_close(c, 1000, NULL, 0), WS_OK);
    f = output_frames(c);
    assert_int_equal(f.n, FRAMES);
    assert_true(rec.n >= 4 * FRAMES);
    assert_true(rec.n <= sizeof rec.drawn);
    for (int i = 0; i < FRAMES; i++) {
        if (memcmp(f.v[i].mask, rec.drawn + 4 * i, 4) != 0)
            print_message("frame %d: key %02x%02x%02x%02x, hook gave %02x%02x%02x%02x\n", i,
                          f.v[i].mask[0], f.v[i].mask[1], f.v[i].mask[2], f.v[i].mask[3],
                          rec.drawn[4 * i], rec.drawn[4 * i + 1], rec.drawn[4 * i + 2],
                          rec.drawn[4 * i + 3]);
        assert_memory_equal(f.v[i].mask, rec.drawn + 4 * i, 4);
        /* and the payload unmasks with it to what was sent */
        if (i < FRAMES - 1) {
            size_t n = i % 5 == 3 ? (size_t)i : len - (size_t)i;
            assert_int_equal(f.v[i].len, n);
            assert_memory_equal(f.v[i].data, data, n);
        }
    }
    frames_free(&f);
    ws_conn_free(c);
}

static void test_borrow(void **state)
{
    (void)state;
    pair p;
    size_t n = 100000;
    uint8_t *a = malloc(n), *c = malloc(n);
    ws_iovec iov[8];
    assert_non_null(a);
    assert_non_null(c);
    test_fill(a, n, 11);
    test_fill(c, n, 12);
    pair_init(&p);

    /* Server: borrowed A, copied B, borrowed C -> [hdrA][A][hdrB B hdrC][C]. */
    assert_int_equal(ws_conn_output_queued(p.srv), 0);
    assert_int_equal(ws_conn_send(p.srv, WS_OP_BINARY, a, n, WS_SEND_BORROW), WS_OK);
    uint64_t qa = ws_conn_output_queued(p.srv);
    assert_int_equal(qa, n + 10);
    assert_int_equal(ws_conn_send(p.srv, WS_OP_BINARY, "copied", 6, 0), WS_OK);
    assert_int_equal(ws_conn_send(p.srv, WS_OP_BINARY, c, n, WS_SEND_BORROW), WS_OK);
    uint64_t qc = ws_conn_output_queued(p.srv);
    assert_int_equal(qc, qa + 8 + n + 10);
    assert_int_equal(ws_conn_buffered_amount(p.srv), qc);
    assert_int_equal(ws_conn_output(p.srv, iov, 8), 4);
    assert_int_equal(iov[0].len, 10);
    assert_ptr_equal(iov[1].base, a);
    assert_int_equal(iov[1].len, n);
    assert_int_equal(iov[2].len, 8 + 10);
    assert_ptr_equal(iov[3].base, c);
    assert_int_equal(iov[3].len, n);
    assert_int_equal(ws_conn_output(p.srv, iov, 2), 2); /* fewer slots: a prefix */
    assert_ptr_equal(iov[1].base, a);

    /* Partial acks move through the borrowed piece without copying it. */
    assert_int_equal(ws_conn_output_ack(p.srv, 10 + 1234), WS_OK);
    assert_int_equal(ws_conn_output_acked(p.srv), 10 + 1234);
    assert_true(ws_conn_output_acked(p.srv) < qa); /* A still referenced */
    const void *rel = &rel;
    assert_int_equal(ws_conn_next_released(p.srv, &rel), 0);
    assert_null(rel);
    assert_true(ws_conn_output(p.srv, iov, 8) >= 1);
    assert_ptr_equal(iov[0].base, a + 1234);
    assert_int_equal(iov[0].len, n - 1234);
    assert_int_equal(ws_conn_output_ack(p.srv, n - 1234 + 3), WS_OK);
    assert_true(ws_conn_output_acked(p.srv) >= qa); /* A released */
    assert_int_equal(ws_conn_next_released(p.srv, &rel), 1);
    assert_ptr_equal(rel, a);
    assert_int_equal(ws_conn_next_released(p.srv, &rel), 0);
    assert_int_equal(ws_conn_output(p.srv, iov, 8), 2);
    assert_int_equal(iov[0].len, 15);
    assert_ptr_equal(iov[1].base, c);
    /* More than pending is refused and changes nothing. */
    assert_int_equal(ws_conn_output_ack(p.srv, 15 + n + 1), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_buffered_amount(p.srv), 15 + n);
    assert_int_equal(ws_conn_output_ack(p.srv, 0), WS_OK);

    bytes rest = {0};
    assert_int_equal(take_output(p.srv, &rest, 999), 15 + n);
    assert_memory_equal(rest.p + 15, c, n);
    assert_int_equal(ws_conn_output_acked(p.srv), qc);
    assert_int_equal(ws_conn_next_released(p.srv, &rel), 1);
    assert_ptr_equal(rel, c);
    assert_int_equal(ws_conn_next_released(p.srv, &rel), 0);
    bytes_free(&rest);
    pair_free(&p);

    /* The whole stream, through to the client in odd-sized writes. */
    pair_init(&p);
    assert_int_equal(ws_conn_send(p.srv, WS_OP_BINARY, a, n, WS_SEND_BORROW), WS_OK);
    assert_int_equal(ws_conn_send(p.srv, WS_OP_TEXT, "copied", 6, 0), WS_OK);
    assert_int_equal(ws_conn_send_fragment(p.srv, WS_OP_BINARY, c, 1000, 0, WS_SEND_BORROW),
                     WS_OK);
    assert_int_equal(ws_conn_ping(p.srv, "pp", 2), WS_OK);
    assert_int_equal(ws_conn_send_fragment(p.srv, WS_OP_BINARY, c + 1000, n - 1000, 1,
                                           WS_SEND_BORROW),
                     WS_OK);
    assert_int_equal(ws_conn_set_option(p.srv, WS_OPT_FRAGMENT_SIZE, 4096), WS_OK);
    assert_int_equal(ws_conn_send(p.srv, WS_OP_BINARY, a, n, WS_SEND_BORROW), WS_OK);
    pump_all_ex(&p, 777, 0);
    assert_int_equal(p.clog.n, 5);
    log_assert_message(&p.clog, 0, WS_OP_BINARY, a, n);
    log_assert_message(&p.clog, 1, WS_OP_TEXT, "copied", 6);
    assert_int_equal(p.clog.v[2].type, WS_EV_PING);
    log_assert_message(&p.clog, 3, WS_OP_BINARY, c, n);
    log_assert_message(&p.clog, 4, WS_OP_BINARY, a, n);
    log_clear(&p.clog);
    /* one release per borrowed send, in order, fragments included */
    const void *want_rel[] = {a, c, c + 1000, a};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(ws_conn_next_released(p.srv, &rel), 1);
        assert_ptr_equal(rel, want_rel[i]);
    }
    assert_int_equal(ws_conn_next_released(p.srv, &rel), 0);

    /* A client copies (it must mask): BORROW is ignored, no view into the caller's buffer. */
    uint64_t q0 = ws_conn_output_queued(p.cli);
    assert_int_equal(ws_conn_send(p.cli, WS_OP_BINARY, a, n, WS_SEND_BORROW), WS_OK);
    assert_int_equal(ws_conn_output_queued(p.cli) - q0, n + 14);
    int k = ws_conn_output(p.cli, iov, 8);
    assert_true(k >= 1);
    for (int i = 0; i < k; i++)
        assert_false(iov_in(&iov[i], a, n));
    pump_all(&p);
    assert_int_equal(p.slog.n, 2); /* the pong for "pp", then the message */
    assert_int_equal(p.slog.v[0].type, WS_EV_PONG);
    log_assert_message(&p.slog, 1, WS_OP_BINARY, a, n);
    assert_int_equal(ws_conn_next_released(p.cli, &rel), 1); /* copied, still reported */
    assert_ptr_equal(rel, a);
    assert_int_equal(ws_conn_next_released(p.cli, &rel), 0);
    pair_free(&p);
    free(a);
    free(c);
}

/* Pieces of output after a 1-byte message and a copied one of `len` bytes (and, if borrow is
 * set, a borrowed message of 100000 bytes) from a fresh server. */
static int pieces_after(size_t len, const uint8_t *borrow, ws_iovec *iov, pair *p)
{
    static uint8_t copied[65535];
    pair_init(p);
    assert_int_equal(ws_conn_send(p->srv, WS_OP_BINARY, "x", 1, 0), WS_OK);
    assert_int_equal(ws_conn_send(p->srv, WS_OP_BINARY, copied, len, 0), WS_OK);
    if (borrow)
        assert_int_equal(ws_conn_send(p->srv, WS_OP_BINARY, borrow, 100000, WS_SEND_BORROW),
                         WS_OK);
    return ws_conn_output(p->srv, iov, 8);
}

/* A borrowed payload's header goes into the room left in the output buffer before it, even
 * when exactly its size is left: one piece with the bytes before it, then the payload itself
 * (no new buffer for ten bytes, one piece fewer for writev). One byte less room and it starts
 * a new piece. */
static void test_borrow_header_in_last_room(void **state)
{
    (void)state;
    pair p;
    ws_iovec iov[8];
    size_t n = 100000, lo = 126, hi = 65535;
    uint8_t *a = malloc(n);
    assert_non_null(a);
    test_fill(a, n, 31);
    /* the room of the first buffer: the longest second message that still joins the first */
    assert_int_equal(pieces_after(lo, NULL, iov, &p), 1);
    pair_free(&p);
    assert_int_equal(pieces_after(hi, NULL, iov, &p), 2);
    pair_free(&p);
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        int k = pieces_after(mid, NULL, iov, &p);
        pair_free(&p);
        if (k == 1)
            lo = mid;
        else
            hi = mid;
    }
    size_t room = 3 + 4 + lo; /* both messages fill it to the byte */
    print_message("first output buffer: %zu bytes\n", room);
    assert_true(lo >= 126 + 10);

    /* ten bytes left: the 64-bit header of the borrowed payload fits */
    assert_int_equal(pieces_after(lo - 10, a, iov, &p), 2);
    assert_int_equal(iov[0].len, room);
    assert_ptr_equal(iov[1].base, a);
    assert_int_equal(iov[1].len, n);
    pump_all(&p);
    assert_int_equal(p.clog.n, 3);
    log_assert_message(&p.clog, 2, WS_OP_BINARY, a, n);
    pair_free(&p);

    /* nine left: the header starts the next piece */
    assert_int_equal(pieces_after(lo - 9, a, iov, &p), 3);
    assert_int_equal(iov[0].len, room - 9);
    assert_int_equal(iov[1].len, 10);
    assert_ptr_equal(iov[2].base, a);
    pump_all(&p);
    assert_int_equal(p.clog.n, 3);
    log_assert_message(&p.clog, 2, WS_OP_BINARY, a, n);
    pair_free(&p);
    free(a);
}

/* Partial writes of arbitrary sizes and feeds of other sizes give the same events. */
static void test_partial_writes(void **state)
{
    (void)state;
    uint8_t data[20000];
    test_fill(data, sizeof data, 21);
    ev_log ref[2] = {{0}, {0}};
    static const size_t w[] = {0, 1, 2, 3, 5, 7, 13, 100, 1023, 4096};
    static const size_t f[] = {0, 1, 4, 9, 64};
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        for (size_t j = 0; j < sizeof f / sizeof f[0]; j++) {
            if (w[i] == 1 && f[j] != 1 && f[j] != 0)
                continue; /* nothing new: every write is one byte */
            pair p;
            pair_init(&p);
            for (int ts = 0; ts < 2; ts++) {
                way wy = way_of(&p, ts);
                assert_int_equal(ws_conn_send(wy.from, WS_OP_BINARY, data, sizeof data,
                                              ts ? 0 : WS_SEND_BORROW),
                                 WS_OK);
                assert_int_equal(ws_conn_ping(wy.from, "ping", 4), WS_OK);
                assert_int_equal(ws_conn_send(wy.from, WS_OP_TEXT, "t", 1, 0), WS_OK);
            }
            assert_int_equal(ws_conn_close(p.cli, 4000, "done", 4), WS_OK);
            pump_all_ex(&p, w[i], f[j]);
            if (i == 0 && j == 0) {
                /* The client sent its close before the server's ping arrived, so it does not
                 * answer it: server sees msg, ping, msg, close; client also a pong. */
                assert_int_equal(p.slog.n, 4);
                assert_int_equal(p.clog.n, 5);
                assert_int_equal(p.clog.v[3].type, WS_EV_PONG);
                assert_int_equal(log_assert_closed(&p.slog)->close_code, 4000);
                assert_int_equal(log_assert_closed(&p.clog)->close_code, 4000);
                ref[0] = p.slog;
                ref[1] = p.clog;
                memset(&p.slog, 0, sizeof p.slog);
                memset(&p.clog, 0, sizeof p.clog);
            } else {
                log_assert_equal(&ref[0], &p.slog);
                log_assert_equal(&ref[1], &p.clog);
            }
            assert_int_equal(ws_conn_state(p.srv), WS_STATE_CLOSED);
            assert_int_equal(ws_conn_state(p.cli), WS_STATE_CLOSED);
            pair_free(&p);
        }
    }
    log_free(&ref[0]);
    log_free(&ref[1]);
}

/* Caller errors: returned, nothing queued, connection unchanged. */
static void test_send_misuse(void **state)
{
    (void)state;
    pair p;
    uint8_t big[126] = {0};
    pair_init(&p);
    for (int ts = 0; ts < 2; ts++) {
        way w = way_of(&p, ts);
        uint64_t q = ws_conn_output_queued(w.from);
        assert_int_equal(ws_conn_send(w.from, WS_OP_PING, "x", 1, 0), WS_ERR_INVALID_ARG);
        assert_int_equal(ws_conn_send(w.from, WS_OP_CONTINUATION, "x", 1, 0),
                         WS_ERR_INVALID_ARG);
        assert_int_equal(ws_conn_send(w.from, (uint32_t)3, "x", 1, 0), WS_ERR_INVALID_ARG);
        assert_int_equal(ws_conn_send(w.from, WS_OP_BINARY, NULL, 1, 0), WS_ERR_INVALID_ARG);
        assert_int_equal(ws_conn_send(NULL, WS_OP_BINARY, "x", 1, 0), WS_ERR_INVALID_ARG);
        assert_int_equal(ws_conn_send(w.from, WS_OP_TEXT, "a\xC0\xAF", 3, 0),
                         WS_ERR_INVALID_UTF8);
        assert_int_equal(ws_conn_send(w.from, WS_OP_TEXT, "a\xCE", 2, 0), WS_ERR_INVALID_UTF8);
        assert_int_equal(ws_conn_ping(w.from, big, 126), WS_ERR_INVALID_ARG);
        assert_int_equal(ws_conn_pong(w.from, big, 126), WS_ERR_INVALID_ARG);
        assert_int_equal(ws_conn_ping(w.from, NULL, 3), WS_ERR_INVALID_ARG);
        assert_int_equal(ws_conn_output_queued(w.from), q);
        assert_int_equal(ws_conn_buffered_amount(w.from), 0);
        /* Binary is not checked for UTF-8. */
        assert_int_equal(ws_conn_send(w.from, WS_OP_BINARY, "a\xC0\xAF", 3, 0), WS_OK);
        assert_int_equal(ws_conn_ping(w.from, big, 125), WS_OK);
        pump_all(&p);
        assert_int_equal(ws_conn_state(w.to), WS_STATE_OPEN);
        assert_int_equal(ws_conn_state(w.from), WS_STATE_OPEN);
    }
    /* A client whose random source fails cannot mask: nothing is queued. */
    assert_int_equal(ws_conn_set_random(p.cli, failing_rng, NULL), WS_OK);
    assert_int_equal(ws_conn_send(p.cli, WS_OP_BINARY, "x", 1, 0), WS_ERR_RANDOM);
    assert_int_equal(ws_conn_buffered_amount(p.cli), 0);
    /* A server never needs randomness. */
    assert_int_equal(ws_conn_set_random(p.srv, failing_rng, NULL), WS_OK);
    assert_int_equal(ws_conn_send(p.srv, WS_OP_BINARY, "x", 1, 0), WS_OK);
    /* Feed misuse. */
    size_t used = 5;
    assert_int_equal(ws_conn_feed_inplace(p.srv, NULL, 3, &used), WS_ERR_INVALID_ARG);
    assert_int_equal(used, 0); /* counts are set whatever the return (ws.h rule 1) */
    assert_int_equal(ws_conn_feed_inplace(p.srv, NULL, 0, &used), WS_OK);
    assert_int_equal(ws_conn_feed_inplace(NULL, NULL, 0, &used), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_output(p.srv, NULL, 8), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_output(NULL, NULL, 8), WS_ERR_INVALID_ARG);
    pair_free(&p);
}

/* The straight-line paths (a warm server: its queue has a block, whole small messages) keep
 * every rule of the general ones: text is checked before it is queued, a length that is not
 * minimally encoded is refused even at 125, limits hold to the byte, and a message that the
 * fast path would take is refused where the general path refuses it. */
static void test_fast_paths_keep_the_rules(void **state)
{
    (void)state;
    uint32_t rng = 3;
    for (int round = 0; round < 5; round++) {
        ws_conn *c = conn_open(WS_ROLE_SERVER, NULL, &rng);
        ev_log l = {0};
        bytes in = {0}, out = {0};
        uint8_t p[200];
        memset(p, 'a', sizeof p);
        /* warm: a block in the queue */
        assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "warm", 4, 0), WS_OK);
        uint64_t q = ws_conn_output_queued(c);
        if (round == 0) {
            /* invalid UTF-8 text is refused, nothing queued; binary of the same bytes goes */
            assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "a\xff", 2, 0), WS_ERR_INVALID_UTF8);
            assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "\xe2\x82", 2, 0), WS_ERR_INVALID_UTF8);
            assert_int_equal(ws_conn_output_queued(c), q);
            assert_int_equal(ws_conn_send(c, WS_OP_BINARY, "a\xff", 2, 0), WS_OK);
            assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "\xe2\x82\xac", 3, 0), WS_OK);
            assert_int_equal(ws_conn_output_queued(c), q + 4 + 5);
            assert_int_equal(ws_conn_send(c, 7, "x", 1, 0), WS_ERR_INVALID_ARG);
            assert_int_equal(ws_conn_send(c, WS_OP_TEXT, NULL, 1, 0), WS_ERR_INVALID_ARG);
        } else if (round == 1) {
            /* 125 bytes in a 16-bit length: not minimal, refused (1002) */
            raw_header(&in, WS_OP_BINARY, 1, 1, 125, 2);
            size_t at = in.n;
            bytes_append(&in, p, 125);
            ws_mask(in.p + at, 125, test_mask_key, 0);
            assert_int_equal(feed_copy(c, &l, in.p, in.n, 0), WS_OK);
            assert_non_null(log_find(&l, WS_EV_ERROR, 0));
            assert_int_equal(log_find(&l, WS_EV_ERROR, 0)->error, WS_ERR_FRAME_NON_MINIMAL_LENGTH);
        } else if (round == 4) {
            /* sizes around the short-payload kernels' bounds, text and binary, in place */
            static const size_t sizes[] = {0, 1, 7, 8, 9, 63, 64, 65, 66, 125, 126, 127, 1000};
            uint8_t t[1000];
            for (size_t i = 0; i < sizeof t; i++)
                t[i] = (uint8_t)('a' + i % 26);
            for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
                peer_frame(&in, WS_ROLE_SERVER, WS_OP_BINARY, 1, p, sizes[i] < 200 ? sizes[i] : 200);
                peer_frame(&in, WS_ROLE_SERVER, WS_OP_TEXT, 1, t, sizes[i]);
            }
            assert_int_equal(feed_chunks(c, &l, in.p, in.n, 0), WS_OK);
            assert_int_equal(l.n, 2 * (sizeof sizes / sizeof sizes[0]));
            for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
                log_assert_message(&l, 2 * i, WS_OP_BINARY, p, sizes[i] < 200 ? sizes[i] : 200);
                log_assert_message(&l, 2 * i + 1, WS_OP_TEXT, t, sizes[i]);
            }
        } else {
            /* the message limit to the byte: 100 passes, 101 is refused (1009) */
            assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_MESSAGE_SIZE, 100), WS_OK);
            peer_frame(&in, WS_ROLE_SERVER, WS_OP_BINARY, 1, p, 100);
            peer_frame(&in, WS_ROLE_SERVER, round == 2 ? WS_OP_BINARY : WS_OP_TEXT, 1, p, 101);
            assert_int_equal(feed_copy(c, &l, in.p, in.n, 0), WS_OK);
            log_assert_message(&l, 0, WS_OP_BINARY, p, 100);
            assert_int_equal(log_find(&l, WS_EV_ERROR, 0)->error, WS_ERR_FRAME_TOO_LARGE);
            assert_int_equal(log_last(&l)->close_code, WS_CLOSE_MESSAGE_TOO_BIG);
        }
        take_output(c, &out, 0);
        bytes_free(&in);
        bytes_free(&out);
        log_free(&l);
        ws_conn_free(c);
    }
}

/* ws_conn_next_events takes many events in one call, the same events in the same order as
 * one-at-a-time taking, and every view of a batch stays valid until the next call: it stops
 * after an event in a buffer the next one would reuse (a reassembled message). */
static void test_next_events_batch(void **state)
{
    (void)state;
    uint32_t rng = 4;
    bytes in = {0};
    uint8_t big[3000];
    test_fill(big, sizeof big, 9);
    for (int i = 0; i < 21; i++) {
        char m[8];
        if (i == 20) { /* a close: it ends the batch, so the message before it can be answered */
            peer_frame(&in, WS_ROLE_SERVER, WS_OP_CLOSE, 1, "\x03\xe8", 2);
            break;
        }
        int k = snprintf(m, sizeof m, "m%d", i);
        peer_frame(&in, WS_ROLE_SERVER, WS_OP_TEXT, 1, m, (size_t)k);
        if (i == 7)
            peer_frame(&in, WS_ROLE_SERVER, WS_OP_PING, 1, "p", 1);
        if (i == 12 || i == 13) { /* fragmented messages: reassembled, each ends a batch
                                     (the second reuses the buffer the first is shown in) */
            peer_frame(&in, WS_ROLE_SERVER, WS_OP_BINARY, 0, big + (i - 12) * 7, 1000);
            peer_frame(&in, WS_ROLE_SERVER, WS_OP_CONTINUATION, 1, big + 1000, 2000);
        }
    }
    /* one at a time: the reference */
    ws_conn *a = conn_open(WS_ROLE_SERVER, NULL, &rng), *b = conn_open(WS_ROLE_SERVER, NULL, &rng);
    ev_log ref = {0}, got = {0};
    assert_int_equal(feed_const(a, &ref, in.p, in.n, 0), WS_OK);
    assert_int_equal(ref.n, 24);

    size_t taken = 0, calls = 0, pos = 0;
    int replied = 0;
    ws_event evs[64];
    while (pos < in.n || taken < ref.n) {
        size_t t = 0;
        if (pos < in.n) {
            assert_int_equal(ws_conn_feed(b, in.p + pos, in.n - pos, &t), WS_OK);
            pos += t;
        }
        int k = ws_conn_next_events(b, evs, 64, sizeof evs[0]);
        assert_true(k >= 0);
        if (k == 0 && t == 0)
            break;
        calls += k > 0;
        if (k > 0 && evs[k - 1].type == WS_EV_MESSAGE && evs[k - 1].len == 3 &&
            !memcmp(evs[k - 1].data, "m19", 3)) {
            /* the last message before the close: the close is not answered yet */
            assert_int_equal(ws_conn_state(b), WS_STATE_OPEN);
            assert_int_equal(ws_conn_send(b, WS_OP_TEXT, "reply", 5, 0), WS_OK);
            replied = 1;
        }
        /* every view of the batch is intact now, after the batch is complete */
        for (int i = 0; i < k; i++)
            log_add(&got, &evs[i]);
        taken += (size_t)k;
    }
    assert_int_equal(got.n, ref.n);
    log_assert_equal(&got, &ref);
    /* 24 events in 7 batches: a batch takes whole valid messages ahead of the caller and
     * ends at anything else -- the ping, each fragmented message (after it is shown: it is
     * reassembled), the close */
    assert_int_equal(calls, 7);
    assert_int_equal(got.v[got.n - 1].type, WS_EV_CLOSE);
    assert_true(replied); /* a batch ended right before the close */
    assert_int_equal(ws_conn_next_events(b, evs, 64, sizeof evs[0]), 0);
    {
        /* a violation further on is not processed ahead of the messages before it: the next
         * batch carries its ERROR and the CLOSE, in order */
        ws_conn *v = conn_open(WS_ROLE_SERVER, NULL, &rng);
        bytes bad = {0};
        peer_frame(&bad, WS_ROLE_SERVER, WS_OP_TEXT, 1, "ok", 2);
        peer_frame(&bad, WS_ROLE_SERVER, WS_OP_TEXT, 1, "\xff", 1);
        size_t t = 0;
        assert_int_equal(ws_conn_feed(v, bad.p, bad.n, &t), WS_OK);
        assert_int_equal(t, bad.n);
        int k = ws_conn_next_events(v, evs, 64, sizeof evs[0]);
        assert_int_equal(k, 1);
        assert_int_equal(evs[0].type, WS_EV_MESSAGE);
        assert_int_equal(ws_conn_buffered_amount(v), 0); /* nothing answered yet */
        k = ws_conn_next_events(v, evs, 64, sizeof evs[0]);
        assert_int_equal(k, 2);
        assert_int_equal(evs[0].type, WS_EV_ERROR);
        assert_int_equal(evs[0].error, WS_ERR_INVALID_UTF8);
        assert_int_equal(evs[1].type, WS_EV_CLOSE);
        assert_int_equal(evs[1].close_code, WS_CLOSE_INVALID_PAYLOAD);
        assert_int_equal(ws_conn_next_events(v, evs, 64, sizeof evs[0]), 0);
        bytes_free(&bad);
        ws_conn_free(v);
    }
    assert_int_equal(ws_conn_next_events(NULL, evs, 1, sizeof evs[0]), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_next_events(b, NULL, 1, sizeof evs[0]), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_next_events(b, evs, 1, 4), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_next_events(b, evs, 0, sizeof evs[0]), 0);
    log_free(&ref);
    log_free(&got);
    bytes_free(&in);
    ws_conn_free(a);
    ws_conn_free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_binary_both_ways),
        cmocka_unit_test(test_empty_messages),
        cmocka_unit_test(test_large_messages),
        cmocka_unit_test(test_fragments_with_pings),
        cmocka_unit_test(test_auto_fragmentation),
        cmocka_unit_test(test_streaming),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_inplace_batch),
        cmocka_unit_test(test_feed_events),
        cmocka_unit_test(test_feed_copies),
        cmocka_unit_test(test_feed_input_limit),
        cmocka_unit_test(test_session_split),
        cmocka_unit_test(test_masking),
        cmocka_unit_test(test_masking_keys_from_hook),
        cmocka_unit_test(test_borrow),
        cmocka_unit_test(test_borrow_header_in_last_room),
        cmocka_unit_test(test_partial_writes),
        cmocka_unit_test(test_send_misuse),
        cmocka_unit_test(test_fast_paths_keep_the_rules),
        cmocka_unit_test(test_next_events_batch),
    };
    return cmocka_run_group_tests_name("conn_messages", tests, NULL, NULL);
}
