# SPDX-License-Identifier: MIT
"""The readers tests/golden/formats.py checks leakscope-translate's output
with: Google's pprof (build/tools/pprof, see symbolize/build.mk), a protobuf
wire decoder, headless Chromium with a decoder for its PNG screenshots, and
Python's XML and HTML parsers, with helpers that pick their results apart."""
import concurrent.futures
import html.parser
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
PPROF = os.path.join(BUILD, "tools", "pprof")
SVG_NS = "{http://www.w3.org/2000/svg}"

# ------------------------------------------------------------------ pprof


def pprof(args, timeout=60):
    """Runs Google's pprof: (exit status, stdout, stderr)."""
    p = subprocess.run([PPROF] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def pprof_top(path, index):
    """pprof -top: ({function: (flat, cum)}, total), exact units."""
    rc, out, err = pprof(["-top", "-nodecount=1000", "-unit=byte" if index == "inuse_space" else "-unit=count",
                          "-sample_index=" + index, path])
    if rc != 0:
        raise RuntimeError("pprof -top: exit %d\n%s" % (rc, err))
    rows, total = {}, None
    for line in out.split("\n"):
        m = re.match(r"^Showing nodes accounting for \S+, [\d.]+% of (\d+)B? total", line)
        if m:
            total = int(m.group(1))
        m = re.match(r"^\s*(\d+)B?\s+[\d.]+%\s+[\d.]+%\s+(\d+)B?\s+[\d.]+%\s+(.+)$", line)
        if m:
            rows[m.group(3)] = (int(m.group(1)), int(m.group(2)))
    return rows, total, out


def pprof_raw(path):
    """pprof -raw, split into its sections."""
    rc, out, err = pprof(["-raw", path])
    if rc != 0:
        raise RuntimeError("pprof -raw: exit %d\n%s" % (rc, err))
    locs, maps, cur = {}, [], None
    for line in out.split("\n"):
        if line in ("Locations", "Mappings", "Samples:"):
            cur = line
            continue
        if cur == "Locations":
            m = re.match(r"^\s+(\d+): (0x[0-9a-f]+) M=(\d+) (.*?)(?: s=\d+)?$", line)
            if m:
                last = locs[int(m.group(1))] = {"addr": int(m.group(2), 16), "map": int(m.group(3)),
                                                "lines": [m.group(4)] if m.group(4) else []}
            elif line.strip():
                last["lines"].append(re.sub(r" s=\d+$", "", line.strip()))
        elif cur == "Mappings" and line.strip():
            maps.append(line)
    return out, locs, maps


def wire_fields(buf):
    """The (field number, value) pairs of one protobuf message: ints for
    varints, bytes for length-delimited fields (upstream's wire format)."""
    out, pos = [], 0

    def varint():
        nonlocal pos
        v = shift = 0
        while True:
            b = buf[pos]
            pos += 1
            v |= (b & 0x7f) << shift
            shift += 7
            if b < 0x80:
                return v
    while pos < len(buf):
        key = varint()
        if key & 7 == 0:
            out.append((key >> 3, varint()))
        elif key & 7 == 2:
            n = varint()
            out.append((key >> 3, buf[pos:pos + n]))
            pos += n
        else:
            raise ValueError("wire type %d" % (key & 7))
    return out


def wire_mappings(profile):
    """Every Mapping (Profile field 3) as (start, limit, offset, build ID or
    "-", file), strings resolved through string_table (field 6)."""
    fields = wire_fields(profile)
    strings = [v.decode("utf-8") for k, v in fields if k == 6]
    for k, v in fields:
        if k == 3:
            m = dict(wire_fields(v))
            yield (m.get(2, 0), m.get(3, 0), m.get(4, 0), strings[m.get(6, 0)] or "-", strings[m.get(5, 0)])


# ------------------------------------------------------------ Chromium, PNG


def png_rows(path):
    """Decodes an 8-bit RGB or RGBA, non-interlaced PNG: (width, height,
    bytes per pixel, rows)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat = 8, []
    while pos < len(data):
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("PNG depth %d colour type %d interlace %d" % (depth, ctype, interlace))
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = w * bpp
    rows, prev = [], bytearray(stride)
    for y in range(h):
        base = y * (stride + 1)
        ft, cur = raw[base], bytearray(raw[base + 1:base + 1 + stride])
        if ft == 1:
            for i in range(bpp, stride):
                cur[i] = (cur[i] + cur[i - bpp]) & 255
        elif ft == 2:
            cur = bytearray((a + b) & 255 for a, b in zip(cur, prev))
        elif ft == 3:
            for i in range(stride):
                cur[i] = (cur[i] + ((cur[i - bpp] if i >= bpp else 0) + prev[i]) // 2) & 255
        elif ft == 4:
            for i in range(stride):
                a = cur[i - bpp] if i >= bpp else 0
                b, c = prev[i], prev[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                cur[i] = (cur[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(cur)
        prev = cur
    return w, h, bpp, rows


def pixel(img, x, y):
    w, h, bpp, rows = img
    return tuple(rows[y][x * bpp:x * bpp + 3])


def count_pixels(img, test):
    """About how many pixels pass test(r, g, b): every other pixel of every
    other row is looked at, times 4."""
    w, h, bpp, rows = img
    n = 0
    for r in rows[::2]:
        for x in range(0, w * bpp, 2 * bpp):
            n += test(r[x], r[x + 1], r[x + 2])
    return 4 * n


def coloured_pixels(img):
    """Pixels of a saturated colour (flame frames), not text or background."""
    return count_pixels(img, lambda r, g, b: max(r, g, b) - min(r, g, b) > 60)


POOL = concurrent.futures.ThreadPoolExecutor(max_workers=3)


def chromium(url, png=None, size="1200,800", dump=False):
    """Starts headless Chromium on url: a screenshot into png, or its DOM
    after load. Returns a future (several run at once: most of a run is
    Chromium starting up)."""
    return POOL.submit(chromium_run, url, png, size, dump)


def chromium_run(url, png, size, dump):
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        raise RuntimeError("chromium is not installed (make deps-check installs it)")
    profile = tempfile.mkdtemp(prefix="ls-chromium.")
    args = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--user-data-dir=" + profile, "--window-size=" + size, "--hide-scrollbars"]
    args += ["--dump-dom"] if dump else ["--screenshot=" + png]
    try:
        p = subprocess.run(args + [url], capture_output=True, text=True, timeout=120)
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    if p.returncode != 0 or (png and not os.path.exists(png)):
        raise RuntimeError("chromium exit %d:\n%s" % (p.returncode, p.stderr[-1500:]))
    return p.stdout


def near(a, b, tol=12):
    return all(abs(x - y) <= tol for x, y in zip(a, b))


def hexrgb(s):
    return tuple(int(s[i:i + 2], 16) for i in (1, 3, 5))


# ------------------------------------------------------------- SVG, HTML


def svg_frames(root):
    """The frames of a flame graph SVG: dicts with path (names from the
    root), bytes, rect geometry and fill, in document order."""
    frames = []
    for g in root.iter(SVG_NS + "g"):
        if g.get("class") != "f":
            continue
        title = g.find(SVG_NS + "title").text
        rect = g.find(SVG_NS + "rect")
        lines = title.split("\n")
        m = re.match(r"^(\d+) bytes estimated \(([\d.]+)%\), (\d+) allocations$", lines[-1])
        parent = int(g.get("data-p"))
        f = {"name": lines[0], "title": title, "bytes": int(m.group(1)), "count": int(m.group(3)),
             "x": float(rect.get("x")), "y": float(rect.get("y")), "w": float(rect.get("width")),
             "fill": rect.get("fill"), "depth": int(g.get("data-d")), "label": g.find(SVG_NS + "text").text or "",
             "fx": float(g.get("data-x")), "fw": float(g.get("data-w")), "parent": parent}
        f["path"] = (frames[parent]["path"] if frames else ()) + (f["name"],)
        frames.append(f)
    return frames


def folded_tree(folded):
    """{path: bytes} of every prefix of translate --format folded's stacks."""
    tree = {}
    for line in folded.strip().split("\n"):
        stack, value = line.rsplit(" ", 1)
        names = tuple(stack.split(";"))
        for i in range(1, len(names) + 1):
            tree[names[:i]] = tree.get(names[:i], 0) + int(value)
    return tree


class Page(html.parser.HTMLParser):
    """Collects tags, table rows (cells with data-v and text) and script text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.rows, self.cell, self.in_body, self.scripts, self.titles = [], [], None, False, [], []
        self.stack, self.text = [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.tags.append((tag, a))
        self.stack.append(tag)
        if tag == "tbody":
            self.in_body = True
        elif tag == "tr" and self.in_body:
            self.rows.append([])
        elif tag == "td" and self.in_body:
            self.cell = {"v": a.get("data-v"), "text": ""}
            self.rows[-1].append(self.cell)

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop() != tag:
            pass
        if tag == "tbody":
            self.in_body = False
        elif tag == "td":
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell["text"] += data
        if self.stack and self.stack[-1] == "script":
            self.scripts.append(data)
        if self.stack and self.stack[-1] == "title":
            self.titles.append(data)
        self.text.append(data)


def parse_html(data):
    p = Page()
    p.feed(data)
    p.close()
    return p
