#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mpi/disagree.sh MPIRUN DIST_EQUIV MNIST_TRAIN WORKDIR — ranks that disagree (issue 12,
# item 12) stop at startup with one message naming the disagreement, instead of hanging in an
# allreduce or training silently with wrong shards: different --epochs, --batch-size, --seed, a
# different training set size, different image contents, and --resume on one rank only. Each
# job runs under `timeout`: a hang fails the test (status 124) rather than blocking ctest.
set -u
mpirun=$1 gen=$2 train=$3 work=$4
rm -rf "$work" && mkdir -p "$work/data" || exit 1
"$gen" --write-idx "$work/data" >/dev/null || exit 1
d=$work/data
common=(--epochs 1 --batch-size 32 --test-batch-size 64 --no-dropout --threads 1)
mpi=("$mpirun" --allow-run-as-root --oversubscribe)
fails=0

# expect NEEDLE ARGS0 -- ARGS1: rank 0 runs with ARGS0, rank 1 with ARGS1.
expect() {
  local needle=$1; shift
  local a=() b=()
  while [ "$1" != -- ]; do a+=("$1"); shift; done
  shift
  b=("$@")
  out=$(timeout 60 "${mpi[@]}" -np 1 "$train" "${common[@]}" "${a[@]}" : -np 1 "$train" "${common[@]}" "${b[@]}" 2>&1)
  rc=$?
  if [ "$rc" -eq 124 ]; then echo "FAIL: hung: ${a[*]} | ${b[*]}"; fails=$((fails + 1)); return; fi
  if [ "$rc" -eq 0 ]; then echo "FAIL: exit 0: ${a[*]} | ${b[*]}"; fails=$((fails + 1)); return; fi
  if ! grep -qF -- "ranks disagree on $needle" <<<"$out"; then
    echo "$out" | tail -5
    echo "FAIL: no 'ranks disagree on $needle': ${a[*]} | ${b[*]}"; fails=$((fails + 1)); return
  fi
  grep -q '^Train epoch' <<<"$out" && { echo "FAIL: trained before stopping: ${a[*]} | ${b[*]}"; fails=$((fails + 1)); return; }
  echo "ok ($rc): ${a[*]} | ${b[*]} -> $(grep -F 'ranks disagree' <<<"$out" | head -n1)"
}

expect "--epochs" --data "$d" -- --data "$d" --epochs 2
expect "--batch-size" --data "$d" -- --data "$d" --batch-size 64
expect "--seed" --data "$d" --seed 1 -- --data "$d" --seed 2
# The same files but for one pixel: the data checksum differs.
cp -r "$d" "$work/pixel"
printf '\377' | dd of="$work/pixel/train-images-idx3-ubyte" bs=1 seek=1000 conv=notrunc 2>/dev/null
expect "the training data" --data "$d" -- --data "$work/pixel"
# 64 training images instead of 256: rewrite the counts and cut the files.
cp -r "$d" "$work/small"
printf '\000\000\000\100' | dd of="$work/small/train-images-idx3-ubyte" bs=1 seek=4 conv=notrunc 2>/dev/null
printf '\000\000\000\100' | dd of="$work/small/train-labels-idx1-ubyte" bs=1 seek=4 conv=notrunc 2>/dev/null
truncate -s $((16 + 64 * 784)) "$work/small/train-images-idx3-ubyte"
truncate -s $((8 + 64)) "$work/small/train-labels-idx1-ubyte"
expect "the training set size" --data "$d" -- --data "$work/small"
# --resume on one rank only.
timeout 120 "$train" "${common[@]}" --data "$d" --save "$work/ck.safetensors" >/dev/null 2>&1 || { echo "FAIL: checkpoint"; exit 1; }
expect "the resume epoch" --data "$d" --epochs 2 --resume "$work/ck.safetensors" -- --data "$d" --epochs 2
# Control: ranks that agree train.
out=$(timeout 120 "${mpi[@]}" -np 2 "$train" "${common[@]}" --data "$d" 2>&1) || { echo "$out"; echo "FAIL: agreeing ranks"; exit 1; }
grep -q '^Test:' <<<"$out" || { echo "$out"; echo "FAIL: agreeing ranks did not train"; exit 1; }
[ "$fails" -eq 0 ] || { echo "FAIL: $fails cases"; exit 1; }
echo "OK: ranks that disagree stop at startup, naming what differs"
