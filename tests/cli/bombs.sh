#!/usr/bin/env bash
# Crafted traces that cost a careless reader a hang, a crash, a wrapped total or
# gigabytes (issue 20), built by tests/cli/bombs.py: every command that reads a trace
# runs on each under `timeout` and a 1 GiB address-space limit, and must refuse it with
# exit 2 and one line on stderr naming the file and the problem (or, for the valid
# module-reloads trace, read it with exit 0), never dump core. The bounds are in
# docs/format.md ("What reading costs"). Runs no program.
. "$TESTS/lib.sh"
B=$T/bombs
/usr/bin/python3 "$TESTS/cli/bombs.py" "$B" || { not_ok "bombs.py wrote the traces"; finish; }

LIMIT_KB=1048576
# every command that reads a trace, with FILE standing for the trace
CMDS=(
  "summary FILE" "summary --json FILE" "dump FILE" "timeline FILE" "timeline --json FILE"
  "growth FILE" "check FILE --max-peak 1GiB" "diff FILE FILE"
  "flamegraph -o $T/out.html FILE" "flamegraph --format svg -o $T/out.svg FILE"
  "flamegraph --format folded -o $T/out.folded FILE" "flamegraph --format pprof -o $T/out.pb.gz FILE"
  "flamegraph --format speedscope -o $T/out.json FILE" "flamegraph --diff -o $T/diff.html FILE FILE"
  "replay FILE --allocator glibc -o $T/replay.json"
)
# BOMBS_QUICK=1: summary and the HTML flame graph only (to show what an older build does
# without waiting a minute for each of its hangs)
[ "${BOMBS_QUICK:-0}" = 1 ] && CMDS=("summary FILE" "flamegraph -o $T/out.html FILE")

# run_bomb NAME WANT_EXIT STDERR_REGEX: every command on $B/NAME
run_bomb() {
  local name=$1 want=$2 re=$3 f=$B/$1 c
  for c in "${CMDS[@]}"; do
    local args=() w
    for w in $c; do [ "$w" = FILE ] && args+=("$f") || args+=("$w"); done
    local rc=0
    (ulimit -v $LIMIT_KB; cd "$T" && exec timeout 60 "$ATR" "${args[@]}") >"$T/out" 2>"$T/err" || rc=$?
    local what="$name: ${c//$T\//}"
    if [ "$rc" -ge 124 ]; then
      not_ok "$what: exit $rc (timeout or signal): $(head -c 300 "$T/err")"
      continue
    fi
    if [ "$rc" != "$want" ]; then
      not_ok "$what: exit $rc, want $want: $(head -c 300 "$T/err")"
      continue
    fi
    if [ "$want" = 2 ]; then
      local lines
      lines=$(wc -l <"$T/err")
      if [ "$lines" = 1 ] && grep -qF -- "$f" "$T/err" && grep -Eq -- "$re" "$T/err"; then
        ok "$what: exit 2, one line: $(cat "$T/err")"
      else
        not_ok "$what: want one line naming $f and matching /$re/, got $lines: $(head -c 400 "$T/err")"
      fi
    else
      ok "$what: exit $rc"
    fi
  done
}

run_bomb bomb-time-sum 2 'corrupt time \(past 2\^48 us\) event 0 of the chunk'
run_bomb bomb-modules 2 'corrupt trace: more than 8192 modules'
run_bomb bomb-nodes 2 'corrupt trace: more than 256 stack nodes in a row without a site'
run_bomb bomb-thread-index 2 'corrupt thread record'
run_bomb bomb-size-wrap 2 'corrupt allocation \(the block, or the live total, over the 2\^47-byte address space\) event 1'
run_bomb bomb-zstd-inflate 2 'corrupt trace: unknown record tag 0x00 at byte 80 of frame 1'
run_bomb bomb-zstd-window 2 'zstd frame 1: Frame requires too much memory for decoding'
run_bomb bomb-module-reloads 0 ''

# the valid trace's numbers: 8192 modules read, one 8-byte block allocated and freed
"$ATR" summary --json "$B/bomb-module-reloads" >"$T/reloads.json" 2>"$T/err"
expect_eq "module-reloads: allocations" "$(jget "$T/reloads.json" totals.allocations 2>/dev/null)" 1
expect_eq "module-reloads: allocated bytes" "$(jget "$T/reloads.json" totals.allocated_bytes 2>/dev/null)" 8

# one frame of 39 MB: its records straddle the reader's pieces (carried whole to the next)
F=$B/pieces-big-frame
expect_exit "39 MB frame: summary" 0 "$ATR" summary --json "$F"
printf '%s' "$OUT" >"$T/big.json"
expect_eq "39 MB frame: allocations" "$(jget "$T/big.json" totals.allocations 2>/dev/null)" 9750000
expect_eq "39 MB frame: frees" "$(jget "$T/big.json" totals.frees 2>/dev/null)" 9750000
expect_eq "39 MB frame: allocated bytes" "$(jget "$T/big.json" totals.allocated_bytes 2>/dev/null)" 975000000
expect_eq "39 MB frame: peak bytes" "$(jget "$T/big.json" totals.peak_bytes 2>/dev/null)" 100
expect_eq "39 MB frame: leaked blocks" "$(jget "$T/big.json" totals.leaked_blocks 2>/dev/null)" 0
expect_eq "39 MB frame: the 60 KB argument" "$(jget "$T/big.json" argv.1 2>/dev/null | wc -c)" 60001
# cut inside the frame: skipped whole (a warning, exit 2: it was the only frame)
head -c $(($(stat -c %s "$F") - 100)) "$F" >"$T/cut.zst"
expect_exit "39 MB frame cut: refused" 2 "$ATR" summary "$T/cut.zst"
expect_match "39 MB frame cut: no whole frame" "$OUT" "truncated trace: not even one complete frame"
finish
