# flamegraph: folded stacks of tests/progs/known sum exactly to the summary's totals for all
# five metrics, with the documented call sites on their stacks; the HTML page's embedded data
# agrees with the same totals (per metric, at the peak, at exit); the SVG is well-formed XML;
# --diff matches the ck_* builds by function and file; bad input exits 2 with one line.
# Runs in the asan suite too: traces come from $ATR_NORMAL when it exists.
. "$TESTS/lib.sh"
MAKE=$ATR
[ -n "${ATR_NORMAL:-}" ] && [ -x "$ATR_NORMAL" ] && MAKE=$ATR_NORMAL
for p in known ck_base ck_peak ck_more; do
  "$MAKE" run -q -o "$T/$p.zst" -- "$PROGS/$p" >/dev/null 2>"$T/$p.err" ||
    skip "cannot record $p with $MAKE: $(head -c 300 "$T/$p.err")"
  "$ATR" summary --json "$T/$p.zst" >"$T/$p.json" || not_ok "summary of $p"
done
cd "$T" || exit 1
J=known.json

sum_last() { awk '{s += $NF} END {printf "%d\n", s}' "$1"; }
sum_col() { awk -v c="$2" '{s += $(NF - c)} END {printf "%d\n", s}' "$1"; }
folded() { # NAME ARGS...: runs flamegraph --format folded into NAME.folded
  local name=$1; shift
  local rc=0
  "$ATR" flamegraph --format folded "$@" >"$name.folded" 2>"$name.err" || rc=$?
  [ "$rc" = 0 ] || not_ok "flamegraph $*: exit $rc: $(head -c 300 "$name.err")"
}

# ---- folded: exact sums for every metric, the documented numbers, the right stacks
for pair in peak:peak_bytes:1573632 leaked:leaked_bytes:768 allocated:allocated_bytes:1575782 \
            allocations:allocations:31 temporary:temporary:11; do
  m=${pair%%:*}; rest=${pair#*:}; key=${rest%%:*}; want=${rest#*:}
  folded "$m" --metric "$m" known.zst
  expect_eq "folded $m sums to the summary's totals.$key" "$(sum_last "$m.folded")" "$(jget $J totals.$key)"
  expect_eq "folded $m sums to known.c's documented number" "$(sum_last "$m.folded")" "$want"
  expect_no_match "folded $m: no zero lines" "$(cat "$m.folded")" " 0$"
done
expect_eq "peak: two stacks" "$(wc -l <peak.folded | tr -d ' ')" 2
expect_match "peak: 1.5 MiB in main;build_peak" "$(cat peak.folded)" "(^|;)main;build_peak 1572864$"
expect_match "peak: the leak is live at the peak" "$(cat peak.folded)" "(^|;)main;leak_some 768$"
expect_eq "leaked: one stack" "$(wc -l <leaked.folded | tr -d ' ')" 1
expect_match "leaked: main;leak_some" "$(cat leaked.folded)" "(^|;)main;leak_some 768$"
expect_match "allocated: make_table 10 x 100" "$(cat allocated.folded)" "(^|;)main;make_table 1000$"
expect_match "allocated: realloc_chain 16+32+64+128+8" "$(cat allocated.folded)" "(^|;)main;realloc_chain 248$"
expect_match "allocated: calloc_some 200+8" "$(cat allocated.folded)" "(^|;)main;calloc_some 208$"
expect_match "allocated: aligned 100+256+10+8" "$(cat allocated.folded)" "(^|;)main;aligned 374$"
expect_match "allocations: make_table 10" "$(cat allocations.folded)" "(^|;)main;make_table 10$"
expect_match "allocations: aligned 4" "$(cat allocations.folded)" "(^|;)main;aligned 4$"
expect_match "temporary: temp_work 5" "$(cat temporary.folded)" "(^|;)main;temp_work 5$"
expect_match "temporary: realloc_chain 3" "$(cat temporary.folded)" "(^|;)main;realloc_chain 3$"
expect_eq "every line is 'frame;frame;... COUNT' (flamegraph.pl's collapsed format)" \
  "$(grep -cvE '^([^;]+;)*[^;]+ [0-9]+$' allocated.folded)" 0
expect_eq "stacks start at the outermost frame (one root frame)" \
  "$(cut -d';' -f1 allocated.folded | sort -u | wc -l | tr -d ' ')" 1
expect_eq "main is the caller of every allocating function" \
  "$(awk '{n = split($1, f, ";"); print f[n - 1]}' allocated.folded | sort -u)" main

folded inv --metric allocations --inverted known.zst
expect_match "inverted: allocating function first" "$(cat inv.folded)" "^make_table;main;[^ ]+ 10$"
expect_eq "inverted: same sum" "$(sum_last inv.folded)" 31

folded other --metric allocated --min-percent 1 known.zst
expect_eq "--min-percent 1: the sum stays exact" "$(sum_last other.folded)" 1575782
expect_match "--min-percent 1: build_peak stays" "$(cat other.folded)" "(^|;)main;build_peak 1572864$"
expect_match "--min-percent 1: the small callees of main merge" "$(cat other.folded)" "(^|;)main;\\[other\\] 2918$"

# ---- diff: "stack BASE NEW" as difffolded.pl writes, matched across executables
folded dpeak --diff --metric peak ck_base.zst ck_peak.zst
expect_match "diff peak: build_index doubles" "$(cat dpeak.folded)" "(^|;)main;build_index 32768 65536$"
expect_match "diff peak: load_table unchanged" "$(cat dpeak.folded)" "(^|;)main;load_table 8192 8192$"
expect_eq "diff peak: base column sums to the base peak" "$(sum_col dpeak.folded 1)" "$(jget ck_base.json totals.peak_bytes)"
expect_eq "diff peak: new column sums to the new peak" "$(sum_last dpeak.folded)" "$(jget ck_peak.json totals.peak_bytes)"
folded dmore --diff --metric allocations ck_base.zst ck_more.zst
expect_match "diff allocations: parse_input 16 -> 24" "$(cat dmore.folded)" "(^|;)main;parse_input 16 24$"

# ---- html: one self-contained page whose data agrees with the summary
"$ATR" flamegraph -o known.html known.zst 2>err.txt || not_ok "flamegraph html: $(cat err.txt)"
"$ATR" flamegraph --diff -o diff.html ck_base.zst ck_peak.zst 2>err.txt || not_ok "flamegraph --diff html: $(cat err.txt)"
"$ATR" flamegraph --inverted --metric leaked -o inv.html known.zst 2>err.txt || not_ok "flamegraph --inverted: $(cat err.txt)"
check_page() { # PAGE SUMMARY [BASE_SUMMARY]: prints one "ok"/"FAIL ..." line per check
  "$PY" - "$@" <<'PYEOF'
import json, re, sys
page = open(sys.argv[1], encoding="utf-8").read()
summ = json.load(open(sys.argv[2]))
base = json.load(open(sys.argv[3])) if len(sys.argv) > 3 else None
def check(cond, what):
    print(("ok " if cond else "FAIL ") + what)
check("/*ATR_" not in page, "every placeholder was filled")
check(not re.search(r"https?://|<link|<(script|img|iframe)[^>]+src=|@import\s+(url|['\"])|url\(\s*['\"]?(https?:|//)", page),
      "no external reference")
check(page.count("<script>") == 3 and page.count("</script>") == 3, "three inline scripts (data, flame graph, table), nothing else")
m = re.search(r"const ATR_DATA = (.*?);</script>", page, re.S)
raw = m.group(1)
check(not re.search(r"[<>&\u2028\u2029]", raw), "data holds no raw < > & U+2028/9")
d = json.loads(raw)
check(d["schema"] == "alloctrace.flame/1", "schema")
keys = {"peak": "peak_bytes", "leaked": "leaked_bytes", "allocated": "allocated_bytes",
        "allocations": "allocations", "temporary": "temporary"}
par = d["nodes"]["parent"]
check(par[0] == -1 and all(0 <= par[i] < i for i in range(1, len(par))), "parents precede children")
for k, m in enumerate(d["metrics"]):
    got = sum(r[k] for r in d["nodes"]["self"])
    check(got == summ["totals"][keys[m]], "%s: self sums to %d (got %d)" % (m, summ["totals"][keys[m]], got))
    if base:
        got = sum(r[k] for r in d["nodes"]["base"])
        check(got == base["totals"][keys[m]], "%s base: sums to %d (got %d)" % (m, base["totals"][keys[m]], got))
check(d["diff"] == bool(base) and (d["nodes"]["base"] is None) == (base is None), "diff flag and base")
tl, snaps = d["timeline"], d["snapshots"]
pk = tl["peak_index"]
check(len(tl["t"]) <= 2000 and len(snaps) <= 200, "bounded time view")
check(tl["heap"][pk] == summ["totals"]["peak_bytes"], "timeline peak is the peak")
peak = [s for s in snaps if s.get("peak")]
check(len(peak) == 1 and peak[0]["t"] == tl["t"][pk], "one peak snapshot, at the timeline's peak")
check(sum(b for _, b in peak[0]["live"]) == summ["totals"]["peak_bytes"], "peak snapshot sums to the peak")
pk_self = {n: b for n, b in peak[0]["live"]}
pk_col = {i: r[0] for i, r in enumerate(d["nodes"]["self"]) if r[0]}
check(pk_self == pk_col, "peak snapshot is the peak metric, node by node")
check(sum(b for _, b in snaps[-1]["live"]) == summ["totals"]["leaked_bytes"],
      "last snapshot is what leaked (%d at %s s)" % (sum(b for _, b in snaps[-1]["live"]), snaps[-1]["t"]))
check(all(snaps[i]["t"] <= snaps[i + 1]["t"] for i in range(len(snaps) - 1)), "snapshots in time order")
names = [d["strings"][f[0]] for f in d["frames"]]
def func_of(n):
    return names[d["nodes"]["frame"][n]]
top = max(range(len(par)), key=lambda i: d["nodes"]["self"][i][0])
check(func_of(top) in ("build_peak", "build_index") and func_of(par[top]) == "main",
      "the biggest peak node is %s called by %s" % (func_of(top), func_of(par[top])))
check(d["meta"]["totals"]["allocations"] == summ["totals"]["allocations"], "header totals")
check(d["meta"]["program"] == summ["program"] and d["meta"]["date"].endswith("UTC"), "header program and date")
print("inverted " + json.dumps(d["inverted"]))
PYEOF
}
while read -r line; do
  case $line in
    ok*) ok "known.html: ${line#ok }" ;;
    inverted*) expect_eq "known.html: not inverted" "${line#inverted }" false ;;
    *) not_ok "known.html: ${line#FAIL }" ;;
  esac
done < <(check_page known.html known.json)
while read -r line; do
  case $line in
    ok*) ok "diff.html: ${line#ok }" ;;
    inverted*) ;;
    *) not_ok "diff.html: ${line#FAIL }" ;;
  esac
done < <(check_page diff.html ck_peak.json ck_base.json)
expect_match "--inverted --metric leaked is recorded in the page" "$(tr -d '\n' <inv.html)" '"default_metric":"leaked","diff":false,"inverted":true'

# C++ names (std::vector<...>) go through the escaping
if [ -x "$PROGS/growth_vector" ] && "$MAKE" run -q -o gv.zst -- "$PROGS/growth_vector" >/dev/null 2>&1; then
  "$ATR" flamegraph --metric allocated -o gv.html gv.zst
  expect_match "C++ template names are \\u003c-escaped in the data" "$(cat gv.html)" 'vector\\u003c'
  "$ATR" flamegraph --format svg --metric allocated -o gv.svg gv.zst
  expect_match "C++ template names are &lt;-escaped in the SVG" "$(cat gv.svg)" 'vector&lt;'
  "$PY" "$TESTS/browser/svg_test.py" gv.svg --expect-func main --no-browser >gvsvg.tap 2>&1
  expect_eq "gv.svg is well-formed (svg_test.py)" "$? $(grep -c '^not ok' gvsvg.tap)" "0 0"
fi

# ---- svg: well-formed, one titled frame per function
"$ATR" flamegraph --format svg --metric allocated -o known.svg known.zst
"$PY" "$TESTS/browser/svg_test.py" known.svg --expect-func build_peak --expect-func make_table \
  --expect-func leak_some --expect-func temp_work --no-browser >svg.tap 2>&1
expect_eq "known.svg passes the XML checks" "$? $(grep -c '^not ok' svg.tap)" "0 0"
expect_match "svg title gives bytes and share" "$(cat known.svg)" "<title>make_table \\(1,000 bytes, 0\\.06%\\)"
"$ATR" flamegraph --format svg --inverted --metric allocations -o inv.svg known.zst
expect_match "inverted svg: an icicle graph" "$(cat inv.svg)" "icicle graph"
"$ATR" flamegraph --format svg --diff -o diff.svg ck_base.zst ck_peak.zst
expect_match "diff svg: build_index grew" "$(cat diff.svg)" "<title>build_index \\(65,536 bytes, [0-9.]+%\\)
base 32,768 bytes, change \\+32768 \\(\\+100\\.0%\\)"

# ---- errors: one line naming the problem, exit 2
expect_exit "unknown format" 2 "$ATR" flamegraph --format png known.zst
expect_exit "unknown metric" 2 "$ATR" flamegraph --metric heap known.zst
expect_exit "bad --min-percent" 2 "$ATR" flamegraph --min-percent ten known.zst
expect_exit "--diff with one trace" 2 "$ATR" flamegraph --diff known.zst
expect_exit "no trace" 2 "$ATR" flamegraph
expect_exit "missing trace" 2 "$ATR" flamegraph nothere.zst
expect_match "missing trace: names it" "$OUT" "nothere.zst"
head -c 3000 /dev/urandom >garbage.zst
expect_exit "garbage trace" 2 "$ATR" flamegraph -o g.html garbage.zst
expect_eq "garbage trace: one line" "$(printf '%s\n' "$OUT" | wc -l | tr -d ' ')" 1
expect_exit "unwritable output" 2 "$ATR" flamegraph -o /nonexistent/dir/x.html known.zst
expect_match "unwritable output: names it" "$OUT" "/nonexistent/dir/x.html"
finish
