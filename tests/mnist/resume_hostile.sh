#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mnist/resume_hostile.sh — issue 24's recipes against the run state, end to end.
# A checkpoint of a run with every option the state keeps (clipping, warmup, weight decay) whose
# value was made malformed, non-finite, negative, huge or removed is refused with exit 1 and one
# line naming the key, the value and the file; nothing trains and --save is left as it was. The
# same for a cgrad-train-v2 file without its `schedule`. A layer named like a run-state namespace
# is refused at --net with its position. On resume, --clip-grad-norm, --weight-decay and
# --momentum that change the checkpoint's values are refused naming both values (the policy of
# every recipe flag but --epochs, --lr, --batch-size, --test-batch-size and --normalize), and
# --momentum with adam/adamw is an error, resumed or not.
source "$(dirname "$0")/common.sh"
ED=("$PY" "$SRC/tests/mnist/edit_st.py")
gen d 64 32
common=(--data d --batch-size 32 --test-batch-size 32 --threads 2 --no-dropout)
# a small net keeps each of the ~60 runs short (the file is read whole on every resume)
recipe=(--epochs 1 --schedule cosine --warmup 1 --clip-grad-norm 1 --weight-decay 0.01
        --net 'flatten linear(784,10) log_softmax')
"$TRAIN" "${common[@]}" "${recipe[@]}" --save ck.st >/dev/null || fail "training the checkpoint"

# refused NEEDLE EDIT...: the edited checkpoint is refused naming NEEDLE and the file; --save untouched.
refused() {
  local needle=$1; shift
  "${ED[@]}" ck.st bad.st "$@"
  cp bad.st bad_before.st
  run_expect 1 "$needle" "$TRAIN" "${common[@]}" --epochs 2 --resume bad.st --save bad.st
  grep -qF "bad.st" err.txt || fail "the refusal does not name the file ($*): $(cat err.txt)"
  cmp -s bad.st bad_before.st || fail "a refused resume rewrote --save ($*)"
  grep -q '^Train epoch' out.txt && fail "a refused resume trained ($*)"
  return 0
}

# Control: an unedited rewrite resumes.
"${ED[@]}" ck.st same.st
run_expect 0 "" "$TRAIN" "${common[@]}" --epochs 2 --resume same.st

# The issue's recipes: clip_grad_norm "abc"/NaN/negative, warmup "abc"/negative/huge, weight_decay
# NaN/"abc"; each names its key and value.
for v in abc nan -0.5 inf ''; do
  refused "'train.clip_grad_norm' = '$v'" "meta:train.clip_grad_norm=$v"
done
for v in abc -1 99999999999 2; do
  refused "'run.warmup' = '$v'" "meta:run.warmup=$v"
done
# a huge warmup written in both places agrees with itself, and is still refused
refused "'run.warmup' = '99999999999'" meta:run.warmup=99999999999 meta:sched.warmup_epochs=99999999999
refused "'sched.warmup_epochs' = '-1'" meta:sched.warmup_epochs=-1
for v in nan abc -0.5 1e400; do
  refused "'run.weight_decay' = '$v'" "meta:run.weight_decay=$v"
done
refused "'sched.warmup_start' = 'nan'" meta:sched.warmup_start=nan
refused "'sched.num_bad_epochs' = '99'" meta:sched.num_bad_epochs=99
refused "'sched.base_lr' = '-0.1'" meta:sched.base_lr=-0.1
# A key removed is refused, naming it (edit_st.py cannot remove metadata: an empty python edit does).
drop_meta() {
  "$PY" - "$1" "$2" "$3" <<'PY'
import json, struct, sys
src, dst, key = sys.argv[1:]
b = open(src, "rb").read(); n = struct.unpack("<Q", b[:8])[0]; h = json.loads(b[8:8 + n])
del h["__metadata__"][key]
out = json.dumps(h, separators=(",", ":")).encode(); out += b" " * (-len(out) % 8)
open(dst, "wb").write(struct.pack("<Q", len(out)) + out + b[8 + n:])
PY
}
for k in train.clip_grad_norm run.warmup run.weight_decay run.lr run.optimizer run.schedule loss data.normalize; do
  drop_meta ck.st bad.st "$k"
  cp bad.st bad_before.st
  run_expect 1 "has no '$k'" "$TRAIN" "${common[@]}" --epochs 2 --resume bad.st --save bad.st
  grep -qF "bad.st" err.txt || fail "the refusal does not name the file (no $k)"
  cmp -s bad.st bad_before.st || fail "a refused resume rewrote --save (no $k)"
done
# The optimizer's state: a NaN in a momentum buffer.
refused "optim.momentum_buffer.0' holds nan" nan:optim.momentum_buffer.0

# A cgrad-train-v2 file (tests/fixtures/train-v2.safetensors) without `schedule`: its mnist-train
# wrote the recipe's keys together since it had them, so one missing is damage, not the default.
gen d2 64 32
v2=(--data d2 --batch-size 32 --test-batch-size 32 --threads 2 --seed 5
    --net 'conv2d(1,4,3) relu max_pool2d(2) dropout2d(0.25) flatten linear(676,10) log_softmax')
for k in schedule optimizer warmup weight_decay clip_grad_norm no_decay_bias_norm; do
  drop_meta "$SRC/tests/fixtures/train-v2.safetensors" old.st "$k"
  run_expect 1 "has no '$k'" "$TRAIN" "${v2[@]}" --epochs 2 --resume old.st
done
cp "$SRC/tests/fixtures/train-v2.safetensors" old.st
run_expect 0 "" "$TRAIN" "${v2[@]}" --epochs 2 --resume old.st   # control

# Namespaces: a layer named like the run's state is refused at once, with its position.
for name in optim sched rng train data loss run net; do
  run_expect 1 "char 9: layer name '$name' is reserved" "$TRAIN" "${common[@]}" --epochs 1 \
    --net "flatten $name=linear(784,10) log_softmax" --save ns.st
  [ -e ns.st ] && fail "a net with a layer '$name' saved a checkpoint"
done
"$TRAIN" "${common[@]}" --epochs 1 --net 'flatten fc=linear(784,10) log_softmax' --save ns.st >/dev/null \
  || fail "control: a net with an ordinary layer name"

# Recipe flags on resume: refused, naming both values; the same values resume.
run_expect 1 "clip_grad_norm 5 differs from the checkpoint's 1" "$TRAIN" "${common[@]}" --epochs 2 --resume ck.st --clip-grad-norm 5
run_expect 1 "weight_decay 0.5 differs from the checkpoint's 0.01" "$TRAIN" "${common[@]}" --epochs 2 --resume ck.st --weight-decay 0.5
run_expect 1 "momentum 0.5 differs from the checkpoint's 0.9" "$TRAIN" "${common[@]}" --epochs 2 --resume ck.st --momentum 0.5
run_expect 0 "" "$TRAIN" "${common[@]}" --epochs 2 --resume ck.st --clip-grad-norm 1 --weight-decay 0.01
# --momentum with adam/adamw: an error, fresh (a usage error) or resumed (the checkpoint's optimizer named)
run_expect 2 "--momentum is SGD's; --optimizer adam takes none" "$TRAIN" "${common[@]}" --optimizer adam --momentum 0.5
run_expect 2 "--momentum is SGD's; --optimizer adamw takes none" "$TRAIN" "${common[@]}" --optimizer adamw --momentum 0.9
"$TRAIN" "${common[@]}" --epochs 1 --optimizer adamw --save aw.st >/dev/null || fail "training adamw"
run_expect 1 "momentum is SGD's, and the checkpoint's optimizer is adamw" "$TRAIN" "${common[@]}" --epochs 2 --resume aw.st --momentum 0.5
run_expect 0 "" "$TRAIN" "${common[@]}" --epochs 2 --resume aw.st
echo "OK: mnist resume hostile"
