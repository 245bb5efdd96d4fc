#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mnist/data.sh — the programs on data that is not MNIST-shaped: a 3-channel 32x32 set
# written as float IDX (test images as double, labels as short) trains through the four explicit
# paths and a fitting --net, its loss falls; --normalize auto is stored in the checkpoint and
# mnist-eval reuses it; --classes names the table. Data that does not fit (the seed net on 3
# channels, train and test of different sizes, a label beyond the net's classes) and bad data
# flags are refused before the first step, naming the file, the flag or the layer.
source "$(dirname "$0")/common.sh"
G="$SRC/tests/mnist/gen_idx.py"
"$PY" "$G" tr 192 3 32 32 3 f32 1
"$PY" "$G" te 60 3 32 32 3 f64 2 i16
FOUR=(--train-images tr-images.idx --train-labels tr-labels.idx --test-images te-images.idx --test-labels te-labels.idx)
NET='conv2d(3,8,3,padding=1) relu max_pool2d(2) conv2d(8,8,3,padding=1) relu max_pool2d(2) flatten linear(512,3) log_softmax'

"$TRAIN" "${FOUR[@]}" --net "$NET" --normalize auto --batch-size 16 --epochs 2 --lr 0.01 --threads 2 \
         --metrics m.csv --metrics-every 2 --save ck.st >train.txt 2>train.err || { cat train.txt train.err; fail "mnist-train exited $?"; }
grep -v '^Train epoch' train.txt
grep -q '^Net (--net), input \[N,3,32,32\], 3 classes, normalize [0-9.,]*/[0-9.,]* (auto, from the training set):$' train.txt ||
  fail "no 'Net' line with the data's shape, 3 classes and the computed statistics"
norm=$(sed -nE 's/^Net .*normalize ([^ ]+) \(auto.*/\1/p' train.txt)
[ "$(tr -cd ',' <<<"${norm%/*}")" = ",," ] || fail "want 3 channel means, got $norm"
# The loss falls: the mean of the first two metrics rows against the last two step rows.
awk -F, '$1 == "step" { l[++n] = $4 } END { a = (l[1] + l[2]) / 2; b = (l[n - 1] + l[n]) / 2;
  printf "training loss %.4f -> %.4f\n", a, b; exit !(n >= 10 && b < a / 4) }' m.csv || { cat m.csv; fail "the training loss did not fall"; }
last=$(test_lines train.txt | tail -n1)

# mnist-eval reads the statistics from the checkpoint: the same test line as the last epoch.
"$EVAL" --model ck.st --test-images te-images.idx --test-labels te-labels.idx --threads 2 >eval.txt 2>eval.err ||
  { cat eval.txt eval.err; fail "mnist-eval exited $?"; }
grep -qF "normalize $norm" eval.txt || { cat eval.txt; fail "mnist-eval does not use the checkpoint's normalize $norm"; }
[ "$(test_lines eval.txt)" = "$last" ] || fail "mnist-eval: '$(test_lines eval.txt)', training's last: '$last'"
"$EVAL" --model ck.st --test-images te-images.idx --test-labels te-labels.idx --normalize none >evaln.txt
[ "$(test_lines evaln.txt)" != "$last" ] || fail "--normalize none gave the same test line: the statistics are not applied"
# --resume takes the statistics from the checkpoint too.
"$TRAIN" "${FOUR[@]}" --resume ck.st --epochs 3 --batch-size 16 --threads 2 >resume.txt 2>resume.err ||
  { cat resume.txt resume.err; fail "--resume exited $?"; }
grep -qF "normalize $norm (the --resume checkpoint)" resume.txt || { cat resume.txt; fail "--resume does not reuse the checkpoint's normalize"; }
printf 'red\ngreen\nblue\n' >names.txt
"$EVAL" --model ck.st --test-images te-images.idx --test-labels te-labels.idx --classes names.txt >evalc.txt
grep -qE '^  green: +[0-9]+/ +20 ' evalc.txt || { cat evalc.txt; fail "--classes: no 'green' row in the per-class table"; }
grep -qE '^   2 blue *:' evalc.txt || { cat evalc.txt; fail "--classes: no 'blue' row in the confusion matrix"; }
printf 'red\ngreen\n' >two.txt
run_expect 1 "two.txt: 2 names, but the net has 3 classes" "$EVAL" --model ck.st --test-images te-images.idx --test-labels te-labels.idx --classes two.txt

# One channel of another size, in each integer element type: trains and evaluates.
for t in u8 i8 i16 i32; do
  "$PY" "$G" one-$t 64 0 20 24 4 $t 5 u8
  "$TRAIN" --train-images one-$t-images.idx --train-labels one-$t-labels.idx --test-images one-$t-images.idx \
           --test-labels one-$t-labels.idx --net 'conv2d(1,4,3,padding=1) relu flatten linear(1920,4) log_softmax' \
           --normalize auto --epochs 1 --batch-size 8 --threads 2 --save one-$t.st >one.txt 2>one.err || { cat one.txt one.err; fail "1-channel $t set"; }
  grep -qF 'input [N,1,20,24], 4 classes' one.txt || { cat one.txt; fail "1-channel $t: shape or classes"; }
  "$EVAL" --model one-$t.st --test-images one-$t-images.idx --test-labels one-$t-labels.idx >one-eval.txt ||
    fail "mnist-eval on the 1-channel $t set"
  [ "$(test_lines one-eval.txt)" = "$(test_lines one.txt)" ] || fail "1-channel $t: mnist-eval's test line differs from training's"
  echo "ok: 1-channel 20x24 $t: $(test_lines one.txt)"
done

# Refused before the first step (no progress line), naming the file and the layer.
no_training() { ! grep -q '^Train epoch' out.txt || fail "'$*' trained before failing"; }
run_expect 1 "the seed net does not fit the images in tr-images.idx (one example is [3, 32, 32])" "$TRAIN" "${FOUR[@]}"
grep -qF "conv2d(1,32,3)" err.txt || fail "the message does not name the layer"
no_training
"$PY" "$G" small 32 0 28 28 3 u8 3
run_expect 1 "the training images (small-images.idx) are [1, 28, 28] but the test images (te-images.idx) [3, 32, 32]" \
  "$TRAIN" --train-images small-images.idx --train-labels small-labels.idx --test-images te-images.idx --test-labels te-labels.idx --net "$NET"
no_training
"$PY" -c "
import struct
open('o1-images.idx', 'wb').write(struct.pack('>BBBBIII', 0, 0, 8, 3, 20, 1, 1) + bytes(range(20)))
open('o1-labels.idx', 'wb').write(struct.pack('>BBBBI', 0, 0, 8, 1, 20) + bytes(i % 2 for i in range(20)))"
run_expect 1 "the seed net does not fit the images in o1-images.idx (one example is [1, 1, 1]): net spec, char 1: conv2d(1,32,3) kernel 3" \
  "$TRAIN" --train-images o1-images.idx --train-labels o1-labels.idx --test-images o1-images.idx --test-labels o1-labels.idx
no_training
run_expect 1 "tr-labels.idx: label 2 at index 2 is outside 0..1 (the net has 2 classes)" \
  "$TRAIN" "${FOUR[@]}" --net "${NET/linear(512,3)/linear(512,2)}"
no_training
run_expect 1 "--normalize: 2 channels, but the images in tr-images.idx have 3" "$TRAIN" "${FOUR[@]}" --net "$NET" --normalize 0.1,0.2/0.3,0.4
run_expect 1 "the header says 192 images but te-labels.idx says 60 labels" \
  "$TRAIN" --train-images tr-images.idx --train-labels te-labels.idx --test-images te-images.idx --test-labels te-labels.idx --net "$NET"

# Flags.
run_expect 2 "--test-labels is missing: the four data files go together" "$TRAIN" --train-images tr-images.idx --train-labels tr-labels.idx --test-images te-images.idx
run_expect 2 "give --data DIR or the four data files, not both" "$TRAIN" "${FOUR[@]}" --data .
run_expect 2 "--train-images: the path is empty" "$TRAIN" --train-images "" --train-labels tr-labels.idx --test-images te-images.idx --test-labels te-labels.idx
run_expect 2 "--normalize: '1,2,3' is not MEAN,STD" "$TRAIN" --normalize 1,2,3
run_expect 2 "std -1 must be > 0" "$TRAIN" --normalize 0.5,-1
run_expect 2 "--test-images and --test-labels go together" "$EVAL" --model ck.st --test-images te-images.idx
run_expect 1 "nope.idx: cannot open" "$EVAL" --model ck.st --test-images nope.idx --test-labels te-labels.idx
echo "OK: mnist data"
