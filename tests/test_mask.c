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

/* GCC only: clang 14 crashes compiling __builtin_cpu_supports beside a program's own
 * declaration of __cpu_model (its backend owns the symbol); the gcc builds run the test. */
#if !defined(WS_NO_SIMD) && defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
/* The CPU model __builtin_cpu_supports reads, filled in before main by libgcc: compiled code
 * reads it inline, so its layout is ABI -- vendor, type, subtype,
 * then the first word of feature bits, SSSE3 bit 6 and AVX2 bit 10. Clearing bits here makes
 * this CPU look like an older one to the library's dispatch (the test checks that it does). */
extern struct {
    unsigned int vendor, type, subtype, features[1];
} __cpu_model;
#define CPU_SSSE3 (1u << 6)
#define CPU_AVX2 (1u << 10)
#define HAVE_CPU_MODEL 1
#endif

/* The instruction set ws__mask_copy_simd is built with, chosen as lib/mask.c chooses it. */
#if !defined(WS_NO_SIMD) && defined(__SSE2__)
#define SIMD_NAME "sse2"
#elif !defined(WS_NO_SIMD) && (defined(__ARM_NEON) || defined(__ARM_NEON__))
#define SIMD_NAME "neon"
#else
#define SIMD_NAME "none"
#endif

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
#if !defined(WS_NO_SIMD) && (defined(__SSE2__) || defined(__ARM_NEON) || defined(__ARM_NEON__))
    assert_true(ws__mask_kernels() & 1u); /* SSE2 is part of x86-64, NEON of AArch64 */
#endif
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
    /* ws_mask_copy's choice: AVX2 only where the CPU has it, and then for long input. */
    int avx2 = (ws__mask_kernels() & 2u) != 0;
    for (size_t n = 0; n <= 4096; n += n < 300 ? 1 : 1000) {
        unsigned k = ws__mask_kernel_for(n);
        assert_true(k <= 2);
        if (!avx2)
            assert_true(k != 2);
        else if (n >= 64)
            assert_int_equal(k, 2);
    }
}

#if defined(HAVE_CPU_MODEL)
/* On a CPU without AVX2 the AVX2 kernel is neither reported nor used (it would fault there),
 * and every entry point still masks exactly: this CPU with its AVX2 bit cleared. */
static void test_cpu_without_avx2(void **state)
{
    (void)state;
    unsigned saved = __cpu_model.features[0];
    assert_int_equal((saved & CPU_AVX2) != 0, __builtin_cpu_supports("avx2") != 0);
    __cpu_model.features[0] = saved & ~CPU_AVX2;
    int seen = __builtin_cpu_supports("avx2") != 0;
    unsigned kernels = ws__mask_kernels();
    unsigned chosen = 0; /* the kernels ws_mask_copy picks, as bits */
    for (size_t n = 0; n <= 4096; n += n < 300 ? 1 : 1000)
        chosen |= 1u << ws__mask_kernel_for(n);
    if ((saved & CPU_AVX2) && (seen || (kernels & 2u))) {
        /* __builtin_cpu_supports (or the library) reads another copy of the CPU model than
         * the one declared here (meson's build links it so): this CPU cannot be made to look
         * older from here. */
        __cpu_model.features[0] = saved;
        print_message("the library does not share this program's CPU model: skipped\n");
        skip();
    }
    check_kernel(ws__mask_copy_avx2);
    check_kernel(public_copy);
    check_kernel(public_inplace);
    __cpu_model.features[0] = saved;
    assert_int_equal(seen, 0);
    assert_int_equal(kernels & 2u, 0);
    assert_int_equal(chosen & 4u, 0); /* never the AVX2 kernel */
    assert_int_equal((ws__mask_kernels() & 2u) != 0, (saved & CPU_AVX2) != 0);
}
#endif

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

/* The short-payload kernels of the fast paths (ws__unmask_short, ..._ascii), which mask the
 * last word apart from the others, its key turned to the right byte: every length up to past
 * their 64-byte range, every alignment, against the reference, the bytes around untouched; and
 * the ASCII answer with one high byte at every position (the overlap of the last word
 * included). */
static void test_unmask_short_kernels(void **state)
{
    (void)state;
    static const uint8_t key[4] = {0x3C, 0xA5, 0x0F, 0x96};
    uint8_t src[96], want[96], buf[96 + 16];
    for (size_t n = 0; n <= 80; n++) {
        for (size_t align = 0; align < 8; align++) {
            uint8_t *p = buf + 8 + align;
            test_fill(src, n, (uint32_t)(n * 131 + align + 1));
            reference(want, src, n, key, 0);
            memset(buf, 0xEE, sizeof buf);
            memcpy(p, src, n);
            ws__unmask_short(p, n, key);
            assert_memory_equal(p, want, n);
            for (size_t i = 0; i < sizeof buf; i++)
                if (buf + i < p || buf + i >= p + n)
                    assert_int_equal(buf[i], 0xEE);
            /* ASCII: unmasked plain ASCII, then one byte >= 0x80 at each place */
            for (size_t i = 0; i < n; i++)
                want[i] = (uint8_t)(src[i] & 0x7F);
            for (long hi = -1; hi < (long)n; hi++) {
                uint8_t plain[96];
                memcpy(plain, want, n);
                if (hi >= 0)
                    plain[hi] |= 0x80;
                reference(p, plain, n, key, 0); /* masked on the wire */
                int ascii = ws__unmask_short_ascii(p, n, key);
                assert_memory_equal(p, plain, n);
                assert_int_equal(ascii, hi < 0);
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scalar),
        cmocka_unit_test(test_unmask_short_kernels),
        cmocka_unit_test(test_simd),
        cmocka_unit_test(test_avx2),
        cmocka_unit_test(test_public),
        cmocka_unit_test(test_running_offset),
#if defined(HAVE_CPU_MODEL)
        cmocka_unit_test(test_cpu_without_avx2),
#endif
    };
    /* "info:" lines are shown by tests/run.sh: which kernels this run compared with the
     * reference (make cross-check shows NEON on aarch64). */
    print_message("info: mask kernels compared with the reference: scalar, simd=%s, avx2=%s\n",
                  (ws__mask_kernels() & 1u) ? SIMD_NAME : "fallback",
                  (ws__mask_kernels() & 2u) ? "yes" : "fallback");
    return cmocka_run_group_tests_name("mask", tests, NULL, NULL);
}
