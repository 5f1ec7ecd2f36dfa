# SPDX-License-Identifier: MIT
"""tests/integration/test_fork.py: fork from a multi-threaded host with
threads allocating and a window open at sampling=1. No fork may deadlock;
each child frees inherited sampled blocks, allocates, and some exec; the
parent's window and report stay correct. Policy: the child's tracking
starts empty (a window open in the parent is open in the child, tracking
only what the child allocates); its endpoint is a socket in the runtime
directory, plus a TCP port with LEAKSCOPE_FOLLOW_FORK=1."""
import os
import shutil
import tempfile
import time

from lslib import VICTIM, Host, Tap, leaks_at, report_complete, sum_field, translate, within

t = Tap()
FORKS = int(os.environ.get("LEAKSCOPE_TEST_FORKS", "1000"))

h = Host([VICTIM])
try:
    h.get("/leak-on?sampling=1")
    h.cmd("leak malloc 2000 24")
    h.cmd("bg on")
    start = time.time()
    out = h.cmd("fork %d" % FORKS, timeout=300)
    took = time.time() - start
    h.cmd("bg off")
    t.ok(out == ["fork failures: 0"], "%d forks under sampling=1 with 2 threads allocating: "
         "no deadlock, every child exits 0 (%.1fs)" % (FORKS, took), repr(out))
    h.cmd("leak calloc 1000 8")
    text = h.get("/leak-off")[1]
    rep = translate(text)
    t.ok(report_complete(text), "the parent's report is complete after the forks")
    t.ok(sum_field(leaks_at(rep, "leak_malloc"), "count") == 2000 and
         sum_field(leaks_at(rep, "leak_calloc"), "count") == 1000,
         "the parent's counts are exact after the forks (children's frees do not count)")
finally:
    t.ok(h.stop() == 0, "the parent exits cleanly", h.stderr()[-300:])
    h.cleanup()

# Children exec'd with the parent's environment (LD_PRELOAD, a fixed port,
# the same port file) inherited those settings unchanged: they stay quiet,
# binding no port and logging nothing; the parent keeps its port and its
# port file.
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
fixed = s.getsockname()[1]
s.close()
h = Host([VICTIM], port=fixed)
try:
    t.ok(h.port == fixed, "the parent took the fixed port %d" % fixed)
    out = h.cmd("fork 30")
    t.ok(out == ["fork failures: 0"], "30 children, 3 of them exec'd /bin/true under the "
         "preload with the same port, all exit 0")
    lines = [l for l in h.stderr().splitlines() if "control port disabled" in l]
    t.ok(len(lines) == 0, "no exec'd child tried the port or logged about it (%d lines)"
         % len(lines), h.stderr()[-500:])
    t.ok(open(h.port_file).read().strip() == str(fixed),
         "the parent's port file was not overwritten by the children's failures")
    t.ok(h.get("/leak-status")[0] == 200, "the parent still answers on its port")
finally:
    h.stop()
    h.cleanup()

# With LEAKSCOPE_FOLLOW_FORK=1 each child also opens a TCP port of its
# own, and writes it to its per-pid port file, which goes when it exits:
# short-lived children (pgbench -C, CGI) leave no stale port files.
d = tempfile.mkdtemp(prefix="leakscope-fork.")
pattern = os.path.join(d, "port.%p")
try:
    h = Host([VICTIM], env={"LEAKSCOPE_FOLLOW_FORK": "1", "LEAKSCOPE_PORT_FILE": pattern},
             wait_port=False)
    for _ in range(200):
        if os.path.exists(pattern.replace("%p", str(h.proc.pid))):
            break
        time.sleep(0.02)
    h.cmd("fork 3")
    files = [f for f in os.listdir(os.path.dirname(pattern)) if f.startswith("port.")
             and not f.endswith(str(h.proc.pid))]
    t.ok(files == [], "with LEAKSCOPE_FOLLOW_FORK=1 the 3 children, one of which exec'd "
         "/bin/true, left no port file behind when they exited (%s)" % files)
    t.ok(os.path.exists(pattern.replace("%p", str(h.proc.pid))),
         "the living parent's port file stays")
    h.stop()
    h.cleanup()
finally:
    shutil.rmtree(d, ignore_errors=True)
t.done()
