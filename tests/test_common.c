/* Common layer: version, error table, random hook, allocator hooks. */
#include "conn_util.h"

#include "internal.h"
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

/*
 * The allocator's realloc hook is what grows and shrinks blocks: called with the size the block
 * has (failalloc checks it, and the canary behind the block), the bytes kept. Without one
 * (realloc NULL) the library does malloc + copy + free, with the same result. Both directly
 * and as a connection sees it: a fragmented message reassembled in a buffer that grows many
 * times, and output queued far past the queue's first buffer.
 */
static void test_realloc_hook(void **state)
{
    uint8_t msg[150000];
    (void)state;
    test_fill(msg, sizeof msg, 12);
    for (int hook = 1; hook >= 0; hook--) {
        failalloc fa;
        ws_allocator user = failalloc_init(&fa, -1, 0), a;
        if (!hook)
            user.realloc = NULL;
        assert_int_equal(ws__alloc_init(&a, &user), WS_OK);

        uint8_t *p = ws__malloc(&a, 10);
        assert_non_null(p);
        memcpy(p, "0123456789", 10);
        p = ws__realloc(&a, p, 10, 1000); /* grow */
        assert_non_null(p);
        assert_memory_equal(p, "0123456789", 10);
        assert_int_equal(fa.reallocs, hook);
        assert_int_equal(fa.live, 1);
        assert_int_equal(fa.bytes, 1000);
        p = ws__realloc(&a, p, 1000, 4); /* shrink: the first bytes kept, nothing past them */
        assert_non_null(p);
        assert_memory_equal(p, "0123", 4);
        assert_int_equal(fa.reallocs, 2 * hook);
        assert_int_equal(fa.bytes, 4);
        ws__free(&a, p, 4);
        p = ws__malloc(&a, 0); /* a zero size is one byte, for the hook as for free */
        assert_non_null(p);
        p = ws__realloc(&a, p, 0, 3);
        assert_non_null(p);
        ws__free(&a, p, 3);
        assert_int_equal(fa.reallocs, 3 * hook);
        assert_int_equal(fa.live, 0);

        ws_conn *c = new_conn(WS_ROLE_SERVER, WS_CONN_OPEN, &user);
        ev_log l = {0};
        bytes in = {0};
        drain(c, NULL);
        long before = fa.reallocs;
        for (size_t off = 0; off < sizeof msg; off += 5000)
            peer_frame(&in, WS_ROLE_SERVER, off ? WS_OP_CONTINUATION : WS_OP_BINARY,
                       off + 5000 >= sizeof msg, msg + off, 5000);
        assert_int_equal(feed_copy(c, &l, in.p, in.n, 3000), WS_OK);
        assert_int_equal(l.n, 1);
        log_assert_message(&l, 0, WS_OP_BINARY, msg, sizeof msg);
        for (size_t off = 0; off < sizeof msg; off += 7000)
            assert_int_equal(ws_conn_send(c, WS_OP_BINARY, msg + off,
                                          sizeof msg - off < 7000 ? sizeof msg - off : 7000, 0),
                             WS_OK);
        frame_list f = output_frames(c);
        for (size_t i = 0, off = 0; i < f.n; i++, off += 7000)
            assert_memory_equal(f.v[i].data, msg + off, f.v[i].len);
        frames_free(&f);
        if (hook)
            assert_true(fa.reallocs - before >= 4); /* each buffer grew through the hook */
        else
            assert_int_equal(fa.reallocs, 0);
        bytes_free(&in);
        log_free(&l);
        ws_conn_free(c);
        assert_int_equal(fa.live, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_random_os),
        cmocka_unit_test(test_mask_key_hook),
        cmocka_unit_test(test_realloc_hook),
    };
    return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
