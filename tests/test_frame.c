/* Frame layer: header codec, raw encoder, incremental decoder. */
#include "testutil.h"

#include "ws.h"

#include <limits.h>
#include <stdlib.h>

/* ---- a tiny collector: decode a buffer fed in pieces, record frames ---- */

#define MAX_FRAMES 8

typedef struct collected {
    int nframes;
    ws_frame_header hdr[MAX_FRAMES];
    uint8_t *payload[MAX_FRAMES];
    size_t plen[MAX_FRAMES];
    int err;
    int whole; /* frames that came as one event (WS_FRAME_WHOLE) */
} collected;

static void collected_free(collected *c)
{
    for (int i = 0; i < c->nframes; i++)
        free(c->payload[i]);
}

/* A decoder with the default allocator, asserting it was created. */
static ws_frame_decoder *new_decoder(void)
{
    ws_frame_decoder *d = NULL;
    assert_int_equal(ws_frame_decoder_new(&d, NULL), WS_OK);
    assert_non_null(d);
    return d;
}

/* Two headers say the same, field by field. */
static void expect_same_header(const ws_frame_header *a, const ws_frame_header *b)
{
    assert_true(a->payload_len == b->payload_len);
    assert_int_equal(a->opcode, b->opcode);
    assert_int_equal(a->fin, b->fin);
    assert_int_equal(a->rsv, b->rsv);
    assert_int_equal(a->masked, b->masked);
    assert_memory_equal(a->mask, b->mask, 4);
    assert_int_equal(a->header_len, b->header_len);
    assert_int_equal(a->non_minimal, b->non_minimal);
    assert_int_equal(a->violations, b->violations);
}

/* Feed `wire` (copied, the decoder unmasks in place) in pieces: the first piece `split` bytes,
 * then pieces of `step` bytes (0: the rest at once). */
static collected decode_split(const uint8_t *wire, size_t n, unsigned flags, uint64_t max,
                              size_t split, size_t step)
{
    collected c;
    uint8_t *buf = malloc(n ? n : 1);
    ws_frame_decoder *d = new_decoder();
    size_t pos = 0, end;
    int in_frame = 0;

    memset(&c, 0, sizeof c);
    assert_non_null(buf);
    memcpy(buf, wire, n);
    assert_int_equal(ws_frame_decoder_set_flags(d, flags, max), WS_OK);
    end = split < n ? split : n;
    for (;;) {
        ws_frame_event ev;
        size_t used = 0;
        int r = ws_frame_decoder_feed(d, buf + pos, end - pos, &used, &ev, sizeof ev);
        if (r < 0) {
            c.err = r;
            break;
        }
        assert_true(used <= end - pos);
        pos += used;
        if (ev.type == WS_FRAME_EV_HEADER) {
            assert_false(in_frame);
            assert_true(c.nframes < MAX_FRAMES);
            c.hdr[c.nframes] = *ev.header;
            c.payload[c.nframes] = malloc(ev.header->payload_len ? ev.header->payload_len : 1);
            assert_non_null(c.payload[c.nframes]);
            c.plen[c.nframes] = 0;
            in_frame = 1;
        } else if (ev.type == WS_FRAME_EV_DATA && !in_frame) {
            /* WS_FRAME_WHOLE: a frame in one event, header and all of its payload */
            assert_true(flags & WS_FRAME_WHOLE);
            assert_int_equal(ev.frame_end, 1);
            assert_int_equal(ev.offset, 0);
            assert_int_equal(ev.len, ev.header->payload_len);
            assert_true(c.nframes < MAX_FRAMES);
            c.hdr[c.nframes] = *ev.header;
            c.payload[c.nframes] = malloc(ev.len ? ev.len : 1);
            assert_non_null(c.payload[c.nframes]);
            if (ev.len)
                memcpy(c.payload[c.nframes], ev.data, ev.len);
            c.plen[c.nframes] = ev.len;
            c.nframes++;
            c.whole++;
        } else if (ev.type == WS_FRAME_EV_DATA) {
            assert_true(in_frame);
            assert_true(ev.frame_end == 0 || ev.frame_end == 1); /* a flag: 1 at the end */
            assert_int_equal(ev.offset, c.plen[c.nframes]);
            if (ev.len)
                memcpy(c.payload[c.nframes] + c.plen[c.nframes], ev.data, ev.len);
            c.plen[c.nframes] += ev.len;
            if (ev.frame_end) {
                assert_int_equal(c.plen[c.nframes], c.hdr[c.nframes].payload_len);
                c.nframes++;
                in_frame = 0;
            }
        } else {
            assert_int_equal(pos, end);
            if (end == n)
                break;
            end = step ? (end + step < n ? end + step : n) : n;
        }
    }
    ws_frame_decoder_free(d);
    free(buf);
    if (!c.err)
        assert_false(in_frame);
    return c;
}

static void expect_encode(const ws_frame_header *h, const char *payload, size_t plen,
                          const uint8_t *wire, size_t wlen)
{
    uint8_t out[64];
    int r = ws_frame_encode(out, sizeof out, h, sizeof *h, payload, plen);
    assert_int_equal(r, (int)wlen);
    assert_memory_equal(out, wire, wlen);
    /* One byte short of room is refused, and nothing beyond cap is touched. */
    r = ws_frame_encode(out, wlen - 1, h, sizeof *h, payload, plen);
    assert_int_equal(r, WS_ERR_BUFFER_TOO_SMALL);
}

static void expect_decode(const uint8_t *wire, size_t wlen, unsigned flags, uint8_t op,
                          int fin, int masked, const char *payload, size_t plen)
{
    for (size_t split = 0; split <= wlen; split++) {
        for (size_t step = 0; step <= 1; step++) {
            collected c = decode_split(wire, wlen, flags, UINT64_MAX, split, step);
            assert_int_equal(c.err, 0);
            assert_int_equal(c.nframes, 1);
            assert_int_equal(c.hdr[0].opcode, op);
            assert_int_equal(c.hdr[0].fin, fin);
            assert_int_equal(c.hdr[0].masked, masked);
            assert_int_equal(c.plen[0], plen);
            if (plen)
                assert_memory_equal(c.payload[0], payload, plen);
            collected_free(&c);
        }
    }
}

/* RFC 6455 section 5.7, byte-exact in both directions. */
static void test_rfc_examples(void **state)
{
    (void)state;
    static const uint8_t hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    static const uint8_t hello_masked[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
                                           0x9f, 0x4d, 0x51, 0x58};
    static const uint8_t frag1[] = {0x01, 0x03, 0x48, 0x65, 0x6c};
    static const uint8_t frag2[] = {0x80, 0x02, 0x6c, 0x6f};
    static const uint8_t ping[] = {0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    static const uint8_t pong_masked[] = {0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f,
                                          0x9f, 0x4d, 0x51, 0x58};
    ws_frame_header h;

    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = WS_OP_TEXT;
    expect_encode(&h, "Hello", 5, hello, sizeof hello);
    expect_decode(hello, sizeof hello, WS_FRAME_EXPECT_UNMASKED, WS_OP_TEXT, 1, 0, "Hello", 5);

    h.masked = 1;
    memcpy(h.mask, "\x37\xfa\x21\x3d", 4);
    expect_encode(&h, "Hello", 5, hello_masked, sizeof hello_masked);
    expect_decode(hello_masked, sizeof hello_masked, WS_FRAME_EXPECT_MASKED, WS_OP_TEXT, 1, 1,
                  "Hello", 5);

    memset(&h, 0, sizeof h);
    h.opcode = WS_OP_TEXT;
    expect_encode(&h, "Hel", 3, frag1, sizeof frag1);
    expect_decode(frag1, sizeof frag1, 0, WS_OP_TEXT, 0, 0, "Hel", 3);
    h.opcode = WS_OP_CONTINUATION;
    h.fin = 1;
    expect_encode(&h, "lo", 2, frag2, sizeof frag2);
    expect_decode(frag2, sizeof frag2, 0, WS_OP_CONTINUATION, 1, 0, "lo", 2);

    h.opcode = WS_OP_PING;
    expect_encode(&h, "Hello", 5, ping, sizeof ping);
    expect_decode(ping, sizeof ping, 0, WS_OP_PING, 1, 0, "Hello", 5);

    h.opcode = WS_OP_PONG;
    h.masked = 1;
    memcpy(h.mask, "\x37\xfa\x21\x3d", 4);
    expect_encode(&h, "Hello", 5, pong_masked, sizeof pong_masked);
    expect_decode(pong_masked, sizeof pong_masked, 0, WS_OP_PONG, 1, 1, "Hello", 5);
}

/* The 256-byte and 64 KiB binary examples of 5.7: headers byte-exact, payload round trip. */
static void test_rfc_examples_long(void **state)
{
    (void)state;
    static const uint8_t h256[] = {0x82, 0x7E, 0x01, 0x00};
    static const uint8_t h64k[] = {0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00};
    ws_frame_header h;
    uint8_t out[16];

    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = WS_OP_BINARY;
    h.payload_len = 256;
    assert_int_equal(ws_frame_write_header(out, sizeof out, &h, sizeof h), 4);
    assert_memory_equal(out, h256, 4);
    h.payload_len = 65536;
    assert_int_equal(ws_frame_write_header(out, sizeof out, &h, sizeof h), 10);
    assert_memory_equal(out, h64k, 10);

    memset(&h, 0xAA, sizeof h);
    assert_int_equal(ws_frame_parse_header(h256, sizeof h256, 0, UINT64_MAX, &h, sizeof h), 4);
    assert_int_equal(h.payload_len, 256);
    assert_int_equal(h.opcode, WS_OP_BINARY);
    assert_int_equal(ws_frame_parse_header(h64k, sizeof h64k, 0, UINT64_MAX, &h, sizeof h), 10);
    assert_int_equal(h.payload_len, 65536);
    assert_int_equal(h.header_len, 10);
    assert_int_equal(h.non_minimal, 0);
}

/* Every length boundary, masked and not, fed at every split point (header + payload). */
static void test_length_boundaries(void **state)
{
    (void)state;
    static const uint64_t lens[] = {0, 1, 125, 126, 127, 65535, 65536};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        for (int masked = 0; masked <= 1; masked++) {
            size_t plen = (size_t)lens[li];
            size_t cap = plen + WS_FRAME_MAX_HEADER;
            uint8_t *payload = malloc(plen + 1), *wire = malloc(cap);
            ws_frame_header h;
            int n;

            assert_non_null(payload);
            assert_non_null(wire);
            test_fill(payload, plen, (uint32_t)plen + 7);
            memset(&h, 0, sizeof h);
            h.fin = 1;
            h.opcode = WS_OP_BINARY;
            h.masked = (uint8_t)masked;
            memcpy(h.mask, "\x01\x80\xfe\x55", 4);
            n = ws_frame_encode(wire, cap, &h, sizeof h, payload, plen);
            assert_int_equal(n, (int)(ws_frame_header_size(plen, masked) + plen));
            /* Every split point for small frames; for big ones every point in the header and a
             * stride through the payload (each split is a full decode). */
            size_t hl = ws_frame_header_size(plen, masked);
            for (size_t split = 0; split <= (size_t)n; split++) {
                if (plen > 300 && split > hl + 3 && split < (size_t)n - 3 && split % 997)
                    continue;
                collected c = decode_split(wire, (size_t)n, 0, UINT64_MAX, split, 0);
                assert_int_equal(c.err, 0);
                assert_int_equal(c.nframes, 1);
                assert_int_equal(c.hdr[0].payload_len, plen);
                assert_int_equal(c.hdr[0].header_len, hl);
                if (plen)
                    assert_memory_equal(c.payload[0], payload, plen);
                collected_free(&c);
            }
            /* One byte at a time, every header byte a separate feed. */
            if (plen <= 65536) {
                collected c = decode_split(wire, (size_t)n, 0, UINT64_MAX, 1, 1);
                assert_int_equal(c.err, 0);
                assert_int_equal(c.nframes, 1);
                if (plen)
                    assert_memory_equal(c.payload[0], payload, plen);
                collected_free(&c);
            }
            free(payload);
            free(wire);
        }
    }
}

/* 2^32 and the largest legal length: header only, parsed at every split point. */
static void test_length_huge_header_only(void **state)
{
    (void)state;
    static const uint64_t lens[] = {UINT64_C(1) << 32, (UINT64_C(1) << 63) - 1};
    for (size_t li = 0; li < 2; li++) {
        ws_frame_header h, got;
        uint8_t wire[WS_FRAME_MAX_HEADER];
        memset(&h, 0, sizeof h);
        h.fin = 1;
        h.opcode = WS_OP_BINARY;
        h.payload_len = lens[li];
        h.masked = 1;
        memcpy(h.mask, "abcd", 4);
        int n = ws_frame_write_header(wire, sizeof wire, &h, sizeof h);
        assert_int_equal(n, 14);
        assert_int_equal(wire[1], 0x80 | 127);
        for (int k = 0; k < n; k++)
            assert_int_equal(
                ws_frame_parse_header(wire, (size_t)k, 0, UINT64_MAX, &got, sizeof got), 0);
        assert_int_equal(ws_frame_parse_header(wire, (size_t)n, 0, UINT64_MAX, &got, sizeof got),
                         14);
        assert_int_equal(got.payload_len, lens[li]);
        assert_memory_equal(got.mask, "abcd", 4);
        /* The decoder: header event after exactly 14 bytes, whatever the split. */
        for (int split = 0; split <= n; split++) {
            ws_frame_decoder *d = new_decoder();
            ws_frame_event ev;
            size_t used;
            uint8_t buf[WS_FRAME_MAX_HEADER];
            memcpy(buf, wire, sizeof buf);
            assert_int_equal(ws_frame_decoder_feed(d, buf, (size_t)split, &used, &ev, sizeof ev),
                             0);
            if (split == n) {
                assert_int_equal(ev.type, WS_FRAME_EV_HEADER);
                assert_int_equal(used, 14);
            } else {
                assert_int_equal(ev.type, WS_FRAME_EV_NONE);
                assert_int_equal(used, (size_t)split);
                assert_int_equal(ws_frame_decoder_feed(d, buf + split, (size_t)(n - split), &used,
                                                       &ev, sizeof ev),
                                 0);
                assert_int_equal(ev.type, WS_FRAME_EV_HEADER);
                assert_int_equal(used, (size_t)(n - split));
            }
            assert_int_equal(ev.header->payload_len, lens[li]);
            ws_frame_decoder_free(d);
        }
    }
}

/* Each malformed header gets its own error, from the first byte that shows it, and no byte
 * past the input is read (the input ends at a guard page). */
static void expect_error_guarded(const uint8_t *wire, size_t n, unsigned flags, uint64_t max,
                                 int err, size_t decided_at)
{
    ws_frame_header h;
    for (size_t k = 0; k <= n; k++) {
        guarded g = guarded_copy(wire, k);
        int r = ws_frame_parse_header(g.data, k, flags, max, &h, sizeof h);
        if (k < decided_at)
            assert_int_equal(r, 0);
        else
            assert_int_equal(r, err);
        guarded_free(&g);
    }
    /* And through the decoder, byte at a time. */
    collected c = decode_split(wire, n, flags, max, 1, 1);
    assert_int_equal(c.err, err);
    assert_int_equal(c.nframes, 0);
    collected_free(&c);
}

static void test_malformed_headers(void **state)
{
    (void)state;
    static const uint8_t rsvd_op3[] = {0x83, 0x00};
    static const uint8_t rsvd_opB[] = {0x8B, 0x00};
    static const uint8_t rsv1[] = {0xC1, 0x00};
    static const uint8_t rsv2[] = {0xA1, 0x00};
    static const uint8_t rsv3[] = {0x91, 0x00};
    static const uint8_t rsv3_cont[] = {0x90, 0x00}; /* a final continuation with RSV3 */
    static const uint8_t frag_ping[] = {0x09, 0x00};
    static const uint8_t long_ping[] = {0x89, 0x7E, 0x00, 0x7E};
    static const uint8_t unmasked[] = {0x81, 0x00};
    static const uint8_t masked[] = {0x81, 0x80, 1, 2, 3, 4};
    static const uint8_t msb[] = {0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t nonmin16[] = {0x82, 0x7E, 0x00, 0x7D};
    static const uint8_t nonmin64[] = {0x82, 0x7F, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF};
    static const uint8_t toolarge[] = {0x82, 0x7E, 0x01, 0x01};

    expect_error_guarded(rsvd_op3, 2, 0, UINT64_MAX, WS_ERR_FRAME_RESERVED_OPCODE, 1);
    expect_error_guarded(rsvd_opB, 2, 0, UINT64_MAX, WS_ERR_FRAME_RESERVED_OPCODE, 1);
    expect_error_guarded(rsv1, 2, 0, UINT64_MAX, WS_ERR_FRAME_RSV, 1);
    expect_error_guarded(rsv1, 2, WS_FRAME_ALLOW_RSV2 | WS_FRAME_ALLOW_RSV3, UINT64_MAX,
                         WS_ERR_FRAME_RSV, 1);
    expect_error_guarded(rsv2, 2, WS_FRAME_ALLOW_RSV1, UINT64_MAX, WS_ERR_FRAME_RSV, 1);
    expect_error_guarded(rsv3, 2, WS_FRAME_ALLOW_RSV1, UINT64_MAX, WS_ERR_FRAME_RSV, 1);
    expect_error_guarded(rsv3_cont, 2, 0, UINT64_MAX, WS_ERR_FRAME_RSV, 1);
    /* ... and through the decoder's whole-frame path, with all of the frame there */
    for (unsigned b = 0; b < 3; b++) {
        const uint8_t rsv_cont[] = {(uint8_t)(0x80 | (0x10 << b)), 0x00};
        collected cw = decode_split(rsv_cont, 2, WS_FRAME_WHOLE, UINT64_MAX, 2, 2);
        assert_int_equal(cw.err, WS_ERR_FRAME_RSV);
        assert_int_equal(cw.nframes, 0);
        collected_free(&cw);
    }
    expect_error_guarded(frag_ping, 2, 0, UINT64_MAX, WS_ERR_FRAME_CONTROL_FRAGMENTED, 1);
    expect_error_guarded(long_ping, 4, 0, UINT64_MAX, WS_ERR_FRAME_CONTROL_TOO_LONG, 2);
    expect_error_guarded(unmasked, 2, WS_FRAME_EXPECT_MASKED, UINT64_MAX,
                         WS_ERR_FRAME_UNMASKED, 2);
    expect_error_guarded(masked, 6, WS_FRAME_EXPECT_UNMASKED, UINT64_MAX, WS_ERR_FRAME_MASKED,
                         2);
    expect_error_guarded(msb, 10, 0, UINT64_MAX, WS_ERR_FRAME_LEN64_MSB, 3);
    expect_error_guarded(nonmin16, 4, 0, UINT64_MAX, WS_ERR_FRAME_NON_MINIMAL_LENGTH, 4);
    expect_error_guarded(nonmin64, 10, 0, UINT64_MAX, WS_ERR_FRAME_NON_MINIMAL_LENGTH, 10);
    expect_error_guarded(toolarge, 4, 0, 256, WS_ERR_FRAME_TOO_LARGE, 4);
    /* 64-bit too large is caught before the mask key arrives. */
    static const uint8_t big64[] = {0x82, 0xFF, 0, 0, 0, 1, 0, 0, 0, 0, 1, 2, 3, 4};
    expect_error_guarded(big64, 14, 0, UINT64_C(0xFFFFFFFF), WS_ERR_FRAME_TOO_LARGE, 10);

    /* Allowed RSV bits pass and are reported; lenient lengths are flagged, not refused. */
    ws_frame_header h;
    assert_int_equal(ws_frame_parse_header(rsv1, 2, WS_FRAME_ALLOW_RSV1, UINT64_MAX, &h, sizeof h),
                     2);
    assert_int_equal(h.rsv, WS_RSV1);
    /* Each RSV bit is allowed by its own flag, and by no other. */
    assert_int_equal(ws_frame_parse_header(rsv2, 2, WS_FRAME_ALLOW_RSV2, UINT64_MAX, &h, sizeof h),
                     2);
    assert_int_equal(h.rsv, WS_RSV2);
    assert_int_equal(ws_frame_parse_header(rsv3, 2, WS_FRAME_ALLOW_RSV3, UINT64_MAX, &h, sizeof h),
                     2);
    assert_int_equal(h.rsv, WS_RSV3);
    expect_error_guarded(rsv2, 2, WS_FRAME_ALLOW_RSV1 | WS_FRAME_ALLOW_RSV3, UINT64_MAX,
                         WS_ERR_FRAME_RSV, 1);
    expect_error_guarded(rsv3, 2, WS_FRAME_ALLOW_RSV1 | WS_FRAME_ALLOW_RSV2, UINT64_MAX,
                         WS_ERR_FRAME_RSV, 1);
    assert_int_equal(
        ws_frame_parse_header(nonmin16, 4, WS_FRAME_LENIENT_LENGTH, UINT64_MAX, &h, sizeof h), 4);
    assert_int_equal(h.non_minimal, 1);
    assert_int_equal(h.payload_len, 125);
    assert_int_equal(
        ws_frame_parse_header(nonmin64, 10, WS_FRAME_LENIENT_LENGTH, UINT64_MAX, &h, sizeof h), 10);
    assert_int_equal(h.non_minimal, 1);
    assert_int_equal(h.payload_len, 65535);
    /* Exactly at the limit is fine. */
    assert_int_equal(ws_frame_parse_header(toolarge, 4, 0, 257, &h, sizeof h), 4);
    /* A 125-byte ping is fine, 126 is not. */
    static const uint8_t ping125[] = {0x89, 0x7D};
    assert_int_equal(ws_frame_parse_header(ping125, 2, 0, UINT64_MAX, &h, sizeof h), 2);
    /* Bad arguments. */
    assert_int_equal(ws_frame_parse_header(NULL, 1, 0, UINT64_MAX, &h, sizeof h),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(
        ws_frame_parse_header(ping125, 2, 0, UINT64_MAX, NULL, sizeof(ws_frame_header)),
        WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_parse_header(NULL, 0, 0, UINT64_MAX, &h, sizeof h), 0);
    /* An incomplete header leaves *h as it was (written only on success). */
    ws_frame_header before;
    memset(&h, 0xAB, sizeof h);
    before = h;
    assert_int_equal(ws_frame_parse_header(toolarge, 3, 0, UINT64_MAX, &h, sizeof h), 0);
    assert_memory_equal(&h, &before, sizeof h);
    assert_int_equal(ws_frame_parse_header(toolarge, 1, 0, UINT64_MAX, &h, sizeof h), 0);
    assert_memory_equal(&h, &before, sizeof h);
}

/* A conforming sender refuses what a receiver would reject; raw mode writes it anyway and the
 * decoder then names the exact rule. */
static void test_encoder_validation_and_raw(void **state)
{
    (void)state;
    ws_frame_header h;
    uint8_t out[32];
    int n;

    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = 0x3;
    assert_int_equal(ws_frame_write_header(out, sizeof out, &h, sizeof h),
                     WS_ERR_FRAME_RESERVED_OPCODE);
    n = ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 0);
    assert_int_equal(n, 2);
    assert_int_equal(ws_frame_parse_header(out, 2, 0, UINT64_MAX, &h, sizeof h),
                     WS_ERR_FRAME_RESERVED_OPCODE);

    memset(&h, 0, sizeof h);
    h.opcode = WS_OP_PING;
    assert_int_equal(ws_frame_write_header(out, sizeof out, &h, sizeof h),
                     WS_ERR_FRAME_CONTROL_FRAGMENTED);
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 0), 2);
    assert_int_equal(out[0], 0x09);

    h.fin = 1;
    h.payload_len = 126;
    assert_int_equal(ws_frame_write_header(out, sizeof out, &h, sizeof h),
                     WS_ERR_FRAME_CONTROL_TOO_LONG);
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 0), 4);
    assert_int_equal(ws_frame_parse_header(out, 4, 0, UINT64_MAX, &h, sizeof h),
                     WS_ERR_FRAME_CONTROL_TOO_LONG);

    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = WS_OP_TEXT;
    h.rsv = WS_RSV1 | WS_RSV2 | WS_RSV3;
    assert_int_equal(ws_frame_write_header(out, sizeof out, &h, sizeof h), 2);
    assert_int_equal(out[0], 0xF1);
    h.rsv = 0x08; /* not an RSV bit */
    assert_int_equal(ws_frame_write_header(out, sizeof out, &h, sizeof h), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 0),
                     WS_ERR_INVALID_ARG);
    h.rsv = 0;
    h.opcode = 16;
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 0),
                     WS_ERR_INVALID_ARG);
    /* Not an opcode at all (a bad argument), not a reserved one. */
    assert_int_equal(ws_frame_write_header(out, sizeof out, &h, sizeof h), WS_ERR_INVALID_ARG);
    h.opcode = WS_OP_TEXT;

    /* Non-minimal lengths on purpose. */
    h.payload_len = 5;
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 2), 4);
    assert_memory_equal(out, "\x81\x7E\x00\x05", 4);
    assert_int_equal(ws_frame_parse_header(out, 4, 0, UINT64_MAX, &h, sizeof h),
                     WS_ERR_FRAME_NON_MINIMAL_LENGTH);
    h.payload_len = 5;
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 8), 10);
    assert_memory_equal(out, "\x81\x7F\0\0\0\0\0\0\0\x05", 10);
    h.payload_len = 300;
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 1),
                     WS_ERR_INVALID_ARG);
    /* each encoding up to its largest length, and not one more */
    h.payload_len = 125;
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 1), 2);
    h.payload_len = 126;
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 1),
                     WS_ERR_INVALID_ARG);
    h.payload_len = 65535;
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 2), 4);
    assert_memory_equal(out, "\x81\x7E\xFF\xFF", 4);
    h.payload_len = 65536;
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 2),
                     WS_ERR_INVALID_ARG);
    h.payload_len = 70000;
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 2),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 3),
                     WS_ERR_INVALID_ARG);

    /* Top bit of the 64-bit length. */
    h.payload_len = UINT64_C(1) << 63;
    assert_int_equal(ws_frame_write_header(out, sizeof out, &h, sizeof h), WS_ERR_FRAME_LEN64_MSB);
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 0), 10);
    assert_int_equal(ws_frame_parse_header(out, 10, 0, UINT64_MAX, &h, sizeof h),
                     WS_ERR_FRAME_LEN64_MSB);

    /* Wrong masking for the role. */
    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = WS_OP_BINARY;
    h.masked = 1;
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 0), 6);
    assert_int_equal(
        ws_frame_parse_header(out, 6, WS_FRAME_EXPECT_UNMASKED, UINT64_MAX, &h, sizeof h),
        WS_ERR_FRAME_MASKED);

    /* Buffer too small at every size below the header. */
    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = WS_OP_BINARY;
    h.payload_len = 70000;
    h.masked = 1;
    for (size_t cap = 0; cap < 14; cap++)
        assert_int_equal(ws_frame_write_header(out, cap, &h, sizeof h), WS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(ws_frame_write_header(out, 14, &h, sizeof h), 14);
    assert_int_equal(ws_frame_header_size(70000, 1), 14);
    assert_int_equal(ws_frame_header_size(125, 0), 2);
    assert_int_equal(ws_frame_header_size(126, 0), 4);
    assert_int_equal(ws_frame_header_size(65535, 1), 8);
    assert_int_equal(ws_frame_header_size(65536, 0), 10);
    assert_int_equal(ws_frame_write_header(out, 14, NULL, sizeof(ws_frame_header)),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_encode(out, 14, &h, sizeof h, NULL, 3), WS_ERR_INVALID_ARG);
}

/* Several frames in one buffer, masked, fed at every split point and byte by byte. */
static void test_decoder_stream(void **state)
{
    (void)state;
    uint8_t wire[512];
    size_t n = 0;
    ws_frame_header h;
    const char *texts[] = {"", "a", "hello world", "fragment-two"};
    uint8_t ops[] = {WS_OP_PING, WS_OP_TEXT, WS_OP_CONTINUATION, WS_OP_CONTINUATION};
    uint8_t fins[] = {1, 0, 0, 1};

    for (int i = 0; i < 4; i++) {
        memset(&h, 0, sizeof h);
        h.fin = fins[i];
        h.opcode = ops[i];
        h.masked = 1;
        h.mask[0] = (uint8_t)(0x11 * (i + 1));
        h.mask[1] = 0xA5;
        h.mask[2] = (uint8_t)i;
        h.mask[3] = 0xFF;
        int r =
            ws_frame_encode(wire + n, sizeof wire - n, &h, sizeof h, texts[i], strlen(texts[i]));
        assert_true(r > 0);
        n += (size_t)r;
    }
    for (size_t split = 0; split <= n; split++) {
        for (size_t step = 0; step <= 3; step++) {
            collected c =
                decode_split(wire, n, WS_FRAME_EXPECT_MASKED, 125, split, step);
            assert_int_equal(c.err, 0);
            assert_int_equal(c.nframes, 4);
            for (int i = 0; i < 4; i++) {
                assert_int_equal(c.hdr[i].opcode, ops[i]);
                assert_int_equal(c.hdr[i].fin, fins[i]);
                assert_int_equal(c.plen[i], strlen(texts[i]));
                if (c.plen[i])
                    assert_memory_equal(c.payload[i], texts[i], c.plen[i]);
            }
            collected_free(&c);
        }
    }
}

/* An error is sticky until reset; reset keeps the flags. */
static void test_decoder_sticky_and_reset(void **state)
{
    (void)state;
    uint8_t bad[] = {0x81, 0x05, 'h', 'e', 'l', 'l', 'o'};
    uint8_t good[] = {0x81, 0x05, 'h', 'e', 'l', 'l', 'o'};
    ws_frame_decoder *d = new_decoder();
    ws_frame_event ev;
    size_t used = 99;

    assert_int_equal(ws_frame_decoder_set_flags(d, WS_FRAME_EXPECT_MASKED, UINT64_MAX), WS_OK);
    assert_int_equal(ws_frame_decoder_feed(d, bad, sizeof bad, &used, &ev, sizeof ev),
                     WS_ERR_FRAME_UNMASKED);
    assert_int_equal(ws_frame_decoder_feed(d, good, sizeof good, &used, &ev, sizeof ev),
                     WS_ERR_FRAME_UNMASKED);
    assert_int_equal(used, 0);
    assert_int_equal(ws_frame_decoder_reset(d), WS_OK);
    assert_int_equal(ws_frame_decoder_feed(d, good, sizeof good, &used, &ev, sizeof ev),
                     WS_ERR_FRAME_UNMASKED);
    assert_int_equal(ws_frame_decoder_set_flags(d, 0, UINT64_MAX), WS_OK);
    assert_int_equal(ws_frame_decoder_reset(d), WS_OK);
    assert_int_equal(ws_frame_decoder_feed(d, good, sizeof good, &used, &ev, sizeof ev), 0);
    assert_int_equal(ev.type, WS_FRAME_EV_HEADER);
    assert_int_equal(used, 2);
    assert_int_equal(ws_frame_decoder_feed(d, good + 2, 5, &used, &ev, sizeof ev), 0);
    assert_int_equal(ev.type, WS_FRAME_EV_DATA);
    assert_int_equal(ev.frame_end, 1);
    assert_memory_equal(ev.data, "hello", 5);
    /* Nothing more: NONE with 0 bytes. */
    assert_int_equal(ws_frame_decoder_feed(d, NULL, 0, &used, &ev, sizeof ev), 0);
    assert_int_equal(ev.type, WS_FRAME_EV_NONE);
    assert_int_equal(ws_frame_decoder_feed(NULL, good, 1, &used, &ev, sizeof ev),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_decoder_feed(d, NULL, 1, &used, &ev, sizeof ev), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_decoder_set_flags(NULL, 0, UINT64_MAX), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_decoder_reset(NULL), WS_ERR_INVALID_ARG);
    ws_frame_decoder_free(d);
    ws_frame_decoder_free(NULL);
}

/* Payload views are unmasked in place inside the caller's buffer: no copy. */
static void test_decoder_zero_copy(void **state)
{
    (void)state;
    uint8_t wire[32];
    ws_frame_header h;
    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = WS_OP_BINARY;
    h.masked = 1;
    memcpy(h.mask, "\xde\xad\xbe\xef", 4);
    int n = ws_frame_encode(wire, sizeof wire, &h, sizeof h, "0123456789", 10);
    ws_frame_decoder *d = new_decoder();
    ws_frame_event ev;
    size_t used;
    assert_int_equal(ws_frame_decoder_feed(d, wire, (size_t)n, &used, &ev, sizeof ev), 0);
    assert_int_equal(ws_frame_decoder_feed(d, wire + used, (size_t)n - used, &used, &ev, sizeof ev),
                     0);
    assert_ptr_equal(ev.data, wire + 6);
    assert_memory_equal(wire + 6, "0123456789", 10);
    ws_frame_decoder_free(d);
}

static void test_decoder_alloc_failure(void **state)
{
    (void)state;
    failalloc fa;
    ws_allocator a = failalloc_init(&fa, 0, 1); /* every allocation fails */
    ws_frame_decoder *d = NULL;
    assert_int_equal(ws_frame_decoder_new(&d, &a), WS_ERR_NOMEM);
    assert_null(d);
    assert_int_equal(fa.failed, 1);
    assert_int_equal(fa.live, 0);
    /* Bad arguments: no out pointer, an allocator struct smaller than the 0.2 layout. */
    assert_int_equal(ws_frame_decoder_new(NULL, NULL), WS_ERR_INVALID_ARG);
    a.size = sizeof(ws_allocator) - 1;
    assert_int_equal(ws_frame_decoder_new(&d, &a), WS_ERR_INVALID_ARG);
    assert_int_equal(fa.calls, 1); /* refused before anything was asked of the allocator */
}

/* Rule 4 (structs that grow): a caller struct larger than the library's has its tail zeroed
 * on output and ignored on input; one smaller than the 0.2 layout is refused. */
typedef struct big_header {
    ws_frame_header h;
    uint8_t tail[16];
} big_header;

typedef struct big_event {
    ws_frame_event ev;
    uint8_t tail[16];
} big_event;

static void test_struct_sizes(void **state)
{
    (void)state;
    static const uint8_t hello[] = {0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f};
    uint8_t out[32], in[sizeof hello];
    big_header bh;
    big_event be;
    ws_frame_header h;
    ws_frame_event ev;
    size_t used;
    uint8_t zero[16];

    memset(zero, 0, sizeof zero);
    memset(&bh, 0xAA, sizeof bh);
    assert_int_equal(ws_frame_parse_header(hello, sizeof hello, 0, UINT64_MAX, &bh.h, sizeof bh),
                     2);
    assert_int_equal(bh.h.opcode, WS_OP_TEXT);
    assert_int_equal(bh.h.payload_len, 5);
    assert_memory_equal(bh.tail, zero, sizeof zero);
    /* Smaller than the 0.2 layout (one without its last fields): refused, nothing written. */
    const size_t old_h = offsetof(ws_frame_header, header_len);
    memset(&h, 0xAA, sizeof h);
    assert_int_equal(ws_frame_parse_header(hello, sizeof hello, 0, UINT64_MAX, &h, old_h),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(h.opcode, 0xAA);

    /* Input: a larger struct whose unknown tail holds garbage encodes like the plain one. */
    memset(&bh, 0xAA, sizeof bh);
    memset(&bh.h, 0, sizeof bh.h);
    bh.h.fin = 1;
    bh.h.opcode = WS_OP_TEXT;
    assert_int_equal(ws_frame_encode(out, sizeof out, &bh.h, sizeof bh, "Hello", 5),
                     (int)sizeof hello);
    assert_memory_equal(out, hello, sizeof hello);
    bh.h.payload_len = 5;
    assert_int_equal(ws_frame_write_header(out, sizeof out, &bh.h, sizeof bh), 2);
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &bh.h, sizeof bh, 2), 4);
    assert_int_equal(ws_frame_encode(out, sizeof out, &bh.h, old_h, "Hello", 5),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_write_header(out, sizeof out, &bh.h, 0), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &bh.h, 1, 0), WS_ERR_INVALID_ARG);

    /* The decoder's event. */
    ws_frame_decoder *d = new_decoder();
    memcpy(in, hello, sizeof hello);
    memset(&be, 0xAA, sizeof be);
    assert_int_equal(ws_frame_decoder_feed(d, in, sizeof in, &used, &be.ev, sizeof be), WS_OK);
    assert_int_equal(be.ev.type, WS_FRAME_EV_HEADER);
    assert_non_null(be.ev.header);
    assert_int_equal(be.ev.header->payload_len, 5);
    assert_memory_equal(be.tail, zero, sizeof zero);
    assert_int_equal(ws_frame_decoder_feed(d, in + used, sizeof in - used, &used, &ev,
                                           offsetof(ws_frame_event, offset)),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_decoder_feed(d, in + 2, sizeof in - 2, &used, &ev, sizeof ev), WS_OK);
    assert_int_equal(ev.type, WS_FRAME_EV_DATA);
    assert_int_equal(ev.len, 5);
    assert_int_equal(ev.header->opcode, WS_OP_TEXT);
    assert_memory_equal(ev.data, "Hello", 5);
    ws_frame_decoder_free(d);
}

/* The encoder and decoder refuse what ws.h calls invalid: RSV beyond three bits, an opcode
 * past 15, a payload pointer missing for its length, a length past INT_MAX, a reserved opcode;
 * the decoder's NULL arguments (free(NULL) is a no-op). */
static void test_frame_argument_checks(void **state)
{
    ws_frame_header h;
    uint8_t out[32];
    ws_frame_decoder *d;
    ws_frame_event ev;
    uint8_t in[2] = {0x81, 0x00};
    (void)state;

    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = WS_OP_TEXT;
    h.rsv = 8; /* more than the three RSV bits */
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 0),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_write_header(out, sizeof out, &h, sizeof h), WS_ERR_INVALID_ARG);
    h.rsv = 0;
    h.opcode = 16;
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 0),
                     WS_ERR_INVALID_ARG);
    h.opcode = WS_OP_TEXT;
    assert_int_equal(ws_frame_write_header_raw(NULL, 0, &h, sizeof h, 0), WS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(ws_frame_write_header_raw(out, 1, &h, sizeof h, 0), WS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, NULL, sizeof(ws_frame_header), 0),
                     WS_ERR_INVALID_ARG);

    /* encode: payload NULL with a length, a length past INT_MAX, an invalid header */
    assert_int_equal(ws_frame_encode(out, sizeof out, &h, sizeof h, NULL, 3), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_encode(out, sizeof out, NULL, sizeof(ws_frame_header), "x", 1),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_encode(out, sizeof out, &h, sizeof h, "x", (size_t)INT_MAX),
                     WS_ERR_INVALID_ARG);
    h.opcode = 3;
    assert_int_equal(ws_frame_encode(out, sizeof out, &h, sizeof h, "x", 1),
                     WS_ERR_FRAME_RESERVED_OPCODE);

    /* the decoder tolerates NULL where documented and refuses it elsewhere */
    ws_frame_decoder_free(NULL);
    assert_int_equal(ws_frame_decoder_set_flags(NULL, 0, 0), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_decoder_reset(NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_decoder_new(NULL, NULL), WS_ERR_INVALID_ARG);
    d = NULL;
    assert_int_equal(ws_frame_decoder_new(&d, NULL), WS_OK);
    assert_non_null(d);
    assert_int_equal(ws_frame_decoder_feed(d, in, sizeof in, NULL, &ev, sizeof ev), WS_OK);
    assert_int_equal(ev.type, WS_FRAME_EV_HEADER);
    assert_int_equal(ws_frame_decoder_feed(d, NULL, 1, NULL, &ev, sizeof ev), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_decoder_feed(d, in, 1, NULL, NULL, sizeof(ws_frame_event)),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_decoder_feed(NULL, in, 1, NULL, &ev, sizeof ev), WS_ERR_INVALID_ARG);
    ws_frame_decoder_free(d);
}

/* WS_FRAME_WHOLE changes how frames are reported, never what: every frame shape (7-, 16- and
 * 64-bit lengths, masked or not, control, continuation, RSV1, an unmasked frame a server must
 * refuse, a non-minimal length) decodes to the same headers, payloads and error with and
 * without it, however the input is split; a frame wholly present comes as one event. */
/* The whole-frame path reports each header as the general parser reads it -- an unmasked
 * frame right after a masked one has no key left over. */
static void check_whole_headers_match(void)
{
    static const uint8_t wire[] = {0x82, 0x83, 1, 2, 3, 4, 'a' ^ 1, 'b' ^ 2, 'c' ^ 3, /* masked */
                                   0x81, 0x02, 'h', 'i',                              /* not */
                                   0x02, 0x01, 'z'};
    static const size_t at[] = {0, 9, 13};
    uint8_t buf[sizeof wire];
    ws_frame_decoder *d = new_decoder();
    size_t pos = 0;
    memcpy(buf, wire, sizeof wire);
    assert_int_equal(ws_frame_decoder_set_flags(d, WS_FRAME_WHOLE, UINT64_MAX), WS_OK);
    for (size_t i = 0; i < 3; i++) {
        ws_frame_event ev;
        ws_frame_header want;
        size_t used = 0;
        int hl = ws_frame_parse_header(wire + at[i], sizeof wire - at[i], 0, UINT64_MAX, &want,
                                       sizeof want);
        assert_true(hl > 0);
        assert_int_equal(ws_frame_decoder_feed(d, buf + pos, sizeof buf - pos, &used, &ev,
                                               sizeof ev),
                         WS_OK);
        assert_int_equal(ev.type, WS_FRAME_EV_DATA);
        assert_int_equal(ev.header->opcode, want.opcode);
        assert_int_equal(ev.header->fin, want.fin);
        assert_int_equal(ev.header->rsv, want.rsv);
        assert_int_equal(ev.header->masked, want.masked);
        assert_memory_equal(ev.header->mask, want.mask, 4);
        assert_true(ev.header->payload_len == want.payload_len);
        assert_int_equal(ev.header->header_len, want.header_len);
        pos += used;
    }
    assert_int_equal(pos, sizeof wire);
    ws_frame_decoder_free(d);
}

/* The whole-frame straight line follows every change of flags, limit and state: after frames
 * took it, new flags (another role, no WS_FRAME_WHOLE), a lower limit, a sticky error and a
 * reset each give what the general parser says. */
static void test_decoder_whole_follows_flags(void **state)
{
    (void)state;
    static const uint8_t masked[] = {0x82, 0x83, 1, 2, 3, 4, 'a' ^ 1, 'b' ^ 2, 'c' ^ 3};
    static const uint8_t plain[] = {0x82, 0x03, 'x', 'y', 'z'};
    uint8_t buf[16];
    ws_frame_decoder *d = new_decoder();
    ws_frame_event ev;
    size_t used;

    /* a server's decoder: a masked frame in one event */
    assert_int_equal(ws_frame_decoder_set_flags(d, WS_FRAME_EXPECT_MASKED | WS_FRAME_WHOLE,
                                                UINT64_MAX),
                     WS_OK);
    memcpy(buf, masked, sizeof masked);
    assert_int_equal(ws_frame_decoder_feed(d, buf, sizeof masked, &used, &ev, sizeof ev), WS_OK);
    assert_int_equal(ev.type, WS_FRAME_EV_DATA);
    assert_int_equal(used, sizeof masked);
    assert_memory_equal(ev.data, "abc", 3);

    /* now a client's: the same masked frame is refused */
    assert_int_equal(ws_frame_decoder_set_flags(d, WS_FRAME_EXPECT_UNMASKED | WS_FRAME_WHOLE,
                                                UINT64_MAX),
                     WS_OK);
    memcpy(buf, masked, sizeof masked);
    assert_int_equal(ws_frame_decoder_feed(d, buf, sizeof masked, &used, &ev, sizeof ev),
                     WS_ERR_FRAME_MASKED);
    assert_int_equal(ws_frame_decoder_reset(d), WS_OK);
    memcpy(buf, plain, sizeof plain);
    assert_int_equal(ws_frame_decoder_feed(d, buf, sizeof plain, &used, &ev, sizeof ev), WS_OK);
    assert_int_equal(ev.type, WS_FRAME_EV_DATA);
    assert_memory_equal(ev.data, "xyz", 3);

    /* a lower limit: the frame is too big */
    assert_int_equal(ws_frame_decoder_set_flags(d, WS_FRAME_EXPECT_UNMASKED | WS_FRAME_WHOLE, 2),
                     WS_OK);
    memcpy(buf, plain, sizeof plain);
    assert_int_equal(ws_frame_decoder_feed(d, buf, sizeof plain, &used, &ev, sizeof ev),
                     WS_ERR_FRAME_TOO_LARGE);
    /* the error is sticky until reset, whatever the flags say */
    assert_int_equal(ws_frame_decoder_set_flags(d, WS_FRAME_EXPECT_UNMASKED | WS_FRAME_WHOLE,
                                                UINT64_MAX),
                     WS_OK);
    memcpy(buf, plain, sizeof plain);
    assert_int_equal(ws_frame_decoder_feed(d, buf, sizeof plain, &used, &ev, sizeof ev),
                     WS_ERR_FRAME_TOO_LARGE);
    assert_int_equal(ws_frame_decoder_reset(d), WS_OK);

    /* without WS_FRAME_WHOLE: a HEADER event first */
    assert_int_equal(ws_frame_decoder_set_flags(d, WS_FRAME_EXPECT_UNMASKED, UINT64_MAX), WS_OK);
    memcpy(buf, plain, sizeof plain);
    assert_int_equal(ws_frame_decoder_feed(d, buf, sizeof plain, &used, &ev, sizeof ev), WS_OK);
    assert_int_equal(ev.type, WS_FRAME_EV_HEADER);
    assert_int_equal(used, 2);
    ws_frame_decoder_free(d);
}

static void test_decoder_whole_frames(void **state)
{
    check_whole_headers_match();
    (void)state;
    static const struct {
        uint8_t op, fin, rsv, masked;
        size_t len;
    } shapes[] = {{WS_OP_TEXT, 1, 0, 1, 0},         {WS_OP_BINARY, 1, 0, 1, 5},
                  {WS_OP_TEXT, 0, 0, 1, 125},       {WS_OP_CONTINUATION, 1, 0, 1, 126},
                  {WS_OP_PING, 1, 0, 1, 3},         {WS_OP_BINARY, 1, WS_RSV1, 1, 200},
                  {WS_OP_BINARY, 1, 0, 1, 65535},   {WS_OP_BINARY, 1, 0, 1, 65536}};
    size_t cap = 0;
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        cap += shapes[i].len + WS_FRAME_MAX_HEADER;
    uint8_t *wire = malloc(cap + 32), *payload = malloc(65536);
    assert_non_null(wire);
    assert_non_null(payload);
    for (size_t i = 0; i < 65536; i++)
        payload[i] = (uint8_t)(i * 7 + 3);
    for (int tail = 0; tail < 3; tail++) {
        size_t n = 0;
        for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) {
            ws_frame_header h;
            memset(&h, 0, sizeof h);
            h.opcode = shapes[i].op;
            h.fin = shapes[i].fin;
            h.rsv = shapes[i].rsv;
            h.masked = shapes[i].masked;
            memcpy(h.mask, "\x11\x22\x33\x44", 4);
            int r = ws_frame_encode(wire + n, cap - n, &h, sizeof h, payload, shapes[i].len);
            assert_true(r > 0);
            n += (size_t)r;
        }
        /* the end: nothing more, an unmasked frame, or a non-minimal 16-bit length */
        if (tail == 1) {
            memcpy(wire + n, "\x82\x02hi", 4);
            n += 4;
        } else if (tail == 2) {
            memcpy(wire + n, "\x82\xfe\x00\x05\x01\x02\x03\x04hello", 13);
            n += 13;
        }
        unsigned flags = WS_FRAME_EXPECT_MASKED | WS_FRAME_ALLOW_RSV1;
        static const size_t steps[] = {0, 1, 7, 1000};
        for (size_t s = 0; s < 4; s++) {
            for (size_t split = 0; split < 200; split += s == 0 ? 1 : 37) {
                collected a = decode_split(wire, n, flags, UINT64_MAX, split, steps[s]);
                collected b = decode_split(wire, n, flags | WS_FRAME_WHOLE, UINT64_MAX, split,
                                           steps[s]);
                assert_int_equal(a.nframes, 8);
                assert_int_equal(a.nframes, b.nframes);
                assert_int_equal(a.err, tail == 0 ? 0 : tail == 1 ? WS_ERR_FRAME_UNMASKED
                                                                  : WS_ERR_FRAME_NON_MINIMAL_LENGTH);
                assert_int_equal(a.err, b.err);
                assert_int_equal(a.whole, 0);
                if (s == 0 && split == 0)
                    assert_int_equal(b.whole, 8); /* all at once: every frame in one event */
                for (int f = 0; f < a.nframes; f++) {
                    expect_same_header(&a.hdr[f], &b.hdr[f]);
                    assert_int_equal(a.plen[f], b.plen[f]);
                    assert_memory_equal(a.payload[f], payload, a.plen[f]);
                    assert_memory_equal(b.payload[f], payload, b.plen[f]);
                }
                collected_free(&a);
                collected_free(&b);
                if (s != 0 && split > 0)
                    break;
            }
        }
    }
    free(wire);
    free(payload);
}

/* ---- ws_frame_decoder_feed_events: the batch gives exactly the events of feed, one by one ---- */

/* An event as compared: the data as an offset into the wire (or -1 for none), the header by
 * value, read after the call that gave it returned (a batch's headers must all stay good). */
typedef struct rec_ev {
    uint32_t type, frame_end;
    long data_off;
    size_t len;
    uint64_t offset;
    ws_frame_header h;
} rec_ev;

typedef struct rec_log {
    rec_ev *ev;
    size_t n, cap;
    int err;
    size_t calls; /* decoder calls made */
} rec_log;

static void rec_add(rec_log *l, const ws_frame_event *e, const uint8_t *buf)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->ev = realloc(l->ev, l->cap * sizeof *l->ev);
        assert_non_null(l->ev);
    }
    rec_ev *r = &l->ev[l->n++];
    memset(r, 0, sizeof *r);
    r->type = e->type;
    r->frame_end = e->frame_end;
    r->data_off = e->data && e->len ? (long)(e->data - buf) : -1;
    r->len = e->len;
    r->offset = e->offset;
    assert_non_null(e->header);
    r->h = *e->header;
}

/* Decode wire[0..n) arriving in pieces of `step` bytes (0: all at once): with feed (batch 0) or
 * with feed_events, `batch` events at most a call, through events of ev_size bytes. The
 * decoded (unmasked) bytes are left in buf. */
static rec_log decode_log(const uint8_t *wire, uint8_t *buf, size_t n, unsigned flags,
                          uint64_t max, size_t step, size_t batch, size_t ev_size)
{
    rec_log l;
    ws_frame_decoder *d = new_decoder();
    size_t pos = 0, end = 0;
    enum { PAD = 16 };
    struct big {
        ws_frame_event e;
        uint8_t extra[PAD];
    } *evs = malloc(40 * sizeof *evs);

    memset(&l, 0, sizeof l);
    assert_non_null(evs);
    memcpy(buf, wire, n);
    assert_int_equal(ws_frame_decoder_set_flags(d, flags, max), WS_OK);
    while (end < n || (n == 0 && end == 0 && l.calls == 0)) {
        end = step && n - end > step ? end + step : n;
        for (;;) {
            size_t used = 0;
            assert_true(++l.calls < 10 * n + 100); /* no call that makes no progress forever */
            if (batch == 0) {
                ws_frame_event ev;
                int r = ws_frame_decoder_feed(d, buf + pos, end - pos, &used, &ev, sizeof ev);
                if (r < 0) {
                    l.err = r;
                    goto done;
                }
                pos += used;
                if (ev.type == WS_FRAME_EV_NONE) {
                    assert_int_equal(pos, end);
                    break;
                }
                rec_add(&l, &ev, buf);
                continue;
            }
            memset(evs, 0xA5, 40 * sizeof *evs);
            int k = ws_frame_decoder_feed_events(d, buf + pos, end - pos, &used, &evs[0].e,
                                                 batch, ev_size);
            if (k < 0) {
                l.err = k;
                assert_int_equal(used, 0);
                goto done;
            }
            assert_true((size_t)k <= batch && k <= (int)WS_FRAME_EVENTS_MAX);
            assert_true(used <= end - pos);
            for (int i = 0; i < k; i++) {
                const ws_frame_event *e = ev_size == sizeof(ws_frame_event)
                                              ? &evs[0].e + i
                                              : (const ws_frame_event *)(const void *)&evs[i];
                if (ev_size != sizeof(ws_frame_event)) {
                    /* what the caller's bigger struct has beyond ours is zeroed */
                    for (size_t b = sizeof(ws_frame_event); b < ev_size; b++)
                        assert_int_equal(((const uint8_t *)e)[b], 0);
                }
                assert_int_not_equal(e->type, WS_FRAME_EV_NONE);
                for (int j = 0; j < i; j++) {
                    const ws_frame_event *o = ev_size == sizeof(ws_frame_event)
                                                  ? &evs[0].e + j
                                                  : (const ws_frame_event *)(const void *)&evs[j];
                    assert_ptr_not_equal(o->header, e->header); /* a header each */
                }
                rec_add(&l, e, buf);
            }
            pos += used;
            if ((size_t)k == batch || (size_t)k == WS_FRAME_EVENTS_MAX)
                continue;
            if (pos < end)
                continue; /* stopped before a bad frame: the next call says why */
            break;
        }
    }
done:
    free(evs);
    ws_frame_decoder_free(d);
    return l;
}

/* A random stream of frames in every shape the decoder knows (data, control, fragments, 7-,
 * 16- and 64-bit lengths, masked or not, RSV bits), ending, sometimes, with one that breaks a
 * rule or that the straight line must leave to the general parser (tail 0..8; 9 and up: none);
 * returns its length. */
static size_t random_wire(uint8_t *w, size_t cap, uint32_t *seed, int masked_mode,
                          unsigned tail)
{
    static const size_t lens[] = {0, 1, 3, 4, 7, 8, 9, 15, 16, 17, 63, 64, 65, 100, 125, 126,
                                  127, 200, 1000, 65535, 65536};
    static const uint8_t ops[] = {WS_OP_TEXT,  WS_OP_BINARY, WS_OP_CONTINUATION,
                                  WS_OP_BINARY, WS_OP_PING,   WS_OP_PONG, WS_OP_CLOSE};
    size_t n = 0;
    unsigned frames = 1 + test_rand(seed) % 40;
    uint8_t *body = malloc(65536);
    assert_non_null(body);
    test_fill(body, 65536, test_rand(seed));
    for (unsigned f = 0; f < frames; f++) {
        ws_frame_header h;
        memset(&h, 0, sizeof h);
        h.opcode = ops[test_rand(seed) % sizeof ops];
        int control = h.opcode >= 8;
        size_t len = lens[test_rand(seed) % (sizeof lens / sizeof lens[0])];
        if (len >= 1000 && test_rand(seed) % 4)
            len = 16; /* mostly small: the batch's case */
        if (control && len > 125)
            len = len % 126;
        h.fin = control || test_rand(seed) % 4 != 0;
        h.masked = masked_mode == 2 ? (uint8_t)(test_rand(seed) & 1) : (uint8_t)masked_mode;
        h.rsv = test_rand(seed) % 8 == 0 ? WS_RSV1 : 0;
        h.payload_len = len;
        uint32_t key = test_rand(seed);
        memcpy(h.mask, &key, 4);
        unsigned lb = test_rand(seed) % 16 == 0 ? 8 : 0; /* a 64-bit length now and then */
        if (n + len + WS_FRAME_MAX_HEADER > cap)
            break;
        int r = ws_frame_encode_raw(w + n, cap - n, &h, sizeof h, lb, body, len);
        assert_true(r > 0);
        n += (size_t)r;
    }
    /* A last frame (by tail) that the straight line must leave to the general parser, with
     * the whole of it (as far as its header says) in the input. */
    if (tail < 9 && n + 400 <= cap) {
        ws_frame_header h;
        unsigned lb = 0;
        size_t body_len = 5;
        memset(&h, 0, sizeof h);
        h.fin = 1;
        h.opcode = WS_OP_BINARY;
        h.masked = masked_mode == 2 ? (uint8_t)(test_rand(seed) & 1) : (uint8_t)masked_mode;
        memcpy(h.mask, "\x5a\x17\xc3\x81", 4);
        switch (tail) {
        case 0: h.opcode = 3; break;                                       /* reserved */
        case 1: h.masked = (uint8_t)!h.masked; break;                      /* the other role's */
        case 2: h.opcode = WS_OP_PING; h.fin = 0; break;                   /* fragmented ping */
        case 3: lb = 2; body_len = 125; break;                             /* 16-bit, 125 */
        case 4: h.rsv = WS_RSV1; break;                                    /* RSV1 */
        case 5: h.opcode = 3; h.fin = 0; break;                            /* reserved, no FIN */
        case 6: h.rsv = WS_RSV2; h.fin = 0; break;                         /* RSV2, no FIN */
        case 7: lb = 8; body_len = 300; break;                             /* 64-bit, huge: */
        default: lb = 2; body_len = 0; break;                              /* 16-bit, 0 */
        }
        /* (case 7: a length whose top 16 bits read as 256 and 300 bytes after the header) */
        h.payload_len = lb == 8 ? (uint64_t)1 << 56 : body_len;
        int r = ws_frame_encode_raw(w + n, cap - n, &h, sizeof h, lb, body, body_len);
        assert_true(r > 0);
        n += (size_t)r;
        /* and bytes after it, so that a straight line misreading its header would find its
         * "payload" all there */
        test_fill(w + n, 16, test_rand(seed));
        n += 16;
    }
    free(body);
    return n;
}

static void expect_same_log(const rec_log *a, const rec_log *b)
{
    assert_int_equal(a->err, b->err);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++) {
        const rec_ev *x = &a->ev[i], *y = &b->ev[i];
        assert_int_equal(x->type, y->type);
        assert_int_equal(x->frame_end, y->frame_end);
        assert_int_equal(x->data_off, y->data_off);
        assert_int_equal(x->len, y->len);
        assert_true(x->offset == y->offset);
        expect_same_header(&x->h, &y->h);
    }
}

/* A log as frames: each header and the payload bytes it got (from buf, unmasked), the last
 * one possibly cut short. Frame i's bytes are bytes[off[i] .. off[i + 1]). */
typedef struct frame_list {
    ws_frame_header *h;
    size_t *off;
    uint8_t *bytes;
    size_t n;
} frame_list;

static frame_list frames_of(const rec_log *l, const uint8_t *buf)
{
    frame_list f;
    size_t total = 0, open = 0;
    for (size_t i = 0; i < l->n; i++)
        total += l->ev[i].len;
    f.h = calloc(l->n + 1, sizeof *f.h);
    f.off = calloc(l->n + 2, sizeof *f.off);
    f.bytes = malloc(total + 1);
    f.n = 0;
    assert_true(f.h && f.off && f.bytes);
    for (size_t i = 0; i < l->n; i++) {
        const rec_ev *e = &l->ev[i];
        if (e->type == WS_FRAME_EV_HEADER || !open) {
            /* a header, or a whole frame in one DATA event: a new frame */
            f.h[f.n] = e->h;
            f.off[f.n + 1] = f.off[f.n];
            f.n++;
            open = 1;
        }
        if (e->type == WS_FRAME_EV_DATA) {
            if (e->len) {
                memcpy(f.bytes + f.off[f.n], buf + e->data_off, e->len);
                f.off[f.n] += e->len;
            }
            if (e->frame_end)
                open = 0;
        }
    }
    return f;
}

static void frame_list_free(frame_list *f)
{
    free(f->h);
    free(f->off);
    free(f->bytes);
}

/* WS_FRAME_WHOLE (and the batch) change how frames are reported, never what: the same headers,
 * the same payload bytes, the same error as the general parser without it. */
static void expect_same_frames(const rec_log *general, const uint8_t *gbuf, const rec_log *whole,
                               const uint8_t *wbuf)
{
    frame_list a = frames_of(general, gbuf), b = frames_of(whole, wbuf);
    assert_int_equal(general->err, whole->err);
    assert_int_equal(a.n, b.n);
    for (size_t i = 0; i < a.n; i++) {
        expect_same_header(&a.h[i], &b.h[i]);
        assert_int_equal(a.off[i + 1] - a.off[i], b.off[i + 1] - b.off[i]);
        assert_memory_equal(a.bytes + a.off[i], b.bytes + b.off[i], a.off[i + 1] - a.off[i]);
    }
    frame_list_free(&a);
    frame_list_free(&b);
}

/* Every flag set (roles, WS_FRAME_WHOLE or not, RSV allowed, lenient lengths, report-all, a
 * limit), every batch size (1 .. past WS_FRAME_EVENTS_MAX), pieces of every size, our event
 * layout and a bigger one: feed_events gives feed's events, errors and unmasked bytes. */
static void test_decoder_feed_events_matches_feed(void **state)
{
    (void)state;
    static const unsigned flag_sets[] = {
        WS_FRAME_EXPECT_MASKED | WS_FRAME_WHOLE,
        WS_FRAME_EXPECT_UNMASKED | WS_FRAME_WHOLE,
        WS_FRAME_WHOLE,
        WS_FRAME_EXPECT_MASKED,
        WS_FRAME_EXPECT_MASKED | WS_FRAME_WHOLE | WS_FRAME_ALLOW_RSV1,
        WS_FRAME_WHOLE | WS_FRAME_REPORT_ALL,
        WS_FRAME_WHOLE | WS_FRAME_LENIENT_LENGTH | WS_FRAME_EXPECT_UNMASKED,
    };
    static const size_t batches[] = {1, 2, 3, 7, 32, 100};
    static const size_t steps[] = {0, 1, 5, 64};
    enum { CAP = 1 << 18 };
    uint8_t *wire = malloc(CAP), *b1 = malloc(CAP), *b2 = malloc(CAP), *b3 = malloc(CAP);
    uint32_t seed = 20261203;
    assert_non_null(wire);
    assert_non_null(b1);
    assert_non_null(b2);
    assert_non_null(b3);
    for (unsigned round = 0; round < 7 * 10 * 2; round++) {
        unsigned fs = round % (sizeof flag_sets / sizeof flag_sets[0]);
        unsigned flags = flag_sets[fs];
        int mm = (flags & WS_FRAME_EXPECT_MASKED) ? 1 : (flags & WS_FRAME_EXPECT_UNMASKED) ? 0 : 2;
        uint64_t max = round % 5 == 4 ? 100 : UINT64_MAX;
        size_t n = random_wire(wire, CAP, &seed, mm, (round / 7) % 10);
        for (size_t s = 0; s < sizeof steps / sizeof steps[0]; s++) {
            if (steps[s] == 1 && n > 4096)
                continue; /* byte by byte: the short streams are enough */
            rec_log ref = decode_log(wire, b1, n, flags, max, steps[s], 0, 0);
            if (flags & WS_FRAME_WHOLE) {
                /* the straight lines against the general parser, frame by frame */
                rec_log gen = decode_log(wire, b3, n, flags & ~(unsigned)WS_FRAME_WHOLE, max,
                                         steps[s], 0, 0);
                expect_same_frames(&gen, b3, &ref, b1);
                free(gen.ev);
            }
            for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
                size_t ev_size = bi % 2 ? sizeof(ws_frame_event) + 16 : sizeof(ws_frame_event);
                rec_log got = decode_log(wire, b2, n, flags, max, steps[s], batches[bi],
                                         ev_size);
                expect_same_log(&ref, &got);
                assert_memory_equal(b1, b2, n);
                if (steps[s] == 0 && batches[bi] >= 32 && ref.n > 0 && !ref.err)
                    assert_true(got.calls < ref.calls); /* batched, not one by one */
                free(got.ev);
            }
            free(ref.ev);
        }
    }
    free(wire);
    free(b1);
    free(b2);
    free(b3);
}

/* The batch's own promises: a header per event, still right after the batch; at most
 * WS_FRAME_EVENTS_MAX events; an error after good frames comes after them, on the next call;
 * a partial header at the end is taken and completed by the next call; the argument checks. */
static void test_decoder_feed_events_contract(void **state)
{
    (void)state;
    enum { FRAMES = 40 };
    uint8_t wire[FRAMES * 8 + 16], buf[sizeof wire];
    ws_frame_event evs[WS_FRAME_EVENTS_MAX + 8];
    ws_frame_decoder *d = new_decoder();
    size_t n = 0, used;

    for (unsigned i = 0; i < FRAMES; i++) {
        ws_frame_header h;
        memset(&h, 0, sizeof h);
        h.fin = 1;
        h.opcode = i % 2 ? WS_OP_BINARY : WS_OP_TEXT;
        h.masked = 1;
        memcpy(h.mask, "\x01\x02\x03\x04", 4);
        h.mask[0] = (uint8_t)i;
        uint8_t p = (uint8_t)('a' + i % 26);
        int r = ws_frame_encode(wire + n, sizeof wire - n, &h, sizeof h, &p, 1);
        assert_int_equal(r, 7);
        n += 7;
    }
    assert_int_equal(ws_frame_decoder_set_flags(d, WS_FRAME_EXPECT_MASKED | WS_FRAME_WHOLE,
                                                UINT64_MAX),
                     WS_OK);
    memcpy(buf, wire, n);
    /* a max past the cap gives the cap; every event has its own, right header */
    int k = ws_frame_decoder_feed_events(d, buf, n, &used, evs, WS_FRAME_EVENTS_MAX + 8,
                                         sizeof evs[0]);
    assert_int_equal(k, WS_FRAME_EVENTS_MAX);
    assert_int_equal(used, 7 * WS_FRAME_EVENTS_MAX);
    for (int i = 0; i < k; i++) {
        assert_int_equal(evs[i].type, WS_FRAME_EV_DATA);
        assert_int_equal(evs[i].frame_end, 1);
        assert_int_equal(evs[i].header->opcode, i % 2 ? WS_OP_BINARY : WS_OP_TEXT);
        assert_int_equal(evs[i].header->mask[0], i);
        assert_int_equal(evs[i].header->header_len, 6);
        assert_int_equal(evs[i].len, 1);
        assert_int_equal(evs[i].data[0], 'a' + i % 26);
    }
    /* the rest: 8 frames, then a partial header (2 bytes of the next frame's 6) */
    memcpy(buf, wire, n);
    size_t at = 7 * WS_FRAME_EVENTS_MAX;
    k = ws_frame_decoder_feed_events(d, buf + at, n - at - 5, &used, evs, 100, sizeof evs[0]);
    assert_int_equal(k, FRAMES - WS_FRAME_EVENTS_MAX - 1);
    assert_int_equal(used, n - at - 5); /* fewer than max: all taken, the header's start kept */
    /* (a header completed from the decoder's buffer: HEADER, then its DATA, as feed gives) */
    k = ws_frame_decoder_feed_events(d, buf + n - 5, 5, &used, evs, 100, sizeof evs[0]);
    assert_int_equal(k, 2);
    assert_int_equal(used, 5);
    assert_int_equal(evs[0].type, WS_FRAME_EV_HEADER);
    assert_int_equal(evs[1].type, WS_FRAME_EV_DATA);
    assert_int_equal(evs[1].frame_end, 1);
    assert_ptr_not_equal(evs[0].header, evs[1].header);
    assert_int_equal(evs[0].header->mask[0], FRAMES - 1);
    assert_int_equal(evs[1].header->mask[0], FRAMES - 1);
    assert_int_equal(evs[1].data[0], 'a' + (FRAMES - 1) % 26);
    /* nothing left: no event */
    assert_int_equal(ws_frame_decoder_feed_events(d, buf + n, 0, &used, evs, 8, sizeof evs[0]), 0);
    assert_int_equal(used, 0);

    /* two good frames then an unmasked one: the two, then the error on the next call (sticky) */
    memcpy(buf, wire, 14);
    memcpy(buf + 14, "\x82\x01z", 3);
    k = ws_frame_decoder_feed_events(d, buf, 17, &used, evs, 8, sizeof evs[0]);
    assert_int_equal(k, 2);
    assert_int_equal(used, 14);
    assert_int_equal(ws_frame_decoder_feed_events(d, buf + 14, 3, &used, evs, 8, sizeof evs[0]),
                     WS_ERR_FRAME_UNMASKED);
    assert_int_equal(used, 0);
    assert_int_equal(ws_frame_decoder_feed_events(d, buf, 7, &used, evs, 8, sizeof evs[0]),
                     WS_ERR_FRAME_UNMASKED);
    assert_int_equal(ws_frame_decoder_reset(d), WS_OK);
    memcpy(buf, wire, 7);
    assert_int_equal(ws_frame_decoder_feed_events(d, buf, 7, &used, evs, 8, sizeof evs[0]), 1);
    /* the bad frame first: the error at once */
    assert_int_equal(ws_frame_decoder_feed_events(d, (uint8_t *)"\x82\x01z", 3, &used, evs, 8,
                                                  sizeof evs[0]),
                     WS_ERR_FRAME_UNMASKED);
    assert_int_equal(ws_frame_decoder_reset(d), WS_OK);

    /* input that ends inside a header, in heap copies of exactly its size (ASan and valgrind
     * see any read past them): taken whole, no event, the frame completed by the next call */
    for (size_t cut = 1; cut < 8; cut++) {
        static const uint8_t h16[8] = {0x82, 0xFE, 0x00, 0x80, 9, 8, 7, 6}; /* 128 B, masked */
        uint8_t *x = malloc(cut), *rest = malloc(8 - cut + 128);
        assert_non_null(x);
        assert_non_null(rest);
        memcpy(x, h16, cut);
        memcpy(rest, h16 + cut, 8 - cut);
        memset(rest + 8 - cut, 0x41, 128);
        assert_int_equal(ws_frame_decoder_feed_events(d, x, cut, &used, evs, 8, sizeof evs[0]), 0);
        assert_int_equal(used, cut);
        k = ws_frame_decoder_feed_events(d, rest, 8 - cut + 128, &used, evs, 8, sizeof evs[0]);
        assert_int_equal(k, 2); /* HEADER, then all of its payload */
        assert_int_equal(evs[1].len, 128);
        assert_int_equal(evs[1].frame_end, 1);
        assert_int_equal(evs[1].data[0], 0x41 ^ 9);
        free(x);
        free(rest);
    }

    /* argument checks: nothing taken, *consumed 0 */
    memcpy(buf, wire, 7);
    used = 99;
    assert_int_equal(ws_frame_decoder_feed_events(NULL, buf, 7, &used, evs, 8, sizeof evs[0]),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(used, 0);
    assert_int_equal(ws_frame_decoder_feed_events(d, buf, 7, NULL, evs, 8, sizeof evs[0]),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_decoder_feed_events(d, buf, 7, &used, NULL, 8, sizeof evs[0]),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_decoder_feed_events(d, NULL, 7, &used, evs, 8, sizeof evs[0]),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_decoder_feed_events(d, buf, 7, &used, evs, 0, sizeof evs[0]),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_decoder_feed_events(d, buf, 7, &used, evs, 8, sizeof evs[0] - 1),
                     WS_ERR_INVALID_ARG);
    /* and the decoder is untouched by them */
    assert_int_equal(ws_frame_decoder_feed_events(d, buf, 7, &used, evs, 8, sizeof evs[0]), 1);
    assert_int_equal(evs[0].data[0], 'a');
    assert_int_equal(ws_frame_decoder_feed_events(d, NULL, 0, &used, evs, 8, sizeof evs[0]), 0);
    ws_frame_decoder_free(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_examples),      cmocka_unit_test(test_rfc_examples_long),
        cmocka_unit_test(test_length_boundaries), cmocka_unit_test(test_length_huge_header_only),
        cmocka_unit_test(test_malformed_headers), cmocka_unit_test(test_encoder_validation_and_raw),
        cmocka_unit_test(test_decoder_stream),    cmocka_unit_test(test_decoder_sticky_and_reset),
        cmocka_unit_test(test_decoder_zero_copy), cmocka_unit_test(test_decoder_alloc_failure),
        cmocka_unit_test(test_struct_sizes),
        cmocka_unit_test(test_frame_argument_checks),
        cmocka_unit_test(test_decoder_whole_frames),
        cmocka_unit_test(test_decoder_whole_follows_flags),
        cmocka_unit_test(test_decoder_feed_events_matches_feed),
        cmocka_unit_test(test_decoder_feed_events_contract),
    };
    return cmocka_run_group_tests_name("frame", tests, NULL, NULL);
}
