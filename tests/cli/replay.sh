# replay: the replay is faithful (tracing the replayer gives the original's allocation
# calls, size histogram, peak and leaks), every installed allocator replays a
# multi-threaded trace with cross-thread frees in both orders, the replayer is clean
# under AddressSanitizer, and bad allocators and truncated traces are reported clearly.
. "$TESTS/lib.sh"
REPLAYER=$(dirname "$ATR")/alloctrace-replayer
REPLAYER_ASAN=$(dirname "$ATR")/alloctrace-replayer-asan
[ -x "$REPLAYER" ] || skip "no alloctrace-replayer next to $ATR"

# compare ORIG REPLAY KEYS...: "key got want" lines for the replay's trace against the
# original's (summary totals, calls per function, and the size histogram from dump)
compare() {
  local o=$1 r=$2; shift 2
  "$ATR" dump "$T/$o.zst" >"$T/$o.dump"
  "$ATR" dump "$T/$r.zst" >"$T/$r.dump"
  "$PY" - "$T/$o" "$T/$r" "$@" <<'PYEOF'
import json, sys
def hist(path):
    h = {}
    for line in open(path + ".dump"):
        e = json.loads(line)
        if e.get("event") in ("alloc", "realloc") and "size" in e:
            b = e["size"].bit_length()
            h[b] = h.get(b, 0) + 1
    return ",".join("%d:%d" % kv for kv in sorted(h.items()))
o, r = (json.load(open(p + ".json")) for p in sys.argv[1:3])
for k in sys.argv[3:]:
    if k == "kinds":
        got, want = json.dumps(r["kinds"], sort_keys=True), json.dumps(o["kinds"], sort_keys=True)
    elif k == "histogram":
        got, want = hist(sys.argv[2]), hist(sys.argv[1])
    else:
        got, want = r["totals"][k], o["totals"][k]
    print(k, str(got).replace(" ", ""), str(want).replace(" ", ""))
PYEOF
}

# same_as ORIG REPLAY LABEL KEYS...: every KEY of the replay's trace equals the original's
same_as() {
  local o=$1 r=$2 label=$3 k got want n=0; shift 3
  while read -r k got want; do
    expect_eq "$label: $k" "$got" "$want"
    n=$((n + 1))
  done < <(compare "$o" "$r" "$@")
  expect_eq "$label: keys compared" "$n" "$#"
  expect_eq "$label: no unknown frees" "$(jget "$T/$r.json" totals.unknown_frees)" 0
}
EXACT="allocations frees reallocs allocated_bytes peak_bytes leaked_bytes leaked_blocks kinds histogram"

trace known "$PROGS/known" || not_ok "known exits 0"
trace demo "$PROGS/demo" || not_ok "demo exits 0"
trace replay_mt "$PROGS/replay_mt" || not_ok "replay_mt exits 0"

# replay_mt's documented numbers (pthread_create's thread-descriptor callocs aside)
X=$T/replay_mt.json
expect_eq "replay_mt: allocation calls without pthread's callocs" \
  "$(( $(jget $X totals.allocations) - $(jget $X kinds.calloc) ))" 10009
"$PY" -c 'import json,sys; k=json.load(open(sys.argv[1]))["kinds"]; k.pop("calloc", None); print(json.dumps(k, sort_keys=True))' "$X" >"$T/kinds.txt"
expect_eq "replay_mt: calls per function" "$(cat "$T/kinds.txt")" \
  '{"aligned_alloc": 160, "malloc": 9284, "memalign": 1, "posix_memalign": 160, "pvalloc": 1, "realloc": 400, "reallocarray": 2, "valloc": 1}'
expect_eq "replay_mt: frees/reallocs" "$(jget $X totals.frees)/$(jget $X totals.reallocs)" 9604/401
expect_eq "replay_mt: peak at least the documented 2652064" "$(( $(jget $X totals.peak_bytes) >= 2652064 ))" 1

for p in known demo replay_mt; do
  expect_exit "$p: save the op file" 0 "$ATR" replay --save-ops "$T/$p.ops" "$T/$p.zst"
done

# faithfulness: trace the replayer itself, recorded order (exact interleaving)
for p in known demo replay_mt; do
  "$ATR" run -q -o "$T/r_$p.zst" -- "$REPLAYER" "$T/$p.ops" >"$T/r_$p.out" 2>&1 ||
    not_ok "$p: traced replay exits 0: $(head -c 300 "$T/r_$p.out")"
  "$ATR" summary --json "$T/r_$p.zst" >"$T/r_$p.json"
  same_as $p r_$p "$p replay" $EXACT
done

# deps order: threads run freely; the calls are the same, only the interleaving may differ
"$ATR" run -q -o "$T/d_replay_mt.zst" -- "$REPLAYER" --order deps "$T/replay_mt.ops" >/dev/null 2>&1 ||
  not_ok "replay_mt deps replay exits 0"
"$ATR" summary --json "$T/d_replay_mt.zst" >"$T/d_replay_mt.json"
same_as replay_mt d_replay_mt "replay_mt deps replay" allocations frees reallocs \
  allocated_bytes leaked_bytes leaked_blocks kinds histogram

# AddressSanitizer with glibc: no use-after-free, double free or lost block in any order
if [ -x "$REPLAYER_ASAN" ]; then
  for p in known replay_mt; do
    for o in recorded deps; do
      expect_exit "$p under ASan, $o order" 0 env ASAN_OPTIONS=detect_leaks=1 "$REPLAYER_ASAN" --order $o "$T/$p.ops"
      expect_no_match "$p under ASan, $o order: no report" "$OUT" "AddressSanitizer|LeakSanitizer"
    done
  done
else
  not_ok "alloctrace-replayer-asan was not built"
fi

# every installed allocator, multi-threaded trace, both orders
for o in recorded deps; do
  "$ATR" replay --json --repeat 1 --order $o "$T/replay_mt.zst" >"$T/rp_$o.json" 2>"$T/rp_$o.err"
  expect_eq "replay --order $o exits 0" "$?" 0
  J=$T/rp_$o.json
  expect_eq "$o: schema" "$(jget $J schema)" alloctrace.replay/1
  expect_eq "$o: program" "$(jget $J program)" replay_mt
  expect_eq "$o: replayed allocation calls" "$(jget $J allocations)" "$(jget $X totals.allocations)"
  expect_eq "$o: peak live bytes" "$(jget $J peak_live_bytes)" "$(jget $X totals.peak_bytes)"
  expect_eq "$o: threads" "$(jget $J threads)" 5
  n=$("$PY" -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["results"]))' "$J")
  skipped=$(grep -c "skipped:.*not installed" "$T/rp_$o.err")
  expect_eq "$o: one result per installed allocator" "$((n + skipped))" 4
  "$PY" - "$J" "$o" >"$T/check_$o.txt" <<'PYEOF'
import json, sys
d = json.load(open(sys.argv[1]))
strict = sys.argv[2] == "recorded"
walls = [r["wall_s"]["median"] for r in d["results"]]
print("sorted" if walls == sorted(walls) else "unsorted %s" % walls)
for r in d["results"]:
    bad = []
    if not r["wall_s"]["median"] > 0: bad.append("wall")
    if not r["cpu_s"]["median"] > 0: bad.append("cpu")
    # deps order: other threads run on while the peak's call completes, so the blocks
    # live then can be fewer than the trace's peak (a big one may already be unmapped)
    if strict and r["heap_peak_rss"] < d["peak_live_bytes"]: bad.append("RSS at the heap peak %d < live %d" % (r["heap_peak_rss"], d["peak_live_bytes"]))
    if not r["heap_peak_rss"] > r["baseline_rss"]: bad.append("RSS at the heap peak %d <= base %d" % (r["heap_peak_rss"], r["baseline_rss"]))
    if r["peak_rss"] < r["heap_peak_rss"] or r["peak_rss"] < r["end_rss"]: bad.append("peak below a sample")
    if r["page_faults"] * 4096 < d["peak_live_bytes"] // 2: bad.append("page faults %d" % r["page_faults"])
    if r["failed"]: bad.append("failed %d" % r["failed"])
    # Debian's jemalloc has no pvalloc or reallocarray, tcmalloc no reallocarray
    want = {"glibc": [], "mimalloc": [], "jemalloc": ["pvalloc", "reallocarray"],
            "tcmalloc": ["reallocarray"]}.get(r["allocator"], [])
    if sorted(r["substituted"]) != want: bad.append("stand-ins %s" % r["substituted"])
    print("%s %s" % (r["allocator"], "ok" if not bad else ",".join(bad)))
PYEOF
  expect_eq "$o: results fastest first" "$(head -1 "$T/check_$o.txt")" sorted
  while read -r name verdict; do
    expect_eq "$o: $name measurements" "$verdict" ok
  done < <(tail -n +2 "$T/check_$o.txt")
done

# the chart script draws the JSON
if "$PY" -c 'import matplotlib' 2>/dev/null; then
  mkdir -p "$T/plot"
  "$PY" "$SRCDIR/scripts/plot_replay.py" "$T/rp_recorded.json" -o "$T/plot" >/dev/null 2>&1
  expect_eq "replay.png written" "$([ -s "$T/plot/replay.png" ] && echo yes)" yes
fi

# text table: one row per allocator, glibc always among them
"$ATR" replay --repeat 2 --allocator glibc,glibc -o "$T/table.json" "$T/known.zst" >"$T/table.txt" 2>&1
expect_match "table header" "$(cat "$T/table.txt")" "replay of known: 56 calls \(31 allocations\) on 1 thread"
expect_eq "glibc listed once" "$(grep -c '^glibc ' "$T/table.txt")" 1
expect_eq "-o writes the JSON too" "$(jget "$T/table.json" results.0.allocator)/$(jget "$T/table.json" repeat)" glibc/2

# errors: one line, exit 2
expect_exit "unknown allocator" 2 "$ATR" replay --allocator nosuch "$T/known.zst"
expect_match "unknown allocator message" "$OUT" "unknown allocator 'nosuch'"
expect_exit "missing library" 2 "$ATR" replay --allocator "$T/nope/libx.so" "$T/known.zst"
expect_match "missing library message" "$OUT" "libx.so: No such file"
zlib=$(ldd "$ATR" | awk '/libzstd/ {print $3; exit}')
if [ -n "$zlib" ]; then
  expect_exit "library that is no allocator" 2 "$ATR" replay --repeat 1 --allocator "$zlib" "$T/known.zst"
  expect_match "no-allocator message" "$OUT" "does not replace malloc"
fi
expect_exit "not a trace" 2 "$ATR" replay "$TESTS/lib.sh"
expect_eq "not a trace: one line" "$(printf '%s\n' "$OUT" | wc -l)" 1
expect_exit "bad repeat" 2 "$ATR" replay --repeat 0 "$T/known.zst"
expect_exit "bad order" 2 "$ATR" replay --order random "$T/known.zst"
expect_exit "replayer on a non-op file" 2 "$REPLAYER" "$TESTS/lib.sh"

# truncated trace: the complete frames are replayed and the cut is reported (phases ends
# a frame after each of its 8 bursts: a cut at 2/3 leaves complete frames of events)
"$ATR" run -q -o "$T/phases.zst" -- "$PROGS/phases" 8 || not_ok "phases traced"
"$ATR" summary --json "$T/phases.zst" >"$T/phases.json"
size=$(stat -c %s "$T/phases.zst")
head -c $((size * 2 / 3)) "$T/phases.zst" >"$T/cut.zst"
# a cut exactly on a frame boundary (1 in ~57 runs) is a complete shorter trace: one byte less
if ! "$ATR" summary "$T/cut.zst" 2>&1 >/dev/null | grep -q truncated; then
  head -c $((size * 2 / 3 - 1)) "$T/phases.zst" >"$T/cut.zst"
fi
"$ATR" summary --json "$T/cut.zst" >"$T/cut.json" 2>/dev/null
"$ATR" replay --json --repeat 1 --allocator glibc "$T/cut.zst" >"$T/cut_rp.json" 2>"$T/cut_rp.err"
expect_eq "truncated trace replays" "$?" 0
expect_match "truncation reported" "$(cat "$T/cut_rp.err")" "truncated.*replaying the [0-9,]+ complete events"
expect_eq "truncated flag" "$(jget "$T/cut_rp.json" truncated)" true
expect_eq "the complete part is replayed" "$(jget "$T/cut_rp.json" allocations)" "$(jget "$T/cut.json" totals.allocations)"
expect_eq "less than the whole trace" "$(( $(jget "$T/cut_rp.json" allocations) < $(jget "$T/phases.json" totals.allocations) ))" 1
expect_eq "more than nothing" "$(( $(jget "$T/cut_rp.json" allocations) > 0 ))" 1
head -c 64 "$T/demo.zst" >"$T/stub.zst"
expect_exit "no complete frame" 2 "$ATR" replay "$T/stub.zst"
expect_match "no complete frame message" "$OUT" "stub.zst: truncated trace"
finish
