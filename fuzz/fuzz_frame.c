/*
 * Fuzz target for the frame layer. The first byte picks the decoder flags, the second the feed
 * pattern; the rest is the wire. Invariants checked (abort on violation):
 *   - the decoder never reports more bytes than it was given, and payload chunks are inside
 *     the input and add up to the header's length;
 *   - every header the decoder accepts is also accepted by ws_frame_parse_header on the same
 *     bytes, and re-encoding it with the raw encoder gives back exactly those bytes;
 *   - with WS_FRAME_WHOLE, ws_frame_decoder_feed_events (a batch size from the second byte)
 *     gives the very events, headers, error and unmasked bytes of ws_frame_decoder_feed.
 */
#include "ws.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* What an event says, the data as an offset into the buffer (SIZE_MAX: none). */
typedef struct seen {
    uint32_t type, frame_end;
    size_t data_off, len;
    uint64_t offset;
    ws_frame_header h;
} seen;

static void see(seen *s, const ws_frame_event *e, const uint8_t *buf)
{
    memset(s, 0, sizeof *s);
    s->type = e->type;
    s->frame_end = e->frame_end;
    s->data_off = e->data && e->len ? (size_t)(e->data - buf) : SIZE_MAX;
    s->len = e->len;
    s->offset = e->offset;
    s->h = *e->header;
}

static int same(const seen *a, const seen *b)
{
    return a->type == b->type && a->frame_end == b->frame_end && a->data_off == b->data_off &&
           a->len == b->len && a->offset == b->offset && a->h.payload_len == b->h.payload_len &&
           a->h.opcode == b->h.opcode && a->h.fin == b->h.fin && a->h.rsv == b->h.rsv &&
           a->h.masked == b->h.masked && memcmp(a->h.mask, b->h.mask, 4) == 0 &&
           a->h.header_len == b->h.header_len && a->h.non_minimal == b->h.non_minimal &&
           a->h.violations == b->h.violations;
}

/* feed one by one (into one[]) and feed_events in batches of `batch`, over in[0..n) in pieces
 * of `chunk` (0: all at once); abort on any difference. */
static void batch_matches(const uint8_t *in, size_t n, unsigned flags, uint64_t max,
                          size_t chunk, size_t batch)
{
    uint8_t *a = malloc(n ? n : 1), *b = malloc(n ? n : 1);
    seen *one = malloc((2 * n + 2) * sizeof *one);
    ws_frame_decoder *da, *db;
    size_t count = 0, pos = 0, end = 0, got = 0;
    int err_a = 0, err_b = 0;

    if (!a || !b || !one || ws_frame_decoder_new(&da, NULL) != WS_OK ||
        ws_frame_decoder_new(&db, NULL) != WS_OK)
        abort();
    if (n) {
        memcpy(a, in, n);
        memcpy(b, in, n);
    }
    ws_frame_decoder_set_flags(da, flags | WS_FRAME_WHOLE, max);
    ws_frame_decoder_set_flags(db, flags | WS_FRAME_WHOLE, max);
    /* one by one */
    while (!err_a && end < n) {
        end = chunk && n - end > chunk ? end + chunk : n;
        for (;;) {
            ws_frame_event ev;
            size_t used = 0;
            int r = ws_frame_decoder_feed(da, a + pos, end - pos, &used, &ev, sizeof ev);
            if (r < 0) {
                err_a = r;
                break;
            }
            pos += used;
            if (ev.type == WS_FRAME_EV_NONE)
                break;
            if (count == 2 * n + 2)
                abort(); /* more events than bytes could make */
            see(&one[count++], &ev, a);
        }
    }
    /* in batches */
    pos = end = 0;
    while (!err_b && end < n) {
        end = chunk && n - end > chunk ? end + chunk : n;
        for (;;) {
            ws_frame_event evs[WS_FRAME_EVENTS_MAX];
            size_t used = 0;
            int k = ws_frame_decoder_feed_events(db, b + pos, end - pos, &used, evs, batch,
                                                 sizeof evs[0]);
            if (k < 0) {
                err_b = k;
                break;
            }
            if ((size_t)k > batch || used > end - pos)
                abort();
            for (int i = 0; i < k; i++) {
                seen s;
                see(&s, &evs[i], b);
                if (got >= count || !same(&s, &one[got]))
                    abort();
                got++;
            }
            pos += used;
            if ((size_t)k < batch && pos == end)
                break;
        }
    }
    if (got != count || err_a != err_b || (n && memcmp(a, b, n) != 0))
        abort();
    ws_frame_decoder_free(da);
    ws_frame_decoder_free(db);
    free(one);
    free(a);
    free(b);
}

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
    batch_matches(orig, n, flags, max, chunk, 1 + (size_t)(data[1] / 17) % WS_FRAME_EVENTS_MAX);
    free(orig);
    return 0;
}
