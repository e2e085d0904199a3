/* Randomness: the OS default hook (lib/random.c, ws_random_os) and how the library uses a
 * caller's hook (ws_random_fn) for masking keys. Handshake nonces: test_handshake.c. */
#include "testutil.h"

#include "ws.h"

/* The default fills what it is asked for, a request past 256 bytes too (getrandom may return
 * less than asked above that: the rest must still be filled), gives different bytes each
 * call, accepts an empty request with no buffer and refuses a buffer missing for a length. */
static void test_random_os(void **state)
{
    uint8_t a[300], b[300], zero[300];
    (void)state;
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    memset(zero, 0, sizeof zero);
    assert_int_equal(ws_random_os(NULL, a, sizeof a), 0);
    assert_int_equal(ws_random_os(NULL, b, sizeof b), 0);
    /* Each comparison fails falsely with a chance of 2^-352 or less. */
    assert_memory_not_equal(a, b, sizeof a);
    assert_memory_not_equal(a, zero, 64);
    assert_memory_not_equal(a + 256, zero, sizeof a - 256);
    assert_int_equal(ws_random_os(NULL, NULL, 0), 0);
    assert_int_equal(ws_random_os(NULL, NULL, 4), -1);
}

/* A masking key comes from the caller's hook when there is one (its bytes, in order), a
 * failing hook is WS_ERR_RANDOM rather than a weak key, and no hook means the OS default. */
static void test_mask_key_hook(void **state)
{
    uint8_t key[4];
    unsigned next = 0;
    (void)state;
    assert_int_equal(ws_frame_make_mask(failing_rng, NULL, key), WS_ERR_RANDOM);
    assert_int_equal(ws_frame_make_mask(seq_rng, &next, key), WS_OK);
    assert_memory_equal(key, "\x00\x01\x02\x03", 4);
    assert_int_equal(next, 4);
    assert_int_equal(ws_frame_make_mask(seq_rng, &next, key), WS_OK);
    assert_memory_equal(key, "\x04\x05\x06\x07", 4);
    assert_int_equal(ws_frame_make_mask(NULL, NULL, key), WS_OK);
    assert_int_equal(ws_frame_make_mask(NULL, NULL, NULL), WS_ERR_INVALID_ARG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_os),
        cmocka_unit_test(test_mask_key_hook),
    };
    return cmocka_run_group_tests_name("random", tests, NULL, NULL);
}
