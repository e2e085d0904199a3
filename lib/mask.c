/*
 * Masking (RFC 6455 section 5.3): dst[i] = src[i] ^ key[(offset + i) % 4].
 *
 * Because the key repeats every 4 bytes and 8, 16 and 32 are multiples of 4, a wide pattern
 * built once from the key rotated by the starting offset stays in phase for the whole run; no
 * alignment of the data is needed when loads and stores are unaligned-safe (memcpy, loadu).
 */
#include "internal.h"

#if !defined(WS_NO_SIMD) && defined(__SSE2__)
#include <emmintrin.h>
#define WS_MASK_SSE2 1
#elif !defined(WS_NO_SIMD) && (defined(__ARM_NEON) || defined(__ARM_NEON__))
#include <arm_neon.h>
#define WS_MASK_NEON 1
#endif

#if !defined(WS_NO_SIMD) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define WS_MASK_AVX2 1
#endif

/* The key as it lies in memory from key byte `offset` on, as a native 32-bit word: XORing a
 * word loaded with memcpy by it masks 4 bytes in phase, whatever the host's byte order. */
static inline uint32_t key_word(const uint8_t key[4], size_t offset)
{
    uint8_t b[4] = {key[offset & 3], key[(offset + 1) & 3], key[(offset + 2) & 3],
                    key[(offset + 3) & 3]};
    uint32_t k;
    memcpy(&k, b, 4);
    return k;
}

/* Fewer than 8 bytes: one 4-byte word if there is room, then single bytes. */
static size_t mask_tail(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4],
                        size_t offset)
{
    size_t i = 0;
    if (n >= 4) {
        uint32_t w, k = key_word(key, offset);
        memcpy(&w, src, 4);
        w ^= k;
        memcpy(dst, &w, 4);
        i = 4;
    }
    for (; i < n; i++)
        dst[i] = src[i] ^ key[(offset + i) & 3];
    return (offset + n) & 3;
}

size_t ws__mask_copy_scalar(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4],
                            size_t offset)
{
    uint32_t k32 = key_word(key, offset);
    uint64_t k = (uint64_t)k32 << 32 | k32, w;
    size_t i = 0;

    for (; i + 8 <= n; i += 8) {
        memcpy(&w, src + i, 8);
        w ^= k;
        memcpy(dst + i, &w, 8);
    }
    return mask_tail(dst + i, src + i, n - i, key, offset + i);
}

size_t ws__mask_copy_simd(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4],
                          size_t offset)
{
#if defined(WS_MASK_SSE2) || defined(WS_MASK_NEON)
    size_t i = 0;
    uint32_t k32 = key_word(key, offset);
#if defined(WS_MASK_SSE2)
    __m128i k = _mm_set1_epi32((int)k32);
    for (; i + 64 <= n; i += 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(src + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(src + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(const void *)(src + i + 48));
        _mm_storeu_si128((__m128i *)(void *)(dst + i), _mm_xor_si128(a, k));
        _mm_storeu_si128((__m128i *)(void *)(dst + i + 16), _mm_xor_si128(b, k));
        _mm_storeu_si128((__m128i *)(void *)(dst + i + 32), _mm_xor_si128(c, k));
        _mm_storeu_si128((__m128i *)(void *)(dst + i + 48), _mm_xor_si128(d, k));
    }
    for (; i + 16 <= n; i += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(src + i));
        _mm_storeu_si128((__m128i *)(void *)(dst + i), _mm_xor_si128(a, k));
    }
#else
    uint8_t pat[16];
    for (int j = 0; j < 16; j += 4)
        memcpy(pat + j, &k32, 4);
    uint8x16_t k = vld1q_u8(pat);
    for (; i + 16 <= n; i += 16)
        vst1q_u8(dst + i, veorq_u8(vld1q_u8(src + i), k));
#endif
    return ws__mask_copy_scalar(dst + i, src + i, n - i, key, offset + i);
#else
    return ws__mask_copy_scalar(dst, src, n, key, offset);
#endif
}

#if defined(WS_MASK_AVX2)
__attribute__((target("avx2"))) static size_t mask_avx2(uint8_t *dst, const uint8_t *src,
                                                        size_t n, const uint8_t key[4],
                                                        size_t offset)
{
    size_t i = 0;
    __m256i k = _mm256_set1_epi32((int)key_word(key, offset));
    for (; i + 128 <= n; i += 128) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(src + i + 32));
        __m256i c = _mm256_loadu_si256((const __m256i *)(const void *)(src + i + 64));
        __m256i d = _mm256_loadu_si256((const __m256i *)(const void *)(src + i + 96));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), _mm256_xor_si256(a, k));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i + 32), _mm256_xor_si256(b, k));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i + 64), _mm256_xor_si256(c, k));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i + 96), _mm256_xor_si256(d, k));
    }
    for (; i + 32 <= n; i += 32) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(src + i));
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), _mm256_xor_si256(a, k));
    }
    return ws__mask_copy_simd(dst + i, src + i, n - i, key, offset + i);
}

static int have_avx2(void)
{
    return __builtin_cpu_supports("avx2") != 0;
}
#endif

size_t ws__mask_copy_avx2(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4],
                          size_t offset)
{
#if defined(WS_MASK_AVX2)
    if (have_avx2())
        return mask_avx2(dst, src, n, key, offset);
#endif
    return ws__mask_copy_simd(dst, src, n, key, offset);
}

unsigned ws__mask_kernels(void)
{
    unsigned k = 0;
#if defined(WS_MASK_SSE2) || defined(WS_MASK_NEON)
    k |= 1u;
#endif
#if defined(WS_MASK_AVX2)
    if (have_avx2())
        k |= 2u;
#endif
    return k;
}

unsigned ws__mask_kernel_for(size_t n)
{
    if (n < 32) /* a few 8-byte words beat setting up a vector */
        return 0;
#if defined(WS_MASK_AVX2)
    if (n >= 64 && have_avx2())
        return 2;
#endif
    return 1;
}

size_t ws_mask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4],
                    size_t offset)
{
    if (n == 0) /* dst/src may be NULL then: no pointer arithmetic on them */
        return offset & 3;
    switch (ws__mask_kernel_for(n)) {
    case 0:
        return ws__mask_copy_scalar(dst, src, n, key, offset);
#if defined(WS_MASK_AVX2)
    case 2:
        return mask_avx2(dst, src, n, key, offset);
#endif
    default:
        return ws__mask_copy_simd(dst, src, n, key, offset);
    }
}

size_t ws_mask(uint8_t *data, size_t n, const uint8_t key[4], size_t offset)
{
    return ws_mask_copy(data, data, n, key, offset);
}
