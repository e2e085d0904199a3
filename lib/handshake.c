/* The opening handshake (RFC 6455 section 4), reading: the handshake object and its limits,
 * the server's check of the upgrade request, the client's check of the answer, and the views
 * of either. What it writes (answers, refusals, the client's request) is handshake_write.c;
 * the HTTP parsing is http.c. */
#include "hash.h"
#include "http.h"

#include <string.h>

/* Singletons: a second line would let two parties read two different values. */
static const char *const request_single[] = {"Host",   "Sec-WebSocket-Key", "Sec-WebSocket-Version",
                                             "Origin", "Authorization",     "Content-Length",
                                             NULL};
static const char *const response_single[] = {"Sec-WebSocket-Accept", "Sec-WebSocket-Protocol",
                                              "Content-Length", NULL};

/* ---- object ---- */

int ws_handshake_new(ws_handshake **out, uint32_t role, const ws_allocator *alloc)
{
    ws_allocator a;
    ws_handshake *hs;

    if (!out)
        return WS_ERR_INVALID_ARG;
    *out = NULL;
    if ((role != WS_ROLE_SERVER && role != WS_ROLE_CLIENT) || ws__alloc_init(&a, alloc) < 0)
        return WS_ERR_INVALID_ARG;
    hs = ws__malloc(&a, sizeof *hs);
    if (!hs)
        return WS_ERR_NOMEM;
    memset(hs, 0, sizeof *hs);
    hs->alloc = a;
    hs->is_client = (uint8_t)(role == WS_ROLE_CLIENT);
    hs->max_body = WS_DEFAULT_MAX_BODY;
    /* The parser keeps a pointer to hs->alloc: it lives exactly as long as the object. */
    ws__http_init(&hs->http, &hs->alloc, hs->is_client, WS_DEFAULT_MAX_HEADER_SIZE,
                  WS_DEFAULT_MAX_HEADERS);
    *out = hs;
    return WS_OK;
}

static void clear(ws_handshake *hs)
{
    ws__http_clear(&hs->http);
    ws__free(&hs->alloc, hs->lists, hs->lists_size);
    ws__free(&hs->alloc, hs->offer, hs->offer_size);
    ws__free(&hs->alloc, hs->body, hs->body_want);
}

void ws_handshake_free(ws_handshake *hs)
{
    if (!hs)
        return;
    clear(hs);
    ws__free(&hs->alloc, hs, sizeof *hs);
}

int ws_handshake_reset(ws_handshake *hs)
{
    ws_handshake keep;

    if (!hs)
        return WS_ERR_INVALID_ARG;
    clear(hs);
    keep = *hs;
    memset(hs, 0, sizeof *hs);
    hs->alloc = keep.alloc;
    hs->http = keep.http;
    hs->http.alloc = &hs->alloc;
    hs->rng = keep.rng;
    hs->rng_user = keep.rng_user;
    hs->max_body = keep.max_body;
    hs->is_client = keep.is_client;
    return WS_OK;
}

int ws_handshake_set_max_header_size(ws_handshake *hs, size_t bytes)
{
    if (!hs)
        return WS_ERR_INVALID_ARG;
    if (bytes < 64 || bytes > (16u << 20))
        return WS_ERR_RANGE;
    if (hs->state != WS__HS_IDLE || hs->error)
        return WS_ERR_STATE;
    hs->http.max_size = bytes;
    return WS_OK;
}

int ws_handshake_set_max_headers(ws_handshake *hs, size_t count)
{
    if (!hs)
        return WS_ERR_INVALID_ARG;
    if (count < 1 || count > 65535)
        return WS_ERR_RANGE;
    if (hs->state != WS__HS_IDLE || hs->error)
        return WS_ERR_STATE;
    hs->http.max_headers = count;
    return WS_OK;
}

int ws_handshake_set_max_body(ws_handshake *hs, size_t bytes)
{
    if (!hs)
        return WS_ERR_INVALID_ARG;
    if (bytes > (16u << 20))
        return WS_ERR_RANGE;
    if (hs->state != WS__HS_IDLE || hs->error)
        return WS_ERR_STATE;
    hs->max_body = bytes;
    return WS_OK;
}

int ws_handshake_set_random(ws_handshake *hs, ws_random_fn fn, void *user)
{
    if (!hs)
        return WS_ERR_INVALID_ARG;
    hs->rng = fn;
    hs->rng_user = user;
    return WS_OK;
}

int ws__hs_fail(ws_handshake *hs, int err)
{
    hs->error = err;
    return err;
}

int ws__hs_check_dups(const ws_handshake *hs, const char *const *names)
{
    for (; *names; names++)
        if (ws__http_count(&hs->http, *names, strlen(*names)) > 1)
            return WS_ERR_HS_DUPLICATE;
    return WS_OK;
}

const char *ws__hs_offered_extensions(const ws_handshake *hs)
{
    return hs->offer_ext;
}

/* ---- subprotocol and extension lists ---- */

static int parse_lines(const ws_handshake *hs, ws__list *l, int ext)
{
    const char *name = ext ? "Sec-WebSocket-Extensions" : "Sec-WebSocket-Protocol";
    const ws__hdr *x;
    int r;

    for (size_t k = 0; (x = ws__http_find(&hs->http, name, strlen(name), k)) != NULL; k++) {
        const char *v = ws__hval(&hs->http, x);
        r = ext ? ws__parse_extensions(l, v, x->value_len)
                : ws__parse_protocols(l, v, x->value_len);
        if (r < 0)
            return r;
    }
    return WS_OK;
}

int ws__hs_build_lists(ws_handshake *hs, int *perr, int *eerr)
{
    ws__list cp, ce, f;
    size_t size, items;
    char *mem;

    /* Count first, then one exactly-sized allocation: the lists cost no more than the header
     * block they come from, and nothing is reallocated while views are handed out. */
    memset(&cp, 0, sizeof cp);
    memset(&ce, 0, sizeof ce);
    *perr = parse_lines(hs, &cp, 0);
    *eerr = parse_lines(hs, &ce, 1);
    if (*perr < 0)
        memset(&cp, 0, sizeof cp);
    if (*eerr < 0)
        memset(&ce, 0, sizeof ce);
    items = cp.nprotos + ce.nexts + ce.nparams;
    if (items > WS_HANDSHAKE_MAX_LIST_ITEMS)
        return WS_ERR_HS_TOO_MANY_HEADERS;
    if (items == 0)
        return WS_OK;
    size = cp.nprotos * sizeof(ws__view) + ce.nexts * sizeof(ws__ext) +
           ce.nparams * sizeof(ws__param) + cp.str_len + ce.str_len;
    mem = ws__malloc(&hs->alloc, size);
    if (!mem)
        return WS_ERR_NOMEM;
    hs->lists = mem;
    hs->lists_size = size;
    memset(&f, 0, sizeof f);
    f.protos = (ws__view *)(void *)mem;
    f.exts = (ws__ext *)(void *)(mem + cp.nprotos * sizeof(ws__view));
    f.params = (ws__param *)(void *)((char *)f.exts + ce.nexts * sizeof(ws__ext));
    f.str = (char *)f.params + ce.nparams * sizeof(ws__param);
    if (*perr == 0)
        parse_lines(hs, &f, 0);
    if (*eerr == 0)
        parse_lines(hs, &f, 1);
    hs->protos = f.protos;
    hs->nprotos = f.nprotos;
    hs->exts = f.exts;
    hs->nexts = f.nexts;
    hs->params = f.params;
    hs->nparams = f.nparams;
    return WS_OK;
}

/* ---- server: the request ---- */

static int header_is(const ws_handshake *hs, const char *name, const char *want)
{
    const ws__hdr *x = ws__http_find(&hs->http, name, strlen(name), 0);
    return x && x->value_len == strlen(want) &&
           memcmp(ws__hval(&hs->http, x), want, x->value_len) == 0;
}

/* A GET that announces a body would make the bytes after the header block ambiguous: body or
 * frames. */
static int has_body(const ws_handshake *hs)
{
    const ws__hdr *cl = ws__http_find(&hs->http, LIT("Content-Length"), 0);

    if (ws__http_find(&hs->http, LIT("Transfer-Encoding"), 0))
        return 1;
    if (!cl)
        return 0;
    if (cl->value_len == 0)
        return 1;
    for (size_t i = 0; i < cl->value_len; i++)
        if (ws__hval(&hs->http, cl)[i] != '0')
            return 1;
    return 0;
}

static int check_request(ws_handshake *hs)
{
    const ws__http *h = &hs->http;
    const ws__hdr *x;
    uint8_t raw[18];
    int r, perr, eerr;

    if ((r = ws__hs_build_lists(hs, &perr, &eerr)) < 0)
        return r;
    if ((r = ws__hs_check_dups(hs, request_single)) < 0)
        return r;
    if (h->method_len != 3 || memcmp(h->buf + h->method, "GET", 3) != 0)
        return WS_ERR_HS_METHOD;
    if (h->major != 1 || h->minor < 1)
        return WS_ERR_HS_VERSION_HTTP;
    x = ws__http_find(h, LIT("Host"), 0);
    if (!x || x->value_len == 0)
        return WS_ERR_HS_NO_HOST;
    if (!ws__http_has_token(h, "Upgrade", "websocket"))
        return WS_ERR_HS_UPGRADE;
    if (!ws__http_has_token(h, "Connection", "Upgrade"))
        return WS_ERR_HS_CONNECTION;
    if (!header_is(hs, "Sec-WebSocket-Version", "13"))
        return WS_ERR_HS_WS_VERSION;
    x = ws__http_find(h, LIT("Sec-WebSocket-Key"), 0);
    if (!x || ws__base64_decode(ws__hval(h, x), x->value_len, raw, sizeof raw) != 16)
        return WS_ERR_HS_KEY;
    if (has_body(hs))
        return WS_ERR_HS_BODY;
    if (perr < 0)
        return perr;
    if (eerr < 0)
        return eerr;
    return 1;
}

/* ---- client: the response ---- */

static int offered_protocol(const ws_handshake *hs, const char *p, size_t n)
{
    const char *o = hs->offer;
    for (size_t i = 0; i < hs->offer_nprotos; i++) {
        size_t k = strlen(o);
        if (k == n && memcmp(o, p, n) == 0)
            return 1;
        o += k + 1;
    }
    return 0;
}

static int offered_extension(const ws_handshake *hs, const char *name, size_t n)
{
    ws__list l;

    if (!hs->offer_ext)
        return 0;
    memset(&l, 0, sizeof l);
    l.match = name;
    l.match_len = n;
    ws__parse_extensions(&l, hs->offer_ext, strlen(hs->offer_ext));
    return l.found;
}

/* Decide how much body of a non-101 answer to keep: only a Content-Length body is delimited
 * without reading to EOF, and the caller wants it (a 401 page, a JSON error) more than the
 * rest. */
static size_t body_wanted(const ws_handshake *hs)
{
    const ws__http *h = &hs->http;
    const ws__hdr *cl = ws__http_find(h, LIT("Content-Length"), 0);
    uint64_t v = 0;

    if (!cl || ws__http_count(h, LIT("Content-Length")) != 1 ||
        ws__http_find(h, LIT("Transfer-Encoding"), 0) || h->status < 200 || h->status == 204 ||
        h->status == 304 || cl->value_len == 0 || cl->value_len > 18)
        return 0;
    for (size_t i = 0; i < cl->value_len; i++) {
        char c = ws__hval(h, cl)[i];
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + (uint64_t)(c - '0');
    }
    return v < hs->max_body ? (size_t)v : hs->max_body;
}

static int check_response(ws_handshake *hs)
{
    const ws__http *h = &hs->http;
    const ws__hdr *x;
    int r, perr, eerr;

    if (h->status != 101) {
        hs->body_want = body_wanted(hs);
        if (hs->body_want == 0)
            return WS_ERR_HS_STATUS;
        hs->body = ws__malloc(&hs->alloc, hs->body_want);
        if (!hs->body)
            return WS_ERR_NOMEM;
        return 2;
    }
    if ((r = ws__hs_build_lists(hs, &perr, &eerr)) < 0)
        return r;
    if ((r = ws__hs_check_dups(hs, response_single)) < 0)
        return r;
    if (h->major != 1 || h->minor < 1)
        return WS_ERR_HS_VERSION_HTTP;
    if (!ws__http_has_token(h, "Upgrade", "websocket"))
        return WS_ERR_HS_UPGRADE;
    if (!ws__http_has_token(h, "Connection", "Upgrade"))
        return WS_ERR_HS_CONNECTION;
    x = ws__http_find(h, LIT("Sec-WebSocket-Accept"), 0);
    if (!x || x->value_len != 28 || memcmp(ws__hval(h, x), hs->accept, 28) != 0)
        return WS_ERR_HS_ACCEPT;
    if (perr < 0 || hs->nprotos > 1 ||
        (hs->nprotos == 1 && !offered_protocol(hs, hs->protos[0].p, hs->protos[0].len)))
        return WS_ERR_HS_SUBPROTOCOL;
    if (eerr < 0)
        return eerr;
    for (size_t i = 0; i < hs->nexts; i++)
        if (!offered_extension(hs, hs->exts[i].name, hs->exts[i].name_len))
            return WS_ERR_HS_EXTENSION;
    return 1;
}

static int feed_body(ws_handshake *hs, const uint8_t *in, size_t n, size_t *used)
{
    size_t take = hs->body_want - hs->body_len;

    if (take > n)
        take = n;
    /* take is 0 whenever in is NULL (n is 0 then); the analyzer cannot see that the HTTP
     * parser never reports more bytes used than it was given. */
    if (take)
        memcpy(hs->body + hs->body_len, in, take); /* NOLINT(clang-analyzer-core.NonNull*) */
    hs->body_len += take;
    *used = take;
    if (hs->body_len == hs->body_want)
        return ws__hs_fail(hs, WS_ERR_HS_STATUS);
    return 0;
}

int ws_handshake_feed(ws_handshake *hs, const uint8_t *in, size_t n, size_t *consumed)
{
    size_t used = 0, more = 0;
    int r;

    if (consumed)
        *consumed = 0;
    if (!hs || !consumed || (!in && n))
        return WS_ERR_INVALID_ARG;
    if (hs->h2 || (hs->is_client && !hs->requested))
        return WS_ERR_STATE;
    if (hs->error)
        return hs->error;
    if (hs->state == WS__HS_DONE)
        return 1;
    if (hs->state == WS__HS_BODY)
        return feed_body(hs, in, n, consumed);
    hs->state = WS__HS_HEAD;
    r = ws__http_feed(&hs->http, in, n, &used);
    *consumed = used;
    if (r <= 0)
        return r < 0 ? ws__hs_fail(hs, r) : 0;
    hs->parsed = 1;
    r = hs->is_client ? check_response(hs) : check_request(hs);
    if (r < 0)
        return ws__hs_fail(hs, r);
    if (r == 2) {
        hs->state = WS__HS_BODY;
        r = feed_body(hs, in + used, n - used, &more);
        *consumed = used + more;
        return r;
    }
    hs->state = WS__HS_DONE;
    return 1;
}

int ws_handshake_result(const ws_handshake *hs)
{
    if (!hs)
        return WS_ERR_INVALID_ARG;
    if (hs->error)
        return hs->error;
    return hs->state == WS__HS_DONE;
}

/* ---- views ---- */

/* Set a view; an absent one (p NULL) is WS_ERR_NOT_FOUND with NULL, 0 (ws.h rule 2). */
static int view(const char *p, size_t n, const char **out, size_t *len)
{
    if (out)
        *out = p;
    if (len)
        *len = p ? n : 0;
    return p ? WS_OK : WS_ERR_NOT_FOUND;
}

static int server_view_ok(const ws_handshake *hs)
{
    return hs && !hs->is_client && hs->parsed;
}

static int pseudo(const ws_handshake *hs, const char *name, const char **p, size_t *len)
{
    const ws__hdr *x = ws__http_find(&hs->http, name, strlen(name), 0);
    return x ? view(ws__hval(&hs->http, x), x->value_len, p, len) : view(NULL, 0, p, len);
}

int ws_handshake_method(const ws_handshake *hs, const char **p, size_t *len)
{
    if (!hs)
        return WS_ERR_INVALID_ARG;
    if (!server_view_ok(hs))
        return WS_ERR_STATE;
    if (hs->h2)
        return pseudo(hs, ":method", p, len);
    return view(hs->http.buf + hs->http.method, hs->http.method_len, p, len);
}

int ws_handshake_target(const ws_handshake *hs, const char **p, size_t *len)
{
    if (!hs)
        return WS_ERR_INVALID_ARG;
    if (!server_view_ok(hs))
        return WS_ERR_STATE;
    if (hs->h2)
        return pseudo(hs, ":path", p, len);
    return view(hs->http.buf + hs->http.target, hs->http.target_len, p, len);
}

int ws_handshake_host(const ws_handshake *hs, const char **p, size_t *len)
{
    if (!hs)
        return WS_ERR_INVALID_ARG;
    if (!server_view_ok(hs))
        return WS_ERR_STATE;
    return pseudo(hs, hs->h2 ? ":authority" : "Host", p, len);
}

int ws_handshake_header(const ws_handshake *hs, const char *name, size_t index, const char **value,
                        size_t *len)
{
    const ws__hdr *x;

    view(NULL, 0, value, len);
    if (!hs || !name)
        return WS_ERR_INVALID_ARG;
    if (!hs->parsed)
        return WS_ERR_STATE;
    x = ws__http_find(&hs->http, name, strlen(name), index);
    return x ? view(ws__hval(&hs->http, x), x->value_len, value, len) : WS_ERR_NOT_FOUND;
}

size_t ws_handshake_header_count(const ws_handshake *hs)
{
    return hs && hs->parsed ? hs->http.nhdrs : 0;
}

int ws_handshake_header_at(const ws_handshake *hs, size_t i, const char **name, size_t *name_len,
                           const char **value, size_t *value_len)
{
    const ws__hdr *x;

    if (!hs)
        return WS_ERR_INVALID_ARG;
    if (!hs->parsed)
        return WS_ERR_STATE;
    if (i >= hs->http.nhdrs) {
        view(NULL, 0, name, name_len);
        return view(NULL, 0, value, value_len);
    }
    x = &hs->http.hdrs[i];
    view(ws__hname(&hs->http, x), x->name_len, name, name_len);
    view(ws__hval(&hs->http, x), x->value_len, value, value_len);
    return WS_OK;
}

size_t ws_handshake_subprotocol_count(const ws_handshake *hs)
{
    return hs ? hs->nprotos : 0;
}

int ws_handshake_subprotocol(const ws_handshake *hs, size_t i, const char **p, size_t *len)
{
    if (!hs)
        return WS_ERR_INVALID_ARG;
    if (i >= hs->nprotos) {
        view(NULL, 0, p, len);
        return WS_ERR_NOT_FOUND;
    }
    view(hs->protos[i].p, hs->protos[i].len, p, len);
    return WS_OK;
}

size_t ws_handshake_extension_count(const ws_handshake *hs)
{
    return hs ? hs->nexts : 0;
}

int ws_handshake_extension(const ws_handshake *hs, size_t i, const char **name, size_t *name_len,
                           size_t *nparams)
{
    if (!hs)
        return WS_ERR_INVALID_ARG;
    if (nparams)
        *nparams = 0;
    if (i >= hs->nexts)
        return view(NULL, 0, name, name_len);
    view(hs->exts[i].name, hs->exts[i].name_len, name, name_len);
    if (nparams)
        *nparams = hs->exts[i].nparams;
    return WS_OK;
}

int ws_handshake_extension_param(const ws_handshake *hs, size_t i, size_t j, const char **name,
                                 size_t *name_len, const char **value, size_t *value_len)
{
    const ws__param *p;

    if (!hs)
        return WS_ERR_INVALID_ARG;
    if (i >= hs->nexts || j >= hs->exts[i].nparams) {
        view(NULL, 0, name, name_len);
        return view(NULL, 0, value, value_len);
    }
    p = &hs->params[hs->exts[i].first + j];
    view(p->name, p->name_len, name, name_len);
    (void)view(p->value, p->value_len, value, value_len); /* no value: NULL, 0 */
    return WS_OK;
}

int ws_handshake_status(const ws_handshake *hs)
{
    return hs && hs->is_client && hs->parsed ? hs->http.status : 0;
}

int ws_handshake_reason(const ws_handshake *hs, const char **p, size_t *len)
{
    if (!hs)
        return WS_ERR_INVALID_ARG;
    if (!hs->is_client || !hs->parsed)
        return WS_ERR_STATE;
    return view(hs->http.buf + hs->http.reason, hs->http.reason_len, p, len);
}

int ws_handshake_body(const ws_handshake *hs, const uint8_t **p, size_t *len)
{
    int have;

    if (p)
        *p = NULL;
    if (len)
        *len = 0;
    if (!hs)
        return WS_ERR_INVALID_ARG;
    if (!hs->is_client || !hs->parsed)
        return WS_ERR_STATE;
    have = hs->body && hs->body_len;
    if (p && have)
        *p = hs->body;
    if (len && have)
        *len = hs->body_len;
    return have ? WS_OK : WS_ERR_NOT_FOUND;
}
