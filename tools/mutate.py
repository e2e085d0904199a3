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
linked and run one at a time, each under a timeout, until one fails (killed) or all pass
(survived): first the programs named after the mutated file and those that killed its mutants
in earlier runs (build/mutate/kills.json), then the rest, each group cheapest first. Mutants listed in tools/mutate-equivalent.txt are "marked equivalent"
and not run.

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
    __slots__ = ("file", "func", "line", "start", "end", "repl", "what", "op", "hash", "occ")

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
    def __init__(self, name, objs, libs, args, needs_examples):
        self.name, self.objs, self.libs, self.args = name, objs, libs, args
        self.needs_examples = needs_examples
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
                p.base_time = old["times"][p.name]
        else:
            self.build_base(pool, base)
            self.run_baseline(pool, base)
            with open(stamp_file, "w") as f:
                json.dump({"stamp": stamp, "times": {p.name: p.base_time for p in self.programs}},
                          f, indent=1)
        self.base_stripped = {rel: stripped(o, a.objcopy) for rel, o in self.base_objs.items()}
        self.programs.sort(key=lambda p: (p.base_time, p.name))
        self.load_kills()

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

    def order_for(self, rel):
        stem = os.path.basename(rel)[:-2]
        names = {stem, stem.split("_")[0]}
        killers = self.kills.get(rel, {})

        def first(p):
            words = set(re.split(r"[_-]", p.name))
            return bool(names & words) or p.name in killers

        return sorted(self.programs, key=lambda p: (not first(p), p.base_time, p.name))

    def stamp(self):
        h = hashlib.sha1()
        h.update(repr((self.a.cc, self.a.cppflags, self.a.cflags, self.a.libs, self.a.tests,
                       self.a.conformance, self.a.fuzz, self.a.examples, self.a.examples_common,
                       self.lib_srcs)).encode())
        with open(os.path.abspath(__file__), "rb") as f:
            h.update(hashlib.sha1(f.read()).digest())  # how the base is built is part of it
        for d in ("lib", "include", "tests", "fuzz", "examples"):
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

        for s in shlex.split(a.tests):
            name = os.path.basename(s)[:-2]
            progs.append(Program(name, [obj(s, ["-Ilib"])], ["-lcmocka"], [],
                                 mentions_ex_dir([s])))
        conf = shlex.split(a.conformance)
        if conf:
            progs.append(Program("test_conformance", [obj(s, []) for s in conf], [], [],
                                 mentions_ex_dir(conf)))
        for s in shlex.split(a.fuzz):
            name = os.path.basename(s)[:-2]
            corpus = os.path.join("fuzz", "corpus", name)
            if not os.path.isdir(corpus):
                continue  # tests/run.sh skips a target without a corpus too
            progs.append(Program(name + "-replay", [obj("fuzz/replay.c", ["-Ilib"]),
                                                    obj(s, ["-Ilib"])], [], [corpus], False))
        self.examples = []
        common = [obj(s, ["-D_GNU_SOURCE"]) for s in shlex.split(a.examples_common)]
        for s in shlex.split(a.examples):
            name = os.path.basename(s)[:-2].replace("_", "-")
            self.examples.append(Program(name, [obj(s, ["-D_GNU_SOURCE"])] + common, [], [], False))
        return progs

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
        jobs = [pool.submit(self.link, base, p) for p in self.programs + self.examples]
        for j in jobs:
            if j.result() is not None:
                sys.exit("mutate: linking the unmutated programs failed:\n" + j.result())

    def run_baseline(self, pool, base):
        print("mutate: running the unmutated suite (to time each program)", flush=True)
        jobs = {p: pool.submit(self.run, base, p, 3600) for p in self.programs}
        bad = []
        for p, j in jobs.items():
            verdict, secs = j.result()
            p.base_time = round(secs, 3)
            if verdict:
                bad.append("%s (%s)" % (p.name, verdict))
        if bad:
            sys.exit("mutate: the unmutated suite fails, nothing to measure: " + ", ".join(bad)
                     + "\n(logs in %s/log)" % base)
        print("mutate: baseline %s" % ", ".join("%s %.1fs" % (p.name, p.base_time)
                                                for p in sorted(self.programs, key=lambda p: -p.base_time)[:4]),
              flush=True)

    def copy_sources(self, d):
        for sub in ("lib", "include"):
            shutil.rmtree(os.path.join(d, sub), ignore_errors=True)
            shutil.copytree(os.path.join(self.root, sub), os.path.join(d, sub))

    def archive(self, d, objs):
        lib = os.path.join(d, "libws.a")
        if os.path.exists(lib):
            os.unlink(lib)
        must([self.a.ar, "rcs", lib] + list(objs), None)

    def link(self, d, p):
        kind = "examples" if p in self.examples else "bin"
        os.makedirs(os.path.join(d, kind), exist_ok=True)
        cmd = self.cc + self.cflags + p.objs + ["-o", os.path.join(d, kind, p.name),
                                                 os.path.join(d, "libws.a")] + p.libs + self.libflags
        rc, out = sh(cmd, None)
        return None if rc == 0 else out

    def run(self, d, p, timeout):
        """Run one program from work folder d. Returns (failure or None, seconds)."""
        os.makedirs(os.path.join(d, "log"), exist_ok=True)
        log = os.path.join(d, "log", p.name + ".log")
        env = dict(os.environ, EX_DIR=os.path.join(d, "examples"))
        t0 = time.monotonic()
        with open(log, "wb") as f:
            proc = subprocess.Popen([os.path.join(d, "bin", p.name)] + p.args, cwd=self.root,
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
            linked_examples = False
            for p in self.order_for(rel):
                if self.stop:
                    res["status"] = "not-run"
                    return res
                if p.needs_examples and not linked_examples:
                    for ex in self.examples:
                        err = self.link(wdir, ex)
                        if err:
                            res.update(status="killed", by=ex.name, why="link failed")
                            return res
                    linked_examples = True
                err = self.link(wdir, p)
                if err:
                    res.update(status="killed", by=p.name, why="link failed")
                    return res
                verdict, _ = self.run(wdir, p, self.a.timeout_factor * p.base_time + self.a.timeout_add)
                if self.stop:
                    res["status"] = "not-run"
                    return res
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
    ap.add_argument("--fuzz", default="")
    ap.add_argument("--examples", default="")
    ap.add_argument("--examples-common", default="")
    a = ap.parse_args()

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
        f.write("file\tline\tstatus\tby\twhy\tsecs\tidentity\n")
        for m in chosen:
            res = results[m.key()]
            f.write("%s\t%d\t%s\t%s\t%s\t%s\t%s\n" % (m.file, m.line, res["status"], res["by"],
                                                     res["why"], res.get("secs", 0), m.ident()))
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
