#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/mpi/rank_dies.sh MPIRUN DIST_EQUIV — rank 1 of 2 exits after 3 steps; rank 0 would wait
# in MPI_Allreduce forever unless the job is stopped. Must end within 60 s, non-zero, with a
# message naming the failure.
set -u
mpirun=$1 exe=$2
out=$(timeout 60 "$mpirun" --allow-run-as-root --oversubscribe -np 2 "$exe" --exit-rank1-after 3 2>&1)
rc=$?
echo "$out"
echo "rc=$rc"
if [ "$rc" -eq 124 ]; then echo "FAIL: the job hung (killed by timeout)"; exit 1; fi
if [ "$rc" -eq 0 ]; then echo "FAIL: the job succeeded although a rank died"; exit 1; fi
if ! grep -qiE "exited|non-zero|failed|abort" <<<"$out"; then echo "FAIL: no message about the dead rank"; exit 1; fi
echo "OK: the job ended (exit $rc) with a message"
