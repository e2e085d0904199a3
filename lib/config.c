/*
 * Connection configurations (ws_config): the allocator, the random hook and every option a
 * connection reads, kept once and shared by the connections made with it (ws.h
 * "Configurations"). A connection holds a pointer, not a copy; ws_conn_set_option on one
 * connection gives it a private copy first (conn.c).
 */
#include "conn.h"

#define DEFAULTS(...)                                                                       \
    {                                                                                          \
        .alloc = __VA_ARGS__, .rng = ws_random_os, .max_message = WS_DEFAULT_MAX_MESSAGE_SIZE,      \
        .max_frame = WS_DEFAULT_MAX_MESSAGE_SIZE, .high_water = WS_DEFAULT_SEND_HIGH_WATER,    \
        .max_input = WS_DEFAULT_MAX_INPUT_BUFFER, .t_handshake = WS_DEFAULT_HANDSHAKE_TIMEOUT, \
        .t_pong = WS_DEFAULT_PONG_TIMEOUT, .t_close = WS_DEFAULT_CLOSE_TIMEOUT,                \
        .t_message = WS_DEFAULT_MESSAGE_TIMEOUT, .t_send = WS_DEFAULT_SEND_TIMEOUT,            \
        .borrow_min = WS_DEFAULT_BORROW_MIN_SIZE, .opts = OPT_AUTO_PONG                        \
    }

/* What a connection made without a configuration reads: never written (const), so it is not
 * state the library keeps between calls. */
const ws_config ws__config_default =
    DEFAULTS({.size = sizeof(ws_allocator),
              .malloc = ws__default_malloc,
              .realloc = ws__default_realloc,
              .free = ws__default_free});

int ws_config_new(ws_config **out, const ws_allocator *alloc)
{
    ws_allocator a;

    if (!out)
        return WS_ERR_INVALID_ARG;
    *out = NULL;
    if (ws__alloc_init(&a, alloc) < 0)
        return WS_ERR_INVALID_ARG;
    ws_config *cfg = ws__malloc(&a, sizeof *cfg);
    if (!cfg)
        return WS_ERR_NOMEM;
    *cfg = (ws_config)DEFAULTS(a);
    *out = cfg;
    return WS_OK;
}

static void config_destroy(ws_config *cfg)
{
    ws_allocator a = cfg->alloc;
    ws__pmd_free(cfg->pmd);
    ws__free(&a, cfg, sizeof *cfg);
}

void ws_config_free(ws_config *cfg)
{
    if (!cfg)
        return;
    if (cfg->users)
        cfg->released = 1; /* the last connection using it frees it */
    else
        config_destroy(cfg);
}

void ws__config_unuse(const ws_config *cfg)
{
    ws_config *w = (ws_config *)(uintptr_t)cfg; /* only shared, caller-made ones count */
    if (cfg == &ws__config_default)
        return;
    if (--w->users == 0 && w->released)
        config_destroy(w);
}

void ws__config_use(const ws_config *cfg)
{
    if (cfg != &ws__config_default)
        ((ws_config *)(uintptr_t)cfg)->users++;
}

int ws_config_set_random(ws_config *cfg, ws_random_fn rng, void *user)
{
    if (!cfg)
        return WS_ERR_INVALID_ARG;
    if (cfg->users)
        return WS_ERR_STATE;
    cfg->rng = rng ? rng : ws_random_os;
    cfg->rng_user = user;
    return WS_OK;
}

static int set_bit(ws_config *cfg, unsigned bit, uint64_t v)
{
    if (v > 1)
        return WS_ERR_RANGE;
    cfg->opts = (uint8_t)(v ? (cfg->opts | bit) : (cfg->opts & ~bit));
    return WS_OK;
}

/* Largest byte count an option takes (2^63-1: what a wire length can say). */
#define MAX_BYTES (UINT64_MAX >> 1)

static int set_u32(uint32_t *field, uint64_t v)
{
    if (v > UINT32_MAX)
        return WS_ERR_RANGE;
    *field = (uint32_t)v;
    return WS_OK;
}

int ws__config_set(ws_config *cfg, uint32_t opt, uint64_t v)
{
    switch (opt) {
    case WS_OPT_MAX_MESSAGE_SIZE:
        if (v == 0 || v > MAX_BYTES)
            return WS_ERR_RANGE;
        if (cfg->max_frame == cfg->max_message || cfg->max_frame > v)
            cfg->max_frame = v;
        cfg->max_message = v;
        return WS_OK;
    case WS_OPT_MAX_FRAME_SIZE:
        if (v == 0 || v > MAX_BYTES)
            return WS_ERR_RANGE;
        cfg->max_frame = v;
        return WS_OK;
    case WS_OPT_AUTO_PONG:
        return set_bit(cfg, OPT_AUTO_PONG, v);
    case WS_OPT_STREAMING:
        return set_bit(cfg, OPT_STREAMING, v);
    case WS_OPT_REFUSE_TEXT:
        return set_bit(cfg, OPT_REFUSE_TEXT, v);
    case WS_OPT_REFUSE_BINARY:
        return set_bit(cfg, OPT_REFUSE_BINARY, v);
    case WS_OPT_LENIENT_LENGTH:
        return set_bit(cfg, OPT_LENIENT, v);
    case WS_OPT_FRAGMENT_SIZE:
        return set_u32(&cfg->frag_size, v);
    case WS_OPT_SEND_HIGH_WATER:
        if (v > MAX_BYTES)
            return WS_ERR_RANGE;
        cfg->high_water = v;
        return WS_OK;
    case WS_OPT_SEND_POLICY:
        if (v > WS_POLICY_CLOSE_1009)
            return WS_ERR_RANGE;
        cfg->policy = (uint8_t)v;
        return WS_OK;
    case WS_OPT_HANDSHAKE_TIMEOUT:
        return set_u32(&cfg->t_handshake, v);
    case WS_OPT_PING_INTERVAL:
        return set_u32(&cfg->t_ping, v);
    case WS_OPT_PONG_TIMEOUT:
        return set_u32(&cfg->t_pong, v);
    case WS_OPT_IDLE_TIMEOUT:
        return set_u32(&cfg->t_idle, v);
    case WS_OPT_CLOSE_TIMEOUT:
        return set_u32(&cfg->t_close, v);
    case WS_OPT_MAX_INPUT_BUFFER:
        if (v == 0 || v > ((uint64_t)1 << 31))
            return WS_ERR_RANGE;
        cfg->max_input = (uint32_t)v;
        return WS_OK;
    case WS_OPT_MESSAGE_TIMEOUT:
        return set_u32(&cfg->t_message, v);
    case WS_OPT_SEND_TIMEOUT:
        return set_u32(&cfg->t_send, v);
    case WS_OPT_MEMORY_LIMIT:
        cfg->mem_limit = v;
        return WS_OK;
    case WS_OPT_INFLATE_STEP:
        if (v > ((uint64_t)1 << 31))
            return WS_ERR_RANGE;
        cfg->inflate_step = (uint32_t)v;
        return WS_OK;
    case WS_OPT_BORROW_MIN_SIZE:
        return set_u32(&cfg->borrow_min, v);
    default:
        return WS_ERR_OPTION;
    }
}

int ws__config_get(const ws_config *cfg, uint32_t opt, uint64_t *value)
{
    uint64_t v;

    switch (opt) {
    case WS_OPT_MAX_MESSAGE_SIZE:
        v = cfg->max_message;
        break;
    case WS_OPT_MAX_FRAME_SIZE:
        v = cfg->max_frame;
        break;
    case WS_OPT_AUTO_PONG:
        v = (cfg->opts & OPT_AUTO_PONG) != 0;
        break;
    case WS_OPT_STREAMING:
        v = (cfg->opts & OPT_STREAMING) != 0;
        break;
    case WS_OPT_REFUSE_TEXT:
        v = (cfg->opts & OPT_REFUSE_TEXT) != 0;
        break;
    case WS_OPT_REFUSE_BINARY:
        v = (cfg->opts & OPT_REFUSE_BINARY) != 0;
        break;
    case WS_OPT_LENIENT_LENGTH:
        v = (cfg->opts & OPT_LENIENT) != 0;
        break;
    case WS_OPT_FRAGMENT_SIZE:
        v = cfg->frag_size;
        break;
    case WS_OPT_SEND_HIGH_WATER:
        v = cfg->high_water;
        break;
    case WS_OPT_SEND_POLICY:
        v = cfg->policy;
        break;
    case WS_OPT_HANDSHAKE_TIMEOUT:
        v = cfg->t_handshake;
        break;
    case WS_OPT_PING_INTERVAL:
        v = cfg->t_ping;
        break;
    case WS_OPT_PONG_TIMEOUT:
        v = cfg->t_pong;
        break;
    case WS_OPT_IDLE_TIMEOUT:
        v = cfg->t_idle;
        break;
    case WS_OPT_CLOSE_TIMEOUT:
        v = cfg->t_close;
        break;
    case WS_OPT_MAX_INPUT_BUFFER:
        v = cfg->max_input;
        break;
    case WS_OPT_MESSAGE_TIMEOUT:
        v = cfg->t_message;
        break;
    case WS_OPT_SEND_TIMEOUT:
        v = cfg->t_send;
        break;
    case WS_OPT_MEMORY_LIMIT:
        v = cfg->mem_limit;
        break;
    case WS_OPT_INFLATE_STEP:
        v = cfg->inflate_step;
        break;
    case WS_OPT_BORROW_MIN_SIZE:
        v = cfg->borrow_min;
        break;
    default:
        return WS_ERR_OPTION;
    }
    *value = v;
    return WS_OK;
}

int ws_config_set_option(ws_config *cfg, uint32_t opt, uint64_t value)
{
    if (!cfg)
        return WS_ERR_INVALID_ARG;
    if (cfg->users)
        return WS_ERR_STATE; /* connections read it: it stays as they were made with it */
    if (ws__pmd_is_option((int)opt))
        return ws__pmd_set_option(&cfg->pmd, &cfg->alloc, (int)opt, value);
    return ws__config_set(cfg, opt, value);
}

int ws_config_get_option(const ws_config *cfg, uint32_t opt, uint64_t *value)
{
    if (!cfg || !value)
        return WS_ERR_INVALID_ARG;
    if (ws__pmd_is_option((int)opt)) {
        *value = ws__pmd_get_option(cfg->pmd, (int)opt);
        return WS_OK;
    }
    return ws__config_get(cfg, opt, value);
}

int ws__config_apply_deflate(const ws_config *cfg, ws__pmd **pp, const ws_allocator *a)
{
    int r;
    if (!cfg->pmd)
        return WS_OK;
    for (int opt = WS_OPT_DEFLATE; opt <= WS_OPT_DEFLATE_PEER_NO_TAKEOVER; opt++)
        if ((r = ws__pmd_set_option(pp, a, opt, ws__pmd_get_option(cfg->pmd, opt))) < 0)
            return r;
    return WS_OK;
}
