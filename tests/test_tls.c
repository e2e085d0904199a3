/*
 * wss:// in the example programs (examples/common/tls.c), end to end over loopback:
 *   - echo-epoll and echo-poll with --tls-cert/--tls-key against a client made here of a
 *     ws_conn over OpenSSL memory BIOs (the layering the README describes), the server's
 *     certificate checked against a test CA and the address: text, binary, 1 MiB, fragments,
 *     ping, close 1000 -- and the server's close_notify after the closing handshake;
 *   - a message whose last records come in one read with a record begun before: no plaintext
 *     stays behind in the server's TLS layer, where no readiness would announce it;
 *   - garbage: a plain HTTP upgrade request to the TLS port gets no plaintext answer (nothing,
 *     or a TLS alert), and a TLS record corrupted after the handshake makes the server stop
 *     with nothing but TLS records on the wire; the server serves the next client either way;
 *   - wsc: wss:// with --ca works; a certificate for another name, or one from a CA it was not
 *     given, is refused with the reason on stderr and exit status 1; --insecure says so.
 * The test CA and certificates are made at run time with the openssl command (SKIPPED without
 * it; in a build without TLS, only that the flags say so). Every wait is bounded.
 * EX_DIR names the folder with the built examples (default build/examples).
 */
#include "ex_util.h"

#ifdef EX_HAVE_TLS

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/ioctl.h>
#ifdef __linux__
#include <linux/sockios.h> /* SIOCOUTQ */
#endif

static char dir[200];

static void path(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", dir, name);
}

/* A CA, a server certificate for localhost and 127.0.0.1, one for another name (same CA) and
 * a self-signed one, all P-256, valid two days. */
static int make_certs(void **state)
{
    (void)state;
    char cmd[4096];
    snprintf(dir, sizeof dir, "%s/libws-tls.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(dir))
        return -1;
    snprintf(cmd, sizeof cmd,
             "cd '%s' && exec >gen.log 2>&1 && set -e && "
             "k='-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes' && "
             "openssl req -x509 $k -days 2 -subj '/CN=libws test CA' -keyout ca.key -out ca.pem && "
             "for n in good:DNS:localhost,IP:127.0.0.1 wrong:DNS:wrong.example; do "
             "  f=${n%%%%:*}; san=${n#*:}; "
             "  openssl req $k -subj \"/CN=$f\" -keyout $f.key -out $f.csr && "
             "  printf 'subjectAltName=%%s\\nbasicConstraints=CA:FALSE\\n"
             "extendedKeyUsage=serverAuth\\n' $san >$f.ext && "
             "  openssl x509 -req -in $f.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 "
             "    -extfile $f.ext -out $f.pem; "
             "done && "
             "openssl req -x509 $k -days 2 -subj '/CN=127.0.0.1' "
             "  -addext subjectAltName=IP:127.0.0.1 -keyout self.key -out self.pem",
             dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int remove_certs(void **state)
{
    (void)state;
    char cmd[512];
    if (dir[0]) {
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            return -1;
    }
    return 0;
}

/* Start name with --tls-cert/--tls-key of the certificate called cert. */
static void start_tls_server(ex_server *s, const char *name, const char *cert)
{
    static char c[300], k[300];
    char base[32];
    snprintf(base, sizeof base, "%s.pem", cert);
    path(c, sizeof c, base);
    snprintf(base, sizeof base, "%s.key", cert);
    path(k, sizeof k, base);
    const char *extra[] = {"--tls-cert", c, "--tls-key", k, NULL};
    ex_start(s, name, extra, 0);
}

/* ---- a ws_conn over OpenSSL memory BIOs over a socket ---- */

typedef struct tclient {
    int fd;
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *rbio, *wbio;
    ws_conn *c;
    uint8_t *msg;
    size_t msg_len;
    uint32_t opcode;
    uint16_t close_code;
    int opened, closed, pongs, eof, close_notify, tls_error;
} tclient;

static void on_events(tclient *t)
{
    ws_event ev;
    while (ws_conn_next_event(t->c, &ev, sizeof ev) > 0) {
        if (ev.type == WS_EV_OPEN) {
            t->opened = 1;
        } else if (ev.type == WS_EV_MESSAGE) {
            free(t->msg);
            t->msg = malloc(ev.len ? ev.len : 1);
            assert_non_null(t->msg);
            memcpy(t->msg, ev.data, ev.len);
            t->msg_len = ev.len;
            t->opcode = ev.opcode;
        } else if (ev.type == WS_EV_PONG) {
            t->pongs++;
        } else if (ev.type == WS_EV_CLOSE) {
            t->closed = 1;
            t->close_code = ev.close_code;
        }
    }
}

/* Everything in the write BIO onto the socket (blocking, at most 5 s per write). */
static void bio_to_socket(tclient *t)
{
    char *p;
    long n;
    while ((n = BIO_get_mem_data(t->wbio, &p)) > 0) {
        struct pollfd pf = {t->fd, POLLOUT, 0};
        assert_int_equal(poll(&pf, 1, 5000), 1);
        ssize_t w = write(t->fd, p, (size_t)n);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        assert_true(w > 0);
        char sink[4096];
        for (size_t left = (size_t)w; left > 0;) {
            int k = BIO_read(t->wbio, sink, left < sizeof sink ? (int)left : (int)sizeof sink);
            assert_true(k > 0);
            left -= (size_t)k;
        }
    }
}

/* ws_conn_output -> SSL_write -> write BIO -> socket, as far as the handshake allows. */
static void pump_out(tclient *t)
{
    ws_iovec iov[8];
    int k;
    while (!t->tls_error && (k = ws_conn_output(t->c, iov, 8)) > 0) {
        int r = SSL_write(t->ssl, iov[0].base, (int)iov[0].len);
        if (r <= 0) {
            int e = SSL_get_error(t->ssl, r);
            if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                t->tls_error = 1;
            break;
        }
        ws_conn_output_ack(t->c, (size_t)r);
        bio_to_socket(t);
    }
    bio_to_socket(t);
}

/* socket -> read BIO -> SSL_read -> ws_conn_feed; one read (waiting at most wait_ms). */
static void pump_in(tclient *t, int wait_ms)
{
    static uint8_t buf[1 << 16];
    struct pollfd pf = {t->fd, POLLIN, 0};
    if (!t->eof && poll(&pf, 1, wait_ms) == 1) {
        ssize_t n = read(t->fd, buf, sizeof buf);
        if (n > 0)
            assert_int_equal(BIO_write(t->rbio, buf, (int)n), (int)n);
        else if (n == 0 || errno != EINTR) {
            t->eof = 1;
            BIO_set_mem_eof_return(t->rbio, 0);
        }
    }
    while (!t->tls_error && !t->close_notify) {
        int r = SSL_read(t->ssl, buf, sizeof buf);
        if (r > 0) {
            for (size_t off = 0; off < (size_t)r;) {
                size_t taken = 0;
                assert_int_equal(ws_conn_feed(t->c, buf + off, (size_t)r - off, &taken), WS_OK);
                off += taken;
                on_events(t);
            }
            continue;
        }
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_ZERO_RETURN)
            t->close_notify = 1;
        else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
            t->tls_error = 1;
        ERR_clear_error();
        break;
    }
    bio_to_socket(t); /* handshake messages */
    if ((t->eof || t->close_notify || t->tls_error) && ws_conn_state(t->c) != WS_STATE_CLOSED) {
        ws_conn_feed_eof(t->c);
        on_events(t);
    }
}

static int pump(tclient *t, int (*cond)(const tclient *), int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    while (!cond(t) && now_ms() < end && !t->tls_error) {
        pump_out(t);
        pump_in(t, 50);
        if (t->eof && !cond(t))
            break;
    }
    return cond(t);
}

static int is_open(const tclient *t) { return t->opened || t->closed; }
static int is_closed(const tclient *t) { return t->closed; }
static int got_message(const tclient *t) { return t->msg != NULL || t->closed; }
static int got_pong(const tclient *t) { return t->pongs > 0 || t->closed; }
static int at_end(const tclient *t) { return t->eof || t->close_notify; }

/* Connect, verify the server's certificate against the test CA and 127.0.0.1, open. */
static void tclient_open(tclient *t, int port)
{
    char ca[300], url[64];
    memset(t, 0, sizeof *t);
    path(ca, sizeof ca, "ca.pem");
    t->fd = ex_dial(port, 0, 1);
    assert_non_null(t->ctx = SSL_CTX_new(TLS_client_method()));
    SSL_CTX_set_min_proto_version(t->ctx, TLS1_2_VERSION);
    assert_int_equal(SSL_CTX_load_verify_locations(t->ctx, ca, NULL), 1);
    SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
    assert_non_null(t->ssl = SSL_new(t->ctx));
    assert_int_equal(X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), "127.0.0.1"), 1);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    assert_true(t->rbio && t->wbio);
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    SSL_set_connect_state(t->ssl);
    assert_int_equal(ws_conn_new(&t->c, WS_ROLE_CLIENT, 0, NULL), WS_OK);
    snprintf(url, sizeof url, "wss://127.0.0.1:%d/echo", port);
    assert_int_equal(ws_conn_client_start(t->c, url, NULL, 0, NULL, NULL), WS_OK);
    assert_true(pump(t, is_open, 5000));
    assert_false(t->tls_error);
    assert_true(t->opened);
    assert_int_equal(SSL_get_verify_result(t->ssl), X509_V_OK);
}

static void tclient_free(tclient *t)
{
    close(t->fd);
    ws_conn_free(t->c);
    SSL_free(t->ssl);
    SSL_CTX_free(t->ctx);
    free(t->msg);
    ERR_clear_error();
}

static void expect_echo(tclient *t, uint32_t op, const uint8_t *p, size_t n)
{
    free(t->msg);
    t->msg = NULL;
    assert_int_equal(ws_conn_send(t->c, op, p, n, 0), WS_OK);
    assert_true(pump(t, got_message, 10000));
    assert_false(t->closed);
    assert_int_equal(t->opcode, op);
    assert_int_equal(t->msg_len, n);
    if (n)
        assert_memory_equal(t->msg, p, n);
}

/* Close: the server echoes the code, then says close_notify and half-closes; then it stops
 * cleanly. */
static void end_session(tclient *t, ex_server *s)
{
    assert_int_equal(ws_conn_close(t->c, 1000, "done", 4), WS_OK);
    assert_true(pump(t, is_closed, 5000));
    assert_int_equal(t->close_code, 1000);
    assert_true(pump(t, at_end, 5000));
    assert_true(t->close_notify);
    assert_false(t->tls_error);
    tclient_free(t);
    assert_int_equal(ex_stop(s), 0);
}

static void echo_session(const char *name)
{
    static uint8_t big[1 << 20];
    ex_server s;
    tclient t;

    start_tls_server(&s, name, "good");
    tclient_open(&t, s.port);
    print_message("info: %s over %s (%s)\n", name, SSL_get_version(t.ssl),
                  SSL_get_cipher_name(t.ssl));
    expect_echo(&t, WS_OP_TEXT, (const uint8_t *)"hello over TLS", 14);
    expect_echo(&t, WS_OP_BINARY, (const uint8_t *)"\x00\x01\xff", 3);
    test_fill(big, sizeof big, 5);
    expect_echo(&t, WS_OP_BINARY, big, sizeof big);
    free(t.msg);
    t.msg = NULL;
    assert_int_equal(ws_conn_send_fragment(t.c, WS_OP_TEXT, "frag-", 5, 0, 0), WS_OK);
    assert_int_equal(ws_conn_ping(t.c, "p", 1), WS_OK);
    assert_int_equal(ws_conn_send_fragment(t.c, WS_OP_TEXT, "ment", 4, 1, 0), WS_OK);
    assert_true(pump(&t, got_message, 5000));
    assert_int_equal(t.msg_len, 9);
    assert_memory_equal(t.msg, "frag-ment", 9);
    assert_true(pump(&t, got_pong, 5000));
    end_session(&t, &s);
}

static void test_tls_echo_epoll(void **state)
{
    (void)state;
    echo_session("echo-epoll");
}

static void test_tls_echo_poll(void **state)
{
    (void)state;
    echo_session("echo-poll");
}

/*
 * A message whose last records reach the server in one read together with more plaintext than
 * the read's buffer holds. The server read the first part before: OpenSSL keeps the record
 * that part ends inside (moved out of the read BIO into its own buffer, where the read size
 * does not see it). Then the rest arrives in one segment: the last records of the message,
 * whose plaintext with that record's is more than the 64 KiB the server reads into. Whatever
 * the server leaves decrypted or undecrypted in its TLS layer, no socket readiness will ever
 * announce: the echo never comes. The records are those of one SSL_write of the whole frame
 * (64 full ones and a short one), split half-way through the record from which the
 * plaintext to the end first exceeds 64 KiB.
 */
static void tail_session(const char *name)
{
    static uint8_t big[1 << 20];
    ex_server s;
    tclient t;
    ws_iovec iov[8];
    int k;

    start_tls_server(&s, name, "good");
    tclient_open(&t, s.port);
    assert_int_equal(SSL_version(t.ssl), TLS1_3_VERSION); /* (the record sizes below) */
    test_fill(big, sizeof big, 9);
    assert_int_equal(ws_conn_send(t.c, WS_OP_BINARY, big, sizeof big, 0), WS_OK);
    uint8_t *frame = malloc(sizeof big + 64);
    size_t flen = 0;
    assert_non_null(frame);
    while ((k = ws_conn_output(t.c, iov, 8)) > 0) {
        assert_true(flen + iov[0].len <= sizeof big + 64);
        memcpy(frame + flen, iov[0].base, iov[0].len);
        flen += iov[0].len;
        assert_int_equal(ws_conn_output_ack(t.c, iov[0].len), WS_OK);
    }
    assert_int_equal(flen, sizeof big + 14); /* a client's 1 MiB frame: 2 + 8 + 4 bytes */
    assert_int_equal(SSL_write(t.ssl, frame, (int)flen), (int)flen);
    free(frame);

    char *p;
    long total = BIO_get_mem_data(t.wbio, &p);
    assert_true(total > (long)flen);
    uint8_t *wire = malloc((size_t)total);
    assert_non_null(wire);
    assert_int_equal(BIO_read(t.wbio, wire, (int)total), (int)total);
    /* Walk the records; from the last back, find where the plaintext to the end first
     * passes 64 KiB (TLS 1.3: a record's plaintext is its length less the content type byte
     * and the 16-byte tag). */
    size_t starts[80] = {0}, nrec = 0, T = (size_t)total;
    for (size_t o = 0; o < T; o += 5 + ((size_t)wire[o + 3] << 8 | wire[o + 4])) {
        assert_true(nrec < 80 && o + 5 <= T);
        assert_int_equal(wire[o], 23); /* application data */
        starts[nrec++] = o;
    }
    assert_int_equal(nrec, 65);
    size_t plain = 0, i = nrec;
    while (plain <= 65536 && i > 0) {
        i--;
        size_t end = i + 1 < nrec ? starts[i + 1] : T;
        plain += end - starts[i] - 5 - 17;
    }
    size_t rec_len = (i + 1 < nrec ? starts[i + 1] : T) - starts[i];
    size_t split = starts[i] + rec_len / 2, rest = T - split;
    assert_true(plain > 65536 && rest < 60000); /* one segment on loopback, one read */

    struct pollfd pf = {t.fd, POLLOUT, 0};
    for (size_t off = 0; off < split;) {
        assert_int_equal(poll(&pf, 1, 5000), 1);
        ssize_t w = write(t.fd, wire + off, split - off);
        if (w < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        assert_true(w > 0);
        off += (size_t)w;
    }
    /* The server takes all of it (its kernel has, then it reads), then the rest comes. */
#ifdef SIOCOUTQ
    int unsent = 1;
    for (int tries = 0; tries < 500 && unsent > 0; tries++) {
        assert_int_equal(ioctl(t.fd, SIOCOUTQ, &unsent), 0);
        if (unsent > 0)
            usleep(10000);
    }
#endif
    usleep(300000);
    assert_int_equal(poll(&pf, 1, 5000), 1);
    assert_int_equal(write(t.fd, wire + split, rest), (ssize_t)rest);
    free(wire);
    print_message("info: %s: %zu records, the last %zu bytes (%zu of plaintext from record %zu "
                  "on) in one write\n",
                  name, nrec, rest, plain, i);

    assert_true(pump(&t, got_message, 10000));
    assert_false(t.closed);
    assert_int_equal(t.msg_len, sizeof big);
    assert_memory_equal(t.msg, big, sizeof big);
    end_session(&t, &s);
}

static void test_tls_record_tail_epoll(void **state)
{
    (void)state;
    tail_session("echo-epoll");
}

static void test_tls_record_tail_poll(void **state)
{
    (void)state;
    tail_session("echo-poll");
}

/* Read what the server sends until its end of file (at most 5 s); the byte count. */
static size_t read_to_eof(int fd, uint8_t *buf, size_t cap)
{
    size_t n = 0;
    uint64_t end = now_ms() + 5000;
    while (now_ms() < end) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 100) != 1)
            continue;
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (r <= 0)
            return n;
        n += (size_t)r;
        if (n == cap)
            break;
    }
    fail_msg("the server did not close within 5 s");
    return n;
}

/* Nothing but whole TLS records (alerts, application data), TLS 1.2 record version. */
static void assert_only_records(const uint8_t *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        assert_true(n - off >= 5);
        assert_true(p[off] == 0x15 || p[off] == 0x17);
        assert_int_equal(p[off + 1], 3);
        size_t len = (size_t)p[off + 3] << 8 | p[off + 4];
        assert_true(off + 5 + len <= n);
        off += 5 + len;
    }
}

static void still_serves(int port)
{
    tclient t;
    tclient_open(&t, port);
    expect_echo(&t, WS_OP_TEXT, (const uint8_t *)"still here", 10);
    tclient_free(&t);
}

/* A plaintext upgrade request to the TLS port: the handshake fails, the connection is closed,
 * and what comes back is nothing or a TLS alert -- never an HTTP answer. */
static void test_tls_plaintext_refused(void **state)
{
    (void)state;
    static const char req[] = "GET /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                              "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                              "Sec-WebSocket-Version: 13\r\n\r\n";
    uint8_t buf[4096];
    ex_server s;

    start_tls_server(&s, "echo-epoll", "good");
    int fd = ex_dial(s.port, 0, 1);
    ex_write_all(fd, (const uint8_t *)req, sizeof req - 1, 5000);
    size_t n = read_to_eof(fd, buf, sizeof buf);
    print_message("info: plaintext request to the TLS port: %zu bytes back%s\n", n,
                  n && buf[0] == 0x15 ? " (a TLS alert)" : "");
    assert_null(memmem(buf, n, "HTTP", 4));
    assert_only_records(buf, n);
    close(fd);
    still_serves(s.port);
    assert_int_equal(ex_stop(&s), 0);
}

/* After the handshake, a corrupted record: the server fails the connection and writes nothing
 * but TLS records (at most its alert) before its end of file. */
static void test_tls_bad_record(void **state)
{
    (void)state;
    static const uint8_t junk[] = {0x17, 0x03, 0x03, 0x00, 0x20, 'n', 'o', 't', ' ', 'a', ' ',
                                   'r', 'e', 'a', 'l', ' ', 'r', 'e', 'c', 'o', 'r', 'd', ',',
                                   ' ', 'j', 'u', 's', 't', ' ', 'j', 'u', 'n', 'k', '!', '!',
                                   '!', '!'};
    uint8_t buf[8192];
    ex_server s;
    tclient t;

    start_tls_server(&s, "echo-poll", "good");
    tclient_open(&t, s.port);
    expect_echo(&t, WS_OP_TEXT, (const uint8_t *)"before", 6);
    ex_write_all(t.fd, junk, sizeof junk, 5000);
    size_t n = read_to_eof(t.fd, buf, sizeof buf);
    print_message("info: corrupted record: %zu bytes back before the end of file\n", n);
    assert_null(memmem(buf, n, "HTTP", 4));
    assert_only_records(buf, n);
    tclient_free(&t);
    still_serves(s.port);
    assert_int_equal(ex_stop(&s), 0);
}

/* ---- wsc ---- */

/* Run wsc with args and input on stdin (at most 10 s); its exit status, stdout+stderr in out. */
static int run_wsc(const char *args, const char *input, char *out, size_t cap)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "printf '%s' | timeout -k 2 10 %s/wsc %s 2>&1", input, ex_dir(),
             args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static void test_wsc_tls(void **state)
{
    (void)state;
    char args[1024], out[4096], ca[300];
    ex_server good, wrong, self;

    path(ca, sizeof ca, "ca.pem");
    start_tls_server(&good, "echo-epoll", "good");
    start_tls_server(&wrong, "echo-epoll", "wrong");
    start_tls_server(&self, "echo-poll", "self");

    /* The right certificate, the test CA: echoed, closed 1000, exit 0. */
    snprintf(args, sizeof args, "--ca %s wss://127.0.0.1:%d/", ca, good.port);
    assert_int_equal(run_wsc(args, "line one\\nline two\\n", out, sizeof out), 0);
    assert_non_null(strstr(out, "line one\nline two\n"));
    assert_non_null(strstr(out, "closed 1000"));
    snprintf(args, sizeof args, "--ca %s wss://localhost:%d/", ca, good.port);
    assert_int_equal(run_wsc(args, "by name\\n", out, sizeof out), 0);
    assert_non_null(strstr(out, "by name\n"));

    /* A certificate for another name, from the CA it trusts: refused, with the reason. */
    snprintf(args, sizeof args, "--ca %s wss://127.0.0.1:%d/", ca, wrong.port);
    assert_int_equal(run_wsc(args, "x\\n", out, sizeof out), 1);
    print_message("info: wrong name: %s", out);
    assert_non_null(strstr(out, "certificate verify failed"));
    assert_true(strstr(out, "mismatch") != NULL);
    assert_null(strstr(out, "closed 1000"));

    /* Self-signed, and no --ca for it: refused (the system's CAs do not know it). */
    snprintf(args, sizeof args, "wss://127.0.0.1:%d/", self.port);
    assert_int_equal(run_wsc(args, "x\\n", out, sizeof out), 1);
    print_message("info: self-signed: %s", out);
    assert_non_null(strstr(out, "certificate verify failed"));
    /* Nor with the test CA, which did not sign it. */
    snprintf(args, sizeof args, "--ca %s wss://127.0.0.1:%d/", ca, self.port);
    assert_int_equal(run_wsc(args, "x\\n", out, sizeof out), 1);
    assert_non_null(strstr(out, "certificate verify failed"));

    /* --insecure: accepted, and said on stderr. */
    snprintf(args, sizeof args, "--insecure wss://127.0.0.1:%d/", wrong.port);
    assert_int_equal(run_wsc(args, "anyway\\n", out, sizeof out), 0);
    assert_non_null(strstr(out, "NOT verified"));
    assert_non_null(strstr(out, "anyway\n"));

    assert_int_equal(ex_stop(&good), 0);
    assert_int_equal(ex_stop(&wrong), 0);
    assert_int_equal(ex_stop(&self), 0);
}

/* Usage errors: both TLS flags or neither; a loop that does its own I/O refuses them. */
static void test_tls_flags(void **state)
{
    (void)state;
    char cmd[1024], c[300];
    path(c, sizeof c, "good.pem");
    snprintf(cmd, sizeof cmd, "%s/echo-epoll --port 0 --tls-cert %s >/dev/null 2>&1", ex_dir(), c);
    int st = system(cmd);
    assert_int_equal(WEXITSTATUS(st), 2);
    snprintf(cmd, sizeof cmd, "%s/echo-epoll --port 0 --tls-cert %s --tls-key %s >/dev/null 2>&1",
             ex_dir(), c, c); /* a certificate is no key */
    st = system(cmd);
    assert_int_equal(WEXITSTATUS(st), 1);
}

static void skip_all(void **state)
{
    (void)state;
    skip();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_echo_epoll),
        cmocka_unit_test(test_tls_echo_poll),
        cmocka_unit_test(test_tls_record_tail_epoll),
        cmocka_unit_test(test_tls_record_tail_poll),
        cmocka_unit_test(test_tls_plaintext_refused),
        cmocka_unit_test(test_tls_bad_record),
        cmocka_unit_test(test_wsc_tls),
        cmocka_unit_test(test_tls_flags),
    };
    signal(SIGPIPE, SIG_IGN);
    if (system("openssl version >/dev/null 2>&1") != 0) {
        print_message("info: no openssl command: the TLS tests are skipped\n");
        const struct CMUnitTest none[] = {cmocka_unit_test(skip_all)};
        return cmocka_run_group_tests(none, NULL, NULL);
    }
    return cmocka_run_group_tests(tests, make_certs, remove_certs);
}

#else /* built without TLS */

static void test_tls_not_built(void **state)
{
    (void)state;
    char cmd[512];
    /* The flags say so, clearly, and fail. */
    snprintf(cmd, sizeof cmd,
             "%s/echo-epoll --port 0 --tls-cert x --tls-key y 2>&1 | grep -q 'built without TLS'",
             ex_dir());
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s/wsc wss://127.0.0.1:1/ 2>&1 </dev/null | grep -q 'built without TLS'",
             ex_dir());
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_tls_not_built)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#endif
