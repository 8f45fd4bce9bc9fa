#!/bin/sh
# check-exports.sh LIB SONAME HEADER [MACRO]: the shared library exports
# exactly the functions the header declares with MACRO (default BSNN_API;
# plus the version-node names BSNN_x.y or BSNN_NAME_x.y), each under a
# version node, and carries the expected SONAME.
lib=$1 soname=$2 header=$3 macro=${4:-BSNN_API}
tmp=${TMPDIR:-/tmp}/bsnn-exports.$$
trap 'rm -f "$tmp".*' EXIT
nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^$' > "$tmp.all"
grep -v '^BSNN_\([A-Z]*_\)\{0,1\}[0-9]*\.[0-9]*$' "$tmp.all" | sed 's/@.*//' | sort -u > "$tmp.exported"
tr '\n' ' ' < "$header" | grep -oE "$macro"'[^;(]*\(' |
    sed -E 's/.*[ *](bsnn_[a-z0-9_]+)\($/\1/' | grep '^bsnn_' | sort -u > "$tmp.declared"
status=0
if grep -v '^bsnn_' "$tmp.exported" > "$tmp.bad"; then
    echo "check-exports: non-bsnn symbols exported:"; cat "$tmp.bad"; status=1
fi
if ! cmp -s "$tmp.exported" "$tmp.declared"; then
    echo "check-exports: exported functions differ from the header's BSNN_API declarations"
    echo "  (< exported only, > declared only; add new functions to the version script):"
    diff "$tmp.exported" "$tmp.declared" | grep '^[<>]'; status=1
fi
unversioned=$(objdump -T "$lib" | awk '$NF ~ /^bsnn_/ && !/\*UND\*/ && $(NF-1) !~ /^BSNN_/ {print $NF}')
if [ -n "$unversioned" ]; then echo "check-exports: unversioned: $unversioned"; status=1; fi
got=$(objdump -p "$lib" | awk '/SONAME/{print $2}')
if [ "$got" != "$soname" ]; then echo "check-exports: SONAME is '$got', expected $soname"; status=1; fi
[ $status = 0 ] && echo "check-exports: $(wc -l < "$tmp.exported") bsnn_* functions exported, all declared in the header and versioned; SONAME $got"
exit $status
