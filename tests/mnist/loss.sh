#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mnist/loss.sh — --loss: a net that ends in linear (no log_softmax) trains to a sensible
# accuracy with the default loss (auto: cross_entropy); --loss nll on it is refused before the first
# step (nothing saved); the loss is saved in the checkpoint, mnist-eval reports it and scores the
# same test line; --resume keeps the checkpoint's loss and refuses another.
source "$(dirname "$0")/common.sh"
gen d 1000 200
NET='conv2d(1,8,3) relu max_pool2d(2) flatten linear(1352,10)'
"$TRAIN" --net "$NET" --data d --epochs 2 --threads 2 --save a.st >a.txt || fail "training with the default loss"
grep -qx 'Loss: cross_entropy (auto: the net does not end in log_softmax)' a.txt || fail "auto loss line: $(grep ^Loss a.txt)"
line=$(test_lines a.txt | tail -n1)
acc=$(sed -E 's/.*accuracy: ([0-9]+)\/200.*/\1/' <<<"$line")
[ "$acc" -ge 120 ] || fail "a linear-ending net reached only $line"
"$EVAL" --model a.st --data d >ev.txt || fail "mnist-eval"
grep -qx 'Loss: cross_entropy' ev.txt || fail "mnist-eval's loss line: $(grep ^Loss ev.txt)"
[ "$(test_lines ev.txt)" = "$line" ] || fail "mnist-eval says '$(test_lines ev.txt)', training '$line'"

run_expect 1 "needs log-probabilities" "$TRAIN" --net "$NET" --data d --epochs 1 --threads 2 --loss nll --save n.st
grep -q '^Train epoch' out.txt && fail "--loss nll on logits took a step"
[ -e n.st ] && fail "--loss nll on logits saved a checkpoint"
run_expect 2 "--loss: loss 'hinge' is not auto, nll, cross_entropy or mse" "$TRAIN" --loss hinge
# the seed net ends in log_softmax: auto is nll
"$TRAIN" --data d --epochs 1 --threads 2 --summary >s.txt || fail "--summary"
"$TRAIN" --data d --epochs 1 --threads 2 --batch-size 200 >s.txt || fail "the seed net"
grep -qx 'Loss: nll (auto: the net ends in log_softmax)' s.txt || fail "seed net's loss: $(grep ^Loss s.txt)"
# mse trains too, and mnist-eval reports it
"$TRAIN" --net "$NET" --data d --epochs 1 --threads 2 --loss mse --save m.st >m.txt || fail "--loss mse"
"$EVAL" --model m.st --data d >mev.txt || fail "mnist-eval of an mse run"
grep -qx 'Loss: mse' mev.txt || fail "mnist-eval's mse line"
[ "$(test_lines mev.txt)" = "$(test_lines m.txt)" ] || fail "mnist-eval's mse test line differs"
# --resume keeps the loss; another is refused
run_expect 1 "loss mse differs from the checkpoint's cross_entropy" "$TRAIN" --data d --epochs 3 --threads 2 \
  --resume a.st --loss mse
"$TRAIN" --data d --epochs 3 --threads 2 --resume a.st >r.txt || fail "resume"
grep -qx 'Loss: cross_entropy' r.txt || fail "resumed loss: $(grep ^Loss r.txt)"
echo "OK: mnist loss"
