#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mpi/mnist_train.sh MPIRUN DIST_EQUIV MNIST_TRAIN WORKDIR — mnist-train data-parallel:
#  1. 2 ranks, 2 epochs, checkpoint per epoch; rank 1 dies in epoch 2 (test hook): the job stops
#     (no hang) with a message, and the epoch-1 checkpoint is intact
#  2. --resume it to epoch 2 under 1 rank (no mpirun) and under 2 ranks: both test lines agree
#     (dropout off, so 1 and 2 ranks compute the same steps)
set -u
mpirun=$1 gen=$2 train=$3 work=$4
run() { echo "+ $*"; "$@"; }
rm -rf "$work" && mkdir -p "$work/data" || exit 1
"$gen" --write-idx "$work/data" || exit 1
common=(--data "$work/data" --epochs 2 --batch-size 32 --lr 0.0005 --test-batch-size 64 --no-dropout --threads 1)
mpi=("$mpirun" --allow-run-as-root --oversubscribe -np 2)

# 256 images / 32 = 8 steps per epoch: rank 1 exits at step 10, after the epoch-1 save.
out=$(CGRAD_TEST_RANK1_EXIT_AFTER=10 timeout 120 "${mpi[@]}" -x CGRAD_TEST_RANK1_EXIT_AFTER "$train" "${common[@]}" --save "$work/ck.safetensors" 2>&1)
rc=$?
echo "$out"
[ "$rc" -ne 124 ] || { echo "FAIL: hung"; exit 1; }
[ "$rc" -ne 0 ] || { echo "FAIL: a dead rank went unnoticed"; exit 1; }
grep -q "Saved .*epoch 1" <<<"$out" || { echo "FAIL: no epoch-1 checkpoint"; exit 1; }
grep -q "epoch 2)" <<<"$out" && { echo "FAIL: epoch 2 was saved"; exit 1; }

one=$(run timeout 120 "$train" "${common[@]}" --resume "$work/ck.safetensors" 2>&1) || { echo "$one"; echo "FAIL: 1-rank resume"; exit 1; }
echo "$one"
two=$(run timeout 120 "${mpi[@]}" "$train" "${common[@]}" --resume "$work/ck.safetensors" 2>&1) || { echo "$two"; echo "FAIL: 2-rank resume"; exit 1; }
echo "$two"
grep -q "Resumed .* at epoch 1" <<<"$two" || { echo "FAIL: 2 ranks did not resume"; exit 1; }
t1=$(grep "^Test:" <<<"$one") t2=$(grep "^Test:" <<<"$two")
echo "1 rank:  $t1"
echo "2 ranks: $t2"
[ -n "$t1" ] && [ "$t1" = "$t2" ] || { echo "FAIL: 1 and 2 ranks disagree after resuming"; exit 1; }
echo "OK: mnist-train stopped when a rank died, and resumed its checkpoint under 1 and 2 ranks alike"
