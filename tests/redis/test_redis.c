/*
 * broadcast --redis across three server processes (issue 18), end to end: a real
 * redis-server (started here on a free loopback port, in a temporary folder), three
 * broadcast nodes, and one driver process holding every client on non-blocking sockets
 * (epoll). Run by `make redis-check`; every wait is bounded and the whole run is about a
 * minute.
 *
 *   1. 300 clients spread over the nodes, each publishes PUBS_EACH messages: every client
 *      receives every message exactly once, in stream order, each publisher's in order;
 *   2. a node is killed (SIGKILL) while its clients publish: they fail over to the others
 *      with full-jitter backoff (and 503 + Retry-After from the accept-rate limit, counted),
 *      present their last ID, get what they missed by replay then live traffic, resend what
 *      they had published but never saw come back: again every message exactly once at
 *      every client, in order; reconnect times and the spread of the attempts are printed;
 *   3. Redis is killed and restarted (same port, its append-only file) while clients
 *      publish: the nodes keep every client, refuse what their bounded queue cannot hold
 *      ("!dropped N", counted, the queue's peak within its bound), reconnect, and then every
 *      message that was not refused reaches every client exactly once, in order; none that
 *      was refused reaches anyone;
 *   4. a client whose last ID is older than the retained window (MAXLEN) is told "!gap A B"
 *      and then sent what is retained, from B; one whose last ID is retained gets exactly
 *      what followed it; a malformed last ID is refused with 400;
 *   5. wsc --reconnect --resume with two URLs: its node is killed, it fails over to the
 *      second and gets the messages it missed by replay before "!live", each once, in
 *      order;
 *   6. --redis-local: while Redis is unreachable a message reaches the clients of its node
 *      (ID "-"), not the others'.
 *   7. a node stopped (SIGSTOP) while 300 messages are added under MAXLEN ~ 100: its reader,
 *      still connected, finds its last entry trimmed; its client is told "!gap A B" (A the
 *      last message it had, B the next it gets), once, then gets every retained one;
 *   8. a stand-in Redis (no redis-server) that never answers a client's replay query, then
 *      answers it with nonsense: the node gives each connection up (--redis-timeout, the
 *      answer it cannot use), reconnects, asks again, and the client, kept connected all
 *      along, gets its replay and "!live".
 *
 * Each line "info: ..." is a measurement. REDIS_SERVER names the redis-server binary
 * (default: found on PATH); EX_DIR the built examples (default build/examples); REDIS_TEST
 * runs the tests whose name matches it.
 */
#include "../ex_util.h"

#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>

enum {
    NODES = 3,
    CLIENTS = 300,
    PUBS_EACH = 4,       /* test 1: messages per client */
    MAX_SEQ = 400,       /* messages a client may publish in one test */
    RATE = 40,           /* --max-accept-rate of each node */
    RETRY = 2,           /* --retry-after */
    QUEUE = 40,          /* test 3: --redis-queue */
    GAP_MAXLEN = 100     /* test 4: --redis-maxlen */
};

/* ---- redis-server ---- */

typedef struct redis {
    pid_t pid;
    int port;
    char dir[128];
} redis;

static int free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static int can_connect(int port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    close(fd);
    return ok;
}

/* The test's redis-server, kept here rather than on the test's stack: a test that fails
 * midway leaves through a longjmp, and the teardown stops what it left. */
static redis the_redis;

static redis *redis_fresh(void)
{
    memset(&the_redis, 0, sizeof the_redis);
    return &the_redis;
}

#define DIR_PREFIX "libws-redis-"

/* Start redis-server on r->port (0: a free one) in r->dir (made if empty:
 * /tmp/libws-redis-PID-XXXXXX, PID this process, see sweep_stale_dirs); persistent: an
 * append-only file synced at every write, so a killed Redis comes back with the stream. */
static void redis_start(redis *r, int persistent)
{
    const char *bin = getenv("REDIS_SERVER");
    char port[16], log[200];
    if (!r->dir[0]) {
        snprintf(r->dir, sizeof r->dir, "/tmp/" DIR_PREFIX "%d-XXXXXX", (int)getpid());
        assert_non_null(mkdtemp(r->dir));
    }
    if (!r->port)
        r->port = free_port();
    snprintf(port, sizeof port, "%d", r->port);
    snprintf(log, sizeof log, "%s/redis.log", r->dir);
    r->pid = fork();
    assert_true(r->pid >= 0);
    if (r->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        execlp(bin && *bin ? bin : "redis-server", "redis-server", "--port", port, "--bind",
               "127.0.0.1", "--dir", r->dir, "--logfile", log, "--save", "", "--appendonly",
               persistent ? "yes" : "no", "--appendfsync", "always", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && !can_connect(r->port); i++)
        usleep(10000);
    assert_true(can_connect(r->port));
}

static void redis_kill(redis *r)
{
    if (r->pid <= 0)
        return;
    kill(r->pid, SIGKILL); /* stopped (SIGSTOP) or not */
    waitpid(r->pid, NULL, 0);
    r->pid = 0;
}

/* Remove the folder and what redis put in it (files, and appendonlydir's files). */
static void rm_tree(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[400];
    if (!d)
        return;
    while ((e = readdir(d)) != NULL) {
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            rm_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* Kill it and remove its folder (either may be done already). */
static void redis_stop(redis *r)
{
    redis_kill(r);
    if (r->dir[0])
        rm_tree(r->dir);
    r->dir[0] = '\0';
}

/* Folders a run left when it died before its teardown (killed, or its alarm): those whose
 * PID is no longer a process. A run's own, and a concurrent run's, are left alone. */
static void sweep_stale_dirs(void)
{
    DIR *d = opendir("/tmp");
    struct dirent *e;
    char path[300];
    while (d && (e = readdir(d)) != NULL) {
        const char *p = e->d_name + strlen(DIR_PREFIX);
        char *end;
        if (strncmp(e->d_name, DIR_PREFIX, strlen(DIR_PREFIX)) != 0)
            continue;
        long pid = strtol(p, &end, 10);
        if (end == p || *end != '-' || pid <= 0 || kill((pid_t)pid, 0) == 0 || errno != ESRCH)
            continue; /* not ours, or its process lives */
        snprintf(path, sizeof path, "/tmp/%s", e->d_name);
        rm_tree(path);
    }
    if (d)
        closedir(d);
}

/* ---- the nodes ---- */

static ex_server node[NODES];
static int node_alive[NODES];

static void nodes_start(const redis *r, const char *const *more)
{
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", r->port);
    for (int i = 0; i < NODES; i++) {
        const char *extra[24] = {"--redis", addr, "--stats", "--max-accept-rate", "40",
                                 "--retry-after", "2", "--redis-timeout", "1", "--stream",
                                 "fleet"};
        int n = 11;
        for (int k = 0; more && more[k] && n < 23; k++)
            extra[n++] = more[k];
        extra[n] = NULL;
        ex_start(&node[i], "broadcast", extra, 0);
        node_alive[i] = 1;
    }
}

/* Wait for the node's next stats line (at most 3 s: one comes every 1-2 s); the value of
 * key in it. */
static long long fresh_stat(ex_server *s, const char *key)
{
    uint64_t end = now_ms() + 3000;
    ex_read_stats(s); /* lines already in the pipe tell of the past */
    s->stats[0] = '\0';
    while (!s->stats[0] && now_ms() < end) {
        usleep(10000);
        ex_read_stats(s);
    }
    return ex_stat(s, key);
}

static long long stat_sum(const char *key)
{
    long long sum = 0;
    for (int i = 0; i < NODES; i++)
        if (node_alive[i]) {
            long long v = fresh_stat(&node[i], key);
            sum += v > 0 ? v : 0;
        }
    return sum;
}

static void nodes_report(const char *what)
{
    for (int i = 0; i < NODES; i++)
        if (node_alive[i]) {
            fresh_stat(&node[i], "connections");
            print_message("info: %s: node %d RSS %ld KiB; %s", what, i, ex_rss_kb(node[i].pid),
                          node[i].stats);
        }
}

static void nodes_stop(void)
{
    for (int i = 0; i < NODES; i++)
        if (node_alive[i]) {
            assert_int_equal(ex_stop(&node[i]), 0);
            node_alive[i] = 0;
        }
}

/* ---- the clients ---- */

enum { C_IDLE, C_CONNECTING, C_OPEN, C_LIVE };

typedef struct cli {
    int idx, fd, state, node;
    ws_conn *c;
    ws_backoff bo;
    uint64_t retry_at;
    uint32_t retry_after_ms;  /* the last 503's hint */
    int was_live;             /* has a place in the stream: reconnects with ?last= */
    int closed_seen;
    char last[48];            /* the last stream ID received */
    struct {
        uint64_t ms, seq;
    } last_id;
    /* publishing */
    int sent;                 /* seqs 1..sent published */
    uint8_t acked[MAX_SEQ + 1], dropped[MAX_SEQ + 1], resent[MAX_SEQ + 1];
    int conn_seqs[MAX_SEQ * 2]; /* the seqs sent on this connection, in order */
    int conn_n;
    uint64_t next_pub;        /* when to publish the next one (0: not scheduled) */
    int to_publish;           /* how many this test wants it to publish in all */
    /* receiving */
    uint16_t *from;           /* per publisher: the last seq received */
    long received, dups, order, gaps, locals, foreign;
    char gap_text[128];       /* the last "!gap A B" */
    char gap_at[48];          /* the last ID it had received when told */
    char after_gap[48];       /* the ID of the first message received after it */
    /* reconnection */
    int attempts, refused503, reconnects;
    int refused_tcp;          /* attempts refused at once (nothing listening: a dead node) */
    uint64_t down_at, open_at, live_at, first_try_at;
    uint32_t drawn;           /* the full-jitter delay drawn when its node died */
} cli;

static cli *cls;
static int nclients;
static int ep;
static uint64_t t_kill;

static void cli_watch(cli *c, int op)
{
    struct epoll_event e;
    e.events = EPOLLIN | (c->c && ws_conn_buffered_amount(c->c) ? EPOLLOUT : 0) |
               (c->state == C_CONNECTING ? EPOLLOUT : 0);
    e.data.ptr = c;
    epoll_ctl(ep, op, c->fd, &e);
}

static void cli_connect(cli *c, uint64_t now)
{
    struct sockaddr_in a;
    char url[128];
    int one = 1;
    c->attempts++;
    if (!c->first_try_at && t_kill && c->reconnects)
        c->first_try_at = now;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(c->fd >= 0);
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)node[c->node].port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(c->fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        /* refused at once (a dead node): counts as an attempt, try again later */
        close(c->fd);
        c->fd = -1;
        c->refused_tcp++;
        uint32_t rnd = (uint32_t)rand(), d = 0;
        ws_backoff_next(&c->bo, rnd, &d);
        c->retry_at = now + d;
        c->node = (c->node + 1) % NODES;
        return;
    }
    assert_int_equal(ws_conn_new(&c->c, WS_ROLE_CLIENT, 0, NULL), WS_OK);
    if (c->was_live)
        snprintf(url, sizeof url, "ws://127.0.0.1:%d/?last=%s", node[c->node].port, c->last);
    else
        snprintf(url, sizeof url, "ws://127.0.0.1:%d/", node[c->node].port);
    assert_int_equal(ws_conn_client_start(c->c, url, NULL, 0, NULL, NULL), WS_OK);
    c->state = C_CONNECTING;
    c->conn_n = 0;
    cli_watch(c, EPOLL_CTL_ADD);
}

/* The connection is over: free it, and (always, in these tests) reconnect after a
 * full-jitter delay plus the server's Retry-After, to the next node. */
static void cli_down(cli *c, uint64_t now)
{
    uint32_t d = 0;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    ws_conn_free(c->c);
    c->c = NULL;
    c->fd = -1;
    if (c->state == C_LIVE || c->state == C_OPEN) {
        c->down_at = now;
        c->reconnects++;
        c->open_at = c->live_at = 0;
        ws_backoff_disconnected(&c->bo, now);
    }
    int first_after_kill = t_kill && c->state != C_IDLE && c->reconnects == 1 &&
                           c->down_at == now && !c->first_try_at;
    c->state = C_IDLE;
    c->closed_seen = 0; /* that connection's close: the next one starts afresh */
    ws_backoff_next(&c->bo, (uint32_t)rand(), &d);
    if (first_after_kill)
        c->drawn = d;
    c->retry_at = now + d + c->retry_after_ms;
    c->retry_after_ms = 0;
    c->node = (c->node + 1) % NODES;
}

static void publish(cli *c, int seq)
{
    char msg[32];
    int n = snprintf(msg, sizeof msg, "P%d:%d", c->idx, seq);
    assert_int_equal(ws_conn_send(c->c, WS_OP_TEXT, msg, (size_t)n, 0), WS_OK);
    assert_true(c->conn_n < (int)(sizeof c->conn_seqs / sizeof c->conn_seqs[0]));
    c->conn_seqs[c->conn_n++] = seq;
}

/* After "!live" on a new connection: what it published and never saw come back (nor was
 * told was dropped) went down with the old node: send it again, in order. */
static void resend_unacked(cli *c)
{
    for (int s = 1; s <= c->sent; s++)
        if (!c->acked[s] && !c->dropped[s]) {
            c->resent[s] = 1;
            publish(c, s);
        }
}

static int parse_sid(const char *p, size_t n, uint64_t *ms, uint64_t *seq)
{
    char buf[48];
    if (n == 0 || n >= sizeof buf)
        return -1;
    memcpy(buf, p, n);
    buf[n] = '\0';
    return sscanf(buf, "%" SCNu64 "-%" SCNu64, ms, seq) == 2 ? 0 : -1;
}

static void on_message(cli *c, const uint8_t *p, size_t n, uint64_t now)
{
    const char *s = (const char *)p;
    if (n >= 1 && s[0] == '!') {
        if (n == 5 && !memcmp(s, "!live", 5)) {
            int again = c->was_live;
            c->state = C_LIVE;
            c->was_live = 1;
            c->live_at = now;
            if (again)
                resend_unacked(c);
        } else if (n > 9 && !memcmp(s, "!dropped ", 9)) {
            char num[16];
            snprintf(num, sizeof num, "%.*s", (int)(n - 9 < 15 ? n - 9 : 15), s + 9);
            int k = atoi(num);
            if (k < 1 || k > c->conn_n)
                fail_msg("client %d: \"%.*s\" but %d sent on this connection (%d reconnects)",
                         c->idx, (int)n, s, c->conn_n, c->reconnects);
            c->dropped[c->conn_seqs[k - 1]] = 1;
        } else if (n > 5 && !memcmp(s, "!gap ", 5)) {
            c->gaps++;
            snprintf(c->gap_text, sizeof c->gap_text, "%.*s", (int)n, s);
            snprintf(c->gap_at, sizeof c->gap_at, "%s", c->last);
            c->after_gap[0] = '\0';
        }
        return;
    }
    const char *nl = memchr(s, '\n', n);
    assert_non_null(nl);
    if (nl == s + 1 && s[0] == '-') {
        c->locals++;
        return;
    }
    uint64_t ms, seq;
    assert_int_equal(parse_sid(s, (size_t)(nl - s), &ms, &seq), 0);
    if (ms < c->last_id.ms || (ms == c->last_id.ms && seq <= c->last_id.seq)) {
        c->dups++; /* not above the last ID: a duplicate (or out of stream order) */
        return;
    }
    c->last_id.ms = ms;
    c->last_id.seq = seq;
    snprintf(c->last, sizeof c->last, "%.*s", (int)(nl - s), s);
    if (c->gaps && !c->after_gap[0])
        snprintf(c->after_gap, sizeof c->after_gap, "%s", c->last);
    int pub, pseq;
    char body[40];
    snprintf(body, sizeof body, "%.*s", (int)(n - (size_t)(nl + 1 - s)), nl + 1);
    if (sscanf(body, "P%d:%d", &pub, &pseq) != 2 || pub < 0 || pub >= nclients || pseq < 1 ||
        pseq > MAX_SEQ) {
        c->foreign++;
        return;
    }
    if (pseq <= c->from[pub])
        c->order++;
    else
        c->from[pub] = (uint16_t)pseq;
    c->received++;
    if (pub == c->idx)
        c->acked[pseq] = 1;
}

static uint64_t g_now;

static void on_events(void *arg)
{
    cli *c = arg;
    ws_event ev;
    while (ws_conn_next_event(c->c, &ev, sizeof ev) > 0) {
        if (ev.type == WS_EV_OPEN) {
            c->state = C_OPEN;
            c->open_at = g_now;
            ws_backoff_connected(&c->bo, g_now);
        } else if (ev.type == WS_EV_MESSAGE) {
            on_message(c, ev.data, ev.len, g_now);
        } else if (ev.type == WS_EV_ERROR && ev.error == WS_ERR_HS_STATUS) {
            const ws_handshake *hs = ws_conn_handshake(c->c);
            const char *v;
            size_t n;
            if (ws_handshake_status(hs) == 503) {
                c->refused503++;
                if (ws_handshake_header(hs, "Retry-After", 0, &v, &n) == WS_OK)
                    c->retry_after_ms = (uint32_t)atoi(v) * 1000u;
            }
        } else if (ev.type == WS_EV_CLOSE) {
            c->closed_seen = 1;
        }
    }
}

static void cli_io(cli *c, uint32_t events)
{
    static uint8_t buf[1 << 16];
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        for (int k = 0; k < 4; k++) {
            ssize_t n = read(c->fd, buf, sizeof buf);
            if (n > 0) {
                ex_feed(c->c, buf, (size_t)n, on_events, c);
                if ((size_t)n < sizeof buf)
                    break;
                continue;
            }
            if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                ws_conn_feed_eof(c->c);
                on_events(c);
                cli_down(c, g_now);
                return;
            }
            break;
        }
    }
    ex_flush(c->c, c->fd, 0);
    if (c->closed_seen || ws_conn_wants_shutdown(c->c)) {
        c->closed_seen = 0;
        cli_down(c, g_now);
        return;
    }
    cli_watch(c, EPOLL_CTL_MOD);
}

/* One round: I/O for up to wait_ms, then reconnections and scheduled publishing. */
static void pump(int wait_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(ep, evs, 256, wait_ms);
    g_now = now_ms();
    for (int i = 0; i < n; i++) {
        cli *c = evs[i].data.ptr;
        if (c->c)
            cli_io(c, evs[i].events);
    }
    for (int i = 0; i < nclients; i++) {
        cli *c = &cls[i];
        if (c->state == C_IDLE && c->retry_at <= g_now)
            cli_connect(c, g_now);
        if (c->state == C_LIVE && c->next_pub && c->next_pub <= g_now &&
            c->sent < c->to_publish) {
            publish(c, ++c->sent);
            c->next_pub = c->sent < c->to_publish ? c->next_pub + 200 + (uint64_t)(rand() % 200)
                                                  : 0;
            ex_flush(c->c, c->fd, 0);
            cli_watch(c, EPOLL_CTL_MOD);
        }
    }
}

static void clients_start(int n)
{
    nclients = n;
    cls = calloc((size_t)n, sizeof *cls);
    assert_non_null(cls);
    ep = epoll_create1(0);
    assert_true(ep >= 0);
    t_kill = 0;
    for (int i = 0; i < n; i++) {
        cli *c = &cls[i];
        c->idx = i;
        c->fd = -1;
        c->node = i % NODES;
        c->from = calloc((size_t)n, sizeof *c->from);
        assert_non_null(c->from);
        ws_backoff_init(&c->bo, sizeof c->bo, 200, 5000, 10000);
        c->state = C_IDLE;
        c->retry_at = 0;
    }
}

static int count_live(void)
{
    int k = 0;
    for (int i = 0; i < nclients; i++)
        k += cls[i].state == C_LIVE;
    return k;
}

static void await_all_live(int timeout_ms)
{
    uint64_t end = now_ms() + (uint64_t)timeout_ms;
    while (count_live() < nclients && now_ms() < end)
        pump(20);
    assert_int_equal(count_live(), nclients);
}

static void clients_free(void)
{
    for (int i = 0; i < nclients; i++) {
        if (cls[i].c) {
            close(cls[i].fd);
            ws_conn_free(cls[i].c);
        }
        free(cls[i].from);
    }
    free(cls);
    cls = NULL;
    close(ep);
}

/* The messages that count: published and not refused. */
static long expected_total(void)
{
    long k = 0;
    for (int i = 0; i < nclients; i++)
        for (int s = 1; s <= cls[i].sent; s++)
            k += !cls[i].dropped[s];
    return k;
}

static int all_delivered(long total)
{
    for (int i = 0; i < nclients; i++)
        if (cls[i].received < total || cls[i].sent < cls[i].to_publish)
            return 0;
    return 1;
}

/* Wait until every client has every message (bounded); then check and print. */
static void await_and_check(const char *what, int timeout_ms)
{
    uint64_t start = now_ms(), end = start + (uint64_t)timeout_ms;
    long total = expected_total();
    while (!all_delivered(total) && now_ms() < end) {
        pump(20);
        total = expected_total();
    }
    long dups = 0, order = 0, minr = LONG_MAX, maxr = 0, dropped = 0, resent = 0, foreign = 0;
    long gaps = 0;
    for (int i = 0; i < nclients; i++) {
        cli *c = &cls[i];
        dups += c->dups;
        order += c->order;
        foreign += c->foreign;
        gaps += c->gaps;
        minr = c->received < minr ? c->received : minr;
        maxr = c->received > maxr ? c->received : maxr;
        for (int s = 1; s <= c->sent; s++) {
            dropped += c->dropped[s];
            resent += c->resent[s];
        }
        /* a refused message reaches nobody: not even its publisher saw it come back */
        for (int s = 1; s <= c->sent; s++)
            if (c->dropped[s])
                assert_false(c->acked[s]);
    }
    for (int i = 0, shown = 0; i < nclients && shown < 5; i++) {
        cli *c = &cls[i];
        if (c->received == total && !c->dups && !c->order)
            continue;
        shown++;
        print_message("short: client %d node %d state %d reconnects %d received %ld of %ld, "
                      "sent %d/%d; missing:", c->idx, c->node, c->state, c->reconnects,
                      c->received, total, c->sent, c->to_publish);
        for (int p = 0, k = 0; p < nclients && k < 8; p++)
            for (int q = c->from[p] + 1; q <= cls[p].sent && k < 8; q++)
                if (!cls[p].dropped[q]) {
                    print_message(" P%d:%d(by %d%s)", p, q, cls[p].node,
                                  cls[p].acked[q] ? ", acked" : "");
                    k++;
                }
        print_message("\n");
    }
    print_message("info: %s: %d clients, %ld messages published and not refused (%ld refused "
                  "with !dropped, %ld resent after a failover); received per client min %ld "
                  "max %ld; duplicates %ld, order violations %ld, gap notices %ld\n",
                  what, nclients, total, dropped, resent, minr, maxr, dups, order, gaps);
    assert_int_equal(dups, 0);
    assert_int_equal(order, 0);
    assert_int_equal(foreign, 0);
    assert_int_equal(gaps, 0);
    assert_int_equal(minr, total);
    assert_int_equal(maxr, total);
}

/* Clients i with i % every == 0 publish count more messages, the first within spread_ms, the
 * next ones 200-400 ms apart. */
static void schedule_publishing(int count, int spread_ms, int every)
{
    uint64_t now = now_ms();
    for (int i = 0; i < nclients; i += every) {
        cls[i].to_publish += count;
        cls[i].next_pub = now + 1 + (uint64_t)(rand() % spread_ms);
    }
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* ---- 1 ---- */

static void test_three_nodes(void **state)
{
    redis *r = redis_fresh();
    (void)state;
    srand(1);
    redis_start(r, 0);
    nodes_start(r, NULL);
    clients_start(CLIENTS);
    uint64_t t0 = now_ms();
    await_all_live(30000);
    print_message("info: fleet: %d clients live on %d nodes in %llu ms (%lld connections "
                  "answered 503 on the way, accept rate %d/s per node)\n",
                  CLIENTS, NODES, (unsigned long long)(now_ms() - t0), stat_sum("refused_503"),
                  RATE);
    t0 = now_ms();
    schedule_publishing(PUBS_EACH, 1000, 1);
    await_and_check("fleet", 40000);
    print_message("info: fleet: %d x %d messages to %d clients each in %llu ms\n", CLIENTS,
                  PUBS_EACH, CLIENTS, (unsigned long long)(now_ms() - t0));
    nodes_report("fleet");
    clients_free();
    nodes_stop();
    redis_stop(r);
}

/* ---- 2 ---- */

static void test_node_killed(void **state)
{
    redis *r = redis_fresh();
    uint64_t *first = calloc(CLIENTS, sizeof *first), *live = calloc(CLIENTS, sizeof *live);
    uint64_t *drawn = calloc(CLIENTS, sizeof *drawn);
    int nk = 0, hist[12] = {0}, dhist[12] = {0};
    (void)state;
    srand(2);
    redis_start(r, 0);
    nodes_start(r, NULL);
    clients_start(CLIENTS);
    await_all_live(30000);
    /* 503s counted by the nodes that will survive (node 0's go with it) */
    long long before503 = 0;
    for (int i = 1; i < NODES; i++)
        before503 += fresh_stat(&node[i], "refused_503");
    for (int i = 0; i < nclients; i++)
        cls[i].attempts = cls[i].refused503 = cls[i].refused_tcp = 0;
    schedule_publishing(3, 2500, 1);
    /* Publishing is under way: kill node 0 in the middle of it. */
    for (uint64_t end = now_ms() + 700; now_ms() < end;)
        pump(10);
    int on_killed = 0;
    for (int i = 0; i < nclients; i++)
        on_killed += cls[i].node == 0;
    kill(node[0].pid, SIGKILL);
    t_kill = now_ms();
    waitpid(node[0].pid, NULL, 0);
    close(node[0].out);
    node_alive[0] = 0;
    await_and_check("node killed", 40000);
    long long after503 = stat_sum("refused_503");
    long attempts = 0, c503 = 0, tcp_refused = 0;
    int ahist[7] = {0};
    for (int i = 0; i < nclients; i++) {
        cli *c = &cls[i];
        if (!c->reconnects)
            continue;
        assert_true(c->live_at > t_kill);
        assert_true(c->node != 0); /* it ended up on one of the others */
        first[nk] = c->first_try_at - t_kill;
        drawn[nk] = c->drawn;
        dhist[c->drawn / 100 < 11 ? c->drawn / 100 : 11]++;
        live[nk++] = c->live_at - t_kill;
        attempts += c->attempts;
        c503 += c->refused503;
        tcp_refused += c->refused_tcp;
        ahist[c->attempts < 6 ? c->attempts : 6]++;
        hist[first[nk - 1] / 100 < 11 ? first[nk - 1] / 100 : 11]++;
    }
    qsort(first, (size_t)nk, sizeof *first, cmp_u64);
    qsort(drawn, (size_t)nk, sizeof *drawn, cmp_u64);
    qsort(live, (size_t)nk, sizeof *live, cmp_u64);
    assert_int_equal(nk, on_killed); /* node 0's clients, and only they, reconnected */
    print_message("info: node killed: %d clients reconnected (%ld attempts, %ld answered 503 "
                  "by the survivors' accept-rate limit: %lld counted by the nodes)\n",
                  nk, attempts, c503, after503 - before503);
    print_message("info: node killed: attempts per client until live again: 1: %d, 2: %d, "
                  "3: %d, 4: %d, 5: %d, more: %d; %ld refused at once (the dead node)\n",
                  ahist[1], ahist[2], ahist[3], ahist[4], ahist[5], ahist[6], tcp_refused);
    print_message("info: node killed: first attempt after the kill, ms: min %llu p50 %llu "
                  "p90 %llu max %llu; per 100 ms: %d %d %d %d %d %d %d %d %d %d %d, later %d\n",
                  (unsigned long long)first[0], (unsigned long long)first[nk / 2],
                  (unsigned long long)first[nk * 9 / 10], (unsigned long long)first[nk - 1],
                  hist[0], hist[1], hist[2], hist[3], hist[4], hist[5], hist[6], hist[7],
                  hist[8], hist[9], hist[10], hist[11]);
    print_message("info: node killed: full-jitter delay drawn at the disconnect, ms: min %llu "
                  "p50 %llu p90 %llu max %llu; per 100 ms: %d %d %d %d %d %d %d %d %d %d %d, "
                  "later %d\n",
                  (unsigned long long)drawn[0], (unsigned long long)drawn[nk / 2],
                  (unsigned long long)drawn[nk * 9 / 10], (unsigned long long)drawn[nk - 1],
                  dhist[0], dhist[1], dhist[2], dhist[3], dhist[4], dhist[5], dhist[6],
                  dhist[7], dhist[8], dhist[9], dhist[10], dhist[11]);
    print_message("info: node killed: live again (replay done) after, ms: min %llu p50 %llu "
                  "p90 %llu max %llu\n",
                  (unsigned long long)live[0], (unsigned long long)live[nk / 2],
                  (unsigned long long)live[nk * 9 / 10], (unsigned long long)live[nk - 1]);
    assert_true(c503 > 0);                  /* the limit engaged */
    assert_true(after503 - before503 >= c503);
    assert_true(first[nk - 1] - first[0] >= 100); /* spread, not bunched */
    nodes_report("node killed");
    free(first);
    free(drawn);
    free(live);
    clients_free();
    nodes_stop();
    redis_stop(r);
}

/* ---- 3 ---- */

static void pump_for(int ms)
{
    for (uint64_t end = now_ms() + (uint64_t)ms; now_ms() < end;)
        pump(10);
}

static void test_redis_restart(void **state)
{
    redis *r = redis_fresh();
    const char *more[] = {"--redis-queue", "40", NULL};
    (void)state;
    srand(3);
    redis_start(r, 1);
    nodes_start(r, more);
    clients_start(CLIENTS);
    await_all_live(30000);
    /* A third of the clients publish 14 messages each over about 5 s; every client reads. */
    schedule_publishing(14, 600, 3);
    pump_for(600);
    /* Slow: Redis stops answering (SIGSTOP) for 2.5 s, past --redis-timeout 1: the nodes give
     * their connections up with XADDs in flight, which Redis runs when it wakes. */
    kill(r->pid, SIGSTOP);
    pump_for(2500);
    kill(r->pid, SIGCONT);
    pump_for(1000);
    /* Down: killed, and back 1.5 s later with its append-only file. */
    redis_kill(r);
    uint64_t t_down = now_ms();
    pump_for(1500);
    for (int i = 0; i < NODES; i++)
        assert_int_equal(ex_wait_stat(&node[i], "redis_up", 0, 3000), 0);
    redis_start(r, 1); /* same port, same folder */
    uint64_t t_up = now_ms();
    await_and_check("redis stalled, killed, restarted", 40000);
    long long refused = 0, resent = 0, found = 0, reconnects = 0, peak = 0;
    for (int i = 0; i < NODES; i++) {
        assert_int_equal(ex_wait_stat(&node[i], "redis_up", 1, 5000), 1);
        long long q = ex_stat(&node[i], "redis_queue_peak");
        assert_true(q <= QUEUE); /* bounded */
        peak = q > peak ? q : peak;
        refused += ex_stat(&node[i], "refused");
        resent += ex_stat(&node[i], "resent");
        found += ex_stat(&node[i], "found");
        reconnects += ex_stat(&node[i], "redis_reconnects");
    }
    int client_reconnects = 0;
    for (int i = 0; i < nclients; i++)
        client_reconnects += cls[i].reconnects;
    print_message("info: redis stalled 2.5 s, then down %llu ms: nodes kept every client (%d "
                  "client reconnections); queue peak %lld (bound %d); %lld messages refused; "
                  "in-flight XADDs of given-up connections: %lld found in the stream, %lld "
                  "resent; %lld Redis connections given up\n",
                  (unsigned long long)(t_up - t_down), client_reconnects, peak, QUEUE, refused,
                  found, resent, reconnects);
    assert_int_equal(client_reconnects, 0);
    assert_true(refused > 0);        /* the queue's policy was exercised */
    assert_true(found + resent > 0); /* and the in-flight resolution */
    nodes_report("redis restarted");
    clients_free();
    nodes_stop();
    redis_stop(r);
}

/* ---- 4 ---- */

/* A client of its own for test 4: connect, read until "!live" (bounded), collect. */
typedef struct probe {
    int status;
    int gap;
    char gap_text[128];
    long n;
    char first[48], last[48];
    int live;
} probe;

static void probe_run(int port, const char *query, probe *p)
{
    char url[160];
    uint8_t buf[1 << 16];
    ws_event ev;
    int fd = ex_dial(port, 0, 0);
    ws_conn *c = NULL;
    memset(p, 0, sizeof *p);
    assert_int_equal(ws_conn_new(&c, WS_ROLE_CLIENT, 0, NULL), WS_OK);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/%s", port, query);
    assert_int_equal(ws_conn_client_start(c, url, NULL, 0, NULL, NULL), WS_OK);
    assert_true(ex_flush(c, fd, 1000));
    uint64_t end = now_ms() + 10000;
    while (!p->live && now_ms() < end) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 50) <= 0)
            continue;
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            break;
        size_t pos = 0;
        while (pos < (size_t)n) {
            size_t used = 0;
            ws_conn_feed(c, buf + pos, (size_t)n - pos, &used);
            pos += used;
            while (ws_conn_next_event(c, &ev, sizeof ev) > 0) {
                if (ev.type == WS_EV_ERROR && ev.error == WS_ERR_HS_STATUS)
                    p->status = ws_handshake_status(ws_conn_handshake(c));
                if (ev.type == WS_EV_OPEN)
                    p->status = 101;
                if (ev.type != WS_EV_MESSAGE)
                    continue;
                const char *s = (const char *)ev.data;
                if (ev.len == 5 && !memcmp(s, "!live", 5)) {
                    p->live = 1;
                } else if (ev.len > 5 && !memcmp(s, "!gap ", 5)) {
                    p->gap++;
                    snprintf(p->gap_text, sizeof p->gap_text, "%.*s", (int)ev.len, s);
                } else {
                    const char *nl = memchr(s, '\n', ev.len);
                    assert_non_null(nl);
                    snprintf(p->n ? p->last : p->first, sizeof p->first, "%.*s",
                             (int)(nl - s), s);
                    if (!p->n)
                        strcpy(p->last, p->first);
                    p->n++;
                }
            }
            if (!used)
                break;
        }
        if (p->status && p->status != 101)
            break;
    }
    close(fd);
    ws_conn_free(c);
}

static void test_gap(void **state)
{
    redis *r = redis_fresh();
    const char *more[] = {"--redis-maxlen", "100", NULL};
    char first_id[48] = "", mid_id[48] = "", query[96];
    (void)state;
    srand(4);
    redis_start(r, 0);
    nodes_start(r, more);
    clients_start(1);
    await_all_live(10000);
    /* 400 messages, one at a time (each seen back before the next). */
    cls[0].to_publish = 400;
    for (int s = 1; s <= 400; s++) {
        publish(&cls[0], ++cls[0].sent);
        ex_flush(cls[0].c, cls[0].fd, 1000);
        uint64_t end = now_ms() + 5000;
        while (cls[0].received < s && now_ms() < end)
            pump(5);
        assert_int_equal(cls[0].received, s);
        if (s == 1)
            strcpy(first_id, cls[0].last);
        if (s == 350)
            strcpy(mid_id, cls[0].last);
    }
    /* Older than the window: told, then what is retained (at least MAXLEN, "~"). */
    probe p;
    snprintf(query, sizeof query, "?last=%s", first_id);
    probe_run(node[1].port, query, &p);
    print_message("info: gap: last=%s (trimmed): \"%s\", then %ld retained messages %s .. %s\n",
                  first_id, p.gap_text, p.n, p.first, p.last);
    assert_int_equal(p.status, 101);
    assert_int_equal(p.gap, 1);
    assert_true(p.live);
    assert_true(p.n >= GAP_MAXLEN && p.n < 399);
    assert_string_equal(p.last, cls[0].last);
    char want[128];
    snprintf(want, sizeof want, "!gap %s %s", first_id, p.first);
    assert_string_equal(p.gap_text, want); /* the oldest retained is where the replay starts */
    /* Inside the window: no notice, exactly the 50 that followed. */
    snprintf(query, sizeof query, "?last=%s", mid_id);
    probe_run(node[2].port, query, &p);
    assert_int_equal(p.gap, 0);
    assert_int_equal(p.n, 50);
    assert_string_equal(p.last, cls[0].last);
    /* Malformed: refused. */
    probe_run(node[0].port, "?last=12x-3", &p);
    assert_int_equal(p.status, 400);
    assert_int_equal(stat_sum("gaps"), 1);
    clients_free();
    nodes_stop();
    redis_stop(r);
}

/* ---- 5: wsc --reconnect --resume over two URLs, its node killed ---- */

typedef struct proc {
    pid_t pid;
    int in, out, err;
    char buf[1 << 16];
    size_t len;
} proc;

static void proc_start(proc *p, const char *const *argv)
{
    int pi[2], po[2], pe[2];
    assert_int_equal(pipe(pi), 0);
    assert_int_equal(pipe(po), 0);
    assert_int_equal(pipe(pe), 0);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(pi[0], 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(pi[0]);
    close(po[1]);
    close(pe[1]);
    p->in = pi[1];
    p->out = po[0];
    p->err = pe[0];
    fcntl(p->out, F_SETFL, O_NONBLOCK);
    fcntl(p->err, F_SETFL, O_NONBLOCK);
    /* Empty, NUL included: the test looks for "!live" and counts lines before it has read
     * anything, and must not find them in what an earlier test left in this memory. */
    p->len = 0;
    p->buf[0] = '\0';
}

/* wsc, kept here for the teardown (see the_redis). */
static proc the_wsc;

static proc *proc_fresh(void)
{
    memset(&the_wsc, 0, sizeof the_wsc);
    the_wsc.in = the_wsc.out = the_wsc.err = -1;
    return &the_wsc;
}

static void proc_read(proc *p)
{
    ssize_t n;
    while (p->len < sizeof p->buf - 1 &&
           (n = read(p->out, p->buf + p->len, sizeof p->buf - 1 - p->len)) > 0)
        p->len += (size_t)n;
    p->buf[p->len] = '\0';
}

/* Lines "P0:k" in wsc's output so far. */
static int payload_lines(const proc *p)
{
    int k = 0;
    for (const char *q = p->buf; (q = strstr(q, "\nP0:")) != NULL; q++)
        k++;
    return k;
}

static void test_wsc_failover(void **state)
{
    redis *r = redis_fresh();
    char path[256], u0[64], u1[64], err[8192];
    proc *w = proc_fresh();
    (void)state;
    srand(5);
    redis_start(r, 0);
    nodes_start(r, NULL);
    snprintf(path, sizeof path, "%s/wsc", ex_dir());
    snprintf(u0, sizeof u0, "ws://127.0.0.1:%d/", node[0].port);
    snprintf(u1, sizeof u1, "ws://127.0.0.1:%d/", node[1].port);
    const char *argv[] = {path, "--reconnect", "--resume", "--no-deflate", u0, u1, NULL};
    proc_start(w, argv);
    /* The publisher: one client of the driver, on node 2. */
    clients_start(1);
    cls[0].node = 2;
    await_all_live(10000);
    uint64_t end = now_ms() + 10000;
    while (!strstr(w->buf, "!live") && now_ms() < end) {
        pump(10);
        proc_read(w);
    }
    assert_non_null(strstr(w->buf, "!live"));
    for (int k = 1; k <= 20; k++) {
        if (k == 11) { /* wsc's node dies; the next ten are published while it is away */
            kill(node[0].pid, SIGKILL);
            waitpid(node[0].pid, NULL, 0);
            close(node[0].out);
            node_alive[0] = 0;
        }
        publish(&cls[0], ++cls[0].sent);
        ex_flush(cls[0].c, cls[0].fd, 1000);
        end = now_ms() + 5000;
        while (cls[0].received < k && now_ms() < end)
            pump(5);
        assert_int_equal(cls[0].received, k);
        end = now_ms() + 5000;
        while (k <= 10 && payload_lines(w) < k && now_ms() < end) {
            pump(5);
            proc_read(w);
        }
    }
    end = now_ms() + 20000;
    while (payload_lines(w) < 20 && now_ms() < end) {
        pump(10);
        proc_read(w);
    }
    close(w->in); /* end of input: wsc closes normally */
    w->in = -1;
    int st = -1;
    for (int i = 0; i < 500 && w->pid; i++) {
        if (waitpid(w->pid, &st, WNOHANG) == w->pid)
            w->pid = 0; /* reaped: nothing for the teardown */
        else
            usleep(10000);
    }
    proc_read(w);
    ssize_t n = read(w->err, err, sizeof err - 1);
    err[n > 0 ? n : 0] = '\0';
    /* Each message once, in order: P0:1 .. P0:20, each after a line with its ID. */
    const char *q = w->buf;
    for (int k = 1; k <= 20; k++) {
        char want[16];
        snprintf(want, sizeof want, "\nP0:%d\n", k);
        const char *at = strstr(q, want);
        if (!at) {
            for (int i = 1; i < NODES; i++)
                print_message("node %d: %s", i, (fresh_stat(&node[i], "replays"), node[i].stats));
            fail_msg("wsc's output lacks P0:%d (in order):\n%s\nstderr:\n%s", k, w->buf, err);
        }
        q = at + 1;
    }
    assert_int_equal(payload_lines(w), 20);
    char want[96];
    snprintf(want, sizeof want, "reconnecting to %s", u1);
    assert_non_null(strstr(err, want)); /* failed over to the second URL */
    const char *again = strstr(strstr(w->buf, "!live") + 1, "!live");
    assert_non_null(again); /* a second "!live": after the replay */
    assert_true(strstr(w->buf, "\nP0:11\n") < again); /* the replay brought what it missed */
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    print_message("info: wsc: failed over from a killed node to %s, replayed the 10 messages "
                  "it missed before !live, each of the 20 once and in order\n", u1);
    close(w->out);
    close(w->err);
    w->out = w->err = -1;
    clients_free();
    nodes_stop();
    redis_stop(r);
}

/* ---- 6: --redis-local while Redis is unreachable ---- */

static void test_local_delivery(void **state)
{
    redis *r = redis_fresh();
    const char *more[] = {"--redis-local", NULL};
    (void)state;
    srand(6);
    redis_start(r, 0);
    nodes_start(r, more);
    clients_start(3);
    cls[1].node = 0; /* two clients on node 0, one on node 1 */
    cls[2].node = 1;
    await_all_live(10000);
    redis_kill(r);
    assert_int_equal(ex_wait_stat(&node[0], "redis_up", 0, 5000), 0);
    publish(&cls[0], ++cls[0].sent);
    ex_flush(cls[0].c, cls[0].fd, 1000);
    uint64_t end = now_ms() + 3000;
    while ((cls[0].locals < 1 || cls[1].locals < 1) && now_ms() < end)
        pump(10);
    pump(200);
    /* This node's clients, the sender too, get it with the ID "-"; the other node's do not;
     * it is not in the stream (nobody gets it with an ID). */
    assert_int_equal(cls[0].locals, 1);
    assert_int_equal(cls[1].locals, 1);
    assert_int_equal(cls[2].locals, 0);
    assert_int_equal(cls[0].received + cls[1].received + cls[2].received, 0);
    assert_int_equal(ex_wait_stat(&node[0], "local", 1, 3000), 1);
    print_message("info: --redis-local: Redis down, a message went to the 2 clients of its "
                  "node with the ID \"-\", not to the other node's\n");
    clients_free();
    nodes_stop();
    redis_stop(r);
}

/* ---- 7: a connected node's reader falls behind the retained window ---- */

/* Publish one message from c and wait (bounded) until c has seen it come back. */
static void publish_one(cli *c)
{
    long want = c->received + 1;
    publish(c, ++c->sent);
    ex_flush(c->c, c->fd, 1000);
    uint64_t end = now_ms() + 5000;
    while (c->received < want && now_ms() < end)
        pump(5);
    assert_int_equal(c->received, want);
}

static void test_reader_behind(void **state)
{
    redis *r = redis_fresh();
    /* A long --redis-timeout: node 0's reader must find the hole while still connected, not
     * after giving its connection up (that path has its own notice, test 4's). */
    const char *more[] = {"--redis-maxlen", "100", "--redis-timeout", "60", NULL};
    char want[160];
    (void)state;
    srand(7);
    redis_start(r, 0);
    nodes_start(r, more);
    clients_start(2);
    cls[0].node = 0; /* the reader, on the node that will sleep */
    cls[1].node = 1; /* the publisher */
    await_all_live(10000);
    cls[1].to_publish = 301;
    publish_one(&cls[1]);
    for (uint64_t end = now_ms() + 5000; cls[0].received < 1 && now_ms() < end;)
        pump(5);
    assert_int_equal(cls[0].received, 1);
    /* Node 0 sleeps while 300 more are added: its reader's last entry, and some 200 after
     * it, are trimmed before it reads again (MAXLEN ~ 100 keeps 100 to 199). */
    kill(node[0].pid, SIGSTOP);
    for (int k = 0; k < 300; k++)
        publish_one(&cls[1]);
    kill(node[0].pid, SIGCONT);
    for (uint64_t end = now_ms() + 10000; cls[0].from[1] < 301 && now_ms() < end;)
        pump(5);
    print_message("info: reader behind: a node stopped while 300 messages were added "
                  "(MAXLEN ~ 100): its client received %ld of 301, told \"%s\"\n",
                  cls[0].received, cls[0].gap_text);
    /* Told once, where the hole is: after the last message it had, up to the next it got. */
    assert_int_equal(cls[0].gaps, 1);
    snprintf(want, sizeof want, "!gap %s %s", cls[0].gap_at, cls[0].after_gap);
    assert_string_equal(cls[0].gap_text, want);
    assert_int_equal(cls[0].from[1], 301); /* and then every retained one, up to the last */
    assert_true(cls[0].received >= 1 + GAP_MAXLEN && cls[0].received < 301);
    assert_int_equal(cls[0].dups, 0);
    assert_int_equal(cls[0].order, 0);
    /* The publisher's node kept up: all of them, no notice. */
    assert_int_equal(cls[1].received, 301);
    assert_int_equal(cls[1].gaps, 0);
    assert_int_equal(fresh_stat(&node[0], "gaps"), 1);
    assert_int_equal(fresh_stat(&node[0], "redis_reconnects"), 0); /* still connected */
    clients_free();
    nodes_stop();
    redis_stop(r);
}

/* ---- 8: a Redis that stops answering, and a replay query left without an answer ---- */

/* A stand-in for Redis that speaks just enough RESP for one node: CLIENT ID / KILL, XINFO
 * (no such stream), XRANGE (nothing), XREAD (nil after 300 ms, as a BLOCK that ran out). The
 * first publishing connection (the one whose first command is CLIENT) goes deaf at its
 * second XINFO -- a client's replay query, the first being the node's own at start -- and
 * answers nothing more; the second answers that query with +OK, which is no XINFO answer;
 * later connections answer everything. */
enum { FAKE_CONNS = 16 };

typedef struct fake_conn {
    int fd;
    int publishing; /* its first command was CLIENT */
    int deaf;
    int xinfos;
    uint64_t nil_at; /* an XREAD waits for its nil (0: none) */
    size_t len;
    char in[8192];
} fake_conn;

typedef struct fake_redis {
    int lfd, port;
    int publishing_conns, deaf_closed;
    fake_conn c[FAKE_CONNS];
} fake_redis;

static fake_redis the_fake = {.lfd = -1};

static void fake_start(fake_redis *f)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    memset(f, 0, sizeof *f);
    for (int i = 0; i < FAKE_CONNS; i++)
        f->c[i].fd = -1;
    f->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(f->lfd >= 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(f->lfd, 16), 0);
    assert_int_equal(getsockname(f->lfd, (struct sockaddr *)&a, &len), 0);
    f->port = ntohs(a.sin_port);
}

static void fake_stop(fake_redis *f)
{
    for (int i = 0; i < FAKE_CONNS; i++)
        if (f->c[i].fd >= 0)
            close(f->c[i].fd);
    if (f->lfd >= 0)
        close(f->lfd);
    memset(f, 0, sizeof *f);
    f->lfd = -1;
}

/* One command at the start of b[0..n) (b[n] is a NUL): a RESP array of bulk strings, as
 * hiredis sends it. Its length, its first two arguments in a0, a1 (cut to 31 bytes); 0 while
 * incomplete. */
static size_t resp_command(const char *b, size_t n, char a0[32], char a1[32])
{
    char *end;
    size_t i;
    a0[0] = a1[0] = '\0';
    if (n < 4 || b[0] != '*')
        return 0;
    long argc = strtol(b + 1, &end, 10);
    i = (size_t)(end - b) + 2;
    for (long k = 0; k < argc; k++) {
        if (i + 4 > n || b[i] != '$')
            return 0;
        long len = strtol(b + i + 1, &end, 10);
        size_t at = (size_t)(end - b) + 2;
        if (len < 0 || at + (size_t)len + 2 > n)
            return 0;
        if (k < 2)
            snprintf(k ? a1 : a0, 32, "%.*s", (int)(len < 31 ? len : 31), b + at);
        i = at + (size_t)len + 2;
    }
    return i <= n ? i : 0;
}

static void fake_answer(fake_conn *c, const char *a0, const char *a1, uint64_t now)
{
    const char *r;
    if (!strcmp(a0, "XINFO") && ++c->xinfos == 2 && c->publishing == 1)
        c->deaf = 1; /* the replay query: never answered */
    if (c->deaf)
        return;
    if (!strcmp(a0, "XINFO") && c->xinfos == 2 && c->publishing == 2)
        r = "+OK\r\n"; /* the query asked again: an answer that is not one */
    else if (!strcmp(a0, "CLIENT"))
        r = !strcmp(a1, "ID") ? ":7\r\n" : "+OK\r\n";
    else if (!strcmp(a0, "XINFO"))
        r = "-ERR no such key\r\n";
    else if (!strcmp(a0, "XRANGE"))
        r = "*0\r\n";
    else if (!strcmp(a0, "XREAD")) {
        c->nil_at = now + 300;
        return;
    } else
        r = "-ERR not in this fake\r\n";
    assert_int_equal(write(c->fd, r, strlen(r)), (ssize_t)strlen(r));
}

/* Accept, read, answer, for up to wait_ms. */
static void fake_service(fake_redis *f, int wait_ms)
{
    struct pollfd p[FAKE_CONNS + 1];
    int idx[FAKE_CONNS + 1], n = 0;
    uint64_t now = now_ms();
    p[n].fd = f->lfd;
    p[n].events = POLLIN;
    idx[n++] = -1;
    for (int i = 0; i < FAKE_CONNS; i++)
        if (f->c[i].fd >= 0) {
            p[n].fd = f->c[i].fd;
            p[n].events = POLLIN;
            idx[n++] = i;
            if (f->c[i].nil_at && f->c[i].nil_at <= now + (uint64_t)wait_ms)
                wait_ms = f->c[i].nil_at > now ? (int)(f->c[i].nil_at - now) : 0;
        }
    poll(p, (nfds_t)n, wait_ms);
    now = now_ms();
    for (int k = 0; k < n; k++) {
        if (idx[k] < 0) {
            int fd;
            while ((fd = accept(f->lfd, NULL, NULL)) >= 0) {
                int i = 0;
                while (i < FAKE_CONNS && f->c[i].fd >= 0)
                    i++;
                assert_true(i < FAKE_CONNS);
                memset(&f->c[i], 0, sizeof f->c[i]);
                f->c[i].fd = fd;
            }
            continue;
        }
        fake_conn *c = &f->c[idx[k]];
        if (p[k].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t got = read(c->fd, c->in + c->len, sizeof c->in - 1 - c->len);
            if (got <= 0) { /* the node gave this connection up */
                f->deaf_closed += c->deaf;
                close(c->fd);
                c->fd = -1;
                continue;
            }
            c->len += (size_t)got;
            c->in[c->len] = '\0';
            char a0[32], a1[32];
            size_t used;
            while ((used = resp_command(c->in, c->len, a0, a1)) > 0) {
                if (!c->publishing)
                    c->publishing = !strcmp(a0, "CLIENT") ? ++f->publishing_conns : -1;
                fake_answer(c, a0, a1, now);
                memmove(c->in, c->in + used, c->len - used + 1);
                c->len -= used;
            }
            assert_true(c->len < sizeof c->in - 1);
        }
        if (c->fd >= 0 && c->nil_at && c->nil_at <= now && !c->deaf) {
            c->nil_at = 0;
            assert_int_equal(write(c->fd, "*-1\r\n", 5), 5);
        }
    }
}

static void test_replay_unanswered(void **state)
{
    char addr[32];
    (void)state;
    srand(8);
    fake_start(&the_fake);
    snprintf(addr, sizeof addr, "127.0.0.1:%d", the_fake.port);
    const char *extra[] = {"--redis", addr, "--stats", "--redis-timeout", "1", "--stream",
                           "fleet", NULL};
    ex_start(&node[0], "broadcast", extra, 0);
    node_alive[0] = 1;
    uint64_t end = now_ms() + 10000;
    while (ex_stat(&node[0], "redis_up") != 1 && now_ms() < end) {
        fake_service(&the_fake, 20);
        ex_read_stats(&node[0]);
    }
    assert_int_equal(ex_stat(&node[0], "redis_up"), 1);
    /* A client that asks for a replay: the node's XINFO for it is never answered. */
    clients_start(1);
    cls[0].node = 0;
    cls[0].was_live = 1;
    strcpy(cls[0].last, "5-0");
    cls[0].last_id.ms = 5;
    end = now_ms() + 10000;
    while (cls[0].state != C_LIVE && now_ms() < end) {
        pump(5);
        fake_service(&the_fake, 5);
    }
    /* The node gave the deaf connection up after --redis-timeout, reconnected, asked again,
     * gave that connection up too for its useless answer, and asked a third time: the
     * client got its (empty) replay and "!live". */
    print_message("info: replay unanswered: the node gave up the silent connection (%d "
                  "closed) and the one that answered nonsense, reconnected (%d publishing "
                  "connections in all), client %s\n",
                  the_fake.deaf_closed, the_fake.publishing_conns,
                  cls[0].state == C_LIVE ? "live" : "still waiting");
    assert_int_equal(the_fake.deaf_closed, 1);
    assert_true(the_fake.publishing_conns >= 3);
    assert_true(fresh_stat(&node[0], "redis_errors") >= 1);
    assert_int_equal(cls[0].state, C_LIVE);
    assert_int_equal(cls[0].reconnects, 0); /* its connection was kept all along */
    clients_free();
    nodes_stop();
    fake_stop(&the_fake);
}

/* Is there a redis-server to run ($REDIS_SERVER, or redis-server on PATH)? */
static int have_redis_server(void)
{
    const char *bin = getenv("REDIS_SERVER"), *path = getenv("PATH");
    char file[600];
    if (bin && *bin)
        return strchr(bin, '/') ? access(bin, X_OK) == 0 : 0;
    while (path && *path) {
        size_t n = strcspn(path, ":");
        snprintf(file, sizeof file, "%.*s/redis-server", (int)n, path);
        if (n && access(file, X_OK) == 0)
            return 1;
        path += n + (path[n] == ':');
    }
    return 0;
}

/* What a test left, whether it passed or failed midway (cmocka runs the teardown either
 * way): its nodes, wsc, the driver's clients, redis-server and its folder. */
static int teardown(void **state)
{
    (void)state;
    for (int i = 0; i < NODES; i++)
        if (node_alive[i]) {
            kill(node[i].pid, SIGKILL);
            waitpid(node[i].pid, NULL, 0);
            close(node[i].out);
            node_alive[i] = 0;
        }
    if (the_wsc.pid > 0) {
        kill(the_wsc.pid, SIGKILL);
        waitpid(the_wsc.pid, NULL, 0);
        the_wsc.pid = 0;
    }
    int *fds[] = {&the_wsc.in, &the_wsc.out, &the_wsc.err};
    for (size_t i = 0; i < 3; i++)
        if (*fds[i] >= 0) {
            close(*fds[i]);
            *fds[i] = -1;
        }
    if (cls)
        clients_free();
    redis_stop(&the_redis);
    if (the_fake.lfd >= 0)
        fake_stop(&the_fake);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_three_nodes, teardown),
        cmocka_unit_test_teardown(test_node_killed, teardown),
        cmocka_unit_test_teardown(test_redis_restart, teardown),
        cmocka_unit_test_teardown(test_gap, teardown),
        cmocka_unit_test_teardown(test_wsc_failover, teardown),
        cmocka_unit_test_teardown(test_local_delivery, teardown),
        cmocka_unit_test_teardown(test_reader_behind, teardown),
        cmocka_unit_test_teardown(test_replay_unanswered, teardown),
    };
    if (!have_redis_server()) { /* 77: skipped, for meson test */
        printf("redis: skipped: no redis-server on PATH (REDIS_SERVER=/path names one)\n");
        return 77;
    }
    signal(SIGPIPE, SIG_IGN);
    alarm(170); /* a hung run must not hang CI */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
        rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    sweep_stale_dirs();
    if (getenv("REDIS_TEST")) /* one test by name (or a pattern: "test_gap", "*kill*") */
        cmocka_set_test_filter(getenv("REDIS_TEST"));
    return cmocka_run_group_tests_name("redis", tests, NULL, NULL);
}
