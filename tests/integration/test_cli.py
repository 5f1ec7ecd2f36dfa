# SPDX-License-Identifier: MIT
"""tests/integration/test_cli.py: build/leakscope end to end against a
victim: run, on, report, off (to a file and as pprof), status, translate,
reaching the program by --pid, --port and --socket; clear errors and exit
codes 0/1/2; --help everywhere. Then make install into a DESTDIR: the
installed command finds the installed preload (versioned soname) and
works; make uninstall removes it all."""
import json
import re
import os
import shutil
import subprocess
import tempfile
import time

from lslib import BUILD, ROOT, VICTIM, Tap, leaks_at, sum_field, translate, within

t = Tap()
CLI = os.path.join(BUILD, "leakscope")


def cli(*args, cli=CLI, env=None):
    e = dict(os.environ)
    e.pop("LEAKSCOPE_PORT", None)
    e.update(env or {})
    r = subprocess.run([cli, *args], capture_output=True, text=True, env=e, timeout=120)
    return r.returncode, r.stdout, r.stderr


class Run:
    """leakscope run -- victim, with the victim's stdin in our hands."""

    def __init__(self, *opts, cli=CLI):
        self.p = subprocess.Popen([cli, "run", *opts, "--", VICTIM], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        line = self.p.stderr.readline()
        self.banner = line.strip()
        self.pid = int(line.split("pid ")[1].split(",")[0]) if "pid " in line else None
        self.port = int(line.rsplit(":", 1)[1]) if "control at" in line else None

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        while True:
            l = self.p.stdout.readline()
            if not l or l.strip() == "done":
                return

    def stop(self):
        self.p.stdin.write("quit\n")
        self.p.stdin.close()
        return self.p.wait(timeout=30)


# ---- help and usage ----
for args in (["--help"], ["run", "--help"], ["on", "--help"], ["off", "--help"],
             ["report", "--help"], ["status", "--help"], ["ps", "--help"]):
    rc, out, err = cli(*args)
    t.ok(rc == 0 and "usage:" in out, "leakscope %s prints usage and exits 0" % " ".join(args))
for args, what in ((["frobnicate"], "an unknown command"), (["on", "--port", "1"], "on without --sampling"),
                   (["on", "--sampling", "x", "--port", "1"], "a non-numeric sampling"),
                   (["status", "--port"], "an option without its value"), ([], "no command"),
                   (["run"], "run without a command"), (["ps", "--bogus"], "ps with an unknown option"),
                   (["status", "--tree", "x"], "a non-numeric --tree"),
                   (["on", "--tree", "1"], "on --tree without --sampling")):
    rc, out, err = cli(*args)
    t.ok(rc == 2 and err.strip(), "%s exits 2 with a message" % what, err)
rc, out, err = cli("status", "--port", "1")
t.ok(rc == 1 and "nothing answers" in err, "nothing listening: exit 1 and says so (%r)" % err.strip())
rc, out, err = cli("status", "--pid", "999999999")
t.ok(rc == 1 and "no process" in err, "a missing pid: exit 1 (%r)" % err.strip())
rc, out, err = cli("status", "--pid", str(os.getpid()))
t.ok(rc == 1 and "does not run under leakscope" in err, "a pid without the preload: exit 1")
rc, out, err = cli("--version")
t.ok(rc == 0 and out.startswith("leakscope "), "--version")

# ---- the workflow, by pid ----
r = Run("--sampling", "10")
try:
    t.ok(r.pid and r.port and "control at http://127.0.0.1:" in r.banner,
         "run prints the control URL: %r" % r.banner)
    r.cmd("leak malloc 10000 40")
    rc, out, err = cli("status", "--pid", str(r.pid))
    s = json.loads(out) if rc == 0 else {}
    t.ok(rc == 0 and s.get("on") and s.get("sampling") == 10 and s.get("pid") == r.pid,
         "status --pid finds the port through the program's environment")
    rc, out, err = cli("report", "--pid", str(r.pid))
    t.ok(rc == 0 and "window_open: yes" in out, "report --pid leaves the window open")
    summary = re.compile(r"^leakscope: \d+ stacks? growing, \d+ plateau, \d+ undecided$", re.M)
    t.ok(summary.search(err) and "format:" not in err,
         "report prints the verdicts in one line on stderr, the report on stdout (%r)" % err.strip())
    d = tempfile.mkdtemp(prefix="leakscope-cli.")
    path = os.path.join(d, "leak.report")
    rc, out, err = cli("off", "--port", str(r.port), "-o", path)
    rep = translate(open(path).read()) if rc == 0 else {"leaks": []}
    c = sum_field(leaks_at(rep, "leak_malloc"), "count")
    t.ok(rc == 0 and within(c, 10000, 10), "off --port -o FILE writes the report (%d sampled)" % c)
    t.ok(summary.search(err), "off -o FILE prints the verdicts' summary on stderr (%r)" % err.strip())
    rc, out, err = cli("off", "--port", str(r.port))
    t.ok(rc == 1 and "leak detection is off" in err, "a second off: exit 1 with the port's reason")
    rc, out, err = cli("on", "--port", str(r.port), "--sampling", "5")
    t.ok(rc == 0 and "ok:" in out, "on --sampling 5")
    r.cmd("leak calloc 3000 64")
    rc, out, err = cli("off", "--pid", str(r.pid), "--format", "pprof", "-o", path + ".heap")
    t.ok(rc == 0 and open(path + ".heap").read().startswith("heap profile:"),
         "off --format pprof writes heap profile text")
    rc, out, err = cli("translate", "--format", "json", path)
    t.ok(rc == 0 and json.loads(out)["sampling"] == 10, "translate passes through to leakscope-translate")
    rc, out, err = cli("translate", "--bogus-flag", path)
    t.ok(rc == 2, "translate keeps leakscope-translate's exit codes (2 on bad usage)")
    shutil.rmtree(d, ignore_errors=True)
finally:
    rc = r.stop()
    t.ok(rc == 0, "run exits with the program's status (0)")

# run propagates a failing status
rc = subprocess.run([CLI, "run", "--", "sh", "-c", "exit 7"], capture_output=True).returncode
t.ok(rc == 7, "run exits with the program's own status (7)")

# ---- by socket ----
d = tempfile.mkdtemp(prefix="leakscope-cli.")
sock = os.path.join(d, "ctl.sock")
p = subprocess.Popen([VICTIM], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                     env=dict(os.environ, LD_PRELOAD=os.path.join(BUILD, "libleakscope.so"),
                              LEAKSCOPE_SOCKET=sock))
try:
    for _ in range(200):
        if os.path.exists(sock):
            break
        time.sleep(0.02)
    rc, out, err = cli("on", "--socket", sock, "--sampling", "3")
    rc2, out2, err2 = cli("status", "--pid", str(p.pid))
    t.ok(rc == 0 and rc2 == 0 and json.loads(out2)["sampling"] == 3,
         "--socket works, and --pid finds the program's socket")
finally:
    p.communicate("quit\n", timeout=30)
    shutil.rmtree(d, ignore_errors=True)

# ---- make install / uninstall ----
dest = tempfile.mkdtemp(prefix="leakscope-install.")
try:
    r = subprocess.run(["make", "-s", "--no-print-directory", "-C", ROOT, "install",
                        "PREFIX=/usr/local", "DESTDIR=" + dest], capture_output=True, text=True)
    root = dest + "/usr/local"
    lib = root + "/lib/libleakscope.so.0"
    files = ["bin/leakscope", "bin/leakscope-translate", "lib/libleakscope.so.0.1.0",
             "lib/libleakscope.so.0", "lib/libleakscope.so", "share/man/man1/leakscope.1",
             "share/doc/leakscope/README.md", "share/doc/leakscope/report-format.md"]
    missing = [f for f in files if not os.path.lexists(os.path.join(root, f))]
    t.ok(r.returncode == 0 and not missing, "make install puts everything under DESTDIR/PREFIX "
         "(missing: %s)" % missing, r.stderr[-300:])
    soname = subprocess.run(["readelf", "-d", lib], capture_output=True, text=True).stdout
    t.ok("libleakscope.so.0]" in soname and os.readlink(lib) == "libleakscope.so.0.1.0",
         "the preload is installed with its versioned soname, libleakscope.so.0")
    man = subprocess.run(["man", "-l", root + "/share/man/man1/leakscope.1"], capture_output=True,
                         text=True, env=dict(os.environ, MANWIDTH="80"))
    t.ok(man.returncode == 0 and "leakscope" in man.stdout.lower(), "the man page renders",
         man.stderr[-200:])
    ri = Run("--sampling", "1", cli=root + "/bin/leakscope")
    try:
        ri.cmd("leak malloc 100 10")
        rc, out, err = cli("off", "--pid", str(ri.pid), cli=root + "/bin/leakscope")
        rep = translate(out) if rc == 0 else {"leaks": []}
        t.ok(rc == 0 and sum_field(leaks_at(rep, "leak_malloc"), "count") == 100,
             "the installed leakscope runs a program with the installed preload")
    finally:
        ri.stop()
    r = subprocess.run(["make", "-s", "--no-print-directory", "-C", ROOT, "uninstall",
                        "PREFIX=/usr/local", "DESTDIR=" + dest], capture_output=True, text=True)
    left = [os.path.join(dp, f) for dp, dn, fn in os.walk(dest) for f in fn]
    t.ok(r.returncode == 0 and not left, "make uninstall removes every file (left: %s)" % left[:5])
finally:
    shutil.rmtree(dest, ignore_errors=True)
t.done()
