/* Reconnect backoff with full jitter: sleep = random(0, min(cap, base * 2^attempt)). */
#include "internal.h"

int ws_backoff_init(ws_backoff *b, size_t b_size, uint32_t base_ms, uint32_t cap_ms,
                    uint32_t stable_ms)
{
    ws_backoff v;

    if (!b || b_size < WS__MIN_BACKOFF || b_size > UINT32_MAX)
        return WS_ERR_INVALID_ARG;
    memset(&v, 0, sizeof v);
    v.size = (uint32_t)b_size;
    v.base_ms = base_ms ? base_ms : 1;
    v.cap_ms = cap_ms < v.base_ms ? v.base_ms : cap_ms;
    v.stable_ms = stable_ms;
    ws__struct_copy(b, b_size, &v, sizeof v);
    return WS_OK;
}

/* Only fields of the 0.2 layout are touched below, so any initialised size will do. */
static int valid(const ws_backoff *b)
{
    return b && b->size >= WS__MIN_BACKOFF;
}

int ws_backoff_next(ws_backoff *b, uint32_t random32, uint32_t *delay_ms)
{
    uint64_t ceiling;

    if (!valid(b) || !delay_ms)
        return WS_ERR_INVALID_ARG;
    /* base * 2^attempt, saturating at cap without overflowing. */
    ceiling = b->base_ms;
    for (uint32_t i = 0; i < b->attempt && ceiling < b->cap_ms; i++)
        ceiling *= 2;
    if (ceiling > b->cap_ms)
        ceiling = b->cap_ms;
    if (b->attempt < UINT32_MAX)
        b->attempt++;
    *delay_ms = (uint32_t)(random32 % (ceiling + 1));
    return WS_OK;
}

int ws_backoff_connected(ws_backoff *b, uint64_t now_ms)
{
    if (!valid(b))
        return WS_ERR_INVALID_ARG;
    b->connected_at = now_ms ? now_ms : 1;
    return WS_OK;
}

int ws_backoff_disconnected(ws_backoff *b, uint64_t now_ms)
{
    if (!valid(b))
        return WS_ERR_INVALID_ARG;
    if (b->connected_at && now_ms >= b->connected_at && now_ms - b->connected_at >= b->stable_ms)
        b->attempt = 0;
    b->connected_at = 0;
    return WS_OK;
}
