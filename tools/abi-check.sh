#!/bin/sh
# ABI checks behind `make abi-check` (see the Makefile): $1 = build dir, $2 = 1 to fail when
# abidiff is not installed.
set -eu
b=$1
strict=${2:-}
fail=0

# 1. Nothing global that is neither public (declared WS_EXPORT in ws.h) nor private (ws__).
declared=$(mktemp)
trap 'rm -f "$declared"' EXIT
grep -o 'WS_EXPORT[^(]*(' include/ws.h | grep -o 'ws_[a-z0-9_]*($' | tr -d '(' | sort -u > "$declared"
stray=$(nm -g --defined-only "$b/libws.a" | awk 'NF == 3 { print $3 }' | grep -v '^ws__' |
        sort -u | comm -23 - "$declared")
if [ -n "$stray" ]; then
    echo "abi-check: global symbols neither in ws.h nor named ws__:" $stray
    fail=1
fi
# Everything ws.h declares is exported from the shared library, under the version node.
exported=$(nm -D --defined-only "$b/libws.so" | awk '{ print $3 }' | sed 's/@.*//' | sort -u)
missing=$(echo "$exported" | comm -13 - "$declared")
if [ -n "$missing" ]; then
    echo "abi-check: declared in ws.h but not exported:" $missing
    fail=1
fi
node=$(sed -n 's/^\(WS_[0-9.]*\) {.*/\1/p' lib/libws.map)
if ! objdump -T "$b/libws.so" | grep -q " $node "; then
    echo "abi-check: symbols are not versioned with $node"
    fail=1
fi

# 2. The ABI against the committed baseline.
if command -v abidiff >/dev/null 2>&1; then
    if ! abidiff --headers-dir2 include lib/libws.abi "$b/libws.so"; then
        echo "abi-check: the ABI differs from lib/libws.abi (intended? make abi-baseline)"
        fail=1
    fi
elif [ "$strict" = 1 ]; then
    echo "abi-check: abidiff not installed (apt-get install abigail-tools)"
    fail=1
else
    echo "abi-check: abidiff not installed, ABI comparison skipped"
fi
[ $fail = 0 ] && echo "abi-check: ok ($(echo "$exported" | wc -l) symbols, $node)"
exit $fail
