# SPDX-License-Identifier: MIT
"""tests/integration/test_signals.py: a signal handler that frees sampled
blocks, arriving while its thread is inside leakscope's locked sections
(sampling=1 puts every allocation there). Such a free is deferred instead
of taking the lock again; without that the handler deadlocks on the arena
or stripe lock its own thread holds."""
import json

from lslib import VICTIM, Host, Tap, leaks_at, report_complete, translate

t = Tap()
h = Host([VICTIM])
try:
    h.get("/leak-on?sampling=1")
    out = h.cmd("signals 2000000", timeout=120)
    n = int(out[0].split(": ")[1]) if out else 0
    t.ok(n > 1000, "%d signals handled, each freeing a sampled block, without deadlock" % n)
    st, body = h.get("/leak-status")
    s = json.loads(body)
    t.ok(s["live_tracked"] <= 4 and s["invalid_frees"] == 0,
         "every block freed in a handler was released (live %d, invalid frees %d)"
         % (s["live_tracked"], s["invalid_frees"]))
    t.ok(report_complete(h.get("/leak-off")[1]), "the report is complete afterwards")
    # Unwinding from inside a signal handler: the stack goes through the
    # handler, the kernel's signal frame, and on into the interrupted code.
    h.get("/leak-on?sampling=1")
    h.cmd("sigleak 500")
    rep = translate(h.get("/leak-off")[1])
    sig = leaks_at(rep, "sig_leak")
    t.ok(sum(lk["count"] for lk in sig) == 500,
         "500 blocks leaked inside a signal handler are all reported (%d)"
         % sum(lk["count"] for lk in sig))
    t.ok(sig and all(any(f.get("function") == "sig_raiser" for f in lk["frames"])
                     for lk in sig),
         "their stacks unwind through the signal frame into the code it interrupted")
finally:
    t.ok(h.stop() == 0, "the victim exits cleanly", h.stderr()[-300:])
    h.cleanup()
t.done()
