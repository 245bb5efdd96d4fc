#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mnist/plot.sh — scripts/plot-metrics turns a metrics CSV (mnist-train's format) into a
# PNG; exit 77 (skipped) without gnuplot. mnist_e2e also plots a real run's CSV.
source "$(dirname "$0")/common.sh"
command -v gnuplot >/dev/null || { echo "SKIP: gnuplot not installed"; exit 77; }
cat >m.csv <<'CSV'
kind,epoch,step,loss,accuracy,img_per_s,lr,seconds
step,1,100,1.204561,,1500.0,0.025,4.100
step,1,200,0.501234,,1510.0,0.025,8.200
epoch,1,200,0.310000,0.9100,1505.0,0.025,9.000
step,2,300,0.301234,,1520.0,0.025,12.200
step,2,400,0.251234,,1525.0,0.025,16.300
epoch,2,400,0.210000,0.9400,1522.0,0.025,17.000
CSV
out=$("$SRC/scripts/plot-metrics" m.csv out.png)
[ "$out" = out.png ] || fail "plot-metrics printed '$out'"
[ "$(head -c 8 out.png | od -An -tx1 | tr -d ' \n')" = "89504e470d0a1a0a" ] || fail "out.png is not a PNG"
[ "$(stat -c %s out.png)" -gt 5000 ] || fail "out.png is suspiciously small"
# the default output name, and a file that is not a metrics CSV
"$SRC/scripts/plot-metrics" m.csv >/dev/null && [ -s m.png ] || fail "no m.png by default"
echo "a,b" >bad.csv
st=0; "$SRC/scripts/plot-metrics" bad.csv x.png 2>err.txt || st=$?
[ "$st" -eq 1 ] && grep -q "header" err.txt || fail "a bad CSV: status $st, $(cat err.txt)"
# One epoch (one accuracy point, one step row): no gnuplot warning about an empty range.
printf 'kind,epoch,step,loss,accuracy,img_per_s,lr,seconds\nstep,1,100,0.5,,1500,0.025,4\nepoch,1,100,0.4,0.8800,1500,0.025,5\n' >one.csv
"$SRC/scripts/plot-metrics" one.csv one.png >/dev/null 2>one.err || fail "a 1-epoch plot failed: $(cat one.err)"
[ ! -s one.err ] || fail "a 1-epoch plot printed: $(cat one.err)"
# Hostile paths (issue 24): a FIFO or device as input is refused at once (timeout: a hang fails),
# a symbolic link, FIFO or directory at the output is refused and left alone; no temporary stays.
mkfifo fifo.csv
st=0; timeout 10 "$SRC/scripts/plot-metrics" fifo.csv x.png 2>err.txt || st=$?
[ "$st" -eq 1 ] && grep -q "fifo.csv: not a regular file" err.txt || fail "a FIFO input: status $st, $(cat err.txt)"
st=0; timeout 10 "$SRC/scripts/plot-metrics" /dev/zero x.png 2>err.txt || st=$?
[ "$st" -eq 1 ] && grep -q "/dev/zero: not a regular file" err.txt || fail "a device input: status $st, $(cat err.txt)"
echo precious >victim.txt
ln -s victim.txt link.png
st=0; "$SRC/scripts/plot-metrics" m.csv link.png 2>err.txt || st=$?
[ "$st" -eq 1 ] && grep -q "link.png: it is a symbolic link" err.txt || fail "a link output: status $st, $(cat err.txt)"
[ "$(cat victim.txt)" = precious ] && [ -L link.png ] || fail "plot-metrics wrote through link.png"
mkfifo fifo.png
st=0; timeout 10 "$SRC/scripts/plot-metrics" m.csv fifo.png 2>err.txt || st=$?
[ "$st" -eq 1 ] && grep -q "fifo.png: it exists and is not a regular file" err.txt || fail "a FIFO output: status $st, $(cat err.txt)"
[ -p fifo.png ] || fail "the FIFO was replaced"
"$SRC/scripts/plot-metrics" m.csv out.png >/dev/null || fail "replacing out.png"
[ "$(stat -c %a out.png)" = "$(touch probe; stat -c %a probe)" ] || fail "out.png's mode is not the umask's"
[ -z "$(ls -a | grep '\.tmp$')" ] || fail "a temporary was left: $(ls -a | grep tmp)"
echo "OK: mnist plot"
