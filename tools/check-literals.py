#!/usr/bin/env python3
"""ws.h rules 5 and 7, checked on the source: no close-code or default literal in lib/ or
examples/ (they use WS_CLOSE_* and WS_DEFAULT_*), and no enum type in ws.h's structs or
function parameters (fixed-width integers only). Comments and string literals are ignored.
Prints each offence and exits 1 if there is one."""
import re
import sys
from pathlib import Path

# 1000 is left out: it is far more often "milliseconds per second" than a close code.
CLOSE_CODES = {str(c) for c in list(range(1001, 1016)) + [3000, 3999, 4000, 4999]}


def code_only(text):
    """The text with comments and string/char literals blanked (line numbers kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text[i] in "\"'":
            q, j = text[i], i + 1
            while j < n and text[j] != q:
                j += 2 if text[j] == "\\" else 1
            out.append(" " * (j + 1 - i))
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def main(root):
    bad = 0
    for path in sorted(list(root.glob("lib/*.c")) + list(root.glob("examples/**/*.c"))):
        for no, line in enumerate(code_only(path.read_text()).splitlines(), 1):
            for m in re.finditer(r"\b\d{4}\b", line):
                if m.group(0) in CLOSE_CODES:
                    print(f"{path}:{no}: close-code literal {m.group(0)}: use WS_CLOSE_*")
                    bad = 1
    header = code_only((root / "include/ws.h").read_text())
    # An enum type may name constants (ws_err does), never a field or a parameter.
    for name in re.findall(r"typedef\s+enum\s+\w*\s*\{[^}]*\}\s*(\w+)\s*;", header):
        uses = len(re.findall(r"\b%s\b" % re.escape(name), header))
        if uses > 2:  # the tag and the typedef name themselves
            print(f"include/ws.h: enum type {name} used in a declaration: use a fixed-width integer")
            bad = 1
    return bad


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
