/*
 * Helpers shared by the benchmark programs (header-only, static functions): a monotonic clock,
 * medians, a small fast PRNG for masking keys and payloads, a counting allocator for the
 * libws hooks, and the row printer behind build/bench/results.csv.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ws.h"

static inline double bu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int bu_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n) (sorts a copy; n <= 64). */
static inline double bu_median(const double *v, int n)
{
    double t[64];
    if (n <= 0)
        return 0;
    if (n > 64)
        n = 64;
    memcpy(t, v, (size_t)n * sizeof *t);
    qsort(t, (size_t)n, sizeof *t, bu_cmp_double);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

/* xorshift64*: masking keys and payload filler. Not a CSPRNG -- the benchmark gives every
 * library under test the same cheap source, so the figures compare the protocol work. */
static inline uint64_t bu_rand(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static inline int bu_random_hook(void *user, void *buf, size_t n)
{
    uint64_t *s = user;
    uint8_t *p = buf;
    while (n >= 8) {
        uint64_t v = bu_rand(s);
        memcpy(p, &v, 8);
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = bu_rand(s);
        memcpy(p, &v, n);
    }
    return 0;
}

/* Counting allocator for the libws hooks: calls, and bytes live (the hooks are told the size
 * of every block, so no header is needed). */
struct bu_counts {
    uint64_t mallocs, reallocs, frees;
    int64_t live;
};

static void *bu_cmalloc(void *user, size_t n)
{
    struct bu_counts *c = user;
    void *p = malloc(n);
    if (!p)
        return NULL;
    c->mallocs++;
    c->live += (int64_t)n;
    return p;
}

static void *bu_crealloc(void *user, void *ptr, size_t old_n, size_t n)
{
    struct bu_counts *c = user;
    void *q = realloc(ptr, n);
    if (!q)
        return NULL;
    c->reallocs++;
    c->live += (int64_t)n - (int64_t)old_n;
    return q;
}

static void bu_cfree(void *user, void *ptr, size_t n)
{
    struct bu_counts *c = user;
    c->frees++;
    c->live -= (int64_t)n;
    free(ptr);
}

static inline ws_allocator bu_counting_allocator(struct bu_counts *c)
{
    ws_allocator a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.user = c;
    a.malloc = bu_cmalloc;
    a.realloc = bu_crealloc;
    a.free = bu_cfree;
    return a;
}

/*
 * One result row. Printed as "ROW name,unit,libws,reference,reference_value,ratio" on stdout:
 * bench/run.sh collects these lines into build/bench/results.csv and the summary table.
 * ratio < 0 means "no ratio" (memory rows).
 */
static inline void bu_row(const char *name, const char *unit, double libws, const char *ref,
                          double ref_value, double ratio)
{
    if (ratio < 0)
        printf("ROW %s,%s,%.6g,%s,%.6g,\n", name, unit, libws, ref, ref_value);
    else
        printf("ROW %s,%s,%.6g,%s,%.6g,%.3f\n", name, unit, libws, ref, ref_value, ratio);
    fflush(stdout);
}

#endif
