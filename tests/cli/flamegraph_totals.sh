# flamegraph_totals: every output format of `flamegraph` weighs exactly what `summary --json`
# says, for every metric: folded (the sum of each --metric), svg (the root's title), html
# (the page's data, per metric), pprof (tests/pprof_decode.py's sums per sample type) and
# speedscope (the weights of each metric's profile). On tests/progs/known, known_cxx, and
# on each process image of one run that starts both from a shell (TRACE@PID, --pid), so
# the formats read the image the summary reads. Also in the asan suite (every writer under
# the sanitizers). Traces come from $ATR_NORMAL's build when it exists.
. "$TESTS/lib.sh"
MAKE=$ATR
BIN=$PROGS
if [ -n "${ATR_NORMAL:-}" ] && [ -x "$ATR_NORMAL" ]; then
  MAKE=$ATR_NORMAL
  BIN=${ATR_NORMAL%/cli/alloctrace}/tests/progs # the asan build's programs take no ordinary preload
fi
cd "$T" || exit 1
for p in known known_cxx; do
  "$MAKE" run -q -o "$p.zst" -- "$BIN/$p" >/dev/null 2>"$p.err" ||
    skip "cannot record $p with $MAKE: $(head -c 300 "$p.err")"
done
"$MAKE" run -q -o run.zst -- sh -c "'$BIN/known_cxx' >/dev/null; '$BIN/known' >/dev/null" 2>run.err ||
  not_ok "run of a shell starting known_cxx and known: $(head -c 300 run.err)"
"$ATR" summary --json run.zst >run.json || not_ok "summary of the run"
# the run's images: pid and command, the shell first
"$PY" -c 'import json, sys
for p in json.load(open(sys.argv[1]))["processes"]:
    print(p["pid"], p["command"].split()[0].split("/")[-1])' run.json >images
expect_eq "the run has three images: the shell, known_cxx, known" "$(cut -d' ' -f2 images | tr '\n' ' ')" "sh known_cxx known "

# totals NAME TRACE [ARGS...]: writes every format of TRACE (ARGS, e.g. --pid, go to every
# command) and prints one ok/FAIL line per format and metric
totals() {
  local name=$1 trace=$2 m; shift 2
  "$ATR" summary --json "$@" "$trace" >"$name.json" || echo "FAIL summary --json $*"
  for m in peak leaked allocated allocations temporary; do
    "$ATR" flamegraph --format folded --metric "$m" "$@" "$trace" >"$name.$m.folded" || echo "FAIL folded $m"
    "$ATR" flamegraph --format svg --metric "$m" -o "$name.$m.svg" "$@" "$trace" || echo "FAIL svg $m"
  done
  "$ATR" flamegraph -o "$name.html" "$@" "$trace" || echo "FAIL html"
  "$ATR" flamegraph --format pprof -o "$name.pb.gz" "$@" "$trace" || echo "FAIL pprof"
  "$PY" "$TESTS/pprof_decode.py" "$name.pb.gz" >"$name.pprof.json" || echo "FAIL pprof decode"
  "$ATR" flamegraph --format speedscope -o "$name.speedscope.json" "$@" "$trace" || echo "FAIL speedscope"
  "$PY" - "$name" <<'PYEOF'
import html, json, re, sys
name = sys.argv[1]
tot = json.load(open(name + ".json"))["totals"]
METRICS = [("peak", "peak_bytes", "peak_space", "peak_objects", "peak_blocks"),
           ("leaked", "leaked_bytes", "leaked_space", "leaked_objects", "leaked_blocks"),
           ("allocated", "allocated_bytes", "alloc_space", "alloc_objects", "allocations"),
           ("allocations", "allocations", "alloc_objects", None, None),
           ("temporary", "temporary", "temporary_objects", None, None)]
def check(got, want, what):
    print(("ok " if got == want else "FAIL ") + "%s = %d%s" % (what, want, "" if got == want else " (got %r)" % (got,)))
page = open(name + ".html", encoding="utf-8").read()
data = json.loads(re.search(r"const ATR_DATA = (.*?);</script>", page, re.S).group(1))
pp = json.load(open(name + ".pprof.json"))["totals"]
ss = {p["name"].split(":")[0]: p for p in json.load(open(name + ".speedscope.json"))["profiles"]}
for m, key, pkey, okey, okey_sum in METRICS:
    want = tot[key]
    folded = sum(int(l.rsplit(" ", 1)[1]) for l in open("%s.%s.folded" % (name, m)) if l.strip())
    check(folded, want, "folded --metric %s sums to totals.%s" % (m, key))
    svg = open("%s.%s.svg" % (name, m), encoding="utf-8").read()
    # the root frame's title; a graph of nothing has no frames, only its subtitle's total
    t = re.search(r"<title>all \(([0-9,]+) ", svg) or re.search(r"class=\"sub\"[^>]*>[^<]* — total (0) ", svg)
    check(int(t.group(1).replace(",", "")) if t else None, want, "svg --metric %s: the root is totals.%s" % (m, key))
    k = data["metrics"].index(m)
    check(sum(r[k] for r in data["nodes"]["self"]), want, "html: %s sums to totals.%s" % (m, key))
    check(pp.get(pkey), want, "pprof: %s sums to totals.%s" % (pkey, key))
    if okey:
        check(pp.get(okey), tot[okey_sum], "pprof: %s sums to totals.%s" % (okey, okey_sum))
    check(sum(ss[m]["weights"]) if m in ss else None, want, "speedscope: the %s profile weighs totals.%s" % (m, key))
PYEOF
}
for p in known known_cxx; do
  while read -r line; do
    case $line in ok*) ok "$p: ${line#ok }" ;; *) not_ok "$p: ${line#FAIL }" ;; esac
  done < <(totals "$p" "$p.zst")
done
# every image of the run, by TRACE@PID; known's also by --pid, and the numbers are known's own
while read -r pid prog; do
  while read -r line; do
    case $line in ok*) ok "run.zst@$pid ($prog): ${line#ok }" ;; *) not_ok "run.zst@$pid ($prog): ${line#FAIL }" ;; esac
  done < <(totals "img$pid" "run.zst@$pid")
  if [ "$prog" = known ]; then
    expect_eq "run.zst@$pid is known: the same totals as its own trace" \
      "$(jget "img$pid.json" totals.allocations) $(jget "img$pid.json" totals.peak_bytes)" \
      "$(jget known.json totals.allocations) $(jget known.json totals.peak_bytes)"
    "$ATR" flamegraph --format pprof --pid "$pid" -o bypid.pb.gz run.zst
    "$PY" "$TESTS/pprof_decode.py" bypid.pb.gz >bypid.json
    expect_eq "--pid $pid: the same pprof totals as run.zst@$pid" "$(jget bypid.json totals)" "$(jget "img$pid.pprof.json" totals)"
  fi
done <images
finish
