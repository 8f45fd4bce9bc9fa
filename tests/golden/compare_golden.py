#!/usr/bin/python3
"""Compare freshly generated golden files with the committed ones.

usage: compare_golden.py COMMITTED_DIR FRESH_DIR [TOLERANCE]

Every file of either folder must exist in both, with the same records in the
same order: words must be equal, and each record's list of numbers must agree
within TOLERANCE (default 1e-12) relative, max |a-b| / max(1, max |b|), the
measure test_golden.c uses. Comment lines (the torch version) are skipped.
Exits 1 and names the first difference of each file otherwise.
"""
import os
import sys


def records(path):
    with open(path) as f:
        for number, line in enumerate(f, start=1):
            if line.startswith("#") or not line.strip():
                continue
            yield number, line.split()


def number(word):
    """The value of a float written by repr (it always has '.', 'e' or is
    inf/nan); None for words and for counts and indices, which must match
    exactly (and must not enter a record's scale)."""
    if not any(c in word for c in ".eEn"):
        return None
    try:
        return float(word)
    except ValueError:
        return None


def compare_record(old, new, tol):
    """None when equal within tol, else a description of the difference."""
    if len(old) != len(new):
        return "%d fields, now %d" % (len(old), len(new))
    worst, scale = 0.0, 1.0
    for a, b in zip(old, new):
        x, y = number(a), number(b)
        if x is None or y is None or "=" in a:
            if a != b:
                return "'%s' is now '%s'" % (a, b)
            continue
        worst = max(worst, abs(x - y))
        scale = max(scale, abs(x))
    if worst / scale > tol:
        return "numbers differ by %.3g relative (tolerance %g)" % (worst / scale, tol)
    return None


def compare_file(old_path, new_path, tol):
    old, new = list(records(old_path)), list(records(new_path))
    for (line, a), (_, b) in zip(old, new):
        why = compare_record(a, b, tol)
        if why:
            return "line %d (%s): %s" % (line, a[0], why)
    if len(old) != len(new):
        return "%d records, now %d" % (len(old), len(new))
    return None


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit(__doc__)
    committed, fresh = sys.argv[1], sys.argv[2]
    tol = float(sys.argv[3]) if len(sys.argv) == 4 else 1e-12
    names = sorted(n for n in set(os.listdir(committed)) | set(os.listdir(fresh))
                   if n.endswith(".txt"))
    failed = 0
    for name in names:
        a, b = os.path.join(committed, name), os.path.join(fresh, name)
        if not (os.path.exists(a) and os.path.exists(b)):
            print("compare_golden: %s exists in only one of %s, %s" % (name, committed, fresh))
            failed += 1
            continue
        why = compare_file(a, b, tol)
        if why:
            print("compare_golden: %s: %s" % (name, why))
            failed += 1
    if not names:
        print("compare_golden: no golden files in %s" % committed)
        failed = 1
    print("compare_golden: %d file(s), %d differ beyond %g" % (len(names), failed, tol))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
