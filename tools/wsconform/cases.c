/*
 * The cases, group by group, after the case descriptions of Autobahn|Testsuite (what each
 * sends, the outcomes that count as OK / NON-STRICT, how the connection must end, and the
 * timers: killAfter, closeAfter, continueLater). Autobahn's numbering is kept; cases it lacks
 * are numbered from 20 on and marked as extensions (run with --extensions).
 *
 * Timers are Autobahn's, with two changes that do not change a verdict: killAfter/closeAfter
 * are at least min_kill_ms (2 s; a case ends as soon as its outcome is clear, so only a peer
 * that does nothing waits that long), and continueLater waits wait_ms (Autobahn: 1 s; the ci
 * profile 300 ms -- a peer that fails fast does so within microseconds on loopback).
 */
#include "wsconform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char hello[] = "Hello, world!";
#define STR(s) (s), (sizeof(s) - 1)

/* expected outcome shorthands: the tester closes cleanly with 1000; the peer fails with code */
static void close_by_me(peer *p)
{
    expect_close(p, 1, 1, 1000);
}

static void fail_by_peer(peer *p, uint16_t code)
{
    expect_close(p, 0, 0, code);
}

/* ---- 1 framing ---- */

static void c_framing(peer *p, const conf_case *c)
{
    size_t n = (size_t)c->a;
    unsigned op = c->valid ? WS_OP_BINARY : WS_OP_TEXT;
    const uint8_t *d = peer_fill(p, op == WS_OP_TEXT ? "*" : "\xfe", n);
    expect_msg(p, 0, op, d, n);
    close_by_me(p);
    peer_frame(p, 1, 0, op, d, n, (size_t)c->b, 0);
    peer_kill_after(p, n >= 65535 ? 10000 : 1000);
}

/* ---- 2 ping/pong ---- */

static void c_ping(peer *p, const conf_case *c)
{
    close_by_me(p);
    switch (c->a) {
    case 1:
        expect_pong(p, 0, NULL, 0);
        peer_frame(p, 1, 0, WS_OP_PING, NULL, 0, 0, 0);
        break;
    case 2:
        expect_pong(p, 0, STR(hello));
        peer_frame(p, 1, 0, WS_OP_PING, STR(hello), 0, 0);
        break;
    case 3: {
        static const uint8_t bin[] = {0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff};
        expect_pong(p, 0, bin, sizeof bin);
        peer_frame(p, 1, 0, WS_OP_PING, bin, sizeof bin, 0, 0);
        break;
    }
    case 4:
    case 6: {
        const uint8_t *d = peer_fill(p, "\xfe", 125);
        expect_pong(p, 0, d, 125);
        peer_frame(p, 1, 0, WS_OP_PING, d, 125, c->a == 6 ? 1 : 0, 0);
        peer_close_after(p, c->a == 6 ? 2000 : 1000);
        return;
    }
    case 5: {
        const uint8_t *d = peer_fill(p, "\xfe", 126);
        fail_by_peer(p, 1002);
        peer_frame(p, 1, 0, WS_OP_PING, d, 126, 0, 0);
        peer_kill_after(p, 1000);
        return;
    }
    case 7:
    case 8:
        if (c->a == 7)
            peer_frame(p, 1, 0, WS_OP_PONG, NULL, 0, 0, 0);
        else
            peer_frame(p, 1, 0, WS_OP_PONG, STR("unsolicited pong payload"), 0, 0);
        peer_close(p, 1000, NULL, 0);
        break;
    case 9:
        expect_pong(p, 0, STR("ping payload"));
        peer_frame(p, 1, 0, WS_OP_PONG, STR("unsolicited pong payload"), 0, 0);
        peer_frame(p, 1, 0, WS_OP_PING, STR("ping payload"), 0, 0);
        break;
    case 10:
    case 11:
        for (int i = 0; i < 10; i++) {
            char *d = (char *)peer_alloc(p, 16);
            int n = snprintf(d, 16, "payload-%d", i);
            expect_pong(p, 0, d, (size_t)n);
        }
        for (int i = 0; i < 10; i++) {
            const peer_expect *e = peer_exp(p);
            peer_frame(p, 1, 0, WS_OP_PING, e->ok.v[i].data, e->ok.v[i].len,
                       c->a == 11 ? 1 : 0, 0);
        }
        peer_close_after(p, 3000);
        return;
    }
    peer_close_after(p, 1000);
}

/* ---- 3 reserved bits ---- */

static void c_rsv(peer *p, const conf_case *c)
{
    unsigned rsv = (unsigned)c->a;
    fail_by_peer(p, 1002);
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
        expect_msg(p, 0, WS_OP_TEXT, STR(hello));
        peer_exp(p)->has_nonstrict = 1; /* NON-STRICT: nothing echoed (failed first) */
        peer_frame(p, 1, 0, WS_OP_TEXT, STR(hello), chop, fl);
        peer_frame(p, 1, rsv, WS_OP_TEXT, STR(hello), chop, fl);
        peer_frame(p, 1, 0, WS_OP_PING, NULL, 0, chop, fl);
        break;
    }
    case 5: {
        static const uint8_t bin[] = {0x00, 0xff, 0xfe, 0xfd, 0xfc, 0xfb, 0x00, 0xff};
        peer_frame(p, 1, rsv, WS_OP_BINARY, bin, sizeof bin, 0, 0);
        break;
    }
    case 6:
        peer_frame(p, 1, rsv, WS_OP_PING, STR(hello), 0, 0);
        break;
    case 7:
        peer_frame(p, 1, rsv, WS_OP_CLOSE, NULL, 0, 0, 0);
        break;
    }
    peer_kill_after(p, 1000);
}

/* ---- 4 reserved opcodes ---- */

static void c_opcode(peer *p, const conf_case *c)
{
    unsigned op = (unsigned)c->a;
    fail_by_peer(p, 1002);
    switch (c->b) {
    case 0:
        peer_frame(p, 1, 0, op, NULL, 0, 0, 0);
        break;
    case 1:
        peer_frame(p, 1, 0, op, STR("reserved opcode payload"), 0, 0);
        break;
    default: {
        size_t chop = c->b == 4 ? 1 : 0;
        expect_msg(p, 0, WS_OP_TEXT, STR(hello));
        peer_exp(p)->has_nonstrict = 1;
        peer_frame(p, 1, 0, WS_OP_TEXT, STR(hello), chop, 0);
        if (c->b == 2)
            peer_frame(p, 1, 0, op, NULL, 0, chop, 0);
        else
            peer_frame(p, 1, 0, op, STR(hello), chop, 0);
        peer_frame(p, 1, 0, WS_OP_PING, NULL, 0, chop, 0);
    }
    }
    peer_kill_after(p, 1000);
}

/* ---- 5 fragmentation ---- */

/* Chopping variants: 0 one chop, 1 frame-wise (sync), 2 octet-wise. */
static void frame_v(peer *p, int v, int fin, unsigned op, const char *s)
{
    peer_frame(p, fin, 0, op, s, strlen(s), v == 2 ? 1 : 0, v == 1 ? SEND_SYNC : 0);
}

static void c_frag(peer *p, const conf_case *c)
{
    int v = (int)c->b;
    switch (c->a) {
    case 1:
    case 2:
        fail_by_peer(p, 1002);
        frame_v(p, 0, 0, c->a == 1 ? WS_OP_PING : WS_OP_PONG, "fragment1");
        frame_v(p, 0, 1, WS_OP_CONTINUATION, "fragment2");
        break;
    case 3:
        expect_msg(p, 0, WS_OP_TEXT, STR("fragment1fragment2"));
        close_by_me(p);
        frame_v(p, v, 0, WS_OP_TEXT, "fragment1");
        frame_v(p, v, 1, WS_OP_CONTINUATION, "fragment2");
        peer_close_after(p, 1000);
        return;
    case 6:
        expect_pong(p, 0, STR("ping payload"));
        expect_msg(p, 0, WS_OP_TEXT, STR("fragment1fragment2"));
        close_by_me(p);
        frame_v(p, v, 0, WS_OP_TEXT, "fragment1");
        frame_v(p, v, 1, WS_OP_PING, "ping payload");
        frame_v(p, v, 1, WS_OP_CONTINUATION, "fragment2");
        peer_close_after(p, 1000);
        return;
    case 9:
    case 12:
        fail_by_peer(p, 1002);
        frame_v(p, v, c->a == 9, WS_OP_CONTINUATION, "non-continuation payload");
        frame_v(p, v, 1, WS_OP_TEXT, hello);
        break;
    case 15:
        expect_msg(p, 0, WS_OP_TEXT, STR("fragment1fragment2"));
        peer_exp(p)->has_nonstrict = 1;
        fail_by_peer(p, 1002);
        frame_v(p, 0, 0, WS_OP_TEXT, "fragment1");
        frame_v(p, 0, 1, WS_OP_CONTINUATION, "fragment2");
        frame_v(p, 0, 0, WS_OP_CONTINUATION, "fragment3");
        frame_v(p, 0, 1, WS_OP_TEXT, "fragment4");
        break;
    case 16:
    case 17:
        fail_by_peer(p, 1002);
        for (int i = 0; i < 2; i++) {
            frame_v(p, 0, c->a == 17, WS_OP_CONTINUATION, "fragment1");
            frame_v(p, 0, 0, WS_OP_TEXT, "fragment2");
            frame_v(p, 0, 1, WS_OP_CONTINUATION, "fragment3");
        }
        break;
    case 18:
        fail_by_peer(p, 1002);
        frame_v(p, 0, 0, WS_OP_TEXT, "fragment1");
        frame_v(p, 0, 1, WS_OP_TEXT, "fragment2");
        break;
    case 19:
        expect_pong(p, 0, STR("pongme 1!"));
        expect_pong(p, 0, STR("pongme 2!"));
        expect_msg(p, 0, WS_OP_TEXT, STR("fragment1fragment2fragment3fragment4fragment5"));
        close_by_me(p);
        frame_v(p, v, 0, WS_OP_TEXT, "fragment1");
        frame_v(p, v, 0, WS_OP_CONTINUATION, "fragment2");
        frame_v(p, v, 1, WS_OP_PING, "pongme 1!");
        if (!peer_wait(p, peer_opts(p)->wait_ms, 0))
            return;
        frame_v(p, v, 0, WS_OP_CONTINUATION, "fragment3");
        frame_v(p, v, 0, WS_OP_CONTINUATION, "fragment4");
        frame_v(p, v, 1, WS_OP_PING, "pongme 2!");
        frame_v(p, v, 1, WS_OP_CONTINUATION, "fragment5");
        peer_close_after(p, 1000);
        return;
    }
    peer_kill_after(p, 1000);
}

/* ---- 6 UTF-8 ---- */

static const char kosme[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5";
static const char hello_utf8[] = "Hello-\xc2\xb5@\xc3\x9f\xc3\xb6\xc3\xa4\xc3\xbc\xc3\xa0\xc3\xa1"
                                 "-UTF-8!!";
static const char bad_mid[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"
                              "edited";
/* 6.4: U+110000 in the integer encoding (f4 90 80 80): invalid at its second byte (12). */
static const char bad_fast[] = "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80"
                               "edited";

static void fail_utf8(peer *p)
{
    fail_by_peer(p, 1007);
    peer_exp(p)->wrong_endpoint_fatal = 1;
}

static void c_utf8_basic(peer *p, const conf_case *c)
{
    if (c->a < 30) {
        close_by_me(p);
    } else {
        fail_utf8(p);
    }
    switch (c->a) {
    case 11:
        expect_msg(p, 0, WS_OP_TEXT, NULL, 0);
        peer_frame(p, 1, 0, WS_OP_TEXT, NULL, 0, 0, 0);
        break;
    case 12:
        expect_msg(p, 0, WS_OP_TEXT, NULL, 0);
        peer_frame(p, 0, 0, WS_OP_TEXT, NULL, 0, 0, 0);
        peer_frame(p, 0, 0, WS_OP_CONTINUATION, NULL, 0, 0, 0);
        peer_frame(p, 1, 0, WS_OP_CONTINUATION, NULL, 0, 0, 0);
        break;
    case 13:
        expect_msg(p, 0, WS_OP_TEXT, STR("middle frame payload"));
        peer_frame(p, 0, 0, WS_OP_TEXT, NULL, 0, 0, 0);
        peer_frame(p, 0, 0, WS_OP_CONTINUATION, STR("middle frame payload"), 0, 0);
        peer_frame(p, 1, 0, WS_OP_CONTINUATION, NULL, 0, 0, 0);
        break;
    case 21:
        expect_msg(p, 0, WS_OP_TEXT, STR(hello_utf8));
        peer_frame(p, 1, 0, WS_OP_TEXT, STR(hello_utf8), 0, 0);
        break;
    case 22: /* two fragments, split on a code point boundary ("Hello-µ@ßöä" | rest) */
        expect_msg(p, 0, WS_OP_TEXT, STR(hello_utf8));
        peer_frame(p, 0, 0, WS_OP_TEXT, hello_utf8, 15, 0, 0);
        peer_frame(p, 1, 0, WS_OP_CONTINUATION, hello_utf8 + 15, sizeof hello_utf8 - 16, 0, 0);
        break;
    case 23:
        expect_msg(p, 0, WS_OP_TEXT, STR(hello_utf8));
        peer_message(p, WS_OP_TEXT, STR(hello_utf8), 1);
        break;
    case 24:
        expect_msg(p, 0, WS_OP_TEXT, STR(kosme));
        peer_message(p, WS_OP_TEXT, STR(kosme), 1);
        break;
    case 31:
        peer_frame(p, 1, 0, WS_OP_TEXT, STR(bad_mid), 0, 0);
        peer_kill_after(p, 1000);
        return;
    case 32:
        peer_message(p, WS_OP_TEXT, STR(bad_mid), 1);
        peer_kill_after(p, 1000);
        return;
    }
    peer_close_after(p, 1000);
}

/* 6.4.x fail fast: the invalid byte must fail the connection before the message ends.
 * a: 1/2 frames, 3/4 chops of one frame; the split is after PAYLOAD1 (11 bytes, then the
 * whole 4-byte sequence) for 1/3, after byte 12 (then byte 12 alone) for 2/4. */
static void c_utf8_fast(peer *p, const conf_case *c)
{
    const char *s = bad_fast;
    size_t n = sizeof bad_fast - 1;
    size_t cut1 = (c->a == 1 || c->a == 3) ? 11 : 12;
    size_t cut2 = (c->a == 1 || c->a == 3) ? 15 : 13;
    int frames = c->a <= 2;
    unsigned w = peer_opts(p)->wait_ms;

    expect_timeout(p, 0, 'A');
    expect_timeout(p, 1, 'A');
    expect_timeout(p, 1, 'B');
    fail_utf8(p);
    if (frames) {
        peer_frame(p, 0, 0, WS_OP_TEXT, s, cut1, 0, 0);
    } else {
        peer_frame_begin(p, 1, WS_OP_TEXT, n);
        peer_frame_data(p, s, cut1);
    }
    if (!peer_wait(p, w, 'A'))
        return;
    if (frames)
        peer_frame(p, 0, 0, WS_OP_CONTINUATION, s + cut1, cut2 - cut1, 0, 0);
    else
        peer_frame_data(p, s + cut1, cut2 - cut1);
    if (!peer_wait(p, w, 'B'))
        return;
    if (frames)
        peer_frame(p, 1, 0, WS_OP_CONTINUATION, s + cut2, n - cut2, 0, 0);
    else
        peer_frame_data(p, s + cut2, n - cut2);
    peer_kill_after(p, 1000);
}

/* 6.5 and on: one text message per test vector, in one frame. */
static void c_utf8_vector(peer *p, const conf_case *c)
{
    if (c->valid) {
        expect_msg(p, 0, WS_OP_TEXT, c->data, c->len);
        close_by_me(p);
    } else {
        fail_utf8(p);
    }
    peer_frame(p, 1, 0, WS_OP_TEXT, c->data, c->len, 0, 0);
    peer_kill_after(p, 500);
}

/* ---- 7 close handling ---- */

static void c_close(peer *p, const conf_case *c)
{
    peer_expect *e = peer_exp(p);
    close_by_me(p);
    e->wrong_code_fatal = 1;
    e->suppress_close = c->a != 11;
    switch (c->a) {
    case 11:
        expect_msg(p, 0, WS_OP_TEXT, STR("Hello World!"));
        peer_frame(p, 1, 0, WS_OP_TEXT, STR("Hello World!"), 0, 0);
        break;
    case 12:
        peer_close(p, 1000, NULL, 0);
        peer_frame(p, 1, 0, WS_OP_CLOSE, NULL, 0, 0, 0);
        break;
    case 13:
        peer_close(p, 1000, NULL, 0);
        peer_frame(p, 1, 0, WS_OP_PING, NULL, 0, 0, 0);
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
        /* Informational: is the message processed before the close? */
        size_t n = 256u << 10;
        expect_msg(p, 0, WS_OP_TEXT, peer_fill(p, "BAsd7&jh23", n), n);
        expect_msg(p, 0, WS_OP_TEXT, STR("Hello World!"));
        e->has_nonstrict = 1;
        e->informational = 1;
        peer_frame_rep(p, 1, WS_OP_TEXT, "BAsd7&jh23", 10, n, 0);
        peer_frame(p, 1, 0, WS_OP_TEXT, STR("Hello World!"), 0, 0);
        peer_close(p, 1000, NULL, 0);
        peer_frame(p, 1, 0, WS_OP_PING, NULL, 0, 0, 0);
        break;
    }
    case 31:
        peer_close_raw(p, NULL, 0);
        break;
    case 32:
        expect_close(p, 1, 0, 1002);
        peer_close_raw(p, "a", 1);
        break;
    case 33:
        peer_close(p, 1000, NULL, 0);
        break;
    case 34:
        peer_close(p, 1000, STR("Hello World!"));
        break;
    case 35:
    case 36: {
        size_t n = c->a == 35 ? 123 : 124;
        uint8_t *pl = peer_alloc(p, n + 2);
        pl[0] = 0x03, pl[1] = 0xe8;
        memset(pl + 2, '*', n);
        if (c->a == 36)
            expect_close(p, 1, 0, 1002);
        peer_close_raw(p, pl, n + 2);
        break;
    }
    case 51: {
        uint8_t *pl = peer_alloc(p, sizeof bad_mid + 1);
        pl[0] = 0x03, pl[1] = 0xe8;
        memcpy(pl + 2, bad_mid, sizeof bad_mid - 1);
        expect_close(p, 1, 0, 1002);
        expect_close_code(p, 1007);
        peer_close_raw(p, pl, sizeof bad_mid + 1);
        break;
    }
    }
    peer_kill_after(p, 1000);
}

/* 7.7 valid codes (clean, echoed or 1000), 7.9 invalid (1002), 7.13 out of range (info). */
static void c_close_code(peer *p, const conf_case *c)
{
    uint16_t code = (uint16_t)c->b;
    peer_expect *e = peer_exp(p);
    if (c->a == 7) {
        expect_close(p, 1, 1, 1000);
        expect_close_code(p, code);
        e->wrong_code_fatal = 1;
    } else if (c->a == 9) {
        expect_close(p, 1, 0, 1002);
        e->wrong_code_fatal = 1;
    } else {
        expect_close(p, 1, 0, 1000);
        expect_close_code(p, code);
        expect_close_code(p, 1002);
        e->suppress_close = 1;
        e->informational = 1;
    }
    uint8_t *pl = peer_alloc(p, 2);
    pl[0] = (uint8_t)(code >> 8), pl[1] = (uint8_t)code;
    peer_close_raw(p, pl, 2);
    peer_kill_after(p, 1000);
}

/* ---- 9 limits ---- */

static unsigned wait_secs(size_t n, int chopped)
{
    if (chopped)
        return 1000;
    return n <= (256u << 10) ? 10 : 100;
}

/* 9.1-9.6: one big message (a = length, b = fragment or chop size by len: 1 frag, 2 chop);
 * OK when the echo has the type, length and bytes sent. */
static void c_big(peer *p, const conf_case *c)
{
    size_t n = (size_t)c->a, frag = 0, chop = 0;
    unsigned op = c->valid ? WS_OP_BINARY : WS_OP_TEXT;
    peer_expect *e = peer_exp(p);
    if (c->len == 1)
        frag = (size_t)c->b;
    else if (c->len == 2)
        chop = (size_t)c->b;
    unsigned secs = wait_secs(n, chop != 0);
    const char *pat = c->len == 1 ? (op == WS_OP_TEXT ? "*" : "\xfe")
                                  : (op == WS_OP_TEXT ? "BAsd7&jh23" : "\x00\xfe\x23\xfa\xf0");
    size_t plen = c->len == 1 ? 1 : (op == WS_OP_TEXT ? 10 : 5);
    uint8_t *d = peer_alloc(p, n);
    for (size_t i = 0; i < n; i++)
        d[i] = (uint8_t)pat[i % plen];
    e->counted = 1;
    e->counted_behavior = V_FAILED;
    snprintf(e->counted_result, sizeof e->counted_result,
             "Did not receive message within %u seconds.", secs);
    close_by_me(p);
    peer_wirelog(p, 0);
    if (chop)
        peer_frame(p, 1, 0, op, d, n, chop, 0);
    else
        peer_message(p, op, d, n, frag);
    peer_close_after(p, secs * 1000u);
    if (!peer_wait_events(p, 1, secs * 1000u))
        return;
    const peer_ev *ev = peer_last_event(p);
    const char *kind = op == WS_OP_TEXT ? "text" : "binary";
    if (ev->kind != EV_MSG || ev->opcode != op)
        snprintf(e->counted_result, sizeof e->counted_result,
                 "Expected %s message with payload, but got %s.", kind,
                 ev->kind != EV_MSG ? "a pong" : op == WS_OP_TEXT ? "binary" : "text");
    else if (ev->len != n)
        snprintf(e->counted_result, sizeof e->counted_result,
                 "Expected %s message with payload of length %zu, but got %zu.", kind, n,
                 ev->len);
    else if (memcmp(ev->data, d, n) != 0)
        snprintf(e->counted_result, sizeof e->counted_result,
                 "Received %s message of length %zu, but its bytes differ from those sent.",
                 kind, n);
    else {
        e->counted_behavior = V_OK;
        snprintf(e->counted_result, sizeof e->counted_result,
                 "Received %s message of length %zu.", kind, n);
    }
    peer_wirelog(p, 1);
    peer_close(p, 1000, NULL, 0);
}

/* 9.7 / 9.8: count messages, each sent once the previous one came back. */
static void c_roundtrip(peer *p, const conf_case *c)
{
    size_t n = (size_t)c->b;
    unsigned op = c->valid ? WS_OP_BINARY : WS_OP_TEXT;
    unsigned secs = n <= 64 ? 60 : n == 256 ? 120 : n == 1024 ? 240 : 480;
    const uint8_t *d = peer_fill(p, op == WS_OP_TEXT ? "*" : "\xfe", n);
    peer_expect *e = peer_exp(p);
    e->counted = 1;
    e->counted_behavior = V_FAILED;
    snprintf(e->counted_result, sizeof e->counted_result,
             "Case did not finish within %u seconds.", secs);
    close_by_me(p);
    peer_wirelog(p, 0);
    peer_close_after(p, secs * 1000u);
    for (unsigned i = 0; i < c->count; i++) {
        if (peer_frame(p, 1, 0, op, d, n, 0, 0) < 0 || !peer_wait_events(p, i + 1, secs * 1000u))
            return;
        const peer_ev *ev = peer_last_event(p);
        if (ev->kind != EV_MSG || ev->opcode != op || ev->len != n ||
            (n && memcmp(ev->data, d, n) != 0)) {
            snprintf(e->counted_result, sizeof e->counted_result,
                     "Echo'ed message type or length differs from what I sent (got binary = "
                     "%s, payload length = %zu).",
                     ev->opcode == WS_OP_BINARY ? "True" : "False", ev->len);
            peer_wirelog(p, 1);
            peer_close(p, 1000, NULL, 0);
            return;
        }
    }
    e->counted_behavior = V_OK;
    snprintf(e->counted_result, sizeof e->counted_result,
             "Ok, received all echo'ed messages in time.");
    peer_wirelog(p, 1);
    peer_close(p, 1000, NULL, 0);
}

/* ---- 10 auto-fragmentation ---- */

static void c_autofrag(peer *p, const conf_case *c)
{
    (void)c;
    size_t n = 65536;
    const uint8_t *d = peer_fill(p, "*", n);
    expect_msg(p, 0, WS_OP_TEXT, d, n);
    close_by_me(p);
    peer_message(p, WS_OP_TEXT, d, n, 1300);
    peer_kill_after(p, 10000);
}

/* ---- 12 / 13 permessage-deflate ---- */

/*
 * Autobahn's shape: messages of one size cut one after another from a data set (wrapping
 * around), each compressed by the tester, echoed by the peer and decompressed by the tester,
 * one at a time; OK when every echo has the type, length and bytes sent. Autobahn sends 1000
 * messages per case; --pmd-count and --pmd-bytes make fewer. The data sets are generated (the
 * same bytes every run) in the roles of Autobahn's files: JSON records (text), a grey-scale
 * picture (binary), German prose with umlauts (binary), an HTML table (text), and random bytes
 * (binary, incompressible, as its PDF).
 */
#define PMD_DATA_LEN (192u * 1024u)

static void c_pmd(peer *p, const conf_case *c)
{
    size_t n = (size_t)c->a, frag = (size_t)c->b, off = 0;
    unsigned op = c->valid ? WS_OP_BINARY : WS_OP_TEXT;
    unsigned secs = n <= 64 ? 60 : n == 256 ? 120 : n == 1024 ? 240 : 480;
    peer_expect *e = peer_exp(p);
    uint8_t *m = peer_alloc(p, n ? n : 1);
    e->counted = 1;
    e->counted_behavior = V_FAILED;
    snprintf(e->counted_result, sizeof e->counted_result,
             "Case did not finish within %u seconds.", secs);
    close_by_me(p);
    peer_wirelog(p, 0);
    peer_close_after(p, secs * 1000u);
    for (unsigned i = 0; i < c->count; i++) {
        for (size_t done = 0; done < n;) {
            size_t k = c->len - off < n - done ? c->len - off : n - done;
            memcpy(m + done, c->data + off, k);
            done += k;
            off = (off + k) % c->len;
        }
        if (peer_message_deflate(p, op, m, n, frag) < 0 ||
            !peer_wait_events(p, (size_t)i + 1, secs * 1000u))
            return;
        const peer_ev *ev = peer_last_event(p);
        const char *why = NULL;
        char buf[120];
        if (ev->kind != EV_MSG || ev->opcode != op) {
            snprintf(buf, sizeof buf, "Echo'ed message type differs from what I sent (got "
                                      "binary %s, expected binary %s).",
                     ev->opcode == WS_OP_BINARY ? "True" : "False", c->valid ? "True" : "False");
            why = buf;
        } else if (ev->len != n) {
            snprintf(buf, sizeof buf, "Echo'ed message length differs from what I sent (got "
                                      "length %zu, expected length %zu).",
                     ev->len, n);
            why = buf;
        } else if (memcmp(ev->data, m, n) != 0) {
            why = "Echo'ed message contents differs from what I sent.";
        }
        if (why) {
            snprintf(e->counted_result, sizeof e->counted_result, "%s", why);
            peer_wirelog(p, 1);
            peer_close(p, 1000, NULL, 0);
            return;
        }
    }
    e->counted_behavior = V_OK;
    snprintf(e->counted_result, sizeof e->counted_result,
             "Ok, received all echo'ed messages in time.");
    peer_wirelog(p, 1);
    peer_close(p, 1000, NULL, 0);
}

static uint32_t ds_rand(uint64_t *st)
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return (uint32_t)((*st * 0x2545F4914F6CDD1Dull) >> 32);
}

/* In Autobahn's order of 12.1 .. 12.5. */
enum { DS_JSON, DS_PICTURE, DS_PROSE, DS_HTML, DS_RANDOM, DS_N };

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
            fprintf(stderr, "wsconform: out of memory\n");
            exit(2);
        }
    }
    conf_case *c = &b->v[b->n++];
    memset(c, 0, sizeof *c);
    snprintf(c->id, sizeof c->id, "%s", id);
    snprintf(c->desc, sizeof c->desc, "%s", desc);
    c->expectation = "";
    c->run = run;
    c->a = a;
    c->b = bb;
    c->index = (int)b->n;
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
    (void)desc;
    conf_case *c = add(b, id, "", c_utf8_vector, 0, 0);
    c->data = keep(d, n);
    c->len = n;
    c->valid = valid;
    int k = snprintf(c->desc, sizeof c->desc,
                     "Send a text message with payload which is %svalid UTF-8 in one fragment. "
                     "Payload: 0x",
                     valid ? "" : "not ");
    for (size_t i = 0; i < n && k > 0 && (size_t)k + 8 < sizeof c->desc; i++)
        k += snprintf(c->desc + k, sizeof c->desc - (size_t)k, "%02x", d[i]);
    if (k > 0 && (size_t)k + 8 >= sizeof c->desc)
        snprintf(c->desc + sizeof c->desc - 5, 5, "...");
    c->expectation = valid ? "The message is echo'ed back to us."
                           : "The connection is failed immediately, since the payload is not "
                             "valid UTF-8.";
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



static void add_pmd(struct builder *b, const wc_opts *o, int g, int sub, int ds,
                    const char *offer, int accept, const char *what)
{
    char id[24];
    for (int i = 0; i < 18; i++) {
        size_t len = (size_t)pmd_sizes[i][0], frag = (size_t)pmd_sizes[i][1];
        size_t count = o->pmd_count;
        if (o->pmd_bytes && count > o->pmd_bytes / len)
            count = o->pmd_bytes / len;
        if (count < o->pmd_min)
            count = o->pmd_min;
        if (count > o->pmd_count)
            count = o->pmd_count;
        snprintf(id, sizeof id, "%d.%d.%d", g, sub, i + 1);
        conf_case *c = add(b, id, "", c_pmd, (long)len, (long)frag);
        snprintf(c->desc, sizeof c->desc,
                 "Send %zu compressed messages each of payload size %zu, auto-fragment to %zu "
                 "octets. %s",
                 count, len, frag, what);
        c->expectation = "Receive echo'ed messages (with payload as sent).";
        c->data = dataset(ds);
        c->len = PMD_DATA_LEN;
        c->valid = ds != DS_JSON && ds != DS_HTML;
        c->count = (unsigned)count;
        c->pmd_offer = offer;
        c->pmd_accept = accept;
    }
}

/* ---- extensions: rules of RFC 6455 Autobahn does not test (group 20) ---- */

/* 20.1.1: a frame masked the wrong way (the client's unmasked, the server's masked). */
static void c_mask(peer *p, const conf_case *c)
{
    (void)c;
    fail_by_peer(p, 1002);
    peer_frame_wrong_mask(p, WS_OP_TEXT, STR(hello));
    peer_kill_after(p, 1000);
}

/* 20.1.2: a 64-bit length with its top bit set (RFC 6455 5.2: the most significant bit MUST
 * be 0). The peer fails the connection; 1002 or 1009 (a length over its limit) both do. */
static void c_len64(peer *p, const conf_case *c)
{
    (void)c;
    fail_by_peer(p, 1002);
    expect_close_code(p, 1009);
    peer_frame_len64_msb(p);
    peer_kill_after(p, 1000);
}

size_t conf_cases(conf_case **out, const wc_opts *o)
{
    struct builder b = {0};
    char id[24];
    conf_case *c;

    /* 1 framing: text then binary at every length boundary, the last one chopped. */
    static const long lens[8] = {0, 125, 126, 127, 128, 65535, 65536, 65536};
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 8; i++) {
            snprintf(id, sizeof id, "1.%d.%d", t + 1, i + 1);
            c = add(&b, id, "", c_framing, lens[i], i == 7 ? 997 : 0);
            snprintf(c->desc, sizeof c->desc, "Send %s message with payload of length %ld%s.",
                     t ? "binary" : "text", lens[i], i == 7 ? ", sent in chops of 997 octets" : "");
            c->expectation = t ? "Receive echo'ed binary message (with payload as sent). Clean "
                                 "close with normal code."
                               : "Receive echo'ed text message (with payload as sent). Clean "
                                 "close with normal code.";
            c->valid = t;
        }

    /* 2 ping/pong */
    static const char *const d2[] = {
        NULL,
        "Send ping without payload.",
        "Send ping with small text payload.",
        "Send ping with small binary (non UTF-8) payload.",
        "Send ping with binary payload of 125 octets.",
        "Send ping with binary payload of 126 octets.",
        "Send ping with binary payload of 125 octets, sent in octet-wise chops.",
        "Send unsolicited pong without payload, then close.",
        "Send unsolicited pong with payload, then close.",
        "Send unsolicited pong with payload, then ping with payload.",
        "Send 10 pings with payload.",
        "Send 10 pings with payload, sent in octet-wise chops.",
    };
    for (int i = 1; i <= 11; i++) {
        snprintf(id, sizeof id, "2.%d", i);
        c = add(&b, id, d2[i], c_ping, i, 0);
        c->expectation = i == 5 ? "The connection is failed immediately (1002): control frames "
                                  "carry at most 125 octets."
                         : i == 7 || i == 8 ? "Nothing in reply. Clean close with normal code."
                                            : "A pong with the ping's payload for each ping. "
                                              "Clean close with normal code.";
    }

    /* 3 reserved bits */
    static const char *const d3[] = {
        NULL,
        "Send small text message with RSV = 1.",
        "Send small text message, then again with RSV = 2, then ping.",
        "Send small text message, then again with RSV = 3, then ping; frame-wise chops.",
        "Send small text message, then again with RSV = 4, then ping; octet-wise chops.",
        "Send small binary message with RSV = 5.",
        "Send ping with RSV = 6.",
        "Send close with RSV = 7.",
    };
    for (int i = 1; i <= 7; i++) {
        snprintf(id, sizeof id, "3.%d", i);
        c = add(&b, id, d3[i], c_rsv, i, 0);
        c->expectation = "The connection is failed immediately (1002): no extension defining "
                         "the RSV bits was negotiated. An echo of an earlier message is OK, "
                         "no echo NON-STRICT.";
    }

    /* 4 reserved opcodes: 3-7 (data) and 11-15 (control). */
    static const char *const d4[] = {
        "Send frame with reserved %s opcode = %d.",
        "Send frame with reserved %s opcode = %d and non-empty payload.",
        "Send small text message, then frame with reserved %s opcode = %d, then ping.",
        "Send small text message, then frame with reserved %s opcode = %d and non-empty "
        "payload, then ping.",
        "Send small text message, then frame with reserved %s opcode = %d and non-empty "
        "payload, then ping; octet-wise chops.",
    };
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < 5; i++) {
            snprintf(id, sizeof id, "4.%d.%d", k + 1, i + 1);
            c = add(&b, id, "", c_opcode, (k ? 11 : 3) + i, i);
            snprintf(c->desc, sizeof c->desc, d4[i], k ? "control" : "non-control",
                     (k ? 11 : 3) + i);
            c->expectation = "The connection is failed immediately (1002).";
        }

    /* 5 fragmentation */
    static const struct {
        int a, v;
        const char *d;
    } g5[] = {
        {1, 0, "Send ping fragmented into 2 fragments."},
        {2, 0, "Send pong fragmented into 2 fragments."},
        {3, 0, "Send text message fragmented into 2 fragments."},
        {3, 1, "Send text message fragmented into 2 fragments; frame-wise chops."},
        {3, 2, "Send text message fragmented into 2 fragments; octet-wise chops."},
        {6, 0, "Send text message in 2 fragments, a ping with payload between."},
        {6, 1, "Send text message in 2 fragments, a ping with payload between; frame-wise "
               "chops."},
        {6, 2, "Send text message in 2 fragments, a ping with payload between; octet-wise "
               "chops."},
        {9, 0, "Send continuation frame (FIN) with nothing to continue, then text; one chop."},
        {9, 1, "Send continuation frame (FIN) with nothing to continue, then text; frame-wise "
               "chops."},
        {9, 2, "Send continuation frame (FIN) with nothing to continue, then text; octet-wise "
               "chops."},
        {12, 0, "Send continuation frame (no FIN) with nothing to continue, then text; one "
                "chop."},
        {12, 1, "Send continuation frame (no FIN) with nothing to continue, then text; "
                "frame-wise chops."},
        {12, 2, "Send continuation frame (no FIN) with nothing to continue, then text; "
                "octet-wise chops."},
        {15, 0, "Send text message in 2 fragments, then a continuation (no FIN) with nothing "
                "to continue, then text."},
        {16, 0, "Twice: continuation (no FIN) with nothing to continue, then text in 2 "
                "fragments."},
        {17, 0, "Twice: continuation (FIN) with nothing to continue, then text in 2 "
                "fragments."},
        {18, 0, "Send text message in 2 fragments, both with the text opcode."},
        {19, 0, "Send text in 5 fragments with 2 pings between; wait after the first ping."},
        {19, 1, "Send text in 5 fragments with 2 pings between; wait after the first ping; "
                "frame-wise chops."},
    };
    for (int i = 0; i < 20; i++) {
        snprintf(id, sizeof id, "5.%d", i + 1);
        c = add(&b, id, g5[i].d, c_frag, g5[i].a, g5[i].v);
        int ok = g5[i].a == 3 || g5[i].a == 6 || g5[i].a == 19;
        c->expectation = ok ? "Pongs and the whole message echo'ed. Clean close with normal "
                              "code."
                            : "The connection is failed immediately (1002).";
    }

    /* 6 UTF-8 */
    static const struct {
        const char *id;
        int a;
        const char *d;
    } g6[] = {
        {"6.1.1", 11, "Send text message of length 0."},
        {"6.1.2", 12, "Send text message in 3 fragments each of length 0."},
        {"6.1.3", 13, "Send text message in 3 fragments, the first and last of length 0."},
        {"6.2.1", 21, "Send a valid UTF-8 text message in one fragment."},
        {"6.2.2", 22, "Send a valid UTF-8 text message in 2 fragments, cut on a code point "
                      "boundary."},
        {"6.2.3", 23, "Send a valid UTF-8 text message in fragments of 1 octet."},
        {"6.2.4", 24, "Send a valid UTF-8 text message (multi-byte code points) in fragments "
                      "of 1 octet."},
        {"6.3.1", 31, "Send an invalid UTF-8 text message (a surrogate) in one fragment."},
        {"6.3.2", 32, "Send an invalid UTF-8 text message (a surrogate) in fragments of 1 "
                      "octet."},
    };
    for (int i = 0; i < 9; i++) {
        c = add(&b, g6[i].id, g6[i].d, c_utf8_basic, g6[i].a, 0);
        c->expectation = g6[i].a < 30 ? "The message is echo'ed back to us."
                                      : "The connection is failed immediately (1007).";
    }
    static const char *const d64[] = {
        "Send invalid UTF-8 text in 3 frames: valid, wait, the invalid sequence, wait, rest.",
        "Send invalid UTF-8 text in 3 frames: valid, wait, the one invalid octet, wait, rest.",
        "Send invalid UTF-8 text in 3 chops of one frame: valid, wait, the invalid sequence, "
        "wait, rest.",
        "Send invalid UTF-8 text in 3 chops of one frame: valid, wait, the one invalid octet, "
        "wait, rest.",
    };
    for (int i = 1; i <= 4; i++) {
        snprintf(id, sizeof id, "6.4.%d", i);
        c = add(&b, id, d64[i - 1], c_utf8_fast, i, 0);
        c->expectation = "The first part is accepted (timeout A); the invalid part fails the "
                         "connection at once (1007). Failing only at the end (timeout B) is "
                         "NON-STRICT.";
    }
    add_utf8_vectors(&b);

    /* 7 close handling */
    static const struct {
        const char *id;
        int a;
        const char *d;
    } g7[] = {
        {"7.1.1", 11, "Send a message followed by a close frame."},
        {"7.1.2", 12, "Send two close frames."},
        {"7.1.3", 13, "Send a ping after the close frame."},
        {"7.1.4", 14, "Send a text message after the close frame."},
        {"7.1.5", 15, "Send message fragment 1, then close, then fragment 2."},
        {"7.1.6", 16, "Send a 256 KiB message, a text message, close, then a ping."},
        {"7.3.1", 31, "Send a close frame with payload length 0 (no code, no reason)."},
        {"7.3.2", 32, "Send a close frame with payload length 1."},
        {"7.3.3", 33, "Send a close frame with payload length 2 (code 1000)."},
        {"7.3.4", 34, "Send a close frame with code and reason."},
        {"7.3.5", 35, "Send a close frame with code and a reason of 123 octets (the maximum)."},
        {"7.3.6", 36, "Send a close frame with code and a reason of 124 octets (frame payload "
                      "126: too long)."},
        {"7.5.1", 51, "Send a close frame with a reason that is not valid UTF-8."},
    };
    for (int i = 0; i < 13; i++) {
        c = add(&b, g7[i].id, g7[i].d, c_close, g7[i].a, 0);
        c->expectation =
            g7[i].a == 16   ? "Implementation-defined: the message may be echoed before the "
                              "close, or not (INFORMATIONAL)."
            : g7[i].a == 32 || g7[i].a == 36 ? "Close with protocol error (1002) or drop TCP."
            : g7[i].a == 51 ? "Close with 1002 or 1007, or drop TCP."
                            : "Clean close with normal code.";
    }
    static const int valid_codes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                      1010, 1011, 3000, 3999, 4000, 4999};
    static const int bad_codes[] = {0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999};
    for (int i = 0; i < 13; i++) {
        snprintf(id, sizeof id, "7.7.%d", i + 1);
        c = add(&b, id, "", c_close_code, 7, valid_codes[i]);
        snprintf(c->desc, sizeof c->desc, "Send close with valid close code %d.",
                 valid_codes[i]);
        c->expectation = "Clean close with normal or echoed code.";
    }
    for (int i = 0; i < 9; i++) {
        snprintf(id, sizeof id, "7.9.%d", i + 1);
        c = add(&b, id, "", c_close_code, 9, bad_codes[i]);
        snprintf(c->desc, sizeof c->desc, "Send close with invalid close code %d.",
                 bad_codes[i]);
        c->expectation = "Close with protocol error code (1002) or drop TCP.";
    }
    for (int i = 0; i < 2; i++) {
        c = add(&b, i ? "7.13.2" : "7.13.1", i ? "Send close with close code 65535."
                                               : "Send close with close code 5000.",
                c_close_code, 13, i ? 65535 : 5000);
        c->expectation = "Actual events are undefined by the spec (INFORMATIONAL).";
    }

    /* 9 limits; max_message cuts the sizes (quick profile, emulators). */
    size_t cap = o->max_message ? o->max_message : SIZE_MAX;
#define CUT(x) ((long)((size_t)(x) < cap ? (size_t)(x) : cap))
    static const long sizes91[] = {65536, 262144, 1 << 20, 4 << 20, 8 << 20, 16 << 20};
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 6; i++) {
            snprintf(id, sizeof id, "9.%d.%d", t + 1, i + 1);
            c = add(&b, id, "", c_big, CUT(sizes91[i]), 0);
            snprintf(c->desc, sizeof c->desc, "Send %s message with payload of length %ld.",
                     t ? "binary" : "text", CUT(sizes91[i]));
            c->expectation = "Receive echo'ed message (with payload as sent).";
            c->valid = t;
        }
    static const long frags[] = {64, 256, 1024, 4096, 16384, 65536, 262144, 1 << 20, 4 << 20};
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 9; i++) {
            snprintf(id, sizeof id, "9.%d.%d", t + 3, i + 1);
            c = add(&b, id, "", c_big, CUT(4 << 20), frags[i]);
            snprintf(c->desc, sizeof c->desc,
                     "Send fragmented %s message with payload of length %ld, in fragments of "
                     "%ld.",
                     t ? "binary" : "text", CUT(4 << 20), frags[i]);
            c->expectation = "Receive echo'ed message (with payload as sent).";
            c->len = 1;
            c->valid = t;
        }
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 6; i++) {
            snprintf(id, sizeof id, "9.%d.%d", t + 5, i + 1);
            c = add(&b, id, "", c_big, CUT(1 << 20), 64L << i);
            snprintf(c->desc, sizeof c->desc,
                     "Send %s message with payload of length %ld, in chops of %ld octets.",
                     t ? "binary" : "text", CUT(1 << 20), 64L << i);
            c->expectation = "Receive echo'ed message (with payload as sent).";
            c->len = 2;
            c->valid = t;
        }
#undef CUT
    static const long rt[] = {0, 16, 64, 256, 1024, 4096};
    for (int t = 0; t < 2; t++)
        for (int i = 0; i < 6; i++) {
            snprintf(id, sizeof id, "9.%d.%d", t + 7, i + 1);
            c = add(&b, id, "", c_roundtrip, 0, rt[i]);
            c->count = o->rtt_count;
            snprintf(c->desc, sizeof c->desc,
                     "Send %u %s messages of payload size %ld, one at a time (round trip "
                     "time).",
                     c->count, t ? "binary" : "text", rt[i]);
            c->expectation = "Receive echo'ed messages (with payload as sent).";
            c->valid = t;
        }

    /* 10 auto-fragmentation */
    c = add(&b, "10.1.1", "Send text message with payload of length 65536 auto-fragmented "
                          "with autoFragmentSize = 1300.",
            c_autofrag, 0, 0);
    c->expectation = "Receive echo'ed text message (with payload as sent). Clean close with "
                     "normal code.";

    /* 12 permessage-deflate with Autobahn's default offer, each data set at every size;
     * 13 its parameter matrix on the JSON data set. Offers are Autobahn's
     * PerMessageDeflateOffer strings; as a server the tester answers by accept rules 1..7. */
    if (conf_have_zlib()) {
        static const char *const dflt = "permessage-deflate; client_no_context_takeover; "
                                        "client_max_window_bits";
        for (int k = 0; k < DS_N; k++)
            add_pmd(&b, o, 12, k + 1, k, dflt, 1, "Use default permessage-deflate offer.");
        static const struct {
            const char *offer, *what;
        } g13[7] = {
            {"permessage-deflate; client_no_context_takeover; client_max_window_bits",
             "Client offer (no context takeover, window bits) [(False, 0)], server accept "
             "(False, 0)."},
            {"permessage-deflate; client_no_context_takeover; client_max_window_bits; "
             "server_no_context_takeover",
             "Client offer [(True, 0)], server accept (True, 0)."},
            {"permessage-deflate; client_no_context_takeover; client_max_window_bits; "
             "server_max_window_bits=9",
             "Client offer [(False, 9)], server accept (False, 9)."},
            {"permessage-deflate; client_no_context_takeover; client_max_window_bits; "
             "server_max_window_bits=15",
             "Client offer [(False, 15)], server accept (False, 15)."},
            {"permessage-deflate; client_no_context_takeover; client_max_window_bits; "
             "server_no_context_takeover; server_max_window_bits=9",
             "Client offer [(True, 9)], server accept (True, 9)."},
            {"permessage-deflate; client_no_context_takeover; client_max_window_bits; "
             "server_no_context_takeover; server_max_window_bits=15",
             "Client offer [(True, 15)], server accept (True, 15)."},
            {"permessage-deflate; client_no_context_takeover; client_max_window_bits; "
             "server_no_context_takeover; server_max_window_bits=9, "
             "permessage-deflate; client_no_context_takeover; client_max_window_bits; "
             "server_no_context_takeover, "
             "permessage-deflate; client_no_context_takeover; client_max_window_bits",
             "Client offers [(True, 9), (True, 0), (False, 0)], server accept (True, 9), "
             "(True, 0) or (False, 0)."},
        };
        for (int k = 0; k < 7; k++)
            add_pmd(&b, o, 13, k + 1, DS_JSON, g13[k].offer, k + 1, g13[k].what);
    }

    /* 20 extensions (not Autobahn's) */
    c = add(&b, "20.1.1", "Send a text frame masked the wrong way (unmasked from a client, "
                          "masked from a server).",
            c_mask, 0, 0);
    c->expectation = "The connection is failed (1002): RFC 6455 5.1.";
    c->extension = 1;
    c = add(&b, "20.1.2", "Send a frame whose 64-bit payload length has its most significant "
                          "bit set.",
            c_len64, 0, 0);
    c->expectation = "The connection is failed (1002 or 1009): RFC 6455 5.2.";
    c->extension = 1;

    *out = b.v;
    return b.n;
}

void conf_cases_free(conf_case *c, size_t n)
{
    (void)n;
    free(c);
}

const char *conf_group_name(int g)
{
    switch (g) {
    case 1: return "Framing";
    case 2: return "Pings/Pongs";
    case 3: return "Reserved Bits";
    case 4: return "Opcodes";
    case 5: return "Fragmentation";
    case 6: return "UTF-8 Handling";
    case 7: return "Close Handling";
    case 9: return "Limits/Performance";
    case 10: return "Misc";
    case 12: return "WebSocket Compression (different payloads)";
    case 13: return "WebSocket Compression (different parameters)";
    case 20: return "wsconform extensions (RFC 6455 rules Autobahn does not test)";
    default: return "Misc";
    }
}

const char *conf_subgroup_name(const char *id)
{
    static const char *const names[][2] = {
        {"1.1", "Text Messages"},
        {"1.2", "Binary Messages"},
        {"4.1", "Non-control Opcodes"},
        {"4.2", "Control Opcodes"},
        {"6.1", "Valid UTF-8 with zero payload fragments"},
        {"6.2", "Valid UTF-8 unfragmented, fragmented on and within code points"},
        {"6.3", "Invalid UTF-8 differently fragmented"},
        {"6.4", "Fail-fast on invalid UTF-8"},
        {"6.5", "Some valid UTF-8 sequences"},
        {"6.6", "Every prefix of a valid UTF-8 string with multi-byte code points"},
        {"6.7", "First possible sequence of a certain length"},
        {"6.8", "First possible sequence of length 5/6 (invalid code points)"},
        {"6.9", "Last possible sequence of a certain length"},
        {"6.10", "Last possible sequence of length 4/5/6 (invalid code points)"},
        {"6.11", "Other boundary conditions"},
        {"6.12", "Unexpected continuation bytes"},
        {"6.13", "Lonely start characters"},
        {"6.14", "Sequences with last continuation byte missing"},
        {"6.15", "Concatenation of incomplete sequences"},
        {"6.16", "Impossible bytes"},
        {"6.17", "Examples of an overlong ASCII character"},
        {"6.18", "Maximum overlong sequences"},
        {"6.19", "Overlong representation of the NUL character"},
        {"6.20", "Single UTF-16 surrogates"},
        {"6.21", "Paired UTF-16 surrogates"},
        {"6.22", "Non-character code points (valid UTF-8)"},
        {"6.23", "Unicode specials (valid UTF-8)"},
        {"7.1", "Basic close behavior (fuzzer initiated)"},
        {"7.3", "Close frame structure: payload length (fuzzer initiated)"},
        {"7.5", "Close frame structure: payload value (fuzzer initiated)"},
        {"7.7", "Close frame structure: valid close codes (fuzzer initiated)"},
        {"7.9", "Close frame structure: invalid close codes (fuzzer initiated)"},
        {"7.13", "Informational close information (fuzzer initiated)"},
        {"9.1", "Text Message (increasing size)"},
        {"9.2", "Binary Message (increasing size)"},
        {"9.3", "Fragmented Text Message (fixed size, increasing fragment size)"},
        {"9.4", "Fragmented Binary Message (fixed size, increasing fragment size)"},
        {"9.5", "Text Message (fixed size, increasing chop size)"},
        {"9.6", "Binary Message (fixed size, increasing chop size)"},
        {"9.7", "Text Message Roundtrip Time (fixed number, increasing size)"},
        {"9.8", "Binary Message Roundtrip Time (fixed number, increasing size)"},
        {"10.1", "Auto-Fragmentation"},
        {"12.1", "JSON records (text, generated)"},
        {"12.2", "Grey-scale picture (binary, generated)"},
        {"12.3", "German prose (binary, generated)"},
        {"12.4", "HTML table (text, generated)"},
        {"12.5", "Random bytes, incompressible (binary, generated)"},
        {"13.1", "JSON records - offer/accept (False, 0)"},
        {"13.2", "JSON records - offer/accept (True, 0)"},
        {"13.3", "JSON records - offer/accept (False, 9)"},
        {"13.4", "JSON records - offer/accept (False, 15)"},
        {"13.5", "JSON records - offer/accept (True, 9)"},
        {"13.6", "JSON records - offer/accept (True, 15)"},
        {"13.7", "JSON records - 3 offers, accept (True, 9), (True, 0) or (False, 0)"},
        {"20.1", "Frame header rules"},
    };
    const char *dot = strchr(id, '.');
    const char *dot2 = dot ? strchr(dot + 1, '.') : NULL;
    size_t k = dot2 ? (size_t)(dot2 - id) : strlen(id);
    if (!dot2)
        return NULL;
    for (size_t i = 0; i < sizeof names / sizeof *names; i++)
        if (strlen(names[i][0]) == k && !strncmp(names[i][0], id, k))
            return names[i][1];
    return NULL;
}
