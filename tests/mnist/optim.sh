#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mnist/optim.sh — mnist-train's --optimizer, --weight-decay, --no-decay-bias-norm,
# --schedule, --warmup and --clip-grad-norm: the lr each epoch ran at (the metrics CSV) follows PyTorch's formulas; a
# run of adamw + onecycle + clipping resumed after epoch 1 equals the uninterrupted run byte for
# byte; a checkpoint keeps its optimizer and schedule; bad values are refused, naming the flag.
source "$(dirname "$0")/common.sh"
gen d 128 64
common=(--data d --batch-size 32 --test-batch-size 64 --threads 2 --seed 5)
# epoch_lrs FILE: the lr column of the epoch rows, one line
epoch_lrs() { awk -F, '$1 == "epoch" { printf "%s%s", sep, $7; sep = " " } END { print "" }' "$1"; }
want_lrs() { [ "$(epoch_lrs "$1")" = "$2" ] || { cat "$1"; fail "$3: epoch lrs '$(epoch_lrs "$1")', want '$2'"; }; }

"$TRAIN" "${common[@]}" --epochs 3 --schedule multistep:1 --gamma 0.5 --metrics ms.csv >/dev/null || fail "multistep"
want_lrs ms.csv "0.025 0.0125 0.0125" "multistep:1 --gamma 0.5"
"$TRAIN" "${common[@]}" --epochs 4 --schedule cosine --warmup 2 --metrics cw.csv >/dev/null || fail "cosine + warmup"
# warmup from lr/3 over 2 epochs, then cosine over the 2 left (T_max 2)
want_lrs cw.csv "0.00833333 0.0166667 0.025 0.0125" "cosine --warmup 2"
"$TRAIN" "${common[@]}" --epochs 3 --schedule exponential --gamma 0.8 --metrics ex.csv >/dev/null || fail "exponential"
want_lrs ex.csv "0.025 0.02 0.016" "exponential --gamma 0.8"
"$TRAIN" "${common[@]}" --epochs 2 --schedule plateau:0 --gamma 0.5 --metrics pl.csv >/dev/null || fail "plateau"
[ "$(grep -c '^epoch,' pl.csv)" = 2 ] || fail "plateau: want 2 epoch rows"

# adamw + multistep after a warmup + clipping: resumed after epoch 1 = uninterrupted.
run=(--optimizer adamw --weight-decay 0.05 --lr 0.003 --schedule multistep:1 --warmup 1 --clip-grad-norm 0.5)
"$TRAIN" "${common[@]}" "${run[@]}" --epochs 3 --save a.st >a.txt || fail "adamw run"
"$TRAIN" "${common[@]}" "${run[@]}" --epochs 1 --save b.st >b1.txt || fail "adamw run, epoch 1"
"$TRAIN" "${common[@]}" --epochs 3 --resume b.st --save b.st >b2.txt 2>b2.err || { cat b2.err; fail "adamw resumed"; }
[ "$(test_lines a.txt | sed -n 3p)" = "$(test_lines b2.txt | tail -n1)" ] || fail "resumed adamw run: epoch 3 test lines differ"
"$CMP" a.st b.st || fail "resumed adamw run: checkpoints differ"
# onecycle steps per optimizer step: up from lr/25 to lr and down to lr/25e4 over the run (8 steps);
# resumed at the same --epochs it is exact; a one-cycle plan cannot be made longer.
oc=(--optimizer adam --lr 0.003 --schedule onecycle --metrics-every 1)
"$TRAIN" "${common[@]}" "${oc[@]}" --epochs 2 --metrics oc.csv --save oc.st >/dev/null || fail "onecycle run"
awk -F, '$1 == "step" { lr[++n] = $7 } END { exit !(n == 8 && lr[2] > lr[1] && lr[7] < 0.00001) }' oc.csv ||
  { cat oc.csv; fail "onecycle's lr does not rise and fall"; }
run_expect 1 "onecycle was planned for 8 steps, and this run has 12" "$TRAIN" "${common[@]}" --epochs 3 --resume oc.st
# The checkpoint keeps its optimizer and schedule: another one is refused.
run_expect 1 "optimizer sgd differs from the checkpoint's adamw" "$TRAIN" "${common[@]}" --epochs 4 --resume b.st --optimizer sgd
run_expect 1 "schedule step differs from the checkpoint's multistep:1" "$TRAIN" "${common[@]}" --epochs 4 --resume b.st --schedule step
run_expect 1 "the lr cannot change on resume with the onecycle schedule" "$TRAIN" "${common[@]}" --epochs 2 --resume oc.st --lr 0.1

# --no-decay-bias-norm: two groups, so another run than decaying everything; resumed without
# the flag it keeps the checkpoint's groups and is exact; a checkpoint without it refuses it.
nd=(--weight-decay 0.5 --momentum 0.9)
"$TRAIN" "${common[@]}" "${nd[@]}" --epochs 2 --save all.st >/dev/null || fail "weight decay on all"
"$TRAIN" "${common[@]}" "${nd[@]}" --no-decay-bias-norm --epochs 2 --save nd.st >/dev/null || fail "--no-decay-bias-norm"
rc=0; "$CMP" all.st nd.st >/dev/null 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "--no-decay-bias-norm: st_compare exit $rc, want 1 (the runs differ)"
"$TRAIN" "${common[@]}" "${nd[@]}" --no-decay-bias-norm --epochs 1 --save nd1.st >/dev/null || fail "--no-decay-bias-norm, epoch 1"
"$TRAIN" "${common[@]}" --epochs 2 --resume nd1.st --save nd1.st >/dev/null 2>&1 || fail "--no-decay-bias-norm resumed"
"$CMP" nd.st nd1.st || fail "resumed --no-decay-bias-norm run: checkpoints differ"
run_expect 1 "no_decay_bias_norm differs from the checkpoint, which decays every parameter" \
  "$TRAIN" "${common[@]}" --epochs 3 --resume all.st --no-decay-bias-norm

run_expect 2 "--optimizer: 'rmsprop' is not sgd, adam or adamw" "$TRAIN" --optimizer rmsprop
run_expect 2 "--schedule: 'linear' is not step, cosine" "$TRAIN" --schedule linear
run_expect 2 "exponential needs a gamma" "$TRAIN" --schedule exponential
run_expect 2 "multistep:E1,E2,... (ascending" "$TRAIN" --schedule multistep:3,2
run_expect 2 "warmup does not go with onecycle" "$TRAIN" --schedule onecycle --warmup 2
run_expect 2 "--clip-grad-norm: 0 is outside" "$TRAIN" --clip-grad-norm 0
# cosine keeps the period of the run that began it: 1 epoch of cosine (T_max 1) resumed to 3 would
# run past its end (lr 0, then back up): refused, naming the way out; --restart-schedule replans it
# over 3 epochs (lr 0.025, then the new curve's 0.01875 and 0.00625).
"$TRAIN" "${common[@]}" --epochs 1 --schedule cosine --save c.st --metrics c.csv >/dev/null || fail "cosine run"
run_expect 1 "give --restart-schedule" "$TRAIN" "${common[@]}" --epochs 3 --resume c.st
"$TRAIN" "${common[@]}" --epochs 3 --resume c.st --restart-schedule --metrics c.csv >/dev/null 2>&1 ||
  fail "cosine resumed with --restart-schedule"
want_lrs c.csv "0.025 0.01875 0.00625" "cosine replanned by --restart-schedule"
# The resumed run appended its rows under the first run's header, not under a second one.
[ "$(grep -c '^kind,' c.csv)" -eq 1 ] || fail "--metrics on resume wrote its header again: $(grep -n '^kind,' c.csv)"
echo "OK: mnist optim"
