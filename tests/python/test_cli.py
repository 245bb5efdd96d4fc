#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""cgrad-torch as a user meets it, without PyTorch: --help, usage errors (exit 2), errors naming
the file and the problem in one line (exit 1, no traceback), outputs written atomically (a failed
run leaves the old file, a symlink target is refused), and the spec parser's messages.

  test_cli.py NET_RUN BIN_DIR     exit 0 pass, 1 fail
"""
import os
import sys

from common import Checks, cli, tmpdir  # noqa: E402

from cgrad.spec import SpecError, parse, write  # noqa: E402


def main():
    work = tmpdir()

    def one_line(err):
        assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err

    def help_and_usage():
        rc, out, err = cli("--help")
        assert rc == 0 and "import-onnx" in out and "export-onnx" in out and "from-pt" in out, out
        for sub in ("spec2torch", "to-pt", "from-pt", "export-onnx", "import-onnx"):
            rc, out, err = cli(sub, "--help")
            assert rc == 0 and "usage: cgrad-torch " + sub in out, (sub, out)
        rc, out, err = cli()
        assert rc == 2 and "COMMAND is required" in err, err
        rc, out, err = cli("frobnicate")
        assert rc == 2 and "invalid choice" in err, err
        rc, out, err = cli("import-onnx", "only-one-arg")
        assert rc == 2, err
        rc, out, err = cli("export-onnx", "a", "b", "--input-shape", "1,x")
        assert rc == 2 and "C,H,W" in err, err

    def missing_and_bad_inputs():
        missing = os.path.join(work, "nope.onnx")
        rc, out, err = cli("import-onnx", missing, os.path.join(work, "o.safetensors"))
        assert rc == 1 and missing in err and "no such file" in err, err
        one_line(err)
        junk = os.path.join(work, "junk.onnx")
        with open(junk, "wb") as f:
            f.write(b"\x08\x07not a model at all" * 3)
        rc, out, err = cli("import-onnx", junk, os.path.join(work, "o.safetensors"))
        assert rc == 1 and junk in err, err
        one_line(err)
        ck = os.path.join(work, "junk.safetensors")
        with open(ck, "wb") as f:
            f.write(b"\x10\0\0\0\0\0\0\0{}")
        rc, out, err = cli("to-pt", ck, os.path.join(work, "o.pt"))
        assert rc == 1 and ck in err, err
        one_line(err)
        rc, out, err = cli("spec2torch", "@" + os.path.join(work, "none.net"))
        assert rc == 1 and "none.net" in err, err
        one_line(err)

    def outputs_atomic_and_no_symlinks():
        try:
            import onnx  # noqa: F401
            from onnx import TensorProto, helper, numpy_helper
        except Exception:  # noqa: BLE001
            print("(no python3-onnx: the import half skipped)")
            return
        import numpy as np
        w = numpy_helper.from_array(np.ones((3, 4), np.float32), "w")
        g = helper.make_graph([helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Gemm", ["f", "w"], ["y"], transB=1)],
                              "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], [w])
        src = os.path.join(work, "ok.onnx")
        onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), src)
        target = os.path.join(work, "real.safetensors")
        with open(target, "w") as f:
            f.write("keep")
        link = os.path.join(work, "link.safetensors")
        os.symlink(target, link)
        rc, out, err = cli("import-onnx", src, link)
        assert rc == 1 and "symlink" in err and link in err, err
        one_line(err)
        assert open(target).read() == "keep"
        rc, out, err = cli("import-onnx", src, os.path.join(work, "no-dir", "o.safetensors"))
        assert rc == 1 and "does not exist" in err, err
        rc, out, err = cli("import-onnx", src, target)
        assert rc == 0 and "flatten linear(4,3,bias=false)" in out, (out, err)
        assert not [f for f in os.listdir(work) if f.endswith(".tmp")]

    def spec_messages():
        for spec, want in (("relu conv3d(1,2,3)", "spec error at char 6: unknown op 'conv3d'"),
                           ("", "spec error at char 1: empty spec"),
                           ("linear(1,2,bais=true)", "char 12: unknown argument 'bais'")):
            try:
                parse(spec)
            except SpecError as e:
                assert want in str(e), (spec, str(e))
            else:
                raise AssertionError(spec)
        text = "a=conv2d(1,2,3,stride=2) residual(relu) parallel(identity | linear(3,4,bias=false)) gelu(approximate='tanh')"
        assert write(parse(text)) == text, write(parse(text))
        rc, out, err = cli("spec2torch", "relu conv3d(1,2,3)")
        # without torch: a missing dependency names the Debian package; with it, the spec's error
        assert rc == 1 and ("char 6" in err or "python3-torch" in err), err
        one_line(err)

    def missing_dependencies_named():
        hide = os.path.join(work, "hide")
        for d, mods in ((hide, ("torch", "onnx")), (hide + "-numpy", ("numpy",))):
            os.makedirs(d, exist_ok=True)
            for mod in mods:
                with open(os.path.join(d, mod + ".py"), "w") as f:
                    f.write(f"raise ModuleNotFoundError('no module {mod} (hidden by the test)', name={mod!r})\n")
        rc, out, err = cli("spec2torch", "relu", path_first=hide)
        assert rc == 1 and "apt-get install python3-torch" in err, err
        one_line(err)
        src = os.path.join(work, "x.onnx")
        open(src, "wb").close()
        rc, out, err = cli("import-onnx", src, os.path.join(work, "x.safetensors"), path_first=hide)
        assert rc == 1 and "apt-get install python3-onnx" in err, err
        one_line(err)
        rc, out, err = cli("import-onnx", src, os.path.join(work, "x.safetensors"), path_first=hide + "-numpy")
        assert rc == 1 and "apt-get install python3-numpy" in err, err
        one_line(err)

    def onnx_model(path, external=False):
        """A tiny valid model (flatten, linear 4->3) at path; its weight in path + '.data' if external."""
        import onnx
        from onnx import TensorProto, helper, numpy_helper
        import numpy as np
        w = numpy_helper.from_array(np.ones((3, 4), np.float32), "w")
        g = helper.make_graph([helper.make_node("Flatten", ["x"], ["f"]), helper.make_node("Gemm", ["f", "w"], ["y"], transB=1)],
                              "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 2, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])], [w])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
        if external:
            onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                            location=os.path.basename(path) + ".data", size_threshold=0)
        else:
            onnx.save(m, path)

    def fifo_inputs_refused():
        """A FIFO as each subcommand's input (and as --net @FILE) ends in exit 1 naming it, within
        10 s (nobody writes to it: a reader that opens it blocking hangs). Without PyTorch/ONNX a
        subcommand may stop at the missing dependency instead, but it must not hang."""
        fifo = os.path.join(work, "in.fifo")
        os.mkfifo(fifo)
        ok_ck = os.path.join(work, "fifo-out.safetensors")
        with open(os.path.join(work, "real.safetensors"), "wb") as f:
            f.write(b"\x10\0\0\0\0\0\0\0{}")   # a regular file: the --net @FIFO is read first
        runs = [("import-onnx", fifo, ok_ck), ("to-pt", fifo, os.path.join(work, "f.pt")),
                ("export-onnx", fifo, os.path.join(work, "f.onnx")), ("from-pt", fifo, ok_ck),
                ("to-pt", os.path.join(work, "real.safetensors"), os.path.join(work, "f.pt"), "--net", "@" + fifo),
                ("spec2torch", "@" + fifo)]
        for args in runs:
            rc, out, err = cli(*args, timeout=10)
            assert rc == 1 and (fifo in err or "apt-get install" in err), (args, err)
            if fifo in err:
                assert "FIFO" in err, (args, err)
            one_line(err)
        assert not os.path.exists(ok_ck)
        # the readers themselves, whoever calls them (in-process, under an alarm)
        import signal
        from cgrad import fileio, safetensors

        def hung(*_):
            raise AssertionError("a reader blocked on the FIFO")
        old = signal.signal(signal.SIGALRM, hung)
        signal.alarm(10)
        try:
            for fn in (lambda: safetensors.read(fifo), lambda: fileio.read_input(fifo, "input"),
                       lambda: fileio.open_input("/dev/zero", "input")):
                try:
                    fn()
                except (OSError, ValueError) as e:   # SafetensorsError is a ValueError
                    assert "not a regular file" in str(e), e
                else:
                    raise AssertionError("a FIFO or a device was read")
        finally:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)

    def onnx_external_data_refused():
        try:
            import onnx  # noqa: F401
        except Exception:  # noqa: BLE001
            print("(no python3-onnx: skipped)")
            return
        src = os.path.join(work, "ext.onnx")
        onnx_model(src, external=True)
        assert os.path.exists(src + ".data")
        rc, out, err = cli("import-onnx", src, os.path.join(work, "ext.safetensors"), timeout=60)
        assert rc == 1 and src in err and "'w'" in err and "external" in err, (out, err)
        one_line(err)
        assert not os.path.exists(os.path.join(work, "ext.safetensors"))

    def non_regular_outputs_refused():
        """An existing FIFO as the output is refused and left a FIFO (not replaced by a file, not
        written into); /dev/null is refused by the check that runs before anything is written."""
        import stat
        from cgrad import fileio
        for dev in ("/dev/null", "/dev/zero"):
            try:
                fileio.check_target(dev)   # the check only: it opens nothing
            except fileio.OutputError as e:
                assert dev in str(e) and "device" in str(e), e
            else:
                raise AssertionError(f"{dev} accepted as an output target")
        out_fifo = os.path.join(work, "out.fifo")
        os.mkfifo(out_fifo)
        try:
            fileio.atomic_write(out_fifo, b"x")
        except fileio.OutputError as e:
            assert out_fifo in str(e) and "FIFO" in str(e), e
        else:
            raise AssertionError("atomic_write replaced a FIFO")
        assert stat.S_ISFIFO(os.lstat(out_fifo).st_mode)
        try:
            import onnx  # noqa: F401
        except Exception:  # noqa: BLE001
            print("(no python3-onnx: the CLI half skipped)")
            return
        src = os.path.join(work, "small.onnx")
        onnx_model(src)
        rc, out, err = cli("import-onnx", src, out_fifo, timeout=60)
        assert rc == 1 and out_fifo in err and "FIFO" in err, (out, err)
        one_line(err)
        assert stat.S_ISFIFO(os.lstat(out_fifo).st_mode), "the FIFO was replaced"
        assert not [f for f in os.listdir(work) if f.endswith(".tmp")]

    def reserved_layer_names():
        for spec, pos in (("flatten optim=linear(64,10) log_softmax", 9), ("net=flatten linear(4,3)", 1),
                          ("flatten  loss=relu", 10)):
            try:
                parse(spec)
            except SpecError as e:
                name = spec[pos - 1:].split("=")[0]
                assert f"spec error at char {pos}: layer name '{name}' is reserved" in str(e), (spec, str(e))
            else:
                raise AssertionError(f"{spec!r} accepted")
        parse("flatten r=residual(net=linear(4,4))")   # nested: its tensors are r.net.*, no clash

    return Checks("cli").run(help_and_usage, missing_and_bad_inputs, outputs_atomic_and_no_symlinks, spec_messages,
                             missing_dependencies_named, fifo_inputs_refused, onnx_external_data_refused,
                             non_regular_outputs_refused, reserved_layer_names)


if __name__ == "__main__":
    sys.exit(main())
