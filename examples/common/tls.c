/*
 * TLS for the example programs: OpenSSL through two memory BIOs, between the socket and the
 * ws_conn (see tls.h). Without EX_HAVE_TLS (make TLS=0) only the stubs at the end are built.
 */
#include "tls.h"

#include "posix.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef EX_HAVE_TLS

#include <arpa/inet.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/uio.h>
#include <unistd.h>

#define ALPN_MAX 8

struct ex_tls_ctx {
    SSL_CTX *ctx;
    int client;
    int verify; /* client: check the server's chain and name */
    const char *alpn[ALPN_MAX]; /* server: what it speaks, in order of preference */
    int nalpn;
};

struct ex_tls {
    SSL *ssl;
    BIO *rbio, *wbio;   /* owned by ssl */
    int fd;
    int verify;
    int sock_eof;       /* read() saw the end of file */
    int eof;            /* the stream ended: close_notify, or end of file after the handshake */
    int failed;         /* a TLS failure: nothing but its alert is ever written */
    int close_sent;     /* close_notify queued */
    char alpn[256];     /* the protocol ALPN chose, "" for none */
    uint64_t close_deadline;
    char host[256];
    char error[512];
};

int ex_tls_available(void)
{
    return 1;
}

/* OpenSSL's reason for the failure as text (a system error, such as a missing file, by its
 * errno text), and the queue emptied (it is per thread: a stale entry would make the next
 * connection's SSL_get_error() lie). */
static void openssl_error(char *err, size_t errlen, const char *what)
{
    const char *reason = NULL;
    unsigned long e;
    while ((e = ERR_get_error()) != 0) {
        if (ERR_GET_LIB(e) == ERR_LIB_SYS) {
            reason = strerror(ERR_GET_REASON(e));
            break;
        }
        reason = ERR_reason_error_string(e);
    }
    snprintf(err, errlen, "%s%s%s", what, reason ? ": " : "", reason ? reason : "");
    ERR_clear_error();
}

/* What every context shares: TLS 1.2 or newer, no renegotiation, small idle buffers, and
 * SSL_write allowed to take part of a buffer and to be retried with a moved one (the ws_conn's
 * output may have grown between calls). */
static SSL_CTX *new_ctx(const SSL_METHOD *m)
{
    SSL_CTX *ctx = SSL_CTX_new(m);
    if (!ctx)
        return NULL;
    if (!SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                              SSL_MODE_RELEASE_BUFFERS);
    return ctx;
}

struct ex_tls_ctx *ex_tls_server_ctx(const char *cert_file, const char *key_file, char *err,
                                     size_t errlen)
{
    struct ex_tls_ctx *x = calloc(1, sizeof *x);
    if (!x || !(x->ctx = new_ctx(TLS_server_method()))) {
        snprintf(err, errlen, "TLS: out of memory");
        free(x);
        return NULL;
    }
    char what[512];
    if (SSL_CTX_use_certificate_chain_file(x->ctx, cert_file) != 1) {
        snprintf(what, sizeof what, "TLS: cannot use the certificate %s (--tls-cert)", cert_file);
        openssl_error(err, errlen, what);
    } else if (SSL_CTX_use_PrivateKey_file(x->ctx, key_file, SSL_FILETYPE_PEM) != 1) {
        snprintf(what, sizeof what, "TLS: cannot use the private key %s (--tls-key)", key_file);
        openssl_error(err, errlen, what);
    } else if (SSL_CTX_check_private_key(x->ctx) != 1) {
        openssl_error(err, errlen, "TLS: the private key does not match the certificate");
    } else {
        return x;
    }
    ex_tls_ctx_free(x);
    return NULL;
}

struct ex_tls_ctx *ex_tls_client_ctx(const char *ca_file, int insecure, char *err,
                                     size_t errlen)
{
    struct ex_tls_ctx *x = calloc(1, sizeof *x);
    if (!x || !(x->ctx = new_ctx(TLS_client_method()))) {
        snprintf(err, errlen, "TLS: out of memory");
        free(x);
        return NULL;
    }
    x->client = 1;
    x->verify = !insecure;
    if (insecure) {
        SSL_CTX_set_verify(x->ctx, SSL_VERIFY_NONE, NULL);
        return x;
    }
    SSL_CTX_set_verify(x->ctx, SSL_VERIFY_PEER, NULL);
    if (ca_file ? SSL_CTX_load_verify_locations(x->ctx, ca_file, NULL) != 1
                : SSL_CTX_set_default_verify_paths(x->ctx) != 1) {
        char what[512];
        snprintf(what, sizeof what, "TLS: cannot load the CA file %s (--ca)", ca_file ? ca_file : "");
        openssl_error(err, errlen, ca_file ? what : "TLS: cannot load the system's CA certificates");
        ex_tls_ctx_free(x);
        return NULL;
    }
    return x;
}

void ex_tls_ctx_free(struct ex_tls_ctx *x)
{
    if (!x)
        return;
    SSL_CTX_free(x->ctx);
    free(x);
}

/* Server: the first of our protocols that the client's list (length-prefixed names) has. */
static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
                       const unsigned char *in, unsigned inlen, void *arg)
{
    const struct ex_tls_ctx *x = arg;
    (void)ssl;
    for (int i = 0; i < x->nalpn; i++) {
        size_t n = strlen(x->alpn[i]);
        for (unsigned pos = 0; pos < inlen; pos += 1u + in[pos]) {
            if (pos + 1u + in[pos] > inlen)
                break; /* a malformed list: OpenSSL checks it too */
            if (in[pos] == n && memcmp(in + pos + 1, x->alpn[i], n) == 0) {
                *out = in + pos + 1;
                *outlen = in[pos];
                return SSL_TLSEXT_ERR_OK;
            }
        }
    }
    return SSL_TLSEXT_ERR_ALERT_FATAL; /* RFC 7301 3.2: no_application_protocol */
}

int ex_tls_ctx_set_alpn(struct ex_tls_ctx *x, const char *const *protos, int n)
{
    unsigned char wire[ALPN_MAX * 256];
    size_t len = 0;

    if (n < 0 || n > ALPN_MAX)
        return -1;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(protos[i]);
        if (k == 0 || k > 255)
            return -1;
        wire[len++] = (unsigned char)k;
        memcpy(wire + len, protos[i], k);
        len += k;
        x->alpn[i] = protos[i];
    }
    x->nalpn = n;
    if (x->client)
        return SSL_CTX_set_alpn_protos(x->ctx, wire, (unsigned)len) == 0 ? 0 : -1;
    SSL_CTX_set_alpn_select_cb(x->ctx, alpn_select, x);
    return 0;
}

const char *ex_tls_alpn(struct ex_tls *t)
{
    if (!t->alpn[0] && SSL_is_init_finished(t->ssl)) {
        const unsigned char *p = NULL;
        unsigned n = 0;
        SSL_get0_alpn_selected(t->ssl, &p, &n);
        if (p && n < sizeof t->alpn) {
            memcpy(t->alpn, p, n); /* kept: the answer never changes */
            t->alpn[n] = '\0';
        }
    }
    return t->alpn;
}

static int is_ip_literal(const char *host)
{
    unsigned char a[16];
    return inet_pton(AF_INET, host, a) == 1 || inet_pton(AF_INET6, host, a) == 1;
}

struct ex_tls *ex_tls_new(struct ex_tls_ctx *x, int fd, const char *host)
{
    struct ex_tls *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->fd = fd;
    t->ssl = SSL_new(x->ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        goto fail;
    }
    /* An empty read BIO means "wait for the socket" until read() saw the end of file. */
    BIO_set_mem_eof_return(t->rbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio);
    if (!host) {
        SSL_set_accept_state(t->ssl);
        return t;
    }
    snprintf(t->host, sizeof t->host, "%s", host);
    SSL_set_connect_state(t->ssl);
    /* SNI carries names only (RFC 6066 section 3), never an address. */
    if (!is_ip_literal(host) && SSL_set_tlsext_host_name(t->ssl, host) != 1)
        goto fail;
    t->verify = x->verify;
    if (t->verify) {
        X509_VERIFY_PARAM *p = SSL_get0_param(t->ssl);
        if (is_ip_literal(host)) {
            if (X509_VERIFY_PARAM_set1_ip_asc(p, host) != 1)
                goto fail;
        } else {
            X509_VERIFY_PARAM_set_hostflags(p, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
            if (SSL_set1_host(t->ssl, host) != 1)
                goto fail;
        }
    }
    return t;
fail:
    SSL_free(t->ssl); /* and the BIOs it owns once set */
    ERR_clear_error();
    free(t);
    return NULL;
}

void ex_tls_free(struct ex_tls *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    free(t);
}

size_t ex_tls_pending(const struct ex_tls *t)
{
    return BIO_ctrl_pending(t->wbio);
}

int ex_tls_established(const struct ex_tls *t)
{
    return SSL_is_init_finished(t->ssl);
}

int ex_tls_failed(const struct ex_tls *t)
{
    return t->failed;
}

const char *ex_tls_error(const struct ex_tls *t)
{
    return t->error;
}

int ex_tls_flush(struct ex_tls *t)
{
    for (;;) {
        char *p;
        long n = BIO_get_mem_data(t->wbio, &p);
        if (n <= 0)
            return 1;
        ssize_t w = write(t->fd, p, (size_t)n);
        if (w > 0) {
            /* BIO_read moves the memory BIO's read position without copying much: it is
             * what consumes the bytes written. */
            char sink[4096];
            for (size_t left = (size_t)w; left > 0;) {
                int k = BIO_read(t->wbio, sink, left < sizeof sink ? (int)left : (int)sizeof sink);
                if (k <= 0)
                    break;
                left -= (size_t)k;
            }
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return 0;
        if (w == 0)
            errno = EPIPE;
        return -1;
    }
}

/* A TLS failure: say why, keep the alert OpenSSL queued (it is ciphertext, and tells the
 * peer), and never encrypt or write anything else. */
static void fail(struct ex_tls *t)
{
    long v = t->verify ? SSL_get_verify_result(t->ssl) : X509_V_OK;
    t->failed = 1;
    if (v != X509_V_OK) {
        snprintf(t->error, sizeof t->error, "TLS: certificate verify failed: %s (expected host %s)",
                 X509_verify_cert_error_string(v), t->host);
        ERR_clear_error();
    } else {
        openssl_error(t->error, sizeof t->error,
                      SSL_is_init_finished(t->ssl) ? "TLS: connection failed"
                                                   : "TLS: handshake failed");
    }
    ex_tls_flush(t); /* the alert, best effort */
}

/* The stream ended at the transport: an end of file without close_notify. After the handshake
 * it is the end (the WebSocket closing handshake says whether it was clean); before, a
 * failure. */
static int unexpected_eof(struct ex_tls *t, int err)
{
    if (!t->sock_eof)
        return 0;
    if (err == SSL_ERROR_SYSCALL)
        return 1;
#ifdef SSL_R_UNEXPECTED_EOF_WHILE_READING
    unsigned long e = ERR_peek_last_error();
    if (err == SSL_ERROR_SSL && ERR_GET_LIB(e) == ERR_LIB_SSL &&
        ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING)
        return 1;
#endif
    return 0;
}

ssize_t ex_tls_read(struct ex_tls *t, void *buf, size_t cap)
{
    uint8_t *out = buf;
    size_t got = 0, waiting = BIO_ctrl_pending(t->rbio);
    int sock_errno = 0;

    if (t->failed) {
        errno = EPROTO;
        return -1;
    }
    if (cap < EX_TLS_READ_MIN) {
        errno = EINVAL;
        return -1;
    }
    /* The ciphertext goes through buf on its way to the read BIO. All of it that can complete
     * a record -- what this read adds, what waits in the read BIO, and the part of a record
     * OpenSSL already moved into its own buffer (SSL_has_pending: a record begun, which
     * BIO_ctrl_pending no longer counts) -- is at most cap, so every record it completes
     * decrypts into buf (plaintext is shorter than its record) and nothing decryptable stays
     * behind, where no socket readiness would announce it. */
    if (SSL_has_pending(t->ssl))
        waiting += EX_TLS_RECORD_MAX;
    if (!t->sock_eof && !t->eof && waiting < cap) {
        ssize_t n = read(t->fd, buf, cap - waiting);
        if (n > 0) {
            if (BIO_write(t->rbio, buf, (int)n) != (int)n) {
                snprintf(t->error, sizeof t->error, "TLS: out of memory");
                t->failed = 1;
                ERR_clear_error();
                errno = EPROTO;
                return -1;
            }
        } else if (n == 0) {
            t->sock_eof = 1;
            BIO_set_mem_eof_return(t->rbio, 0);
        } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            sock_errno = errno;
        }
    }
    while (!t->eof && got < cap) {
        ERR_clear_error();
        int r = SSL_read(t->ssl, out + got, (int)(cap - got > INT32_MAX ? INT32_MAX : cap - got));
        if (r > 0) {
            got += (size_t)r;
            continue;
        }
        int err = SSL_get_error(t->ssl, r);
        if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE)
            break; /* more from the socket first; what the handshake wrote is flushed below */
        if (err == SSL_ERROR_ZERO_RETURN) {
            t->eof = 1; /* close_notify */
            break;
        }
        if (unexpected_eof(t, err) && SSL_is_init_finished(t->ssl)) {
            ERR_clear_error();
            t->eof = 1;
            break;
        }
        if (unexpected_eof(t, err)) {
            snprintf(t->error, sizeof t->error,
                     "TLS: handshake failed: the peer closed the connection");
            t->failed = 1;
            ERR_clear_error();
        } else {
            fail(t);
        }
        errno = EPROTO;
        return -1;
    }
    /* Handshake messages, session tickets, key updates, alerts. */
    if (ex_tls_flush(t) < 0 && !got)
        return -1;
    if (got)
        return (ssize_t)got;
    if (sock_errno) {
        errno = sock_errno;
        return -1;
    }
    if (t->eof || t->sock_eof)
        return 0;
    errno = EAGAIN;
    return -1;
}

ssize_t ex_tls_writev(struct ex_tls *t, const ws_iovec *iov, int n)
{
    size_t taken = 0;
    int more = 1;

    if (t->failed) {
        errno = EPROTO;
        return -1;
    }
    if (ex_tls_flush(t) < 0)
        return -1;
    for (int i = 0; i < n && more; i++) {
        size_t off = 0;
        while (off < iov[i].len) {
            size_t pending = BIO_ctrl_pending(t->wbio);
            if (pending >= EX_TLS_OUT_MAX) {
                more = 0;
                break;
            }
            /* At most a record's worth a call: the write BIO stays near EX_TLS_OUT_MAX. */
            size_t chunk = iov[i].len - off;
            if (chunk > 16384)
                chunk = 16384;
            ERR_clear_error();
            int r = SSL_write(t->ssl, iov[i].base + off, (int)chunk);
            if (r > 0) {
                off += (size_t)r;
                taken += (size_t)r;
                continue;
            }
            int err = SSL_get_error(t->ssl, r);
            if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
                more = 0; /* the handshake waits for the peer */
                break;
            }
            fail(t);
            errno = EPROTO;
            return -1;
        }
    }
    if (ex_tls_flush(t) < 0)
        return -1;
    if (taken)
        return (ssize_t)taken;
    errno = EAGAIN;
    return -1;
}

int ex_tls_close(struct ex_tls *t, uint64_t now, uint64_t *deadline)
{
    if (t->failed || !SSL_is_init_finished(t->ssl))
        return 1; /* nothing to say in TLS any more */
    if (!t->close_sent) {
        t->close_sent = 1;
        t->close_deadline = now + EX_LINGER_MS;
        ERR_clear_error();
        SSL_shutdown(t->ssl); /* queues close_notify; the peer's is not awaited */
        ERR_clear_error();
    }
    *deadline = t->close_deadline;
    int r = ex_tls_flush(t);
    if (r == 0 && now >= t->close_deadline)
        return -1;
    return r;
}

#else /* !EX_HAVE_TLS: the stubs */

struct ex_tls {
    int unused;
};

int ex_tls_available(void)
{
    return 0;
}

static void no_tls(char *err, size_t errlen)
{
    snprintf(err, errlen, "built without TLS (OpenSSL): rebuild with libssl-dev installed "
                          "(make TLS=1, meson -Dtls=enabled)");
}

struct ex_tls_ctx *ex_tls_server_ctx(const char *cert_file, const char *key_file, char *err,
                                     size_t errlen)
{
    (void)cert_file;
    (void)key_file;
    no_tls(err, errlen);
    return NULL;
}

struct ex_tls_ctx *ex_tls_client_ctx(const char *ca_file, int insecure, char *err,
                                     size_t errlen)
{
    (void)ca_file;
    (void)insecure;
    no_tls(err, errlen);
    return NULL;
}

void ex_tls_ctx_free(struct ex_tls_ctx *x)
{
    (void)x;
}

struct ex_tls *ex_tls_new(struct ex_tls_ctx *x, int fd, const char *host)
{
    (void)x;
    (void)fd;
    (void)host;
    return NULL;
}

void ex_tls_free(struct ex_tls *t)
{
    (void)t;
}

ssize_t ex_tls_read(struct ex_tls *t, void *buf, size_t cap)
{
    (void)t;
    (void)buf;
    (void)cap;
    errno = EPROTO;
    return -1;
}

ssize_t ex_tls_writev(struct ex_tls *t, const ws_iovec *iov, int n)
{
    (void)t;
    (void)iov;
    (void)n;
    errno = EPROTO;
    return -1;
}

int ex_tls_flush(struct ex_tls *t)
{
    (void)t;
    return 1;
}

size_t ex_tls_pending(const struct ex_tls *t)
{
    (void)t;
    return 0;
}

int ex_tls_close(struct ex_tls *t, uint64_t now, uint64_t *deadline)
{
    (void)t;
    *deadline = now;
    return 1;
}

int ex_tls_established(const struct ex_tls *t)
{
    (void)t;
    return 0;
}
int ex_tls_ctx_set_alpn(struct ex_tls_ctx *x, const char *const *protos, int n)
{
    (void)x;
    (void)protos;
    (void)n;
    return -1;
}

const char *ex_tls_alpn(struct ex_tls *t)
{
    (void)t;
    return "";
}

int ex_tls_failed(const struct ex_tls *t)
{
    (void)t;
    return 1;
}

const char *ex_tls_error(const struct ex_tls *t)
{
    (void)t;
    return "built without TLS";
}

#endif
