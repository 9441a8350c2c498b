# growth: `alloctrace growth --json` on tests/progs/growth_patterns (C realloc chains,
# leak suspects, histograms) and tests/progs/growth_vector (std::vector/std::string
# alloc+copy+free growth) matches the numbers both programs document; summary's GROWTH
# lines and "growth" key; bad input is one line and exit 2.
. "$TESTS/lib.sh"

# pyq FILE EXPR: evaluates EXPR with d = the JSON document, by(list, function) = the entry
# of that function (None if absent); prints JSON for lists/objects, else plainly.
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
# py EXPR: a Python expression's value, printed like pyq
py() { "$PY" -c "import json, math; v = $1; print(json.dumps(v) if isinstance(v, (dict, list)) else v)"; }

trace gp "$PROGS/growth_patterns" || not_ok "growth_patterns exits 0"
truth=$(cat "$T/gp.out")
tv() { printf '%s\n' "$truth" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
expect_match "program printed its ground truth" "$truth" '^doubling_moves=[0-9]+ .*loop_ms=[0-9]+'
G=$T/gp_growth.json
expect_exit "growth --json" 0 "$ATR" growth --json "$T/gp.zst"
printf '%s\n' "$OUT" >"$G"
expect_eq "schema" "$(pyq $G 'd["schema"]')" alloctrace.growth/1

# doubling: 8 B .. 1 MiB
D='by(d["chains"], "grow_doubling")'
expect_eq "doubling sizes" "$(pyq $G "$D[\"sizes\"]")" "$(py '[8 << i for i in range(18)]')"
expect_eq "doubling chains" "$(pyq $G "$D[\"chains\"]")" 1
expect_eq "doubling steps" "$(pyq $G "$D[\"steps\"]")" 17
expect_eq "doubling realloc steps" "$(pyq $G "$D[\"realloc_steps\"]")" 17
expect_eq "doubling factor" "$(pyq $G "$D[\"factor\"]")" 2.0
expect_eq "doubling moves (program's count)" "$(pyq $G "$D[\"moves\"]")" "$(tv doubling_moves)"
expect_eq "doubling bytes copied (program's count)" "$(pyq $G "$D[\"bytes_copied\"]")" "$(tv doubling_copied)"
expect_eq "doubling final size" "$(pyq $G "$D[\"final_size\"]")" 1048576
expect_eq "doubling reserve hint" "$(pyq $G "$D[\"reserve_hint\"]")" 1048576
expect_eq "doubling call site line" "$(pyq $G "$D[\"line\"]")" \
  "$(grep -n 'GROW_TO(p, size, size \* 2' "$SRCDIR/tests/progs/growth_patterns.c" | cut -d: -f1)"

# growth factor 1.5: cap += cap / 2 from 16 items of 8 bytes until 5000 fit
HALF='[c * 8 for c in __import__("itertools").accumulate(range(15), lambda c, _: c + c // 2, initial=16)]'
H='by(d["chains"], "grow_by_half")'
expect_eq "x1.5 sizes" "$(pyq $G "$H[\"sizes\"]")" "$(py "$HALF")"
expect_eq "x1.5 sizes end at the first capacity >= 5000 items" "$(py "$HALF[-1] >= 40000 > $HALF[-2]")" True
expect_eq "x1.5 steps" "$(pyq $G "$H[\"steps\"]")" 15
expect_eq "x1.5 factor" "$(pyq $G "$H[\"factor\"]")" "$(py "round(($HALF[-1] / 128) ** (1 / 15), 4)")"
expect_eq "x1.5 factor is 1.5 up to rounding" "$(pyq $G "abs($H[\"factor\"] - 1.5) < 0.002")" true
expect_eq "x1.5 moves (program's count)" "$(pyq $G "$H[\"moves\"]")" "$(tv half_moves)"
expect_eq "x1.5 bytes copied (program's count)" "$(pyq $G "$H[\"bytes_copied\"]")" "$(tv half_copied)"
expect_eq "x1.5 reserve hint" "$(pyq $G "$H[\"reserve_hint\"]")" 55416

# constant growth longer than the 128 sizes a chain keeps: every 4th size, then the last
L='by(d["chains"], "grow_linear")'
expect_eq "linear sizes (every 4th step + final)" "$(pyq $G "$L[\"sizes\"]")" "$(py '[16 * (1 + 4 * i) for i in range(75)] + [4800]')"
expect_eq "linear sizes stride" "$(pyq $G "$L[\"sizes_stride\"]")" 4
expect_eq "linear steps" "$(pyq $G "$L[\"steps\"]")" 299
expect_eq "linear longest chain steps" "$(pyq $G "$L[\"longest_steps\"]")" 299
expect_eq "linear factor" "$(pyq $G "$L[\"factor\"]")" "$(py 'round(300 ** (1 / 299), 4)')"
expect_eq "linear moves (program's count)" "$(pyq $G "$L[\"moves\"]")" "$(tv linear_moves)"
expect_eq "linear bytes copied (program's count)" "$(pyq $G "$L[\"bytes_copied\"]")" "$(tv linear_copied)"
expect_eq "linear reserve hint" "$(pyq $G "$L[\"reserve_hint\"]")" 4800

# no chain anywhere else: the reserved buffer, the cache, the stable workload
expect_eq "chain sites" "$(pyq $G 'sorted(c["function"] for c in d["chains"])')" \
  '["grow_by_half", "grow_doubling", "grow_linear"]'
expect_eq "reserved buffer has no chain" "$(pyq $G 'by(d["chains"], "reserve_up_front")')" null

# leak suspects: the growing cache is flagged, the stable workload is not
C='by(d["leak_suspects"], "cache_put")'
S='by(d["leak_suspects"], "stable_work")'
expect_eq "cache flagged" "$(pyq $G "$C[\"flagged\"]")" true
expect_eq "cache live at exit" "$(pyq $G "$C[\"live_bytes_end\"]")" 307200
expect_eq "cache max live" "$(pyq $G "$C[\"live_bytes_max\"]")" 307200
expect_eq "cache never shrinks" "$(pyq $G "$C[\"decrements\"]")" 0
expect_eq "cache R^2 >= 0.8" "$(pyq $G "$C[\"r2\"] >= 0.8")" true
# the slope is time-based: within 35% of what the program measured around its loop
expect_eq "cache slope close to 307200 B / loop time" \
  "$(pyq $G "abs($C[\"slope_bytes_per_s\"] / (307200 / ($(tv loop_ms) / 1000.0)) - 1) < 0.35")" true
expect_eq "cache samples end at the trace end" \
  "$(pyq $G "$C[\"samples\"][-1] == [d[\"duration_s\"], 307200]")" true
expect_eq "stable workload not flagged" "$(pyq $G "$S[\"flagged\"]")" false
expect_eq "stable workload live at exit" "$(pyq $G "$S[\"live_bytes_end\"]")" 15984
expect_eq "stable workload R^2 low" "$(pyq $G "$S[\"r2\"] < 0.5")" true
expect_eq "flagged sites" "$(pyq $G '[s["function"] for s in d["leak_suspects"] if s["flagged"]]')" '["cache_put"]'
expect_eq "leak rule reported" "$(pyq $G 'd["leak_rule"]["grid_points"]')" 50

# size histogram: every requested size, power-of-two buckets [lo, hi)
SIZES="[8 << i for i in range(18)] + $HALF + [16 * (i + 1) for i in range(300)] + [40000, 1000, 8192] + [256 + i % 40 * 7919 % 512 for i in range(332)] + [1024] * 300"
HIST="(lambda s: [{'lo': 0 if b == 0 else 1 << (b - 1), 'hi': 1 << b, 'count': sum(1 for x in s if x.bit_length() == b), 'bytes': sum(x for x in s if x.bit_length() == b)} for b in range(min(x.bit_length() for x in s), max(x.bit_length() for x in s) + 1)])($SIZES)"
expect_eq "allocation count" "$(py "len($SIZES)")" 969
expect_eq "size histogram" "$(pyq $G 'd["size_histogram"]')" "$(py "$HIST")"
expect_eq "align histogram" "$(pyq $G 'd["align_histogram"]')" \
  '[{"align": 64, "count": 1, "padding_bytes": 48}, {"align": 4096, "count": 1, "padding_bytes": 4080}]'

# summary: GROWTH lines and the "growth" key
J=$T/gp.json
expect_eq "summary allocations" "$(jget $J totals.allocations)" 969
expect_eq "summary growth chains" "$(pyq $J 'sorted(c["function"] for c in d["growth"]["chains"])')" \
  '["grow_by_half", "grow_doubling", "grow_linear"]'
expect_eq "summary doubling steps" "$(pyq $J 'by(d["growth"]["chains"], "grow_doubling")["steps"]')" 17
expect_eq "summary leak suspects" "$(pyq $J '[s["function"] for s in d["growth"]["leak_suspects"]]')" '["cache_put"]'
expect_exit "summary text" 0 "$ATR" summary "$T/gp.zst"
expect_match "summary GROWTH section" "$OUT" $'\nGROWTH'
expect_match "summary doubling line" "$OUT" 'growth chain at grow_doubling \(growth_patterns.c:[0-9]+\): 1 chain, largest 17 steps 8 B -> 1.00 MiB \(x2.00/step\)'
expect_match "summary reserve hint" "$OUT" 'grow_by_half .*reserve 54.12 KiB up front'
expect_match "summary leak suspect line" "$OUT" 'leak suspect cache_put \(growth_patterns.c:[0-9]+\): live bytes grow .*300.00 KiB live at exit'
expect_no_match "summary does not flag the stable workload" "$OUT" 'leak suspect stable_work'

# text report
expect_exit "growth text" 0 "$ATR" growth "$T/gp.zst"
expect_match "text lists the doubling chain" "$OUT" 'grow_doubling .*growth_patterns.c'
expect_match "text flags the cache" "$OUT" 'FLAGGED +cache_put'
expect_match "text does not flag the stable workload" "$OUT" 'not flagged stable_work'

# C++: libstdc++ grows by allocate + copy + free
trace gv "$PROGS/growth_vector" || not_ok "growth_vector exits 0"
V=$T/gv_growth.json
"$ATR" growth --json "$T/gv.zst" >"$V"
P='by(d["chains"], "push_ints")'
expect_eq "vector sizes" "$(pyq $V "$P[\"sizes\"]")" "$(py '[4 << i for i in range(18)]')"
expect_eq "vector steps" "$(pyq $V "$P[\"steps\"]")" 17
expect_eq "vector copy steps" "$(pyq $V "$P[\"copy_steps\"]")" 17
expect_eq "vector factor" "$(pyq $V "$P[\"factor\"]")" 2.0
expect_eq "vector moves" "$(pyq $V "$P[\"moves\"]")" 17
expect_eq "vector bytes copied" "$(pyq $V "$P[\"bytes_copied\"]")" 524284
expect_eq "vector reserve hint" "$(pyq $V "$P[\"reserve_hint\"]")" 524288
A='by(d["chains"], "append_chars")'
expect_eq "string sizes" "$(pyq $V "$A[\"sizes\"]")" '[31, 61, 121, 241, 481, 961, 1921]'
expect_eq "string moves" "$(pyq $V "$A[\"moves\"]")" 6
expect_eq "string bytes copied" "$(pyq $V "$A[\"bytes_copied\"]")" 1896
expect_eq "reserved vector has no chain" "$(pyq $V 'by(d["chains"], "reserved_ints")')" null
expect_eq "C++ chain sites" "$(pyq $V 'sorted(c["function"] for c in d["chains"])')" '["append_chars", "push_ints"]'

# the leak-suspect grid comes from the one pass's live-bytes log; past its budget (at
# once, or part-way through the trace) a second pass samples it: both give the same
# documents, byte for byte
for cmd in "growth --json" "summary --json" "summary"; do
  for tr in gp gv; do
    expect_exit "$cmd $tr" 0 "$ATR" $cmd "$T/$tr.zst"
    one=$OUT
    for budget in 0 200; do
      ALLOCTRACE_GROWTH_LOG_BYTES=$budget expect_exit "$cmd $tr (second pass, log budget $budget)" \
        0 "$ATR" $cmd "$T/$tr.zst"
      expect_eq "$cmd $tr: one pass = two passes (log budget $budget)" "$one" "$OUT"
    done
  done
done

# bad input: one line, exit 2
printf 'not a trace' >"$T/junk.zst"
expect_exit "growth on junk" 2 "$ATR" growth --json "$T/junk.zst"
expect_eq "junk error is one line" "$(printf '%s\n' "$OUT" | wc -l)" 1
expect_match "junk error names the file" "$OUT" 'junk.zst'
expect_exit "growth on a missing file" 2 "$ATR" growth "$T/missing.zst"
expect_exit "growth --top 0" 2 "$ATR" growth --top 0 "$T/gp.zst"
expect_exit "growth without a trace" 2 "$ATR" growth
finish
