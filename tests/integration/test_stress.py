# SPDX-License-Identifier: MIT
"""tests/integration/test_stress.py: threads allocating and freeing at full
speed while a client opens and closes windows over and over, with sampling
from 1 to 10000, fetching /leak-report and /leak-status in between. Nothing
may crash or hang, every report must be complete, and after the last
leak-off detector memory returns to its baseline.

LEAKSCOPE_STRESS_TOGGLES (default 60) and LEAKSCOPE_STRESS_THREADS
(default 4) size it; make stress runs 1000 toggles with 8 threads."""
import json
import os
import random
import time

from lslib import VICTIM, Host, Tap, report_complete

t = Tap()
TOGGLES = int(os.environ.get("LEAKSCOPE_STRESS_TOGGLES", "60"))
THREADS = int(os.environ.get("LEAKSCOPE_STRESS_THREADS", "4"))
rnd = random.Random(20261123)


def status(h):
    st, body = h.get("/leak-status", timeout=30)
    return json.loads(body) if st == 200 else None


h = Host([VICTIM])
try:
    # Baseline: one quiet window first, so the module list and the
    # libraries' own one-time allocations are in it.
    h.get("/leak-on?sampling=10")
    h.cmd("churn 1000 64")
    h.get("/leak-off")
    base = status(h)["memory_bytes"]

    h.cmd("bg on %d" % THREADS)
    incomplete = errors = reports = 0
    peak = 0
    start = time.time()
    for i in range(TOGGLES):
        n = rnd.choice([1, 1, 3, 10, 100, 1000, 10000])
        st, _ = h.get("/leak-on?sampling=%d" % n, timeout=30)
        errors += st != 200
        for _ in range(rnd.randrange(0, 3)):
            what = rnd.choice(["/leak-report", "/leak-status", "/leak-report?min_age=0.01"])
            st, body = h.get(what, timeout=60)
            errors += st != 200
            if what.startswith("/leak-report"):
                reports += 1
                incomplete += not report_complete(body)
            else:
                peak = max(peak, json.loads(body)["memory_bytes"])
        st, body = h.get("/leak-off", timeout=60)
        errors += st != 200
        reports += 1
        incomplete += not report_complete(body)
        if not h.alive():
            break
    took = time.time() - start
    h.cmd("bg off")
    t.ok(h.alive() and errors == 0,
         "%d toggles (sampling 1..10000) with %d threads allocating: every request "
         "answered 200 (%d errors) in %.1fs" % (TOGGLES, THREADS, errors, took))
    t.ok(incomplete == 0, "all %d reports complete (end line matches the stack count)"
         % reports)
    s = status(h)
    t.ok(s["memory_bytes"] <= base, "after the last leak-off, detector memory is back to "
         "its baseline: %d bytes (baseline %d, peak seen %d)" % (s["memory_bytes"], base, peak))
    h.cmd("leak malloc 100 10")
    t.ok(h.alive(), "the host still runs")
finally:
    t.ok(h.stop() == 0, "the victim exits cleanly", h.stderr()[-300:])
    h.cleanup()
t.done()
