/*
 * The checker (ws.h "Checker"): every rule of RFC 6455 (and RFC 7692's use of RSV1) that one
 * endpoint's frame stream breaks, reported with the close code, severity and stream offset,
 * going on past each one. Frame rules come from the frame decoder in its report-all mode;
 * message rules (fragmentation order, UTF-8 of text, close payloads, nothing after the close,
 * size limits) are checked here. Nothing is sent, nothing is reassembled: data comes out as
 * chunks of the caller's input.
 */
#include "deflate.h"
#include "internal.h"

enum { PEND_MAX = 16 };

typedef struct pending {
    int32_t error;
    uint16_t code;
    uint8_t severity, opcode, after_close;
    uint64_t offset;
} pending;

struct ws_checker {
    ws_allocator alloc;
    ws_frame_decoder dec;
    uint32_t sender, flags;
    uint64_t max_frame, max_message;
    uint64_t pos;         /* stream offset of the next byte */
    uint64_t frame_start; /* of the frame being read */
    uint8_t frame_hl;     /* its header length */

    pending pend[PEND_MAX]; /* violations still to report, in order */
    uint8_t npend, ipend;

    /* the frame being read */
    uint8_t frame_op;
    uint8_t frame_kind; /* KIND_* */
    uint8_t ctl[WS_FRAME_MAX_CONTROL];
    size_t ctl_len;
    uint8_t ctl_ready; /* a control frame is complete: its event follows the violations */

    /* the message in progress */
    uint8_t msg_op; /* 0: none */
    uint8_t msg_compressed, msg_utf8_bad, msg_too_big, close_seen;
    uint8_t frame_after_close; /* the frame being read came after a close frame */
    uint64_t msg_len;
    ws_utf8_state utf8;

    /* WS_CHECK_INFLATE: the compressed message being inflated */
    ws__pmd *pmd;
    uint8_t inflating;   /* this message is inflated (no DEFLATE error yet) */
    uint8_t infl_more;   /* output of the last chunk is still pending */
    uint64_t infl_len;   /* bytes it inflated to so far */
};

enum {
    KIND_SKIP = 0,   /* payload not reported (reserved opcode, orphan continuation) */
    KIND_DATA = 1,   /* part of the message in progress */
    KIND_CONTROL = 2 /* ping, pong or close: gathered */
};

/* The severity of each frame rule, in WS_FRAME_VIOL_* bit order (ws.h). */
static const uint8_t frame_severity[] = {
    WS_SEVERITY_MUST,   /* RESERVED_OPCODE */
    WS_SEVERITY_MUST,   /* RSV */
    WS_SEVERITY_MUST,   /* CONTROL_FRAGMENTED */
    WS_SEVERITY_MUST,   /* UNMASKED */
    WS_SEVERITY_MUST,   /* MASKED */
    WS_SEVERITY_MUST,   /* CONTROL_TOO_LONG */
    WS_SEVERITY_STRICT, /* NON_MINIMAL_LENGTH */
    WS_SEVERITY_SHOULD, /* LEN64_MSB */
    WS_SEVERITY_LIMIT   /* TOO_LARGE */
};

int ws_checker_new(ws_checker **out, uint32_t sender, const ws_allocator *alloc)
{
    ws_allocator a;
    ws_checker *k;

    if (!out)
        return WS_ERR_INVALID_ARG;
    *out = NULL;
    if ((sender != WS_ROLE_CLIENT && sender != WS_ROLE_SERVER) || ws__alloc_init(&a, alloc) < 0)
        return WS_ERR_INVALID_ARG;
    if (!(k = ws__malloc(&a, sizeof *k)))
        return WS_ERR_NOMEM;
    memset(k, 0, sizeof *k);
    k->alloc = a;
    k->sender = sender;
    ws__frame_decoder_init(&k->dec);
    (void)ws_checker_configure(k, 0, 0, 0);
    *out = k;
    return WS_OK;
}

void ws_checker_free(ws_checker *k)
{
    if (k) {
        ws_allocator a = k->alloc;
        ws__pmd_free(k->pmd);
        ws__free(&a, k, sizeof *k);
    }
}

/* A decompressor for what the sender compresses: the largest window and context takeover
 * decode whatever was agreed (a smaller window or none is a subset). */
static int inflater(ws_checker *k)
{
    ws__pmd_neg neg;
    memset(&neg, 0, sizeof neg);
    neg.tx_bits = neg.rx_bits = WS__PMD_MAX_BITS;
    ws__pmd_free(k->pmd);
    k->pmd = NULL;
    k->inflating = k->infl_more = 0;
    int r = ws__pmd_set_option(&k->pmd, &k->alloc, WS_OPT_DEFLATE, 1);
    return r < 0 ? r : ws__pmd_commit(&k->pmd, &k->alloc, &neg);
}

int ws_checker_configure(ws_checker *k, uint32_t flags, uint64_t max_frame, uint64_t max_message)
{
    if (!k || (flags & ~(uint32_t)(WS_CHECK_DEFLATE | WS_CHECK_INFLATE)) ||
        ((flags & WS_CHECK_INFLATE) && !(flags & WS_CHECK_DEFLATE)))
        return WS_ERR_INVALID_ARG;
    if ((flags & WS_CHECK_INFLATE) && !ws_deflate_available())
        return WS_ERR_UNSUPPORTED;
    if ((flags & WS_CHECK_INFLATE) && !k->pmd) {
        int r = inflater(k);
        if (r < 0)
            return r;
    }
    k->flags = flags;
    k->max_frame = max_frame;
    k->max_message = max_message;
    uint32_t f = WS_FRAME_REPORT_ALL |
                 (k->sender == WS_ROLE_CLIENT ? WS_FRAME_EXPECT_MASKED : WS_FRAME_EXPECT_UNMASKED);
    if (flags & WS_CHECK_DEFLATE)
        f |= WS_FRAME_ALLOW_RSV1;
    return ws_frame_decoder_set_flags(&k->dec, f, max_frame ? max_frame : UINT64_MAX);
}

uint64_t ws_checker_offset(const ws_checker *k)
{
    return k ? k->pos : 0;
}

static void violation(ws_checker *k, int err, uint8_t severity, uint64_t offset)
{
    if (k->npend == PEND_MAX)
        return; /* cannot happen: a frame breaks at most 9 + 3 rules */
    pending *p = &k->pend[k->npend++];
    p->error = err;
    p->code = (uint16_t)ws_close_code_for_error(err);
    p->severity = severity;
    p->opcode = k->frame_op;
    p->after_close = k->frame_after_close;
    p->offset = offset;
}

/* A header is complete: its frame rules, then the message rules it breaks. */
static void on_header(ws_checker *k, const ws_frame_header *h)
{
    uint32_t v = h->violations;
    unsigned op = h->opcode;

    k->frame_op = (uint8_t)op;
    k->ctl_len = 0;
    k->frame_after_close = k->close_seen;
    for (unsigned i = 0; i < sizeof frame_severity; i++)
        if (v & (1u << i))
            violation(k, ws_frame_violation_error(1u << i), frame_severity[i], k->frame_start);
    if (k->close_seen)
        violation(k, WS_ERR_AFTER_CLOSE, WS_SEVERITY_STRICT, k->frame_start);
    if ((h->rsv & WS_RSV1) && (k->flags & WS_CHECK_DEFLATE) &&
        (WS_OPCODE_IS_CONTROL(op) || op == WS_OP_CONTINUATION))
        violation(k, WS_ERR_DEFLATE_RSV1, WS_SEVERITY_MUST, k->frame_start);

    if (v & WS_FRAME_VIOL_RESERVED_OPCODE) {
        k->frame_kind = KIND_SKIP;
    } else if (WS_OPCODE_IS_CONTROL(op)) {
        k->frame_kind = KIND_CONTROL;
    } else if (op == WS_OP_CONTINUATION && !k->msg_op) {
        violation(k, WS_ERR_UNEXPECTED_CONTINUATION, WS_SEVERITY_MUST, k->frame_start);
        k->frame_kind = KIND_SKIP;
    } else {
        if (op != WS_OP_CONTINUATION) {
            if (k->msg_op)
                violation(k, WS_ERR_EXPECTED_CONTINUATION, WS_SEVERITY_MUST, k->frame_start);
            /* a new message starts here (after a broken one too: resynchronised) */
            k->msg_op = (uint8_t)op;
            k->msg_compressed = (h->rsv & WS_RSV1) && (k->flags & WS_CHECK_DEFLATE);
            k->msg_utf8_bad = 0;
            k->msg_too_big = 0;
            k->msg_len = 0;
            k->utf8 = WS_UTF8_ACCEPT;
            k->infl_len = 0;
            k->inflating = 0;
            if (k->msg_compressed && (k->flags & WS_CHECK_INFLATE) && k->pmd &&
                ws__pmd_rx_begin(k->pmd) == WS_OK)
                k->inflating = 1;
        }
        k->frame_kind = KIND_DATA;
        if (k->max_message && !k->msg_too_big &&
            h->payload_len > k->max_message - (k->msg_len < k->max_message ? k->msg_len
                                                                            : k->max_message)) {
            violation(k, WS_ERR_MESSAGE_TOO_BIG, WS_SEVERITY_LIMIT, k->frame_start);
            k->msg_too_big = 1;
        }
    }
}

/* The close frame's payload rules (RFC 6455 5.5.1, 7.4). */
static void on_close(ws_checker *k)
{
    if (k->ctl_len == 1) {
        violation(k, WS_ERR_CLOSE_PAYLOAD, WS_SEVERITY_SHOULD, k->frame_start);
    } else if (k->ctl_len >= 2) {
        if (!ws_close_code_valid(ws__load_be16(k->ctl)))
            violation(k, WS_ERR_CLOSE_CODE, WS_SEVERITY_SHOULD, k->frame_start);
        ws_utf8_state u = WS_UTF8_ACCEPT;
        size_t n = k->ctl_len - 2, ok = ws_utf8_validate(&u, k->ctl + 2, n);
        if (ok != n || !ws_utf8_complete(u))
            violation(k, WS_ERR_INVALID_UTF8, WS_SEVERITY_SHOULD,
                      k->frame_start + k->frame_hl + 2 + ok);
    }
    k->close_seen = 1;
}

/* A DATA event for a chunk of the message in progress (fin: its last). */
static void data_event(ws_checker *k, ws_check_event *ev, const uint8_t *p, size_t n, int fin,
                       uint8_t op, uint8_t compressed)
{
    memset(ev, 0, sizeof *ev);
    ev->type = WS_CHECK_DATA;
    ev->opcode = op;
    ev->fin = (uint8_t)fin;
    ev->compressed = compressed;
    ev->after_close = k->frame_after_close;
    ev->offset = k->frame_start;
    ev->data = n ? p : NULL;
    ev->len = n;
}

/* WS_CHECK_INFLATE: inflate compressed payload in[0..n) (more: continue the output still
 * pending) into the next DATA event, the text's UTF-8 checked on the inflated bytes. Returns
 * 1 when it made an event. Invalid data is a violation (1007, SHOULD); the rest of that message then
 * comes through as it is on the wire (compressed = 1), and the decompressor starts afresh. */
static int inflate_chunk(ws_checker *k, const uint8_t *in, size_t n, int msg_end, int more,
                         ws_check_event *ev)
{
    const uint8_t *out = NULL;
    size_t made = 0;
    int r = ws__pmd_rx_stream(k->pmd, more ? NULL : in, more ? 0 : n, msg_end, WS__PMD_OUT_CHUNK,
                              &out, &made);
    uint8_t op = k->msg_op;
    k->infl_more = r == 1;
    if (r < 0) {
        /* RFC 7692 requires the failure but names no close code: 1007 (data not of its
         * type) is ws_close_code_for_error's, 1002 an equally lawful answer */
        violation(k, r == WS_ERR_NOMEM ? WS_ERR_NOMEM : WS_ERR_DEFLATE_DATA, WS_SEVERITY_SHOULD,
                  k->frame_start);
        if (inflater(k) < 0) {
            ws__pmd_free(k->pmd);
            k->pmd = NULL;
        }
        if (msg_end)
            k->msg_op = 0;
        if (!n && !msg_end)
            return 0;
        data_event(k, ev, in, n, msg_end, op, 1);
        return 1;
    }
    int end = msg_end && r == 0;
    k->infl_len += made;
    k->msg_len += made;
    if (k->max_message && !k->msg_too_big && k->infl_len > k->max_message) {
        violation(k, WS_ERR_MESSAGE_TOO_BIG, WS_SEVERITY_LIMIT, k->frame_start);
        k->msg_too_big = 1;
    }
    if (op == WS_OP_TEXT && !k->msg_utf8_bad) {
        size_t ok = ws_utf8_validate(&k->utf8, out, made);
        if (ok != made || (end && !ws_utf8_complete(k->utf8))) {
            violation(k, WS_ERR_INVALID_UTF8, WS_SEVERITY_MUST, k->frame_start);
            k->msg_utf8_bad = 1;
        }
    }
    if (end) {
        ws__pmd_rx_end(k->pmd);
        k->inflating = 0;
        k->msg_op = 0;
    }
    if (!made && !end)
        return 0;
    data_event(k, ev, out, made, end, op, 0);
    return 1;
}

/* A chunk of the current frame's payload (unmasked), starting at stream offset at. Returns 1
 * when it makes a DATA event (filled in ev), else 0. */
static int on_payload(ws_checker *k, const ws_frame_event *fe, uint64_t at, ws_check_event *ev)
{
    const ws_frame_header *h = fe->header;

    if (k->frame_kind == KIND_CONTROL) {
        size_t room = sizeof k->ctl - k->ctl_len, n = fe->len < room ? fe->len : room;
        if (n)
            memcpy(k->ctl + k->ctl_len, fe->data, n);
        k->ctl_len += n;
        if (fe->frame_end) {
            if (k->frame_op == WS_OP_CLOSE)
                on_close(k);
            k->ctl_ready = 1;
        }
        return 0;
    }
    if (k->frame_kind != KIND_DATA)
        return 0;
    int msg_end = h->fin && fe->frame_end;
    if (k->inflating)
        return inflate_chunk(k, fe->data, fe->len, msg_end, 0, ev);
    k->msg_len += fe->len;
    if (k->msg_op == WS_OP_TEXT && !k->msg_compressed && !k->msg_utf8_bad) {
        size_t ok = ws_utf8_validate(&k->utf8, fe->data, fe->len);
        if (ok != fe->len || (msg_end && !ws_utf8_complete(k->utf8))) {
            violation(k, WS_ERR_INVALID_UTF8, WS_SEVERITY_MUST, at + ok);
            k->msg_utf8_bad = 1;
        }
    }
    uint8_t op = k->msg_op, compressed = k->msg_compressed;
    if (msg_end)
        k->msg_op = 0;
    if (fe->len == 0 && !msg_end)
        return 0;
    data_event(k, ev, fe->data, fe->len, msg_end, op, compressed);
    return 1;
}

/* The next queued event, if any: violations first, then a completed control frame. */
static int queued(ws_checker *k, ws_check_event *ev)
{
    if (k->ipend < k->npend) {
        const pending *p = &k->pend[k->ipend++];
        if (k->ipend == k->npend)
            k->ipend = k->npend = 0;
        memset(ev, 0, sizeof *ev);
        ev->type = WS_CHECK_VIOLATION;
        ev->error = p->error;
        ev->close_code = p->code;
        ev->severity = p->severity;
        ev->opcode = p->opcode;
        ev->after_close = p->after_close;
        ev->offset = p->offset;
        return 1;
    }
    if (k->ctl_ready) {
        k->ctl_ready = 0;
        memset(ev, 0, sizeof *ev);
        ev->type = WS_CHECK_CONTROL;
        ev->opcode = k->frame_op;
        ev->after_close = k->frame_after_close;
        ev->offset = k->frame_start;
        ev->data = k->ctl_len ? k->ctl : NULL;
        ev->len = k->ctl_len;
        if (k->frame_op == WS_OP_CLOSE && k->ctl_len >= 2) {
            ev->close_code = ws__load_be16(k->ctl);
            ev->data = k->ctl_len > 2 ? k->ctl + 2 : NULL;
            ev->len = k->ctl_len - 2;
        }
        return 1;
    }
    return 0;
}

static int checker_feed(ws_checker *k, uint8_t *in, size_t n, size_t *consumed,
                        ws_check_event *ev)
{
    size_t pos = 0;

    memset(ev, 0, sizeof *ev);
    while (!queued(k, ev)) {
        if (k->infl_more) { /* the output of an inflated chunk first */
            if (inflate_chunk(k, NULL, 0, ws__pmd_rx_pending(k->pmd) == 2, 1, ev))
                break;
            continue;
        }
        ws_frame_event fe;
        size_t used = 0;
        uint64_t at = k->pos;
        int r = ws__frame_decoder_step(&k->dec, pos < n ? in + pos : NULL, n - pos, &used, &fe);
        if (r < 0) /* report-all never sticks; an incomplete header needs more */
            break;
        pos += used;
        k->pos += used;
        if (fe.type == WS_FRAME_EV_NONE)
            break;
        if (fe.type == WS_FRAME_EV_HEADER) {
            k->frame_start = k->pos - fe.header->header_len;
            k->frame_hl = fe.header->header_len;
            on_header(k, fe.header);
        } else if (on_payload(k, &fe, at, ev)) {
            break;
        }
    }
    *consumed = pos;
    return WS_OK;
}

int ws_checker_feed(ws_checker *k, uint8_t *in, size_t n, size_t *consumed, ws_check_event *ev,
                    size_t ev_size)
{
    if (consumed)
        *consumed = 0;
    if (!k || !consumed || !ev || ev_size < WS__MIN_CHECK_EVENT || (!in && n))
        return WS_ERR_INVALID_ARG;
    if (ev_size == sizeof *ev)
        return checker_feed(k, in, n, consumed, ev);
    ws_check_event mine;
    int r = checker_feed(k, in, n, consumed, &mine);
    ws__struct_copy(ev, ev_size, &mine, sizeof mine);
    return r;
}
