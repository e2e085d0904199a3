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

#endif
