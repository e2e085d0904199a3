#!/usr/bin/env python3
"""Mutation testing for lib/*.c: seeded mutants, each run against the programs `make check` runs.

Every mutant is one small source change inside a function body of lib/*.c:

  relop    == <-> !=,  < -> <=,  <= -> <,  > -> >=,  >= -> >
  arith    binary + <-> -,  += <-> -=,  ++ <-> --
  logic    && <-> ||
  const    an integer literal +1 and -1 (not below 0), suffix and base kept
  negate   if (c) / while (c)  ->  (!(c))
  guard    if (c) <jump>; with no else, the branch ending in return/goto/break/continue:
           the condition forced false (the guard deleted)
  delete   break; continue; return ...;  deleted (not a return that ends the function)

Not mutated: comments, string and character literals, preprocessor lines, anything outside a
function body (tables, struct/enum declarations), array sizes in declarations.

For each mutant the file is changed in a copy of lib/ under the work folder (lib/ itself is
never written), the object compiled with the flags of `make check`; a mutant whose object,
debug information aside, is byte-identical to the original is "same object" and not run.
Otherwise the library is re-archived, and the programs `make check` runs (cmocka tests, the
conformance runner, the fuzz corpus replays; the examples they drive are relinked too) are
linked and run, each under a timeout, until one fails (killed) or all pass (survived).

Only the programs that can reach the mutated code run for it: once per source tree the suite
runs on the library built with gcov (which is also the baseline that times each program), and
a program that never executes the mutated lines behaves exactly as on the unmutated library
(see Runner.covers for the rule and its safe fallbacks). The conformance runner counts as one
part per (server or wsc, case group), each with its coverage. Order: the programs named after
the mutated file and those that killed its mutants in earlier runs (build/mutate/kills.json),
then the rest, cheapest first; the long ones (example-server suites, mostly waiting) last,
several at a time, and a failure among them counts only if it fails again alone. Mutants
listed in tools/mutate-equivalent.txt are "marked equivalent" and not run.

Identity of a mutant (stable under edits elsewhere in the file):
  FILE | FUNCTION | LINEHASH | MUTATION | OCCURRENCE
LINEHASH is the first 8 hex digits of the SHA-1 of the mutated line, whitespace collapsed;
OCCURRENCE counts the mutants with the same line hash and mutation inside the function.

Driven by `make mutate` / `make mutate-sample`, which pass the build flags and program lists of
the Makefile; see `--help` and README.md ("Testing").
"""

import argparse
import concurrent.futures as cf
import difflib
import hashlib
import json
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time

# --------------------------------------------------------------------------------------------
# Lexing

OPS = sorted(
    """>>= <<= ... -> ++ -- << >> <= >= == != && || += -= *= /= %= &= ^= |= ##
       { } [ ] ( ) ; : , . ? ~ ! + - * / % < > = & ^ | #""".split(),
    key=len,
    reverse=True,
)
NUM_RE = re.compile(r"\.?[0-9](?:[eEpP][+-]|[0-9A-Za-z_.])*")
ID_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
INT_RE = re.compile(r"^(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)([uUlL]*)$")
OPCHARS = set("+-<>=!&|*/%^~?:")


class Tok:
    __slots__ = ("kind", "text", "start", "end", "line")

    def __init__(self, kind, text, start, end, line):
        self.kind, self.text, self.start, self.end, self.line = kind, text, start, end, line

    def __repr__(self):
        return "Tok(%s,%r,%d)" % (self.kind, self.text, self.line)


def _skip_quoted(src, i):
    q = src[i]
    i += 1
    while i < len(src) and src[i] != q and src[i] != "\n":
        i += 2 if src[i] == "\\" else 1
    return i + 1


def tokenize(src):
    """C tokens without comments or preprocessor lines. kind: id, num, str, op."""
    toks, i, n, line, bol = [], 0, len(src), 1, True
    while i < n:
        c = src[i]
        if c == "\n":
            line += 1
            i += 1
            bol = True
            continue
        if c in " \t\r\f\v":
            i += 1
            continue
        if c == "\\" and src.startswith("\n", i + 1):
            line += 1
            i += 2
            continue
        if src.startswith("/*", i):
            j = src.find("*/", i + 2)
            j = n if j < 0 else j + 2
            line += src.count("\n", i, j)
            i = j
            continue
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
            continue
        if c == "#" and bol:
            j = i
            while j < n and src[j] != "\n":
                if src[j] == "\\" and src.startswith("\n", j + 1):
                    j += 2
                elif src.startswith("/*", j):
                    k = src.find("*/", j + 2)
                    j = n if k < 0 else k + 2
                elif src.startswith("//", j):
                    k = src.find("\n", j)
                    j = n if k < 0 else k
                elif src[j] in "\"'":
                    j = _skip_quoted(src, j)
                else:
                    j += 1
            line += src.count("\n", i, j)
            i = j
            continue
        bol = False
        if c in "\"'":
            j = _skip_quoted(src, i)
            toks.append(Tok("str", src[i:j], i, j, line))
            i = j
            continue
        m = ID_RE.match(src, i)
        if m:
            toks.append(Tok("id", m.group(), i, m.end(), line))
            i = m.end()
            continue
        m = NUM_RE.match(src, i)
        if m:
            toks.append(Tok("num", m.group(), i, m.end(), line))
            i = m.end()
            continue
        for op in OPS:
            if src.startswith(op, i):
                toks.append(Tok("op", op, i, i + len(op), line))
                i += len(op)
                break
        else:
            raise SyntaxError("line %d: unexpected character %r" % (line, c))
    return toks


# --------------------------------------------------------------------------------------------
# Finding mutation sites

NOT_TYPE = {"return", "case", "sizeof", "goto", "else", "do", "if", "while", "for", "switch",
            "break", "continue", "default", "_Alignof", "alignof"}
JUMPS = {"return", "goto", "break", "continue"}
AGGREGATE = {"struct", "union", "enum"}


class Mutant:
    __slots__ = ("file", "func", "line", "start", "end", "repl", "what", "op", "hash", "occ",
                 "lines", "fn_lines")

    def key(self):
        return (self.file, self.func, self.hash, self.what, self.occ)

    def ident(self):
        return "%s | %s | %s | %s | %d" % self.key()

    def apply(self, src):
        return src[: self.start] + self.repl + src[self.end :]


def match_brackets(toks):
    match, stack = {}, []
    pairs = {")": "(", "]": "[", "}": "{"}
    for i, t in enumerate(toks):
        if t.kind != "op":
            continue
        if t.text in "([{":
            stack.append(i)
        elif t.text in ")]}":
            if not stack or toks[stack[-1]].text != pairs[t.text]:
                raise SyntaxError("line %d: unbalanced %r" % (t.line, t.text))
            j = stack.pop()
            match[i], match[j] = j, i
    if stack:
        raise SyntaxError("line %d: unclosed %r" % (toks[stack[-1]].line, toks[stack[-1]].text))
    return match


def function_name(toks, match, brace):
    """Name of the function whose body opens at toks[brace], or None (not a function)."""
    k = brace - 1
    while k >= 0 and toks[k].text == ")":
        o = match[k]
        if o > 0 and toks[o - 1].kind == "id" and toks[o - 1].text not in (
                "__attribute__", "__declspec", "__asm__", "asm"):
            return toks[o - 1].text
        k = o - 1
        while k >= 0 and toks[k].text in ("__attribute__", "(", "__declspec", "__asm__"):
            k -= 1
    return None


class Sites:
    """Per-token context of one file: enclosing function, skip flags, statement structure."""

    def __init__(self, src):
        self.src = src
        self.toks = tokenize(src)
        self.match = match_brackets(self.toks)
        toks, match = self.toks, self.match
        n = len(toks)
        self.func = [None] * n       # enclosing function name
        self.func_end = [0] * n      # index of that function's closing brace
        self.func_start = [0] * n    # index of that function's opening brace
        self.skip = [False] * n      # not to be mutated
        i = 0
        while i < n:
            t = toks[i]
            if t.text == "{":
                name = function_name(toks, match, i)
                close = match[i]
                if name:
                    for k in range(i, close + 1):
                        self.func[k] = name
                        self.func_end[k] = close
                        self.func_start[k] = i
                i = close + 1
                continue
            i += 1
        # Inside functions: aggregate declarations, array sizes of declarations, static asserts.
        decl_brackets = set()
        for i, t in enumerate(toks):
            if self.func[i] is None or t.kind == "str":
                continue
            if t.text == "{" and i >= 1:
                p = toks[i - 1]
                pp = toks[i - 2] if i >= 2 else None
                if p.text in AGGREGATE or (pp is not None and pp.text in AGGREGATE and p.kind == "id"):
                    for k in range(i, match[i] + 1):
                        self.skip[k] = True
            elif t.text == "[" and i >= 2:
                p, pp = toks[i - 1], toks[i - 2]
                decl = (p.kind == "id" and ((pp.kind == "id" and pp.text not in NOT_TYPE)
                                            or pp.text == "*"))
                decl = decl or (p.text == "]" and match[i - 1] in decl_brackets)
                if decl:
                    decl_brackets.add(i)
                    for k in range(i, match[i] + 1):
                        self.skip[k] = True
            elif t.text in ("_Static_assert", "static_assert") and i + 1 < n and toks[i + 1].text == "(":
                for k in range(i, match[i + 1] + 1):
                    self.skip[k] = True
        # Case labels: the value of `case X:` is compared where the switch dispatches, so a
        # mutant of X runs at the switch's controlling expression, not on the label's line.
        # case_ctx[k] = (first, last) line of that switch's `switch (...)` for label tokens.
        self.case_ctx = {}
        switches = []  # (body open, body close, header first line, header last line)
        for i, t in enumerate(toks):
            if t.text == "switch" and i + 1 < n and toks[i + 1].text == "(":
                c = match[i + 1]
                if c + 1 < n and toks[c + 1].text == "{":
                    switches.append((c + 1, match[c + 1], t.line, toks[c].line))
        for i, t in enumerate(toks):
            if t.text != "case" or t.kind != "id":
                continue
            inner = [sw for sw in switches if sw[0] < i < sw[1]]
            if not inner:
                continue
            sw = max(inner)
            j = i + 1
            while j < n and toks[j].text != ":":
                self.case_ctx[j] = (sw[2], sw[3])
                j += 1

    def stmt_end(self, k):
        """Index of the last token of the statement that starts at toks[k]."""
        toks, match = self.toks, self.match
        t = toks[k].text
        if t == "{":
            return match[k]
        if t in ("if", "for", "while", "switch") and toks[k + 1].text == "(":
            e = self.stmt_end(match[k + 1] + 1)
            if t == "if" and e + 1 < len(toks) and toks[e + 1].text == "else":
                return self.stmt_end(e + 2)
            return e
        if t == "do":
            e = self.stmt_end(k + 1)  # body, then: while ( ... ) ;
            return match[e + 2] + 1
        if t in ("case", "default") or (toks[k].kind == "id" and toks[k + 1].text == ":"
                                        and t not in NOT_TYPE):
            j = k
            while toks[j].text != ":":
                j += 1
            return self.stmt_end(j + 1)
        j = k
        while toks[j].text != ";":
            j = match[j] + 1 if toks[j].text in "([{" and toks[j].kind == "op" else j + 1
        return j

    def ends_in_jump(self, k):
        """Does the statement at toks[k] end in return/goto/break/continue?"""
        toks = self.toks
        if toks[k].text in JUMPS:
            return True
        if toks[k].text != "{":
            return False
        close, j, last = self.match[k], k + 1, None
        while j < close:
            last = j
            j = self.stmt_end(j) + 1
        return last is not None and toks[last].text in JUMPS


def line_hash(src, tok):
    a = src.rfind("\n", 0, tok.start) + 1
    b = src.find("\n", tok.start)
    b = len(src) if b < 0 else b
    return hashlib.sha1(" ".join(src[a:b].split()).encode()).hexdigest()[:8]


def pad(src, start, end, repl):
    """Keep a replacement operator from fusing with a neighbouring one (a+-b -> a - -b)."""
    if start > 0 and src[start - 1] in OPCHARS:
        repl = " " + repl
    if end < len(src) and src[end] in OPCHARS:
        repl = repl + " "
    return repl


def int_variants(text):
    m = INT_RE.match(text)
    if not m:
        return []
    digits, suffix = m.group(1), m.group(2)
    if digits[:2] in ("0x", "0X"):
        v, base = int(digits[2:], 16), "hex"
    elif len(digits) > 1 and digits[0] == "0":
        v, base = int(digits, 8), "oct"
    else:
        v, base = int(digits), "dec"
    out = []
    for w in (v + 1, v - 1):
        if w < 0:
            continue
        if base == "hex":
            body = "%0*x" % (len(digits) - 2, w)
            if any(ch in "ABCDEF" for ch in digits[2:]) or not any(ch in "abcdef" for ch in digits[2:]):
                body = body.upper()
            s = digits[:2] + body
        elif base == "oct":
            s = "0%o" % w
        else:
            s = str(w)
        out.append(s + suffix)
    return out


SWAPS = {"==": ["!="], "!=": ["=="], "<": ["<="], "<=": ["<"], ">": [">="], ">=": [">"],
         "&&": ["||"], "||": ["&&"], "+=": ["-="], "-=": ["+="], "++": ["--"], "--": ["++"],
         "+": ["-"], "-": ["+"]}
SWAP_OP = {"==": "relop", "!=": "relop", "<": "relop", "<=": "relop", ">": "relop", ">=": "relop",
           "&&": "logic", "||": "logic", "+=": "arith", "-=": "arith", "++": "arith",
           "--": "arith", "+": "arith", "-": "arith"}


def binary_operand_before(t):
    return t.kind in ("id", "num", "str") and t.text not in NOT_TYPE or t.text in (")", "]")


def mutants_of(path, src):
    s = Sites(src)
    toks, out = s.toks, []

    def add(tok, start, end, repl, what, op):
        m = Mutant()
        m.file, m.func, m.line = path, None, tok.line
        m.start, m.end, m.repl, m.what, m.op = start, end, repl, what, op
        m.hash = line_hash(src, tok)
        out.append(m)
        return m

    guarded = set()  # jumps that are the whole branch of a guard: its mutant deletes them
    for i, t in enumerate(toks):
        func = s.func[i]
        if func is None or s.skip[i] or t.kind == "str":
            continue
        made = []
        if t.kind == "op" and t.text in SWAPS:
            if t.text in ("+", "-") and not (i > 0 and binary_operand_before(toks[i - 1])):
                pass  # unary
            else:
                for r in SWAPS[t.text]:
                    made.append(add(t, t.start, t.end, pad(src, t.start, t.end, r),
                                    "%s -> %s" % (t.text, r), SWAP_OP[t.text]))
        elif t.kind == "num":
            for r in int_variants(t.text):
                made.append(add(t, t.start, t.end, r, "%s -> %s" % (t.text, r), "const"))
        elif t.text in ("if", "while") and i + 1 < len(toks) and toks[i + 1].text == "(":
            o, c = i + 1, s.match[i + 1]
            a, b = toks[o + 1].start, toks[c - 1].end
            cond = src[a:b]
            made.append(add(t, a, b, "!(" + cond + ")", "negate " + t.text, "negate"))
            if t.text == "if":
                e = s.stmt_end(c + 1)
                no_else = not (e + 1 < len(toks) and toks[e + 1].text == "else")
                if no_else and s.ends_in_jump(c + 1):
                    made.append(add(t, a, b, "0" + "\n" * cond.count("\n"),
                                    "guard if -> false", "guard"))
                    guarded.add(c + 1)
        elif i in guarded:
            pass
        elif t.text in ("break", "continue") and toks[i + 1].text == ";":
            made.append(add(t, t.start, t.end, "", "delete " + t.text, "delete"))
        elif t.text == "return":
            e = s.stmt_end(i)
            rest = toks[e + 1 : s.func_end[i] + 1]
            if not all(x.text == "}" for x in rest):
                body = src[t.start : toks[e].start]
                made.append(add(t, t.start, toks[e].start, "\n" * body.count("\n"),
                                "delete return", "delete"))
        for m in made:
            m.func = func
            # The lines whose code a mutant changes: those its replaced text spans, and for a
            # case label's value the switch that compares it (see Coverage).
            first = src.count("\n", 0, m.start) + 1
            last = first + src.count("\n", m.start, max(m.start, m.end - 1))
            lines = set(range(first, last + 1))
            if i in s.case_ctx:
                a, b = s.case_ctx[i]
                lines |= set(range(a, b + 1))
            m.lines = sorted(lines)
            m.fn_lines = (toks[s.func_start[i]].line, toks[s.func_end[i]].line)
    # Occurrence index: mutants with the same line hash and mutation in the same function.
    seen = {}
    for m in out:
        k = (m.func, m.hash, m.what)
        m.occ = seen.get(k, 0)
        seen[k] = m.occ + 1
    return out


LINEMARK_RE = re.compile(r'^# (\d+) "((?:[^"\\]|\\.)*)"')


def active_lines(path, cc, flags):
    """Lines of path that the preprocessor keeps with these flags (None: could not tell)."""
    r = subprocess.run(cc + flags + ["-E", path], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        return None
    active, cur, line = set(), None, 0
    for text in r.stdout.decode(errors="replace").splitlines():
        m = LINEMARK_RE.match(text)
        if m:
            line, cur = int(m.group(1)), m.group(2)
            continue
        if cur == path and text.strip():
            active.add(line)
        line += 1
    return active


# --------------------------------------------------------------------------------------------
# The equivalent list

EQUIV_RE = re.compile(r"^(\S+) \| (\S+) \| ([0-9a-f]{8}) \| (.+?) \| (\d+) \| (.+)$")


def load_equivalents(path):
    eq = {}
    if not os.path.exists(path):
        return eq
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            m = EQUIV_RE.match(line)
            if not m:
                sys.exit("%s:%d: not FILE | FUNCTION | LINEHASH | MUTATION | OCCURRENCE | reason"
                         % (path, n))
            key = (m.group(1), m.group(2), m.group(3), m.group(4), int(m.group(5)))
            eq[key] = m.group(6).strip()
    return eq


# --------------------------------------------------------------------------------------------
# Building and running

def sh(cmd, cwd):
    r = subprocess.run(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL)
    return r.returncode, r.stdout.decode(errors="replace")


def must(cmd, cwd):
    rc, out = sh(cmd, cwd)
    if rc != 0:
        sys.exit("mutate: command failed (%d): %s\n%s" % (rc, " ".join(cmd), out))


def stripped(obj, objcopy):
    """The object without debug sections, as bytes (what the code and data are)."""
    tmp = obj + ".nodebug"
    must([objcopy, "--strip-debug", obj, tmp], None)
    with open(tmp, "rb") as f:
        data = f.read()
    os.unlink(tmp)
    return data


FAILED_RE = re.compile(rb"^\[  FAILED  \] ([0-9]+) test", re.M)


class Program:
    def __init__(self, name, objs, libs, args, needs_examples, binary=None):
        self.name, self.objs, self.libs, self.args = name, objs, libs, args
        self.needs_examples = needs_examples
        self.binary = binary or name  # parts of one program share its binary
        self.base_time = None


class Runner:
    def __init__(self, a):
        self.a = a
        self.root = os.getcwd()
        self.out = os.path.abspath(a.out)
        self.cc = shlex.split(a.cc)
        self.cppflags = shlex.split(a.cppflags)
        # -Werror would turn a mutant's harmless warning (an empty if body) into "did not
        # compile"; it changes no generated code, so it is dropped for every compile here.
        self.cflags = [f for f in shlex.split(a.cflags) if f != "-Werror"]
        self.libflags = shlex.split(a.libs)
        self.lib_srcs = sorted(shlex.split(a.lib_srcs))
        self.running = set()
        self.lock = threading.Lock()
        self.stop = False

    # ---- the unmutated build ----

    def lib_compile_cmd(self, rel):
        stem = os.path.basename(rel)[:-2]
        return self.cc + self.cppflags + self.cflags + ["-Werror=return-type", "-c", rel,
                                                        "-o", "obj/%s.o" % stem]

    def setup(self, pool):
        a, base = self.a, os.path.join(self.out, "base")
        stamp = self.stamp()
        stamp_file = os.path.join(base, "stamp.json")
        self.programs = self.plan()
        self.base_objs = {rel: os.path.join(base, "obj", os.path.basename(rel)[:-2] + ".o")
                          for rel in self.lib_srcs}
        old = None
        if os.path.exists(stamp_file):
            with open(stamp_file) as f:
                old = json.load(f)
        if old and old.get("stamp") == stamp and not a.rebuild:
            print("mutate: baseline build and run up to date (%s)" % stamp_file, flush=True)
            for p in self.programs:
                p.base_time = old["times"].get(p.name)
            self.cov, left_out = old["coverage"], old["left_out"]
            self.empty = old["empty"]
        else:
            self.empty = []
            self.build_base(pool, base)
            if a.coverage:
                self.cov, left_out = self.measure_coverage(pool, base)
            else:
                self.cov, left_out = None, self.run_baseline(pool, base)
            with open(stamp_file, "w") as f:
                json.dump({"stamp": stamp, "times": {p.name: p.base_time for p in self.programs},
                           "left_out": left_out, "empty": self.empty, "coverage": self.cov}, f)
        self.left_out = left_out
        if left_out:
            print("mutate: left out (longer than %g s, --max-secs): %s" % (
                a.max_secs, ", ".join("%s" % n for n in sorted(left_out))), flush=True)
        self.programs = [p for p in self.programs if p.name not in left_out + self.empty]
        self.base_stripped = {rel: stripped(o, a.objcopy) for rel, o in self.base_objs.items()}
        self.programs.sort(key=lambda p: (p.base_time, p.name))
        self.load_kills()
        if self.cov:
            self.cov_lines = {p: {f: set(ls) for f, ls in per.items()}
                              for p, per in self.cov["ran"].items()}
            self.cov_exec = {f: set(ls) for f, ls in self.cov["lines"].items()}
            for name, why in sorted(self.cov["incomplete"].items()):
                if name not in left_out:
                    print("mutate: %s runs for every mutant (its coverage is incomplete: %s)"
                          % (name, why), flush=True)

    # ---- which lines each program runs (gcov) ----
    #
    # A program that never executes the code a mutant changes behaves exactly as it does on
    # the unmutated library: it cannot kill that mutant, so it is not run for it. Which lines
    # each program executes is measured once per source tree (stamp.json, with the baseline's
    # times): the library built again with -O0 --coverage, every program run with its
    # own GCOV_PREFIX, so the example servers it starts count for it too. A mutant's
    # code is the lines its replaced text spans, and for the value of a case label also the
    # switch that compares it. A program covers the mutant when it executes one of those
    # lines; when none of them holds code of its own (a continuation line, a static table),
    # when it executes any line of the mutated function; when the file or function is unknown
    # to gcov, always. A process that ends without exit() (a signal, _exit) writes no
    # coverage data: every process the programs start (and the programs themselves) records
    # its start and normal exit, and a program with a process that started but did not exit
    # normally, or that failed during the measurement, is run for every mutant.

    COV_MARK_C = r"""
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
static void mutate_cov_mark(const char *what)
{
    const char *d = getenv("MUTATE_COV_MARKS");
    char path[4096];
    if (!d)
        return;
    snprintf(path, sizeof path, "%s/%s.%ld", d, what, (long)getpid());
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0)
        close(fd);
}
__attribute__((constructor)) static void mutate_cov_started(void) { mutate_cov_mark("started"); }
__attribute__((destructor)) static void mutate_cov_exited(void) { mutate_cov_mark("exited"); }
"""

    def measure_coverage(self, pool, base):
        """The baseline: every program run on the unmutated library built for gcov, timed
        (the slowest of --coverage-runs runs), and the lines it executes (the union).
        Returns (coverage, names of the programs left out by --max-secs)."""
        t0 = time.monotonic()
        print("mutate: running the unmutated suite, measuring which lines each program runs"
              " (gcov; once per source tree)", flush=True)
        cov = os.path.join(base, "cov")
        shutil.rmtree(cov, ignore_errors=True)
        os.makedirs(os.path.join(cov, "obj"))
        objs, jobs = [], []
        for rel in self.lib_srcs:
            o = os.path.join(cov, "obj", os.path.basename(rel)[:-2] + ".o")
            objs.append(o)
            cmd = self.cc + self.cppflags + self.cflags + ["-O0", "--coverage", "-c", rel, "-o", o]
            jobs.append(pool.submit(must, cmd, base))
        mark_c, mark_o = os.path.join(cov, "mark.c"), os.path.join(cov, "mark.o")
        with open(mark_c, "w") as f:
            f.write(self.COV_MARK_C)
        jobs.append(pool.submit(must, self.cc + ["-O2", "-c", mark_c, "-o", mark_o], cov))
        for j in jobs:
            j.result()
        self.archive(cov, objs)
        jobs = [pool.submit(self.link, cov, p, [mark_o, "--coverage"])
                for p in self.unique(self.programs) + self.examples]
        for j in jobs:
            if j.result() is not None:
                sys.exit("mutate: linking the coverage programs failed:\n" + j.result())
        res = {"ran": {}, "lines": {}, "incomplete": {}}
        left_out, bad, empties = [], [], []
        jobs = [(p, pool.submit(self.coverage_of, cov, p, k))
                for k in range(max(1, self.a.coverage_runs)) for p in self.programs]
        for p, j in jobs:
            ran, lines, why, secs, verdict = j.result()
            p.base_time = max(p.base_time or 0, round(secs, 3))
            if verdict and self.a.max_secs and secs >= self.a.max_secs:
                left_out.append(p.name)
                continue
            if verdict and self.part_failed_empty(p, os.path.join(cov, "log", "%s.0.log" % p.name)):
                empties.append(p.name)
                continue
            if verdict:
                # Slower here (-O0, gcov): the verdict of the build under test decides.
                again, secs = self.run(base, p, 3600)
                if again:
                    bad.append("%s (%s)" % (p.name, again))
                why = why or "failed in the gcov build: %s" % verdict
            per = res["ran"].setdefault(p.name, {})
            for f, ls in ran.items():
                per[f] = set(per.get(f, ())) | ls
            for f, ls in lines.items():
                res["lines"][f] = sorted(set(res["lines"].get(f, [])) | ls)
            if why:
                res["incomplete"][p.name] = why
        if bad:
            sys.exit("mutate: the unmutated suite fails, nothing to measure: " + ", ".join(bad)
                     + "\n(logs in %s/log)" % base)
        left_out = sorted(set(left_out))
        self.empty = sorted(set(empties))
        if not left_out:
            self.empty = sorted(set(self.empty) | set(
                self.check_parts(lambda p: os.path.join(cov, "log", p.name + ".0.log"))))
        res["ran"] = {p: {f: sorted(ls) for f, ls in per.items()} for p, per in res["ran"].items()
                      if p not in left_out}
        print("mutate: baseline and coverage measured in %.0f s; slowest: %s" % (
            time.monotonic() - t0, ", ".join("%s %.1fs" % (p.name, p.base_time) for p in
                                              sorted(self.programs, key=lambda p: -p.base_time)[:4])),
              flush=True)
        return res, left_out

    def coverage_of(self, cov, p, k):
        """Run p (the k-th time) in the gcov build: (executed lines per file, code lines per
        file, why incomplete or None, seconds, failure or None)."""
        prefix = os.path.join(cov, "run", "%s.%d" % (p.name, k))
        marks = os.path.join(prefix, "marks")
        shutil.rmtree(prefix, ignore_errors=True)
        os.makedirs(marks)
        verdict, secs = self.run(cov, p, self.a.max_secs or 3600,
                                 {"GCOV_PREFIX": prefix, "GCOV_PREFIX_STRIP": "0",
                                  "MUTATE_COV_MARKS": marks}, log_name="%s.%d" % (p.name, k))
        why = None
        if verdict:
            return {}, {}, None, secs, verdict
        names = os.listdir(marks)
        started = {n.split(".", 1)[1] for n in names if n.startswith("started.")}
        exited = {n.split(".", 1)[1] for n in names if n.startswith("exited.")}
        if started - exited:
            why = "%d of %d processes ended without exit()" % (len(started - exited), len(started))
        ran, lines = {}, {}
        gdirs = set()
        for dp, _, fns in os.walk(prefix):
            if any(fn.endswith(".gcda") for fn in fns):
                gdirs.add(dp)
        objdir = os.path.join(cov, "obj")
        srcs = {os.path.basename(rel)[:-2]: rel for rel in self.lib_srcs}
        for gd in sorted(gdirs):
            have = [fn[:-5] for fn in os.listdir(gd) if fn.endswith(".gcda") and fn[:-5] in srcs]
            for stem in have:
                shutil.copyfile(os.path.join(objdir, stem + ".gcno"), os.path.join(gd, stem + ".gcno"))
            if not have:
                continue
            r = subprocess.run(["gcov", "--json-format", "--stdout", "-o", gd]
                               + [srcs[st] for st in have], cwd=os.path.dirname(cov),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL)
            if r.returncode != 0:
                sys.exit("mutate: gcov failed for %s:\n%s" % (p.name, r.stderr.decode(errors="replace")))
            dec, text, k = json.JSONDecoder(), r.stdout.decode(), 0
            while True:
                while k < len(text) and text[k].isspace():
                    k += 1
                if k >= len(text):
                    break
                doc, k = dec.raw_decode(text, k)
                for fd in doc.get("files", []):
                    f = fd["file"]
                    if f not in self.lib_srcs:
                        continue
                    for ln in fd.get("lines", []):
                        lines.setdefault(f, set()).add(ln["line_number"])
                        if ln["count"] > 0:
                            ran.setdefault(f, set()).add(ln["line_number"])
        shutil.rmtree(prefix, ignore_errors=True)
        with open(prefix + ".json", "w") as f:  # what this one run executed, to compare runs
            json.dump({f: sorted(ls) for f, ls in ran.items()}, f)
        return ran, lines, why, secs, None

    def covers(self, p, m):
        """Can program p execute the code mutant m changes? (see above)"""
        if self.cov is None or p.name in self.cov["incomplete"] or p.name not in self.cov_lines:
            return True
        code = self.cov_exec.get(m.file)
        if code is None:
            return True
        ran = self.cov_lines[p.name].get(m.file, ())
        own = [ln for ln in m.lines if ln in code]
        if own:
            return any(ln in ran for ln in own)
        a, b = m.fn_lines
        if not any(a <= ln <= b for ln in code):
            return True
        return any(a <= ln <= b for ln in ran)

    # ---- which programs first, per mutated file ----
    #
    # A mutant is killed by the first program that fails, so the order only changes the cost:
    # a survivor still runs every program. For a file lib/X.c the programs tried first are
    # those named after it (test_X, fuzz_X...-replay; lib/X_Y.c also matches X) and those that
    # killed mutants of that file in earlier runs (kills.json in the work folder, seeded from
    # an earlier results.tsv), each group cheapest first; then the rest, cheapest first.

    def load_kills(self):
        self.kills_path = os.path.join(self.out, "kills.json")
        self.kills = {}
        if os.path.exists(self.kills_path):
            with open(self.kills_path) as f:
                self.kills = json.load(f)
            return
        tsv = os.path.join(self.out, "results.tsv")
        if os.path.exists(tsv):
            with open(tsv) as f:
                for line in f:
                    c = line.rstrip("\n").split("\t")
                    if len(c) >= 4 and c[2] == "killed" and c[3]:
                        self.note_kill(c[0], c[3])

    def note_kill(self, rel, name):
        with self.lock:
            per = self.kills.setdefault(rel, {})
            per[name] = per.get(name, 0) + 1

    def save_kills(self):
        with self.lock:
            with open(self.kills_path, "w") as f:
                json.dump(self.kills, f, indent=1, sort_keys=True)

    def order_for(self, m):
        """The programs that can kill mutant m, in the order they are tried."""
        rel = m.file
        stem = os.path.basename(rel)[:-2]
        names = {stem, stem.split("_")[0]}
        killers = self.kills.get(rel, {})

        def first(p):
            words = set(re.split(r"[_-]", p.name))
            return bool(names & words) or p.name in killers

        progs = [p for p in self.programs if self.covers(p, m)]
        return sorted(progs, key=lambda p: (not first(p), p.base_time, p.name))

    def stamp(self):
        h = hashlib.sha1()
        h.update(repr((self.a.cc, self.a.cppflags, self.a.cflags, self.a.libs, self.a.tests,
                       self.a.conformance, self.a.wsconform, self.a.fuzz, self.a.examples, self.a.examples_common,
                       self.a.ex_cflags, self.a.ex_libs, self.a.extra, self.lib_srcs,
                       self.a.coverage, self.a.coverage_runs, self.a.max_secs,
                       self.a.split_conformance)).encode())
        with open(os.path.abspath(__file__), "rb") as f:
            h.update(hashlib.sha1(f.read()).digest())  # how the base is built is part of it
        for d in ("lib", "include", "tests", "fuzz", "examples", "tools/wsconform"):
            for dp, dns, fns in os.walk(d):
                dns.sort()
                for fn in sorted(fns):
                    p = os.path.join(dp, fn)
                    h.update(p.encode() + b"\0")
                    with open(p, "rb") as f:
                        h.update(hashlib.sha1(f.read()).digest())
        return h.hexdigest()

    def plan(self):
        """The programs `make check` runs, as object lists to link against libws.a."""
        a, progs = self.a, []
        self.compiles = []  # (source, object, extra flags), compiled once in the tree
        obase = os.path.join(self.out, "base", "prog-obj")

        def obj(src, extra):
            o = os.path.join(obase, src.replace("/", "__")[:-2] + ".o")
            if not any(c[1] == o for c in self.compiles):
                self.compiles.append((src, o, extra))
            return o

        def mentions_ex_dir(srcs):
            for s in srcs:
                with open(s, errors="replace") as f:
                    if "EX_DIR" in f.read():
                        return True
            return False

        extra = {}
        for name, cfl, libs in a.extra or []:
            extra[name] = (shlex.split(cfl), shlex.split(libs))
        ex_cflags, ex_libs = shlex.split(a.ex_cflags), shlex.split(a.ex_libs)

        tool_objs = [s for s in shlex.split(a.wsconform) if not s.endswith("/wsconform.c")]
        for s in shlex.split(a.tests):
            name = os.path.basename(s)[:-2]
            cfl, libs = extra.get(name, ([], []))
            objs = [obj(s, ["-Ilib"] + cfl)]
            if name == "test_wsconform":  # the tool's code but its main file, as make links it
                objs += [obj(t, []) for t in tool_objs]
            progs.append(Program(name, objs, ["-lcmocka"] + libs, [], mentions_ex_dir([s])))
        conf = shlex.split(a.conformance)
        if conf:
            objs, ex = [obj(s, []) for s in conf], mentions_ex_dir(conf)
            for suffix, args in self.conformance_parts(conf):
                progs.append(Program("test_conformance" + suffix, objs, [], args, ex,
                                     binary="test_conformance"))
        for s in shlex.split(a.fuzz):
            name = os.path.basename(s)[:-2]
            corpus = os.path.join("fuzz", "corpus", name)
            if not os.path.isdir(corpus):
                continue  # tests/run.sh skips a target without a corpus too
            progs.append(Program(name + "-replay", [obj("fuzz/replay.c", ["-Ilib"]),
                                                    obj(s, ["-Ilib"])], [], [corpus], False))
        self.examples = []
        common = [obj(s, ["-D_GNU_SOURCE"] + ex_cflags) for s in shlex.split(a.examples_common)]
        for s in shlex.split(a.examples):
            name = os.path.basename(s)[:-2].replace("_", "-")
            cfl, libs = extra.get(name, ([], []))
            self.examples.append(Program(name, [obj(s, ["-D_GNU_SOURCE"] + cfl + ex_cflags)] + common,
                                         libs + ex_libs, [], False))
        # wsconform, the tester test_conformance runs, is linked beside the examples (EX_DIR):
        # it judges with the library's checker and frame code, so a mutant reaches it too.
        wsc = shlex.split(a.wsconform)
        if wsc:
            self.examples.append(Program("wsconform", [obj(s, []) for s in wsc], [], [], False))
        return progs

    # The conformance runner is one program in make check, but it runs every case group
    # against every echo server and wsc: each (target, group) is one part here, run as
    # `test_conformance --direction ... --servers ... --cases G`, with coverage of its own, so
    # a mutant runs only the parts that reach it. The parts together run exactly the cases of
    # the whole (checked against the runner's own count after the baseline: check_parts).

    def conformance_parts(self, conf):
        text = ""
        for s in conf:
            with open(s, errors="replace") as f:
                text += f.read()
        # Cases are numbered G.x.y; the runner tallies groups G < N (struct tally groups[N]).
        servers = re.search(r'servers_buf\[\d+\] = "([^"]+)"', text)
        ngroups = re.search(r"struct tally groups\[([0-9]+)\]", text)
        if not servers or not ngroups or not self.a.split_conformance:
            return [("", [])]
        built = {os.path.basename(s)[:-2].replace("_", "-") for s in shlex.split(self.a.examples)}
        targets = [t for t in servers.group(1).split(",") if t in built]
        parts = []
        for t in targets + ["wsc"]:
            for g in range(1, int(ngroups.group(1))):
                if t == "wsc":
                    args = ["--direction", "client", "--cases", str(g)]
                else:
                    args = ["--direction", "server", "--servers", t, "--cases", str(g)]
                parts.append((".%s.%d" % (t, g), args))
        return parts

    @staticmethod
    def no_case(text):
        """A conformance part's log: its group has no case (the tester refuses to run none)."""
        return "no case selected" in text

    def part_failed_empty(self, p, log):
        """p is a conformance part that failed only because its group has no case."""
        if p.binary != "test_conformance" or p.name == p.binary:
            return False
        with open(log, errors="replace") as f:
            return self.no_case(f.read())

    def check_parts(self, log_of):
        """Each target's parts passed as many cases as the runner has: fail otherwise.
        Returns the names of the parts without a case (left out: they only start a server)."""
        per, empty = {}, []
        for p in self.programs:
            if p.binary != "test_conformance" or p.name == p.binary:
                continue
            with open(log_of(p), errors="replace") as f:
                text = f.read()
            n = re.search(r"^conformance: ([0-9]+) cases per target", text, re.M)
            ok = re.search(r"^([0-9]+) passed, ([0-9]+) failed", text, re.M)
            if not n or not ok:
                sys.exit("mutate: %s: no case count in %s" % (p.name, log_of(p)))
            t = p.name.split(".")[1]
            cnt = per.setdefault(t, [int(n.group(1)), 0])
            if self.no_case(text):
                empty.append(p.name)
                continue
            cnt[1] += int(ok.group(1)) + int(ok.group(2))
            if int(ok.group(1)) + int(ok.group(2)) == 0:
                empty.append(p.name)
        for t, (want, got) in sorted(per.items()):
            if want != got:
                sys.exit("mutate: the conformance parts of %s ran %d cases, the runner has %d:"
                         " a case group is missing from the split (--no-split-conformance)"
                         % (t, got, want))
        return empty

    def build_base(self, pool, base):
        print("mutate: building the unmutated library and programs in %s" % base, flush=True)
        shutil.rmtree(base, ignore_errors=True)
        os.makedirs(os.path.join(base, "obj"))
        os.makedirs(os.path.join(base, "prog-obj"))
        self.copy_sources(base)
        jobs = [pool.submit(must, self.lib_compile_cmd(rel), base) for rel in self.lib_srcs]
        for src, o, extra in self.compiles:
            cmd = self.cc + self.cppflags + extra + self.cflags + ["-c", src, "-o", o]
            jobs.append(pool.submit(must, cmd, self.root))
        for j in jobs:
            j.result()
        self.archive(base, self.base_objs.values())
        jobs = [pool.submit(self.link, base, p) for p in self.unique(self.programs) + self.examples]
        for j in jobs:
            if j.result() is not None:
                sys.exit("mutate: linking the unmutated programs failed:\n" + j.result())

    def run_baseline(self, pool, base):
        print("mutate: running the unmutated suite (to time each program)", flush=True)
        jobs = {p: pool.submit(self.run, base, p, self.a.max_secs or 3600) for p in self.programs}
        bad, left_out = [], []
        for p, j in jobs.items():
            verdict, secs = j.result()
            p.base_time = round(secs, 3)
            if verdict and self.a.max_secs and secs >= self.a.max_secs:
                left_out.append(p.name)
            elif verdict and self.part_failed_empty(p, os.path.join(base, "log", p.name + ".log")):
                self.empty.append(p.name)
            elif verdict:
                bad.append("%s (%s)" % (p.name, verdict))
        if bad:
            sys.exit("mutate: the unmutated suite fails, nothing to measure: " + ", ".join(bad)
                     + "\n(logs in %s/log)" % base)
        print("mutate: baseline %s" % ", ".join("%s %.1fs" % (p.name, p.base_time)
                                                for p in sorted(self.programs, key=lambda p: -p.base_time)[:4]),
              flush=True)
        if not left_out:
            self.empty = sorted(set(self.empty) | set(
                self.check_parts(lambda p: os.path.join(base, "log", p.name + ".log"))))
        return sorted(left_out)

    def copy_sources(self, d):
        for sub in ("lib", "include"):
            shutil.rmtree(os.path.join(d, sub), ignore_errors=True)
            shutil.copytree(os.path.join(self.root, sub), os.path.join(d, sub))

    @staticmethod
    def unique(progs):
        """One program per binary (parts share theirs)."""
        seen, out = set(), []
        for p in progs:
            if p.binary not in seen:
                seen.add(p.binary)
                out.append(p)
        return out

    def archive(self, d, objs):
        lib = os.path.join(d, "libws.a")
        if os.path.exists(lib):
            os.unlink(lib)
        must([self.a.ar, "rcs", lib] + list(objs), None)

    def link(self, d, p, extra=()):
        kind = "examples" if p in self.examples else "bin"
        os.makedirs(os.path.join(d, kind), exist_ok=True)
        cmd = self.cc + self.cflags + p.objs + ["-o", os.path.join(d, kind, p.binary),
                                                 os.path.join(d, "libws.a")] + p.libs + self.libflags
        cmd += list(extra)
        rc, out = sh(cmd, None)
        return None if rc == 0 else out

    def run(self, d, p, timeout, env_extra=None, log_name=None):
        """Run one program from work folder d. Returns (failure or None, seconds)."""
        os.makedirs(os.path.join(d, "log"), exist_ok=True)
        log = os.path.join(d, "log", (log_name or p.name) + ".log")
        env = dict(os.environ, EX_DIR=os.path.join(d, "examples"), **(env_extra or {}))
        t0 = time.monotonic()
        with open(log, "wb") as f:
            proc = subprocess.Popen([os.path.join(d, "bin", p.binary)] + p.args, cwd=self.root,
                                    stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    env=env, start_new_session=True)
            with self.lock:
                self.running.add(proc)
            try:
                rc = proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                rc = None
            finally:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)  # the program and anything it started
                except (ProcessLookupError, PermissionError):
                    pass
                proc.wait()
                with self.lock:
                    self.running.discard(proc)
        secs = time.monotonic() - t0
        if rc is None:
            return "timeout after %ds" % timeout, secs
        with open(log, "rb") as f:
            m = FAILED_RE.search(f.read())
        if rc < 0:
            return "killed by signal %s" % signal.Signals(-rc).name, secs
        if m and int(m.group(1)) > 0:
            return "%s failed test(s)" % m.group(1).decode(), secs
        if rc != 0:
            return "exit %d" % rc, secs
        return None, secs

    def kill_all(self):
        with self.lock:
            for proc in list(self.running):
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass

    # ---- one mutant ----

    def timeout(self, p):
        return self.a.timeout_factor * p.base_time + self.a.timeout_add

    def run_group(self, wdir, group):
        """Run the programs of group, up to --long-jobs at a time, the longest first;
        {program: failure or None}."""
        out, todo, lock = {}, sorted(group, key=lambda p: -p.base_time), threading.Lock()

        def worker():
            while not self.stop:
                with lock:
                    if not todo:
                        return
                    p = todo.pop(0)
                out[p] = self.run(wdir, p, self.timeout(p))[0]

        threads = [threading.Thread(target=worker) for _ in range(max(1, self.a.long_jobs) - 1)]
        for t in threads:
            t.start()
        worker()
        for t in threads:
            t.join()
        for p in group:
            out.setdefault(p, None)
        return out

    def try_mutant(self, m, wdir, original):
        """Compile, compare, link and run one mutant in work folder wdir. Returns a dict."""
        rel = m.file
        src_path = os.path.join(wdir, rel)
        stem = os.path.basename(rel)[:-2]
        t0 = time.monotonic()
        res = {"status": None, "by": "", "why": ""}
        try:
            with open(src_path, "w") as f:
                f.write(m.apply(original))
            for o in os.listdir(os.path.join(wdir, "obj")):
                os.unlink(os.path.join(wdir, "obj", o))
            rc, out = sh(self.lib_compile_cmd(rel), wdir)
            if rc != 0:
                errs = [l for l in out.splitlines() if "error" in l] or out.splitlines() or [""]
                res.update(status="no-compile", why=errs[0].strip())
                return res
            obj = os.path.join(wdir, "obj", stem + ".o")
            if stripped(obj, self.a.objcopy) == self.base_stripped[rel]:
                res["status"] = "same-object"
                return res
            objs = [obj if r == rel else o for r, o in self.base_objs.items()]
            self.archive(wdir, objs)
            shutil.rmtree(os.path.join(wdir, "bin"), ignore_errors=True)
            shutil.rmtree(os.path.join(wdir, "examples"), ignore_errors=True)
            progs = self.order_for(m)
            res["ran"] = len(progs)
            # The short programs one at a time; the long ones (the example-server suites,
            # mostly waiting on sockets and timers) together, after every short one passed.
            short = [p for p in progs if p.base_time < self.a.long]
            long_ = [p for p in progs if p.base_time >= self.a.long]
            linked_examples, linked = False, set()
            for group in [[p] for p in short] + ([long_] if long_ else []):
                if self.stop:
                    res["status"] = "not-run"
                    return res
                for p in group:
                    if p.needs_examples and not linked_examples:
                        for ex in self.examples:
                            err = self.link(wdir, ex)
                            if err:
                                res.update(status="killed", by=ex.name, why="link failed")
                                return res
                        linked_examples = True
                    if p.binary in linked:
                        continue
                    err = self.link(wdir, p)
                    if err:
                        res.update(status="killed", by=p.name, why="link failed")
                        return res
                    linked.add(p.binary)
                verdicts = self.run_group(wdir, group)
                if self.stop:
                    res["status"] = "not-run"
                    return res
                for p in group:
                    verdict = verdicts[p]
                    if verdict and len(group) > 1:
                        # It failed beside the others: it must fail alone too (make check
                        # runs one program at a time), or a loaded machine would kill mutants.
                        again, _ = self.run(wdir, p, self.timeout(p), log_name=p.name + ".alone")
                        verdict = again and "%s (and again alone)" % verdict
                    if verdict:
                        res.update(status="killed", by=p.name, why=verdict)
                        self.note_kill(rel, p.name)
                        return res
            res["status"] = "survived"
            return res
        finally:
            with open(src_path, "w") as f:
                f.write(original)
            res["secs"] = round(time.monotonic() - t0, 2)


# --------------------------------------------------------------------------------------------
# Report

def unified(m, original):
    mutated = m.apply(original)
    return "".join(difflib.unified_diff(original.splitlines(True), mutated.splitlines(True),
                                        "a/" + m.file, "b/" + m.file, n=2))


def report(a, seed, pool_counts, chosen, results, sources, elapsed, stale, interrupted):
    files = sorted({m.file for m in chosen})
    cols = ["generated", "marked", "same-object", "no-compile", "compiled", "killed", "survived"]
    rows, tot = [], {c: 0 for c in cols}
    for fn in files:
        c = {k: 0 for k in cols}
        for m in chosen:
            if m.file != fn:
                continue
            st = results[m.key()]["status"]
            c["generated"] += 1
            if st == "marked":
                c["marked"] += 1
            elif st in ("same-object", "no-compile"):
                c[st] += 1
            elif st in ("killed", "survived"):
                c["compiled"] += 1
                c[st] += 1
        for k in cols:
            tot[k] += c[k]
        rows.append((fn, pool_counts.get(fn, 0), c))

    def score(c):
        n = c["killed"] + c["survived"]
        return c["killed"] / n if n else None

    def fmt(s):
        return "—" if s is None else "%.1f%%" % (100 * s)

    not_run = sum(1 for m in chosen if results[m.key()]["status"] == "not-run")
    timed = [r["secs"] for r in results.values() if r.get("status") in ("killed", "survived")]
    tried = [r["secs"] for r in results.values()
             if r.get("status") in ("killed", "survived", "same-object", "no-compile")]
    L = []
    L.append("# Mutation testing report")
    L.append("")
    L.append("- seed: %s; mutants: %d chosen of %d%s" % (
        seed, len(chosen), sum(pool_counts.values()),
        " (COUNT=%d)" % a.count if a.count else ""))
    L.append("- files: %s" % " ".join(files))
    if a.inactive:
        L.append("- %d more mutants are in code that #if leaves out of this build (not counted)"
                 % a.inactive)
    L.append("- jobs: %d; wall time: %.0f s (baseline included); per mutant tried: mean %.1f s;"
             " per mutant run (compiled): mean %.1f s, max %.1f s"
             % (a.jobs, elapsed, sum(tried) / len(tried) if tried else 0,
                sum(timed) / len(timed) if timed else 0, max(timed) if timed else 0))
    ran = [r["ran"] for r in results.values()
           if r.get("status") in ("killed", "survived") and "ran" in r]
    surv_ran = [r["ran"] for r in results.values() if r.get("status") == "survived" and "ran" in r]
    if ran:
        L.append("- programs that can reach the mutated code (gcov, run for it when nothing killed it"
                 " earlier): mean %.1f of %d; for the survivors: mean %.1f"
                 % (sum(ran) / len(ran), a.nprograms, sum(surv_ran) / len(surv_ran) if surv_ran else 0))
    if a.left_out:
        L.append("- left out (their baseline run took longer than %g s, --max-secs): %s; a mutant"
                 " only they would kill counts as survived" % (a.max_secs, ", ".join(a.left_out)))
    if not_run:
        L.append("- not run: %d (%s)" % (not_run, "time budget of %d s reached" % a.budget
                                          if a.budget and not interrupted else "interrupted"))
    L.append("")
    L.append("| file | pool | generated | marked equivalent | same object | did not compile "
             "| compiled | killed | survived | score |")
    L.append("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for fn, pool, c in rows:
        L.append("| %s | %d | %d | %d | %d | %d | %d | %d | %d | %s |" % (
            fn, pool, c["generated"], c["marked"], c["same-object"], c["no-compile"],
            c["compiled"], c["killed"], c["survived"], fmt(score(c))))
    L.append("| **total** | %d | %d | %d | %d | %d | %d | %d | %d | **%s** |" % (
        sum(pool_counts[f] for f in files), tot["generated"], tot["marked"], tot["same-object"],
        tot["no-compile"], tot["compiled"], tot["killed"], tot["survived"], fmt(score(tot))))
    L.append("")
    L.append("score = killed / (killed + survived); threshold %.2f" % a.threshold)
    by = {}
    for m in chosen:
        r = results[m.key()]
        if r["status"] == "killed":
            by[r["by"]] = by.get(r["by"], 0) + 1
    if by:
        L.append("")
        L.append("killed by: " + ", ".join("%s %d" % kv for kv in sorted(by.items(), key=lambda kv: -kv[1])))
    surv = [m for m in chosen if results[m.key()]["status"] == "survived"]
    L.append("")
    L.append("## Survivors (%d)" % len(surv))
    for m in surv:
        L.append("")
        L.append("### %s:%d (%s) %s" % (m.file, m.line, m.func, m.what))
        L.append("")
        L.append("    %s" % m.ident())
        L.append("")
        L.append("```diff")
        L.append(unified(m, sources[m.file]).rstrip("\n"))
        L.append("```")
    if stale:
        L.append("")
        L.append("## Stale entries in %s (match no mutant now)" % a.equivalent)
        L.append("")
        for k in stale:
            L.append("    %s | %s | %s | %s | %d" % k)
    return "\n".join(L) + "\n", score(tot)


# --------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", default="", help="lib files (paths or stems); default: all of --lib-srcs")
    ap.add_argument("--count", type=int, default=0, help="a seeded sample of this many mutants (0: all)")
    ap.add_argument("--seed", default="", help="sampling seed (default: a fresh one, printed)")
    ap.add_argument("--match", default="", help="only mutants whose identity contains this text")
    ap.add_argument("--ids", default="", help="only the mutants whose identities are listed in this file")
    ap.add_argument("--threshold", type=float, default=0.95, help="exit 1 when the score is below")
    ap.add_argument("--budget", type=int, default=0, help="start no mutant after this many seconds")
    ap.add_argument("-j", "--jobs", type=int, default=2)
    ap.add_argument("--list", action="store_true", help="print the chosen mutants, run nothing")
    ap.add_argument("--rebuild", action="store_true", help="rebuild and re-time the baseline")
    ap.add_argument("--timeout-factor", type=float, default=4.0)
    ap.add_argument("--timeout-add", type=float, default=10.0)
    ap.add_argument("--no-coverage", dest="coverage", action="store_false",
                    help="run every program for every mutant (no gcov selection)")
    ap.add_argument("--coverage-runs", type=int, default=1,
                    help="run the suite this many times for the coverage (the union counts)")
    ap.add_argument("--max-secs", type=float, default=0,
                    help="leave out the programs whose baseline run takes longer (0: none)")
    ap.add_argument("--no-split-conformance", dest="split_conformance", action="store_false",
                    help="run the conformance runner whole, not by target and case group")
    ap.add_argument("--long-jobs", type=int, default=4,
                    help="how many of the long programs run at the same time (per mutant)")
    ap.add_argument("--long", type=float, default=3.0,
                    help="programs whose baseline takes this many seconds or more run together, last")
    ap.add_argument("--out", default="build/mutate")
    ap.add_argument("--equivalent", default="tools/mutate-equivalent.txt")
    # From the Makefile: how `make check` builds and what it runs.
    ap.add_argument("--cc", default="cc")
    ap.add_argument("--ar", default="ar")
    ap.add_argument("--objcopy", default="objcopy")
    ap.add_argument("--cppflags", default="-Iinclude")
    ap.add_argument("--cflags", default="-std=c11 -O2 -g -fPIC -fvisibility=hidden")
    ap.add_argument("--libs", default="")
    ap.add_argument("--lib-srcs", default="")
    ap.add_argument("--tests", default="")
    ap.add_argument("--conformance", default="")
    ap.add_argument("--wsconform", default="")
    ap.add_argument("--fuzz", default="")
    ap.add_argument("--examples", default="")
    ap.add_argument("--examples-common", default="")
    ap.add_argument("--ex-cflags", default="", help="extra compile flags of every example (TLS)")
    ap.add_argument("--ex-libs", default="", help="extra link flags of every example (TLS)")
    ap.add_argument("--extra", nargs=3, action="append", metavar=("NAME", "CFLAGS", "LIBS"),
                    help="extra compile and link flags of one test program or example")
    a = ap.parse_args()
    a.nprograms, a.left_out = 0, []

    if not a.lib_srcs:
        a.lib_srcs = " ".join(sorted("lib/" + f for f in os.listdir("lib") if f.endswith(".c")))
    all_srcs = shlex.split(a.lib_srcs)
    if a.files.strip():
        files = []
        for f in a.files.split():
            cand = [s for s in all_srcs if s == f or os.path.basename(s) in (f, f + ".c")]
            if not cand:
                sys.exit("mutate: %s is not one of %s" % (f, " ".join(all_srcs)))
            files += cand
        files = sorted(set(files))
    else:
        files = all_srcs
    seed = a.seed.strip() or str(random.SystemRandom().randrange(1, 10**9))

    sources, pool, pool_counts, inactive = {}, [], {}, 0
    cc = shlex.split(a.cc)
    cflags = shlex.split(a.cppflags) + [f for f in shlex.split(a.cflags) if f != "-Werror"]
    for fn in files:
        with open(fn, encoding="utf-8") as f:
            sources[fn] = f.read()
        ms = mutants_of(fn, sources[fn])
        # Code that #if leaves out of this build would only give "same object" mutants.
        live = active_lines(fn, cc, cflags)
        if live is not None:
            inactive += sum(1 for m in ms if m.line not in live)
            ms = [m for m in ms if m.line in live]
        pool_counts[fn] = len(ms)
        pool += ms
    a.inactive = inactive
    eq = load_equivalents(a.equivalent)
    keys = {m.key() for m in pool}
    stale = sorted(k for k in eq if k[0] in sources and k not in keys)

    chosen = pool
    if a.match:
        chosen = [m for m in chosen if a.match in m.ident()]
    if a.ids:
        with open(a.ids) as f:
            want = {" ".join(l.split()) for l in f if l.strip() and not l.startswith("#")}
        chosen = [m for m in chosen if " ".join(m.ident().split()) in want]
    rng = random.Random(seed)
    order = list(chosen)
    rng.shuffle(order)  # run order: any prefix (time budget) is a random sample too
    if a.count and a.count < len(order):
        order = order[: a.count]
    pos = {id(m): k for k, m in enumerate(pool)}
    chosen = sorted(order, key=lambda m: pos[id(m)])

    again = "SEED=%s" % seed
    if a.count:
        again += " COUNT=%d" % a.count
    if a.files.strip():
        again += " FILES=%s" % shlex.quote(a.files.strip())
    if a.match:
        again += " MATCH=%s" % shlex.quote(a.match)
    if a.ids:
        again += " IDS=%s" % shlex.quote(a.ids)
    print("mutate: seed %s — %d of %d mutants in %s (make mutate %s to repeat)" % (
        seed, len(chosen), len(pool), " ".join(files), again), flush=True)
    if a.list:
        try:
            for m in chosen:
                print("%s:%d  %s%s" % (m.file, m.line, m.ident(),
                                       "  [marked]" if m.key() in eq else ""))
        except BrokenPipeError:  # | head
            sys.stdout = open(os.devnull, "w")
        return 0

    os.makedirs(a.out, exist_ok=True)
    r = Runner(a)
    results = {}
    t0 = time.monotonic()
    workers = max(1, a.jobs)
    # SIGTERM (a CI time-out, kill) stops the run like ^C: the programs under test run in
    # sessions of their own, so they are ended here rather than left behind.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    futs = []
    ex = cf.ThreadPoolExecutor(workers)
    try:
        r.setup(ex)
        a.nprograms = len(r.programs)
        a.left_out = r.left_out
        free = []
        for k in range(workers):
            w = os.path.join(r.out, "w%d" % k)
            os.makedirs(os.path.join(w, "obj"), exist_ok=True)
            r.copy_sources(w)
            free.append(w)
        free_lock = threading.Lock()
        done = [0]
        t_start = time.monotonic()

        def one(m):
            if m.key() in eq:
                res = {"status": "marked", "by": "", "why": eq[m.key()], "secs": 0}
            elif r.stop or (a.budget and time.monotonic() - t_start > a.budget):
                res = {"status": "not-run", "by": "", "why": "", "secs": 0}
            else:
                with free_lock:
                    w = free.pop()
                try:
                    res = r.try_mutant(m, w, sources[m.file])
                finally:
                    with free_lock:
                        free.append(w)
            results[m.key()] = res
            with free_lock:
                done[0] += 1
                k = done[0]
            if res["status"] != "not-run":
                extra = ""
                if res["status"] == "killed":
                    extra = " by %s (%s)" % (res["by"], res["why"])
                elif res["status"] == "no-compile":
                    extra = " (%s)" % res["why"]
                if "ran" in res:
                    extra += " [%d programs can reach it]" % res["ran"]
                print("[%d/%d] %s:%d %s: %s%s %.1fs" % (k, len(order), m.file, m.line, m.what,
                                                        res["status"], extra, res.get("secs", 0)),
                      flush=True)
            return res

        futs = [ex.submit(one, m) for m in order]
        for fu in futs:
            fu.result()
    except KeyboardInterrupt:
        r.stop = True
        for fu in futs:
            fu.cancel()
        r.kill_all()
        print("mutate: interrupted; reporting what finished", flush=True)
        if not futs:
            return 130
    finally:
        ex.shutdown(wait=True)
    if hasattr(r, "kills"):
        r.save_kills()
    for m in chosen:
        results.setdefault(m.key(), {"status": "not-run", "by": "", "why": "", "secs": 0})
    elapsed = time.monotonic() - t0
    text, sc = report(a, seed, pool_counts, chosen, results, sources, elapsed, stale, r.stop)
    with open(os.path.join(a.out, "report.md"), "w") as f:
        f.write(text)
    with open(os.path.join(a.out, "results.tsv"), "w") as f:
        f.write("file\tline\tstatus\tby\twhy\tsecs\tprograms\tidentity\n")
        for m in chosen:
            res = results[m.key()]
            f.write("%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n" % (
                m.file, m.line, res["status"], res["by"], res["why"], res.get("secs", 0),
                res.get("ran", ""), m.ident()))
    with open(os.path.join(a.out, "survivors.txt"), "w") as f:
        for m in chosen:
            if results[m.key()]["status"] == "survived":
                f.write(m.ident() + "\n")
    print()
    print(text, end="")
    print("mutate: report in %s/report.md, survivors' identities in %s/survivors.txt" % (a.out, a.out))
    if r.stop:
        return 130
    if sc is not None and sc < a.threshold:
        print("mutate: score %.1f%% is below the threshold %.1f%%" % (100 * sc, 100 * a.threshold))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
