# SPDX-License-Identifier: MIT
"""tests/integration/test_verdict.py: the verdicts of issue 13 end to end.
The verdict victim (tests/victims/verdict.c) has four stacks of known
shape: a steady leak, an LRU cache with hot entries, a cache filled once
at the start and a burst mostly freed later. Through the control port
and the translator each must get its verdict, with its series, allocs and
frees, in json, text, --verdict, --verdict-summary and html.

Never flaky: the verdicts are 5-sigma tests (symbolize/verdict.c), and the
victim's signals are far past them: at sampling=10 over 10 s (bytes=640 over 8 s) the leak's
second-half growth is about 35 standard errors, the caches' and the
burst's shortfall against a steady rate 35 to 60; the no-growth
statistic of a plateau is a conservative z score (standard deviation at
most 1), so it passes 5 with probability below 3e-7. No timing is
asserted: the window's length only sets how much evidence there is."""
import json
import os
import re
import subprocess
import tempfile
import time

from lslib import BUILD, TRANSLATE, Host, Tap, translate, within

t = Tap()
VERDICT = os.path.join(BUILD, "tests", "victims", "verdict")
STACKS = ("leak_steady", "lru_insert", "cache_fill", "burst_alloc")


def by_function(d):
    """The four stacks' leaks, by the function that allocated."""
    out = {}
    for l in d["leaks"]:
        names = [fr.get("function") or "" for fr in l["frames"]]
        for s in STACKS:
            if any(n == s or n.startswith(s + "(") for n in names):
                out[s] = l
    return out


def run(query, seconds, late=0.0):
    """Runs the victim for seconds + late, with the window opened late
    seconds after the start; returns the leak-off report."""
    h = Host([VERDICT])
    try:
        if late:
            h.send("run %g" % (seconds + late))
            time.sleep(late)
            st, body = h.get("/leak-on?" + query)
            t.ok(st == 200, "leak-on?%s answers 200 (late)" % query, body)
            h.wait_done("run")
        else:
            st, body = h.get("/leak-on?" + query)
            t.ok(st == 200, "leak-on?%s answers 200" % query, body)
            h.cmd("run %g" % seconds)
        st, rep = h.get("/leak-off")
        t.ok(st == 200, "leak-off answers 200")
        h.stop()
        return rep
    finally:
        h.cleanup()


def translate_raw(rep, *args):
    with tempfile.NamedTemporaryFile("w", suffix=".report", delete=False) as f:
        f.write(rep)
        path = f.name
    try:
        r = subprocess.run([TRANSLATE, *args, path], capture_output=True, text=True)
        return r.returncode, r.stdout, r.stderr
    finally:
        os.unlink(path)


def check_series(rep, d, leaks, mode):
    hdr = re.search(r"^series_bucket: ([0-9.]+)$", rep, re.M)
    t.ok(hdr is not None and float(hdr.group(1)) > 0, "%s: the report has series_bucket" % mode)
    window = float(re.search(r"^window_seconds: ([0-9.]+)$", rep, re.M).group(1))
    for name, l in leaks.items():
        s = l["series"]
        ts = [p[0] for p in s]
        t.ok(len(s) >= 16 and all(a < b for a, b in zip(ts, ts[1:])) and ts[-1] <= window + 1e-6
             and ts[-1] > window - float(hdr.group(1)),
             "%s %s: a series of %d points >= 16, in time order, up to the window's end" % (mode, name, len(s)))
        # the victim is idle when the window closes: the series' last
        # point is the live estimate of the report, exactly
        # (to the rounding of the preload's float sums in bytes mode)
        t.ok(abs(s[-1][1] - l["est_count"]) <= 1e-3 * l["est_count"] + 40,
             "%s %s: the series ends at est_count (%s vs %d)" % (mode, name, s[-1][1], l["est_count"]))
        t.ok(l["allocs"] >= l["count"] and l["allocs"] - l["frees"] == l["count"],
             "%s %s: allocs %d - frees %d = the sampled live count %d"
             % (mode, name, l["allocs"], l["frees"], l["count"]))
    tot = d.get("verdicts", {})
    t.ok(sum(tot.values()) == len(d["leaks"]) and d["allocs"] == sum(l["allocs"] for l in d["leaks"]),
         "%s: the totals count every leak's verdict and allocs: %s" % (mode, tot))


def full_window(query, mode, seconds):
    rep = run(query, seconds)
    d = translate(rep)
    leaks = by_function(d)
    t.ok(set(leaks) == set(STACKS), "%s: the four stacks are in the report: %s" % (mode, sorted(leaks)))
    want = {"leak_steady": "growing", "lru_insert": "plateau", "cache_fill": "plateau", "burst_alloc": "plateau"}
    for name, v in want.items():
        l = leaks.get(name, {})
        t.ok(l.get("verdict") == v and l.get("verdict_reason") is None,
             "%s %s: %s (got %s, z_growing %s, z_plateau %s)"
             % (mode, name, v, l.get("verdict"), l.get("z_growing"), l.get("z_plateau")))
    if set(leaks) != set(STACKS):
        return rep, d
    check_series(rep, d, leaks, mode)
    t.ok(leaks["leak_steady"]["frees"] == 0 and leaks["cache_fill"]["frees"] == 0,
         "%s: the leak and the filled cache free nothing" % mode)
    lru, burst = leaks["lru_insert"], leaks["burst_alloc"]
    t.ok(lru["frees"] > 0.5 * lru["allocs"], "%s: the LRU cache frees most of what it allocates (%d of %d)"
         % (mode, lru["frees"], lru["allocs"]))
    t.ok(0.9 * burst["allocs"] < burst["frees"] < burst["allocs"],
         "%s: the burst frees about 95%% (%d of %d)" % (mode, burst["frees"], burst["allocs"]))
    t.ok(leaks["leak_steady"]["growth"] > 0 and burst["growth"] < 0,
         "%s: growth is positive for the leak, negative for the burst" % mode)
    return rep, d


def outputs(rep):
    rc, out, err = translate_raw(rep)
    heads = [l for l in out.split("\n") if l.startswith("leak ")]
    t.ok(rc == 0 and heads and all(re.search(r", (growing|plateau|undecided) \(", h) for h in heads),
         "text: every leak's headline has its verdict", err)
    t.ok(any("growing (+" in h for h in heads) and any("% of " in h and "sampled allocations freed" in h
                                                         for h in heads),
         "text: the growth and the turnover are in the headlines")
    rc, out, err = translate_raw(rep, "--verdict", "growing", "--format", "json")
    g = json.loads(out) if rc == 0 else {"leaks": []}
    t.ok(rc == 0 and g["leaks"] and all(l["verdict"] == "growing" for l in g["leaks"]) and
         set(by_function(g)) == {"leak_steady"}, "--verdict growing keeps the leak only", err)
    rc, out, err = translate_raw(rep, "--verdict", "plateau")
    t.ok(rc == 0 and "leak_steady" not in out and "lru_insert" in out and "cache_fill" in out,
         "--verdict plateau (text) keeps the caches, not the leak")
    rc, out, err = translate_raw(rep, "--verdict", "shrinking")
    t.ok(rc == 2 and "--verdict" in err, "--verdict with no verdict's name is a usage error")
    rc, out, err = translate_raw(rep, "--verdict-summary")
    m = re.fullmatch(r"(\d+) stacks? growing, (\d+) plateau, (\d+) undecided\n", out)
    t.ok(rc == 0 and m is not None and int(m.group(1)) >= 1 and int(m.group(2)) >= 3,
         "--verdict-summary: one line (%r)" % out)
    rc, out, err = translate_raw(rep, "--format", "html")
    t.ok(rc == 0 and "<th data-t=\"s\">verdict</th><th data-t=\"n\">growth (/s)</th>" in out and
         out.count("<span class=\"spark\">") == out.count("<tr><td") and "<td data-v=\"growing\"" in out
         and out.count("<svg") == 1,
         "html: verdict and growth columns, a sparkline per leak")
    rc, out, err = translate_raw(rep, "--format", "svg", "--colour", "verdict")
    t.ok(rc == 0 and "#dc3228" in out and "#4678c8" in out,
         "svg --colour verdict: red for the growing stack, blue for the plateaus")


def late_window():
    rep = run("bytes=640", 8, late=2.0)
    d = translate(rep)
    leaks = by_function(d)
    t.ok(leaks.get("leak_steady", {}).get("verdict") == "growing",
         "late window, bytes=640: the leak is growing (%s)" % leaks.get("leak_steady", {}).get("verdict"))
    t.ok(leaks.get("lru_insert", {}).get("verdict") == "plateau",
         "late window: the LRU cache refills and holds: plateau (%s)" % leaks.get("lru_insert", {}).get("verdict"))
    t.ok("cache_fill" not in leaks and "burst_alloc" not in leaks,
         "late window: the cache filled and the burst born before it are not in it")


def base_diff():
    """--base: two reports of one window, 2 s of the victim apart: the
    leak grew by what it leaked in between, the caches it refilled too."""
    h = Host([VERDICT])
    try:
        h.get("/leak-on?sampling=10")
        h.cmd("run 2")
        st, old = h.get("/leak-report")
        h.cmd("run 2")
        st, new = h.get("/leak-off")
        h.stop()
    finally:
        h.cleanup()
    with tempfile.NamedTemporaryFile("w", suffix=".report", delete=False) as f:
        f.write(old)
        base = f.name
    try:
        d = translate(new, "--base", base)
        rc, text, err = translate_raw(new, "--base", base)
        rc2, html, _ = translate_raw(new, "--base", base, "--format", "html")
    finally:
        os.unlink(base)
    leaks = by_function(d)
    lk = leaks.get("leak_steady", {})
    t.ok(d.get("base_processes") == 1 and set(leaks) == set(STACKS) and
         all(l["in_base"] and l["in_new"] for l in leaks.values()),
         "--base: every stack of the new report matched in the old one (%s)" % sorted(leaks))
    t.ok(lk and within(lk["delta_count"], 4000, 10) and lk["est_count"] == lk["delta_est_count"] > 0,
         "--base: the leak grew by the 4000 blocks it leaked in between (%s sampled)" % lk.get("delta_count"))
    t.ok(rc == 0 and "since the base" in text and rc2 == 0 and "<td" in html,
         "--base in text (growth in the headlines) and html", err)


rep, d = full_window("sampling=10", "sampling=10", 10)
outputs(rep)
full_window("bytes=640", "bytes=640", 8)
late_window()
base_diff()
t.done()
