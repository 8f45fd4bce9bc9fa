#!/bin/sh
# Run every test program given as an argument under valgrind memcheck,
# following Criterion's worker processes, and fail on any memory error or
# any definitely/indirectly lost block in any process. Prints one summary.
# Tests run one at a time (--jobs 1) so each worker gets its own log.
logs=${VALGRIND_LOGS:-lib/valgrind}
rm -rf "$logs" && mkdir -p "$logs" || exit 1
status=0
for t in "$@"; do
    name=$(basename "$t")
    printf 'valgrind: %s ... ' "$name"
    valgrind --quiet --trace-children=yes --leak-check=full \
        --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
        --suppressions=tests/valgrind.supp --log-file="$logs/$name.%p.log" \
        "$t" --jobs 1 >"$logs/$name.out" 2>&1
    rc=$?
    bad=$(grep -l -E 'ERROR SUMMARY: [1-9]|(definitely|indirectly) lost: [1-9]|^==[0-9]+== (Invalid|Conditional|Use of|Syscall param|Mismatched)' \
        "$logs/$name".*.log 2>/dev/null)
    if [ $rc -ne 0 ] || [ -n "$bad" ]; then
        echo "FAILED (exit $rc)"; status=1
        for f in $bad; do cat "$f"; done
        tail -5 "$logs/$name.out"
    else
        echo "clean ($(ls "$logs/$name".*.log | wc -l) processes)"
    fi
done
procs=$(ls "$logs"/*.log 2>/dev/null | wc -l)
errs=$(cat "$logs"/*.log 2>/dev/null | sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' | awk '{s+=$1} END {print s+0}')
echo "valgrind: $# programs, $procs processes, $errs errors, leaks: $( [ $status -eq 0 ] && echo none || echo see above)"
exit $status
