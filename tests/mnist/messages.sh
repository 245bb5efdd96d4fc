#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mnist/messages.sh — messages a new user tripped on (issue 25 item 5):
#   - a file named by --train-images that is missing is reported as that file, without the
#     advice for a missing --data folder;
#   - data that is not 1x28x28 gets its own statistics without --normalize, and the Net line says
#     so; 1x28x28 data keeps the seed's constants, named as MNIST's.
source "$(dirname "$0")/common.sh"
G="$SRC/tests/mnist/gen_idx.py"
"$PY" "$G" rgb 48 3 8 8 3 u8
"$PY" "$G" gray 48 0 28 28 3 u8
run_expect 1 "nope.idx: cannot open" "$TRAIN" --train-images nope.idx --train-labels rgb-labels.idx \
  --test-images rgb-images.idx --test-labels rgb-labels.idx
grep -q -- "--data DIR" err.txt && fail "a missing --train-images file got the --data advice: $(cat err.txt)"
# A missing folder still gets it.
run_expect 1 "--data DIR" "$TRAIN" --data no/such/folder --epochs 1
common=(--epochs 1 --batch-size 16 --threads 2 --summary)
"$TRAIN" --train-images rgb-images.idx --train-labels rgb-labels.idx --test-images rgb-images.idx \
  --test-labels rgb-labels.idx --net 'conv2d(3,4,3) relu flatten linear(144,3) log_softmax' "${common[@]}" >rgb.txt ||
  fail "3-channel summary"
grep -q "normalize .*/.* (auto, from the training set: the seed's 0.1307,0.3081 are for 1x28x28" rgb.txt ||
  fail "3-channel data without --normalize: $(grep '^Net' rgb.txt)"
"$TRAIN" --train-images gray-images.idx --train-labels gray-labels.idx --test-images gray-images.idx \
  --test-labels gray-labels.idx --net 'flatten linear(784,3) log_softmax' "${common[@]}" >gray.txt || fail "1x28x28 summary"
grep -q "normalize 0.130700007/0.308099985 (the default, MNIST's)" gray.txt || fail "1x28x28 data: $(grep '^Net' gray.txt)"
echo "OK: messages"
