/*
 * The checker (ws_checker): every rule a frame stream breaks, with the close code RFC 6455
 * asks for, its severity and stream offset -- and the stream goes on after each one.
 */
#include "testutil.h"

#include "ws.h"

#include <stdlib.h>

/* ---- building streams ---- */

typedef struct stream {
    uint8_t b[70000];
    size_t n;
} stream;

/* Append a frame exactly as described (any bits; the length encoding minimal unless
 * len_bytes forces one); masked with a fixed key when masked. Returns its offset. */
static size_t put(stream *s, unsigned op, int fin, unsigned rsv, int masked, const void *p,
                  size_t len, unsigned len_bytes)
{
    ws_frame_header h;
    size_t at = s->n;
    memset(&h, 0, sizeof h);
    h.opcode = (uint8_t)op;
    h.fin = (uint8_t)fin;
    h.rsv = (uint8_t)rsv;
    h.masked = (uint8_t)masked;
    h.payload_len = len;
    memcpy(h.mask, "\x5a\xa5\x0f\xf0", 4);
    int r = ws_frame_encode_raw(s->b + s->n, sizeof s->b - s->n, &h, sizeof h, len_bytes, p, len);
    assert_true(r > 0);
    s->n += (size_t)r;
    return at;
}

/* A client's frame (masked), minimal length. */
static size_t cput(stream *s, unsigned op, int fin, const void *p, size_t len)
{
    return put(s, op, fin, 0, 1, p, len, 0);
}

/* ---- running the checker ---- */

typedef struct seen {
    ws_check_event v[64];
    uint8_t ctl[64][WS_FRAME_MAX_CONTROL]; /* CONTROL payloads, copied (views end at a feed) */
    uint8_t data[70000]; /* DATA chunks, concatenated */
    size_t nv, ndata, messages;
} seen;

/* Feed s in pieces of `chunk` bytes (0: all at once); record violations and CONTROL events,
 * concatenate DATA chunks (counting messages by fin). */
static void run(ws_checker *k, const stream *s, size_t chunk, seen *out)
{
    uint8_t *buf = malloc(s->n + 1);
    size_t pos = 0, end = 0;
    assert_non_null(buf);
    memcpy(buf, s->b, s->n);
    memset(out, 0, sizeof *out);
    while (pos < s->n || end < s->n) {
        if (pos == end)
            end = chunk && s->n - end > chunk ? end + chunk : s->n;
        for (;;) {
            ws_check_event ev;
            size_t used = 99;
            assert_int_equal(ws_checker_feed(k, buf + pos, end - pos, &used, &ev, sizeof ev),
                             WS_OK);
            assert_true(used <= end - pos);
            pos += used;
            assert_int_equal(ws_checker_offset(k), pos);
            if (ev.type == WS_CHECK_NONE) {
                assert_int_equal(pos, end);
                break;
            }
            if (ev.type == WS_CHECK_DATA) {
                assert_true(ev.compressed == 0 || ev.compressed == 1); /* a flag */
                if (ev.len) /* data is NULL for an empty chunk */
                    memcpy(out->data + out->ndata, ev.data, ev.len);
                out->ndata += ev.len;
                out->messages += ev.fin;
                continue;
            }
            assert_true(out->nv < 64);
            if (ev.type == WS_CHECK_CONTROL && ev.len) {
                memcpy(out->ctl[out->nv], ev.data, ev.len);
                ev.data = out->ctl[out->nv];
            }
            out->v[out->nv++] = ev;
        }
    }
    free(buf);
}

static ws_checker *checker(uint32_t sender)
{
    ws_checker *k = NULL;
    assert_int_equal(ws_checker_new(&k, sender, NULL), WS_OK);
    assert_non_null(k);
    return k;
}

static void expect_violation(const ws_check_event *e, int err, unsigned code, unsigned sev,
                             uint64_t offset)
{
    if (e->type != WS_CHECK_VIOLATION || e->error != err || e->offset != offset)
        print_message("got type %u error %s offset %llu\n", (unsigned)e->type,
                      ws_errname(e->error), (unsigned long long)e->offset);
    assert_int_equal(e->type, WS_CHECK_VIOLATION);
    assert_int_equal(e->error, err);
    assert_int_equal(e->close_code, code);
    assert_int_equal(e->severity, sev);
    assert_int_equal(e->offset, offset);
}

/* A valid stream: no violation, data as sent, controls with their payloads, whatever the
 * feeding. */
static void test_valid_stream(void **state)
{
    (void)state;
    static const char euro[] = "\xe2\x82\xac";
    stream *s = calloc(1, sizeof *s);
    seen *o = malloc(sizeof *o);
    assert_non_null(s);
    assert_non_null(o);
    cput(s, WS_OP_TEXT, 0, NULL, 0); /* an empty first fragment */
    cput(s, WS_OP_CONTINUATION, 0, "price: ", 7);
    cput(s, WS_OP_CONTINUATION, 0, euro, 2); /* a character split across frames */
    cput(s, WS_OP_PING, 1, "p", 1);
    cput(s, WS_OP_CONTINUATION, 1, euro + 2, 1);
    cput(s, WS_OP_BINARY, 1, "\xff\x00", 2);
    cput(s, WS_OP_TEXT, 1, NULL, 0);
    size_t at = cput(s, WS_OP_CLOSE, 1, "\x03\xe8" "bye", 5);
    static const size_t chunks[] = {0, 1, 2, 3, 5, 7};
    for (size_t c = 0; c < 6; c++) {
        ws_checker *k = checker(WS_ROLE_CLIENT);
        run(k, s, chunks[c], o);
        assert_int_equal(o->messages, 3);
        assert_int_equal(o->ndata, 7 + 3 + 2);
        assert_memory_equal(o->data, "price: \xe2\x82\xac\xff\x00", 12);
        assert_int_equal(o->nv, 2);
        assert_int_equal(o->v[0].type, WS_CHECK_CONTROL);
        assert_int_equal(o->v[0].opcode, WS_OP_PING);
        assert_int_equal(o->v[0].len, 1);
        assert_memory_equal(o->v[0].data, "p", 1);
        assert_int_equal(o->v[1].type, WS_CHECK_CONTROL);
        assert_int_equal(o->v[1].opcode, WS_OP_CLOSE);
        assert_int_equal(o->v[1].close_code, 1000);
        assert_int_equal(o->v[1].offset, at);
        assert_int_equal(o->v[1].len, 3);
        assert_memory_equal(o->v[1].data, "bye", 3);
        ws_checker_free(k);
    }
    free(s);
    free(o);
}

/* One broken frame (or message) at a time, then a valid text "ok": the violation is reported
 * with the RFC's code, severity and offset, and the stream goes on. */
static void test_each_rule(void **state)
{
    (void)state;
    stream *s = malloc(sizeof *s);
    seen *o = malloc(sizeof *o);
    static uint8_t big[200];
    assert_non_null(s);
    assert_non_null(o);
    memset(big, 'a', sizeof big);
    for (int rule = 0; rule < 18; rule++) {
        ws_checker *k = checker(WS_ROLE_CLIENT);
        int err = 0;
        unsigned code = WS_CLOSE_PROTOCOL_ERROR, sev = WS_SEVERITY_MUST;
        size_t at = 0;
        s->n = 0;
        switch (rule) {
        case 0:
            at = put(s, 3, 1, 0, 1, "x", 1, 0);
            err = WS_ERR_FRAME_RESERVED_OPCODE;
            break;
        case 1:
            at = put(s, WS_OP_TEXT, 1, 2, 1, "x", 1, 0);
            err = WS_ERR_FRAME_RSV;
            break;
        case 2:
            at = put(s, WS_OP_TEXT, 1, 0, 0, "x", 1, 0);
            err = WS_ERR_FRAME_UNMASKED;
            break;
        case 3:
            at = put(s, WS_OP_PING, 0, 0, 1, "x", 1, 0);
            err = WS_ERR_FRAME_CONTROL_FRAGMENTED;
            break;
        case 4:
            at = put(s, WS_OP_PING, 1, 0, 1, big, 126, 0);
            err = WS_ERR_FRAME_CONTROL_TOO_LONG;
            break;
        case 5:
            at = cput(s, WS_OP_CONTINUATION, 1, "x", 1);
            err = WS_ERR_UNEXPECTED_CONTINUATION;
            break;
        case 6:
            cput(s, WS_OP_BINARY, 0, "x", 1);
            at = cput(s, WS_OP_BINARY, 1, "y", 1); /* a new message starts: it ends here */
            err = WS_ERR_EXPECTED_CONTINUATION;
            break;
        case 7:
            at = cput(s, WS_OP_TEXT, 1, "a\xff" "b", 3) + 6 + 1; /* the bad byte */
            err = WS_ERR_INVALID_UTF8;
            code = WS_CLOSE_INVALID_PAYLOAD;
            break;
        case 8:
            at = cput(s, WS_OP_TEXT, 1, "\xe2\x82", 2) + 6 + 2; /* ends inside a character */
            err = WS_ERR_INVALID_UTF8;
            code = WS_CLOSE_INVALID_PAYLOAD;
            break;
        case 9:
            at = put(s, WS_OP_TEXT, 1, 0, 1, "hello", 5, 2);
            err = WS_ERR_FRAME_NON_MINIMAL_LENGTH;
            sev = WS_SEVERITY_STRICT;
            break;
        case 10:
            assert_int_equal(ws_checker_configure(k, 0, 0, 4), WS_OK);
            at = cput(s, WS_OP_TEXT, 1, "hello", 5);
            err = WS_ERR_MESSAGE_TOO_BIG;
            code = WS_CLOSE_MESSAGE_TOO_BIG;
            sev = WS_SEVERITY_LIMIT;
            break;
        case 11:
            assert_int_equal(ws_checker_configure(k, 0, 4, 0), WS_OK);
            at = cput(s, WS_OP_TEXT, 1, "hello", 5);
            err = WS_ERR_FRAME_TOO_LARGE;
            code = WS_CLOSE_MESSAGE_TOO_BIG;
            sev = WS_SEVERITY_LIMIT;
            break;
        case 12:
            assert_int_equal(ws_checker_configure(k, WS_CHECK_DEFLATE, 0, 0), WS_OK);
            cput(s, WS_OP_BINARY, 0, "x", 1);
            at = put(s, WS_OP_CONTINUATION, 1, WS_RSV1, 1, "y", 1, 0);
            err = WS_ERR_DEFLATE_RSV1;
            break;
        case 13:
            assert_int_equal(ws_checker_configure(k, WS_CHECK_DEFLATE, 0, 0), WS_OK);
            at = put(s, WS_OP_PING, 1, WS_RSV1, 1, "y", 1, 0);
            err = WS_ERR_DEFLATE_RSV1;
            break;
        case 14: /* message limit met exactly: no violation (then the generic check below) */
            assert_int_equal(ws_checker_configure(k, 0, 5, 5), WS_OK);
            cput(s, WS_OP_TEXT, 0, "hel", 3);
            cput(s, WS_OP_CONTINUATION, 1, "lo", 2);
            break;
        case 15: /* over the limit across fragments: reported at the frame that crosses it */
            assert_int_equal(ws_checker_configure(k, 0, 0, 4), WS_OK);
            cput(s, WS_OP_TEXT, 0, "hel", 3);
            at = cput(s, WS_OP_CONTINUATION, 1, "lo", 2);
            err = WS_ERR_MESSAGE_TOO_BIG;
            code = WS_CLOSE_MESSAGE_TOO_BIG;
            sev = WS_SEVERITY_LIMIT;
            break;
        case 16: /* over the limit at its first fragment: reported once, not again per frame */
            assert_int_equal(ws_checker_configure(k, 0, 0, 4), WS_OK);
            at = cput(s, WS_OP_TEXT, 0, "hello", 5);
            cput(s, WS_OP_CONTINUATION, 0, "ab", 2);
            cput(s, WS_OP_CONTINUATION, 1, "c", 1);
            err = WS_ERR_MESSAGE_TOO_BIG;
            code = WS_CLOSE_MESSAGE_TOO_BIG;
            sev = WS_SEVERITY_LIMIT;
            break;
        default: /* RSV1 on a first frame with deflate: fine, reported compressed */
            assert_int_equal(ws_checker_configure(k, WS_CHECK_DEFLATE, 0, 0), WS_OK);
            put(s, WS_OP_TEXT, 1, WS_RSV1, 1, "\xff\xfe", 2, 0); /* not inflated, not UTF-8 */
            break;
        }
        cput(s, WS_OP_TEXT, 1, "ok", 2);
        run(k, s, rule & 1 ? 1 : 0, o);
        size_t nviol = 0, first = 0;
        for (size_t i = 0; i < o->nv; i++)
            if (o->v[i].type == WS_CHECK_VIOLATION && nviol++ == 0)
                first = i;
        assert_int_equal(nviol, err ? 1 : 0);
        if (err)
            expect_violation(&o->v[first], err, code, sev, at);
        if (rule == 3 || rule == 4 || rule == 13) /* the control frame itself is reported too */
            assert_int_equal(o->v[o->nv - 1].type, WS_CHECK_CONTROL);
        /* the stream went on: the final "ok" is there */
        assert_true(o->ndata >= 2);
        assert_memory_equal(o->data + o->ndata - 2, "ok", 2);
        ws_checker_free(k);
    }
    free(s);
    free(o);
}

/* The close frame's rules, and what comes after it. */
static void test_close_rules(void **state)
{
    (void)state;
    stream *s = malloc(sizeof *s);
    seen *o = malloc(sizeof *o);
    assert_non_null(s);
    assert_non_null(o);
    for (int rule = 0; rule < 5; rule++) {
        ws_checker *k = checker(WS_ROLE_CLIENT);
        size_t at;
        s->n = 0;
        if (rule == 0)
            at = cput(s, WS_OP_CLOSE, 1, "\x03", 1);
        else if (rule == 1)
            at = cput(s, WS_OP_CLOSE, 1, "\x03\xed", 2); /* 1005: never on the wire */
        else if (rule == 2)
            at = cput(s, WS_OP_CLOSE, 1, "\x03\xe8" "a\xc0", 4);
        else if (rule == 3)
            at = cput(s, WS_OP_CLOSE, 1, NULL, 0);
        else /* valid: a code and a one-byte reason */
            at = cput(s, WS_OP_CLOSE, 1, "\x03\xe8" "x", 3);
        size_t after = cput(s, WS_OP_TEXT, 1, "late", 4);
        run(k, s, 0, o);
        size_t i = 0;
        if (rule == 0)
            expect_violation(&o->v[i++], WS_ERR_CLOSE_PAYLOAD, WS_CLOSE_PROTOCOL_ERROR,
                             WS_SEVERITY_SHOULD, at);
        if (rule == 1)
            expect_violation(&o->v[i++], WS_ERR_CLOSE_CODE, WS_CLOSE_PROTOCOL_ERROR,
                             WS_SEVERITY_SHOULD, at);
        if (rule == 2)
            expect_violation(&o->v[i++], WS_ERR_INVALID_UTF8, WS_CLOSE_INVALID_PAYLOAD,
                             WS_SEVERITY_SHOULD, at + 6 + 3);
        /* the close as received, valid or not */
        assert_int_equal(o->v[i].type, WS_CHECK_CONTROL);
        assert_int_equal(o->v[i].opcode, WS_OP_CLOSE);
        assert_int_equal(o->v[i].close_code, rule == 0 || rule == 3 ? 0 : rule == 1 ? 1005 : 1000);
        if (rule == 2) {
            assert_int_equal(o->v[i].len, 2);
            assert_memory_equal(o->v[i].data, "a\xc0", 2);
        }
        if (rule == 1 || rule == 3) { /* no reason: an empty view, NULL as for any empty payload */
            assert_int_equal(o->v[i].len, 0);
            assert_null(o->v[i].data);
        }
        if (rule == 4) {
            assert_int_equal(o->v[i].len, 1);
            assert_non_null(o->v[i].data);
            assert_memory_equal(o->v[i].data, "x", 1);
        }
        i++;
        expect_violation(&o->v[i++], WS_ERR_AFTER_CLOSE, WS_CLOSE_PROTOCOL_ERROR,
                         WS_SEVERITY_STRICT, after);
        assert_int_equal(o->nv, i);
        assert_int_equal(o->ndata, 4); /* still reported: the tester sees it */
        ws_checker_free(k);
    }
    free(s);
    free(o);
}

/* A frame breaking several rules reports each, in the order of ws.h's violation bits, then
 * the message rules; a server's stream must not be masked. */
static void test_several_rules_and_roles(void **state)
{
    (void)state;
    stream *s = calloc(1, sizeof *s);
    seen *o = malloc(sizeof *o);
    assert_non_null(s);
    assert_non_null(o);
    ws_checker *k = checker(WS_ROLE_CLIENT);
    cput(s, WS_OP_TEXT, 0, "x", 1);
    size_t at = put(s, WS_OP_PING, 0, 4, 0, "p", 1, 2); /* RSV1, not FIN, unmasked, 16-bit */
    run(k, s, 0, o);
    assert_int_equal(o->nv, 6);
    expect_violation(&o->v[0], WS_ERR_FRAME_RSV, 1002, WS_SEVERITY_MUST, at);
    expect_violation(&o->v[1], WS_ERR_FRAME_CONTROL_FRAGMENTED, 1002, WS_SEVERITY_MUST, at);
    expect_violation(&o->v[2], WS_ERR_FRAME_UNMASKED, 1002, WS_SEVERITY_MUST, at);
    /* a control frame's length field over 125 (here a 16-bit encoding of 1) */
    expect_violation(&o->v[3], WS_ERR_FRAME_CONTROL_TOO_LONG, 1002, WS_SEVERITY_MUST, at);
    expect_violation(&o->v[4], WS_ERR_FRAME_NON_MINIMAL_LENGTH, 1002, WS_SEVERITY_STRICT, at);
    assert_int_equal(o->v[5].type, WS_CHECK_CONTROL);
    assert_int_equal(o->v[5].opcode, WS_OP_PING);
    assert_int_equal(o->v[5].len, 1);
    assert_memory_equal(o->v[5].data, "p", 1);
    ws_checker_free(k);

    k = checker(WS_ROLE_SERVER);
    s->n = 0;
    at = cput(s, WS_OP_BINARY, 1, "m", 1);
    put(s, WS_OP_BINARY, 1, 0, 0, "u", 1, 0);
    run(k, s, 0, o);
    assert_int_equal(o->nv, 1);
    expect_violation(&o->v[0], WS_ERR_FRAME_MASKED, 1002, WS_SEVERITY_MUST, at);
    assert_int_equal(o->ndata, 2);
    assert_memory_equal(o->data, "mu", 2); /* unmasked as a receiver would */
    ws_checker_free(k);
    free(s);
    free(o);
}

static void test_checker_arguments(void **state)
{
    (void)state;
    ws_checker *k = (ws_checker *)1;
    ws_check_event ev;
    size_t used = 7;
    uint8_t b[2] = {0x89, 0x00}; /* an unmasked empty ping from a client */
    assert_int_equal(ws_checker_new(NULL, WS_ROLE_CLIENT, NULL), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_checker_new(&k, 7, NULL), WS_ERR_INVALID_ARG);
    assert_null(k);
    assert_int_equal(ws_checker_new(&k, WS_ROLE_CLIENT, NULL), WS_OK);
    assert_int_equal(ws_checker_configure(NULL, 0, 0, 0), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_checker_configure(k, 1u << 5, 0, 0), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_checker_feed(NULL, b, 2, &used, &ev, sizeof ev), WS_ERR_INVALID_ARG);
    assert_int_equal(used, 0);
    assert_int_equal(ws_checker_feed(k, b, 2, NULL, &ev, sizeof ev), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_checker_feed(k, b, 2, &used, NULL, sizeof ev), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_checker_feed(k, NULL, 2, &used, &ev, sizeof ev), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_checker_feed(k, b, 2, &used, &ev, 8), WS_ERR_INVALID_ARG);
    assert_int_equal(ws_checker_offset(NULL), 0);
    /* an older, smaller event struct (rule 4): the fields it has */
    struct {
        ws_check_event e;
        uint8_t canary[8];
    } big;
    memset(&big, 0xEE, sizeof big);
    assert_int_equal(ws_checker_feed(k, b, 2, &used, &big.e, sizeof big.e), WS_OK);
    assert_int_equal(big.e.type, WS_CHECK_VIOLATION);
    assert_int_equal(big.e.error, WS_ERR_FRAME_UNMASKED);
    assert_int_equal(big.canary[0], 0xEE);
    ws_checker_free(k);
    ws_checker_free(NULL);

    failalloc fa;
    ws_allocator a = failalloc_init(&fa, 0, 0);
    k = (ws_checker *)1;
    assert_int_equal(ws_checker_new(&k, WS_ROLE_SERVER, &a), WS_ERR_NOMEM);
    assert_null(k);
    assert_int_equal(fa.live, 0);
}


/* after_close: set on whatever follows the sender's close frame, and only there. */
static void test_after_close_flag(void **state)
{
    (void)state;
    stream *s = calloc(1, sizeof *s);
    seen *o = malloc(sizeof *o);
    assert_non_null(s);
    assert_non_null(o);
    size_t bad = put(s, WS_OP_BINARY, 1, WS_RSV2, 1, "x", 1, 0); /* before the close */
    cput(s, WS_OP_CLOSE, 1, "\x03\xe8", 2);
    size_t late = cput(s, WS_OP_TEXT, 1, "hi", 2);
    for (size_t chunk = 0; chunk < 4; chunk++) {
        ws_checker *k = checker(WS_ROLE_CLIENT);
        run(k, s, chunk, o);
        assert_int_equal(o->nv, 3);
        expect_violation(&o->v[0], WS_ERR_FRAME_RSV, 1002, WS_SEVERITY_MUST, bad);
        assert_int_equal(o->v[0].after_close, 0);
        assert_int_equal(o->v[1].type, WS_CHECK_CONTROL);
        assert_int_equal(o->v[1].after_close, 0);
        expect_violation(&o->v[2], WS_ERR_AFTER_CLOSE, 1002, WS_SEVERITY_STRICT, late);
        assert_int_equal(o->v[2].after_close, 1);
        ws_checker_free(k);
    }
    /* and on the DATA of a frame after the close */
    ws_checker *k = checker(WS_ROLE_CLIENT);
    uint8_t *buf = malloc(s->n);
    assert_non_null(buf);
    memcpy(buf, s->b, s->n);
    size_t pos = 0, datas = 0;
    for (;;) {
        ws_check_event ev;
        size_t used;
        assert_int_equal(ws_checker_feed(k, buf + pos, s->n - pos, &used, &ev, sizeof ev), WS_OK);
        pos += used;
        if (ev.type == WS_CHECK_NONE)
            break;
        if (ev.type == WS_CHECK_DATA) {
            assert_int_equal(ev.after_close, ev.offset == late);
            datas++;
        }
    }
    assert_int_equal(datas, 2);
    ws_checker_free(k);
    free(buf);
    free(s);
    free(o);
}

/* WS_CHECK_INFLATE: compressed messages come out inflated (larger ones in several chunks,
 * whatever the feeding), their text checked; invalid data is 1007 and the stream goes on. */
static void test_inflate(void **state)
{
    (void)state;
    ws_checker *k = checker(WS_ROLE_CLIENT);
    assert_int_equal(ws_checker_configure(k, WS_CHECK_INFLATE, 0, 0), WS_ERR_INVALID_ARG);
    if (!ws_deflate_available()) {
        assert_int_equal(ws_checker_configure(k, WS_CHECK_DEFLATE | WS_CHECK_INFLATE, 0, 0),
                         WS_ERR_UNSUPPORTED);
        ws_checker_free(k);
        skip();
    }
    ws_checker_free(k);
    /* A checker configured with inflation straight away inflates (RFC 7692's "Hello"); one
     * configured without it needs no memory for an inflater. */
    {
        static const uint8_t hello[] = {0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00};
        stream *s1 = malloc(sizeof *s1);
        seen *o1 = malloc(sizeof *o1);
        failalloc fa;
        ws_allocator a = failalloc_init(&fa, -1, 0);
        assert_non_null(s1);
        assert_non_null(o1);
        s1->n = 0;
        put(s1, WS_OP_TEXT, 1, WS_RSV1, 0, hello, sizeof hello, 0);
        k = checker(WS_ROLE_SERVER);
        assert_int_equal(ws_checker_configure(k, WS_CHECK_DEFLATE | WS_CHECK_INFLATE, 0, 0), WS_OK);
        run(k, s1, 0, o1);
        assert_int_equal(o1->nv, 0);
        assert_int_equal(o1->ndata, 5);
        assert_memory_equal(o1->data, "Hello", 5);
        ws_checker_free(k);
        /* A sender may end a message's data with a final block (BFINAL, RFC 7692 7.2.3.4's
         * example): the message inflates whole, and so do the ones after it. */
        static const uint8_t hello_final[] = {0xf3, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00, 0x00};
        s1->n = 0;
        put(s1, WS_OP_TEXT, 1, WS_RSV1, 0, hello_final, sizeof hello_final, 0);
        put(s1, WS_OP_TEXT, 1, WS_RSV1, 0, hello_final, sizeof hello_final, 0);
        put(s1, WS_OP_TEXT, 1, WS_RSV1, 0, hello, sizeof hello, 0);
        for (size_t chunk = 0; chunk < 2; chunk++) {
            k = checker(WS_ROLE_SERVER);
            assert_int_equal(
                ws_checker_configure(k, WS_CHECK_DEFLATE | WS_CHECK_INFLATE, 0, 0), WS_OK);
            run(k, s1, chunk, o1);
            assert_int_equal(o1->nv, 0);
            assert_int_equal(o1->messages, 3);
            assert_int_equal(o1->ndata, 15);
            assert_memory_equal(o1->data, "HelloHelloHello", 15);
            ws_checker_free(k);
        }
        k = NULL;
        assert_int_equal(ws_checker_new(&k, WS_ROLE_SERVER, &a), WS_OK);
        fa.fail_at = fa.calls;
        fa.sticky = 1;
        assert_int_equal(ws_checker_configure(k, WS_CHECK_DEFLATE, 0, 0), WS_OK);
        assert_int_equal(ws_checker_configure(k, 0, 0, 0), WS_OK);
        ws_checker_free(k);
        assert_int_equal(fa.live, 0);
        /* Invalid data in the first fragment of three: one violation, then the whole message
         * as it is on the wire, every fragment's bytes (the broken one's too), in order. */
        s1->n = 0;
        put(s1, WS_OP_TEXT, 0, WS_RSV1, 1, "\x06xy", 3, 0); /* BTYPE 11: invalid at once */
        cput(s1, WS_OP_CONTINUATION, 0, "abc", 3);
        cput(s1, WS_OP_CONTINUATION, 1, "de", 2);
        cput(s1, WS_OP_TEXT, 1, "ok", 2);
        for (size_t chunk = 0; chunk < 3; chunk++) {
            k = checker(WS_ROLE_CLIENT);
            assert_int_equal(ws_checker_configure(k, WS_CHECK_DEFLATE | WS_CHECK_INFLATE, 0, 0),
                             WS_OK);
            run(k, s1, chunk, o1);
            assert_int_equal(o1->nv, 1);
            expect_violation(&o1->v[0], WS_ERR_DEFLATE_DATA, 1007, WS_SEVERITY_SHOULD, 0);
            assert_int_equal(o1->ndata, 3 + 3 + 2 + 2);
            assert_memory_equal(o1->data, "\x06xyabcdeok", 10);
            assert_int_equal(o1->messages, 2);
            ws_checker_free(k);
        }
        free(s1);
        free(o1);
    }
    /* a client's compressed messages, from the generator: 40 KB of text among others */
    ws_gen_config c;
    memset(&c, 0, sizeof c);
    c.size = sizeof c;
    c.sender = WS_ROLE_CLIENT;
    c.seed = 5;
    c.flags = WS_GEN_DEFLATE | WS_GEN_DEFLATE_NO_TAKEOVER;
    c.max_message = 40000;
    c.max_frames = 4096;
    ws_gen *g = NULL;
    assert_int_equal(ws_gen_new(&g, &c, NULL), WS_OK);
    ws_gen_mutation m = {.size = sizeof m};
    size_t compressed = 0, big = 0;
    for (int i = 0; i < 200; i++)
        assert_int_equal(ws_gen_add(g, i % 2 ? WS_GEN_TEXT : WS_GEN_BINARY), WS_OK);
    size_t before = ws_gen_item_count(g);
    assert_int_equal(ws_gen_mutate(g, WS_MUT_DEFLATE_DATA, 0, &m), WS_OK);
    for (int i = 0; i < 6; i++)
        assert_int_equal(ws_gen_add(g, WS_GEN_TEXT), WS_OK);
    const uint8_t *p;
    size_t n;
    assert_int_equal(ws_gen_output(g, &p, &n), WS_OK);
    ws_gen_frame f = {.size = sizeof f};
    assert_int_equal(ws_gen_frame_at(g, m.frame, &f), WS_OK);
    stream *s = malloc(sizeof *s);
    seen *o = malloc(sizeof *o);
    uint8_t *want = malloc(1u << 21);
    assert_non_null(s);
    assert_non_null(o);
    assert_non_null(want);
    /* what should come out: the items before the bad message inflated, then its bytes as on
     * the wire, then the items after it */
    size_t nw = 0, nmsg = 1; /* the bad message is no item */
    int placed = 0;
    for (size_t i = 0; i < ws_gen_item_count(g); i++) {
        ws_gen_item it = {.size = sizeof it};
        assert_int_equal(ws_gen_item_at(g, i, &it), WS_OK);
        if (i >= before && !placed) {
            memcpy(want + nw, f.body, f.body_len);
            nw += f.body_len;
            placed = 1;
        }
        if (it.opcode != WS_OP_TEXT && it.opcode != WS_OP_BINARY)
            continue; /* pings and pongs between fragments */
        nmsg++;
        compressed += it.compressed;
        big += it.len > 16384 && it.compressed;
        if (it.len)
            memcpy(want + nw, it.data, it.len);
        nw += it.len;
    }
    assert_true(compressed > 5);
    assert_true(big > 0);
    for (size_t chunk = 0; chunk < 3; chunk++) {
        size_t total = 0;
        k = checker(WS_ROLE_CLIENT);
        assert_int_equal(ws_checker_configure(k, WS_CHECK_DEFLATE | WS_CHECK_INFLATE, 0, 0),
                         WS_OK);
        uint8_t *buf = malloc(n);
        assert_non_null(buf);
        memcpy(buf, p, n);
        size_t pos = 0, end = 0, nv = 0, msgs = 0;
        uint8_t *got = malloc(1u << 21);
        assert_non_null(got);
        while (pos < n) {
            end = chunk ? (n - pos > chunk * 977 ? pos + chunk * 977 : n) : n;
            for (;;) {
                ws_check_event ev;
                size_t used;
                assert_int_equal(ws_checker_feed(k, buf + pos, end - pos, &used, &ev, sizeof ev),
                                 WS_OK);
                pos += used;
                if (ev.type == WS_CHECK_NONE)
                    break;
                if (ev.type == WS_CHECK_VIOLATION) {
                    expect_violation(&ev, WS_ERR_DEFLATE_DATA, 1007, WS_SEVERITY_SHOULD,
                                     f.start);
                    nv++;
                }
                if (ev.type == WS_CHECK_DATA) {
                    if (ev.len) /* data is NULL for an empty chunk */
                        memcpy(got + total, ev.data, ev.len);
                    total += ev.len;
                    msgs += ev.fin;
                }
            }
        }
        assert_int_equal(nv, 1);
        assert_int_equal(msgs, nmsg);
        assert_int_equal(total, nw);
        assert_memory_equal(got, want, nw);
        free(got);
        free(buf);
        ws_checker_free(k);
    }
    /* Text in stored DEFLATE blocks (00, LEN, ~LEN, bytes; then the 00 that the removed
     * 00 00 ff ff completes, as a sync flush leaves it): valid, then not valid UTF-8 once
     * inflated -- 1007, MUST, found on the inflated bytes -- then valid again. */
    s->n = 0;
    put(s, WS_OP_TEXT, 1, WS_RSV1, 1, "\x00\x02\x00\xfd\xffok\x00", 8, 0);
    size_t at = put(s, WS_OP_TEXT, 0, WS_RSV1, 1, "\x00\x01\x00\xfe\xff\xff", 6, 0);
    cput(s, WS_OP_CONTINUATION, 1, "\x00", 1);
    put(s, WS_OP_TEXT, 1, WS_RSV1, 1, "\x00\x01\x00\xfe\xffz\x00", 7, 0);
    for (size_t chunk = 0; chunk < 4; chunk++) {
        k = checker(WS_ROLE_CLIENT);
        assert_int_equal(ws_checker_configure(k, WS_CHECK_DEFLATE | WS_CHECK_INFLATE, 0, 0),
                         WS_OK);
        run(k, s, chunk, o);
        assert_int_equal(o->nv, 1);
        expect_violation(&o->v[0], WS_ERR_INVALID_UTF8, 1007, WS_SEVERITY_MUST, at);
        assert_int_equal(o->messages, 3);
        assert_int_equal(o->ndata, 4);
        assert_memory_equal(o->data, "ok\xffz", 4);
        ws_checker_free(k);
    }
    ws_gen_free(g);
    free(want);
    free(s);
    free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_stream),
        cmocka_unit_test(test_each_rule),
        cmocka_unit_test(test_close_rules),
        cmocka_unit_test(test_several_rules_and_roles),
        cmocka_unit_test(test_checker_arguments),
        cmocka_unit_test(test_after_close_flag),
        cmocka_unit_test(test_inflate),
    };
    return cmocka_run_group_tests_name("check", tests, NULL, NULL);
}
