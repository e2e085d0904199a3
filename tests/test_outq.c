/*
 * The output queue (lib/outq.c): owned bytes and borrowed payloads, written in order, given
 * back once the line is quiet. Tested through lib/internal.h's ws__outq_* where the queue's own
 * rules are the point, and through ws_conn where a user would see them: bytes on the wire,
 * ws_conn_buffered_amount, memory held.
 */
#include "conn_util.h"

#include "internal.h"

/* The queue's pending bytes, gathered from its iovecs. */
static void outq_bytes(const ws_outq *q, bytes *out)
{
    ws_iovec iov[16];
    int k = ws__outq_iov(q, iov, 16);
    assert_true(k >= 0 && k < 16);
    for (int i = 0; i < k; i++)
        bytes_append(out, iov[i].base, iov[i].len);
    assert_int_equal(out->n, ws__outq_pending(q));
}

/* Trimming gives back a drained buffer and never one with unsent bytes in it, whatever is
 * pending: all of it, a part, or nothing. */
static void test_trim_keeps_unsent_frees_drained(void **state)
{
    failalloc fa;
    ws_allocator user = failalloc_init(&fa, -1, 0), a;
    ws_outq q;
    uint8_t *p;
    (void)state;

    assert_int_equal(ws__alloc_init(&a, &user), WS_OK);
    memset(&q, 0, sizeof q);
    ws__outq_trim(&q, &a); /* nothing allocated yet: nothing to do */
    assert_int_equal(fa.live, 0);

    p = ws__outq_reserve(&q, &a, 5);
    assert_non_null(p);
    memcpy(p, "hello", 5);
    ws__outq_commit(&q, 5);
    size_t held = fa.bytes;
    assert_true(held >= 5);

    /* pending "hello", then "llo", then "o": each trim keeps the buffer and the bytes */
    static const char *const left[] = {"hello", "llo", "o"};
    static const size_t written[] = {2, 2, 1};
    for (int round = 0; round < 3; round++) {
        bytes b = {0};
        ws__outq_trim(&q, &a);
        assert_int_equal(fa.bytes, held);
        outq_bytes(&q, &b);
        assert_int_equal(b.n, strlen(left[round]));
        assert_memory_equal(b.p, left[round], b.n);
        bytes_free(&b);
        assert_int_equal(ws__outq_ack(&q, &a, written[round]), WS_OK);
    }
    assert_int_equal(ws__outq_pending(&q), 0);
    /* drained: the ack keeps the buffer (busy connections reuse it), the trim gives it back */
    assert_int_equal(fa.bytes, held);
    ws__outq_trim(&q, &a);
    assert_int_equal(fa.bytes, 0);
    assert_int_equal(fa.live, 0);
    assert_null(q.buf);
    assert_int_equal(q.cap, 0);

    /* and the queue works again afterwards */
    p = ws__outq_reserve(&q, &a, 3);
    assert_non_null(p);
    memcpy(p, "abc", 3);
    ws__outq_commit(&q, 3);
    bytes b = {0};
    outq_bytes(&q, &b);
    assert_memory_equal(b.p, "abc", 3);
    bytes_free(&b);
    ws__outq_free(&q, &a);
    assert_int_equal(fa.live, 0);
}

/* Through the connection: output the peer has not read yet survives the quiet second and is
 * written intact; once written, the quiet second gives the buffer back (live memory returns
 * to what the idle connection held). */
static void test_quiet_second_with_output_pending(void **state)
{
    failalloc fa;
    ws_allocator a = failalloc_init(&fa, -1, 0);
    ws_conn *c = new_conn(WS_ROLE_SERVER, WS_CONN_OPEN, &a);
    uint8_t payload[600];
    ws_event e;
    (void)state;

    test_fill(payload, sizeof payload, 3);
    assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 1); /* OPEN */
    assert_int_equal(ws_conn_tick(c, 1000), WS_OK);
    size_t idle = fa.bytes;

    assert_int_equal(ws_conn_send(c, WS_OP_BINARY, payload, sizeof payload, 0), WS_OK);
    size_t wire = 4 + sizeof payload;
    assert_int_equal(ws_conn_buffered_amount(c), wire);
    assert_true(fa.bytes > idle);
    /* quiet for a second and more, the output still unwritten (the peer reads slowly) */
    assert_int_equal(ws_conn_tick(c, 2500), WS_OK);
    assert_int_equal(ws_conn_tick(c, 4000), WS_OK);
    assert_int_equal(ws_conn_buffered_amount(c), wire);

    /* written in two parts, a tick in between: every byte arrives, in order */
    bytes out = {0};
    assert_int_equal(take_write(c, &out, 100), 100);
    assert_int_equal(ws_conn_tick(c, 5500), WS_OK);
    take_output(c, &out, 0);
    frame_list f = parse_frames(out.p, out.n);
    assert_int_equal(out.n, wire);
    assert_int_equal(f.n, 1);
    assert_int_equal(f.v[0].opcode, WS_OP_BINARY);
    assert_int_equal(f.v[0].len, sizeof payload);
    assert_memory_equal(f.v[0].data, payload, sizeof payload);
    frames_free(&f);
    bytes_free(&out);

    /* drained: the acks keep the buffer (a busy connection allocates nothing per message);
     * the next tick of a connection quiet for a second gives it back */
    assert_true(fa.bytes > idle);
    assert_int_equal(ws_conn_tick(c, 6600), WS_OK);
    assert_int_equal(fa.bytes, idle);
    ws_conn_free(c);
    assert_int_equal(fa.live, 0);
}

/* Frames a server sends, as the peer would see them on the wire. */
static void expect_frame(bytes *b, unsigned op, const void *p, size_t n)
{
    ws_frame_header h;
    uint8_t *tmp = malloc(n + WS_FRAME_MAX_HEADER);
    assert_non_null(tmp);
    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = (uint8_t)op;
    int k = ws_frame_encode(tmp, n + WS_FRAME_MAX_HEADER, &h, sizeof h, p, n);
    assert_true(k > 0);
    bytes_append(b, tmp, (size_t)k);
    free(tmp);
}

/* A borrowed send that fails (no memory for the borrow list) queues nothing, and the borrowed
 * and owned sends after it go out exactly: the queue stays frame-aligned and every borrowed
 * payload is anchored where it was queued. Also when the failure hits a later fragment of an
 * auto-fragmented borrowed message. */
static void test_failed_borrow_then_borrowed_sends(void **state)
{
    static uint8_t big[300], mid[200], small[60];
    (void)state;
    test_fill(big, sizeof big, 1);
    test_fill(mid, sizeof mid, 2);
    test_fill(small, sizeof small, 3);

    for (int variant = 0; variant < 2; variant++) {
        failalloc fa;
        ws_allocator a = failalloc_init(&fa, -1, 0);
        ws_conn *c = new_conn(WS_ROLE_SERVER, WS_CONN_OPEN, &a);
        bytes want = {0}, got = {0};
        drain(c, NULL);

        /* an owned message first, so the owned buffer exists and the next allocation a
         * borrowed send makes is the borrow list's */
        assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "first", 5, 0), WS_OK);
        expect_frame(&want, WS_OP_TEXT, "first", 5);
        uint64_t queued = ws_conn_output_queued(c);
        size_t buffered = ws_conn_buffered_amount(c);
        if (variant == 1) {
            /* the borrow list has room for four pieces and holds one: the fourth fragment
             * of the next message makes it grow, and that fails -- the three fragments
             * queued before it are undone too */
            assert_int_equal(ws_conn_send(c, WS_OP_BINARY, small, 10, WS_SEND_BORROW), WS_OK);
            expect_frame(&want, WS_OP_BINARY, small, 10);
            queued = ws_conn_output_queued(c);
            buffered = ws_conn_buffered_amount(c);
            assert_int_equal(ws_conn_set_option(c, WS_OPT_FRAGMENT_SIZE, 12), WS_OK);
        }
        fa.fail_at = fa.calls;
        assert_int_equal(ws_conn_send(c, WS_OP_BINARY, small, sizeof small, WS_SEND_BORROW),
                         WS_ERR_NOMEM);
        assert_int_equal(fa.failed, 1);
        fa.fail_at = -1;
        assert_int_equal(ws_conn_output_queued(c), queued);
        assert_int_equal(ws_conn_buffered_amount(c), buffered);
        assert_int_equal(ws_conn_set_option(c, WS_OPT_FRAGMENT_SIZE, 0), WS_OK);

        /* what follows is written exactly: borrowed, owned, a ping, borrowed, borrowed */
        assert_int_equal(ws_conn_send(c, WS_OP_BINARY, big, sizeof big, WS_SEND_BORROW), WS_OK);
        expect_frame(&want, WS_OP_BINARY, big, sizeof big);
        assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "owned", 5, 0), WS_OK);
        expect_frame(&want, WS_OP_TEXT, "owned", 5);
        assert_int_equal(ws_conn_ping(c, "p", 1), WS_OK);
        expect_frame(&want, WS_OP_PING, "p", 1);
        assert_int_equal(ws_conn_send(c, WS_OP_BINARY, mid, sizeof mid, WS_SEND_BORROW), WS_OK);
        expect_frame(&want, WS_OP_BINARY, mid, sizeof mid);
        assert_int_equal(ws_conn_send(c, WS_OP_BINARY, small, sizeof small, WS_SEND_BORROW),
                         WS_OK);
        expect_frame(&want, WS_OP_BINARY, small, sizeof small);

        assert_int_equal(ws_conn_buffered_amount(c), want.n);
        assert_int_equal(ws_conn_output_queued(c), want.n);
        take_output(c, &got, variant ? 7 : 0); /* whole, or in 7-byte writes */
        assert_int_equal(got.n, want.n);
        assert_memory_equal(got.p, want.p, want.n);
        bytes_free(&want);
        bytes_free(&got);
        ws_conn_free(c);
        assert_int_equal(fa.live, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trim_keeps_unsent_frees_drained),
        cmocka_unit_test(test_quiet_second_with_output_pending),
        cmocka_unit_test(test_failed_borrow_then_borrowed_sends),
    };
    return cmocka_run_group_tests_name("outq", tests, NULL, NULL);
}
