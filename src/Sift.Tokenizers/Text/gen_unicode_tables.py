# Generates UnicodeNormalization.data (embedded resource) from Python's unicodedata.
# Needed because the app runs with InvariantGlobalization=true, where string.Normalize is a no-op.
# Lines: D cp seq (full canonical decomposition), K cp seq (full compat decomposition, only where != D),
#        C cp ccc (non-zero combining class), P a b composite (primary composition pairs). Hex, space separated.
import unicodedata as u, sys
out = []
for cp in range(0x110000):
    if 0xD800 <= cp <= 0xDFFF or 0xAC00 <= cp <= 0xD7A3: continue
    c = chr(cp)
    d = u.normalize('NFD', c); k = u.normalize('NFKD', c)
    if d != c: out.append('D %X %s' % (cp, ' '.join('%X' % ord(x) for x in d)))
    if k != d: out.append('K %X %s' % (cp, ' '.join('%X' % ord(x) for x in k)))
    cc = u.combining(c)
    if cc: out.append('C %X %X' % (cp, cc))
    raw = u.decomposition(c)
    if raw and not raw.startswith('<'):
        parts = raw.split()
        if len(parts) == 2 and u.normalize('NFC', c) == c:
            out.append('P %s %s %X' % (parts[0], parts[1], cp))
open(sys.argv[1], 'w').write('\n'.join(out) + '\n')
print(len(out))
