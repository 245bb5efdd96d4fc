#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mnist/npy.sh — scripts/npy-to-idx: arrays read back from IDX files that gen_idx.py wrote
# (u8, i16, f32, f64 images; short labels) convert to the very same bytes; an NHWC float set
# converted with --channels-last --gzip trains through mnist-train; bad arrays are refused, one
# line naming the file; hostile paths (a link planted at the old temporary name, link/FIFO/device
# outputs and inputs, a header claiming 40 GiB, a failed labels write) leave everything as it
# was. Needs numpy under /usr/bin/python3 (Debian's python3-numpy), else skipped.
source "$(dirname "$0")/common.sh"
NPY=/usr/bin/python3
if ! [ -x "$NPY" ] || ! "$NPY" -c 'import numpy' 2>/dev/null; then echo "skipped: no numpy in /usr/bin/python3"; exit 77; fi
CONV=("$NPY" "$SRC/scripts/npy-to-idx")
G="$SRC/tests/mnist/gen_idx.py"
for t in u8 i16 f32 f64; do
  "$PY" "$G" ref-$t 12 2 5 7 3 $t 4 i16
  "$NPY" - ref-$t <<'PY'
import sys, numpy as np
p = sys.argv[1]
def read(path):
    b = open(path, "rb").read()
    code, nd = b[2], b[3]
    dims = np.frombuffer(b, ">u4", nd, 4)
    dt = {8: "u1", 9: "i1", 11: ">i2", 12: ">i4", 13: ">f4", 14: ">f8"}[code]
    return np.frombuffer(b, dt, offset=4 + 4 * nd).reshape(dims).astype(np.dtype(dt).newbyteorder("="))
np.save(p + "-x.npy", read(p + "-images.idx"))
np.save(p + "-y.npy", read(p + "-labels.idx").astype(np.int16))
PY
  "${CONV[@]}" ref-$t-x.npy ref-$t-y.npy out-$t >/dev/null
  cmp ref-$t-images.idx out-$t-images.idx || fail "npy-to-idx wrote different image bytes for $t"
  # labels below 256 are written as unsigned bytes: same values, smaller type
  "$NPY" -c "import numpy as np, sys; a = open('out-$t-labels.idx','rb').read(); sys.exit(not (a[2] == 8 and list(a[8:]) == [i % 3 for i in range(12)]))" ||
    fail "labels of $t"
  echo "ok: $t round trip"
done

# NHWC floats, a learnable pattern; --channels-last --gzip; then training on them.
"$NPY" - <<'PY'
import numpy as np
r = np.random.default_rng(0)
y = np.arange(96) % 3
x = (r.random((96, 12, 12, 3)) * 0.3).astype(np.float32)
for i, k in enumerate(y):
    x[i, 4 * k:4 * k + 4, 4 * k:4 * k + 4, k] += 0.7
np.save("x.npy", x); np.save("y.npy", y)
np.save("yf.npy", y.astype(np.float32)); np.save("y2.npy", y[:50]); np.save("x1.npy", x[:, 0, 0, 0]); np.save("x3.npy", x[:, :, :, 0])
yn = y.copy(); yn[7] = -1; np.save("yneg.npy", yn)
PY
"${CONV[@]}" --channels-last --gzip x.npy y.npy my >conv.txt
grep -qF 'my-images.idx.gz (float32 [96, 3, 12, 12])' conv.txt || { cat conv.txt; fail "conversion summary"; }
"$TRAIN" --train-images my-images.idx.gz --train-labels my-labels.idx.gz --test-images my-images.idx.gz \
         --test-labels my-labels.idx.gz --net 'conv2d(3,4,3) relu flatten linear(400,3) log_softmax' \
         --epochs 2 --batch-size 12 --normalize auto --threads 2 >train.txt 2>train.err || { cat train.txt train.err; fail "mnist-train on converted data"; }
read -r l1 l2 <<<"$(test_lines train.txt | sed -E 's/.*loss: ([0-9.]+),.*/\1/' | tr '\n' ' ')"
awk -v a="$l1" -v b="$l2" 'BEGIN { exit !(b < a && b < 0.5) }' || fail "test loss $l1 -> $l2 did not fall below 0.5"

run_expect 1 "labels yf.npy: element type float32; labels must be integers" "${CONV[@]}" x.npy yf.npy bad
run_expect 1 "images x.npy hold 96 examples but labels y2.npy hold 50" "${CONV[@]}" x.npy y2.npy bad
run_expect 1 "labels yneg.npy: label -1 at index 7 is negative" "${CONV[@]}" x.npy yneg.npy bad
run_expect 1 "images x1.npy: shape [96]" "${CONV[@]}" x1.npy y.npy bad
run_expect 1 "images nope.npy: no such file" "${CONV[@]}" nope.npy y.npy bad
run_expect 1 "images x3.npy: --channels-last wants [N, H, W, C]" "${CONV[@]}" --channels-last x3.npy y.npy bad
run_expect 1 "unknown option '--nope'" "${CONV[@]}" --nope x.npy y.npy bad
[ ! -e bad-images.idx ] || fail "a refused conversion left bad-images.idx"
"${CONV[@]}" --help >help.txt && grep -q "^usage: npy-to-idx" help.txt || fail "--help"
echo "OK: npy-to-idx conversions"

# ---- hostile paths (issue 24): planted links, FIFOs, devices, header bombs, a failed second write
# A symbolic link planted at the old, predictable temporary name is neither followed nor removed.
echo precious > victim.txt
ln -s victim.txt sym-images.idx.tmp
"${CONV[@]}" x.npy y.npy sym >/dev/null || fail "conversion next to a planted link"
[ "$(cat victim.txt)" = precious ] || fail "npy-to-idx followed the link at sym-images.idx.tmp"
[ -L sym-images.idx.tmp ] || fail "the planted link was removed"
[ -f sym-images.idx ] && [ ! -L sym-images.idx ] || fail "sym-images.idx was not written as a file"
# A link, FIFO or device at an output path is refused, and nothing is written (not even the other file).
ln -s victim.txt lnk-labels.idx
run_expect 1 "lnk-labels.idx: it is a symbolic link" "${CONV[@]}" x.npy y.npy lnk
[ "$(cat victim.txt)" = precious ] && [ ! -e lnk-images.idx ] || fail "a refused output was written"
mkfifo ff-images.idx
run_expect 1 "ff-images.idx: it exists and is not a regular file" timeout 10 "${CONV[@]}" x.npy y.npy ff
# A FIFO or a device as input is refused at once, named (no hang: timeout would say 124).
mkfifo fifo.npy
run_expect 1 "images fifo.npy: not a regular file" timeout 10 "${CONV[@]}" fifo.npy y.npy bad
run_expect 1 "labels fifo.npy: not a regular file" timeout 10 "${CONV[@]}" x.npy fifo.npy bad
run_expect 1 "images /dev/zero: not a regular file" timeout 10 "${CONV[@]}" /dev/zero y.npy bad
# A 228-byte header that claims 40 GiB is refused before anything is allocated, naming both sizes;
# so is a truncated array, an .npz and an object array (never a traceback).
"$NPY" - <<'PY'
import numpy as np
fmt = np.lib.format
with open("huge.npy", "wb") as f:
    fmt.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (104857, 102400)})
    f.write(b"\0" * 100)
b = open("x.npy", "rb").read(); open("short.npy", "wb").write(b[:-4])
np.savez("two.npz", a=np.zeros(3), b=np.ones(3))
np.save("obj.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
PY
run_expect 1 "images huge.npy: its header claims [104857, 102400] float32 elements (42949427200 bytes) but the file holds 100 bytes" \
  "${CONV[@]}" huge.npy y.npy bad
run_expect 1 "images short.npy: its header claims [96, 12, 12, 3] float32 elements (165888 bytes) but the file holds 165884 bytes" \
  "${CONV[@]}" short.npy y.npy bad
run_expect 1 "images two.npz: holds several arrays" "${CONV[@]}" two.npz y.npy bad
run_expect 1 "labels obj.npy: holds Python objects" "${CONV[@]}" x.npy obj.npy bad
[ ! -e bad-images.idx ] || fail "a refused conversion left bad-images.idx"
# The pair is replaced whole or not at all: the labels write fails (a file size limit that the
# images fit under and the int labels do not), and the old pair is left byte for byte.
"$NPY" -c "import numpy as np; np.save('xa.npy', np.zeros((10000, 1), np.uint8)); np.save('ya.npy', np.arange(10000) + 300)
np.save('xb.npy', np.ones((10000, 1), np.uint8)); np.save('yb.npy', np.arange(10000) + 301)"
"${CONV[@]}" xa.npy ya.npy pair >/dev/null
cp pair-images.idx old-images.idx; cp pair-labels.idx old-labels.idx
run_expect 1 "writing pair-labels.idx: File too large" bash -c 'ulimit -f 20; exec "$@"' - "${CONV[@]}" xb.npy yb.npy pair
cmp -s pair-images.idx old-images.idx || fail "a failed labels write replaced the images"
cmp -s pair-labels.idx old-labels.idx || fail "a failed labels write changed the labels"
[ -z "$(ls | grep '^pair-.*\.tmp$')" ] || fail "a failed write left a temporary: $(ls | grep tmp)"
"${CONV[@]}" xb.npy yb.npy pair >/dev/null && ! cmp -s pair-images.idx old-images.idx || fail "the rewrite"
touch umask-probe
[ "$(stat -c %a pair-images.idx)" = "$(stat -c %a umask-probe)" ] ||
  fail "outputs do not have the umask's mode"
echo "OK: npy-to-idx hostile paths"

# The summary counts classes as the net needs them (0..max), and says which have no example; a
# Python without numpy (here: site-packages off) is told which interpreter to use.
"$NPY" -c "import numpy as np; np.save('gap-x.npy', np.zeros((7, 4, 4), np.uint8)); np.save('gap-y.npy', np.array([0, 1, 2, 3, 4, 5, 7]))"
"${CONV[@]}" gap-x.npy gap-y.npy gap >gap.txt || fail "labels with a gap"
grep -qF "(7 labels in 0..7: 8 classes, 1 of them without an example)" gap.txt || fail "classes summary: $(cat gap.txt)"
run_expect 1 "needs numpy, which" "$NPY" -S "$SRC/scripts/npy-to-idx" gap-x.npy gap-y.npy nonumpy
grep -qF "e.g. /usr/bin/python3" err.txt || fail "the no-numpy message names no interpreter: $(cat err.txt)"
echo "OK: npy-to-idx messages"
