/* Private to lib/: the HTTP/1.1 message parser, header lists and token-list grammar shared by
 * the handshake (request and response), the HTTP/2 helper and the URI parser. Not ABI. */
#ifndef WS_LIB_HTTP_H
#define WS_LIB_HTTP_H

#include "internal.h"

#include <stddef.h>
#include <stdint.h>

/* ---- character classes (RFC 9110 section 5.6.2) ---- */

int ws__is_tchar(unsigned c);
/* Field-value byte: VCHAR, obs-text, SP, HTAB. */
int ws__is_vchar_ws(unsigned c);
/* Case-insensitive equality of a[0..an) and b[0..bn) (ASCII only). */
int ws__ieq(const char *a, size_t an, const char *b, size_t bn);
/* A string literal as the (pointer, length) pair the functions here take. */
#define LIT(s) (s), (sizeof(s) - 1)

/* ---- the incremental message parser ---- */

/* A header line: offsets into ws__http.buf. Name and value are NUL-terminated in place. */
typedef struct ws__hdr {
    size_t name, name_len, value, value_len;
} ws__hdr;

enum { WS__HTTP_START = 0, WS__HTTP_HEADERS = 1, WS__HTTP_DONE = 2 };

typedef struct ws__http {
    const ws_allocator *alloc; /* the owner's; outlives this struct */
    char *buf;                 /* the header block, grown up to max_size */
    size_t len, cap;
    size_t line; /* offset of the line being received */
    ws__hdr *hdrs;
    size_t nhdrs, hcap;
    size_t max_size, max_headers;
    uint8_t response; /* parse a status line, not a request line */
    uint8_t state;    /* WS__HTTP_* */
    /* Start line, offsets into buf, NUL-terminated in place. Request: method, target.
     * Response: status code and reason. Both: version major.minor. */
    size_t method, method_len, target, target_len, reason, reason_len;
    int major, minor, status;
} ws__http;

void ws__http_init(ws__http *h, const ws_allocator *a, int response, size_t max_size,
                   size_t max_headers);
/* Free the buffers and return to the initial state (allocator, role and limits kept). */
void ws__http_clear(ws__http *h);
/* Copy bytes until the header block ends. Returns 0 (all of n used), 1 (block complete,
 * *used = bytes up to and including its final LF) or a WS_ERR_HS_* / WS_ERR_NOMEM error
 * (*used = bytes accepted before the offending one). */
int ws__http_feed(ws__http *h, const uint8_t *in, size_t n, size_t *used);
/* Append one name/value pair as a header line without any HTTP/1.1 framing (HTTP/2 path):
 * copies both NUL-terminated, counts against the limits. WS_OK, WS_ERR_HS_TOO_LARGE,
 * WS_ERR_HS_TOO_MANY_HEADERS, WS_ERR_NOMEM. */
int ws__http_add(ws__http *h, const char *name, size_t nlen, const char *value, size_t vlen);

/* The index-th line named name[0..nlen), or NULL. */
const ws__hdr *ws__http_find(const ws__http *h, const char *name, size_t nlen, size_t index);
size_t ws__http_count(const ws__http *h, const char *name, size_t nlen);
/* 1 if any comma-separated element of any line named `name` equals tok (case-insensitive). */
int ws__http_has_token(const ws__http *h, const char *name, const char *tok);

static inline const char *ws__hname(const ws__http *h, const ws__hdr *x)
{
    return h->buf + x->name;
}
static inline const char *ws__hval(const ws__http *h, const ws__hdr *x)
{
    return h->buf + x->value;
}

/* ---- Sec-WebSocket-Protocol / Sec-WebSocket-Extensions lists ---- */

typedef struct ws__ext {
    const char *name;
    size_t name_len;
    size_t first, nparams; /* parameters params[first .. first + nparams) */
} ws__ext;

typedef struct ws__param {
    const char *name;
    size_t name_len;
    const char *value; /* NULL when the parameter has no value */
    size_t value_len;
} ws__param;

typedef struct ws__view {
    const char *p;
    size_t len;
} ws__view;

/*
 * Where the list parsers put what they find. With the arrays and str NULL it only counts
 * (elements, and string bytes needed: every name and value copied NUL-terminated, quoted
 * strings unescaped), so the owner can size one allocation and parse again to fill it. With
 * match set, `found` becomes 1 when an element named match[0..match_len) is seen
 * (case-insensitively for extensions, exactly for subprotocols). With allow set, `bad` becomes
 * 1 when an extension is seen whose name is not among allow[0..nallow).
 */
typedef struct ws__list {
    ws__ext *exts;
    ws__param *params;
    ws__view *protos;
    char *str;
    size_t nexts, nparams, nprotos, str_len;
    const char *match;
    size_t match_len;
    int found;
    const ws__ext *allow;
    size_t nallow;
    int bad;
} ws__list;

/* Parse one Sec-WebSocket-Extensions value (RFC 6455 section 9.1, empty elements allowed).
 * Returns WS_OK or WS_ERR_HS_EXTENSION. */
int ws__parse_extensions(ws__list *l, const char *s, size_t n);
/* Parse one Sec-WebSocket-Protocol value (comma-separated tokens). WS_OK or
 * WS_ERR_HS_SUBPROTOCOL. */
int ws__parse_protocols(ws__list *l, const char *s, size_t n);

/* ---- writing HTTP ---- */

/* An output that counts everything and stores only while it fits: a first pass with p NULL
 * sizes the message, a second writes it. */
typedef struct ws__out {
    uint8_t *p;
    size_t cap, len;
} ws__out;

void ws__put(ws__out *o, const void *s, size_t n);
void ws__puts(ws__out *o, const char *s);
void ws__put_uint(ws__out *o, uint64_t v);

/* Check caller-supplied header lines "Name: value\r\n"... (final CRLF optional). Lines whose
 * name is in the NULL-terminated `forbidden` list are refused. Returns WS_OK or
 * WS_ERR_INVALID_ARG. */
int ws__check_header_lines(const char *s, const char *const *forbidden);
/* Write checked header lines, adding the final CRLF if it was left out. */
void ws__put_header_lines(ws__out *o, const char *s);

/* ---- the handshake object (lib/handshake.c, lib/h2.c) ---- */

enum { WS__HS_IDLE = 0, WS__HS_HEAD = 1, WS__HS_BODY = 2, WS__HS_DONE = 3 };

struct ws_handshake {
    ws_allocator alloc;
    ws__http http;
    ws_random_fn rng;
    void *rng_user;
    size_t max_body;
    int error; /* sticky, 0 if none */
    uint8_t is_client;
    uint8_t state;     /* WS__HS_* */
    uint8_t parsed;    /* header block complete: views available */
    uint8_t h2;        /* request given through ws_h2_* */
    uint8_t h2_fields; /* a regular field was added: no more pseudo-headers */
    /* Subprotocols and extensions of the message, in one allocation. */
    void *lists;
    size_t lists_size;
    ws__view *protos;
    ws__ext *exts;
    ws__param *params;
    size_t nprotos, nexts, nparams;
    /* Client: the key sent and the answer expected; what was offered. */
    uint8_t have_key, requested;
    char key[25], accept[29];
    char *offer; /* offered subprotocols, NUL-terminated one after the other, then extensions */
    size_t offer_size;
    size_t offer_nprotos;
    const char *offer_ext; /* into offer, NULL when no extension was offered */
    /* Client: body of a non-101 response. */
    uint8_t *body;
    size_t body_len, body_want;
};

/* Record a sticky error and return it. */
int ws__hs_fail(ws_handshake *hs, int err);
/* Parse every Sec-WebSocket-Protocol and Sec-WebSocket-Extensions line into hs's lists. A
 * syntax error in either is stored in *perr / *eerr (that list stays empty) for the caller to
 * report in its own order; the return is WS_OK, WS_ERR_HS_TOO_MANY_HEADERS or WS_ERR_NOMEM. */
int ws__hs_build_lists(ws_handshake *hs, int *perr, int *eerr);
/* WS_ERR_HS_DUPLICATE if any of the NULL-terminated names appears on more than one line. */
int ws__hs_check_dups(const ws_handshake *hs, const char *const *names);
/* Client: the Sec-WebSocket-Extensions value of the request (NUL-terminated, owned by hs), NULL
 * when no extension was offered. */
const char *ws__hs_offered_extensions(const ws_handshake *hs);

#endif
