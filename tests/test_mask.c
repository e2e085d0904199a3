/* Masking kernels against a byte-at-a-time reference: every alignment, length, key offset. */
#include "testutil.h"

#include "internal.h"

typedef size_t (*kernel_fn)(uint8_t *, const uint8_t *, size_t, const uint8_t *, size_t);

static void reference(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4],
                      size_t off)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = src[i] ^ key[(off + i) % 4];
}

static size_t public_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t *key,
                          size_t off)
{
    return ws_mask_copy(dst, src, n, key, off);
}

static size_t public_inplace(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t *key,
                             size_t off)
{
    memmove(dst, src, n);
    return ws_mask(dst, n, key, off);
}

static void check_kernel(kernel_fn fn)
{
    enum { MAXLEN = 300, ALIGNS = 33 };
    static uint8_t src[MAXLEN + 64], dst[MAXLEN + 64 + 8], want[MAXLEN + 64];
    const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};

    test_fill(src, sizeof src, 42);
    for (size_t align = 0; align < ALIGNS; align++) {
        for (size_t len = 0; len <= MAXLEN; len++) {
            for (size_t off = 0; off < 4; off++) {
                memset(dst, 0xCC, sizeof dst);
                reference(want, src + align % 7, len, key, off);
                size_t next = fn(dst + align, src + align % 7, len, key, off);
                assert_int_equal(next, (off + len) & 3);
                assert_memory_equal(dst + align, want, len);
                /* Not one byte written outside [align, align + len). */
                for (size_t i = 0; i < align; i++)
                    assert_int_equal(dst[i], 0xCC);
                for (size_t i = align + len; i < sizeof dst; i++)
                    assert_int_equal(dst[i], 0xCC);
            }
        }
    }
}

static void test_scalar(void **state)
{
    (void)state;
    check_kernel(ws__mask_copy_scalar);
}

static void test_simd(void **state)
{
    (void)state;
    if (!(ws__mask_kernels() & 1u))
        print_message("SIMD (SSE2/NEON) not built in: testing its scalar fallback\n");
    check_kernel(ws__mask_copy_simd);
}

static void test_avx2(void **state)
{
    (void)state;
    if (!(ws__mask_kernels() & 2u))
        print_message("AVX2 not available on this build or CPU: testing its fallback\n");
    check_kernel(ws__mask_copy_avx2);
}

static void test_public(void **state)
{
    (void)state;
    check_kernel(public_copy);
    check_kernel(public_inplace);
}

/* Unmasking in pieces with the running offset equals unmasking in one go. */
static void test_running_offset(void **state)
{
    (void)state;
    enum { N = 1000 };
    static uint8_t data[N], whole[N], pieces[N];
    const uint8_t key[4] = {1, 2, 3, 250};
    uint32_t seed = 7;

    test_fill(data, N, 3);
    memcpy(whole, data, N);
    assert_int_equal(ws_mask(whole, N, key, 0), N & 3);
    for (int round = 0; round < 200; round++) {
        size_t pos = 0, off = 0;
        memcpy(pieces, data, N);
        while (pos < N) {
            size_t k = test_rand(&seed) % 150;
            if (k > N - pos)
                k = N - pos;
            off = ws_mask(pieces + pos, k, key, off);
            pos += k;
        }
        assert_memory_equal(pieces, whole, N);
    }
    /* Masking twice restores the data. */
    ws_mask(whole, N, key, 0);
    assert_memory_equal(whole, data, N);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar),
        cmocka_unit_test(test_simd),
        cmocka_unit_test(test_avx2),
        cmocka_unit_test(test_public),
        cmocka_unit_test(test_running_offset),
    };
    print_message("mask kernels available: simd=%u avx2=%u\n", ws__mask_kernels() & 1u,
                  (ws__mask_kernels() >> 1) & 1u);
    return cmocka_run_group_tests_name("mask", tests, NULL, NULL);
}
