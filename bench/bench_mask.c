/*
 * Masking throughput against the hardware limit in the same run: memcpy of the same sizes is
 * the ceiling (masking in place reads and writes every byte once, as memcpy does). Reports the
 * median of repeated runs, as GB/s and as a ratio to memcpy; the scalar kernel is shown too.
 */
#define _POSIX_C_SOURCE 200809L
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static volatile uint8_t sink;

enum { REPS = 9 };

/* Median GB/s of fn over `total` bytes processed in buffers of `size`. */
static double measure(int which, uint8_t *dst, uint8_t *src, size_t size, size_t total)
{
    static const uint8_t key[4] = {1, 2, 3, 4};
    double rates[REPS];
    size_t iters = total / size;

    for (int r = 0; r < REPS; r++) {
        double t0 = now_s();
        for (size_t i = 0; i < iters; i++) {
            switch (which) {
            case 0:
                memcpy(dst, src, size);
                break;
            case 1:
                ws_mask(dst, size, key, i & 3);
                break;
            case 2:
                ws__mask_copy_scalar(dst, dst, size, key, i & 3);
                break;
            default:
                ws_mask_copy(dst, src, size, key, i & 3);
                break;
            }
            sink ^= dst[i % size];
        }
        double dt = now_s() - t0;
        rates[r] = (double)(iters * size) / dt / 1e9;
    }
    qsort(rates, REPS, sizeof rates[0], cmp_double);
    return rates[REPS / 2];
}

int main(int argc, char **argv)
{
    static const size_t sizes[] = {16, 125, 1024, 16384, 1 << 20};
    size_t total = (argc > 1) ? (size_t)strtoull(argv[1], NULL, 10) : (size_t)64 << 20;
    uint8_t *src = malloc(1 << 20), *dst = malloc(1 << 20);

    if (!src || !dst)
        return 1;
    memset(src, 0x5a, 1 << 20);
    memset(dst, 0xa5, 1 << 20);
    printf("mask kernels: simd=%u avx2=%u; %zu MiB per repetition, median of %d\n",
           ws__mask_kernels() & 1u, (ws__mask_kernels() >> 1) & 1u, total >> 20, REPS);
    printf("%10s %10s %10s %10s %10s %14s\n", "size", "memcpy", "ws_mask", "mask_copy",
           "scalar", "ws_mask/memcpy");
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        double m = measure(0, dst, src, sizes[i], total);
        double w = measure(1, dst, src, sizes[i], total);
        double c = measure(3, dst, src, sizes[i], total);
        double s = measure(2, dst, src, sizes[i], total);
        printf("%10zu %8.2f G %8.2f G %8.2f G %8.2f G %14.2f\n", sizes[i], m, w, c, s, w / m);
    }
    free(src);
    free(dst);
    return 0;
}
