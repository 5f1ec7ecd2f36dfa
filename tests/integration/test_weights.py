# SPDX-License-Identifier: MIT
"""tests/integration/test_weights.py: both sampling modes against a victim
with known leaks of mixed sizes (docs/weights.md, issue 12).

One stack (leak_mixed) leaks 200,000 x 16 B, 20,000 x 200 B, 2,000 x 4 KiB
and 1,000 x 64 KiB, interleaved; in byte mode another (leak_malloc) leaks
4 x 8 MiB, each sampled with certainty. Every estimate and every variance
estimate of the report is checked against the truth within 5 standard
deviations, the deviations computed from the Horvitz-Thompson formulas of
docs/weights.md for the known population:

  est_count = sum 1/p        Var = sum (1-p)/p
  est_bytes = sum s/p        Var = sum (1-p) s^2/p
  var_count = sum (1-p)/p^2  (an unbiased estimate of the first variance:
                              mean sum (1-p)/p, its own Var sum (1-p)^3/p^3)
  var_bytes likewise with s^2

with p = 1/N in count mode (sampling=10) and p = 1 - exp(-s/B) in byte mode
(bytes=8K). The sizes are chosen so that every size has tens of expected
samples or more in both modes, so each sum is close to normal: the test
computes, for each of these checks, the Chernoff bound of the chance that
it fails on a correct preload (exact for sums of independent weighted
Bernoulli draws, and loose: a normal's 5-sigma tails are 6e-7, their
Chernoff bound 7e-6), prints it, and checks that it stays below 1e-4
(about 2e-5 in fact), so the test does not flake.

Also: the 400s of /leak-on for bad input, /leak-status's mode fields, the
json's interval fields (lo <= est <= hi, per leak and at the top level),
and every output format's totals against the json's: the text headline,
folded, html, svg and pprof (Google's pprof and protoc), and the preload's
own pprof outputs."""
import gzip
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

from lslib import BUILD, LIB, ROOT, TRANSLATE, VICTIM, Host, Tap, leaks_at, tool, translate

sys.path.insert(0, os.path.join(ROOT, "tests", "golden"))
from readers import PPROF, folded_tree, parse_html, pprof_top, svg_frames  # noqa: E402

t = Tap()
SIG = 5.0
MIX = [(16, 200000), (200, 20000), (4096, 2000), (65536, 1000)]
BIG = (8 << 20, 4)
N = 10
B = 8192
TMP = tempfile.mkdtemp(prefix="ls-weights.")


def one_line(body):
    return body.endswith("\n") and body.count("\n") == 1 and body.startswith("error: ")


# ---------------------------------------------------------------- the truth

def p_of(mode, s):
    return 1.0 / N if mode == "count" else -math.expm1(-s / B)


def moments(mode, mix):
    """{name: (mean, sd)} of est_count, est_bytes, var_count, var_bytes for
    the population mix [(size, count)], Poisson sampling with p_of."""
    m = {"est_count": [0.0, 0.0], "est_bytes": [0.0, 0.0],
         "var_count": [0.0, 0.0], "var_bytes": [0.0, 0.0]}
    for s, k in mix:
        p = p_of(mode, s)
        q = 1.0 - p
        for name, x in (("count", 1.0), ("bytes", float(s))):
            # estimate: sum over sampled of x/p
            m["est_" + name][0] += k * x
            m["est_" + name][1] += k * q * x * x / p
            # variance estimate: sum over sampled of a/p with a = q x^2 / p
            a = q * x * x / p
            m["var_" + name][0] += k * a
            m["var_" + name][1] += k * q * a * a / p
    return {k: (v[0], math.sqrt(v[1])) for k, v in m.items()}


def terms(mode, mix, what):
    """The population of one check as (k, w, p): k allocations each adding
    w with probability p (sampled) and 0 otherwise."""
    out = []
    for s, k in mix:
        p = p_of(mode, s)
        x = 1.0 if what.endswith("count") else float(s)
        w = x / p if what.startswith("est_") else (1.0 - p) * x * x / (p * p)
        if p < 1.0:
            out.append((k, w, p))
    return out


def chernoff(items, sigmas=SIG):
    """Chernoff bound of P(|X - EX| >= sigmas sd) for X the sum over items
    (k, w, p) of k independent w Bernoulli(p): the two tails' bounds
    min over theta of exp(K(theta) - theta t), K the centred cumulant
    generating function, summed."""
    var = sum(k * w * w * p * (1 - p) for k, w, p in items)
    if var == 0:
        return 0.0
    t = sigmas * math.sqrt(var)
    total = 0.0
    for side in (1.0, -1.0):
        best = 0.0
        top = 60.0 / max(w for k, w, p in items)
        for i in range(1, 3001):
            th = top * i / 3000.0
            f = -th * t
            for k, w, p in items:
                a = side * th * w
                # log(1 - p + p e^a) - p a, computed without overflow
                m = max(a, 0.0)
                f += k * (m + math.log((1 - p) * math.exp(-m) + p * math.exp(a - m)) - p * a)
            best = min(best, f)
        total += math.exp(best)
    return total


def design_bounds():
    """The chance of a false failure of each statistical check, bounded."""
    worst = 0.0
    for mode in ("count", "bytes"):
        for what in ("est_count", "est_bytes", "var_count", "var_bytes"):
            b = chernoff(terms(mode, MIX, what))
            print("# %s %s: a correct preload fails the 5-sigma check with chance <= %.1e"
                  % (mode, what, b))
            worst = max(worst, b)
    t.ok(worst < 1e-4, "the mix keeps every 5-sigma check's chance of a false failure below 1e-4 "
         "(Chernoff bound, worst %.1e)" % worst)


def check_5sigma(what, got, mean, sd, slack=2.0):
    """|got - mean| <= 5 sd, plus the report's rounding (slack)."""
    ok = got is not None and abs(got - mean) <= SIG * sd + slack
    t.ok(ok, "%s: %s within 5 sigma of %.0f (sd %.0f, %.2f sigma)"
         % (what, "missing" if got is None else "%.0f" % got, mean, sd,
            0 if got is None or sd == 0 else (got - mean) / sd))


# ---------------------------------------------------------------- reading

def parse_records(text):
    """The leak: records of a report, in order, as dicts of their fields."""
    out = []
    for line in text.split("\n"):
        if line.startswith("leak: "):
            kv = line[6:].split(" @ ")[0]
            out.append(dict(x.split("=", 1) for x in kv.split()))
    return out


def header(text):
    h = {}
    for line in text.split("\n"):
        if line.startswith("map: ") or line.startswith("leak: "):
            break
        if ": " in line:
            k, v = line.split(": ", 1)
            h[k] = v
    return h


def site(text, rep, fn):
    """Sums of the records whose innermost own frame is fn: est_* from the
    json, var_* from the report's records (the json has them when it does)."""
    recs = parse_records(text)
    idx = [i for i, lk in enumerate(rep["leaks"]) if lk in leaks_at(rep, fn)]
    s = {"records": len(idx)}
    for k in ("count", "bytes", "est_count", "est_bytes"):
        s[k] = sum(rep["leaks"][i][k] for i in idx)
    for k in ("var_count", "var_bytes"):
        vals = [rep["leaks"][i].get(k, recs[i].get(k) if i < len(recs) else None) for i in idx]
        s[k] = sum(float(v) for v in vals) if idx and all(v is not None for v in vals) else None
    for k in ("est_count_lo", "est_count_hi", "est_bytes_lo", "est_bytes_hi"):
        vals = [rep["leaks"][i].get(k) for i in idx]
        s[k] = vals[0] if len(vals) == 1 else None
    return s


def run(args, **kw):
    return subprocess.run(args, capture_output=True, timeout=120, **kw)


# ---------------------------------------------------------------- checks

def check_estimates(mode, text, rep, truth_mix, label):
    s = site(text, rep, "leak_mixed")
    t.ok(s["records"] == 1, "%s: leak_mixed is one record (%d)" % (label, s["records"]))
    mo = moments(mode, truth_mix)
    for k in ("est_count", "est_bytes", "var_count", "var_bytes"):
        check_5sigma("%s: leak_mixed %s" % (label, k), s[k], *mo[k])
    if mode == "count":
        t.ok(s["est_count"] == s["count"] * N and s["est_bytes"] == s["bytes"] * N,
             "%s: est_count = count x N and est_bytes = bytes x N exactly" % label)
        t.ok(s["var_count"] is not None and abs(s["var_count"] - s["count"] * N * (N - 1)) <= 1,
             "%s: var_count = count x N(N-1) (%s)" % (label, s["var_count"]))
    return s


def check_intervals(rep, label):
    fields = ("est_count_lo", "est_count_hi", "est_bytes_lo", "est_bytes_hi")
    have = all(f in rep for f in fields) and all(all(f in lk for f in fields) for lk in rep["leaks"])
    t.ok(have, "%s: json has est_count_lo/hi and est_bytes_lo/hi per leak and at the top" % label)
    if not have:
        return
    bad = []
    for i, e in enumerate([rep] + rep["leaks"]):
        for k in ("count", "bytes"):
            lo, est, hi = e["est_%s_lo" % k], e["est_" + k], e["est_%s_hi" % k]
            if not (0 <= lo <= est <= hi):
                bad.append("%s %d: %s <= %s <= %s" % (k, i, lo, est, hi))
    t.ok(not bad, "%s: lo <= est <= hi for every interval" % label, "; ".join(bad[:5]))
    # The top level's estimates are the sums of the leaks'.
    for k in ("est_count", "est_bytes"):
        tot = sum(lk[k] for lk in rep["leaks"])
        t.ok(abs(rep[k] - tot) <= len(rep["leaks"]), "%s: top-level %s %s = sum of the leaks' %s"
             % (label, k, rep[k], tot))


def top_est(rep):
    return (rep.get("est_count", rep["estimated"]["count"]),
            rep.get("est_bytes", rep["estimated"]["bytes"]))


UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def shown(text, unit, value):
    """text (in unit, as many decimals as it has) is value rounded."""
    dec = len(text.split(".")[1]) if "." in text else 0
    return abs(float(text) - value / UNITS[unit]) <= 0.5 * 10 ** -dec + 1e-9


def check_formats(path, rep, label, mode):
    """Every output format's totals against the json's."""
    ec, eb = top_est(rep)
    n = len(rep["leaks"])
    # text: the headline's estimated bytes, and each leak's headline
    r = run([TRANSLATE, path], text=True)
    head = r.stdout.split("\n")[0]
    m = re.search(r"(\d+) bytes estimated", head)
    t.ok(r.returncode == 0 and m and int(m.group(1)) == eb,
         "%s: text headline says %s bytes estimated, the json %d" % (label, m and m.group(1), eb),
         head)
    # "N allocations (95%: LO-HI), B bytes estimated (95%: X-Y UNIT)": the
    # counts' bounds exact, the bytes' rounded to UNIT.
    iv = r"(\d+) allocations(?: \(95%: (\d+)-(\d+)\))?, (\d+) bytes estimated" \
         r"(?: \(95%: ([\d.]+)-([\d.]+) (B|kB|MB|GB)\))?"
    lines = re.findall(r"^leak \d+: " + iv, r.stdout, re.M)
    t.ok([(int(x[0]), int(x[3])) for x in lines] == [(lk["est_count"], lk["est_bytes"])
                                                      for lk in rep["leaks"]],
         "%s: each leak's text headline gives its json est_count and est_bytes" % label)
    if "est_bytes_lo" in rep:
        bad = []
        for x, e in zip([re.search(iv, head).groups()] + lines, [rep] + rep["leaks"]):
            if not x[1] or (int(x[1]), int(x[2])) != (e["est_count_lo"], e["est_count_hi"]):
                bad.append("count %r against [%s, %s]" % (x[:3], e["est_count_lo"], e["est_count_hi"]))
            if not x[4] or not (shown(x[4], x[6], e["est_bytes_lo"]) and
                                shown(x[5], x[6], e["est_bytes_hi"])):
                bad.append("bytes %r against [%s, %s]" % (x[4:], e["est_bytes_lo"], e["est_bytes_hi"]))
        t.ok(not bad, "%s: the text headlines show the json's 95%% intervals" % label,
             "; ".join(bad[:4]))
    # folded: the values add up to the leaks' est_bytes
    r = run([TRANSLATE, "--format", "folded", path], text=True)
    vals = [int(l.rsplit(" ", 1)[1]) for l in r.stdout.strip().split("\n") if l]
    t.ok(r.returncode == 0 and abs(sum(vals) - eb) <= n,
         "%s: folded values sum to %d, the json %d" % (label, sum(vals), eb))
    # svg: the root frame holds every byte and allocation
    r = run([TRANSLATE, "--format", "svg", path], text=True)
    frames = svg_frames(ET.fromstring(r.stdout))
    t.ok(frames and abs(frames[0]["bytes"] - eb) <= n and abs(frames[0]["count"] - ec) <= n,
         "%s: svg root frame %s bytes, %s allocations; json %d, %d"
         % (label, frames and frames[0]["bytes"], frames and frames[0]["count"], eb, ec))
    # html: the table's estimated bytes and counts
    r = run([TRANSLATE, "--format", "html", path], text=True)
    page = parse_html(r.stdout)
    rows = page.rows
    sums = [sum(int(float(row[i]["v"] if row[i]["v"] is not None else row[i]["text"].replace(",", "")))
                for row in rows) for i in (1, 2)] if rows else [None, None]
    t.ok(len(rows) == n and sums[0] is not None and abs(sums[0] - eb) <= n and abs(sums[1] - ec) <= n,
         "%s: html table sums to %s bytes, %s allocations over %d rows; json %d, %d"
         % (label, sums[0], sums[1], len(rows), eb, ec))
    if "est_bytes_lo" in rep:
        want = [str(rep["leaks"][0]["est_bytes_lo"]), str(rep["leaks"][0]["est_bytes_hi"])]
        text = " ".join(c["text"] + " " + str(c["v"]) for c in rows[0]) if rows else ""
        t.ok(all(w in text.replace(",", "") for w in want),
             "%s: the html table shows the first leak's interval %s" % (label, want), text[:300])
    # pprof: Google's pprof's totals, and protoc's period
    pb = os.path.join(TMP, label.replace(" ", "_") + ".pb.gz")
    r = run([TRANSLATE, "--format", "pprof", path])
    with open(pb, "wb") as f:
        f.write(r.stdout)
    if os.path.exists(PPROF):
        space, total, _ = pprof_top(pb, "inuse_space")
        objs, ototal, _ = pprof_top(pb, "inuse_objects")
        t.ok(total is not None and abs(total - eb) <= n and abs(ototal - ec) <= n,
             "%s: pprof -top totals %s B, %s objects; json %d, %d" % (label, total, ototal, eb, ec))
    proto = os.path.join(ROOT, "symbolize", "pprof", "profile.proto")
    d = run([tool("protoc") or "protoc", "--proto_path=" + os.path.dirname(proto),
             "--decode=perftools.profiles.Profile", os.path.basename(proto)],
            input=gzip.decompress(r.stdout))
    dec = d.stdout.decode(errors="replace")
    strings = re.findall(r'^string_table: "(.*)"$', dec, re.M)
    pt = re.search(r"^period_type \{\s*type: (\d+)\s*unit: (\d+)\s*\}", dec, re.M)
    per = re.search(r"^period: (\d+)$", dec, re.M)
    want = ("space", "bytes", B) if mode == "bytes" else ("objects", "count", N)
    got = (strings[int(pt.group(1))], strings[int(pt.group(2))], int(per.group(1))) if pt and per \
        else None
    t.ok(d.returncode == 0 and got == want, "%s: profile.proto period_type %s/%s, period %s"
         % (label, *(got or ("?", "?", "?"))), "want %r" % (want,))


def check_preload_pprof(h, label, mode):
    """The preload's own pprof outputs carry the same estimates as its
    report (the window is idle between the requests)."""
    st, text = h.get("/leak-report")
    rep = translate(text)
    ec, eb = top_est(rep)
    n = len(rep["leaks"])
    st, heap = h.get("/leak-report?format=pprof")
    path = os.path.join(TMP, label.replace(" ", "_") + ".heap")
    with open(path, "w") as f:
        f.write(heap)
    r = run([tool("google-pprof"), "--text", "--show_bytes", VICTIM, path], text=True)
    m = re.search(r"^Total: (\d+) B", r.stdout, re.M)
    # google-pprof rescales sampled heap profiles by its own rule; the
    # preload writes what makes that rule give back the estimates.
    t.ok(st == 200 and m is not None and abs(int(m.group(1)) - eb) <= max(n, 1e-3 * eb),
         "%s: google-pprof reads /leak-report?format=pprof as %s B; the report %d B"
         % (label, m and m.group(1), eb), r.stdout[:300] + r.stderr[-300:])
    raw = gzip.decompress(run(["curl", "-s", h.url + "/debug/pprof/heap"]).stdout)
    proto = os.path.join(ROOT, "symbolize", "pprof", "profile.proto")
    dec = run([tool("protoc") or "protoc", "--proto_path=" + os.path.dirname(proto),
               "--decode=perftools.profiles.Profile", os.path.basename(proto)],
              input=raw).stdout.decode(errors="replace")
    vals = [int(x) for x in re.findall(r"^\s+value: (-?\d+)$", dec, re.M)]
    space = sum(vals[1::2])
    strings = re.findall(r'^string_table: "(.*)"$', dec, re.M)
    pt = re.search(r"^period_type \{\s*type: (\d+)\s*unit: (\d+)\s*\}", dec, re.M)
    per = re.search(r"^period: (\d+)$", dec, re.M)
    want = ("space", "bytes", B) if mode == "bytes" else ("objects", "count", N)
    got = (strings[int(pt.group(1))], strings[int(pt.group(2))], int(per.group(1))) if pt and per \
        else None
    t.ok(abs(space - eb) <= n and got == want,
         "%s: /debug/pprof/heap holds %d B (report %d), period_type %s, period %s"
         % (label, space, eb, got and "/".join(got[:2]), got and got[2]), "want %r" % (want,))


# ---------------------------------------------------------------- windows

def status(h):
    st, body = h.get("/leak-status")
    return json.loads(body) if st == 200 else {}


def spec(mix):
    return ",".join("%d:%d" % sk for sk in mix)


def window(mode):
    label = "sampling=%d" % N if mode == "count" else "bytes=8K"
    h = Host([VICTIM])
    try:
        h.cmd("churn 10 100")   # stdio's buffers exist before the window
        q = "sampling=%d" % N if mode == "count" else "bytes=8K"
        st, body = h.get("/leak-on?" + q)
        t.ok(st == 200, "%s: /leak-on?%s answers 200" % (label, q), body)
        s = status(h)
        if mode == "count":
            t.ok(s.get("on") is True and s.get("mode") == "count" and s.get("sampling") == N
                 and s.get("sampling_bytes") in (None, 0),
                 "%s: /leak-status says mode count, sampling %d" % (label, N),
                 "mode %r sampling %r sampling_bytes %r" % (s.get("mode"), s.get("sampling"),
                                                            s.get("sampling_bytes")))
        else:
            t.ok(s.get("on") is True and s.get("mode") == "bytes" and s.get("sampling_bytes") == B,
                 "%s: /leak-status says mode bytes, sampling_bytes %d" % (label, B),
                 "mode %r sampling %r sampling_bytes %r" % (s.get("mode"), s.get("sampling"),
                                                            s.get("sampling_bytes")))
        h.cmd("churn 2000 300")
        h.cmd("mixed " + spec(MIX))
        if mode == "bytes":
            h.cmd("leak malloc %d %d" % (BIG[1], BIG[0]))
        h.cmd("churn 2000 300")
        check_preload_pprof(h, label, mode)
        st, text = h.get("/leak-off")
        path = os.path.join(TMP, label + ".report")
        with open(path, "w") as f:
            f.write(text)
        hd = header(text)
        t.ok(st == 200 and text.startswith("format: leakscope-report 2\n"),
             "%s: the report is format 2" % label, text[:40])
        if mode == "count":
            t.ok(hd.get("mode") == "count" and hd.get("sampling") == str(N)
                 and "sampling_bytes" not in hd, "%s: header mode: count, sampling: %d" % (label, N))
        else:
            t.ok(hd.get("mode") == "bytes" and hd.get("sampling_bytes") == str(B)
                 and "sampling" not in hd, "%s: header mode: bytes, sampling_bytes: %d" % (label, B))
        t.ok("variance" in hd, "%s: header has the variance line" % label)
        rep = translate(text)
        check_estimates(mode, text, rep, MIX, label)
        if mode == "bytes":
            # 8 MiB at B = 8K: p = 1 - exp(-1024) = 1, weight 1, variance 0.
            big = site(text, rep, "leak_malloc")
            t.ok(big["records"] == 1 and big["count"] == BIG[1]
                 and abs(big["est_count"] - BIG[1]) <= 1 and abs(big["est_bytes"] - BIG[0] * BIG[1]) <= 1,
                 "%s: 4 x 8 MiB, each sampled with certainty, estimated exactly (%s, %s)"
                 % (label, big["est_count"], big["est_bytes"]))
            t.ok(big["var_bytes"] is not None and big["var_bytes"] <= 1 and
                 big["est_bytes_lo"] is not None and
                 big["est_bytes_lo"] <= BIG[0] * BIG[1] <= big["est_bytes_hi"] and
                 big["est_bytes_hi"] - big["est_bytes_lo"] <= 2,
                 "%s: and its interval is [E, E]: var %s, [%s, %s]"
                 % (label, big["var_bytes"], big["est_bytes_lo"], big["est_bytes_hi"]))
        check_intervals(rep, label)
        check_formats(path, rep, label, mode)
    finally:
        t.ok(h.stop() == 0, "%s: the victim exits cleanly" % label, h.stderr()[-300:])
        h.cleanup()


def bad_input():
    h = Host([VICTIM])
    try:
        for q in ("sampling=10&bytes=8K", "bytes=8K&sampling=10", "", "bytes=0", "bytes=2G",
                  "bytes=12Q", "bytes=", "bytes=-1", "bytes=1.5K", "bytes=1025M", "bytes=K"):
            st, body = h.get("/leak-on" + ("?" + q if q else ""))
            t.ok(st == 400 and one_line(body), "/leak-on?%s -> 400 with a one-line reason" % q,
                 "got %d %r" % (st, body))
        t.ok(status(h).get("on") is False, "no window opened by any of them")
        for q, want in (("bytes=1", 1), ("bytes=1G", 1 << 30), ("bytes=512K", 512 << 10),
                        ("bytes=3M", 3 << 20), ("bytes=4096", 4096)):
            st, body = h.get("/leak-on?" + q)
            s = status(h)
            t.ok(st == 200 and s.get("sampling_bytes") == want and s.get("mode") == "bytes",
                 "/leak-on?%s opens a byte window, sampling_bytes %d" % (q, want),
                 "%d %r; status %r" % (st, body, {k: s.get(k) for k in ("mode", "sampling_bytes")}))
            h.get("/leak-off")
        r = run([os.path.join(BUILD, "leakscope"), "on", "--port", str(h.port), "--bytes", "64K"],
                text=True)
        s = status(h)
        t.ok(r.returncode == 0 and s.get("mode") == "bytes" and s.get("sampling_bytes") == 64 << 10,
             "leakscope on --bytes 64K opens a byte window", r.stdout + r.stderr)
        r = run([os.path.join(BUILD, "leakscope"), "on", "--port", str(h.port), "--bytes", "12Q"],
                text=True)
        t.ok(r.returncode != 0 and status(h).get("sampling_bytes") == 64 << 10,
             "leakscope on --bytes 12Q fails and leaves the window as it was (exit %d)" % r.returncode)
        h.get("/leak-off")
    finally:
        h.stop()
        h.cleanup()


def env_window():
    h = Host([VICTIM], env={"LEAKSCOPE_SAMPLING_BYTES": "512K"})
    try:
        s = status(h)
        t.ok(s.get("on") is True and s.get("mode") == "bytes" and s.get("sampling_bytes") == 512 << 10,
             "LEAKSCOPE_SAMPLING_BYTES=512K opens a byte window at start",
             "%r" % {k: s.get(k) for k in ("on", "mode", "sampling", "sampling_bytes")})
        h.cmd("leak malloc 2 %d" % (16 << 20))
        rep = translate(h.get("/leak-off")[1])
        big = sum(lk["est_bytes"] for lk in leaks_at(rep, "leak_malloc"))
        # 16 MiB at B = 512K: p = 1 - exp(-32), weight 1 + 1e-14.
        t.ok(rep.get("mode") == "bytes" and abs(big - 2 * (16 << 20)) <= 2,
             "and its report holds the 2 x 16 MiB, sampled with certainty, as %s bytes" % big)
    finally:
        h.stop()
        h.cleanup()
    h = Host([VICTIM], env={"LEAKSCOPE_SAMPLING_BYTES": "12Q"})
    try:
        s = status(h)
        t.ok(s.get("on") is False and "LEAKSCOPE_SAMPLING_BYTES" in h.stderr(),
             "a bad LEAKSCOPE_SAMPLING_BYTES is logged and opens no window", h.stderr()[-300:])
    finally:
        h.stop()
        h.cleanup()


def part(fn, *args):
    """Runs one part; an exception is a failure of that part, not the end."""
    try:
        fn(*args)
    except Exception as e:  # noqa: BLE001
        t.ok(False, "%s%r ran to its end" % (fn.__name__, args), "%s: %s" % (type(e).__name__, e))


try:
    part(design_bounds)
    part(bad_input)
    part(env_window)
    part(window, "count")
    part(window, "bytes")
finally:
    subprocess.run(["rm", "-rf", TMP])
t.done()
