/*
 * echo-poll: the echo server on poll(2), for any POSIX system. Only the event loop differs from
 * echo-epoll: here it is the reusable one in examples/common/loop_poll.c (also used by the
 * broadcast server); everything else is in examples/common/server.c.
 */
#include "common/server.h"

#include <stdlib.h>

int main(int argc, char **argv)
{
    struct ex_options o;
    struct ex_server *s = malloc(sizeof *s);

    ex_parse_args(argc, argv, &o, 0);
    ex_raise_nofile();
    ex_install_signals();
    if (!s || ex_server_init(s, &o, ex_poll_ops, ex_echo) != 0)
        return 1;
    ex_run_poll(s);
    ex_server_free(s);
    free(s);
    return 0;
}
