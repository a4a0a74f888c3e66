#!/usr/bin/env python3
"""Code bytes per function of a .wasm that kept its name section, biggest first, or the
difference between two (what grew). A built-in stand-in for twiggy:
    python3 bench/size/wasm_funcs.py NEW.wasm [BASE.wasm] [--group]
--group adds the sizes up by the demangled path's first two segments (crate::module)."""
import re, sys
from collections import Counter

def leb(b, i):
    r = s = 0
    while True:
        x = b[i]; i += 1
        r |= (x & 0x7F) << s; s += 7
        if x < 0x80:
            return r, i

def funcs(path):
    b = open(path, 'rb').read()
    i, imports, bodies, names = 8, 0, [], {}
    while i < len(b):
        sid = b[i]; size, j = leb(b, i + 1); end = j + size
        if sid == 2:  # imports: count the function imports (they come first in the index space)
            n, k = leb(b, j)
            for _ in range(n):
                l, k = leb(b, k); k += l
                l, k = leb(b, k); k += l
                kind = b[k]; k += 1
                if kind == 0: imports += 1; _, k = leb(b, k)
                elif kind == 1: k += 1; fl, k = leb(b, k); _, k = leb(b, k); k = leb(b, k)[1] if fl & 1 else k
                elif kind == 2: fl, k = leb(b, k); _, k = leb(b, k); k = leb(b, k)[1] if fl & 1 else k
                elif kind == 3: k += 2
        elif sid == 10:
            n, k = leb(b, j)
            for _ in range(n):
                l, k = leb(b, k); bodies.append(l); k += l
        elif sid == 0:
            l, k = leb(b, j); name = b[k:k + l]; k += l
            if name == b'name':
                while k < end:
                    sub = b[k]; sl, k = leb(b, k + 1); se = k + sl
                    if sub == 1:
                        n, q = leb(b, k)
                        for _ in range(n):
                            idx, q = leb(b, q); l, q = leb(b, q)
                            names[idx] = b[q:q + l].decode('utf8', 'replace'); q += l
                    k = se
        i = end
    out = Counter()
    for n, size in enumerate(bodies):
        out[demangle(names.get(imports + n, f'func{imports + n}'))] += size
    return out

def demangle(s):
    if not s.startswith('_ZN'):
        return s
    parts, i = [], 3
    while i < len(s) and s[i].isdigit():
        j = i
        while s[j].isdigit(): j += 1
        l = int(s[i:j]); parts.append(s[j:j + l]); i = j + l
    if parts and re.fullmatch(r'h[0-9a-f]{16}', parts[-1]): parts.pop()
    return '::'.join(parts).replace('$LT$', '<').replace('$GT$', '>').replace('$u20$', ' ').replace('..', '::').replace('$C$', ',').replace('$RF$', '&')

args = [a for a in sys.argv[1:] if not a.startswith('--')]
group = '--group' in sys.argv
new = funcs(args[0]); base = funcs(args[1]) if len(args) > 1 else Counter()
if group:
    key = lambda n: '::'.join(re.sub(r'^_<|^<', '', n).split('::')[:2])
    g = lambda c: sum((Counter({key(k): v}) for k, v in c.items()), Counter())
    new, base = g(new), g(base)
rows = sorted(set(new) | set(base), key=lambda k: -(new[k] - base[k]))
print(f"total code bytes: {sum(new.values())}" + (f" (base {sum(base.values())}, +{sum(new.values()) - sum(base.values())})" if base else ""))
for k in rows[:40]:
    print(f"{new[k] - base[k]:+8d} {new[k]:8d}  {k[:150]}")
