/* Private to lib/: the UTF-8 validator's kernels, exposed for tests and benchmarks. */
#ifndef WS_LIB_UTF8_H
#define WS_LIB_UTF8_H

#include "ws.h"

/* The validator itself (ws_utf8_validate, ws_utf8_complete, ws_utf8_failed, ws_utf8_state)
   is public API: see ws.h. */

/* Internal, for tests and benchmarks: the block kernels ws_utf8_validate chooses from at run
   time. The scalar kernel (byte-wise DFA with word-wise ASCII skipping) is always available;
   the others exist on x86-64 GCC/Clang builds without WS_NO_SIMD and run only on CPUs that have
   the instructions. */
enum {
    WS_UTF8_KERNEL_SCALAR = 0,
    WS_UTF8_KERNEL_SSSE3 = 1, /* 16-byte pshufb classification */
    WS_UTF8_KERNEL_AVX2 = 2,  /* 32-byte vpshufb classification */
    WS_UTF8_KERNEL_COUNT = 3
};

/* Bit k set iff kernel k is compiled in and usable on this CPU (bit 0 is always set). */
unsigned ws__utf8_kernels(void);

/* The kernel ws_utf8_validate uses on this CPU: the best usable one (a WS_UTF8_KERNEL_*). */
int ws__utf8_best_kernel(void);

/* ws_utf8_validate with the kernel forced (same contract; an unusable kernel runs the scalar
   one). ws_utf8_validate itself uses the best usable kernel. */
size_t ws__utf8_validate_kernel(int kernel, ws_utf8_state *st, const uint8_t *p, size_t n);

/* 1 if p[0..n) is a whole well-formed UTF-8 text (no sequence cut at either end), else 0: the
   answer ws_utf8_validate + ws_utf8_complete give from the start state, without the state and
   the offset -- for short texts (no block kernel), where those cost more than the check. */
int ws__utf8_whole(const uint8_t *p, size_t n);

#endif
