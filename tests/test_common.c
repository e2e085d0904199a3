/* Common layer: version, error table, allocator hooks. Randomness is in test_random.c. */
#include "conn_util.h"

#include "internal.h"
#include "ws.h"

#include <limits.h>
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

/* ws_close_code_for_error, the whole error table against ws.h's list: 1009 for a frame or
 * message too large, 1007 for bad UTF-8 or DEFLATE data, 1003 for a refused data type, 1011
 * for NOMEM, 1013 for the memory budget, 1008 for the message timeout, 1002 for every other
 * error (and for codes that are no error at all). */
static void test_close_code_for_every_error(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof all_errors / sizeof all_errors[0]; i++) {
        int e = all_errors[i];
        unsigned want = WS_CLOSE_PROTOCOL_ERROR;
        if (e == WS_ERR_FRAME_TOO_LARGE || e == WS_ERR_MESSAGE_TOO_BIG)
            want = WS_CLOSE_MESSAGE_TOO_BIG;
        else if (e == WS_ERR_INVALID_UTF8 || e == WS_ERR_DEFLATE_DATA)
            want = WS_CLOSE_INVALID_PAYLOAD;
        else if (e == WS_ERR_DATA_TYPE)
            want = WS_CLOSE_UNSUPPORTED_DATA;
        else if (e == WS_ERR_NOMEM)
            want = WS_CLOSE_INTERNAL_ERROR;
        else if (e == WS_ERR_BUDGET)
            want = WS_CLOSE_TRY_AGAIN_LATER;
        else if (e == WS_ERR_MESSAGE_TIMEOUT)
            want = WS_CLOSE_POLICY_VIOLATION;
        if (ws_close_code_for_error(e) != want)
            print_message("%s: %u\n", ws_errname(e), ws_close_code_for_error(e));
        assert_int_equal(ws_close_code_for_error(e), want);
    }
    assert_int_equal(WS_CLOSE_MESSAGE_TOO_BIG, 1009);
    assert_int_equal(WS_CLOSE_INVALID_PAYLOAD, 1007);
    assert_int_equal(WS_CLOSE_UNSUPPORTED_DATA, 1003);
    assert_int_equal(WS_CLOSE_INTERNAL_ERROR, 1011);
    assert_int_equal(WS_CLOSE_TRY_AGAIN_LATER, 1013);
    assert_int_equal(WS_CLOSE_POLICY_VIOLATION, 1008);
    assert_int_equal(WS_CLOSE_PROTOCOL_ERROR, 1002);
    assert_int_equal(ws_close_code_for_error(WS_OK), WS_CLOSE_PROTOCOL_ERROR);
    assert_int_equal(ws_close_code_for_error(-9999), WS_CLOSE_PROTOCOL_ERROR);
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

/* Without a realloc hook, growth is malloc + copy + free (with the old size); a zero size is
 * taken as 1, for malloc, realloc and free alike (failalloc checks every size given back);
 * free(NULL) never reaches the hook. A hook set without free, or a struct smaller than the
 * 0.2 layout, is refused; NULL is the C library. */
static void test_allocator_without_realloc(void **state)
{
    failalloc fa;
    ws_allocator in = failalloc_init(&fa, -1, 0), a;
    ws_allocator incomplete = in, old = in;
    uint8_t *p, *q;
    (void)state;

    in.realloc = NULL;
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
    assert_int_equal(fa.reallocs, 0);
    assert_int_equal(fa.live, 1);
    ws__free(&a, q, 1);
    assert_int_equal(fa.live, 0);
    ws__free(&a, NULL, 0); /* NULL is not passed to the hook (fa_free would fail on it) */
    assert_int_equal(fa.calls, 3);

    incomplete.free = NULL;
    assert_int_equal(ws__alloc_init(&a, &incomplete), WS_ERR_INVALID_ARG);
    old.size = sizeof(ws_allocator) - 1;
    assert_int_equal(ws__alloc_init(&a, &old), WS_ERR_INVALID_ARG);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_close_code_for_every_error),
        cmocka_unit_test(test_realloc_hook),
        cmocka_unit_test(test_allocator_without_realloc),
        cmocka_unit_test(test_error_table),
    };
    return cmocka_run_group_tests_name("common", tests, NULL, NULL);
}
