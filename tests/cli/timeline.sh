# timeline: `alloctrace timeline` on tests/progs/growth_patterns: JSON and CSV agree with
# each other and with summary (the last sample is what leaked, sites + other = heap, the
# peak is summary's), the interval and sample count follow --interval, the growing cache
# is among the sites and its column grows; bad flags and input are one line and exit 2;
# a single-threaded program's event times follow its sleeps (stamps reused between clock reads).
. "$TESTS/lib.sh"

pyq() {
  "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
v = eval(sys.argv[2])
print(json.dumps(v) if isinstance(v, (dict, list)) else
      "true" if v is True else "false" if v is False else "null" if v is None else v)
PYEOF
}

trace gp "$PROGS/growth_patterns" || not_ok "growth_patterns exits 0"
S=$T/gp.json
J=$T/tl.json
expect_exit "timeline --json --interval 10" 0 "$ATR" timeline --json --interval 10 "$T/gp.zst"
printf '%s\n' "$OUT" >"$J"
expect_eq "schema" "$(pyq $J 'd["schema"]')" alloctrace.timeline/1
expect_eq "interval" "$(pyq $J 'd["interval_ms"]')" 10.0
DUR_US=$(pyq $J 'round(d["duration_s"] * 1e6)')
expect_eq "duration matches summary" "$(pyq $J 'd["duration_s"]')" "$(jget $S totals.duration_s)"
expect_eq "sample count = ceil(duration / 10 ms)" "$(pyq $J 'len(d["samples"])')" \
  "$(( (DUR_US + 9999) / 10000 ))"
expect_eq "samples every 10 ms" \
  "$(pyq $J 'all(abs(s["t"] - 0.01 * (i + 1)) < 1e-9 for i, s in enumerate(d["samples"][:-1]))')" true
expect_eq "last sample at the end of the trace" "$(pyq $J 'd["samples"][-1]["t"] == d["duration_s"]')" true
expect_eq "last sample's heap = leaked at exit" "$(pyq $J 'd["samples"][-1]["heap"]')" \
  "$(jget $S totals.leaked_bytes)"
expect_eq "sites + other = heap in every sample" \
  "$(pyq $J 'all(sum(s["sites"]) + s["other"] == s["heap"] for s in d["samples"])')" true
expect_eq "heap_max >= heap" "$(pyq $J 'all(s["heap_max"] >= s["heap"] for s in d["samples"])')" true
expect_eq "peak is summary's peak" "$(pyq $J 'd["peak"]["bytes"]')" "$(jget $S totals.peak_bytes)"
expect_eq "peak time is summary's" "$(pyq $J 'd["peak"]["t"]')" "$(jget $S totals.peak_time_s)"
expect_eq "the highest heap_max is the peak" "$(pyq $J 'max(s["heap_max"] for s in d["samples"])')" \
  "$(jget $S totals.peak_bytes)"
expect_eq "allocation count from the rates" \
  "$(pyq $J 'round(sum(s["allocs_per_s"] * (s["t"] - (d["samples"][i - 1]["t"] if i else 0)) for i, s in enumerate(d["samples"])))')" \
  "$(jget $S totals.allocations)"
CACHE=$(pyq $J '[s["function"] for s in d["sites"]].index("cache_put")')
expect_match "cache_put is a timeline site" "$CACHE" '^[0-9]+$'
expect_eq "cache_put ends at 307200 B" "$(pyq $J "d['samples'][-1]['sites'][$CACHE]")" 307200
expect_eq "cache_put column never falls" \
  "$(pyq $J "all(a['sites'][$CACHE] <= b['sites'][$CACHE] for a, b in zip(d['samples'], d['samples'][1:]))")" true
expect_eq "doubling buffer ranked first (it held 1 MiB)" "$(pyq $J 'd["sites"][0]["function"]')" grow_doubling
expect_eq "RSS recorded" "$(pyq $J 'any(s["rss"] for s in d["samples"])')" true
expect_eq "--top 3 keeps 3 sites" "$("$ATR" timeline --json --top 3 "$T/gp.zst" | "$PY" -c 'import json,sys; print(len(json.load(sys.stdin)["sites"]))')" 3

# automatic interval: 1, 2 or 5 x 10^k ms, at most 200 samples
expect_exit "timeline --json (auto interval)" 0 "$ATR" timeline --json "$T/gp.zst"
printf '%s\n' "$OUT" >"$T/auto.json"
expect_eq "auto interval is a round number" "$(pyq $T/auto.json 'd["interval_ms"] in (1, 2, 5, 10, 20, 50, 100)')" true
expect_eq "auto interval gives <= 200 samples" "$(pyq $T/auto.json 'len(d["samples"]) <= 200')" true

# CSV: the same numbers
expect_exit "timeline --csv --interval 10" 0 "$ATR" timeline --csv --interval 10 "$T/gp.zst"
printf '%s\n' "$OUT" >"$T/tl.csv"
expect_match "CSV header" "$(head -1 $T/tl.csv)" '^t_s,heap,heap_max,rss,allocs_per_s,frees_per_s,"grow_doubling \(.*growth_patterns.c:[0-9]+\)",.*,other$'
expect_eq "CSV rows = JSON samples" "$(($(wc -l <$T/tl.csv) - 1))" "$(pyq $J 'len(d["samples"])')"
expect_eq "CSV heap column = JSON heap" "$(tail -n +2 $T/tl.csv | cut -d, -f2 | tr '\n' ' ')" \
  "$(pyq $J '" ".join(str(s["heap"]) for s in d["samples"]) + " "')"
expect_eq "CSV is the default" "$("$ATR" timeline --interval 10 "$T/gp.zst" | md5sum)" "$(md5sum <$T/tl.csv)"

# bad flags and input
expect_exit "--interval 0" 2 "$ATR" timeline --interval 0 "$T/gp.zst"
expect_match "--interval error is one line" "$(printf '%s\n' "$OUT" | wc -l)" '^1$'
expect_exit "--interval abc" 2 "$ATR" timeline --interval abc "$T/gp.zst"
expect_exit "--interval below a microsecond" 2 "$ATR" timeline --interval 0.0001 "$T/gp.zst"
expect_match "--interval error says the minimum" "$OUT" '0.001 or more'
expect_exit "--csv with --json" 2 "$ATR" timeline --csv --json "$T/gp.zst"
expect_exit "--top 0" 2 "$ATR" timeline --top 0 "$T/gp.zst"
expect_exit "missing trace" 2 "$ATR" timeline "$T/nope.zst"
expect_match "missing trace named" "$OUT" 'nope.zst'
# Event times of a single-threaded program, whose stamps mostly reuse the last clock
# read (libtrace/tracer.h atr__stamp): tests/progs/phases allocates 20 blocks of 32 + p
# bytes in phase p, then sleeps 30 ms. Each phase's first allocation lies p x 30 ms (at
# least) after phase 0's, and a phase's events lie within 5 ms of each other: a stamp
# reused across the sleep would put a phase at the end of the one before.
"$ATR" run -q -o "$T/ph.zst" -- "$PROGS/phases" 4 || not_ok "phases exits 0"
"$ATR" dump "$T/ph.zst" >"$T/ph.jsonl"
expect_eq "phase times follow the sleeps" "$("$PY" - "$T/ph.jsonl" <<'PYEOF'
import json, sys
t = {}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "alloc" and 32 <= e["size"] < 36:
        t.setdefault(e["size"] - 32, []).append(e["t_us"])
bad = [p for p in range(4) if len(t.get(p, [])) != 20]
bad += [p for p in range(1, 4) if t.get(p) and min(t[p]) - min(t[0]) < p * 30000]
bad += [p for p in range(4) if t.get(p) and max(t[p]) - min(t[p]) > 5000]
print("ok" if not bad else "phases %s: %s" % (sorted(set(bad)), {p: (min(v), max(v)) for p, v in t.items()}))
PYEOF
)" ok
finish
