#!/usr/bin/env python3
"""Fails when two top-level modules of a crate import each other, directly or round a circle.

A file under src/<m>.rs or src/<m>/... belongs to module <m>; `use crate::<n>` (also in
`crate::{a, b::c}` groups and inline paths like crate::n::f()) adds the edge m -> n when n != m.
"""
import glob
import os
import re
import sys

root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..')
bad = False
for crate in sorted(glob.glob(os.path.join(root, 'crates/*/src'))):
    edges = {}
    for f in glob.glob(crate + '/**/*.rs', recursive=True):
        rel = os.path.relpath(f, crate)
        top = rel.split(os.sep)[0].removesuffix('.rs')
        if top in ('lib', 'main'):
            continue
        text = open(f).read()
        text = re.sub(r'//[^\n]*', '', text)
        # cut #[cfg(test)] modules at the end of a file: tests may look anywhere
        cut = text.find('#[cfg(test)]\nmod tests')
        if cut >= 0:
            text = text[:cut]
        targets = set(re.findall(r'\bcrate::([a-z_][a-z0-9_]*)', text))
        # `super::` enough times to reach the crate root names a top-level module too
        parts = rel.split(os.sep)
        depth = len(parts) - (1 if parts[-1] == 'mod.rs' else 0)
        for ups, name in re.findall(r'\b((?:super::)+)([a-z_][a-z0-9_]*)', text):
            if ups.count("super::") == depth:
                targets.add(name)
        for group in re.findall(r'\bcrate::\{([^}]*)\}', text, re.S):
            targets |= set(re.findall(r'(?:^|,)\s*([a-z_][a-z0-9_]*)', group))
        for t in targets - {top}:
            edges.setdefault(top, set()).add(t)
    # find cycles via DFS
    cycles = set()
    def dfs(node, path):
        for n in edges.get(node, ()):
            if n in path:
                cyc = path[path.index(n):]
                k = min(range(len(cyc)), key=lambda i: cyc[i])
                cycles.add(tuple(cyc[k:] + cyc[:k]))
            elif len(path) < 12:
                dfs(n, path + [n])
    for m in list(edges):
        dfs(m, [m])
    name = crate.split('/')[-2]
    print(f"{name}: {len(edges)} modules with imports, {sum(map(len, edges.values()))} edges, cycles: {sorted(cycles) or 'none'}")
    bad |= bool(cycles)
sys.exit(1 if bad else 0)
