# SPDX-License-Identifier: MIT
"""tests/integration/test_victims.py: the C victim under the preload,
driven through the control port. Leaks through every hooked API and from
threads, with known counts; freed blocks, blocks from before leak-on and
blocks younger than min_age must not be reported."""
import os
import stat
import subprocess
import time

from lslib import (Host, Tap, VICTIM, leaks_at, leaks_through, report_complete,
                   sum_field, translate, within)

t = Tap()
N = 50
APIS = {  # api: (count, size)
    "malloc": (20000, 48), "calloc": (20000, 200), "realloc": (20000, 96),
    "reallocarray": (20000, 24), "posix_memalign": (10000, 100),
    "aligned_alloc": (10000, 300), "memalign": (10000, 40),
    "valloc": (3000, 64), "pvalloc": (3000, 5000), "strdup": (20000, 30),
}


def main_window():
    h = Host([VICTIM])
    try:
        h.cmd("keep 20000 64")              # before leak-on: never reported
        st, body = h.get("/leak-on?sampling=%d" % N)
        t.ok(st == 200, "leak-on answers 200", body)
        for api, (count, size) in APIS.items():
            h.cmd("leak %s %d %d" % (api, count, size))
        h.cmd("threads 4 10000 40")
        h.cmd("churn 5000 100")             # freed at once: never reported
        h.cmd("xfree 20000 72")             # freed on another thread
        h.cmd("usable 2000 100")
        t.ok(True, "malloc_usable_size covers requests; realloc keeps data")

        st, live = h.get("/leak-report")
        t.ok(st == 200 and "window_open: yes" in live and report_complete(live),
             "leak-report returns a complete report and keeps the window open")
        st, text = h.get("/leak-off")
        t.ok(st == 200 and report_complete(text), "leak-off returns a complete report",
             text[-200:])
        t.ok("window_open: no" in text, "leak-off closes the window")
        rep = translate(text)
        t.ok(rep["sampling"] == N, "report header names the sampling")
        live_n = sum_field(rep["leaks"], "count")
        t.ok(rep["live"]["count"] == live_n and rep["estimated"]["count"] == live_n * N,
             "header live/estimated totals match the records (est = count x N)")
        t.ok(all(lk["est_count"] == lk["count"] * N and lk["est_bytes"] == lk["bytes"] * N
                 for lk in rep["leaks"]), "every record: est_count = count x N, est_bytes = bytes x N")
        est = [lk["est_bytes"] for lk in rep["leaks"]]
        t.ok(est == sorted(est, reverse=True), "records are sorted by estimated bytes")

        for api, (count, size) in APIS.items():
            ls = leaks_at(rep, "leak_" + api)
            c = sum_field(ls, "count")
            t.ok(within(c, count, N), "leak through %s: %d sampled of %d leaked (est %d)"
                 % (api, c, count, c * N), "expected about %d" % (count // N))
            if api in ("malloc", "calloc", "realloc", "reallocarray", "posix_memalign",
                       "memalign", "strdup"):
                want = size + 1 if api == "strdup" else size
                t.ok(ls and all(lk["bytes"] == lk["count"] * want for lk in ls),
                     "leak through %s: bytes are the requested %d per block" % (api, want))
            # strdup calls malloc (the report's via=) inside libc; the
            # translator folds libc's strdup frame into "via strdup".
            t.ok(ls and all(lk["via"] == api for lk in ls),
                 "leak through %s: the translation names the API (via %s)"
                 % (api, ls[0]["via"] if ls else None))
            if ls:
                first = ls[0]["frames"][ls[0]["folded"]]["function"]
                t.ok(first == "leak_" + api,
                     "leak through %s: the first frame not folded is the caller (%s)" % (api, first))
        c = sum_field(leaks_at(rep, "leak_in_thread"), "count")
        t.ok(within(c, 40000, N), "4 threads x 10000 leaks: %d sampled" % c)
        t.ok(not leaks_through(rep, "keep_before"),
             "allocations made before leak-on are not reported")
        t.ok(not leaks_through(rep, "churn"), "blocks freed at once are not reported")
        t.ok(not leaks_through(rep, "cross_thread_free"),
             "blocks freed on another thread are not reported")

        # Tracking is dropped, but the blocks it tracked must still free.
        h.cmd("release")
        h.cmd("churn 2000 50")
        st, _ = h.get("/leak-off")
        t.ok(st == 409, "a second leak-off is 409")
        st, s = h.get("/leak-status")
        t.ok(st == 200 and '"on": false' in s, "status says off after leak-off")
    finally:
        t.ok(h.stop() == 0, "victim exits cleanly after the window", h.stderr()[-500:])
        h.cleanup()


def min_age_window():
    h = Host([VICTIM])
    try:
        h.get("/leak-on?sampling=10")
        h.cmd("leak malloc 5000 32")
        time.sleep(1.6)
        h.cmd("leak calloc 5000 32")
        st, text = h.get("/leak-off?min_age=1.2")
        rep = translate(text)
        old = sum_field(leaks_at(rep, "leak_malloc"), "count")
        young = sum_field(leaks_at(rep, "leak_calloc"), "count")
        t.ok(st == 200 and within(old, 5000, 10) and young == 0,
             "min_age=1.2 keeps the old leaks (%d) and drops the young (%d)" % (old, young))
        ages = [lk["min_age"] for lk in rep["leaks"]]
        t.ok(ages and min(ages) >= 1.2, "every reported age is >= min_age")
        t.ok(rep["min_age"] == 1.2, "the header records min_age")
    finally:
        h.stop()
        h.cleanup()


def sampling_one_exact():
    """At sampling=1 every allocation is tracked: counts are exact."""
    h = Host([VICTIM])
    try:
        h.get("/leak-on?sampling=1")
        h.cmd("leak malloc 3000 16")
        h.cmd("leak posix_memalign 1000 4096")
        h.cmd("churn 3000 64")
        text = h.get("/leak-off")[1]
        rep = translate(text)
        t.ok(sum_field(leaks_at(rep, "leak_malloc"), "count") == 3000,
             "sampling=1: exactly 3000 of 3000 malloc leaks")
        t.ok(sum_field(leaks_at(rep, "leak_posix_memalign"), "bytes") == 1000 * 4096,
             "sampling=1: exact bytes of 1000 aligned 4 KiB leaks")
        t.ok(not leaks_through(rep, "churn"), "sampling=1: nothing freed is reported")
    finally:
        h.stop()
        h.cleanup()


def report_at_exit():
    d = Host([VICTIM], wait_port=False, env={"LEAKSCOPE_PORT": "off"})
    h = None
    try:
        path = os.path.join(d.dir, "leak.%p.report")
        d.stop()
        h = Host([VICTIM], wait_port=False, env={
            "LEAKSCOPE_PORT": "off", "LEAKSCOPE_SAMPLING": "20", "LEAKSCOPE_REPORT": path})
        h.cmd("leak malloc 10000 100")
        pid = h.proc.pid
        h.stop()
        real = path.replace("%p", str(pid))
        t.ok(os.path.exists(real), "LEAKSCOPE_REPORT writes the report at exit, %p = pid")
        if os.path.exists(real):
            mode = stat.S_IMODE(os.stat(real).st_mode)
            t.ok(mode == 0o600, "the report file has mode 0600 (%o)" % mode)
            text = open(real).read()
            rep = translate(text)
            c = sum_field(leaks_at(rep, "leak_malloc"), "count")
            t.ok(report_complete(text) and within(c, 10000, 20),
                 "the exit report holds the leaks (%d sampled)" % c)
        # An existing symlink at the target is replaced, never written through.
        target = os.path.join(h.dir, "victim-file")
        with open(target, "w") as f:
            f.write("precious\n")
        link = os.path.join(h.dir, "link.report")
        os.symlink(target, link)
        h2 = Host([VICTIM], wait_port=False, env={
            "LEAKSCOPE_PORT": "off", "LEAKSCOPE_SAMPLING": "20", "LEAKSCOPE_REPORT": link})
        h2.cmd("leak malloc 100 10")
        h2.stop()
        t.ok(open(target).read() == "precious\n" and not os.path.islink(link),
             "a symlink at the report path is replaced, its target untouched")
        h2.cleanup()
    finally:
        d.cleanup()
        if h:
            h.cleanup()


def memory_cap():
    h = Host([VICTIM], env={"LEAKSCOPE_MAX_MEMORY": "96K"})
    try:
        h.get("/leak-on?sampling=1")
        h.cmd("leak malloc 20000 40")
        h.cmd("threads 4 5000 24")
        st, s = h.get("/leak-status")
        text = h.get("/leak-off")[1]
        rep = translate(text)
        t.ok(rep["dropped"] > 0, "with LEAKSCOPE_MAX_MEMORY=96K samples are dropped (%d) "
             "and the report says so" % rep["dropped"])
        t.ok(rep["live"]["count"] > 0, "sampling went on up to the cap (%d tracked)"
             % rep["live"]["count"])
        t.ok('"dropped": ' in s and '"dropped": 0,' not in s, "status reports the drops")
        h.cmd("release")
        h.cmd("leak malloc 10 10")
        t.ok(h.alive(), "the host runs on at the cap")
    finally:
        t.ok(h.stop() == 0, "host exits cleanly after hitting the cap")
        h.cleanup()


def native_equivalence():
    """The victim's own checks (alignment, zeroing, usable size) pass with
    every allocation sampled, as natively."""
    script = "leak calloc 2000 300\nleak posix_memalign 500 70\nusable 3000 33\n" \
             "churn 3000 500\nxfree 3000 64\nquit\n"
    env = dict(os.environ, LD_PRELOAD=os.path.join(os.path.dirname(VICTIM), "..", "..",
                                                   "libleakscope.so"),
               LEAKSCOPE_PORT="off", LEAKSCOPE_SAMPLING="1")
    a = subprocess.run([VICTIM], input=script, capture_output=True, text=True)
    b = subprocess.run([VICTIM], input=script, capture_output=True, text=True, env=env)
    t.ok(a.returncode == 0 and b.returncode == 0 and a.stdout == b.stdout,
         "sampling every allocation changes no result of the victim", b.stdout + b.stderr)


def frames_and_unwinder():
    h = Host([VICTIM], env={"LEAKSCOPE_MAX_FRAMES": "3"})
    try:
        h.get("/leak-on?sampling=5")
        h.cmd("leak malloc 2000 16")
        rep = translate(h.get("/leak-off")[1])
        t.ok(rep["max_frames"] == 3 and rep["leaks"] and
             all(len([f for f in lk["frames"] if not f.get("inlined")]) <= 3
                 for lk in rep["leaks"]),
             "LEAKSCOPE_MAX_FRAMES=3 keeps at most 3 frames")
    finally:
        h.stop()
        h.cleanup()
    # The victim keeps frame pointers, so the fp walker sees its frames.
    h = Host([VICTIM], env={"LEAKSCOPE_UNWIND": "fp"})
    try:
        h.get("/leak-on?sampling=5")
        h.cmd("leak malloc 5000 16")
        h.cmd("threads 2 2000 8")
        rep = translate(h.get("/leak-off")[1])
        c = sum_field(leaks_at(rep, "leak_malloc"), "count")
        ct = sum_field(leaks_at(rep, "leak_in_thread"), "count")
        t.ok(rep["unwinder"] == "fp" and within(c, 5000, 5) and within(ct, 4000, 5),
             "LEAKSCOPE_UNWIND=fp: stacks found on the main thread (%d) and threads (%d)"
             % (c, ct))
        t.ok(any("main" in [f.get("function") for f in lk["frames"]]
                 for lk in leaks_at(rep, "leak_malloc")),
             "LEAKSCOPE_UNWIND=fp: the walk reaches main")
    finally:
        h.stop()
        h.cleanup()


main_window()
frames_and_unwinder()
min_age_window()
sampling_one_exact()
report_at_exit()
memory_cap()
native_equivalence()
t.done()
