# rust_default: a Rust program on the default allocator (tests/rust/rust_default.rs, 9
# threads), built with plain rustc in debug (v0 mangling) and release (legacy, the default):
# the patched allocator shims record every allocation, reallocation and free with exactly
# the size and alignment the program logged (aligns 1..4096, Vec doubling), nothing is
# counted twice by the libc layer, and the summary names the program's own functions.
. "$TESTS/lib.sh"
. "$TESTS/rust/rustc.sh"

rust_build rd_debug -C opt-level=0 -C symbol-mangling-version=v0 "$RS/rust_default.rs"
rust_build rd_release -O "$RS/rust_default.rs"
for b in rd_debug rd_release; do
  trace $b "$T/$b"
  expect_eq "$b exits 0 under the tracer" "$?" 0
  expect_match "$b ran" "$(tail -1 "$T/$b.out")" '^ok [0-9]+$'
  rust_check $b shim
  J=$T/$b.json
  expect_eq "$b: layers" "$(jget "$J" layers)" '["libc", "Rust allocator shim"]'
  expect_eq "$b: no note (every shim patched)" "$(jget "$J" recorder.notes)" "[]"
  expect_eq "$b: inconsistencies" "$(jget "$J" recorder.inconsistencies)" 0
  expect_match "$b: top call site is the program's, demangled" "$(top_function $b)" \
    '^rust_default::phase::(get|aligned_blocks)$'
  expect_eq "$b: Vec growth call site" "$(jget "$J" top.allocations.1.function)" \
    rust_default::phase::vec_growth
  # per align: 9 slots x the layouts of phase.rs (allocations and reallocations)
  expect_eq "$b: alignment histogram" \
    "$("$PY" -c 'import json,sys; print(" ".join("%d:%d" % (a["align"], a["count"]) for a in json.load(open(sys.argv[1]))["alignment"]))' "$J")" \
    "1:47 2:9 4:9 8:143 16:9 32:9 64:27 128:18 256:9 512:9 1024:9 2048:9 4096:18"
done
"$ATR" summary "$T/rd_release.zst" >"$T/rd_release.txt"
expect_match "summary text: layers" "$(cat "$T/rd_release.txt")" \
  'seen through: +libc, Rust allocator shim'
expect_match "summary text: over-aligned allocations and their padding" \
  "$(cat "$T/rd_release.txt")" 'over-aligned allocations: .*18 x align 4096 \(padding <= '
finish
