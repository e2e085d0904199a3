/*
 * Reports in Autobahn's layout, so tools that read Autobahn's read these:
 *   OUTDIR/index.json                  { agent: { case id: { behavior, behaviorClose,
 *                                        duration, remoteCloseCode, reportfile } } }
 *   OUTDIR/<agent>_case_<1_2_3>.json   the whole case: expectations, events received,
 *                                      closing behaviour, opening handshake, wire log, stats
 *   OUTDIR/index.html                  the table of cases by agent, linking the case reports
 */
#include "wsconform.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void wc_report_filename(const char *agent, const char *id, const char *ext, char *out,
                        size_t cap)
{
    /* Autobahn's cleanForFilename: lower case, [a-z0-9] kept, runs of others -> one '_',
     * none at the ends. */
    char a[160];
    size_t n = 0;
    int pend = 0;
    for (const char *s = agent; *s && n + 2 < sizeof a; s++) {
        char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
        int keep = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!keep) {
            pend = n > 0;
            continue;
        }
        if (pend) {
            a[n++] = '_';
            pend = 0;
        }
        a[n++] = c;
    }
    a[n] = '\0';
    char i[32];
    size_t k = 0;
    for (const char *s = id; *s && k + 1 < sizeof i; s++)
        i[k++] = *s == '.' ? '_' : *s;
    i[k] = '\0';
    snprintf(out, cap, "%s_case_%s.%s", a, i, ext);
}

static int mkdirs(const char *path)
{
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
            return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST)
        return -1;
    return 0;
}

static int write_file(const char *dir, const char *name, const char *data, size_t n)
{
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t w = fwrite(data, 1, n, f);
    int r = fclose(f);
    return w == n && r == 0 ? 0 : -1;
}

int wc_report_add(wc_report *rep, wc_result *res)
{
    if (mkdirs(rep->outdir) != 0)
        return -1;
    char name[256];
    wc_report_filename(res->agent, res->id, "json", name, sizeof name);
    int r = res->json ? write_file(rep->outdir, name, res->json, strlen(res->json)) : 0;
    free(res->json);
    res->json = NULL;
    for (size_t i = 0; i < rep->n; i++)
        if (!strcmp(rep->r[i].agent, res->agent) && !strcmp(rep->r[i].id, res->id)) {
            rep->r[i] = *res; /* run again: the latest counts */
            return r;
        }
    if (rep->n == rep->cap) {
        size_t cap = rep->cap ? rep->cap * 2 : 256;
        wc_result *v = realloc(rep->r, cap * sizeof *v);
        if (!v)
            return -1;
        rep->r = v;
        rep->cap = cap;
    }
    rep->r[rep->n++] = *res;
    return r;
}

/* Agents in sorted order (strcmp), unique; returns the count; *out malloc'd. */
static size_t agents(const wc_report *rep, const char ***out)
{
    const char **a = malloc((rep->n + 1) * sizeof *a);
    size_t k = 0;
    if (!a) {
        *out = NULL;
        return 0;
    }
    for (size_t i = 0; i < rep->n; i++) {
        size_t j = 0;
        while (j < k && strcmp(a[j], rep->r[i].agent) != 0)
            j++;
        if (j == k)
            a[k++] = rep->r[i].agent;
    }
    for (size_t i = 1; i < k; i++)
        for (size_t j = i; j > 0 && strcmp(a[j - 1], a[j]) > 0; j--) {
            const char *t = a[j];
            a[j] = a[j - 1];
            a[j - 1] = t;
        }
    *out = a;
    return k;
}

static const wc_result *find(const wc_report *rep, const char *agent, const char *id)
{
    for (size_t i = 0; i < rep->n; i++)
        if (!strcmp(rep->r[i].agent, agent) && !strcmp(rep->r[i].id, id))
            return &rep->r[i];
    return NULL;
}

static int by_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void wc_report_index_json(const wc_report *rep, wc_buf *b)
{
    const char **ag;
    size_t na = agents(rep, &ag);
    buf_puts(b, "{");
    for (size_t a = 0; a < na; a++) {
        /* this agent's case ids in Python's sort_keys order (plain string order) */
        const char **ids = malloc((rep->n + 1) * sizeof *ids);
        size_t ni = 0;
        if (!ids) {
            b->oom = 1;
            break;
        }
        for (size_t i = 0; i < rep->n; i++)
            if (!strcmp(rep->r[i].agent, ag[a]))
                ids[ni++] = rep->r[i].id;
        qsort(ids, ni, sizeof *ids, by_str);
        buf_puts(b, a ? ",\n   " : "\n   ");
        buf_json_str(b, ag[a], strlen(ag[a]));
        buf_puts(b, ": {");
        for (size_t i = 0; i < ni; i++) {
            const wc_result *r = find(rep, ag[a], ids[i]);
            char file[256];
            wc_report_filename(r->agent, r->id, "json", file, sizeof file);
            buf_puts(b, i ? ",\n      " : "\n      ");
            buf_json_str(b, r->id, strlen(r->id));
            buf_printf(b, ": {\n         \"behavior\": \"%s\",\n         \"behaviorClose\": "
                          "\"%s\",\n         \"duration\": %llu,\n         \"remoteCloseCode\": ",
                       wc_verdict_name(r->behavior), wc_verdict_name(r->behavior_close),
                       (unsigned long long)r->duration_ms);
            if (r->remote_code >= 0)
                buf_printf(b, "%d", r->remote_code);
            else
                buf_puts(b, "null");
            buf_puts(b, ",\n         \"reportfile\": ");
            buf_json_str(b, file, strlen(file));
            buf_puts(b, "\n      }");
        }
        buf_puts(b, ni ? "\n   }" : "}");
        free(ids);
    }
    buf_puts(b, na ? "\n}\n" : "}\n");
    free(ag);
}

static const char css[] =
    "body{font-family:sans-serif;font-size:13px}table{border-collapse:collapse}"
    "td{border:1px solid #ccc;padding:2px 6px}.grp td{background:#333;color:#fff;"
    "font-weight:bold}.sub td{background:#ddd}.OK{background:#0a0;color:#fff}"
    ".NON-STRICT,.FAILED_BY_CLIENT{background:#fa0}.FAILED,.WRONG_CODE,.UNCLEAN{background:"
    "#e00;color:#fff}.INFORMATIONAL{background:#ccf}.UNIMPLEMENTED{background:#aaa}"
    ".missing{background:#eee;color:#999}a{color:inherit}.dur{font-size:11px}";

static void cls(wc_buf *b, wc_verdict v)
{
    const char *n = wc_verdict_name(v);
    for (; *n; n++)
        buf_put(b, *n == ' ' ? "_" : n, 1);
}

static void html(const wc_report *rep, wc_buf *b)
{
    const char **ag;
    size_t na = agents(rep, &ag);
    char started[32] = "";
    if (rep->n)
        snprintf(started, sizeof started, "%s", rep->r[0].started);
    buf_printf(b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>wsconform "
                  "report</title><style>%s</style></head><body>\n",
               css);
    buf_printf(b, "<h1>wsconform report</h1>\n<p>Autobahn|Testsuite-compatible cases, run by "
                  "wsconform (libws %s), first case started %s UTC. Each cell: the case's "
                  "behavior (links to its JSON report, with the wire log), its duration, and "
                  "the close code the peer sent (colour: behaviorClose).</p>\n",
               ws_version(), started);
    buf_puts(b, "<table>\n");
    int last_group = -1;
    char last_sub[16] = "";
    for (size_t ci = 0; ci < rep->ncases; ci++) {
        const conf_case *c = &rep->cases[ci];
        int any = 0;
        for (size_t a = 0; a < na; a++)
            any |= find(rep, ag[a], c->id) != NULL;
        if (!any)
            continue;
        int g = atoi(c->id);
        const char *sub = conf_subgroup_name(c->id);
        char subid[16];
        const char *d2 = strchr(strchr(c->id, '.') + 1, '.');
        snprintf(subid, sizeof subid, "%.*s", d2 ? (int)(d2 - c->id) : 0, c->id);
        if (g != last_group) {
            buf_printf(b, "<tr class=\"grp\"><td>%d %s</td>", g, conf_group_name(g));
            for (size_t a = 0; a < na; a++) {
                buf_puts(b, "<td colspan=\"2\">");
                buf_html(b, ag[a], strlen(ag[a]));
                buf_puts(b, "</td>");
            }
            buf_puts(b, "</tr>\n");
            last_group = g;
            last_sub[0] = '\0';
        }
        if (sub && strcmp(subid, last_sub) != 0) {
            buf_printf(b, "<tr class=\"sub\"><td colspan=\"%zu\">%s ", na * 2 + 1, subid);
            buf_html(b, sub, strlen(sub));
            buf_puts(b, "</td></tr>\n");
            snprintf(last_sub, sizeof last_sub, "%s", subid);
        }
        buf_printf(b, "<tr><td><a href=\"#case_%s\">Case %s</a>%s</td>", c->id, c->id,
                   c->extension ? " (ext)" : "");
        for (size_t a = 0; a < na; a++) {
            const wc_result *r = find(rep, ag[a], c->id);
            if (!r) {
                buf_puts(b, "<td class=\"missing\" colspan=\"2\">Missing</td>");
                continue;
            }
            char file[256];
            wc_report_filename(r->agent, r->id, "json", file, sizeof file);
            buf_puts(b, "<td class=\"");
            cls(b, r->behavior);
            buf_printf(b, "\"><a href=\"%s\">%s</a>", file, wc_verdict_name(r->behavior));
            if (r->report_time)
                buf_printf(b, "<br><span class=\"dur\">%llu ms</span>",
                           (unsigned long long)r->duration_ms);
            buf_puts(b, "</td><td class=\"");
            cls(b, r->behavior_close);
            buf_puts(b, "\">");
            if (r->remote_code >= 0)
                buf_printf(b, "%d", r->remote_code);
            else
                buf_puts(b, r->behavior_close == V_OK ? "None" : wc_verdict_name(r->behavior_close));
            buf_puts(b, "</td>");
        }
        buf_puts(b, "</tr>\n");
    }
    buf_puts(b, "</table>\n<h2>Case descriptions</h2>\n");
    for (size_t ci = 0; ci < rep->ncases; ci++) {
        const conf_case *c = &rep->cases[ci];
        int any = 0;
        for (size_t a = 0; a < na; a++)
            any |= find(rep, ag[a], c->id) != NULL;
        if (!any)
            continue;
        buf_printf(b, "<h3 id=\"case_%s\">Case %s%s</h3>\n<p>", c->id, c->id,
                   c->extension ? " (wsconform extension)" : "");
        buf_html(b, c->desc, strlen(c->desc));
        buf_puts(b, "</p>\n<p><i>Expectation:</i> ");
        buf_html(b, c->expectation, strlen(c->expectation));
        buf_puts(b, "</p>\n");
    }
    buf_puts(b, "</body></html>\n");
    free(ag);
}

int wc_report_write_index(const wc_report *rep)
{
    if (mkdirs(rep->outdir) != 0)
        return -1;
    wc_buf j = {0}, h = {0};
    wc_report_index_json(rep, &j);
    html(rep, &h);
    int r = -1;
    if (!j.oom && !h.oom && write_file(rep->outdir, "index.json", j.p, j.n) == 0 &&
        write_file(rep->outdir, "index.html", h.p, h.n) == 0)
        r = 0;
    buf_free(&j);
    buf_free(&h);
    return r;
}

void wc_report_free(wc_report *rep)
{
    for (size_t i = 0; i < rep->n; i++)
        free(rep->r[i].json);
    free(rep->r);
    rep->r = NULL;
    rep->n = rep->cap = 0;
}
