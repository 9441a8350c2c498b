# rust_lto: the same program as rust_default, built with fat LTO: the shims are inlined
# away (no patch can see them), so the trace must say so (a NOTE that `run` prints) and
# the libc layer must see exactly what std's System allocator makes of each call:
# malloc/calloc/realloc with the size, posix_memalign(max(align, 8)) when over-aligned.
. "$TESTS/lib.sh"
. "$TESTS/rust/rustc.sh"

rust_build rd_lto -O -C lto=fat "$RS/rust_default.rs"
"$ATR" run -o "$T/rd_lto.zst" -- "$T/rd_lto" >"$T/rd_lto.out" 2>"$T/rd_lto.err"
expect_eq "rd_lto exits 0 under the tracer" "$?" 0
"$ATR" summary --json "$T/rd_lto.zst" >"$T/rd_lto.json"
rust_check rd_lto libc
J=$T/rd_lto.json
expect_eq "layers" "$(jget "$J" layers)" '["libc"]'
expect_match "run prints why the shims were not patched" "$(cat "$T/rd_lto.err")" \
  'alloctrace: note: __rust_(alloc|realloc|dealloc|alloc_zeroed) at 0x[0-9a-f]+ in rd_lto: unexpected bytes [0-9a-f ]+; not patched .*LTO/custom allocator: libc layer only'
expect_eq "inconsistencies" "$(jget "$J" recorder.inconsistencies)" 0
expect_match "top call site is the program's, demangled" "$(top_function rd_lto)" \
  '^rust_default::(phase::aligned_blocks|phase::vec_growth|main)$'
# only posix_memalign carries an alignment (9 slots: 64, 128 x2, 256 ... 4096 x2)
expect_eq "alignment histogram (posix_memalign only)" \
  "$("$PY" -c 'import json,sys; print(" ".join("%d:%d" % (a["align"], a["count"]) for a in json.load(open(sys.argv[1]))["alignment"]))' "$J")" \
  "32:9 64:27 128:18 256:9 512:9 1024:9 2048:9 4096:18"
finish
