# SPDX-License-Identifier: MIT
"""tests/integration/test_lifecycle.py: allocations around leakscope's own
life. Blocks from a library constructor that may run before leakscope
initialises; a dlopen'd library that leaks and is dlclose'd, whose stacks
must still translate; atexit handlers and thread-key destructors that
allocate and free after leakscope's destructor has written its report."""
import json
import os

from lslib import BUILD, Host, Tap, leaks_at, report_complete, sum_field, translate

t = Tap()
LIFE = os.path.join(BUILD, "tests", "victims", "victim_life")
DLLIB = os.path.join(BUILD, "tests", "victims", "libdlvictim.so")

d = Host([LIFE], wait_port=False, env={"LEAKSCOPE_PORT": "off"})
report = os.path.join(d.dir, "exit.report")
d.stop()
h = Host([LIFE], env={"LEAKSCOPE_SAMPLING": "1", "LEAKSCOPE_REPORT": report})
try:
    h.cmd("early")
    t.ok(True, "blocks allocated by a constructor before or during leakscope's start are "
         "intact and free cleanly")
    h.cmd("dlopen " + DLLIB)
    h.cmd("dlleak 3000 48")
    h.cmd("dlclose")
    h.cmd("tdtor 200")
    st, body = h.get("/leak-status")
    s = json.loads(body)
    t.ok(s["invalid_frees"] == 0, "no free was mistaken for an invalid one (%d)" % s["invalid_frees"])
    text = h.get("/leak-report")[1]
    rep = translate(text)
    t.ok(any(m["path"] == DLLIB for m in rep["maps"]),
         "the dlclose'd library stays in the report's maps")
    dl = leaks_at(rep, "dl_leak", module=DLLIB)
    t.ok(sum_field(dl, "count") == 3000,
         "its 3000 leaks translate to dl_leak in the unloaded library (%d)"
         % sum_field(dl, "count"))
    t.ok(dl and any(f.get("function") == "main" for lk in dl for f in lk["frames"]),
         "and their stacks continue into the program (main)")
    h.cmd("atexit 5000")
    rc = h.stop()
    t.ok(rc == 0, "atexit handlers and thread destructors that free sampled blocks and "
         "allocate after leakscope's destructor run cleanly (exit %s)" % rc, h.stderr()[-300:])
    t.ok(os.path.exists(report) and report_complete(open(report).read()),
         "the report at exit is complete")
    if os.path.exists(report):
        rep = translate(open(report).read())
        t.ok(sum_field(leaks_at(rep, "dl_leak", module=DLLIB), "count") == 3000,
             "the exit report still holds the unloaded library's leaks")
finally:
    h.cleanup()
    d.cleanup()
t.done()
