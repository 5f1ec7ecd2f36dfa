# SPDX-License-Identifier: MIT
"""What the drivers of tests/golden/formats.py and trees.py share: their
result lines ("ok - NAME", "not ok - NAME" with the reasons), files in a
scratch directory, and the translator run as a subprocess (its ASan+UBSan
build with exit codes of its own)."""
import os
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("BUILD", os.path.join(ROOT, "build")))
TR = os.environ.get("LEAKSCOPE_TRANSLATE", os.path.join(BUILD, "leakscope-translate"))
TR_ASAN = os.path.join(BUILD, "symbolize", "asan", "leakscope-translate")

failures = 0


def ok(name):
    print("ok - " + name)


def not_ok(name, why):
    global failures
    failures += 1
    print("not ok - " + name)
    for line in str(why).rstrip("\n").split("\n")[:60]:
        print("#   " + line)


def check(name, why):
    """ok when why is empty, else not ok with the reasons."""
    if why:
        not_ok(name, "\n".join(why) if isinstance(why, list) else why)
    else:
        ok(name)


def saver(tmp):
    """save(name, data): writes text or bytes to tmp/name, returns the path."""
    def save(name, data):
        path = os.path.join(tmp, name)
        with open(path, "wb" if isinstance(data, bytes) else "w") as f:
            f.write(data)
        return path
    return save


# Sanitizer findings exit with codes of their own, never 1 (a bad report).
SAN_ENV = dict(os.environ, ASAN_OPTIONS="exitcode=86:detect_leaks=1", UBSAN_OPTIONS="exitcode=87:print_stacktrace=1")


def translate(args, tr=TR, stdin=None, timeout=60):
    """Runs the translator: (exit status, stdout bytes, stderr text)."""
    p = subprocess.run([tr] + args, input=stdin, capture_output=True, timeout=timeout,
                       env=SAN_ENV if tr == TR_ASAN else None)
    return p.returncode, p.stdout, p.stderr.decode("utf-8", "replace")
