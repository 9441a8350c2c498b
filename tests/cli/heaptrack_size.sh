# heaptrack_size: alloctrace's traces are smaller than heaptrack's for the same run of
# the bench/ workloads (issue 2's bar; bench/run.sh measures the full-size runs), with
# the same calls to allocation functions. Sizes hardly depend on timing (a few TIME tags,
# where chunks and frames end): seen 0.95-0.96 of heaptrack's on cxx at this scale, the
# closest, and 0.66-0.75 elsewhere. Skips without heaptrack.
. "$TESTS/lib.sh"
. "$TESTS/heaptrack_lib.sh"
B=$BUILD_ROOT/bench
[ -x "$B/cxx" ] || skip "bench programs not built in $B"

# workload scale: events / 2 = calls (bench/*.c)
for w in "cxx 0.1" "cxxdeep 0.2" "churn1 0.05" "deep40 0.05" "churn8 0.02"; do
  set -- $w
  name=$1
  run_pair "$name" "$B/$1" "$2" # not both(): this test needs no per-event views
  ht_calls=$(heaptrack_print -f "$T/$name.hp.zst" -p 0 -a 0 -T 0 -l 0 2>/dev/null |
    sed -n 's/^calls to allocation functions: \([0-9]*\).*/\1/p')
  ours=$(stat -c %s "$T/$name.zst")
  theirs=$(stat -c %s "$T/$name.hp.zst")
  calls=$(jget "$T/$name.json" totals.allocations)
  # heaptrack counts its own libstdc++ emergency pool allocation on top (heaptrack_lib.sh)
  diff=$((ht_calls - calls))
  if [ "$diff" -ge 0 ] && [ "$diff" -le 1 ]; then ok "$name: $calls calls (heaptrack $ht_calls)"
  else not_ok "$name: $calls calls, heaptrack $ht_calls"; fi
  ratio=$(awk -v a="$ours" -v b="$theirs" 'BEGIN { printf "%.3f", a / b }')
  if [ "$ours" -lt "$theirs" ]; then ok "$name: trace $ours bytes < heaptrack's $theirs ($ratio)"
  else not_ok "$name: trace $ours bytes, heaptrack's $theirs ($ratio): not smaller"; fi
done
finish
