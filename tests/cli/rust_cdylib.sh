# rust_cdylib: a Rust cdylib (tests/rust/rust_cdylib.rs, default allocator) dlopened by
# a C program (tests/progs/rust_cdylib_host.c): its shims appear only after dlopen, are
# patched then, and record exactly what the library logged; frames are the library's
# own demangled functions.
. "$TESTS/lib.sh"
. "$TESTS/rust/rustc.sh"

rust_build librust_cdylib.so --crate-type cdylib -C symbol-mangling-version=v0 "$RS/rust_cdylib.rs"
trace cd "$PROGS/rust_cdylib_host" "$T/librust_cdylib.so"
expect_eq "host exits 0 under the tracer" "$?" 0
expect_match "library ran" "$(tail -1 "$T/cd.out")" '^ok [0-9]+$'
rust_check cd shim
J=$T/cd.json
expect_eq "layers" "$(jget "$J" layers)" '["libc", "Rust allocator shim"]'
expect_eq "inconsistencies" "$(jget "$J" recorder.inconsistencies)" 0
expect_match "top call site: the library's function, demangled" "$(top_function cd)" \
  '^rust_cdylib::phase::(get|aligned_blocks)$'
expect_eq "its module" "$(jget "$J" top.allocations.0.module | sed 's|.*/||')" librust_cdylib.so
finish
