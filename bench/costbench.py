#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/costbench.py: what each sampling mode costs, in callgrind's
instruction counts (exact, where timing on this VM drifts by up to 1.5x).

- mallocbench (bench/mallocbench.c, 1 thread): marginal instructions per
  operation (one free and one allocation, plus the benchmark's own work),
  (I(2n) - I(n)) / n of the whole process, so start-up (loading libunwind,
  say) is left out; native, leakscope with no window, sampling=1000 and
  bytes=512K (issue 12: bytes=512K no more than sampling=1000, both within
  1.03x native).
- redis-server (Debian's, on jemalloc) under callgrind, driven by
  redis-benchmark (SET and GET, one client, no pipelining): instructions
  per request of the server process, all threads, counted between
  `callgrind_control --zero` and `--dump` around a run of 2n requests and
  one of 4n, (I(4n) - I(2n)) / 2n; native, no window, sampling=500,
  bytes=512K.
- With --baseline REV, leakscope's preload built from git revision REV
  (in a temporary worktree) is measured with no window beside this one: the
  no-window path before and after.

    bench/costbench.py [--write] [--baseline REV] [--ops N] [--requests N] [--reps K]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import free_port, log, splice as _splice, tool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
LIB = os.path.join(BUILD, "libleakscope.so")
MB = os.path.join(BUILD, "bench", "mallocbench")
RESULTS = os.path.join(ROOT, "bench", "RESULTS.md")
TITLE = "## cost of each sampling mode (callgrind, bench/costbench.py)"
TMP = tempfile.mkdtemp(prefix="ls-costbench.")


def ls_env(lib, extra=None):
    env = {"LD_PRELOAD": lib, "LEAKSCOPE_PORT": "off",
           "LEAKSCOPE_RUNTIME_DIR": os.path.join(TMP, "rt")}
    env.update(extra or {})
    return env


def configs(baseline_lib, window_a, window_b, quiet=False):
    """(name, env) pairs; window_a (count mode) and window_b (byte mode) are
    the sampled configurations; quiet adds windows that (almost) never
    sample, for what an open window costs before any sample. The baseline
    (the preload of another revision) runs with no window and with the
    count-mode windows, which it has too."""
    c = [("native", {}), ("leakscope, no window", ls_env(LIB))]
    if baseline_lib:
        c.append(("leakscope, no window, before (%s)" % baseline_lib[1], ls_env(baseline_lib[0])))
    c += [("leakscope " + window_a[0], ls_env(LIB, window_a[1]))]
    if baseline_lib:
        c.append(("leakscope %s, before (%s)" % (window_a[0], baseline_lib[1]),
                  ls_env(baseline_lib[0], window_a[1])))
    c += [("leakscope " + window_b[0], ls_env(LIB, window_b[1]))]
    if quiet:
        q = {"LEAKSCOPE_SAMPLING": "1000000000"}
        c.append(("leakscope sampling=1000000000 (a window, no samples)", ls_env(LIB, q)))
        if baseline_lib:
            c.append(("leakscope sampling=1000000000 (a window, no samples), before (%s)"
                      % baseline_lib[1], ls_env(baseline_lib[0], q)))
        c.append(("leakscope bytes=1G (a window, about no samples)",
                  ls_env(LIB, {"LEAKSCOPE_SAMPLING_BYTES": "1G"})))
    return c


# ---------------------------------------------------------------- mallocbench

def totals(path):
    with open(path) as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError("no totals in %s" % path)


OWN = re.compile(r"/libleakscope[^/\]]*\.so[^/\]]*\]|/libunwind\.so[^/\]]*\]")


def own_instructions(path):
    """Instructions callgrind charges to leakscope's own code in a profile:
    the self cost of every function in libleakscope.so and in the
    libunwind it loads to capture stacks. (A hook that ends in a jump to
    the allocator may have part of its cost charged to the jump's target,
    so this is a floor.)"""
    r = subprocess.run([tool("callgrind_annotate"), "--threshold=100", path], capture_output=True,
                       text=True, timeout=600)
    n = 0
    for line in r.stdout.splitlines():
        f = line.split()
        if f and OWN.search(line) and f[0].replace(",", "").isdigit():
            n += int(f[0].replace(",", ""))
    return n


def mb_instructions(env, ops):
    """(instructions, leakscope's own instructions, samples) of one whole
    mallocbench run under callgrind; samples from the exit report's
    `sampled` (None without a window)."""
    out = os.path.join(TMP, "cg.mb.%p")
    rep = os.path.join(TMP, "mb.report")
    for f in os.listdir(TMP):
        if f.startswith("cg.mb.") or f == "mb.report":
            os.unlink(os.path.join(TMP, f))
    if env.get("LD_PRELOAD", "").endswith(".so") and "leakscope" in env.get("LD_PRELOAD", ""):
        env = dict(env, LEAKSCOPE_REPORT=rep)
    # env(1) inside valgrind: LD_PRELOAD must reach the program, not valgrind.
    argv = [tool("valgrind"), "--tool=callgrind", "--trace-children=yes",
            "--callgrind-out-file=" + out, "env"] + ["%s=%s" % kv for kv in env.items()] + \
        [MB, "-n", str(ops)]
    r = subprocess.run(argv, capture_output=True, text=True, timeout=1800)
    files = [os.path.join(TMP, f) for f in os.listdir(TMP) if f.startswith("cg.mb.")]
    if r.returncode != 0 or not files:
        raise RuntimeError("callgrind mallocbench failed: %s" % r.stderr[-500:])
    big = max(files, key=totals)
    sampled = None
    if os.path.exists(rep):
        with open(rep) as f:
            for line in f:
                if line.startswith("sampled: "):
                    sampled = int(line.split()[1])
    return totals(big), own_instructions(big), sampled


def mallocbench(cfgs, ops, reps):
    """{name: {"per": [instructions per op], "own": [...], "samples": [samples
    per op], "runs": [(dI, dS)]}}, each from the pair of runs n and 2n."""
    res = {}
    for name, env in cfgs:
        r = {"per": [], "own": [], "samples": [], "runs": []}
        for _ in range(reps):
            i1, o1, s1 = mb_instructions(env, ops)
            i2, o2, s2 = mb_instructions(env, 2 * ops)
            r["per"].append((i2 - i1) / ops)
            r["own"].append((o2 - o1) / ops)
            if s1 is not None and s2 is not None:
                r["samples"].append((s2 - s1) / ops)
                r["runs"].append((i2 - i1, s2 - s1))
        res[name] = r
        log("  mallocbench %s: %s instructions per op, leakscope's own %s" % (
            name, " ".join("%.1f" % v for v in r["per"]), " ".join("%.1f" % v for v in r["own"])))
    return res


# ---------------------------------------------------------------- redis

def redis_cli(port, *args):
    return subprocess.run([tool("redis-cli"), "-p", str(port)] + list(args), capture_output=True,
                          text=True, timeout=60).stdout.strip()


def bench_requests(port, n):
    """n SETs then n GETs (100-byte values, 1000 keys), one client."""
    r = subprocess.run([tool("redis-benchmark"), "-p", str(port), "-c", "1", "-P", "1", "-n", str(n),
                        "-r", "1000", "-d", "100", "-t", "set,get", "-q"],
                       capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError("redis-benchmark failed: %s" % r.stderr[-300:])


def control(pid, what):
    r = subprocess.run([tool("callgrind_control"), what, str(pid)], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0 or "OK" not in r.stdout:
        raise RuntimeError("callgrind_control %s %d: %s%s" % (what, pid, r.stdout, r.stderr))


def redis_per_request(env, requests, reps):
    """Instructions per request of one redis-server under callgrind."""
    port = free_port()
    out = os.path.join(TMP, "cg.redis.%p")
    for f in os.listdir(TMP):
        if f.startswith("cg.redis."):
            os.unlink(os.path.join(TMP, f))
    # --hz 1: serverCron, whose cost grows with time (and time with
    # callgrind's slowdown), runs once a second instead of ten times.
    argv = [tool("valgrind"), "--tool=callgrind", "--trace-children=yes",
            "--callgrind-out-file=" + out, "env"] + ["%s=%s" % kv for kv in env.items()] + \
        [tool("redis-server"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--daemonize", "no", "--hz", "1"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            if redis_cli(port, "ping") == "PONG":
                break
            if proc.poll() is not None:
                raise RuntimeError("redis-server under callgrind exited")
            time.sleep(0.1)
        else:
            raise RuntimeError("redis-server under callgrind did not start")
        bench_requests(port, requests)      # warm-up: every key exists
        vals, own = [], []
        for _ in range(reps):
            phase, mine = [], []
            for n in (requests, 2 * requests):
                control(proc.pid, "--zero")
                bench_requests(port, n)
                before = set(os.listdir(TMP))
                control(proc.pid, "--dump")
                new = [f for f in os.listdir(TMP) if f.startswith("cg.redis.") and f not in before]
                if not new:
                    raise RuntimeError("callgrind wrote no dump")
                dump = os.path.join(TMP, sorted(new)[-1])
                phase.append(totals(dump))
                mine.append(own_instructions(dump))
            # n SETs and n GETs: 2n requests, then 4n.
            vals.append((phase[1] - phase[0]) / (2 * requests))
            own.append((mine[1] - mine[0]) / (2 * requests))
        return vals, own
    finally:
        redis_cli(port, "shutdown", "nosave")
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def redis(cfgs, requests, reps):
    """{name: ([instructions per request], [leakscope's own per request])}"""
    per = {}
    for name, env in cfgs:
        per[name] = redis_per_request(env, requests, reps)
        log("  redis %s: %s instructions per request, leakscope's own %s" % (
            name, " ".join("%.1f" % v for v in per[name][0]),
            " ".join("%.1f" % v for v in per[name][1])))
    return per


# ---------------------------------------------------------------- baseline

def build_baseline(rev):
    """The preload built from git revision rev, in a temporary worktree."""
    wt = os.path.join(TMP, "baseline")
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", wt, rev], check=True,
                   capture_output=True)
    try:
        r = subprocess.run(["make", "-C", wt, "-j2", "build/libleakscope.so"], capture_output=True,
                           text=True)
        if r.returncode != 0:
            raise RuntimeError("building %s failed: %s" % (rev, r.stderr[-500:]))
        lib = os.path.join(TMP, "libleakscope-%s.so" % rev)
        shutil.copy(os.path.join(wt, "build", "libleakscope.so"), lib)
        return lib
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", wt], capture_output=True)


# ---------------------------------------------------------------- output

def med(v):
    return statistics.median(v)


def rng(v):
    return "%.1f" % v[0] if len(v) == 1 else "%.1f (%.1f-%.1f)" % (med(v), min(v), max(v))


def section(args, mb, rd, took):
    L = [TITLE + "\n"]
    L.append("Written by `make bench-cost` (`bench/costbench.py`) on %s in %.0f s, leakscope %s. "
             "Exact counts from callgrind (%s), median (min-max) of %d repetitions: "
             "the sampled configurations vary with their random gaps, redis-server with "
             "what its event loop and jemalloc do between requests. \"own\" is the self cost "
             "callgrind charges to libleakscope.so and the libunwind it loads, a floor of "
             "leakscope's own work (a hook's final jump may be charged to the allocator).\n"
             % (time.strftime("%Y-%m-%d %H:%M"), took, git_rev(), valgrind_version(), args.reps))
    if mb:
        nat = med(mb["native"]["per"])
        L.append("### mallocbench, 1 thread\n")
        L.append("Marginal instructions per operation (one free, one allocation of 16 B .. 64 KiB, "
                 "mean 1.2 KB, plus the benchmark's work), (I(2n) - I(n)) / n with n = %d; "
                 "samples per operation from the exit reports' `sampled` of the same runs. At a "
                 "mean of 1.2 KB per allocation, bytes=512K samples about one allocation in 450, "
                 "sampling=1000 one in 1000.\n" % args.ops)
        L.append("| configuration | instructions per op | ratio to native | own per op | "
                 "samples per op |")
        L.append("|---|---|---|---|---|")
        for name, r in mb.items():
            L.append("| %s | %s | %.4f | %s | %s |" % (
                name, rng(r["per"]), med(r["per"]) / nat,
                "%.1f" % med(r["own"]) if name != "native" else "",
                "%.5f" % med(r["samples"]) if r["samples"] else ""))
        L.append("")
        split = []
        for mode, quiet in (("sampling=1000", "sampling=1000000000"), ("bytes=512K", "bytes=1G")):
            a = mb.get("leakscope " + mode)
            q = [k for k in mb if k.startswith("leakscope " + quiet + " ") and "before" not in k]
            if a and q and a["runs"]:
                qn = med(mb[q[0]]["per"])
                w = qn - med(mb["leakscope, no window"]["per"])
                # per sample: what a run pair added beyond the quiet window's
                # cost per operation, over the samples it took
                c = [(di - qn * args.ops) / ds for di, ds in a["runs"] if ds > 0]
                split.append("%s: an open window adds %.1f instructions per operation to the "
                             "no-window path before any sample; each sample costs about %.0f "
                             "more (median of %d run pairs)" % (mode, w, med(c), len(c)))
        if split:
            L.append("Split: " + "; ".join(split) + ".\n")
    if rd:
        nat = med(rd["native"][0])
        L.append("### redis-server, instructions per request\n")
        L.append("Debian's redis-server (jemalloc) under callgrind, `--hz 1`; `redis-benchmark -c 1 "
                 "-P 1 -r 1000 -d 100 -t set,get`; instructions of the server process (all its "
                 "threads) between `callgrind_control --zero` and `--dump`, (I(4n) - I(2n)) / 2n "
                 "with n = %d SETs and as many GETs, after a warm-up run. User-space instructions "
                 "only: the kernel's work for each request's read and write is not in them. The "
                 "whole process's count varies by about 0.5%% from one run to the next with the "
                 "same code; leakscope's own count does not.\n" % args.requests)
        L.append("| configuration | instructions per request | ratio to native | own per request |")
        L.append("|---|---|---|---|")
        for name, (v, own) in rd.items():
            L.append("| %s | %s | %.4f | %s |" % (name, rng(v), med(v) / nat,
                                                 "%.1f" % med(own) if name != "native" else ""))
        L.append("")
    if mb:
        L.append("### targets (issue 12)\n")
        L.append("| figure | target | measured | met |")
        L.append("|---|---|---|---|")
        nat = med(mb["native"]["per"])
        b, s = med(mb["leakscope bytes=512K"]["per"]), med(mb["leakscope sampling=1000"]["per"])

        def row(what, target, measured, met):
            L.append("| %s | %s | %s | %s |" % (what, target, measured,
                                                "" if met is None else "yes" if met else "**no**"))
        row("mallocbench bytes=512K against sampling=1000", "no more instructions",
            "%.1f against %.1f per op" % (b, s), b <= s)
        row("mallocbench bytes=512K", "<= 1.03x native", "%.4fx" % (b / nat), b / nat <= 1.03)
        row("mallocbench sampling=1000", "<= 1.03x native", "%.4fx" % (s / nat), s / nat <= 1.03)
        for k in mb:
            if ", before (" not in k:
                continue
            now = k.split(", before (")[0]
            if now in mb:
                a, o = med(mb[now]["per"]), med(mb[k]["per"])
                unchanged = now == "leakscope, no window"
                row("mallocbench %s: this build against %s" % (now[len("leakscope"):].lstrip(", "),
                                                               k.split("(")[-1].rstrip(")")),
                    "unchanged" if unchanged else "", "%.1f against %.1f per op (%+.1f)" % (a, o, a - o),
                    abs(a - o) < 0.5 if unchanged else None)
        L.append("")
    return "\n".join(L) + "\n"


def git_rev():
    r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                       text=True)
    return r.stdout.strip() or "?"


def valgrind_version():
    r = subprocess.run([tool("valgrind"), "--version"], capture_output=True, text=True)
    return r.stdout.strip()


def splice(text):
    _splice(TITLE, text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--ops", type=int, default=200000, help="mallocbench n (default 200000)")
    ap.add_argument("--requests", type=int, default=10000,
                    help="redis n: SETs and as many GETs in the first phase (default 10000)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--baseline", help="also measure the no-window preload of this git revision")
    ap.add_argument("--no-redis", action="store_true")
    ap.add_argument("--no-mallocbench", action="store_true")
    ap.add_argument("--write", action="store_true", help="put the tables in bench/RESULTS.md")
    args = ap.parse_args()
    for f in (LIB, MB):
        if not os.path.exists(f):
            sys.exit("costbench: %s is missing (make bench-cost builds it)" % f)
    t0 = time.time()
    base = None
    if args.baseline:
        base = (build_baseline(args.baseline), args.baseline)
    try:
        bytes_cfg = ("bytes=512K", {"LEAKSCOPE_SAMPLING_BYTES": "512K"})
        mb = rd = None
        if not args.no_mallocbench:
            mb = mallocbench(configs(base, ("sampling=1000", {"LEAKSCOPE_SAMPLING": "1000"}),
                                     bytes_cfg, quiet=True), args.ops, args.reps)
        if not args.no_redis:
            rd = redis(configs(base, ("sampling=500", {"LEAKSCOPE_SAMPLING": "500"}), bytes_cfg),
                       args.requests, args.reps)
        text = section(args, mb, rd, time.time() - t0)
        print(text)
        if args.write:
            splice(text)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
