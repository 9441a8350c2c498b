# format: the FREE kinds of format.h decode to the blocks they name, and traces the
# reader must refuse (an older version, a kind naming no live block, an unknown kind)
# get one line naming the file and the problem, exit 2. The traces are the hand-built
# seeds of tests/fuzz/make_corpus.py. Also in the asan suite.
. "$TESTS/lib.sh"
C=$TESTS/fuzz/corpus

# 6 blocks (3 of site 1: malloc 100 B, 3 of site 2: posix_memalign 8 B) freed by
# FREE r=2, NEXT (r_prev-1), SAME (r_prev), BACK (r_prev+1), r=1 (thread 15 = the last
# TEXT, none: 0) and r=0 (thread 14)
expect_exit "dump of every FREE kind" 0 "$ATR" dump "$C/hand-free-kinds"
got=$(printf '%s\n' "$OUT" | sed -n 's/.*"thread":\([0-9]*\),"event":"free","old_block":\([0-9]*\),"old_size":\([0-9]*\).*/\2:\3:\1/p' | tr '\n' ' ')
expect_eq "freed blocks:size:thread" "$got" "4:8:0 5:8:0 3:100:0 1:100:0 2:100:0 6:8:14 "
expect_exit "summary of every FREE kind" 0 "$ATR" summary --json "$C/hand-free-kinds"
printf '%s' "$OUT" >"$T/kinds.json"
expect_eq "frees" "$(jget "$T/kinds.json" totals.frees)" 6
expect_eq "leaked blocks" "$(jget "$T/kinds.json" totals.leaked_blocks)" 0
expect_eq "peak bytes" "$(jget "$T/kinds.json" totals.peak_bytes)" 324

# refused, each with its one line on stderr (dump may have printed the events before it)
bad() {
  local seed=$1 want=$2 rc=0
  "$ATR" dump "$C/$seed" >/dev/null 2>"$T/err" || rc=$?
  expect_eq "dump $seed: exit" "$rc" 2
  expect_eq "$seed: error lines" "$(wc -l <"$T/err")" 1
  expect_match "$seed: names the file and the problem" "$(cat "$T/err")" "^alloctrace dump: $C/$seed: $want"
}
bad hand-version-3 "trace format version 3 is older than this alloctrace reads \(4\)"
bad hand-version-2 "trace format version 2 is older"
bad hand-free-next-at-start "corrupt free event 1 of the chunk"
bad hand-free-back-past-live "corrupt free event 1 of the chunk"
bad hand-free-1-alone "corrupt free event 1 of the chunk"
bad hand-chunk-unknown-event-kind "corrupt trace: unknown event tag 0xa0 in the chunk"
bad hand-event-outside-chunk "corrupt trace: event tag 0x0c outside a chunk"
finish
