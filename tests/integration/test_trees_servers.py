# SPDX-License-Identifier: MIT
"""tests/integration/test_trees_servers.py: whole process trees of real
servers (issue 11, docs/process-trees.md), each started as its users start
it, under the preload, on a private port and directory, stopped by pid.

- PostgreSQL 15 (Debian's), started with pg_ctl as the postgres user. A
  PL/Perl function keeps a 1000-character string in %_SHARED on every
  call. Its truth is measured first in one long-lived backend at
  sampling=1 (one allocation per call, through Perl_pp_repeat); then
  pgbench runs a custom script calling it, with and without -C (a new
  backend per transaction), under `leakscope on --tree POSTMASTER`, and the
  tree report of `off --tree` must name the leak through Perl_* frames of
  libperl under plperl.so's handler and estimate it within 30% of the
  truth, although with -C every backend lived for one transaction.
- nginx (Debian's), daemonizing with a master and 2 workers; `nginx -s
  reload` in the middle of a window: `leakscope ps` shows the new workers,
  `--tree` reaches them, the tree report has ngx_* stacks from them and the
  exit reports of the old workers.
- Apache 2.4 prefork, few spare servers, under keep-alive `ab -c` load
  that makes it spawn children: the children forked during the window are
  in the tree report.
- The parent-or-child confusion: `leakscope status --pid CHILD` answers
  with CHILD's pid or fails, never with its parent's.

The test makes itself a child subreaper, so the daemons that detach are
its children: every process it started is reaped or killed by pid, and the
test checks that none is left."""
import ctypes
import json
import os
import pwd
import re
import select
import shutil
import signal
import subprocess
import tempfile
import time

from lslib import BUILD, LIB, TRANSLATE, Tap, free_port, tool

t = Tap()
CLI = os.path.join(BUILD, "leakscope")
PGBIN = "/usr/lib/postgresql/15/bin"
AB = tool("ab")
NGINX = tool("nginx")
APACHE = tool("apache2")
APACHE_MODULES = "/usr/lib/apache2/modules"

PR_SET_CHILD_SUBREAPER = 36
ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)

# A clean environment for the servers and the CLI: no leakscope setting of
# ours, no runtime directory of root's for processes that change user.
BASE_ENV = {k: v for k, v in os.environ.items()
            if not k.startswith(("LEAKSCOPE_", "XDG_", "PG", "LD_PRELOAD"))}
BASE_ENV["LC_ALL"] = "C"


# ---- processes ------------------------------------------------------------
def proc_stat(pid):
    """(state, ppid, starttime) of pid, or None when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    w = s[s.rindex(")") + 2:].split()
    return w[0], int(w[1]), int(w[19])


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st and st[1] == pid and st[0] != "Z":
                out.append(int(d))
    return sorted(out)


def exe(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return ""


class Procs:
    """Every process a section started or saw, by (pid, start time), so
    that the end of the section reaps them and kills what is left by pid,
    never a reused pid."""

    def __init__(self):
        self.seen = {}

    def add(self, *pids):
        for p in pids:
            st = proc_stat(p)
            if st and p not in self.seen:
                self.seen[p] = st[2]

    def reap(self):
        for p in self.seen:
            try:
                os.waitpid(p, os.WNOHANG)
            except ChildProcessError:
                pass

    def alive(self):
        self.reap()
        out = []
        for p, start in self.seen.items():
            st = proc_stat(p)
            if st and st[2] == start and st[0] != "Z":
                out.append(p)
        return out

    def wait_gone(self, timeout):
        end = time.time() + timeout
        while time.time() < end:
            if not self.alive():
                return True
            time.sleep(0.05)
        return not self.alive()

    def kill_left(self):
        left = self.alive()
        for p in left:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.wait_gone(10)
        return left


def wait_for(cond, timeout, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


# ---- the CLI and its reports ----------------------------------------------
def cli(*args, timeout=120):
    r = subprocess.run([CLI] + [str(a) for a in args], capture_output=True, text=True,
                       env=BASE_ENV, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def ps_tree(pid):
    rc, out, err = cli("ps", "--tree", pid, "--json")
    if rc != 0:
        return None, err
    try:
        return json.loads(out), err
    except ValueError:
        return None, "not JSON: %r" % out[:200]


def ps_listing(root, want):
    """`leakscope ps --tree ROOT --json` once it lists every pid of want (a
    child forked a moment ago makes its socket a few ms later), or its last
    answer after 10 s: (list or None, stderr)."""
    def listed():
        l, e = ps_tree(root)
        return (l, e) if l is not None and set(want) <= {x.get("pid") for x in l} else None
    return wait_for(listed, 10) or ps_tree(root)


def status_pid(pid):
    """What `leakscope status --pid PID` says: (rc, pid in its answer)."""
    rc, out, err = cli("status", "--pid", pid, timeout=30)
    try:
        got = json.loads(out).get("pid") if rc == 0 else None
    except ValueError:
        got = "not JSON: %r" % out[:100]
    return rc, got


def status_each(pids):
    """`leakscope status --pid P` for each P: the ones that answered with
    another pid than P, or failed although P is still alive (a process
    that ended meanwhile may fail)."""
    bad = []
    for p in pids:
        rc, got = status_pid(p)
        if got not in (p, None) or (rc, got) != (0, p) and proc_stat(p):
            bad.append((p, rc, got))
    return bad


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def parse_tree(text):
    """A tree report: (header dict, [embedded report header dicts]), or
    None when it is not a complete tree report."""
    lines = text.split("\n")
    if text.endswith("\n"):
        lines.pop()
    if not lines or lines[0] != "format: leakscope-tree 1":
        return None
    hdr, reps, cur = {}, [], None
    for l in lines[1:-1]:
        if l in ("format: leakscope-report 1", "format: leakscope-report 2"):
            cur = {"errors": []}
            reps.append(cur)
        elif cur is None:
            k, _, v = l.partition(": ")
            if k == "error":
                hdr.setdefault("errors", []).append(v)
            else:
                hdr[k] = v
        elif l.startswith("end: "):
            cur["end"] = l
            cur = None
        elif not l.startswith(("map: ", "leak: ")):
            k, _, v = l.partition(": ")
            cur.setdefault(k, v)
    m = re.match(r"end: (\d+) reports$", lines[-1])
    if not m or int(m.group(1)) != len(reps) or hdr.get("processes") != str(len(reps)):
        return None
    if any("end" not in r for r in reps):
        return None
    return hdr, reps


def embedded(text):
    """The embedded reports of a tree report, as texts."""
    out, cur = [], None
    for l in text.split("\n"):
        if l in ("format: leakscope-report 1", "format: leakscope-report 2"):
            cur = []
        if cur is not None:
            cur.append(l)
            if l.startswith("end: ") and l.endswith(" stacks"):
                out.append("\n".join(cur) + "\n")
                cur = None
    return out


def translate_file(path):
    r = subprocess.run([TRANSLATE, "--format", "json", path], capture_output=True, text=True,
                       timeout=120)
    if r.returncode != 0:
        raise RuntimeError("leakscope-translate failed (%d): %s" % (r.returncode, r.stderr[-300:]))
    return json.loads(r.stdout)


def translate_text(text, d):
    path = os.path.join(d, "one.report")
    with open(path, "w") as f:
        f.write(text)
    return translate_file(path)


def fns(lk):
    return [fr.get("function") or "" for fr in lk["frames"]]


def through(rep, *names):
    """Leak records whose stack passes through every one of names."""
    return [lk for lk in rep["leaks"] if all(n in fns(lk) for n in names)]


def total(leaks, field):
    return sum(lk[field] for lk in leaks)


def reports_by_pid(reps):
    return {int(r["pid"]): r for r in reps if r.get("pid", "").isdigit()}


def ancestors(r):
    return [int(a) for a in r.get("ancestors", "").split() if a.isdigit()]


def leftover_sockets(pids):
    """PID.sock files of these pids still in a runtime directory."""
    out = []
    for d in [os.path.join("/tmp", x) for x in os.listdir("/tmp") if x.startswith("leakscope-")]:
        for p in pids:
            if os.path.exists(os.path.join(d, "%d.sock" % p)):
                out.append(os.path.join(d, "%d.sock" % p))
    return out


def check_exit_dir(what, top):
    """After off --tree (which deletes the exit reports it used) and a stop
    with every window closed, the tree left no exit report; then removes
    the tree's exit directories (the servers run with the default runtime
    directories, since their workers change user)."""
    left = []
    for d in [os.path.join("/tmp", x) for x in os.listdir("/tmp") if x.startswith("leakscope-")]:
        e = os.path.join(d, "exit", str(top))
        if os.path.isdir(e):
            left += [os.path.join(e, f) for f in os.listdir(e) if f.endswith(".report")]
            shutil.rmtree(e, ignore_errors=True)
    t.ok(not left, "%s: no exit report left under exit/%d (off --tree used them; the processes "
         "that ended later had no window)" % (what, top), str(left[:5]))


class Started:
    def __init__(self, pid, returncode, stderr):
        self.pid, self.returncode, self.stderr = pid, returncode, stderr


def run_top(argv):
    """Runs a server's start command under the preload (it is the first
    process of the tree, TOP; the TCP port is 0: any) and waits for it."""
    p = subprocess.Popen(argv, env=dict(BASE_ENV, LD_PRELOAD=LIB, LEAKSCOPE_PORT="0"),
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    out, err = p.communicate(timeout=60)
    return Started(p.pid, p.returncode, out + err)


def ab(url, n, c, keepalive=False, timeout=120):
    argv = [AB, "-q", "-n", str(n), "-c", str(c), "-s", "30"] + (["-k"] if keepalive else [])
    r = subprocess.run(argv + [url], capture_output=True, text=True, timeout=timeout)
    m = re.search(r"Complete requests:\s+(\d+)", r.stdout)
    return int(m.group(1)) if m else -1


# ==== 1. PostgreSQL 15 with a PL/Perl leak =================================
PG_CALLS = 500          # leak() calls per pgbench transaction
PG_SAMPLING = 10        # 20 transactions x 500 calls: ~1000 samples expected
PG_TRUTH_CALLS = 2000
LEAK_SQL = """CREATE EXTENSION plperl;
CREATE FUNCTION leak(n int) RETURNS int AS $$
  my $i = ++$_SHARED{leak_calls};
  $_SHARED{"leak$i"} = 'x' x $_[0];
  return $i;
$$ LANGUAGE plperl;
"""


def pg_section():
    pw = pwd.getpwnam("postgres")

    def as_postgres():
        os.setgid(pw.pw_gid)
        os.initgroups("postgres", pw.pw_gid)
        os.setuid(pw.pw_uid)

    procs = Procs()
    d = tempfile.mkdtemp(prefix="leakscope-pg.")
    os.chown(d, pw.pw_uid, pw.pw_gid)
    data, log = os.path.join(d, "data"), os.path.join(d, "postgres.log")
    # The preload, where the postgres user may read it whatever the
    # permissions of the build tree.
    lib = os.path.join(d, "libleakscope.so")
    shutil.copy(LIB, lib)
    os.chmod(lib, 0o755)
    env = dict(BASE_ENV, HOME=d)
    port = free_port()
    cenv = dict(env, PGHOST=d, PGPORT=str(port), PGUSER="postgres", PGDATABASE="postgres")
    top = pm = None
    session = None
    try:
        r = subprocess.run([PGBIN + "/initdb", "-D", data, "-U", "postgres", "-A", "trust",
                            "--no-sync", "--locale=C", "-E", "UTF8"], preexec_fn=as_postgres,
                           env=env, capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("initdb failed: %s" % r.stderr[-300:])
        # As a user starts it: pg_ctl, under the preload, as postgres. pg_ctl
        # is the first process (it takes the TCP port, 0: any); it forks a
        # shell that execs the postmaster, which forks everything else.
        opts = ("-p %d -k %s -c listen_addresses='' -c autovacuum=off -c fsync=off"
                % (port, d))
        start = subprocess.Popen([PGBIN + "/pg_ctl", "-D", data, "-l", log, "-w", "-t", "60",
                                  "-o", opts, "start"], preexec_fn=as_postgres,
                                 env=dict(env, LD_PRELOAD=lib, LEAKSCOPE_PORT="0"),
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        top = start.pid
        out = start.communicate(timeout=90)[0]
        with open(os.path.join(data, "postmaster.pid")) as f:
            pm = int(f.readline())
        procs.add(pm, *children(pm))
        t.ok(start.returncode == 0 and exe(pm).endswith("/postgres"),
             "postgres: pg_ctl started the postmaster (pid %d) under the preload as the "
             "postgres user" % pm, out[-300:])

        r = subprocess.run([PGBIN + "/psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-c", LEAK_SQL],
                           env=cenv, capture_output=True, text=True, timeout=60)
        t.ok(r.returncode == 0, "postgres: CREATE EXTENSION plperl and the leaking function",
             r.stderr[-300:])

        # Every process of the tree is reachable: the postmaster and what it
        # forked (once the backends of the sessions above have ended).
        kids = wait_for(lambda: (lambda k: k and not any("[local]" in cmdline(c) for c in k)
                                 and k)(children(pm)), 15) or []
        procs.add(*kids)
        lst, err = ps_listing(pm, kids)
        got = sorted(e.get("pid") for e in lst) if lst is not None else err
        t.ok(lst is not None and pm in got and set(kids) <= set(got),
             "postgres: leakscope ps --tree %d lists the postmaster and its %d children %s"
             % (pm, len(kids), kids), str(got))
        bad = status_each(kids)
        t.ok(not bad, "postgres: leakscope status --pid CHILD answers with CHILD's pid for "
             "each of the %d children of the postmaster" % len(kids), str(bad))

        # ---- the truth, in one long-lived backend at sampling=1 ----
        session = Session(cenv)
        bp = int(session.q("SELECT pg_backend_pid();")[0])
        procs.add(bp)
        session.q("SELECT leak(1000);")  # loads plperl.so, compiles the function
        rc, got = status_pid(bp)
        t.ok((rc, got) == (0, bp), "postgres: leakscope status --pid BACKEND answers for "
             "backend %d, not for the postmaster %d (%s, %s)" % (bp, pm, rc, got))
        f = os.path.join(d, "truth.report")
        rc1 = cli("on", "--pid", bp, "--sampling", 1)[0]
        session.q("SELECT sum(leak(1000)) FROM generate_series(1, %d);" % PG_TRUTH_CALLS)
        rc2, _, err = cli("off", "--pid", bp, "-o", f)
        rep = translate_file(f) if rc1 == rc2 == 0 else {"leaks": [], "estimated": {}}
        lk = through(rep, "Perl_pp_repeat", "plperl_call_handler")
        per_count = total(lk, "count") / PG_TRUTH_CALLS
        per_bytes = total(lk, "bytes") / PG_TRUTH_CALLS
        all_count = rep["estimated"].get("count", 0) / PG_TRUTH_CALLS
        all_bytes = rep["estimated"].get("bytes", 0) / PG_TRUTH_CALLS
        t.ok(per_count == 1 and 1001 <= per_bytes <= 1100,
             "postgres: the truth, at sampling=1 in backend %d over %d calls: each call "
             "leaks %.3f allocations, %.1f bytes, through Perl_pp_repeat (the string of 1000 "
             "x's); the whole window %.3f allocations, %.1f bytes a call"
             % (bp, PG_TRUTH_CALLS, per_count, per_bytes, all_count, all_bytes), err)
        truth_count, truth_bytes = max(per_count, 1e-9), max(per_bytes, 1e-9)

        # The child of a backend that is not under leakscope (a program run
        # by COPY TO PROGRAM without the preload) is not its parent.
        prog = subprocess.Popen([PGBIN + "/psql", "-X", "-q", "-c",
                                 "COPY (SELECT 1) TO PROGRAM 'exec env -u LD_PRELOAD sleep 60'"],
                                env=cenv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        sleeper = wait_for(lambda: [c for k in children(pm) for c in children(k)
                                    if exe(c).endswith("/sleep")], 20)
        if sleeper:
            sp = sleeper[0]
            procs.add(sp, proc_stat(sp)[1])
            rc, got = status_pid(sp)
            t.ok(rc != 0 and got is None, "postgres: leakscope status --pid %d (sleep, run "
                 "without the preload by backend %d) fails rather than answer for the backend "
                 "(%s, %s)" % (sp, proc_stat(sp)[1], rc, got))
            os.kill(sp, signal.SIGTERM)
        else:
            t.ok(False, "postgres: COPY TO PROGRAM started sleep")
        prog.wait(timeout=30)

        # ---- windows over pgbench, with and without -C ----
        script = os.path.join(d, "leak.sql")
        with open(script, "w") as sf:
            sf.write("SELECT sum(leak(1000)) FROM generate_series(1, %d);\n" % PG_CALLS)
        for label, extra, clients, txns in (("pgbench", [], 2, 10),
                                            ("pgbench -C", ["-C"], 2, 10)):
            f = os.path.join(d, "tree%s.report" % "".join(extra))
            rc1, _, err1 = cli("on", "--tree", pm, "--sampling", PG_SAMPLING)
            r = subprocess.run([PGBIN + "/pgbench", "-n", *extra, "-c", str(clients), "-t",
                                str(txns), "-f", script], env=cenv, capture_output=True,
                               text=True, timeout=120)
            m = re.search(r"actually processed: (\d+)/(\d+)", r.stdout)
            done = int(m.group(1)) if m else 0
            rc2, _, err2 = cli("off", "--tree", pm, "-o", f)
            t.ok(rc1 == 0 and rc2 == 0 and done == clients * txns,
                 "postgres, %s: on --tree %d, %d transactions of %d calls, off --tree -o FILE"
                 % (label, pm, done, PG_CALLS), (err1 + err2 + r.stderr)[-300:])
            text = open(f).read() if os.path.exists(f) else ""
            tree = parse_tree(text)
            if not t.ok(tree is not None, "postgres, %s: the file is a complete tree report "
                        "(format leakscope-tree 1, end: N reports, N = processes)" % label,
                        text[:200]):
                continue
            hdr, reps = tree
            exited = [r_ for r_ in reps if r_.get("exited") == "yes"]
            backends = len(exited)
            want = clients * txns if extra else clients
            t.ok(int(hdr.get("exited", -1)) == len(exited) >= want and
                 hdr.get("exit_reports_dropped") == "0" and
                 all(pm in ancestors(r_) for r_ in exited),
                 "postgres, %s: %s processes in the report, %s live and %d exited (>= %d "
                 "backends), none dropped, each exit report with the postmaster among its "
                 "ancestors" % (label, hdr.get("processes"), hdr.get("live"), len(exited), want),
                 str(hdr))
            rep = translate_file(f)
            lk = through(rep, "Perl_pp_repeat", "plperl_call_handler")
            calls = done * PG_CALLS
            est_c, est_b = total(lk, "est_count"), total(lk, "est_bytes")
            t.ok(lk and abs(est_c - calls * truth_count) <= 0.3 * calls * truth_count and
                 abs(est_b - calls * truth_bytes) <= 0.3 * calls * truth_bytes,
                 "postgres, %s: the merged report estimates the leak at %d allocations, %d "
                 "bytes; truth %d calls x (%.3f, %.1f) = %d, %d (within 30%%)"
                 % (label, est_c, est_b, calls, truth_count, truth_bytes,
                    calls * truth_count, calls * truth_bytes))
            mods = {os.path.basename(fr.get("module") or "") for l_ in lk for fr in l_["frames"]
                    if (fr.get("function") or "").startswith("Perl_")}
            handler = {os.path.basename(fr.get("module") or "") for l_ in lk
                       for fr in l_["frames"] if fr.get("function") == "plperl_call_handler"}
            t.ok(any(m_.startswith("libperl.so") for m_ in mods) and handler == {"plperl.so"},
                 "postgres, %s: the leak is named through Perl_* frames of %s under "
                 "plperl_call_handler in %s" % (label, sorted(mods), sorted(handler)))
            if extra:
                # Each backend sampled for itself: the numbers of samples of
                # the leak in the backends are not all the same (a sampler
                # state copied at fork would sample the same calls in every
                # one of these identical backends).
                per = []
                for one in embedded(text):
                    if "\nexited: yes\n" in one:
                        per.append(total(through(translate_text(one, d), "Perl_pp_repeat",
                                                 "plperl_call_handler"), "count"))
                t.ok(len(per) >= want and sum(1 for n in per if n > 0) >= want * 0.8 and
                     len(set(per)) > 1,
                     "postgres, %s: %d backends exited (one a transaction, and pgbench's "
                     "first connection); samples of the leak in each: %s" % (label, backends, per))
        session.close()
        session = None
    except Exception as e:
        t.ok(False, "postgres: the test ran", "%s: %s" % (type(e).__name__, e))
    finally:
        if session:
            session.close()
        if pm:
            procs.add(pm, *children(pm))
            try:
                os.kill(pm, signal.SIGINT)  # fast shutdown
            except ProcessLookupError:
                pass
            stopped = procs.wait_gone(60)
            left = procs.kill_left()
            t.ok(stopped and not left, "postgres: the postmaster stopped on SIGINT with all "
                 "its children (%d processes seen), none left" % len(procs.seen), str(left))
            # postgres never changes user, so every process removed its socket.
            t.ok(not leftover_sockets(procs.seen), "postgres: no socket left by the %d "
                 "processes" % len(procs.seen), str(leftover_sockets(procs.seen)[:5]))
        if top:
            check_exit_dir("postgres", top)
        shutil.rmtree(d, ignore_errors=True)


class Session:
    """A psql session: one long-lived backend."""

    def __init__(self, env):
        self.p = subprocess.Popen([PGBIN + "/psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"],
                                  env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        self.buf = b""

    def q(self, sql, timeout=60):
        """Runs sql; returns the lines it printed."""
        self.p.stdin.write((sql + "\n\\echo END-OF-QUERY\n").encode())
        self.p.stdin.flush()
        end = time.time() + timeout
        while b"END-OF-QUERY\n" not in self.buf:
            left = end - time.time()
            if left <= 0 or not select.select([self.p.stdout], [], [], left)[0]:
                raise RuntimeError("psql timed out on %r" % sql)
            chunk = os.read(self.p.stdout.fileno(), 65536)
            if not chunk:
                raise RuntimeError("psql ended on %r: %r" % (sql, self.buf[-200:]))
            self.buf += chunk
        out, _, self.buf = self.buf.partition(b"END-OF-QUERY\n")
        return out.decode(errors="replace").splitlines()

    def close(self):
        try:
            self.p.stdin.close()
            self.p.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            self.p.kill()
            self.p.wait()


# ==== 2. nginx, daemonizing, reloaded in the middle of a window ============
def nginx_section():
    procs = Procs()
    d = tempfile.mkdtemp(prefix="leakscope-nginx.")
    os.chmod(d, 0o755)  # the workers run as nobody
    os.mkdir(os.path.join(d, "html"))
    os.mkdir(os.path.join(d, "tmp"))
    with open(os.path.join(d, "html", "index.html"), "w") as f:
        f.write("hello\n")
    port = free_port()
    conf = os.path.join(d, "nginx.conf")
    with open(conf, "w") as f:
        f.write("""daemon on;
master_process on;
worker_processes 2;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log;
events { worker_connections 128; }
http {
  access_log %(d)s/access.log;
  client_body_temp_path %(d)s/tmp/body;
  proxy_temp_path %(d)s/tmp/proxy;
  fastcgi_temp_path %(d)s/tmp/fastcgi;
  uwsgi_temp_path %(d)s/tmp/uwsgi;
  scgi_temp_path %(d)s/tmp/scgi;
  server { listen 127.0.0.1:%(port)d; root %(d)s/html; }
}
""" % dict(d=d, port=port))
    argv = [NGINX, "-p", d + "/", "-c", conf, "-e", os.path.join(d, "error.log")]
    url = "http://127.0.0.1:%d/" % port
    master = top = None
    try:
        # As a user starts it: `LD_PRELOAD=... nginx`; it daemonizes (the
        # process we start forks the master and exits).
        r = run_top(argv)
        top = r.pid
        pidf = os.path.join(d, "nginx.pid")
        master = int(wait_for(lambda: os.path.exists(pidf) and open(pidf).read().strip(), 15))
        procs.add(master)
        old = wait_for(lambda: len(children(master)) == 2 and children(master), 15) or []
        procs.add(*old)
        t.ok(r.returncode == 0 and len(old) == 2, "nginx: daemonized under the preload: "
             "master %d, workers %s" % (master, old), r.stderr[-300:])
        lst, err = ps_listing(master, [master] + old)
        got = sorted(e.get("pid") for e in lst) if lst is not None else err
        t.ok(got == sorted([master] + old), "nginx: leakscope ps --tree %d lists the master "
             "and its 2 workers: %s" % (master, got))
        bad = status_each(old)
        t.ok(not bad, "nginx: leakscope status --pid WORKER answers with the worker's pid "
             "for both workers, not the master's", str(bad))

        rc1, _, err1 = cli("on", "--tree", master, "--sampling", 1)
        n1 = ab(url, 1000, 4)
        # The reload, as a user types it (the shell has no preload).
        r = subprocess.run(argv + ["-s", "reload"], env=BASE_ENV, capture_output=True,
                           text=True, timeout=30)
        new = wait_for(lambda: (lambda k: len(k) == 2 and not set(k) & set(old) and k)(
            children(master)), 30) or []
        procs.add(*new)
        gone = wait_for(lambda: not [w for w in old if proc_stat(w)], 30)
        t.ok(rc1 == 0 and n1 == 1000 and r.returncode == 0 and len(new) == 2 and gone,
             "nginx: window on --tree, 1000 requests, nginx -s reload: new workers %s, the "
             "old ones %s exited" % (new, old), (err1 + r.stderr)[-300:])
        lst, err = ps_listing(master, [master] + new)
        rows = {e.get("pid"): e for e in lst} if lst is not None else {}
        t.ok(set(rows) == set([master] + new) and
             all(rows[w].get("window", {}).get("on") is True and
                 rows[w]["window"].get("sampling") == 1 for w in new),
             "nginx: leakscope ps --tree shows the master and the new workers %s, their "
             "windows open at 1 in 1 (they followed the master's)" % new,
             str(lst if lst is not None else err)[:400])
        bad = status_each(new)
        t.ok(not bad, "nginx: leakscope status --pid answers for each new worker", str(bad))
        n2 = ab(url, 1000, 4)
        f = os.path.join(d, "tree.report")
        rc2, _, err2 = cli("off", "--tree", master, "-o", f)
        text = open(f).read() if os.path.exists(f) else ""
        tree = parse_tree(text)
        t.ok(rc2 == 0 and n2 == 1000 and tree is not None,
             "nginx: 1000 more requests, off --tree -o FILE: a complete tree report",
             (err2 + text[:200])[-300:])
        if tree:
            hdr, reps = tree
            by = reports_by_pid(reps)
            t.ok(set(by) >= set([master] + old + new) and
                 all(by[w].get("exited") == "yes" for w in old) and
                 hdr.get("exit_reports_dropped") == "0",
                 "nginx: the report holds the master, the new workers and the exit reports of "
                 "the old workers (%s processes: %s live, %s exited)"
                 % (hdr.get("processes"), hdr.get("live"), hdr.get("exited")), str(hdr))
            rep = translate_file(f)
            ngx = [lk for lk in rep["leaks"] if any(n.startswith("ngx_") for n in fns(lk))]
            t.ok(ngx, "nginx: the merged report has %d stacks through ngx_* functions "
                 "(%d stacks in all)" % (len(ngx), len(rep["leaks"])))
            own = {}
            for one in embedded(text):
                m = re.search(r"^pid: (\d+)$", one, re.M)
                if m and int(m.group(1)) in new:
                    r1 = translate_text(one, d)
                    own[int(m.group(1))] = sum(
                        1 for lk in r1["leaks"] if any(n.startswith("ngx_") for n in fns(lk)))
            t.ok(sorted(own) == sorted(new) and all(own.values()),
                 "nginx: each new worker's own report has ngx_* stacks, allocated after the "
                 "fork: %s" % own)
    except Exception as e:
        t.ok(False, "nginx: the test ran", "%s: %s" % (type(e).__name__, e))
    finally:
        if master:
            procs.add(master, *children(master))
            try:
                os.kill(master, signal.SIGQUIT)  # graceful shutdown
            except ProcessLookupError:
                pass
            stopped = procs.wait_gone(30)
            left = procs.kill_left()
            t.ok(stopped and not left, "nginx: the master and its workers stopped on SIGQUIT "
                 "(%d processes seen), none left" % len(procs.seen), str(left))
            # Workers change user (nobody) after they made their socket as
            # root: `leakscope ps` removes the sockets they could not.
            cli("ps")
            t.ok(not leftover_sockets(procs.seen), "nginx: no socket of its %d processes left "
                 "after leakscope ps" % len(procs.seen), str(leftover_sockets(procs.seen)[:5]))
        if top:
            check_exit_dir("nginx", top)
        shutil.rmtree(d, ignore_errors=True)


# ==== 3. Apache 2.4 prefork spawning children under load ===================
def apache_section():
    procs = Procs()
    d = tempfile.mkdtemp(prefix="leakscope-apache.")
    os.chmod(d, 0o755)  # the children run as www-data
    os.mkdir(os.path.join(d, "html"))
    with open(os.path.join(d, "html", "index.html"), "w") as f:
        f.write("hello\n")
    port = free_port()
    conf = os.path.join(d, "apache2.conf")
    with open(conf, "w") as f:
        f.write("""ServerRoot %(d)s
ServerName 127.0.0.1
Listen 127.0.0.1:%(port)d
PidFile %(d)s/apache2.pid
ErrorLog %(d)s/error.log
Mutex file:%(d)s default
LoadModule mpm_prefork_module %(m)s/mod_mpm_prefork.so
LoadModule authz_core_module %(m)s/mod_authz_core.so
LoadModule dir_module %(m)s/mod_dir.so
LoadModule mime_module %(m)s/mod_mime.so
TypesConfig /etc/mime.types
User www-data
Group www-data
DocumentRoot %(d)s/html
<Directory %(d)s/html>
  Require all granted
</Directory>
StartServers 1
MinSpareServers 1
MaxSpareServers 2
ServerLimit 16
MaxRequestWorkers 16
MaxConnectionsPerChild 0
KeepAlive On
MaxKeepAliveRequests 0
KeepAliveTimeout 2
""" % dict(d=d, port=port, m=APACHE_MODULES))
    url = "http://127.0.0.1:%d/" % port
    master = top = None
    try:
        # As a user starts it: apache2 -k start, which detaches.
        r = run_top([APACHE, "-f", conf, "-k", "start"])
        top = r.pid
        pidf = os.path.join(d, "apache2.pid")
        master = int(wait_for(lambda: os.path.exists(pidf) and open(pidf).read().strip(), 15))
        procs.add(master)
        start = wait_for(lambda: children(master), 15) or []
        procs.add(*start)
        ok_http = wait_for(lambda: subprocess.run(["curl", "-s", "-o", "/dev/null", "-w",
                                                   "%{http_code}", url], capture_output=True,
                                                  text=True).stdout == "200", 15)
        t.ok(r.returncode == 0 and start and ok_http, "apache2: prefork started with -k start "
             "under the preload: master %d, children %s" % (master, start), r.stderr[-300:])
        bad = status_each(start)
        t.ok(not bad, "apache2: leakscope status --pid CHILD answers with the child's pid for "
             "its %d children, not the master's" % len(start), str(bad))

        start = children(master)
        procs.add(*start)
        rc1, _, err1 = cli("on", "--tree", master, "--sampling", 1)
        # Keep-alive connections hold a child each: the 12 of ab outnumber
        # the children, so the master must spawn more to serve them.
        seen = set(start)
        ab_p = subprocess.Popen([AB, "-q", "-k", "-n", "3000", "-c", "12", "-s", "30", url],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while ab_p.poll() is None:
            k = children(master)
            procs.add(*k)
            seen |= set(k)
            time.sleep(0.05)
        out = ab_p.communicate()[0]
        m = re.search(r"Complete requests:\s+(\d+)", out)
        n = int(m.group(1)) if m else -1
        # Then the master stops the spare children it no longer needs (one
        # a second, down to MaxSpareServers): wait for one of them to exit,
        # so the window holds exit reports too.
        def spare_stopped():
            k = children(master)
            procs.add(*k)
            seen.update(k)
            return [c for c in seen - set(start) if not proc_stat(c) or proc_stat(c)[0] == "Z"]
        retired = wait_for(spare_stopped, 30)
        f = os.path.join(d, "tree.report")
        rc2, _, err2 = cli("off", "--tree", master, "-o", f)
        text = open(f).read() if os.path.exists(f) else ""
        tree = parse_tree(text)
        spawned = sorted(seen - set(start))
        t.ok(rc1 == 0 and rc2 == 0 and n == 3000 and spawned and tree is not None,
             "apache2: on --tree, 3000 keep-alive requests from 12 clients (%d served), off "
             "--tree: %d children at the start %s, %d spawned during the window"
             % (n, len(start), start, len(spawned)), (err1 + err2 + text[:200])[-300:])
        if tree:
            hdr, reps = tree
            by = reports_by_pid(reps)
            inrep = [c for c in spawned if c in by]
            t.ok(int(hdr["processes"]) > len(start) + 1 and inrep == spawned,
                 "apache2: the report holds %s processes (%s live, %s exited), more than the "
                 "master and its %d children at the start; %d of the %d spawned children are "
                 "in it" % (hdr["processes"], hdr.get("live"), hdr.get("exited"), len(start),
                            len(inrep), len(spawned)), "missing %s" % sorted(set(spawned) - set(by)))
            tracked = [c for c in inrep if not by[c].get("end", "").startswith("end: 0 ")]
            gone = [c for c in inrep if by[c].get("exited") == "yes"]
            t.ok(tracked == inrep, "apache2: each spawned child tracked its own allocations "
                 "from its fork (%d of %d with stacks)" % (len(tracked), len(inrep)))
            t.ok(retired and set(retired) <= set(gone) and
                 all(master in ancestors(by[c]) for c in gone),
                 "apache2: the spare children the master stopped (%s) left exit reports, each "
                 "naming the master among its ancestors" % sorted(retired or []),
                 "exit reports of %s" % sorted(gone))
    except Exception as e:
        t.ok(False, "apache2: the test ran", "%s: %s" % (type(e).__name__, e))
    finally:
        if master:
            procs.add(master, *children(master))
            try:
                os.kill(master, signal.SIGTERM)
            except ProcessLookupError:
                pass
            stopped = procs.wait_gone(30)
            left = procs.kill_left()
            t.ok(stopped and not left, "apache2: the master and its children stopped on "
                 "SIGTERM (%d processes seen), none left" % len(procs.seen), str(left))
            cli("ps")
            t.ok(not leftover_sockets(procs.seen), "apache2: no socket of its %d processes "
                 "left after leakscope ps" % len(procs.seen),
                 str(leftover_sockets(procs.seen)[:5]))
        if top:
            check_exit_dir("apache2", top)
        shutil.rmtree(d, ignore_errors=True)


if os.geteuid() != 0:
    print("ok - # SKIP the servers' trees: needs root (servers that change user)")
else:
    pg_section()
    nginx_section()
    apache_section()
t.done()
