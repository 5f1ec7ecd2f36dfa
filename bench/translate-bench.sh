#!/bin/sh
# SPDX-License-Identifier: MIT
# translate-bench.sh: times leakscope-translate on a synthetic report of
# 10,000 stacks x 32 frames over 50 real system libraries (issue 3: under 3 s).
#
# usage: bench/translate-bench.sh [STACKS [FRAMES [MODULES]]]
# Not a test: it prints timings. Every address is drawn at random inside a
# function of one of the libraries (libc has DWARF when libc6-dbg is
# installed), so nearly all of the 320,000 addresses are distinct: the
# per-address cache gets no help, only the per-module one.
set -eu
cd "$(dirname "$0")/.."
STACKS=${1:-10000}
FRAMES=${2:-32}
MODULES=${3:-50}
TR=build/leakscope-translate
[ -x "$TR" ] || make --no-print-directory "$TR"
dir=$(mktemp -d /tmp/ls-bench.XXXXXX)
[ -n "${KEEP:-}" ] && echo "report kept in $dir" || trap 'rm -rf "$dir"' EXIT

python3 - "$dir/bench.report" "$STACKS" "$FRAMES" "$MODULES" <<'EOF'
import glob, os, random, struct, subprocess, sys

out, nstacks, nframes, nmods = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(42)

def elf_info(path):
    """(build id hex or None, [(p_offset, p_vaddr, p_filesz) of X PT_LOADs]) or None."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    loads, bid = [], None
    for i in range(phnum):
        p = phoff + i * phentsize
        ptype, flags, off, vaddr, _, filesz = struct.unpack_from("<IIQQQQ", data, p)
        if ptype == 1 and flags & 1:
            loads.append((off, vaddr, filesz))
        if ptype == 4:
            q = off
            while q + 12 <= off + filesz:
                namesz, descsz, ntype = struct.unpack_from("<III", data, q)
                d = q + 12 + ((namesz + 3) & ~3)
                if ntype == 3 and data[q + 12:q + 16] == b"GNU\0":
                    bid = data[d:d + descsz].hex()
                q = d + ((descsz + 3) & ~3)
    return bid, loads

def functions(path):
    res = subprocess.run(["nm", "-D", "-S", "--defined-only", path], capture_output=True, text=True).stdout
    funcs = []
    for line in res.split("\n"):
        f = line.split()
        if len(f) == 4 and f[2] in ("T", "t", "W", "i") and int(f[1], 16) > 1:
            funcs.append((int(f[0], 16), int(f[1], 16)))
    return funcs

paths = sorted({os.path.realpath(p) for p in glob.glob("/usr/lib/x86_64-linux-gnu/*.so*")})
rnd.shuffle(paths)
paths.sort(key=lambda p: not os.path.basename(p).startswith("libc.so"))  # libc first: it may have DWARF
mods = []
for real in paths:
    if len(mods) == nmods:
        break
    if not os.path.isfile(real):
        continue
    info = elf_info(real)
    if not info or not info[0] or len(info[1]) != 1:
        continue
    funcs = functions(real)
    if len(funcs) >= 20:
        mods.append((real, info, funcs))
if len(mods) < nmods:
    sys.exit("only %d usable libraries" % len(mods))

maps, placed = [], []
for i, (path, (bid, loads), funcs) in enumerate(mods):
    bias = 0x7f0000000000 + i * 0x10000000
    off, vaddr, filesz = loads[0]
    start, end = bias + (vaddr & ~0xfff), bias + ((vaddr + filesz + 0xfff) & ~0xfff)
    maps.append("map: %x-%x r-xp %08x %s %s" % (start, end, off & ~0xfff, bid, path))
    placed.append((bias, [(a, s) for a, s in funcs if vaddr <= a and a + s <= vaddr + filesz]))

lines = []
total = 0
for i in range(nstacks):
    addrs = []
    for j in range(nframes):
        bias, funcs = placed[rnd.randrange(len(placed))]
        a, s = funcs[rnd.randrange(len(funcs))]
        addrs.append("0x%x" % (bias + a + rnd.randrange(1, s)))
    eb = (nstacks - i) * 4096
    total += eb
    lines.append("leak: count=%d bytes=%d est_count=%d est_bytes=%d max_age=9.000 min_age=1.000 @ %s"
                 % (nstacks - i, eb // 500, (nstacks - i) * 500, eb, " ".join(addrs)))
with open(out, "w") as f:
    f.write("format: leakscope-report 1\nversion: 0.1.0\npid: 1\nexe: /usr/bin/true\nsampling: 500\n"
            "window_start: 1763900000.000000\nwindow_seconds: 60.000\nwindow_open: no\nmin_age: 0.000\n"
            "max_frames: %d\nunwinder: libunwind\nsampled: %d\ndropped: 0\nlive: 1 1\nestimated: 1 %d\n"
            "stacks: %d\nmaps: %d\n" % (nframes, nstacks, total, nstacks, len(maps)))
    f.write("\n".join(maps) + "\n" + "\n".join(lines) + "\nend: %d stacks\n" % nstacks)
uniq = len({a for l in lines for a in l.split(" @ ")[1].split()})
print("report: %d stacks x %d frames, %d modules, %d distinct addresses" % (nstacks, nframes, len(maps), uniq))
EOF

for fmt in text json folded; do
  start=$(date +%s%N)
  "$TR" --format "$fmt" "$dir/bench.report" >"$dir/out.$fmt"
  end=$(date +%s%N)
  ms=$(( (end - start) / 1000000 ))
  printf '%-6s %d.%03d s  (%s lines out)\n' "$fmt" $((ms / 1000)) $((ms % 1000)) "$(wc -l <"$dir/out.$fmt")"
done
printf 'frames with a function name (text): %s of %s\n' \
  "$(grep -c '^#[0-9]* [^/]' "$dir/out.text" || true)" "$(grep -c '^#' "$dir/out.text")"
