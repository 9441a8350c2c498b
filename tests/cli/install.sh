# install: after `meson install`, alloctrace finds its library, replayer and plot scripts
# relative to itself (no build tree, no ALLOCTRACE_LIB) and traces exactly.
. "$TESTS/lib.sh"
[ -n "${BUILD_ROOT:-}" ] || skip "BUILD_ROOT not set"
command -v meson >/dev/null || skip "meson not installed"
meson install -C "$BUILD_ROOT" --no-rebuild --quiet --destdir "$T/inst" >"$T/install.log" 2>&1 ||
  { cat "$T/install.log"; not_ok "meson install"; finish; }
BIN=$(find "$T/inst" -path '*/bin/alloctrace' -type f | head -1)
expect_match "installed alloctrace exists" "$BIN" "/bin/alloctrace$"
LIB=$(find "$T/inst" -name liballoctrace.so -type f | head -1)
expect_match "library installed under lib*/alloctrace" "$LIB" "/lib[^/]*(/[^/]+)?/alloctrace/liballoctrace.so$"
env -u ALLOCTRACE_LIB -u LD_LIBRARY_PATH "$BIN" run -q -o "$T/i.zst" -- "$PROGS/known"
expect_eq "run from the install tree exits 0" "$?" 0
"$BIN" summary --json "$T/i.zst" >"$T/i.json"
expect_eq "installed run: allocations" "$(jget "$T/i.json" totals.allocations)" 31
expect_eq "installed run: leaked" "$(jget "$T/i.json" totals.leaked_bytes)" 768
env -u ALLOCTRACE_REPLAYER "$BIN" replay --repeat 1 --allocator glibc "$T/i.zst" >"$T/r.txt" 2>&1
expect_eq "installed replay finds its replayer" "$?" 0
finish
