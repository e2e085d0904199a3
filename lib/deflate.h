/* Private to lib/: permessage-deflate (RFC 7692) between the connection and zlib. Not ABI.
 * Negotiation and options: pmd_negotiate.c; the codec: deflate.c (zlib) or deflate_none.c. */
#ifndef WS_LIB_DEFLATE_H
#define WS_LIB_DEFLATE_H

#include "internal.h"

/* The agreement, from this endpoint's point of view: tx is our compressor, rx the peer's. */
typedef struct ws__pmd_neg {
    uint8_t tx_bits, rx_bits;               /* LZ77 window, 8..15 */
    uint8_t tx_no_takeover, rx_no_takeover; /* context reset after every message */
} ws__pmd_neg;

/* Per-connection state: options, the agreement, and the lazily created zlib streams. */
typedef struct ws__pmd ws__pmd;

/* Bytes of compressed input handed to the decompressor at once in streaming mode (bounds the
 * copy kept when a chunk of output fills up), and the size of one decompressed chunk. */
#define WS__PMD_IN_CHUNK 4096u
#define WS__PMD_OUT_CHUNK 16384u

/* LZ77 windows in bits (RFC 7692 section 7.1.2): the protocol allows 8..15; zlib's raw
 * deflate cannot compress with fewer than 9 (see "The 8-bit window" in README.md). */
#define WS__PMD_MIN_BITS 8u
#define WS__PMD_ZLIB_MIN_BITS 9u
#define WS__PMD_MAX_BITS 15u
/* zlib's ranges for memLevel (1..9) and the compression level (0..9). */
#define WS__PMD_MAX_MEM_LEVEL 9u
#define WS__PMD_MAX_LEVEL 9u

/* Room for the longest element ws__pmd_client_offer or ws__pmd_server_answer writes, its NUL
 * included: the name and all four parameters, each window at two digits (a few bytes spare). */
#define WS__PMD_ELEM_MAX                                                                       \
    (sizeof "permessage-deflate" + sizeof "; server_no_context_takeover" +                    \
     sizeof "; client_no_context_takeover" + sizeof "; server_max_window_bits=15" +           \
     sizeof "; client_max_window_bits=15")

/* Compressed output a sender can offer ws__pmd_tx_compress on its stack: small messages then
 * compress without touching the allocator. */
#define WS__PMD_TX_STACK 512u

/* ---- options (WS_OPT_DEFLATE_*) ---- */

int ws__pmd_is_option(int opt);
/* Creates the state on first use (*pp NULL). WS_OK, WS_ERR_INVALID_ARG, WS_ERR_UNSUPPORTED
 * (WS_OPT_DEFLATE = 1 without zlib), WS_ERR_NOMEM. */
int ws__pmd_set_option(ws__pmd **pp, const ws_allocator *a, int opt, uint64_t v);
uint64_t ws__pmd_get_option(const ws__pmd *p, int opt);
int ws__pmd_set_shared(ws__pmd **pp, const ws_allocator *a, ws_deflate_shared *s);
void ws__pmd_free(ws__pmd *p);
/* WS_OPT_DEFLATE is on (and zlib is there). */
int ws__pmd_wanted(const ws__pmd *p);
/* Negotiated: RSV1 means "compressed". */
int ws__pmd_active(const ws__pmd *p);
int ws__pmd_params(const ws__pmd *p, int is_client, ws_deflate_params *out);

/* ---- negotiation ---- */

/* Server: the response element for the first acceptable permessage-deflate offer of the
 * request in hs, written NUL-terminated into out[0..cap) (cap >= WS__PMD_ELEM_MAX), with the
 * agreement in *neg. Returns its length, or 0 when no offer is acceptable (or deflate is not wanted). */
size_t ws__pmd_server_answer(const ws__pmd *p, const ws_handshake *hs, char *out, size_t cap,
                             ws__pmd_neg *neg);
/* Server: configure from a Sec-WebSocket-Extensions response the caller wrote (the first
 * permessage-deflate element in it, if any). WS_OK, WS_ERR_ARG_EXTENSIONS (its parameters are
 * not a valid response), WS_ERR_UNSUPPORTED (no zlib), WS_ERR_NOMEM. */
int ws__pmd_server_explicit(ws__pmd **pp, const ws_allocator *a, const char *response,
                            ws__pmd_neg *neg, int *found);
/* Make an agreement effective (server after the 101 was queued, client after the check). */
int ws__pmd_commit(ws__pmd **pp, const ws_allocator *a, const ws__pmd_neg *neg);
/* Client: our offer, NUL-terminated into out[0..cap) (cap >= WS__PMD_ELEM_MAX); 0 when not
 * wanted. */
size_t ws__pmd_client_offer(const ws__pmd *p, char *out, size_t cap);
/* Client: check the accepted extensions of the response in hs against what was offered;
 * on success *neg and *found (1 if permessage-deflate was accepted). WS_OK,
 * WS_ERR_DEFLATE_NEGOTIATION, WS_ERR_UNSUPPORTED (accepted without zlib), WS_ERR_NOMEM. */
int ws__pmd_client_check(const ws__pmd *p, const ws_allocator *a, const ws_handshake *hs,
                         ws__pmd_neg *neg, int *found);
/* Client, without a handshake object (RFC 8441 / RFC 9220: the caller's HTTP/2 or HTTP/3 stack
 * carried the headers): check the response's Sec-WebSocket-Extensions value[0..len) (NULL or
 * empty: none) against offer (NUL-terminated, what ws__pmd_client_offer wrote; NULL: nothing
 * offered). Any element other than one valid permessage-deflate answer to the offer is
 * WS_ERR_DEFLATE_NEGOTIATION, as is a value that does not parse. Then as above. */
int ws__pmd_client_check_value(const ws__pmd *p, const ws_allocator *a, const char *offer,
                               const char *value, size_t len, ws__pmd_neg *neg, int *found);

/* ---- sending ---- */

/* At a message's first fragment: 1 if it is to be compressed (then RSV1 on its first frame).
 * whole: the message is sent in one call, len its length (the threshold applies). */
int ws__pmd_tx_begin(ws__pmd *p, size_t len, int whole, unsigned flags);
/* The message in progress is compressed. */
int ws__pmd_tx_compressing(const ws__pmd *p);
/* Compress one fragment (fin: the last; its trailing 00 00 ff ff is removed). The output is in
 * stack[0..stack_cap) if it fits, else in a buffer of p's; *out and *out_len point to it, valid
 * until ws__pmd_tx_done. WS_OK, WS_ERR_NOMEM. */
int ws__pmd_tx_compress(ws__pmd *p, const uint8_t *in, size_t n, int fin, uint8_t *stack,
                        size_t stack_cap, const uint8_t **out, size_t *out_len);
/* The fragment was queued (ok) or not: frees the output buffer; after a failure resets the
 * compressor (always safe: the peer only ever sees references to bytes it received); at the
 * end of a message frees a compressor without context takeover. */
void ws__pmd_tx_done(ws__pmd *p, int fin, int ok);

/* ---- receiving ---- */

/* A compressed message starts (RSV1 on its first frame). WS_OK or WS_ERR_NOMEM. */
int ws__pmd_rx_begin(ws__pmd *p);
/* A compressed message is being received. */
int ws__pmd_rx_in_message(const ws__pmd *p);
/* Decompress in[0..n) (msg_end: the message's last bytes; the tail is restored) onto the end
 * of the growable buffer *buf (*len used, *cap allocated), producing at most limit bytes in
 * all and at most step bytes in this call (0: no bound); with in NULL, continue input kept
 * by an earlier call. WS_OK (the input is used up), 1 (step reached: the rest of the input is
 * kept, ws__pmd_rx_pending says so), WS_ERR_MESSAGE_TOO_BIG, WS_ERR_DEFLATE_DATA,
 * WS_ERR_NOMEM. */
int ws__pmd_rx_append(ws__pmd *p, const uint8_t *in, size_t n, int msg_end, uint8_t **buf,
                      size_t *len, size_t *cap, uint64_t limit, size_t step);
/* Streaming: decompress the next chunk (at most WS__PMD_OUT_CHUNK and max_out bytes) of in[0..n), or with
 * in NULL continue the pending input. *out and *out_len: the chunk, valid until the next call.
 * Returns 1 (more output may follow: the unread input was copied), 0 (input used up; with
 * msg_end that was the message's last chunk), or WS_ERR_DEFLATE_DATA / WS_ERR_NOMEM. */
int ws__pmd_rx_stream(ws__pmd *p, const uint8_t *in, size_t n, int msg_end, size_t max_out,
                      const uint8_t **out, size_t *out_len);
/* 0: nothing pending; 1: pending input; 2: pending input that ends the message. */
int ws__pmd_rx_pending(const ws__pmd *p);
/* The compressed message ended: frees a decompressor without context takeover. */
void ws__pmd_rx_end(ws__pmd *p);

/* For tests: hand zlib at most step bytes of input or output room per call (64..1 GiB; the
 * default is 1 GiB, zlib's uInt counts), so that slicing, which otherwise only a message
 * over 1 GiB meets, runs with small ones. No-op without zlib. */
void ws__pmd_set_zlib_step(ws__pmd *p, size_t step);

#endif
