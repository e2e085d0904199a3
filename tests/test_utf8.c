/* Tests for the incremental UTF-8 validator (lib/utf8.c): the public ws_utf8_* API of ws.h and,
   through lib/utf8.h, each of its kernels.

   Every case is compared against a deliberately naive reference validator below, for validity,
   completeness and the fail-fast reject offset, and most cases are fed whole, byte-at-a-time and
   split at various points.

   Set WS_TEST_QUICK (any value) to sample the exhaustive loops with a stride and shrink the
   randomized ones, e.g. under valgrind. */
/* cmocka.h needs these first, in this order. */
/* clang-format off */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
/* clang-format on */

#include "utf8.h"
#include "ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int quick_mode(void)
{
    static int cached = -1;
    if (cached < 0)
        cached = getenv("WS_TEST_QUICK") != NULL;
    return cached;
}

/* ---- Reference validator ------------------------------------------------------------------ */

#define MAX_SCALAR 0x10FFFFu

typedef struct ref_result {
    size_t off;   /* offset of the first byte no valid continuation can follow, or n */
    int complete; /* off == n and the buffer ends at a character boundary */
} ref_result;

/* cp holds the payload bits of a partial sequence, rem continuation bytes are still missing and
   min is the smallest code point that may use this sequence length. The missing bytes can supply
   any value in [cp << 6*rem, (cp << 6*rem) + 2^(6*rem) - 1]; the prefix is viable iff some value
   of that interval is in [min, U+10FFFF] and is not a surrogate. */
static int ref_viable(uint32_t cp, int rem, uint32_t min)
{
    uint32_t lo = cp << (6 * rem);
    uint32_t hi = lo + ((1u << (6 * rem)) - 1u);
    if (lo < min)
        lo = min;
    if (hi > MAX_SCALAR)
        hi = MAX_SCALAR;
    if (lo > hi)
        return 0;
    if (lo >= 0xD800u && hi <= 0xDFFFu)
        return 0;
    return 1;
}

static ref_result ref_check(const uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t b = p[i];
        int len;
        uint32_t cp, min;
        if (b < 0x80) {
            i++;
            continue;
        } else if (b >= 0xC0 && b <= 0xDF) {
            len = 2;
            cp = b & 0x1Fu;
            min = 0x80;
        } else if (b >= 0xE0 && b <= 0xEF) {
            len = 3;
            cp = b & 0x0Fu;
            min = 0x800;
        } else if (b >= 0xF0 && b <= 0xF7) {
            len = 4;
            cp = b & 0x07u;
            min = 0x10000;
        } else {
            /* continuation byte in lead position, 5/6-byte leads, FE, FF */
            return (ref_result){i, 0};
        }
        if (!ref_viable(cp, len - 1, min))
            return (ref_result){i, 0};
        for (int k = 1; k < len; k++) {
            if (i + (size_t)k >= n)
                return (ref_result){n, 0}; /* valid so far, ends inside the sequence */
            uint8_t c = p[i + (size_t)k];
            if ((c & 0xC0) != 0x80)
                return (ref_result){i + (size_t)k, 0};
            cp = (cp << 6) | (c & 0x3Fu);
            if (!ref_viable(cp, len - 1 - k, min))
                return (ref_result){i + (size_t)k, 0};
        }
        i += (size_t)len;
    }
    return (ref_result){n, 1};
}

/* Plain encoder that does not judge the value (so it can produce surrogates and values up to
   0x1FFFFF), with an optional forced length to produce overlong forms. */
static size_t enc_utf8(uint32_t cp, size_t force_len, uint8_t *out)
{
    size_t len = force_len;
    if (len == 0)
        len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    switch (len) {
    case 1:
        out[0] = (uint8_t)cp;
        break;
    case 2:
        out[0] = (uint8_t)(0xC0 | (cp >> 6));
        out[1] = (uint8_t)(0x80 | (cp & 0x3F));
        break;
    case 3:
        out[0] = (uint8_t)(0xE0 | (cp >> 12));
        out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (uint8_t)(0x80 | (cp & 0x3F));
        break;
    default:
        out[0] = (uint8_t)(0xF0 | (cp >> 18));
        out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
        out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        out[3] = (uint8_t)(0x80 | (cp & 0x3F));
        len = 4;
        break;
    }
    return len;
}

/* ---- Driving the validator under test ----------------------------------------------------- */

/* -1: the public entry point (best kernel for this CPU); otherwise a WS_UTF8_KERNEL_* forced
   through the internal hook. Only the kernel tests below change it, and they put it back. */
static int g_kernel = -1;

static size_t dut_validate(ws_utf8_state *st, const uint8_t *p, size_t n)
{
    if (g_kernel < 0)
        return ws_utf8_validate(st, p, n);
    return ws__utf8_validate_kernel(g_kernel, st, p, n);
}

typedef struct dut_result {
    size_t off;       /* global reject offset, or n */
    ws_utf8_state st; /* final state */
    int sticky_bad;   /* a call after the reject did not behave as sticky */
} dut_result;

/* Feed chunk by chunk; cuts[] are increasing split offsets inside (0, n). After a reject the
   remaining chunks are still fed, and must each return 0 with the state still failed. */
static dut_result dut_cuts(const uint8_t *p, size_t n, const size_t *cuts, size_t ncuts)
{
    dut_result r = {n, WS_UTF8_ACCEPT, 0};
    int rejected = 0;
    size_t start = 0;
    for (size_t c = 0; c <= ncuts; c++) {
        size_t end = c < ncuts ? cuts[c] : n;
        size_t len = end - start;
        size_t got = dut_validate(&r.st, p + start, len);
        if (rejected) {
            if (got != 0 || !ws_utf8_failed(r.st))
                r.sticky_bad = 1;
        } else if (got < len) {
            rejected = 1;
            r.off = start + got;
            if (!ws_utf8_failed(r.st))
                r.sticky_bad = 1;
        } else if (got != len) {
            r.sticky_bad = 1; /* returned more than it was given */
        }
        start = end;
    }
    return r;
}

static dut_result dut_whole(const uint8_t *p, size_t n)
{
    dut_result r = {0, WS_UTF8_ACCEPT, 0};
    r.off = dut_validate(&r.st, p, n);
    if (r.off > n)
        r.sticky_bad = 1; /* returned more than it was given */
    return r;
}

static dut_result dut_split(const uint8_t *p, size_t n, size_t at)
{
    if (at == 0 || at >= n)
        return dut_whole(p, n);
    return dut_cuts(p, n, &at, 1);
}

/* Chunks of exactly `step` bytes (the last may be shorter); step 1 is byte-at-a-time. */
static dut_result dut_step(const uint8_t *p, size_t n, size_t step)
{
    dut_result r = {n, WS_UTF8_ACCEPT, 0};
    int rejected = 0;
    for (size_t start = 0; start < n; start += step) {
        size_t len = n - start < step ? n - start : step;
        size_t got = dut_validate(&r.st, p + start, len);
        if (rejected) {
            if (got != 0 || !ws_utf8_failed(r.st))
                r.sticky_bad = 1;
        } else if (got < len) {
            rejected = 1;
            r.off = start + got;
            if (!ws_utf8_failed(r.st))
                r.sticky_bad = 1;
        } else if (got != len) {
            r.sticky_bad = 1;
        }
    }
    return r;
}

static int result_ok(dut_result r, ref_result want, size_t n)
{
    if (r.sticky_bad || r.off != want.off)
        return 0;
    if (want.off < n)
        return ws_utf8_failed(r.st) && !ws_utf8_complete(r.st);
    return !ws_utf8_failed(r.st) && (ws_utf8_complete(r.st) != 0) == (want.complete != 0);
}

static void report(const char *mode, const uint8_t *p, size_t n, dut_result r, ref_result want)
{
    char hex[3 * 48 + 4];
    size_t k = 0, shown = n < 48 ? n : 48;
    for (size_t i = 0; i < shown; i++)
        k += (size_t)snprintf(hex + k, sizeof hex - k, "%02X ", p[i]);
    if (shown < n)
        snprintf(hex + k, sizeof hex - k, "...");
    print_error("%s: len %zu [%s]\n  got  off=%zu failed=%d complete=%d sticky_bad=%d\n"
                "  want off=%zu complete=%d\n",
                mode, n, hex, r.off, ws_utf8_failed(r.st), ws_utf8_complete(r.st), r.sticky_bad,
                want.off, want.complete);
    fail();
}

#define CHECK(mode, p, n, call, want)                                                              \
    do {                                                                                           \
        dut_result r_ = (call);                                                                    \
        if (!result_ok(r_, (want), (n)))                                                           \
            report((mode), (p), (n), r_, (want));                                                  \
    } while (0)

/* ws__utf8_whole (the receive path's check of a whole short text) must say "valid" exactly when
   the reference says valid and complete. It gets a copy in a block of exactly n bytes, so that
   its word reads near the end are checked by ASan and valgrind. */
static void check_whole_text(const char *mode, const uint8_t *p, size_t n, ref_result want)
{
    uint8_t *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    if (n)
        memcpy(copy, p, n);
    int got = ws__utf8_whole(copy, n), exp = want.off == n && want.complete;
    free(copy);
    if (got != exp) {
        dut_result r = {got ? n : 0, got ? WS_UTF8_ACCEPT : 0xFFu, 0};
        report(mode, p, n, r, want);
    }
}

/* Whole, byte-at-a-time, and split at every position; and ws__utf8_whole. */
static void check_all_modes(const uint8_t *p, size_t n, ref_result want)
{
    check_whole_text("whole text", p, n, want);
    CHECK("whole", p, n, dut_whole(p, n), want);
    CHECK("bytewise", p, n, dut_step(p, n, 1), want);
    for (size_t at = 1; at < n; at++)
        CHECK("split", p, n, dut_split(p, n, at), want);
}

/* Expectation shorthands for hand-written cases. */
#define EXP_OK ((long)-1)         /* valid and complete */
#define EXP_INCOMPLETE ((long)-2) /* nothing invalid, but ends inside a sequence */

static ref_result expectation(long e, size_t n)
{
    if (e == EXP_OK)
        return (ref_result){n, 1};
    if (e == EXP_INCOMPLETE)
        return (ref_result){n, 0};
    return (ref_result){(size_t)e, 0};
}

/* Check a hand-written case: the reference must agree with the stated expectation, then the
   validator is run in every feeding mode, bare and behind ASCII prefixes long enough to go
   through the word/SIMD skipping first. */
static void check_expect(const char *name, const uint8_t *p, size_t n, long e)
{
    ref_result want = expectation(e, n);
    ref_result ref = ref_check(p, n);
    if (ref.off != want.off || ref.complete != want.complete) {
        print_error("%s: reference says off=%zu complete=%d, expected off=%zu complete=%d\n", name,
                    ref.off, ref.complete, want.off, want.complete);
        fail();
    }
    check_all_modes(p, n, want);

    static const size_t prefixes[] = {1, 7, 8, 15, 16, 17, 64, 100};
    uint8_t buf[512];
    assert_true(n + 100 <= sizeof buf);
    for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++) {
        size_t pre = prefixes[k];
        for (size_t i = 0; i < pre; i++)
            buf[i] = (uint8_t)('a' + i % 26);
        memcpy(buf + pre, p, n);
        ref_result w = want;
        w.off += pre;
        CHECK("prefixed whole", buf, pre + n, dut_whole(buf, pre + n), w);
        check_whole_text("prefixed whole text", buf, pre + n, w);
        CHECK("prefixed bytewise", buf, pre + n, dut_step(buf, pre + n, 1), w);
        for (size_t at = pre; at <= pre + n; at++)
            CHECK("prefixed split", buf, pre + n, dut_split(buf, pre + n, at), w);
    }
}

/* ---- Small deterministic PRNG (xorshift64*) ------------------------------------------------ */

typedef struct rng {
    uint64_t s;
} rng;

static uint64_t rng_next(rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * UINT64_C(2685821657736338717);
}

static uint32_t rng_below(rng *r, uint32_t bound)
{
    return (uint32_t)((rng_next(r) >> 32) % bound);
}

/* ---- Basic API behaviour ------------------------------------------------------------------ */

static void test_initial_and_empty(void **state)
{
    (void)state;
    ws_utf8_state st = WS_UTF8_ACCEPT;
    assert_true(ws_utf8_complete(st));
    assert_false(ws_utf8_failed(st));
    assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"", 0), 0);
    assert_true(ws_utf8_complete(st));
    assert_int_equal(ws_utf8_validate(&st, NULL, 0), 0);
    assert_true(ws_utf8_complete(st));

    /* Empty chunk in the middle of a sequence leaves the state alone. */
    assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"\xF0\x9F", 2), 2);
    ws_utf8_state mid = st;
    assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"", 0), 0);
    assert_int_equal(st, mid);
    assert_false(ws_utf8_complete(st));
    assert_false(ws_utf8_failed(st));
    assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"\x98\x80", 2), 2);
    assert_true(ws_utf8_complete(st));
}

static void test_incomplete_at_end(void **state)
{
    (void)state;
    ws_utf8_state st = WS_UTF8_ACCEPT;
    assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"\xE2\x82", 2), 2);
    assert_false(ws_utf8_complete(st));
    assert_false(ws_utf8_failed(st));

    st = WS_UTF8_ACCEPT;
    assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"\xE2\x82\xAC", 3), 3);
    assert_true(ws_utf8_complete(st));
    assert_false(ws_utf8_failed(st));

    /* Same character one byte at a time: complete only after the last byte. */
    st = WS_UTF8_ACCEPT;
    assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"\xE2", 1), 1);
    assert_false(ws_utf8_complete(st));
    assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"\x82", 1), 1);
    assert_false(ws_utf8_complete(st));
    assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"\xAC", 1), 1);
    assert_true(ws_utf8_complete(st));

    /* Every proper prefix of a character of each length, after ASCII, is incomplete. */
    static const char *const chars[] = {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9D\x84\x9E",
                                        "\xF4\x8F\xBF\xBF"};
    for (size_t c = 0; c < 4; c++) {
        size_t len = strlen(chars[c]);
        for (size_t k = 0; k <= len; k++) {
            st = WS_UTF8_ACCEPT;
            assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"abc", 3), 3);
            assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)chars[c], k), k);
            assert_false(ws_utf8_failed(st));
            assert_int_equal(ws_utf8_complete(st) != 0, k == 0 || k == len);
        }
    }
}

static void test_sticky_reject(void **state)
{
    (void)state;
    ws_utf8_state st = WS_UTF8_ACCEPT;
    assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"ab\xC0z", 4), 2);
    assert_true(ws_utf8_failed(st));
    assert_false(ws_utf8_complete(st));

    /* Anything afterwards, valid or not, keeps failing at its first byte. */
    assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"hello", 5), 0);
    assert_true(ws_utf8_failed(st));
    assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"\xE2\x82\xAC", 3), 0);
    assert_true(ws_utf8_failed(st));
    assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"\x80", 1), 0);
    assert_true(ws_utf8_failed(st));
    assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"", 0), 0);
    assert_true(ws_utf8_failed(st));
    assert_false(ws_utf8_complete(st));

    uint8_t big[200];
    memset(big, 'x', sizeof big);
    assert_int_equal(ws_utf8_validate(&st, big, sizeof big), 0);
    assert_true(ws_utf8_failed(st));

    /* Reject reached in the middle of a sequence started in an earlier call. */
    st = WS_UTF8_ACCEPT;
    assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"\xED", 1), 1);
    assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"\xA0\x80", 2), 0);
    assert_true(ws_utf8_failed(st));
    assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"\x80", 1), 0);
    assert_true(ws_utf8_failed(st));

    /* A state value the module never produces counts as rejected. */
    st = 0xFFFFFFFFu;
    assert_true(ws_utf8_failed(st));
    assert_false(ws_utf8_complete(st));
    assert_int_equal(ws_utf8_validate(&st, (const uint8_t *)"a", 1), 0);
    assert_true(ws_utf8_failed(st));
}

/* States the validator never produces -- odd values, values between its states, anything at or
 * above the reject state -- are rejected whatever follows, by every entry point and kernel: a
 * caller that corrupts or forges its state learns it, and no table is read out of place. The
 * eight states it does produce (0, 16, ..., 112) are told apart from all of them. */
static void test_forged_states_rejected(void **state)
{
    (void)state;
    /* ASCII, a lead byte, a continuation, and a block long enough for the SIMD kernels */
    uint8_t ascii64[64];
    memset(ascii64, 'a', sizeof ascii64);
    static const struct {
        const uint8_t *p;
        size_t n;
    } inputs[] = {{(const uint8_t *)"a", 1}, {(const uint8_t *)"\xC2", 1},
                  {(const uint8_t *)"\x80", 1}, {(const uint8_t *)"\xE0\xA0", 2}};
    uint32_t forged[300];
    size_t nf = 0;
    for (uint32_t s = 1; s < 256; s++)
        if (s % 16 != 0 || s >= 128)
            forged[nf++] = s;
    static const uint32_t far[] = {0x100u, 0x101u, 0x110u, 0x7FFFFFFFu, 0x80000000u,
                                   0xFFFFFFF0u, 0xFFFFFFFEu, 0xFFFFFFFFu};
    for (size_t i = 0; i < sizeof far / sizeof far[0]; i++)
        forged[nf++] = far[i];

    for (size_t f = 0; f < nf; f++) {
        ws_utf8_state st = forged[f];
        if (!ws_utf8_failed(st))
            print_message("state 0x%x not reported failed\n", (unsigned)st);
        assert_true(ws_utf8_failed(st));
        assert_false(ws_utf8_complete(st));
        for (int k = -1; k < WS_UTF8_KERNEL_COUNT; k++) {
            for (size_t i = 0; i <= sizeof inputs / sizeof inputs[0]; i++) {
                const uint8_t *p = i < 4 ? inputs[i].p : ascii64;
                size_t n = i < 4 ? inputs[i].n : sizeof ascii64;
                st = forged[f];
                size_t r = k < 0 ? ws_utf8_validate(&st, p, n)
                                 : ws__utf8_validate_kernel(k, &st, p, n);
                if (r != 0 || !ws_utf8_failed(st))
                    print_message("state 0x%x, kernel %d, input %zu: %zu, state 0x%x\n",
                                  (unsigned)forged[f], k, i, r, (unsigned)st);
                assert_int_equal(r, 0);
                assert_true(ws_utf8_failed(st));
                assert_false(ws_utf8_complete(st));
            }
        }
    }
    /* the states it produces are not failures; only the first is complete */
    for (uint32_t s = 0; s < 128; s += 16) {
        assert_false(ws_utf8_failed(s));
        assert_int_equal(ws_utf8_complete(s), s == 0);
    }
}

/* ---- Exhaustive comparisons against the reference ----------------------------------------- */

/* One representative of every byte range the validator distinguishes, plus edges. */
static const uint8_t interesting[] = {0x00, 0x20, 0x41, 0x7F, 0x80, 0x81, 0x8F, 0x90, 0x9F, 0xA0,
                                      0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE1, 0xEC, 0xED, 0xEE,
                                      0xEF, 0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF7, 0xF8, 0xFE, 0xFF};
#define N_INTERESTING (sizeof interesting / sizeof interesting[0])

static void test_exhaustive_1_2_byte(void **state)
{
    (void)state;
    uint8_t b[2];
    for (unsigned v = 0; v < 256; v++) {
        b[0] = (uint8_t)v;
        check_all_modes(b, 1, ref_check(b, 1));
    }
    for (unsigned v = 0; v < 65536; v++) {
        b[0] = (uint8_t)(v >> 8);
        b[1] = (uint8_t)v;
        check_all_modes(b, 2, ref_check(b, 2));
    }
}

/* All 2-byte sequences behind ASCII prefixes of SIMD-relevant lengths and followed by an ASCII
   byte, so they are reached through the fast paths and the end-of-sequence check sees data. */
static void test_exhaustive_2_byte_in_context(void **state)
{
    (void)state;
    static const size_t prefixes[] = {1, 15, 16, 17, 63, 64, 65};
    uint8_t buf[72];
    memset(buf, 'q', sizeof buf);
    for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++) {
        size_t pre = prefixes[k], n = pre + 3;
        for (unsigned v = 0; v < 65536; v++) {
            buf[pre] = (uint8_t)(v >> 8);
            buf[pre + 1] = (uint8_t)v;
            buf[pre + 2] = 'z';
            ref_result want = ref_check(buf, n);
            CHECK("ctx whole", buf, n, dut_whole(buf, n), want);
            CHECK("ctx split", buf, n, dut_split(buf, n, pre + 1), want);
        }
    }
}

static void test_exhaustive_3_byte(void **state)
{
    (void)state;
    uint8_t b[3];
    if (quick_mode()) {
        /* All first two bytes, third byte from the interesting set. */
        for (unsigned v = 0; v < 65536; v++) {
            for (size_t k = 0; k < N_INTERESTING; k++) {
                b[0] = (uint8_t)(v >> 8);
                b[1] = (uint8_t)v;
                b[2] = interesting[k];
                ref_result want = ref_check(b, 3);
                CHECK("whole", b, 3, dut_whole(b, 3), want);
                CHECK("bytewise", b, 3, dut_step(b, 3, 1), want);
            }
        }
        return;
    }
    for (uint32_t v = 0; v < (1u << 24); v++) {
        b[0] = (uint8_t)(v >> 16);
        b[1] = (uint8_t)(v >> 8);
        b[2] = (uint8_t)v;
        ref_result want = ref_check(b, 3);
        CHECK("whole", b, 3, dut_whole(b, 3), want);
        /* Incremental feeding only matters where a sequence is in progress after byte 0; an
           ASCII or invalid first byte is covered by the 1- and 2-byte tests. */
        if (b[0] >= 0xC2 && b[0] <= 0xF4) {
            CHECK("bytewise", b, 3, dut_step(b, 3, 1), want);
            CHECK("split1", b, 3, dut_split(b, 3, 1), want);
            CHECK("split2", b, 3, dut_split(b, 3, 2), want);
        }
    }
}

static void check_4(const uint8_t b[4])
{
    ref_result want = ref_check(b, 4);
    CHECK("whole", b, 4, dut_whole(b, 4), want);
    CHECK("bytewise", b, 4, dut_step(b, 4, 1), want);
}

/* Bytes that can follow the second byte of a 4-byte sequence only matter as "continuation or
   not"; these are the edges of that distinction. */
static const uint8_t tail_edges[] = {0x00, 0x7F, 0x80, 0xBF, 0xC0, 0xFF};
#define N_TAIL_EDGES (sizeof tail_edges / sizeof tail_edges[0])

static void test_4_byte_leads(void **state)
{
    (void)state;
    uint8_t b[4];
    int quick = quick_mode();
    for (unsigned lead = 0xF0; lead <= 0xF4; lead++) {
        b[0] = (uint8_t)lead;
        /* All second and third bytes with a structured fourth byte. */
        for (unsigned v = 0; v < 65536; v++) {
            b[1] = (uint8_t)(v >> 8);
            b[2] = (uint8_t)v;
            if (quick && v % 5 != 0)
                continue;
            for (size_t k = 0; k < N_TAIL_EDGES; k++) {
                b[3] = tail_edges[k];
                check_4(b);
            }
        }
        /* All fourth bytes behind structured second and third bytes. */
        for (size_t i = 0; i < N_INTERESTING; i++) {
            for (size_t k = 0; k < N_TAIL_EDGES; k++) {
                for (unsigned last = 0; last < 256; last++) {
                    b[1] = interesting[i];
                    b[2] = tail_edges[k];
                    b[3] = (uint8_t)last;
                    check_4(b);
                }
            }
        }
    }
    /* Random tails, biased towards continuation bytes, for every F0..FF lead. */
    rng r = {UINT64_C(0x9E3779B97F4A7C15)};
    unsigned count = quick ? 20000 : 300000;
    for (unsigned i = 0; i < count; i++) {
        b[0] = (uint8_t)(0xF0 + rng_below(&r, 16));
        for (int k = 1; k < 4; k++) {
            uint32_t x = (uint32_t)(rng_next(&r) >> 40);
            b[k] = (x & 1) ? (uint8_t)(x >> 1) : (uint8_t)(0x80 | ((x >> 1) & 0x3F));
        }
        check_4(b);
        CHECK("split2", b, 4, dut_split(b, 4, 2), ref_check(b, 4));
    }
}

/* Every Unicode scalar value encodes to a valid sequence, every surrogate and every overlong
   form of it does not. */
static void test_all_code_points(void **state)
{
    (void)state;
    uint8_t b[4];
    uint32_t stride = quick_mode() ? 61 : 1;
    for (uint32_t cp = 0; cp <= 0x1FFFFF; cp += stride) {
        size_t len = enc_utf8(cp, 0, b);
        int valid = cp <= MAX_SCALAR && (cp < 0xD800 || cp > 0xDFFF);
        ref_result want = ref_check(b, len);
        assert_int_equal(want.complete, valid);
        CHECK("cp whole", b, len, dut_whole(b, len), want);
        /* Overlong encodings: any longer form than necessary. */
        for (size_t longer = len + 1; longer <= 4 && cp < 0x10000; longer++) {
            size_t l2 = enc_utf8(cp, longer, b);
            want = ref_check(b, l2);
            assert_false(want.complete);
            assert_true(want.off < l2);
            CHECK("overlong whole", b, l2, dut_whole(b, l2), want);
            CHECK("overlong bytewise", b, l2, dut_step(b, l2, 1), want);
        }
    }
}

/* ---- Markus Kuhn's UTF-8 decoder capability and stress test ------------------------------- */

typedef struct kcase {
    const char *name;
    const char *bytes;
    size_t len;
    long expect;
} kcase;

#define K(name, s, e)                                                                              \
    {                                                                                              \
        name, s, sizeof(s) - 1, e                                                                  \
    }

static const kcase kuhn_cases[] = {
    K("1 kosme", "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5", EXP_OK),
    /* 2.1 first possible sequence of a certain length */
    K("2.1.1 U+0000", "\x00", EXP_OK),
    K("2.1.2 U+0080", "\xC2\x80", EXP_OK),
    K("2.1.3 U+0800", "\xE0\xA0\x80", EXP_OK),
    K("2.1.4 U+10000", "\xF0\x90\x80\x80", EXP_OK),
    K("2.1.5 5 bytes U-200000", "\xF8\x88\x80\x80\x80", 0),
    K("2.1.6 6 bytes U-4000000", "\xFC\x84\x80\x80\x80\x80", 0),
    /* 2.2 last possible sequence of a certain length */
    K("2.2.1 U+007F", "\x7F", EXP_OK),
    K("2.2.2 U+07FF", "\xDF\xBF", EXP_OK),
    K("2.2.3 U+FFFF", "\xEF\xBF\xBF", EXP_OK),
    K("2.2.4 4 bytes U-1FFFFF", "\xF7\xBF\xBF\xBF", 0),
    K("2.2.5 5 bytes U-3FFFFFF", "\xFB\xBF\xBF\xBF\xBF", 0),
    K("2.2.6 6 bytes U-7FFFFFFF", "\xFD\xBF\xBF\xBF\xBF\xBF", 0),
    /* 2.3 other boundary conditions */
    K("2.3.1 U+D7FF", "\xED\x9F\xBF", EXP_OK),
    K("2.3.2 U+E000", "\xEE\x80\x80", EXP_OK),
    K("2.3.3 U+FFFD", "\xEF\xBF\xBD", EXP_OK),
    K("2.3.4 U+10FFFF", "\xF4\x8F\xBF\xBF", EXP_OK),
    K("2.3.5 U+110000", "\xF4\x90\x80\x80", 1),
    /* 3.1 unexpected continuation bytes */
    K("3.1.1 first continuation byte", "\x80", 0),
    K("3.1.2 last continuation byte", "\xBF", 0),
    K("3.1.3 2 continuation bytes", "\x80\xBF", 0),
    K("3.1.4 3 continuation bytes", "\x80\xBF\x80", 0),
    K("3.1.5 4 continuation bytes", "\x80\xBF\x80\xBF", 0),
    K("3.1.6 5 continuation bytes", "\x80\xBF\x80\xBF\x80", 0),
    K("3.1.7 6 continuation bytes", "\x80\xBF\x80\xBF\x80\xBF", 0),
    K("3.1.8 7 continuation bytes", "\x80\xBF\x80\xBF\x80\xBF\x80", 0),
    /* 3.3 sequences with last continuation byte missing (alone, at end of message) */
    K("3.3.1 2-byte U+0000 missing last", "\xC0", 0),
    K("3.3.2 3-byte U+0000 missing last", "\xE0\x80", 1),
    K("3.3.3 4-byte U+0000 missing last", "\xF0\x80\x80", 1),
    K("3.3.4 5-byte U+0000 missing last", "\xF8\x80\x80\x80", 0),
    K("3.3.5 6-byte U+0000 missing last", "\xFC\x80\x80\x80\x80", 0),
    K("3.3.6 2-byte U+07FF missing last", "\xDF", EXP_INCOMPLETE),
    K("3.3.7 3-byte U+FFFF missing last", "\xEF\xBF", EXP_INCOMPLETE),
    K("3.3.8 4-byte U-1FFFFF missing last", "\xF7\xBF\xBF", 0),
    K("3.3.9 5-byte U-3FFFFFF missing last", "\xFB\xBF\xBF\xBF", 0),
    K("3.3.10 6-byte U-7FFFFFFF missing last", "\xFD\xBF\xBF\xBF\xBF", 0),
    /* Valid-prefix truncations followed by something else. */
    K("3.3.6 followed by 3.3.7", "\xDF\xEF\xBF", 1),
    K("3.3.7 followed by space", "\xEF\xBF ", 2),
    K("4-byte U+10FFFF missing last", "\xF4\x8F\xBF", EXP_INCOMPLETE),
    K("4-byte U+10FFFF missing last, then ASCII", "\xF4\x8F\xBF\x41", 3),
    /* 3.4 concatenation of the sequences of 3.3 */
    K("3.4 concatenation",
      "\xC0\xE0\x80\xF0\x80\x80\xF8\x80\x80\x80\xFC\x80\x80\x80\x80"
      "\xDF\xEF\xBF\xF7\xBF\xBF\xFB\xBF\xBF\xBF\xFD\xBF\xBF\xBF\xBF",
      0),
    K("3.4 concatenation after valid text", "ok \xDF\xEF\xBF", 4),
    /* 3.5 impossible bytes */
    K("3.5.1 FE", "\xFE", 0),
    K("3.5.2 FF", "\xFF", 0),
    K("3.5.3 FE FE FF FF", "\xFE\xFE\xFF\xFF", 0),
    /* 4.1 overlong ASCII '/' */
    K("4.1.1 overlong / 2 bytes", "\xC0\xAF", 0),
    K("4.1.2 overlong / 3 bytes", "\xE0\x80\xAF", 1),
    K("4.1.3 overlong / 4 bytes", "\xF0\x80\x80\xAF", 1),
    K("4.1.4 overlong / 5 bytes", "\xF8\x80\x80\x80\xAF", 0),
    K("4.1.5 overlong / 6 bytes", "\xFC\x80\x80\x80\x80\xAF", 0),
    /* 4.2 maximum overlong sequences */
    K("4.2.1 max overlong 2 bytes", "\xC1\xBF", 0),
    K("4.2.2 max overlong 3 bytes", "\xE0\x9F\xBF", 1),
    K("4.2.3 max overlong 4 bytes", "\xF0\x8F\xBF\xBF", 1),
    K("4.2.4 max overlong 5 bytes", "\xF8\x87\xBF\xBF\xBF", 0),
    K("4.2.5 max overlong 6 bytes", "\xFC\x83\xBF\xBF\xBF\xBF", 0),
    /* 4.3 overlong NUL */
    K("4.3.1 overlong NUL 2 bytes", "\xC0\x80", 0),
    K("4.3.2 overlong NUL 3 bytes", "\xE0\x80\x80", 1),
    K("4.3.3 overlong NUL 4 bytes", "\xF0\x80\x80\x80", 1),
    K("4.3.4 overlong NUL 5 bytes", "\xF8\x80\x80\x80\x80", 0),
    K("4.3.5 overlong NUL 6 bytes", "\xFC\x80\x80\x80\x80\x80", 0),
    /* 5.1 single UTF-16 surrogates */
    K("5.1.1 U+D800", "\xED\xA0\x80", 1),
    K("5.1.2 U+DB7F", "\xED\xAD\xBF", 1),
    K("5.1.3 U+DB80", "\xED\xAE\x80", 1),
    K("5.1.4 U+DBFF", "\xED\xAF\xBF", 1),
    K("5.1.5 U+DC00", "\xED\xB0\x80", 1),
    K("5.1.6 U+DF80", "\xED\xBE\x80", 1),
    K("5.1.7 U+DFFF", "\xED\xBF\xBF", 1),
    /* 5.2 paired UTF-16 surrogates */
    K("5.2.1 U+D800 U+DC00", "\xED\xA0\x80\xED\xB0\x80", 1),
    K("5.2.2 U+D800 U+DFFF", "\xED\xA0\x80\xED\xBF\xBF", 1),
    K("5.2.3 U+DB7F U+DC00", "\xED\xAD\xBF\xED\xB0\x80", 1),
    K("5.2.4 U+DB7F U+DFFF", "\xED\xAD\xBF\xED\xBF\xBF", 1),
    K("5.2.5 U+DB80 U+DC00", "\xED\xAE\x80\xED\xB0\x80", 1),
    K("5.2.6 U+DB80 U+DFFF", "\xED\xAE\x80\xED\xBF\xBF", 1),
    K("5.2.7 U+DBFF U+DC00", "\xED\xAF\xBF\xED\xB0\x80", 1),
    K("5.2.8 U+DBFF U+DFFF", "\xED\xAF\xBF\xED\xBF\xBF", 1),
    /* 5.3 noncharacters are valid UTF-8 (Autobahn 6.23.x expects them to pass) */
    K("5.3.1 U+FFFE", "\xEF\xBF\xBE", EXP_OK),
    K("5.3.2 U+FFFF", "\xEF\xBF\xBF", EXP_OK),
    /* From the fail-fast contract in utf8.h */
    K("F4 90", "\xF4\x90", 1),
    K("ED A0", "\xED\xA0", 1),
    K("E0 80", "\xE0\x80", 1),
    K("C1", "\xC1", 0),
    K("F5", "\xF5", 0),
    K("kosme then surrogate", "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5\xED\xA0\x80", 12),
    K("Latin-1 text then overlong '/'",
      "Hello-\xC2\xB5@\xC3\x9F\xC3\xB6\xC3\xA4\xC3\xBC\xC3\xA0\xC3\xA1-UTF-8!!\xC0\xAF", 29),
};

static void test_kuhn_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof kuhn_cases / sizeof kuhn_cases[0]; i++) {
        const kcase *c = &kuhn_cases[i];
        check_expect(c->name, (const uint8_t *)c->bytes, c->len, c->expect);
    }
}

/* 3.1.9: all 64 continuation bytes in a row. */
static void test_kuhn_all_continuations(void **state)
{
    (void)state;
    uint8_t b[64];
    for (int i = 0; i < 64; i++)
        b[i] = (uint8_t)(0x80 + i);
    check_expect("3.1.9 all continuation bytes", b, 64, 0);
}

/* 3.2: lonely start characters, each followed by a space; singly and as Kuhn's whole lines. */
static void test_kuhn_lonely_starts(void **state)
{
    (void)state;
    static const struct {
        unsigned first, last;
        long line_expect;
    } groups[] = {
        {0xC0, 0xDF, 0}, /* 3.2.1: C0 is never valid */
        {0xE0, 0xEF, 1}, /* 3.2.2: E0 is viable, the space is not */
        {0xF0, 0xF7, 1}, /* 3.2.3 */
        {0xF8, 0xFB, 0}, /* 3.2.4 */
        {0xFC, 0xFD, 0}, /* 3.2.5 */
    };
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        uint8_t line[64];
        size_t n = 0;
        for (unsigned lead = groups[g].first; lead <= groups[g].last; lead++) {
            uint8_t b[2] = {(uint8_t)lead, ' '};
            int viable = (lead >= 0xC2 && lead <= 0xF4);
            char name[48];
            snprintf(name, sizeof name, "3.2 lonely %02X + space", lead);
            check_expect(name, b, 2, viable ? 1 : 0);
            line[n++] = (uint8_t)lead;
            line[n++] = ' ';
        }
        check_expect("3.2 lonely start line", line, n, groups[g].line_expect);
    }
}

/* 5.3.3 / 5.3.4: the other noncharacters are valid too. */
static void test_kuhn_noncharacters(void **state)
{
    (void)state;
    uint8_t b[4];
    for (uint32_t cp = 0xFDD0; cp <= 0xFDEF; cp++) {
        size_t len = enc_utf8(cp, 0, b);
        check_expect("5.3.3 U+FDD0..U+FDEF", b, len, EXP_OK);
    }
    for (uint32_t plane = 1; plane <= 0x10; plane++) {
        for (uint32_t low = 0xFFFE; low <= 0xFFFF; low++) {
            size_t len = enc_utf8((plane << 16) | low, 0, b);
            check_expect("5.3.4 U+nFFFE/U+nFFFF", b, len, EXP_OK);
        }
    }
}

/* ---- Fast path boundaries ----------------------------------------------------------------- */

static void fill_ascii(uint8_t *p, size_t n, size_t seed)
{
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)((i * 7 + seed * 13) % 128); /* all ASCII, including 00 and 7F */
}

/* Long ASCII with one non-ASCII byte at every position 0..100, every start alignment 0..15, and
   several amounts of trailing data; buffers are exactly sized so sanitizers catch over-reads. */
static void test_bad_byte_every_position(void **state)
{
    (void)state;
    static const uint8_t bytes[] = {0x80, 0xBF, 0xC0, 0xC1, 0xF5, 0xF8, 0xFE,
                                    0xFF, 0xC2, 0xE0, 0xED, 0xF0, 0xF4};
    static const size_t tails[] = {0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65};
    size_t tail_count = sizeof tails / sizeof tails[0];
    for (size_t align = 0; align < 16; align++) {
        for (size_t pos = 0; pos <= 100; pos++) {
            for (size_t t = 0; t < tail_count; t++) {
                if (quick_mode() && t % 3 != 0)
                    continue;
                size_t n = pos + 1 + tails[t];
                uint8_t *base = malloc(align + n);
                assert_non_null(base);
                uint8_t *p = base + align;
                fill_ascii(p, n, pos);
                for (size_t k = 0; k < sizeof bytes; k++) {
                    p[pos] = bytes[k];
                    ref_result want = ref_check(p, n);
                    /* Lone bad bytes fail right there; viable leads fail at the ASCII after. */
                    if (bytes[k] < 0xC2 || bytes[k] > 0xF4)
                        assert_int_equal(want.off, pos);
                    else if (tails[t] > 0)
                        assert_int_equal(want.off, pos + 1);
                    else
                        assert_true(want.off == n && !want.complete);
                    CHECK("bad whole", p, n, dut_whole(p, n), want);
                    CHECK("bad split at pos", p, n, dut_split(p, n, pos), want);
                    CHECK("bad split after pos", p, n, dut_split(p, n, pos + 1), want);
                    CHECK("bad 16-byte chunks", p, n, dut_step(p, n, 16), want);
                    CHECK("bad 7-byte chunks", p, n, dut_step(p, n, 7), want);
                }
                free(base);
            }
        }
    }
}

/* Valid multi-byte characters at every position/alignment inside ASCII, optionally followed by a
   bad byte further on, and pure ASCII of every length at every alignment. */
static void test_multibyte_every_position(void **state)
{
    (void)state;
    static const char *const chars[] = {"\xC3\xA9",        "\xDF\xBF",     "\xE2\x82\xAC",
                                        "\xED\x9F\xBF",    "\xEF\xBF\xBF", "\xF0\x9D\x84\x9E",
                                        "\xF4\x8F\xBF\xBF"};
    for (size_t align = 0; align < 16; align++) {
        for (size_t pos = 0; pos <= 100; pos++) {
            for (size_t c = 0; c < sizeof chars / sizeof chars[0]; c++) {
                size_t clen = strlen(chars[c]);
                size_t n = pos + clen + 40;
                uint8_t *base = malloc(align + n);
                assert_non_null(base);
                uint8_t *p = base + align;
                fill_ascii(p, n, c);
                memcpy(p + pos, chars[c], clen);
                ref_result want = {n, 1};
                assert_true(ref_check(p, n).complete);
                CHECK("mb whole", p, n, dut_whole(p, n), want);
                CHECK("mb split inside", p, n, dut_split(p, n, pos + 1), want);
                CHECK("mb 16-byte chunks", p, n, dut_step(p, n, 16), want);
                /* Cut the message inside the character: incomplete, not rejected. */
                want = (ref_result){pos + 1, 0};
                CHECK("mb truncated", p, pos + 1, dut_whole(p, pos + 1), want);
                /* A stray continuation byte some distance after it. */
                size_t bad = pos + clen + (pos % 37);
                p[bad] = 0x80;
                want = (ref_result){bad, 0};
                CHECK("mb then bad", p, n, dut_whole(p, n), want);
                CHECK("mb then bad bytewise", p, n, dut_step(p, n, 1), want);
                free(base);
            }
        }
    }
    for (size_t align = 0; align < 16; align++) {
        for (size_t n = 0; n <= 300; n++) {
            size_t size = align + n;
            uint8_t *base = malloc(size != 0 ? size : 1);
            assert_non_null(base);
            uint8_t *p = base + align;
            fill_ascii(p, n, n);
            ref_result want = {n, 1};
            CHECK("ascii whole", p, n, dut_whole(p, n), want);
            CHECK("ascii 5-byte chunks", p, n, dut_step(p, n, 5), want);
            free(base);
        }
    }
}

/* ---- Randomized differential test --------------------------------------------------------- */

static size_t gen_token(rng *r, uint8_t *out, unsigned error_pct)
{
    uint32_t kind = rng_below(r, 100);
    if (kind < 30) { /* ASCII run, sometimes long */
        size_t len = rng_below(r, 4) == 0 ? 1 + rng_below(r, 120) : 1 + rng_below(r, 8);
        for (size_t i = 0; i < len; i++)
            out[i] = (uint8_t)rng_below(r, 128);
        return len;
    }
    if (kind < 100 - error_pct) { /* valid scalar value */
        static const uint32_t edges[] = {0x80,   0x7FF,  0x800,   0xD7FF,   0xE000,
                                         0xFFFD, 0xFFFF, 0x10000, 0x10FFFF, 0xFEFF};
        uint32_t cp;
        switch (rng_below(r, 5)) {
        case 0:
            cp = 0x80 + rng_below(r, 0x780);
            break;
        case 1:
            cp = 0x800 + rng_below(r, 0xD800 - 0x800);
            break;
        case 2:
            cp = 0xE000 + rng_below(r, 0x2000);
            break;
        case 3:
            cp = 0x10000 + rng_below(r, 0x100000);
            break;
        default:
            cp = edges[rng_below(r, sizeof edges / sizeof edges[0])];
            break;
        }
        return enc_utf8(cp, 0, out);
    }
    switch (rng_below(r, 5)) {
    case 0: /* surrogate */
        return enc_utf8(0xD800 + rng_below(r, 0x800), 0, out);
    case 1: /* beyond U+10FFFF in 4-byte form */
        return enc_utf8(0x110000 + rng_below(r, 0xF0000), 0, out);
    case 2: { /* overlong */
        uint32_t cp = rng_below(r, 0x10000);
        size_t need = cp < 0x80 ? 1 : cp < 0x800 ? 2 : 3;
        return enc_utf8(cp, need + 1 + rng_below(r, (uint32_t)(4 - need)), out);
    }
    case 3: { /* truncated valid sequence */
        size_t len = enc_utf8(0x80 + rng_below(r, 0x10FF80 - 0x800), 0, out);
        if (len == 3 && out[0] == 0xED && out[1] >= 0xA0)
            out[1] = 0x9F; /* keep it a valid prefix */
        return 1 + rng_below(r, (uint32_t)(len - 1));
    }
    default: /* arbitrary byte */
        out[0] = (uint8_t)rng_below(r, 256);
        return 1;
    }
}

static void test_random_differential(void **state)
{
    (void)state;
    rng r = {UINT64_C(0xD1B54A32D192ED03)};
    static const unsigned error_rates[] = {0, 0, 1, 5, 30};
    uint8_t buf[1024 + 8];
    unsigned iters = quick_mode() ? 1000 : 20000;
    for (unsigned it = 0; it < iters; it++) {
        unsigned err = error_rates[it % 5];
        size_t target = 1 + rng_below(&r, 1000);
        size_t n = 0;
        while (n < target) {
            uint8_t tok[128];
            size_t len = gen_token(&r, tok, err);
            if (n + len > 1024)
                break;
            memcpy(buf + n, tok, len);
            n += len;
        }
        ref_result want = ref_check(buf, n);
        CHECK("rand whole", buf, n, dut_whole(buf, n), want);
        check_whole_text("rand whole text", buf, n, want);
        CHECK("rand bytewise", buf, n, dut_step(buf, n, 1), want);
        size_t step = 1 + rng_below(&r, 40);
        CHECK("rand fixed chunks", buf, n, dut_step(buf, n, step), want);
        size_t cuts[8], ncuts = 0;
        if (n > 1) {
            size_t at = 0;
            while (ncuts < 8) {
                at += 1 + rng_below(&r, (uint32_t)(n / 4 + 1));
                if (at >= n)
                    break;
                cuts[ncuts++] = at;
            }
        }
        CHECK("rand cuts", buf, n, dut_cuts(buf, n, cuts, ncuts), want);
    }
}

/* ---- Block kernels (SSSE3 / AVX2 where available) against the reference -------------------- */

/* The SIMD kernels work on 64-byte blocks of 16- or 32-byte vectors counted from the first
   character boundary of a call, carry up to 3 bytes of context from block to block, and hand
   errors and the tail to the scalar path. Everything below runs every usable kernel on inputs
   long enough to reach them, and checks the fail-fast offset, completeness, stickiness and also
   that the final state is bit-identical to the scalar kernel's (so incremental feeding cannot
   tell kernels apart). */

static int kernel_usable(int k)
{
    return (ws__utf8_kernels() >> k & 1u) != 0;
}

static void kernel_mode(char *buf, size_t size, const char *mode, int k, size_t arg)
{
    static const char *const names[WS_UTF8_KERNEL_COUNT] = {"scalar", "ssse3", "avx2"};
    snprintf(buf, size, "%s [%s, %zu]", mode, names[k], arg);
}

/* The public entry point and every usable kernel on p[0..n): whole, and split at `split` if it is
   inside (0, n). States after non-rejecting runs must equal the scalar kernel's. */
static void check_kernels(const char *mode, const uint8_t *p, size_t n, ref_result want,
                          size_t split)
{
    char name[96];
    ws_utf8_state ref_whole = 0, ref_split = 0;
    for (int k = -1; k < WS_UTF8_KERNEL_COUNT; k++) {
        if (k >= 0 && !kernel_usable(k))
            continue;
        g_kernel = k;
        kernel_mode(name, sizeof name, mode, k < 0 ? 0 : k, split);
        if (k < 0)
            name[0] = '*'; /* public entry point */
        dut_result r = dut_whole(p, n);
        CHECK(name, p, n, r, want);
        if (k == WS_UTF8_KERNEL_SCALAR)
            ref_whole = r.st;
        else if (k > 0 && r.st != ref_whole)
            report(name, p, n, r, want);
        if (split > 0 && split < n) {
            r = dut_split(p, n, split);
            CHECK(name, p, n, r, want);
            if (k == WS_UTF8_KERNEL_SCALAR)
                ref_split = r.st;
            else if (k > 0 && r.st != ref_split)
                report(name, p, n, r, want);
        }
    }
    g_kernel = -1;
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

static void test_kernels_available(void **state)
{
    (void)state;
    unsigned k = ws__utf8_kernels();
    assert_true(k & (1u << WS_UTF8_KERNEL_SCALAR));
    assert_true(k < (1u << WS_UTF8_KERNEL_COUNT));
#if !defined(WS_NO_SIMD) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    assert_int_equal(kernel_usable(WS_UTF8_KERNEL_SSSE3), __builtin_cpu_supports("ssse3") != 0);
    assert_int_equal(kernel_usable(WS_UTF8_KERNEL_AVX2), __builtin_cpu_supports("avx2") != 0);
#else
    assert_int_equal(k, 1u << WS_UTF8_KERNEL_SCALAR);
#endif
    /* The public entry point uses the best of them: the highest usable id. */
    int best = kernel_usable(WS_UTF8_KERNEL_AVX2)    ? WS_UTF8_KERNEL_AVX2
               : kernel_usable(WS_UTF8_KERNEL_SSSE3) ? WS_UTF8_KERNEL_SSSE3
                                                     : WS_UTF8_KERNEL_SCALAR;
    assert_int_equal(ws__utf8_best_kernel(), best);
    print_message("info: utf8 kernels compared with the reference: scalar%s%s\n",
                  kernel_usable(WS_UTF8_KERNEL_SSSE3) ? " ssse3" : "",
                  kernel_usable(WS_UTF8_KERNEL_AVX2) ? " avx2" : "");
    /* A forced kernel keeps the contract on the simplest inputs too. */
    for (int id = 0; id < WS_UTF8_KERNEL_COUNT + 1; id++) {
        ws_utf8_state st = WS_UTF8_ACCEPT;
        assert_int_equal(ws__utf8_validate_kernel(id, &st, NULL, 0), 0);
        assert_true(ws_utf8_complete(st));
        uint8_t big[300];
        memset(big, 'a', sizeof big);
        big[200] = 0xFF;
        assert_int_equal(ws__utf8_validate_kernel(id, &st, big, sizeof big), 200);
        assert_true(ws_utf8_failed(st));
        assert_int_equal(ws__utf8_validate_kernel(id, &st, big, 100), 0);
        assert_true(ws_utf8_failed(st));
    }
}

#if defined(HAVE_CPU_MODEL)
/* On an older CPU -- no AVX2, or neither AVX2 nor SSSE3 -- the kernels it lacks are neither
 * reported nor used (they would fault there), and validation gives the same answers: this CPU
 * with those feature bits cleared, every kernel id forced and the public entry point, on text
 * with an error at each block position and on text cut inside a character. */
static void test_kernels_on_older_cpus(void **state)
{
    (void)state;
    static const unsigned cleared[] = {CPU_AVX2, CPU_AVX2 | CPU_SSSE3};
    unsigned saved = __cpu_model.features[0];
    assert_int_equal((saved & CPU_AVX2) != 0, __builtin_cpu_supports("avx2") != 0);
    assert_int_equal((saved & CPU_SSSE3) != 0, __builtin_cpu_supports("ssse3") != 0);
    uint8_t p[300];
    for (size_t c = 0; c < 2; c++) {
        __cpu_model.features[0] = saved & ~cleared[c];
        unsigned k = ws__utf8_kernels();
        int best = ws__utf8_best_kernel();
        if ((saved & CPU_AVX2) &&
            (__builtin_cpu_supports("avx2") || (k >> WS_UTF8_KERNEL_AVX2 & 1u))) {
            /* The library reads another copy of the CPU model (see test_mask.c): skipped. */
            __cpu_model.features[0] = saved;
            print_message("the library does not share this program's CPU model: skipped\n");
            skip();
        }
        for (size_t pos = 0; pos < 200; pos += 7) {
            memset(p, 'a', sizeof p);
            memcpy(p + pos, "\xE2\x82\xAC\xC3", 4); /* a euro sign, then a cut-off lead */
            check_kernels("older CPU", p, sizeof p, ref_check(p, sizeof p), pos + 2);
            check_kernels("older CPU, cut", p, pos + 4, ref_check(p, pos + 4), pos + 1);
        }
        __cpu_model.features[0] = saved;
        assert_int_equal(k >> WS_UTF8_KERNEL_AVX2 & 1u, 0);
        if (cleared[c] & CPU_SSSE3)
            assert_int_equal(k >> WS_UTF8_KERNEL_SSSE3 & 1u, 0);
        else
            assert_int_equal(k >> WS_UTF8_KERNEL_SSSE3 & 1u, (saved & CPU_SSSE3) != 0);
        /* ws_utf8_validate's own choice: never a kernel the (older) CPU lacks. */
        assert_int_equal(best, (k >> WS_UTF8_KERNEL_SSSE3 & 1u) ? WS_UTF8_KERNEL_SSSE3
                                                                 : WS_UTF8_KERNEL_SCALAR);
    }
    assert_int_equal(ws__utf8_kernels() >> WS_UTF8_KERNEL_AVX2 & 1u, (saved & CPU_AVX2) != 0);
}
#endif

/* n bytes of valid text made of gen_token pieces (ASCII runs and characters of every length),
   padded with ASCII. */
static void gen_valid(rng *r, uint8_t *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t tok[128];
        size_t len = gen_token(r, tok, 0);
        if (len > n - i) {
            memset(p + i, 'p', n - i);
            break;
        }
        memcpy(p + i, tok, len);
        i += len;
    }
}

/* Valid text in one of several styles: 0 mixed tokens, 1 only 2-byte, 2 only 3-byte, 3 only
   4-byte, 4 ASCII with a 2-byte letter now and then. */
static void gen_style(rng *r, uint8_t *p, size_t n, int style)
{
    if (style == 0) {
        gen_valid(r, p, n);
        return;
    }
    size_t i = 0;
    while (i < n) {
        uint8_t b[4];
        size_t len;
        if (style == 1)
            len = enc_utf8(0x80 + rng_below(r, 0x780), 0, b);
        else if (style == 2)
            len = enc_utf8(rng_below(r, 2) ? 0x800 + rng_below(r, 0xD000)
                                           : 0xE000 + rng_below(r, 0x2000), 0, b);
        else if (style == 3)
            len = enc_utf8(0x10000 + rng_below(r, 0x100000), 0, b);
        else
            len = rng_below(r, 20) == 0 ? enc_utf8(0xC0 + rng_below(r, 0x40), 0, b)
                                        : enc_utf8('a' + rng_below(r, 26), 0, b);
        if (len > n - i) {
            memset(p + i, 'p', n - i);
            break;
        }
        memcpy(p + i, b, len);
        i += len;
    }
}

/* Every byte value class at every position of valid text of each style, behind every prefix
   length that shifts the block grid (0..3 bytes beyond a multiple of 16 are enough to move any
   position across the 16/32/64-byte edges, together with the positions themselves). */
static void test_kernels_error_every_position(void **state)
{
    (void)state;
    rng r = {UINT64_C(0x243F6A8885A308D3)};
    const size_t n = 300;
    int quick = quick_mode();
    for (int style = 0; style < 5; style++) {
        for (size_t pre = 0; pre < 4; pre++) {
            uint8_t *p = malloc(n);
            assert_non_null(p);
            memset(p, 'x', pre);
            gen_style(&r, p + pre, n - pre, style);
            assert_true(ref_check(p, n).complete);
            uint8_t *q = malloc(n);
            assert_non_null(q);
            for (size_t pos = 0; pos < n; pos++) {
                if (quick && pos % 7 != (size_t)style)
                    continue;
                for (size_t v = 0; v < N_INTERESTING; v++) {
                    memcpy(q, p, n);
                    q[pos] = interesting[v];
                    ref_result want = ref_check(q, n);
                    check_kernels("error at pos", q, n, want, pos + 1);
                }
                /* Deleting a byte (shifting the rest) truncates or splices sequences. */
                memcpy(q, p, pos);
                memcpy(q + pos, p + pos + 1, n - pos - 1);
                check_kernels("byte deleted", q, n - 1, ref_check(q, n - 1), pos);
            }
            free(q);
            free(p);
        }
    }
}

/* All two-byte values, and interesting three- and four-byte windows, straddling each vector and
   block edge, behind ASCII or behind characters that end exactly at the window; followed by
   enough valid text that the scalar tail does not cover the window. */
static void test_kernels_windows_at_edges(void **state)
{
    (void)state;
    static const size_t at[] = {14, 15, 31, 47, 61, 62, 63, 64, 127};
    const size_t n = 200;
    int quick = quick_mode();
    uint8_t *p = malloc(n);
    assert_non_null(p);
    for (size_t a = 0; a < sizeof at / sizeof at[0]; a++) {
        size_t pos = at[a];
        for (int ctx = 0; ctx < 2; ctx++) {
            /* Context: ASCII, or 3-byte characters (U+20AC) ending exactly at pos. */
            memset(p, 'c', n);
            if (ctx == 1) {
                for (size_t e = pos; e >= 3; e -= 3)
                    memcpy(p + e - 3, "\xE2\x82\xAC", 3);
            }
            uint8_t saved[4];
            memcpy(saved, p + pos, 4);
            for (unsigned v = 0; v < 65536; v++) {
                if (quick && v % 13 != a % 13)
                    continue;
                p[pos] = (uint8_t)(v >> 8);
                p[pos + 1] = (uint8_t)v;
                check_kernels("pair at edge", p, n, ref_check(p, n), pos + 1);
            }
            for (size_t i = 0; i < N_INTERESTING; i++) {
                for (size_t j = 0; j < N_INTERESTING; j++) {
                    for (size_t k = 0; k < N_INTERESTING; k++) {
                        if (quick && (i + j + k) % 5 != 0)
                            continue;
                        p[pos] = interesting[i];
                        p[pos + 1] = interesting[j];
                        p[pos + 2] = interesting[k];
                        check_kernels("triple at edge", p, n, ref_check(p, n), pos + 2);
                        for (size_t t = 0; t < N_TAIL_EDGES && k % 3 == 0; t++) {
                            p[pos + 3] = tail_edges[t];
                            check_kernels("quad at edge", p, n, ref_check(p, n), pos + 3);
                        }
                        p[pos + 3] = saved[3];
                    }
                }
            }
            memcpy(p + pos, saved, 4);
        }
    }
    free(p);
}

/* Valid text cut at every length (a sequence may be left open at any block position), fed whole
   and in two pieces at every point; also with an ASCII byte or a stray continuation appended. */
static void test_kernels_truncation(void **state)
{
    (void)state;
    rng r = {UINT64_C(0x13198A2E03707344)};
    const size_t n = 260;
    uint8_t *p = malloc(n + 1);
    assert_non_null(p);
    for (int style = 0; style < 5; style++) {
        gen_style(&r, p, n, style);
        for (size_t len = 0; len <= n; len++) {
            uint8_t *q = malloc(len + 1);
            assert_non_null(q);
            memcpy(q, p, len);
            ref_result want = ref_check(q, len);
            size_t step = quick_mode() ? 17 : 1;
            for (size_t cut = 0; cut <= len; cut += step)
                check_kernels("truncated", q, len, want, cut);
            q[len] = 'A';
            check_kernels("truncated + ASCII", q, len + 1, ref_check(q, len + 1), len);
            q[len] = 0x80;
            check_kernels("truncated + 80", q, len + 1, ref_check(q, len + 1), len);
            free(q);
        }
    }
    free(p);
}

/* The SIMD kernels classify each byte by table look-ups on its nibbles, so the text around an
   error matters: a kernel that read the wrong bits of the previous byte could still catch the
   error by accident behind 'c' or 'x' (the ASCII used elsewhere here) and miss it behind '0'.
   So: every ASCII byte as the surrounding text, with ill-formed and well-formed sequences --
   each ASCII-adjacent -- at vector and block edges. */
static void test_kernels_every_ascii_context(void **state)
{
    (void)state;
    static const struct {
        const char *b;
        size_t len;
    } seqs[] = {
        /* cut short by the ASCII after it, lone continuations, overlong, surrogate, too big */
        {"\xC2", 1},         {"\xE2\x82", 2},     {"\xF0\x9F\x98", 3}, {"\x80", 1},
        {"\xBF", 1},         {"\xC0\x80", 2},     {"\xC1\xBF", 2},     {"\xE0\x80\x80", 3},
        {"\xED\xA0\x80", 3}, {"\xF0\x80\x80\x80", 4}, {"\xF4\x90\x80\x80", 4},
        {"\xF5\x80\x80\x80", 4}, {"\xFF", 1},
        /* well-formed */
        {"\xC2\xA9", 2},     {"\xE2\x82\xAC", 3}, {"\xED\x9F\xBF", 3},
        {"\xF0\x9F\x98\x80", 4}, {"\xF4\x8F\xBF\xBF", 4},
    };
    static const size_t at[] = {0, 13, 15, 16, 31, 32, 47, 62, 63, 64, 95, 127};
    const size_t n = 200;
    uint8_t p[200];
    for (unsigned f = 0; f < 0x80; f++) {
        if (quick_mode() && f % 4 != 0)
            continue;
        for (size_t i = 0; i < sizeof seqs / sizeof seqs[0]; i++) {
            for (size_t a = 0; a < sizeof at / sizeof at[0]; a++) {
                memset(p, (int)f, n);
                memcpy(p + at[a], seqs[i].b, seqs[i].len);
                check_kernels("in ASCII context", p, n, ref_check(p, n), at[a] + 1);
            }
        }
    }
}

/* Kuhn's cases and the hand-written table inside long text: behind every prefix length 0..70 of
   ASCII or of 2-byte characters, with valid text after them. */
static void test_kernels_kuhn_in_text(void **state)
{
    (void)state;
    rng r = {UINT64_C(0xA4093822299F31D0)};
    uint8_t text[160];
    gen_style(&r, text, sizeof text, 0);
    for (size_t i = 0; i < sizeof kuhn_cases / sizeof kuhn_cases[0]; i++) {
        const kcase *c = &kuhn_cases[i];
        for (size_t pre = 0; pre <= 70; pre++) {
            if (quick_mode() && pre % 5 != i % 5)
                continue;
            for (int ctx = 0; ctx < 2; ctx++) {
                size_t n = pre + c->len + sizeof text;
                uint8_t *p = malloc(n);
                assert_non_null(p);
                if (ctx == 0) {
                    memset(p, 'k', pre);
                } else {
                    memset(p, 'k', pre % 2);
                    for (size_t e = pre % 2; e < pre; e += 2)
                        memcpy(p + e, "\xC3\xA9", 2);
                }
                memcpy(p + pre, c->bytes, c->len);
                memcpy(p + pre + c->len, text, sizeof text);
                ref_result want = ref_check(p, n);
                if (c->expect >= 0)
                    assert_int_equal(want.off, pre + (size_t)c->expect);
                else if (c->expect == EXP_OK)
                    assert_true(want.complete);
                check_kernels(c->name, p, n, want, pre + c->len / 2);
                free(p);
            }
        }
    }
}

/* Long random buffers of every style and error rate at every start alignment, fed whole, in
   random pieces and in fixed pieces around the block size. */
static void test_kernels_random(void **state)
{
    (void)state;
    rng r = {UINT64_C(0x082EFA98EC4E6C89)};
    unsigned iters = quick_mode() ? 300 : 4000;
    static const unsigned error_rates[] = {0, 0, 1, 3, 20};
    for (unsigned it = 0; it < iters; it++) {
        size_t n = 1 + rng_below(&r, it % 10 == 0 ? 4096 : 600);
        size_t align = it % 64;
        uint8_t *base = malloc(align + n);
        assert_non_null(base);
        uint8_t *p = base + align;
        int style = (int)(it % 6);
        if (style < 5) {
            gen_style(&r, p, n, style);
            /* Sprinkle errors. */
            unsigned errs = error_rates[it % 5];
            for (unsigned e = 0; e < errs; e++)
                p[rng_below(&r, (uint32_t)n)] = (uint8_t)rng_below(&r, 256);
        } else {
            size_t m = 0;
            while (m < n) {
                uint8_t tok[128];
                size_t len = gen_token(&r, tok, error_rates[it % 5]);
                if (len > n - m)
                    len = n - m;
                memcpy(p + m, tok, len);
                m += len;
            }
        }
        ref_result want = ref_check(p, n);
        check_kernels("random", p, n, want, rng_below(&r, (uint32_t)n + 1));
        /* Pieces: for each kernel, fixed sizes near the block size and random cuts. */
        size_t steps[3] = {63 + rng_below(&r, 3), 1 + rng_below(&r, 200), 128};
        size_t cuts[12], ncuts = 0, pos = 0;
        while (ncuts < 12 && n > 1) {
            pos += 1 + rng_below(&r, (uint32_t)(n / 6 + 1));
            if (pos >= n)
                break;
            cuts[ncuts++] = pos;
        }
        for (int k = 0; k < WS_UTF8_KERNEL_COUNT; k++) {
            if (!kernel_usable(k))
                continue;
            char name[96];
            g_kernel = k;
            for (size_t s = 0; s < 3; s++) {
                kernel_mode(name, sizeof name, "random steps", k, steps[s]);
                CHECK(name, p, n, dut_step(p, n, steps[s]), want);
            }
            kernel_mode(name, sizeof name, "random cuts", k, ncuts);
            CHECK(name, p, n, dut_cuts(p, n, cuts, ncuts), want);
        }
        g_kernel = -1;
        free(base);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initial_and_empty),
        cmocka_unit_test(test_incomplete_at_end),
        cmocka_unit_test(test_sticky_reject),
        cmocka_unit_test(test_forged_states_rejected),
        cmocka_unit_test(test_exhaustive_1_2_byte),
        cmocka_unit_test(test_exhaustive_2_byte_in_context),
        cmocka_unit_test(test_exhaustive_3_byte),
        cmocka_unit_test(test_4_byte_leads),
        cmocka_unit_test(test_all_code_points),
        cmocka_unit_test(test_kuhn_table),
        cmocka_unit_test(test_kuhn_all_continuations),
        cmocka_unit_test(test_kuhn_lonely_starts),
        cmocka_unit_test(test_kuhn_noncharacters),
        cmocka_unit_test(test_bad_byte_every_position),
        cmocka_unit_test(test_multibyte_every_position),
        cmocka_unit_test(test_random_differential),
        cmocka_unit_test(test_kernels_available),
#if defined(HAVE_CPU_MODEL)
        cmocka_unit_test(test_kernels_on_older_cpus),
#endif
        cmocka_unit_test(test_kernels_error_every_position),
        cmocka_unit_test(test_kernels_windows_at_edges),
        cmocka_unit_test(test_kernels_truncation),
        cmocka_unit_test(test_kernels_kuhn_in_text),
        cmocka_unit_test(test_kernels_every_ascii_context),
        cmocka_unit_test(test_kernels_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
