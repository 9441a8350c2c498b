# Shared by tests/cli/bad_input*.sh (sourced after lib.sh, never run alone): records a
# multi-frame trace ($T/good.zst), damages it in named ways (IN[case] -> file, WANT[case]
# -> expected outcome), and judges one alloctrace run against the one-line-error contract.
# The traces come from $ATR_NORMAL when set: in the asan suite $ATR is the sanitizer build,
# whose preload library cannot be LD_PRELOADed into ordinary programs.
[ -d "${T:-}" ] || { echo "${BASH_SOURCE[0]}: source lib.sh first" >&2; exit 1; }
MAKE=("$ATR")
ASAN=0
ldd "$ATR" 2>/dev/null | grep -q libasan && ASAN=1
# the ordinary build finds its own preload library (the env names the sanitizer build's)
[ "$ASAN" = 1 ] && [ -x "${ATR_NORMAL:-}" ] && MAKE=(env -u ALLOCTRACE_LIB -u LD_LIBRARY_PATH "$ATR_NORMAL")
mkdir "$T/cwd" "$T/dir"

# A multi-frame trace: phases allocates in bursts with idle gaps. In the asan build the
# test programs are sanitizer-built too and cannot take the ordinary preload library:
# take the ordinary build's phases, or perl doing the same.
gen=("$PROGS/phases" 4)
if [ "$ASAN" = 1 ]; then
  gen=("${ATR_NORMAL%/cli/alloctrace}/tests/progs/phases" 4)
  [ -x "${gen[0]}" ] || gen=(perl -e 'for my $p (1..4) { my @a = map { "x" x (32 + $_) } 1..20; select(undef, undef, undef, 0.03) }')
fi
"${MAKE[@]}" run -q -o "$T/good.zst" -- "${gen[@]}" >/dev/null 2>"$T/run.err" ||
  skip "cannot record a trace with ${MAKE[*]}: $(head -c 300 "$T/run.err")"

# zstd frame ends of a trace (offsets just past each frame), from the frame headers; the
# skippable frames before each (the stream tags of format.h) are stepped over.
frame_ends() {
  "$PY" - "$1" <<'PYEOF'
import sys
d = open(sys.argv[1], 'rb').read()
o, ends = 0, []
while o < len(d):
    if d[o + 1:o + 4] == b'\x2a\x4d\x18' and d[o] & 0xf0 == 0x50:
        o += 8 + int.from_bytes(d[o + 4:o + 8], 'little')
        continue
    assert d[o:o + 4] == b'\x28\xb5\x2f\xfd', 'not a zstd frame at %d' % o
    fhd = d[o + 4]
    ss, fcs, did = (fhd >> 5) & 1, fhd >> 6, fhd & 3
    p = o + 5 + (0 if ss else 1) + [0, 1, 2, 4][did] + [1 if ss else 0, 2, 4, 8][fcs]
    while True:
        h = d[p] | d[p + 1] << 8 | d[p + 2] << 16
        p += 3 + (1 if (h >> 1) & 3 == 1 else h >> 3)
        if h & 1:
            break
    o = p + (4 if fhd & 4 else 0)
    ends.append(o)
print(' '.join(map(str, ends)))
PYEOF
}
ENDS=($(frame_ends "$T/good.zst"))
SIZE=$(stat -c %s "$T/good.zst")
NF=${#ENDS[@]}
[ "$NF" -ge 3 ] || skip "phases wrote only $NF zstd frames; this test needs >= 3"
expect_eq "frame ends add up to the file size" "${ENDS[$((NF - 1))]}" "$SIZE"
F1=${ENDS[0]}                 # end of the first frame
LASTSTART=${ENDS[$((NF - 2))]} # start of the last frame

cut_at() { head -c "$2" "$T/good.zst" >"$1"; }
# flip OUT:OFFSET:XORMASK ...: copies of the trace with one byte changed each (one
# python start for all of them: they cost more than the runs on a loaded machine)
flip() {
  "$PY" - "$T/good.zst" "$@" <<'PYEOF'
import sys
good = open(sys.argv[1], 'rb').read()
for spec in sys.argv[2:]:
    out, off, mask = spec.rsplit(':', 2)
    d = bytearray(good)
    d[int(off)] ^= int(mask, 0)
    open(out, 'wb').write(d)
PYEOF
}

# ---- inputs: name -> file, and what must happen
declare -A IN WANT
IN[missing]=$T/no-such-trace.zst; WANT[missing]=2
IN[directory]=$T/dir; WANT[directory]=2
IN[devnull]=/dev/null; WANT[devnull]=2
: >"$T/empty.zst"; IN[empty]=$T/empty.zst; WANT[empty]=2
printf 'this is not a trace\n' >"$T/text.zst"; IN[text]=$T/text.zst; WANT[text]=2
cp /bin/ls "$T/elf.zst"; IN[elf]=$T/elf.zst; WANT[elf]=2
printf 'hi\n' | zstd -q -c >"$T/otherzstd.zst"; IN[otherzstd]=$T/otherzstd.zst; WANT[otherzstd]=2
printf '\x28\xb5\x2f' >"$T/short.zst"; IN[short]=$T/short.zst; WANT[short]=2
{ cat "$T/good.zst"; printf 'trailing garbage'; } >"$T/garbage.zst"; IN[garbage]=$T/garbage.zst; WANT[garbage]=2
cut_at "$T/cut-first.zst" $((F1 / 2)); IN[cut_first_frame]=$T/cut-first.zst; WANT[cut_first_frame]=2
cut_at "$T/cut-hdr.zst" 6; IN[cut_in_header]=$T/cut-hdr.zst; WANT[cut_in_header]=2
IN[flip_first_frame]=$T/flip-first.zst; WANT[flip_first_frame]=flip
IN[flip_last_frame]=$T/flip-last.zst; WANT[flip_last_frame]=flip
cut_at "$T/cut-last.zst" $((SIZE - 3)); IN[cut_last_frame]=$T/cut-last.zst; WANT[cut_last_frame]=trunc
flip "$T/flip-first.zst:$((F1 / 2)):0x10" "$T/flip-last.zst:$(((LASTSTART + SIZE) / 2)):0x01"
CASES="missing directory devnull empty text elf otherzstd short garbage cut_first_frame cut_in_header flip_first_frame flip_last_frame cut_last_frame"

OUT_OF=$T/o
ERR_OF=$T/e
# run_atr ARGS...: $ATR in a scratch directory (commands may write default output files
# there); rc in $RC, stdout in $OUT_OF, stderr lines in ERR[]. A hang shows up as the
# test's timeout. Judging uses bash builtins only: hundreds of runs on a loaded machine.
run_atr() {
  RC=0
  (cd "$T/cwd" && exec "$ATR" "$@") </dev/null >"$OUT_OF" 2>"$ERR_OF" || RC=$?
  mapfile -t ERR <"$ERR_OF"
}
# has N PATTERN: exactly N stderr lines contain PATTERN (a literal string)
has() {
  local l c=0
  for l in "${ERR[@]}"; do [[ $l == *"$2"* ]] && c=$((c + 1)); done
  [ "$c" = "$1" ]
}
err_text() { local IFS='|'; printf '%.600s' "${ERR[*]}"; }
sanitizer_clean() {
  local l
  for l in "${ERR[@]}"; do
    [[ $l == *Sanitizer* || $l == *"runtime error"* || $l == *Segmentation* || $l == *Aborted* ]] && return 1
  done
  [ "$RC" -lt 128 ]
}

# judge DESC WANT NAMED [GOOD_OUT]: checks the last run_atr against the expectation:
#   2     exit 2, exactly one stderr line that names NAMED
#   trunc exit 0, stderr lines (one per trace argument, $NPOS) all name NAMED and say truncated
#   flip  either "2", or "trunc" (the damage reads as a cut last frame), or exit 0 with
#         nothing on stderr and stdout identical to the undamaged trace's (GOOD_OUT)
#   0     exit 0 (no stderr line may report an error)
judge() {
  local desc=$1 want=$2 named=$3 good=${4:-} n=${#ERR[@]}
  if ! sanitizer_clean; then
    not_ok "$desc: crash or sanitizer report (exit $RC): $(err_text)"
    return
  fi
  case $want in
  2)
    if [ "$RC" = 2 ] && [ "$n" = 1 ] && has 1 "$named"; then
      ok "$desc: exit 2, one line naming ${named##*/}"
    else
      not_ok "$desc: want exit 2 and one stderr line naming $named; got exit $RC, $n lines: $(err_text)"
    fi ;;
  trunc)
    if [ "$RC" = 0 ] && [ "$n" = "${NPOS:-1}" ] && has "$n" "$named" &&
       has "$n" truncat; then
      ok "$desc: decodes (exit 0) with a truncation warning"
    else
      not_ok "$desc: want exit 0 and ${NPOS:-1} truncation warning(s) naming $named; got exit $RC, $n lines: $(err_text)"
    fi ;;
  flip)
    if [ "$RC" = 2 ] && [ "$n" = 1 ] && has 1 "$named"; then
      ok "$desc: exit 2, one line naming ${named##*/}"
    elif [ "$RC" = 0 ] && [ "$n" -ge 1 ] && has "$n" truncat; then
      ok "$desc: reads as a cut last frame (exit 0, warning)"
    elif [ "$RC" = 0 ] && [ "$n" = 0 ] && [ -n "$good" ] && cmp -s "$OUT_OF" "$good"; then
      ok "$desc: harmless flip (same output)"
    else
      not_ok "$desc: damage neither reported (exit 2, one line) nor harmless; exit $RC, $n lines: $(err_text)"
    fi ;;
  0)
    if [ "$RC" = 0 ] && has 0 rror && has 0 corrupt; then
      ok "$desc: exit 0"
    else
      not_ok "$desc: want exit 0; got exit $RC: $(err_text)"
    fi ;;
  esac
}

