# run_summary: the lines `run` prints at the end (computed while the program runs, from
# a reader that follows the trace) say what `summary` says of the same trace: totals,
# the top sites of the peak and of the leaks, the growth findings, line for line; and
# they come with a run of many events as with a small one.
. "$TESTS/lib.sh"

# summary's own lines for TRACE: the calls line, "peak: "/"leaks:" site lines of the
# top 3, the GROWTH section
from_summary() {
  "$ATR" summary "$1" | awk '
    /^  calls to allocation functions:/ { next }
    /^PEAK MEMORY CONSUMERS/ { sec = "peak: "; n = 0; next }
    /^LEAKS/ { sec = "leaks:"; n = 0; next }
    /^GROWTH/ { sec = "growth"; print; next }
    /^[A-Z]/ { sec = ""; next }
    sec == "growth" && /^  / { print; next }
    (sec == "peak: " || sec == "leaks:") && /^  [0-9]/ && n < 3 {
      n++; sub(/^  /, ""); sub(/ in [0-9,]+ blocks from /, " from "); print "  " sec " " $0 }'
}

for prog in growth_patterns known; do
  rc=0
  "$ATR" run -o "$T/$prog.zst" -- "$PROGS/$prog" >/dev/null 2>"$T/$prog.err" || rc=$?
  expect_eq "$prog: status" "$rc" 0
  got=$(sed -n 's/^alloctrace: //p' "$T/$prog.err" | grep -v '^trace written\|calls to allocation\|^note:\|^recorder:')
  expect_eq "$prog: site and growth lines = summary's" "$got" "$(from_summary "$T/$prog.zst")"
  t=$("$ATR" summary --json "$T/$prog.zst" | "$PY" -c 'import json, sys
t = json.load(sys.stdin)["totals"]
print("{:,}".format(t["allocations"]), "{:,}".format(t["temporary"]), t["leaked_blocks"])')
  set -- $t
  expect_match "$prog: totals line = summary's" "$(cat "$T/$prog.err")" \
    "^alloctrace: $1 calls to allocation functions, $2 temporary; peak heap .*; leaked .* in $3 blocks"
done
expect_match "growth_patterns: a growth chain among the lines" "$(cat "$T/growth_patterns.err")" \
  "^alloctrace:   growth chain at grow_doubling"

# many events: the same lines as summary's
rc=0
"$ATR" run -o "$T/churn.zst" -- "$PROGS/manystacks" >/dev/null 2>"$T/churn.err" || rc=$?
expect_eq "manystacks: status" "$rc" 0
got=$(sed -n 's/^alloctrace: //p' "$T/churn.err" | grep -v '^trace written\|calls to allocation\|^note:\|^recorder:')
expect_eq "manystacks: site lines = summary's" "$got" "$(from_summary "$T/churn.zst")"
# run --stats: what recording cost, even with -q; its events are the trace's
rc=0
"$ATR" run -q --stats -o "$T/st.zst" -- "$PROGS/known" >/dev/null 2>"$T/st.err" || rc=$?
ev=$("$ATR" summary --json "$T/st.zst" | "$PY" -c 'import json, sys; print("{:,}".format(json.load(sys.stdin)["recorder"]["events"]))')
expect_match "--stats: the recorder's CPU, events, ns per event, max RSS" "$(cat "$T/st.err")" \
  "^alloctrace: recorder: [0-9.]+ s of CPU for $ev events \([0-9.]+ ns per event\), max RSS [0-9.]+ [KM]iB$"
finish
