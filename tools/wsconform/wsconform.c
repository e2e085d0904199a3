/*
 * wsconform -- an Autobahn|Testsuite-compatible WebSocket conformance tester in one native
 * binary, built on libws. `wsconform --help` is the manual; wsconform.h says which file does
 * what. This file: the command line, the two modes (testing a server: Autobahn's
 * fuzzingclient; testing a client: its fuzzingserver with the URL protocol), the per-case
 * lines, the summaries and the exit code.
 *
 * Copyright (c) 2026 the libws authors. MIT licence, see LICENSE.
 */
#define _GNU_SOURCE
#include "wsconform.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *const usage_text[] = {
    "NAME\n",
    "    wsconform - Autobahn|Testsuite-compatible WebSocket conformance tester (RFC 6455,\n",
    "    RFC 7692), one native binary built on libws\n",
    "\n",
    "SYNOPSIS\n",
    "    wsconform client ws://HOST:PORT/PATH [options]     test a server (Autobahn's\n",
    "    wsconform client --spec fuzzingclient.json [options]      \"fuzzingclient\" mode)\n",
    "    wsconform server [--port N] [--spec fuzzingserver.json] [options]\n",
    "                                                  test clients (Autobahn's \"fuzzingserver\"\n",
    "                                                  mode and URL protocol)\n",
    "    wsconform server --client-cmd 'CMD ... {url}' [options]\n",
    "                                                  test one client, launched once per case\n",
    "    wsconform list [--cases ...] [--exclude ...] [--extensions]\n",
    "    wsconform --help\n",
    "\n",
    "DESCRIPTION\n",
    "    Runs the cases of Autobahn|Testsuite's groups 1-7 (framing, ping/pong, reserved bits,\n",
    "    opcodes, fragmentation, UTF-8, close handling), 9 (limits and performance), 10\n",
    "    (auto-fragmentation), 12 and 13 (permessage-deflate: payloads and parameters), with\n",
    "    Autobahn's numbering, expectations and verdicts. Each case gets a behavior (OK,\n",
    "    NON-STRICT, INFORMATIONAL, UNIMPLEMENTED, FAILED) and a behaviorClose (OK, WRONG CODE,\n",
    "    UNCLEAN, FAILED BY CLIENT, FAILED, INFORMATIONAL) by Autobahn's rules; a protocol\n",
    "    violation by the peer (judged by libws's ws_checker) fails the case and names the\n",
    "    rule. Cases Autobahn lacks but RFC 6455 requires are group 20, marked as extensions,\n",
    "    run only with --extensions or a pattern naming them.\n",
    "\n",
    "    Output: one line per case on stdout (id, verdict, behavior, behaviorClose, close code,\n",
    "    duration, description, and why when not OK), a summary per group, and reports in\n",
    "    Autobahn's format: OUTDIR/index.json ({agent: {case: {behavior, behaviorClose,\n",
    "    duration, remoteCloseCode, reportfile}}}), one OUTDIR/<agent>_case_<id>.json per case\n",
    "    (expectations, events received, closing behaviour, opening handshake, wire log,\n",
    "    statistics), and OUTDIR/index.html.\n",
    "\n",
    "CLIENT MODE (testing a server)\n",
    "    The server must echo every message (text as text, binary as binary); groups 12/13 need\n",
    "    it to accept permessage-deflate. --spec reads Autobahn's fuzzingclient.json: servers\n",
    "    [{url, agent}], cases, exclude-cases, exclude-agent-cases, outdir (default\n",
    "    ./reports/servers); options such as failByDrop are accepted (wsconform always behaves\n",
    "    as failByDrop=false), unknown ones listed and ignored. The agent is --agent, the spec's,\n",
    "    or the server's Server header.\n",
    "    --server-cmd CMD   start CMD (sh -c) first and stop it (SIGTERM) after the run; {port}\n",
    "                       in CMD and in the URL becomes a free local port; wsconform waits\n",
    "                       until it accepts connections\n",
    "\n",
    "SERVER MODE (testing clients)\n",
    "    Listens on --host (127.0.0.1) and --port (9001; 0: any) and speaks Autobahn's URL\n",
    "    protocol, so existing client test scripts work unchanged:\n",
    "        /getCaseCount                     text message: the number of cases\n",
    "        /getCaseInfo?case=N               {\"id\": ..., \"description\": ...}\n",
    "        /runCase?case=N&agent=A           runs case N (1-based) against this connection\n",
    "                                          (casetuple=1.2.3 instead of case=N works too)\n",
    "        /getCaseStatus?case=N&agent=A     {\"behavior\": ...}\n",
    "        /updateReports?agent=A            writes the reports (shutdownOnComplete=true:\n",
    "                                          then exits)\n",
    "        /stopServer                       writes the reports and exits\n",
    "    The client must echo what it receives. --spec reads fuzzingserver.json (url for the\n",
    "    port, cases, exclude-cases, exclude-agent-cases, outdir; default ./reports/clients).\n",
    "    --client-cmd CMD   instead of waiting for scripts: for each case start CMD (sh -c)\n",
    "                       with {url} (ws://HOST:PORT/runCase?case=N&agent=A), {case},\n",
    "                       {agent} and {port} replaced, run the case on the connection it\n",
    "                       makes, stop it, and exit after the last case (reports written)\n",
    "    --lifetime SECONDS exit (reports written) after this long without a connection\n",
    "\n",
    "SELECTION AND SIZES\n",
    "    --cases P,...      case patterns, Autobahn's rule: '*' any run of characters, '.'\n",
    "                       literal, matched from the start (\"6.4.*\", \"9.7.*\", \"1.1.1\");\n",
    "                       default *\n",
    "    --exclude P,...    patterns to leave out (Autobahn's exclude-cases)\n",
    "    --extensions       also the extension cases (group 20)\n",
    "    --profile NAME     autobahn (default): Autobahn's sizes -- group 9 up to 16 MiB, 1000\n",
    "                       round trips in 9.7/9.8, 1000 messages per 12/13 case, waits of 1 s;\n",
    "                       ci: 12/13 at most 256 KiB per case (4..100 messages), waits of\n",
    "                       300 ms; quick: also group 9 cut to 1 MiB and 100 round trips,\n",
    "                       12/13 at most 32 KiB (4..20 messages)\n",
    "    --max-message N    group 9 messages cut to N bytes\n",
    "    --rtt-count N      messages per 9.7/9.8 case\n",
    "    --pmd-count N      messages per 12/13 case (at most)\n",
    "    --pmd-bytes N      payload bytes per 12/13 case (at most; at least 4 messages)\n",
    "    --wait-ms N        Autobahn's continueLater pauses (6.4.x, 5.19, 5.20); a peer that\n",
    "                       fails fast does so within that time\n",
    "\n",
    "OTHER OPTIONS\n",
    "    --agent NAME       the agent name for reports\n",
    "    --outdir DIR       where reports go\n",
    "    --strict           NON-STRICT, FAILED BY CLIENT and UNIMPLEMENTED fail the run too\n",
    "    --verbose          details on stderr\n",
    "\n",
    "EXIT STATUS\n",
    "    0 every case passed (OK, INFORMATIONAL; NON-STRICT and UNIMPLEMENTED unless --strict),\n",
    "    1 some case failed, 2 usage or setup error.\n",
    "\n",
    "EXAMPLES\n",
    "    wsconform client ws://127.0.0.1:9001/ --cases '1.*,6.4.*' --exclude '9.*'\n",
    "    wsconform client --spec fuzzingclient.json --outdir reports/servers\n",
    "    wsconform client 'ws://127.0.0.1:{port}/' --server-cmd 'my-echo --port {port}'\n",
    "    wsconform server --port 9001 &   then run your client's Autobahn script\n",
    "    wsconform server --port 0 --client-cmd 'wsc --echo {url}' --profile ci\n",
    NULL,
};

static void print_usage(FILE *f)
{
    for (size_t i = 0; usage_text[i]; i++)
        fputs(usage_text[i], f);
}

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void usage_error(const char *fmt, const char *arg)
{
    fprintf(stderr, "wsconform: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\nwsconform --help for the manual\n");
    exit(2);
}

/* ---- the run's state ---- */

typedef struct tally {
    unsigned n[5]; /* OK, NON-STRICT, INFORMATIONAL, UNIMPLEMENTED, FAILED (overall) */
    uint64_t ms;
} tally;

typedef struct run {
    wc_opts o;
    wc_spec spec;
    conf_case *all;
    size_t nall;
    size_t *sel;
    size_t nsel;
    wc_report rep;
    unsigned failed, passed;
    tally groups[32];
    const char *agent_opt;
} run;

static int group_of(const char *id)
{
    int g = atoi(id);
    return g > 0 && g < 32 ? g : 0;
}

static void record(run *r, wc_result *res, const conf_case *c)
{
    wc_verdict all = wc_overall(res->behavior, res->behavior_close);
    int fails = wc_fails(all, r->o.strict);
    int g = group_of(c->id);
    r->groups[g].n[all <= V_FAILED ? all : V_FAILED]++;
    r->groups[g].ms += res->duration_ms;
    if (fails)
        r->failed++;
    else
        r->passed++;
    char code[16] = "-";
    if (res->remote_code >= 0)
        snprintf(code, sizeof code, "%d", res->remote_code);
    int ok = all == V_OK || all == V_INFORMATIONAL;
    printf("%-4s %-9s %-13s %-13s %-16s %5s %7llu ms  %s%s%s%s%s%s\n", fails ? "FAIL" : "ok",
           c->id, wc_verdict_name(all), wc_verdict_name(res->behavior),
           wc_verdict_name(res->behavior_close), code, (unsigned long long)res->duration_ms,
           res->agent, ": ", c->desc, ok ? "" : " -- ", ok ? "" : res->result,
           ok ? "" : (res->behavior_close == V_OK ? "" : ""));
    if (!ok && res->behavior_close != V_OK && res->behavior_close != V_INFORMATIONAL)
        printf("     %-9s close: %s\n", c->id, res->result_close);
    fflush(stdout);
    if (wc_report_add(&r->rep, res) != 0)
        fprintf(stderr, "wsconform: cannot write the report for %s into %s: %s\n", c->id,
                r->rep.outdir, strerror(errno));
}

static void summary(run *r, const char *who, uint64_t t0)
{
    for (int g = 0; g < 32; g++) {
        const tally *t = &r->groups[g];
        unsigned n = t->n[0] + t->n[1] + t->n[2] + t->n[3] + t->n[4];
        if (!n)
            continue;
        printf("summary %s group %-2d %-44s %4u cases: %u OK, %u NON-STRICT, %u INFORMATIONAL, "
               "%u UNIMPLEMENTED, %u FAILED; %.1f s\n",
               who, g, conf_group_name(g), n, t->n[0], t->n[1], t->n[2], t->n[3], t->n[4],
               (double)t->ms / 1000.0);
    }
    printf("wsconform: %u passed, %u failed%s in %.1f s; reports in %s/index.json\n", r->passed,
           r->failed, r->o.strict ? " (strict)" : "", (double)(now_ms() - t0) / 1000.0,
           r->rep.outdir);
    fflush(stdout);
}

/* ---- child processes (--server-cmd, --client-cmd) ---- */

static pid_t spawn_sh(const char *cmd, int verbose)
{
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "wsconform: fork: %s\n", strerror(errno));
        exit(2);
    }
    if (pid == 0) {
        setpgid(0, 0);
        prctl(PR_SET_PDEATHSIG, SIGKILL); /* never outlive wsconform */
        int devnull = open("/dev/null", O_RDWR);
        dup2(devnull, 0);
        if (!verbose) {
            dup2(devnull, 1);
            dup2(devnull, 2);
        } else {
            dup2(2, 1);
        }
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    return pid;
}

/* Wait up to ms for pid; then SIGKILL its group. 1 if it had exited by itself. */
static int reap(pid_t pid, unsigned ms)
{
    uint64_t deadline = now_ms() + ms;
    int st;
    do {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return 1;
        usleep(2000);
    } while (now_ms() < deadline);
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return 0;
}

/* s with every {key} replaced (keys: url, case, agent, port). malloc'd. */
static char *expand(const char *s, const char *url, const char *cs, const char *agent,
                    const char *port)
{
    wc_buf b = {0};
    while (*s) {
        const char *v = NULL;
        size_t k = 0;
        if (!strncmp(s, "{url}", 5))
            v = url, k = 5;
        else if (!strncmp(s, "{case}", 6))
            v = cs, k = 6;
        else if (!strncmp(s, "{agent}", 7))
            v = agent, k = 7;
        else if (!strncmp(s, "{port}", 6))
            v = port, k = 6;
        if (v) {
            buf_puts(&b, v);
            s += k;
        } else {
            buf_put(&b, s++, 1);
        }
    }
    if (!b.p || b.oom) {
        fprintf(stderr, "wsconform: out of memory\n");
        exit(2);
    }
    return b.p;
}

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t al = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
        fprintf(stderr, "wsconform: cannot find a free port: %s\n", strerror(errno));
        exit(2);
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* 1 once a TCP connection to host:port succeeds (polled until the deadline). */
static int wait_listening(const char *host, const char *port, uint64_t deadline)
{
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return 0;
    int ok = 0;
    while (!ok && now_ms() < deadline && !stop_requested) {
        for (struct addrinfo *a = ai; a && !ok; a = a->ai_next) {
            int fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
            if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) == 0)
                ok = 1;
            if (fd >= 0)
                close(fd);
        }
        if (!ok)
            usleep(20000);
    }
    freeaddrinfo(ai);
    return ok;
}

/* ---- client mode ---- */

static void run_server_target(run *r, const char *url, const char *agent)
{
    for (size_t i = 0; i < r->nsel && !stop_requested; i++) {
        const conf_case *c = &r->all[r->sel[i]];
        wc_result res;
        if (agent && wc_spec_agent_excluded(&r->spec, agent, c->id))
            continue;
        wc_run_client_case(c, url, agent, &r->o, &res);
        if (!agent && wc_spec_agent_excluded(&r->spec, res.agent, c->id)) {
            free(res.json);
            continue;
        }
        record(r, &res, c);
    }
}

static int mode_client(run *r, const char *url, const char *server_cmd)
{
    uint64_t t0 = now_ms();
    if (!r->rep.outdir)
        r->rep.outdir = r->spec.outdir ? r->spec.outdir : "./reports/servers";
    if (url) {
        wc_server *s = realloc(r->spec.servers, (r->spec.nservers + 1) * sizeof *s);
        if (!s)
            return 2;
        r->spec.servers = s;
        s[r->spec.nservers].url = strdup(url);
        s[r->spec.nservers].agent = r->agent_opt ? strdup(r->agent_opt) : NULL;
        r->spec.nservers++;
    }
    if (!r->spec.nservers)
        usage_error("%s", "client: a ws:// URL or a --spec with \"servers\" is needed");
    printf("wsconform: %zu cases against %zu server%s\n", r->nsel, r->spec.nservers,
           r->spec.nservers == 1 ? "" : "s");
    for (size_t s = 0; s < r->spec.nservers && !stop_requested; s++) {
        const char *u = r->spec.servers[s].url;
        const char *agent = r->agent_opt ? r->agent_opt : r->spec.servers[s].agent;
        char *eu = NULL;
        pid_t child = -1;
        if (server_cmd) {
            char port[8];
            snprintf(port, sizeof port, "%d", free_port());
            eu = expand(u, "", "", "", port);
            char *cmd = expand(server_cmd, eu, "", agent ? agent : "", port);
            child = spawn_sh(cmd, r->o.verbose);
            free(cmd);
            if (!wait_listening("127.0.0.1", port, now_ms() + r->o.setup_ms)) {
                fprintf(stderr, "wsconform: the server command did not listen on port %s "
                                "within %u ms\n",
                        port, r->o.setup_ms);
                reap(child, 0);
                free(eu);
                return 2;
            }
            u = eu;
        }
        printf("== testing %s%s%s\n", u, agent ? " as " : "", agent ? agent : "");
        run_server_target(r, u, agent);
        if (child > 0) {
            kill(-child, SIGTERM);
            if (!reap(child, 5000))
                printf("note: the server command did not exit within 5 s of SIGTERM: "
                       "killed\n");
        }
        free(eu);
    }
    if (wc_report_write_index(&r->rep) != 0)
        fprintf(stderr, "wsconform: cannot write %s/index.json: %s\n", r->rep.outdir,
                strerror(errno));
    summary(r, r->agent_opt ? r->agent_opt : "servers", t0);
    return r->failed ? 1 : 0;
}

/* ---- server mode ---- */

static int listen_on(const char *host, int port, int *bound)
{
    struct addrinfo hints, *ai = NULL;
    char ps[8];
    snprintf(ps, sizeof ps, "%d", port);
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if (getaddrinfo(host, ps, &hints, &ai) != 0)
        return -1;
    int fd = -1, one = 1;
    for (struct addrinfo *a = ai; a && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) != 0 || listen(fd, 64) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(ai);
    if (fd >= 0) {
        struct sockaddr_storage ss;
        socklen_t sl = sizeof ss;
        getsockname(fd, (struct sockaddr *)&ss, &sl);
        *bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                : ((struct sockaddr_in *)&ss)->sin_port);
    }
    return fd;
}

static int wait_readable(int fd, uint64_t deadline)
{
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline || stop_requested)
            return 0;
        struct pollfd pf = {fd, POLLIN, 0};
        unsigned slice = deadline - now > 200 ? 200 : (unsigned)(deadline - now);
        int r = poll(&pf, 1, (int)slice);
        if (r > 0)
            return 1;
        if (r < 0 && errno != EINTR)
            return 0;
    }
}

/* One query parameter of target (percent-decoded) into out; 1 if present. */
static int query_param(const char *target, size_t n, const char *key, char *out, size_t cap)
{
    const char *q = memchr(target, '?', n);
    if (!q)
        return 0;
    size_t klen = strlen(key);
    const char *end = target + n;
    for (const char *s = q + 1; s < end;) {
        const char *amp = memchr(s, '&', (size_t)(end - s));
        const char *e = amp ? amp : end;
        if ((size_t)(e - s) > klen && !strncmp(s, key, klen) && s[klen] == '=') {
            size_t k = 0;
            for (const char *v = s + klen + 1; v < e && k + 1 < cap; v++) {
                if (*v == '%' && e - v >= 3) {
                    char hx[3] = {v[1], v[2], 0};
                    char *bad;
                    long c = strtol(hx, &bad, 16);
                    if (!*bad && c > 0) {
                        out[k++] = (char)c;
                        v += 2;
                        continue;
                    }
                }
                out[k++] = *v == '+' ? ' ' : *v;
            }
            out[k] = '\0';
            return 1;
        }
        s = e + 1;
    }
    return 0;
}

/* Answer a URL-protocol request: accept, one text message (text may be NULL), close 1000,
 * wait briefly for the client's close, drop. */
static void answer_ws(int fd, ws_handshake *hs, const char *text, unsigned close_ms)
{
    uint8_t out[4096];
    int n = ws_handshake_accept(hs, NULL, NULL, "Server: wsconform (libws)\r\n", out,
                                sizeof out, NULL);
    if (n < 0)
        return;
    size_t len = (size_t)n;
    ws_frame_header h;
    if (text) {
        memset(&h, 0, sizeof h);
        h.fin = 1;
        h.opcode = WS_OP_TEXT;
        int k = ws_frame_encode(out + len, sizeof out - len, &h, sizeof h, text, strlen(text));
        if (k > 0)
            len += (size_t)k;
    }
    memset(&h, 0, sizeof h);
    h.fin = 1;
    h.opcode = WS_OP_CLOSE;
    int k = ws_frame_encode(out + len, sizeof out - len, &h, sizeof h, "\x03\xe8", 2);
    if (k > 0)
        len += (size_t)k;
    size_t off = 0;
    uint64_t deadline = now_ms() + close_ms;
    while (off < len && now_ms() < deadline) {
        ssize_t w = write(fd, out + off, len - off);
        if (w > 0)
            off += (size_t)w;
        else if (w < 0 && errno != EAGAIN && errno != EINTR)
            break;
        else
            usleep(1000);
    }
    /* read until the client's close or end of file, bounded */
    char sink[4096];
    while (wait_readable(fd, deadline)) {
        ssize_t rd = read(fd, sink, sizeof sink);
        if (rd <= 0 && !(rd < 0 && (errno == EAGAIN || errno == EINTR)))
            break;
        if (rd > 0 && ((uint8_t)sink[0] & 0x0f) == WS_OP_CLOSE)
            break;
    }
}

static void reject(int fd, unsigned status, const char *why)
{
    uint8_t out[512];
    int n = ws_handshake_reject(status, NULL, NULL, why, strlen(why), out, sizeof out, NULL);
    if (n > 0 && write(fd, out, (size_t)n) < 0)
        return;
}

typedef struct conn_req {
    ws_handshake *hs;
    char raw[8192];
    size_t rawlen;
    uint8_t rest[8192];
    size_t restlen;
    const char *target;
    size_t tlen;
} conn_req;

/* Read a request on fd into q. 0 complete, -1 not (answered with an error where possible). */
static int read_request(int fd, conn_req *q, const wc_opts *o)
{
    memset(q, 0, sizeof *q);
    if (ws_handshake_new(&q->hs, WS_ROLE_SERVER, NULL) != WS_OK)
        return -1;
    uint64_t deadline = now_ms() + o->setup_ms;
    uint8_t buf[8192];
    for (;;) {
        if (!wait_readable(fd, deadline))
            return -1;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return -1;
        size_t used = 0;
        int r = ws_handshake_feed(q->hs, buf, (size_t)n, &used);
        if (q->rawlen + used < sizeof q->raw) {
            memcpy(q->raw + q->rawlen, buf, used);
            q->rawlen += used;
        }
        if (r < 0) {
            uint8_t out[512];
            int k = ws_handshake_write_error(q->hs, out, sizeof out, NULL);
            if (k > 0 && write(fd, out, (size_t)k) < 0)
                return -1;
            return -1;
        }
        if (r == WS_HANDSHAKE_COMPLETE) {
            size_t rest = (size_t)n - used;
            if (rest > sizeof q->rest)
                rest = sizeof q->rest;
            memcpy(q->rest, buf + used, rest);
            q->restlen = rest;
            ws_handshake_target(q->hs, &q->target, &q->tlen);
            return 0;
        }
    }
}

static size_t path_len(const conn_req *q)
{
    const char *qm = memchr(q->target, '?', q->tlen);
    return qm ? (size_t)(qm - q->target) : q->tlen;
}

static int path_is(const conn_req *q, const char *p)
{
    return path_len(q) == strlen(p) && !strncmp(q->target, p, path_len(q));
}

/* The case a request names: case=N (1-based in the selection) or casetuple=1.2.3. */
static const conf_case *requested_case(const run *r, const conn_req *q)
{
    char v[64];
    if (query_param(q->target, q->tlen, "case", v, sizeof v)) {
        char *end;
        long k = strtol(v, &end, 10);
        if (*end || k < 1 || (size_t)k > r->nsel)
            return NULL;
        return &r->all[r->sel[k - 1]];
    }
    if (query_param(q->target, q->tlen, "casetuple", v, sizeof v)) {
        for (size_t i = 0; i < r->nsel; i++)
            if (!strcmp(r->all[r->sel[i]].id, v))
                return &r->all[r->sel[i]];
    }
    return NULL;
}

static const wc_result *find_result(const run *r, const char *agent, const char *id)
{
    for (size_t i = 0; i < r->rep.n; i++)
        if (!strcmp(r->rep.r[i].agent, agent) && !strcmp(r->rep.r[i].id, id))
            return &r->rep.r[i];
    return NULL;
}

/* Handle one connection. Returns 1 when the server should stop. */
static int serve_one(run *r, int fd, const char *default_agent, int *ran)
{
    conn_req q;
    int stop = 0;
    *ran = 0;
    if (read_request(fd, &q, &r->o) != 0) {
        ws_handshake_free(q.hs);
        close(fd);
        return 0;
    }
    char agent[128] = "";
    if (!query_param(q.target, q.tlen, "agent", agent, sizeof agent) && default_agent)
        snprintf(agent, sizeof agent, "%s", default_agent);
    const conf_case *c = requested_case(r, &q);
    wc_buf msg = {0};
    if (path_is(&q, "/runCase")) {
        if (!c || !agent[0]) {
            reject(fd, 400, c ? "need agent to run case\n" : "case not found\n");
        } else if (wc_spec_agent_excluded(&r->spec, agent, c->id)) {
            printf("note: skipping case %s for agent %s (exclude-agent-cases)\n", c->id, agent);
            answer_ws(fd, q.hs, NULL, r->o.close_ms);
        } else {
            wc_result res;
            wc_run_server_case(c, fd, q.hs, q.raw, q.rawlen, q.rest, q.restlen, agent, &r->o,
                               &res);
            fd = -1; /* the case closed it */
            record(r, &res, c);
            *ran = 1;
        }
    } else if (path_is(&q, "/getCaseCount")) {
        buf_printf(&msg, "%zu", r->nsel);
        answer_ws(fd, q.hs, msg.p, r->o.close_ms);
    } else if (path_is(&q, "/getCaseInfo")) {
        if (!c) {
            reject(fd, 400, "need case to get info\n");
        } else {
            buf_puts(&msg, "{\"id\": ");
            buf_json_str(&msg, c->id, strlen(c->id));
            buf_puts(&msg, ", \"description\": ");
            buf_json_str(&msg, c->desc, strlen(c->desc));
            buf_puts(&msg, "}");
            answer_ws(fd, q.hs, msg.p, r->o.close_ms);
        }
    } else if (path_is(&q, "/getCaseStatus")) {
        if (!c || !agent[0]) {
            reject(fd, 400, "need case and agent to get status\n");
        } else {
            const wc_result *res = find_result(r, agent, c->id);
            buf_printf(&msg, "{\"behavior\": \"%s\"}",
                       res ? wc_verdict_name(res->behavior) : "MISSING");
            answer_ws(fd, q.hs, msg.p, r->o.close_ms);
        }
    } else if (path_is(&q, "/updateReports")) {
        char sd[16] = "";
        if (wc_report_write_index(&r->rep) != 0)
            fprintf(stderr, "wsconform: cannot write %s/index.json: %s\n", r->rep.outdir,
                    strerror(errno));
        printf("wsconform: reports updated in %s (requested for agent %s)\n", r->rep.outdir,
               agent[0] ? agent : "?");
        answer_ws(fd, q.hs, NULL, r->o.close_ms);
        if (query_param(q.target, q.tlen, "shutdownOnComplete", sd, sizeof sd) &&
            (!strcmp(sd, "true") || !strcmp(sd, "yes") || !strcmp(sd, "True")))
            stop = 1;
    } else if (path_is(&q, "/stopServer")) {
        answer_ws(fd, q.hs, NULL, r->o.close_ms);
        stop = 1;
    } else {
        reject(fd, 404, "wsconform: unknown path (see wsconform --help, SERVER MODE)\n");
    }
    buf_free(&msg);
    ws_handshake_free(q.hs);
    if (fd >= 0)
        close(fd);
    fflush(stdout);
    return stop;
}

static int mode_server(run *r, const char *host, int port, const char *client_cmd,
                       unsigned lifetime_s)
{
    uint64_t t0 = now_ms();
    int bound = 0;
    if (!r->rep.outdir)
        r->rep.outdir = r->spec.outdir ? r->spec.outdir : "./reports/clients";
    int lfd = listen_on(host, port, &bound);
    if (lfd < 0) {
        fprintf(stderr, "wsconform: cannot listen on %s:%d: %s\n", host, port, strerror(errno));
        return 2;
    }
    printf("wsconform: listening on %s:%d, %zu cases\n", host, bound, r->nsel);
    fflush(stdout);
    if (client_cmd) {
        const char *agent = r->agent_opt ? r->agent_opt : "client";
        for (size_t i = 0; i < r->nsel && !stop_requested; i++) {
            const conf_case *c = &r->all[r->sel[i]];
            if (wc_spec_agent_excluded(&r->spec, agent, c->id))
                continue;
            char url[512], cs[24], ps[8];
            snprintf(cs, sizeof cs, "%zu", i + 1);
            snprintf(ps, sizeof ps, "%d", bound);
            snprintf(url, sizeof url, "ws://%s%s%s:%d/runCase?case=%zu&agent=%s",
                     strchr(host, ':') ? "[" : "", host, strchr(host, ':') ? "]" : "", bound,
                     i + 1, agent);
            char *cmd = expand(client_cmd, url, cs, agent, ps);
            pid_t child = spawn_sh(cmd, r->o.verbose);
            free(cmd);
            int ran = 0;
            uint64_t deadline = now_ms() + r->o.setup_ms;
            while (!ran && !stop_requested && wait_readable(lfd, deadline)) {
                int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
                if (fd < 0)
                    continue;
                serve_one(r, fd, agent, &ran);
            }
            if (!ran) {
                wc_result res;
                memset(&res, 0, sizeof res);
                snprintf(res.id, sizeof res.id, "%s", c->id);
                snprintf(res.agent, sizeof res.agent, "%s", agent);
                res.behavior = res.behavior_close = V_FAILED;
                res.remote_code = -1;
                snprintf(res.result, sizeof res.result,
                         "The client command did not connect within %u ms", r->o.setup_ms);
                snprintf(res.result_close, sizeof res.result_close,
                         "The WebSocket opening handshake was never completed!");
                record(r, &res, c);
            }
            kill(-child, SIGTERM);
            reap(child, r->o.close_ms + 2000);
        }
    } else {
        uint64_t idle_since = now_ms();
        for (;;) {
            if (stop_requested)
                break;
            uint64_t deadline = lifetime_s ? idle_since + lifetime_s * 1000ull : now_ms() + 1000;
            if (!wait_readable(lfd, deadline)) {
                if (lifetime_s && now_ms() >= idle_since + lifetime_s * 1000ull) {
                    printf("wsconform: %u s without a connection: exiting\n", lifetime_s);
                    break;
                }
                continue;
            }
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd < 0)
                continue;
            int ran;
            if (serve_one(r, fd, NULL, &ran))
                break;
            idle_since = now_ms();
        }
    }
    close(lfd);
    if (wc_report_write_index(&r->rep) != 0)
        fprintf(stderr, "wsconform: cannot write %s/index.json: %s\n", r->rep.outdir,
                strerror(errno));
    summary(r, r->agent_opt ? r->agent_opt : "clients", t0);
    return r->failed ? 1 : 0;
}

/* ---- the command line ---- */

static unsigned long num_arg(const char *opt, const char *v)
{
    char *end;
    errno = 0;
    unsigned long x = strtoul(v, &end, 10);
    if (!*v || *end || errno || v[0] == '-')
        usage_error("%s needs a non-negative number", opt);
    return x;
}

int main(int argc, char **argv)
{
    run r;
    const char *mode = argc > 1 ? argv[1] : NULL, *url = NULL, *spec_path = NULL;
    const char *server_cmd = NULL, *client_cmd = NULL, *host = "127.0.0.1", *profile = NULL;
    const char *cases_csv = NULL, *exclude_csv = NULL;
    long port = -1;
    unsigned lifetime = 0;
    int extensions = 0;
    struct {
        long max_message, rtt, pmd_count, pmd_bytes, wait;
    } ov = {-1, -1, -1, -1, -1};

    memset(&r, 0, sizeof r);
    wc_opts_autobahn(&r.o);
    if (!mode || !strcmp(mode, "--help") || !strcmp(mode, "-h") || !strcmp(mode, "help")) {
        print_usage(mode ? stdout : stderr);
        return mode ? 0 : 2;
    }
    if (strcmp(mode, "client") && strcmp(mode, "server") && strcmp(mode, "list"))
        usage_error("unknown mode '%s' (client, server or list)", mode);
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define TAKE(opt) (!strcmp(a, opt) && (v ? 1 : (usage_error("%s needs a value", opt), 0)) && ++i)
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_usage(stdout);
            return 0;
        } else if (TAKE("--cases")) {
            cases_csv = v;
        } else if (TAKE("--exclude")) {
            exclude_csv = v;
        } else if (TAKE("--agent")) {
            r.agent_opt = v;
        } else if (TAKE("--spec")) {
            spec_path = v;
        } else if (TAKE("--outdir")) {
            r.rep.outdir = v;
        } else if (TAKE("--profile")) {
            profile = v;
        } else if (TAKE("--max-message")) {
            ov.max_message = (long)num_arg(a, v);
        } else if (TAKE("--rtt-count")) {
            ov.rtt = (long)num_arg(a, v);
        } else if (TAKE("--pmd-count")) {
            ov.pmd_count = (long)num_arg(a, v);
        } else if (TAKE("--pmd-bytes")) {
            ov.pmd_bytes = (long)num_arg(a, v);
        } else if (TAKE("--wait-ms")) {
            ov.wait = (long)num_arg(a, v);
        } else if (TAKE("--server-cmd")) {
            server_cmd = v;
        } else if (TAKE("--client-cmd")) {
            client_cmd = v;
        } else if (TAKE("--host")) {
            host = v;
        } else if (TAKE("--port")) {
            port = (long)num_arg(a, v);
            if (port > 65535)
                usage_error("%s: port out of range", a);
        } else if (TAKE("--lifetime")) {
            lifetime = (unsigned)num_arg(a, v);
        } else if (!strcmp(a, "--extensions")) {
            extensions = 1;
        } else if (!strcmp(a, "--strict")) {
            r.o.strict = 1;
        } else if (!strcmp(a, "--verbose")) {
            r.o.verbose = 1;
        } else if (a[0] != '-' && !url && !strcmp(mode, "client")) {
            url = a;
        } else {
            usage_error("unknown argument '%s'", a);
        }
#undef TAKE
    }
    if (profile && wc_opts_profile(&r.o, profile) != 0)
        usage_error("unknown profile '%s' (autobahn, ci, quick)", profile);
    if (ov.max_message >= 0)
        r.o.max_message = (size_t)ov.max_message;
    if (ov.rtt >= 0)
        r.o.rtt_count = (unsigned)ov.rtt;
    if (ov.pmd_count >= 0)
        r.o.pmd_count = (unsigned)ov.pmd_count;
    if (ov.pmd_bytes >= 0)
        r.o.pmd_bytes = (size_t)ov.pmd_bytes;
    if (ov.wait >= 0)
        r.o.wait_ms = (unsigned)ov.wait;
    if (r.o.pmd_min > r.o.pmd_count)
        r.o.pmd_min = r.o.pmd_count;

    char err[300];
    if (spec_path) {
        if (wc_spec_load(&r.spec, spec_path, err, sizeof err) != 0) {
            fprintf(stderr, "wsconform: %s\n", err);
            return 2;
        }
        if (r.spec.warnings[0])
            fprintf(stderr, "wsconform: %s: %s\n", spec_path, r.spec.warnings);
        if (cases_csv) { /* the command line wins over the spec's lists */
            for (size_t i = 0; i < r.spec.ncases; i++)
                free(r.spec.cases[i]);
            r.spec.ncases = 0;
        }
    }
    if (cases_csv)
        wc_spec_add_patterns(&r.spec.cases, &r.spec.ncases, cases_csv);
    if (exclude_csv)
        wc_spec_add_patterns(&r.spec.exclude, &r.spec.nexclude, exclude_csv);
    if (!r.spec.ncases)
        wc_spec_add_patterns(&r.spec.cases, &r.spec.ncases, "*");
    if (extensions)
        wc_spec_add_patterns(&r.spec.cases, &r.spec.ncases, "20.*");

    r.nall = conf_cases(&r.all, &r.o);
    r.sel = malloc((r.nall + 1) * sizeof *r.sel);
    if (!r.sel)
        return 2;
    r.nsel = wc_spec_select(&r.spec, r.all, r.nall, r.sel);
    r.rep.cases = r.all;
    r.rep.ncases = r.nall;
    if (!conf_have_zlib())
        fprintf(stderr, "wsconform: built without zlib: groups 12 and 13 (permessage-deflate) "
                        "are not available\n");

    int rc;
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(mode, "list")) {
        for (size_t i = 0; i < r.nsel; i++) {
            const conf_case *c = &r.all[r.sel[i]];
            printf("%-9s %s%s\n", c->id, c->extension ? "[extension] " : "", c->desc);
        }
        printf("%zu cases\n", r.nsel);
        rc = 0;
    } else if (!r.nsel) {
        fprintf(stderr, "wsconform: no case selected\n");
        rc = 2;
    } else if (!strcmp(mode, "client")) {
        if (client_cmd || lifetime)
            usage_error("%s", "--client-cmd and --lifetime are for server mode");
        rc = mode_client(&r, url, server_cmd);
    } else {
        if (server_cmd || url)
            usage_error("%s", "--server-cmd and a URL are for client mode");
        if (port < 0 && r.spec.url) {
            ws_uri u;
            if (ws_uri_parse(r.spec.url, strlen(r.spec.url), &u, sizeof u) == WS_OK)
                port = u.port;
        }
        rc = mode_server(&r, host, port < 0 ? 9001 : (int)port, client_cmd, lifetime);
    }
    wc_report_free(&r.rep);
    wc_spec_free(&r.spec);
    conf_cases_free(r.all, r.nall);
    free(r.sel);
    return rc;
}
