/*
 * The frame layer as a tester's tool: headers that break rules reported with every rule they
 * break (WS_FRAME_REPORT_ALL) instead of failing at the first, a decoder that goes on after
 * them, and a raw whole-frame encoder whose declared length is independent of its body.
 */
#include "testutil.h"

static void test_report_all_violations(void **state)
{
    /* Reserved opcode 0xB (a control opcode), RSV1+RSV3, no FIN, unmasked to a server, 7-bit
     * length for a control frame, 125 in 16 bits: not minimal, and over the limit of 100. */
    static const uint8_t in[] = {0x5B, 0x7E, 0x00, 0x7D};
    ws_frame_header h;
    uint32_t want = WS_FRAME_VIOL_RESERVED_OPCODE | WS_FRAME_VIOL_RSV |
                    WS_FRAME_VIOL_CONTROL_FRAGMENTED | WS_FRAME_VIOL_UNMASKED |
                    WS_FRAME_VIOL_CONTROL_TOO_LONG | WS_FRAME_VIOL_NON_MINIMAL_LENGTH |
                    WS_FRAME_VIOL_TOO_LARGE;

    (void)state;
    /* Fail fast: the first rule, from the first byte. */
    assert_int_equal(ws_frame_parse_header(in, 1, WS_FRAME_EXPECT_MASKED, 100, &h, sizeof h),
                     WS_ERR_FRAME_RESERVED_OPCODE);
    /* Report all: every rule, and the header as read. */
    memset(&h, 0xEE, sizeof h);
    assert_int_equal(ws_frame_parse_header(in, 3, WS_FRAME_EXPECT_MASKED | WS_FRAME_REPORT_ALL,
                                           100, &h, sizeof h),
                     0); /* incomplete still needs more */
    assert_int_equal(ws_frame_parse_header(in, sizeof in,
                                           WS_FRAME_EXPECT_MASKED | WS_FRAME_REPORT_ALL, 100, &h,
                                           sizeof h),
                     4);
    assert_int_equal(h.violations, want);
    assert_int_equal(h.opcode, 0xB);
    assert_int_equal(h.rsv, WS_RSV1 | WS_RSV3);
    assert_int_equal(h.fin, 0);
    assert_int_equal(h.masked, 0);
    assert_int_equal(h.payload_len, 125);
    assert_int_equal(h.non_minimal, 1);
    assert_int_equal(ws_frame_violation_error(h.violations), WS_ERR_FRAME_RESERVED_OPCODE);
    assert_int_equal(ws_frame_violation_error(WS_FRAME_VIOL_TOO_LARGE), WS_ERR_FRAME_TOO_LARGE);
    assert_int_equal(ws_frame_violation_error(WS_FRAME_VIOL_MASKED | WS_FRAME_VIOL_LEN64_MSB),
                     WS_ERR_FRAME_MASKED);
    assert_int_equal(ws_frame_violation_error(0), WS_OK);
    /* A valid header under REPORT_ALL has no violation. */
    static const uint8_t ok[] = {0x82, 0x80, 1, 2, 3, 4};
    assert_int_equal(ws_frame_parse_header(ok, sizeof ok,
                                           WS_FRAME_EXPECT_MASKED | WS_FRAME_REPORT_ALL, 100, &h,
                                           sizeof h),
                     6);
    assert_int_equal(h.violations, 0);
}

static void test_len64_msb_reported(void **state)
{
    static const uint8_t in[] = {0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 5};
    ws_frame_header h;

    (void)state;
    assert_int_equal(ws_frame_parse_header(in, 3, 0, UINT64_MAX, &h, sizeof h),
                     WS_ERR_FRAME_LEN64_MSB);
    assert_int_equal(ws_frame_parse_header(in, sizeof in, WS_FRAME_REPORT_ALL, UINT64_MAX, &h,
                                           sizeof h),
                     10);
    assert_int_equal(h.violations, WS_FRAME_VIOL_LEN64_MSB);
    assert_true(h.payload_len == (((uint64_t)1 << 63) | 5));
}

/* The decoder reports a bad frame and goes on to the next one. */
static void test_decoder_resyncs(void **state)
{
    uint8_t in[] = {0x83, 0x01, 'x',       /* reserved opcode 3, 1 byte */
                    0xC1, 0x02, 'h', 'i',  /* RSV1 text "hi" */
                    0x81, 0x01, '!'};      /* a valid text frame */
    ws_frame_decoder *d = NULL;
    ws_frame_event ev;
    size_t pos = 0, used;
    uint32_t seen[3] = {0};
    int headers = 0;

    (void)state;
    assert_int_equal(ws_frame_decoder_new(&d, NULL), WS_OK);
    assert_int_equal(ws_frame_decoder_set_flags(d, WS_FRAME_REPORT_ALL, UINT64_MAX), WS_OK);
    while (pos < sizeof in) {
        assert_int_equal(ws_frame_decoder_feed(d, in + pos, sizeof in - pos, &used, &ev,
                                               sizeof ev),
                         WS_OK);
        pos += used;
        if (ev.type == WS_FRAME_EV_HEADER)
            seen[headers++] = ev.header->violations;
    }
    assert_int_equal(headers, 3);
    assert_int_equal(seen[0], WS_FRAME_VIOL_RESERVED_OPCODE);
    assert_int_equal(seen[1], WS_FRAME_VIOL_RSV);
    assert_int_equal(seen[2], 0);
    /* Without the flag the first frame is a sticky error. */
    assert_int_equal(ws_frame_decoder_reset(d), WS_OK);
    assert_int_equal(ws_frame_decoder_set_flags(d, 0, UINT64_MAX), WS_OK);
    assert_int_equal(ws_frame_decoder_feed(d, in, sizeof in, &used, &ev, sizeof ev),
                     WS_ERR_FRAME_RESERVED_OPCODE);
    assert_int_equal(ws_frame_decoder_feed(d, in + 3, 4, &used, &ev, sizeof ev),
                     WS_ERR_FRAME_RESERVED_OPCODE);
    ws_frame_decoder_free(d);
}

static void test_rsv_as_bits(void **state)
{
    ws_frame_header h;
    uint8_t out[16];

    (void)state;
    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = WS_OP_BINARY;
    h.rsv = WS_RSV2;
    assert_int_equal(ws_frame_write_header_raw(out, sizeof out, &h, sizeof h, 0), 2);
    assert_int_equal(out[0], 0x80 | 0x20 | 0x02);
    h.rsv = WS_RSV1 | WS_RSV2 | WS_RSV3;
    assert_int_equal(ws_frame_write_header(out, sizeof out, &h, sizeof h), 2);
    assert_int_equal(out[0], 0xF2);
    assert_int_equal(ws_frame_parse_header(out, 2, 0, UINT64_MAX, &h, sizeof h),
                     WS_ERR_FRAME_RSV);
    assert_int_equal(ws_frame_parse_header(out, 2,
                                           WS_FRAME_ALLOW_RSV1 | WS_FRAME_ALLOW_RSV2 |
                                               WS_FRAME_ALLOW_RSV3,
                                           UINT64_MAX, &h, sizeof h),
                     2);
    assert_int_equal(h.rsv, 7);
}

static void test_encode_raw_lies_about_length(void **state)
{
    ws_frame_header h;
    uint8_t out[64];

    (void)state;
    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = WS_OP_TEXT;
    h.payload_len = 200; /* declared */
    h.masked = 1;
    memcpy(h.mask, "\x01\x02\x03\x04", 4);
    /* 16-bit length encoding forced; a 3-byte body, masked. */
    int n = ws_frame_encode_raw(out, sizeof out, &h, sizeof h, 2, "abc", 3);
    assert_int_equal(n, 2 + 2 + 4 + 3);
    assert_int_equal(out[1], 0x80 | 126);
    assert_int_equal(out[2] << 8 | out[3], 200);
    assert_memory_equal(out + 4, "\x01\x02\x03\x04", 4);
    assert_int_equal(out[8], 'a' ^ 1);
    assert_int_equal(out[9], 'b' ^ 2);
    assert_int_equal(out[10], 'c' ^ 3);
    /* Non-minimal 64-bit encoding of a tiny length, unmasked, empty body. */
    h.masked = 0;
    h.payload_len = 5;
    assert_int_equal(ws_frame_encode_raw(out, sizeof out, &h, sizeof h, 8, NULL, 0), 10);
    assert_int_equal(out[1], 127);
    assert_int_equal(out[9], 5);
    /* Errors. */
    assert_int_equal(ws_frame_encode_raw(out, 5, &h, sizeof h, 8, NULL, 0),
                     WS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(ws_frame_encode_raw(out, 11, &h, sizeof h, 1, "xy", 2), 4);
    assert_int_equal(ws_frame_encode_raw(out, 3, &h, sizeof h, 1, "xy", 2),
                     WS_ERR_BUFFER_TOO_SMALL);
    assert_int_equal(ws_frame_encode_raw(out, sizeof out, &h, sizeof h, 3, NULL, 0),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_encode_raw(out, sizeof out, &h, sizeof h, 0, NULL, 1),
                     WS_ERR_INVALID_ARG);
    assert_int_equal(ws_frame_encode_raw(out, sizeof out, NULL, sizeof h, 0, NULL, 0),
                     WS_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_report_all_violations),
        cmocka_unit_test(test_len64_msb_reported),
        cmocka_unit_test(test_decoder_resyncs),
        cmocka_unit_test(test_rsv_as_bits),
        cmocka_unit_test(test_encode_raw_lies_about_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
