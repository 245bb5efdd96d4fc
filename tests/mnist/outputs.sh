#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mnist/outputs.sh — output files and non-finite numbers (issue 12, items 5, 6 and 15):
#   --save and --metrics are checked before the first step (a missing or read-only directory, a
#   directory, a device, "" are refused at once: exit 1, or 2 for "", one line naming the path);
#   a --metrics write that fails (a file size limit) fails the run naming the file; --metrics follows
#   no link and opens no FIFO or device (issue 24); a NaN loss in training
#   and a NaN output in evaluation are errors naming the epoch/step or batch, not an accuracy.
source "$(dirname "$0")/common.sh"
gen d 64 32
common=(--data d --batch-size 32 --test-batch-size 32 --threads 2 --epochs 1)
# no_training: the refused run stopped before its first step.
no_training() { grep -q '^Train epoch' out.txt && fail "$1: it trained before failing"; return 0; }

run_expect 1 "--save no/such/ck.safetensors: directory no/such" "$TRAIN" "${common[@]}" --save no/such/ck.safetensors
no_training "--save into a missing directory"
mkdir adir
run_expect 1 "--save adir: is a directory" "$TRAIN" "${common[@]}" --save adir
no_training "--save onto a directory"
# A FIFO of our own, never a system device: a binary without the check would replace the node.
mkfifo fifo
run_expect 1 "--save fifo: exists and is not a regular file" "$TRAIN" "${common[@]}" --save fifo
[ -p fifo ] || fail "--save replaced the FIFO"
# A symbolic link (the library refuses to replace one) and a leftover temporary: refused up front.
ln -s d/none.safetensors alink
run_expect 1 "--save alink: is a symbolic link" "$TRAIN" "${common[@]}" --save alink
no_training "--save onto a symlink"
# The temporary's name is random (issue 24): a link planted at the old name PATH.tmp blocks nothing
# and is neither followed nor removed.
echo precious >planted-victim.txt
ln -s planted-victim.txt left.safetensors.tmp
run_expect 0 "" "$TRAIN" "${common[@]}" --save left.safetensors
[ "$(cat planted-victim.txt)" = precious ] && [ -L left.safetensors.tmp ] || fail "the link at left.safetensors.tmp was followed or removed"
[ -f left.safetensors ] && [ ! -L left.safetensors ] || fail "no checkpoint beside a planted link"
[ -z "$(ls | grep '^left\.safetensors\..*\.tmp$' | grep -v '^left.safetensors.tmp$')" ] || fail "a temporary was left"
run_expect 2 "--save: the path is empty" "$TRAIN" "${common[@]}" --save ''
run_expect 2 "--metrics: the path is empty" "$TRAIN" "${common[@]}" --metrics ''
if [ "$(id -u)" -ne 0 ]; then   # root may write anywhere
  mkdir ro && chmod 555 ro
  run_expect 1 "--save ro/ck.safetensors: directory ro is not writable" "$TRAIN" "${common[@]}" --save ro/ck.safetensors
  no_training "--save into a read-only directory"
fi
run_expect 1 "--metrics no/such/m.csv" "$TRAIN" "${common[@]}" --metrics no/such/m.csv
no_training "--metrics into a missing directory"
# --metrics appends, yet follows no link and opens no FIFO or device (issue 24): refused at once,
# named, before training; what was there is left as it was. timeout: a hang fails (124), not waits.
echo precious >victim.txt
ln -s victim.txt mlink
run_expect 1 "--metrics mlink: is a symbolic link" timeout 10 "$TRAIN" "${common[@]}" --metrics mlink
no_training "--metrics onto a symlink"
[ "$(cat victim.txt)" = precious ] || fail "--metrics appended through a symbolic link"
ln -s no/such/target dangling
run_expect 1 "--metrics dangling: is a symbolic link" timeout 10 "$TRAIN" "${common[@]}" --metrics dangling
mkfifo mfifo
run_expect 1 "--metrics mfifo: exists and is not a regular file" timeout 10 "$TRAIN" "${common[@]}" --metrics mfifo
no_training "--metrics onto a FIFO"
# ... a FIFO with a reader waiting (the open would succeed): the fstat refuses it.
(exec 3<>mfifo; sleep 15) & reader=$!
run_expect 1 "--metrics mfifo: exists and is not a regular file" timeout 10 "$TRAIN" "${common[@]}" --metrics mfifo
kill "$reader" 2>/dev/null; wait "$reader" 2>/dev/null || true
run_expect 1 "--metrics /dev/null: exists and is not a regular file" timeout 10 "$TRAIN" "${common[@]}" --metrics /dev/null
run_expect 1 "--metrics adir: is a directory" timeout 10 "$TRAIN" "${common[@]}" --metrics adir
# A write that fails (a file size limit of 0; SIGXFSZ ignored so that write returns EFBIG) is
# named. The limit is the program's alone: its stdout and stderr go through pipes to out.txt/err.txt.
# clang's OpenMP runtime (libomp, the sanitizer stage's) sizes a shared-memory file of its own at
# start-up and dies under that limit, before the program runs: there the case is left to the
# GCC builds (libgomp), which check the same code.
# (grep reads all of ldd's output: with -q it could stop early, ldd die of SIGPIPE, and pipefail
# turn the match into a failure.)
if ldd "$TRAIN" | grep 'libomp\.so' >/dev/null; then
  echo "skipped under libomp: --metrics write failure (the runtime itself cannot start under ulimit -f 0)"
else
  run_expect 1 "--metrics big.csv: write failed: File too large" bash -c 'trap "" XFSZ; set -o pipefail
    { (ulimit -f 0; exec "$@") 2>&1 1>&3 | cat >&2; } 3>&1 | cat' - "$TRAIN" "${common[@]}" --metrics big.csv
  no_training "--metrics that cannot be written"
fi
# A good run still writes both.
run_expect 0 "" "$TRAIN" "${common[@]}" --save ck.safetensors --metrics m.csv
[ -s ck.safetensors ] && [ "$(grep -c '^epoch,1,' m.csv)" = 1 ] || fail "no checkpoint or metrics row"

# NaN: one NaN in fc2.bias makes every logit NaN.
"$PY" "$SRC/tests/mnist/edit_st.py" ck.safetensors nan.safetensors nan:fc2.bias
run_expect 1 "non-finite output nan" "$EVAL" --data d --model nan.safetensors --threads 2
grep -q '^Test:' out.txt && fail "mnist-eval printed an accuracy for NaN weights"
run_expect 1 "epoch 2, step 1: the training loss is nan" "$TRAIN" "${common[@]}" --epochs 2 --resume nan.safetensors \
  --save nan.safetensors
cmp -s nan.safetensors <("$PY" "$SRC/tests/mnist/edit_st.py" ck.safetensors /dev/stdout nan:fc2.bias) \
  || fail "a run that stopped on a NaN loss rewrote --save"
# mnist-eval on a net with 4,000 outputs and 64 test images (issue 24: a 4,000 x 4,000 matrix took
# 133 MB of RSS and 96 MB of stdout): the summary instead of the matrix, in kilobytes of output and
# memory linear in the classes (the whole program stays under 64 MB of RSS; it needs about 10).
mkdir big && gen big 64 64
"$TRAIN" --data big --net 'max_pool2d(4) flatten linear(49,4000) log_softmax' --epochs 1 --batch-size 32 \
  --threads 2 --save k4000.st >/dev/null || fail "training the 4000-class net"
if [ -x /usr/bin/time ]; then rss=(/usr/bin/time -f 'maxrss %M' -o rss.txt); else rss=(); fi
run_expect 0 "" "${rss[@]}" "$EVAL" --data big --model k4000.st --threads 2
[ "$(wc -c <out.txt)" -lt 8192 ] || fail "mnist-eval printed $(wc -c <out.txt) bytes for 4000 classes"
grep -q '^Per-class accuracy (the 10 classes with test examples; 3990 of 4000 have none):$' out.txt &&
  grep -q '^Most confused pairs (true -> predicted; 10 of [0-9]* distinct pairs):$' out.txt &&
  grep -q '^Confusion matrix: not printed for 4000 classes (more than 30)' out.txt || { cat out.txt; fail "the summary"; }
if [ -s rss.txt ]; then
  kb=$(sed -n 's/^maxrss //p' rss.txt)
  [ "$kb" -lt 65536 ] || fail "mnist-eval of 4000 classes took $kb KB of RSS"
  echo "ok: mnist-eval of 4000 classes: $kb KB RSS, $(wc -c <out.txt) bytes of output"
fi
echo "OK: mnist outputs"
