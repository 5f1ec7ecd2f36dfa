#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Golden tests for build/leakscope-translate.

The programs in tests/golden/src write leakscope reports of their own
stacks (fixture.c); this driver fills in the build IDs (its own ELF reader,
independent of the translator's), runs the translator and compares with
tests/golden/expected/*, or with addr2line as an oracle. Expected files
name source lines by markers ({L:name} is the line holding "L:name") and
paths by placeholders, so they do not depend on the compiler's layout.
Prints "ok - NAME" / "not ok - NAME" lines.
"""
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
from tap import not_ok, ok  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
GOLDEN = os.path.join(BUILD, "golden")
TR = os.environ.get("LEAKSCOPE_TRANSLATE", os.path.join(BUILD, "leakscope-translate"))  # e.g. an ASan build
SRC = os.path.join(ROOT, "tests", "golden", "src")
EXPECTED = os.path.join(ROOT, "tests", "golden", "expected")
TMP = tempfile.mkdtemp(prefix="ls-golden.")

# ------------------------------------------------------------------ ELF


def build_id(path):
    """The GNU build ID of an ELF64 little-endian file as hex, or None."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return None
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    (phoff, shoff) = struct.unpack_from("<QQ", data, 0x20)
    (phentsize, phnum, shentsize, shnum) = struct.unpack_from("<HHHH", data, 0x36)
    blocks = []
    for i in range(shnum):
        sh = shoff + i * shentsize
        (stype,) = struct.unpack_from("<I", data, sh + 4)
        (off, size) = struct.unpack_from("<QQ", data, sh + 0x18)
        if stype == 7:  # SHT_NOTE
            blocks.append((off, size))
    for i in range(phnum):
        ph = phoff + i * phentsize
        (ptype,) = struct.unpack_from("<I", data, ph)
        (off,) = struct.unpack_from("<Q", data, ph + 8)
        (filesz,) = struct.unpack_from("<Q", data, ph + 0x20)
        if ptype == 4:  # PT_NOTE
            blocks.append((off, filesz))
    for (off, size) in blocks:
        p = off
        while p + 12 <= off + size:
            (namesz, descsz, ntype) = struct.unpack_from("<III", data, p)
            name = data[p + 12:p + 12 + namesz]
            desc_off = p + 12 + ((namesz + 3) & ~3)
            if ntype == 3 and name == b"GNU\0":
                return data[desc_off:desc_off + descsz].hex()
            p = desc_off + ((descsz + 3) & ~3)
    return None


def fill_build_ids(report):
    """Replaces the '-' build IDs of a fixture report by the files' IDs."""
    out = []
    for line in report.split("\n"):
        m = re.match(r"^(map: \S+ \S+ \S+) - (/.*)$", line)
        if m:
            bid = build_id(m.group(2))
            if bid:
                line = "%s %s %s" % (m.group(1), bid, m.group(2))
        out.append(line)
    return "\n".join(out)


# ------------------------------------------------------------- helpers


def run_prog(prog, name):
    """Runs a fixture program; returns its report (build IDs filled)."""
    path = os.path.join(TMP, name + ".report")
    subprocess.run([prog, path], check=True)
    with open(path) as f:
        return fill_build_ids(f.read())


def save(name, text, mode="w"):
    path = os.path.join(TMP, name)
    with open(path, mode) as f:
        f.write(text)
    return path


def translate(args, stdin=None, timeout=60):
    p = subprocess.run([TR] + args, input=stdin, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def markers():
    """Maps marker names to their source line numbers."""
    lines = {}
    for name in os.listdir(SRC):
        with open(os.path.join(SRC, name)) as f:
            for no, text in enumerate(f, 1):
                for m in re.finditer(r"L:(\w+)", text):
                    lines[m.group(1)] = str(no)
    return lines


MARKERS = markers()


def expected(name, **subst):
    with open(os.path.join(EXPECTED, name)) as f:
        text = f.read()
    text = re.sub(r"\{L:(\w+)\}", lambda m: MARKERS[m.group(1)], text)
    for key, val in subst.items():
        text = text.replace("{" + key + "}", val)
    return text


def normalize(text):
    return text.replace(BUILD, "@BUILD@").replace(TMP, "@TMP@").replace(ROOT, "@ROOT@")


def diff(want, got):
    a, b = save("want.txt", want), save("got.txt", got)
    p = subprocess.run(["diff", "-u", a, b], capture_output=True, text=True)
    return p.stdout


def golden(name, args, want, stdin=None, rc_want=0):
    rc, out, err = translate(args, stdin)
    got = normalize(out)
    if rc != rc_want:
        not_ok(name, "exit status %d, want %d; stderr:\n%s" % (rc, rc_want, err))
    elif got != want:
        not_ok(name, diff(want, got))
    else:
        ok(name)
    return out, err


def leak_addrs(report, i):
    return [l for l in report.split("\n") if l.startswith("leak: ")][i].split(" @ ")[1].split()


def frame_lines(text):
    return [l for l in text.split("\n") if l.startswith("#")]


# ------------------------------------------------------------- reports

INL = os.path.join(GOLDEN, "inl")
inl_report = run_prog(INL, "inl")
inl_path = save("inl.report", inl_report)
INL_BIN = "@BUILD@/golden/inl"


def test_goldens():
    golden("inl_text", [inl_path], expected("inl.txt", BIN=INL_BIN))
    golden("inl_folded", ["--format", "folded", inl_path], expected("inl.folded"))
    golden("inl_top", ["--top", "1", inl_path],
           "\n\n".join(expected("inl.txt", BIN=INL_BIN).split("\n\n")[:2]) + "\n")
    golden("inl_stdin", ["-"], expected("inl.txt", BIN=INL_BIN), stdin=inl_report.encode())

    rep = save("cxx.report", run_prog(os.path.join(GOLDEN, "cxx"), "cxx"))
    golden("cxx_demangle_via_new", [rep], expected("cxx.txt", BIN="@BUILD@/golden/cxx"))
    # JSON folds nothing: libstdc++'s operator new stays the first frame,
    # and "folded" counts it (the one frame text output folds).
    rc, out, err = translate(["--format", "json", rep])
    leaks = json.loads(out)["leaks"]
    firsts = {(l["via"], l["frames"][0]["function"], os.path.basename(l["frames"][0]["module"])) for l in leaks}
    if rc != 0 or len(leaks) != 3 or len(firsts) != 1 or any(l["folded"] != 1 for l in leaks) or \
            not re.match(r"^\('operator new\(unsigned long\)', 'operator new\(unsigned long\)', 'libstdc\+\+",
                         str(list(firsts)[0])):
        not_ok("json_via_not_folded", "rc %d %r" % (rc, firsts))
    else:
        ok("json_via_not_folded")
    rep = save("cxxn.report", run_prog(os.path.join(GOLDEN, "cxx-nodwarf"), "cxxn"))
    golden("cxx_symtab_demangle", [rep], expected("cxx-nodwarf.txt", BIN="@BUILD@/golden/cxx-nodwarf"))
    rep = save("nodwarf.report", run_prog(os.path.join(GOLDEN, "inl-nodwarf"), "nodwarf"))
    golden("c_symtab_fallback", [rep], expected("inl-nodwarf.txt", BIN="@BUILD@/golden/inl-nodwarf"))
    # Rust legacy (escapes, hash, .llvm. suffix) and v0 names, a C++
    # clone and a name that only looks mangled, from the symbol table.
    rep = save("names.report", run_prog(os.path.join(GOLDEN, "names"), "names"))
    golden("demangle_rust_cxx_symtab", [rep], expected("names.txt", BIN="@BUILD@/golden/names"))
    golden("demangle_rust_cxx_folded", ["--format", "folded", rep],
           "main;core::ptr::drop_in_place<std::rt::lang_start<()>::{{closure}}>;rustleak::leak_vec;"
           "rustleak::leak_vec::<u32>;rustleak::main::{closure#0};f() [clone .llvm.42];_Rnot_a_name 640\n")
    rep = save("viaso.report", run_prog(os.path.join(GOLDEN, "viaso"), "viaso"))
    golden("fold_libleakscope_so", [rep], expected("viaso.txt", BIN="@BUILD@/golden/viaso"))


def debug_tree(name):
    """A --debug-dir holding inl.debug under its build ID."""
    bid = build_id(os.path.join(GOLDEN, "inl.debug"))
    d = os.path.join(TMP, name, ".build-id", bid[:2])
    os.makedirs(d)
    shutil.copy(os.path.join(GOLDEN, "inl.debug"), os.path.join(d, bid[2:] + ".debug"))
    return os.path.join(TMP, name)


def test_stripped():
    rep = save("stripped.report", run_prog(os.path.join(GOLDEN, "inl-stripped"), "stripped"))
    dbg = debug_tree("dbg")
    golden("stripped_with_debug_dir", ["--debug-dir", dbg, rep],
           expected("inl.txt", BIN="@BUILD@/golden/inl-stripped"))

    # No debug info: module+offset, each offset inside the right function
    # of the unstripped twin (same code, same addresses).
    name = "stripped_module_offset"
    rc, out, err = translate([rep])
    syms = {}
    for line in subprocess.run(["nm", "-S", "--defined-only", INL], capture_output=True,
                               text=True).stdout.split("\n"):
        f = line.split()
        if len(f) == 4:
            syms[f[3]] = (int(f[0], 16), int(f[1], 16))
    frames = frame_lines(out)
    want_funcs = ["outer", "main", "plain", "main"]
    bad = []
    prefix = os.path.join(GOLDEN, "inl-stripped") + "+0x"
    for i, (line, func) in enumerate(zip(frames, want_funcs)):
        m = re.match(r"^#(\d) (.*)$", line)
        if not m or not m.group(2).startswith(prefix):
            bad.append("frame line %r" % line)
            continue
        off = int(m.group(2)[len(prefix):], 16) - (1 if m.group(1) != "0" else 0)
        start, size = syms[func]
        if not start <= off < start + size:
            bad.append("%s: offset %#x not in %s [%#x, %#x)" % (line, off, func, start, start + size))
    if rc != 0 or len(frames) != 4 or bad:
        not_ok(name, "rc %d\n%s\n%s" % (rc, out, "\n".join(bad)))
    else:
        ok(name)


def test_build_id_checks():
    exe = INL
    bid = build_id(exe)
    wrong = bid[:-1] + ("0" if bid[-1] != "0" else "1")
    rep = save("mismatch.report", inl_report.replace(" %s %s\n" % (bid, exe), " %s %s\n" % (wrong, exe)))
    rc, out, err = translate([rep])
    frames = frame_lines(out)
    errs = [l for l in err.split("\n") if l]
    # No names from the wrong file: each frame is module+offset, marked.
    bad = [l for l in frames if not re.match(r"^#\d %s\+0x[0-9a-f]+ \[build-id mismatch\]$" % re.escape(exe), l)]
    if rc != 0 or len(frames) != 4 or bad or len(errs) != 1 or "build-id mismatch" not in errs[0] \
            or exe not in errs[0]:
        not_ok("build_id_mismatch", "rc %d\nstdout:\n%s\nstderr:\n%s" % (rc, out, err))
    else:
        ok("build_id_mismatch")
    rc, out, err = translate(["--format", "json", rep])
    fr = [f for l in json.loads(out)["leaks"] for f in l["frames"]]
    if rc != 0 or any(f["function"] or f["file"] or f["line"] or f["error"] != "build-id mismatch"
                      or f["module"] != exe for f in fr):
        not_ok("build_id_mismatch_json", out)
    else:
        ok("build_id_mismatch_json")

    # Missing from disk: run a copy, then delete it.
    gone = os.path.join(TMP, "gone")
    os.makedirs(gone)
    copy = os.path.join(gone, "inl")
    shutil.copy(exe, copy)
    rep = save("missing.report", run_prog(copy, "missing"))
    os.unlink(copy)
    rc, out, err = translate([rep])
    frames = frame_lines(out)
    errs = [l for l in err.split("\n") if l]
    if rc != 0 or len(frames) != 4 or any("[module missing]" not in l for l in frames) or len(errs) != 1 \
            or copy not in errs[0]:
        not_ok("module_missing", "rc %d\nstdout:\n%s\nstderr:\n%s" % (rc, out, err))
    else:
        ok("module_missing")
    # ... but found by build ID under a debug dir: another machine's report.
    golden("missing_found_in_debug_dir", ["--debug-dir", debug_tree("dbg2"), rep],
           expected("inl.txt", BIN="@TMP@/gone/inl"))

    # A library replaced on disk shows as "PATH (deleted)": the file at PATH
    # is used when its build ID still matches, and refused otherwise.
    deleted = inl_report.replace(exe + "\n", exe + " (deleted)\n")
    golden("deleted_suffix_same_build_id", [save("deleted.report", deleted)],
           expected("inl.txt", BIN=INL_BIN + " (deleted)"))
    rc, out, err = translate([save("deleted2.report", deleted.replace(bid, wrong))])
    if rc != 0 or "[build-id mismatch]" not in out or "build-id mismatch" not in err:
        not_ok("deleted_suffix_other_build_id", "rc %d\n%s\n%s" % (rc, out, err))
    else:
        ok("deleted_suffix_other_build_id")

    # --sysroot: the report names /opt/..., the file is under the sysroot.
    fake = "/opt/leakscope-golden/inl"
    root = os.path.join(TMP, "sysroot")
    os.makedirs(root + os.path.dirname(fake))
    shutil.copy(exe, root + fake)
    rep = save("sysroot.report", inl_report.replace(exe, fake))
    golden("sysroot", ["--sysroot", root, rep], expected("inl.txt", BIN=fake))


def test_json():
    name = "json_contract"
    rc, out, err = translate(["--format", "json", inl_path])
    try:
        d = json.loads(out)
    except ValueError as e:
        not_ok(name, "not JSON: %s\n%s" % (e, out))
        return
    why = []
    types = {"format": str, "version": str, "pid": int, "exe": str, "sampling": int, "window_start": float,
             "window_seconds": float, "window_open": str, "min_age": float, "max_frames": int,
             "unwinder": str, "sampled": int, "dropped": int, "stacks": int, "maps": list, "leaks": list}
    for key, t in types.items():
        if not isinstance(d.get(key), t) or isinstance(d.get(key), bool):
            why.append("key %s: %r is not %s" % (key, d.get(key), t.__name__))
    if d.get("live") != {"count": 8, "bytes": 128} or d.get("estimated") != {"count": 80, "bytes": 1280}:
        why.append("live/estimated: %r %r" % (d.get("live"), d.get("estimated")))
    exe_maps = [m for m in d.get("maps", []) if m["path"] == INL]
    if len(exe_maps) != 1 or exe_maps[0]["build_id"] != build_id(INL) or exe_maps[0]["perms"] != "r-xp" \
            or not re.match(r"^0x[0-9a-f]+$", exe_maps[0]["start"]):
        why.append("maps: %r" % exe_maps)
    leaks = d.get("leaks", [])
    if len(leaks) != 2:
        why.append("want 2 leaks, got %d" % len(leaks))
    else:
        l0 = leaks[0]
        if (l0["est_count"], l0["est_bytes"], l0["count"], l0["bytes"], l0["min_age"], l0["max_age"],
                l0["via"]) != (50, 800, 5, 80, 0.013, 12.401, None):
            why.append("leak 0 numbers: %r" % {k: v for k, v in l0.items() if k != "frames"})
        got = [(f["function"], f["line"], f["inlined"]) for f in l0["frames"]]
        want = [("leaf", int(MARKERS["leaf_capture"]), True), ("mid", int(MARKERS["mid_calls_leaf"]), True),
                ("outer", int(MARKERS["outer_calls_mid"]), False),
                ("main", int(MARKERS["main_calls_outer"]), False)]
        if got != want:
            why.append("leak 0 frames: %r, want %r" % (got, want))
        addrs = leak_addrs(inl_report, 0)
        if [f["addr"] for f in l0["frames"]] != [addrs[0]] * 3 + [addrs[1]]:
            why.append("frame addrs: %r vs report %r" % ([f["addr"] for f in l0["frames"]], addrs))
        for f in l0["frames"]:
            if f["module"] != INL or f["file"] != os.path.join(SRC, "inl.c") or f["error"] is not None:
                why.append("frame: %r" % f)
    if rc != 0 or why:
        not_ok(name, "rc %d\n%s" % (rc, "\n".join(why)))
    else:
        ok(name)

    # The whole layout, with run-dependent hex values masked.
    masked = re.sub(r'"(addr|offset|start|end)": "0x[0-9a-f]+"', r'"\1": "0x@"', normalize(out))
    masked = re.sub(r'"build_id": "[0-9a-f]+"', '"build_id": "@"', masked)
    # Keep the test binary's map only: libraries and [vsyscall] vary.
    masked = re.sub(r'    \{"start".*"path": "(?!@BUILD@)[^"]*"\},?\n', "", masked)
    masked = re.sub(r'\},\n  \],', '}\n  ],', masked)
    want = expected("inl.json")
    if masked != want:
        not_ok("json_layout", diff(want, masked))
    else:
        ok("json_layout")


def test_addr2line_oracle():
    """Every frame of our binaries agrees with binutils' addr2line -f -i -C."""
    name = "addr2line_oracle"
    why = []
    for prog in ("inl", "cxx", "viaso"):
        path = os.path.join(GOLDEN, prog)
        rep = save(prog + "-oracle.report", run_prog(path, prog + "-oracle"))
        rc, out, err = translate(["--format", "json", rep])
        for leak in json.loads(out)["leaks"]:
            groups = []
            for i, f in enumerate(leak["frames"]):
                if groups and groups[-1][0]["addr"] == f["addr"] and groups[-1][0]["_i"] == i - len(groups[-1]):
                    groups[-1].append(dict(f, _i=i))
                else:
                    groups.append([dict(f, _i=i)])
            for k, g in enumerate(groups):
                mod = g[0]["module"]
                if mod is None or not mod.startswith(GOLDEN):
                    continue
                off = int(g[0]["offset"], 16) - (1 if g[0]["_i"] > 0 else 0)
                a2l = subprocess.run(["addr2line", "-f", "-i", "-C", "-e", mod, hex(off)],
                                     capture_output=True, text=True).stdout.split("\n")
                want = [(a2l[j], a2l[j + 1]) for j in range(0, len(a2l) - 1, 2)]
                got = [(f["function"], "%s:%s" % (f["file"], f["line"])) for f in g]
                if got != want:
                    why.append("%s %s: got %r, addr2line %r" % (prog, hex(off), got, want))
    if why:
        not_ok(name, "\n".join(why))
    else:
        ok(name)


def test_bare_modes():
    addrs = leak_addrs(inl_report, 0)
    want = expected("inl-stack.txt", BIN=INL_BIN)
    golden("report_mode_stack", ["--report", inl_path] + addrs, want)
    golden("report_mode_unmapped", ["--report", inl_path, "0x10", addrs[1]],
           "#0 ?? (0x10)\n#1 main at @ROOT@/tests/golden/src/inl.c:%s (%s)\n" % (MARKERS["main_calls_outer"], INL_BIN))
    rc, out, err = translate(["--format", "json", "--report", inl_path, "0x10"])
    f = json.loads(out)["frames"]
    if rc != 0 or len(f) != 1 or f[0]["module"] is not None or f[0]["function"] is not None \
            or f[0]["offset"] is not None or f[0]["addr"] != "0x10":
        not_ok("report_mode_unmapped_json", out)
    else:
        ok("report_mode_unmapped_json")

    # --pid: the same stack, through a live process's /proc/PID/maps.
    rep = os.path.join(TMP, "live.report")
    p = subprocess.Popen([INL, rep, "wait"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if p.stdout.readline().strip() != "ready":
            not_ok("pid_mode", "fixture did not start")
            return
        with open(rep) as f:
            live = f.read()
        golden("pid_mode", ["--pid", str(p.pid)] + leak_addrs(live, 0), want)
    finally:
        p.stdin.close()
        p.wait()
    rc, out, err = translate(["--pid", "999999999", "0x1"])
    if rc != 1 or "pid" not in err:
        not_ok("pid_mode_bad_pid", "rc %d %s" % (rc, err))
    else:
        ok("pid_mode_bad_pid")


def test_unknown_keys_and_escaping():
    rep = inl_report.replace("stacks: 2\n", "stacks: 2\nfuture_text: hello \"world\"\nfuture_num: 12\n")
    rep = rep.replace(" min_age=0.013 @", " min_age=0.013 weight=3 @", 1)
    rc, out, err = translate(["--format", "json", save("future.report", rep)])
    try:
        d = json.loads(out)
        good = rc == 0 and d["future_text"] == 'hello "world"' and d["future_num"] == 12 and len(d["leaks"]) == 2
    except (ValueError, KeyError):
        good = False
    if not good:
        not_ok("unknown_keys_ignored", "rc %d\n%s\n%s" % (rc, out, err))
    else:
        ok("unknown_keys_ignored")

    # A module path with a quote, a backslash, a space, UTF-8 and a byte
    # that is not UTF-8 must still give valid JSON with the right path.
    d = os.path.join(TMP.encode(), b'we"ird \\ dir \xc3\xbc \xff')
    os.makedirs(d)
    exe = os.path.join(d, b"inl")
    shutil.copy(INL, exe)
    rpath = os.path.join(TMP, "weird.report")
    subprocess.run([exe, rpath], check=True)
    rc, out, err = translate(["--format", "json", rpath])
    want_path = os.path.join(TMP, 'we"ird \\ dir \u00fc \ufffd', "inl")
    try:
        j = json.loads(out)
        mods = {f["module"] for l in j["leaks"] for f in l["frames"]}
        good = rc == 0 and mods == {want_path} and j["exe"] == want_path
    except ValueError as e:
        good, mods = False, str(e)
    if not good:
        not_ok("json_escaping", "rc %d\n%r\n%s" % (rc, mods, out))
    else:
        ok("json_escaping")


def test_special_files():
    """Never opens what is not a regular file, nor leaves a sysroot."""
    fifo = os.path.join(TMP, "fifo")
    os.mkfifo(fifo)
    addr = leak_addrs(inl_report, 0)[0]
    start = int(addr, 16) & ~0xFFF
    rep = ("format: leakscope-report 1\nstacks: 1\nmaps: 3\n"
           "map: %x-%x r-xp 00000000 - %s\n" % (start, start + 0x1000, fifo) +
           "map: %x-%x r-xp 00000000 - /dev/zero\n" % (start + 0x1000, start + 0x2000) +
           "map: %x-%x r-xp 00000000 - /../../../etc/passwd\n" % (start + 0x2000, start + 0x3000) +
           "leak: count=1 bytes=1 est_count=1 est_bytes=1 max_age=1.0 min_age=1.0 @ 0x%x 0x%x 0x%x\n"
           % (start + 0x10, start + 0x1010, start + 0x2010) + "end: 1 stacks\n")
    try:
        rc, out, err = translate([save("special.report", rep)], timeout=20)
    except subprocess.TimeoutExpired:
        not_ok("special_files_not_opened", "hung (opened the FIFO?)")
        return
    frames = frame_lines(out)
    if rc != 0 or len(frames) != 3 or any("[module missing]" not in l for l in frames):
        not_ok("special_files_not_opened", "rc %d\n%s\n%s" % (rc, out, err))
    else:
        ok("special_files_not_opened")


def test_usage():
    cases = [["--format", "xml", inl_path], ["--top", "0", inl_path], ["--top", "x", inl_path], [],
             ["-", inl_path, "-"], ["--report", inl_path], ["--report", inl_path, "0xZZ"],
             ["--sysroot", "/nonexistent-dir", inl_path]]
    bad = []
    for args in cases:
        rc, out, err = translate(args)
        if rc not in (1, 2) or not err or out:
            bad.append("%r: rc %d, stderr %r" % (args, rc, err))
    rc, out, err = translate(["--help"])
    if rc != 0 or "--debug-dir" not in out:
        bad.append("--help: rc %d" % rc)
    if bad:
        not_ok("usage_errors", "\n".join(bad))
    else:
        ok("usage_errors")


def test_e2e_preload():
    """A victim run under the real preload (build/libleakscope.so, issue 2)
    names its leaking functions and lines. Skipped, not passed, when the
    preload is not built."""
    name = "e2e_preload"
    lib = os.path.join(BUILD, "libleakscope.so")
    if not os.path.exists(lib):
        print("# SKIP %s: %s not built" % (name, lib))
        return
    d = os.path.join(TMP, "e2e")
    os.makedirs(d)
    rep = os.path.join(d, "e2e.report")
    env = dict(os.environ, LD_PRELOAD=lib, LEAKSCOPE_SAMPLING="1", LEAKSCOPE_REPORT=rep, LEAKSCOPE_PORT="0")
    p = subprocess.Popen([os.path.join(GOLDEN, "e2e")], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        _, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        not_ok(name, "the victim did not exit within 20 s under the preload")
        return
    if p.returncode != 0 or not os.path.exists(rep):
        not_ok(name, "victim exit status %d, report %s; stderr:\n%s"
               % (p.returncode, "written" if os.path.exists(rep) else "missing", err.decode()[-2000:]))
        return
    rc, out, terr = translate([rep])
    src = os.path.join(SRC, "e2e.c")
    leaks = {}
    for block in out.split("\n\nleak ")[1:]:
        lines = block.split("\n")
        m = re.search(r": (\d+) allocations", lines[0])
        leaks[tuple(lines[1:3])] = int(m.group(1)) if m else None
    e2e = os.path.join(GOLDEN, "e2e")
    small = ("#0 leak_small at %s:%s (%s)" % (src, MARKERS["e2e_small_malloc"], e2e),
             "#1 main at %s:%s (%s)" % (src, MARKERS["e2e_main_small"], e2e))
    big = ("#0 grab at %s:%s (%s) [inlined]" % (src, MARKERS["e2e_grab_calloc"], e2e),
           "#1 leak_big at %s:%s (%s)" % (src, MARKERS["e2e_big_grab"], e2e))
    freed = [k for k in leaks if k[0].startswith("#0 main at ")]
    if rc != 0 or leaks.get(small) != 1000 or leaks.get(big) != 200 or freed:
        not_ok(name, "rc %d; want %r x1000 and %r x200, nothing in main; got:\n%s\n%s"
               % (rc, small, big, out, terr))
    else:
        ok(name)


def main():
    try:
        for test in (test_goldens, test_json, test_addr2line_oracle, test_stripped, test_build_id_checks,
                     test_bare_modes, test_unknown_keys_and_escaping, test_special_files, test_usage,
                     test_e2e_preload):
            try:
                test()
            except Exception as e:  # a crash of the driver is a failure, not a pass
                not_ok(test.__name__, "%s: %s" % (type(e).__name__, e))
        import garbage  # tests/golden/garbage.py
        garbage.run(TR, inl_report, save, ok, not_ok)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main())
