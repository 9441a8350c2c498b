# flamegraph_big: tests/progs/manystacks makes 1,000,000 allocations from 131,072 distinct
# stacks; the HTML flame graph of its trace must stay under 5 MB with every metric's total
# exact (small frames merged into "[other]"), and the folded stacks must list every stack.
# Prints (and keeps in $ATR_ARTEFACTS/flamegraph/big.txt) the seconds and bytes; times are
# recorded, never asserted.
. "$TESTS/lib.sh"
MAKE=$ATR
[ -n "${ATR_NORMAL:-}" ] && [ -x "$ATR_NORMAL" ] && MAKE=$ATR_NORMAL
N=1000000
"$MAKE" run -q -o "$T/many.zst" -- "$PROGS/manystacks" $N >/dev/null 2>"$T/many.err" ||
  skip "cannot record manystacks with $MAKE: $(head -c 300 "$T/many.err")"
"$ATR" summary --json "$T/many.zst" >"$T/many.json" || not_ok "summary"
cd "$T" || exit 1
expect_eq "manystacks: allocations" "$(jget many.json totals.allocations)" $N

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", b - a}'; }
t0=$(now)
"$ATR" flamegraph -o many.html many.zst 2>err.txt || not_ok "flamegraph html: $(cat err.txt)"
t1=$(now)
"$ATR" flamegraph --format svg -o many.svg many.zst 2>err.txt || not_ok "flamegraph svg: $(cat err.txt)"
t2=$(now)
"$ATR" flamegraph --format folded --metric allocations many.zst >many.folded 2>err.txt ||
  not_ok "flamegraph folded: $(cat err.txt)"
t3=$(now)
html_bytes=$(stat -c %s many.html)
svg_bytes=$(stat -c %s many.svg)
stacks=$(wc -l <many.folded | tr -d ' ')
report="manystacks $N: $(jget many.json recorder.events) events, $stacks distinct stacks, trace $(stat -c %s many.zst) B
html: $(secs "$t0" "$t1") s, $html_bytes B
svg: $(secs "$t1" "$t2") s, $svg_bytes B
folded (allocations): $(secs "$t2" "$t3") s, $(stat -c %s many.folded) B"
printf '%s\n' "$report" | sed 's/^/# /'
ART=${ATR_ARTEFACTS:-$T}/flamegraph
mkdir -p "$ART" && printf '%s\n' "$report" >"$ART/big.txt"

expect_eq "at least 100,000 distinct stacks in the folded output" "$([ "$stacks" -ge 100000 ] && echo yes)" yes
expect_eq "folded allocations sum to the total" "$(awk '{s += $NF} END {printf "%d\n", s}' many.folded)" $N
expect_eq "the page stays under 5 MB" "$([ "$html_bytes" -lt 5000000 ] && echo yes || echo "no: $html_bytes")" yes
while read -r line; do
  case $line in
    ok*) ok "many.html: ${line#ok }" ;;
    *) not_ok "many.html: ${line#FAIL }" ;;
  esac
done < <("$PY" - many.html many.json <<'PYEOF'
import json, re, sys
page = open(sys.argv[1], encoding="utf-8").read()
summ = json.load(open(sys.argv[2]))
d = json.loads(re.search(r"const ATR_DATA = (.*?);</script>", page, re.S).group(1))
keys = {"peak": "peak_bytes", "leaked": "leaked_bytes", "allocated": "allocated_bytes",
        "allocations": "allocations", "temporary": "temporary"}
def check(cond, what):
    print(("ok " if cond else "FAIL ") + what)
for k, m in enumerate(d["metrics"]):
    got = sum(r[k] for r in d["nodes"]["self"])
    check(got == summ["totals"][keys[m]], "%s sums to %d (got %d)" % (m, summ["totals"][keys[m]], got))
names = [d["strings"][f[0]] for f in d["frames"]]
check("[other]" in names, "small frames were merged into [other]")
check(len(d["nodes"]["parent"]) <= 40000, "%d nodes (at most 40,000)" % len(d["nodes"]["parent"]))
peak = [s for s in d["snapshots"] if s.get("peak")]
check(len(peak) == 1 and sum(b for _, b in peak[0]["live"]) == summ["totals"]["peak_bytes"], "peak snapshot is the peak")
check(len(d["snapshots"]) <= 200 and len(d["timeline"]["t"]) <= 2000, "bounded time view")
PYEOF
)
finish
