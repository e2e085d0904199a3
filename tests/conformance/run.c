/*
 * libws's own conformance run: build/tools/wsconform (tools/wsconform/, the one implementation
 * of the Autobahn-style cases) against the echo servers (echo-epoll, echo-poll, and echo-uv /
 * echo-uring where built) and against `wsc --echo` as the client, every case strict (OK or
 * INFORMATIONAL; NON-STRICT, UNIMPLEMENTED and FAILED fail), with the extension cases (unless
 * --cases picks some: group 20 is theirs; a group, subgroup or id as a prefix), sizes
 * of wsconform's "ci" profile ("quick" under valgrind or with --quick / CONFORMANCE_QUICK).
 * Prints wsconform's lines and cmocka-style totals for tests/run.sh.
 *
 *   test_conformance [--direction server|client|both] [--servers echo-epoll,echo-poll,...]
 *                    [--cases PREFIX[,PREFIX...]] [--quick] [--verbose]
 *
 * EX_DIR names the folder with the built examples (default build/examples); WSCONFORM the
 * tool (default: EX_DIR/wsconform, else EX_DIR/../tools/wsconform). Reports go to a
 * temporary folder, removed afterwards unless WSCONFORM_KEEP=1 (its path is printed).
 */
#define _GNU_SOURCE
#include "ws.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char tool[1100], exdir[1024], outdir[1024];
static int verbose;

/* Verdicts per case group over every target, from wsconform's summary lines (groups 1..20:
 * Autobahn's 1-13 and wsconform's extensions, 20). */
struct tally {
    unsigned cases, ok, nonstrict, info, unimpl, failed;
};
static struct tally groups[21]; /* tools/mutate.py reads the group count here */
#define NGROUPS ((int)(sizeof groups / sizeof *groups))

static void die(const char *what, const char *arg)
{
    fprintf(stderr, "test_conformance: %s%s\n", what, arg ? arg : "");
    exit(2);
}

static int is_exe(const char *p)
{
    return access(p, X_OK) == 0;
}

/* The start of the number just before pos in line, or NULL. */
static const char *back_to_number(const char *line, const char *pos)
{
    const char *d = pos;
    while (d > line && d[-1] >= '0' && d[-1] <= '9')
        d--;
    return d < pos ? d : NULL;
}

/* Run wsconform with argv (NULL-terminated), its output copied to ours; add its counts. */
static int run_tool(char *const *argv, unsigned *passed, unsigned *failed)
{
    int fds[2];
    if (pipe(fds) != 0)
        die("pipe failed", NULL);
    pid_t pid = fork();
    if (pid < 0)
        die("fork failed", NULL);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], 1);
        if (!verbose)
            dup2(fds[1], 2);
        close(fds[0]);
        close(fds[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    FILE *f = fdopen(fds[0], "r");
    char line[4096];
    unsigned p = 0, fl = 0;
    int counted = 0;
    while (f && fgets(line, sizeof line, f)) {
        fputs(line, stdout);
        if (sscanf(line, "wsconform: %u passed, %u failed", &p, &fl) == 2)
            counted = 1;
        const char *g = strstr(line, " group ");
        struct tally t;
        int gi;
        if (!strncmp(line, "summary ", 8) && g && sscanf(g, " group %d", &gi) == 1 &&
            gi > 0 && gi < NGROUPS && (g = strstr(g, " cases: ")) != NULL &&
            (g = back_to_number(line, g)) != NULL &&
            sscanf(g, "%u cases: %u OK, %u NON-STRICT, %u INFORMATIONAL, %u UNIMPLEMENTED, "
                          "%u FAILED",
                   &t.cases, &t.ok, &t.nonstrict, &t.info, &t.unimpl, &t.failed) == 6) {
            groups[gi].cases += t.cases, groups[gi].ok += t.ok;
            groups[gi].nonstrict += t.nonstrict, groups[gi].info += t.info;
            groups[gi].unimpl += t.unimpl, groups[gi].failed += t.failed;
        }
    }
    if (f)
        fclose(f);
    int st = 0;
    waitpid(pid, &st, 0);
    int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    if (!counted || (rc != 0 && rc != 1)) {
        printf("FAIL wsconform exited with %d before its summary\n", rc);
        fl++;
    }
    *passed += p;
    *failed += fl;
    fflush(stdout);
    return rc;
}

int main(int argc, char **argv)
{
    const char *direction = "both", *cases = NULL;
    char servers_buf[256] = "echo-epoll,echo-poll,echo-uv,echo-uring";
    int default_servers = 1, quick = getenv("CONFORMANCE_QUICK") != NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--quick")) {
            quick = 1;
        } else if (!strcmp(a, "--verbose")) {
            verbose = 1;
        } else if (!strcmp(a, "--direction") && v) {
            direction = v, i++;
        } else if (!strcmp(a, "--servers") && v) {
            snprintf(servers_buf, sizeof servers_buf, "%s", v), i++, default_servers = 0;
        } else if (!strcmp(a, "--cases") && v) {
            /* the runner's prefixes ("6", "6.4", "6.4.1": that case or those under it) as
             * wsconform patterns: P,P.* each */
            static char pat[2048];
            char tmp[1024];
            size_t n = 0;
            snprintf(tmp, sizeof tmp, "%s", v);
            for (char *t = strtok(tmp, ","); t && n + 2 * strlen(t) + 8 < sizeof pat;
                 t = strtok(NULL, ","))
                n += (size_t)snprintf(pat + n, sizeof pat - n, "%s%s,%s.*", n ? "," : "", t, t);
            cases = pat, i++;
        } else {
            die("usage: test_conformance [--direction server|client|both] [--servers LIST] "
                "[--cases PATTERNS] [--quick] [--verbose]",
                NULL);
        }
    }
    if (strcmp(direction, "server") && strcmp(direction, "client") && strcmp(direction, "both"))
        die("--direction: server, client or both", NULL);
    /* Under valgrind (make valgrind) the 16 MiB cases would take minutes. */
    const char *pre = getenv("LD_PRELOAD");
    if (pre && strstr(pre, "vgpreload"))
        quick = 1;

    const char *e = getenv("EX_DIR");
    snprintf(exdir, sizeof exdir, "%s", e && *e ? e : "build/examples");
    const char *t = getenv("WSCONFORM");
    if (t && *t)
        snprintf(tool, sizeof tool, "%s", t);
    else {
        snprintf(tool, sizeof tool, "%s/wsconform", exdir);
        if (!is_exe(tool))
            snprintf(tool, sizeof tool, "%s/../tools/wsconform", exdir);
    }
    if (!is_exe(tool))
        die("wsconform not found (make all, or set WSCONFORM): ", tool);
    const char *tmp = getenv("TMPDIR");
    snprintf(outdir, sizeof outdir, "%s/libws-conformance.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(outdir))
        die("mkdtemp failed: ", strerror(errno));
    signal(SIGPIPE, SIG_IGN);
    setvbuf(stdout, NULL, _IOLBF, 0);

    const char *profile = quick ? "quick" : "ci";
    /* how many cases a target gets (all of them; --cases may select fewer) */
    unsigned per_target = 0;
    {
        char cmd[1300], line[256];
        snprintf(cmd, sizeof cmd, "'%s' list --extensions", tool);
        FILE *l = popen(cmd, "r");
        while (l && fgets(line, sizeof line, l))
            sscanf(line, "%u cases", &per_target);
        if (l)
            pclose(l);
        if (!per_target)
            die("wsconform list failed: ", tool);
    }
    printf("conformance: %u cases per target\n", per_target);
    unsigned passed = 0, failed = 0;
    time_t t0 = time(NULL);
    printf("conformance: build/tools/wsconform, profile %s, strict, with extensions; reports "
           "in %s\n",
           profile, outdir);
    if (strcmp(direction, "client") != 0) {
        for (char *s = strtok(servers_buf, ","); s; s = strtok(NULL, ",")) {
            char path[1200], cmd[1600];
            snprintf(path, sizeof path, "%s/%s", exdir, s);
            if (!is_exe(path)) {
                if (default_servers && (!strcmp(s, "echo-uv") || !strcmp(s, "echo-uring"))) {
                    printf("info: %s not built (libuv1-dev / liburing-dev missing?): "
                           "SKIPPED\n",
                           s);
                    continue;
                }
                die("example not found: ", path);
            }
            /* deflate is off by default in the examples: groups 12 and 13 need it (a
             * build without zlib refuses the flag, and has no groups 12 and 13) */
            snprintf(cmd, sizeof cmd,
                     "exec '%s' --host 127.0.0.1 --port {port} --max-message 16777216%s", path,
                     ws_deflate_available() ? " --deflate" : "");
            char *args[24] = {tool, "client", "ws://127.0.0.1:{port}/", "--server-cmd", cmd,
                              "--agent", s, "--profile", (char *)profile, "--strict",
                              "--outdir", outdir};
            int n = 12;
            if (cases)
                args[n++] = "--cases", args[n++] = (char *)cases;
            else
                args[n++] = "--extensions";
            if (verbose)
                args[n++] = "--verbose";
            args[n] = NULL;
            printf("== libws as server: %s\n", s);
            run_tool(args, &passed, &failed);
        }
    }
    if (strcmp(direction, "server") != 0) {
        char path[1200], cmd[1600];
        snprintf(path, sizeof path, "%s/wsc", exdir);
        if (!is_exe(path))
            die("example not found: ", path);
        /* group 9 sends up to 16 MiB: above the library's 1 MiB default */
        snprintf(cmd, sizeof cmd, "exec '%s' --echo --max-message 16777216 '{url}'", path);
        char *args[24] = {tool, "server", "--port", "0", "--client-cmd", cmd, "--agent", "wsc",
                          "--profile", (char *)profile, "--strict", "--outdir", outdir};
        int n = 13;
        if (cases)
            args[n++] = "--cases", args[n++] = (char *)cases;
        else
            args[n++] = "--extensions";
        if (verbose)
            args[n++] = "--verbose";
        args[n] = NULL;
        printf("== libws as client: wsc --echo\n");
        run_tool(args, &passed, &failed);
    }
    if (!getenv("WSCONFORM_KEEP")) {
        char rm[1200];
        snprintf(rm, sizeof rm, "rm -rf '%s'", outdir);
        if (system(rm) != 0)
            fprintf(stderr, "test_conformance: could not remove %s\n", outdir);
    }
    for (int g = 1; g < NGROUPS; g++)
        if (groups[g].cases)
            printf("conformance group %-2d %5u cases: %u OK, %u NON-STRICT, %u INFORMATIONAL, "
                   "%u UNIMPLEMENTED, %u FAILED\n",
                   g, groups[g].cases, groups[g].ok, groups[g].nonstrict, groups[g].info,
                   groups[g].unimpl, groups[g].failed);
    printf("conformance: %lld s\n", (long long)(time(NULL) - t0));
    printf("%u passed, %u failed\n", passed, failed);
    /* The lines tests/run.sh counts, as cmocka prints them. */
    printf("[  PASSED  ] %u test(s).\n", passed);
    if (failed)
        printf("[  FAILED  ] %u test(s), listed above with FAIL.\n", failed);
    return failed ? 1 : 0;
}
