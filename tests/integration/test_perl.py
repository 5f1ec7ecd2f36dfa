# SPDX-License-Identifier: MIT
"""tests/integration/test_perl.py: Debian's perl, a real interpreter with
the interpreter inside /usr/bin/perl, leaking through reference cycles.
Each leaked hash costs one calloc in Perl_hv_common (measured with
sampling=1), so the report must show stacks through Perl_* functions
with an estimated count of that order; the cycle-free loop, none."""
import math
import os

from lslib import ROOT, Host, Tap, leaks_through, sum_field, translate, within

t = Tap()
SCRIPT = os.path.join(ROOT, "tests", "victims", "cycles.pl")
K, N = 60000, 50


def run(cmd):
    h = Host(["/usr/bin/perl", SCRIPT])
    try:
        h.cmd(cmd + " 2000")   # warm up perl's arenas before the window
        h.get("/leak-on?sampling=%d" % N)
        h.cmd("%s %d" % (cmd, K))
        rep = translate(h.get("/leak-off")[1])
    finally:
        t.ok(h.stop() == 0, "perl (%s) exits cleanly under the preload" % cmd, h.stderr()[-300:])
        h.cleanup()
    return rep


rep = run("cycle")
perl_leaks = [lk for lk in rep["leaks"]
              if any((f.get("function") or "").startswith("Perl_") for f in lk["frames"])]
t.ok(perl_leaks, "the leaks' stacks go through perl's Perl_* functions")
hv = leaks_through(rep, "Perl_hv_common")
c = sum_field(hv, "count")
t.ok(within(c, K, N), "hashes leaked through Perl_hv_common: est %d for %d cycles" % (c * N, K))
# At least one block per cycle (5 sigma of sampling noise below), at most
# three: of the order of K.
low = K / N - 5 * math.sqrt(K / N)
t.ok(low <= rep["live"]["count"] and rep["estimated"]["count"] <= 3 * K,
     "total estimated leaked allocations %d is of the order of %d cycles"
     % (rep["estimated"]["count"], K))
t.ok(any(fr.get("module") == "/usr/bin/perl" for lk in hv for fr in lk["frames"]),
     "frames resolve to /usr/bin/perl itself")

clean = run("nocycle")
t.ok(clean["estimated"]["count"] < K // 20,
     "the cycle-free loop leaks next to nothing (est %d)" % clean["estimated"]["count"])
t.done()
