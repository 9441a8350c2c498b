# known_cxx: every operator new/delete variant, std::vector, std::string, a thrown
# exception and a bad_alloc (tests/progs/known_cxx.cc documents the numbers). The traced
# run must behave exactly like the untraced one; the trace holds exactly the program's
# allocations beyond `known_cxx none` (libstdc++'s start-up pool), with their kinds,
# sizes, alignments and demangled call sites.
. "$TESTS/lib.sh"
P=$PROGS/known_cxx
SRC=$SRCDIR/tests/progs/known_cxx.cc

# jget FILE PATH, as in lib.sh, but one Python start per JSON file instead of one per
# number (under load a start costs more than the traced run): FILE.flat holds every path
# "a.b.0.c<TAB>value", and "site:METRIC:FUNCTION:N:FIELD<TAB>value" for the Nth entry of
# top.METRIC whose function is FUNCTION
flat() {
  [ -f "$1.flat" ] || "$PY" - "$1" >"$1.flat" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
def show(v):
    if isinstance(v, (dict, list)):
        return json.dumps(v)
    return "true" if v is True else "false" if v is False else str(v)
def walk(v, path):
    print("%s\t%s" % (path, show(v)))
    if isinstance(v, dict):
        for k, x in v.items():
            walk(x, path + "." + k if path else k)
    elif isinstance(v, list):
        for i, x in enumerate(v):
            walk(x, "%s.%d" % (path, i))
walk(j, "")
for metric, entries in j["top"].items():
    seen = {}
    for e in entries:
        n = seen.get(e["function"], 0)
        seen[e["function"]] = n + 1
        for k, x in e.items():
            print("site:%s:%s:%d:%s\t%s" % (metric, e["function"], n, k, show(x)))
PYEOF
}
jget() {
  flat "$1"
  awk -F'\t' -v k="$2" '$1 == k { print $2; f = 1; exit } END { if (!f) print "none" }' "$1.flat"
}
# site METRIC FUNCTION FIELD [N]: FIELD of the Nth (default first) entry of top.METRIC
# whose function is FUNCTION in summary JSON $J; "none" if there is none
site() { jget "$J" "site:$1:$2:${4:-0}:$3"; }

# events TRACE: the sorted allocation events (kind/size/align, failed ones marked) and
# the number of frees, from `alloctrace dump`
events() {
  "$ATR" dump "$1" | "$PY" -c '
import json, sys
allocs, frees = [], 0
for line in sys.stdin:
    e = json.loads(line)
    if e.get("event") in ("alloc", "alloc_failed"):
        allocs.append("%s%s %s/%s" % ("FAILED " if e["event"] == "alloc_failed" else "",
                                       e["kind"], e["size"], e["align"]))
    elif e.get("event") == "free":
        frees += 1
print("\n".join(sorted(allocs)))
print("frees %d" % frees)'
}

# behaviour: identical output and exit status with and without the tracer
rc0=0; want=$("$P" 2>&1) || rc0=$?
rc=0; trace full "$P" || rc=$?
expect_eq "exit status traced" "$rc" "$rc0"
expect_eq "output traced" "$(cat "$T/full.out")" "$want"
expect_match "checksum line" "$want" '^known_cxx checksum=[0-9]+$'
trace none "$P" none || not_ok "known_cxx none exits 0"
J=$T/full.json
B=$T/none.json
d() { echo $(( $(jget "$J" "$1") - $(jget "$B" "$1") )); }

# exact totals beyond the libstdc++ start-up allocation
expect_eq "baseline: one allocation (libstdc++ pool)" "$(jget "$B" totals.allocations)" 1
expect_eq "allocations" "$(d totals.allocations)" 36
expect_eq "frees" "$(d totals.frees)" 33
expect_eq "allocated bytes" "$(d totals.allocated_bytes)" 1120098
expect_eq "leaked bytes" "$(d totals.leaked_bytes)" 121
expect_eq "leaked blocks" "$(d totals.leaked_blocks)" 3
expect_eq "peak above the pool" "$(d totals.peak_bytes)" 1114233
expect_eq "temporary" "$(d totals.temporary)" 7
expect_eq "failed allocations (two huge new[])" "$(jget "$J" totals.failed_allocations)" 2
expect_eq "unknown frees" "$(jget "$J" totals.unknown_frees)" 0
expect_eq "inconsistencies" "$(jget "$J" recorder.inconsistencies)" 0
expect_eq "trace complete" "$(jget "$J" recorder.complete)" true

# kinds and alignments
expect_eq "operator new calls" "$(jget "$J" 'kinds.operator new')" 21
expect_eq "operator new[] calls" "$(jget "$J" 'kinds.operator new[]')" 5
expect_eq "operator new(align) calls" "$(jget "$J" 'kinds.operator new(align)')" 4
expect_eq "operator new[](align) calls" "$(jget "$J" 'kinds.operator new[](align)')" 3
expect_eq "malloc calls (3 exception objects)" "$(d kinds.malloc)" 3
expect_eq "align 64" "$(jget "$J" alignment.0.align)/$(jget "$J" alignment.0.count)" 64/3
expect_eq "align 256" "$(jget "$J" alignment.1.align)/$(jget "$J" alignment.1.count)" 256/4
expect_eq "layers" "$(jget "$J" layers)" '["libc", "C++ operators"]'

# every event, exactly: the program's allocations are the full trace minus the baseline
WANT="FAILED operator new[] 4611686018427387904/0
FAILED operator new[] 4611686018427387904/0
malloc 132/0
malloc 136/0
malloc 136/0
operator new 101/0
operator new 128/0
operator new 16/0
operator new 201/0
operator new 24/0
operator new 256/0
operator new 32/0
operator new 32/0
operator new 4/0
operator new 41/0
operator new 48/0
operator new 48/0
operator new 48/0
operator new 48/0
operator new 48/0
operator new 48/0
operator new 48/0
operator new 51/0
operator new 512/0
operator new 64/0
operator new 8/0
operator new(align) 100/64
operator new(align) 192/64
operator new(align) 64/64
operator new(align) 65536/256
operator new[] 1000/0
operator new[] 1048576/0
operator new[] 144/0
operator new[] 40/0
operator new[] 400/0
operator new[](align) 1024/256
operator new[](align) 300/256
operator new[](align) 512/256"
GOT=$(events "$T/full.zst" | grep -v '^frees' | "$PY" -c '
import sys
base = sys.argv[1].splitlines()
for line in sys.stdin.read().splitlines():
    if line in base:
        base.remove(line)
    else:
        print(line)' "$(events "$T/none.zst" | grep -v '^frees')")
expect_eq "every allocation: kind size/align" "$GOT" "$WANT"
expect_eq "every free" "$(events "$T/full.zst" | sed -n 's/^frees //p')" 33

# call sites, demangled, with the source lines they come from
line_of() { grep -n -F -- "$1" "$SRC" | head -1 | cut -d: -f1; }
expect_eq "peak site" "$(jget "$J" top.peak.0.function)" build_peak
expect_eq "peak site bytes" "$(jget "$J" top.peak.0.bytes)" 1048576
expect_eq "peak site line" "$(jget "$J" top.peak.0.line)" "$(line_of 'char *big = new char[1 << 20]')"
expect_eq "peak site file" "$(jget "$J" top.peak.0.file | sed 's|.*/||')" known_cxx.cc
expect_eq "widgets: allocations" "$(site allocations make_widgets count)" 6
expect_eq "widgets: line" "$(site allocations make_widgets line)" "$(line_of 'widgets[i] = new Widget;')"
expect_eq "widgets: leaked" "$(site leaked make_widgets bytes)/$(site leaked make_widgets blocks)" 48/1
expect_eq "strings: leaked (object + buffer)" "$(site leaked make_strings bytes)/$(site leaked make_strings blocks)" 73/2
expect_eq "vector growth: 8 allocations at one site" "$(site allocations grow_vector count)" 8
expect_match "vector growth: demangled template frames" "$(site allocations grow_vector stack)" \
  '"std::vector<int, std::allocator<int> >::push_back".*"grow_vector"'
expect_match "string: demangled basic_string frames" "$(site leaked make_strings stack)" \
  'std::__cxx11::basic_string<char, std::char_traits<char>, std::allocator<char> >::'
expect_match "operator new frame is libstdc++'s, no tracer frame" "$(site allocations make_widgets stack)" \
  '^\[\{"function": "operator new", "file": [^]]*"module": "libstdc\+\+[^"]*"\}, \{"function": "make_widgets"'
expect_no_match "no liballoctrace frame in any stack" "$(cat "$J")" 'liballoctrace'
expect_match "exception object allocated by __cxa_allocate_exception" \
  "$(site temporary throw_and_catch stack)" '^\[\{"function": "__cxa_allocate_exception"'
expect_eq "bad_alloc objects: two temporaries in huge_new" \
  "$(site temporary huge_new count)+$(site temporary huge_new count 1)" 1+1
expect_eq "aligned_allocs: six call sites" "$("$PY" -c '
import json, sys
print(sum(1 for e in json.load(open(sys.argv[1]))["top"]["allocations"] if e["function"] == "aligned_allocs"))' "$J")" 6

# the frame-pointer unwinder sees the same program
rc=0; "$ATR" run -q --unwind=fp -o "$T/fp.zst" -- "$P" >"$T/fp.out" 2>"$T/fp.err" || rc=$?
expect_eq "fp: exit status" "$rc" "$rc0"
expect_eq "fp: output" "$(cat "$T/fp.out")" "$want"
"$ATR" summary --json "$T/fp.zst" >"$T/fp.json"
expect_eq "fp: allocations" "$(jget "$T/fp.json" totals.allocations)" "$(jget "$J" totals.allocations)"
expect_eq "fp: frees" "$(jget "$T/fp.json" totals.frees)" "$(jget "$J" totals.frees)"
expect_eq "fp: unknown frees" "$(jget "$T/fp.json" totals.unknown_frees)" 0
expect_eq "fp: peak site" "$(jget "$T/fp.json" top.peak.0.function)" build_peak
finish
