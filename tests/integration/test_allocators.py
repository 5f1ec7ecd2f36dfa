# SPDX-License-Identifier: MIT
"""tests/integration/test_allocators.py: every allocator entry point a host
can reach. A C++ program over libstdc++/glibc, one linked with jemalloc and
one with tcmalloc each leak 1000 new Obj, 500 new Obj[4], 300 aligned new
and 200 nothrow new, and free as many again through every delete form; a
C program linked with jemalloc mixes malloc with each *allocx call on the
same blocks. At sampling 1 every leak appears exactly; at 10 and 100
within 5 sigma; nothing freed appears; and the victims' own checks
(contents, alignment, zeroing, sizes, new_handler, bad_alloc) pass under
the preload. A host with mimalloc is told what leakscope cannot see."""
import os
import subprocess
import tempfile

from lslib import BUILD, LIB, Host, Tap, leaks_at, leaks_through, sum_field, translate, within

t = Tap()
V = os.path.join(BUILD, "tests", "victims")
K = 2  # each victim leaks K x its base counts


def run(exe, sampling, *args):
    """Runs a victim as a batch program; returns (rc, stdout, report)."""
    with tempfile.TemporaryDirectory(prefix="leakscope-alloc.") as d:
        rep = os.path.join(d, "leak.report")
        env = dict(os.environ, LD_PRELOAD=LIB, LEAKSCOPE_PORT="off",
                   LEAKSCOPE_SAMPLING=str(sampling), LEAKSCOPE_REPORT=rep)
        r = subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=300)
        text = open(rep).read() if os.path.exists(rep) else ""
    return r.returncode, r.stdout + r.stderr, text


def count_ok(got, true, n):
    return got == true if n == 1 else within(got, true, n)


def via_of(leaks):
    return sorted({lk["via"] for lk in leaks})


# ---- C++: operator new and delete, three allocators underneath ----------
CXX = [("victim_new", "libstdc++.so.6"), ("victim_new_jemalloc", "libjemalloc.so.2"),
       ("victim_new_tcmalloc", "libtcmalloc_minimal.so.4")]
LEAKS = [("leak_obj", 1000, 40, "operator new(unsigned long)"),
         ("leak_array", 500, 160, "operator new[](unsigned long)"),
         ("leak_aligned", 300, 256, "operator new(unsigned long, std::align_val_t)"),
         ("leak_nothrow", 200, 40, "operator new(unsigned long, std::nothrow_t const&)")]

for name, lib in CXX:
    exe = os.path.join(V, name)
    native = subprocess.run([exe, "1"], capture_output=True, text=True)
    t.ok(native.returncode == 0 and "allocator %s" % lib in native.stdout,
         "%s: natively, operator new comes from %s" % (name, lib), native.stdout[-300:])
    for n in (1, 10, 100):
        rc, out, text = run(exe, n, str(K))
        t.ok(rc == 0 and "ok all checks" in out,
             "%s sampling=%d: the victim's checks pass (alignment, new(0), new_handler, "
             "bad_alloc, nothrow null, every delete form)" % (name, n), out[-600:])
        if not text:
            t.ok(False, "%s sampling=%d: a report was written" % (name, n))
            continue
        rep = translate(text)
        for fn, base, size, via in LEAKS:
            lk = leaks_at(rep, fn)
            c = sum_field(lk, "count")
            t.ok(count_ok(c, base * K, n),
                 "%s sampling=%d: %s x %d: %d sampled" % (name, n, fn, base * K, c))
            if lk:
                t.ok(all(l["bytes"] == size * l["count"] for l in lk) and via_of(lk) == [via],
                     "%s sampling=%d: %s records %d bytes each, via %s" % (name, n, fn, size, via),
                     "%s %s" % (via_of(lk), [(l["bytes"], l["count"]) for l in lk]))
        t.ok(not leaks_through(rep, "churn") and not leaks_through(rep, "failures"),
             "%s sampling=%d: nothing freed (every delete form) is reported" % (name, n))

# ---- C: jemalloc's extended API on the same blocks as malloc ------------
exe = os.path.join(V, "victim_jemalloc")
for n in (1, 10, 100):
    rc, out, text = run(exe, n, str(K))
    t.ok(rc == 0 and "ok all checks" in out,
         "victim_jemalloc sampling=%d: sallocx, xallocx, rallocx, dallocx, sdallocx, nallocx "
         "and malloc_usable_size agree on mixed blocks; flags honoured" % n, out[-800:])
    if not text:
        t.ok(False, "victim_jemalloc sampling=%d: a report was written" % n)
        continue
    rep = translate(text)
    for fn, via in (("leak_mallocx", "mallocx"), ("leak_rallocx", "rallocx"),
                    ("leak_arena", "mallocx")):
        lk = leaks_at(rep, fn)
        c = sum_field(lk, "count")
        t.ok(count_ok(c, 100 * K, n) and (not lk or via_of(lk) == [via]),
             "victim_jemalloc sampling=%d: %s x %d: %d sampled, via %s" % (n, fn, 100 * K, c,
                                                                           via_of(lk)))
    arena = [l for l in out.splitlines() if l.startswith("arena_nmalloc ")]
    sampled = sum_field(leaks_at(rep, "leak_arena"), "count")
    served = int(arena[0].split()[1]) if arena else -1
    t.ok(served + sampled == 100 * K,
         "victim_jemalloc sampling=%d: MALLOCX_ARENA|MALLOCX_TCACHE_NONE: jemalloc's arena "
         "served exactly the %d unsampled blocks (%d), leakscope the %d sampled"
         % (n, 100 * K - sampled, served, sampled))
    t.ok(not leaks_through(rep, "mix"),
         "victim_jemalloc sampling=%d: nothing freed through the mixed calls is reported" % n)

# ---- an allocator leakscope does not cover ------------------------------
h = Host([os.path.join(V, "victim_mimalloc")])
try:
    h.cmd("malloc 300")
    st = h.get("/leak-status")[1]
    t.ok('"uncovered_allocators": ["mimalloc (mi_*)"]' in st,
         "a host with mimalloc: /leak-status names it in uncovered_allocators", st)
    log = [l for l in h.stderr().splitlines() if "not interposed" in l]
    t.ok(len(log) == 1 and "mimalloc" in log[0],
         "a host with mimalloc: one log line at start names it", h.stderr()[-400:])
    h.get("/leak-on?sampling=1")
    h.cmd("malloc 300")
    h.cmd("mi 200")
    rep = translate(h.get("/leak-off")[1])
    t.ok(sum_field(leaks_at(rep, "leak_malloc"), "count") == 300,
         "over mimalloc's malloc, malloc leaks are still seen (300)")
finally:
    t.ok(h.stop() == 0, "mimalloc victim exits cleanly", h.stderr()[-300:])
    h.cleanup()

h = Host([os.path.join(BUILD, "tests", "victims", "victim")])
try:
    st = h.get("/leak-status")[1]
    t.ok('"uncovered_allocators": []' in st,
         "a glibc host: uncovered_allocators is empty", st)
    t.ok("not interposed" not in h.stderr(), "a glibc host: no uncovered-allocator log line")
finally:
    h.stop()
    h.cleanup()
t.done()
