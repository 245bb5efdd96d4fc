#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/examples/run.sh NAME EXAMPLES_DIR SOURCE_DIR PYTHON — runs one examples/ program on small
# data in a temporary directory and checks what it prints.
#   inception  train + save, then a second process resumes it and predicts single images:
#              accuracy well above chance (0.25), the file carries the net's spec, the resume
#              continues at epoch 4 on the cosine schedule, and the four
#              predictions are printed (at least three of them right)
#   spec_idx   a spec net on IDX files from tests/mnist/gen_data.py: progress lines from on_step,
#              a test accuracy per epoch from on_epoch_end, above chance (10%) at the end
set -euo pipefail
name=$1 bin=$(realpath "$2") src=$(realpath "$3") py=$4
T=$(mktemp -d /tmp/cg_example_test.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"
fail() { echo "FAIL: $*" >&2; exit 1; }
case $name in
inception)
    "$bin/inception" train run.safetensors | tee train.txt
    [ -s run.safetensors ] || fail "no checkpoint written"
    grep -q '^saved run.safetensors' train.txt || fail "train did not say it saved"
    [ "$(grep -c '^epoch ' train.txt)" -eq 3 ] || fail "train should run epochs 1..3"
    "$bin/inception" resume run.safetensors | tee resume.txt
    grep -q "^resumed run.safetensors at epoch 3, lr 0.00150$" resume.txt || fail "resume did not restart at epoch 3 with the cosine lr (0.0015)"
    # the checkpoint carries the C-built net's spec, branches included
    grep -q '^net: stem=conv2d(1,8,3,padding=1) relu inception=parallel(conv2d(8,4,1) | ' resume.txt \
        || fail "the checkpoint has no spec of the net"
    grep -q '^epoch 4 ' resume.txt || fail "resume did not continue with epoch 4"
    grep -q '^epoch 6 ' resume.txt || fail "resume did not reach epoch 6"
    # cosine over 6 epochs from 3e-3: the resumed schedule goes on where it stopped
    grep -q '^epoch 5  lr 0.00075 ' resume.txt || fail "epoch 5's lr is not the cosine schedule's 0.00075"
    acc=$(sed -n 's/^epoch 6 .*test accuracy \([0-9.]*\)$/\1/p' resume.txt)
    awk -v a="$acc" 'BEGIN { exit !(a >= 0.6) }' || fail "test accuracy $acc after 6 epochs, want >= 0.6 (chance 0.25)"
    [ "$(grep -c '^image of class [0-3]: predicted [0-3]$' resume.txt)" -eq 4 ] || fail "four predictions not printed"
    right=$(awk '/^image of class/ { sub(":", "", $4); if ($4 == $6) n++ } END { print n + 0 }' resume.txt)
    [ "$right" -ge 3 ] || fail "only $right of 4 single images predicted right"
    ;;
spec_idx)
    mkdir data
    "$py" "$src/tests/mnist/gen_data.py" data 512 128
    d=data
    "$bin/spec_idx" $d/train-images-idx3-ubyte.gz $d/train-labels-idx1-ubyte \
        $d/t10k-images-idx3-ubyte $d/t10k-labels-idx1-ubyte.gz 2 | tee out.txt
    grep -q '^loss cross_entropy, 16 steps per epoch' out.txt || fail "loss/steps line"
    grep -q '^epoch 1 step 10  \[320/512\]' out.txt || fail "no progress line at step 10"
    grep -q '^epoch 2 step 32  \[512/512\]' out.txt || fail "no progress line at the last step"
    [ "$(grep -c 'done in .* accuracy' out.txt)" -eq 2 ] || fail "want one test accuracy line per epoch"
    acc=$(sed -n 's/^epoch 2 done .*accuracy \([0-9.]*\)%.*/\1/p' out.txt)
    awk -v a="$acc" 'BEGIN { exit !(a >= 30) }' || fail "test accuracy $acc% after 2 epochs, want >= 30% (chance 10%)"
    ;;
*) fail "unknown example $name" ;;
esac
echo "OK: example $name"
