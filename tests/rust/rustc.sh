# Shared by the Rust tests (sourced after tests/lib.sh): finds rustc on PATH or in
# ~/.cargo/bin and skips the test cleanly (exit 77) when there is none; rust_build
# compiles one program with plain rustc (no cargo, no crates) into $T.
RUSTC=$(command -v rustc 2>/dev/null || true)
if [ -z "$RUSTC" ] && [ -x "${HOME:-/nonexistent}/.cargo/bin/rustc" ]; then
  RUSTC=$HOME/.cargo/bin/rustc
fi
[ -n "$RUSTC" ] || skip "rustc not found (PATH or ~/.cargo/bin)"
RUST_VERSION=$("$RUSTC" --version 2>/dev/null | awk '{print $2}')
RUST_MINOR=$(printf '%s' "$RUST_VERSION" | cut -d. -f2)
[ -n "$RUST_MINOR" ] || skip "rustc does not run: $("$RUSTC" --version 2>&1 | head -c 200)"
RS=$SRCDIR/tests/rust

# rust_build OUT RUSTC-ARGS...: OUT in $T; a compiler that cannot build it skips the test
rust_build() {
  local out=$1; shift
  "$RUSTC" --edition 2021 -g -o "$T/$out" "$@" 2>"$T/$out.rustc.err" ||
    skip "rustc $RUST_VERSION cannot build $out: $(head -c 400 "$T/$out.rustc.err")"
}

# rust_check NAME LAYER: traces $T/NAME (already run by `trace`) against its printed truth
rust_check() {
  "$ATR" dump "$T/$1.zst" >"$T/$1.dump"
  local res
  res=$("$PY" "$RS/truth.py" "$T/$1.dump" "$T/$1.out" "$2")
  local rc=$?
  printf '%s\n' "$res" | sed 's/^/# /'
  if [ $rc = 0 ]; then
    ok "$1: every allocation of every slot as the $2 layer must see it ($(printf '%s' "$res" | tail -1))"
  else
    not_ok "$1: trace differs from the program's ground truth ($2 layer): $(printf '%s' "$res" | grep -v ' ok$' | head -3 | tr '\n' ' ')"
  fi
}

# the summary's top allocating call site is a demangled function of the program
top_function() {
  jget "$T/$1.json" top.allocations.0.function
}
