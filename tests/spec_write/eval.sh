#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/spec_write/eval.sh — a net built in C (c_net_save) saved with cg_checkpoint_save: mnist-eval
# loads it through the spec the save wrote and gets the program's own accuracy; a net with a module
# type without a spec is saved with its weights only, with the note, and mnist-eval cannot rebuild it.
# Arguments: BIN_DIR SOURCE_DIR PYTHON C_NET_SAVE
source "$(dirname "$0")/../mnist/common.sh"
SAVE=$(realpath "$4")
gen d 256 96

"$SAVE" d ck.safetensors >save.txt 2>save.err || { cat save.txt save.err; fail "c_net_save exited $?"; }
[ ! -s save.err ] || { cat save.err; fail "c_net_save wrote a note: the C-built net has a spec"; }
want=$(sed -nE 's/^correct ([0-9]+\/[0-9]+)$/\1/p' save.txt)
[ -n "$want" ] || fail "c_net_save printed no count"
"$EVAL" --model ck.safetensors --data d --normalize none --threads 2 >eval.txt 2>eval.err ||
  { cat eval.txt eval.err; fail "mnist-eval exited $? on the C-built net's checkpoint"; }
cat eval.txt
grep -q "the checkpoint's net spec" eval.txt || fail "mnist-eval did not use the checkpoint's spec"
grep -qE "^Test: average loss: [0-9.]+, accuracy: $want " eval.txt || fail "mnist-eval's accuracy is not c_net_save's $want"

# PyTorch's twin (python/cgrad/twin.py) builds the saved spec with the file's state-dict names and shapes.
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  /usr/bin/python3 - "$SRC/python" ck.safetensors <<'PY' || fail "cgrad.twin's net differs from the file"
import json, struct, sys
sys.path.insert(0, sys.argv[1])
import cgrad.twin as cgnet
with open(sys.argv[2], "rb") as f:
    n = struct.unpack("<Q", f.read(8))[0]
    head = json.loads(f.read(n))
spec = head.pop("__metadata__")["net"]
sd = cgnet.build(spec).state_dict()
got = {k: list(v.shape) for k, v in sd.items()}
want = {k: v["shape"] for k, v in head.items()}
assert got == want, (got, want)
print("cgrad.twin builds", spec)
PY
fi

"$SAVE" d own.safetensors --own-type >save2.txt 2>save2.err || { cat save2.txt save2.err; fail "c_net_save --own-type exited $?"; }
grep -q "saved the weights only" save2.err || { cat save2.err; fail "no note that the weights were saved without a spec"; }
grep -q "layer 2 (MyReLU) has no spec" save2.err || { cat save2.err; fail "the note does not name the layer"; }
run_expect 1 "" "$EVAL" --model own.safetensors --data d --normalize none --threads 2
echo "ok"
