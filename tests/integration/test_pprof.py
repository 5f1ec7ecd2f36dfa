# SPDX-License-Identifier: MIT
"""tests/integration/test_pprof.py: the control port speaks pprof. The
legacy heap text of /leak-off?format=pprof is read by Debian's
google-pprof, which must name the victim's leaking functions with the
right scaled totals; /debug/pprof/heap is a gzipped profile.proto that
real protobuf decoders (protoc and Google's pprof, fetching the URL) read, with the
build IDs in its mappings; /debug/pprof/symbol answers pprof's lookups."""
import gzip
import os
import re
import subprocess
import tempfile

from lslib import BUILD, ROOT, VICTIM, Host, Tap, leaks_at, sum_field, tool, translate, within

t = Tap()
N = 10


def pprof_bytes(path, fn, extra=()):
    """google-pprof's flat in-use bytes for function fn."""
    r = subprocess.run([tool("google-pprof"), "--text", "--show_bytes", *extra, VICTIM, path],
                       capture_output=True, text=True)
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 6 and f[5] == fn:
            return int(f[0])
    return None


h = Host([VICTIM])
d = tempfile.mkdtemp(prefix="leakscope-pprof.")
try:
    h.get("/leak-on?sampling=%d" % N)
    h.cmd("leak malloc 20000 48")
    h.cmd("leak calloc 5000 200")
    st, text = h.get("/leak-report?format=pprof")
    t.ok(st == 200 and text.startswith("heap profile: ") and "@ heapprofile" in text.split("\n")[0]
         and "\nMAPPED_LIBRARIES:\n" in text, "/leak-report?format=pprof is gperftools heap text "
         "with the heapprofile tag and a MAPPED_LIBRARIES section")
    t.ok(not re.search(r"0x[0-9a-f]*[A-F]", text), "its hex is lowercase")
    heap = os.path.join(d, "leak.heap")
    with open(heap, "w") as f:
        f.write(text)
    m = pprof_bytes(heap, "leak_malloc")
    c = pprof_bytes(heap, "leak_calloc")
    t.ok(m is not None and within(m // 48 // N, 20000, N) and m % (48 * N) == 0,
         "google-pprof: leak_malloc holds %s bytes, scaled by N (20000 x 48 = 960000 leaked)" % m)
    t.ok(c is not None and within(c // 200 // N, 5000, N) and c % (200 * N) == 0,
         "google-pprof: leak_calloc holds %s bytes (5000 x 200 = 1000000 leaked)" % c)
    objs = None
    r = subprocess.run([tool("google-pprof"), "--text", "--inuse_objects", VICTIM, heap],
                       capture_output=True, text=True)
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 6 and f[5] == "leak_malloc":
            objs = int(f[0])
    t.ok(objs is not None and objs == m // 48, "google-pprof --inuse_objects agrees (%s objects)"
         % objs)
    # The same window through the text report: the same numbers.
    rep = translate(h.get("/leak-report")[1])
    t.ok(sum_field(leaks_at(rep, "leak_malloc"), "est_bytes") == m,
         "the text report and the pprof text agree on leak_malloc")

    # /debug/pprof/heap: profile.proto, gzipped, as Go's net/http/pprof serves it.
    pb = os.path.join(d, "heap.pb.gz")
    r = subprocess.run(["curl", "-s", "-D", "-", "-o", pb, h.url + "/debug/pprof/heap"],
                       capture_output=True, text=True)
    t.ok("200" in r.stdout.split("\n")[0] and "application/octet-stream" in r.stdout,
         "/debug/pprof/heap answers application/octet-stream")
    raw = gzip.decompress(open(pb, "rb").read())
    t.ok(len(raw) > 100, "it is gzip (%d bytes inside)" % len(raw))
    # Two real readers: protoc against upstream's message definition, and
    # Google's pprof (built offline from Debian's Go sources by make tests),
    # which fetches the URL itself as `pprof http://host:port/debug/pprof/heap`.
    proto = os.path.join(ROOT, "symbolize", "pprof", "profile.proto")
    r = subprocess.run([tool("protoc") or "protoc", "--proto_path=" + os.path.dirname(proto),
                        "--decode=perftools.profiles.Profile", os.path.basename(proto)],
                       input=raw, capture_output=True)
    out = r.stdout.decode(errors="replace")
    t.ok(r.returncode == 0 and "inuse_objects" in out and "inuse_space" in out,
         "protoc decodes it as perftools.profiles.Profile", r.stderr.decode()[-300:])
    ids = set(re.findall(r'"([0-9a-f]{40})"', out))
    t.ok(len(ids) >= 2, "its mappings carry build IDs (%d)" % len(ids))
    t.ok(re.search(r"\bperiod: %d\b" % N, out) is not None, "period is the sampling rate")
    go_pprof = os.path.join(BUILD, "tools", "pprof")
    genv = dict(os.environ, PPROF_TMPDIR=d, HOME=d)
    r = subprocess.run([go_pprof, "-top", "-unit=byte", "-sample_index=inuse_space",
                        h.url + "/debug/pprof/heap"], capture_output=True, text=True, env=genv, timeout=120)
    flat = re.search(r"^\s*(\d+)B\s+[\d.]+%\s+[\d.]+%\s+\d+B\s+[\d.]+%\s+leak_malloc$", r.stdout, re.M)
    t.ok(r.returncode == 0 and flat is not None and int(flat.group(1)) == m,
         "pprof -top %s/debug/pprof/heap: leak_malloc flat %s B, as google-pprof said (%s B)"
         % (h.url, flat and flat.group(1), m), r.stdout[-800:] + r.stderr[-500:])
    t.ok(re.search(r"^Build ID: [0-9a-f]{40}$", r.stdout, re.M) is not None,
         "pprof shows the main binary's build ID")
    r = subprocess.run([go_pprof, "-symbolize=remote", "-top", h.url + "/debug/pprof/heap"],
                       capture_output=True, text=True, env=genv, timeout=120)
    t.ok(r.returncode == 0 and "__libc_start_main" in r.stdout,
         "pprof -symbolize=remote names libc frames through /debug/pprof/symbol",
         r.stdout[-800:] + r.stderr[-500:])
    st, dbg = h.get("/debug/pprof/heap?debug=1")
    t.ok(st == 200 and dbg.startswith("heap profile: "), "/debug/pprof/heap?debug=1 is the heap text")
    st, body = h.get("/debug/pprof/heap?bogus=1")
    t.ok(st == 400, "an unknown parameter is 400")

    # /debug/pprof/symbol: the count, then lookups by POST and by query.
    st, body = h.get("/debug/pprof/symbol")
    t.ok(st == 200 and body.strip() == "num_symbols: 1", "GET /debug/pprof/symbol gives the count")
    libc_pc = next((f["addr"] for lk in rep["leaks"] for f in lk["frames"]
                    if f.get("function") == "__libc_start_main_impl"), None)
    r = subprocess.run(["curl", "-s", "--data-binary", "%s+0x1" % libc_pc,
                        h.url + "/debug/pprof/symbol"], capture_output=True, text=True)
    t.ok(libc_pc and r.stdout.startswith(libc_pc + " ") and "libc_start_main" in r.stdout,
         "POST /debug/pprof/symbol names a libc address: %r" % r.stdout.strip())
    st, body = h.get("/debug/pprof/symbol?%s" % libc_pc)
    t.ok(st == 200 and "libc_start_main" in body, "and so does the query form")
    r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--data-binary",
                        "@-", h.url + "/debug/pprof/symbol"], input="0x1+" * 40000,
                       capture_output=True, text=True)
    t.ok(r.stdout == "413", "a body over 64 KiB is refused (413)")

    st, text = h.get("/leak-off?format=pprof")
    t.ok(st == 200 and text.startswith("heap profile: "), "/leak-off?format=pprof closes the window")
    t.ok('"on": false' in h.get("/leak-status")[1], "and the window is closed")
    r = subprocess.run(["curl", "-s", "-o", pb, "-w", "%{http_code}", h.url + "/debug/pprof/heap"],
                       capture_output=True, text=True)
    raw = gzip.decompress(open(pb, "rb").read())
    dec = subprocess.run([tool("protoc") or "protoc", "--decode_raw"], input=raw,
                         capture_output=True).stdout.decode(errors="replace")
    t.ok(r.stdout == "200" and "inuse_space" in dec and not re.search(r"^2 \{", dec, re.M),
         "with no window, /debug/pprof/heap answers 200 with a valid profile and no samples")
finally:
    t.ok(h.stop() == 0, "the victim exits cleanly", h.stderr()[-300:])
    h.cleanup()
    subprocess.run(["rm", "-rf", d])
t.done()
