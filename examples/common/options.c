/* The example servers' shared command line. Every flag has a safe default; --help lists them. */
#include "server.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t ex_default_conn_memory(uint64_t max_message)
{
    uint64_t floor = (uint64_t)4 << 20;
    if (max_message > (UINT64_MAX - (1u << 20)) / 3)
        return UINT64_MAX;
    /* The message reassembled, its echo in the output queue (whose capacity doubles: up to
     * twice the message), and the zlib contexts. */
    uint64_t need = 3 * max_message + (1u << 20);
    return need > floor ? need : floor;
}

static void usage(FILE *f, const char *prog, int broadcast)
{
    fprintf(f,
            "usage: %s [options]\n"
            "  --host H                 address to listen on (127.0.0.1)\n"
            "  --port N                 port, 0 for any free one (9001)\n"
            "  --subprotocol NAME       accept this subprotocol when offered (repeatable)\n"
            "  --deflate | --no-deflate permessage-deflate (off)\n"
            "  --max-message BYTES      largest message; over it: close 1009 (%llu)\n"
            "  --max-memory BYTES       memory all connections share; past it: close 1013 (%llu)\n"
            "  --max-conn-memory BYTES  one connection's share of it: max(4 MiB, 3 x\n"
            "                           --max-message + 1 MiB) (%llu)\n"
            "  --max-conns N            connections at once, 0 no cap; more are accepted and\n"
            "                           closed at once (%u)\n"
            "  --ping SECONDS           heartbeat ping interval, also the pong timeout; 0 off (%u)\n"
            "  --idle-timeout SECONDS   nothing received for this long: close 1000; 0 off (%u)\n"
            "  --message-timeout SECONDS  a started message must complete: else 1008; 0 off (%u)\n"
            "  --send-timeout SECONDS   queued output that does not move: reset; 0 off (%u)\n"
            "  --sndbuf BYTES           SO_SNDBUF of client sockets (the kernel's)\n"
            "  --tls-cert FILE          serve wss://: certificate chain (PEM), with --tls-key\n"
            "  --tls-key FILE           its private key (PEM)%s\n"
            "  --help                   this text\n"
            "SECONDS may have a fraction (0.5); BYTES a K, M or G suffix (powers of 1024).\n",
            prog, (unsigned long long)WS_DEFAULT_MAX_MESSAGE_SIZE,
            (unsigned long long)EX_DEFAULT_MAX_MEMORY,
            (unsigned long long)ex_default_conn_memory(WS_DEFAULT_MAX_MESSAGE_SIZE),
            EX_DEFAULT_MAX_CONNS, EX_DEFAULT_PING / 1000u, EX_DEFAULT_IDLE_TIMEOUT / 1000u,
            EX_DEFAULT_MESSAGE_TIMEOUT / 1000u, EX_DEFAULT_SEND_TIMEOUT / 1000u,
            ex_tls_available() ? "" : " (this build has no TLS)");
    if (broadcast)
        fprintf(f, "broadcast:\n"
                   "  --policy drop|close      a receiver that falls behind: its stale message is\n"
                   "                           dropped, or it is closed with 1013 (drop)\n"
                   "  --max-accept-rate N      new connections a second; 0 unlimited (0); the\n"
                   "                           rest wait in the backlog, or see --retry-after\n"
                   "  --retry-after SECONDS    over the rate, answer 503 with Retry-After drawn\n"
                   "                           in [1, SECONDS] instead (0: off) (0)\n"
                   "  --stats                  print a line of statistics every second\n");
}

static void bad_usage(const char *prog, int broadcast)
{
    usage(stderr, prog, broadcast);
    exit(2);
}

/* A whole number, with an optional binary suffix when `sized`. */
static uint64_t number(const char *prog, const char *flag, const char *v, int sized, int bc)
{
    char *end;
    errno = 0;
    unsigned long long n = strtoull(v, &end, 10);
    unsigned shift = 0;
    if (sized && *end && !end[1]) {
        const char *units = "KMG", *u = strchr(units, *end & ~0x20);
        if (u && *end) {
            shift = 10u * (unsigned)(u - units + 1);
            end++;
        }
    }
    if (errno || *end || !*v || *v == '-' || (shift && n > (UINT64_MAX >> shift))) {
        fprintf(stderr, "%s: %s needs a number, got '%s'\n", prog, flag, v);
        bad_usage(prog, bc);
    }
    return (uint64_t)n << shift;
}

/* Seconds, with an optional fraction, as milliseconds (at most WS_MAX_TIMEOUT). */
static uint32_t seconds(const char *prog, const char *flag, const char *v, int bc)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || *end || !*v || *v == '-' || d != d || d * 1000.0 > (double)WS_MAX_TIMEOUT) {
        fprintf(stderr, "%s: %s needs a number of seconds, got '%s'\n", prog, flag, v);
        bad_usage(prog, bc);
    }
    return (uint32_t)(d * 1000.0 + 0.5);
}

void ex_parse_args(int argc, char **argv, struct ex_options *o, int bc)
{
    const char *prog = argv[0];

    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 9001;
    o->max_message = WS_DEFAULT_MAX_MESSAGE_SIZE;
    o->ping_interval = EX_DEFAULT_PING;
    o->idle_timeout = EX_DEFAULT_IDLE_TIMEOUT;
    o->send_timeout = EX_DEFAULT_SEND_TIMEOUT;
    o->message_timeout = EX_DEFAULT_MESSAGE_TIMEOUT;
    o->max_conns = EX_DEFAULT_MAX_CONNS;
    o->max_memory = EX_DEFAULT_MAX_MEMORY;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout, prog, bc);
            exit(0);
        }
        if (!strcmp(a, "--deflate")) {
            o->deflate = 1;
            continue;
        }
        if (!strcmp(a, "--no-deflate")) {
            o->deflate = 0;
            continue;
        }
        if (bc && !strcmp(a, "--stats")) {
            o->stats = 1;
            continue;
        }
        if (!v)
            bad_usage(prog, bc);
        i++;
        if (!strcmp(a, "--host")) {
            o->host = v;
        } else if (!strcmp(a, "--port")) {
            uint64_t p = number(prog, a, v, 0, bc);
            if (p > 65535)
                bad_usage(prog, bc);
            o->port = (int)p;
        } else if (!strcmp(a, "--max-message")) {
            o->max_message = number(prog, a, v, 1, bc);
            if (o->max_message == 0 || o->max_message > (UINT64_MAX >> 1))
                bad_usage(prog, bc);
        } else if (!strcmp(a, "--max-memory")) {
            o->max_memory = number(prog, a, v, 1, bc);
            if (o->max_memory == 0)
                bad_usage(prog, bc);
        } else if (!strcmp(a, "--max-conn-memory")) {
            o->max_conn_memory = number(prog, a, v, 1, bc);
        } else if (!strcmp(a, "--max-conns")) {
            o->max_conns = number(prog, a, v, 0, bc);
        } else if (!strcmp(a, "--ping")) {
            o->ping_interval = seconds(prog, a, v, bc);
        } else if (!strcmp(a, "--idle-timeout")) {
            o->idle_timeout = seconds(prog, a, v, bc);
        } else if (!strcmp(a, "--message-timeout")) {
            o->message_timeout = seconds(prog, a, v, bc);
        } else if (!strcmp(a, "--send-timeout")) {
            o->send_timeout = seconds(prog, a, v, bc);
        } else if (!strcmp(a, "--sndbuf")) {
            uint64_t n = number(prog, a, v, 1, bc);
            if (n > (1u << 30))
                bad_usage(prog, bc);
            o->sndbuf = (int)n;
        } else if (!strcmp(a, "--tls-cert")) {
            o->tls_cert = v;
        } else if (!strcmp(a, "--tls-key")) {
            o->tls_key = v;
        } else if (!strcmp(a, "--subprotocol")) {
            if (o->nsub == EX_MAX_SUBPROTOCOLS)
                bad_usage(prog, bc);
            o->subprotocols[o->nsub++] = v;
        } else if (bc && !strcmp(a, "--policy")) {
            if (strcmp(v, "drop") && strcmp(v, "close"))
                bad_usage(prog, bc);
            o->policy_close = !strcmp(v, "close");
        } else if (bc && !strcmp(a, "--max-accept-rate")) {
            uint64_t n = number(prog, a, v, 0, bc);
            o->max_accept_rate = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
        } else if (bc && !strcmp(a, "--retry-after")) {
            uint64_t n = number(prog, a, v, 0, bc);
            if (n > 3600)
                bad_usage(prog, bc);
            o->retry_after = (uint32_t)n;
        } else {
            bad_usage(prog, bc);
        }
    }
    if (o->max_conn_memory == 0)
        o->max_conn_memory = ex_default_conn_memory(o->max_message);
    if ((o->tls_cert || o->tls_key) && !ex_tls_available()) {
        fprintf(stderr, "%s: --tls-cert/--tls-key: built without TLS (OpenSSL); rebuild with "
                        "libssl-dev installed\n", prog);
        exit(2);
    }
    if (!o->tls_cert != !o->tls_key) {
        fprintf(stderr, "%s: --tls-cert and --tls-key go together\n", prog);
        bad_usage(prog, bc);
    }
    if (o->deflate && !ws_deflate_available()) {
        fprintf(stderr, "%s: --deflate: this libws was built without zlib "
                        "(permessage-deflate unavailable)\n", prog);
        exit(2);
    }
}
