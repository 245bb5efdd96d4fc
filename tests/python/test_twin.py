#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""The spec language's Python parser (cgrad.spec) and its PyTorch twin (cgrad.twin): names, shapes,
parse errors (1-based "char N", as lib/nn/spec.c says them), residual and parallel maths, the
spec writer (module_spec, write) giving back the same nets, and the seed spec equal to
apps/nets/seed.net. Exit 0 pass, 1 fail, 77 skipped (no torch).
"""
import os
import re
import sys
from collections import OrderedDict

from common import SRC, skip  # noqa: E402

try:
    import torch
    import torch.nn as nn
except Exception as e:  # noqa: BLE001
    skip(f"cannot import torch: {e}")

from cgrad.spec import SEED_SPEC, parse, write  # noqa: E402
from cgrad.twin import Parallel, Residual, build, module_spec  # noqa: E402

SEED = ("conv1=conv2d(1,32,3) relu conv2=conv2d(32,64,3) max_pool2d(2) dropout1=dropout2d(0.25) "
        "flatten fc1=linear(9216,128) relu dropout2=dropout2d(0.5) fc2=linear(128,10) log_softmax")
RESNET = ("conv2d(1,32,3,padding=1) batch_norm2d(32) relu residual(conv2d(32,32,3,padding=1) "
          "batch_norm2d(32) relu conv2d(32,32,3,padding=1) batch_norm2d(32)) relu "
          "conv2d(32,64,3,stride=2,padding=1) batch_norm2d(64) relu residual(conv2d(64,64,3,padding=1) "
          "batch_norm2d(64) relu conv2d(64,64,3,padding=1) batch_norm2d(64)) relu "
          "adaptive_avg_pool2d(1) flatten linear(64,10) log_softmax")


def refused(spec):
    """build(spec) must raise ValueError naming a 1-based character position."""
    try:
        build(spec)
    except ValueError as e:
        assert re.search(r"at char \d+:", str(e)), e
    else:
        raise AssertionError(f"no error for {spec!r}")


def _self_test():
    x = torch.zeros(2, 1, 28, 28)

    def seed_net():
        m = build(SEED)
        assert list(m.state_dict()) == [f"{n}.{p}" for n in ("conv1", "conv2", "fc1", "fc2")
                                        for p in ("weight", "bias")]
        assert m.training and m(x).shape == (2, 10)
        kinds = [nn.Conv2d, nn.ReLU, nn.Conv2d, nn.MaxPool2d, nn.Dropout2d, nn.Flatten, nn.Linear,
                 nn.ReLU, nn.Dropout2d, nn.Linear, nn.LogSoftmax]
        assert [type(c) for c in m] == kinds
        assert m[3].kernel_size == 2 and m[3].stride == 2 and m.dropout1.p == 0.25 and m[8].p == 0.5

    def resnet():
        m = build(RESNET)
        keys = m.state_dict()
        for k in ("1.weight", "1.running_mean", "1.num_batches_tracked", "3.0.weight", "3.1.running_var"):
            assert k in keys, k
        assert isinstance(m[3], Residual) and m(x).shape == (2, 10)

    def comments():
        multi = "# the seed net\nconv1=conv2d( 1 , 32, 3 )  # first conv\n\trelu\n" + \
                SEED[SEED.index("conv2="):].replace(" ", "\n  # layer\n") + "\n# end"
        assert list(build(multi).state_dict()) == list(build(SEED).state_dict())

    def errors():
        bad = ["conv3d(1,2,3)", "conv2d(1,2)", "linear(1,2,bais=true)", "relu(1)", "dropout(0.5,0.1)",
               "conv2d(1.5,2,3)", "linear(1,2,bias=1)", "dropout(true)", "conv2d(1,2,3", "relu)",
               "residual(relu", "linear(1,2,in=3)", "a=relu a=relu", "linear(in=1,2)", "relu()relu", "linear(1,2,)",
               "adaptive_avg_pool2d()", "adaptive_max_pool2d(2,3)", "conv2d(4,4,3,groups=3)", "", "linear(1,2,bias=x)",
               "conv_transpose2d(1,2,3,output_padding=1)", "conv_transpose2d(4,3,3,groups=2)"]
        for spec in bad:
            refused(spec)

    def other_ops():
        m = build("conv2d(1,4,3) sigmoid c=conv2d(4,4,3,groups=2,bias=false,dilation=2) tanh "
                  "avg_pool2d(2,stride=1,padding=1) leaky_relu(0.2) max_pool2d(2, stride=2, padding=0) "
                  "flatten dropout(0.5) linear(484,16,bias=true) relu() "
                  "r=residual(linear(16,16) residual(relu) tanh) linear(16,10) log_softmax")
        assert m(x).shape == (2, 10)
        assert m.c.weight.shape == (4, 2, 3, 3) and m.c.bias is None and m.c.dilation == (2, 2)
        assert m[4].stride == 1 and m[4].padding == 1 and m[5].negative_slope == 0.2 and m[8].p == 0.5
        assert "r.0.weight" in m.state_dict() and isinstance(m.r[1], Residual)
        bn = build("batch_norm2d(8, eps=1e-3, momentum=.5)")[0]
        assert bn.eps == 1e-3 and bn.momentum == 0.5

    def conv_transpose():
        m = build("conv2d(1,4,3,stride=2,padding=1) up=conv_transpose2d(4,6,3,2,1,1,2) relu "
                  "conv_transpose2d(6,2,2,bias=false,dilation=2)")
        assert m(x).shape == (2, 2, 30, 30)
        assert m.up.weight.shape == (4, 3, 3, 3) and m.up.output_padding == (1, 1) and m.up.groups == 2
        assert m[3].bias is None and m[3].dilation == (2, 2) and list(m.state_dict())[-1] == "3.weight"

    def residual_math():
        m = build("residual(lin=linear(3,3))").eval()
        v = torch.randn(5, 3)
        assert torch.allclose(m(v), v + m[0].lin(v))
        assert list(m.state_dict()) == ["0.lin.weight", "0.lin.bias"]

    def parallel():
        m = build("conv2d(1,4,3,padding=1) relu p=parallel(conv2d(4,2,1) | conv2d(4,3,3,padding=1) relu | "
                  "max_pool2d(3,stride=1,padding=1) conv2d(4,1,1)) parallel(identity|conv2d(6,2,3,padding=1)) "
                  "flatten linear(6272,10)")
        assert isinstance(m.p, Parallel) and len(m.p) == 3 and isinstance(m.p[1], nn.Sequential)
        assert isinstance(m[3][0][0], nn.Identity)
        keys = list(m.state_dict())
        for k in ("p.0.0.weight", "p.1.0.weight", "p.2.1.bias", "3.1.0.weight", "5.weight"):
            assert k in keys, k
        assert m(x).shape == (2, 10)
        v = torch.randn(2, 6, 5, 5)
        skip = m[3].eval()
        assert torch.equal(skip(v), torch.cat([v, skip[1](v)], 1))
        deep = "parallel(residual(" * 4 + "relu" + "))" * 4
        assert build(deep)(v).shape == v.shape
        for bad in ("parallel(residual(" * 4 + "parallel(relu)" + "))" * 4, "relu | relu", "parallel(relu | )",
                    "parallel()", "residual(relu | relu)", "parallel relu", "parallel(relu | relu"):
            refused(bad)

    passed = failed = 0
    for check in (seed_net, resnet, comments, errors, other_ops, conv_transpose, residual_math, parallel):
        try:
            check()
            passed += 1
        except Exception as e:  # noqa: BLE001 - report every failing check
            failed += 1
            print(f"FAIL {check.__name__}: {type(e).__name__}: {e}")
    print(f"cgnet self-test: {passed} passed, {failed} failed")
    return 1 if failed else 0




def _writer_checks():
    nets = {"seed": SEED, "resnet": RESNET}
    ndir = os.path.join(SRC, "apps", "nets")
    for f in sorted(os.listdir(ndir)):
        with open(os.path.join(ndir, f)) as fh:
            nets[f] = fh.read()
    nets["zoo"] = ("conv2d(1,6,3) gelu conv2d(6,6,3) gelu(approximate='tanh') silu conv2d(6,6,3,padding=1) hardswish "
                   "softplus(beta=2, threshold=3) max_pool2d(2) relu6 hardtanh(-0.5, 0.7) group_norm(2,6,affine=false) "
                   "up=conv_transpose2d(6,4,3,stride=2,output_padding=1,groups=2) upsample(2) "
                   "p=parallel(identity | avg_pool2d(3,stride=1,padding=1) adaptive_max_pool2d(2) | "
                   "conv2d(4,2,1,bias=false) batch_norm2d(2,eps=0.001,momentum=0.5)) "
                   "adaptive_avg_pool2d(1) flatten dropout(0.3) linear(10,8) batch_norm1d(8) leaky_relu(0.2) "
                   "layer_norm(8) residual(linear(8,8) tanh) linear(8,4,bias=false) log_softmax")
    failed = 0
    for name, spec in nets.items():
        try:
            m = build(spec)
            text = module_spec(m)
            m2 = build(text)
            assert [(k, tuple(v.shape)) for k, v in m.state_dict().items()] == \
                   [(k, tuple(v.shape)) for k, v in m2.state_dict().items()], name
            assert str(m) == str(m2), (name, text)
            assert module_spec(m2) == text, name
            assert write(parse(text)) == text, name
        except Exception as e:  # noqa: BLE001
            failed += 1
            print(f"FAIL writer {name}: {type(e).__name__}: {e}")
    with open(os.path.join(ndir, "seed.net")) as fh:
        if SEED_SPEC != fh.read().strip() or SEED_SPEC != SEED:
            failed += 1
            print("FAIL cgrad.spec.SEED_SPEC differs from apps/nets/seed.net")
    for bad, want in ((nn.Sequential(nn.Conv2d(1, 2, (3, 1))), "layer 0 (kernel)"),
                      (nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU())), "layer 1: an nn.Sequential inside"),
                      (nn.Sequential(nn.Linear(2, 2), nn.Softmax(1)), "layer 1 (torch.nn.modules.activation.Softmax)"),
                      (nn.Linear(2, 2), "not an nn.Sequential"),
                      # a run's checkpoint keeps its state under these names (lib/nn/spec.c refuses them too)
                      (nn.Sequential(OrderedDict(flat=nn.Flatten(), net=nn.Linear(4, 3))),
                       "layer net: layer name 'net' is reserved"),
                      (nn.Sequential(OrderedDict(optim=nn.Linear(4, 3))), "layer name 'optim' is reserved")):
        try:
            module_spec(bad)
        except ValueError as e:
            if want not in str(e):
                failed += 1
                print(f"FAIL module_spec message {e!r} lacks {want!r}")
        else:
            failed += 1
            print(f"FAIL module_spec accepted {bad}")
    # reserved names: refused at the top level only (nested ones live under the container's name)
    ok = nn.Sequential(OrderedDict(flat=nn.Flatten(), r=Residual(OrderedDict(net=nn.Linear(4, 4)))))
    if module_spec(ok) != "flat=flatten r=residual(net=linear(4,4))":
        failed += 1
        print(f"FAIL module_spec of a nested 'net': {module_spec(ok)!r}")
    for name in ("optim", "sched", "rng", "train", "data", "loss", "run", "net"):
        try:
            build(f"flatten {name}=linear(4,3)")
        except ValueError as e:
            if f"at char 9: layer name '{name}' is reserved" not in str(e):
                failed += 1
                print(f"FAIL build message {e!r} for the reserved name {name!r}")
        else:
            failed += 1
            print(f"FAIL build accepted the reserved layer name {name!r}")
    print(f"spec writer: {len(nets)} nets, {failed} failed")
    return 1 if failed else 0


def main():
    rc = _self_test()
    return rc or _writer_checks()


if __name__ == "__main__":
    sys.exit(main())
