# SPDX-License-Identifier: MIT
"""tests/integration/test_cxx.py: C++ under the preload. operator new and
delete are hooked themselves; exceptions and backtrace() behave exactly as in a
native run even with every allocation sampled, because libunwind is loaded
privately and never replaces libgcc_s's _Unwind_* in the host."""
import os
import subprocess

from lslib import LIB, VICTIM_CXX, Host, Tap, leaks_at, leaks_through, sum_field, translate, within

t = Tap()

SCRIPT = "throw 20000\nbt\nowner\nnewdel 2000\nthrow 3000\nquit\n"
native = subprocess.run([VICTIM_CXX], input=SCRIPT, capture_output=True, text=True)
env = dict(os.environ, LD_PRELOAD=LIB, LEAKSCOPE_PORT="off", LEAKSCOPE_SAMPLING="1")
preloaded = subprocess.run([VICTIM_CXX], input=SCRIPT, capture_output=True, text=True, env=env)
t.ok(native.returncode == 0 and "throw checksum" in native.stdout,
     "native C++ victim throws, catches and backtraces", native.stderr)
t.ok(preloaded.returncode == 0 and preloaded.stdout == native.stdout,
     "with sampling=1, exceptions and backtrace() give output identical to native",
     "native:\n%s\npreloaded:\n%s%s" % (native.stdout, preloaded.stdout, preloaded.stderr))
owners = dict(l.split(" from ") for l in preloaded.stdout.splitlines() if " from " in l)
t.ok(owners.get("_Unwind_RaiseException") == "libgcc_s.so.1" and
     owners.get("_Unwind_Backtrace") == "libgcc_s.so.1",
     "the host's _Unwind_* still come from libgcc_s, not libunwind (%s)" % owners)
t.ok(owners.get("backtrace") == "libc.so.6", "backtrace() still comes from libc")

h = Host([VICTIM_CXX])
try:
    h.get("/leak-on?sampling=20")
    h.cmd("new 20000 100")
    h.cmd("anew 4000")
    h.cmd("newdel 10000")
    h.cmd("throw 5000")
    text = h.get("/leak-off")[1]
    rep = translate(text)
    arr = leaks_at(rep, "leak_new_array")
    obj = leaks_at(rep, "leak_new_object")
    ali = leaks_at(rep, "leak_aligned_new")
    t.ok(within(sum_field(arr, "count"), 20000, 20),
         "new char[100] x 20000: %d sampled" % sum_field(arr, "count"))
    t.ok(within(sum_field(obj, "count"), 20000, 20),
         "new Node x 20000: %d sampled" % sum_field(obj, "count"))
    t.ok(within(sum_field(ali, "count"), 4000, 20),
         "aligned new (alignas 128) x 4000: %d sampled" % sum_field(ali, "count"))
    # operator new is interposed itself: no allocator frame is left in the
    # stack, the innermost frame is the caller, and via names the form.
    inner = {(lk["frames"][0]["function"] or "").split("(")[0] for lk in arr + obj + ali}
    t.ok(inner == {"leak_new_array", "leak_new_object", "leak_aligned_new"},
         "the innermost frame is the function that called new: %s" % sorted(inner))
    vias = {lk["via"] for lk in arr + obj + ali}
    t.ok(vias == {"operator new[](unsigned long)", "operator new(unsigned long)",
                  "operator new(unsigned long, std::align_val_t)"},
         "via names the operator new form each leak came through: %s" % sorted(vias))
    t.ok(arr and all(lk["bytes"] == 100 * lk["count"] for lk in arr),
         "new char[100] records 100 bytes each")
    t.ok(not leaks_through(rep, "new_delete"), "new followed by delete is not reported")
    t.ok(not leaks_through(rep, "throw_loop"), "exception objects, freed, are not reported")
finally:
    t.ok(h.stop() == 0, "C++ victim exits cleanly", h.stderr()[-400:])
    h.cleanup()
t.done()
