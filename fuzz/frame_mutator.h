/*
 * A libFuzzer custom mutator working on frames, for the connection targets: the peer's byte
 * stream after the 3 configuration bytes (and after the HTTP message, when there is one) is
 * loaded into a ws_gen as frames (ws_gen_load: any bytes, whatever rules they break), then
 * one to three steps drawn from libFuzzer's seed change it at frame level -- a mutation from
 * ws.h's list anywhere in the stream (reserved bits and opcodes, length encodings, splitting,
 * merging, interleaving, control frames inserted, masking flipped, UTF-8 broken across
 * fragments, close payloads broken) or a valid message, ping or close appended -- and the
 * frames are written back. One call in four is libFuzzer's own byte-level mutation instead,
 * so the configuration bytes and the HTTP message keep changing too.
 *
 * A target's LLVMFuzzerCustomMutator calls fm_mutate with the role whose frames its input
 * carries (the peer of the connection under test). The generator is made once and kept.
 */
#ifndef WS_FUZZ_FRAME_MUTATOR_H
#define WS_FUZZ_FRAME_MUTATOR_H

#include "ws.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size)
    __attribute__((weak)); /* absent in the replay and AFL builds, which never call this */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed);

/* Where the frames start: after the 3 configuration bytes, and after the HTTP message unless
 * configuration bit 0 opens the connection without a handshake. size when there is none. */
static size_t fm_frames_at(const uint8_t *data, size_t size)
{
    if (size < 3)
        return size;
    if (data[0] & 1)
        return 3;
    for (size_t i = 3; i + 4 <= size; i++)
        if (!memcmp(data + i, "\r\n\r\n", 4))
            return i + 4;
    return size;
}

static size_t fm_mutate(uint32_t sender, uint8_t *data, size_t size, size_t max_size,
                        unsigned int seed)
{
    static ws_gen *gens[2];
    size_t at = fm_frames_at(data, size);
    uint64_t r = (uint64_t)seed * 0x9E3779B97F4A7C15ull;

    if ((r >> 60) < 8 || at >= max_size || max_size - at < 64 || !LLVMFuzzerMutate)
        return LLVMFuzzerMutate ? LLVMFuzzerMutate(data, size, max_size) : size;
    ws_gen **gp = &gens[sender & 1];
    if (!*gp) {
        ws_gen_config c;
        memset(&c, 0, sizeof c);
        c.size = sizeof c;
        c.sender = sender;
        c.max_message = 300;
        c.max_frames = 256;
        c.max_bytes = 8192;
        c.limit = 1000; /* above the targets' small limits, below their defaults */
        if (ws_gen_new(gp, &c, NULL) != WS_OK)
            return LLVMFuzzerMutate(data, size, max_size);
    }
    ws_gen *g = *gp;
    if (ws_gen_reset(g, r) != WS_OK || ws_gen_load(g, data + at, size - at) != WS_OK)
        return LLVMFuzzerMutate(data, size, max_size);
    unsigned steps = 1 + (unsigned)((r >> 56) % 3);
    for (unsigned i = 0; i < steps; i++) {
        unsigned what = (unsigned)((r >> (8 * i)) & 15);
        if (what < 10)
            (void)ws_gen_mutate(g, WS_MUT_ANY, WS_MUT_ANYWHERE, NULL);
        else if (what < 14)
            (void)ws_gen_add(g, WS_GEN_ANY);
        else
            (void)ws_gen_add(g, WS_GEN_CLOSE);
    }
    const uint8_t *p;
    size_t n;
    if (ws_gen_output(g, &p, &n) != WS_OK || n > max_size - at)
        return LLVMFuzzerMutate(data, size, max_size);
    memcpy(data + at, p, n);
    return at + n;
}

#endif
