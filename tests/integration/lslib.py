# SPDX-License-Identifier: MIT
"""tests/integration/lslib.py: helpers for the integration drivers.

Hosts run under LD_PRELOAD=build/libleakscope.so with an ephemeral control
port; the drivers talk to it with curl (a real client) and read reports
through build/leakscope-translate --format json."""
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, "build")
LIB = os.path.join(BUILD, "libleakscope.so")
TRANSLATE = os.path.join(BUILD, "leakscope-translate")
VICTIM = os.path.join(BUILD, "tests", "victims", "victim")
VICTIM_CXX = os.path.join(BUILD, "tests", "victims", "victim_cxx")


class Tap:
    """Prints one "ok - " / "not ok - " line per check."""

    def __init__(self):
        self.failed = 0

    def ok(self, cond, name, detail=""):
        print(("ok - " if cond else "not ok - ") + name +
              ("" if cond or not detail else "  [%s]" % detail), flush=True)
        if not cond:
            self.failed += 1
        return cond

    def done(self):
        sys.exit(1 if self.failed else 0)


def within(count, true_count, n, sigmas=5.0):
    """True when a sampled count is within `sigmas` standard deviations of
    true_count / n: samples of one-in-n are Binomial(true_count, 1/n)."""
    p = 1.0 / n
    mean = true_count * p
    sd = math.sqrt(true_count * p * (1 - p))
    return abs(count - mean) <= sigmas * sd + 1


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def tool(name):
    for d in ("/usr/bin", "/usr/sbin", "/bin"):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    return shutil.which(name)


class Host:
    """A program running under the preload, with its control port."""

    def __init__(self, argv, env=None, port=0, stdin=True, wait_port=True, cwd=None):
        self.dir = tempfile.mkdtemp(prefix="leakscope-test.")
        self.port_file = os.path.join(self.dir, "port")
        self.stderr_path = os.path.join(self.dir, "stderr")
        e = dict(os.environ)
        e.update({"LD_PRELOAD": LIB, "LEAKSCOPE_PORT": str(port),
                  "LEAKSCOPE_PORT_FILE": self.port_file})
        if env:
            e.update(env)
        self.errf = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(argv, env=e, cwd=cwd,
                                     stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self.errf,
                                     text=True, bufsize=1)
        self.port = None
        if wait_port:
            self.port = self.wait_port()

    def wait_port(self, timeout=15):
        end = time.time() + timeout
        while time.time() < end:
            if os.path.exists(self.port_file):
                with open(self.port_file) as f:
                    s = f.read().strip()
                if s.startswith("error:"):
                    return s
                if s.isdigit():
                    return int(s)
            if self.proc.poll() is not None:
                raise RuntimeError("host exited with %s before opening its port: %s"
                                   % (self.proc.returncode, self.stderr()))
            time.sleep(0.02)
        raise RuntimeError("no port file after %ss" % timeout)

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def get(self, path, method="GET", headers=(), timeout=60):
        """One request through curl: returns (status, body)."""
        argv = ["curl", "-s", "-S", "--max-time", str(timeout), "-X", method,
                "-o", "-", "-w", "\n%{http_code}"]
        for h in headers:
            argv += ["-H", h]
        argv.append(self.url + path)
        r = subprocess.run(argv, capture_output=True, text=True, errors="replace")
        body, _, code = r.stdout.rpartition("\n")
        return int(code or 0), body

    def send(self, line):
        """Sends a victim command without waiting for it."""
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()

    def cmd(self, line, timeout=120):
        """Sends a victim command; returns the lines it printed up to 'done'."""
        self.send(line)
        return self.wait_done(line, timeout)

    def wait_done(self, line="", timeout=120):
        out = []
        end = time.time() + timeout
        while time.time() < end:
            l = self.proc.stdout.readline()
            if not l:
                raise RuntimeError("victim died on %r: %s" % (line, self.stderr()))
            l = l.rstrip("\n")
            if l == "done":
                return out
            if l.startswith("error:"):
                raise RuntimeError("victim: %s" % l)
            out.append(l)
        raise RuntimeError("victim timed out on %r" % line)

    def alive(self):
        return self.proc.poll() is None

    def stderr(self):
        if not self.errf.closed:
            self.errf.flush()
        with open(self.stderr_path, errors="replace") as f:
            return f.read()

    def stop(self, quit_cmd="quit", timeout=30):
        if self.proc.poll() is None:
            try:
                if quit_cmd and self.proc.stdin:
                    self.proc.stdin.write(quit_cmd + "\n")
                    self.proc.stdin.flush()
                if self.proc.stdin:
                    self.proc.stdin.close()
                self.proc.wait(timeout=timeout)
            except (BrokenPipeError, subprocess.TimeoutExpired, OSError):
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait()
        self.errf.close()
        return self.proc.returncode

    def cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def translate(report_text, *extra):
    """Runs the translator in json mode on report text; returns the dict."""
    with tempfile.NamedTemporaryFile("w", suffix=".report", delete=False) as f:
        f.write(report_text)
        path = f.name
    try:
        r = subprocess.run([TRANSLATE, "--format", "json", *extra, path],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError("translator failed (%d): %s" % (r.returncode, r.stderr))
        return json.loads(r.stdout)
    finally:
        os.unlink(path)


def functions(leak):
    return [fr.get("function") or "" for fr in leak["frames"]]


def _named(f, name):
    return f == name or f.startswith(name + "(")


def leaks_through(report, name):
    """Leak records whose stack passes through a function named name (or
    starting with it, for C++ names with arguments)."""
    return [lk for lk in report["leaks"] if any(_named(f, name) for f in functions(lk))]


def leaks_at(report, name, module=None):
    """Leak records allocated directly by function name: the innermost
    frame inside module (default: the report's exe) is name. Library
    frames below it (strdup, operator new) do not count."""
    module = module or report["exe"]
    out = []
    for lk in report["leaks"]:
        own = [fr for fr in lk["frames"] if fr.get("module") == module]
        if own and _named(own[0].get("function") or "", name):
            out.append(lk)
    return out


def sum_field(leaks, field):
    return sum(lk[field] for lk in leaks)


def report_complete(text):
    """The report ends with 'end: N stacks' and N matches its records."""
    lines = text.rstrip("\n").split("\n")
    if not lines or not lines[-1].startswith("end: "):
        return False
    n = int(lines[-1].split()[1])
    header = [l for l in lines if l.startswith("stacks: ")]
    return (n == sum(1 for l in lines if l.startswith("leak: ")) and
            bool(header) and int(header[0].split()[1]) == n)
