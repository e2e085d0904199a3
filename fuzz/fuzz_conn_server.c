/*
 * Fuzz target: a whole server-role connection (ws_conn) fed the peer's bytes in chunks of varying
 * size, with output drained partially, a fake clock and application sends. See conn_fuzz.h
 * for the input layout and the invariants checked.
 */
#include "conn_fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return cf_run(WS_ROLE_SERVER, data, size);
}
