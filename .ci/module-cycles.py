#!/usr/bin/env python3
"""Fails if the crate's modules import each other in a circle.

A module's imports are the `crate::<module>` paths in its file (comments and its test module
left out); `crate::<Type>` re-exports from lib.rs are not imports of a module. Prints each
circle found and exits 1, or prints the layers and exits 0.

    python3 .ci/module-cycles.py [-v]
"""
import glob
import os
import re
import sys

os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..'))
mods = {}
for f in sorted(glob.glob('src/**/*.rs', recursive=True)):
    name = os.path.splitext(os.path.relpath(f, 'src'))[0].replace('/', '::')
    if name.endswith('::mod'):
        name = name[:-5]
    if name in ('lib', 'loom_tests'):
        continue
    text = re.sub(r'//[^\n]*', '', open(f).read())
    text = re.split(r'\n#\[cfg\([^\n]*test[^\n]*\)\]\nmod ', text)[0]
    deps = set()
    for m in re.finditer(r'crate::([a-z_]+)(?:::([a-z_]+))?', text):
        a, b = m.group(1), m.group(2)
        if not (os.path.exists(f'src/{a}.rs') or os.path.isdir(f'src/{a}')):
            continue
        dep = f'{a}::{b}' if b and os.path.exists(f'src/{a}/{b}.rs') else a
        if dep != name and not name.startswith(dep + '::'):
            deps.add(dep)
    mods[name] = deps

sys.setrecursionlimit(10_000)
index, low, stack, on, circles, counter = {}, {}, [], set(), [], [0]


def visit(v):
    index[v] = low[v] = counter[0]
    counter[0] += 1
    stack.append(v)
    on.add(v)
    for w in mods.get(v, ()):
        if w not in mods:
            continue
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
        if len(comp) > 1:
            circles.append(sorted(comp))


for v in sorted(mods):
    if v not in index:
        visit(v)
if circles:
    for c in circles:
        print('modules in a circle:', ', '.join(c))
    sys.exit(1)
print(f'{len(mods)} modules, no circle')
if '-v' in sys.argv:
    for k in sorted(mods):
        print(f'  {k} -> {", ".join(sorted(mods[k])) or "-"}')
