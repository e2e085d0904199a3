/*
 * Fuzz target for the client side of the opening handshake: the parser of the server's
 * response and the negotiation checks. Byte 0: bits 0-1 pick the offers (subprotocols
 * "chat"/"superchat" and/or permessage-deflate), bit 2 a 16-byte body limit, bits 3-7 the
 * piece size (0: byte by byte); the rest is the server's response. The random hook is fixed,
 * so the key and the expected Sec-WebSocket-Accept value are constant (see make_seeds.py).
 * Invariants (abort on violation):
 *   - feed never consumes more than it was given; same outcome and count in one piece or many;
 *   - on success the header block ends exactly at the bytes consumed, the status is 101, the
 *     chosen subprotocol (at most one) was offered exactly, every extension name was offered;
 *   - WS_ERR_HS_STATUS comes with a status 100..599 other than 101 and a body no longer than
 *     the body limit;
 *   - every view is NUL-terminated and free of CR, LF and NUL.
 */
#include "ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                          \
    do {                                                                                  \
        if (!(c)) {                                                                       \
            fprintf(stderr, "fuzz_handshake_client.c:%d: invariant failed: %s\n", __LINE__, \
                    #c);                                                                  \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

static int key_rng(void *user, void *buf, size_t n)
{
    uint8_t *p = buf;
    (void)user;
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i * 37u + 11u);
    return 0;
}

static int ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a >= 'A' && *a <= 'Z' ? (char)(*a + 32) : *a;
        char y = *b >= 'A' && *b <= 'Z' ? (char)(*b + 32) : *b;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

static void check_view(const char *p, size_t n)
{
    CHECK(p != NULL && p[n] == '\0');
    CHECK(!memchr(p, '\0', n) && !memchr(p, '\r', n) && !memchr(p, '\n', n));
}

typedef struct outcome {
    int r;
    size_t used;
} outcome;

static outcome run(unsigned cfg, const uint8_t *msg, size_t n, size_t step)
{
    static const char *const protos[] = {"chat", "superchat"};
    static uint8_t req[4096];
    int offer_protos = (cfg & 3) != 1 && (cfg & 3) != 2;
    int offer_deflate = (cfg & 3) == 0 || (cfg & 3) == 2;
    ws_handshake *hs = NULL;
    outcome o = {0, 0};
    size_t pos = 0;

    CHECK(ws_handshake_new(&hs, WS_ROLE_CLIENT, NULL) == WS_OK);
    ws_handshake_set_random(hs, key_rng, NULL);
    if (cfg & 4)
        CHECK(ws_handshake_set_max_body(hs, 16) == WS_OK);
    CHECK(ws_handshake_client_request(hs, "ws://example.com/chat?x=1", 25, protos,
                                      offer_protos ? 2 : 0,
                                      offer_deflate ? "permessage-deflate; client_max_window_bits"
                                                    : NULL,
                                      "Origin: http://example.com\r\n", req, sizeof req,
                                      NULL) > 0);
    while (pos < n) {
        size_t k = step && n - pos > step ? step : n - pos, used = (size_t)-1;
        o.r = ws_handshake_feed(hs, msg + pos, k, &used);
        CHECK(used <= k);
        o.used += used;
        if (o.r != 0)
            break;
        CHECK(used == k);
        pos += k;
    }
    CHECK(ws_handshake_result(hs) == o.r);
    CHECK(o.r <= WS_HANDSHAKE_COMPLETE &&
          (o.r >= 0 || strcmp(ws_errname(o.r), "WS_ERR_UNKNOWN") != 0));

    if (o.r == WS_HANDSHAKE_COMPLETE) {
        const char *p;
        size_t pn, np;
        CHECK(ws_handshake_status(hs) == 101);
        CHECK(o.used >= 4 && memcmp(msg + o.used - 4, "\r\n\r\n", 4) == 0);
        CHECK(ws_handshake_subprotocol_count(hs) <= 1);
        if (ws_handshake_subprotocol_count(hs) == 1) {
            CHECK(ws_handshake_subprotocol(hs, 0, &p, &pn) == WS_OK);
            check_view(p, pn);
            CHECK(offer_protos && (strcmp(p, "chat") == 0 || strcmp(p, "superchat") == 0));
        }
        for (size_t i = 0; i < ws_handshake_extension_count(hs); i++) {
            CHECK(ws_handshake_extension(hs, i, &p, &pn, &np) == WS_OK);
            check_view(p, pn);
            CHECK(offer_deflate && ieq(p, "permessage-deflate"));
            for (size_t j = 0; j < np; j++) {
                const char *v;
                size_t vn;
                CHECK(ws_handshake_extension_param(hs, i, j, &p, &pn, &v, &vn) == WS_OK);
                check_view(p, pn);
                if (v)
                    check_view(v, vn);
                else
                    CHECK(vn == 0);
            }
        }
    } else if (o.r == WS_ERR_HS_STATUS) {
        const uint8_t *b;
        size_t bn;
        const char *p;
        size_t pn;
        int st = ws_handshake_status(hs);
        CHECK(st >= 100 && st <= 599 && st != 101);
        int br = ws_handshake_body(hs, &b, &bn);
        /* no body byte kept: WS_ERR_NOT_FOUND with the view NULL, 0 (rule 2) */
        CHECK((br == WS_OK && b != NULL && bn > 0) ||
              (br == WS_ERR_NOT_FOUND && b == NULL && bn == 0));
        CHECK(bn <= ((cfg & 4) ? 16u : WS_DEFAULT_MAX_BODY));
        CHECK(ws_handshake_reason(hs, &p, &pn) == WS_OK);
        check_view(p, pn);
    }
    if (o.r != 0) {
        for (size_t i = 0; i < ws_handshake_header_count(hs); i++) {
            const char *nm, *v;
            size_t nn, vn;
            CHECK(ws_handshake_header_at(hs, i, &nm, &nn, &v, &vn) == WS_OK);
            check_view(nm, nn);
            check_view(v, vn);
        }
    }
    ws_handshake_free(hs);
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    outcome once, split;

    if (size < 1)
        return 0;
    once = run(data[0], data + 1, size - 1, 0);
    split = run(data[0], data + 1, size - 1, (size_t)(data[0] >> 3) + 1);
    CHECK(once.r == split.r && once.used == split.used);
    return 0;
}
