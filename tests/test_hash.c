/* Tests for the private SHA-1 / base64 / Sec-WebSocket-Accept helpers in lib/hash.h. */
#include "testutil.h"

#include <stdlib.h>
#include <string.h>

#include "hash.h"

#define B64_FAIL ((size_t)-1)

static void to_hex(const uint8_t d[20], char out[41])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 20; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[40] = '\0';
}

static void check_sha1(const void *data, size_t n, const char *want_hex)
{
    uint8_t d[20];
    char hex[41];
    ws__sha1(data, n, d);
    to_hex(d, hex);
    assert_string_equal(hex, want_hex);
}

/* ---- SHA-1 ---- */

static void test_sha1_rfc3174_vectors(void **state)
{
    (void)state;
    static const char abc56[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    check_sha1("", 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    check_sha1(NULL, 0, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
    check_sha1("abc", 3, "a9993e364706816aba3e25717850c26c9cd0d89d");
    check_sha1(abc56, strlen(abc56), "84983e441c3bd26ebaae4aa1f95129e5e54670f1");
}

static void test_sha1_rfc3174_repeated(void **state)
{
    (void)state;
    static const char unit[] = "0123456701234567012345670123456701234567012345670123456701234567";
    ws__sha1_ctx c;
    uint8_t d[20];
    char hex[41];
    ws__sha1_init(&c);
    for (int i = 0; i < 10; i++)
        ws__sha1_update(&c, unit, strlen(unit));
    ws__sha1_final(&c, d);
    to_hex(d, hex);
    assert_string_equal(hex, "dea356a2cddd90c7a7ecedc5ebb563934f460452");
}

/* Padding boundaries: 55/56 bytes decide whether the length fits in the same block. */
static void test_sha1_padding_boundaries(void **state)
{
    (void)state;
    static const struct { size_t n; const char *hex; } v[] = {
        {55, "c1c8bbdc22796e28c0e15163d20899b65621d65a"},
        {56, "c2db330f6083854c99d4b5bfb6e8f29f201be699"},
        {57, "f08f24908d682555111be7ff6f004e78283d989a"},
        {63, "03f09f5b158a7a8cdad920bddc29b81c18a551f5"},
        {64, "0098ba824b5c16427bd7a1122a5a442a25ec644d"},
        {65, "11655326c708d70319be2610e8a57d9a5b959d3b"},
        {119, "ee971065aaa017e0632a8ca6c77bb3bf8b1dfc56"},
        {120, "f34c1488385346a55709ba056ddd08280dd4c6d6"},
    };
    char a[120];
    memset(a, 'a', sizeof a);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        check_sha1(a, v[i].n, v[i].hex);
}

static void test_sha1_million_a(void **state)
{
    (void)state;
    static const size_t chunks[] = {1, 63, 64, 65, 7, 1000, 4096, 1000000};
    const size_t total = 1000000;
    uint8_t *a = malloc(total);
    assert_non_null(a);
    memset(a, 'a', total);

    for (size_t k = 0; k <= sizeof chunks / sizeof chunks[0]; k++) {
        ws__sha1_ctx c;
        uint8_t d[20];
        char hex[41];
        size_t done = 0, step = 0;
        ws__sha1_init(&c);
        while (done < total) {
            /* Last pass cycles through 1/63/64/65 so the buffer fill level keeps shifting. */
            size_t sz = k < sizeof chunks / sizeof chunks[0] ? chunks[k] : chunks[step++ % 4];
            if (sz > total - done)
                sz = total - done;
            ws__sha1_update(&c, a + done, sz);
            done += sz;
        }
        ws__sha1_final(&c, d);
        to_hex(d, hex);
        assert_string_equal(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    }
    free(a);
}

/* SHA-1 reads its input and nothing past it: whole blocks are hashed straight from the
 * caller's bytes, so each message here ends at an unmapped page (a read past it faults), at
 * every length around the block size, in one update and in two; the digest is written into
 * exactly 20 bytes (ending at an unmapped page as well). */
static void test_sha1_reads_only_its_input(void **state)
{
    (void)state;
    uint8_t msg[200], want[20], got[20];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 7u + 1u);
    for (size_t n = 0; n <= sizeof msg; n++) {
        ws__sha1(msg, n, want);
        guarded g = guarded_copy(msg, n);
        ws__sha1(g.data, n, got);
        assert_memory_equal(got, want, 20);
        /* and writes its 20 bytes, no more: the digest ends at an unmapped page too */
        guarded d = guarded_copy(got, 20);
        ws__sha1(g.data, n, d.data);
        assert_memory_equal(d.data, want, 20);
        guarded_free(&d);
        for (size_t split = 0; split <= n; split += 13) {
            ws__sha1_ctx c;
            ws__sha1_init(&c);
            ws__sha1_update(&c, g.data, split);
            ws__sha1_update(&c, g.data + split, n - split);
            ws__sha1_final(&c, got);
            assert_memory_equal(got, want, 20);
        }
        guarded_free(&g);
    }
}

/* FIPS 180-4 5.1.1: the message length goes into the last block as a 64-bit count of bits, high
 * word first. Every other vector here is far below 2^32 bits, so its high word is 0; from 256
 * MiB (2^31 bits) on, a wrongly shifted high word changes the digest. 256 MiB of the bytes
 * 0..255 repeated, in 1 MiB updates (digest from Python's hashlib). */
static void test_sha1_long_message(void **state)
{
    (void)state;
    const size_t unit = (size_t)1 << 20;
    uint8_t *b = malloc(unit), d[20];
    char hex[41];
    ws__sha1_ctx c;
    assert_non_null(b);
    for (size_t i = 0; i < unit; i++)
        b[i] = (uint8_t)i;
    ws__sha1_init(&c);
    for (int i = 0; i < 256; i++)
        ws__sha1_update(&c, b, unit);
    ws__sha1_final(&c, d);
    to_hex(d, hex);
    assert_string_equal(hex, "37a6b20148116c584c875f2ab963248a630d6aad");
    free(b);
}

static void test_sha1_incremental_splits(void **state)
{
    (void)state;
    uint8_t msg[200], want[20], got[20];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (uint8_t)(i * 131u + 7u);
    ws__sha1(msg, sizeof msg, want);

    for (size_t i = 0; i <= sizeof msg; i++) {
        ws__sha1_ctx c;
        ws__sha1_init(&c);
        ws__sha1_update(&c, msg, i);
        ws__sha1_update(&c, msg + i, sizeof msg - i);
        ws__sha1_final(&c, got);
        assert_memory_equal(got, want, 20);
    }
    /* Three-way splits exercise a partial buffer that is topped up but not filled. */
    for (size_t i = 0; i <= sizeof msg; i++) {
        for (size_t j = i; j <= sizeof msg; j++) {
            ws__sha1_ctx c;
            ws__sha1_init(&c);
            ws__sha1_update(&c, msg, i);
            ws__sha1_update(&c, msg + i, j - i);
            ws__sha1_update(&c, msg + j, sizeof msg - j);
            ws__sha1_final(&c, got);
            assert_memory_equal(got, want, 20);
        }
    }
}

/* ---- base64 ---- */

static const struct { const char *plain, *enc; } rfc4648[] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_base64_encoded_len(void **state)
{
    (void)state;
    assert_int_equal(ws__base64_encoded_len(0), 0);
    assert_int_equal(ws__base64_encoded_len(1), 4);
    assert_int_equal(ws__base64_encoded_len(2), 4);
    assert_int_equal(ws__base64_encoded_len(3), 4);
    assert_int_equal(ws__base64_encoded_len(4), 8);
    assert_int_equal(ws__base64_encoded_len(16), 24);
    assert_int_equal(ws__base64_encoded_len(20), 28);
}

static void test_base64_rfc4648_encode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        char out[16];
        size_t n = strlen(rfc4648[i].plain);
        memset(out, 'X', sizeof out);
        size_t w = ws__base64_encode((const uint8_t *)rfc4648[i].plain, n, out);
        assert_int_equal(w, strlen(rfc4648[i].enc));
        assert_int_equal(w, ws__base64_encoded_len(n));
        assert_string_equal(out, rfc4648[i].enc);
    }
}

static void test_base64_rfc4648_decode(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof rfc4648 / sizeof rfc4648[0]; i++) {
        uint8_t out[16];
        const char *enc = rfc4648[i].enc;
        size_t want = strlen(rfc4648[i].plain);
        assert_int_equal(ws__base64_decode(enc, strlen(enc), out, sizeof out), want);
        assert_memory_equal(out, rfc4648[i].plain, want);
        /* Exactly-sized output must also work. */
        assert_int_equal(ws__base64_decode(enc, strlen(enc), out, want), want);
    }
    assert_int_equal(ws__base64_decode(NULL, 0, NULL, 0), 0);
}

static void test_base64_round_trip(void **state)
{
    (void)state;
    uint8_t in[64], back[64];
    char enc[4 * 22 + 1];
    for (size_t len = 0; len <= 64; len++) {
        for (unsigned start = 0; start < 256; start++) {
            for (size_t i = 0; i < len; i++)
                in[i] = (uint8_t)(start + i * 97u);
            size_t el = ws__base64_encode(in, len, enc);
            assert_int_equal(el, ws__base64_encoded_len(len));
            assert_int_equal(enc[el], '\0');
            assert_int_equal(ws__base64_decode(enc, el, back, len), len);
            assert_memory_equal(back, in, len);
        }
    }
    /* One buffer holding every byte value exactly once. */
    uint8_t all[256], all_back[256];
    char all_enc[4 * 86 + 1];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    size_t el = ws__base64_encode(all, sizeof all, all_enc);
    assert_int_equal(el, 344);
    assert_int_equal(ws__base64_decode(all_enc, el, all_back, sizeof all_back), 256);
    assert_memory_equal(all_back, all, 256);
}

static void expect_reject(const char *s, size_t n)
{
    uint8_t out[64];
    assert_int_equal(ws__base64_decode(s, n, out, sizeof out), B64_FAIL);
}
#define REJECT(lit) expect_reject((lit), sizeof(lit) - 1)

static void test_base64_decode_rejects(void **state)
{
    (void)state;
    /* bad characters, including the URL-safe alphabet, NUL and high bytes */
    REJECT("Zm9!");
    REJECT("Zm-v");
    REJECT("Zm_v");
    REJECT("Zm9v\0mFy");
    REJECT("Zm9v\x80mFy");
    REJECT("Zm9v\xffmFy");
    /* missing padding / length not a multiple of 4 */
    REJECT("Zg");
    REJECT("Zm8");
    REJECT("Zm9vY");
    REJECT("Zm9vYg=");
    REJECT("Z");
    /* '=' anywhere but the final one or two positions */
    REJECT("Zg==Zm9v");
    REJECT("Zm8=Zm9v");
    REJECT("Z=9v");
    REJECT("=m9v");
    REJECT("Zg=a");
    REJECT("Z===");
    REJECT("====");
    /* non-canonical trailing bits */
    REJECT("Zh==");
    REJECT("Zm9=");
    REJECT("Zm9vYh==");
    REJECT("Zm9vYmF=");
    /* whitespace */
    REJECT("Zm9v ");
    REJECT(" Zm9");
    REJECT("Zm9v\r\nYmFy");
    REJECT("Zm\t9");
    REJECT("Zm9\n");
}

static void test_base64_decode_out_cap(void **state)
{
    (void)state;
    uint8_t out[8];
    memset(out, 0xAA, sizeof out);
    assert_int_equal(ws__base64_decode("Zm9vYmFy", 8, out, 5), B64_FAIL);
    assert_int_equal(ws__base64_decode("Zg==", 4, out, 0), B64_FAIL);
    assert_int_equal(ws__base64_decode("Zm9vYg==", 8, out, 3), B64_FAIL);
    /* Rejected early: nothing may have been written. */
    for (size_t i = 0; i < sizeof out; i++)
        assert_int_equal(out[i], 0xAA);
    assert_int_equal(ws__base64_decode("Zm9vYg==", 8, out, 4), 4);
    assert_memory_equal(out, "foob", 4);
    assert_int_equal(out[4], 0xAA);
}

/* Exact-size heap buffers let ASan/valgrind catch any read past n or write past out_cap. */
static void test_base64_decode_bounds(void **state)
{
    (void)state;
    char *in = malloc(8);
    uint8_t *out = malloc(6);
    assert_non_null(in);
    assert_non_null(out);
    memcpy(in, "Zm9vYmFy", 8); /* not NUL-terminated */
    assert_int_equal(ws__base64_decode(in, 8, out, 6), 6);
    assert_memory_equal(out, "foobar", 6);
    /* A prefix of the input decodes on its own; trailing bytes beyond n are ignored. */
    assert_int_equal(ws__base64_decode(in, 4, out, 3), 3);
    assert_memory_equal(out, "foo", 3);
    memcpy(in + 4, "Yg==", 4);
    assert_int_equal(ws__base64_decode(in, 8, out, 4), 4);
    assert_memory_equal(out, "foob", 4);
    free(in);
    free(out);
}

/* ---- handshake helpers ---- */

static void test_accept_key_rfc6455(void **state)
{
    (void)state;
    static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
    char out[29];
    memset(out, 'X', sizeof out);
    ws__accept_key(key, strlen(key), out);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

static void test_client_key_is_16_bytes(void **state)
{
    (void)state;
    static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
    uint8_t nonce[16];
    assert_int_equal(ws__base64_decode(key, strlen(key), nonce, sizeof nonce), 16);
    assert_memory_equal(nonce, "the sample nonce", 16);
    /* One byte short of room must be refused rather than truncated. */
    assert_int_equal(ws__base64_decode(key, strlen(key), nonce, 15), B64_FAIL);
    /* 15 or 17 raw bytes encode to keys of the wrong decoded length. */
    uint8_t big[32];
    assert_int_equal(ws__base64_decode("dGhlIHNhbXBsZSBub25j", 20, big, sizeof big), 15);
    assert_int_equal(ws__base64_decode("dGhlIHNhbXBsZSBub25jZSE=", 24, big, sizeof big), 17);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha1_rfc3174_vectors),
        cmocka_unit_test(test_sha1_rfc3174_repeated),
        cmocka_unit_test(test_sha1_padding_boundaries),
        cmocka_unit_test(test_sha1_million_a),
        cmocka_unit_test(test_sha1_incremental_splits),
        cmocka_unit_test(test_sha1_long_message),
        cmocka_unit_test(test_sha1_reads_only_its_input),
        cmocka_unit_test(test_base64_encoded_len),
        cmocka_unit_test(test_base64_rfc4648_encode),
        cmocka_unit_test(test_base64_rfc4648_decode),
        cmocka_unit_test(test_base64_round_trip),
        cmocka_unit_test(test_base64_decode_rejects),
        cmocka_unit_test(test_base64_decode_out_cap),
        cmocka_unit_test(test_base64_decode_bounds),
        cmocka_unit_test(test_accept_key_rfc6455),
        cmocka_unit_test(test_client_key_is_16_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
