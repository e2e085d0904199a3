/* The HTTP/1.1 message parser behind the opening handshake (RFC 9112), header storage, and the
 * list grammars of Sec-WebSocket-Protocol / Sec-WebSocket-Extensions (RFC 6455 section 9.1). */
#include "http.h"

#include <string.h>

/* ---- character classes ---- */

int ws__is_tchar(unsigned c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", (int)c) != NULL;
}

int ws__is_vchar_ws(unsigned c)
{
    return (c >= 0x20 && c != 0x7f) || c == '\t';
}

static unsigned lower(unsigned c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

int ws__ieq(const char *a, size_t an, const char *b, size_t bn)
{
    if (an != bn)
        return 0;
    for (size_t i = 0; i < an; i++)
        if (lower((unsigned char)a[i]) != lower((unsigned char)b[i]))
            return 0;
    return 1;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static size_t skip_ows(const char *s, size_t i, size_t n)
{
    while (i < n && is_ows(s[i]))
        i++;
    return i;
}

static size_t scan_token(const char *s, size_t i, size_t n)
{
    while (i < n && ws__is_tchar((unsigned char)s[i]))
        i++;
    return i;
}

/* ---- the message parser ---- */

void ws__http_init(ws__http *h, const ws_allocator *a, int response, size_t max_size,
                   size_t max_headers)
{
    memset(h, 0, sizeof *h);
    h->alloc = a;
    h->response = (uint8_t)(response != 0);
    h->max_size = max_size;
    h->max_headers = max_headers;
}

void ws__http_clear(ws__http *h)
{
    ws__free(h->alloc, h->buf, h->cap);
    ws__free(h->alloc, h->hdrs, h->hcap * sizeof *h->hdrs);
    ws__http_init(h, h->alloc, h->response, h->max_size, h->max_headers);
}

/* Make room for `need` more bytes. Growth doubles from 512 but stops at the limit, so a peer
 * can make us hold at most max_size bytes, and typical requests cost one or two allocations. */
static int reserve(ws__http *h, size_t need)
{
    size_t want = h->len + need, ncap;
    char *nb;

    if (want <= h->cap)
        return WS_OK;
    if (want > h->max_size)
        return WS_ERR_HS_TOO_LARGE;
    ncap = h->cap ? h->cap : 512;
    while (ncap < want)
        ncap = ncap > h->max_size / 2 ? h->max_size : ncap * 2;
    if (ncap > h->max_size)
        ncap = h->max_size;
    nb = ws__realloc(h->alloc, h->buf, h->cap, ncap);
    if (!nb)
        return WS_ERR_NOMEM;
    h->buf = nb;
    h->cap = ncap;
    return WS_OK;
}

static int new_header(ws__http *h, ws__hdr **out)
{
    if (h->nhdrs >= h->max_headers)
        return WS_ERR_HS_TOO_MANY_HEADERS;
    if (h->nhdrs == h->hcap) {
        size_t ncap = h->hcap ? h->hcap * 2 : 8;
        ws__hdr *nh;
        if (ncap > h->max_headers)
            ncap = h->max_headers;
        nh = ws__realloc(h->alloc, h->hdrs, h->hcap * sizeof *nh, ncap * sizeof *nh);
        if (!nh)
            return WS_ERR_NOMEM;
        h->hdrs = nh;
        h->hcap = ncap;
    }
    *out = &h->hdrs[h->nhdrs++];
    return WS_OK;
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int parse_version(ws__http *h, const char *p, size_t n)
{
    if (n != 8 || memcmp(p, "HTTP/", 5) != 0 || !is_digit(p[5]) || p[6] != '.' || !is_digit(p[7]))
        return WS_ERR_HS_SYNTAX;
    h->major = p[5] - '0';
    h->minor = p[7] - '0';
    return WS_OK;
}

/* request-line = method SP request-target SP HTTP-version, single spaces (RFC 9112 3). */
static int request_line(ws__http *h, size_t s, size_t e)
{
    char *b = h->buf;
    size_t i = scan_token(b, s, e), t;

    if (i == s || i >= e || b[i] != ' ')
        return WS_ERR_HS_SYNTAX;
    h->method = s;
    h->method_len = i - s;
    b[i++] = '\0';
    t = i;
    while (i < e && (unsigned char)b[i] > 0x20 && (unsigned char)b[i] < 0x7f)
        i++;
    if (i == t || i >= e || b[i] != ' ')
        return WS_ERR_HS_SYNTAX;
    h->target = t;
    h->target_len = i - t;
    b[i++] = '\0';
    return parse_version(h, b + i, e - i);
}

/* status-line = HTTP-version SP 3DIGIT SP [reason-phrase]; the second SP is tolerated missing
 * when the reason is empty, as some servers send "HTTP/1.1 101\r\n". */
static int status_line(ws__http *h, size_t s, size_t e)
{
    char *b = h->buf;
    size_t i = s + 8;
    int r;

    if (e - s < 12 || b[i] != ' ')
        return WS_ERR_HS_SYNTAX;
    if ((r = parse_version(h, b + s, 8)) < 0)
        return r;
    i++;
    if (b[i] < '1' || b[i] > '5' || !is_digit(b[i + 1]) || !is_digit(b[i + 2]))
        return WS_ERR_HS_SYNTAX;
    h->status = (b[i] - '0') * 100 + (b[i + 1] - '0') * 10 + (b[i + 2] - '0');
    i += 3;
    if (i < e && b[i] != ' ')
        return WS_ERR_HS_SYNTAX;
    if (i < e)
        i++;
    h->reason = i;
    h->reason_len = e - i;
    b[e] = '\0';
    return WS_OK;
}

/* field-line = field-name ":" OWS field-value OWS. Whitespace before the colon is an error
 * (RFC 9112 5.1): it is how request smuggling through lenient proxies starts. */
static int header_line(ws__http *h, size_t s, size_t e)
{
    char *b = h->buf;
    size_t i = scan_token(b, s, e), j;
    ws__hdr *x;
    int r;

    if (i == s || i >= e || b[i] != ':')
        return WS_ERR_HS_SYNTAX;
    if ((r = new_header(h, &x)) < 0)
        return r;
    x->name = s;
    x->name_len = i - s;
    b[i++] = '\0';
    i = skip_ows(b, i, e);
    j = e;
    while (j > i && is_ows(b[j - 1]))
        j--;
    x->value = i;
    x->value_len = j - i;
    b[j] = '\0';
    return WS_OK;
}

/* A complete line buf[s..e) (its CRLF excluded). Returns 0, 1 (end of block) or an error. */
static int line(ws__http *h, size_t s, size_t e)
{
    int r;

    if (h->state == WS__HTTP_START) {
        r = h->response ? status_line(h, s, e) : request_line(h, s, e);
        if (r < 0)
            return r;
        h->state = WS__HTTP_HEADERS;
        return 0;
    }
    if (s == e) {
        h->state = WS__HTTP_DONE;
        return 1;
    }
    return header_line(h, s, e);
}

int ws__http_feed(ws__http *h, const uint8_t *in, size_t n, size_t *used)
{
    size_t i = 0;
    int r = 0;

    /* Byte by byte on purpose: every rule is decided by the byte that breaks it, so errors
     * are reported as early as possible and nothing needs re-scanning when input is split. */
    while (i < n) {
        unsigned c = in[i];
        int after_cr = h->len > h->line && h->buf[h->len - 1] == '\r';

        if (h->len >= h->max_size) {
            r = WS_ERR_HS_TOO_LARGE;
            break;
        }
        if (h->len == h->cap && (r = reserve(h, 1)) < 0)
            break;
        if (c == '\n') {
            if (!after_cr) {
                r = WS_ERR_HS_BARE_LF;
                break;
            }
            h->buf[h->len++] = '\n';
            i++;
            r = line(h, h->line, h->len - 2);
            h->line = h->len;
            if (r != 0)
                break;
            continue;
        }
        if (after_cr) {
            r = WS_ERR_HS_BARE_LF;
            break;
        }
        if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f) {
            r = WS_ERR_HS_CTL_CHAR;
            break;
        }
        if (h->len == h->line && h->state == WS__HTTP_HEADERS && (c == ' ' || c == '\t')) {
            /* Whitespace before the first field line is not folding but is as dangerous. */
            r = h->nhdrs ? WS_ERR_HS_OBS_FOLD : WS_ERR_HS_SYNTAX;
            break;
        }
        h->buf[h->len++] = (char)c;
        i++;
    }
    *used = i;
    return r;
}

int ws__http_add(ws__http *h, const char *name, size_t nlen, const char *value, size_t vlen)
{
    ws__hdr *x;
    int r;

    if (nlen > h->max_size || vlen > h->max_size - nlen || h->len + nlen + vlen + 2 > h->max_size)
        return WS_ERR_HS_TOO_LARGE;
    if (h->nhdrs >= h->max_headers)
        return WS_ERR_HS_TOO_MANY_HEADERS;
    if ((r = reserve(h, nlen + vlen + 2)) < 0)
        return r;
    if ((r = new_header(h, &x)) < 0)
        return r;
    x->name = h->len;
    x->name_len = nlen;
    memcpy(h->buf + h->len, name, nlen);
    h->len += nlen;
    h->buf[h->len++] = '\0';
    x->value = h->len;
    x->value_len = vlen;
    if (vlen)
        memcpy(h->buf + h->len, value, vlen);
    h->len += vlen;
    h->buf[h->len++] = '\0';
    return WS_OK;
}

const ws__hdr *ws__http_find(const ws__http *h, const char *name, size_t nlen, size_t index)
{
    for (size_t i = 0; i < h->nhdrs; i++) {
        const ws__hdr *x = &h->hdrs[i];
        if (ws__ieq(h->buf + x->name, x->name_len, name, nlen) && index-- == 0)
            return x;
    }
    return NULL;
}

size_t ws__http_count(const ws__http *h, const char *name, size_t nlen)
{
    size_t n = 0;
    for (size_t i = 0; i < h->nhdrs; i++)
        n += (size_t)ws__ieq(h->buf + h->hdrs[i].name, h->hdrs[i].name_len, name, nlen);
    return n;
}

int ws__http_has_token(const ws__http *h, const char *name, const char *tok)
{
    size_t nlen = strlen(name), tlen = strlen(tok);
    const ws__hdr *x;

    for (size_t k = 0; (x = ws__http_find(h, name, nlen, k)) != NULL; k++) {
        const char *v = ws__hval(h, x);
        size_t n = x->value_len, i = 0;
        while (i < n) {
            size_t s = skip_ows(v, i, n), e = s;
            while (e < n && v[e] != ',')
                e++;
            i = e + 1;
            while (e > s && is_ows(v[e - 1]))
                e--;
            if (ws__ieq(v + s, e - s, tok, tlen))
                return 1;
        }
    }
    return 0;
}

/* ---- list grammars ---- */

/* Copy (count, when l->str is NULL) a string into the list's string area, NUL-terminated.
 * With unquote set, backslash escapes of a quoted-string body are removed. */
static const char *list_str(ws__list *l, const char *s, size_t n, int unquote, size_t *outlen)
{
    char *dst = l->str ? l->str + l->str_len : NULL;
    size_t k = 0;

    for (size_t i = 0; i < n; i++) {
        if (unquote && s[i] == '\\')
            i++;
        if (dst)
            dst[k] = s[i];
        k++;
    }
    if (dst)
        dst[k] = '\0';
    l->str_len += k + 1;
    *outlen = k;
    return dst;
}

static void list_ext(ws__list *l, const char *name, size_t n)
{
    if (l->match && ws__ieq(name, n, l->match, l->match_len))
        l->found = 1;
    if (l->allow) {
        size_t k = 0;
        while (k < l->nallow && !ws__ieq(name, n, l->allow[k].name, l->allow[k].name_len))
            k++;
        if (k == l->nallow)
            l->bad = 1;
    }
    if (l->exts) {
        ws__ext *e = &l->exts[l->nexts];
        e->name = list_str(l, name, n, 0, &e->name_len);
        e->first = l->nparams;
        e->nparams = 0;
    } else {
        l->str_len += n + 1;
    }
    l->nexts++;
}

static void list_param(ws__list *l, const char *name, size_t n, const char *v, size_t vn,
                       int quoted)
{
    if (l->params) {
        ws__param *p = &l->params[l->nparams];
        p->name = list_str(l, name, n, 0, &p->name_len);
        p->value = NULL;
        p->value_len = 0;
        if (v)
            p->value = list_str(l, v, vn, quoted, &p->value_len);
        l->exts[l->nexts - 1].nparams++;
    } else {
        l->str_len += n + 1 + (v ? vn + 1 : 0);
    }
    l->nparams++;
}

/* extension-list = 1#( token *( ";" token [ "=" ( token / quoted-string ) ] ) ), with OWS
 * around the separators (what browsers send) and empty list elements ignored (RFC 9110 5.6.1).
 * Counting over-estimates quoted values by their escapes: harmless, it only sizes a buffer. */
int ws__parse_extensions(ws__list *l, const char *s, size_t n)
{
    size_t i = 0, t, pn, pl;

    for (;;) {
        i = skip_ows(s, i, n);
        if (i == n)
            return WS_OK;
        if (s[i] == ',') {
            i++;
            continue;
        }
        t = i;
        i = scan_token(s, i, n);
        if (i == t)
            return WS_ERR_HS_EXTENSION;
        list_ext(l, s + t, i - t);
        for (;;) {
            i = skip_ows(s, i, n);
            if (i == n)
                return WS_OK;
            if (s[i] == ',') {
                i++;
                break;
            }
            if (s[i] != ';')
                return WS_ERR_HS_EXTENSION;
            pn = skip_ows(s, i + 1, n);
            i = scan_token(s, pn, n);
            if (i == pn)
                return WS_ERR_HS_EXTENSION;
            pl = i - pn;
            i = skip_ows(s, i, n);
            if (i == n || s[i] != '=') {
                list_param(l, s + pn, pl, NULL, 0, 0);
                continue;
            }
            i = skip_ows(s, i + 1, n);
            if (i < n && s[i] == '"') {
                t = ++i;
                for (;; i++) {
                    if (i == n)
                        return WS_ERR_HS_EXTENSION;
                    if (s[i] == '"')
                        break;
                    if (s[i] == '\\' && ++i == n)
                        return WS_ERR_HS_EXTENSION;
                    if (!ws__is_vchar_ws((unsigned char)s[i]))
                        return WS_ERR_HS_EXTENSION;
                }
                list_param(l, s + pn, pl, s + t, i - t, 1);
                i++;
            } else {
                t = i;
                i = scan_token(s, i, n);
                if (i == t)
                    return WS_ERR_HS_EXTENSION;
                list_param(l, s + pn, pl, s + t, i - t, 0);
            }
        }
    }
}

int ws__parse_protocols(ws__list *l, const char *s, size_t n)
{
    size_t i = 0, t;

    for (;;) {
        i = skip_ows(s, i, n);
        if (i == n)
            return WS_OK;
        if (s[i] == ',') {
            i++;
            continue;
        }
        t = i;
        i = scan_token(s, i, n);
        if (i == t)
            return WS_ERR_HS_SUBPROTOCOL;
        if (l->match && i - t == l->match_len && memcmp(s + t, l->match, i - t) == 0)
            l->found = 1;
        if (l->protos) {
            ws__view *v = &l->protos[l->nprotos];
            v->p = list_str(l, s + t, i - t, 0, &v->len);
        } else {
            l->str_len += i - t + 1;
        }
        l->nprotos++;
        i = skip_ows(s, i, n);
        if (i < n && s[i] != ',')
            return WS_ERR_HS_SUBPROTOCOL;
    }
}

/* ---- writing ---- */

void ws__put(ws__out *o, const void *s, size_t n)
{
    if (n > SIZE_MAX - o->len) {
        o->len = SIZE_MAX;
        return;
    }
    if (o->p && n && o->len + n <= o->cap)
        memcpy(o->p + o->len, s, n);
    o->len += n;
}

void ws__puts(ws__out *o, const char *s)
{
    ws__put(o, s, strlen(s));
}

void ws__put_uint(ws__out *o, uint64_t v)
{
    char tmp[20];
    size_t k = sizeof tmp;

    do {
        tmp[--k] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    ws__put(o, tmp + k, sizeof tmp - k);
}

int ws__check_header_lines(const char *s, const char *const *forbidden)
{
    size_t i = 0;

    while (s[i]) {
        size_t t = i;
        while (ws__is_tchar((unsigned char)s[i]))
            i++;
        if (i == t || s[i] != ':')
            return WS_ERR_INVALID_ARG;
        for (const char *const *f = forbidden; f && *f; f++)
            if (ws__ieq(s + t, i - t, *f, strlen(*f)))
                return WS_ERR_INVALID_ARG;
        for (i++; s[i] && s[i] != '\r' && s[i] != '\n'; i++)
            if (!ws__is_vchar_ws((unsigned char)s[i]))
                return WS_ERR_INVALID_ARG;
        if (!s[i])
            break;
        if (s[i] != '\r' || s[i + 1] != '\n')
            return WS_ERR_INVALID_ARG;
        i += 2;
    }
    return WS_OK;
}

void ws__put_header_lines(ws__out *o, const char *s)
{
    size_t n = strlen(s);

    ws__put(o, s, n);
    if (n && (n < 2 || s[n - 2] != '\r' || s[n - 1] != '\n'))
        ws__put(o, "\r\n", 2);
}
