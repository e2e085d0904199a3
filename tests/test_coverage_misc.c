/*
 * Edge cases of the small layers (frame codec, output queue, allocator plumbing, errors,
 * backoff, OS randomness) that `make coverage` showed the per-layer tests do not reach:
 * argument checks, saturation, the realloc-less allocator path.
 */
#include "testutil.h"

#include "internal.h"
#include "ws.h"

#include <limits.h>
#include <stdlib.h>

static void test_frame_argument_checks(void **state)
{
    ws_frame_header h;
    uint8_t out[32];
    ws_frame_decoder *d;
    ws_frame_event ev;
    uint8_t in[2] = {0x81, 0x00};
    (void)state;

    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = WS_OP_TEXT;
    h.rsv = 8; /* more than the three RSV bits */
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 0),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_write_header(out, sizeof out, &h, sizeof h), WS_ERR_INVALID_ARG);
    h.rsv = 0;
    h.opcode = 16;
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 0),
                     WS_ERR_INVALID_ARG);
    h.opcode = WS_OP_TEXT;
    assert_int_equal(ws_frame_write_header_raw(NULL, 0, &h, sizeof h, 0), WS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(ws_frame_write_header_raw(out, 1, &h, sizeof h, 0), WS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, NULL, sizeof(ws_frame_header), 0),
                     WS_ERR_INVALID_ARG);

    /* encode: payload NULL with a length, a length past INT_MAX, an invalid header */
    assert_int_equal(ws_frame_encode(out, sizeof out, &h, sizeof h, NULL, 3), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_encode(out, sizeof out, NULL, sizeof(ws_frame_header), "x", 1),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_encode(out, sizeof out, &h, sizeof h, "x", (size_t)INT_MAX),
                     WS_ERR_INVALID_ARG);
    h.opcode = 3;
    assert_int_equal(ws_frame_encode(out, sizeof out, &h, sizeof h, "x", 1),
                     WS_ERR_FRAME_RESERVED_OPCODE);

    /* the decoder tolerates NULL where documented and refuses it elsewhere */
    ws_frame_decoder_free(NULL);
    assert_int_equal(ws_frame_decoder_set_flags(NULL, 0, 0), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_decoder_reset(NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_decoder_new(NULL, NULL), WS_ERR_INVALID_ARG);
    d = NULL;
    assert_int_equal(ws_frame_decoder_new(&d, NULL), WS_OK);
    assert_non_null(d);
    assert_int_equal(ws_frame_decoder_feed(d, in, sizeof in, NULL, &ev, sizeof ev), WS_OK);
    assert_int_equal(ev.type, WS_FRAME_EV_HEADER);
    assert_int_equal(ws_frame_decoder_feed(d, NULL, 1, NULL, &ev, sizeof ev), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_decoder_feed(d, in, 1, NULL, NULL, sizeof(ws_frame_event)),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_decoder_feed(NULL, in, 1, NULL, &ev, sizeof ev), WS_ERR_INVALID_ARG);
    ws_frame_decoder_free(d);
}

/* The output queue: an empty borrowed piece adds nothing; a reservation that cannot be
 * represented fails instead of wrapping. */
static void test_outq_edges(void **state)
{
    ws_allocator a;
    ws_outq q;
    ws_iovec iov[4];
    static const uint8_t piece[4] = {1, 2, 3, 4};
    uint8_t *p;
    (void)state;

    assert_int_equal(ws__alloc_init(&a, NULL), WS_OK);
    memset(&q, 0, sizeof q);
    assert_int_equal(ws__outq_borrow(&q, &a, piece, 0), WS_OK);
    assert_int_equal(ws__outq_pending(&q), 0);
    assert_null(ws__outq_reserve(&q, &a, SIZE_MAX - 8));
    p = ws__outq_reserve(&q, &a, 2);
    assert_non_null(p);
    p[0] = 'a';
    p[1] = 'b';
    ws__outq_commit(&q, 2);
    assert_int_equal(ws__outq_borrow(&q, &a, piece, sizeof piece), WS_OK);
    assert_int_equal(ws__outq_iov(&q, iov, 4), 2);
    assert_int_equal(ws__outq_ack(&q, &a, 7), WS_ERR_INVALID_ARG);
    assert_int_equal(ws__outq_ack(&q, &a, 3), WS_OK);
    assert_int_equal(ws__outq_iov(&q, iov, 4), 1);
    assert_int_equal(iov[0].len, 3);
    assert_int_equal(ws__outq_ack(&q, &a, 3), WS_OK);
    assert_int_equal(ws__outq_iov(&q, iov, 4), 0);
    ws__outq_free(&q, &a);
}

/* A counting allocator that records each block's size in a header and checks that free gets
 * the size the block was allocated with (ws.h: free(user, p, n) with n the allocated size). */
static int n_malloc, n_free;

typedef union sized_hdr {
    size_t n;
    max_align_t align;
} sized_hdr;

static void *counting_malloc(void *user, size_t n)
{
    (void)user;
    assert_true(n >= 1);
    sized_hdr *h = malloc(sizeof *h + n);
    assert_non_null(h);
    h->n = n;
    n_malloc++;
    return h + 1;
}

static void counting_free(void *user, void *p, size_t n)
{
    (void)user;
    assert_non_null(p);
    sized_hdr *h = (sized_hdr *)p - 1;
    assert_int_equal(n, h->n);
    n_free++;
    free(h);
}

/* Without a realloc hook, growth is malloc + copy + free (with the old size); a zero size is
 * taken as 1, for malloc, realloc and free alike. */
static void test_allocator_without_realloc(void **state)
{
    ws_allocator in = {sizeof(ws_allocator), NULL, counting_malloc, NULL, counting_free}, a;
    ws_allocator incomplete = {sizeof(ws_allocator), NULL, counting_malloc, NULL, NULL};
    ws_allocator old = in;
    uint8_t *p, *q;
    (void)state;

    assert_int_equal(ws__alloc_init(&a, &in), WS_OK);
    p = ws__malloc(&a, 0);
    assert_non_null(p);
    p[0] = 42;
    q = ws__realloc(&a, p, 1, 100);
    assert_non_null(q);
    assert_int_equal(q[0], 42);
    q = ws__realloc(&a, q, 100, 0);
    assert_non_null(q);
    assert_int_equal(q[0], 42);
    ws__free(&a, q, 1);
    assert_int_equal(n_malloc, n_free);
    ws__free(&a, NULL, 0); /* NULL is not passed to the hook */
    assert_int_equal(n_malloc, n_free);

    /* a hook without free, or a struct smaller than the 0.2 layout, is refused */
    assert_int_equal(ws__alloc_init(&a, &incomplete), WS_ERR_INVALID_ARG);
    old.size = sizeof(ws_allocator) - 1;
    assert_int_equal(ws__alloc_init(&a, &old), WS_ERR_INVALID_ARG);
    /* NULL: the C library */
    assert_int_equal(ws__alloc_init(&a, NULL), WS_OK);
    p = ws__malloc(&a, 8);
    assert_non_null(p);
    ws__free(&a, p, 8);
}

/* Every error has a distinct name and text; unknown codes are named as such. Checked over the
 * whole error range, so a code given another's name or text, or a gap given a name, fails. */
static void test_error_table(void **state)
{
    const char *names[141], *texts[141];
    int known = 0;
    (void)state;
    for (int e = 0; e >= -140; e--) {
        const char *name = ws_errname(e), *text = ws_strerror(e);
        assert_non_null(name);
        assert_non_null(text);
        names[-e] = texts[-e] = NULL;
        if (strcmp(name, "WS_ERR_UNKNOWN") == 0) {
            assert_string_equal(text, "unknown error");
            continue;
        }
        assert_string_not_equal(text, "unknown error");
        assert_true(strncmp(name, e ? "WS_ERR_" : "WS_OK", e ? 7 : 6) == 0);
        for (int f = 0; f > e; f--) {
            if (!names[-f])
                continue;
            if (strcmp(name, names[-f]) == 0 || strcmp(text, texts[-f]) == 0)
                print_message("%d and %d share \"%s\" / \"%s\"\n", e, f, name, text);
            assert_string_not_equal(name, names[-f]);
            assert_string_not_equal(text, texts[-f]);
        }
        names[-e] = name;
        texts[-e] = text;
        known++;
    }
    /* as many as the table in ws.h has, and those are the ones named */
    int in_table = 0;
#define X_(name, value, text)                                                                  \
    in_table++;                                                                                \
    assert_string_equal(ws_errname(value), #name);                                             \
    assert_string_equal(ws_strerror(value), text);
    WS_ERROR_TABLE(X_)
#undef X_
    assert_int_equal(known, in_table);
    assert_string_equal(ws_errname(-11), "WS_ERR_UNKNOWN"); /* a gap between ranges */
    assert_string_equal(ws_errname(5), "WS_OK");
    assert_string_equal(ws_strerror(5), "success");
    assert_string_equal(ws_errname(INT_MIN), "WS_ERR_UNKNOWN");
}

static void test_backoff_edges(void **state)
{
    ws_backoff b;
    uint32_t d = 0;
    (void)state;

    assert_int_equal(ws_backoff_init(NULL, sizeof b, 1, 2, 3), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_backoff_connected(NULL, 5), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_backoff_disconnected(NULL, 5), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_backoff_next(NULL, 7, &d), WS_ERR_INVALID_ARG);

    /* the attempt counter saturates instead of wrapping back to the base delay */
    assert_int_equal(ws_backoff_init(&b, sizeof b, 100, 1000, 10), WS_OK);
    b.attempt = UINT32_MAX;
    assert_int_equal(ws_backoff_next(&b, UINT32_MAX, &d), WS_OK);
    assert_true(d <= 1000);
    assert_int_equal(b.attempt, UINT32_MAX);

    /* a clock at 0 still counts as connected; a clock that went back does not reset */
    assert_int_equal(ws_backoff_connected(&b, 0), WS_OK);
    assert_int_equal(b.connected_at, 1);
    assert_int_equal(ws_backoff_disconnected(&b, 0), WS_OK);
    assert_int_equal(b.attempt, UINT32_MAX);
    /* not connected any more: nothing changes */
    assert_int_equal(ws_backoff_disconnected(&b, 100), WS_OK);
    assert_int_equal(b.attempt, UINT32_MAX);
}

static void test_random_os(void **state)
{
    uint8_t buf[300], zero[300];
    (void)state;
    memset(buf, 0, sizeof buf);
    memset(zero, 0, sizeof zero);
    assert_int_equal(ws_random_os(NULL, NULL, 0), 0);
    assert_int_equal(ws_random_os(NULL, NULL, 4), -1);
    assert_int_equal(ws_random_os(NULL, buf, sizeof buf), 0);
    assert_memory_not_equal(buf, zero, sizeof buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_argument_checks),
        cmocka_unit_test(test_outq_edges),
        cmocka_unit_test(test_allocator_without_realloc),
        cmocka_unit_test(test_error_table),
        cmocka_unit_test(test_backoff_edges),
        cmocka_unit_test(test_random_os),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
