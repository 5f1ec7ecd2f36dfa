# SPDX-License-Identifier: MIT
"""tests/integration/test_signals.py: a signal handler that frees sampled
blocks, arriving while its thread is inside leakscope's locked sections
(sampling=1 puts every allocation there). Such a free is deferred instead
of taking the lock again; without that the handler deadlocks on the arena
or stripe lock its own thread holds."""
import json

from lslib import VICTIM, Host, Tap, report_complete

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
finally:
    t.ok(h.stop() == 0, "the victim exits cleanly", h.stderr()[-300:])
    h.cleanup()
t.done()
