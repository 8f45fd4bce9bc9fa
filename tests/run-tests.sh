#!/bin/sh
# Run every Criterion test program given as an argument, then print one
# closing line summing their results. Exits non-zero if any program failed.
passed=0 failed=0 status=0
for t in "$@"; do
    echo "== $t"
    out=$("$t" --jobs 2 2>&1); rc=$?
    printf '%s\n' "$out"
    line=$(printf '%s\n' "$out" | grep 'Synthesis:' | tail -n 1)
    p=$(printf '%s' "$line" | sed -n 's/.*Passing: \([0-9]*\).*/\1/p')
    f=$(printf '%s' "$line" | sed -n 's/.*Failing: \([0-9]*\).*Crashing: \([0-9]*\).*/\1 \2/p')
    passed=$((passed + ${p:-0}))
    for n in $f; do failed=$((failed + n)); done
    if [ $rc -ne 0 ] || [ -z "$line" ]; then status=1; [ -z "$line" ] && failed=$((failed + 1)); fi
done
echo "tests: $passed passed, $failed failed"
exit $status
