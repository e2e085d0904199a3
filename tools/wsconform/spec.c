/*
 * Settings in Autobahn's formats: fuzzingclient.json (servers, cases, exclude-cases,
 * exclude-agent-cases, options, outdir) and fuzzingserver.json (url, cases, ..., outdir), and
 * Autobahn's case patterns.
 */
#include "wsconform.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* '*' matches any run of characters, everything else itself; the whole of s. */
static int glob_full(const char *pat, const char *s)
{
    const char *star = NULL, *back = NULL;
    while (*s) {
        if (*pat == '*') {
            star = pat++;
            back = s;
        } else if (*pat && *pat == *s) {
            pat++, s++;
        } else if (star) {
            pat = star + 1;
            s = ++back;
        } else {
            return 0;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

int wc_pattern_match(const char *pat, const char *id)
{
    /* Autobahn: '*' -> ".*", '.' literal, matched from the start (Python's re.match, so the
     * id may go on after the pattern); a pattern without '*' is an exact id. */
    if (!strchr(pat, '*'))
        return !strcmp(pat, id);
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s*", pat);
    return glob_full(tmp, id);
}

int wc_id_cmp(const char *a, const char *b)
{
    while (*a || *b) {
        char *ea, *eb;
        unsigned long x = strtoul(a, &ea, 10), y = strtoul(b, &eb, 10);
        if (x != y)
            return x < y ? -1 : 1;
        if (ea == a || eb == b)
            return strcmp(a, b);
        a = *ea == '.' ? ea + 1 : ea;
        b = *eb == '.' ? eb + 1 : eb;
        if (!*ea || !*eb)
            return (*ea != '\0') - (*eb != '\0');
    }
    return 0;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    if (!d) {
        fprintf(stderr, "wsconform: out of memory\n");
        exit(2);
    }
    return d;
}

static void list_add(char ***list, size_t *n, const char *s)
{
    char **l = realloc(*list, (*n + 1) * sizeof *l);
    if (!l) {
        fprintf(stderr, "wsconform: out of memory\n");
        exit(2);
    }
    l[(*n)++] = xstrdup(s);
    *list = l;
}

void wc_spec_add_patterns(char ***list, size_t *n, const char *csv)
{
    const char *s = csv;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t k = e ? (size_t)(e - s) : strlen(s);
        while (k && (*s == ' ' || *s == '\t'))
            s++, k--;
        while (k && (s[k - 1] == ' ' || s[k - 1] == '\t'))
            k--;
        if (k) {
            char tmp[128];
            snprintf(tmp, sizeof tmp, "%.*s", (int)(k < sizeof tmp - 1 ? k : sizeof tmp - 1), s);
            list_add(list, n, tmp);
        }
        if (!e)
            break;
        s = e + 1;
    }
}

static void warn(wc_spec *s, const char *fmt, const char *what)
{
    size_t n = strlen(s->warnings);
    if (n + 2 < sizeof s->warnings)
        snprintf(s->warnings + n, sizeof s->warnings - n, "%s", n ? "; " : "");
    n = strlen(s->warnings);
    if (n + 2 < sizeof s->warnings)
        snprintf(s->warnings + n, sizeof s->warnings - n, fmt, what);
}

static int str_list(const wc_json *v, char ***list, size_t *n, const char *key, char *err,
                    size_t errlen)
{
    if (!v)
        return 0;
    if (v->type != J_ARR) {
        snprintf(err, errlen, "\"%s\" must be a list of strings", key);
        return -1;
    }
    for (size_t i = 0; i < v->n; i++) {
        if (v->items[i].type != J_STR) {
            snprintf(err, errlen, "\"%s\"[%zu] must be a string", key, i);
            return -1;
        }
        list_add(list, n, v->items[i].str);
    }
    return 0;
}

/* Autobahn's protocol options: accepted, and those with no meaning here listed. */
static void options(wc_spec *s, const wc_json *o, const char *where)
{
    if (!o)
        return;
    if (o->type != J_OBJ) {
        warn(s, "%s: \"options\" is not an object (ignored)", where);
        return;
    }
    for (size_t i = 0; i < o->n; i++) {
        const char *k = o->keys[i];
        if (!strcmp(k, "failByDrop") || !strcmp(k, "version"))
            continue; /* wsconform behaves as failByDrop false, RFC 6455 (version 13/18) */
        warn(s, "option \"%s\" ignored", k);
    }
}

int wc_spec_parse(wc_spec *s, const char *text, size_t n, char *err, size_t errlen)
{
    char jerr[160];
    memset(s, 0, sizeof *s);
    wc_json *j = wc_json_parse(text, n, jerr, sizeof jerr);
    if (!j) {
        snprintf(err, errlen, "invalid JSON: %s", jerr);
        return -1;
    }
    int r = -1;
    if (j->type != J_OBJ) {
        snprintf(err, errlen, "the spec must be a JSON object");
        goto out;
    }
    for (size_t i = 0; i < j->n; i++) {
        const char *k = j->keys[i];
        const wc_json *v = &j->items[i];
        if (!strcmp(k, "servers")) {
            if (v->type != J_ARR) {
                snprintf(err, errlen, "\"servers\" must be a list of objects");
                goto out;
            }
            for (size_t q = 0; q < v->n; q++) {
                const wc_json *sv = &v->items[q];
                const wc_json *url = wc_json_get(sv, "url"), *agent = wc_json_get(sv, "agent");
                if (sv->type != J_OBJ || !url || url->type != J_STR) {
                    snprintf(err, errlen, "servers[%zu] needs a \"url\" string", q);
                    goto out;
                }
                if (agent && agent->type != J_STR) {
                    snprintf(err, errlen, "servers[%zu].agent must be a string", q);
                    goto out;
                }
                wc_server *ns = realloc(s->servers, (s->nservers + 1) * sizeof *ns);
                if (!ns) {
                    snprintf(err, errlen, "out of memory");
                    goto out;
                }
                s->servers = ns;
                ns[s->nservers].url = xstrdup(url->str);
                ns[s->nservers].agent = agent ? xstrdup(agent->str) : NULL;
                s->nservers++;
                for (size_t m = 0; m < sv->n; m++)
                    if (strcmp(sv->keys[m], "url") && strcmp(sv->keys[m], "agent") &&
                        strcmp(sv->keys[m], "options"))
                        warn(s, "server key \"%s\" ignored", sv->keys[m]);
                options(s, wc_json_get(sv, "options"), "server");
            }
        } else if (!strcmp(k, "cases")) {
            if (str_list(v, &s->cases, &s->ncases, k, err, errlen) != 0)
                goto out;
        } else if (!strcmp(k, "exclude-cases")) {
            if (str_list(v, &s->exclude, &s->nexclude, k, err, errlen) != 0)
                goto out;
        } else if (!strcmp(k, "exclude-agent-cases")) {
            if (v->type != J_OBJ) {
                snprintf(err, errlen, "\"exclude-agent-cases\" must be an object");
                goto out;
            }
            for (size_t q = 0; q < v->n; q++) {
                size_t m = s->nxa;
                char **a = realloc(s->xa_agent, (m + 1) * sizeof *a);
                char ***c = a ? realloc(s->xa_cases, (m + 1) * sizeof *c) : NULL;
                size_t *cn = c ? realloc(s->xa_ncases, (m + 1) * sizeof *cn) : NULL;
                if (a)
                    s->xa_agent = a;
                if (c)
                    s->xa_cases = c;
                if (cn)
                    s->xa_ncases = cn;
                if (!a || !c || !cn) {
                    snprintf(err, errlen, "out of memory");
                    goto out;
                }
                s->xa_agent[m] = xstrdup(v->keys[q]);
                s->xa_cases[m] = NULL;
                s->xa_ncases[m] = 0;
                s->nxa++;
                if (str_list(&v->items[q], &s->xa_cases[m], &s->xa_ncases[m], k, err,
                             errlen) != 0)
                    goto out;
            }
        } else if (!strcmp(k, "outdir") || !strcmp(k, "url")) {
            if (v->type != J_STR) {
                snprintf(err, errlen, "\"%s\" must be a string", k);
                goto out;
            }
            char **dst = !strcmp(k, "outdir") ? &s->outdir : &s->url;
            free(*dst);
            *dst = xstrdup(v->str);
        } else if (!strcmp(k, "options")) {
            options(s, v, "spec");
        } else if (!strcmp(k, "webport") || !strcmp(k, "key") || !strcmp(k, "cert")) {
            warn(s, "\"%s\" ignored (no web or TLS listener here)", k);
        } else {
            warn(s, "unknown key \"%s\" ignored", k);
        }
    }
    if (!s->ncases)
        list_add(&s->cases, &s->ncases, "*");
    r = 0;
out:
    wc_json_free(j);
    if (r != 0)
        wc_spec_free(s);
    return r;
}

int wc_spec_load(wc_spec *s, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    wc_buf b = {0};
    char chunk[8192];
    size_t k;
    while ((k = fread(chunk, 1, sizeof chunk, f)) > 0 && b.n < (32u << 20))
        buf_put(&b, chunk, k);
    int rerr = ferror(f);
    fclose(f);
    if (rerr || b.oom) {
        snprintf(err, errlen, "%s: cannot read", path);
        buf_free(&b);
        return -1;
    }
    char perr[200];
    int r = wc_spec_parse(s, b.p ? b.p : "", b.n, perr, sizeof perr);
    if (r != 0)
        snprintf(err, errlen, "%s: %s", path, perr);
    buf_free(&b);
    return r;
}

void wc_spec_free(wc_spec *s)
{
    for (size_t i = 0; i < s->nservers; i++) {
        free(s->servers[i].url);
        free(s->servers[i].agent);
    }
    free(s->servers);
    for (size_t i = 0; i < s->ncases; i++)
        free(s->cases[i]);
    free(s->cases);
    for (size_t i = 0; i < s->nexclude; i++)
        free(s->exclude[i]);
    free(s->exclude);
    for (size_t i = 0; i < s->nxa; i++) {
        free(s->xa_agent[i]);
        for (size_t q = 0; q < s->xa_ncases[i]; q++)
            free(s->xa_cases[i][q]);
        free(s->xa_cases[i]);
    }
    free(s->xa_agent);
    free(s->xa_cases);
    free(s->xa_ncases);
    free(s->outdir);
    free(s->url);
    memset(s, 0, sizeof *s);
}

static int any_match(char *const *pats, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (wc_pattern_match(pats[i], id))
            return 1;
    return 0;
}

static const conf_case *sort_base;

static int by_id(const void *a, const void *b)
{
    return wc_id_cmp(sort_base[*(const size_t *)a].id, sort_base[*(const size_t *)b].id);
}

size_t wc_spec_select(const wc_spec *s, const conf_case *all, size_t n, size_t *sel)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        /* extension cases only when a pattern names their group (20...) explicitly */
        if (all[i].extension) {
            int named = 0;
            for (size_t q = 0; q < s->ncases; q++)
                named |= s->cases[q][0] != '*' && wc_pattern_match(s->cases[q], all[i].id);
            if (!named)
                continue;
        }
        if (any_match(s->cases, s->ncases, all[i].id) &&
            !any_match(s->exclude, s->nexclude, all[i].id))
            sel[k++] = i;
    }
    sort_base = all;
    qsort(sel, k, sizeof *sel, by_id);
    return k;
}

int wc_spec_agent_excluded(const wc_spec *s, const char *agent, const char *id)
{
    /* Autobahn anchors both patterns here ("^...$"). */
    for (size_t i = 0; i < s->nxa; i++) {
        if (!glob_full(s->xa_agent[i], agent))
            continue;
        for (size_t q = 0; q < s->xa_ncases[i]; q++)
            if (glob_full(s->xa_cases[i][q], id))
                return 1;
    }
    return 0;
}
