/*
 * AFL++ driver for the libFuzzer entry points (make fuzz-afl): built with afl-clang-fast it runs
 * in persistent shared-memory mode, thousands of inputs per fork; built with any other compiler
 * it runs the entry point once on the file named on the command line (or on stdin), so the
 * same binary also reproduces a crash by hand. Each input is copied into an exactly-sized heap
 * buffer so an over-read is caught (ASan under AFL_USE_ASAN=1).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef __AFL_FUZZ_TESTCASE_LEN
__AFL_FUZZ_INIT();
#endif

static void run_copy(const uint8_t *data, size_t n)
{
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        abort();
    if (n)
        memcpy(copy, data, n);
    LLVMFuzzerTestOneInput(copy, n);
    free(copy);
}

int main(int argc, char **argv)
{
#ifdef __AFL_FUZZ_TESTCASE_LEN
    (void)argc;
    (void)argv;
    __AFL_INIT();
    const unsigned char *buf = __AFL_FUZZ_TESTCASE_BUF;
    while (__AFL_LOOP(10000))
        run_copy(buf, (size_t)__AFL_FUZZ_TESTCASE_LEN);
    return 0;
#else
    FILE *f = argc > 1 ? fopen(argv[1], "rb") : stdin;
    uint8_t *buf = NULL;
    size_t n = 0, cap = 0;

    if (!f) {
        perror(argv[1]);
        return 1;
    }
    for (;;) {
        if (n == cap) {
            uint8_t *p = realloc(buf, cap ? cap * 2 : 65536);
            if (!p)
                abort();
            buf = p;
            cap = cap ? cap * 2 : 65536;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        if (k == 0)
            break;
        n += k;
    }
    if (f != stdin)
        fclose(f);
    run_copy(buf, n);
    free(buf);
    return 0;
#endif
}
