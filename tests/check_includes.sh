#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/check_includes.sh SRC_DIR — the benchmarks (bench/), the programs (apps/) and the examples (examples/) use
# cgrad's public headers only, so that each builds against an installed cgrad: no include may
# name a path under lib/ or any header that lives in lib/ (cg_internal.h, im2col.h, ...). Their
# own headers (bench_util.h, apps/common/*.h) and the generated seed_net.h are fine.
set -eu
src=${1:?usage: check_includes.sh SRC_DIR}
cd "$src"
private=$(find lib -name '*.h' -exec basename {} \; | sort -u)
bad=0
for file in $(find bench apps examples -name '*.[ch]' | sort); do
    for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"]\([^">]*\)[">].*/\1/p' "$file"); do
        case "$inc" in
            *lib/*) echo "check_includes: $file includes $inc (a path into lib/)"; bad=1; continue ;;
        esac
        base=$(basename "$inc")
        for p in $private; do
            if [ "$base" = "$p" ]; then echo "check_includes: $file includes $inc (a private header of lib/)"; bad=1; fi
        done
    done
done
[ $bad -eq 0 ] && echo "check_includes: bench/, apps/ and examples/ include public headers only"
exit $bad
