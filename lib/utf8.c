/* Incremental, fail-fast UTF-8 validator (RFC 3629, Unicode table 3-7 "well-formed byte
   sequences").

   Structure:
   - Scalar path: ASCII runs at a character boundary are skipped 16 bytes at a time with SSE2 (64
     per step once the run is long), or 16/8 bytes at a time with 64-bit words on the portable
     path. At a boundary with the whole sequence available, a well-formed 2/3/4-byte sequence is
     accepted with a few range checks. This shortcut only ever accepts; anything else (including
     sequences cut by the end of the chunk) goes to the DFA, which alone decides the reject
     offset.
   - A byte-wise DFA over 12 byte classes. Its states are exactly the viable prefixes of a
     well-formed sequence, so it rejects on the first byte that no continuation can rescue.
   - Block kernels (x86-64, chosen at run time: AVX2, else SSSE3): from a character boundary,
     64-byte blocks are checked with the nibble-table classification of Keiser & Lemire
     ("Validating UTF-8 In Less Than One Instruction Per Byte", 2021), see tab_prev_hi below.
     A kernel only answers "these blocks are fine" or "something in this block is wrong"; it
     never decides an offset. On an error the scalar path rescans from the last character
     boundary before the block, and the bytes after the last whole block are left to the scalar
     path too, so the reject offset and the carried state are exactly the DFA's. */
#include "utf8.h"

#include <string.h>

/* The ASCII skip and the sequence check are inlined into both their users (the DFA's scalar path
   and ws__utf8_whole): a call per run would cost as much as the run. */
#if defined(__GNUC__) || defined(__clang__)
#define INLINE_ALWAYS inline __attribute__((always_inline))
#else
#define INLINE_ALWAYS inline
#endif

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

/* The index of the first byte >= 0x80 in p[i..n), or n, for what the 16-byte steps left (p[0..n)
   readable). Once the chunk is 8 bytes or more, its last 8 are read as one word and the bytes
   before i shifted out, so a short tail is a load or two, not a byte loop. */
static INLINE_ALWAYS size_t skip_ascii_tail(const uint8_t *p, size_t i, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ &&                    \
    (defined(__GNUC__) || defined(__clang__))
    const uint64_t high = UINT64_C(0x8080808080808080);
    uint64_t w;
    while (n - i >= 8) {
        memcpy(&w, p + i, 8);
        if ((w &= high) != 0)
            return i + (size_t)__builtin_ctzll(w) / 8;
        i += 8;
    }
    if (i < n && n >= 8) {
        memcpy(&w, p + n - 8, 8);
        w = (w & high) >> (8 * (8 - (n - i))); /* byte i is now the lowest */
        return w != 0 ? i + (size_t)__builtin_ctzll(w) / 8 : n;
    }
#endif
    while (i < n && p[i] < 0x80)
        i++;
    return i;
}

/* Index of the first byte >= 0x80 in p[i..n), or n. */
static INLINE_ALWAYS size_t skip_ascii(const uint8_t *p, size_t i, size_t n)
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
    if (i < n && n >= 16) {
        /* The chunk's last 16 bytes, those before i shifted out. */
        unsigned m = high_bits16(p + n - 16) >> (16 - (n - i));
        return m != 0 ? i + lowest_bit(m) : n;
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
#endif
    return skip_ascii_tail(p, i, n);
}

static int is_cont(uint8_t b)
{
    return (b & 0xC0) == 0x80;
}

/* Length of a complete well-formed multi-byte sequence at p (avail >= 1 bytes readable), or 0 if
   there is none there (ASCII, ill-formed, or cut short by the end of the chunk). */
static INLINE_ALWAYS size_t whole_seq(const uint8_t *p, size_t avail)
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

/* Scalar validation of p[i..end) from state *ps. Returns end, or the offset of the rejected byte
   with *ps = S_REJECT. The state is carried across `end` exactly as across calls. */
static size_t run_scalar(uint32_t *ps, const uint8_t *p, size_t i, size_t end)
{
    uint32_t s = *ps;
    while (i < end) {
        if (s == S_ACCEPT) {
            /* Fast paths: ASCII runs, then whole well-formed characters. They stop at anything
               else (ill-formed, cut by the end), which the DFA step below then judges. */
            size_t len;
            i = skip_ascii(p, i, end);
            while (i < end && (len = whole_seq(p + i, end - i)) != 0)
                i += len;
            if (i == end)
                break;
            if (p[i] < 0x80)
                continue;
        }
        s = utf8_next[s + utf8_class[p[i]]];
        if (s == S_REJECT) {
            *ps = S_REJECT;
            return i;
        }
        i++;
    }
    *ps = s;
    return end;
}

/* ---- Block kernels ------------------------------------------------------------------------ */

/* Kernel contract: p[0] is at a character boundary. The kernel looks at whole 64-byte
   blocks from p[0] on and returns an offset r at a character boundary such that p[0..r) is
   well-formed, with *bad_end = 0 if no block showed an error (then r is at most 3 bytes before
   the end of the last whole block), or with *bad_end = the end of the first block that showed
   one (then r <= that block's start and the first ill-formed byte lies in [r, *bad_end)). */
typedef size_t (*block_kernel)(const uint8_t *p, size_t n, size_t *bad_end);

#define BLOCK 64

#if !defined(WS_NO_SIMD) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define WS_UTF8_X86 1
#include <immintrin.h>

/* The start of the character that the byte at i belongs to, given that p[0..i) passed the block
   checks and p[0] is a boundary: an unfinished lead among the last three bytes, else i. Lead
   bytes are recognized by value alone (C0..FF can only start a sequence); C0, C1 and F5..FF are
   "unfinished" too, which is what makes the rescan report them at their own offset. */
static size_t boundary_before(const uint8_t *p, size_t i)
{
    if (i >= 1 && p[i - 1] >= 0xC0)
        return i - 1;
    if (i >= 2 && p[i - 2] >= 0xE0)
        return i - 2;
    if (i >= 3 && p[i - 3] >= 0xF0)
        return i - 3;
    return i;
}


/* Block classification. For every byte `cur` with predecessor `prev1` (the byte before the block
   start counts as ASCII, which is equivalent at a character boundary) three 16-entry tables are
   looked up -- by prev1's high nibble, prev1's low nibble and cur's high nibble -- and ANDed.
   Each bit is one kind of error that needs all three coordinates to line up:

     TOO_SHORT  lead C0..FF followed by a non-continuation
     TOO_LONG   ASCII followed by a continuation
     OVERLONG3  E0 followed by 80..9F
     TOO_LARGE  F4..FF followed by 90..BF
     SURROGATE  ED followed by A0..BF
     OVERLONG2  C0, C1 followed by a continuation
     OL4_BIG    F0 or F5..FF followed by 80..8F
     TWO_CONTS  continuation followed by continuation (not an error by itself)

   Together with TOO_SHORT, OVERLONG2, TOO_LARGE and OL4_BIG this rejects every continuation after
   C0, C1, F5..FF. What a pair cannot see is the length of a sequence: a continuation that follows
   a continuation is right exactly when it is the third byte of a 3- or 4-byte sequence or the
   fourth of a 4-byte one, i.e. when the byte two back is E0..FF or the byte three back is F0..FF.
   So the error for a byte is (tables AND) XOR (0x80 if it must be such a continuation): any bit
   set means the text is ill-formed at or before that byte. */
enum {
    TOO_SHORT = 0x01,
    TOO_LONG = 0x02,
    OVERLONG3 = 0x04,
    TOO_LARGE = 0x08,
    SURROGATE = 0x10,
    OVERLONG2 = 0x20,
    OL4_BIG = 0x40,
    TWO_CONTS = 0x80,
    ANY_PAIR = TOO_SHORT | TOO_LONG | TWO_CONTS /* bits that ignore prev1's low nibble */
};

/* Indexed by the high nibble of the previous byte. */
static const uint8_t tab_prev_hi[16] = {
    TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, TOO_LONG, /* 0..7 */
    TWO_CONTS, TWO_CONTS, TWO_CONTS, TWO_CONTS,                                     /* 8..B */
    TOO_SHORT | OVERLONG2,                                                          /* C */
    TOO_SHORT,                                                                      /* D */
    TOO_SHORT | OVERLONG3 | SURROGATE,                                              /* E */
    TOO_SHORT | TOO_LARGE | OL4_BIG,                                                /* F */
};

/* Indexed by the low nibble of the previous byte. */
static const uint8_t tab_prev_lo[16] = {
    ANY_PAIR | OVERLONG2 | OVERLONG3 | OL4_BIG,       /* C0, E0, F0 */
    ANY_PAIR | OVERLONG2,                             /* C1 */
    ANY_PAIR,                                         /* 2 */
    ANY_PAIR,                                         /* 3 */
    ANY_PAIR | TOO_LARGE,                             /* F4 */
    ANY_PAIR | TOO_LARGE | OL4_BIG,                   /* F5 */
    ANY_PAIR | TOO_LARGE | OL4_BIG,                   /* F6 */
    ANY_PAIR | TOO_LARGE | OL4_BIG,                   /* F7 */
    ANY_PAIR | TOO_LARGE | OL4_BIG,                   /* F8 */
    ANY_PAIR | TOO_LARGE | OL4_BIG,                   /* F9 */
    ANY_PAIR | TOO_LARGE | OL4_BIG,                   /* FA */
    ANY_PAIR | TOO_LARGE | OL4_BIG,                   /* FB */
    ANY_PAIR | TOO_LARGE | OL4_BIG,                   /* FC */
    ANY_PAIR | TOO_LARGE | OL4_BIG | SURROGATE,       /* ED, FD */
    ANY_PAIR | TOO_LARGE | OL4_BIG,                   /* FE */
    ANY_PAIR | TOO_LARGE | OL4_BIG,                   /* FF */
};

/* Indexed by the high nibble of the current byte. */
static const uint8_t tab_cur_hi[16] = {
    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
    TOO_LONG | TWO_CONTS | OVERLONG2 | OVERLONG3 | OL4_BIG,   /* 80..8F */
    TOO_LONG | TWO_CONTS | OVERLONG2 | OVERLONG3 | TOO_LARGE, /* 90..9F */
    TOO_LONG | TWO_CONTS | OVERLONG2 | SURROGATE | TOO_LARGE, /* A0..AF */
    TOO_LONG | TWO_CONTS | OVERLONG2 | SURROGATE | TOO_LARGE, /* B0..BF */
    TOO_SHORT, TOO_SHORT, TOO_SHORT, TOO_SHORT,
};

/* ---- SSSE3: 16 bytes per vector ---- */

__attribute__((target("ssse3"))) static inline __m128i
errors16(__m128i cur, __m128i prev, __m128i t_phi, __m128i t_plo, __m128i t_chi)
{
    const __m128i nib = _mm_set1_epi8(0x0F);
    __m128i p1 = _mm_alignr_epi8(cur, prev, 15);
    __m128i p2 = _mm_alignr_epi8(cur, prev, 14);
    __m128i p3 = _mm_alignr_epi8(cur, prev, 13);
    __m128i a = _mm_shuffle_epi8(t_phi, _mm_and_si128(_mm_srli_epi16(p1, 4), nib));
    __m128i b = _mm_shuffle_epi8(t_plo, _mm_and_si128(p1, nib));
    __m128i c = _mm_shuffle_epi8(t_chi, _mm_and_si128(_mm_srli_epi16(cur, 4), nib));
    __m128i pairs = _mm_and_si128(_mm_and_si128(a, b), c);
    /* Saturating p2 - 0x60 has bit 7 set iff p2 >= E0; p3 - 0x70 iff p3 >= F0. */
    __m128i must = _mm_or_si128(_mm_subs_epu8(p2, _mm_set1_epi8(0x60)),
                                _mm_subs_epu8(p3, _mm_set1_epi8(0x70)));
    must = _mm_and_si128(must, _mm_set1_epi8(-128));
    return _mm_xor_si128(pairs, must);
}

__attribute__((target("ssse3"))) static size_t kernel_ssse3(const uint8_t *p, size_t n,
                                                            size_t *bad_end)
{
    const __m128i t_phi = _mm_loadu_si128((const __m128i *)(const void *)tab_prev_hi);
    const __m128i t_plo = _mm_loadu_si128((const __m128i *)(const void *)tab_prev_lo);
    const __m128i t_chi = _mm_loadu_si128((const __m128i *)(const void *)tab_cur_hi);
    const __m128i zero = _mm_setzero_si128();
    __m128i prev = zero;
    int prev_ascii = 1;
    size_t i = 0;

    while (n - i >= BLOCK) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 16));
        __m128i c = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 32));
        __m128i d = _mm_loadu_si128((const __m128i *)(const void *)(p + i + 48));
        if (_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(a, b), _mm_or_si128(c, d))) == 0) {
            /* All ASCII: fine unless the previous block ended inside a sequence. */
            if (!prev_ascii && boundary_before(p, i) != i)
                break;
            prev_ascii = 1;
            prev = d;
            i += BLOCK;
            continue;
        }
        __m128i e = _mm_or_si128(_mm_or_si128(errors16(a, prev, t_phi, t_plo, t_chi),
                                              errors16(b, a, t_phi, t_plo, t_chi)),
                                 _mm_or_si128(errors16(c, b, t_phi, t_plo, t_chi),
                                              errors16(d, c, t_phi, t_plo, t_chi)));
        if (_mm_movemask_epi8(_mm_cmpeq_epi8(e, zero)) != 0xFFFF)
            break;
        prev_ascii = 0;
        prev = d;
        i += BLOCK;
    }
    *bad_end = n - i >= BLOCK ? i + BLOCK : 0;
    return boundary_before(p, i);
}

/* ---- AVX2: 32 bytes per vector ---- */

__attribute__((target("avx2"))) static inline __m256i
errors32(__m256i cur, __m256i prev, __m256i t_phi, __m256i t_plo, __m256i t_chi)
{
    const __m256i nib = _mm256_set1_epi8(0x0F);
    /* vpalignr works within 128-bit lanes: pair each lane of cur with the lane before it. */
    __m256i before = _mm256_permute2x128_si256(prev, cur, 0x21);
    __m256i p1 = _mm256_alignr_epi8(cur, before, 15);
    __m256i p2 = _mm256_alignr_epi8(cur, before, 14);
    __m256i p3 = _mm256_alignr_epi8(cur, before, 13);
    __m256i a = _mm256_shuffle_epi8(t_phi, _mm256_and_si256(_mm256_srli_epi16(p1, 4), nib));
    __m256i b = _mm256_shuffle_epi8(t_plo, _mm256_and_si256(p1, nib));
    __m256i c = _mm256_shuffle_epi8(t_chi, _mm256_and_si256(_mm256_srli_epi16(cur, 4), nib));
    __m256i pairs = _mm256_and_si256(_mm256_and_si256(a, b), c);
    __m256i must = _mm256_or_si256(_mm256_subs_epu8(p2, _mm256_set1_epi8(0x60)),
                                   _mm256_subs_epu8(p3, _mm256_set1_epi8(0x70)));
    must = _mm256_and_si256(must, _mm256_set1_epi8(-128));
    return _mm256_xor_si256(pairs, must);
}

__attribute__((target("avx2"))) static __m256i load_table32(const uint8_t t[16])
{
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)(const void *)t));
}

__attribute__((target("avx2"))) static size_t kernel_avx2(const uint8_t *p, size_t n,
                                                          size_t *bad_end)
{
    const __m256i t_phi = load_table32(tab_prev_hi);
    const __m256i t_plo = load_table32(tab_prev_lo);
    const __m256i t_chi = load_table32(tab_cur_hi);
    __m256i prev = _mm256_setzero_si256();
    int prev_ascii = 1;
    size_t i = 0;

    while (n - i >= BLOCK) {
        __m256i a = _mm256_loadu_si256((const __m256i *)(const void *)(p + i));
        __m256i b = _mm256_loadu_si256((const __m256i *)(const void *)(p + i + 32));
        if (_mm256_movemask_epi8(_mm256_or_si256(a, b)) == 0) {
            if (!prev_ascii && boundary_before(p, i) != i)
                break;
            prev_ascii = 1;
            prev = b;
            i += BLOCK;
            continue;
        }
        __m256i e = _mm256_or_si256(errors32(a, prev, t_phi, t_plo, t_chi),
                                    errors32(b, a, t_phi, t_plo, t_chi));
        if (!_mm256_testz_si256(e, e))
            break;
        prev_ascii = 0;
        prev = b;
        i += BLOCK;
    }
    *bad_end = n - i >= BLOCK ? i + BLOCK : 0;
    return boundary_before(p, i);
}

static block_kernel kernel_by_id(int kernel)
{
    /* __builtin_cpu_supports reads flags libgcc/compiler-rt set up before main. */
    if (kernel == WS_UTF8_KERNEL_AVX2 && __builtin_cpu_supports("avx2"))
        return kernel_avx2;
    if (kernel == WS_UTF8_KERNEL_SSSE3 && __builtin_cpu_supports("ssse3"))
        return kernel_ssse3;
    return NULL;
}

int ws__utf8_best_kernel(void)
{
    if (__builtin_cpu_supports("avx2"))
        return WS_UTF8_KERNEL_AVX2;
    if (__builtin_cpu_supports("ssse3"))
        return WS_UTF8_KERNEL_SSSE3;
    return WS_UTF8_KERNEL_SCALAR;
}
#else
static block_kernel kernel_by_id(int kernel)
{
    (void)kernel;
    return NULL;
}

int ws__utf8_best_kernel(void)
{
    return WS_UTF8_KERNEL_SCALAR;
}
#endif

/* ---- Entry points ------------------------------------------------------------------------- */

static size_t validate(block_kernel kernel, ws_utf8_state *st, const uint8_t *p, size_t n)
{
    uint32_t s = *st;
    size_t i = 0;

    if (state_bad(s)) {
        *st = S_REJECT;
        return 0;
    }
    if (kernel != NULL) {
        while (n - i >= BLOCK) {
            size_t bad_end;
            if (s != S_ACCEPT) {
                /* Finish the sequence carried in from the previous call (at most 3 bytes). */
                s = utf8_next[s + utf8_class[p[i]]];
                if (s == S_REJECT) {
                    *st = S_REJECT;
                    return i;
                }
                i++;
                continue;
            }
            size_t r = kernel(p + i, n - i, &bad_end);
            if (bad_end == 0) {
                i += r;
                break;
            }
            /* The scalar path finds the exact offset in [i + r, i + bad_end). It cannot get past
               bad_end without rejecting; if it ever did, validation would just go on from there. */
            size_t end = i + bad_end;
            i = run_scalar(&s, p, i + r, end);
            if (s == S_REJECT) {
                *st = S_REJECT;
                return i;
            }
        }
    }
    i = run_scalar(&s, p, i, n);
    *st = s;
    return s == S_REJECT ? i : n;
}

size_t ws_utf8_validate(ws_utf8_state *st, const uint8_t *p, size_t n)
{
    return validate(n >= BLOCK ? kernel_by_id(ws__utf8_best_kernel()) : NULL, st, p, n);
}

size_t ws__utf8_validate_kernel(int kernel, ws_utf8_state *st, const uint8_t *p, size_t n)
{
    return validate(kernel_by_id(kernel), st, p, n);
}

unsigned ws__utf8_kernels(void)
{
    unsigned k = 1u << WS_UTF8_KERNEL_SCALAR;
    for (int id = 1; id < WS_UTF8_KERNEL_COUNT; id++)
        if (kernel_by_id(id) != NULL)
            k |= 1u << id;
    return k;
}

int ws__utf8_whole(const uint8_t *p, size_t n)
{
    size_t i = 0, len;
    for (;;) {
        i = skip_ascii(p, i, n);
        if (i == n)
            return 1;
        if ((len = whole_seq(p + i, n - i)) == 0)
            return 0;
        i += len;
    }
}

int ws_utf8_complete(ws_utf8_state st)
{
    return st == S_ACCEPT;
}

int ws_utf8_failed(ws_utf8_state st)
{
    return state_bad(st);
}
