# SPDX-License-Identifier: MIT
"""tests/integration/test_tree_preload.py: what the preload promises a
process tree (docs/process-trees.md), checked without the CLI: a socket
per process in the runtime directory, answering for that pid; workers
forked first thing in main reachable; a window open in the parent open
in each child, tracking only the child's allocations; exit reports with
their lineage, bounded per tree; nothing written with the window
closed; sockets gone at exit; a daemon(3)ized process keeps the TCP port."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

from lslib import BUILD, LIB, Tap, free_port, translate

t = Tap()
FORKER = os.path.join(BUILD, "tests", "victims", "forker")


def run_env(rt, **kw):
    e = dict(os.environ)
    e.pop("LEAKSCOPE_PARENT", None)
    e.update(LD_PRELOAD=LIB, LEAKSCOPE_RUNTIME_DIR=rt, LEAKSCOPE_PORT="0")
    e.update(kw)
    return e


def status(sock):
    r = subprocess.run(["curl", "-s", "--max-time", "10", "--unix-socket", sock,
                        "http://localhost/leak-status"], capture_output=True, text=True)
    return json.loads(r.stdout) if r.returncode == 0 and r.stdout else None


def wait_for(pred, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.02)
    return pred()


def stop(p):
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def kill(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


# 1. Workers forked first thing in main, 10 runs: every one answers on
# its own socket with its own pid, and so does the master.
rt = tempfile.mkdtemp(prefix="leakscope-tree.")
os.chmod(rt, 0o700)
bad = []
for run in range(10):
    p = subprocess.Popen([FORKER, "now", "3"], env=run_env(rt), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    kids = [int(p.stdout.readline()) for _ in range(3)]
    try:
        for pid in [p.pid] + kids:
            sock = os.path.join(rt, "%d.sock" % pid)
            st = wait_for(lambda: os.path.exists(sock) and status(sock))
            if not st or st.get("pid") != pid or st.get("socket") != sock:
                bad.append((run, pid, st and st.get("pid")))
    finally:
        kill(kids)
        stop(p)
    err = p.stderr.read()
    if "leakscope" in err:
        bad.append((run, "stderr", err[-300:]))
t.ok(bad == [], "10 masters forking 3 workers first thing in main: all 40 processes answer "
     "on their own socket with their own pid, nothing logged", repr(bad[:3]))
mode = oct(os.stat(rt).st_mode & 0o777)
t.ok(mode == "0o700", "the runtime directory stays 0700 (%s)" % mode)
# SIGKILLed workers and a master ended by SIGTERM's _exit leave stale
# sockets: nobody answers on them.
stale = [f for f in os.listdir(rt) if f.endswith(".sock")]
t.ok(all(status(os.path.join(rt, f)) is None for f in stale),
     "sockets left by killed processes answer nothing (stale: the CLI removes them)")
shutil.rmtree(rt)

# 2. A window follows forks; exit reports keep each child's leaks with
# its lineage; the parent's report holds only its own.
rt = tempfile.mkdtemp(prefix="leakscope-tree.")
os.chmod(rt, 0o700)
p = subprocess.Popen([FORKER, "leak", "200", "4", "150"],
                     env=run_env(rt, LEAKSCOPE_SAMPLING="1"), stdin=subprocess.PIPE,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
try:
    t.ok(p.stdout.readline().strip() == "done", "the master leaked and its 4 children exited")
    sock = os.path.join(rt, "%d.sock" % p.pid)
    st = wait_for(lambda: status(sock))
    t.ok(st and st["on"] and st["sampling"] == 1 and st["live_tracked"] >= 200,
         "the master's window is open at sampling 1 with its own blocks", repr(st)[:200])
    d = os.path.join(rt, "exit", str(p.pid))
    files = sorted(os.listdir(d)) if os.path.isdir(d) else []
    reports = [f for f in files if f.endswith(".report")]
    t.ok(len(reports) == 4, "4 exit reports in exit/%d/ (%s)" % (p.pid, files))
    ok_counts, ok_lineage, modes = [], [], []
    for f in reports:
        path = os.path.join(d, f)
        modes.append(os.stat(path).st_mode & 0o777)
        text = open(path).read()
        hdr = dict(l.split(": ", 1) for l in text.splitlines() if ": " in l and
                   not l.startswith(("map:", "leak:")))
        ok_lineage.append(hdr.get("ancestors", "").split()[:1] == [str(p.pid)] and
                          hdr.get("tree_top") == str(p.pid) and hdr.get("exited") == "yes" and
                          hdr.get("ppid") == str(p.pid) and f.endswith("-%s.report" % hdr["pid"]))
        rep = translate(text)
        child = sum(l["count"] for l in rep["leaks"]
                    if any(fr.get("function") == "leak_child" for fr in l["frames"]))
        master = sum(l["count"] for l in rep["leaks"]
                     if any(fr.get("function") == "leak_master" for fr in l["frames"]))
        ok_counts.append((child, master))
    t.ok(ok_counts == [(150, 0)] * 4, "each child's report has exactly its 150 blocks and none "
         "of the 200 its parent tracked (%s)" % ok_counts)
    t.ok(all(ok_lineage) and len(ok_lineage) == 4,
         "each names its parent first in ancestors, the tree's top, exited: yes")
    t.ok(modes == [0o600] * 4, "exit reports are 0600 (%s)" % [oct(m) for m in modes])
    t.ok(not os.path.exists(os.path.join(d, "dropped")), "no exit report was dropped")
finally:
    p.stdin.write("\n")
    p.stdin.close()
    p.wait(timeout=20)
t.ok(not os.path.exists(os.path.join(rt, "%d.sock" % p.pid)),
     "the master removed its socket when it returned from main")
master_reports = [f for f in os.listdir(d) if f.endswith("-%d.report" % p.pid)]
t.ok(len(master_reports) == 1, "and left its own exit report, its window being open")
shutil.rmtree(rt)

# 3. LEAKSCOPE_EXIT_REPORTS bounds them (newest kept), counting the rest.
rt = tempfile.mkdtemp(prefix="leakscope-tree.")
os.chmod(rt, 0o700)
p = subprocess.Popen([FORKER, "leak", "0", "8", "3"],
                     env=run_env(rt, LEAKSCOPE_SAMPLING="1", LEAKSCOPE_EXIT_REPORTS="5"),
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     text=True)
try:
    p.stdout.readline()
    d = os.path.join(rt, "exit", str(p.pid))
    names = sorted(f for f in os.listdir(d) if f.endswith(".report"))
    dropped = os.path.getsize(os.path.join(d, "dropped")) if os.path.exists(
        os.path.join(d, "dropped")) else 0
    t.ok(len(names) == 5 and dropped == 3,
         "LEAKSCOPE_EXIT_REPORTS=5 with 8 children: 5 kept, dropped counts 3 (%d, %d)"
         % (len(names), dropped))
    # The tree report says so, and the next window's report counts anew.
    cli = os.path.join(BUILD, "leakscope")
    env = dict(os.environ, LEAKSCOPE_RUNTIME_DIR=rt)
    out = os.path.join(rt, "tree.report")
    r = subprocess.run([cli, "off", "--tree", str(p.pid), "-o", out], env=env,
                       capture_output=True, text=True)
    hdr = dict(l.split(": ", 1) for l in open(out).read().splitlines()[:8] if ": " in l) \
        if r.returncode == 0 else {}
    t.ok(hdr.get("exited") == "5" and hdr.get("live") == "1" and
         hdr.get("exit_reports_dropped") == "3",
         "off --tree: 1 live and 5 exited processes, exit_reports_dropped: 3", repr(hdr))
    subprocess.run([cli, "on", "--tree", str(p.pid), "--sampling", "1"], env=env,
                   capture_output=True)
    r = subprocess.run([cli, "report", "--tree", str(p.pid)], env=env, capture_output=True,
                       text=True)
    t.ok("\nexit_reports_dropped: 0\n" in r.stdout and "\nprocesses: 1\n" in r.stdout,
         "the next window's tree report counts its own drops (0) and processes (1)",
         r.stdout[:300] + r.stderr[-300:])
finally:
    p.stdin.write("\n")
    p.stdin.close()
    p.wait(timeout=20)
shutil.rmtree(rt)

# 4. With the window closed nothing is written at exit.
rt = tempfile.mkdtemp(prefix="leakscope-tree.")
os.chmod(rt, 0o700)
p = subprocess.Popen([FORKER, "leak", "10", "3", "10"], env=run_env(rt),
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     text=True)
p.stdout.readline()
p.stdin.write("\n")
p.stdin.close()
p.wait(timeout=20)
left = os.listdir(rt)
t.ok(left == [], "window closed: the tree leaves nothing in the runtime directory (%s)" % left)
shutil.rmtree(rt)

# 5. daemon(3): the parent exits at once; the daemon takes the TCP port
# the first process held, so curl on that port reaches the server.
rt = tempfile.mkdtemp(prefix="leakscope-tree.")
os.chmod(rt, 0o700)
port = free_port()
p = subprocess.Popen([FORKER, "daemon"], env=run_env(rt, LEAKSCOPE_PORT=str(port)),
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
dpid = int(p.stdout.readline())
p.wait(timeout=10)
try:
    def tcp_status():
        r = subprocess.run(["curl", "-s", "--max-time", "5",
                            "http://127.0.0.1:%d/leak-status" % port],
                           capture_output=True, text=True)
        return json.loads(r.stdout) if r.returncode == 0 and r.stdout else None
    st = wait_for(lambda: (lambda s: s if s and s.get("pid") == dpid else None)(tcp_status()))
    t.ok(st is not None and st["pid"] == dpid,
         "after daemon(3) the daemon answers on the first process's port %d" % port,
         repr(st)[:200])
    sock = os.path.join(rt, "%d.sock" % dpid)
    st = status(sock)
    t.ok(st and st["pid"] == dpid, "and on its own socket")
finally:
    kill([dpid])
shutil.rmtree(rt)

# 6. Wrappers: timeout runs the program as an exec'd child, which gets a
# socket of its own (libmicrohttpd loaded on the first request) and
# answers for itself; timeout keeps the TCP port.
rt = tempfile.mkdtemp(prefix="leakscope-tree.")
os.chmod(rt, 0o700)
p = subprocess.Popen(["timeout", "30", FORKER, "now", "1"], env=run_env(rt),
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
kid = int(p.stdout.readline())
try:
    prog = int(open("/proc/%d/stat" % kid).read().rsplit(")", 1)[1].split()[1])
    ok = []
    for pid, parent in ((p.pid, None), (prog, p.pid), (kid, prog)):
        sock = os.path.join(rt, "%d.sock" % pid)
        st = wait_for(lambda: os.path.exists(sock) and status(sock))
        ok.append(bool(st) and st["pid"] == pid and (parent is None or st["ppid"] == parent))
    t.ok(ok == [True] * 3, "timeout, the program it exec'd and that program's worker each "
         "answer on their own socket for their own pid (%s)" % ok)
finally:
    kill([kid, prog])
    stop(p)
err = p.stderr.read()
t.ok("leakscope" not in err, "and nothing is logged", err[-300:])
shutil.rmtree(rt)

# 7. The default runtime directory, with no setting at all.
e = run_env("/unused")
e.pop("LEAKSCOPE_RUNTIME_DIR")
e.pop("XDG_RUNTIME_DIR", None)
p = subprocess.Popen([FORKER, "now", "1"], env=e, stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL, text=True)
kid = int(p.stdout.readline())
try:
    default = "/tmp/leakscope-%d" % os.geteuid()
    sock = os.path.join(default, "%d.sock" % kid)
    st = wait_for(lambda: os.path.exists(sock) and status(sock))
    t.ok(st and st["pid"] == kid and st["ppid"] == p.pid,
         "with no setting the worker's socket is %s/PID.sock" % default)
    m = os.stat(default)
    t.ok(m.st_uid == os.geteuid() and m.st_mode & 0o777 == 0o700,
         "%s is the user's, 0700" % default)
finally:
    kill([kid])
    stop(p)
t.done()
