# own_malloc: a program that defines malloc & co. itself (tests/progs/own_malloc.c
# documents every number) is traced through a detour of its own entry points: the trace
# has exactly the calls, bytes, frees, reallocs, failures, peak and leaks the program
# counted itself, the known workload among them, and nothing twice where the program's
# allocator gets its memory from libc (__libc_malloc, or liballoctrace's malloc through
# dlsym(RTLD_NEXT)). One it cannot patch is named in one sentence by `run` and `summary`.
# Forks from threads while others allocate: see FORK below.
. "$TESTS/lib.sh"

# The fork part hangs with a recorder inside the traced process: the fork child rebuilds
# the writer, zstd calls the program's malloc, and the program's pthread_atfork child
# handler (which unlocks that malloc) runs only after the tracer's. It needs the
# out-of-process recorder (issue 16); set FORK=1 (or ATR_TEST_OWN_MALLOC_FORK=1) with it.
FORK=${ATR_TEST_OWN_MALLOC_FORK:-0}

# counts OUTFILE WHAT: the program's own "WHAT ..." line as JSON, in the summary's names
counts() {
  "$PY" - "$1" "$2" <<'PYEOF'
import json, sys
names = {"calls": "allocations", "bytes": "allocated_bytes", "frees": "frees",
         "reallocs": "reallocs", "failed": "failed_allocations", "peak": "peak_bytes",
         "leaked_bytes": "leaked_bytes", "leaked_blocks": "leaked_blocks"}
for line in open(sys.argv[1]):
    f = line.split()
    if f and f[0] == sys.argv[2]:
        kv = dict(x.split("=") for x in f[1:])
        print(json.dumps({names[k]: int(v) for k, v in kv.items()}, sort_keys=True))
PYEOF
}
# totals JSON: the summary's totals the program counts too
totals() {
  "$PY" - "$1" <<'PYEOF'
import json, sys
t = json.load(open(sys.argv[1]))["totals"]
keys = ("allocations", "allocated_bytes", "frees", "reallocs", "failed_allocations",
        "peak_bytes", "leaked_bytes", "leaked_blocks")
print(json.dumps({k: t[k] for k in keys}, sort_keys=True))
PYEOF
}
WORK='{"allocated_bytes": 1860092, "allocations": 4118, "failed_allocations": 5, "frees": 4111, "leaked_blocks": 3, "leaked_bytes": 768, "peak_bytes": 1572864, "reallocs": 6}'
# kinds KINDS_JSON: every kind but malloc and calloc, which libc, ld.so's dlopen and
# libstdc++'s start-up use too; those two are only named
kinds() {
  "$PY" -c '
import json, sys
k = json.loads(sys.argv[1])
print(json.dumps({n: (c if n not in ("own malloc", "own calloc") else "some")
                  for n, c in k.items()}))' "$1"
}

for v in own_malloc own_malloc_libc own_malloc_next; do
  trace "$v" "$PROGS/$v"
  expect_eq "$v exits 0 under the tracer (every result and errno as without it)" "$?" 0
  J=$T/$v.json
  expect_eq "$v: its known workload, counted by itself" "$(counts "$T/$v.out" work)" "$WORK"
  expect_eq "$v: the trace has exactly what the program counted" "$(totals "$J")" \
    "$(counts "$T/$v.out" all)"
  expect_eq "$v: seen through its own malloc and libstdc++'s operators (nothing twice)" \
    "$(jget "$J" layers)" '["C++ operators", "own malloc"]'
  expect_eq "$v: each entry point as what it is, operator new as the operator" \
    "$(kinds "$(jget "$J" kinds)")" \
    '{"operator new": 1, "operator new[]": 1, "own malloc": "some", "own calloc": "some", "own realloc": 3, "own reallocarray": 1, "own posix_memalign": 1, "own aligned_alloc": 1, "own memalign": 1, "own valloc": 1, "own pvalloc": 1}'
  expect_eq "$v: the note names the program" "$(jget "$J" recorder.notes)" \
    "[\"$PROGS/$v defines malloc itself; traced through a detour of 10 functions\"]"
  expect_eq "$v: inconsistencies" "$(jget "$J" recorder.inconsistencies)" 0
  expect_eq "$v: unknown frees" "$(jget "$J" totals.unknown_frees)" 0
  expect_eq "$v: top peak call site" "$(jget "$J" top.peak.0.function)/$(jget "$J" top.peak.0.bytes)" \
    peak/1572864
  expect_eq "$v: the threads' allocations" \
    "$(jget "$J" top.allocations.0.function)/$(jget "$J" top.allocations.0.count)" churn/4000
  expect_eq "$v: the workload's leaks" "$("$PY" -c '
import json, sys
print([(e["bytes"], e["blocks"]) for e in json.load(open(sys.argv[1]))["top"]["leaked"]
       if e["function"] == "leaks"])' "$J")" "[(768, 3)]"
done

# what the tracer saw of it before this layer: libstdc++'s two operators (hooked by
# name), nothing of the program's own calls
ALLOCTRACE_PATCH=0 "$ATR" run -q -o "$T/off.zst" -- "$PROGS/own_malloc" >/dev/null 2>&1
"$ATR" summary --json "$T/off.zst" >"$T/off.json"
expect_eq "without patching only the C++ operators are seen" \
  "$(jget "$T/off.json" totals.allocations) $(jget "$T/off.json" kinds)" \
  '2 {"operator new": 1, "operator new[]": 1}'

# an allocator with one entry point that cannot be detoured: none is, and both say so
P=$PROGS/own_malloc_refused
"$ATR" run -o "$T/refused.zst" -- "$P" >"$T/refused.out" 2>"$T/refused.err"
expect_eq "refused: exits 0" "$?" 0
SENTENCE="$P defines malloc itself; its allocations were not seen \\(memalign: a branch targets the prologue\\)"
expect_match "refused: run says so in one sentence" "$(cat "$T/refused.err")" "^alloctrace: note: $SENTENCE\$"
"$ATR" summary "$T/refused.zst" >"$T/refused.txt"
expect_match "refused: summary says so" "$(cat "$T/refused.txt")" "^  note: $SENTENCE\$"
expect_match "refused: seen through the C++ operators only" \
  "$(grep 'seen through' "$T/refused.txt")" '^  seen through: +C\+\+ operators$'
"$ATR" summary --json "$T/refused.zst" >"$T/refused.json"
expect_eq "refused: none of its own calls in the trace (none half-patched)" \
  "$(jget "$T/refused.json" kinds)" '{"operator new": 1, "operator new[]": 1}'

# FORK: 3 threads fork while 4 others allocate; each child makes its known allocations
if [ "$FORK" = 1 ]; then
  mkdir "$T/fork"
  timeout 120 "$ATR" run -q -o "$T/fork/parent.zst" -- "$PROGS/own_malloc" fork \
    >"$T/fork.out" 2>"$T/fork.err"
  expect_eq "fork: exits 0, no child hung (needs the out-of-process recorder)" "$?" 0
  "$ATR" summary --json "$T/fork/parent.zst" >"$T/fork.json"
  expect_eq "fork: the parent's trace has what it counted" "$(totals "$T/fork.json")" \
    "$(counts "$T/fork.out" all)"
  expect_eq "fork: parent inconsistencies" "$(jget "$T/fork.json" recorder.inconsistencies)" 0
  expect_eq "fork: three children" "$(grep -c '^child pid=' "$T/fork.out")" 3
  while read -r _ pid rest; do
    pid=${pid#pid=}
    echo "$rest" >"$T/child.out"
    child=$(ls "$T/fork/"*".$pid.zst" 2>/dev/null | head -1)
    [ -n "$child" ] && "$ATR" summary --json "$child" >"$T/child.json" 2>&1
    expect_eq "fork: child $pid's known allocations" "$(counts "$T/child.out" work)" \
      '{"allocated_bytes": 10000, "allocations": 10, "failed_allocations": 0, "frees": 5, "leaked_blocks": 5, "leaked_bytes": 5000, "peak_bytes": 10000, "reallocs": 0}'
    expect_eq "fork: child $pid's trace has them" "$([ -n "$child" ] && totals "$T/child.json")" \
      "$(counts "$T/child.out" work)"
  done < <(grep '^child pid=' "$T/fork.out")
else
  ok "fork from threads # SKIP needs the out-of-process recorder (ATR_TEST_OWN_MALLOC_FORK=1)"
fi
finish
