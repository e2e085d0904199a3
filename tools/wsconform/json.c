/*
 * Text buffers, JSON string writing, and a small JSON reader for fuzzingclient.json /
 * fuzzingserver.json (RFC 8259: objects, arrays, strings with escapes and \u surrogate pairs,
 * numbers, true/false/null). Bounded: 64 levels of nesting, 16 MiB of input; every error names
 * the byte offset.
 */
#include "wsconform.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- buffers ---- */

void buf_put(wc_buf *b, const void *s, size_t n)
{
    if (b->oom || !n)
        return;
    if (b->cap - b->n < n + 1) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap - b->n < n + 1) {
            if (cap > SIZE_MAX / 2) {
                b->oom = 1;
                return;
            }
            cap *= 2;
        }
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void buf_puts(wc_buf *b, const char *s)
{
    buf_put(b, s, strlen(s));
}

void buf_printf(wc_buf *b, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n < sizeof small) {
        buf_put(b, small, (size_t)n);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        b->oom = 1;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    buf_put(b, big, (size_t)n);
    free(big);
}

/* Length of the valid UTF-8 sequence at s[0..n), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    size_t k;
    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        k = 2;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        k = 3;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        k = 4;
    else
        return 0;
    if (n < k)
        return 0;
    return conf_utf8_ok(s, k) ? k : 0;
}

void buf_json_str(wc_buf *b, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    buf_put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            buf_put(b, e, 2);
            i++;
        } else if (c == '\n') {
            buf_put(b, "\\n", 2), i++;
        } else if (c == '\r') {
            buf_put(b, "\\r", 2), i++;
        } else if (c == '\t') {
            buf_put(b, "\\t", 2), i++;
        } else if (c < 0x20 || c == 0x7f) {
            buf_printf(b, "\\u%04x", c);
            i++;
        } else if (c < 0x80) {
            buf_put(b, s + i, 1), i++;
        } else {
            size_t k = utf8_seq(u + i, n - i);
            if (k) {
                buf_put(b, s + i, k);
                i += k;
            } else {
                buf_printf(b, "\\u%04x", c); /* the byte as a Latin-1 character */
                i++;
            }
        }
    }
    buf_put(b, "\"", 1);
}

void buf_html(wc_buf *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        switch (s[i]) {
        case '<': buf_puts(b, "&lt;"); break;
        case '>': buf_puts(b, "&gt;"); break;
        case '&': buf_puts(b, "&amp;"); break;
        case '"': buf_puts(b, "&quot;"); break;
        default: buf_put(b, s + i, 1); break;
        }
    }
}

void buf_free(wc_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- the reader ---- */

#define JSON_MAX_DEPTH 64
#define JSON_MAX_INPUT (16u << 20)

typedef struct jp {
    const char *s;
    size_t n, i;
    char *err;
    size_t errlen;
    int failed;
} jp;

static void jfail(jp *p, const char *what)
{
    if (!p->failed)
        snprintf(p->err, p->errlen, "%s at byte %zu", what, p->i);
    p->failed = 1;
}

static void skip_ws(jp *p)
{
    while (p->i < p->n && (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\n' ||
                           p->s[p->i] == '\r'))
        p->i++;
}

static int hex4(jp *p, unsigned *out)
{
    unsigned v = 0;
    if (p->n - p->i < 4) {
        jfail(p, "truncated \\u escape");
        return -1;
    }
    for (int k = 0; k < 4; k++) {
        char c = p->s[p->i++];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else {
            jfail(p, "bad \\u escape");
            return -1;
        }
    }
    *out = v;
    return 0;
}

static void put_cp(wc_buf *b, unsigned cp)
{
    char o[4];
    if (cp < 0x80) {
        o[0] = (char)cp;
        buf_put(b, o, 1);
    } else if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6), o[1] = (char)(0x80 | (cp & 0x3f));
        buf_put(b, o, 2);
    } else if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12), o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        buf_put(b, o, 3);
    } else {
        o[0] = (char)(0xf0 | cp >> 18), o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        o[2] = (char)(0x80 | (cp >> 6 & 0x3f)), o[3] = (char)(0x80 | (cp & 0x3f));
        buf_put(b, o, 4);
    }
}

static char *parse_string(jp *p)
{
    wc_buf b = {0};
    p->i++; /* the opening quote */
    size_t start_raw = p->i;
    while (p->i < p->n) {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"') {
            p->i++;
            if (!conf_utf8_ok((const uint8_t *)(b.p ? b.p : ""), b.n)) {
                jfail(p, "string is not valid UTF-8");
                break;
            }
            if (b.oom) {
                jfail(p, "out of memory");
                break;
            }
            if (!b.p)
                buf_put(&b, "", 0);
            char *r = b.p ? b.p : calloc(1, 1);
            if (!r)
                jfail(p, "out of memory");
            return r;
        }
        if (c < 0x20) {
            jfail(p, "control character in a string");
            break;
        }
        if (c != '\\') {
            buf_put(&b, p->s + p->i, 1);
            p->i++;
            continue;
        }
        if (++p->i >= p->n)
            break;
        char e = p->s[p->i++];
        unsigned cp;
        switch (e) {
        case '"': buf_put(&b, "\"", 1); break;
        case '\\': buf_put(&b, "\\", 1); break;
        case '/': buf_put(&b, "/", 1); break;
        case 'b': buf_put(&b, "\b", 1); break;
        case 'f': buf_put(&b, "\f", 1); break;
        case 'n': buf_put(&b, "\n", 1); break;
        case 'r': buf_put(&b, "\r", 1); break;
        case 't': buf_put(&b, "\t", 1); break;
        case 'u':
            if (hex4(p, &cp) != 0)
                goto fail;
            if (cp >= 0xd800 && cp <= 0xdbff) {
                unsigned lo;
                if (p->n - p->i < 6 || p->s[p->i] != '\\' || p->s[p->i + 1] != 'u') {
                    jfail(p, "lone surrogate in \\u escape");
                    goto fail;
                }
                p->i += 2;
                if (hex4(p, &lo) != 0)
                    goto fail;
                if (lo < 0xdc00 || lo > 0xdfff) {
                    jfail(p, "bad surrogate pair");
                    goto fail;
                }
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            } else if (cp >= 0xdc00 && cp <= 0xdfff) {
                jfail(p, "lone surrogate in \\u escape");
                goto fail;
            }
            if (cp == 0) {
                jfail(p, "NUL in a string");
                goto fail;
            }
            put_cp(&b, cp);
            break;
        default:
            jfail(p, "bad escape");
            goto fail;
        }
    }
    (void)start_raw;
    jfail(p, "unterminated string");
fail:
    buf_free(&b);
    return NULL;
}

static int parse_value(jp *p, wc_json *out, int depth);

static int push_item(jp *p, wc_json *arr, size_t *cap, const wc_json *v, char *key)
{
    if (arr->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 4;
        wc_json *items = realloc(arr->items, nc * sizeof *items);
        if (!items) {
            jfail(p, "out of memory");
            return -1;
        }
        arr->items = items;
        if (arr->type == J_OBJ) {
            char **keys = realloc(arr->keys, nc * sizeof *keys);
            if (!keys) {
                jfail(p, "out of memory");
                return -1;
            }
            arr->keys = keys;
        }
        *cap = nc;
    }
    arr->items[arr->n] = *v;
    if (arr->type == J_OBJ)
        arr->keys[arr->n] = key;
    arr->n++;
    return 0;
}

static void json_clear(wc_json *j)
{
    if (!j)
        return;
    free(j->str);
    for (size_t i = 0; i < j->n; i++) {
        json_clear(&j->items[i]);
        if (j->keys)
            free(j->keys[i]);
    }
    free(j->items);
    free(j->keys);
    memset(j, 0, sizeof *j);
}

static int parse_container(jp *p, wc_json *out, int depth, int obj)
{
    size_t cap = 0;
    out->type = obj ? J_OBJ : J_ARR;
    p->i++;
    skip_ws(p);
    if (p->i < p->n && p->s[p->i] == (obj ? '}' : ']')) {
        p->i++;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        wc_json v;
        memset(&v, 0, sizeof v);
        skip_ws(p);
        if (obj) {
            if (p->i >= p->n || p->s[p->i] != '"') {
                jfail(p, "expected a key");
                return -1;
            }
            key = parse_string(p);
            if (!key)
                return -1;
            skip_ws(p);
            if (p->i >= p->n || p->s[p->i] != ':') {
                free(key);
                jfail(p, "expected ':'");
                return -1;
            }
            p->i++;
        }
        if (parse_value(p, &v, depth + 1) != 0 || push_item(p, out, &cap, &v, key) != 0) {
            free(key);
            json_clear(&v);
            return -1;
        }
        skip_ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == (obj ? '}' : ']')) {
            p->i++;
            return 0;
        }
        jfail(p, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        return -1;
    }
}

static int parse_value(jp *p, wc_json *out, int depth)
{
    memset(out, 0, sizeof *out);
    if (depth >= JSON_MAX_DEPTH) {
        jfail(p, "nested too deeply");
        return -1;
    }
    skip_ws(p);
    if (p->i >= p->n) {
        jfail(p, "unexpected end of input");
        return -1;
    }
    char c = p->s[p->i];
    if (c == '{' || c == '[')
        return parse_container(p, out, depth, c == '{');
    if (c == '"') {
        out->type = J_STR;
        out->str = parse_string(p);
        return out->str ? 0 : -1;
    }
    static const struct {
        const char *w;
        wc_jtype t;
        int b;
    } words[] = {{"true", J_BOOL, 1}, {"false", J_BOOL, 0}, {"null", J_NULL, 0}};
    for (size_t k = 0; k < 3; k++) {
        size_t L = strlen(words[k].w);
        if (p->n - p->i >= L && !memcmp(p->s + p->i, words[k].w, L)) {
            p->i += L;
            out->type = words[k].t;
            out->b = words[k].b;
            return 0;
        }
    }
    /* number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
    size_t st = p->i, j = p->i;
    if (j < p->n && p->s[j] == '-')
        j++;
    if (j < p->n && p->s[j] == '0') {
        j++;
    } else if (j < p->n && p->s[j] >= '1' && p->s[j] <= '9') {
        while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9')
            j++;
    } else {
        jfail(p, "unexpected character");
        return -1;
    }
    if (j < p->n && p->s[j] == '.') {
        j++;
        if (j >= p->n || p->s[j] < '0' || p->s[j] > '9') {
            p->i = j;
            jfail(p, "bad number");
            return -1;
        }
        while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9')
            j++;
    }
    if (j < p->n && (p->s[j] == 'e' || p->s[j] == 'E')) {
        j++;
        if (j < p->n && (p->s[j] == '+' || p->s[j] == '-'))
            j++;
        if (j >= p->n || p->s[j] < '0' || p->s[j] > '9') {
            p->i = j;
            jfail(p, "bad number");
            return -1;
        }
        while (j < p->n && p->s[j] >= '0' && p->s[j] <= '9')
            j++;
    }
    char num[64];
    if (j - st >= sizeof num) {
        jfail(p, "number too long");
        return -1;
    }
    memcpy(num, p->s + st, j - st);
    num[j - st] = '\0';
    out->type = J_NUM;
    out->num = strtod(num, NULL);
    p->i = j;
    return 0;
}

wc_json *wc_json_parse(const char *text, size_t n, char *err, size_t errlen)
{
    jp p = {text, n, 0, err, errlen, 0};
    if (n > JSON_MAX_INPUT) {
        snprintf(err, errlen, "input larger than %u bytes", JSON_MAX_INPUT);
        return NULL;
    }
    wc_json *j = calloc(1, sizeof *j);
    if (!j) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (parse_value(&p, j, 0) == 0) {
        skip_ws(&p);
        if (p.i == n)
            return j;
        jfail(&p, "text after the value");
    }
    json_clear(j);
    free(j);
    return NULL;
}

void wc_json_free(wc_json *j)
{
    json_clear(j);
    free(j);
}

const wc_json *wc_json_get(const wc_json *obj, const char *key)
{
    if (!obj || obj->type != J_OBJ)
        return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (!strcmp(obj->keys[i], key))
            return &obj->items[i];
    return NULL;
}
