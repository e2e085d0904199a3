/* Reconnect backoff with full jitter: sleep = random(0, min(cap, base * 2^attempt)). */
#include "internal.h"

void ws_backoff_init(ws_backoff *b, uint32_t base_ms, uint32_t cap_ms, uint32_t stable_ms)
{
    if (!b)
        return;
    b->base_ms = base_ms ? base_ms : 1;
    b->cap_ms = cap_ms < b->base_ms ? b->base_ms : cap_ms;
    b->stable_ms = stable_ms;
    b->attempt = 0;
    b->connected_at = 0;
}

uint32_t ws_backoff_next(ws_backoff *b, uint32_t random32)
{
    uint64_t ceiling;

    if (!b)
        return 0;
    /* base * 2^attempt, saturating at cap without overflowing. */
    ceiling = b->base_ms;
    for (uint32_t i = 0; i < b->attempt && ceiling < b->cap_ms; i++)
        ceiling *= 2;
    if (ceiling > b->cap_ms)
        ceiling = b->cap_ms;
    if (b->attempt < UINT32_MAX)
        b->attempt++;
    return (uint32_t)(random32 % (ceiling + 1));
}

void ws_backoff_connected(ws_backoff *b, uint64_t now_ms)
{
    if (b)
        b->connected_at = now_ms ? now_ms : 1;
}

void ws_backoff_disconnected(ws_backoff *b, uint64_t now_ms)
{
    if (!b || !b->connected_at)
        return;
    if (now_ms >= b->connected_at && now_ms - b->connected_at >= b->stable_ms)
        b->attempt = 0;
    b->connected_at = 0;
}
