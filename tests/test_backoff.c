/* Reconnect backoff: bounds, growth, cap, jitter spread, reset after a stable connection. */
#include "testutil.h"

#include "ws.h"

static void test_bounds_and_growth(void **state)
{
    (void)state;
    ws_backoff b;
    ws_backoff_init(&b, 100, 5000, 10000);
    /* random == ceiling gives the ceiling itself: 100, 200, 400 ... 5000. */
    uint32_t expect[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000};
    for (size_t i = 0; i < sizeof expect / sizeof expect[0]; i++) {
        ws_backoff probe = b;
        assert_int_equal(ws_backoff_next(&probe, expect[i]), expect[i]);
        assert_int_equal(ws_backoff_next(&b, 0), 0); /* full jitter reaches zero */
    }
    /* Thousands of attempts: never overflows, never passes the cap. */
    for (int i = 0; i < 5000; i++)
        assert_true(ws_backoff_next(&b, 0xFFFFFFFFu) <= 5000);
}

static void test_jitter_spread(void **state)
{
    (void)state;
    ws_backoff b;
    uint32_t seed = 1, lo = 0, hi = 0;
    ws_backoff_init(&b, 1000, 1000, 0);
    for (int i = 0; i < 10000; i++) {
        uint32_t d = ws_backoff_next(&b, test_rand(&seed));
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
    ws_backoff_init(&b, 100, 100000, 10000);
    for (int i = 0; i < 5; i++)
        ws_backoff_next(&b, 0);
    assert_int_equal(b.attempt, 5);
    /* A short-lived connection does not reset. */
    ws_backoff_connected(&b, 1000);
    ws_backoff_disconnected(&b, 5000);
    assert_int_equal(b.attempt, 5);
    /* A stable one does. */
    ws_backoff_connected(&b, 6000);
    ws_backoff_disconnected(&b, 16000);
    assert_int_equal(b.attempt, 0);
    assert_int_equal(ws_backoff_next(&b, 100), 100); /* back to the base ceiling */
    /* Disconnect without connect: no change. */
    ws_backoff_disconnected(&b, 99999);
    assert_int_equal(b.attempt, 1);
    /* Degenerate parameters. */
    ws_backoff_init(&b, 0, 0, 0);
    assert_int_equal(b.base_ms, 1);
    assert_int_equal(b.cap_ms, 1);
    assert_true(ws_backoff_next(&b, 7) <= 1);
    assert_int_equal(ws_backoff_next(NULL, 7), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bounds_and_growth),
        cmocka_unit_test(test_jitter_spread),
        cmocka_unit_test(test_reset_after_stable),
    };
    return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
