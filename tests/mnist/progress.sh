#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mnist/progress.sh — the progress line on a terminal (issue 25 item 4): run mnist-train in
# a pseudo-terminal of 80, 60 and 40 columns (script(1), from util-linux, is on every Debian) and
# check every redraw: one line that never reaches the last column, and always the epoch and the
# loss; at 80 columns the percentage and img/s too. The fitting itself is apps/common/cli.c's
# progress_format.
source "$(dirname "$0")/common.sh"
command -v script >/dev/null || { echo "skipped: no script(1)"; exit 0; }
gen d 640 64
for cols in 80 60 40; do
  script -qec "stty cols $cols rows 30; '$TRAIN' --data d --batch-size 32 --test-batch-size 64 --threads 2 --epochs 1" \
    "tty.$cols" >/dev/null </dev/null || fail "mnist-train in a $cols-column terminal failed"
  # Each redraw starts with \r and ends with ESC[K (clear to the end of the line).
  tr '\r' '\n' <"tty.$cols" | sed 's/\x1b\[K//g' | grep '^Train epoch' >"lines.$cols" || true
  [ "$(wc -l <"lines.$cols")" -ge 10 ] || fail "$cols columns: too few progress redraws: $(cat "tty.$cols")"
  awk -v c="$cols" 'length($0) >= c { print "too long (" length($0) "): " $0; bad = 1 } END { exit bad }' \
    "lines.$cols" || fail "$cols columns: a progress line reaches the last column"
  grep -v 'loss [0-9]*\.[0-9]\{4\}' "lines.$cols" && fail "$cols columns: a progress line without the loss"
  if [ "$cols" = 80 ]; then
    grep -v '[0-9]%.*loss.*img/s' "lines.$cols" && fail "80 columns: a line without the percentage or img/s"
  fi
  echo "ok: $cols columns: $(tail -1 "lines.$cols")"
done
