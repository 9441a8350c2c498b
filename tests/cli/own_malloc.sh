# own_malloc: a program that defines malloc & co. itself (tests/progs/own_malloc.c
# documents every number) is traced through a detour of its own entry points: the trace
# has exactly the calls, bytes, frees, reallocs, failures, peak and leaks the program
# counted itself, the known workload among them, and nothing twice where the program's
# allocator gets its memory from libc (__libc_malloc, or liballoctrace's malloc through
# dlsym(RTLD_NEXT)). One it cannot patch is named in one sentence by `run` and `summary`.
# Forks from threads, one while a thread holds the allocator's lock: see "fork" below.
. "$TESTS/lib.sh"

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
    "$(counts "$T/$v.err" all)"
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

# a library's constructor that runs before liballoctrace's (ld.so initialises an
# executable's libraries first) and allocates through the executable's malloc after
# registering its destructor, as C++ static constructors do: the registration starts
# the tracer, so its 100 blocks of 1777 B (tests/progs/own_early.c) are seen, and their
# frees at exit are no unknown frees; the rest is what the program counted
trace early "$PROGS/own_malloc_early"
expect_eq "early: exits 0" "$?" 0
"$ATR" dump "$T/early.zst" >"$T/early.dump"
expect_eq "early: the constructor's blocks, their frees at exit, unknown frees" "$("$PY" -c '
import json, sys
n = {"alloc": 0, "free": 0, "unknown_free": 0}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("event") == "alloc" and e["size"] == 1777 and e["kind"] == "own malloc":
        n["alloc"] += 1
    elif e.get("event") == "free" and e["old_size"] == 1777:
        n["free"] += 1
    elif e.get("event") == "unknown_free":
        n["unknown_free"] += 1
print(n["alloc"], n["free"], n["unknown_free"])' "$T/early.dump")" "100 100 0"
expect_eq "early: the trace is what the program counted, plus the constructor's" \
  "$(totals "$T/early.json")" "$(counts "$T/early.err" all | "$PY" -c '
import json, sys
c = json.load(sys.stdin)
for k, v in (("allocations", 100), ("allocated_bytes", 177700), ("frees", 100),
             ("peak_bytes", 177700)):
    c[k] += v
print(json.dumps(c, sort_keys=True))')"

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

# fork: while 4 threads allocate, one holds the allocator's lock inside malloc and 2 fork
# past the program's atfork handlers (one child only writes and leaves, one execs
# "own_malloc exec-child"), then 3 fork() normally and their children allocate and free
# (tests/progs/own_malloc.c); RUNS times, each within a timeout: the tracer must never
# call the program's allocator from a state that deadlocks (a child of a bare fork
# inherits that lock held). Each run: the output and status of the native run, no hang,
# and every process image traced with exactly what it counted itself.
RUNS=${ATR_TEST_OWN_MALLOC_RUNS:-50}
CHILD='{"allocated_bytes": 10000, "allocations": 10, "failed_allocations": 0, "frees": 5, "leaked_blocks": 5, "leaked_bytes": 5000, "peak_bytes": 10000, "reallocs": 0}'
timeout 60 "$PROGS/own_malloc" fork >"$T/native.out" 2>"$T/native.err"
expect_eq "fork natively: exits 0" "$?" 0
sort "$T/native.out" >"$T/native.sorted"
expect_eq "fork natively: the children's lines" \
  "$(grep -c '^child_work' "$T/native.sorted") $(grep -c '^exec_work' "$T/native.sorted") $(grep -c '^bare_child exits$' "$T/native.sorted")" \
  "3 1 1"
expect_eq "fork natively: its work" "$(counts "$T/native.out" work)" "$WORK"
expect_eq "fork natively: a child's work" "$(counts "$T/native.out" child_work | sort -u)" "$CHILD"

# check_fork TRACE OUT ERR: one line, "good" or what was wrong, for one traced run
check_fork() {
  "$PY" - "$ATR" "$@" <<'PYEOF'
import json, subprocess, sys
atr, trace, out, err = sys.argv[1:]
names = {"calls": "allocations", "bytes": "allocated_bytes", "frees": "frees",
         "reallocs": "reallocs", "failed": "failed_allocations", "peak": "peak_bytes",
         "leaked_bytes": "leaked_bytes", "leaked_blocks": "leaked_blocks"}
def counted(path, what):
    for line in open(path):
        f = line.split()
        if f and f[0] == what:
            return {names[k]: int(v) for k, v in (x.split("=") for x in f[1:])}
def summary(sel):
    r = subprocess.run([atr, "summary", "--json", sel], capture_output=True, text=True)
    if r.returncode:
        return None
    return json.loads(r.stdout)
def totals(j):
    return {k: j["totals"][k] for k in names.values()}
def bad(why):
    print(why)
    sys.exit(0)
root = summary(trace)
if root is None:
    bad("the trace does not decode")
if totals(root) != counted(err, "all"):
    bad("parent: %s, counted %s" % (totals(root), counted(err, "all")))
if root["recorder"]["inconsistencies"] or not root["recorder"]["complete"]:
    bad("parent: inconsistent or incomplete")
kids = [p for p in root.get("processes", []) if p["ppid"] == root["pid"]]
cmds = sorted(p["command"].split()[-1] for p in kids)
if cmds != ["exec-child", "fork", "fork", "fork"]:
    bad("children traced: %s" % cmds)
for p in kids:
    j = summary("%s@%d%s" % (trace, p["pid"], ".%d" % p["image"] if p["image"] else ""))
    want = counted(err, "exec_all") if p["command"].endswith("exec-child") else counted(out, "child_work")
    if j is None or totals(j) != want or not j["recorder"]["complete"] or \
       j["recorder"]["inconsistencies"] or j["totals"]["unknown_frees"]:
        bad("child %d (%s): %s, counted %s" % (p["pid"], p["command"], j and totals(j), want))
    if j["layers"] != ["own malloc"]:
        bad("child %d: layers %s" % (p["pid"], j["layers"]))
print("good")
PYEOF
}
hung=0 status=0 same=0 good=0
for i in $(seq "$RUNS"); do
  timeout 60 "$ATR" run -q -o "$T/fork$i.zst" -- "$PROGS/own_malloc" fork \
    >"$T/fork$i.out" 2>"$T/fork$i.err"
  rc=$?
  [ $rc = 124 ] && hung=$((hung + 1))
  [ $rc = 0 ] && status=$((status + 1))
  sort "$T/fork$i.out" | cmp -s - "$T/native.sorted" && same=$((same + 1))
  v=$(check_fork "$T/fork$i.zst" "$T/fork$i.out" "$T/fork$i.err")
  if [ "$v" = good ]; then
    good=$((good + 1))
    rm -f "$T/fork$i".*
  else
    echo "# run $i (exit $rc): $v"
  fi
done
expect_eq "fork: runs that hung (60 s)" "$hung" 0
expect_eq "fork: runs that exit 0, as natively" "$status" "$RUNS"
expect_eq "fork: runs with the native output (but the children's order)" "$same" "$RUNS"
expect_eq "fork: runs where the parent, 3 fork children and the exec'd child each have a trace with exactly what they counted" \
  "$good" "$RUNS"
finish
