/*
 * What the example programs take from the system outside the WebSocket loop, servers and wsc
 * alike: a monotonic clock (the library never reads one), SIGINT/SIGTERM as a stop flag, the
 * descriptor limit, and how long a closing socket lingers. Implemented in posix.c.
 */
#ifndef EX_POSIX_H
#define EX_POSIX_H

#include <signal.h>
#include <stdint.h>

/*
 * Closing a socket with unread input makes the kernel send a TCP reset, which discards what it
 * had not sent yet: the close frame among it. So once ws_conn_wants_shutdown() says so, a
 * connection lingers: its write side is shut down (the peer reads the close frame, then end of
 * file), and what still comes in is read and thrown away until the peer's end of file, at most
 * EX_LINGER_BYTES or EX_LINGER_MS; only then is the socket closed (RFC 6455 section 7.1.1).
 */
#define EX_LINGER_MS 2000u
#define EX_LINGER_BYTES (1u << 20)

/* Set by SIGINT and SIGTERM once ex_install_signals ran. */
extern volatile sig_atomic_t ex_stop;

/* Monotonic milliseconds. */
uint64_t ex_now_ms(void);
/* SIGINT/SIGTERM set ex_stop (without SA_RESTART: a blocked poll returns); SIGPIPE ignored. */
void ex_install_signals(void);
/* Raise RLIMIT_NOFILE to its hard limit; returns the soft limit now in force (-1: unknown). */
long ex_raise_nofile(void);

#endif
