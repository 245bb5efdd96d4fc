#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mnist/nets.sh — every spec of the zoo (apps/nets/*.net, docs/models.md) through
# mnist-train --net @FILE: --summary gives the parameter count that docs/models.md's table
# states, one epoch on a small synthetic set ends with a finite test loss, and mnist-eval scores
# the checkpoint (spec read from it) exactly as the run's last test line.
source "$(dirname "$0")/common.sh"
gen d 64 32
n=0
for f in "$SRC"/apps/nets/*.net; do
  name=$(basename "$f")
  want=$(awk -F'|' -v f="\`$name\`" '$3 ~ f { gsub(/[ ,]/, "", $4); print $4 }' "$SRC/docs/models.md")
  [ -n "$want" ] || fail "$name: no row in docs/models.md"
  "$TRAIN" --net "@$f" --summary >sum.txt || fail "$name: --summary"
  got=$(awk '/ parameters \(/ { print $1 }' sum.txt)
  [ "$got" = "$want" ] || fail "$name: --summary says $got parameters, docs/models.md $want"
  "$TRAIN" --net "@$f" --data d --epochs 1 --batch-size 32 --test-batch-size 32 --threads 2 --save m.st >tr.txt ||
    fail "$name: training"
  line=$(test_lines tr.txt | tail -n1)
  loss=$(sed -n 's/^Test: average loss: \([^,]*\),.*/\1/p' <<<"$line")
  awk -v l="$loss" 'BEGIN { exit !(l + 0 == l && l > 0 && l < 100) }' || fail "$name: test line '$line'"
  "$EVAL" --model m.st --data d --batch-size 32 >ev.txt || fail "$name: mnist-eval"
  [ "$(test_lines ev.txt)" = "$line" ] || fail "$name: mnist-eval says '$(test_lines ev.txt)', training '$line'"
  echo "ok: $name ($got parameters): $line"
  n=$((n + 1))
done
[ "$n" -ge 6 ] || fail "only $n specs in apps/nets"
echo "OK: mnist nets ($n specs)"
