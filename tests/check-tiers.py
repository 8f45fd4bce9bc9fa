#!/usr/bin/env python3
"""check-tiers.py OBJDIR SRCDIR: the architecture rules of src/, checked.

OBJDIR holds one object file per source file, built with -ffunction-sections
and -fno-inline (make check-tiers does this), so every call is a relocation
in the calling function's own section. The script lists

  - include edges: each source file's #include "..." lines, as tiers;
  - call edges: caller file -> callee file, from the relocations;

and fails when
  1. a file includes a header of a higher tier, or calls into a higher tier;
  2. files call each other in a circle (a strongly connected component of
     the file call graph with more than one file);
  3. library code calls a public function (bsnn_[a-z]*): public functions
     check their arguments and call bsnn__ implementations, and nothing
     inside calls back out through the API, so a message always names the
     function the host called.

Tiers, lowest first: the order of the folders in TIERS. A file may use its
own folder and lower ones. Flat src/*.c files (before the split) are tier 0.
Prints the edges with -v.
"""
import os
import re
import subprocess
import sys

TIERS = ['common', 'kernels', 'nn', 'data', 'train', 'persist', 'search']
NOT_TIERS = ['mpi']


def tier_of(path):
    parts = path.split('/')
    if len(parts) >= 2 and parts[-2] in TIERS:
        return TIERS.index(parts[-2])
    return 0


def sh(*args):
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def defined_symbols(obj):
    """Global functions and objects defined in obj."""
    out = {}
    for line in sh('nm', '--defined-only', obj).splitlines():
        f = line.split()
        if len(f) == 3 and f[1] in 'TDBR':
            out[f[2]] = f[1]
    return out


def relocations(obj):
    """(caller function, target symbol) for every relocation in a function's
    own text section (.text.<function>)."""
    edges = []
    section = None
    for line in sh('readelf', '-W', '-r', obj).splitlines():
        m = re.match(r"Relocation section '\.rela\.text\.([^']+)'", line)
        if m:
            section = m.group(1)
            continue
        if line.startswith('Relocation section'):
            section = None
            continue
        if section is None:
            continue
        f = line.split()
        if len(f) >= 5 and re.match(r'[0-9a-f]+$', f[0]):
            sym = f[4]
            if sym.startswith('.text.'):
                sym = sym[len('.text.'):]
            edges.append((section, sym))
    return edges


def includes(src):
    return re.findall(r'^\s*#\s*include\s+"([^"]+)"', open(src).read(), re.M)


def main():
    verbose = '-v' in sys.argv
    args = [a for a in sys.argv[1:] if a != '-v']
    objdir, srcdir = args
    sources = []
    for root, dirs, files in os.walk(srcdir):
        # src/mpi is libbsnn_mpi, a client of the public API built only with
        # MPI: not a tier of libbsnn (it calls public functions by design)
        dirs[:] = [d for d in dirs if d not in NOT_TIERS]
        for f in files:
            if f.endswith('.c') or f.endswith('.h'):
                sources.append(os.path.relpath(os.path.join(root, f), srcdir))
    sources.sort()
    problems = []

    # include edges
    headers = {os.path.basename(s): s for s in sources if s.endswith('.h')}
    inc_edges = []
    for s in sources:
        for h in includes(os.path.join(srcdir, s)):
            target = os.path.normpath(os.path.join(os.path.dirname(s), h))
            if target not in sources:
                target = headers.get(os.path.basename(h))
            if target is None:
                continue  # bsnn.h (include/) or a system-style local header
            inc_edges.append((s, target))
            if tier_of(target) > tier_of(s):
                problems.append('include: %s (tier %s) includes %s (tier %s)' %
                                (s, TIERS[tier_of(s)], target, TIERS[tier_of(target)]))

    # call edges from the objects
    c_files = [s for s in sources if s.endswith('.c')]
    obj_of = {}
    for s in c_files:
        obj = os.path.join(objdir, s[:-2].replace('/', '__') + '.o')
        if not os.path.exists(obj):
            problems.append('missing object %s for %s' % (obj, s))
            continue
        obj_of[s] = obj
    owner = {}
    for s, obj in obj_of.items():
        for sym in defined_symbols(obj):
            owner[sym] = s
    public = {sym for sym in owner if re.match(r'bsnn_[a-z]', sym)}
    file_edges = {}
    for s, obj in obj_of.items():
        for caller, sym in relocations(obj):
            if sym in public and caller != sym:
                problems.append('call: %s: %s calls the public function %s (use its bsnn__ '
                                'implementation)' % (s, caller, sym))
            callee = owner.get(sym)
            if callee is None or callee == s:
                continue
            file_edges.setdefault((s, callee), set()).add('%s -> %s' % (caller, sym))
            if tier_of(callee) > tier_of(s):
                problems.append('call: %s (tier %s) calls %s in %s (tier %s)' %
                                (s, TIERS[tier_of(s)], sym, callee, TIERS[tier_of(callee)]))

    # circles: strongly connected components of the file graph (Tarjan)
    graph = {s: set() for s in obj_of}
    for a, b in file_edges:
        graph[a].add(b)
    index, low, stack, on, sccs = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    for comp in sccs:
        if len(comp) > 1:
            via = []
            for a in comp:
                for b in comp:
                    if (a, b) in file_edges:
                        via.append('%s -> %s (%s)' % (a, b, sorted(file_edges[(a, b)])[0]))
            problems.append('circle: %s call each other: %s' % (', '.join(comp), '; '.join(via)))

    if verbose:
        print('include edges:')
        for a, b in sorted(inc_edges):
            print('  %-28s -> %s' % (a, b))
        print('call edges (file -> file: one example call):')
        for (a, b), calls in sorted(file_edges.items()):
            print('  %-28s -> %-28s %d calls, e.g. %s' % (a, b, len(calls), sorted(calls)[0]))
    for p in problems:
        print('check-tiers: ' + p)
    n_files = len(obj_of)
    if problems:
        print('check-tiers: %d problems' % len(problems))
        return 1
    print('check-tiers: %d source files, %d include edges, %d file call edges: no upward '
          'include or call, no circle, no internal call to a public function' %
          (n_files, len(inc_edges), len(file_edges)))
    return 0


SELF_TEST = {
    # common/ includes a header of nn/ and calls into it: both refused
    'common/low.c': '#include "nn/high.h"\nint low(void) { return high(); }\n',
    'nn/high.h': 'int high(void);\n',
    # nn/high.c and nn/peer.c call each other: a circle
    'nn/high.c': 'int peer(void);\nint high(void) { return peer(); }\n',
    'nn/peer.c': 'int high(void);\nint peer(void) { return high() + 1; }\n',
    # library code calling a public function
    'nn/api.c': 'int bsnn_thing(void) { return 1; }\nint use(void) { return bsnn_thing(); }\n',
}


def self_test():
    """Build a tiny tree that breaks each rule once; the check must find
    every break (so `make test` proves the check can fail)."""
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        src, obj = os.path.join(tmp, 'src'), os.path.join(tmp, 'obj')
        os.makedirs(obj)
        for path, text in SELF_TEST.items():
            os.makedirs(os.path.join(src, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(src, path), 'w') as f:
                f.write(text)
        for path in SELF_TEST:
            if path.endswith('.c'):
                subprocess.run(['cc', '-c', '-O0', '-fno-inline', '-ffunction-sections', '-I', src,
                                os.path.join(src, path), '-o',
                                os.path.join(obj, path[:-2].replace('/', '__') + '.o')],
                               check=True)
        out = subprocess.run([sys.executable, __file__, obj, src], capture_output=True,
                             text=True)
        want = ['include: common/low.c (tier common) includes nn/high.h',
                'call: common/low.c (tier common) calls high',
                'circle: nn/high.c, nn/peer.c',
                'nn/api.c: use calls the public function bsnn_thing']
        missing = [w for w in want if w not in out.stdout]
        if out.returncode == 0 or missing:
            print('check-tiers: self-test FAILED; missing %s in:\n%s' % (missing, out.stdout))
            return 1
    print('check-tiers: self-test: an upward include, an upward call, a circle and an '
          'internal call to a public function are all reported')
    return 0


if __name__ == '__main__':
    if '--self-test' in sys.argv:
        sys.exit(self_test())
    sys.exit(main())
