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

void *ws__default_malloc(void *user, size_t n)
{
    (void)user;
    return malloc(n);
}

void *ws__default_realloc(void *user, void *p, size_t old_n, size_t n)
{
    (void)user;
    (void)old_n;
    return realloc(p, n);
}

void ws__default_free(void *user, void *p, size_t n)
{
    (void)user;
    (void)n;
    free(p);
}

int ws__alloc_init(ws_allocator *dst, const ws_allocator *src)
{
    memset(dst, 0, sizeof *dst);
    dst->size = sizeof *dst;
    if (!src) {
        dst->malloc = ws__default_malloc;
        dst->realloc = ws__default_realloc;
        dst->free = ws__default_free;
        return WS_OK;
    }
    if (src->size < WS__MIN_ALLOCATOR || !src->malloc || !src->free)
        return WS_ERR_INVALID_ARG;
    ws__struct_copy(dst, sizeof *dst, src, src->size);
    dst->size = sizeof *dst;
    return WS_OK;
}

void *ws__malloc(const ws_allocator *a, size_t n)
{
    return a->malloc(a->user, n ? n : 1);
}

void *ws__realloc(const ws_allocator *a, void *p, size_t old_n, size_t n)
{
    if (n == 0)
        n = 1;
    if (!p)
        return a->malloc(a->user, n);
    if (old_n == 0)
        old_n = 1; /* what ws__malloc asked for */
    if (a->realloc)
        return a->realloc(a->user, p, old_n, n);
    void *q = a->malloc(a->user, n);
    if (q) {
        memcpy(q, p, old_n < n ? old_n : n);
        a->free(a->user, p, old_n);
    }
    return q;
}

void ws__free(const ws_allocator *a, void *p, size_t n)
{
    if (p)
        a->free(a->user, p, n ? n : 1);
}

int ws_close_code_valid(unsigned code)
{
    return (code >= WS_CLOSE_NORMAL && code <= WS_CLOSE_UNSUPPORTED_DATA) ||
           (code >= WS_CLOSE_INVALID_PAYLOAD && code <= WS_CLOSE_BAD_GATEWAY) ||
           (code >= WS_CLOSE_REGISTERED_MIN && code <= WS_CLOSE_PRIVATE_MAX);
}

unsigned ws_close_code_for_error(int err)
{
    switch (err) {
    case WS_ERR_FRAME_TOO_LARGE:
    case WS_ERR_MESSAGE_TOO_BIG:
        return WS_CLOSE_MESSAGE_TOO_BIG;
    case WS_ERR_INVALID_UTF8:
    case WS_ERR_DEFLATE_DATA:
        return WS_CLOSE_INVALID_PAYLOAD;
    case WS_ERR_DATA_TYPE:
        return WS_CLOSE_UNSUPPORTED_DATA;
    case WS_ERR_NOMEM:
        return WS_CLOSE_INTERNAL_ERROR;
    case WS_ERR_BUDGET:
        return WS_CLOSE_TRY_AGAIN_LATER;
    case WS_ERR_MESSAGE_TIMEOUT:
        return WS_CLOSE_POLICY_VIOLATION;
    default:
        return WS_CLOSE_PROTOCOL_ERROR;
    }
}
