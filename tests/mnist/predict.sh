#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mnist/predict.sh — mnist-eval --predict IMAGES --out FILE.csv (issue 25 item 2): one row
# per unlabelled image with its index, the predicted class and the class probabilities, the
# checkpoint's normalisation applied. The rows' classes agree with the labels exactly as often
# as mnist-eval's test line says, every row's probabilities sum to 1 and their argmax is the class,
# the same from IDX and .npy input and from --out - ; wrong flags and unsafe outputs are refused.
source "$(dirname "$0")/common.sh"
gen d 256 64 3
cp d/t10k-images-idx3-ubyte images.idx
zcat d/t10k-labels-idx1-ubyte.gz >labels.idx
"$TRAIN" --data d --batch-size 32 --test-batch-size 64 --threads 2 --epochs 1 --save m.safetensors >train.txt ||
  fail "training the model"
"$EVAL" --model m.safetensors --test-images images.idx --test-labels labels.idx --threads 2 >eval.txt || fail "mnist-eval"
correct=$(sed -nE 's/^Test: .*accuracy: ([0-9]+)\/.*/\1/p' eval.txt)
"$EVAL" --model m.safetensors --predict images.idx --out p.csv --threads 2 >pred.txt || fail "--predict"
grep -q "^Predicted 64 images of images.idx: p.csv" pred.txt || fail "summary: $(cat pred.txt)"
[ "$(head -1 p.csv)" = "index,class,p_0,p_1,p_2,p_3,p_4,p_5,p_6,p_7,p_8,p_9" ] || fail "header: $(head -1 p.csv)"
[ "$(wc -l <p.csv)" -eq 65 ] || fail "rows: $(wc -l <p.csv)"
"$PY" - p.csv labels.idx "$correct" <<'PY' || fail "the CSV's rows"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
labels = open(sys.argv[2], "rb").read()[8:]
hits = 0
for i, r in enumerate(rows):
    assert int(r["index"]) == i, r
    p = [float(r[f"p_{j}"]) for j in range(10)]
    assert abs(sum(p) - 1) < 1e-4, (i, sum(p))
    assert max(range(10), key=lambda j: p[j]) == int(r["class"]) or p[int(r["class"])] == max(p), (i, p)
    hits += int(r["class"]) == labels[i]
assert hits == int(sys.argv[3]), (hits, sys.argv[3])
print("ok:", hits, "of", len(rows), "as mnist-eval counts")
PY
# The same from stdout, and from a .npy of the same images (where numpy is present).
"$EVAL" --model m.safetensors --predict images.idx --out - --threads 2 >stdout.csv || fail "--out -"
cmp p.csv stdout.csv || fail "--out - differs from --out FILE"
# Streamed a batch at a time: 10 batches of 7 rows (the last short) give every row once, in order,
# the same to a file and to stdout. (The values may differ from batch 1000's in the last digit:
# the GEMMs block a batch of 7 differently.)
"$EVAL" --model m.safetensors --predict images.idx --out b7.csv --batch-size 7 --threads 2 >/dev/null || fail "batch 7"
"$EVAL" --model m.safetensors --predict images.idx --out - --batch-size 7 --threads 2 >b7out.csv || fail "batch 7 stdout"
cmp b7.csv b7out.csv || fail "--batch-size 7: the file and stdout differ"
[ "$(head -1 b7.csv)" = "$(head -1 p.csv)" ] || fail "--batch-size 7: header"
[ "$(tail -n +2 b7.csv | cut -d, -f1 | tr '\n' ' ')" = "$(seq 0 63 | tr '\n' ' ')" ] || fail "--batch-size 7: the rows' indices"
if /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
  /usr/bin/python3 -c "import numpy as np; b = open('images.idx','rb').read(); np.save('images.npy', np.frombuffer(b, np.uint8, offset=16).reshape(64, 28, 28))"
  "$EVAL" --model m.safetensors --predict images.npy --out n.csv --threads 2 >/dev/null || fail "--predict .npy"
  cmp p.csv n.csv || fail ".npy input predicted differently"
fi
# --classes adds the names; a regression net (mse) writes raw outputs.
# Names with a comma or a quote are quoted as CSV, so every row keeps its columns.
printf '%s\n' 'T-shirt, top' 'say "one"' two three four five six seven eight nine >names.txt
"$EVAL" --model m.safetensors --predict images.idx --out c.csv --classes names.txt --threads 2 >/dev/null || fail "--classes"
head -1 c.csv | grep -q '^index,class,name,p_0' || fail "--classes header: $(head -1 c.csv)"
"$PY" - c.csv names.txt <<'PY' || fail "--classes rows"
import csv, sys
names = open(sys.argv[2]).read().splitlines()
rows = list(csv.reader(open(sys.argv[1])))
assert all(len(r) == 13 for r in rows), [len(r) for r in rows]
assert all(r[2] == names[int(r[1])] for r in rows[1:]), rows[1:4]
print("ok: --classes names", sorted({r[2] for r in rows[1:]})[:3])
PY
# Refusals: flags that do not go together, an output that is a link or a directory, labels as images.
run_expect 2 "--predict IMAGES and --out FILE go together" "$EVAL" --model m.safetensors --predict images.idx
run_expect 2 "--predict IMAGES replaces the test set" "$EVAL" --model m.safetensors --predict images.idx --out x.csv --data d
ln -s victim.txt link.csv
echo precious >victim.txt
run_expect 1 "link.csv" "$EVAL" --model m.safetensors --predict images.idx --out link.csv
[ "$(cat victim.txt)" = precious ] || fail "--out wrote through a symlink"
mkdir outdir
run_expect 1 "outdir" "$EVAL" --model m.safetensors --predict images.idx --out outdir
run_expect 1 "labels.idx: images need 2 to 4 dimensions" "$EVAL" --model m.safetensors --predict labels.idx --out x.csv
[ ! -e x.csv ] || fail "a refused prediction left x.csv"
echo "OK: --predict"
