/*
 * Fuzz target: a whole client-role connection (ws_conn) fed the peer's bytes in chunks of varying
 * size, with output drained partially, a fake clock and application sends. See conn_fuzz.h
 * for the input layout and the invariants checked.
 */
#include "conn_fuzz.h"
#include "frame_mutator.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return cf_run(WS_ROLE_CLIENT, data, size);
}

/* Frame-level mutations of the peer's (server's) frames: frame_mutator.h. */
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed)
{
    return fm_mutate(WS_ROLE_SERVER, data, size, max_size, seed);
}
