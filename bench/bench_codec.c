/*
 * bench-codec: the in-memory benchmarks of `make bench` -- decode (connection API and bare
 * frame decoder, against wslay's event and frame APIs and memcpy), encode (server and client
 * frames, against wslay), UTF-8 validation (against memcpy), the opening handshake, and
 * memory (core state, heap per idle connection, heap allocations per echoed message).
 *
 * Every comparison is measured in the same repetition, interleaved (libws, reference, libws,
 * reference...), and reported as the median of the per-repetition ratios; rates are medians
 * too. Results go to stdout as a readable table and as "ROW ..." lines for results.csv.
 *
 *   bench-codec [--quick] [--only decode|encode|utf8|handshake|memory]
 *   bench-codec --callgrind SIZE     fixed decode workload for callgrind (see bench/run.sh)
 *
 * Links build/libws.a and includes lib/ for the internal accept-key and base64 helpers;
 * links -lwslay (Debian libwslay-dev) for the references.
 */
#define _GNU_SOURCE
#include "bench_util.h"
#include "hash.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <wslay/wslay.h>

/* ---- counting every heap call in the process (for wslay, which has no allocator hooks) ---- */

/* glibc lets a program define malloc & co.; ours count, then forward to glibc's own. The
 * counters are read only around the code under test. */
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static int g_counting;        /* off during timings: the counting itself costs */
static uint64_t g_heap_calls; /* malloc + calloc + realloc */
static int64_t g_heap_live;   /* usable bytes currently allocated */

void *malloc(size_t n)
{
    void *p = __libc_malloc(n);
    if (p && g_counting) {
        g_heap_calls++;
        g_heap_live += (int64_t)malloc_usable_size(p);
    }
    return p;
}

void *calloc(size_t k, size_t n)
{
    void *p = __libc_calloc(k, n);
    if (p && g_counting) {
        g_heap_calls++;
        g_heap_live += (int64_t)malloc_usable_size(p);
    }
    return p;
}

void *realloc(void *q, size_t n)
{
    if (!g_counting)
        return __libc_realloc(q, n);
    int64_t old = q ? (int64_t)malloc_usable_size(q) : 0;
    void *p = __libc_realloc(q, n);
    if (p || n == 0) {
        g_heap_calls++;
        g_heap_live += (p ? (int64_t)malloc_usable_size(p) : 0) - old;
    }
    return p;
}

void free(void *p)
{
    if (p && g_counting)
        g_heap_live -= (int64_t)malloc_usable_size(p);
    __libc_free(p);
}

/* ---- settings ---- */

static int quick;
static int reps = 7;
static size_t decode_bytes = (size_t)16 << 20; /* wire bytes per repetition */
static volatile uint64_t sink;

static const size_t sizes[] = {16, 125, 1024, 65536, 1048576};
static const char *const size_names[] = {"16B", "125B", "1KiB", "64KiB", "1MiB"};
enum { NSIZES = 5, MAXREPS = 15 };

/* ---- payloads and wire images ---- */

/* Text that is valid UTF-8 on its own: ASCII words with an occasional 2-byte letter. */
static void fill_text(uint8_t *p, size_t n, uint64_t *rng, int ascii_only)
{
    static const char words[] = "the quick brown fox jumps over a lazy dog while ";
    size_t i = 0;
    while (i < n) {
        uint64_t r = bu_rand(rng);
        if (!ascii_only && (r & 31) == 0 && n - i >= 2) {
            p[i++] = 0xC3; /* U+00E9 */
            p[i++] = 0xA9;
        } else {
            p[i++] = (uint8_t)words[(r >> 8) % (sizeof words - 1)];
        }
    }
}

static void fill_binary(uint8_t *p, size_t n, uint64_t *rng)
{
    for (size_t i = 0; i < n; i += 8) {
        uint64_t v = bu_rand(rng);
        memcpy(p + i, &v, n - i < 8 ? n - i : 8);
    }
}

struct wire {
    uint8_t *bytes; /* pristine masked frames */
    uint8_t *work;  /* scratch copy: decoding unmasks in place */
    size_t len, frames, payload;
};

/* Masked client frames of `size`-byte payloads, a random key each: mode 0 alternates text and
 * binary, 1 is text only, 2 binary only, 3 ASCII-only text. About `target` wire bytes, at least 8 frames. */
static void make_wire(struct wire *w, size_t size, int mode, size_t target, uint64_t seed)
{
    uint64_t rng = seed;
    size_t hl = ws_frame_header_size(size, 1);
    size_t frames = target / (size + hl);
    if (frames < 8)
        frames = 8;
    w->len = frames * (size + hl);
    w->frames = frames;
    w->payload = frames * size;
    w->bytes = malloc(w->len);
    w->work = malloc(w->len);
    uint8_t *tmp = malloc(size ? size : 1);
    if (!w->bytes || !w->work || !tmp) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    size_t pos = 0;
    for (size_t i = 0; i < frames; i++) {
        ws_frame_header h;
        int text = mode == 1 || mode == 3 || (mode == 0 && (i & 1));
        memset(&h, 0, sizeof h);
        h.fin = 1;
        h.opcode = text ? WS_OP_TEXT : WS_OP_BINARY;
        h.masked = 1;
        bu_random_hook(&rng, h.mask, 4);
        if (text)
            fill_text(tmp, size, &rng, mode == 3);
        else
            fill_binary(tmp, size, &rng);
        int r = ws_frame_encode(w->bytes + pos, w->len - pos, &h, sizeof h, tmp, size);
        if (r < 0) {
            fprintf(stderr, "encode: %s\n", ws_strerror(r));
            exit(1);
        }
        pos += (size_t)r;
    }
    free(tmp);
}

static void free_wire(struct wire *w)
{
    free(w->bytes);
    free(w->work);
}

/* ---- the decoders under test ---- */

/* Messages among evs[0..k) (their lengths into sink); exits on a failure. */
static uint64_t count_events(const ws_event *evs, int k)
{
    uint64_t msgs = 0;
    for (int i = 0; i < k; i++) {
        if (evs[i].type == WS_EV_MESSAGE) {
            msgs++;
            sink += evs[i].len;
        } else if (evs[i].type == WS_EV_CLOSE || evs[i].type == WS_EV_ERROR) {
            fprintf(stderr, "libws decode failed: %s\n", ws_strerror(evs[i].error));
            exit(1);
        }
    }
    return msgs;
}

/* libws connection API, zero copy: ws_conn_feed_events, one call per batch of events (as a
 * server reading into its buffer would use it); whole messages out, text validated. Returns
 * messages seen. */
__attribute__((noinline)) static uint64_t run_libws_conn(ws_conn *c, uint8_t *buf, size_t len)
{
    size_t pos = 0;
    uint64_t msgs = 0;
    ws_event evs[16];
    int k;

    while (pos < len) {
        size_t used = 0;
        k = ws_conn_feed_events(c, buf + pos, len - pos, &used, evs, 16, sizeof evs[0]);
        if (k < 0) {
            fprintf(stderr, "libws feed failed: %s\n", ws_strerror(k));
            exit(1);
        }
        pos += used;
        msgs += count_events(evs, k);
        if (!used && !k)
            break;
    }
    while ((k = ws_conn_next_events(c, evs, 16, sizeof evs[0])) > 0)
        msgs += count_events(evs, k);
    return msgs;
}

/* libws bare frame decoder, the batch call (WS_FRAME_WHOLE: up to 32 whole frames a call).
 * Returns frames completed. */
__attribute__((noinline)) static uint64_t run_libws_frame(ws_frame_decoder *d, uint8_t *buf,
                                                          size_t len)
{
    size_t pos = 0;
    uint64_t frames = 0;
    ws_frame_event evs[WS_FRAME_EVENTS_MAX];

    for (;;) {
        size_t used = 0;
        int k = ws_frame_decoder_feed_events(d, buf + pos, len - pos, &used, evs,
                                             WS_FRAME_EVENTS_MAX, sizeof evs[0]);
        if (k < 0) {
            fprintf(stderr, "frame decode failed: %s\n", ws_strerror(k));
            exit(1);
        }
        pos += used;
        for (int i = 0; i < k; i++) {
            if (evs[i].type == WS_FRAME_EV_DATA && evs[i].frame_end) {
                frames++;
                sink += evs[i].len;
            }
        }
        if ((size_t)k < WS_FRAME_EVENTS_MAX)
            break;
    }
    return frames;
}

/* The same, one event per ws_frame_decoder_feed call. */
__attribute__((noinline)) static uint64_t run_libws_frame1(ws_frame_decoder *d, uint8_t *buf,
                                                           size_t len)
{
    size_t pos = 0;
    uint64_t frames = 0;
    ws_frame_event ev;

    for (;;) {
        size_t used = 0;
        if (ws_frame_decoder_feed(d, buf + pos, len - pos, &used, &ev, sizeof ev) < 0) {
            fprintf(stderr, "frame decode failed\n");
            exit(1);
        }
        pos += used;
        if (ev.type == WS_FRAME_EV_NONE)
            break;
        if (ev.type == WS_FRAME_EV_DATA && ev.frame_end) {
            frames++;
            sink += ev.len;
        }
    }
    return frames;
}

/* wslay reads through a callback: it copies from this source into its own buffer, as it would
 * from a socket. */
struct src {
    const uint8_t *p;
    size_t len, pos;
    uint64_t msgs;
    uint64_t got; /* frame API: payload bytes of the current frame so far */
};

static ssize_t ev_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user)
{
    struct src *s = user;
    (void)flags;
    if (s->pos == s->len) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t k = s->len - s->pos < len ? s->len - s->pos : len;
    memcpy(buf, s->p + s->pos, k);
    s->pos += k;
    return (ssize_t)k;
}

static ssize_t ev_send_discard(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                               int flags, void *user)
{
    (void)ctx, (void)data, (void)flags, (void)user;
    return (ssize_t)len;
}

static int ev_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
    static uint64_t rng = 0x9E3779B97F4A7C15ULL;
    (void)ctx, (void)user;
    return bu_random_hook(&rng, buf, len);
}

static void ev_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a,
                      void *user)
{
    struct src *s = user;
    (void)ctx;
    s->msgs++;
    sink += a->msg_length;
}

__attribute__((noinline)) static uint64_t run_wslay_event(wslay_event_context_ptr ctx,
                                                          struct src *s)
{
    s->msgs = 0;
    s->pos = 0;
    if (wslay_event_recv(ctx) != 0) {
        fprintf(stderr, "wslay_event_recv failed\n");
        exit(1);
    }
    return s->msgs;
}

static ssize_t fr_recv(uint8_t *buf, size_t len, int flags, void *user)
{
    struct src *s = user;
    (void)flags;
    if (s->pos == s->len)
        return 0; /* wslay_frame_recv then returns WSLAY_ERR_WANT_READ */
    size_t k = s->len - s->pos < len ? s->len - s->pos : len;
    memcpy(buf, s->p + s->pos, k);
    s->pos += k;
    return (ssize_t)k;
}

static ssize_t fr_send_discard(const uint8_t *data, size_t len, int flags, void *user)
{
    (void)data, (void)flags, (void)user;
    return (ssize_t)len;
}

static int fr_genmask(uint8_t *buf, size_t len, void *user)
{
    static uint64_t rng = 0x2545F4914F6CDD1DULL;
    (void)user;
    return bu_random_hook(&rng, buf, len);
}

__attribute__((noinline)) static uint64_t run_wslay_frame(wslay_frame_context_ptr ctx,
                                                          struct src *s)
{
    struct wslay_frame_iocb io;
    uint64_t frames = 0;
    ssize_t r;

    s->pos = 0;
    s->got = 0;
    while ((r = wslay_frame_recv(ctx, &io)) >= 0) {
        s->got += (uint64_t)r;
        sink += (uint64_t)r;
        if (s->got == io.payload_length) {
            frames++;
            s->got = 0;
        }
    }
    if (r != WSLAY_ERR_WANT_READ) {
        fprintf(stderr, "wslay_frame_recv failed: %zd\n", r);
        exit(1);
    }
    return frames;
}

__attribute__((noinline)) static void run_memcpy(uint8_t *dst, const uint8_t *src, size_t n)
{
    memcpy(dst, src, n);
    sink += dst[n / 2];
}

static ws_conn *new_server_conn(const ws_allocator *a)
{
    ws_conn *c;
    ws_event ev;
    ws_config *cfg = NULL;
    int r = ws_config_new(&cfg, a);
    if (r == WS_OK)
        r = ws_conn_new(&c, WS_ROLE_SERVER, WS_CONN_OPEN, cfg);
    ws_config_free(cfg); /* the connection keeps it */
    if (r != WS_OK) {
        fprintf(stderr, "ws_conn_new failed: %s\n", ws_strerror(r));
        exit(1);
    }
    ws_conn_set_option(c, WS_OPT_MAX_MESSAGE_SIZE, (uint64_t)64 << 20);
    while (ws_conn_next_event(c, &ev, sizeof ev) > 0)
        ;
    return c;
}

static ws_frame_decoder *new_server_decoder(void)
{
    ws_frame_decoder *d;
    if (ws_frame_decoder_new(&d, NULL) != WS_OK) {
        fprintf(stderr, "ws_frame_decoder_new failed\n");
        exit(1);
    }
    ws_frame_decoder_set_flags(d, WS_FRAME_EXPECT_MASKED | WS_FRAME_WHOLE, UINT64_MAX);
    return d;
}

static void check_count(const char *who, uint64_t got, uint64_t want)
{
    if (got != want) {
        fprintf(stderr, "%s: %llu frames/messages, expected %llu\n", who,
                (unsigned long long)got, (unsigned long long)want);
        exit(1);
    }
}

/* ---- decode ---- */

static void bench_decode(void)
{
    struct wslay_event_callbacks ecb = {ev_recv, ev_send_discard, NULL, NULL, NULL, NULL,
                                        ev_on_msg};
    struct wslay_frame_callbacks fcb = {fr_send_discard, fr_recv, fr_genmask};

    printf("\n== decode: masked client frames -> whole messages (libws ws_conn vs wslay "
           "event API) and bare frames (ws_frame_decoder vs wslay_frame_recv)\n");
    printf("   %zu MiB of wire per repetition, median of %d; text+binary alternating, a random "
           "key per frame\n", decode_bytes >> 20, reps);
    printf("%-8s %12s %9s %12s %9s %7s | %12s %12s %7s\n", "payload", "ws_conn", "GB/s",
           "wslay_event", "GB/s", "ratio", "ws_frame", "wslay_frame", "ratio");

    /* Then 1 MiB frames against memcpy: text (decode_text_1MiB, the same prose as above: ASCII
     * with a 2-byte letter every ~32 bytes), ASCII-only text, and binary, to split the cost. */
    static const int extra_mode[3] = {1, 3, 2};
    static const char *const extra_name[3] = {"text", "ASCII text", "binary"};
    for (int si = 0; si < NSIZES + 3; si++) {
        int extra = si >= NSIZES ? si - NSIZES : -1;
        int text_only = extra >= 0;
        size_t size = text_only ? sizes[NSIZES - 1] : sizes[si];
        struct wire w;
        make_wire(&w, size, text_only ? extra_mode[extra] : 0, decode_bytes, 42 + (uint64_t)si);

        ws_conn *c = new_server_conn(NULL);
        ws_frame_decoder *d = new_server_decoder();
        struct src es = {w.bytes, w.len, 0, 0, 0}, fs = es;
        wslay_event_context_ptr ectx;
        wslay_frame_context_ptr fctx;
        if (wslay_event_context_server_init(&ectx, &ecb, &es) != 0 ||
            wslay_frame_context_init(&fctx, &fcb, &fs) != 0) {
            fprintf(stderr, "wslay init failed\n");
            exit(1);
        }
        wslay_event_config_set_max_recv_msg_length(ectx, (uint64_t)64 << 20);

        double t_conn[MAXREPS], t_ev[MAXREPS], t_fr[MAXREPS], t_wfr[MAXREPS], t_cpy[MAXREPS];
        double r_ev[MAXREPS], r_fr[MAXREPS], r_cpy[MAXREPS];
        for (int r = 0; r < reps; r++) {
            double t0;
            memcpy(w.work, w.bytes, w.len);
            t0 = bu_now();
            uint64_t n = run_libws_conn(c, w.work, w.len);
            t_conn[r] = bu_now() - t0;
            check_count("ws_conn", n, w.frames);

            t0 = bu_now();
            n = run_wslay_event(ectx, &es);
            t_ev[r] = bu_now() - t0;
            check_count("wslay_event", n, w.frames);

            memcpy(w.work, w.bytes, w.len);
            t0 = bu_now();
            n = run_libws_frame(d, w.work, w.len);
            t_fr[r] = bu_now() - t0;
            check_count("ws_frame_decoder", n, w.frames);

            t0 = bu_now();
            n = run_wslay_frame(fctx, &fs);
            t_wfr[r] = bu_now() - t0;
            check_count("wslay_frame", n, w.frames);

            t0 = bu_now();
            run_memcpy(w.work, w.bytes, w.len);
            t_cpy[r] = bu_now() - t0;

            r_ev[r] = t_ev[r] / t_conn[r];
            r_fr[r] = t_wfr[r] / t_fr[r];
            r_cpy[r] = t_cpy[r] / t_conn[r];
        }
        double fps_conn = (double)w.frames / bu_median(t_conn, reps);
        double fps_ev = (double)w.frames / bu_median(t_ev, reps);
        double fps_fr = (double)w.frames / bu_median(t_fr, reps);
        double fps_wfr = (double)w.frames / bu_median(t_wfr, reps);
        double gbs = (double)w.len / 1e9;
        double gb_conn = gbs / bu_median(t_conn, reps), gb_ev = gbs / bu_median(t_ev, reps);
        double gb_fr = gbs / bu_median(t_fr, reps), gb_wfr = gbs / bu_median(t_wfr, reps);
        double gb_cpy = gbs / bu_median(t_cpy, reps);
        char name[64];

        if (text_only) {
            if (extra == 0)
                printf("1 MiB frames through ws_conn vs memcpy of the same bytes:\n");
            printf("  %-11s %8.3f GB/s vs memcpy %7.3f GB/s: ratio %.3f%s\n", extra_name[extra],
                   gb_conn, gb_cpy, bu_median(r_cpy, reps),
                   extra == 0 ? "  (decode_text_1MiB)" : "");
            if (extra == 0)
                bu_row("decode_text_1MiB", "GB/s", gb_conn, "memcpy", gb_cpy,
                       bu_median(r_cpy, reps));
        } else {
            printf("%-8s %10.2fM %9.3f %10.2fM %9.3f %7.2f | %10.2fM %10.2fM %7.2f\n",
                   size_names[si], fps_conn / 1e6, gb_conn, fps_ev / 1e6, gb_ev,
                   bu_median(r_ev, reps), fps_fr / 1e6, fps_wfr / 1e6, bu_median(r_fr, reps));
            printf("%8s %9.1f ns/frame %9.1f ns/frame %15.1f ns %9.1f ns\n", "", 1e9 / fps_conn,
                   1e9 / fps_ev, 1e9 / fps_fr, 1e9 / fps_wfr);
            int small = size <= 1024;
            snprintf(name, sizeof name, "decode_%s", size_names[si]);
            bu_row(name, small ? "frames/s" : "GB/s", small ? fps_conn : gb_conn,
                   "wslay-event", small ? fps_ev : gb_ev, bu_median(r_ev, reps));
            snprintf(name, sizeof name, "codec_%s", size_names[si]);
            bu_row(name, small ? "frames/s" : "GB/s", small ? fps_fr : gb_fr, "wslay-frame",
                   small ? fps_wfr : gb_wfr, bu_median(r_fr, reps));
        }
        wslay_event_context_free(ectx);
        wslay_frame_context_free(fctx);
        ws_frame_decoder_free(d);
        ws_conn_free(c);
        free_wire(&w);
    }
}

/* ---- encode ---- */

struct enc_sink {
    uint64_t bytes;
};

static ssize_t ev_send_count(wslay_event_context_ptr ctx, const uint8_t *data, size_t len,
                             int flags, void *user)
{
    struct enc_sink *s = user;
    (void)ctx, (void)flags;
    s->bytes += len;
    sink += data[0];
    return (ssize_t)len;
}

/* ws_conn_send + ws_conn_output + ack (the bytes a socket would take), one message at a time. */
__attribute__((noinline)) static uint64_t run_libws_encode(ws_conn *c, const uint8_t *p,
                                                           size_t size, size_t count)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < count; i++) {
        ws_iovec iov[4];
        if (ws_conn_send(c, WS_OP_BINARY, p, size, 0) != WS_OK) {
            fprintf(stderr, "ws_conn_send failed\n");
            exit(1);
        }
        int k;
        while ((k = ws_conn_output(c, iov, 4)) > 0) {
            size_t n = 0;
            for (int j = 0; j < k; j++) {
                n += iov[j].len;
                sink += iov[j].base[0];
            }
            ws_conn_output_ack(c, n);
            bytes += n;
        }
    }
    return bytes;
}

__attribute__((noinline)) static uint64_t run_wslay_encode(wslay_event_context_ptr ctx,
                                                           struct enc_sink *s, const uint8_t *p,
                                                           size_t size, size_t count)
{
    s->bytes = 0;
    for (size_t i = 0; i < count; i++) {
        struct wslay_event_msg m = {WSLAY_BINARY_FRAME, p, size};
        if (wslay_event_queue_msg(ctx, &m) != 0 || wslay_event_send(ctx) != 0) {
            fprintf(stderr, "wslay send failed\n");
            exit(1);
        }
    }
    return s->bytes;
}

static void bench_encode(void)
{
    struct wslay_event_callbacks cb = {NULL, ev_send_count, ev_genmask, NULL, NULL, NULL, NULL};
    uint64_t rng = 7;
    uint8_t *payload = malloc(sizes[NSIZES - 1]);
    if (!payload)
        exit(1);
    fill_binary(payload, sizes[NSIZES - 1], &rng);

    printf("\n== encode: ws_conn_send + output/ack vs wslay_event_queue_msg + wslay_event_send "
           "(one binary message at a time, output discarded; same cheap PRNG for client keys)\n");
    printf("%-7s %-8s %14s %9s %14s %9s %7s\n", "role", "payload", "libws msg/s", "GB/s",
           "wslay msg/s", "GB/s", "ratio");
    for (int client = 0; client <= 1; client++) {
        for (int si = 0; si < NSIZES; si++) {
            size_t size = sizes[si];
            size_t count = decode_bytes / (size + 14);
            if (count < 16)
                count = 16;
            uint64_t seed = 99;
            ws_conn *c = NULL;
            ws_event ev;
            if (ws_conn_new(&c, client ? WS_ROLE_CLIENT : WS_ROLE_SERVER, WS_CONN_OPEN, NULL) !=
                WS_OK) {
                fprintf(stderr, "init failed\n");
                exit(1);
            }
            while (ws_conn_next_event(c, &ev, sizeof ev) > 0)
                ;
            ws_conn_set_random(c, bu_random_hook, &seed);
            struct enc_sink es = {0};
            wslay_event_context_ptr ctx;
            if ((client ? wslay_event_context_client_init(&ctx, &cb, &es)
                        : wslay_event_context_server_init(&ctx, &cb, &es)) != 0) {
                fprintf(stderr, "init failed\n");
                exit(1);
            }
            double tl[MAXREPS], tw[MAXREPS], rr[MAXREPS];
            uint64_t bl = 0, bw = 0;
            run_libws_encode(c, payload, size, count / 4 + 1); /* warm-up, untimed */
            run_wslay_encode(ctx, &es, payload, size, count / 4 + 1);
            for (int r = 0; r < reps; r++) {
                double t0 = bu_now();
                bl = run_libws_encode(c, payload, size, count);
                tl[r] = bu_now() - t0;
                t0 = bu_now();
                bw = run_wslay_encode(ctx, &es, payload, size, count);
                tw[r] = bu_now() - t0;
                rr[r] = tw[r] / tl[r];
            }
            if (bl != bw) {
                fprintf(stderr, "encode: libws wrote %llu bytes, wslay %llu\n",
                        (unsigned long long)bl, (unsigned long long)bw);
                exit(1);
            }
            double ml = (double)count / bu_median(tl, reps), mw = (double)count / bu_median(tw, reps);
            double gl = (double)bl / 1e9 / bu_median(tl, reps);
            double gw = (double)bw / 1e9 / bu_median(tw, reps);
            printf("%-7s %-8s %13.2fM %9.3f %13.2fM %9.3f %7.2f\n", client ? "client" : "server",
                   size_names[si], ml / 1e6, gl, mw / 1e6, gw, bu_median(rr, reps));
            char name[64];
            int small = size <= 1024;
            snprintf(name, sizeof name, "encode_%s_%s", client ? "client" : "server",
                     size_names[si]);
            bu_row(name, small ? "msgs/s" : "GB/s", small ? ml : gl, "wslay-event",
                   small ? mw : gw, bu_median(rr, reps));
            wslay_event_context_free(ctx);
            ws_conn_free(c);
        }
    }
    free(payload);
}

/* ---- UTF-8 ---- */

static size_t put_cp(uint8_t *p, uint32_t cp)
{
    if (cp < 0x80) {
        p[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        p[0] = (uint8_t)(0xC0 | cp >> 6);
        p[1] = (uint8_t)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        p[0] = (uint8_t)(0xE0 | cp >> 12);
        p[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
        p[2] = (uint8_t)(0x80 | (cp & 0x3F));
        return 3;
    }
    p[0] = (uint8_t)(0xF0 | cp >> 18);
    p[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
    p[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
    p[3] = (uint8_t)(0x80 | (cp & 0x3F));
    return 4;
}

/* n bytes of valid UTF-8 in one of four styles. */
static size_t make_text(uint8_t *p, size_t n, int style, uint64_t *rng)
{
    size_t i = 0;
    while (n - i >= 4) {
        uint64_t r = bu_rand(rng);
        unsigned pct = (unsigned)(r % 100);
        uint32_t cp;
        int ascii = style == 0 || (style == 1 && pct < 50) || (style == 2 && pct < 10) ||
                    (style == 3 && pct < 30);
        if (ascii)
            cp = pct % 8 == 0 ? ' ' : 'a' + (uint32_t)((r >> 16) % 26);
        else if (style == 1)
            cp = 0xC0 + (uint32_t)((r >> 16) % 0x40); /* Latin-1 letters */
        else if (style == 2)
            cp = 0x4E00 + (uint32_t)((r >> 16) % 0x5200); /* CJK unified ideographs */
        else
            cp = 0x1F300 + (uint32_t)((r >> 16) % 0x700); /* pictographs, emoticons */
        i += put_cp(p + i, cp);
    }
    while (i < n)
        p[i++] = ' ';
    return n;
}

__attribute__((noinline)) static size_t run_utf8(const uint8_t *p, size_t n, size_t iters)
{
    size_t ok = 0;
    for (size_t k = 0; k < iters; k++) {
        ws_utf8_state st = WS_UTF8_ACCEPT;
        ok += ws_utf8_validate(&st, p, n) == n && ws_utf8_complete(st);
    }
    return ok;
}

__attribute__((noinline)) static void run_memcpy_iters(uint8_t *dst, const uint8_t *src,
                                                       size_t n, size_t iters)
{
    for (size_t k = 0; k < iters; k++) {
        memcpy(dst, src, n);
        sink += dst[k % n];
    }
}

static void bench_utf8(void)
{
    static const char *const styles[] = {"ascii", "latin", "cjk", "emoji"};
    size_t n = (size_t)1 << 20, iters = quick ? 16 : 64;
    uint8_t *p = malloc(n), *q = malloc(n);
    uint64_t rng = 3;
    if (!p || !q)
        exit(1);
    printf("\n== UTF-8 validation (ws_utf8_validate, 1 MiB buffer x %zu) vs memcpy of the same "
           "bytes\n", iters);
    printf("%-7s %10s %10s %7s\n", "text", "GB/s", "memcpy", "ratio");
    for (int s = 0; s < 4; s++) {
        make_text(p, n, s, &rng);
        double tv[MAXREPS], tc[MAXREPS], rr[MAXREPS];
        for (int r = 0; r < reps; r++) {
            double t0 = bu_now();
            if (run_utf8(p, n, iters) != iters) {
                fprintf(stderr, "utf8: generated text rejected\n");
                exit(1);
            }
            tv[r] = bu_now() - t0;
            t0 = bu_now();
            run_memcpy_iters(q, p, n, iters);
            tc[r] = bu_now() - t0;
            rr[r] = tc[r] / tv[r];
        }
        double gv = (double)(n * iters) / 1e9 / bu_median(tv, reps);
        double gc = (double)(n * iters) / 1e9 / bu_median(tc, reps);
        printf("%-7s %10.3f %10.3f %7.3f\n", styles[s], gv, gc, bu_median(rr, reps));
        char name[32];
        snprintf(name, sizeof name, "utf8_%s", styles[s]);
        bu_row(name, "GB/s", gv, "memcpy", gc, bu_median(rr, reps));
    }
    free(p);
    free(q);
}

/* ---- handshake ---- */

/* What Chrome sends (headers in its order, a typical cookie and user agent). */
static const char browser_request[] =
    "GET /chat?room=42 HTTP/1.1\r\n"
    "Host: example.com:8080\r\n"
    "Connection: Upgrade\r\n"
    "Pragma: no-cache\r\n"
    "Cache-Control: no-cache\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36\r\n"
    "Upgrade: websocket\r\n"
    "Origin: https://example.com\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Accept-Language: en-GB,en-US;q=0.9,en;q=0.8\r\n"
    "Cookie: session=4f1c2a9e8b7d6c5e; theme=dark; _ga=GA1.1.123456789.1700000000\r\n"
    "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    "\r\n";

static int fixed_random(void *user, void *buf, size_t n)
{
    (void)user;
    memset(buf, 0x5a, n);
    return 0;
}

__attribute__((noinline)) static int server_handshake_once(uint8_t *out, size_t cap)
{
    size_t used = 0;
    ws_handshake *hs = NULL;
    int ok = ws_handshake_new(&hs, WS_ROLE_SERVER, NULL) == WS_OK &&
             ws_handshake_feed(hs, (const uint8_t *)browser_request,
                               sizeof browser_request - 1, &used) == WS_HANDSHAKE_COMPLETE;
    int r = ok ? ws_handshake_accept(hs, NULL, NULL, NULL, out, cap, NULL) : -1;
    ws_handshake_free(hs);
    return r;
}

__attribute__((noinline)) static int accept_key_once(char out[29])
{
    static const char key[] = "x3JJHMbDL1EzLkh9GBhXDw==";
    ws__accept_key(key, sizeof key - 1, out);
    return out[0];
}

__attribute__((noinline)) static int client_handshake_once(const char *url, size_t url_len,
                                                           uint8_t *out, size_t cap,
                                                           const uint8_t *resp, size_t resp_len)
{
    size_t used = 0;
    ws_handshake *hs = NULL;
    int r = -1;
    if (ws_handshake_new(&hs, WS_ROLE_CLIENT, NULL) == WS_OK) {
        ws_handshake_set_random(hs, fixed_random, NULL);
        int k = ws_handshake_client_request(hs, url, url_len, NULL, 0, NULL, NULL, out, cap, NULL);
        if (k > 0)
            r = ws_handshake_feed(hs, resp, resp_len, &used);
    }
    ws_handshake_free(hs);
    return r;
}

static void bench_handshake(void)
{
    uint8_t out[1024];
    char acc[29];
    size_t iters = quick ? 20000 : 100000;
    static const char url[] = "ws://example.com:8080/chat?room=42";

    /* The client's expected response: accept key of the key the fixed hook gives. */
    uint8_t raw[16];
    char key[32], resp[256];
    memset(raw, 0x5a, sizeof raw);
    ws__base64_encode(raw, sizeof raw, key);
    ws__accept_key(key, strlen(key), acc);
    int rl = snprintf(resp, sizeof resp,
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", acc);
    if (server_handshake_once(out, sizeof out) <= 0 ||
        client_handshake_once(url, sizeof url - 1, out, sizeof out, (const uint8_t *)resp,
                              (size_t)rl) != WS_HANDSHAKE_COMPLETE) {
        fprintf(stderr, "handshake setup failed\n");
        exit(1);
    }
    double ts[MAXREPS], tk[MAXREPS], tc[MAXREPS], rr[MAXREPS];
    for (int r = 0; r < reps; r++) {
        double t0 = bu_now();
        for (size_t i = 0; i < iters; i++)
            sink += (uint64_t)server_handshake_once(out, sizeof out);
        ts[r] = bu_now() - t0;
        t0 = bu_now();
        for (size_t i = 0; i < iters; i++)
            sink += (uint64_t)accept_key_once(acc);
        tk[r] = bu_now() - t0;
        t0 = bu_now();
        for (size_t i = 0; i < iters; i++)
            sink += (uint64_t)client_handshake_once(url, sizeof url - 1, out, sizeof out,
                                                    (const uint8_t *)resp, (size_t)rl);
        tc[r] = bu_now() - t0;
        rr[r] = tk[r] / ts[r];
    }
    double hs = (double)iters / bu_median(ts, reps), hk = (double)iters / bu_median(tk, reps);
    double hc = (double)iters / bu_median(tc, reps);
    printf("\n== opening handshake (%zu-byte Chrome request; new + feed + accept + free)\n",
           sizeof browser_request - 1);
    printf("server: %.0f handshakes/s (%.2f us each); the accept key alone (SHA-1 + base64): "
           "%.0f/s; ratio %.3f\n", hs, 1e6 / hs, hk, bu_median(rr, reps));
    printf("client: %.0f/s build request + validate the 101 response (%.2f us each)\n", hc,
           1e6 / hc);
    bu_row("handshake", "handshakes/s", hs, "accept-key-only", hk, bu_median(rr, reps));
}

/* ---- memory ---- */

/* The wslay echo of `count` client frames through its event API; returns heap calls made. */
struct echo_src {
    struct src in;
};

static void ev_on_msg_echo(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_msg_recv_arg *a, void *user)
{
    struct src *s = user;
    s->msgs++;
    if (a->opcode == WSLAY_TEXT_FRAME || a->opcode == WSLAY_BINARY_FRAME) {
        struct wslay_event_msg m = {a->opcode, a->msg, a->msg_length};
        wslay_event_queue_msg(ctx, &m);
    }
}

static void bench_memory(void)
{
    struct bu_counts cnt;
    memset(&cnt, 0, sizeof cnt);
    ws_allocator ca = bu_counting_allocator(&cnt);

    printf("\n== memory\n");
    g_counting = 1; /* from here on every block is counted both ways, so live bytes balance */
    /* Core state: what one open connection costs before any traffic. */
    ws_conn *c = NULL, *cc = NULL;
    /* One configuration for all the connections below, as a server would keep one: it is
     * not per-connection memory, so it is taken out of the figures. */
    ws_config *ccfg = NULL;
    if (ws_config_new(&ccfg, &ca) != WS_OK)
        exit(1);
    int64_t cfg_bytes = cnt.live;
    uint64_t cfg_allocs = cnt.mallocs;
    if (ws_conn_new(&c, WS_ROLE_SERVER, WS_CONN_OPEN, ccfg) != WS_OK)
        exit(1);
    int64_t at_open = cnt.live - cfg_bytes;
    uint64_t allocs_open = cnt.mallocs - cfg_allocs;
    /* Idle: the OPEN event taken, then a quiet second -- the traffic state is given back. */
    ws_event oe;
    (void)ws_conn_tick(c, 1000);
    while (ws_conn_next_event(c, &oe, sizeof oe) > 0)
        ;
    (void)ws_conn_tick(c, 2500);
    int64_t idle = cnt.live - cfg_bytes;
    ws_conn_free(c);
    if (ws_conn_new(&cc, WS_ROLE_SERVER, 0, ccfg) != WS_OK)
        exit(1);
    int64_t at_new = cnt.live - cfg_bytes;
    ws_conn_free(cc);

    /* wslay: heap of a server event context, counted by the malloc interposer. */
    int64_t before = g_heap_live;
    struct wslay_event_callbacks ecb = {ev_recv, ev_send_discard, NULL, NULL, NULL, NULL,
                                        ev_on_msg_echo};
    struct src es = {NULL, 0, 0, 0, 0};
    wslay_event_context_ptr ectx;
    if (wslay_event_context_server_init(&ectx, &ecb, &es) != 0)
        exit(1);
    int64_t wslay_ctx = g_heap_live - before;

    printf("core state: ws_conn_sizeof() = %zu bytes; heap of an idle open connection (after "
           "the quiet second) = %lld bytes; at ws_conn_new(WS_CONN_OPEN), with the traffic "
           "state its OPEN event needs = %lld bytes in %llu allocation(s) (%lld before a "
           "handshake); wslay server event context: %lld bytes of heap (malloc_usable_size)\n",
           ws_conn_sizeof(), (long long)idle, (long long)at_open,
           (unsigned long long)allocs_open, (long long)at_new, (long long)wslay_ctx);
    bu_row("bytes_per_conn", "bytes", (double)idle, "wslay-event-ctx", (double)wslay_ctx, -1);
    bu_row("bytes_per_active_conn", "bytes", (double)at_open, "wslay-event-ctx",
           (double)wslay_ctx, -1);

    /* Heap allocations per echoed message: a server connection echoes client frames in the
     * echo example's way (feed, next_event, send (copy), output, ack). After a warm-up
     * round, count calls to the hooks (libws) and to malloc & co. (wslay). */
    printf("heap allocations per echoed unfragmented binary message (after one warm-up "
           "round):\n");
    double lib_worst = 0, ws_worst = 0;
    static const size_t echo_sizes[] = {16, 1024, 65536};
    for (int k = 0; k < 3; k++) {
        size_t size = echo_sizes[k];
        struct wire w;
        make_wire(&w, size, 2, quick ? (size_t)1 << 20 : (size_t)4 << 20, 5 + (uint64_t)k);
        ws_conn *s = NULL;
        ws_event ev;
        if (ws_conn_new(&s, WS_ROLE_SERVER, WS_CONN_OPEN, ccfg) != WS_OK)
            exit(1);
        uint64_t a0 = 0, m = 0;
        for (int round = 0; round < 2; round++) {
            if (round == 1)
                a0 = cnt.mallocs + cnt.reallocs;
            memcpy(w.work, w.bytes, w.len);
            size_t pos = 0;
            while (pos < w.len) {
                size_t used = 0;
                ws_conn_feed_inplace(s, w.work + pos, w.len - pos, &used);
                pos += used;
                while (ws_conn_next_event(s, &ev, sizeof ev) > 0) {
                    if (ev.type != WS_EV_MESSAGE)
                        continue;
                    m += round;
                    ws_conn_send(s, ev.opcode, ev.data, ev.len, 0);
                    ws_iovec iov[4];
                    int n;
                    while ((n = ws_conn_output(s, iov, 4)) > 0) {
                        size_t b = 0;
                        for (int j = 0; j < n; j++)
                            b += iov[j].len;
                        ws_conn_output_ack(s, b);
                    }
                }
            }
        }
        uint64_t la = cnt.mallocs + cnt.reallocs - a0;
        ws_conn_free(s);

        /* wslay, same frames, a fresh context. */
        wslay_event_context_ptr wctx;
        if (wslay_event_context_server_init(&wctx, &ecb, &es) != 0)
            exit(1);
        wslay_event_config_set_max_recv_msg_length(wctx, (uint64_t)64 << 20);
        es.p = w.bytes;
        es.len = w.len;
        es.pos = 0;
        wslay_event_recv(wctx);
        wslay_event_send(wctx); /* warm-up round */
        uint64_t h0 = g_heap_calls;
        es.pos = 0;
        es.msgs = 0;
        wslay_event_recv(wctx);
        wslay_event_send(wctx);
        uint64_t wa = g_heap_calls - h0;
        wslay_event_context_free(wctx);
        printf("  %6zu B: libws %.3f (%llu in %llu messages), wslay %.3f (%llu in %llu)\n", size,
               (double)la / (double)m, (unsigned long long)la, (unsigned long long)m,
               (double)wa / (double)es.msgs, (unsigned long long)wa,
               (unsigned long long)es.msgs);
        if ((double)la / (double)m > lib_worst)
            lib_worst = (double)la / (double)m;
        if ((double)wa / (double)es.msgs > ws_worst)
            ws_worst = (double)wa / (double)es.msgs;
        free_wire(&w);
    }
    wslay_event_context_free(ectx);
    printf("  worst size: libws %.3f, wslay %.3f allocations per message (the allocs_per_msg "
           "row)\n", lib_worst, ws_worst);
    bu_row("allocs_per_msg", "allocs/msg", lib_worst, "wslay-event", ws_worst, -1);
}

/* ---- callgrind workload ---- */

/* libws encode: `count` messages of `size` bytes sent by a server into its output queue, the
 * queue written (acknowledged) every 64 messages as a socket would. Returns messages sent. */
__attribute__((noinline)) static uint64_t run_libws_send(ws_conn *c, const uint8_t *payload,
                                                        size_t size, size_t count)
{
    uint64_t sent = 0;
    for (size_t i = 0; i < count; i++) {
        if (ws_conn_send(c, WS_OP_BINARY, payload, size, 0) == WS_OK)
            sent++;
        /* (large messages: also whenever a MiB waits, to stay below the high-water mark) */
        if ((i & 63) == 63 || i + 1 == count ||
            (size >= 4096 && ws_conn_buffered_amount(c) > ((size_t)1 << 20))) {
            ws_iovec iov[8];
            int k;
            while ((k = ws_conn_output(c, iov, 8)) > 0) {
                size_t b = 0;
                for (int j = 0; j < k; j++)
                    b += iov[j].len;
                ws_conn_output_ack(c, b);
            }
        }
    }
    return sent;
}

static void callgrind_workload(size_t size)
{
    struct wslay_event_callbacks ecb = {ev_recv, ev_send_discard, NULL, NULL, NULL, NULL,
                                        ev_on_msg};
    struct wslay_frame_callbacks fcb = {fr_send_discard, fr_recv, fr_genmask};
    struct wire w;
    /* A fixed number of frames whatever the size: 20000 (16 B) ... */
    size_t frames = size <= 1024 ? 20000 : 64;
    make_wire(&w, size, 0, frames * (size + ws_frame_header_size(size, 1)), 42);
    ws_conn *c = new_server_conn(NULL);
    ws_frame_decoder *d = new_server_decoder();
    struct src es = {w.bytes, w.len, 0, 0, 0}, fs = es;
    wslay_event_context_ptr ectx;
    wslay_frame_context_ptr fctx;
    if (wslay_event_context_server_init(&ectx, &ecb, &es) != 0 ||
        wslay_frame_context_init(&fctx, &fcb, &fs) != 0)
        exit(1);
    wslay_event_config_set_max_recv_msg_length(ectx, (uint64_t)64 << 20);
    memcpy(w.work, w.bytes, w.len);
    check_count("ws_conn", run_libws_conn(c, w.work, w.len), w.frames);
    memcpy(w.work, w.bytes, w.len);
    check_count("ws_frame_decoder", run_libws_frame(d, w.work, w.len), w.frames);
    memcpy(w.work, w.bytes, w.len);
    check_count("ws_frame_decoder 1", run_libws_frame1(d, w.work, w.len), w.frames);
    check_count("wslay_event", run_wslay_event(ectx, &es), w.frames);
    check_count("wslay_frame", run_wslay_frame(fctx, &fs), w.frames);
    {
        ws_conn *s = new_server_conn(NULL);
        check_count("ws_conn send", run_libws_send(s, w.bytes, size, w.frames), w.frames);
        ws_conn_free(s);
    }
    printf("FRAMES %zu\nWIRE %zu\n", w.frames, w.len);
    wslay_event_context_free(ectx);
    wslay_frame_context_free(fctx);
    ws_frame_decoder_free(d);
    ws_conn_free(c);
    free_wire(&w);
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick")) {
            quick = 1;
        } else if (!strcmp(argv[i], "--only") && i + 1 < argc) {
            only = argv[++i];
        } else if (!strcmp(argv[i], "--callgrind") && i + 1 < argc) {
            callgrind_workload((size_t)strtoull(argv[++i], NULL, 10));
            return 0;
        } else {
            fprintf(stderr, "usage: %s [--quick] [--only decode|encode|utf8|handshake|memory] "
                            "| --callgrind SIZE\n", argv[0]);
            return 2;
        }
    }
    if (quick) {
        reps = 5;
        decode_bytes = (size_t)4 << 20;
    }
    if (!only || !strcmp(only, "decode"))
        bench_decode();
    if (!only || !strcmp(only, "encode"))
        bench_encode();
    if (!only || !strcmp(only, "utf8"))
        bench_utf8();
    if (!only || !strcmp(only, "handshake"))
        bench_handshake();
    if (!only || !strcmp(only, "memory"))
        bench_memory();
    return 0;
}
