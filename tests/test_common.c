/* Common layer: version, error table, random hook. */
#include "testutil.h"

#include "ws.h"

#include <stdio.h>

static void test_version(void **state)
{
    (void)state;
    char buf[32];
    assert_int_equal(ws_version_num(), WS_VERSION_NUM);
    snprintf(buf, sizeof buf, "%d.%d.%d", WS_VERSION_MAJOR, WS_VERSION_MINOR, WS_VERSION_PATCH);
    assert_string_equal(ws_version(), buf);
    assert_string_equal(ws_version(), WS_VERSION_STRING);
}

static const int all_errors[] = {
#define X_(name, value, text) name,
    WS_ERROR_TABLE(X_)
#undef X_
};

static void test_errors(void **state)
{
    (void)state;
    size_t n = sizeof all_errors / sizeof all_errors[0];
    assert_true(n > 10);
    for (size_t i = 0; i < n; i++) {
        const char *t = ws_strerror(all_errors[i]);
        const char *name = ws_errname(all_errors[i]);
        assert_non_null(t);
        assert_true(strlen(t) > 3);
        assert_true(strncmp(name, "WS_", 3) == 0);
        assert_string_not_equal(t, "unknown error");
        for (size_t j = 0; j < i; j++) {
            assert_int_not_equal(all_errors[i], all_errors[j]); /* numbers never reused */
            assert_string_not_equal(t, ws_strerror(all_errors[j]));
        }
        assert_true(all_errors[i] <= 0 && all_errors[i] > WS_ERR_LAST_);
    }
    assert_string_equal(ws_errname(WS_ERR_NOMEM), "WS_ERR_NOMEM");
    assert_string_equal(ws_errname(WS_ERR_FRAME_RSV), "WS_ERR_FRAME_RSV");
    assert_string_equal(ws_strerror(-9999), "unknown error");
    assert_string_equal(ws_errname(-9999), "WS_ERR_UNKNOWN");
    assert_string_equal(ws_strerror(5), "success");
    assert_string_equal(ws_errname(0), "WS_OK");
}

static void test_random_os(void **state)
{
    (void)state;
    uint8_t a[64], b[64], zero[64];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    memset(zero, 0, sizeof zero);
    assert_int_equal(ws_random_os(NULL, a, sizeof a), 0);
    assert_int_equal(ws_random_os(NULL, b, sizeof b), 0);
    /* 2^-512 chance of a false failure. */
    assert_memory_not_equal(a, b, sizeof a);
    assert_memory_not_equal(a, zero, sizeof a);
    assert_int_equal(ws_random_os(NULL, NULL, 0), 0);
    assert_int_equal(ws_random_os(NULL, NULL, 4), -1);
}

static int broken_rng(void *user, void *buf, size_t n)
{
    (void)buf;
    (void)n;
    ++*(int *)user;
    return -1;
}

static int counter_rng(void *user, void *buf, size_t n)
{
    memset(buf, ++*(int *)user, n);
    return 0;
}

static void test_mask_key_hook(void **state)
{
    (void)state;
    uint8_t key[4];
    int calls = 0;
    assert_int_equal(ws_frame_make_mask(broken_rng, &calls, key), WS_ERR_RANDOM);
    assert_int_equal(calls, 1);
    assert_int_equal(ws_frame_make_mask(counter_rng, &calls, key), WS_OK);
    assert_memory_equal(key, "\x02\x02\x02\x02", 4);
    assert_int_equal(ws_frame_make_mask(NULL, NULL, key), WS_OK);
    assert_int_equal(ws_frame_make_mask(NULL, NULL, NULL), WS_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_random_os),
        cmocka_unit_test(test_mask_key_hook),
    };
    return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
