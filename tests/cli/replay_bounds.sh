# replay_bounds: replay checks the disk and memory it needs before it starts and fails
# with one line naming the trace when they do not fit (a full temporary filesystem is an
# error, not a SIGBUS, and leaves no temporary directory); interrupted replays clean up.
# Never mounts outside $T; skips the mount cases when mounting is not permitted.
. "$TESTS/lib.sh"
REPLAYER=$(dirname "$ATR")/alloctrace-replayer
[ -x "$REPLAYER" ] || skip "no alloctrace-replayer next to $ATR"
MNT=$T/small
trap 'umount "$MNT" 2>/dev/null; rm -rf "$T"' EXIT

# one_line DESC WANT_EXIT PATTERN COMMAND...: exit WANT_EXIT, exactly one stderr line,
# and it matches PATTERN (stdout is dropped)
one_line() {
  local desc=$1 want=$2 pat=$3 rc=0; shift 3
  "$@" >/dev/null 2>"$T/err" || rc=$?
  local n
  n=$(wc -l <"$T/err")
  if [ "$rc" = "$want" ] && [ "$n" = 1 ] && grep -Eq -- "$pat" "$T/err"; then
    ok "$desc (exit $want, one line)"
  else
    not_ok "$desc: exit $rc (want $want), $n stderr lines (want 1) matching /$pat/: $(head -c 600 "$T/err")"
  fi
}
# leftovers DIR: the replay temporary directories left in DIR
leftovers() { find "$1" -maxdepth 1 -name 'alloctrace-replay.*' | wc -l; }

trace mt "$PROGS/replay_mt" || not_ok "replay_mt exits 0"
OPS=$("$ATR" replay --save-ops "$T/mt.ops" "$T/mt.zst" 2>&1 | sed -n 's/.*wrote \([0-9,]*\) ops.*/\1/p' | tr -d ,)
OPS_C=$(echo "$OPS" | sed ':a;s/\B[0-9]\{3\}\>/,&/;ta') # 19,617
expect_eq "op file size = 64 + 16 x 5 threads + 24 x $OPS ops" "$(stat -c %s "$T/mt.ops")" $((64 + 16 * 5 + 24 * OPS))

# ---- disk: a tiny full filesystem as TMPDIR
mkdir "$MNT"
if mount -t tmpfs -o size=1m tmpfs "$MNT" 2>"$T/mount.err"; then
  # 1 MiB holds the decoding pass (32 B per op) but not the op file (24 B per op) as well:
  # main wrote the op file through a shared mapping and died of SIGBUS (exit 135)
  one_line "1 MiB TMPDIR: op file does not fit" 2 \
    "mt\.zst: the op file needs .* \($OPS_C ops of 24 B\) in $MNT/alloctrace-replay\.[^ ]*, but only .* is free there" \
    env TMPDIR="$MNT" "$ATR" replay --repeat 1 --allocator glibc "$T/mt.zst"
  expect_eq "1 MiB TMPDIR: no temporary directory left" "$(leftovers "$MNT")" 0
  expect_eq "1 MiB TMPDIR: nothing left on the filesystem" "$(df --output=used -B1 "$MNT" | tail -1 | tr -d ' ')" 0
  # the same for --save-ops into the small filesystem
  one_line "--save-ops into 1 MiB: op file does not fit" 2 "mt\.zst: the op file needs .*, but only .* is free" \
    "$ATR" replay --save-ops "$MNT/mt.ops" "$T/mt.zst"
  umount "$MNT"
  mount -t tmpfs -o size=256k tmpfs "$MNT"
  # 256 KiB: the decoding pass stops as soon as the op file to come could not fit next
  # to its temporary file (checked every 4096 ops), before the filesystem is full
  one_line "256 KiB TMPDIR: the decoding pass stops early" 2 \
    "mt\.zst: the op file needs more than .* \(4,096 ops of 24 B so far\) in $MNT/alloctrace-replay\.[^ ]*, but only .* is free there" \
    env TMPDIR="$MNT" "$ATR" replay --repeat 1 --allocator glibc "$T/mt.zst"
  expect_eq "256 KiB TMPDIR: no temporary directory left" "$(leftovers "$MNT")" 0
  umount "$MNT"
  # 2 MiB is enough: the replay runs and leaves nothing behind
  mount -t tmpfs -o size=2m tmpfs "$MNT"
  rc=0
  env TMPDIR="$MNT" "$ATR" replay --json --repeat 1 --allocator glibc "$T/mt.zst" >"$T/ok.json" 2>"$T/ok.err" || rc=$?
  expect_eq "2 MiB TMPDIR: replay exits 0" "$rc" 0
  expect_eq "2 MiB TMPDIR: ops replayed" "$(jget "$T/ok.json" ops)" "$OPS"
  expect_eq "2 MiB TMPDIR: no temporary directory left" "$(leftovers "$MNT")" 0
  umount "$MNT"
else
  ok "# SKIP tiny filesystem: mount not permitted: $(head -c 200 "$T/mount.err")"
fi

# ---- memory: the deps order's own worst case, computed from the op stream
trace slots "$PROGS/replay_slots" || not_ok "replay_slots exits 0"
"$ATR" dump "$T/slots.zst" >"$T/slots.dump"
# the bound by hand: block slots reused LIFO (replay_build.c), each slot's costliest block
# (glibc's layout: 16-byte chunks with an 8-byte header below 128 KiB, pages above; a
# realloc holds old and new), summed over the slots
BOUND=$("$PY" - "$T/slots.dump" <<'PYEOF'
import json, os, sys
page = os.sysconf('SC_PAGE_SIZE')
def cost(size, align):
    c = size + (align - 16 if align > 16 else 0)
    if c < 128 << 10:
        return max(32, (c + 8 + 15) & ~15)
    return (c + 16 + page - 1) // page * page
free, slot_of, mx = [], {}, []
for line in open(sys.argv[1]):
    e = json.loads(line)
    ev = e.get('event')
    if ev == 'alloc':
        s = free.pop() if free else len(mx)
        if s == len(mx):
            mx.append(0)
        slot_of[e['block']] = s
        mx[s] = max(mx[s], cost(e['size'], e['align']))
    elif ev in ('free', 'realloc'):
        s = slot_of.pop(e['old_block'], None)
        if s is None:
            continue
        if ev == 'realloc' and 'block' in e:
            slot_of[e['block']] = s
            mx[s] = max(mx[s], cost(e['size'], e['align']) + cost(e['old_size'], e['old_align']))
        else:
            free.append(s)
print(sum(mx))
PYEOF
)
BIG_SLOTS=$((16 * ((16 * 1048576 + 16 + 4095) / 4096 * 4096)))
expect_eq "replay_slots: 16 slots of a 16 MiB block, the small ones below 64 KiB" \
  "$(( BOUND >= BIG_SLOTS && BOUND < BIG_SLOTS + 65536 ))" 1
for o in recorded deps; do
  rc=0
  "$ATR" replay --json --repeat 1 --allocator glibc --order $o "$T/slots.zst" >"$T/slots_$o.json" 2>"$T/slots_$o.err" || rc=$?
  expect_eq "replay_slots --order $o exits 0" "$rc" 0
  expect_eq "$o: deps bound as computed from the op stream" "$(jget "$T/slots_$o.json" deps_bound_bytes)" "$BOUND"
done
expect_eq "recorded: the memory check uses the recorded peak" \
  "$(jget "$T/slots_recorded.json" memory_bound_bytes)" "$(jget "$T/slots.json" totals.peak_bytes)"
expect_eq "deps: the memory check uses the deps bound" "$(jget "$T/slots_deps.json" memory_bound_bytes)" "$BOUND"
J=$T/slots_deps.json
expect_eq "deps: replayer RSS over its baseline within the bound" \
  "$(( $(jget "$J" results.0.peak_rss) - $(jget "$J" results.0.baseline_rss) <= BOUND ))" 1
expect_eq "deps: replayer RSS over its baseline holds the 16 MiB block" \
  "$(( $(jget "$J" results.0.peak_rss) - $(jget "$J" results.0.baseline_rss) >= 16 * 1048576 ))" 1
"$ATR" replay --save-ops "$T/slots.ops" "$T/slots.zst" 2>/dev/null
if [ -x /usr/bin/time ]; then
  kib=$(/usr/bin/time -f %M "$REPLAYER" --order deps "$T/slots.ops" 2>&1 >/dev/null | tail -1)
  expect_eq "deps: the replayer's max RSS (time -f %M) within the bound plus its baseline" \
    "$(( kib * 1024 <= BOUND + $(jget "$J" results.0.baseline_rss) ))" 1
fi
# under ulimit -v 200 MB the 256 MiB deps bound cannot fit; the recorded peak (16 MiB) can
one_line "ulimit -v: deps order refused before it runs" 2 \
  "slots\.zst: the deps order can hold 256\.06 MiB at once \(each of [0-9]+ block slots' largest block; the recorded peak is 16\.00 MiB\), but only .* of address space is left under its limit" \
  bash -c 'ulimit -v 200000 && exec "$@"' - "$ATR" replay --repeat 1 --allocator glibc --order deps "$T/slots.zst"
rc=0
bash -c 'ulimit -v 200000 && exec "$@"' - "$ATR" replay --repeat 1 --allocator glibc --order recorded "$T/slots.zst" >/dev/null 2>"$T/rec.err" || rc=$?
expect_eq "ulimit -v: the recorded order fits and runs" "$rc" 0

# ---- threads: more replay threads than may be started is one line naming the trace,
# before the replay (the limit known) or from the replayer's EAGAIN (the limit reached).
# ulimit -u binds only without root's capabilities: run as nobody.
NB=$T/nobody
mkdir "$NB" && chmod 755 "$T" && chmod 777 "$NB" && cp "$T/mt.zst" "$NB/mt.zst" && chmod 644 "$NB/mt.zst"
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
if command -v setpriv >/dev/null && as_nobody test -x "$ATR" 2>/dev/null; then
  # 5 threads, ulimit -u 3: known before the replay starts
  one_line "ulimit -u 3: 5 replay threads refused" 2 \
    "mt\.zst: the replay runs 5 threads at once, but ulimit -u \(processes and threads per user\) leaves room for 2 more" \
    as_nobody bash -c 'ulimit -u 3; cd "$1" && TMPDIR="$1" "$2" replay --repeat 1 --allocator glibc mt.zst; exit $?' - "$NB" "$ATR"
  # ulimit -u 6 passes that check (5 threads + alloctrace), but this bash counts too:
  # the replayer's thread creation fails with EAGAIN, reported naming the trace
  one_line "ulimit -u 6: the replayer's EAGAIN names the trace" 2 \
    "mt\.zst: the replay under glibc failed \(exit 2\): alloctrace-replayer: cannot create a replay thread: Resource temporarily unavailable" \
    as_nobody bash -c 'ulimit -u 6; cd "$1" && TMPDIR="$1" "$2" replay --repeat 1 --allocator glibc mt.zst; exit $?' - "$NB" "$ATR"
  expect_eq "threads: no temporary directory left" "$(leftovers "$NB")" 0
else
  ok "# SKIP thread limits: nobody cannot run $ATR (setpriv, or a private directory)"
fi

# ---- fragmentation is never negative: 500 threads finish before the 1 MiB heap peak; the
# replay starts them all at once and keeps them until the last op, so what each holds of
# its own stays in the RSS from the baseline to the end, and the RSS at the heap peak is
# at least the baseline plus the 1 MiB written. The ASan replayer gives back its
# per-thread caches when a thread exits: main measured the peak after that (-23.18x in
# the recorded order, -25.64x in deps)
trace threads "$PROGS/replay_threads" 500 || not_ok "replay_threads 500 exits 0"
pk=$(jget "$T/threads.json" totals.peak_bytes)
expect_eq "replay_threads: peak 1 MiB plus pthread's own blocks (< 4 KiB)" "$(( pk >= 1048576 && pk < 1048576 + 4096 ))" 1
REPLAYER_ASAN=$(dirname "$ATR")/alloctrace-replayer-asan
for r in plain asan; do
  run=("$ATR")
  if [ $r = asan ]; then
    [ -x "$REPLAYER_ASAN" ] || { not_ok "alloctrace-replayer-asan was not built"; continue; }
    run=(env ASAN_OPTIONS=detect_leaks=0 ALLOCTRACE_REPLAYER="$REPLAYER_ASAN" "$ATR")
  fi
  for o in recorded deps; do
    J=$T/th_${r}_$o.json
    rc=0
    "${run[@]}" replay --json --repeat 1 --allocator glibc --order $o "$T/threads.zst" >"$J" 2>"$T/th.err" || rc=$?
    expect_eq "$r replayer, replay_threads --order $o exits 0" "$rc" 0
    expect_eq "$r replayer, $o: 501 threads" "$(jget "$J" threads)" 501
    expect_eq "$r replayer, $o: RSS at the heap peak >= baseline + 1 MiB" \
      "$(( $(jget "$J" results.0.heap_peak_rss) >= $(jget "$J" results.0.baseline_rss) + 1048576 ))" 1
    expect_eq "$r replayer, $o: fragmentation >= 1" \
      "$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["results"][0]["fragmentation"] >= 1)' "$J")" True
  done
done

# ---- signals: SIGTERM and SIGINT in the middle of a long replay remove the temporary directory
mkdir "$T/tmp"
for sig in TERM INT; do
  TMPDIR=$T/tmp "$ATR" replay --repeat 1000 --allocator glibc "$T/mt.zst" >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do [ -f "$T/tmp"/alloctrace-replay.*/replayer.err ] && break; sleep 0.1; done
  expect_eq "SIG$sig: the replay was under way" "$(leftovers "$T/tmp")" 1
  kill -$sig $pid
  wait $pid
  rc=$?
  expect_eq "SIG$sig: replay killed by the signal" "$rc" $((128 + $(kill -l $sig)))
  expect_eq "SIG$sig: no temporary directory left" "$(leftovers "$T/tmp")" 0
done

finish
