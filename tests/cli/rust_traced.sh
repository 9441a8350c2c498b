# rust_traced: the cooperative layer. The dependency-free crate libtrace/bindings/rust is
# compiled with plain rustc and wraps the counting allocator of tests/rust/rust_counting.rs
# (alloctrace::Traced<Counting>) in a fat-LTO build, where no patch can reach: every
# allocation of the 9 threads is reported with Rust's exact size and alignment, once
# (System's own libc calls are suppressed). Without the tracer the wrapper is a no-op.
. "$TESTS/lib.sh"
. "$TESTS/rust/rustc.sh"

"$RUSTC" --edition 2021 --crate-type rlib --crate-name alloctrace -O \
  -o "$T/liballoctrace.rlib" "$SRCDIR/libtrace/bindings/rust/src/lib.rs" 2>"$T/crate.err"
expect_eq "the crate builds with plain rustc, warning-free" "$?:$(wc -c <"$T/crate.err")" "0:0"
layer=api
[ "$RUST_MINOR" -lt 71 ] && layer=shim # the patched shim holds the guard: reports are suppressed
rust_build rt_lto -O -C lto=fat --cfg traced --extern "alloctrace=$T/liballoctrace.rlib" \
  "$RS/rust_counting.rs"
"$T/rt_lto" >"$T/plain.out" 2>&1
expect_eq "untraced: runs" "$?" 0
expect_eq "untraced: the wrapper knows it is not traced" "$(grep '^tracing' "$T/plain.out")" "tracing false"
trace rt_lto "$T/rt_lto"
expect_eq "traced: exits 0" "$?" 0
expect_eq "traced: the wrapper found the recorder" "$(grep '^tracing' "$T/rt_lto.out")" "tracing true"
expect_eq "same result with and without the tracer" "$(tail -1 "$T/rt_lto.out")" "$(tail -1 "$T/plain.out")"
rust_check rt_lto $layer
J=$T/rt_lto.json
[ $layer = api ] && expect_eq "layers" "$(jget "$J" layers)" '["libc", "cooperative API"]'
expect_eq "inconsistencies" "$(jget "$J" recorder.inconsistencies)" 0
expect_match "top call site is the program's, demangled (past Traced and the counter)" \
  "$(top_function rt_lto)" '^rust_counting::work'
expect_eq "align 4096 allocations (one Box per thread)" \
  "$("$PY" -c 'import json,sys; print([a["count"] for a in json.load(open(sys.argv[1]))["alignment"] if a["align"] == 4096])' "$J")" "[9]"
finish
