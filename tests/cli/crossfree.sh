# crossfree: 8 threads x 1,000,000 malloc/free pairs, every block freed by another thread
# (tests/progs/crossfree.c). The trace must hold exactly 16,000,000 events more than the
# same program with no pairs, in a consistent global order (no block freed before it was
# allocated or allocated twice while live), with exactly the program's leaks; under both
# unwinders, and without deadlocking (every run is under a timeout).
. "$TESTS/lib.sh"
# ALLOCTRACE_TEST_SKEW_* works only in the tests' copy of the library (tracer.h ATR_SKEW)
export ALLOCTRACE_LIB=$ATR_LIB_SEAMS
P=$PROGS/crossfree
THREADS=8
PAIRS=1000000

# facts FILE: the numbers this test checks, one "name value" per line (one Python start
# per trace: starting it for each number costs more than tracing under load)
facts() {
  "$PY" - "$1" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
t, r = j["totals"], j["recorder"]
def site(metric, fn, field):
    hits = [e for e in j["top"][metric] if e["function"] == fn]
    return hits[0].get(field, "none") if hits else "none"
for k in ("allocations", "frees", "allocated_bytes", "leaked_bytes", "leaked_blocks",
          "unknown_frees", "failed_allocations"):
    print(k, t[k])
for k in ("events", "inconsistencies", "ring_waits", "compressed_bytes"):
    print(k, r[k])
print("complete", "true" if r["complete"] else "false")
print("leak_site", "%s/%s" % (site("leaked", "crossfree_leak", "blocks"),
                              site("leaked", "crossfree_leak", "bytes")))
print("alloc_site", site("allocations", "crossfree_alloc", "count"))
PYEOF
}
# f FACTS NAME
f() { sed -n "s/^$2 //p" "$1"; }

# the checksum is the sum of (k mod 256) over each worker's blocks k = 0..PAIRS-1
sum=$(( (PAIRS / 256) * 32640 + (PAIRS % 256) * (PAIRS % 256 - 1) / 2 ))
WANT_OUT="crossfree $THREADS $PAIRS $(( sum * THREADS ))"
# block k is 16 + (k % 61) * 8 bytes
BYTES=$(( THREADS * (16 * PAIRS + 8 * ((PAIRS / 61) * 1830 + (PAIRS % 61) * (PAIRS % 61 - 1) / 2)) ))

rc=0; timeout 60 "$ATR" run -q -o "$T/base.zst" -- "$P" "$THREADS" 0 >"$T/base.out" 2>&1 || rc=$?
expect_eq "baseline run (no pairs)" "$rc" 0
"$ATR" summary --json "$T/base.zst" >"$T/base.json"
facts "$T/base.json" >"$T/base.facts"
B=$T/base.facts

# free-early / alloc-early: stamps of frees / allocations forced 20 us early, so that
# cross-thread frees and reuses arrive out of order and the writer must hold them back
for run in libunwind fp free-early alloc-early; do
  case $run in
    free-early) unwind=libunwind; skew=ALLOCTRACE_TEST_SKEW_FREE_US=-20 ;;
    alloc-early) unwind=fp; skew=ALLOCTRACE_TEST_SKEW_ALLOC_US=-20 ;;
    *) unwind=$run; skew=ALLOCTRACE_TEST_SKEW_FREE_US=0 ;;
  esac
  J=$T/$run.facts
  start=$(date +%s%N)
  rc=0
  env "$skew" timeout 100 "$ATR" run -q --unwind=$unwind -o "$T/$run.zst" -- "$P" "$THREADS" \
    "$PAIRS" >"$T/$run.out" 2>"$T/$run.err" || rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  expect_eq "$run: exit status (124 would be a hang)" "$rc" 0
  expect_eq "$run: program output" "$(cat "$T/$run.out")" "$WANT_OUT"
  "$ATR" summary --json "$T/$run.zst" >"$T/$run.json" 2>>"$T/$run.err"
  facts "$T/$run.json" >"$J"
  d() { echo $(( $(f "$J" "$1") - $(f "$B" "$1") )); }
  expect_eq "$run: events beyond the baseline" "$(d events)" $(( 2 * THREADS * PAIRS ))
  expect_eq "$run: allocations beyond the baseline" "$(d allocations)" $(( THREADS * PAIRS ))
  expect_eq "$run: frees beyond the baseline" "$(d frees)" $(( THREADS * PAIRS ))
  expect_eq "$run: recorder count = decoded events" "$(f "$J" events)" \
    $(( $(f "$J" allocations) + $(f "$J" frees) ))
  expect_eq "$run: inconsistencies" "$(f "$J" inconsistencies)" 0
  expect_eq "$run: unknown frees" "$(f "$J" unknown_frees)" 0
  expect_eq "$run: failed allocations" "$(f "$J" failed_allocations)" 0
  expect_eq "$run: complete" "$(f "$J" complete)" true
  expect_eq "$run: leaked bytes = baseline's" "$(f "$J" leaked_bytes)" "$(f "$B" leaked_bytes)"
  expect_eq "$run: leaked blocks = baseline's" "$(f "$J" leaked_blocks)" "$(f "$B" leaked_blocks)"
  expect_eq "$run: the program's leaks (36 blocks, 20400 B)" "$(f "$J" leak_site)" 36/20400
  expect_eq "$run: allocation site" "$(f "$J" alloc_site)" $(( THREADS * PAIRS ))
  expect_eq "$run: allocated bytes beyond the baseline" "$(d allocated_bytes)" "$BYTES"
  ok "$run: $(f "$J" events) events in $ms ms, $(f "$J" ring_waits) ring waits, $(f "$J" compressed_bytes) trace bytes"
done
finish
