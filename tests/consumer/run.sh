#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/consumer/run.sh CMAKE BUILD_DIR SOURCE_DIR CC [FLAGS...]
#
# Installs the build into a temporary prefix, then builds and runs a small out-of-tree program
# against it: find_package(cgrad) with cgrad::cgrad and with cgrad::cgrad_static, pkg-config
# (shared, and static with --static), a C++17 program with -pedantic-errors (pkg-config, and a
# C++-only CMake project with COMPONENTS static), and cgrad through add_subdirectory. It checks
# what is installed: the two programs and their man pages, not the lessons; cgrad-dist when MPI
# is on; cgrad-torch and the Python package (run, imported). The README's C example and the examples/ programs are built too (inception runs: train,
# resume, predict), and the benchmarks compile against the installed headers.
# FLAGS go to every compile and link (the sanitizer flags, in a sanitizer build).
set -euo pipefail
cmake_cmd=$1 build=$2 src=$3 cc=$4
shift 4
flags="$*"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/cgrad-install.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

step() { echo "-- $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
# Run a command quietly; show its output only when it fails.
quiet() { local log=$tmp/log; "$@" >"$log" 2>&1 || { cat "$log" >&2; fail "$*"; }; }

step "cmake --install $build --prefix $prefix"
quiet "$cmake_cmd" --install "$build" --prefix "$prefix"

pc=$(find "$prefix" -name cgrad.pc -path '*/pkgconfig/*' | head -n1)
[ -n "$pc" ] || fail "cgrad.pc not installed"
libdir=$(dirname "$(dirname "$pc")")
for f in "$prefix/include/cgrad/cgrad.h" "$prefix/include/cgrad/version.h" \
         "$libdir/libcgrad.so" "$libdir/libcgrad.so.0" "$libdir/libcgrad.a" \
         "$libdir/cmake/cgrad/cgradConfig.cmake" "$libdir/cmake/cgrad/cgradConfigVersion.cmake" \
         "$libdir/cmake/cgrad/cgradTargets.cmake" "$libdir/cmake/cgrad/cgradStaticTargets.cmake"; do
    [ -e "$f" ] || fail "not installed: ${f#"$prefix"/}"
done
[ -x "$prefix/bin/mnist-train" ] && [ -x "$prefix/bin/mnist-eval" ] || fail "mnist-train/mnist-eval not installed"
[ -x "$prefix/bin/bench-conv" ] || fail "bench-conv not installed"
for f in linreg autograd-demo; do [ ! -e "$prefix/bin/$f" ] || fail "bin/$f installed: a lesson, too generic a name"; done
for f in mnist-train mnist-eval cgrad-torch; do
    [ -f "$prefix/share/man/man1/$f.1" ] || fail "no man page share/man/man1/$f.1"
done
# The Python package (python/cgrad) and cgrad-torch: the command finds the package from any
# prefix; an import needs PYTHONPATH=<prefix>/<its dir> outside the prefixes Debian's python searches.
[ -x "$prefix/bin/cgrad-torch" ] || fail "cgrad-torch not installed"
pydir=$(find "$prefix/lib" -path '*/dist-packages/cgrad/__init__.py' | head -n1)
[ -n "$pydir" ] || fail "the Python package cgrad is not installed under lib/python3*/dist-packages"
pydir=$(dirname "$(dirname "$pydir")")
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import numpy' 2>/dev/null; then
    step "installed cgrad-torch and the Python package (${pydir#"$prefix"/})"
    out=$(cd "$tmp" && env -u PYTHONPATH "$prefix/bin/cgrad-torch" --help) || fail "cgrad-torch --help exited $?: $out"
    [[ $out == *import-onnx* && $out == *export-onnx* ]] || fail "cgrad-torch --help printed: $out"
    rc=0; out=$(cd "$tmp" && env -u PYTHONPATH "$prefix/bin/cgrad-torch" import-onnx "$tmp/none.onnx" "$tmp/o.st" 2>&1) || rc=$?
    [ "$rc" = 1 ] && [[ $out == *"none.onnx: no such file"* ]] || fail "cgrad-torch import-onnx of a missing file: exit $rc: $out"
    out=$(cd "$tmp" && PREFIX="$prefix" PYTHONPATH="$pydir" /usr/bin/python3 -c '
import cgrad, cgrad.safetensors as st, cgrad.spec as sp, numpy as np, os
assert os.path.realpath(cgrad.__file__).startswith(os.path.realpath(os.environ["PREFIX"])), cgrad.__file__
st.write("p.safetensors", {"w": np.arange(3, dtype=np.float32)}, {"net": sp.SEED_SPEC})
t, m = st.read("p.safetensors")
assert t["w"].tolist() == [0, 1, 2] and sp.parse(m["net"])[0]["name"] == "conv1"
print("imported", cgrad.__file__)' 2>&1) || fail "import of the installed package: $out"
    echo "   cgrad-torch --help works; $out"
else
    echo "   (no /usr/bin/python3 with NumPy: the Python package's run is skipped)"
fi

soname=$(readelf -d "$libdir/libcgrad.so" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
[ "$soname" = libcgrad.so.0 ] || fail "SONAME is '$soname', want libcgrad.so.0"
# No private header may leak into the installed include directory.
[ -z "$(find "$prefix/include" -name 'cg_internal.h')" ] || fail "private header installed"

export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# The BLAS the shared library loads (Debian's OpenMP OpenBLAS by default, not the pthread one the
# alternatives point libopenblas.so at): a static link must resolve to the same file.
so_libs=$(ldd "$libdir/libcgrad.so.0")
blas_so=$(printf '%s\n' "$so_libs" | awk '/(openblas|blis|libblas)/ { print $3; exit }')
[ -n "$blas_so" ] || fail "libcgrad.so.0 loads no BLAS: $so_libs"
echo "   libcgrad.so.0 loads $blas_so"
# Run a built program; it must exit 0 and print OK. A shared build must load the installed .so;
# a static one must load the same BLAS as the shared library.
check_run() {
    local exe=$1 want_so=$2 out libs
    out=$("$exe") || fail "$(basename "$exe") exited $?: $out"
    case $out in *OK*) ;; *) fail "$(basename "$exe") printed: $out" ;; esac
    libs=$(ldd "$exe")   # (not piped into grep -q: with pipefail, ldd's SIGPIPE would fail it)
    if [ "$want_so" = shared ]; then
        [[ $libs == *"$libdir/libcgrad.so.0"* ]] || fail "$(basename "$exe") does not load $libdir/libcgrad.so.0"
    else
        [[ $libs != *libcgrad.so* ]] || fail "$(basename "$exe") should not need libcgrad.so"
        [[ $libs == *"$blas_so"* ]] || fail "$(basename "$exe") does not load $blas_so: $libs"
    fi
    echo "   $(basename "$exe"): $out"
}

# The README's first ```c block, if there is one: it must compile and run as it stands.
readme_c=""
if [ -f "$src/README.md" ] && grep -q '^```c' "$src/README.md"; then
    readme_c=$tmp/readme_example.c
    awk '/^```c/ { on = 1; next } on && /^```/ { exit } on { print }' "$src/README.md" >"$readme_c"
fi

step "find_package(cgrad) consumer (tests/consumer/cmake)"
quiet "$cmake_cmd" -S "$src/tests/consumer/cmake" -B "$tmp/cmake-build" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF \
    -DCMAKE_C_COMPILER="$cc" -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="$flags" \
    -DCONSUMER_README_EXAMPLE="$readme_c"
quiet "$cmake_cmd" --build "$tmp/cmake-build"
check_run "$tmp/cmake-build/consumer" shared
check_run "$tmp/cmake-build/consumer_static" static
if [ -n "$readme_c" ]; then
    out=$("$tmp/cmake-build/readme_example") || fail "README example exited $?: $out"
    # The example's "/* prints: ... */" comment must say what it prints.
    want=$(sed -n 's|.*/\* prints: \(.*\) \*/.*|\1|p' "$readme_c")
    [ -z "$want" ] || [ "$out" = "$want" ] || fail "README example printed '$out', README says '$want'"
    echo "   readme_example: $out"
else
    echo "   (README.md has no \`\`\`c block: README example skipped)"
fi

step "pkg-config consumer (PKG_CONFIG_PATH=${libdir#"$prefix"/}/pkgconfig)"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
version=$(pkg-config --modversion cgrad)
grep -q "CG_VERSION_STRING \"$version\"" "$prefix/include/cgrad/version.h" \
    || fail "cgrad.pc says version $version, version.h disagrees"
# shellcheck disable=SC2046,SC2086
quiet "$cc" $flags -o "$tmp/consumer_pc" "$src/tests/consumer/main.c" $(pkg-config --cflags --libs cgrad)
check_run "$tmp/consumer_pc" shared
# Static link: libcgrad.a, then Libs.private from --static.
static_libs=$(pkg-config --static --libs cgrad | sed -e 's/\(^\| \)-lcgrad\( \|$\)/ /')
# shellcheck disable=SC2046,SC2086
quiet "$cc" $flags -o "$tmp/consumer_pc_static" "$src/tests/consumer/main.c" $(pkg-config --cflags cgrad) \
    "$libdir/libcgrad.a" $static_libs
check_run "$tmp/consumer_pc_static" static

# The examples (examples/*.c) are programs a user copies: each builds against the installed cgrad
# through pkg-config alone, and inception runs its two processes (train + save, resume + predict).
# The installed bench-conv measures a user's layer and names the algorithm that ran it.
step "installed bench-conv --shape"
"$prefix/bin/bench-conv" --threads 1 --reps 1 --shape 2,8,10,10,8,3,1,1,1,8 --shape 2,8,10,10,16,3,1,1,1,1 >"$tmp/bc.txt" \
    || fail "bench-conv --shape: $(cat "$tmp/bc.txt")"
grep -q 'every pass: depthwise direct; GEMMs: none' "$tmp/bc.txt" || fail "bench-conv: no algorithm line: $(cat "$tmp/bc.txt")"
grep -q 'every pass: winograd F(2x2,3x3)' "$tmp/bc.txt" || fail "bench-conv: no Winograd line: $(cat "$tmp/bc.txt")"
step "examples/*.c through pkg-config"
for e in "$src"/examples/*.c; do
    # shellcheck disable=SC2046,SC2086
    quiet "$cc" $flags -std=c11 -Wall -Wextra -Werror -o "$tmp/example_$(basename "$e" .c)" "$e" \
        $(pkg-config --cflags --libs cgrad) -lm
done
out=$(cd "$tmp" && ./example_inception train ex.safetensors && ./example_inception resume ex.safetensors) \
    || fail "example inception exited $?: $out"
[[ $out == *"image of class 3: predicted"* ]] || fail "example inception printed: $out"
[[ $(ldd "$tmp/example_inception") == *"$libdir/libcgrad.so.0"* ]] || fail "example inception does not load $libdir/libcgrad.so.0"
echo "   $(ls "$src"/examples/*.c | wc -l) examples build; inception trains, resumes and predicts"

# The benchmarks use the public headers only (tests/check_includes.sh): each bench/*.c compiles
# against the installed headers alone (its own bench_util.h, the generated seed_net.h, and
# cblas.h/omp.h for the roofline and the elementwise loops besides).
if [ -z "$flags" ]; then
    step "bench/*.c against the installed headers"
    for b in "$src"/bench/*.c; do
        # shellcheck disable=SC2046
        quiet "$cc" -std=c11 -fsyntax-only -fopenmp -Wall -Werror -I"$src/bench" -I"$build/nets" \
            $(pkg-config --cflags cgrad) "$b"
    done
    echo "   $(ls "$src"/bench/*.c | wc -l) benchmarks compile against $prefix/include"
fi

# zlib comes through Requires.private: a static link gets -lz from zlib.pc.
[[ " $(pkg-config --static --libs cgrad) " == *" -lz "* ]] || fail "pkg-config --static --libs cgrad lacks -lz"
grep -q '^Requires.private: zlib' "$pc" || fail "cgrad.pc has no 'Requires.private: zlib'"

# cgrad_dist, when this build has MPI: the shared library, its .pc and its CMake targets.
if [ -e "$build/lib/libcgrad_dist.so" ] || ls "$build"/lib/libcgrad_dist.so* >/dev/null 2>&1; then
    step "cgrad-dist (MPI)"
    for f in "$libdir/libcgrad_dist.so.0" "$libdir/libcgrad_dist.a" "$libdir/pkgconfig/cgrad-dist.pc" \
             "$libdir/cmake/cgrad/cgradDistTargets.cmake"; do
        [ -e "$f" ] || fail "not installed: ${f#"$prefix"/}"
    done
    pkg-config --exists cgrad-dist || fail "pkg-config cgrad-dist: $(pkg-config --print-errors cgrad-dist 2>&1)"
    [[ " $(pkg-config --libs cgrad-dist) " == *" -lcgrad_dist "* ]] || fail "pkg-config --libs cgrad-dist"
    echo "   cgrad-dist: $(pkg-config --libs cgrad-dist)"
fi

# C++: the headers under -std=c++17 -Wall -Wextra -pedantic-errors (CG_SHAPE, {"name", t}).
cxx=$(command -v c++ || command -v g++ || true)
if [ -n "$cxx" ] && [ -z "$flags" ]; then
    step "C++17 consumer, -pedantic-errors (pkg-config; C++-only CMake project)"
    export CONSUMER_TMP=$tmp
    # shellcheck disable=SC2046
    quiet "$cxx" -std=c++17 -Wall -Wextra -pedantic-errors -o "$tmp/consumer_cxx" "$src/tests/consumer/main.cpp" \
        $(pkg-config --cflags --libs cgrad)
    check_run "$tmp/consumer_cxx" shared
    quiet "$cmake_cmd" -S "$src/tests/consumer/cmake-cxx" -B "$tmp/cmake-cxx" -DCMAKE_PREFIX_PATH="$prefix" \
        -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_CXX_COMPILER="$cxx"
    quiet "$cmake_cmd" --build "$tmp/cmake-cxx"
    check_run "$tmp/cmake-cxx/consumer_cxx" shared
    check_run "$tmp/cmake-cxx/consumer_cxx_static" static
elif [ -z "$cxx" ]; then
    echo "   (no C++ compiler: the C++ consumer is skipped)"
fi

# add_subdirectory: the parent keeps its build type; no tests, programs or install rules come along.
if [ -z "$flags" ]; then
    step "add_subdirectory(cgrad) consumer (tests/consumer/subdir)"
    quiet "$cmake_cmd" -S "$src/tests/consumer/subdir" -B "$tmp/subdir" -DCGRAD_SOURCE_DIR="$src" \
        -DCMAKE_C_COMPILER="$cc"
    quiet "$cmake_cmd" --build "$tmp/subdir" -j2
    out=$("$tmp/subdir/consumer") || fail "subdir consumer exited $?: $out"
    echo "   subdir consumer: $out"
    ntests=$(cd "$tmp/subdir" && ctest -N | sed -n 's/^Total Tests: //p')
    [ "$ntests" = 1 ] || fail "the parent sees $ntests tests, want its own 1"
    quiet "$cmake_cmd" --install "$tmp/subdir" --prefix "$tmp/subdir-prefix"
    [ ! -e "$tmp/subdir-prefix/include/cgrad" ] || fail "cgrad as a subproject installed its headers"
fi

echo "OK: installed cgrad $version works through find_package and pkg-config"
