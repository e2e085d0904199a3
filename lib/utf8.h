/* Private incremental UTF-8 validator (RFC 3629) for text messages and close reasons. */
#ifndef WS_LIB_UTF8_H
#define WS_LIB_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Validator state: 0 means "at a character boundary" (the initial state). Fits in one uint32_t so
   the connection object stays small. Other values are opaque; a value this module never produces
   is treated as the reject state. */
typedef uint32_t ws_utf8_state;
#define WS_UTF8_ACCEPT 0u

/* Validate n more bytes continuing from *st. Returns n if every byte so far can still be part of
   valid UTF-8 (the message may still end inside a sequence: check ws_utf8_complete at the end).
   On the first byte that cannot begin or continue a valid sequence, returns that byte's offset
   (< n) and leaves *st in a sticky reject state. Fail fast: the offset must be the FIRST byte at
   which no valid continuation is possible -- e.g. for F4 90 the offending byte is 90 (offset 1),
   for ED A0 (surrogate) it is A0, for C0/C1/F5..FF it is that lead byte, for E0 80 it is 80.
   Once rejected, every later call returns 0 (for n == 0 that equals n, so callers that may pass
   empty chunks should test ws_utf8_failed rather than compare against n). */
size_t ws_utf8_validate(ws_utf8_state *st, const uint8_t *p, size_t n);

/* True when the state is at a character boundary (message may end here). */
int ws_utf8_complete(ws_utf8_state st);

/* True if the state is the sticky reject state. */
int ws_utf8_failed(ws_utf8_state st);

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

/* ws_utf8_validate with the kernel forced (same contract; an unusable kernel runs the scalar
   one). ws_utf8_validate itself uses the best usable kernel. */
size_t ws__utf8_validate_kernel(int kernel, ws_utf8_state *st, const uint8_t *p, size_t n);

#endif
