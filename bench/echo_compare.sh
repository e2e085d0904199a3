#!/bin/sh
# bench/echo_compare.sh -- libws's echo servers on each loop side by side (echo-epoll, echo-uv,
# echo-uring), and optionally uWebSockets' EchoServer, under one load:
#
#   100 connections, 16 binary messages in flight each (closed loop), 16 B and 1 KiB messages;
#   the server pinned to CPU 0, the load generator (bench/echo_load.c) to CPU 1 (taskset).
#
# For each server and size it reports the median over REPS runs (a fresh server each run, the
# order rotated) of msgs/s and of the server's CPU time per message (utime + stime from
# /proc/PID/stat over the window), and the user-space instructions per echoed 16 B and 1 KiB
# message under callgrind (whole server process, a fixed message count: see
# bench/echo_servers.sh), the figure that does not depend on the machine's noise.
#
#   sh bench/echo_compare.sh [--uws DIR] [--reps N] [--seconds S] [--no-callgrind]
#
#   --uws DIR   a uWebSockets checkout with its uSockets submodule in DIR/uSockets (outside
#               this tree). Built here as its own Makefile would (uSockets: make -C uSockets,
#               -O3 -flto, no TLS; EchoServer: the command its build.c runs, g++ -march=native
#               -O3 -flto=auto -std=c++2b), from a copy of examples/EchoServer.cpp whose only
#               change is where it listens: 127.0.0.1 and UWS_PORT (default 9301) instead of
#               every interface and 9001. The callgrind
#               run uses a second build with -march=x86-64-v3 instead of -march=native, since
#               valgrind cannot run AVX-512 code.
#   B=dir       the libws build directory (default build; make examples first)
#
# Writes the raw results to $B/bench/compare/ and prints one table.
set -e
b=${B:-build}
cc=${CC:-cc}
reps=3
secs=2
uws=
cg=1
while [ $# -gt 0 ]; do
    case $1 in
    --uws) uws=$2; shift 2 ;;
    --reps) reps=$2; shift 2 ;;
    --seconds) secs=$2; shift 2 ;;
    --no-callgrind) cg=0; shift ;;
    *) sed -n '2,/^set -e/p' "$0" | sed 's/^# \{0,1\}//;$d' >&2; exit 2 ;;
    esac
done
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=bench/echo_servers.sh
. "$here/echo_servers.sh"
out=$b/bench/compare
mkdir -p "$out"
rm -f "$out"/*.txt

libs=
printf '#include <zlib.h>\nint main(void){return zlibVersion()==0;}\n' |
    $cc -x c - -lz -o /dev/null >/dev/null 2>&1 && libs=-lz
$cc -std=c11 -O2 -g -Iinclude bench/echo_load.c "$b/libws.a" $libs -o "$out/echo-load" ||
    { echo "bench: building echo-load failed (run from the libws checkout, after make)" >&2; exit 1; }
load=$out/echo-load

# name:path pairs of the servers that exist
servers=
for s in echo-epoll echo-uv echo-uring; do
    if [ -x "$b/examples/$s" ]; then
        servers="$servers $s"
    else
        echo "bench: $b/examples/$s not built: left out" >&2
    fi
done

uws_port=${UWS_PORT:-9301}
if [ -n "$uws" ]; then
    [ -d "$uws/uSockets/src" ] || { echo "bench: $uws/uSockets/src missing (uSockets submodule)" >&2; exit 1; }
    uws=$(cd "$uws" && pwd)
    # The example as it is, but on 127.0.0.1:$uws_port (it listens on every interface, 9001).
    src=$(sed -e "s/\.listen(9001,/.listen(\"127.0.0.1\", 9001,/" -e "s/9001/$uws_port/g" \
        "$uws/examples/EchoServer.cpp")
    if [ ! -x "$uws/EchoServer-libws-bench" ] || [ ! -x "$uws/EchoServer-libws-bench-v3" ] ||
        [ "$src" != "$(cat "$uws/examples/EchoServerLibwsBench.cpp" 2>/dev/null)" ]; then
        echo "== building uWebSockets' EchoServer in $uws (127.0.0.1:$uws_port)" >&2
        printf '%s\n' "$src" >"$uws/examples/EchoServerLibwsBench.cpp"
        (cd "$uws" && make -C uSockets >/dev/null &&
            for march in native x86-64-v3; do
                suffix=; [ $march = native ] || suffix=-v3
                g++ -march=$march -O3 -Wpedantic -Wall -Wextra -Wsign-conversion -Wconversion \
                    -std=c++2b -Isrc -IuSockets/src -flto=auto examples/EchoServerLibwsBench.cpp \
                    uSockets/*.o -lz -o EchoServer-libws-bench$suffix || exit 1
            done) || { echo "bench: building uWebSockets failed" >&2; exit 1; }
    fi
    servers="$servers uWS"
fi

# run NAME LOG CPU: start that server (uWS on its fixed port)
start() {
    if [ "$1" = uWS ]; then
        ES_FIXED_PORT=$uws_port es_start "$2" "$3" "$uws/EchoServer-libws-bench$4"
    else
        ES_FIXED_PORT='' es_start "$2" "$3" "$b/examples/$1"
    fi
}

ncpu=$(nproc)
[ "$ncpu" -ge 2 ] || echo "bench: one CPU: server and load share it" >&2
echo "== echo, 100 connections x 16 in flight, server on CPU 0, load on CPU 1; $secs s windows, median of $reps"
echo "   $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(uname -r), $ncpu CPUs"
for size in 16 1024; do
    r=0
    while [ $r -lt "$reps" ]; do
        # rotate the order each repetition
        # shellcheck disable=SC2086
        set -- $servers
        k=0
        while [ $k -lt $((r % $#)) ]; do
            first=$1; shift; set -- "$@" "$first"; k=$((k + 1))
        done
        for s in "$@"; do
            start "$s" "$out/$s.log" 0
            sleep 0.2
            line=$(taskset -c 1 "$load" --port "$ES_PORT" --pid "$ES_PID" --size $size \
                --flight 16 --conns 100 --seconds "$secs" 2>"$out/$s.load.err" || true)
            es_stop
            case $line in
            RESULT*) echo "$line" >>"$out/$s.$size.txt" ;;
            *) echo "bench: $s, $size B: the load failed (see $out/$s.load.err)" >&2 ;;
            esac
        done
        r=$((r + 1))
    done
done

# median of field KEY in FILE
med() {
    [ -f "$2" ] || { echo "-"; return; }
    sed -n "s/.*$1=\([0-9.]*\).*/\1/p" "$2" | sort -n |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2];
              else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

if [ "$cg" = 1 ]; then
    if ! command -v valgrind >/dev/null 2>&1; then
        echo "bench: valgrind not installed: no instruction counts" >&2
        cg=0
    fi
fi
for s in $servers; do
    for size in 16 1024; do
        ir=-
        if [ "$cg" = 1 ]; then
            if [ "$s" = uWS ]; then
                ir=$(ES_SIZE=$size ES_FIXED_PORT=$uws_port es_callgrind "$load" \
                    "$out/cg.$s.$size" "$uws/EchoServer-libws-bench-v3" || echo -)
            else
                ir=$(ES_SIZE=$size ES_FIXED_PORT='' es_callgrind "$load" "$out/cg.$s.$size" \
                    "$b/examples/$s" || echo -)
            fi
        fi
        echo "$ir" >"$out/$s.ir.$size.txt"
    done
done

echo
printf '| %-10s | %12s | %14s | %12s | %14s | %12s | %12s |\n' server "16 B msgs/s" \
    "16 B CPU us/msg" "1 KiB msgs/s" "1 KiB CPU us/msg" "Ir/msg 16 B" "Ir/msg 1 KiB"
printf '| %-10s | %12s | %14s | %12s | %14s | %12s | %12s |\n' --- ---: ---: ---: ---: ---: ---:
for s in $servers; do
    printf '| %-10s | %12s | %14s | %12s | %14s | %12s | %12s |\n' "$s" \
        "$(med msgs_per_s "$out/$s.16.txt")" "$(med cpu_us "$out/$s.16.txt")" \
        "$(med msgs_per_s "$out/$s.1024.txt")" "$(med cpu_us "$out/$s.1024.txt")" \
        "$(cat "$out/$s.ir.16.txt")" "$(cat "$out/$s.ir.1024.txt")"
done
echo "(msgs/s and CPU: medians of $reps runs; CPU = server utime+stime per echoed message;"
echo " Ir = callgrind instructions per echoed message, ($ES_M2 - $ES_M1 messages) difference;"
echo " glibc's memcpy/memset of large blocks use rep movsb/stosb, which callgrind counts per"
echo " byte: uWS's 1 KiB figure is about 2,000 of those; raw: $out)"
