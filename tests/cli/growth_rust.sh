# growth_rust: a Rust Vec grown by push (tests/progs/growth_vec.rs, built here with plain
# rustc) is one realloc chain attributed to the user function past RawVec's growth frames,
# with exactly the sizes the program documents and the moves it counted itself; a Vec made
# with_capacity has no chain. Skipped when rustc is absent.
. "$TESTS/lib.sh"
command -v rustc >/dev/null 2>&1 || skip "rustc not found"
rustc -g -C opt-level=0 -o "$T/growth_vec" "$SRCDIR/tests/progs/growth_vec.rs" 2>"$T/rustc.err" ||
  skip "rustc cannot build a plain program: $(head -c 300 "$T/rustc.err")"

pyq() {
  "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
def by(lst, fn):
    m = [x for x in lst if x.get("function") == fn]
    return m[0] if m else None
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list)) else
      "true" if v is True else "false" if v is False else "null" if v is None else v)
PYEOF
}

timeout 60 "$ATR" run -q -o "$T/rs.zst" -- "$T/growth_vec" >"$T/rs.out" 2>"$T/rs.err"
expect_eq "traced Rust program exits 0" "$?" 0
truth=$(cat "$T/rs.out")
expect_match "program printed its ground truth" "$truth" '^vec_moves=[0-9]+ vec_copied=[0-9]+$'
tv() { printf '%s\n' "$truth" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
G=$T/rs_growth.json
expect_exit "growth --json" 0 "$ATR" growth --json "$T/rs.zst"
printf '%s\n' "$OUT" >"$G"
V='by(d["chains"], "growth_vec::push_u64s")'
expect_eq "Vec chain attributed to the pushing function" "$(pyq $G "$V is not None")" true
expect_eq "Vec sizes" "$(pyq $G "$V[\"sizes\"]")" "$("$PY" -c 'print([32 << i for i in range(16)])')"
expect_eq "Vec steps" "$(pyq $G "$V[\"steps\"]")" 15
expect_eq "Vec realloc steps" "$(pyq $G "$V[\"realloc_steps\"]")" 15
expect_eq "Vec factor" "$(pyq $G "$V[\"factor\"]")" 2.0
expect_eq "Vec moves (program's count)" "$(pyq $G "$V[\"moves\"]")" "$(tv vec_moves)"
expect_eq "Vec bytes copied (program's count)" "$(pyq $G "$V[\"bytes_copied\"]")" "$(tv vec_copied)"
expect_eq "Vec reserve hint" "$(pyq $G "$V[\"reserve_hint\"]")" 1048576
expect_eq "with_capacity has no chain" "$(pyq $G 'by(d["chains"], "growth_vec::with_capacity")')" null
finish
