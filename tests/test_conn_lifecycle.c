/* Connection layer: states and the closing handshake, pings and pongs, timers on a fake clock,
 * backpressure, statistics, options, and allocation-failure injection. */
#include "conn_util.h"

static ws_conn *other(pair *p, ws_conn *c)
{
    return c == p->srv ? p->cli : p->srv;
}

static ev_log *log_of(pair *p, ws_conn *c)
{
    return c == p->srv ? &p->slog : &p->clog;
}

static void pump_to(pair *p, ws_conn *to)
{
    pump(other(p, to), to, log_of(p, to), 0);
}

/* ---- states ---- */

static void test_not_open(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        ws_conn *c = new_conn((uint32_t)role, 0, NULL);
        ws_event e;
        ws_iovec iov[2];
        uint8_t buf[8] = {0x81, 0x00};
        size_t used = 9;
        ev_log l = {0};
        assert_non_null(c);
        assert_int_equal(ws_conn_state(c), WS_STATE_CONNECTING);
        assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 0);
        assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "x", 1, 0), WS_ERR_STATE);
        assert_int_equal(ws_conn_send_fragment(c, WS_OP_TEXT, "x", 1, 0, 0), WS_ERR_STATE);
        assert_int_equal(ws_conn_ping(c, "x", 1), WS_ERR_STATE);
        assert_int_equal(ws_conn_pong(c, "x", 1), WS_ERR_STATE);
        assert_int_equal(ws_conn_close(c, 1000, NULL, 0), WS_ERR_STATE);
        assert_int_equal(ws_conn_output(c, iov, 2), 0);
        assert_int_equal(ws_conn_buffered_amount(c), 0);
        assert_int_equal(ws_conn_wants_shutdown(c), 0);
        if (role == WS_ROLE_CLIENT) {
            /* A client that has not started its handshake takes no input. */
            assert_int_equal(ws_conn_feed_inplace(c, buf, 2, &used), WS_ERR_STATE);
            assert_int_equal(used, 0);
            assert_int_equal(ws_conn_state(c), WS_STATE_CONNECTING);
        } else {
            /* A server reads an HTTP request: a WebSocket frame instead fails the
             * handshake (no close frame: the connection never opened). */
            assert_int_equal(feed_chunks(c, &l, buf, 2, 0), WS_OK);
            assert_int_equal(l.n, 2);
            assert_int_equal(l.v[0].type, WS_EV_ERROR);
            assert_true(l.v[0].error <= -40 && l.v[0].error >= -79);
            assert_int_equal(log_assert_closed(&l)->close_code, 1006);
            assert_int_equal(ws_conn_state(c), WS_STATE_CLOSED);
            assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "x", 1, 0), WS_ERR_CLOSED);
            ws_conn_free(c);
            log_clear(&l);
            c = new_conn((uint32_t)role, 0, NULL);
        }
        /* The transport going away ends it: 1006, nothing sent. */
        assert_int_equal(ws_conn_feed_eof(c), WS_OK);
        drain(c, &l);
        assert_int_equal(l.n, 2);
        assert_int_equal(l.v[0].type, WS_EV_ERROR);
        assert_int_equal(l.v[0].error, WS_ERR_EOF);
        assert_int_equal(log_assert_closed(&l)->close_code, 1006);
        assert_int_equal(ws_conn_state(c), WS_STATE_CLOSED);
        assert_int_equal(ws_conn_wants_shutdown(c), 1);
        assert_int_equal(ws_conn_output(c, iov, 2), 0);
        log_free(&l);
        ws_conn_free(c);
    }
    /* Bad arguments. */
    ws_conn *c = NULL;
    ws_event e;
    ws_allocator small = {sizeof(ws_allocator) - 1, NULL, NULL, NULL, NULL};
    assert_int_equal(ws_conn_new(&c, 2, WS_CONN_OPEN, NULL), WS_ERR_INVALID_ARG);
    assert_null(c);
    assert_int_equal(ws_conn_new(&c, WS_ROLE_SERVER, 1u << 7, NULL), WS_ERR_INVALID_ARG);
    assert_null(c);
    ws_config *cfg = NULL;
    assert_int_equal(ws_config_new(&cfg, &small), WS_ERR_INVALID_ARG);
    assert_null(cfg);
    assert_int_equal(ws_conn_new(NULL, WS_ROLE_SERVER, 0, NULL), WS_ERR_INVALID_ARG);
    ws_conn_free(NULL);
    assert_int_equal(ws_conn_state(NULL), WS_STATE_CLOSED);
    assert_int_equal(ws_conn_role(NULL), -1);
    assert_int_equal(ws_conn_next_event(NULL, &e, sizeof e), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_next_event(NULL, NULL, sizeof(ws_event)), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_set_random(NULL, NULL, NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_close(NULL, 1000, NULL, 0), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_feed_eof(NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_tick(NULL, 0), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_next_deadline(NULL), WS_DEADLINE_NONE);
    assert_int_equal(ws_conn_wants_shutdown(NULL), 0);
    assert_int_equal(ws_conn_output_queued(NULL), 0);
    assert_int_equal(ws_conn_output_acked(NULL), 0);
}

/* OPEN -> CLOSING -> CLOSED, either side starting, the other side still sending meanwhile. */
static void test_close_handshake(void **state)
{
    (void)state;
    for (int init_srv = 0; init_srv < 2; init_srv++) {
        pair p;
        pair_init(&p);
        ws_conn *a = init_srv ? p.srv : p.cli, *b = other(&p, a);
        ws_conn *srv = p.srv, *cli = p.cli;

        assert_int_equal(ws_conn_close(a, 1001, "bye", 3), WS_OK);
        assert_int_equal(ws_conn_state(a), WS_STATE_CLOSING);
        /* Nothing can be sent after close. */
        assert_int_equal(ws_conn_send(a, WS_OP_TEXT, "x", 1, 0), WS_ERR_CLOSED);
        assert_int_equal(ws_conn_send_fragment(a, WS_OP_TEXT, "x", 1, 0, 0), WS_ERR_CLOSED);
        assert_int_equal(ws_conn_ping(a, "x", 1), WS_ERR_CLOSED);
        assert_int_equal(ws_conn_pong(a, "x", 1), WS_ERR_CLOSED);
        assert_int_equal(ws_conn_close(a, 1000, NULL, 0), WS_ERR_CLOSED);
        assert_int_equal(ws_conn_wants_shutdown(a), 0);
        /* The peer has not seen it yet and still sends. */
        assert_int_equal(ws_conn_send(b, WS_OP_TEXT, "late", 4, 0), WS_OK);

        pump_to(&p, b);
        ev_log *bl = log_of(&p, b);
        assert_int_equal(bl->n, 1);
        const ev_rec *cl = log_assert_closed(bl);
        assert_int_equal(cl->close_code, 1001);
        assert_int_equal(cl->by_peer, 1);
        assert_string_equal((char *)cl->data, "bye");
        assert_int_equal(ws_conn_state(b), WS_STATE_CLOSED);
        assert_int_equal(ws_conn_send(b, WS_OP_TEXT, "x", 1, 0), WS_ERR_CLOSED);
        assert_int_equal(ws_conn_close(b, 1000, NULL, 0), WS_ERR_CLOSED);
        /* b queued its echo behind "late"; a server waits for it to be written. */
        assert_int_equal(ws_conn_wants_shutdown(b), 0);

        pump_to(&p, a);
        ev_log *al = log_of(&p, a);
        assert_int_equal(al->n, 2);
        log_assert_message(al, 0, WS_OP_TEXT, "late", 4); /* data while CLOSING is delivered */
        cl = log_assert_closed(al);
        assert_int_equal(cl->close_code, 1001); /* the echo carries our code */
        assert_int_equal(cl->by_peer, 0);
        assert_int_equal(cl->len, 0);
        assert_int_equal(ws_conn_state(a), WS_STATE_CLOSED);

        /* Both closed and drained: the server shuts down first, the client waits for the
         * server's end of file. */
        assert_int_equal(ws_conn_wants_shutdown(srv), 1);
        assert_int_equal(ws_conn_wants_shutdown(cli), 0);
        assert_int_equal(ws_conn_feed_eof(cli), WS_OK);
        assert_int_equal(ws_conn_wants_shutdown(cli), 1);
        assert_int_equal(drain(cli, NULL), 0); /* exactly one CLOSE event */
        assert_int_equal(ws_conn_feed_eof(srv), WS_OK);
        assert_int_equal(drain(srv, NULL), 0);

        ws_conn_stats st;
        assert_int_equal(ws_conn_get_stats(a, &st, sizeof st), WS_OK);
        assert_int_equal(st.close_code_sent, 1001);
        assert_int_equal(st.close_code_received, 1001);
        assert_int_equal(st.closed_by_peer, 0);
        assert_int_equal(ws_conn_get_stats(b, &st, sizeof st), WS_OK);
        assert_int_equal(st.closed_by_peer, 1);
        pair_free(&p);
    }
}

static void test_close_simultaneous(void **state)
{
    (void)state;
    pair p;
    pair_init(&p);
    assert_int_equal(ws_conn_close(p.srv, 4001, "s", 1), WS_OK);
    assert_int_equal(ws_conn_close(p.cli, 4002, "c", 1), WS_OK);
    /* Each side's output: exactly one close frame. */
    bytes s = {0}, c = {0};
    take_output(p.srv, &s, 0);
    take_output(p.cli, &c, 0);
    assert_int_equal(feed_chunks(p.srv, &p.slog, c.p, c.n, 1), WS_OK);
    assert_int_equal(feed_chunks(p.cli, &p.clog, s.p, s.n, 1), WS_OK);
    const ev_rec *e = log_assert_closed(&p.slog);
    assert_int_equal(p.slog.n, 1);
    assert_int_equal(e->close_code, 4002);
    assert_int_equal(e->by_peer, 0);
    e = log_assert_closed(&p.clog);
    assert_int_equal(p.clog.n, 1);
    assert_int_equal(e->close_code, 4001);
    assert_int_equal(ws_conn_state(p.srv), WS_STATE_CLOSED);
    assert_int_equal(ws_conn_state(p.cli), WS_STATE_CLOSED);
    assert_int_equal(ws_conn_buffered_amount(p.srv), 0); /* no second close */
    assert_int_equal(ws_conn_buffered_amount(p.cli), 0);
    assert_int_equal(ws_conn_wants_shutdown(p.srv), 1);
    bytes_free(&s);
    bytes_free(&c);
    pair_free(&p);
}

/* A close without a status code is reported as 1005 and echoed without one. */
static void test_close_without_code(void **state)
{
    (void)state;
    for (int init_srv = 0; init_srv < 2; init_srv++) {
        pair p;
        pair_init(&p);
        ws_conn *a = init_srv ? p.srv : p.cli, *b = other(&p, a);
        assert_int_equal(ws_conn_close(a, 0, "x", 1), WS_ERR_INVALID_ARG);
        assert_int_equal(ws_conn_close(a, 0, NULL, 0), WS_OK);
        frame_list f = output_frames(a);
        assert_int_equal(f.n, 1);
        assert_int_equal(f.v[0].len, 0);
        bytes w = {0};
        peer_frame(&w, ws_conn_role(b), WS_OP_CLOSE, 1, NULL, 0);
        frames_free(&f);
        assert_int_equal(feed_chunks(b, log_of(&p, b), w.p, w.n, 0), WS_OK);
        bytes_free(&w);
        const ev_rec *e = log_assert_closed(log_of(&p, b));
        assert_int_equal(e->close_code, 1005);
        assert_int_equal(e->by_peer, 1);
        assert_int_equal(e->len, 0);
        f = output_frames(b);
        assert_int_equal(f.n, 1);
        assert_int_equal(f.v[0].len, 0); /* echoed without a code */
        w.n = 0;
        peer_frame(&w, ws_conn_role(a), WS_OP_CLOSE, 1, NULL, 0);
        frames_free(&f);
        assert_int_equal(feed_chunks(a, log_of(&p, a), w.p, w.n, 0), WS_OK);
        bytes_free(&w);
        e = log_assert_closed(log_of(&p, a));
        assert_int_equal(e->close_code, 1005);
        assert_int_equal(e->by_peer, 0);
        ws_conn_stats st;
        assert_int_equal(ws_conn_get_stats(b, &st, sizeof st), WS_OK);
        assert_int_equal(st.close_code_received, 1005);
        pair_free(&p);
    }
}

/* Which close codes an endpoint may send, transcribed from RFC 6455 section 7.4 (7.4.1, 7.4.2
 * and the IANA registry), range by range over all 16 bits -- data, not a copy of the
 * library's rule: 0 means "no status" (a close frame without a payload). */
static const struct {
    unsigned lo, hi;
    int sendable;
} close_code_table[] = {
    {0, 0, 1},         /* no status code: an empty close frame */
    {1, 999, 0},       /* not used */
    {1000, 1003, 1},   /* normal, going away, protocol error, unsupported data */
    {1004, 1006, 0},   /* reserved; no status received and abnormal closure never on the wire */
    {1007, 1014, 1},   /* invalid payload .. bad gateway */
    {1015, 2999, 0},   /* TLS handshake (never on the wire), then reserved for the protocol */
    {3000, 4999, 1},   /* registered for libraries and frameworks, private use */
    {5000, 65535, 0},  /* undefined */
};

static int close_code_sendable(unsigned code)
{
    for (size_t i = 0; i < sizeof close_code_table / sizeof close_code_table[0]; i++)
        if (code >= close_code_table[i].lo && code <= close_code_table[i].hi)
            return close_code_table[i].sendable;
    fail();
    return 0;
}

static void test_close_send_validation(void **state)
{
    (void)state;
    /* The table covers every code once; 12 + 2000 codes besides 0 are sendable. */
    unsigned sendable = 0;
    for (unsigned code = 1; code <= 65535; code++) {
        sendable += (unsigned)close_code_sendable(code);
        if (ws_close_code_valid(code) != close_code_sendable(code))
            print_message("ws_close_code_valid(%u) = %d\n", code, ws_close_code_valid(code));
        assert_int_equal(ws_close_code_valid(code), close_code_sendable(code));
    }
    assert_int_equal(sendable, 12 + 2000);
    assert_int_equal(ws_close_code_valid(0), 0); /* 0 is no code: ws_conn_close's "none" */
    assert_int_equal(ws_close_code_valid(65536 + 1000), 0);

    for (int role = 0; role < 2; role++) {
        for (unsigned code = 0; code <= 5001; code++) {
            uint32_t rng = 1;
            unsigned c16 = code == 5001 ? 65535 : code;
            ws_conn *c = conn_open((uint32_t)role, NULL, &rng);
            int r = ws_conn_close(c, (uint16_t)c16, NULL, 0);
            if (close_code_sendable(c16)) {
                assert_int_equal(r, WS_OK);
                assert_int_equal(ws_conn_state(c), WS_STATE_CLOSING);
                frame_list f = output_frames(c);
                assert_int_equal(f.n, 1);
                assert_int_equal(close_code_of(&f.v[0]), c16 ? c16 : 1005);
                frames_free(&f);
            } else {
                assert_int_equal(r, WS_ERR_CLOSE_CODE);
                assert_int_equal(ws_conn_state(c), WS_STATE_OPEN);
                assert_int_equal(ws_conn_buffered_amount(c), 0);
                assert_int_equal(ws_conn_output_queued(c), 0);
            }
            ws_conn_free(c);
        }
    }
    /* Reasons: at most 123 bytes of valid UTF-8. */
    char reason[124];
    memset(reason, 'r', sizeof reason);
    uint32_t rng = 1;
    ws_conn *c = conn_open(WS_ROLE_CLIENT, NULL, &rng);
    assert_int_equal(ws_conn_close(c, 1000, reason, 124), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_close(c, 1000, NULL, 1), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_close(c, 1000, "\xC0\xAF", 2), WS_ERR_INVALID_UTF8);
    assert_int_equal(ws_conn_close(c, 1000, "ok\xE2\x82", 4), WS_ERR_INVALID_UTF8);
    assert_int_equal(ws_conn_close(c, 1005, NULL, 0), WS_ERR_CLOSE_CODE);
    assert_int_equal(ws_conn_close(c, 1006, NULL, 0), WS_ERR_CLOSE_CODE);
    assert_int_equal(ws_conn_close(c, 1015, NULL, 0), WS_ERR_CLOSE_CODE);
    assert_int_equal(ws_conn_buffered_amount(c), 0);
    assert_int_equal(ws_conn_state(c), WS_STATE_OPEN);
    memcpy(reason + 120, "\xE2\x82\xAC", 3);
    assert_int_equal(ws_conn_close(c, 3000, reason, 123), WS_OK);
    frame_list f = output_frames(c);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.v[0].len, 125);
    assert_memory_equal(f.v[0].data + 2, reason, 123);
    frames_free(&f);
    ws_conn_free(c);
}

/* Nothing after a close frame is processed. */
static void test_data_after_close_discarded(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        uint32_t r = (uint32_t)role;
        for (size_t chunk = 0; chunk < 3; chunk++) {
            uint32_t rng = 1;
            ws_conn *c = conn_open(r, NULL, &rng);
            ev_log l = {0};
            bytes w = {0};
            peer_frame(&w, r, WS_OP_TEXT, 1, "before", 6);
            peer_close(&w, r, 1000, NULL, 0);
            peer_frame(&w, r, WS_OP_TEXT, 1, "after", 5);
            peer_frame(&w, r, WS_OP_PING, 1, "p", 1);
            raw_frame(&w, 5, 1, WS_RSV2, 0, "garbage", 7); /* not even checked */
            assert_int_equal(feed_chunks(c, &l, w.p, w.n, chunk), WS_OK);
            assert_int_equal(l.n, 2);
            log_assert_message(&l, 0, WS_OP_TEXT, "before", 6);
            assert_int_equal(log_assert_closed(&l)->close_code, 1000);
            frame_list f = output_frames(c); /* the echo only, no pong */
            assert_int_equal(f.n, 1);
            assert_int_equal(close_code_of(&f.v[0]), 1000);
            frames_free(&f);
            ws_conn_stats st;
            assert_int_equal(ws_conn_get_stats(c, &st, sizeof st), WS_OK);
            assert_int_equal(st.messages_in, 1);
            log_free(&l);
            bytes_free(&w);
            ws_conn_free(c);
        }
    }
}

/* End of file after input the connection kept (more messages than its event queue holds, fed
 * in one call), with `early` events taken before it: every kept message comes first, in
 * order, then the end. */
static void check_eof_after_kept_input(uint32_t r, int early)
{
    uint32_t rng = 7;
    ev_log l = {0};
    bytes w = {0};
    size_t taken = 0;
    char m[8];
    ws_conn *c = conn_open(r, NULL, &rng);
    for (int i = 0; i < 20; i++) {
        snprintf(m, sizeof m, "m%02d", i);
        peer_frame(&w, r, WS_OP_TEXT, 1, m, 3);
    }
    assert_int_equal(ws_conn_feed(c, w.p, w.n, &taken), WS_OK);
    assert_int_equal(taken, w.n);
    for (int i = 0; i < early; i++) {
        ws_event e;
        assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 1);
        log_add(&l, &e);
    }
    assert_int_equal(ws_conn_feed_eof(c), WS_OK);
    drain(c, &l);
    assert_int_equal(l.n, 22);
    for (int i = 0; i < 20; i++) {
        snprintf(m, sizeof m, "m%02d", i);
        log_assert_message(&l, (size_t)i, WS_OP_TEXT, m, 3);
    }
    assert_int_equal(l.v[20].type, WS_EV_ERROR);
    assert_int_equal(l.v[20].error, WS_ERR_EOF);
    assert_int_equal(log_assert_closed(&l)->close_code, 1006);
    log_free(&l);
    bytes_free(&w);
    ws_conn_free(c);
}

static void test_feed_eof(void **state)
{
    (void)state;
    for (int early = 0; early < 10; early++) {
        check_eof_after_kept_input(WS_ROLE_SERVER, early);
        check_eof_after_kept_input(WS_ROLE_CLIENT, early);
    }
    for (int role = 0; role < 2; role++) {
        uint32_t r = (uint32_t)role;
        uint32_t rng = 1;
        ev_log l = {0};
        bytes w = {0};
        ws_iovec iov[4];

        /* While open, with unsent output and an unanswered ping: 1006, nothing more sent. */
        ws_conn *c = conn_open(r, NULL, &rng);
        assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "unsent", 6, 0), WS_OK);
        peer_frame(&w, r, WS_OP_PING, 1, "p", 1);
        assert_int_equal(feed_chunks(c, &l, w.p, w.n, 0), WS_OK);
        uint64_t queued = ws_conn_output_queued(c);
        assert_int_equal(ws_conn_feed_eof(c), WS_OK);
        drain(c, &l);
        assert_int_equal(l.n, 3);
        assert_int_equal(l.v[0].type, WS_EV_PING);
        assert_int_equal(l.v[1].type, WS_EV_ERROR);
        assert_int_equal(l.v[1].error, WS_ERR_EOF);
        const ev_rec *e = log_assert_closed(&l);
        assert_int_equal(e->close_code, 1006);
        assert_int_equal(e->by_peer, 0);
        assert_int_equal(ws_conn_state(c), WS_STATE_CLOSED);
        assert_int_equal(ws_conn_wants_shutdown(c), 1);
        /* The transport is gone: no close frame gets added. What was queued before stays:
         * the unsent message and the pong answering the ping as it came in. */
        int k = ws_conn_output(c, iov, 4);
        size_t pending = 0;
        assert_true(k >= 1);
        for (int i = 0; i < k; i++)
            pending += iov[i].len;
        assert_int_equal(pending, ws_frame_header_size(6, r == WS_ROLE_CLIENT) + 6 +
                                      ws_frame_header_size(1, r == WS_ROLE_CLIENT) + 1);
        assert_int_equal(ws_conn_output_queued(c), queued);
        assert_int_equal(ws_conn_buffered_amount(c), pending);
        {
            frame_list f = output_frames(c);
            assert_int_equal(f.n, 2);
            assert_int_equal(f.v[0].opcode, WS_OP_TEXT);
            assert_int_equal(f.v[1].opcode, WS_OP_PONG);
            frames_free(&f);
        }
        assert_int_equal(ws_conn_close(c, 1000, NULL, 0), WS_ERR_CLOSED);
        assert_int_equal(ws_conn_feed_eof(c), WS_OK);
        assert_int_equal(drain(c, NULL), 0);
        ws_conn_stats st;
        assert_int_equal(ws_conn_get_stats(c, &st, sizeof st), WS_OK);
        assert_int_equal(st.close_code_sent, 0);
        ws_conn_free(c);
        log_clear(&l);

        /* While closing (our close sent, none came back): 1006 too. */
        c = conn_open(r, NULL, &rng);
        assert_int_equal(ws_conn_close(c, 1000, NULL, 0), WS_OK);
        assert_int_equal(ws_conn_feed_eof(c), WS_OK);
        drain(c, &l);
        assert_int_equal(l.n, 2);
        assert_int_equal(l.v[0].error, WS_ERR_EOF);
        assert_int_equal(log_assert_closed(&l)->close_code, 1006);
        assert_int_equal(ws_conn_wants_shutdown(c), 1);
        ws_conn_free(c);
        log_free(&l);
        bytes_free(&w);
    }
}

/* ---- the opening handshake through the connection: the negotiated subprotocol ---- */

static void test_subprotocol(void **state)
{
    (void)state;
    static const char *const offer[] = {"chat", "superchat"};
    for (int pick = 0; pick < 2; pick++) {
        pair p;
        const char *v = "x";
        size_t n = 9;
        memset(&p, 0, sizeof p);
        p.srng = 1;
        p.crng = 2;
        p.srv = new_conn(WS_ROLE_SERVER, 0, NULL);
        p.cli = new_conn(WS_ROLE_CLIENT, 0, NULL);
        assert_int_equal(ws_conn_set_random(p.cli, test_rng, &p.crng), WS_OK);
        assert_int_equal(ws_conn_client_start(p.cli, "ws://example.com/chat", offer, 2,
                                              WS_EXTENSIONS_NONE, NULL),
                         WS_OK);
        pump(p.cli, p.srv, &p.slog, 0);
        assert_non_null(log_find(&p.slog, WS_EV_REQUEST, 0));
        assert_int_equal(ws_conn_accept(p.srv, pick ? "superchat" : NULL, WS_EXTENSIONS_NONE, NULL),
                         WS_OK);
        pump(p.srv, p.cli, &p.clog, 0);
        drain(p.srv, &p.slog);
        assert_int_equal(ws_conn_state(p.srv), WS_STATE_OPEN);
        assert_int_equal(ws_conn_state(p.cli), WS_STATE_OPEN);
        for (int side = 0; side < 2; side++) {
            ws_conn *c = side ? p.cli : p.srv;
            v = "x";
            n = 9;
            if (pick) {
                assert_int_equal(ws_conn_subprotocol(c, &v, &n), WS_OK);
                assert_int_equal(n, 9);
                assert_string_equal(v, "superchat"); /* NUL-terminated */
            } else {
                /* none agreed: WS_ERR_NOT_FOUND and an empty view (rule 2) */
                assert_int_equal(ws_conn_subprotocol(c, &v, &n), WS_ERR_NOT_FOUND);
                assert_null(v);
                assert_int_equal(n, 0);
            }
        }
        assert_int_equal(ws_conn_subprotocol(NULL, &v, &n), WS_ERR_INVALID_ARG);
        pair_free(&p);
    }
}

/* The agreed subprotocol is kept as a copy of exactly its bytes, NUL-terminated, on both
 * sides, whatever its length: through failalloc, whose free checks each block's size and the
 * canary behind it, so a copy one byte short or long fails here and not only under ASan. */
static void test_subprotocol_kept_exactly(void **state)
{
    static const char long_token[] = "a-long.subprotocol_name~with!every#token$char%and&more'*+^`|"
                                     "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV";
    static const char *const offer[] = {"x", "ab", "chat", long_token};
    (void)state;
    for (size_t pick = 0; pick < 4; pick++) {
        failalloc fs, fc;
        ws_allocator as = failalloc_init(&fs, -1, 0), ac = failalloc_init(&fc, -1, 0);
        pair p;
        memset(&p, 0, sizeof p);
        p.crng = 2;
        p.srv = new_conn(WS_ROLE_SERVER, 0, &as);
        p.cli = new_conn(WS_ROLE_CLIENT, 0, &ac);
        assert_int_equal(ws_conn_set_random(p.cli, test_rng, &p.crng), WS_OK);
        assert_int_equal(ws_conn_client_start(p.cli, "ws://example.com/", offer, 4,
                                              WS_EXTENSIONS_NONE, NULL),
                         WS_OK);
        pump(p.cli, p.srv, &p.slog, 0);
        assert_non_null(log_find(&p.slog, WS_EV_REQUEST, 0));
        assert_int_equal(ws_conn_accept(p.srv, offer[pick], WS_EXTENSIONS_NONE, NULL), WS_OK);
        pump(p.srv, p.cli, &p.clog, 0);
        drain(p.srv, &p.slog);
        for (int side = 0; side < 2; side++) {
            const char *v = NULL;
            size_t n = 0;
            assert_int_equal(ws_conn_subprotocol(side ? p.cli : p.srv, &v, &n), WS_OK);
            assert_int_equal(n, strlen(offer[pick]));
            assert_memory_equal(v, offer[pick], n + 1); /* the bytes and the NUL */
        }
        pair_free(&p); /* frees the copies: sizes and canaries checked */
        assert_int_equal(fs.live, 0);
        assert_int_equal(fc.live, 0);
    }
}

static const char upgrade_request[] = "GET /chat HTTP/1.1\r\nHost: example.com\r\n"
                                      "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                                      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                      "Sec-WebSocket-Version: 13\r\n\r\n";

/* A server that has the request and owes its decision (WS_EV_REQUEST taken). */
static ws_conn *server_deciding(void)
{
    ev_log l = {0};
    ws_conn *c = new_conn(WS_ROLE_SERVER, 0, NULL);
    assert_int_equal(feed_copy(c, &l, (const uint8_t *)upgrade_request,
                               sizeof upgrade_request - 1, 0),
                     WS_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].type, WS_EV_REQUEST);
    log_free(&l);
    return c;
}

/* ws_conn_reject's argument errors are its own (WS_ERR_ARG_STATUS for the status or reason,
 * WS_ERR_ARG_HEADERS, WS_ERR_INVALID_ARG), never WS_ERR_NOMEM, and they change nothing: no
 * byte queued, no event, the request still waiting -- a reject or an accept after them works. */
static void test_reject_argument_errors(void **state)
{
    static const struct {
        unsigned status;
        const char *reason, *headers;
        size_t body_len;
        int want;
    } bad[] = {
        {0, NULL, NULL, 0, WS_ERR_ARG_STATUS},
        {199, NULL, NULL, 0, WS_ERR_ARG_STATUS},
        {600, NULL, NULL, 0, WS_ERR_ARG_STATUS},
        {101, "Switching Protocols", NULL, 0, WS_ERR_ARG_STATUS},
        {403, "Go\raway", NULL, 0, WS_ERR_ARG_STATUS},
        {403, "Go\naway", NULL, 0, WS_ERR_ARG_STATUS},
        {403, "Go\x7f" "away", NULL, 0, WS_ERR_ARG_STATUS},
        {403, "Go\x01" "away", NULL, 0, WS_ERR_ARG_STATUS},
        {403, NULL, "No colon\r\n", 0, WS_ERR_ARG_HEADERS},
        {403, NULL, "X-A: 1\r\n\r\nX-B: 2", 0, WS_ERR_ARG_HEADERS},
        {403, NULL, "Content-Length: 5\r\n", 0, WS_ERR_ARG_HEADERS},
        {403, NULL, "X-A: a\x7f" "b\r\n", 0, WS_ERR_ARG_HEADERS},
        {403, NULL, NULL, 3, WS_ERR_INVALID_ARG}, /* body NULL with a length */
    };
    ws_event e;
    (void)state;
    for (int then_accept = 0; then_accept < 2; then_accept++) {
        ws_conn *c = server_deciding();
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
            int r = ws_conn_reject(c, bad[i].status, bad[i].reason, bad[i].headers, NULL,
                                   bad[i].body_len);
            if (r != bad[i].want)
                print_message("case %zu: %s, want %s\n", i, ws_errname(r),
                              ws_errname(bad[i].want));
            assert_int_equal(r, bad[i].want);
            assert_int_equal(ws_conn_buffered_amount(c), 0);
            assert_int_equal(ws_conn_output_queued(c), 0);
            assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 0);
            assert_int_equal(ws_conn_state(c), WS_STATE_CONNECTING);
            assert_non_null(ws_conn_handshake(c));
        }
        bytes out = {0};
        if (then_accept) {
            assert_int_equal(ws_conn_accept(c, NULL, WS_EXTENSIONS_NONE, NULL), WS_OK);
            take_output(c, &out, 0);
            static const char ok[] = "HTTP/1.1 101 Switching Protocols\r\n";
            assert_memory_equal(out.p, ok, sizeof ok - 1);
            assert_int_equal(ws_conn_state(c), WS_STATE_OPEN);
        } else {
            static const char want[] = "HTTP/1.1 403 Forbidden\r\nX-Why: test\r\n"
                                       "Content-Length: 2\r\nConnection: close\r\n\r\nno";
            assert_int_equal(ws_conn_reject(c, 403, NULL, "X-Why: test\r\n", "no", 2), WS_OK);
            take_output(c, &out, 0);
            assert_int_equal(out.n, sizeof want - 1);
            assert_memory_equal(out.p, want, out.n);
            assert_int_equal(ws_conn_state(c), WS_STATE_CLOSED);
            /* and a second decision is refused */
            assert_int_equal(ws_conn_reject(c, 403, NULL, NULL, NULL, 0), WS_ERR_STATE);
        }
        bytes_free(&out);
        ws_conn_free(c);
    }
}

/* ---- pings and pongs ---- */

static void test_auto_pong(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        uint32_t r = (uint32_t)role;
        uint32_t rng = 1;
        ev_log l = {0};
        bytes w = {0};
        uint8_t big[125];
        test_fill(big, sizeof big, 8);
        ws_conn *c = conn_open(r, NULL, &rng);
        assert_int_equal(get_opt(c, WS_OPT_AUTO_PONG), 1);

        /* Many pings before the output is taken: every one answered, in order (Autobahn
         * 2.10 counts the pongs) ... */
        peer_frame(&w, r, WS_OP_PING, 1, "p1", 2);
        peer_frame(&w, r, WS_OP_PING, 1, "p2", 2);
        peer_frame(&w, r, WS_OP_PING, 1, big, sizeof big);
        assert_int_equal(feed_copy(c, &l, w.p, w.n, 0), WS_OK);
        assert_int_equal(l.n, 3);
        assert_int_equal(l.v[2].type, WS_EV_PING);
        assert_int_equal(l.v[2].len, 125);
        assert_memory_equal(l.v[2].data, big, 125);
        /* The pending pong counts as buffered. */
        int mk = r == WS_ROLE_CLIENT;
        assert_int_equal(ws_conn_buffered_amount(c), 2 * ws_frame_header_size(2, mk) + 4 +
                                                         ws_frame_header_size(125, mk) + 125);
        frame_list f = output_frames(c);
        assert_int_equal(f.n, 3);
        assert_string_equal((char *)f.v[0].data, "p1");
        assert_string_equal((char *)f.v[1].data, "p2");
        assert_int_equal(f.v[2].opcode, WS_OP_PONG);
        assert_int_equal(f.v[2].len, 125);
        assert_memory_equal(f.v[2].data, big, 125);
        frames_free(&f);
        ws_conn_free(c);

        /* ... but over the high-water mark (a ping flood from a peer that does not read)
         * only the latest one is answered (RFC 6455 5.5.3): the pongs wait, each replacing
         * the one before, and the one left is queued once ws_conn_output_ack has drained the
         * output -- not by ws_conn_output, which only looks. */
        c = conn_open(r, NULL, &rng);
        log_clear(&l);
        assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "m", 1, 0), WS_OK);
        assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_HIGH_WATER, 1), WS_OK); /* over */
        size_t msg = ws_frame_header_size(1, mk) + 1, pong = ws_frame_header_size(125, mk) + 125;
        assert_int_equal(ws_conn_buffered_amount(c), msg);
        assert_int_equal(feed_copy(c, &l, w.p, w.n, 1), WS_OK);
        assert_int_equal(l.n, 3);
        assert_int_equal(ws_conn_buffered_amount(c), msg + pong); /* the pong owed counts */
        assert_int_equal(ws_conn_output_queued(c), msg);
        {
            ws_iovec iov[4], again[4];
            bytes out = {0};
            int k = ws_conn_output(c, iov, 4);
            assert_true(k >= 1);
            assert_int_equal(ws_conn_output(c, again, 4), k); /* pure: the same chunks */
            size_t total = 0;
            for (int i = 0; i < k; i++) {
                assert_ptr_equal(again[i].base, iov[i].base);
                assert_int_equal(again[i].len, iov[i].len);
                bytes_append(&out, iov[i].base, iov[i].len);
                total += iov[i].len;
            }
            assert_int_equal(total, msg); /* the message only: the pong is not queued yet */
            assert_int_equal(ws_conn_output_queued(c), msg);
            assert_int_equal(ws_conn_output_ack(c, msg), WS_OK);
            /* The ack drained the output: the latest pong is queued now. */
            assert_int_equal(ws_conn_output_queued(c), msg + pong);
            assert_int_equal(ws_conn_buffered_amount(c), pong);
            take_output(c, &out, 0);
            f = parse_frames(out.p, out.n);
            bytes_free(&out);
        }
        assert_int_equal(f.n, 2);
        assert_int_equal(f.v[0].opcode, WS_OP_TEXT);
        assert_int_equal(f.v[1].opcode, WS_OP_PONG);
        assert_memory_equal(f.v[1].data, big, 125);
        frames_free(&f);
        assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_HIGH_WATER, 1000), WS_OK);

        /* A pong goes out before what the application sends after the ping. */
        w.n = 0;
        peer_frame(&w, r, WS_OP_PING, 1, "p3", 2);
        assert_int_equal(feed_copy(c, &l, w.p, w.n, 1), WS_OK);
        assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "m", 1, 0), WS_OK);
        f = output_frames(c);
        assert_int_equal(f.n, 2);
        assert_int_equal(f.v[0].opcode, WS_OP_PONG);
        assert_string_equal((char *)f.v[0].data, "p3");
        assert_int_equal(f.v[1].opcode, WS_OP_TEXT);
        frames_free(&f);

        /* A ping just before a close still gets its pong, ahead of the echo. */
        w.n = 0;
        peer_frame(&w, r, WS_OP_PING, 1, "p4", 2);
        peer_close(&w, r, 1000, NULL, 0);
        assert_int_equal(feed_copy(c, &l, w.p, w.n, 0), WS_OK);
        f = output_frames(c);
        assert_int_equal(f.n, 2);
        assert_int_equal(f.v[0].opcode, WS_OP_PONG);
        assert_string_equal((char *)f.v[0].data, "p4");
        assert_int_equal(close_code_of(&f.v[1]), 1000);
        frames_free(&f);
        ws_conn_free(c);

        /* WS_OPT_AUTO_PONG = 0: the caller answers. */
        c = conn_open(r, NULL, &rng);
        assert_int_equal(ws_conn_set_option(c, WS_OPT_AUTO_PONG, 0), WS_OK);
        assert_int_equal(get_opt(c, WS_OPT_AUTO_PONG), 0);
        log_clear(&l);
        w.n = 0;
        peer_frame(&w, r, WS_OP_PING, 1, "q", 1);
        assert_int_equal(feed_copy(c, &l, w.p, w.n, 0), WS_OK);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.v[0].type, WS_EV_PING);
        assert_int_equal(ws_conn_buffered_amount(c), 0);
        assert_int_equal(ws_conn_pong(c, "q", 1), WS_OK);
        f = output_frames(c);
        assert_int_equal(f.n, 1);
        assert_int_equal(f.v[0].opcode, WS_OP_PONG);
        frames_free(&f);

        /* An unsolicited pong is fine. */
        log_clear(&l);
        w.n = 0;
        peer_frame(&w, r, WS_OP_PONG, 1, "hb", 2);
        assert_int_equal(feed_copy(c, &l, w.p, w.n, 1), WS_OK);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.v[0].type, WS_EV_PONG);
        assert_string_equal((char *)l.v[0].data, "hb");
        assert_int_equal(ws_conn_state(c), WS_STATE_OPEN);
        ws_conn_stats st;
        assert_int_equal(ws_conn_get_stats(c, &st, sizeof st), WS_OK);
        assert_int_equal(st.pongs_received, 1);
        assert_int_equal(st.last_rtt_ms, 0);
        ws_conn_free(c);
        log_free(&l);
        bytes_free(&w);
    }
}

/* ---- timers on a fake clock ---- */

static void tick_both(pair *p, uint64_t now)
{
    assert_int_equal(ws_conn_tick(p->srv, now), WS_OK);
    assert_int_equal(ws_conn_tick(p->cli, now), WS_OK);
}

/* A server with `pending` bytes of one binary message unwritten and the high-water mark at
 * hw. */
static ws_conn *server_with_pending(size_t pending, uint64_t hw)
{
    static uint8_t junk[128];
    uint32_t rng = 1;
    ws_conn *c = conn_open(WS_ROLE_SERVER, NULL, &rng);
    assert_true(pending >= 2 && pending - 2 < 126);
    assert_int_equal(ws_conn_send(c, WS_OP_BINARY, junk, pending - 2, 0), WS_OK);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_HIGH_WATER, hw), WS_OK);
    assert_int_equal(ws_conn_buffered_amount(c), pending);
    return c;
}

static void feed_ping(ws_conn *c, ev_log *l, const char *payload)
{
    bytes w = {0};
    size_t before = l->n;
    peer_frame(&w, WS_ROLE_SERVER, WS_OP_PING, 1, payload, strlen(payload));
    assert_int_equal(feed_copy(c, l, w.p, w.n, 0), WS_OK);
    assert_int_equal(l->n, before + 1);
    assert_int_equal(log_last(l)->type, WS_EV_PING);
    bytes_free(&w);
}

/* The pongs in c's output (after what `before` holds of it already, if not NULL), in order,
 * joined by '|'. */
static void pongs_written(ws_conn *c, const bytes *before, char *out, size_t cap)
{
    bytes b = {0};
    if (before)
        bytes_append(&b, before->p, before->n);
    take_output(c, &b, 0);
    frame_list f = parse_frames(b.p, b.n);
    bytes_free(&b);
    out[0] = 0;
    for (size_t i = 0; i < f.n; i++)
        if (f.v[i].opcode == WS_OP_PONG)
            snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? "|" : "",
                     (char *)f.v[i].data);
    frames_free(&f);
}

/*
 * Auto-pong and the high-water mark, at the byte: a pong is queued at once while the output
 * it joins (pending + the largest pong header, 14, + its payload) stays at or below the mark,
 * and waits -- counted in ws_conn_buffered_amount, not queued -- from one byte above. An
 * empty queue always takes it; one byte pending already counts. The pong that waits is sent
 * as soon as an ack drains the queue, or, when a newer ping comes, before the newer one's if
 * the mark allows it there and then, else replaced by it.
 */
static void test_auto_pong_high_water_boundary(void **state)
{
    enum { HW = 100, PONG = 2 + 5 }; /* pongs of 5 bytes: 7 on the wire from a server */
    char got[64];
    (void)state;

    /* pending + 14 + 5 one below, at, one above the mark */
    for (int d = -1; d <= 1; d++) {
        ev_log l = {0};
        size_t pending = (size_t)(HW - 14 - 5 + d);
        ws_conn *c = server_with_pending(pending, HW);
        feed_ping(c, &l, "abcde");
        if (d <= 0) {
            assert_int_equal(ws_conn_output_queued(c), pending + PONG);
        } else {
            assert_int_equal(ws_conn_output_queued(c), pending); /* waits ... */
            assert_int_equal(ws_conn_buffered_amount(c), pending + PONG); /* ... counted */
        }
        pongs_written(c, NULL, got, sizeof got); /* the ack that drains sends the one waiting */
        assert_string_equal(got, "abcde");
        log_free(&l);
        ws_conn_free(c);
    }

    /* one byte pending is not an empty queue; none is */
    for (int written_all = 0; written_all < 2; written_all++) {
        ev_log l = {0};
        ws_conn *c = server_with_pending(50, 10);
        bytes b = {0};
        assert_int_equal(take_write(c, &b, written_all ? 50 : 49), written_all ? 50 : 49);
        assert_int_equal(ws_conn_buffered_amount(c), written_all ? 0 : 1);
        feed_ping(c, &l, "abcde");
        assert_int_equal(ws_conn_output_queued(c), written_all ? 50 + PONG : 50);
        pongs_written(c, &b, got, sizeof got);
        assert_string_equal(got, "abcde");
        bytes_free(&b);
        log_free(&l);
        ws_conn_free(c);
    }

    /* a second ping while the first pong waits: the waiting pong goes first when pending + 14
     * + its 5 bytes is at or below the mark (the mark raised for it), else it is replaced */
    for (int d = -1; d <= 1; d++) {
        ev_log l = {0};
        size_t pending = 90;
        ws_conn *c = server_with_pending(pending, 10);
        feed_ping(c, &l, "abcde");
        assert_int_equal(ws_conn_output_queued(c), pending);
        uint64_t hw = (uint64_t)((int)pending + 14 + 5 - d);
        assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_HIGH_WATER, hw), WS_OK);
        feed_ping(c, &l, "fghij");
        if (d <= 0)
            assert_int_equal(ws_conn_output_queued(c), pending + PONG); /* older out, newer waits */
        else
            assert_int_equal(ws_conn_output_queued(c), pending); /* the newer replaced it */
        pongs_written(c, NULL, got, sizeof got);
        assert_string_equal(got, d <= 0 ? "abcde|fghij" : "fghij");
        log_free(&l);
        ws_conn_free(c);
    }
}

/* The traffic state (decoder, output and event queues) is made when traffic starts and given
 * back once the connection has been quiet for a second with nothing queued or going on: an
 * idle connection holds no memory beyond its core state. Traffic resumes as before, the
 * output totals run on, and when the memory for it is refused, nothing is lost: the call
 * says so (WS_ERR_NOMEM, or WS_ERR_BUDGET under a limit) and works once memory is there. */
static void test_idle_connection_holds_core_only(void **state)
{
    (void)state;
    failalloc fa;
    ws_allocator a = failalloc_init(&fa, -1, 0);
    ws_conn *c = open_server(&a); /* OPEN taken at 1000 */
    ev_log l = {0};
    bytes in = {0}, out = {0};
    size_t used = 0, taken = 0;

    assert_true(ws_conn_memory(c) > 0);
    assert_int_equal(ws_conn_tick(c, 2500), WS_OK);
    assert_int_equal(ws_conn_memory(c), 0);
    assert_int_equal(ws_conn_next_deadline(c), WS_DEADLINE_NONE); /* nothing to wake up for */

    /* A message and its echo; then quiet again: all given back, the totals kept. */
    peer_frame(&in, WS_ROLE_SERVER, WS_OP_TEXT, 1, "hi", 2);
    assert_int_equal(feed_const(c, &l, in.p, in.n, 0), WS_OK);
    assert_int_equal(l.n, 1);
    assert_string_equal((const char *)l.v[0].data, "hi");
    assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "hi", 2, 0), WS_OK);
    take_output(c, &out, 0);
    assert_int_equal(out.n, 4);
    assert_int_equal(ws_conn_tick(c, 4000), WS_OK);
    assert_int_equal(ws_conn_memory(c), 0);
    assert_int_equal(ws_conn_output_queued(c), 4);
    assert_int_equal(ws_conn_output_acked(c), 4);
    assert_int_equal(ws_conn_send(c, WS_OP_BINARY, "abc", 3, 0), WS_OK);
    assert_int_equal(ws_conn_output_queued(c), 9);
    assert_int_equal(ws_conn_output_acked(c), 4);
    take_output(c, &out, 0);
    assert_int_equal(ws_conn_output_acked(c), 9);
    ws_conn_stats st;
    assert_int_equal(ws_conn_get_stats(c, &st, sizeof st), WS_OK);
    assert_int_equal(st.bytes_out, 9);
    assert_int_equal(st.messages_in, 1);
    assert_int_equal(ws_conn_tick(c, 5500), WS_OK);
    assert_int_equal(ws_conn_memory(c), 0);

    /* No memory for it: nothing taken, sent or changed -- then it works. */
    fa.fail_at = fa.calls;
    fa.sticky = 1;
    assert_int_equal(ws_conn_feed(c, in.p, in.n, &taken), WS_ERR_NOMEM);
    assert_int_equal(taken, 0);
    bytes copy = {0};
    bytes_append(&copy, in.p, in.n);
    assert_int_equal(ws_conn_feed_inplace(c, copy.p, copy.n, &used), WS_ERR_NOMEM);
    assert_int_equal(used, 0);
    assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "x", 1, 0), WS_ERR_NOMEM);
    assert_int_equal(ws_conn_ping(c, "p", 1), WS_ERR_NOMEM);
    assert_int_equal(ws_conn_close(c, WS_CLOSE_NORMAL, NULL, 0), WS_ERR_NOMEM);
    assert_int_equal(ws_conn_feed_eof(c), WS_ERR_NOMEM);
    assert_int_equal(ws_conn_output_ack(c, 1), WS_ERR_INVALID_ARG); /* nothing is queued */
    assert_int_equal(ws_conn_output_take(c, 1), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_output_ack(c, 0), WS_OK);
    assert_int_equal(ws_conn_state(c), WS_STATE_OPEN);
    assert_int_equal(ws_conn_memory(c), 0);
    fa.fail_at = -1;
    log_free(&l);
    assert_int_equal(ws_conn_feed_inplace(c, copy.p, copy.n, &used), WS_OK);
    assert_int_equal(used, copy.n);
    drain(c, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].type, WS_EV_MESSAGE);
    assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "x", 1, 0), WS_OK);
    bytes_free(&copy);

    /* Under a memory limit the bound is named. */
    take_output(c, &out, 0);
    assert_int_equal(ws_conn_tick(c, 7000), WS_OK);
    assert_int_equal(ws_conn_memory(c), 0);

    /* ws_conn_feed_events alone, nothing called after it: refused without memory (nothing
     * taken), then quiet again and all given back -- its events point into the caller's
     * buffer, not into memory of ours. */
    bytes fe = {0};
    ws_event evs[4];
    bytes_append(&fe, in.p, in.n);
    fa.fail_at = fa.calls;
    fa.sticky = 1;
    assert_int_equal(ws_conn_feed_events(c, fe.p, fe.n, &used, evs, 4, sizeof evs[0]),
                     WS_ERR_NOMEM);
    assert_int_equal(used, 0);
    fa.fail_at = -1;
    assert_int_equal(ws_conn_feed_events(c, fe.p, fe.n, &used, evs, 4, sizeof evs[0]), 1);
    assert_int_equal(used, fe.n);
    assert_memory_equal(evs[0].data, "hi", 2);
    assert_int_equal(evs[0].flags, WS_EVF_IN_INPUT); /* (the general path's event too) */
    assert_true(ws_conn_memory(c) > 0);
    fe.n = 0;
    bytes_append(&fe, in.p, in.n); /* again, now by the straight line */
    assert_int_equal(ws_conn_feed_events(c, fe.p, fe.n, &used, evs, 4, sizeof evs[0]), 1);
    assert_int_equal(used, fe.n);
    assert_memory_equal(evs[0].data, "hi", 2);
    assert_int_equal(ws_conn_tick(c, 9000), WS_OK);
    assert_int_equal(ws_conn_memory(c), 0);
    bytes_free(&fe);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MEMORY_LIMIT, 16), WS_OK);
    assert_int_equal(ws_conn_feed(c, in.p, in.n, &taken), WS_ERR_BUDGET);
    assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "x", 1, 0), WS_ERR_BUDGET);
    bytes_free(&in);
    bytes_free(&out);
    log_free(&l);
    ws_conn_free(c);
    assert_int_equal(fa.live, 0);
}

/* A timer due while the connection is idle needs the traffic state for what it queues: with
 * no memory for it the tick says so and does nothing; the next tick with memory does it. */
static void test_timer_on_idle_connection(void **state)
{
    (void)state;
    failalloc fa;
    ws_allocator a = failalloc_init(&fa, -1, 0);
    ws_conn *c = open_server(&a); /* clock at 1000 */
    bytes out = {0};
    ev_log l = {0};

    assert_int_equal(ws_conn_set_option(c, WS_OPT_IDLE_TIMEOUT, 5000), WS_OK);
    uint64_t own = ws_conn_memory(c); /* its own configuration now, and the traffic state */
    assert_int_equal(ws_conn_tick(c, 2500), WS_OK);
    assert_true(ws_conn_memory(c) < own); /* the traffic state given back */
    assert_int_equal(ws_conn_next_deadline(c), 6000);
    fa.fail_at = fa.calls;
    fa.sticky = 1;
    assert_int_equal(ws_conn_tick(c, 6000), WS_ERR_NOMEM);
    assert_int_equal(ws_conn_state(c), WS_STATE_OPEN);
    /* still due, but not again before the retry delay: a loop sleeping until the deadline
     * does not spin while memory is short */
    assert_int_equal(ws_conn_next_deadline(c), 6000 + WS_TICK_RETRY_MS);
    assert_int_equal(ws_conn_tick(c, 6050), WS_ERR_NOMEM); /* an earlier tick tries again */
    assert_int_equal(ws_conn_next_deadline(c), 6050 + WS_TICK_RETRY_MS);
    assert_int_equal(ws_conn_state(c), WS_STATE_OPEN);
    fa.fail_at = -1;
    assert_int_equal(ws_conn_tick(c, 6150), WS_OK);
    drain(c, &l);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.v[0].type, WS_EV_ERROR);
    assert_int_equal(l.v[0].error, WS_ERR_IDLE_TIMEOUT);
    assert_int_equal(ws_conn_state(c), WS_STATE_CLOSING);
    take_output(c, &out, 0);
    assert_true(out.n > 2);
    assert_int_equal(out.p[0], 0x80 | WS_OP_CLOSE);
    bytes_free(&out);
    log_free(&l);
    ws_conn_free(c);
    assert_int_equal(fa.live, 0);
}

static void test_ping_interval(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        pair p;
        pair_init(&p);
        ws_conn *a = role == WS_ROLE_SERVER ? p.srv : p.cli;
        ev_log *al = log_of(&p, a);
        assert_int_equal(ws_conn_next_deadline(a), WS_DEADLINE_NONE); /* nothing armed */
        assert_int_equal(ws_conn_set_option(a, WS_OPT_PING_INTERVAL, 1000), WS_OK);
        assert_int_equal(ws_conn_set_option(a, WS_OPT_PONG_TIMEOUT, 500), WS_OK);
        /* Armed, but the clock has not started: no deadline before the first tick. */
        assert_int_equal(ws_conn_next_deadline(a), WS_DEADLINE_NONE);
        /* The clock starts at 0: the first tick sets the origin, later ones don't move it. */
        tick_both(&p, 0);
        assert_int_equal(ws_conn_next_deadline(a), 1000);
        tick_both(&p, 500);
        assert_int_equal(ws_conn_next_deadline(a), 1000);
        assert_int_equal(ws_conn_buffered_amount(a), 0);
        tick_both(&p, 999);
        assert_int_equal(ws_conn_buffered_amount(a), 0);
        tick_both(&p, 1000);
        assert_int_equal(ws_conn_next_deadline(a), 1500); /* the pong deadline */
        ws_conn_stats st;
        assert_int_equal(ws_conn_get_stats(a, &st, sizeof st), WS_OK);
        assert_int_equal(st.pings_sent, 1);
        assert_true(ws_conn_buffered_amount(a) > 0);

        /* Answered after 200 ms. */
        pump_to(&p, other(&p, a));
        tick_both(&p, 1200);
        pump_to(&p, a);
        assert_int_equal(al->n, 1);
        assert_int_equal(al->v[0].type, WS_EV_PONG);
        assert_int_equal(ws_conn_get_stats(a, &st, sizeof st), WS_OK);
        assert_int_equal(st.last_rtt_ms, 200);
        assert_int_equal(st.pongs_received, 1);
        assert_int_equal(ws_conn_next_deadline(a), 2000);
        tick_both(&p, 1700); /* no pong timeout any more */
        assert_int_equal(ws_conn_state(a), WS_STATE_OPEN);

        /* Not answered: the peer is presumed dead. */
        tick_both(&p, 2000);
        assert_int_equal(ws_conn_get_stats(a, &st, sizeof st), WS_OK);
        assert_int_equal(st.pings_sent, 2);
        assert_int_equal(ws_conn_next_deadline(a), 2500);
        /* Pongs that do not echo the ping's payload (another one, an empty one) are not its
         * answer. */
        assert_int_equal(ws_conn_pong(other(&p, a), "hb", 2), WS_OK);
        assert_int_equal(ws_conn_pong(other(&p, a), NULL, 0), WS_OK);
        pump_to(&p, a);
        assert_int_equal(al->n, 3);
        assert_int_equal(al->v[1].type, WS_EV_PONG);
        assert_int_equal(al->v[2].type, WS_EV_PONG);
        assert_int_equal(ws_conn_get_stats(a, &st, sizeof st), WS_OK);
        assert_int_equal(st.last_rtt_ms, 200);
        assert_int_equal(st.pongs_received, 3);
        assert_int_equal(ws_conn_next_deadline(a), 2500);
        tick_both(&p, 2499);
        assert_int_equal(drain(a, al), 0);
        tick_both(&p, 2500);
        drain(a, al);
        assert_int_equal(al->n, 5);
        assert_int_equal(al->v[3].type, WS_EV_ERROR);
        assert_int_equal(al->v[3].error, WS_ERR_PONG_TIMEOUT);
        assert_int_equal(log_assert_closed(al)->close_code, 1006);
        assert_int_equal(ws_conn_state(a), WS_STATE_CLOSED);
        /* A dead peer may never read the unsent ping: shut down now, don't wait for it. */
        assert_int_equal(ws_conn_wants_shutdown(a), 1);
        assert_int_equal(ws_conn_next_deadline(a), WS_DEADLINE_NONE);
        /* No close frame is sent to a dead peer. */
        frame_list f = output_frames(a);
        for (size_t i = 0; i < f.n; i++)
            assert_int_not_equal(f.v[i].opcode, WS_OP_CLOSE);
        frames_free(&f);
        tick_both(&p, 100000);
        assert_int_equal(drain(a, NULL), 0);
        pair_free(&p);
    }
}

/* The idle timeout's close frame finds no memory: the reason, then the allocation failure,
 * then the end as if the transport had failed (1006 -- no frame went out). */
static void check_idle_timeout_without_memory(void)
{
    failalloc fa;
    ws_allocator a = failalloc_init(&fa, -1, 0);
    ws_conn *c = open_server(&a); /* OPEN taken at 1000 */
    ev_log l = {0};
    bytes part = {0};
    size_t used = 0;

    assert_int_equal(ws_conn_set_option(c, WS_OPT_IDLE_TIMEOUT, 3000), WS_OK);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MESSAGE_TIMEOUT, 0), WS_OK);
    assert_int_equal(ws_conn_tick(c, 1000), WS_OK);
    /* a message begun keeps the traffic state (and its event queue) through the silence */
    peer_frame(&part, WS_ROLE_SERVER, WS_OP_TEXT, 0, "ab", 2);
    assert_int_equal(ws_conn_feed(c, part.p, part.n, &used), WS_OK);
    assert_int_equal(used, part.n);
    fa.fail_at = fa.calls;
    fa.sticky = 1;
    assert_int_equal(ws_conn_tick(c, 4500), WS_OK);
    drain(c, &l);
    assert_int_equal(l.n, 3);
    assert_int_equal(l.v[0].type, WS_EV_ERROR);
    assert_int_equal(l.v[0].error, WS_ERR_IDLE_TIMEOUT);
    assert_int_equal(l.v[1].type, WS_EV_ERROR);
    assert_int_equal(l.v[1].error, WS_ERR_NOMEM);
    assert_int_equal(log_assert_closed(&l)->close_code, WS_CLOSE_ABNORMAL);
    assert_int_equal(ws_conn_output_queued(c), 0);
    fa.fail_at = -1;
    log_free(&l);
    bytes_free(&part);
    ws_conn_free(c);
    assert_int_equal(fa.live, 0);
}

static void test_idle_timeout(void **state)
{
    check_idle_timeout_without_memory();
    (void)state;
    for (int role = 0; role < 2; role++) {
        pair p;
        pair_init(&p);
        ws_conn *a = role == WS_ROLE_SERVER ? p.srv : p.cli, *b = other(&p, a);
        ev_log *al = log_of(&p, a);
        assert_int_equal(ws_conn_set_option(a, WS_OPT_IDLE_TIMEOUT, 1000), WS_OK);
        tick_both(&p, 0);
        assert_int_equal(ws_conn_next_deadline(a), 1000);
        tick_both(&p, 600);
        assert_int_equal(ws_conn_send(b, WS_OP_TEXT, "alive", 5, 0), WS_OK);
        pump_to(&p, a); /* input resets the idle timer */
        assert_int_equal(ws_conn_next_deadline(a), 1600);
        /* Sending does not count as activity. */
        assert_int_equal(ws_conn_send(a, WS_OP_TEXT, "me too", 6, 0), WS_OK);
        pump_to(&p, b);
        tick_both(&p, 1599);
        assert_int_equal(ws_conn_state(a), WS_STATE_OPEN);
        tick_both(&p, 1600);
        drain(a, al);
        assert_int_equal(al->n, 2);
        assert_int_equal(al->v[1].type, WS_EV_ERROR);
        assert_int_equal(al->v[1].error, WS_ERR_IDLE_TIMEOUT);
        assert_int_equal(ws_conn_state(a), WS_STATE_CLOSING);
        /* A normal close: 1000 on the wire, the peer answers, CLOSE follows. */
        pump_to(&p, b);
        const ev_rec *e = log_assert_closed(log_of(&p, b));
        assert_int_equal(e->close_code, 1000);
        assert_int_equal(e->by_peer, 1);
        pump_to(&p, a);
        e = log_assert_closed(al);
        assert_int_equal(e->close_code, 1000);
        assert_int_equal(ws_conn_state(a), WS_STATE_CLOSED);
        pair_free(&p);
    }
}

static void test_close_timeout(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        pair p;
        pair_init(&p);
        ws_conn *a = role == WS_ROLE_SERVER ? p.srv : p.cli;
        ev_log *al = log_of(&p, a);
        assert_int_equal(get_opt(a, WS_OPT_CLOSE_TIMEOUT), 5000);
        assert_int_equal(ws_conn_set_option(a, WS_OPT_CLOSE_TIMEOUT, 300), WS_OK);
        tick_both(&p, 50);
        tick_both(&p, 100);
        assert_int_equal(ws_conn_close(a, 1000, NULL, 0), WS_OK);
        assert_int_equal(ws_conn_next_deadline(a), 400);
        tick_both(&p, 399);
        assert_int_equal(drain(a, al), 0);
        tick_both(&p, 400);
        drain(a, al);
        assert_int_equal(al->n, 2);
        assert_int_equal(al->v[0].error, WS_ERR_CLOSE_TIMEOUT);
        assert_int_equal(log_assert_closed(al)->close_code, 1006);
        assert_int_equal(ws_conn_state(a), WS_STATE_CLOSED);
        assert_int_equal(ws_conn_wants_shutdown(a), 1);
        pair_free(&p);
    }

    /* A client that got the server's echo waits for the server's EOF, but not forever. */
    pair p;
    pair_init(&p);
    assert_int_equal(ws_conn_set_option(p.cli, WS_OPT_CLOSE_TIMEOUT, 300), WS_OK);
    tick_both(&p, 1000);
    assert_int_equal(ws_conn_close(p.cli, 1000, NULL, 0), WS_OK);
    tick_both(&p, 1100);
    pump_all(&p);
    assert_int_equal(ws_conn_state(p.cli), WS_STATE_CLOSED);
    assert_int_equal(ws_conn_wants_shutdown(p.cli), 0);
    assert_true(ws_conn_next_deadline(p.cli) <= 1400);
    tick_both(&p, 1400);
    assert_int_equal(ws_conn_wants_shutdown(p.cli), 1);
    assert_int_equal(log_count(&p.clog, WS_EV_ERROR), 0); /* a clean close all the same */
    assert_int_equal(log_assert_closed(&p.clog)->close_code, 1000);
    pair_free(&p);
}

static void test_handshake_timeout(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        ws_conn *c = new_conn((uint32_t)role, 0, NULL);
        ev_log l = {0};
        assert_non_null(c);
        assert_int_equal(get_opt(c, WS_OPT_HANDSHAKE_TIMEOUT), WS_DEFAULT_HANDSHAKE_TIMEOUT);
        /* No deadline before the first tick starts the clock (never one from before it). */
        assert_int_equal(ws_conn_next_deadline(c), WS_DEADLINE_NONE);
        assert_int_equal(ws_conn_tick(c, 1000), WS_OK);
        assert_int_equal(ws_conn_next_deadline(c), 11000);
        assert_int_equal(ws_conn_tick(c, 10999), WS_OK);
        assert_int_equal(drain(c, NULL), 0);
        assert_int_equal(ws_conn_tick(c, 11000), WS_OK);
        drain(c, &l);
        assert_int_equal(l.n, 2);
        assert_int_equal(l.v[0].error, WS_ERR_HANDSHAKE_TIMEOUT);
        assert_int_equal(log_assert_closed(&l)->close_code, 1006);
        assert_int_equal(ws_conn_wants_shutdown(c), 1);
        assert_int_equal(ws_conn_buffered_amount(c), 0);
        log_free(&l);
        ws_conn_free(c);

        /* Off: no deadline. An open connection has no handshake timer. */
        c = new_conn((uint32_t)role, 0, NULL);
        assert_int_equal(ws_conn_set_option(c, WS_OPT_HANDSHAKE_TIMEOUT, 0), WS_OK);
        assert_int_equal(ws_conn_tick(c, 5), WS_OK);
        assert_int_equal(ws_conn_next_deadline(c), WS_DEADLINE_NONE);
        assert_int_equal(ws_conn_tick(c, 1000000), WS_OK);
        assert_int_equal(ws_conn_state(c), WS_STATE_CONNECTING);
        ws_conn_free(c);
        uint32_t rng = 1;
        c = conn_open((uint32_t)role, NULL, &rng);
        assert_int_equal(ws_conn_tick(c, 0), WS_OK);
        assert_int_equal(ws_conn_tick(c, 1000000), WS_OK);
        assert_int_equal(ws_conn_state(c), WS_STATE_OPEN);
        ws_conn_free(c);
    }
}

/* A clock that seems to go back does not fire or wrap timers. */
static void test_clock_monotonic(void **state)
{
    (void)state;
    uint32_t rng = 1;
    ws_conn *c = conn_open(WS_ROLE_SERVER, NULL, &rng);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_PING_INTERVAL, 100), WS_OK);
    assert_int_equal(ws_conn_tick(c, 1000), WS_OK);
    assert_int_equal(ws_conn_tick(c, 5), WS_OK);
    assert_int_equal(ws_conn_buffered_amount(c), 0);
    assert_int_equal(ws_conn_next_deadline(c), 1100);
    assert_int_equal(ws_conn_tick(c, 1100), WS_OK);
    assert_true(ws_conn_buffered_amount(c) > 0);
    ws_conn_free(c);
}

/* ---- backpressure ---- */

static void test_high_water(void **state)
{
    (void)state;
    uint8_t d[100];
    memset(d, 'h', sizeof d);
    for (int role = 0; role < 2; role++) {
        uint32_t rng = 1;
        size_t mk = role == WS_ROLE_CLIENT ? 4 : 0;
        ws_conn *c = conn_open((uint32_t)role, NULL, &rng);
        ev_log l = {0};
        assert_int_equal(get_opt(c, WS_OPT_SEND_HIGH_WATER), WS_DEFAULT_SEND_HIGH_WATER);
        assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_HIGH_WATER, 100 + 2 * mk), WS_OK);
        assert_int_equal(ws_conn_send(c, WS_OP_BINARY, d, 90, 0), WS_OK);
        assert_int_equal(ws_conn_buffered_amount(c), 92 + mk);
        uint64_t q = ws_conn_output_queued(c);
        assert_int_equal(ws_conn_send(c, WS_OP_BINARY, d, 7, 0), WS_ERR_WOULD_BLOCK);
        assert_int_equal(ws_conn_send_fragment(c, WS_OP_BINARY, d, 7, 0, 0),
                         WS_ERR_WOULD_BLOCK);
        assert_int_equal(ws_conn_buffered_amount(c), 92 + mk);
        assert_int_equal(ws_conn_output_queued(c), q);
        assert_int_equal(drain(c, NULL), 0);
        assert_int_equal(ws_conn_send(c, WS_OP_BINARY, d, 6, 0), WS_OK); /* exactly full */
        assert_int_equal(ws_conn_buffered_amount(c), 100 + 2 * mk);
        assert_int_equal(ws_conn_ping(c, NULL, 0), WS_ERR_WOULD_BLOCK);
        assert_int_equal(ws_conn_pong(c, NULL, 0), WS_ERR_WOULD_BLOCK);
        ws_conn_stats st;
        assert_int_equal(ws_conn_get_stats(c, &st, sizeof st), WS_OK);
        assert_int_equal(st.buffered, 100 + 2 * mk);
        assert_int_equal(st.frames_out, 2);
        /* Draining makes room again. */
        assert_int_equal(ws_conn_output_ack(c, 50), WS_OK);
        assert_int_equal(ws_conn_buffered_amount(c), 50 + 2 * mk);
        assert_int_equal(ws_conn_send(c, WS_OP_BINARY, d, 48 - mk, 0), WS_OK); /* full */
        assert_int_equal(ws_conn_buffered_amount(c), 100 + 2 * mk);
        assert_int_equal(ws_conn_send(c, WS_OP_BINARY, d, 0, 0), WS_ERR_WOULD_BLOCK);
        /* A close is never refused for backpressure. */
        assert_int_equal(ws_conn_close(c, 1000, NULL, 0), WS_OK);
        assert_int_equal(ws_conn_state(c), WS_STATE_CLOSING);
        ws_conn_free(c);

        /* Exact accounting for auto-fragmented sends: 25 bytes in 10-byte frames behind a
         * 1-byte message already queued (3 + mk bytes). */
        c = conn_open((uint32_t)role, NULL, &rng);
        assert_int_equal(ws_conn_send(c, WS_OP_BINARY, d, 1, 0), WS_OK);
        assert_int_equal(ws_conn_set_option(c, WS_OPT_FRAGMENT_SIZE, 10), WS_OK);
        assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_HIGH_WATER, 33 + 4 * mk), WS_OK);
        assert_int_equal(ws_conn_send(c, WS_OP_BINARY, d, 25, 0), WS_ERR_WOULD_BLOCK);
        assert_int_equal(ws_conn_buffered_amount(c), 3 + mk);
        assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_HIGH_WATER, 34 + 4 * mk), WS_OK);
        assert_int_equal(ws_conn_send(c, WS_OP_BINARY, d, 25, 0), WS_OK);
        assert_int_equal(ws_conn_buffered_amount(c), 34 + 4 * mk);
        ws_conn_free(c);

        /* An empty queue takes one message of any size (waiting for the drain must help);
         * the next waits for it to drain, and goes once it has. */
        c = conn_open((uint32_t)role, NULL, &rng);
        assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_HIGH_WATER, 10), WS_OK);
        assert_int_equal(ws_conn_send(c, WS_OP_BINARY, d, 50, 0), WS_OK);
        assert_int_equal(ws_conn_buffered_amount(c), 52 + mk);
        assert_int_equal(ws_conn_send(c, WS_OP_BINARY, d, 1, 0), WS_ERR_WOULD_BLOCK);
        assert_int_equal(ws_conn_ping(c, NULL, 0), WS_ERR_WOULD_BLOCK);
        assert_int_equal(ws_conn_output_ack(c, 52 + mk), WS_OK);
        assert_int_equal(ws_conn_send(c, WS_OP_BINARY, d, 50, 0), WS_OK);
        ws_conn_free(c);
        log_free(&l);
    }
}

static void test_high_water_policies(void **state)
{
    (void)state;
    static const struct {
        int policy, code;
    } cases[] = {{WS_POLICY_CLOSE_1013, 1013}, {WS_POLICY_CLOSE_1009, 1009}};
    uint8_t d[100] = {0};
    for (int role = 0; role < 2; role++) {
        for (size_t i = 0; i < 2; i++) {
            uint32_t rng = 1;
            ev_log l = {0};
            ws_conn *c = conn_open((uint32_t)role, NULL, &rng);
            assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_POLICY, (uint64_t)cases[i].policy),
                             WS_OK);
            assert_int_equal(get_opt(c, WS_OPT_SEND_POLICY), cases[i].policy);
            assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_HIGH_WATER, 150), WS_OK);
            assert_int_equal(ws_conn_send(c, WS_OP_BINARY, d, 100, 0), WS_OK);
            assert_int_equal(ws_conn_send(c, WS_OP_BINARY, d, 100, 0), WS_ERR_WOULD_BLOCK);
            drain(c, &l);
            assert_int_equal(l.n, 2);
            assert_int_equal(l.v[0].type, WS_EV_ERROR);
            assert_int_equal(l.v[0].error, WS_ERR_OUTPUT_OVERFLOW);
            assert_int_equal(log_assert_closed(&l)->close_code, cases[i].code);
            assert_int_equal(ws_conn_state(c), WS_STATE_CLOSED);
            assert_int_equal(ws_conn_send(c, WS_OP_BINARY, d, 1, 0), WS_ERR_CLOSED);
            /* The first message, then the close frame with the policy's code. */
            frame_list f = output_frames(c);
            assert_int_equal(f.n, 2);
            assert_int_equal(f.v[0].len, 100);
            assert_int_equal(close_code_of(&f.v[1]), cases[i].code);
            frames_free(&f);
            assert_int_equal(ws_conn_wants_shutdown(c), 1);
            log_free(&l);
            ws_conn_free(c);
        }
    }
}

/* ---- statistics, options, sizes ---- */

static void test_stats(void **state)
{
    (void)state;
    pair p;
    uint8_t d[10] = {0};
    ws_conn_stats s, c;
    pair_init(&p);
    assert_int_equal(ws_conn_send(p.cli, WS_OP_TEXT, "a", 1, 0), WS_OK);
    assert_int_equal(ws_conn_send_fragment(p.cli, WS_OP_TEXT, "b", 1, 0, 0), WS_OK);
    assert_int_equal(ws_conn_send_fragment(p.cli, WS_OP_TEXT, "c", 1, 1, 0), WS_OK);
    assert_int_equal(ws_conn_send(p.cli, WS_OP_BINARY, d, sizeof d, 0), WS_OK);
    assert_int_equal(ws_conn_ping(p.cli, "p", 1), WS_OK);
    assert_int_equal(ws_conn_send(p.srv, WS_OP_TEXT, "x", 1, 0), WS_OK);
    assert_int_equal(ws_conn_send(p.srv, WS_OP_TEXT, "y", 1, 0), WS_OK);
    assert_int_equal(ws_conn_close(p.cli, 1000, NULL, 0), WS_OK);
    assert_int_equal(ws_conn_get_stats(p.cli, &c, sizeof c), WS_OK);
    assert_int_equal(c.buffered, ws_conn_buffered_amount(p.cli));
    assert_int_equal(c.bytes_out, 0); /* queued, not written */
    pump_all_ex(&p, 5, 3);
    assert_int_equal(ws_conn_get_stats(p.srv, &s, sizeof s), WS_OK);
    assert_int_equal(ws_conn_get_stats(p.cli, &c, sizeof c), WS_OK);
    assert_int_equal(c.frames_out, 6);
    assert_int_equal(c.messages_out, 3);
    assert_int_equal(c.pings_sent, 1);
    assert_int_equal(s.frames_in, 6);
    assert_int_equal(s.messages_in, 3);
    assert_int_equal(s.frames_out, 4); /* x, y, pong, close */
    assert_int_equal(s.messages_out, 2);
    assert_int_equal(c.frames_in, 4);
    assert_int_equal(c.messages_in, 2);
    assert_int_equal(c.pongs_received, 1);
    assert_int_equal(s.pongs_received, 0);
    assert_int_equal(s.bytes_in, c.bytes_out);
    assert_int_equal(c.bytes_in, s.bytes_out);
    assert_int_equal(c.bytes_out, ws_conn_output_acked(p.cli));
    assert_int_equal(s.bytes_out, 3 + 3 + 3 + 4);
    assert_int_equal(s.buffered, 0);
    assert_int_equal(s.close_code_received, 1000);
    assert_int_equal(s.close_code_sent, 1000);
    assert_int_equal(s.closed_by_peer, 1);
    assert_int_equal(c.closed_by_peer, 0);

    /* Rule 4: a struct smaller than the 0.2 layout is refused and left alone; a larger one
     * (a newer header) is filled and its unknown tail zeroed. */
    union {
        ws_conn_stats st;
        uint8_t raw[sizeof(ws_conn_stats) + 8];
    } big;
    uint8_t ee[sizeof big.raw], zero[8];
    memset(big.raw, 0xee, sizeof big.raw);
    memset(ee, 0xee, sizeof ee);
    memset(zero, 0, sizeof zero);
    assert_int_equal(ws_conn_get_stats(p.srv, &big.st, 16), WS_ERR_INVALID_ARG);
    assert_memory_equal(big.raw, ee, sizeof ee);
    assert_int_equal(ws_conn_get_stats(p.srv, &big.st, sizeof big.raw), WS_OK);
    assert_int_equal(big.st.frames_in, s.frames_in);
    assert_int_equal(big.st.bytes_out, s.bytes_out);
    assert_int_equal(big.st.close_code_received, s.close_code_received);
    assert_int_equal(big.st.closed_by_peer, s.closed_by_peer);
    assert_memory_equal(big.raw + sizeof(ws_conn_stats), zero, sizeof zero);
    assert_int_equal(ws_conn_get_stats(p.srv, NULL, sizeof s), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_get_stats(NULL, &s, sizeof s), WS_ERR_INVALID_ARG);
    pair_free(&p);
}

static void test_options(void **state)
{
    (void)state;
    uint32_t rng = 1;
    ws_conn *c = conn_open(WS_ROLE_SERVER, NULL, &rng);
    static const struct {
        uint32_t opt;
        uint64_t def, set;
    } opts[] = {
        {WS_OPT_MAX_MESSAGE_SIZE, WS_DEFAULT_MAX_MESSAGE_SIZE, 1000},
        {WS_OPT_MAX_FRAME_SIZE, 1000, 500},
        {WS_OPT_AUTO_PONG, 1, 0},
        {WS_OPT_STREAMING, 0, 1},
        {WS_OPT_FRAGMENT_SIZE, 0, 4096},
        {WS_OPT_SEND_HIGH_WATER, WS_DEFAULT_SEND_HIGH_WATER, 1},
        {WS_OPT_SEND_POLICY, WS_POLICY_ERROR, WS_POLICY_CLOSE_1009},
        {WS_OPT_REFUSE_TEXT, 0, 1},
        {WS_OPT_REFUSE_BINARY, 0, 1},
        {WS_OPT_HANDSHAKE_TIMEOUT, WS_DEFAULT_HANDSHAKE_TIMEOUT, 1},
        {WS_OPT_PING_INTERVAL, 0, 30000},
        {WS_OPT_PONG_TIMEOUT, WS_DEFAULT_PONG_TIMEOUT, 0},
        {WS_OPT_IDLE_TIMEOUT, 0, 60000},
        {WS_OPT_CLOSE_TIMEOUT, WS_DEFAULT_CLOSE_TIMEOUT, 1},
        {WS_OPT_LENIENT_LENGTH, 0, 1},
        {WS_OPT_MAX_INPUT_BUFFER, WS_DEFAULT_MAX_INPUT_BUFFER, 1000},
    };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
        assert_int_equal(get_opt(c, opts[i].opt), opts[i].def);
        assert_int_equal(ws_conn_set_option(c, opts[i].opt, opts[i].set), WS_OK);
        assert_int_equal(get_opt(c, opts[i].opt), opts[i].set);
    }
    /* Values outside an option's range: WS_ERR_RANGE; unknown options: WS_ERR_OPTION. */
    const uint64_t big63 = (uint64_t)1 << 63;
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_MESSAGE_SIZE, 0), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_MESSAGE_SIZE, big63), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_FRAME_SIZE, 0), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_FRAME_SIZE, big63), WS_ERR_RANGE);
    /* the largest lengths a frame and a message can declare (2^63 - 1) are in range */
    uint64_t frame_was = get_opt(c, WS_OPT_MAX_FRAME_SIZE);
    uint64_t message_was = get_opt(c, WS_OPT_MAX_MESSAGE_SIZE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_FRAME_SIZE, big63 - 1), WS_OK);
    assert_int_equal(get_opt(c, WS_OPT_MAX_FRAME_SIZE), big63 - 1);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_MESSAGE_SIZE, big63 - 1), WS_OK);
    assert_int_equal(get_opt(c, WS_OPT_MAX_MESSAGE_SIZE), big63 - 1);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_FRAME_SIZE, frame_was), WS_OK);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_MESSAGE_SIZE, message_was), WS_OK);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_AUTO_PONG, 2), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_STREAMING, 2), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_POLICY, 3), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_HIGH_WATER, big63), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_PING_INTERVAL, (uint64_t)WS_MAX_TIMEOUT + 1),
                     WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_CLOSE_TIMEOUT, (uint64_t)WS_MAX_TIMEOUT + 1),
                     WS_ERR_RANGE);
    assert_int_equal(
        ws_conn_set_option(c, WS_OPT_FRAGMENT_SIZE, (uint64_t)WS_MAX_FRAGMENT_SIZE + 1),
        WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_INPUT_BUFFER, 0), WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_INPUT_BUFFER, ((uint64_t)1 << 31) + 1),
                     WS_ERR_RANGE);
    assert_int_equal(ws_conn_set_option(c, 99, 1), WS_ERR_OPTION);
    assert_int_equal(ws_conn_set_option(c, 0, 1), WS_ERR_OPTION);
    assert_int_equal(ws_conn_set_option(NULL, WS_OPT_AUTO_PONG, 1), WS_ERR_INVALID_ARG);
    uint64_t v = 12345;
    assert_int_equal(ws_conn_get_option(c, 99, &v), WS_ERR_OPTION);
    assert_int_equal(ws_conn_get_option(NULL, WS_OPT_AUTO_PONG, &v), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_get_option(c, WS_OPT_AUTO_PONG, NULL), WS_ERR_INVALID_ARG);
    /* The largest values in range are taken. */
    assert_int_equal(ws_conn_set_option(c, WS_OPT_PING_INTERVAL, WS_MAX_TIMEOUT), WS_OK);
    assert_int_equal(get_opt(c, WS_OPT_PING_INTERVAL), WS_MAX_TIMEOUT);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_PING_INTERVAL, 30000), WS_OK);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_INPUT_BUFFER, (uint64_t)1 << 31), WS_OK);
    assert_int_equal(get_opt(c, WS_OPT_MAX_INPUT_BUFFER), (uint64_t)1 << 31);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_INPUT_BUFFER, 1000), WS_OK);
    /* Unchanged by the refused values. */
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        assert_int_equal(get_opt(c, opts[i].opt), opts[i].set);
    /* The frame limit follows the message limit down, not up. */
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_MESSAGE_SIZE, 100), WS_OK);
    assert_int_equal(get_opt(c, WS_OPT_MAX_FRAME_SIZE), 100);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_MESSAGE_SIZE, 1000), WS_OK);
    assert_int_equal(get_opt(c, WS_OPT_MAX_FRAME_SIZE), 1000);
    ws_conn_free(c);
}

static void test_sizeof(void **state)
{
    (void)state;
    print_message("sizeof: ws_conn = %zu bytes\n", ws_conn_sizeof());
    assert_true(ws_conn_sizeof() > 0);
    assert_true(ws_conn_sizeof() < 4096);
}

/* ---- allocation-failure injection ---- */

typedef struct outcome {
    int nomem;        /* an API call returned WS_ERR_NOMEM (or a connection was not created) */
    int nomem_events; /* WS_EV_ERROR with WS_ERR_NOMEM */
    int other_errors; /* any other WS_EV_ERROR: must never happen */
} outcome;

static uint8_t fa_big[100000];

static void note(outcome *o, int r)
{
    if (r == WS_ERR_NOMEM)
        o->nomem++;
    else
        assert_true(r == WS_OK || r == WS_ERR_CLOSED);
}

static void scan(outcome *o, const ev_log *l)
{
    for (size_t i = 0; i < l->n; i++) {
        if (l->v[i].type == WS_EV_ERROR) {
            if (l->v[i].error == WS_ERR_NOMEM)
                o->nomem_events++;
            else {
                print_message("unexpected %s\n", ws_errname(l->v[i].error));
                o->other_errors++;
            }
        }
    }
    assert_true(log_count(l, WS_EV_CLOSE) <= 1);
    if (log_count(l, WS_EV_CLOSE))
        assert_int_equal(log_last(l)->type, WS_EV_CLOSE);
}

/* A session touching every allocation site: fragmented and auto-fragmented sends, borrowed
 * sends, large messages reassembled from partial writes, timer pings, the close handshake. */
static void scenario(const ws_allocator *a, outcome *o, int check_success)
{
    pair p;
    memset(o, 0, sizeof *o);
    if (pair_init_alloc(&p, a) < 0) {
        o->nomem++;
        return;
    }
    tick_both(&p, 0);
    note(o, ws_conn_set_option(p.cli, WS_OPT_FRAGMENT_SIZE, 1000));
    note(o, ws_conn_set_option(p.srv, WS_OPT_PING_INTERVAL, 10));
    note(o, ws_conn_send(p.cli, WS_OP_BINARY, fa_big, 5000, 0));
    note(o, ws_conn_send_fragment(p.cli, WS_OP_TEXT, "hello ", 6, 0, 0));
    note(o, ws_conn_ping(p.cli, "p", 1));
    note(o, ws_conn_send_fragment(p.cli, WS_OP_TEXT, "world", 5, 1, 0));
    note(o, ws_conn_send(p.srv, WS_OP_BINARY, fa_big, sizeof fa_big, 0));
    note(o, ws_conn_send(p.srv, WS_OP_BINARY, fa_big, 30000, WS_SEND_BORROW));
    for (int i = 0; i < 6; i++)
        note(o, ws_conn_send_fragment(p.srv, WS_OP_BINARY, fa_big + i, 100, i == 5,
                                      WS_SEND_BORROW));
    pump_all_ex(&p, 4096, 1000);
    tick_both(&p, 10); /* timer ping, into a released output buffer */
    pump_all_ex(&p, 0, 0);
    note(o, ws_conn_send(p.cli, WS_OP_BINARY, fa_big, 20000, 0));
    pump_all_ex(&p, 3000, 0);
    note(o, ws_conn_close(p.cli, 1000, "done", 4));
    pump_all_ex(&p, 0, 1);
    drain(p.srv, &p.slog);
    drain(p.cli, &p.clog);
    scan(o, &p.slog);
    scan(o, &p.clog);
    if (check_success) {
        assert_int_equal(o->nomem + o->nomem_events + o->other_errors, 0);
        assert_int_equal(log_count(&p.slog, WS_EV_MESSAGE), 3);
        assert_int_equal(log_count(&p.clog, WS_EV_MESSAGE), 3);
        assert_int_equal(log_assert_closed(&p.slog)->close_code, 1000);
        assert_int_equal(log_assert_closed(&p.clog)->close_code, 1000);
        assert_int_equal(ws_conn_wants_shutdown(p.srv), 1);
    }
    pair_free(&p);
}

static void test_alloc_failures(void **state)
{
    (void)state;
    failalloc fa;
    outcome o;
    test_fill(fa_big, sizeof fa_big, 4);
    ws_allocator a = failalloc_init(&fa, -1, 0);
    scenario(&a, &o, 1);
    long total = fa.calls;
    assert_int_equal(fa.live, 0);
    assert_true(total >= 5);
    print_message("info: conn alloc-failure scenario makes %ld allocations\n", total);
    for (int sticky = 0; sticky < 2; sticky++) {
        for (long i = 0; i < total; i++) {
            a = failalloc_init(&fa, i, sticky);
            scenario(&a, &o, 0);
            if (fa.live != 0 || o.other_errors || (fa.failed && !o.nomem && !o.nomem_events))
                print_message("fail_at %ld sticky %d: live %ld, other %d, nomem %d/%d\n", i,
                              sticky, fa.live, o.other_errors, o.nomem, o.nomem_events);
            assert_int_equal(fa.live, 0);     /* no leak */
            assert_int_equal(o.other_errors, 0); /* never a corrupted stream */
            assert_int_equal(fa.failed > 0, 1);
            assert_true(o.nomem + o.nomem_events > 0); /* the failure was reported */
        }
    }
}

/* The peer's close when its echo cannot be queued (the allocator refuses the output block it
 * needs): the connection fails with WS_ERR_NOMEM and its events end with exactly one CLOSE.
 * Output of several sizes is left unwritten first, so that some echo needs a new block; from
 * the close on, every allocation fails. */
static void test_peer_close_without_memory(void **state)
{
    (void)state;
    static uint8_t big[70000];
    size_t refused = 0;
    for (size_t size = 1000; size < sizeof big; size = size * 3 / 2 + 7) {
        failalloc fa;
        ws_allocator a = failalloc_init(&fa, -1, 0);
        ws_conn *c = open_server(&a);
        bytes in = {0};
        ev_log l = {0};
        size_t used = 0;
        assert_int_equal(ws_conn_send(c, WS_OP_BINARY, big, size, 0), WS_OK);
        peer_close(&in, WS_ROLE_SERVER, WS_CLOSE_NORMAL, "bye", 3);
        fa.fail_at = fa.calls;
        fa.sticky = 1;
        assert_int_equal(ws_conn_feed_inplace(c, in.p, in.n, &used), WS_OK);
        drain(c, &l);
        assert_int_equal(log_count(&l, WS_EV_CLOSE), 1);
        assert_int_equal(log_last(&l)->type, WS_EV_CLOSE);
        const ev_rec *err = log_find(&l, WS_EV_ERROR, 0);
        if (fa.failed) { /* the echo needed memory: the failure is reported, then the CLOSE */
            assert_non_null(err);
            assert_int_equal(err->error, WS_ERR_NOMEM);
            refused++;
        } else {
            assert_null(err);
            assert_int_equal(log_last(&l)->close_code, WS_CLOSE_NORMAL);
        }
        log_free(&l);
        bytes_free(&in);
        ws_conn_free(c);
        assert_int_equal(fa.live, 0);
    }
    assert_true(refused > 0);
}

/* A request that is no WebSocket upgrade is answered before the connection closes: here a
 * plain GET (426 Upgrade Required) and a version the server does not speak. */
static void test_bad_request_answered(void **state)
{
    (void)state;
    static const char *const reqs[] = {
        "GET / HTTP/1.1\r\nHost: h\r\n\r\n",
        "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n"};
    for (size_t i = 0; i < 2; i++) {
        ws_conn *c = new_conn(WS_ROLE_SERVER, 0, NULL);
        size_t used = 0;
        assert_int_equal(ws_conn_feed(c, reqs[i], strlen(reqs[i]), &used), WS_OK);
        ev_log l = {0};
        drain(c, &l);
        assert_int_equal(log_last(&l)->type, WS_EV_CLOSE);
        bytes out = {0};
        take_output(c, &out, 0);
        assert_true(out.n > 12);
        assert_memory_equal(out.p, "HTTP/1.1 4", 10);
        bytes_free(&out);
        log_free(&l);
        ws_conn_free(c);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_not_open),
        cmocka_unit_test(test_close_handshake),
        cmocka_unit_test(test_close_simultaneous),
        cmocka_unit_test(test_close_without_code),
        cmocka_unit_test(test_close_send_validation),
        cmocka_unit_test(test_data_after_close_discarded),
        cmocka_unit_test(test_feed_eof),
        cmocka_unit_test(test_subprotocol),
        cmocka_unit_test(test_subprotocol_kept_exactly),
        cmocka_unit_test(test_reject_argument_errors),
        cmocka_unit_test(test_auto_pong),
        cmocka_unit_test(test_auto_pong_high_water_boundary),
        cmocka_unit_test(test_idle_connection_holds_core_only),
        cmocka_unit_test(test_timer_on_idle_connection),
        cmocka_unit_test(test_ping_interval),
        cmocka_unit_test(test_idle_timeout),
        cmocka_unit_test(test_close_timeout),
        cmocka_unit_test(test_handshake_timeout),
        cmocka_unit_test(test_clock_monotonic),
        cmocka_unit_test(test_high_water),
        cmocka_unit_test(test_high_water_policies),
        cmocka_unit_test(test_stats),
        cmocka_unit_test(test_options),
        cmocka_unit_test(test_sizeof),
        cmocka_unit_test(test_alloc_failures),
        cmocka_unit_test(test_peer_close_without_memory),
        cmocka_unit_test(test_bad_request_answered),
    };
    return cmocka_run_group_tests_name("conn_lifecycle", tests, NULL, NULL);
}
