# SPDX-License-Identifier: MIT
"""tests/integration/test_trees.py: whole process trees through the CLI
(docs/process-trees.md, issue 11) against a pre-forking victim of ours
(tests/victims/prefork.c: a master and its workers, each leaking a known
number of blocks on command, workers exiting and respawned):

- leakscope ps and ps --json find every process through its socket in the
  runtime directory, with its window and estimated live bytes;
- on --tree opens the window in the master and every worker; workers
  forked during the window (a respawn, spawned on demand) inherit it;
- report --tree and off --tree write one tree report holding every live
  process's report and the exit reports of the workers that exited; the
  merged estimate is within 5 sigma of the truth;
- an exit report of an older window is left out; ps removes exit reports
  of trees that are gone;
- status|on|off --pid CHILD acts on the child, never its parent;
- bad input: a pid that does not exist, a process not under leakscope,
  --format pprof with --tree, a process that vanishes mid-command, a user
  who may reach none of the processes."""
import glob
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from lslib import BUILD, Host, Tap, leaks_at, sum_field, within

t = Tap()
CLI = os.path.join(BUILD, "leakscope")
PREFORK = os.path.join(BUILD, "tests", "victims", "prefork")
N = 10        # sampling
BLOCKS = 2000  # per worker
SIZE = 64

TMP = tempfile.mkdtemp(prefix="leakscope-trees.")
RD = os.path.join(TMP, "run")  # the runtime directory of every process here
os.mkdir(RD, 0o700)
ENV = {"LEAKSCOPE_RUNTIME_DIR": RD}


def cli(*args, env=None, argv0=CLI, preexec=None):
    e = dict(os.environ)
    e.pop("LEAKSCOPE_PORT", None)
    e.update(ENV)
    e.update(env or {})
    r = subprocess.run([argv0, *args], capture_output=True, text=True, env=e, timeout=300,
                       preexec_fn=preexec)
    return r.returncode, r.stdout, r.stderr


class Prefork(Host):
    def __init__(self, workers=3):
        super().__init__([PREFORK], env=dict(ENV, WORKERS=str(workers)))
        self.wait_sockets()

    def workers(self):
        return [int(x) for x in self.cmd("workers")]

    def wait_sockets(self, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            pids = [self.proc.pid] + self.workers()
            if all(os.path.exists(os.path.join(RD, "%d.sock" % p)) for p in pids):
                return pids
            time.sleep(0.02)
        raise RuntimeError("no socket for every process after %ss: %s" % (timeout, os.listdir(RD)))

    def exit(self, pid):
        out = self.cmd("exit %d" % pid)
        new = int(out[-1].split()[1])
        self.wait_sockets()
        return new

    def spawn(self, n):
        pids = [int(x) for x in self.cmd("spawn %d" % n)]
        self.wait_sockets()
        return pids


def parse_tree(text):
    """Splits a tree report: (header dict, error lines, [report texts],
    problems). Checks the container's layout (docs/process-trees.md)."""
    lines = text.split("\n")
    problems = []
    if lines and lines[-1] == "":
        lines.pop()
    else:
        problems.append("no final newline")
    keys = ["format", "version", "root", "processes", "live", "exited",
            "exit_reports_dropped", "unreachable"]
    header, errors, reports, i = {}, [], [], 0
    while i < len(lines) and not lines[i].startswith("format: leakscope-report"):
        k, _, v = lines[i].partition(": ")
        if k == "error":
            errors.append(v)
        else:
            header[k] = v
        i += 1
    if [k for k in header if k in keys] != keys:
        problems.append("header keys %s" % list(header))
    if header.get("format") != "leakscope-tree 1":
        problems.append("format %r" % header.get("format"))
    cur = None
    for l in lines[i:-1]:
        if l.startswith("format: leakscope-report"):
            if cur is not None:
                problems.append("a report without its end line")
            cur = [l]
        elif cur is None:
            problems.append("a line between reports: %r" % l)
        else:
            cur.append(l)
            if l.startswith("end: ") and l.endswith(" stacks"):
                reports.append("\n".join(cur) + "\n")
                cur = None
    if cur is not None:
        problems.append("the last report has no end line")
    n = int(header.get("processes", -1))
    if n != len(reports) or lines[-1:] != ["end: %d reports" % n]:
        problems.append("%d reports, processes: %s, last line %r" % (len(reports), n, lines[-1:]))
    if int(header.get("unreachable", -1)) != len(errors):
        problems.append("unreachable: %s but %d error lines" % (header.get("unreachable"), len(errors)))
    if int(header.get("live", -1)) + int(header.get("exited", -1)) != n:
        problems.append("live + exited != processes")
    return header, errors, reports, problems


def report_header(text):
    h = {}
    for l in text.split("\n"):
        if l.startswith(("map:", "leak:", "maps:")):
            break
        k, _, v = l.partition(": ")
        h[k] = v
    return h


def merged(path):
    """The tree report merged by leakscope translate --format json (one
    report for the whole tree); an empty one when the translator fails."""
    rc, out, err = cli("translate", "--format", "json", path)
    if rc != 0:
        print("# leakscope translate %s: exit %d: %s" % (path, rc, err.strip()[:300]))
        return {"leaks": [], "processes": 0}
    return json.loads(out)


def counts(rep, fn):
    lk = leaks_at(rep, fn, module=PREFORK)
    return sum_field(lk, "count"), sum_field(lk, "est_count")


def ps_json():
    rc, out, err = cli("ps", "--json")
    try:
        return rc, {p["pid"]: p for p in json.loads(out)}, err
    except ValueError:
        return rc, {}, err + " | stdout: " + out[:300]


# leakscope as user nobody: the command copied where nobody may run it,
# with a TMPDIR of nobody's.
NOBODY_DIR = os.path.join(TMP, "nobody")
os.mkdir(NOBODY_DIR)
shutil.copy(CLI, os.path.join(NOBODY_DIR, "leakscope"))
os.chmod(TMP, 0o755)
if os.getuid() == 0:
    os.chown(NOBODY_DIR, 65534, 65534)


def as_nobody():
    os.setgid(65534)
    os.setgroups([])
    os.setuid(65534)


def exit_reports():
    return sorted(glob.glob(os.path.join(RD, "exit", "*", "*.report")))


# ---- bad input that needs no tree ------------------------------------------
rc, out, err = cli("status", "--tree", "999999999")
t.ok(rc == 1 and "no process 999999999" in err, "--tree of a pid that does not exist: exit 1, "
     "says so (%r)" % err.strip())
plain = subprocess.Popen(["sleep", "300"])
try:
    rc, out, err = cli("on", "--tree", str(plain.pid), "--sampling", "10")
    t.ok(rc == 1 and "does not run under leakscope" in err and len(err.strip().split("\n")) <= 3,
         "--tree of a process not under leakscope, none below it: exit 1, says so (%r)" % err.strip())
    rc, out, err = cli("off", "--tree", str(plain.pid), "-o", os.path.join(TMP, "none.report"))
    t.ok(rc == 1 and not os.path.exists(os.path.join(TMP, "none.report")),
         "off --tree of it: exit 1, no file written")
finally:
    plain.kill()
    plain.wait()
rc, out, err = cli("off", "--tree", "1", "--format", "pprof")
t.ok(rc == 2 and "text only" in err, "--tree with --format pprof: exit 2 with a reason (%r)"
     % err.strip().split("\n")[0])
rc, out, err = cli("off", "--tree", "1", "--pid", "1")
t.ok(rc == 2, "--tree with --pid: exit 2")

# Started before the master: its pid gets a hard link to the master's
# socket, which then answers for another process.
decoy = subprocess.Popen(["sleep", "300"])
h = Prefork()
try:
    m = h.proc.pid
    ws = h.workers()
    t.ok(len(ws) == 3, "the master forked 3 workers: %s" % ws)

    # ---- ps ----
    rc, procs, err = ps_json()
    mine = {p: procs.get(p) for p in [m] + ws}
    t.ok(rc == 0 and all(mine.values()), "ps --json lists the master and its 3 workers", err)
    ok = all(v and v["ppid"] == m and v["exe"] == PREFORK and v["window"]["on"] is False and
             v["socket"] == os.path.join(RD, "%d.sock" % p) and v["tcp"] is None
             for p, v in mine.items() if p != m)
    t.ok(ok, "each worker: ppid the master, exe, window off, reached by its socket, no TCP port",
         json.dumps(mine)[:600])
    mm = mine.get(m) or {}
    t.ok(mm.get("tcp") == "127.0.0.1:%d" % h.port and mm.get("socket") == os.path.join(RD, "%d.sock" % m),
         "the master: its socket and its TCP port %s" % mm.get("tcp"))
    rc, out, err = cli("ps")
    rows = {int(l.split()[0]): l for l in out.split("\n")[1:] if l.strip()}
    t.ok(rc == 0 and out.startswith("    PID") and all(p in rows for p in [m] + ws) and
         " off " in rows.get(ws[0], "") and ("tcp 127.0.0.1:%d" % h.port) in rows.get(m, ""),
         "ps: a header and one line per process", out[:500])

    # ---- stale and foreign sockets ----
    import socket as sk
    stale = []
    for name in ("999999999", str(os.getpid())):  # no process; nobody listening
        path = os.path.join(RD, name + ".sock")
        so = sk.socket(sk.AF_UNIX)
        so.bind(path)
        so.close()
        stale.append(path)
    reused = os.path.join(RD, "%d.sock" % os.getppid())  # made before its process started
    so = sk.socket(sk.AF_UNIX)
    so.bind(reused)
    so.close()
    os.utime(reused, (time.time() - 10 ** 6, time.time() - 10 ** 6))
    stale.append(reused)
    link = os.path.join(RD, "%d.sock" % decoy.pid)
    os.link(os.path.join(RD, "%d.sock" % m), link)
    rc, out, err = cli("ps")
    listed = [int(l.split()[0]) for l in out.split("\n")[1:] if l.strip()]
    t.ok(rc == 0 and not [p for p in stale if os.path.exists(p)] and
         not {999999999, os.getpid(), os.getppid()} & set(listed),
         "ps removes stale sockets silently: no process, nobody listening, pid reused",
         "%s %s" % ([p for p in stale if os.path.exists(p)], err))
    t.ok(decoy.pid not in listed and m in listed and
         "answered for process %d" % m in err,
         "ps does not list a socket that answers for another process, and says so (%r)"
         % err.strip()[:200])
    rc, out, err = cli("status", "--pid", str(decoy.pid))
    t.ok(rc == 1 and '"pid"' not in out, "status --pid never uses another process's endpoint "
         "(%r)" % err.strip())
    os.unlink(link)

    # ---- on --tree ----
    rc, out, err = cli("on", "--tree", str(m), "--sampling", str(N))
    lines = out.strip().split("\n")
    t.ok(rc == 0 and len(lines) == 4 and all(": ok:" in l for l in lines) and
         lines[0].startswith("%d:" % m), "on --tree: the master first, then each worker", out + err)
    rc, out, err = cli("on", "--tree", str(m), "--sampling", str(N))
    t.ok(rc == 0 and out.count("already open") == 4, "on --tree again: each says its window is "
         "already open, exit 0", out + err)
    rc, out, err = cli("status", "--tree", str(m))
    st = [json.loads(l) for l in out.strip().split("\n")] if rc == 0 else []
    t.ok(sorted(s["pid"] for s in st) == sorted([m] + ws) and
         all(s["on"] and s["sampling"] == N for s in st),
         "status --tree: one JSON line per process, every window open at 1/%d" % N, out[:300] + err)

    # ---- --pid reaches exactly that process ----
    rc, out, err = cli("status", "--pid", str(ws[0]))
    t.ok(rc == 0 and json.loads(out)["pid"] == ws[0] and json.loads(out)["ppid"] == m,
         "status --pid CHILD answers for the child, not its parent", err)

    # ---- leaks, a respawn, a worker forked on demand ----
    h.cmd("leak all %d %d" % (BLOCKS, SIZE))
    h.cmd("mleak 1000 32")
    rc, procs, err = ps_json()
    est = procs.get(ws[1], {}).get("estimated_bytes", -1)
    t.ok(procs.get(ws[1], {}).get("window", {}).get("sampling") == N and
         within(est / (SIZE * N), BLOCKS, N),
         "ps: a worker's estimated live bytes %d within 5 sigma of %d" % (est, BLOCKS * SIZE))
    gone1 = ws[0]
    w4 = h.exit(gone1)
    t.ok(len(exit_reports()) == 1, "the worker that exited left an exit report (%s)"
         % [os.path.relpath(f, RD) for f in exit_reports()])
    rc, out, err = cli("status", "--pid", str(w4))
    s4 = json.loads(out) if rc == 0 else {}
    t.ok(s4.get("pid") == w4 and s4.get("on") and s4.get("sampling") == N,
         "the respawned worker %d started with the window open (1/%d)" % (w4, N), out + err)
    h.cmd("leak %d %d %d" % (w4, BLOCKS, SIZE))
    (w5,) = h.spawn(1)
    h.cmd("leak %d %d %d" % (w5, BLOCKS, SIZE))
    w6 = h.exit(w5)
    live_workers = [ws[1], ws[2], w4, w6]
    leaked_workers = 5  # ws[0..2], w4, w5; w6 leaked nothing

    # ---- report --tree keeps everything ----
    f1 = os.path.join(TMP, "tree1.report")
    rc, out, err = cli("report", "--tree", str(m), "-o", f1)
    text = open(f1).read() if os.path.exists(f1) else ""
    hd, errs, reps, problems = parse_tree(text)
    t.ok(rc == 0 and not problems, "report --tree -o FILE writes a well-formed tree report",
         "%s %s" % (problems, err))
    t.ok(hd.get("root") == str(m) and hd.get("processes") == "7" and hd.get("live") == "5" and
         hd.get("exited") == "2" and hd.get("unreachable") == "0" and
         hd.get("exit_reports_dropped") == "0",
         "report --tree: 5 live processes and the 2 workers that exited", json.dumps(hd))
    pids = sorted(int(report_header(r)["pid"]) for r in reps)
    t.ok(pids == sorted([m, gone1, w5] + live_workers), "the reports are those of the master, "
         "the live workers and the exited ones: %s" % pids)
    ex = [report_header(r) for r in reps if report_header(r).get("exited") == "yes"]
    t.ok(sorted(int(e["pid"]) for e in ex) == sorted([gone1, w5]) and
         all(e.get("ancestors", "").split()[:1] == [str(m)] for e in ex),
         "the exit reports name the master as their parent in ancestors")
    t.ok(len(exit_reports()) == 2, "report --tree keeps the exit reports")
    t.ok(all(report_header(r).get("window_open") == "yes" for r in reps
             if report_header(r).get("exited") != "yes"),
         "report --tree left the live windows open")

    # ---- off --tree ----
    f2 = os.path.join(TMP, "tree2.report")
    rc, out, err = cli("off", "--tree", str(m), "-o", f2)
    text = open(f2).read() if os.path.exists(f2) else ""
    hd, errs, reps, problems = parse_tree(text)
    t.ok(rc == 0 and not problems and hd.get("processes") == "7" and hd.get("exited") == "2",
         "off --tree -o FILE: 7 reports, 2 of them exit reports", "%s %s %s" % (problems, hd, err))
    t.ok(exit_reports() == [], "off --tree deleted the exit reports it used")
    rep = merged(f2)
    c, e = counts(rep, "worker_leak")
    truth = leaked_workers * BLOCKS
    t.ok(within(c, truth, N) and e == c * N,
         "leakscope translate merges the tree: worker_leak %d sampled, %d estimated, truth %d: "
         "within 5 sigma" % (c, e, truth))
    lk = leaks_at(rep, "worker_leak", module=PREFORK)
    pids = sorted(p for x in lk for p in x.get("pids", []))
    t.ok(rep.get("processes") == 7 and sum(x.get("processes", 0) for x in lk) == 5 and
         pids == sorted([gone1, ws[1], ws[2], w4, w5]),
         "merged: the worker_leak stacks name the 5 workers that leaked, the 2 exited "
         "ones included (%s)" % pids)
    c, e = counts(rep, "master_leak")
    t.ok(within(c, 1000, N), "merged: master_leak %d sampled of 1000 (1/%d)" % (c, N))
    rc, procs, err = ps_json()
    t.ok(all(procs.get(p, {}).get("window", {}).get("on") is False for p in [m] + live_workers),
         "after off --tree every window is closed")
    rc, out, err = cli("off", "--tree", str(m), "-o", os.path.join(TMP, "tree3.report"))
    t.ok(rc == 1 and "no window open" in err and not os.path.exists(os.path.join(TMP, "tree3.report")),
         "off --tree with no window anywhere: exit 1, says so (%r)" % err.strip().split("\n")[-1])
    rc, out, err = cli("off", "--tree", str(m))
    t.ok(rc == 1, "the same without -o")

    # ---- stdout, and an exit report of an older window ----
    cli("on", "--tree", str(m), "--sampling", str(N))
    h.cmd("leak %d 100 %d" % (w4, SIZE))
    w7 = h.exit(w4)
    old = exit_reports()
    rc, out, err = cli("off", "--pid", str(m))
    t.ok(rc == 0 and "format: leakscope-report " in out, "off --pid MASTER closes the master only")
    rc, out, err = cli("on", "--pid", str(m), "--sampling", str(N))
    rc, out, err = cli("off", "--tree", str(m))
    hd, errs, reps, problems = parse_tree(out)
    t.ok(rc == 0 and not problems and hd.get("exited") == "0" and hd.get("live") == "5" and
         exit_reports() == old and len(old) == 1,
         "off --tree to stdout leaves out (and keeps) the exit report of a window older than "
         "the master's", "%s %s %s" % (problems, hd, err))

    # ---- a process that vanishes mid-command ----
    cli("on", "--tree", str(m), "--sampling", str(N))
    h.cmd("leak %d %d %d" % (w6, BLOCKS, SIZE))
    victim = ws[1]
    os.kill(victim, signal.SIGSTOP)
    f4 = os.path.join(TMP, "tree4.report")
    e = dict(os.environ, **ENV)
    p = subprocess.Popen([CLI, "off", "--tree", str(m), "-o", f4], env=e,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    want = "%d.sock" % victim
    deadline = time.time() + 60
    seen = False
    while time.time() < deadline and p.poll() is None and not seen:
        for c in glob.glob("/proc/[0-9]*/cmdline"):
            try:
                a = open(c, "rb").read().split(b"\0")
            except OSError:
                continue
            if a and a[0].endswith(b"curl") and any(x.endswith(want.encode()) for x in a):
                seen = True
                break
        time.sleep(0.01)
    os.kill(victim, signal.SIGKILL)
    out, err = p.communicate(timeout=120)
    text = open(f4).read() if os.path.exists(f4) else ""
    hd, errs, reps, problems = parse_tree(text)
    t.ok(seen and p.returncode == 0 and not problems and hd.get("unreachable") == "1" and
         errs and errs[0].startswith("%d " % victim) and str(victim) in err,
         "a worker killed while off --tree waits on it: exit 0, the others written, "
         "unreachable: 1 naming it (%r)" % (errs[:1],), "%s %s %s" % (problems, hd, err))
    rep = merged(f4)
    c, _ = counts(rep, "worker_leak")
    t.ok(within(c, BLOCKS, N), "the reachable worker's leak is in it (%d sampled of %d)" % (c, BLOCKS))
    h.cmd("reap")
    rc, procs, err = ps_json()
    t.ok(victim not in procs and not os.path.exists(os.path.join(RD, want)),
         "ps does not list the killed worker and removed its stale socket")

    # ---- a user who may reach none of them ----
    if os.getuid() == 0:
        rc, out, err = cli("status", "--tree", str(m), argv0=os.path.join(NOBODY_DIR, "leakscope"),
                           preexec=as_nobody, env={"TMPDIR": NOBODY_DIR, "XDG_RUNTIME_DIR": ""})
        n_denied = err.count("permission denied")
        t.ok(rc == 1 and n_denied >= 4 and out == "",
             "as another user: each process says permission denied (%d), exit 1" % n_denied, err[:400])
        rc, out, err = cli("ps", "--json", argv0=os.path.join(NOBODY_DIR, "leakscope"),
                           preexec=as_nobody, env={"TMPDIR": NOBODY_DIR, "XDG_RUNTIME_DIR": ""})
        t.ok(rc == 0 and m not in [x["pid"] for x in json.loads(out or "[]")],
             "as another user: ps lists none of root's processes", out[:200] + err[:200])
    else:
        t.ok(True, "# skip: the other-user cases need root")
finally:
    decoy.kill()
    decoy.wait()
    rc = h.stop()
    t.ok(rc == 0, "the master and its workers exit cleanly", h.stderr()[-400:])
    h.cleanup()

# ---- a tree of two users: what may be reached is still handled ----
# bash (root, no preload) -> a prefork of root's and a prefork of nobody's,
# both under the preload; leakscope run as nobody reaches nobody's four.
if os.getuid() == 0:
    from lslib import LIB
    rdn = os.path.join(TMP, "run-nobody")
    os.mkdir(rdn, 0o700)
    os.chown(rdn, 65534, 65534)
    fds = [os.pipe() for _ in range(4)]  # root's stdin, nobody's stdin, their stdouts
    pre = "env LD_PRELOAD=%s LEAKSCOPE_PORT=0 " % LIB
    script = ("%s LEAKSCOPE_RUNTIME_DIR=%s %s <&3 >&5 & "
              "setpriv --reuid=65534 --regid=65534 --clear-groups %s LEAKSCOPE_RUNTIME_DIR=%s %s "
              "<&4 >&6 & wait" % (pre, RD, PREFORK, pre, rdn, PREFORK))
    e = dict(os.environ)
    e.pop("LD_PRELOAD", None)
    top = subprocess.Popen(["bash", "-c", "exec 3<&%d 4<&%d 5>&%d 6>&%d; %s" % (
        fds[0][0], fds[1][0], fds[2][1], fds[3][1], script)],
        pass_fds=[fds[0][0], fds[1][0], fds[2][1], fds[3][1]], env=e)
    for fd in (fds[0][0], fds[1][0], fds[2][1], fds[3][1]):
        os.close(fd)
    to_root, to_nob = os.fdopen(fds[0][1], "w"), os.fdopen(fds[1][1], "w")
    from_nob = os.fdopen(fds[3][0])
    os.close(fds[2][0])

    def nob_cmd(line):
        to_nob.write(line + "\n")
        to_nob.flush()
        out = []
        for l in iter(from_nob.readline, ""):
            if l.strip() == "done":
                return out
            out.append(l.strip())
        raise RuntimeError("nobody's prefork ended on %r" % line)

    try:
        nob_ws = [int(x) for x in nob_cmd("workers")]
        kids = [int(x) for x in open("/proc/%d/task/%d/children" % (top.pid, top.pid)).read().split()]
        nob_m = [k for k in kids if os.stat("/proc/%d" % k).st_uid == 65534]
        root_m = [k for k in kids if k not in nob_m]
        end = time.time() + 15
        while time.time() < end:
            root_ws = [int(x) for m_ in root_m for x in
                       open("/proc/%d/task/%d/children" % (m_, m_)).read().split()]
            if (len(glob.glob(os.path.join(rdn, "*.sock"))) == 4 and len(root_ws) == 3 and
                    all(os.path.exists(os.path.join(RD, "%d.sock" % p)) for p in root_m + root_ws)):
                break
            time.sleep(0.05)
        nob = NOBODY_DIR
        nobenv = {"TMPDIR": nob, "XDG_RUNTIME_DIR": "", "LEAKSCOPE_RUNTIME_DIR": rdn}
        nobcli = os.path.join(nob, "leakscope")
        rc, out, err = cli("on", "--tree", str(top.pid), "--sampling", str(N), argv0=nobcli,
                           preexec=as_nobody, env=nobenv)
        oks = sorted(int(l.split(":")[0]) for l in out.split("\n") if ": ok:" in l)
        t.ok(rc == 0 and len(nob_m) == 1 and oks == sorted(nob_m + nob_ws) and
             err.count("permission denied") == 5,
             "as nobody, on --tree of a two-user tree: nobody's 4 processes opened, root's sh, "
             "master and 3 workers said unreachable (permission denied), exit 0",
             "%s %s %s" % (oks, nob_m + nob_ws, err[-600:]))
        nob_cmd("leak all %d %d" % (BLOCKS, SIZE))
        f5 = os.path.join(nob, "two-users.report")
        rc, out, err = cli("off", "--tree", str(top.pid), "-o", f5, argv0=nobcli,
                           preexec=as_nobody, env=nobenv)
        text = open(f5).read() if os.path.exists(f5) else ""
        hd, errs, reps, problems = parse_tree(text)
        t.ok(rc == 0 and not problems and hd.get("processes") == "4" and
             hd.get("unreachable") == "5" and
             sorted(int(x.split()[0]) for x in errs) == sorted([top.pid] + root_m + root_ws),
             "off --tree writes nobody's 4 reports, and 5 error lines for root's processes",
             "%s %s %s" % (problems, hd, errs))
        c, _ = counts(merged(f5), "worker_leak")
        t.ok(within(c, 3 * BLOCKS, N), "nobody's workers' leaks: %d sampled of %d" % (c, 3 * BLOCKS))
    finally:
        for f in (to_root, to_nob):
            try:
                f.write("quit\n")
                f.close()
            except OSError:
                pass
        try:
            top.wait(timeout=30)
        except subprocess.TimeoutExpired:
            top.kill()
            top.wait()

# ---- ps's clean-up once the tree is gone ----
left = exit_reports()
rc, out, err = cli("ps")
t.ok(left and exit_reports() == [] and not os.path.exists(os.path.join(RD, "exit", str(m))),
     "ps removes the exit reports of a tree that is gone, and its directory (%d before)" % len(left))
shutil.rmtree(TMP, ignore_errors=True)
t.done()
