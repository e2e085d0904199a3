/* The output queue (lib/outq.c) at its edges: an empty borrowed piece adds nothing, a
 * reservation that cannot be represented fails instead of wrapping, an acknowledgement of
 * more than is pending is refused. Moved here from the coverage-gap file; it belongs in
 * test_outq.c, beside the queue's other tests, when that file's owner takes it. */
#include "testutil.h"

#include "internal.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_outq_edges),
    };
    return cmocka_run_group_tests_name("outq_edges", tests, NULL, NULL);
}
