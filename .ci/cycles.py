#!/usr/bin/env python3
"""Import cycles between the top-level modules of src/: prints them and
exits 1 when there are any (dependencies must run one way). A module's
tests are left out: they may use anything."""
import os,re,sys,itertools
root=os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'src')
mods={}
for name in os.listdir(root):
    p=os.path.join(root,name)
    if name in ('lib.rs','bin'): continue
    m=name[:-3] if name.endswith('.rs') else name
    files=[]
    if os.path.isdir(p):
        for d,_,fs in os.walk(p):
            files+= [os.path.join(d,f) for f in fs if f.endswith('.rs')]
    else: files=[p]
    deps=set()
    for f in files:
        txt=open(f).read()
        # drop test modules crudely: ignore files named tests.rs
        if f.endswith('tests.rs'): continue
        cut=txt.find('#[cfg(test)]\nmod tests')
        if cut>=0: txt=txt[:cut]
        for mm in re.findall(r'crate::([a-z_]+)', txt):
            if mm!=m: deps.add(mm)
        for mm in re.findall(r'use crate::\{([^}]*)\}', txt):
            for x in re.findall(r'([a-z_]+)', mm):
                if x!=m: deps.add(x)
    mods[m]=deps
# find cycles via DFS SCC
import collections
index={};low={};stack=[];on=set();sccs=[];i=[0]
def strong(v):
    index[v]=low[v]=i[0];i[0]+=1;stack.append(v);on.add(v)
    for w in mods.get(v,()):
        if w not in mods: continue
        if w not in index:
            strong(w);low[v]=min(low[v],low[w])
        elif w in on: low[v]=min(low[v],index[w])
    if low[v]==index[v]:
        c=[]
        while True:
            w=stack.pop();on.discard(w);c.append(w)
            if w==v: break
        if len(c)>1: sccs.append(c)
sys.setrecursionlimit(10000)
for v in mods:
    if v not in index: strong(v)
if not sccs:
    print("no import cycles between the modules of src/")
for c in sccs:
    print("import cycle:", " <-> ".join(sorted(c)))
    for a in c:
        print(" ", a, "->", sorted(d for d in mods[a] if d in c))
sys.exit(1 if sccs else 0)
