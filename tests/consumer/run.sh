#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# tests/consumer/run.sh CMAKE BUILD_DIR SOURCE_DIR CC [FLAGS...]
#
# Installs the build into a temporary prefix, then builds and runs a small out-of-tree program
# against it three ways: find_package(cgrad) with cgrad::cgrad and with cgrad::cgrad_static,
# and pkg-config (shared, and static with --static). The README's C example is built too.
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

echo "OK: installed cgrad $version works through find_package and pkg-config"
