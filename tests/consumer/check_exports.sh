#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/consumer/check_exports.sh LIB — fail if the shared library exports a symbol that is not
# cg_-prefixed (apart from the linker's own: _init, _fini, _edata, _end, __bss_start, and the
# sanitizer runtime's hooks in a sanitizer build).
set -eu
lib=$1
syms=$("${NM:-nm}" -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }')
[ -n "$syms" ] || { echo "FAIL: $lib exports no symbols at all"; exit 1; }
echo "$syms" | grep -q '^cg_version$' || { echo "FAIL: $lib does not export cg_version"; exit 1; }
bad=$(echo "$syms" | grep -v -E '^cg_' \
      | grep -v -x -E '_init|_fini|_edata|_end|__bss_start' \
      | grep -v -E '^(__asan|__ubsan|__lsan|__sanitizer|__odr_asan|___asan|__sancov|__start___sancov|__stop___sancov)' || true)
if [ -n "$bad" ]; then
    echo "FAIL: $lib exports symbols without the cg_ prefix:"
    echo "$bad"
    exit 1
fi
echo "OK: $(echo "$syms" | grep -c '^cg_') cg_ symbols exported, nothing else"
