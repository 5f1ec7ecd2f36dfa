# SPDX-License-Identifier: MIT
"""tests/integration/test_python.py: Debian's python3 as a real leaking
program. A list that keeps growing holds bytearrays whose buffers come
from malloc; the report must estimate their count and bytes, through
CPython's own functions; dropped bytearrays must not show."""
import os

from lslib import ROOT, Host, Tap, sum_field, tool, translate, within

t = Tap()
SCRIPT = os.path.join(ROOT, "tests", "victims", "grow.py")
K, N = 40000, 100

h = Host([tool("python3"), SCRIPT])
try:
    h.cmd("grow 100")
    h.get("/leak-on?sampling=%d" % N)
    h.cmd("grow %d" % K)
    h.cmd("churn %d" % K)
    rep = translate(h.get("/leak-off")[1])
    big = [lk for lk in rep["leaks"] if lk["count"] and lk["bytes"] // lk["count"] >= 2000
           and lk["bytes"] // lk["count"] < 2100]
    c = sum_field(big, "count")
    t.ok(within(c, K, N), "python3: %d leaked 2000-byte buffers estimated as %d" % (K, c * N))
    funcs = {f.get("function") for lk in big for f in lk["frames"]}
    t.ok(any(f and f.startswith(("PyByteArray", "bytearray")) for f in funcs),
         "their stacks go through CPython's bytearray code")
    t.ok(rep["estimated"]["bytes"] < K * 2200 * 1.5,
         "the dropped bytearrays are not counted (estimated %d bytes)" % rep["estimated"]["bytes"])
finally:
    t.ok(h.stop() == 0, "python3 exits cleanly under the preload", h.stderr()[-300:])
    h.cleanup()
t.done()
