/* Version, error table, allocator plumbing. */
#include "internal.h"

#include <stdlib.h>

unsigned ws_version_num(void)
{
    return WS_VERSION_NUM;
}

const char *ws_version(void)
{
    return WS_VERSION_STRING;
}

const char *ws_strerror(int err)
{
    if (err >= 0)
        return "success";
    switch (err) {
#define WS_X_TEXT_(name, value, text) \
    case value:                       \
        return text;
        WS_ERROR_TABLE(WS_X_TEXT_)
#undef WS_X_TEXT_
    default:
        return "unknown error";
    }
}

const char *ws_errname(int err)
{
    if (err >= 0)
        return "WS_OK";
    switch (err) {
#define WS_X_NAME_(name, value, text) \
    case value:                       \
        return #name;
        WS_ERROR_TABLE(WS_X_NAME_)
#undef WS_X_NAME_
    default:
        return "WS_ERR_UNKNOWN";
    }
}

static void *default_malloc(void *user, size_t n)
{
    (void)user;
    return malloc(n);
}

static void *default_realloc(void *user, void *p, size_t n)
{
    (void)user;
    return realloc(p, n);
}

static void default_free(void *user, void *p)
{
    (void)user;
    free(p);
}

void ws__alloc_init(ws_allocator *dst, const ws_allocator *src)
{
    if (src && src->malloc && src->free) {
        *dst = *src;
    } else {
        dst->malloc = default_malloc;
        dst->realloc = default_realloc;
        dst->free = default_free;
        dst->user = NULL;
    }
}

void *ws__malloc(const ws_allocator *a, size_t n)
{
    return a->malloc(a->user, n ? n : 1);
}

void *ws__realloc(const ws_allocator *a, void *p, size_t old_n, size_t n)
{
    if (n == 0)
        n = 1;
    if (a->realloc)
        return a->realloc(a->user, p, n);
    void *q = a->malloc(a->user, n);
    if (q && p) {
        memcpy(q, p, old_n < n ? old_n : n);
        a->free(a->user, p);
    }
    return q;
}

void ws__free(const ws_allocator *a, void *p)
{
    if (p)
        a->free(a->user, p);
}
