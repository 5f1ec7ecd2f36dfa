# SPDX-License-Identifier: MIT
"""tests/integration/test_rust.py: Rust names are fully demangled.

Builds tests/victims/rustleak.rs with Debian's rustc twice, with legacy
symbol names (rustc 1.63's default: _ZN...17h<hash>E, $LT$ escapes) and
with v0 names (_R...), runs each under the preload at sampling 1 and
translates the report: the leaking generic functions and the closure
must be named as rustc-demangle names them (rustleak::leak_vec::<u32>),
with no $-escape, hash, .llvm. suffix or mangled prefix left in any frame
of any format, and the frames must agree with addr2line -f -i -C."""
import json
import os
import re
import shutil
import subprocess
import tempfile

from lslib import BUILD, LIB, ROOT, TRANSLATE, Tap, leaks_through, sum_field

t = Tap()
RUSTC = "/usr/bin/rustc"  # Debian's, not a ~/.cargo one
SRC = os.path.join(ROOT, "tests", "victims", "rustleak.rs")
PPROF = os.path.join(BUILD, "tools", "pprof")
LINE = {}
with open(SRC) as f:
    for no, text in enumerate(f, 1):
        for m in re.finditer(r"L:(\w+)", text):
            LINE[m.group(1)] = no

# What the demangled names must be: the leaking functions, with the leaks
# that pass through each (10 u32 vectors, 10 u8 ones, 1 u16 one from the
# closure, 10 boxes). Legacy names carry no generic arguments: both
# leak_vec instances are rustleak::leak_vec (their hashes differ).
NAMES = {
    "legacy": {"rustleak::leak_vec": 21, "rustleak::leak_box": 10, "rustleak::main::{{closure}}": 1,
               "rustleak::main": 31},
    "v0": {"rustleak::leak_vec::<u32>": 10, "rustleak::leak_vec::<u8>": 10, "rustleak::leak_vec::<u16>": 1,
           "rustleak::leak_box": 10, "rustleak::main::{closure#0}": 1, "rustleak::main": 31},
}
# Left over from a mangled name: $LT$-style escapes, a legacy hash part,
# an LLVM suffix, or a name that was not demangled at all.
MANGLED = re.compile(r"\$(LT|GT|u[0-9a-f]+|LP|RP|RF|BP|C)\$|::h[0-9a-f]{16}\b|\.llvm\.|(^|[^\w])_(R|ZN)[0-9A-Za-z_]")


def build(d, scheme):
    """Compiles rustleak.rs; returns the binary's path."""
    exe = os.path.join(d, "rustleak-" + scheme)
    base = [RUSTC, "-g", "-C", "opt-level=0", "--crate-name", "rustleak", "-o", exe, SRC]
    if scheme == "legacy":
        tries = [(base, None)]  # rustc 1.63's default; naming it needs -Z unstable-options
    else:
        tries = [(base + ["-C", "symbol-mangling-version=v0"], None),
                 (base + ["-Z", "symbol-mangling-version=v0"], {"RUSTC_BOOTSTRAP": "1"})]
    errs = []
    for argv, env in tries:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                           env=dict(os.environ, **env) if env else None)
        if p.returncode == 0:
            return exe
        errs.append(p.stderr[-1000:])
    raise RuntimeError("rustc failed:\n" + "\n".join(errs))


def own_symbols(exe):
    """The binary's symbols of the rustleak crate, as the linker sees them."""
    out = subprocess.run(["nm", exe], capture_output=True, text=True).stdout
    return [l.split()[-1] for l in out.split("\n") if "8rustleak" in l]


def run(d, exe):
    rep = os.path.join(d, os.path.basename(exe) + ".report")
    env = dict(os.environ, LD_PRELOAD=LIB, LEAKSCOPE_SAMPLING="1", LEAKSCOPE_PORT="off", LEAKSCOPE_REPORT=rep)
    p = subprocess.run([exe], env=env, capture_output=True, text=True, timeout=60)
    if p.returncode != 0 or not os.path.exists(rep):
        raise RuntimeError("%s exit status %d; stderr:\n%s" % (exe, p.returncode, p.stderr[-2000:]))
    return rep


def tr(*args):
    p = subprocess.run([TRANSLATE, *args], capture_output=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("translator %r failed (%d): %s" % (args, p.returncode, p.stderr.decode()))
    return p.stdout.decode("utf-8", "replace")


def addr2line_agrees(rep, exe):
    """Every frame in the binary, grouped by address (inlined frames
    first), is what addr2line -f -i -C says (binutils demangles Rust)."""
    why = []
    for leak in rep["leaks"]:
        groups = []
        for i, f in enumerate(leak["frames"]):
            if groups and groups[-1][0]["addr"] == f["addr"] and groups[-1][0]["_i"] == i - len(groups[-1]):
                groups[-1].append(dict(f, _i=i))
            else:
                groups.append([dict(f, _i=i)])
        for g in groups:
            if g[0]["module"] != exe:
                continue
            off = int(g[0]["offset"], 16) - (1 if g[0]["_i"] > 0 else 0)
            a2l = subprocess.run(["addr2line", "-f", "-i", "-C", "-e", exe, hex(off)],
                                 capture_output=True, text=True).stdout.split("\n")
            want = [(a2l[j], a2l[j + 1]) for j in range(0, len(a2l) - 1, 2)]
            got = [(f["function"] or "??", "%s:%s" % (f["file"] or "??", f["line"] or "?")) for f in g]
            if got != want:
                why.append("%s: got %r, addr2line %r" % (hex(off), got, want))
    return why


def check(d, scheme):
    exe = build(d, scheme)
    syms = own_symbols(exe)
    if scheme == "legacy":
        shown = any(re.match(r"^_ZN8rustleak8leak_vec17h[0-9a-f]{16}E$", s) for s in syms)
    else:
        shown = any(s.startswith("_R") and "8leak_vec" in s for s in syms)
    t.ok(shown, "%s: rustc gave the binary %s names" % (scheme, scheme), " ".join(syms[:8]))
    rep_path = run(d, exe)
    rep = json.loads(tr("--format", "json", rep_path))

    names = [f["function"] for lk in rep["leaks"] for f in lk["frames"] if f["function"]]
    left = sorted({n for n in names if MANGLED.search(n)})
    t.ok(names and not left, "%s: no frame keeps a mangled part (%d frames)" % (scheme, len(names)),
         "; ".join(left[:10]))
    bad = []
    for name, count in NAMES[scheme].items():
        got = sum_field(leaks_through(rep, name), "count")
        if got != count:
            bad.append("%s: %d leaks through it, want %d" % (name, got, count))
    t.ok(not bad, "%s: the leaking functions have their demangled names, with the right counts" % scheme,
         "; ".join(bad) + "; names seen: %r" % sorted({n for n in names if "rustleak" in n}))

    # The frame of the leaking function: its own file and marked line.
    vec = "rustleak::leak_vec::<u32>" if scheme == "v0" else "rustleak::leak_vec"
    text = tr(rep_path)
    want = re.compile(r"^#\d+ %s at %s:%d \(%s\)$" % (re.escape(vec), re.escape(SRC), LINE["leak_vec"],
                                                        re.escape(exe)), re.M)
    want_box = re.compile(r"^#\d+ rustleak::leak_box at %s:%d \(%s\)$" % (re.escape(SRC), LINE["leak_box"],
                                                                       re.escape(exe)), re.M)
    t.ok(want.search(text) and want_box.search(text) and not MANGLED.search(text),
         "%s: text names %s and rustleak::leak_box at their lines" % (scheme, vec), text[:3000])

    why = addr2line_agrees(rep, exe)
    t.ok(not why, "%s: every frame in the binary agrees with addr2line -f -i -C" % scheme, "\n".join(why[:10]))

    # The other formats take the same names.
    outs = {"folded": tr("--format", "folded", rep_path), "svg": tr("--format", "svg", rep_path),
            "html": tr("--format", "html", rep_path)}
    pb = os.path.join(d, scheme + ".pb.gz")
    with open(pb, "wb") as f:
        f.write(subprocess.run([TRANSLATE, "--format", "pprof", rep_path], capture_output=True).stdout)
    outs["pprof"] = subprocess.run([PPROF, "-raw", pb], capture_output=True, text=True).stdout
    # svg and html escape < and > as character references.
    esc = vec.replace("<", "&lt;").replace(">", "&gt;")
    bad = [k for k, v in outs.items() if (vec not in v and esc not in v) or MANGLED.search(v)]
    t.ok(not bad, "%s: folded, svg, html and pprof name %s, and nothing mangled" % (scheme, vec),
         "bad: %r" % bad)


def main():
    if not os.path.exists(RUSTC):
        print("ok - # SKIP rust names: %s is not installed (Debian package rustc)" % RUSTC)
        t.done()
    d = tempfile.mkdtemp(prefix="leakscope-rust.")
    try:
        for scheme in ("legacy", "v0"):
            try:
                check(d, scheme)
            except Exception as e:  # a crash of the driver is a failure
                t.ok(False, "%s: rust driver" % scheme, "%s: %s" % (type(e).__name__, e))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    t.done()


main()
