/* Incremental, fail-fast UTF-8 validator (RFC 3629, Unicode table 3-7 "well-formed byte
   sequences").

   Structure:
   - ASCII runs at a character boundary are skipped 16 bytes at a time with SSE2 (64 per step once
     the run is long), or 16/8 bytes at a time with 64-bit words on the portable path.
   - At a boundary with the whole sequence available, a well-formed 2/3/4-byte sequence is
     accepted with a few range checks. This shortcut only ever accepts; anything else (including
     sequences cut by the end of the chunk) goes to the DFA, which alone decides the reject offset.
   - A byte-wise DFA over 12 byte classes. Its states are exactly the viable prefixes of a
     well-formed sequence, so it rejects on the first byte that no continuation can rescue. */
#include "utf8.h"

#include <string.h>

#if defined(__SSE2__) && !defined(WS_NO_SIMD)
#define WS_UTF8_SSE2 1
#include <emmintrin.h>
#else
#define WS_UTF8_SSE2 0
#endif

/* Byte classes: the columns of the transition table. */
enum {
    C_ASC = 0, /* 00..7F */
    C_X8,      /* 80..8F continuation */
    C_X9,      /* 90..9F continuation */
    C_XA,      /* A0..BF continuation */
    C_BAD,     /* C0, C1, F5..FF: not allowed anywhere */
    C_L2,      /* C2..DF: lead of a 2-byte sequence */
    C_E0,      /* E0: second byte A0..BF (lower values would be overlong) */
    C_L3,      /* E1..EC, EE, EF: second byte 80..BF */
    C_ED,      /* ED: second byte 80..9F (higher values would be surrogates) */
    C_F0,      /* F0: second byte 90..BF (lower values would be overlong) */
    C_L4,      /* F1..F3: second byte 80..BF */
    C_F4       /* F4: second byte 80..8F (higher values exceed U+10FFFF) */
};

/* States, premultiplied by the row width (16) so that state + class indexes the table. */
enum {
    S_ACCEPT = 0 * 16, /* at a character boundary; must stay 0 (WS_UTF8_ACCEPT) */
    S_NEED1 = 1 * 16,  /* one more 80..BF to go */
    S_NEED2 = 2 * 16,  /* two more 80..BF to go */
    S_NEED3 = 3 * 16,  /* three more 80..BF to go */
    S_E0 = 4 * 16,     /* after E0: need A0..BF, then one more */
    S_ED = 5 * 16,     /* after ED: need 80..9F, then one more */
    S_F0 = 6 * 16,     /* after F0: need 90..BF, then two more */
    S_F4 = 7 * 16,     /* after F4: need 80..8F, then two more */
    S_REJECT = 8 * 16  /* sticky */
};

/* clang-format off */
static const uint8_t utf8_class[256] = {
    /* 00..7F */
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    /* 80..8F */
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    /* 90..9F */
    2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2,
    /* A0..BF */
    3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3,
    /* C0..DF */
    4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
    /* E0..EF */
    6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 7,
    /* F0..FF */
    9, 10, 10, 10, 11, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4,
};

#define A_ S_ACCEPT
#define N1 S_NEED1
#define N2 S_NEED2
#define N3 S_NEED3
#define R_ S_REJECT
static const uint8_t utf8_next[9 * 16] = {
    /*          ASC  X8    X9    XA    BAD  L2  E0    L3  ED    F0    L4  F4   (unused)      */
    /* ACCEPT */ A_, R_, R_, R_, R_, N1, S_E0, N2, S_ED, S_F0, N3, S_F4, R_, R_, R_, R_,
    /* NEED1  */ R_, A_, A_, A_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
    /* NEED2  */ R_, N1, N1, N1, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
    /* NEED3  */ R_, N2, N2, N2, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
    /* E0     */ R_, R_, R_, N1, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
    /* ED     */ R_, N1, N1, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
    /* F0     */ R_, R_, N2, N2, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
    /* F4     */ R_, N2, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
    /* REJECT */ R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_, R_,
};
#undef A_
#undef N1
#undef N2
#undef N3
#undef R_
/* clang-format on */

/* A state value this module never produces is treated as rejected. */
static int state_bad(uint32_t s)
{
    return s >= S_REJECT || (s & 15u) != 0;
}

#if WS_UTF8_SSE2
static unsigned lowest_bit(unsigned m)
{
#if defined(__GNUC__) || defined(__clang__)
    return (unsigned)__builtin_ctz(m);
#else
    unsigned k = 0;
    while (!(m & 1u)) {
        m >>= 1;
        k++;
    }
    return k;
#endif
}

/* Bit k set iff p[k] >= 0x80, for the 16 bytes at p (unaligned load). */
static unsigned high_bits16(const uint8_t *p)
{
    return (unsigned)_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(const void *)p));
}
#endif

/* Index of the first byte >= 0x80 in p[i..n), or n. */
static size_t skip_ascii(const uint8_t *p, size_t i, size_t n)
{
#if WS_UTF8_SSE2
    /* Short runs (the spaces between non-Latin words) are common: look at 16 bytes first. */
    if (n - i >= 16) {
        unsigned m = high_bits16(p + i);
        if (m != 0)
            return i + lowest_bit(m);
        i += 16;
    }
    while (n - i >= 64) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 48));
        if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d))) != 0)
            break;
        i += 64;
    }
    while (n - i >= 16) {
        unsigned m = high_bits16(p + i);
        if (m != 0)
            return i + lowest_bit(m);
        i += 16;
    }
#else
    const uint64_t high = UINT64_C(0x8080808080808080);
    while (n - i >= 16) {
        uint64_t w0, w1;
        memcpy(&w0, p + i, 8);
        memcpy(&w1, p + i + 8, 8);
        if (((w0 | w1) & high) != 0)
            break;
        i += 16;
    }
    while (n - i >= 8) {
        uint64_t w;
        memcpy(&w, p + i, 8);
        if ((w & high) != 0)
            break;
        i += 8;
    }
#endif
    while (i < n && p[i] < 0x80)
        i++;
    return i;
}

static int is_cont(uint8_t b)
{
    return (b & 0xC0) == 0x80;
}

/* Length of a complete well-formed multi-byte sequence at p (avail >= 1 bytes readable), or 0 if
   there is none there (ASCII, ill-formed, or cut short by the end of the chunk). */
static size_t whole_seq(const uint8_t *p, size_t avail)
{
    uint8_t b0 = p[0];
    if (b0 < 0xE0) {
        if (b0 >= 0xC2 && avail >= 2 && is_cont(p[1]))
            return 2;
        return 0;
    }
    if (b0 < 0xF0) {
        uint8_t lo = b0 == 0xE0 ? 0xA0 : 0x80;
        uint8_t hi = b0 == 0xED ? 0x9F : 0xBF;
        if (avail >= 3 && p[1] >= lo && p[1] <= hi && is_cont(p[2]))
            return 3;
        return 0;
    }
    if (b0 <= 0xF4 && avail >= 4) {
        uint8_t lo = b0 == 0xF0 ? 0x90 : 0x80;
        uint8_t hi = b0 == 0xF4 ? 0x8F : 0xBF;
        if (p[1] >= lo && p[1] <= hi && is_cont(p[2]) && is_cont(p[3]))
            return 4;
    }
    return 0;
}

size_t ws_utf8_validate(ws_utf8_state *st, const uint8_t *p, size_t n)
{
    uint32_t s = *st;
    size_t i = 0;

    if (state_bad(s)) {
        *st = S_REJECT;
        return 0;
    }
    while (i < n) {
        if (s == S_ACCEPT) {
            /* Fast paths: ASCII runs, then whole well-formed characters. They stop at anything
               else (ill-formed, cut by the chunk end), which the DFA step below then judges. */
            size_t len;
            i = skip_ascii(p, i, n);
            while (i < n && (len = whole_seq(p + i, n - i)) != 0)
                i += len;
            if (i == n)
                break;
            if (p[i] < 0x80)
                continue;
        }
        s = utf8_next[s + utf8_class[p[i]]];
        if (s == S_REJECT) {
            *st = S_REJECT;
            return i;
        }
        i++;
    }
    *st = s;
    return n;
}

int ws_utf8_complete(ws_utf8_state st)
{
    return st == S_ACCEPT;
}

int ws_utf8_failed(ws_utf8_state st)
{
    return state_bad(st);
}
