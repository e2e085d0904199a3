#!/bin/sh
# make cross-check [ARCH="aarch64 s390x"]: the cmocka suite and the fuzz corpus replays,
# cross-compiled with Debian's cross compilers and run under qemu-user.
#   aarch64: little-endian, NEON: the NEON masking kernel (ws__mask_copy_simd) runs and is
#            compared with the byte-wise reference (test_mask); lib/utf8.c has no NEON kernel,
#            so UTF-8 is validated by the portable path there (test_utf8 asserts exactly that).
#   s390x:   big-endian: frame lengths, masking words, close codes, SHA-1, base64, UTF-8's
#            word-wise ASCII skipping all run in the other byte order.
# Usage: tools/cross-check.sh "ARCH..." [JOBS]. Needs gcc-<triplet>, qemu-user-static and the
# target's zlib1g, zlib1g-dev, libcmocka0, libcmocka-dev: those are fetched with apt-get download
# (after dpkg --add-architecture arm64 / s390x and apt-get update) and unpacked into
# build/cross/sysroot-<arch>, so nothing of the host is replaced. WS_TEST_QUICK=1 samples the
# exhaustive loops as under valgrind.
#
# Not run here: test_examples, test_broadcast, test_hostile and test_tls. They start the example
# servers and clients as child programs, and qemu-user (without binfmt_misc, as in a container)
# cannot exec a foreign binary from inside a foreign process; they test the examples' event
# loops (and wss://) over real sockets, not byte order. The library underneath them is what
# the rest of the suite runs. The examples are built with TLS=0 (no target OpenSSL here).
#
# CONFORMANCE=1 also runs the conformance cases (--quick) the other way round: the host's
# wsconform (built natively in build/, driven by test_conformance) judges the cross-built
# echo-epoll, echo-poll and
# wsc --echo, each started through a script that execs it under qemu-user. About 2 minutes
# per architecture here, so it is not part of the default run.
set -eu
archs=${1:-aarch64 s390x}
jobs=${2:-2}
skip="test_examples test_broadcast test_hostile test_tls"
root=$(pwd)
status=0

for arch in $archs; do
    case $arch in
    aarch64) deb=arm64 ;;
    s390x) deb=s390x ;;
    *) echo "cross-check: unknown ARCH '$arch' (aarch64 or s390x)" >&2; exit 2 ;;
    esac
    triplet=$arch-linux-gnu
    qemu=qemu-$arch-static
    for tool in "$triplet-gcc" "$qemu"; do
        command -v "$tool" >/dev/null 2>&1 || {
            echo "cross-check: $tool not found (Debian: apt-get install gcc-$triplet qemu-user-static)" >&2
            exit 2
        }
    done
    sys=$root/build/cross/sysroot-$arch
    libdir=$sys/usr/lib/$triplet
    if [ ! -f "$libdir/libz.a" ] || [ ! -e "$libdir/libcmocka.so.0" ]; then
        debs=$root/build/cross/debs-$arch
        rm -rf "$debs" "$sys"
        mkdir -p "$debs" "$sys"
        (cd "$debs" && apt-get download -q "zlib1g:$deb" "zlib1g-dev:$deb" "libcmocka0:$deb" \
            "libcmocka-dev:$deb") || {
            echo "cross-check: apt-get download failed (dpkg --add-architecture $deb; apt-get update)" >&2
            exit 2
        }
        for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$sys"; done
    fi

    B=build/cross/$arch
    tests=""
    for src in tests/test_*.c; do
        name=$(basename "$src" .c)
        case " $skip " in *" $name "*) continue ;; esac
        tests="$tests $B/tests/$name"
    done
    replays=""
    for src in fuzz/fuzz_*.c; do replays="$replays $B/fuzz/$(basename "$src" .c)-replay"; done

    echo "== $arch: build ($triplet-gcc, -Werror, zlib static from $sys)"
    t0=$(date +%s)
    # libz.so in zlib1g-dev is an absolute link to the target's /lib: link libz.a instead.
    # cmocka is found through an rpath, so each test also runs alone: qemu-$arch-static -L
    # /usr/$triplet $B/tests/test_frame.
    # shellcheck disable=SC2086
    make -s -j"$jobs" B="$B" CC="$triplet-gcc" AR="$triplet-ar" WERROR=1 ZLIB=1 \
        ZLIB_LIBS=-l:libz.a UV=0 URING=0 TLS=0 CFLAGS="-I$sys/usr/include" \
        LDFLAGS="-L$libdir -Wl,-rpath,$libdir" $tests $replays
    t1=$(date +%s)

    # Proof that the SIMD masking kernel is the NEON one and was compiled in: the target
    # defines __ARM_NEON and mask.o holds vector XORs (eor vN.16b); test_mask then asserts
    # ws__mask_kernels() & 1 and compares ws__mask_copy_simd with the reference.
    if [ "$arch" = aarch64 ]; then
        neon=$("$triplet-gcc" -dM -E -x c /dev/null | grep -c '__ARM_NEON ' || true)
        eor=$("$triplet-objdump" -d "$B/lib/mask.o" | grep -cE 'eor[[:space:]]+v[0-9]+\.16b' || true)
        echo "info: $triplet-gcc defines __ARM_NEON: $neon; NEON eor instructions in mask.o: $eor"
        if [ "$neon" -lt 1 ] || [ "$eor" -lt 1 ]; then
            echo "cross-check: no NEON masking kernel built" >&2
            status=1
        fi
    fi

    echo "== $arch: run under $qemu${WS_TEST_QUICK:+ (WS_TEST_QUICK=1)}"
    # shellcheck disable=SC2086
    sh tests/run.sh "$B" "$qemu -L /usr/$triplet" $tests -- $replays || status=1
    t2=$(date +%s)
    echo "== $arch: build $((t1 - t0)) s, run $((t2 - t1)) s; not run: $skip (they exec the example programs)"

    if [ "${CONFORMANCE:-0}" = 1 ]; then
        echo "== $arch: conformance (--quick): host judge, $arch echo-epoll, echo-poll, wsc under $qemu"
        make -s -j"$jobs" WERROR=1 build/tests/test_conformance build/tools/wsconform
        # shellcheck disable=SC2086
        make -s -j"$jobs" B="$B" CC="$triplet-gcc" AR="$triplet-ar" WERROR=1 ZLIB=1 \
            ZLIB_LIBS=-l:libz.a UV=0 URING=0 TLS=0 CFLAGS="-I$sys/usr/include" \
            LDFLAGS="-L$libdir -Wl,-rpath,$libdir" "$B/examples/echo-epoll" \
            "$B/examples/echo-poll" "$B/examples/wsc"
        ex=$B/qemu-examples
        mkdir -p "$ex"
        for p in echo-epoll echo-poll wsc; do
            printf '#!/bin/sh\nexec %s -L /usr/%s %s "$@"\n' "$qemu" "$triplet" \
                "$root/$B/examples/$p" >"$ex/$p"
            chmod +x "$ex/$p"
        done
        EX_DIR=$ex WSCONFORM=build/tools/wsconform build/tests/test_conformance \
            --servers echo-epoll,echo-poll --direction both \
            --quick >"$B/conformance.log" 2>&1 || status=1
        grep -E '^summary' "$B/conformance.log" | grep -v ' 0 FAILED' || true
        echo "$arch conformance: $(tail -n 2 "$B/conformance.log" | head -n 1)"
        t3=$(date +%s)
        echo "== $arch: conformance $((t3 - t2)) s"
    fi
done
exit $status
