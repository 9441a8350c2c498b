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
  # 256 KiB: the decoding pass itself runs out of room: a write error, one line
  mount -t tmpfs -o size=256k tmpfs "$MNT"
  one_line "256 KiB TMPDIR: the decoding pass runs out of room" 2 \
    "mt\.zst: cannot write the temporary op file in $MNT/alloctrace-replay\.[^ ]* \(32 B per op, [0-9,]+ ops so far\): No space left on device" \
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
