/* The only file that asks the OS for anything: the default CSPRNG hook. */
#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE
#endif
#if defined(__APPLE__) || defined(__FreeBSD__) || defined(__OpenBSD__) || \
    defined(__NetBSD__) || defined(__DragonFly__)
#define WS_HAVE_ARC4RANDOM 1
#endif

#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/random.h>
#endif

#if !defined(WS_HAVE_ARC4RANDOM)
static int read_urandom(uint8_t *p, size_t n)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            close(fd);
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    close(fd);
    return 0;
}
#endif

int ws_random_os(void *user, void *buf, size_t n)
{
    (void)user;
    if (n == 0)
        return 0;
    if (!buf)
        return -1;
#if defined(WS_HAVE_ARC4RANDOM)
    arc4random_buf(buf, n);
    return 0;
#else
    uint8_t *p = buf;
#if defined(__linux__)
    while (n > 0) {
        ssize_t r = getrandom(p, n, 0);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ENOSYS)
                return read_urandom(p, n);
            return -1;
        }
        p += r;
        n -= (size_t)r;
    }
    return 0;
#else
    return read_urandom(p, n);
#endif
#endif
}
