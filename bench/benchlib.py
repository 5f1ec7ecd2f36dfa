# SPDX-License-Identifier: MIT
"""bench/benchlib.py: what the benchmark scripts share: a log line on
stderr, finding Debian's tools, a free TCP port, and replacing one section
of bench/RESULTS.md (each script owns its sections; the others stay)."""
import os
import shutil
import socket
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "RESULTS.md")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def tool(name):
    """The system's program name (Debian's, not one earlier on PATH)."""
    for d in ("/usr/bin", "/usr/sbin", "/bin"):
        p = os.path.join(d, name)
        if os.path.exists(p):
            return p
    return shutil.which(name)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def splice(title, text, before="\n## targets", path=RESULTS):
    """Puts text (a section starting with the line title) in place of the
    section of that title, or, when there is none, before the section that
    starts with before (at the end when that is missing too)."""
    with open(path) as f:
        old = f.read()
    if title in old:
        a = old.index(title)
        b = old.find("\n## ", a + 1)
        new = old[:a] + text + (old[b + 1:] if b >= 0 else "")
    else:
        b = old.find(before)
        new = old[:b + 1] + text + "\n" + old[b + 1:] if b >= 0 else old + "\n" + text
    with open(path, "w") as f:
        f.write(new)
    log("wrote %s (%s)" % (path, title.lstrip("# ")))
