# rust_cargo: `cargo build --release --offline` of a tiny crate (no dependencies) under
# `alloctrace run`. rustup's rustc executable defines jemalloc's unprefixed malloc,
# free, calloc, realloc, posix_memalign, aligned_alloc, memalign and valloc, and an
# executable comes before LD_PRELOAD in symbol lookup: every library's calls bind to it,
# so the libc layer sees nothing of rustc (heaptrack reports 0 there) and only the detour
# of the program's own malloc does. The build succeeds and its program runs as natively;
# the summary lists the run's images (cargo, each rustc, the linker); every image's trace
# decodes, complete and consistent; each rustc image has allocations, and where rustc
# defines malloc (nm says so) they are seen through the own-malloc layer, with the note
# naming rustc. Skipped without cargo or rustc (fresh Debian has neither).
. "$TESTS/lib.sh"
. "$TESTS/rust/rustc.sh"
CARGO=$(command -v cargo 2>/dev/null || true)
[ -z "$CARGO" ] && [ -x "${HOME:-/nonexistent}/.cargo/bin/cargo" ] && CARGO=$HOME/.cargo/bin/cargo
[ -n "$CARGO" ] || skip "cargo not found (PATH or ~/.cargo/bin)"
# the compiler cargo runs (`rustc` may be rustup's proxy, which execs it)
REAL=$("$RUSTC" --print sysroot 2>/dev/null)/bin/rustc
[ -x "$REAL" ] || skip "no rustc under $("$RUSTC" --print sysroot 2>&1 | head -c 200)"
OWN=unknown
if command -v nm >/dev/null 2>&1; then
  OWN=no
  nm -D --defined-only "$REAL" 2>/dev/null | awk '$3 == "malloc" { f = 1 } END { exit !f }' &&
    OWN=yes
fi
echo "# rustc $RUST_VERSION at $REAL; defines malloc itself: $OWN"

mkdir -p "$T/tiny/src"
cat >"$T/tiny/Cargo.toml" <<'TOML'
[package]
name = "tiny"
version = "0.1.0"
edition = "2021"
TOML
cat >"$T/tiny/src/main.rs" <<'RS'
fn main() {
    let v: Vec<u64> = (1..=10).collect();
    println!("sum {}", v.iter().sum::<u64>());
}
RS
export CARGO_TARGET_DIR=$T/target CARGO_BUILD_JOBS=2 RUSTC="$REAL"
( cd "$T/tiny" && timeout 300 "$ATR" run -o "$T/cargo.zst" -- "$CARGO" build --release --offline ) \
  >"$T/cargo.out" 2>"$T/cargo.err"
rc=$?
[ $rc = 0 ] || echo "# $(tail -c 800 "$T/cargo.err" | tr '\n' ' ')"
expect_eq "cargo build under the tracer exits 0" "$rc" 0
expect_eq "the program it built runs" "$("$T/target/release/tiny")" "sum 55"

"$ATR" summary "$T/cargo.zst" >"$T/cargo.txt" 2>&1
expect_eq "summary exits 0" "$?" 0
expect_match "PROCESSES lists the rustc that built the crate" \
  "$(sed -n '/^PROCESSES/,$p' "$T/cargo.txt")" "  $REAL --crate-name tiny "
"$ATR" summary --json "$T/cargo.zst" >"$T/cargo.json"

# every image: decodes, complete, consistent; rustc's: its calls and layers
"$PY" - "$ATR" "$T/cargo.zst" "$T/cargo.json" "$REAL" >"$T/images.txt" <<'PYEOF'
import json, subprocess, sys
atr, trace, root, real = sys.argv[1:]
procs = json.load(open(root)).get("processes", [])
print("images", len(procs))
for p in procs:
    sel = "%s@%d%s" % (trace, p["pid"], ".%d" % p["image"] if p["image"] else "")
    r = subprocess.run([atr, "summary", "--json", sel], capture_output=True, text=True)
    ok = r.returncode == 0
    j = json.loads(r.stdout) if ok else None
    ok = ok and j["recorder"]["complete"] and j["recorder"]["inconsistencies"] == 0
    print("decodes" if ok else "broken", p["pid"], p["image"], p["command"][:100])
    if ok and p["command"].startswith(real + " "):
        own = sum(n for k, n in j["kinds"].items() if k.startswith("own "))
        notes = [n for n in j["recorder"]["notes"] if n.startswith(real + " defines malloc itself")]
        print("rustc", j["totals"]["allocations"], own,
              ",".join(l.replace(" ", "_") for l in j["layers"]) or "-",
              j["totals"]["unknown_frees"], notes[0] if notes else "-")
        if " --crate-name tiny " in p["command"]:
            print("main", sel, j["totals"]["allocations"])
PYEOF
sed 's/^/# /' "$T/images.txt"
images=$(awk '$1 == "images" { print $2 }' "$T/images.txt")
expect_match "the run has images (cargo, rustc, the linker)" "$images" '^([4-9]|[1-9][0-9]+)$'
expect_eq "every image's trace decodes, complete with 0 inconsistencies" \
  "$(grep -c '^decodes ' "$T/images.txt")" "$images"
rustcs=$(grep -c '^rustc ' "$T/images.txt")
expect_match "rustc images (cargo asks rustc -vV, then builds)" "$rustcs" '^[2-9]$'
expect_eq "rustc images without an allocation (rustc -vV makes ~780)" \
  "$(awk '$1 == "rustc" && $2 == 0' "$T/images.txt" | wc -l)" 0
# libLLVM's constructors run before liballoctrace's; the tracer starts at their first
# __cxa_atexit, so what they allocate is seen and its frees are no unknown frees
expect_eq "rustc images with unknown frees" \
  "$(awk '$1 == "rustc" && $5 != 0' "$T/images.txt" | wc -l)" 0
set -- $(awk '$1 == "main" { print $2, $3 }' "$T/images.txt")
expect_match "the rustc that compiled the crate: thousands of calls" "${2:-none}" '^[0-9]{4,}$'
MAIN=${1:-none}
if [ "$OWN" = yes ]; then
  expect_eq "every rustc image seen through its own malloc, all of its calls" \
    "$(awk '$1 == "rustc" && $3 == $2 && $4 == "own_malloc"' "$T/images.txt" | wc -l)" "$rustcs"
  expect_eq "every rustc image's note: traced through a detour" \
    "$(grep -c "^rustc .* $REAL defines malloc itself; traced through a detour of [0-9]* functions\$" "$T/images.txt")" \
    "$rustcs"
  "$ATR" summary "$MAIN" >"$T/main.txt" 2>&1
  expect_match "summary of that rustc: seen through its own malloc" \
    "$(grep 'seen through' "$T/main.txt")" 'seen through: +own malloc$'
  expect_match "summary of that rustc: the note" "$(cat "$T/main.txt")" \
    "^  note: $REAL defines malloc itself; traced through a detour of [0-9]+ functions\$"
else
  ok "own-malloc layer # SKIP this rustc does not define malloc itself ($OWN)"
fi
finish
