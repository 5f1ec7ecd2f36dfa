#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/bench.py: leakscope against the native run and its peers, side by
side, in one run on this machine. Writes bench/RESULTS.md.

This machine is shared and noisy (speed drifts by up to 1.5x), so every
figure is a ratio to the native run of the same round: each round runs the
native baseline and then every configuration once, rounds repeat, and the
table gives the median and the min-max of the per-round ratios.

    bench/bench.py            the full run (about 10 minutes)
    bench/bench.py --quick    a smaller run (about 1 minute)
"""
import argparse
import json
import os
import platform
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import free_port, log, splice, tool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
LIB = os.path.join(BUILD, "libleakscope.so")
MB = os.path.join(BUILD, "bench", "mallocbench")
RB = os.path.join(BUILD, "bench", "reportbench")
SHIM = os.path.join(BUILD, "bench", "libshim.so")
SHIM_NAME = "forwarding-only preload (bench/shim.c)"
LIBDIR = "/usr/lib/x86_64-linux-gnu"
JEMALLOC = os.path.join(LIBDIR, "libjemalloc.so.2")
TCMALLOC = os.path.join(LIBDIR, "libtcmalloc.so.4")
TMP = tempfile.mkdtemp(prefix="leakscope-bench.")


# ---------------------------------------------------------------- configs

def ls_env(sampling=None, extra=None, under=None):
    """Environment for leakscope, optionally over another allocator."""
    env = {"LD_PRELOAD": LIB + (" " + under if under else ""), "LEAKSCOPE_PORT": "off"}
    if sampling:
        env["LEAKSCOPE_SAMPLING"] = str(sampling)
    env.update(extra or {})
    return env


def mb_configs():
    """(name, env, wrapper argv, ops scale, baseline) for mallocbench."""
    hp = os.path.join(TMP, "gperf")
    return [
        # A/A control: native against native, the same way. Its median is
        # the method's own bias, its spread the noise of one figure.
        (AA, {}, None, 1, "native"),
        # The floor of any preloaded malloc hook: forwards, checks nothing.
        (SHIM_NAME, {"LD_PRELOAD": SHIM}, None, 1, "native"),
        ("leakscope, no window", ls_env(), None, 1, "native"),
        ("leakscope sampling=1000", ls_env(1000), None, 1, "native"),
        ("leakscope sampling=100", ls_env(100), None, 1, "native"),
        ("leakscope sampling=1", ls_env(1), None, 1, "native"),
        ("leakscope sampling=1, LEAKSCOPE_UNWIND=fp", ls_env(1, {"LEAKSCOPE_UNWIND": "fp"}),
         None, 1, "native"),
        ("heaptrack", {}, [tool("heaptrack"), "-o", os.path.join(TMP, "ht")], 1, "native"),
        ("jemalloc prof, lg_prof_sample:19 (512 KiB)",
         {"LD_PRELOAD": JEMALLOC, "MALLOC_CONF": "prof:true,lg_prof_sample:19"}, None, 1, "native"),
        ("jemalloc prof, lg_prof_sample:0 (every allocation)",
         {"LD_PRELOAD": JEMALLOC, "MALLOC_CONF": "prof:true,lg_prof_sample:0"}, None, 0.1, "native"),
        ("gperftools heap profiler (tcmalloc + HEAPPROFILE)",
         {"LD_PRELOAD": TCMALLOC, "HEAPPROFILE": hp}, None, 0.02, "native"),
        ("valgrind memcheck", {}, [tool("valgrind"), "-q", "--tool=memcheck", "--leak-check=no"],
         0.02, "native"),
        # The same over jemalloc as the allocator underneath.
        ("jemalloc (no profiling)", {"LD_PRELOAD": JEMALLOC}, None, 1, "native"),
        ("jemalloc + leakscope, no window", ls_env(under=JEMALLOC), None, 1, "jemalloc"),
        ("jemalloc + leakscope sampling=1000", ls_env(1000, under=JEMALLOC), None, 1, "jemalloc"),
        ("jemalloc + leakscope sampling=100", ls_env(100, under=JEMALLOC), None, 1, "jemalloc"),
        ("jemalloc + leakscope sampling=1", ls_env(1, under=JEMALLOC), None, 1, "jemalloc"),
    ]


AA = "native (A/A control)"
LINE = re.compile(r"seconds=([0-9.]+) ops_per_sec=([0-9.]+) maxrss_kb=([0-9]+)")


def run_mb(env, wrapper, threads, ops):
    e = dict(os.environ)
    e.update(env)
    argv = (wrapper or []) + [MB, "-t", str(threads), "-n", str(ops)]
    r = subprocess.run(argv, env=e, capture_output=True, text=True, timeout=900)
    m = LINE.search(r.stdout)
    if not m:
        raise RuntimeError("mallocbench failed under %s: %s" % (argv[:3], r.stderr[-500:]))
    return {"seconds": float(m.group(1)), "rss_kb": int(m.group(3))}


def mallocbench_group(threads, ops, rounds):
    """Per config: list of (time ratio, rss ratio) against its baseline.

    Each configuration is paired with its baseline run right next to it,
    in the order baseline, config, config, baseline: the machine's speed
    drifts over seconds, and a pair run back to back shares the drift,
    which the mirrored order cancels to first order. Slow peers (scale < 1
    or a wrapper) run once between two baselines."""
    configs = mb_configs()
    ratios = {c[0]: [] for c in configs}
    # The cheap configurations (all of leakscope's, jemalloc's) get three
    # times the rounds: their differences are the small ones.
    for rnd in range(3 * rounds):
        for name, env, wrapper, scale, against in configs:
            cheap = scale == 1 and not wrapper and "prof" not in name
            if not cheap and rnd >= rounds:
                continue
            n = max(1000, int(ops * scale))
            benv = {} if against == "native" else {"LD_PRELOAD": JEMALLOC}
            b1 = run_mb(benv, None, threads, n)
            c1 = run_mb(env, wrapper, threads, n)
            if scale == 1 and not wrapper:
                c2 = run_mb(env, wrapper, threads, n)
            else:
                c2 = c1
            b2 = run_mb(benv, None, threads, n)
            t = (c1["seconds"] + c2["seconds"]) / (b1["seconds"] + b2["seconds"])
            m = (c1["rss_kb"] + c2["rss_kb"]) / (b1["rss_kb"] + b2["rss_kb"])
            ratios[name].append((t, m))
        log("  mallocbench %dT round %d/%d done" % (threads, rnd + 1, 3 * rounds))
    return configs, ratios


# ---------------------------------------------------------------- callgrind

def own_instructions():
    """Instructions callgrind attributes to libleakscope.so's own functions
    (self cost) in the largest profile of the last run."""
    files = sorted((os.path.join(TMP, f) for f in os.listdir(TMP) if f.startswith("cg.")),
                   key=os.path.getsize)
    if not files:
        return 0
    r = subprocess.run(["callgrind_annotate", "--threshold=100", files[-1]],
                       capture_output=True, text=True)
    n = 0
    for l in r.stdout.splitlines():
        if l.rstrip().endswith("/libleakscope.so]"):
            n += int(l.split()[0].replace(",", ""))
    return n


def instructions(env, ops, argv=None, own=None):
    """Instructions the whole process executes, counted by callgrind
    (mallocbench, or argv with the op count appended)."""
    out = os.path.join(TMP, "cg.%p.out")
    for f in os.listdir(TMP):
        if f.startswith("cg."):
            os.unlink(os.path.join(TMP, f))
    e = dict(os.environ)
    e.update(env)
    argv = [tool("valgrind"), "--tool=callgrind", "--trace-children=yes",
            "--callgrind-out-file=" + out, "env"] + ["%s=%s" % kv for kv in env.items()] + \
           (argv + [str(ops)] if argv else [MB, "-n", str(ops)])
    subprocess.run(argv, capture_output=True, timeout=900)
    if own is not None:
        own.append(own_instructions())
    best = 0
    for f in os.listdir(TMP):
        if f.startswith("cg."):
            with open(os.path.join(TMP, f)) as fh:
                for l in fh:
                    if l.startswith("totals:"):
                        best = max(best, int(l.split()[1]))
    return best


def instruction_group(ops):
    """Marginal instructions per operation, (I(2n) - I(n)) / n, which
    leaves out start-up (loading libunwind, say): deterministic, whatever
    the machine is doing."""
    configs = [("native", {})] + [(n, e) for n, e, w, s, a in mb_configs()
                                  if n.startswith("leakscope") or n == SHIM_NAME]
    per = {}
    for name, env in configs:
        per[name] = (instructions(env, 2 * ops) - instructions(env, ops)) / ops
        log("  callgrind %s: %.1f instructions per op" % (name, per[name]))
    return per


NB = os.path.join(BUILD, "bench", "newbench")
NEW_BINS = [("libstdc++ over glibc", NB), ("jemalloc (-ljemalloc)", NB + "_jemalloc"),
            ("tcmalloc (-ltcmalloc_minimal)", NB + "_tcmalloc")]
NEW_MODES = [("malloc", "malloc(32) + free"), ("new", "operator new(32) + delete(p)"),
             ("new_sized", "operator new(32) + delete(p, 32)"),
             ("new_array", "operator new[](32) + delete[](p)"),
             ("new_aligned", "operator new(64, align_val_t 64) + delete(p, align_val_t)"),
             ("new_nothrow", "operator new(32, nothrow) + delete(p, nothrow)")]


def newdel_group(ops):
    """Marginal instructions per allocation-and-free pair of each entry
    point, native and under leakscope with no window, over each allocator."""
    rows = []
    for lib, exe in NEW_BINS:
        for mode, what in NEW_MODES:
            per, own = [], []
            for env in ({}, ls_env()):
                per.append((instructions(env, 2 * ops, [exe, mode], own) -
                            instructions(env, ops, [exe, mode], own)) / ops)
            # own (self cost in libleakscope.so) is logged only: callgrind
            # charges part of a hook that ends in a jump to the jump's target.
            mine = (own[2] - own[3]) / ops
            log("  callgrind %s %s: native %.2f, leakscope %.2f, leakscope's own %.2f"
                % (lib, mode, per[0], per[1], mine))
            rows.append((lib, what, per[0], per[1], mine))
    return rows


NEW_TITLE = "## operator new and delete, no window (callgrind)"


def newdel_section(rows):
    L = [NEW_TITLE + "\n"]
    L.append("`bench/newbench.cc`: one allocation and one free per operation, in a loop; "
             "marginal instructions per operation (callgrind, (I(2n) - I(n)) / n, exact). "
             "The added column is the whole process's difference, which includes the "
             "allocator's own work when leakscope's start-up has left its heap in another "
             "state (glibc's memalign path, whose cost depends on the free chunks around, "
             "is the large one). malloc's hook is 4 instructions and free's 5, so malloc + "
             "free adds 9. "
             "Over libstdc++ leakscope's operator new replaces libstdc++'s and calls the "
             "malloc underneath directly, so new + delete adds less than malloc + free; "
             "over jemalloc and tcmalloc the hooks jump to the allocator's own operators "
             "(or, for a form that calls back into malloc by name, such as jemalloc's "
             "aligned new, to the malloc family underneath).\n")
    L.append("| allocator | operation | native | leakscope, no window | added |")
    L.append("|---|---|---|---|---|")
    for lib, what, nat, ls, mine in rows:
        L.append("| %s | %s | %.1f | %.1f | %+.1f |" % (lib, what, nat, ls, ls - nat))
    L.append("")
    return L


def splice_newdel(rows):
    """Replaces (or puts before the redis section) the operator new section
    of RESULTS.md."""
    splice(NEW_TITLE, "\n".join(newdel_section(rows)) + "\n", before="\n## redis-server")


# ---------------------------------------------------------------- redis

def wait_redis(port, proc):
    for _ in range(400):
        r = subprocess.run([tool("redis-cli"), "-p", str(port), "ping"], capture_output=True,
                           text=True)
        if r.stdout.strip() == "PONG":
            return
        if proc.poll() is not None:
            raise RuntimeError("redis-server exited")
        time.sleep(0.025)
    raise RuntimeError("redis-server did not start")


def redis_run(cfg, requests):
    """Starts redis-server under cfg, runs redis-benchmark, returns the mean
    requests per second over the four tests."""
    name, env, wrapper, window = cfg
    port = free_port()
    e = dict(os.environ)
    e.update(env)
    pf = os.path.join(TMP, "redis.port")
    if os.path.exists(pf):
        os.unlink(pf)
    if "LD_PRELOAD" in env and LIB in env["LD_PRELOAD"]:
        e.update({"LEAKSCOPE_PORT": "0", "LEAKSCOPE_PORT_FILE": pf})
    argv = (wrapper or []) + [tool("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
                              "--save", "", "--appendonly", "no", "--daemonize", "no"]
    proc = subprocess.Popen(argv, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_redis(port, proc)
        if window:
            ctl = open(pf).read().strip()
            subprocess.run(["curl", "-sf", "http://127.0.0.1:%s/leak-on?sampling=%d" % (ctl, window)],
                           check=True, capture_output=True)
        r = subprocess.run([tool("redis-benchmark"), "-p", str(port), "-q", "-t", "set,get,lpush,lpop",
                            "-d", "100", "-c", "50", "-n", str(requests), "--csv"],
                           capture_output=True, text=True, timeout=600)
        rps = [float(row.split(",")[1].strip('"')) for row in r.stdout.splitlines()
               if row.startswith('"') and not row.startswith('"test"')]
        if len(rps) != 4:
            raise RuntimeError("redis-benchmark output: %r" % r.stdout[-300:])
        return statistics.mean(rps)
    finally:
        subprocess.run([tool("redis-cli"), "-p", str(port), "shutdown", "nosave"], capture_output=True)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def redis_group(requests, rounds):
    configs = [
        (AA, {}, None, 0),
        ("leakscope, no window", ls_env(), None, 0),
        ("leakscope sampling=500", ls_env(), None, 500),
        ("leakscope sampling=1", ls_env(), None, 1),
        ("heaptrack", {}, [tool("heaptrack"), "-o", os.path.join(TMP, "ht-redis")], 0),
    ]
    ratios = {c[0]: [] for c in configs}
    native_rps = []
    native = ("native", {}, None, 0)
    for rnd in range(rounds):
        # baseline, config, config, baseline, as for mallocbench
        for cfg in configs:
            b1 = redis_run(native, requests)
            c1 = redis_run(cfg, requests)
            c2 = redis_run(cfg, requests) if cfg[0] != "heaptrack" else c1
            b2 = redis_run(native, requests)
            native_rps += [b1, b2]
            ratios[cfg[0]].append((c1 + c2) / (b1 + b2))
        log("  redis round %d/%d done (native %.0f req/s)" % (rnd + 1, rounds,
                                                            statistics.median(native_rps)))
    return configs, ratios, native_rps


# ---------------------------------------------------------------- report latency, memory

class Host:
    """reportbench under the preload, with its control port."""

    def __init__(self, sampling):
        self.pf = os.path.join(TMP, "rb.port")
        if os.path.exists(self.pf):
            os.unlink(self.pf)
        e = dict(os.environ, **ls_env(sampling, {"LEAKSCOPE_PORT": "0",
                                                  "LEAKSCOPE_PORT_FILE": self.pf}))
        self.p = subprocess.Popen([RB], env=e, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  text=True, bufsize=1)
        for _ in range(400):
            if os.path.exists(self.pf) and open(self.pf).read().strip().isdigit():
                break
            time.sleep(0.025)
        self.url = "http://127.0.0.1:%s" % open(self.pf).read().strip()

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        out = []
        while True:
            l = self.p.stdout.readline().strip()
            if l == "done" or not l:
                return out
            out.append(l)

    def get(self, path):
        t0 = time.monotonic()
        r = subprocess.run(["curl", "-sf", self.url + path], capture_output=True, text=True)
        return time.monotonic() - t0, r.stdout

    def rss_kb(self):
        with open("/proc/%d/status" % self.p.pid) as f:
            for l in f:
                if l.startswith("VmRSS:"):
                    return int(l.split()[1])
        return 0

    def close(self):
        self.cmd("quit")
        self.p.wait(timeout=60)


def probe_line(out):
    m = re.search(r"ops=(\d+) max_ns=(\d+) p999_ns=(\d+) own_max_ns=(\d+) preempted=(\d+)",
                  " ".join(out))
    return {"ops": int(m.group(1)), "max_ms": int(m.group(2)) / 1e6,
            "p999_us": int(m.group(3)) / 1e3, "own_max_ms": int(m.group(4)) / 1e6,
            "preempted": int(m.group(5))}


def report_latency(n, rounds):
    rows = []
    for _ in range(rounds):
        h = Host(1)
        try:
            h.cmd("fill %d" % n)
            st = json.loads(h.get("/leak-status")[1])
            # A quiet second first: the stall this VM shows without any report.
            h.cmd("probe start")
            time.sleep(1.0)
            quiet = probe_line(h.cmd("probe stop"))
            h.cmd("probe start")
            time.sleep(0.2)
            secs, text = h.get("/leak-off")
            time.sleep(0.2)
            busy = probe_line(h.cmd("probe stop"))
            ok = text.rstrip().endswith("stacks") and "end: " in text
            rows.append({"tracked": st["live_tracked"], "leak_off_s": secs, "complete": ok,
                         "stall_ms": busy["max_ms"], "own_stall_ms": busy["own_max_ms"],
                         "preempted": busy["preempted"], "quiet_stall_ms": quiet["max_ms"],
                         "p999_us": busy["p999_us"]})
        finally:
            h.close()
    return rows


def memory(n, stacks):
    """Detector bytes per tracked allocation and per distinct stack."""
    res = {}
    h = Host(1)
    try:
        m0 = json.loads(h.get("/leak-status")[1])["memory_bytes"]
        r0 = h.rss_kb()
        h.cmd("fill %d" % n)
        st = json.loads(h.get("/leak-status")[1])
        r1 = h.rss_kb()
        res["tracked"] = st["live_tracked"]
        res["status_per_alloc"] = (st["memory_bytes"] - m0) / st["live_tracked"]
        # RSS also holds the 32-byte blocks themselves (as natively).
        res["rss_per_alloc"] = (r1 - r0) * 1024 / st["live_tracked"]
        m1 = st["memory_bytes"]
        h.cmd("stacks %d" % stacks)
        st2 = json.loads(h.get("/leak-status")[1])
        res["stacks"] = st2["stacks"] - st["stacks"]
        # Each new stack holds one block (and its record): take those off.
        res["status_per_stack"] = ((st2["memory_bytes"] - m1) - stacks * res["status_per_alloc"]) \
            / max(res["stacks"], 1)
        res["rss_per_stack"] = ((h.rss_kb() - r1) * 1024 - stacks * res["rss_per_alloc"]) \
            / max(res["stacks"], 1)
        h.get("/leak-off")
    finally:
        h.close()
    return res


# ---------------------------------------------------------------- output

def versions():
    def out(argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True).stdout.strip()
        except OSError:
            return "missing"

    def deb(pkg):
        v = out(["dpkg-query", "-W", "-f=${Version}", pkg])
        return v or "missing"
    cpu = "?"
    with open("/proc/cpuinfo") as f:
        for l in f:
            if l.startswith("model name"):
                cpu = l.split(":", 1)[1].strip()
                break
    return [
        ("machine", "%s, %d cores, %s" % (cpu, os.cpu_count(), platform.platform())),
        ("gcc", out(["gcc", "-dumpfullversion"])),
        ("glibc", deb("libc6")), ("libunwind", deb("libunwind8")),
        ("jemalloc", deb("libjemalloc2")), ("heaptrack", deb("heaptrack")),
        ("gperftools", deb("libgoogle-perftools4")), ("valgrind", deb("valgrind")),
        ("redis", deb("redis-server")), ("leakscope", out(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"])),
    ]


def fmt(vals):
    return "%.3f (%.3f-%.3f)" % (statistics.median(vals), min(vals), max(vals))


TARGETS = {
    # config: (max time ratio, max rss ratio)
    "leakscope, no window": (1.01, None),
    "leakscope sampling=1000": (1.03, None),
    "leakscope sampling=100": (1.10, None),
    "leakscope sampling=1": (3.0, 2.0),
}
REDIS_TARGETS = {"leakscope, no window": 0.99, "leakscope sampling=500": 0.99,
                 "leakscope sampling=1": 0.5}


def write_results(args, groups, redis, latency, mem, instr, took, newdel=None):
    L = []
    L.append("# leakscope benchmarks\n")
    L.append("Written by `%s` on %s in %.0f s. Every figure is a ratio to the native run "
             "of the same round (time: lower is better; redis: requests per second, higher "
             "is better), as median (min-max) over %d rounds for leakscope's and "
             "jemalloc's configurations, %d for the slow peers, %d for redis. Each "
             "mallocbench figure pairs the configuration with its baseline run next to it "
             "(baseline, config, config, baseline).\n"
             % ("make bench-quick" if args.quick else "make bench",
                time.strftime("%Y-%m-%d %H:%M"), took, 3 * args.rounds, args.rounds,
                args.redis_rounds))
    L.append("| | |\n|---|---|")
    for k, v in versions():
        L.append("| %s | %s |" % (k, v))
    L.append("")
    for threads, (configs, ratios) in groups:
        L.append("## mallocbench, %d thread%s, %d ops per thread\n"
                 % (threads, "s" if threads > 1 else "", args.ops))
        L.append("`bench/mallocbench.c`: a ring of live blocks (mostly 16-512 B, some 4 KiB, "
                 "rare 64 KiB), calloc and realloc mixed in, 8 frames deep, a small leak.\n")
        L.append("| configuration | time ratio | peak RSS ratio | ops scale | against |")
        L.append("|---|---|---|---|---|")
        for name, env, wrapper, scale, against in configs:
            t = [r[0] for r in ratios[name]]
            m = [r[1] for r in ratios[name]]
            L.append("| %s | %s | %s | %s | %s |" % (name, fmt(t), fmt(m),
                                                     "1" if scale == 1 else "%g" % scale, against))
        L.append("")
    if instr:
        L.append("## instructions per mallocbench operation (callgrind, 1 thread)\n")
        L.append("Timing on this VM drifts by up to 1.5x between runs, which drowns "
                 "differences of a few percent; callgrind's instruction counts do not drift. "
                 "Marginal count per operation, start-up excluded. An instruction is not a "
                 "cycle: the hooks add cheap, well-predicted ones, while native malloc's "
                 "cost is mostly memory stalls.\n")
        L.append("The forwarding-only preload is the least any LD_PRELOAD malloc hook "
                 "executes (one more indirect jump per call); the last column is the cost "
                 "above it.\n")
        L.append("| configuration | instructions per op | ratio | ratio to forwarding-only |")
        L.append("|---|---|---|---|")
        for name, v in instr.items():
            L.append("| %s | %.1f | %.4f | %.4f |" % (name, v, v / instr["native"], v / instr[SHIM_NAME]))
        L.append("")
    if newdel:
        L.extend(newdel_section(newdel))
    if redis:
        configs, ratios, native = redis
        L.append("## redis-server (Debian's, on jemalloc)\n")
        L.append("`redis-benchmark -q -t set,get,lpush,lpop -d 100 -c 50 -n %d`, mean of the four "
                 "tests; native: %.0f req/s (median).\n" % (args.redis_requests,
                                                           statistics.median(native)))
        L.append("| configuration | req/s ratio |")
        L.append("|---|---|")
        for c in configs:
            L.append("| %s | %s |" % (c[0], fmt(ratios[c[0]])))
        L.append("")
    if latency:
        L.append("## leak-off with %d tracked allocations\n" % latency[0]["tracked"])
        L.append("A probe thread mallocs and frees without pause, timing every call, while the "
                 "report is built and streamed. Four threads (probe, control port, curl, "
                 "harness) share two cores, so some calls span an involuntary preemption of "
                 "the probe: the kernel's doing, counted apart (getrusage per call). The "
                 "quiet column is the same probe for one second with no report.\n")
        L.append("| round | leak-off (s) | complete | longest stall, not preempted (ms) | "
                 "longest stall, all (ms) | calls preempted | p99.9 (us) | quiet stall (ms) |")
        L.append("|---|---|---|---|---|---|---|---|")
        for i, r in enumerate(latency):
            L.append("| %d | %.3f | %s | %.2f | %.2f | %d | %.1f | %.2f |"
                     % (i + 1, r["leak_off_s"], r["complete"], r["own_stall_ms"], r["stall_ms"],
                        r["preempted"], r["p999_us"], r["quiet_stall_ms"]))
        L.append("")
    if mem:
        L.append("## detector memory\n")
        L.append("| measure | bytes |")
        L.append("|---|---|")
        L.append("| per tracked allocation, from /leak-status (%d tracked) | %.1f |"
                 % (mem["tracked"], mem["status_per_alloc"]))
        L.append("| per tracked allocation, from RSS (includes the 32-byte block itself) | %.1f |"
                 % mem["rss_per_alloc"])
        L.append("| per distinct stack, from /leak-status (%d stacks, 16 frames) | %.1f |"
                 % (mem["stacks"], mem["status_per_stack"]))
        L.append("| per distinct stack, from RSS | %.1f |" % mem["rss_per_stack"])
        L.append("")
    # The figures of the benchmarks issue, met or not.
    L.append("## targets\n")
    L.append("Time figures are judged on the median divided by the A/A control's median "
             "(the pairing's own bias); both are shown. The A/A control's interquartile "
             "range is the resolution of one timing figure on this machine; below it, "
             "callgrind's instruction ratios above are the precise measure.\n")
    L.append("| figure | target | measured (median) | A/A-corrected | met |")
    L.append("|---|---|---|---|---|")
    misses = []
    for threads, (configs, ratios) in groups:
        aa = sorted(r[0] for r in ratios[AA])
        aam = statistics.median(aa)
        half = (aa[3 * len(aa) // 4] - aa[len(aa) // 4]) / 2
        L.append("| mallocbench %dT A/A control (native vs native) | 1.00x | %.3fx "
                 "(IQR %.3f-%.3f) | | |" % (threads, aam, aa[len(aa) // 4], aa[3 * len(aa) // 4]))
        fl = statistics.median(r[0] for r in ratios[SHIM_NAME])
        L.append("| mallocbench %dT forwarding-only preload (the floor of any hook), time | | %.3fx | "
                 "%.3fx | |" % (threads, fl, fl / aam))
        for name, (tmax, rmax) in TARGETS.items():
            t = statistics.median(r[0] for r in ratios[name])
            L.append("| mallocbench %dT %s, time | <= %.2fx | %.3fx | %.3fx | %s |"
                     % (threads, name, tmax, t, t / aam, "yes" if t / aam <= tmax else "**no**"))
            if t / aam > tmax:
                why = ("mallocbench %dT %s: %.3fx against <= %.2fx, %s the timing resolution of this run "
                       "(A/A interquartile half-width %.1f%%)"
                       % (threads, name, t / aam, tmax,
                          "within" if t / aam - tmax <= half else "beyond", 100 * half))
                if instr and name in instr:
                    why += "; its instruction ratio (callgrind, exact) is %.3fx" % (instr[name] / instr["native"])
                misses.append(why)
            if rmax:
                m = statistics.median(r[1] for r in ratios[name])
                L.append("| mallocbench %dT %s, RSS | <= %.1fx | %.3fx | | %s |"
                         % (threads, name, rmax, m, "yes" if m <= rmax else "**no**"))
        ht = statistics.median(r[0] for r in ratios["heaptrack"])
        s1 = statistics.median(r[0] for r in ratios["leakscope sampling=1"])
        L.append("| mallocbench %dT sampling=1 below heaptrack | < %.2fx | %.3fx | | %s |"
                 % (threads, ht, s1, "yes" if s1 < ht else "**no**"))
    if redis:
        aa = sorted(redis[1][AA])
        aam = statistics.median(aa)
        L.append("| redis A/A control (native vs native) | 1.00x | %.3fx (IQR %.3f-%.3f) | | |"
                 % (aam, aa[len(aa) // 4], aa[3 * len(aa) // 4]))
        half = (aa[3 * len(aa) // 4] - aa[len(aa) // 4]) / 2
        for name, tmin in REDIS_TARGETS.items():
            v = statistics.median(redis[1][name])
            L.append("| redis %s, req/s | >= %.2fx | %.3fx | %.3fx | %s |"
                     % (name, tmin, v, v / aam, "yes" if v / aam >= tmin else "**no**"))
            if v / aam < tmin:
                misses.append("redis %s: %.3fx against >= %.2fx, %s the timing resolution of this run "
                              "(A/A interquartile half-width %.1f%%)"
                              % (name, v / aam, tmin, "within" if tmin - v / aam <= half else "beyond",
                                 100 * half))
    if latency:
        worst = max(r["leak_off_s"] for r in latency)
        stall = max(r["own_stall_ms"] for r in latency)
        L.append("| leak-off with 1M tracked | < 2 s | %.3f s (worst) | | %s |"
                 % (worst, "yes" if worst < 2 else "**no**"))
        L.append("| longest host malloc/free stall during leak-off (not preempted) | < 5 ms | "
                 "%.2f ms (worst) | | %s |" % (stall, "yes" if stall < 5 else "**no**"))
    if mem:
        L.append("| detector bytes per tracked allocation | <= 64 | %.1f | | %s |"
                 % (mem["status_per_alloc"], "yes" if mem["status_per_alloc"] <= 64 else "**no**"))
    L.append("")
    if misses:
        L.append("### Missed in this run\n")
        L.extend("- " + m for m in misses)
        if instr:
            L.append("\nCallgrind's exact counts: the preload with no window executes %.3fx native's "
                     "instructions, a preload that only forwards (bench/shim.c) %.3fx; the difference is "
                     "the hook's own check." % (instr["leakscope, no window"] / instr["native"],
                                               instr[SHIM_NAME] / instr["native"]))
        L.append("\nbench/NOTES.md explains the method, the noise, and what the sampled path spends "
                 "(libunwind first).")
        L.append("")
    path = os.path.join(ROOT, "bench", "RESULTS.md")
    text = keep_other_sections(path, "\n".join(L))
    with open(path, "w") as f:
        f.write(text)
    log("wrote %s" % path)


def keep_other_sections(path, text):
    """The sections of the old RESULTS.md that other scripts write (their
    titles name them: bench/execbench.py, bench/accuracy.py,
    bench/costbench.py), kept before the targets section of the new text."""
    try:
        with open(path) as f:
            old = f.read()
    except OSError:
        return text
    mine = {l for l in text.split("\n") if l.startswith("## ")}
    keep = []
    for part in old.split("\n## ")[1:]:
        title = "## " + part.split("\n", 1)[0]
        if title not in mine and re.search(r"bench/\w+\.py", title) and "bench/bench.py" not in title:
            keep.append(("## " + part).rstrip("\n") + "\n")
    if not keep:
        return text
    at = text.find("\n## targets")
    if at < 0:
        return text.rstrip("\n") + "\n\n" + "\n".join(keep)
    return text[:at + 1] + "\n".join(keep) + "\n" + text[at + 1:]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="the one-minute version")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--ops", type=int)
    ap.add_argument("--no-redis", action="store_true")
    ap.add_argument("--new-only", action="store_true",
                    help="only the operator new/delete callgrind table, spliced into RESULTS.md")
    args = ap.parse_args()
    if args.new_only:
        splice_newdel(newdel_group(20000))
        shutil.rmtree(TMP, ignore_errors=True)
        return
    # Many short rounds beat a few long ones on a machine whose speed
    # drifts: the median of per-round ratios converges faster.
    args.rounds = args.rounds or (3 if args.quick else 7)
    args.ops = args.ops or (300000 if args.quick else 600000)
    args.redis_requests = 10000 if args.quick else 20000
    args.redis_rounds = 2 if args.quick else 7
    start = time.monotonic()
    groups = []
    for threads in (1, 2):
        log("mallocbench, %d thread(s)" % threads)
        groups.append((threads, mallocbench_group(threads, args.ops, args.rounds)))
    redis = None
    if not args.no_redis:
        log("redis")
        redis = redis_group(args.redis_requests, args.redis_rounds)
    instr = newdel = None
    if not args.quick:
        log("callgrind")
        instr = instruction_group(100000)
        newdel = newdel_group(20000)
    log("report latency")
    latency = report_latency(200000 if args.quick else 1000000, 1 if args.quick else 3)
    log("memory")
    mem = memory(200000 if args.quick else 1000000, 4096 if args.quick else 16384)
    write_results(args, groups, redis, latency, mem, instr, time.monotonic() - start, newdel)
    shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    main()
