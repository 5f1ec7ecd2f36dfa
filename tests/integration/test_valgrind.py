# SPDX-License-Identifier: MIT
"""tests/integration/test_valgrind.py: a victim under valgrind memcheck
with leakscope preloaded and every allocation sampled. memcheck must find
no invalid read or write, no use of uninitialised memory and no bad free
in leakscope's code. --soname-synonyms=somalloc=nouserintercepts keeps
memcheck's malloc replacement to libc, so the program's calls reach
leakscope's hooks, which forward to memcheck's allocator."""
import glob
import os
import shutil
import subprocess
import tempfile

from lslib import LIB, ROOT, VICTIM, Tap, leaks_at, report_complete, sum_field, tool, translate

t = Tap()
d = tempfile.mkdtemp(prefix="leakscope-vg.")
try:
    report = os.path.join(d, "vg.report")
    script = ("leak malloc 2000 40\nleak calloc 500 100\nleak posix_memalign 300 64\n"
              "leak realloc 300 90\nchurn 500 64\nxfree 500 32\nusable 200 50\n"
              "threads 2 300 24\nquit\n")
    r = subprocess.run([tool("valgrind"), "-q", "--trace-children=yes", "--error-exitcode=9",
                        "--soname-synonyms=somalloc=nouserintercepts",
                        "--suppressions=" + os.path.join(ROOT, "tests", "valgrind.supp"),
                        "--log-file=" + os.path.join(d, "vg.%p.log"),
                        "env", "LD_PRELOAD=" + LIB, "LEAKSCOPE_PORT=off", "LEAKSCOPE_SAMPLING=1",
                        "LEAKSCOPE_REPORT=" + report, VICTIM],
                       input=script, capture_output=True, text=True, timeout=600)
    logs = "".join(open(f).read() for f in glob.glob(os.path.join(d, "vg.*.log")))
    errors = [l for l in logs.splitlines() if "== " in l and
              any(k in l for k in ("Invalid read", "Invalid write", "Invalid free",
                                   "uninitialised", "Mismatched", "unaddressable"))]
    t.ok(r.returncode == 0 and not errors,
         "memcheck finds no error with leakscope sampling every allocation (exit %d)"
         % r.returncode, "\n".join(errors[:10]) or logs[-2000:])
    text = open(report).read() if os.path.exists(report) else ""
    t.ok(report_complete(text), "the report written at exit under valgrind is complete")
    if text:
        rep = translate(text)
        t.ok(sum_field(leaks_at(rep, "leak_malloc"), "count") == 2000 and
             sum_field(leaks_at(rep, "leak_in_thread"), "count") == 600,
             "and exact: 2000 malloc leaks and 600 from threads")
finally:
    shutil.rmtree(d, ignore_errors=True)
t.done()
