/*
 * TLS (wss://) for the example programs, on OpenSSL through a pair of memory BIOs. libws stays
 * free of TLS: this layer sits between the socket and the ws_conn, and only moves bytes.
 *
 *   socket --read()--> rbio --SSL_read()--> plaintext --> ws_conn_feed*()
 *   ws_conn_output() --SSL_write()--> wbio --write()--> socket
 *
 * The socket calls are the caller's usual ones, made here so that ex_tls_read() and
 * ex_tls_writev() can stand in for read() and writev() in a non-blocking loop (or a blocking
 * one, as wsc's): the same return values, with errno EAGAIN for "nothing now" and EPROTO for a
 * TLS failure (ex_tls_error() says what). The handshake runs inside those calls
 * (SSL_ERROR_WANT_READ / WANT_WRITE mean "wait for the socket"), so a loop needs no state of
 * its own for it; its time limit is the ws_conn's handshake timeout (WS_OPT_HANDSHAKE_TIMEOUT),
 * which runs from the start while the connection is CONNECTING, TLS handshake included.
 *
 * Policy: TLS 1.2 and 1.3 only, no renegotiation (SSL_OP_NO_RENEGOTIATION), and a failed
 * connection stays failed: after a TLS error nothing is encrypted and nothing but the alert
 * OpenSSL queued is written; plaintext never reaches the socket from here. Clients verify the
 * server's certificate chain and its name (SNI set for names, SSL_set1_host / an IP address
 * check) unless made insecure on purpose.
 *
 * Built without OpenSSL (make TLS=0, meson -Dtls=disabled; EX_HAVE_TLS undefined), every
 * function is a stub: ex_tls_available() is 0 and the contexts cannot be made.
 */
#ifndef EX_TLS_H
#define EX_TLS_H

#include "ws.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ex_tls_ctx; /* an SSL_CTX with the policy above */
struct ex_tls;     /* one connection: SSL, its two memory BIOs, the socket */

/* Ciphertext kept in the write BIO before ex_tls_writev() stops taking plaintext (EAGAIN):
 * what a connection holds in the TLS layer on top of its ws_conn output queue. */
#define EX_TLS_OUT_MAX (64u * 1024u)

/* The most ciphertext of one record (TLS 1.2's bound, 2^14 + 2048, with the 5-byte header;
 * TLS 1.3's is lower): what OpenSSL may hold of a record it has begun to read. */
#define EX_TLS_RECORD_MAX (5u + 16384u + 2048u)
/* The least buffer ex_tls_read() takes: room for a record begun and one more. */
#define EX_TLS_READ_MIN (2u * EX_TLS_RECORD_MAX)

/* 1 if built with TLS. */
int ex_tls_available(void);

/* A server context from a PEM certificate chain and its private key; NULL with a message in
 * err on failure (or when built without TLS). */
struct ex_tls_ctx *ex_tls_server_ctx(const char *cert_file, const char *key_file, char *err,
                                     size_t errlen);
/* A client context: peers verified against the system's CAs, or ca_file's when given;
 * insecure: no verification at all. NULL with a message in err on failure. */
struct ex_tls_ctx *ex_tls_client_ctx(const char *ca_file, int insecure, char *err,
                                     size_t errlen);
void ex_tls_ctx_free(struct ex_tls_ctx *x);
/* ALPN (RFC 7301). Server: choose from the client's list the first of protos (in order of
 * preference, e.g. {"h2", "http/1.1"}) it offers; a client offering none of them gets the
 * no_application_protocol alert; one offering no ALPN at all is served without. Client: offer
 * protos. The strings must outlive the context. 0, or -1 (too many or too long: at most 8,
 * each 1..255 bytes). */
int ex_tls_ctx_set_alpn(struct ex_tls_ctx *x, const char *const *protos, int n);

/* A connection over socket fd (the caller's: never closed here). host != NULL makes it a
 * client that sends SNI (for a name) and expects host (a name or an IP address) in the
 * server's certificate; NULL makes it a server. NULL when out of memory. */
struct ex_tls *ex_tls_new(struct ex_tls_ctx *x, int fd, const char *host);
void ex_tls_free(struct ex_tls *t);

/* One read() of at most cap bytes less the ciphertext already waiting (in the read BIO, and
 * up to EX_TLS_RECORD_MAX for a record OpenSSL has begun), then all the plaintext it completes
 * into buf[0..cap) -- never more than cap: plaintext is shorter than its records, so no record
 * that could be decrypted is ever left behind (no socket readiness would announce it): a
 * level-triggered loop may wait for the socket again. cap is at least EX_TLS_READ_MIN.
 * Returns the plaintext length; 0 at the end of the stream (the peer's close_notify or end of
 * file); -1 with errno EAGAIN when nothing is ready (the handshake may have moved: call
 * ex_tls_flush or look at ex_tls_pending), EPROTO for a TLS failure, EINVAL for a cap below
 * EX_TLS_READ_MIN, or read()'s errno. */
ssize_t ex_tls_read(struct ex_tls *t, void *buf, size_t cap);
/* Encrypt from iov[0..n) what fits under EX_TLS_OUT_MAX and write what the socket takes.
 * Returns the plaintext bytes taken (acknowledge that many); -1 with errno EAGAIN when none
 * (a full socket, or a handshake still waiting for the peer), EPROTO after a TLS failure, or
 * write()'s errno. */
ssize_t ex_tls_writev(struct ex_tls *t, const ws_iovec *iov, int n);
/* Write the ciphertext waiting (handshake messages, records, alerts): 1 once none is left,
 * 0 if the socket is full, -1 on a socket error (errno). */
int ex_tls_flush(struct ex_tls *t);
/* Ciphertext waiting for the socket. */
size_t ex_tls_pending(const struct ex_tls *t);
/* The closing: queue close_notify (once, if the handshake completed and nothing failed) and
 * flush. 1 when done (or nothing to send), 0 while the socket has no room (wait for it until
 * *deadline: now + EX_LINGER_MS on the first call), -1 past the deadline or on a socket
 * error. */
int ex_tls_close(struct ex_tls *t, uint64_t now, uint64_t *deadline);

/* The protocol ALPN chose once the handshake completed: its name (NUL-terminated, valid as
 * long as t), or "" when none was negotiated (or not yet). */
const char *ex_tls_alpn(struct ex_tls *t);
/* 1 once the handshake completed. */
int ex_tls_established(const struct ex_tls *t);
/* 1 after a TLS failure (then ex_tls_error says why). */
int ex_tls_failed(const struct ex_tls *t);
/* Why the connection failed, e.g. "TLS: certificate verify failed: self-signed certificate
 * (expected host 127.0.0.1)"; "" if it did not. */
const char *ex_tls_error(const struct ex_tls *t);

#endif
