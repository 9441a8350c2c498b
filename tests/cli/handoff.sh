# handoff: two threads pass 1,000,000 blocks hand to hand (tests/progs/handoff.c); the
# consumer frees each block nanoseconds after the producer's malloc returned it. The
# trace must order every free after its allocation (no unknown frees, no inconsistencies)
# and hold exactly N allocations and N frees more than the same program with N = 0, under
# both unwinders. Stamps are a plain rdtsc, which may run ahead of the load that got the
# pointer: without the writer's repair (writer.c pending()) this fails every run.
. "$TESTS/lib.sh"
P=$PROGS/handoff
N=1000000

facts() {
  "$PY" - "$1" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
t, r = j["totals"], j["recorder"]
print(t["allocations"], t["frees"], t["unknown_frees"], r["inconsistencies"], t["leaked_blocks"],
      r["reordered"])
PYEOF
}

"$ATR" run -q -o "$T/base.zst" -- "$P" 0 >/dev/null || not_ok "baseline run"
"$ATR" summary --json "$T/base.zst" >"$T/base.json"
read -r ba bf _ _ bl _ < <(facts "$T/base.json")
for unwind in libunwind fp; do
  rc=0
  timeout 100 "$ATR" run -q --unwind=$unwind -o "$T/$unwind.zst" -- "$P" "$N" >"$T/$unwind.out" || rc=$?
  expect_eq "$unwind: exit status (124 would be a hang)" "$rc" 0
  expect_eq "$unwind: program output" "$(cut -d' ' -f1,2 "$T/$unwind.out")" "handoff $N"
  "$ATR" summary --json "$T/$unwind.zst" >"$T/$unwind.json"
  read -r a f u i l r < <(facts "$T/$unwind.json")
  echo "# $unwind: $r handoffs stamped out of order and put right by the writer"
  expect_eq "$unwind: allocations beyond the baseline" $((a - ba)) "$N"
  expect_eq "$unwind: frees beyond the baseline" $((f - bf)) "$N"
  expect_eq "$unwind: unknown frees" "$u" 0
  expect_eq "$unwind: inconsistencies" "$i" 0
  expect_eq "$unwind: leaked blocks = baseline's" "$l" "$bl"
done
finish
