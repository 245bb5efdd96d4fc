#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mnist/e2e.sh — mnist-train on a tiny synthetic set for 2 epochs: the progress and test
# lines in their exact format, a falling test loss, the metrics CSV, and mnist-eval of the saved
# checkpoint printing the last epoch's test line, per-class accuracy and the confusion matrix.
source "$(dirname "$0")/common.sh"
gen d 192 64

"$TRAIN" --data d --epochs 2 --batch-size 32 --test-batch-size 64 --threads 2 \
         --metrics m.csv --save ck.safetensors >train.txt 2>train.err || { cat train.txt train.err; fail "mnist-train exited $?"; }
cat train.txt

# Progress: plain lines (stdout is not a terminal), each epoch ending at 192/192, 100%.
for e in 1 2; do
  grep -qE "^Train epoch $e: [0-9]+/192, \[[-> ]{30}\] [0-9]+%  loss [0-9]+\.[0-9]{4}  [0-9]+ img/s  [0-9]+:[0-9]{2} elapsed  ETA [0-9]+:[0-9]{2}$" train.txt ||
    fail "no progress line for epoch $e"
  grep -qE "^Train epoch $e: 192/192, \[-{29}>\] 100%  loss [0-9]+\.[0-9]{4}  [0-9]+ img/s  took [0-9]+:[0-9]{2}$" train.txt ||
    fail "no final progress line for epoch $e"
done
test_lines train.txt >tl.txt
[ "$(wc -l <tl.txt)" -eq 2 ] || fail "want 2 test lines"
grep -qvE '^Test: average loss: [0-9]+\.[0-9]{4}, accuracy: [0-9]+/64 \([0-9]+%\)$' tl.txt &&
  fail "a test line is not in the format 'Test: average loss: X.XXXX, accuracy: N/M (P%)'"
read -r l1 c1 <<<"$(sed -n 1p tl.txt | sed -E 's/.*loss: ([0-9.]+), accuracy: ([0-9]+)\/.*/\1 \2/')"
read -r l2 c2 <<<"$(sed -n 2p tl.txt | sed -E 's/.*loss: ([0-9.]+), accuracy: ([0-9]+)\/.*/\1 \2/')"
echo "epoch 1: loss $l1, $c1/64 correct; epoch 2: loss $l2, $c2/64 correct"
awk -v a="$l1" -v b="$l2" 'BEGIN { exit !(b < a) }' || fail "test loss did not fall ($l1 -> $l2)"
[ "$c2" -ge 26 ] || fail "accuracy $c2/64 is not clearly above chance (6/64)"
# the percentage is the rounded ratio
for line in 1 2; do
  sed -n ${line}p tl.txt | awk '{ split($0, a, /accuracy: |\/|\(|%\)/); if (sprintf("%.0f", 100 * a[2] / a[3]) != a[4]) exit 1 }' ||
    fail "percentage of test line $line is not N/M"
done
grep -q '^Saved ck.safetensors (epoch 2)$' train.txt || fail "no 'Saved' line for epoch 2"

# Metrics: the header, then one epoch row per epoch (6 steps of 32 per epoch) agreeing with the test lines.
[ "$(head -n1 m.csv)" = "kind,epoch,step,loss,accuracy,img_per_s,lr,seconds" ] || fail "metrics header: $(head -n1 m.csv)"
[ "$(grep -c '^epoch,' m.csv)" -eq 2 ] || fail "want 2 epoch rows in m.csv"
awk -F, -v l1="$l1" -v l2="$l2" -v c1="$c1" -v c2="$c2" '
  $1 == "epoch" { e = $2; want_step = 6 * e; l = e == 1 ? l1 : l2; c = e == 1 ? c1 : c2;
                  if ($3 != want_step || NF != 8) bad = 1;
                  d = $4 - l; if (d < 0) d = -d; if (d > 0.00006) bad = 1;
                  d = $5 - c / 64; if (d < 0) d = -d; if (d > 0.00006) bad = 1;
                  if ($7 != 0.025) bad = 1 }
  END { exit bad }' m.csv || { cat m.csv; fail "metrics epoch rows disagree with the test lines"; }

# mnist-eval: the same test line (same batch size, same numbers), per-class accuracy, confusion matrix.
"$EVAL" --model ck.safetensors --data d --batch-size 64 --threads 2 >eval.txt 2>eval.err ||
  { cat eval.txt eval.err; fail "mnist-eval exited $?"; }
cat eval.txt
[ "$(test_lines eval.txt)" = "$(sed -n 2p tl.txt)" ] || fail "mnist-eval's test line differs from epoch 2's"
[ "$(grep -cE '^  class [0-9]: +[0-9]+/ +[0-9]+ \( *[0-9.]+%\)$' eval.txt)" -eq 10 ] || fail "want 10 per-class lines"
grep -q '^Confusion matrix' eval.txt || fail "no confusion matrix"
awk -v c="$c2" '/^ +[0-9]: +[0-9]/ && !/class/ { r = $1 + 0; rows++; for (k = 2; k <= NF; k++) { tot += $k; if (k - 2 == r) diag += $k } }
  END { if (rows != 10 || tot != 64 || diag != c) { print rows, tot, diag > "/dev/stderr"; exit 1 } }' eval.txt ||
  fail "confusion matrix: not 10 rows summing to 64 with the correct count on its diagonal"
# The default evaluation batch (1000) counts the same correct images.
"$EVAL" --model ck.safetensors --data d >eval2.txt
[ "$(test_lines eval2.txt | sed -E 's/.*accuracy: //')" = "$(sed -n 2p tl.txt | sed -E 's/.*accuracy: //')" ] ||
  fail "mnist-eval with batch 1000: $(test_lines eval2.txt)"

# On a terminal the bar is redrawn in place, fitted to the width and cleared to the end of the
# line: no redraw reaches the last column at 80, 40 or 20 columns (script(1) gives a pty).
if command -v script >/dev/null; then
  for cols in 80 40 20; do
    script -q -c "stty cols $cols; '$TRAIN' --data d --epochs 1 --batch-size 32 --threads 2" /dev/null >pty.txt </dev/null ||
      fail "mnist-train on a pty of $cols columns"
    "$PY" - "$cols" <<'PY' || fail "the progress bar does not fit $cols columns"
import sys
cols = int(sys.argv[1])
text = open("pty.txt", "rb").read().decode("utf-8", "replace")
draws = [d for line in text.split("\n") for d in line.split("\r") if d.startswith("Train epoch")]
assert len(draws) >= 6, "want a redraw per step, got %d" % len(draws)
assert all(d.endswith("\x1b[K") or d.endswith("\x1b[K\r") or "\x1b[K" in d for d in draws), "no clear to end of line"
widths = [len(d.split("\x1b[K")[0]) for d in draws]
assert max(widths) < cols, "a redraw is %d wide in %d columns" % (max(widths), cols)
print("pty %d columns: %d redraws, widest %d" % (cols, len(draws), max(widths)))
PY
  done
  OMPI_COMM_WORLD_SIZE=1 script -q -c "'$TRAIN' --data d --epochs 1 --batch-size 32 --threads 2" /dev/null >pty.txt </dev/null
  grep -q '^Train epoch 1: 192/192' pty.txt || { cat pty.txt; fail "no progress under an MPI launcher's variables"; }
  ! grep -q $'\r''Train' pty.txt || fail "under an MPI launcher the progress bar still redraws in place"
fi

if command -v gnuplot >/dev/null; then
  "$SRC/scripts/plot-metrics" m.csv m.png >/dev/null
  [ "$(head -c 8 m.png | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "m.png is not a PNG"
fi
echo "OK: mnist e2e"
