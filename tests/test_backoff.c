/* Reconnect backoff: bounds, growth, cap, jitter spread, reset after a stable connection. */
#include "testutil.h"

#include "ws.h"

/* ws_backoff_next, asserting it succeeds; returns the delay. */
static uint32_t next_delay(ws_backoff *b, uint32_t random32)
{
    uint32_t d = 0xDEADBEEFu;
    assert_int_equal(ws_backoff_next(b, random32, &d), WS_OK);
    return d;
}

static void test_bounds_and_growth(void **state)
{
    (void)state;
    ws_backoff b;
    assert_int_equal(ws_backoff_init(&b, sizeof b, 100, 5000, 10000), WS_OK);
    assert_int_equal(b.size, sizeof b);
    /* random == ceiling gives the ceiling itself: 100, 200, 400 ... 5000. */
    uint32_t expect[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        ws_backoff probe = b;
        assert_int_equal(next_delay(&probe, expect[i]), expect[i]);
        assert_int_equal(next_delay(&b, 0), 0); /* full jitter reaches zero */
    }
    /* Thousands of attempts: never overflows, never passes the cap. */
    for (int i = 0; i < 5000; i++)
        assert_true(next_delay(&b, 0xFFFFFFFFu) <= 5000);
}

static void test_jitter_spread(void **state)
{
    (void)state;
    ws_backoff b;
    uint32_t seed = 1, lo = 0, hi = 0;
    assert_int_equal(ws_backoff_init(&b, sizeof b, 1000, 1000, 0), WS_OK);
    for (int i = 0; i < 10000; i++) {
        uint32_t d = next_delay(&b, test_rand(&seed));
        assert_true(d <= 1000);
        lo += d < 250;
        hi += d > 750;
    }
    /* Uniform: each quarter gets about 2500 of 10000. */
    assert_true(lo > 2000 && lo < 3000);
    assert_true(hi > 2000 && hi < 3000);
}

static void test_reset_after_stable(void **state)
{
    (void)state;
    ws_backoff b;
    uint32_t d;
    assert_int_equal(ws_backoff_init(&b, sizeof b, 100, 100000, 10000), WS_OK);
    for (int i = 0; i < 5; i++)
        next_delay(&b, 0);
    assert_int_equal(b.attempt, 5);
    /* A short-lived connection does not reset. */
    assert_int_equal(ws_backoff_connected(&b, 1000), WS_OK);
    assert_int_equal(ws_backoff_disconnected(&b, 5000), WS_OK);
    assert_int_equal(b.attempt, 5);
    /* A stable one does. */
    assert_int_equal(ws_backoff_connected(&b, 6000), WS_OK);
    assert_int_equal(ws_backoff_disconnected(&b, 16000), WS_OK);
    assert_int_equal(b.attempt, 0);
    assert_int_equal(next_delay(&b, 100), 100); /* back to the base ceiling */
    /* Disconnect without connect: no change. */
    assert_int_equal(ws_backoff_disconnected(&b, 99999), WS_OK);
    assert_int_equal(b.attempt, 1);
    /* Degenerate parameters. */
    assert_int_equal(ws_backoff_init(&b, sizeof b, 0, 0, 0), WS_OK);
    assert_int_equal(b.base_ms, 1);
    assert_int_equal(b.cap_ms, 1);
    assert_true(next_delay(&b, 7) <= 1);
    /* NULL arguments (rule 3). */
    assert_int_equal(ws_backoff_next(NULL, 7, &d), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_backoff_next(&b, 7, NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_backoff_init(NULL, sizeof b, 1, 1, 1), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_backoff_connected(NULL, 1), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_backoff_disconnected(NULL, 1), WS_ERR_INVALID_ARG);
}

/* Rule 4: a size smaller than the 0.2 layout is refused; next on a struct never initialised
 * (size 0) is refused too. */
static void test_struct_size(void **state)
{
    (void)state;
    ws_backoff b;
    uint32_t d;
    memset(&b, 0, sizeof b);
    assert_int_equal(ws_backoff_init(&b, offsetof(ws_backoff, connected_at), 100, 1000, 0),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_backoff_init(&b, 0, 100, 1000, 0), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_backoff_next(&b, 7, &d), WS_ERR_INVALID_ARG);
}

/* NULL is refused everywhere; the attempt counter saturates instead of wrapping back to the
 * base delay; a clock at 0 still counts as connected, and one that went back resets nothing. */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_and_growth),
        cmocka_unit_test(test_jitter_spread),
        cmocka_unit_test(test_reset_after_stable),
        cmocka_unit_test(test_struct_size),
        cmocka_unit_test(test_backoff_edges),
    };
    return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
