#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mnist/cli_errors.sh — mnist-train and mnist-eval refuse bad input cleanly: bad flags and
# values exit 2 with one stderr line naming the flag; --help exits 0; missing or corrupt data
# files and unusable checkpoints exit 1 with one line naming the file (never a crash).
source "$(dirname "$0")/common.sh"
gen d 64 32

# Usage errors: status 2, one line naming the flag.
run_expect 2 "--epochs"      "$TRAIN" --data d --epochs 0
run_expect 2 "--epochs"      "$TRAIN" --data d --epochs 1x
run_expect 2 "--lr"          "$TRAIN" --data d --lr abc
run_expect 2 "--lr"          "$TRAIN" --data d --lr nan
run_expect 2 "--momentum"    "$TRAIN" --data d --momentum 1.5
run_expect 2 "--batch-size"  "$TRAIN" --data d --batch-size -4
run_expect 2 "--threads"     "$TRAIN" --data d --threads 0
run_expect 2 "--seed"        "$TRAIN" --data d --seed 99999999999999999999
run_expect 2 "--bogus"       "$TRAIN" --data d --bogus
run_expect 2 "--save"        "$TRAIN" --data d --save
run_expect 2 "--data"        "$TRAIN" --data
run_expect 2 "--model"       "$EVAL" --data d
run_expect 2 "--model"       "$EVAL" --data d --model
run_expect 2 "--bogus"       "$EVAL" --model x --bogus
run_expect 2 "--batch-size"  "$EVAL" --model x --batch-size 0
for p in "$TRAIN" "$EVAL"; do
  run_expect 0 "" "$p" --help
  grep -q '^usage: ' out.txt || fail "$p --help prints no usage"
  [ -s err.txt ] && fail "$p --help writes to stderr"
done

# Data errors: status 1, one line naming the file.
run_expect 1 "no data folder no/such/dir" "$TRAIN" --data no/such/dir --epochs 1
grep -qF "dataset-fashion-mnist" err.txt || fail "a missing data folder does not say how to get data"
run_expect 1 "the data folder name is empty" "$TRAIN" --data "" --epochs 1
grep -qF -- "--data DIR" err.txt || fail "an empty --data does not say how to get data"
mkdir empty
run_expect 1 "no train-images-idx3-ubyte file in empty" "$TRAIN" --data empty --epochs 1
mkdir bad && cp d/* bad/
head -c 20000 d/train-images-idx3-ubyte.gz >bad/train-images-idx3-ubyte.gz   # truncated gzip
run_expect 1 "train-images-idx3-ubyte.gz" "$TRAIN" --data bad --epochs 1
cp d/* bad/ && printf 'garbage!' | dd of=bad/t10k-images-idx3-ubyte bs=1 seek=0 conv=notrunc 2>/dev/null  # bad magic
run_expect 1 "t10k-images-idx3-ubyte" "$TRAIN" --data bad --epochs 1
"$PY" "$SRC/tests/mnist/make_st.py" zeros.safetensors
run_expect 1 "no data folder no/such/dir" "$EVAL" --data no/such/dir --model zeros.safetensors
grep -qF "dataset-fashion-mnist" err.txt || fail "mnist-eval: a missing data folder does not say how to get data"
run_expect 1 "t10k-images-idx3-ubyte" "$EVAL" --data bad --model zeros.safetensors
cp d/* bad/ && rm bad/t10k-labels-idx1-ubyte.gz
run_expect 1 "t10k-labels-idx1-ubyte" "$EVAL" --data bad --model zeros.safetensors

# Checkpoint errors: status 1, naming the file and the problem.
run_expect 1 "missing.safetensors" "$EVAL" --data d --model missing.safetensors
head -c 3000 zeros.safetensors >cut.safetensors
run_expect 1 "cut.safetensors"     "$EVAL" --data d --model cut.safetensors
"$PY" "$SRC/tests/mnist/make_st.py" wrong.safetensors fc2.weight
run_expect 1 "fc2.weight"          "$EVAL" --data d --model wrong.safetensors
grep -q "shape" err.txt || fail "the wrong-shape message does not say 'shape'"
run_expect 1 "not a run file of mnist-train or cg_trainer_save" "$TRAIN" --data d --epochs 1 --resume zeros.safetensors
run_expect 1 "missing.safetensors" "$TRAIN" --data d --epochs 1 --resume missing.safetensors
# Output files that cannot be written: status 1, naming the file, before training (more in outputs.sh).
run_expect 1 "no/such/m.csv" "$TRAIN" --data d --epochs 1 --metrics no/such/m.csv
run_expect 1 "no/such/ck.safetensors" "$TRAIN" --data d --epochs 1 --batch-size 32 --threads 2 --save no/such/ck.safetensors
# Network specs: status 1, naming --net (or the spec's file) and the layer's position.
run_expect 1 "char 15: unknown op 'lienar'" "$TRAIN" --data d --net 'conv2d(1,8,3) lienar(8,2)' --summary
run_expect 1 "linear(9216,128) gets 12544 input features (input [N,64,14,14])" "$TRAIN" --data d --summary \
  --net 'conv2d(1,32,3,padding=1) relu conv2d(32,64,3,padding=1) max_pool2d(2) flatten linear(9216,128)'
run_expect 1 "--net @no/such.net" "$TRAIN" --data d --net @no/such.net
printf 'flatten linear(784,10)\n# a comment\nlog_softmax\n' >small.net
run_expect 0 "" "$TRAIN" --data d --net @small.net --summary
grep -q '7850 parameters' out.txt || fail "--net @small.net --summary: $(cat out.txt)"
# A file whose tensors do not fit --net names the tensor; a --net that differs from the spec saved
# in a checkpoint is refused.
run_expect 1 "tensor 'conv1.bias' that the model does not" "$EVAL" --data d --model zeros.safetensors --net @small.net
# A forward that cannot fit in memory at the batch the program runs (issue 24): refused at the
# layer before anything is allocated (145 MB an image here, 152 TB at 2^20).
BIG='conv2d(1,1,1,padding=3000) relu max_pool2d(1000) flatten linear(36,10) log_softmax'
run_expect 1 "char 1: conv2d(1,1,1,padding=3000) brings the forward at batch 1048576" "$TRAIN" --data d --net "$BIG" \
  --batch-size 1048576 --summary
run_expect 1 "char 1: conv2d(1,1,1,padding=3000) brings the forward at batch 1048576" "$EVAL" --data d \
  --model zeros.safetensors --net "$BIG" --batch-size 1048576
"$TRAIN" --data d --epochs 1 --batch-size 32 --threads 2 --net @small.net --save small.safetensors >out.txt 2>err.txt \
  || fail "training --net @small.net failed: $(cat err.txt)"
run_expect 1 "differs from the net spec saved in small.safetensors" "$EVAL" --data d --model small.safetensors --net relu
run_expect 0 "" "$EVAL" --data d --model small.safetensors
# A checkpoint of all-zero weights evaluates (every image predicted as class 0).
run_expect 0 "" "$EVAL" --data d --model zeros.safetensors --threads 2
grep -qE '^Test: average loss: 2\.3026, accuracy: [0-9]+/32 \([0-9]+%\)$' out.txt || fail "zero model: $(head -n1 out.txt)"

# getopt_long: --flag=VALUE, a stray argument, an unknown option; --version and --help on every
# program (the benchmarks' --help must print usage, not run or read it as a folder).
run_expect 0 "" "$TRAIN" --data=d --epochs=1 --summary
run_expect 2 "unexpected argument 'stray'" "$TRAIN" --data d stray
run_expect 2 "unknown option '--bogus'" "$EVAL" --bogus
run_expect 2 "--model needs a value" "$EVAL" --model
for p in mnist-train mnist-eval autograd-demo linreg bench-conv bench-elementwise bench-load bench-train; do
  [ -x "$BIN/$p" ] || continue
  run_expect 0 "" "$BIN/$p" --version
  grep -q "^$p (cgrad [0-9.]*)$" out.txt || fail "$p --version: $(head -n1 out.txt)"
  run_expect 0 "" timeout 10 "$BIN/$p" --help
  grep -qi '^usage: ' out.txt || fail "$p --help prints no usage line"
done
run_expect 2 "unknown option '--bogus'" "$BIN/bench-load" --bogus
# OMP_NUM_THREADS is --threads' default; --threads wins over it.
OMP_NUM_THREADS=1 run_expect 0 "" "$TRAIN" --data d --summary
grep -q '^cgrad [0-9.]*, 1 thread, ' out.txt || fail "OMP_NUM_THREADS=1: $(head -n1 out.txt)"
OMP_NUM_THREADS=1 run_expect 0 "" "$TRAIN" --data d --summary --threads 2
grep -q '^cgrad [0-9.]*, 2 threads, ' out.txt || fail "--threads 2 under OMP_NUM_THREADS=1: $(head -n1 out.txt)"
! grep -q 'OpenBLAS OpenBLAS' out.txt || fail "the banner says OpenBLAS twice"
# CG_PROFILE=1: mnist-train prints one table (training and evaluation apart, the optimizer and
# the loader as rows); a program that never prints it (autograd-demo) gets it on stderr at exit.
CG_PROFILE=1 run_expect 0 "" "$TRAIN" --data d --epochs 1 --batch-size 32 --threads 2
grep -qE '^train +optimizer_step +[0-9.]+ +2 ' out.txt || fail "CG_PROFILE: no 'train optimizer_step' row with 2 calls (64 images, batch 32)"
grep -qE '^eval +data_loading ' out.txt || fail "CG_PROFILE: no 'eval data_loading' row"
grep -q '^total .* wall time' out.txt || fail "CG_PROFILE: no total against wall time"
[ "$(grep -c '^cgrad profile' out.txt err.txt | awk -F: '{ s += $2 } END { print s }')" = 1 ] || fail "CG_PROFILE: want one table"
CG_PROFILE=1 "$BIN/autograd-demo" >/dev/null 2>prof.txt || fail "autograd-demo under CG_PROFILE"
grep -q '^cgrad profile' prof.txt || fail "CG_PROFILE: autograd-demo printed no table at exit"
# A text file given as a checkpoint is said to be one.
run_expect 1 "not a safetensors file: it starts with text" "$EVAL" --data d --model "$SRC/README.md"
# Every input path is a regular file: a FIFO (which would block the open or the read forever) or
# a device is refused at once, named (issue 24). timeout: a hang fails (124) instead of waiting.
mkfifo fifo
printf 'c0\nc1\nc2\nc3\nc4\nc5\nc6\nc7\nc8\nc9\n' >names.txt
run_expect 0 "" timeout 10 "$EVAL" --data d --model small.safetensors --classes names.txt
run_expect 1 "--classes fifo: not a regular file" timeout 10 "$EVAL" --data d --model small.safetensors --classes fifo
run_expect 1 "--classes /dev/zero: not a regular file" timeout 10 "$EVAL" --data d --model small.safetensors --classes /dev/zero
run_expect 1 "--classes d: is a directory" timeout 10 "$EVAL" --data d --model small.safetensors --classes d
run_expect 1 "--net @fifo: not a regular file" timeout 10 "$TRAIN" --data d --net @fifo --summary
run_expect 1 "--net @/dev/zero: not a regular file" timeout 10 "$TRAIN" --data d --net @/dev/zero --summary
run_expect 1 "fifo: not a regular file" timeout 10 "$EVAL" --data d --model fifo
run_expect 1 "/dev/zero: not a regular file" timeout 10 "$EVAL" --data d --model /dev/zero
run_expect 1 "fifo: not a regular file" timeout 10 "$TRAIN" --data d --epochs 1 --resume fifo
tl=$(ls d/t10k-labels*) ti=$(ls d/t10k-images*) tri=$(ls d/train-images*)
run_expect 1 "fifo: not a regular file" timeout 10 "$EVAL" --model small.safetensors --test-images fifo --test-labels "$tl"
run_expect 1 "/dev/zero: not a regular file" timeout 10 "$TRAIN" --epochs 1 --train-images "$tri" \
  --train-labels /dev/zero --test-images "$ti" --test-labels "$tl"
echo "OK: mnist cli errors"
