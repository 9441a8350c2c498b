# rust_debian_programs: real Rust programs from Debian (ripgrep, fd-find: stripped, built
# with Debian's rustc, System allocator) run under alloctrace without crashing or changing
# their output, and the totals agree with heaptrack's on the same command: calls to
# allocation functions and temporary allocations within 1% (or 3), leaked bytes within 2%
# (or 64 B), peak heap plus 72704 B within 1%: heaptrack's preload library brings in
# libstdc++, whose emergency exception pool (one 72704-byte malloc at load, freed at exit)
# heaptrack counts as the program's.
# Each program is skipped when it or heaptrack is not installed.
. "$TESTS/lib.sh"
command -v heaptrack >/dev/null 2>&1 && command -v heaptrack_print >/dev/null 2>&1 ||
  skip "heaptrack not installed"

# heaptrack_print's SI-suffixed numbers -> integers
ht_number() {
  "$PY" -c '
import re, sys
text = open(sys.argv[1]).read()
m = re.search(sys.argv[2] + r":\s*([0-9.]+)([KMGT]?)", text)
mult = {"": 1, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}
print(int(round(float(m.group(1)) * mult[m.group(2)])) if m else "missing")
' "$1" "$2"
}

# close NAME OURS THEIRS REL ABS: |ours - theirs| <= max(ABS, REL * theirs)
close() {
  if "$PY" -c 'import sys; o, t, r, a = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]); sys.exit(0 if abs(o - t) <= max(a, r * t) else 1)' "$2" "$3" "$4" "$5" 2>/dev/null; then
    ok "$1: alloctrace $2, heaptrack $3"
  else
    not_ok "$1: alloctrace $2, heaptrack $3 (tolerance ${4}x or $5)"
  fi
}

ran=0
for prog in "rg -j1 --no-config -c alloc $SRCDIR/libtrace" \
            "fdfind -j1 --no-ignore -e c . $SRCDIR/libtrace"; do
  set -- $prog
  name=$1
  command -v "$name" >/dev/null 2>&1 || { echo "# $name not installed"; continue; }
  ran=1
  "$@" >"$T/$name.plain" 2>&1
  want_rc=$?
  "$ATR" run -q -o "$T/$name.zst" -- "$@" >"$T/$name.out" 2>"$T/$name.err"
  expect_eq "$name: exit status unchanged under alloctrace" "$?" "$want_rc"
  expect_eq "$name: output unchanged" "$(sort "$T/$name.out" | md5sum)" "$(sort "$T/$name.plain" | md5sum)"
  "$ATR" summary --json "$T/$name.zst" >"$T/$name.json" 2>>"$T/$name.err"
  J=$T/$name.json
  expect_eq "$name: trace complete" "$(jget "$J" recorder.complete)" true
  expect_eq "$name: inconsistencies" "$(jget "$J" recorder.inconsistencies)" 0
  heaptrack -o "$T/$name.ht" "$@" >"$T/$name.ht.out" 2>&1
  heaptrack_print "$T/$name.ht.zst" >"$T/$name.ht.txt" 2>/dev/null ||
    heaptrack_print "$T/$name.ht.gz" >"$T/$name.ht.txt" 2>/dev/null
  close "$name: calls to allocation functions" "$(jget "$J" totals.allocations)" \
    "$(ht_number "$T/$name.ht.txt" 'calls to allocation functions')" 0.01 3
  close "$name: temporary allocations" "$(jget "$J" totals.temporary)" \
    "$(ht_number "$T/$name.ht.txt" 'temporary memory allocations')" 0.01 3
  close "$name: leaked bytes" "$(jget "$J" totals.leaked_bytes)" \
    "$(ht_number "$T/$name.ht.txt" 'total memory leaked')" 0.02 64
  # the pool is live from load to exit, so it is always part of heaptrack's peak;
  # heaptrack_print rounds to 3 significant digits after the K/M suffix
  close "$name: peak heap (+ heaptrack's 72704-byte pool)" \
    "$(( $(jget "$J" totals.peak_bytes) + 72704 ))" \
    "$(ht_number "$T/$name.ht.txt" 'peak heap memory consumption')" 0.01 64
done
[ $ran = 1 ] || skip "neither ripgrep nor fd-find is installed"
finish
