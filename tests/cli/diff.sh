# diff: `alloctrace diff` of a trace with itself is empty; diffs of the ck_* pairs show
# exactly the changes ck_base.c documents, at the documented functions, matched across
# the four different executables by function and file; sites sorted by absolute change.
# Runs in the asan suite too: traces come from $ATR_NORMAL when it exists.
. "$TESTS/lib.sh"
# (the normal build's alloctrace finds the normal build's library next to it: the
# sanitizer build's one, named by ALLOCTRACE_LIB, cannot be preloaded into a plain program)
MAKE=("$ATR")
[ -n "${ATR_NORMAL:-}" ] && [ -x "$ATR_NORMAL" ] && MAKE=(env -u ALLOCTRACE_LIB "$ATR_NORMAL")
for v in base leak more peak; do
  "${MAKE[@]}" run -q -o "$T/$v.zst" -- "$PROGS/ck_$v" >/dev/null 2>"$T/$v.err" ||
    skip "cannot record ck_$v with ${MAKE[*]}: $(head -c 300 "$T/$v.err")"
done
cd "$T" || exit 1
HEAP=peak,leaked,allocated,allocations,temporary

# changes FILE: "metric:change ..." then "| metric:function:base->new ..." for all sites
changes() {
  "$PY" - "$1" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
m = ' '.join('%s:%+d' % (x['metric'], x['change']) for x in d['metrics'])
s = ' '.join('%s:%s:%d->%d' % (k, e['function'], e['base'], e['new'])
             for k, v in d['sites'].items() for e in v)
print(('%s | %s' % (m, s)).strip())
PYEOF
}
diff_json() { # NAME BASE NEW [ARGS]
  local name=$1; shift
  local rc=0
  "$ATR" diff --json "$@" >"$name.json" 2>"$name.err" || rc=$?
  expect_eq "$name: exit" "$rc" 0
}

# ---- a trace with itself: nothing, including RSS
diff_json self base.zst base.zst
expect_eq "self: changed" "$(jget self.json changed)" false
expect_eq "self: metrics" "$(jget self.json metrics)" "[]"
expect_eq "self: sites" "$(jget self.json sites)" "{}"
expect_eq "self: every metric unchanged" "$(jget self.json unchanged)" '["peak", "leaked", "allocated", "allocations", "temporary", "rss"]'
rc=0
"$ATR" diff leak.zst leak.zst >self.txt 2>&1 || rc=$?
expect_eq "self, text: exit" "$rc" 0
expect_match "self, text: says no change" "$(cat self.txt)" "no change"
expect_eq "self, text: 3 lines" "$(wc -l <self.txt | tr -d ' ')" 3

# ---- the pairs: exactly the documented changes, at the documented functions
diff_json leak base.zst leak.zst --metrics $HEAP
expect_eq "base -> leak" "$(changes leak.json)" "leaked:+256 | leaked:remember:0->256"
diff_json more base.zst more.zst --metrics $HEAP
expect_eq "base -> more" "$(changes more.json)" \
  "allocated:+512 allocations:+8 temporary:+8 | allocated:parse_input:1024->1536 allocations:parse_input:16->24 temporary:parse_input:16->24"
diff_json peak base.zst peak.zst --metrics $HEAP
expect_eq "base -> peak" "$(changes peak.json)" \
  "peak:+32768 allocated:+32768 | peak:build_index:32768->65536 allocated:build_index:32768->65536"
expect_eq "site file is the shared source" "$(jget peak.json sites.peak.0.file | sed 's|.*/||')" ck_base.c
expect_eq "site stack" "$(jget peak.json sites.peak.0.stack.1.function)" main
diff_json back leak.zst base.zst --metrics $HEAP
expect_eq "leak -> base (negative change)" "$(changes back.json)" "leaked:-256 | leaked:remember:256->0"
diff_json cross more.zst peak.zst --metrics $HEAP
expect_eq "more -> peak: sorted by absolute change" "$(changes cross.json)" \
  "peak:+32768 allocated:+32256 allocations:-8 temporary:-8 | peak:build_index:32768->65536 allocated:build_index:32768->65536 allocated:parse_input:1536->1024 allocations:parse_input:24->16 temporary:parse_input:24->16"
diff_json top1 more.zst peak.zst --metrics allocated --top 1
expect_eq "--top 1 keeps the largest change; the count stays" \
  "$(changes top1.json) / $(jget top1.json sites_changed.allocated)" "allocated:+32256 | allocated:build_index:32768->65536 / 2"

# ---- text form
"$ATR" diff base.zst more.zst --metrics $HEAP >more.txt
expect_match "text: metric row" "$(cat more.txt)" "allocations +27 +35 +\\+8 \\(\\+29\\.6%\\)"
expect_match "text: site row" "$(cat more.txt)" "\\+8  \\(16 -> 24\\)  parse_input \\(ck_base\\.c:[0-9]+\\)"
expect_match "text: unchanged" "$(cat more.txt)" "unchanged: peak, leaked"

# ---- errors
expect_exit "one trace only" 2 "$ATR" diff base.zst
expect_exit "unknown metric" 2 "$ATR" diff --metrics heap base.zst base.zst
expect_exit "missing trace" 2 "$ATR" diff base.zst nothere.zst
expect_match "missing trace: names it" "$OUT" "nothere.zst"
printf 'not a trace\n' >text.zst
expect_exit "not a trace" 2 "$ATR" diff text.zst base.zst
expect_eq "not a trace: one line naming it" "$(printf '%s\n' "$OUT" | grep -c 'text.zst')/$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 1/1
finish
