# SPDX-License-Identifier: MIT
"""tests/integration/test_threads.py: threads that start and exit by the
thousands while every allocation is sampled. leakscope's per-thread state
(the slot cache, the stack memo) must not leak: detector memory and RSS
stay flat, and every slot a thread cached goes back at its exit."""
import json
import os

from lslib import VICTIM, Host, Tap, report_complete

t = Tap()
N = int(os.environ.get("LEAKSCOPE_TEST_THREADS", "3000"))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for l in f:
            if l.startswith("VmRSS:"):
                return int(l.split()[1])


h = Host([VICTIM])
try:
    h.get("/leak-on?sampling=1")
    h.cmd("spawn 320")                      # warm up: spans, stacks, libunwind
    s0 = json.loads(h.get("/leak-status")[1])
    m0 = s0["memory_bytes"]
    r0 = rss_kb(h.proc.pid)
    h.cmd("spawn %d" % N, timeout=300)
    s = json.loads(h.get("/leak-status")[1])
    r1 = rss_kb(h.proc.pid)
    t.ok(s["live_tracked"] == s0["live_tracked"],
         "%d threads freed all they sampled: %d live tracked before, %d after"
         % (N, s0["live_tracked"], s["live_tracked"]))
    t.ok(s["memory_bytes"] <= m0 + 64 * 1024,
         "detector memory stays flat across %d thread lives: %d -> %d bytes"
         % (N, m0, s["memory_bytes"]))
    t.ok(r1 <= r0 + 4096, "RSS stays flat: %d -> %d KiB" % (r0, r1))
    t.ok(report_complete(h.get("/leak-off")[1]), "the report is complete")
finally:
    t.ok(h.stop() == 0, "the victim exits cleanly", h.stderr()[-300:])
    h.cleanup()
t.done()
