/*
 * The cases, group by group, after the case descriptions of Autobahn|Testsuite's
 * fuzzingclient/fuzzingserver (what each sends and which outcomes count as OK / NON-STRICT).
 * Autobahn's one-second pauses are shortened to WAIT_MS: on loopback a peer that fails fast
 * does so within microseconds, so the verdicts are the same and the suite stays quick.
 */
#include "conformance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WAIT_MS 300u     /* Autobahn's continueLater(1) */
#define SETTLE_MS 250u   /* closeAfter(1) when nothing is expected back */
#define REPLY_MS 5000u   /* bound for an expected echo */
#define FAIL_MS 2000u    /* killAfter: bound for the peer to fail the connection */
#define BIG_MS 20000u    /* group 9: a 16 MiB echo takes about 1 s */

static const char hello[] = "Hello, world!";
#define STR(s) (s), (sizeof(s) - 1)

/* ---- 1 framing ---- */

static void c_framing(peer *p, const conf_case *c)
{
    size_t n = (size_t)c->a;
    unsigned op = c->valid ? WS_OP_BINARY : WS_OP_TEXT;
    const uint8_t *d = peer_fill(p, op == WS_OP_TEXT ? "*" : "\xfe", n);
    peer_frame(p, 1, 0, op, d, n, (size_t)c->b, 0);
    expect_msg(p, 0, op, d, n);
    expect_close_by_me(p, REPLY_MS);
}

/* ---- 2 ping/pong ---- */

static void c_ping(peer *p, const conf_case *c)
{
    switch (c->a) {
    case 1:
        peer_frame(p, 1, 0, WS_OP_PING, NULL, 0, 0, 0);
        expect_pong(p, 0, NULL, 0);
        break;
    case 2:
        peer_frame(p, 1, 0, WS_OP_PING, STR(hello), 0, 0);
        expect_pong(p, 0, STR(hello));
        break;
    case 3: {
        static const uint8_t bin[] = {0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff};
        peer_frame(p, 1, 0, WS_OP_PING, bin, sizeof bin, 0, 0);
        expect_pong(p, 0, bin, sizeof bin);
        break;
    }
    case 4:
    case 6: {
        const uint8_t *d = peer_fill(p, "\xfe", 125);
        peer_frame(p, 1, 0, WS_OP_PING, d, 125, c->a == 6 ? 1 : 0, 0);
        expect_pong(p, 0, d, 125);
        break;
    }
    case 5: {
        const uint8_t *d = peer_fill(p, "\xfe", 126);
        peer_frame(p, 1, 0, WS_OP_PING, d, 126, 0, 0);
        expect_fail(p, 1002, FAIL_MS);
        return;
    }
    case 7:
        peer_frame(p, 1, 0, WS_OP_PONG, NULL, 0, 0, 0);
        expect_close_by_me(p, SETTLE_MS);
        return;
    case 8:
        peer_frame(p, 1, 0, WS_OP_PONG, STR("unsolicited pong payload"), 0, 0);
        expect_close_by_me(p, SETTLE_MS);
        return;
    case 9:
        peer_frame(p, 1, 0, WS_OP_PONG, STR("unsolicited pong payload"), 0, 0);
        peer_frame(p, 1, 0, WS_OP_PING, STR("ping payload"), 0, 0);
        expect_pong(p, 0, STR("ping payload"));
        break;
    case 10:
    case 11:
        for (int i = 0; i < 10; i++) {
            char *d = (char *)peer_alloc(p, 16);
            int n = snprintf(d, 16, "payload-%d", i);
            peer_frame(p, 1, 0, WS_OP_PING, d, (size_t)n, c->a == 11 ? 1 : 0, 0);
            expect_pong(p, 0, d, (size_t)n);
        }
        break;
    }
    expect_close_by_me(p, REPLY_MS);
}

/* ---- 3 reserved bits ---- */

static void c_rsv(peer *p, const conf_case *c)
{
    unsigned rsv = (unsigned)c->a;
    switch (rsv) {
    case 1:
        peer_frame(p, 1, rsv, WS_OP_TEXT, STR(hello), 0, 0);
        break;
    case 2:
    case 3:
    case 4: {
        /* 2: one chop; 3: frame-wise chops; 4: octet-wise chops. */
        size_t chop = rsv == 4 ? 1 : 0;
        unsigned fl = rsv == 3 ? SEND_SYNC : 0;
        peer_frame(p, 1, 0, WS_OP_TEXT, STR(hello), chop, fl);
        peer_frame(p, 1, rsv, WS_OP_TEXT, STR(hello), chop, fl);
        peer_frame(p, 1, 0, WS_OP_PING, NULL, 0, chop, fl);
        expect_msg(p, 0, WS_OP_TEXT, STR(hello));
        peer_exp(p)->has_nonstrict = 1; /* NON-STRICT: nothing echoed (failed first) */
        break;
    }
    case 5: {
        uint8_t *d = peer_alloc(p, 256);
        for (int i = 0; i < 256; i++)
            d[i] = (uint8_t)i;
        peer_frame(p, 1, rsv, WS_OP_BINARY, d, 256, 0, 0);
        break;
    }
    case 6:
        peer_frame(p, 1, rsv, WS_OP_PING, STR(hello), 0, 0);
        break;
    case 7: {
        static const uint8_t close1000[] = {0x03, 0xe8};
        peer_frame(p, 1, rsv, WS_OP_CLOSE, close1000, 2, 0, 0);
        break;
    }
    }
    expect_fail(p, 1002, FAIL_MS);
}

/* ---- 4 reserved opcodes ---- */

static void c_opcode(peer *p, const conf_case *c)
{
    unsigned op = (unsigned)c->a;
    static const char pl[] = "reserved opcode payload";
    switch (c->b) {
    case 0:
        peer_frame(p, 1, 0, op, NULL, 0, 0, 0);
        break;
    case 1:
        peer_frame(p, 1, 0, op, STR(pl), 0, 0);
        break;
    default: {
        size_t chop = c->b == 4 ? 1 : 0;
        peer_frame(p, 1, 0, WS_OP_TEXT, STR(hello), chop, 0);
        if (c->b == 2)
            peer_frame(p, 1, 0, op, NULL, 0, chop, 0);
        else
            peer_frame(p, 1, 0, op, STR(pl), chop, 0);
        peer_frame(p, 1, 0, WS_OP_PING, NULL, 0, chop, 0);
        expect_msg(p, 0, WS_OP_TEXT, STR(hello));
        peer_exp(p)->has_nonstrict = 1;
    }
    }
    expect_fail(p, 1002, FAIL_MS);
}

/* ---- 5 fragmentation ---- */

/* Chopping variants: 0 one chop, 1 octet-wise, 2 frame-wise. */
static void frame_v(peer *p, int v, int fin, unsigned op, const char *s)
{
    peer_frame(p, fin, 0, op, s, strlen(s), v == 1 ? 1 : 0, v == 2 ? SEND_SYNC : 0);
}

static void c_frag(peer *p, const conf_case *c)
{
    int v = (int)c->b;
    switch (c->a) {
    case 1:
    case 2: {
        unsigned op = c->a == 1 ? WS_OP_PING : WS_OP_PONG;
        frame_v(p, 0, 0, op, "fragment1");
        frame_v(p, 0, 1, WS_OP_CONTINUATION, "fragment2");
        expect_fail(p, 1002, FAIL_MS);
        return;
    }
    case 3:
        frame_v(p, v, 0, WS_OP_TEXT, "fragment1");
        frame_v(p, v, 1, WS_OP_CONTINUATION, "fragment2");
        expect_msg(p, 0, WS_OP_TEXT, STR("fragment1fragment2"));
        expect_close_by_me(p, REPLY_MS);
        return;
    case 6:
        frame_v(p, v, 0, WS_OP_TEXT, "fragment1");
        frame_v(p, v, 1, WS_OP_PING, "ping payload");
        frame_v(p, v, 1, WS_OP_CONTINUATION, "fragment2");
        expect_pong(p, 0, STR("ping payload"));
        expect_msg(p, 0, WS_OP_TEXT, STR("fragment1fragment2"));
        expect_close_by_me(p, REPLY_MS);
        return;
    case 9:
    case 12:
        frame_v(p, v, c->a == 9, WS_OP_CONTINUATION, "non-continuation payload");
        frame_v(p, v, 1, WS_OP_TEXT, "Hello, world!");
        expect_fail(p, 1002, FAIL_MS);
        return;
    case 15:
        frame_v(p, 0, 0, WS_OP_TEXT, "fragment1");
        frame_v(p, 0, 1, WS_OP_CONTINUATION, "fragment2");
        frame_v(p, 0, 0, WS_OP_CONTINUATION, "fragment3");
        frame_v(p, 0, 1, WS_OP_TEXT, "fragment4");
        expect_msg(p, 0, WS_OP_TEXT, STR("fragment1fragment2"));
        peer_exp(p)->has_nonstrict = 1;
        expect_fail(p, 1002, FAIL_MS);
        return;
    case 16:
    case 17:
        for (int i = 0; i < 2; i++) {
            frame_v(p, 0, c->a == 17, WS_OP_CONTINUATION, "fragment1");
            frame_v(p, 0, 0, WS_OP_TEXT, "fragment2");
            frame_v(p, 0, 1, WS_OP_CONTINUATION, "fragment3");
        }
        expect_fail(p, 1002, FAIL_MS);
        return;
    case 18:
        frame_v(p, 0, 0, WS_OP_TEXT, "fragment1");
        frame_v(p, 0, 1, WS_OP_TEXT, "fragment2");
        expect_fail(p, 1002, FAIL_MS);
        return;
    case 19:
        frame_v(p, v, 0, WS_OP_TEXT, "fragment1");
        frame_v(p, v, 0, WS_OP_CONTINUATION, "fragment2");
        frame_v(p, v, 1, WS_OP_PING, "pongme 1!");
        peer_wait(p, WAIT_MS, 0);
        frame_v(p, v, 0, WS_OP_CONTINUATION, "fragment3");
        frame_v(p, v, 0, WS_OP_CONTINUATION, "fragment4");
        frame_v(p, v, 1, WS_OP_PING, "pongme 2!");
        frame_v(p, v, 1, WS_OP_CONTINUATION, "fragment5");
        expect_pong(p, 0, STR("pongme 1!"));
        expect_pong(p, 0, STR("pongme 2!"));
        expect_msg(p, 0, WS_OP_TEXT, STR("fragment1fragment2fragment3fragment4fragment5"));
        expect_close_by_me(p, REPLY_MS);
        return;
    }
}

/* ---- 6 UTF-8 ---- */

static const char kosme[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
static const char hello_utf8[] = "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1"
                                 "-UTF-8!!";
static const char bad_mid[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
                              "edited";
/* 6.4: U+110000 in the integer encoding (f4 90 80 80): invalid at its second byte. */
static const char bad_fast[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80"
                               "edited";

/* A text message sent one frame per octet. */
static void octet_frames(peer *p, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        peer_frame(p, i + 1 == n, 0, i ? WS_OP_CONTINUATION : WS_OP_TEXT, s + i, 1, 0, 0);
}

static void c_utf8_basic(peer *p, const conf_case *c)
{
    switch (c->a) {
    case 11:
        peer_frame(p, 1, 0, WS_OP_TEXT, NULL, 0, 0, 0);
        expect_msg(p, 0, WS_OP_TEXT, NULL, 0);
        break;
    case 12:
        peer_frame(p, 0, 0, WS_OP_TEXT, NULL, 0, 0, 0);
        peer_frame(p, 0, 0, WS_OP_CONTINUATION, NULL, 0, 0, 0);
        peer_frame(p, 1, 0, WS_OP_CONTINUATION, NULL, 0, 0, 0);
        expect_msg(p, 0, WS_OP_TEXT, NULL, 0);
        break;
    case 13:
        peer_frame(p, 0, 0, WS_OP_TEXT, NULL, 0, 0, 0);
        peer_frame(p, 0, 0, WS_OP_CONTINUATION, STR("middle frame payload"), 0, 0);
        peer_frame(p, 1, 0, WS_OP_CONTINUATION, NULL, 0, 0, 0);
        expect_msg(p, 0, WS_OP_TEXT, STR("middle frame payload"));
        break;
    case 21:
        peer_frame(p, 1, 0, WS_OP_TEXT, STR(hello_utf8), 0, 0);
        expect_msg(p, 0, WS_OP_TEXT, STR(hello_utf8));
        break;
    case 22: /* two fragments, split on a code point boundary ("Hello-µ@ß" | rest) */
        peer_frame(p, 0, 0, WS_OP_TEXT, hello_utf8, 11, 0, 0);
        peer_frame(p, 1, 0, WS_OP_CONTINUATION, hello_utf8 + 11, sizeof hello_utf8 - 12, 0, 0);
        expect_msg(p, 0, WS_OP_TEXT, STR(hello_utf8));
        break;
    case 23:
        octet_frames(p, STR(hello_utf8));
        expect_msg(p, 0, WS_OP_TEXT, STR(hello_utf8));
        break;
    case 24:
        octet_frames(p, STR(kosme));
        expect_msg(p, 0, WS_OP_TEXT, STR(kosme));
        break;
    case 31:
        peer_frame(p, 1, 0, WS_OP_TEXT, STR(bad_mid), 0, 0);
        expect_fail(p, 1007, FAIL_MS);
        return;
    case 32:
        octet_frames(p, STR(bad_mid));
        expect_fail(p, 1007, FAIL_MS);
        return;
    }
    expect_close_by_me(p, REPLY_MS);
}

/* 6.4.x fail fast: the invalid byte must close the connection before the message ends.
 * a: 1/2 frames, 3/4 chops of one frame; the split is after PAYLOAD1 (11 bytes, then the
 * whole 4-byte sequence) for 1/3, after byte 12 (then byte 12 alone) for 2/4. */
static void c_utf8_fast(peer *p, const conf_case *c)
{
    const char *s = bad_fast;
    size_t n = sizeof bad_fast - 1;
    size_t cut1 = (c->a == 1 || c->a == 3) ? 11 : 12;
    size_t cut2 = (c->a == 1 || c->a == 3) ? 15 : 13;
    int frames = c->a <= 2;

    expect_timeout(p, 0, 'A');
    expect_timeout(p, 1, 'A');
    expect_timeout(p, 1, 'B');
    expect_fail(p, 1007, FAIL_MS);
    if (frames)
        peer_frame(p, 0, 0, WS_OP_TEXT, s, cut1, 0, 0);
    else {
        peer_frame_begin(p, 1, WS_OP_TEXT, n);
        peer_frame_data(p, s, cut1);
    }
    if (!peer_wait(p, WAIT_MS, 'A'))
        return;
    if (frames)
        peer_frame(p, 0, 0, WS_OP_CONTINUATION, s + cut1, cut2 - cut1, 0, 0);
    else
        peer_frame_data(p, s + cut1, cut2 - cut1);
    if (!peer_wait(p, WAIT_MS, 'B'))
        return;
    if (frames)
        peer_frame(p, 1, 0, WS_OP_CONTINUATION, s + cut2, n - cut2, 0, 0);
    else
        peer_frame_data(p, s + cut2, n - cut2);
}

/* 6.5 and on: one text message per test vector, in one frame. */
static void c_utf8_vector(peer *p, const conf_case *c)
{
    peer_frame(p, 1, 0, WS_OP_TEXT, c->data, c->len, 0, 0);
    if (c->valid) {
        expect_msg(p, 0, WS_OP_TEXT, c->data, c->len);
        expect_close_by_me(p, REPLY_MS);
    } else {
        expect_fail(p, 1007, FAIL_MS);
    }
}

/* ---- 7 close handling ---- */

static void c_close(peer *p, const conf_case *c)
{
    switch (c->a) {
    case 11:
        peer_frame(p, 1, 0, WS_OP_TEXT, STR("Hello World!"), 0, 0);
        peer_close(p, 1000, NULL, 0);
        expect_msg(p, 0, WS_OP_TEXT, STR("Hello World!"));
        break;
    case 12:
        peer_close(p, 1000, NULL, 0);
        peer_close(p, 1000, NULL, 0);
        break;
    case 13:
        peer_close(p, 1000, NULL, 0);
        peer_frame(p, 1, 0, WS_OP_PING, STR("Hello World!"), 0, 0);
        break;
    case 14:
        peer_close(p, 1000, NULL, 0);
        peer_frame(p, 1, 0, WS_OP_TEXT, STR("Hello World!"), 0, 0);
        break;
    case 15:
        peer_frame(p, 0, 0, WS_OP_TEXT, STR("fragment1"), 0, 0);
        peer_close(p, 1000, NULL, 0);
        peer_frame(p, 1, 0, WS_OP_CONTINUATION, STR("fragment2"), 0, 0);
        break;
    case 16: {
        /* Informational in Autobahn: is the message processed before the close? */
        size_t n = 256u << 10;
        const uint8_t *big = peer_fill(p, "BAsd7&jh23", n);
        peer_frame(p, 1, 0, WS_OP_TEXT, big, n, 0, 0);
        peer_frame(p, 1, 0, WS_OP_TEXT, STR("Hello World!"), 0, 0);
        peer_close(p, 1000, NULL, 0);
        peer_frame(p, 1, 0, WS_OP_PING, NULL, 0, 0, 0);
        expect_msg(p, 0, WS_OP_TEXT, big, n);
        expect_msg(p, 0, WS_OP_TEXT, STR("Hello World!"));
        peer_exp(p)->has_nonstrict = 1;
        peer_exp(p)->informational = 1;
        break;
    }
    case 31:
        peer_close_raw(p, NULL, 0, 0);
        break;
    case 32:
        peer_close_raw(p, "*", 1, 0);
        expect_close_by_me(p, FAIL_MS);
        peer_exp(p)->codes[0] = 1002;
        peer_exp(p)->require_clean = 0;
        peer_exp(p)->kill_after = 1;
        return;
    case 33:
        peer_close(p, 1000, NULL, 0);
        break;
    case 34:
        peer_close(p, 1000, STR("Hello World!"));
        break;
    case 35:
    case 36: {
        size_t n = c->a == 35 ? 123 : 124;
        char *r = (char *)peer_fill(p, "*", n);
        peer_close(p, 1000, r, n);
        if (c->a == 36) {
            expect_close_by_me(p, FAIL_MS);
            peer_exp(p)->codes[0] = 1002;
            peer_exp(p)->require_clean = 0;
            peer_exp(p)->kill_after = 1;
            return;
        }
        break;
    }
    case 51:
        peer_close(p, 1000, STR(bad_mid));
        expect_close_by_me(p, FAIL_MS);
        peer_exp(p)->codes[0] = 1007;
        peer_exp(p)->require_clean = 0;
        peer_exp(p)->kill_after = 1;
        return;
    }
    expect_close_by_me(p, REPLY_MS);
    peer_exp(p)->kill_after = 1;
}

/* 7.7 valid codes (clean, echoed or 1000), 7.9 invalid (1002), 7.13 out of range (info). */
static void c_close_code(peer *p, const conf_case *c)
{
    uint16_t code = (uint16_t)c->b;
    peer_close(p, code, NULL, 0);
    expect_close_by_me(p, FAIL_MS);
    peer_expect *e = peer_exp(p);
    e->kill_after = 1;
    if (c->a == 7) {
        e->codes[1] = code;
        e->ncodes = 2;
    } else if (c->a == 9) {
        e->codes[0] = 1002;
        e->require_clean = 0;
    } else {
        e->codes[1] = code;
        e->codes[2] = 1002;
        e->ncodes = 3;
        e->require_clean = 0;
        e->informational = 1;
    }
}

/* ---- 9 limits ---- */

static void c_big(peer *p, const conf_case *c)
{
    size_t n = (size_t)c->a, frag = 0, chop = 0;
    unsigned op = c->valid ? WS_OP_BINARY : WS_OP_TEXT;
    const uint8_t *d = peer_fill(p, op == WS_OP_TEXT ? "*" : "\xfe", n);
    if (c->len == 1)
        frag = (size_t)c->b;
    else if (c->len == 2)
        chop = (size_t)c->b;
    if (chop)
        peer_frame(p, 1, 0, op, d, n, chop, 0);
    else
        peer_message(p, op, d, n, frag);
    expect_msg(p, 0, op, d, n);
    expect_close_by_me(p, BIG_MS);
}

/* 9.7 / 9.8: many messages, each sent once the previous one came back. */
static void c_roundtrip(peer *p, const conf_case *c)
{
    size_t n = (size_t)c->b, count = (size_t)c->a;
    unsigned op = c->valid ? WS_OP_BINARY : WS_OP_TEXT;
    const uint8_t *d = peer_fill(p, op == WS_OP_TEXT ? "*" : "\xfe", n);
    for (size_t i = 0; i < count; i++) {
        expect_msg(p, 0, op, d, n);
        if (peer_frame(p, 1, 0, op, d, n, 0, 0) < 0 || !peer_wait_events(p, i + 1, REPLY_MS))
            break;
    }
    expect_close_by_me(p, REPLY_MS);
}

/* ---- 10 auto-fragmentation ---- */

static void c_autofrag(peer *p, const conf_case *c)
{
    (void)c;
    size_t n = 65536;
    const uint8_t *d = peer_fill(p, "*", n);
    peer_message(p, WS_OP_TEXT, d, n, 1300);
    expect_msg(p, 0, WS_OP_TEXT, d, n);
    expect_close_by_me(p, REPLY_MS);
}

/* ---- 12 / 13 permessage-deflate ---- */

/*
 * Autobahn's shape: messages of one size cut one after another from a data set (wrapping
 * around), each compressed by the tester, echoed by libws and decompressed by the tester, one
 * at a time; OK when every echo matches. Autobahn sends 1000 messages per case; here the
 * count is bounded by a byte budget per case (at least 4, at most 100) so the 216 cases of a
 * target take seconds, not minutes. The data sets are generated (the same bytes every run):
 * prose with some non-ASCII letters and a grey-scale picture (both sent as binary, like
 * Autobahn's text and bitmap files), random bytes (incompressible, like its PDF), and JSON
 * and HTML (ASCII, sent as text, so any slice is valid UTF-8).
 */
#define PMD_DATA_LEN (192u * 1024u)
#define PMD_BUDGET (256u * 1024u)
#define PMD_BUDGET_QUICK (32u * 1024u)

static void c_pmd(peer *p, const conf_case *c)
{
    size_t n = (size_t)c->a, frag = (size_t)c->b, off = 0;
    unsigned op = c->valid ? WS_OP_BINARY : WS_OP_TEXT;
    for (int i = 0; i < c->count; i++) {
        uint8_t *m = peer_alloc(p, n);
        for (size_t done = 0; done < n;) {
            size_t k = c->len - off < n - done ? c->len - off : n - done;
            memcpy(m + done, c->data + off, k);
            done += k;
            off = (off + k) % c->len;
        }
        expect_msg(p, 0, op, m, n);
        if (peer_message_deflate(p, op, m, n, frag) < 0 || !peer_wait_events(p, (size_t)i + 1,
                                                                              REPLY_MS))
            break;
    }
    expect_close_by_me(p, REPLY_MS);
}

static uint32_t ds_rand(uint64_t *st)
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return (uint32_t)((*st * 0x2545F4914F6CDD1Dull) >> 32);
}

enum { DS_PROSE, DS_PICTURE, DS_RANDOM, DS_JSON, DS_HTML, DS_N };

static uint8_t *pmd_data[DS_N];

static size_t ds_put(uint8_t *d, size_t at, const char *s)
{
    size_t k = strlen(s);
    if (at + k > PMD_DATA_LEN)
        k = PMD_DATA_LEN - at;
    memcpy(d + at, s, k);
    return at + k;
}

static const uint8_t *dataset(int k)
{
    static const char *const words[] = {
        "der", "die", "und", "Nacht", "Geist", "Stunde", "f\xc3\xbcr", "Gl\xc3\xbc\x63k",
        "sch\xc3\xb6n", "Welt", "mich", "nicht", "Tr\xc3\xa4ume", "wei\xc3\x9f", "Himmel", "Erde", "wo", "was",
        "ach", "Studierzimmer", "Wissenschaft", "immer", "strebend", "bem\xc3\xbcht"};
    static const char *const names[] = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta",
                                        "eta", "theta", "iota", "kappa"};
    uint64_t st = 0x9E3779B97F4A7C15ull + (uint64_t)k * 0x632BE59BD9B4E019ull;
    size_t at = 0;
    char line[256];

    if (pmd_data[k])
        return pmd_data[k];
    uint8_t *d = malloc(PMD_DATA_LEN);
    if (!d) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (unsigned i = 0; at < PMD_DATA_LEN; i++) {
        uint32_t r = ds_rand(&st);
        switch (k) {
        case DS_PROSE:
            at = ds_put(d, at, words[r % (sizeof words / sizeof *words)]);
            at = ds_put(d, at, r % 11 == 0 ? ",\n" : r % 17 == 0 ? ". " : " ");
            break;
        case DS_PICTURE: {
            unsigned x = i % 512, y = i / 512 % 512;
            d[at++] = (uint8_t)((x * 3 + y * 5) / 8 + (x / 64 + y / 64) * 9 + (r & 7));
            break;
        }
        case DS_RANDOM:
            d[at++] = (uint8_t)r;
            break;
        case DS_JSON:
            snprintf(line, sizeof line,
                     "{\"id\": %u, \"name\": \"%s-%u\", \"tags\": [\"%s\", \"%s\"], "
                     "\"score\": %u.%02u, \"active\": %s},\n",
                     i, names[r % 10], r % 1000, names[(r >> 8) % 10], names[(r >> 12) % 10],
                     (r >> 4) % 100, r % 100, (r & 0x100) ? "true" : "false");
            at = ds_put(d, at, line);
            break;
        default:
            snprintf(line, sizeof line,
                     "<tr class=\"row-%u\"><td><a href=\"/item/%u\">%s</a></td>"
                     "<td>%u</td><td>%s</td></tr>\n",
                     i % 2, r % 5000, names[r % 10], (r >> 8) % 100000,
                     names[(r >> 20) % 10]);
            at = ds_put(d, at, line);
            break;
        }
    }
    pmd_data[k] = d;
    return d;
}

/* Autobahn's sizes: (payload length, auto-fragment size of the compressed payload). */
static const long pmd_sizes[18][2] = {
    {16, 0},      {64, 0},      {256, 0},     {1024, 0},    {4096, 0},     {8192, 0},
    {16384, 0},   {32768, 0},   {65536, 0},   {131072, 0},  {8192, 256},   {16384, 256},
    {32768, 256}, {65536, 256}, {131072, 256}, {131072, 1024}, {131072, 4096}, {131072, 32768},
};

static char pmd_desc[(DS_N + 7) * 18][200];

/* ---- the table ---- */

struct builder {
    conf_case *v;
    size_t n, cap;
};

static conf_case *add(struct builder *b, const char *id, const char *desc,
                      void (*run)(peer *, const conf_case *), long a, long bb)
{
    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->v = realloc(b->v, b->cap * sizeof *b->v);
        if (!b->v) {
            fprintf(stderr, "out of memory\n");
            exit(2);
        }
    }
    conf_case *c = &b->v[b->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->id, sizeof c->id, "%s", id);
    c->desc = desc;
    c->run = run;
    c->a = a;
    c->b = bb;
    return c;
}

/* UTF-8 test vectors (after Markus Kuhn's UTF-8-test.txt, as Autobahn groups them); hex
 * strings, one per case; '+' marks a valid one. */
struct vec_group {
    const char *title;
    const char *items[12];
};

static const struct vec_group vec_groups[] = {
    {"first possible sequence of each length", {"+00", "+c280", "+e0a080", "+f0908080"}},
    {"first 5/6-byte sequences (beyond U+10FFFF)", {"f888808080", "fc8480808080"}},
    {"last possible sequence of each length", {"+7f", "+dfbf", "+efbfbf", "+f48fbfbf"}},
    {"last 4/5/6-byte sequences (beyond U+10FFFF)",
     {"f7bfbfbf", "fbbfbfbfbf", "fdbfbfbfbfbf"}},
    {"other boundary conditions",
     {"+ed9fbf", "+ee8080", "+efbfbd", "+f48fbfbf", "f4908080"}},
    {"unexpected continuation bytes",
     {"80", "bf", "80bf", "80bf80", "80bf80bf", "80bf80bf80", "80bf80bf80bf"}},
};

static const char *const missing_last[] = {"c0",         "e080",   "f08080", "f8808080",
                                           "fc80808080", "df",     "efbf",   "f7bfbf",
                                           "fbbfbfbf",   "fdbfbfbfbf"};

static const struct vec_group vec_groups2[] = {
    {"impossible bytes", {"fe", "ff", "fefeffff"}},
    {"overlong ASCII '/'",
     {"c0af", "e080af", "f08080af", "f8808080af", "fc80808080af"}},
    {"maximum overlong sequences",
     {"c1bf", "e09fbf", "f08fbfbf", "f887bfbfbf", "fc83bfbfbfbf"}},
    {"overlong NUL", {"c080", "e08080", "f0808080", "f880808080", "fc8080808080"}},
    {"single UTF-16 surrogates",
     {"eda080", "edadbf", "edae80", "edafbf", "edb080", "edbe80", "edbfbf"}},
    {"paired UTF-16 surrogates",
     {"eda080edb080", "eda080edbfbf", "edadbfedb080", "edadbfedbfbf", "edae80edb080",
      "edae80edbfbf", "edafbfedb080", "edafbfedbfbf"}},
};

static uint8_t *unhex(const char *h, size_t *n)
{
    size_t k = strlen(h) / 2;
    uint8_t *b = malloc(k ? k : 1);
    for (size_t i = 0; b && i < k; i++) {
        unsigned v;
        sscanf(h + 2 * i, "%2x", &v);
        b[i] = (uint8_t)v;
    }
    *n = k;
    return b;
}

/* Vector storage lives for the whole run (the case table points into it). */
static uint8_t vec_store[64 * 1024];
static size_t vec_used;

static const uint8_t *keep(const uint8_t *d, size_t n)
{
    if (vec_used + n > sizeof vec_store) {
        fprintf(stderr, "vector store full\n");
        exit(2);
    }
    uint8_t *p = vec_store + vec_used;
    memcpy(p, d, n);
    vec_used += n;
    return p;
}

static void add_vec(struct builder *b, int grp, int *j, const char *desc, const uint8_t *d,
                    size_t n, int valid)
{
    char id[16];
    snprintf(id, sizeof id, "6.%d.%d", grp, (*j)++);
    conf_case *c = add(b, id, desc, c_utf8_vector, 0, 0);
    c->data = keep(d, n);
    c->len = n;
    c->valid = valid;
}

static void add_vec_hex(struct builder *b, int grp, int *j, const char *desc, const char *h)
{
    size_t n;
    int valid = h[0] == '+';
    uint8_t *d = unhex(valid ? h + 1 : h, &n);
    add_vec(b, grp, j, desc, d, n, valid);
    free(d);
}

static void add_utf8_vectors(struct builder *b)
{
    int g = 5, j;
    char buf[256];
    size_t n;

    /* 6.5 valid text, 6.6 every prefix of "κόσμε" (valid only on code point ends). */
    j = 1;
    static const char *const valid5[] = {"hello$world", "hello\xc2\xa2world",
                                         "hello\xe2\x82\xacworld", "hello\xf0\xa4\xad\xa2world",
                                         kosme};
    for (int i = 0; i < 5; i++)
        add_vec(b, g, &j, "valid UTF-8 text", (const uint8_t *)valid5[i], strlen(valid5[i]),
                1);
    g++, j = 1;
    for (size_t i = 1; i <= sizeof kosme - 1; i++)
        add_vec(b, g, &j, "a prefix of a multi-byte UTF-8 string", (const uint8_t *)kosme, i,
                conf_utf8_ok((const uint8_t *)kosme, i));
    g++;
    for (size_t k = 0; k < sizeof vec_groups / sizeof vec_groups[0]; k++, g++) {
        j = 1;
        for (int i = 0; i < 12 && vec_groups[k].items[i]; i++)
            add_vec_hex(b, g, &j, vec_groups[k].title, vec_groups[k].items[i]);
        if (k + 1 == sizeof vec_groups / sizeof vec_groups[0]) {
            /* ... and every continuation byte 0x80..0xbe in a row */
            for (n = 0; n < 0x3f; n++)
                buf[n] = (char)(0x80 + n);
            add_vec(b, g, &j, vec_groups[k].title, (const uint8_t *)buf, n, 0);
        }
    }
    /* 6.13 lonely start bytes, each followed by a space. */
    static const int ranges[5][2] = {{0xc0, 0xdf}, {0xe0, 0xef}, {0xf0, 0xf7}, {0xf8, 0xfb},
                                     {0xfc, 0xfd}};
    j = 1;
    for (int r = 0; r < 5; r++) {
        n = 0;
        for (int x = ranges[r][0]; x < ranges[r][1]; x++) {
            buf[n++] = (char)x;
            buf[n++] = ' ';
        }
        add_vec(b, g, &j, "lonely start bytes", (const uint8_t *)buf, n, 0);
    }
    g++;
    /* 6.14 sequences missing their last byte, 6.15 all of them concatenated. */
    j = 1;
    for (int i = 0; i < 10; i++)
        add_vec_hex(b, g, &j, "sequence with its last continuation byte missing",
                    missing_last[i]);
    g++, j = 1;
    char cat[128] = "";
    for (int i = 0; i < 10; i++)
        strcat(cat, missing_last[i]);
    add_vec_hex(b, g, &j, "concatenated incomplete sequences", cat);
    g++;
    for (size_t k = 0; k < sizeof vec_groups2 / sizeof vec_groups2[0]; k++, g++) {
        j = 1;
        for (int i = 0; i < 12 && vec_groups2[k].items[i]; i++)
            add_vec_hex(b, g, &j, vec_groups2[k].title, vec_groups2[k].items[i]);
    }
    /* 6.22 noncharacters (valid UTF-8), 6.23 the Specials block. */
    j = 1;
    add_vec_hex(b, g, &j, "noncharacter (valid UTF-8)", "+efbfbe");
    add_vec_hex(b, g, &j, "noncharacter (valid UTF-8)", "+efbfbf");
    for (int z1 = 0xf0; z1 <= 0xf4; z1++) {
        static const int z2s[4] = {0x8f, 0x9f, 0xaf, 0xbf};
        for (int k = 0; k < 4; k++) {
            if (z1 == 0xf4 && z2s[k] != 0x8f)
                continue; /* beyond U+10FFFF */
            if (z1 == 0xf0 && z2s[k] == 0x8f)
                continue; /* overlong */
            for (int z3 = 0xbe; z3 <= 0xbf; z3++) {
                uint8_t q[4] = {(uint8_t)z1, (uint8_t)z2s[k], 0xbf, (uint8_t)z3};
                add_vec(b, g, &j, "noncharacter (valid UTF-8)", q, 4, 1);
            }
        }
    }
    g++, j = 1;
    for (int x = 0xb9; x <= 0xbf; x++) {
        uint8_t q[3] = {0xef, 0xbf, (uint8_t)x};
        add_vec(b, g, &j, "Unicode Specials block (valid UTF-8)", q, 3, 1);
    }
}

static void add_pmd(struct builder *b, int g, int sub, const char *what, int ds, int quick,
                    const char *offer, const char *answer)
{
    static size_t ndesc;
    char id[16];
    for (int i = 0; i < 18; i++) {
        size_t len = (size_t)pmd_sizes[i][0], frag = (size_t)pmd_sizes[i][1];
        size_t budget = quick ? PMD_BUDGET_QUICK : PMD_BUDGET;
        size_t count = budget / len;
        count = count < 4 ? 4 : count > 100 ? 100 : count;
        if (quick && count > 20)
            count = 20;
        char *d = ndesc < sizeof pmd_desc / sizeof *pmd_desc ? pmd_desc[ndesc++] : NULL;
        if (!d) {
            fprintf(stderr, "too many permessage-deflate cases\n");
            exit(2);
        }
        char fr[64] = "";
        if (frag)
            snprintf(fr, sizeof fr, ", compressed payload in frames of %zu", frag);
        snprintf(d, sizeof pmd_desc[0], "deflate, %s: %zu messages of %zu bytes%s", what,
                 count, len, fr);
        snprintf(id, sizeof id, "%d.%d.%d", g, sub, i + 1);
        conf_case *c = add(b, id, d, c_pmd, (long)len, (long)frag);
        c->data = dataset(ds);
        c->len = PMD_DATA_LEN;
        c->valid = ds != DS_JSON && ds != DS_HTML;
        c->count = (int)count;
        c->pmd_offer = offer;
        c->pmd_answer = answer;
    }
}

size_t conf_cases(conf_case **out, int quick)
{
    struct builder b = {0};
    char id[32]; /* room for any two ints (gcc checks), as in conf_case */
    conf_case *c;

    /* 1 framing: text then binary at every length boundary, the last one chopped. */
    static const long lens[8] = {0, 125, 126, 127, 128, 65535, 65536, 65536};
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 8; i++) {
            snprintf(id, sizeof id, "1.%d.%d", t + 1, i + 1);
            c = add(&b, id, t ? "binary message at a length boundary" :
                                "text message at a length boundary",
                    c_framing, lens[i], i == 7 ? 997 : 0);
            c->valid = t;
        }

    /* 2 ping/pong */
    static const char *const d2[] = {
        NULL,
        "ping without payload",
        "ping with a text payload",
        "ping with a binary payload",
        "ping with a 125-byte payload",
        "ping with a 126-byte payload (too long)",
        "ping with a 125-byte payload, octet-wise chops",
        "unsolicited pong without payload",
        "unsolicited pong with payload",
        "unsolicited pong, then a ping",
        "10 pings",
        "10 pings, octet-wise chops",
    };
    for (int i = 1; i <= 11; i++) {
        snprintf(id, sizeof id, "2.%d", i);
        add(&b, id, d2[i], c_ping, i, 0);
    }

    /* 3 reserved bits */
    static const char *const d3[] = {
        NULL,
        "text with RSV=1",
        "text, text with RSV=2, ping",
        "text, text with RSV=3, ping; frame-wise chops",
        "text, text with RSV=4, ping; octet-wise chops",
        "binary with RSV=5",
        "ping with RSV=6",
        "close with RSV=7",
    };
    for (int i = 1; i <= 7; i++) {
        snprintf(id, sizeof id, "3.%d", i);
        add(&b, id, d3[i], c_rsv, i, 0);
    }

    /* 4 reserved opcodes: 3-7 (data) and 11-15 (control). */
    static const char *const d4[] = {
        "reserved opcode, no payload",
        "reserved opcode with payload",
        "text, reserved opcode, ping",
        "text, reserved opcode with payload, ping",
        "text, reserved opcode with payload, ping; octet-wise chops",
    };
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 5; i++) {
            snprintf(id, sizeof id, "4.%d.%d", k + 1, i + 1);
            add(&b, id, d4[i], c_opcode, (k ? 11 : 3) + i, i);
        }

    /* 5 fragmentation */
    static const struct {
        int a, v;
        const char *d;
    } g5[] = {
        {1, 0, "ping in 2 fragments"},
        {2, 0, "pong in 2 fragments"},
        {3, 0, "text in 2 fragments"},
        {3, 1, "text in 2 fragments, octet-wise chops"},
        {3, 2, "text in 2 fragments, frame-wise chops"},
        {6, 0, "text in 2 fragments with a ping between"},
        {6, 1, "text in 2 fragments with a ping between, octet-wise chops"},
        {6, 2, "text in 2 fragments with a ping between, frame-wise chops"},
        {9, 0, "unexpected continuation (FIN), then text"},
        {9, 1, "unexpected continuation (FIN), then text; octet-wise chops"},
        {9, 2, "unexpected continuation (FIN), then text; frame-wise chops"},
        {12, 0, "unexpected continuation (no FIN), then text"},
        {12, 1, "unexpected continuation (no FIN), then text; octet-wise chops"},
        {12, 2, "unexpected continuation (no FIN), then text; frame-wise chops"},
        {15, 0, "2-fragment text, then a continuation with nothing to continue"},
        {16, 0, "2x: continuation (no FIN) with nothing to continue, 2-fragment text"},
        {17, 0, "2x: continuation (FIN) with nothing to continue, 2-fragment text"},
        {18, 0, "text in 2 fragments, both with the text opcode"},
        {19, 0, "text in 5 fragments, pings between, a pause in the middle"},
        {19, 2, "text in 5 fragments, pings between, a pause; frame-wise chops"},
    };
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "5.%d", i + 1);
        add(&b, id, g5[i].d, c_frag, g5[i].a, g5[i].v);
    }

    /* 6 UTF-8 */
    static const struct {
        const char *id;
        int a;
        const char *d;
    } g6[] = {
        {"6.1.1", 11, "empty text message"},
        {"6.1.2", 12, "empty text message in 3 empty fragments"},
        {"6.1.3", 13, "text in 3 fragments, the first and last empty"},
        {"6.2.1", 21, "valid UTF-8 text in one frame"},
        {"6.2.2", 22, "valid UTF-8 text in 2 fragments on a code point boundary"},
        {"6.2.3", 23, "valid UTF-8 text, one frame per octet"},
        {"6.2.4", 24, "valid multi-byte UTF-8 text, one frame per octet"},
        {"6.3.1", 31, "invalid UTF-8 (a surrogate) in one frame"},
        {"6.3.2", 32, "invalid UTF-8 (a surrogate), one frame per octet"},
    };
    for (int i = 0; i < 9; i++)
        add(&b, g6[i].id, g6[i].d, c_utf8_basic, g6[i].a, 0);
    static const char *const d64[] = {
        "fail fast: invalid sequence in the 2nd of 3 frames",
        "fail fast: invalid byte alone in the 2nd of 3 frames",
        "fail fast: invalid sequence in the 2nd of 3 chops of one frame",
        "fail fast: invalid byte alone in the 2nd of 3 chops of one frame",
    };
    for (int i = 1; i <= 4; i++) {
        snprintf(id, sizeof id, "6.4.%d", i);
        add(&b, id, d64[i - 1], c_utf8_fast, i, 0);
    }
    add_utf8_vectors(&b);

    /* 7 close handling */
    static const struct {
        const char *id;
        int a;
        const char *d;
    } g7[] = {
        {"7.1.1", 11, "text, then close"},
        {"7.1.2", 12, "close twice"},
        {"7.1.3", 13, "close, then ping"},
        {"7.1.4", 14, "close, then text"},
        {"7.1.5", 15, "first fragment, close, last fragment"},
        {"7.1.6", 16, "256 KiB text, text, close, ping (informational)"},
        {"7.3.1", 31, "close without payload"},
        {"7.3.2", 32, "close with a 1-byte payload"},
        {"7.3.3", 33, "close 1000 without reason"},
        {"7.3.4", 34, "close 1000 with a reason"},
        {"7.3.5", 35, "close 1000 with a 123-byte reason"},
        {"7.3.6", 36, "close 1000 with a 124-byte reason (too long)"},
        {"7.5.1", 51, "close with an invalid UTF-8 reason"},
    };
    for (int i = 0; i < 13; i++)
        add(&b, g7[i].id, g7[i].d, c_close, g7[i].a, 0);
    static const int valid_codes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                      1010, 1011, 3000, 3999, 4000, 4999};
    static const int bad_codes[] = {0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999};
    for (int i = 0; i < 13; i++) {
        snprintf(id, sizeof id, "7.7.%d", i + 1);
        add(&b, id, "close with a valid code", c_close_code, 7, valid_codes[i]);
    }
    for (int i = 0; i < 9; i++) {
        snprintf(id, sizeof id, "7.9.%d", i + 1);
        add(&b, id, "close with an invalid code", c_close_code, 9, bad_codes[i]);
    }
    add(&b, "7.13.1", "close with code 5000 (informational)", c_close_code, 13, 5000);
    add(&b, "7.13.2", "close with code 65535 (informational)", c_close_code, 13, 65535);

    /* 9 limits. quick (valgrind) caps sizes at 1 MiB and the round trips at 100. */
    size_t cap = quick ? (1u << 20) : SIZE_MAX;
    static const long sizes91[] = {65536, 262144, 1 << 20, 4 << 20, 8 << 20, 16 << 20};
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 6; i++) {
            snprintf(id, sizeof id, "9.%d.%d", t + 1, i + 1);
            c = add(&b, id, t ? "large binary message" : "large text message", c_big,
                    (long)((size_t)sizes91[i] < cap ? (size_t)sizes91[i] : cap), 0);
            c->valid = t;
        }
    static const long frags[] = {64, 256, 1024, 4096, 16384, 65536, 262144, 1 << 20, 4 << 20};
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 9; i++) {
            size_t n = (size_t)4 << 20 < cap ? (size_t)4 << 20 : cap;
            snprintf(id, sizeof id, "9.%d.%d", t + 3, i + 1);
            c = add(&b, id, t ? "4 MiB binary message in fragments" :
                                "4 MiB text message in fragments",
                    c_big, (long)n, frags[i]);
            c->len = 1;
            c->valid = t;
        }
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 6; i++) {
            snprintf(id, sizeof id, "9.%d.%d", t + 5, i + 1);
            c = add(&b, id, t ? "1 MiB binary message, chopped" :
                                "1 MiB text message, chopped",
                    c_big, 1 << 20, 64L << i);
            c->len = 2;
            c->valid = t;
        }
    static const long rt[] = {0, 16, 64, 256, 1024, 4096};
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 6; i++) {
            snprintf(id, sizeof id, "9.%d.%d", t + 7, i + 1);
            c = add(&b, id, t ? "1000 binary messages, one at a time" :
                                "1000 text messages, one at a time",
                    c_roundtrip, quick ? 100 : 1000, rt[i]);
            c->valid = t;
        }

    /* 10 auto-fragmentation */
    add(&b, "10.1.1", "64 KiB text message auto-fragmented into 1300-byte frames", c_autofrag,
        0, 0);

    if (!conf_have_zlib()) {
        *out = b.v;
        return b.n;
    }

    /* 12 permessage-deflate, default offer and answer: each data set at every size. The
     * tester as a client offers what libws offers by default; as a server it accepts. */
    static const char *const dsname[DS_N] = {
        "prose with umlauts (binary)", "grey-scale picture (binary)",
        "random bytes, incompressible (binary)", "JSON records (text)", "HTML table (text)"};
    for (int k = 0; k < DS_N; k++)
        add_pmd(&b, 12, k + 1, dsname[k], k, quick, "permessage-deflate; client_max_window_bits",
                "permessage-deflate");

    /* 13 the parameter matrix, on the JSON data set. Offer: what the tester as a client
     * offers the echo servers (they pick); answer: what the tester as a server answers wsc's
     * default offer. Windows of 8 bits make libws send uncompressed (zlib cannot compress
     * with them) while the tester still compresses (Z_RLE, distance 1 only). */
    static const struct {
        const char *what, *offer, *answer;
    } g13[7] = {
        {"no parameters",
         "permessage-deflate; client_max_window_bits",
         "permessage-deflate"},
        {"no context takeover both ways",
         "permessage-deflate; client_no_context_takeover; server_no_context_takeover",
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover"},
        {"windows of 8 bits both ways",
         "permessage-deflate; client_max_window_bits=8; server_max_window_bits=8",
         "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8"},
        {"windows of 15 bits both ways, stated",
         "permessage-deflate; client_max_window_bits=15; server_max_window_bits=15",
         "permessage-deflate; server_max_window_bits=15; client_max_window_bits=15"},
        {"no context takeover and windows of 8 bits both ways",
         "permessage-deflate; client_no_context_takeover; client_max_window_bits=8; "
         "server_no_context_takeover; server_max_window_bits=8",
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
         "server_max_window_bits=8; client_max_window_bits=8"},
        {"no context takeover and windows of 15 bits both ways",
         "permessage-deflate; client_no_context_takeover; client_max_window_bits=15; "
         "server_no_context_takeover; server_max_window_bits=15",
         "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
         "server_max_window_bits=15; client_max_window_bits=15"},
        {"three offers, the first unacceptable; windows of 9..12 bits",
         "permessage-deflate; client_max_window_bits; x_unknown_param, "
         "permessage-deflate; client_max_window_bits=11; server_max_window_bits=10; "
         "server_no_context_takeover, permessage-deflate",
         "permessage-deflate; server_max_window_bits=9; client_max_window_bits=12; "
         "server_no_context_takeover"},
    };
    for (int k = 0; k < 7; k++)
        add_pmd(&b, 13, k + 1, g13[k].what, DS_JSON, quick, g13[k].offer, g13[k].answer);

    *out = b.v;
    return b.n;
}
