#!/bin/sh
# SPDX-License-Identifier: MIT
# tests/check_layers.sh SRC_DIR — the rule of arrows (docs/design.md, "Layers"): no file in a
# lower lib/ folder includes one from a higher folder. The order, lowest first:
#   core < tensor < autograd < ops < nn < optim < data < io < dist < train
# lib/cg_internal.h sits above the folders and is shared by all. An include is resolved as the
# compiler does: next to the including file first, then in lib/ (the library's private include
# directory); <...> and cgrad/ (public) includes are not lib/ files and are skipped.
set -eu
src=${1:?usage: check_layers.sh SRC_DIR}
cd "$src/lib"
order="core tensor autograd ops nn optim data io dist train"
rank() {
    i=0
    for f in $order; do
        [ "$f" = "$1" ] && { echo $i; return; }
        i=$((i + 1))
    done
    echo -1
}
bad=0
for file in $(find . -name '*.[ch]' | sort); do
    file=${file#./}
    from=${file%%/*}
    [ "$from" = "$file" ] && continue   # lib/cg_internal.h: shared, includes only public headers
    rf=$(rank "$from")
    if [ "$rf" -lt 0 ]; then echo "check_layers: lib/$file: folder '$from' is not in the order ($order)"; bad=1; continue; fi
    dir=$(dirname "$file")
    for inc in $(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$file"); do
        if [ -f "$dir/$inc" ]; then target=$(realpath --relative-to=. "$dir/$inc")
        elif [ -f "$inc" ]; then target=$(realpath --relative-to=. "$inc")
        else continue   # not a lib/ file (a public cgrad/ header, a generated one)
        fi
        to=${target%%/*}
        [ "$to" = "$target" ] && continue   # lib/cg_internal.h
        rt=$(rank "$to")
        if [ "$rt" -gt "$rf" ]; then
            echo "check_layers: lib/$file ($from) includes lib/$target ($to): an arrow upward ($order)"
            bad=1
        fi
    done
done
[ $bad -eq 0 ] && echo "check_layers: no upward include in lib/ ($order)"
exit $bad
