#!/bin/sh
# bench/run.sh CC BUILD_DIR [full|quick|callgrind]  -- what `make bench` runs.
#
#   full       (make bench)            the whole matrix, medians of >= 5 repetitions, ~3-4 min
#   quick      (make bench QUICK=1)    the same rows from shorter runs, < 1 min, for CI
#   callgrind  (make bench-callgrind)  instruction counts (Ir) per frame on a fixed decode
#                                      workload, libws vs wslay, and per echoed 16 B message
#                                      for the whole echo-epoll process; needs valgrind
#
# Builds the programs in bench/ against BUILD_DIR/libws.a, runs them, prints one table and
# writes BUILD_DIR/bench/results.csv (name,unit,libws,reference,reference_value,ratio).
# Installs nothing: the wslay reference needs Debian's libwslay-dev. LIBS: extra libraries
# libws.a needs (the Makefile passes -lz for a zlib build).
set -e
cc=${1:-cc}
b=${2:-build}
mode=${3:-full}
out=$b/bench
mkdir -p "$out"

if ! printf '#include <wslay/wslay.h>\nint main(void){return wslay_event_want_read(0);}\n' |
    $cc -x c - -lwslay -o /dev/null >/dev/null 2>&1; then
    echo "bench: wslay not found (the reference implementation). Install it first:" >&2
    echo "         apt-get install libwslay-dev" >&2
    exit 1
fi
[ -x "$b/examples/echo-epoll" ] || { echo "bench: $b/examples/echo-epoll missing (make examples)" >&2; exit 1; }

. "$(dirname "$0")/echo_servers.sh"
flags="-std=c11 -O2 -g -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Iinclude"
lib=$b/libws.a
libs=${LIBS-}   # what libws.a itself needs (-lz when built with zlib); the Makefile passes it
build() { # output, sources and libraries...
    o=$1; shift
    $cc $flags "$@" $libs -o "$out/$o" || { echo "bench: building $o failed" >&2; exit 1; }
}
build bench-codec -Ilib bench/bench_codec.c "$lib" -lwslay
build bench-mask -Ilib bench/bench_mask.c "$lib"
build echo-wslay bench/echo_wslay.c "$lib" -lwslay
build echo-load bench/echo_load.c "$lib"
build idle-conns bench/idle_conns.c "$lib"

# ---- callgrind: Ir per frame on a fixed decode workload ----
callgrind() {
    if ! command -v valgrind >/dev/null 2>&1 || ! command -v callgrind_annotate >/dev/null 2>&1; then
        echo "bench: valgrind not installed; skipping the callgrind counts" >&2
        return 0
    fi
    echo "== callgrind: instructions (Ir) per frame, decode path, fixed workload (alternating"
    echo "   text/binary masked frames; inclusive cost of each decode loop; frames copied in by"
    echo "   wslay's recv callback are part of its cost, as with a socket)"
    printf '%-8s %10s %12s %10s %10s %12s %9s %9s %10s\n' payload ws_conn wslay_event ws_frame \
        ws_frame1 wslay_frame conn/ev frame/fr conn_send
    for size in 16 125 1024 65536; do
        cgo=$out/callgrind.$size.out
        frames=$(valgrind --tool=callgrind --callgrind-out-file="$cgo" "$out/bench-codec" \
            --callgrind $size 2>/dev/null | sed -n 's/^FRAMES //p')
        callgrind_annotate --inclusive=yes --threshold=100 "$cgo" 2>/dev/null |
            sed -n 's/^ *\([0-9,]*\) ([ 0-9.]*%) *[^ ]*bench_codec\.c:\(run_[a-z_0-9]*\) .*/\2 \1/p' |
            awk -v f="$frames" -v s="$size" '
            { gsub(",", "", $2); v[$1] = $2 / f }
            END { printf "%-8s %10.0f %12.0f %10.0f %10.0f %12.0f %9.2f %9.2f %10.0f\n", s "B",
                  v["run_libws_conn"], v["run_wslay_event"], v["run_libws_frame"],
                  v["run_libws_frame1"], v["run_wslay_frame"], v["run_wslay_event"] / v["run_libws_conn"],
                  v["run_wslay_frame"] / v["run_libws_frame"], v["run_libws_send"]
                  if (s == 16 && rawf != "") {
                      printf "ROW conn_decode_16B_ir,Ir/frame,%.0f,wslay-event,%.0f,%.2f\n",
                          v["run_libws_conn"], v["run_wslay_event"],
                          v["run_wslay_event"] / v["run_libws_conn"] >>rawf
                      printf "ROW frame_decode_16B_ir,Ir/frame,%.0f,wslay-frame,%.0f,%.2f\n",
                          v["run_libws_frame"], v["run_wslay_frame"],
                          v["run_wslay_frame"] / v["run_libws_frame"] >>rawf
                      printf "ROW frame_decode_1call_16B_ir,Ir/frame,%.0f,wslay-frame,%.0f,%.2f\n",
                          v["run_libws_frame1"], v["run_wslay_frame"],
                          v["run_wslay_frame"] / v["run_libws_frame1"] >>rawf
                      printf "ROW conn_send_16B_ir,Ir/msg,%.0f,,,\n", v["run_libws_send"] >>rawf
                  } }' rawf="${raw:-}"
    done
    echo "   (conn_send: a server's ws_conn_send of that many bytes into its queue, with the"
    echo "   output taken and acknowledged every 64 messages; Ir per message)"
    echo "   (ws_frame: ws_frame_decoder_feed_events, up to 32 frames a call; ws_frame1: one"
    echo "   ws_frame_decoder_feed call per frame)"
    echo "   (conn/ev, frame/fr: wslay Ir / libws Ir, higher is better for libws; raw profiles in $out/callgrind.*.out)"
    echo "   self cost by function, 16 B workload (all four decoders; lib/frame.c and lib/mask.c"
    echo "   also include building the wire image once):"
    callgrind_annotate "$out/callgrind.16.out" 2>/dev/null |
        grep -E '^ *[0-9,]+ .*(lib/|libwslay|libc)' | grep -v -E 'bench_|make_wire|fill_' | head -12 |
        sed 's/^/     /'
    echo
    echo "== callgrind: user-space instructions (Ir) per echoed 16 B message, whole echo-epoll"
    echo "   process (echo-load: 100 connections x 16 in flight; runs of $ES_M1 and $ES_M2"
    echo "   messages, the difference divided by $((ES_M2 - ES_M1)): start-up and handshakes cancel out)"
    ir=$(ES_FIXED_PORT='' es_callgrind "$out/echo-load" "$out/callgrind.echo-epoll" \
        "$b/examples/echo-epoll") || ir=
    if [ -n "$ir" ]; then
        echo "echo-epoll: $ir Ir per echoed message (profiles: $out/callgrind.echo-epoll.*.cg)"
        if [ -n "${raw:-}" ]; then echo "ROW echo_epoll_ir_16B,Ir/msg,$ir,,," >>"$raw"; fi
    else
        echo "echo-epoll: no count (see $out/callgrind.echo-epoll.*)"
    fi
    # The same for 1 KiB messages: the burst of a read (16 echoes) fills a block of its own
    # size once the queue has grown into it, with no allocation (bench/RESULTS.md).
    ir=$(ES_SIZE=1024 ES_FIXED_PORT='' es_callgrind "$out/echo-load" \
        "$out/callgrind.echo-epoll-1k" "$b/examples/echo-epoll") || ir=
    if [ -n "$ir" ]; then
        echo "echo-epoll: $ir Ir per echoed 1 KiB message"
        if [ -n "${raw:-}" ]; then echo "ROW echo_epoll_ir_1KiB,Ir/msg,$ir,,," >>"$raw"; fi
    else
        echo "echo-epoll: no 1 KiB count (see $out/callgrind.echo-epoll-1k.*)"
    fi
    # bench/echo_compare.sh gives the same counts for echo-uv, echo-uring and uWebSockets.
}

if [ "$mode" = callgrind ]; then
    callgrind
    exit 0
fi

raw=$out/raw.txt
: >"$raw"
q=
idle=10000
[ "$mode" = quick ] && q=--quick && idle=1000

echo "libws benchmarks ($mode) on $(nproc) CPU(s), $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
"$out/bench-codec" $q | tee -a "$raw" | grep -v '^ROW '
echo
"$out/echo-load" "$b/examples/echo-epoll" "$out/echo-wslay" $q | tee -a "$raw" | grep -v '^ROW '

echo
echo "== idle connections: server RSS growth / $idle connections (bench/idle_conns.c)"
idle_one() { # server -> prints bytes per connection
    "$out/idle-conns" "$1" $idle >"$out/idle.$2.txt" 2>&1 || { cat "$out/idle.$2.txt" >&2; echo -1; return; }
    sed -n 's/.*: \([0-9-]*\) bytes per connection.*/\1/p' "$out/idle.$2.txt"
}
il=$(idle_one "$b/examples/echo-epoll" libws)
iw=$(idle_one "$out/echo-wslay" wslay)
echo "echo-epoll (libws): $il bytes per idle connection; echo-wslay: $iw bytes"
# (whole-process RSS, glibc's free lists and the example's own records included: the library's
# own heap per idle connection is the bytes_per_conn row)
echo "ROW rss_per_idle_conn,bytes,$il,wslay-echo,$iw," >>"$raw"

echo
if [ "$mode" = quick ]; then "$out/bench-mask" $((8 << 20)); else "$out/bench-mask"; fi

if [ "$mode" = full ]; then
    echo
    callgrind
fi

csv=$out/results.csv
echo "name,unit,libws,reference,reference_value,ratio" >"$csv"
sed -n 's/^ROW //p' "$raw" >>"$csv"

echo
echo "== summary ($csv; ratio = libws / reference, higher is better; memory rows: lower is better)"
awk -F, 'NR == 1 { printf "%-22s %-13s %14s  %-16s %14s %8s\n", "name", "unit", "libws", "reference", "value", "ratio"; next }
         { printf "%-22s %-13s %14.6g  %-16s %14.6g %8s\n", $1, $2, $3, $4, $5, $6 }' "$csv"
