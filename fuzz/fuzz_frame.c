/*
 * Fuzz target for the frame layer. The first byte picks the decoder flags, the second the feed
 * pattern; the rest is the wire. Invariants checked (abort on violation):
 *   - the decoder never reports more bytes than it was given, and payload chunks are inside
 *     the input and add up to the header's length;
 *   - every header the decoder accepts is also accepted by ws_frame_parse_header on the same
 *     bytes, and re-encoding it with the raw encoder gives back exactly those bytes.
 */
#include "ws.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned flag_sets[8] = {
        0,
        WS_FRAME_EXPECT_MASKED,
        WS_FRAME_EXPECT_UNMASKED,
        WS_FRAME_ALLOW_RSV1,
        WS_FRAME_LENIENT_LENGTH,
        WS_FRAME_EXPECT_MASKED | WS_FRAME_ALLOW_RSV1 | WS_FRAME_ALLOW_RSV2 |
            WS_FRAME_ALLOW_RSV3,
        WS_FRAME_LENIENT_LENGTH | WS_FRAME_EXPECT_UNMASKED,
        WS_FRAME_ALLOW_RSV2,
    };
    ws_frame_decoder *d;
    uint8_t *wire, *orig;
    size_t n, pos = 0, chunk;
    uint64_t got = 0;
    int in_frame = 0;
    ws_frame_header cur;

    if (size < 2)
        return 0;
    unsigned flags = flag_sets[data[0] & 7];
    uint64_t max = (data[0] & 8) ? 1000 : UINT64_MAX;
    chunk = (size_t)(data[1] % 17);
    n = size - 2;
    wire = malloc(n ? n : 1);
    orig = malloc(n ? n : 1);
    if (!wire || !orig || ws_frame_decoder_new(&d, NULL) != WS_OK)
        abort();
    if (n) {
        memcpy(wire, data + 2, n);
        memcpy(orig, data + 2, n);
    }
    ws_frame_decoder_set_flags(d, flags, max);
    memset(&cur, 0, sizeof cur);

    while (pos <= n) {
        size_t avail = n - pos;
        if (chunk && avail > chunk)
            avail = chunk;
        ws_frame_event ev;
        size_t used = 0;
        int r = ws_frame_decoder_feed(d, wire + pos, avail, &used, &ev, sizeof ev);
        if (r < 0)
            break;
        if (used > avail)
            abort();
        if (ev.type == WS_FRAME_EV_HEADER) {
            ws_frame_header h2;
            uint8_t re[WS_FRAME_MAX_HEADER];
            size_t start = pos + used - ev.header->header_len;
            if (in_frame || ev.header->header_len < 2)
                abort();
            if (ws_frame_parse_header(orig + start, n - start, flags, max, &h2, sizeof h2) !=
                ev.header->header_len)
                abort();
            unsigned lb = ev.header->header_len - (ev.header->masked ? 4u : 0u) - 2u;
            int w = ws_frame_write_header_raw(re, sizeof re, ev.header, sizeof *ev.header,
                                              lb ? lb : 1);
            if (w != ev.header->header_len || memcmp(re, orig + start, (size_t)w) != 0)
                abort();
            cur = *ev.header;
            got = 0;
            in_frame = 1;
        } else if (ev.type == WS_FRAME_EV_DATA) {
            if (!in_frame || ev.offset != got || (ev.len && ev.data != wire + pos))
                abort();
            got += ev.len;
            if (ev.frame_end) {
                if (got != cur.payload_len)
                    abort();
                in_frame = 0;
            }
        } else if (pos + used >= n) {
            break;
        }
        pos += used;
    }
    ws_frame_decoder_free(d);
    free(wire);
    free(orig);
    return 0;
}
