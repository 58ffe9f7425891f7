# Compares tokenizers' NFD/NFKD (nres.json from probe_normalization.js) with utf8proc's and
# writes opaque.json: the code points tokenizers' older normalization tables do not know.
import ctypes, json
lib = ctypes.CDLL('libutf8proc.so.2')
lib.utf8proc_NFKD.restype = ctypes.c_void_p
lib.utf8proc_NFD.restype = ctypes.c_void_p
d = json.load(open('nres.json'))
opaque = set()
for name, f in [('NFKD', lib.utf8proc_NFKD), ('NFD', lib.utf8proc_NFD)]:
    for c, hf in zip(d['cands'], d['out'][name]):
        s = 'x\u0345' + chr(c)
        if ctypes.string_at(f(s.encode())).decode() != hf:
            opaque.add(c)
ranges = []
for c in sorted(opaque):
    if ranges and ranges[-1][1] == c - 1: ranges[-1][1] = c
    else: ranges.append([c, c])
json.dump(ranges, open('opaque.json', 'w'))
print(len(opaque), 'code points in', len(ranges), 'ranges')
