/*
 * permessage-deflate without zlib: the codec's entry points for a build that has none. The
 * negotiation (pmd_negotiate.c) declines every offer there and WS_OPT_DEFLATE cannot be set,
 * so a connection is never active and the data path is never entered; these only keep the
 * link whole and say WS_ERR_UNSUPPORTED where a caller could reach them.
 */
#include "pmd_state.h"

#if !WS_HAVE_ZLIB

int ws_deflate_shared_new(ws_deflate_shared **out, const ws_allocator *alloc, int window_bits,
                          int mem_level, int level)
{
    (void)alloc;
    (void)window_bits;
    (void)mem_level;
    (void)level;
    if (!out)
        return WS_ERR_INVALID_ARG;
    *out = NULL;
    return WS_ERR_UNSUPPORTED;
}

void ws_deflate_shared_free(ws_deflate_shared *s)
{
    (void)s;
}

void ws__pmd_set_zlib_step(ws__pmd *p, size_t step)
{
    (void)p;
    (void)step;
}

void ws__pmd_free(ws__pmd *p)
{
    if (p) {
        ws_allocator a = p->alloc;
        ws__free(&a, p, sizeof *p);
    }
}

int ws__pmd_tx_begin(ws__pmd *p, size_t len, int whole, unsigned flags)
{
    (void)p;
    (void)len;
    (void)whole;
    (void)flags;
    return 0;
}

int ws__pmd_tx_compressing(const ws__pmd *p)
{
    (void)p;
    return 0;
}

int ws__pmd_tx_compress(ws__pmd *p, const uint8_t *in, size_t n, int fin, uint8_t *stack,
                        size_t stack_cap, const uint8_t **out, size_t *out_len)
{
    (void)p;
    (void)in;
    (void)n;
    (void)fin;
    (void)stack;
    (void)stack_cap;
    (void)out;
    (void)out_len;
    return WS_ERR_UNSUPPORTED;
}

void ws__pmd_tx_done(ws__pmd *p, int fin, int ok)
{
    (void)p;
    (void)fin;
    (void)ok;
}

int ws__pmd_rx_begin(ws__pmd *p)
{
    (void)p;
    return WS_ERR_UNSUPPORTED;
}

int ws__pmd_rx_in_message(const ws__pmd *p)
{
    (void)p;
    return 0;
}

int ws__pmd_rx_append(ws__pmd *p, const uint8_t *in, size_t n, int msg_end, uint8_t **buf,
                      size_t *len, size_t *cap, uint64_t limit, size_t step)
{
    (void)step;
    (void)p;
    (void)in;
    (void)n;
    (void)msg_end;
    (void)buf;
    (void)len;
    (void)cap;
    (void)limit;
    return WS_ERR_UNSUPPORTED;
}

int ws__pmd_rx_stream(ws__pmd *p, const uint8_t *in, size_t n, int msg_end, size_t max_out,
                      const uint8_t **out, size_t *out_len)
{
    (void)p;
    (void)in;
    (void)n;
    (void)msg_end;
    (void)max_out;
    (void)out;
    (void)out_len;
    return WS_ERR_UNSUPPORTED;
}

int ws__pmd_rx_pending(const ws__pmd *p)
{
    (void)p;
    return 0;
}

void ws__pmd_rx_end(ws__pmd *p)
{
    (void)p;
}

#else
/* With zlib the codec is deflate.c; ISO C wants a declaration in every file. */
typedef int ws__deflate_none_unused;
#endif
