# SPDX-License-Identifier: MIT
# tests/mnist/common.sh — sourced by the tests/mnist/*.sh ctest scripts.
# Arguments of every script: BIN_DIR SOURCE_DIR PYTHON [ST_COMPARE]; PYTHON is any python3 (the
# standard library suffices). Paths may be relative: they are made absolute before the cd below.
set -euo pipefail
BIN=$(realpath "$1") SRC=$(realpath "$2") PY=$3 CMP=${4:+$(realpath "$4")}
TRAIN=$BIN/mnist-train
EVAL=$BIN/mnist-eval
T=$(mktemp -d /tmp/cg_mnist_test.XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T"

fail() { echo "FAIL: $*" >&2; exit 1; }
# gen DIR [N_TRAIN [N_TEST [SEED]]]: the synthetic MNIST-format set
gen() { mkdir -p "$1"; "$PY" "$SRC/tests/mnist/gen_data.py" "$@"; }
# test_lines FILE: the "Test: ..." lines of a program's stdout
test_lines() { grep '^Test: ' "$1" || true; }
# run_expect STATUS NEEDLE CMD...: CMD exits with STATUS and writes one line to stderr containing NEEDLE
run_expect() {
  local want=$1 needle=$2; shift 2
  local got=0
  "$@" >out.txt 2>err.txt || got=$?
  [ "$got" -eq "$want" ] || { cat err.txt >&2; fail "'$*' exited $got, want $want"; }
  if [ -n "$needle" ]; then
    [ "$(wc -l <err.txt)" -eq 1 ] || { cat err.txt >&2; fail "'$*': stderr is not one line"; }
    grep -qF -- "$needle" err.txt || { cat err.txt >&2; fail "'$*': stderr does not mention '$needle'"; }
  fi
  echo "ok ($got): $* -> $(head -c 200 err.txt)"
}
