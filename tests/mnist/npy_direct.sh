#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mnist/npy_direct.sh — the programs read NumPy's .npy files wherever they read IDX files
# (issue 25 item 3): float32 NCHW images and int64 labels as numpy writes them train through
# mnist-train and evaluate through mnist-eval, raw, gzip'd and in Fortran order, with the same
# result as the same arrays converted by scripts/npy-to-idx; an object array and a header that
# claims 40 GiB are refused with one line naming the file. Needs numpy under /usr/bin/python3
# (Debian's python3-numpy), else skipped. The reader's own cases are tests/test_npy.c.
source "$(dirname "$0")/common.sh"
NPY=/usr/bin/python3
if ! [ -x "$NPY" ] || ! "$NPY" -c 'import numpy' 2>/dev/null; then echo "skipped: no numpy in /usr/bin/python3"; exit 77; fi
"$NPY" - <<'PY'
import gzip, numpy as np
r = np.random.default_rng(0)
y = np.arange(96) % 3
x = (r.random((96, 3, 12, 12)) * 0.3).astype(np.float32)
for i, k in enumerate(y):
    x[i, k, 4 * k:4 * k + 4, 4 * k:4 * k + 4] += 0.7
np.save("x.npy", x); np.save("y.npy", y.astype(np.int64))
np.save("xf.npy", np.asfortranarray(x)); np.save("yb.npy", y.astype(">i4"))
with gzip.open("x.npy.gz", "wb") as f: np.save(f, x)
np.save("obj.npy", np.array([1, "a"], dtype=object), allow_pickle=True)
# a header claiming 10M x 1024 float32 (40 GiB) over 64 bytes of data
h = b"{'descr': '<f4', 'fortran_order': False, 'shape': (10000000, 1024), }"
h += b" " * (118 - len(h)) + b"\n"
open("huge.npy", "wb").write(b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h + bytes(64))
PY
NET='conv2d(3,4,3) relu flatten linear(400,3) log_softmax'
train() {  # train IMAGES LABELS OUT: two epochs, the test lines into OUT
  "$TRAIN" --train-images "$1" --train-labels "$2" --test-images "$1" --test-labels "$2" --net "$NET" \
           --epochs 2 --batch-size 12 --normalize auto --threads 2 --save "$3.safetensors" >"$3" 2>"$3.err" ||
    { cat "$3" "$3.err"; fail "mnist-train on $1 $2"; }
}
train x.npy y.npy a.txt
read -r l1 l2 <<<"$(test_lines a.txt | sed -E 's/.*loss: ([0-9.]+),.*/\1/' | tr '\n' ' ')"
awk -v a="$l1" -v b="$l2" 'BEGIN { exit !(b < a && b < 0.5) }' || fail "test loss $l1 -> $l2 did not fall below 0.5"
# Fortran order, big-endian labels and gzip give the very same run.
train xf.npy yb.npy b.txt
train x.npy.gz y.npy c.txt
[ "$(test_lines a.txt)" = "$(test_lines b.txt)" ] || fail "Fortran-order images / big-endian labels trained differently"
[ "$(test_lines a.txt)" = "$(test_lines c.txt)" ] || fail "gzip'd .npy images trained differently"
# The same arrays through npy-to-idx: the same run.
"$NPY" "$SRC/scripts/npy-to-idx" x.npy y.npy conv >/dev/null
train conv-images.idx conv-labels.idx d.txt
[ "$(test_lines a.txt)" = "$(test_lines d.txt)" ] || fail ".npy and its IDX conversion trained differently"
"$EVAL" --model a.txt.safetensors --test-images x.npy --test-labels y.npy >e.txt 2>e.err || { cat e.txt e.err; fail "mnist-eval on .npy"; }
[ "$(test_lines e.txt)" = "$(test_lines a.txt | tail -1)" ] || fail "mnist-eval on .npy: $(test_lines e.txt)"
common=(--test-images x.npy --test-labels y.npy --net "$NET" --epochs 1 --batch-size 12 --threads 2 --normalize auto)
run_expect 1 "obj.npy: .npy dtype '|O' is not read" "$TRAIN" --train-images obj.npy --train-labels y.npy "${common[@]}"
run_expect 1 "huge.npy: the header says 10000000 images but y.npy says 96 labels" "$TRAIN" --train-images huge.npy --train-labels y.npy "${common[@]}"
echo "OK: .npy read directly"
