# SPDX-License-Identifier: MIT
"""tests/integration/test_hostsafety.py: nothing a host does to its
descriptors, environment, address space or children makes leakscope hurt
it, lose its settings or go blind.

- fdhost: a daemon that closes every inherited descriptor (closefrom, a
  close loop, or dup2 of /dev/null over every number) and then opens its
  log, /dev/null, its listening socket and an epoll set, served by ab;
- evhost: a libevent server that calls daemon(3) right after start, 20
  times over;
- envhost: a master and a worker that zero their environment area to set
  a process title (nginx, PostgreSQL), with a token, a bind address, port
  files and reports at exit, reached by `leakscope --pid`;
- bigalloc under RLIMIT_AS limits of 4 GB, 1 GB and 100 MB;
- exec'd children: 500 execs from a shell, env -i children, a timeout
  wrapper, sh -c 'exec ...', and lighttpd serving CGI under ab."""
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time

from lslib import BUILD, LIB, Tap, free_port, leaks_at, sum_field, tool, translate, within

t = Tap()
V = os.path.join(BUILD, "tests", "victims")
CLI = os.path.join(BUILD, "leakscope")
AB = tool("ab")


def wait_file(path, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        try:
            with open(path) as f:
                s = f.read().strip()
            if s:
                return s
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError("no %s after %ss" % (path, timeout))


def curl(url, headers=()):
    argv = ["curl", "-s", "-S", "--max-time", "30", "-o", "-", "-w", "\n%{http_code}"]
    for h in headers:
        argv += ["-H", h]
    r = subprocess.run(argv + [url], capture_output=True, text=True, errors="replace")
    body, _, code = r.stdout.rpartition("\n")
    return int(code or 0), body


def status(port, host="127.0.0.1", headers=()):
    code, body = curl("http://%s:%s/leak-status" % (host, port), headers)
    return json.loads(body) if code == 200 else {"code": code, "body": body}


def ab(url, n, c=4):
    """Runs ab; returns (complete, failed, non-2xx)."""
    r = subprocess.run([AB, "-q", "-n", str(n), "-c", str(c), url], capture_output=True,
                       text=True)
    def num(key):
        m = re.search(key + r":\s+(\d+)", r.stdout)
        return int(m.group(1)) if m else -1
    return num("Complete requests"), num("Failed requests"), max(num("Non-2xx responses"), 0)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False


def stop_pid(pid, timeout=10):
    """SIGTERM, then SIGKILL after timeout. True when it ended on SIGTERM."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    end = time.time() + timeout
    while time.time() < end:
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            if not alive(pid):
                return True
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    return False


def base_env(d, **extra):
    e = dict(os.environ, LD_PRELOAD=LIB, LEAKSCOPE_PORT="0",
             LEAKSCOPE_PORT_FILE=os.path.join(d, "ls.%p"))
    e.update(extra)
    return e


# ---- 1. descriptors: closefrom, close loop, dup2 over everything ---------
for mode, daemonize in (("closefrom", False), ("loop", True), ("dup2", False)):
    d = tempfile.mkdtemp(prefix="leakscope-fd.")
    pidfile, portfile, log = (os.path.join(d, n) for n in ("pid", "port", "log"))
    argv = [os.path.join(V, "fdhost"), portfile, log, "-mode", mode]
    env = base_env(d)
    if daemonize:
        argv += ["-daemon", pidfile]
        env["LEAKSCOPE_FOLLOW_FORK"] = "1"
    errf = open(os.path.join(d, "stderr"), "w")
    p = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=errf)
    pid = None
    try:
        if daemonize:
            p.wait(timeout=10)
            pid = int(wait_file(pidfile))
        else:
            pid = p.pid
        port = int(wait_file(portfile))
        cport = wait_file(os.path.join(d, "ls.%d" % pid))
        what = "%s%s" % (mode, " (daemonized)" if daemonize else "")
        url = "http://127.0.0.1:%d/" % port
        c1 = ab(url, 2000)
        t.ok(c1 == (2000, 0, 0), "%s: the host serves 2000 ab requests after closing every "
             "descriptor (complete, failed, non-2xx = %s)" % (what, c1))
        st = status(cport)
        t.ok(st.get("pid") == pid, "%s: the control endpoint still answers, for pid %d"
             % (what, pid), str(st))
        curl("http://127.0.0.1:%s/leak-on?sampling=10" % cport)
        c2 = ab(url, 1000)
        code, text = curl("http://127.0.0.1:%s/leak-off" % cport)
        n = sum_field(leaks_at(translate(text), "main"), "count") if code == 200 else -1
        t.ok(c2 == (1000, 0, 0) and within(n, 1000, 10),
             "%s: with a window open it serves 1000 more (%s) and the report finds the "
             "request leak: %d sampled of 1000 at 1 in 10" % (what, c2, n))
        c3 = ab(url, 1000, c=8)
        with open(log) as f:
            served = sum(1 for l in f if l.startswith("request "))
        t.ok(c3 == (1000, 0, 0) and served == 4000,
             "%s: 4000 requests served and logged by the host in all (%d logged)"
             % (what, served))
        t.ok(alive(pid) and stop_pid(pid), "%s: the host is alive and stops on SIGTERM" % what)
    except Exception as e:  # a failed start or timeout is a test failure
        t.ok(False, "fdhost %s ran" % mode, "%s; %s" % (e, open(errf.name).read()[-300:]))
    finally:
        if pid and alive(pid):
            os.kill(pid, signal.SIGKILL)
        if p.poll() is None:
            p.kill()
            p.wait()
        errf.close()
        shutil.rmtree(d, ignore_errors=True)

# ---- 2. a libevent daemon that calls daemon(3) at once, 20 runs ---------
RUNS = 20
good = 0
problems = []
for i in range(RUNS):
    d = tempfile.mkdtemp(prefix="leakscope-ev.")
    pidfile, portfile = os.path.join(d, "pid"), os.path.join(d, "port")
    pid = None
    try:
        p = subprocess.run([os.path.join(V, "evhost"), portfile, pidfile], timeout=10,
                           env=base_env(d, LEAKSCOPE_FOLLOW_FORK="1"),
                           stdin=subprocess.DEVNULL, capture_output=True)
        pid = int(wait_file(pidfile))
        port = int(wait_file(portfile))
        cport = wait_file(os.path.join(d, "ls.%d" % pid))
        codes = [curl("http://127.0.0.1:%d/x" % port) for _ in range(20)]
        ok_http = all(c == 200 and ("pid %08d" % pid) in b for c, b in codes)
        st = status(cport)
        if ok_http and st.get("pid") == pid and alive(pid):
            good += 1
        else:
            problems.append("run %d: http %s status %s" % (i, ok_http, st))
    except Exception as e:
        problems.append("run %d: %s" % (i, e))
    finally:
        if pid:
            stop_pid(pid)
        shutil.rmtree(d, ignore_errors=True)
t.ok(good == RUNS, "libevent daemon(3) at start with LEAKSCOPE_FOLLOW_FORK=1: %d of %d runs "
     "serve 20 requests and answer on their own control port with the daemon's pid"
     % (good, RUNS), "; ".join(problems[:3]))

# ---- 3. a master and a worker that zero their environment area ----------
d = tempfile.mkdtemp(prefix="leakscope-env.")
TOKEN = "s3cret-token"
env = base_env(d, LEAKSCOPE_TOKEN=TOKEN, LEAKSCOPE_BIND="127.0.0.2",
               LEAKSCOPE_FOLLOW_FORK="1", LEAKSCOPE_REPORT=os.path.join(d, "report.%p"))
p = subprocess.Popen([os.path.join(V, "envhost")], env=env, stdin=subprocess.DEVNULL,
                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
try:
    master = int(p.stdout.readline().split()[1])
    worker = int(p.stdout.readline().split()[1])
    with open("/proc/%d/environ" % master, "rb") as f:
        area = f.read()
    t.ok(b"LEAKSCOPE_TOKEN" not in area and b"LD_PRELOAD" not in area,
         "envhost overwrote its environment area (%d bytes, no LEAKSCOPE_ left)" % len(area))
    auth = ["Authorization: Bearer " + TOKEN]
    for name, pid in (("master", master), ("worker", worker)):
        cport = wait_file(os.path.join(d, "ls.%d" % pid))
        t.ok(cport.isdigit(), "%s: its port file %s names a port (%s)"
             % (name, os.path.join(d, "ls.%d" % pid), cport))
        st = status(cport, "127.0.0.2", auth)
        t.ok(st.get("pid") == pid, "%s: LEAKSCOPE_BIND=127.0.0.2 and the right token still "
             "work after the rewrite (pid %s)" % (name, st.get("pid")), str(st))
        t.ok(status(cport, "127.0.0.2", ["Authorization: Bearer wrong"]).get("code") == 401,
             "%s: a wrong token still gets 401" % name)
        r = subprocess.run([CLI, "status", "--pid", str(pid)], capture_output=True, text=True,
                           env=dict(os.environ, LEAKSCOPE_TOKEN=TOKEN))
        got = json.loads(r.stdout).get("pid") if r.returncode == 0 else r.stderr
        t.ok(got == pid, "%s: leakscope status --pid %d reaches it without its environment"
             % (name, pid), str(got))
        r = subprocess.run([CLI, "on", "--pid", str(pid), "--sampling", "1"],
                           capture_output=True, text=True,
                           env=dict(os.environ, LEAKSCOPE_TOKEN=TOKEN))
        t.ok(r.returncode == 0, "%s: leakscope on --pid opens its window" % name, r.stderr)
        os.kill(pid, signal.SIGUSR1)
    time.sleep(0.5)
    os.kill(master, signal.SIGTERM)
    p.wait(timeout=20)
    err = p.stderr.read()
    for name, pid in (("master", master), ("worker", worker)):
        path = os.path.join(d, "report.%d" % pid)
        n = -1
        if os.path.exists(path):
            n = sum_field(leaks_at(translate(open(path).read()), "leak_title"), "count")
        t.ok(n == 100, "%s: LEAKSCOPE_REPORT written at exit to %s with its 100 leaks (%d)"
             % (name, path, n), err[-300:])
    t.ok("leakscope" not in err, "no leakscope line in the host's stderr", err[-300:])
finally:
    if p.poll() is None:
        p.kill()
        p.wait()
    shutil.rmtree(d, ignore_errors=True)


# ---- 4. address-space limits ------------------------------------------------
def limited(kib):
    def f():
        resource.setrlimit(resource.RLIMIT_AS, (kib * 1024, kib * 1024))
    return f


BIG = ["2000000000", "3000000000"]
native = subprocess.run([os.path.join(V, "bigalloc")] + BIG, capture_output=True, text=True,
                        preexec_fn=limited(4000000))
t.ok(native.stdout.split() == ["2000000000", "ok", "3000000000", "ok"],
     "ulimit -v 4000000, native: malloc(2e9) and malloc(3e9) succeed", native.stdout)
for label, extra in (("window closed", {}), ("window open at sampling=1",
                                             {"LEAKSCOPE_SAMPLING": "1"})):
    d = tempfile.mkdtemp(prefix="leakscope-as.")
    rep = os.path.join(d, "r")
    r = subprocess.run([os.path.join(V, "bigalloc")] + BIG + ["leak:1000"],
                       capture_output=True, text=True, preexec_fn=limited(4000000),
                       env=dict(os.environ, LD_PRELOAD=LIB, LEAKSCOPE_PORT="off",
                                LEAKSCOPE_REPORT=rep, **extra))
    t.ok(r.stdout.split()[:4] == ["2000000000", "ok", "3000000000", "ok"],
         "ulimit -v 4000000, leakscope %s: both still succeed" % label, r.stdout + r.stderr)
    if extra:
        text = open(rep).read() if os.path.exists(rep) else ""
        n = sum_field(leaks_at(translate(text), "leak_small"), "count") if text else -1
        t.ok(n == 1000, "and the window still tracks: 1000 of 1000 small leaks (%d)" % n)
    shutil.rmtree(d, ignore_errors=True)

d = tempfile.mkdtemp(prefix="leakscope-as.")
rep = os.path.join(d, "r")
r = subprocess.run([os.path.join(V, "bigalloc"), "leak:1000"], capture_output=True, text=True,
                   preexec_fn=limited(1000000),
                   env=dict(os.environ, LD_PRELOAD=LIB, LEAKSCOPE_PORT="off",
                            LEAKSCOPE_REPORT=rep, LEAKSCOPE_SAMPLING="1"))
text = open(rep).read() if os.path.exists(rep) else ""
n = sum_field(leaks_at(translate(text), "leak_small"), "count") if text else -1
t.ok(n == 1000, "ulimit -v 1000000 (1 GB): a range is still reserved and 1000 of 1000 leaks "
     "are reported (%d)" % n, r.stderr)
r = subprocess.run([os.path.join(V, "bigalloc"), "leak:100"], capture_output=True, text=True,
                   preexec_fn=limited(100000),
                   env=dict(os.environ, LD_PRELOAD=LIB, LEAKSCOPE_PORT="off",
                            LEAKSCOPE_REPORT=rep, LEAKSCOPE_SAMPLING="1"))
lines = [l for l in r.stderr.splitlines() if "no address range" in l]
t.ok(r.returncode == 0 and len(lines) == 1 and "RLIMIT_AS" in lines[0],
     "ulimit -v 100000: the program runs, and one log line says why nothing is sampled",
     r.stderr)
text = open(rep).read() if os.path.exists(rep) else ""
m = re.search(r"^dropped: (\d+)", text, re.M)
t.ok(m and int(m.group(1)) >= 100, "and its report counts the lost samples as dropped (%s)"
     % (m.group(1) if m else None))
shutil.rmtree(d, ignore_errors=True)

# ---- 5. exec'd children -------------------------------------------------------
d = tempfile.mkdtemp(prefix="leakscope-exec.")
fixed = free_port()
script = ('i=0; while [ $i -lt 250 ]; do /bin/true; env -i LD_PRELOAD="%s" /bin/true; '
          'i=$((i+1)); done; echo finished' % LIB)
r = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=120,
                   env=base_env(d, LEAKSCOPE_PORT=str(fixed)))
t.ok(r.stdout.strip() == "finished" and "leakscope" not in r.stderr,
     "500 exec'd children (250 with the parent's settings, 250 given only LD_PRELOAD, as "
     "lighttpd's CGI): none binds a port or logs a line", r.stderr[-400:])
shutil.rmtree(d, ignore_errors=True)

d = tempfile.mkdtemp(prefix="leakscope-wrap.")
victim = os.path.join(BUILD, "tests", "victims", "victim")
for wrapper, argv, exe in (("timeout", ["timeout", "60", victim], "timeout"),
                           ("sh -c exec", ["sh", "-c", "exec %s" % victim], "victim")):
    p = subprocess.Popen(argv, env=base_env(d), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        port = wait_file(os.path.join(d, "ls.%d" % p.pid))
        st = status(port)
        t.ok(st.get("exe", "").endswith("/" + exe) and st.get("pid") == p.pid and
             "ppid" in st and victim in st.get("cmdline", ""),
             "%s: /leak-status says which process answered: exe %s, pid %s, ppid %s, "
             "cmdline %r" % (wrapper, st.get("exe"), st.get("pid"), st.get("ppid"),
                             st.get("cmdline")))
    except Exception as e:
        t.ok(False, "%s wrapper" % wrapper, str(e))
    finally:
        p.stdin.write("quit\n")
        p.stdin.close()
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        err = p.stderr.read()
    if wrapper == "timeout":
        t.ok("leakscope" not in err, "timeout's child stays quiet (no port, no log line)", err)
shutil.rmtree(d, ignore_errors=True)

# timeout with LEAKSCOPE_FOLLOW_FORK=1: its fork child may open a port,
# then execs the program, which inherited the settings and stays quiet;
# no port file of that pid may keep naming the port that closed.
d = tempfile.mkdtemp(prefix="leakscope-wrap.")
p = subprocess.Popen(["timeout", "60", "sleep", "30"], env=base_env(d, LEAKSCOPE_FOLLOW_FORK="1"),
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE, text=True)
child = None
try:
    wait_file(os.path.join(d, "ls.%d" % p.pid))
    for _ in range(250):
        kids = open("/proc/%d/task/%d/children" % (p.pid, p.pid)).read().split()
        if kids and os.readlink("/proc/%s/exe" % kids[0]).endswith("/sleep"):
            child = int(kids[0])
            break
        time.sleep(0.02)
    time.sleep(0.3)  # the exec'd image's constructor has run long since
    path = os.path.join(d, "ls.%d" % child) if child else ""
    line = open(path).read().strip() if path and os.path.exists(path) else ""
    t.ok(child and (line == "" or line.startswith("error:")),
         "timeout + LEAKSCOPE_FOLLOW_FORK: the exec'd program has no port file, or one that "
         "says it has no port, never the port of its pre-exec image (%r)" % line)
finally:
    p.kill()
    p.wait()
    err = p.stderr.read()
    if child and alive(child):
        os.kill(child, signal.SIGKILL)
shutil.rmtree(d, ignore_errors=True)

# lighttpd serving CGI, as its users run it (foreground, -D), under ab.
LIGHTTPD = tool("lighttpd")
d = tempfile.mkdtemp(prefix="leakscope-lighttpd.")
try:
    www = os.path.join(d, "www")
    os.mkdir(www)
    with open(os.path.join(www, "hello.sh"), "w") as f:
        f.write('#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\nhello %08d\\n" 1\n')
    os.chmod(os.path.join(www, "hello.sh"), 0o755)
    hport, cport = free_port(), free_port()
    conf = os.path.join(d, "lighttpd.conf")
    with open(conf, "w") as f:
        f.write('server.modules = ("mod_cgi")\nserver.document-root = "%s"\n'
                'server.port = %d\nserver.bind = "127.0.0.1"\n'
                'server.errorlog = "%s/error.log"\ncgi.assign = (".sh" => "/bin/sh")\n'
                % (www, hport, d))
    p = subprocess.Popen([LIGHTTPD, "-D", "-f", conf], env=base_env(d, LEAKSCOPE_PORT=str(cport)),
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        got = wait_file(os.path.join(d, "ls.%d" % p.pid))
        for _ in range(100):
            if curl("http://127.0.0.1:%d/hello.sh" % hport)[0] == 200:
                break
            time.sleep(0.05)
        c = ab("http://127.0.0.1:%d/hello.sh" % hport, 300)
        st = status(cport)
        t.ok(c == (300, 0, 0) and st.get("pid") == p.pid and got == str(cport),
             "lighttpd -D with mod_cgi under the preload: 300 CGI requests served (%s), the "
             "control port %d answers for lighttpd" % (c, cport), str(st))
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    logs = p.stderr.read()
    el = os.path.join(d, "error.log")
    if os.path.exists(el):
        logs += open(el).read()
    n = sum(1 for l in logs.splitlines() if "leakscope" in l)
    t.ok(n == 0, "the CGI children logged nothing about ports (%d leakscope lines)" % n,
         logs[-400:])
finally:
    shutil.rmtree(d, ignore_errors=True)

t.done()
