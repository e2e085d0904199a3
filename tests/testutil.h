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

/* ---- shorthands for the constructors and getters that report through out-parameters ---- */

/* A new connection (ws_conn_new), asserting it was created. */
static inline ws_conn *new_conn(uint32_t role, uint32_t flags, const ws_allocator *a)
{
    ws_conn *c = NULL;
    assert_int_equal(ws_conn_new(&c, role, flags, a), WS_OK);
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
