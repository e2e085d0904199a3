/* Helpers shared by the cmocka test files. */
#ifndef WS_TESTUTIL_H
#define WS_TESTUTIL_H

#ifndef _DEFAULT_SOURCE
#define _DEFAULT_SOURCE /* MAP_ANONYMOUS, sysconf */
#endif

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ws.h"

/*
 * A copy of data[0..n) placed so that its last byte is the last byte of a page followed by an
 * inaccessible page: any read past the end faults instead of passing silently (the habit of
 * picohttpparser's tests). Under valgrind/ASan the faulting read is reported too.
 */
typedef struct guarded {
    uint8_t *base;
    size_t map_len;
    uint8_t *data;
} guarded;

static inline guarded guarded_copy(const void *data, size_t n)
{
    guarded g;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t pages = (n + page - 1) / page + 1;

    g.map_len = (pages + 1) * page;
    g.base = mmap(NULL, g.map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(g.base != MAP_FAILED);
    assert_int_equal(mprotect(g.base + pages * page, page, PROT_NONE), 0);
    g.data = g.base + pages * page - n;
    if (n)
        memcpy(g.data, data, n);
    return g;
}

static inline void guarded_free(guarded *g)
{
    munmap(g->base, g->map_len);
}

/* Deterministic pseudo-random bytes for tests (xorshift). */
static inline uint32_t test_rand(uint32_t *s)
{
    uint32_t x = *s ? *s : 0x9E3779B9u;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static inline void test_fill(uint8_t *p, size_t n, uint32_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(test_rand(&seed) >> 7);
}

/* ---- deterministic randomness and a checking allocator, for every test file ---- */

#include <stdlib.h>

/* Deterministic random hook: user points to a uint32_t xorshift state. */
static inline int test_rng(void *user, void *buf, size_t n)
{
    uint32_t *s = user;
    uint8_t *p = buf;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(test_rand(s) >> 11);
    return 0;
}

/* A random hook that counts: each byte is the next value of *(unsigned *)user (mod 256), so
 * a handshake's first 16-byte key is 00 01 .. 0f (SEQ_KEY0, answered with SEQ_KEY0_ACCEPT),
 * the second 10 11 .. 1f, and a masking key drawn first is 00 01 02 03. */
static inline int seq_rng(void *user, void *buf, size_t n)
{
    unsigned *next = user;
    uint8_t *p = buf;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(*next)++;
    return 0;
}
#define SEQ_KEY0 "AAECAwQFBgcICQoLDA0ODw=="
#define SEQ_KEY0_ACCEPT "Bz3qJYTGdOe8gUSpLosEdiLKDrk="

/* A random hook that records what it hands out: each call fills buf from test_rng and appends
 * the bytes to drawn[] (up to its size), so a test can check where masking keys and handshake
 * nonces came from. */
typedef struct rec_rng_state {
    uint32_t seed;
    size_t calls, n; /* calls made, bytes drawn */
    uint8_t drawn[512];
} rec_rng_state;

static inline int rec_rng(void *user, void *buf, size_t n)
{
    rec_rng_state *r = user;
    test_rng(&r->seed, buf, n);
    for (size_t i = 0; i < n; i++)
        if (r->n + i < sizeof r->drawn)
            r->drawn[r->n + i] = ((const uint8_t *)buf)[i];
    r->n += n;
    r->calls++;
    return 0;
}

/* A random source that always fails. */
static inline int failing_rng(void *user, void *buf, size_t n)
{
    (void)user;
    (void)buf;
    (void)n;
    return -1;
}

/*
 * An allocator that fails on request and counts live blocks and bytes. Each block carries its
 * size in a header in front of it, so that free and realloc can check they are given the size
 * the block was allocated (or last reallocated) with, as ws.h promises, and a canary behind
 * it, checked there too: a write past the end of a block fails the test in a plain run, not
 * only under a sanitizer. failalloc_init gives the hooks; set .realloc to NULL for the
 * library's own malloc + copy + free, .poison to catch memory used after it was given back.
 */
typedef struct failalloc {
    long calls;    /* malloc/realloc calls so far */
    long fail_at;  /* index (0-based) of the call to fail; -1: never */
    int sticky;    /* fail every call from fail_at on, not only that one */
    long failed;   /* calls that failed */
    long live;     /* blocks allocated and not yet freed */
    size_t bytes;  /* bytes allocated and not yet freed */
    long reallocs; /* calls of the realloc hook (failed ones included) */
    int poison;    /* freed blocks are overwritten first, and realloc always moves: memory
                      still used after it was given back (or moved) shows as changed bytes */
    size_t peak;   /* the most `bytes` has been */
    size_t biggest; /* the largest block asked for */
} failalloc;

#define FA_CANARY_LEN 8
static const uint8_t fa_canary[FA_CANARY_LEN] = {0xCA, 0xFE, 0xF0, 0x0D, 0xDE, 0xAD, 0xBE, 0xEF};

typedef union fa_hdr {
    size_t n;
    max_align_t align_;
} fa_hdr;

static inline int fa_should_fail(failalloc *fa)
{
    long i = fa->calls++;
    if (fa->fail_at >= 0 && (i == fa->fail_at || (fa->sticky && i > fa->fail_at))) {
        fa->failed++;
        return 1;
    }
    return 0;
}

/* The header of block p, checking that n is the size it was allocated with. */
static inline fa_hdr *fa_check(void *p, size_t n)
{
    assert_non_null(p);
    fa_hdr *h = (fa_hdr *)p - 1;
    if (h->n != n)
        print_message("allocator: block of %zu bytes given back as %zu\n", h->n, n);
    assert_int_equal(h->n, n);
    if (memcmp((uint8_t *)p + h->n, fa_canary, FA_CANARY_LEN) != 0)
        print_message("allocator: block of %zu bytes written past its end\n", h->n);
    assert_memory_equal((uint8_t *)p + h->n, fa_canary, FA_CANARY_LEN);
    return h;
}

static inline void fa_grew(failalloc *fa, size_t n)
{
    if (fa->bytes > fa->peak)
        fa->peak = fa->bytes;
    if (n > fa->biggest)
        fa->biggest = n;
}

static inline void *fa_malloc(void *user, size_t n)
{
    failalloc *fa = user;
    assert_true(n >= 1);
    if (fa_should_fail(fa))
        return NULL;
    fa_hdr *h = malloc(sizeof *h + n + FA_CANARY_LEN);
    if (!h)
        return NULL;
    h->n = n;
    memcpy((uint8_t *)(h + 1) + n, fa_canary, FA_CANARY_LEN);
    fa->live++;
    fa->bytes += n;
    fa_grew(fa, n);
    return h + 1;
}

static inline void *fa_realloc(void *user, void *p, size_t old_n, size_t n)
{
    failalloc *fa = user;
    assert_true(n >= 1);
    fa_hdr *h = fa_check(p, old_n);
    fa->reallocs++;
    if (fa_should_fail(fa))
        return NULL;
    fa_hdr *q;
    if (fa->poison) {
        q = malloc(sizeof *q + n + FA_CANARY_LEN);
        if (!q)
            return NULL;
        memcpy(q + 1, p, old_n < n ? old_n : n);
        memset(p, 0xDD, old_n);
        free(h);
    } else if (!(q = realloc(h, sizeof *q + n + FA_CANARY_LEN))) {
        return NULL;
    }
    q->n = n;
    memcpy((uint8_t *)(q + 1) + n, fa_canary, FA_CANARY_LEN);
    fa->bytes = fa->bytes - old_n + n;
    fa_grew(fa, n);
    return q + 1;
}

static inline void fa_free(void *user, void *p, size_t n)
{
    failalloc *fa = user;
    fa_hdr *h = fa_check(p, n);
    fa->live--;
    fa->bytes -= n;
    if (fa->poison)
        memset(p, 0xDD, n);
    free(h);
}

/* Hooks over fa (reset): fail call fail_at (0-based; -1 never), and every later one if sticky. */
static inline ws_allocator failalloc_init(failalloc *fa, long fail_at, int sticky)
{
    ws_allocator a;
    memset(fa, 0, sizeof *fa);
    fa->fail_at = fail_at;
    fa->sticky = sticky;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.user = fa;
    a.malloc = fa_malloc;
    a.realloc = fa_realloc;
    a.free = fa_free;
    return a;
}

/* A view the library handed out (pointer and length) holds exactly `want`; handshake views
 * are NUL-terminated too. */
static inline void assert_view(const char *p, size_t n, const char *want)
{
    assert_non_null(p);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(p, want, n);
    assert_int_equal(p[n], '\0');
}

/* ---- shorthands for the constructors and getters that report through out-parameters ---- */

/* ws_conn_new with an allocator (NULL: malloc): a configuration made with it and released at
 * once -- the connection keeps it alive. The errors of both calls. */
static inline int conn_new_with(ws_conn **c, uint32_t role, uint32_t flags,
                                const ws_allocator *a)
{
    ws_config *cfg = NULL;
    int r;
    *c = NULL;
    if (!a)
        return ws_conn_new(c, role, flags, NULL);
    if ((r = ws_config_new(&cfg, a)) < 0)
        return r;
    r = ws_conn_new(c, role, flags, cfg);
    ws_config_free(cfg);
    return r;
}

/* A new connection (ws_conn_new), asserting it was created. */
static inline ws_conn *new_conn(uint32_t role, uint32_t flags, const ws_allocator *a)
{
    ws_conn *c = NULL;
    assert_int_equal(conn_new_with(&c, role, flags, a), WS_OK);
    assert_non_null(c);
    return c;
}

/* A new handshake object (ws_handshake_new), asserting it was created. */
static inline ws_handshake *new_hs(uint32_t role, const ws_allocator *a)
{
    ws_handshake *hs = NULL;
    assert_int_equal(ws_handshake_new(&hs, role, a), WS_OK);
    assert_non_null(hs);
    return hs;
}

/* An option's value (ws_conn_get_option), asserting the option is known. */
static inline uint64_t get_opt(const ws_conn *c, uint32_t opt)
{
    uint64_t v = 0;
    assert_int_equal(ws_conn_get_option(c, opt, &v), WS_OK);
    return v;
}

#endif
