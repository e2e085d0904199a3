#!/usr/bin/env python3
"""make and meson build the same things: every library source, example-common source, test
program, tool (tools/<name>/*.c) and fuzz target that the Makefile picks up by wildcard must be named in meson.build
(which lists them by hand). An optional example (echo_uv.c, echo_uring.c: built only when
their library is found, by both) counts when meson.build names it, inside its condition. Run by `make check`; prints what is missing and exits 1."""
import re
import sys
from pathlib import Path


def main(root):
    meson = (root / "meson.build").read_text()
    quoted = set(re.findall(r"'([^']+)'", meson))
    missing = []
    for path in sorted(root.glob("lib/*.c")) + sorted(root.glob("examples/common/*.c")):
        rel = path.relative_to(root).as_posix()
        if rel not in quoted:
            missing.append(rel)
    for path in sorted(root.glob("tests/test_*.c")):
        if path.stem not in quoted:
            missing.append(f"{path.relative_to(root).as_posix()} (test '{path.stem}')")
    for path in sorted(root.glob("fuzz/fuzz_*.c")):
        if path.stem not in quoted:
            missing.append(f"{path.relative_to(root).as_posix()} (fuzz target '{path.stem}')")
    for path in sorted(root.glob("examples/*.c")):
        rel = path.relative_to(root).as_posix()
        if rel not in quoted:
            missing.append(f"{rel} (example)")
    for path in sorted(root.glob("tools/*/*.c")):
        rel = path.relative_to(root).as_posix()
        if rel not in quoted:
            missing.append(f"{rel} (tool)")
    for m in missing:
        print(f"meson.build does not build {m}; the Makefile does")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
