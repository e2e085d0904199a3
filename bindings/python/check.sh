#!/bin/sh
# make python-check: the Python binding's tests against this checkout's libws.so.
#
#   sh bindings/python/check.sh [BUILD_DIR]      (BUILD_DIR default: build; make builds it)
#
# 1. pytest on bindings/python/tests with LIBWS_LIBRARY=BUILD_DIR/libws.so.0 (the sans-I/O
#    layer in memory, the asyncio layer against Python websockets over 127.0.0.1);
# 2. an offline install of the package (pip --no-build-isolation, Debian's setuptools) into a
#    temporary folder, and the Python examples of bindings/python/README.md and README.md run
#    from there.
# Needs Debian's python3-pytest, python3-setuptools, python3-pip (install) and
# python3-websockets. pytest's exit status 5 (no test collected) counts as a failure.
# PYTHON: the interpreter (default /usr/bin/python3, the one Debian's packages serve).
# PY_CONFORMANCE=1 also runs the conformance suite against the binding (see below).
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
b=${1:-build}
case $b in /*) ;; *) b=$root/$b ;; esac
PY=${PYTHON:-/usr/bin/python3}
lib=$b/libws.so.0
if [ ! -e "$lib" ]; then
    echo "python-check: $lib missing (make lib first)" >&2
    exit 1
fi
export LIBWS_LIBRARY="$lib"
if ! "$PY" -c 'import pytest' 2>/dev/null; then
    echo "python-check: pytest missing for $PY (apt-get install python3-pytest)" >&2
    exit 1
fi

cd "$here" || exit 1
"$PY" -m pytest -p no:cacheprovider -q tests
rc=$?
if [ $rc -eq 5 ]; then
    echo "python-check: FAIL: pytest collected no tests" >&2
    exit 1
fi
[ $rc -eq 0 ] || exit $rc

tmp=$(mktemp -d "${TMPDIR:-/tmp}/libws-py.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# PY_CONFORMANCE=1: the project's conformance run (BUILD_DIR/tests/test_conformance driving
# BUILD_DIR/tools/wsconform, quick profile, ~80 s) against examples/echo_server.py as the server
# and examples/echo_client.py in wsc's place as the client.
if [ "${PY_CONFORMANCE:-0}" = 1 ]; then
    tester=$b/tests/test_conformance
    if [ ! -x "$tester" ]; then
        echo "python-check: $tester missing (make all)" >&2
        exit 1
    fi
    mkdir -p "$tmp/ex"
    printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$PY" "$here/examples/echo_server.py" >"$tmp/ex/echo-py"
    printf '#!/bin/sh\nexec "%s" "%s" "$@"\n' "$PY" "$here/examples/echo_client.py" >"$tmp/ex/wsc"
    chmod +x "$tmp/ex/echo-py" "$tmp/ex/wsc"
    EX_DIR="$tmp/ex" WSCONFORM="$b/tools/wsconform" "$tester" --servers echo-py --quick \
        >"$tmp/conformance.log" 2>&1
    crc=$?
    grep -E '^(FAIL|summary)' "$tmp/conformance.log"
    tail -n 4 "$tmp/conformance.log" | grep -E 'passed|conformance:'
    if [ $crc -ne 0 ]; then
        echo "python-check: FAIL: the conformance suite against the binding" >&2
        exit 1
    fi
fi

# Offline install into a temporary folder (no package index is reachable), then the READMEs'
# examples from the installed copy, outside the source tree.
if ! "$PY" -m pip --version >/dev/null 2>&1; then
    echo "python-check: pip missing: install check skipped (apt-get install python3-pip)"
    exit 0
fi
cp -r "$here" "$tmp/src"
rm -rf "$tmp/src/build" "$tmp/src"/*.egg-info
if ! PIP_NO_INDEX=1 "$PY" -m pip install -q --no-build-isolation --no-deps \
        --disable-pip-version-check --root-user-action=ignore --target "$tmp/site" \
        "$tmp/src" >"$tmp/pip.log" 2>&1; then
    cat "$tmp/pip.log"
    echo "python-check: FAIL: pip install --no-build-isolation" >&2
    exit 1
fi
# the ```python blocks of bindings/python/README.md and of the top-level README.md
awk -v d="$tmp" '/^```python$/{f=1;n++;next} /^```$/{f=0} f{print > (d "/example_" n ".py")}' \
    "$here/README.md"
awk -v d="$tmp" '/^```python$/{f=1;n++;next} /^```$/{f=0} f{print > (d "/example_top_" n ".py")}' \
    "$root/README.md"
n=0
for f in "$tmp"/example_*.py; do
    [ -e "$f" ] || break
    if ! (cd "$tmp" && PYTHONPATH="$tmp/site" timeout 30 "$PY" "$f" >"$tmp/example.out" 2>&1); then
        cat "$tmp/example.out"
        echo "python-check: FAIL: README example $(basename "$f"), run from the installed package" >&2
        exit 1
    fi
    n=$((n + 1))
done
if [ $n -eq 0 ]; then
    echo "python-check: FAIL: no Python example found in the READMEs" >&2
    exit 1
fi
echo "python-check: pip install --no-build-isolation, then the READMEs' $n Python examples from the installed copy: ok"
