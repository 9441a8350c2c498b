# rust_jemalloc: a Rust program whose global allocator is a statically linked jemalloc
# (tests/rust/jemalloc: jemalloc-sys from Debian's librust-jemalloc-sys-dev, built with
# cargo offline against /usr/share/cargo/registry). It never calls libc's malloc, so only
# the hooked `_rjem_*` entry points can see it: every call its allocator logged must be in
# the trace with its size and alignment, once. Skipped without cargo or the package.
# Building jemalloc takes minutes, so the cargo target directory is kept in the build
# tree ($PROGS/../rust-jemalloc) and later runs take seconds.
. "$TESTS/lib.sh"
. "$TESTS/rust/rustc.sh"

REG=/usr/share/cargo/registry
ls -d "$REG"/jemalloc-sys-0.3.* >/dev/null 2>&1 ||
  skip "librust-jemalloc-sys-dev is not installed ($REG/jemalloc-sys-0.3.*)"
CARGO=$(command -v cargo 2>/dev/null || true)
[ -z "$CARGO" ] && [ -x "${HOME:-/nonexistent}/.cargo/bin/cargo" ] && CARGO=$HOME/.cargo/bin/cargo
[ -n "$CARGO" ] || skip "cargo not found (PATH or ~/.cargo/bin)"
command -v make >/dev/null 2>&1 || skip "make not found (jemalloc-sys runs configure and make)"

CACHE=$(cd "$PROGS/.." && pwd)/rust-jemalloc
mkdir -p "$CACHE/src/src" "$CACHE/src/.cargo"
cp "$RS/jemalloc/Cargo.toml" "$CACHE/src/Cargo.toml"
cp "$RS/jemalloc/src/main.rs" "$CACHE/src/src/main.rs"
cp "$RS/truth.rs" "$CACHE/truth.rs"
cat >"$CACHE/src/.cargo/config.toml" <<CFG
[source.crates-io]
replace-with = "debian"
[source.debian]
directory = "$REG"
[net]
offline = true
CFG
( cd "$CACHE/src" && CARGO_TARGET_DIR="$CACHE/target" RUSTC="$RUSTC" CARGO_BUILD_JOBS=2 \
    nice -n 5 "$CARGO" build --release --offline --quiet ) >"$T/cargo.log" 2>&1 ||
  skip "cargo cannot build against $REG: $(tail -c 600 "$T/cargo.log")"
BIN=$CACHE/target/release/rust_jemalloc
cp "$BIN" "$T/rust_jemalloc"

trace je "$T/rust_jemalloc"
expect_eq "exits 0 under the tracer" "$?" 0
expect_match "ran" "$(tail -1 "$T/je.out")" '^ok [0-9]+$'
rust_check je jemalloc
J=$T/je.json
expect_match "layers include the static allocator" "$(jget "$J" layers)" 'static jemalloc/mimalloc'
expect_eq "inconsistencies" "$(jget "$J" recorder.inconsistencies)" 0
expect_match "top call site is the program's, demangled (past the allocator)" \
  "$(top_function je)" '^rust_jemalloc::work'
expect_eq "align 4096 allocations (one Box per thread)" \
  "$("$PY" -c 'import json,sys; print([a["count"] for a in json.load(open(sys.argv[1]))["alignment"] if a["align"] == 4096])' "$J")" "[9]"
finish
