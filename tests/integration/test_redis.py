# SPDX-License-Identifier: MIT
"""tests/integration/test_redis.py: Debian's redis-server, which links
jemalloc, under the preload. A window in which K keys are SET must report
live allocations in proportion to K: measured with sampling=1, a SET of a
short (embedded) value leaves 3 live blocks (dict entry, key sds, value
object), a long value 4. A window that SETs and DELs them must show close
to nothing."""
import subprocess
import time

from lslib import Host, Tap, free_port, tool, translate

t = Tap()
N = 20


def pipe(port, commands):
    r = subprocess.run([tool("redis-cli"), "-p", str(port), "--pipe"], input=commands,
                       capture_output=True, text=True, timeout=120)
    return r.returncode == 0 and "errors: 0" in r.stdout


def wait_redis(port):
    for _ in range(200):
        r = subprocess.run([tool("redis-cli"), "-p", str(port), "ping"], capture_output=True,
                           text=True)
        if r.stdout.strip() == "PONG":
            return True
        time.sleep(0.05)
    return False


rport = free_port()
h = Host([tool("redis-server"), "--port", str(rport), "--bind", "127.0.0.1", "--save", "",
          "--appendonly", "no", "--daemonize", "no"], stdin=False)
try:
    t.ok(wait_redis(rport), "redis-server (on jemalloc) serves under the preload")
    est = {}
    for k in (20000, 60000):
        h.get("/leak-on?sampling=%d" % N)
        ok = pipe(rport, "".join("SET k%d:%d value-%d-padding-padding-padding-padding\r\n"
                                 % (k, i, i) for i in range(k)))
        rep = translate(h.get("/leak-off")[1])
        est[k] = rep["estimated"]["count"]
        t.ok(ok and 2.7 * k <= est[k] <= 3.4 * k,
             "SET %d keys: %d live allocations estimated (3 per key expected)" % (k, est[k]))
        t.ok(any(any((f.get("function") or "") == "dbAdd" for f in lk["frames"])
                 for lk in rep["leaks"]), "SET %d keys: stacks go through redis's dbAdd" % k)
    ratio = est[60000] / max(est[20000], 1)
    t.ok(2.6 <= ratio <= 3.4, "estimates scale with K: 60000 keys / 20000 keys = %.2f" % ratio)

    h.get("/leak-on?sampling=%d" % N)
    k = 40000
    ok = pipe(rport, "".join("SET tmp:%d v%d\r\n" % (i, i) for i in range(k)) +
              "".join("DEL tmp:%d\r\n" % i for i in range(k)))
    rep = translate(h.get("/leak-off")[1])
    t.ok(ok and rep["estimated"]["count"] < 0.02 * 4 * k,
         "SET then DEL %d keys: %d allocations estimated, close to nothing"
         % (k, rep["estimated"]["count"]))
    r = subprocess.run([tool("redis-cli"), "-p", str(rport), "dbsize"], capture_output=True, text=True)
    t.ok(r.stdout.strip() == "80000", "redis data is intact (dbsize %s)" % r.stdout.strip())
finally:
    subprocess.run([tool("redis-cli"), "-p", str(rport), "shutdown", "nosave"], capture_output=True)
    try:
        rc = h.proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        rc = None
    t.ok(rc == 0, "redis-server shuts down cleanly (status %s)" % rc, h.stderr()[-300:])
    h.cleanup()
t.done()
