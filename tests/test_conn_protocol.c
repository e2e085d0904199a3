/* Connection layer: every protocol violation fails the connection with the right error event,
 * the right close code on the wire and a final CLOSE event; received close codes; UTF-8. */
#include "conn_util.h"

typedef void (*setup_fn)(ws_conn *c);

static ws_conn *fresh(uint32_t role, setup_fn setup, uint32_t *rng)
{
    ws_conn *c = conn_open(role, NULL, rng);
    assert_non_null(c);
    if (setup)
        setup(c);
    return c;
}

/* After a failure: exactly one close frame went out, with `code`, masked per role, with a
 * valid UTF-8 reason; the connection is closed, drops further input and wants shutdown. */
static void check_failed_output(ws_conn *c, int code)
{
    frame_list f = output_frames(c);
    assert_true(f.n >= 1);
    const frame_rec *last = &f.v[f.n - 1];
    assert_int_equal(close_code_of(last), code);
    assert_true(last->len <= WS_FRAME_MAX_CONTROL);
    for (size_t i = 0; i + 1 < f.n; i++)
        assert_int_not_equal(f.v[i].opcode, WS_OP_CLOSE);
    /* The reason is readable text. */
    for (size_t i = 2; i < last->len; i++)
        assert_true(last->data[i] >= 0x20 && last->data[i] < 0x7f);
    frames_free(&f);

    ws_conn_stats st;
    assert_int_equal(ws_conn_get_stats(c, &st, sizeof st), WS_OK);
    assert_int_equal(st.close_code_sent, code);
    assert_int_equal(ws_conn_state(c), WS_STATE_CLOSED);
    assert_int_equal(ws_conn_wants_shutdown(c), 1);

    /* Input after the failure is discarded: consumed, no event, nothing sent. */
    uint8_t junk[64];
    size_t used = 0;
    memset(junk, 0x81, sizeof junk);
    assert_int_equal(ws_conn_feed_inplace(c, junk, sizeof junk, &used), WS_OK);
    assert_int_equal(used, sizeof junk);
    assert_int_equal(ws_conn_feed(c, junk, sizeof junk, &used), WS_OK); /* copied: the same */
    assert_int_equal(used, sizeof junk);
    ws_event e;
    assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 0);
    assert_int_equal(ws_conn_buffered_amount(c), 0);
    assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "x", 1, 0), WS_ERR_CLOSED);
    assert_int_equal(ws_conn_feed_eof(c), WS_OK);
    assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 0);
}

/* The failure events: ERROR(err) at index `before`, then the final CLOSE(code). */
static void check_failed_log(const ev_log *l, size_t before, int err, int code)
{
    if (l->n != before + 2)
        log_print("log", l);
    assert_int_equal(l->n, before + 2);
    assert_int_equal(l->v[before].type, WS_EV_ERROR);
    if (l->v[before].error != err)
        print_message("got %s, want %s\n", ws_errname(l->v[before].error), ws_errname(err));
    assert_int_equal(l->v[before].error, err);
    const ev_rec *cl = log_assert_closed(l);
    assert_int_equal(cl->close_code, code);
    assert_int_equal(cl->by_peer, 0);
}

/* Feed wire (whole, byte at a time, and in 3-byte pieces; in place and copied) to fresh
 * connections of `role`; each must fail with err / code after `before` other events. The code
 * is the one the RFC asks for (ws_close_code_for_error). */
static void expect_fail(uint32_t role, setup_fn setup, const bytes *wire, size_t before, int err,
                        int code)
{
    static const size_t chunks[] = {0, 1, 3};
    assert_int_equal(ws_close_code_for_error(err), code);
    for (size_t k = 0; k < 2 * sizeof chunks / sizeof chunks[0]; k++) {
        uint32_t rng = 17;
        ev_log l = {0};
        ws_conn *c = fresh(role, setup, &rng);
        guarded g = guarded_copy(wire->p, wire->n);
        if (k < sizeof chunks / sizeof chunks[0])
            assert_int_equal(feed_chunks(c, &l, g.data, wire->n, chunks[k]), WS_OK);
        else
            assert_int_equal(feed_const(c, &l, g.data, wire->n, chunks[k % 3]), WS_OK);
        guarded_free(&g);
        check_failed_log(&l, before, err, code);
        check_failed_output(c, code);
        log_free(&l);
        ws_conn_free(c);
    }
}

static int masked_to(uint32_t role)
{
    return role == WS_ROLE_SERVER;
}

/* ---- frame-level violations ---- */

static void test_masking_rules(void **state)
{
    (void)state;
    bytes b = {0};
    /* A client frame must be masked ... */
    raw_frame(&b, WS_OP_TEXT, 1, 0, 0, "hi", 2);
    expect_fail(WS_ROLE_SERVER, NULL, &b, 0, WS_ERR_FRAME_UNMASKED, 1002);
    b.n = 0;
    raw_frame(&b, WS_OP_PING, 1, 0, 0, NULL, 0);
    expect_fail(WS_ROLE_SERVER, NULL, &b, 0, WS_ERR_FRAME_UNMASKED, 1002);
    /* ... a server frame must not be. */
    b.n = 0;
    raw_frame(&b, WS_OP_BINARY, 1, 0, 1, "hi", 2);
    expect_fail(WS_ROLE_CLIENT, NULL, &b, 0, WS_ERR_FRAME_MASKED, 1002);
    b.n = 0;
    raw_frame(&b, WS_OP_CLOSE, 1, 0, 1, "\x03\xe8", 2);
    expect_fail(WS_ROLE_CLIENT, NULL, &b, 0, WS_ERR_FRAME_MASKED, 1002);
    /* An unmasked frame after a good message: the message was delivered first. */
    b.n = 0;
    peer_frame(&b, WS_ROLE_SERVER, WS_OP_TEXT, 1, "ok", 2);
    raw_frame(&b, WS_OP_TEXT, 1, 0, 0, "bad", 3);
    expect_fail(WS_ROLE_SERVER, NULL, &b, 1, WS_ERR_FRAME_UNMASKED, 1002);
    /* An unmasked frame of odd length with more input behind it (enough bytes for a masked
     * frame of its length): the straight-line path must look at the MASK bit alone. */
    b.n = 0;
    raw_frame(&b, WS_OP_TEXT, 1, 0, 0, "hello", 5);
    peer_frame(&b, WS_ROLE_SERVER, WS_OP_TEXT, 1, "0123456789", 10);
    expect_fail(WS_ROLE_SERVER, NULL, &b, 0, WS_ERR_FRAME_UNMASKED, 1002);
    bytes_free(&b);
}

static void test_reserved_opcodes_and_rsv(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        int m = masked_to((uint32_t)role);
        bytes b = {0};
        for (unsigned op = 3; op < 16; op++) {
            if (op >= 8 && op <= 10)
                continue;
            b.n = 0;
            raw_frame(&b, op, 1, 0, m, "x", 1);
            expect_fail((uint32_t)role, NULL, &b, 0, WS_ERR_FRAME_RESERVED_OPCODE, 1002);
        }
        static const unsigned rsvs[] = {WS_RSV1, WS_RSV2, WS_RSV3, WS_RSV1 | WS_RSV3,
                                        WS_RSV1 | WS_RSV2 | WS_RSV3};
        static const unsigned ops[] = {WS_OP_TEXT, WS_OP_BINARY, WS_OP_PING, WS_OP_CLOSE};
        for (size_t i = 0; i < sizeof rsvs / sizeof rsvs[0]; i++) {
            for (size_t j = 0; j < sizeof ops / sizeof ops[0]; j++) {
                b.n = 0;
                raw_frame(&b, ops[j], 1, rsvs[i], m, NULL, 0);
                expect_fail((uint32_t)role, NULL, &b, 0, WS_ERR_FRAME_RSV, 1002);
            }
        }
        /* RSV on a continuation frame, mid-message. */
        b.n = 0;
        peer_frame(&b, (uint32_t)role, WS_OP_BINARY, 0, "a", 1);
        raw_frame(&b, WS_OP_CONTINUATION, 1, WS_RSV1, m, "b", 1);
        expect_fail((uint32_t)role, NULL, &b, 0, WS_ERR_FRAME_RSV, 1002);
        bytes_free(&b);
    }
}

static void test_control_frame_rules(void **state)
{
    (void)state;
    uint8_t big[200];
    memset(big, 'c', sizeof big);
    for (int role = 0; role < 2; role++) {
        int m = masked_to((uint32_t)role);
        bytes b = {0};
        static const unsigned ops[] = {WS_OP_PING, WS_OP_PONG, WS_OP_CLOSE};
        for (size_t i = 0; i < 3; i++) {
            b.n = 0;
            raw_frame(&b, ops[i], 0, 0, m, "ab", 2);
            expect_fail((uint32_t)role, NULL, &b, 0, WS_ERR_FRAME_CONTROL_FRAGMENTED, 1002);
            b.n = 0;
            raw_frame(&b, ops[i], 1, 0, m, big, 126);
            expect_fail((uint32_t)role, NULL, &b, 0, WS_ERR_FRAME_CONTROL_TOO_LONG, 1002);
            /* A fragmented control frame inside a fragmented message. */
            b.n = 0;
            peer_frame(&b, (uint32_t)role, WS_OP_TEXT, 0, "a", 1);
            raw_frame(&b, ops[i], 0, 0, m, NULL, 0);
            expect_fail((uint32_t)role, NULL, &b, 0, WS_ERR_FRAME_CONTROL_FRAGMENTED, 1002);
        }
        /* 125 is fine. */
        uint32_t rng = 1;
        ev_log l = {0};
        ws_conn *c = fresh((uint32_t)role, NULL, &rng);
        b.n = 0;
        peer_frame(&b, (uint32_t)role, WS_OP_PING, 1, big, 125);
        assert_int_equal(feed_copy(c, &l, b.p, b.n, 0), WS_OK);
        assert_int_equal(l.n, 1);
        assert_int_equal(l.v[0].type, WS_EV_PING);
        assert_int_equal(l.v[0].len, 125);
        log_free(&l);
        ws_conn_free(c);
        bytes_free(&b);
    }
}

static void test_length_encodings(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        int m = masked_to((uint32_t)role);
        bytes b = {0};
        /* Non-minimal lengths fail unless WS_OPT_LENIENT_LENGTH. */
        raw_header(&b, WS_OP_BINARY, 1, m, 5, 2);
        bytes_append(&b, "hello", 5);
        expect_fail((uint32_t)role, NULL, &b, 0, WS_ERR_FRAME_NON_MINIMAL_LENGTH, 1002);
        b.n = 0;
        raw_header(&b, WS_OP_BINARY, 1, m, 5, 8);
        bytes_append(&b, "hello", 5);
        expect_fail((uint32_t)role, NULL, &b, 0, WS_ERR_FRAME_NON_MINIMAL_LENGTH, 1002);
        /* 64-bit length with the top bit set. */
        b.n = 0;
        raw_header(&b, WS_OP_BINARY, 1, m, (uint64_t)1 << 63, 8);
        expect_fail((uint32_t)role, NULL, &b, 0, WS_ERR_FRAME_LEN64_MSB, 1002);

        uint32_t rng = 1;
        ev_log l = {0};
        ws_conn *c = fresh((uint32_t)role, NULL, &rng);
        assert_int_equal(ws_conn_set_option(c, WS_OPT_LENIENT_LENGTH, 1), WS_OK);
        assert_int_equal(get_opt(c, WS_OPT_LENIENT_LENGTH), 1);
        b.n = 0;
        raw_header(&b, WS_OP_BINARY, 1, m, 5, 8);
        bytes_append(&b, "hello", 5);
        if (m)
            ws_mask(b.p + b.n - 5, 5, test_mask_key, 0);
        assert_int_equal(feed_copy(c, &l, b.p, b.n, 1), WS_OK);
        assert_int_equal(l.n, 1);
        log_assert_message(&l, 0, WS_OP_BINARY, "hello", 5);
        log_free(&l);
        ws_conn_free(c);
        bytes_free(&b);
    }
}

/* ---- message-level violations ---- */

static void test_continuation_rules(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        uint32_t r = (uint32_t)role;
        bytes b = {0};
        /* A continuation with no message started. */
        peer_frame(&b, r, WS_OP_CONTINUATION, 1, "x", 1);
        expect_fail(r, NULL, &b, 0, WS_ERR_UNEXPECTED_CONTINUATION, 1002);
        b.n = 0;
        peer_frame(&b, r, WS_OP_CONTINUATION, 0, "x", 1);
        expect_fail(r, NULL, &b, 0, WS_ERR_UNEXPECTED_CONTINUATION, 1002);
        /* ... or after the last one ended. */
        b.n = 0;
        peer_frame(&b, r, WS_OP_TEXT, 0, "a", 1);
        peer_frame(&b, r, WS_OP_CONTINUATION, 1, "b", 1);
        peer_frame(&b, r, WS_OP_CONTINUATION, 1, "c", 1);
        expect_fail(r, NULL, &b, 1, WS_ERR_UNEXPECTED_CONTINUATION, 1002);
        /* A new data frame inside a fragmented message, with a ping between. */
        static const unsigned second[] = {WS_OP_TEXT, WS_OP_BINARY};
        for (int i = 0; i < 2; i++) {
            for (int fin = 0; fin < 2; fin++) {
                b.n = 0;
                peer_frame(&b, r, WS_OP_BINARY, 0, "a", 1);
                peer_frame(&b, r, WS_OP_PING, 1, "p", 1);
                peer_frame(&b, r, second[i], fin, "b", 1);
                expect_fail(r, NULL, &b, 1, WS_ERR_EXPECTED_CONTINUATION, 1002);
            }
        }
        bytes_free(&b);
    }
}

static void limit_100(ws_conn *c)
{
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_MESSAGE_SIZE, 100), WS_OK);
}

static void limit_100_streaming(ws_conn *c)
{
    limit_100(c);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_STREAMING, 1), WS_OK);
}

static void frame_limit_50(ws_conn *c)
{
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MAX_FRAME_SIZE, 50), WS_OK);
}

static void test_message_limits(void **state)
{
    (void)state;
    uint8_t d[200];
    memset(d, 'm', sizeof d);
    for (int role = 0; role < 2; role++) {
        uint32_t r = (uint32_t)role;
        bytes b = {0};
        uint32_t rng = 3;
        ev_log l = {0};

        /* At the limit: fine, whole or in fragments. Over it: 1009. */
        ws_conn *c = fresh(r, limit_100, &rng);
        assert_int_equal(get_opt(c, WS_OPT_MAX_MESSAGE_SIZE), 100);
        assert_int_equal(get_opt(c, WS_OPT_MAX_FRAME_SIZE), 100);
        peer_frame(&b, r, WS_OP_BINARY, 1, d, 100);
        peer_frame(&b, r, WS_OP_TEXT, 0, d, 60);
        peer_frame(&b, r, WS_OP_CONTINUATION, 1, d, 40);
        assert_int_equal(feed_copy(c, &l, b.p, b.n, 7), WS_OK);
        assert_int_equal(l.n, 2);
        log_assert_message(&l, 0, WS_OP_BINARY, d, 100);
        log_assert_message(&l, 1, WS_OP_TEXT, d, 100);
        log_free(&l);
        ws_conn_free(c);

        b.n = 0;
        peer_frame(&b, r, WS_OP_BINARY, 1, d, 101);
        expect_fail(r, limit_100, &b, 0, WS_ERR_FRAME_TOO_LARGE, 1009);
        b.n = 0;
        peer_frame(&b, r, WS_OP_TEXT, 0, d, 60);
        peer_frame(&b, r, WS_OP_CONTINUATION, 0, d, 40);
        peer_frame(&b, r, WS_OP_CONTINUATION, 1, d, 1);
        expect_fail(r, limit_100, &b, 0, WS_ERR_MESSAGE_TOO_BIG, 1009);

        /* Fail fast: the header of the fragment that crosses the limit is enough. */
        b.n = 0;
        peer_frame(&b, r, WS_OP_TEXT, 0, d, 60);
        size_t first = b.n;
        peer_frame(&b, r, WS_OP_CONTINUATION, 1, d, 41);
        size_t hdr2 = ws_frame_header_size(41, masked_to(r));
        for (int s = 0; s < 2; s++) {
            /* Streaming too: the chunks already handed out come before the error. */
            uint8_t *tmp = malloc(b.n);
            assert_non_null(tmp);
            memcpy(tmp, b.p, b.n);
            c = fresh(r, s ? limit_100_streaming : limit_100, &rng);
            assert_int_equal(feed_chunks(c, &l, tmp, first + hdr2 - 1, 1), WS_OK);
            assert_int_equal(log_count(&l, WS_EV_ERROR), 0);
            assert_int_equal(feed_chunks(c, &l, tmp + first + hdr2 - 1, 1, 1), WS_OK);
            check_failed_log(&l, s ? log_count(&l, WS_EV_FRAGMENT) : 0, WS_ERR_MESSAGE_TOO_BIG,
                             1009);
            check_failed_output(c, 1009);
            log_clear(&l);
            ws_conn_free(c);
            free(tmp);
        }
        log_free(&l);

        /* The frame limit applies per frame: 2 x 50 is a fine message, one 51 frame is not. */
        c = fresh(r, frame_limit_50, &rng);
        assert_int_equal(get_opt(c, WS_OPT_MAX_FRAME_SIZE), 50);
        b.n = 0;
        peer_frame(&b, r, WS_OP_BINARY, 0, d, 50);
        peer_frame(&b, r, WS_OP_CONTINUATION, 1, d, 50);
        assert_int_equal(feed_copy(c, &l, b.p, b.n, 0), WS_OK);
        log_assert_message(&l, 0, WS_OP_BINARY, d, 100);
        log_free(&l);
        ws_conn_free(c);
        b.n = 0;
        peer_frame(&b, r, WS_OP_BINARY, 0, d, 50);
        peer_frame(&b, r, WS_OP_CONTINUATION, 1, d, 51);
        expect_fail(r, frame_limit_50, &b, 0, WS_ERR_FRAME_TOO_LARGE, 1009);
        bytes_free(&b);
    }
}

static void refuse_text(ws_conn *c)
{
    assert_int_equal(ws_conn_set_option(c, WS_OPT_REFUSE_TEXT, 1), WS_OK);
}

static void refuse_binary(ws_conn *c)
{
    assert_int_equal(ws_conn_set_option(c, WS_OPT_REFUSE_BINARY, 1), WS_OK);
}

static void test_refused_types(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        uint32_t r = (uint32_t)role;
        bytes b = {0};
        peer_frame(&b, r, WS_OP_BINARY, 1, "bin", 3);
        peer_frame(&b, r, WS_OP_TEXT, 1, "txt", 3);
        expect_fail(r, refuse_text, &b, 1, WS_ERR_DATA_TYPE, 1003);
        b.n = 0;
        peer_frame(&b, r, WS_OP_TEXT, 1, "txt", 3);
        peer_frame(&b, r, WS_OP_BINARY, 0, "bin", 3);
        peer_frame(&b, r, WS_OP_CONTINUATION, 1, "bin", 3);
        expect_fail(r, refuse_binary, &b, 1, WS_ERR_DATA_TYPE, 1003);
        /* Control frames are never refused. */
        b.n = 0;
        peer_frame(&b, r, WS_OP_PING, 1, "p", 1);
        peer_frame(&b, r, WS_OP_TEXT, 1, "t", 1);
        expect_fail(r, refuse_text, &b, 1, WS_ERR_DATA_TYPE, 1003);
        bytes_free(&b);
    }
}

/* ---- UTF-8 in text messages ---- */

typedef struct sample {
    const char *name;
    const char *s;
    size_t len;
    size_t fail_at; /* invalid: payload byte whose arrival fails the message */
    int cut;        /* invalid only because the message ends inside a sequence */
} sample;

#define S(name, lit) {name, lit, sizeof lit - 1, 0, 0}
#define BAD(name, lit, at) {name, lit, sizeof lit - 1, at, 0}
#define CUT(name, lit) {name, lit, sizeof lit - 1, sizeof lit - 2, 1}

/* From Markus Kuhn's UTF-8 decoder capability and stress test, and Autobahn's section 6. */
static const sample valid_samples[] = {
    S("1 kosme", "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"),
    S("2.1.1 U+0000", "\x00"),
    S("2.1.2 U+0080", "\xC2\x80"),
    S("2.1.3 U+0800", "\xE0\xA0\x80"),
    S("2.1.4 U+10000", "\xF0\x90\x80\x80"),
    S("2.2.1 U+007F", "\x7F"),
    S("2.2.2 U+07FF", "\xDF\xBF"),
    S("2.2.3 U+FFFF", "\xEF\xBF\xBF"),
    S("2.3.1 U+D7FF", "\xED\x9F\xBF"),
    S("2.3.2 U+E000", "\xEE\x80\x80"),
    S("2.3.3 U+FFFD", "\xEF\xBF\xBD"),
    S("2.3.4 U+10FFFF", "\xF4\x8F\xBF\xBF"),
    S("5.3.1 U+FFFE", "\xEF\xBF\xBE"),
    S("5.3.3 U+FDD0", "\xEF\xB7\x90"),
    S("6.2 mixed", "Hello-\xC2\xB5@\xC3\x9F\xC3\xB6\xC3\xA4\xC3\xBC\xC3\xA0\xC3\xA1-UTF-8!!"),
};

static const sample invalid_samples[] = {
    BAD("2.1.5 5 bytes", "\xF8\x88\x80\x80\x80", 0),
    BAD("2.1.6 6 bytes", "\xFC\x84\x80\x80\x80\x80", 0),
    BAD("2.2.4 U+1FFFFF", "\xF7\xBF\xBF\xBF", 0),
    BAD("2.3.5 U+110000", "\xF4\x90\x80\x80", 1),
    BAD("3.1.1 first continuation", "\x80", 0),
    BAD("3.1.2 last continuation", "\xBF", 0),
    BAD("3.1.3 2 continuations", "a\x80\xBF", 1),
    BAD("3.2.1 lonely C0", "\xC0\x20", 0),
    BAD("3.2.1 lonely C2", "\xC2\x20", 1),
    BAD("3.2.2 lonely E0", "\xE0\x20", 1),
    BAD("3.2.3 lonely F0", "\xF0\x20", 1),
    BAD("3.2.4 lonely F8", "\xF8\x20", 0),
    BAD("3.2.5 lonely FC", "\xFC\x20", 0),
    BAD("3.3.1 C0 cut", "\xC0", 0),
    BAD("3.3.2 E0 80 cut", "\xE0\x80", 1),
    BAD("3.3.3 F0 80 80 cut", "\xF0\x80\x80", 1),
    CUT("3.3.6 DF cut", "\xDF"),
    CUT("3.3.7 EF BF cut", "\xEF\xBF"),
    BAD("3.3.8 F7 BF BF cut", "\xF7\xBF\xBF", 0),
    CUT("U+10FFFF cut", "\xF4\x8F\xBF"),
    CUT("kosme cut", "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE"),
    BAD("3.5.1 FE", "\xFE", 0),
    BAD("3.5.2 FF", "\xFF", 0),
    BAD("3.5.3 FE FE FF FF", "\xFE\xFE\xFF\xFF", 0),
    BAD("4.1.1 overlong / 2", "\xC0\xAF", 0),
    BAD("4.1.2 overlong / 3", "\xE0\x80\xAF", 1),
    BAD("4.1.3 overlong / 4", "\xF0\x80\x80\xAF", 1),
    BAD("4.1.4 overlong / 5", "\xF8\x80\x80\x80\xAF", 0),
    BAD("4.2.1 max overlong 2", "\xC1\xBF", 0),
    BAD("4.2.2 max overlong 3", "\xE0\x9F\xBF", 1),
    BAD("4.2.3 max overlong 4", "\xF0\x8F\xBF\xBF", 1),
    BAD("4.3.1 overlong NUL 2", "\xC0\x80", 0),
    BAD("4.3.2 overlong NUL 3", "\xE0\x80\x80", 1),
    BAD("4.3.3 overlong NUL 4", "\xF0\x80\x80\x80", 1),
    BAD("5.1.1 U+D800", "\xED\xA0\x80", 1),
    BAD("5.1.7 U+DFFF", "\xED\xBF\xBF", 1),
    BAD("5.2.1 U+D800 U+DC00", "\xED\xA0\x80\xED\xB0\x80", 1),
    BAD("6.3.1 kosme surrogate", "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80"
                                 "edited", 12),
};

#undef S
#undef BAD
#undef CUT

static void test_utf8_valid_samples(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        uint32_t r = (uint32_t)role;
        for (size_t i = 0; i < sizeof valid_samples / sizeof valid_samples[0]; i++) {
            const sample *sm = &valid_samples[i];
            bytes b = {0};
            peer_frame(&b, r, WS_OP_TEXT, 1, sm->s, sm->len);
            /* Split at every byte. */
            for (size_t s = 0; s <= b.n; s++) {
                uint32_t rng = 1;
                ev_log l = {0};
                ws_conn *c = fresh(r, NULL, &rng);
                uint8_t *tmp = malloc(b.n);
                assert_non_null(tmp);
                memcpy(tmp, b.p, b.n);
                assert_int_equal(feed_chunks(c, &l, tmp, s, 0), WS_OK);
                assert_int_equal(feed_chunks(c, &l, tmp + s, b.n - s, 0), WS_OK);
                assert_int_equal(l.n, 1);
                log_assert_message(&l, 0, WS_OP_TEXT, sm->s, sm->len);
                free(tmp);
                log_free(&l);
                ws_conn_free(c);
            }
            /* The same as fragments cut at every byte, a ping in between. */
            for (size_t s = 0; s <= sm->len; s++) {
                uint32_t rng = 1;
                ev_log l = {0};
                ws_conn *c = fresh(r, NULL, &rng);
                b.n = 0;
                peer_frame(&b, r, WS_OP_TEXT, 0, sm->s, s);
                peer_frame(&b, r, WS_OP_PING, 1, NULL, 0);
                peer_frame(&b, r, WS_OP_CONTINUATION, 1, sm->s + s, sm->len - s);
                assert_int_equal(feed_copy(c, &l, b.p, b.n, 0), WS_OK);
                assert_int_equal(l.n, 2);
                log_assert_message(&l, 1, WS_OP_TEXT, sm->s, sm->len);
                log_free(&l);
                ws_conn_free(c);
            }
            /* Sending it is fine too, whole and as fragments. */
            uint32_t rng = 1;
            ws_conn *c = fresh(r, NULL, &rng);
            assert_int_equal(ws_conn_send(c, WS_OP_TEXT, sm->s, sm->len, 0), WS_OK);
            if (sm->len > 1) {
                assert_int_equal(ws_conn_send_fragment(c, WS_OP_TEXT, sm->s, 1, 0, 0), WS_OK);
                assert_int_equal(
                    ws_conn_send_fragment(c, WS_OP_TEXT, sm->s + 1, sm->len - 1, 1, 0), WS_OK);
            }
            ws_conn_free(c);
            bytes_free(&b);
        }
    }
}

static void test_utf8_invalid_samples(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        uint32_t r = (uint32_t)role;
        for (size_t i = 0; i < sizeof invalid_samples / sizeof invalid_samples[0]; i++) {
            const sample *sm = &invalid_samples[i];
            bytes b = {0};
            peer_frame(&b, r, WS_OP_TEXT, 1, sm->s, sm->len);
            size_t hl = b.n - sm->len;
            size_t fail_pos = hl + sm->fail_at + 1; /* bytes needed to see the failure */
            for (size_t s = 0; s <= b.n; s++) {
                uint32_t rng = 1;
                ev_log l = {0};
                ws_conn *c = fresh(r, NULL, &rng);
                uint8_t *tmp = malloc(b.n);
                assert_non_null(tmp);
                memcpy(tmp, b.p, b.n);
                assert_int_equal(feed_chunks(c, &l, tmp, s, 0), WS_OK);
                /* Fail fast: exactly when the offending byte arrives, not at the end. */
                if (log_count(&l, WS_EV_ERROR) != (s >= fail_pos))
                    print_message("sample %s split %zu\n", sm->name, s);
                assert_int_equal(log_count(&l, WS_EV_ERROR), s >= fail_pos);
                assert_int_equal(feed_chunks(c, &l, tmp + s, b.n - s, 0), WS_OK);
                check_failed_log(&l, 0, WS_ERR_INVALID_UTF8, 1007);
                check_failed_output(c, 1007);
                free(tmp);
                log_free(&l);
                ws_conn_free(c);
            }
            /* As the first of two fragments: an invalid byte fails before the second one
             * comes; a cut sequence only when the message ends there. */
            uint32_t rng = 1;
            ev_log l = {0};
            ws_conn *c = fresh(r, NULL, &rng);
            b.n = 0;
            peer_frame(&b, r, WS_OP_TEXT, 0, sm->s, sm->len);
            size_t first = b.n;
            peer_frame(&b, r, WS_OP_CONTINUATION, 1, NULL, 0);
            uint8_t *tmp = malloc(b.n);
            assert_non_null(tmp);
            memcpy(tmp, b.p, b.n);
            assert_int_equal(feed_chunks(c, &l, tmp, first, 1), WS_OK);
            assert_int_equal(log_count(&l, WS_EV_ERROR), !sm->cut);
            assert_int_equal(feed_chunks(c, &l, tmp + first, b.n - first, 1), WS_OK);
            check_failed_log(&l, 0, WS_ERR_INVALID_UTF8, 1007);
            check_failed_output(c, 1007);
            free(tmp);
            log_free(&l);
            ws_conn_free(c);
            /* A sender refuses it. */
            c = fresh(r, NULL, &rng);
            assert_int_equal(ws_conn_send(c, WS_OP_TEXT, sm->s, sm->len, 0), WS_ERR_INVALID_UTF8);
            assert_int_equal(ws_conn_buffered_amount(c), 0);
            ws_conn_free(c);
            bytes_free(&b);
        }
    }
}

/* An invalid byte in the first of two fragments fails the message before the second comes;
 * a text message ending inside a sequence fails at its end. */
static void test_utf8_fail_fast_fragments(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        uint32_t r = (uint32_t)role;
        for (int streaming = 0; streaming < 2; streaming++) {
            uint32_t rng = 1;
            ev_log l = {0};
            bytes b = {0};
            ws_conn *c = fresh(r, NULL, &rng);
            assert_int_equal(ws_conn_set_option(c, WS_OPT_STREAMING, (uint64_t)streaming),
                             WS_OK);
            peer_frame(&b, r, WS_OP_TEXT, 0, "ok\xFF" "more", 7);
            size_t first = b.n;
            peer_frame(&b, r, WS_OP_CONTINUATION, 1, "rest", 4);
            assert_int_equal(feed_copy(c, &l, b.p, first, 1), WS_OK);
            size_t before = streaming ? log_count(&l, WS_EV_FRAGMENT) : 0;
            check_failed_log(&l, before, WS_ERR_INVALID_UTF8, 1007);
            check_failed_output(c, 1007);
            log_free(&l);
            ws_conn_free(c);

            /* Cut sequences: at the end of a message (fails), or completed by the next
             * fragment (fine). */
            static const char *const cuts[] = {"\xCE", "\xE1\xBD", "\xF0\x9F\x98"};
            for (size_t k = 0; k < 3; k++) {
                size_t n = strlen(cuts[k]);
                b.n = 0;
                peer_frame(&b, r, WS_OP_TEXT, 1, cuts[k], n);
                expect_fail(r, NULL, &b, 0, WS_ERR_INVALID_UTF8, 1007);
                b.n = 0;
                peer_frame(&b, r, WS_OP_TEXT, 0, "a", 1);
                peer_frame(&b, r, WS_OP_CONTINUATION, 0, cuts[k], n);
                peer_frame(&b, r, WS_OP_CONTINUATION, 1, NULL, 0);
                expect_fail(r, NULL, &b, 0, WS_ERR_INVALID_UTF8, 1007);
            }
            bytes_free(&b);
        }
    }
}

/* ---- close frames received ---- */

static void test_close_payload_one_byte(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        bytes b = {0};
        peer_frame(&b, (uint32_t)role, WS_OP_CLOSE, 1, "\x03", 1);
        expect_fail((uint32_t)role, NULL, &b, 0, WS_ERR_CLOSE_PAYLOAD, 1002);
        bytes_free(&b);
    }
}

static int code_valid(unsigned code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

static void test_close_codes_received(void **state)
{
    (void)state;
    unsigned nvalid = 0;
    for (int role = 0; role < 2; role++) {
        uint32_t r = (uint32_t)role;
        for (unsigned code = 0; code <= 5000; code++) {
            uint32_t rng = 1;
            ev_log l = {0};
            bytes b = {0};
            ws_conn *c = fresh(r, NULL, &rng);
            /* Code 0 here is on the wire: a payload starting 00 00, not "no code". */
            uint8_t pl[5] = {(uint8_t)(code >> 8), (uint8_t)code, 'w', 'h', 'y'};
            peer_frame(&b, r, WS_OP_CLOSE, 1, pl, sizeof pl);
            assert_int_equal(feed_copy(c, &l, b.p, b.n, 0), WS_OK);
            assert_int_equal(ws_close_code_valid(code), code_valid(code));
            if (code_valid(code)) {
                nvalid += role == 0;
                assert_int_equal(l.n, 1);
                assert_int_equal(l.v[0].type, WS_EV_CLOSE);
                assert_int_equal(l.v[0].close_code, code);
                assert_int_equal(l.v[0].by_peer, 1);
                assert_string_equal((char *)l.v[0].data, "why");
                frame_list f = output_frames(c);
                assert_int_equal(f.n, 1);
                assert_int_equal(close_code_of(&f.v[0]), code); /* echoed */
                frames_free(&f);
                ws_conn_stats st;
                assert_int_equal(ws_conn_get_stats(c, &st, sizeof st), WS_OK);
                assert_int_equal(st.close_code_received, code);
                assert_int_equal(st.close_code_sent, code);
                assert_int_equal(st.closed_by_peer, 1);
                assert_int_equal(ws_conn_state(c), WS_STATE_CLOSED);
            } else {
                check_failed_log(&l, 0, WS_ERR_CLOSE_CODE, 1002);
                check_failed_output(c, 1002);
            }
            bytes_free(&b);
            log_free(&l);
            ws_conn_free(c);
        }
    }
    assert_int_equal(nvalid, 4 + 8 + 2000);
}

static void test_close_reason_utf8(void **state)
{
    (void)state;
    for (int role = 0; role < 2; role++) {
        uint32_t r = (uint32_t)role;
        bytes b = {0};
        for (size_t i = 0; i < sizeof invalid_samples / sizeof invalid_samples[0]; i += 3) {
            b.n = 0;
            peer_close(&b, r, 1000, invalid_samples[i].s, invalid_samples[i].len);
            expect_fail(r, NULL, &b, 0, WS_ERR_INVALID_UTF8, 1007);
        }
        /* Valid reasons up to the 123-byte maximum are delivered and not echoed. */
        char reason[123];
        memset(reason, 'r', sizeof reason);
        memcpy(reason + 120, "\xE2\x82\xAC", 3);
        for (size_t n = 0; n <= sizeof reason; n += 41) {
            uint32_t rng = 1;
            ev_log l = {0};
            ws_conn *c = fresh(r, NULL, &rng);
            b.n = 0;
            peer_close(&b, r, 4321, reason + sizeof reason - n, n);
            assert_int_equal(feed_copy(c, &l, b.p, b.n, 1), WS_OK);
            assert_int_equal(l.n, 1);
            assert_int_equal(l.v[0].close_code, 4321);
            assert_int_equal(l.v[0].len, n);
            assert_memory_equal(l.v[0].data, reason + sizeof reason - n, n);
            frame_list f = output_frames(c);
            assert_int_equal(f.n, 1);
            assert_int_equal(f.v[0].len, 2);
            frames_free(&f);
            log_free(&l);
            ws_conn_free(c);
        }
        bytes_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_masking_rules),
        cmocka_unit_test(test_reserved_opcodes_and_rsv),
        cmocka_unit_test(test_control_frame_rules),
        cmocka_unit_test(test_length_encodings),
        cmocka_unit_test(test_continuation_rules),
        cmocka_unit_test(test_message_limits),
        cmocka_unit_test(test_refused_types),
        cmocka_unit_test(test_utf8_valid_samples),
        cmocka_unit_test(test_utf8_invalid_samples),
        cmocka_unit_test(test_utf8_fail_fast_fragments),
        cmocka_unit_test(test_close_payload_one_byte),
        cmocka_unit_test(test_close_codes_received),
        cmocka_unit_test(test_close_reason_utf8),
    };
    return cmocka_run_group_tests_name("conn_protocol", tests, NULL, NULL);
}
