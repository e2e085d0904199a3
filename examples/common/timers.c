/*
 * Timers: the connections with a deadline, in a binary min-heap keyed by it, so that a wake-up
 * costs O(log n) per timer that fired or moved instead of a scan of every connection. A
 * connection is in the heap while ws_conn_next_deadline() names a time (live) or while it
 * lingers (the linger's end); cl->timer_slot is its place + 1, 0 when absent.
 */
#include "server.h"

#include <stdlib.h>

static void place(struct ex_server *s, size_t i, struct ex_client *cl)
{
    s->heap[i] = cl;
    cl->timer_slot = i + 1;
}

static void sift_up(struct ex_server *s, size_t i)
{
    struct ex_client *cl = s->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (s->heap[parent]->deadline <= cl->deadline)
            break;
        place(s, i, s->heap[parent]);
        i = parent;
    }
    place(s, i, cl);
}

static void sift_down(struct ex_server *s, size_t i)
{
    struct ex_client *cl = s->heap[i];
    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= s->heap_len)
            break;
        if (child + 1 < s->heap_len && s->heap[child + 1]->deadline < s->heap[child]->deadline)
            child++;
        if (cl->deadline <= s->heap[child]->deadline)
            break;
        place(s, i, s->heap[child]);
        i = child;
    }
    place(s, i, cl);
}

static void remove_at(struct ex_server *s, size_t i)
{
    struct ex_client *last = s->heap[--s->heap_len];
    s->heap[i]->timer_slot = 0;
    if (i == s->heap_len)
        return;
    place(s, i, last);
    if (i > 0 && s->heap[(i - 1) / 2]->deadline > last->deadline)
        sift_up(s, i);
    else
        sift_down(s, i);
}

void ex_timer_set(struct ex_server *s, struct ex_client *cl, uint64_t when)
{
    if (when == WS_DEADLINE_NONE) {
        if (cl->timer_slot)
            remove_at(s, cl->timer_slot - 1);
        cl->deadline = WS_DEADLINE_NONE;
        return;
    }
    if (cl->timer_slot) {
        uint64_t old = cl->deadline;
        cl->deadline = when;
        if (when < old)
            sift_up(s, cl->timer_slot - 1);
        else if (when > old)
            sift_down(s, cl->timer_slot - 1);
        return;
    }
    if (s->heap_len == s->heap_cap) {
        size_t cap = s->heap_cap ? s->heap_cap * 2 : 256;
        struct ex_client **h = realloc(s->heap, cap * sizeof *h);
        if (!h)
            abort(); /* out of memory in an example: give up loudly */
        s->heap = h;
        s->heap_cap = cap;
    }
    cl->deadline = when;
    s->heap[s->heap_len++] = cl;
    sift_up(s, s->heap_len - 1);
}

struct ex_client *ex_timer_first(const struct ex_server *s)
{
    return s->heap_len ? s->heap[0] : NULL;
}

void ex_timers_free(struct ex_server *s)
{
    for (size_t i = 0; i < s->heap_len; i++)
        s->heap[i]->timer_slot = 0;
    free(s->heap);
    s->heap = NULL;
    s->heap_len = s->heap_cap = 0;
}
