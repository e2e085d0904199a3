/* Base64 per RFC 4648 section 4: standard alphabet, '=' padding, strict canonical decoding. */
#include "hash.h"

static const char b64_alphabet[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Map one input char to its 6-bit value, or -1; range checks avoid a 256-entry table. */
static int b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

size_t ws__base64_encoded_len(size_t n)
{
    /* Written so it cannot overflow in the intermediate step for n near SIZE_MAX. */
    return (n / 3 + (n % 3 != 0)) * 4;
}

size_t ws__base64_encode(const uint8_t *in, size_t n, char *out)
{
    size_t o = 0;
    for (; n >= 3; in += 3, n -= 3) {
        uint32_t v = ((uint32_t)in[0] << 16) | ((uint32_t)in[1] << 8) | in[2];
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (n > 0) {
        uint32_t v = (uint32_t)in[0] << 16;
        if (n == 2)
            v |= (uint32_t)in[1] << 8;
        out[o++] = b64_alphabet[(v >> 18) & 63];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = n == 2 ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

size_t ws__base64_decode(const char *in, size_t n, uint8_t *out, size_t out_cap)
{
    const unsigned char *p = (const unsigned char *)in;
    if (n % 4 != 0)
        return (size_t)-1;
    if (n == 0)
        return 0;

    /* Padding may only be the last one or two chars; any other '=' fails b64_value below. */
    size_t pad = p[n - 1] == '=' ? (p[n - 2] == '=' ? 2 : 1) : 0;
    size_t out_len = n / 4 * 3 - pad;
    if (out_len > out_cap)
        return (size_t)-1;

    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        /* In the final quantum, padded positions are skipped and count as zero bits. */
        size_t live = i + 4 == n ? 4 - pad : 4;
        uint32_t v = 0;
        for (size_t j = 0; j < 4; j++) {
            int d = j < live ? b64_value(p[i + j]) : 0;
            if (d < 0)
                return (size_t)-1;
            v = (v << 6) | (uint32_t)d;
        }
        /* Canonical form: bits beyond the last whole output byte must be zero. */
        if ((live == 3 && (v & 0xFFu) != 0) || (live == 2 && (v & 0xFFFFu) != 0))
            return (size_t)-1;
        out[o++] = (uint8_t)(v >> 16);
        if (live > 2)
            out[o++] = (uint8_t)(v >> 8);
        if (live > 3)
            out[o++] = (uint8_t)v;
    }
    return o;
}
