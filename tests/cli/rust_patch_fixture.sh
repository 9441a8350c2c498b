# rust_patch_fixture: the code patcher on a gcc-built fake of a Rust program
# (tests/progs/fake_rust_shim.c documents every number), no Rust toolchain needed.
# Shims named as rustc >= 1.8x mangles them and with the old plain names are patched and
# record Rust's size and align, nothing is counted twice, unexpected bytes are refused
# with a NOTE that `run` prints, static jemalloc/mimalloc entries are detoured (a short
# branch in the prologue included), and ALLOCTRACE_PATCH=abs (14-byte jumps only) and
# ALLOCTRACE_PATCH=0 behave as documented.
. "$TESTS/lib.sh"

# events FILE.zst: "kind size align" of every allocation/reallocation, in order, and
# "live K" for blocks of the fixture's kinds still live at exit
events() {
  "$ATR" dump "$1" | "$PY" -c '
import json, sys
live = {}
for line in sys.stdin:
    e = json.loads(line)
    if "event" not in e:
        continue
    if "old_block" in e:
        live.pop(e["old_block"], None)
    if e["event"] in ("alloc", "realloc") and "block" in e:
        print(e["kind"], e["size"], e["align"])
        live[e["block"]] = e["kind"]
print("live", sum(1 for k in live.values() if k != "malloc"))
'
}

for variant in fake_rust_shim fake_rust_shim_legacy; do
  "$ATR" run -o "$T/$variant.zst" -- "$PROGS/$variant" >"$T/$variant.out" 2>"$T/$variant.err"
  expect_eq "$variant exits 0 under the tracer" "$?" 0
  expect_eq "$variant checked every block" "$(cat "$T/$variant.out")" ok
  got=$(events "$T/$variant.zst" | grep -v '^malloc ' | tr '\n' ',')
  expect_eq "$variant: every allocation with Rust's size and align, once" "$got" \
    "__rust_alloc 24 8,__rust_alloc 100 1,__rust_alloc 64 64,__rust_alloc 4096 4096,__rust_alloc 8 128,__rust_realloc 48 8,__rust_realloc 96 8,calloc 40 0,jemalloc 100 64,jemalloc 200 0,mimalloc 33 0,live 0,"
  expect_eq "$variant: the refused dallocx's block seen by libc" \
    "$(events "$T/$variant.zst" | grep -c '^malloc 10 0$')" 1
  err=$(cat "$T/$variant.err")
  expect_match "$variant: run prints the refused shim" "$err" \
    "alloctrace: note: __rust_alloc_zeroed at 0x[0-9a-f]+ in $variant: unexpected bytes 55 48 89 e5 [^;]*; not patched \(LTO/custom allocator: libc layer only\)"
  expect_match "$variant: run prints the refused detour" "$err" \
    "alloctrace: note: jemalloc _rjem_dallocx at 0x[0-9a-f]+ in $variant: a branch targets the prologue; not patched"
  "$ATR" summary --json "$T/$variant.zst" >"$T/$variant.json"
  J=$T/$variant.json
  expect_eq "$variant: layers" "$(jget "$J" layers)" \
    '["libc", "Rust allocator shim", "static jemalloc/mimalloc"]'
  expect_eq "$variant: notes in the trace" "$(jget "$J" recorder.notes | grep -o 'not patched' | wc -l)" 2
  expect_eq "$variant: inconsistencies" "$(jget "$J" recorder.inconsistencies)" 0
  expect_eq "$variant: align 4096 allocations" \
    "$("$PY" -c 'import json,sys; print([a["count"] for a in json.load(open(sys.argv[1]))["alignment"] if a["align"] == 4096])' "$J")" "[1]"
  expect_eq "$variant: top allocating function" "$(jget "$J" top.allocations.0.function)" main
done

# 14-byte absolute jumps only: __rust_alloc has 11 bytes of int3 padding and is patched;
# dealloc and realloc (no room) and the short detours are refused and go to libc instead.
ALLOCTRACE_PATCH=abs "$ATR" run -o "$T/abs.zst" -- "$PROGS/fake_rust_shim" >"$T/abs.out" 2>"$T/abs.err"
expect_eq "abs: exits 0" "$?" 0
expect_eq "abs: output" "$(cat "$T/abs.out")" ok
got=$(events "$T/abs.zst" | grep -E '^(__rust|realloc|posix_memalign|jemalloc|live)' | tr '\n' ',')
expect_eq "abs: 14-byte jump shim patched, the others seen by libc" "$got" \
  "__rust_alloc 24 8,__rust_alloc 100 1,__rust_alloc 64 64,__rust_alloc 4096 4096,__rust_alloc 8 128,realloc 48 0,realloc 96 0,jemalloc 100 64,realloc 200 0,live 0,"
expect_match "abs: refusal says why" "$(cat "$T/abs.err")" \
  "note: __rust_(dealloc|realloc) at 0x[0-9a-f]+ in fake_rust_shim: no room for a 14-byte jump"

# no patching: what the libc layer alone sees of the same program
ALLOCTRACE_PATCH=0 "$ATR" run -o "$T/off.zst" -- "$PROGS/fake_rust_shim" >"$T/off.out" 2>"$T/off.err"
expect_eq "off: exits 0" "$?" 0
got=$(events "$T/off.zst" | grep -vE '^(malloc 10|malloc [0-9]{4,}) ' | tr '\n' ',')
expect_eq "off: libc layer only" "$got" \
  "malloc 24 0,malloc 100 0,posix_memalign 64 64,posix_memalign 4096 4096,posix_memalign 8 128,realloc 48 0,realloc 96 0,calloc 40 0,posix_memalign 100 64,realloc 200 0,malloc 33 0,live 0,"
expect_no_match "off: no note" "$(cat "$T/off.err")" "note:"
finish
