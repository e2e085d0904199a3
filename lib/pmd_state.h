/* Private to the permessage-deflate files: the per-connection state that the negotiation
 * (pmd_negotiate.c) configures and the codec (deflate.c over zlib, deflate_none.c without)
 * runs on. Everything else in lib/ sees ws__pmd as opaque, through deflate.h. */
#ifndef WS_LIB_PMD_STATE_H
#define WS_LIB_PMD_STATE_H

#include "deflate.h"

#if WS_HAVE_ZLIB
#define ZLIB_CONST
#include <zlib.h>

/* zlib counts in uInt: feed and drain it at most this much at a time (a ws__pmd's z_step, which
 * only the tests lower, to reach the slicing with small inputs). */
#define WS__PMD_Z_STEP ((size_t)1 << 30)
#endif

struct ws__pmd {
    ws_allocator alloc; /* a copy: zlib holds a pointer to it, and this struct never moves */
    ws_deflate_shared *shared;
    uint32_t threshold;
    uint8_t want, win_bits, peer_win_bits, mem_level, level, no_takeover, peer_no_takeover;
    uint8_t active;
    ws__pmd_neg neg;
#if WS_HAVE_ZLIB
    uint8_t tx_live, rx_live;   /* deflateInit2 / inflateInit2 done */
    uint8_t tx_msg, tx_shared;  /* the message being sent is compressed / uses `shared` */
    uint8_t rx_msg, rx_tail;    /* in a compressed message / its tail given to inflate */
    uint8_t rx_done;            /* a final block (BFINAL) ended this message's data early */
    uint8_t rx_boundary;        /* the last inflate that moved stopped at a block boundary */
    uint8_t rx_pending, in_end; /* streaming input kept for the next chunk / it ends the msg */
    uint8_t in_stash;           /* in_p points into stash */
    z_stream tx, rx;
    const uint8_t *in_p; /* input not yet handed to zlib */
    size_t in_n;
    uint8_t *obuf; /* heap output of the fragment being sent, NULL when the stack sufficed */
    size_t obuf_cap;
    uint8_t *chunk; /* streaming: one chunk of decompressed output */
    uint8_t *stash; /* streaming: compressed input left over when a chunk filled up */
    size_t stash_cap;
    size_t z_step; /* most bytes handed to zlib per call: WS__PMD_Z_STEP (tests lower it) */
#endif
};

#if WS_HAVE_ZLIB
struct ws_deflate_shared {
    ws_allocator alloc;
    int bits;
    z_stream z;
};
#endif

#endif
