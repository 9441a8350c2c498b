# patch_decoder: the patcher's x86-64 instruction decoder (libtrace/x86len.c) agrees with
# objdump on the instruction boundaries of every function in real libraries (libc, libstdc++,
# liballoctrace itself) and the Rust fixture, and refuses nothing compilers emit there.
. "$TESTS/lib.sh"
command -v objdump >/dev/null 2>&1 || skip "objdump not found"
libs="$ATR_LIB $PROGS/fake_rust_shim"
for l in libc.so.6 libstdc++.so.6 libzstd.so.1; do
  p=$(ldconfig -p 2>/dev/null | awk -v l="$l" '$1 == l && /x86-64/ {print $NF; exit}')
  [ -n "$p" ] && libs="$libs $p"
done
for f in $libs; do
  "$PROGS/x86len_check" "$f" >"$T/ours.txt" 2>"$T/ours.err"
  objdump -d -w --no-show-raw-insn "$f" >"$T/objdump.txt" 2>/dev/null
  res=$("$PY" - "$T/ours.txt" "$T/objdump.txt" <<'PYEOF'
import re, sys
starts, funcs, fails, n = set(), [], 0, 0
for line in open(sys.argv[1]):
    p = line.split()
    if p[0] == "F":
        funcs.append((int(p[1], 16), int(p[2], 16)))
    elif p[0] == "FAIL":
        fails += 1
    else:
        starts.add(int(p[0], 16))
od = set()
pat = re.compile(r"^\s+([0-9a-f]+):\t")
for line in open(sys.argv[2]):
    m = pat.match(line)
    if m:
        od.add(int(m.group(1), 16))
# inside each function, the two decoders must start instructions at the same addresses
diff = 0
sfuncs = sorted(funcs)
for a in starts:
    if a not in od:
        diff += 1
for s, size in sfuncs:
    for a in range(s, s + size):
        if a in od and a not in starts:
            diff += 1
            break
print(len(starts), fails, diff)
PYEOF
)
  set -- $res
  name=$(basename "$f")
  expect_eq "$name: functions the decoder refused" "$2" 0
  expect_eq "$name: instruction boundaries differing from objdump ($1 instructions)" "$3" 0
done
finish
