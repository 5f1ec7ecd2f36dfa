# SPDX-License-Identifier: MIT
"""Garbage input for leakscope-translate: every truncation of a report,
hand-made garbled lines, and seeded random mutations. A bad report must
give exit status 1 and an error naming its line; nothing may crash."""
import random
import re
import subprocess


def _run(tr, path, timeout=30):
    p = subprocess.run([tr, path], capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")


def _line_of(err):
    m = re.search(r":(\d+): ", err)
    return int(m.group(1)) if m else None


def _lines(report):
    return report.split("\n")


def _set_line(report, prefix, new, nth=0):
    """Replaces the nth line starting with prefix; returns (report, line number)."""
    lines = _lines(report)
    hits = [i for i, l in enumerate(lines) if l.startswith(prefix)]
    i = hits[nth]
    lines[i] = new(lines[i]) if callable(new) else new
    return "\n".join(lines), i + 1


def cases(report):
    """(name, bad report, line the error must name)."""
    out = []
    leak = lambda f: lambda l: f(l)  # noqa: E731
    add = out.append
    r, n = _set_line(report, "format:", "format: leakscope-report 3")
    add(("wrong_format_version", r, n))
    r, n = _set_line(report, "pid:", "pid: 12x")
    add(("header_int_garbled", r, n))
    r, n = _set_line(report, "window_start:", "window_start: 1.2.3")
    add(("header_decimal_garbled", r, n))
    r, n = _set_line(report, "live:", "live: 5")
    add(("header_pair_short", r, n))
    r, n = _set_line(report, "sampled:", "sampled: 99999999999999999999999")
    add(("header_int_overflow", r, n))
    r, n = _set_line(report, "dropped:", "dropped 0")
    add(("header_no_colon", r, n))
    r, n = _set_line(report, "unwinder:", "sampling: 3")
    add(("header_duplicate_known", r, n))
    r, n = _set_line(report, "map: ", lambda l: l.replace("-", "+", 1))
    add(("map_bad_range", r, n))
    r, n = _set_line(report, "map: ", lambda l: re.sub(r"^map: (\w+)-(\w+)", r"map: \2-\1", l))
    add(("map_reversed_range", r, n))
    r, n = _set_line(report, "map: ", lambda l: l.replace(" r-xp ", " rxp ", 1))
    add(("map_bad_perms", r, n))
    r, n = _set_line(report, "map: ", lambda l: l.replace(" r-xp ", " r-xp 0x1g ", 1))
    add(("map_bad_offset", r, n))
    r, n = _set_line(report, "map: ", lambda l: re.sub(r" (\S+) (/\S*)$", r" abc \2", l), 1)
    add(("map_bad_build_id", r, n))
    r, n = _set_line(report, "map: ", lambda l: re.sub(r" (/\S*)$", "", l), 1)
    add(("map_no_path", r, n))
    r, n = _set_line(report, "map: ", lambda l: l.replace("map: ", "map:  ", 1))
    add(("map_double_space", r, n))
    r, n = _set_line(report, "leak: ", leak(lambda l: l.replace("count=", "count=-", 1)))
    add(("leak_negative_count", r, n))
    r, n = _set_line(report, "leak: ", leak(lambda l: l.replace(" @ ", " ", 1)))
    add(("leak_no_at", r, n))
    r, n = _set_line(report, "leak: ", leak(lambda l: l.replace(" max_age=12.401", "", 1)))
    add(("leak_missing_key", r, n))
    r, n = _set_line(report, "leak: ", leak(lambda l: l.replace(" bytes=", " bytes=1 bytes=", 1)), 1)
    add(("leak_duplicate_key", r, n))
    r, n = _set_line(report, "leak: ", leak(lambda l: l.replace(" @ 0x", " @ 0xq", 1)))
    add(("leak_bad_address", r, n))
    r, n = _set_line(report, "leak: ", leak(lambda l: l + " "))
    add(("leak_trailing_space", r, n))
    r, n = _set_line(report, "leak: ", leak(lambda l: l + " 0x1" * 40))
    add(("leak_more_than_max_frames", r, n))
    r, n = _set_line(report, "leak: ", leak(lambda l: l.replace("min_age=0.013", "min_age=.5", 1)))
    add(("leak_bad_age", r, n))
    r, n = _set_line(report, "end: ", "end: 3 stacks")
    add(("end_count_wrong", r, n))
    r, n = _set_line(report, "end: ", "end: 2 stack")
    add(("end_garbled", r, n))
    r = report.replace("stacks: 2\n", "stacks: 3\n")
    add(("stacks_more_than_records", r, len(_lines(report)) - 1))
    r = report + "leak: extra\n"
    add(("data_after_end", r, len(_lines(report))))
    r, n = _set_line(report, "leak: ", leak(lambda l: l.replace("count=", "co\x01unt=", 1)))
    add(("control_byte", r, n))
    r, n = _set_line(report, "map: ", lambda l: l + "\r")
    add(("crlf", r, n))
    r = report.replace("maps: ", "mapz: ")
    add(("no_maps_header", r, report.split("\n").index([l for l in _lines(report) if l.startswith("map: ")][0]) + 1))
    lines = _lines(report)
    del lines[[i for i, l in enumerate(lines) if l.startswith("map: ")][0]]
    add(("map_line_missing", "\n".join(lines), [i for i, l in enumerate(lines) if l.startswith("leak: ")][0] + 1))
    return out


def run(tr, report, save, ok, not_ok):
    # Every strict prefix is a truncated report: exit 1, naming the line
    # being read (the one cut, or the one missing after the last newline).
    bad = []
    data = report.encode()
    for cut in range(len(data)):
        path = save("trunc.report", data[:cut], "wb")
        rc, out, err = _run(tr, path)
        want = data[:cut].count(b"\n") + 1
        if rc != 1 or _line_of(err) != want or out:
            bad.append("cut at %d: rc %d, stderr %r, want line %d" % (cut, rc, err.strip(), want))
    if bad:
        not_ok("garbage_every_truncation", "\n".join(bad[:10]))
    else:
        ok("garbage_every_truncation (%d cuts)" % len(data))

    bad = []
    for name, text, line in cases(report):
        path = save("garbled.report", text.encode("latin-1"), "wb")
        rc, out, err = _run(tr, path)
        if rc != 1 or _line_of(err) != line or out:
            bad.append("%s: rc %d, stderr %r, want line %d" % (name, rc, err.strip(), line))
    path = save("nul.report", report.encode().replace(b"pid: ", b"pid:\0 "), "wb")
    rc, out, err = _run(tr, path)
    if rc != 1 or _line_of(err) != 3:
        bad.append("nul byte: rc %d, stderr %r" % (rc, err.strip()))
    if bad:
        not_ok("garbage_garbled_lines", "\n".join(bad))
    else:
        ok("garbage_garbled_lines (%d cases)" % (len(cases(report)) + 1))

    # Seeded random mutations: exit 0 or 1 (with a line number), no signal.
    rnd = random.Random(20251123)
    bad = []
    lines = report.split("\n")
    for i in range(300):
        b = bytearray(data)
        kind = i % 5
        if kind == 0:
            for _ in range(rnd.randint(1, 4)):
                b[rnd.randrange(len(b))] = rnd.randrange(256)
        elif kind == 1:
            pos = rnd.randrange(len(b))
            b[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 16)))
        elif kind == 2:
            pos = rnd.randrange(len(b))
            del b[pos:pos + rnd.randint(1, 32)]
        elif kind == 3:
            ls = list(lines)
            j = rnd.randrange(len(ls) - 1)
            ls.insert(j, ls[rnd.randrange(len(ls) - 1)])
            b = bytearray("\n".join(ls).encode())
        else:
            b = bytearray(re.sub(rb"[0-9a-f]", lambda m: b"f" if rnd.random() < 0.05 else m.group(0), bytes(b)))
        path = save("fuzz.report", bytes(b), "wb")
        try:
            rc, out, err = _run(tr, path)
        except subprocess.TimeoutExpired:
            bad.append("mutation %d: timeout" % i)
            continue
        if rc == 1 and _line_of(err) is None:
            bad.append("mutation %d: exit 1 without a line number: %r" % (i, err.strip()))
        elif rc not in (0, 1):
            bad.append("mutation %d: exit status %d (signal?) %r" % (i, rc, err.strip()[:200]))
    if bad:
        not_ok("garbage_random_mutations", "\n".join(bad[:10]))
    else:
        ok("garbage_random_mutations (300)")
