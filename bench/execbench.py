#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench/execbench.py: the cost leakscope adds to processes exec'd by a
process running it (issue: at most 0.3 ms per short-lived child), and to a
CGI server (lighttpd + mod_cgi under ab). Rounds alternate A B B A, each
configuration beside its own baseline, with an A/A control; prints a
markdown table for bench/RESULTS.md.

  python3 bench/execbench.py [--rounds R] [--count N]"""
import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

from benchlib import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, "build")
LIB = os.path.join(BUILD, "libleakscope.so")
EXECB = os.path.join(BUILD, "bench", "execbench")


def spawn_median(env, count):
    r = subprocess.run([EXECB, str(count)], env=env, capture_output=True, text=True, check=True)
    return float(r.stdout.split()[0])


def env_native():
    e = dict(os.environ)
    e.pop("LD_PRELOAD", None)
    return e


def env_preload(d):
    # The parent runs leakscope with a control port, as a server would;
    # its children inherit every setting unchanged.
    return dict(env_native(), LD_PRELOAD=LIB, LEAKSCOPE_PORT=str(free_port()),
                LEAKSCOPE_PORT_FILE=os.path.join(d, "port"))


def cgi_rate(d, preload, n):
    www = os.path.join(d, "www")
    os.makedirs(www, exist_ok=True)
    with open(os.path.join(www, "hello.sh"), "w") as f:
        f.write('#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\nhello\\n"\n')
    port = free_port()
    conf = os.path.join(d, "lighttpd.conf")
    with open(conf, "w") as f:
        f.write('server.modules = ("mod_cgi")\nserver.document-root = "%s"\n'
                'server.port = %d\nserver.bind = "127.0.0.1"\n'
                'server.errorlog = "%s/error.log"\ncgi.assign = (".sh" => "/bin/sh")\n'
                % (www, port, d))
    env = env_preload(d) if preload else env_native()
    p = subprocess.Popen(["lighttpd", "-D", "-f", conf], env=env, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            r = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                "http://127.0.0.1:%d/hello.sh" % port], capture_output=True,
                               text=True)
            if r.stdout == "200":
                break
            time.sleep(0.05)
        r = subprocess.run(["ab", "-q", "-n", str(n), "-c", "4",
                            "http://127.0.0.1:%d/hello.sh" % port], capture_output=True,
                           text=True)
        m = re.search(r"Requests per second:\s+([\d.]+)", r.stdout)
        failed = re.search(r"Failed requests:\s+(\d+)", r.stdout)
        if not m or not failed or failed.group(1) != "0":
            raise RuntimeError("ab failed: " + r.stdout[-300:] + r.stderr[-300:])
        return float(m.group(1))
    finally:
        p.send_signal(signal.SIGTERM)
        p.wait()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--cgi", type=int, default=1000)
    a = ap.parse_args()
    d = tempfile.mkdtemp(prefix="leakscope-execbench.")
    try:
        aa, ab_ = [], []
        for _ in range(a.rounds):
            # A B B A for the preload, A A for the control.
            x1 = spawn_median(env_native(), a.count)
            y1 = spawn_median(env_preload(d), a.count)
            y2 = spawn_median(env_preload(d), a.count)
            x2 = spawn_median(env_native(), a.count)
            x3 = spawn_median(env_native(), a.count)
            ab_.append(((y1 + y2) - (x1 + x2)) / 2)
            aa.append(x3 - x2)
        base = statistics.median([spawn_median(env_native(), a.count) for _ in range(3)])
        cgi = []
        for _ in range(max(1, a.rounds // 2)):
            n1 = cgi_rate(d, False, a.cgi)
            p1 = cgi_rate(d, True, a.cgi)
            p2 = cgi_rate(d, True, a.cgi)
            n2 = cgi_rate(d, False, a.cgi)
            cgi.append((p1 + p2) / (n1 + n2))
        print("| figure | target | measured (median of %d rounds) | range |" % a.rounds)
        print("|---|---|---|---|")
        print("| spawn+exit of /bin/true, native parent | | %.0f us | |" % base)
        print("| A/A control: native minus native | 0 | %+.0f us | %+.0f .. %+.0f us |"
              % (statistics.median(aa), min(aa), max(aa)))
        print("| added per /bin/true exec'd by a process under leakscope | <= 300 us | "
              "%+.0f us | %+.0f .. %+.0f us |" % (statistics.median(ab_), min(ab_), max(ab_)))
        print("| lighttpd mod_cgi req/s, preload / native (ab -c 4, %d requests) | | "
              "%.3fx | %.3f .. %.3fx |" % (a.cgi, statistics.median(cgi), min(cgi), max(cgi)))
    finally:
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
