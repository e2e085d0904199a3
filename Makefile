# libws -- GNU make build. See README.md for the targets.
#
#   make                 library (static + shared), examples, tests under build/
#   make check           build and run the cmocka suite
#   make asan            the suite under AddressSanitizer + UBSan (= make check SANITIZE=1)
#   make valgrind        the suite under valgrind memcheck
#   make run             build and start the demo server / example
#   make deps            apt-get install what the tests need, only what is missing
#   make install PREFIX=/usr/local [DESTDIR=...]
#   make bench           benchmarks (see bench/; QUICK=1 for a short run; make bench-callgrind)
#   make conformance     wsconform against the echo servers and wsc alone (also part of check)
#   make interop         against Python websockets, Node ws, Chromium, nginx (tests/interop)
#   make h2-check        WebSockets over HTTP/2: h2-server against Python h2 and Chromium
#   make wsconform-run   wsconform against a server with planted bugs (tools/wsconform/selftest.sh):
#                        the clean server passes, each bug fails exactly where Autobahn's rules say
#   make wsconform-peers wsconform against Python websockets and Node ws, both directions (also
#                        part of make interop)
#   make wsfuzz-run      the black-box fuzzer tools/wsfuzz against the echo servers (WSFUZZ_SESSIONS,
#                        WSFUZZ_SEED) and against a deliberately broken server it must fail
#   make python-check    the Python binding's tests (bindings/python) against build/libws.so
#   make redis-check     broadcast --redis: three nodes, 300 clients, a real redis-server
#                        (tests/redis/test_redis.c; skipped, saying so, when REDIS=0)
#   make fuzz, fuzz-run (FUZZ_SECONDS=60), fuzz-afl, coverage, lint: see fuzz/README.md
#   make cross-check     the suite cross-compiled for aarch64 (NEON) and s390x (big-endian) and
#                        run under qemu-user (ARCH=aarch64 or ARCH=s390x for one; see
#                        tools/cross-check.sh; WS_TEST_QUICK=1 samples the exhaustive loops)
#   make mutate          mutation testing of lib/*.c against what make check runs (COUNT, SEED,
#                        FILES, MATCH, THRESHOLD); make mutate-sample: the bounded CI sample
#   Options: ZLIB=0|1 (default: 1 when zlib is found), WERROR=1, CC=clang, SANITIZE=1,
#            UV=0|1, URING=0|1 (echo-uv, echo-uring; default: 1 when libuv / liburing is found),
#            REDIS=0|1 (broadcast --redis through hiredis; default: 1 when libhiredis is found),
#            TLS=0|1 (wss:// in the examples through OpenSSL; default: 1 when a program using
#            libssl builds with $(CC); the library itself never uses TLS),
#            H2=0|1 (h2-server, WebSockets over HTTP/2 on nghttp2; default: 1 when found)

VERSION   := 0.2.0
SOVERSION := 0
PREFIX    ?= /usr/local
LIBDIR    ?= $(PREFIX)/lib
INCDIR    ?= $(PREFIX)/include

CC        ?= cc
OPT       ?= -O2 -g
WARN      := -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CSTD      := -std=c11

ifeq ($(origin ZLIB), undefined)
ZLIB := $(shell printf '\043include <zlib.h>\nint main(void){return zlibVersion()==0;}\n' | \
          $(CC) -x c - -lz -o /dev/null >/dev/null 2>&1 && echo 1 || echo 0)
endif

ifeq ($(SANITIZE),1)
B         ?= build/asan
OPT       := -O1 -g -fno-omit-frame-pointer
SANFLAGS  := -fsanitize=address,undefined -fno-sanitize-recover=all
else
B         ?= build
SANFLAGS  :=
endif

CPPFLAGS  += -Iinclude
ifeq ($(ZLIB),1)
CPPFLAGS  += -DWS_HAVE_ZLIB=1
ZLIB_LIBS := -lz
endif
ifeq ($(WERROR),1)
WARN      += -Werror
endif
ALL_CFLAGS := $(CSTD) $(WARN) $(OPT) $(SANFLAGS) -fPIC -fvisibility=hidden $(CFLAGS)

LIB_SRCS  := $(sort $(wildcard lib/*.c))
LIB_OBJS  := $(LIB_SRCS:%.c=$(B)/%.o)
TEST_SRCS := $(sort $(wildcard tests/test_*.c))
TESTS     := $(TEST_SRCS:tests/%.c=$(B)/tests/%)
# The conformance run (tests/conformance/run.c: build/tools/wsconform against the echo servers
# and wsc, cmocka-style totals) runs in make check with the rest; make conformance runs it
# alone, make interop the real peers.
CONF_SRCS := $(sort $(wildcard tests/conformance/*.c))
TESTS     += $(B)/tests/test_conformance

# Examples: one program per examples/*.c, sharing examples/common/*.c. echo_kqueue.c needs
# <sys/event.h>: built where it exists, syntax-checked against a stub elsewhere (make check).
HAVE_KQUEUE := $(shell printf '\043include <sys/event.h>\nint main(void){return kqueue();}\n' | \
          $(CC) -x c - -o /dev/null >/dev/null 2>&1 && echo 1 || echo 0)
HAVE_EPOLL  := $(shell printf '\043include <sys/epoll.h>\nint main(void){return epoll_create1(0);}\n' | \
          $(CC) -x c - -o /dev/null >/dev/null 2>&1 && echo 1 || echo 0)
# echo_uv.c and echo_uring.c need libuv / liburing (Debian: libuv1-dev, liburing-dev): built
# when found (pkg-config, else the plain header and -l), UV=0 / URING=0 leave them out.
UV_CFLAGS    := $(shell pkg-config --cflags libuv 2>/dev/null)
UV_LIBS      := $(or $(shell pkg-config --libs libuv 2>/dev/null),-luv)
URING_CFLAGS := $(shell pkg-config --cflags liburing 2>/dev/null)
URING_LIBS   := $(or $(shell pkg-config --libs liburing 2>/dev/null),-luring)
ifeq ($(origin UV), undefined)
UV := $(shell printf '\043include <uv.h>\nint main(void){return uv_version()==0;}\n' | \
          $(CC) $(UV_CFLAGS) -x c - $(UV_LIBS) -o /dev/null >/dev/null 2>&1 && echo 1 || echo 0)
endif
ifeq ($(origin URING), undefined)
URING := $(shell printf '\043include <liburing.h>\nint main(void){struct io_uring r;return io_uring_queue_init(1,&r,0);}\n' | \
          $(CC) $(URING_CFLAGS) -x c - $(URING_LIBS) -o /dev/null >/dev/null 2>&1 && echo 1 || echo 0)
endif
# wss:// in the examples (examples/common/tls.c) and its test: OpenSSL (Debian libssl-dev).
# Found when a program using it builds with $(CC) (a cross compiler without it: TLS=0).
SSL_CFLAGS := $(shell pkg-config --cflags openssl 2>/dev/null)
SSL_LIBS   := $(or $(shell pkg-config --libs openssl 2>/dev/null),-lssl -lcrypto)
ifeq ($(origin TLS), undefined)
TLS := $(shell printf '\043include <openssl/ssl.h>\nint main(void){return SSL_CTX_new(TLS_method())==0;}\n' | \
          $(CC) $(SSL_CFLAGS) -x c - $(SSL_LIBS) -o /dev/null >/dev/null 2>&1 && echo 1 || echo 0)
endif
# broadcast --redis (examples/common/redis_fanout.c): hiredis' async API (Debian
# libhiredis-dev); REDIS=0 leaves it out (--redis then says so), as does its absence.
ifeq ($(origin REDIS), undefined)
REDIS := $(shell printf '\043include <hiredis/async.h>\nint main(void){return redisAsyncConnect("127.0.0.1",1)==0;}\n' | \
          $(CC) -x c - -lhiredis -o /dev/null >/dev/null 2>&1 && echo 1 || echo 0)
endif
ifeq ($(REDIS),1)
EX_CFLAGS_broadcast := -DEX_HAVE_REDIS=1
EX_LIBS_broadcast   := -lhiredis
endif
ifeq ($(TLS),1)
TLS_CFLAGS := -DEX_HAVE_TLS=1 $(SSL_CFLAGS)
TLS_LIBS   := $(SSL_LIBS)
endif
# h2-server (examples/h2_server.c): WebSockets over HTTP/2 on nghttp2 (Debian libnghttp2-dev),
# built when found; H2=0 leaves it out. Without TLS it serves h2c (prior knowledge) and
# HTTP/1.1 only.
H2_CFLAGS := $(shell pkg-config --cflags libnghttp2 2>/dev/null)
H2_LIBS   := $(or $(shell pkg-config --libs libnghttp2 2>/dev/null),-lnghttp2)
ifeq ($(origin H2), undefined)
H2 := $(shell printf '\043include <nghttp2/nghttp2.h>\nint main(void){return nghttp2_version(0)==0;}\n' | \
          $(CC) $(H2_CFLAGS) -x c - $(H2_LIBS) -o /dev/null >/dev/null 2>&1 && echo 1 || echo 0)
endif
EX_CFLAGS_h2-server := $(H2_CFLAGS)
EX_LIBS_h2-server   := $(H2_LIBS)
TEST_CFLAGS_test_tls := $(TLS_CFLAGS)
TEST_LIBS_test_tls   := $(TLS_LIBS)
EX_CFLAGS_echo-uv    := $(UV_CFLAGS)
EX_LIBS_echo-uv      := $(UV_LIBS)
EX_CFLAGS_echo-uring := $(URING_CFLAGS)
EX_LIBS_echo-uring   := $(URING_LIBS)
EX_SRCS   := $(sort $(wildcard examples/*.c))
ifneq ($(UV),1)
EX_SRCS   := $(filter-out examples/echo_uv.c,$(EX_SRCS))
endif
ifneq ($(URING),1)
EX_SRCS   := $(filter-out examples/echo_uring.c,$(EX_SRCS))
endif
ifneq ($(HAVE_KQUEUE),1)
EX_SRCS   := $(filter-out examples/echo_kqueue.c,$(EX_SRCS))
endif
ifneq ($(HAVE_EPOLL),1)
EX_SRCS   := $(filter-out examples/echo_epoll.c examples/h2_server.c,$(EX_SRCS))
endif
ifneq ($(H2),1)
EX_SRCS   := $(filter-out examples/h2_server.c,$(EX_SRCS))
endif
EX_COMMON := $(sort $(wildcard examples/common/*.c))
EXAMPLES  := $(foreach s,$(EX_SRCS),$(B)/examples/$(subst _,-,$(notdir $(s:.c=))))

# Tools: tools/<name>/*.c -> $(B)/tools/<name> (wsfuzz, the black-box server fuzzer; wsconform,
# the Autobahn-compatible conformance tester).
TOOL_SRCS := $(sort $(wildcard tools/*/*.c))
TOOLS     := $(patsubst tools/%/,$(B)/tools/%,$(sort $(dir $(TOOL_SRCS))))

FUZZ_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))
FUZZ_REPLAY := $(FUZZ_SRCS:fuzz/%.c=$(B)/fuzz/%-replay)

STATIC    := $(B)/libws.a
SHARED    := $(B)/libws.so.$(VERSION)

.PHONY: conformance interop kqueue-syntax all lib tools wsfuzz-run wsconform-run wsconform-peers check asan valgrind run deps install uninstall clean bench bench-callgrind fuzz examples tests \
        fuzz-afl fuzz-run coverage lint abi-check abi-baseline mutate mutate-sample
.DEFAULT_GOAL := all

all: lib examples tests tools

lib: $(STATIC) $(SHARED)

$(B)/lib/%.o: lib/%.c include/ws.h $(wildcard lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) -c $< -o $@

$(STATIC): $(LIB_OBJS)
	@rm -f $@
	$(AR) rcs $@ $^

$(SHARED): $(LIB_OBJS) lib/libws.map
	$(CC) $(ALL_CFLAGS) -shared -Wl,-soname,libws.so.$(SOVERSION) \
	  -Wl,--version-script=lib/libws.map -o $@ $(LIB_OBJS) $(ZLIB_LIBS) $(LDFLAGS)
	ln -sf libws.so.$(VERSION) $(B)/libws.so.$(SOVERSION)
	ln -sf libws.so.$(SOVERSION) $(B)/libws.so

tests: $(TESTS) $(FUZZ_REPLAY)

$(B)/tests/%: tests/%.c $(STATIC) $(wildcard tests/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ilib $(TEST_CFLAGS_$*) $(ALL_CFLAGS) $< -o $@ $(STATIC) -lcmocka \
	  $(ZLIB_LIBS) $(TEST_LIBS_$*) $(LDFLAGS)

# test_wsconform: the tool's settings, JSON and report code (all of it but its main file).
WSCONFORM_LIB := $(filter-out tools/wsconform/wsconform.c,$(sort $(wildcard tools/wsconform/*.c)))
$(B)/tests/test_wsconform: tests/test_wsconform.c $(WSCONFORM_LIB) tools/wsconform/wsconform.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $< $(WSCONFORM_LIB) -o $@ $(STATIC) -lcmocka $(ZLIB_LIBS) $(LDFLAGS)

$(B)/tests/test_conformance: $(CONF_SRCS) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(CONF_SRCS) -o $@ $(STATIC) $(ZLIB_LIBS) $(LDFLAGS)

$(B)/fuzz/%-replay: fuzz/%.c fuzz/replay.c $(wildcard fuzz/*.h) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ilib $(ALL_CFLAGS) fuzz/replay.c $< -o $@ $(STATIC) $(ZLIB_LIBS) $(LDFLAGS)

examples: $(EXAMPLES)

tools: $(TOOLS)

$(B)/tools/%: tools/%/*.c $(wildcard tools/%/*.h) include/ws.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $(filter %.c,$^) -o $@ $(STATIC) $(ZLIB_LIBS) $(LDFLAGS)

$(B)/examples/%: $(EX_SRCS) $(EX_COMMON) $(wildcard examples/common/*.h) $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -D_GNU_SOURCE $(EX_CFLAGS_$*) $(TLS_CFLAGS) $(ALL_CFLAGS) \
	  examples/$(subst -,_,$*).c $(EX_COMMON) -o $@ $(STATIC) $(ZLIB_LIBS) $(EX_LIBS_$*) \
	  $(TLS_LIBS) $(LDFLAGS)

# minimal_server.c stands alone (ws.h and POSIX only): built without examples/common and
# without _GNU_SOURCE, which keeps it honest.
$(B)/examples/minimal-server: examples/minimal_server.c include/ws.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(ALL_CFLAGS) $< -o $@ $(STATIC) $(ZLIB_LIBS) $(LDFLAGS)

# kqueue does not exist here: at least syntax-check echo_kqueue.c against a stub of
# <sys/event.h> that declares the API as the BSD manual gives it (a check, not a run).
kqueue-syntax:
ifneq ($(HAVE_KQUEUE),1)
	$(CC) $(CPPFLAGS) -D_GNU_SOURCE $(CSTD) $(WARN) -fsyntax-only -Itests/stubs examples/echo_kqueue.c
endif

check: all kqueue-syntax
	@python3 tools/check-meson.py .
	@EX_DIR=$(B)/examples sh tests/run.sh "$(B)" "" $(TESTS) -- $(FUZZ_REPLAY)

# The ABI (ws.h rules 7 and 9): every global symbol of libws.a is declared in ws.h or named
# ws__, and the shared library's ABI matches the baseline lib/libws.abi (abidiff, from
# libabigail; ABI_STRICT=1 fails when it is missing, as CI does). After an intended change:
# make abi-baseline, and bump the version node in lib/libws.map when it breaks binaries.
abi-check: lib
	@sh tools/abi-check.sh "$(B)" "$(ABI_STRICT)"

abi-baseline: lib
	abidw --no-corpus-path --headers-dir include $(SHARED) > lib/libws.abi

asan:
	$(MAKE) check SANITIZE=1

# Under valgrind the exhaustive loops are sampled (WS_TEST_QUICK); the natively run suite
# keeps them whole.
valgrind: all
	@WS_TEST_QUICK=1 EX_DIR=$(B)/examples sh tests/run.sh "$(B)" "valgrind -q --error-exitcode=99 --leak-check=full \
	  --errors-for-leak-kinds=definite,indirect" $(TESTS) -- $(FUZZ_REPLAY)

# The quick start: the echo server on 127.0.0.1:9001 (epoll on Linux, poll elsewhere).
ifeq ($(HAVE_EPOLL),1)
RUN_SERVER := echo-epoll
else
RUN_SERVER := echo-poll
endif
run: $(B)/examples/$(RUN_SERVER)
	$(B)/examples/$(RUN_SERVER) --host 127.0.0.1 --port 9001

# Installs only what is missing (Debian/Ubuntu). Needs root or sudo.
DEPS_PKGS := libcmocka-dev zlib1g-dev meson ninja-build libssl-dev openssl
deps:
	@missing=""; for p in $(DEPS_PKGS); do \
	  dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	  echo "installing:$$missing"; \
	  $$sudo apt-get update -qq && $$sudo apt-get install -y -qq $$missing; \
	else echo "deps: all present"; fi

# Cross-compiled (Debian gcc-aarch64-linux-gnu, gcc-s390x-linux-gnu) and run under qemu-user;
# the target's cmocka and zlib are unpacked into build/cross/sysroot-ARCH (tools/cross-check.sh).
# ARCH counts only from the command line (an ARCH in the environment is often the host's).
CROSS_JOBS ?= 2
.PHONY: cross-check
cross-check:
	@sh tools/cross-check.sh "$(if $(filter command line,$(origin ARCH)),$(ARCH),aarch64 s390x)" \
	  "$(CROSS_JOBS)"

conformance: all
	EX_DIR=$(B)/examples $(B)/tests/test_conformance

interop: all
	@EX_DIR=$(B)/examples sh tests/interop/run.sh

# WebSockets over HTTP/2 (RFC 8441): tests/interop/h2_test.py (Python's h2 + wsproto, then
# headless Chromium when installed) against h2-server, which it starts itself. Needs
# python3-h2, python3-wsproto, openssl; H2_STRICT=1 fails instead of skipping what is missing.
.PHONY: h2-check
h2-check: examples
	@if [ ! -x $(B)/examples/h2-server ]; then \
	  echo "h2-check: h2-server not built (H2=0, or no libnghttp2-dev)"; exit $(if $(H2_STRICT),1,0); fi; \
	if ! $(or $(PYTHON_H2),/usr/bin/python3) -c 'import h2, wsproto' 2>/dev/null; then \
	  echo "h2-check: needs python3-h2 and python3-wsproto"; exit $(if $(H2_STRICT),1,0); fi; \
	chromium=$$(command -v chromium || command -v chromium-browser || true); \
	[ -n "$$chromium" ] || echo "h2-check: no chromium: the browser part is skipped"; \
	timeout -k 5 180 $(or $(PYTHON_H2),/usr/bin/python3) tests/interop/h2_test.py \
	  $(B)/examples "$$chromium"

# wsconform (tools/wsconform/) against a stdlib Python server with one planted bug at a time
# (about 30 s), and against Python websockets and Node ws in both directions (make interop runs
# that too).
wsconform-run: tools
	@B=$(B) sh tools/wsconform/selftest.sh

wsconform-peers: tools
	@B=$(B) sh tools/wsconform/peers.sh

# wsfuzz (tools/wsfuzz/) against echo-epoll, echo-poll (and echo-uv, echo-uring where built):
# WSFUZZ_SESSIONS each (default 1000), a fresh seed unless WSFUZZ_SEED; then the check that it
# passes a strict server it did not write and fails each bug of a deliberately broken one.
wsfuzz-run: examples tools
	@B=$(B) sh tools/wsfuzz/run.sh

# broadcast --redis across three nodes against a real redis-server (Debian redis-server,
# libhiredis-dev): tests/redis/test_redis.c starts everything itself on free loopback ports.
# Not part of make check (it needs redis-server; about a minute). REDIS=0, or no redis-server
# on PATH (REDIS_SERVER=/path names one): skipped, saying so. Also meson's test_redis.
.PHONY: redis-check
$(B)/tests/redis/test_redis: tests/redis/test_redis.c tests/ex_util.h tests/testutil.h $(STATIC)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Ilib $(ALL_CFLAGS) $< -o $@ $(STATIC) -lcmocka $(ZLIB_LIBS) $(LDFLAGS)
ifeq ($(REDIS),1)
redis-check: $(B)/examples/broadcast $(B)/examples/wsc $(B)/tests/redis/test_redis
	@if { [ -n "$$REDIS_SERVER" ] && [ -x "$$REDIS_SERVER" ]; } || \
	    { [ -z "$$REDIS_SERVER" ] && command -v redis-server >/dev/null; }; then \
	    EX_DIR=$(B)/examples sh tests/run.sh "$(B)" "" $(B)/tests/redis/test_redis --; \
	else echo "redis-check: skipped: no redis-server on PATH (REDIS_SERVER=/path names one)"; fi
else
redis-check:
	@echo "redis-check: skipped: built without hiredis (REDIS=0); broadcast --redis is not built"
endif

# The Python binding (bindings/python): its pytest suite against this build's libws.so, then
# an offline pip install and the binding README's examples. Needs Debian's python3-pytest,
# python3-setuptools, python3-pip, python3-websockets (.ci/run installs them).
.PHONY: python-check
python-check: lib
	@sh bindings/python/check.sh "$(B)"

# Benchmarks vs wslay (needs libwslay-dev) and memcpy: table + $(B)/bench/results.csv.
# QUICK=1: the same rows from shorter runs (CI smoke, < 1 min).
bench: lib $(B)/examples/echo-epoll
	@LIBS="$(ZLIB_LIBS)" sh bench/run.sh "$(CC)" "$(B)" $(if $(filter 1,$(QUICK)),quick,full)

# Instructions per decoded frame under callgrind (needs valgrind): noise-free beside the timings.
bench-callgrind: lib $(B)/examples/echo-epoll
	@LIBS="$(ZLIB_LIBS)" sh bench/run.sh "$(CC)" "$(B)" callgrind

# ---- fuzzing, coverage, static analysis (see fuzz/README.md) ----
# make fuzz        libFuzzer binaries build/fuzz/fuzz_<target> (clang, ASan + UBSan)
# make fuzz-run    each target for FUZZ_SECONDS (default 60), fails on a crash, leak or timeout
# make fuzz-afl    the same entry points for AFL++ (afl-clang-fast) into build/fuzz-afl/
# make coverage    line + branch coverage of lib/ from the suite (gcc --coverage, gcov)
# make lint        cppcheck and clang-tidy (.clang-tidy) on lib/
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR     := build/fuzz
FUZZ_OBJ     := build/fuzz-obj
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_CFLAGS  := $(CSTD) -g -O1 -fno-omit-frame-pointer $(FUZZ_SAN)
FUZZ_NAMES   := $(FUZZ_SRCS:fuzz/%.c=%)
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_DIR)/%)
FUZZ_LOBJS   := $(LIB_SRCS:lib/%.c=$(FUZZ_OBJ)/%.o)

fuzz: $(FUZZ_BINS)

$(FUZZ_LOBJS): $(FUZZ_OBJ)/%.o: lib/%.c include/ws.h $(wildcard lib/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(FUZZ_BINS): $(FUZZ_DIR)/%: fuzz/%.c $(wildcard fuzz/*.h) $(FUZZ_LOBJS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) -Ilib $(FUZZ_CFLAGS) -fsanitize=fuzzer $< $(FUZZ_LOBJS) -o $@ $(ZLIB_LIBS)

fuzz-run: fuzz
	@sh fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_NAMES)

AFL_CC    ?= afl-clang-fast
AFL_DIR   := build/fuzz-afl
fuzz-afl:
	@if ! command -v $(AFL_CC) >/dev/null 2>&1; then \
	  echo "fuzz-afl: $(AFL_CC) not found (Debian: apt-get install afl++); nothing built"; \
	else \
	  mkdir -p $(AFL_DIR) && set -e && for t in $(FUZZ_NAMES); do \
	    echo "  AFL  $(AFL_DIR)/$$t"; \
	    AFL_USE_ASAN=1 $(AFL_CC) $(CPPFLAGS) -Ilib $(CSTD) -g -O1 -DWS_FUZZ_AFL=1 \
	      fuzz/afl_main.c fuzz/$$t.c $(LIB_SRCS) -o $(AFL_DIR)/$$t $(ZLIB_LIBS); \
	  done; \
	  echo "fuzz-afl: run e.g. afl-fuzz -i fuzz/corpus/fuzz_frame -o build/afl-out -x fuzz/dict/fuzz_frame.dict -- $(AFL_DIR)/fuzz_frame"; \
	fi

COV_B := build/coverage
coverage:
	@rm -rf $(COV_B)
	@$(MAKE) -s all B=$(COV_B) CC=gcc OPT="-O0 -g" CFLAGS="--coverage" LDFLAGS="--coverage" >/dev/null
	@EX_DIR=$(COV_B)/examples sh tests/run.sh "$(COV_B)" "" $(patsubst tests/%.c,$(COV_B)/tests/%,$(TEST_SRCS)) \
	  -- $(FUZZ_SRCS:fuzz/%.c=$(COV_B)/fuzz/%-replay) | tail -n 1
	@sh fuzz/coverage.sh $(COV_B)

LINT_SRCS := $(LIB_SRCS)
lint:
	python3 tools/check-literals.py .
	cppcheck --quiet --error-exitcode=1 --std=c11 --enable=warning,portability,performance \
	  --inline-suppr --suppress=missingIncludeSystem -Iinclude -Ilib -DWS_HAVE_ZLIB=1 $(LINT_SRCS)
	clang-tidy --quiet $(LINT_SRCS) -- $(CPPFLAGS) -Ilib $(CSTD) -DWS_HAVE_ZLIB=1

# ---- mutation testing (tools/mutate.py, README.md "Testing") ----
# make mutate          every mutant of lib/*.c, each run against the programs make check runs
#                      (hours). COUNT=N: a sample of N, SEED=S to repeat one (printed first),
#                      FILES="conn outq", MATCH=text (part of a mutant's identity), IDS=file
#                      (identities, one a line, e.g. build/mutate/survivors.txt),
#                      THRESHOLD=0.95 (exit 1 below), MUTATE_JOBS=2, BUDGET=seconds,
#                      LIST=1 (print the chosen mutants and run nothing). SANITIZE=1 runs
#                      them under ASan + UBSan (about 3x slower; also kills mutants whose only
#                      effect is undefined behaviour, e.g. memcpy from NULL). A mutant runs only
#                      the programs that execute its lines (gcov, measured once per source
#                      tree: a few minutes); MAX_SECS=S leaves out programs slower than S s;
#                      NO_COVERAGE=1 runs every program for every mutant (to check the selection).
# make mutate-sample   the CI sample: SAMPLE_COUNT mutants (default 40), a fresh seed each run,
#                      no new mutant started after SAMPLE_BUDGET seconds (default 120), the
#                      programs slower than SAMPLE_MAX_SECS (default 3 s: the example-server
#                      suites, the big conformance groups) left out, so a mutant only they kill
#                      counts as survived: the sample's score is a lower bound.
# Report: $(B)/mutate/report.md. Known equivalent mutants: tools/mutate-equivalent.txt.
PYTHON        ?= python3
MUTATE_JOBS   ?= 2
THRESHOLD     ?= 0.95
SAMPLE_COUNT  ?= 40
SAMPLE_BUDGET ?= 120
SAMPLE_MAX_SECS ?= 3
MUTATE_CMD = $(PYTHON) tools/mutate.py --out '$(B)/mutate' -j '$(MUTATE_JOBS)' \
  --threshold '$(THRESHOLD)' --files '$(FILES)' --match '$(MATCH)' --ids '$(IDS)' \
  --cc '$(CC)' --ar '$(AR)' --cppflags '$(CPPFLAGS)' --cflags '$(ALL_CFLAGS)' \
  --libs '$(ZLIB_LIBS) $(LDFLAGS)' --lib-srcs '$(LIB_SRCS)' --tests '$(TEST_SRCS)' \
  --conformance '$(CONF_SRCS)' --wsconform '$(wildcard tools/wsconform/*.c)' \
  --fuzz '$(FUZZ_SRCS)' \
  --examples '$(EX_SRCS)' --examples-common '$(EX_COMMON)' \
  --ex-cflags '$(TLS_CFLAGS)' --ex-libs '$(TLS_LIBS)' \
  --extra test_tls '$(TEST_CFLAGS_test_tls)' '$(TEST_LIBS_test_tls)' \
  --extra echo-uv '$(EX_CFLAGS_echo-uv)' '$(EX_LIBS_echo-uv)' \
  --extra echo-uring '$(EX_CFLAGS_echo-uring)' '$(EX_LIBS_echo-uring)' \
  --extra h2-server '$(EX_CFLAGS_h2-server)' '$(EX_LIBS_h2-server)' $(if $(LIST),--list) \
  $(if $(NO_COVERAGE),--no-coverage)

mutate:
	@$(MUTATE_CMD) --count '$(or $(COUNT),0)' --seed '$(SEED)' --budget '$(or $(BUDGET),0)' \
	  --max-secs '$(or $(MAX_SECS),0)'

mutate-sample:
	@$(MUTATE_CMD) --count '$(SAMPLE_COUNT)' --seed '$(SEED)' --budget '$(SAMPLE_BUDGET)' \
	  --max-secs '$(SAMPLE_MAX_SECS)' --out '$(B)/mutate-sample'

install: lib
	install -d $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/pkgconfig
	install -m 644 include/ws.h $(DESTDIR)$(INCDIR)/ws.h
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/libws.a
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/libws.so.$(VERSION)
	ln -sf libws.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libws.so.$(SOVERSION)
	ln -sf libws.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libws.so
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
	  -e 's|@VERSION@|$(VERSION)|' -e 's|@ZLIB@|$(if $(ZLIB_LIBS),zlib,)|' \
	  lib/libws.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/libws.pc

uninstall:
	rm -f $(DESTDIR)$(INCDIR)/ws.h $(DESTDIR)$(LIBDIR)/libws.a $(DESTDIR)$(LIBDIR)/libws.so* \
	  $(DESTDIR)$(LIBDIR)/pkgconfig/libws.pc

clean:
	rm -rf build
