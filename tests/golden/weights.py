#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Report format 2 and the 95% intervals (docs/weights.md) in
leakscope-translate.

Hand-written reports of both modes, count (one in N) and bytes (one per B
bytes), with their Horvitz-Thompson figures computed here from known
allocation sizes; every interval the translator prints is checked against
an independent computation: the regularized incomplete gamma function
written here in Python (series and continued fraction, math.lgamma) and
inverted by bisection, and SciPy's chi2.ppf as well where SciPy is
installed (python3-scipy). Garwood's interval at known points anchors both.
Then: json, text, html, folded, svg and pprof of version 2 reports, each
read by its consumer (Python's json, HTML and XML parsers, Google's
pprof); version 1 keeps its outputs; version 3 is refused; tree reports
mixing versions 1 and 2 sum estimates and variances before the interval;
garbled version 2 reports exit 1 naming the line. Prints "ok - NAME"
lines.
"""
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
from tap import TR, TR_ASAN, check, not_ok, ok, translate  # noqa: E402
from readers import PPROF, folded_tree, parse_html, pprof, svg_frames  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
GOLDEN = os.path.join(BUILD, "golden")
TMP = tempfile.mkdtemp(prefix="ls-weights.")

save = tap.saver(TMP)

try:
    from scipy.stats import chi2 as scipy_chi2
except ImportError:  # the pure-Python computation below stands alone
    scipy_chi2 = None

# ---------------------------------------------------------------- oracle


def gamma_p(a, x):
    """The regularized lower incomplete gamma function P(a, x)."""
    if x <= 0:
        return 0.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1:
        term = total = 1.0 / a
        n = 0
        while abs(term) > abs(total) * 1e-17:
            n += 1
            term *= x / (a + n)
            total += term
        return min(1.0, total * math.exp(log_front))
    # Q(a, x) by Lentz's continued fraction
    tiny = 1e-300
    b = x + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 100000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-16:
            break
    return max(0.0, 1.0 - math.exp(log_front) * h)


def chi2_ppf(q, dof):
    """The q-quantile of chi-squared with dof degrees, by bisection."""
    lo, hi = 0.0, max(4.0, 2.0 * dof)
    while gamma_p(dof / 2, hi / 2) < q:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if gamma_p(dof / 2, mid / 2) < q:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-15 * hi:
            break
    return (lo + hi) / 2


def poisson_ci(k, c, ppf=chi2_ppf):
    """c times the 95% interval of a Poisson count k (Garwood's for integers)."""
    lo = c * ppf(0.025, 2 * k) / 2 if k > 0 else 0.0
    return lo, c * ppf(0.975, 2 * k + 2) / 2


def scaled_ci(e, v, ppf=chi2_ppf):
    """docs/weights.md: k = E^2/V samples of c = V/E each."""
    if e <= 0:
        return 0.0, 0.0
    if v <= 0:
        return float(e), float(e)
    return poisson_ci(e * e / v, v / e, ppf)


def scipy_ppf(q, dof):
    return float(scipy_chi2.ppf(q, dof))


# Garwood's 95% interval of a Poisson count C (N = 1), as tables print it.
KNOWN = [(0, "0", "3.689"), (1, "0.0253", "5.572"), (10, "4.795", "18.39")]


def near_printed(got, printed):
    """got rounds to printed: within half a unit of its last digit."""
    decimals = len(printed.split(".")[1]) if "." in printed else 0
    return abs(got - float(printed)) <= 0.5 * 10 ** -decimals


def close(got, want, rel=1e-9):
    """Equal up to the rounding to integers of the json numbers."""
    return abs(got - want) <= 1.0 + rel * abs(want)


# -------------------------------------------------------------- reports


def ht(sizes, mode, param):
    """Horvitz-Thompson sums of sampled allocations of these sizes."""
    ec = eb = vc = vb = 0.0
    for s in sizes:
        p = 1.0 / param if mode == "count" else -math.expm1(-max(s, 1) / param)
        ec += 1 / p
        eb += s / p
        vc += (1 - p) / p ** 2
        vb += (1 - p) * s * s / p ** 2
    if mode == "count":  # exact products, as the preload writes them
        ec, eb = len(sizes) * param, sum(sizes) * param
    return {"count": len(sizes), "bytes": sum(sizes), "est_count": round(ec), "est_bytes": round(eb),
            "var_count": round(vc), "var_bytes": round(vb)}


MAP = "map: 1000-9000 r-xp 00000000 - /nonexistent/app\n"


def report(mode, param, leaks, version=2, pid=4242):
    """A report of version 1 or 2; leaks: (record dict, [addresses], via)."""
    leaks = sorted(leaks, key=lambda l: -l[0]["est_bytes"])
    tot = {k: sum(l[0][k] for l in leaks) for k in ("count", "bytes", "est_count", "est_bytes", "var_count",
                                                   "var_bytes")}
    head = ["format: leakscope-report %d" % version, "version: 0.1.0", "pid: %d" % pid, "exe: /nonexistent/app"]
    if version >= 2:
        head.append("mode: " + mode)
    head.append(("sampling: %d" if mode == "count" else "sampling_bytes: %d") % param)
    head += ["window_start: 1763900000.123456", "window_seconds: 12.500", "window_open: no", "min_age: 0.000",
             "max_frames: 32", "unwinder: libunwind", "sampled: %d" % (tot["count"] + 5), "dropped: 0",
             "live: %d %d" % (tot["count"], tot["bytes"]), "estimated: %d %d" % (tot["est_count"], tot["est_bytes"])]
    if version >= 2:
        head.append("variance: %d %d" % (tot["var_count"], tot["var_bytes"]))
    head += ["stacks: %d" % len(leaks), "maps: 1"]
    lines = [MAP.rstrip("\n")]
    for rec, addrs, via in leaks:
        kv = "count=%d bytes=%d est_count=%d est_bytes=%d" % (rec["count"], rec["bytes"], rec["est_count"],
                                                              rec["est_bytes"])
        if version >= 2:
            kv += " var_count=%d var_bytes=%d" % (rec["var_count"], rec["var_bytes"])
        lines.append("leak: %s max_age=12.401 min_age=0.013 via=%s @ %s" % (kv, via, " ".join(hex(a) for a in addrs)))
    return "\n".join(head + lines) + "\nend: %d stacks\n" % len(leaks)


def tree(reports):
    head = ["format: leakscope-tree 1", "version: 0.1.0", "root: 4242", "processes: %d" % len(reports),
            "live: %d" % len(reports), "exited: 0", "exit_reports_dropped: 0", "unreachable: 0"]
    return "\n".join(head) + "\n" + "".join(reports) + "end: %d reports\n" % len(reports)


def tr_json(args, name):
    rc, out, err = translate(["--format", "json"] + args)
    if rc != 0:
        raise RuntimeError("%s: exit %d: %s" % (name, rc, err))
    return json.loads(out)


# A count-mode window at N = 500: sites of one size, one of mixed sizes,
# and a large count; and a byte-sampled one at B = 512K: small blocks,
# mixed sizes, and a 64 MiB block sampled with certainty.
N, B = 500, 512 * 1024
COUNT_LEAKS = [(ht([48] * 60, "count", N), [0x1010, 0x1100], "malloc"),
               (ht([16, 4096, 32, 1 << 20, 64] * 2, "count", N), [0x1020, 0x1100], "malloc"),
               (ht([8] * 1, "count", N), [0x1030], "calloc"),
               (ht([24] * 100000, "count", N), [0x1040, 0x1200], "new")]
BYTES_LEAKS = [(ht([32] * 400, "bytes", B), [0x1010, 0x1100], "malloc"),
               (ht([4096] * 30 + [1 << 20] * 3, "bytes", B), [0x1020, 0x1100], "malloc"),
               (ht([64 << 20], "bytes", B), [0x1030], "calloc"),
               (ht([100, 200, 300000], "bytes", B), [0x1040, 0x1200], "new")]


def expected(rec, mode, param, ppf=chi2_ppf):
    """The four interval ends docs/weights.md gives a record (or a total)."""
    if mode == "count":
        cl, ch = poisson_ci(rec["count"], param, ppf)
    else:
        cl, ch = scaled_ci(rec["est_count"], rec["var_count"], ppf)
    bl, bh = scaled_ci(rec["est_bytes"], rec["var_bytes"], ppf)
    return {"est_count_lo": cl, "est_count_hi": ch, "est_bytes_lo": bl, "est_bytes_hi": bh}


# ----------------------------------------------------------------- tests


def test_oracle():
    """The independent computation itself, at Garwood's known points."""
    why = []
    for c, lo, hi in KNOWN:
        got = poisson_ci(c, 1)
        if not near_printed(got[0], lo) or not near_printed(got[1], hi):
            why.append("Garwood C=%d: %r, want [%s, %s]" % (c, got, lo, hi))
        if scipy_chi2 is not None:
            sp = poisson_ci(c, 1, scipy_ppf)
            if abs(sp[0] - got[0]) > 1e-9 or abs(sp[1] - got[1]) > 1e-9:
                why.append("C=%d: python %r, scipy %r" % (c, got, sp))
    check("oracle_garwood_known_points" + ("" if scipy_chi2 else " (scipy missing: python only)"), why)


def check_leaks(name, d, mode, param, leaks):
    why = []
    recs = sorted((l[0] for l in leaks), key=lambda r: -r["est_bytes"])
    if len(d["leaks"]) != len(recs):
        return check(name, "want %d leaks, got %d" % (len(recs), len(d["leaks"])))
    oracles = [chi2_ppf] + ([scipy_ppf] if scipy_chi2 else [])
    for rec, got in zip(recs, d["leaks"]):
        for ppf in oracles:
            for k, want in expected(rec, mode, param, ppf).items():
                if not isinstance(got.get(k), int) or not close(got[k], want):
                    why.append("leak %r: %s = %r, want %.3f (%s)" % (rec, k, got.get(k), want, ppf.__name__))
        for k in ("var_count", "var_bytes", "est_count", "est_bytes", "count", "bytes"):
            if got.get(k) != rec[k]:
                why.append("leak %s = %r, want %r" % (k, got.get(k), rec[k]))
        if not got["est_count_lo"] <= got["est_count"] <= got["est_count_hi"] or \
                not got["est_bytes_lo"] <= got["est_bytes"] <= got["est_bytes_hi"]:
            why.append("estimate outside its interval: %r" % {k: v for k, v in got.items() if k != "frames"})
    tot = {k: sum(r[k] for r in recs) for k in recs[0]}
    for k, want in expected(tot, mode, param).items():
        if not close(d.get(k, -1), want):
            why.append("total %s = %r, want %.3f" % (k, d.get(k), want))
    if (d.get("est_count"), d.get("est_bytes")) != (tot["est_count"], tot["est_bytes"]):
        why.append("total estimates %r %r" % (d.get("est_count"), d.get("est_bytes")))
    check(name, why)


def test_json(count_path, bytes_path):
    d = tr_json([count_path], "count")
    check_leaks("json_count_mode_intervals", d, "count", N, COUNT_LEAKS)
    check("json_count_mode_header",
          [] if (d["format"], d["mode"], d["sampling"], d["sampling_bytes"]) == ("leakscope-report 2", "count", N,
                                                                                  None) else
          ["%r" % {k: d.get(k) for k in ("format", "mode", "sampling", "sampling_bytes")}])
    d = tr_json([bytes_path], "bytes")
    check_leaks("json_bytes_mode_intervals", d, "bytes", B, BYTES_LEAKS)
    why = []
    if (d["mode"], d["sampling"], d["sampling_bytes"]) != ("bytes", None, B):
        why.append("%r" % {k: d.get(k) for k in ("mode", "sampling", "sampling_bytes")})
    big = [l for l in d["leaks"] if l["bytes"] == 64 << 20]
    if len(big) != 1 or not big[0]["est_bytes_lo"] == big[0]["est_bytes"] == big[0]["est_bytes_hi"] == 64 << 20:
        why.append("a block sampled with certainty is exact: %r" % big)
    if d["variance"] != {"count": sum(l[0]["var_count"] for l in BYTES_LEAKS),
                         "bytes": sum(l[0]["var_bytes"] for l in BYTES_LEAKS)}:
        why.append("variance header %r" % d["variance"])
    check("json_bytes_mode_header", why)

    # Garwood at known points, scaled by a large N so that integers keep them.
    big_n = 10 ** 6
    leaks = [(ht([8] * c, "count", big_n), [0x1010 + c], "malloc") for c in (1, 10)]
    d = tr_json([save("known.report", report("count", big_n, leaks))], "known")
    got = sorted((l["count"], l["est_count_lo"] / big_n, l["est_count_hi"] / big_n) for l in d["leaks"])
    want = KNOWN[1:]
    check("json_garwood_known_points",
          [] if len(got) == 2 and all(g[0] == w[0] and near_printed(g[1], w[1]) and near_printed(g[2], w[2])
                                      for g, w in zip(got, want)) else ["%r, want %r" % (got, want)])
    d = tr_json([save("empty.report", report("count", big_n, []))], "empty")
    check("json_garwood_nothing_sampled",
          [] if (d["est_count_lo"], d["est_count"], d["est_bytes_lo"], d["est_bytes_hi"]) == (0, 0, 0, 0) and
          near_printed(d["est_count_hi"] / big_n, KNOWN[0][2]) else ["%r" % d])


def headline_numbers(text):
    """(allocations, count lo, hi, bytes, bytes lo, hi, unit) of each leak's headline."""
    out = []
    for m in re.finditer(r"^leak \d+: (\d+) allocations \(95%: (\d+)-(\d+)\), (\d+) bytes estimated "
                         r"\(95%: ([\d.]+)-([\d.]+) (B|kB|MB|GB|TB)\) \(\d+ sampled, \d+ bytes\)", text, re.M):
        out.append(m.groups())
    return out


UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12}


def test_text(count_path, bytes_path):
    for name, path, mode_text in (("count", count_path, ", sampling 1 in 500, "),
                                  ("bytes", bytes_path, ", sampling one per 512 KiB, ")):
        rc, out, err = translate([path])
        out = out.decode()
        d = tr_json([path], name)
        why = [] if rc == 0 else ["exit %d: %s" % (rc, err)]
        summary = out.split("\n")[0]
        if mode_text not in summary:
            why.append("summary %r lacks %r" % (summary, mode_text))
        m = re.search(r", (\d+) stacks, (\d+) allocations \(95%: (\d+)-(\d+)\), (\d+) bytes estimated \(95%: ", summary)
        if not m or [int(x) for x in m.groups()] != [len(d["leaks"]), d["est_count"], d["est_count_lo"],
                                                     d["est_count_hi"], d["est_bytes"]]:
            why.append("summary totals %r, json %r" % (summary, {k: d[k] for k in d if k.startswith("est_")}))
        heads = headline_numbers(out)
        if len(heads) != len(d["leaks"]):
            why.append("%d headlines with intervals, %d leaks:\n%s" % (len(heads), len(d["leaks"]), out))
        for h, l in zip(heads, d["leaks"]):
            if [int(x) for x in h[:4]] != [l["est_count"], l["est_count_lo"], l["est_count_hi"], l["est_bytes"]]:
                why.append("headline %r, json %r" % (h, l))
            unit = UNITS[h[6]]
            # shown with three significant digits on the upper end
            tol = unit * (0.5 if unit == 1 else 10 ** (math.floor(math.log10(l["est_bytes_hi"] / unit)) - 2) / 2)
            if abs(float(h[4]) * unit - l["est_bytes_lo"]) > tol + 1 or \
                    abs(float(h[5]) * unit - l["est_bytes_hi"]) > tol + 1:
                why.append("headline bytes %r, json %r %r" % (h, l["est_bytes_lo"], l["est_bytes_hi"]))
        check("text_%s_mode" % name, why)


def test_version1():
    """A version 1 report translates as before: no interval anywhere; the
    same records as version 2 give the same estimates."""
    v1 = save("v1.report", report("count", N, COUNT_LEAKS, version=1))
    v2 = save("v2.report", report("count", N, COUNT_LEAKS))
    why = []
    rc, out, err = translate([v1])
    if rc != 0 or "95%" in out.decode() or "sampling 1 in 500, window" not in out.decode():
        why.append("text: %r" % out[:400])
    d1, d2 = tr_json([v1], "v1"), tr_json([v2], "v2")
    extra = {"mode", "sampling_bytes", "est_count", "est_bytes", "est_count_lo", "est_count_hi", "est_bytes_lo",
             "est_bytes_hi", "variance"}
    if extra & set(d1) or any(k in l for l in d1["leaks"] for k in ("var_count", "est_count_lo")):
        why.append("json of version 1 has version 2 fields: %r" % (extra & set(d1)))
    if set(d2) - set(d1) - extra:
        why.append("json keys of version 2 beyond the new ones: %r" % (set(d2) - set(d1) - extra))
    strip = lambda l: {k: v for k, v in l.items() if k not in ("var_count", "var_bytes") and "_lo" not in k  # noqa
                       and "_hi" not in k}
    if [strip(l) for l in d2["leaks"]] != d1["leaks"]:
        why.append("leaks differ beyond the new fields")
    for fmt in ("html", "folded", "svg"):
        rc, o1, _ = translate(["--format", fmt, v1])
        if rc != 0 or b"95%" in o1:
            why.append("%s of version 1 shows intervals" % fmt)
    check("version1_unchanged", why)


def test_version3():
    text = report("count", N, COUNT_LEAKS).replace("format: leakscope-report 2", "format: leakscope-report 3")
    msg = "unsupported report format version 3 (this translator reads 1 and 2)"
    why = []
    for name, data in (("report", text), ("tree", tree([report("count", N, COUNT_LEAKS), text]))):
        for tr in (TR, TR_ASAN):
            rc, out, err = translate([save("v3-%s" % name, data)], tr=tr)
            if rc != 1 or out or msg not in err or not re.search(r":\d+: unsupported", err):
                why.append("%s (%s): exit %d, stdout %r, stderr %r" % (name, os.path.basename(os.path.dirname(tr)),
                                                                      rc, out[:80], err))
    check("version3_refused", why)


def merged_expect(parts):
    """Sums of records of the same stack across processes, each process's
    version 1 records with the variances docs/weights.md gives them."""
    tot = {}
    for rec, n_v1 in parts:
        r = dict(rec)
        if n_v1:
            r["var_count"] = rec["count"] * n_v1 * (n_v1 - 1)
            r["var_bytes"] = n_v1 * (n_v1 - 1) * rec["bytes"] ** 2 / rec["count"]
        for k, v in r.items():
            tot[k] = tot.get(k, 0) + v
    return tot


def test_trees():
    """Trees of version 1 and 2 reports: a stack's estimates and variances
    add up across processes before its interval; Garwood on the summed
    count when every process sampled one in the same N."""
    a = report("count", N, COUNT_LEAKS, version=1, pid=11)
    b = report("count", N, COUNT_LEAKS, pid=12)
    c = report("bytes", B, BYTES_LEAKS, pid=13)
    why = []
    # same N in versions 1 and 2: Garwood on the summed count
    d = tr_json([save("t-ab.tree", tree([a, b]))], "tree ab")
    if (d["mode"], d["sampling"], d["sampling_bytes"], d["processes"]) != ("count", N, None, 2):
        why.append("ab header %r" % {k: d.get(k) for k in ("mode", "sampling", "sampling_bytes", "processes")})
    for rec, _, _ in COUNT_LEAKS:
        want = merged_expect([(rec, N), (rec, 0)])
        got = [l for l in d["leaks"] if l["count"] == want["count"] and l["bytes"] == want["bytes"]]
        if len(got) != 1 or got[0]["processes"] != 2:
            why.append("ab: merged leak %r not found" % want)
            continue
        for k, w in expected(want, "count", N).items():
            if not close(got[0][k], w):
                why.append("ab %s = %r, want %.3f" % (k, got[0][k], w))
        if not close(got[0]["var_bytes"], want["var_bytes"]) or got[0]["var_count"] != want["var_count"]:
            why.append("ab variances %r %r, want %r" % (got[0]["var_count"], got[0]["var_bytes"], want))
    # count and bytes mode: the scaled interval of the summed E and V
    d = tr_json([save("t-ac.tree", tree([a, c])), save("b.report", b)], "tree ac + b")
    if (d["mode"], d["sampling"], d["sampling_bytes"], d["processes"]) != ("mixed", None, None, 3):
        why.append("acb header %r" % {k: d.get(k) for k in ("mode", "sampling", "sampling_bytes", "processes")})
    for (rc_, addrs, via), (rb, _, _) in zip(COUNT_LEAKS, BYTES_LEAKS):
        want = merged_expect([(rc_, N), (rc_, 0), (rb, 0)])
        got = [l for l in d["leaks"] if l["count"] == want["count"] and l["bytes"] == want["bytes"]]
        if len(got) != 1 or got[0]["processes"] != 3:
            why.append("acb: merged leak %r not found in %r" % (want, [(l["count"], l["bytes"]) for l in d["leaks"]]))
            continue
        for k, w in expected(want, "bytes", B).items():
            if not close(got[0][k], w):
                why.append("acb %s = %r, want %.3f" % (k, got[0][k], w))
    tot = merged_expect([(l[0], N) for l in COUNT_LEAKS] + [(l[0], 0) for l in COUNT_LEAKS + BYTES_LEAKS])
    for k, w in expected(tot, "bytes", B).items():
        if not close(d[k], w):
            why.append("acb total %s = %r, want %.3f" % (k, d[k], w))
    rc, out, err = translate([save("t-ac2.tree", tree([a, c])), save("b2.report", b)])
    line = out.decode().split("\n")[0]
    if rc != 0 or ", sampling 1 in 500, sampling one per 512 KiB, " not in line or "95%" not in line or \
            len(headline_numbers(out.decode())) != len(d["leaks"]):
        why.append("text: %r" % out.decode()[:600])
    # version 1 alone, merged: as before, no intervals
    rc, out, err = translate([save("t-a.tree", tree([a, a.replace("pid: 11", "pid: 14")]))])
    if rc != 0 or "95%" in out.decode():
        why.append("a tree of version 1 reports shows intervals: %r" % out.decode()[:300])
    check("tree_mixing_versions", why)


def test_html(count_path):
    rc, out, err = translate(["--format", "html", count_path])
    d = tr_json([count_path], "count")
    page = parse_html(out.decode())
    why = []
    want = ["#", "est. bytes", "est. count", "sampled", "share", "min age (s)", "max age (s)", "top frame", "via",
            "est. bytes 95% lo", "est. bytes 95% hi", "est. count 95% lo", "est. count 95% hi"]
    ths = re.findall(r"<th [^>]*>([^<]*)</th>", out.decode())
    if rc != 0 or ths != want:
        why.append("header cells %r, want %r (new columns last: #sort=K keeps its column)" % (ths, want))
    for row, l in zip(page.rows, d["leaks"]):
        got = [int(c["v"]) for c in row[9:13]]
        if got != [l["est_bytes_lo"], l["est_bytes_hi"], l["est_count_lo"], l["est_count_hi"]] or \
                int(row[1]["v"]) != l["est_bytes"]:
            why.append("row %r, json %r" % ([c["v"] for c in row], l))
    if len(page.rows) != len(d["leaks"]):
        why.append("%d rows" % len(page.rows))
    check("html_interval_columns", why)


def test_flame(bytes_path):
    """folded and svg draw the unbiased estimates, not bytes times anything."""
    d = tr_json([bytes_path], "bytes")
    rc, out, err = translate(["--format", "folded", bytes_path])
    values = sorted(int(l.rsplit(" ", 1)[1]) for l in out.decode().strip().split("\n"))
    why = [] if values == sorted(l["est_bytes"] for l in d["leaks"]) else ["folded %r" % values]
    tree_ = folded_tree(out.decode())
    rc, svg, err = translate(["--format", "svg", bytes_path])
    root = ET.fromstring(svg)
    frames = svg_frames(root)
    total = sum(l["est_bytes"] for l in d["leaks"])
    alls = [f for f in frames if f["name"] == "all"]
    if rc != 0 or len(alls) != 1 or str(total) not in alls[0]["title"]:
        why.append("svg root %r, want %d bytes" % (alls, total))
    if sum(v for k, v in tree_.items() if len(k) == 1) != total:
        why.append("folded roots %r" % tree_)
    check("folded_svg_bytes_mode", why)


def test_pprof(count_path, bytes_path):
    why = []
    for name, path, ptype, period in (("count", count_path, "objects/count", N), ("bytes", bytes_path, "space/bytes", B)):
        rc, data, err = translate(["--format", "pprof", path])
        prof = save("%s.pb.gz" % name, data)
        rc2, raw, err2 = pprof(["-raw", prof])
        d = tr_json([path], name)
        m = re.search(r"^PeriodType: (\S+) (\S+)\nPeriod: (\d+)$", raw, re.M)
        if rc != 0 or rc2 != 0 or not m or ("%s/%s" % m.groups()[:2], int(m.group(3))) != (ptype, period):
            why.append("%s: exit %d/%d, pprof -raw says %r" % (name, rc, rc2, m.groups() if m else raw[:300]))
        samples = re.findall(r"^\s+(\d+)\s+(\d+): ", raw.split("Samples:")[1] if "Samples:" in raw else "", re.M)
        want = sorted((l["est_count"], l["est_bytes"]) for l in d["leaks"])
        if sorted((int(a), int(b)) for a, b in samples) != want:
            why.append("%s: samples %r, want the estimates %r" % (name, samples, want))
    check("pprof_period_and_estimates", why)


def v2_of(v1_text, mode="count"):
    """A version 2 report from a version 1 one (count mode: same figures)."""
    n = int(re.search(r"^sampling: (\d+)$", v1_text, re.M).group(1))
    out = []
    for line in v1_text.split("\n"):
        if line.startswith("format: "):
            line = "format: leakscope-report 2"
        elif line.startswith("sampling: "):
            out.append("mode: count")
        elif line.startswith("stacks: "):
            out.append("variance: 1234 56789")
        elif line.startswith("leak: "):
            c, b = (int(x) for x in re.search(r"count=(\d+) bytes=(\d+)", line).groups())
            line = line.replace(" max_age=", " var_count=%d var_bytes=%d max_age=" % (c * n * (n - 1),
                                                                                   n * (n - 1) * b * b // max(c, 1)), 1)
        out.append(line)
    return "\n".join(out)


def test_garbage():
    """Version 2 through tests/golden/garbage.py's truncations, garbled
    lines and mutations, and the lines version 2 adds, garbled."""
    import garbage
    rep = os.path.join(TMP, "inl.report")
    subprocess.run([os.path.join(GOLDEN, "inl"), rep], check=True)
    with open(rep) as f:
        text = v2_of(f.read())
    rc, out, err = translate([save("inl2.report", text)])
    check("fixture_as_version2", [] if rc == 0 and "95%" in out.decode() and " leaf at " in out.decode()
          else ["exit %d %s %s" % (rc, out.decode(), err)])
    garbage.run(TR, text, lambda name, data, mode="w": save(name, data), ok, not_ok)
    lines = text.split("\n")
    at = {p: [i for i, l in enumerate(lines) if l.startswith(p)][0] + 1 for p in ("mode:", "variance:", "leak: ",
                                                                               "map: ")}
    cases = [
        ("mode_bad", text.replace("mode: count", "mode: weights"), at["mode:"]),
        ("mode_missing", text.replace("mode: count\n", ""), at["map: "] - 1),
        ("variance_missing", text.replace(re.search(r"variance: .*\n", text).group(0), ""), at["map: "] - 1),
        ("variance_garbled", text.replace("variance: 1234 56789", "variance: 1234 5.5"), at["variance:"]),
        ("variance_short", text.replace("variance: 1234 56789", "variance: 1234"), at["variance:"]),
        ("bytes_mode_with_sampling", text.replace("mode: count", "mode: bytes"), at["map: "]),
        ("both_parameters", text.replace("mode: count", "mode: count\nsampling_bytes: 4096"), at["map: "] + 1),
        ("var_count_missing", re.sub(r" var_count=\d+", "", text, 1), at["leak: "]),
        ("var_bytes_garbled", re.sub(r" var_bytes=\d+", " var_bytes=-3", text, 1), at["leak: "]),
        ("var_bytes_41_digits", re.sub(r" var_bytes=\d+", " var_bytes=" + "9" * 41, text, 1), at["leak: "]),
    ]
    why = []
    for name, bad, line in cases:
        rc, out, err = translate([save("bad2.report", bad)])
        m = re.search(r":(\d+): ", err)
        if rc != 1 or out or not m or int(m.group(1)) != line:
            why.append("%s: exit %d, stderr %r, want line %d" % (name, rc, err.strip(), line))
    # variances beyond 2^64 are read as floating point
    big = re.sub(r" var_bytes=\d+", " var_bytes=" + "9" * 40, text, 1)
    rc, out, err = translate(["--format", "json", save("big2.report", big)])
    try:
        leak = [l for l in json.loads(out)["leaks"] if l["var_bytes"] > 2 ** 64]
        good = rc == 0 and len(leak) == 1 and abs(leak[0]["var_bytes"] / 1e40 - 1) < 1e-12
    except ValueError:
        good = False
    if not good:
        why.append("var_bytes of 40 digits: exit %d %r %s" % (rc, out[:300], err))
    check("garbage_version2_lines", why)


def test_asan(count_path, bytes_path):
    why = []
    odd = report("bytes", 1, [({"count": 1, "bytes": 1, "est_count": 1, "est_bytes": 0, "var_count": 10 ** 39,
                                 "var_bytes": 0}, [0x1010], "malloc"),
                                ({"count": 3, "bytes": 9, "est_count": 2 ** 63, "est_bytes": 2 ** 63,
                                  "var_count": 1, "var_bytes": 10 ** 39}, [0x1020], "malloc")])
    for path in (count_path, bytes_path, save("odd2.report", odd)):
        for fmt in ("text", "json", "folded", "pprof", "svg", "html"):
            rc, out, err = translate(["--format", fmt, path], tr=TR_ASAN)
            if rc != 0:
                why.append("%s %s: exit %d %s" % (os.path.basename(path), fmt, rc, err[-500:]))
            if fmt == "json" and rc == 0:
                try:
                    json.loads(out)
                except ValueError as e:
                    why.append("%s json: %s" % (os.path.basename(path), e))
    check("version2_every_format_under_asan", why)


def main():
    count_path = save("count.report", report("count", N, COUNT_LEAKS))
    bytes_path = save("bytes.report", report("bytes", B, BYTES_LEAKS))
    try:
        for test, args in ((test_oracle, ()), (test_json, (count_path, bytes_path)),
                           (test_text, (count_path, bytes_path)), (test_version1, ()), (test_version3, ()),
                           (test_trees, ()), (test_html, (count_path,)), (test_flame, (bytes_path,)),
                           (test_pprof, (count_path, bytes_path)), (test_garbage, ()),
                           (test_asan, (count_path, bytes_path))):
            try:
                test(*args)
            except Exception as e:  # a crash of the driver is a failure, not a pass
                not_ok(test.__name__, "%s: %s" % (type(e).__name__, e))
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main())
