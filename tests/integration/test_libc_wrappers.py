# SPDX-License-Identifier: MIT
"""tests/integration/test_libc_wrappers.py: leaks through the C library's
allocation wrappers (tests/victims/victim_wrap.c) under the preload at
sampling 1. The translator folds libc's frames into the headline: each
leak says "via strdup" (asprintf, getdelim, ...) and its frame #0 is the
victim function that called the wrapper, on the marked line, in text,
JSON, folded, svg and pprof output; also when libc has only its exported
symbols (no libc6-dbg), for the wrappers those symbols name."""
import os
import re
import shutil
import subprocess
import tempfile

from lslib import BUILD, LIB, ROOT, TRANSLATE, Tap, leaks_at, sum_field

t = Tap()
VICTIM = os.path.join(BUILD, "tests", "victims", "victim_wrap")
SRC = os.path.join(ROOT, "tests", "victims", "victim_wrap.c")
PPROF = os.path.join(BUILD, "tools", "pprof")
N = 40
FILES = ("a", "b")  # plus "lines": scandir lists 3 entries

# victim function: (the vias it may show, blocks leaked). glibc's getline
# is a tail call to getdelim, so its frame is getdelim's.
WANT = {
    "leak_strdup": ({"strdup"}, N),
    "leak_strndup": ({"strndup"}, N),
    "leak_wcsdup": ({"wcsdup"}, N),
    "leak_asprintf": ({"asprintf"}, N),
    "leak_vasprintf": ({"vasprintf"}, N),
    "leak_getline": ({"getline", "getdelim"}, N),
    "leak_realpath": ({"realpath"}, N),
    "leak_open_memstream": ({"open_memstream"}, N),
    "leak_scandir": ({"scandir"}, N * (len(FILES) + 2)),  # the entries and the array
    "leak_get_current_dir_name": ({"get_current_dir_name"}, N),
}
# Folded with libc's exported symbols alone: the others go through a
# function glibc does not export (__vasprintf_internal, __scandir64_tail,
# _IO_mem_finish), which only its DWARF names.
EXPORTED = {"leak_strdup", "leak_strndup", "leak_wcsdup", "leak_asprintf", "leak_getline",
            "leak_realpath", "leak_get_current_dir_name"}
WRAPPERS = set().union(*(v for v, _ in WANT.values()))


def markers():
    lines = {}
    with open(SRC) as f:
        for no, text in enumerate(f, 1):
            for m in re.finditer(r"L:(\w+)", text):
                lines["leak_" + m.group(1)] = no
    return lines


LINE = markers()


def run_victim(d):
    work = os.path.join(d, "dir")
    os.makedirs(work)
    with open(os.path.join(work, "lines"), "w") as f:
        f.write("the first line\nthe second\n")
    for name in FILES + (".hidden",):
        open(os.path.join(work, name), "w").close()
    rep = os.path.join(d, "wrap.report")
    env = dict(os.environ, LD_PRELOAD=LIB, LEAKSCOPE_SAMPLING="1", LEAKSCOPE_PORT="off", LEAKSCOPE_REPORT=rep)
    p = subprocess.run([VICTIM, work, str(N)], env=env, capture_output=True, text=True, timeout=60)
    if p.returncode != 0 or not os.path.exists(rep):
        raise RuntimeError("victim_wrap exit status %d; stderr:\n%s" % (p.returncode, p.stderr[-2000:]))
    return rep


def tr(*args):
    p = subprocess.run([TRANSLATE, *args], capture_output=True, timeout=120)
    if p.returncode != 0:
        raise RuntimeError("translator %r failed (%d): %s" % (args, p.returncode, p.stderr.decode()))
    return p.stdout


def text_leaks(out):
    """(via, [frame lines]) per leak of text output."""
    res = []
    for block in out.split("\n\nleak ")[1:]:
        lines = block.rstrip("\n").split("\n")
        m = re.search(r", via (.*)$", lines[0])
        res.append((m.group(1) if m else None, int(re.search(r": (\d+) allocations", lines[0]).group(1)),
                    [l for l in lines[1:] if l.startswith("#")]))
    return res


def victim_fn(frames, prefix=""):
    """The victim's leak_* function a stack goes through, or None."""
    for f in frames:
        m = re.match(r"^%s(leak_\w+)" % prefix, f)
        if m and m.group(1) in WANT:
            return m.group(1)
    return None


def check_text(out, label, expect_folded):
    """Every wrapper leak of expect_folded shows its wrapper and the victim
    function as frame #0 on the marked line; the counts add up. A leak of
    any other wrapper is either folded the same way or not folded at all."""
    got = {fn: 0 for fn in WANT}
    bad = []
    for via, count, frames in text_leaks(out):
        fn = victim_fn([re.sub(r"^#\d+ ", "", f) for f in frames])
        if fn is None or frames[0].startswith("#0 keep at "):
            continue  # not a wrapper's leak, or the victim's own sink
        vias, _ = WANT[fn]
        want0 = "#0 %s at %s:%d (%s)" % (fn, SRC, LINE[fn], VICTIM)
        if via in vias and frames[0] == want0:
            got[fn] += count
        elif fn in expect_folded or via in WRAPPERS:
            bad.append("%s: via %s, %s" % (fn, via, frames[0]))
    for fn in expect_folded:
        if got[fn] != WANT[fn][1]:
            bad.append("%s: %d allocations folded, want %d" % (fn, got[fn], WANT[fn][1]))
    t.ok(not bad, "%s: leaks through libc wrappers show via WRAPPER and the caller as frame #0" % label,
         "; ".join(bad) + "\n" + out[:3000] if bad else "")


def check_json(rep_path, libc_dwarf):
    import json
    d = json.loads(tr("--format", "json", rep_path))
    bad = []
    seen = set()
    for lk in d["leaks"]:
        fns = [f["function"] or "" for f in lk["frames"]]
        fn = victim_fn(fns)
        if fn is None or lk["via"] not in WRAPPERS:
            continue
        k = lk["folded"]
        seen.add(fn)
        inner = [os.path.basename(f["module"] or "") for f in lk["frames"][:k]]
        if fns[k] != fn or lk["frames"][k]["line"] != LINE[fn] or lk["via"] not in WANT[fn][0] or \
                not inner or any(not m.startswith("libc.so") for m in inner):
            bad.append("%s: via %s, folded %d, frames %r in %r" % (fn, lk["via"], k, fns[:k + 1], inner))
    missing = (set(WANT) if libc_dwarf else EXPORTED) - seen
    t.ok(not bad and not missing, "json: via is the wrapper, frames[folded] the caller, the frames before it libc's",
         "; ".join(bad) + " missing %r" % sorted(missing))
    # lslib's leaks_at looks past library frames on its own, and agrees.
    c = sum_field(leaks_at(d, "leak_strdup"), "count")
    t.ok(c == N, "json: leaks_at finds the %d strdup leaks (%d)" % (N, c))


def check_folded(rep_path):
    bad, found = [], set()
    for line in tr("--format", "folded", rep_path).decode().split("\n"):
        if not line:
            continue
        stack, _, _ = line.rpartition(" ")
        frames = stack.split(";")
        fn = victim_fn(frames[::-1])
        if fn is None or frames[-1] == "keep":
            continue
        found.add(fn)
        if frames[-1] != fn:
            bad.append(line)
    t.ok(not bad and found == set(WANT), "folded: each wrapper leak's innermost frame is the caller",
         "; ".join(bad) + " found %r" % sorted(found))


def check_svg(rep_path):
    svg = tr("--format", "svg", rep_path).decode()
    inner = [n for n in ("__strdup", "__strndup", "__vasprintf_internal", "___asprintf", "__getdelim",
                         "__realpath", "__scandir64_tail", "_IO_mem_finish") if n in svg]
    t.ok(not inner and all(fn in svg for fn in WANT), "svg: no libc wrapper frames in the flame graph",
         "found %r" % inner)


def check_pprof(rep_path, d):
    pb = os.path.join(d, "wrap.pb.gz")
    with open(pb, "wb") as f:
        f.write(tr("--format", "pprof", rep_path))
    out = subprocess.run([PPROF, "-traces", pb], capture_output=True, text=True, timeout=120).stdout
    bad, found = [], set()
    for block in out.split("-----------+")[1:]:
        via = re.search(r"^\s+via:\s+(\S+)", block, re.M)
        frames = re.findall(r"^\s+(?:[\d.]+k?B\s+)?(\S+)$", block.split("\n", 1)[1], re.M)
        frames = [f for f in frames if not f.startswith("-")]
        fn = victim_fn(frames)
        if fn is None or not via or via.group(1) not in WRAPPERS:
            continue
        found.add(fn)
        if frames[0] != fn or via.group(1) not in WANT[fn][0]:
            bad.append("%s: via %s, top %s" % (fn, via.group(1), frames[0]))
    t.ok(not bad and found == set(WANT), "pprof: the via label is the wrapper and the leaf the caller",
         "; ".join(bad) + " found %r\n%s" % (sorted(found), out[:2000]))


def libc_of(rep_path):
    with open(rep_path) as f:
        for line in f:
            m = re.match(r"^map: \S+ \S+ \S+ (\S+) (/.*/libc\.so\.6)$", line.rstrip("\n"))
            if m:
                return m.group(1), m.group(2)
    return None, None


def main():
    d = tempfile.mkdtemp(prefix="leakscope-wrap.")
    try:
        rep = run_victim(d)
        bid, libc = libc_of(rep)
        dbg = bid and os.path.exists("/usr/lib/debug/.build-id/%s/%s.debug" % (bid[:2], bid[2:]))
        t.ok(libc is not None and dbg, "libc's debug symbols are installed (libc6-dbg, scripts/deps.sh)",
             "libc %s, build ID %s" % (libc, bid))
        check_text(tr(rep).decode(), "text", set(WANT) if dbg else EXPORTED)
        check_json(rep, dbg)
        check_folded(rep)
        check_svg(rep)
        check_pprof(rep, d)

        # The same report where libc has no DWARF: a sysroot holding copies
        # of the victim and libc, and no debug files.
        root = os.path.join(d, "sysroot")
        for path in (VICTIM, libc):
            os.makedirs(root + os.path.dirname(path), exist_ok=True)
            shutil.copy(path, root + path)
        check_text(tr("--sysroot", root, rep).decode(), "libc without DWARF", EXPORTED)
    except Exception as e:  # a crash of the driver is a failure
        t.ok(False, "libc wrapper driver", "%s: %s" % (type(e).__name__, e))
    finally:
        shutil.rmtree(d, ignore_errors=True)
    t.done()


main()
