#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/accuracy.py: how close leakscope's estimates come to the truth,
and how often its 95% intervals hold it (issue 12, "Figures").

Two victims (bench/accuracy.c) leak known allocations from known
functions among a churn of freed blocks and print the truth:

  A (sites): 100,000 x 32 B, 1,000 x 4 KiB, 10 x 1 MiB, 1 x 64 MiB
  B (mixed): 50 call sites, mixed sizes 16 B .. 256 KiB in each stack

Each runs RUNS times (default 30) under each configuration:

  bytes=512K      LEAKSCOPE_SAMPLING_BYTES=512K (byte sampling)
  sampling=100    LEAKSCOPE_SAMPLING=100 (one allocation in N)
  sampling=1000   LEAKSCOPE_SAMPLING=1000
  jemalloc        Debian's libjemalloc.so.2 preloaded, its own profiler at
                  lg_prof_sample:19 (one sample per 512 KiB on average),
                  the final heap profile read with jeprof --text

leakscope's report is written at exit (LEAKSCOPE_REPORT) and read with
`leakscope-translate --format json`; a leak belongs to a site when a frame
of its stack is the site's function. Per site and configuration:

  found      share of runs in which the site appears at all
  est/truth  mean, sd and min-max over all runs of est_bytes/truth and
             est_count/truth (a run that missed the site counts 0, which is
             what an unbiased estimator must average over)
  coverage   share of all runs whose 95% interval [lo, hi] holds the truth
             (est_bytes_lo/hi, est_count_lo/hi of the json); a run that
             missed the site has no interval and counts as not covered.
             In brackets, the share among the runs that found it.

    bench/accuracy.py                 30 runs, prints the markdown
    bench/accuracy.py --write         ... and puts it in bench/RESULTS.md
    bench/accuracy.py --runs 5 --victims A --configs bytes=512K
"""
import argparse
import concurrent.futures
import glob
import json
import math
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import log, splice as _splice

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
LIB = os.path.join(BUILD, "libleakscope.so")
TRANSLATE = os.path.join(BUILD, "leakscope-translate")
VICTIM = os.path.join(BUILD, "bench", "accuracy")
JEMALLOC = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2"
RESULTS = os.path.join(ROOT, "bench", "RESULTS.md")
TITLE = "## accuracy against ground truth (bench/accuracy.py)"

CONFIGS = {
    "bytes=512K": {"LEAKSCOPE_SAMPLING_BYTES": "512K"},
    "sampling=100": {"LEAKSCOPE_SAMPLING": "100"},
    "sampling=1000": {"LEAKSCOPE_SAMPLING": "1000"},
    "jemalloc lg_prof_sample:19": None,
}
VICTIMS = {"A": "sites", "B": "mixed"}


def truth_of(stdout):
    """{site: (count, bytes)} from the victim's 'truth NAME COUNT BYTES' lines."""
    t = {}
    for line in stdout.splitlines():
        f = line.split()
        if len(f) == 4 and f[0] == "truth":
            t[f[1]] = (int(f[2]), int(f[3]))
    if "total" not in t:
        raise RuntimeError("victim printed no truth: %r" % stdout[-300:])
    return t


# ---------------------------------------------------------------- one run

def through(leak, name):
    return any((fr.get("function") or "") == name for fr in leak["frames"])


def leakscope_run(tmp, victim, env_extra):
    """One run under the preload; {site: estimate dict} plus the total."""
    rep = os.path.join(tmp, "leak.report")
    env = dict(os.environ, LD_PRELOAD=LIB, LEAKSCOPE_PORT="off", LEAKSCOPE_REPORT=rep,
               LEAKSCOPE_RUNTIME_DIR=os.path.join(tmp, "rt"))
    env.pop("LEAKSCOPE_SAMPLING", None)
    env.pop("LEAKSCOPE_SAMPLING_BYTES", None)
    env.update(env_extra)
    p = subprocess.run([VICTIM, VICTIMS[victim]], env=env, capture_output=True, text=True,
                       timeout=600)
    if p.returncode != 0 or not os.path.exists(rep):
        raise RuntimeError("victim %s failed (%d): %s" % (victim, p.returncode, p.stderr[-500:]))
    truth = truth_of(p.stdout)
    r = subprocess.run([TRANSLATE, "--format", "json", rep], capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("translator failed: %s" % r.stderr[-500:])
    js = json.loads(r.stdout)
    out = {"_mode": js.get("mode", "count"), "_format": js.get("format")}
    for site in truth:
        if site == "total":
            continue
        ls = [lk for lk in js["leaks"] if through(lk, site)]
        out[site] = estimate(ls)
        out[site]["iv"] = "est_bytes_lo" in js
    # The top level: est_* and their intervals (format 2), else the
    # estimated header of format 1.
    top = {"records": len(js["leaks"]),
           "est_count": js.get("est_count", js["estimated"]["count"]),
           "est_bytes": js.get("est_bytes", js["estimated"]["bytes"])}
    for k in ("est_count_lo", "est_count_hi", "est_bytes_lo", "est_bytes_hi"):
        top[k] = js.get(k)
    top["iv"] = "est_bytes_lo" in js
    out["total"] = top
    return truth, out


def estimate(leaks):
    """The site's estimate from its leak records: usually one (one stack per
    site). Several records' intervals cannot be combined exactly; their lo
    and hi are summed (wider than the true interval) and the count of
    records is kept to say so."""
    e = {"records": len(leaks), "est_count": sum(lk["est_count"] for lk in leaks),
         "est_bytes": sum(lk["est_bytes"] for lk in leaks)}
    for k in ("est_count_lo", "est_count_hi", "est_bytes_lo", "est_bytes_hi"):
        vals = [lk.get(k) for lk in leaks]
        e[k] = sum(vals) if leaks and all(v is not None for v in vals) else None
    return e


def jeprof_values(heap, what):
    """{function: cum} from jeprof --text (bytes or objects)."""
    argv = ["jeprof", "--text", "--nodecount=100000", "--nodefraction=0", "--edgefraction=0",
            "--inuse_space" if what == "bytes" else "--inuse_objects"]
    if what == "bytes":
        argv.append("--show_bytes")
    r = subprocess.run(argv + [VICTIM, heap], capture_output=True, text=True, timeout=300)
    vals = {}
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 6 and f[1].endswith("%") and f[4].endswith("%"):
            try:
                vals[" ".join(f[5:])] = float(f[3])
            except ValueError:
                pass
    if not vals:
        raise RuntimeError("jeprof read nothing from %s: %s" % (heap, r.stderr[-500:]))
    return vals


def jemalloc_run(tmp, victim):
    prefix = os.path.join(tmp, "je")
    env = dict(os.environ, LD_PRELOAD=JEMALLOC,
               MALLOC_CONF="prof:true,lg_prof_sample:19,prof_final:true,prof_prefix:" + prefix)
    p = subprocess.run([VICTIM, VICTIMS[victim]], env=env, capture_output=True, text=True,
                       timeout=600)
    heaps = glob.glob(prefix + ".*.f.heap")
    if p.returncode != 0 or not heaps:
        raise RuntimeError("victim %s under jemalloc failed (%d): %s"
                           % (victim, p.returncode, p.stderr[-500:]))
    truth = truth_of(p.stdout)
    space, objs = jeprof_values(heaps[0], "bytes"), jeprof_values(heaps[0], "objects")
    out = {"_mode": "jemalloc", "_format": "heap_v2"}
    tc = tb = 0
    for site in truth:
        if site == "total":
            continue
        b, c = space.get(site, 0.0), objs.get(site, 0.0)
        out[site] = {"records": 1 if b or c else 0, "est_count": c, "est_bytes": b,
                     "est_count_lo": None, "est_count_hi": None,
                     "est_bytes_lo": None, "est_bytes_hi": None, "iv": False}
        tc += c
        tb += b
    # jeprof's Total also holds jemalloc's and the C++ runtime's own
    # allocations: the total here is the sum of the sites.
    out["total"] = {"records": 0, "est_count": tc, "est_bytes": tb, "est_count_lo": None,
                    "est_count_hi": None, "est_bytes_lo": None, "est_bytes_hi": None,
                    "iv": False}
    return truth, out


def one_run(victim, config):
    tmp = tempfile.mkdtemp(prefix="ls-accuracy.")
    try:
        if CONFIGS[config] is None:
            return jemalloc_run(tmp, victim)
        return leakscope_run(tmp, victim, CONFIGS[config])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- statistics

class SiteStats:
    def __init__(self, truth):
        self.truth = truth
        self.found, self.rb, self.rc = [], [], []
        self.cov_b, self.cov_c = [], []       # True/False, None without interval
        self.multi = 0

    def add(self, e):
        c, b = self.truth
        found = e["records"] > 0 or e["est_bytes"] > 0
        self.found.append(found)
        self.rb.append(e["est_bytes"] / b)
        self.rc.append(e["est_count"] / c)
        if e["records"] > 1:
            self.multi += 1
        for key, t, cov in (("bytes", b, self.cov_b), ("count", c, self.cov_c)):
            lo, hi = e.get("est_%s_lo" % key), e.get("est_%s_hi" % key)
            if not e["iv"]:
                cov.append(None)         # no intervals in this output at all
            elif lo is None or hi is None:
                cov.append(False)        # the site is missing: no interval
            else:
                cov.append(lo <= t <= hi)

    def found_share(self):
        return sum(self.found) / len(self.found)

    def coverage(self, cov):
        """(share of all runs, share of runs that found it) or None."""
        if any(v is None for v in cov) or not cov:
            return None
        got = [v for v, f in zip(cov, self.found) if f]
        return (sum(cov) / len(cov), sum(got) / len(got) if got else float("nan"))


def ratio_fmt(v):
    sd = statistics.stdev(v) if len(v) > 1 else 0.0
    return "%.3f (%.3f; %.3f-%.3f)" % (statistics.mean(v), sd, min(v), max(v))


def cov_fmt(c):
    if c is None:
        return "n/a"
    a, f = c
    return "%.2f (%s)" % (a, "-" if f != f else "%.2f" % f)


def human(n):
    for unit, d in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= d and n % d == 0:
            return "%d %s" % (n // d, unit)
    return "%d B" % n


# ---------------------------------------------------------------- output

def table_a(stats, configs, truth):
    L = ["| site | truth | configuration | found | est_bytes / truth: mean (sd; min-max) | "
         "est_count / truth: mean (sd; min-max) | bytes interval covers | count interval covers |",
         "|---|---|---|---|---|---|---|---|"]
    for site in list(truth):
        c, b = truth[site]
        what = "%d x %s" % (c, human(b // c)) if site != "total" else "%d blocks, %s" % (c, human(b))
        for cfg in configs:
            s = stats[cfg][site]
            L.append("| %s | %s | %s | %.2f | %s | %s | %s | %s |" % (
                site, what, cfg, s.found_share(), ratio_fmt(s.rb), ratio_fmt(s.rc),
                cov_fmt(s.coverage(s.cov_b)), cov_fmt(s.coverage(s.cov_c))))
    return L


def binom_le(k, n, p):
    """P(X <= k) for X ~ Binomial(n, p)."""
    return sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k + 1))


def table_b_summary(stats, configs, truth, runs):
    sites = [s for s in truth if s != "total"]
    L = ["| configuration | sites found in every run | found share: min / median | "
         "mean est_bytes/truth over sites: min / median / max | "
         "bytes coverage, all runs: pooled / min site | bytes coverage, runs that found the site: "
         "pooled / min site | count coverage, all runs: pooled / min site | "
         "count coverage, runs that found the site: pooled / min site |",
         "|---|---|---|---|---|---|---|---|"]
    for cfg in configs:
        st = [stats[cfg][s] for s in sites]
        fs = [s.found_share() for s in st]
        mb = [statistics.mean(s.rb) for s in st]

        def cov(which, given):
            if any(s.coverage(getattr(s, which)) is None for s in st):
                return "n/a"
            pooled = [v for s in st for v, f in zip(getattr(s, which), s.found) if f or not given]
            # min site: among sites found in at least a third of the runs
            # when given, so that a figure rests on 10 runs or more
            per = [s.coverage(getattr(s, which))[1 if given else 0] for s in st
                   if not given or sum(s.found) >= len(s.found) / 3]
            return "%.3f / %.2f" % (sum(pooled) / max(len(pooled), 1), min(per) if per else float("nan"))
        L.append("| %s | %d of %d | %.2f / %.2f | %.3f / %.3f / %.3f | %s | %s | %s | %s |" % (
            cfg, sum(1 for f in fs if f == 1.0), len(sites), min(fs), statistics.median(fs),
            min(mb), statistics.median(mb), max(mb), cov("cov_b", False), cov("cov_b", True),
            cov("cov_c", False), cov("cov_c", True)))
    return L


def checks(stats, configs, truth_a, truth_b):
    """The issue's targets, judged on this run. Coverage is judged two ways:
    over all runs (a missed site has no interval: not covered), and over
    the runs that found the site (is the interval honest when there is
    one?), the latter for sites found in at least 10 runs. A shortfall
    comes with the chance of seeing that few covering runs if the true
    coverage were 0.95: 30 runs resolve coverage to about +-0.04."""
    rows = []

    def row(what, target, measured, met):
        rows.append("| %s | %s | %s | %s |" % (what, target, measured, "yes" if met else "**no**"))
    cfg = "bytes=512K"
    if stats.get("A") and cfg in stats["A"]:
        s = stats["A"][cfg]["leak_64m"]
        err = max(abs(r - 1) for r in s.rb)
        row("A, bytes=512K: 64 MiB leak found", "every run", "%d of %d" % (sum(s.found), len(s.found)),
            all(s.found))
        row("A, bytes=512K: 64 MiB est_bytes within 1% of the truth", "every run",
            "worst %.4f%%" % (100 * err), err <= 0.01)
        s = stats["A"][cfg]["leak_1m"]
        row("A, bytes=512K: 1 MiB site found", ">= 95% of runs", "%.0f%%" % (100 * s.found_share()),
            s.found_share() >= 0.95)
    for v, truth in (("A", truth_a), ("B", truth_b)):
        if not stats.get(v):
            continue
        for c in configs:
            if CONFIGS[c] is None:
                continue
            for which, name in (("cov_b", "bytes"), ("cov_c", "count")):
                st = stats[v][c]
                if any(st[x].coverage(getattr(st[x], which)) is None for x in truth):
                    row("%s, %s: %s intervals" % (v, c, name), ">= 90%", "no intervals in the json",
                        False)
                    continue
                for given in (False, True):
                    cs = {}
                    for x in truth:
                        vals = getattr(st[x], which)
                        if given:
                            vals = [cv for cv, f in zip(vals, st[x].found) if f]
                            if len(vals) < 10:
                                continue
                        cs[x] = (sum(vals), len(vals))
                    if not cs:
                        continue
                    worst = min(cs, key=lambda k: cs[k][0] / cs[k][1])
                    k, n = cs[worst]
                    under = sum(1 for x in cs.values() if x[0] / x[1] < 0.90)
                    measured = "lowest %.2f (%s, %d of %d)" % (k / n, worst, k, n)
                    if k / n < 0.90:
                        measured += "; %d of %d sites below 0.90; P(<= %d of %d \\| 0.95) = %.2g" % (
                            under, len(cs), k, n, binom_le(k, n, 0.95))
                    row("%s, %s: %s intervals cover the truth, %s" % (
                        v, c, name, "runs that found the site" if given else "all runs"),
                        ">= 90% of runs, every site", measured, k / n >= 0.90)
    return ["| figure | target | measured | met |", "|---|---|---|---|"] + rows


def markdown(stats, configs, truths, runs, took):
    L = [TITLE + "\n"]
    L.append("Written by `make bench-accuracy` (`bench/accuracy.py --runs %d`) on %s in %.0f s, "
             "leakscope %s. Victims in `bench/accuracy.c`; each run is a fresh process, "
             "its report written at exit and read with `leakscope-translate --format json`; a "
             "leak belongs to a site when one of its frames is the site's function. "
             "`est/truth` is over all %d runs, a run that missed the site counting 0 (so an "
             "unbiased estimator averages 1). Coverage is the share of all runs whose 95%% "
             "interval holds the truth, a run that missed the site counting as not covered; "
             "in brackets, among the runs that found it. jemalloc: Debian's libjemalloc.so.2 "
             "preloaded, `MALLOC_CONF=prof:true,lg_prof_sample:19,prof_final:true`, the final "
             "profile read with `jeprof --text` (cum of the site's function); it gives no "
             "intervals.\n" % (runs, time.strftime("%Y-%m-%d %H:%M"), took,
                               git_rev(), runs))
    if "A" in stats:
        L.append("### victim A: 100,000 x 32 B, 1,000 x 4 KiB, 10 x 1 MiB, 1 x 64 MiB\n")
        L.append("Four functions, interleaved, among 400,000 churn operations (a ring of 512 "
                 "blocks of 16 B .. 256 KiB, freed and refilled). `total` is the report's "
                 "top-level estimate and interval (jemalloc: the sum of the sites).\n")
        L.extend(table_a(stats["A"], configs, truths["A"]))
        L.append("")
    if "B" in stats:
        tb = truths["B"]
        c, b = tb["total"]
        L.append("### victim B: 50 stacks of mixed sizes\n")
        L.append("50 functions (`site_00` .. `site_49`) leak 30 .. 1,303 blocks each (%d in all, "
                 "%s), sizes jemalloc size classes from 16 B to 256 KiB drawn from a fixed seeded "
                 "distribution, skewed to small blocks in three sites of four, interleaved "
                 "round-robin with one churn operation per leak. Pooled coverage is over all "
                 "%d intervals of a configuration; the min site over runs that found it is over the "
                 "sites found in a third of the runs or more; with 30 runs a site whose true coverage is "
                 "95%% falls below 0.90 with probability 0.06, so about 3 of 50 sites are "
                 "expected below 0.90 by chance alone.\n" % (c, human(b), 50 * runs))
        L.extend(table_b_summary(stats["B"], configs, tb, runs))
        L.append("")
        L.append("Totals of victim B:\n")
        L.extend(table_a({cfg: {"total": stats["B"][cfg]["total"]} for cfg in configs}, configs,
                         {"total": tb["total"]}))
        L.append("")
        L.append("<details><summary>victim B, every site</summary>\n")
        L.extend(table_a(stats["B"], configs, {k: v for k, v in tb.items() if k != "total"}))
        L.append("\n</details>\n")
    L.append("### targets (issue 12)\n")
    L.extend(checks(stats, configs, truths.get("A", {}), truths.get("B", {})))
    L.append("")
    return "\n".join(L) + "\n"


def git_rev():
    r = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                       text=True)
    return r.stdout.strip() or "?"


def splice(text):
    _splice(TITLE, text)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--victims", default="A,B")
    ap.add_argument("--configs", default=",".join(CONFIGS),
                    help="comma-separated, of: " + ", ".join(CONFIGS))
    ap.add_argument("--jobs", type=int, default=max(1, min(4, os.cpu_count() or 1)))
    ap.add_argument("--write", action="store_true", help="put the tables in bench/RESULTS.md")
    ap.add_argument("--json", help="also dump every run's estimates to this file")
    ap.add_argument("--from-json", help="no runs: the tables from a --json dump")
    args = ap.parse_args()
    victims = [v for v in args.victims.split(",") if v]
    configs = [c for c in args.configs.split(",") if c]
    for c in configs:
        if c not in CONFIGS:
            ap.error("unknown configuration %r" % c)
    for f in (LIB, TRANSLATE, VICTIM):
        if not os.path.exists(f) and not args.from_json:
            sys.exit("accuracy: %s is missing (make bench-accuracy builds it)" % f)
    if any(CONFIGS[c] is None for c in configs) and not (os.path.exists(JEMALLOC)
                                                         and shutil.which("jeprof")):
        sys.exit("accuracy: jemalloc's profiler needs libjemalloc2 and jeprof (libjemalloc-dev)")

    t0 = time.time()
    stats, truths, raw = {}, {}, []

    def add(v, c, i, truth, est):
        if v in truths and truths[v] != truth:
            raise RuntimeError("victim %s printed another truth" % v)
        truths[v] = truth
        st = stats.setdefault(v, {}).setdefault(c, {})
        for site, tr in truth.items():
            st.setdefault(site, SiteStats(tr)).add(est[site])
        raw.append({"victim": v, "config": c, "run": i, "truth": truth, "estimates": est})
    if args.from_json:
        with open(args.from_json) as f:
            for r in json.load(f):
                if r["victim"] in victims and r["config"] in configs:
                    add(r["victim"], r["config"], r["run"],
                        {k: tuple(v) for k, v in r["truth"].items()}, r["estimates"])
        args.runs = max(r["run"] for r in raw) + 1
    else:
        jobs = [(v, c, i) for v in victims for c in configs for i in range(args.runs)]
        with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as ex:
            futs = {ex.submit(one_run, v, c): (v, c, i) for v, c, i in jobs}
            done = 0
            for fut in concurrent.futures.as_completed(futs):
                v, c, i = futs[fut]
                add(v, c, i, *fut.result())
                done += 1
                if done % 20 == 0 or done == len(jobs):
                    log("  accuracy: %d/%d runs (%.0f s)" % (done, len(jobs), time.time() - t0))
    for v in stats:
        for c in stats[v]:
            multi = {s: x.multi for s, x in stats[v][c].items() if x.multi and s != "total"}
            if multi:
                log("note: %s %s: sites with more than one record in some runs: %r" % (v, c, multi))
    # Sites in the victims' order, configurations in the order asked.
    text = markdown(stats, configs, truths, args.runs, time.time() - t0)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(raw, f)
    if args.write:
        splice(text)


if __name__ == "__main__":
    main()
