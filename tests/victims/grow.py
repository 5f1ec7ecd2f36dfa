# SPDX-License-Identifier: MIT
# tests/victims/grow.py: a python program that leaks on command.
# "grow N" appends N fresh 2000-byte bytearrays to a list that is never
# emptied (CPython hands blocks over 512 bytes to malloc); "churn N"
# creates as many and drops them. Answers "done".
import sys

kept = []
for line in sys.stdin:
    cmd, _, n = line.strip().partition(" ")
    if cmd == "quit":
        break
    if cmd == "grow":
        for i in range(int(n)):
            kept.append(bytearray(2000))
    elif cmd == "churn":
        for i in range(int(n)):
            b = bytearray(2000)
            del b
    print("done", flush=True)
