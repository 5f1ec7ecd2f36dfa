#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""leakscope-translate's pprof, svg and html formats, each read back by its
real consumer:

- pprof: Google's pprof (build/tools/pprof, built from Debian's Go sources
  by symbolize/build.mk) reads the gzipped profile.proto; -top, -traces and
  -raw must show the victim's leaking functions with the report's scaled
  totals, the report's maps and build IDs, inlined frames and call-site PCs.
- svg and html: headless Chromium renders them (screenshots, parsed here
  with zlib: the frames must be drawn in their colours where the SVG puts
  them, and the click-to-zoom and sorting scripts must run), and python's
  XML and HTML parsers read them.

Reports come from the test victim under the real preload and from the
golden fixtures; hostile names must come out escaped, and odd or mutated
reports must never crash the ASan build. Prints "ok - NAME" lines.
"""
import concurrent.futures
import gzip
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import tap  # noqa: E402
from tap import check, not_ok, ok, translate  # noqa: E402
from readers import (PPROF, SVG_NS, chromium, coloured_pixels, count_pixels, folded_tree,  # noqa: E402
                     hexrgb, near, parse_html, pixel, png_rows, pprof, pprof_raw, pprof_top, svg_frames,
                     wire_mappings)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
TR, TR_ASAN = tap.TR, tap.TR_ASAN
LIB = os.path.join(BUILD, "libleakscope.so")
VICTIM = os.path.join(BUILD, "tests", "victims", "victim")
TMP = tempfile.mkdtemp(prefix="ls-formats.")
GRAPH_W = 1180.0  # flame.c: the width frames share, from x = 10

save = tap.saver(TMP)


# ---------------------------------------------------------------- reports


def parse_report(text):
    """Header dict, map tuples and leak dicts of a report, read here
    independently of the translator."""
    hdr, maps, leaks = {}, [], []
    for line in text.split("\n"):
        if line.startswith("map: "):
            m = re.match(r"^map: ([0-9a-f]+)-([0-9a-f]+) (\S+) ([0-9a-f]+) (\S+) (.*)$", line)
            maps.append((int(m.group(1), 16), int(m.group(2), 16), int(m.group(4), 16), m.group(5), m.group(6)))
        elif line.startswith("leak: "):
            kv, addrs = line[6:].split(" @ ")
            d = dict(t.split("=", 1) for t in kv.split())
            d["addrs"] = [int(a, 16) for a in addrs.split()]
            leaks.append(d)
        elif ": " in line and not line.startswith("end:"):
            k, v = line.split(": ", 1)
            hdr[k] = v
    return hdr, maps, leaks


def victim_report(name, commands, sampling=10):
    """Runs the C victim under the preload; returns (path, text)."""
    rep = os.path.join(TMP, name + ".report")
    env = dict(os.environ, LD_PRELOAD=LIB, LEAKSCOPE_PORT="off", LEAKSCOPE_SAMPLING=str(sampling),
               LEAKSCOPE_REPORT=rep)
    p = subprocess.run([VICTIM], input=commands, env=env, capture_output=True, text=True, timeout=60)
    if p.returncode != 0 or not os.path.exists(rep):
        raise RuntimeError("victim exit status %d; stderr:\n%s" % (p.returncode, p.stderr[-2000:]))
    with open(rep) as f:
        return rep, f.read()


def fixture_report(name):
    """A golden fixture's report of its own stacks (tests/golden/src)."""
    rep = os.path.join(TMP, name + ".report")
    subprocess.run([os.path.join(BUILD, "golden", name), rep], check=True)
    with open(rep) as f:
        return rep, f.read()


def find_leak(leaks, via, size):
    """The victim's leak through via of blocks of size bytes: the only one
    with that via whose bytes are count x size."""
    hits = [l for l in leaks if l.get("via") == via and int(l["bytes"]) == size * int(l["count"])]
    if len(hits) != 1:
        raise RuntimeError("want one %s leak of %d-byte blocks, got %r" % (via, size, hits))
    return hits[0]


# ------------------------------------------------------------------ pprof


def test_pprof_victim(rep, text):
    """pprof names the victim's leaking functions with the report's totals."""
    name = "pprof_top_victim_functions_and_scaled_totals"
    hdr, maps, leaks = parse_report(text)
    pb = os.path.join(TMP, "victim.pb.gz")
    rc, out, err = translate(["--format", "pprof", rep])
    save("victim.pb.gz", out)
    if rc != 0 or out[:2] != b"\x1f\x8b":
        return not_ok(name, "rc %d, not gzip; stderr:\n%s" % (rc, err))
    lm, lc = find_leak(leaks, "malloc", 48), find_leak(leaks, "calloc", 100)
    why = []
    space, total, top = pprof_top(pb, "inuse_space")
    objects, ototal, otop = pprof_top(pb, "inuse_objects")
    est_count, est_bytes = (int(x) for x in hdr["estimated"].split())
    if total != est_bytes or ototal != est_count:
        why.append("totals %r B, %r objects; the report estimates %d B, %d objects" % (total, ototal, est_bytes,
                                                                                       est_count))
    for fn, leak in (("leak_malloc", lm), ("leak_calloc", lc)):
        if space.get(fn, (None,))[0] != int(leak["est_bytes"]):
            why.append("%s: flat %r B, want est_bytes=%s" % (fn, space.get(fn), leak["est_bytes"]))
        if objects.get(fn, (None,))[0] != int(leak["est_count"]):
            why.append("%s: flat %r objects, want est_count=%s" % (fn, objects.get(fn), leak["est_count"]))
    # Sampling 1 in 10 of 5000 x 48 bytes and 2000 x 100 bytes.
    if not 0.6 * 240000 <= int(lm["est_bytes"]) <= 1.4 * 240000 or \
            not 0.6 * 200000 <= int(lc["est_bytes"]) <= 1.4 * 200000:
        why.append("estimates far from the truth: %s %s" % (lm["est_bytes"], lc["est_bytes"]))
    if space.get("main", (0, 0))[1] < int(lm["est_bytes"]) + int(lc["est_bytes"]):
        why.append("main's cum %r below both leaks" % (space.get("main"),))
    if any(f in space for f in ("malloc", "calloc")):
        why.append("allocator frames not folded: %r" % list(space))
    if "Type: inuse_space" not in top:
        why.append("default sample type is not inuse_space:\n" + top)
    check(name, why + ([] if not why else ["pprof -top:", top, otop]))
    shown = top.split("\n")
    at = [i for i, l in enumerate(shown) if l.lstrip().startswith("flat")]
    print("# pprof -top -unit=byte says:\n# " + "\n# ".join(shown[at[0] - 1:at[0] + 5] if at else shown))

    name = "pprof_traces_via_labels"
    rc, out, err = pprof(["-traces", "-unit=byte", pb])
    traces = out.split("-----------+")
    good = [t for t in traces if re.search(r"via:\s+malloc\n", t) and
            re.search(r"\n\s+%sB\s+leak_malloc\n\s+main\n" % lm["est_bytes"], t)]
    check(name, [] if rc == 0 and len(good) == 1 else ["rc %d, want one trace via malloc, "
                                                       "%sB in leak_malloc called from main:" % (rc, lm["est_bytes"]),
                                                       out, err])

    name = "pprof_raw_header_and_mappings"
    raw, locs, pmaps = pprof_raw(pb)
    why = []
    for want in ("PeriodType: objects count", "Period: %s" % hdr["sampling"],
                 "inuse_objects/count inuse_space/bytes[dflt]", "Comment: leakscope report: pid %s" % hdr["pid"]):
        if want not in raw:
            why.append("missing %r" % want)
    # Every map: line of the report is a Mapping: range, offset, file, build ID.
    got = set()
    for line in pmaps:
        m = re.match(r"^\d+: 0x([0-9a-f]+)/0x([0-9a-f]+)/0x([0-9a-f]+) (.*?) ([0-9a-f]*)\s*((?:\[\w+\])*)$", line)
        if m:
            got.add((int(m.group(1), 16), int(m.group(2), 16), int(m.group(3), 16), m.group(5) or "-", m.group(4)))
    # pprof shows the mappings that locations use; the file has them all.
    want = set(maps)
    used = {m for m in want if os.path.basename(m[4]) in ("victim", "libc.so.6")}
    if not used <= got <= want or len(used) != 2:
        why.append("mappings differ from the report's maps:\n  pprof %r\n  report %r" % (sorted(got), sorted(want)))
    wire = set(wire_mappings(gzip.decompress(out_bytes(pb))))
    if wire != want:
        why.append("Mapping messages differ from the report's maps:\n  file %r\n  report %r" % (sorted(wire),
                                                                                              sorted(want)))
    vm = [l for l in pmaps if VICTIM in l]
    if len(vm) != 1 or "[FN][FL][LN][IN]" not in vm[0]:
        why.append("victim mapping not marked symbolized: %r" % vm)
    # Call-site PCs: the first address as it is, the others minus 1.
    addrs = {l["addr"] for l in locs.values()}
    for leak in (lm, lc):
        pcs = [leak["addrs"][0]] + [a - 1 for a in leak["addrs"][1:]]
        if not set(pcs) <= addrs:
            why.append("location addresses %s lack the call sites %s" % (sorted(map(hex, addrs)),
                                                                      list(map(hex, pcs))))
    check(name, why + ([raw] if why else []))

    name = "pprof_protoc_decodes"
    proto = os.path.join(ROOT, "symbolize", "pprof", "profile.proto")
    p = subprocess.run(["protoc", "--proto_path=" + os.path.dirname(proto), "--decode=perftools.profiles.Profile",
                        os.path.basename(proto)], input=gzip.decompress(out_bytes(pb)), capture_output=True)
    dec = p.stdout.decode("utf-8", "replace")
    why = [] if p.returncode == 0 else ["protoc exit %d: %s" % (p.returncode, p.stderr.decode()[-500:])]
    if not re.search(r"^period: %s$" % hdr["sampling"], dec, re.M):
        why.append("no top-level period: %s" % hdr["sampling"])
    ids = set(re.findall(r'^\s+build_id: (\d+)$', dec, re.M))
    if len(dec.split("\nmapping {")) - 1 != len(maps) or len(ids) < 2:
        why.append("%d mappings with %d build IDs; the report has %d maps" % (len(dec.split("\nmapping {")) - 1,
                                                                          len(ids), len(maps)))
    for want in ('"inuse_objects"', '"inuse_space"', '"leak_malloc"', '"leak_calloc"'):
        if want not in dec:
            why.append("no string %s" % want)
    check(name, why)

    name = "pprof_deterministic"
    rc2, out2, _ = translate(["--format", "pprof", rep])
    check(name, [] if rc2 == 0 and out2 == out_bytes(pb) else ["two runs gave different bytes"])


def out_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def test_pprof_inline():
    """Inlined frames: one Location, several Lines, innermost first."""
    name = "pprof_inlined_lines_and_age_labels"
    rep, text = fixture_report("inl")
    _, _, leaks = parse_report(text)
    rc, out, err = translate(["--format", "pprof", rep])
    pb = save("inl.pb.gz", out)
    raw, locs, _ = pprof_raw(pb)
    src = os.path.join(ROOT, "tests", "golden", "src", "inl.c")
    lines = {}
    with open(src) as f:
        for no, t in enumerate(f, 1):
            for m in re.finditer(r"L:(\w+)", t):
                lines[m.group(1)] = no
    by_addr = {l["addr"]: l["lines"] for l in locs.values()}
    a0, a1 = leaks[0]["addrs"]
    want0 = ["leaf %s:%d" % (src, lines["leaf_capture"]), "mid %s:%d" % (src, lines["mid_calls_leaf"]),
             "outer %s:%d" % (src, lines["outer_calls_mid"])]
    want1 = ["main %s:%d" % (src, lines["main_calls_outer"])]
    why = []
    if by_addr.get(a0) != want0:
        why.append("location %#x: %r, want %r" % (a0, by_addr.get(a0), want0))
    if by_addr.get(a1 - 1) != want1:
        why.append("location %#x (return address - 1): %r, want %r" % (a1 - 1, by_addr.get(a1 - 1), want1))
    rc2, top, _ = pprof(["-top", "-unit=byte", pb])
    if not re.search(r"\b800B\s+[\d.]+%\s+[\d.]+%\s+800B\s+[\d.]+%\s+leaf \(inline\)\n", top):
        why.append("pprof -top does not give leaf its 800 bytes:\n" + top)
    # The ages are numeric labels in ms: pprof filters on them in seconds.
    for focus, want in (("max_age=10s:", "1280B"), ("min_age=1s:", "0")):
        rc3, top, _ = pprof(["-top", "-unit=byte", "-tagfocus=" + focus, pb])
        if not re.search(r"Showing nodes accounting for %s, [\d.]+%% of 1280B total" % want, top):
            why.append("-tagfocus=%s: want %s of 1280B:\n%s" % (focus, want, top))
    check(name, why + ([raw] if why else []))


# ------------------------------------------------------------------- SVG


def test_svg(rep, text):
    name = "svg_xml_frames_match_folded"
    hdr, maps, leaks = parse_report(text)
    rc, out, err = translate(["--format", "svg", rep])
    svg = save("victim.svg", out)
    try:
        root = ET.fromstring(out)
    except ET.ParseError as e:
        return not_ok(name, "not XML: %s" % e)
    frames = svg_frames(root)
    _, folded, _ = translate(["--format", "folded", rep])
    want = {("all",) + k: v for k, v in folded_tree(folded.decode()).items()}
    want[("all",)] = sum(int(l["est_bytes"]) for l in leaks)
    got = {f["path"]: f["bytes"] for f in frames}
    why = []
    if rc != 0 or root.tag != SVG_NS + "svg":
        why.append("rc %d, root %s" % (rc, root.tag))
    if got != want:
        why.append("frames (path: bytes) differ from folded output:\n  svg %r\n  folded %r" % (got, want))
    total = want[("all",)]
    for f in frames:
        if abs(f["w"] - GRAPH_W * f["bytes"] / total) > 0.01:
            why.append("%s: width %.2f for %d of %d bytes" % (f["name"], f["w"], f["bytes"], total))
        if f["depth"] != len(f["path"]) - 1:
            why.append("%s: depth %d" % (f["name"], f["depth"]))
    lm = find_leak(leaks, "malloc", 48)
    fm = [(i, f) for i, f in enumerate(frames) if f["name"] == "leak_malloc"]
    if len(fm) != 1 or not re.search(r"\nat %s:66 \(%s\)\n\d+ bytes estimated \([\d.]+%%\), \d+ allocations$" % (
            re.escape(os.path.join(ROOT, "tests", "victims", "victim.c")), re.escape(VICTIM)), fm[0][1]["title"]):
        why.append("leak_malloc's title: %r" % [f["title"] for _, f in fm])
    else:
        # its own bytes (a sampled realloc in keep_ptr may sit above it)
        i, f = fm[0]
        own = f["bytes"] - sum(c["bytes"] for c in frames if c["parent"] == i and c is not frames[0])
        if own != int(lm["est_bytes"]):
            why.append("leak_malloc's own bytes %d, want est_bytes=%s" % (own, lm["est_bytes"]))
    # Flames grow up: each frame sits right above its parent.
    for f in frames[1:]:
        parent = [p for p in frames if p["path"] == f["path"][:-1]][0]
        if f["y"] != parent["y"] - 16 or f["x"] < parent["x"] - 0.01 or f["x"] + f["w"] > parent["x"] + parent["w"] + 0.01:
            why.append("%s is not on top of %s" % (f["name"], parent["name"]))

    # main lies right of x = 0 (the threads' __clone3 sorts first) and has
    # children: zoomed, it must fill the width and they scale with it.
    z = [i for i, f in enumerate(frames) if f["name"] == "main"][0]
    size = "1200,%d" % (int(float(root.get("height"))) + 20)
    png, zpng = os.path.join(TMP, "victim-svg.png"), os.path.join(TMP, "victim-zoom.png")
    shot, zshot = chromium("file://" + svg, png, size), chromium("file://%s#z=%d" % (svg, z), zpng, size)
    check(name, why)

    name = "svg_chromium_renders_frames"
    shot.result()
    img = png_rows(png)
    why = []
    for f in frames:
        if f["w"] < 10:
            continue
        x, y = int(f["x"] + f["w"] - 2), int(f["y"]) + 1
        if not near(pixel(img, x, y), hexrgb(f["fill"])):
            why.append("%s: pixel (%d,%d) is %r, want its fill %s" % (f["name"], x, y, pixel(img, x, y), f["fill"]))
    n = coloured_pixels(img)
    area = sum(f["w"] * 15 for f in frames if f["fill"] != "#b8b8b8")
    if n < 0.8 * area:
        why.append("only %d coloured pixels for %.0f of frames" % (n, area))
    check(name, why)
    print("# chromium: %d coloured pixels, %d frames checked by colour" % (n, len([f for f in frames if f["w"] >= 10])))

    name = "svg_chromium_click_to_zoom"
    fz = frames[z]
    zshot.result()
    img = png_rows(zpng)
    why = [] if fz["fx"] > 0.01 else ["main starts at x = %r" % fz["fx"]]
    inside = {z}
    for i, f in enumerate(frames):
        if f["parent"] in inside and i > z:
            inside.add(i)
    checked = 0
    for i in sorted(inside):
        f = frames[i]
        left = 10 + GRAPH_W * (f["fx"] - fz["fx"]) / fz["fw"]
        width = GRAPH_W * f["fw"] / fz["fw"]
        if width < 10:
            continue
        for x in (int(left) + 2, int(left + width - 2)):
            if not near(pixel(img, x, int(f["y"]) + 1), hexrgb(f["fill"])):
                why.append("%s after zooming: pixel (%d,%d) %r, want %s" % (f["name"], x, int(f["y"]) + 1,
                                                                         pixel(img, x, int(f["y"]) + 1), f["fill"]))
        checked += 1
    for i, f in enumerate(frames):
        if i not in inside and f["path"] != fz["path"][:len(f["path"])] and f["w"] >= 4:
            x = int(f["x"] + f["w"] / 2)
            if near(pixel(img, x, int(f["y"]) + 1), hexrgb(f["fill"]), 3):
                why.append("%s (outside main) still drawn at (%d,%d)" % (f["name"], x, int(f["y"]) + 1))
    r0 = frames[0]
    if near(pixel(img, 1187, int(r0["y"]) + 1), hexrgb(r0["fill"]), 3):
        why.append("the root (an ancestor) is not faded")
    check(name, why if why or checked >= 3 else ["only %d frames checked" % checked])


# ------------------------------------------------------------------ HTML


def test_html(rep, text):
    name = "html_parses_with_every_leak_row"
    hdr, maps, leaks = parse_report(text)
    rc, out, err = translate(["--format", "html", rep])
    page = save("victim.html", out)
    png = os.path.join(TMP, "victim-html.png")
    shot = chromium("file://" + page, png)
    p = parse_html(out.decode())
    flame = [a for t, a in p.tags if t == "g" and a.get("class") == "f"]
    z = max(range(len(flame)), key=lambda i: float(flame[i]["data-x"]))  # the rightmost frame
    sorts = [(frag, key, desc, chromium("file://%s#%s" % (page, frag), dump=True)) for frag, key, desc in
             (("sort=2", lambda l: int(l["est_count"]), False), ("sort=-7&z=%d" % z, None, True))]
    why = []
    if rc != 0:
        why.append("rc %d: %s" % (rc, err))
    if len(p.rows) != len(leaks):
        why.append("%d rows for %d leaks" % (len(p.rows), len(leaks)))
    total = int(hdr["estimated"].split()[1])
    for i, (row, l) in enumerate(zip(p.rows, leaks)):
        got = [c["v"] for c in row[:7]]
        want = [str(i + 1), l["est_bytes"], l["est_count"], l["count"],
                "%.6f" % (100.0 * int(l["est_bytes"]) / total), l["min_age"], l["max_age"]]
        if got != want:
            why.append("row %d: %r, want %r" % (i + 1, got, want))
        if l.get("via") and row[8]["text"] != l["via"]:
            why.append("row %d via %r, want %r" % (i + 1, row[8]["text"], l["via"]))
    lm = leaks.index(find_leak(leaks, "malloc", 48))
    top = p.rows[lm][7]["v"] if len(p.rows) > lm else ""
    if not top.startswith("leak_malloc at %s:66 (" % os.path.join(ROOT, "tests", "victims", "victim.c")):
        why.append("top frame of the malloc leak: %r" % top)
    if [t for t, _ in p.tags].count("script") != 1 or [t for t, _ in p.tags].count("svg") != 1:
        why.append("want one script and one svg element")
    nf = len([a for t, a in p.tags if t == "g" and a.get("class") == "f"])
    _, svg, _ = translate(["--format", "svg", rep])
    if nf != len(svg_frames(ET.fromstring(svg))):
        why.append("%d flame frames in the page, %d in the SVG" % (nf, len(svg_frames(ET.fromstring(svg)))))
    check(name, why)

    name = "html_chromium_renders_table_and_flame_graph"
    shot.result()
    img = png_rows(png)
    dark = count_pixels(img, lambda r, g, b: r + g + b < 200)
    n = coloured_pixels(img)
    check(name, [] if n > 20000 and dark > 2000 else ["%d coloured and %d dark pixels: blank?" % (n, dark)])
    print("# chromium: %d coloured pixels (flame graph), %d dark pixels (text)" % (n, dark))

    name = "html_chromium_sorts_the_table"
    why = []
    tops = [r[7]["v"] for r in p.rows]
    for frag, key, desc, job in sorts:
        q = parse_html(job.result())
        got = [r[0]["v"] for r in q.rows]
        if key is None:  # the top frame, as text, descending
            order = sorted(range(len(leaks)), key=lambda i: i)
            order.sort(key=lambda i: tops[i], reverse=True)
        else:
            order = sorted(range(len(leaks)), key=lambda i: (key(leaks[i]) * (-1 if desc else 1), i))
        if got != [str(i + 1) for i in order]:
            why.append("#%s: rows %r, want %r" % (frag, got, [str(i + 1) for i in order]))
        marks = [a.get("data-s") for t, a in q.tags if t == "th"]
        k = int(re.search(r"sort=-?(\d+)", frag).group(1))
        if marks[k] != ("d" if desc else "a"):
            why.append("#%s: header marks %r" % (frag, marks))
    check(name, why)

    # The same page's flame graph zooms too: the rightmost frame fills the
    # width, frames beside its stack are hidden.
    name = "html_chromium_flame_graph_zooms"
    q = parse_html(sorts[1][3].result())
    gs = [(a, t) for t, a in q.tags if t in ("g", "rect") and (t == "rect" or a.get("class") == "f")]
    rects = [gs[i + 1][0] for i, (a, t) in enumerate(gs) if t == "g" and a.get("class") == "f"]
    groups = [a for a, t in gs if t == "g"]
    why = []
    if len(rects) != len(flame) or abs(float(rects[z]["width"]) - GRAPH_W) > 0.01 or float(rects[z]["x"]) != 10:
        why.append("zoomed frame %d: %r" % (z, rects[z] if len(rects) > z else None))
    hidden = [i for i, a in enumerate(groups) if "display: none" in a.get("style", "")]
    if not hidden or z in hidden:
        why.append("hidden frames %r (zoomed %d)" % (hidden, z))
    check(name, why)


# -------------------------------------------------------------- escaping

NASTY_EXE = "/tmp/<script>alert(1)</script>&amp;\"q'\xff\xfe"
NASTY_LIB = "/nonexistent/<b>x</b>&\"y'z]]><svg onload=alert(2)>\xc3\x28\xef\xbf\xbe\xc2\x85/lib.so"


def nasty_report():
    """A report whose exe, map path and so frame names carry markup, quotes,
    bytes that are not UTF-8, U+FFFE and a C1 control."""
    return ("format: leakscope-report 1\npid: 7\nexe: %s\nsampling: 10\nwindow_start: 1.5\nwindow_seconds: 2.25\n"
            "estimated: 20 3000\nstacks: 2\nmaps: 2\n"
            "map: 1000-2000 r-xp 00000000 - %s\n"
            "map: 3000-4000 r-xp 00000000 0102 /nonexistent/plain.so\n"
            "leak: count=1 bytes=200 est_count=10 est_bytes=2000 max_age=1.0 min_age=1.0 via=malloc @ 0x1010 0x3010\n"
            "leak: count=1 bytes=100 est_count=10 est_bytes=1000 max_age=2.5 min_age=0.5 @ 0x3020 0x1020\n"
            "end: 2 stacks\n") % (NASTY_EXE, NASTY_LIB)


def clean(s):
    """What an escaping writer must turn s into: invalid UTF-8, C1 controls
    and U+FFFE become U+FFFD."""
    out = s.encode("latin-1").decode("utf-8", "replace")
    return re.sub("[\x80-\x9f\ufffe\uffff]", "\ufffd", out)


def test_escaping():
    rep = save("nasty.report", nasty_report().encode("latin-1"))
    exe, lib = clean(NASTY_EXE), clean(NASTY_LIB)

    name = "svg_escapes_hostile_names"
    rc, out, err = translate(["--format", "svg", rep])
    why = []
    try:
        root = ET.fromstring(out)
        tags = {e.tag for e in root.iter()}
        frames = svg_frames(root)
        allowed = {SVG_NS + t for t in ("svg", "style", "rect", "text", "g", "title", "script")}
        if not tags <= allowed or len(root.findall(SVG_NS + "script")) != 1:
            why.append("elements %r" % sorted(tags - allowed))
        if not any(f["name"].startswith(lib + "+0x") for f in frames):
            why.append("no frame named %r: %r" % (lib, [f["name"] for f in frames]))
        if not any(exe in (t.text or "") for t in root.iter(SVG_NS + "text")):
            why.append("summary lacks the exe %r" % exe)
        if any(ord(c) < 0x20 and c != "\n" for f in frames for c in f["title"]):
            why.append("control characters in titles")
    except ET.ParseError as e:
        why.append("not XML: %s" % e)
    check(name, ["rc %d" % rc] + why if rc or why else [])

    name = "html_escapes_hostile_names"
    rc, out, err = translate(["--format", "html", rep])
    why = []
    try:
        out.decode("utf-8")
    except UnicodeDecodeError as e:
        why.append("not UTF-8: %s" % e)
    p = parse_html(out.decode("utf-8", "replace"))
    tags = [t for t, _ in p.tags]
    if tags.count("script") != 1 or tags.count("svg") != 1 or "b" in tags:
        why.append("injected elements: %r" % tags)
    if len(p.rows) != 2 or not any(lib in c["text"] for r in p.rows for c in r):
        why.append("rows %r lack %r" % (p.rows, lib))
    if not any(exe in t for t in p.titles):
        why.append("page title %r lacks %r" % (p.titles, exe))
    if any("alert" in s for s in p.scripts):
        why.append("report text inside the script")
    check(name, ["rc %d" % rc] + why if rc or why else [])

    name = "pprof_utf8_strings_hostile_names"
    rc, out, err = translate(["--format", "pprof", rep])
    pb = save("nasty.pb.gz", out)
    why = []
    # protobuf strings are UTF-8: only the bytes that are not become U+FFFD
    lib = NASTY_LIB.encode("latin-1").decode("utf-8", "replace")
    try:
        raw, locs, pmaps = pprof_raw(pb)
        if not any(lib in m for m in pmaps):
            why.append("no mapping for %r in %r" % (lib, pmaps))
        for want in ("Duration: 2.25\n", "Period: 10\n", "Time: 1970-01-01 00:00:01.5 +0000 UTC"):
            if want not in raw:
                why.append("missing %r:\n%s" % (want, raw))
    except RuntimeError as e:
        why.append(str(e))
    check(name, ["rc %d" % rc] + why if rc or why else [])


# ------------------------------------------------------------ robustness


def odd_reports(victim_text):
    """Reports the parser accepts that stress the writers."""
    head = "format: leakscope-report 1\nsampling: 10\nstacks: %d\nmaps: 1\nmap: 1000-2000 r-xp 00000000 - /bin/true\n"
    leak = "leak: count=%d bytes=%d est_count=%d est_bytes=%d max_age=%s min_age=0.0 @%s\n"
    big = 2 ** 64 - 1
    out = {
        "no_leaks": head % 0 + "end: 0 stacks\n",
        "no_maps": "format: leakscope-report 1\nstacks: 1\nmaps: 0\n" + leak % (1, 1, 1, 1, "1.0", " 0x10") +
                   "end: 1 stacks\n",
        "zero_bytes": head % 2 + leak % (0, 0, 0, 0, "0.0", " 0x1010") + leak % (0, 0, 0, 0, "0.0", " 0x1020") +
                      "end: 2 stacks\n",
        "saturated": head % 3 + (leak % (big, big, big, big, "9" * 30 + ".5", " 0x1010 0x1020")) * 3 +
                     "end: 3 stacks\n",
        "deep_recursion": head.replace("maps: 1", "max_frames: 4096\nmaps: 1") % 1 +
                          leak % (1, 8, 10, 80, "1.0", " 0x1010" * 4096) + "end: 1 stacks\n",
        "many_tiny": head % 3000 + "".join(leak % (1, 1, 10, 10 if i else 10 ** 9, "1.0", " 0x%x 0x1800" % (0x1000 + i))
                                           for i in range(3000)) + "end: 3000 stacks\n",
        "victim": victim_text,
    }
    _, inl = fixture_report("inl")
    out["inl"] = inl
    _, cxx = fixture_report("cxx")
    out["cxx"] = cxx
    return out


def mutate(data, rnd):
    b = bytearray(data)
    kind = rnd.randrange(4)
    if kind == 0:
        for _ in range(rnd.randint(1, 4)):
            b[rnd.randrange(len(b))] = rnd.choice(b"0123456789abcdef<&\"'x\xff ;.")
    elif kind == 1:
        pos = rnd.randrange(len(b))
        b[pos:pos] = bytes(rnd.choice(b"<>&\"'\xc3\xff]x0") for _ in range(rnd.randint(1, 8)))
    elif kind == 2:
        b = bytearray(re.sub(rb"[0-9a-f]", lambda m: b"f" if rnd.random() < 0.05 else m.group(0), bytes(b)))
    else:
        lines = bytes(b).split(b"\n")
        leaks = [i for i, l in enumerate(lines) if l.startswith(b"leak: ")]
        if leaks:
            i = rnd.choice(leaks)
            lines[i] = re.sub(rb"(est_\w+)=\d+", lambda m: m.group(1) + b"=" + str(rnd.choice(
                [0, 1, 2 ** 63, 2 ** 64 - 1])).encode(), lines[i])
        b = bytearray(b"\n".join(lines))
    return bytes(b)


def valid_outputs(fmt, out):
    """Why out is not a well-formed fmt document ([] when it is)."""
    try:
        if fmt == "svg":
            ET.fromstring(out)
        elif fmt == "html":
            out.decode("utf-8")
            p = parse_html(out.decode())
            if [t for t, _ in p.tags].count("script") != 1:
                return ["scripts: %r" % [t for t, _ in p.tags]]
        else:
            gzip.decompress(out)
    except Exception as e:  # noqa: BLE001 - any failure to read is the finding
        return ["%s: %s" % (type(e).__name__, e)]
    return []


def test_robustness(victim_text):
    """Odd and mutated reports through the ASan+UBSan build: exit 0 when the
    parser accepts the report (1 when it does not), output well formed."""
    name = "odd_and_mutated_reports_asan"
    if not os.path.exists(TR_ASAN):
        return not_ok(name, "%s not built" % TR_ASAN)
    reports = odd_reports(victim_text)
    rnd = random.Random(20251123)
    # mostly the fixtures' small reports: the victim's (libc's DWARF) is slower
    base = [reports["victim"].encode()] + [reports["inl"].encode(), reports["cxx"].encode()] * 2
    for i in range(50):
        reports["mutation%d" % i] = mutate(rnd.choice(base), rnd)
    def run_one(item):
        """Runs one report through text (the plain build: is it accepted?)
        and the three formats (ASan); returns (accepted, problems)."""
        rname, data = item
        path = save(rname + ".report", data if isinstance(data, bytes) else data.encode())
        rc_text, _, _ = translate([path])
        bad = []
        for fmt in ("svg", "html", "pprof"):
            try:
                rc, out, err = translate(["--format", fmt, path], tr=TR_ASAN, timeout=120)
            except subprocess.TimeoutExpired:
                bad.append("%s --format %s: timeout" % (rname, fmt))
                continue
            if rc != rc_text or rc not in (0, 1) or "Sanitizer" in err or "runtime error" in err:
                bad.append("%s --format %s: exit %d (text: %d)\n%s" % (rname, fmt, rc, rc_text, err[-1500:]))
            elif rc == 0:
                bad += ["%s --format %s: %s" % (rname, fmt, w) for w in valid_outputs(fmt, out)]
                # pprof itself reads the hand-made odd ones
                if fmt == "pprof" and not rname.startswith("mutation"):
                    try:
                        pprof_raw(save(rname + ".pb.gz", out))
                    except RuntimeError as e:
                        bad.append("%s: %s" % (rname, e))
        return rc_text == 0, bad

    why, accepted = [], 0
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        for good, bad in pool.map(run_one, reports.items()):
            accepted += good
            why += bad
    check(name + " (%d reports, %d accepted)" % (len(reports), accepted), why)

    name = "flame_tiny_frames_left_out"
    rc, out, err = translate(["--format", "svg", save("tiny.report", reports["many_tiny"])])
    frames = svg_frames(ET.fromstring(out))
    narrow = [f for f in frames if f["w"] < 0.1]
    check(name, [] if rc == 0 and not narrow and 3 <= len(frames) < 100 else
          ["rc %d, %d frames, %d narrower than 0.1" % (rc, len(frames), len(narrow))])


def test_usage(rep):
    name = "usage_new_formats"
    why = []
    for args in (["--format", "svg", "--report", rep, "0x1"], ["--format", "pprof", "--pid", "1", "0x1"]):
        rc, out, err = translate(args)
        if rc != 2 or out or "whole reports" not in err:
            why.append("%r: rc %d %r" % (args, rc, err))
    # gzip data is not written to a terminal
    import pty
    master, slave = pty.openpty()
    p = subprocess.run([TR, "--format", "pprof", rep], stdout=slave, stderr=subprocess.PIPE, timeout=60)
    os.close(slave)
    os.close(master)
    if p.returncode != 2 or b"redirect" not in p.stderr:
        why.append("pprof to a terminal: rc %d %r" % (p.returncode, p.stderr))
    rc, out, err = translate(["--help"])
    for fmt in ("pprof", "svg", "html"):
        if fmt not in out.decode():
            why.append("--help lacks %s" % fmt)
    rc, out, err = translate(["--top", "1", "--format", "html", rep])
    if len(parse_html(out.decode()).rows) != 1:
        why.append("--top 1 --format html: not one row")
    check(name, why)


def main():
    try:
        for need in (TR, LIB, VICTIM, PPROF):
            if not os.path.exists(need):
                not_ok("prerequisites", "%s is missing: run make check (or make tests after make deps-check)" % need)
                return 1
        rep, text = victim_report("victim", "leak malloc 5000 48\nleak calloc 2000 100\nthreads 2 500 64\nquit\n")
        for test, args in ((test_pprof_victim, (rep, text)), (test_pprof_inline, ()), (test_svg, (rep, text)),
                           (test_html, (rep, text)), (test_escaping, ()), (test_usage, (rep,)),
                           (test_robustness, (text,))):
            start = time.time()
            try:
                test(*args)
            except Exception as e:  # a crash of the driver is a failure, not a pass
                not_ok(test.__name__, "%s: %s" % (type(e).__name__, e))
            print("# %s: %.1f s" % (test.__name__, time.time() - start))
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    return 1 if tap.failures else 0


if __name__ == "__main__":
    sys.exit(main())
