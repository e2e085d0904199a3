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
    assert_null(q.head);
    assert_null(q.spare);

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

/* The queue at its edges: an empty borrowed piece adds nothing, a reservation that cannot be
 * represented fails instead of wrapping, an acknowledgement of more than is pending is refused,
 * and a partly acknowledged borrowed piece shows only its unsent bytes. */
static void test_outq_edges(void **state)
{
    failalloc fa;
    ws_allocator user = failalloc_init(&fa, -1, 0), a;
    ws_outq q;
    ws_iovec iov[4];
    static const uint8_t piece[4] = {1, 2, 3, 4};
    uint8_t *p;
    (void)state;

    assert_int_equal(ws__alloc_init(&a, &user), WS_OK);
    memset(&q, 0, sizeof q);
    assert_int_equal(ws__outq_borrow(&q, &a, piece, 0, NULL), WS_OK);
    assert_int_equal(ws__outq_pending(&q), 0);
    assert_null(ws__outq_reserve(&q, &a, SIZE_MAX - 8));
    p = ws__outq_reserve(&q, &a, 2);
    assert_non_null(p);
    p[0] = 'a';
    p[1] = 'b';
    ws__outq_commit(&q, 2);
    assert_int_equal(ws__outq_borrow(&q, &a, piece, sizeof piece, NULL), WS_OK);
    assert_int_equal(ws__outq_iov(&q, iov, 4), 2);
    assert_int_equal(ws__outq_ack(&q, &a, 7), WS_ERR_INVALID_ARG);
    assert_int_equal(ws__outq_ack(&q, &a, 3), WS_OK);
    assert_int_equal(ws__outq_iov(&q, iov, 4), 1);
    assert_int_equal(iov[0].len, 3);
    assert_memory_equal(iov[0].base, piece + 1, 3);
    assert_int_equal(ws__outq_ack(&q, &a, 3), WS_OK);
    assert_int_equal(ws__outq_iov(&q, iov, 4), 0);
    ws__outq_free(&q, &a);
    assert_int_equal(fa.live, 0);
}

/* Through the connection: output the peer has not read yet survives the quiet second and is
 * written intact; once written, the quiet second gives the buffer back, and with nothing else
 * going on the traffic state too (the connection holds its core state alone). */
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
    assert_true(fa.bytes < idle); /* the traffic state too: nothing is queued or going on */
    assert_int_equal(ws_conn_memory(c), 0); /* the core state alone */
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

/* ---- output never moves until acknowledged (ws.h "Output never moves") ---- */

/* A chunk the caller was shown: where it was, what it held, and its place in the stream. */
typedef struct shown {
    const uint8_t *at;
    uint64_t pos;
    size_t len;
    uint8_t *copy;
} shown;

typedef struct views {
    shown v[4096];
    size_t n;
    uint64_t end; /* stream position past everything shown so far */
} views;

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

/* Every byte shown and not yet acknowledged is where it was, unchanged. */
static void views_check(views *w, uint64_t acked)
{
    size_t keep = 0;
    for (size_t i = 0; i < w->n; i++) {
        shown *s = &w->v[i];
        if (s->pos + s->len <= acked) {
            free(s->copy);
            continue;
        }
        size_t skip = acked > s->pos ? (size_t)(acked - s->pos) : 0;
        assert_memory_equal(s->at + skip, s->copy + skip, s->len - skip);
        w->v[keep++] = *s;
    }
    w->n = keep;
}

/* Show the caller what is after the taken bytes (the stream position `from`). */
static void views_add(views *w, ws_conn *c, uint64_t from)
{
    ws_iovec iov[16];
    int k = ws_conn_output(c, iov, 16);
    assert_true(k >= 0);
    for (int i = 0; i < k; i++, from += iov[i - 1].len) {
        if (from + iov[i].len <= w->end)
            continue; /* shown before (and checked to be still there) */
        assert_true(w->n < 4096);
        shown *s = &w->v[w->n++];
        s->at = iov[i].base;
        s->pos = from;
        s->len = iov[i].len;
        s->copy = malloc(iov[i].len);
        assert_non_null(s->copy);
        memcpy(s->copy, iov[i].base, iov[i].len);
        w->end = from + iov[i].len;
    }
}

/* Copy the stream's bytes [from, from + n) into out, from the views (they cover it). */
static void views_read(const views *w, uint64_t from, size_t n, bytes *out)
{
    while (n > 0) {
        const shown *s = NULL;
        for (size_t i = 0; i < w->n && !s; i++)
            if (w->v[i].pos <= from && from < w->v[i].pos + w->v[i].len)
                s = &w->v[i];
        if (!s) {
            print_message("stream byte %llu not shown (views %zu, end %llu)\n", (unsigned long long)from, w->n, (unsigned long long)w->end);
            for (size_t i = 0; i < w->n; i++) print_message("  [%llu,+%zu)\n", (unsigned long long)w->v[i].pos, w->v[i].len);
        }
        assert_non_null(s);
        size_t off = (size_t)(from - s->pos), k = s->len - off < n ? s->len - off : n;
        bytes_append(out, s->at + off, k);
        from += k;
        n -= k;
    }
}

/*
 * Sends (copied, borrowed, fragmented, large), pings, ticks through timer pings and quiet
 * seconds, takes and partial acks in a seeded random order, with an allocator that poisons
 * what is freed and moves what is reallocated: every output byte shown stays put and unchanged
 * until acknowledged; several writes are in flight at once; the bytes written, in order, are
 * exactly the frames sent; and every borrowed send is released once, after it was written.
 */
static void test_output_never_moves(void **state)
{
    (void)state;
    for (uint32_t seed = 1; seed <= 6; seed++) {
        failalloc fa;
        ws_allocator a = failalloc_init(&fa, -1, 0);
        fa.poison = 1;
        uint32_t rng = seed, r = seed * 7919u;
        ws_conn *c = conn_open(WS_ROLE_SERVER, &a, &rng);
        views *w = calloc(1, sizeof *w);
        static uint8_t lent[200000]; /* borrowed payloads: unchanged until released */
        bytes wire = {0}, want = {0};
        uint64_t taken = 0, acked = 0, now = 0;
        size_t borrowed = 0, released = 0, msgs = 0;
        assert_non_null(c);
        assert_non_null(w);
        for (size_t i = 0; i < sizeof lent; i++)
            lent[i] = (uint8_t)(i * 31 + seed);
        assert_int_equal(ws_conn_set_option(c, WS_OPT_PING_INTERVAL, 700), WS_OK);
        assert_int_equal(ws_conn_set_option(c, WS_OPT_PONG_TIMEOUT, 0), WS_OK);
        assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_TIMEOUT, 0), WS_OK);
        assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_HIGH_WATER, 1u << 24), WS_OK);
        assert_int_equal(ws_conn_tick(c, now), WS_OK);

        for (int step = 0; step < 1500; step++) {
            unsigned op = lcg(&r) % 10;
            if (op <= 2) { /* a message: copied or borrowed, maybe fragmented or large */
                size_t n = lcg(&r) % 5 == 0 ? lcg(&r) % 150000 : lcg(&r) % 700;
                size_t off = lcg(&r) % (sizeof lent - n);
                unsigned flags = op == 2 ? WS_SEND_BORROW : 0;
                uint64_t frag = lcg(&r) % 4 == 0 ? 1000 + lcg(&r) % 5000 : 0;
                assert_int_equal(ws_conn_set_option(c, WS_OPT_FRAGMENT_SIZE, frag), WS_OK);
                assert_int_equal(ws_conn_send(c, WS_OP_BINARY, lent + off, n, flags), WS_OK);
                borrowed += flags != 0;
                bytes_append(&want, lent + off, n);
                msgs++;
            } else if (op == 3) {
                assert_int_equal(ws_conn_ping(c, "p", 1), WS_OK);
            } else if (op == 4) { /* time passes: timer pings, a quiet second's trim */
                now += lcg(&r) % 1500;
                assert_int_equal(ws_conn_tick(c, now), WS_OK);
            } else if (op <= 6) { /* a write submitted: some of what is offered, in flight */
                views_add(w, c, taken);
                uint64_t untaken = ws_conn_output_queued(c) - taken;
                uint64_t offered = w->end > taken ? w->end - taken : 0; /* up to 16 chunks */
                size_t n = (size_t)(lcg(&r) % (offered + 1));
                assert_int_equal(ws_conn_output_take(c, n), WS_OK);
                taken += n;
                assert_int_equal(ws_conn_output_take(c, (size_t)untaken - n + 1),
                                 WS_ERR_INVALID_ARG);
            } else if (op <= 8) { /* the oldest write completes, in part or whole */
                views_add(w, c, taken); /* the classic loop: shown, written, acked */
                uint64_t offered = w->end > acked ? w->end - acked : 0;
                size_t n = (size_t)(lcg(&r) % (offered + 1));
                views_read(w, acked, n, &wire);
                assert_int_equal(ws_conn_output_ack(c, n), WS_OK);
                acked += n;
                if (taken < acked)
                    taken = acked;
            } else { /* collect releases: only what was written */
                const void *p;
                while (ws_conn_next_released(c, &p) == 1) {
                    assert_true((const uint8_t *)p >= lent && (const uint8_t *)p < lent + sizeof lent);
                    released++;
                }
                assert_null(p);
            }
            views_check(w, acked);
            assert_int_equal(ws_conn_output_acked(c), acked);
            assert_int_equal(ws_conn_buffered_amount(c), ws_conn_output_queued(c) - acked);
        }
        /* Everything written: the stream decodes to the messages sent, in order. */
        while (ws_conn_output_queued(c) > acked) {
            views_add(w, c, taken);
            size_t n = (size_t)(w->end - acked);
            views_read(w, acked, n, &wire);
            assert_int_equal(ws_conn_output_ack(c, n), WS_OK);
            acked += n;
            taken = acked;
            views_check(w, acked);
        }
        const void *p;
        while (ws_conn_next_released(c, &p) == 1)
            released++;
        assert_int_equal(released, borrowed);

        ws_conn *peer = conn_open(WS_ROLE_CLIENT, NULL, &rng);
        ev_log l = {0};
        bytes got = {0};
        assert_int_equal(ws_conn_set_option(peer, WS_OPT_MAX_MESSAGE_SIZE, 1u << 20), WS_OK);
        assert_int_equal(feed_copy(peer, &l, wire.p, wire.n, 65536), WS_OK);
        assert_int_equal(log_count(&l, WS_EV_MESSAGE), msgs);
        for (size_t i = 0; i < l.n; i++)
            if (l.v[i].type == WS_EV_MESSAGE)
                bytes_append(&got, l.v[i].data, l.v[i].len);
        assert_int_equal(got.n, want.n);
        assert_memory_equal(got.p, want.p, want.n);

        views_check(w, UINT64_MAX);
        free(w);
        bytes_free(&got);
        bytes_free(&wire);
        bytes_free(&want);
        log_free(&l);
        ws_conn_free(peer);
        ws_conn_free(c);
        assert_int_equal(fa.live, 0);
    }
}

/* Discarding the output (the transport is gone) releases every borrowed payload, written or
 * not, ends the connection with 1006, and leaves nothing pending. */
static void test_discard_releases_everything(void **state)
{
    (void)state;
    uint32_t rng = 5;
    ws_conn *c = conn_open(WS_ROLE_SERVER, NULL, &rng);
    static uint8_t big[3000], big2[5000];
    const void *p;
    ws_event e;
    assert_int_equal(ws_conn_send(c, WS_OP_BINARY, big, sizeof big, WS_SEND_BORROW), WS_OK);
    assert_int_equal(ws_conn_send(c, WS_OP_BINARY, "x", 1, WS_SEND_BORROW), WS_OK); /* copied */
    assert_int_equal(ws_conn_send(c, WS_OP_BINARY, big2, sizeof big2, WS_SEND_BORROW), WS_OK);
    assert_int_equal(ws_conn_output_ack(c, 5), WS_OK);
    assert_int_equal(ws_conn_next_released(c, &p), 0);
    assert_null(p);
    assert_int_equal(ws_conn_output_discard(c), WS_OK);
    assert_int_equal(ws_conn_buffered_amount(c), 0);
    ws_conn_stats st;
    assert_int_equal(ws_conn_get_stats(c, &st, sizeof st), WS_OK);
    assert_int_equal(st.bytes_out, 5); /* discarded bytes do not count as written */
    assert_int_equal(ws_conn_next_released(c, &p), 1);
    assert_ptr_equal(p, big);
    assert_int_equal(ws_conn_next_released(c, &p), 1);
    assert_string_equal((const char *)p, "x");
    assert_int_equal(ws_conn_next_released(c, &p), 1);
    assert_ptr_equal(p, big2);
    assert_int_equal(ws_conn_next_released(c, &p), 0);
    assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 1);
    assert_int_equal(e.type, WS_EV_ERROR);
    assert_int_equal(e.error, WS_ERR_OUTPUT_DISCARDED);
    assert_int_equal(ws_conn_next_event(c, &e, sizeof e), 1);
    assert_int_equal(e.type, WS_EV_CLOSE);
    assert_int_equal(e.close_code, WS_CLOSE_ABNORMAL);
    assert_int_equal(ws_conn_wants_shutdown(c), 1);
    assert_int_equal(ws_conn_next_released(NULL, &p), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_next_released(c, NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_output_discard(NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_conn_output_take(NULL, 0), WS_ERR_INVALID_ARG);
    ws_conn_free(c);
}

/* The quiet-second wake-up (to give buffers back) sits on a whole-second grid: a stream of
 * reads does not move the connection's deadline each time, yet the buffers still go once the
 * line has been quiet. */
/* One large message does not make every later block as large: after a 1 MiB frame, a small
 * one (the big one still unwritten) takes a block of at most 64 KiB. */
static void test_block_size_after_a_large_send(void **state)
{
    (void)state;
    uint32_t rng = 3;
    failalloc fa;
    ws_allocator a = failalloc_init(&fa, -1, 0);
    ws_conn *c = conn_open(WS_ROLE_SERVER, &a, &rng);
    assert_non_null(c);
    assert_int_equal(ws_conn_set_option(c, WS_OPT_SEND_HIGH_WATER, (uint64_t)4 << 20), WS_OK);
    size_t big = (size_t)1 << 20;
    uint8_t *p = calloc(1, big);
    assert_non_null(p);
    assert_int_equal(ws_conn_send(c, WS_OP_BINARY, p, big, 0), WS_OK);
    uint64_t after_big = ws_conn_memory(c);
    assert_true(after_big >= big);
    assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "small", 5, 0), WS_OK);
    uint64_t grew = ws_conn_memory(c) - after_big;
    assert_true(grew > 0);
    assert_true(grew <= 65536 + 256);
    /* Both go out in order, whole. */
    bytes out = {0};
    take_output(c, &out, 0);
    assert_int_equal(out.n, 10 + big + 2 + 5);
    assert_memory_equal(out.p + out.n - 5, "small", 5);
    bytes_free(&out);
    free(p);
    ws_conn_free(c);
}

/* A burst of sends written at once (an echo server's wake-up: 16 messages of 1 KiB per read)
 * soon fits in one block, reused from its start once written: after a few bursts no send
 * allocates, and one iovec carries the whole burst. */
static void test_bursts_stop_allocating(void **state)
{
    (void)state;
    uint32_t rng = 5;
    failalloc fa;
    ws_allocator a = failalloc_init(&fa, -1, 0);
    ws_conn *c = conn_open(WS_ROLE_SERVER, &a, &rng);
    uint8_t msg[1024];
    ws_iovec iov[4];
    long calls = 0;
    assert_non_null(c);
    memset(msg, 'e', sizeof msg);
    for (int burst = 0; burst < 12; burst++) {
        for (int i = 0; i < 16; i++)
            assert_int_equal(ws_conn_send(c, WS_OP_BINARY, msg, sizeof msg, 0), WS_OK);
        int k = ws_conn_output(c, iov, 4);
        assert_true(k >= 1);
        if (burst >= 4)
            assert_int_equal(k, 1);
        size_t n = 0;
        for (int i = 0; i < k; i++)
            n += iov[i].len;
        if (burst == 4)
            calls = fa.calls;
        if (burst > 4)
            assert_int_equal(fa.calls, calls); /* nothing allocated since */
        assert_int_equal(ws_conn_output_ack(c, n), WS_OK);
        assert_int_equal(ws_conn_buffered_amount(c), 16 * (sizeof msg + 4) - n);
        bytes rest = {0};
        take_output(c, &rest, 0);
        bytes_free(&rest);
    }
    assert_true(ws_conn_memory(c) <= 2 * 65536 + 4096); /* a bounded block, and a spare */
    ws_conn_free(c);
    assert_int_equal(fa.live, 0);
}

/* A burst's bigger block refused by the connection's memory limit: the least block that
 * will do is taken instead, and the send succeeds (growing is for speed, never a reason to
 * fail a send the limit has room for). */
static void test_burst_growth_within_the_limit(void **state)
{
    (void)state;
    uint32_t rng = 6;
    ws_conn *c = conn_open(WS_ROLE_SERVER, NULL, &rng);
    uint8_t msg[1024];
    assert_non_null(c);
    memset(msg, 'g', sizeof msg);
    /* one message, to see what an active connection holds with its first block */
    assert_int_equal(ws_conn_send(c, WS_OP_BINARY, msg, sizeof msg, 0), WS_OK);
    size_t base = ws_conn_memory(c);
    /* room for one more least block (2 KiB), not for a doubled one (4 KiB) */
    assert_int_equal(ws_conn_set_option(c, WS_OPT_MEMORY_LIMIT, base + 2048 + 512), WS_OK);
    assert_int_equal(ws_conn_send(c, WS_OP_BINARY, msg, sizeof msg, 0), WS_OK);
    assert_true(ws_conn_memory(c) <= base + 2048 + 512);
    assert_int_equal(ws_conn_buffered_amount(c), 2 * (sizeof msg + 4));
    bytes out = {0};
    take_output(c, &out, 0);
    assert_int_equal(out.n, 2 * (sizeof msg + 4));
    bytes_free(&out);
    ws_conn_free(c);
}

static void test_trim_deadline_moves_once_a_second(void **state)
{
    (void)state;
    uint32_t rng = 9;
    failalloc fa;
    ws_allocator a = failalloc_init(&fa, -1, 0);
    ws_conn *c = conn_open(WS_ROLE_SERVER, &a, &rng);
    ev_log l = {0};
    bytes in = {0}, out = {0};
    assert_int_equal(ws_conn_set_option(c, WS_OPT_IDLE_TIMEOUT, 0), WS_OK);
    assert_int_equal(ws_conn_tick(c, 10000), WS_OK);
    peer_frame(&in, WS_ROLE_SERVER, WS_OP_TEXT, 1, "hi", 2);
    uint64_t first = 0, changes = 0, last = 0;
    for (uint64_t t = 10000; t < 11000; t += 50) { /* a read every 50 ms for 1 s */
        assert_int_equal(ws_conn_tick(c, t), WS_OK);
        assert_int_equal(feed_const(c, &l, in.p, in.n, 0), WS_OK);
        assert_int_equal(ws_conn_send(c, WS_OP_TEXT, "hi", 2, 0), WS_OK);
        take_output(c, &out, 0);
        uint64_t d = ws_conn_next_deadline(c);
        assert_true(d > t && d <= t + 2000);
        if (first == 0)
            first = d;
        else if (d != last)
            changes++;
        last = d;
    }
    assert_true(changes <= 1); /* 20 reads, the deadline moved at most once */
    assert_true(fa.live > 1);  /* buffers held while busy */
    assert_int_equal(ws_conn_tick(c, last), WS_OK); /* quiet since the last read: given back */
    assert_int_equal(fa.live, 2); /* the connection itself and its configuration only */
    bytes_free(&in);
    bytes_free(&out);
    log_free(&l);
    ws_conn_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trim_keeps_unsent_frees_drained),
        cmocka_unit_test(test_outq_edges),
        cmocka_unit_test(test_quiet_second_with_output_pending),
        cmocka_unit_test(test_failed_borrow_then_borrowed_sends),
        cmocka_unit_test(test_output_never_moves),
        cmocka_unit_test(test_discard_releases_everything),
        cmocka_unit_test(test_trim_deadline_moves_once_a_second),
        cmocka_unit_test(test_bursts_stop_allocating),
        cmocka_unit_test(test_burst_growth_within_the_limit),
        cmocka_unit_test(test_block_size_after_a_large_send),
    };
    return cmocka_run_group_tests_name("outq", tests, NULL, NULL);
}
