#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Tree reports and merged processes (docs/process-trees.md, "Tree reports";
docs/translate.md, "Several processes").

The test victim runs three times under the real preload at sampling 1, so
its counts are exact: twice as build/tests/victims/victim (once with ASLR
off, once on: the same code at other addresses), leaking known numbers of
blocks, and once as build/golden/victim-o2, the same source built at -O2:
another executable, another build ID, functions of the same names. Their
reports make a tree report (written here as the contract describes it),
and leakscope-translate must merge the two victims' stacks, with summed
counts and "processes: 2", and keep the other executable's apart, in every
format, each read by its real consumer: json by Python's json, pprof by
protoc and Google's pprof, svg and html by Python's XML and HTML parsers.
The expected merge is computed here from the reports, independently of the
translator. Truncated and garbled tree reports must exit 1 naming the line.
Prints "ok - NAME" lines.
"""
import gzip
import json
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
from readers import PPROF, folded_tree, parse_html, pprof, pprof_raw, pprof_top, svg_frames  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
LIB = os.path.join(BUILD, "libleakscope.so")
VICTIM = os.path.join(BUILD, "tests", "victims", "victim")
OTHER = os.path.join(BUILD, "golden", "victim-o2")
PROTO = os.path.join(ROOT, "symbolize", "pprof", "profile.proto")
TMP = tempfile.mkdtemp(prefix="ls-trees.")

save = tap.saver(TMP)


def translate_json(args):
    rc, out, err = translate(["--format", "json"] + args)
    if rc != 0:
        raise RuntimeError("translate %r: exit %d: %s" % (args, rc, err))
    return json.loads(out)


# ---------------------------------------------------------------- reports


class Report:
    """A report read here, independently of the translator."""

    def __init__(self, path):
        self.path = path
        with open(path) as f:
            self.text = f.read()
        self.hdr, self.maps, self.leaks = {}, [], []
        for line in self.text.split("\n"):
            if line.startswith("map: "):
                m = re.match(r"^map: ([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) (\S+) (.*)$", line)
                self.maps.append({"start": int(m.group(1), 16), "end": int(m.group(2), 16),
                                  "offset": int(m.group(4), 16), "build_id": m.group(5), "path": m.group(6)})
            elif line.startswith("leak: "):
                kv, addrs = line[6:].split(" @ ")
                d = dict(t.split("=", 1) for t in kv.split())
                d["addrs"] = [int(a, 16) for a in addrs.split()]
                self.leaks.append(d)
            elif ": " in line and not line.startswith("end:"):
                k, v = line.split(": ", 1)
                self.hdr.setdefault(k, v)
        self.pid = int(self.hdr["pid"])

    def find_map(self, a):
        """The first map in report order holding a, or None."""
        for m in self.maps:
            if m["start"] <= a < m["end"]:
                return m
        return None

    def exe_map(self, exe):
        return [m for m in self.maps if m["path"] == exe][0]


def stack_key(rep, index, via, addrs):
    """The merge key of a stack of process number index: via and, per
    address, the module (build ID, else path) and file offset; an
    address outside every map is itself in its own process."""
    key = [via]
    for i, a in enumerate(addrs):
        m = rep.find_map(a - 1 if i > 0 else a)
        if m is None:
            key.append(("unmapped", index, a))
        else:
            ident = m["build_id"] if m["build_id"] != "-" else "path:" + m["path"]
            key.append((ident, a - m["start"] + m["offset"]))
    return tuple(key)


def expected_merge(reports):
    """{key: merged leak} from reports, in input order."""
    out = {}
    for i, rep in enumerate(reports):
        for l in rep.leaks:
            k = stack_key(rep, i, l.get("via"), l["addrs"])
            d = out.setdefault(k, {"count": 0, "bytes": 0, "est_count": 0, "est_bytes": 0, "pids": [],
                                   "max_age": l["max_age"], "min_age": l["min_age"], "addrs": l["addrs"]})
            for f in ("count", "bytes", "est_count", "est_bytes"):
                d[f] += int(l[f])
            if float(l["max_age"]) > float(d["max_age"]):
                d["max_age"] = l["max_age"]
            if float(l["min_age"]) < float(d["min_age"]):
                d["min_age"] = l["min_age"]
            if rep.pid not in d["pids"]:
                d["pids"].append(rep.pid)
    return out


def json_addrs(leak):
    """A JSON leak's addresses: the frame that is no inlined one ends each."""
    return [int(f["addr"], 16) for f in leak["frames"] if not f["inlined"]]


def run_victim(name, prog, commands, aslr=True):
    rep = os.path.join(TMP, name + ".report")
    env = dict(os.environ, LD_PRELOAD=LIB, LEAKSCOPE_PORT="off", LEAKSCOPE_SAMPLING="1", LEAKSCOPE_REPORT=rep)
    argv = [prog] if aslr else ["setarch", "-R", prog]
    p = subprocess.run(argv, input=commands, env=env, capture_output=True, text=True, timeout=60)
    if p.returncode != 0 or not os.path.exists(rep):
        raise RuntimeError("%s: exit status %d; stderr:\n%s" % (name, p.returncode, p.stderr[-2000:]))
    return Report(rep)


def tree_text(reports, exited=0, unreachable=(), dropped=0, root=None):
    """A tree report holding reports, as docs/process-trees.md defines it."""
    head = ["format: leakscope-tree 1", "version: 0.1.0", "root: %d" % (root or reports[0].pid),
            "processes: %d" % len(reports), "live: %d" % (len(reports) - exited), "exited: %d" % exited,
            "exit_reports_dropped: %d" % dropped, "unreachable: %d" % len(unreachable)]
    head += ["error: %s" % e for e in unreachable]
    return "\n".join(head) + "\n" + "".join(r.text for r in reports) + "end: %d reports\n" % len(reports)


# ------------------------------------------------------------------ tests


A_CMDS = "leak malloc 3000 48\nleak calloc 1000 100\nquit\n"
# B's sink (keep_ptr) grows at the same leaks as A's, so that every stack
# of B is one of A's
B_CMDS = "leak malloc 2500 48\nleak calloc 500 100\nquit\n"
C_CMDS = "leak malloc 700 48\nquit\n"
ERROR = "4321 cannot reach the process: permission denied"


def own_leaks(leaks, exe, fn):
    """JSON leaks whose first frame shown is function fn of module exe."""
    return [l for l in leaks if l["frames"][l["folded"]]["function"] == fn and l["frames"][l["folded"]]["module"] == exe]


def test_setup(a, b, c):
    name = "victims_differ_as_the_test_needs"
    why = []
    if a.exe_map(VICTIM)["start"] == b.exe_map(VICTIM)["start"]:
        why.append("both victims mapped at %#x: ASLR did not move one" % a.exe_map(VICTIM)["start"])
    if a.exe_map(VICTIM)["build_id"] in ("-", c.exe_map(OTHER)["build_id"]):
        why.append("victim-o2 has the victim's build ID (or none): %s" % c.exe_map(OTHER)["build_id"])
    ka, kb = set(expected_merge([a])), set(expected_merge([b]))
    if not kb <= ka or len(kb) < 3:
        why.append("B has stacks A lacks: %r" % (kb - ka))
    check(name, why)


def test_json(tree, a, b, c):
    name = "tree_json_merges_same_code_keeps_other_executable_apart"
    reports = [a, b, c]
    got = translate_json([tree])
    want = expected_merge(reports)
    why = []
    for k, v in (("processes", 3), ("root", a.pid), ("exited", 1), ("exit_reports_dropped", 0),
                 ("unreachable", 1), ("error", [ERROR]), ("stacks", len(want))):
        if got.get(k) != v:
            why.append("%s: %r, want %r" % (k, got.get(k), v))
    for k in ("sampled", "dropped"):
        if got.get(k) != sum(int(r.hdr[k]) for r in reports):
            why.append("%s: %r, want the sum" % (k, got.get(k)))
    for k in ("live", "estimated"):
        want_pair = [sum(int(r.hdr[k].split()[i]) for r in reports) for i in (0, 1)]
        if [got[k]["count"], got[k]["bytes"]] != want_pair:
            why.append("%s: %r, want %r" % (k, got[k], want_pair))
    if [r.get("pid") for r in got.get("reports", [])] != [a.pid, b.pid, c.pid] or \
            any(len(r["maps"]) != len(rep.maps) for r, rep in zip(got["reports"], reports)):
        why.append("reports: %r" % [(r.get("pid"), len(r.get("maps", []))) for r in got.get("reports", [])])
    # every merged leak is one of the expected, with its sums: the one whose
    # first process had these addresses
    seen = set()
    for l in got["leaks"]:
        ks = [k for k, w in want.items() if w["pids"][0] == l["pids"][0] and w["addrs"] == json_addrs(l)]
        if len(ks) != 1:
            why.append("%d expected leaks for pid %d at %r" % (len(ks), l["pids"][0], json_addrs(l)))
            continue
        k = ks[0]
        w = want[k]
        seen.add(k)
        for f in ("count", "bytes", "est_count", "est_bytes", "pids"):
            if l[f] != w[f]:
                why.append("%s: %s %r, want %r" % (l["frames"][l["folded"]]["function"], f, l[f], w[f]))
        if l["processes"] != len(w["pids"]) or json_addrs(l) != w["addrs"]:
            why.append("%s: processes %r, addresses of pid %d" % (l["frames"][l["folded"]]["function"],
                                                                 l["processes"], l["pids"][0]))
        if (l["max_age"], l["min_age"]) != (float(w["max_age"]), float(w["min_age"])):
            why.append("ages %r-%r, want %s-%s" % (l["min_age"], l["max_age"], w["min_age"], w["max_age"]))
    if seen != set(want):
        why.append("%d expected leaks missing" % len(set(want) - seen))
    est = [l["est_bytes"] for l in got["leaks"]]
    if est != sorted(est, reverse=True):
        why.append("leaks not sorted by est_bytes: %r" % est)
    # the known truths: sampling 1 counts every block
    mine = own_leaks(got["leaks"], VICTIM, "leak_malloc")
    other = own_leaks(got["leaks"], OTHER, "leak_malloc")
    if [(l["est_count"], l["bytes"], l["processes"], l["pids"]) for l in mine] != [(5500, 5500 * 48, 2, [a.pid, b.pid])]:
        why.append("victim's leak_malloc: %r" % [(l["est_count"], l["processes"], l["pids"]) for l in mine])
    if [(l["est_count"], l["processes"], l["pids"]) for l in other] != [(700, 1, [c.pid])]:
        why.append("victim-o2's leak_malloc: %r" % [(l["est_count"], l["processes"], l["pids"]) for l in other])
    calloc = own_leaks(got["leaks"], VICTIM, "leak_calloc")
    if [(l["est_count"], l["est_bytes"], l["processes"]) for l in calloc] != [(1500, 150000, 2)]:
        why.append("victim's leak_calloc: %r" % [(l["est_count"], l["est_bytes"], l["processes"]) for l in calloc])
    check(name, why)
    return got


def test_text(tree, a, b, c, merged):
    name = "tree_text_headlines_say_in_how_many_processes"
    rc, out, err = translate([tree])
    text = out.decode()
    why = [] if rc == 0 else ["rc %d: %s" % (rc, err)]
    first = text.split("\n")[0]
    # reports of format 2 add the totals' intervals (docs/weights.md)
    totals = re.search(r", (\d+) stacks(?:, \d+ allocations \(95%: [^)]*\))?, (\d+) bytes estimated"
                       r"(?: \(95%: [^)]*\))?$", first)
    if not first.startswith("leakscope report: 3 processes (root %d, 1 exited, 1 unreachable), sampling 1 in 1, "
                            % a.pid) or not totals or [int(x) for x in totals.groups()] != [
                                len(merged["leaks"]), sum(int(r.hdr["estimated"].split()[1]) for r in (a, b, c))]:
        why.append("summary: %r" % first)
    for i, r in enumerate((a, b, c)):
        if "\nreport %d: pid %d (%s), " % (i + 1, r.pid, r.hdr["exe"]) not in text:
            why.append("no line for report %d (pid %d)" % (i + 1, r.pid))
    if "\nerror: %s\n" % ERROR not in text:
        why.append("no error line")
    heads = re.findall(r"\nleak \d+: (\d+) allocations(?: \(95%: [^)]*\))?, (\d+) bytes estimated "
                       r"(?:\(95%: [^)]*\) )?.*?(?:, in (\d+) process(es)?)?"
                       r"(?:, via [^\n]*)?\n#0 (\S+) at \S+ \((\S+)\)", text)
    got = sorted((int(n), int(p or 0), fn, mod) for n, _, p, _, fn, mod in heads)
    want = sorted((l["est_count"], l["processes"], l["frames"][l["folded"]]["function"],
                   l["frames"][l["folded"]]["module"]) for l in merged["leaks"]
                  if l["frames"][l["folded"]]["file"] is not None)
    if got != want or len(heads) < 3:
        why.append("headlines %r\nwant %r" % (got, want))
    # the known truths, at sampling 1: 3000 + 2500 blocks, 700 apart
    for n, procs, exe in ((5500, 2, VICTIM), (700, 1, OTHER)):
        if (n, procs, "leak_malloc", exe) not in got:
            why.append("no headline of %d allocations in %d process(es) at leak_malloc (%s)" % (n, procs, exe))
    check(name, why)


def test_operands(tree, a, b, c, merged):
    name = "several_operands_merge_like_a_tree"
    why = []
    ab = save("ab.tree", tree_text([a, b]))
    for args, stdin in (([a.path, b.path, c.path], None), ([ab, c.path], None), (["-", b.path, c.path], a.text)):
        rc, out, err = translate(["--format", "json"] + args, stdin=stdin.encode() if stdin else None)
        got = json.loads(out) if rc == 0 else {}
        if rc != 0 or got.get("leaks") != merged["leaks"] or got.get("processes") != 3:
            why.append("%r: rc %d, %s leaks differ from the tree's\n%s" % (args, rc, len(got.get("leaks", [])), err))
        if args[0] == a.path and ("exited" in got or "root" in got):
            why.append("%r: tree keys without a tree report" % args)
    # one report alone is not merged: the report's own header
    one = translate_json([a.path])
    if one.get("format") != a.hdr["format"] or "processes" in one or "processes" in one["leaks"][0]:
        why.append("one report came out merged: %r" % sorted(one))
    rc, out, err = translate([a.path, a.path])
    if rc != 0 or " in 2 processes" not in out.decode():
        why.append("a report given twice: rc %d" % rc)
    rc, out, err = translate(["-", a.path, "-"], stdin=a.text.encode())
    if rc != 2 or out:
        why.append("stdin twice: rc %d, want 2" % rc)
    rc, out, err = translate(["--report", tree, "0x1"])
    if rc != 1 or out or not re.search(r"trees?\.tree:1: not a leakscope report", err):
        why.append("--report with a tree report: rc %d %r" % (rc, err))
    check(name, why)


def test_folded_svg(tree, merged):
    name = "tree_folded_and_svg_show_the_merged_leaks"
    rc, out, err = translate(["--format", "folded", tree])
    why = [] if rc == 0 else ["folded rc %d" % rc]
    lines = out.decode().strip().split("\n")
    leafs = sorted(int(l.rsplit(" ", 1)[1]) for l in lines if l.rsplit(" ", 1)[0].endswith(";main;leak_malloc"))
    want = sorted(l["est_bytes"] for l in merged["leaks"] if l["frames"][l["folded"]]["function"] == "leak_malloc")
    if leafs != want or len(leafs) != 2:
        why.append("folded leak_malloc lines %r, want %r (one per executable)" % (leafs, want))
    if len(lines) != len([l for l in merged["leaks"] if l["folded"] < len(l["frames"])]):
        why.append("%d folded lines for %d leaks" % (len(lines), len(merged["leaks"])))
    rc, svg, err = translate(["--format", "svg", tree])
    try:
        frames = svg_frames(ET.fromstring(svg))
        tree_want = {("all",) + k: v for k, v in folded_tree(out.decode()).items()}
        tree_want[("all",)] = sum(l["est_bytes"] for l in merged["leaks"])
        got = {f["path"]: f["bytes"] for f in frames}
        if rc != 0 or got != tree_want:
            why.append("svg frames differ from folded:\n  svg %r\n  folded %r" % (got, tree_want))
        if not any("leakscope report: 3 processes" in (t.text or "") for t in ET.fromstring(svg).iter()):
            why.append("svg summary lacks the processes")
    except ET.ParseError as e:
        why.append("svg is not XML: %s" % e)
    check(name, why)


def test_html(tree, merged):
    name = "tree_html_rows_and_processes_column"
    rc, out, err = translate(["--format", "html", tree])
    p = parse_html(out.decode())
    why = [] if rc == 0 else ["rc %d" % rc]
    heads = [t for t, a in p.tags if t == "th"]
    # with reports of format 2, four interval columns come next; with
    # series (reports of the preload), three verdict columns last
    ncols = (14 if "est_count_lo" in merged else 10) + (3 if "verdicts" in merged else 0)
    if len(p.rows) != len(merged["leaks"]) or len(heads) != ncols:
        why.append("%d rows (%d leaks), %d columns" % (len(p.rows), len(merged["leaks"]), len(heads)))
    for row, l in zip(p.rows, merged["leaks"]):
        if [row[1]["v"], row[2]["v"], row[9]["v"]] != [str(l["est_bytes"]), str(l["est_count"]), str(l["processes"])]:
            why.append("row %s: %r, want %r" % (row[0]["v"], [c["v"] for c in row], l))
    tops = sorted((int(r[2]["v"]), int(r[9]["v"])) for r in p.rows if r[7]["v"].startswith("leak_malloc at "))
    if tops != [(700, 1), (5500, 2)]:
        why.append("leak_malloc rows (est. count, processes) %r, want 700 in 1 and 5500 in 2" % tops)
    if [t for t, _ in p.tags].count("script") != 1 or "report 3: pid" not in "".join(p.text):
        why.append("script or the list of reports missing")
    check(name, why)


def test_pprof(tree, a, b, c, merged):
    name = "tree_pprof_protoc_decodes_with_deduplicated_mappings"
    rc, out, err = translate(["--format", "pprof", tree])
    pb = save("tree.pb.gz", out)
    why = [] if rc == 0 else ["rc %d: %s" % (rc, err)]
    p = subprocess.run(["protoc", "--proto_path=" + os.path.dirname(PROTO), "--decode=perftools.profiles.Profile",
                        os.path.basename(PROTO)], input=gzip.decompress(out), capture_output=True)
    dec = p.stdout.decode("utf-8", "replace")
    if p.returncode != 0:
        why.append("protoc exit %d: %s" % (p.returncode, p.stderr.decode()[-500:]))
    strings = re.findall(r'^string_table: "(.*)"$', dec, re.M)
    maps = [dict(re.findall(r"^\s+(\w+): (\S+)$", m.split("\n}")[0], re.M)) for m in dec.split("\nmapping {")[1:]]
    ids = {}
    for m in maps:
        bid = strings[int(m.get("build_id", 0))]
        ids.setdefault(bid, []).append(int(m.get("memory_start", 0)))
    want_ids = {m["build_id"] for r in (a, b, c) for m in r.maps}
    vb, ob = a.exe_map(VICTIM)["build_id"], c.exe_map(OTHER)["build_id"]
    if set(ids) != {("" if i == "-" else i) for i in want_ids}:
        why.append("mapping build IDs %r, want the reports' %r" % (sorted(ids), sorted(want_ids)))
    # the victims' executable is one Mapping, at the first report's address
    if ids.get(vb) != [a.exe_map(VICTIM)["start"]] or ids.get(ob) != [c.exe_map(OTHER)["start"]]:
        why.append("victim mappings %r, other %r" % (ids.get(vb), ids.get(ob)))
    # the rule of docs/translate.md: a later report's map shares an earlier
    # report's Mapping of the same module and offset (when not longer)
    first, want_n = {}, 0
    for i, r in enumerate((a, b, c)):
        for m in r.maps:
            k = (m["offset"], m["build_id"] if m["build_id"] != "-" else "path:" + m["path"])
            if k in first and first[k][0] != i and m["end"] - m["start"] <= first[k][1]:
                continue
            want_n += 1
            first.setdefault(k, (i, m["end"] - m["start"]))
    if len(maps) != want_n or want_n >= len(a.maps) + len(b.maps) + len(c.maps):
        why.append("%d mappings, want %d, for %d, %d and %d maps" % (len(maps), want_n, len(a.maps), len(b.maps),
                                                                    len(c.maps)))
    # every Location lies in its Mapping: the PCs of another process moved
    # into the Mapping it shares (victim-o2's libc frames into A's libc)
    ranges = {int(m["id"]): (int(m.get("memory_start", 0)), int(m["memory_limit"])) for m in maps}
    outside = []
    for blk in dec.split("\nlocation {")[1:]:
        loc = dict(re.findall(r"^\s+(\w+): (\S+)$", blk.split("\n}")[0], re.M))
        lo, hi = ranges.get(int(loc.get("mapping_id", 0)), (0, 2 ** 64))
        if not lo <= int(loc.get("address", 0)) < hi:
            outside.append("location %s at %#x, mapping %s is %#x-%#x" % (loc["id"], int(loc.get("address", 0)),
                                                                        loc.get("mapping_id"), lo, hi))
    why += outside[:5]
    # B adds no Location: its stacks are A's code
    _, ac, _ = translate(["--format", "pprof", a.path, c.path])
    n_tree = dec.count("\nlocation {")
    pac = subprocess.run(["protoc", "--proto_path=" + os.path.dirname(PROTO), "--decode=perftools.profiles.Profile",
                          os.path.basename(PROTO)], input=gzip.decompress(ac), capture_output=True)
    n_ac = pac.stdout.decode().count("\nlocation {")
    if n_tree != n_ac or n_tree == 0:
        why.append("%d locations with B, %d without: B's code is A's" % (n_tree, n_ac))
    if len(re.findall(r'^sample \{', dec, re.M)) != len(merged["leaks"]):
        why.append("samples differ from the merged leaks")
    # Google's pprof reads it: leak_malloc's bytes from both executables
    try:
        space, total, top = pprof_top(pb, "inuse_space")
        want_total = sum(l["est_bytes"] for l in merged["leaks"])
        lm = sum(l["est_bytes"] for l in merged["leaks"] if l["frames"][l["folded"]]["function"] == "leak_malloc")
        if total != want_total or space.get("leak_malloc", (None,))[0] != lm:
            why.append("pprof -top: total %r (want %d), leak_malloc %r (want %d)\n%s" % (
                total, want_total, space.get("leak_malloc"), lm, top))
        raw, locs, pmaps = pprof_raw(pb)
        for want in ("Comment: leakscope report: 3 processes", "report 2: pid %d" % b.pid, "error: " + ERROR):
            if want not in raw:
                why.append("pprof -raw lacks %r" % want)
        rc2, traces, _ = pprof(["-traces", pb])
        if not re.search(r"processes:\s+2\b", traces):
            why.append("no processes label in -traces:\n" + traces[:1500])
    except RuntimeError as e:
        why.append(str(e))
    check(name, why)


def test_asan(tree):
    name = "tree_every_format_under_asan"
    if not os.path.exists(TR_ASAN):
        return not_ok(name, "%s not built" % TR_ASAN)
    why = []
    for fmt in ("text", "json", "folded", "pprof", "svg", "html"):
        rc, out, err = translate(["--format", fmt, tree], tr=TR_ASAN)
        if rc != 0 or "Sanitizer" in err or "runtime error" in err or not out:
            why.append("%s: rc %d\n%s" % (fmt, rc, err[-1500:]))
    check(name, why)


def synthetic(pid, base, nobid, leaks):
    """A hand-made report of pid: a module with a build ID at base, one
    without at base + 0x100000 (path nobid), and leaks (count, via, ages,
    addresses)."""
    head = ("format: leakscope-report 1\npid: %d\nexe: /nonexistent/app\nsampling: 10\nwindow_seconds: 1.0\n"
            "stacks: %d\nmaps: 2\nmap: %x-%x r-xp 00001000 %s /nonexistent/lib.so\n"
            "map: %x-%x r-xp 00002000 - %s\n") % (pid, len(leaks), base, base + 0x10000, "ab" * 20,
                                                  base + 0x100000, base + 0x110000, nobid)
    body = "".join("leak: count=%d bytes=%d est_count=%d est_bytes=%d max_age=%s min_age=%s%s @ %s\n" % (
        n, 8 * n, 10 * n, 80 * n, old, young, " via=" + via if via else "", " ".join("%#x" % a for a in addrs))
        for n, via, old, young, addrs in leaks)
    return head + body + "end: %d stacks\n" % len(leaks)


def test_merge_rules():
    """The merge rules on hand-made reports: the same module and offset at
    other addresses merge, by build ID, else by path; another via, an
    address outside every map, another path stay apart; ages compare as
    numbers."""
    name = "merge_rules_synthetic"
    b1, b2 = 0x10000000, 0x20000000
    p1 = synthetic(101, b1, "/nonexistent/plain.so", [
        (3, "malloc", "9.5", "2.0", [b1 + 0x10, b1 + 0x20]),         # merges with p2's
        (1, "calloc", "1.0", "1.0", [b1 + 0x10, b1 + 0x20]),         # another via
        (2, "malloc", "1.0", "1.0", [0x50, b1 + 0x20]),              # outside every map
        (5, "malloc", "3.0", "0.25", [b1 + 0x100010]),               # no build ID, same path
    ])
    p2 = synthetic(202, b2, "/nonexistent/plain.so", [
        (4, "malloc", "10.25", "0.5", [b2 + 0x10, b2 + 0x20]),
        (2, "malloc", "1.0", "1.0", [0x50, b2 + 0x20]),
        (6, "malloc", "2.0", "0.125", [b2 + 0x100010]),
    ])
    p3 = synthetic(303, b1, "/nonexistent/other.so", [
        (7, "malloc", "1.0", "1.0", [b1 + 0x100010]),                # no build ID, another path
    ])
    paths = [save("s%d.report" % i, t) for i, t in enumerate((p1, p2, p3))]
    rc, out, err = translate(["--format", "json"] + paths)
    why = [] if rc == 0 else ["rc %d: %s" % (rc, err)]
    got = sorted((l["count"], l["est_bytes"], l["processes"], l["pids"], l["max_age"], l["min_age"], json_addrs(l))
                 for l in (json.loads(out)["leaks"] if rc == 0 else []))
    want = sorted([
        (7, 560, 2, [101, 202], 10.25, 0.5, [b1 + 0x10, b1 + 0x20]),
        (1, 80, 1, [101], 1.0, 1.0, [b1 + 0x10, b1 + 0x20]),
        (2, 160, 1, [101], 1.0, 1.0, [0x50, b1 + 0x20]),
        (2, 160, 1, [202], 1.0, 1.0, [0x50, b2 + 0x20]),
        (11, 880, 2, [101, 202], 3.0, 0.125, [b1 + 0x100010]),
        (7, 560, 1, [303], 1.0, 1.0, [b1 + 0x100010]),
    ])
    if got != want:
        why.append("merged\n  %r\nwant\n  %r" % (got, want))
    check(name, why)


def line_of(err):
    m = re.search(r"\.tree:(\d+): ", err)
    return int(m.group(1)) if m else None


def test_truncated(a, b):
    """Every cut at and inside each line of a tree report: exit 1, naming
    the line being read; then garbled containers."""
    text = tree_text([a, b], exited=1, unreachable=[ERROR])
    data = text.encode()
    cuts = set()
    pos = 0
    for line in text.split("\n")[:-1]:
        cuts.update((pos, pos + len(line) // 2, pos + len(line)))
        pos += len(line) + 1
    bad = []
    for cut in sorted(cuts):
        path = save("cut.tree", data[:cut])
        rc, out, err = translate([path])
        want = data[:cut].count(b"\n") + 1
        if rc != 1 or out or line_of(err) != want:
            bad.append("cut at %d: rc %d, stderr %r, want line %d" % (cut, rc, err.strip(), want))
    check("tree_every_truncation (%d cuts)" % len(cuts), bad[:10])

    lines = text.split("\n")
    end = len(lines) - 1  # the end line's number
    starts = [i + 1 for i, l in enumerate(lines) if l.startswith("format: leakscope-report ")]
    b_end = [i + 1 for i, l in enumerate(lines) if l.startswith("end: ") and l.endswith(" stacks")][0]
    cases = [
        ("end_line_missing", "\n".join(lines[:-2]) + "\n", end),
        ("end_says_other_n", text.replace("end: 2 reports", "end: 3 reports"), end),
        ("end_garbled", text.replace("end: 2 reports", "end: 2 report"), end),
        ("processes_more_than_reports", text.replace("processes: 2\n", "processes: 3\n"), end),
        ("processes_fewer_than_reports", text.replace("processes: 2\n", "processes: 1\n"), starts[1]),
        ("no_processes_header", text.replace("processes: 2\n", ""), starts[0] - 1),
        ("header_int_garbled", text.replace("exited: 1\n", "exited: one\n"), 6),
        ("embedded_report_cut", "\n".join(lines[:b_end - 1] + lines[b_end:]), b_end),
        ("embedded_report_garbled", text.replace("stacks: %d\n" % len(a.leaks), "stacks: x\n", 1),
         lines.index("stacks: %d" % len(a.leaks)) + 1),
        ("data_after_end", text + "end: 2 reports\n", end + 1),
        ("not_a_tree", text.replace("format: leakscope-tree 1", "format: leakscope-tree 2"), 1),
    ]
    bad = []
    for cname, t, line in cases:
        path = save("garbled.tree", t)
        rc, out, err = translate([path])
        if rc != 1 or out or line_of(err) != line:
            bad.append("%s: rc %d, stderr %r, want line %d" % (cname, rc, err.strip(), line))
    # the error names the operand it is in
    path = save("cut2.tree", text[:len(text) // 2])
    rc, out, err = translate([a.path, path])
    if rc != 1 or out or "cut2.tree:" not in err:
        bad.append("second operand cut: rc %d %r" % (rc, err))
    check("tree_garbled_containers (%d cases)" % (len(cases) + 1), bad)


def main():
    try:
        for need in (TR, LIB, VICTIM, OTHER, PPROF):
            if not os.path.exists(need):
                not_ok("prerequisites", "%s is missing: run make check (or make tests)" % need)
                return 1
        a = run_victim("a", VICTIM, A_CMDS, aslr=False)
        b = run_victim("b", VICTIM, B_CMDS)
        c = run_victim("c", OTHER, C_CMDS)
        tree = save("trees.tree", tree_text([a, b, c], exited=1, unreachable=[ERROR]))
        test_setup(a, b, c)
        test_merge_rules()
        merged = None
        for test, args in ((test_json, (tree, a, b, c)), (test_text, (tree, a, b, c)), (test_operands, (tree, a, b, c)),
                           (test_folded_svg, (tree,)), (test_html, (tree,)), (test_pprof, (tree, a, b, c)),
                           (test_asan, (tree,)), (test_truncated, (a, b))):
            try:
                if test is test_json:
                    merged = test(*args)
                else:
                    if merged is None and test not in (test_asan, test_truncated):
                        raise RuntimeError("no merged json to compare with")
                    test(*(args + ((merged,) if test in (test_text, test_operands, test_folded_svg, test_html,
                                                          test_pprof) else ())))
            except Exception as e:  # a crash of the driver is a failure, not a pass
                not_ok(test.__name__, "%s: %s" % (type(e).__name__, e))
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main())
