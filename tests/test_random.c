/* Randomness: the OS default hook (lib/random.c, ws_random_os) and how the library uses a
 * caller's hook (ws_random_fn) for masking keys. Handshake nonces: test_handshake.c. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* syscall(), for the getrandom() and read() stand-ins below */
#endif
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

#if defined(__linux__)
#include <errno.h>
#include <fcntl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* This program's getrandom() and read() stand in for the C library's: the library's calls
 * bind to them at link time. By default each is the real system call. A test can make
 * getrandom fail with ENOSYS (a kernel before 3.17, where ws_random_os must read /dev/urandom
 * instead), with EINTR once, or with EIO, return at most 5 bytes a call, or act as before the
 * kernel's pool is seeded (a blocking call waits, then succeeds; GRND_NONBLOCK fails with
 * EAGAIN); and make read fail with EINTR once or with EIO, return at most 5 bytes a call, or
 * report end of file (at once, or after an EINTR). */
enum { GR_REAL, GR_ENOSYS, GR_EINTR_ONCE, GR_SHORT, GR_EIO, GR_UNSEEDED };
enum { RD_REAL, RD_EINTR_ONCE, RD_SHORT, RD_EIO, RD_EOF, RD_EINTR_THEN_EOF };
static int gr_mode = GR_REAL, gr_calls, rd_mode = RD_REAL, rd_calls;

ssize_t getrandom(void *buf, size_t n, unsigned int flags)
{
    gr_calls++;
    if (gr_mode == GR_ENOSYS || gr_mode == GR_EIO || (gr_mode == GR_EINTR_ONCE && gr_calls == 1) ||
        (gr_mode == GR_UNSEEDED && (flags & GRND_NONBLOCK))) {
        errno = gr_mode == GR_ENOSYS ? ENOSYS
                : gr_mode == GR_EIO  ? EIO
                : gr_mode == GR_UNSEEDED ? EAGAIN
                                     : EINTR;
        return -1;
    }
    if (gr_mode == GR_SHORT && n > 5)
        n = 5;
    return (ssize_t)syscall(SYS_getrandom, buf, n, flags & ~(unsigned)GRND_NONBLOCK);
}

ssize_t read(int fd, void *buf, size_t n)
{
    rd_calls++;
    int eintr = rd_mode == RD_EINTR_ONCE || rd_mode == RD_EINTR_THEN_EOF;
    if (rd_mode == RD_EIO || (eintr && rd_calls == 1)) {
        errno = rd_mode == RD_EIO ? EIO : EINTR;
        return -1;
    }
    if (rd_mode == RD_EOF || rd_mode == RD_EINTR_THEN_EOF)
        return 0; /* errno untouched, as by a successful read */
    if (rd_mode == RD_SHORT && n > 5)
        n = 5;
    return (ssize_t)syscall(SYS_read, fd, buf, n);
}

/* ws_random_os(buf, n) with getrandom and read in these modes, on a zeroed buffer: its
 * result, and the buffer checked to be filled to the end (no 8-byte slice left zero: 2^-64
 * chance each of a false failure). */
static int random_os_in(int gmode, int rmode, uint8_t *buf, size_t n)
{
    memset(buf, 0, n);
    gr_mode = gmode;
    rd_mode = rmode;
    gr_calls = rd_calls = 0;
    int r = ws_random_os(NULL, buf, n);
    gr_mode = GR_REAL;
    rd_mode = RD_REAL;
    if (r == 0)
        for (size_t i = 0; i + 8 <= n; i += 8)
            assert_memory_not_equal(buf + i, "\0\0\0\0\0\0\0\0", 8);
    return r;
}

/* One byte at a time, 64 times: some byte is not zero (2^-512 chance of a false failure). */
static void one_byte_requests(int gmode)
{
    uint8_t b, any = 0;
    for (int i = 0; i < 64; i++) {
        assert_int_equal(random_os_in(gmode, RD_REAL, &b, 1), 0);
        any |= b;
    }
    assert_int_not_equal(any, 0);
}

/* The OS random source whatever getrandom(2) does: interrupted calls are retried, short reads
 * continued where they stopped, an unseeded pool waited for, single bytes served; a kernel
 * without getrandom (ENOSYS) falls back to /dev/urandom, read the same way -- each fills the
 * whole buffer with fresh bytes -- and a failure that leaves no source at all (another
 * error, /dev/urandom failing or at its end, or no descriptor free to open it) is -1, never a
 * buffer that merely looks random. Also with standard input closed, so that /dev/urandom
 * opens as descriptor 0. */
static void test_random_os_fallbacks(void **state)
{
    (void)state;
    uint8_t a[4096], b[4096];

    assert_int_equal(random_os_in(GR_REAL, RD_REAL, a, 64), 0);
    assert_true(gr_calls >= 1); /* the stand-in is the one the library calls */
    assert_int_equal(random_os_in(GR_EINTR_ONCE, RD_REAL, a, 64), 0);
    assert_int_equal(gr_calls, 2);
    assert_int_equal(random_os_in(GR_SHORT, RD_REAL, a, 64), 0);
    assert_int_equal(gr_calls, 13); /* 12 calls of 5 bytes, one of 4 */
    assert_int_equal(random_os_in(GR_UNSEEDED, RD_REAL, a, 64), 0);
    one_byte_requests(GR_REAL);
    assert_int_equal(random_os_in(GR_EIO, RD_REAL, a, 64), -1);
    assert_int_equal(gr_calls, 1);

    /* no getrandom: /dev/urandom */
    assert_int_equal(random_os_in(GR_ENOSYS, RD_REAL, a, sizeof a), 0);
    assert_true(rd_calls >= 1);
    assert_int_equal(random_os_in(GR_ENOSYS, RD_REAL, b, sizeof b), 0);
    assert_memory_not_equal(a, b, sizeof a);
    one_byte_requests(GR_ENOSYS);
    assert_int_equal(random_os_in(GR_ENOSYS, RD_EINTR_ONCE, a, 64), 0);
    assert_int_equal(rd_calls, 2);
    assert_int_equal(random_os_in(GR_ENOSYS, RD_SHORT, a, 64), 0);
    assert_int_equal(rd_calls, 13);
    assert_int_equal(random_os_in(GR_ENOSYS, RD_EIO, a, 64), -1);
    assert_int_equal(random_os_in(GR_ENOSYS, RD_EOF, a, 64), -1);
    assert_int_equal(random_os_in(GR_ENOSYS, RD_EINTR_THEN_EOF, a, 64), -1);
    assert_int_equal(rd_calls, 2);

    int saved = dup(0);
    assert_true(saved > 0);
    assert_int_equal(close(0), 0);
    int r = random_os_in(GR_ENOSYS, RD_REAL, a, 64);
    int fd = open("/dev/null", O_RDONLY); /* reads nothing: the bytes are still ws_random_os's */
    assert_int_equal(fd, 0);
    assert_int_equal(close(fd), 0); /* descriptor 0 was free again: /dev/urandom was closed */
    assert_int_equal(dup2(saved, 0), 0);
    assert_int_equal(close(saved), 0);
    assert_int_equal(r, 0);

    struct rlimit lim, none;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &lim), 0);
    none = lim;
    none.rlim_cur = 0; /* open() fails with EMFILE */
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &none), 0);
    r = random_os_in(GR_ENOSYS, RD_REAL, a, 64);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &lim), 0);
    assert_int_equal(r, -1);
}
#endif

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
#if defined(__linux__)
        cmocka_unit_test(test_random_os_fallbacks),
#endif
        cmocka_unit_test(test_mask_key_hook),
    };
    return cmocka_run_group_tests_name("random", tests, NULL, NULL);
}
