/*
 * frame-demo: encodes the RFC 6455 section 5.7 example frames with libws, prints them in hex,
 * then decodes the masked ones back byte by byte -- a first look at the frame layer.
 */
#include "ws.h"

#include <stdio.h>
#include <string.h>

static void hex(const char *label, const uint8_t *p, size_t n)
{
    printf("%-34s", label);
    for (size_t i = 0; i < n; i++)
        printf(" %02x", p[i]);
    printf("\n");
}

static int encode(const char *label, uint8_t op, int fin, const uint8_t *mask, const char *text,
                  uint8_t *out, size_t cap)
{
    ws_frame_header h;
    memset(&h, 0, sizeof h);
    h.opcode = op;
    h.fin = (uint8_t)fin;
    if (mask) {
        h.masked = 1;
        memcpy(h.mask, mask, 4);
    }
    int n = ws_frame_encode(out, cap, &h, sizeof h, text, strlen(text));
    if (n < 0) {
        fprintf(stderr, "%s: %s\n", label, ws_strerror(n));
        return n;
    }
    hex(label, out, (size_t)n);
    return n;
}

int main(void)
{
    static const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
    uint8_t wire[256];
    size_t len = 0;
    int n;

    printf("libws %s frame demo (RFC 6455 section 5.7)\n\n", ws_version());
    encode("unmasked text \"Hello\":", WS_OP_TEXT, 1, NULL, "Hello", wire, sizeof wire);
    encode("fragment 1 \"Hel\":", WS_OP_TEXT, 0, NULL, "Hel", wire, sizeof wire);
    encode("fragment 2 \"lo\":", WS_OP_CONTINUATION, 1, NULL, "lo", wire, sizeof wire);
    if ((n = encode("masked text \"Hello\":", WS_OP_TEXT, 1, key, "Hello", wire, sizeof wire)) < 0)
        return 1;
    len = (size_t)n;
    if ((n = encode("masked pong \"Hello\":", WS_OP_PONG, 1, key, "Hello", wire + len,
                    sizeof wire - len)) < 0)
        return 1;
    len += (size_t)n;

    printf("\ndecoding the two masked frames as a server would, one byte per feed:\n");
    ws_frame_decoder *d;
    if (ws_frame_decoder_new(&d, NULL) != WS_OK)
        return 1;
    ws_frame_decoder_set_flags(d, WS_FRAME_EXPECT_MASKED, 125);
    for (size_t pos = 0; pos < len || 1;) {
        ws_frame_event ev;
        size_t used;
        int r = ws_frame_decoder_feed(d, wire + pos, pos < len ? 1 : 0, &used, &ev, sizeof ev);
        if (r < 0) {
            fprintf(stderr, "decode error: %s\n", ws_strerror(r));
            ws_frame_decoder_free(d);
            return 1;
        }
        pos += used;
        if (ev.type == WS_FRAME_EV_HEADER)
            printf("  header: opcode=0x%x fin=%u masked=%u len=%llu (after byte %zu)\n",
                   ev.header->opcode, ev.header->fin, ev.header->masked,
                   (unsigned long long)ev.header->payload_len, pos);
        else if (ev.type == WS_FRAME_EV_DATA)
            printf("  data:   '%.*s' at offset %llu%s\n", (int)ev.len, (const char *)ev.data,
                   (unsigned long long)ev.offset, ev.frame_end ? " (frame end)" : "");
        else if (pos >= len)
            break;
    }
    ws_frame_decoder_free(d);
    return 0;
}
