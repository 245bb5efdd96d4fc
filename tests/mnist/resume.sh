#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mnist/resume.sh — resuming through the CLI equals an uninterrupted run: --epochs 2 vs
# --epochs 1 then --resume --epochs 2; the final checkpoint files are equal byte for byte (tensors
# and metadata: the schedule's state too) and epoch 2's test lines match. Dropout is on.
source "$(dirname "$0")/common.sh"
gen d 128 64
common=(--data d --batch-size 32 --test-batch-size 64 --threads 2 --seed 3)
"$TRAIN" "${common[@]}" --epochs 2 --save a.safetensors >a.txt || fail "run a"
"$TRAIN" "${common[@]}" --epochs 1 --save b.safetensors >b1.txt || fail "run b, epoch 1"
cp b.safetensors b_epoch1.safetensors
"$TRAIN" "${common[@]}" --epochs 2 --resume b.safetensors --save b.safetensors >b2.txt || fail "run b, resumed"
cat a.txt b1.txt b2.txt | grep -v '^Train epoch'
grep -q '^Resumed b.safetensors at epoch 1 (step 4)$' b2.txt || fail "no 'Resumed' line"
grep -q '^Train epoch 1' b2.txt && fail "the resumed run trained epoch 1 again"
[ "$(test_lines a.txt | sed -n 1p)" = "$(test_lines b1.txt)" ] || fail "epoch 1 test lines differ"
[ "$(test_lines a.txt | sed -n 2p)" = "$(test_lines b2.txt)" ] || fail "epoch 2 test lines differ"
"$CMP" a.safetensors b.safetensors || fail "checkpoints differ"
cmp a.safetensors b.safetensors || fail "the resumed run's file differs from the uninterrupted run's"
# Control: the epoch-1 checkpoint differs from the final one (the comparison can fail).
"$CMP" a.safetensors b_epoch1.safetensors 2>/dev/null && fail "st_compare calls different checkpoints identical"
# --net on --resume: the same net is accepted though the file keeps the spec as the net writes it
# (without the spec file's comments and line breaks); another net is refused.
net=(--net "@$SRC/apps/nets/lenet5.net")
"$TRAIN" --data d --batch-size 32 --threads 2 --epochs 1 "${net[@]}" --save l.st >/dev/null || fail "lenet5 run"
"$TRAIN" --data d --batch-size 32 --threads 2 --epochs 2 "${net[@]}" --resume l.st >/dev/null 2>err.txt \
  || fail "resuming with the same --net @FILE: $(cat err.txt)"
run_expect 1 "--net differs from the net spec saved in l.st" "$TRAIN" --data d --batch-size 32 --threads 2 --epochs 2 \
  --net "@$SRC/apps/nets/mlp.net" --resume l.st
echo "OK: mnist resume"
