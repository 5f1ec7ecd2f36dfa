# SPDX-License-Identifier: MIT
"""tests/integration/test_control.py: the control port under bad input.
Every error case answers a 4xx with one line of text; raw garbage, huge
headers, half-closed sockets and 200 concurrent requests leave the port
answering and the host running correctly."""
import os
import random
import socket
import subprocess
import time

from lslib import VICTIM, Host, Tap, leaks_at, report_complete, sum_field, translate, within

t = Tap()


def one_line(body):
    return body.endswith("\n") and body.count("\n") == 1 and body.startswith("error: ")


def error_cases(h):
    cases = [
        ("/leak-on", "GET", 400), ("/leak-on?sampling=", "GET", 400),
        ("/leak-on?sampling=0", "GET", 400), ("/leak-on?sampling=-5", "GET", 400),
        ("/leak-on?sampling=abc", "GET", 400), ("/leak-on?sampling=1.5", "GET", 400),
        ("/leak-on?sampling=1000000001", "GET", 400),
        ("/leak-on?sampling=99999999999999999999999", "GET", 400),
        ("/leak-on?sampling=%20100", "GET", 400), ("/leak-on?samplign=100", "GET", 400),
        ("/leak-on?sampling=100&bogus=1", "GET", 400),
        ("/leak-off", "GET", 409), ("/leak-report", "GET", 409),
        ("/", "GET", 404), ("/leak-onn", "GET", 404), ("/leak-on/x", "GET", 404),
        ("/../../etc/passwd", "GET", 404),
        ("/leak-on?sampling=100", "POST", 405), ("/leak-off", "DELETE", 405),
        ("/leak-status", "PUT", 405),
    ]
    for path, method, want in cases:
        st, body = h.get(path, method=method)
        t.ok(st == want and one_line(body), "%s %s -> %d with a one-line reason" % (method, path, want),
             "got %d %r" % (st, body))
    st, _ = h.get("/leak-on?sampling=1000000000")
    t.ok(st == 200, "sampling=1000000000 (the maximum) is accepted")
    st, body = h.get("/leak-on?sampling=5")
    t.ok(st == 409 and one_line(body), "leak-on while on -> 409")
    for bad in ("abc", "-1", "1e3", "1.", "", "99999999999"):
        st, body = h.get("/leak-report?min_age=" + bad)
        t.ok(st == 400 and one_line(body), "min_age=%r -> 400" % bad)
    st, body = h.get("/leak-off?format=xml")
    t.ok(st == 400, "an unknown report format -> 400")
    st, body = h.get("/leak-off")
    t.ok(st == 200 and report_complete(body), "the window still closes normally")


def status_fields(h):
    import json
    st, body = h.get("/leak-status")
    s = json.loads(body)
    want = {"on", "sampling", "window_seconds", "sampled", "live_tracked", "stacks",
            "dropped", "memory_bytes", "pid", "version"}
    t.ok(st == 200 and want <= set(s), "leak-status has every field: %s" % sorted(want - set(s)))
    t.ok(s["pid"] == h.proc.pid, "leak-status names the host's pid")


def raw(h, payload, shut=False, read=True):
    s = socket.create_connection(("127.0.0.1", h.port), timeout=2)
    try:
        s.sendall(payload)
        if shut:
            s.shutdown(socket.SHUT_WR)
        if read:
            try:
                return s.recv(4096)
            except (socket.timeout, ConnectionResetError):
                return b""
    finally:
        s.close()


def garbage(h):
    rnd = random.Random(7)
    for i in range(30):
        raw(h, bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 3000))),
            shut=i % 2 == 0, read=i % 2 == 0)
    # Half-closed incomplete requests are held until the connection
    # timeout; nobody waits for them here.
    raw(h, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 200, shut=True, read=False)
    raw(h, b"GET /leak-status HTTP/1.1\r\n", shut=True, read=False)
    raw(h, b"\r\n\r\n\r\n", shut=True, read=False)
    big_header = raw(h, b"GET /leak-status HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * (1 << 20) +
                     b"\r\n\r\n")
    big_url = raw(h, b"GET /" + b"A" * (1 << 20) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    bad_version = raw(h, b"GET /leak-status HTTP/9.9\r\n\r\n", shut=True)
    t.ok(big_header.startswith(b"HTTP/1.1 431"), "a 1 MB header is refused with 431")
    t.ok(big_url.startswith(b"HTTP/1.1 414"), "a 1 MB URL is refused with 414")
    t.ok(bad_version.startswith(b"HTTP/1.1 505"), "HTTP/9.9 is refused with 505")
    # Idle and half-open connections must not block others.
    idle = [socket.create_connection(("127.0.0.1", h.port)) for _ in range(20)]
    for s in idle[:10]:
        s.sendall(b"GET /leak-sta")
    start = time.time()
    st, body = h.get("/leak-status", timeout=10)
    took = time.time() - start
    for s in idle:
        s.close()
    t.ok(st == 200 and took < 5, "after garbage and with 20 idle connections the port "
         "answers in %.2fs" % took)


def flood(h):
    """1000 connections at once, idle or trickling a request a byte at a
    time (slowloris): the port holds 128, and when nearly full it cuts the
    oldest, so a real request still gets in within a second or so, and the
    host is unharmed."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    socks = []
    for _ in range(1000):
        s = socket.socket()
        s.setblocking(False)
        s.connect_ex(("127.0.0.1", h.port))
        socks.append(s)
    time.sleep(0.5)
    for rnd in range(3):  # half of them trickle a request, a byte at a time
        for s in socks[::2]:
            try:
                s.send(b"GET /leak-status HTTP/1.1\r\n"[rnd:rnd + 1])
            except OSError:
                pass
    start = time.time()
    st, _ = h.get("/leak-status", timeout=30)
    took = time.time() - start
    for s in socks:
        s.close()
    t.ok(st == 200 and took < 5, "with 1000 connections open, idle or trickling, a request "
         "is answered in %.1fs" % took)
    h.cmd("leak malloc 10 10")
    t.ok(h.alive(), "the host is unharmed by the flood")
    t.ok(h.get("/leak-status")[0] == 200, "and the port answers at once after it")


def concurrent(h):
    h.get("/leak-on?sampling=10")
    h.send("threads 2 100000 24")  # the host allocates during the burst
    args = []
    for i in range(200):
        args += ["-o", "/dev/null", h.url + ("/leak-status" if i % 4 else "/leak-report")]
    start = time.time()
    r = subprocess.run(["curl", "-s", "-Z", "--parallel-max", "200", "--max-time", "60",
                        "-w", "%{http_code}\n", *args], capture_output=True, text=True)
    took = time.time() - start
    codes = r.stdout.split()
    h.wait_done()
    t.ok(len(codes) == 200 and all(c == "200" for c in codes),
         "200 concurrent requests all answered 200 in %.1fs (%d answered, %d not 200)"
         % (took, len(codes), sum(c != "200" for c in codes)))
    text = h.get("/leak-off")[1]
    rep = translate(text)
    c = sum_field(leaks_at(rep, "leak_in_thread"), "count")
    t.ok(within(c, 200000, 10), "the host stayed correct under the burst (%d sampled of "
         "200000 / 10)" % c)


def token():
    h = Host([VICTIM], env={"LEAKSCOPE_TOKEN": "s3cret-t0ken"})
    try:
        for hdr, want in ((None, 401), ("Authorization: Bearer wrong", 401),
                          ("Authorization: Bearer s3cret-t0ke", 401),
                          ("Authorization: Bearer s3cret-t0kenX", 401),
                          ("Authorization: Basic czNjcmV0LXQwa2Vu", 401),
                          ("Authorization: Bearer s3cret-t0ken", 200)):
            st, body = h.get("/leak-status", headers=[hdr] if hdr else [])
            t.ok(st == want, "token: %s -> %d" % (hdr or "no Authorization", want), "got %d" % st)
    finally:
        h.stop()
        h.cleanup()


def port_taken():
    a = Host([VICTIM])
    b = None
    try:
        b = Host([VICTIM], port=a.port, wait_port=False)
        res = b.wait_port()
        t.ok(isinstance(res, str) and res.startswith("error:"),
             "a second process on the same port writes 'error:' to its port file (%r)" % res)
        b.cmd("leak malloc 1000 10")
        t.ok(b.alive(), "the second process keeps running without a port")
        lines = [l for l in b.stderr().splitlines() if "leakscope" in l]
        t.ok(len(lines) == 1, "and says so in one log line: %r" % lines)
        st, _ = a.get("/leak-status")
        t.ok(st == 200, "the first process still owns and answers the port")
        t.ok(b.stop() == 0, "the second process exits cleanly")
    finally:
        a.stop()
        a.cleanup()
        if b:
            b.cleanup()


def unix_socket():
    d = Host([VICTIM], env={"LEAKSCOPE_PORT": "off"}, wait_port=False)
    path = os.path.join(d.dir, "ctl.sock")
    d.stop()
    h = Host([VICTIM], env={"LEAKSCOPE_SOCKET": path}, wait_port=False)
    try:
        for _ in range(200):
            if os.path.exists(h.port_file):
                break
            time.sleep(0.02)
        st = os.stat(path)
        t.ok(oct(st.st_mode & 0o777) == oct(0o600), "LEAKSCOPE_SOCKET is created with mode 0600")
        def get(p):
            r = subprocess.run(["curl", "-s", "--unix-socket", path, "-w", "\n%{http_code}",
                                "http://leakscope" + p], capture_output=True, text=True)
            body, _, code = r.stdout.rpartition("\n")
            return int(code or 0), body
        t.ok(get("/leak-on?sampling=10")[0] == 200, "curl --unix-socket opens a window")
        h.cmd("leak malloc 5000 20")
        st_, text = get("/leak-off")
        rep = translate(text)
        c = sum_field(leaks_at(rep, "leak_malloc"), "count")
        t.ok(st_ == 200 and within(c, 5000, 10), "and gets the report over the socket (%d)" % c)
        t.ok(open(h.port_file).read().strip() == "unix", "the port file says unix")
    finally:
        h.stop()
        h.cleanup()
        d.cleanup()


def public_bind_warns():
    h = Host([VICTIM], env={"LEAKSCOPE_BIND": "0.0.0.0"})
    try:
        t.ok("WARNING" in h.stderr() and "LEAKSCOPE_TOKEN" in h.stderr(),
             "binding 0.0.0.0 without a token logs a warning")
    finally:
        h.stop()
        h.cleanup()


h = Host([VICTIM])
try:
    error_cases(h)
    status_fields(h)
    garbage(h)
    flood(h)
    concurrent(h)
    h.cmd("leak malloc 100 100")
    t.ok(h.alive(), "the host survived every bad request")
finally:
    t.ok(h.stop() == 0, "and exits cleanly", h.stderr()[-300:])
    h.cleanup()
token()
port_taken()
unix_socket()
public_bind_warns()
t.done()
