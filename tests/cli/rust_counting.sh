# rust_counting: a counting #[global_allocator] (tests/rust/rust_counting.rs, 9 threads)
# whose own log is the ground truth, built with plain rustc in debug and release. Since
# rustc 1.71 the shim of a custom allocator is its inlined body, not a jump (no patch can
# follow it: the trace says so), so the libc layer must see exactly what System makes of
# every logged call; with an older rustc the shim jumps to __rg_* and is patched.
. "$TESTS/lib.sh"
. "$TESTS/rust/rustc.sh"

layer=libc
[ "$RUST_MINOR" -lt 71 ] && layer=shim
rust_build rc_debug -C opt-level=0 "$RS/rust_counting.rs"
rust_build rc_release -O "$RS/rust_counting.rs"
for b in rc_debug rc_release; do
  trace $b "$T/$b"
  expect_eq "$b exits 0 under the tracer" "$?" 0
  expect_match "$b ran" "$(tail -1 "$T/$b.out")" '^ok [0-9]+$'
  rust_check $b $layer
  J=$T/$b.json
  expect_eq "$b: inconsistencies" "$(jget "$J" recorder.inconsistencies)" 0
  expect_match "$b: top call site is the program's, demangled (past the allocator)" \
    "$(top_function $b)" '^rust_counting::work'
  if [ $layer = libc ]; then
    expect_match "$b: the trace says why the shims were not patched" "$(jget "$J" recorder.notes)" \
      '__rust_alloc at 0x[0-9a-f]+ in '$b': unexpected bytes'
  fi
done
finish
